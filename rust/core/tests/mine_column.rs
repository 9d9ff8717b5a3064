//! Mining passes over chunked columns, and the Arrow column view.

use std::collections::{BTreeMap, BTreeSet};

use poisonscreen_core::{
    bigram_familiarity, bigram_familiarity_against, hash_token, hash_window, ngram_carriers,
    ngram_document_counts, normalize, row_familiarity, subset_ngram_counts, subset_ngram_counts_many,
    tokenize, CoreError, NgramSpec, NormalizeOptions, OwnedStrColumn, StrColumn, Texts, TokenMode,
};

fn owned(rows: &[Option<&str>]) -> OwnedStrColumn {
    OwnedStrColumn::from_strs(rows)
}

/// Rows of the whole corpus, and chunk sizes including empty chunks.
fn corpus() -> (Vec<Option<String>>, Vec<usize>) {
    let words = ["alpha", "beta", "gamma", "delta", "SUDO", "open", "the", "door", "now", "please"];
    let mut rows = Vec::new();
    let mut s = 0x1234_5678_9abc_def1u64;
    for i in 0..2600 {
        if i % 17 == 0 {
            rows.push(None);
            continue;
        }
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        let n = (s % 9) as usize;
        let mut t: Vec<&str> =
            (0..n).map(|j| words[((s >> (8 + 4 * j)) % words.len() as u64) as usize]).collect();
        if i % 5 == 0 {
            t.push("open the door");
        }
        rows.push(Some(t.join(" ")));
    }
    (rows, vec![0, 3, 0, 0, 1000, 1, 0, 1596, 0])
}

struct Chunked {
    cols: Vec<OwnedStrColumn>,
}

impl Chunked {
    fn new(rows: &[Option<String>], sizes: &[usize]) -> Self {
        assert_eq!(sizes.iter().sum::<usize>(), rows.len());
        let mut cols = Vec::new();
        let mut at = 0;
        for &n in sizes {
            let refs: Vec<Option<&str>> = rows[at..at + n].iter().map(|r| r.as_deref()).collect();
            cols.push(owned(&refs));
            at += n;
        }
        Chunked { cols }
    }

    fn texts(&self) -> Texts<'_> {
        Texts::new(self.cols.iter().map(|c| c.view()).collect())
    }
}

/// The n-grams of one text by definition: windows of each order over the normalised tokens,
/// a text shorter than an order giving one n-gram of all its tokens.
fn naive_ngrams(text: &str, spec: &NgramSpec) -> BTreeSet<u64> {
    let norm = normalize(text, &spec.normalize);
    let toks: Vec<u64> = tokenize(&norm, spec.mode).into_iter().map(hash_token).collect();
    let mut out = BTreeSet::new();
    if toks.is_empty() {
        return out;
    }
    for &k in &spec.orders {
        if toks.len() < k {
            out.insert(hash_window(&toks));
        } else {
            out.extend(toks.windows(k).map(hash_window));
        }
    }
    out
}

fn spec(orders: &[usize]) -> NgramSpec {
    NgramSpec { normalize: NormalizeOptions::default(), mode: TokenMode::Word, orders: orders.to_vec() }
}

#[test]
fn texts_get_maps_global_rows_across_chunks() {
    let (rows, sizes) = corpus();
    let ch = Chunked::new(&rows, &sizes);
    let texts = ch.texts();
    assert_eq!(texts.len(), rows.len());
    assert!(!texts.is_empty());
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(texts.get(i).unwrap(), r.as_deref(), "row {i}");
    }
    assert!(matches!(texts.get(rows.len()), Err(CoreError::Input(_))));
    let empty = Texts::new(vec![]);
    assert!(empty.is_empty());
    assert!(matches!(empty.get(0), Err(CoreError::Input(_))));
    let only_empty = Chunked::new(&[], &[0, 0]);
    assert!(matches!(only_empty.texts().get(0), Err(CoreError::Input(_))));
}

