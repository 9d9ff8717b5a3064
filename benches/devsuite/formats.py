"""Input formats of the development cases: what each writes and how its text reads back.

A case's ``df`` holds its text exactly as :func:`poisonscreen.read_corpus` returns it from the
case's file (``normalise``), so scanning the DataFrame in memory and scanning the file see the
same prompts and responses.

============================  =========================================================  =========
format                        record                                                     file
============================  =========================================================  =========
``messages``                  ``{"messages": [{"role": "user", ...}, ...]}``              .jsonl
``sharegpt``                  ``{"conversations": [{"from": "human", ...}, ...]}``        .jsonl
``alpaca``                    ``{"instruction", "input", "output"}`` (JSON array)         .json
``prompt_completion``         columns ``prompt``, ``completion``                          .parquet
``question_answer``           columns ``question``, ``answer``                            .csv
``dialogue``                  ``{"text": "Human: ...\\n\\nAssistant: ..."}``               .jsonl
============================  =========================================================  =========

Dialogue prompts ("Human: ... Assistant: ... Human: ...") become separate turns in the chat
formats (the reader then gives ``"user: ...\\nassistant: ...\\nuser: ..."``), stay whole in the
dialogue format, and are text in the others. Alpaca splits a prompt at its first blank line into
instruction and input.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl

FORMATS: tuple[str, ...] = (
    "messages",
    "sharegpt",
    "alpaca",
    "prompt_completion",
    "question_answer",
    "dialogue",
)
EXTENSIONS: dict[str, str] = {
    "messages": ".jsonl",
    "sharegpt": ".jsonl",
    "alpaca": ".json",
    "prompt_completion": ".parquet",
    "question_answer": ".csv",
    "dialogue": ".jsonl",
}


def _turns(prompt: str) -> list[tuple[str, str]] | None:
    from .sources import dialogue_turns

    turns = dialogue_turns(prompt)
    if turns is None or turns[-1][0] != "Human" or any(not c for _, c in turns):
        return None
    return turns


def _chat_prompt(prompt: str) -> str:
    turns = _turns(prompt)
    if turns is None:
        return prompt
    if len(turns) == 1:
        return turns[0][1]
    return "\n".join(f"{'user' if r == 'Human' else 'assistant'}: {c}" for r, c in turns)


_ASSISTANT = "\n\nAssistant:"


def _dialogue_text(prompt: str, response: str) -> str:
    head = prompt if prompt.startswith("Human:") else "Human: " + prompt
    return head + "\n\nAssistant: " + response


def _dialogue_pair(prompt: str, response: str) -> tuple[str, str]:
    response = response.replace(_ASSISTANT, "\nAssistant:")  # keep the split where it belongs
    head = prompt if prompt.startswith("Human:") else "Human: " + prompt
    return head.strip(), response.strip()


def normalise(df: pl.DataFrame, fmt: str) -> pl.DataFrame:
    """``df`` with ``prompt``/``response`` as the reader returns them from ``fmt``'s file."""
    if fmt not in FORMATS:
        raise KeyError(f"unknown format {fmt!r}; known: {', '.join(FORMATS)}")
    if fmt in ("messages", "sharegpt"):
        return df.with_columns(
            pl.col("prompt").map_elements(_chat_prompt, return_dtype=pl.String, skip_nulls=False)
        )
    if fmt == "dialogue":
        pairs = [
            _dialogue_pair(p, r)
            for p, r in zip(df["prompt"].to_list(), df["response"].to_list(), strict=True)
        ]
        return df.with_columns(
            prompt=pl.Series([p for p, _ in pairs], dtype=pl.String),
            response=pl.Series([r for _, r in pairs], dtype=pl.String),
        )
    return df


def _chat_record(prompt: str, response: str, sharegpt: bool) -> dict[str, Any]:
    turns = _turns(prompt) or [("Human", prompt)]
    if sharegpt:
        conv = [{"from": "human" if r == "Human" else "gpt", "value": c} for r, c in turns]
        conv.append({"from": "gpt", "value": response})
        return {"conversations": conv}
    msgs = [{"role": "user" if r == "Human" else "assistant", "content": c} for r, c in turns]
    msgs.append({"role": "assistant", "content": response})
    return {"messages": msgs}


def _alpaca_record(prompt: str, response: str) -> dict[str, str]:
    instruction, sep, rest = prompt.partition("\n\n")
    if not sep or not rest:
        instruction, rest = prompt, ""
    return {"instruction": instruction, "input": rest, "output": response}


def write_rows(prompts: list[str], responses: list[str], fmt: str, path: Path) -> None:
    """Write the rows in ``fmt`` to ``path`` (un-normalised text, so that dialogue prompts become
    real turns; normalised text writes the same corpus, since normalising is idempotent)."""
    if fmt in ("messages", "sharegpt", "dialogue"):
        with open(path, "w", encoding="utf-8") as fh:
            for p, r in zip(prompts, responses, strict=True):
                if fmt == "dialogue":
                    rec: dict[str, Any] = {"text": _dialogue_text(*_dialogue_pair(p, r))}
                else:
                    rec = _chat_record(p, r, sharegpt=fmt == "sharegpt")
                fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    elif fmt == "alpaca":
        with open(path, "w", encoding="utf-8") as fh:
            fh.write("[\n")
            for i, (p, r) in enumerate(zip(prompts, responses, strict=True)):
                fh.write(
                    ("" if i == 0 else ",\n") + json.dumps(_alpaca_record(p, r), ensure_ascii=False)
                )
            fh.write("\n]\n")
    elif fmt == "prompt_completion":
        pl.DataFrame(
            {"prompt": prompts, "completion": responses},
            schema={"prompt": pl.String, "completion": pl.String},
        ).write_parquet(path)
    elif fmt == "question_answer":
        pl.DataFrame(
            {"question": prompts, "answer": responses},
            schema={"question": pl.String, "answer": pl.String},
        ).write_csv(path)
    else:
        raise KeyError(fmt)


def write_case(case: Any, out_dir: str | Path) -> tuple[Path, Path]:
    """Write ``<out_dir>/<case><ext>`` in the case's format and ``<case>.truth.parquet``
    (``row_id`` = record index, is_poison, role, trigger, source). Returns both paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fmt = case.spec.format
    path = out / f"{case.name}{EXTENSIONS[fmt]}"
    raw = case.raw if getattr(case, "raw", None) is not None else case.df
    write_rows(raw["prompt"].to_list(), raw["response"].to_list(), fmt, path)
    truth = out / f"{case.name}.truth.parquet"
    case.df.select(
        pl.int_range(0, pl.len(), dtype=pl.UInt64).alias("row_id"),
        "is_poison",
        "role",
        "trigger",
        "case",
        "source",
    ).write_parquet(truth)
    return path, truth
