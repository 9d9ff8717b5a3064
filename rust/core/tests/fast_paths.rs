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
