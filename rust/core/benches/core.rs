//! Criterion benchmarks of the core hot paths on synthetic ~94-word documents.
//! `cargo bench -p poisonscreen-core`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use poisonscreen_core::*;

fn corpus(n: usize) -> Vec<String> {
    // deterministic pseudo-English: a fixed vocabulary drawn by a xorshift stream
    let vocab: Vec<String> =
        (0..5000).map(|i| format!("w{}{}", i % 97, "abcdefghij".repeat(1 + i % 3))).collect();
    let mut s: u64 = 0x2545F4914F6CDD1D;
    (0..n)
        .map(|_| {
            (0..94)
                .map(|_| {
                    s ^= s << 13;
                    s ^= s >> 7;
                    s ^= s << 17;
                    vocab[(s % 5000) as usize].as_str()
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let docs = corpus(10_000);
    let rows: Vec<Option<&str>> = docs.iter().map(|d| Some(d.as_str())).collect();
    let col = OwnedStrColumn::from_strs(&rows);
    let bytes: usize = docs.iter().map(String::len).sum();
    let opts = ShingleOptions::default();
    let hasher = MinHasher::new(128, 0).unwrap();
    let mut g = c.benchmark_group("core");
    g.throughput(Throughput::Elements(docs.len() as u64));
    g.bench_function("signatures_10k_docs", |b| {
        b.iter(|| batch_signatures(&col.view(), &opts, &hasher).unwrap())
    });
    g.throughput(Throughput::Bytes(bytes as u64));
    g.bench_function("text_stats_10k_docs", |b| b.iter(|| batch_text_stats(&col.view()).unwrap()));
    let sigs = batch_signatures(&col.view(), &opts, &hasher).unwrap();
    let params = LshParams::from_threshold(0.8, 128).unwrap();
    g.throughput(Throughput::Elements(docs.len() as u64));
    g.bench_function("band_keys_10k", |b| b.iter(|| band_keys(&sigs, 128, params)));
    let keys = band_keys(&sigs, 128, params);
    g.bench_function("candidate_pairs_10k", |b| {
        b.iter(|| candidate_pairs(&keys, docs.len(), params.bands, 64, None))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
