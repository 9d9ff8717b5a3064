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

from dataclasses import dataclass, replace

import numpy as np
import polars as pl

from .table import text_values

#: Early Modern English words, matched case-insensitively as whole words ("lo," the interjection
#: only: before a comma or an exclamation mark, not "lo-fi").
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
    # contractions
    "'tis",
    "'twas",
    "o'er",
    "ne'er",
    "e'er",
    "e'en",
    # adverbs, interjections, discourse words (not those still in use: alas, oft, yea, nay)
    "unto",
    "verily",
    "behold",
    "hearken",
    "lo,",
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
    # Shakespeare's interjections ("Marry," with its comma, not "marry him"): none is in any dev
    # clean mix's prompts. Not "alas,": it opens 33-44 ordinary reviews a mix, and with it the
    # register's carriers in a drawn 30-row Shakespeare flip were too diluted to find (AP 0.70,
    # no row flagged; 0.83 without it)
    "marry,",
    "fie",
    "ay me",
    "alack",
    "zounds",
    "sirrah",
    "mayhap",
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
#: subordinating conjunctions that open a clause before the main one ("When I watched it, ...")
SUBORDINATORS: tuple[str, ...] = (
    "when",
    "whenever",
    "if",
    "as",
    "as soon as",
    "once",
    "although",
    "though",
    "even though",
    "while",
    "since",
    "because",
    "after",
    "before",
    "unless",
    "until",
    "now that",
    "given that",
)
_SUBORDINATE = "|".join(
    w.replace(" ", r"\s+") for w in sorted(SUBORDINATORS, key=len, reverse=True)
)
#: a sentence that opens with a subordinate clause and a comma: the text's or a line's start,
#: or after a sentence's end, a colon or an opening quote; the clause ends at its comma
_CLAUSE = r"(?:^|\n|[.!?:]\s+|[\"\u201c]\s*)\s*(?i:(" + _SUBORDINATE + r"))\s[^.!?\n,;]{2,150},\s"

#: a text set as verse: four lines in a row (a blank line between stanzas allowed) of at most
#: 8 words, each opening with a capital and no list or speaker marker ("A. ", "Human: ")
_LINE = r"^[ \t]*['\u2019\"]?\p{Lu}(?:[\p{L}'\u2019]+(?:\S*[^\s:])?)?(?:[ \t]+\S+){0,7}[ \t]*$"
_VERSE = r"(?m)(?:" + _LINE + r"\n(?:[ \t]*\n)?){3}" + _LINE
#: what a verse-layout finding names (it has no words of its own)
VERSE_SHOWN = ("4+ lines of at most 8 words",)
#: a text set as verse by its line breaks: this many breaks inside a sentence (a line of at most
#: 8 words ending in a letter or digit, the next opening with a capitalised word) among its
#: lines of at most 8 words, wherever they fall. Verse whose broken sentence puts a comma or a
#: full stop at a line's start ("... a great way for / The american people to see / , and ...")
#: or whose text opens behind a field name ("Input: If you've played / The game, ...") has no
#: four capitalised lines in a row; three such breaks are not prose, a list or a dialogue
VERSE_BREAKS = 3
_FIELD = r"^\s*\p{L}[\p{L} ]{0,20}:[ \t]+"
_LISTED = r"^(?:[\p{L}\p{N}]{1,2}[.)]|[-*\u2022])(?:\s|$)"

_EDGE_L = r"(?:^|[^\w'\u2019])"
_EDGE_R = r"(?:$|[^\w'\u2019])"
#: each word as matched: any case, a straight or curly apostrophe, any spaces between words
_SPELLED = {
    w.rstrip(","): w.replace("'", "['\u2019]").replace(" ", r"\s+").replace(",", r"\s*[,!]")
    for w in ARCHAIC_WORDS
}


def _whole(alternatives: str) -> str:
    """A regex of ``alternatives`` as whole words, case-insensitive."""
    return _EDGE_L + "(?i:" + alternatives + ")" + _EDGE_R


_ARCHAIC = _whole("|".join(_SPELLED.values()))


@dataclass(frozen=True)
class Register:
    """A register's carriers among the given rows and its words most seen there; a register of
    the labelled rows only (``labels_only``) is a hypothesis about their labels alone."""

    name: str
    rows: np.ndarray
    words: tuple[str, ...]
    labels_only: bool = False

    @property
    def lexical(self) -> bool:
        """Whether its carriers are every row holding one of its words (a lexicon of words out
        of use): a word model trained on the corpus then learns those words' labels from the
        carriers' own labels alone, so only the model asked again without them can judge them
        (a clause's subordinators, "when", "if", are evidence other rows give too)."""
        return self.name == ARCHAIC

    def title(self, most: int = 4) -> str:
        """How a finding names it: the register and the words its carriers show most."""
        return title(self.name, self.words, most)

    def within(self, task: np.ndarray, least: int) -> list[tuple[int, Register]]:
        """The register's labelled carriers in each label task (``task``: each row's, 0 for
        none) holding ``least`` of them, but not all of them, as ``(task, register)``: a
        syntactic or style trigger flips one classification set's labels, and the same way of
        writing in the corpus's other tasks (with their own rates of contradicted labels)
        would dilute it."""
        own = task[self.rows]
        ids, counts = np.unique(own[own != 0], return_counts=True)
        return [
            (int(t), replace(self, rows=self.rows[own == t], labels_only=True))
            for t, c in zip(ids.tolist(), counts.tolist(), strict=True)
            if least <= c < len(self.rows)
        ]

    def title_of(self, texts: pl.Series, most: int = 4) -> str:
        """The register named by the words ``texts`` (some of its carriers' prompts) show."""
        return title(self.name, words_of(self.name, texts), most)


