"""Peak memory of a full ``poisonscreen.scan`` against the size of the text, per stage.

    python benches/scan_memory.py 200000 --scale 1 3 [--threads 2] [--no-spill] [--token-table-mb MB]
        [--verify-text-mb MB]

For each scale ``k`` the corpus of ``scan_speed.py`` (N rows) gets ``k`` times the text per row:
each prompt and response is followed by the prompt/response of ``k - 1`` other rows (rows
``i + 7919 j``), so rows keep their count and stay natural text rather than repetitions. The
corpus is written to a Parquet file first and a fresh process scans the file, as the CLI would,
so the input is not in memory beforehand.

The scanning process runs with polars' and Arrow's allocators told to return freed memory at
once (``_ALLOC``). A thread samples ``/proc/self/status`` every 20 ms: ``VmRSS`` (all resident memory) and
``RssAnon`` (resident memory not backed by a file: what the scan itself allocated, as opposed to
pages of memory-mapped files that the kernel can drop and re-read). The peak of each per stage
is printed as JSON, with the growth in bytes per byte of added text between the scales.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))

_STRIDE = 7919
#: the allocators (polars' jemalloc, Arrow's mimalloc) return freed memory at once instead of
#: keeping it cached for reuse, so RssAnon tracks what the scan holds rather than allocator
#: caches (which otherwise add hundreds of MB of run-to-run noise)
_ALLOC = {"_RJEM_MALLOC_CONF": "dirty_decay_ms:0,muzzy_decay_ms:0", "MIMALLOC_PURGE_DELAY": "0"}


def _status() -> tuple[int, int]:
    rss = anon = 0
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) * 1024
            elif line.startswith("RssAnon:"):
                anon = int(line.split()[1]) * 1024
    return rss, anon


def write_corpus(n: int, scale: int, path: Path) -> int:
    """Write the scaled corpus to ``path``; the bytes of prompt and response text."""
    from scan_speed import corpus

    df = corpus(n)
    if scale > 1:
        idx = pl.int_range(pl.len(), dtype=pl.Int64)
        parts_p, parts_r = [pl.col("prompt")], [pl.col("response")]
        for j in range(1, scale):
            shifted = ((idx + j * _STRIDE) % pl.len()).cast(pl.UInt32)
            parts_p.append(pl.col("prompt").gather(shifted))
            parts_r.append(pl.col("response").gather(shifted))
        df = df.select(
            pl.concat_str(parts_p, separator="\n").alias("prompt"),
            pl.concat_str(parts_r, separator="\n").alias("response"),
        )
    df.write_parquet(path)
    return int(df["prompt"].str.len_bytes().sum() + df["response"].str.len_bytes().sum())


def measure(path: str, threads: int | None, options: dict) -> dict:
    """Scan ``path`` in this process, sampling memory per stage."""
    import importlib

    import poisonscreen as ps

    scan_mod = importlib.import_module("poisonscreen.scan")

    current = ["start"]
    peaks: dict[str, list[int]] = {}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            rss, anon = _status()
            p = peaks.setdefault(current[0], [0, 0])
            p[0], p[1] = max(p[0], rss), max(p[1], anon)
            time.sleep(0.02)

    stage = scan_mod._Timer.stage

    def labelled(self, name):  # the stage's name for the sampler, then the timer's own stage
        current[0] = name
        return stage(self, name)

    scan_mod._Timer.stage = labelled  # type: ignore[method-assign]
    base_rss, base_anon = _status()
    t = threading.Thread(target=sample, daemon=True)
    t.start()
    t0 = time.perf_counter()
    known = ps.ScanConfig.__dataclass_fields__  # an older build may lack some options
    result = ps.scan(path, threads=threads, **{k: v for k, v in options.items() if k in known})
    wall = time.perf_counter() - t0
    current[0] = "end"
    time.sleep(0.05)
    stop.set()
    t.join()
    return {
        "seconds": round(wall, 2),
        "flagged": result.summary["rows_flagged"],
        "base_rss_mb": round(base_rss / 1e6),
        "base_anon_mb": round(base_anon / 1e6),
        "peak_rss_mb": round(max(p[0] for p in peaks.values()) / 1e6),
        "peak_anon_mb": round(max(p[1] for p in peaks.values()) / 1e6),
        "stages": {
            k: {"rss_mb": round(v[0] / 1e6), "anon_mb": round(v[1] / 1e6)} for k, v in peaks.items()
        },
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("rows", type=int)
    ap.add_argument("--scale", type=int, nargs="+", default=[1, 3])
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--no-spill", action="store_true", help="scan with spill=False")
    ap.add_argument("--token-table-mb", type=float, default=2048, help="scan's token_table_mb")
    ap.add_argument("--verify-text-mb", type=float, default=512, help="scan's verify_text_mb")
    ap.add_argument("--measure", help=argparse.SUPPRESS)  # internal: scan this file here
    args = ap.parse_args()
    options = {
        "spill": not args.no_spill,
        "token_table_mb": args.token_table_mb,
        "verify_text_mb": args.verify_text_mb,
    }
    if args.measure:
        print(json.dumps(measure(args.measure, args.threads, options)))
        return
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for k in args.scale:
            path = Path(tmp) / f"corpus_x{k}.parquet"
            text = write_corpus(args.rows, k, path)
            cmd = [sys.executable, __file__, str(args.rows), "--measure", str(path)]
            if args.threads:
                cmd += ["--threads", str(args.threads)]
            cmd += ["--no-spill"] * args.no_spill + ["--token-table-mb", str(args.token_table_mb)]
            cmd += ["--verify-text-mb", str(args.verify_text_mb)]
            proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **_ALLOC})
            if proc.returncode:
                sys.exit(proc.stderr)
            res = json.loads(proc.stdout)
            res = {"rows": args.rows, "scale": k, "text_mb": round(text / 1e6), **options, **res}
            print(json.dumps(res), flush=True)
            out.append((text, res))
    if len(out) > 1:
        (t0, a), (t1, b) = out[0], out[-1]
        for key in ("peak_rss_mb", "peak_anon_mb"):
            growth = (b[key] - a[key]) * 1e6 / (t1 - t0)
            print(json.dumps({"growth": key, "bytes_per_text_byte": round(growth, 2)}))


if __name__ == "__main__":
    main()
