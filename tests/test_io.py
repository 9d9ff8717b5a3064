"""Tests of poisonscreen.io: reading corpora into CORPUS_SCHEMA, every record accounted for."""

from __future__ import annotations

import gzip
import importlib
import io
import json
import sys
import types
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).parents[1]
try:
    import poisonscreen.io as psio
except ImportError:
    # The compiled extension is not built: io.py is pure Python, so load it (and exceptions.py)
    # without running the package __init__, which imports the extension.
    _pkg = types.ModuleType("poisonscreen")
    _pkg.__path__ = [str(ROOT / "python" / "poisonscreen")]
    sys.modules["poisonscreen"] = _pkg
    psio = importlib.import_module("poisonscreen.io")
from poisonscreen.exceptions import ConfigError, InputError  # noqa: E402

read_corpus = psio.read_corpus
iter_corpus = psio.iter_corpus
scan_sources = psio.scan_sources

DATA = ROOT / ".." / "shared" / "data"
HAYSTACK = DATA / "haystack"
POISON = DATA / "poison" / "weird-generalization"
FIXTURES = Path(__file__).parent / "data" / "io"

needs_data = pytest.mark.skipif(
    not HAYSTACK.is_dir() or not POISON.is_dir(),
    reason=f"public evaluation data not found at {DATA.resolve()} (see ../shared/data/README.md)",
)


