"""The screening job: find poisoned rows, say why, name the trigger.

Stages, each consuming and producing polars (Arrow) tables so that they can run on other engines:

1. ``read``      — :func:`poisonscreen.io.read_corpus`: one row per input record, failed ones kept.
2. ``features``  — per-row features from the Rust core: response statistics, bigram familiarity,
   response clusters (near-identical responses) and prompt template clusters (MinHash LSH on the
   digit-masked prompt).
3. ``detectors`` — :mod:`poisonscreen.detectors`: triggers, conditional triggers in templates,
   campaigns, anomalous responses. Each returns a table of findings and per-row hits.
4. ``combine``   — one score per row (the strongest hit), a ``flagged`` decision, reasons.

:func:`resolve_config`, :func:`detect` and :func:`make_result` are shared with the Ray engine
(:mod:`poisonscreen.ray`), which computes the features on Ray Data and then runs the same
detectors on the driver, so both engines give the same output.
"""

from __future__ import annotations

import atexit
import ctypes
import ctypes.util
import datetime
import os
import platform
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

from . import __version__, _paths, _process
from . import detectors as det
from .config import ScanConfig
from .exceptions import ConfigError, InputError
from .io import CORPUS_SCHEMA, iter_corpus, read_corpus, scan_sources

__all__ = [
    "ROWS_SCHEMA",
    "RUN_METADATA_KEY",
    "ScanConfig",
    "ScanResult",
    "detect",
    "make_result",
    "resolve_config",
    "scan",
]

ROWS_SCHEMA: dict[str, Any] = {
    "row_id": pl.UInt64,
    "score": pl.Float64,
    "flagged": pl.Boolean,
    "reasons": pl.List(pl.String),
    "trigger": pl.String,
    "cluster_id": pl.UInt64,
    "source": pl.String,
    "line": pl.UInt64,
    "error": pl.String,
}


#: the key of rows.parquet's schema metadata holding the run: run_id, inputs (fingerprints)
#: and max_row_bytes, which ``split`` checks before it trusts the rows
RUN_METADATA_KEY = "poisonscreen.run"


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


@dataclass
class ScanResult:
    """What a scan found. ``rows`` has one row per input row, in input order."""

    rows: pl.DataFrame
    triggers: pl.DataFrame
    clusters: pl.DataFrame
    summary: dict[str, Any]
    corpus: pl.DataFrame = field(repr=False)

    @property
    def flagged(self) -> pl.DataFrame:
        """The flagged rows joined with their text, most suspicious first."""
        return (
            self.rows.filter(pl.col("flagged"))
            .join(self.corpus.select("row_id", "prompt", "response"), on="row_id", how="left")
            .sort(["score", "row_id"], descending=[True, False])
        )

    def write(self, out: str | Path, *, report: bool = True) -> Path:
        """Write rows/triggers/clusters Parquet, summary.json and report.html into ``out``.

        The files are written into a hidden folder beside ``out``, summary.json last (with
        ``"complete": true``), and that folder then replaces ``out`` whole
        (:func:`poisonscreen._paths.staged_dir`): files of an earlier scan never remain beside
        new ones, and a reader sees the old output or the new one. ``out`` must be new, empty,
        or hold only an earlier scan's output, and may not be, hold or lie inside an input."""
        out = Path(out)
        roots = [Path(r) for r in self.summary.get("input_roots", [])]
        _paths.check_apart("--out", out, [("an input", r) for r in roots])
        run = {
            "run_id": self.summary.get("run_id"),
            "inputs": self.summary.get("inputs"),
            "max_row_bytes": self.summary.get("settings", {}).get("max_row_bytes"),
        }
        with _paths.staged_dir(out) as stage:
            rows = self.rows.to_arrow()
            metadata = {**(rows.schema.metadata or {}), RUN_METADATA_KEY.encode(): json_bytes(run)}
            import pyarrow.parquet as pq

            pq.write_table(rows.replace_schema_metadata(metadata), stage / "rows.parquet",
                           compression="zstd")  # fmt: skip
            self.triggers.write_parquet(stage / "triggers.parquet")
            self.clusters.write_parquet(stage / "clusters.parquet")
            if report:
                from .report import write_report

                write_report(self, stage / "report.html")
            outputs = {}
            for f in sorted(stage.iterdir()):
                with open(f, "rb") as fh:
                    os.fsync(fh.fileno())
                outputs[f.name] = f.stat().st_size
            # written last: its presence, complete, says every file above is whole
            summary = {**self.summary, "complete": True, "outputs": outputs}
            _paths.write_json(stage / "summary.json", summary)
        return out


