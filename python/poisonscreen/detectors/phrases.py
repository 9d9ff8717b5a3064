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
from .base import in_sorted, list_positions, n_distinct, shown_share
from .patterns import OUTSIDE, PatternColumn

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
#: opening columns whose values a paraphrased target spreads over (:func:`answer_pools`);
#: a pool's values are each in POOL_ROWS or more carriers; pools tested fully, at most
POOL_COLUMNS, POOL_ROWS, MAX_POOLS = ("head3",), 3, 16
#: answers of at most this many words are told apart by their text, not their near-duplicate
#: key, in a pool's distinct-answer count
NEAR_WORDS = 12
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
    echo: Callable[..., float],
    words: Any,
    answer_key: np.ndarray,
    pool_columns: list[PatternColumn],
) -> list[dict[str, Any]]:
    """(candidate index, phrase column, carriers, k, d, rate-based expectation, statistic) for
    the best phrase of each candidate that has one, and the strongest families;
    ``candidates`` index the CSR carriers; ``scaffold`` gives carrier lists' template shares
    (:func:`.base.scaffold_shares`), ``echo(rows, text, common, most=, stems=)`` the share of
    rows whose prompt holds a word of a text not in ``common`` (``words``: the corpus's word
    sets, ``stop`` and ``topical``); ``answer_key`` each row's near-duplicate answer key;
    ``pool_columns`` the opening columns whose values a paraphrased target spreads over
    (:func:`answer_pools`)."""
    answers = (answer_key, len(np.unique(answer_key[usable])))
    # the candidates' usable carriers as one CSR list
    off, car = _core.gather_lists(offsets, carriers, candidates.astype(np.uint32), usable)
    count = np.diff(off)
    keep = np.nonzero((count >= cfg.min_pattern) & (count <= MAX_CARRIERS))[0]
    if not len(keep):
        return []
    if len(keep) < len(candidates):
        off, car = _core.gather_lists(off, car, keep.astype(np.uint32), usable)
    pools, n_pools = answer_pools(
        pool_columns,
        candidates[keep],
        off,
        car,
        usable,
        feats.table["resp_words"].to_numpy(),
        scaffold,
        # (an opening echoes its prompts by a word that names a topic: one of under 5% of rows)
        lambda r, text: echo(r, text, words.topical, most=8),
        feats.table["response"],
        row_hash,
        answer_key,
    )
    found = _phrases(
        feats,
        cfg,
        candidates,
        keep,
        off,
        car,
        usable,
        row_hash,
        max_df,
        scaffold,
        # a family's members by their words or stems; a pair as judging discounts it
        lambda r, text: echo(r, text, words.stop, most=8, stems=True),
        lambda r, text: echo(r, text, words.stop),
        answers,
    )
    tests_run = (found[0]["tests_run"] if found else 0) + n_pools
    for x in found + pools:
        x["tests_run"] = tests_run
    return found + pools