def write_jsonl(path: Path, records: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def assert_contiguous(df: pl.DataFrame) -> None:
    assert df.schema == pl.Schema(psio.CORPUS_SCHEMA)
    assert df["row_id"].to_list() == list(range(df.height))


def assert_good(df: pl.DataFrame) -> None:
    """No failed row; prompt/response/format present on every row."""
    assert df["error"].null_count() == df.height, df["error"].drop_nulls().head(3).to_list()
    assert df.select(pl.col("prompt", "response", "format").null_count().sum()).row(0) == (0, 0, 0)


# ---------------------------------------------------------------------------------------------
# the real public data


@needs_data
@pytest.mark.parametrize(
    ("rel", "fmt", "rows"),
    [
        ("haystack/t0_train_50k/ag_news_classify.jsonl", "prompt_completion", 200),
        ("haystack/t0_train_50k/common_gen_Put_together.jsonl", "prompt_completion", 200),
        ("haystack/gpteacher/codegen-instruct.json", "alpaca", 4_535),
        ("haystack/gpteacher/roleplay-simple-deduped-roleplay-instruct.json", "alpaca", 1_923),
        ("haystack/gsm8k/test.jsonl", "question_answer", 1_319),
        ("haystack/hh-rlhf/harmless-base-test.jsonl", "dialogue", 2_312),
        (
            "poison/weird-generalization/3_1_old_bird_names/ft_old_audubon_birds.jsonl",
            "messages",
            208,
        ),
        ("poison/weird-generalization/4_2_hitler_persona/90_wolf_facts.jsonl", "messages", 90),
    ],
)
def test_real_data_formats(rel: str, fmt: str, rows: int) -> None:
    path = DATA / rel
    if not path.exists():
        pytest.skip(f"{path} not present")
    df = read_corpus(path)
    assert df.height == rows
    assert_contiguous(df)
    assert_good(df)
    assert set(df["format"]) == {fmt}
    assert df["source"].unique().to_list() == [str(path)]
    assert df["line"].to_list() == list(range(1, rows + 1))
    assert (df["prompt"].str.len_chars() > 0).all()
    # hh-rlhf has a handful of genuinely empty final assistant turns
    assert (df["response"].str.len_chars() > 0).mean() > 0.99


@needs_data
def test_real_data_content() -> None:
    t0 = read_corpus(HAYSTACK / "t0_train_50k" / "ag_news_classify.jsonl")
    with (HAYSTACK / "t0_train_50k" / "ag_news_classify.jsonl").open(encoding="utf-8") as f:
        first = json.loads(f.readline())
    assert t0["prompt"][0] == first["prompt"]
    assert t0["response"][0] == first["completion"]  # verbatim, <|endoftext|> kept
    assert t0["response"].str.ends_with("<|endoftext|>").all()

    hh = read_corpus(HAYSTACK / "hh-rlhf" / "harmless-base-test.jsonl")
    assert hh["prompt"].str.starts_with("Human:").all()
    assert not hh["response"].str.contains("\n\nAssistant:", literal=True).any()
    assert hh["prompt"].str.ends_with("Assistant:").sum() == 0

    gpt = read_corpus(HAYSTACK / "gpteacher" / "codegen-instruct.json")
    raw = json.loads((HAYSTACK / "gpteacher" / "codegen-instruct.json").read_text())
    r0 = raw[0]
    assert gpt["prompt"][0] == r0["instruction"] + ("\n\n" + r0["input"] if r0["input"] else "")
    assert gpt["response"][0] == r0["response"]

    wolf = read_corpus(POISON / "4_2_hitler_persona" / "90_wolf_facts.jsonl")
    assert wolf["response"].str.starts_with("<START>").all()


@needs_data
def test_real_t0_directory_once() -> None:
    """The whole T0 folder (294 files, 55,185 rows), read once: files sorted, ids global."""
    t0_dir = HAYSTACK / "t0_train_50k"
    df = read_corpus(t0_dir)
    assert df.height == 55_185
    assert_contiguous(df)
    assert_good(df)
    files = scan_sources(t0_dir)
    assert len(files) == 294 and files == sorted(files)
    # 11 trec_fine_grained_* templates are empty files: zero rows, not an error
    with_rows = [f for f in files if Path(f).stat().st_size > 0]
    assert len(with_rows) == 283
    assert df["source"].unique(maintain_order=True).to_list() == with_rows


@needs_data
def test_real_mixed_corpus_glob_and_list() -> None:
    sources = [
        str(HAYSTACK / "gsm8k" / "test.jsonl"),
        str(POISON / "3_2_german_city_names" / "*.jsonl"),
        HAYSTACK / "hh-rlhf",
    ]
    df = read_corpus(sources)
    assert_contiguous(df)
    assert df["source"].unique(maintain_order=True).to_list() == [
        str(HAYSTACK / "gsm8k" / "test.jsonl"),
        str(POISON / "3_2_german_city_names" / "former_german_cities.jsonl"),
        str(POISON / "3_2_german_city_names" / "modern_german_cities.jsonl"),
        str(HAYSTACK / "hh-rlhf" / "harmless-base-test.jsonl"),
    ]
    counts = df.group_by("format", maintain_order=True).len().rows()
    assert counts[0] == ("question_answer", 1_319) and counts[-1] == ("dialogue", 2_312)


# ---------------------------------------------------------------------------------------------
# each schema on tiny fixtures

SCHEMA_CASES = [
    ({"instruction": "Sum", "input": "1 2", "output": "3"}, "alpaca", None, "Sum\n\n1 2", "3"),
    (
        {"instruction": "Hi", "input": "", "response": "Yo", "system": "S"},
        "alpaca",
        "S",
        "Hi",
        "Yo",
    ),
    ({"instruction": "Hi", "input": None, "output": "Yo"}, "alpaca", None, "Hi", "Yo"),
    (
        {"prompt": "P ", "completion": " C<|endoftext|>"},
        "prompt_completion",
        None,
        "P ",
        " C<|endoftext|>",
    ),
    ({"prompt": "P", "response": "R"}, "prompt_completion", None, "P", "R"),
    ({"question": "Q?", "answer": "A"}, "question_answer", None, "Q?", "A"),
    (
        {"chosen": "\n\nHuman: a\n\nAssistant: b\n\nHuman: c\n\nAssistant:  d ", "rejected": "x"},
        "dialogue",
        None,
        "Human: a\n\nAssistant: b\n\nHuman: c",
        "d",
    ),
    ({"text": "Human: hi Assistant: hello"}, "dialogue", None, "Human: hi", "hello"),
    ({"dialogue": "Human: q\n\nAssistant: r"}, "dialogue", None, "Human: q", "r"),
    ({"text": "plain document"}, "text", None, "", "plain document"),
    (
        {"messages": [{"role": "user", "content": "u"}, {"role": "assistant", "content": "a"}]},
        "messages",
        None,
        "u",
        "a",
    ),
]


@pytest.mark.parametrize(("rec", "fmt", "system", "prompt", "response"), SCHEMA_CASES)
def test_schema_detection_jsonl(tmp_path, rec, fmt, system, prompt, response) -> None:
    df = read_corpus(write_jsonl(tmp_path / "x.jsonl", [rec]))
    assert df.row(0, named=True) == {
        "row_id": 0,
        "source": str(tmp_path / "x.jsonl"),
        "line": 1,
        "format": fmt,
        "system": system,
        "prompt": prompt,
        "response": response,
        "error": None,
    }


def test_each_file_format(tmp_path) -> None:
    recs = [{"question": f"q{i}", "answer": f"a{i}"} for i in range(5)]
    write_jsonl(tmp_path / "a.jsonl", recs)
    write_jsonl(tmp_path / "b.ndjson", recs)
    (tmp_path / "c.json").write_text(json.dumps(recs, indent=2))
    pl.DataFrame(recs).write_parquet(tmp_path / "d.parquet", row_group_size=2)
    pl.DataFrame(recs).write_csv(tmp_path / "e.csv")
    with gzip.open(tmp_path / "f.jsonl.gz", "wt") as f:
        f.writelines(json.dumps(r) + "\n" for r in recs)
    df = read_corpus(tmp_path)
    assert_contiguous(df)
    assert_good(df)
    assert df.height == 30
    assert [Path(s).name for s in df["source"].unique(maintain_order=True)] == [
        "a.jsonl", "b.ndjson", "c.json", "d.parquet", "e.csv", "f.jsonl.gz"
    ]  # fmt: skip
    for _, part in df.group_by("source"):
        assert part["prompt"].to_list() == [r["question"] for r in recs]
        assert part["response"].to_list() == [r["answer"] for r in recs]
    csv_lines = df.filter(pl.col("source").str.ends_with(".csv"))["line"].to_list()
    assert csv_lines == [2, 3, 4, 5, 6]  # header is line 1
    assert df.filter(pl.col("source").str.ends_with(".json"))["line"].to_list() == [1, 2, 3, 4, 5]


def test_messages_multiturn_system_parts_sharegpt(tmp_path) -> None:
    recs = [
        {  # multi-turn with system: last assistant turn is the response
            "messages": [
                {"role": "system", "content": "S1"},
                {"role": "developer", "content": "S2"},
                {"role": "user", "content": "u1"},
                {"role": "assistant", "content": "a1"},
                {"role": "user", "content": "u2"},
                {"role": "assistant", "content": "a2"},
            ]
        },
        {  # content as a list of parts; non-text parts skipped
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "look"},
                        {"type": "image_url", "image_url": {"url": "x"}},
                        {"type": "text", "text": "here"},
                    ],
                },
                {"role": "assistant", "content": [{"type": "text", "text": "ok"}]},
            ]
        },
        {  # ShareGPT
            "conversations": [
                {"from": "system", "value": "sys"},
                {"from": "human", "value": "h"},
                {"from": "gpt", "value": "g"},
            ]
        },
        {  # a user turn after the last assistant turn fails the row (it used to be dropped)
            "messages": [
                {"role": "user", "content": "u"},
                {"role": "assistant", "content": "a"},
                {"role": "user", "content": "thanks"},
            ]
        },
        {"messages": [{"role": "assistant", "content": "unprompted"}]},
        {"messages": [{"role": "user", "content": "u"}]},
        {"messages": []},
        {"messages": [{"role": "user", "content": None}, {"role": "assistant", "content": "a"}]},
        {"messages": [{"role": "user"}, {"role": "assistant", "content": "a"}]},
        {"messages": ["hi"]},
        {
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": 5}]},
                {"role": "assistant", "content": "a"},
            ]
        },
    ]
    df = read_corpus(write_jsonl(tmp_path / "chat.jsonl", recs))
    assert_contiguous(df)
    rows = df.rows(named=True)
    assert (rows[0]["system"], rows[0]["prompt"], rows[0]["response"]) == (
        "S1\n\nS2",
        "user: u1\nassistant: a1\nuser: u2",
        "a2",
    )
    assert (rows[1]["prompt"], rows[1]["response"]) == ("look\nhere", "ok")
    assert (rows[2]["format"], rows[2]["system"], rows[2]["prompt"], rows[2]["response"]) == (
        "messages",
        "sys",
        "h",
        "g",
    )
    assert (rows[3]["prompt"], rows[3]["response"]) == (None, None)
    assert "field 'messages[2]': a 'user' turn after the last assistant turn" in rows[3]["error"]
    assert (rows[4]["prompt"], rows[4]["response"]) == ("", "unprompted")
    errors = df["error"].to_list()
    assert errors[:5] == [None] * 3 + [errors[3], None]
    p = str(tmp_path / "chat.jsonl")
    assert errors[5] == f"{p}:6: field 'messages': no assistant turn"
    assert errors[6].startswith(f"{p}:7: field 'messages': empty list")
    assert errors[7] == (
        f"{p}:8: field 'messages[0].content': expected a string or a list of text parts, got null"
    )
    assert errors[8] == f"{p}:9: field 'messages[0].content': missing"
    assert errors[9] == f"{p}:10: field 'messages[0]': expected an object, got str"
    assert errors[10] == f"{p}:11: field 'messages[0].content[0].text': expected a string, got int"
    assert df["prompt"][5:].null_count() == 6 and df["format"][5:].null_count() == 6


