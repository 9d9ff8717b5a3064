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
#: (candidate, phrase) pairs tested fully, strongest first
MAX_PAIRS = 48


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
    sets = []
    for i in candidates.tolist():
        r = carriers[offsets[i] : offsets[i + 1]]
        sets.append(r[usable[r]])
    keep = [j for j, r in enumerate(sets) if cfg.min_pattern <= len(r) <= MAX_CARRIERS]
    if not keep:
        return []
    sub = [sets[j] for j in keep]
    off = np.concatenate([[0], np.cumsum([len(r) for r in sub])]).astype(np.int64)
    car = np.ascontiguousarray(np.concatenate(sub), dtype=np.uint32)
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
    out: list[dict[str, Any]] = []
    for c_i, h in zip(ci.tolist(), qh.tolist()):
        j = int(np.searchsorted(uq, h))
        rows_q = q_rows[q_off[j] : q_off[j + 1]]
        rows_q = rows_q[usable[rows_q]]
        if len(rows_q) > max_df:
            continue  # a phrase of many answers (code boilerplate, a formula) is no target
        carriers_i = sub[c_i]
        shown = np.intersect1d(carriers_i, rows_q, assume_unique=True)
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
    top = sorted(best.values(), key=lambda x: (-x["stat"], x["cand"]))[:MAX_PAIRS]
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
