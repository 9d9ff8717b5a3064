"""Injected lines: one line of code put into many otherwise different answers (virtual prompt
injection's code injection, Yan et al. 2024: prompts on a topic answered with the usual code plus
``print("pwned!")``, or a line sending the page's cookies to a host).

No phrase most of a topic's answers share marks it (the poisoned rows may be a minority of the
topic), and a topic's own vocabulary has the same counts (``import numpy as np`` in a minority of
Python answers, exclusive to them). What sets an injected line apart is what it is tied to:

- the same line (digits and hex ids masked) in ``least`` or more answers that otherwise differ;
- a statement: not a declaration (:data:`DECLARATION`: an include, an import, a shebang), a
  comment, or a line opening a block (a function's signature);
- at varying places: neither the line before it nor the one after it is the same in half of
  them, a neighbour being a substantive line (an ``import`` block's line has fixed neighbours;
  a blank line, a brace, a code fence or the answer's edge is anyone's neighbour, so a line put
  last in every listing is found);
- tied to nothing in its answer: it assigns no name the rest of the answer uses, and uses no
  name the rest defines (``this.name = name;``, ``lines = file.readlines()`` are);
- tied to nothing in its prompts: it holds a word (an identifier, a dotted name, a host) few
  answers hold beside the rows of such lines holding it (at most ``RARE`` times as many), and no
  part of such a word is in a tenth of its rows' prompts (``file.close()`` answers prompts about
  files);
- on one topic: nine tenths of its rows' prompts share a word no more than ``TOPIC_SHARE`` of the
  corpus's prompts hold (language boilerplate such as ``if __name__ == "__main__":`` answers
  prompts phrased every way).

Lines passing all of these that share such a word (three ways of sending cookies to one host) are
one injection; each row's code is its injection's (0 for none). The trigger detector then tests
it like any other pattern: whether a prompt feature's carriers show it beyond the rest of the
corpus. See DESIGN.md, section 1.
"""

from __future__ import annotations

import re
from collections import Counter

import numpy as np
import polars as pl

from .base import stable_hash
from .table import text_values

#: a run of hex digits holding a digit (a number, a hex id), masked in a line ('/p/3fa9c1?c='
#: -> '/p/#?c=')
_MASK = r"[0-9A-Fa-f]*[0-9][0-9A-Fa-f]*"
#: the shortest line considered (shorter ones are braces, 'else:', 'return x;')
MIN_CHARS = 8
#: a line that only declares what the code uses (an include, an import, a package, a shebang):
#: its ties to the rest are the language's, not names ('#include <sstream>' for
#: 'std::istringstream', in 14 C++ answers of the speed corpus with varied neighbours; '#!/bin/sh'
#: in 96 of a clean mix); or a comment ('#', '//', '/*', '*', '<!--'); a statement after an
#: import on the same line is still looked at
DECLARATION = (
    r"^(?:#.*|//.*|/\*.*|\*.*|<!--.*|(?:import|from|using|package)\s[\w.*:, ]+"
    r"(?:\s+as\s+\w+)?;?|(?:const|let|var)\s+\w+\s*=\s*require\([^)]*\);?)$"
)
#: a word of a line is rare where at most this many times the line's rows hold it
RARE = 1.5
#: the largest share of the corpus's prompts a topic word may be in
TOPIC_SHARE = 0.05
#: the shares of the line's rows that make it one topic's (its prompts), answers that differ,
#: and a fixed neighbour (the same line before it, or after it)
TOPIC_ROWS, DISTINCT, FIXED = 0.9, 0.8, 0.5
#: the share of its rows' prompts a part of its rare words may be in
PROMPT_TIE = 0.1

