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

use crate::tokens::{TextTokens, TokenSource};
use crate::{CoreError, NormalizeOptions, Result, ShingleOptions, StrColumn, TokenMode};

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

/// The least items of a rayon leaf that leaves about one leaf per thread (rayon halves a run
/// while each half keeps at least this many). For folds whose accumulator is a table of most of
/// the corpus's keys: rayon's own splitting gave 16 leaves on 2 threads, each table built and
/// merged again.
pub(crate) fn leaf_len(items: usize) -> usize {
    (items / rayon::current_num_threads().max(1)).max(1)
}

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

    /// For each `i`, whether rows `a[i]` and `b[i]` hold the same text (false where either is
    /// null): copies of a text told from hash collisions without copying the texts out.
    pub fn equal(&self, a: &[u32], b: &[u32]) -> Result<Vec<bool>> {
        if a.len() != b.len() {
            return Err(CoreError::Input(format!("{} rows against {} rows", a.len(), b.len())));
        }
        a.par_iter()
            .zip(b)
            .map(|(&x, &y)| {
                Ok(matches!((self.get(x as usize)?, self.get(y as usize)?), (Some(s), Some(t)) if s == t))
            })
            .collect()
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
        // tokenise and hash the tokens once, then take the windows of every order
        crate::shingle::token_hashes(text, &self.shingle(1), buf);
        grams_of(buf, &self.orders, out);
    }

    /// The texts as a token source for this spec's normalisation and token mode.
    pub fn source<'t, 'a>(&self, texts: &'t Texts<'a>) -> TextTokens<'t, 'a> {
        TextTokens::new(texts, self.normalize, self.mode)
    }
}

fn check_orders(orders: &[usize]) -> Result<()> {
    if orders.is_empty() {
        return Err(CoreError::Config("orders must not be empty".into()));
    }
    if let Some(&k) = orders.iter().find(|&&k| k == 0 || k > crate::shingle::MAX_K) {
        return Err(CoreError::Config(format!(
            "n-gram size must be in 1..={}, got {k}",
            crate::shingle::MAX_K
        )));
    }
    Ok(())
}

/// Every n-gram hash (orders `orders`) of a row's token hashes, repeats included, into `out`.
fn grams_of(toks: &[u64], orders: &[usize], out: &mut Vec<u64>) {
    out.clear();
    for &k in orders {
        crate::shingle::windows_append(toks, k, true, out);
    }
}

/// [`grams_of`], sorted and deduplicated.
fn distinct_grams_of(toks: &[u64], orders: &[usize], out: &mut Vec<u64>) {
    grams_of(toks, orders, out);
    out.sort_unstable();
    out.dedup();
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
    subset_ngram_counts_in(&spec.source(texts), rows, &spec.orders, min_count)
}

