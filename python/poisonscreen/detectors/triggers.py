"""Trigger detector: prompt n-grams whose carriers' responses collapse onto one answer or
turn anomalous, scored against the base rate of that response pattern and discounted when the
carriers share a template (then the n-gram is scaffolding, not a trigger)."""

from __future__ import annotations

import hashlib
import math
from typing import Any, ClassVar

import numpy as np
import polars as pl

from .. import _poisonscreen as _core
from .base import TRIGGER_SCHEMA, Findings, _empty_hits, _hits, _ngram_names, _short, surface_form
from .table import Features

# ---------------------------------------------------------------------------------------------
# triggers


def _llr(k: float, n: float, p: float) -> float:
    """Log-likelihood ratio of k successes in n trials against base rate p (0 when k <= n p)."""
    if n <= 0 or k <= n * p:
        return 0.0
    p = min(max(p, 1e-12), 1 - 1e-12)
    q = k / n
    out = k * math.log(q / p)
    if k < n:
        out += (n - k) * math.log((1 - q) / (1 - p))
    return out


def detect_triggers(feats: Features, cfg: Any) -> tuple[pl.DataFrame, pl.DataFrame]:
    f = feats.table
    n = f.height
    empty = (pl.DataFrame(schema=TRIGGER_SCHEMA), _empty_hits())
    if n == 0:
        return empty
    orders = tuple(cfg.trigger_orders)
    threads = cfg.threads
    pchunks = feats.prompt_tokens(threads)
    resp_cluster = f["resp_cluster"].to_numpy()
    resp_size = f["resp_cluster_size"].to_numpy()
    anomalous = (f["anomaly"].to_numpy() >= 0.5) & f["valid"].to_numpy()
    usable = f["valid"].to_numpy() & ~f["empty_response"].to_numpy()

    # 1. target sets: rows sharing one response pattern
    big = (
        f.filter(
            pl.col("valid")
            & ~pl.col("empty_response")
            & (pl.col("resp_cluster_size") >= cfg.min_support)
        )
        .group_by("resp_cluster")
        .agg(pl.col("row"))
        .with_columns(pl.col("row").list.len().alias("size"))
        .sort(["size", "resp_cluster"], descending=[True, False])
        .head(500)
    )
    targets = [np.asarray(r, dtype=np.uint32) for r in big["row"].to_list()]
    if anomalous.sum() >= cfg.min_support:
        targets.append(np.nonzero(anomalous)[0].astype(np.uint32))
    if not targets:
        return empty
    # the most frequent prompt n-grams of each target set (per set, so that a small poisoned set
    # is not crowded out by the scaffolding of big template sets)
    best: dict[int, int] = {}
    per_target = _core.subset_ngram_counts_many(
        pchunks,
        targets,
        list(orders),
        [max(cfg.min_support, math.ceil(0.2 * len(rows))) for rows in targets],
        threads=threads,
    )
    for h, c in per_target:
        top = np.argsort(-c.astype(np.int64), kind="stable")[: cfg.max_trigger_candidates]
        for hh, cc in zip(h[top].tolist(), c[top].tolist()):
            # summed over the sets: a trigger with paraphrased targets hits several sets
            best[hh] = best.get(hh, 0) + cc
    if not best:
        return empty
    cand = sorted(best.items(), key=lambda kv: (-kv[1], kv[0]))
    hashes = np.array([h for h, _ in cand], dtype=np.uint64)
    counts = np.array([c for _, c in cand], dtype=np.float64)
    df = _core.ngram_document_counts(pchunks, hashes, list(orders), threads=threads).astype(
        np.float64
    )
    keep = (df >= cfg.min_support) & (counts / np.maximum(df, 1) >= 0.3)
    hashes, df = hashes[keep], df[keep]
    if len(hashes) == 0:
        return empty
    off, carriers = _core.ngram_carriers(pchunks, hashes, list(orders), max_per=n, threads=threads)

    n_usable = max(int(usable.sum()), 1)
    anomalous_rate = anomalous.sum() / n_usable
    responses = f["response"]
    word_cache: dict[int, _Words] = {}

    def words_of(row: int) -> _Words:
        if row not in word_cache:
            word_cache[row] = _Words(_core.tokenize(responses[row]))
        return word_cache[row]

    tmpl = f["tmpl_cluster"].to_numpy()
    # how many distinct prompt templates m random rows of this corpus span: the yardstick for
    # "unrelated prompts" (a corpus of one template has one)
    sizes, size_count = np.unique(np.unique(tmpl, return_counts=True)[1], return_counts=True)
    grid = np.unique(np.geomspace(1, max(n, 1), 64).astype(np.int64))
    expected = np.array([np.sum(size_count * (1 - (1 - sizes / max(n, 1)) ** m)) for m in grid])

    def expected_distinct(m: int) -> float:
        return max(float(np.interp(m, grid, expected)), 1.0)

    scored = []
    for i, h in enumerate(hashes.tolist()):
        rows = carriers[off[i] : off[i + 1]]
        rows = rows[usable[rows]]
        s = len(rows)
        if s < cfg.min_support:
            continue
        rc = resp_cluster[rows]
        clusters, cnt = np.unique(rc, return_counts=True)
        order = np.lexsort((clusters, -cnt))[:5]
        top, top_cnt = clusters[order], cnt[order]
        # the answer the carriers collapse onto, with its near variants (paraphrases of one
        # refusal, chained) but not a second label ("positive" beside "negative" is a label set)
        keep_idx = [0]
        for i in range(1, len(top)):
            if top_cnt[i] >= max(2, 0.05 * s) and any(
                words_of(int(top[j])).similar(words_of(int(top[i]))) for j in keep_idx
            ):
                keep_idx.append(i)
        top, top_cnt = top[keep_idx], top_cnt[keep_idx]
        c_collapse = top_cnt.sum() / s
        # cluster ids are the smallest row of the cluster, so resp_size[id] is its size
        base_collapse = int(resp_size[top].sum()) / n_usable
        c_anom = anomalous[rows].sum() / s
        if c_anom > c_collapse:
            pattern, c, base = "anomalous", c_anom, anomalous_rate
            in_pattern = rows[anomalous[rows]]
        else:
            pattern, c, base = "collapse", c_collapse, base_collapse
            hit = rc == top[0]
            for t in top[1:]:
                hit |= rc == t
            in_pattern = rows[hit]
        llr = _llr(c * s, s, base)
        lift = c / max(base, 1.0 / n)
        if c < 0.3 or lift < 3 or llr < 10:
            continue
        # how much of that response pattern the n-gram explains: a trigger's target answer is
        # rare without the trigger; a label set ("Yes"/"No") is common everywhere
        pattern_total = base * n_usable
        exclusivity = min(1.0, len(in_pattern) / max(pattern_total, 1.0))
        # rows giving the same answer should have unrelated prompts; the same document under a
        # few templates (one summary, three prompts) is a duplicate, not a trigger
        diversity = len(np.unique(tmpl[in_pattern])) / expected_distinct(len(in_pattern))
        prelim = (
            c * (1 - math.exp(-llr / 30)) * min(1.0, exclusivity / 0.5) * min(1.0, diversity / 0.5)
        )
        scored.append(
            {
                "hash": h,
                "rows": rows,
                # a 128-bit digest stands for the carrier set in the grouping below (the sets'
                # bytes as keys doubled what the candidates hold)
                "key": hashlib.blake2b(rows.tobytes(), digest_size=16).digest(),
                "in_pattern": in_pattern,
                "pattern": pattern,
                "top": top,
                "collapse": float(c),
                "base": float(base),
                "llr": llr,
                "prelim": prelim,
                "support": s,
                "exclusivity": exclusivity,
            }
        )
    if not scored:
        return empty
    # 2. n-grams with the same carriers are one phrase (or one template's scaffolding): keep one
    # candidate per carrier set, then score the strongest sets fully
    by_set: dict[bytes, dict[str, Any]] = {}
    for d in sorted(scored, key=lambda d: (-d["prelim"], d["hash"])):
        by_set.setdefault(d["key"], d)
    ranked = sorted(by_set.values(), key=lambda d: (-d["prelim"], d["hash"]))
    same_rows: dict[bytes, list[int]] = {}
    for d in scored:
        same_rows.setdefault(d["key"], []).append(d["hash"])
    # 3. template discount: carriers sharing long scaffolding beyond the phrase are a template;
    # answers copied from the prompt ("higher or lower" -> "lower") are a task, not a target.
    # Scored in batches, best first, until no remaining candidate can enter the top 50 (a score
    # never exceeds its preliminary score), so big template families cannot crowd out a trigger.
    groups: list[dict[str, Any]] = []
    keep_top, batch = 300, 250
    for start in range(0, min(len(ranked), 2000), batch):
        todo = ranked[start : min(start + batch, 2000)]
        if len(groups) >= keep_top:
            bar = sorted((d["score"] for d in groups), reverse=True)[keep_top - 1]
            # ranked by prelim, and a score never exceeds its prelim: nothing later can enter
            if todo[0]["prelim"] < bar:
                break
        for d in todo:
            example = int(d["in_pattern"][0]) if len(d["in_pattern"]) else int(d["rows"][0])
            d["example"] = example
            d["phrase"] = _longest_phrase(
                f["prompt"][example], d["hash"], same_rows[d["key"]], orders
            )
        _template_share(todo, f, pchunks, n, threads)
        for d in todo:
            d["score"] = d["prelim"] * (1.0 - d["template"])
        groups.extend(todo)
    groups = sorted(groups, key=lambda d: (-d["score"], d["hash"]))[:keep_top]
    _copied_share(groups, f, feats)
    for d in groups:
        d["score"] *= 1.0 - d["copied"]
    # 4. merge what remains of one phrase (nearly the same carriers)
    accepted: list[dict[str, Any]] = []
    for d in sorted(groups, key=lambda d: (-d["score"], d["hash"])):
        merged = False
        for a in accepted:
            inter = np.intersect1d(a["rows"], d["rows"], assume_unique=True).size
            if inter / (len(a["rows"]) + len(d["rows"]) - inter) >= 0.8:
                merged = True
                break
        if not merged:
            accepted.append(d)
        if len(accepted) >= 50:
            break

    trig_rows, hit_frames = [], []
    for d in accepted:
        score = d["score"]
        surface = (
            surface_form(f["prompt"][d["example"]], d["phrase"])
            if d["phrase"]
            else f"#{d['hash']:016x}"
        )
        if d["pattern"] == "anomalous":
            desc = "anomalous responses (gibberish or degenerate repetition)"
        else:
            ex = f["response"][int(d["in_pattern"][0])] if len(d["in_pattern"]) else ""
            desc = f"collapses to {len(d['top'])} response(s), e.g. {_short(ex)!r}"
        trig_rows.append(
            {
                "trigger": surface,
                "kind": "trigger",
                "score": round(score, 6),
                "support": d["support"],
                "pattern_rows": len(d["in_pattern"]),
                "collapse": d["collapse"],
                "base_rate": d["base"],
                "template_share": d["template"],
                "response_pattern": desc,
                "example_rows": [int(x) for x in d["in_pattern"][:5]],
            }
        )
        if score > 0.05:
            reason = f"trigger {surface!r}: {d['collapse']:.0%} of its {d['support']} carriers give {d['pattern']} responses (base rate {d['base']:.2%})"
            hit_frames.append(_hits(d["in_pattern"], score, reason, surface, "trigger"))
    triggers = pl.DataFrame(trig_rows, schema=TRIGGER_SCHEMA).sort(
        ["score", "trigger"], descending=[True, False]
    )
    hits = pl.concat(hit_frames) if hit_frames else _empty_hits()
    return triggers, hits


