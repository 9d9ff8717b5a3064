//! Shingles, MinHash signatures and their stability.

use std::collections::HashSet;

use poisonscreen_core::{
    batch_signatures, estimate_jaccard, hash_token, hash_window, jaccard_sorted, ngram_strings,
    shingle_hashes, shingle_set, tokenize, CoreError, MinHasher, NormalizeOptions, OwnedStrColumn,
    ShingleOptions, TokenMode,
};
use proptest::prelude::*;

fn opts(k: usize) -> ShingleOptions {
    ShingleOptions { k, ..ShingleOptions::default() }
}

fn shingles(text: &str, o: &ShingleOptions) -> Vec<u64> {
    let mut out = Vec::new();
    shingle_hashes(text, o, &mut out);
    out
}

#[test]
fn short_text_gives_one_shingle_of_all_tokens() {
    let o = opts(5);
    let toks: Vec<u64> = ["hello", "big", "world"].iter().map(|t| hash_token(t)).collect();
    assert_eq!(shingles("Hello,  big WORLD!", &o), vec![hash_window(&toks)]);
    assert_eq!(shingles("one", &o), vec![hash_window(&[hash_token("one")])]);
    // exactly k tokens: one window, the same hash
    let five = "a b c d e";
    let h: Vec<u64> = five.split(' ').map(hash_token).collect();
    assert_eq!(shingles(five, &o), vec![hash_window(&h)]);
    assert_eq!(shingles("a b c d e f", &o).len(), 2);
}

#[test]
fn empty_and_whitespace_give_no_shingles() {
    for t in ["", " ", "\t\n  \u{3000}", "... !!! ---"] {
        assert!(shingles(t, &opts(5)).is_empty(), "{t:?}");
        assert!(shingles(t, &opts(1)).is_empty(), "{t:?}");
        assert!(ngram_strings(t, &opts(5)).is_empty(), "{t:?}");
    }
}

#[test]
fn k1_hashes_each_token_window() {
    let o = opts(1);
    let got = shingles("a b a", &o);
    let w = |t: &str| hash_window(&[hash_token(t)]);
    assert_eq!(got, vec![w("a"), w("b"), w("a")]);
}

#[test]
fn invalid_k_is_config_error() {
    assert!(matches!(opts(0).validate(), Err(CoreError::Config(_))));
    assert!(matches!(opts(65).validate(), Err(CoreError::Config(_))));
    assert!(opts(64).validate().is_ok());
}

#[test]
fn ngram_strings_rehash_to_shingle_hashes() {
    let texts = [
        "The quick brown fox jumps over the lazy dog, and the DOG sleeps.",
        "short one",
        "日本語 の テキスト です よ ね 本当に",
        "Straße \u{FB01}ne ＡＢＣ 123 it's e.g. fine",
    ];
    for k in [1, 2, 3, 5, 8] {
        for mode in [TokenMode::Word, TokenMode::Char] {
            let o = ShingleOptions { k, mode, ..ShingleOptions::default() };
            for t in texts {
                let strs = ngram_strings(t, &o);
                let hashes = shingles(t, &o);
                assert_eq!(strs.len(), hashes.len(), "{t:?} k={k} {mode:?}");
                for (s, h) in strs.iter().zip(&hashes) {
                    // re-tokenise the n-gram string as-is
                    let toks: Vec<u64> = tokenize(s, mode).into_iter().map(hash_token).collect();
                    assert_eq!(hash_window(&toks), *h, "{s:?}");
                    // word n-grams re-normalise to themselves (the detectors rely on it); a char
                    // n-gram may be or end in a space, which whitespace trimming would drop
                    let mut again_opts = ShingleOptions { k: toks.len().max(1), ..o };
                    if mode == TokenMode::Char {
                        again_opts.normalize =
                            NormalizeOptions { nfkc: false, casefold: false, collapse_whitespace: false };
                    }
                    let again = shingles(s, &again_opts);
                    assert_eq!(again, vec![*h], "{s:?}");
                }
            }
        }
    }
}

