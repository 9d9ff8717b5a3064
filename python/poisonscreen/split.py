"""Split inputs into clean and quarantined rows, each file in its original format.

A row is quarantined when the scan flagged it or it could not be parsed. The split is checked:
the findings must describe exactly the rows read now (same count, same files and lines), every
input record is written to exactly one output, and the outputs are re-read and counted.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from .exceptions import InputError
from .io import CORPUS_SCHEMA, iter_corpus, json_array, json_layout


def _split_jsonl(src: Path, mask: list[bool], clean_path: Path, quar_path: Path) -> tuple[int, int]:
    """Each record line (gzip too) to the clean or the quarantine file, streamed; the counts
    written."""
    opener: Callable[..., Any] = gzip.open if src.name.lower().endswith(".gz") else open
    counts = [0, 0]
    n = 0
    with (
        opener(src, "rb") as fin,
        opener(clean_path, "wb") as clean,
        opener(quar_path, "wb") as quar,
    ):
        outs = (clean, quar)
        for i, line in enumerate(fin):
            body = line[3:] if i == 0 and line.startswith(b"\xef\xbb\xbf") else line
            if not body.strip():
                continue  # a blank line is not a record (nor a row)
            if n >= len(mask):
                _check(src, n + 1 + sum(1 for rest in fin if rest.strip()), len(mask))
            q = int(mask[n])
            outs[q].write(line if line.endswith(b"\n") else line + b"\n")
            counts[q] += 1
            n += 1
    _check(src, n, len(mask))
    return counts[0], counts[1]


def _json_text(value: Any, indent: int | None = None) -> str:
    """``value`` as JSON with its text as is, or escaped (as ``\\ud800``) where it holds a lone
    surrogate escape from the input, which UTF-8 cannot carry."""
    text = json.dumps(value, ensure_ascii=False, indent=indent)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(value, indent=indent)
    return text


def _split_json(src: Path, mask: list[bool], clean_path: Path, quar_path: Path) -> tuple[int, int]:
    """A JSON array element by element into two JSON arrays (one element a line), JSON Lines
    content line by line, both streamed as the reader reads them; one pretty-printed object
    whole. The outputs are re-read and counted."""
    with src.open("rb") as f:
        layout, start = json_layout(f)
    if layout == "lines":
        _split_jsonl(src, mask, clean_path, quar_path)
        return _count_jsonl(clean_path), _count_jsonl(quar_path)
    if layout == "whole":
        doc = json.loads(src.read_bytes()[start:])  # the reader read one record from it
        _check(src, 1, len(mask))
        paths = (quar_path, clean_path) if mask[0] else (clean_path, quar_path)
        paths[0].write_text(_json_text(doc, indent=1) + "\n", "utf-8")
        paths[1].write_text("[]\n", "utf-8")
        return (0, 1) if mask[0] else (1, 0)
    n = 0
    with (
        src.open("rb") as fin,
        clean_path.open("w", encoding="utf-8") as clean,
        quar_path.open("w", encoding="utf-8") as quar,
    ):
        fin.seek(start)
        outs, written = (clean, quar), [0, 0]
        elements = json_array(fin, str(src))
        for element in elements:
            if n >= len(mask):
                _check(src, n + 1 + sum(1 for _ in elements), len(mask))
            q = int(mask[n])
            outs[q].write(("[\n" if not written[q] else ",\n") + _json_text(element))
            written[q] += 1
            n += 1
        for out, k in zip(outs, written, strict=True):
            out.write("\n]\n" if k else "[]\n")
    _check(src, n, len(mask))
    return _count_json(clean_path), _count_json(quar_path)


def _count_json(path: Path) -> int:
    with path.open("rb") as f:
        return sum(1 for _ in json_array(f, str(path)))


def _count_jsonl(path: Path) -> int:
    opener: Callable[..., Any] = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rb") as fh:
        return sum(1 for line in fh if line.strip())


def _split_parquet(
    src: Path, mask: list[bool], clean_path: Path, quar_path: Path
) -> tuple[int, int]:
    """Row batches filtered into two Parquet files with the source's schema, streamed."""
    pf = pq.ParquetFile(src, pre_buffer=False, buffer_size=1 << 20)
    _check(src, pf.metadata.num_rows, len(mask))
    quarantine = np.asarray(mask, dtype=bool)
    schema = pf.schema_arrow
    with pq.ParquetWriter(clean_path, schema) as clean, pq.ParquetWriter(quar_path, schema) as quar:
        start = 0
        for batch in pf.iter_batches(batch_size=8192):
            q = quarantine[start : start + batch.num_rows]
            start += batch.num_rows
            table = pa.Table.from_batches([batch], schema=schema)
            clean.write_table(table.filter(pa.array(~q)))
            quar.write_table(table.filter(pa.array(q)))
    return (
        pq.ParquetFile(clean_path).metadata.num_rows,
        pq.ParquetFile(quar_path).metadata.num_rows,
    )


