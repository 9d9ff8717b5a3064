"""poisonscreen.similarity: NumPy paths against brute force, backend choice, GPU parity."""

from __future__ import annotations

import logging

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


# ---- GPU parity (skipped without CuPy and a GPU) ----------------------------------------------


@pytest.mark.gpu
@needs_gpu
def test_gpu_agreement_kernel_parity() -> None:
    import cupy

    rng = np.random.default_rng(6)
    sigs = _sigs(rng, 300, 64)
    pairs = rng.integers(0, 300, size=(100_003, 2)).astype(np.uint32)
    pairs[0] = (3, 4)
    out = cupy.full(len(pairs), -7, dtype=cupy.int32)  # poisoned: every element must be written
    sim._agreement_gpu(cupy, cupy.asarray(sigs), cupy.asarray(pairs), out)
    counts = cupy.asnumpy(out)
    assert not np.any(counts == -7)
    np.testing.assert_array_equal(counts, sim._agreement_xp(np, sigs, pairs))
    got = sim.signature_agreement_pairs(sigs, pairs, device="gpu")
    np.testing.assert_array_equal(got, sim.signature_agreement_pairs(sigs, pairs, device="cpu"))


@pytest.mark.gpu
@needs_gpu
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_gpu_knn_parity(precision: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _poison(monkeypatch)
    rng = np.random.default_rng(7)
    x = _unit(rng, 2000, 64)
    cpu_idx, cpu_sims = sim.knn_cosine(x, 16, tile=300, device="cpu")
    gpu_idx, gpu_sims = sim.knn_cosine(x, 16, tile=300, device="gpu", precision=precision)  # type: ignore[arg-type]
    assert np.isfinite(gpu_sims).all() and (gpu_idx >= 0).all()
    tol = 1e-5 if precision == "fp32" else 3e-3
    np.testing.assert_allclose(gpu_sims, cpu_sims, atol=tol)
    # the neighbours found on the GPU are as similar (by the exact fp32 product) as the CPU's
    exact = np.take_along_axis(x @ x.T, gpu_idx.astype(np.int64), axis=1)
    np.testing.assert_allclose(exact, cpu_sims, atol=2 * tol)
    if precision == "fp32":
        assert (gpu_idx == cpu_idx).mean() > 0.99


@pytest.mark.gpu
@needs_gpu
def test_gpu_coherence_parity() -> None:
    rng = np.random.default_rng(8)
    x = _unit(rng, 1500, 32)
    sets = [rng.choice(1500, m, replace=False) for m in (2, 30, 400)]
    cpu = sim.cluster_coherence(x, sets, background=300, tile=128, device="cpu")
    gpu = sim.cluster_coherence(x, sets, background=300, tile=128, device="gpu")
    for c in ("mean", "std", "background_mean", "background_std", "z"):
        np.testing.assert_allclose(gpu[c].to_numpy(), cpu[c].to_numpy(), rtol=1e-4, atol=1e-5)


# ---- the GPU code path on a NumPy stand-in for CuPy (plumbing only: no CUDA) ------------------


class _FakeKernel:
    """Runs what sig_agreement computes, with the kernel's argument list."""

    def __init__(self, src: str, name: str) -> None:
        assert name in src and 'extern "C"' in src

    def __call__(self, grid: tuple[int], block: tuple[int], args: tuple) -> None:
        sigs, pairs, m, p, out = args
        assert grid[0] * block[0] >= int(m) and sigs.shape[1] == int(p)
        assert pairs.dtype == np.uint32 and pairs.flags.c_contiguous and out.dtype == np.int32
        out[:] = sim._agreement_xp(np, sigs, pairs.reshape(-1, 2))


class _FakeCupy:
    RawKernel = _FakeKernel

    def __getattr__(self, name: str) -> object:
        return getattr(np, name)

    @staticmethod
    def asnumpy(a: np.ndarray) -> np.ndarray:
        return np.asarray(a)


def test_gpu_code_path_on_numpy_stand_in(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _FakeCupy()
    monkeypatch.setattr(sim, "_gpu_probe", (fake, ""))
    monkeypatch.setattr(sim, "_kernels", {})
    _poison(monkeypatch)
    assert sim.get_backend("auto").name == "gpu"
    rng = np.random.default_rng(10)
    sigs = _sigs(rng, 40, 16)
    pairs = rng.integers(0, 40, size=(300, 2)).astype(np.uint32)
    pairs[0] = (3, 4)
    np.testing.assert_array_equal(
        sim.signature_agreement_pairs(sigs, pairs, device="gpu"),
        _core.signature_agreement(sigs, pairs),
    )
    x = _unit(rng, 120, 16)
    idx32, sims32 = sim.knn_cosine(x, 9, tile=25, device="gpu", precision="fp32")
    want_idx, want_sims = _brute_knn(x, 9)
    np.testing.assert_array_equal(idx32, want_idx)
    np.testing.assert_allclose(sims32, want_sims, atol=1e-6)
    idx16, sims16 = sim.knn_cosine(x, 9, tile=25, device="gpu")  # fp16 inputs
    assert (idx16 >= 0).all() and sims16.dtype == np.float32
    np.testing.assert_allclose(sims16, want_sims, atol=3e-3)
    cpu = sim.cluster_coherence(x, [np.arange(10)], background=50, device="cpu")
    gpu = sim.cluster_coherence(x, [np.arange(10)], background=50, device="gpu")
    assert cpu.equals(gpu)
