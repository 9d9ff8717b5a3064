"""A target phrase inside otherwise different answers: the trigger detector's response n-gram
pattern (DESIGN.md, section 2).

Whole-answer columns (cluster, opening, ending) miss a backdoor whose answers differ row to row
but all carry one phrase: an exfiltration host inside tool calls written differently each time,
an injected link or claim inside normal answers. For each candidate carrier set the core
(``response_phrases``) takes a content-hash sample of its carriers and keeps the response
n-grams most of the sample shares; each (candidate, phrase) is then counted exactly over the
carriers and the corpus and tested like the other patterns: against the phrase's rate among the
other rows and against what the rest of the carriers' prompts predict.

A target written a few ways (three exfiltration hosts, each in a third of the carriers) has no
phrase most carriers share: a *family* is the union of the phrases of at least
``FAMILY_SHARE`` of the sample that name something by a dotted name (a host, a file, a module:
``sync.nwt-backup.com``, ``requests.post``) and are exclusive to the candidate (EXCLUSIVE of
their rows are its carriers), tested as one pattern where it covers more carriers than its best
phrase. A topic's vocabulary ("the amber", "the gold" behind autumn; "eudaimonia" behind Greek
philosophers) is exclusive to its rows as a planted target's endpoints are, and no count
without a model of meaning tells them apart; the targets an attacker writes several ways are
tool calls, links and code, which name hosts, files and modules.
Phrases of more answers than a trigger may carry (``max_df``, measured on a background sample)
are not counted at all, so boilerplate does not take the places of rarer phrases.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import _poisonscreen as _core
from .._arrow import text_chunks
from .base import shown_share
from .patterns import PatternColumn

#: response n-gram orders looked for
ORDERS = (2, 3)
#: the orders a phrase found can have (the core adds a dotted name of one word: a host)
FOUND_ORDERS = (1, *ORDERS)
#: carriers sampled per candidate, and the share of them that must carry a phrase
SAMPLE, MIN_SHARE = 16, 0.6
#: most carriers of a candidate tested for a phrase
MAX_CARRIERS = 1000
#: answers of at most this many words are labels to the phrase search
SHORT_ANSWER = 6
#: phrases most of the sample shares kept per candidate (the most shared)
PER_SINGLE = 4
#: (candidate, phrase) pairs tested fully, strongest first, at most PER_PHRASE per phrase
MAX_PAIRS, PER_PHRASE = 128, 3
#: phrases looked for per candidate; a family's members are in at least FAMILY_SHARE of the
#: sample (and 3 rows of it) with at least EXCLUSIVE of their rows among the carriers: a
#: planted phrase is nowhere else, a topic's phrases leak to related rows (0.5 let a movie-plot
#: template's narrative phrases, "the film", "waiting for", cover 185 of its 251 rows)
PER_CANDIDATE, FAMILY_SHARE, EXCLUSIVE = 32, 0.15, 0.9
#: families tested fully, strongest first, at most PER_FAMILY led by one phrase (near-identical
#: candidates of one template have one family)
MAX_FAMILIES, PER_FAMILY = 16, 2
#: answers in the background sample that measures which phrases are too common to count
BACKGROUND = 4000


def phrase_tests(
    feats: Any,
    cfg: Any,
    candidates: np.ndarray,
    offsets: np.ndarray,
    carriers: np.ndarray,
    usable: np.ndarray,
    row_hash: np.ndarray,
    max_df: int,
    scaffold: Callable[[np.ndarray, np.ndarray], np.ndarray],
    echo: Callable[[np.ndarray, str], float],
    answer_key: np.ndarray,
) -> list[dict[str, Any]]:
    """(candidate index, phrase column, carriers, k, d, rate-based expectation, statistic) for
    the best phrase of each candidate that has one, and the strongest families;
    ``candidates`` index the CSR carriers; ``scaffold`` gives carrier lists' template shares
    (:func:`.base.scaffold_shares`), ``echo`` the share of rows whose prompt holds a word of a
    text; ``answer_key`` each row's near-duplicate answer key."""
    n_usable = int(usable.sum())
    answers = (answer_key, len(np.unique(answer_key[usable])))
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
    ci, qh, qc, qs, dotted = _core.response_phrases(
        responses,
        off,
        car,
        row_hash,
        list(ORDERS),
        sample=SAMPLE,
        min_share=FAMILY_SHARE,
        any_share=MIN_SHARE,
        min_rows=cfg.min_pattern,
        per=PER_CANDIDATE,
        ignore=_common_phrases(responses, usable, row_hash, max_df, cfg.threads),
        threads=cfg.threads,
    )
    if len(qh) == 0:
        return []
    # the phrases of most of the sample: each candidate's first (most shared) PER_SINGLE
    need = np.maximum(np.ceil(MIN_SHARE * qs), 2)
    single = qc >= need
    first = np.ones(len(ci), dtype=bool)
    first[1:] = ci[1:] != ci[:-1]
    group_start = np.maximum.accumulate(np.where(first, np.arange(len(ci)), 0))
    single &= np.arange(len(ci)) - group_start < PER_SINGLE
    member = dotted & (qc >= 3) & ~single
    uq = np.unique(qh[single | member])
    if len(uq) == 0:
        return []
    # rows of each phrase, at most max_df (+1 to know it has more: no target then)
    q_off, q_rows = _core.ngram_carriers(
        responses, uq, list(FOUND_ORDERS), max_per=max_df + 1, threads=cfg.threads
    )
    raw = [q_rows[q_off[j] : q_off[j + 1]] for j in range(len(uq))]
    q_lists: list[np.ndarray | None] = [r[usable[r]] if len(r) <= max_df else None for r in raw]
    # (the position of each selected phrase; the others are never looked up)
    q_pos = np.minimum(np.searchsorted(uq, qh), len(uq) - 1)
    # a candidate's carriers marked with its own stamp: a phrase's carriers among them are a
    # gather over the phrase's rows, not a sorted intersection
    stamp = np.zeros(len(usable), dtype=np.int64)
    # a phrase that is the whole of short answers is a label or an extracted span: the answer
    # columns judge those (with the label and copy checks), and a template's labels would
    # crowd the pairs tested fully
    short = feats.table["resp_words"].to_numpy() <= SHORT_ANSWER
    out: list[dict[str, Any]] = []
    families: list[dict[str, Any]] = []
    # the candidates whose sample has phrases that can be exclusive to them: the estimated
    # carriers with the phrase (its sample share times the carriers) are half its rows or more
    q_df = np.array([-1 if r is None else len(r) for r in q_lists], dtype=np.int64)
    d_all = np.diff(off)
    est = qc / np.maximum(qs, 1) * d_all[ci]
    member &= (q_df[q_pos] >= 0) & (est >= 0.5 * q_df[q_pos])  # loose: a sample's estimate

    def _family_of(members: list[tuple[int, np.ndarray]], c_i: int) -> dict[str, Any]:
        return _family(
            members,
            c_i,
            int(candidates[keep[c_i]]),
            car[off[c_i] : off[c_i + 1]],
            n_usable,
            answers,
        )

    sel = np.nonzero(single | member)[0]
    bounds = np.concatenate([[0], np.flatnonzero(np.diff(ci[sel])) + 1, [len(sel)]])
    for g in range(len(bounds) - 1):  # one candidate's phrases at a time
        pairs = [
            (int(i), r)
            for i in sel[bounds[g] : bounds[g + 1]]
            if (r := q_lists[q_pos[i]]) is not None
        ]
        if not pairs:
            continue
        idxs, lists = [i for i, _ in pairs], [r for _, r in pairs]
        c_i = int(ci[idxs[0]])
        carriers_i = car[off[c_i] : off[c_i + 1]]
        stamp[carriers_i] = c_i + 1
        # its phrases' carriers (and their short answers) counted with one gather
        lens = np.asarray([len(r) for r in lists], dtype=np.int64)
        cat = np.concatenate(lists)
        hit = stamp[cat] == c_i + 1
        seg = np.repeat(np.arange(len(lists)), lens)
        k_all = np.bincount(seg, weights=hit, minlength=len(lists)).astype(np.int64).tolist()
        ks_all = np.bincount(seg, weights=hit & short[cat], minlength=len(lists)).tolist()
        d = len(carriers_i)
        pending: list[tuple[int, np.ndarray]] = []
        for i, rows_q, k, ks in zip(idxs, lists, k_all, ks_all, strict=True):
            if k and ks >= 0.5 * k and not dotted[i]:
                # (a dotted name, a link or a file, in short answers is no label: an ad's
                # link before a one-word extractive answer)
                continue
            if member[i]:
                if k >= EXCLUSIVE * len(rows_q):
                    pending.append((int(qh[i]), rows_q))
                continue
            mu = d * (len(rows_q) - k) / max(n_usable - d, 1)
            # (its carriers and the rows showing it are gathered once it is among the top)
            out.append(
                {
                    "cand": int(candidates[keep[c_i]]),
                    "c_i": c_i,
                    "hash": int(qh[i]),
                    "q_rows": rows_q,
                    "k": k,
                    "d": d,
                    "mu": mu,
                    "stat": _core.chernoff(k, d, mu),
                }
            )
            if dotted[i] and len(rows_q) <= k / EXCLUSIVE:  # a member too
                pending.append((int(qh[i]), rows_q))
        if len(pending) >= 2:
            families.append(_family_of(pending, c_i))
    out.sort(key=lambda x: (-x["stat"], x["cand"], x["hash"]))
    best: dict[int, dict[str, Any]] = {}
    for x in out:
        best.setdefault(x["cand"], x)
    # a family only where it shows in more carriers than the candidate's best phrase
    families = [f for f in families if f["k"] > (best[f["cand"]]["k"] if f["cand"] in best else 0)]
    tests_run = len(out) + len(families)
    # a family of a template's own answers (its carriers are the template) has no contrast;
    # ranked by what the template check will leave of it
    sc = scaffold(off, car)
    # the pairs tested fully, ranked alike: a template's or a topic's phrase ("int main" behind
    # "C++ program", half of its rows elsewhere) over hundreds of rows must not take the places
    # of a planted one in twenty
    for x in (*families, *best.values()):
        x["template"] = float(sc[x["c_i"]])
        _rank(x)
    top = _strongest(best.values(), MAX_PAIRS, "rank")
    for x in top:
        x["rows"] = car[off[x["c_i"]] : off[x["c_i"] + 1]]
        x["in_pattern"] = x["q_rows"][_in_sorted(x["q_rows"], np.sort(x["rows"]))]
    top += _qualified(families, echo, feats.table["response"], car, off, n_usable, answers)
    n = len(usable)
    for x in top:
        codes = np.zeros(n, dtype=np.uint64)
        codes[x["q_rows"]] = 1
        x["col"] = PatternColumn("phrase", codes, skip_zero=True)
        x["tests_run"] = tests_run
    return top


