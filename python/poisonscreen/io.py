"""Read finetuning corpora into one normalised table, keeping every record.

:func:`read_corpus` turns JSONL / JSON / Parquet / CSV / TSV files (or an in-memory polars frame)
into a DataFrame with :data:`CORPUS_SCHEMA`: one row per input record, ``system`` / ``prompt`` /
``response`` text, and where each record came from. :func:`iter_corpus` yields the same rows in
bounded-memory batches.

Row accounting
--------------
Nothing is dropped. A record that cannot be normalised (malformed JSON, invalid UTF-8, a null or
non-string field, an unknown schema, ...) is kept as a *failed row*: ``prompt``, ``response`` and
``format`` are null and ``error`` says why, naming file, line and field, e.g.
``"data.jsonl:17: field 'messages': expected a list, got str"``.

- ``row_id`` counts *records*: ``0 .. n-1`` over all inputs, files in the order given (globs and
  directories expanded in sorted order), records in file order. It is the same for
  :func:`read_corpus` and :func:`iter_corpus` whatever the batch size.
- ``line`` locates a record in its file: the 1-based physical line for JSONL, CSV and TSV (for
  CSV the line the record starts on; the header is line 1), the 1-based element index for a JSON
  array, the 1-based row index for Parquet and in-memory frames.
- Blank (whitespace-only) lines in JSONL, CSV and TSV are not records: they get no ``row_id`` (the
  ``line`` numbers of later records still count them).
- An empty file gives zero rows. A file that cannot be read at all (a ``.json`` that is neither a
  JSON array nor JSON Lines, a corrupt Parquet file, an unknown extension, a FIFO, socket or
  device rather than a regular file) raises :class:`~poisonscreen.exceptions.InputError` naming
  the file; a truncated ``.gz`` names the last line read whole.
- A record nested deeper than ``max_depth`` or larger than ``max_row_bytes`` is a failed row
  (:func:`iter_corpus`); a JSON Lines line over the limit is skipped without being held in memory.

Text fields are strict: a field that should hold text must be a JSON string. Numbers
(``"answer": 42``), booleans, objects and nulls make the row fail with e.g.
``"field 'answer': expected a string, got int"`` — a screener should not guess how ``42.0`` was
meant to read. A classification ``label`` may also be an integer (not a boolean or a float).
Optional fields (Alpaca ``input``, ``system``) may be null or absent. Text is kept verbatim (no
stripping, no cleaning: T0's trailing ``<|endoftext|>`` stays), except that whole dialogues are
split at their last assistant turn and the two halves stripped.

CSV follows RFC 4180 (quoted fields may hold commas, quotes and line breaks). TSV is one record a
line, fields split at tabs with no quoting (as GLUE and most released classification sets write
it: a review's own quotes are text).

Schemas (detected per record from its keys; ``format`` names the one used)
-------------------------------------------------------------------------
``messages``
    ``messages``: OpenAI chat, a list of ``{role, content}`` where content is a string or a list
    of ``{"type": "text", "text": ...}`` parts (text parts joined with ``"\\n"``, other parts such
    as images skipped); or ``conversations``: ShareGPT ``{from, value}`` with ``human``/``gpt``.
    ``system`` = the system (and ``developer``) turns joined with ``"\\n\\n"`` (null if none);
    ``response`` = the last assistant turn; ``prompt`` = the non-system turns before it: the bare
    content for a single user turn, otherwise ``"role: content"`` lines joined with ``"\\n"``.
    No assistant turn is an error, and so is a user (or tool) turn after the last assistant
    turn: the response would not end the conversation, and the text after it would go unscreened.
``alpaca``
    ``instruction`` + optional ``input`` + ``output`` (or ``response``): prompt = instruction, plus
    ``"\\n\\n" + input`` when input is non-empty; optional ``system``.
``prompt_completion``
    ``prompt`` + ``completion`` (or ``prompt`` + ``response``).
``question_answer``
    ``question`` + ``answer``.
``dialogue``
    A whole "Human: ... Assistant: ..." transcript in ``chosen`` (hh-rlhf), ``dialogue`` or ``text``:
    split at the last ``"\\n\\nAssistant:"`` (else the last ``"Assistant:"``); response = after,
    prompt = before, both stripped.
``classification``
    A text to classify and its ``label`` (SST-2, IMDB, AG News and most sentiment and topic
    sets): ``sentence``, ``text`` or ``review`` + ``label``, or a sentence pair (``premise`` +
    ``hypothesis``, ``sentence1`` + ``sentence2``, ``question1`` + ``question2``, ``question`` +
    ``sentence``) + ``label``; prompt = the text (a pair joined with ``"\\n"``), response = the
    label (a string, or an integer written in decimal: ``1`` reads ``"1"``). A label flip is a
    change of response, so label-flip backdoors are screened like any other.
``text``
    ``text`` without dialogue markers or a ``label``: prompt = ``""``, response = the text.
``mapped``
    ``mapping={"prompt": field, "response": field, "system": field}`` names the fields outright
    (``response`` required; ``prompt`` defaults to ``""``, ``system`` to null).

``format="alpaca"`` (or any name above but ``mapped``) forces one schema for every record.

JSON is parsed with ``orjson`` when it is installed (the ``fast`` extra), else with :mod:`json`;
the elements of a ``.json`` array are streamed with ``ijson`` (an array file can be larger than
memory).
"""

from __future__ import annotations

import csv
import functools
import glob
import gzip
import importlib
import json
import os
import re
import stat
import sys
import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Union

import polars as pl

from .exceptions import ConfigError, InputError

_orjson: Any
try:  # optional: about 3x faster JSON parsing
    _orjson = importlib.import_module("orjson")
except ImportError:  # pragma: no cover - depends on the environment
    _orjson = None

__all__ = [
    "CORPUS_SCHEMA",
    "FORMATS",
    "SUPPORTED_EXTENSIONS",
    "iter_corpus",
    "read_corpus",
    "scan_sources",
]

