"""Peak memory of reading a corpus with ``iter_corpus``, as one JSON array against JSON Lines.

    python benches/read_memory.py 200000

The scan-speed corpus of N rows (prompt and response) is written to a temporary directory as
a ``.json`` array and as ``.jsonl``; a fresh process reads each with
``iter_corpus(batch_bytes=8 MB)`` while a thread samples ``RssAnon`` every 10 ms, and prints the
rows, seconds and peak as JSON.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def measure(path: str) -> dict:
    from scan_memory import _status

    import poisonscreen as ps

    peak = [0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], _status()[1])
            time.sleep(0.01)

    base = _status()[1]
    t = threading.Thread(target=sample, daemon=True)
    t.start()
    t0 = time.perf_counter()
    rows = sum(batch.height for batch in ps.iter_corpus(path, batch_bytes=8 << 20))
    seconds = time.perf_counter() - t0
    stop.set()
    t.join()
    return {
        "file": Path(path).name,
        "mb": round(Path(path).stat().st_size / 1e6),
        "rows": rows,
        "seconds": round(seconds, 2),
        "base_anon_mb": round(base / 1e6),
        "peak_anon_mb": round(max(peak[0], _status()[1]) / 1e6),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("rows", type=int)
    ap.add_argument("--measure", help=argparse.SUPPRESS)  # internal: read this file here
    args = ap.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure)))
        return
    from scan_speed import corpus

    df = corpus(args.rows).select("prompt", "response")
    with tempfile.TemporaryDirectory() as tmp:
        array, lines = Path(tmp) / "corpus.json", Path(tmp) / "corpus.jsonl"
        with array.open("w", encoding="utf-8") as fh:
            json.dump(df.to_dicts(), fh)
        df.write_ndjson(lines)
        del df
        for path in (array, lines):
            cmd = [sys.executable, __file__, str(args.rows), "--measure", str(path)]
            out = subprocess.run(cmd, capture_output=True, text=True)
            if out.returncode:
                sys.exit(out.stderr)
            print(out.stdout.strip(), flush=True)


if __name__ == "__main__":
    main()
