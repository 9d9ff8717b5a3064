//! The per-row response-anomaly score of the screener: gibberish and degenerate repetition.
//!
//! - *gibberish*: few of the row's word bigrams occur in another row of the reference (the
//!   column itself, or a regular sample of it: [`bigram_familiarity`]; the screener judges a
//!   document, a row with no prompt, by the stretches at its end too: [`crate::row_familiarity`]).
//!   Random vocabulary shares none; natural text and code reuse the corpus's bigrams. Only prose of at least
//!   [`MIN_WORDS`] words is scored (code comes in lines and reuses few word pairs too):
//!   `clip((0.3 - familiarity) / 0.25, 0, 1)`.
//! - *degenerate*: the share of repeated word 3-grams ([`TextStats::repetition`]) of a row of at
//!   least [`MIN_WORDS`] words: `clip((repetition - 0.5) / 0.35, 0, 1)`.
//! - *anomaly*: the larger of the two.
//!
//! Scores are `f32`. The screener's feature table ([`anomaly_scores`], through the bindings) and
//! the polars plugin ([`RowAnomaly::from_parts`]) compute them with the same two functions.
//! Gibberish is relative to the reference: the same text scores differently against another
//! column.

use rayon::prelude::*;

use crate::mine::{bigram_familiarity, Texts};
use crate::stats::{text_stats, TextStats};
use crate::{CoreError, NormalizeOptions, Result};

/// Rows shorter than this (UAX #29 words) score 0 on both parts.
pub const MIN_WORDS: u32 = 20;
/// Rows with fewer word tokens than this get no familiarity (and so no gibberish score).
pub const FAMILIARITY_MIN_TOKENS: usize = 8;
/// The default size of the familiarity reference sample (the screener's `familiarity_sample`).
pub const DEFAULT_FAMILIARITY_SAMPLE: usize = 300_000;
/// The default most text of the familiarity reference sample, in bytes (the screener's
/// `familiarity_sample_mb`): past it rows are sampled more sparsely, so that the reference's
/// bigram table does not grow with the length of the responses.
pub const DEFAULT_FAMILIARITY_SAMPLE_BYTES: u64 = 128_000_000;
/// Prose has fewer newlines per word than this.
pub const MAX_PROSE_NEWLINES_PER_WORD: f64 = 0.05;

/// Every how many rows a row joins the familiarity reference sample, so that about `sample`
/// rows of `n_rows`, holding about `sample_bytes` of their `text_bytes` bytes of text at most,
/// do: the larger of `ceil(n_rows / sample)` and `ceil(text_bytes / sample_bytes)`, at least 1.
pub fn familiarity_sample_every(
    n_rows: usize,
    sample: usize,
    text_bytes: u64,
    sample_bytes: u64,
) -> Result<usize> {
    if sample == 0 {
        return Err(CoreError::Config("familiarity_sample must be at least 1".into()));
    }
    if sample_bytes == 0 {
        return Err(CoreError::Config("familiarity_sample_bytes must be at least 1".into()));
    }
    let by_bytes = usize::try_from(text_bytes.div_ceil(sample_bytes)).unwrap_or(usize::MAX);
    Ok(n_rows.div_ceil(sample).max(by_bytes).max(1))
}

/// Gibberish score of a row with `words` words, `newlines` `'\n'` characters and bigram
/// familiarity `familiarity` (NaN when unscored, which counts as fully familiar).
pub fn gibberish_score(words: u32, newlines: u32, familiarity: f32) -> f32 {
    let fam = if familiarity.is_nan() { 1.0f32 } else { familiarity };
    let words_f = f64::from(words);
    let prose = f64::from(newlines) / words_f.max(1.0) < MAX_PROSE_NEWLINES_PER_WORD;
    if words >= MIN_WORDS && prose {
        clip01((0.3f32 - fam) / 0.25f32)
    } else {
        0.0
    }
}

/// Degenerate-repetition score of a row with `words` words and repetition `repetition`.
pub fn degenerate_score(words: u32, repetition: f32) -> f32 {
    if words >= MIN_WORDS {
        clip01((repetition - 0.5f32) / 0.35f32)
    } else {
        0.0
    }
}

