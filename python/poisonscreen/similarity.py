"""Pairwise similarity, nearest neighbours and cluster coherence, on CPU (NumPy) or GPU (CuPy).

The same Python runs against ``numpy`` or ``cupy`` (``xp``); only the MinHash agreement has a
custom CUDA kernel (:data:`_AGREEMENT_SRC`), whose NumPy reference is :func:`_agreement_xp`.
Every function takes ``device="auto" | "cpu" | "gpu"``:

- ``"cpu"``: NumPy (and the Rust core for signature agreement);
- ``"gpu"``: CuPy on the current CUDA device; :class:`~poisonscreen.exceptions.ConfigError` when
  CuPy or a GPU is missing;
- ``"auto"``: the GPU when CuPy finds one, else the CPU (logged once at INFO on the
  ``poisonscreen.similarity`` logger, not as a warning).

Results are always NumPy arrays (or a polars DataFrame). CuPy is optional
(``pip install poisonscreen[gpu]``) and never imported unless a GPU path is asked for.

Precision: the CPU multiplies float32 sketches in float32. The GPU (``precision="fp16"``, its
default) casts sketches to float16 and multiplies with ``cupy.matmul``, whose cuBLAS half GEMM
accumulates in float32 (CuPy's default compute type; not yet checked on a GPU); the tile result is float16 (about 3
significant digits) and is widened to float32 before ranking, so GPU similarities differ from the
CPU's by up to ~1e-3 and near-ties may rank differently. ``precision="fp32"`` on the GPU
multiplies in float32 (TF32 only if the user enabled it in CuPy). bf16 is not offered: neither
NumPy nor CuPy has a bfloat16 dtype.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import polars as pl

from . import _poisonscreen as _core
from ._arrow import text_chunks, to_arrow_text
from .exceptions import ConfigError

__all__ = [
    "Backend",
    "cluster_coherence",
    "get_backend",
    "knn_cosine",
    "signature_agreement_pairs",
    "signature_agreement_within",
    "sketches",
]

log = logging.getLogger(__name__)

Device = Literal["auto", "cpu", "gpu"]

_EMPTY = np.uint32(0xFFFFFFFF)
_PAIR_BLOCK = 1 << 16
_gpu_probe: tuple[Any, str] | None = None
_fallback_logged = False


@dataclass(frozen=True)
class Backend:
    """An array module (``numpy`` or ``cupy``) and its name (``"cpu"`` or ``"gpu"``)."""

    name: str
    xp: Any

    @property
    def is_gpu(self) -> bool:
        return self.name == "gpu"

    def to_numpy(self, a: Any) -> np.ndarray:
        return self.xp.asnumpy(a) if self.is_gpu else np.asarray(a)


def _probe_gpu() -> tuple[Any, str]:
    """(cupy or None, reason it is unusable); probed once per process."""
    global _gpu_probe
    if _gpu_probe is None:
        try:
            import cupy  # type: ignore[import-not-found,unused-ignore]
        except Exception as e:  # ImportError, or a CUDA library that fails to load
            _gpu_probe = (None, f"CuPy is not importable ({type(e).__name__}: {e})")
        else:
            try:
                count = int(cupy.cuda.runtime.getDeviceCount())
            except Exception as e:
                count, why = 0, f"CUDA is unusable ({type(e).__name__}: {e})"
            else:
                why = "no CUDA device found"
            _gpu_probe = (cupy, "") if count > 0 else (None, why)
    return _gpu_probe


def get_backend(device: str = "auto") -> Backend:
    """The backend for ``device`` ("auto", "cpu" or "gpu"); see the module docstring."""
    global _fallback_logged
    if device == "cpu":
        return Backend("cpu", np)
    if device not in ("auto", "gpu"):
        raise ConfigError(f"device must be 'auto', 'cpu' or 'gpu', got {device!r}")
    cupy, why = _probe_gpu()
    if cupy is not None:
        return Backend("gpu", cupy)
    if device == "gpu":
        raise ConfigError(
            f'device="gpu" needs CuPy and a CUDA GPU: {why}; install poisonscreen[gpu]'
        )
    if not _fallback_logged:
        _fallback_logged = True
        log.info("similarity: no GPU (%s); using the CPU", why)
    return Backend("cpu", np)


# ---- MinHash signature agreement --------------------------------------------------------------

# One thread per pair: count equal permutations, flag rows whose signature is all 0xFFFFFFFF (the
# empty set). out[t] = count, or -1 when both rows are empty (agreement 0, as the Rust core).
_AGREEMENT_SRC = r"""
extern "C" __global__
void sig_agreement(const unsigned int* __restrict__ sigs,
                   const unsigned int* __restrict__ pairs,
                   const long long m, const int p,
                   int* __restrict__ out) {
    const long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= m) return;
    const unsigned int* a = sigs + (long long)pairs[2 * t] * p;
    const unsigned int* b = sigs + (long long)pairs[2 * t + 1] * p;
    int same = 0;
    bool empty = true;
    for (int i = 0; i < p; ++i) {
        const unsigned int x = a[i], y = b[i];
        same += (x == y);
        empty = empty && (x == 0xFFFFFFFFu) && (y == 0xFFFFFFFFu);
    }
    out[t] = empty ? -1 : same;
}
"""
_kernels: dict[str, Any] = {}


def _empty(xp: Any, shape: Any, dtype: Any) -> Any:
    """Output buffers; tests replace this to fill them with a sentinel first."""
    return xp.empty(shape, dtype=dtype)


def _agreement_kernel(cupy: Any) -> Any:
    if "agreement" not in _kernels:
        _kernels["agreement"] = cupy.RawKernel(_AGREEMENT_SRC, "sig_agreement")
    return _kernels["agreement"]


def _agreement_xp(xp: Any, sigs: Any, pairs: Any) -> Any:
    """Reference (array-API) agreement counts, -1 where both rows are empty, as the kernel."""
    out = xp.empty(pairs.shape[0], dtype=xp.int32)
    for s in range(0, pairs.shape[0], _PAIR_BLOCK):
        a = sigs[pairs[s : s + _PAIR_BLOCK, 0]]
        b = sigs[pairs[s : s + _PAIR_BLOCK, 1]]
        same = xp.sum(a == b, axis=1, dtype=xp.int32)
        empty = xp.all(a == _EMPTY, axis=1) & xp.all(b == _EMPTY, axis=1)
        out[s : s + _PAIR_BLOCK] = xp.where(empty, xp.int32(-1), same)
    return out


def _agreement_gpu(cupy: Any, sigs: Any, pairs: Any, out: Any | None = None) -> Any:
    """Kernel counts into ``out`` (int32, len(pairs)); ``out`` may be pre-poisoned by tests."""
    m, p = int(pairs.shape[0]), int(sigs.shape[1])
    if out is None:
        out = _empty(cupy, m, cupy.int32)
    if m:
        threads = 256
        blocks = (m + threads - 1) // threads
        _agreement_kernel(cupy)((blocks,), (threads,), (sigs, pairs, np.int64(m), np.int32(p), out))
    return out


def _check_sigs_pairs(sigs: Any, pairs: Any) -> tuple[np.ndarray, np.ndarray]:
    sigs = np.ascontiguousarray(sigs) if isinstance(sigs, np.ndarray) else sigs
    if getattr(sigs, "ndim", 0) != 2 or sigs.dtype != np.uint32:
        raise ConfigError("sigs must be a 2-d uint32 array (rows, num_perm)")
    pairs = np.asarray(pairs) if not hasattr(pairs, "__cuda_array_interface__") else pairs
    if pairs.ndim != 2 or pairs.shape[1] != 2:
        raise ConfigError("pairs must have shape (m, 2)")
    if pairs.shape[0] and (int(pairs.min()) < 0 or int(pairs.max()) >= sigs.shape[0]):
        raise ConfigError(f"pairs name rows outside 0..{sigs.shape[0]}")
    return sigs, pairs


def signature_agreement_pairs(
    sigs: Any, pairs: Any, *, device: Device = "auto"
) -> npt.NDArray[np.float64]:
    """MinHash agreement (estimated Jaccard) of each pair of rows: float64 (m,).

    Two empty-set signatures (all 0xFFFFFFFF) agree 0, as ``_poisonscreen.signature_agreement``.
    The CPU path is the Rust core (multi-threaded); the GPU path a CUDA kernel.
    """
    sigs, pairs = _check_sigs_pairs(sigs, pairs)
    be = get_backend(device)
    p = sigs.shape[1]
    if not be.is_gpu:
        flat = np.ascontiguousarray(np.asarray(pairs), dtype=np.uint32)
        return _core.signature_agreement(np.ascontiguousarray(sigs), flat)
    xp = be.xp
    counts = _agreement_gpu(
        xp,
        xp.ascontiguousarray(xp.asarray(sigs)),
        xp.ascontiguousarray(xp.asarray(pairs), dtype=xp.uint32),
    )
    res = xp.where(counts < 0, 0.0, counts / max(p, 1)) if p else xp.zeros(counts.shape)
    return be.to_numpy(res.astype(xp.float64))


def signature_agreement_within(
    sigs: Any,
    rows: Any,
    *,
    form: Literal["condensed", "matrix"] = "condensed",
    device: Device = "auto",
) -> npt.NDArray[np.float64]:
    """Agreement of every pair inside the row set ``rows``.

    ``form="condensed"``: the upper triangle in ``scipy.spatial.distance.squareform`` order
    ((0,1), (0,2), ..., (1,2), ...), length s(s-1)/2; ``"matrix"``: symmetric (s, s) with 1 on the
    diagonal.
    """
    rows = np.asarray(rows, dtype=np.int64).ravel()
    s = len(rows)
    i, j = np.triu_indices(s, k=1)
    pairs = (
        np.stack([rows[i], rows[j]], axis=1).astype(np.uint32)
        if s > 1
        else np.empty((0, 2), np.uint32)
    )
    cond = signature_agreement_pairs(sigs, pairs, device=device)
    if form == "condensed":
        return cond
    if form != "matrix":
        raise ConfigError(f"form must be 'condensed' or 'matrix', got {form!r}")
    mat = np.eye(s, dtype=np.float64)
    mat[i, j] = cond
    mat[j, i] = cond
    return mat


# ---- cosine kNN over dense sketches -----------------------------------------------------------


def _sketch_matrix(be: Backend, sketches: Any, precision: str) -> Any:
    xp = be.xp
    x = xp.asarray(sketches)
    if x.ndim != 2:
        raise ConfigError("sketches must be a 2-d array (rows, dim)")
    if precision not in ("fp16", "fp32"):
        raise ConfigError(f"precision must be 'fp16' or 'fp32', got {precision!r}")
    if precision == "fp16" and be.is_gpu:
        return xp.ascontiguousarray(x, dtype=xp.float16)
    return xp.ascontiguousarray(x, dtype=xp.float32)


def _keys(xp: Any, sims: Any, cols: Any) -> Any:
    """int64 keys ordering by (similarity, then smaller column index) with no ties.

    ``cols`` (the column index of each similarity) broadcasts against ``sims``.

    The float32 bits are flipped into an order-preserving int32 (``+ 0`` turns -0.0 into +0.0),
    shifted up, and the low 32 bits hold ``0xFFFFFFFF - col``.
    """
    bits = (sims.astype(xp.float32) + xp.float32(0)).view(xp.int32)
    ordered = xp.where(bits >= 0, bits, bits ^ xp.int32(0x7FFFFFFF)).astype(xp.int64)
    return (ordered << 32) | (xp.int64(0xFFFFFFFF) - cols.astype(xp.int64))


def _decode(xp: Any, keys: Any) -> tuple[Any, Any]:
    cols = (xp.int64(0xFFFFFFFF) - (keys & xp.int64(0xFFFFFFFF))).astype(xp.int32)
    ordered = (keys >> 32).astype(xp.int32)
    bits = xp.where(ordered >= 0, ordered, ordered ^ xp.int32(0x7FFFFFFF))
    return cols, bits.view(xp.float32)


def _tile_top(xp: Any, sims: Any, cols: Any, k: int) -> Any:
    """Keys of the k best columns of each row of a similarity tile (unordered).

    A float argpartition picks k columns; where the k-th value is tied with columns left out, the
    choice among the ties is arbitrary, so those rows (rare: exact duplicates, zero rows) are
    redone on the tie-free int64 keys of the whole row.
    """
    n = sims.shape[1]
    if n <= k:
        return _keys(xp, sims, cols[None, :])
    part = xp.argpartition(sims, n - k, axis=1)[:, n - k :]
    top = xp.take_along_axis(sims, part, axis=1)
    kth = top.min(axis=1)
    out = _keys(xp, top, cols[part])
    ambiguous = xp.nonzero(xp.sum(sims >= kth[:, None], axis=1) > k)[0]
    if ambiguous.size:
        out[ambiguous] = _top_keys(xp, _keys(xp, sims[ambiguous], cols[None, :]), k)
    return out


def _merge_above(xp: Any, best: Any, sims: Any, cols: Any) -> Any:
    """Merge a tile into full running top-k keys ``best`` (rows, k), looking only at entries not
    below each row's current k-th similarity (ties included: they may win on the index)."""
    rows_n, k = best.shape
    _, worst = _decode(xp, best.min(axis=1))
    r, c = xp.nonzero(sims >= worst[:, None])
    if r.size == 0:
        return best
    all_rows = xp.concatenate([xp.repeat(xp.arange(rows_n), k), r])
    all_keys = xp.concatenate([best.ravel(), _keys(xp, sims[r, c], cols[c])])
    order = xp.lexsort(xp.stack([all_keys, all_rows]))  # by row, then key ascending
    ends = xp.cumsum(xp.bincount(all_rows, minlength=rows_n))
    take = ends[:, None] - k + xp.arange(k)[None, :]
    return all_keys[order][take]