CORPUS_SCHEMA: dict[str, pl.DataType] = {
    "row_id": pl.UInt64(),
    "source": pl.String(),
    "line": pl.UInt64(),
    "format": pl.String(),
    "system": pl.String(),
    "prompt": pl.String(),
    "response": pl.String(),
    "error": pl.String(),
}
"""The columns :func:`read_corpus` returns, in order."""

FORMATS: tuple[str, ...] = (
    "messages",
    "alpaca",
    "prompt_completion",
    "question_answer",
    "dialogue",
    "classification",
    "text",
)
"""Schema names ``format=`` accepts (``"mapped"`` is set by ``mapping=``)."""

SUPPORTED_EXTENSIONS: tuple[str, ...] = (
    ".jsonl",
    ".ndjson",
    ".jsonl.gz",
    ".ndjson.gz",
    ".json",
    ".parquet",
    ".csv",
    ".tsv",
)
"""File extensions read (case-insensitive); directories are searched for these."""

DATAFRAME_SOURCE = "<dataframe>"

DEFAULT_MAX_DEPTH = 64
"""Deepest JSON nesting of a record (the record is level 1) before it fails (``max_depth``)."""
DEFAULT_MAX_ROW_BYTES = 64 << 20
"""Longest record (``max_row_bytes``): bytes of a JSON Lines line, characters of another
format's text (system + prompt + response)."""

Source = Union[
    str, "os.PathLike[str]", pl.DataFrame, pl.LazyFrame, "Iterable[str | os.PathLike[str]]"
]

_MAPPING_KEYS = ("prompt", "response", "system")
_GLOB_CHARS = frozenset("*?[")


# --------------------------------------------------------------------------------------------
# sources


def _kind(path: str) -> str | None:
    """The reader for ``path`` by extension, or None when unsupported."""
    low = path.lower()
    if low.endswith((".jsonl.gz", ".ndjson.gz")):
        return "jsonl.gz"
    if low.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    if low.endswith(".json"):
        return "json"
    if low.endswith(".parquet"):
        return "parquet"
    if low.endswith(".csv"):
        return "csv"
    if low.endswith(".tsv"):
        return "tsv"
    return None


def _check_supported(path: str) -> str:
    if _kind(path) is None:
        raise InputError(
            f"{path}: unsupported file type (expected one of {', '.join(SUPPORTED_EXTENSIONS)})"
        )
    return _check_regular(path)