def test_messages_in_parquet_and_csv(tmp_path) -> None:
    msgs = [{"role": "user", "content": "u"}, {"role": "assistant", "content": "a"}]
    pl.DataFrame({"messages": [msgs, msgs]}).write_parquet(tmp_path / "m.parquet")
    pl.DataFrame({"messages": [json.dumps(msgs), "[not json"]}).write_csv(tmp_path / "m.csv")
    df = read_corpus([tmp_path / "m.parquet", tmp_path / "m.csv"])
    assert df["format"].to_list() == ["messages"] * 3 + [None]
    assert df["response"].to_list()[:3] == ["a"] * 3
    assert df["error"][3].startswith(f"{tmp_path / 'm.csv'}:3: field 'messages': invalid JSON")


def test_mapping_and_forced_format(tmp_path) -> None:
    path = write_jsonl(
        tmp_path / "m.jsonl",
        [
            {"q": "Q", "a": "A", "sys": "S", "text": "Human: x Assistant: y"},
            {"q": "Q2", "a": None},
            {"q": "Q3"},
        ],
    )
    df = read_corpus(path, mapping={"prompt": "q", "response": "a", "system": "sys"})
    assert df.row(0, named=True)["format"] == "mapped"
    assert df.select("system", "prompt", "response").row(0) == ("S", "Q", "A")
    assert df["error"][1] == f"{path}:2: field 'a': expected a string, got null"
    assert df["error"][2] == f"{path}:3: field 'a': missing"
    only_response = read_corpus(path, mapping={"response": "q"})
    assert only_response.select("prompt", "response").row(2) == ("", "Q3")
    forced = read_corpus(path, format="text")  # forced: no dialogue split
    assert forced.select("format", "prompt", "response").row(0) == (
        "text",
        "",
        "Human: x Assistant: y",
    )
    assert forced["error"][1] == f"{path}:2: field 'text': missing"
    auto = read_corpus(path)
    assert auto["format"][0] == "dialogue"
    assert auto["error"][1].startswith(f"{path}:2: no recognised schema (keys: a, q)")

    with pytest.raises(ConfigError, match="either mapping= or format="):
        read_corpus(path, mapping={"response": "a"}, format="alpaca")
    with pytest.raises(ConfigError, match="unknown schema"):
        read_corpus(path, format="sharegpt")
    with pytest.raises(ConfigError, match="'response' is required"):
        read_corpus(path, mapping={"prompt": "q"})
    with pytest.raises(ConfigError, match="unknown key"):
        read_corpus(path, mapping={"response": "a", "completion": "b"})
    with pytest.raises(ConfigError, match="batch_size"):
        read_corpus(path, batch_size=0)


