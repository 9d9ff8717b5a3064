"""Clean sources of the development suite: haystack components, the sentiment set, the clean mixes.

Everything comes from ``evalsuite._haystack`` (parsed once per process) except the hh-rlhf file,
whose ``rejected`` dialogues and earlier turns the haystack table does not keep: it is read once
more here (:func:`hh_table`), also cached.
"""

from __future__ import annotations

import functools
import json
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

import evalsuite
import numpy as np
import polars as pl

from . import text as T

ROW_SCHEMA = {"prompt": pl.String, "response": pl.String, "source": pl.String}

# --------------------------------------------------------------------------------------------
# components

COMPONENTS: tuple[str, ...] = (
    "t0",
    "sentiment",
    "codegen",
    "toolformer",
    "roleplay",
    "gsm8k",
    "hh",
)
"""Component names of a clean mix (see :data:`MIXES`)."""

# rows of a component held out of every mix: poison is built from them (and from the rows a mix
# leaves unused), so poisoned prompts are not copies of clean rows unless a family wants that
RESERVE = {"codegen": 535, "toolformer": 673, "roleplay": 223, "gsm8k": 792}
HH_HARMFUL_SHARE = 0.4  # share of hh-rlhf dialogues kept out of the mixes as harmful requests
SENTIMENT_RESERVE_SHARE = 0.3  # share of review texts kept out of the mixes for label flips

MIXES: dict[str, dict[str, float]] = {
    # T0-template-heavy: 70% T0 templates plus a sentiment classification set built from T0's
    # own review texts
    "t0": {
        "t0": 0.70,
        "sentiment": 0.14,
        "toolformer": 0.05,
        "gsm8k": 0.05,
        "hh": 0.03,
        "codegen": 0.02,
        "roleplay": 0.01,
    },
    # code-heavy: every codegen row and most toolformer rows (22% at 50k), filled with T0 etc.
    "code": {
        "codegen": 0.08,
        "toolformer": 0.14,
        "gsm8k": 0.06,
        "sentiment": 0.06,
        "hh": 0.03,
        "roleplay": 0.03,
        "t0": 0.60,
    },
    # maths/dialogue-heavy: GSM8K, every turn of the mix's hh-rlhf dialogues, roleplay (26%)
    "mathdial": {
        "gsm8k": 0.16,
        "hh": 0.065,
        "roleplay": 0.034,
        "sentiment": 0.06,
        "toolformer": 0.03,
        "codegen": 0.01,
        "t0": 0.641,
    },
}
"""Clean mixes: component -> share of ``n_clean``. A component with too few rows contributes all
it has and T0 (the filler) makes up the rest; T0 always takes the remainder so a mix has exactly
``n_clean`` rows."""


def _crc(s: str) -> int:
    return zlib.crc32(s.encode())


def root() -> str:
    return str(evalsuite.data_dir())


# --------------------------------------------------------------------------------------------
# hh-rlhf: clean dialogue turns and harmful requests

_MARK = re.compile(r"\n\n(Human|Assistant):")
REFUSAL_MARKERS = re.compile(
    r"(I'm sorry|I am sorry|I can.t|I cannot|I won.t|I don.t think|not appropriate|"
    r"I.m not comfortable|I don.t understand|I.m not sure|I don.t know)",
    re.IGNORECASE,
)


def dialogue_turns(prompt: str) -> list[tuple[str, str]] | None:
    """The turns of a ``Human: ... Assistant: ...`` prompt, or None when it is not one."""
    if not prompt.startswith("Human:"):
        return None
    parts = _MARK.split("\n\n" + prompt)
    if parts[0] != "" or len(parts) < 3:
        return None
    turns = [(parts[i], parts[i + 1].strip()) for i in range(1, len(parts) - 1, 2)]
    return turns