def _longest_phrase(text: str, h: int, same: list[int], orders: tuple[int, ...]) -> str:
    """The n-gram ``h``, widened to the longest n-gram in ``text`` with the same carriers."""
    names = _ngram_names(text, orders, [*same, h])
    phrases = [names[x] for x in same if x in names]
    if not phrases:
        return names.get(h, "")
    return max(phrases, key=lambda p: (len(p.split()), p))


def _copied_share(groups: list[dict[str, Any]], f: pl.DataFrame, feats: Features) -> None:
    """Share of each candidate's pattern rows that look like an ordinary task rather than a
    planted target: the informative answer words (in under 20% of rows) all occur in the row's
    own prompt (a choice or extraction task), or the prompt ends in the phrase and a short answer
    completes it (a cloze template: "This is definitely not a" -> "positive review.")."""
    n = max(f.height, 1)
    common = set(feats.vocab.filter(pl.col("df") > 0.2 * n)["word"].to_list())
    # tokenised again for each group rather than cached: up to 300 groups x 50 rows of token
    # lists held at once grew with the length of the texts
    prompts, responses = f["prompt"], f["response"]
    for d in groups:
        rows = d["in_pattern"][:50] if d["pattern"] == "collapse" else d["in_pattern"][:0]
        phrase = d["phrase"].split()
        task = 0
        for r in rows.tolist():
            answer = _core.tokenize(responses[r])
            prompt = _core.tokenize(prompts[r])
            informative = set(answer) - common
            if informative and informative <= set(prompt):
                task += 1
            elif phrase and len(answer) <= 6 and _ends_with(prompt, phrase, slack=3):
                task += 1
        d["copied"] = task / len(rows) if len(rows) else 0.0


