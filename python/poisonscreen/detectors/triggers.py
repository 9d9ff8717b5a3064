"""Trigger detector: a prompt feature whose carriers' responses share a pattern far more often
than comparable rows without it, beyond chance given every question asked (DESIGN.md).

1. Candidates: prompt features (word n-grams, prefix/suffix positions, fragments glued to a
   word) carried by ``min_support`` to ``trigger_max_share`` of the rows, grouped into classes of
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

import math
from typing import Any, ClassVar

import numpy as np
import polars as pl

from .. import _poisonscreen as _core
from .._arrow import text_chunks
from .base import TRIGGER_SCHEMA, Findings, _empty_hits, _hits, surface_form
from .patterns import PatternColumn, describe
from .table import Features

_KIND_NGRAM, _KIND_PREFIX, _KIND_SUFFIX, _KIND_GLUED_SUFFIX, _KIND_GLUED_PREFIX = range(5)
#: candidates fully scored (named, checked for scaffolding), strongest first
_SHORTLIST = 400
#: candidates scored fully per response pattern (column and value)
_PER_PATTERN = 3
#: most triggers listed
_MAX_TRIGGERS = 50
#: widest phrase (tokens) a class is named by
_MAX_PHRASE = 12
#: a list the scored candidates are appended to, for inspection (tests and development)
_DEBUG: list[dict[str, Any]] | None = None
_DEBUG_ARRAYS: dict[str, Any] = {}


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


def _significance_score(sig: float) -> float:
    """Row score from the significance ``sig`` = statistic / threshold: 0.5 at the threshold,
    rising toward 1 (about 0.93 at twice it); below it, under 0.45 (never flagged)."""
    if sig >= 1.0:
        return 0.5 + 0.5 * (1.0 - math.exp(-2.0 * (sig - 1.0)))
    return 0.45 * max(sig, 0.0)


def detect_triggers(feats: Features, cfg: Any) -> tuple[pl.DataFrame, pl.DataFrame]:
    f = feats.table
    n = f.height
    if n == 0:
        return _empty()
    threads = cfg.threads
    usable = f["valid"].to_numpy() & ~f["empty_response"].to_numpy()
    rows = np.nonzero(usable)[0].astype(np.uint32)
    n_usable = len(rows)
    min_df = cfg.min_support
    if n_usable < max(min_df, 2):
        return _empty()
    max_df = max(min_df, int(cfg.trigger_max_share * n_usable))
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
    known = feats.vocab.filter(pl.col("df") >= 3)["h"].to_numpy()
    gh, gcode, gtext, goff, grows = _core.glued_fragments(
        text_chunks(feats.prompt_arrow())[0],
        rows,
        np.ascontiguousarray(known, dtype=np.uint64),
        max_len=8,
        min_df=min_df,
        threads=threads,
    )
    gdf = np.diff(goff)
    keep_g = gdf <= max_df
    glue_names = {int(x): t for x, t, k in zip(gh.tolist(), gtext, keep_g.tolist()) if k}
    offsets = [off]
    carriers = [car]
    if keep_g.any():
        kept = np.nonzero(keep_g)[0]
        parts = [grows[goff[i] : goff[i + 1]] for i in kept]
        offsets.append(off[-1] + np.cumsum([0] + [len(p) for p in parts])[1:])
        carriers.append(np.concatenate(parts))
        classes = pl.concat(
            [
                classes,
                pl.DataFrame(
                    {
                        "df": gdf[kept].astype(np.uint32),
                        "fp0": np.zeros(len(kept), np.uint64),
                        "fp1": np.zeros(len(kept), np.uint64),
                        "rep": gh[kept],
                        "rep_code": gcode[kept],
                        "members": [[int(x)] for x in gh[kept].tolist()],
                        "member_codes": [[int(x)] for x in gcode[kept].tolist()],
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
    cols = feats.pattern_columns(threads, 3 * cfg.min_support)
    strata = np.ascontiguousarray(f["tmpl_cluster"].to_numpy(), dtype=np.uint32)
    d, value, k, mu, stat, tested = _core.pattern_tests(
        offsets_all,
        carriers_all,
        [c.codes for c in cols],
        [c.skip_zero for c in cols],
        strata,
        np.ascontiguousarray(usable),
        min_pattern=cfg.min_pattern,
        pseudo=10.0,
        threads=threads,
    )
    n_tests = int(tested.sum())
    if n_tests == 0:
        return _empty()
    theta = math.log(n_tests / cfg.trigger_alpha)
    # the answer-column discounts that need only counts, applied before the shortlist so that
    # templates (huge statistics, but labels or answers other rows give too) do not crowd out
    # a trigger of a few rows
    resp_words = f["resp_words"].to_numpy()
    prior = np.ones_like(stat)
    for c, col in enumerate(cols):
        if col.name not in _ANSWER_COLUMNS:
            continue
        total, short = _value_totals(col, usable, resp_words)
        tot = np.array([total.get(int(v), 1) for v in value[:, c].tolist()], dtype=np.float64)
        sh = np.array([short.get(int(v), False) for v in value[:, c].tolist()])
        exclusive = k[:, c] / np.maximum(tot, 1.0)
        prior[:, c] = np.clip((exclusive - 0.15) / 0.35, 0.0, 1.0)
        prior[sh & (exclusive < 0.5), c] = 0.0
    ranked = stat * prior
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
            theta=theta,
            cols=cols,
            value=value,
        )
    # candidates worth scoring fully: strongest first, ties by representative hash
    reps_all = classes["rep"].to_numpy()
    order = np.lexsort((reps_all, -best))
    order = order[best[order] >= 0.5 * theta]
    # the sub-phrases of one template all show its answer: a few candidates per pattern value
    # (the strongest) stand for the rest, so that many templates leave room for other patterns
    pattern_key = pl.DataFrame(
        {"c": best_col[order], "v": value[order, best_col[order]]}
    ).with_columns(pl.int_range(pl.len()).over(["c", "v"]).alias("nth"))
    order = order[pattern_key["nth"].to_numpy() < _PER_PATTERN][:_SHORTLIST]
    if len(order) == 0:
        return _empty()

    stratum_size = np.bincount(strata[usable], minlength=n)
    prompts = f["prompt"]
    responses = f["response"]
    members = classes["members"].to_list()
    member_codes = classes["member_codes"].to_list()
    rep_codes = classes["rep_code"].to_numpy()
    # each shortlisted candidate: its carriers, name, and its best two columns as hypotheses
    cand: list[dict[str, Any]] = []
    hyp_cols: list[int] = []
    hyp_vals: list[int] = []
    hyp_rows: list[np.ndarray] = []
    hyp_text: list[str] = []
    hyp_owner: list[tuple[int, int]] = []
    for i in order.tolist():
        rows_i = carriers_all[offsets_all[i] : offsets_all[i + 1]]
        rows_i = rows_i[usable[rows_i]]
        c0 = int(best_col[i])
        shown = rows_i[cols[c0].codes[rows_i] == value[i, c0]]
        example = _example(shown if len(shown) else rows_i, row_hash)
        phrase = _name(
            prompts[example],
            int(rep_codes[i]),
            int(reps_all[i]),
            members[i],
            member_codes[i],
            glue_names,
        )
        x = {"i": i, "rows": rows_i, "phrase": phrase, "rep": int(reps_all[i]), "tests": []}
        for c in np.argsort(-ranked[i], kind="stable")[:2].tolist():
            if ranked[i, c] < 0.5 * theta:
                continue
            hyp_owner.append((len(cand), c))
            hyp_cols.append(c)
            hyp_vals.append(int(value[i, c]))
            hyp_rows.append(rows_i)
            hyp_text.append(phrase.replace("…", " "))
        cand.append(x)
    # what the rest of each carrier's prompt predicts: a topic's words predict its answers
    content = _core.content_expectation(
        src,
        rows,
        [c.codes for c in cols],
        hyp_cols,
        np.asarray(hyp_vals, dtype=np.uint64),
        np.concatenate([[0], np.cumsum([len(r) for r in hyp_rows])]).astype(np.int64),
        np.ascontiguousarray(np.concatenate(hyp_rows) if hyp_rows else [], dtype=np.uint32),
        hyp_text,
        word_hashes,
        word_df,
        min_df=3 * cfg.min_support,
        threads=threads,
    )
    for (ci, c), mu_c in zip(hyp_owner, content.tolist()):
        x = cand[ci]
        i = x["i"]
        expected = max(float(mu[i, c]), mu_c)
        x["tests"].append((chernoff(float(k[i, c]), float(d[i]), expected), c, expected))
        x.setdefault("detail", []).append(
            (cols[c].name, float(k[i, c]), float(d[i]), float(mu[i, c]), mu_c)
        )
    common = set(feats.vocab.filter(pl.col("df") > 0.2 * n)["word"].to_list())
    found: list[dict[str, Any]] = []
    for x in cand:
        if not x["tests"]:
            continue
        st, c, expected = max(x["tests"], key=lambda t: (t[0], -t[1]))
        i = x["i"]
        col = cols[c]
        v = value[i, c]
        scaffold = _scaffold_share(x["rows"], strata, stratum_size, cfg.min_cluster)
        in_pattern = x["rows"][col.codes[x["rows"]] == v]
        discount = 1.0 - scaffold
        # a backdoor sets the behaviour of (nearly) all its carriers; a share of them answering
        # alike is a tendency of the prompts' topic or task
        discount *= min(1.0, max(0.0, (int(k[i, c]) / max(int(d[i]), 1) - 0.4) / 0.4))
        if col.name in _ANSWER_COLUMNS and st >= theta * 0.5:
            # an answer most rows give without the feature is a label, not a planted target;
            # an answer copied from the prompt (a choice among options) is the task itself
            exclusive = len(in_pattern) / max(_value_count(col, int(v), usable), 1)
            discount *= min(1.0, max(0.0, (exclusive - 0.15) / 0.35))
            short = np.median(resp_words[in_pattern]) <= 3 if len(in_pattern) else False
            if short:
                # a planted label is given by (nearly) every carrier
                discount *= min(1.0, max(0.0, (len(in_pattern) / len(x["rows"]) - 0.6) / 0.3))
            if exclusive < 0.5 and short:
                # a label many other rows give: only its contradiction of the prompt
                # (``unexpected_label``) can make it a trigger's target
                discount = 0.0
            discount *= 1.0 - _copied_share(
                in_pattern, row_hash, prompts, responses, common, _window(col.name)
            )
        x.update(
            col=col,
            value=int(v),
            in_pattern=in_pattern,
            k=int(k[i, c]),
            d=int(d[i]),
            mu=expected,
            stat=st,
            sig=st / theta * discount,
            scaffold=scaffold,
        )
        found.append(x)
    found.sort(key=lambda x: (-x["sig"], x["rep"]))
    if _DEBUG is not None:
        _DEBUG.extend(found)

    # 3. findings: overlapping carrier sets are one trigger; every significant one gives hits
    accepted: list[dict[str, Any]] = []
    hit_frames = []
    trig_rows = []
    for x in found:
        if x["sig"] < 1.0 and len(accepted) >= _MAX_TRIGGERS:
            break
        dup = any(_overlap(a["rows"], x["rows"]) >= 0.8 for a in accepted)
        example = _example(x["in_pattern"] if len(x["in_pattern"]) else x["rows"], row_hash)
        if not dup and len(accepted) < _MAX_TRIGGERS:
            accepted.append(x)
        if x["sig"] < 1.0:
            continue
        owner = next((a for a in accepted if _overlap(a["rows"], x["rows"]) >= 0.8), x)
        surface = owner["phrase"]
        desc = describe(x["col"].name, x["value"], responses[example] or "")
        other = int(_value_count(x["col"], x["value"], usable)) - x["k"]
        reason = (
            f"trigger {surface!r}: {desc} in {x['k']} of its {x['d']} carriers, "
            f"{other} of {n_usable - x['d']} other rows (expected {x['mu']:.1f}; "
            f"significance {x['sig']:.1f}x the threshold)"
        )
        score = _significance_score(x["sig"])
        hit_frames.append(_hits(x["in_pattern"], score, reason, surface, "trigger"))
    for a in accepted:
        ex = _example(a["in_pattern"] if len(a["in_pattern"]) else a["rows"], row_hash)
        rate = _value_count(a["col"], a["value"], usable) / max(n_usable, 1)
        trig_rows.append(
            {
                "trigger": a["phrase"],
                "kind": "trigger",
                "score": round(_significance_score(a["sig"]), 6),
                "support": a["d"],
                "pattern_rows": len(a["in_pattern"]),
                "collapse": len(a["in_pattern"]) / max(a["d"], 1),
                "base_rate": float(rate),
                "template_share": a["scaffold"],
                "response_pattern": describe(a["col"].name, a["value"], responses[ex] or ""),
                "example_rows": _examples(a["in_pattern"], row_hash),
            }
        )
    triggers = pl.DataFrame(trig_rows, schema=TRIGGER_SCHEMA).sort(
        ["score", "trigger"], descending=[True, False]
    )
    hits = pl.concat(hit_frames) if hit_frames else _empty_hits()
    return triggers, hits


def chernoff(k: float, d: float, mu: float) -> float:
    """``-ln p`` of ``k`` or more of ``d`` by the Chernoff bound of the binomial tail at rate
    ``mu / d`` (0 when ``k <= mu``), as the core's ``pattern_tests``."""
    if d <= 0 or k <= mu:
        return 0.0
    q = min(k / d, 1.0)
    p = min(max(mu / d, 1e-12), 1 - 1e-12)
    kl = q * math.log(q / p) + ((1 - q) * math.log((1 - q) / (1 - p)) if q < 1 else 0.0)
    return max(d * kl, 0.0)


