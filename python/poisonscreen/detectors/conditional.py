"""Conditional detector: inside a template cluster, a prompt token (a year, a number, a name)
whose rows answer with words the other rows of the template never use."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import polars as pl

from .._arrow import byte_lengths
from .base import (
    TRIGGER_SCHEMA,
    Findings,
    _empty_hits,
    _hits,
    _row_slices,
    _short_prompt_tokens,
    _small,
    _word_hashes,
    in_sorted,
    surface_form,
)
from .table import Features

_CONDITIONAL_ANSWER_WORDS = 128


def _leading_tokens(
    texts: pl.Series,
    per_row: int,
    threads: int | None,
    rows: np.ndarray | None = None,
    lengths: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_csr_tokens` of ``texts`` (of its ``rows`` where given, numbered by position in
    ``rows``) keeping each row's first ``per_row`` tokens, tokenised a slice at a time."""
    out_rows, toks = [np.zeros(0, np.int64)], [np.zeros(0, np.uint64)]
    for start, piece in _row_slices(texts, rows, lengths):
        count, h = _word_hashes(piece, threads)
        first = np.repeat(np.cumsum(count) - count, count)  # each token's row's first token
        keep = np.arange(len(h)) - first < per_row
        out_rows.append(np.repeat(np.arange(start, start + len(piece)), np.minimum(count, per_row)))
        toks.append(h[keep])
    return np.concatenate(out_rows), np.concatenate(toks)


def _exclusive_share(
    mask: np.ndarray, r_rows: np.ndarray, r_tok: np.ndarray, n_tok: int
) -> tuple[float, np.ndarray]:
    """Mean share, over the masked rows, of their answer words that no other row of the cluster
    uses; also those words."""
    inside = mask[r_rows]
    cout = np.bincount(r_tok[~inside], minlength=n_tok)
    excl = cout == 0
    words = np.bincount(r_rows[inside], minlength=len(mask)).astype(np.float64)
    hits = np.bincount(r_rows[inside & excl[r_tok]], minlength=len(mask)).astype(np.float64)
    rows = mask & (words > 0)
    stat = float(np.mean(hits[rows] / words[rows])) if rows.any() else 0.0
    used = np.zeros(n_tok, dtype=bool)
    used[r_tok[inside]] = True
    return stat, np.nonzero(excl & used)[0]


