"""Pairwise similarity, nearest neighbours and cluster coherence, on CPU (NumPy) or GPU (CuPy).

The same Python runs against ``numpy`` or ``cupy`` (``xp``), with two custom CUDA kernels on the
GPU: the MinHash agreement (:data:`_AGREEMENT_SRC`; NumPy reference :func:`_agreement_xp`) and the
kNN's running top-k (:data:`_SELECT_SRC`; the CPU computes the same keys tile by tile in
:func:`_knn_tiles`). Every function takes ``device="auto" | "cpu" | "gpu"``:

- ``"cpu"``: NumPy (and the Rust core for signature agreement);
- ``"gpu"``: CuPy on the current CUDA device; :class:`~poisonscreen.exceptions.ConfigError` when
  CuPy or a GPU is missing;
- ``"auto"``: the GPU when CuPy finds one, else the CPU (logged once at INFO on the
  ``poisonscreen.similarity`` logger, not as a warning).

Results are always NumPy arrays (or a polars DataFrame). CuPy is optional
(``pip install poisonscreen[gpu]``) and never imported unless a GPU path is asked for.

Precision: the CPU multiplies float32 sketches in float32. The GPU (``precision="fp16"``, its
default) casts sketches to float16 and multiplies with ``cupy.matmul`` (cuBLAS, float32
accumulation: CuPy's default compute type for half); the product is stored as float16 (about 3
significant digits, so up to ~2.5e-4 off near 1) and read by the top-k kernel as such, so GPU
similarities differ from the CPU's by up to ~1e-3 and near-ties may rank differently.
``precision="fp32"`` on the GPU multiplies in float32 (TF32 only if the user enabled it in CuPy,
e.g. ``CUPY_TF32=1``) and ranks exactly as the CPU, up to the products' rounding. bf16 is not
offered: neither NumPy nor CuPy has a bfloat16 dtype. Cluster coherence works in float64 on both.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
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
            with warnings.catch_warnings(record=True) as said:
                warnings.simplefilter("always")
                import cupy  # type: ignore[import-not-found,unused-ignore]
            for w in said:  # e.g. a CUDA path not found: told, but not an error under -W error
                log.info("similarity: importing CuPy warned: %s", w.message)
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

# A group of `lanes` consecutive threads (a power of two, at most a warp) per pair: each lane reads
# a strided share of the two rows (16-byte uint4 loads when `vec`: p % 4 == 0 and a 16-byte
# aligned table, else 4-byte words), so a group's loads of one row are contiguous and coalesced;
# counts and an AND of every word are reduced across the group with shuffles. Every lane of a warp
# reaches the shuffles (no early return). out[t] = count of equal permutations, or -1 when both
# rows are all 0xFFFFFFFF (the empty set; agreement 0, as the Rust core).
_AGREEMENT_SRC = r"""
extern "C" __global__ void __launch_bounds__(256)
sig_agreement_group(const unsigned int* __restrict__ sigs,
                    const unsigned int* __restrict__ pairs,
                    const long long m, const int p, const int lg_lanes, const int vec,
                    int* __restrict__ out) {
    const int lanes = 1 << lg_lanes;
    const long long t = ((long long)blockIdx.x * blockDim.x + threadIdx.x) >> lg_lanes;
    const int sub = threadIdx.x & (lanes - 1);
    unsigned int same = 0u, all = 0xFFFFFFFFu;
    if (t < m) {
        const long long ra = (long long)pairs[2 * t] * p;
        const long long rb = (long long)pairs[2 * t + 1] * p;
        if (vec) {
            const uint4* a = reinterpret_cast<const uint4*>(sigs + ra);
            const uint4* b = reinterpret_cast<const uint4*>(sigs + rb);
            const int n4 = p >> 2;
#pragma unroll 4
            for (int i = sub; i < n4; i += lanes) {
                const uint4 x = a[i];
                const uint4 y = b[i];
                same += (x.x == y.x) + (x.y == y.y) + (x.z == y.z) + (x.w == y.w);
                all &= x.x & x.y & x.z & x.w & y.x & y.y & y.z & y.w;
            }
        } else {
            const unsigned int* a = sigs + ra;
            const unsigned int* b = sigs + rb;
#pragma unroll 4
            for (int i = sub; i < p; i += lanes) {
                const unsigned int x = a[i], y = b[i];
                same += (x == y);
                all &= x & y;
            }
        }
    }
    for (int off = lanes >> 1; off > 0; off >>= 1) {
        same += __shfl_xor_sync(0xFFFFFFFFu, same, off);
        all &= __shfl_xor_sync(0xFFFFFFFFu, all, off);
    }
    if (t < m && sub == 0) out[t] = (all == 0xFFFFFFFFu) ? -1 : (int)same;
}
"""
_AGREEMENT_THREADS = 256
_kernels: dict[str, Any] = {}


def _empty(xp: Any, shape: Any, dtype: Any) -> Any:
    """Output buffers; tests replace this to fill them with a sentinel first."""
    return xp.empty(shape, dtype=dtype)


def _kernel(cupy: Any, src: str, name: str) -> Any:
    """A compiled RawKernel, cached by name (compiled by NVRTC on first launch)."""
    if name not in _kernels:
        _kernels[name] = cupy.RawKernel(src, name)
    return _kernels[name]


def _device_ptr(a: Any) -> int:
    """The address of an array's first element (CuPy or, in tests, NumPy)."""
    data = a.data
    return int(data.ptr) if hasattr(data, "ptr") else int(a.ctypes.data)


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


