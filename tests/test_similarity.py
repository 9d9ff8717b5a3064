"""poisonscreen.similarity: NumPy paths against brute force, backend choice, GPU parity."""

from __future__ import annotations

import ctypes
import logging
import types
from typing import ClassVar

import numpy as np
import pytest

import poisonscreen._poisonscreen as _core
from poisonscreen import similarity as sim
from poisonscreen.exceptions import ConfigError


def _has_gpu() -> bool:
    cupy, _ = sim._probe_gpu()
    return cupy is not None


needs_gpu = pytest.mark.skipif(not _has_gpu(), reason="needs CuPy and a CUDA GPU")


def _unit(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _brute_knn(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    s = (x @ x.T).astype(np.float32)
    np.fill_diagonal(s, -np.inf)
    n = len(x)
    # descending similarity, ties by smaller index: a stable sort on -s
    order = np.argsort(-s, axis=1, kind="stable")[:, : min(k, n - 1)]
    return order.astype(np.int32), np.take_along_axis(s, order, axis=1)


def _sigs(rng: np.random.Generator, n: int, p: int) -> np.ndarray:
    # few distinct values so pairs agree often; two empty-set rows
    s = rng.integers(0, 4, size=(n, p), dtype=np.uint32)
    s[3] = 0xFFFFFFFF
    s[4] = 0xFFFFFFFF
    return s


# ---- backend ----------------------------------------------------------------------------------


def test_backend_choice(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    assert sim.get_backend("cpu").xp is np
    with pytest.raises(ConfigError, match="device"):
        sim.get_backend("tpu")
    monkeypatch.setattr(sim, "_gpu_probe", (None, "CuPy is not importable (test)"))
    monkeypatch.setattr(sim, "_fallback_logged", False)
    with pytest.raises(ConfigError, match=r"poisonscreen\[gpu\]"):
        sim.get_backend("gpu")
    with pytest.raises(ConfigError, match="CuPy"):
        sim.knn_cosine(np.eye(3, dtype=np.float32), 1, device="gpu")
    with caplog.at_level(logging.INFO, logger="poisonscreen.similarity"):
        assert sim.get_backend("auto").name == "cpu"
        assert sim.get_backend("auto").name == "cpu"
        idx, _ = sim.knn_cosine(np.eye(3, dtype=np.float32), 1, device="auto")
    said = [r for r in caplog.records if "using the CPU" in r.getMessage()]
    assert len(said) == 1
    assert idx.shape == (3, 1)


@pytest.mark.skipif(_has_gpu(), reason="checks the error raised without a GPU")
def test_gpu_without_cupy_is_config_error() -> None:
    with pytest.raises(ConfigError, match="needs CuPy"):
        sim.signature_agreement_pairs(np.zeros((2, 4), np.uint32), [[0, 1]], device="gpu")


# ---- signature agreement ----------------------------------------------------------------------


def test_agreement_pairs_matches_core_and_reference() -> None:
    rng = np.random.default_rng(1)
    sigs = _sigs(rng, 50, 16)
    pairs = rng.integers(0, 50, size=(400, 2)).astype(np.uint32)
    pairs[0] = (3, 4)  # both empty: 0
    pairs[1] = (3, 5)
    pairs[2] = (7, 7)  # self: 1
    want = _core.signature_agreement(sigs, pairs)
    got = sim.signature_agreement_pairs(sigs, pairs, device="cpu")
    np.testing.assert_array_equal(got, want)
    assert got[0] == 0.0 and got[2] == 1.0
    ref = sim._agreement_xp(np, sigs, pairs)
    np.testing.assert_array_equal(np.where(ref < 0, 0.0, ref / 16), want)
    assert ref[0] == -1
    brute = [(sigs[a] == sigs[b]).mean() for a, b in pairs]
    brute[0] = 0.0
    np.testing.assert_allclose(got, brute)


def test_agreement_within() -> None:
    rng = np.random.default_rng(2)
    sigs = _sigs(rng, 30, 8)
    rows = np.array([9, 2, 17, 5])
    cond = sim.signature_agreement_within(sigs, rows, device="cpu")
    pairs = [(rows[i], rows[j]) for i in range(4) for j in range(i + 1, 4)]
    np.testing.assert_array_equal(cond, _core.signature_agreement(sigs, np.array(pairs, np.uint32)))
    mat = sim.signature_agreement_within(sigs, rows, form="matrix", device="cpu")
    assert mat.shape == (4, 4) and np.all(np.diag(mat) == 1.0)
    np.testing.assert_array_equal(mat[np.triu_indices(4, 1)], cond)
    np.testing.assert_array_equal(mat, mat.T)
    assert sim.signature_agreement_within(sigs, [3], device="cpu").shape == (0,)


def test_agreement_rejects_bad_input() -> None:
    sigs = np.zeros((3, 4), np.uint32)
    with pytest.raises(ConfigError):
        sim.signature_agreement_pairs(sigs, [[0, 3]], device="cpu")
    with pytest.raises(ConfigError):
        sim.signature_agreement_pairs(sigs, [0, 1], device="cpu")
    with pytest.raises(ConfigError):
        sim.signature_agreement_pairs(sigs.astype(np.float32), [[0, 1]], device="cpu")


# ---- kNN --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "k", "tile"), [(37, 5, 8), (64, 63, 16), (50, 80, 7), (100, 10, 1000)]
)
def test_knn_matches_brute_force(n: int, k: int, tile: int) -> None:
    x = _unit(np.random.default_rng(n), n, 12)
    idx, sims = sim.knn_cosine(x, k, tile=tile, device="cpu")
    want_idx, want_sims = _brute_knn(x, k)
    assert idx.dtype == np.int32 and sims.dtype == np.float32
    np.testing.assert_array_equal(idx, want_idx)
    np.testing.assert_allclose(sims, want_sims, atol=1e-6)


def test_knn_ties_go_to_smaller_index() -> None:
    # heavy ties: rows drawn from 4 distinct unit vectors, plus zero rows (similarity 0 to all)
    rng = np.random.default_rng(3)
    base = _unit(rng, 4, 6)
    x = base[rng.integers(0, 4, size=60)]
    x[[5, 20, 41]] = 0.0
    for tile in (7, 60):
        idx, sims = sim.knn_cosine(x, 12, tile=tile, device="cpu")
        want_idx, want_sims = _brute_knn(x, 12)
        np.testing.assert_array_equal(idx, want_idx)
        np.testing.assert_array_equal(sims, want_sims)
    assert not np.any(idx == np.arange(60)[:, None])


def _poison(monkeypatch: pytest.MonkeyPatch) -> None:
    # key 0 decodes to index -1: any element left unwritten shows up as a negative index
    monkeypatch.setattr(sim, "_empty", lambda xp, shape, dtype: xp.zeros(shape, dtype=dtype))


def test_knn_writes_every_output(monkeypatch: pytest.MonkeyPatch) -> None:
    _poison(monkeypatch)
    x = _unit(np.random.default_rng(9), 90, 8)
    idx, _ = sim.knn_cosine(x, 7, tile=13, device="cpu")
    assert (idx >= 0).all()
    np.testing.assert_array_equal(idx, _brute_knn(x, 7)[0])


def test_knn_edge_cases() -> None:
    idx, sims = sim.knn_cosine(np.ones((1, 4), np.float32), 3, device="cpu")
    assert idx.shape == (1, 0) and sims.shape == (1, 0)
    with pytest.raises(ConfigError):
        sim.knn_cosine(np.ones((3, 4), np.float32), 0, device="cpu")
    with pytest.raises(ConfigError):
        sim.knn_cosine(np.ones(4, np.float32), 1, device="cpu")


# ---- coherence --------------------------------------------------------------------------------


def test_coherence_planted_set() -> None:
    rng = np.random.default_rng(4)
    x = _unit(rng, 3000, 64)
    planted = rng.choice(3000, 40, replace=False)
    centre = _unit(rng, 1, 64)[0]
    noisy = centre + 0.5 * rng.standard_normal((40, 64)).astype(np.float32) / 8
    x[planted] = noisy / np.linalg.norm(noisy, axis=1, keepdims=True)
    randoms = [rng.choice(3000, 40, replace=False) for _ in range(5)]
    out = sim.cluster_coherence(x, [planted, *randoms, [7]], background=500, tile=16, device="cpu")
    assert out.columns == ["set", "size", "mean", "std", "background_mean", "background_std", "z"]
    z = out["z"].to_numpy()
    assert z[0] > 5  # mean cosine ~0.8 against a background of 0 +- 1/8
    assert np.all(np.abs(z[1:6]) < 1)
    assert np.isnan(z[6]) and out["size"][6] == 1
    # brute force for the planted set
    s = x[planted] @ x[planted].T
    vals = s[np.triu_indices(40, 1)].astype(np.float64)
    assert out["mean"][0] == pytest.approx(vals.mean(), abs=1e-5)
    assert out["std"][0] == pytest.approx(vals.std(), abs=1e-4)
    with pytest.raises(ConfigError):
        sim.cluster_coherence(x, [[3000]], device="cpu")


# ---- sketches from text -----------------------------------------------------------------------


def test_sketches_from_text() -> None:
    import polars as pl

    words = "river stone quiet market lamp orange violin winter garden paper silver horse".split()
    rng = np.random.default_rng(5)
    texts: list[str | None] = [" ".join(rng.choice(words, 30)) for _ in range(200)]
    base = texts[0]
    assert base is not None
    texts[1] = base.replace(base.split()[10], "zeppelin", 1)
    texts[2] = None
    s = sim.sketches(texts, dim=128)
    assert s.shape == (200, 128) and s.dtype == np.float32
    assert float(s[0] @ s[1]) > 0.8
    assert not s[2].any()
    norms = np.linalg.norm(np.delete(s, 2, axis=0), axis=1)
    np.testing.assert_allclose(norms, 1.0, atol=1e-5)
    again = sim.sketches(pl.DataFrame({"t": texts}), column="t", dim=128, threads=1)
    np.testing.assert_array_equal(s, again)
    idx, _ = sim.knn_cosine(s, 1, device="cpu")
    assert idx[0, 0] == 1 and idx[1, 0] == 0
    with pytest.raises(ConfigError):
        sim.sketches(texts, dim=0)


# ---- coherence: the Gram-matrix identities against brute force ---------------------------------


def _brute_pair_stats(x: np.ndarray) -> tuple[float, float]:
    x64 = x.astype(np.float64)
    vals = (x64 @ x64.T)[np.triu_indices(len(x), 1)]
    return float(vals.mean()), float(vals.std())


@pytest.mark.parametrize(("n", "d"), [(2, 8), (3, 64), (40, 64), (64, 64), (65, 64), (700, 32)])
@pytest.mark.parametrize("chunk", [None, 96])
def test_pair_stats_identities(
    n: int, d: int, chunk: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    if chunk is not None:  # many chunks of rows (at least `tile` rows each)
        monkeypatch.setattr(sim, "_COHERENCE_CHUNK_CPU", chunk * d)
    rng = np.random.default_rng(n * d)
    x = _unit(rng, n, d)
    x[n // 2] = x[0]  # a duplicate pair
    m, mean, std = sim._pair_stats(np, x, 16)
    want_mean, want_std = _brute_pair_stats(x)
    assert m == n * (n - 1) // 2
    # float64 all through: as the float64 brute force up to rounding
    assert mean == pytest.approx(want_mean, abs=1e-12)
    assert std == pytest.approx(want_std, abs=1e-9)
    # the former float32 tiles agree to float32 rounding
    _, old_mean, old_std = sim._pair_stats_tiled(np, x, 16)
    assert mean == pytest.approx(old_mean, abs=1e-6)
    assert std == pytest.approx(old_std, abs=1e-5)


def test_pair_stats_degenerate_sets() -> None:
    rng = np.random.default_rng(11)
    same = np.repeat(_unit(rng, 1, 32), 500, axis=0)  # every product 1: std 0, no cancellation
    m, mean, std = sim._pair_stats(np, same, 64)
    norm2 = float(same[0].astype(np.float64) @ same[0].astype(np.float64))  # 1 to float32 rounding
    assert m == 500 * 499 // 2 and mean == pytest.approx(norm2, abs=1e-12) and std < 1e-6
    zeros = np.zeros((300, 16), np.float32)
    assert sim._pair_stats(np, zeros, 64)[1:] == (0.0, 0.0)
    # large offsets (all rows near one direction): mean ~0.99, tiny spread, kept by float64
    centre = _unit(rng, 1, 48)[0]
    near = centre + 0.01 * rng.standard_normal((900, 48)).astype(np.float32)
    near /= np.linalg.norm(near, axis=1, keepdims=True)
    _, mean, std = sim._pair_stats(np, near, 64)
    want_mean, want_std = _brute_pair_stats(near)
    assert mean == pytest.approx(want_mean, abs=1e-12)
    assert std == pytest.approx(want_std, rel=1e-6)
    for n in (0, 1):
        m, mean, std = sim._pair_stats(np, np.ones((n, 4), np.float32), 8)
        assert m == 0 and np.isnan(mean) and np.isnan(std)


# ---- kNN: the select kernel's contract (NumPy statement of what the CUDA kernel computes) ------


def _select_reference(
    sims: np.ndarray, cols: int, row0: int, col0: int, k: int, best: np.ndarray
) -> np.ndarray:
    """What knn_select_* leaves in ``best``: per row, the k largest keys of the old best (SENT
    excluded) and of the tile's first ``cols`` columns except the row's own, descending, SENT-padded."""
    out = np.full_like(best, sim._SENT)
    colidx = np.arange(col0, col0 + cols)
    for r in range(sims.shape[0]):
        keep = colidx != row0 + r
        keys = sim._keys(np, sims[r, :cols][keep].astype(np.float32), colidx[keep])
        old = best[r][best[r] != sim._SENT]
        top = np.sort(np.concatenate([old, keys]))[::-1][:k]
        out[r, : len(top)] = top
    return out


def test_keys_order_and_decode() -> None:
    vals = np.array([-np.inf, -1.0, -0.0, 0.0, 1e-30, 0.5, 1.0, np.inf], np.float32)
    cols = np.arange(len(vals))
    keys = sim._keys(np, vals, cols)
    assert np.all(np.diff(keys[[0, 1, 2, 4, 5, 6, 7]]) > 0)
    assert keys[2] > keys[3]  # -0.0 == 0.0: the smaller column wins
    back_cols, back = sim._decode(np, keys)
    np.testing.assert_array_equal(back_cols, cols)
    np.testing.assert_array_equal(back, np.where(vals == 0, 0.0, vals))
    assert (sim._SENT < keys).all()
    assert np.isnan(sim._decode(np, np.array([sim._SENT]))[1][0])


# ---- GPU parity (skipped without CuPy and a GPU) ----------------------------------------------


def _sync() -> None:
    import cupy

    cupy.cuda.runtime.deviceSynchronize()  # raises on a failed launch or a fault in a kernel


@pytest.mark.gpu
@needs_gpu
@pytest.mark.parametrize("p", [1, 3, 4, 7, 64, 128, 130, 256])
def test_gpu_agreement_kernel_parity(p: int) -> None:
    import cupy

    rng = np.random.default_rng(6 + p)
    sigs = _sigs(rng, 300, p)
    sigs[5, : p // 2] = 0xFFFFFFFF  # half empty: not empty
    m = 100_003  # not a multiple of any block
    pairs = rng.integers(0, 300, size=(m, 2)).astype(np.uint32)
    pairs[0] = (3, 4)
    pairs[1] = (3, 5)
    pairs[2] = (7, 7)
    want = sim._agreement_xp(np, sigs, pairs)
    d_sigs, d_pairs = cupy.asarray(sigs), cupy.asarray(pairs)
    for lanes in (None, 1, 4, 8, 16, 32):
        out = cupy.full(m, -7, dtype=cupy.int32)  # poisoned: every element must be written
        sim._agreement_gpu(cupy, d_sigs, d_pairs, out, lanes=lanes)
        _sync()
        np.testing.assert_array_equal(cupy.asnumpy(out), want, err_msg=f"lanes={lanes}")
    assert want[0] == -1 and want[2] == p
    got = sim.signature_agreement_pairs(sigs, pairs, device="gpu")
    np.testing.assert_array_equal(got, sim.signature_agreement_pairs(sigs, pairs, device="cpu"))


@pytest.mark.gpu
@needs_gpu
def test_gpu_agreement_unaligned_and_empty() -> None:
    import cupy

    rng = np.random.default_rng(12)
    sigs = _sigs(rng, 50, 8)
    base = cupy.zeros(50 * 8 + 1, dtype=cupy.uint32)
    base[1:] = cupy.asarray(sigs.ravel())
    d_sigs = base[1:].reshape(50, 8)  # 4 bytes past an aligned address: the word path
    assert sim._device_ptr(d_sigs) % 16 == 4
    pairs = rng.integers(0, 50, size=(999, 2)).astype(np.uint32)
    out = cupy.full(999, -7, dtype=cupy.int32)
    sim._agreement_gpu(cupy, d_sigs, cupy.asarray(pairs), out)
    _sync()
    np.testing.assert_array_equal(cupy.asnumpy(out), sim._agreement_xp(np, sigs, pairs))
    empty = sim._agreement_gpu(cupy, d_sigs, cupy.zeros((0, 2), cupy.uint32))
    assert empty.shape == (0,)


@pytest.mark.gpu
@needs_gpu
@pytest.mark.parametrize("half", [True, False])
@pytest.mark.parametrize(
    ("k", "rows", "cols", "ld", "row0", "col0"),
    [
        (1, 9, 40, 40, 0, 0),
        (5, 13, 100, 104, 3, 0),
        (32, 300, 7000, 7000, 500, 300),
        (33, 11, 520, 520, 0, 512),
        (64, 50, 1100, 1104, 1200, 1000),
        (128, 29, 2000, 2000, 1999, 0),
        (7, 4, 3, 8, 0, 0),
    ],
)
def test_gpu_select_kernel_exact(
    half: bool, k: int, rows: int, cols: int, ld: int, row0: int, col0: int
) -> None:
    """The select kernel on a given tile (many ties, ±0, a partly filled best) equals NumPy."""
    import cupy

    rng = np.random.default_rng(k * 7919 + cols)
    dt = np.float16 if half else np.float32
    levels = np.array([-0.5, -0.0, 0.0, 0.25, 0.5, 0.75, 1.0, 1 / 3], dtype=dt)
    tile = levels[rng.integers(0, len(levels), size=(rows, ld))]
    noise = rng.standard_normal((rows, ld)).astype(dt)
    tile = np.where(rng.random((rows, ld)) < 0.3, noise, tile)
    kpl = 1 if k <= 32 else (2 if k <= 64 else 4)
    best = np.full((rows, 32 * kpl), sim._SENT, np.int64)
    for r in range(rows):  # earlier columns (past this tile) already ranked
        fill = int(rng.integers(0, k + 1))
        c = rng.choice(np.arange(col0 + cols + 1, col0 + cols + 5000), fill, replace=False)
        v = levels[rng.integers(0, len(levels), fill)].astype(np.float32)
        best[r, :fill] = np.sort(sim._keys(np, v, c))[::-1]
    want = _select_reference(tile, cols, row0, col0, k, best)
    kern = sim._select_kernel(cupy, half, kpl)
    d_tile = cupy.asarray(tile)
    for vec in sorted({0, int(ld % (8 if half else 4) == 0)}):
        d_best = cupy.array(best)  # a copy for each run
        kern(
            ((rows * 32 + 255) // 256,),
            (256,),
            (d_tile, np.int64(ld), np.int32(rows), np.int32(cols), np.int64(row0),
             np.int64(col0), np.int32(k), np.int32(vec), d_best),
        )  # fmt: skip
        _sync()
        np.testing.assert_array_equal(cupy.asnumpy(d_best), want, err_msg=f"vec={vec}")


def _int_sketches(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    """Rows of -1/0/1 (some all zero, some repeated): every product is a small integer, exact in
    fp16 and fp32 whatever the order of the sums, so even the GPU ranking must be exactly the
    brute-force stable sort (heavy ties: the smaller index wins)."""
    x = rng.integers(-1, 2, size=(n, d)).astype(np.float32)
    x[rng.choice(n, max(n // 20, 1), replace=False)] = 0.0
    dup = rng.choice(n, max(n // 10, 2), replace=False)
    x[dup] = x[dup[0]]
    return x


@pytest.mark.gpu
@needs_gpu
@pytest.mark.parametrize("streams", [1, 2])
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
@pytest.mark.parametrize(
    ("n", "k", "tile"),
    [(5, 32, None), (40, 39, 8), (333, 1, 50), (1000, 32, 100), (2500, 33, 300), (1234, 128, 64)],
)
def test_gpu_knn_exact_on_integer_products(
    precision: str,
    n: int,
    k: int,
    tile: int | None,
    streams: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _poison(monkeypatch)
    monkeypatch.setattr(sim, "_KNN_STREAMS", streams)
    x = _int_sketches(np.random.default_rng(n + k), n, 16)
    idx, sims = sim.knn_cosine(x, k, tile=tile, device="gpu", precision=precision)  # type: ignore[arg-type]
    _sync()
    want_idx, want_sims = _brute_knn(x, k)
    np.testing.assert_array_equal(idx, want_idx)
    np.testing.assert_array_equal(sims, want_sims)


@pytest.mark.gpu
@needs_gpu
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
@pytest.mark.parametrize(("n", "k", "tile"), [(2000, 16, 300), (3001, 32, None), (700, 100, 128)])
def test_gpu_knn_parity(
    precision: str, n: int, k: int, tile: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    _poison(monkeypatch)
    rng = np.random.default_rng(7 + n)
    x = _unit(rng, n, 64)
    x[10] = x[11]  # an exact duplicate
    cpu_idx, cpu_sims = sim.knn_cosine(x, k, tile=tile, device="cpu")
    gpu_idx, gpu_sims = sim.knn_cosine(x, k, tile=tile, device="gpu", precision=precision)  # type: ignore[arg-type]
    _sync()
    assert np.isfinite(gpu_sims).all() and (gpu_idx >= 0).all()
    assert not (gpu_idx == np.arange(n)[:, None]).any()
    assert all(len(set(row)) == k for row in gpu_idx.tolist())
    assert np.all(np.diff(gpu_sims, axis=1) <= 0)
    tol = 1e-5 if precision == "fp32" else 3e-3
    np.testing.assert_allclose(gpu_sims, cpu_sims, atol=tol)
    # the neighbours found on the GPU are as similar (by the exact fp32 product) as the CPU's
    exact = np.take_along_axis(x @ x.T, gpu_idx.astype(np.int64), axis=1)
    np.testing.assert_allclose(exact, cpu_sims, atol=2 * tol)
    if precision == "fp32":
        # identical except where two similarities are within float32 rounding of each other
        differ = gpu_idx != cpu_idx
        assert differ.mean() < 0.01
        assert np.all(np.abs(cpu_sims[differ] - gpu_sims[differ]) < 1e-5)


@pytest.mark.gpu
@needs_gpu
def test_gpu_knn_large_k_takes_the_tile_path(monkeypatch: pytest.MonkeyPatch) -> None:
    _poison(monkeypatch)
    x = _int_sketches(np.random.default_rng(13), 400, 12)
    idx, sims = sim.knn_cosine(x, 150, tile=64, device="gpu", precision="fp32")
    _sync()
    want_idx, want_sims = _brute_knn(x, 150)
    np.testing.assert_array_equal(idx, want_idx)
    np.testing.assert_array_equal(sims, want_sims)


@pytest.mark.gpu
@needs_gpu
@pytest.mark.parametrize("path", ["batched", "chunks", "chunks_2_streams", "one_product_a_chunk"])
def test_gpu_coherence_parity(path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import cupy

    if path != "batched":  # many chunks (of 256 rows), each 4 blocks of 64 rows, a tail
        monkeypatch.setattr(sim, "_COHERENCE_CHUNK_GPU", 300 * 32)
        monkeypatch.setattr(sim, "_COHERENCE_BATCH", 64)
    if path == "chunks_2_streams":
        monkeypatch.setattr(sim, "_COHERENCE_STREAMS", 2)
    if path == "one_product_a_chunk":  # the generic path (float64 casts, one product a chunk)
        monkeypatch.setattr(sim, "_COHERENCE_MAX_D", 0)
    rng = np.random.default_rng(8)
    x = _unit(rng, 5000, 32)
    for n in (2, 20, 33, 400, 5000):
        m, mean, std = sim._pair_stats(cupy, cupy.asarray(x[:n]), 128)
        _sync()
        want_mean, want_std = _brute_pair_stats(x[:n])
        assert m == n * (n - 1) // 2
        assert mean == pytest.approx(want_mean, abs=1e-11)
        assert std == pytest.approx(want_std, abs=1e-9)
    sets = [rng.choice(5000, m, replace=False) for m in (2, 30, 400)]
    cpu = sim.cluster_coherence(x, sets, background=300, tile=128, device="cpu")
    gpu = sim.cluster_coherence(x, sets, background=300, tile=128, device="gpu")
    for c in ("mean", "std", "background_mean", "background_std", "z"):
        np.testing.assert_allclose(gpu[c].to_numpy(), cpu[c].to_numpy(), rtol=1e-9, atol=1e-11)
    # rows packed around one direction (mean ~0.995, std ~1e-3): float64 keeps the small spread
    centre = _unit(rng, 1, 32)[0]
    near = centre + 0.01 * rng.standard_normal((3000, 32)).astype(np.float32)
    near /= np.linalg.norm(near, axis=1, keepdims=True)
    _, mean, std = sim._pair_stats(cupy, cupy.asarray(near), 128)
    want_mean, want_std = _brute_pair_stats(near)
    assert mean == pytest.approx(want_mean, abs=1e-12)
    assert std == pytest.approx(want_std, rel=1e-6)
    assert sim._gram_fallback is None  # the batched cuBLAS call worked


# ---- the GPU code path on a NumPy stand-in for CuPy (plumbing only: no CUDA) ------------------


class _FakeKernel:
    """Runs what each RawKernel computes (in NumPy), with the kernel's argument list, and checks
    the launch: grid and block cover the work, dtypes, contiguity and 16-byte alignment."""

    launches: ClassVar[list[str]] = []

    def __init__(self, src: str, name: str) -> None:
        assert 'extern "C"' in src and f" {name}(" in src.replace("\n", " ")
        self.name = name

    def __call__(self, grid: tuple[int], block: tuple[int], args: tuple, **kw: object) -> None:
        _FakeKernel.launches.append(self.name)
        if self.name == "sig_agreement_group":
            sigs, pairs, m, p, lg, vec, out = args
            assert (grid[0] * block[0]) >> int(lg) >= int(m) and sigs.shape[1] == int(p)
            assert block[0] % 32 == 0 and 0 <= int(lg) <= 5
            assert pairs.dtype == np.uint32 and pairs.flags.c_contiguous and out.dtype == np.int32
            if vec:
                assert int(p) % 4 == 0 and sigs.ctypes.data % 16 == 0
            out[:] = sim._agreement_xp(np, sigs, pairs.reshape(-1, 2))
            return
        if self.name.startswith("coherence_rows_"):
            x, rows, x64, col_part, norm_part = args
            d = int(self.name.rsplit("_", 1)[1])
            assert block == (256,) and grid[0] == col_part.shape[0] == norm_part.shape[0]
            assert x.dtype == np.float32 and x.flags.c_contiguous and x.shape == (int(rows), d)
            assert x64.dtype == np.float64 and x64.flags.c_contiguous and x64.shape[1] == d
            assert col_part.shape[1] == d and norm_part.shape[1] == 2
            x64[: int(rows)] = x
            norm2 = (x64[: int(rows)] ** 2).sum(axis=1)
            for b in range(grid[0]):  # each block its rows (warps take rows 8 at a time)
                mine = (np.arange(int(rows)) // 8) % grid[0] == b
                col_part[b] += x64[: int(rows)][mine].sum(axis=0)
                norm_part[b] += (norm2[mine].sum(), (norm2[mine] ** 2).sum())
            return
        assert self.name.startswith("knn_select_")
        sims, ld, rows, cols, row0, col0, k, vec, best = args
        half = "_f16_" in self.name
        kpl = int(self.name.rsplit("_k", 1)[1])
        assert sims.dtype == (np.float16 if half else np.float32) and sims.flags.c_contiguous
        assert sims.shape == (int(rows), int(ld)) and 0 < int(cols) <= int(ld)
        assert best.shape == (int(rows), 32 * kpl) and best.dtype == np.int64
        assert best.flags.c_contiguous and 32 * (kpl // 2) < int(k) <= 32 * kpl
        assert grid[0] * block[0] >= 32 * int(rows) and block[0] % 32 == 0
        if vec:
            assert (int(ld) * sims.itemsize) % 16 == 0 and sims.ctypes.data % 16 == 0
        best[:] = _select_reference(sims, int(cols), int(row0), int(col0), int(k), best)


class _FakeEvent:
    def __init__(self) -> None:
        self.recorded = False

    def record(self, stream: object = None) -> None:
        self.recorded = True


class _FakeStream:
    """Streams run in order here; checks that every waited-on event was recorded first."""

    def __enter__(self) -> _FakeStream:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def wait_event(self, event: _FakeEvent) -> None:
        assert event.recorded


def _host_matrix(ptr: int, rows: int, cols: int, ld: int) -> np.ndarray:
    """The column-major rows x cols float64 matrix at host address ptr (leading dimension ld)."""
    size = ld * (cols - 1) + rows
    flat = np.ctypeslib.as_array((ctypes.c_double * size).from_address(ptr))
    return np.lib.stride_tricks.as_strided(flat, shape=(rows, cols), strides=(8, 8 * ld))


class _FakeCublas:
    """cuBLAS's column-major strided-batched DGEMM on host memory (addresses from .ctypes)."""

    CUBLAS_POINTER_MODE_HOST = 0
    calls: ClassVar[list[tuple[int, ...]]] = []
    mode = 0

    @classmethod
    def getPointerMode(cls, handle: int) -> int:  # cuBLAS names
        return cls.mode

    @classmethod
    def setPointerMode(cls, handle: int, mode: int) -> None:
        cls.mode = mode

    @classmethod
    def dgemmStridedBatched(cls, handle: int, ta: int, tb: int, m: int, n: int, k: int,
                            alpha: int, a: int, lda: int, sa: int, b: int, ldb: int, sb: int,
                            beta: int, c: int, ldc: int, sc: int, count: int) -> None:  # fmt: skip
        assert cls.mode == cls.CUBLAS_POINTER_MODE_HOST
        cls.calls.append((ta, tb, m, n, k, lda, sa, ldb, sb, ldc, sc, count))
        al = ctypes.c_double.from_address(alpha).value
        be = ctypes.c_double.from_address(beta).value
        for i in range(count):
            opa = _host_matrix(a + 8 * i * sa, *((m, k) if ta == 0 else (k, m)), lda)
            opb = _host_matrix(b + 8 * i * sb, *((k, n) if tb == 0 else (n, k)), ldb)
            opa, opb = (opa if ta == 0 else opa.T), (opb if tb == 0 else opb.T)
            out = _host_matrix(c + 8 * i * sc, m, n, ldc)
            out[...] = al * (opa @ opb) + (be * out if be != 0 else 0)  # beta 0: C unread


class _FakeCupy:
    RawKernel = _FakeKernel
    cuda = types.SimpleNamespace(
        Stream=lambda non_blocking=False: _FakeStream(),
        Event=_FakeEvent,
        get_current_stream=lambda: _FakeStream(),
        get_cublas_handle=lambda: 0,
        cublas=_FakeCublas,
    )

    def __getattr__(self, name: str) -> object:
        return getattr(np, name)

    @staticmethod
    def asnumpy(a: np.ndarray) -> np.ndarray:
        return np.asarray(a)


def test_gpu_code_path_on_numpy_stand_in(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _FakeCupy()
    monkeypatch.setattr(sim, "_gpu_probe", (fake, ""))
    monkeypatch.setattr(sim, "_kernels", {})
    monkeypatch.setattr(_FakeKernel, "launches", [])
    _poison(monkeypatch)
    assert sim.get_backend("auto").name == "gpu"
    rng = np.random.default_rng(10)
    for p in (16, 7):
        sigs = _sigs(rng, 40, p)
        pairs = rng.integers(0, 40, size=(300, 2)).astype(np.uint32)
        pairs[0] = (3, 4)
        np.testing.assert_array_equal(
            sim.signature_agreement_pairs(sigs, pairs, device="gpu"),
            _core.signature_agreement(sigs, pairs),
        )
    x = _unit(rng, 120, 16)
    want_idx, want_sims = _brute_knn(x, 9)
    for tile in (25, 32, 200):  # 100, 128, 800 columns a product: scalar and vector loads
        for streams in (1, 2):
            monkeypatch.setattr(sim, "_KNN_STREAMS", streams)
            idx32, sims32 = sim.knn_cosine(x, 9, tile=tile, device="gpu", precision="fp32")
            np.testing.assert_array_equal(idx32, want_idx)
            np.testing.assert_allclose(sims32, want_sims, atol=1e-6)
    monkeypatch.setattr(sim, "_KNN_STREAMS", 1)
    idx16, sims16 = sim.knn_cosine(x, 9, tile=25, device="gpu")  # fp16 inputs
    assert (idx16 >= 0).all() and sims16.dtype == np.float32
    np.testing.assert_allclose(sims16, want_sims, atol=3e-3)
    for k in (33, 64, 65, 119):  # 2 and 4 keys a lane; n - 1 = 119 < 128
        idx, _ = sim.knn_cosine(x, k, tile=32, device="gpu", precision="fp32")
        np.testing.assert_array_equal(idx, _brute_knn(x, k)[0])
    assert {
        "knn_select_f32_k1",
        "knn_select_f16_k1",
        "knn_select_f32_k2",
        "knn_select_f32_k4",
    } <= set(_FakeKernel.launches)
    big = _unit(rng, 140, 8)
    idx, _ = sim.knn_cosine(big, 130, tile=64, device="gpu", precision="fp32")  # k > 128
    np.testing.assert_array_equal(idx, _brute_knn(big, 130)[0])
    cpu = sim.cluster_coherence(x, [np.arange(10)], background=50, device="cpu")
    gpu = sim.cluster_coherence(x, [np.arange(10)], background=50, device="gpu")
    for c in cpu.columns:
        np.testing.assert_allclose(gpu[c].to_numpy(), cpu[c].to_numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("streams", [1, 2])
@pytest.mark.parametrize("cublas", [True, False])
def test_gpu_coherence_path_on_numpy_stand_in(
    streams: int, cublas: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The GPU coherence (fused cast-and-sums kernel, batched DGEMM read column-major, slots,
    tails, two streams, the fallback without the cuBLAS binding) against the float64 brute
    force, on the NumPy stand-in."""
    fake = _FakeCupy()
    monkeypatch.setattr(sim, "_gpu_probe", (fake, ""))
    monkeypatch.setattr(sim, "_kernels", {})
    monkeypatch.setattr(sim, "_gram_fallback", None)
    monkeypatch.setattr(_FakeCublas, "calls", [])
    monkeypatch.setattr(sim, "_COHERENCE_STREAMS", streams)
    if not cublas:
        monkeypatch.setattr(fake, "cuda", types.SimpleNamespace(**{
            k: v for k, v in vars(_FakeCupy.cuda).items() if k != "cublas"}))  # fmt: skip
    rng = np.random.default_rng(12)
    x = _unit(rng, 1000, 24)
    x[:300] += 0.5  # a cluster
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    for batch, chunk_rows in ((8, 64), (16, 1000), (2048, 10)):
        monkeypatch.setattr(sim, "_COHERENCE_BATCH", batch)
        monkeypatch.setattr(sim, "_COHERENCE_CHUNK_GPU", chunk_rows * 24)
        for n in (25, 100, 999, 1000):  # a tail of rows past the last block, or none
            m, mean, std = sim._pair_stats(fake, x[:n], 16)
            want_mean, want_std = _brute_pair_stats(x[:n])
            assert m == n * (n - 1) // 2
            assert mean == pytest.approx(want_mean, abs=1e-12)
            assert std == pytest.approx(want_std, abs=1e-12)
    if cublas:
        assert sim._gram_fallback is None
        # m = n = d, k = batch; A = block (lda = d), op(B) = Bᵀ; one slot per block
        assert (0, 1, 24, 24, 8, 24, 8 * 24, 24, 8 * 24, 24, 24 * 24, 8) in _FakeCublas.calls
    else:
        assert sim._gram_fallback is not None


def test_agreement_launch_shapes() -> None:
    # 4 loads of each row a lane: 32 uint4 a row -> 8 lanes a pair, 32 pairs a block
    assert sim._agreement_launch(128, True) == (3, 32)
    assert sim._agreement_launch(64, True) == (2, 64)
    assert sim._agreement_launch(256, True) == (4, 16)
    assert sim._agreement_launch(7, False) == (1, 128)
    assert sim._agreement_launch(4, False) == (0, 256)
    assert sim._agreement_launch(1, False) == (0, 256)
    assert sim._agreement_launch(0, False) == (0, 256)
    assert sim._agreement_launch(4096, False) == (5, 8)
    assert sim._agreement_launch(128, True, 32) == (5, 8)
    with pytest.raises(ConfigError):
        sim._agreement_launch(128, True, 3)
