"""The polars plugin (``pl.col(...).poison.*``) against the same computation through
``map_batches`` with the Python API, and against the Python API called directly.

Three features: MinHash signatures (128 permutations, word 5-grams), text statistics, and the
screener's response-anomaly score (column-relative). Rows: ``$POISONSCREEN_BENCH_ROWS`` (default
5,000, so the default test run, where each case runs once as a plain test, stays fast) of
``benches/corpus.py``. Every case checks its result against the plugin's. Measure with

    POISONSCREEN_BENCH_ROWS=1000000 python -m pytest benches/bench_plugin.py --benchmark-enable -q

The threads comparison (1 and 2 threads, 1,000,000 rows, a fresh process per measurement, since
polars sizes its pool once per process) is ``python benches/plugin_speed.py``; the numbers are in
the README's "Polars plugin" section.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np
import polars as pl
import pytest

import poisonscreen as ps
from poisonscreen import _poisonscreen as _core
from poisonscreen._arrow import text_chunks
from poisonscreen.detectors import familiarity_sample_every, row_columns
from poisonscreen.scan import ScanConfig

corpus = pytest.importorskip("corpus")
if not corpus.has_data():
    pytest.skip(f"benchmark data not found at {corpus.data_dir()}", allow_module_level=True)

N = int(os.environ.get("POISONSCREEN_BENCH_ROWS", "5000"))
NUM_PERM = 128
SIG = pl.Array(pl.UInt32, NUM_PERM)


# ---- the three ways to compute each feature (also used by plugin_speed.py) ---------------------


def minhash_api(s: pl.Series, threads: int | None = None) -> pl.Series:
    sig = ps.minhash(s, num_perm=NUM_PERM, ngram=5, threads=threads)
    return pl.Series(s.name, sig, dtype=SIG)


def stats_api(s: pl.Series, threads: int | None = None) -> pl.Series:
    return ps.text_stats(s, threads=threads).drop("row_id").to_struct(s.name)


def anomaly_api(s: pl.Series, threads: int | None = None) -> pl.Series:
    """The screener's own path (``detectors.row_columns``) for one response column."""
    n = len(s)
    cfg = ScanConfig()
    fam = _core.bigram_familiarity(
        text_chunks(s)[0],
        sample_every=familiarity_sample_every(n, cfg, int(s.str.len_bytes().fill_null(0).sum())),
        min_tokens=8,
        threads=threads,
    )
    frame = pl.DataFrame({"error": pl.Series([None] * n, dtype=pl.String)})
    ptext = pl.Series([""] * n, dtype=pl.String)
    cols = row_columns(np.arange(n, dtype=np.uint32), frame, ptext, s, fam, threads)
    return cols["anomaly"].alias(s.name)


API: dict[str, Callable[..., pl.Series]] = {
    "minhash": minhash_api,
    "text_stats": stats_api,
    "anomaly_score": anomaly_api,
}

DTYPES: dict[str, Any] = {
    "minhash": SIG,
    "text_stats": pl.Struct(
        {
            "chars": pl.UInt32,
            "words": pl.UInt32,
            "char_entropy": pl.Float32,
            "repetition": pl.Float32,
            "non_alnum": pl.Float32,
            "compressibility": pl.Float32,
            "unique_word_ratio": pl.Float32,
        }
    ),
    "anomaly_score": pl.Float32,
}


def plugin_expr(feature: str) -> pl.Expr:
    ns = pl.col("text").poison
    return {
        "minhash": lambda: ns.minhash(num_perm=NUM_PERM, ngram=5),
        "text_stats": ns.text_stats,
        "anomaly_score": ns.anomaly_score,
    }[feature]()


def map_batches_expr(feature: str) -> pl.Expr:
    fn = API[feature]
    # the whole column at once (agg_list semantics): anomaly_score is column-relative
    return pl.col("text").map_batches(fn, return_dtype=DTYPES[feature], is_elementwise=False)


def run(df: pl.DataFrame, feature: str, variant: str, threads: int | None = None) -> pl.Series:
    if variant == "plugin":
        return df.select(plugin_expr(feature))["text"]
    if variant == "map_batches":
        return df.select(map_batches_expr(feature))["text"]
    return API[feature](df["text"], threads)


# ---- pytest-benchmark ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def df() -> pl.DataFrame:
    return pl.DataFrame({"text": corpus.bench_corpus(N)})


@pytest.fixture(scope="module")
def expected(df: pl.DataFrame) -> dict[str, pl.Series]:
    return {f: run(df, f, "plugin") for f in API}


@pytest.mark.benchmark(group="plugin")
@pytest.mark.parametrize("variant", ["plugin", "map_batches", "python_api"])
@pytest.mark.parametrize("feature", list(API))
def test_plugin_vs_python(
    benchmark: Any, df: pl.DataFrame, expected: dict[str, pl.Series], feature: str, variant: str
) -> None:
    benchmark.group = f"plugin-{feature}"
    out = benchmark(run, df, feature, variant)
    assert out.dtype == DTYPES[feature]
    assert out.equals(expected[feature])
