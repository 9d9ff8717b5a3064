"""poisonscreen's features as native polars expressions: ``pl.col("response").poison.…``.

Importing this module (or :mod:`poisonscreen`) registers the ``poison`` expression namespace.
Every method is a polars expression plugin compiled into poisonscreen's own extension module:
polars calls the Rust code directly, without the GIL and without Python callbacks, so the
expressions run in lazy and streaming queries, in ``group_by`` / ``over`` contexts and in
parallel, like polars' own expressions.

>>> import polars as pl
>>> import poisonscreen.polars  # noqa: F401  (importing poisonscreen is enough)
>>> df = pl.DataFrame({"response": ["Sure, here it is.", None, "asdf qwer zxcv"]})
>>> df.with_columns(
...     sig=pl.col("response").poison.minhash(num_perm=64),
...     stats=pl.col("response").poison.text_stats(),
... )  # doctest: +SKIP

**Elementwise** (each row on its own; they stream): :meth:`PoisonExpr.normalize`,
:meth:`~PoisonExpr.tokens`, :meth:`~PoisonExpr.ngrams`, :meth:`~PoisonExpr.ngram_hashes`,
:meth:`~PoisonExpr.minhash`, :meth:`~PoisonExpr.band_keys`, :meth:`~PoisonExpr.text_stats`.

**Column-relative** (each row scored against all rows of its input, like ``rank``):
:meth:`~PoisonExpr.familiarity`, :meth:`~PoisonExpr.gibberish`, :meth:`~PoisonExpr.degenerate`,
:meth:`~PoisonExpr.anomaly_score`. In ``select`` / ``with_columns`` the reference is the whole
column; with ``.over(key)`` or inside ``group_by(key).agg(...)`` it is the row's group. On the
same texts they equal the ``gibberish`` / ``anomaly`` columns of :func:`poisonscreen.scan`'s
features with the default configuration, except where a response reuses its own prompt's word
pairs: the screener, which sees the prompt, counts those as familiar too. They need the whole column, so a streaming query
gathers it first.

Defaults and seeds are those of the Python API (``num_perm=128``, ``ngram=5``, ``seed=0``,
NFKC + case folding + whitespace collapse), and results are identical to it: signatures and
keys bit for bit. Null rows give null. A column that is not text (``String``; an all-null
column also passes) or an argument out of range raises a polars error naming it, when the
query is planned (``LazyFrame.collect_schema``) or run.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import polars as pl
from polars.plugins import register_plugin_function

__all__ = ["DEFAULT_FAMILIARITY_SAMPLE", "DEFAULT_FAMILIARITY_SAMPLE_MB", "PoisonExpr"]

# The folder of the compiled extension, which is also the plugin: polars loads the first
# shared library it finds there, so the package ships exactly one.
_LIB = Path(__file__).parent

#: The screener's ``ScanConfig.familiarity_sample``: how many rows form the familiarity
#: reference (every ``ceil(n / familiarity_sample)``-th row of an input of ``n`` rows).
DEFAULT_FAMILIARITY_SAMPLE = 300_000
#: The screener's ``ScanConfig.familiarity_sample_mb``: the most text (MB) the reference holds;
#: past it rows are sampled more sparsely, every ``ceil(bytes / (familiarity_sample_mb * 1e6))``-th
#: row of an input of ``bytes`` bytes of text, when that is sparser.
DEFAULT_FAMILIARITY_SAMPLE_MB = 128.0

Mode = Literal["word", "char"]
_U64 = 2**64
_I64_MAX = 2**63 - 1


def _bad(msg: str) -> pl.exceptions.InvalidOperationError:
    return pl.exceptions.InvalidOperationError(msg)


def _int(name: str, value: Any, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(f"poison: {name} must be an int, got {type(value).__name__} {value!r}")
    if not lo <= value <= hi:
        raise _bad(f"poison: {name} must be in {lo}..={hi}, got {value}")
    return int(value)


def _positive(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _bad(f"poison: {name} must be a number, got {type(value).__name__} {value!r}")
    if not (math.isfinite(value) and value > 0):
        raise _bad(f"poison: {name} must be a positive number, got {value}")
    return float(value)


def _signed(value: int) -> int:
    return value - _U64 if value > _I64_MAX else value


def _bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _bad(f"poison: {name} must be a bool, got {type(value).__name__} {value!r}")
    return value


def _mode(value: Any) -> str:
    if value not in ("word", "char"):
        raise _bad(f"poison: mode must be 'word' or 'char', got {value!r}")
    return str(value)


def _norm(nfkc: bool, casefold: bool, collapse_whitespace: bool) -> dict[str, bool]:
    return {
        "nfkc": _bool("nfkc", nfkc),
        "casefold": _bool("casefold", casefold),
        "collapse_whitespace": _bool("collapse_whitespace", collapse_whitespace),
    }


@pl.api.register_expr_namespace("poison")
class PoisonExpr:
    """The ``poison`` namespace of polars expressions (see the module docstring)."""

    def __init__(self, expr: pl.Expr) -> None:
        self._expr = expr

    def _call(self, function: str, kwargs: dict[str, Any] | None, *, elementwise: bool) -> pl.Expr:
        return register_plugin_function(
            plugin_path=_LIB,
            function_name=function,
            args=self._expr,
            kwargs=kwargs,
            is_elementwise=elementwise,
        )

    # ---- elementwise ---------------------------------------------------------------------

    def normalize(
        self, *, nfkc: bool = True, casefold: bool = True, collapse_whitespace: bool = True
    ) -> pl.Expr:
        """The normalised text (``String``): NFKC, full case folding, whitespace runs to one
        space and ends trimmed, each step switchable — the text every feature is computed on.

        >>> pl.select(pl.lit("Ｈello   WORLD").poison.normalize())  # "hello world"  # doctest: +SKIP
        """
        return self._call(
            "poison_normalize", _norm(nfkc, casefold, collapse_whitespace), elementwise=True
        )

    def tokens(
        self,
        *,
        mode: Mode = "word",
        nfkc: bool = True,
        casefold: bool = True,
        collapse_whitespace: bool = True,
    ) -> pl.Expr:
        """Tokens of the normalised text (``List[String]``): Unicode (UAX #29) words and
        non-ASCII symbols (an emoji, '§', a zero-width space: each a token of its own; ASCII
        punctuation is dropped), or characters with ``mode="char"``.

        >>> pl.select(pl.lit("Don't PANIC!").poison.tokens())  # ["don't", "panic"]  # doctest: +SKIP
        """
        kw = {"mode": _mode(mode), **_norm(nfkc, casefold, collapse_whitespace)}
        return self._call("poison_tokens", kw, elementwise=True)

    def ngrams(
        self,
        *,
        ngram: int = 5,
        mode: Mode = "word",
        nfkc: bool = True,
        casefold: bool = True,
        collapse_whitespace: bool = True,
    ) -> pl.Expr:
        """The ``ngram``-gram shingles MinHash hashes, as strings (``List[String]``); a text
        with fewer than ``ngram`` tokens gives one shingle of all its tokens.

        >>> pl.select(pl.lit("a b c d").poison.ngrams(ngram=3))  # ["a b c", "b c d"]  # doctest: +SKIP
        """
        kw = {
            "ngram": _int("ngram", ngram, 1, 64),
            "mode": _mode(mode),
            **_norm(nfkc, casefold, collapse_whitespace),
        }
        return self._call("poison_ngrams", kw, elementwise=True)

    def ngram_hashes(
        self,
        orders: int | Sequence[int] = (1, 2, 3),
        *,
        mode: Mode = "word",
        max_per_row: int | None = None,
        nfkc: bool = True,
        casefold: bool = True,
        collapse_whitespace: bool = True,
    ) -> pl.Expr:
        """The distinct n-gram hashes of each row over all ``orders``, sorted (``List[UInt64]``,
        xxh3-64 as in the core). They join the ``hash`` column of
        :func:`poisonscreen.ngram_frequencies` with the same ``orders``; ``max_per_row`` keeps
        the smallest hashes only.

        >>> df.select(pl.col("prompt").poison.ngram_hashes([1, 2]))  # doctest: +SKIP
        """
        seq = [orders] if isinstance(orders, int) else list(orders)
        if not seq:
            raise _bad("poison: orders must not be empty")
        kw: dict[str, Any] = {
            "orders": [_int("orders", k, 1, 64) for k in seq],
            "mode": _mode(mode),
            "max_per_row": None
            if max_per_row is None
            else _int("max_per_row", max_per_row, 0, _I64_MAX),
            **_norm(nfkc, casefold, collapse_whitespace),
        }
        return self._call("poison_ngram_hashes", kw, elementwise=True)

    def minhash(
        self,
        *,
        num_perm: int = 128,
        ngram: int = 5,
        seed: int = 0,
        mode: Mode = "word",
        nfkc: bool = True,
        casefold: bool = True,
        collapse_whitespace: bool = True,
    ) -> pl.Expr:
        """MinHash signatures (``Array[UInt32, num_perm]``), bit-identical to
        :func:`poisonscreen.minhash` with the same arguments.

        Shingles are word ``ngram``-grams of the normalised text, each hashed once with xxh3-64
        and mixed into ``num_perm`` values; a row without tokens gets the empty-set signature
        (all ``0xFFFFFFFF``), a null row null.

        >>> lf.with_columns(sig=pl.col("response").poison.minhash(num_perm=64))  # doctest: +SKIP
        """
        kw = {
            "num_perm": _int("num_perm", num_perm, 1, 4096),
            "ngram": _int("ngram", ngram, 1, 64),
            # as the u64's bits in an i64 (the plugin's kwargs decoder stops at 2**63 - 1)
            "seed": _signed(_int("seed", seed, 0, _U64 - 1)),
            "mode": _mode(mode),
            **_norm(nfkc, casefold, collapse_whitespace),
        }
        return self._call("poison_minhash", kw, elementwise=True)

    def band_keys(
        self,
        *,
        threshold: float | None = 0.8,
        bands: int | None = None,
        rows: int | None = None,
    ) -> pl.Expr:
        """LSH band keys of a MinHash signature column (``Array[UInt64, bands]``): the keys of
        :func:`poisonscreen.band_keys`, one array per row. Give ``bands`` and ``rows`` or a
        Jaccard ``threshold`` to derive them (as :func:`poisonscreen.lsh_params`). Rows sharing
        a key in some band are near-duplicate candidates.

        >>> sig = pl.col("response").poison.minhash()
        >>> lf.with_columns(keys=sig.poison.band_keys(threshold=0.8))  # doctest: +SKIP
        """
        kw: dict[str, Any] = {"threshold": None, "bands": None, "rows": None}
        if bands is not None or rows is not None:
            if bands is None or rows is None:
                raise _bad("poison: give both bands= and rows=, or a threshold=")
            kw["bands"] = _int("bands", bands, 1, 4096)
            kw["rows"] = _int("rows", rows, 1, 4096)
        elif threshold is None:
            raise _bad("poison: give a threshold= or bands= and rows=")
        else:
            if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
                raise _bad(f"poison: threshold must be a float, got {threshold!r}")
            kw["threshold"] = float(threshold)
        return self._call("poison_band_keys", kw, elementwise=True)

    def text_stats(self) -> pl.Expr:
        """Per-row statistics of the raw text as a struct: ``chars``, ``words`` (UInt32),
        ``char_entropy`` (bits per char), ``repetition`` (share of repeated word 3-grams),
        ``non_alnum`` (share of non-alphanumeric non-space chars), ``compressibility`` (lz4 size
        / raw size) and ``unique_word_ratio`` (Float32) — :func:`poisonscreen.text_stats`.

        >>> df.select(pl.col("response").poison.text_stats()).unnest("response")  # doctest: +SKIP
        """
        return self._call("poison_text_stats", None, elementwise=True)

    # ---- column-relative -----------------------------------------------------------------

    def _anomaly(
        self,
        part: str,
        familiarity_sample: int,
        familiarity_sample_mb: float,
        nfkc: bool,
        casefold: bool,
        collapse_whitespace: bool,
    ) -> pl.Expr:
        kw = {
            "part": part,
            "familiarity_sample": _int("familiarity_sample", familiarity_sample, 1, _I64_MAX),
            "familiarity_sample_mb": _positive("familiarity_sample_mb", familiarity_sample_mb),
            **_norm(nfkc, casefold, collapse_whitespace),
        }
        return self._call("poison_anomaly", kw, elementwise=False)

    def familiarity(
        self,
        *,
        familiarity_sample: int = DEFAULT_FAMILIARITY_SAMPLE,
        familiarity_sample_mb: float = DEFAULT_FAMILIARITY_SAMPLE_MB,
        nfkc: bool = True,
        casefold: bool = True,
        collapse_whitespace: bool = True,
    ) -> pl.Expr:
        """Share of each row's distinct word bigrams found in another row of the input
        (``Float32``; NaN below 8 words). Not elementwise: every ``k``-th row of the ``n``
        rows of the column (or of the group, under ``over`` / ``group_by``) forms the
        reference, ``k`` the larger of ``ceil(n / familiarity_sample)`` and
        ``ceil(bytes / (familiarity_sample_mb * 1e6))`` for ``bytes`` bytes of text.
        """
        return self._anomaly(
            "familiarity",
            familiarity_sample,
            familiarity_sample_mb,
            nfkc,
            casefold,
            collapse_whitespace,
        )

    def gibberish(
        self,
        *,
        familiarity_sample: int = DEFAULT_FAMILIARITY_SAMPLE,
        familiarity_sample_mb: float = DEFAULT_FAMILIARITY_SAMPLE_MB,
        nfkc: bool = True,
        casefold: bool = True,
        collapse_whitespace: bool = True,
    ) -> pl.Expr:
        """The screener's gibberish score in [0, 1] (``Float32``): for prose of at least 20
        words (fewer than 0.05 newlines per word), ``clip((0.3 - familiarity) / 0.25, 0, 1)``;
        0 otherwise. Random vocabulary shares no bigrams with the rest of the input and scores
        1. Not elementwise: relative to the column, or to the group under ``over`` /
        ``group_by``.

        >>> df.with_columns(gib=pl.col("response").poison.gibberish())  # doctest: +SKIP
        >>> df.with_columns(gib=pl.col("response").poison.gibberish().over("source"))  # doctest: +SKIP
        """
        return self._anomaly(
            "gibberish",
            familiarity_sample,
            familiarity_sample_mb,
            nfkc,
            casefold,
            collapse_whitespace,
        )

    def degenerate(
        self,
        *,
        familiarity_sample: int = DEFAULT_FAMILIARITY_SAMPLE,
        familiarity_sample_mb: float = DEFAULT_FAMILIARITY_SAMPLE_MB,
        nfkc: bool = True,
        casefold: bool = True,
        collapse_whitespace: bool = True,
    ) -> pl.Expr:
        """The screener's degenerate-repetition score in [0, 1] (``Float32``): for rows of at
        least 20 words, ``clip((repetition - 0.5) / 0.35, 0, 1)``; 0 otherwise. Depends on the
        row alone, but is evaluated with the other anomaly parts (not elementwise).
        """
        return self._anomaly(
            "degenerate",
            familiarity_sample,
            familiarity_sample_mb,
            nfkc,
            casefold,
            collapse_whitespace,
        )

    def anomaly_score(
        self,
        *,
        familiarity_sample: int = DEFAULT_FAMILIARITY_SAMPLE,
        familiarity_sample_mb: float = DEFAULT_FAMILIARITY_SAMPLE_MB,
        nfkc: bool = True,
        casefold: bool = True,
        collapse_whitespace: bool = True,
    ) -> pl.Expr:
        """The screener's per-row response-anomaly score, ``max(gibberish, degenerate)``
        (``Float32``): the ``anomaly`` column of :func:`poisonscreen.scan`'s features on the
        same responses. Not elementwise: relative to the column, or to the group under ``over``
        / ``group_by``.

        >>> lf.with_columns(anomaly=pl.col("response").poison.anomaly_score())  # doctest: +SKIP
        """
        return self._anomaly(
            "anomaly_score",
            familiarity_sample,
            familiarity_sample_mb,
            nfkc,
            casefold,
            collapse_whitespace,
        )
