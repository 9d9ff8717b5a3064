//! n-gram shingles hashed to 64 bits.
//!
//! Each token is hashed once with xxh3-64 (seed 0) of its UTF-8 bytes; a k-gram's hash is xxh3-64
//! of the little-endian bytes of its k token hashes. Both are stable across versions, platforms
//! and thread counts: a change to either is a breaking change caught by a pinned-value test.

use xxhash_rust::xxh3::xxh3_64;

use crate::error::{CoreError, Result};
use crate::text::{ascii_words, for_each_token, normalize, NormalizeOptions, TokenMode};

/// How text becomes shingles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ShingleOptions {
    pub normalize: NormalizeOptions,
    pub mode: TokenMode,
    pub k: usize,
}

impl Default for ShingleOptions {
    fn default() -> Self {
        ShingleOptions { normalize: NormalizeOptions::default(), mode: TokenMode::Word, k: 5 }
    }
}

pub const MAX_K: usize = 64;

impl ShingleOptions {
    pub fn validate(&self) -> Result<()> {
        if self.k == 0 || self.k > MAX_K {
            return Err(CoreError::Config(format!("n-gram size must be in 1..={MAX_K}, got {}", self.k)));
        }
        Ok(())
    }
}

/// The hash of one token.
#[inline]
pub fn hash_token(token: &str) -> u64 {
    xxh3_64(token.as_bytes())
}

/// The hash of a window of token hashes: xxh3-64 (seed 0) of their little-endian bytes. At most
/// [`MAX_K`] hashes are used.
#[inline]
pub fn hash_window(hashes: &[u64]) -> u64 {
    let mut buf = [0u8; 8 * MAX_K];
    let n = hashes.len().min(MAX_K);
    for (dst, h) in buf.chunks_exact_mut(8).zip(&hashes[..n]) {
        dst.copy_from_slice(&h.to_le_bytes());
    }
    xxh3_64(&buf[..n * 8])
}

/// Hashes of the windows of `k` consecutive hashes of `toks` (`k <= MAX_K`), appended to `out`;
/// each equals [`hash_window`] of the window. The token hashes are laid out as bytes once, so a
/// window is hashed in place.
fn hash_windows(toks: &[u64], k: usize, out: &mut Vec<u64>) {
    let k = k.min(MAX_K);
    if k == 0 || toks.len() < k {
        return;
    }
    BYTES.with(|cell| {
        let mut bytes = cell.take();
        bytes.clear();
        bytes.reserve(toks.len() * 8);
        for h in toks {
            bytes.extend_from_slice(&h.to_le_bytes());
        }
        out.extend((0..=toks.len() - k).map(|i| xxh3_64(&bytes[i * 8..(i + k) * 8])));
        cell.set(bytes);
    });
}

thread_local! {
    static BYTES: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

/// The hash of every token of the normalised `text`, into `out` (cleared first).
pub(crate) fn token_hashes(text: &str, opts: &ShingleOptions, out: &mut Vec<u64>) {
    out.clear();
    for_each_token_hash(text, opts, |h, _| out.push(h));
}

/// Every token of the normalised `text` with its hash, in order (the word as written where
/// the text is ASCII: lowercasing aside, the same word).
pub(crate) fn for_each_token_hash(text: &str, opts: &ShingleOptions, mut f: impl FnMut(u64, &str)) {
    if opts.mode == TokenMode::Word && text.is_ascii() {
        // Fast path, same result: on ASCII, NFKC is the identity, whitespace never joins or
        // splits UAX #29 words and lowercasing moves no boundary, so the words of the
        // normalised text are the (lowercased) words of the raw text. No normalised copy.
        let fold = opts.normalize.casefold;
        let mut small = [0u8; 32];
        let mut long = Vec::new();
        ascii_words(text, |t| {
            let tb = t.as_bytes();
            if fold && tb.iter().any(u8::is_ascii_uppercase) {
                let buf = if tb.len() <= small.len() {
                    &mut small[..tb.len()]
                } else {
                    long.clear();
                    long.extend_from_slice(tb);
                    &mut long[..]
                };
                buf.copy_from_slice(tb);
                buf.make_ascii_lowercase();
                f(xxh3_64(buf), t);
            } else {
                f(xxh3_64(tb), t);
            }
        });
        return;
    }
    let norm = normalize(text, &opts.normalize);
    for_each_token(&norm, opts.mode, |t| f(hash_token(t), t));
}

/// Hashes of every window of `opts.k` consecutive tokens of the normalised `text`, into `out`
/// (cleared first, not deduplicated). A text with 1..k-1 tokens gives one shingle of all its
/// tokens, so short texts still get a signature; a text without tokens gives none.
pub fn shingle_hashes(text: &str, opts: &ShingleOptions, out: &mut Vec<u64>) {
    let mut toks = Vec::new();
    shingle_hashes_with(text, opts, &mut toks, out);
}

/// [`shingle_hashes`] with caller-provided scratch space for the token hashes.
pub fn shingle_hashes_with(text: &str, opts: &ShingleOptions, toks: &mut Vec<u64>, out: &mut Vec<u64>) {
    token_hashes(text, opts, toks);
    out.clear();
    windows_append(toks, opts.k, true, out);
}

/// Exact k-grams only: a text with fewer than k tokens has none (for counting n-grams by order).
pub fn exact_ngram_hashes(text: &str, opts: &ShingleOptions, toks: &mut Vec<u64>, out: &mut Vec<u64>) {
    token_hashes(text, opts, toks);
    out.clear();
    windows_append(toks, opts.k, false, out);
}

/// Append the hashes of every k-window of `toks` (see [`shingle_hashes`] for short texts).
pub(crate) fn windows_append(toks: &[u64], k: usize, short_fallback: bool, out: &mut Vec<u64>) {
    if toks.is_empty() {
        return;
    }
    if toks.len() < k {
        if short_fallback {
            out.push(hash_window(toks));
        }
    } else {
        // a 1-gram's hash is the hash of its one-token window, as for any k
        hash_windows(toks, k, out);
    }
}

/// The distinct shingle hashes of `text`, sorted (for exact Jaccard).
pub fn shingle_set(text: &str, opts: &ShingleOptions) -> Vec<u64> {
    let mut out = Vec::new();
    shingle_hashes(text, opts, &mut out);
    out.sort_unstable();
    out.dedup();
    out
}

/// The k-gram strings of `text` in the windows [`shingle_hashes`] hashes: tokens of the normalised
/// text joined by ' ' (words) or concatenated (chars).
pub fn ngram_strings(text: &str, opts: &ShingleOptions) -> Vec<String> {
    let norm = normalize(text, &opts.normalize);
    let mut toks = Vec::new();
    for_each_token(&norm, opts.mode, |t| toks.push(t));
    let sep = if opts.mode == TokenMode::Word { " " } else { "" };
    if toks.is_empty() {
        return Vec::new();
    }
    if toks.len() < opts.k {
        return vec![toks.join(sep)];
    }
    toks.windows(opts.k).map(|w| w.join(sep)).collect()
}

/// Exact Jaccard similarity of two sorted, deduplicated sets. Two empty sets give 0.
pub fn jaccard_sorted(a: &[u64], b: &[u64]) -> f64 {
    if a.is_empty() && b.is_empty() {
        return 0.0;
    }
    let (mut i, mut j, mut inter) = (0, 0, 0usize);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                inter += 1;
                i += 1;
                j += 1;
            }
        }
    }
    inter as f64 / (a.len() + b.len() - inter) as f64
}
