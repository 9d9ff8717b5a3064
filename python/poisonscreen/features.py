"""Polars-first feature functions over the Rust core: signatures, LSH buckets, near-duplicate
clusters, n-gram document frequencies and text statistics.

Every function takes text as a polars Series, a pyarrow array, a list of str, or a polars
DataFrame/LazyFrame plus the name of a column (or a polars expression), and returns NumPy arrays
(``minhash``) or polars DataFrames keyed by ``row_id``. ``threads=None`` uses every core; any
value gives bit-identical results.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import polars as pl
import pyarrow as pa

from . import _arrow
from . import _poisonscreen as _core
from ._arrow import byte_lengths, text_chunks, text_slices, to_arrow_text
from .exceptions import ConfigError

__all__ = [
    "ShingleConfig",
    "band_keys",
    "lsh_params",
    "minhash",
    "near_duplicates",
    "ngram_frequencies",
    "signatures",
    "text_stats",
]

Mode = Literal["word", "char"]


@dataclass(frozen=True)
class ShingleConfig:
    """How text becomes shingles: normalisation switches, word or char tokens, k-gram size."""

    ngram: int = 5
    mode: Mode = "word"
    nfkc: bool = True
    casefold: bool = True
    collapse_whitespace: bool = True

    def kwargs(self) -> dict[str, Any]:
        return {
            "k": self.ngram,
            "mode": self.mode,
            "nfkc": self.nfkc,
            "casefold": self.casefold,
            "collapse_whitespace": self.collapse_whitespace,
        }


def _texts(data: Any, column: str | pl.Expr | None) -> tuple[Any, pl.Series]:
    """(text input for the core, row ids) from any supported input."""
    if isinstance(data, (pl.DataFrame, pl.LazyFrame)):
        if column is None:
            raise ConfigError("column= is required when passing a DataFrame or LazyFrame")
        expr = pl.col(column) if isinstance(column, str) else column
        has_row_id = "row_id" in data.collect_schema().names()
        row_id = pl.col("row_id") if has_row_id else pl.int_range(pl.len(), dtype=pl.UInt64)
        df = data.lazy().select(row_id.cast(pl.UInt64).alias("row_id"), expr.alias("__text"))
        out = df.collect()
        if out.schema["__text"] not in (pl.String, pl.Null):
            raise ConfigError(f"column {column!r} must be text, got {out.schema['__text']}")
        return out["__text"], out["row_id"]
    chunks_input = data
    n = len(data) if hasattr(data, "__len__") else None
    if n is None:
        chunks_input = list(data)
        n = len(chunks_input)
    return chunks_input, pl.Series("row_id", np.arange(n, dtype=np.uint64))


def minhash(
    texts: Any,
    *,
    num_perm: int = 128,
    ngram: int = 5,
    seed: int = 0,
    mode: Mode = "word",
    threads: int | None = None,
) -> np.ndarray:
    """MinHash signatures, a ``(rows, num_perm)`` uint32 array.

    Shingles are word ``ngram``-grams (or char grams with ``mode="char"``) of the NFKC-normalised,
    case-folded, whitespace-collapsed text, each hashed once with xxh3-64 and mixed into
    ``num_perm`` values by ``(a_i * h + b_i) >> 32`` with odd ``a_i``. Texts with fewer than
    ``ngram`` tokens get one shingle of all their tokens; null and token-less texts get the
    empty-set signature (all ``0xFFFFFFFF``). The share of equal positions of two signatures
    estimates their Jaccard similarity with standard error ``sqrt(J(1-J)/num_perm)``.
    """
    chunks, _ = text_chunks(texts)
    cfg = ShingleConfig(ngram=ngram, mode=mode)
    return _core.signatures(chunks, num_perm=num_perm, seed=seed, threads=threads, **cfg.kwargs())


def signatures(
    data: Any,
    column: str | pl.Expr | None = None,
    *,
    num_perm: int = 128,
    ngram: int = 5,
    seed: int = 0,
    mode: Mode = "word",
    threads: int | None = None,
) -> pl.DataFrame:
    """``row_id`` and ``signature`` (``Array[UInt32, num_perm]``) for every row."""
    texts, row_id = _texts(data, column)
    sigs = minhash(texts, num_perm=num_perm, ngram=ngram, seed=seed, mode=mode, threads=threads)
    return pl.DataFrame(
        {
            "row_id": row_id,
            "signature": pl.Series("signature", sigs, dtype=pl.Array(pl.UInt32, num_perm)),
        }
    )


def lsh_params(threshold: float, num_perm: int = 128) -> tuple[int, int]:
    """``(bands, rows)`` minimising false positives + false negatives around ``threshold``."""
    return tuple(_core.lsh_params(threshold, num_perm))  # type: ignore[return-value]


def _sig_matrix(sigs: Any) -> np.ndarray:
    if isinstance(sigs, pl.DataFrame):
        sigs = sigs["signature"]
    if isinstance(sigs, pl.Series):
        sigs = sigs.to_numpy()
    arr = np.ascontiguousarray(sigs, dtype=np.uint32)
    if arr.ndim != 2:
        raise ConfigError(f"signatures must be 2-d (rows, num_perm), got shape {arr.shape}")
    return arr


def band_keys(
    sigs: Any,
    *,
    threshold: float | None = 0.8,
    bands: int | None = None,
    rows: int | None = None,
    threads: int | None = None,
) -> pl.DataFrame:
    """LSH bucket keys, long format: ``row_id``, ``band``, ``key`` (uint64).

    ``sigs`` is a signature matrix or the output of :func:`signatures`. Give ``bands`` and
    ``rows`` or a Jaccard ``threshold`` to derive them.
    """
    row_id = sigs["row_id"] if isinstance(sigs, pl.DataFrame) else None
    mat = _sig_matrix(sigs)
    b, r = _bands_rows(mat.shape[1], threshold, bands, rows)
    keys = _core.band_keys(mat, b, r, threads=threads)
    n = mat.shape[0]
    rid = row_id.to_numpy() if row_id is not None else np.arange(n, dtype=np.uint64)
    return pl.DataFrame(
        {
            "row_id": np.repeat(rid.astype(np.uint64), b),
            "band": np.tile(np.arange(b, dtype=np.uint16), n),
            "key": keys.reshape(-1),
        }
    )


def _bands_rows(
    num_perm: int, threshold: float | None, bands: int | None, rows: int | None
) -> tuple[int, int]:
    if bands is not None or rows is not None:
        if bands is None or rows is None:
            raise ConfigError("give both bands= and rows=, or a threshold=")
        return bands, rows
    if threshold is None:
        raise ConfigError("give a threshold= or bands= and rows=")
    return lsh_params(threshold, num_perm)


def near_duplicates(
    data: Any,
    column: str | pl.Expr | None = None,
    *,
    threshold: float = 0.8,
    num_perm: int = 128,
    ngram: int = 5,
    seed: int = 0,
    mode: Mode = "word",
    verify: Literal["exact", "signature", "none"] = "exact",
    max_bucket: int = 64,
    bands: int | None = None,
    rows: int | None = None,
    threads: int | None = None,
    sigs: np.ndarray | None = None,
    verify_text_mb: float = 512.0,
) -> pl.DataFrame:
    """Near-duplicate clusters by MinHash LSH and union-find.

    Returns one row per input row: ``row_id``, ``cluster_id`` (the smallest ``row_id`` in the
    cluster; the row's own id for singletons), ``cluster_size``, ``partner`` (the smallest
    ``row_id`` this row shares a verified pair with, null for singletons) and ``similarity`` (of
    that pair). Candidate pairs come from LSH buckets; with ``verify="exact"`` each is checked by
    exact Jaccard of its shingle sets (``"signature"``: by signature agreement, ``"none"``: kept as
    is), so no reported pair is below ``threshold``. Buckets larger than ``max_bucket`` link each
    member to the next ``max_bucket - 1`` members only (in the order of their band keys, so the
    clusters do not depend on the rows' order), which keeps work linear on huge templated
    groups.

    Identical texts are collapsed first: only the first row of each distinct text enters LSH, and
    every later copy is paired with that first row (similarity 1), so a copy's ``partner`` is the
    first occurrence of its text. Copies therefore cost no candidate pairs and do not crowd a
    bucket's ``max_bucket`` window. Empty and null texts never cluster, not even with their copies.

    ``verify_text_mb`` bounds the exact check's memory: it holds the shingle sets (about 1.5
    bytes per byte of text) of at most that much text (MB) at once, verifying the candidate
    pairs in blocks when their rows hold more; the result does not depend on it.
    """
    if not 0.0 < threshold < 1.0:
        raise ConfigError(f"threshold must be in (0, 1), got {threshold}")
    if verify not in ("exact", "signature", "none"):
        raise ConfigError(f"verify must be 'exact', 'signature' or 'none', got {verify!r}")
    if not (math.isfinite(verify_text_mb) and verify_text_mb > 0):
        raise ConfigError(f"verify_text_mb must be a positive number, got {verify_text_mb}")
    texts, row_id = _texts(data, column)
    arrow = to_arrow_text(texts)
    chunks, n = text_chunks(arrow)
    cfg = ShingleConfig(ngram=ngram, mode=mode)
    # identical texts have identical shingle sets: LSH and verification see one representative
    # (its first row) per distinct text, and each later copy is joined to it with similarity 1
    first = _first_occurrence(arrow)
    is_rep = first == np.arange(n, dtype=np.int64)
    reps = np.flatnonzero(is_rep)
    if sigs is not None:
        sigs = _sig_matrix(sigs)
        if sigs.shape[0] != n:
            raise ConfigError(f"sigs has {sigs.shape[0]} rows for {n} texts")
        sigs = sigs if len(reps) == n else sigs[reps]
    else:  # the distinct texts only, signed in place
        sigs = _core.signatures(
            chunks,
            num_perm=num_perm,
            seed=seed,
            rows=None if len(reps) == n else reps.astype(np.uint32),
            threads=threads,
            **cfg.kwargs(),
        )
    b, r = _bands_rows(sigs.shape[1], threshold, bands, rows)
    keys = _core.band_keys(sigs, b, r, threads=threads)
    empty = (sigs == np.uint32(0xFFFFFFFF)).all(axis=1)
    pairs = _core.candidate_pairs(keys, max_bucket=max_bucket, skip=empty, threads=threads)
    # representatives are in row order, so pairs mapped to rows stay (smaller, larger) and sorted
    row_pairs = np.ascontiguousarray(reps[pairs].reshape(-1, 2), dtype=np.uint32)
    if verify == "exact":
        sim = _exact_jaccard(chunks, row_pairs, byte_lengths(arrow), threads, cfg, verify_text_mb)
    else:
        sim = _core.signature_agreement(sigs, pairs, threads=threads)
    keep = np.ones(len(pairs), dtype=bool) if verify == "none" else sim >= threshold
    rep_edges = row_pairs[keep].astype(np.int64)
    copies = np.flatnonzero(~is_rep)
    is_empty = np.zeros(n, dtype=bool)
    is_empty[reps] = empty
    copies = copies[~is_empty[first[copies]]]  # empty texts never cluster, not even copies
    edges = np.concatenate([rep_edges, np.stack([first[copies], copies], axis=1)])
    edge_sim = np.concatenate([sim[keep], np.ones(len(copies))])
    order = np.lexsort((edges[:, 1], edges[:, 0]))
    edges = np.ascontiguousarray(edges[order], dtype=np.uint32)
    edge_sim = edge_sim[order]
    cluster, partner = _core.connected_components(n, edges)
    partner_sim = _partner_similarity(n, edges, edge_sim, partner)
    rid = row_id.to_numpy().astype(np.uint64)
    # the core's ids are the smallest *position* of each cluster; row_id need not be sorted
    smallest = np.full(n, np.iinfo(np.uint64).max, dtype=np.uint64)
    np.minimum.at(smallest, cluster, rid)
    out = pl.DataFrame(
        {
            "row_id": rid,
            "cluster_id": smallest[cluster],
            "partner": pl.Series(np.where(partner >= 0, rid[np.maximum(partner, 0)], 0)),
            "similarity": partner_sim,
        }
    ).with_columns(
        pl.when(pl.Series(partner >= 0)).then(pl.col("partner")).alias("partner"),
        pl.when(pl.Series(partner >= 0)).then(pl.col("similarity")).alias("similarity"),
        pl.len().over("cluster_id").cast(pl.UInt32).alias("cluster_size"),
    )
    return out.select("row_id", "cluster_id", "cluster_size", "partner", "similarity")


def _text_hashes(arrow: pa.ChunkedArray) -> np.ndarray:
    """A 64-bit hash of each text, a slice of rows at a time (polars views the Arrow text, so
    no text is copied; the slice bounds its per-row views)."""
    return np.concatenate(
        [
            pl.Series("t", arrow.slice(i, _arrow.SLICE_ROWS), dtype=pl.String)
            .hash(seed=0)
            .to_numpy()
            for i in range(0, len(arrow), _arrow.SLICE_ROWS)
        ]
    )


def _first_occurrence(arrow: pa.ChunkedArray) -> np.ndarray:
    """For each row, the position of the first row with the same text (nulls: the first null).

    Rows are hashed a slice at a time; a row whose hash another row shares is compared in place
    with the first row of that hash. Rows that differ from it (a hash collision) and null rows
    are grouped by their text exactly."""
    n = len(arrow)
    first = np.arange(n, dtype=np.int64)
    if n < 2:
        return first
    fp = _text_hashes(arrow)
    # the first row of each row's hash, then each later row compared with it
    by_hash = pl.DataFrame({"fp": fp, "i": np.arange(n, dtype=np.int64)})
    head = by_hash.select(pl.col("i").min().over("fp"))["i"].to_numpy()
    cand = np.flatnonzero(head != first)
    if len(cand) == 0:
        return first
    chunks = text_chunks(arrow)[0]
    same = _core.equal_texts(chunks, cand.astype(np.uint32), head[cand].astype(np.uint32))
    first[cand[same]] = head[cand[same]]
    odd = cand[~same]
    if len(odd):  # a hash shared with a different text, or null texts: exact grouping
        rows = np.concatenate([odd, np.unique(head[odd])])
        sub = pl.DataFrame(
            {
                "fp": fp[rows],
                "t": pl.Series("t", _arrow.take(arrow, rows), dtype=pl.String),
                "i": rows,
            }
        )
        first[rows] = sub.select(pl.col("i").min().over("fp", "t"))["i"].to_numpy()
    return first


def _exact_jaccard(
    chunks: Any,
    pairs: np.ndarray,
    lengths: np.ndarray,
    threads: int | None,
    cfg: ShingleConfig,
    text_mb: float,
) -> np.ndarray:
    """``_core.exact_jaccard`` of ``pairs``, holding the shingle sets (about 1.5 bytes of set per
    byte of text) of at most ``text_mb`` MB of text at once: candidate pairs whose rows hold more
    are verified in blocks, each row's set then computed once per block it appears in."""
    max_bytes = max(1, int(text_mb * 1e6))
    used = np.zeros(len(lengths), dtype=bool)
    used[pairs.ravel()] = True
    if lengths[used].sum() <= max_bytes:
        return _core.exact_jaccard(chunks, pairs, threads=threads, **cfg.kwargs())
    cost = lengths[pairs[:, 0]] + lengths[pairs[:, 1]]
    blocks = text_slices(cost, max_rows=len(pairs), max_bytes=max_bytes)
    return np.concatenate(
        [
            _core.exact_jaccard(chunks, pairs[s : s + k], threads=threads, **cfg.kwargs())
            for s, k in blocks
        ]
    )


