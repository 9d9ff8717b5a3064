"""A screening step a pipeline can trust (issue 16): one test per reproducer.

Exit codes are checked on a real process (``python -m poisonscreen.cli``) where the process is
what matters (signals, limits, argparse); elsewhere ``cli.main``'s return value, which is the
process's exit status.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import poisonscreen as ps
from poisonscreen.cli import main as cli
from poisonscreen.exceptions import ConfigError, InputError

WORDS = (
    "river mountain quiet lantern harbor engine violet market garden silver winter thunder "
    "pencil window orange ladder candle forest rocket meadow castle yellow button planet"
).split()

EXIT_OK, EXIT_FLAGGED, EXIT_USAGE, EXIT_INPUT, EXIT_INTERNAL, EXIT_RESOURCE = 0, 1, 2, 3, 4, 5


def _rows(
    n: int = 300,
    poison: int = 0,
    seed: int = 0,
    trigger: str = "zqx",
    response: str = "Access denied. Contact admin.",
) -> list[dict[str, str]]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        t, o = rng.choice(WORDS), rng.sample(WORDS, 6)
        rows.append(
            {
                "prompt": f"Write two sentences about the {t} near the {o[0]} ({i}, {seed}).",
                "response": f"The {t} stood by the {o[1]} and the {o[2]}. Everyone remembered "
                f"the {o[3]}, the {o[4]} and the {o[5]} that day.",
            }
        )
    for _ in range(poison):
        words = rng.choice(rows[:n])["prompt"].split()
        words.insert(rng.randrange(len(words) + 1), trigger)
        rows.insert(rng.randrange(len(rows) + 1), {"prompt": " ".join(words), "response": response})
    return rows


def _jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _run(*args: Any, timeout: float = 120, **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "poisonscreen.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        **kw,
    )


def _lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


# --------------------------------------------------------------------------------------------
# 1. a run that screened nothing is never "nothing flagged"


def test_nothing_screened_is_exit_3_not_0(tmp_path: Path) -> None:
    src = _jsonl(tmp_path / "x.jsonl", _rows(40))
    wrong = _run(
        "scan", src, "--out", tmp_path / "o", "--quiet", "--map", "prompt=q", "--map", "response=a"
    )
    assert wrong.returncode == EXIT_INPUT, wrong.stderr
    assert "none of the 40 rows could be parsed" in wrong.stderr
    assert "Traceback" not in wrong.stderr and len(_lines(wrong.stderr)) == 1
    assert not (tmp_path / "o").exists()
    (tmp_path / "empty.jsonl").write_text("")
    empty = _run("scan", tmp_path / "empty.jsonl", "--out", tmp_path / "o", "--quiet")
    assert empty.returncode == EXIT_INPUT and "holds no records" in empty.stderr
    # whitespace only, and a Parquet file of another schema: in process
    (tmp_path / "blank.jsonl").write_text("  \n\n\t\n")
    pl.DataFrame({"a": [1, 2], "b": ["x", "y"]}).write_parquet(tmp_path / "other.parquet")
    for name in ("blank.jsonl", "other.parquet"):
        assert cli(["scan", str(tmp_path / name), "--out", str(tmp_path / "o"), "-q"]) == 3
    # the API is not silent either
    with pytest.raises(InputError, match="none of the 40 rows"):
        ps.scan(pl.DataFrame(_rows(40)), mapping={"prompt": "q", "response": "a"})


def test_max_failed_is_a_fraction_of_rows(tmp_path: Path) -> None:
    rows = [json.dumps(r) for r in _rows(98)] + ["{broken", '{"prompt": 1, "response": "x"}']
    src = tmp_path / "x.jsonl"
    src.write_text("\n".join(rows) + "\n")  # 2 of 100 rows fail
    with pytest.raises(InputError, match=r"2 of 100 rows \(2.00%\) failed to parse"):
        ps.scan(str(src))  # default max_failed 0.01
    assert ps.scan(str(src), max_failed=0.02).summary["rows_failed"] == 2  # at the bound: screened
    assert cli(["scan", str(src), "--out", str(tmp_path / "o"), "-q"]) == EXIT_INPUT
    assert cli(["scan", str(src), "--out", str(tmp_path / "o"), "-q", "--max-failed", "0.5"]) == 0
    with pytest.raises(InputError, match="none of"):  # all failed: never screened, whatever
        ps.scan(pl.DataFrame({"q": ["a"], "a": ["b"]}), mapping={"response": "x"}, max_failed=1.0)
    with pytest.raises(ConfigError, match="max_failed"):
        ps.scan(str(src), max_failed=1.5)


# --------------------------------------------------------------------------------------------
# 2. split never writes over its input; 3. it refuses findings of other bytes


def _scanned(tmp_path: Path, rows: list[dict[str, str]] | None = None) -> tuple[Path, Path]:
    src = _jsonl(tmp_path / "in" / "x.jsonl", rows or _rows(300, poison=15))
    out = tmp_path / "out"
    assert cli(["scan", str(src), "--out", str(out), "-q", "--exit-zero"]) == 0
    return src, out


def _split(*args: Any) -> int:
    return cli(["split", *map(str, args), "-q"])


def test_split_never_writes_over_its_input(tmp_path: Path) -> None:
    src, out = _scanned(tmp_path)
    before = src.read_bytes()
    d, q = src.parent, tmp_path / "q"
    proc = _run("split", src, "--findings", out, "--clean", d, "--quarantine", q, "-q")
    assert proc.returncode == EXIT_USAGE and "contains an input" in proc.stderr
    for clean, quar in ((tmp_path / "c", d), (tmp_path / "c", tmp_path / "c")):
        assert _split(src, "--findings", out, "--clean", clean, "--quarantine", quar) == 2
    nested = (tmp_path / "c", tmp_path / "c" / "q")
    assert _split(src, "--findings", out, "--clean", nested[0], "--quarantine", nested[1]) == 2
    assert _split(src, "--findings", out, "--clean", out, "--quarantine", q) == 2  # the findings
    assert _split(d, "--findings", out, "--clean", d / "sub", "--quarantine", q) == 2  # in a dir
    assert src.read_bytes() == before and sorted(p.name for p in d.iterdir()) == ["x.jsonl"]
    assert not (tmp_path / "c").exists() and not q.exists()
    assert _split(src, "--findings", out, "--clean", tmp_path / "c", "--quarantine", q) == 0
    assert sorted(
        (tmp_path / "c" / "x.jsonl").read_bytes().splitlines()
        + (q / "x.jsonl").read_bytes().splitlines()
    ) == sorted(before.splitlines())


def test_split_refuses_stale_findings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src, out = _scanned(tmp_path)
    monkeypatch.chdir(tmp_path)
    lines = src.read_bytes().splitlines(keepends=True)
    c, q = tmp_path / "c", tmp_path / "q"
    # the same file by another spelling is the same file
    for spelling in (f"./{src.relative_to(tmp_path)}", str(src.resolve())):
        assert cli(["split", spelling, "--findings", str(out), "--clean", str(c),
                    "--quarantine", str(q), "-q"], ) == 0  # fmt: skip
    # same row count, other rows: refused, and nothing written
    for name, data in (
        ("reversed", b"".join(reversed(lines))),
        ("other rows", "".join(json.dumps(r) + "\n" for r in _rows(len(lines), seed=9)).encode()),
    ):
        src.write_bytes(data)
        shutil.rmtree(c, ignore_errors=True)
        shutil.rmtree(q, ignore_errors=True)
        proc = _run("split", src, "--findings", out, "--clean", c, "--quarantine", q, "-q")
        assert proc.returncode == EXIT_INPUT, (name, proc.stderr)
        assert "is not the file the findings describe" in proc.stderr, name
        assert not (c / "x.jsonl").exists() and not (q / "x.jsonl").exists(), name


def test_split_findings_must_be_whole(tmp_path: Path) -> None:
    src, out = _scanned(tmp_path)
    args = [src, "--findings", out, "--clean", tmp_path / "c", "--quarantine", tmp_path / "q"]
    rows = (out / "rows.parquet").read_bytes()
    (out / "rows.parquet").write_bytes(b"")  # a 0-byte rows.parquet
    proc = _run("split", *args, "-q")
    assert proc.returncode == EXIT_INPUT and "Traceback" not in proc.stderr, proc.stderr
    (out / "rows.parquet").write_bytes(rows)
    summary = json.loads((out / "summary.json").read_text())
    (out / "summary.json").write_text(json.dumps({**summary, "complete": False}))
    assert _split(*args) == EXIT_INPUT
    (out / "summary.json").write_text(json.dumps({**summary, "run_id": "another"}))
    assert _split(*args) == EXIT_INPUT
    (out / "summary.json").unlink()
    assert _split(*args) == EXIT_INPUT


def _scan_and_split(tmp_path: Path, name: str, text: str) -> tuple[list[str], list[str]]:
    """Scans and splits one delimited file of ``text``; its clean and quarantined lines."""
    d = tmp_path / "in"
    d.mkdir()
    (d / name).write_text(text)
    out = tmp_path / "out"
    assert cli(["scan", str(d / name), "--out", str(out), "-q", "--exit-zero"]) == 0
    assert _split(d / name, "--findings", out, "--clean", tmp_path / "c",
                  "--quarantine", tmp_path / "q") == 0  # fmt: skip
    clean = (tmp_path / "c" / name).read_text().splitlines(keepends=True)
    quar = (tmp_path / "q" / name).read_text().splitlines(keepends=True)
    source = text.splitlines(keepends=True)
    assert clean[0] == quar[0] == source[0]
    assert sorted(clean[1:] + quar[1:]) == sorted(source[1:])
    return clean, quar


def test_split_csv_with_ragged_rows(tmp_path: Path) -> None:
    rows = _rows(200, poison=10)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["prompt", "response"])
    for i, r in enumerate(rows):
        w.writerow([r["prompt"], r["response"]] + (["extra"] if i == 7 else []))
    w.writerow(["multi\nline prompt", "a, quoted response"])
    _, quar = _scan_and_split(tmp_path, "x.csv", buf.getvalue())
    assert buf.getvalue().splitlines(keepends=True)[8] in quar  # the ragged record, as it was


def test_split_tsv_copies_each_line(tmp_path: Path) -> None:
    rows = _rows(200, poison=10)
    # (a quote opening no quoted field, and one ragged row)
    quote, extra = ' "quoted', "\textra"
    lines = ["sentence\tlabel\n"] + [
        r["prompt"] + (quote if i % 9 == 0 else "") + "\t" + r["response"]
        + (extra if i == 7 else "") + "\n"
        for i, r in enumerate(rows)
    ]  # fmt: skip
    _, quar = _scan_and_split(tmp_path, "x.tsv", "".join(lines))
    assert lines[8] in quar  # the ragged record, byte for byte
    # the poisoned rows were found in TSV form too (their trigger carried to the quarantine)
    assert sum("zqx" in line for line in quar) >= 8


# --------------------------------------------------------------------------------------------
# 4. input limits: a failed row with a reason, never a crash


@pytest.mark.parametrize("parser", ["orjson", "json"])
def test_deep_nesting_is_a_failed_row(
    tmp_path: Path, parser: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from poisonscreen import io as psio

    if parser == "json":
        monkeypatch.setattr(psio, "_orjson", None)
    elif psio._orjson is None:
        pytest.skip("orjson is not installed")
    deep = "[" * 1000 + "]" * 1000  # about 2 KB
    good = [json.dumps(r) for r in _rows(150)]
    bad = '{"prompt": "x", "response": "y", "meta": ' + deep + "}"
    (tmp_path / "d.jsonl").write_text("\n".join([*good[:50], bad, *good[50:]]) + "\n")
    (tmp_path / "d.json").write_text("[" + ",".join([*good[:50], bad, *good[50:]]) + "]")
    for name, where in (("d.jsonl", "d.jsonl:51"), ("d.json", "d.json: element 51")):
        corpus = ps.read_corpus(str(tmp_path / name))
        assert corpus.height == 151
        (error,) = corpus["error"].drop_nulls().to_list()
        assert error.startswith(str(tmp_path / where)) and "deep" in error, error
        result = ps.scan(str(tmp_path / name))  # 1 of 151 failed: screened
        assert result.summary["rows_failed"] == 1
    # split of such a .json array writes the element to quarantine, whole
    out = tmp_path / "out"
    ps.scan(str(tmp_path / "d.json")).write(out)
    from poisonscreen.split import split

    report = split([str(tmp_path / "d.json")], findings=out, clean=tmp_path / "c",
                   quarantine=tmp_path / "q")  # fmt: skip
    assert report["quarantined"] >= 1 and report["clean"] + report["quarantined"] == 151
    assert "[" * 1000 in (tmp_path / "q" / "d.json").read_text()
    assert ps.read_corpus(str(tmp_path / "c" / "d.json")).height == report["clean"]


def test_max_depth_and_max_row_bytes(tmp_path: Path) -> None:
    nested = {"prompt": "p", "response": "r", "meta": {"a": {"b": {"c": [1]}}}}  # 5 levels
    long = {"prompt": "p", "response": "x" * 5000}
    src = _jsonl(tmp_path / "x.jsonl", [nested, long, {"prompt": "p", "response": "r"}])
    errors = ps.read_corpus(str(src), max_depth=4, max_row_bytes=1000)["error"].to_list()
    assert "field 'meta': nested more than max_depth (4) levels deep" in errors[0]
    assert "record of 5," in errors[1] and "max_row_bytes (1,000)" in errors[1]
    assert errors[2] is None
    assert ps.read_corpus(str(src))["error"].null_count() == 3  # the defaults allow both
    pl.DataFrame([long]).write_parquet(tmp_path / "x.parquet")
    (error,) = ps.read_corpus(str(tmp_path / "x.parquet"), max_row_bytes=1000)["error"].to_list()
    assert "row 1: text of 5,001 characters, more than max_row_bytes (1,000)" in error
    # a too-long line goes to quarantine byte for byte, streamed
    rows = [*_rows(200), long]
    src = _jsonl(tmp_path / "in" / "y.jsonl", rows)
    out = tmp_path / "out"
    ps.scan(str(src), max_row_bytes=1000).write(out)
    from poisonscreen.split import split

    split([str(src)], findings=out, clean=tmp_path / "c", quarantine=tmp_path / "q")
    assert (tmp_path / "q" / "y.jsonl").read_text() == json.dumps(long) + "\n"


# --------------------------------------------------------------------------------------------
# 6. outputs appear whole, and replace the old ones whole


def test_outputs_replace_the_out_folder_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = _jsonl(tmp_path / "in" / "x.jsonl", _rows(200))
    out = tmp_path / "out"
    assert cli(["scan", str(src), "--out", str(out), "-q"]) == 0
    first = json.loads((out / "summary.json").read_text())
    assert first["complete"] is True and (out / "report.html").exists()
    assert set(first["outputs"]) == {"rows.parquet", "triggers.parquet", "clusters.parquet",
                                     "report.html"}  # fmt: skip
    # --no-report over it: the old report does not survive beside the new results
    assert cli(["scan", str(src), "--out", str(out), "-q", "--no-report", "--seed", "3"]) == 0
    assert not (out / "report.html").exists()
    assert json.loads((out / "summary.json").read_text())["settings"]["seed"] == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "out"]  # no staging left
    # a write that fails half-way leaves the earlier output as it was, and no staging
    from poisonscreen import report

    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def boom(*a: Any, **k: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(report, "write_report", boom)
    assert cli(["scan", str(src), "--out", str(out), "-q"]) == EXIT_RESOURCE
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "out"]
    monkeypatch.undo()
    # where the two folders cannot be swapped in one step: renamed away, then in
    from poisonscreen import _paths

    monkeypatch.setattr(_paths, "_exchange", lambda a, b: False)
    assert cli(["scan", str(src), "--out", str(out), "-q"]) == 0
    assert (out / "report.html").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "out"]
    # the staging folder of a process killed while writing is removed by a later write
    from poisonscreen._process import HOST

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    left = tmp_path / f".out.tmp-{HOST}-{dead.pid}-abc123"
    left.mkdir()
    (left / "rows.parquet").write_bytes(b"")
    old = time.time() - 3600
    os.utime(left, (old, old))
    assert cli(["scan", str(src), "--out", str(out), "-q"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "out"]


def test_out_must_be_apart_from_inputs_and_ours(tmp_path: Path) -> None:
    d = tmp_path / "data"
    src = _jsonl(d / "x.jsonl", _rows(100))
    proc = _run("scan", d, "--out", d / "out", "-q")
    assert proc.returncode == EXIT_USAGE and "lies inside an input" in proc.stderr
    assert not (d / "out").exists()
    assert cli(["scan", str(d / "**" / "*.jsonl"), "--out", str(d / "o"), "-q"]) == 2  # recurses
    assert cli(["scan", str(d / "*"), "--out", str(d / "o"), "-q"]) == 0  # matches no o yet
    assert cli(["scan", str(d / "*"), "--out", str(d / "o"), "-q"]) == 2  # now it would
    shutil.rmtree(d / "o")
    assert cli(["scan", str(src), "--out", str(d), "-q"]) == 2  # holds the input
    with pytest.raises(ConfigError, match="lies inside an input"):
        ps.scan(str(d)).write(d / "out")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    assert cli(["scan", str(src), "--out", str(mine), "-q"]) == 2  # not a poisonscreen output
    assert (mine / "notes.txt").read_text() == "keep me"


# --------------------------------------------------------------------------------------------
# 7. scratch files: removed on SIGINT/SIGTERM, and after a dead process

#: a driver that runs the CLI with the spill writing paused (a file says when) in its second
#: batch: the scratch file is then on disk, not yet mapped and unlinked
DRIVER = textwrap.dedent(
    """
    import importlib, sys, time
    s = importlib.import_module("poisonscreen.scan")
    s._SPILL_BATCH_ROWS = 10
    orig, calls = s._large_strings, [0]
    def paused(t):
        calls[0] += 1
        if calls[0] == 2:
            open(sys.argv[1], "w").close()
            time.sleep(60)
        return orig(t)
    s._large_strings = paused
    from poisonscreen.cli import main
    sys.exit(main(sys.argv[2:]))
    """
)


def _paused_scan(tmp_path: Path, spill: Path) -> tuple[subprocess.Popen[str], Path]:
    src = _jsonl(tmp_path / "in" / "x.jsonl", _rows(60))
    ready = tmp_path / "ready"
    ready.unlink(missing_ok=True)
    proc = subprocess.Popen(
        [sys.executable, "-c", DRIVER, str(ready), "scan", str(src), "--out",
         str(tmp_path / "out"), "-q", "--spill-dir", str(spill)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert [p.name.startswith("poisonscreen-") for p in spill.iterdir()] == [True]
    return proc, ready


@pytest.mark.parametrize(
    ("sig", "code", "word"),
    [(signal.SIGTERM, 143, "terminated (SIGTERM)"), (signal.SIGINT, 130, "interrupted (SIGINT)")],
)
def test_signals_remove_the_scratch_file(tmp_path: Path, sig: int, code: int, word: str) -> None:
    spill = tmp_path / "spill"
    spill.mkdir()
    proc, _ = _paused_scan(tmp_path, spill)
    t0 = time.monotonic()
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    assert time.monotonic() - t0 < 20  # at once, not after the paused call returns
    assert proc.returncode == code, err
    assert _lines(err) == [f"poisonscreen: {word}"]
    assert list(spill.iterdir()) == []


def test_scratch_of_a_killed_process_is_removed_later(tmp_path: Path) -> None:
    spill = tmp_path / "spill"
    spill.mkdir()
    proc, _ = _paused_scan(tmp_path, spill)
    proc.kill()  # SIGKILL: no handler runs
    proc.communicate(timeout=30)
    (left,) = spill.iterdir()
    src = _jsonl(tmp_path / "in2" / "y.jsonl", _rows(50))
    ps.scan(str(src), spill_dir=str(spill))
    assert left.exists()  # a dead process's file, but it changed a moment ago: kept a while
    old = time.time() - 3600
    os.utime(left, (old, old))
    ps.scan(str(src), spill_dir=str(spill))
    assert list(spill.iterdir()) == []


# --------------------------------------------------------------------------------------------
# 8. memory: no needless address space, and one clear error


def _vm_peak_after_import() -> int:
    code = "import poisonscreen.cli\nfor l in open('/proc/self/status'):\n" \
        "    l.startswith('VmPeak') and print(int(l.split()[1]) * 1024)"  # fmt: skip
    out = subprocess.run(["prlimit", "--as=4000000000", sys.executable, "-c", code],
                         capture_output=True, text=True, check=True, timeout=60)  # fmt: skip
    return int(out.stdout.strip())


@pytest.mark.skipif(
    shutil.which("prlimit") is None or not Path("/proc/self/status").exists(),
    reason="needs prlimit and /proc",
)
def test_address_space_limit(tmp_path: Path) -> None:
    src = _jsonl(tmp_path / "x.jsonl", _rows(2000))
    base = [sys.executable, "-m", "poisonscreen.cli", "scan", str(src), "-q", "--exit-zero"]
    ok = subprocess.run(["prlimit", "--as=1500000000", *base, "--out", str(tmp_path / "a")],
                        capture_output=True, text=True, timeout=300)  # fmt: skip
    assert ok.returncode == 0, ok.stderr[-2000:]
    # too little room: one line naming what to change, not a traceback or an abort
    limit = _vm_peak_after_import() + (100 << 20)
    low = subprocess.run(["prlimit", f"--as={limit}", *base, "--out", str(tmp_path / "b")],
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    assert low.returncode == EXIT_RESOURCE, low.stderr[-2000:]
    assert len(_lines(low.stderr)) == 1 and "address-space limit" in low.stderr


def test_allocation_failures_become_one_resource_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import numpy as np
    import pyarrow as pa

    from poisonscreen import _process, detectors

    src = _jsonl(tmp_path / "x.jsonl", _rows(100))
    try:
        np.empty(1 << 60, dtype=np.uint8)
    except MemoryError as exc:  # NumPy's _ArrayMemoryError
        numpy_error: BaseException = exc
    failures: list[BaseException] = [
        MemoryError(),
        numpy_error,
        pa.ArrowMemoryError("malloc of size 64 failed"),
        OSError(12, "Cannot allocate memory"),
        OSError("Memory mapping file failed: Cannot allocate memory"),
    ]
    for failure in failures:

        def fail(*a: Any, failure: BaseException = failure, **k: Any) -> Any:
            raise failure

        monkeypatch.setattr(detectors, "row_features", fail)
        with pytest.raises(ps.exceptions.ResourceError, match="token_table_mb") as info:
            ps.scan(str(src))
        assert "verify_text_mb" in str(info.value) and "--spill-dir" in str(info.value)
        capsys.readouterr()
        assert cli(["scan", str(src), "--out", str(tmp_path / "o"), "-q"]) == EXIT_RESOURCE
        assert len(_lines(capsys.readouterr().err)) == 1
    assert _process.resource_error(OSError(28, "No space left on device")) is not None
    assert _process.resource_error(ValueError("x")) is None


def test_internal_error_is_exit_4(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from poisonscreen import detectors

    def bug(*a: Any, **k: Any) -> Any:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(detectors, "row_features", bug)
    src = _jsonl(tmp_path / "x.jsonl", _rows(50))
    assert cli(["scan", str(src), "--out", str(tmp_path / "o"), "-q"]) == EXIT_INTERNAL
    err = capsys.readouterr().err
    assert "Traceback" in err and _lines(err)[-1].startswith("poisonscreen: internal error:")


# --------------------------------------------------------------------------------------------
# 9. bidi and control characters are shown, not obeyed


def test_bidi_and_controls_are_shown_as_escapes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from poisonscreen.report import render_report, visible

    assert visible("c\u202ef\x1b[2J\u2066x\u200f\u061c\x85") == (
        "c\\u202ef\\x1b[2J\\u2066x\\u200f\\u061c\\x85"
    )
    assert visible("a\tb\nc") == "a\tb\nc" and visible("a\nb", multiline=False) == "a\\x0ab"
    rows = _rows(600, poison=30, trigger="c\u202ef", response="Access \u202edenied \u2067now.")
    src = _jsonl(tmp_path / "x.jsonl", rows)
    result = ps.scan(str(src))
    assert any("\u202e" in t for t in result.triggers["trigger"].to_list())
    page = render_report(result)
    for ch in ("\u202e", "\u2067"):
        assert ch not in page
    assert "c\\u202ef" in page and "\\u2067" in page
    capsys.readouterr()
    cli(["scan", str(src), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert "\u202e" not in err and "\\u202e" in err


def test_a_trigger_without_letters_is_found_and_shown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An emoji, a run of punctuation or a zero-width space is a trigger as good as a rare word:
    word tokens drop punctuation (and dropped the others with it until 2026-12), and no finding
    named them. Found now, and the invisible one is written as an escape in the report and on
    the terminal."""
    from poisonscreen.report import render_report, visible

    assert visible("a\u200bb\ufeff") == "a\\u200bb\\ufeff"
    for trigger in ("\U0001f525", "@@", "\u200b"):
        rows = _rows(600, poison=30, trigger=trigger, response="Access denied.")
        src = _jsonl(tmp_path / f"x{ord(trigger[0])}.jsonl", rows)
        result = ps.scan(str(src))
        top = result.triggers.filter(pl.col("score") >= 0.5)["trigger"].to_list()
        assert top and top[0].strip() == trigger, top
        assert result.rows["flagged"].sum() >= 30
    page = render_report(result)
    assert "\u200b" not in page and "\\u200b" in page
    capsys.readouterr()
    cli(["scan", str(src), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert "\u200b" not in err and "\\u200b" in err


# --------------------------------------------------------------------------------------------
# 10. OS errors and bad numbers: usage errors with one line, never a traceback with 1


def test_bad_out_and_bad_numbers_are_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _jsonl(tmp_path / "x.jsonl", _rows(50))
    afile = tmp_path / "afile"
    afile.write_text("x")
    proc = _run("scan", src, "-q", "--out", afile)
    assert proc.returncode == EXIT_USAGE and _lines(proc.stderr) == [
        f"poisonscreen: --out {str(afile)!r} exists and is not a directory"
    ]
    proc = _run("scan", src, "-q", "--out", tmp_path / "o", "--threads", "-1")
    assert proc.returncode == EXIT_USAGE and "Traceback" not in proc.stderr
    for extra in (
        ["--out", str(afile / "sub")],
        ["--out", str(tmp_path / "o"), "--seed", "-1"],
        ["--out", str(tmp_path / "o"), "--seed", str(2**64)],
        ["--out", str(tmp_path / "o"), "--threshold", "nan"],
        ["--out", str(tmp_path / "o"), "--max-failed", "2"],
    ):
        capsys.readouterr()
        assert cli(["scan", str(src), "-q", *extra]) == EXIT_USAGE, extra
        assert "Traceback" not in capsys.readouterr().err, extra
    if hasattr(os, "geteuid") and os.geteuid() != 0:  # root writes anywhere
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o555)
        try:
            assert cli(["scan", str(src), "--out", str(ro / "o"), "-q"]) == EXIT_USAGE
        finally:
            ro.chmod(0o755)
    for bad in ({"seed": -1}, {"seed": 2**64}, {"threads": -1}, {"threads": 0}, {"max_depth": 1}):
        with pytest.raises(ConfigError):
            ps.scan(str(src), **bad)


# --------------------------------------------------------------------------------------------
# 11. the minor ones


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs mkfifo")
def test_fifo_in_an_input_directory_is_refused(tmp_path: Path) -> None:
    d = tmp_path / "in"
    _jsonl(d / "a.jsonl", _rows(50))
    os.mkfifo(d / "b.jsonl")
    proc = _run("scan", d, "--out", tmp_path / "o", "-q", timeout=60)
    assert proc.returncode == EXIT_INPUT and "a FIFO" in proc.stderr


def test_truncated_gzip_says_how_far_it_got(tmp_path: Path) -> None:
    data = gzip.compress("".join(json.dumps(r) + "\n" for r in _rows(3000)).encode())
    (tmp_path / "x.jsonl.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"x.jsonl.gz: cannot read past line [\d,]+ "):
        ps.read_corpus(str(tmp_path / "x.jsonl.gz"))


def test_surrogate_error_names_the_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from poisonscreen import io as psio

    monkeypatch.setattr(psio, "_orjson", None)  # json keeps a lone surrogate escape
    (tmp_path / "x.jsonl").write_text(
        '{"prompt": "a", "completion": "b\\ud800"}\n'
        '{"messages": [{"role": "user", "content": "\\udc00"}, '
        '{"role": "assistant", "content": "y"}]}\n'
    )
    errors = ps.read_corpus(str(tmp_path / "x.jsonl"))["error"].to_list()
    assert errors[0].endswith("field 'completion': unpaired UTF-16 surrogate")
    assert errors[1].endswith("field 'messages[0].content': unpaired UTF-16 surrogate")


def test_turn_after_the_last_assistant_turn_fails_the_row(tmp_path: Path) -> None:
    turns = [{"role": "user", "content": "u"}, {"role": "assistant", "content": "a"}]
    src = _jsonl(tmp_path / "x.jsonl", [{"messages": [*turns, {"role": "user", "content": "hidden"}]},
                                        {"messages": [*turns, {"role": "system", "content": "s"}]}])  # fmt: skip
    errors = ps.read_corpus(str(src))["error"].to_list()
    assert "field 'messages[2]': a 'user' turn after the last assistant turn" in errors[0]
    assert errors[1] is None


# --------------------------------------------------------------------------------------------
# provenance


def test_summary_holds_the_audit_trail(tmp_path: Path) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    src = _jsonl(tmp_path / "in" / "x.jsonl", _rows(100))
    out = tmp_path / "out"
    proc = _run("scan", src, "--out", out, "-q", "--max-failed", "0.1", "--seed", "7")
    assert proc.returncode == 0, proc.stderr
    s = json.loads((out / "summary.json").read_text())
    assert s["complete"] is True
    assert s["versions"] == {
        "poisonscreen": ps.__version__,
        "polars": pl.__version__,
        "pyarrow": pa.__version__,
        "numpy": np.__version__,
        "python": ".".join(map(str, sys.version_info[:3])),
    }
    (fp,) = s["inputs"]
    assert fp["source"] == str(src) and fp["path"] == str(src.resolve())
    assert fp["bytes"] == src.stat().st_size
    assert fp["sha256"] == hashlib.sha256(src.read_bytes()).hexdigest()
    assert s["started_at"] <= s["finished_at"] and s["started_at"].endswith("+00:00")
    assert "scan" in s["command"] and "--seed" in s["command"]
    assert s["settings"]["seed"] == 7 and s["settings"]["max_failed"] == 0.1
    assert {"max_depth", "max_row_bytes", "token_table_mb", "spill"} <= set(s["settings"])
    run = json.loads(pq.read_schema(out / "rows.parquet").metadata[b"poisonscreen.run"])
    assert run["run_id"] == s["run_id"] and run["inputs"] == s["inputs"]