def _top_keys(xp: Any, keys: Any, k: int) -> Any:
    """The k largest keys of each row (unordered)."""
    n = keys.shape[1]
    if n <= k:
        return keys
    part = xp.argpartition(keys, n - k, axis=1)[:, n - k :]
    return xp.take_along_axis(keys, part, axis=1)


def knn_cosine(
    sketches: Any,
    k: int = 32,
    *,
    tile: int = 4096,
    device: Device = "auto",
    precision: Literal["fp16", "fp32"] = "fp16",
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.float32]]:
    """The ``k`` most cosine-similar other rows of every row: (indices int32 (n, k'), sims float32).

    Sketches are taken as unit-norm (as :func:`sketches` makes them), so cosine is the dot product.
    Computed tile by tile (``tile`` x ``tile`` products) with a running top-k per row, so memory is
    O(n k + tile²), never n². A row is never its own neighbour; ``k' = min(k, n - 1)``. Rows are
    sorted by similarity, descending; ties go to the smaller index, so the result equals a brute-force
    stable sort. ``precision`` only matters on the GPU (see the module docstring).
    """
    if k < 1:
        raise ConfigError(f"k must be at least 1, got {k}")
    if tile < 1:
        raise ConfigError(f"tile must be at least 1, got {tile}")
    be = get_backend(device)
    xp = be.xp
    x = _sketch_matrix(be, sketches, precision)
    n = int(x.shape[0])
    kk = min(k, max(n - 1, 0))
    if kk == 0:
        return np.empty((n, 0), np.int32), np.empty((n, 0), np.float32)
    out_keys = _empty(xp, (n, kk), xp.int64)
    for i0 in range(0, n, tile):
        q = x[i0 : i0 + tile]
        rows = xp.arange(i0, i0 + q.shape[0])
        best = None
        for j0 in range(0, n, tile):
            c = x[j0 : j0 + tile]
            sims = xp.matmul(q, c.T).astype(xp.float32)
            cols = xp.arange(j0, j0 + c.shape[0])
            if j0 < i0 + q.shape[0] and i0 < j0 + c.shape[0]:  # the tiles overlap: drop self
                sims[rows[:, None] == cols[None, :]] = -xp.inf
            if best is not None and best.shape[1] == kk:
                best = _merge_above(xp, best, sims, cols)
            else:
                cand = _tile_top(xp, sims, cols, kk)
                best = (
                    cand
                    if best is None
                    else _top_keys(xp, xp.concatenate([best, cand], axis=1), kk)
                )
        assert best is not None
        out_keys[i0 : i0 + q.shape[0]] = xp.sort(best, axis=1)[:, ::-1]
    idx, sim = _decode(xp, out_keys)
    return be.to_numpy(idx), be.to_numpy(sim)