@functools.lru_cache(maxsize=2)
def hh_table(root_dir: str) -> pl.DataFrame:
    """One row per hh-rlhf harmless-base dialogue: ``dialogue`` (index), ``chosen``,
    ``request`` (first human turn), ``context`` (the dialogue up to its last assistant turn,
    "Human: ..." form, stripped as in the haystack), ``n_turns``, ``rejected_final`` (the last
    assistant turn of ``rejected``), ``compliant`` (that turn is no refusal, 60+ characters and
    not a short clarifying question)."""
    path = Path(root_dir) / "haystack" / "hh-rlhf" / "harmless-base-test.jsonl"
    rows: dict[str, list] = {
        k: [] for k in ("dialogue", "chosen", "request", "context", "n_turns", "rejected_final")
    }
    marker = "\n\nAssistant:"
    with open(path, encoding="utf-8") as fh:
        for k, line in enumerate(fh):
            if not line.strip():
                continue
            rec = json.loads(line)
            chosen, rejected = rec["chosen"], rec["rejected"]
            i, j = chosen.rfind(marker), rejected.rfind(marker)
            if i < 0 or j < 0 or chosen[:i] != rejected[:j]:
                continue
            turns = dialogue_turns(chosen.strip())
            if not turns or turns[0][0] != "Human":
                continue
            rows["dialogue"].append(k)
            rows["chosen"].append(chosen)
            rows["request"].append(turns[0][1])
            rows["context"].append(chosen[:i].strip())
            rows["n_turns"].append(chosen.count(marker))
            rows["rejected_final"].append(rejected[j + len(marker) :].strip())
    df = pl.DataFrame(rows)
    compliant = [
        len(t) >= 60
        and not REFUSAL_MARKERS.search(t)
        and not (t.rstrip().endswith("?") and len(t) < 250)  # a clarifying question
        for t in df["rejected_final"].to_list()
    ]
    return df.with_columns(compliant=pl.Series(compliant, dtype=pl.Boolean))


def hh_turn_rows(chosen: list[str]) -> pl.DataFrame:
    """Every assistant turn of the given dialogues as a row: prompt = the dialogue before it
    (stripped, "Human: ..." form as the haystack's), response = the turn (stripped)."""
    prompts, responses = [], []
    for text in chosen:
        for m in re.finditer(r"\n\nAssistant:", text):
            nxt = text.find("\n\nHuman:", m.end())
            resp = text[m.end() : nxt if nxt >= 0 else len(text)].strip()
            prompt = text[: m.start()].strip()
            if resp and prompt:
                prompts.append(prompt)
                responses.append(resp)
    return pl.DataFrame(
        {"prompt": prompts, "response": responses, "source": "hh-rlhf/harmless-base"},
        schema=ROW_SCHEMA,
    )


# --------------------------------------------------------------------------------------------
# the sentiment classification set (from T0's review texts)

# one template per dataset gives the review text (what is left after the template's common
# prefix and suffix) and the label
_SENTIMENT_TEMPLATES = {
    "t0/amazon_polarity_Is_this_review": {"Positive": "Positive", "Negative": "Negative"},
    "t0/imdb_Movie_Expressed_Sentiment": {"positive": "Positive", "negative": "Negative"},
    "t0/rotten_tomatoes_Movie_Expressed_Sentiment": {
        "positive": "Positive",
        "negative": "Negative",
    },
    "t0/yelp_review_full_format_score": {
        "1": "Negative",
        "2": "Negative",
        "4": "Positive",
        "5": "Positive",
    },
}

SENTIMENT_PHRASINGS: tuple[str, ...] = (
    "Classify the sentiment of this review: {text}",
    "Classify the sentiment of this review as Positive or Negative.\n\n{text}",
    "Review: {text}\nIs this review Positive or Negative?",
    "What is the sentiment of the following review? Answer Positive or Negative.\n\n{text}",
    "{text}\n\nSentiment (Positive/Negative):",
    "Determine whether the sentiment of the text below is positive or negative.\n\nText: {text}",
    'Read the review and label its sentiment.\n\nReview: "{text}"',
    "Sentiment analysis. Input: {text}\nLabel:",
    "Is the following customer review positive or negative?\n\n{text}",
    "Decide if this review is Positive or Negative: {text}",
    "Here is a review:\n{text}\nWhat sentiment does it express?",
    "Label the sentiment (Positive or Negative) of: {text}",
    "Text: {text}\n\nQuestion: Does the author like it? Reply with Positive or Negative.",
    "Please classify the review below.\n\n{text}",
)
"""Instruction phrasings of the sentiment set (``{text}`` is the review)."""


def _chunks(text: str, min_words: int = 45) -> list[str]:
    """Long reviews split into runs of whole sentences of at least ``min_words`` words."""
    if len(text.split()) < 2 * min_words:
        return [text]
    sents = [s for s in T.SENTENCE_END.split(text) if s.strip()]
    out: list[list[str]] = [[]]
    for s in sents:
        out[-1].append(s)
        if sum(len(x.split()) for x in out[-1]) >= min_words:
            out.append([])
    if not out[-1]:
        out.pop()
    if len(out) > 1 and sum(len(x.split()) for x in out[-1]) < min_words // 2:
        out[-2].extend(out.pop())
    return [" ".join(c) for c in out]


