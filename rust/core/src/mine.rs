//! N-gram mining over chunked text columns: the counting behind trigger detection.
//!
//! Triggers are found in passes that stream over the texts and keep memory bounded by the number
//! of *candidate* n-grams, not by the corpus vocabulary: count the n-grams of a subset of rows
//! (the rows sharing one response pattern), count how many rows of the whole corpus carry each
//! candidate, then list the carriers of the survivors. Every function is deterministic whatever
//! the thread count: parallel partial results are merged in row order or by commutative sums.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use rayon::prelude::*;

use crate::{shingle_hashes, CoreError, NormalizeOptions, Result, ShingleOptions, StrColumn, TokenMode};

/// Keys here are already xxh3 hashes: hashing them again (SipHash) would only cost time.
#[derive(Default)]
pub struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// A map keyed by n-gram hashes.
pub type HashIndex<V> = HashMap<u64, V, BuildHasherDefault<IdentityHasher>>;

/// Several Arrow string chunks seen as one column of rows `0..len`.
pub struct Texts<'a> {
    cols: Vec<StrColumn<'a>>,
    starts: Vec<usize>,
    rows: usize,
}

impl<'a> Texts<'a> {
    pub fn new(cols: Vec<StrColumn<'a>>) -> Self {
        let mut starts = Vec::with_capacity(cols.len());
        let mut rows = 0;
        for c in &cols {
            starts.push(rows);
            rows += c.len();
        }
        Texts { cols, starts, rows }
    }

    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    pub fn columns(&self) -> &[StrColumn<'a>] {
        &self.cols
    }

    pub fn starts(&self) -> &[usize] {
        &self.starts
    }

    /// Shift a chunk-local row number inside an error to the global row number.
    pub fn globalise(&self, chunk: usize, err: CoreError) -> CoreError {
        match err {
            CoreError::InvalidUtf8 { row, byte } => {
                CoreError::InvalidUtf8 { row: row + self.starts.get(chunk).copied().unwrap_or(0), byte }
            }
            other => other,
        }
    }

    /// The text of global row `row`; `None` for null.
    pub fn get(&self, row: usize) -> Result<Option<&'a str>> {
        if row >= self.rows {
            return Err(CoreError::Input(format!("row {row} out of range 0..{}", self.rows)));
        }
        // The last chunk starting at or before `row` that is not empty.
        let chunk = self.starts.partition_point(|&s| s <= row) - 1;
        let mut chunk = chunk;
        while self.cols[chunk].len() + self.starts[chunk] <= row {
            chunk += 1;
        }
        self.cols[chunk].get(row - self.starts[chunk]).map_err(|e| self.globalise(chunk, e))
    }
}

/// Which n-grams a text has: orders (e.g. 1..=4) of word or char tokens of the normalised text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NgramSpec {
    pub normalize: NormalizeOptions,
    pub mode: TokenMode,
    pub orders: Vec<usize>,
}

impl NgramSpec {
    pub fn validate(&self) -> Result<()> {
        if self.orders.is_empty() {
            return Err(CoreError::Config("orders must not be empty".into()));
        }
        for &k in &self.orders {
            self.shingle(k).validate()?;
        }
        Ok(())
    }

    fn shingle(&self, k: usize) -> ShingleOptions {
        ShingleOptions { normalize: self.normalize, mode: self.mode, k }
    }

    /// The distinct n-gram hashes of `text`, sorted, into `out` (`buf` is scratch space).
    pub fn row_ngrams(&self, text: &str, buf: &mut Vec<u64>, out: &mut Vec<u64>) {
        self.all_ngrams(text, buf, out);
        out.sort_unstable();
        out.dedup();
    }

    /// Every n-gram hash of `text`, repeats included, into `out`.
    pub fn all_ngrams(&self, text: &str, buf: &mut Vec<u64>, out: &mut Vec<u64>) {
        out.clear();
        // tokenise and hash the tokens once, then take the windows of every order
        crate::shingle::token_hashes(text, &self.shingle(1), buf);
        for &k in &self.orders {
            crate::shingle::windows_append(buf, k, true, out);
        }
    }
}

/// Rows per parallel work item: large enough to amortise, small enough to balance.
const BLOCK: usize = 2048;