#[test]
fn pinned_hash_values() {
    // A change to any of these is a breaking change of every stored signature and n-gram table.
    assert_eq!(hash_token("hello"), PINNED_HELLO);
    let first = shingles("The quick brown fox jumps over the lazy dog", &opts(5))[0];
    assert_eq!(first, PINNED_FIRST_SHINGLE);
    let mh = MinHasher::new(128, 0).unwrap();
    let mut sig = vec![0u32; 128];
    mh.signature_into(&shingles("The quick brown fox jumps over the lazy dog", &opts(5)), &mut sig);
    assert_eq!(sig[..4], PINNED_SIG);
}

const PINNED_HELLO: u64 = 10760762337991515389; // xxh3-64("hello"), seed 0
const PINNED_FIRST_SHINGLE: u64 = 16450190200610409694;
const PINNED_SIG: [u32; 4] = [867105698, 76616107, 997474932, 540001879];

#[test]
fn minhasher_config_errors() {
    assert!(matches!(MinHasher::new(0, 0), Err(CoreError::Config(_))));
    assert!(matches!(MinHasher::new(4097, 0), Err(CoreError::Config(_))));
    let m = MinHasher::new(7, 42).unwrap();
    assert_eq!((m.num_perm(), m.seed()), (7, 42));
}

#[test]
fn empty_set_signature_is_all_max() {
    let m = MinHasher::new(20, 0).unwrap();
    let mut sig = vec![0u32; 20];
    m.signature_into(&[], &mut sig);
    assert!(sig.iter().all(|&v| v == u32::MAX));
    assert_eq!(estimate_jaccard(&sig, &sig), 0.0);
    assert_eq!(estimate_jaccard(&[], &[]), 0.0);
}

#[test]
fn signature_lengths_not_multiple_of_eight() {
    // the blocked and the scalar tail loops agree with the definition
    let m = MinHasher::new(13, 3).unwrap();
    let sh = shingles("a b c d e f g h i j k l m n o p", &opts(3));
    let mut sig = vec![0u32; 13];
    m.signature_into(&sh, &mut sig);
    let m1 = MinHasher::new(8, 3).unwrap();
    let mut s8 = vec![0u32; 8];
    m1.signature_into(&sh, &mut s8);
    assert_eq!(sig[..8], s8[..]);
    // duplicates don't change the signature
    let mut doubled = sh.clone();
    doubled.extend_from_slice(&sh);
    let mut sig2 = vec![0u32; 13];
    m.signature_into(&doubled, &mut sig2);
    assert_eq!(sig, sig2);
}

fn rows() -> Vec<Option<String>> {
    let mut out: Vec<Option<String>> = Vec::new();
    for i in 0..700 {
        out.push(match i % 11 {
            0 => None,
            1 => Some(String::new()),
            2 => Some("   ".into()),
            _ => Some(format!("row {i} says the number {} and then {} more words here", i * 7, i % 13)),
        });
    }
    out
}

#[test]
fn batch_signatures_same_for_any_thread_count_and_per_row() {
    let rows = rows();
    let refs: Vec<Option<&str>> = rows.iter().map(|r| r.as_deref()).collect();
    let col = OwnedStrColumn::from_strs(&refs);
    let o = opts(3);
    let m = MinHasher::new(64, 9).unwrap();
    let pool = |n| rayon::ThreadPoolBuilder::new().num_threads(n).build().unwrap();
    let one = pool(1).install(|| batch_signatures(&col.view(), &o, &m)).unwrap();
    let four = pool(4).install(|| batch_signatures(&col.view(), &o, &m)).unwrap();
    assert_eq!(one, four);
    assert_eq!(one.len(), rows.len() * 64);
    for (i, r) in rows.iter().enumerate() {
        let mut sig = vec![0u32; 64];
        if let Some(t) = r {
            m.signature_into(&shingles(t, &o), &mut sig);
        } else {
            sig.fill(u32::MAX);
        }
        assert_eq!(&one[i * 64..(i + 1) * 64], &sig[..], "row {i}");
        if r.as_deref().is_none_or(|t| t.trim().is_empty()) {
            assert!(sig.iter().all(|&v| v == u32::MAX), "row {i}");
        } else {
            assert!(sig.iter().any(|&v| v != u32::MAX), "row {i}");
        }
    }
}