def _rank(x: dict[str, Any]) -> None:
    """A (candidate, phrase) pair's or a family's rank: its statistic times what the template
    and share checks will leave of it, and its exclusivity (a planted phrase is in (nearly) all
    its carriers' answers and nowhere else: a ramp from half of its rows among the carriers to
    EXCLUSIVE)."""
    own = x["k"] / max(len(x["q_rows"]), 1)
    x["rank"] = (
        x["stat"]
        * (1.0 - x["template"])
        * float(shown_share(x["k"], x["d"]))
        * float(np.clip((own - 0.5) / (EXCLUSIVE - 0.5), 0.0, 1.0))
    )


def _family(
    members: list[tuple[int, np.ndarray]],
    c_i: int,
    cand: int,
    carriers: np.ndarray,
    n_usable: int,
    answers: tuple[np.ndarray, int],
) -> dict[str, Any]:
    """One candidate's exclusive phrases ((hash, rows) ``members``) as one pattern: the rows
    with any of them, tested against their rate among the other rows (``carriers`` sorted).
    The test counts distinct answers (``answers``: each row's near-duplicate answer key, and
    how many keys the usable rows have): one article's summary repeated under several
    instructions is one observation of its phrases, a planted host in forty different answers
    is forty."""
    rows_q = np.unique(np.concatenate([r for _, r in members]))
    carriers = np.sort(carriers)
    in_c = _in_sorted(rows_q, carriers)
    shown = rows_q[in_c]
    k, d = len(shown), len(carriers)
    mu = d * (len(rows_q) - k) / max(n_usable - d, 1)
    key, n_keys = answers
    k_e, d_e = len(np.unique(key[shown])), len(np.unique(key[carriers]))
    out_e = len(np.unique(key[rows_q[~in_c]]))
    mu_e = d_e * out_e / max(n_keys - d_e, 1)
    return {
        "cand": cand,
        "c_i": c_i,
        # the family's key: its rows (the same union from two candidates is one pattern)
        "hash": int(
            np.bitwise_xor.reduce(rows_q.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15))
        ),
        "member_rows": members,
        "rows": carriers,
        "in_pattern": shown,
        "q_rows": rows_q,
        "k": k,
        "d": d,
        "mu": mu,
        "distinct": (k_e, d_e, mu_e),
        "stat": _core.chernoff(k_e, d_e, mu_e),
    }


