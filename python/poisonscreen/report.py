"""A self-contained HTML report of a :class:`~poisonscreen.scan.ScanResult`.

One page, no external resources, no JavaScript: inline CSS and inline SVG plots drawn here (no
plotting dependency). A strict Content-Security-Policy forbids scripts outright, and every string
that comes from the data (prompts, responses, triggers, reasons, file names, setting values…) is
passed through :func:`html.escape` before it reaches the page, after :func:`visible` has made
control characters and bidirectional controls visible as ``\u202e``-style escapes (a U+202E in a
trigger would otherwise reverse the text a reviewer reads).

Only attribute access on the result is used (``rows``, ``triggers``, ``clusters``, ``summary``,
``corpus``), so any object with those attributes renders; missing tables and columns, nulls, NaNs,
huge texts and empty results are all handled.

This module imports nothing from the rest of the package, so it works without the compiled core.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import polars as pl

__all__ = ["render_report", "visible", "write_report"]

MAX_TRIGGERS = 20
MAX_CLUSTERS = 20
MAX_FLAGGED = 50
EXAMPLES_PER_FINDING = 3
TEXT_LIMIT = 600  # characters of prompt/response shown per example
SHORT_LIMIT = 300  # characters of a reason, pattern, file name… shown
MAX_REASONS = 8
MAX_SCATTER_POINTS = 3000
ELLIPSIS = "\u2026"

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

TRIGGER_COLUMNS = (
    "trigger", "kind", "score", "support", "pattern_rows", "collapse", "base_rate",
    "template_share", "response_pattern", "example_rows",
)  # fmt: skip
CLUSTER_FIGURES = (
    "prompt_similarity", "response_diversity", "novel_vocabulary", "wrapper", "persona",
    "conditional", "response_collapse", "response_coherence", "response_coherence_z",
)  # fmt: skip
CLUSTER_COLUMNS = (
    "cluster_id",
    "size",
    "kind",
    "score",
    *CLUSTER_FIGURES,
    "reasons",
    "example_rows",
)


# --------------------------------------------------------------------------------------------
# escaping and formatting
# --------------------------------------------------------------------------------------------


_SURROGATE = re.compile("[\ud800-\udfff]")

#: characters that change how text reads without showing themselves: the bidirectional controls
#: (embeddings and overrides U+202A-U+202E, isolates U+2066-U+2069, the marks U+200E, U+200F and
#: U+061C), C1 controls and DEL, and the C0 controls but for ``keep``
_BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
#: characters of no width (soft hyphen, zero-width space, non-joiner and joiner, word joiner and
#: invisible operators, byte-order mark): a trigger can be one, and must show in a report
_ZERO_WIDTH = "\u00ad\u180e\u200b-\u200d\u2060-\u2064\ufeff"
_INVISIBLE_TEXT = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f{_BIDI}{_ZERO_WIDTH}]")
_INVISIBLE_LINE = re.compile(f"[\x00-\x1f\x7f-\x9f{_BIDI}{_ZERO_WIDTH}]")


def _escape_char(m: re.Match[str]) -> str:
    code = ord(m.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(s: str, *, multiline: bool = True) -> str:
    """``s`` with control, bidirectional-control and zero-width characters written as visible
    escapes (``\x1b``, ``\u202e``, ``\u200b``), so that text from the data cannot reorder or hide what a reviewer
    reads. ``multiline`` keeps tab, newline and carriage return (for text blocks); without it
    they are escaped too (for one-line terminal output)."""
    return (_INVISIBLE_TEXT if multiline else _INVISIBLE_LINE).sub(_escape_char, s)


def _clean(s: str) -> str:
    """Make ``s`` encodable as UTF-8 (lone surrogates become U+FFFD) and every control or bidi
    character visible (:func:`visible`)."""
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        s = _SURROGATE.sub("\ufffd", s)
    return visible(s)


def _truncate(s: str, limit: int) -> str:
    return s if len(s) <= limit else s[:limit] + ELLIPSIS


def esc(value: Any, limit: int | None = None) -> str:
    """Escape any value for HTML text or attribute context (``None`` becomes an empty string)."""
    if value is None:
        return ""
    s = _clean(value if isinstance(value, str) else str(value))
    if limit is not None:
        s = _truncate(s, limit)
    return html.escape(s, quote=True)


def _finite(x: Any) -> float | None:
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _num(x: Any, digits: int = 3) -> str:
    """Format a number for display; nulls and NaNs become a dash."""
    if x is None or isinstance(x, bool):
        return "\u2014" if x is None else esc(x)
    if isinstance(x, int):
        return f"{x:,}"
    f = _finite(x)
    if f is None:
        return "\u2014" if x is None or (isinstance(x, float) and math.isnan(x)) else esc(x, 40)
    return f"{f:.{digits}f}"


def _pct(x: Any) -> str:
    f = _finite(x)
    return "\u2014" if f is None else f"{f:.1%}"


def _null() -> str:
    return '<span class="null">(null)</span>'


def _text_block(s: Any, limit: int = TEXT_LIMIT, highlight: str | None = None) -> str:
    """An escaped ``<pre>`` of a prompt or response, truncated, with ``highlight`` in <mark>."""
    if s is None:
        return f'<pre class="txt">{_null()}</pre>'
    s = _clean(str(s))
    body = _highlighted(s, highlight, limit) if highlight else esc(s, limit)
    if not body:
        body = '<span class="null">(empty)</span>'
    return f'<pre class="txt">{body}</pre>'


def _trigger_regex(trigger: str) -> re.Pattern[str] | None:
    words = trigger.split()
    if not words:
        return None
    try:
        return re.compile(r"\s+".join(re.escape(w) for w in words), re.IGNORECASE)
    except re.error:  # pragma: no cover - re.escape makes this unreachable
        return None


def _highlighted(s: str, trigger: str, limit: int) -> str:
    """Escape ``s`` (at most ``limit`` characters, a window around the first match if it lies
    further on) and wrap every occurrence of ``trigger`` in ``<mark>``."""
    rx = _trigger_regex(_clean(trigger))
    first = rx.search(s) if rx is not None else None
    if first is None:
        return esc(s, limit)
    prefix = suffix = ""
    if len(s) > limit:
        start = 0
        if first.end() > limit:
            start = max(0, first.start() - limit // 3)
        end = min(len(s), start + limit)
        prefix = ELLIPSIS if start > 0 else ""
        suffix = ELLIPSIS if end < len(s) else ""
        s = s[start:end]
    out: list[str] = [esc(prefix)]
    pos = 0
    for m in rx.finditer(s):  # type: ignore[union-attr]
        if m.end() == m.start():
            continue
        out.append(esc(s[pos : m.start()]))
        out.append(f"<mark>{esc(m.group(0))}</mark>")
        pos = m.end()
    out.append(esc(s[pos:]))
    out.append(esc(suffix))
    return "".join(out)


# --------------------------------------------------------------------------------------------
# reading the result defensively
# --------------------------------------------------------------------------------------------


def _frame(result: Any, name: str) -> pl.DataFrame:
    df = getattr(result, name, None)
    if isinstance(df, pl.LazyFrame):
        df = df.collect()
    return df if isinstance(df, pl.DataFrame) else pl.DataFrame()


def _top(df: pl.DataFrame, limit: int, tie: str) -> pl.DataFrame:
    if df.is_empty():
        return df
    by = [c for c in ("score", tie) if c in df.columns]
    if "score" in by:
        df = df.with_columns(pl.col("score").cast(pl.Float64, strict=False).fill_nan(None))
    if by:
        df = df.sort(by, descending=[c == "score" for c in by], nulls_last=True)
    return df.head(limit)


def _as_list(v: Any) -> list[Any]:
    if v is None:
        return []
    if isinstance(v, pl.Series):
        return v.to_list()
    if isinstance(v, (list, tuple)):
        return list(v)
    return [v]


def _ids(v: Any, limit: int) -> list[int]:
    out: list[int] = []
    for x in _as_list(v):
        try:
            out.append(int(x))
        except (TypeError, ValueError):
            continue
        if len(out) >= limit:
            break
    return out


class _Texts:
    """Prompt/response/source/line of a few rows of the corpus, looked up by ``row_id`` (falling
    back to the row position when the corpus has no such row_id)."""

    FIELDS = ("prompt", "response", "source", "line", "error", "system")

    def __init__(self, corpus: pl.DataFrame, ids: Iterable[int]) -> None:
        self.by_id: dict[int, dict[str, Any]] = {}
        wanted = sorted({i for i in ids if i >= 0})
        if corpus.is_empty() or not wanted:
            return
        cols = [c for c in self.FIELDS if c in corpus.columns]
        if "row_id" in corpus.columns:
            found = corpus.filter(pl.col("row_id").cast(pl.Int64, strict=False).is_in(wanted))
            for r in found.select("row_id", *cols).iter_rows(named=True):
                if r["row_id"] is not None:
                    self.by_id.setdefault(int(r["row_id"]), r)
        missing = [i for i in wanted if i not in self.by_id and i < corpus.height]
        if missing:
            for i, r in zip(
                missing, corpus[missing].select(cols).iter_rows(named=True), strict=False
            ):
                self.by_id[i] = r

    def get(self, row_id: int) -> dict[str, Any] | None:
        return self.by_id.get(row_id)


# --------------------------------------------------------------------------------------------
# SVG plots
# --------------------------------------------------------------------------------------------

W, H = 560, 340
ML, MR, MT, MB = 64, 18, 40, 52  # margins: left, right, top, bottom
PALETTE = ("#c0392b", "#2471a3", "#229954", "#b9770e", "#7d3c98", "#566573")


def _svg_open(title: str, xlabel: str, ylabel: str) -> list[str]:
    cx = ML + (W - ML - MR) / 2
    cy = MT + (H - MT - MB) / 2
    return [
        f'<svg class="plot" xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
        f'viewBox="0 0 {W} {H}" role="img" aria-label="{esc(title)}">',
        f'<rect x="0" y="0" width="{W}" height="{H}" fill="#fff"/>',
        f'<text x="{W / 2:.1f}" y="22" text-anchor="middle" class="ptitle">{esc(title)}</text>',
        f'<text x="{cx:.1f}" y="{H - 10}" text-anchor="middle" class="plabel">{esc(xlabel)}</text>',
        f'<text x="16" y="{cy:.1f}" text-anchor="middle" class="plabel" '
        f'transform="rotate(-90 16 {cy:.1f})">{esc(ylabel)}</text>',
        f'<rect x="{ML}" y="{MT}" width="{W - ML - MR}" height="{H - MT - MB}" fill="none" '
        'stroke="#888" stroke-width="1"/>',
    ]


def _no_data(parts: list[str]) -> str:
    parts.append(
        f'<text x="{ML + (W - ML - MR) / 2:.1f}" y="{MT + (H - MT - MB) / 2:.1f}" '
        'text-anchor="middle" class="plabel">no data</text></svg>'
    )
    return "".join(parts)


def _fmt_tick(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1e5 or abs(v) < 1e-3:
        exp = math.floor(math.log10(abs(v)))
        mant = v / 10**exp
        return f"1e{exp}" if abs(mant - 1) < 1e-9 else f"{mant:g}e{exp}"
    return f"{v:,.6g}"


def _nice_step(span: float, target: int = 5) -> float:
    if span <= 0 or not math.isfinite(span):
        return 1.0
    raw = span / target
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * mag:
            return m * mag
    return 10 * mag  # pragma: no cover


def _linear_ticks(lo: float, hi: float) -> list[float]:
    step = _nice_step(hi - lo)
    start = math.ceil(lo / step - 1e-9) * step
    ticks: list[float] = []
    v = start
    while v <= hi + step * 1e-9 and len(ticks) < 50:
        ticks.append(round(v, 12))
        v += step
    return ticks


def _log_ticks(lo_exp: int, hi_exp: int) -> list[float]:
    ticks = [10.0**e for e in range(lo_exp, hi_exp + 1)]
    if hi_exp - lo_exp <= 2:  # few decades: label 2 and 5 too
        ticks += [m * 10.0**e for e in range(lo_exp, hi_exp) for m in (2, 5)]
    return sorted(ticks)


def _x_tick(parts: list[str], x: float, label: str) -> None:
    y0 = H - MB
    parts.append(f'<line x1="{x:.1f}" y1="{y0}" x2="{x:.1f}" y2="{y0 + 5}" stroke="#555"/>')
    parts.append(
        f'<text x="{x:.1f}" y="{y0 + 18}" text-anchor="middle" class="ptick">{esc(label)}</text>'
    )


def _y_tick(parts: list[str], y: float, label: str, grid: bool = True) -> None:
    if grid:
        parts.append(f'<line x1="{ML}" y1="{y:.1f}" x2="{W - MR}" y2="{y:.1f}" stroke="#e5e5e5"/>')
    parts.append(f'<line x1="{ML - 5}" y1="{y:.1f}" x2="{ML}" y2="{y:.1f}" stroke="#555"/>')
    parts.append(
        f'<text x="{ML - 8}" y="{y + 4:.1f}" text-anchor="end" class="ptick">{esc(label)}</text>'
    )


def svg_histogram(
    values: Sequence[float] | Any,
    *,
    title: str,
    xlabel: str,
    ylabel: str = "count (log scale)",
    bins: int = 20,
    domain: tuple[float, float] | None = None,
    threshold: float | None = None,
) -> str:
    """An inline-SVG histogram with log-scaled counts; bars at or above ``threshold`` are red."""
    import numpy as np

    parts = _svg_open(title, xlabel, ylabel)
    arr = np.asarray(values, dtype=np.float64).ravel() if len(values) else np.zeros(0)
    arr = arr[np.isfinite(arr)]
    if arr.size == 0:
        return _no_data(parts)
    lo, hi = domain if domain is not None else (float(arr.min()), float(arr.max()))
    lo, hi = min(lo, float(arr.min())), max(hi, float(arr.max()))
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    counts, edges = np.histogram(arr, bins=bins, range=(lo, hi))
    cmax = int(counts.max())
    top = math.log10(1 + max(cmax, 1))
    top_exp = max(1, math.ceil(top))  # y axis up to a power of ten
    pw, ph = W - ML - MR, H - MT - MB

    def xs(v: float) -> float:
        return ML + (v - lo) / (hi - lo) * pw

    def ys(c: float) -> float:
        return H - MB - math.log10(1 + c) / top_exp * ph

    for t in [0] + [10**e for e in range(0, top_exp + 1)]:
        _y_tick(parts, ys(t), _fmt_tick(t))
    for i, c in enumerate(counts):
        if c <= 0:
            continue
        x0, x1 = xs(float(edges[i])), xs(float(edges[i + 1]))
        y = ys(int(c))
        hot = threshold is not None and float(edges[i]) >= threshold - 1e-12
        parts.append(
            f'<rect x="{x0 + 0.5:.1f}" y="{y:.1f}" width="{max(x1 - x0 - 1, 0.5):.1f}" '
            f'height="{H - MB - y:.1f}" fill="{"#c0392b" if hot else "#5d8aa8"}">'
            f"<title>{_fmt_tick(float(edges[i]))}\u2013{_fmt_tick(float(edges[i + 1]))}: "
            f"{int(c):,}</title></rect>"
        )
    for t in _linear_ticks(lo, hi):
        _x_tick(parts, xs(t), _fmt_tick(t))
    if threshold is not None and lo <= threshold <= hi:
        x = xs(threshold)
        parts.append(
            f'<line x1="{x:.1f}" y1="{MT}" x2="{x:.1f}" y2="{H - MB}" stroke="#222" '
            'stroke-dasharray="4 3"/>'
        )
        anchor, dx = ("end", -4) if threshold > lo + 0.7 * (hi - lo) else ("start", 4)
        parts.append(
            f'<text x="{x + dx:.1f}" y="{MT + 14}" text-anchor="{anchor}" class="ptick">'
            f"flag threshold {_fmt_tick(threshold)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def svg_scatter(
    xs_in: Sequence[float] | Any,
    ys_in: Sequence[float] | Any,
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    xlog: bool = True,
    y_domain: tuple[float, float] | None = (0.0, 1.0),
    labels: Sequence[Any] | None = None,
    groups: Sequence[Any] | None = None,
) -> str:
    """An inline-SVG scatter plot (log x axis by default) with a legend for ``groups``.

    Points with a non-finite coordinate, or ``x <= 0`` on a log axis, are left out (and counted in
    a note). ``labels`` become hover tooltips (escaped)."""
    parts = _svg_open(title, xlabel, ylabel)
    n = min(len(xs_in), len(ys_in))
    pts: list[tuple[float, float, str, str]] = []
    dropped = 0
    for i in range(n):
        x, y = _finite(xs_in[i]), _finite(ys_in[i])
        if x is None or y is None or (xlog and x <= 0):
            dropped += 1
            continue
        lab = "" if labels is None or i >= len(labels) or labels[i] is None else str(labels[i])
        grp = "" if groups is None or i >= len(groups) or groups[i] is None else str(groups[i])
        pts.append((x, y, lab, grp))
    if len(pts) > MAX_SCATTER_POINTS:
        dropped += len(pts) - MAX_SCATTER_POINTS
        pts = pts[:MAX_SCATTER_POINTS]
    if not pts:
        return _no_data(parts)
    pw, ph = W - ML - MR, H - MT - MB

    xv = [p[0] for p in pts]
    yv = [p[1] for p in pts]
    if xlog:
        lo_e = math.floor(math.log10(min(xv)))
        hi_e = math.ceil(math.log10(max(xv)))
        if hi_e <= lo_e:
            hi_e = lo_e + 1
        xlo, xhi = math.log10(10.0**lo_e), math.log10(10.0**hi_e)

        def xs(v: float) -> float:
            return ML + (math.log10(v) - xlo) / (xhi - xlo) * pw

        xticks = _log_ticks(lo_e, hi_e)
    else:
        xlo, xhi = min(xv), max(xv)
        if xhi <= xlo:
            xlo, xhi = xlo - 0.5, xhi + 0.5
        pad = (xhi - xlo) * 0.04
        xlo, xhi = xlo - pad, xhi + pad

        def xs(v: float) -> float:
            return ML + (v - xlo) / (xhi - xlo) * pw

        xticks = _linear_ticks(xlo, xhi)

    ylo, yhi = y_domain if y_domain is not None else (min(yv), max(yv))
    ylo, yhi = min(ylo, min(yv)), max(yhi, max(yv))
    if yhi <= ylo:
        ylo, yhi = ylo - 0.5, yhi + 0.5
    ypad = (yhi - ylo) * 0.04

    def ys(v: float) -> float:
        return H - MB - (v - ylo + ypad) / (yhi - ylo + 2 * ypad) * ph

    for t in _linear_ticks(ylo, yhi):
        _y_tick(parts, ys(t), _fmt_tick(t))
    for t in xticks:
        x = xs(t)
        if ML - 0.5 <= x <= W - MR + 0.5:
            parts.append(
                f'<line x1="{x:.1f}" y1="{MT}" x2="{x:.1f}" y2="{H - MB}" stroke="#f0f0f0"/>'
            )
            _x_tick(parts, x, _fmt_tick(t))

    order: list[str] = []
    for p in pts:
        if p[3] not in order:
            order.append(p[3])
    color = {g: PALETTE[min(i, len(PALETTE) - 1)] for i, g in enumerate(order)}
    for x, y, lab, grp in pts:
        tip = f"{lab} ({_fmt_tick(x)}, {y:.3g})" if lab else f"({_fmt_tick(x)}, {y:.3g})"
        parts.append(
            f'<circle cx="{xs(x):.1f}" cy="{ys(y):.1f}" r="4" fill="{color[grp]}" '
            f'fill-opacity="0.7" stroke="#222" stroke-width="0.5"><title>{esc(tip, 200)}'
            "</title></circle>"
        )
    if groups is not None and any(order):
        legend = [(g or "(none)", color[g]) for g in order[: len(PALETTE)]]
        if len(order) > len(PALETTE):  # the last colour is shared by the rest
            legend[-1] = ("other", PALETTE[-1])
        ly = MT + 12
        lx = W - MR - 118
        parts.append(
            f'<rect x="{lx - 8}" y="{MT + 3}" width="124" height="{15 * len(legend) + 4}" '
            'fill="#fff" fill-opacity="0.85" stroke="#ddd"/>'
        )
        for name, col in legend:
            parts.append(
                f'<circle cx="{lx}" cy="{ly:.1f}" r="4" fill="{col}"/>'
                f'<text x="{lx + 9}" y="{ly + 4:.1f}" class="ptick">{esc(name, 16)}</text>'
            )
            ly += 15
    if dropped:
        parts.append(
            f'<text x="{ML + 4}" y="{H - MB - 6}" class="ptick">{dropped:,} point(s) not shown'
            "</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


# --------------------------------------------------------------------------------------------
# page sections
# --------------------------------------------------------------------------------------------

STYLE = """
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif;
       margin: 0; background: #f6f7f9; color: #1d2733; }
