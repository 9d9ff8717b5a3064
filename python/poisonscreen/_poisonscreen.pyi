# Type stub of the compiled module (rust/python). Checked against it by `make stubtest`.
from typing import Any, final

import numpy as np
import numpy.typing as npt

__version__: str

_Chunk = tuple[npt.NDArray[np.int64], npt.NDArray[np.uint8], npt.NDArray[np.uint8] | None, int]

def signatures(
    chunks: list[_Chunk],
    *,
    num_perm: int = 128,
    seed: int = 0,
    k: int = 5,
    mode: str = "word",
    nfkc: bool = True,
    casefold: bool = True,
    collapse_whitespace: bool = True,
    rows: npt.NDArray[np.uint32] | None = None,
    threads: int | None = None,
) -> npt.NDArray[np.uint32]: ...
def equal_texts(
    chunks: list[_Chunk],
    a: npt.NDArray[np.uint32],
    b: npt.NDArray[np.uint32],
    *,
    threads: int | None = None,
) -> npt.NDArray[np.bool_]: ...
def lsh_params(threshold: float, num_perm: int = 128) -> tuple[int, int]: ...
def band_keys(
    sigs: npt.NDArray[np.uint32], bands: int, rows: int, *, threads: int | None = None
) -> npt.NDArray[np.uint64]: ...
def candidate_pairs(
    keys: npt.NDArray[np.uint64],
    *,
    max_bucket: int = 64,
    skip: npt.NDArray[np.bool_] | None = None,
    threads: int | None = None,
) -> npt.NDArray[np.uint32]: ...
def signature_agreement(
    sigs: npt.NDArray[np.uint32], pairs: npt.NDArray[np.uint32], *, threads: int | None = None
) -> npt.NDArray[np.float64]: ...
def exact_jaccard(
    chunks: list[_Chunk],
    pairs: npt.NDArray[np.uint32],
    *,
    k: int = 5,
    mode: str = "word",
    nfkc: bool = True,
    casefold: bool = True,
    collapse_whitespace: bool = True,
    threads: int | None = None,
) -> npt.NDArray[np.float64]: ...
def connected_components(
    n_rows: int, edges: npt.NDArray[np.uint32]
) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.int64]]: ...
def text_stats(chunks: list[_Chunk], *, threads: int | None = None) -> dict[str, Any]: ...
def row_ngram_hashes(
    chunks: list[_Chunk],
    orders: list[int],
    *,
    mode: str = "word",
    nfkc: bool = True,
    casefold: bool = True,
    collapse_whitespace: bool = True,
    max_per_row: int | None = None,
    threads: int | None = None,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint64]]: ...
def normalize(
    text: str, *, nfkc: bool = True, casefold: bool = True, collapse_whitespace: bool = True
) -> str: ...
def tokenize(
    text: str,
    *,
    mode: str = "word",
    nfkc: bool = True,
    casefold: bool = True,
    collapse_whitespace: bool = True,
) -> list[str]: ...
def ngrams(
    text: str,
    *,
    k: int = 5,
    mode: str = "word",
    nfkc: bool = True,
    casefold: bool = True,
    collapse_whitespace: bool = True,
) -> list[str]: ...
def subset_ngram_counts(
    chunks: list[_Chunk] | TokenTable,
    rows: npt.NDArray[np.uint32],
    orders: list[int],
    *,
    min_count: int = 1,
    mode: str = "word",
    nfkc: bool = True,
    casefold: bool = True,
    collapse_whitespace: bool = True,
    threads: int | None = None,
) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint32]]: ...
def ngram_document_counts(
    chunks: list[_Chunk] | TokenTable,
    hashes: npt.NDArray[np.uint64],
    orders: list[int],
    *,
    mode: str = "word",
    nfkc: bool = True,
    casefold: bool = True,
    collapse_whitespace: bool = True,
    threads: int | None = None,
) -> npt.NDArray[np.uint64]: ...
def ngram_carriers(
    chunks: list[_Chunk] | TokenTable,
    hashes: npt.NDArray[np.uint64],
    orders: list[int],
    *,
    max_per: int = 10000,
    mode: str = "word",
    nfkc: bool = True,
    casefold: bool = True,
    collapse_whitespace: bool = True,
    threads: int | None = None,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint32]]: ...