# ---- cluster coherence ------------------------------------------------------------------------


def _pair_stats(xp: Any, x: Any, tile: int) -> tuple[int, float, float]:
    """(number of pairs i < j, mean, std) of the dot products among the rows of ``x``, by tiles."""
    n = int(x.shape[0])
    total = 0.0
    total_sq = 0.0
    for i0 in range(0, n, tile):
        q = x[i0 : i0 + tile]
        for j0 in range(i0, n, tile):
            s = xp.matmul(q, x[j0 : j0 + tile].T).astype(xp.float64)
            if j0 == i0:
                s = xp.triu(s, k=1)
            total += float(s.sum())
            total_sq += float((s * s).sum())
    m = n * (n - 1) // 2
    if m == 0:
        return 0, float("nan"), float("nan")
    mean = total / m
    var = max(total_sq / m - mean * mean, 0.0)
    return m, mean, var**0.5


def cluster_coherence(
    sketches: Any,
    sets: list[Any],
    *,
    background: int = 2000,
    seed: int = 0,
    tile: int = 4096,
    device: Device = "auto",
    background_rows: Any | None = None,
) -> pl.DataFrame:
    """How much more alike the rows of each set are than random rows.

    For each set (row indices: a cluster or the carriers of a trigger): the mean and standard
    deviation of the cosine similarity over all pairs inside it, against the same over all pairs of
    a background sample of ``background`` rows drawn without replacement (``seed``). ``z`` is
    ``(mean - background_mean) / background_std``: how many background standard deviations the
    set's average similarity lies above typical. Sets of fewer than two rows get NaN statistics.

    ``background_rows`` (row indices) replaces the random sample when given: for a sketch matrix
    that holds the sets' rows beside a sample of the corpus, the corpus sample is the background.

    Columns: set, size, mean, std, background_mean, background_std, z.
    """
    be = get_backend(device)
    xp = be.xp
    x = _sketch_matrix(be, sketches, "fp32")
    n = int(x.shape[0])
    if background < 2:
        raise ConfigError(f"background must be at least 2, got {background}")
    rng = np.random.default_rng(seed)
    if background_rows is not None:
        sample = np.unique(np.asarray(background_rows, dtype=np.int64).ravel())
        if len(sample) and (sample[0] < 0 or sample[-1] >= n):
            raise ConfigError(f"background_rows names rows outside 0..{n}")
    elif n:
        sample = np.sort(rng.choice(n, size=min(background, n), replace=False))
    else:
        sample = np.empty(0, np.int64)
    _, bg_mean, bg_std = _pair_stats(xp, x[xp.asarray(sample)], tile)
    out: dict[str, list[Any]] = {k: [] for k in ("set", "size", "mean", "std")}
    for s_id, rows in enumerate(sets):
        r = np.unique(np.asarray(rows, dtype=np.int64).ravel())
        if len(r) and (r[0] < 0 or r[-1] >= n):
            raise ConfigError(f"set {s_id} names rows outside 0..{n}")
        _, mean, std = _pair_stats(xp, x[xp.asarray(r)], tile)
        out["set"].append(s_id)
        out["size"].append(len(r))
        out["mean"].append(mean)
        out["std"].append(std)
    mean_arr = np.asarray(out["mean"], dtype=np.float64)
    z = (mean_arr - bg_mean) / bg_std if bg_std > 0 else np.full(len(mean_arr), np.nan)
    return pl.DataFrame(
        {
            "set": pl.Series(out["set"], dtype=pl.UInt32),
            "size": pl.Series(out["size"], dtype=pl.UInt32),
            "mean": pl.Series(mean_arr, dtype=pl.Float64),
            "std": pl.Series(out["std"], dtype=pl.Float64),
            "background_mean": pl.Series([bg_mean] * len(mean_arr), dtype=pl.Float64),
            "background_std": pl.Series([bg_std] * len(mean_arr), dtype=pl.Float64),
            "z": pl.Series(z, dtype=pl.Float64),
        }
    )