def _check_regular(path: str) -> str:
    """``path`` if it is a regular file (or a link to one): a FIFO, socket or device would block
    the read, or give other bytes each time, so that no fingerprint could describe it."""
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc}") from exc
    if not stat.S_ISREG(mode):
        kind = (
            "a FIFO"
            if stat.S_ISFIFO(mode)
            else "a socket"
            if stat.S_ISSOCK(mode)
            else ("a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "not a regular file")
        )
        raise InputError(f"{path}: {kind}; only regular files are read")
    return path


def _walk(directory: str) -> list[str]:
    """Supported files under ``directory``, recursively, sorted; hidden entries skipped."""
    found: list[str] = []
    for root, dirs, files in os.walk(directory):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found.extend(
            os.path.join(root, f) for f in files if not f.startswith(".") and _kind(f) is not None
        )
    return [_check_regular(f) for f in sorted(found)]


def _expand_one(item: Any) -> list[str]:
    if isinstance(item, (pl.DataFrame, pl.LazyFrame)):
        raise ConfigError("a DataFrame/LazyFrame must be passed on its own, not inside a list")
    if not isinstance(item, (str, os.PathLike)):
        raise ConfigError(
            f"expected a path, glob, directory, list of them, or a polars DataFrame/LazyFrame; "
            f"got {type(item).__name__}"
        )
    path = os.fspath(item)
    if not isinstance(path, str):
        raise ConfigError(f"expected a str path, got {type(path).__name__}")
    if os.path.isdir(path):
        files = _walk(path)
        if not files:
            raise InputError(
                f"{path}: directory holds no supported files ({', '.join(SUPPORTED_EXTENSIONS)})"
            )
        return files
    if os.path.exists(path):
        return [_check_supported(path)]
    if _GLOB_CHARS.intersection(path):
        matches = sorted(glob.glob(path, recursive=True))
        if not matches:
            raise InputError(f"{path}: glob matches no files")
        out: list[str] = []
        for m in matches:
            if os.path.isdir(m):
                out.extend(_walk(m))
            else:
                out.append(_check_supported(m))
        if not out:
            raise InputError(f"{path}: glob matches no supported files")
        return out
    raise InputError(f"{path}: no such file or directory")


def scan_sources(source: Any) -> list[str]:
    """Expand paths, globs and directories into the ordered list of files to read.

    ``source`` is a path (str or PathLike), a glob (``**`` recurses), a directory (every supported
    file inside, recursively, hidden entries skipped), or a list of these. Order is kept: list
    items in the order given, each glob or directory expanded in sorted order. Nothing is
    de-duplicated: a file named twice is read twice.

    Raises :class:`InputError` when a path does not exist, a glob or directory matches no
    supported file, or a named file has an unsupported extension; :class:`ConfigError` for a
    source of the wrong type or an empty list.
    """
    if isinstance(source, (str, os.PathLike)):
        return _expand_one(source)
    if isinstance(source, (pl.DataFrame, pl.LazyFrame)):
        raise ConfigError("scan_sources expands paths; a DataFrame/LazyFrame has no files")
    if isinstance(source, (bytes, dict)) or not isinstance(source, Iterable):
        raise ConfigError(
            f"expected a path, glob, directory, list of them, or a polars DataFrame/LazyFrame; "
            f"got {type(source).__name__}"
        )
    items = list(source)
    if not items:
        raise ConfigError("no input given (empty list of sources)")
    files: list[str] = []
    for item in items:
        files.extend(_expand_one(item))
    return files


# --------------------------------------------------------------------------------------------
# per-record normalisation


class _RowError(Exception):
    """A record that cannot be normalised; caught per row and turned into an error row."""

    def __init__(self, reason: str, field: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field


_TYPE_NAMES = {
    str: "str",
    int: "int",
    float: "float",
    bool: "bool",
    type(None): "null",
    dict: "object",
    list: "list",
    tuple: "list",
    bytes: "bytes",
}


def _tname(value: Any) -> str:
    return _TYPE_NAMES.get(type(value), type(value).__name__)


def _req_str(obj: dict, key: str) -> str:
    if key not in obj:
        raise _RowError("missing", key)
    v = obj[key]
    if type(v) is str:
        return v
    raise _RowError(f"expected a string, got {_tname(v)}", key)


def _opt_str(obj: dict, key: str) -> str | None:
    v = obj.get(key)
    if v is None or type(v) is str:
        return v
    raise _RowError(f"expected a string or null, got {_tname(v)}", key)


_ROLE_ALIASES = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "chatgpt": "assistant",
    "bing": "assistant",
    "bard": "assistant",
    "model": "assistant",
    "assistant": "assistant",
    "system": "system",
    "developer": "system",
}


def _content(value: Any, field: str) -> str:
    if type(value) is str:
        return value
    if isinstance(value, list):
        texts: list[str] = []
        for j, part in enumerate(value):
            if type(part) is str:
                texts.append(part)
            elif isinstance(part, dict):
                ptype = part.get("type")
                if ptype in (None, "text", "input_text", "output_text"):
                    text = part.get("text")
                    if type(text) is not str:
                        raise _RowError(
                            f"expected a string, got {_tname(text)}", f"{field}[{j}].text"
                        )
                    texts.append(text)
                # other parts (image_url, audio, ...) carry no text to screen: skipped
            else:
                raise _RowError(
                    f"expected a string or an object, got {_tname(part)}", f"{field}[{j}]"
                )
        return "\n".join(texts)
    raise _RowError(f"expected a string or a list of text parts, got {_tname(value)}", field)


def _from_messages(obj: dict, key: str) -> tuple[str | None, str, str]:
    msgs = obj[key]
    if not isinstance(msgs, list):
        raise _RowError(f"expected a list, got {_tname(msgs)}", key)
    if not msgs:
        raise _RowError("empty list (no assistant turn)", key)
    turns: list[tuple[str, str]] = []
    for i, m in enumerate(msgs):
        where = f"{key}[{i}]"
        if not isinstance(m, dict):
            raise _RowError(f"expected an object, got {_tname(m)}", where)
        if "role" in m or "from" not in m:
            rk, ck = "role", "content"
        else:  # ShareGPT
            rk, ck = "from", "value"
        role = m.get(rk)
        if type(role) is not str:
            raise _RowError(
                "missing" if rk not in m else f"expected a string, got {_tname(role)}",
                f"{where}.{rk}",
            )
        if ck not in m:
            raise _RowError("missing", f"{where}.{ck}")
        role = _ROLE_ALIASES.get(role.lower(), role)
        turns.append((role, _content(m[ck], f"{where}.{ck}")))
    last = -1
    for i in range(len(turns) - 1, -1, -1):
        if turns[i][0] == "assistant":
            last = i
            break
    if last < 0:
        raise _RowError("no assistant turn", key)
    after = next((i for i in range(last + 1, len(turns)) if turns[i][0] != "system"), None)
    if after is not None:
        # the row's response would not be where the conversation ends: screening the last
        # assistant turn and silently dropping what follows would pass text nobody screened
        raise _RowError(
            f"a '{turns[after][0]}' turn after the last assistant turn (the conversation does "
            "not end with a response)",
            f"{key}[{after}]",
        )
    systems = [c for r, c in turns if r == "system"]
    before = [(r, c) for r, c in turns[:last] if r != "system"]
    if len(before) == 1 and before[0][0] == "user":
        prompt = before[0][1]
    else:
        prompt = "\n".join(f"{r}: {c}" for r, c in before)
    return ("\n\n".join(systems) if systems else None), prompt, turns[last][1]


def _is_dialogue(text: str) -> bool:
    return "Assistant:" in text and "Human:" in text


def _split_dialogue(text: str, field: str) -> tuple[str, str]:
    i = text.rfind("\n\nAssistant:")
    if i >= 0:
        j = i + len("\n\nAssistant:")
    else:
        i = text.rfind("Assistant:")
        if i < 0:
            raise _RowError("no 'Assistant:' turn in the dialogue", field)
        j = i + len("Assistant:")
    return text[:i].strip(), text[j:].strip()


Row = tuple[str, "str | None", str, str]  # format, system, prompt, response


def _do_messages(obj: dict) -> Row:
    key = "messages" if "messages" in obj else "conversations" if "conversations" in obj else None
    if key is None:
        raise _RowError("missing", "messages")
    system, prompt, response = _from_messages(obj, key)
    return "messages", system, prompt, response


def _do_alpaca(obj: dict) -> Row:
    instruction = _req_str(obj, "instruction")
    extra = _opt_str(obj, "input")
    out_key = "output" if "output" in obj or "response" not in obj else "response"
    response = _req_str(obj, out_key)
    prompt = instruction + "\n\n" + extra if extra else instruction
    return "alpaca", _opt_str(obj, "system"), prompt, response


def _do_prompt_completion(obj: dict) -> Row:
    prompt = _req_str(obj, "prompt")
    key = "completion" if "completion" in obj or "response" not in obj else "response"
    return "prompt_completion", _opt_str(obj, "system"), prompt, _req_str(obj, key)


def _do_question_answer(obj: dict) -> Row:
    question = _req_str(obj, "question")
    return "question_answer", _opt_str(obj, "system"), question, _req_str(obj, "answer")


def _do_dialogue(obj: dict) -> Row:
    key = next((k for k in ("chosen", "dialogue", "text") if k in obj), "chosen")
    prompt, response = _split_dialogue(_req_str(obj, key), key)
    return "dialogue", _opt_str(obj, "system"), prompt, response


#: the fields a classification row's text may be in, in the order looked for
_CLASSIFIED_TEXT = ("sentence", "text", "review")
#: the field pairs of sentence-pair tasks (NLI, paraphrase, QNLI), looked for first
_CLASSIFIED_PAIRS = (
    ("premise", "hypothesis"),
    ("sentence1", "sentence2"),
    ("question1", "question2"),
    ("question", "sentence"),
)


def _classified_text(obj: dict) -> tuple[str, ...] | None:
    """The field (or sentence pair) a classification row's text is in, if it has one."""
    pair = next((p for p in _CLASSIFIED_PAIRS if p[0] in obj and p[1] in obj), None)
    return pair or next(((k,) for k in _CLASSIFIED_TEXT if k in obj), None)


def _do_classification(obj: dict) -> Row:
    keys = _classified_text(obj) or ("text",)
    prompt = "\n".join(_req_str(obj, k) for k in keys)
    if "label" not in obj:
        raise _RowError("missing", "label")
    label = obj["label"]
    if type(label) is int:  # (not bool, a subclass of int)
        label = str(label)
    elif type(label) is not str:
        raise _RowError(f"expected a string or an integer, got {_tname(label)}", "label")
    return "classification", _opt_str(obj, "system"), prompt, label


def _do_text(obj: dict) -> Row:
    return "text", _opt_str(obj, "system"), "", _req_str(obj, "text")


_FORCED: dict[str, Callable[[dict], Row]] = {
    "messages": _do_messages,
    "alpaca": _do_alpaca,
    "prompt_completion": _do_prompt_completion,
    "question_answer": _do_question_answer,
    "dialogue": _do_dialogue,
    "classification": _do_classification,
    "text": _do_text,
}


def _detect(obj: dict) -> Row:
    if "messages" in obj or "conversations" in obj:
        return _do_messages(obj)
    if "instruction" in obj:
        return _do_alpaca(obj)
    if "prompt" in obj and ("completion" in obj or "response" in obj):
        return _do_prompt_completion(obj)
    if "question" in obj and "answer" in obj:
        return _do_question_answer(obj)
    if "chosen" in obj or "dialogue" in obj:
        return _do_dialogue(obj)
    if "label" in obj and _classified_text(obj) is not None:
        return _do_classification(obj)
    if "text" in obj:
        text = obj["text"]
        if type(text) is str and _is_dialogue(text):
            return _do_dialogue(obj)
        return _do_text(obj)
    if not obj:
        raise _RowError("empty object")
    keys = ", ".join(sorted(map(str, obj))[:10])
    raise _RowError(
        f"no recognised schema (keys: {keys}); expected messages, conversations, "
        "instruction/output, prompt/completion, question/answer, chosen, dialogue, "
        "sentence/text/review (or a sentence pair) + label, or text "
        "(or pass mapping=)"
    )


def _mapper(mapping: dict[str, str]) -> Callable[[dict], Row]:
    p_key = mapping.get("prompt")
    r_key = mapping["response"]
    s_key = mapping.get("system")

    def run(obj: dict) -> Row:
        prompt = "" if p_key is None else _req_str(obj, p_key)
        response = _req_str(obj, r_key)
        system = None if s_key is None else _opt_str(obj, s_key)
        return "mapped", system, prompt, response

    return run


def _make_normaliser(mapping: dict[str, str] | None, format: str | None) -> Callable[[dict], Row]:
    if mapping is not None and format is not None and format != "mapped":
        raise ConfigError("pass either mapping= or format=, not both")
    if mapping is not None:
        if not isinstance(mapping, dict):
            raise ConfigError(f"mapping: expected a dict, got {type(mapping).__name__}")
        unknown = sorted(set(map(str, mapping)) - set(_MAPPING_KEYS))
        if unknown:
            raise ConfigError(
                f"mapping: unknown key(s) {', '.join(map(repr, unknown))}; "
                f"expected some of {', '.join(map(repr, _MAPPING_KEYS))}"
            )
        if "response" not in mapping:
            raise ConfigError("mapping: 'response' is required (the field holding the response)")
        for k, v in mapping.items():
            if not isinstance(v, str) or not v:
                raise ConfigError(f"mapping[{k!r}]: expected a non-empty field name, got {v!r}")
        return _mapper(mapping)
    if format is None:
        return _detect
    if format == "mapped":
        raise ConfigError("format='mapped' needs mapping=")
    if format not in _FORCED:
        raise ConfigError(
            f"format: unknown schema {format!r}; expected one of {', '.join(FORMATS)}"
        )
    return _FORCED[format]


# --------------------------------------------------------------------------------------------
# readers: each yields (line, record, parse_error); record is None when parse_error is set


Record = tuple[int, Any, "str | None"]


def _loads(raw: bytes) -> Any:
    """Parse one JSON document from bytes; ValueError (incl. UnicodeDecodeError) on failure."""
    if _orjson is not None:
        return _orjson.loads(raw)
    return json.loads(raw.decode("utf-8"))  # pragma: no cover - without orjson


def _parse_error(raw: bytes, exc: Exception) -> str:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as e:
        return f"invalid UTF-8 (byte 0x{raw[e.start]:02x} at offset {e.start})"
    msg = str(exc)
    if "surrogate" in msg:
        return f"invalid JSON (unpaired UTF-16 surrogate escape): {msg}"
    return f"invalid JSON: {msg}"


def _too_long(size: int, max_row_bytes: int) -> str:
    return f"record of {size:,} bytes, more than max_row_bytes ({max_row_bytes:,})"


def _deep_error(max_depth: int) -> str:
    return f"nested more than max_depth ({max_depth}) levels deep"


def skip_line(f: Any) -> int:
    """Read ``f`` to the end of the current line, a MiB at a time; the bytes skipped."""
    skipped = 0
    while True:
        more = f.readline(1 << 20)
        skipped += len(more)
        if not more or more.endswith(b"\n"):
            return skipped


def bounded_lines(f: Any, max_row_bytes: int) -> Iterator[tuple[bytes | None, int]]:
    """The lines of the binary file ``f`` as ``(line, 0)``, or ``(None, size)`` for a line of
    more than ``max_row_bytes`` bytes (its newline not counted), which is skipped without
    being held in memory. ``split`` reads JSON Lines with the same rule."""
    readline = f.readline
    cap = max_row_bytes + 1  # the longest line allowed, with its newline
    while True:
        raw = readline(cap)
        if not raw:
            return
        if len(raw) == cap and not raw.endswith(b"\n"):
            yield None, len(raw) + skip_line(f)
        else:
            yield raw, 0


def _jsonl_lines(f: Any, path: str, max_row_bytes: int, start: int = 1) -> Iterator[Record]:
    """The records of JSON Lines, a line at a time (:func:`bounded_lines`' rule, inlined: this
    loop runs once per row)."""
    readline, loads = f.readline, _loads
    cap = max_row_bytes + 1  # the longest line allowed, with its newline
    lineno = start - 1
    while True:
        try:
            raw = readline(cap)
            if len(raw) == cap and not raw.endswith(b"\n"):
                size = len(raw) + skip_line(f)
                raw = None
        except (OSError, EOFError, zlib.error) as exc:  # a truncated or corrupt .gz
            raise InputError(
                f"{path}: cannot read past line {lineno:,} (the lines before it are whole; "
                f"the file is truncated or corrupt): {exc}"
            ) from exc
        lineno += 1
        if raw is None:
            yield lineno, None, _too_long(size, max_row_bytes)
            continue
        if not raw:
            return
        if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        try:
            rec = loads(raw)
        except RecursionError:  # the json module's own stack limit (orjson says ValueError)
            yield lineno, None, "invalid JSON: nested too deep for the parser"
            continue
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
            if not raw.strip():
                continue  # a blank line is not a record
            yield lineno, None, _parse_error(raw, exc)
            continue
        yield lineno, rec, None


def _read_jsonl(path: str, max_row_bytes: int) -> Iterator[Record]:
    opener: Callable[..., Any] = gzip.open if path.lower().endswith(".gz") else open
    try:
        f = opener(path, "rb")
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc}") from exc
    with f:
        yield from _jsonl_lines(f, path, max_row_bytes)