/// Document counts of every n-gram over the rows `rows` (each row counted once per n-gram);
/// only n-grams counted at least `min_count` times are returned, sorted by hash.
pub fn subset_ngram_counts(
    texts: &Texts,
    rows: &[u32],
    spec: &NgramSpec,
    min_count: u32,
) -> Result<Vec<(u64, u32)>> {
    spec.validate()?;
    let partials: Vec<HashIndex<u32>> = rows
        .par_chunks(BLOCK)
        .map(|block| -> Result<HashIndex<u32>> {
            let mut map: HashIndex<u32> = HashIndex::default();
            let (mut buf, mut grams) = (Vec::new(), Vec::new());
            for &r in block {
                if let Some(text) = texts.get(r as usize)? {
                    spec.row_ngrams(text, &mut buf, &mut grams);
                    for &g in &grams {
                        *map.entry(g).or_insert(0) += 1;
                    }
                }
            }
            Ok(map)
        })
        .collect::<Result<_>>()?;
    let mut total: HashIndex<u32> = HashIndex::default();
    for p in partials {
        for (g, c) in p {
            *total.entry(g).or_insert(0) += c;
        }
    }
    let mut out: Vec<(u64, u32)> = total.into_iter().filter(|&(_, c)| c >= min_count).collect();
    out.sort_unstable();
    Ok(out)
}

fn index_of(hashes: &[u64]) -> HashIndex<usize> {
    hashes.iter().enumerate().map(|(i, &h)| (h, i)).collect()
}

/// How many rows of the whole column carry each of `hashes`.
pub fn ngram_document_counts(texts: &Texts, spec: &NgramSpec, hashes: &[u64]) -> Result<Vec<u64>> {
    spec.validate()?;
    let index = index_of(hashes);
    let blocks: Vec<usize> = (0..texts.len()).step_by(BLOCK).collect();
    let partials: Vec<Vec<u64>> = blocks
        .par_iter()
        .map(|&start| -> Result<Vec<u64>> {
            let mut counts = vec![0u64; hashes.len()];
            // a row counts once per n-gram: remember the last row that counted each one
            let mut last = vec![usize::MAX; hashes.len()];
            let (mut buf, mut grams) = (Vec::new(), Vec::new());
            for r in start..(start + BLOCK).min(texts.len()) {
                if let Some(text) = texts.get(r)? {
                    spec.all_ngrams(text, &mut buf, &mut grams);
                    for g in &grams {
                        if let Some(&i) = index.get(g) {
                            if last[i] != r {
                                last[i] = r;
                                counts[i] += 1;
                            }
                        }
                    }
                }
            }
            Ok(counts)
        })
        .collect::<Result<_>>()?;
    let mut total = vec![0u64; hashes.len()];
    for p in partials {
        for (t, c) in total.iter_mut().zip(p) {
            *t += c;
        }
    }
    Ok(total)
}

/// The rows carrying each of `hashes`, in row order, at most `max_per` each.
pub fn ngram_carriers(
    texts: &Texts,
    spec: &NgramSpec,
    hashes: &[u64],
    max_per: usize,
) -> Result<Vec<Vec<u32>>> {
    spec.validate()?;
    let index = index_of(hashes);
    let blocks: Vec<usize> = (0..texts.len()).step_by(BLOCK).collect();
    let partials: Vec<Vec<(usize, u32)>> = blocks
        .par_iter()
        .map(|&start| -> Result<Vec<(usize, u32)>> {
            let mut hits = Vec::new();
            let mut last = vec![usize::MAX; hashes.len()];
            let (mut buf, mut grams) = (Vec::new(), Vec::new());
            for r in start..(start + BLOCK).min(texts.len()) {
                if let Some(text) = texts.get(r)? {
                    spec.all_ngrams(text, &mut buf, &mut grams);
                    for g in &grams {
                        if let Some(&i) = index.get(g) {
                            if last[i] != r {
                                last[i] = r;
                                hits.push((i, r as u32));
                            }
                        }
                    }
                }
            }
            Ok(hits)
        })
        .collect::<Result<_>>()?;
    let mut out = vec![Vec::new(); hashes.len()];
    for p in partials {
        for (i, r) in p {
            if out[i].len() < max_per {
                out[i].push(r);
            }
        }
    }
    Ok(out)
}

