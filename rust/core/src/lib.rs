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
//! - [`assoc`]: prompt features against response patterns (trigger detection's association tests);
//! - [`tokens`]: token hashes of a column computed once, shared by the mining passes;
//! - [`column`](mod@column): zero-copy views of Arrow string arrays.
//!
//! Batch functions run on rayon and give identical results for any thread count. No public
//! function panics on any input text; bad buffers or options return [`CoreError`].
//!
//! # Notes for callers (where this differs from, or adds to, the original spec)
//!
//! - [`CoreError`] also derives `Eq`.
//! - [`StrColumn`] takes `i64` offsets only (Arrow `large_string`); 32-bit offsets must be
//!   widened by the caller. [`OwnedStrColumn::from_bytes`] builds columns of arbitrary bytes.
//! - Hashes are pinned by a regression test: token = xxh3-64 (seed 0) of the UTF-8 bytes;
//!   k-gram = xxh3-64 (seed 0) of the k token hashes as little-endian bytes ([`hash_window`]);
//!   band key = xxh3-64 of the band's `u32`s (little-endian) seeded by the band index.
//! - [`jaccard_sorted`] and [`estimate_jaccard`] give 0 for two empty sets / two empty-set
//!   signatures.
//! - [`MinHasher::signature_into`] picks an AVX-512 / AVX2 / portable loop by run-time CPU
//!   detection; all give bit-identical signatures (tested against the definition).
//! - [`LshParams::from_threshold`] accepts `num_perm` in `1..=4096` (as [`MinHasher::new`]).
//! - [`band_keys`] returns an empty vector for parameters [`LshParams::new`] would reject
//!   (the fields are public); [`candidate_pairs`] returns no pairs when `keys` is too short and
//!   treats `max_bucket < 2` as 2.
//! - [`connected_components`]: `partner[j]` is the smallest row sharing an edge with `j`
//!   (`None` without edges); edges naming rows out of range or self-loops are ignored.
//!   [`UnionFind::find`]/[`UnionFind::union`] ignore out-of-range elements instead of panicking.
//! - [`NgramCounter`]: the kept text for a hash is the lexicographically smallest `(order, text)`
//!   across merges; inside one counter the first text seen wins. The two differ only on a 64-bit
//!   hash collision between different n-grams, so tables are equal for any batching and thread
//!   count except in that (astronomically rare) case.
//! - [`TextStats::unique_word_ratio`] and the repetition 3-grams compare words lowercased.
//! - Extra public API: [`mine`] (multi-chunk [`Texts`] and the n-gram mining passes),
//!   [`shingle_hashes_with`] (caller scratch), [`exact_ngram_hashes`] (no short-text fallback),
//!   [`hash_window`], [`MinHasher::seed`], `shingle::MAX_K` (64), `minhash::MAX_PERM` (4096).

pub mod anomaly;
pub mod assoc;
pub mod cluster;
pub mod column;
pub mod composite;
pub mod counts;
pub mod error;
pub mod lsh;
pub mod mine;
pub mod minhash;
pub mod shingle;
pub mod sketch;
pub mod stats;
pub mod text;
pub mod tokens;
pub mod tone;

pub use anomaly::{anomaly_scores, response_anomalies, RowAnomaly};
pub use cluster::{connected_components, UnionFind};
pub use column::{OwnedStrColumn, StrColumn};
pub use counts::{NgramCounter, NgramRow};
pub use error::{CoreError, Result};
pub use lsh::{band_keys, candidate_pairs, LshParams};
pub use mine::{
    bigram_familiarity, bigram_familiarity_against, ngram_carriers, ngram_carriers_in, ngram_document_counts,
    ngram_document_counts_in, ngram_names, ngram_names_of, row_familiarity, subset_ngram_counts,
    subset_ngram_counts_in, subset_ngram_counts_many, subset_ngram_counts_many_in, NgramSpec, Texts,
    TAIL_MIN_BIGRAMS,
};
pub use minhash::{batch_signatures, estimate_jaccard, row_signatures, MinHasher};
pub use shingle::{
    exact_ngram_hashes, hash_token, hash_window, jaccard_sorted, ngram_strings, shingle_hashes,
    shingle_hashes_with, shingle_set, ShingleOptions,
};
pub use sketch::dense_sketches;
pub use stats::{batch_text_stats, text_stats, TextStats};
pub use text::{for_each_token, is_symbol_token, normalize, tokenize, NormalizeOptions, TokenMode};
pub use tokens::{TextTokens, TokenSource, TokenTable};
