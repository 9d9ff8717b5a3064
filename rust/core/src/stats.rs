//! Cheap per-row text statistics.

use rayon::prelude::*;

use crate::column::StrColumn;
use crate::error::Result;
use crate::shingle::{hash_token, hash_window};
use crate::text::{for_each_token, TokenMode};
use xxhash_rust::xxh3::xxh3_64;

/// Statistics of one raw (not normalised) text.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TextStats {
    /// Unicode scalar values.
    pub chars: u32,
    /// Word tokens (UAX #29 words and symbols, [`crate::tokenize`]).
    pub words: u32,
    /// Shannon entropy of the character distribution, bits per character.
    pub char_entropy: f32,
    /// Share of word 3-grams repeating an earlier 3-gram of the same text (0 below 3 words).
    pub repetition: f32,
    /// Share of non-whitespace characters that are not alphanumeric.
    pub non_alnum: f32,
    /// lz4 compressed size / raw size (lower is more repetitive); 1 for the empty text.
    pub compressibility: f32,
    /// Distinct words / words, case-insensitive (1 without words).
    pub unique_word_ratio: f32,
}

/// Statistics of `text` (raw, not normalised). Never panics; linear time apart from sorting the
/// word hashes.
pub fn text_stats(text: &str) -> TextStats {
    // character histogram: ASCII in a table, the rest collected and sorted (no hashing)
    let mut ascii = [0u32; 128];
    let mut other: Vec<u32> = Vec::new();
    let (chars, non_space, non_alnum) = if text.is_ascii() {
        for &b in text.as_bytes() {
            ascii[b as usize] += 1;
        }
        let mut non_space = 0u32;
        let mut non_alnum = 0u32;
        for (b, &n) in ascii.iter().enumerate() {
            let c = b as u8;
            if n > 0 && !matches!(c, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ') {
                non_space += n;
                if !c.is_ascii_alphanumeric() {
                    non_alnum += n;
                }
            }
        }
        (text.len() as u32, non_space, non_alnum)
    } else {
        let (mut chars, mut non_space, mut non_alnum) = (0u32, 0u32, 0u32);
        for c in text.chars() {
            chars += 1;
            if (c as u32) < 128 {
                ascii[c as usize] += 1;
            } else {
                other.push(c as u32);
            }
            if !c.is_whitespace() {
                non_space += 1;
                if !c.is_alphanumeric() {
                    non_alnum += 1;
                }
            }
        }
        (chars, non_space, non_alnum)
    };
    other.sort_unstable();
    let total = chars as f64;
    let term = |c: u32| {
        let p = c as f64 / total;
        -p * p.log2()
    };
    let entropy = if chars == 0 {
        0.0
    } else {
        let mut h: f64 = ascii.iter().filter(|&&c| c > 0).map(|&c| term(c)).sum();
        h += other.chunk_by(|a, b| a == b).map(|run| term(run.len() as u32)).sum::<f64>();
        h
    };

    // word hashes, case-insensitive (ASCII lowercased on the stack)
    let mut word_hashes = Vec::new();
    let mut small = [0u8; 32];
    for_each_token(text, TokenMode::Word, |w| {
        let wb = w.as_bytes();
        if w.is_ascii() && wb.len() <= small.len() {
            let buf = &mut small[..wb.len()];
            buf.copy_from_slice(wb);
            buf.make_ascii_lowercase();
            word_hashes.push(xxh3_64(buf));
        } else {
            word_hashes.push(hash_token(&w.to_lowercase()));
        }
    });
    let words = word_hashes.len();
    // a 3-gram repeats an earlier one iff it is not the first of its value: repeats = all - distinct
    let mut grams: Vec<u64> =
        if words < 3 { Vec::new() } else { word_hashes.windows(3).map(hash_window).collect() };
    let n_grams = grams.len();
    let repetition =
        if n_grams == 0 { 0.0 } else { (n_grams - distinct(&mut grams)) as f64 / n_grams as f64 };
    let unique_words = distinct(&mut word_hashes);
    let compressibility = if text.is_empty() {
        1.0
    } else {
        lz4_flex::block::compress(text.as_bytes()).len() as f64 / text.len() as f64
    };
    TextStats {
        chars,
        words: words as u32,
        char_entropy: entropy as f32,
        repetition: repetition as f32,
        non_alnum: if non_space == 0 { 0.0 } else { non_alnum as f32 / non_space as f32 },
        compressibility: compressibility as f32,
        unique_word_ratio: if words == 0 { 1.0 } else { unique_words as f32 / words as f32 },
    }
}

/// Number of distinct values (sorts `v`).
fn distinct(v: &mut [u64]) -> usize {
    v.sort_unstable();
    v.chunk_by(|a, b| a == b).count()
}

/// Statistics of every row; `None` for null rows.
pub fn batch_text_stats(col: &StrColumn) -> Result<Vec<Option<TextStats>>> {
    (0..col.len()).into_par_iter().map(|r| Ok(col.get(r)?.map(text_stats))).collect()
}