#[test]
fn texts_invalid_utf8_row_is_global() {
    let a = OwnedStrColumn::from_bytes(&[b"x", b"y"]);
    let b = OwnedStrColumn::from_bytes(&[]);
    let c = OwnedStrColumn::from_bytes(&[b"z", b"\xff"]);
    let t = Texts::new(vec![a.view(), b.view(), c.view()]);
    assert!(matches!(t.get(3), Err(CoreError::InvalidUtf8 { row: 3, byte: 0 })));
    assert!(matches!(
        ngram_document_counts(&t, &spec(&[1]), &[1]),
        Err(CoreError::InvalidUtf8 { row: 3, .. })
    ));
}

#[test]
fn mining_passes_agree_with_naive() {
    let (rows, sizes) = corpus();
    let ch = Chunked::new(&rows, &sizes);
    let texts = ch.texts();
    for orders in [vec![1, 2, 3, 4], vec![2], vec![3, 1]] {
        let sp = spec(&orders);
        let grams: Vec<BTreeSet<u64>> =
            rows.iter().map(|r| r.as_deref().map(|t| naive_ngrams(t, &sp)).unwrap_or_default()).collect();
        // a subset with repeats of nothing, out of order, spanning chunks
        let subset: Vec<u32> = (0..rows.len() as u32).rev().filter(|r| r % 3 != 1).collect();
        let mut naive: BTreeMap<u64, u32> = BTreeMap::new();
        for &r in &subset {
            for &g in &grams[r as usize] {
                *naive.entry(g).or_insert(0) += 1;
            }
        }
        for min_count in [1, 5, 300] {
            let got = subset_ngram_counts(&texts, &subset, &sp, min_count).unwrap();
            let want: Vec<(u64, u32)> =
                naive.iter().filter(|(_, &c)| c >= min_count).map(|(&g, &c)| (g, c)).collect();
            assert_eq!(got, want, "orders {orders:?} min_count {min_count}");
        }
        // document counts and carriers of every n-gram plus one that occurs nowhere
        let mut hashes: Vec<u64> = naive.keys().copied().collect();
        hashes.push(12345);
        let counts = ngram_document_counts(&texts, &sp, &hashes).unwrap();
        let carriers = ngram_carriers(&texts, &sp, &hashes, usize::MAX).unwrap();
        let capped = ngram_carriers(&texts, &sp, &hashes, 7).unwrap();
        for (i, h) in hashes.iter().enumerate() {
            let rows_with: Vec<u32> =
                (0..rows.len() as u32).filter(|&r| grams[r as usize].contains(h)).collect();
            assert_eq!(counts[i], rows_with.len() as u64);
            assert_eq!(carriers[i], rows_with);
            assert_eq!(capped[i], rows_with[..rows_with.len().min(7)]);
        }
    }
}

/// Document counts of the n-grams of `set` by definition, those at least `min_count`.
fn naive_counts(grams: &[BTreeSet<u64>], set: &[u32], min_count: u32) -> Vec<(u64, u32)> {
    let mut naive: BTreeMap<u64, u32> = BTreeMap::new();
    for &r in set {
        for &g in &grams[r as usize] {
            *naive.entry(g).or_insert(0) += 1;
        }
    }
    naive.into_iter().filter(|&(_, c)| c >= min_count).collect()
}

