"""Tests of the compiled bindings `poisonscreen._poisonscreen`: raw Arrow chunk hand-over, error
mapping, text helpers, LSH / clustering primitives, mining passes and fork safety."""

from __future__ import annotations

import multiprocessing as mp
import random
import warnings

import numpy as np
import pyarrow as pa
import pytest

import poisonscreen as ps
from poisonscreen import _poisonscreen as core
from poisonscreen._arrow import text_chunks
from poisonscreen.exceptions import ConfigError, InputError, PoisonScreenError

VOCAB = "alpha beta gamma delta sudo open the door now please".split()


def chunks_of(values, sizes=None):
    arr = pa.array(values, type=pa.large_string())
    if sizes is None:
        return text_chunks(arr)[0]
    parts, at = [], 0
    for n in sizes:
        parts.append(arr.slice(at, n))
        at += n
    assert at == len(values)
    return text_chunks(pa.chunked_array(parts, type=pa.large_string()))[0]


def raw_chunk(rows: list[bytes], validity=None, validity_offset=0):
    offsets = np.cumsum([0, *map(len, rows)]).astype(np.int64)
    data = np.frombuffer(b"".join(rows), dtype=np.uint8).copy()
    return (offsets, data, validity, validity_offset)


# ---- text helpers ----------------------------------------------------------------------------


def test_normalize_and_tokenize():
    assert core.normalize("  ﬁne   STRAßE １２３ ") == "fine strasse 123"
    assert core.normalize("Straße", casefold=False) == "Straße"
    assert core.normalize("ﬁ", nfkc=False, casefold=False) == "ﬁ"
    assert core.normalize("ﬁ", nfkc=False) == "fi"  # full case folding expands the ligature too
    assert core.normalize(" a  b ", collapse_whitespace=False) == " a  b "
    assert core.tokenize("Hello, world! it's 3.14") == ["hello", "world", "it's", "3.14"]
    assert core.tokenize("ab c", mode="char") == ["a", "b", " ", "c"]
    assert core.tokenize("") == []
    with pytest.raises(ConfigError):
        core.tokenize("x", mode="bytes")


def test_ngrams_windows():
    assert core.ngrams("a b c d", k=2) == ["a b", "b c", "c d"]
    assert core.ngrams("A b", k=5) == ["a b"]  # short text: one n-gram of all tokens
    assert core.ngrams("   ", k=3) == []
    assert core.ngrams("abc", k=2, mode="char") == ["ab", "bc"]
    with pytest.raises(ConfigError):
        core.ngrams("x", k=0)


# ---- chunk hand-over -------------------------------------------------------------------------


def test_raw_chunks_bad_buffers_are_input_errors():
    good = raw_chunk([b"abc", b"de"])
    assert core.signatures([good], num_perm=4).shape == (2, 4)
    bad = [
        (np.array([0, 3, 2], np.int64), good[1], None, 0),  # decreasing
        (np.array([0, 3, 9], np.int64), good[1], None, 0),  # beyond data
        (np.zeros(0, np.int64), good[1], None, 0),  # empty offsets
        (np.array([-1, 3], np.int64), good[1], None, 0),  # negative
        (good[0], good[1], np.zeros(0, np.uint8), 0),  # bitmap too short
    ]
    for chunk in bad:
        with pytest.raises(InputError):
            core.signatures([chunk], num_perm=4)
        with pytest.raises(InputError):
            core.text_stats([chunk])


def test_invalid_utf8_names_the_global_row():
    c1 = raw_chunk([b"fine", b"also fine"])
    c2 = raw_chunk([])
    c3 = raw_chunk([b"ok", b"ok", b"bad \xff byte"])
    for fn in (
        lambda ch: core.signatures(ch, num_perm=4),
        core.text_stats,
        lambda ch: core.row_ngram_hashes(ch, [1]),
        lambda ch: core.ngram_document_counts(ch, np.array([1], np.uint64), [1]),
        lambda ch: core.bigram_familiarity(ch),
        lambda ch: core.NgramCounter([1]).add(ch),
    ):
        with pytest.raises(InputError, match="row 4"):
            fn([c1, c2, c3])


def test_validity_bitmap_with_offset():
    rows = [b"a b", b"c d", b"e f", b"g h"]
    # rows start at bit 5: valid, null, valid, null
    # (bits 0-4 belong to rows before the slice and are set to prove they are skipped)
    bitmap = np.array([(1 << 5) | (1 << 7) | 0b11111, 0b1111_1110], np.uint8)
    chunk = raw_chunk(rows, bitmap, 5)
    d = core.text_stats([chunk])
    assert d["valid"].tolist() == [True, False, True, False]
    sig = core.signatures([chunk], num_perm=8)
    assert (sig[[1, 3]] == 0xFFFFFFFF).all()
    assert np.array_equal(sig[[0, 2]], ps.minhash(["a b", "e f"], num_perm=8))