/// [`subset_ngram_counts`] over any token source.
pub fn subset_ngram_counts_in<S: TokenSource + ?Sized>(
    src: &S,
    rows: &[u32],
    orders: &[usize],
    min_count: u32,
) -> Result<Vec<(u64, u32)>> {
    check_orders(orders)?;
    let partials: Vec<HashIndex<u32>> = rows
        .par_chunks(BLOCK)
        .map(|block| -> Result<HashIndex<u32>> {
            let mut map: HashIndex<u32> = HashIndex::default();
            count_rows(src, block, orders, &mut map)?;
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

/// Add one to `map` for every distinct n-gram of each of `rows`.
fn count_rows<S: TokenSource + ?Sized>(
    src: &S,
    rows: &[u32],
    orders: &[usize],
    map: &mut HashIndex<u32>,
) -> Result<()> {
    each_distinct_gram(src, rows, orders, |g| *map.entry(g).or_insert(0) += 1)
}

/// `f(g)` for every distinct n-gram `g` of each of `rows`, row by row.
fn each_distinct_gram<S: TokenSource + ?Sized>(
    src: &S,
    rows: &[u32],
    orders: &[usize],
    mut f: impl FnMut(u64),
) -> Result<()> {
    let (mut buf, mut grams) = (Vec::new(), Vec::new());
    for &r in rows {
        if let Some(toks) = src.tokens(r as usize, &mut buf)? {
            distinct_grams_of(toks, orders, &mut grams);
            grams.iter().for_each(|&g| f(g));
        }
    }
    Ok(())
}

/// Position of each wanted hash, behind a one-bit-per-slot prefilter: a corpus pass looks up
/// every n-gram of every row and almost all of them are not wanted, so most lookups stop at a
/// bit test in a table small enough to stay in cache (about 1 in 16 false positives).
struct Wanted {
    bits: Vec<u64>,
    mask: u64,
    index: HashIndex<usize>,
}

impl Wanted {
    fn new(hashes: &[u64]) -> Self {
        let slots = (hashes.len() * 16).next_power_of_two().clamp(1 << 12, 1 << 26);
        let mut bits = vec![0u64; slots / 64];
        let mask = slots as u64 - 1;
        for &h in hashes {
            let b = Self::slot(h, mask);
            bits[b / 64] |= 1 << (b % 64);
        }
        let index = hashes.iter().enumerate().map(|(i, &h)| (h, i)).collect();
        Wanted { bits, mask, index }
    }

    #[inline]
    fn slot(h: u64, mask: u64) -> usize {
        // bits 32..58: the identity-hashed map picks its buckets from the low ones
        ((h >> 32) & mask) as usize
    }

    #[inline]
    fn get(&self, h: u64) -> Option<usize> {
        let b = Self::slot(h, self.mask);
        if self.bits[b / 64] & (1 << (b % 64)) == 0 {
            return None;
        }
        self.index.get(&h).copied()
    }
}

/// For each row of the [`BLOCK`] of rows from `start`, `hit(i, row)` once for every wanted hash
/// `i` the row carries: a row counts once per n-gram, so `last` remembers the last row that
/// reported each one.
fn block_hits<S: TokenSource + ?Sized>(
    src: &S,
    orders: &[usize],
    index: &Wanted,
    start: usize,
    last: &mut [usize],
    mut hit: impl FnMut(usize, usize),
) -> Result<()> {
    let (mut buf, mut grams) = (Vec::new(), Vec::new());
    for r in start..(start + BLOCK).min(src.len()) {
        if let Some(toks) = src.tokens(r, &mut buf)? {
            grams_of(toks, orders, &mut grams);
            for g in &grams {
                if let Some(i) = index.get(*g) {
                    if last[i] != r {
                        last[i] = r;
                        hit(i, r);
                    }
                }
            }
        }
    }
    Ok(())
}

/// How many rows of the whole column carry each of `hashes`.
pub fn ngram_document_counts(texts: &Texts, spec: &NgramSpec, hashes: &[u64]) -> Result<Vec<u64>> {
    spec.validate()?;
    ngram_document_counts_in(&spec.source(texts), &spec.orders, hashes)
}

/// [`ngram_document_counts`] over any token source.
pub fn ngram_document_counts_in<S: TokenSource + ?Sized>(
    src: &S,
    orders: &[usize],
    hashes: &[u64],
) -> Result<Vec<u64>> {
    check_orders(orders)?;
    let index = Wanted::new(hashes);
    let blocks: Vec<usize> = (0..src.len()).step_by(BLOCK).collect();
    let zero = || vec![0u64; hashes.len()];
    // one count array per rayon split rather than per block (a block's array is as long as the
    // hash list, so per-block arrays held until the end grew with rows x hashes); sums of
    // integers, so the split does not change the result
    blocks
        .par_iter()
        .try_fold(
            || (zero(), vec![usize::MAX; hashes.len()]),
            |(mut counts, mut last), &start| -> Result<(Vec<u64>, Vec<usize>)> {
                block_hits(src, orders, &index, start, &mut last, |i, _| counts[i] += 1)?;
                Ok((counts, last))
            },
        )
        .map(|part| part.map(|(counts, _)| counts))
        .try_reduce(zero, |mut total, part| {
            for (t, c) in total.iter_mut().zip(part) {
                *t += c;
            }
            Ok(total)
        })
}

/// The rows carrying each of `hashes`, in row order, at most `max_per` each.
pub fn ngram_carriers(
    texts: &Texts,
    spec: &NgramSpec,
    hashes: &[u64],
    max_per: usize,
) -> Result<Vec<Vec<u32>>> {
    spec.validate()?;
    ngram_carriers_in(&spec.source(texts), &spec.orders, hashes, max_per)
}

/// [`ngram_carriers`] over any token source.
pub fn ngram_carriers_in<S: TokenSource + ?Sized>(
    src: &S,
    orders: &[usize],
    hashes: &[u64],
    max_per: usize,
) -> Result<Vec<Vec<u32>>> {
    check_orders(orders)?;
    check_hash_count(hashes)?;
    let index = Wanted::new(hashes);
    let blocks: Vec<usize> = (0..src.len()).step_by(BLOCK).collect();
    // (hash index, row) per hit: 8 bytes, the largest transient of trigger mining
    let partials: Vec<Vec<(u32, u32)>> = blocks
        .par_iter()
        .map(|&start| -> Result<Vec<(u32, u32)>> {
            let mut hits = Vec::new();
            let mut last = vec![usize::MAX; hashes.len()];
            block_hits(src, orders, &index, start, &mut last, |i, r| hits.push((i as u32, r as u32)))?;
            Ok(hits)
        })
        .collect::<Result<_>>()?;
    Ok(carrier_lists(partials, hashes.len(), max_per))
}

/// At most `u32::MAX` hashes are looked up at once (their indices are `u32`).
pub(crate) fn check_hash_count(hashes: &[u64]) -> Result<()> {
    if u32::try_from(hashes.len()).is_err() {
        return Err(CoreError::Input(format!("{} hashes: at most {} at once", hashes.len(), u32::MAX)));
    }
    Ok(())
}

/// (hash index, row) hits of row blocks, in block order, gathered into one row list per hash,
/// at most `max_per` rows each (the first ones found).
pub(crate) fn carrier_lists(partials: Vec<Vec<(u32, u32)>>, n: usize, max_per: usize) -> Vec<Vec<u32>> {
    let mut out = vec![Vec::new(); n];
    for (i, r) in partials.into_iter().flatten() {
        let list = &mut out[i as usize];
        if list.len() < max_per {
            list.push(r);
        }
    }
    out
}

/// The fewest bigram positions of the stretch at a document's end that [`row_familiarity`]
/// judges apart from the whole: a document that turns to gibberish part-way (a clean prefix, a
/// trigger, then random words: Souly et al.'s denial-of-service documents) is judged by its
/// gibberish, not diluted by the prefix. (An answer is judged whole: 20-position stretches of
/// names or rare words end 0.04% of the dev suite's clean answers at gibberish level.)
pub const TAIL_MIN_BIGRAMS: usize = 40;

/// The familiarity of one row from its bigram hashes in text order (repeats included) and
/// whether each is known elsewhere: the share of its *distinct* bigrams that are known; with
/// `tail`, the lesser of that and the least share of known bigram positions over the stretches
/// that run to the text's end holding at least [`TAIL_MIN_BIGRAMS`] positions. `distinct` is
/// scratch space.
pub fn row_familiarity(
    grams: &[u64],
    known: impl Fn(u64) -> bool,
    tail: bool,
    distinct: &mut Vec<u64>,
) -> f32 {
    distinct.clear();
    distinct.extend_from_slice(grams);
    distinct.sort_unstable();
    distinct.dedup();
    let whole = distinct.iter().filter(|&&g| known(g)).count() as f32 / distinct.len().max(1) as f32;
    if !tail || grams.len() < TAIL_MIN_BIGRAMS {
        return whole;
    }
    // suffix sums from the end: the stretch from position s on holds n - s positions
    let (mut hits, mut least) = (0usize, f32::INFINITY);
    for (len, &g) in grams.iter().rev().enumerate().map(|(i, g)| (i + 1, g)) {
        hits += usize::from(known(g));
        if len >= TAIL_MIN_BIGRAMS {
            least = least.min(hits as f32 / len as f32);
        }
    }
    whole.min(least)
}

/// Familiarity of each row of `texts` against a reference (document counts of word bigrams,
/// `count(hash)`): [`row_familiarity`] with a bigram known when more rows than the row itself
/// (`own(row)`: whether it is a reference row) hold it, judged by its end too where
/// `tail[row]` (none: no row). Rows with fewer than `min_tokens` word tokens (or null) get NaN.
fn familiarity_with(
    texts: &Texts,
    normalize: NormalizeOptions,
    min_tokens: usize,
    tail: Option<&[bool]>,
    count: impl Fn(u64) -> u32 + Sync,
    own: impl Fn(usize) -> Result<u32> + Sync,
) -> Result<Vec<f32>> {
    if let Some(t) = tail {
        if t.len() != texts.len() {
            return Err(CoreError::Input(format!(
                "{} tail flags for {} rows: one flag per row",
                t.len(),
                texts.len()
            )));
        }
    }
    let spec = NgramSpec { normalize, mode: TokenMode::Word, orders: vec![2] };
    let src = spec.source(texts);
    let blocks: Vec<usize> = (0..texts.len()).step_by(BLOCK).collect();
    let parts: Vec<Vec<f32>> = blocks
        .par_iter()
        .map(|&start| -> Result<Vec<f32>> {
            let mut out = Vec::with_capacity(BLOCK);
            let (mut buf, mut grams, mut distinct) = (Vec::new(), Vec::new(), Vec::new());
            for r in start..(start + BLOCK).min(texts.len()) {
                let toks = match src.tokens(r, &mut buf)? {
                    Some(t) if t.len() >= min_tokens.max(2) => t,
                    _ => {
                        out.push(f32::NAN);
                        continue;
                    }
                };
                grams_of(toks, &spec.orders, &mut grams);
                let mine = own(r)?;
                let judge_tail = tail.is_some_and(|t| t[r]);
                out.push(row_familiarity(&grams, |g| count(g) > mine, judge_tail, &mut distinct));
            }
            Ok(out)
        })
        .collect::<Result<_>>()?;
    Ok(parts.concat())
}

/// Familiarity of each row (see [`row_familiarity`]) against a reference sample of the same
/// texts (about one row in `sample_every`, chosen by a hash of the row's text: [`sample_key`]):
/// a bigram is known when some *other* sample row holds it. Natural text and code reuse the
/// corpus's bigrams; words drawn at random from a vocabulary almost never do, so a low value
/// marks gibberish. The rows where `tail` is set (documents: no prompt) are judged by the
/// stretches at their end too. Rows with fewer than `min_tokens` word tokens (or null) get NaN.
pub fn bigram_familiarity(
    texts: &Texts,
    normalize: NormalizeOptions,
    sample_every: usize,
    min_tokens: usize,
    tail: Option<&[bool]>,
) -> Result<Vec<f32>> {
    if sample_every == 0 {
        return Err(CoreError::Config("sample_every must be at least 1".into()));
    }
    let spec = NgramSpec { normalize, mode: TokenMode::Word, orders: vec![2] };
    // the sample is chosen by a hash of each text, not by its position, so the same texts give
    // the same familiarity in any row order (a text and its copies are in or out together)
    let in_sample = |r: usize| -> Result<bool> {
        Ok(sample_every == 1
            || texts.get(r)?.is_some_and(|t| sample_key(t).is_multiple_of(sample_every as u64)))
    };
    let sample: Vec<u32> = (0..texts.len())
        .into_par_iter()
        .map(|r| in_sample(r).map(|keep| keep.then_some(r as u32)))
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .flatten()
        .collect();
    let counts: HashIndex<u32> = subset_ngram_counts(texts, &sample, &spec, 1)?.into_iter().collect();
    familiarity_with(
        texts,
        normalize,
        min_tokens,
        tail,
        |g| counts.get(&g).copied().unwrap_or(0),
        |r| in_sample(r).map(u32::from),
    )
}

/// [`bigram_familiarity`] of `texts` against reference counts gathered elsewhere (the Ray
/// engine's merged sample counts): `ref_hashes` sorted ascending with their document counts
/// `ref_counts`, and `own[r]` whether row `r` is itself one of the reference rows.
pub fn bigram_familiarity_against(
    texts: &Texts,
    normalize: NormalizeOptions,
    ref_hashes: &[u64],
    ref_counts: &[u64],
    own: &[bool],
    min_tokens: usize,
    tail: Option<&[bool]>,
) -> Result<Vec<f32>> {
    if ref_hashes.len() != ref_counts.len() || own.len() != texts.len() {
        return Err(CoreError::Input(format!(
            "{} reference hashes, {} counts and {} own flags for {} rows: one count per hash, one flag per row",
            ref_hashes.len(),
            ref_counts.len(),
            own.len(),
            texts.len()
        )));
    }
    if ref_hashes.windows(2).any(|w| w[0] > w[1]) {
        return Err(CoreError::Input("reference hashes must be sorted ascending".into()));
    }
    familiarity_with(
        texts,
        normalize,
        min_tokens,
        tail,
        |g| ref_hashes.binary_search(&g).map_or(0, |i| u32::try_from(ref_counts[i]).unwrap_or(u32::MAX)),
        |r| Ok(u32::from(own[r])),
    )
}

/// The key that puts a text into [`bigram_familiarity`]'s reference sample (`key % every == 0`):
/// xxh3-64 of its bytes, seeded apart from the shingle hashes.
pub fn sample_key(text: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64_with_seed(text.as_bytes(), 0x5eed_f00d)
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
    subset_ngram_counts_many_in(&spec.source(texts), sets, &spec.orders, min_counts)
}

/// [`subset_ngram_counts_many`] over any token source.
pub fn subset_ngram_counts_many_in<S: TokenSource + ?Sized>(
    src: &S,
    sets: &[Vec<u32>],
    orders: &[usize],
    min_counts: &[u32],
) -> Result<Vec<Vec<(u64, u32)>>> {
    check_orders(orders)?;
    if sets.len() != min_counts.len() {
        return Err(CoreError::Input(format!(
            "{} row sets but {} minimum counts",
            sets.len(),
            min_counts.len()
        )));
    }
    sets.par_iter()
        .zip(min_counts.par_iter())
        .map(|(rows, &min_count)| counts_at_least(src, rows, orders, min_count))
        .collect()
}

/// Bucket counters per row of a set in [`counts_at_least`]'s first pass, and their bounds.
const BUCKETS_PER_ROW: usize = 16;
const MIN_BUCKET_BITS: u32 = 10;
const MAX_BUCKET_BITS: u32 = 24;

/// The n-grams of `rows` counted at least `min_count` times (once per row), sorted by hash.
///
/// One exact map of every distinct n-gram of a set grows with the length of its texts (most
/// n-grams of long prompts occur once), so for `min_count >= 2` this counts in two passes
/// (Park, Chen and Yu 1995): the first adds each row's distinct n-grams into a table of bucket
/// counters sized by the row count (16 a row, at most 2^24); a bucket's count is at least the
/// count of every n-gram hashed into it, so the second pass counts exactly only the n-grams
/// whose bucket reached `min_count`. The result is the one exact map would give. At most
/// (n-grams counted) / `min_count` buckets reach it: with the trigger miner's `min_count` of a
/// fifth of the set, five times the distinct n-grams of an average row, so the map holds their
/// n-grams (and what shares their buckets) rather than every n-gram of the set.
fn counts_at_least<S: TokenSource + ?Sized>(
    src: &S,
    rows: &[u32],
    orders: &[usize],
    min_count: u32,
) -> Result<Vec<(u64, u32)>> {
    let mut map: HashIndex<u32> = HashIndex::default();
    if min_count <= 1 {
        count_rows(src, rows, orders, &mut map)?;
    } else {
        let bits = (rows.len().saturating_mul(BUCKETS_PER_ROW).max(1).ilog2() + 1)
            .clamp(MIN_BUCKET_BITS, MAX_BUCKET_BITS);
        let bucket = |g: u64| (g.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - bits)) as usize;
        let mut buckets = vec![0u32; 1 << bits];
        each_distinct_gram(src, rows, orders, |g| {
            let b = &mut buckets[bucket(g)];
            *b = b.saturating_add(1);
        })?;
        if buckets.iter().any(|&c| c >= min_count) {
            each_distinct_gram(src, rows, orders, |g| {
                if buckets[bucket(g)] >= min_count {
                    *map.entry(g).or_insert(0) += 1;
                }
            })?;
        }
    }
    let mut out: Vec<(u64, u32)> = map.into_iter().filter(|&(_, c)| c >= min_count).collect();
    out.sort_unstable();
    Ok(out)
}

/// Every n-gram of `text` of the given orders as `(hash, text)`, in the windows
/// [`NgramSpec::all_ngrams`] hashes (repeats included): names for the hashes mining returns.
pub fn ngram_names(text: &str, spec: &NgramSpec) -> Vec<(u64, String)> {
    names_where(text, spec, |_| true)
}

/// [`ngram_names`] restricted to the n-grams whose hash is in `wanted` (the strings are most of
/// the cost, and callers usually want a few of them).
pub fn ngram_names_of(text: &str, spec: &NgramSpec, wanted: &[u64]) -> Vec<(u64, String)> {
    let wanted: std::collections::HashSet<u64, BuildHasherDefault<IdentityHasher>> =
        wanted.iter().copied().collect();
    names_where(text, spec, |h| wanted.contains(&h))
}

fn names_where(text: &str, spec: &NgramSpec, keep: impl Fn(u64) -> bool) -> Vec<(u64, String)> {
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
            let h = crate::shingle::hash_window(&hashes[i..i + k]);
            if keep(h) {
                out.push((h, toks[i..i + k].join(sep)));
            }
        }
    }
    out
}