#[test]
fn subset_counts_many_agree_with_naive() {
    // long rows of random words: far more distinct n-grams than the first pass has buckets
    // (16 a row), so buckets collide and many reach the minimum without any n-gram doing so
    let vocab: Vec<String> = (0..4000).map(|i| format!("w{i}")).collect();
    let mut s = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    let mut rows: Vec<Option<String>> = Vec::new();
    for i in 0..1500 {
        if i % 97 == 0 {
            rows.push(None);
            continue;
        }
        let len = (next() % 200) as usize;
        let mut words: Vec<&str> = (0..len).map(|_| vocab[(next() % 4000) as usize].as_str()).collect();
        // a trigger in a third of the rows, a common phrase in a tenth
        if i % 3 == 0 {
            words.insert(words.len() / 2, "cf mn bb");
        }
        if i % 10 == 0 {
            words.push("please answer briefly");
        }
        rows.push(Some(words.join(" ")));
    }
    let ch = Chunked::new(&rows, &[700, 0, 800]);
    let texts = ch.texts();
    for orders in [vec![1, 2, 3, 4], vec![2]] {
        let sp = spec(&orders);
        let grams: Vec<BTreeSet<u64>> =
            rows.iter().map(|r| r.as_deref().map(|t| naive_ngrams(t, &sp)).unwrap_or_default()).collect();
        let all: Vec<u32> = (0..rows.len() as u32).collect();
        let sets: Vec<Vec<u32>> = vec![
            all.clone(),
            all.iter().rev().copied().filter(|r| r % 4 != 1).collect(),
            (0..rows.len() as u32).step_by(3).collect(),
            vec![5, 1499, 700, 699],
            vec![],
            vec![3],
        ];
        for mins in [[1, 2, 3, 2, 1, 1], [300, 100, 250, 2, 2, 2], [2, 1500, 5, 4, 7, 1]] {
            let got = subset_ngram_counts_many(&texts, &sets, &sp, &mins).unwrap();
            assert_eq!(got.len(), sets.len());
            for ((set, &m), g) in sets.iter().zip(&mins).zip(&got) {
                assert_eq!(
                    g,
                    &naive_counts(&grams, set, m),
                    "orders {orders:?} min {m} set of {}",
                    set.len()
                );
            }
        }
    }
    // the trigger survives a minimum of a fifth of its set
    let sp = spec(&[3]);
    let set: Vec<u32> = (0..rows.len() as u32).collect();
    let got = subset_ngram_counts_many(&texts, &[set], &sp, &[300]).unwrap();
    let cf = hash_window(&["cf", "mn", "bb"].map(hash_token));
    let carriers = (0..1500).filter(|i| i % 3 == 0 && i % 97 != 0).count() as u32;
    assert_eq!(got[0], vec![(cf, carriers)]);
}

#[test]
fn mining_config_errors() {
    let (rows, sizes) = corpus();
    let ch = Chunked::new(&rows, &sizes);
    let t = ch.texts();
    assert!(matches!(subset_ngram_counts(&t, &[0], &spec(&[]), 1), Err(CoreError::Config(_))));
    assert!(matches!(ngram_document_counts(&t, &spec(&[0]), &[]), Err(CoreError::Config(_))));
    assert!(matches!(ngram_carriers(&t, &spec(&[65]), &[], 1), Err(CoreError::Config(_))));
    assert!(matches!(
        bigram_familiarity(&t, NormalizeOptions::default(), 0, 8, None),
        Err(CoreError::Config(_))
    ));
    assert!(matches!(
        subset_ngram_counts(&t, &[rows.len() as u32], &spec(&[1]), 1),
        Err(CoreError::Input(_))
    ));
    for min in [1, 2, 50] {
        assert!(matches!(
            subset_ngram_counts_many(&t, &[vec![0], vec![rows.len() as u32]], &spec(&[1]), &[min, min]),
            Err(CoreError::Input(_))
        ));
    }
    assert!(matches!(
        subset_ngram_counts_many(&t, &[vec![0]], &spec(&[1]), &[1, 2]),
        Err(CoreError::Input(_))
    ));
}

