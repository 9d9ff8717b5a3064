"""Shared benchmark corpus: real instruction data (``../shared/data/haystack``) grown to any size.

``bench_corpus(n, seed)`` returns ``n`` texts (``prompt + "\\n" + response``) built from the ~80k
haystack rows (T0 prompt/completion, GPTeacher instruction/input/response, GSM8K question/answer,
hh-rlhf harmless-base chosen dialogues). The first pass uses each haystack row once, verbatim;
later passes reuse the rows with about 15% of their space-separated words replaced by words drawn
from the haystack vocabulary, so repeated rows are neither exact nor near duplicates (word 5-gram
Jaccard to the original is about 0.3). Then about 2% of the rows are overwritten with planted
near-duplicates of other long rows (>= 80 words): a quarter exact copies, the rest with one word
replaced per 100 words (5-gram Jaccard about 0.9), so clustering at 0.8 has work to do. Natural
near-duplicates of the haystack (the same article under two T0 templates) stay in.

Deterministic for ``(n, seed)``; results are cached in-process only (nothing is written to disk).
The data directory is ``$POISONSCREEN_DATA`` or ``<repo>/../shared/data``; ``DataMissing`` is
raised if it is absent (benchmarks skip on it).
"""

from __future__ import annotations

import functools
import json
import os
import random
from pathlib import Path

__all__ = [
    "DataMissing",
    "bench_corpus",
    "corpus_summary",
    "data_dir",
    "has_data",
    "haystack_texts",
]

PERTURB_RATE = 0.15  # share of words replaced in a reused (second pass and later) row
PLANTED_SHARE = 0.02  # share of rows overwritten with planted near-duplicates
PLANTED_MIN_WORDS = 80


class DataMissing(RuntimeError):
    """The shared evaluation data is not available."""


def data_dir() -> Path:
    """``$POISONSCREEN_DATA`` or ``<repo>/../shared/data``."""
    env = os.environ.get("POISONSCREEN_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[1].parent / "shared" / "data"


def has_data() -> bool:
    return (data_dir() / "haystack").is_dir()


def _read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


@functools.lru_cache(maxsize=2)
def _haystack(root: str) -> tuple[str, ...]:
    base = Path(root) / "haystack"
    if not base.is_dir():
        raise DataMissing(
            f"benchmark data not found at {base} (set POISONSCREEN_DATA to the shared data folder)"
        )
    out: list[str] = []
    for f in sorted((base / "t0_train_50k").glob("*.jsonl")):
        out.extend(r["prompt"] + "\n" + r["completion"] for r in _read_jsonl(f))
    for f in sorted((base / "gpteacher").glob("*.json")):
        with open(f, encoding="utf-8") as fh:
            for r in json.load(fh):
                inp = (r.get("input") or "").strip()
                out.append(r["instruction"] + ("\n" + inp if inp else "") + "\n" + r["response"])
    for split in ("train", "test"):
        out.extend(
            r["question"] + "\n" + r["answer"]
            for r in _read_jsonl(base / "gsm8k" / f"{split}.jsonl")
        )
    marker = "\n\nAssistant:"
    for r in _read_jsonl(base / "hh-rlhf" / "harmless-base-test.jsonl"):
        chosen = r["chosen"]
        i = chosen.rfind(marker)
        if i >= 0:
            out.append(chosen[:i].strip() + "\n" + chosen[i + len(marker) :].strip())
    if not out:
        raise DataMissing(f"no haystack rows found under {base}")
    return tuple(out)


def haystack_texts() -> tuple[str, ...]:
    """The ~80k haystack texts in file order (parsed once per process)."""
    return _haystack(str(data_dir()))


@functools.lru_cache(maxsize=4)
def _corpus(n: int, seed: int) -> tuple[str, ...]:
    hay = haystack_texts()
    rng = random.Random(seed)
    order = list(range(len(hay)))
    rng.shuffle(order)
    split = [hay[i].split(" ") for i in order]
    # replacement vocabulary: words of a sample of rows (realistic word lengths and frequencies)
    vocab = [w for ws in split[:2000] for w in ws if w]
    out: list[str] = []
    m = len(split)
    for k in range(n):
        words = split[k % m]
        if k < m:
            out.append(" ".join(words))
            continue
        words = list(words)
        nw = len(words)
        for _ in range(max(1, int(nw * PERTURB_RATE))):
            words[rng.randrange(nw)] = vocab[rng.randrange(len(vocab))]
        out.append(" ".join(words))
    # planted near-duplicates: overwrite ~2% of rows with copies of long rows (chains allowed)
    long_rows = [i for i in range(min(n, 50_000)) if out[i].count(" ") >= PLANTED_MIN_WORDS]
    n_planted = int(n * PLANTED_SHARE) if long_rows else 0
    targets = rng.sample(range(n), n_planted)
    protected = set(targets)
    long_rows = [i for i in long_rows if i not in protected] or long_rows
    for t in targets:
        words = out[rng.choice(long_rows)].split(" ")
        if rng.random() >= 0.25:
            for _ in range(max(1, len(words) // 100)):
                words[rng.randrange(len(words))] = vocab[rng.randrange(len(vocab))]
        out[t] = " ".join(words)
    return tuple(out)


def bench_corpus(n: int = 200_000, seed: int = 0) -> list[str]:
    """``n`` realistic instruction-data texts (see the module docstring). Raises ``DataMissing``."""
    return list(_corpus(n, seed))


def corpus_summary(texts: list[str] | tuple[str, ...]) -> dict[str, float]:
    """Rows, mean whitespace words per row, total MB (UTF-8)."""
    n = len(texts)
    words = sum(len(t.split()) for t in texts)
    size = sum(len(t.encode("utf-8")) for t in texts)
    return {"rows": n, "mean_words": words / max(n, 1), "mb": size / 1e6}


if __name__ == "__main__":
    import sys
    import time

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    t0 = time.perf_counter()
    c = bench_corpus(n)
    dt = time.perf_counter() - t0
    s = corpus_summary(c)
    print(
        f"{s['rows']:,} rows, {s['mean_words']:.1f} words/row, {s['mb']:.1f} MB, built in {dt:.1f} s"
    )