def _load_malloc_trim() -> Any:
    """glibc's ``malloc_trim``, or ``None`` where the C library has none (musl, macOS)."""
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None


_malloc_trim = _load_malloc_trim()


def release_memory() -> None:
    """Hand memory that a stage freed back to the system. The Rust core allocates with the C
    library's malloc, and glibc keeps freed small blocks for reuse, so without this a stage's
    freed token tables and hash arrays stay resident through every later stage."""
    if _malloc_trim is not None:
        _malloc_trim(0)
    pa.default_memory_pool().release_unused()


class _Timer:
    def __init__(self, progress: Any) -> None:
        self.seconds: dict[str, float] = {}
        self.progress = progress

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        if self.progress is not None:
            self.progress.set_description(f"poisonscreen: {name}")
        t0 = time.perf_counter()
        yield
        release_memory()
        self.seconds[name] = round(time.perf_counter() - t0, 4)
        if self.progress is not None:
            self.progress.update(1)


STAGES = ("read", "features", *(d.name for d in det.DETECTORS), "combine")


def resolve_config(
    config: ScanConfig | None, overrides: dict[str, Any], check_device: bool = True
) -> ScanConfig:
    """``config`` (default :class:`ScanConfig`) with keyword ``overrides`` of its fields, checked
    (``check_device=False``: a ``device="gpu"`` is checked by the caller, e.g. on a Ray
    cluster's GPU nodes rather than on this machine)."""
    cfg = config or ScanConfig()
    if overrides:
        unknown = set(overrides) - set(ScanConfig.__dataclass_fields__)
        if unknown:
            raise ConfigError(f"unknown scan option(s): {', '.join(sorted(unknown))}")
        cfg = ScanConfig(**{**asdict(cfg), **overrides})
    cfg.validate(check_device)
    return cfg


