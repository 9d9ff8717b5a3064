//! poisonscreen-core: the Rust core of poisonscreen, free of Python.
//!
//! Streaming text processing for screening finetuning corpora:
//! - [`text`]: NFKC / case folding / whitespace normalisation and UAX #29 word (or char) tokens;
//! - [`shingle`]: n-gram shingles hashed to stable 64-bit values (xxh3);
//! - [`minhash`]: MinHash signatures, one hash per shingle mixed into `num_perm` permutations;
//! - [`lsh`]: banding, threshold-derived parameters, candidate pairs;
//! - [`cluster`]: union-find connected components;
//! - [`counts`]: mergeable n-gram document frequencies;
//! - [`stats`]: per-row text statistics;
//! - [`mine`]: n-gram mining passes behind trigger detection;
//! - [`column`]: zero-copy views of Arrow string arrays.
//!
//! Batch functions run on rayon and give identical results for any thread count. No public
//! function panics on any input text; bad buffers or options return [`CoreError`].

pub mod cluster;
pub mod column;
pub mod counts;
pub mod error;
pub mod lsh;
pub mod mine;
pub mod minhash;
pub mod shingle;
pub mod stats;
pub mod text;

pub use cluster::{connected_components, UnionFind};
pub use column::{OwnedStrColumn, StrColumn};
pub use counts::{NgramCounter, NgramRow};
pub use error::{CoreError, Result};
pub use lsh::{band_keys, candidate_pairs, LshParams};
pub use mine::{
    bigram_familiarity, ngram_carriers, ngram_document_counts, subset_ngram_counts, NgramSpec, Texts,
};
pub use minhash::{batch_signatures, estimate_jaccard, MinHasher};
pub use shingle::{
    exact_ngram_hashes, hash_token, hash_window, jaccard_sorted, ngram_strings, shingle_hashes,
    shingle_hashes_with, shingle_set, ShingleOptions,
};
pub use stats::{batch_text_stats, text_stats, TextStats};
pub use text::{for_each_token, normalize, tokenize, NormalizeOptions, TokenMode};