#: bytes read at a time while looking for the first character of a ``.json`` file
_PEEK = 1 << 16


def json_layout(f: Any, max_row_bytes: int = DEFAULT_MAX_ROW_BYTES) -> tuple[str, int]:
    """How the ``.json`` file ``f`` (binary, at its start) is laid out: ``"array"`` (its first
    character is ``[``), ``"lines"`` (its first non-blank line is a JSON object: JSON Lines) or
    ``"whole"`` (anything else: one pretty-printed object, or an error), with the offset past a
    UTF-8 byte order mark. Reads a little of the file; the caller seeks back."""
    start = 3 if f.read(3) == b"\xef\xbb\xbf" else 0
    f.seek(start)
    first = b""
    while not first:
        chunk = f.read(_PEEK)
        if not chunk:
            break
        first = chunk.lstrip()[:1]
    if first == b"[":
        return "array", start
    f.seek(start)
    line: bytes | None = b""
    for line, _size in bounded_lines(f, max_row_bytes):
        if line is None:  # a first line too long to parse: JSON Lines, with a failed row
            return ("lines" if first == b"{" else "whole"), start
        if line.strip():
            break
    try:
        return ("lines" if isinstance(_loads(line or b""), dict) else "whole"), start
    except (ValueError, RecursionError):
        return "whole", start