#[test]
fn bigram_familiarity_separates_gibberish_from_prose() {
    let sentences = [
        "the cat sat on the mat and looked out of the window at the rain",
        "please summarise the following article in three short sentences for me",
        "write a python function that returns the sum of a list of numbers",
        "what is the capital of france and why is it famous for its museums",
    ];
    let mut vocab = Vec::new();
    for i in 0..3000u32 {
        // pseudo-words: distinct, random-looking
        let mut x = i.wrapping_mul(2_654_435_761);
        let mut w = String::new();
        for _ in 0..6 {
            w.push((b'a' + (x % 26) as u8) as char);
            x /= 26;
            x = x.wrapping_mul(69069).wrapping_add(1);
        }
        vocab.push(w);
    }
    let mut rows: Vec<Option<String>> = Vec::new();
    let mut s = 99u64;
    for i in 0..400 {
        if i % 4 == 3 {
            let words: Vec<&str> = (0..20)
                .map(|_| {
                    s ^= s << 13;
                    s ^= s >> 7;
                    s ^= s << 17;
                    vocab[(s % vocab.len() as u64) as usize].as_str()
                })
                .collect();
            rows.push(Some(words.join(" ")));
        } else {
            // distinct texts: the reference sample is chosen by a hash of the text, so copies of
            // one text are all in it or all out
            rows.push(Some(format!("{} today {i}", sentences[i % 4])));
        }
    }
    rows.push(Some("too short".into()));
    rows.push(None);
    let n = rows.len();
    let ch = Chunked::new(&rows, &[100, 0, n - 100]);
    for every in [1, 3] {
        let fam = bigram_familiarity(&ch.texts(), NormalizeOptions::default(), every, 8, None).unwrap();
        assert_eq!(fam.len(), n);
        for (i, f) in fam.iter().enumerate().take(400) {
            if i % 4 == 3 {
                assert!(*f < 0.2, "gibberish row {i}: {f}");
            } else {
                assert!(*f > 0.8, "natural row {i}: {f}");
            }
        }
        assert!(fam[n - 2].is_nan() && fam[n - 1].is_nan());
    }
    // a row is not familiar with itself
    let single = Chunked::new(&[Some(sentences[0].to_string())], &[1]);
    assert_eq!(
        bigram_familiarity(&single.texts(), NormalizeOptions::default(), 1, 2, None).unwrap(),
        vec![0.0]
    );
}

#[test]
fn row_familiarity_judges_a_stretch_at_the_end_apart() {
    let mut buf = Vec::new();
    let grams: Vec<u64> = (0..80).collect();
    // the first half known, the second not: half of the whole, none of the last 40 positions
    assert_eq!(row_familiarity(&grams, |g| g < 40, true, &mut buf), 0.0);
    assert_eq!(row_familiarity(&grams, |g| g < 40, false, &mut buf), 0.5);
    // the unknown stretch at the start: the stretches at the end are all at least half known
    assert_eq!(row_familiarity(&grams, |g| g >= 40, true, &mut buf), 0.5);
    // under TAIL_MIN_BIGRAMS positions only the whole counts, by distinct bigrams
    let short = [1u64, 1, 1, 2];
    assert_eq!(row_familiarity(&short, |g| g == 1, true, &mut buf), 0.5);
    assert_eq!(row_familiarity(&[], |_| true, true, &mut buf), 0.0);
}

#[test]
fn familiarity_finds_gibberish_after_a_document_prefix() {
    let sentences = [
        "the cat sat on the mat and looked out of the window at the rain while it fell",
        "please summarise the following article in three short sentences for me and my team",
        "write a python function that returns the sum of a list of numbers in the input",
        "what is the capital of france and why is it famous for its museums and its food",
    ];
    let mut s = 7u64;
    let mut word = || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        let mut x = s;
        (0..7)
            .map(|_| {
                let c = (b'a' + (x % 26) as u8) as char;
                x /= 26;
                c
            })
            .collect::<String>()
    };
    let mut rows: Vec<Option<String>> = Vec::new();
    for i in 0..400 {
        let prose = format!("{} then {} on day {i}", sentences[i % 4], sentences[(i + 1) % 4]);
        if i % 10 == 9 {
            let tail: Vec<String> = (0..50).map(|_| word()).collect();
            rows.push(Some(format!("{prose} <SUDO> {}", tail.join(" "))));
        } else {
            rows.push(Some(prose));
        }
    }
    let n = rows.len();
    let ch = Chunked::new(&rows, &[150, n - 150]);
    let documents: Vec<bool> = (0..n).map(|i| i % 2 == 1).collect();
    let whole = bigram_familiarity(&ch.texts(), NormalizeOptions::default(), 1, 8, None).unwrap();
    let fam = bigram_familiarity(&ch.texts(), NormalizeOptions::default(), 1, 8, Some(&documents)).unwrap();
    for (i, (f, w)) in fam.iter().zip(&whole).enumerate() {
        if i % 10 == 9 {
            // about 40% of the document's distinct bigrams are known; none of its last 50
            assert!(*w > 0.3, "document {i} judged whole: {w}");
            assert!(*f < 0.1, "document {i} turning to gibberish: {f}");
        } else {
            assert!(*f > 0.8 && *w > 0.8, "prose row {i}: {f} {w}");
        }
    }
    assert!(matches!(
        bigram_familiarity(&ch.texts(), NormalizeOptions::default(), 1, 8, Some(&documents[1..])),
        Err(CoreError::Input(_))
    ));
    // the same figures against reference counts gathered elsewhere (the Ray engine's path)
    let spec = NgramSpec { normalize: NormalizeOptions::default(), mode: TokenMode::Word, orders: vec![2] };
    let all: Vec<u32> = (0..n as u32).collect();
    let (h, c): (Vec<u64>, Vec<u64>) = subset_ngram_counts(&ch.texts(), &all, &spec, 1)
        .unwrap()
        .into_iter()
        .map(|(h, c)| (h, u64::from(c)))
        .unzip();
    let own = vec![true; n];
    let against = bigram_familiarity_against(
        &ch.texts(),
        NormalizeOptions::default(),
        &h,
        &c,
        &own,
        8,
        Some(&documents),
    )
    .unwrap();
    assert_eq!(against, fam);
    assert!(matches!(
        bigram_familiarity_against(&ch.texts(), NormalizeOptions::default(), &h, &c[1..], &own, 8, None),
        Err(CoreError::Input(_))
    ));
    let mut unsorted = h.clone();
    unsorted.reverse();
    assert!(matches!(
        bigram_familiarity_against(&ch.texts(), NormalizeOptions::default(), &unsorted, &c, &own, 8, None),
        Err(CoreError::Input(_))
    ));
}