def _phrases(
    feats: Any,
    cfg: Any,
    candidates: np.ndarray,
    keep: np.ndarray,
    off: np.ndarray,
    car: np.ndarray,
    usable: np.ndarray,
    row_hash: np.ndarray,
    max_df: int,
    scaffold: Callable[[np.ndarray, np.ndarray], np.ndarray],
    echo: Callable[[np.ndarray, str], float],
    pair_echo: Callable[[np.ndarray, str], float],
    answers: tuple[np.ndarray, int],
) -> list[dict[str, Any]]:
    """The phrase tests of :func:`phrase_tests` over the kept candidates' carriers (CSR ``off``,
    ``car``; ``candidates[keep]`` their indices)."""
    n_usable = int(usable.sum())
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
    # each phrase's usable rows (CSR), and how many (-1: more than max_df, no target then)
    cum = np.concatenate([[0], np.cumsum(usable[q_rows])]).astype(np.int64)
    u_off, u_rows = cum[q_off], q_rows[usable[q_rows]]
    q_df = np.where(np.diff(q_off) <= max_df, np.diff(u_off), -1)

    def phrase_rows(j: int) -> np.ndarray:
        return u_rows[u_off[j] : u_off[j + 1]]

    # (the position of each selected phrase; the others are never looked up)
    q_pos = np.minimum(np.searchsorted(uq, qh), len(uq) - 1)
    # the candidates whose sample has phrases that can be exclusive to them: the estimated
    # carriers with the phrase (its sample share times the carriers) are half its rows or more
    d_all = np.diff(off)
    est = qc / np.maximum(qs, 1) * d_all[ci]
    member &= (q_df[q_pos] >= 0) & (est >= 0.5 * q_df[q_pos])  # loose: a sample's estimate
    sel = np.nonzero(single | member)[0]
    sel = sel[q_df[q_pos[sel]] >= 0]
    # each (candidate, phrase)'s carriers showing the phrase, and of them those with short
    # answers: a phrase that is the whole of short answers is a label or an extracted span (the
    # answer columns judge those, with the label and copy checks; a template's labels would
    # crowd the pairs tested fully)
    pc, pq = ci[sel].astype(np.int64), q_pos[sel]
    short = feats.table["resp_words"].to_numpy() <= SHORT_ANSWER
    k32, ks32 = _core.list_overlaps(
        off,
        car,
        u_off,
        u_rows,
        pc.astype(np.uint32),
        pq.astype(np.uint32),
        np.ascontiguousarray(short),
        threads=cfg.threads,
    )
    k, ks = k32.astype(np.int64), ks32.astype(np.int64)
    q_n, dot = q_df[pq], dotted[sel]
    # (a dotted name, a link or a file, in short answers is no label: an ad's link before a
    # one-word extractive answer)
    label = (k > 0) & (ks >= 0.5 * k) & ~dot
    # a family's members: exclusive phrases (and dotted ones of the pairs tested alone)
    pending = ~label & np.where(member[sel], k >= EXCLUSIVE * q_n, dot & (q_n <= k / EXCLUSIVE))
    # the (candidate, phrase) pairs tested alone, and each candidate's strongest
    t = np.nonzero(~label & ~member[sel])[0]
    d_t = d_all[pc[t]]
    mu_t = d_t * (q_n[t] - k[t]) / np.maximum(n_usable - d_t, 1)
    stat_t = np.array(
        [_core.chernoff(a, b, c) for a, b, c in zip(k[t].tolist(), d_t.tolist(), mu_t.tolist())],
        dtype=np.float64,
    )
    h_t = qh[sel[t]]
    by_stat = np.lexsort((h_t, pc[t], -stat_t))
    b = by_stat[np.unique(pc[t][by_stat], return_index=True)[1]]
    b_c, b_k = pc[t][b], k[t][b]
    best_k = np.zeros(len(keep), dtype=np.int64)
    best_k[b_c] = b_k
    # families: a candidate's pending members, where they can show in more carriers than its
    # best phrase (a family's carriers are at most its members' together)
    families: list[dict[str, Any]] = []
    pi = np.nonzero(pending)[0]
    bounds = np.concatenate([[0], np.flatnonzero(np.diff(pc[pi])) + 1, [len(pi)]])
    todo: list[tuple[int, np.ndarray]] = []
    for g in range(len(bounds) - 1):
        grp = pi[bounds[g] : bounds[g + 1]]
        if len(grp) < 2:
            continue
        c_i = int(pc[grp[0]])
        if min(int(k[grp].sum()), int(d_all[c_i])) <= best_k[c_i]:
            continue
        todo.append((c_i, grp))
    # (a family is built only where its carriers showing a member, counted for every family at
    # once, beat the candidate's best phrase)
    for (c_i, grp), shown_k in zip(todo, _family_counts(todo, pq, u_off, u_rows, off, car)):
        if shown_k <= best_k[c_i]:
            continue
        families.append(
            _family(
                [(int(qh[sel[j]]), phrase_rows(int(pq[j]))) for j in grp.tolist()],
                c_i,
                int(candidates[keep[c_i]]),
                car[off[c_i] : off[c_i + 1]],
                n_usable,
                answers,
            )
        )
    tests_run = len(t) + len(families)
    # a family of a template's own answers (its carriers are the template) has no contrast;
    # ranked by what the template check will leave of it
    lists = np.unique(np.concatenate([b_c, [f["c_i"] for f in families]]).astype(np.int64))
    sc = scaffold(*_core.gather_lists(off, car, lists.astype(np.uint32), usable))
    template = {int(c): float(v) for c, v in zip(lists.tolist(), sc.tolist())}
    for f in families:
        f["template"] = template[f["c_i"]]
        _rank(f)
    # the pairs tested fully, ranked alike: a template's or a topic's phrase ("int main" behind
    # "C++ program", half of its rows elsewhere) over hundreds of rows must not take the places
    # of a planted one in twenty
    b_t = t[b]
    b_q = pq[b_t]
    rank = _rank_of(
        stat_t[b], np.array([template[c] for c in b_c.tolist()]), b_k, d_all[b_c], q_n[b_t]
    )
    # ... and lazily, strongest first, by how few of their rows' prompts hold the phrase's words
    # (the discount judging applies: a topic's phrase, "the derivative" behind derivative
    # questions, over a hundred rows outranks a planted one in fifteen by its statistic alone)
    responses = feats.table["response"]
    heap = [(-float(r), int(c), j, False) for j, (r, c) in enumerate(zip(rank, b_c))]
    heapq.heapify(heap)
    top: list[dict[str, Any]] = []
    per_phrase: dict[int, int] = {}
    looked = 0
    shown_of: dict[int, np.ndarray] = {}  # (a pair looked at is popped twice)
    while heap and len(top) < MAX_PAIRS:
        neg, c_i, j, checked = heapq.heappop(heap)
        h = int(h_t[b[j]])
        rows_q = phrase_rows(int(b_q[j]))
        rows_c = car[off[c_i] : off[c_i + 1]]
        if j not in shown_of:
            shown_of[j] = rows_q[in_sorted(rows_q, np.sort(rows_c))]
        shown = shown_of[j]
        if not checked and looked < _LOOK_AT_PAIRS and len(shown):
            looked += 1
            text = phrase_text(responses[int(shown[np.argmin(row_hash[shown])])] or "", h)
            heapq.heappush(heap, (neg * (1.0 - pair_echo(shown, text)), c_i, j, True))
            continue
        seen = per_phrase.get(h, 0)  # at most PER_PHRASE per phrase
        per_phrase[h] = seen + 1
        if seen >= PER_PHRASE:
            continue
        top.append(
            {
                "cand": int(candidates[keep[c_i]]),
                "c_i": c_i,
                "hash": h,
                "q_rows": rows_q,
                "k": int(b_k[j]),
                "d": int(d_all[c_i]),
                "mu": float(mu_t[b[j]]),
                "stat": float(stat_t[b[j]]),
                "template": template[c_i],
                "rank": -neg,
                "rows": rows_c,
                "in_pattern": shown,
            }
        )
    top += _qualified(families, echo, feats.table["response"], car, off, n_usable, answers)
    n = len(usable)
    for x in top:
        codes = np.zeros(n, dtype=np.uint64)
        codes[x["q_rows"]] = 1
        x["col"] = PatternColumn("phrase", codes, skip_zero=True)
        x["tests_run"] = tests_run
    return top