/// [`gibberish_score`] and [`degenerate_score`] of every row, from its word count, `'\n'` count,
/// bigram familiarity (NaN: unscored) and repetition: the one implementation of the two ramps,
/// for the screener's feature table as for the polars plugin's per-row scores.
pub fn anomaly_scores(
    words: &[u32],
    newlines: &[u32],
    familiarity: &[f32],
    repetition: &[f32],
) -> Result<(Vec<f32>, Vec<f32>)> {
    let n = words.len();
    if newlines.len() != n || familiarity.len() != n || repetition.len() != n {
        return Err(CoreError::Input(format!(
            "{n} word counts, {} newline counts, {} familiarities and {} repetitions: one of each per row",
            newlines.len(),
            familiarity.len(),
            repetition.len()
        )));
    }
    let gibberish = (0..n).map(|r| gibberish_score(words[r], newlines[r], familiarity[r])).collect();
    let degenerate = (0..n).map(|r| degenerate_score(words[r], repetition[r])).collect();
    Ok((gibberish, degenerate))
}

/// `np.clip(x, 0, 1)` on `f32` (NaN stays NaN, as in NumPy).
fn clip01(x: f32) -> f32 {
    x.clamp(0.0, 1.0)
}

/// The anomaly parts of one row.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RowAnomaly {
    /// Share of the row's distinct word bigrams found in another row of the reference sample;
    /// NaN for rows of fewer than [`FAMILIARITY_MIN_TOKENS`] word tokens.
    pub familiarity: f32,
    pub gibberish: f32,
    pub degenerate: f32,
    /// `max(gibberish, degenerate)`.
    pub anomaly: f32,
}

impl RowAnomaly {
    /// The parts of a row from its raw text statistics and familiarity.
    pub fn from_parts(stats: &TextStats, newlines: u32, familiarity: f32) -> Self {
        let gibberish = gibberish_score(stats.words, newlines, familiarity);
        let degenerate = degenerate_score(stats.words, stats.repetition);
        RowAnomaly { familiarity, gibberish, degenerate, anomaly: gibberish.max(degenerate) }
    }
}