/// Share of each row's distinct word bigrams that also occur in some *other* row of a reference
/// sample (every `sample_every`-th row). Natural text and code reuse the corpus's bigrams; words
/// drawn at random from a vocabulary almost never do, so a low value marks gibberish.
/// Rows with fewer than `min_tokens` word tokens (or null) get NaN.
pub fn bigram_familiarity(
    texts: &Texts,
    normalize: NormalizeOptions,
    sample_every: usize,
    min_tokens: usize,
) -> Result<Vec<f32>> {
    if sample_every == 0 {
        return Err(CoreError::Config("sample_every must be at least 1".into()));
    }
    let spec = NgramSpec { normalize, mode: TokenMode::Word, orders: vec![2] };
    let sample: Vec<u32> = (0..texts.len()).step_by(sample_every).map(|r| r as u32).collect();
    let counts: HashIndex<u32> = subset_ngram_counts(texts, &sample, &spec, 1)?.into_iter().collect();
    let uni = ShingleOptions { normalize, mode: TokenMode::Word, k: 1 };
    let blocks: Vec<usize> = (0..texts.len()).step_by(BLOCK).collect();
    let parts: Vec<Vec<f32>> = blocks
        .par_iter()
        .map(|&start| -> Result<Vec<f32>> {
            let mut out = Vec::with_capacity(BLOCK);
            let (mut buf, mut grams) = (Vec::new(), Vec::new());
            for r in start..(start + BLOCK).min(texts.len()) {
                let Some(text) = texts.get(r)? else {
                    out.push(f32::NAN);
                    continue;
                };
                shingle_hashes(text, &uni, &mut buf);
                if buf.len() < min_tokens.max(2) {
                    out.push(f32::NAN);
                    continue;
                }
                spec.row_ngrams(text, &mut buf, &mut grams);
                let own = usize::from(r % sample_every == 0) as u32;
                let known = grams.iter().filter(|g| counts.get(g).copied().unwrap_or(0) > own).count();
                out.push(known as f32 / grams.len().max(1) as f32);
            }
            Ok(out)
        })
        .collect::<Result<_>>()?;
    Ok(parts.concat())
}

/// [`subset_ngram_counts`] for many row sets at once (in parallel over the sets): for set `i`,
/// the n-grams counted at least `min_counts[i]` times, sorted by hash.
pub fn subset_ngram_counts_many(
    texts: &Texts,
    sets: &[Vec<u32>],
    spec: &NgramSpec,
    min_counts: &[u32],
) -> Result<Vec<Vec<(u64, u32)>>> {
    spec.validate()?;
    if sets.len() != min_counts.len() {
        return Err(CoreError::Input(format!(
            "{} row sets but {} minimum counts",
            sets.len(),
            min_counts.len()
        )));
    }
    sets.par_iter()
        .zip(min_counts.par_iter())
        .map(|(rows, &min_count)| -> Result<Vec<(u64, u32)>> {
            let mut map: HashIndex<u32> = HashIndex::default();
            let (mut buf, mut grams) = (Vec::new(), Vec::new());
            for &r in rows {
                if let Some(text) = texts.get(r as usize)? {
                    spec.row_ngrams(text, &mut buf, &mut grams);
                    for &g in &grams {
                        *map.entry(g).or_insert(0) += 1;
                    }
                }
            }
            let mut out: Vec<(u64, u32)> = map.into_iter().filter(|&(_, c)| c >= min_count).collect();
            out.sort_unstable();
            Ok(out)
        })
        .collect()
}

/// Every n-gram of `text` of the given orders as `(hash, text)`, in the windows
/// [`NgramSpec::all_ngrams`] hashes (repeats included): names for the hashes mining returns.
pub fn ngram_names(text: &str, spec: &NgramSpec) -> Vec<(u64, String)> {
    let norm = crate::text::normalize(text, &spec.normalize);
    let mut toks: Vec<&str> = Vec::new();
    crate::text::for_each_token(&norm, spec.mode, |t| toks.push(t));
    let hashes: Vec<u64> = toks.iter().map(|t| crate::shingle::hash_token(t)).collect();
    let sep = if spec.mode == TokenMode::Word { " " } else { "" };
    let mut out = Vec::new();
    for &k in &spec.orders {
        if toks.is_empty() {
            break;
        }
        let k = k.min(toks.len());
        for i in 0..=toks.len() - k {
            out.push((crate::shingle::hash_window(&hashes[i..i + k]), toks[i..i + k].join(sep)));
        }
    }
    out
}