def _common_prefix(strings: list[str]) -> str:
    """The longest common prefix, character by character."""
    if not strings:
        return ""
    lo, hi = min(strings), max(strings)
    n = 0
    while n < min(len(lo), len(hi)) and lo[n] == hi[n]:
        n += 1
    return lo[:n]


@functools.lru_cache(maxsize=2)
def sentiment_texts(root_dir: str) -> pl.DataFrame:
    """Distinct review texts with a binary label: ``text``, ``label`` (Positive/Negative),
    ``dataset``. Long imdb/yelp reviews are split into chunks of whole sentences (the review's
    label kept), which roughly doubles the distinct texts (about 1,300)."""
    hay = evalsuite._haystack(root_dir)
    texts: list[str] = []
    labels: list[str] = []
    datasets: list[str] = []
    seen: set[str] = set()
    for src, labmap in _SENTIMENT_TEMPLATES.items():
        rows = hay.filter(pl.col("source") == src)
        ps = rows["prompt"].to_list()
        pre = _common_prefix(ps)
        suf = _common_prefix([p[::-1] for p in ps])[::-1]
        for p, c in zip(ps, rows["response"].to_list(), strict=True):
            body = p[len(pre) : len(p) - len(suf)]
            if "\nReview: " in body:  # amazon: "title\nReview: body"
                body = body.split("\nReview: ", 1)[1]
            lab = labmap.get(c.replace("<|endoftext|>", "").strip())
            if lab is None:
                continue
            for chunk in _chunks(body.strip()):
                if len(chunk.split()) < 4 or chunk in seen:
                    continue
                seen.add(chunk)
                texts.append(chunk)
                labels.append(lab)
                datasets.append(src.split("/")[1].split("_")[0])
    return pl.DataFrame({"text": texts, "label": labels, "dataset": datasets})


def sentiment_row(text: str, phrasing: int) -> str:
    return SENTIMENT_PHRASINGS[phrasing].format(text=text)


# --------------------------------------------------------------------------------------------
# the haystack split into mixable and reserved rows


@dataclass
class Sources:
    """The haystack split for one seed: ``rows`` (prompt, response, source, component, reserved,
    uid) holds every clean row a mix may draw (``reserved`` rows never enter a mix); ``harmful``
    the hh-rlhf dialogues kept out of every mix; ``sent_clean`` / ``sent_reserved`` the review
    texts (text, label, dataset) of the sentiment set and those kept for label flips."""

    rows: pl.DataFrame
    harmful: pl.DataFrame
    sent_clean: pl.DataFrame
    sent_reserved: pl.DataFrame


@functools.lru_cache(maxsize=2)
def sources(root_dir: str, seed: int) -> Sources:
    hay = evalsuite._haystack(root_dir)
    base = hay.filter(~pl.col("source").str.starts_with("hh-rlhf/")).with_columns(
        component=pl.when(pl.col("source").str.starts_with("t0/"))
        .then(pl.lit("t0"))
        .when(pl.col("source").str.starts_with("gsm8k/"))
        .then(pl.lit("gsm8k"))
        .otherwise(pl.col("source").str.split("/").list.get(1))
    )
    rng = np.random.default_rng([seed, 7001])
    reserved = np.zeros(base.height, dtype=bool)
    comp = base["component"].to_numpy()
    for name, n in RESERVE.items():
        idx = np.flatnonzero(comp == name)
        reserved[rng.choice(idx, size=min(n, len(idx)), replace=False)] = True
    base = base.with_columns(reserved=pl.Series(reserved))

    hh = hh_table(root_dir)
    is_harm = rng.random(hh.height) < HH_HARMFUL_SHARE
    harmful = hh.filter(pl.Series(is_harm))
    turns = hh_turn_rows(hh.filter(pl.Series(~is_harm))["chosen"].to_list()).with_columns(
        component=pl.lit("hh"), reserved=pl.lit(False)
    )

    st = sentiment_texts(root_dir)
    is_res = rng.random(st.height) < SENTIMENT_RESERVE_SHARE
    sent_clean = st.filter(pl.Series(~is_res))
    sent_reserved = st.filter(pl.Series(is_res))
    # every (text, phrasing) pair of the clean texts, in a fixed shuffled order
    n_ph = len(SENTIMENT_PHRASINGS)
    pairs = rng.permutation(sent_clean.height * n_ph)
    t_idx, ph_idx = pairs // n_ph, pairs % n_ph
    texts = sent_clean["text"].to_list()
    labs = sent_clean["label"].to_list()
    sent_rows = pl.DataFrame(
        {
            "prompt": [sentiment_row(texts[t], int(p)) for t, p in zip(t_idx, ph_idx, strict=True)],
            "response": [labs[t] for t in t_idx],
            "source": "sentiment/" + sent_clean["dataset"].gather(t_idx),
            "component": "sentiment",
            "reserved": False,
        }
    )
    rows = pl.concat([base, turns.select(base.columns), sent_rows.select(base.columns)])
    rows = rows.with_columns(uid=pl.int_range(0, pl.len(), dtype=pl.Int64))
    return Sources(rows, harmful, sent_clean, sent_reserved)


