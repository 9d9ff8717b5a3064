//! Cheap per-row text statistics.

use std::collections::{HashMap, HashSet};

use rayon::prelude::*;

use crate::column::StrColumn;
use crate::error::Result;
use crate::shingle::{hash_token, hash_window};
use crate::text::{for_each_token, TokenMode};

/// Statistics of one raw (not normalised) text.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TextStats {
    /// Unicode scalar values.
    pub chars: u32,
    /// UAX #29 words.
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

pub fn text_stats(text: &str) -> TextStats {
    let mut chars = 0u32;
    let mut non_space = 0u32;
    let mut non_alnum = 0u32;
    let mut ascii = [0u32; 128];
    let mut other: HashMap<char, u32> = HashMap::new();
    for c in text.chars() {
        chars += 1;
        if (c as u32) < 128 {
            ascii[c as usize] += 1;
        } else {
            *other.entry(c).or_insert(0) += 1;
        }
        if !c.is_whitespace() {
            non_space += 1;
            if !c.is_alphanumeric() {
                non_alnum += 1;
            }
        }
    }
    let total = chars as f64;
    let entropy = if chars == 0 {
        0.0
    } else {
        ascii
            .iter()
            .copied()
            .chain(other.values().copied())
            .filter(|&c| c > 0)
            .map(|c| {
                let p = c as f64 / total;
                -p * p.log2()
            })
            .sum::<f64>()
    };
    let mut word_hashes = Vec::new();
    let mut lower = String::new();
    for_each_token(text, TokenMode::Word, |w| {
        if w.is_ascii() {
            lower.clear();
            lower.push_str(w);
            lower.make_ascii_lowercase();
            word_hashes.push(hash_token(&lower));
        } else {
            word_hashes.push(hash_token(&w.to_lowercase()));
        }
    });
    let words = word_hashes.len();
    let unique_words = word_hashes.iter().collect::<HashSet<_>>().len();
    let repetition = if words < 3 {
        0.0
    } else {
        let grams = words - 2;
        let mut seen = HashSet::with_capacity(grams);
        let repeats = word_hashes.windows(3).filter(|w| !seen.insert(hash_window(w))).count();
        repeats as f64 / grams as f64
    };
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

/// Statistics of every row; `None` for null rows.
pub fn batch_text_stats(col: &StrColumn) -> Result<Vec<Option<TextStats>>> {
    (0..col.len()).into_par_iter().map(|r| Ok(col.get(r)?.map(text_stats))).collect()
}
