"""Hand text columns to the Rust core as Arrow buffers, without copying per row."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any, Union

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from .exceptions import ConfigError

Chunk = tuple[np.ndarray, np.ndarray, np.ndarray | None, int]
TextInput = Union[pl.Series, pa.Array, pa.ChunkedArray, "Iterable[str | None]"]


def _chunk(arr: pa.Array) -> Chunk:
    """The (offsets, data, validity, validity_offset) buffers of one large_string array."""
    validity_buf, offsets_buf, data_buf = arr.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=np.int64)[arr.offset : arr.offset + len(arr) + 1]
    data = (
        np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    )
    if len(offsets) == 0:  # a zero-length array may come without an offsets buffer
        offsets = np.zeros(1, dtype=np.int64)
    validity = (
        np.frombuffer(validity_buf, dtype=np.uint8)
        if validity_buf is not None and arr.null_count > 0
        else None
    )
    return offsets, data, validity, arr.offset


def to_arrow_text(texts: Any, what: str = "texts") -> pa.ChunkedArray:
    """Any supported text input as a ``large_string`` chunked array."""
    if isinstance(texts, pl.Series):
        if texts.dtype not in (pl.String, pl.Null):
            raise ConfigError(f"{what}: expected a String series, got {texts.dtype}")
        arr: Any = texts.to_arrow()
    elif isinstance(texts, (pa.Array, pa.ChunkedArray)):
        arr = texts
    elif isinstance(texts, (str, bytes)):
        raise ConfigError(
            f"{what}: expected a sequence of strings, got a single {type(texts).__name__}"
        )
    else:
        values = list(texts)
        bad = next(
            ((i, v) for i, v in enumerate(values) if v is not None and not isinstance(v, str)), None
        )
        if bad is not None:
            raise ConfigError(
                f"{what}[{bad[0]}]: expected str or None, got {type(bad[1]).__name__}"
            )
        arr = pa.array(values, type=pa.large_string())
    if isinstance(arr, pa.Array):
        arr = pa.chunked_array([arr])
    if arr.type != pa.large_string():
        if not (
            pa.types.is_string(arr.type)
            or pa.types.is_large_string(arr.type)
            or pa.types.is_string_view(arr.type)
            or pa.types.is_null(arr.type)
        ):
            raise ConfigError(f"{what}: expected string data, got Arrow type {arr.type}")
        arr = arr.cast(pa.large_string())
    return arr


def text_chunks(texts: Any, what: str = "texts") -> tuple[list[Chunk], int]:
    """Arrow chunks of any supported text input, and the row count."""
    arr = to_arrow_text(texts, what)
    return [_chunk(c) for c in arr.chunks], len(arr)


#: most rows and most bytes of text taken out of a column at a time wherever a step would
#: otherwise copy or derive the text of every row at once: the memory such a step needs for text
#: is then one slice's, whatever the length of the corpus's texts
SLICE_ROWS = 1 << 16
SLICE_BYTES = 1 << 25


def text_slices(
    lengths: np.ndarray, max_rows: int | None = None, max_bytes: int | None = None
) -> list[tuple[int, int]]:
    """Consecutive ``(start, length)`` slices of rows whose text lengths are ``lengths``: each
    at most ``max_rows`` rows and ``max_bytes`` bytes (or a single row that is longer);
    defaults :data:`SLICE_ROWS` and :data:`SLICE_BYTES`."""
    max_rows = max_rows or SLICE_ROWS
    max_bytes = max_bytes or SLICE_BYTES
    n = len(lengths)
    cum = np.cumsum(np.asarray(lengths, dtype=np.int64))
    out = []
    start = 0
    while start < n:
        base = int(cum[start - 1]) if start else 0
        end = int(np.searchsorted(cum, base + max_bytes, side="right"))
        end = min(max(end, start + 1), start + max_rows, n)
        out.append((start, end - start))
        start = end
    return out


def byte_lengths(texts: Any) -> np.ndarray:
    """The UTF-8 byte length of each text (0 for null) of a String series or Arrow array."""
    if isinstance(texts, pl.Series):
        return texts.str.len_bytes().fill_null(0).to_numpy()
    lengths = pc.binary_length(texts)
    return pc.fill_null(lengths, 0).to_numpy()


def take(arr: pa.Array | pa.ChunkedArray, indices: np.ndarray) -> pa.ChunkedArray:
    """``arr.take(indices)`` that copies only the taken rows. pyarrow's own ``take`` on a
    chunked array concatenates every chunk first, a copy of the whole column: the spilled corpus
    is one chunk per read batch, so each row is taken from its own chunk here instead."""
    indices = np.asarray(indices, dtype=np.int64)
    if isinstance(arr, pa.Array):
        return pa.chunked_array([arr.take(pa.array(indices))])
    if arr.num_chunks == 1:
        return pa.chunked_array([arr.chunk(0).take(pa.array(indices))])
    if len(indices) and (indices.min() < 0 or indices.max() >= len(arr)):
        raise IndexError(f"take: index out of bounds for {len(arr)} rows")
    starts = np.cumsum([0] + [len(c) for c in arr.chunks], dtype=np.int64)
    which = np.searchsorted(starts, indices, side="right") - 1
    order = np.argsort(which, kind="stable")
    bounds = np.searchsorted(which[order], np.arange(arr.num_chunks + 1))
    parts = [
        arr.chunk(c).take(pa.array(indices[order[a:b]] - starts[c]))
        for c, (a, b) in enumerate(itertools.pairwise(bounds))
        if b > a
    ]
    if not parts:
        return pa.chunked_array([], type=arr.type)
    taken = pa.concat_arrays(parts)
    if np.all(order[1:] > order[:-1]):  # indices already in chunk order
        return pa.chunked_array([taken])
    inverse = np.empty_like(order)
    inverse[order] = np.arange(len(order))
    return pa.chunked_array([taken.take(pa.array(inverse))])