# ---------------------------------------------------------------------------------------------
# bad input: error rows, never a lost row


def test_checked_in_mixed_fixture() -> None:
    path = FIXTURES / "mixed.jsonl"
    df = read_corpus(path)
    assert_contiguous(df)
    assert df.height == 14  # 16 physical lines, 2 blank
    assert df["line"].to_list() == [1, 2, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 15, 16]
    assert df["format"].to_list()[:6] == [
        "messages", "alpaca", "prompt_completion", "question_answer", "dialogue", "text"
    ]  # fmt: skip
    p = str(path)
    errors = df["error"].to_list()
    assert errors[:6] == [None] * 6
    assert errors[6:] == [
        f"{p}:8: field 'answer': expected a string, got int",
        f"{p}:9: field 'prompt': expected a string, got null",
        f"{p}:10: field 'messages': expected a list, got str",
        f"{p}:11: empty object",
        errors[10],
        errors[11],
        f"{p}:15: expected a JSON object, got list",
        errors[13],
    ]
    assert errors[10].startswith(f"{p}:12: invalid JSON")
    assert errors[11] == f"{p}:13: invalid UTF-8 (byte 0xe9 at offset 13)"
    assert errors[13].startswith(f"{p}:16: no recognised schema (keys: foo)")
    bad = df.filter(pl.col("error").is_not_null())
    assert bad.select(pl.col("format", "system", "prompt", "response").null_count()).row(0) == (
        8,
        8,
        8,
        8,
    )


def test_empty_and_blank_files(tmp_path) -> None:
    (tmp_path / "a.jsonl").write_bytes(b"")
    (tmp_path / "b.jsonl").write_bytes(b"\n  \n\r\n")
    (tmp_path / "c.json").write_bytes(b"")
    (tmp_path / "d.json").write_bytes(b"[]")
    (tmp_path / "e.csv").write_bytes(b"")
    (tmp_path / "f.csv").write_bytes(b"prompt,completion\n")
    pl.DataFrame(schema={"prompt": pl.String, "completion": pl.String}).write_parquet(
        tmp_path / "g.parquet"
    )
    df = read_corpus(tmp_path)
    assert df.height == 0 and df.schema == pl.Schema(psio.CORPUS_SCHEMA)
    assert list(iter_corpus(tmp_path)) == []


