"""Run the screening job on Ray Data, with exactly the outputs of the local :func:`~poisonscreen.scan`.

``poisonscreen.ray.scan(source)`` (``poisonscreen scan --engine ray``) runs these stages; each
writes Parquet into its own folder of a work directory, with a marker recording the input
fingerprint, so that ``resume=True`` picks a failed run up after the last finished stage:

=============  ======================================================================  ===========
stage          what                                                                    runs
=============  ======================================================================  ===========
``read``       one Ray Data task per input file (poisonscreen's own reader, so          distributed
               malformed records become failed rows exactly as locally), or
               ``map_batches`` over a Ray Dataset; then global ``row_id`` = input
               order, from the per-block row counts (no data on the driver)
``references`` per batch: the order-1 ``NgramCounter`` (vocabulary) and the word-bigram   distributed
               counts of the familiarity sample; merged by a hash shuffle on the hash
``features``   ``map_batches`` calling the Rust core on Arrow batches: text statistics,  distributed
               bigram familiarity against the broadcast sample counts, MinHash
               signatures and LSH band keys of responses and digit-masked prompts
``pairs``      hash shuffle on (band, key), each key row carrying its text; per bucket,   distributed
               the candidate pairs the core's ``candidate_pairs`` gives (``max_bucket``
               window included), verified there by exact Jaccard of the word bigram sets
               (as ``near_duplicates(verify="exact")``); pairs below the threshold dropped.
               Identical texts share every bucket: there the first row of each text
               stands for it, and each later copy is paired with it (similarity 1)
``edges``      the verified pairs deduplicated by a shuffle on the pair (a pair of alike  distributed
               rows shares several bands' buckets)
``components`` connected components by alternating large-star / small-star rounds       distributed
               (Kiveris et al. 2014) on hash shuffles until the edge set stops changing;
               component id = smallest row id, as the local union-find; each row's
               partner (smallest neighbour) and that edge's similarity by a shuffle
``detect``     the corpus-level scoring (triggers, conditional triggers, campaigns,       **driver**
               anomalies, combine) on the assembled feature table
=============  ======================================================================  ===========

Every shuffle is a Ray Data ``groupby`` on a hash partition number of the key, run with the
sort-based task shuffle (Ray's hash shuffle and ``Dataset.join`` start actor aggregators, which
cost about ten seconds per shuffle on a small cluster); the function then sees whole partitions
and works on them vectorised (polars/NumPy), never one Python call per group.

What is *not* distributed: the ``detect`` stage collects the per-row feature table (with the
prompt and response text), the vocabulary and the cluster labels on the driver and runs the same
detector code as the local engine. The driver therefore needs memory for the corpus text plus
its features (see the README's sizing guide). The familiarity reference counts (bounded by
``familiarity_sample`` rows, not by the corpus) are also merged on the driver and broadcast.

GPU: the one stage with GPU code is the similarity stage (campaign clusters' response
coherence, :func:`poisonscreen.detectors.response_coherence`, CuPy kernels). When the cluster
has GPUs and ``device`` is ``auto`` or ``gpu``, it runs on a Ray actor that requests one GPU
(``num_gpus=1``); otherwise on the CPU in the driver. summary.json says where
(``similarity_placement``) and on which backend (``backend``). Every other stage is CPU Rust and
runs as CPU tasks.

Results equal the local engine's for the same input and settings whatever the number of input
files or blocks: each Rust call sees only per-row inputs or merged global counts.
"""

from __future__ import annotations

import hashlib
import inspect
import itertools
import json
import math
import os
import shutil
import socket
import uuid
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any, cast

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from . import __version__, _paths
from . import _poisonscreen as _core
from . import detectors as det
from ._arrow import byte_lengths, text_chunks
from .exceptions import ConfigError
from .features import near_duplicates
from .io import CORPUS_SCHEMA, iter_corpus, read_corpus, scan_sources
from .scan import (
    ScanConfig,
    ScanResult,
    _now,
    _Timer,
    detect,
    make_result,
    resolve_config,
    similarity_backend,
    spill_tables,
)

try:
    import ray
    import ray.data
    from ray.data.context import ShuffleStrategy
except ImportError as _e:  # pragma: no cover - depends on the environment
    raise ImportError(
        "poisonscreen.ray needs Ray Data: pip install 'poisonscreen[ray]' "
        f"(importing ray failed: {_e})"
    ) from _e

__all__ = ["RAY_STAGES", "scan"]

RAY_STAGES = ("read", "references", "features", "pairs", "edges", "components", "detect")
"""The stages of a Ray scan, in order (all but ``detect`` write to the work directory)."""

# the bucket window of features.near_duplicates, which row_features uses with its default
_MAX_BUCKET: int = inspect.signature(near_duplicates).parameters["max_bucket"].default
_MIN_TOKENS = 8  # row_features' bigram_familiarity(min_tokens=8)
_CLUSTERINGS = ("resp", "tmpl")
_EMPTY_SIG = np.uint32(0xFFFFFFFF)
_MAX_ROUNDS = 200


# ---------------------------------------------------------------------------------------------
# small helpers


def _arrow(df: pl.DataFrame) -> pa.Table:
    """A polars frame as an Arrow table Ray Data handles (no string views)."""
    t = df.to_arrow()
    fields = []
    for f in t.schema:
        if pa.types.is_string_view(f.type):
            fields.append(pa.field(f.name, pa.large_string()))
        else:
            fields.append(f)
    return t.cast(pa.schema(fields)) if fields != list(t.schema) else t


def _mapped(table: pa.Table) -> pl.DataFrame:
    """A memory-mapped table as a frame that views it (no rechunk: that would copy it)."""
    out = pl.from_arrow(table, rechunk=False)
    assert isinstance(out, pl.DataFrame)
    return out


