"""Seconds of the trigger stage on the scan-speed corpus, and of each core call it makes.

    python benches/trigger_stage.py 1000000
    PYTHONPATH=/tmp/other-wheel python benches/trigger_stage.py 1000000  # another build, A/B

The corpus is ``benches/scan_speed.py``'s. The read and feature stages run first, untimed, as
``poisonscreen.scan`` runs them; then the trigger detector alone, with each core function it
calls wrapped in a timer (cumulative seconds over its calls: the core runs with the GIL
released, so what the total leaves is the Python around the calls). For comparing builds of the
core on one machine back to back, where whole-scan times drift more than the change.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import scan_speed

from poisonscreen import _poisonscreen as core
from poisonscreen.detectors import row_features
from poisonscreen.detectors.triggers import detect_triggers
from poisonscreen.scan import resolve_config, spill_corpus

#: the core functions the trigger stage spends its time in
TIMED = (
    "mine_features",
    "feature_carriers",
    "pattern_tests",
    "content_expectation",
    "label_surprise",
    "label_expectation",
    "response_phrases",
    "list_overlaps",
    "tone_counts",
    "answer_overlap",
    "edge_codes",
    "punctuation_runs",
    "glued_fragments",
    "gather_lists",
    "scaffold_shares",
)


def timed(seconds: dict[str, float], name: str) -> Any:
    real = getattr(core, name)

    def call(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return real(*args, **kwargs)
        finally:
            seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - t0

    return call


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("rows", type=int)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    cfg = resolve_config(None, {"threads": args.threads})
    corpus, text = spill_corpus(scan_speed.corpus(args.rows), directory=cfg.spill_dir)
    feats = row_features(corpus, cfg, text)
    seconds: dict[str, float] = {}
    for name in TIMED:
        # the detectors call the core through the module (``_core.name(...)``) at call time
        setattr(core, name, timed(seconds, name))
    t0 = time.perf_counter()
    detect_triggers(feats, cfg)
    total = time.perf_counter() - t0
    print(
        json.dumps(
            {
                "rows": args.rows,
                "extension": core.__file__,
                "triggers": round(total, 2),
                "core": {k: round(v, 2) for k, v in sorted(seconds.items(), key=lambda x: -x[1])},
            }
        )
    )


if __name__ == "__main__":
    main()