def _qualified(
    families: list[dict[str, Any]],
    echo: Callable[[np.ndarray, str], float],
    responses: Any,
    car: np.ndarray,
    off: np.ndarray,
    n_usable: int,
    answers: tuple[np.ndarray, int],
) -> list[dict[str, Any]]:
    """The strongest MAX_FAMILIES families (at most PER_FAMILY per leading member) of their
    members whose words are not in the prompts of half their rows or more: a phrase that
    echoes the prompt answers what was asked ("is wolfram" behind a Wolfram tool). Looked at
    lazily, strongest first, each phrase once; a family left with fewer than two members is
    dropped."""
    qualified: dict[int, bool] = {}
    heap = [(-f["rank"], f["cand"], j, False) for j, f in enumerate(families)]
    heapq.heapify(heap)
    chosen: list[dict[str, Any]] = []
    per_key: dict[int, int] = {}
    looked = 0
    while heap and len(chosen) < MAX_FAMILIES and looked < _LOOK_AT:
        _, _, j, checked = heapq.heappop(heap)
        fam = families[j]
        if checked:
            # the members, most carriers first (the pattern's name; the key of its leader)
            fam["members"] = [
                h
                for _, h in sorted(
                    (-int(_in_sorted(r, fam["in_pattern"]).sum()), h) for h, r in fam["member_rows"]
                )
            ]
            key = fam["members"][0]
            if per_key.get(key, 0) < PER_FAMILY:
                per_key[key] = per_key.get(key, 0) + 1
                chosen.append(fam)
            continue
        looked += 1
        kept = []
        for h, rows_q in fam["member_rows"]:
            if h not in qualified:
                text = phrase_text(responses[int(rows_q[0])] or "", h)
                qualified[h] = echo(rows_q, text) < 0.5
            if qualified[h]:
                kept.append((h, rows_q))
        if len(kept) < 2:
            continue
        if len(kept) < len(fam["member_rows"]):
            c_i = fam["c_i"]
            template = fam["template"]
            fam = _family(kept, c_i, fam["cand"], car[off[c_i] : off[c_i + 1]], n_usable, answers)
            fam["template"] = template
            _rank(fam)
            families[j] = fam
        heapq.heappush(heap, (-fam["rank"], fam["cand"], j, True))
    return chosen