def _frame(batch: Any) -> pl.DataFrame:
    if isinstance(batch, pa.Table):
        return pl.from_arrow(batch)  # type: ignore[return-value]
    return pl.from_pandas(batch)


def _clustering(cfg: ScanConfig, which: str) -> tuple[float, int, int]:
    """(threshold, bands, rows) of the response or template clustering."""
    threshold = cfg.response_similarity if which == "resp" else cfg.template_similarity
    bands, rows = _core.lsh_params(threshold, cfg.num_perm)
    return threshold, bands, rows


def _shingle_kwargs() -> dict[str, Any]:
    # near_duplicates(ngram=2) in row_features: word bigrams of the normalised text
    return {"k": 2, "mode": "word", "nfkc": True, "casefold": True, "collapse_whitespace": True}


# ---------------------------------------------------------------------------------------------
# work directory


class _Work:
    """Stage folders plus a manifest; a stage counts as done only under the same fingerprint."""

    def __init__(self, root: Path, fingerprint: dict[str, Any], resume: bool) -> None:
        self.root = root
        self.digest = hashlib.sha256(
            json.dumps(fingerprint, sort_keys=True, default=str).encode()
        ).hexdigest()
        manifest = root / "manifest.json"
        if root.exists() and any(root.iterdir()):
            if not manifest.exists():
                raise ConfigError(
                    f"work directory {root} is not empty and was not made by poisonscreen; "
                    "give an empty or new --work-dir"
                )
            old = json.loads(manifest.read_text())
            same = old.get("digest") == self.digest
            if resume and not same:
                raise ConfigError(
                    f"cannot resume: work directory {root} holds stages of a different input or "
                    "different settings (fingerprint mismatch); run without --resume to start "
                    "fresh, or give another --work-dir"
                )
            if not resume:
                shutil.rmtree(root)
        root.mkdir(parents=True, exist_ok=True)
        manifest.write_text(
            json.dumps({"digest": self.digest, "fingerprint": fingerprint}, indent=2, default=str)
        )

    def dir(self, stage: str) -> Path:
        return self.root / stage

    def done(self, stage: str) -> dict[str, Any] | None:
        marker = self.dir(stage) / "_DONE.json"
        if not marker.exists():
            return None
        info = json.loads(marker.read_text())
        return info if info.get("digest") == self.digest else None

    def begin(self, stage: str) -> Path:
        d = self.dir(stage)
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)
        return d

    def finish(self, stage: str, info: dict[str, Any]) -> None:
        (self.dir(stage) / "_DONE.json").write_text(
            json.dumps({"digest": self.digest, **info}, indent=2)
        )


def _fingerprint(
    source: Any, cfg: ScanConfig, mapping: dict[str, str] | None, fmt: str | None, resume: bool
) -> dict[str, Any]:
    settings = {k: v for k, v in asdict(cfg).items() if k != "threads"}
    base: dict[str, Any] = {
        "version": __version__,
        "settings": settings,
        "mapping": mapping,
        "format": fmt,
    }
    if isinstance(source, ray.data.Dataset):
        if resume:
            raise ConfigError(
                "resume needs file or polars DataFrame input: a Ray Dataset cannot be "
                "fingerprinted without reading it"
            )
        return {**base, "dataset": uuid.uuid4().hex}  # never matches: always a fresh run
    if isinstance(source, pl.LazyFrame):
        source = source.collect()
    if isinstance(source, pl.DataFrame):
        return {
            **base,
            "dataframe": {
                "shape": list(source.shape),
                "schema": {k: str(v) for k, v in source.schema.items()},
                "hash": int(source.hash_rows(seed=0).sum()) if source.height else 0,
            },
        }
    files = []
    for p in scan_sources(source):
        st = os.stat(p)
        files.append([os.path.abspath(p), st.st_size, st.st_mtime_ns])
    return {**base, "files": files}


# ---------------------------------------------------------------------------------------------
# Ray plumbing


def _connect(address: str | None) -> None:
    if ray.is_initialized():
        return
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address is None:
        ray.init(include_dashboard=False, log_to_driver=False)
        return
    if address != "auto":
        # ray.init waits minutes on an address where nothing listens: check it answers first
        hostport = address.split("://", 1)[-1]
        host, _, port = hostport.rpartition(":")
        if not host or not port.isdigit():
            raise ConfigError(
                f"bad Ray address {address!r}: expected host:port, ray://host:port or auto"
            )
        try:
            socket.create_connection((host, int(port)), timeout=5).close()
        except OSError as e:
            raise ConfigError(f"cannot connect to the Ray cluster at {address!r}: {e}") from e
    try:
        ray.init(address=address, log_to_driver=False)
    except Exception as e:
        raise ConfigError(f"cannot connect to the Ray cluster at {address!r}: {e}") from e


_MEMORY: dict[str, Any] = {}  # stage folder -> its materialized dataset, within one run


def _write(ds: Any, out: Path, schema: pa.Schema) -> int:
    """Materialize ``ds``, write it as Parquet into ``out`` (an empty dataset leaves one empty
    file with ``schema`` so the stage reads back) and keep it in the object store for the
    next stages of this run. Returns the row count."""
    ds = ds.materialize()
    ds.write_parquet(str(out))
    files = list(out.glob("*.parquet"))
    rows = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    if not files:
        pq.write_table(schema.empty_table(), out / "empty.parquet")
    else:
        _MEMORY[str(out)] = ds
    return rows


def _read(d: Path, columns: list[str] | None = None) -> Any:
    """A stage's output: the dataset of this run if it made it, else its Parquet files."""
    ds = _MEMORY.get(str(d))
    if ds is not None:
        return ds.select_columns(columns) if columns else ds
    return ray.data.read_parquet(str(d), columns=columns)


