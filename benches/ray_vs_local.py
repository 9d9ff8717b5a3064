"""The Ray engine against the local engine on N haystack-based rows, and the per-stage costs
behind the README's sizing guide.

    python benches/ray_vs_local.py --rows 1000000 [--shards 8] [--cpus 2] [--out results.json]

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
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], _ray_rss())
            time.sleep(0.5)

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
    result.rows.write_parquet(Path(out) / f"{engine}_rows.parquet")
    result.triggers.write_parquet(Path(out) / f"{engine}_triggers.parquet")
    result.clusters.write_parquet(Path(out) / f"{engine}_clusters.parquet")
    info = {
        "engine": engine,
        "seconds": round(wall, 2),
        "stage_seconds": result.summary["seconds"],
        "peak_rss_driver_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--shards", type=int, default=8)
    ap.add_argument("--cpus", type=int, default=2)
    ap.add_argument("--partitions", type=int, default=None)
    ap.add_argument("--out", default=None, help="write the results JSON here too")
    ap.add_argument("--child", nargs=6, help=argparse.SUPPRESS)
    args = ap.parse_args()
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