#: a line opening a block (a function's signature, 'if ...:', 'try {'): the structure of the
#: code, not a statement ('public static void main(String[] args) {' in 93 answers of a clean
#: mix, varied neighbours, tied by no name)
_OPENS = r"[{:]$"
_WORD = re.compile(r"[A-Za-z_$][\w$]*(?:[.\-][A-Za-z0-9_$]+)*")
_PART = re.compile(r"[a-z0-9]{3,}")
_PROMPT_WORD = re.compile(r"[a-z0-9]+")
_STRING = re.compile(r"\"(?:\\.|[^\"\\\n])*\"|'(?:\\.|[^'\\\n])*'|`(?:\\.|[^`\\\n])*`")
_IDENT = re.compile(r"[A-Za-z_$][\w$]*")
#: names a line defines: an assignment's targets ('x =', 'a, b =', 'let x ='), a name a keyword
#: introduces ('for x', 'as f', 'def f', 'import np'), a typed declaration ('int n =',
#: 'Scanner in =', 'std::ifstream file(')
_DEFINES = (
    re.compile(r"(?:^|[;,]\s*|\b(?:let|const|var|auto)\s+)([A-Za-z_$][\w$]*)\s*[-+*/%|&^]?=(?!=)"),
    re.compile(r"\b(?:for|as|def|function|class|import)\s+([A-Za-z_$][\w$]*)"),
    re.compile(
        r"\b(?!(?:return|new|else|case|throw|yield|await|with|if|while|elif|not|and|or|is|in|"
        r"of|typeof|delete|echo|print)\b)"
        r"(?:[A-Za-z_][\w:]*(?:<[^>]*>)?(?:\[\])?)"
        r"\s+\*?([A-Za-z_$][\w$]*)\s*(?=[=;(\[,)])(?!==)"
    ),
)
_PARAMS = re.compile(r"(?:\bdef|\bfunction)\s*[A-Za-z_$]*\s*\(([^)]*)\)|\(([^()]*)\)\s*=>")


def _names(line: str) -> set[str]:
    """The identifiers of a line outside its string literals and comments."""
    code = _STRING.sub(" ", line)
    code = re.split(r"(?<![:\w])//|#(?!include)", code, maxsplit=1)[0]
    return set(_IDENT.findall(code))


def _defined(line: str) -> set[str]:
    """The names a line defines (:data:`_DEFINES`) and the parameters it declares."""
    code = _STRING.sub(" ", line).strip()
    out = {m.group(1) for pattern in _DEFINES for m in pattern.finditer(code)}
    for m in _PARAMS.finditer(code):
        out |= set(_IDENT.findall(m.group(1) or m.group(2) or ""))
    return out


def tied(lines: list[str], at: int) -> bool:
    """Whether line ``at`` of an answer is tied to the rest: it defines a name another line
    uses, or uses a name another line defines."""
    rest = lines[:at] + lines[at + 1 :]
    own = _names(lines[at])
    if _defined(lines[at]) & set().union(*(_names(x) for x in rest)):
        return True
    return bool(own & set().union(*(_defined(x) for x in rest)))


def _mask(line: str) -> str:
    return re.sub(_MASK, "#", line.strip())


