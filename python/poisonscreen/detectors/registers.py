"""Prompt-side registers: a way of writing that no single word marks, as one trigger candidate.

A style backdoor (StyleBkd, Qi et al. 2021: a sentiment set's reviews paraphrased into
King-James or Shakespearean English, their labels flipped) has no fixed trigger word: each
carrier shows a few of the style's words, each word on a handful of rows. The trigger detector
tests n-grams; a register is the union of its words, tested as one more candidate whose
carriers are the prompts written in it (see DESIGN.md, section 1).

Each register is a documented lexicon of words that are out of use in present-day English, not
a model: the Early Modern English pronouns and verb forms (thou, thee, hath, doth, 'tis, the
-eth present tense) and the archaic adverbs (unto, ere, o'er, wherefore, ...). In 0.3-0.5% of
the dev suite's clean prompts (Bible verses, Shakespeare questions), so a register on its own is
no finding: its carriers must share a response pattern the rest of the corpus lacks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from .patterns import _flags_by_slices

#: Early Modern English words, matched case-insensitively as whole words.
ARCHAIC_WORDS: tuple[str, ...] = (
    # pronouns
    "thou",
    "thee",
    "thy",
    "thine",
    "ye",
    # verb forms of the second and third person
    "hath",
    "doth",
    "dost",
    "hast",
    "shalt",
    "canst",
    "wouldst",
    "couldst",
    "shouldst",
    "saith",
    "goeth",
    "doeth",
    # contractions (the leading apostrophe's words are matched apart, below)
    "o'er",
    "ne'er",
    "e'er",
    "e'en",
    # adverbs, interjections, discourse words (not those still in use: alas, oft, yea, nay)
    "unto",
    "verily",
    "behold",
    "methinks",
    "prithee",
    "forsooth",
    "perchance",
    "wherefore",
    "hither",
    "thither",
    "whither",
    "whence",
    "hark",
    "ere",
    "it came to pass",
    # the -eth present tense of common verbs (a suffix rule would take names: Elizabeth,
    # Nazareth, Kenneth, written in lower case in many reviews)
    *(
        v + "eth"
        for v in (
            "mak",
            "com",
            "giv",
            "tak",
            "know",
            "lov",
            "se",
            "say",
            "speak",
            "bring",
            "li",
            "dwell",
            "liv",
            "believ",
            "think",
            "find",
            "hear",
            "keep",
            "walk",
            "work",
            "lead",
            "shew",
            "show",
            "putt",
            "shin",
            "ris",
            "fall",
            "endur",
            "hat",
            "seek",
            "teach",
            "pleas",
            "need",
            "becom",
            "call",
            "want",
            "seem",
            "look",
            "tell",
            "feel",
            "leav",
            "hold",
            "turn",
            "stand",
            "runn",
            "writ",
            "smit",
            "sitt",
            "doubt",
            "fear",
            "judg",
        )
    ),
)
_EDGE_L = r"(?:^|[^\w'\u2019])"
_EDGE_R = r"(?:$|[^\w'\u2019])"
_ARCHAIC = (
    _EDGE_L
    + r"(?i:['\u2019](?:tis|twas)|"
    + "|".join(w.replace("'", "['\u2019]").replace(" ", r"\s+") for w in ARCHAIC_WORDS)
    + r")"
    + _EDGE_R
)
_ONE_WORD = frozenset(["'tis", "'twas", *(w for w in ARCHAIC_WORDS if " " not in w)])
_PHRASES = tuple(w for w in ARCHAIC_WORDS if " " in w)


@dataclass(frozen=True)
class Register:
    """A register's carriers among the given rows and its words most seen there."""

    name: str
    rows: np.ndarray
    words: tuple[str, ...]

    def title(self, most: int = 4) -> str:
        """How a finding names it: the register and the words its carriers show most."""
        shown = ", ".join(self.words[:most])
        return f"{self.name} ({shown}{', …' if len(self.words) > most else ''})"


def registers(prompts: pl.Series, rows: np.ndarray) -> list[Register]:
    """Each register written in ``prompts`` (the feature table's, all rows) by any of ``rows``:
    the rows (sorted) whose prompt holds one of its words at least once, and its words by how
    many of those rows hold them (ties alphabetical)."""
    found = _flags_by_slices(prompts, lambda part: part.str.contains(_ARCHAIC))
    carriers = np.asarray(rows, dtype=np.uint32)
    carriers = np.sort(carriers[found[carriers]])
    if len(carriers) == 0:
        return []
    # the words by a tokenisation of their own (a match's edge characters are not shared, so
    # extracting the matches would skip a word right after another: "unto thee")
    texts = prompts.gather(carriers).str.to_lowercase().str.replace_all("\u2019", "'", literal=True)
    tokens = (
        texts.str.extract_all(r"[\w']+")
        .list.eval(pl.element().str.strip_chars("'").replace({"tis": "'tis", "twas": "'twas"}))
        .list.eval(pl.element().filter(pl.element().is_in(list(_ONE_WORD))).unique())
    )
    phrases = [
        texts.str.contains(r"(?:^|\W)" + p.replace(" ", r"\s+") + r"(?:$|\W)")
        .fill_null(False)
        .sum()
        for p in _PHRASES
    ]
    words = pl.concat(
        [
            tokens.explode().drop_nulls().alias("w").value_counts(name="n"),
            pl.DataFrame({"w": list(_PHRASES), "n": phrases}).filter(pl.col("n") > 0),
        ],
        how="vertical_relaxed",
    ).sort(["n", "w"], descending=[True, False])
    return [Register("archaic English", carriers, tuple(words["w"].to_list()))]
