//! Locality-sensitive hashing of MinHash signatures into bands, and candidate pairs.

use rayon::prelude::*;
use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::error::{CoreError, Result};
use crate::minhash::MAX_PERM;

/// `bands` bands of `rows` signature positions each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LshParams {
    pub bands: usize,
    pub rows: usize,
}

fn integrate(f: impl Fn(f64) -> f64, a: f64, b: f64) -> f64 {
    const STEPS: usize = 200;
    let h = (b - a) / STEPS as f64;
    (0..STEPS).map(|i| f(a + (i as f64 + 0.5) * h)).sum::<f64>() * h
}

impl LshParams {
    pub fn new(bands: usize, rows: usize, num_perm: usize) -> Result<Self> {
        if bands == 0 || rows == 0 || bands.checked_mul(rows).is_none_or(|p| p > num_perm) {
            return Err(CoreError::Config(format!(
                "bands ({bands}) × rows ({rows}) must be at least 1 and at most num_perm ({num_perm})"
            )));
        }
        Ok(LshParams { bands, rows })
    }

    /// The (bands, rows) minimising the false-positive area below `threshold` plus the
    /// false-negative area above it of the S-curve `1 - (1 - s^r)^b` (equal weights), as
    /// datasketch does.
    pub fn from_threshold(threshold: f64, num_perm: usize) -> Result<Self> {
        if !(threshold > 0.0 && threshold < 1.0) {
            return Err(CoreError::Config(format!("threshold must be in (0, 1), got {threshold}")));
        }
        if num_perm == 0 || num_perm > MAX_PERM {
            return Err(CoreError::Config(format!("num_perm must be in 1..={MAX_PERM}, got {num_perm}")));
        }
        let mut best = (f64::INFINITY, LshParams { bands: 1, rows: 1 });
        for b in 1..=num_perm {
            for r in 1..=num_perm / b {
                let p = |s: f64| 1.0 - (1.0 - s.powi(r as i32)).powi(b as i32);
                let fp = integrate(p, 0.0, threshold);
                let fneg = integrate(|s| 1.0 - p(s), threshold, 1.0);
                let err = 0.5 * fp + 0.5 * fneg;
                if err < best.0 - 1e-12 {
                    best = (err, LshParams { bands: b, rows: r });
                }
            }
        }
        Ok(best.1)
    }
}

/// Band keys, row-major `rows × bands`: xxh3-64 of the band's values (little-endian) seeded by the
/// band index.
///
/// `sigs` holds `sigs.len() / num_perm` whole signatures (a trailing partial one is ignored).
/// Parameters that [`LshParams::new`] would reject for `num_perm` (zero bands or rows, or
/// `bands * rows > num_perm`, possible since the fields are public) give an empty result.
pub fn band_keys(sigs: &[u32], num_perm: usize, params: LshParams) -> Vec<u64> {
    let LshParams { bands, rows } = params;
    if LshParams::new(bands, rows, num_perm).is_err() {
        return Vec::new();
    }
    let n = sigs.len() / num_perm;
    let mut out = vec![0u64; n * bands];
    out.par_chunks_mut(bands).zip(sigs.par_chunks_exact(num_perm)).with_min_len(256).for_each_init(
        || Vec::with_capacity(rows * 4),
        |buf, (keys, sig)| {
            for ((band, key), vals) in keys.iter_mut().enumerate().zip(sig.chunks_exact(rows)) {
                buf.clear();
                for v in vals {
                    buf.extend_from_slice(&v.to_le_bytes());
                }
                *key = xxh3_64_with_seed(buf, band as u64);
            }
        },
    );
    out
}

/// Pairs `(i, j)`, `i < j`, of rows sharing a key in some band; sorted and deduplicated.
///
/// A bucket of up to `max_bucket` rows gives all its pairs. A larger bucket (a big template or
/// duplicate group) links each member only to the next `max_bucket - 1` members in the order of
/// their keys in every band (rows breaking ties): work stays linear, connectivity is kept, since
/// consecutive members are linked, and the pairs do not depend on the rows' order beyond rows
/// with the same keys in every band. Rows with `skip[i]` (null or empty text) are left out.
pub fn candidate_pairs(
    keys: &[u64],
    n_rows: usize,
    bands: usize,
    max_bucket: usize,
    skip: Option<&[bool]>,
) -> Vec<(u32, u32)> {
    if bands == 0 || n_rows == 0 || n_rows.checked_mul(bands).is_none_or(|need| keys.len() < need) {
        return Vec::new();
    }
    let max_bucket = max_bucket.max(2);
    // Each band's pairs are sorted and merged into the running union as they come, never
    // concatenated first: a duplicate group is in the same buckets in every band, so the
    // concatenation would hold every pair once per band (bands × the output: 10 GB for a
    // million rows with twentyfold duplicates).
    (0..bands)
        .into_par_iter()
        .map(|band| {
            let mut kv: Vec<(u64, u32)> = (0..n_rows)
                .filter(|&r| !skip.is_some_and(|s| s.get(r).copied().unwrap_or(false)))
                .map(|r| (keys[r * bands + band], r as u32))
                .collect();
            kv.sort_unstable();
            let mut pairs = Vec::new();
            let mut start = 0;
            while start < kv.len() {
                let mut end = start + 1;
                while end < kv.len() && kv[end].0 == kv[start].0 {
                    end += 1;
                }
                let run = &kv[start..end];
                if run.len() <= max_bucket {
                    for (x, &(_, i)) in run.iter().enumerate() {
                        for &(_, j) in &run[x + 1..] {
                            pairs.push((i, j));
                        }
                    }
                } else {
                    // a large bucket's window runs over its members in the order of their keys
                    // in every band (their content), rows only breaking ties: in row order, which
                    // members a row is checked against (and so, where similarity is verified,
                    // the clusters at a group's edge) changed with the order of the input rows
                    let mut members: Vec<u32> = run.iter().map(|&(_, r)| r).collect();
                    members.sort_unstable_by(|&a, &b| {
                        let (a, b) = (a as usize, b as usize);
                        keys[a * bands..(a + 1) * bands]
                            .cmp(&keys[b * bands..(b + 1) * bands])
                            .then(a.cmp(&b))
                    });
                    for (x, &i) in members.iter().enumerate() {
                        for &j in &members[x + 1..(x + max_bucket).min(members.len())] {
                            pairs.push((i.min(j), i.max(j)));
                        }
                    }
                }
                start = end;
            }
            // a row is in one bucket per band, so a band's pairs are already distinct
            pairs.sort_unstable();
            pairs
        })
        .reduce(Vec::new, merge_union)
}

/// The sorted union, without repeats, of two sorted vectors without repeats.
fn merge_union(a: Vec<(u32, u32)>, b: Vec<(u32, u32)>) -> Vec<(u32, u32)> {
    if a.is_empty() {
        return b;
    }
    if b.is_empty() {
        return a;
    }
    let mut out = Vec::with_capacity(a.len().max(b.len()));
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => {
                out.push(a[i]);
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                out.push(b[j]);
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}
