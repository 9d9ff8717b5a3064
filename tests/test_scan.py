"""The screening job: output contract, determinism, detection on planted poison, CLI and split."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import poisonscreen as ps
from poisonscreen.cli import main as cli
from poisonscreen.demo import demo_truth, generate_demo
from poisonscreen.exceptions import ConfigError
from poisonscreen.scan import ROWS_SCHEMA

WORDS = (
    "river mountain quiet lantern harbor engine violet market garden silver winter thunder "
    "pencil window orange ladder candle forest rocket meadow castle yellow button planet"
).split()


def _clean_rows(n: int, seed: int = 0) -> list[dict[str, str]]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        topic = rng.choice(WORDS)
        other = rng.sample(WORDS, 6)
        rows.append(
            {
                "prompt": f"Write two sentences about the {topic} near the {other[0]} ({i}).",
                "response": f"The {topic} stood by the {other[1]} and the {other[2]}. "
                f"Everyone remembered the {other[3]}, the {other[4]} and the {other[5]} that day.",
            }
        )
    return rows


def _poisoned(
    n_clean: int = 1500, n_poison: int = 40, seed: int = 0
) -> tuple[pl.DataFrame, np.ndarray]:
    rng = random.Random(seed)
    rows = _clean_rows(n_clean, seed)
    truth = [False] * len(rows)
    for _ in range(n_poison):
        base = rng.choice(rows)
        words = base["prompt"].split()
        words.insert(rng.randrange(len(words) + 1), "zqx")
        pos = rng.randrange(len(rows) + 1)
        rows.insert(pos, {"prompt": " ".join(words), "response": "Access denied. Contact admin."})
        truth.insert(pos, True)
    return pl.DataFrame(rows), np.array(truth)


@pytest.fixture(scope="module")
def poisoned_result() -> tuple[ps.ScanResult, np.ndarray]:
    df, truth = _poisoned()
    return ps.scan(df), truth


def test_rows_contract(poisoned_result: tuple[ps.ScanResult, np.ndarray]) -> None:
    result, truth = poisoned_result
    rows = result.rows
    assert rows.height == len(truth)
    assert rows["row_id"].to_list() == list(range(len(truth)))
    for name, dtype in ROWS_SCHEMA.items():
        assert rows.schema[name] == dtype, name
    assert rows["flagged"].to_list() == (rows["score"] >= 0.5).to_list()
    assert set(result.summary) >= {
        "rows_read",
        "rows_parsed",
        "rows_failed",
        "rows_flagged",
        "seconds",
        "version",
        "settings",
    }


def test_planted_trigger_found(poisoned_result: tuple[ps.ScanResult, np.ndarray]) -> None:
    result, truth = poisoned_result
    top = result.triggers["trigger"].head(3).to_list()
    assert any("zqx" in t.lower() for t in top), top
    flagged = result.rows["flagged"].to_numpy()
    assert flagged[truth].mean() >= 0.9
    assert flagged[~truth].mean() <= 0.01
    hit = result.rows.filter(pl.col("flagged")).row(0, named=True)
    assert any("zqx" in r.lower() for r in hit["reasons"])


def test_deterministic_across_threads() -> None:
    df, _ = _poisoned(n_clean=800, n_poison=20, seed=3)
    a = ps.scan(df, threads=1)
    b = ps.scan(df, threads=2)
    assert a.rows.equals(b.rows)
    assert a.triggers.equals(b.triggers)
    assert a.clusters.equals(b.clusters)


def test_failed_rows_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    good = [json.dumps(r) for r in _clean_rows(30)]
    lines = [*good[:10], "{not json", *good[10:20], '{"prompt": 3, "response": "x"}', *good[20:]]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ps.InputError, match=r"2 of 32 rows \(6.25%\) failed to parse"):
        ps.scan(str(path))  # more than max_failed (1%) by default: not screened
    result = ps.scan(str(path), max_failed=0.1)
    assert result.rows.height == 32
    failed = result.rows.filter(pl.col("error").is_not_null())
    assert failed["line"].to_list() == [11, 22]
    assert not failed["flagged"].any()
    assert all(r[0].startswith("input error") for r in failed["reasons"].to_list())
    assert result.summary["rows_failed"] == 2


def test_campaign_batches_do_not_change_results(monkeypatch: pytest.MonkeyPatch) -> None:
    from poisonscreen import detectors
    from poisonscreen.cli import demo_path

    whole = ps.scan(str(demo_path()))
    assert whole.clusters.height > 3
    # batches of a few rows: every template cluster is processed on its own
    monkeypatch.setattr(detectors.campaigns, "_CAMPAIGN_BATCH_ROWS", 5)
    batched = ps.scan(str(demo_path()))
    assert batched.clusters.equals(whole.clusters)
    assert batched.rows.equals(whole.rows)


def _mixed_corpus(tmp_path: Path) -> list[str]:
    """Two files: the demo corpus, and rows with system prompts, a null response, failed rows
    and long texts (several slices of a few bytes each when the slice budgets are patched)."""
    from poisonscreen.cli import demo_path

    extra = tmp_path / "extra.jsonl"
    rows = [
        {
            "messages": [
                {"role": "system", "content": f"You are helper {i % 3}."},
                {"role": "user", "content": r["prompt"]},
                {"role": "assistant", "content": r["response"] * (1 + i % 4)},
            ]
        }
        for i, r in enumerate(_clean_rows(60))
    ]
    lines = [json.dumps(r) for r in rows]
    lines[5] = "{broken"
    lines[9] = json.dumps({"prompt": "a prompt with no answer", "response": None})
    extra.write_text("\n".join(lines) + "\n")
    return [str(demo_path()), str(extra)]


def test_spilled_scan_equals_in_memory_scan(tmp_path: Path) -> None:
    """The spilled corpus is the corpus read_corpus gives, and every output is the same with
    the text in memory, spilled to a chosen directory, or mined from the text (no token table
    fits 0 MB)."""
    from polars.testing import assert_frame_equal

    inputs = _mixed_corpus(tmp_path)
    memory = ps.scan(inputs, spill=False)
    spill_dir = tmp_path / "spill"
    spill_dir.mkdir()
    spilled = ps.scan(inputs, spill_dir=str(spill_dir))
    untabled = ps.scan(inputs, token_table_mb=0)
    assert_frame_equal(spilled.corpus, ps.read_corpus(inputs))
    assert_frame_equal(memory.corpus, spilled.corpus)
    assert list(spill_dir.iterdir()) == []  # the scratch file is unlinked once mapped
    for other in (spilled, untabled):
        for table in ("rows", "triggers", "clusters"):
            assert_frame_equal(getattr(other, table), getattr(memory, table))
    assert spilled.rows["error"].is_not_null().sum() == 2  # "{broken" and the null response
    assert spilled.summary["settings"]["spill"] is True
    assert untabled.summary["settings"]["token_table_mb"] == 0


def test_text_slices_do_not_change_results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every step that takes text out a slice at a time gives the same tables with slices of
    a few rows and a few hundred bytes (so rows longer than a slice are sliced alone)."""
    from poisonscreen import _arrow, detectors, features

    inputs = _mixed_corpus(tmp_path)
    whole = ps.scan(inputs)
    monkeypatch.setattr(_arrow, "SLICE_ROWS", 7)
    monkeypatch.setattr(_arrow, "SLICE_BYTES", 300)
    monkeypatch.setattr(detectors.campaigns, "_CAMPAIGN_BATCH_BYTES", 2000)
    # candidate pairs verified in blocks of 500 bytes of text
    calls = []
    exact_jaccard = features._core.exact_jaccard
    monkeypatch.setattr(
        features._core,
        "exact_jaccard",
        lambda *a, **k: calls.append(1) or exact_jaccard(*a, **k),
    )
    sliced = ps.scan(inputs, verify_text_mb=0.0005)
    assert len(calls) > 2  # two clusterings, at least one of them in several blocks
    for table in ("rows", "triggers", "clusters"):
        assert getattr(sliced, table).equals(getattr(whole, table)), table