def _split_csv(src: Path, mask: list[bool], clean_path: Path, quar_path: Path) -> tuple[int, int]:
    """The records of each kind written by a streaming polars query (text kept as text)."""
    lf = pl.scan_csv(src, infer_schema=False).with_row_index("__row")
    rows = lf.select(pl.len()).collect().item()
    _check(src, rows, len(mask))
    quarantined = pl.Series("__row", np.flatnonzero(mask), dtype=pl.get_index_type())
    for path, keep in ((clean_path, ~pl.col("__row").is_in(quarantined)), (quar_path, None)):
        where = keep if keep is not None else pl.col("__row").is_in(quarantined)
        lf.filter(where).drop("__row").sink_csv(path)
    count = lambda p: pl.scan_csv(p, infer_schema=False).select(pl.len()).collect().item()  # noqa: E731
    return count(clean_path), count(quar_path)


def _split_file(
    src: Path, quarantine_mask: list[bool], clean_dir: Path, quar_dir: Path, name: str
) -> tuple[int, int]:
    low = src.name.lower()
    clean_path, quar_path = clean_dir / name, quar_dir / name
    if low.endswith((".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz")):
        _split_jsonl(src, quarantine_mask, clean_path, quar_path)
        return _count_jsonl(clean_path), _count_jsonl(quar_path)
    if low.endswith(".json"):
        return _split_json(src, quarantine_mask, clean_path, quar_path)
    if low.endswith(".parquet"):
        return _split_parquet(src, quarantine_mask, clean_path, quar_path)
    if low.endswith(".csv"):
        return _split_csv(src, quarantine_mask, clean_path, quar_path)
    raise InputError(f"{src}: cannot split files of type {''.join(src.suffixes[-1:])!r}")


def _check(src: Path, records: int, rows: int) -> None:
    if records != rows:
        raise InputError(f"{src}: has {records} records now but the corpus reader gave {rows} rows")


def split(
    inputs: list[str],
    *,
    findings: str | Path,
    clean: str | Path,
    quarantine: str | Path,
    mapping: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Write the clean and quarantined rows of ``inputs`` using the scan in ``findings``."""
    findings = Path(findings)
    rows_path = findings / "rows.parquet"
    if not rows_path.exists():
        raise InputError(
            f"{rows_path}: no such file (run `poisonscreen scan ... --out {findings}` first)"
        )
    found = pl.read_parquet(rows_path)
    # where each row came from, without its text (read a batch at a time)
    where = ["row_id", "source", "line", "error"]
    located = (b.select(where) for b in iter_corpus(inputs, mapping=mapping))
    corpus = pl.concat([pl.DataFrame(schema=CORPUS_SCHEMA).select(where), *located])
    if found.height != corpus.height:
        raise InputError(
            f"{rows_path}: describes {found.height} rows but the inputs have {corpus.height} rows; "
            "scan the same inputs first"
        )
    joined = corpus.join(
        found.select(
            "row_id", "flagged", pl.col("source").alias("f_source"), pl.col("line").alias("f_line")
        ),
        on="row_id",
        how="left",
    )
    mismatch = joined.filter(
        pl.col("flagged").is_null()
        | (pl.col("source") != pl.col("f_source"))
        | (pl.col("line") != pl.col("f_line"))
    )
    if mismatch.height:
        r = mismatch.row(0, named=True)
        raise InputError(
            f"{rows_path}: row {r['row_id']} ({r['source']}:{r['line']}) does not match the inputs; scan the same inputs first"
        )
    joined = joined.with_columns(
        (pl.col("flagged") | pl.col("error").is_not_null()).alias("quarantine")
    ).sort("row_id")

    clean_dir, quar_dir = Path(clean), Path(quarantine)
    clean_dir.mkdir(parents=True, exist_ok=True)
    quar_dir.mkdir(parents=True, exist_ok=True)
    sources = joined["source"].unique(maintain_order=True).to_list()
    names: dict[str, str] = {}
    for i, s in enumerate(sources):
        base = Path(s).name
        names[s] = base if base not in names.values() else f"{i:04d}-{base}"
    n_clean = n_quar = 0
    per_file = []
    for s in sources:
        mask = joined.filter(pl.col("source") == s)["quarantine"].to_list()
        c, q = _split_file(Path(s), mask, clean_dir, quar_dir, names[s])
        if c + q != len(mask) or q != sum(mask):
            raise InputError(
                f"{s}: wrote {c} clean + {q} quarantined rows for {len(mask)} input rows"
            )
        n_clean += c
        n_quar += q
        per_file.append({"source": s, "output": names[s], "clean": c, "quarantined": q})
    if n_clean + n_quar != corpus.height:
        raise InputError(f"split wrote {n_clean + n_quar} rows for {corpus.height} input rows")
    return {"rows": corpus.height, "clean": n_clean, "quarantined": n_quar, "files": per_file}