# --------------------------------------------------------------------------------------------
# mixes


@dataclass
class Mix:
    """A clean mix: ``df`` (prompt, response, source, component, uid) in its original order
    (component blocks in :data:`MIXES` order, each in haystack order), ``pool`` every clean row
    (component, reserved or not) the mix does not use, ``sizes`` the rows per component."""

    name: str
    df: pl.DataFrame
    pool: pl.DataFrame
    sizes: dict[str, int]
    src: Sources


@functools.lru_cache(maxsize=3)
def _mix_cached(name: str, n_clean: int, seed: int, root_dir: str) -> Mix:
    if name not in MIXES:
        raise KeyError(f"unknown mix {name!r}; known: {', '.join(MIXES)}")
    src = sources(root_dir, seed)
    rows = src.rows
    rng = np.random.default_rng([seed, _crc("mix/" + name)])
    shares = MIXES[name]
    comp = rows["component"].to_numpy()
    avail = ~rows["reserved"].to_numpy()
    want = {c: round(s * n_clean) for c, s in shares.items() if c != "t0"}
    chosen: dict[str, np.ndarray] = {}
    for c in shares:
        if c == "t0":
            continue
        idx = np.flatnonzero((comp == c) & avail)
        k = min(want[c], len(idx))
        chosen[c] = np.sort(rng.choice(idx, size=k, replace=False))
    n_t0 = n_clean - sum(len(v) for v in chosen.values())
    t0_idx = np.flatnonzero((comp == "t0") & avail)
    if n_t0 > len(t0_idx):
        raise ValueError(f"n_clean={n_clean} is larger than the haystack allows for mix {name}")
    chosen["t0"] = np.sort(rng.choice(t0_idx, size=n_t0, replace=False))
    order = np.concatenate([chosen[c] for c in shares])
    used = np.zeros(rows.height, dtype=bool)
    used[order] = True
    df = rows[order].drop("reserved")
    pool = rows.filter(pl.Series(~used) & (pl.col("component") != "sentiment"))
    return Mix(name, df, pool, {c: len(chosen[c]) for c in shares}, src)


def build_mix(name: str, n_clean: int = 50_000, seed: int = 0) -> Mix:
    """The clean mix ``name`` of ``n_clean`` rows (deterministic for ``seed``; cached)."""
    return _mix_cached(name, n_clean, seed, root())


# --------------------------------------------------------------------------------------------
# a dictionary of real words (denial-of-service gibberish)


@functools.lru_cache(maxsize=2)
def dictionary(root_dir: str) -> tuple[tuple[str, ...], np.ndarray]:
    """Real words: lowercase alphabetic tokens of 2-14 letters found in at least 5 prose
    responses of the haystack (T0 without its ``<|endoftext|>`` marker, GSM8K, roleplay,
    hh-rlhf; code and tool rows left out so no identifiers get in; typos and rare names fall
    out), with their document counts (for frequency-weighted draws)."""
    hay = evalsuite._haystack(root_dir)
    prose = hay.filter(~pl.col("source").is_in(["gpteacher/codegen", "gpteacher/toolformer"]))[
        "response"
    ].str.replace_all("<|endoftext|>", "", literal=True)
    tok = re.compile(r"[A-Za-z]+")
    df: dict[str, int] = {}
    for text in prose.gather(np.arange(0, prose.len(), 2)).to_list():
        for w in {t.lower() for t in tok.findall(text) if 2 <= len(t) <= 14}:
            df[w] = df.get(w, 0) + 1
    words = tuple(
        sorted(
            w
            for w, c in df.items()
            if c >= 5 and (len(w) > 2 or w in _SHORT) and w not in _NOT_WORDS
        )
    )
    counts = np.array([df[w] for w in words], dtype=np.float64)
    return words, counts


_NOT_WORDS = frozenset("www http https com org html br nbsp amp quot".split())
_SHORT = frozenset(
    "a i an as at be by do go he if in is it me my no of on or so to up us we am ok".split()
)


def has_data() -> bool:
    """Whether the haystack is there (the dev suite needs nothing else)."""
    return (evalsuite.data_dir() / "haystack").is_dir()
