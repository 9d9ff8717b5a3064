//! Criterion benchmarks of the core hot paths on synthetic ~94-word English-like documents.
//!
//! `cargo bench -p poisonscreen-core --bench core`
//!
//! `*_1t` benchmarks run in a one-thread rayon pool, so their element throughput is per core.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use poisonscreen_core::*;

const WORDS: &str = "the of and to a in is it you that he was for on are with as his they be at one \
have this from or had by hot word but what some we can out other were all there when up use your how \
said an each she which do their time if will way about many then them write would like so these her \
long make thing see him two has look more day could go come did number sound no most people my over \
know water than call first who may down side been now find any new work part take get place made live \
where after back little only round man year came show every good me give our under name very through \
just form sentence great think say help low line differ turn cause much mean before move right boy old \
too same tell does set three want air well also play small end put home read hand port large spell add \
even land here must big high such follow act why ask men change went light kind off need house picture";

/// Deterministic pseudo-English: sentences of 6..17 words from a fixed vocabulary (xorshift
/// stream), capitalised, with commas and full stops; 94 words per document. Every 10th document
/// is a near-duplicate (one word changed) of the one before, so LSH has pairs to find.
fn corpus(n: usize) -> Vec<String> {
    let vocab: Vec<&str> = WORDS.split_whitespace().collect();
    let mut s: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    let mut docs: Vec<String> = Vec::with_capacity(n);
    for d in 0..n {
        if d % 10 == 9 {
            let prev = docs[d - 1].replacen(" the ", " a ", 1);
            docs.push(prev);
            continue;
        }
        let mut doc = String::new();
        let mut left_in_sentence = 0;
        for w in 0..94 {
            let word = vocab[(next() % vocab.len() as u64) as usize];
            if left_in_sentence == 0 {
                left_in_sentence = 6 + next() % 12;
                if w > 0 {
                    doc.push_str(". ");
                }
                let mut cs = word.chars();
                if let Some(c) = cs.next() {
                    doc.extend(c.to_uppercase());
                    doc.push_str(cs.as_str());
                }
            } else {
                doc.push_str(if next() % 9 == 0 { ", " } else { " " });
                doc.push_str(word);
            }
            left_in_sentence -= 1;
        }
        doc.push('.');
        docs.push(doc);
    }
    docs
}

fn one_thread<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap().install(f)
}

fn bench(c: &mut Criterion) {
    let docs = corpus(10_000);
    let rows: Vec<Option<&str>> = docs.iter().map(|d| Some(d.as_str())).collect();
    let col = OwnedStrColumn::from_strs(&rows);
    let opts = ShingleOptions::default();
    let hasher = MinHasher::new(128, 0).unwrap();
    let n = docs.len() as u64;
    let mut g = c.benchmark_group("core");
    g.sample_size(20);
    g.throughput(Throughput::Elements(n));

    g.bench_function("signatures_10k", |b| b.iter(|| batch_signatures(&col.view(), &opts, &hasher).unwrap()));
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    g.bench_function("signatures_10k_1t", |b| {
        b.iter(|| pool.install(|| batch_signatures(&col.view(), &opts, &hasher).unwrap()))
    });
    let (mut toks, mut sh) = (Vec::new(), Vec::new());
    g.bench_function("shingles_only_10k_1t", |b| {
        b.iter(|| {
            let mut total = 0usize;
            for d in &docs {
                shingle_hashes_with(d, &opts, &mut toks, &mut sh);
                total += sh.len();
            }
            total
        })
    });
    let all_shingles: Vec<Vec<u64>> = docs.iter().map(|d| shingle_set(d, &opts)).collect();
    let mut sig = vec![0u32; 128];
    g.bench_function("minhash_only_10k_1t", |b| {
        b.iter(|| {
            for s in &all_shingles {
                hasher.signature_into(s, &mut sig);
            }
            sig[0]
        })
    });

    g.bench_function("text_stats_10k", |b| b.iter(|| batch_text_stats(&col.view()).unwrap()));
    g.bench_function("text_stats_10k_1t", |b| {
        b.iter(|| pool.install(|| batch_text_stats(&col.view()).unwrap()))
    });

    let sigs = one_thread(|| batch_signatures(&col.view(), &opts, &hasher).unwrap());
    let params = LshParams::from_threshold(0.8, 128).unwrap();
    g.bench_function("band_keys_10k", |b| b.iter(|| band_keys(&sigs, 128, params)));
    let keys = band_keys(&sigs, 128, params);
    g.bench_function("candidate_pairs_10k", |b| {
        b.iter(|| candidate_pairs(&keys, docs.len(), params.bands, 64, None))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
