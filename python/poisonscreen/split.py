"""Split inputs into clean and quarantined rows, each file in its original format.

A row is quarantined when the scan flagged it or it could not be parsed. The split is checked:
the findings must describe exactly the rows read now (same count, same files and lines), every
input record is written to exactly one output, and the outputs are re-read and counted.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl

from .exceptions import InputError
from .io import CORPUS_SCHEMA, iter_corpus


def _records_jsonl(path: Path) -> list[bytes]:
    """The records of a JSONL file as raw lines (blank lines are not records)."""
    return [line for line in path.read_bytes().splitlines(keepends=True) if line.strip()]


def _write_jsonl(path: Path, records: list[bytes]) -> None:
    with path.open("wb") as fh:
        for r in records:
            fh.write(r if r.endswith(b"\n") else r + b"\n")


def _split_file(
    src: Path, quarantine_mask: list[bool], clean_dir: Path, quar_dir: Path, name: str
) -> tuple[int, int]:
    suffix = "".join(src.suffixes[-1:]).lower()
    clean_path, quar_path = clean_dir / name, quar_dir / name
    if suffix in (".jsonl", ".ndjson"):
        recs = _records_jsonl(src)
        _check(src, len(recs), len(quarantine_mask))
        _write_jsonl(clean_path, [r for r, q in zip(recs, quarantine_mask) if not q])
        _write_jsonl(quar_path, [r for r, q in zip(recs, quarantine_mask) if q])
        return len(_records_jsonl(clean_path)), len(_records_jsonl(quar_path))
    if suffix == ".json":
        text = src.read_bytes()
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if isinstance(data, list):
            _check(src, len(data), len(quarantine_mask))
            clean = [r for r, q in zip(data, quarantine_mask) if not q]
            quar = [r for r, q in zip(data, quarantine_mask) if q]
            clean_path.write_text(json.dumps(clean, ensure_ascii=False, indent=1))
            quar_path.write_text(json.dumps(quar, ensure_ascii=False, indent=1))
            return len(json.loads(clean_path.read_text())), len(json.loads(quar_path.read_text()))
        recs = _records_jsonl(src)  # JSONL content in a .json file
        _check(src, len(recs), len(quarantine_mask))
        _write_jsonl(clean_path, [r for r, q in zip(recs, quarantine_mask) if not q])
        _write_jsonl(quar_path, [r for r, q in zip(recs, quarantine_mask) if q])
        return len(_records_jsonl(clean_path)), len(_records_jsonl(quar_path))
    if suffix == ".parquet":
        df = pl.read_parquet(src)
        _check(src, df.height, len(quarantine_mask))
        mask = pl.Series(quarantine_mask, dtype=pl.Boolean)
        df.filter(~mask).write_parquet(clean_path)
        df.filter(mask).write_parquet(quar_path)
        return pl.read_parquet(clean_path).height, pl.read_parquet(quar_path).height
    if suffix == ".csv":
        df = pl.read_csv(src, infer_schema=False)
        _check(src, df.height, len(quarantine_mask))
        mask = pl.Series(quarantine_mask, dtype=pl.Boolean)
        df.filter(~mask).write_csv(clean_path)
        df.filter(mask).write_csv(quar_path)
        return (
            pl.read_csv(clean_path, infer_schema=False).height,
            pl.read_csv(quar_path, infer_schema=False).height,
        )
    raise InputError(f"{src}: cannot split files of type {suffix!r}")


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