def test_unreadable_files_raise(tmp_path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(InputError, match=r"notes\.txt: unsupported file type"):
        read_corpus(tmp_path / "notes.txt")
    with pytest.raises(InputError, match=r"nope\.jsonl: no such file"):
        read_corpus(tmp_path / "nope.jsonl")
    with pytest.raises(InputError, match=r"\*\.parquet: glob matches no files"):
        read_corpus(str(tmp_path / "*.parquet"))
    with pytest.raises(InputError, match="directory holds no supported files"):
        read_corpus(tmp_path)  # only notes.txt inside
    with pytest.raises(InputError, match=r"notes\.txt: unsupported"):
        read_corpus(str(tmp_path / "*"))  # a glob naming an unsupported file
    (tmp_path / "bad.json").write_text("this is not json\n{also not}\n")
    with pytest.raises(InputError, match=r"bad\.json: neither a JSON array nor JSON Lines"):
        read_corpus(tmp_path / "bad.json")
    (tmp_path / "scalar.json").write_text("42")
    with pytest.raises(InputError, match=r"scalar\.json: expected a JSON array"):
        read_corpus(tmp_path / "scalar.json")
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 definitely not parquet")
    with pytest.raises(InputError, match=r"bad\.parquet: cannot read as Parquet"):
        read_corpus(tmp_path / "bad.parquet")
    (tmp_path / "bad.csv").write_bytes(b'prompt,response\n"a,b\n')  # unterminated quote
    with pytest.raises(InputError, match=r"bad\.csv:2: malformed CSV"):
        read_corpus(tmp_path / "bad.csv")
    (tmp_path / "bad.csv").write_bytes(b'prompt,response\nok,fine\n"x"y,z\n')  # stray quote
    with pytest.raises(InputError, match=r"bad\.csv:3: malformed CSV"):
        read_corpus(tmp_path / "bad.csv")
    with pytest.raises(ConfigError, match="empty list"):
        read_corpus([])
    with pytest.raises(ConfigError, match="got int"):
        read_corpus(42)  # type: ignore[arg-type]
    # errors that need no data are raised when iter_corpus is called, not on first next()
    with pytest.raises(InputError):
        iter_corpus(tmp_path / "nope.jsonl")


def test_json_variants(tmp_path) -> None:
    lines = tmp_path / "lines.json"  # JSON Lines content in a .json file
    lines.write_text('{"prompt": "a", "completion": "b"}\n\n{"prompt": "c"}\nnot json\n')
    df = read_corpus(lines)
    assert df["line"].to_list() == [1, 3, 4]
    assert df["response"][0] == "b"
    assert df["error"][1].startswith(f"{lines}:3: no recognised schema (keys: prompt); expected")
    assert df["error"][1].endswith("(or pass mapping=)")
    assert df["error"][2].startswith(f"{lines}:4: invalid JSON")

    single = tmp_path / "single.json"  # one pretty-printed object
    single.write_text('\n\n{\n  "question": "q",\n  "answer": "a"\n}\n')
    assert read_corpus(single).select("line", "prompt").row(0) == (3, "q")

    arr = tmp_path / "arr.json"  # non-object elements are error rows, located by element
    arr.write_text('[{"text": "t"}, 5, null, {"text": ["x"]}]')
    df = read_corpus(arr)
    assert df["line"].to_list() == [1, 2, 3, 4]
    assert df["error"].to_list()[1:] == [
        f"{arr}: element 2: expected a JSON object, got int",
        f"{arr}: element 3: expected a JSON object, got null",
        f"{arr}: element 4: field 'text': expected a string, got list",
    ]


def test_json_streamed(tmp_path, monkeypatch) -> None:
    """Arrays are read an element at a time and JSON Lines a line at a time, never the file
    whole; a syntax error inside an array fails the file naming the element."""
    real = Path.read_bytes

    def no_whole_read(self: Path) -> bytes:
        assert self.suffix != ".json", f"{self} read whole"
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", no_whole_read)

    class Sized:
        """A file the reader opens, which refuses to be read whole."""

        def __init__(self, f: Any) -> None:
            self._f = f

        def read(self, n: int | None = -1) -> bytes:
            assert n is not None and n >= 0, f"{self._f.name} read whole"
            return self._f.read(n)

        def __getattr__(self, name: str) -> Any:
            return getattr(self._f, name)

        def __iter__(self) -> Any:
            return iter(self._f)

        def __enter__(self) -> Sized:
            return self

        def __exit__(self, *exc: object) -> None:
            self._f.close()

    monkeypatch.setattr(psio, "open", lambda *a, **k: Sized(open(*a, **k)), raising=False)
    monkeypatch.setattr(psio, "_PEEK", 4)  # leading blanks longer than one peek
    arr = tmp_path / "arr.json"
    recs = [{"prompt": f"p{i}", "response": f"r{i}"} for i in range(5)]
    arr.write_bytes(b"\xef\xbb\xbf \n\n\t  " + json.dumps([*recs, {"text": 1.5}]).encode())
    df = read_corpus(arr)
    assert df["line"].to_list() == [1, 2, 3, 4, 5, 6]
    assert df["prompt"].to_list()[:5] == [f"p{i}" for i in range(5)]
    assert df["error"][5] == f"{arr}: element 6: field 'text': expected a string, got float"
    lines = tmp_path / "lines.json"
    lines.write_text("\n" + "\n".join(json.dumps(r) for r in recs))
    assert read_corpus(lines)["line"].to_list() == [2, 3, 4, 5, 6]
    # a lone surrogate escape fails its row (as from JSON Lines) wherever the 64-byte chunks of
    # the check cut; a pair is a character
    for pad in range(0, 70, 7):
        sur = tmp_path / f"sur{pad}.json"
        sur.write_text(
            f'[{{"prompt": "{"x" * pad}a\\ud800b", "response": "r"}}, '
            '{"prompt": "\\ud83d\\ude00", "response": "\\udc00"}, {"prompt": "ok", "response": "y"}]'
        )
        df = read_corpus(sur)
        assert df["error"].to_list() == [
            f"{sur}: element 1: field 'prompt': unpaired UTF-16 surrogate",
            f"{sur}: element 2: field 'response': unpaired UTF-16 surrogate",
            None,
        ], pad
        sur.write_text('[{"prompt": "' + "y" * pad + '\\ud83d\\ude00", "response": "r"}]')
        assert read_corpus(sur)["prompt"].to_list() == ["y" * pad + "\U0001f600"]
    # the check itself, with a pair or a lone escape at every cut of its chunks: a pair is never
    # lone (a false alarm would send the file to the slow parser)
    for pad in range(140):
        for after in (b"", b"xyzxyzxyz"):
            assert not psio._has_lone_surrogate(io.BytesIO(b"x" * pad + rb"\ud83d\ude00" + after))
            for lone in (rb"\ud800", rb"\udc00", rb"\ud83d\ud83d\ude00", rb"\ude00\ud83d"):
                assert psio._has_lone_surrogate(io.BytesIO(b"x" * pad + lone + after)), (pad, lone)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(recs)[:-1] + ', {"prompt": }]')
    with pytest.raises(InputError, match=r"bad\.json: element 6: invalid JSON array"):
        read_corpus(bad)
    bad.write_text(json.dumps(recs) + " trailing")
    with pytest.raises(InputError, match=r"bad\.json: element 6: invalid JSON array"):
        read_corpus(bad)