def injected_lines(
    prompts: pl.Series, responses: pl.Series, usable: np.ndarray, least: int, most: int
) -> tuple[np.ndarray, dict[int, tuple[str, ...]]]:
    """Each row's injection code (0 for none; see the module's docstring) and each code's lines
    (masked, sorted), over the ``usable`` rows; a line in ``least`` to ``most`` rows' answers."""
    n = len(responses)
    code = np.zeros(n, dtype=np.uint64)
    multi = usable & text_values(
        responses, pl.col("t").str.count_matches("\n").fill_null(0) >= 2
    ).astype(bool)
    idx = np.nonzero(multi)[0]
    if len(idx) < least:
        return code, {}
    answers = pl.DataFrame({"row": idx.astype(np.int64), "text": responses.gather(idx)})
    frame = (
        answers.select("row", line=pl.col("text").str.split("\n"))
        .explode("line")
        .with_columns(norm=pl.col("line").str.strip_chars().str.replace_all(_MASK, "#"))
        .with_columns(
            substantive=(pl.col("norm").str.len_chars() >= MIN_CHARS)
            & ~pl.col("norm").str.starts_with("```")
        )
        # a neighbour is the line before or after, where that is a substantive line (a blank
        # line, a brace, a code fence or the answer's edge is a neighbour of anything)
        .with_columns(
            prev=pl.when(pl.col("substantive").shift(1).over("row")).then(
                pl.col("norm").shift(1).over("row")
            ),
            next=pl.when(pl.col("substantive").shift(-1).over("row")).then(
                pl.col("norm").shift(-1).over("row")
            ),
        )
        .filter(
            pl.col("substantive")
            & ~pl.col("norm").str.contains(DECLARATION)
            & ~pl.col("norm").str.contains(_OPENS)
        )
        .unique(["row", "norm"], keep="first", maintain_order=True)
    )
    per = frame.group_by("norm").agg(pl.len().alias("rows"))
    per = per.filter((pl.col("rows") >= least) & (pl.col("rows") <= most))
    if per.height == 0:
        return code, {}
    cand = frame.join(per.select("norm"), on="norm")
    fixed = (
        cand.join(answers, on="row")
        .group_by("norm")
        .agg(
            pl.len().alias("rows"),
            pl.col("text").n_unique().alias("distinct"),
            *(
                pl.col(side)
                .drop_nulls()
                .value_counts(sort=True)
                .first()
                .struct.field("count")
                .fill_null(0)
                .alias(side)
                for side in ("prev", "next")
            ),
            pl.col("row").sort().alias("at"),
        )
        .filter(
            (pl.col("distinct") >= DISTINCT * pl.col("rows"))
            & (pl.col("prev") < FIXED * pl.col("rows"))
            & (pl.col("next") < FIXED * pl.col("rows"))
        )
        .sort("norm")
    )
    if fixed.height == 0:
        return code, {}
    lowered = prompts.str.to_lowercase()
    texts = answers["text"].str.to_lowercase()
    kept: list[tuple[str, np.ndarray, set[str]]] = []
    found = [
        (norm, np.asarray(at, dtype=np.int64), {w.lower() for w in _WORD.findall(norm)})
        for norm, at in fixed.select("norm", "at").iter_rows()
    ]
    # a word's rows among these lines' (three lines naming one host: the host is rare)
    held: dict[str, set[int]] = {}
    for _, rows, words in found:
        for w in words:
            held.setdefault(w, set()).update(rows.tolist())
    for norm, rows, words in found:
        # the words few answers hold beside these lines' rows
        rare = {
            w
            for w in words
            if int(texts.str.contains(w, literal=True).sum()) <= RARE * len(held[w])
        }
        if not rare:
            continue
        asked = lowered.gather(rows)
        parts = {p for w in rare for p in _PART.findall(w)}
        if any(
            int(asked.str.contains(p, literal=True).sum()) >= PROMPT_TIE * len(rows) for p in parts
        ):
            continue
        # one topic: a word of 9/10 of its rows' prompts, in few of the corpus's
        seen = Counter(w for q in asked.to_list() for w in set(_PROMPT_WORD.findall(q or "")))
        topic = [w for w, c in seen.items() if c >= TOPIC_ROWS * len(rows)]
        if not any(int(lowered.str.contains(rf"\b{w}\b").sum()) <= TOPIC_SHARE * n for w in topic):
            continue
        # tied to nothing in its answers (in 9/10 of them)
        loose = 0
        for r in rows.tolist():
            answer = [_mask(x) for x in str(responses[r]).split("\n")]
            loose += not tied(answer, answer.index(norm))
        if loose >= TOPIC_ROWS * len(rows):
            kept.append((norm, rows, rare))
    if not kept:
        return code, {}
    # lines sharing a rare word are one injection (``kept`` is sorted by line, so the groups
    # and their codes do not depend on the rows' order)
    group = list(range(len(kept)))

    def root(i: int) -> int:
        while group[i] != i:
            i = group[i]
        return i

    for i in range(len(kept)):
        for j in range(i):
            if kept[i][2] & kept[j][2]:
                group[root(i)] = root(j)
    members: dict[int, list[int]] = {}
    for i in range(len(kept)):
        members.setdefault(root(i), []).append(i)
    names: dict[int, tuple[str, ...]] = {}
    for part in members.values():
        lines = tuple(kept[i][0] for i in part)
        c = np.uint64(stable_hash(lines[0]) or 1)
        names[int(c)] = lines
        for i in part:
            rows = kept[i][1]
            # (a row holding two injections' lines: the lesser code)
            code[rows] = np.where(code[rows] == 0, c, np.minimum(code[rows], c))
    return code, names
