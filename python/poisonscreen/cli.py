"""The ``poisonscreen`` command line.

Exit codes, for a pipeline to gate on (the README has the table):

- 0 — screened, nothing flagged (``split``, ``clusters``: done);
- 1 — screened, rows flagged (``--exit-zero`` turns this into 0);
- 2 — bad usage or settings (nothing was read);
- 3 — the input could not be read, held no record, or more than ``--max-failed`` of its rows
  failed to parse: it was not screened (``split``: the findings do not describe these files);
- 4 — internal error (a bug: the traceback is printed);
- 5 — could not finish for want of memory or disk, or an output could not be written;
- 130 / 143 — interrupted by SIGINT / SIGTERM (scratch files removed).

Only 0 and 1 mean the input was screened.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import traceback
from importlib import resources
from pathlib import Path
from typing import Any

from . import _paths, _process
from .exceptions import ConfigError, InputError, PoisonScreenError, ResourceError

EXIT_OK, EXIT_FLAGGED, EXIT_USAGE, EXIT_INPUT = 0, 1, 2, 3
EXIT_INTERNAL, EXIT_RESOURCE = 4, 5
EXIT_INTERRUPTED, EXIT_TERMINATED = _process.EXIT_INTERRUPTED, _process.EXIT_TERMINATED


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


def _int_at_least(low: int, high: int | None = None) -> Any:
    """An argparse type: an integer in ``low .. high``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low or (high is not None and value > high):
            bound = f"at least {low}" if high is None else f"in {low} .. {high}"
            raise argparse.ArgumentTypeError(f"must be {bound}, got {value}")
        return value

    return parse