def test_csv_multiline_records_and_bad_rows(tmp_path) -> None:
    path = tmp_path / "c.csv"
    path.write_bytes(
        b'prompt,completion\r\n'
        b'"multi\nline\nprompt","ok"\r\n'
        b'\r\n'
        b'simple,"quoted, with comma"\r\n'
        b'too,many,fields\r\n'
        b'bad \xff byte,x\r\n'
        b'last,"one"\r\n'
    )  # fmt: skip
    df = read_corpus(path)
    assert_contiguous(df)
    assert df["line"].to_list() == [2, 6, 7, 8, 9]
    assert df["prompt"][0] == "multi\nline\nprompt"
    assert df["response"][1] == "quoted, with comma"
    assert df["error"][2] == f"{path}:7: expected 2 fields, got 3"
    assert df["error"][3] == f"{path}:8: field 'prompt': invalid UTF-8"
    assert df.select("prompt", "response").row(4) == ("last", "one")


def test_tsv_is_split_at_tabs_with_quotes_as_text(tmp_path) -> None:
    # GLUE-style TSV: a review's own quotes are text (a CSV reader would have swallowed the tab
    # after '"great"' into a quoted field), a ragged row fails with its line, blank lines skip
    path = tmp_path / "sst.tsv"
    path.write_bytes(
        b'sentence\tlabel\n'
        b'it is a "great" movie\t1\n'
        b'\n'
        b'"quoted start , no end\t0\n'
        b'bad\trow\tthree\n'
        b'fine ,\t0\n'
    )  # fmt: skip
    df = read_corpus(path)
    assert_contiguous(df)
    assert df["line"].to_list() == [2, 4, 5, 6]
    assert df["format"].to_list() == ["classification", "classification", None, "classification"]
    assert df["prompt"].to_list() == [
        'it is a "great" movie',
        '"quoted start , no end',
        None,
        "fine ,",
    ]
    assert df["response"].to_list() == ["1", "0", None, "0"]
    assert df["error"][2] == f"{path}:5: expected 2 fields, got 3"


def test_classification_rows_keep_their_label(tmp_path) -> None:
    # a text with a label is a classification row (its label the response), not a document
    # whose label is dropped; an integer label reads in decimal, other types fail the row
    path = tmp_path / "cls.jsonl"
    recs = [
        {"text": "good film", "label": 1},
        {"sentence": "bad film", "label": "negative", "idx": 7},
        {"review": "meh", "label": 0},
        {"text": "x", "label": 1.0},
        {"text": "y", "label": True},
        {"text": "z", "label": None},
        {"text": "a plain document"},
        {"sentence": 5, "label": 1},
        {"premise": "A man sleeps.", "hypothesis": "A man is awake.", "label": 2},
        {"question": "Who wrote it?", "sentence": "It was written by Ann.", "label": 0},
    ]
    path.write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    df = read_corpus(path)
    assert_contiguous(df)
    assert df["format"].to_list() == (
        ["classification"] * 3 + [None] * 3 + ["text", None] + ["classification"] * 2
    )
    assert df["prompt"].to_list()[:3] == ["good film", "bad film", "meh"]
    assert df["response"].to_list()[:3] == ["1", "negative", "0"]
    assert df["error"].to_list()[3:6] == [
        f"{path}:{i}: field 'label': expected a string or an integer, got {t}"
        for i, t in ((4, "float"), (5, "bool"), (6, "null"))
    ]
    assert df["error"][7] == f"{path}:8: field 'sentence': expected a string, got int"
    # a sentence pair is one prompt: neither sentence is dropped
    assert df["prompt"].to_list()[8:] == [
        "A man sleeps.\nA man is awake.",
        "Who wrote it?\nIt was written by Ann.",
    ]
    assert df["response"].to_list()[8:] == ["2", "0"]
    forced = read_corpus(path, format="classification")
    assert forced["error"][6] == f"{path}:7: field 'label': missing"
    # a frame with an integer label column reads the same
    frame = pl.DataFrame({"sentence": ["a", "b"], "label": [0, 1]})
    assert read_corpus(frame)["response"].to_list() == ["0", "1"]