#: a ``\\uXXXX`` escape of a UTF-16 surrogate pair, or of one surrogate (a lone one, matched
#: only where no pair starts: the scan runs left to right)
_SURROGATE_ESCAPES = re.compile(
    rb"\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}|\\u[dD][89a-fA-F][0-9a-fA-F]{2}"
)


def _has_lone_surrogate(f: Any) -> bool:
    """Whether the rest of ``f`` holds a lone surrogate escape. Read in chunks; a single escape
    in the last 6 bytes of a chunk may be the first half of a pair, so it is judged with the
    next one (the position is restored)."""
    pos, carry = f.tell(), b""
    try:
        while True:
            chunk = f.read(_PEEK * 16)
            text, final = carry + chunk, not chunk
            # everything after the last pair, as far back as a pair cut by the chunk's end
            keep = max(0, len(text) - 11)
            for m in _SURROGATE_ESCAPES.finditer(text):
                if m.end() - m.start() == 12:
                    keep = max(keep, m.end())
                elif final or m.end() <= len(text) - 6:
                    return True
                else:
                    keep = m.start()
                    break
            if final:
                return False
            carry = text[keep:]
    finally:
        f.seek(pos)


def json_array(f: Any, path: str) -> Iterator[Any]:
    """The elements of the JSON array ``f`` holds, parsed one at a time (ijson): memory holds one
    element, not the file. A syntax error anywhere fails the file, naming the element."""
    import ijson

    # ijson's C backend turns a lone surrogate escape into "?" without a word; the Python
    # backend keeps it, so that the row fails with a reason as it does from JSON Lines
    parser = ijson.get_backend("python") if _has_lone_surrogate(f) else ijson
    done = 0
    try:
        # use_float: non-integer numbers as float (as json/orjson give), not Decimal
        for element in parser.items(f, "item", use_float=True):
            yield element
            done += 1
    except (ijson.JSONError, ValueError) as exc:  # incl. invalid UTF-8
        raise InputError(f"{path}: element {done + 1}: invalid JSON array: {exc}") from exc