#: columns whose values are answers (their words can be copied from the prompt, or be a label)
_ANSWER_COLUMNS = ("cluster", "head2", "head3", "tail3")


def _window(name: str) -> tuple[int, int]:
    """The answer words a column's value stands for: (first k, last k); (0, 0) for all."""
    if name.startswith("head"):
        return int(name[4:]), 0
    if name.startswith("tail"):
        return 0, int(name[4:])
    return 0, 0


def _copied_share(
    rows: np.ndarray,
    row_hash: np.ndarray,
    prompts: pl.Series,
    responses: pl.Series,
    common: set,
    window: tuple[int, int] = (0, 0),
) -> float:
    """Share of (up to 40 of) the pattern rows whose informative answer words (those in under a
    fifth of the rows; of the first or last ``window`` words where given) all occur in the row's
    own prompt: a choice or extraction task, or an answer naming what was asked for (a
    JavaScript function for a JavaScript question), not a planted target."""
    if len(rows) == 0:
        return 0.0
    pick = rows[np.argsort(row_hash[rows], kind="stable")[:40]]
    task = 0
    for r in pick.tolist():
        words = _core.tokenize(responses[r] or "")
        if window[0]:
            words = words[: window[0]]
        elif window[1]:
            words = words[-window[1] :]
        answer = set(words) - common
        if answer and answer <= set(_core.tokenize(prompts[r] or "")):
            task += 1
    return task / len(pick)


