"""poisonscreen — screen LLM finetuning corpora for data poisoning.

Polars-first: DataFrames and LazyFrames in, DataFrames out. The heavy lifting (tokenisation,
n-gram hashing, MinHash/LSH, clustering, counting) runs in a Rust core with the GIL released.

>>> import poisonscreen as ps
>>> result = ps.scan("corpus/*.jsonl")          # doctest: +SKIP
>>> result.flagged.head()                        # doctest: +SKIP
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _dist_version

# _process first: under an address-space limit its import turns off allocator settings that
# reserve address space, before polars, pyarrow and NumPy load (_process.lean_allocators)
from . import _poisonscreen, _process  # noqa: F401
from .exceptions import ConfigError, InputError, PoisonScreenError

__version__: str = _poisonscreen.__version__

try:  # the compiled module and the Python package must come from the same build
    _dist = _dist_version("poisonscreen")
except PackageNotFoundError:  # running from a source tree without installing
    _dist = __version__
if _dist != __version__:
    raise ImportError(
        f"poisonscreen: the compiled module is version {__version__} but the package is {_dist}; "
        "reinstall poisonscreen (pip install --force-reinstall .)"
    )

from . import polars as polars  # registers the polars expression namespace pl.Expr.poison
from .features import (
    NgramCounter,
    ShingleConfig,
    band_keys,
    lsh_params,
    minhash,
    near_duplicates,
    ngram_frequencies,
    signatures,
    text_stats,
)
from .io import iter_corpus, read_corpus
from .scan import ScanConfig, ScanResult, scan

__all__ = [
    "ConfigError",
    "InputError",
    "NgramCounter",
    "PoisonScreenError",
    "ScanConfig",
    "ScanResult",
    "ShingleConfig",
    "__version__",
    "band_keys",
    "iter_corpus",
    "lsh_params",
    "minhash",
    "near_duplicates",
    "ngram_frequencies",
    "read_corpus",
    "scan",
    "signatures",
    "text_stats",
]
