"""The ``poisonscreen`` command line.

Exit codes (``scan``): 0 — ran, nothing flagged; 1 — ran, rows flagged (use ``--exit-zero`` to get
0 anyway); 2 — bad usage or settings; 3 — the input could not be read. Other commands exit 0 on
success, 2 or 3 on errors.
"""

from __future__ import annotations

import argparse
import json
import sys
from importlib import resources
from pathlib import Path
from typing import Any

from .exceptions import ConfigError, InputError, PoisonScreenError

EXIT_OK, EXIT_FLAGGED, EXIT_USAGE, EXIT_INPUT = 0, 1, 2, 3


def demo_path() -> Path:
    """The bundled demo corpus (the project's own synthetic data with a few kinds of poison)."""
    return Path(str(resources.files("poisonscreen") / "data" / "demo.jsonl"))


def _mapping(pairs: list[str] | None) -> dict[str, str] | None:
    if not pairs:
        return None
    out = {}
    for p in pairs:
        key, sep, value = p.partition("=")
        if not sep or key not in ("prompt", "response", "system") or not value:
            raise ConfigError(
                f"--map takes prompt=FIELD, response=FIELD or system=FIELD, got {p!r}"
            )
        out[key] = value
    return out


def _inputs(args: argparse.Namespace) -> list[str]:
    inputs = list(args.inputs)
    if getattr(args, "demo", False):
        inputs.append(str(demo_path()))
    if not inputs:
        raise ConfigError("give at least one INPUT (file, glob or directory), or --demo")
    return inputs


def _cmd_scan(args: argparse.Namespace) -> int:
    from .scan import scan

    overrides: dict[str, Any] = {"seed": args.seed, "flag_threshold": args.threshold}
    if args.min_support is not None:
        overrides["min_support"] = args.min_support
    if args.threads is not None:
        overrides["threads"] = args.threads
    if args.device != "auto":
        overrides["device"] = args.device
    if args.token_table_mb is not None:
        overrides["token_table_mb"] = args.token_table_mb
    if args.verify_text_mb is not None:
        overrides["verify_text_mb"] = args.verify_text_mb
    if args.no_spill or args.spill_dir:
        if args.no_spill and args.spill_dir:
            raise ConfigError("--no-spill and --spill-dir exclude each other")
        overrides["spill"] = not args.no_spill
        overrides["spill_dir"] = args.spill_dir
    inputs = _inputs(args)
    if args.engine == "ray":
        try:
            from .ray import scan as ray_scan
        except ImportError as e:
            raise ConfigError(f"--engine ray is not available: {e}") from e
        work_dir = args.work_dir or str(Path(args.out) / "_work")
        result = ray_scan(
            inputs,
            address=args.ray_address,
            mapping=_mapping(args.map),
            work_dir=work_dir,
            resume=args.resume,
            partitions=args.partitions,
            progress=not args.quiet,
            **overrides,
        )
    else:
        if args.resume or args.work_dir or args.partitions:
            raise ConfigError("--resume, --work-dir and --partitions need --engine ray")
        result = scan(inputs, mapping=_mapping(args.map), progress=not args.quiet, **overrides)
    out = result.write(args.out, report=not args.no_report)
    s = result.summary
    if args.json:
        print(json.dumps({**s, "out": str(out)}, sort_keys=True))
    elif not args.quiet:
        print(
            f"poisonscreen: {s['rows_read']} rows read, {s['rows_failed']} failed to parse, "
            f"{s['rows_flagged']} flagged, {s['triggers']} trigger(s), {s['clusters']} cluster(s) "
            f"-> {out}",
            file=sys.stderr,
        )
        top = result.triggers.head(5)
        for row in top.iter_rows(named=True):
            print(
                f"  trigger {row['trigger']!r} ({row['kind']}): score {row['score']:.2f}, "
                f"{row['support']} carriers — {row['response_pattern']}",
                file=sys.stderr,
            )
    if s["rows_flagged"] and not args.exit_zero:
        return EXIT_FLAGGED
    return EXIT_OK


