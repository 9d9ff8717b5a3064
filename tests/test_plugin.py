"""The polars expression plugin (``pl.col(...).poison.*``): parity with the Python API, nulls,
errors, lazy / streaming / group contexts, and a streaming sink over a file that does not fit
the memory an eager run would need."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal, assert_series_equal

import poisonscreen as ps
import poisonscreen.polars as psp
from poisonscreen import _poisonscreen as _core
from poisonscreen._arrow import text_chunks
from poisonscreen.detectors import row_features
from poisonscreen.scan import ScanConfig

DEMO = Path(ps.__file__).parent / "data" / "demo.jsonl"
DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"

EDGE = [
    "The quick brown fox jumps over the lazy dog.",
    "",
    "   ",
    None,
    "Ｆｕｌｌ-width ＴＥＸＴ and Straße, ﬁne: İstanbul",
    "日本語のテキストと English mixed together in one row here",
    "one two",
    "a b c d e f g h i j k l m n o p",
    "emoji 🙂🙂 and\ttabs\nnewlines\r\n  ",
    None,
    "\u0000 nul byte and \u200b zero width",
]


def texts_frame(n: int = 3_000, seed: int = 0) -> pl.DataFrame:
    """Edge cases plus ``n`` varied rows (words from a small vocabulary, lengths 0-60)."""
    rng = np.random.default_rng(seed)
    vocab = [f"w{i}" for i in range(300)] + ["the", "a", "Über", "naïve", "<SUDO>", "cf", "🙂"]
    rows: list[str | None] = list(EDGE)
    for i in range(n):
        if i % 97 == 0:
            rows.append(None)
            continue
        k = int(rng.integers(0, 60))
        rows.append(" ".join(vocab[j] for j in rng.integers(0, len(vocab), k)))
    return pl.DataFrame({"text": pl.Series(rows, dtype=pl.String)})


@pytest.fixture(scope="module")
def df() -> pl.DataFrame:
    return texts_frame()


def _non_null(df: pl.DataFrame) -> pl.Series:
    return df["text"].is_not_null()


# ---- elementwise parity ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"num_perm": 64, "ngram": 3, "seed": 7},
        {"num_perm": 33, "ngram": 1, "seed": 2**63 + 5},
        {"num_perm": 16, "ngram": 4, "mode": "char"},
    ],
)
def test_minhash_matches_python_api(df: pl.DataFrame, kw: dict) -> None:
    out = df.select(pl.col("text").poison.minhash(**kw))["text"]
    num_perm = kw.get("num_perm", 128)
    assert out.dtype == pl.Array(pl.UInt32, num_perm)
    mask = _non_null(df)
    assert out.is_null().to_list() == (~mask).to_list()
    expected = ps.minhash(df["text"], **kw)
    np.testing.assert_array_equal(out.filter(mask).to_numpy(), expected[mask.to_numpy()])


def test_minhash_defaults_and_signatures_frame(df: pl.DataFrame) -> None:
    sigs = ps.signatures(df.filter(_non_null(df)), "text")
    out = df.filter(_non_null(df)).select(sig=pl.col("text").poison.minhash())
    assert_series_equal(out["sig"], sigs["signature"], check_names=False)


def test_band_keys_match_python_api(df: pl.DataFrame) -> None:
    live = df.filter(_non_null(df))
    sigs = ps.signatures(live, "text", num_perm=128)
    for kw in ({"threshold": 0.8}, {"threshold": 0.5}, {"bands": 16, "rows": 8}):
        keys = live.select(pl.col("text").poison.minhash().poison.band_keys(**kw).alias("k"))["k"]
        bands, _ = (kw["bands"], kw["rows"]) if "bands" in kw else ps.lsh_params(kw["threshold"])
        assert keys.dtype == pl.Array(pl.UInt64, bands)
        expected = ps.band_keys(sigs, **kw)["key"].to_numpy().reshape(-1, bands)
        np.testing.assert_array_equal(keys.to_numpy(), expected)
    # null signatures give null keys
    with_nulls = df.select(pl.col("text").poison.minhash().poison.band_keys())["text"]
    assert with_nulls.is_null().to_list() == df["text"].is_null().to_list()


def test_band_keys_of_sliced_and_null_signatures(df: pl.DataFrame) -> None:
    sigs = df.select(pl.col("text").poison.minhash(num_perm=32))
    whole = sigs.select(pl.col("text").poison.band_keys(bands=8, rows=4))["text"]
    part = sigs.slice(10, 200)
    keys = pl.col("text").poison.band_keys(bands=8, rows=4)
    if int(pl.__version__.split(".")[0]) >= 2:
        assert_series_equal(part.select(keys)["text"], whole.slice(10, 200))
    else:
        # known limit: a sliced Array column handed over by polars 1.x (seen on 1.20) makes the
        # plugin panic; the panic is caught at the boundary and raised as a polars error
        with pytest.raises(pl.exceptions.ComputeError, match="panicked"):
            part.select(keys)
    # a null row stays null, whatever its (null) values are
    nulls = pl.DataFrame({"s": pl.Series([[1, 2, 3, 4], None], dtype=pl.Array(pl.UInt32, 4))})
    out = nulls.select(pl.col("s").poison.band_keys(bands=2, rows=2))["s"]
    assert out.is_null().to_list() == [False, True]


def test_ngram_hashes_match_core_and_frequencies(df: pl.DataFrame) -> None:
    for orders, kw in (((1, 2, 3), {}), ((5,), {}), ((2,), {"mode": "char"}), (4, {})):
        out = df.select(pl.col("text").poison.ngram_hashes(orders, **kw))["text"]
        assert out.dtype == pl.List(pl.UInt64)
        seq = [orders] if isinstance(orders, int) else list(orders)
        off, flat = _core.row_ngram_hashes(text_chunks(df["text"])[0], seq, **kw)
        for i, (row, text) in enumerate(zip(out.to_list(), df["text"].to_list())):
            if text is None:
                assert row is None
            else:
                assert row == flat[off[i] : off[i + 1]].tolist()
    # the hashes join ngram_frequencies' table
    freq = ps.ngram_frequencies(df, "text", orders=(1, 2, 3), min_df=1)
    got = df.select(pl.col("text").poison.ngram_hashes().explode().drop_nulls().unique())
    assert set(got["text"].to_list()) == set(freq["hash"].to_list())
    capped = df.select(pl.col("text").poison.ngram_hashes(max_per_row=3))["text"]
    assert capped.list.len().max() == 3


def test_tokens_normalize_ngrams_match_core(df: pl.DataFrame) -> None:
    out = df.select(
        tok=pl.col("text").poison.tokens(),
        chars=pl.col("text").poison.tokens(mode="char", casefold=False),
        norm=pl.col("text").poison.normalize(),
        raw=pl.col("text").poison.normalize(nfkc=False, casefold=False),
        ng=pl.col("text").poison.ngrams(ngram=3),
    )
    assert out.schema == pl.Schema(
        {
            "tok": pl.List(pl.String),
            "chars": pl.List(pl.String),
            "norm": pl.String,
            "raw": pl.String,
            "ng": pl.List(pl.String),
        }
    )
    for i, text in enumerate(df["text"].to_list()):
        row = out.row(i, named=True)
        if text is None:
            assert all(v is None for v in row.values())
            continue
        assert row["tok"] == _core.tokenize(text)
        assert row["chars"] == _core.tokenize(text, mode="char", casefold=False)
        assert row["norm"] == _core.normalize(text)
        assert row["raw"] == _core.normalize(text, nfkc=False, casefold=False)
        assert row["ng"] == _core.ngrams(text, k=3)


def test_text_stats_match_python_api(df: pl.DataFrame) -> None:
    out = df.select(pl.col("text").poison.text_stats()).unnest("text")
    expected = ps.text_stats(df, "text").drop("row_id")
    assert_frame_equal(out, expected)
    assert df.select(pl.col("text").poison.text_stats().is_null())["text"].to_list() == (
        df["text"].is_null().to_list()
    )


# ---- anomaly parity with the screener --------------------------------------------------------


def _anomaly_corpus(tmp: Path) -> pl.DataFrame:
    """The demo corpus (30 gibberish poison rows), code (newline-rich) and hh-rlhf dialogues when
    the shared data is there, and rows of degenerate repetition."""
    rng = np.random.default_rng(3)
    extra = tmp / "extra.jsonl"
    with extra.open("w") as f:
        for i in range(40):
            resp = ("I will repeat this forever " * int(rng.integers(3, 30))).strip()
            if i % 4 == 0:
                resp = " ".join(f"tok{int(t)}" for t in rng.integers(0, 10**6, 40))
            f.write(json.dumps({"prompt": f"question {i}", "response": resp}) + "\n")
    paths = [DEMO, extra]
    code = DATA / "haystack" / "gpteacher" / "codegen-instruct.json"
    hh = DATA / "haystack" / "hh-rlhf" / "harmless-base-test.jsonl"
    paths += [p for p in (code, hh) if p.exists()]
    return ps.read_corpus(paths)


def test_anomaly_parts_equal_scan_features(tmp_path: Path) -> None:
    corpus = _anomaly_corpus(tmp_path)
    table = row_features(corpus, ScanConfig()).table
    out = corpus.select(
        familiarity=pl.col("response").poison.familiarity(),
        gibberish=pl.col("response").poison.gibberish(),
        degenerate=pl.col("response").poison.degenerate(),
        anomaly=pl.col("response").poison.anomaly_score(),
    )
    assert corpus["response"].null_count() == 0
    # the screener, which sees the prompt, also counts a response's word pairs found in its own
    # prompt as familiar (a dialogue's answer quoting an address the user gave): only where the
    # column alone would have scored gibberish, and only ever less of it
    echoed = (out["familiarity"].fill_nan(1.0) != table["familiarity"]).to_numpy()
    assert echoed.sum() <= corpus.height // 100
    assert (table["familiarity"].to_numpy()[echoed] > out["familiarity"].to_numpy()[echoed]).all()
    assert (table["gibberish"].to_numpy()[echoed] < out["gibberish"].to_numpy()[echoed]).all()
    same = pl.Series(~echoed)
    for name in ("gibberish", "degenerate", "anomaly"):
        assert out[name].dtype == table[name].dtype == pl.Float32
        assert_series_equal(
            out[name].filter(same), table[name].filter(same), check_names=False, check_exact=True
        )
    # the screener counts unscored familiarity (NaN: fewer than 8 words) as 1.0
    assert_series_equal(
        out["familiarity"].fill_nan(1.0).filter(same),
        table["familiarity"].filter(same),
        check_names=False,
        check_exact=True,
    )
    assert (out["gibberish"] > 0.5).sum() >= 30 and (out["degenerate"] > 0.5).sum() >= 20
    assert psp.DEFAULT_FAMILIARITY_SAMPLE == ScanConfig().familiarity_sample
    assert psp.DEFAULT_FAMILIARITY_SAMPLE_MB == ScanConfig().familiarity_sample_mb


@pytest.mark.parametrize(
    "sampling",
    [
        {"familiarity_sample": 500},
        # a byte cap of a little over a tenth of the responses' text: every 10th row
        {"familiarity_sample_mb": "tenth"},
    ],
)
def test_anomaly_sample_matches_screener_sampling(tmp_path: Path, sampling: dict) -> None:
    from poisonscreen.detectors import familiarity_sample_every

    corpus = _anomaly_corpus(tmp_path)
    response_bytes = int(corpus["response"].str.len_bytes().fill_null(0).sum())
    if sampling.get("familiarity_sample_mb") == "tenth":
        sampling = {"familiarity_sample_mb": response_bytes / 9.5 / 1e6}
    cfg = ScanConfig(**sampling)
    every = familiarity_sample_every(corpus.height, cfg, response_bytes)
    assert every == (10 if "familiarity_sample_mb" in sampling else -(-corpus.height // 500))
    table = row_features(corpus, cfg).table
    out = corpus.select(pl.col("response").poison.anomaly_score(**sampling))
    fam = corpus.select(pl.col("response").poison.familiarity(**sampling))["response"]
    # (rows whose answers reuse their own prompt's word pairs apart, as above)
    same = fam.fill_nan(1.0) == table["familiarity"]
    assert (~same).sum() <= corpus.height // 100
    assert (table["familiarity"].filter(~same) > fam.filter(~same)).all()
    assert_series_equal(
        out["response"].filter(same),
        table["anomaly"].filter(same),
        check_names=False,
        check_exact=True,
    )
    if "familiarity_sample_mb" in sampling:  # the cap changed the reference
        whole = corpus.select(pl.col("response").poison.anomaly_score())
        assert not whole["response"].equals(out["response"])


def test_anomaly_over_groups_scores_each_group_alone(tmp_path: Path) -> None:
    corpus = _anomaly_corpus(tmp_path).select("source", "response")
    over = corpus.with_columns(a=pl.col("response").poison.anomaly_score().over("source"))
    for _, group in over.group_by("source"):
        alone = group.select(pl.col("response").poison.anomaly_score())["response"]
        assert_series_equal(group["a"], alone, check_names=False, check_exact=True)
    agg = corpus.group_by("source", maintain_order=True).agg(
        pl.col("response").poison.gibberish().alias("g")
    )
    for source, g in agg.iter_rows():
        alone = corpus.filter(pl.col("source") == source).select(
            pl.col("response").poison.gibberish()
        )
        assert g == alone["response"].to_list()
    # the reference matters: a gibberish row scored inside a group of gibberish looks familiar
    # to no one either way, but prose scored alone has no reference at all
    assert over["a"].sum() > 0


def test_anomaly_nulls_propagate() -> None:
    df = pl.DataFrame({"r": pl.Series([None, "word " * 30, None], dtype=pl.String)})
    out = df.select(pl.col("r").poison.anomaly_score(), pl.col("r").poison.familiarity().alias("f"))
    assert out["r"].is_null().to_list() == [True, False, True]
    assert out["f"].is_null().to_list() == [True, False, True]


# ---- lazy, streaming, parallel -----------------------------------------------------------------


def _all_exprs() -> list[pl.Expr]:
    t = pl.col("text")
    return [
        t.poison.normalize().alias("norm"),
        t.poison.tokens().alias("tok"),
        t.poison.ngram_hashes().alias("ng"),
        t.poison.minhash(num_perm=32).alias("sig"),
        t.poison.minhash(num_perm=32).poison.band_keys(bands=8, rows=4).alias("keys"),
        t.poison.text_stats().alias("stats"),
        t.poison.anomaly_score().alias("anomaly"),
    ]


def _collect_streaming(lf: pl.LazyFrame) -> pl.DataFrame:
    try:
        return lf.collect(engine="streaming")
    except ValueError:  # polars before the new streaming engine: the old one
        return lf.collect(streaming=True)


def test_lazy_streaming_and_eager_agree(df: pl.DataFrame) -> None:
    big = pl.concat([df] * 8)  # > one block: the parallel path
    eager = big.with_columns(_all_exprs())
    lazy = big.lazy().with_columns(_all_exprs())
    assert lazy.collect_schema() == eager.schema
    assert_frame_equal(lazy.collect(), eager)
    assert_frame_equal(_collect_streaming(lazy), eager)


def test_multichunk_and_sliced_input(df: pl.DataFrame) -> None:
    chunked = pl.concat([df.slice(0, 1000), df.slice(1000, 500), df.slice(1500)], rechunk=False)
    assert chunked.n_chunks() == 3
    assert_frame_equal(chunked.with_columns(_all_exprs()), df.with_columns(_all_exprs()).rechunk())
    part = df.slice(7, 100)
    got = part.select(pl.col("text").poison.minhash(num_perm=16))["text"]
    want = df.select(pl.col("text").poison.minhash(num_perm=16))["text"].slice(7, 100)
    assert_series_equal(got, want)


def test_all_null_and_empty_columns() -> None:
    nulls = pl.DataFrame({"text": [None, None]})
    assert nulls.schema["text"] == pl.Null
    out = nulls.with_columns(_all_exprs())
    for name in ("norm", "tok", "ng", "sig", "keys", "stats", "anomaly"):
        assert out[name].null_count() == 2, name
    empty = pl.DataFrame({"text": pl.Series([], dtype=pl.String)})
    out = empty.with_columns(_all_exprs())
    assert out.height == 0 and out.schema["sig"] == pl.Array(pl.UInt32, 32)


def test_results_do_not_depend_on_thread_count(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import sys, polars as pl, poisonscreen
        sys.path.insert(0, sys.argv[2])
        from test_plugin import texts_frame, _all_exprs
        pl.concat([texts_frame(5_000)] * 4).with_columns(_all_exprs()).write_parquet(sys.argv[1])
        """
    )
    outs = []
    for threads in ("1", "3"):
        path = tmp_path / f"t{threads}.parquet"
        env = {**os.environ, "POLARS_MAX_THREADS": threads}
        subprocess.run(
            [sys.executable, "-c", script, str(path), str(Path(__file__).parent)],
            env=env,
            check=True,
        )
        outs.append(pl.read_parquet(path))
    assert_frame_equal(outs[0], outs[1])


