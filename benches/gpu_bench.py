"""GPU (and 2-core CPU) measurements of poisonscreen.similarity against the device's roofline.

    python3 benches/gpu_bench.py          # on a CUDA machine: ceilings, parity, timings
    python benches/gpu_bench.py --cpu     # the NumPy / Rust path on this machine, for the speed-ups

GPU mode, in order, each section timed and skipped when the time budget (``--budget`` seconds)
runs short:

1. ceilings, measured on random data (never zeros): device-to-device copy bandwidth (bytes read +
   written; the larger of ``cudaMemcpy`` and an elementwise copy kernel), and 8192³ matrix products
   in fp32, TF32, fp16 (fp32 accumulation) and fp64, plus the kNN's own product shape;
2. parity of every new kernel against NumPy / float64 references on fresh random inputs, outputs
   poisoned first: signature agreement (old and new kernels), the kNN (exact on integer products,
   within tolerance on unit vectors, and a sample of rows of the 1M run against a brute force),
   coherence (float64 brute force);
3. timings with CUDA events (warm-up, repeats, median): agreement over 10M random pairs of a 2M x
   128 table (1 GiB, far above L2), old kernel and new at several lanes per pair; kNN 1M x 256, k=32
   (new path, fp16 and, at 262,144 rows, fp32; the old path at 32,768 / 65,536 rows, extrapolated
   by n²), with a split into products and select; coherence of 1k, 100k, 1M rows x 256 (old tiles
   at small n, extrapolated by n²), against the larger of its compute floor (2 n d² at the matmul
   rate of the product's precision) and its memory floor (4 n d bytes), the table saying which.

``--sections`` picks sections (ceilings always run; the kNN's own tile product among the ceilings
and the kNN parity checks only with ``knn``); ``--previous FILE`` (an earlier run's JSON) fills
the table's rows for the sections skipped, marked with ``--previous-label`` and computed against
that run's ceilings. The coherence section also times the run-1 code (one float64 product a
chunk, the generic path) on the same rows, the library's knobs (rows a product, two streams), the
split (the cast-and-sums kernel alone, the batched float64 products alone) and, bench only,
float32 and TF32 batched products straight from the float32 rows with the standard deviation they
would give against float64.

Writes ``$OUT/gpu_bench.json`` (or ``--out``) and prints a markdown table last. The CPU mode writes
``benches/gpu_bench_cpu.json``, which the GPU mode reads (when present) for the speed-up column.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import signal
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from poisonscreen import similarity as sim

HERE = Path(__file__).resolve().parent
CPU_JSON = HERE / "gpu_bench_cpu.json"

# The agreement kernel before this change (one thread per pair, 4-byte loads): timed as "old".
OLD_AGREEMENT_SRC = r"""
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

T0 = time.perf_counter()
SECTIONS = ("ceilings", "parity", "agreement", "knn", "coherence")


def say(msg: str) -> None:
    print(f"[{time.perf_counter() - T0:7.1f} s] {msg}", flush=True)


def _failed(v: Any) -> bool:
    """A parity entry that is a failed check (the others are numbers: errors, fractions)."""
    return isinstance(v, (bool, np.bool_)) and not bool(v)


class Budget:
    def __init__(self, seconds: float) -> None:
        self.end = T0 + seconds

    def left(self) -> float:
        return self.end - time.perf_counter()

    def allows(self, need: float, what: str, res: dict[str, Any]) -> bool:
        if self.left() >= need:
            return True
        say(f"SKIP {what}: {self.left():.0f} s left, needs ~{need:.0f} s")
        res.setdefault("skipped", []).append(what)
        return False


# ---- GPU timing helpers ------------------------------------------------------------------------


def gpu_time(
    cp: Any, fn: Callable[[], Any], *, warmup: int = 1, repeats: int = 5
) -> dict[str, Any]:
    """Median (and min, max) milliseconds of ``fn`` between CUDA events, after warm-up runs."""
    for _ in range(warmup):
        fn()
    cp.cuda.runtime.deviceSynchronize()
    times = []
    for _ in range(repeats):
        a, b = cp.cuda.Event(), cp.cuda.Event()
        a.record()
        fn()
        b.record()
        b.synchronize()
        times.append(float(cp.cuda.get_elapsed_time(a, b)))
    return {
        "ms": statistics.median(times),
        "min_ms": min(times),
        "max_ms": max(times),
        "repeats": len(times),
    }


def free(cp: Any) -> None:
    cp.cuda.runtime.deviceSynchronize()
    cp.get_default_memory_pool().free_all_blocks()


def unit_rows(cp: Any, n: int, d: int, dtype: Any, chunk: int = 1 << 17) -> Any:
    """Random unit rows, made in chunks (no float32 n x d temporary beyond the result)."""
    x = cp.empty((n, d), dtype=dtype)
    for i in range(0, n, chunk):
        c = cp.random.standard_normal((min(chunk, n - i), d), dtype=cp.float32)
        c /= cp.linalg.norm(c, axis=1, keepdims=True)
        x[i : i + chunk] = c.astype(dtype)
    return x


# ---- 1. ceilings ---------------------------------------------------------------------------------


def set_compute_type(cp: Any, dtype: Any, name: str) -> bool:
    try:
        from cupy._core import _routines_linalg as rl

        code = {"DEFAULT": 1, "TF32": 7}[name]
        rl.set_compute_type(dtype, getattr(rl, f"COMPUTE_TYPE_{name}", code))
        return True
    except Exception as e:  # a CuPy without this private switch: only the default is measured
        if name != "DEFAULT":
            say(f"cannot set the {name} compute type: {type(e).__name__}: {e}")
        return name == "DEFAULT"