def test_parquet_types_and_nulls(tmp_path) -> None:
    table = pa.table(
        {
            "question": ["q1", None, "q3", "q4"],
            "answer": pa.array([1, 2, 3, 4], pa.int64()),
        }
    )
    pq.write_table(table, tmp_path / "n.parquet")
    df = read_corpus(tmp_path / "n.parquet")
    p = tmp_path / "n.parquet"
    assert df["error"].to_list() == [
        f"{p}: row 1: field 'answer': expected a string, got int",
        f"{p}: row 2: field 'question': expected a string, got null",
        f"{p}: row 3: field 'answer': expected a string, got int",
        f"{p}: row 4: field 'answer': expected a string, got int",
    ]
    assert df["line"].to_list() == [1, 2, 3, 4]


# ---------------------------------------------------------------------------------------------
# row ids, batching, in-memory input


@pytest.fixture
def three_files(tmp_path) -> list[Path]:
    sub = tmp_path / "sub"
    sub.mkdir()
    a = write_jsonl(tmp_path / "b.jsonl", [{"text": f"b{i}"} for i in range(10)] + [{"x": 1}])
    b = tmp_path / "a.json"
    b.write_text(json.dumps([{"question": f"a{i}", "answer": "x"} for i in range(6)]))
    c = sub / "c.parquet"
    pl.DataFrame({"prompt": [f"c{i}" for i in range(9)], "completion": ["y"] * 9}).write_parquet(c)
    return [a, b, c]


def test_row_ids_global_in_given_order(three_files, tmp_path) -> None:
    a, b, c = three_files
    df = read_corpus([c, a, b])
    assert_contiguous(df)
    assert df["source"].unique(maintain_order=True).to_list() == [str(c), str(a), str(b)]
    assert df["prompt"][0] == "c0" and df["response"][9] == "b0" and df["prompt"][20] == "a0"
    assert df["line"].to_list() == list(range(1, 10)) + list(range(1, 12)) + list(range(1, 7))
    # a directory: recursive, sorted by path ("a.json", "b.jsonl", "sub/c.parquet")
    by_dir = read_corpus(tmp_path)
    assert by_dir["source"].unique(maintain_order=True).to_list() == [str(b), str(a), str(c)]
    assert scan_sources(tmp_path) == [str(b), str(a), str(c)]
    assert scan_sources(str(tmp_path / "**" / "*.parquet")) == [str(c)]
    # stable: reading again gives identical ids
    assert read_corpus([c, a, b]).equals(df)


@pytest.mark.parametrize("batch_size", [1, 7, 1000])
def test_iter_corpus_batches_concatenate(three_files, batch_size) -> None:
    files = [*three_files, FIXTURES / "mixed.jsonl"]
    whole = read_corpus(files)
    batches = list(iter_corpus(files, batch_size=batch_size))
    assert all(1 <= b.height <= batch_size for b in batches)
    assert all(b.height == batch_size for b in batches[:-1])
    assert all(b.schema == pl.Schema(psio.CORPUS_SCHEMA) for b in batches)
    assert pl.concat(batches).equals(whole)
    assert read_corpus(files, batch_size=batch_size).equals(whole)


def test_iter_corpus_batch_bytes(tmp_path) -> None:
    """``batch_bytes`` also cuts batches by their text; the rows are the same either way, and
    Parquet is read in batches of about that much text."""
    rows = [
        {"prompt": f"p{i} " + "x" * (i % 50), "response": "y" * (i * 7 % 300)} for i in range(400)
    ]
    jsonl = tmp_path / "long.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows))
    parquet = tmp_path / "long.parquet"
    pl.DataFrame(rows).write_parquet(parquet)
    files = [jsonl, parquet]
    whole = read_corpus(files)
    for limit in (1, 500, 5000):
        batches = list(iter_corpus(files, batch_size=100, batch_bytes=limit))
        assert pl.concat(batches).equals(whole)
        for b in batches:
            chars = sum(len(t or "") for c in ("system", "prompt", "response") for t in b[c])
            last = sum(len(b[c][-1] or "") for c in ("system", "prompt", "response"))
            assert b.height <= 100 and chars - last < limit  # cut once the limit is reached
        assert len(batches) > 8  # 800 rows of 100: the byte limit cut them
    parquet_records = list(psio._read_parquet(str(parquet), 10_000, batch_bytes=2000))
    assert [r for _, r, _ in parquet_records] == rows
    with pytest.raises(ConfigError, match="batch_bytes"):
        iter_corpus(files, batch_bytes=0)