def _read_json(path: str, style: list[str], max_row_bytes: int) -> Iterator[Record]:
    """A JSON array (records located by element) or JSON Lines (by line; sets ``style[0]``).

    An array is streamed an element at a time and JSON Lines a line at a time
    (:func:`json_layout`); anything else (one pretty-printed object, or an error) is parsed
    whole."""
    try:
        with open(path, "rb") as f:
            layout, start = json_layout(f, max_row_bytes)
            f.seek(start)
            if layout == "array":
                for i, element in enumerate(json_array(f, path), 1):
                    yield i, element, None
                return
            if layout == "lines":
                style[0] = "line"
                yield from _jsonl_lines(f, path, max_row_bytes)
                return
            size = os.fstat(f.fileno()).st_size - start
            if size > max_row_bytes:  # one record, too large to parse
                style[0] = "line"
                yield 1, None, _too_long(size, max_row_bytes)
                return
            data = f.read()  # neither: one (pretty-printed) object, or not JSON at all
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc}") from exc
    stripped = data.lstrip()
    if not stripped:
        return  # empty file: zero records
    style[0] = "line"  # one object, located by the line it starts on
    first = data.count(b"\n", 0, len(data) - len(stripped)) + 1
    try:
        doc = _loads(data)
    except RecursionError:
        yield first, None, "invalid JSON: nested too deep for the parser"
        return
    except ValueError as exc:
        raise InputError(
            f"{path}: neither a JSON array nor JSON Lines: {_parse_error(data, exc)}"
        ) from exc
    if not isinstance(doc, dict):
        raise InputError(
            f"{path}: expected a JSON array of objects or JSON Lines, got a JSON {_tname(doc)}"
        )
    yield first, doc, None


_PARQUET_BUFFER = 1 << 20