#[test]
fn batch_signatures_invalid_utf8_names_the_row() {
    let good = b"fine text".as_slice();
    let mut rows: Vec<&[u8]> = vec![good; 600];
    rows[517] = b"bad \xff\xfe bytes";
    let col = OwnedStrColumn::from_bytes(&rows);
    let m = MinHasher::new(16, 0).unwrap();
    match batch_signatures(&col.view(), &opts(5), &m) {
        Err(CoreError::InvalidUtf8 { row, byte }) => assert_eq!((row, byte), (517, 4)),
        other => panic!("expected InvalidUtf8, got {other:?}"),
    }
    assert!(matches!(batch_signatures(&col.view(), &opts(0), &m), Err(CoreError::Config(_))));
}

#[test]
fn batch_signatures_empty_column() {
    let col = OwnedStrColumn::from_strs(&[]);
    let m = MinHasher::new(16, 0).unwrap();
    assert!(batch_signatures(&col.view(), &opts(5), &m).unwrap().is_empty());
}

#[test]
fn seeds_give_different_families() {
    let sh = shingles("the quick brown fox jumps over the lazy dog again", &opts(2));
    let (mut a, mut b) = (vec![0u32; 32], vec![0u32; 32]);
    MinHasher::new(32, 0).unwrap().signature_into(&sh, &mut a);
    MinHasher::new(32, 1).unwrap().signature_into(&sh, &mut b);
    assert_ne!(a, b);
}

#[test]
fn jaccard_sorted_basics() {
    assert_eq!(jaccard_sorted(&[], &[]), 0.0);
    assert_eq!(jaccard_sorted(&[1, 2, 3], &[]), 0.0);
    assert_eq!(jaccard_sorted(&[1, 2, 3], &[1, 2, 3]), 1.0);
    assert!((jaccard_sorted(&[1, 2, 3], &[2, 3, 4]) - 0.5).abs() < 1e-12);
    let s = shingle_set("a b c a b c a b c", &opts(2));
    assert_eq!(s.len(), 3);
    assert!(s.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn case_and_width_insensitive_by_default() {
    let a = shingles("HELLO  big\tWorld ＡＢＣ", &opts(2));
    let b = shingles("hello big world abc", &opts(2));
    assert_eq!(a, b);
    let raw = ShingleOptions {
        normalize: NormalizeOptions { nfkc: false, casefold: false, collapse_whitespace: false },
        ..opts(2)
    };
    assert_ne!(shingles("HELLO big", &raw), shingles("hello big", &raw));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Signature agreement estimates exact Jaccard within 5 standard errors.
    #[test]
    fn minhash_estimates_jaccard(
        common in prop::collection::hash_set(any::<u64>(), 0..300),
        only_a in prop::collection::hash_set(any::<u64>(), 0..300),
        only_b in prop::collection::hash_set(any::<u64>(), 0..300),
        seed in any::<u64>(),
    ) {
        let a: Vec<u64> = common.iter().chain(&only_a).copied().collect::<HashSet<_>>().into_iter().collect();
        let b: Vec<u64> = common.iter().chain(&only_b).copied().collect::<HashSet<_>>().into_iter().collect();
        prop_assume!(!a.is_empty() && !b.is_empty());
        let (mut sa, mut sb) = (a.clone(), b.clone());
        sa.sort_unstable();
        sb.sort_unstable();
        let j = jaccard_sorted(&sa, &sb);
        let p = 128;
        let m = MinHasher::new(p, seed).unwrap();
        let (mut x, mut y) = (vec![0u32; p], vec![0u32; p]);
        m.signature_into(&a, &mut x);
        m.signature_into(&b, &mut y);
        let est = estimate_jaccard(&x, &y);
        // floor on sigma: 0.5/p so J = 0 or 1 allows a single disagreement from 32-bit collisions
        let sigma = (j * (1.0 - j) / p as f64).sqrt().max(0.5 / p as f64);
        prop_assert!((est - j).abs() <= 5.0 * sigma, "J={} est={} sigma={}", j, est, sigma);
    }
}