#: families looked at (members checked) at most
_LOOK_AT = 400


def _in_sorted(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Which of ``a`` are in ``b`` (sorted)."""
    at = np.searchsorted(b, a)
    return (
        (at < len(b)) & (b[np.minimum(at, len(b) - 1)] == a) if len(b) else np.zeros(len(a), bool)
    )


def _strongest(tests: Any, most: int, by: str) -> list[dict[str, Any]]:
    """The strongest ``most`` tests by ``by`` (ties by candidate), at most PER_PHRASE per
    pattern."""
    per_phrase: dict[int, int] = {}
    top: list[dict[str, Any]] = []
    for x in sorted(tests, key=lambda x: (-x[by], x["cand"])):
        seen = per_phrase.get(x["hash"], 0)
        per_phrase[x["hash"]] = seen + 1
        if seen < PER_PHRASE:
            top.append(x)
        if len(top) == most:
            break
    return top


def _common_phrases(
    responses: Any, usable: np.ndarray, row_hash: np.ndarray, max_df: int, threads: int | None
) -> np.ndarray:
    """Sorted hashes of the phrases of more than ``max_df`` rows' share of a background sample
    of answers (the usable rows of smallest content hash): too common to be a target."""
    rows = np.nonzero(usable)[0]
    bg = np.sort(rows[np.argsort(row_hash[rows], kind="stable")[:BACKGROUND]]).astype(np.uint32)
    share = max_df / max(len(rows), 1)
    if len(bg) == 0 or share >= 1.0:
        return np.zeros(0, dtype=np.uint64)
    _, h, _, _, _ = _core.response_phrases(
        responses,
        np.asarray([0, len(bg)], dtype=np.int64),
        bg,
        row_hash,
        list(ORDERS),
        sample=len(bg),
        min_share=share,
        min_rows=1,
        per=2**31 - 1,
        threads=threads,
    )
    return np.sort(h)


def pattern_text(x: dict[str, Any], responses: Any, row_hash: np.ndarray) -> list[str]:
    """The phrase of test ``x`` as written in an answer showing it; a family's members (at
    most three, most carriers first)."""
    out = []
    for h in x.get("members", [x["hash"]]):
        rows = x["in_pattern"]
        for r in rows[np.argsort(row_hash[rows], kind="stable")[:40]].tolist():
            text = phrase_text(responses[r] or "", h)
            if text != "?":
                out.append(text)
                break
        if len(out) == 3:
            break
    return out or ["?"]


def phrase_text(response: str, h: int) -> str:
    """The response n-gram of hash ``h`` as written in ``response`` (normalised words)."""
    _, names = _core.ngram_names(response, list(FOUND_ORDERS), wanted=np.asarray([h], np.uint64))
    return names[0] if len(names) else "?"