def _partner_similarity(
    n: int, edges: np.ndarray, sim: np.ndarray, partner: np.ndarray
) -> np.ndarray:
    """Similarity of the edge (row, partner[row]) for every row that has a partner."""
    out = np.zeros(n, dtype=np.float64)
    rows = np.nonzero(partner >= 0)[0]
    if len(edges) == 0 or len(rows) == 0:
        return out
    # edges are sorted (i < j) pairs: look each (row, partner) up by its combined key
    key = edges[:, 0].astype(np.uint64) * np.uint64(n) + edges[:, 1].astype(np.uint64)
    a = np.minimum(rows, partner[rows]).astype(np.uint64)
    b = np.maximum(rows, partner[rows]).astype(np.uint64)
    pos = np.searchsorted(key, a * np.uint64(n) + b)
    out[rows] = sim[pos]
    return out


def ngram_frequencies(
    data: Any,
    column: str | pl.Expr | None = None,
    *,
    orders: tuple[int, ...] = (1, 2, 3),
    min_df: int = 2,
    mode: Mode = "word",
    threads: int | None = None,
) -> pl.DataFrame:
    """Document frequency of every word (or char) n-gram: ``hash``, ``order``, ``ngram``, ``df``.

    Each n-gram counts once per row. Counting is mergeable: see :class:`NgramCounter`.
    """
    counter = NgramCounter(orders, mode=mode)
    counter.add(data, column, threads=threads)
    return counter.table(min_df=min_df)