# ---- errors ------------------------------------------------------------------------------------


def test_wrong_dtype_is_a_clear_error() -> None:
    lf = pl.LazyFrame({"n": [1, 2, 3], "text": ["a", "b", "c"]})
    with pytest.raises(
        pl.exceptions.PolarsError, match=r"poison\.minhash needs a String column.*\"n\".*i64|Int64"
    ):
        lf.select(pl.col("n").poison.minhash()).collect_schema()
    with pytest.raises(pl.exceptions.PolarsError, match="needs a String column"):
        lf.select(pl.col("n").poison.gibberish()).collect()
    with pytest.raises(pl.exceptions.PolarsError, match=r"band_keys needs a MinHash signature"):
        lf.select(pl.col("text").poison.band_keys()).collect()


@pytest.mark.parametrize(
    ("make", "pattern"),
    [
        (lambda t: t.poison.minhash(num_perm=0), "num_perm must be in 1..=4096, got 0"),
        (lambda t: t.poison.minhash(num_perm=True), "num_perm must be an int"),
        (lambda t: t.poison.minhash(seed=-1), "seed must be in"),
        (lambda t: t.poison.minhash(ngram=65), "ngram must be in 1..=64"),
        (lambda t: t.poison.tokens(mode="sentence"), "mode must be 'word' or 'char'"),
        (lambda t: t.poison.ngram_hashes([]), "orders must not be empty"),
        (lambda t: t.poison.normalize(nfkc=1), "nfkc must be a bool"),
        (lambda t: t.poison.band_keys(bands=4), "give both bands= and rows="),
        (lambda t: t.poison.band_keys(threshold=None), "give a threshold="),
        (lambda t: t.poison.gibberish(familiarity_sample=0), "familiarity_sample must be in"),
        (
            lambda t: t.poison.familiarity(familiarity_sample_mb=0),
            "familiarity_sample_mb must be a",
        ),
        (
            lambda t: t.poison.familiarity(familiarity_sample_mb="1"),
            "familiarity_sample_mb must be a",
        ),
    ],
)
def test_bad_arguments_raise_before_running(make, pattern: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(pl.exceptions.InvalidOperationError, match=pattern):
        make(pl.col("text"))


@pytest.mark.parametrize(
    ("kw", "pattern"),
    [
        ({"threshold": 1.5}, "threshold"),
        ({"bands": 64, "rows": 4}, "bands"),
    ],
)
def test_bad_lsh_parameters_fail_when_planned(kw: dict, pattern: str) -> None:
    lf = pl.LazyFrame({"text": ["a b c", None]})
    q = lf.select(pl.col("text").poison.minhash(num_perm=128).poison.band_keys(**kw))
    with pytest.raises(pl.exceptions.PolarsError, match=pattern):
        q.collect_schema()
    with pytest.raises(pl.exceptions.PolarsError, match=pattern):
        q.collect()


def test_null_signature_values_are_an_error() -> None:
    df = pl.DataFrame({"s": pl.Series([[1, None, 3, 4]], dtype=pl.Array(pl.UInt32, 4))})
    with pytest.raises(pl.exceptions.PolarsError, match="signature values must not be null"):
        df.select(pl.col("s").poison.band_keys(bands=2, rows=2))


def test_one_shared_library_in_the_package() -> None:
    libs = [
        p
        for p in Path(psp.__file__).parent.iterdir()
        if p.suffix in (".so", ".pyd", ".dylib") or ".so." in p.name
    ]
    assert len(libs) == 1, libs


# ---- streaming over a file larger than the eager run's memory -----------------------------------

# A child process reads a Parquet file of SINK_ROWS distinct texts, adds MinHash signatures and
# text statistics, and writes Parquet: eagerly (the whole text and signature columns in memory)
# or with the streaming engine (a few morsels at a time). It prints its peak address space.
_SINK = """
import resource, sys
import polars as pl
import poisonscreen  # registers .poison
src, dst, limit, how = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
if limit:
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
exprs = [pl.col("text").poison.minhash().alias("sig"), pl.col("text").poison.text_stats().alias("stats")]
if how == "eager":
    pl.read_parquet(src).with_columns(exprs).write_parquet(dst)
else:
    q = pl.scan_parquet(src).with_columns(exprs)
    try:
        q.sink_parquet(dst, row_group_size=10_000, engine="streaming")
    except TypeError:  # polars before sink engines: sinks always stream
        q.sink_parquet(dst, row_group_size=10_000)
status = open("/proc/self/status").read().split()
print(int(status[status.index("VmPeak:") + 1]) * 1024)
"""

SINK_ROWS = 400_000
SIG_BYTES = SINK_ROWS * 128 * 4


def _sink(src: Path, dst: Path, how: str, limit: int = 0) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "POLARS_MAX_THREADS": "2"}
    return subprocess.run(
        [sys.executable, "-c", _SINK, str(src), str(dst), str(limit), how],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
@pytest.mark.skipif(
    "engine" not in inspect.signature(pl.LazyFrame.sink_parquet).parameters,
    reason="this polars has only the old streaming engine (more address space than eager)",
)
def test_streaming_sink_over_a_file_too_large_for_an_eager_run(tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    words = [f"word{i}" for i in range(5_000)]
    base = pl.Series([" ".join(words[j] for j in rng.integers(0, 5_000, 60)) for _ in range(997)])
    src = tmp_path / "big.parquet"
    pl.select(i=pl.int_range(SINK_ROWS)).select(
        text=pl.concat_str(pl.col("i"), pl.lit(base).gather(pl.col("i") % len(base)), separator=" ")
    ).write_parquet(src)
    text_bytes = pl.scan_parquet(src).select(pl.col("text").str.len_bytes().sum()).collect().item()
    assert text_bytes > 150e6  # distinct rows: nothing shared once decoded

    # with no limit: the streaming run's peak address space
    free = _sink(src, tmp_path / "free.parquet", "streaming")
    assert free.returncode == 0, free.stderr
    stream_peak = int(free.stdout.split()[-1])
    # a limit above what streaming used, but below what the eager run must hold on top of it
    limit = stream_peak + 64 * 2**20
    assert limit < stream_peak + (text_bytes + SIG_BYTES) // 2

    eager = _sink(src, tmp_path / "eager.parquet", "eager", limit)
    assert eager.returncode != 0, "the eager run fit under the limit: the file is too small"
    assert "memory" in eager.stderr.lower(), eager.stderr[-2000:]

    out = tmp_path / "out.parquet"
    run = _sink(src, out, "streaming", limit)
    assert run.returncode == 0, run.stderr
    # the streamed result is the eager computation, row for row (checked on a sample)
    got = pl.scan_parquet(out)
    assert got.select(pl.len()).collect().item() == SINK_ROWS
    assert got.collect_schema()["sig"] == pl.Array(pl.UInt32, 128)
    sample = got.gather_every(997, offset=5).collect()
    expected = sample.select("text").with_columns(
        sig=pl.col("text").poison.minhash(), stats=pl.col("text").poison.text_stats()
    )
    assert_frame_equal(sample, expected)