def _number(low: float, high: float | None = None, *, open_low: bool = False) -> Any:
    """An argparse type: a finite number in ``low .. high`` (``open_low``: above ``low``)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if (
            not math.isfinite(value)
            or value < low
            or (open_low and value == low)
            or (high is not None and value > high)
        ):
            where = f"{'above' if open_low else 'at least'} {low:g}"
            if high is not None:
                where += f" and at most {high:g}"
            raise argparse.ArgumentTypeError(f"must be a number {where}, got {text}")
        return value

    return parse


def _preflight_out(out: str, inputs: list[str]) -> None:
    """Refuse an --out that is, holds or lies inside an input, or that holds other files, or
    that cannot be written, before any work is done."""
    _paths.check_apart("--out", out, [("an input", r) for r in _paths.input_roots(inputs)])
    target = _paths.check_out(out)
    parent = target.absolute().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        os.rmdir(tempfile.mkdtemp(prefix=f".{target.name}.probe-", dir=parent))
    except OSError as exc:
        raise ConfigError(f"cannot write --out {out!r}: {exc}") from exc


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
    for name in ("max_failed", "max_depth", "max_row_bytes"):
        if getattr(args, name) is not None:
            overrides[name] = getattr(args, name)
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
    _preflight_out(args.out, inputs)
    if args.engine == "ray":
        try:
            from .ray import scan as ray_scan
        except ImportError as e:
            raise ConfigError(f"--engine ray is not available: {e}") from e
        work_dir = args.work_dir or str(Path(args.out) / "_work")
        out_real, work_real = _paths.real(args.out), _paths.real(work_dir)
        if out_real in work_real.parents and work_real != out_real / "_work":
            raise ConfigError("--work-dir inside --out must be OUT/_work (the rest is replaced)")
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
        from .report import visible

        top = result.triggers.head(5)
        for row in top.iter_rows(named=True):
            line = (
                f"  trigger {row['trigger']!r} ({row['kind']}): score {row['score']:.2f}, "
                f"{row['support']} carriers — {row['response_pattern']}"
            )
            print(visible(line, multiline=False), file=sys.stderr)
    if s["rows_flagged"] and not args.exit_zero:
        return EXIT_FLAGGED
    return EXIT_OK


_CLUSTER_OUTPUTS = frozenset({"near_duplicates.parquet", "clusters.parquet"})


def _cmd_clusters(args: argparse.Namespace) -> int:
    import polars as pl

    from .features import near_duplicates
    from .io import read_corpus

    inputs = _inputs(args)
    _paths.check_apart("--out", args.out, [("an input", r) for r in _paths.input_roots(inputs)])
    _paths.check_out(args.out, _CLUSTER_OUTPUTS)
    corpus = read_corpus(inputs, mapping=_mapping(args.map))
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
    rows = corpus.select("row_id", "source", "line", "error").join(
        clusters, on="row_id", how="left"
    )
    summary = (
        clusters.filter(pl.col("cluster_size") > 1)
        .group_by("cluster_id")
        .agg(pl.len().alias("size"), pl.col("row_id").head(5).alias("example_rows"))
        .sort(["size", "cluster_id"], descending=[True, False])
    )
    with _paths.staged_dir(out, _CLUSTER_OUTPUTS) as stage:
        rows.write_parquet(stage / "near_duplicates.parquet")
        summary.write_parquet(stage / "clusters.parquet")
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
            "campaigns, and anomalous responses. Reads JSONL, JSON arrays, Parquet, CSV and TSV in "
            "the common finetuning schemas (chat messages, Alpaca, prompt/completion, "
            "question/answer, Human:/Assistant: dialogues, text + label classification rows, "
            "plain text)."
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
        "clusters.parquet, report.html and, last, summary.json into a folder beside --out that then "
        "replaces --out whole. Exit code 0: screened, nothing flagged; 1: screened, rows flagged; "
        "2: bad usage; 3: input unreadable, empty, or more than --max-failed of its rows failed to "
        "parse (not screened); 4: internal error; 5: out of memory or disk, or --out not writable; "
        "130/143: interrupted.",
    )
    common(s)
    s.add_argument("--out", "-o", required=True, metavar="DIR", help="output directory (created)")
    s.add_argument(
        "--threshold",
        type=_number(0.0, 1.0, open_low=True),
        default=0.5,
        help="flag rows scoring at least this (default 0.5)",
    )
    s.add_argument(
        "--seed",
        type=_int_at_least(0, 2**64 - 1),
        default=0,
        help="seed of every randomised step (default 0)",
    )
    s.add_argument(
        "--min-support",
        type=_int_at_least(2),
        default=None,
        help="fewest carriers for a trigger (default 15)",
    )
    s.add_argument(
        "--threads",
        type=_int_at_least(1),
        default=None,
        help="worker threads (default: all cores)",
    )
    s.add_argument(
        "--max-failed",
        type=_number(0.0, 1.0),
        default=None,
        metavar="FRACTION",
        help="largest share of rows that may fail to parse for the input to count as screened "
        "(default 0.01); above it, or when no row parses, exit 3",
    )
    s.add_argument(
        "--max-depth",
        type=_int_at_least(2),
        default=None,
        metavar="N",
        help="a record nested deeper fails with a reason (default 64)",
    )
    s.add_argument(
        "--max-row-bytes",
        type=_int_at_least(1),
        default=None,
        metavar="N",
        help="a longer record fails with a reason; a longer JSON Lines line is not read into "
        "memory (default 67108864, 64 MiB)",
    )
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
        type=_number(0.0),
        default=None,
        metavar="MB",
        help="most memory for the prompts' token hashes kept for trigger mining (default 2048); "
        "a corpus whose prompts need more is mined from the text, slower (0: never keep it)",
    )
    s.add_argument(
        "--verify-text-mb",
        type=_number(0.0, open_low=True),
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
        type=_int_at_least(1),
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
        "--threshold",
        type=_number(0.0, 1.0, open_low=True),
        default=0.8,
        help="Jaccard similarity threshold (default 0.8)",
    )
    c.add_argument(
        "--field",
        choices=["prompt", "response", "both"],
        default="both",
        help="text to compare (default both)",
    )
    c.add_argument(
        "--num-perm",
        type=_int_at_least(1),
        default=128,
        help="MinHash permutations (default 128)",
    )
    c.add_argument(
        "--ngram", type=_int_at_least(1), default=5, help="word n-gram shingle size (default 5)"
    )
    c.add_argument("--seed", type=_int_at_least(0, 2**64 - 1), default=0)
    c.add_argument(
        "--verify",
        choices=["exact", "signature", "none"],
        default="exact",
        help="check candidate pairs (default exact Jaccard)",
    )
    c.add_argument("--threads", type=_int_at_least(1), default=None)
    c.set_defaults(func=_cmd_clusters)

    sp = sub.add_parser(
        "split",
        help="write clean and quarantined rows in their original format, using scan findings",
        description="Split the inputs into clean and quarantined rows (flagged or unparseable), each "
        "file written in its original format under --clean and --quarantine; checks that clean + "
        "quarantined = input, row for row. Refuses findings whose recorded input fingerprints "
        "(size, SHA-256) differ from the files given (exit 3), and outputs that are, hold or lie "
        "inside an input, the findings or each other (exit 2).",
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
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # bad usage (2), or --help / --version (0)
        return e.code if isinstance(e.code, int) else EXIT_USAGE
    with _process.handle_signals():
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    say = _process.print_line
    try:
        return int(args.func(args))
    except InputError as e:
        say(f"poisonscreen: input error: {e}")
        return EXIT_INPUT
    except ResourceError as e:
        say(f"poisonscreen: {e}")
        return EXIT_RESOURCE
    except (ConfigError, PoisonScreenError) as e:
        say(f"poisonscreen: {e}")
        return EXIT_USAGE
    except KeyboardInterrupt:  # where no watcher runs (not the main thread)
        _process.remove_registered()
        say("poisonscreen: interrupted (SIGINT)")
        return EXIT_INTERRUPTED
    except (SystemExit, GeneratorExit):
        raise
    except BaseException as e:  # incl. a panic of the compiled core (a BaseException)
        err = _process.resource_error(e)
        if err is not None:
            say(f"poisonscreen: {err}")
            return EXIT_RESOURCE
        if isinstance(e, OSError):  # a file the run had to write or read outside the input
            say(f"poisonscreen: {e}")
            return EXIT_RESOURCE
        traceback.print_exc()
        say(
            f"poisonscreen: internal error: {type(e).__name__}: {e} (a bug; please report it "
            "with the traceback above)"
        )
        return EXIT_INTERNAL


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
