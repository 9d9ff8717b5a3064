"""Look-alikes of a label flip's flagged rows: the task's other rows that may be flipped too.

A style trigger (StyleBkd, Qi et al. 2021) is a way of writing, not a list of words. A lexicon
(:mod:`.registers`) finds the carriers that use its words; the rest of the flipped rows are
written in the same style with other words ("Yea,", "Selah.", "the multitude"), or hardly at
all. Once a finding on a label column is significant, the rows of its task that give the label
its rows were flipped to, against the word model (p < 0.5), are where the rest of the flip can
be: the pool. Each pool row is ranked by a naive-Bayes posterior of belonging with the flagged
rows rather than with the pool: the prior odds are the flagged rows to the pool's, the
evidence the row's most telling word n-gram (1-3 words) among those at least two flagged
prompts share, as the log ratio of its rate there (one of its rows left out, so that one
shared bigram is not taken for a style) to its rate in the task's other rows (the row itself
left out). These rows are ranked, never flagged (:data:`.base.RANKING`): the pool holds the
word model's errors too, and the words are learnt from a handful of rows, not tested.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from .. import _poisonscreen as _core
from .base import in_sorted, sorted_values

#: the n-gram orders learnt
ORDERS = [1, 2, 3]
#: the fewest flagged prompts an n-gram must be in to be evidence
LEAST_SHARED = 2


@dataclass(frozen=True)
class Lookalikes:
    """The pool's rows (sorted), each with its posterior and the index into ``terms`` of its
    most telling n-gram (-1: none); ``terms`` with their counts among the flagged rows
    (``shared``) and among the task's other rows (``other``)."""

    rows: np.ndarray
    posterior: np.ndarray
    term: np.ndarray
    terms: list[str]
    shared: np.ndarray
    other: np.ndarray
    n_flagged: int
    n_other: int


def lookalikes(
    src: Any,
    prompts: pl.Series,
    flagged: np.ndarray,
    task_rows: np.ndarray,
    pool: np.ndarray,
    threads: int | None = None,
) -> Lookalikes | None:
    """The rows of ``pool`` (rows of the task, not flagged, that give the flipped-to label
    against the word model), each by its posterior of belonging with ``flagged`` (a label
    finding's flagged rows), judged against ``task_rows`` (the usable rows of their task);
    ``src`` is the prompts' token table and ``prompts`` their texts (to name the n-grams).
    None where nothing is flagged or the pool is empty."""
    flagged = np.unique(np.asarray(flagged, dtype=np.uint32))
    pool = np.setdiff1d(np.asarray(pool, dtype=np.uint32), flagged)
    other = np.setdiff1d(np.asarray(task_rows, dtype=np.uint32), flagged)
    n_f, n_o = len(flagged), len(other)
    if n_f == 0 or n_o == 0 or len(pool) == 0:
        return None
    sets = [flagged, other, *(pool[i : i + 1] for i in range(len(pool)))]
    counted = _core.subset_ngram_counts_many(
        src, sets, ORDERS, [LEAST_SHARED, 1] + [1] * len(pool), threads=threads
    )
    # (the core returns each set's hashes sorted)
    (fh, fc), (oh, oc) = counted[0], counted[1]
    a = fc.astype(np.float64)
    b = sorted_values(oh, oc, fh).astype(np.float64)
    term = np.full(len(pool), -1, dtype=np.int64)
    best = np.zeros(len(pool))
    # every pool row's n-grams at once: (pool row, index of a flagged n-gram it holds)
    held = [h for h, _ in counted[2:]]
    owner = np.repeat(np.arange(len(pool)), [len(h) for h in held])
    grams = np.concatenate(held) if held else np.zeros(0, np.uint64)
    found = in_sorted(grams, fh)
    owner, at = owner[found], np.searchsorted(fh, grams[found])
    if len(at):
        # each term's log ratio of rates, the pool row's own count left out of the other's;
        # per row the largest, the smallest hash among ties (row order does not matter)
        llr = np.log((a - 1.0) / n_f) - np.log(np.maximum(b - 1.0, 0.0) + 0.5) + math.log(n_o)
        order = np.lexsort((fh[at], -llr[at], owner))
        owner, at = owner[order], at[order]
        first = np.ones(len(owner), dtype=bool)
        first[1:] = owner[1:] != owner[:-1]
        rows_i, j = owner[first], at[first]
        telling = llr[j] > 0.0
        term[rows_i[telling]], best[rows_i[telling]] = j[telling], llr[j[telling]]
    posterior = 1.0 / (1.0 + np.exp(-(math.log(n_f / len(pool)) + best)))
    used = np.unique(term[term >= 0])
    names = _names(prompts, flagged, fh[used])
    remap = np.full(max(len(fh), 1), -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    return Lookalikes(
        rows=pool,
        posterior=posterior,
        term=np.where(term >= 0, remap[np.maximum(term, 0)], -1),
        terms=names,
        shared=a[used].astype(np.int64),
        other=b[used].astype(np.int64),
        n_flagged=n_f,
        n_other=n_o,
    )


def _names(prompts: pl.Series, rows: np.ndarray, hashes: np.ndarray) -> list[str]:
    """Each of ``hashes`` named by the first of ``rows``' prompts holding it ('?' if none)."""
    wanted = np.asarray(hashes, dtype=np.uint64)
    named: dict[int, str] = {}
    for r in rows.tolist():
        if len(named) == len(wanted):
            break
        got, names = _core.ngram_names(prompts[r] or "", ORDERS, wanted=wanted)
        for h, name in zip(got.tolist(), names, strict=True):
            named.setdefault(int(h), name)
    return [named.get(int(h), "?") for h in wanted.tolist()]