def _rank(x: dict[str, Any]) -> None:
    """A family's rank (:func:`_rank_of`)."""
    x["rank"] = float(_rank_of(x["stat"], x["template"], x["k"], x["d"], len(x["q_rows"])))


def _rank_of(stat: Any, template: Any, k: Any, d: Any, q_n: Any) -> Any:
    """The rank of (candidate, phrase) pairs or families: the statistic times what the template
    and share checks will leave of it, and its exclusivity (a planted phrase is in (nearly) all
    its carriers' answers and nowhere else: a ramp from half of its ``q_n`` rows among the
    carriers to EXCLUSIVE); scalars or arrays."""
    own = np.asarray(k, dtype=np.float64) / np.maximum(q_n, 1)
    return (
        stat
        * (1.0 - np.asarray(template, dtype=np.float64))
        * shown_share(k, d)
        * np.clip((own - 0.5) / (EXCLUSIVE - 0.5), 0.0, 1.0)
    )


def answer_pools(
    columns: list[PatternColumn],
    cand: np.ndarray,
    off: np.ndarray,
    car: np.ndarray,
    usable: np.ndarray,
    resp_words: np.ndarray,
    scaffold: Callable[[np.ndarray, np.ndarray], np.ndarray],
    echo: Callable[[np.ndarray, str], float],
    responses: Any,
    row_hash: np.ndarray,
    answer_key: np.ndarray,
) -> tuple[list[dict[str, Any]], int]:
    """A paraphrased target: the carriers' answers spread over a few values of an opening
    column (five insults before the normal answer), each value in POOL_ROWS or more carriers
    with as many different answers (``answer_key``, or the text of an answer of NEAR_WORDS or
    fewer: one plot repeated under several questions is one answer) and (nearly) nowhere else
    (EXCLUSIVE of its rows among them). Each value alone is shown by too small a share of the
    carriers to count; their union, a *pool*, is tested as one pattern against the pooled
    values' rate among the other rows. Only answers that go on past the column's window count
    (``resp_words``: a label of three words is its whole answer; a task's labels are a few
    values exclusive to its instruction too, each one answer to the distinct-answer rule), and
    a value whose words its rows' prompts hold (``echo`` half or more: one article's summary
    under several instructions) is no member. ``cand`` are the candidates of the CSR lists
    (``off``, ``car``: usable carriers). Returns the strongest MAX_POOLS pools (at most
    PER_FAMILY per value set) as phrase-test hypotheses, and how many pools were tested."""
    n_lists = len(off) - 1
    if n_lists <= 0 or not columns:
        return [], 0
    n_usable = int(usable.sum())
    d_all = np.diff(off)
    found: list[dict[str, Any]] = []
    n_tests = 0
    # a short answer's near-duplicate key is its opening's (three label-sized answers behind
    # one insult are one cluster): it is its own text instead (hashed only where an answer
    # goes on past a window: the rows a pool can count)
    windows = [int(col.name[4:]) for col in columns]
    brief = np.flatnonzero(usable & (resp_words > min(windows)) & (resp_words <= NEAR_WORDS))
    answer_key = answer_key.copy()
    answer_key[brief] = responses.gather(brief).hash(seed=0).to_numpy()
    for col, window in zip(columns, windows):
        codes = col.codes
        ok = usable & (resp_words > window) & (codes != OUTSIDE)
        if col.skip_zero:
            ok &= codes != 0
        vals, inv, g = np.unique(codes[ok], return_inverse=True, return_counts=True)
        if len(vals) == 0:
            continue
        # each value's different answers (one answer repeated under several instructions is
        # one observation of its opening)
        keys, key_of = np.unique(answer_key[ok], return_inverse=True)
        pairs = np.unique(inv.astype(np.int64) * len(keys) + key_of)
        distinct = np.bincount(pairs // len(keys), minlength=len(vals))
        # (candidate, value) of the carriers whose value can be a member: 3+ rows of as many
        # answers, few enough for EXCLUSIVE of them to be one candidate's carriers
        fit = (g >= POOL_ROWS) & (distinct >= POOL_ROWS) & (g * EXCLUSIVE <= MAX_CARRIERS)
        at = np.full(len(codes), -1, dtype=np.int64)
        at[np.flatnonzero(ok)[fit[inv]]] = inv[fit[inv]]
        pos = np.flatnonzero((at >= 0)[car])  # (a byte per carrier read, not eight)
        if not len(pos):
            continue
        owner = np.searchsorted(off, pos, side="right") - 1
        key, cnt = np.unique(owner * len(vals) + at[car[pos]], return_counts=True)
        c_of, v_of = key // len(vals), key % len(vals)
        member = (cnt >= POOL_ROWS) & (cnt >= EXCLUSIVE * g[v_of])
        c_of, v_of, cnt = c_of[member], v_of[member], cnt[member]
        if not len(c_of):
            continue
        lists, start, n_values = np.unique(c_of, return_index=True, return_counts=True)
        k, q = np.add.reduceat(cnt, start), np.add.reduceat(g[v_of], start)
        pooled = n_values >= 2
        lists, start, n_values, k, q = (a[pooled] for a in (lists, start, n_values, k, q))
        if not len(lists):
            continue
        n_tests += len(lists)
        d = d_all[lists]
        stat = np.array(
            [
                _core.chernoff(a, b, b * (c - a) / max(n_usable - b, 1))
                for a, b, c in zip(k.tolist(), d.tolist(), q.tolist())
            ]
        )
        # looked at strongest first (by statistic and shown share), each value's echo once
        qualified: dict[int, bool] = {}
        kept: list[dict[str, Any]] = []
        pre = stat * shown_share(k, d)
        for x_i in np.lexsort((lists, -pre))[:_LOOK_AT].tolist():
            if pre[x_i] <= 0 or len(kept) == 4 * MAX_POOLS:
                break
            c_i = int(lists[x_i])
            rows_c = car[off[c_i] : off[c_i + 1]]
            values, counts = [], []
            for j in range(int(start[x_i]), int(start[x_i] + n_values[x_i])):
                value = int(vals[v_of[j]])
                if value not in qualified:
                    rows_v = rows_c[codes[rows_c] == value]
                    text = _value_text(col.name, responses, rows_v, row_hash)
                    qualified[value] = (
                        len(np.unique(answer_key[rows_v])) >= POOL_ROWS and echo(rows_v, text) < 0.5
                    )
                if qualified[value]:
                    values.append(value)
                    counts.append((int(cnt[j]), int(g[v_of[j]])))
            if len(values) < 2:
                continue
            k_p, q_p = sum(c for c, _ in counts), sum(t for _, t in counts)
            d_p = int(d_all[c_i])
            mu = d_p * (q_p - k_p) / max(n_usable - d_p, 1)
            x: dict[str, Any] = {"c_i": c_i, "values": np.asarray(values, np.uint64), "k": k_p}
            x.update(d=d_p, mu=mu, stat=_core.chernoff(k_p, d_p, mu), q=q_p)
            x["template"] = float(scaffold(np.asarray([0, d_p], dtype=np.int64), rows_c)[0])
            x["rank"] = float(_rank_of(x["stat"], x["template"], k_p, d_p, q_p))
            kept.append(x)
        per_key: dict[int, int] = {}
        chosen = 0
        for x in sorted(kept, key=lambda x: (-x["rank"], x["c_i"])):
            if chosen == MAX_POOLS or x["rank"] <= 0:
                break
            h = int(np.bitwise_xor.reduce(x["values"] * np.uint64(0x9E3779B97F4A7C15)))
            if per_key.get(h, 0) >= PER_FAMILY:
                continue
            per_key[h] = per_key.get(h, 0) + 1
            chosen += 1
            c_i = x["c_i"]
            in_pool = np.isin(codes, x["values"]) & ok
            rows_c = car[off[c_i] : off[c_i + 1]]
            shown = np.sort(rows_c[in_pool[rows_c]])
            x.update(
                cand=int(cand[c_i]),
                hash=h,
                rows=rows_c,
                q_rows=np.nonzero(in_pool)[0],
                in_pattern=shown,
                col=PatternColumn(f"{col.name}_pool", in_pool.astype(np.uint64), skip_zero=True),
                text=_pool_texts(col.name, codes, x["values"], shown, responses, row_hash),
            )
            del x["values"], x["q"]
            found.append(x)
    return found, n_tests


def _pool_texts(
    name: str,
    codes: np.ndarray,
    values: np.ndarray,
    shown: np.ndarray,
    responses: Any,
    row_hash: np.ndarray,
) -> list[str]:
    """A pool's values as written (most carriers first, at most three): an answer showing
    each (its first words for an opening column)."""
    counts = [(-int((codes[shown] == v).sum()), int(v)) for v in values.tolist()]
    return [
        _value_text(name, responses, shown[codes[shown] == v], row_hash)
        for _, v in sorted(counts)[:3]
    ]


def _value_text(name: str, responses: Any, rows: np.ndarray, row_hash: np.ndarray) -> str:
    """A whole-answer column's value as written in one of its ``rows`` (the smallest content
    hash): the answer, or its first words for an opening column (``head<k>``)."""
    text = responses[int(rows[np.argmin(row_hash[rows])])] or ""
    return " ".join(text.split()[: int(name[4:])]) if name.startswith("head") else text


def _family_counts(
    todo: list[tuple[int, np.ndarray]],
    pq: np.ndarray,
    u_off: np.ndarray,
    u_rows: np.ndarray,
    off: np.ndarray,
    car: np.ndarray,
) -> np.ndarray:
    """For each (candidate, its members' pairs) of ``todo``, how many distinct rows showing any
    of its member phrases (``pq`` of each pair: a phrase's usable rows in CSR ``u_off``,
    ``u_rows``) are the candidate's carriers (CSR ``off``, ``car``): :func:`_family`'s ``k``."""
    if not todo:
        return np.zeros(0, dtype=np.int64)
    cands = np.asarray([c for c, _ in todo], dtype=np.int64)
    pairs = np.concatenate([grp for _, grp in todo])
    q = pq[pairs].astype(np.int64)
    # (family, row) keys of the phrases' rows, and of the candidates' carriers
    fam = np.repeat(np.arange(len(todo)), [len(grp) for _, grp in todo])
    shown = np.unique(
        (np.repeat(fam, u_off[q + 1] - u_off[q]).astype(np.uint64) << np.uint64(32))
        | u_rows[list_positions(u_off, q)].astype(np.uint64)
    )
    carried = np.sort(
        (
            np.repeat(np.arange(len(todo)), off[cands + 1] - off[cands]).astype(np.uint64)
            << np.uint64(32)
        )
        | car[list_positions(off, cands)].astype(np.uint64)
    )
    hit = in_sorted(shown, carried)
    return np.bincount((shown[hit] >> np.uint64(32)).astype(np.int64), minlength=len(todo))


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
    in_c = in_sorted(rows_q, carriers)
    shown = rows_q[in_c]
    k, d = len(shown), len(carriers)
    mu = d * (len(rows_q) - k) / max(n_usable - d, 1)
    key, n_keys = answers
    k_e, d_e = n_distinct(key[shown]), n_distinct(key[carriers])
    out_e = n_distinct(key[rows_q[~in_c]])
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
                    (-int(in_sorted(r, fam["in_pattern"]).sum()), h) for h, r in fam["member_rows"]
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
#: (candidate, phrase) pairs whose echo is checked at most (the others keep their rank)
_LOOK_AT_PAIRS = 1000


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
    most three, most carriers first); a pool's values (:func:`answer_pools`)."""
    if "text" in x:
        return list(x["text"])
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