def _collect(d: Path, columns: list[str] | None = None) -> pl.DataFrame:
    """The Parquet files of a finished stage as one frame on the driver (which shares the work
    directory with the workers: it made it)."""
    files = sorted(str(f) for f in d.glob("*.parquet"))
    tables = [pq.read_table(f, columns=columns) for f in files]
    t = pa.concat_tables(tables, promote_options="default") if len(tables) > 1 else tables[0]
    return pl.from_arrow(t)  # type: ignore[return-value]


def _spill_collect(d: Path, columns: list[str], key: str, directory: str | None) -> pa.Table | None:
    """:func:`_collect` sorted by ``key``, into a memory-mapped scratch file instead of memory
    (:func:`poisonscreen.scan.spill_tables`): the files are read a batch at a time in the order
    of their ``key`` ranges (each stage's files hold disjoint ranges of rows: blocks are
    numbered in order and mapped one to one), a file whose rows are out of order sorted alone.
    ``None`` when the ranges overlap, and the caller sorts in memory."""
    files = sorted(str(f) for f in d.glob("*.parquet"))
    ranges = []
    for f in files:
        keys = pq.read_table(f, columns=[key]).column(key).to_numpy()
        if len(keys):
            ordered = bool(np.all(keys[1:] >= keys[:-1]))
            ranges.append((int(keys.min()), int(keys.max()), ordered, f))
    ranges.sort()
    if any(a[1] >= b[0] for a, b in itertools.pairwise(ranges)):
        return None

    def tables() -> Any:
        for _, _, ordered, f in ranges:
            if ordered:
                pf = pq.ParquetFile(f, pre_buffer=False, buffer_size=1 << 20)
                for batch in pf.iter_batches(batch_size=8192, columns=columns):
                    yield pa.Table.from_batches([batch])
            else:
                yield pq.read_table(f, columns=columns).sort_by(key)

    return spill_tables(tables(), directory)


_MIX = np.uint64(0x9E3779B97F4A7C15)