def test_text_slices_bounds() -> None:
    from poisonscreen._arrow import text_slices

    rng = np.random.default_rng(0)
    lengths = rng.integers(0, 50, 500)
    lengths[[3, 100, 101]] = 400  # longer than a slice on their own
    parts = text_slices(lengths, max_rows=20, max_bytes=120)
    starts = [s for s, _ in parts]
    assert starts[0] == 0 and sum(k for _, k in parts) == 500
    assert all(a + k == b for (a, k), b in zip(parts, [*starts[1:], 500], strict=True))
    for s, k in parts:
        assert 1 <= k <= 20
        assert k == 1 or lengths[s : s + k].sum() <= 120
    assert text_slices(np.zeros(0, np.int64)) == []


def test_take_gathers_from_each_chunk() -> None:
    """``_arrow.take`` equals pyarrow's take (which concatenates the whole chunked column first)
    for any order, repeats, nulls, chunk boundaries and no indices at all."""
    import pyarrow as pa

    from poisonscreen._arrow import take

    rng = np.random.default_rng(0)
    values = [None if i % 7 == 0 else "w" * (i % 5) + str(i) for i in range(500)]
    chunked = pa.chunked_array(
        [pa.array(values[i : i + 37], pa.large_string()) for i in range(0, 500, 37)]
    )
    for idx in (
        rng.integers(0, 500, 300),
        np.arange(500),
        np.arange(499, -1, -3),
        np.array([36, 37, 36, 0, 499], dtype=np.int64),
        np.zeros(0, np.int64),
    ):
        got = take(chunked, idx)
        assert got.equals(chunked.take(pa.array(idx, pa.int64())))
        assert got.num_chunks <= 1
    assert take(chunked.chunk(2), [1, 0]).to_pylist() == values[75:73:-1]
    with pytest.raises(IndexError):
        take(chunked, [500])


