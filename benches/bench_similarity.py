"""Benchmarks of poisonscreen.similarity on the CPU (small sizes: the default run stays fast).

    python -m pytest benches/bench_similarity.py --benchmark-enable -q

The large-size numbers in benches/README.md come from ``python benches/bench_similarity.py``
(``main`` below), which takes minutes.
"""

from __future__ import annotations

import os
import platform
import time
from typing import Any

import numpy as np
import pytest

from poisonscreen import similarity as sim


def _unit(n: int, d: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.benchmark
def test_bench_knn_cosine(benchmark: Any) -> None:
    x = _unit(4000, 256)
    idx, sims = benchmark(sim.knn_cosine, x, 32, tile=1024, device="cpu")
    assert idx.shape == (4000, 32) and np.all(np.diff(sims, axis=1) <= 0)


@pytest.mark.benchmark
def test_bench_signature_agreement(benchmark: Any) -> None:
    rng = np.random.default_rng(1)
    sigs = rng.integers(0, 2**32, size=(20_000, 128), dtype=np.uint32)
    pairs = rng.integers(0, 20_000, size=(200_000, 2), dtype=np.uint32)
    out = benchmark(sim.signature_agreement_pairs, sigs, pairs, device="cpu")
    assert out.shape == (200_000,)


@pytest.mark.benchmark
def test_bench_cluster_coherence(benchmark: Any) -> None:
    x = _unit(5000, 256)
    rng = np.random.default_rng(2)
    sets = [rng.choice(5000, 50, replace=False) for _ in range(100)]
    out = benchmark(sim.cluster_coherence, x, sets, background=1000, device="cpu")
    assert out.height == 100


@pytest.mark.benchmark
def test_bench_sketches(benchmark: Any) -> None:
    ids = np.random.default_rng(3).integers(0, 2000, size=(5000, 40))
    texts = [" ".join(f"w{i}" for i in row) for row in ids.tolist()]
    out = benchmark(sim.sketches, texts, dim=256)
    assert out.shape == (5000, 256)


def main() -> None:
    """The README numbers: kNN of 100,000 x 256 (k=32) and agreement of 10,000,000 pairs."""
    rng = np.random.default_rng(0)
    print(f"{platform.machine()}, {os.cpu_count()} cores, numpy {np.__version__}, device=cpu")
    sigs = rng.integers(0, 2**32, size=(1_000_000, 128), dtype=np.uint32)
    pairs = rng.integers(0, 1_000_000, size=(10_000_000, 2), dtype=np.uint32)
    t = time.perf_counter()
    sim.signature_agreement_pairs(sigs, pairs, device="cpu")
    print(f"signature agreement, 10,000,000 pairs x 128: {time.perf_counter() - t:.2f} s")
    del sigs, pairs
    for n in (20_000, 100_000):
        x = _unit(n, 256)
        t = time.perf_counter()
        sim.knn_cosine(x, 32, device="cpu")
        print(f"knn_cosine {n:,} x 256, k=32, tile=4096: {time.perf_counter() - t:.1f} s")


if __name__ == "__main__":
    main()