def test_chunks_with_empty_chunks_and_offsets():
    rng = random.Random(0)
    values = [
        None if i % 7 == 3 else " ".join(rng.choices(VOCAB, k=rng.randint(0, 9))) for i in range(50)
    ]
    one = core.signatures(chunks_of(values), num_perm=16)
    many = core.signatures(chunks_of(values, [0, 7, 0, 0, 30, 13, 0]), num_perm=16)
    assert np.array_equal(one, many)


# ---- LSH / clustering primitives --------------------------------------------------------------


def test_lsh_params_errors():
    for t in (0.0, 1.0, -1.0, 2.0, float("nan")):
        with pytest.raises(ConfigError):
            core.lsh_params(t, 128)
    with pytest.raises(ConfigError):
        core.lsh_params(0.5, 0)


def test_band_keys_and_candidate_pairs():
    sigs = core.signatures(
        chunks_of(["a b c d e f", "a b c d e f", "x y z w v u", None]), num_perm=32
    )
    keys = core.band_keys(sigs, 8, 4)
    assert keys.shape == (4, 8) and keys.dtype == np.uint64
    with pytest.raises(ConfigError):
        core.band_keys(sigs, 9, 4)
    with pytest.raises(ConfigError):
        core.band_keys(sigs, 0, 4)
    pairs = core.candidate_pairs(keys)
    assert pairs.dtype == np.uint32 and pairs.tolist() == [[0, 1]]
    assert core.candidate_pairs(keys, skip=np.array([True, False, False, False])).shape == (0, 2)
    with pytest.raises(ConfigError):
        core.candidate_pairs(keys, max_bucket=1)
    with pytest.raises(ConfigError):
        core.candidate_pairs(keys, skip=np.array([True]))
    agree = core.signature_agreement(sigs, pairs)
    assert agree.tolist() == [1.0]
    exact = core.exact_jaccard(
        chunks_of(["a b c d e f", "a b c d e f x"]), np.array([[0, 1]], np.uint32), k=5
    )
    assert exact.tolist() == [pytest.approx(2 / 3)]
    with pytest.raises(InputError):
        core.signature_agreement(sigs, np.array([[0, 9]], np.uint32))
    with pytest.raises(ConfigError):
        core.signature_agreement(sigs, np.zeros((2, 3), np.uint32))


def test_connected_components_binding():
    edges = np.array([[5, 3], [3, 9], [1, 2]], np.uint32)
    ids, partner = core.connected_components(10, edges)
    assert ids.tolist() == [0, 1, 1, 3, 4, 3, 6, 7, 8, 3]
    assert partner.tolist() == [-1, 2, 1, 5, -1, 3, -1, -1, -1, 3]
    with pytest.raises(InputError):
        core.connected_components(4, np.array([[0, 4]], np.uint32))
    ids, partner = core.connected_components(3, np.zeros((0, 2), np.uint32))
    assert ids.tolist() == [0, 1, 2] and partner.tolist() == [-1, -1, -1]


# ---- mining passes ----------------------------------------------------------------------------


def mining_corpus():
    rng = random.Random(11)
    values = []
    for i in range(3000):
        if i % 13 == 0:
            values.append(None)
            continue
        words = rng.choices(VOCAB, k=rng.randint(0, 8))
        if i % 4 == 0:
            words.insert(rng.randint(0, len(words)), "open the door")
        values.append(" ".join(words))
    return values


def test_mining_passes_agree_with_row_hashes():
    values = mining_corpus()
    chunks = chunks_of(values, [0, 1000, 0, 1500, 500])
    orders = [1, 2, 3]
    off, flat = core.row_ngram_hashes(chunks, orders)
    per_row = [set(flat[off[i] : off[i + 1]].tolist()) for i in range(len(values))]
    rows = np.array([i for i in range(len(values)) if i % 3 != 2][::-1], np.uint32)
    naive: dict[int, int] = {}
    for r in rows.tolist():
        for h in per_row[r]:
            naive[h] = naive.get(h, 0) + 1
    h, c = core.subset_ngram_counts(chunks, rows, orders, min_count=20, threads=2)
    assert h.tolist() == sorted(h.tolist())
    assert dict(zip(h.tolist(), c.tolist())) == {k: v for k, v in naive.items() if v >= 20}
    hashes = np.array([*sorted(naive)[:50], 123456789], np.uint64)
    counts = core.ngram_document_counts(chunks, hashes, orders)
    coff, carriers = core.ngram_carriers(chunks, hashes, orders, max_per=40)
    for i, hh in enumerate(hashes.tolist()):
        carrying = [r for r in range(len(values)) if hh in per_row[r]]
        assert counts[i] == len(carrying)
        assert carriers[coff[i] : coff[i + 1]].tolist() == carrying[:40]
    # same results from one chunk and one thread
    h1, c1 = core.subset_ngram_counts(chunks_of(values), rows, orders, min_count=20, threads=1)
    assert np.array_equal(h, h1) and np.array_equal(c, c1)
    with pytest.raises(ConfigError):
        core.subset_ngram_counts(chunks, rows, [], min_count=1)
    with pytest.raises(InputError):
        core.subset_ngram_counts(chunks, np.array([len(values)], np.uint32), orders)