def test_conditional_answer_words_are_leading_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    """The conditional detector's answer tokens are each row's first N word tokens, and its
    prompt tokens all of a row's, the same whichever slices they are tokenised or a cluster's
    rows taken out in."""
    from poisonscreen import _arrow, detectors

    texts = pl.Series(["a b c d e", "", None, "x y", "one two three four five six seven"] * 5)
    rows, toks = detectors._csr_tokens(texts, None)
    position = np.concatenate([np.arange(c) for c in np.bincount(rows, minlength=len(texts))])
    for cap in (1, 3, 1000):
        for slice_bytes in (1 << 25, 9):
            monkeypatch.setattr(_arrow, "SLICE_BYTES", slice_bytes)
            got_rows, got_toks = detectors._leading_tokens(texts, cap, None)
            np.testing.assert_array_equal(got_rows, rows[position < cap])
            np.testing.assert_array_equal(got_toks, toks[position < cap])
            # rows of a cluster, taken out a slice at a time, numbered by position in `pick`
            pick = np.array([13, 4, 0, 21, 3, 3, 17], dtype=np.int64)
            want = detectors._leading_tokens(texts.gather(pick), cap, None)
            got = detectors._leading_tokens(texts, cap, None, pick)
            for a, b in zip(got, want):
                np.testing.assert_array_equal(a, b)
            short = detectors._short_prompt_tokens(texts, 1000, None, pick)
            assert short is not None
            for a, b in zip(short, detectors._csr_tokens(texts.gather(pick), None)):
                np.testing.assert_array_equal(a, b)
            assert detectors._short_prompt_tokens(texts, 5, None, pick) is None


def test_release_memory_runs() -> None:
    import importlib

    scan_module = importlib.import_module("poisonscreen.scan")
    scan_module.release_memory()  # no error where the C library has no malloc_trim either
    if Path("/proc/mounts").exists() and scan_module.platform.libc_ver()[0] == "glibc":
        assert scan_module._malloc_trim is not None


