//! Time the association passes on a synthetic corpus: `cargo run --release --example mine_speed`.
use std::time::Instant;

use poisonscreen_core::assoc::{feature_carriers, mine_features, FeatureSpec};
use poisonscreen_core::{NormalizeOptions, OwnedStrColumn, Texts, TokenMode, TokenTable};

fn main() {
    let n = 50_000usize;
    let words: Vec<String> = (0..20_000).map(|i| format!("w{}", i * 7919 % 100_003)).collect();
    let mut s = 0x1234_5678u64;
    let mut next = || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    let rows: Vec<Option<String>> = (0..n)
        .map(|_| {
            let len = 40 + (next() % 120) as usize;
            // Zipf-ish: squares favour small indices
            let t: Vec<&str> = (0..len)
                .map(|_| {
                    let x = next() % 141;
                    words[((x * x) as usize) % words.len()].as_str()
                })
                .collect();
            Some(t.join(" "))
        })
        .collect();
    let refs: Vec<Option<&str>> = rows.iter().map(|r| r.as_deref()).collect();
    let col = OwnedStrColumn::from_strs(&refs);
    let texts = Texts::new(vec![col.view()]);
    let t = Instant::now();
    let table = TokenTable::build(&texts, NormalizeOptions::default(), TokenMode::Word).unwrap();
    println!("table {:?}", t.elapsed());
    let all: Vec<u32> = (0..n as u32).collect();
    let rh: Vec<u64> = (0..n as u64).map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15)).collect();
    let spec = FeatureSpec { orders: vec![1, 2, 3, 4], positions: true };
    let t = Instant::now();
    let f = mine_features(&table, &all, &rh, &spec, 10, 2500).unwrap();
    println!("mine {:?} features {}", t.elapsed(), f.len());
    let hashes: Vec<u64> = f.iter().map(|x| x.hash).collect();
    let t = Instant::now();
    let c = feature_carriers(&table, &all, &spec, &hashes, usize::MAX).unwrap();
    println!("carriers {:?} total {}", t.elapsed(), c.iter().map(|v| v.len()).sum::<usize>());
}