class NgramCounter:
    """Streaming, mergeable n-gram document frequencies.

    Counters fed different batches or shards and merged give exactly the table of one pass.
    """

    def __init__(
        self, orders: tuple[int, ...] | list[int] = (1, 2, 3), *, mode: Mode = "word"
    ) -> None:
        self._inner = _core.NgramCounter(list(orders), mode=mode)

    def add(
        self, data: Any, column: str | pl.Expr | None = None, *, threads: int | None = None
    ) -> None:
        texts, _ = _texts(data, column)
        chunks, _ = text_chunks(texts)
        self._inner.add(chunks, threads=threads)

    def merge(self, other: NgramCounter) -> None:
        self._inner.merge(other._inner)

    @property
    def documents(self) -> int:
        return int(self._inner.documents)

    def __len__(self) -> int:
        return len(self._inner)

    def table(self, min_df: int = 1) -> pl.DataFrame:
        t = self._inner.table(min_df)
        return pl.DataFrame(
            {
                "hash": pl.Series(t["hash"], dtype=pl.UInt64),
                "order": pl.Series(t["order"], dtype=pl.UInt32),
                "ngram": pl.Series(t["text"], dtype=pl.String),
                "df": pl.Series(t["df"], dtype=pl.UInt64),
            }
        )


_STAT_COLUMNS = (
    "chars",
    "words",
    "char_entropy",
    "repetition",
    "non_alnum",
    "compressibility",
    "unique_word_ratio",
)


def text_stats(
    data: Any, column: str | pl.Expr | None = None, *, threads: int | None = None
) -> pl.DataFrame:
    """Cheap per-row statistics: ``chars``, ``words``, ``char_entropy`` (bits per char),
    ``repetition`` (share of repeated word 3-grams), ``non_alnum`` (share of non-alphanumeric
    non-space chars), ``compressibility`` (lz4 size / raw size) and ``unique_word_ratio``.
    Null rows give nulls.
    """
    texts, row_id = _texts(data, column)
    chunks, _ = text_chunks(texts)
    d = _core.text_stats(chunks, threads=threads)
    valid = pl.Series(d["valid"])
    cols = {
        name: pl.when(valid).then(pl.Series(name, d[name])).alias(name) for name in _STAT_COLUMNS
    }
    return (
        pl.DataFrame({"row_id": row_id}).with_columns(**cols)
        if len(row_id)
        else pl.DataFrame(
            {"row_id": row_id, **{name: pl.Series(name, d[name]) for name in _STAT_COLUMNS}}
        )
    )