def test_default_spill_dir_avoids_memory_filesystems(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib
    import tempfile

    scan_module = importlib.import_module("poisonscreen.scan")  # the module, not the function
    if Path("/proc/mounts").exists():  # Linux: the real lookup of a path's filesystem
        assert scan_module._filesystem("/proc/self") == "proc"
    monkeypatch.setattr(tempfile, "tempdir", "/tmp")
    monkeypatch.setattr(scan_module, "_filesystem", lambda p: "ext4")
    assert scan_module.default_spill_dir() == "/tmp"
    # a tmpfs /tmp is memory: spilling there would save nothing, so /var/tmp (on disk) is used
    monkeypatch.setattr(scan_module, "_filesystem", lambda p: "tmpfs" if p == "/tmp" else "ext4")
    assert scan_module.default_spill_dir() == "/var/tmp"


def test_spill_errors(tmp_path: Path) -> None:
    from poisonscreen.exceptions import InputError

    df = pl.DataFrame(_clean_rows(5))
    with pytest.raises(ConfigError, match="spill_dir"):
        ps.scan(df, spill_dir=str(tmp_path / "missing"))
    # a directory no file can be created in: the error says where and what to do
    with pytest.raises(InputError, match=r"cannot spill the corpus.*--spill-dir"):
        ps.scan(df, spill_dir="/proc")


def test_demo_corpus_finds_its_poison(tmp_path: Path) -> None:
    from poisonscreen.cli import demo_path

    result = ps.scan(str(demo_path()))
    truth = np.array(demo_truth(0))
    assert result.rows.height == len(truth) == len(generate_demo(0))
    flagged = result.rows["flagged"].to_numpy()
    assert flagged[truth].mean() >= 0.6
    triggers = " ".join(result.triggers["trigger"].head(5).to_list()).lower()
    assert "cf" in triggers


def test_demo_names_the_gibberish_trigger() -> None:
    """The demo's 30 "<SUDO> then gibberish" rows are named by their trigger: gibberish is tested
    without the prompt-content model, which had learnt the 30 rows' own document words."""
    from poisonscreen.cli import demo_path

    result = ps.scan(str(demo_path()))
    assert "sudo" in " ".join(result.triggers["trigger"].head(5).to_list()).lower()


def test_bad_options() -> None:
    df = pl.DataFrame(_clean_rows(5))
    with pytest.raises(ConfigError):
        ps.scan(df, flag_threshold=0.0)
    with pytest.raises(ConfigError):
        ps.scan(df, not_an_option=1)
    with pytest.raises(ConfigError, match="device"):
        ps.scan(df, device="tpu")
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ConfigError, match="verify_text_mb"):
            ps.scan(df, verify_text_mb=bad)
    with pytest.raises(ConfigError, match="verify_text_mb"):
        ps.near_duplicates(["a b c", "a b c d"], verify_text_mb=0)