def ceilings(cp: Any, res: dict[str, Any], quick: bool, knn: bool = True) -> None:
    nbytes = (1 << 20) if quick else (2 << 30)
    src = cp.random.random_sample(nbytes // 4, dtype=cp.float32)
    dst = cp.empty_like(src)
    times: dict[str, Any] = {}
    try:
        times["memcpy"] = gpu_time(
            cp, lambda: dst.data.copy_from_device_async(src.data, nbytes), warmup=2, repeats=10
        )
    except Exception as e:
        say(f"memcpy copy not timed: {type(e).__name__}: {e}")
    kern = cp.ElementwiseKernel("T x", "T y", "y = x", "ps_copy")
    times["kernel"] = gpu_time(cp, lambda: kern(src, dst), warmup=2, repeats=10)
    assert bool((dst == src).all()), "copy check failed"
    gbs = {k: 2 * nbytes / (t["ms"] * 1e-3) / 1e9 for k, t in times.items()}
    res["copy"] = {"bytes": nbytes, **times, "GBps": gbs}
    res["bandwidth_GBps"] = max(gbs.values())
    say(
        f"copy {nbytes / 2**30:.2f} GiB (read + write counted): "
        + ", ".join(f"{k} {v:,.0f} GB/s" for k, v in gbs.items())
    )
    src = dst = None
    free(cp)

    n = 512 if quick else 8192
    flops = 2.0 * n**3
    rates: dict[str, float] = {}
    for label, dtype, ctype in (
        ("fp32", cp.float32, "DEFAULT"),
        ("tf32", cp.float32, "TF32"),
        ("fp16", cp.float16, "DEFAULT"),
        ("fp64", cp.float64, "DEFAULT"),
    ):
        if not set_compute_type(cp, dtype, ctype):
            continue
        a = cp.random.standard_normal((n, n), dtype=cp.float32).astype(dtype)
        b = cp.random.standard_normal((n, n), dtype=cp.float32).astype(dtype)
        t = gpu_time(cp, lambda a=a, b=b: cp.matmul(a, b), warmup=2, repeats=8)
        rates[label] = flops / (t["ms"] * 1e-3) / 1e12
        res.setdefault("matmul", {})[label] = {"n": n, **t, "TFLOPs": rates[label]}
        say(f"matmul {label} {n}^3: {t['ms']:.2f} ms, {rates[label]:.1f} TFLOP/s")
        set_compute_type(cp, dtype, "DEFAULT")
        a = b = None
    free(cp)
    res["matmul_TFLOPs"] = rates
    if not knn:
        return
    # the kNN's product: 8192 query rows x 32768 columns x 256, fp16 in and out
    q = unit_rows(cp, 512 if quick else 8192, 256, cp.float16)
    c = unit_rows(cp, 2048 if quick else 32768, 256, cp.float16)
    t = gpu_time(cp, lambda: cp.matmul(q, c.T), warmup=2, repeats=10)
    f = 2.0 * q.shape[0] * c.shape[0] * 256
    res.setdefault("matmul", {})["knn_tile_fp16"] = {**t, "TFLOPs": f / (t["ms"] * 1e-3) / 1e12}
    say(
        f"kNN tile product fp16 {q.shape[0]}x{c.shape[0]}x256: {f / (t['ms'] * 1e-3) / 1e12:.0f} TFLOP/s"
    )
    q = c = None
    free(cp)


# ---- 2. parity -----------------------------------------------------------------------------------


def old_agreement(cp: Any, sigs: Any, pairs: Any, out: Any) -> Any:
    m, p = int(pairs.shape[0]), int(sigs.shape[1])
    k = sim._kernel(cp, OLD_AGREEMENT_SRC, "sig_agreement")
    k(((m + 255) // 256,), (256,), (sigs, pairs, np.int64(m), np.int32(p), out))
    return out


def parity(cp: Any, res: dict[str, Any], quick: bool, wanted: set[str] | None = None) -> None:
    checks: dict[str, Any] = res.setdefault("parity", {})
    rng = np.random.default_rng(int(time.time()))

    def agreement() -> None:  # few distinct values (pairs agree often), empty rows
        for p in (128, 64, 7):
            sigs = rng.integers(0, 4, size=(2000, p), dtype=np.uint32)
            sigs[rng.choice(2000, 20, replace=False)] = 0xFFFFFFFF
            m = 20_011 if quick else 400_009
            pairs = rng.integers(0, 2000, size=(m, 2)).astype(np.uint32)
            want = sim._agreement_xp(np, sigs, pairs)
            ds, dp = cp.asarray(sigs), cp.asarray(pairs)
            for name, fn in (
                ("new", lambda o, ds=ds, dp=dp: sim._agreement_gpu(cp, ds, dp, o)),
                ("new_lanes8", lambda o, ds=ds, dp=dp: sim._agreement_gpu(cp, ds, dp, o, lanes=8)),
                ("old", lambda o, ds=ds, dp=dp: old_agreement(cp, ds, dp, o)),
            ):
                out = cp.full(m, -7, dtype=cp.int32)  # poisoned
                fn(out)
                cp.cuda.runtime.deviceSynchronize()
                got = cp.asnumpy(out)
                checks[f"agreement_p{p}_{name}"] = ok = bool(np.array_equal(got, want))
                if not ok:
                    say(f"FAIL agreement p={p} {name}: {int((got != want).sum())} of {m} differ")

    def knn_exact() -> None:  # integer products: exact in fp16 and fp32 in any summation order
        n = 1500 if quick else 6000
        x = rng.integers(-1, 2, size=(n, 16)).astype(np.float32)
        x[rng.choice(n, n // 10, replace=False)] = x[0]
        s = x @ x.T
        np.fill_diagonal(s, -np.inf)
        for k in (1, 32, 100):
            order = np.argsort(-s, axis=1, kind="stable")[:, :k]
            for prec in ("fp16", "fp32"):
                idx, _ = sim.knn_cosine(x, k, tile=1000, device="gpu", precision=prec)  # type: ignore[arg-type]
                cp.cuda.runtime.deviceSynchronize()
                checks[f"knn_exact_k{k}_{prec}"] = ok = bool(np.array_equal(idx, order))
                if not ok:
                    say(f"FAIL knn exact k={k} {prec}: {int((idx != order).sum())} differ")

    def knn_unit() -> None:  # unit vectors against the CPU path
        n = 1500 if quick else 8192
        x = rng.standard_normal((n, 256)).astype(np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        cpu_idx, cpu_sims = sim.knn_cosine(x, 32, device="cpu")
        for prec, tol in (("fp32", 1e-5), ("fp16", 3e-3)):
            idx, sims = sim.knn_cosine(x, 32, tile=2048, device="gpu", precision=prec)  # type: ignore[arg-type]
            err = float(np.abs(sims - cpu_sims).max())
            same = float((idx == cpu_idx).mean())
            checks[f"knn_unit_{prec}"] = ok = err <= tol and (prec == "fp16" or same > 0.99)
            checks[f"knn_unit_{prec}_maxerr"] = err
            checks[f"knn_unit_{prec}_same_idx"] = same
            if not ok:
                say(f"FAIL knn unit {prec}: max |sim diff| {err:.2e}, same index {same:.4f}")

    def coherence() -> None:  # float64 brute force
        for n in (2, 100, 257, 3000):
            x = rng.standard_normal((n, 256)).astype(np.float32)
            x[: n // 3] += 2.0  # a cluster: mean far from 0
            x /= np.linalg.norm(x, axis=1, keepdims=True)
            x64 = x.astype(np.float64)
            vals = (x64 @ x64.T)[np.triu_indices(n, 1)]
            for name, kv in (("", {}),  # and many chunks, blocks and a tail; on two streams
                             ("_chunks", {"_COHERENCE_BATCH": 64, "_COHERENCE_CHUNK_GPU": 300 * 256}),
                             ("_chunks_2streams", {"_COHERENCE_BATCH": 64, "_COHERENCE_STREAMS": 2,
                                                   "_COHERENCE_CHUNK_GPU": 300 * 256})):  # fmt: skip
                if name and n < 3000:
                    continue
                with patched(**kv):
                    _, mean, std = sim._pair_stats(cp, cp.asarray(x), 4096)
                err = max(abs(mean - vals.mean()), abs(std - vals.std()))
                checks[f"coherence_n{n}{name}"] = ok = bool(err < 1e-9)
                checks[f"coherence_n{n}{name}_err"] = err
                if not ok:
                    say(f"FAIL coherence n={n}{name}: error {err:.2e}")

    for name, fn in (("agreement", agreement), ("knn_exact", knn_exact), ("knn_unit", knn_unit),
                     ("coherence", coherence)):  # fmt: skip
        if wanted is not None and name.split("_")[0] not in wanted:
            continue
        try:
            fn()
        except Exception as e:  # a failed check must not stop the others
            import traceback

            traceback.print_exc()
            checks[f"{name}_raised"] = False
            say(f"FAIL {name}: {type(e).__name__}: {e}")
        free(cp)
    bad = [k for k, v in checks.items() if _failed(v)]
    say(
        f"parity: {sum(isinstance(v, (bool, np.bool_)) and bool(v) for v in checks.values())} passed, {len(bad)} failed {bad}"
    )


# ---- 3. timings ----------------------------------------------------------------------------------


def bench_agreement(cp: Any, res: dict[str, Any], quick: bool, bw: float) -> None:
    rows, p, m = (20_000, 128, 100_000) if quick else (2_000_000, 128, 10_000_000)
    cp.random.seed(1)
    sigs = cp.random.randint(0, 4, size=(rows, p), dtype=cp.int32).astype(cp.uint32)
    pairs = cp.random.randint(0, rows, size=(m, 2), dtype=cp.int64).astype(cp.uint32)
    nbytes = m * (2 * p * 4 + 8 + 4)
    out = cp.empty(m, dtype=cp.int32)
    r: dict[str, Any] = {"rows": rows, "p": p, "pairs": m, "bytes": nbytes}
    variants: list[tuple[str, Callable[[], Any]]] = [
        ("old", lambda: old_agreement(cp, sigs, pairs, out)),
        ("new", lambda: sim._agreement_gpu(cp, sigs, pairs, out)),
    ]
    for lanes in (4, 8, 16, 32):
        variants.append(
            (
                f"new_lanes{lanes}",
                lambda la=lanes: sim._agreement_gpu(cp, sigs, pairs, out, lanes=la),
            )
        )
    for name, fn in variants:
        t = gpu_time(cp, fn, warmup=2, repeats=15)
        t["GBps"] = nbytes / (t["ms"] * 1e-3) / 1e9
        t["pct_bandwidth"] = 100 * t["GBps"] / bw
        r[name] = t
        say(f"agreement {name}: {t['ms']:.2f} ms, {t['GBps']:.0f} GB/s ({t['pct_bandwidth']:.0f}%)")
    res["agreement"] = r
    sigs = pairs = out = None
    free(cp)


def knn_split(cp: Any, x: Any, kk: int, tile: int) -> dict[str, Any]:
    """The new path's products alone (all of them) and its select kernel alone: on one tile in the
    steady state (its best lists already hold the top k of the same values, so almost nothing is
    inserted: an optimistic bound for the later column blocks), times the number of tiles."""
    n = int(x.shape[0])
    ctile = sim._GPU_COLS * tile
    tiles = math.ceil(n / tile) * math.ceil(n / ctile)

    def products() -> None:
        for i0 in range(0, n, tile):
            for j0 in range(0, n, ctile):
                cp.matmul(x[i0 : i0 + tile], x[j0 : j0 + ctile].T)

    prod = gpu_time(cp, products, warmup=0, repeats=1)
    half = x.dtype == np.float16
    kpl = 1 if kk <= 32 else (2 if kk <= 64 else 4)
    kern = sim._select_kernel(cp, half, kpl)
    q = x[:tile]
    rows = int(q.shape[0])
    sims = cp.matmul(q, x[:ctile].T)
    width = int(sims.shape[1])
    best = cp.full((rows, 32 * kpl), sim._SENT, dtype=cp.int64)

    def select(col0: int) -> None:
        kern(
            ((rows * 32 + 255) // 256,),
            (256,),
            (sims, np.int64(width), np.int32(rows), np.int32(width), np.int64(0), np.int64(col0),
             np.int32(kk), np.int32(width % 8 == 0), best),
        )  # fmt: skip

    first = gpu_time(cp, lambda: select(0), warmup=0, repeats=1)  # from empty lists
    steady = gpu_time(cp, lambda: select(n), warmup=1, repeats=10)  # the same values, later columns
    tile_bytes = rows * width * x.dtype.itemsize
    return {
        "tiles": tiles,
        "products_ms": prod["ms"],
        "select_first_tile_ms": first["ms"],
        "select_steady_tile_ms": steady["ms"],
        "select_all_ms_est": steady["ms"] * tiles,
        "select_GBps": tile_bytes / (steady["ms"] * 1e-3) / 1e9,
    }


def bench_knn(
    cp: Any, res: dict[str, Any], quick: bool, ceil: dict[str, float], bw: float, budget: Budget
) -> None:
    r: dict[str, Any] = {}
    res["knn"] = r
    d, k = 256, 32
    n = 3_000 if quick else 1_000_000
    tile = 512 if quick else sim._GPU_TILE
    cp.random.seed(2)
    x = unit_rows(cp, n, d, cp.float16)
    flops = 2.0 * n * n * d
    t0 = time.perf_counter()  # one untimed run (kernel compilation too) sizes the repeats
    sim._knn_gpu_select(cp, x, k, tile)
    cp.cuda.runtime.deviceSynchronize()
    first_s = time.perf_counter() - t0
    reps = 3 if first_s < 5 else 1
    say(f"knn new fp16 n={n:,}: first run {first_s:.1f} s; {reps} timed")
    t = gpu_time(cp, lambda: sim._knn_gpu_select(cp, x, k, tile), warmup=0, repeats=reps)
    tf = flops / (t["ms"] * 1e-3) / 1e12
    sims_bytes = 2.0 * n * n * 2  # the fp16 similarity tiles, written once and read once
    r["new_fp16"] = {
        "n": n, "d": d, "k": k, **t, "TFLOPs": tf,
        "pct_fp16": 100 * tf / ceil.get("fp16", float("nan")),
        "floor_flop_ms": flops / (ceil.get("fp16", float("nan")) * 1e12) * 1e3,
        "floor_tiles_ms": sims_bytes / (bw * 1e9) * 1e3,
    }  # fmt: skip
    say(
        f"knn new fp16 n={n:,}: {t['ms'] / 1e3:.2f} s, {tf:.0f} TFLOP/s ({r['new_fp16']['pct_fp16']:.0f}% of fp16)"
    )
    # a sample of rows against a brute force over all n (fp32 products)
    keys = sim._knn_gpu_select(cp, x, k, tile)
    idx, got = sim._decode(cp, keys)
    rows = cp.asarray(np.random.default_rng(3).choice(n, 64, replace=False))
    x32 = x.astype(cp.float32)
    s = cp.matmul(x32[rows], x32.T)
    s[cp.arange(64), rows] = -cp.inf
    exact_top = -cp.sort(-s, axis=1)[:, :k]
    err = float(cp.abs(got[rows] - exact_top).max())
    found = cp.take_along_axis(s, idx[rows].astype(cp.int64), axis=1)
    miss = float((exact_top[:, -1:] - found).max())  # how far below the true k-th a found one is
    r["sample_check"] = {
        "rows": 64,
        "max_sim_err": err,
        "max_shortfall": miss,
        "ok": err < 3e-3 and miss < 3e-3,
    }
    say(f"knn 1M sample check: max |sim - exact| {err:.1e}, shortfall {miss:.1e}")
    # the same with products and selects on two streams (sim._KNN_STREAMS = 2): same keys, faster?
    if budget.allows(4 * t["ms"] / 1e3 + 60, "knn two streams", res):
        keys2 = sim._knn_gpu_select(cp, x, k, tile, streams=2)
        same = bool((keys2 == keys).all())
        res.setdefault("parity", {})[f"knn_{n}_two_streams_same_keys"] = same
        keys2 = None
        t2 = gpu_time(
            cp, lambda: sim._knn_gpu_select(cp, x, k, tile, streams=2), warmup=0, repeats=reps
        )
        tf2 = flops / (t2["ms"] * 1e-3) / 1e12
        r["new_fp16_two_streams"] = {**t2, "TFLOPs": tf2, "same_keys": same}
        say(
            f"knn two streams: {t2['ms'] / 1e3:.2f} s (one: {t['ms'] / 1e3:.2f} s), same keys {same}"
        )
    keys = idx = got = s = x32 = found = None
    free(cp)
    if budget.allows(25, "knn split", res):
        r["split_fp16"] = sp = knn_split(cp, x, k, tile)
        say(
            f"knn split: products {sp['products_ms'] / 1e3:.2f} s, select ~{sp['select_all_ms_est'] / 1e3:.2f} s "
            f"({sp['select_GBps']:.0f} GB/s on a tile)"
        )
    x = None
    free(cp)
    # fp32 products at a quarter of the rows (n²: x16 faster)
    if budget.allows(30, "knn fp32", res):
        n32 = 2_000 if quick else 262_144
        x = unit_rows(cp, n32, d, cp.float32)
        t = gpu_time(cp, lambda: sim._knn_gpu_select(cp, x, k, tile), warmup=1, repeats=2)
        f32 = 2.0 * n32 * n32 * d / (t["ms"] * 1e-3) / 1e12
        r["new_fp32"] = {"n": n32, **t, "TFLOPs": f32, "pct_fp32": 100 * f32 / ceil.get("fp32", float("nan")),
                         "ms_at_1M_est": t["ms"] * (1_000_000 / n32) ** 2}  # fmt: skip
        say(f"knn new fp32 n={n32:,}: {t['ms'] / 1e3:.2f} s, {f32:.1f} TFLOP/s")
        x = None
        free(cp)
    # the old path (per-tile argpartition / lexsort in CuPy) at small n, extrapolated by n²
    for n_old in (1_024, 2_048) if quick else (32_768, 65_536):
        if not budget.allows(40, f"knn old n={n_old}", res):
            break
        x = unit_rows(cp, n_old, d, cp.float16)
        t = gpu_time(cp, lambda x=x: sim._knn_tiles(cp, x, k, 4096), warmup=1, repeats=1)
        r[f"old_fp16_{n_old}"] = {
            "n": n_old,
            **t,
            "ms_at_1M_est": t["ms"] * (1_000_000 / n_old) ** 2,
        }
        say(
            f"knn old fp16 n={n_old:,}: {t['ms'] / 1e3:.2f} s (-> {t['ms'] * (1e6 / n_old) ** 2 / 1e3:.0f} s at 1M)"
        )
        x = None
        free(cp)
        if t["ms"] > 20_000:
            break


def coherence_floors(n: int, d: int, ceil: dict[str, float], bw: float) -> dict[str, Any]:
    """The coherence's floors: FLOP = 2 n d² (the d x d Gram; its symmetry is not used) at the
    product's own matmul rate, bytes = 4 n d (each float32 row read once)."""
    flops, nbytes = 2.0 * n * d * d, 4.0 * n * d
    out = {"flops": flops, "bytes": nbytes, "floor_mem_ms": nbytes / (bw * 1e9) * 1e3}
    for prec in ("fp64", "fp32", "tf32"):
        out[f"floor_{prec}_ms"] = flops / (ceil.get(prec, float("nan")) * 1e12) * 1e3
    return out


def coherence_entry(
    n: int, d: int, t: dict[str, Any], ceil: dict[str, float], bw: float, prec: str = "fp64"
) -> dict[str, Any]:
    """A timing against its roofline: the larger of the compute floor (at ``prec``'s measured
    rate) and the memory floor, and which of the two that is."""
    f = coherence_floors(n, d, ceil, bw)
    comp, mem = f[f"floor_{prec}_ms"], f["floor_mem_ms"]
    return {
        "n": n, "d": d, **t, **f, "prec": prec,
        "GBps": f["bytes"] / (t["ms"] * 1e-3) / 1e9,
        "TFLOPs": f["flops"] / (t["ms"] * 1e-3) / 1e12,
        "pct_roofline": 100 * max(comp, mem) / t["ms"],
        "bound": prec if comp > mem else "memory",
    }  # fmt: skip


class patched:
    """Set module attributes of poisonscreen.similarity for a block, restored after."""

    def __init__(self, **values: Any) -> None:
        self.values = values
        self.saved: dict[str, Any] = {}

    def __enter__(self) -> None:
        for k, v in self.values.items():
            self.saved[k] = getattr(sim, k)
            setattr(sim, k, v)

    def __exit__(self, *exc: object) -> None:
        for k, v in self.saved.items():
            setattr(sim, k, v)


def gemm32_batched(cp: Any, x: Any, kb: int, tf32: bool) -> tuple[Callable[[], Any], Any]:
    """The same chunks and blocks as the library, but float32 products straight from the float32
    rows (cuBLAS GemmStridedBatchedEx, compute type 32F or 32F_FAST_TF32), each chunk's block
    products summed into float64 (n a multiple of kb). Bench only: (run, Gram)."""
    from cupy_backends.cuda.libs import cublas

    n, d = int(x.shape[0]), int(x.shape[1])
    chunk, products, _ = sim._coherence_geometry(n, d, kb)
    out = cp.empty((products, d, d), dtype=cp.float32)
    gram = cp.zeros((d, d), dtype=cp.float64)
    one, zero = np.array(1.0, np.float32), np.array(0.0, np.float32)
    r32 = cp.cuda.runtime.CUDA_R_32F
    compute = cublas.CUBLAS_COMPUTE_32F_FAST_TF32 if tf32 else cublas.CUBLAS_COMPUTE_32F
    algo = getattr(cublas, "CUBLAS_GEMM_DEFAULT_TENSOR_OP", -1) if tf32 else -1

    def run() -> Any:
        handle = cp.cuda.get_cublas_handle()
        mode = cublas.getPointerMode(handle)
        cublas.setPointerMode(handle, cublas.CUBLAS_POINTER_MODE_HOST)
        gram.fill(0)
        try:
            for c0 in range(0, n, chunk):
                full = min(chunk, n - c0) // kb
                ptr = sim._device_ptr(x[c0:])
                cublas.gemmStridedBatchedEx(
                    handle, 0, 1, d, d, kb, one.ctypes.data,
                    ptr, r32, d, kb * d, ptr, r32, d, kb * d,
                    zero.ctypes.data, sim._device_ptr(out), r32, d, d * d, full, compute, algo,
                )  # fmt: skip
                gram[...] += out[:full].sum(axis=0, dtype=cp.float64)
        finally:
            cublas.setPointerMode(handle, mode)
        return gram

    return run, gram


def bench_coherence(
    cp: Any, res: dict[str, Any], quick: bool, ceil: dict[str, float], bw: float, budget: Budget
) -> None:
    r: dict[str, Any] = {
        "path": "batched fp64 Gram",
        "batch": sim._COHERENCE_BATCH,
        "chunk_elements": sim._COHERENCE_CHUNK_GPU,
        "streams": sim._COHERENCE_STREAMS,
    }
    res["coherence"] = r
    checks: dict[str, Any] = res.setdefault("parity", {})
    d = 256
    sizes = (1_000, 10_000, 50_000) if quick else (1_000, 100_000, 1_000_000)
    big = sizes[-1]
    cp.random.seed(4)
    x = unit_rows(cp, big, d, cp.float32)
    got: dict[int, tuple[int, float, float]] = {}
    for n in sizes:  # the library's path: batched float64 products
        xs = x[:n]
        t = gpu_time(cp, lambda xs=xs: sim._pair_stats(cp, xs, 4096), warmup=1, repeats=5)
        got[n] = sim._pair_stats(cp, xs, 4096)
        r[f"new_{n}"] = e = coherence_entry(n, d, t, ceil, bw)
        say(f"coherence new n={n:,}: {t['ms']:.2f} ms ({e['pct_roofline']:.0f}% of the {e['bound']} floor)")  # fmt: skip
    r["gram_fallback"] = sim._gram_fallback
    if sim._gram_fallback is not None:
        say(f"FAIL: the batched cuBLAS Gram fell back: {sim._gram_fallback}")
        checks["coherence_batched_cublas_used"] = False
    # the run-1 code (float64 casts of 65,536 rows, one product a chunk: the generic path)
    with patched(_COHERENCE_MAX_D=0, _COHERENCE_CHUNK_GPU=1 << 24):
        for n in sizes[1:]:
            xs = x[:n]
            t = gpu_time(cp, lambda xs=xs: sim._pair_stats(cp, xs, 4096), warmup=1, repeats=3)
            r[f"run1code_{n}"] = coherence_entry(n, d, t, ceil, bw)
            _, mean1, std1 = sim._pair_stats(cp, xs, 4096)
            err = max(abs(got[n][1] - mean1), abs(got[n][2] - std1))
            checks[f"coherence_n{n}_new_vs_run1code"] = ok = err < 1e-12
            checks[f"coherence_n{n}_new_vs_run1code_err"] = err
            say(f"coherence run-1 code n={n:,}: {t['ms']:.2f} ms; new - run-1 code: {err:.1e}" + ("" if ok else " FAIL"))  # fmt: skip
    # variants at the largest n: rows a product, two streams
    for name, kv in (("batch1024", {"_COHERENCE_BATCH": 1024}), ("batch4096", {"_COHERENCE_BATCH": 4096}),
                     ("batch8192", {"_COHERENCE_BATCH": 8192}), ("streams2", {"_COHERENCE_STREAMS": 2})):  # fmt: skip
        with patched(**kv):
            t = gpu_time(cp, lambda: sim._pair_stats(cp, x, 4096), warmup=1, repeats=5)
            _, mean_v, std_v = sim._pair_stats(cp, x, 4096)
        err = max(abs(got[big][1] - mean_v), abs(got[big][2] - std_v))
        checks[f"coherence_{name}_same"] = err < 1e-12
        r[f"{name}_{big}"] = e = {**coherence_entry(big, d, t, ceil, bw), "err_vs_new": err}
        say(f"coherence {name} n={big:,}: {t['ms']:.2f} ms ({e['pct_roofline']:.0f}%), differs by {err:.1e}")  # fmt: skip
    # the split at the largest n: the cast-and-sums kernel alone, the float64 products alone
    kb = sim._COHERENCE_BATCH
    chunk, products, grid = sim._coherence_geometry(big, d, kb)
    kern = sim._kernel(cp, sim._COHERENCE_SRC.replace("__D__", str(d)), f"coherence_rows_{d}")
    buf = cp.empty((chunk, d), dtype=cp.float64)
    colp = cp.zeros((grid, d), dtype=cp.float64)
    normp = cp.zeros((grid, 2), dtype=cp.float64)

    def cast_sums() -> None:
        for c0 in range(0, big, chunk):
            rows = min(chunk, big - c0)
            kern((grid,), (256,), (x[c0 : c0 + rows], np.int64(rows), buf, colp, normp))

    t = gpu_time(cp, cast_sums, warmup=1, repeats=5)
    moved = 12.0 * big * d  # float32 read, float64 written
    r[f"split_cast_sums_{big}"] = {"n": big, **t, "bytes": moved, "GBps": moved / (t["ms"] * 1e-3) / 1e9,
                                   "pct_bandwidth": 100 * moved / (t["ms"] * 1e-3) / 1e9 / bw}  # fmt: skip
    say(
        f"coherence split: cast + sums {t['ms']:.2f} ms ({moved / (t['ms'] * 1e-3) / 1e9:,.0f} GB/s)"
    )
    buf = colp = normp = None
    x64 = x.astype(cp.float64)
    acc = cp.zeros((products, d, d), dtype=cp.float64)

    def products64() -> None:
        for c0 in range(0, big, chunk):
            full = min(chunk, big - c0) // kb
            sim._gram_batched(cp, x64[c0:], full, kb, acc)

    t = gpu_time(cp, products64, warmup=1, repeats=5)
    r[f"split_products_fp64_{big}"] = e = coherence_entry(big, d, t, ceil, bw)
    say(f"coherence split: float64 products {t['ms']:.2f} ms, {e['TFLOPs']:.1f} TFLOP/s")
    x64 = acc = None
    free(cp)
    # float32 / TF32 products (bench only): time, and the std they would give against float64
    n32 = big // kb * kb
    col = x[:n32].astype(cp.float64).sum(axis=0)
    norm2 = (x[:n32].astype(cp.float64) ** 2).sum(axis=1)
    m = n32 * (n32 - 1) // 2
    mean = (float(col @ col) - float(norm2.sum())) / 2 / m
    quad = float((norm2 * norm2).sum())
    want_std = (got[big] if n32 == big else sim._pair_stats(cp, x[:n32], 4096))[2]
    col = norm2 = None
    for prec in ("fp32", "tf32"):
        try:
            run, gram = gemm32_batched(cp, x[:n32], kb, prec == "tf32")
            t = gpu_time(cp, run, warmup=1, repeats=5)
            run()
            std = max((float((gram * gram).sum()) - quad) / 2 / m - mean * mean, 0.0) ** 0.5
            r[f"split_products_{prec}_{n32}"] = e = {
                **coherence_entry(n32, d, t, ceil, bw, prec),
                "std": std, "std_fp64": want_std, "std_abs_err": abs(std - want_std),
            }  # fmt: skip
            say(f"coherence split: {prec} products {t['ms']:.2f} ms, {e['TFLOPs']:.1f} TFLOP/s; std off by {abs(std - want_std):.1e} (of {want_std:.4f})")  # fmt: skip
        except Exception as ex:  # bench-only variants: report, do not fail the run
            r[f"split_products_{prec}_error"] = f"{type(ex).__name__}: {ex}"
            say(f"coherence {prec} products not measured: {type(ex).__name__}: {ex}")
        free(cp)
    for n in (1_000, 16_384):  # the pre-issue float32 tiles (n² work), extrapolated
        if not budget.allows(15, f"coherence old n={n}", res):
            break
        xs = x[:n]
        t = gpu_time(cp, lambda xs=xs: sim._pair_stats_tiled(cp, xs, 4096), warmup=1, repeats=3)
        r[f"old_{n}"] = {"n": n, **t, "ms_at_1M_est": t["ms"] * (1_000_000 / n) ** 2}
        say(f"coherence old tiles n={n:,}: {t['ms']:.2f} ms")
    # the public function: three sets and a background of 2000 rows, end to end (gathers included)
    if budget.allows(20, "coherence end to end", res):
        xh = cp.asnumpy(x) if quick else x
        rng = np.random.default_rng(5)
        sets = [rng.choice(big, s, replace=False) for s in (1_000, sizes[1])] + [np.arange(big)]
        sim.cluster_coherence(xh, sets[:1], device="gpu")  # warm
        t0 = time.perf_counter()
        sim.cluster_coherence(xh, sets, device="gpu")
        r["cluster_coherence_end_to_end_s"] = time.perf_counter() - t0
        say(f"cluster_coherence end to end (sets of 1k, {sizes[1]:,}, {big:,}): {r['cluster_coherence_end_to_end_s'] * 1e3:.1f} ms")  # fmt: skip
    x = None
    free(cp)


# ---- the table -----------------------------------------------------------------------------------


def table(
    res: dict[str, Any],
    cpu: dict[str, Any] | None,
    prev: dict[str, Any] | None = None,
    prev_label: str = "earlier run",
) -> str:
    """The markdown table. Sections this run skipped come from ``prev`` (an earlier run's JSON),
    against that run's own ceilings, their kernel names marked with ``prev_label``."""

    def cpu_s(key: str) -> float | None:
        return None if cpu is None else cpu.get(key)

    def speed(cpu_time: float | None, gpu_ms: float) -> str:
        return "–" if cpu_time is None else f"{cpu_time / (gpu_ms / 1e3):,.0f}×"

    rows = ["| kernel | size | time | achieved | roofline (measured) | % of roofline | vs old GPU | vs 2-core CPU |",
            "|---|---|---|---|---|---|---|---|"]  # fmt: skip

    def source(key: str) -> tuple[dict[str, Any], dict[str, Any], str]:
        if res.get(key):
            return res[key], res, ""
        if prev and prev.get(key):
            return prev[key], prev, f" ({prev_label})"
        return {}, res, ""

    ag, run, mark = source("agreement")
    if ag:
        bw = run.get("bandwidth_GBps", float("nan"))
        best_name = min((k for k in ag if k.startswith("new")), key=lambda k: ag[k]["ms"])
        for name in ("old", "new", best_name) if best_name != "new" else ("old", "new"):
            t = ag[name]
            rows.append(
                f"| agreement {name}{mark} | {ag['pairs']:,} pairs × {ag['p']} (table {ag['rows']:,} rows) "
                f"| {t['ms']:.2f} ms | {t['GBps']:,.0f} GB/s | {bw:,.0f} GB/s copy | {t['pct_bandwidth']:.0f}% "
                f"| {ag['old']['ms'] / t['ms']:.1f}× | {speed(cpu_s('agreement_rust_10M_s'), t['ms'])} |"
            )
    kn, run, mark = source("knn")
    fp16 = run.get("matmul_TFLOPs", {}).get("fp16", float("nan"))
    if "new_fp16" in kn:
        t = kn["new_fp16"]
        old = [v["ms_at_1M_est"] for k, v in kn.items() if k.startswith("old_")]
        vs_old = f"{old[-1] / t['ms']:.0f}× (old extrapolated n²)" if old else "–"
        rows.append(
            f"| kNN new fp16, k=32{mark} | {t['n']:,} × 256 | {t['ms'] / 1e3:.2f} s | {t['TFLOPs']:.0f} TFLOP/s "
            f"| {fp16:.0f} TFLOP/s fp16 | {t['pct_fp16']:.0f}% | {vs_old} "
            f"| {speed(cpu_s('knn_1M_est_s'), t['ms'])} (CPU extrapolated n²) |"
        )
    if "new_fp16_two_streams" in kn:
        t = kn["new_fp16_two_streams"]
        rows.append(
            f"| kNN new fp16, two streams{mark} | {kn['new_fp16']['n']:,} × 256 | {t['ms'] / 1e3:.2f} s "
            f"| {t['TFLOPs']:.0f} TFLOP/s | {fp16:.0f} TFLOP/s fp16 | {100 * t['TFLOPs'] / fp16:.0f}% "
            f"| same keys: {t['same_keys']} | – |"
        )
    if "new_fp32" in kn:
        t = kn["new_fp32"]
        fp32 = run.get("matmul_TFLOPs", {}).get("fp32", float("nan"))
        rows.append(
            f"| kNN new fp32, k=32{mark} | {t['n']:,} × 256 | {t['ms'] / 1e3:.2f} s | {t['TFLOPs']:.1f} TFLOP/s "
            f"| {fp32:.0f} TFLOP/s fp32 | {t['pct_fp32']:.0f}% | – "
            f"| {speed(cpu_s('knn_1M_est_s'), t['ms_at_1M_est'])} (both at 1M, extrapolated) |"
        )
    co, run, mark = source("coherence")
    bw = run.get("bandwidth_GBps", float("nan"))
    rates = run.get("matmul_TFLOPs", {})

    def coherence_row(name: str, t: dict[str, Any], vs_old: str, cpu_key: str | None) -> None:
        prec = t.get("prec", "fp64")
        if t["bound"] == "memory":
            ach, lim = f"{t['GBps']:,.0f} GB/s", f"{bw:,.0f} GB/s copy"
        else:
            ach = f"{t['TFLOPs']:.1f} TFLOP/s"
            lim = f"{rates.get(prec, float('nan')):.0f} TFLOP/s {prec}"
        cpu_col = speed(cpu_s(cpu_key), t["ms"]) if cpu_key else "–"
        rows.append(
            f"| {name}{mark} | {t['n']:,} × {t.get('d', 256)} | {t['ms']:.2f} ms | {ach} | {lim} "
            f"| {t['pct_roofline']:.0f}% ({t['bound']} bound) | {vs_old} | {cpu_col} |"
        )

    def old_ms(n: int) -> float | None:
        if f"old_{n}" in co:
            return float(co[f"old_{n}"]["ms"])
        return co["old_16384"]["ms"] * (n / 16_384) ** 2 if "old_16384" in co else None

    path = co.get("path", "Gram, fp64")
    for key, t in co.items():
        if not key.startswith("new_") or not isinstance(t, dict):
            continue
        n = t["n"]
        old = old_ms(n)
        vs_old = "–" if old is None else f"{old / t['ms']:,.0f}× (tiles)"
        if f"run1code_{n}" in co:
            vs_old += f", {co[f'run1code_{n}']['ms'] / t['ms']:.1f}× (run-1 Gram)"
        coherence_row(f"coherence new ({path})", t, vs_old, f"coherence_new_{n}_s")
    for key, t in co.items():
        if not isinstance(t, dict) or "ms" not in t:
            continue
        if key.startswith("run1code_") and t["n"] >= 1_000_000:
            coherence_row(
                "coherence, run-1 code (one fp64 product a chunk)",
                t,
                "–",
                f"coherence_new_{t['n']}_s",
            )
        elif key.startswith(("batch1024_", "batch4096_", "batch8192_", "streams2_")):
            coherence_row(
                f"coherence new, {key.rsplit('_', 1)[0]}",
                t,
                f"differs by {t['err_vs_new']:.0e}",
                None,
            )
        elif key.startswith("split_products_"):
            what = key[len("split_products_") :].rsplit("_", 1)[0]
            note = f"std off by {t['std_abs_err']:.0e}" if "std_abs_err" in t else "–"
            coherence_row(f"coherence: {what} products alone", t, note, None)
    cs = next((v for k, v in co.items() if k.startswith("split_cast_sums_")), None)
    if cs:
        rows.append(
            f"| coherence: cast + sums kernel alone{mark} | {cs['n']:,} × 256 "
            f"| {cs['ms']:.2f} ms | {cs['GBps']:,.0f} GB/s | {bw:,.0f} GB/s copy | {cs['pct_bandwidth']:.0f}% (memory bound) | – | – |"
        )  # fmt: skip
    return "\n".join(rows)


# ---- CPU mode -------------------------------------------------------------------------------------


def cpu_mode(quick: bool) -> None:
    out: dict[str, Any] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.processor() or ''}".strip(
            ", "
        ),
        "numpy": np.__version__,
        "python": platform.python_version(),
    }
    rng = np.random.default_rng(0)
    rows, m = (200_000, 1_000_000) if quick else (2_000_000, 10_000_000)
    sigs = rng.integers(0, 4, size=(rows, 128), dtype=np.uint32)
    pairs = rng.integers(0, rows, size=(m, 2)).astype(np.uint32)
    t = time.perf_counter()
    sim.signature_agreement_pairs(sigs, pairs, device="cpu")
    out["agreement_rust_10M_s"] = (time.perf_counter() - t) * (10_000_000 / m)
    say(f"agreement (Rust core) {m:,} pairs x 128, table {rows:,}: {time.perf_counter() - t:.2f} s")
    m_np = m // 10
    t = time.perf_counter()
    sim._agreement_xp(np, sigs, pairs[:m_np])
    out["agreement_numpy_10M_est_s"] = (time.perf_counter() - t) * (10_000_000 / m_np)
    say(f"agreement (NumPy reference) {m_np:,} pairs: {time.perf_counter() - t:.2f} s")
    sigs = pairs = None
    n = 5_000 if quick else 20_000
    x = rng.standard_normal((n, 256)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    t = time.perf_counter()
    sim.knn_cosine(x, 32, device="cpu")
    dt = time.perf_counter() - t
    out["knn_n"] = n
    out["knn_s"] = dt
    out["knn_1M_est_s"] = dt * (1_000_000 / n) ** 2
    say(f"knn (NumPy) {n:,} x 256, k=32: {dt:.2f} s (-> {out['knn_1M_est_s'] / 3600:.1f} h at 1M)")
    big = 100_000 if quick else 1_000_000
    x = rng.standard_normal((big, 256)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    for n in (1_000, 100_000, big):
        t = time.perf_counter()
        sim._pair_stats(np, x[:n], 4096)
        out[f"coherence_new_{n}_s"] = time.perf_counter() - t
        say(f"coherence new (NumPy) {n:,} x 256: {out[f'coherence_new_{n}_s']:.3f} s")
    for n in (1_000, 10_000):
        t = time.perf_counter()
        sim._pair_stats_tiled(np, x[:n], 4096)
        out[f"coherence_old_{n}_s"] = dt = time.perf_counter() - t
        say(f"coherence old (NumPy tiles) {n:,} x 256: {dt:.3f} s")
    out["coherence_old_1000000_est_s"] = out["coherence_old_10000_s"] * 100**2
    path = Path(os.environ.get("GPU_BENCH_CPU_JSON", CPU_JSON))
    path.write_text(json.dumps(out, indent=1) + "\n")
    say(f"wrote {path}")


# ---- main ---------------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cpu", action="store_true", help="measure the CPU path on this machine")
    ap.add_argument("--quick", action="store_true", help="small sizes (to check the script)")
    ap.add_argument("--budget", type=float, default=240.0, help="seconds for the GPU sections")
    ap.add_argument("--out", default=os.environ.get("OUT", "."), help="folder for gpu_bench.json")
    ap.add_argument(
        "--sections",
        default=",".join(SECTIONS),
        help=f"comma-separated, of {','.join(SECTIONS)} (ceilings always run)",
    )
    ap.add_argument(
        "--previous", help="an earlier run's gpu_bench.json: its rows for the skipped sections"
    )
    ap.add_argument("--previous-label", default="earlier run", help="how those rows are marked")
    args = ap.parse_args()
    wanted = {"ceilings", *(w.strip() for w in args.sections.split(",") if w.strip())}
    if wanted - set(SECTIONS):
        ap.error(f"unknown sections: {sorted(wanted - set(SECTIONS))}")
    if args.cpu:
        cpu_mode(args.quick)
        return 0
    budget = Budget(args.budget)
    import cupy as cp

    props = cp.cuda.runtime.getDeviceProperties(0)
    name = props.get("name", b"?")
    res: dict[str, Any] = {
        "device": name.decode() if isinstance(name, bytes) else str(name),
        "sms": props.get("multiProcessorCount"),
        "l2_MiB": (props.get("l2CacheSize") or 0) / 2**20,
        "memory_GiB": (props.get("totalGlobalMem") or 0) / 2**30,
        "cuda_runtime": cp.cuda.runtime.runtimeGetVersion(),
        "cuda_driver": cp.cuda.runtime.driverGetVersion(),
        "cupy": cp.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "quick": args.quick,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "sections": sorted(wanted),
        "times_s": {},
    }
    say(
        f"{res['device']}: {res['sms']} SMs, L2 {res['l2_MiB']:.0f} MiB, {res['memory_GiB']:.0f} GiB; CuPy {res['cupy']}"
    )
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)

    def save() -> None:
        (out_dir / "gpu_bench.json").write_text(json.dumps(res, indent=1, default=str) + "\n")

    sections: list[tuple[str, float, Callable[[], None]]] = [
        ("ceilings", 20, lambda: ceilings(cp, res, args.quick, knn="knn" in wanted)),
        ("parity", 40, lambda: parity(cp, res, args.quick, wanted)),
        ("agreement", 15, lambda: bench_agreement(cp, res, args.quick, res["bandwidth_GBps"])),
        ("knn", 30, lambda: bench_knn(cp, res, args.quick, res.get("matmul_TFLOPs", {}), res["bandwidth_GBps"], budget)),
        ("coherence", 15, lambda: bench_coherence(cp, res, args.quick, res.get("matmul_TFLOPs", {}), res["bandwidth_GBps"], budget)),
    ]  # fmt: skip
    failed = []

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)  # `timeout` stops us: still print the table
    for label, need, fn in sections:
        if label not in wanted:
            continue
        if label != "ceilings" and "bandwidth_GBps" not in res:
            res["bandwidth_GBps"] = float("nan")
        if not budget.allows(need, label, res):
            continue
        t = time.perf_counter()
        try:
            fn()
        except KeyboardInterrupt:
            res.setdefault("errors", {})[label] = "interrupted (time limit)"
            failed.append(label)
            say(f"section {label} interrupted")
            break
        except Exception as e:  # keep going: one broken section must not cost the others
            import traceback

            traceback.print_exc()
            res.setdefault("errors", {})[label] = f"{type(e).__name__}: {e}"
            failed.append(label)
            try:
                free(cp)
            except Exception:
                pass
        res["times_s"][label] = time.perf_counter() - t
        say(f"section {label}: {res['times_s'][label]:.1f} s")
        save()
    cpu = json.loads(CPU_JSON.read_text()) if CPU_JSON.exists() else None
    res["cpu_reference"] = cpu
    prev = json.loads(Path(args.previous).read_text()) if args.previous else None
    if prev is not None:
        res["previous"] = {"file": args.previous, "label": args.previous_label}
    save()
    bad = [k for k, v in res.get("parity", {}).items() if _failed(v)]
    print()
    print(f"## {res['device']} — {res['date']}, CuPy {res['cupy']}, CUDA runtime {res['cuda_runtime']}, "
          f"copy {res.get('bandwidth_GBps', float('nan')):,.0f} GB/s, matmul TFLOP/s "
          + ", ".join(f"{k} {v:.0f}" for k, v in res.get("matmul_TFLOPs", {}).items()))  # fmt: skip
    print(f"parity: {'all passed' if not bad else 'FAILED ' + ', '.join(bad)}; "
          f"errors: {res.get('errors', {}) or 'none'}; skipped: {res.get('skipped', []) or 'none'}")  # fmt: skip
    print(table(res, cpu, prev, args.previous_label))
    return 1 if bad or failed else 0


if __name__ == "__main__":
    sys.exit(main())