# ---- dense sketches from text -----------------------------------------------------------------


def sketches(
    texts: Any,
    *,
    column: str | None = None,
    orders: tuple[int, ...] | list[int] = (1, 2, 3),
    dim: int = 256,
    seed: int = 0,
    mode: str = "word",
    threads: int | None = None,
) -> npt.NDArray[np.float32]:
    """Dense sketches of texts: (rows, dim) float32, unit-norm rows (zero for null/empty rows).

    Distinct word (or char) n-grams of the given ``orders``, weighted by smoothed IDF computed on
    these texts (``ln((1 + n_docs) / (1 + df)) + 1``), projected by a sparse random projection
    seeded by ``seed`` (3 signed coordinates per n-gram), in the Rust core. ``texts``: anything
    :func:`poisonscreen.features.minhash` accepts; a DataFrame needs ``column``.
    """
    if texts is not None and isinstance(texts, (pl.DataFrame, pl.LazyFrame)):
        if column is None:
            raise ConfigError("column= is required when passing a DataFrame or LazyFrame")
        texts = texts.lazy().select(pl.col(column)).collect().to_series()
    arr = to_arrow_text(texts)
    chunks, n = text_chunks(arr)
    orders = list(orders)
    hashes, df = _core.subset_ngram_counts(
        chunks, np.arange(n, dtype=np.uint32), orders, mode=mode, threads=threads
    )
    n_docs = n - arr.null_count
    return _core.dense_sketches(
        chunks,
        hashes,
        df.astype(np.uint64),
        n_docs,
        orders,
        dim=dim,
        seed=seed,
        mode=mode,
        threads=threads,
    )