/// Anomaly parts of every row of `texts`, scored against `texts` itself (every
/// [`familiarity_sample_every`]`(len, familiarity_sample, bytes, familiarity_sample_bytes)`-th
/// row forms the reference, `bytes` being the texts' total length); `None` for null rows.
/// Deterministic for any thread count.
pub fn response_anomalies(
    texts: &Texts,
    normalize: NormalizeOptions,
    familiarity_sample: usize,
    familiarity_sample_bytes: u64,
) -> Result<Vec<Option<RowAnomaly>>> {
    let bytes = (0..texts.len())
        .into_par_iter()
        .with_min_len(1024)
        .map(|r| Ok(texts.get(r)?.map_or(0, |t| t.len() as u64)))
        .try_reduce(|| 0, |a, b| Ok(a + b))?;
    let every = familiarity_sample_every(texts.len(), familiarity_sample, bytes, familiarity_sample_bytes)?;
    let fam = bigram_familiarity(texts, normalize, every, FAMILIARITY_MIN_TOKENS, None)?;
    (0..texts.len())
        .into_par_iter()
        .with_min_len(1024)
        .map(|r| {
            Ok(texts.get(r)?.map(|t| {
                let newlines = t.bytes().filter(|&b| b == b'\n').count() as u32;
                RowAnomaly::from_parts(&text_stats(t), newlines, fam[r])
            }))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OwnedStrColumn;

    #[test]
    fn sample_every() {
        assert_eq!(familiarity_sample_every(0, 10, 0, 100).unwrap(), 1);
        assert_eq!(familiarity_sample_every(10, 10, 100, 100).unwrap(), 1);
        assert_eq!(familiarity_sample_every(11, 10, 100, 100).unwrap(), 2);
        // the byte cap samples more sparsely once the text exceeds it
        assert_eq!(familiarity_sample_every(10, 10, 101, 100).unwrap(), 2);
        assert_eq!(familiarity_sample_every(11, 10, 350, 100).unwrap(), 4);
        assert_eq!(familiarity_sample_every(1, 1, 1 << 40, 1).unwrap(), 1 << 40);
        assert!(familiarity_sample_every(5, 0, 1, 1).is_err());
        assert!(familiarity_sample_every(5, 1, 1, 0).is_err());
    }

    #[test]
    fn scores_follow_the_formula() {
        assert_eq!(gibberish_score(19, 0, 0.0), 0.0);
        assert_eq!(gibberish_score(20, 0, 0.0), 1.0);
        assert_eq!(gibberish_score(20, 0, f32::NAN), 0.0);
        assert_eq!(gibberish_score(100, 10, 0.0), 0.0); // code-like: many lines
        assert_eq!(gibberish_score(40, 0, 0.2), (0.3f32 - 0.2f32) / 0.25f32);
        assert_eq!(degenerate_score(19, 1.0), 0.0);
        assert_eq!(degenerate_score(20, 0.5), 0.0);
        assert_eq!(degenerate_score(20, 0.95), 1.0);
        assert_eq!(degenerate_score(30, 0.6), (0.6f32 - 0.5f32) / 0.35f32);
        let (g, d) = anomaly_scores(&[40, 19], &[0, 0], &[0.2, 0.0], &[0.6, 1.0]).unwrap();
        assert_eq!(g, vec![gibberish_score(40, 0, 0.2), 0.0]);
        assert_eq!(d, vec![degenerate_score(40, 0.6), 0.0]);
        assert!(anomaly_scores(&[40], &[], &[0.2], &[0.6]).is_err());
    }

    fn vocab_text(seed: u64, words: usize) -> String {
        let mut s = seed | 1;
        (0..words)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                format!("w{}", s % 100_000)
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn random_vocabulary_is_gibberish_repetition_degenerate_nulls_none() {
        let prose =
            "the quick brown fox jumps over the lazy dog while the cat sleeps on the warm mat by the door";
        let mut rows: Vec<Option<String>> = (0..50).map(|i| Some(format!("{prose} {i}"))).collect();
        rows.push(Some(vocab_text(7, 40)));
        rows.push(Some("again and again ".repeat(20)));
        rows.push(None);
        let refs: Vec<Option<&str>> = rows.iter().map(|r| r.as_deref()).collect();
        let col = OwnedStrColumn::from_strs(&refs);
        let texts = Texts::new(vec![col.view()]);
        let out = response_anomalies(
            &texts,
            NormalizeOptions::default(),
            DEFAULT_FAMILIARITY_SAMPLE,
            DEFAULT_FAMILIARITY_SAMPLE_BYTES,
        )
        .unwrap();
        assert_eq!(out.len(), 53);
        assert!(out[..50].iter().all(|r| r.unwrap().anomaly == 0.0));
        let gib = out[50].unwrap();
        assert_eq!(gib.gibberish, 1.0);
        assert_eq!(gib.familiarity, 0.0);
        let rep = out[51].unwrap();
        assert!(rep.degenerate > 0.9 && rep.anomaly == rep.degenerate);
        assert!(out[52].is_none());
    }

    #[test]
    fn byte_cap_samples_as_the_row_count_would() {
        // row i is words w_i .. w_{i+11}: its bigrams recur in the rows near it, so how densely
        // rows are sampled changes its familiarity
        let rows: Vec<Option<String>> = (0..40)
            .map(|i| Some((i..i + 12).map(|j| format!("w{j}")).collect::<Vec<_>>().join(" ")))
            .collect();
        let refs: Vec<Option<&str>> = rows.iter().map(|r| r.as_deref()).collect();
        let col = OwnedStrColumn::from_strs(&refs);
        let texts = Texts::new(vec![col.view()]);
        let bytes: u64 = refs.iter().map(|t| t.map_or(0, str::len) as u64).sum();
        let norm = NormalizeOptions::default();
        // a cap of a quarter of the text samples every 4th row, as a sample of 10 rows does
        let capped = response_anomalies(&texts, norm, 1_000, bytes.div_ceil(4)).unwrap();
        let by_rows = response_anomalies(&texts, norm, 10, u64::MAX).unwrap();
        assert_eq!(capped, by_rows);
        let whole = response_anomalies(&texts, norm, 1_000, u64::MAX).unwrap();
        assert_ne!(capped, whole);
    }
}
