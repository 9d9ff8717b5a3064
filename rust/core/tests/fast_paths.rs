//! The ASCII fast paths (one-pass normalisation; word shingles without a normalised copy) give
//! exactly what the general definitions give.

use poisonscreen_core::{
    hash_token, hash_window, normalize, shingle_hashes, tokenize, NormalizeOptions, ShingleOptions, TokenMode,
};
use proptest::prelude::*;

fn opts_of(bits: u8) -> NormalizeOptions {
    NormalizeOptions { nfkc: bits & 1 != 0, casefold: bits & 2 != 0, collapse_whitespace: bits & 4 != 0 }
}

/// The definition, step by step, with the general (non-ASCII-specific) library calls.
fn reference_normalize(text: &str, o: &NormalizeOptions) -> String {
    let mut s = text.to_string();
    if o.casefold {
        s = caseless::default_case_fold_str(&s);
    }
    if o.collapse_whitespace {
        s = s.split(char::is_whitespace).filter(|w| !w.is_empty()).collect::<Vec<_>>().join(" ");
    }
    s
}

fn reference_shingles(text: &str, o: &ShingleOptions) -> Vec<u64> {
    let norm = normalize(text, &o.normalize).into_owned();
    let toks: Vec<u64> = tokenize(&norm, o.mode).iter().map(|t| hash_token(t)).collect();
    if toks.is_empty() {
        return Vec::new();
    }
    if toks.len() < o.k {
        return vec![hash_window(&toks)];
    }
    toks.windows(o.k).map(hash_window).collect()
}

#[test]
fn hand_picked_ascii() {
    let o = NormalizeOptions::default();
    assert_eq!(normalize("  Hello\t\x0bWORLD \r\n", &o), "hello world");
    // U+001C..U+001F are not White_Space in Rust (nor in UAX #44): kept
    assert_eq!(normalize("a\x1cb", &o), "a\x1cb");
    assert_eq!(normalize("", &o), "");
    assert_eq!(normalize(" \t ", &o), "");
    let sh = ShingleOptions { k: 2, ..ShingleOptions::default() };
    for t in ["Don't STOP me now.", "U.S.A. 3.14 1,000", "  A  b\tC ", "", "...", "__init__ x_y"] {
        let mut got = Vec::new();
        shingle_hashes(t, &sh, &mut got);
        assert_eq!(got, reference_shingles(t, &sh), "{t:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn ascii_normalize_equals_definition(s in "[aBzZ09'.,:_ \t\n\r\x0b\x0c\x1c]{0,30}", bits in 0u8..8) {
        let o = opts_of(bits);
        prop_assert_eq!(normalize(&s, &o).into_owned(), reference_normalize(&s, &o));
    }

    #[test]
    fn ascii_word_shingles_equal_definition(
        s in "[aBcXyZ019'.,;:_ \t\n\x0b-]{0,40}",
        bits in 0u8..8,
        k in 1usize..6,
    ) {
        let o = ShingleOptions { normalize: opts_of(bits), mode: TokenMode::Word, k };
        let mut got = Vec::new();
        shingle_hashes(&s, &o, &mut got);
        prop_assert_eq!(got, reference_shingles(&s, &o));
    }

    #[test]
    fn long_uppercase_tokens(s in "[A-Za-z]{30,80}( [A-Z]{1,40}){0,3}") {
        let o = ShingleOptions { k: 2, ..ShingleOptions::default() };
        let mut got = Vec::new();
        shingle_hashes(&s, &o, &mut got);
        prop_assert_eq!(got, reference_shingles(&s, &o));
    }
}

/// `text_stats` by its definition, with hash sets and maps.
fn reference_stats(text: &str) -> poisonscreen_core::TextStats {
    use std::collections::{HashMap, HashSet};
    use unicode_segmentation::UnicodeSegmentation;
    let chars: Vec<char> = text.chars().collect();
    let mut hist: HashMap<char, u32> = HashMap::new();
    for &c in &chars {
        *hist.entry(c).or_default() += 1;
    }
    let n = chars.len() as f64;
    let entropy: f64 = hist.values().map(|&c| -(c as f64 / n) * (c as f64 / n).log2()).sum();
    let non_space: Vec<&char> = chars.iter().filter(|c| !c.is_whitespace()).collect();
    let non_alnum = non_space.iter().filter(|c| !c.is_alphanumeric()).count();
    // the word tokens: UAX #29 words and symbol segments
    let words: Vec<String> = text
        .split_word_bounds()
        .filter(|w| w.chars().any(char::is_alphanumeric) || poisonscreen_core::is_symbol_token(w))
        .map(str::to_lowercase)
        .collect();
    let mut seen = HashSet::new();
    let grams = words.len().saturating_sub(2);
    let repeats = words.windows(3).filter(|w| !seen.insert(w.to_vec())).count();
    let unique: HashSet<&String> = words.iter().collect();
    poisonscreen_core::TextStats {
        chars: chars.len() as u32,
        words: words.len() as u32,
        char_entropy: if chars.is_empty() { 0.0 } else { entropy as f32 },
        repetition: if grams == 0 { 0.0 } else { repeats as f32 / grams as f32 },
        non_alnum: if non_space.is_empty() { 0.0 } else { non_alnum as f32 / non_space.len() as f32 },
        compressibility: if text.is_empty() {
            1.0
        } else {
            lz4_flex::block::compress(text.as_bytes()).len() as f32 / text.len() as f32
        },
        unique_word_ratio: if words.is_empty() { 1.0 } else { unique.len() as f32 / words.len() as f32 },
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, ..ProptestConfig::default() })]

    #[test]
    fn text_stats_equal_definition(s in "(the|The|a|b|THE|ß|é|日本|🙂|x1|!|,|\\.| |\t|\u{a0}|\u{2028}){0,60}") {
        let got = poisonscreen_core::text_stats(&s);
        let want = reference_stats(&s);
        prop_assert!((got.char_entropy - want.char_entropy).abs() < 1e-5, "{:?} {:?}", got, want);
        prop_assert!((got.repetition - want.repetition).abs() < 1e-6);
        prop_assert!((got.compressibility - want.compressibility).abs() < 1e-6);
        prop_assert_eq!(
            (got.chars, got.words, got.non_alnum, got.unique_word_ratio),
            (want.chars, want.words, want.non_alnum, want.unique_word_ratio)
        );
    }
}