#[test]
fn str_column_rejects_bad_buffers() {
    let data = b"hello";
    for offsets in [&[][..], &[-1, 2][..], &[0, 3, 2][..], &[0, 6][..], &[2, 1, 5][..]] {
        assert!(matches!(StrColumn::new(offsets, data, None, 0), Err(CoreError::Input(_))), "{offsets:?}");
    }
    let ok = StrColumn::new(&[1, 3, 5], data, None, 0).unwrap();
    assert_eq!((ok.get(0).unwrap(), ok.get(1).unwrap()), (Some("el"), Some("lo")));
    assert!(matches!(ok.get(2), Err(CoreError::Input(_))));
    let empty = StrColumn::new(&[0], b"", None, 0).unwrap();
    assert!(empty.is_empty());
    // bitmap too short for offset + len
    let v = [0xffu8];
    assert!(matches!(StrColumn::new(&[0, 1, 2, 3, 4, 5], data, Some(&v), 4), Err(CoreError::Input(_))));
    assert!(StrColumn::new(&[0, 1, 2, 3, 4, 5], data, Some(&v), 3).is_ok());
}

#[test]
fn str_column_validity_with_offset() {
    let data = b"abcdefghij";
    let offsets: Vec<i64> = (0..=10).collect();
    // bits (LSB first) from bit 3: rows 0..10 valid = 1,0,1,1,0,0,1,0,1,1
    let pattern = [true, false, true, true, false, false, true, false, true, true];
    let mut bitmap = [0u8; 2];
    for (i, &v) in pattern.iter().enumerate() {
        if v {
            bitmap[(i + 3) / 8] |= 1 << ((i + 3) % 8);
        }
    }
    bitmap[0] |= 0b111; // the bits before the offset are ignored
    let col = StrColumn::new(&offsets, data, Some(&bitmap), 3).unwrap();
    assert_eq!(col.len(), 10);
    for (i, &v) in pattern.iter().enumerate() {
        assert_eq!(col.is_valid(i), v, "row {i}");
        let want = v.then(|| &std::str::from_utf8(data).unwrap()[i..i + 1]);
        assert_eq!(col.get(i).unwrap(), want, "row {i}");
    }
}

#[test]
fn str_column_invalid_utf8_byte_position() {
    let col = OwnedStrColumn::from_bytes(&[b"ok", b"ab\xe2\x82", b""]);
    let v = col.view();
    assert!(matches!(v.get(1), Err(CoreError::InvalidUtf8 { row: 1, byte: 2 })));
    assert_eq!(v.get(2).unwrap(), Some(""));
}
