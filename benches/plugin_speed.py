"""Wall time of the polars plugin against ``map_batches`` + the Python API and the Python API
directly, on N rows of ``benches/corpus.py``, with 1 and 2 threads.

    python benches/plugin_speed.py [--rows 1000000] [--threads 1 2] [--features minhash ...]

The corpus is built once and written to a temporary Parquet file; each measurement is a fresh
process that reads it, sets ``POLARS_MAX_THREADS`` (polars sizes its pool once per process, before
import; the plugin sizes its own pool the same way) and passes the same ``threads=`` to the Python
API, then times the computation alone (best of ``--repeat``). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

VARIANTS = ("plugin", "map_batches", "python_api")
FEATURES = ("minhash", "text_stats", "anomaly_score")


def child(path: str, feature: str, variant: str, threads: int, repeat: int) -> None:
    sys.path.insert(0, str(HERE))
    import polars as pl
    from bench_plugin import run

    df = pl.read_parquet(path)
    run(df.head(1000), feature, variant, threads)  # warm up: load the plugin, touch the pools
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = run(df, feature, variant, threads)
        best = min(best, time.perf_counter() - t0)
    assert len(out) == df.height
    print(json.dumps({"seconds": best, "polars_threads": pl.thread_pool_size()}))


def cpu_model() -> str:
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--features", nargs="+", default=list(FEATURES), choices=FEATURES)
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--child", nargs=4, metavar=("PATH", "FEATURE", "VARIANT", "THREADS"))
    args = ap.parse_args()
    if args.child:
        path, feature, variant, threads = args.child
        child(path, feature, variant, int(threads), args.repeat)
        return

    sys.path.insert(0, str(HERE))
    import corpus
    import polars as pl

    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "corpus.parquet")
        texts = pl.DataFrame({"text": corpus.bench_corpus(args.rows)})
        mb = texts["text"].str.len_bytes().sum() / 1e6
        texts.write_parquet(path)
        del texts
        corpus._corpus.cache_clear()  # the children read the file; keep this process small
        corpus._haystack.cache_clear()
        print(
            f"{args.rows:,} rows, {mb:,.0f} MB of text; {cpu_model()}, "
            f"{os.cpu_count()} cores visible; polars {pl.__version__}"
        )
        print()
        print("| feature | threads | " + " | ".join(args.variants) + " | plugin speed-up |")
        print("|---|---|" + "---|" * (len(args.variants) + 1))
        for feature in args.features:
            for threads in args.threads:
                secs = {}
                for variant in args.variants:
                    env = {**os.environ, "POLARS_MAX_THREADS": str(threads)}
                    cmd = [sys.executable, __file__, "--repeat", str(args.repeat)]
                    cmd += ["--child", path, feature, variant, str(threads)]
                    res = subprocess.run(cmd, env=env, capture_output=True, text=True)
                    if res.returncode != 0:
                        raise SystemExit(f"{feature}/{variant}/{threads} failed:\n{res.stderr}")
                    secs[variant] = json.loads(res.stdout.strip().splitlines()[-1])["seconds"]
                others = [secs[v] for v in args.variants if v != "plugin"]
                speedup = (
                    f"{min(others) / secs['plugin']:.2f}×" if others and "plugin" in secs else ""
                )
                cells = " | ".join(f"{secs[v]:.2f} s" for v in args.variants)
                print(f"| {feature} | {threads} | {cells} | {speedup} |", flush=True)


if __name__ == "__main__":
    main()
