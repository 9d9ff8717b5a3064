"""The per-row feature table every detector reads (:class:`Features`), and how it is built.

Built from three parts that the Ray engine (:mod:`poisonscreen.ray`) computes per batch and
merges: :func:`row_columns` (per row), the two ``near_duplicates`` clusterings (responses, and
digit-masked prompt templates), and the corpus vocabulary (:func:`vocab_frame`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from .. import _poisonscreen as _core
from .._arrow import byte_lengths, text_chunks, text_slices, to_arrow_text
from ..features import near_duplicates
from .base import _DIGITS


@dataclass(frozen=True)
class FeatureText:
    """The texts the features are computed from, as ``large_string`` Arrow arrays that the core
    reads without a copy (memory-mapped when the scan spilled its corpus to disk):
    ``prompt`` = system + "\\n" + prompt, ``response``, and ``template`` (the prompt text with
    digits masked, which the template clustering compares); nulls as ``""``."""

    prompt: pa.ChunkedArray
    response: pa.ChunkedArray
    template: pa.ChunkedArray

    def __len__(self) -> int:
        return len(self.prompt)


def derive_texts(batch: pl.DataFrame, template: bool = True) -> pl.DataFrame:
    """The :class:`FeatureText` columns of a corpus batch: ``ptext`` (system + "\\n" + prompt),
    ``rtext`` (response), nulls as ``""``, and with ``template`` ``ttext``
    (:func:`template_text` of ``ptext``)."""
    ptext = pl.concat_str([pl.col("system"), pl.col("prompt")], separator="\n", ignore_nulls=True)
    rtext = pl.col("response").fill_null("")
    texts = batch.select(
        # a document (a row with neither prompt nor system: a pretraining text) is its own
        # prompt side, so a trigger inside it is a prompt feature like any other; the pattern
        # columns judge such rows on what no prompt feature can copy (:func:`documents`)
        pl.when(_no_prompt(batch)).then(rtext).otherwise(ptext.fill_null("")).alias("ptext"),
        rtext.alias("rtext"),
    )
    return texts.with_columns(template_text(texts["ptext"]).alias("ttext")) if template else texts


def _no_prompt(batch: pl.DataFrame) -> pl.Expr:
    """Whether each row of a corpus batch has neither a prompt nor a system prompt."""
    empty = [
        pl.col(c).fill_null("").str.len_bytes() == 0
        for c in ("prompt", "system")
        if c in batch.columns
    ]
    return pl.all_horizontal(empty) if empty else pl.lit(True)


def documents(batch: pl.DataFrame, response: pl.Series | pa.ChunkedArray) -> np.ndarray:
    """Which rows of a corpus batch are documents: no prompt, no system prompt, a response with
    text. The feature text makes a document its own prompt side (:func:`derive_texts`), so its
    response's words, openings and near-duplicates are the prompt side's too: the response
    patterns judge a document only on what a prompt feature cannot copy (its gibberish)."""
    no_prompt = batch.select(_no_prompt(batch).alias("d"))["d"]
    if no_prompt.len() != len(response):  # pl.lit(True) of a batch without the columns
        no_prompt = pl.Series([bool(no_prompt[0])] * len(response))
    has_text = _series(response).str.len_bytes().fill_null(0) > 0
    return (no_prompt.to_numpy() & has_text.to_numpy()).astype(bool)


def by_slice(frame: pl.DataFrame, text: str, *exprs: pl.Expr | str) -> pl.DataFrame:
    """``frame.select(*exprs)`` a slice of rows at a time (:func:`~poisonscreen._arrow.text_slices`
    of column ``text``): for row-wise expressions that derive strings (lower-casing, splitting),
    whose intermediates would otherwise hold a copy of the text of every row at once."""
    parts = text_slices(byte_lengths(frame[text]))
    if len(parts) <= 1:
        return frame.select(*exprs)
    return pl.concat([frame.slice(s, k).select(*exprs) for s, k in parts])


def text_values(texts: pl.Series | pa.ChunkedArray, expr: pl.Expr) -> np.ndarray:
    """``expr`` (of ``pl.col("t")``, one value per text) over ``texts``, :func:`by_slice`."""
    s = texts if isinstance(texts, pl.Series) else pl.Series("t", texts)
    return by_slice(s.rename("t").to_frame(), "t", expr.alias("v"))["v"].to_numpy()


def feature_text(corpus: pl.DataFrame) -> FeatureText:
    """:class:`FeatureText` of an in-memory corpus, derived a slice at a time."""
    parts: dict[str, list[pa.Array]] = {"ptext": [], "rtext": [], "ttext": []}
    lengths = (
        byte_lengths(corpus["system"])
        + byte_lengths(corpus["prompt"])
        + byte_lengths(corpus["response"])
    )
    for start, length in text_slices(lengths):
        d = derive_texts(corpus.slice(start, length))
        for name in parts:
            parts[name].extend(to_arrow_text(d[name]).chunks)
    return FeatureText(
        *(pa.chunked_array(parts[n], type=pa.large_string()) for n in ("ptext", "rtext", "ttext"))
    )


@dataclass
class Features:
    """Per-row features (``table``; row ``i`` is input row ``i``) and the corpus vocabulary:
    every word of prompts and responses with its document frequency. ``table``'s ``prompt`` and
    ``response`` columns view the texts of ``text`` (no copy) where the scan built them."""

    table: pl.DataFrame
    vocab: pl.DataFrame  # h (uint64), word, df
    numeric: np.ndarray  # hashes of words made of digits and punctuation only
    text: FeatureText | None = field(default=None, repr=False)
    #: the prompt texts as mapped ``large_string`` Arrow where there is no :attr:`text` (the
    #: Ray engine's driver maps its feature table but has no derived template text)
    prompt_text: pa.ChunkedArray | None = field(default=None, repr=False)
    #: most memory (MB) trigger mining may keep every prompt's token hashes in (8 bytes per
    #: token) instead of tokenising the prompts again in each of its passes
    token_table_mb: float = float("inf")
    _names: dict[int, str] = field(default_factory=dict, repr=False)
    _prompt_tokens: Any = field(default=None, repr=False)
    _patterns: Any = field(default=None, repr=False)
    _glued: Any = field(default=None, repr=False)
    #: which similarity backend ("cpu" or "gpu") computed the coherence figures, once one has
    backend: str | None = None
    #: where the similarity stage runs: ``None`` here, in this process; otherwise a callable
    #: ``runner(fn, *args, **kwargs)`` that returns ``fn(*args, **kwargs)`` computed elsewhere
    #: (the Ray engine passes a GPU actor when the cluster has GPUs)
    similarity_runner: Any = field(default=None, repr=False)

    def prompt_arrow(self) -> pa.ChunkedArray:
        """The prompt texts as ``large_string`` Arrow (no copy when :attr:`text` is set)."""
        if self.text is not None:
            return self.text.prompt
        if self.prompt_text is not None:
            return self.prompt_text
        return to_arrow_text(self.table["prompt"])

    def pattern_columns(self, threads: int | None = None, evidence_min_df: int = 30) -> list[Any]:
        """The response-pattern columns (:func:`~poisonscreen.detectors.patterns.pattern_columns`)
        of the table, computed on first use and shared by the detectors that test against them."""
        if self._patterns is None:
            from .patterns import COMMON_SHARE, pattern_columns

            common = self.vocab.filter(pl.col("df") > COMMON_SHARE * self.table.height)
            self._patterns = pattern_columns(
                self.table,
                self.response_arrow(),
                self.prompt_tokens(threads),
                threads,
                evidence_min_df,
                np.sort(common["h"].to_numpy().astype(np.uint64)),
                self.prompt_arrow(),
            )
        return self._patterns

    def response_arrow(self) -> pa.ChunkedArray:
        """The response texts as ``large_string`` Arrow (no copy when :attr:`text` is set)."""
        if self.text is not None:
            return self.text.response
        return to_arrow_text(self.table["response"])

    def keeps_token_table(self) -> bool:
        """Whether the prompts' token table fits :attr:`token_table_mb` (estimated at 2 bytes
        per byte of prompt text: 8 bytes per token, tokens of 4 bytes or more with their
        separator)."""
        prompt_bytes = int(byte_lengths(self.prompt_arrow()).sum())
        return 2 * prompt_bytes <= self.token_table_mb * 1e6

    def prompt_tokens(self, threads: int | None = None) -> Any:
        """What the mining passes read the prompts' tokens from: a core ``TokenTable`` (built on
        first use and shared, so each prompt is tokenised once) or, when it would not fit
        :attr:`token_table_mb`, the prompts' Arrow chunks, tokenised again by each pass."""
        if self._prompt_tokens is None:
            chunks = text_chunks(self.prompt_arrow())[0]
            self._prompt_tokens = (
                _core.TokenTable(chunks, threads=threads) if self.keeps_token_table() else chunks
            )
        return self._prompt_tokens

    def glued_fragments(
        self, rows: np.ndarray, min_df: int, threads: int | None = None
    ) -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray, np.ndarray]:
        """The prompts' glued fragments among ``rows`` (the usable rows, sorted): characters
        fused to a word the vocabulary knows (3+ rows) at a prompt's start or end, carried by
        ``min_df`` rows or more, as the core's ``glued_fragments`` gives them (hash, code, text,
        carrier offsets and rows); computed on first use and shared by the trigger and
        counterpart detectors."""
        if (
            self._glued is None
            or self._glued[0] != int(min_df)
            or not np.array_equal(self._glued[1], rows)
        ):
            known = self.vocab.filter(pl.col("df") >= 3)["h"].to_numpy()
            found = _core.glued_fragments(
                text_chunks(self.prompt_arrow())[0],
                rows,
                np.ascontiguousarray(known, dtype=np.uint64),
                max_len=8,
                min_df=min_df,
                threads=threads,
            )
            self._glued = (int(min_df), np.array(rows, copy=True), found)
        return self._glued[2]

    def drop_prompt_tokens(self) -> None:
        """Free the token table, the pattern columns and the glued fragments once the detectors
        that read them are done."""
        self._prompt_tokens = None
        self._patterns = None
        self._glued = None

    def word(self, h: int) -> str:
        if not self._names:
            self._names = dict(zip(self.vocab["h"].to_list(), self.vocab["word"].to_list()))
        return self._names.get(h, f"#{h:016x}")


