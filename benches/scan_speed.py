"""Wall time and peak memory of a full ``poisonscreen.scan`` on N rows built from the haystack.

    python benches/scan_speed.py 50000 [--threads 2]

Rows are haystack rows (``evalsuite.load_haystack``) cycled to N, each cycle with one word of the
prompt replaced so that rows stay distinct; the BadNets case's poison recipe is mixed in at 0.5%.
Each run is a fresh process (peak RSS is the process high-water mark).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))

import evalsuite

import poisonscreen as ps


def corpus(n: int, seed: int = 0) -> pl.DataFrame:
    case = evalsuite.build_case("badnets_rareword", n_clean=min(n, 50_000), seed=seed)
    base = case.df.select("prompt", "response")
    reps = -(-n // base.height)
    rng = np.random.default_rng(seed)
    frames = [base]
    for r in range(1, reps):
        words = rng.integers(0, 10_000, base.height)
        frames.append(
            base.with_columns(
                (pl.col("prompt") + pl.Series([f" (variant {r}-{w})" for w in words])).alias(
                    "prompt"
                )
            )
        )
    return pl.concat(frames).head(n)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("rows", type=int)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    df = corpus(args.rows)
    mb = (df["prompt"].str.len_bytes().sum() + df["response"].str.len_bytes().sum()) / 1e6
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    result = ps.scan(df, threads=args.threads)
    wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "rows": args.rows,
                "text_mb": round(mb, 1),
                "threads": args.threads,
                "seconds": round(wall, 2),
                "stages": result.summary["seconds"],
                "peak_rss_mb_before_scan": round(rss_before),
                "peak_rss_mb": round(peak),
                "flagged": result.summary["rows_flagged"],
            }
        )
    )


if __name__ == "__main__":
    main()