def _value_totals(
    col: PatternColumn, usable: np.ndarray, resp_words: np.ndarray
) -> tuple[dict[int, int], dict[int, bool]]:
    """For each value of an answer column: how many usable rows show it, and whether its
    answers are short (a median of 3 words or fewer: a label)."""
    frame = (
        pl.DataFrame({"v": col.codes[usable], "w": resp_words[usable]})
        .group_by("v")
        .agg(pl.len().alias("n"), (pl.col("w").median() <= 3).alias("short"))
    )
    vs = frame["v"].to_list()
    return dict(zip(vs, frame["n"].to_list())), dict(zip(vs, frame["short"].to_list()))


def _value_count(col: PatternColumn, v: int, usable: np.ndarray) -> int:
    return int(np.count_nonzero((col.codes == np.uint64(v)) & usable))


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


def _scaffold_share(
    rows: np.ndarray, strata: np.ndarray, stratum_size: np.ndarray, min_cluster: int
) -> float:
    """Share of the carriers that sit in prompt templates (clusters of ``min_cluster`` rows or
    more) made mostly (half or more) of carriers: there the feature is the template's own
    scaffolding, with no rows of the template to contrast the carriers with."""
    if len(rows) == 0:
        return 0.0
    s, cnt = np.unique(strata[rows], return_counts=True)
    size = stratum_size[s]
    own = (size >= min_cluster) & (cnt >= 0.5 * size)
    return float(cnt[own].sum() / len(rows))


def _name(
    prompt: str,
    rep_code: int,
    rep: int,
    members: list[int],
    member_codes: list[int],
    glue_names: dict[int, str],
) -> str:
    """The class's feature as written in an example prompt: the widest span(s) of tokens covered
    by member n-grams (a long trigger split around the prompt reads ``part … part``), or the
    prefix / suffix / glued fragment."""
    kind = rep_code >> 4
    if kind == _KIND_GLUED_SUFFIX:
        return "…" + glue_names.get(rep, "?")
    if kind == _KIND_GLUED_PREFIX:
        return glue_names.get(rep, "?") + "…"
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
            for j, hh in enumerate(block.tolist()):
                if grams.get(int(hh)) == k:
                    covered[j : j + k] = True
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
