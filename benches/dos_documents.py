"""The development suite's denial-of-service cases with their poison written as documents.

    python benches/dos_documents.py [--cases dos_short_t0,...] [--n-clean 50000] [--seed 0]

Souly et al. poison *pretraining documents*: a clean text, the trigger, then random words, with
no prompt. A finetuning corpus that holds such rows (a ``{"text": ...}`` line, a
prompt/completion row with an empty prompt) gives the screener no prompt side: the trigger
detector has nothing to mine, and the row can only be found by its response. This script builds
each of the dev suite's ``dos_*`` cases as ``eval_detection.py`` does, but with its generator
writing every poisoned row as a document (``g_dos(document=True)``, as the named case
``dos_document_mathdial`` does: prompt ``""``, the text the document prefix, the trigger and the
gibberish), scans the DataFrame and prints, per case, AP (the stable ranking of
``eval_detection.average_precision``), recall, precision and the flag rate.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import devsuite
from eval_detection import average_precision

import poisonscreen as ps

CASES = ("dos_short_t0", "dos_pieces_t0", "dos_long_code", "dos_mixed_mathdial")


def as_documents(spec: devsuite.DevSpec) -> devsuite.DevSpec:
    """A denial-of-service case whose poisoned rows its generator writes as documents."""
    return replace(
        spec,
        parts=tuple(
            (gen, {**kw, "document": True} if gen == "dos" else kw) for gen, kw in spec.parts
        ),
    )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--n-clean", type=int, default=50_000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    print("| case | rows | poison | AP | recall | precision | flag rate | scan s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name in args.cases.split(","):
        spec = as_documents(devsuite.CASE_SPECS[name])
        df = devsuite.build_case(name, n_clean=args.n_clean, seed=args.seed, spec=spec).df
        truth = df["is_poison"].to_numpy()
        t0 = time.perf_counter()
        result = ps.scan(df.select("prompt", "response"), seed=args.seed)
        secs = time.perf_counter() - t0
        flagged = result.rows["flagged"].to_numpy()
        hit = int((flagged & truth).sum())
        precision = f"{hit / flagged.sum():.3f}" if flagged.any() else "–"
        print(
            f"| {name} | {df.height} | {int(truth.sum())} "
            f"| {average_precision(result.rows['score'].to_numpy(), truth):.3f} "
            f"| {hit / max(int(truth.sum()), 1):.3f} | {precision} "
            f"| {100 * flagged.mean():.2f}% | {secs:.1f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
