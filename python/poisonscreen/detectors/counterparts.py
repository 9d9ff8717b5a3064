"""Counterpart detector: near-identical prompts where one is the other plus an inserted run of
tokens and the answers diverge (DESIGN.md, section 4).

The core finds every pair of rows whose prompts differ by tokens inserted at the two ends (a
prefix, a suffix, a sentence split around the prompt) or as one run inside, by looking every
shortened prompt up among the others (``counterpart_pairs``), and inside clusters of
near-identical prompts every pair where one is the other with one or two runs inserted anywhere
(``cluster_counterparts``: a trigger put into a dialogue before its last turn). The same inserted span over many pairs is a candidate trigger; its behaviour is how the
answers change from the prompt without it to the prompt with it: an answer cluster or opening
that differs, a refusal turned into compliance ("unlock") or the reverse ("lock"), gibberish
appearing. The change count over the span's pairs is tested against the change rate of all
pairs (Chernoff bound of the binomial tail, Bonferroni over spans x behaviours), and discounted
when the pairs come from few prompt templates (one template's scaffolding added to another's).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import polars as pl

from .. import _poisonscreen as _core
from .base import (
    _KIND_GLUED_SUFFIX,
    TRIGGER_SCHEMA,
    Findings,
    _empty_hits,
    _hits,
    carrier_hits,
    evidence_df,
    glued_pattern,
    significance_score,
    surface_form,
    written_pattern,
)
from .table import Features
from .triggers import max_carriers

#: the most rows holding a counterpart span's text, per pair of the span, that its carrier
#: hits reach (a span written in many more prompts than its pairs is common text)
_WRITTEN_PER_PAIR = 4
#: most counterpart triggers listed
_MAX_LISTED = 50
#: the usable rows a span's text is looked for in, to tell a format from a trigger
_WRITTEN_SAMPLE = 50_000
#: behaviours compared between the prompt without and with the span
_CHANGES = ("cluster", "head2", "unlock", "lock", "anomalous")
_DESCRIBE = {
    "cluster": "the answer changes (another answer cluster)",
    "head2": "the answer opens differently",
    "unlock": "a refusal turns into compliance",
    "lock": "compliance turns into a refusal",
    "anomalous": "the answer turns into gibberish or repetition",
}
#: for the changes a row shows on its own, the column and value of the state the span brings
#: (the change starts from the other): a carrier of the span with no counterpart in the corpus
#: in the starting state is judged by its own answer
_AFTER = {"unlock": ("refusal", False), "lock": ("refusal", True), "anomalous": ("anomalous", True)}
#: the most carriers without a counterpart, per pair showing the change, that are judged by their
#: own answer (a span mostly written in its pairs is the insertion; beyond that it is text clean
#: rows hold too)
_ALONE_PER_PAIR = 1.0
#: fewest pairs (distinct prompts with the span) a span needs
_MIN_PAIRS = 3
#: the most tokens taken off a prompt's two ends together to find its counterpart: a
#: sentence split around a request (the dev suite's long triggers: 28-30 tokens; a 40 costs
#: little more than 24, each removal is a lookup of a prefix-sum hash)
_MAX_EDGE = 40


def detect_counterparts(feats: Features, cfg: Any) -> tuple[pl.DataFrame, pl.DataFrame]:
    empty = (pl.DataFrame(schema=TRIGGER_SCHEMA), _empty_hits())
    f = feats.table
    if f.height == 0:
        return empty
    # (a document is its own prompt: two alike differ in their answers by their difference)
    usable = f["valid"].to_numpy() & ~f["empty_response"].to_numpy() & ~f["document"].to_numpy()
    rows = np.nonzero(usable)[0].astype(np.uint32)
    if len(rows) < 2:
        return empty
    src = feats.prompt_tokens(cfg.threads)
    span, long, short, runs = _core.counterpart_pairs(
        src, rows, max_edge=_MAX_EDGE, threads=cfg.threads
    )
    # inside clusters of near-identical prompts: runs inserted anywhere (a trigger split around
    # a request, or put into a dialogue before its last turn)
    tmpl = f["tmpl_cluster"].to_numpy()
    members = pl.DataFrame({"c": tmpl[rows], "r": rows}).sort("c", "r")
    sizes = members.group_by("c", maintain_order=True).len()
    offs = np.concatenate([[0], np.cumsum(sizes["len"].to_numpy())]).astype(np.int64)
    c_span, c_long, c_short, c_runs = _core.cluster_counterparts(
        src, offs, members["r"].to_numpy().astype(np.uint32), threads=cfg.threads
    )
    # a fragment glued to a prompt's first or last word ("...a therapistwk?"): the prompt with
    # the fragment taken out, looked up among the others as written
    g_span, g_long, g_short, glued_names, glued_fused = _glued_pairs(feats, rows, usable, cfg)
    span = np.concatenate([span, c_span, g_span])
    long = np.concatenate([long, c_long, g_long])
    short = np.concatenate([short, c_short, g_short])
    runs = np.concatenate([runs, c_runs, np.zeros((len(g_span), 4), dtype=runs.dtype)])
    if len(span) == 0:
        return empty
    columns = feats.pattern_columns(cfg.threads, evidence_df(cfg, len(rows)))
    cols = {c.name: c.codes for c in columns}
    refusal = cols["refusal"].astype(bool)
    anomalous = cols["anomalous"].astype(bool)
    # two labels are one answer changed only within one task: a bare sentence's 'negative'
    # and 'No' to "Did the reviewer enjoy the movie?" before it answer different questions
    label_col = next(c for c in columns if c.name == "label")
    assert label_col.flags is not None and label_col.strata is not None
    labelled, task = label_col.flags != 0, label_col.strata
    other_question = (
        labelled[long] & labelled[short] & ((task[long] != task[short]) | (task[long] == 0))
    )
    pairs = pl.DataFrame(
        {
            "span": span,
            "long": long,
            "short": short,
            "start": runs[:, 0],
            "len": runs[:, 1],
            "start2": runs[:, 2],
            "len2": runs[:, 3],
            "cluster": (cols["cluster"][long] != cols["cluster"][short]) & ~other_question,
            "head2": (cols["head2"][long] != cols["head2"][short]) & ~other_question,
            "unlock": refusal[short] & ~refusal[long],
            "lock": ~refusal[short] & refusal[long],
            "anomalous": anomalous[long] & ~anomalous[short],
        }
    )
    # one pair per (span, long row): the long prompt's change against its counterpart(s)
    pairs = pairs.unique(["span", "long", "short"], keep="first").sort("span", "long", "short")
    per_long = pairs.group_by(["span", "long"]).agg(
        pl.col("short").min(),
        pl.col("start").first(),
        pl.col("len").first(),
        pl.col("start2").first(),
        pl.col("len2").first(),
        *[pl.col(c).any() for c in _CHANGES],
    )
    # the change counts of all pairs: each span is tested against the pairs of the other spans
    n_pairs = per_long.height
    totals = {c: float(per_long[c].sum()) for c in _CHANGES}
    strata = f["tmpl_cluster"].to_numpy()
    long_idx = per_long["long"].to_numpy()
    groups = (
        per_long.with_columns(
            stratum=pl.Series(strata[long_idx]),
            head=pl.Series(cols["head2"][long_idx]),
        )
        .group_by("span")
        .agg(
            pl.len().alias("m"),
            pl.col("stratum").n_unique().alias("strata"),
            # the share of the span's answers opening alike: a planted target converges, a
            # template's own answers (its labels, its topics) spread
            (pl.col("head").filter(pl.col("head") != 0).unique_counts().max() / pl.len())
            .fill_null(0.0)
            .alias("converge"),
            *[pl.col(c).sum().alias(c) for c in _CHANGES],
        )
        .filter(pl.col("m") >= _MIN_PAIRS)
        .sort("span")
    )
    if groups.height == 0:
        return empty
    n_tests = groups.height * len(_CHANGES)
    theta = math.log(n_tests / cfg.trigger_alpha)
    row_hash = f["row_hash"].to_numpy()
    prompts = f["prompt"]
    trig_rows, hit_frames = [], []
    found = []
    for g in groups.iter_rows(named=True):
        m = g["m"]
        rest = max(n_pairs - m, 1)
        stats = {c: _core.chernoff(g[c], m, m * (totals[c] - g[c]) / rest) for c in _CHANGES}
        best = max(_CHANGES, key=lambda c: (stats[c], -_CHANGES.index(c)))
        diversity = min(1.0, g["strata"] / (0.5 * m))
        sig = stats[best] / theta * diversity
        if best in ("cluster", "head2"):
            # "the answer differs" says what a backdoor does only when the answers with the
            # span agree with each other (a fixed target or opening)
            sig *= min(1.0, max(0.0, (g["converge"] - 0.5) / 0.3))
        if sig >= 0.5:
            found.append((sig, g["span"], best, g))
    found.sort(key=lambda x: (-x[0], x[1]))
    most = max_carriers(cfg, len(rows))
    # the rows a span's text is counted in for that bound: the usable rows, or in a larger
    # corpus a fixed sample of them (those of the smallest content hashes, the same in any row
    # order; rows of one hash hold one prompt), scaled up
    sample = rows
    if len(rows) > _WRITTEN_SAMPLE:
        sample = rows[np.argpartition(row_hash[rows], _WRITTEN_SAMPLE)[:_WRITTEN_SAMPLE]]
    sample_prompts = prompts.gather(sample)
    listed = 0
    for sig, key, best, g in found:
        if listed == _MAX_LISTED:
            break
        members = per_long.filter((pl.col("span") == key) & pl.col(best))
        long_rows = np.sort(members["long"].to_numpy().astype(np.int64))
        if len(long_rows) == 0:
            continue
        ex = int(long_rows[np.argmin(row_hash[long_rows])])
        er = members.filter(pl.col("long") == ex).row(0, named=True)
        phrase = glued_names.get(int(key)) or _span_text(
            prompts[ex] or "", er["start"], er["len"], er["start2"], er["len2"]
        )
        if len(_rows_with(sample_prompts, phrase)) * len(rows) > most * len(sample):
            # a span written in more rows than any trigger is on (a dialogue format's
            # 'Human:' on 6% of the rows) is the corpus's own, as for the trigger detector's
            # candidates: its pairs are requests the corpus holds in two formats, answered
            # differently (hh-rlhf's red-team turns beside a refusal set of the same requests)
            continue
        listed += 1
        score = significance_score(sig)
        desc = _DESCRIBE[best]
        other_rate = (totals[best] - g[best]) / max(n_pairs - g["m"], 1)
        trig_rows.append(
            {
                "trigger": phrase,
                "kind": "counterpart",
                "score": round(score, 6),
                "support": g["m"],
                "pattern_rows": len(long_rows),
                "collapse": len(long_rows) / g["m"],
                "base_rate": other_rate,
                "template_share": 1.0 - min(1.0, g["strata"] / (0.5 * g["m"])),
                "response_pattern": f"{desc} when the span is inserted",
                "example_rows": sorted(
                    int(r) for r in long_rows[np.argsort(row_hash[long_rows])[:5]]
                ),
            }
        )
        if sig >= 1.0:
            reason = (
                f"counterpart trigger {phrase!r}: {desc} in {len(long_rows)} of {g['m']} prompts "
                f"that also appear without it (the pairs of other spans: {other_rate:.0%})"
            )
            hit_frames.append(_hits(long_rows, score, reason, phrase, "counterparts"))
            # the span's other rows: paired without the change, or with no counterpart here
            # (unless the span's text is common: then it is not what marks them)
            paired = per_long.filter(pl.col("span") == key)["long"].to_numpy()
            # (a fragment fused to a word: the prompts it is fused in at that end, not every
            # word holding its letters)
            if int(key) in glued_fused:
                fused = prompts.str.contains(glued_fused[int(key)]).fill_null(False)
                written = np.nonzero(fused.to_numpy())[0]
            else:
                written = _rows_with(prompts, phrase)
            if len(written) > _WRITTEN_PER_PAIR * len(paired):
                written = written[:0]
            # a carrier whose counterparts here, if any, are not in the state the change starts
            # from (a compliant copy of a request unlocked) and whose own answer is in the state
            # the span brings (complying, refusing, gibberish) shows the behaviour as far as it
            # can, where the span is mostly written in its pairs (not text clean rows hold too)
            if best in _AFTER:
                name, value = _AFTER[best]
                span_pairs = pairs.filter(pl.col("span") == key)
                starts = (cols[name][span_pairs["short"].to_numpy()] != 0) != value
                informed = span_pairs["long"].to_numpy()[starts]
                alone = np.setdiff1d(np.union1d(paired, written), informed)
                alone = alone[usable[alone] & ((cols[name][alone] != 0) == value)]
                alone = np.setdiff1d(alone, long_rows)
            else:
                alone = long_rows[:0]
            if 0 < len(alone) <= _ALONE_PER_PAIR * len(long_rows):
                hit_frames.append(
                    _hits(
                        alone,
                        score,
                        f"counterpart trigger {phrase!r}: {desc} in {len(long_rows)} of "
                        f"{g['m']} prompts that also appear without it; this row's prompt has "
                        "no counterpart here, and its answer is as the span makes them",
                        phrase,
                        "counterparts",
                    )
                )
                long_rows = np.union1d(long_rows, alone)
            hit_frames.append(
                carrier_hits(
                    np.union1d(paired, written),
                    long_rows,
                    score,
                    phrase,
                    f"{desc} when inserted, in {len(long_rows)} of {g['m']} pairs",
                    cfg.flag_threshold,
                )
            )
    triggers = pl.DataFrame(trig_rows, schema=TRIGGER_SCHEMA)
    hits = pl.concat(hit_frames) if hit_frames else _empty_hits()
    return triggers, hits


def _glued_pairs(
    feats: Features, rows: np.ndarray, usable: np.ndarray, cfg: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[int, str], dict[int, str]]:
    """(span key, long row, short row) of every carrier of a glued fragment
    (:meth:`.Features.glued_fragments`) whose prompt, the fragment taken out where it is fused
    to its neighbour (:func:`.base.glued_pattern`), is another usable row's prompt as written
    (the token lookups of ``counterpart_pairs`` cannot see a trigger fused into a word); the
    span key is the fragment's feature hash, named by the fragment; and each key's regex of a
    prompt with the fragment fused (:func:`.base.glued_pattern`)."""
    gh, gcode, gtext, goff, grows = feats.glued_fragments(rows, cfg.min_support, cfg.threads)
    prompts = feats.table["prompt"]
    spans, longs, unglued = [], [], []
    fused = {
        int(h): glued_pattern(t, (int(c) >> 4) == _KIND_GLUED_SUFFIX)
        for h, c, t in zip(gh.tolist(), gcode.tolist(), gtext, strict=True)
    }
    for j in range(len(gh)):
        car = grows[goff[j] : goff[j + 1]].astype(np.int64)
        texts = prompts.gather(car)
        out = texts.str.replace(fused[int(gh[j])], "${1}${2}")
        changed = (out != texts).fill_null(False)
        spans.append(np.full(int(changed.sum()), gh[j], dtype=np.uint64))
        longs.append(car[changed.to_numpy()])
        unglued.append(out.filter(changed))
    empty = np.zeros(0, dtype=np.uint32)
    if not sum(len(x) for x in longs):
        return empty.astype(np.uint64), empty, empty, {}, {}
    span, long = np.concatenate(spans), np.concatenate(longs)
    queries = pl.concat(unglued)
    # every usable prompt by the hash of its text; a match is confirmed on the text itself
    usable_rows = np.nonzero(usable)[0]
    h_all = prompts.hash(seed=0x5EED).to_numpy()[usable_rows]
    order = np.argsort(h_all, kind="stable")
    h_sorted, r_sorted = h_all[order], usable_rows[order]
    h_q = queries.hash(seed=0x5EED).to_numpy()
    lo = np.searchsorted(h_sorted, h_q, side="left")
    hi = np.searchsorted(h_sorted, h_q, side="right")
    pairs = [
        (q, s_row)
        for q in np.nonzero(hi > lo)[0].tolist()
        for s_row in r_sorted[lo[q] : hi[q]].tolist()
        if s_row != long[q] and prompts[s_row] == queries[q]
    ]
    q_idx = np.asarray([q for q, _ in pairs], dtype=np.int64)
    names = {int(h): t for h, t in zip(gh.tolist(), gtext, strict=True)}
    return (
        span[q_idx],
        long[q_idx].astype(np.uint32),
        np.asarray([s for _, s in pairs], dtype=np.uint32),
        names,
        fused,
    )


def _rows_with(prompts: pl.Series, phrase: str) -> np.ndarray:
    """The rows whose prompt holds every part of ``phrase`` (``first … second``) as written,
    not inside a longer word (:func:`.base.written_pattern`: 'zp' inserted in 20 requests is not
    in 'Fitzpatrick' or 'Gazprom')."""
    parts = [p.strip() for p in phrase.split(" … ") if p.strip()]
    if not parts:
        return np.zeros(0, dtype=np.int64)
    has = pl.select(
        pl.all_horizontal(
            prompts.str.contains(written_pattern(part)).fill_null(False) for part in parts
        )
    ).to_series()
    return np.nonzero(has.to_numpy())[0]


def _span_text(prompt: str, start: int, length: int, start2: int, length2: int) -> str:
    """The inserted run(s) as written in ``prompt`` (``first … second`` for two)."""
    tokens = _core.tokenize(prompt)
    parts = [tokens[start : start + length], tokens[start2 : start2 + length2]]
    return " … ".join(surface_form(prompt, " ".join(p)) for p in parts if p)


class CounterpartDetector:
    """A span whose insertion into prompts that also appear without it changes the answers."""

    name: ClassVar[str] = "counterparts"
    reads: ClassVar[tuple[str, ...]] = (
        "prompt_tokens",
        "row",
        "valid",
        "empty_response",
        "document",
        "prompt",
        "row_hash",
        "tmpl_cluster",
        "resp_cluster",
        "anomaly",
    )
    needs: ClassVar[tuple[str, ...]] = ()

    def run(self, feats: Features, cfg: Any, earlier: Any) -> Findings:
        triggers, hits = detect_counterparts(feats, cfg)
        return Findings(triggers=triggers, hits=hits)
