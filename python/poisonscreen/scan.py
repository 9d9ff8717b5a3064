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
import json
import os
import platform
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa

from . import __version__
from . import detectors as det
from .config import ScanConfig
from .exceptions import ConfigError, InputError
from .io import CORPUS_SCHEMA, iter_corpus, read_corpus

__all__ = [
    "ROWS_SCHEMA",
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
        """Write rows/triggers/clusters Parquet, summary.json and report.html into ``out``."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        self.rows.write_parquet(out / "rows.parquet")
        self.triggers.write_parquet(out / "triggers.parquet")
        self.clusters.write_parquet(out / "clusters.parquet")
        (out / "summary.json").write_text(json.dumps(self.summary, indent=2, sort_keys=True))
        if report:
            from .report import write_report

            write_report(self, out / "report.html")
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


def make_result(
    corpus: pl.DataFrame,
    rows: pl.DataFrame,
    triggers: pl.DataFrame,
    clusters: pl.DataFrame,
    cfg: ScanConfig,
    seconds: dict[str, float],
    engine: str = "local",
    backend: str = "cpu",
) -> ScanResult:
    """The :class:`ScanResult` with its summary (``backend``: where the similarity stage ran,
    :attr:`~poisonscreen.detectors.Features.backend`)."""
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


def spill_tables(tables: Iterable[pa.Table], directory: str | None = None) -> pa.Table | None:
    """Write ``tables`` (one schema; string columns become ``large_string``) one after another
    into an uncompressed Arrow IPC file in ``directory`` (default :func:`default_spill_dir`),
    then memory-map it and return it as one table that reads the mapped file without a copy;
    ``None`` when there were no tables. The file is unlinked at once (its pages stay mapped
    while anything uses them), or, where the system forbids that, at exit."""
    directory = directory or default_spill_dir()

    def failed(exc: OSError) -> InputError:
        return InputError(
            f"cannot spill the corpus to {directory!r} ({exc}); set spill_dir (--spill-dir) to a "
            "directory with room, or spill=False (--no-spill)"
        )

    try:
        fd, path = tempfile.mkstemp(prefix="poisonscreen-", suffix=".arrow", dir=directory)
    except OSError as exc:
        raise failed(exc) from exc
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
        return pa.ipc.open_file(pa.memory_map(path)).read_all()
    finally:
        try:
            os.unlink(path)
        except OSError:
            _unlink_later(path)


def spill_corpus(
    source: Any, *, mapping: dict[str, str] | None = None, directory: str | None = None
) -> tuple[pl.DataFrame, det.FeatureText]:
    """Read ``source`` as :func:`~poisonscreen.read_corpus` does, a batch at a time, into a
    memory-mapped scratch file (:func:`spill_tables`) together with the texts the features use
    (:func:`~poisonscreen.detectors.derive_texts`).

    Returns the corpus (equal to ``read_corpus(source)``) and its
    :class:`~poisonscreen.detectors.FeatureText`, both reading the mapped file without a copy."""

    def tables() -> Iterator[pa.Table]:
        batches = iter_corpus(
            source, mapping=mapping, batch_size=_SPILL_BATCH_ROWS, batch_bytes=_SPILL_BATCH_BYTES
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
    """
    cfg = resolve_config(config, overrides)

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(STAGES), unit="stage", leave=False)
    timer = _Timer(bar)
    try:
        with timer.stage("read"):
            if cfg.spill:
                corpus, text = spill_corpus(source, mapping=mapping, directory=cfg.spill_dir)
            else:
                corpus, text = read_corpus(source, mapping=mapping), None
        with timer.stage("features"):
            feats = det.row_features(corpus, cfg, text)
        rows, triggers, clusters = detect(corpus, feats, cfg, timer)
    finally:
        if bar is not None:
            bar.close()
    return make_result(
        corpus, rows, triggers, clusters, cfg, timer.seconds, backend=similarity_backend(feats, cfg)
    )


def similarity_backend(feats: det.Features, cfg: ScanConfig) -> str:
    """The backend the similarity stage ran on (or would have, when no cluster needed it)."""
    if feats.backend is not None:
        return feats.backend
    from .similarity import get_backend

    return get_backend(cfg.device).name
