//! Dense sketches: determinism, unit norm, similarity of near duplicates.

use poisonscreen_core::sketch::{dense_sketches, idf};
use poisonscreen_core::{subset_ngram_counts, NgramSpec, NormalizeOptions, OwnedStrColumn, Texts, TokenMode};

fn spec() -> NgramSpec {
    NgramSpec {
        normalize: NormalizeOptions { nfkc: true, casefold: true, collapse_whitespace: true },
        mode: TokenMode::Word,
        orders: vec![1, 2, 3],
    }
}

fn words(seed: u64, n: usize) -> String {
    let vocab = [
        "river", "stone", "quiet", "market", "lamp", "orange", "violin", "winter", "garden", "paper",
        "silver", "horse", "cloud", "bridge", "candle", "forest", "mirror", "salt", "thunder", "wheel",
        "copper", "meadow", "pencil", "harbor", "velvet", "ladder", "comet", "basket", "island", "feather",
    ];
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            vocab[(s % vocab.len() as u64) as usize]
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn corpus() -> Vec<Option<String>> {
    let mut rows: Vec<Option<String>> = (0..3000).map(|i| Some(words(i, 40))).collect();
    rows[7] = None;
    rows[8] = Some(String::new());
    // a near duplicate of row 0: one word changed in the middle
    let mut w: Vec<String> = rows[0].as_ref().unwrap().split(' ').map(String::from).collect();
    w[20] = "zeppelin".into();
    rows[1] = Some(w.join(" "));
    rows
}

fn sketch(rows: &[Option<String>], dim: usize, seed: u64, threads: usize) -> Vec<f32> {
    let refs: Vec<Option<&str>> = rows.iter().map(|r| r.as_deref()).collect();
    // two chunks, to cross a chunk boundary
    let (a, b) = refs.split_at(1234);
    let cols = [OwnedStrColumn::from_strs(a), OwnedStrColumn::from_strs(b)];
    let texts = Texts::new(cols.iter().map(|c| c.view()).collect());
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    pool.install(|| {
        let all: Vec<u32> = (0..texts.len() as u32).collect();
        let counts = subset_ngram_counts(&texts, &all, &spec(), 1).unwrap();
        let (h, d): (Vec<u64>, Vec<u64>) = counts.into_iter().map(|(h, c)| (h, u64::from(c))).unzip();
        dense_sketches(&texts, &spec(), &h, &d, texts.len() as u64, dim, seed).unwrap()
    })
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[test]
fn deterministic_across_thread_pools() {
    let rows = corpus();
    let one = sketch(&rows, 128, 7, 1);
    let four = sketch(&rows, 128, 7, 4);
    assert_eq!(one.len(), rows.len() * 128);
    assert!(one.iter().zip(&four).all(|(a, b)| a.to_bits() == b.to_bits()));
    let other_seed = sketch(&rows, 128, 8, 2);
    assert_ne!(one, other_seed);
}

#[test]
fn unit_norm_rows_and_zero_rows() {
    let rows = corpus();
    let dim = 256;
    let s = sketch(&rows, dim, 0, 2);
    for (i, row) in s.chunks(dim).enumerate() {
        let n = dot(row, row).sqrt();
        if i == 7 || i == 8 {
            assert_eq!(n, 0.0, "row {i}");
        } else {
            assert!((n - 1.0).abs() < 1e-4, "row {i}: norm {n}");
        }
    }
}

#[test]
fn near_duplicates_close_unrelated_far() {
    let rows = corpus();
    let dim = 256;
    let s = sketch(&rows, dim, 0, 2);
    let row = |i: usize| &s[i * dim..(i + 1) * dim];
    let near = dot(row(0), row(1));
    assert!(near > 0.8, "near-duplicate cosine {near}");
    let mut worst = f32::MIN;
    for j in 10..200 {
        worst = worst.max(dot(row(0), row(j)));
    }
    assert!(worst < 0.3, "unrelated cosine up to {worst}");
}

#[test]
fn rejects_bad_arguments() {
    let col = OwnedStrColumn::from_strs(&[Some("a b c")]);
    let texts = Texts::new(vec![col.view()]);
    assert!(dense_sketches(&texts, &spec(), &[], &[], 1, 0, 0).is_err());
    assert!(dense_sketches(&texts, &spec(), &[1], &[], 1, 8, 0).is_err());
    let mut bad = spec();
    bad.orders.clear();
    assert!(dense_sketches(&texts, &bad, &[], &[], 1, 8, 0).is_err());
    assert!(idf(1, 10) > idf(5, 10));
    assert_eq!(idf(0, 10), idf(1, 10));
}