def subset_ngram_counts_many(
    chunks: list[_Chunk] | TokenTable,
    sets: list[npt.NDArray[np.uint32]],
    orders: list[int],
    min_counts: list[int],
    *,
    mode: str = "word",
    nfkc: bool = True,
    casefold: bool = True,
    collapse_whitespace: bool = True,
    threads: int | None = None,
) -> list[tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint32]]]: ...
def ngram_names(
    text: str,
    orders: list[int],
    *,
    wanted: npt.NDArray[np.uint64] | None = None,
    mode: str = "word",
    nfkc: bool = True,
    casefold: bool = True,
    collapse_whitespace: bool = True,
) -> tuple[npt.NDArray[np.uint64], list[str]]: ...
def bigram_familiarity(
    chunks: list[_Chunk],
    *,
    sample_every: int = 1,
    min_tokens: int = 8,
    tail: npt.NDArray[np.bool_] | None = None,
    nfkc: bool = True,
    casefold: bool = True,
    collapse_whitespace: bool = True,
    threads: int | None = None,
) -> npt.NDArray[np.float32]: ...
def bigram_familiarity_against(
    chunks: list[_Chunk],
    ref_hashes: npt.NDArray[np.uint64],
    ref_counts: npt.NDArray[np.uint64],
    own: npt.NDArray[np.bool_],
    *,
    min_tokens: int = 8,
    tail: npt.NDArray[np.bool_] | None = None,
    nfkc: bool = True,
    casefold: bool = True,
    collapse_whitespace: bool = True,
    threads: int | None = None,
) -> npt.NDArray[np.float32]: ...
def anomaly_scores(
    words: npt.NDArray[np.uint32],
    newlines: npt.NDArray[np.uint32],
    familiarity: npt.NDArray[np.float32],
    repetition: npt.NDArray[np.float32],
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]: ...

@final
class TokenTable:
    def __new__(
        cls,
        chunks: list[_Chunk],
        *,
        mode: str = "word",
        nfkc: bool = True,
        casefold: bool = True,
        collapse_whitespace: bool = True,
        threads: int | None = None,
    ) -> TokenTable: ...
    def __len__(self) -> int: ...
    @property
    def num_tokens(self) -> int: ...
    @property
    def memory_bytes(self) -> int: ...

@final
class NgramCounter:
    def __new__(
        cls,
        orders: list[int] = ...,
        *,
        mode: str = "word",
        nfkc: bool = True,
        casefold: bool = True,
        collapse_whitespace: bool = True,
    ) -> NgramCounter: ...
    def add(self, chunks: list[_Chunk], *, threads: int | None = None) -> None: ...
    def merge(self, other: NgramCounter) -> None: ...
    @property
    def documents(self) -> int: ...
    def __len__(self) -> int: ...
    def table(self, min_df: int = 1) -> dict[str, Any]: ...

def dense_sketches(
    chunks: list[_Chunk],
    hashes: npt.NDArray[np.uint64],
    df: npt.NDArray[np.uint64],
    n_docs: int,
    orders: list[int],
    *,
    dim: int = 256,
    seed: int = 0,
    mode: str = "word",
    nfkc: bool = True,
    casefold: bool = True,
    collapse_whitespace: bool = True,
    threads: int | None = None,
) -> npt.NDArray[np.float32]: ...

# ---- association mining (trigger detection) ----
_U64 = npt.NDArray[np.uint64]
_U32 = npt.NDArray[np.uint32]
_I64 = npt.NDArray[np.int64]
_Bool = npt.NDArray[np.bool_]