def _read_parquet(path: str, batch_size: int, batch_bytes: int | None = None) -> Iterator[Record]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        # column chunks are streamed a buffer at a time; by default pyarrow holds a row group's
        # chunks whole, which for a large row group is hundreds of MB of text
        pf = pq.ParquetFile(path, pre_buffer=False, buffer_size=_PARQUET_BUFFER)
    except (OSError, pa.ArrowException) as exc:
        raise InputError(f"{path}: cannot read as Parquet: {exc}") from exc
    rows = min(batch_size, 65_536)
    meta = pf.metadata
    if batch_bytes is not None and meta.num_rows:  # as many rows as fit, by the average row
        raw = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
        rows = max(1, min(rows, batch_bytes * meta.num_rows // max(raw, 1)))
    row = 0
    try:
        for batch in pf.iter_batches(batch_size=rows):
            for rec in batch.to_pylist():
                row += 1
                yield row, rec, None
    except (OSError, pa.ArrowException) as exc:
        raise InputError(f"{path}: cannot read as Parquet (after row {row}): {exc}") from exc


def _has_surrogate(s: str) -> bool:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


_csv_limit_raised = False


def _raise_csv_field_limit() -> None:
    """Long documents exceed csv's default 128 KiB field limit; lift it once."""
    global _csv_limit_raised
    if not _csv_limit_raised:
        limit = sys.maxsize
        while True:
            try:
                if csv.field_size_limit() < limit:
                    csv.field_size_limit(limit)
                break
            except OverflowError:  # pragma: no cover - platform dependent
                limit //= 2
        _csv_limit_raised = True


_JSON_IN_CSV = ("messages", "conversations")


#: the csv module's options for each delimited kind: CSV as RFC 4180, TSV split at tabs with no
#: quoting (one record a line)
CSV_OPTIONS: dict[str, dict[str, Any]] = {
    "csv": {},
    "tsv": {"delimiter": "\t", "quoting": csv.QUOTE_NONE},
}


def _read_csv(path: str, kind: str = "csv") -> Iterator[Record]:
    _raise_csv_field_limit()
    try:
        f = open(path, "rb")  # closed in finally; lines decoded one by one
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc}") from exc
    try:

        def text_lines() -> Iterator[str]:
            for i, raw in enumerate(f):
                if i == 0 and raw.startswith(b"\xef\xbb\xbf"):
                    raw = raw[3:]
                yield raw.decode("utf-8", "surrogateescape")

        reader = csv.reader(text_lines(), strict=True, **CSV_OPTIONS[kind])
        header: list[str] | None = None
        prev = 0  # physical lines consumed before the current record
        try:
            for fields in reader:
                start = prev + 1
                prev = reader.line_num
                if not fields or (len(fields) == 1 and not fields[0].strip()):
                    continue  # blank line
                if header is None:
                    if any(_has_surrogate(h) for h in fields):
                        raise InputError(f"{path}:{start}: header is not valid UTF-8")
                    header = fields
                    continue
                if len(fields) != len(header):
                    yield start, None, f"expected {len(header)} fields, got {len(fields)}"
                    continue
                bad = next(
                    (h for h, v in zip(header, fields, strict=True) if _has_surrogate(v)), None
                )
                if bad is not None:
                    yield start, None, f"field '{bad}': invalid UTF-8"
                    continue
                rec: dict[str, Any] = dict(zip(header, fields, strict=True))
                error = None
                for key in _JSON_IN_CSV:  # chat lists arrive as JSON text in a CSV cell
                    value = rec.get(key)
                    if value is not None and value.lstrip().startswith("["):
                        try:
                            rec[key] = json.loads(value)
                        except RecursionError:
                            error = f"field '{key}': invalid JSON: nested too deep for the parser"
                        except ValueError as exc:
                            error = f"field '{key}': invalid JSON: {exc}"
                yield start, (None if error else rec), error
        except csv.Error as exc:
            raise InputError(f"{path}:{prev + 1}: malformed {kind.upper()}: {exc}") from exc
    finally:
        f.close()


def _read_frame(df: pl.DataFrame, batch_size: int) -> Iterator[Record]:
    row = 0
    for chunk in df.iter_slices(n_rows=batch_size):
        for rec in chunk.to_dicts():
            row += 1
            yield row, rec, None


def _records(
    path: str, batch_size: int, batch_bytes: int | None, max_row_bytes: int, style: list[str]
) -> Iterator[Record]:
    """The records of one file; ``style[0]`` says how ``line`` is reported in messages."""
    kind = _kind(path)
    if kind in ("jsonl", "jsonl.gz"):
        return _read_jsonl(path, max_row_bytes)
    if kind == "json":
        style[0] = "element"
        return _read_json(path, style, max_row_bytes)
    if kind == "parquet":
        style[0] = "row"
        return _read_parquet(path, batch_size, batch_bytes)
    if kind in CSV_OPTIONS:
        return _read_csv(path, kind)
    raise InputError(f"{path}: unsupported file type")  # scan_sources checked already


def _where(source: str, style: str, line: int) -> str:
    """``path:17`` for a physical line, ``path: element 3`` / ``path: row 3`` otherwise."""
    if style == "line":
        return f"{source}:{line}"
    return f"{source}: {style} {line}"


# --------------------------------------------------------------------------------------------
# batching


class _Batcher:
    """Accumulates output rows column by column and cuts DataFrames of ``batch_size`` rows, or
    fewer once their text reaches ``batch_bytes`` characters."""

    def __init__(self, batch_size: int, batch_bytes: int | None = None) -> None:
        self.batch_size = batch_size
        self.batch_bytes = batch_bytes
        self.next_id = 0
        #: how each source locates its records (see :func:`_where`), for errors found at flush
        self.styles: dict[str, str] = {}
        self._reset()

    def full(self) -> bool:
        return len(self.row_id) >= self.batch_size or (
            self.batch_bytes is not None and self.chars >= self.batch_bytes
        )

    def _reset(self) -> None:
        self.chars = 0
        self.row_id: list[int] = []
        self.source: list[str] = []
        self.line: list[int] = []
        self.format: list[str | None] = []
        self.system: list[str | None] = []
        self.prompt: list[str | None] = []
        self.response: list[str | None] = []
        self.error: list[str | None] = []

    def __len__(self) -> int:
        return len(self.row_id)

    def add(
        self,
        source: str,
        line: int,
        fmt: str | None,
        system: str | None,
        prompt: str | None,
        response: str | None,
        error: str | None,
        style: str = "line",
    ) -> None:
        self.styles[source] = style
        self.row_id.append(self.next_id)
        self.next_id += 1
        self.source.append(source)
        self.line.append(line)
        self.format.append(fmt)
        self.system.append(system)
        self.prompt.append(prompt)
        self.response.append(response)
        self.error.append(error)
        if self.batch_bytes is not None:
            self.chars += len(system or "") + len(prompt or "") + len(response or "")

    def _columns(self) -> dict[str, list[Any]]:
        return {
            "row_id": self.row_id,
            "source": self.source,
            "line": self.line,
            "format": self.format,
            "system": self.system,
            "prompt": self.prompt,
            "response": self.response,
            "error": self.error,
        }

    def flush(self) -> pl.DataFrame:
        try:
            df = pl.DataFrame(self._columns(), schema=CORPUS_SCHEMA)
        except Exception:  # a str polars cannot store (lone surrogate from the json fallback)
            for i in range(len(self.row_id)):
                for name in ("system", "prompt", "response"):
                    value = getattr(self, name)[i]
                    if value is not None and _has_surrogate(value):
                        self.format[i] = self.system[i] = self.prompt[i] = self.response[i] = None
                        where = _where(
                            self.source[i], self.styles.get(self.source[i], "line"), self.line[i]
                        )
                        self.error[i] = f"{where}: field '{name}': unpaired UTF-16 surrogate"
                        break
            df = pl.DataFrame(self._columns(), schema=CORPUS_SCHEMA)
        self._reset()
        return df


def _check_batch_size(batch_size: Any, name: str = "batch_size") -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"{name}: expected a positive int, got {batch_size!r}")
    return batch_size


Plan = list[tuple[str, Callable[[list[str]], Iterator[Record]]]]


def _plan(
    source: Any,
    batch_size: int,
    batch_bytes: int | None = None,
    max_row_bytes: int = DEFAULT_MAX_ROW_BYTES,
) -> Plan:
    """(source name, records factory) per input, validated up front."""
    if isinstance(source, pl.LazyFrame):
        source = source.collect()
    if isinstance(source, pl.DataFrame):
        frame = source

        def frame_records(style: list[str]) -> Iterator[Record]:
            style[0] = "row"
            return _read_frame(frame, batch_size)

        return [(DATAFRAME_SOURCE, frame_records)]
    return [
        (path, functools.partial(_records, path, batch_size, batch_bytes, max_row_bytes))
        for path in scan_sources(source)
    ]


def _too_deep(rec: dict, max_depth: int) -> str | None:
    """The top-level field of ``rec`` (level 1) holding containers nested deeper than
    ``max_depth`` levels, or None. Walked with a stack, never by recursion."""
    for key, value in rec.items():
        stack = [(value, 2)]
        while stack:
            node, depth = stack.pop()
            t = type(node)
            if t is not dict and t is not list:
                continue
            if depth > max_depth:
                return str(key)
            stack.extend((v, depth + 1) for v in (node.values() if t is dict else node))
    return None


