//! Batch functions give identical results in a 1-thread and a 4-thread rayon pool.

use poisonscreen_core::{
    band_keys, batch_signatures, batch_text_stats, candidate_pairs, LshParams, MinHasher, NgramCounter,
    NormalizeOptions, OwnedStrColumn, ShingleOptions, TokenMode,
};

fn in_pool<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
    rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap().install(f)
}

fn docs() -> Vec<Option<String>> {
    (0..3000)
        .map(|i| match i % 97 {
            0 => None,
            1 => Some(String::new()),
            _ => Some(format!(
                "Row {} says the Quick brown fox {} jumps over the lazy dog ß 日本 {}",
                i % 50,
                i % 7,
                "again ".repeat(i % 5)
            )),
        })
        .collect()
}

#[test]
fn same_results_for_any_thread_count() {
    let docs = docs();
    let rows: Vec<Option<&str>> = docs.iter().map(|d| d.as_deref()).collect();
    let col = OwnedStrColumn::from_strs(&rows);
    let run = || {
        let hasher = MinHasher::new(64, 9).unwrap();
        let sigs =
            batch_signatures(&col.view(), &ShingleOptions { k: 3, ..Default::default() }, &hasher).unwrap();
        let params = LshParams::from_threshold(0.7, 64).unwrap();
        let keys = band_keys(&sigs, 64, params);
        let skip: Vec<bool> = rows.iter().map(|r| r.is_none_or(str::is_empty)).collect();
        let pairs = candidate_pairs(&keys, rows.len(), params.bands, 8, Some(&skip));
        let stats: Vec<String> =
            batch_text_stats(&col.view()).unwrap().iter().map(|s| format!("{s:?}")).collect();
        let mut counter =
            NgramCounter::new(NormalizeOptions::default(), TokenMode::Word, &[1, 2, 3]).unwrap();
        counter.add_column(&col.view()).unwrap();
        (sigs, keys, pairs, stats, counter.table(2), counter.documents())
    };
    let one = in_pool(1, run);
    let four = in_pool(4, run);
    assert!(!one.2.is_empty());
    assert_eq!(one, four);
}