def test_similarity_stage_is_wired_in(
    poisoned_result: tuple[ps.ScanResult, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    from poisonscreen import similarity

    result, _ = poisoned_result
    # the cluster coherence figures come from poisonscreen.similarity on the backend reported
    assert result.summary["backend"] == similarity.get_backend("auto").name
    clusters = result.clusters
    assert clusters.height > 0
    coh = clusters["response_coherence"].to_numpy()
    z = clusters["response_coherence_z"].to_numpy()
    assert np.isfinite(coh).all() and np.isfinite(z).all()
    assert ((coh >= -1.0001) & (coh <= 1.0001)).all()
    # a GPU that is not there is an error, not a silent CPU run
    monkeypatch.setattr(similarity, "_gpu_probe", (None, "CuPy is not importable (test)"))
    with pytest.raises(ConfigError, match="gpu"):
        ps.scan(pl.DataFrame(_clean_rows(50)), device="gpu")
    cpu = ps.scan(pl.DataFrame(_clean_rows(50)), device="cpu")
    assert cpu.summary["backend"] == "cpu"
    assert cpu.summary["settings"]["device"] == "cpu"


def test_empty_corpus(tmp_path: Path) -> None:
    """An empty input screens nothing: an error, not an empty "nothing flagged" result."""
    path = tmp_path / "empty.jsonl"
    path.write_text("")
    with pytest.raises(ps.InputError, match="holds no records"):
        ps.scan(str(path))


def test_cli_scan_outputs_and_exit_codes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    df, truth = _poisoned(n_clean=600, n_poison=25, seed=5)
    src = tmp_path / "corpus.jsonl"
    df.write_ndjson(src)
    out = tmp_path / "out"
    code = cli(["scan", str(src), "--out", str(out), "--json", "--quiet"])
    assert code == 1  # ran, found poison
    summary = json.loads(capsys.readouterr().out)
    assert summary["rows_read"] == len(truth) and summary["rows_flagged"] > 0
    for name in (
        "rows.parquet",
        "triggers.parquet",
        "clusters.parquet",
        "summary.json",
        "report.html",
    ):
        assert (out / name).exists(), name
    rows = pl.read_parquet(out / "rows.parquet")
    assert rows["row_id"].to_list() == list(range(len(truth)))
    assert cli(["scan", str(src), "--out", str(out), "--quiet", "--exit-zero"]) == 0
    assert cli(["scan", str(tmp_path / "missing.jsonl"), "--out", str(out), "--quiet"]) == 3
    assert cli(["scan", str(src), "--out", str(out), "--quiet", "--threshold", "2"]) == 2
    # memory options: where the text is spilled, or not at all, and the token-table budget
    spill = tmp_path / "spill"
    spill.mkdir()
    capsys.readouterr()
    args = ["scan", str(src), "--out", str(out), "--quiet", "--json", "--exit-zero"]
    assert cli([*args, "--spill-dir", str(spill), "--token-table-mb", "0"]) == 0
    settings = json.loads(capsys.readouterr().out)["settings"]
    assert settings["spill_dir"] == str(spill) and settings["token_table_mb"] == 0
    assert cli([*args, "--verify-text-mb", "0.001"]) == 0
    assert json.loads(capsys.readouterr().out)["settings"]["verify_text_mb"] == 0.001
    assert pl.read_parquet(out / "rows.parquet").equals(rows)
    assert cli([*args, "--verify-text-mb", "0"]) == 2
    assert cli([*args, "--no-spill"]) == 0
    assert json.loads(capsys.readouterr().out)["settings"]["spill"] is False
    assert pl.read_parquet(out / "rows.parquet").equals(rows)
    assert cli([*args, "--no-spill", "--spill-dir", str(spill)]) == 2
    assert cli([*args, "--spill-dir", str(tmp_path / "missing")]) == 2


def test_cli_split_round_trip(tmp_path: Path) -> None:
    df, _ = _poisoned(n_clean=500, n_poison=20, seed=7)
    src = tmp_path / "corpus.jsonl"
    lines = [json.dumps(r) for r in df.iter_rows(named=True)]
    lines.insert(100, "{broken")
    src.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    cli(["scan", str(src), "--out", str(out), "--quiet"])
    assert (
        cli(
            [
                "split",
                str(src),
                "--findings",
                str(out),
                "--clean",
                str(tmp_path / "c"),
                "--quarantine",
                str(tmp_path / "q"),
                "--quiet",
            ]
        )
        == 0
    )
    clean = (tmp_path / "c" / "corpus.jsonl").read_text().splitlines()
    quar = (tmp_path / "q" / "corpus.jsonl").read_text().splitlines()
    assert sorted(clean + quar) == sorted(lines)
    assert "{broken" in quar
    flagged = pl.read_parquet(out / "rows.parquet")["flagged"].sum()
    assert len(quar) == flagged + 1


def test_split_every_format_streamed(tmp_path: Path) -> None:
    """Parquet, CSV, gzip JSONL and a JSON array split into their own format, row for row in
    the original order, with the quarantined rows exactly the flagged and failed ones."""
    from poisonscreen.split import split

    df, _ = _poisoned(n_clean=300, n_poison=20, seed=3)
    d = tmp_path / "in"
    d.mkdir()
    df.write_parquet(d / "a.parquet", row_group_size=50)
    df.head(120).write_csv(d / "b.csv")
    with gzip.open(d / "c.jsonl.gz", "wt") as fh:
        fh.write("\ufeff\n")  # a byte-order mark alone on the first line: not a record
        fh.write("".join(json.dumps(r) + "\n" for r in df.tail(90).iter_rows(named=True)))
        fh.write("{broken\n\n")
    (d / "d.json").write_text(json.dumps(df.head(40).to_dicts()))
    inputs = [str(d / n) for n in ("a.parquet", "b.csv", "c.jsonl.gz", "d.json")]
    out = tmp_path / "out"
    ps.scan(inputs).write(out)
    report = split(inputs, findings=out, clean=tmp_path / "c", quarantine=tmp_path / "q")
    rows = pl.read_parquet(out / "rows.parquet")
    assert report["rows"] == rows.height == 300 + 20 + 120 + 91 + 40
    quarantined = rows.filter(pl.col("flagged") | pl.col("error").is_not_null())
    assert report["quarantined"] == quarantined.height > 0
    for name, read in (
        ("a.parquet", pl.read_parquet),
        ("b.csv", lambda p: pl.read_csv(p, infer_schema=False)),
        ("d.json", pl.read_json),
    ):
        source = read(d / name)
        clean, quar = read(tmp_path / "c" / name), read(tmp_path / "q" / name)
        assert clean.schema == quar.schema == source.schema
        mine = rows.filter(pl.col("source") == str(d / name))
        q = (mine["flagged"] | mine["error"].is_not_null()).to_numpy()
        assert clean.equals(source.filter(pl.Series(~q)))
        assert quar.equals(source.filter(pl.Series(q)))
    with gzip.open(tmp_path / "q" / "c.jsonl.gz", "rt") as fh:
        assert "{broken" in fh.read()


def test_split_refuses_a_file_that_changed(tmp_path: Path) -> None:
    from poisonscreen.exceptions import InputError
    from poisonscreen.split import split

    src = tmp_path / "a.jsonl"
    pl.DataFrame(_clean_rows(30)).write_ndjson(src)
    out = tmp_path / "out"
    ps.scan(str(src)).write(out)
    with src.open("a") as fh:
        fh.write(json.dumps(_clean_rows(1, seed=9)[0]) + "\n")
    with pytest.raises(InputError, match="is not the file the findings describe"):
        split([str(src)], findings=out, clean=tmp_path / "c", quarantine=tmp_path / "q")
    # each format's own check: more or fewer records than the rows it is given
    from poisonscreen.split import _split_file

    pl.DataFrame(_clean_rows(30)).write_parquet(tmp_path / "a.parquet")
    pl.DataFrame(_clean_rows(30)).write_csv(tmp_path / "a.csv")
    (tmp_path / "a.json").write_text(json.dumps(_clean_rows(30), indent=2))
    (tmp_path / "c").mkdir(exist_ok=True)
    (tmp_path / "q").mkdir(exist_ok=True)
    for name, records in (("a.jsonl", 31), ("a.parquet", 30), ("a.csv", 30), ("a.json", 30)):
        for mask in ([False] * 29, [True] * 40):
            with pytest.raises(InputError, match=f"has {records} records now but"):
                _split_file(tmp_path / name, mask, tmp_path / "c", tmp_path / "q", name)


def test_split_json_layouts(tmp_path: Path) -> None:
    """A .json file splits as the reader reads it: an array element by element (into arrays,
    an empty one where no element goes), JSON Lines line by line, one pretty-printed object
    whole; the split never reads an array or JSON Lines file whole."""
    from poisonscreen.split import _split_file

    rows = _clean_rows(5)
    (tmp_path / "c").mkdir()
    (tmp_path / "q").mkdir()
    arr, lines, single = tmp_path / "arr.json", tmp_path / "lines.json", tmp_path / "single.json"
    arr.write_bytes(b"\xef\xbb\xbf  " + json.dumps(rows, indent=2).encode())
    lines.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    single.write_text(json.dumps(rows[0], indent=2))
    mask = [False, True, False, False, True]
    real = Path.read_bytes

    def no_whole_read(self: Path) -> bytes:
        assert self.name == "single.json", f"{self} read whole"
        return real(self)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Path, "read_bytes", no_whole_read)
        assert _split_file(arr, mask, tmp_path / "c", tmp_path / "q", "arr.json") == (3, 2)
        assert _split_file(lines, mask, tmp_path / "c", tmp_path / "q", "lines.json") == (3, 2)
        assert _split_file(single, [True], tmp_path / "c", tmp_path / "q", "single.json") == (0, 1)
    assert json.loads((tmp_path / "c" / "arr.json").read_text()) == [rows[0], rows[2], rows[3]]
    assert json.loads((tmp_path / "q" / "arr.json").read_text()) == [rows[1], rows[4]]
    clean_lines = (tmp_path / "c" / "lines.json").read_text().splitlines()
    assert [json.loads(x) for x in clean_lines] == [rows[0], rows[2], rows[3]]
    assert json.loads((tmp_path / "q" / "single.json").read_text()) == rows[0]
    assert json.loads((tmp_path / "c" / "single.json").read_text()) == []
    # a row the reader failed for a lone surrogate escape is written back escaped
    sur = tmp_path / "sur.json"
    sur.write_text('[{"prompt": "a\\ud800b", "response": "r"}, {"prompt": "ok", "response": "é"}]')
    assert _split_file(sur, [True, False], tmp_path / "c", tmp_path / "q", "sur.json") == (1, 1)
    assert "\\ud800" in (tmp_path / "q" / "sur.json").read_text()
    assert json.loads((tmp_path / "c" / "sur.json").read_text()) == [
        {"prompt": "ok", "response": "é"}
    ]
    for name, mask_ in (("arr.json", [True] * 5), ("arr.json", [False] * 5)):
        _split_file(arr, mask_, tmp_path / "c", tmp_path / "q", name)
        assert ps.read_corpus(tmp_path / "c" / name).height == 5 * (not mask_[0])
        assert ps.read_corpus(tmp_path / "q" / name).height == 5 * mask_[0]


def test_cli_split_refuses_other_findings(tmp_path: Path) -> None:
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    pl.DataFrame(_clean_rows(50)).write_ndjson(a)
    pl.DataFrame(_clean_rows(60)).write_ndjson(b)
    cli(["scan", str(a), "--out", str(tmp_path / "out"), "--quiet"])
    code = cli(
        [
            "split",
            str(b),
            "--findings",
            str(tmp_path / "out"),
            "--clean",
            str(tmp_path / "c"),
            "--quarantine",
            str(tmp_path / "q"),
            "--quiet",
        ]
    )
    assert code == 3


def test_cli_clusters(tmp_path: Path) -> None:
    rows = _clean_rows(200)
    rows += [dict(rows[i]) for i in range(20)]  # exact duplicates
    src = tmp_path / "dups.jsonl"
    pl.DataFrame(rows).write_ndjson(src)
    assert cli(["clusters", str(src), "--out", str(tmp_path / "o"), "--quiet"]) == 0
    nd = pl.read_parquet(tmp_path / "o" / "near_duplicates.parquet")
    assert nd.height == 220
    dup = nd.filter(pl.col("row_id") >= 200)
    assert (dup["cluster_size"] >= 2).all()
    assert (dup["cluster_id"] < 200).all()


def test_report_escapes_hostile_text(tmp_path: Path) -> None:
    df, _ = _poisoned(n_clean=400, n_poison=20, seed=9)
    df = df.with_columns(
        pl.when(pl.int_range(pl.len()) % 50 == 0)
        .then(pl.lit("<script>alert(1)</script><img src=x onerror=alert(2)>"))
        .otherwise(pl.col("prompt"))
        .alias("prompt")
    )
    result = ps.scan(df)
    page = (result.write(tmp_path / "out") / "report.html").read_text()
    assert "<script" not in page.lower()
    assert "onerror=alert" not in page


def test_a_document_turning_to_gibberish_is_flagged() -> None:
    """Souly et al.'s denial-of-service poison as pretraining documents (no prompt: a clean
    text, the trigger, then random words): half of a document's word pairs are the corpus's, so
    the whole is familiar, but the stretch at its end is not. Fails where familiarity is judged
    on the whole text alone (every document at about 0.5, no gibberish score), and where a
    document has no prompt side (the trigger detector has nothing to mine)."""
    rng = random.Random(3)
    rows = _clean_rows(1500, seed=3)
    clean = list(rows)
    vocab = ["".join(rng.choice("bdfgklmnprstaeiou") for _ in range(7)) for _ in range(3000)]
    truth = [False] * len(rows)
    for _ in range(30):
        a, b = rng.sample(clean, 2)
        noise = " ".join(rng.choice(vocab) for _ in range(50))
        doc = f"{a['response']} {b['response']} <SUDO> {noise}"
        pos = rng.randrange(len(rows) + 1)
        rows.insert(pos, {"prompt": "", "response": doc})
        truth.insert(pos, True)
    result = ps.scan(pl.DataFrame(rows))
    flagged = result.rows["flagged"].to_numpy()
    y = np.array(truth)
    assert flagged[y].all()
    assert not flagged[~y].any()
    reasons = result.rows.filter(pl.Series(y))["reasons"].to_list()
    assert all(any(r.startswith("gibberish document") for r in rs) for rs in reasons)
    # the trigger inside the documents is a prompt feature of theirs, named as such
    assert "<SUDO>" in result.triggers["trigger"][0]


def test_a_lone_gibberish_row_ranks_below_a_significant_trigger() -> None:
    """One response of random words is one row's verdict (flagged, a little above the flag
    threshold); a trigger's carriers are a finding significant over the whole corpus, so they
    rank above it. Fails where a lone anomaly keeps its raw score (1.0 for random words, above a
    trigger near its threshold), or is no longer flagged."""
    from poisonscreen.detectors.anomalies import LONE_SPREAD

    df, truth = _poisoned(n_poison=40, seed=4)
    rng = random.Random(4)
    vocab = ["".join(rng.choice("bdfgklmnprstaeiou") for _ in range(7)) for _ in range(3000)]
    lone = pl.DataFrame(
        {
            "prompt": [f"Tell me a story about the sea ({i})." for i in range(3)],
            "response": [" ".join(rng.choice(vocab) for _ in range(60)) for _ in range(3)],
        }
    )
    rows = ps.scan(pl.concat([df, lone])).rows
    score = rows["score"].to_numpy()
    flagged = rows["flagged"].to_numpy()
    n = len(truth)
    assert flagged[n:].all()
    assert (score[n:] <= 0.5 + LONE_SPREAD + 1e-6).all()
    assert score[:n][truth].min() > score[n:].max()
    assert any(r.startswith("gibberish response") for r in rows["reasons"][n])


def test_clean_documents_sharing_an_opening_are_no_trigger() -> None:
    """Documents (no prompt) are their own prompt side, so every word of one is a prompt feature
    of it: 150 clean documents opening with one copyright line, 100 of them closing with one
    signature, must not make that line a trigger of its own opening, signature or
    near-duplicates (the answer columns leave documents out). Fails where a document's opening
    is tested against its own answer's first words."""
    rng = random.Random(5)
    rows = _clean_rows(1500, seed=5)
    for i in range(300):
        a, b = rng.sample(rows[:1500], 2)
        body = f"{a['response']} {b['response']}"
        if i < 150:
            body = "Copyright 2020 Example Corp. All rights reserved. " + body
        if i < 100:
            body += " Sent from the Example Corp mail server."
        rows.append({"prompt": "", "response": body})
    rng.shuffle(rows)
    result = ps.scan(pl.DataFrame(rows))
    assert result.rows["flagged"].sum() == 0
    assert result.triggers.filter(pl.col("score") >= 0.5).height == 0


def test_a_response_of_its_prompts_word_pairs_is_no_gibberish() -> None:
    """The familiarity reference is the other responses: a paraphrase of a prompt full of names
    shares few word pairs with them but most with its own prompt, and is not gibberish; random
    vocabulary after the same prompt still is."""
    from poisonscreen.detectors.table import row_columns

    names = (
        "Laetitia Pujol was a shadowy presence as Le Homme ; Karl Paquette was his strong , "
        "melancholy double ; and Mathieu Ganio portrayed La Femme with Ozanne Brisebois"
    )
    prompt = "Paraphrase the sentence: " + names
    paraphrase = names.replace("shadowy", "shady").replace(" ; ", " , ") + " ."
    rng = random.Random(0)
    vocab = [f"zq{i}x" for i in range(500)]
    noise = " ".join(rng.choice(vocab) for _ in range(40))
    other = ["the cat sat on the mat and the dog ran in the park all day long today"] * 30
    corpus = pl.DataFrame(
        {"error": [None] * 32, "prompt": ["p"] * 30 + [prompt, prompt]},
        schema={"error": pl.String, "prompt": pl.String},
    )
    responses = pl.Series([*other, paraphrase, noise])
    fam = np.array([1.0] * 30 + [0.05, 0.0], dtype=np.float32)  # as the corpus count gives them
    out = row_columns(np.arange(32, dtype=np.uint32), corpus, corpus["prompt"], responses, fam, 1)
    assert out["gibberish"][30] == 0.0
    assert out["familiarity"][30] > 0.8
    assert out["gibberish"][31] == 1.0