def row_hashes(
    first: list[_Chunk], second: list[_Chunk], *, threads: int | None = None
) -> _U64: ...
def mine_features(
    source: list[_Chunk] | TokenTable,
    rows: _U32,
    row_hash: _U64,
    orders: list[int],
    *,
    positions: bool = True,
    min_df: int = 10,
    max_df: int = ...,
    threads: int | None = None,
) -> tuple[_U64, npt.NDArray[np.uint8], _U32, _U64, _U64]: ...
def feature_carriers(
    source: list[_Chunk] | TokenTable,
    rows: _U32,
    hashes: _U64,
    orders: list[int],
    *,
    positions: bool = True,
    max_per: int = ...,
    threads: int | None = None,
) -> tuple[npt.NDArray[np.int64], _U32]: ...
def glued_fragments(
    chunks: list[_Chunk],
    rows: _U32,
    known: _U64,
    *,
    max_len: int = 8,
    min_df: int = 10,
    threads: int | None = None,
) -> tuple[_U64, npt.NDArray[np.uint8], list[str], npt.NDArray[np.int64], _U32]: ...
def punctuation_runs(
    chunks: list[_Chunk],
    rows: _U32,
    *,
    max_len: int = 16,
    marked_len: int = 0,
    min_df: int = 10,
    max_df: int = ...,
    threads: int | None = None,
) -> tuple[list[str], npt.NDArray[np.int64], _U32]: ...
def pattern_tests(
    offsets: npt.NDArray[np.int64],
    carriers: _U32,
    columns: list[_U64],
    skip_zero: list[bool],
    strata: _U32,
    usable: npt.NDArray[np.bool_],
    *,
    min_pattern: int = 10,
    pseudo: float = 10.0,
    threads: int | None = None,
) -> tuple[
    _U32,
    npt.NDArray[np.uint64],
    npt.NDArray[np.uint32],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.uint32],
    npt.NDArray[np.uint32],
]: ...
def edge_codes(
    source: list[_Chunk] | TokenTable,
    heads: list[int],
    tails: list[int],
    *,
    rows: npt.NDArray[np.uint32] | None = None,
    threads: int | None = None,
) -> npt.NDArray[np.uint64]: ...
def answer_overlap(
    source: list[_Chunk] | TokenTable,
    responses: list[_Chunk],
    frequent: _U64,
    *,
    min_len: int = 3,
    pairs: npt.NDArray[np.uint32] | None = None,
    threads: int | None = None,
) -> tuple[_U32, _U32, _U32, _U32]: ...
def tone_counts(
    source: list[_Chunk] | TokenTable,
    responses: list[_Chunk],
    words: list[str],
    valences: npt.NDArray[np.float32],
    negators: list[str],
    *,
    strong: float = 1.5,
    threads: int | None = None,
) -> tuple[_U32, _U32, _U32, _U32]: ...
def counterpart_pairs(
    source: list[_Chunk] | TokenTable,
    rows: _U32,
    *,
    max_edge: int = 24,
    max_inner: int = 6,
    min_rest: int = 3,
    max_len: int = 512,
    max_pairs: int = 1000000,
    threads: int | None = None,
) -> tuple[_U64, _U32, _U32, npt.NDArray[np.uint32]]: ...
def cluster_counterparts(
    source: list[_Chunk] | TokenTable,
    offsets: npt.NDArray[np.int64],
    rows: _U32,
    *,
    max_cluster: int = 64,
    max_span: int = 64,
    threads: int | None = None,
) -> tuple[_U64, _U32, _U32, npt.NDArray[np.uint32]]: ...
def label_surprise(
    source: list[_Chunk] | TokenTable,
    rows: _U32,
    labels: _U64,
    task: _U64,
    *,
    min_df: int = 30,
    max_classes: int = 64,
    alpha: float = 1.0,
    temper: float = 0.0,
    pool: _U64 | None = None,
    threads: int | None = None,
) -> npt.NDArray[np.float32]: ...
def label_expectation(
    source: list[_Chunk] | TokenTable,
    rows: _U32,
    labels: _U64,
    task: _U64,
    offsets: npt.NDArray[np.int64],
    carriers: _U32,
    *,
    exclude_features: _U64 | None = None,
    exclude_codes: npt.NDArray[np.uint8] | None = None,
    exclude_offsets: npt.NDArray[np.int64] | None = None,
    min_df: int = 30,
    max_classes: int = 64,
    alpha: float = 1.0,
    temper: float = 0.0,
    pool: _U64 | None = None,
    threads: int | None = None,
) -> npt.NDArray[np.float32]: ...
def content_expectation(
    source: list[_Chunk] | TokenTable,
    rows: _U32,
    columns: list[_U64],
    target_columns: list[int],
    target_values: _U64,
    offsets: npt.NDArray[np.int64],
    carriers: _U32,
    excludes: list[str],
    word_hashes: _U64,
    word_df: _U32,
    *,
    exclude_features: _U64 | None = None,
    exclude_codes: npt.NDArray[np.uint8] | None = None,
    exclude_offsets: npt.NDArray[np.int64] | None = None,
    background: _U32 | None = None,
    min_df: int = 30,
    alpha: float = 10.0,
    threads: int | None = None,
) -> npt.NDArray[np.float64]: ...
def response_phrases(
    chunks: list[_Chunk],
    offsets: npt.NDArray[np.int64],
    carriers: _U32,
    row_hash: _U64,
    orders: list[int],
    *,
    sample: int = 16,
    min_share: float = 0.6,
    any_share: float = 0.0,
    max_tokens: int = 256,
    min_rows: int = 8,
    per: int = 8,
    ignore: _U64 | None = None,
    threads: int | None = None,
) -> tuple[_U32, _U64, _U32, _U32, npt.NDArray[np.bool_]]: ...
def chernoff(k: float, d: float, mu: float) -> float: ...
def row_gain(k: float, q: npt.NDArray[np.float64], sure: float) -> float: ...
def gather_lists(offsets: _I64, rows: _U32, lists: _U32, keep: _Bool) -> tuple[_I64, _U32]: ...
def scaffold_shares(
    offsets: _I64,
    rows: _U32,
    strata: _U32,
    stratum_size: npt.NDArray[np.uint64],
    min_cluster: int,
    *,
    shown_offsets: _I64 | None = None,
    shown_rows: _U32 | None = None,
    threads: int | None = None,
) -> npt.NDArray[np.float64]: ...
def list_overlaps(
    a_offsets: _I64,
    a_rows: _U32,
    b_offsets: _I64,
    b_rows: _U32,
    pairs_a: _U32,
    pairs_b: _U32,
    marked: _Bool,
    *,
    threads: int | None = None,
) -> tuple[_U32, _U32]: ...
def conjunction_search(
    offsets: _I64,
    rows: _U32,
    usable: _Bool,
    groups: _I64,
    parts: _U32,
    share: npt.NDArray[np.float64],
    value: _U64,
    codes: _U64,
    strata: _U32,
    *,
    min_rows: int,
    min_shown: int,
    apart: float,
    gain: float,
    one_template: float,
    threads: int | None = None,
) -> tuple[
    _U32,
    npt.NDArray[np.int8],
    _I64,
    _U32,
    _U32,
    npt.NDArray[np.float64],
    _U32,
    _U32,
]: ...
def sample_keys(
    chunks: list[_Chunk], *, threads: int | None = None
) -> tuple[_U64, npt.NDArray[np.bool_]]: ...