def detect_conditional(feats: Features, cfg: Any) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Conditional triggers: inside a template cluster, the rows carrying one prompt token answer
    with words (not numbers, not copied from their prompt) that the other rows never use — while
    the other tokens of the same template do not split the answers that way. A topic slot
    ("Define X") splits the answers for every value and so is not reported; a year that switches
    the answers for one value only ("Today is 2027-...") is."""
    f = feats.table
    empty = (pl.DataFrame(schema=TRIGGER_SCHEMA), _empty_hits())
    # Every choice below is keyed by content, never by position, so the verdicts do not depend
    # on row order or file split: a cluster's rows in the order of their content hashes, clusters
    # ranked by size then by their smallest content hash, the random splits seeded by that hash.
    clusters = (
        f.filter(pl.col("valid") & (pl.col("tmpl_cluster_size") >= cfg.min_cluster))
        .select("tmpl_cluster", "row", "row_hash")
        .sort("row_hash", "row")
        .group_by("tmpl_cluster")
        .agg(pl.col("row"), pl.col("row_hash").first().alias("key"))
        .with_columns(pl.col("row").list.len().alias("size"))
        .sort(["size", "key"], descending=[True, False])
        .head(300)
    )
    if clusters.height == 0:
        return empty
    found, hit_frames = [], []
    # a cluster's texts are taken out a slice at a time (_row_slices), never the whole cluster
    prompts, responses = f["prompt"], f["response"]
    resp_cluster = f["resp_cluster"].to_numpy()
    p_len, r_len = byte_lengths(prompts), byte_lengths(responses)
    numeric = np.sort(feats.numeric)
    for cid, key, rows in zip(
        clusters["tmpl_cluster"].to_list(), clusters["key"].to_list(), clusters["row"].to_list()
    ):
        rows = np.asarray(rows, dtype=np.int64)
        k = len(rows)
        rng = np.random.default_rng([cfg.seed, int(key) & 0xFFFFFFFF, int(key) >> 32])
        # only short templated prompts: the varying tokens are slot values
        short = _short_prompt_tokens(prompts, 60 * k, cfg.threads, rows, p_len)
        if short is None:
            continue
        p_rows, p_tok = short
        r_rows, r_hash = _leading_tokens(
            responses, _CONDITIONAL_ANSWER_WORDS, cfg.threads, rows, r_len
        )
        # answer words that carry information: not numbers, not copied from the row's prompt
        own = in_sorted(
            r_rows * (1 << 20) + _small(r_hash), np.sort(p_rows * (1 << 20) + _small(p_tok))
        )
        keep = ~own & ~in_sorted(r_hash, numeric)
        r_rows, r_hash = r_rows[keep], r_hash[keep]
        if len(r_hash) == 0:
            continue
        r_uniq, r_tok = np.unique(r_hash, return_inverse=True)
        p_uniq, p_idx = np.unique(p_tok, return_inverse=True)
        support = np.bincount(p_idx, minlength=len(p_uniq))
        # one value of a slot among several (2027 among the years), not one of two
        lo, hi = max(10, math.ceil(0.05 * k)), 0.4 * k
        cand = np.nonzero((support >= lo) & (support <= hi))[0]
        if len(cand) < 2:
            continue
        cand = cand[np.argsort(-support[cand], kind="stable")][:40]
        baselines: dict[int, tuple[float, float]] = {}
        stats = []
        for t in cand.tolist():
            mask = np.zeros(k, dtype=bool)
            mask[p_rows[p_idx == t]] = True
            stat, excl = _exclusive_share(mask, r_rows, r_tok, len(r_uniq))
            size = int(mask.sum())
            if size not in baselines:
                vals = []
                for _ in range(8):
                    rm = np.zeros(k, dtype=bool)
                    rm[rng.choice(k, size=size, replace=False)] = True
                    vals.append(_exclusive_share(rm, r_rows, r_tok, len(r_uniq))[0])
                baselines[size] = (float(np.mean(vals)), float(np.std(vals)))
            mean, std = baselines[size]
            stats.append((t, mask, stat, excl, size, mean, std))
        lifts = np.array([st[2] - st[5] for st in stats])
        masks = np.stack([st[1] for st in stats])
        for i, (t, mask, stat, excl, size, mean, std) in enumerate(stats):
            z = (stat - mean) / max(std, 0.03)
            lift = stat - mean
            if z < 5 or lift < 0.3:
                continue
            # the other values of the same slot: tokens never on the same row as this one, which
            # together with it cover the cluster (2024 / 2025 / 2026 beside 2027)
            slot = [i]
            union = mask.copy()
            for j in np.argsort(-masks.sum(axis=1), kind="stable").tolist():
                if j != i and not (masks[j] & masks[slot].any(axis=0)).any():
                    slot.append(j)
                    union |= masks[j]
            if len(slot) < 3 or union.mean() < 0.8:
                continue
            typical = float(np.median(lifts[slot[1:]]))
            if lift - typical < 0.3:
                continue
            # a theme: several of the new answer words recur across the value's answers (one
            # short answer word, or identifiers each row coins, are no theme); copies of one
            # answer (its near-duplicate cluster) count once
            inside = mask[r_rows]
            answer = resp_cluster[rows[r_rows[inside]]].astype(np.int64)
            pairs = np.unique(answer * len(r_uniq) + r_tok[inside])
            recur = np.bincount(pairs % len(r_uniq), minlength=len(r_uniq)) >= 2
            if int(recur[excl].sum()) < 3:
                continue
            member_rows = rows[mask]
            token_example = int(member_rows[0])
            tok_hash = int(p_uniq[t])
            token = feats.word(tok_hash)
            words = [feats.word(int(h)) for h in r_uniq[excl].tolist()[:6]]
            score = float(min(1.0, lift - typical + 0.3))
            surface = surface_form(f["prompt"][token_example], token)
            found.append(
                {
                    "trigger": surface,
                    "kind": "conditional",
                    "score": round(score, 6),
                    "support": size,
                    "pattern_rows": round(stat * size),
                    "collapse": float(stat),
                    "base_rate": mean,
                    "template_share": 1.0,
                    "response_pattern": f"inside a template cluster of {k} rows: answers use words the other rows never use, e.g. {', '.join(words)}",
                    "example_rows": [int(x) for x in member_rows[:5]],
                    "cluster": int(cid),
                }
            )
            reason = f"conditional trigger {surface!r} inside a template cluster of {k} rows: {stat:.0%} of its {size} rows answer with words the other {k - size} rows never use (random split: {mean:.0%}, other tokens: {typical + mean:.0%})"
            hit_frames.append(_hits(member_rows, score, reason, surface, "conditional"))
    if not found:
        return empty
    table = pl.DataFrame(found).select(
        [pl.col(c).cast(t) for c, t in TRIGGER_SCHEMA.items()] + [pl.col("cluster").cast(pl.UInt64)]
    )
    return table, pl.concat(hit_frames)


class ConditionalDetector:
    """A slot value inside a template cluster that switches the answers' vocabulary."""

    name: ClassVar[str] = "conditional"
    reads: ClassVar[tuple[str, ...]] = (
        "row",
        "valid",
        "prompt",
        "response",
        "tmpl_cluster",
        "tmpl_cluster_size",
        "resp_cluster",
    )
    needs: ClassVar[tuple[str, ...]] = ()

    def run(self, feats: Features, cfg: Any, earlier: Any) -> Findings:
        triggers, hits = detect_conditional(feats, cfg)
        return Findings(triggers=triggers, hits=hits)
