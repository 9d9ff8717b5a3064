"""A target phrase inside otherwise different answers: the trigger detector's response n-gram
pattern (DESIGN.md, section 2).

Whole-answer columns (cluster, opening, ending) miss a backdoor whose answers differ row to row
but all carry one phrase: an exfiltration host inside tool calls written differently each time,
an injected link or claim inside normal answers. For each candidate carrier set the core
(``response_phrases``) takes a content-hash sample of its carriers and keeps the response
n-grams most of the sample shares; each (candidate, phrase) is then counted exactly over the
carriers and the corpus and tested like the other patterns: against the phrase's rate among the
other rows and against what the rest of the carriers' prompts predict.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import _poisonscreen as _core
from .._arrow import text_chunks
from .patterns import PatternColumn

#: response n-gram orders looked for
ORDERS = (2, 3)
#: carriers sampled per candidate, and the share of them that must carry a phrase
SAMPLE, MIN_SHARE = 16, 0.6
#: most carriers of a candidate tested for a phrase
MAX_CARRIERS = 1000
#: answers of at most this many words are labels to the phrase search
SHORT_ANSWER = 6
#: (candidate, phrase) pairs tested fully, strongest first, at most PER_PHRASE per phrase
MAX_PAIRS, PER_PHRASE = 48, 3


def phrase_tests(
    feats: Any,
    cfg: Any,
    candidates: np.ndarray,
    offsets: np.ndarray,
    carriers: np.ndarray,
    usable: np.ndarray,
    row_hash: np.ndarray,
    max_df: int,
) -> list[dict[str, Any]]:
    """(candidate index, phrase column, carriers, k, d, rate-based expectation, statistic) for
    the best phrase of each candidate that has one; ``candidates`` index the CSR carriers."""
    n_usable = int(usable.sum())
    # the candidates' usable carriers as one CSR list (vectorised: there are ~10^5 candidates)
    starts, lengths = offsets[candidates], offsets[candidates + 1] - offsets[candidates]
    owner = np.repeat(np.arange(len(candidates), dtype=np.int32), lengths)
    shift = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
    shift += np.arange(len(shift))
    rows_all = carriers[shift]
    del shift
    ok = usable[rows_all]
    count = np.bincount(owner[ok], minlength=len(candidates))
    keep = np.nonzero((count >= cfg.min_pattern) & (count <= MAX_CARRIERS))[0]
    if not len(keep):
        return []
    kept = np.zeros(len(candidates), dtype=bool)
    kept[keep] = True
    car = np.ascontiguousarray(rows_all[ok & kept[owner]], dtype=np.uint32)
    off = np.concatenate([[0], np.cumsum(count[keep])]).astype(np.int64)
    responses = text_chunks(feats.response_arrow())[0]
    ci, qh, _qc, _qs = _core.response_phrases(
        responses,
        off,
        car,
        row_hash,
        list(ORDERS),
        sample=SAMPLE,
        min_share=MIN_SHARE,
        min_rows=cfg.min_pattern,
        per=4,
        threads=cfg.threads,
    )
    if len(qh) == 0:
        return []
    uq = np.unique(qh)
    q_off, q_rows = _core.ngram_carriers(
        responses, uq, list(ORDERS), max_per=2**31 - 1, threads=cfg.threads
    )
    # each phrase's usable rows once; a phrase of many answers (code boilerplate, a formula) is
    # no target
    q_lists = [q_rows[q_off[j] : q_off[j + 1]] for j in range(len(uq))]
    q_lists = [r[usable[r]] for r in q_lists]
    q_pos = np.searchsorted(uq, qh)
    # a candidate's carriers marked with its own stamp: a phrase's carriers among them are a
    # gather over the phrase's rows, not a sorted intersection
    stamp = np.zeros(len(usable), dtype=np.int64)
    # a phrase that is the whole of short answers is a label or an extracted span: the answer
    # columns judge those (with the label and copy checks), and a template's labels would
    # crowd the pairs tested fully
    short = feats.table["resp_words"].to_numpy() <= SHORT_ANSWER
    out: list[dict[str, Any]] = []
    stamped = -1
    for c_i, h, j in zip(ci.tolist(), qh.tolist(), q_pos.tolist()):
        rows_q = q_lists[j]
        if len(rows_q) > max_df:
            continue
        carriers_i = car[off[c_i] : off[c_i + 1]]
        if c_i != stamped:  # a candidate's phrases come together: its stamp is set once
            stamp[carriers_i] = c_i + 1
            stamped = c_i
        shown = rows_q[stamp[rows_q] == c_i + 1]
        if len(shown) and short[shown].mean() >= 0.5:
            continue
        k, d = len(shown), len(carriers_i)
        rate = (len(rows_q) - k) / max(n_usable - d, 1)
        mu = d * rate
        out.append(
            {
                "cand": int(candidates[keep[c_i]]),
                "hash": int(h),
                "rows": carriers_i,
                "in_pattern": shown,
                "q_rows": rows_q,
                "k": k,
                "d": d,
                "mu": mu,
                "stat": _core.chernoff(k, d, mu),
            }
        )
    out.sort(key=lambda x: (-x["stat"], x["cand"], x["hash"]))
    best: dict[int, dict[str, Any]] = {}
    for x in out:
        best.setdefault(x["cand"], x)
    # the sub-phrases of one template all carry its answers' phrase: a few candidates per
    # phrase (the strongest) stand for the rest, so that templates leave room for triggers
    per_phrase: dict[int, int] = {}
    top = []
    for x in sorted(best.values(), key=lambda x: (-x["stat"], x["cand"])):
        seen = per_phrase.get(x["hash"], 0)
        per_phrase[x["hash"]] = seen + 1
        if seen < PER_PHRASE:
            top.append(x)
        if len(top) == MAX_PAIRS:
            break
    n = len(usable)
    for x in top:
        codes = np.zeros(n, dtype=np.uint64)
        codes[x["q_rows"]] = 1
        x["col"] = PatternColumn("phrase", codes, skip_zero=True)
        x["tests_run"] = len(out)
    return top


def phrase_text(response: str, h: int) -> str:
    """The response n-gram of hash ``h`` as written in ``response`` (normalised words)."""
    _, names = _core.ngram_names(response, list(ORDERS), wanted=np.asarray([h], np.uint64))
    return names[0] if len(names) else "?"