def _part_of(batch: pa.Table, keys: list[str], partitions: int) -> np.ndarray:
    """The partition (0..partitions-1) of each row: a mix of the key columns' values."""
    h = np.zeros(batch.num_rows, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for k in keys:
            v = np.asarray(batch.column(k).to_numpy(zero_copy_only=False)).astype(np.uint64)
            h = (h ^ v) * _MIX
            h ^= h >> np.uint64(31)
    return (h % np.uint64(partitions)).astype(np.int64)


def _add_part(batch: pa.Table, keys: list[str], partitions: int) -> pa.Table:
    return batch.append_column("_part", pa.array(_part_of(batch, keys, partitions)))


def _run_part(batch: pa.Table, fn: Any, kwargs: dict[str, Any]) -> pa.Table:
    return fn(batch.drop_columns(["_part"]), **kwargs)


def _shuffle(ds: Any, keys: list[str], partitions: int, fn: Any, **kwargs: Any) -> Any:
    """Hash-partition ``ds`` on ``keys`` into ``partitions`` parts and call ``fn`` once per
    whole part (a Ray Data ``groupby`` on the part number; with the sort-based shuffle the scan
    selects, every part lies in one block)."""
    return (
        ds.map_batches(
            _add_part,
            batch_format="pyarrow",
            fn_kwargs={"keys": keys, "partitions": partitions},
        )
        .groupby("_part")
        .map_groups(_run_part, batch_format="pyarrow", fn_kwargs={"fn": fn, "kwargs": kwargs})
    )


# ---------------------------------------------------------------------------------------------
# stage: read


_READ_COLUMNS = [c for c in CORPUS_SCHEMA if c != "row_id"]


def _read_files(
    batch: pa.Table,
    mapping: dict[str, str] | None,
    fmt: str | None,
    block_rows: int,
    limits: dict[str, int],
) -> Iterator[pa.Table]:
    for path in batch.column("path").to_pylist():
        parts = iter_corpus(path, mapping=mapping, format=fmt, batch_size=block_rows, **limits)
        for part in parts:
            yield _arrow(part.select(_READ_COLUMNS))


def _read_frames(
    batch: Any, mapping: dict[str, str] | None, fmt: str | None, limits: dict[str, int]
) -> pa.Table:
    frame = _frame(batch)
    corpus = read_corpus(frame, mapping=mapping, format=fmt, **limits)
    return _arrow(corpus.select(_READ_COLUMNS))


@ray.remote(num_returns=2)
def _number_block(block: Any, offset: int, frame: bool) -> tuple[pa.Table, int]:
    """The block with its global row ids, and the bytes of its responses (which size the
    familiarity sample)."""
    t = block if isinstance(block, pa.Table) else pa.Table.from_pandas(block, preserve_index=False)
    df = pl.from_arrow(t) if t.num_rows else pl.DataFrame(schema=CORPUS_SCHEMA)
    assert isinstance(df, pl.DataFrame)
    row_id = pl.Series("row_id", np.arange(offset, offset + df.height, dtype=np.uint64))
    df = df.with_columns(row_id)
    if frame:  # an in-memory frame's line is its 1-based row index
        df = df.with_columns(line=(pl.col("row_id") + 1).cast(pl.UInt64))
    out = _arrow(df.select(list(CORPUS_SCHEMA)).cast(CORPUS_SCHEMA))  # type: ignore[arg-type]
    return out, int(byte_lengths(df["response"]).sum())


def _read_stage(
    source: Any,
    mapping: dict[str, str] | None,
    fmt: str | None,
    block_rows: int,
    limits: dict[str, int],
) -> tuple[Any, int, int]:
    """The normalised corpus as a Ray dataset with global row ids, its row count and the bytes
    of its responses."""
    frame = False
    if isinstance(source, pl.LazyFrame):
        source = source.collect()
    if isinstance(source, pl.DataFrame):
        frame = True
        t = _arrow(source)
        pieces = [t.slice(i, block_rows) for i in range(0, max(t.num_rows, 1), block_rows)]
        source = ray.data.from_arrow(pieces)
    if isinstance(source, ray.data.Dataset):
        frame = True
        ds: Any = source.map_batches(
            cast(Any, _read_frames),
            batch_format="pyarrow",
            fn_kwargs={"mapping": mapping, "fmt": fmt, "limits": limits},
        )
    else:
        files = scan_sources(source)
        ds = ray.data.from_items(
            [{"path": p} for p in files], override_num_blocks=len(files)
        ).map_batches(
            cast(Any, _read_files),
            batch_size=1,
            batch_format="pyarrow",
            fn_kwargs={"mapping": mapping, "fmt": fmt, "block_rows": block_rows, "limits": limits},
        )
    # row ids in input order: count the rows of each block (in order), offset, number in place
    ds = ds.materialize()
    refs, offsets, total = [], [], 0
    for bundle in ds.iter_internal_ref_bundles():
        for ref, meta in zip(bundle.block_refs, bundle.metadata):
            refs.append(ref)
            offsets.append(total)
            total += int(meta.num_rows or 0)
    numbered: list[Any] = [_number_block.remote(r, o, frame) for r, o in zip(refs, offsets)]
    if not numbered:
        return ray.data.from_arrow(_arrow(pl.DataFrame(schema=CORPUS_SCHEMA))), 0, 0
    response_bytes = sum(ray.get([b for _, b in numbered]))
    return ray.data.from_arrow_refs([t for t, _ in numbered]), total, response_bytes


# ---------------------------------------------------------------------------------------------
# stage: references (vocabulary, familiarity sample bigram counts)

_REF_SCHEMA = pa.schema(
    [
        ("kind", pa.string()),
        ("h", pa.uint64()),
        ("word", pa.large_string()),
        ("df", pa.uint64()),
    ]
)


def _batch_references(batch: pa.Table, sample_every: int) -> pa.Table:
    corpus = _frame(batch)
    ptext, response = det.feature_texts(corpus)
    both = pl.select(pl.concat_str([ptext, response], separator="\n")).to_series()
    counter = _core.NgramCounter([1])
    counter.add(text_chunks(both)[0], threads=1)
    vt = det.vocab_frame(counter.table(1))
    vocab = vt.select(pl.lit("vocab").alias("kind"), "h", "word", "df")
    sample = response.filter(pl.Series(_in_sample(response, sample_every)))
    _, hashes = _core.row_ngram_hashes(text_chunks(sample)[0], [2], threads=1)
    h, c = np.unique(hashes, return_counts=True)
    bigrams = pl.DataFrame(
        {
            "kind": "bigram",
            "h": pl.Series(h, dtype=pl.UInt64),
            "word": pl.Series([None] * len(h), dtype=pl.String),
            "df": pl.Series(c, dtype=pl.UInt64),
        }
    )
    return _arrow(pl.concat([vocab, bigrams])).cast(_REF_SCHEMA)


def _sum_references(block: pa.Table) -> pa.Table:
    df = _frame(block)
    if df.height == 0:
        return _REF_SCHEMA.empty_table()
    out = df.group_by(["kind", "h"]).agg(pl.col("word").first(), pl.col("df").sum())
    return _arrow(out.select("kind", "h", "word", "df")).cast(_REF_SCHEMA)


# ---------------------------------------------------------------------------------------------
# stage: features


def _in_sample(response: pl.Series, sample_every: int) -> np.ndarray:
    """Which rows join the familiarity reference sample: chosen by a hash of the text (the
    core's ``sample_key``), as ``_core.bigram_familiarity`` chooses them, so not by position."""
    keys, valid = _core.sample_keys(text_chunks(response)[0], threads=1)
    return valid & ((keys % np.uint64(sample_every)) == 0) if sample_every > 1 else valid


def _familiarity(
    corpus: pl.DataFrame,
    response: pl.Series,
    sample_every: int,
    ref_h: np.ndarray,
    ref_c: np.ndarray,
) -> np.ndarray:
    """``_core.bigram_familiarity`` of these rows against the merged counts of the sample
    (:func:`_in_sample`; ``ref_h`` sorted), by the core's one implementation
    (``bigram_familiarity_against``), documents judged by their end too as there; NaN below
    ``_MIN_TOKENS`` tokens."""
    return _core.bigram_familiarity_against(
        text_chunks(response)[0],
        np.ascontiguousarray(ref_h, dtype=np.uint64),
        np.ascontiguousarray(ref_c, dtype=np.uint64),
        np.ascontiguousarray(_in_sample(response, sample_every)),
        min_tokens=_MIN_TOKENS,
        tail=det.documents(corpus, response),
        threads=1,
    )


def _batch_features(batch: pa.Table, cfg: ScanConfig, sample_every: int, ref: Any) -> pa.Table:
    if isinstance(ref, ray.ObjectRef):
        ref = ray.get(ref)
    ref_h, ref_c = ref
    corpus = _frame(batch)
    rid = corpus["row_id"].to_numpy().astype(np.uint64)
    texts = det.derive_texts(corpus)
    ptext, response = texts["ptext"], texts["rtext"]
    fam = _familiarity(corpus, response, sample_every, ref_h, ref_c)
    base = det.row_columns(rid, corpus, ptext, response, fam, threads=1)
    cols: dict[str, Any] = {}
    for which, text in (("resp", response), ("tmpl", texts["ttext"])):
        _, bands, rows = _clustering(cfg, which)
        sigs = _core.signatures(
            text_chunks(text)[0],
            num_perm=cfg.num_perm,
            seed=cfg.seed,
            threads=1,
            **_shingle_kwargs(),
        )
        keys = _core.band_keys(sigs, bands, rows, threads=1)
        cols[f"{which}_keys"] = pa.FixedSizeListArray.from_arrays(
            pa.array(keys.reshape(-1), type=pa.uint64()), bands
        )
        cols[f"{which}_skip"] = pa.array((sigs == _EMPTY_SIG).all(axis=1))
    t = _arrow(base.with_columns(row=pl.Series(rid, dtype=pl.UInt64)))
    for name, arr in cols.items():
        t = t.append_column(name, arr)
    return t


# ---------------------------------------------------------------------------------------------
# stage: pairs (LSH buckets -> candidate pairs)

_PAIR_SCHEMA = pa.schema([("a", pa.uint64()), ("b", pa.uint64())])


def _explode_keys(batch: pa.Table, which: str) -> pa.Table:
    """One row per (row, band) of the rows with shingles: band, key, row and the row's text
    (the response, or the digit-masked prompt), so that a bucket can be verified where it lands."""
    keys_col = batch.column(f"{which}_keys").combine_chunks()
    bands = keys_col.type.list_size
    keep = ~np.asarray(batch.column(f"{which}_skip").to_numpy(zero_copy_only=False), dtype=bool)
    rows = batch.column("row").to_numpy()[keep]
    keys = np.asarray(keys_col.flatten().to_numpy(), dtype=np.uint64).reshape(-1, bands)[keep]
    frame = _frame(batch.select(["response"] if which == "resp" else ["prompt"]))
    text = frame["response"] if which == "resp" else det.template_text(frame["prompt"])
    take = pa.array(np.repeat(np.flatnonzero(keep), bands))
    return pa.table(
        {
            "band": pa.array(np.tile(np.arange(bands, dtype=np.uint16), len(rows))),
            "key": pa.array(keys.reshape(-1)),
            "row": pa.array(np.repeat(rows.astype(np.uint64), bands)),
            "text": pc.take(text.to_arrow().cast(pa.large_string()), take),
        }
    )


def _bucket_edges(block: pa.Table, max_bucket: int, threshold: float) -> pa.Table:
    """The candidate pairs ``_core.candidate_pairs`` makes from the whole buckets in this
    partition (all pairs of a bucket of up to ``max_bucket`` rows, else each row with the next
    ``max_bucket - 1`` rows in row order), verified here by exact Jaccard; those at or above
    ``threshold``, once each; and each copy of an identical text paired with its first row."""
    df = _frame(block)
    if df.height == 0:
        return _EDGE_SCHEMA.empty_table()
    # identical texts have identical keys, so a bucket holds every copy of its texts: as in
    # near_duplicates, the first row of each text stands for it, and (in band 0 only, to emit it
    # once) each later copy is paired with that first row at similarity 1
    df = df.with_columns(pl.col("row").min().over(["band", "key", "text"]).alias("first"))
    copies = df.filter((pl.col("band") == 0) & (pl.col("row") != pl.col("first"))).select(
        a="first", b="row", sim=pl.lit(1.0, dtype=pl.Float64)
    )
    copy_edges = _arrow(copies).cast(_EDGE_SCHEMA)
    df = df.filter(pl.col("row") == pl.col("first")).drop("first")
    return pa.concat_tables([_verified_edges(df, max_bucket, threshold), copy_edges])


def _verified_edges(df: pl.DataFrame, max_bucket: int, threshold: float) -> pa.Table:
    """The verified candidate pairs of whole buckets of distinct texts (see ``_bucket_edges``)."""
    df = (
        df.with_columns(pl.len().over(["band", "key"]).alias("n"))
        .filter(pl.col("n") > 1)
        .sort(["band", "key", "row"])
    )
    if df.height == 0:
        return _EDGE_SCHEMA.empty_table()
    rows = df["row"].to_numpy()
    band = df["band"].to_numpy().astype(np.uint64)
    key = df["key"].to_numpy()
    new = np.ones(len(rows), dtype=bool)
    new[1:] = (band[1:] != band[:-1]) | (key[1:] != key[:-1])
    group = np.cumsum(new)
    a_parts, b_parts = [], []
    for d in range(1, max(max_bucket, 2)):
        if d >= len(rows):
            break
        same = group[d:] == group[:-d]
        if not same.any():
            break
        a_parts.append(rows[:-d][same])
        b_parts.append(rows[d:][same])
    if not a_parts:
        return _EDGE_SCHEMA.empty_table()
    # a pair shares several bands' buckets when its rows are alike: verify it once
    pairs = pl.DataFrame(
        {"a": np.concatenate(a_parts), "b": np.concatenate(b_parts)},
        schema={"a": pl.UInt64, "b": pl.UInt64},
    ).unique(["a", "b"])
    # each distinct row of the partition is tokenised once, however many pairs it is in
    texts = df.select("row", "text").unique("row").sort("row")
    ids = texts["row"].to_numpy()
    idx = np.stack(
        [np.searchsorted(ids, pairs["a"].to_numpy()), np.searchsorted(ids, pairs["b"].to_numpy())],
        axis=1,
    ).astype(np.uint32)
    sim = _core.exact_jaccard(text_chunks(texts["text"])[0], idx, threads=1, **_shingle_kwargs())
    out = pairs.with_columns(sim=pl.Series(sim, dtype=pl.Float64))
    return _arrow(out.filter(pl.col("sim") >= threshold)).cast(_EDGE_SCHEMA)


def _unique_edges(block: pa.Table) -> pa.Table:
    df = _frame(block)
    if df.height == 0:
        return _EDGE_SCHEMA.empty_table()
    # the same pair verified in two partitions has the same similarity: keep one
    return _arrow(df.unique(["a", "b"])).cast(_EDGE_SCHEMA)


_EDGE_SCHEMA = pa.schema([("a", pa.uint64()), ("b", pa.uint64()), ("sim", pa.float64())])


# ---------------------------------------------------------------------------------------------
# stage: components (large-star / small-star)

_COMP_SCHEMA = pa.schema([("row", pa.uint64()), ("cluster", pa.uint64()), ("size", pa.uint32())])
_PARTNER_SCHEMA = pa.schema(
    [("row", pa.uint64()), ("partner", pa.uint64()), ("similarity", pa.float64())]
)


def _both_directions(batch: pa.Table) -> pa.Table:
    a, b = batch.column("a"), batch.column("b")
    return pa.table(
        {"u": pa.concat_arrays([_arr(a), _arr(b)]), "v": pa.concat_arrays([_arr(b), _arr(a)])}
    )


def _arr(col: Any) -> pa.Array:
    return col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col


def _normalised(x: pl.Series, y: pl.Series) -> pa.Table:
    df = pl.DataFrame({"x": x, "y": y}).filter(pl.col("x") != pl.col("y"))
    df = df.select(
        pl.min_horizontal("x", "y").alias("a"), pl.max_horizontal("x", "y").alias("b")
    ).unique()
    return _arrow(df).cast(_PAIR_SCHEMA)


def _large_star(block: pa.Table) -> pa.Table:
    """For each node u (all its edges are in this partition): link every larger neighbour to
    the smallest of u and its neighbours."""
    df = _frame(block)
    if df.height == 0:
        return _PAIR_SCHEMA.empty_table()
    df = df.unique(["u", "v"]).with_columns(
        pl.min_horizontal(pl.col("v").min().over("u"), pl.col("u")).alias("m")
    )
    out = df.filter(pl.col("v") > pl.col("u"))
    return _normalised(out["v"], out["m"])


def _small_star(block: pa.Table) -> pa.Table:
    """For each node u: link u and its smaller neighbours to the smallest of them."""
    df = _frame(block)
    if df.height == 0:
        return _PAIR_SCHEMA.empty_table()
    df = (
        df.unique(["u", "v"])
        .filter(pl.col("v") < pl.col("u"))
        .with_columns(pl.col("v").min().over("u").alias("m"))
    )
    centre = df.select("u", "m").unique()
    x = pl.concat([df["v"], centre["u"]])
    y = pl.concat([df["m"], centre["m"]])
    return _normalised(x, y)


def _checksum(block: pa.Table) -> pa.Table:
    a = block.column("a").to_numpy().astype(np.uint64)
    b = block.column("b").to_numpy().astype(np.uint64)
    with np.errstate(over="ignore"):
        h = (a * np.uint64(0x9E3779B97F4A7C15)) ^ (b * np.uint64(0xC2B2AE3D27D4EB4F) + np.uint64(1))
        h ^= h >> np.uint64(29)
        s = int(h.sum(dtype=np.uint64))
    return pa.table({"n": [len(a)], "s": [str(s)]})


def _signature(ds: Any) -> tuple[int, int]:
    parts = ds.map_batches(_checksum, batch_size=None, batch_format="pyarrow").take_all()
    return sum(int(p["n"]) for p in parts), sum(int(p["s"]) for p in parts) % (1 << 64)


def _labels(block: pa.Table) -> pa.Table:
    """Star forest edges (centre a, leaf b) -> (row, cluster, size) for every clustered row."""
    df = _frame(block)
    if df.height == 0:
        return _COMP_SCHEMA.empty_table()
    df = pl.concat([df.select(row="b", cluster="a"), df.select(row="a", cluster="a")]).unique(
        ["row", "cluster"]
    )
    df = df.with_columns(pl.len().over("cluster").cast(pl.UInt32).alias("size"))
    return _arrow(df.select("row", "cluster", "size")).cast(_COMP_SCHEMA)


def _partners(block: pa.Table) -> pa.Table:
    df = _frame(block)
    if df.height == 0:
        return _PARTNER_SCHEMA.empty_table()
    out = df.sort(["x", "y"]).group_by("x", maintain_order=True).first()
    return _arrow(out.select(row="x", partner="y", similarity="sim")).cast(_PARTNER_SCHEMA)


def _edges_both(batch: pa.Table) -> pa.Table:
    a, b, s = _arr(batch.column("a")), _arr(batch.column("b")), _arr(batch.column("sim"))
    return pa.table(
        {
            "x": pa.concat_arrays([a, b]),
            "y": pa.concat_arrays([b, a]),
            "sim": pa.concat_arrays([s, s]),
        }
    )


def _components(edges: Any, partitions: int) -> tuple[Any, int]:
    """Connected components of the edge dataset (a < b): the star forest whose centres are the
    component minima, and the number of rounds it took."""
    e = edges.select_columns(["a", "b"]).materialize()
    sig = _signature(e)
    for rounds in range(1, _MAX_ROUNDS + 1):
        large = _shuffle(
            e.map_batches(_both_directions, batch_format="pyarrow"), ["u"], partitions, _large_star
        )
        small = _shuffle(
            large.map_batches(_both_directions, batch_format="pyarrow"),
            ["u"],
            partitions,
            _small_star,
        )
        small = small.materialize()
        new_sig = _signature(small)
        e = small
        if new_sig == sig:
            return e, rounds
        sig = new_sig
    raise RuntimeError(f"connected components did not converge in {_MAX_ROUNDS} rounds")


# ---------------------------------------------------------------------------------------------
# the driver


def _partitions(n: int, requested: int | None) -> int:
    if requested is not None:
        if requested < 1:
            raise ConfigError(f"partitions must be at least 1, got {requested}")
        return requested
    return max(2, math.ceil(n / 250_000))


def scan(
    source: Any,
    *,
    config: ScanConfig | None = None,
    mapping: dict[str, str] | None = None,
    format: str | None = None,
    address: str | None = None,
    work_dir: str | Path | None = None,
    resume: bool = False,
    partitions: int | None = None,
    block_rows: int = 50_000,
    progress: bool = False,
    **overrides: Any,
) -> ScanResult:
    """Screen a corpus on Ray Data; the result equals :func:`poisonscreen.scan`'s.

    ``source``: paths/globs/directories (as :func:`poisonscreen.read_corpus`), a polars
    DataFrame, or a ``ray.data.Dataset`` with prompt/response-like columns. The cluster is
    ``address``, else ``$RAY_ADDRESS``, else a new local one (an already initialised Ray is
    used as is). Stage outputs go to ``work_dir`` (default: a temporary folder under the current
    directory, ``.poisonscreen-work``); with ``resume=True`` stages finished by an earlier run
    on the same input and settings are reused, and a work directory holding another input's
    stages is refused. ``partitions`` is the number of hash partitions of each shuffle (default
    one per 250,000 rows, at least 2); ``block_rows`` bounds the rows per block read. Setting
    overrides as for :func:`poisonscreen.scan`. See the module docstring for what runs where.
    """
    # device="gpu" is checked against the cluster's GPUs once connected, not this machine's
    cfg = resolve_config(config, overrides, check_device=False)
    if isinstance(block_rows, bool) or not isinstance(block_rows, int) or block_rows < 1:
        raise ConfigError(f"block_rows must be a positive int, got {block_rows!r}")
    fingerprint = _fingerprint(source, cfg, mapping, format, resume)
    started = _now()
    files = None
    if not isinstance(source, (pl.DataFrame, pl.LazyFrame, ray.data.Dataset)):
        files = _paths.fingerprint_files(scan_sources(source))
    _connect(address)
    if cfg.device == "gpu" and _cluster_gpus() < 1:
        raise ConfigError('device="gpu" but the Ray cluster has no GPU')
    work = _Work(Path(work_dir or ".poisonscreen-work"), fingerprint, resume)

    ctx = ray.data.DataContext.get_current()
    saved = (ctx.execution_options.preserve_order, ctx.enable_progress_bars, ctx.shuffle_strategy)
    ctx.execution_options.preserve_order = True
    # the sort-based (task) shuffle: the hash shuffle starts actor aggregators per shuffle, which
    # cost seconds each and idle CPUs in between
    ctx.shuffle_strategy = ShuffleStrategy.SORT_SHUFFLE_PULL_BASED
    ctx.enable_progress_bars = progress
    timer = _Timer(None)
    try:
        result = _run(source, cfg, mapping, format, work, partitions, block_rows, timer)
        if files is not None:
            _paths.check_unchanged(files)
        result.summary.update(
            inputs=None if files is None else _paths.public(files),
            input_roots=[str(r) for r in _paths.input_roots(source)],
            started_at=started,
        )
        return result
    finally:
        _MEMORY.clear()
        ctx.execution_options.preserve_order, ctx.enable_progress_bars, ctx.shuffle_strategy = saved


def _run(
    source: Any,
    cfg: ScanConfig,
    mapping: dict[str, str] | None,
    fmt: str | None,
    work: _Work,
    partitions: int | None,
    block_rows: int,
    timer: _Timer,
) -> ScanResult:
    info = work.done("read")
    with timer.stage("read"):
        if info is None:
            limits = {"max_depth": cfg.max_depth, "max_row_bytes": cfg.max_row_bytes}
            ds, n, response_bytes = _read_stage(source, mapping, fmt, block_rows, limits)
            rows = _write(ds, work.begin("read"), _arrow(pl.DataFrame(schema=CORPUS_SCHEMA)).schema)
            if rows != n:
                raise RuntimeError(f"read stage wrote {rows} rows, counted {n}")
            info = {"rows": n, "response_bytes": response_bytes}
            work.finish("read", info)
    n = int(info["rows"])
    parts = _partitions(n, partitions)
    sample_every = det.familiarity_sample_every(n, cfg, int(info["response_bytes"]))

    with timer.stage("references"):
        if work.done("references") is None:
            refs = _shuffle(
                _read(work.dir("read")).map_batches(
                    _batch_references,
                    batch_format="pyarrow",
                    fn_kwargs={"sample_every": sample_every},
                ),
                ["h"],
                parts,
                _sum_references,
            )
            count = _write(refs, work.begin("references"), _REF_SCHEMA)
            work.finish("references", {"rows": count})
        references = _collect(work.dir("references"))
        bigram = references.filter(pl.col("kind") == "bigram").sort("h")
        ref = ray.put((bigram["h"].to_numpy(), bigram["df"].to_numpy().astype(np.int64)))

    with timer.stage("features"):
        if work.done("features") is None:
            feats = _read(work.dir("read")).map_batches(
                _batch_features,
                batch_format="pyarrow",
                fn_kwargs={"cfg": cfg, "sample_every": sample_every, "ref": ref},
            )
            count = _write(feats, work.begin("features"), pa.schema([]))
            if count != n:
                raise RuntimeError(f"features stage wrote {count} rows for {n} input rows")
            work.finish("features", {"rows": count})

    with timer.stage("pairs"):
        if work.done("pairs") is None:
            d = work.begin("pairs")
            counts = {}
            for which in _CLUSTERINGS:
                threshold, _, _ = _clustering(cfg, which)
                col = "response" if which == "resp" else "prompt"
                cols = ["row", col, f"{which}_keys", f"{which}_skip"]
                keys = _read(work.dir("features"), cols).map_batches(
                    _explode_keys, batch_format="pyarrow", fn_kwargs={"which": which}
                )
                verified = _shuffle(
                    keys,
                    ["band", "key"],
                    parts,
                    _bucket_edges,
                    max_bucket=_MAX_BUCKET,
                    threshold=threshold,
                )
                (d / which).mkdir()
                counts[which] = _write(verified, d / which, _EDGE_SCHEMA)
            work.finish("pairs", counts)

    with timer.stage("edges"):
        if work.done("edges") is None:
            d = work.begin("edges")
            counts = {}
            for which in _CLUSTERINGS:
                (d / which).mkdir()
                verified = _read(work.dir("pairs") / which)
                if verified.count() == 0:
                    counts[which] = _write(verified, d / which, _EDGE_SCHEMA)
                    continue
                edges = _shuffle(verified, ["a", "b"], parts, _unique_edges)
                counts[which] = _write(edges, d / which, _EDGE_SCHEMA)
            work.finish("edges", counts)

    with timer.stage("components"):
        if work.done("components") is None:
            d = work.begin("components")
            summary: dict[str, Any] = {}
            for which in _CLUSTERINGS:
                edges = _read(work.dir("edges") / which)
                (d / f"{which}_labels").mkdir()
                (d / f"{which}_partners").mkdir()
                if edges.count() == 0:
                    _write(edges.limit(0), d / f"{which}_labels", _COMP_SCHEMA)
                    _write(edges.limit(0), d / f"{which}_partners", _PARTNER_SCHEMA)
                    summary[which] = {"rounds": 0, "rows": 0}
                    continue
                star, rounds = _components(edges, parts)
                labels = _shuffle(star, ["a"], parts, _labels)
                rows = _write(labels, d / f"{which}_labels", _COMP_SCHEMA)
                both = edges.map_batches(_edges_both, batch_format="pyarrow")
                _write(
                    _shuffle(both, ["x"], parts, _partners),
                    d / f"{which}_partners",
                    _PARTNER_SCHEMA,
                )
                summary[which] = {"rounds": rounds, "rows": rows}
            work.finish("components", summary)

    with timer.stage("assemble"):
        columns = [
            "row",
            "valid",
            "prompt",
            "response",
            "resp_words",
            "repetition",
            "familiarity",
            "gibberish",
            "degenerate",
            "anomaly",
            "empty_response",
            "document",
            "row_hash",
        ]
        # with spill, the text the driver needs is memory-mapped from a scratch file, as the
        # local engine's; otherwise (or if the stages' files overlap) it is held in memory
        spilled = [
            _spill_collect(work.dir(stage), cols, key, cfg.spill_dir) if cfg.spill else None
            for stage, cols, key in (
                ("read", list(CORPUS_SCHEMA), "row_id"),
                ("features", columns, "row"),
            )
        ]
        corpus = (
            _mapped(spilled[0])
            if spilled[0] is not None
            else _collect(work.dir("read")).sort("row_id")
        )
        corpus = corpus.select(list(CORPUS_SCHEMA)).cast(CORPUS_SCHEMA)  # type: ignore[arg-type]
        table = (
            _mapped(spilled[1])
            if spilled[1] is not None
            else _collect(work.dir("features"), columns).sort("row")
        )
        if table.height != n or corpus.height != n:
            raise RuntimeError(f"assembled {table.height} feature rows for {n} input rows")
        base = table.with_columns(pl.col("row").cast(pl.UInt32))
        base = (
            base.cast({"resp_words": pl.UInt32}) if base.schema["resp_words"] != pl.UInt32 else base
        )
        clusters = {w: _cluster_frame(work, w, n) for w in _CLUSTERINGS}
        vocab = (
            references.filter(pl.col("kind") == "vocab")
            .select("h", "word", "df")
            .sort(["df", "word", "h"], descending=[True, False, False])
        )
        feats = det.assemble_features(base, clusters["resp"], clusters["tmpl"], vocab)
        feats.token_table_mb = cfg.token_table_mb
        if spilled[1] is not None:  # the mapped prompts, for the core without a copy
            feats.prompt_text = spilled[1].column("prompt")
    actor = _similarity_actor(cfg)
    if actor is not None:
        feats.similarity_runner = lambda fn, *args: ray.get(actor.run.remote(fn, *args))
    try:
        rows_out, triggers, clusters_out = detect(corpus, feats, cfg, timer)
    finally:
        if actor is not None:
            ray.kill(actor)
    result = make_result(
        corpus,
        rows_out,
        triggers,
        clusters_out,
        cfg,
        timer.seconds,
        engine="ray",
        backend=similarity_backend(feats, cfg),
    )
    result.summary["similarity_placement"] = "ray actor (num_gpus=1)" if actor else "driver"
    return result


def _cluster_gpus() -> float:
    return float(ray.cluster_resources().get("GPU", 0))


class _SimilarityWorker:
    """Runs the similarity stage (``detectors._coherence``) where a GPU was granted."""

    def run(self, fn: Any, *args: Any) -> Any:
        return fn(*args)


def _similarity_actor(cfg: ScanConfig) -> Any:
    """A Ray actor holding one GPU for the similarity stage when the cluster has GPUs and the
    device allows one (``auto``/``gpu``); ``None`` otherwise, and the stage runs on the CPU
    in the driver with the rest of ``detect``. On the actor, ``device="auto"`` still falls back
    to NumPy if that node lacks CuPy; summary.json's ``backend`` says which ran."""
    if cfg.device == "cpu" or _cluster_gpus() < 1:
        return None
    return ray.remote(num_gpus=1)(_SimilarityWorker).remote()


def _cluster_frame(work: _Work, which: str, n: int) -> pl.DataFrame:
    """``near_duplicates``' columns (``cluster_id``, ``cluster_size``, ``similarity``) in row
    order from the labels and partners of the components stage."""
    d = work.dir("components")
    labels = _collect(d / f"{which}_labels")
    partners = _collect(d / f"{which}_partners")
    cluster = np.arange(n, dtype=np.uint64)
    size = np.ones(n, dtype=np.uint32)
    rows = labels["row"].to_numpy().astype(np.int64)
    cluster[rows] = labels["cluster"].to_numpy()
    size[rows] = labels["size"].to_numpy()
    sim = np.full(n, np.nan)
    prow = partners["row"].to_numpy().astype(np.int64)
    sim[prow] = partners["similarity"].to_numpy()
    return pl.DataFrame(
        {
            "cluster_id": cluster,
            "cluster_size": size,
            "similarity": pl.Series(sim, dtype=pl.Float64).fill_nan(None),
        }
    )
