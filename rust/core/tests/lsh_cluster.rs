//! LSH parameters, band keys, candidate pairs and connected components.

use poisonscreen_core::{
    band_keys, batch_signatures, candidate_pairs, connected_components, CoreError, LshParams, MinHasher,
    OwnedStrColumn, ShingleOptions, UnionFind,
};

fn s_curve(p: LshParams, s: f64) -> f64 {
    1.0 - (1.0 - s.powi(p.rows as i32)).powi(p.bands as i32)
}

#[test]
fn from_threshold_shape() {
    let p = LshParams::from_threshold(0.8, 128).unwrap();
    assert!(p.bands * p.rows <= 128, "{p:?}");
    let at = s_curve(p, 0.8);
    assert!((0.3..=0.95).contains(&at), "{p:?} gives {at} at the threshold");
    assert!(s_curve(p, 0.5) < 0.1, "{p:?}");
    assert!(s_curve(p, 0.95) > 0.99, "{p:?}");
    // a lower threshold needs fewer rows per band
    let low = LshParams::from_threshold(0.3, 128).unwrap();
    assert!(low.rows < p.rows, "{low:?} vs {p:?}");
    for t in [0.1, 0.5, 0.9, 0.99] {
        for n in [1, 16, 64, 256] {
            let q = LshParams::from_threshold(t, n).unwrap();
            assert!(q.bands >= 1 && q.rows >= 1 && q.bands * q.rows <= n, "{t} {n} {q:?}");
        }
    }
}

#[test]
fn lsh_params_errors() {
    for t in [0.0, 1.0, -0.5, 1.5, f64::NAN] {
        assert!(matches!(LshParams::from_threshold(t, 128), Err(CoreError::Config(_))), "{t}");
    }
    assert!(matches!(LshParams::from_threshold(0.5, 0), Err(CoreError::Config(_))));
    assert!(matches!(LshParams::new(0, 4, 128), Err(CoreError::Config(_))));
    assert!(matches!(LshParams::new(4, 0, 128), Err(CoreError::Config(_))));
    assert!(matches!(LshParams::new(17, 8, 128), Err(CoreError::Config(_))));
    assert_eq!(LshParams::new(16, 8, 128).unwrap(), LshParams { bands: 16, rows: 8 });
}

const WORDS: &[&str] = &[
    "river", "stone", "lamp", "quiet", "garden", "ocean", "maple", "silver", "window", "paper", "orange",
    "forest", "castle", "thunder", "pencil", "market", "candle", "bridge", "winter", "meadow", "copper",
    "violin", "harbor", "falcon", "tunnel", "velvet", "ladder", "island", "mirror", "saddle", "cotton",
    "planet", "barrel", "lemon", "anchor", "button", "dragon", "engine", "feather", "glacier",
];

/// Deterministic pseudo-random text of `n` words.
fn text(seed: u64, n: usize) -> Vec<&'static str> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            WORDS[(s % WORDS.len() as u64) as usize]
        })
        .collect()
}

fn pairs_for(texts: &[String], threshold: f64, max_bucket: usize) -> Vec<(u32, u32)> {
    let refs: Vec<Option<&str>> = texts.iter().map(|t| Some(t.as_str())).collect();
    let col = OwnedStrColumn::from_strs(&refs);
    let m = MinHasher::new(128, 0).unwrap();
    let sigs = batch_signatures(&col.view(), &ShingleOptions::default(), &m).unwrap();
    let p = LshParams::from_threshold(threshold, 128).unwrap();
    let keys = band_keys(&sigs, 128, p);
    assert_eq!(keys.len(), texts.len() * p.bands);
    candidate_pairs(&keys, texts.len(), p.bands, max_bucket, None)
}