def test_row_ngram_hashes_join_counter_table():
    values = ["the cat sat", None, "The cat"]
    off, flat = core.row_ngram_hashes(chunks_of(values), [1, 2], max_per_row=None)
    assert off.tolist()[:1] == [0] and off[2] - off[1] == 0
    counter = core.NgramCounter([1, 2])
    counter.add(chunks_of(values))
    table = counter.table(1)
    by_text = dict(zip(table["text"], table["hash"].tolist()))
    assert set(flat[off[0] : off[1]].tolist()) == {
        by_text[t] for t in ["the", "cat", "sat", "the cat", "cat sat"]
    }
    off2, _flat2 = core.row_ngram_hashes(chunks_of(values), [1, 2], max_per_row=2)
    assert (np.diff(off2) <= 2).all()


def test_bigram_familiarity_binding():
    rng = random.Random(4)
    natural = "please write a short poem about the sea and the quiet harbor at night"
    vocab = ["".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=7)) for _ in range(5000)]
    values = [natural if i % 2 else " ".join(rng.choices(vocab, k=15)) for i in range(200)] + [
        "two words",
        None,
    ]
    fam = core.bigram_familiarity(chunks_of(values, [50, 0, 152]), sample_every=1, min_tokens=8)
    assert fam.dtype == np.float32 and len(fam) == len(values)
    assert (fam[1:200:2] > 0.9).all()
    assert (fam[0:200:2] < 0.2).all()
    assert np.isnan(fam[-2:]).all()
    with pytest.raises(ConfigError):
        core.bigram_familiarity(chunks_of(values), sample_every=0)


def test_threads_zero_is_config_error():
    for fn in (
        lambda: core.signatures(chunks_of(["a"]), threads=0),
        lambda: core.text_stats(chunks_of(["a"]), threads=0),
        lambda: core.bigram_familiarity(chunks_of(["a"]), threads=0),
    ):
        with pytest.raises(ConfigError):
            fn()


def test_all_errors_are_poisonscreen_errors():
    for fn in (
        lambda: core.signatures(chunks_of(["a"]), num_perm=0),
        lambda: core.connected_components(1, np.array([[0, 3]], np.uint32)),
        lambda: core.signatures([raw_chunk([b"\xff"])]),
    ):
        with pytest.raises(PoisonScreenError):
            fn()


# ---- fork safety ------------------------------------------------------------------------------


def _child(q):
    try:
        sig = ps.minhash(["the quick brown fox jumps over the lazy dog"] * 600, num_perm=32)
        d = core.text_stats(chunks_of(["a b c"] * 3000))
        q.put((sig.shape, int(sig[0, 0]), int(d["words"].sum())))
    except BaseException as e:  # pragma: no cover - reported to the parent
        q.put(repr(e))


def test_fork_after_thread_pool_use():
    # use the global pool (and a dedicated one) in the parent first
    texts = ["the quick brown fox jumps over the lazy dog"] * 600
    parent = ps.minhash(texts, num_perm=32)
    ps.minhash(texts, num_perm=32, threads=2)
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    with warnings.catch_warnings():
        # Python 3.12+ warns that fork() in a multi-threaded process may deadlock: that is the
        # situation under test
        warnings.simplefilter("ignore", DeprecationWarning)
        p = ctx.Process(target=_child, args=(q,))
        p.start()
    try:
        result = q.get(timeout=60)
    finally:
        p.join(timeout=10)
        if p.is_alive():
            p.kill()
            p.join()
    assert result == ((600, 32), int(parent[0, 0]), 9000), result
    assert p.exitcode == 0


def test_exact_jaccard_across_empty_chunks():
    values = ["a b c d e f", "x", "a b c d e f g", None, "", "a b c d e f"]
    pairs = np.array([[0, 2], [0, 5], [2, 5], [1, 3], [3, 4], [0, 4]], np.uint32)
    want = core.exact_jaccard(chunks_of(values), pairs, k=5)
    assert want.tolist() == [pytest.approx(2 / 3), 1.0, pytest.approx(2 / 3), 0.0, 0.0, 0.0]
    for sizes in ([0, 0, 1, 0, 1, 0, 4, 0], [2, 0, 0, 2, 2], [6, 0]):
        got = core.exact_jaccard(chunks_of(values, sizes), pairs, k=5)
        assert np.array_equal(got, want), sizes
    with pytest.raises(InputError):
        core.exact_jaccard(chunks_of(values, [3, 0, 3]), np.array([[0, 6]], np.uint32))