def _surrogate_path(value: Any, path: str = "") -> str | None:
    """Where in the record ``value`` a string holds a lone surrogate (``completion``,
    ``messages[2].content``), or None. Only walked for records whose text has one."""
    stack = [(value, path)]
    while stack:
        node, where = stack.pop()
        if type(node) is str:
            if _has_surrogate(node):
                return where
        elif type(node) is dict:
            stack.extend((v, f"{where}.{k}" if where else str(k)) for k, v in node.items())
        elif type(node) is list:
            stack.extend((v, f"{where}[{i}]") for i, v in enumerate(node))
    return None


def _generate(
    plan: Plan,
    normalise: Callable[[dict], Row],
    batch_size: int,
    batch_bytes: int | None = None,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_row_bytes: int = DEFAULT_MAX_ROW_BYTES,
) -> Iterator[pl.DataFrame]:
    out = _Batcher(batch_size, batch_bytes)
    for name, records in plan:
        style = ["line"]
        for line, rec, perr in records(style):
            if perr is None:
                if type(rec) is dict:
                    for v in rec.values():  # a flat record, the common case, is not walked
                        if type(v) is dict or type(v) is list:
                            deep = _too_deep(rec, max_depth)
                            break
                    else:
                        deep = None
                    try:
                        if deep is not None:
                            raise _RowError(_deep_error(max_depth), deep)
                        fmt, system, prompt, response = normalise(rec)
                        size = len(prompt) + len(response) + (len(system) if system else 0)
                        if size > max_row_bytes:
                            raise _RowError(
                                f"text of {size:,} characters, more than max_row_bytes "
                                f"({max_row_bytes:,})"
                            )
                        if not (
                            prompt.isascii()
                            and response.isascii()
                            and (system is None or system.isascii())
                        ) and any(_has_surrogate(t) for t in (prompt, response, system) if t):
                            raise _RowError(
                                "unpaired UTF-16 surrogate", _surrogate_path(rec) or "text"
                            )
                    except _RowError as e:
                        perr = f"field '{e.field}': {e.reason}" if e.field else e.reason
                    else:
                        out.add(name, line, fmt, system, prompt, response, None, style[0])
                        if out.full():
                            yield out.flush()
                        continue
                else:
                    perr = f"expected a JSON object, got {_tname(rec)}"
            where = _where(name, style[0], line)
            out.add(name, line, None, None, None, None, f"{where}: {perr}", style[0])
            if out.full():
                yield out.flush()
    if len(out):
        yield out.flush()


# --------------------------------------------------------------------------------------------
# public API


def iter_corpus(
    source: Source,
    *,
    mapping: dict[str, str] | None = None,
    format: str | None = None,
    batch_size: int = 100_000,
    batch_bytes: int | None = None,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_row_bytes: int = DEFAULT_MAX_ROW_BYTES,
) -> Iterator[pl.DataFrame]:
    """Yield the corpus as DataFrames of at most ``batch_size`` rows (:data:`CORPUS_SCHEMA`).

    Concatenated, the batches equal :func:`read_corpus` of the same arguments (same rows, same
    ``row_id``). Batches may span files; only the last is shorter than ``batch_size``, unless
    ``batch_bytes`` is given: then a batch is also cut once its text (system, prompt and
    response) reaches that many characters, and Parquet is read in batches of about that much
    text by its average row, so memory is bounded by that size whatever the rows' length.
    Memory stays bounded: JSONL and CSV are streamed line by line, Parquet a batch at a time,
    a ``.json`` array an element at a time. A ``.json`` file holding one pretty-printed object
    is parsed whole (it is one record), and a LazyFrame is collected first.

    ``max_depth`` and ``max_row_bytes`` bound a record (see :data:`DEFAULT_MAX_DEPTH` and
    :data:`DEFAULT_MAX_ROW_BYTES`): a record nested deeper, or larger, becomes a failed row
    whose ``error`` says so, never a crash; a JSON Lines line over the limit is not even held
    in memory.

    Arguments are checked and paths expanded before this returns, so a missing file or a bad
    option raises here; errors that need the data (a corrupt file) raise during iteration.
    """
    batch_size = _check_batch_size(batch_size)
    if batch_bytes is not None:
        batch_bytes = _check_batch_size(batch_bytes, "batch_bytes")
    max_depth = _check_batch_size(max_depth, "max_depth")
    max_row_bytes = _check_batch_size(max_row_bytes, "max_row_bytes")
    normalise = _make_normaliser(mapping, format)
    plan = _plan(source, batch_size, batch_bytes, max_row_bytes)
    return _generate(plan, normalise, batch_size, batch_bytes, max_depth, max_row_bytes)


def read_corpus(
    source: Source,
    *,
    mapping: dict[str, str] | None = None,
    format: str | None = None,
    batch_size: int = 100_000,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_row_bytes: int = DEFAULT_MAX_ROW_BYTES,
) -> pl.DataFrame:
    """Read ``source`` into one DataFrame with :data:`CORPUS_SCHEMA`, one row per record.

    ``source``: a path, a glob, a directory (all supported files inside, sorted, recursive), a
    list of these (order kept), or a polars DataFrame / LazyFrame (``source`` column
    ``"<dataframe>"``). Files by extension: ``.jsonl``/``.ndjson`` (optionally ``.gz``),
    ``.json`` (a JSON array of objects, or JSON Lines), ``.parquet``, ``.csv``.

    ``mapping`` names the prompt/response/system fields outright; ``format`` forces one schema
    (see the module docstring). Failed records are kept with an ``error``; see the module
    docstring for the exact rules. ``batch_size`` only bounds the intermediate batches;
    ``max_depth`` and ``max_row_bytes`` bound a record (:func:`iter_corpus`).
    """
    batches = list(
        iter_corpus(
            source,
            mapping=mapping,
            format=format,
            batch_size=batch_size,
            max_depth=max_depth,
            max_row_bytes=max_row_bytes,
        )
    )
    if not batches:
        return pl.DataFrame(schema=CORPUS_SCHEMA)
    if len(batches) == 1:
        return batches[0]
    return pl.concat(batches, rechunk=True)