#[test]
fn near_duplicates_become_candidates_unrelated_do_not() {
    // pairs 0..20: one word changed in the middle (5 of 56 shingles differ, J = 51/61 ≈ 0.84);
    // pairs 20..40: the last word changed (J = 55/57 ≈ 0.96).
    let mut texts = Vec::new();
    for i in 0..40u64 {
        let base = text(i + 1, 60);
        texts.push(base.join(" "));
        let mut edited = base.clone();
        edited[if i < 20 { 30 } else { 59 }] = "zebra";
        texts.push(edited.join(" "));
    }
    let pairs = pairs_for(&texts, 0.8, 64);
    let p = LshParams::from_threshold(0.8, 128).unwrap();
    // The S-curve chosen for 0.8 (equal false-positive / false-negative weights, as datasketch)
    // catches a J = 0.84 pair with probability s_curve(0.84) only; check the hit rate against it.
    let expected = s_curve(p, 51.0 / 61.0);
    let found_mid = (0..20u32).filter(|i| pairs.contains(&(2 * i, 2 * i + 1))).count();
    assert!(
        found_mid as f64 >= 20.0 * expected - 4.0 * (20.0 * expected * (1.0 - expected)).sqrt(),
        "{found_mid}/20"
    );
    for i in 20..40u32 {
        assert!(pairs.contains(&(2 * i, 2 * i + 1)), "pair {i} missed");
    }
    let unrelated: Vec<_> = pairs.iter().filter(|&&(a, b)| a / 2 != b / 2).collect();
    assert!(unrelated.is_empty(), "{unrelated:?}");
    assert!(pairs.iter().all(|&(a, b)| a < b));
    assert!(pairs.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn max_bucket_windowing_is_linear_and_connected() {
    let n = 1000;
    let texts = vec![text(7, 40).join(" "); n];
    let max_bucket = 16;
    let pairs = pairs_for(&texts, 0.8, max_bucket);
    // every member links to the next max_bucket - 1 members: O(n * max_bucket)
    assert!(pairs.len() <= n * (max_bucket - 1), "{}", pairs.len());
    assert!(pairs.len() >= n - 1);
    assert!(pairs.iter().all(|&(a, b)| a < b && ((b - a) as usize) < max_bucket));
    let (ids, partner) = connected_components(n, &pairs);
    assert!(ids.iter().all(|&c| c == 0));
    assert_eq!(partner[0], Some(1));
    assert_eq!(partner[500], Some(500 - (max_bucket as u32 - 1)));
}

#[test]
fn a_large_buckets_pairs_do_not_depend_on_row_order() {
    // 300 distinct near-copies of one text (one of its words changed each): buckets of many
    // more rows than max_bucket, whose window once ran in row order
    let base = text(3, 60);
    let texts: Vec<String> = (0..300usize)
        .map(|i| {
            let mut t = base.clone();
            t[i % 60] = ["zebra", "otter", "lynx", "heron", "bison"][i / 60];
            t.join(" ")
        })
        .collect();
    let pairs = pairs_for(&texts, 0.8, 8);
    // the rows reversed and rotated: the same pairs of texts
    let perm: Vec<usize> = (0..300).map(|i| (299 - i + 77) % 300).collect();
    let moved: Vec<String> = perm.iter().map(|&i| texts[i].clone()).collect();
    let mut back: Vec<(u32, u32)> = pairs_for(&moved, 0.8, 8)
        .into_iter()
        .map(|(a, b)| {
            let (a, b) = (perm[a as usize] as u32, perm[b as usize] as u32);
            (a.min(b), a.max(b))
        })
        .collect();
    back.sort_unstable();
    assert!(pairs.len() > 300, "{}", pairs.len());
    assert_eq!(pairs, back);
}

#[test]
fn small_bucket_gives_all_pairs_and_skip_drops_rows() {
    // 2 bands, 3 rows; rows 0, 1, 3 share band 0; rows 1, 2 share band 1
    let keys = [5, 9, 5, 7, 6, 7, 5, 8];
    assert_eq!(candidate_pairs(&keys, 4, 2, 64, None), vec![(0, 1), (0, 3), (1, 2), (1, 3)]);
    let skip = [false, true, false, false];
    assert_eq!(candidate_pairs(&keys, 4, 2, 64, Some(&skip)), vec![(0, 3)]);
    assert!(candidate_pairs(&keys, 4, 0, 64, None).is_empty());
    assert!(candidate_pairs(&keys, 0, 2, 64, None).is_empty());
    assert!(candidate_pairs(&keys[..5], 4, 2, 64, None).is_empty());
}

#[test]
fn band_keys_depend_on_band_index_and_values() {
    let sigs = [1u32, 2, 1, 2, 1, 2, 3, 4];
    let keys = band_keys(&sigs, 4, LshParams { bands: 2, rows: 2 });
    assert_eq!(keys.len(), 4);
    assert_ne!(keys[0], keys[1], "same values in different bands hash differently");
    assert_eq!(keys[0], keys[2]);
    assert_ne!(keys[1], keys[3]);
    assert!(band_keys(&sigs, 0, LshParams { bands: 2, rows: 2 }).is_empty());
}

#[test]
fn components_ids_are_smallest_row() {
    let edges = [(5, 3), (3, 9), (1, 2), (7, 7), (100, 1), (2, 50)];
    let (ids, partner) = connected_components(10, &edges);
    assert_eq!(ids, vec![0, 1, 1, 3, 4, 3, 6, 7, 8, 3]);
    assert_eq!(partner, vec![None, Some(2), Some(1), Some(5), None, Some(3), None, None, None, Some(3)]);
    // edge order does not matter
    let mut rev = edges.to_vec();
    rev.reverse();
    assert_eq!(connected_components(10, &rev), (ids, partner));
    assert_eq!(connected_components(0, &edges), (vec![], vec![]));
}

#[test]
fn components_chain_and_partner_is_smallest_neighbour() {
    let edges: Vec<(u32, u32)> = (0..99).map(|i| (i + 1, i)).collect();
    let (ids, partner) = connected_components(100, &edges);
    assert!(ids.iter().all(|&c| c == 0));
    assert_eq!(partner[0], Some(1));
    assert!((1..100).all(|i| partner[i] == Some(i as u32 - 1)));
}

#[test]
fn union_find() {
    let mut uf = UnionFind::new(6);
    assert!(uf.union(0, 1));
    assert!(uf.union(2, 3));
    assert!(!uf.union(1, 0));
    assert!(uf.union(1, 3));
    assert_eq!(uf.find(0), uf.find(2));
    assert_ne!(uf.find(4), uf.find(0));
}

#[test]
fn bad_parameters_never_panic() {
    use poisonscreen_core::StrColumn;
    assert!(matches!(LshParams::new(usize::MAX, 2, 128), Err(CoreError::Config(_))));
    assert!(matches!(LshParams::from_threshold(0.8, 5000), Err(CoreError::Config(_))));
    assert!(matches!(LshParams::from_threshold(f64::NAN, 128), Err(CoreError::Config(_))));
    let sigs = vec![1u32; 3 * 16 + 5]; // three signatures and a partial one
    assert!(band_keys(&sigs, 16, LshParams { bands: 5, rows: 4 }).is_empty());
    assert!(band_keys(&sigs, 16, LshParams { bands: 0, rows: 4 }).is_empty());
    assert!(band_keys(&sigs, 0, LshParams { bands: 1, rows: 1 }).is_empty());
    assert_eq!(band_keys(&sigs, 16, LshParams { bands: 4, rows: 4 }).len(), 12);
    assert!(candidate_pairs(&[1, 1], usize::MAX, 2, 8, None).is_empty());
    let mut uf = UnionFind::new(3);
    assert!(!uf.union(0, 7));
    assert_eq!(uf.find(9), 9);
    assert!(uf.union(0, 2));
    assert_eq!(uf.find(2), uf.find(0));
    let (ids, partner) = connected_components(2, &[(0, 5), (1, 1)]);
    assert_eq!((ids, partner), (vec![0, 1], vec![None, None]));
    let col = OwnedStrColumn::from_strs(&[Some("a")]);
    let _ = col.view();
    assert!(StrColumn::new(&[0, 1], b"a", Some(&[1]), usize::MAX).is_err());
}
