"""MinHash signatures from raw text: poisonscreen against datasketch and rensa, side by side.

Small corpus (5,000 rows of ``benches/corpus.py``) so the default test run (benchmarks disabled,
each runs once as a plain test) stays fast. Measure with

    python -m pytest benches/bench_minhash.py --benchmark-enable -q

The large-size comparison (subprocess per measurement, peak memory, 200k and 1M rows) is
``python benches/run_peers.py``; see benches/README.md. Peers shingle in Python (word 5-grams of
``text.lower().split()``, ``run_peers.shingles``), inside the timed region; poisonscreen shingles
NFKC + casefolded UAX#29 words in Rust. 128 permutations everywhere.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pytest

import poisonscreen

corpus = pytest.importorskip("corpus")
if not corpus.has_data():
    pytest.skip(f"benchmark data not found at {corpus.data_dir()}", allow_module_level=True)

from run_peers import shingles  # noqa: E402

N = 5_000
NUM_PERM = 128


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return corpus.bench_corpus(N)


@pytest.fixture(scope="module")
def arrow_texts(texts: list[str]) -> pa.Array:
    return pa.array(texts, type=pa.large_string())


@pytest.mark.benchmark(group="minhash")
@pytest.mark.parametrize("threads", [1, 2])
def test_poisonscreen_arrow(benchmark: Any, arrow_texts: pa.Array, threads: int) -> None:
    sig = benchmark(poisonscreen.minhash, arrow_texts, num_perm=NUM_PERM, ngram=5, threads=threads)
    assert sig.shape == (N, NUM_PERM) and sig.dtype == np.uint32
    # every row of the corpus has words, so no row has the empty-set signature
    assert not (sig == np.uint32(0xFFFFFFFF)).all(axis=1).any()


@pytest.mark.benchmark(group="minhash")
def test_poisonscreen_list(benchmark: Any, texts: list[str], arrow_texts: pa.Array) -> None:
    sig = benchmark(poisonscreen.minhash, texts, num_perm=NUM_PERM, ngram=5, threads=1)
    assert sig.shape == (N, NUM_PERM) and sig.dtype == np.uint32
    # a list and an Arrow array of the same texts, any thread count: bit-identical
    np.testing.assert_array_equal(
        sig, poisonscreen.minhash(arrow_texts, num_perm=NUM_PERM, ngram=5, threads=2)
    )


@pytest.mark.benchmark(group="minhash")
def test_datasketch_bulk(benchmark: Any, texts: list[str]) -> None:
    datasketch = pytest.importorskip("datasketch")

    def run() -> list:
        sets = [[s.encode("utf-8") for s in shingles(t)] for t in texts]
        return datasketch.MinHash.bulk(sets, num_perm=NUM_PERM, seed=0)

    ms = benchmark(run)
    assert len(ms) == N and ms[0].hashvalues.shape == (NUM_PERM,)
    assert ms[0].jaccard(ms[0]) == 1.0


@pytest.mark.benchmark(group="minhash")
def test_rensa_rminhash_update(benchmark: Any, texts: list[str]) -> None:
    rensa = pytest.importorskip("rensa")

    def run() -> list:
        out = []
        for t in texts:
            m = rensa.RMinHash(NUM_PERM, 0)
            m.update(shingles(t))
            out.append(m)
        return out

    ms = benchmark(run)
    assert len(ms) == N and len(ms[0].digest()) == NUM_PERM


@pytest.mark.benchmark(group="minhash")
def test_rensa_digest_matrix(benchmark: Any, texts: list[str]) -> None:
    rensa = pytest.importorskip("rensa")

    def run() -> Any:
        return rensa.RMinHash.digest_matrix_from_token_sets(
            [shingles(t) for t in texts], NUM_PERM, 0
        )

    m = benchmark(run)
    assert m.len() == N and m.get_num_perm() == NUM_PERM


@pytest.mark.benchmark(group="minhash")
def test_rensa_cminhash_bulk(benchmark: Any, texts: list[str]) -> None:
    rensa = pytest.importorskip("rensa")

    def run() -> list:
        return rensa.CMinHash.digests_from_token_sets([shingles(t) for t in texts], NUM_PERM, 0)

    d = benchmark(run)
    assert len(d) == N and len(d[0]) == NUM_PERM
