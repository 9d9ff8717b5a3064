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
    threads: int | None = None,
) -> npt.NDArray[np.uint32]: ...
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
    nfkc: bool = True,
    casefold: bool = True,
    collapse_whitespace: bool = True,
    threads: int | None = None,
) -> npt.NDArray[np.float32]: ...

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