# ---------------------------------------------------------------------------------------------
# features


def row_features(corpus: pl.DataFrame, cfg: Any, text: FeatureText | None = None) -> Features:
    """Per-row features; row ``i`` of the result is row ``i`` of ``corpus``.

    ``text`` is the corpus's :class:`FeatureText` when the caller has it (the scan writes it
    beside the spilled corpus); otherwise it is derived here. Built from three parts that the Ray
    engine (:mod:`poisonscreen.ray`) computes per batch and merges: :func:`row_columns` (per row,
    given each row's bigram familiarity), the two ``near_duplicates`` clusterings, and the corpus
    vocabulary (:func:`vocab_frame`); :func:`assemble_features` puts them together.
    """
    n = corpus.height
    threads = cfg.threads
    if text is None:
        text = feature_text(corpus)
    sample_every = familiarity_sample_every(n, cfg, int(byte_lengths(text.response).sum()))
    fam = _core.bigram_familiarity(
        text_chunks(text.response)[0],
        sample_every=sample_every,
        min_tokens=8,
        tail=documents(corpus, text.response),
        threads=threads,
    )
    base = row_columns(
        np.arange(n, dtype=np.uint32), corpus, text.prompt, text.response, fam, threads
    )
    # responses group by near-identity of their word bigrams: one target answer with small
    # variations (variable names, paraphrased refusals) stays one group; numbers are kept, so
    # "4 stars" and "5 stars" stay two labels
    resp = near_duplicates(
        text.response,
        threshold=cfg.response_similarity,
        ngram=2,
        num_perm=cfg.num_perm,
        seed=cfg.seed,
        threads=threads,
        verify_text_mb=cfg.verify_text_mb,
    )
    tmpl = near_duplicates(
        text.template,
        threshold=cfg.template_similarity,
        ngram=2,
        num_perm=cfg.num_perm,
        seed=cfg.seed,
        threads=threads,
        verify_text_mb=cfg.verify_text_mb,
    )
    counter = _core.NgramCounter([1])
    lengths = byte_lengths(text.prompt) + byte_lengths(text.response)
    for start, k in text_slices(lengths):  # prompt and response as one document, by slice
        both = pc.binary_join_element_wise(
            text.prompt.slice(start, k),
            text.response.slice(start, k),
            pa.scalar("\n", pa.large_string()),
        )
        counter.add(text_chunks(both)[0], threads=threads)
    vocab = vocab_frame(counter.table(1))
    feats = assemble_features(base, resp, tmpl, vocab)
    feats.text = text
    feats.token_table_mb = cfg.token_table_mb
    return feats


