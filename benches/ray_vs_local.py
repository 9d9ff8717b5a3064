"""The Ray engine against the local engine on N haystack-based rows, and the per-stage costs
behind the README's sizing guide.

    python benches/ray_vs_local.py --rows 1000000 [--shards 8] [--cpus 2] [--out results.json]
    python benches/ray_vs_local.py --sizing results.json [--target-rows 1e9] [--cores 16] ...

The corpus is ``scan_speed.corpus(N)`` (haystack rows cycled to N, each cycle's prompts made
distinct, BadNets poison at 0.5%), written as ``--shards`` JSONL files that both engines read.
Each engine runs in a fresh process: the local scan, then the Ray scan on a new local Ray cluster
of ``--cpus`` CPUs. Reported per engine: wall time, per-stage seconds, peak memory (the driver's
high-water RSS, and for Ray the peak of the summed RSS of the driver and every Ray process,
sampled every 0.5 s), and whether the outputs are equal. For the Ray run also, per stage: the
bytes it keeps in the work directory (Parquet on disk, and in Arrow memory when read back) per
input row, and seconds per million rows per core (stage seconds x cores / millions of rows).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def _write_corpus(rows: int, shards: int, d: Path) -> list[str]:
    import numpy as np
    import polars as pl
    from scan_speed import corpus

    df = corpus(rows)
    paths = []
    for i, idx in enumerate(np.array_split(np.arange(df.height), shards)):
        p = d / f"part{i:03d}.jsonl"
        df[idx].select("prompt", "response").write_ndjson(p)
        paths.append(str(p))
    text_mb = (df["prompt"].str.len_bytes().sum() + df["response"].str.len_bytes().sum()) / 1e6
    del pl
    return paths, round(float(text_mb), 1)  # type: ignore[return-value]


def _ray_rss() -> int:
    """Summed RSS of this process and every Ray process of this machine (bytes)."""
    import psutil

    total = 0
    for p in psutil.process_iter(["name", "cmdline", "memory_info"]):
        try:
            cmd = " ".join(p.info["cmdline"] or [])
            if p.pid == os.getpid() or "ray" in (p.info["name"] or "") or "ray::" in cmd:
                total += p.info["memory_info"].rss
            elif "raylet" in cmd or "gcs_server" in cmd or "ray/_private" in cmd:
                total += p.info["memory_info"].rss
        except (KeyError, TypeError, AttributeError):
            continue
    return total


def _child(engine: str, paths: list[str], work: str, out: str, cpus: int, parts: int) -> None:
    """One engine in this (fresh) process; writes its measurements and outputs to ``out``."""
    import poisonscreen as ps

    peak = [0]
    anon = [0]
    stop = threading.Event()
    done = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], _ray_rss())
            time.sleep(0.5)

    def sample_anon() -> None:  # this process's memory not backed by a file (mapped text is)
        while not done.is_set():
            with open("/proc/self/status") as fh:
                for line in fh:
                    if line.startswith("RssAnon:"):
                        anon[0] = max(anon[0], int(line.split()[1]) * 1024)
            time.sleep(0.05)

    threading.Thread(target=sample_anon, daemon=True).start()
    t0 = time.perf_counter()
    if engine == "local":
        result = ps.scan(paths, threads=cpus)
        wall = time.perf_counter() - t0
        extra: dict = {}
    else:
        import ray

        from poisonscreen import ray as psray

        ray.init(
            num_cpus=cpus,
            include_dashboard=False,
            object_store_memory=6 * 1024**3,
            log_to_driver=False,
        )
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        t0 = time.perf_counter()
        result = psray.scan(paths, work_dir=work, partitions=parts)
        wall = time.perf_counter() - t0
        stop.set()
        extra = {"peak_rss_all_ray_mb": round(peak[0] / 2**20), "stages": _stage_costs(work)}
        ray.shutdown()
    done.set()
    result.rows.write_parquet(Path(out) / f"{engine}_rows.parquet")
    result.triggers.write_parquet(Path(out) / f"{engine}_triggers.parquet")
    result.clusters.write_parquet(Path(out) / f"{engine}_clusters.parquet")
    info = {
        "engine": engine,
        "seconds": round(wall, 2),
        "stage_seconds": result.summary["seconds"],
        "peak_rss_driver_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "peak_anon_driver_mb": round(anon[0] / 2**20),
        "rows_flagged": result.summary["rows_flagged"],
        **extra,
    }
    (Path(out) / f"{engine}.json").write_text(json.dumps(info, indent=2))


def _stage_costs(work: str) -> dict:
    """Per stage folder: Parquet bytes on disk, Arrow bytes in memory, rows, and its marker."""
    import pyarrow.parquet as pq

    out = {}
    for d in sorted(Path(work).iterdir()):
        if not d.is_dir():
            continue
        files = list(d.rglob("*.parquet"))
        disk = sum(f.stat().st_size for f in files)
        mem = 0
        rows = 0
        for f in files:
            md = pq.ParquetFile(f).metadata
            rows += md.num_rows
            mem += sum(
                md.row_group(i).column(j).total_uncompressed_size
                for i in range(md.num_row_groups)
                for j in range(md.num_columns)
            )
        marker = d / "_DONE.json"
        out[d.name] = {
            "parquet_bytes": disk,
            "uncompressed_bytes": mem,
            "rows": rows,
            "info": json.loads(marker.read_text()) if marker.exists() else None,
        }
    return out


_DISTRIBUTED = ("read", "references", "features", "pairs", "edges", "components")
_DRIVER = ("assemble", "triggers", "conditional", "campaigns", "anomalies", "combine")


def _gb(x: float) -> str:
    return f"{x / 1e9:,.1f} GB" if x < 1e12 else f"{x / 1e12:,.2f} TB"


def sizing(res: dict, target: float, cores: int, worker_mem_gb: float, hours: float) -> str:
    """The sizing guide (markdown) for ``target`` rows from a results JSON of this script."""
    n = res["rows"]
    m = n / 1e6
    scale = target / n
    per_core = res["ray_core_seconds_per_million_rows"]
    secs = res["ray"]["stage_seconds"]
    lines = [
        f"Measured: {n:,} rows ({res['text_mb']:,} MB of text), {res['cpus']} CPUs, "
        f"{res['partitions']} partitions; local {res['local']['seconds']:,} s, Ray "
        f"{res['ray']['seconds']:,} s (overhead x{res['overhead_ratio']}); outputs equal: "
        f"{res['outputs_equal']}. Target: {target:,.0f} rows = {scale:,.0f} x the measured run.",
        "",
        "| stage | where | core-s per 1M rows (measured) | core-s for the target | kept per row "
        "(Parquet) | kept for the target |",
        "|---|---|---:|---:|---:|---:|",
    ]
    dist_core = 0.0
    kept = 0.0
    stage_bytes = res["ray_stage_bytes"]
    for s in _DISTRIBUTED + _DRIVER:
        if s not in per_core:
            continue
        pc = per_core[s]
        where = "workers" if s in _DISTRIBUTED else "driver"
        tgt = pc * target / 1e6
        b = stage_bytes.get(s, {}).get("parquet_bytes_per_row")
        kb = f"{b:,.0f} B" if b is not None else "—"
        kt = _gb(b * target) if b is not None else "—"
        if b is not None:
            kept += b * target
        if s in _DISTRIBUTED:
            dist_core += tgt
        lines.append(f"| {s} | {where} | {pc:,.0f} | {tgt:,.3g} | {kb} | {kt} |")
    driver_s = sum(secs.get(s, 0.0) for s in _DRIVER) * scale
    need_cores = dist_core / (hours * 3600)
    workers = max(1, math.ceil(need_cores / cores))
    text_b = res["text_mb"] * 1e6 / n
    # the pairs stage shuffles one key row per (row, band) carrying the row's text (the response
    # for one clustering, the masked prompt for the other): at most max(bands) x its text + 26 B
    from poisonscreen.ray import _clustering
    from poisonscreen.scan import ScanConfig

    bands = {w: _clustering(ScanConfig(), w)[1] for w in ("resp", "tmpl")}  # the default settings
    shuffle = max(bands.values()) * (text_b + 26) * target
    # memory the driver allocated (RssAnon); older results have only its RSS, which also counts
    # resident pages of the memory-mapped scratch file that the kernel can drop
    mem_key = "peak_anon_driver_mb" if "peak_anon_driver_mb" in res["ray"] else "peak_rss_driver_mb"
    mem_name = "allocated memory (RssAnon)" if mem_key == "peak_anon_driver_mb" else "RSS"
    driver_rss = res["ray"][mem_key] * 2**20 / n
    lines += [
        "",
        f"- **Distributed stages**: {dist_core:,.3g} core-s. To finish them in {hours:g} h: "
        f"{dist_core:,.3g} / {hours * 3600:,.0f} s = {need_cores:,.0f} cores = **{workers:,} "
        f"workers of {cores} cores**.",
        f"- **Work directory** (every stage's Parquet, kept for --resume): sum of the column "
        f"above = **{_gb(kept)}**.",
        f"- **Shuffle volume** of the pairs stage (a key row per row and band, with the row's "
        f"text): at most {max(bands.values())} bands x ({text_b:,.0f} B text + 26 B) x "
        f"{target:,.0f} rows = **{_gb(shuffle)}**; with {workers:,} workers that is "
        f"{_gb(shuffle / workers)} per worker (spilled to disk beyond {worker_mem_gb:g} GB x "
        f"30% object store). The verified pairs it keeps are in the table above.",
        f"- **Driver** (`assemble` + detectors, one machine): {sum(secs.get(s, 0.0) for s in _DRIVER):,.0f} "
        f"s at {m:g}M rows x {scale:,.0f} = **{driver_s / 3600:,.1f} h** if linear, and a peak "
        f"{mem_name} of {res['ray'][mem_key]:,} MB / {n:,} rows = {driver_rss:,.0f} B per "
        f"row x {target:,.0f} = **{_gb(driver_rss * target)}** of driver memory.",
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--shards", type=int, default=8)
    ap.add_argument("--cpus", type=int, default=2)
    ap.add_argument("--partitions", type=int, default=None)
    ap.add_argument("--out", default=None, help="write the results JSON here too")
    ap.add_argument("--child", nargs=6, help=argparse.SUPPRESS)
    ap.add_argument("--sizing", default=None, help="print the sizing guide from this results JSON")
    ap.add_argument("--target-rows", type=float, default=1e9)
    ap.add_argument("--cores", type=int, default=16, help="cores per worker (sizing)")
    ap.add_argument("--worker-mem-gb", type=float, default=64.0, help="memory per worker (sizing)")
    ap.add_argument("--hours", type=float, default=4.0, help="wall time to aim for (sizing)")
    args = ap.parse_args()
    if args.sizing:
        res = json.loads(Path(args.sizing).read_text())
        print(sizing(res, args.target_rows, args.cores, args.worker_mem_gb, args.hours))
        return
    if args.child:
        engine, paths_json, work, out, cpus, parts = args.child
        _child(engine, json.loads(paths_json), work, out, int(cpus), int(parts))
        return

    with tempfile.TemporaryDirectory(prefix="ps-ray-bench-") as tmp:
        tmpd = Path(tmp)
        t0 = time.perf_counter()
        paths, text_mb = _write_corpus(args.rows, args.shards, tmpd)
        build = time.perf_counter() - t0
        parts = args.partitions or max(2, -(-args.rows // 250_000))
        results = {}
        for engine in ("local", "ray"):
            cmd = [
                sys.executable,
                __file__,
                "--child",
                engine,
                json.dumps(paths),
                str(tmpd / "work"),
                str(tmpd),
                str(args.cpus),
                str(parts),
            ]
            subprocess.run(cmd, check=True)
            results[engine] = json.loads((tmpd / f"{engine}.json").read_text())

        import polars as pl

        same = all(
            pl.read_parquet(tmpd / f"local_{n}.parquet").equals(
                pl.read_parquet(tmpd / f"ray_{n}.parquet"), null_equal=True
            )
            for n in ("rows", "triggers", "clusters")
        )
        n = args.rows
        ray_res = results["ray"]
        costs = {}
        for stage, c in ray_res["stages"].items():
            costs[stage] = {
                "parquet_bytes_per_row": round(c["parquet_bytes"] / n, 1),
                "arrow_bytes_per_row": round(c["uncompressed_bytes"] / n, 1),
                "rows": c["rows"],
                "info": c["info"],
            }
        per_core = {
            s: round(sec * args.cpus / (n / 1e6), 1) for s, sec in ray_res["stage_seconds"].items()
        }
        report = {
            "rows": n,
            "text_mb": text_mb,
            "shards": args.shards,
            "cpus": args.cpus,
            "partitions": parts,
            "corpus_build_seconds": round(build, 1),
            "local": results["local"],
            "ray": {k: v for k, v in ray_res.items() if k != "stages"},
            "overhead_ratio": round(ray_res["seconds"] / results["local"]["seconds"], 2),
            "outputs_equal": same,
            "ray_stage_bytes": costs,
            "ray_core_seconds_per_million_rows": per_core,
            "machine": {"cpus_visible": os.cpu_count(), "platform": sys.platform},
        }
        text = json.dumps(report, indent=2)
        print(text)
        if args.out:
            Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
