"""The development suite's denial-of-service cases with their poison written as documents.

    python benches/dos_documents.py [--cases dos_short_t0,...] [--n-clean 50000] [--seed 0]

Souly et al. poison *pretraining documents*: a clean text, the trigger, then random words, with
no prompt. A finetuning corpus that holds such rows (a ``{"text": ...}`` line, a
prompt/completion row with an empty prompt) gives the screener no prompt side: the trigger
detector has nothing to mine, and the row can only be found by its response. This script builds
each of the dev suite's ``dos_*`` cases as ``eval_detection.py`` does, rewrites every poisoned
row as a document (prompt ``""``, response = the case's prompt + its response: the document
prefix, the trigger and the gibberish), scans the DataFrame and prints, per case, AP (the stable
ranking of ``eval_detection.average_precision``), recall, precision and the flag rate.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))

import devsuite
from eval_detection import average_precision

import poisonscreen as ps

CASES = ("dos_short_t0", "dos_pieces_t0", "dos_long_code", "dos_mixed_mathdial")


def as_documents(df: pl.DataFrame) -> pl.DataFrame:
    """The poisoned rows of a case as documents: no prompt, the whole text as the response."""
    poison = pl.col("is_poison")
    return df.with_columns(
        response=pl.when(poison)
        .then(pl.col("prompt") + pl.col("response"))
        .otherwise(pl.col("response")),
        prompt=pl.when(poison).then(pl.lit("")).otherwise(pl.col("prompt")),
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
        case = devsuite.build_case(name, n_clean=args.n_clean, seed=args.seed)
        df = as_documents(case.df)
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