_AGREEMENT_LOADS = 4  # loads (uint4 or words) of each row a lane makes, by default


def _agreement_launch(p: int, vec: bool, lanes: int | None = None) -> tuple[int, int]:
    """(log2 of the lanes per pair, pairs per block): by default the smallest power of two that
    covers a row's loads (p/4 uint4 or p words) in ``_AGREEMENT_LOADS`` steps, at most a warp.

    On the H200 (2026-11-30, 10M pairs of a 2M x 128 table) 8 lanes a pair (4 uint4 of each row a
    lane) took 2.25 ms, 16 lanes 2.40, 4 lanes 2.55, a warp (the former default: one uint4 a
    lane) 2.89: more independent loads in flight per lane, fewer shuffle steps."""
    if lanes is None:
        units = max((p // 4) if vec else p, 1)
        per_lane = -(-units // _AGREEMENT_LOADS)
        lanes = min(32, 1 << (per_lane - 1).bit_length())
    if lanes < 1 or lanes > 32 or lanes & (lanes - 1):
        raise ConfigError(f"lanes must be a power of two in 1..32, got {lanes}")
    lg = lanes.bit_length() - 1
    return lg, _AGREEMENT_THREADS >> lg


def _agreement_gpu(
    cupy: Any, sigs: Any, pairs: Any, out: Any | None = None, *, lanes: int | None = None
) -> Any:
    """Kernel counts into ``out`` (int32, len(pairs)); ``out`` may be pre-poisoned by tests.

    ``sigs`` (rows, p) uint32 and ``pairs`` (m, 2) uint32, both C-contiguous on the device;
    ``lanes`` (threads per pair) is for benchmarks, the default suits any p.
    """
    m, p = int(pairs.shape[0]), int(sigs.shape[1])
    if out is None:
        out = _empty(cupy, m, cupy.int32)
    if m:
        vec = p % 4 == 0 and _device_ptr(sigs) % 16 == 0
        lg, per_block = _agreement_launch(p, vec, lanes)
        blocks = (m + per_block - 1) // per_block
        _kernel(cupy, _AGREEMENT_SRC, "sig_agreement_group")(
            (blocks,),
            (_AGREEMENT_THREADS,),
            (sigs, pairs, np.int64(m), np.int32(p), np.int32(lg), np.int32(vec), out),
        )
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

# The GPU's running top-k: one warp per query row of a similarity tile (the cuBLAS product of a
# block of query rows with a block of columns). The row's best keys (the int64 ``_keys`` encoding,
# sorted descending, SENT past k) live in registers, KPL per lane (element j = s*32 + lane). The
# warp reads the tile row with 16-byte loads (8 halves or 4 floats per lane, two vectors per
# step); an element can only enter if its similarity is not below the current k-th best's (a float
# compare, NaN passing); those that pass are keyed exactly and inserted one at a time, in lane
# order, into the sorted list (a ballot counts the keys above, a shuffle shifts the rest down), and
# the k-th best is re-read. The row's own column is skipped. Keys are unique (one per column), so
# the result is exactly the top k of the old best and the tile: the same as a stable sort.
# No candidate buffer can overflow, so there is no fallback: the worst case (every element better
# than the last, e.g. similarities rising along the row) costs one insertion per element.
_SELECT_SRC = r"""
#define FULL_MASK 0xFFFFFFFFu
#define SENT (-9223372036854775807LL - 1LL)
#define KPL __KPL__
#define ELEM __ELEM__
#define VEC (16 / (int)sizeof(ELEM))
#define UNROLL 2

__device__ __forceinline__ float to_float(float v) { return v; }
__device__ __forceinline__ float to_float(unsigned short h) {
#ifdef __CUDA_ARCH__
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
    return f;
#else
    return host_half_to_float(h);  // the CPU warp emulator of the tests
#endif
}

// the `_keys` encoding: order-preserving int32 of the float bits (-0.0 as +0.0) in the high half,
// 0xFFFFFFFF - column in the low half
__device__ __forceinline__ long long make_key(float v, long long col) {
    int bits = __float_as_int(v);
    if (bits == (int)0x80000000) bits = 0;
    const int ordered = bits >= 0 ? bits : (bits ^ 0x7FFFFFFF);
    const unsigned long long hi = (unsigned long long)(unsigned int)ordered << 32;
    return (long long)(hi | (0xFFFFFFFFull - (unsigned long long)col));
}

// the similarity of a key (NaN for SENT, so that every element passes `!(v < t)`)
__device__ __forceinline__ float key_sim(long long key) {
    const int ordered = (int)(key >> 32);
    return __int_as_float(ordered >= 0 ? ordered : (ordered ^ 0x7FFFFFFF));
}

__device__ __forceinline__ long long kth_key(const long long (&keys)[KPL], int kq, int kl) {
    long long v = keys[0];
#pragma unroll
    for (int s = 1; s < KPL; ++s)
        if (s == kq) v = keys[s];
    return __shfl_sync(FULL_MASK, v, kl);
}

// insert c (warp-uniform, larger than the k-th key) into the descending list of k keys
__device__ __forceinline__ void insert_key(long long (&keys)[KPL], long long c, int k, int lane) {
    int pos = 0;
#pragma unroll
    for (int s = 0; s < KPL; ++s) pos += __popc(__ballot_sync(FULL_MASK, keys[s] > c));
    long long carry = SENT;  // the old last element of the previous slot row
#pragma unroll
    for (int s = 0; s < KPL; ++s) {
        long long up = __shfl_up_sync(FULL_MASK, keys[s], 1);
        const long long last = __shfl_sync(FULL_MASK, keys[s], 31);
        if (lane == 0) up = carry;
        carry = last;
        const int j = s * 32 + lane;
        long long nv = j < pos ? keys[s] : (j == pos ? c : up);
        keys[s] = j < k ? nv : SENT;
    }
}

extern "C" __global__ void __launch_bounds__(256)
__NAME__(const ELEM* __restrict__ sims, const long long ld, const int rows, const int cols,
         const long long row0, const long long col0, const int k, const int vec,
         long long* __restrict__ best) {
    const int lane = threadIdx.x & 31;
    const int r = (int)(((long long)blockIdx.x * blockDim.x + threadIdx.x) >> 5);
    if (r >= rows) return;  // the whole warp: blockDim is a multiple of 32
    long long* brow = best + (long long)r * (32 * KPL);
    long long keys[KPL];
#pragma unroll
    for (int s = 0; s < KPL; ++s) keys[s] = brow[s * 32 + lane];
    const int kq = (k - 1) >> 5, kl = (k - 1) & 31;
    long long kth = kth_key(keys, kq, kl);
    float thr = key_sim(kth);
    const long long self = row0 + r - col0;  // the row's own column in this tile, if inside
    const ELEM* row = sims + (long long)r * ld;
    for (int base = 0; base < cols; base += 32 * VEC * UNROLL) {
        float v[UNROLL * VEC];
        bool ok[UNROLL * VEC];
#pragma unroll
        for (int u = 0; u < UNROLL; ++u) {
            const int p = base + (u * 32 + lane) * VEC;
            if (vec && p + VEC <= cols) {
                union { uint4 q; ELEM e[VEC]; } w;
                w.q = *reinterpret_cast<const uint4*>(row + p);
#pragma unroll
                for (int e = 0; e < VEC; ++e) {
                    v[u * VEC + e] = to_float(w.e[e]);
                    ok[u * VEC + e] = (long long)(p + e) != self;
                }
            } else {
#pragma unroll
                for (int e = 0; e < VEC; ++e) {
                    const bool in = p + e < cols;
                    v[u * VEC + e] = in ? to_float(row[p + e]) : 0.0f;
                    ok[u * VEC + e] = in && (long long)(p + e) != self;
                }
            }
        }
        bool any = false;
#pragma unroll
        for (int e = 0; e < UNROLL * VEC; ++e) any = any || (ok[e] && !(v[e] < thr));
        if (!__any_sync(FULL_MASK, any)) continue;
#pragma unroll
        for (int e = 0; e < UNROLL * VEC; ++e) {
            const int p = base + ((e / VEC) * 32 + lane) * VEC + (e % VEC);
            bool pass = ok[e] && !(v[e] < thr);
            const long long key = pass ? make_key(v[e], col0 + p) : SENT;
            pass = pass && key > kth;
            unsigned int m = __ballot_sync(FULL_MASK, pass);
            while (m) {
                const int src = __ffs(m) - 1;
                m &= m - 1;
                const long long c = __shfl_sync(FULL_MASK, key, src);
                if (c > kth) {
                    insert_key(keys, c, k, lane);
                    kth = kth_key(keys, kq, kl);
                    thr = key_sim(kth);
                }
            }
        }
    }
#pragma unroll
    for (int s = 0; s < KPL; ++s) brow[s * 32 + lane] = keys[s];
}
"""
_SENT = np.int64(np.iinfo(np.int64).min)
_SELECT_THREADS = 256  # 8 warps: 8 query rows per block
_SELECT_KMAX = 128  # up to 4 keys per lane in registers; larger k takes the tile-by-tile path
_GPU_TILE = 8192  # query rows per block on the GPU
_GPU_COLS = 4  # ... times this many columns per product: 8192 x 32768 (512 MiB fp16)
_KNN_STREAMS = 1  # 2: products and selects on two streams (see _knn_gpu_select)


def _select_name(half: bool, kpl: int) -> str:
    return f"knn_select_{'f16' if half else 'f32'}_k{kpl}"


def _select_src(half: bool, kpl: int) -> str:
    return (
        _SELECT_SRC.replace("__KPL__", str(kpl))
        .replace("__ELEM__", "unsigned short" if half else "float")
        .replace("__NAME__", _select_name(half, kpl))
    )


def _select_kernel(cupy: Any, half: bool, kpl: int) -> Any:
    return _kernel(cupy, _select_src(half, kpl), _select_name(half, kpl))


def _knn_gpu_select(cupy: Any, x: Any, kk: int, tile: int, streams: int | None = None) -> Any:
    """Keys (n, kk) of every row's kk best, sorted descending: cuBLAS products of ``tile`` query
    rows by ``_GPU_COLS * tile`` columns, each followed by the top-k select kernel.

    ``streams=2`` (default ``_KNN_STREAMS``) puts the products on one stream and the selects on
    another, two similarity tiles in flight, so that a select overlaps the next product; events
    order each tile's product before its select and its select before the product that reuses
    its memory. Both are blocking streams: work on the legacy default stream waits for them.
    """
    n = int(x.shape[0])
    half = x.dtype == np.float16
    vec_elems = 8 if half else 4
    kpl = (kk + 31) // 32
    kpl = 1 if kpl == 1 else (2 if kpl == 2 else 4)
    width = 32 * kpl
    kern = _select_kernel(cupy, half, kpl)
    ctile = _GPU_COLS * tile
    out_keys = _empty(cupy, (n, kk), cupy.int64)
    best_buf = cupy.empty((min(tile, n), width), dtype=cupy.int64)
    # every product's rows must start 16-byte aligned for the vector loads: the last, narrower
    # column block is padded with zero rows to a multiple of 8 (16 bytes of fp16), and the padded
    # columns are past `cols`, never read as candidates
    j_last = ((n - 1) // ctile) * ctile
    w_last = n - j_last
    last = x[j_last:]
    if w_last % 8:
        last = cupy.zeros((w_last + (-w_last) % 8, x.shape[1]), dtype=x.dtype)
        last[:w_last] = x[j_last:]
    two = (streams or _KNN_STREAMS) > 1
    gemm_s: Any = None
    sel_s: Any = None
    held: list[Any] = [None, None]  # the tiles a select may still be reading
    freed: list[Any] = [None, None]  # events: the select of that tile is done
    if two:
        start = cupy.cuda.Event()
        start.record()  # x, `last` and the buffers are ready on the current stream
        gemm_s, sel_s = cupy.cuda.Stream(), cupy.cuda.Stream()
        gemm_s.wait_event(start)
        sel_s.wait_event(start)
    t = 0
    for i0 in range(0, n, tile):
        q = x[i0 : i0 + tile]
        r = int(q.shape[0])
        best = best_buf[:r]
        with _on(sel_s):
            best.fill(_SENT)
        for j0 in range(0, n, ctile):
            c = last if j0 == j_last else x[j0 : j0 + ctile]
            b = t & 1
            t += 1
            with _on(gemm_s):
                if two and freed[b] is not None:
                    gemm_s.wait_event(freed[b])
                sims = cupy.matmul(q, c.T)  # fp16 inputs give fp16 out, accumulated in fp32
                if two:
                    ready = cupy.cuda.Event()
                    ready.record(gemm_s)
            ld = int(sims.shape[1])
            vec = ld % vec_elems == 0 and _device_ptr(sims) % 16 == 0
            with _on(sel_s):
                if two:
                    sel_s.wait_event(ready)
                kern(
                    ((r * 32 + _SELECT_THREADS - 1) // _SELECT_THREADS,),
                    (_SELECT_THREADS,),
                    (
                        sims,
                        np.int64(ld),
                        np.int32(r),
                        np.int32(min(ctile, n - j0)),
                        np.int64(i0),
                        np.int64(j0),
                        np.int32(kk),
                        np.int32(vec),
                        best,
                    ),
                )
                if two:
                    freed[b] = cupy.cuda.Event()
                    freed[b].record(sel_s)
                    held[b] = sims
        with _on(sel_s):
            out_keys[i0 : i0 + r] = best[:, :kk]
    if two:
        done = cupy.cuda.Event()
        done.record(sel_s)
        cupy.cuda.get_current_stream().wait_event(done)
    return out_keys


def _on(stream: Any) -> Any:
    """``with`` the stream, or nothing (the current stream) when it is None."""
    return contextlib.nullcontext() if stream is None else stream


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


def _knn_tiles(xp: Any, x: Any, kk: int, tile: int) -> Any:
    """Keys (n, kk) of every row's kk best, sorted descending, tile by tile with array operations:
    the CPU path (and the GPU's for k above ``_SELECT_KMAX``)."""
    n = int(x.shape[0])
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
    return out_keys


def knn_cosine(
    sketches: Any,
    k: int = 32,
    *,
    tile: int | None = None,
    device: Device = "auto",
    precision: Literal["fp16", "fp32"] = "fp16",
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.float32]]:
    """The ``k`` most cosine-similar other rows of every row: (indices int32 (n, k'), sims float32).

    Sketches are taken as unit-norm (as :func:`sketches` makes them), so cosine is the dot product.
    Computed block by block with a running top-k per row, so memory is O(n k + block), never n².
    On the CPU the products are ``tile`` x ``tile`` (default 4096); on the GPU ``tile`` query rows
    (default 8192) by ``4 * tile`` columns, each product followed by a top-k kernel (k up to 128;
    larger k runs the CPU's tile-by-tile method on the GPU). A row is never its own neighbour;
    ``k' = min(k, n - 1)``. Rows are sorted by similarity, descending; ties go to the smaller index,
    so the result equals a brute-force stable sort of the similarities as computed. ``precision``
    only matters on the GPU (see the module docstring).
    """
    if k < 1:
        raise ConfigError(f"k must be at least 1, got {k}")
    if tile is not None and tile < 1:
        raise ConfigError(f"tile must be at least 1, got {tile}")
    be = get_backend(device)
    xp = be.xp
    x = _sketch_matrix(be, sketches, precision)
    n = int(x.shape[0])
    kk = min(k, max(n - 1, 0))
    if kk == 0:
        return np.empty((n, 0), np.int32), np.empty((n, 0), np.float32)
    if be.is_gpu and kk <= _SELECT_KMAX:
        out_keys = _knn_gpu_select(xp, x, kk, tile or _GPU_TILE)
    else:
        out_keys = _knn_tiles(xp, x, kk, tile or 4096)
    idx, sim = _decode(xp, out_keys)
    return be.to_numpy(idx), be.to_numpy(sim)


# ---- cluster coherence ------------------------------------------------------------------------


_COHERENCE_CHUNK_CPU = 1 << 21  # float64 elements per chunk of rows cast at once (16 MiB)
_COHERENCE_CHUNK_GPU = 1 << 25  # (256 MiB: 131,072 rows at d = 256)
_COHERENCE_BATCH = 2048  # rows per product of the GPU's batched Gram (a multiple of 8)
_COHERENCE_STREAMS = 1  # 2: the next chunk's cast on a second stream, beside this chunk's products
_COHERENCE_MAX_D = 1024  # widest rows for the GPU's fused cast-and-sums kernel (registers)
_COHERENCE_GRID = 1024  # blocks of that kernel (each keeps its own partial sums)
_gram_fallback: str | None = None  # why the batched cuBLAS call was not used (set once)

# The GPU's single pass over a chunk of float32 rows: each warp takes whole rows (a lane reads
# columns lane, lane + 32, ...: 128-byte loads), writes the row as float64 (the batched products'
# input) and keeps, in float64, the running column sums of its rows (in registers, D / 32 a lane)
# and of |x_i|² and |x_i|⁴ (the row's squares are summed across the warp with shuffles). At the
# end the block's warps add their column sums in shared memory, one warp after another, and the
# block adds its partial sums to its own slot of col_part / norm_part (so the chunks, launched in
# order on one stream, accumulate there without atomics, and the result does not depend on timing).
_COHERENCE_SRC = r"""
#define D __D__
#define NC ((D + 31) / 32)
#define WARPS 8
extern "C" __global__ void __launch_bounds__(256)
coherence_rows___D__(const float* __restrict__ x, const long long rows,
                     double* __restrict__ x64, double* __restrict__ col_part,
                     double* __restrict__ norm_part) {
    __shared__ double red[D];
    __shared__ double red_n[2 * WARPS];
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    double cs[NC];
#pragma unroll
    for (int c = 0; c < NC; ++c) cs[c] = 0.0;
    double sq = 0.0, quad = 0.0;
    for (long long i = (long long)blockIdx.x * WARPS + warp; i < rows;
         i += (long long)gridDim.x * WARPS) {
        const float* xr = x + i * D;
        double* yr = x64 + i * D;
        double s = 0.0;
#pragma unroll
        for (int c = 0; c < NC; ++c) {
            const int j = c * 32 + lane;
            if (j < D) {
                const double v = (double)xr[j];
                yr[j] = v;
                cs[c] += v;
                s += v * v;
            }
        }
#pragma unroll
        for (int off = 16; off > 0; off >>= 1) s += __shfl_xor_sync(0xFFFFFFFFu, s, off);
        sq += s;
        quad += s * s;
    }
    for (int j = threadIdx.x; j < D; j += blockDim.x) red[j] = 0.0;
    __syncthreads();
    for (int w = 0; w < WARPS; ++w) {
        if (warp == w) {
#pragma unroll
            for (int c = 0; c < NC; ++c) {
                const int j = c * 32 + lane;
                if (j < D) red[j] += cs[c];
            }
        }
        __syncthreads();
    }
    for (int j = threadIdx.x; j < D; j += blockDim.x) {
        col_part[(long long)blockIdx.x * D + j] += red[j];
    }
    if (lane == 0) {
        red_n[warp] = sq;
        red_n[WARPS + warp] = quad;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        double a = 0.0, b = 0.0;
        for (int w = 0; w < WARPS; ++w) {
            a += red_n[w];
            b += red_n[WARPS + w];
        }
        norm_part[2 * blockIdx.x] += a;
        norm_part[2 * blockIdx.x + 1] += b;
    }
}
"""


def _gram_batched(cupy: Any, buf: Any, products: int, batch: int, acc: Any) -> None:
    """acc[b] += X_bᵀ X_b for the ``products`` blocks X_b of ``batch`` rows at the start of
    ``buf`` (float64, C-contiguous (rows, d)): one strided-batched cuBLAS DGEMM. Read as
    column-major, a block is the d x batch matrix X_bᵀ (leading dimension d), so the product is
    op(A) = A, op(B) = Bᵀ with A = B = that block: m = n = d, k = batch."""
    cublas = cupy.cuda.cublas
    d = int(buf.shape[1])
    handle = cupy.cuda.get_cublas_handle()
    one = np.array(1.0, dtype=np.float64)  # host scalars (pointer mode HOST), alive for the call
    mode = cublas.getPointerMode(handle)
    host = getattr(cublas, "CUBLAS_POINTER_MODE_HOST", 0)
    cublas.setPointerMode(handle, host)
    try:
        cublas.dgemmStridedBatched(
            handle, 0, 1, d, d, batch, one.ctypes.data,
            _device_ptr(buf), d, batch * d,
            _device_ptr(buf), d, batch * d,
            one.ctypes.data, _device_ptr(acc), d, d * d, products,
        )  # fmt: skip
    finally:
        cublas.setPointerMode(handle, mode)


def _coherence_geometry(n: int, d: int, batch: int) -> tuple[int, int, int]:
    """(rows a chunk, products a chunk, blocks of the cast-and-sums kernel) for n rows of d."""
    chunk = max(batch, (_COHERENCE_CHUNK_GPU // d) // batch * batch)
    chunk = min(chunk, -(-n // batch) * batch)  # no bigger than the rows need
    return chunk, chunk // batch, max(1, min(_COHERENCE_GRID, -(-chunk // 8)))


def _gram_sums_gpu(
    cupy: Any, x: Any, *, batch: int | None = None, streams: int | None = None
) -> tuple[float, float, float, float]:
    """(|Σ x_i|², Σ |x_i|², Σ |x_i|⁴, ‖XᵀX‖_F²) of float32 rows (n > d, d <= _COHERENCE_MAX_D).

    Chunks of rows (``_COHERENCE_CHUNK_GPU`` float64 elements, a multiple of ``batch`` rows) are
    cast to float64 by one kernel that also sums them (:data:`_COHERENCE_SRC`); the chunk's Gram
    is then a strided-batched DGEMM over its blocks of ``batch`` rows, each block's d x d product
    added to its own slot of ``acc`` (beta = 1), and the slots are summed once at the end. Against
    one product over all the chunk's rows (k = 65,536 and a d x d output: a handful of output
    tiles for the whole GPU), that is chunk / batch independent products to spread over the SMs.
    Products are exact in float64 and sums are float64, as on the CPU. ``streams`` = 2 alternates
    the chunks between two streams, each with its own buffers, so one chunk's cast can run beside
    the other's products. The last chunk's rows past a whole block go through one plain product.
    """
    global _gram_fallback
    n, d = int(x.shape[0]), int(x.shape[1])
    kb = int(batch or _COHERENCE_BATCH)
    ns = max(1, min(int(streams or _COHERENCE_STREAMS), 2))
    chunk, products, grid = _coherence_geometry(n, d, kb)
    kern = _kernel(cupy, _COHERENCE_SRC.replace("__D__", str(d)), f"coherence_rows_{d}")
    lanes = []
    for _ in range(min(ns, -(-n // chunk))):
        lanes.append(
            {
                "buf": cupy.empty((chunk, d), dtype=cupy.float64),
                "acc": cupy.zeros((products, d, d), dtype=cupy.float64),
                "col": cupy.zeros((grid, d), dtype=cupy.float64),
                "norm": cupy.zeros((grid, 2), dtype=cupy.float64),
                "stream": cupy.cuda.Stream(non_blocking=True) if ns > 1 else None,
            }
        )
    if ns > 1:  # the side streams start after the buffers are zeroed
        ready = cupy.cuda.Event()
        ready.record()
        for lane in lanes:
            lane["stream"].wait_event(ready)
    for i, c0 in enumerate(range(0, n, chunk)):
        lane = lanes[i % len(lanes)]
        rows = min(chunk, n - c0)
        full = rows // kb
        buf, acc = lane["buf"], lane["acc"]
        with _on(lane["stream"]):
            kern(
                (grid,),
                (256,),
                (x[c0 : c0 + rows], np.int64(rows), buf, lane["col"], lane["norm"]),
            )
            if full and _gram_fallback is None:
                try:
                    _gram_batched(cupy, buf, full, kb, acc)
                except Exception as e:  # a CuPy without this binding: one product a block
                    _gram_fallback = f"{type(e).__name__}: {e}"
                    log.warning("similarity: batched cuBLAS Gram unavailable (%s)", e)
            if full and _gram_fallback is not None:
                for b in range(full):
                    blk = buf[b * kb : (b + 1) * kb]
                    acc[b] += cupy.matmul(blk.T, blk)
            if rows > full * kb:
                tail = buf[full * kb : rows]
                acc[0] += cupy.matmul(tail.T, tail)
    if ns > 1:
        cur = cupy.cuda.get_current_stream()
        for lane in lanes:
            done = cupy.cuda.Event()
            done.record(lane["stream"])
            cur.wait_event(done)
    gram = lanes[0]["acc"].sum(axis=0)
    col = lanes[0]["col"].sum(axis=0)
    norm = lanes[0]["norm"].sum(axis=0)
    for lane in lanes[1:]:
        gram += lane["acc"].sum(axis=0)
        col += lane["col"].sum(axis=0)
        norm += lane["norm"].sum(axis=0)
    sums = cupy.asnumpy(cupy.stack([col @ col, norm[0], norm[1], (gram * gram).sum()]))
    return float(sums[0]), float(sums[1]), float(sums[2]), float(sums[3])


def _gram_sums(xp: Any, x: Any, tile: int) -> tuple[float, float, float, float]:
    """(|Σ x_i|², Σ |x_i|², Σ |x_i|⁴, ‖XᵀX‖_F²) in float64: rows cast chunk by chunk (at least
    ``tile`` rows, ``_COHERENCE_CHUNK_CPU`` / ``_COHERENCE_CHUNK_GPU`` float64 elements), one
    product a chunk. The CPU's path; the GPU's for rows that are not float32 or wider than
    ``_COHERENCE_MAX_D``."""
    n, d = int(x.shape[0]), int(x.shape[1])
    budget = _COHERENCE_CHUNK_CPU if xp is np else _COHERENCE_CHUNK_GPU
    chunk = max(tile, budget // max(d, 1))
    gram = xp.zeros((d, d), dtype=xp.float64)
    col_sum = xp.zeros(d, dtype=xp.float64)
    sq = xp.zeros((), dtype=xp.float64)
    quad = xp.zeros((), dtype=xp.float64)
    for c0 in range(0, n, chunk):
        xc = x[c0 : c0 + chunk].astype(xp.float64)
        norm2 = (xc * xc).sum(axis=1)
        gram += xp.matmul(xc.T, xc)
        col_sum += xc.sum(axis=0)
        sq += norm2.sum()
        quad += (norm2 * norm2).sum()
    return float(col_sum @ col_sum), float(sq), float(quad), float((gram * gram).sum())


def _pair_stats(xp: Any, x: Any, tile: int) -> tuple[int, float, float]:
    """(number of pairs i < j, mean, std) of the dot products among the rows of ``x``.

    Without forming the n² products: with s = Σ x_i and G = Xᵀ X (d x d),
    Σ_{i<j} x_i·x_j = (|s|² − Σ |x_i|²) / 2 and Σ_{i<j} (x_i·x_j)² = (‖G‖_F² − Σ |x_i|⁴) / 2,
    so the work is O(n d²) (O(n² d) through the n x n Gram matrix when n <= d, the smaller). All in
    float64 (the rows are cast chunk by chunk; :func:`_gram_sums`, and on the GPU
    :func:`_gram_sums_gpu`, which computes G as a batched product), so the subtractions lose
    nothing a float32 product would keep: the result is within ~1e-12 of the float64 brute force
    (the float32 tiles of :func:`_pair_stats_tiled` were within ~1e-7). Float32 products
    (measured on the CPU, blocks of 256 to 4096 rows, sums of blocks in float64) were off by up to
    ~1e-8 in the standard deviation of random unit rows and ~1e-2 (relative) for rows packed
    around one direction (std 1e-3 at mean 0.995), 1e-5 with the rows centred first: not kept.
    """
    n, d = int(x.shape[0]), int(x.shape[1])
    m = n * (n - 1) // 2
    if m == 0:
        return 0, float("nan"), float("nan")
    if n <= d:
        x64 = x.astype(xp.float64)
        upper = xp.triu(xp.matmul(x64, x64.T), k=1)
        total = float(upper.sum())
        total_sq = float((upper * upper).sum())
    else:
        if xp is not np and x.dtype == np.float32 and d <= _COHERENCE_MAX_D:
            col_sq, sq, quad, frob2 = _gram_sums_gpu(xp, xp.ascontiguousarray(x))
        else:
            col_sq, sq, quad, frob2 = _gram_sums(xp, x, tile)
        total = (col_sq - sq) / 2
        total_sq = (frob2 - quad) / 2
    mean = total / m
    var = max(total_sq / m - mean * mean, 0.0)
    return m, mean, var**0.5


def _pair_stats_tiled(xp: Any, x: Any, tile: int) -> tuple[int, float, float]:
    """The former :func:`_pair_stats`: every product x_i·x_j (i < j) by float32 tiles, summed in
    float64. O(n² d); kept as a reference for tests and benchmarks."""
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