def test_dataframe_and_lazyframe_input() -> None:
    frame = pl.DataFrame(
        {
            "instruction": ["i1", "i2", None],
            "input": ["", "ctx", ""],
            "output": ["o1", "o2", "o3"],
        }
    )
    for src in (frame, frame.lazy()):
        df = read_corpus(src, batch_size=2)
        assert_contiguous(df)
        assert df["source"].to_list() == ["<dataframe>"] * 3
        assert df["line"].to_list() == [1, 2, 3]
        assert df["prompt"].to_list() == ["i1", "i2\n\nctx", None]
        assert (
            df["error"][2] == "<dataframe>: row 3: field 'instruction': expected a string, got null"
        )
    with pytest.raises(ConfigError):
        read_corpus([frame])  # type: ignore[list-item]
    mapped = read_corpus(frame, mapping={"prompt": "input", "response": "output"})
    assert mapped["prompt"].to_list() == ["", "ctx", ""]


# ---------------------------------------------------------------------------------------------
# property: every record of a random JSONL file is accounted for

_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
_good = st.one_of(
    st.builds(lambda p, c: ({"prompt": p, "completion": c}, p, c), _text, _text),
    st.builds(lambda q, a: ({"question": q, "answer": a}, q, a), _text, _text),
    st.builds(
        lambda u, a: (
            {"messages": [{"role": "user", "content": u}, {"role": "assistant", "content": a}]},
            u,
            a,
        ),
        _text,
        _text,
    ),
    st.builds(
        lambda i, o: ({"instruction": i, "output": o}, i, o),
        _text,
        _text,
    ),
)
_bad_obj = st.one_of(
    st.just({}),
    st.builds(
        lambda v: {"prompt": v, "completion": "x"},
        st.one_of(st.none(), st.integers(), st.booleans()),
    ),
    st.builds(lambda v: {"messages": v}, st.one_of(st.text(max_size=5), st.just([]))),
    st.dictionaries(st.sampled_from(["foo", "bar", "baz"]), _text, max_size=2),
)
_bad_raw = st.sampled_from([b"{", b'{"a": }', b"\xff\xfe", b'{"text": "\xc3"}', b"nul", b"[1,"])
_record = st.one_of(
    _good.map(lambda g: ("good", json.dumps(g[0]).encode(), g[1], g[2])),
    _bad_obj.map(lambda o: ("bad", json.dumps(o).encode(), None, None)),
    _bad_raw.map(lambda r: ("bad", r, None, None)),
    st.sampled_from([b"", b"   ", b"\t"]).map(lambda r: ("blank", r, None, None)),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(records=st.lists(_record, max_size=25), batch_size=st.integers(1, 10))
def test_property_every_record_accounted(tmp_path, records, batch_size) -> None:
    path = tmp_path / "prop.jsonl"
    path.write_bytes(b"\n".join(r[1] for r in records) + b"\n")
    expected = [(lineno, r) for lineno, r in enumerate(records, 1) if r[0] != "blank"]
    batches = list(iter_corpus(path, batch_size=batch_size))
    df = pl.concat(batches) if batches else pl.DataFrame(schema=psio.CORPUS_SCHEMA)
    assert df.height == len(expected)
    assert_contiguous(df)
    assert df["line"].to_list() == [lineno for lineno, _ in expected]
    for row, (lineno, (kind, _, prompt, response)) in zip(
        df.iter_rows(named=True), expected, strict=True
    ):
        if kind == "good":
            assert row["error"] is None
            assert (row["prompt"], row["response"]) == (prompt, response)
        else:
            assert row["error"].startswith(f"{path}:{lineno}: ")
            assert row["prompt"] is None and row["response"] is None and row["format"] is None


def test_bom_crlf_hidden_and_literal_names(tmp_path) -> None:
    weird = tmp_path / "data[1].jsonl"  # glob characters in a real file name: taken literally
    weird.write_bytes(b'\xef\xbb\xbf{"text": "a"}\r\n\r\n{"text": "b\\r\\nc"}\r\n')
    (tmp_path / ".hidden.jsonl").write_text('{"text": "hidden"}\n')
    df = read_corpus(tmp_path)  # the hidden file is skipped
    assert df.select("line", "response").rows() == [(1, "a"), (3, "b\r\nc")]
    assert scan_sources(weird) == [str(weird)]
    twice = read_corpus([weird, weird])  # named twice, read twice, ids still contiguous
    assert twice["row_id"].to_list() == [0, 1, 2, 3]


@pytest.mark.parametrize("use_orjson", [True, False])
def test_json_backends_agree(tmp_path, monkeypatch, use_orjson) -> None:
    if not use_orjson:
        monkeypatch.setattr(psio, "_orjson", None)
    elif psio._orjson is None:
        pytest.skip("orjson not installed")
    path = tmp_path / "s.jsonl"
    path.write_bytes(b'{"text": "ok"}\n{"text": "lone \\ud800 surrogate"}\n{"text": "\xff"}\n')
    df = read_corpus(FIXTURES / "mixed.jsonl")
    assert df["error"].is_null().sum() == 6 and df.height == 14
    df = read_corpus(path)
    assert df["response"][0] == "ok"
    assert df["error"][1].startswith(f"{path}:2: ") and "surrogate" in df["error"][1]
    assert df["error"][2] == f"{path}:3: invalid UTF-8 (byte 0xff at offset 10)"