def _cmd_clusters(args: argparse.Namespace) -> int:
    import polars as pl

    from .features import near_duplicates
    from .io import read_corpus

    corpus = read_corpus(_inputs(args), mapping=_mapping(args.map))
    column = {
        "prompt": pl.col("prompt"),
        "response": pl.col("response"),
        "both": pl.concat_str(["prompt", "response"], separator="\n", ignore_nulls=True),
    }[args.field]
    clusters = near_duplicates(
        corpus,
        column,
        threshold=args.threshold,
        num_perm=args.num_perm,
        ngram=args.ngram,
        seed=args.seed,
        verify=args.verify,
        threads=args.threads,
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = corpus.select("row_id", "source", "line", "error").join(
        clusters, on="row_id", how="left"
    )
    rows.write_parquet(out / "near_duplicates.parquet")
    summary = (
        clusters.filter(pl.col("cluster_size") > 1)
        .group_by("cluster_id")
        .agg(pl.len().alias("size"), pl.col("row_id").head(5).alias("example_rows"))
        .sort(["size", "cluster_id"], descending=[True, False])
    )
    summary.write_parquet(out / "clusters.parquet")
    dup_rows = int((clusters["cluster_size"] > 1).sum())
    msg = {
        "rows": corpus.height,
        "clusters": summary.height,
        "rows_in_clusters": dup_rows,
        "out": str(out),
    }
    if args.json:
        print(json.dumps(msg, sort_keys=True))
    elif not args.quiet:
        print(
            f"poisonscreen: {corpus.height} rows, {summary.height} near-duplicate clusters "
            f"covering {dup_rows} rows -> {out}",
            file=sys.stderr,
        )
    return EXIT_OK


def _cmd_split(args: argparse.Namespace) -> int:
    from .split import split

    report = split(
        _inputs(args),
        findings=args.findings,
        clean=args.clean,
        quarantine=args.quarantine,
        mapping=_mapping(args.map),
    )
    if args.json:
        print(json.dumps(report, sort_keys=True))
    elif not args.quiet:
        print(
            f"poisonscreen: {report['rows']} rows -> {report['clean']} clean, "
            f"{report['quarantined']} quarantined (checked row for row)",
            file=sys.stderr,
        )
    return EXIT_OK


def _cmd_demo(args: argparse.Namespace) -> int:
    print(demo_path())
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="poisonscreen",
        description=(
            "Screen an LLM finetuning corpus for data poisoning: trigger phrases whose responses "
            "collapse or turn to gibberish, conditional triggers inside templates, anomalous "
            "campaigns, and anomalous responses. Reads JSONL, JSON arrays, Parquet and CSV in the "
            "common finetuning schemas (chat messages, Alpaca, prompt/completion, question/answer, "
            "Human:/Assistant: dialogues, plain text)."
        ),
        epilog="Start with:  poisonscreen scan --demo --out out/demo   then open out/demo/report.html",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from . import __version__

    p.add_argument("--version", action="version", version=f"poisonscreen {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def common(sp: argparse.ArgumentParser) -> None:
        sp.add_argument(
            "inputs",
            nargs="*",
            metavar="INPUT",
            help="files, globs or directories, read in the order given",
        )
        sp.add_argument(
            "--demo", action="store_true", help="add the bundled demo corpus to the inputs"
        )
        sp.add_argument(
            "--map",
            action="append",
            metavar="ROLE=FIELD",
            help="use FIELD of each record as prompt/response/system instead of auto-detecting (repeatable)",
        )
        sp.add_argument(
            "--quiet", "-q", action="store_true", help="no progress bars or summary on stderr"
        )
        sp.add_argument(
            "--json", action="store_true", help="print a JSON summary on stdout (for pipelines)"
        )

    s = sub.add_parser(
        "scan",
        help="screen a corpus and write findings (rows/triggers/clusters Parquet, summary.json, report.html)",
        description="Screen a corpus. Writes rows.parquet (one row per input row), triggers.parquet, "
        "clusters.parquet, summary.json and report.html into --out. Exit code 0: nothing flagged; "
        "1: rows flagged; 2: bad usage; 3: unreadable input.",
    )
    common(s)
    s.add_argument("--out", "-o", required=True, metavar="DIR", help="output directory (created)")
    s.add_argument(
        "--threshold", type=float, default=0.5, help="flag rows scoring at least this (default 0.5)"
    )
    s.add_argument("--seed", type=int, default=0, help="seed of every randomised step (default 0)")
    s.add_argument(
        "--min-support", type=int, default=None, help="fewest carriers for a trigger (default 15)"
    )
    s.add_argument("--threads", type=int, default=None, help="worker threads (default: all cores)")
    s.add_argument(
        "--device",
        choices=["auto", "cpu", "gpu"],
        default="auto",
        help="similarity stage on the GPU (CuPy, pip install poisonscreen[gpu]) or the CPU; "
        "auto: the GPU when one is found (default auto)",
    )
    s.add_argument(
        "--spill-dir",
        default=None,
        metavar="DIR",
        help="where the corpus text is spilled to a memory-mapped scratch file, removed when the "
        "scan ends (default: the system temporary directory; with --engine ray, on the driver)",
    )
    s.add_argument(
        "--no-spill",
        action="store_true",
        help="hold the corpus text in memory instead (scan memory then grows with text size)",
    )
    s.add_argument(
        "--token-table-mb",
        type=float,
        default=None,
        metavar="MB",
        help="most memory for the prompts' token hashes kept for trigger mining (default 2048); "
        "a corpus whose prompts need more is mined from the text, slower (0: never keep it)",
    )
    s.add_argument(
        "--verify-text-mb",
        type=float,
        default=None,
        metavar="MB",
        help="most text whose shingle sets the exact near-duplicate check holds at once "
        "(default 512; about 1.5 bytes of memory per byte); more is checked in blocks, slower",
    )
    s.add_argument("--no-report", action="store_true", help="skip report.html")
    s.add_argument("--exit-zero", action="store_true", help="exit 0 even when rows are flagged")
    s.add_argument(
        "--engine", choices=["local", "ray"], default="local", help="where to run (default local)"
    )
    s.add_argument(
        "--ray-address",
        default=None,
        help="Ray cluster address (default: $RAY_ADDRESS or a local cluster)",
    )
    s.add_argument(
        "--work-dir",
        default=None,
        metavar="DIR",
        help="--engine ray: stage outputs (default OUT/_work); a fresh run clears it",
    )
    s.add_argument(
        "--resume",
        action="store_true",
        help="--engine ray: reuse the stages an earlier run on the same input and settings "
        "finished in --work-dir (refused if the work dir holds another input's stages)",
    )
    s.add_argument(
        "--partitions",
        type=int,
        default=None,
        help="--engine ray: hash partitions per shuffle (default one per 250,000 rows)",
    )
    s.set_defaults(func=_cmd_scan)

    c = sub.add_parser(
        "clusters",
        help="near-duplicate clusters by MinHash LSH (Parquet)",
        description="Near-duplicate clustering: writes near_duplicates.parquet (one row per input row "
        "with cluster_id, cluster_size, partner, similarity) and clusters.parquet (clusters of 2+).",
    )
    common(c)
    c.add_argument("--out", "-o", required=True, metavar="DIR", help="output directory (created)")
    c.add_argument(
        "--threshold", type=float, default=0.8, help="Jaccard similarity threshold (default 0.8)"
    )
    c.add_argument(
        "--field",
        choices=["prompt", "response", "both"],
        default="both",
        help="text to compare (default both)",
    )
    c.add_argument("--num-perm", type=int, default=128, help="MinHash permutations (default 128)")
    c.add_argument("--ngram", type=int, default=5, help="word n-gram shingle size (default 5)")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument(
        "--verify",
        choices=["exact", "signature", "none"],
        default="exact",
        help="check candidate pairs (default exact Jaccard)",
    )
    c.add_argument("--threads", type=int, default=None)
    c.set_defaults(func=_cmd_clusters)

    sp = sub.add_parser(
        "split",
        help="write clean and quarantined rows in their original format, using scan findings",
        description="Split the inputs into clean and quarantined rows (flagged or unparseable), each "
        "file written in its original format under --clean and --quarantine; checks that clean + "
        "quarantined = input, row for row.",
    )
    common(sp)
    sp.add_argument(
        "--findings",
        required=True,
        metavar="DIR",
        help="the --out directory of a scan of the same inputs",
    )
    sp.add_argument("--clean", required=True, metavar="DIR", help="directory for clean rows")
    sp.add_argument(
        "--quarantine", required=True, metavar="DIR", help="directory for quarantined rows"
    )
    sp.set_defaults(func=_cmd_split)

    d = sub.add_parser("demo", help="print the path of the bundled demo corpus")
    d.set_defaults(func=_cmd_demo, quiet=False, json=False)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except InputError as e:
        print(f"poisonscreen: input error: {e}", file=sys.stderr)
        return EXIT_INPUT
    except (ConfigError, PoisonScreenError) as e:
        print(f"poisonscreen: {e}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
