"""Split inputs into clean and quarantined rows, each file in its original format.

A row is quarantined when the scan flagged it or it could not be parsed. The split is checked
before anything is written and after:

- the findings must be complete (``summary.json`` with ``"complete": true``, from the same run as
  ``rows.parquet``) and describe these very files: the inputs, in order, must have the size and
  SHA-256 the scan recorded (paths may differ: ``./x.jsonl``, an absolute path or a moved copy
  are the same file if their bytes are);
- no output may be, contain or lie inside an input, the findings or the other output (paths
  compared after resolving);
- every input record is written to exactly one output, and the outputs are re-read and counted;
- each output is written under a temporary name and renamed into place only when every file
  has been split and checked, so a failed split leaves no partial file under an output name.
"""

from __future__ import annotations

import csv
import gzip
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from . import _paths, _process
from .exceptions import ConfigError, InputError
from .io import (
    CSV_OPTIONS,
    DEFAULT_MAX_ROW_BYTES,
    _kind,
    _raise_csv_field_limit,
    json_array,
    json_layout,
    scan_sources,
    skip_line,
)

_BOM = b"\xef\xbb\xbf"


def _gz(path: Path) -> bool:
    return path.name.lower().endswith(".gz")


def _open_in(src: Path) -> Any:
    return gzip.open(src, "rb") if _gz(src) else open(src, "rb")


@contextmanager
def _open_out(path: Path, like: Path) -> Iterator[Any]:
    """``path`` for writing, gzip-compressed when ``like`` (the source) is; the gzip header
    names the source's file, not the temporary name written to."""
    with open(path, "wb") as raw:
        if not _gz(like):
            yield raw
            return
        with gzip.GzipFile(filename=like.name[:-3], mode="wb", fileobj=raw) as gz:
            yield gz


def _split_jsonl(
    src: Path,
    mask: list[bool],
    clean_path: Path,
    quar_path: Path,
    max_row_bytes: int = DEFAULT_MAX_ROW_BYTES,
) -> tuple[int, int]:
    """Each record line (gzip too) to the clean or the quarantine file, byte for byte and
    streamed (a line longer than ``max_row_bytes``, a failed row to the reader, is copied a
    MiB at a time); the counts written."""
    counts = [0, 0]
    n = 0
    cap = max_row_bytes + 1
    with (
        _open_in(src) as fin,
        _open_out(clean_path, src) as clean,
        _open_out(quar_path, src) as quar,
    ):
        outs = (clean, quar)
        first = True
        while True:
            line = fin.readline(cap)
            if not line:
                break
            long = len(line) == cap and not line.endswith(b"\n")
            body = line[3:] if first and line.startswith(_BOM) else line
            first = False
            if not long and not body.strip():
                continue  # a blank line is not a record (nor a row)
            if n >= len(mask):
                rest = 0
                while more := fin.readline(1 << 20):
                    rest += bool(more.strip())
                _check(src, n + 1 + rest, len(mask))
            out = outs[int(mask[n])]
            out.write(line)
            if long:  # the rest of the line, streamed
                while True:
                    more = fin.readline(1 << 20)
                    out.write(more)
                    if not more or more.endswith(b"\n"):
                        line = more or line
                        break
            if not line.endswith(b"\n"):
                out.write(b"\n")
            counts[int(mask[n])] += 1
            n += 1
    _check(src, n, len(mask))
    return counts[0], counts[1]


class _Raw(str):
    """JSON text pushed on :func:`_dumps_deep`'s stack as is."""


def _dumps_deep(value: Any, ensure_ascii: bool) -> str:
    """``json.dumps(value)`` without recursion, for elements nested deeper than the json
    module's stack allows (the reader failed them; they are written to quarantine)."""
    out: list[str] = []
    stack: list[Any] = [value]
    while stack:
        v = stack.pop()
        if type(v) is _Raw:
            out.append(v)
        elif isinstance(v, dict):
            items = list(v.items())
            stack.append(_Raw("}"))
            for i in range(len(items) - 1, -1, -1):
                key, x = items[i]
                stack.append(x)
                text = json.dumps(str(key), ensure_ascii=ensure_ascii)
                stack.append(_Raw(("," if i else "") + text + ":"))
            stack.append(_Raw("{"))
        elif isinstance(v, (list, tuple)):
            stack.append(_Raw("]"))
            for i in range(len(v) - 1, -1, -1):
                stack.append(v[i])
                if i:
                    stack.append(_Raw(","))
            stack.append(_Raw("["))
        else:
            out.append(json.dumps(v, ensure_ascii=ensure_ascii))
    return "".join(out)