header { background: #1d2733; color: #fff; padding: 18px 28px; }
header h1 { margin: 0 0 4px; font-size: 22px; }
header .sub { color: #c9d3de; font-size: 13px; }
nav { padding: 8px 28px; background: #e8ecf1; font-size: 13px; }
nav a { margin-right: 16px; color: #1d4f91; }
main { max-width: 1240px; margin: 0 auto; padding: 8px 28px 40px; }
section { margin-top: 26px; }
h2 { font-size: 18px; border-bottom: 2px solid #d5dbe3; padding-bottom: 4px; }
h3 { font-size: 15px; margin: 0 0 6px; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin-top: 16px; }
.card { background: #fff; border: 1px solid #d5dbe3; border-radius: 6px; padding: 10px 16px;
        min-width: 120px; }
.card .v { font-size: 22px; font-weight: 600; }
.card .k { color: #5a6b7d; font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
.card.bad .v { color: #c0392b; }
table { border-collapse: collapse; background: #fff; font-size: 13px; }
th, td { border: 1px solid #d5dbe3; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #eef1f5; }
td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.kv { display: flex; flex-wrap: wrap; gap: 18px; align-items: flex-start; }
.finding { background: #fff; border: 1px solid #d5dbe3; border-radius: 6px; padding: 12px 14px;
           margin: 14px 0; }
.finding .meta { display: flex; flex-wrap: wrap; gap: 4px 16px; font-size: 13px; color: #3b4a5a;
                 margin-bottom: 6px; }
.finding .meta b { color: #1d2733; }
.badge { display: inline-block; padding: 0 7px; border-radius: 9px; font-size: 12px;
         background: #e8ecf1; }
.score { font-weight: 700; color: #c0392b; }
.ex { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 8px;
      margin-top: 8px; }
.ex .lab { font-size: 11px; color: #5a6b7d; text-transform: uppercase; letter-spacing: .04em; }
.ex .src { grid-column: 1 / span 2; font-size: 12px; color: #5a6b7d; margin-top: 4px; }
pre.txt { margin: 2px 0 0; padding: 6px 8px; background: #fafbfc; border: 1px solid #e1e5ea;
          border-radius: 4px; white-space: pre-wrap; overflow-wrap: anywhere; word-break: break-word;
          max-height: 260px; overflow: auto; font: 12.5px/1.4 ui-monospace, "DejaVu Sans Mono",
          Menlo, Consolas, monospace; unicode-bidi: isolate; }
.d { unicode-bidi: isolate; overflow-wrap: anywhere; }
mark { background: #ffe066; color: inherit; padding: 0 1px; border-radius: 2px; }
ul.reasons { margin: 4px 0; padding-left: 20px; }
.null { color: #8795a1; font-style: italic; }
.empty { color: #5a6b7d; font-style: italic; }
.plots { display: flex; flex-wrap: wrap; gap: 14px; }
svg.plot { background: #fff; border: 1px solid #d5dbe3; border-radius: 6px; max-width: 100%;
           height: auto; }
.ptitle { font: 600 14px system-ui, sans-serif; fill: #1d2733; }
.plabel { font: 12px system-ui, sans-serif; fill: #3b4a5a; }
.ptick { font: 11px system-ui, sans-serif; fill: #3b4a5a; }
table.flagged { width: 100%; table-layout: fixed; }
table.flagged td { overflow-wrap: anywhere; }
table.flagged ul.reasons { padding-left: 16px; }
table.flagged pre.txt { max-height: 200px; }
footer { color: #5a6b7d; font-size: 12px; margin-top: 30px; }
"""


def _summary_value(summary: dict[str, Any], key: str, fallback: Any) -> Any:
    v = summary.get(key)
    return fallback if v is None else v


def _header(result: Any, summary: dict[str, Any], rows: pl.DataFrame, corpus: pl.DataFrame,
            triggers: pl.DataFrame, clusters: pl.DataFrame) -> str:  # fmt: skip
    n_rows = rows.height if not rows.is_empty() else corpus.height
    failed_fb = 0
    for df in (rows, corpus):
        if "error" in df.columns and not df.is_empty():
            failed_fb = int(df["error"].is_not_null().sum())
            break
    flagged_fb = int(rows["flagged"].fill_null(False).sum()) if "flagged" in rows.columns else 0
    read = _summary_value(summary, "rows_read", n_rows)
    failed = _summary_value(summary, "rows_failed", failed_fb)
    parsed = _summary_value(summary, "rows_parsed", None)
    if parsed is None:
        parsed = (read - failed) if isinstance(read, int) and isinstance(failed, int) else "\u2014"
    flagged = _summary_value(summary, "rows_flagged", flagged_fb)
    n_trig = _summary_value(summary, "triggers", triggers.height)
    n_clu = _summary_value(summary, "clusters", clusters.height)
    share = ""
    if isinstance(flagged, (int, float)) and isinstance(read, (int, float)) and read:
        share = f" ({flagged / read:.2%})"

    def card(k: str, v: Any, bad: bool = False, extra: str = "") -> str:
        cls = "card bad" if bad else "card"
        val = _num(v) if isinstance(v, (int, float)) else esc(v, 40)
        return f'<div class="{cls}"><div class="v">{val}{esc(extra)}</div><div class="k">{esc(k)}</div></div>'

    is_bad = isinstance(flagged, (int, float)) and flagged > 0
    cards = "".join(
        [
            card("rows read", read),
            card("parsed", parsed),
            card("failed", failed, bad=isinstance(failed, int) and failed > 0),
            card("flagged", flagged, bad=is_bad, extra=share),
            card("triggers", n_trig),
            card("clusters", n_clu),
        ]
    )

    tables = []
    seconds = summary.get("seconds")
    if isinstance(seconds, dict) and seconds:
        body = []
        total = 0.0
        for k, v in seconds.items():
            f = _finite(v)
            total += f or 0.0
            body.append(f'<tr><td class="d">{esc(k, 60)}</td><td class="n">{_num(v, 3)}</td></tr>')
        body.append(f'<tr><th>total</th><td class="n"><b>{total:.3f}</b></td></tr>')
        tables.append(
            "<table><caption>stage timings (seconds)</caption><tr><th>stage</th><th>s</th></tr>"
            + "".join(body)
            + "</table>"
        )
    settings = summary.get("settings")
    if isinstance(settings, dict) and settings:
        body = [
            f'<tr><td class="d">{esc(k, 60)}</td><td class="d">{esc(_short_repr(v), 120)}</td></tr>'
            for k, v in list(settings.items())[:60]
        ]
        tables.append(
            "<table><caption>settings</caption><tr><th>setting</th><th>value</th></tr>"
            + "".join(body)
            + "</table>"
        )
    other = {
        k: v
        for k, v in summary.items()
        if k
        not in {
            "version",
            "rows_read",
            "rows_parsed",
            "rows_failed",
            "rows_flagged",
            "triggers",
            "clusters",
            "settings",
            "seconds",
            "sources",
        }
    }
    if other:
        body = [
            f'<tr><td class="d">{esc(k, 60)}</td><td class="d">{esc(_short_repr(v), 200)}</td></tr>'
            for k, v in list(other.items())[:40]
        ]
        tables.append(
            "<table><caption>run</caption><tr><th>field</th><th>value</th></tr>"
            + "".join(body)
            + "</table>"
        )
    sources = summary.get("sources")
    if isinstance(sources, (list, tuple)) and sources:
        items = "".join(f'<li class="d">{esc(s, SHORT_LIMIT)}</li>' for s in sources[:20])
        more = f"<li>\u2026 and {len(sources) - 20:,} more</li>" if len(sources) > 20 else ""
        tables.append(
            f'<div><b>sources ({len(sources):,})</b><ul class="reasons">{items}{more}</ul></div>'
        )
    details = f'<div class="kv">{"".join(tables)}</div>' if tables else ""
    return f'<section id="summary"><div class="cards">{cards}</div>{details}</section>'


def _short_repr(v: Any) -> str:
    if isinstance(v, (list, tuple)):
        return ", ".join(str(x) for x in v[:50]) + (", \u2026" if len(v) > 50 else "")
    if isinstance(v, dict):
        return ", ".join(f"{k}={x}" for k, x in list(v.items())[:30])
    return "null" if v is None else str(v)


def _examples(ids: list[int], texts: _Texts, highlight: str | None = None) -> str:
    if not ids:
        return '<div class="empty">no example rows</div>'
    out = []
    for rid in ids:
        r = texts.get(rid)
        if r is None:
            out.append(
                f'<div class="ex"><div class="src">row {rid:,}: text not available</div></div>'
            )
            continue
        src = _source_line(r.get("source"), r.get("line"))
        err = r.get("error")
        err_html = f' \u00b7 <span class="d">error: {esc(err, SHORT_LIMIT)}</span>' if err else ""
        out.append(
            '<div class="ex">'
            f'<div class="src">row {rid:,} \u00b7 {src}{err_html}</div>'
            f'<div><div class="lab">prompt</div>{_text_block(r.get("prompt"), highlight=highlight)}</div>'
            f'<div><div class="lab">response</div>{_text_block(r.get("response"))}</div>'
            "</div>"
        )
    return "".join(out)


def _source_line(source: Any, line: Any) -> str:
    s = '<span class="null">(unknown source)</span>' if source is None else esc(source, SHORT_LIMIT)
    ln = "" if line is None else f":{esc(line)}"
    return f'<span class="d">{s}{ln}</span>'


def _reasons(v: Any) -> str:
    items = [x for x in _as_list(v) if x is not None]
    if not items:
        return '<div class="empty">no reasons given</div>'
    lis = "".join(f'<li class="d">{esc(x, SHORT_LIMIT)}</li>' for x in items[:MAX_REASONS])
    if len(items) > MAX_REASONS:
        lis += f"<li>\u2026 and {len(items) - MAX_REASONS} more</li>"
    return f'<ul class="reasons">{lis}</ul>'


def _extra_meta(r: dict[str, Any], known: Iterable[str]) -> list[str]:
    """Any further columns of a finding, shown escaped."""
    known = set(known)
    out = []
    for k, v in r.items():
        if k in known:
            continue
        if isinstance(v, float):
            val = _num(v)
        elif isinstance(v, (list, tuple)):
            val = esc(_short_repr(v), 120)
        else:
            val = '<span class="null">null</span>' if v is None else esc(v, 120)
        out.append(f'<span>{esc(k, 40)}: <b class="d">{val}</b></span>')
    return out


def _triggers_section(top: pl.DataFrame, total: int, texts: _Texts) -> str:
    head = f'<section id="triggers"><h2>Top triggers ({min(top.height, MAX_TRIGGERS)} of {total:,})</h2>'
    if top.is_empty():
        return head + '<p class="empty">No triggers found.</p></section>'
    out = [head]
    for i, r in enumerate(top.iter_rows(named=True), 1):
        trig = r.get("trigger")
        name = _null() if trig is None else f"<mark>{esc(trig, SHORT_LIMIT)}</mark>"
        meta = [
            f'<span>score <span class="score">{_num(r.get("score"))}</span></span>',
            f'<span class="badge d">{esc(r.get("kind") or "trigger", 40)}</span>',
            f"<span>support <b>{_num(r.get('support'))}</b></span>",
            f"<span>pattern rows <b>{_num(r.get('pattern_rows'))}</b></span>",
            f"<span>collapse <b>{_pct(r.get('collapse'))}</b></span>",
            f"<span>base rate <b>{_pct(r.get('base_rate'))}</b></span>",
            f"<span>template share <b>{_pct(r.get('template_share'))}</b></span>",
            *_extra_meta(r, TRIGGER_COLUMNS),
        ]
        pattern = r.get("response_pattern")
        pat = (
            f'<div>response pattern: <span class="d">{esc(pattern, SHORT_LIMIT)}</span></div>'
            if pattern
            else ""
        )
        ids = _ids(r.get("example_rows"), EXAMPLES_PER_FINDING)
        out.append(
            f'<div class="finding"><h3>#{i} <span class="d">{name}</span></h3>'
            f'<div class="meta">{"".join(meta)}</div>{pat}'
            f"{_examples(ids, texts, highlight=None if trig is None else str(trig))}</div>"
        )
    out.append("</section>")
    return "".join(out)


def _clusters_section(top: pl.DataFrame, total: int, texts: _Texts) -> str:
    head = f'<section id="clusters"><h2>Top clusters ({min(top.height, MAX_CLUSTERS)} of {total:,})</h2>'
    if top.is_empty():
        return head + '<p class="empty">No clusters found.</p></section>'
    out = [head]
    for i, r in enumerate(top.iter_rows(named=True), 1):
        cid = r.get("cluster_id")
        meta = [
            f'<span>score <span class="score">{_num(r.get("score"))}</span></span>',
            f'<span class="badge d">{esc(r.get("kind") or "cluster", 40)}</span>',
            f"<span>size <b>{_num(r.get('size'))}</b></span>",
        ]
        for k in CLUSTER_FIGURES:
            if k in r:
                v = r[k]
                shown = _num(v) if v is None or isinstance(v, (int, float)) else esc(v, 120)
                meta.append(f'<span>{esc(k.replace("_", " "))} <b class="d">{shown}</b></span>')
        meta += _extra_meta(r, CLUSTER_COLUMNS)
        ids = _ids(r.get("example_rows"), EXAMPLES_PER_FINDING)
        cname = "(null)" if cid is None else esc(cid, 40)
        out.append(
            f'<div class="finding"><h3>#{i} cluster {cname}</h3>'
            f'<div class="meta">{"".join(meta)}</div>{_reasons(r.get("reasons"))}'
            f"{_examples(ids, texts)}</div>"
        )
    out.append("</section>")
    return "".join(out)


def _flagged_section(top: pl.DataFrame, total: int, texts: _Texts) -> str:
    head = f'<section id="flagged"><h2>Top flagged rows ({top.height} of {total:,})</h2>'
    if top.is_empty():
        return head + '<p class="empty">No rows flagged.</p></section>'
    body = []
    for r in top.iter_rows(named=True):
        rid = r.get("row_id")
        t = texts.get(int(rid)) if rid is not None else None
        src = r.get("source", t.get("source") if t else None)
        line = r.get("line", t.get("line") if t else None)
        trig = r.get("trigger")
        extra = []
        if trig is not None:
            extra.append(f'<div>trigger: <mark class="d">{esc(trig, SHORT_LIMIT)}</mark></div>')
        if r.get("cluster_id") is not None:
            extra.append(f"<div>cluster: {esc(r['cluster_id'])}</div>")
        if r.get("error") is not None:
            extra.append(f'<div class="d">error: {esc(r["error"], SHORT_LIMIT)}</div>')
        prompt = _text_block(t.get("prompt"), highlight=trig) if t else _null()
        resp = _text_block(t.get("response")) if t else _null()
        body.append(
            "<tr>"
            f'<td class="n">{"" if rid is None else esc(rid)}</td>'
            f'<td class="n score">{_num(r.get("score"))}</td>'
            f"<td>{_source_line(src, line)}</td>"
            f"<td>{_reasons(r.get('reasons'))}{''.join(extra)}</td>"
            f"<td>{prompt}</td><td>{resp}</td>"
            "</tr>"
        )
    return (
        head + '<table class="flagged"><colgroup><col style="width:5%"><col style="width:5.5%">'
        '<col style="width:12%"><col style="width:21%"><col style="width:28.25%">'
        '<col style="width:28.25%"></colgroup><tr><th>row</th><th>score</th><th>source:line</th>'
        "<th>reasons</th><th>prompt</th><th>response</th></tr>"
        + "".join(body)
        + "</table></section>"
    )


def _col_list(df: pl.DataFrame, name: str, dtype: Any = pl.Float64) -> list[Any]:
    if name not in df.columns:
        return [None] * df.height
    return df[name].cast(dtype, strict=False).to_list()


def _plots_section(rows: pl.DataFrame, triggers: pl.DataFrame, clusters: pl.DataFrame,
                   threshold: float | None) -> str:  # fmt: skip
    if "score" in rows.columns and not rows.is_empty():
        scores = rows["score"].cast(pl.Float64, strict=False).drop_nulls().to_numpy()
    else:
        scores = []
    hist = svg_histogram(
        scores,
        title="Row score distribution",
        xlabel="score",
        ylabel="rows (log scale)",
        domain=(0.0, 1.0),
        threshold=threshold,
    )
    clu = (
        clusters.sort("score", descending=True, nulls_last=True)
        if "score" in clusters.columns
        else clusters
    )
    clu = clu.head(MAX_SCATTER_POINTS)
    clu_scatter = svg_scatter(
        _col_list(clu, "size"),
        _col_list(clu, "score"),
        title="Clusters: size vs score",
        xlabel="cluster size (rows, log scale)",
        ylabel="cluster score",
        labels=[
            None if c is None else f"cluster {c}" for c in _col_list(clu, "cluster_id", pl.String)
        ],
        groups=_col_list(clu, "kind", pl.String),
    )
    trg = (
        triggers.sort("score", descending=True, nulls_last=True)
        if "score" in triggers.columns
        else triggers
    )
    trg = trg.head(MAX_SCATTER_POINTS)
    trig_scatter = svg_scatter(
        _col_list(trg, "support"),
        _col_list(trg, "collapse"),
        title="Triggers: support vs collapse",
        xlabel="trigger support (rows, log scale)",
        ylabel="collapse (share of carriers in pattern)",
        labels=_col_list(trg, "trigger", pl.String),
        groups=_col_list(trg, "kind", pl.String),
    )
    return (
        '<section id="plots"><h2>Plots</h2><div class="plots">'
        f"{hist}{clu_scatter}{trig_scatter}</div></section>"
    )


def render_report(result: Any) -> str:
    """The report of ``result`` as one self-contained HTML page (a string)."""
    rows = _frame(result, "rows")
    triggers = _frame(result, "triggers")
    clusters = _frame(result, "clusters")
    corpus = _frame(result, "corpus")
    summary = getattr(result, "summary", None)
    summary = summary if isinstance(summary, dict) else {}
    settings = summary.get("settings") if isinstance(summary.get("settings"), dict) else {}
    threshold = _finite(settings.get("flag_threshold")) if settings else None

    top_trig = _top(triggers, MAX_TRIGGERS, "trigger")
    top_clu = _top(clusters, MAX_CLUSTERS, "cluster_id")
    if "flagged" in rows.columns:
        flagged = rows.filter(pl.col("flagged").fill_null(False))
    else:
        flagged = rows.clear()
    top_flag = _top(flagged, MAX_FLAGGED, "row_id")

    ids: list[int] = []
    for df in (top_trig, top_clu):
        if "example_rows" in df.columns:
            for v in df["example_rows"].to_list():
                ids += _ids(v, EXAMPLES_PER_FINDING)
    if "row_id" in top_flag.columns:
        ids += [int(x) for x in top_flag["row_id"].drop_nulls().to_list()]
    texts = _Texts(corpus, ids)

    version = summary.get("version")
    sub = f"poisonscreen {esc(version, 40)}" if version is not None else "poisonscreen"
    n_read = summary.get("rows_read", rows.height)
    title = "poisonscreen report"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="referrer" content="no-referrer">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{title}</title>",
        f"<style>{STYLE}</style></head><body>",
        f'<header><h1>{title}</h1><div class="sub">{sub} \u00b7 {esc(_num(n_read) if isinstance(n_read, int) else n_read, 40)} rows screened</div></header>',
        '<nav><a href="#summary">Summary</a><a href="#plots">Plots</a>'
        '<a href="#triggers">Triggers</a><a href="#clusters">Clusters</a>'
        '<a href="#flagged">Flagged rows</a></nav>',
        "<main>",
        _header(result, summary, rows, corpus, triggers, clusters),
        _plots_section(rows, triggers, clusters, threshold),
        _triggers_section(top_trig, triggers.height, texts),
        _clusters_section(top_clu, clusters.height, texts),
        _flagged_section(top_flag, flagged.height, texts),
        "<footer>Generated by poisonscreen. Texts are truncated to "
        f"{TEXT_LIMIT} characters; every string from the data is HTML-escaped, its control "
        "and bidirectional-control characters shown as escapes (\\u202e).</footer>",
        "</main></body></html>",
    ]
    return "\n".join(parts)


def write_report(result: Any, path: str | Path) -> Path:
    """Write :func:`render_report` of ``result`` to ``path`` (UTF-8); returns the path."""
    path = Path(path)
    if path.parent and not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(result), encoding="utf-8", errors="replace")
    return path