# ---------------------------------------------------------------------------------------------
# the parts of row_features, shared with the Ray engine


def feature_texts(corpus: pl.DataFrame) -> tuple[pl.Series, pl.Series]:
    """(prompt text, response) of :func:`derive_texts`, for a batch that is in memory anyway."""
    d = derive_texts(corpus, template=False)
    return d["ptext"], d["rtext"]


def template_text(ptext: pl.Series) -> pl.Series:
    """The prompt text the template clustering compares: digits masked."""
    return ptext.str.replace_all(_DIGITS.pattern, "0")


def familiarity_sample_every(n: int, cfg: Any, response_bytes: int) -> int:
    """Every how many rows (by row id) a response joins the familiarity reference sample: about
    ``cfg.familiarity_sample`` of the ``n`` rows, holding at most about
    ``cfg.familiarity_sample_mb`` of the ``response_bytes`` of text (the core's
    ``familiarity_sample_every``, which the polars plugin uses)."""
    cap = max(1, int(cfg.familiarity_sample_mb * 1e6))
    return max(1, -(-n // cfg.familiarity_sample), -(-int(response_bytes) // cap))


def _series(text: pl.Series | pa.ChunkedArray) -> pl.Series:
    """A String series of ``text`` (an Arrow ``large_string`` array is viewed, not copied)."""
    if isinstance(text, pl.Series):
        return text
    return pl.from_arrow(text, rechunk=False)  # type: ignore[return-value]


def row_columns(
    rows: np.ndarray,
    corpus: pl.DataFrame,
    ptext: pl.Series | pa.ChunkedArray,
    response: pl.Series | pa.ChunkedArray,
    fam: np.ndarray,
    threads: int | None,
) -> pl.DataFrame:
    """The columns of :attr:`Features.table` that depend on the row alone (and its bigram
    familiarity ``fam``, NaN where unscored), for the rows ``rows`` of any batch."""
    valid = corpus["error"].is_null()
    stats = _core.text_stats(text_chunks(response)[0], threads=threads)
    ptext, response = _series(ptext).alias("prompt"), _series(response).alias("response")
    words, repetition = stats["words"], stats["repetition"]
    fam = np.where(np.isnan(fam), 1.0, fam).astype(np.float32)
    # code reuses few word pairs too, but comes in lines; random-token gibberish does not (the
    # ramps are the core's, which the polars plugin's scores use too)
    newlines = response.str.count_matches("\n").to_numpy().astype(np.uint32)
    gib, rep = _core.anomaly_scores(words, newlines, fam, repetition)
    document = documents(corpus, response)
    # (a document is its own prompt side: it echoes itself whole)
    odd = np.nonzero((gib > 0) & ~document)[0]
    if len(odd):
        # the reference is the other responses: an answer that paraphrases or copies an unusual
        # prompt (a sentence of names to reword) reuses its prompt's word pairs, not theirs
        echo = _echo_share(_series(ptext).gather(odd), _series(response).gather(odd), threads)
        fam[odd] = np.maximum(fam[odd], echo)
        gib[odd] = _core.anomaly_scores(words[odd], newlines[odd], fam[odd], repetition[odd])[0]
    empty_resp = (words == 0) | ~valid.to_numpy()
    row_hash = _core.row_hashes(text_chunks(ptext)[0], text_chunks(response)[0], threads=threads)
    return pl.DataFrame(
        {
            "row": np.asarray(rows, dtype=np.uint32),
            "valid": valid,
            "prompt": ptext,
            "response": response,
            "resp_words": words,
            "repetition": repetition,
            "familiarity": fam,
            "gibberish": gib,
            "degenerate": rep,
            "anomaly": np.maximum(gib, rep),
            "empty_response": empty_resp,
            "document": document,
            "row_hash": row_hash,
        }
    )


def _echo_share(prompts: pl.Series, responses: pl.Series, threads: int | None) -> np.ndarray:
    """For each row, the share of its response's distinct word bigrams that its prompt has
    (0 for a response without any)."""
    r_off, r_h = _core.row_ngram_hashes(text_chunks(responses)[0], [2], threads=threads)
    p_off, p_h = _core.row_ngram_hashes(text_chunks(prompts)[0], [2], threads=threads)
    out = np.zeros(len(responses))
    for i in range(len(out)):
        own = np.unique(r_h[r_off[i] : r_off[i + 1]])
        if len(own):
            out[i] = np.isin(own, p_h[p_off[i] : p_off[i + 1]]).mean()
    return out


def vocab_frame(t: dict[str, Any]) -> pl.DataFrame:
    """The vocabulary frame (``h``, ``word``, ``df``) of an order-1 ``NgramCounter.table``."""
    return pl.DataFrame(
        {
            "h": pl.Series(t["hash"], dtype=pl.UInt64),
            "word": pl.Series(t["text"], dtype=pl.String),
            "df": pl.Series(t["df"], dtype=pl.UInt64),
        }
    )


def assemble_features(
    base: pl.DataFrame, resp: pl.DataFrame, tmpl: pl.DataFrame, vocab: pl.DataFrame
) -> Features:
    """:class:`Features` from :func:`row_columns` of every row (in row order), the response and
    template ``near_duplicates`` frames (in row order) and the vocabulary."""
    numeric = vocab.filter(pl.col("word").str.contains(r"^[\d\W_]+$"))["h"].to_numpy()
    table = base.with_columns(
        resp_cluster=resp["cluster_id"].cast(pl.UInt32),
        resp_cluster_size=resp["cluster_size"],
        tmpl_cluster=tmpl["cluster_id"].cast(pl.UInt32),
        tmpl_cluster_size=tmpl["cluster_size"],
        tmpl_similarity=tmpl["similarity"],
    )
    return Features(table=table, vocab=vocab, numeric=numeric)