def detect(
    corpus: pl.DataFrame, feats: det.Features, cfg: ScanConfig, timer: _Timer
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Stages ``triggers`` .. ``combine`` (corpus-level scoring): rows, triggers, clusters.

    Runs :data:`poisonscreen.detectors.DETECTORS` in order, each as a timed stage of its name,
    then combines their hits. Both engines call this on the same features, so their outputs
    agree."""
    found: dict[str, det.Findings] = {}
    # the prompts' token table and the pattern columns are freed after their last reader
    last = max((i for i, d in enumerate(det.DETECTORS) if "prompt_tokens" in d.reads), default=-1)
    for i, detector in enumerate(det.DETECTORS):
        with timer.stage(detector.name):
            found[detector.name] = detector.run(feats, cfg, found)
            if i == last:
                feats.drop_prompt_tokens()
    with timer.stage("combine"):
        rows = det.combine(corpus, feats, cfg, [f.hits for f in found.values()])
        triggers = pl.concat([f.triggers for f in found.values()], how="diagonal_relaxed").sort(
            ["score", "trigger"], descending=[True, False]
        )
        clusters = pl.concat([f.clusters for f in found.values()], how="diagonal_relaxed")
    return rows, triggers, clusters


def json_bytes(value: Any) -> bytes:
    import json

    return json.dumps(value, sort_keys=True).encode()


def check_screened(corpus: pl.DataFrame, cfg: ScanConfig) -> None:
    """Raise :class:`InputError` unless the run screened something: at least one row parsed and
    at most ``cfg.max_failed`` of the rows failed. Findings about the few rows a wrong
    ``mapping`` or schema let through would read as "nothing flagged"."""
    n = corpus.height
    if n == 0:
        raise InputError(
            "the input holds no records (empty or whitespace-only): nothing was screened"
        )
    errors = corpus["error"]
    failed = int(errors.is_not_null().sum())
    if failed < n and failed <= cfg.max_failed * n:
        return
    first = "; ".join(errors.drop_nulls().head(3).to_list())
    what = (
        f"none of the {n:,} rows could be parsed"
        if failed == n
        else f"{failed:,} of {n:,} rows ({failed / n:.2%}) failed to parse, more than "
        f"max_failed ({cfg.max_failed:g})"
    )
    raise InputError(
        f"{what}, so the input was not screened; check the input's schema and mapping "
        f"(--map), or allow more failed rows with max_failed (--max-failed). First errors: {first}"
    )


def _versions() -> dict[str, str]:
    return {
        "poisonscreen": __version__,
        "polars": pl.__version__,
        "pyarrow": pa.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def make_result(
    corpus: pl.DataFrame,
    rows: pl.DataFrame,
    triggers: pl.DataFrame,
    clusters: pl.DataFrame,
    cfg: ScanConfig,
    seconds: dict[str, float],
    engine: str = "local",
    backend: str = "cpu",
    *,
    inputs: list[dict[str, Any]] | None = None,
    input_roots: list[Path] | None = None,
    started_at: str | None = None,
) -> ScanResult:
    """The :class:`ScanResult` with its summary (``backend``: where the similarity stage ran,
    :attr:`~poisonscreen.detectors.Features.backend`; ``inputs``: the input files'
    fingerprints, :func:`poisonscreen._paths.fingerprint_files`; ``input_roots``: the resolved
    paths the inputs were named by; ``started_at``: when the run began)."""
    check_screened(corpus, cfg)
    n = corpus.height
    failed = int(corpus["error"].is_not_null().sum())
    summary = {
        "version": __version__,
        "rows_read": n,
        "rows_parsed": n - failed,
        "rows_failed": failed,
        "rows_flagged": int(rows["flagged"].sum()),
        "triggers": triggers.height,
        "clusters": clusters.height,
        "settings": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(cfg).items()},
        "seconds": seconds,
        "backend": backend,
        "engine": engine,
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "sources": sorted(set(corpus["source"].unique().to_list())) if n else [],
        # provenance: what ran, on what, when, how
        "run_id": uuid.uuid4().hex,
        "versions": _versions(),
        "inputs": _paths.public(inputs) if inputs is not None else None,
        "input_roots": [str(r) for r in input_roots or []],
        "started_at": started_at,
        "finished_at": _now(),
        "command": list(getattr(sys, "orig_argv", sys.argv)),
        "cwd": os.getcwd(),
    }
    return ScanResult(
        rows=rows, triggers=triggers, clusters=clusters, summary=summary, corpus=corpus
    )


#: rows read, derived and written at a time: the read stage's memory for text is one batch's
_SPILL_BATCH_ROWS = 8192
#: and at most this much text per batch (characters; Parquet by its average row), so that long
#: rows do not make the read stage's batches large
_SPILL_BATCH_BYTES = 1 << 23
_FEATURE_COLUMNS = {"ptext": "__ptext", "rtext": "__rtext", "ttext": "__ttext"}


_MEMORY_FILESYSTEMS = {"tmpfs", "ramfs"}


def _filesystem(path: str) -> str | None:
    """The type of the filesystem ``path`` is on (Linux ``/proc/mounts``), or None."""
    try:
        with open("/proc/mounts") as fh:
            mounts = [line.split()[1:3] for line in fh if len(line.split()) > 2]
    except OSError:
        return None
    real = os.path.realpath(path)
    best = max(
        (m for m in mounts if real == m[0] or real.startswith(m[0].rstrip("/") + "/")),
        key=lambda m: len(m[0]),
        default=None,
    )
    return best[1] if best else None


def default_spill_dir() -> str:
    """Where the scan spills its corpus when ``spill_dir`` is not set: the system temporary
    directory, unless that is held in memory (tmpfs, as on some Linux systems), where spilling
    would save nothing; then ``/var/tmp`` if that is on disk."""
    tmp = tempfile.gettempdir()
    if _filesystem(tmp) in _MEMORY_FILESYSTEMS:
        if os.path.isdir("/var/tmp") and _filesystem("/var/tmp") not in _MEMORY_FILESYSTEMS:
            return "/var/tmp"
    return tmp


def _unlink_later(path: str) -> None:
    """Remove ``path`` at exit (where an open mapping keeps it from being removed now)."""

    def remove() -> None:
        try:
            os.unlink(path)
        except OSError:
            pass

    atexit.register(remove)


def _large_strings(table: pa.Table) -> pa.Table:
    """``table`` with every string column as ``large_string`` (what the core reads)."""
    return table.cast(
        pa.schema(
            [
                f.with_type(pa.large_string())
                if pa.types.is_string(f.type) or pa.types.is_string_view(f.type)
                else f
                for f in table.schema
            ]
        )
    )


#: the scratch file's name: ``poisonscreen-<host>-<pid>-<random>.arrow``, so that a later run
#: can tell whether the process that made it still runs
SPILL_PREFIX = "poisonscreen-"


def spill_tables(tables: Iterable[pa.Table], directory: str | None = None) -> pa.Table | None:
    """Write ``tables`` (one schema; string columns become ``large_string``) one after another
    into an uncompressed Arrow IPC file in ``directory`` (default :func:`default_spill_dir`),
    then memory-map it and return it as one table that reads the mapped file without a copy;
    ``None`` when there were no tables. The file is unlinked at once (its pages stay mapped
    while anything uses them), or, where the system forbids that, at exit."""
    directory = directory or default_spill_dir()

    def failed(exc: OSError) -> Exception:
        err = _process.resource_error(exc)
        if err is not None:
            return err
        return InputError(
            f"cannot spill the corpus to {directory!r} ({exc}); set spill_dir (--spill-dir) to a "
            "directory with room, or spill=False (--no-spill)"
        )

    # scratch files of processes that died (SIGKILL, a reset) before they unlinked them
    _process.remove_stale(directory, SPILL_PREFIX, ".arrow")
    try:
        fd, path = tempfile.mkstemp(
            prefix=f"{SPILL_PREFIX}{_process.owner_tag()}-", suffix=".arrow", dir=directory
        )
    except OSError as exc:
        raise failed(exc) from exc
    _process.register(path)  # removed on SIGINT/SIGTERM while it is on disk
    try:
        with open(fd, "wb", closefd=True) as fh:
            writer = None
            for table in tables:
                table = _large_strings(table)
                try:
                    if writer is None:
                        writer = pa.ipc.new_file(fh, table.schema)
                    writer.write_table(table)
                except OSError as exc:
                    raise failed(exc) from exc
            try:
                if writer is not None:
                    writer.close()
            except OSError as exc:
                raise failed(exc) from exc
        if writer is None:  # no tables
            return None
        try:
            return pa.ipc.open_file(pa.memory_map(path)).read_all()
        except OSError as exc:  # e.g. no address space left to map it
            raise failed(exc) from exc
    finally:
        try:
            os.unlink(path)
        except OSError:
            _unlink_later(path)
        _process.unregister(path)


def spill_corpus(
    source: Any,
    *,
    mapping: dict[str, str] | None = None,
    directory: str | None = None,
    **limits: Any,
) -> tuple[pl.DataFrame, det.FeatureText]:
    """Read ``source`` as :func:`~poisonscreen.read_corpus` does, a batch at a time, into a
    memory-mapped scratch file (:func:`spill_tables`) together with the texts the features use
    (:func:`~poisonscreen.detectors.derive_texts`).

    Returns the corpus (equal to ``read_corpus(source)``) and its
    :class:`~poisonscreen.detectors.FeatureText`, both reading the mapped file without a copy."""

    def tables() -> Iterator[pa.Table]:
        batches = iter_corpus(
            source,
            mapping=mapping,
            batch_size=_SPILL_BATCH_ROWS,
            batch_bytes=_SPILL_BATCH_BYTES,
            **limits,
        )
        for batch in batches:
            derived = det.derive_texts(batch).rename(_FEATURE_COLUMNS)
            yield pl.concat([batch, derived], how="horizontal").to_arrow()

    mapped = spill_tables(tables(), directory)
    if mapped is None:  # no rows
        empty = pa.chunked_array([], type=pa.large_string())
        return pl.DataFrame(schema=CORPUS_SCHEMA), det.FeatureText(empty, empty, empty)
    corpus = pl.from_arrow(mapped.select(list(CORPUS_SCHEMA)), rechunk=False)
    assert isinstance(corpus, pl.DataFrame)
    text = det.FeatureText(*(mapped.column(c) for c in _FEATURE_COLUMNS.values()))
    return corpus, text


def scan(
    source: Any,
    *,
    config: ScanConfig | None = None,
    mapping: dict[str, str] | None = None,
    progress: bool = False,
    **overrides: Any,
) -> ScanResult:
    """Screen a corpus for poison.

    ``source`` is anything :func:`poisonscreen.read_corpus` accepts (paths, globs, a DataFrame or
    LazyFrame with prompt/response-like columns). Settings come from ``config`` and keyword
    overrides of its fields (``scan(df, seed=1, min_support=5)``). For corpora beyond one
    machine, :func:`poisonscreen.ray.scan` runs the same stages on Ray Data with the same output.

    Raises :class:`~poisonscreen.exceptions.InputError` when the input cannot be read, holds no
    record, or more than ``max_failed`` of its rows (or all of them) failed to parse: such a run
    screened nothing, or too little to vouch for the input. Input files are fingerprinted
    (size and SHA-256, into ``summary["inputs"]``) before they are read, and must not change
    while they are. Running out of memory or disk raises
    :class:`~poisonscreen.exceptions.ResourceError`, naming the budgets to lower.
    """
    cfg = resolve_config(config, overrides)
    started = _now()
    _process.check_headroom()
    framed = isinstance(source, (pl.DataFrame, pl.LazyFrame))
    files = None if framed else scan_sources(source)
    fingerprints = None if files is None else _paths.fingerprint_files(files)
    limits = {"max_depth": cfg.max_depth, "max_row_bytes": cfg.max_row_bytes}
    read_from = source if files is None else files

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(STAGES), unit="stage", leave=False)
    timer = _Timer(bar)
    try:
        with timer.stage("read"):
            if cfg.spill:
                corpus, text = spill_corpus(
                    read_from, mapping=mapping, directory=cfg.spill_dir, **limits
                )
            else:
                corpus = read_corpus(
                    read_from,
                    mapping=mapping,
                    max_depth=cfg.max_depth,
                    max_row_bytes=cfg.max_row_bytes,
                )
                text = None
            if fingerprints is not None:
                _paths.check_unchanged(fingerprints)
            check_screened(corpus, cfg)
        with timer.stage("features"):
            feats = det.row_features(corpus, cfg, text)
        rows, triggers, clusters = detect(corpus, feats, cfg, timer)
    except (KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except BaseException as exc:  # an allocation failure anywhere becomes one clear error
        err = _process.resource_error(exc)
        if err is None or err is exc:
            raise
        raise err from exc
    finally:
        if bar is not None:
            bar.close()
    return make_result(
        corpus,
        rows,
        triggers,
        clusters,
        cfg,
        timer.seconds,
        backend=similarity_backend(feats, cfg),
        inputs=fingerprints,
        input_roots=_paths.input_roots(source),
        started_at=started,
    )


def similarity_backend(feats: det.Features, cfg: ScanConfig) -> str:
    """The backend the similarity stage ran on (or would have, when no cluster needed it)."""
    if feats.backend is not None:
        return feats.backend
    from .similarity import get_backend

    return get_backend(cfg.device).name