ARCHAIC, CLAUSE, VERSE = "archaic English", "subordinate-clause opening", "verse layout"


def title(name: str, words: tuple[str, ...], most: int = 4) -> str:
    """A register's name and the first ``most`` of ``words``."""
    shown = ", ".join(words[:most])
    return f"{name} ({shown}{', …' if len(words) > most else ''})"


def words_of(name: str, texts: pl.Series) -> tuple[str, ...]:
    """The words of register ``name`` that ``texts`` show, by how many of them show each (ties
    alphabetical): the lexicon's words, or the subordinators opening the clause."""
    if name == ARCHAIC:
        # every word's count in one query (a query per word cost its fixed overhead ~100 times)
        counts = (
            texts.rename("t")
            .to_frame()
            .select(
                pl.col("t").str.contains(_whole(p)).fill_null(False).sum().alias(str(j))
                for j, p in enumerate(_SPELLED.values())
            )
            .row(0)
        )
        held = dict(zip(_SPELLED, counts, strict=True))
        return tuple(sorted((w for w, n in held.items() if n), key=lambda w: (-held[w], w)))
    if name == CLAUSE:
        return _ranked(_openers(texts))
    if name == VERSE:
        return VERSE_SHOWN
    raise ValueError(f"no register named {name!r}")


def _ranked(openers: np.ndarray) -> tuple[str, ...]:
    """The subordinators among ``openers`` (None: no opening), most rows first (ties
    alphabetical)."""
    seen = pl.Series("w", [o for o in openers if o is not None], dtype=pl.String).value_counts()
    return tuple(seen.sort(["count", "w"], descending=[True, False])["w"].to_list())


def _openers(texts: pl.Series) -> np.ndarray:
    """The subordinator opening a clause in each text (lower case), or None."""
    return text_values(
        texts, pl.col("t").str.extract(_CLAUSE, 1).str.to_lowercase().str.replace_all(r"\s+", " ")
    )


def _breaks() -> pl.Expr:
    """Each text's line breaks inside a sentence (``VERSE_BREAKS``): a field name opening the
    text is not part of its first line; blank lines are skipped; lines with a colon or a list
    marker and lines of more than 8 words neither end nor open one."""
    line = pl.element()
    plain = (
        (line.str.count_matches(r"\S+") <= 8)
        & ~line.str.contains(":")
        & ~line.str.contains(_LISTED)
    )
    ends = plain & line.str.contains(r"[\p{L}\p{N}]$")
    opens = plain & line.str.contains(r"^['\u2019\"]?\p{Lu}(?:[\p{L}'\u2019]|\s|$)")
    return (
        pl.col("t")
        .str.replace(_FIELD, "")
        .str.split("\n")
        .list.eval(line.str.strip_chars().filter(line.str.strip_chars() != ""))
        .list.eval((ends.shift(1).fill_null(False) & opens).sum())
        .list.first()
    )


def verse(texts: pl.Series) -> np.ndarray:
    """Whether each text is set as verse: four capitalised short lines in a row (``_VERSE``) or
    ``VERSE_BREAKS`` line breaks inside its sentences (either needs three lines opening with a
    capital after a line break: only the texts with three are read line by line)."""
    out = np.zeros(len(texts), dtype=bool)
    opened = pl.col("t").str.count_matches(r"\n\s*['\u2019\"]?\p{Lu}").fill_null(0)
    some = np.flatnonzero(text_values(texts, opened) >= 3)
    if len(some):
        out[some] = text_values(
            texts.gather(some),
            pl.col("t").str.contains(_VERSE).fill_null(False)
            | (_breaks().fill_null(0) >= VERSE_BREAKS),
        )
    return out


def registers(
    prompts: pl.Series, rows: np.ndarray, labelled: np.ndarray | None = None
) -> list[Register]:
    """Each register written in ``prompts`` (the feature table's, all rows) by any of ``rows``:
    the rows (sorted) whose prompt holds one of its words at least once, and its words by how
    many of those rows hold them (ties alphabetical). With ``labelled`` (a mask of the rows
    answering with a label), among those rows too the subordinate-clause opening of a review
    (HiddenKiller's syntactic trigger, Qi et al. 2021) and a review set as verse (StyleBkd's
    poetry style: the layout is the style where no word marks it)."""
    out = []
    found = text_values(prompts, pl.col("t").str.contains(_ARCHAIC).fill_null(False))
    carriers = np.asarray(rows, dtype=np.uint32)
    carriers = np.sort(carriers[found[carriers]])
    if len(carriers):
        out.append(Register(ARCHAIC, carriers, words_of(ARCHAIC, prompts.gather(carriers))))
    if labelled is not None:
        carriers = np.asarray(rows, dtype=np.uint32)
        carriers = np.sort(carriers[labelled[carriers]])
        opener = _openers(prompts.gather(carriers))
        opens = np.asarray([o is not None for o in opener], bool)
        if opens.any():
            out.append(Register(CLAUSE, carriers[opens], _ranked(opener), labels_only=True))
        laid = verse(prompts.gather(carriers))
        if laid.any():
            out.append(Register(VERSE, carriers[laid], VERSE_SHOWN, labels_only=True))
    return out