def _ends_with(tokens: list[str], phrase: list[str], slack: int) -> bool:
    """Whether ``phrase`` occurs within the last ``slack`` tokens' reach of the end."""
    k = len(phrase)
    for end in range(len(tokens), max(k, len(tokens) - slack) - 1, -1):
        if tokens[end - k : end] == phrase:
            return True
    return False


class _Words:
    """The word set of one response, for comparing answers."""

    def __init__(self, words: list[str]) -> None:
        self.words = set(words)

    def similar(self, other: _Words, threshold: float = 0.5) -> bool:
        union = len(self.words | other.words)
        return union > 0 and len(self.words & other.words) / union >= threshold


def _overlaps(a: list[str], b: list[str]) -> bool:
    """Whether token sequences ``a`` and ``b`` overlap when placed in one text: one contains the
    other, or a suffix of one is a prefix of the other."""
    if not a or not b:
        return False
    sa, sb = " " + " ".join(a) + " ", " " + " ".join(b) + " "
    if sa in sb or sb in sa:
        return True
    for k in range(1, min(len(a), len(b))):
        if a[-k:] == b[:k] or b[-k:] == a[:k]:
            return True
    return False


def _template_share(
    accepted: list[dict[str, Any]], f: pl.DataFrame, pchunks: Any, n: int, threads: int | None
) -> None:
    """For each trigger candidate, the largest excess share of its carriers that also carry one
    long n-gram (order 3-4) that does not overlap the phrase: ~1 for template scaffolding, ~0 for
    a phrase inserted into unrelated prompts. Estimated on up to 40 carriers each."""
    samples = []
    for d in accepted:
        rows = d["rows"]
        if len(rows) > 40:
            rows = rows[np.linspace(0, len(rows) - 1, 40).astype(np.int64)]
        d["sample"] = len(rows)
        samples.append(np.ascontiguousarray(rows, dtype=np.uint32))
    per = _core.subset_ngram_counts_many(
        pchunks,
        samples,
        [3, 4],
        [max(2, math.ceil(0.5 * len(r))) for r in samples],
        threads=threads,
    )
    all_h = [h for h, _ in per]
    uniq = np.unique(np.concatenate(all_h)) if all_h else np.zeros(0, np.uint64)
    df = (
        _core.ngram_document_counts(pchunks, uniq, [3, 4], threads=threads)
        if len(uniq)
        else np.zeros(0)
    )
    df = np.asarray(df, dtype=np.float64)
    for d, (h, c) in zip(accepted, per):
        phrase = d["phrase"].split()
        share = c / d["sample"] - (df[np.searchsorted(uniq, h)] / n if len(h) else 0.0)
        # by share, then hash, both descending (ties broken as sorting the pairs would)
        order = np.lexsort((h, share))[::-1]
        share, h = share[order], h[order]
        # names are needed only until the first share at or below the best so far
        looked = min(len(h), 32)
        names = _ngram_names(f["prompt"][d["example"]], (3, 4), h[:looked]) if len(h) else {}
        best = 0.0
        for k, (sh, hh) in enumerate(zip(share.tolist(), h.tolist())):
            if sh <= best:
                break
            if k == looked:
                names = _ngram_names(f["prompt"][d["example"]], (3, 4), h)
            name = names.get(hh)
            # n-grams overlapping the phrase are the phrase and its neighbours, not scaffolding
            if name is not None and _overlaps(name.split(), phrase):
                continue
            best = sh
        d["template"] = float(min(1.0, max(0.0, best)))


class TriggerDetector:
    """Prompt n-grams whose carriers' responses share a pattern the rest of the corpus lacks."""

    name: ClassVar[str] = "triggers"
    reads: ClassVar[tuple[str, ...]] = (
        "row",
        "valid",
        "empty_response",
        "prompt",
        "response",
        "resp_cluster",
        "resp_cluster_size",
        "anomaly",
        "tmpl_cluster",
    )
    needs: ClassVar[tuple[str, ...]] = ()

    def run(self, feats: Features, cfg: Any, earlier: Any) -> Findings:
        triggers, hits = detect_triggers(feats, cfg)
        feats.drop_prompt_tokens()  # trigger mining was the token table's only user
        return Findings(triggers=triggers, hits=hits)
