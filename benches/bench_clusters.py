"""Near-duplicate clustering at Jaccard 0.8, end to end from raw text: poisonscreen against
datasketch ``MinHashLSH`` and rensa ``RMinHashLSH`` (both + union-find in Python), side by side.

Small corpus (5,000 rows of ``benches/corpus.py``, ~2% planted near-duplicates plus the natural
ones of the T0 templates) so the default test run stays fast. Measure with

    python -m pytest benches/bench_clusters.py --benchmark-enable -q

The large-size comparison is ``python benches/run_peers.py``; see benches/README.md.
"""

from __future__ import annotations

from typing import Any

import polars as pl
import pyarrow as pa
import pytest

import poisonscreen

corpus = pytest.importorskip("corpus")
if not corpus.has_data():
    pytest.skip(f"benchmark data not found at {corpus.data_dir()}", allow_module_level=True)

from run_peers import UnionFind, shingles  # noqa: E402

N = 5_000
NUM_PERM = 128
THRESHOLD = 0.8


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return corpus.bench_corpus(N)


@pytest.fixture(scope="module")
def arrow_texts(texts: list[str]) -> pa.Array:
    return pa.array(texts, type=pa.large_string())


def _summary(d: pl.DataFrame) -> tuple[int, int]:
    """(clusters of size > 1, rows in them)."""
    c = d.filter(pl.col("cluster_size") > 1)
    return c["cluster_id"].n_unique(), c.height


@pytest.fixture(scope="module")
def reference(arrow_texts: pa.Array) -> tuple[int, int]:
    """poisonscreen's clusters (verify="signature"), what the peers should roughly agree with."""
    return _summary(
        poisonscreen.near_duplicates(arrow_texts, threshold=THRESHOLD, verify="signature")
    )


def _agrees(found: tuple[int, int], ref: tuple[int, int]) -> bool:
    # different tokenisers (lower().split() vs NFKC/UAX#29 words) and hash families: roughly equal
    return 0.75 * ref[1] <= found[1] <= 1.25 * ref[1] and found[0] > 0


@pytest.mark.benchmark(group="near-duplicates")
@pytest.mark.parametrize("verify", ["signature", "exact"])
@pytest.mark.parametrize("threads", [1, 2])
def test_poisonscreen(
    benchmark: Any, arrow_texts: pa.Array, reference: tuple[int, int], verify: str, threads: int
) -> None:
    d = benchmark(
        poisonscreen.near_duplicates,
        arrow_texts,
        threshold=THRESHOLD,
        num_perm=NUM_PERM,
        ngram=5,
        verify=verify,
        threads=threads,
    )
    assert d.height == N and d["row_id"].to_list() == list(range(N))
    found = _summary(d)
    # ~2% of the rows are planted near-duplicates: at least those are in clusters
    assert found[1] >= 0.02 * N
    assert _agrees(found, reference)
    # no reported pair is below the threshold
    assert d.filter(pl.col("partner").is_not_null())["similarity"].min() >= THRESHOLD


@pytest.mark.benchmark(group="near-duplicates")
def test_datasketch_lsh(benchmark: Any, texts: list[str], reference: tuple[int, int]) -> None:
    datasketch = pytest.importorskip("datasketch")

    def run() -> tuple[int, int]:
        ms = datasketch.MinHash.bulk(
            [[s.encode("utf-8") for s in shingles(t)] for t in texts], num_perm=NUM_PERM, seed=0
        )
        lsh = datasketch.MinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM)
        with lsh.insertion_session() as sess:
            for i, m in enumerate(ms):
                sess.insert(i, m, check_duplication=False)
        uf = UnionFind(len(ms))
        for i, m in enumerate(ms):
            for j in lsh.query(m):
                if j > i and m.jaccard(ms[j]) >= THRESHOLD:
                    uf.union(i, j)
        return uf.clusters()

    found = benchmark(run)
    assert found[1] >= 0.02 * N
    assert _agrees(found, reference)


@pytest.mark.benchmark(group="near-duplicates")
def test_rensa_lsh(benchmark: Any, texts: list[str], reference: tuple[int, int]) -> None:
    rensa = pytest.importorskip("rensa")

    def run() -> tuple[int, int]:
        ms = rensa.RMinHash.from_token_sets([shingles(t) for t in texts], NUM_PERM, 0)
        lsh = rensa.RMinHashLSH(THRESHOLD, NUM_PERM, 16)  # bands must divide num_perm
        lsh.insert_many(ms)
        uf = UnionFind(len(ms))
        for i, cs in enumerate(lsh.query_all(ms)):
            for j in cs:
                if j > i and ms[i].jaccard(ms[j]) >= THRESHOLD:
                    uf.union(i, j)
        return uf.clusters()

    found = benchmark(run)
    assert found[1] >= 0.02 * N
    assert _agrees(found, reference)