def _json_text(value: Any, indent: int | None = None) -> str:
    """``value`` as JSON with its text as is, or escaped (as ``\\ud800``) where it holds a lone
    surrogate escape from the input, which UTF-8 cannot carry."""

    def dumps(ensure_ascii: bool) -> str:
        try:
            return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent)
        except RecursionError:
            return _dumps_deep(value, ensure_ascii)

    text = dumps(False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return dumps(True)
    return text


def _blank(src: Path, start: int) -> bool:
    with src.open("rb") as f:
        f.seek(start)
        return not any(chunk.strip() for chunk in iter(lambda: f.read(1 << 20), b""))


def _split_json(
    src: Path,
    mask: list[bool],
    clean_path: Path,
    quar_path: Path,
    max_row_bytes: int = DEFAULT_MAX_ROW_BYTES,
) -> tuple[int, int]:
    """A JSON array element by element into two JSON arrays (one element a line), JSON Lines
    content line by line, both streamed as the reader reads them; one pretty-printed object
    copied whole. The outputs are re-read and counted."""
    with src.open("rb") as f:
        layout, start = json_layout(f, max_row_bytes)
    if layout == "lines":
        _split_jsonl(src, mask, clean_path, quar_path, max_row_bytes)
        return _count_jsonl(clean_path, max_row_bytes), _count_jsonl(quar_path, max_row_bytes)
    if layout == "whole":
        if _blank(src, start):  # no record
            _check(src, 0, len(mask))
            clean_path.write_bytes(b"")
            quar_path.write_bytes(b"")
            return 0, 0
        _check(src, 1, len(mask))  # the reader read one record from it (or failed it)
        paths = (quar_path, clean_path) if mask[0] else (clean_path, quar_path)
        shutil.copyfile(src, paths[0])
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


def _count_jsonl(path: Path, max_row_bytes: int = DEFAULT_MAX_ROW_BYTES, gz: bool = False) -> int:
    n = 0
    cap = max_row_bytes + 1
    with gzip.open(path, "rb") if gz else open(path, "rb") as fh:
        first = True
        while line := fh.readline(cap):
            if len(line) == cap and not line.endswith(b"\n"):
                skip_line(fh)
                n += 1
            elif (line[3:] if first and line.startswith(_BOM) else line).strip():
                n += 1
            first = False
    return n


def _split_parquet(
    src: Path, mask: list[bool], clean_path: Path, quar_path: Path
) -> tuple[int, int]:
    """Row batches filtered into two Parquet files with the source's schema, streamed."""
    try:
        pf = pq.ParquetFile(src, pre_buffer=False, buffer_size=1 << 20)
    except (OSError, pa.ArrowException) as exc:
        raise InputError(f"{src}: cannot read as Parquet: {exc}") from exc
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


def _csv_records(fh: Any, path: Path, kind: str = "csv") -> Any:
    """``(raw bytes, fields)`` of each CSV (or TSV: ``kind``) record of the binary file ``fh``,
    as the reader (:func:`poisonscreen.io._read_csv`) splits them: the raw bytes are the
    record's physical lines, so that a record is copied byte for byte, ragged or not."""
    _raise_csv_field_limit()
    pending: list[bytes] = []

    def lines() -> Any:
        for i, raw in enumerate(fh):
            pending.append(raw)
            yield (raw[3:] if i == 0 and raw.startswith(_BOM) else raw).decode(
                "utf-8", "surrogateescape"
            )

    reader = csv.reader(lines(), strict=True, **CSV_OPTIONS[kind])
    try:
        for fields in reader:
            raw = b"".join(pending)
            pending.clear()
            yield raw, fields
    except csv.Error as exc:
        raise InputError(f"{path}:{reader.line_num}: malformed {kind.upper()}: {exc}") from exc


def _split_csv(
    src: Path, mask: list[bool], clean_path: Path, quar_path: Path, kind: str = "csv"
) -> tuple[int, int]:
    """Each record's lines copied byte for byte (the header to both files), streamed: a
    ragged record, which the reader failed, goes to quarantine as it is."""
    n = 0
    header = False
    with open(src, "rb") as fin, open(clean_path, "wb") as clean, open(quar_path, "wb") as quar:
        records = _csv_records(fin, src, kind)
        for raw, fields in records:
            if not fields or (len(fields) == 1 and not fields[0].strip()):
                continue  # a blank line
            if not header:
                header = True
                clean.write(raw)
                quar.write(raw)
                continue
            if n >= len(mask):
                _check(src, n + 1 + sum(1 for _ in records), len(mask))
            out = quar if mask[n] else clean
            out.write(raw if raw.endswith(b"\n") else raw + b"\n")
            n += 1
    _check(src, n, len(mask))

    def count(path: Path) -> int:
        with open(path, "rb") as fh:
            rows = sum(
                1 for _, f in _csv_records(fh, path, kind) if f and (len(f) > 1 or f[0].strip())
            )
        return max(0, rows - 1)

    return count(clean_path), count(quar_path)


def _split_to(
    src: Path,
    quarantine_mask: list[bool],
    clean_path: Path,
    quar_path: Path,
    max_row_bytes: int = DEFAULT_MAX_ROW_BYTES,
) -> tuple[int, int]:
    """Split ``src`` into the two paths given; the counts written (re-read)."""
    # (by the reader's own kind of the file, so that what is read can be split)
    kind = _kind(src.name)
    if kind in ("jsonl", "jsonl.gz"):
        _split_jsonl(src, quarantine_mask, clean_path, quar_path, max_row_bytes)
        gz = _gz(src)
        return (
            _count_jsonl(clean_path, max_row_bytes, gz),
            _count_jsonl(quar_path, max_row_bytes, gz),
        )
    if kind == "json":
        return _split_json(src, quarantine_mask, clean_path, quar_path, max_row_bytes)
    if kind == "parquet":
        return _split_parquet(src, quarantine_mask, clean_path, quar_path)
    if kind in CSV_OPTIONS:
        return _split_csv(src, quarantine_mask, clean_path, quar_path, kind)
    raise InputError(f"{src}: cannot split files of type {''.join(src.suffixes[-1:])!r}")


def _temp(directory: Path, name: str) -> Path:
    """A new empty file beside ``directory / name``, named so that a later split can tell
    whether the process that made it still runs (and remove it if not)."""
    prefix = f".{name}.tmp-"
    _process.remove_stale(str(directory), prefix)
    fd, path = tempfile.mkstemp(prefix=f"{prefix}{_process.owner_tag()}-", dir=directory)
    os.close(fd)
    _process.register(path)
    return Path(path)


def _split_file(
    src: Path,
    quarantine_mask: list[bool],
    clean_dir: Path,
    quar_dir: Path,
    name: str,
    max_row_bytes: int = DEFAULT_MAX_ROW_BYTES,
) -> tuple[int, int]:
    """Split one file into ``clean_dir / name`` and ``quar_dir / name``, written under
    temporary names and renamed into place when both are whole."""
    temps = (_temp(clean_dir, name), _temp(quar_dir, name))
    try:
        counts = _split_to(src, quarantine_mask, *temps, max_row_bytes)
        os.replace(temps[0], clean_dir / name)
        os.replace(temps[1], quar_dir / name)
        return counts
    finally:
        for t in temps:
            _process.unregister(str(t))
            t.unlink(missing_ok=True)


def _check(src: Path, records: int, rows: int) -> None:
    if records != rows:
        raise InputError(f"{src}: has {records} records now but the corpus reader gave {rows} rows")


def _run_of(findings: Path) -> tuple[dict[str, Any], pl.DataFrame]:
    """The run recorded in ``findings`` (run id, input fingerprints, max_row_bytes) and its
    rows; :class:`InputError` unless both are there, whole and of the same run."""
    rows_path, summary_path = findings / "rows.parquet", findings / "summary.json"
    if not rows_path.exists():
        raise InputError(
            f"{rows_path}: no such file (run `poisonscreen scan ... --out {findings}` first)"
        )
    try:
        summary = json.loads(summary_path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(
            f"{summary_path}: cannot read ({exc}); the scan that wrote {findings} did not "
            "finish, or the folder was altered: scan again"
        ) from exc
    if not isinstance(summary, dict) or summary.get("complete") is not True:
        raise InputError(f"{summary_path}: does not say the output is complete; scan again")
    from .scan import RUN_METADATA_KEY

    try:
        meta = pq.read_schema(rows_path).metadata or {}
        run = json.loads(meta[RUN_METADATA_KEY.encode()])
        found = pl.read_parquet(rows_path, columns=["row_id", "flagged", "source", "error"])
    except KeyError as exc:
        raise InputError(
            f"{rows_path}: records no run (written by an older poisonscreen?); scan again"
        ) from exc
    except Exception as exc:  # a truncated or foreign file: Arrow, polars or OS errors
        raise InputError(f"{rows_path}: cannot read: {exc}") from exc
    if run.get("run_id") != summary.get("run_id"):
        raise InputError(
            f"{findings}: rows.parquet and summary.json come from different scans; scan again"
        )
    if not run.get("inputs"):
        raise InputError(
            f"{findings}: the scan recorded no input files (a scan of a DataFrame?); split needs "
            "a scan of the same files"
        )
    return run, found


def _short(fp: dict[str, Any]) -> str:
    return f"{fp['bytes']:,} bytes, sha256 {fp[_paths.HASH][:12]}…"


def split(
    inputs: list[str],
    *,
    findings: str | Path,
    clean: str | Path,
    quarantine: str | Path,
    mapping: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Write the clean and quarantined rows of ``inputs`` using the scan in ``findings``.

    ``mapping`` is accepted for symmetry with ``scan`` and not used: which rows failed to parse
    is taken from the findings, which describe these exact bytes."""
    del mapping
    findings = Path(findings)
    files = scan_sources(inputs)
    if len(set(map(os.path.realpath, files))) != len(files):
        raise ConfigError("an input file is named twice; split each file once")
    others = [("an input", r) for r in _paths.input_roots(inputs)]
    others += [("an input", _paths.real(f)) for f in files]
    others.append(("the findings directory", _paths.real(findings)))
    clean_dir = _paths.check_apart("--clean", clean, others)
    quar_dir = _paths.check_apart("--quarantine", quarantine, [*others, ("--clean", clean_dir)])

    run, found = _run_of(findings)
    recorded: list[dict[str, Any]] = run["inputs"]
    if len(recorded) != len(files):
        raise InputError(
            f"{findings}: describes a scan of {len(recorded)} file(s) "
            f"({', '.join(fp['source'] for fp in recorded[:3])}), but {len(files)} are given; "
            "split the files that were scanned, in the same order"
        )
    current = _paths.fingerprint_files(files)
    for now, then in zip(current, recorded, strict=True):
        if (now["bytes"], now[_paths.HASH]) != (then["bytes"], then[_paths.HASH]):
            raise InputError(
                f"{now['source']}: is not the file the findings describe ({then['source']}: "
                f"{_short(then)}; now {_short(now)}); scan it again before splitting"
            )
    max_row_bytes = int(run.get("max_row_bytes") or DEFAULT_MAX_ROW_BYTES)

    found = found.sort("row_id")
    if found["row_id"].to_list() != list(range(found.height)):
        raise InputError(f"{findings / 'rows.parquet'}: row ids are not 0..n-1; scan again")
    quarantined = (found["flagged"].fill_null(True) | found["error"].is_not_null()).to_list()
    sources = found["source"].to_list()
    masks: list[list[bool]] = []
    start = 0
    for fp in recorded:  # each file's rows are the next run of rows with its source
        end = start
        while end < len(sources) and sources[end] == fp["source"]:
            end += 1
        masks.append(quarantined[start:end])
        start = end
    if start != len(sources):
        raise InputError(
            f"{findings / 'rows.parquet'}: row {start} ({sources[start]}) belongs to no input "
            "the scan recorded; scan again"
        )

    try:
        clean_dir.mkdir(parents=True, exist_ok=True)
        quar_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the output directories: {exc}") from exc
    names: dict[str, str] = {}
    for i, f in enumerate(files):
        base = Path(f).name
        names[f] = base if base not in names.values() else f"{i:04d}-{base}"

    staged: list[tuple[Path, Path]] = []
    try:
        n_clean = n_quar = 0
        per_file = []
        for f, mask in zip(files, masks, strict=True):
            temps = (_temp(clean_dir, names[f]), _temp(quar_dir, names[f]))
            staged += [(temps[0], clean_dir / names[f]), (temps[1], quar_dir / names[f])]
            c, q = _split_to(Path(f), mask, *temps, max_row_bytes)
            if c + q != len(mask) or q != sum(mask):
                raise InputError(
                    f"{f}: wrote {c} clean + {q} quarantined rows for {len(mask)} input rows"
                )
            n_clean += c
            n_quar += q
            per_file.append({"source": f, "output": names[f], "clean": c, "quarantined": q})
        if n_clean + n_quar != found.height:
            raise InputError(f"split wrote {n_clean + n_quar} rows for {found.height} input rows")
        _paths.check_unchanged(current)  # the bytes split are the bytes fingerprinted
        for temp, final in staged:
            os.replace(temp, final)
    finally:
        for temp, _ in staged:
            _process.unregister(str(temp))
            temp.unlink(missing_ok=True)
    return {
        "rows": found.height,
        "clean": n_clean,
        "quarantined": n_quar,
        "files": per_file,
        "findings_run_id": run.get("run_id"),
    }
