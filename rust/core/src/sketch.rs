//! Dense sketches: IDF-weighted hashed n-gram features under a sparse random projection.
//!
//! Each row's distinct n-grams (binary term frequency) are weighted by a smoothed inverse
//! document frequency, `idf = ln((1 + n_docs) / (1 + df)) + 1`, and projected to `dim`
//! coordinates: n-gram hash `h` adds `±idf(h)` to [`NNZ`] coordinates chosen (with their signs)
//! by hashing `h` with the seed, an Achlioptas-style sparse projection that never stores a
//! matrix. Rows are L2-normalised, so cosine similarity is a dot product. Rows that are null or
//! have no n-grams stay all zero.
//!
//! Deterministic for any thread count: each row is summed alone, in sorted-hash order.

use rayon::prelude::*;

use crate::mine::{HashIndex, NgramSpec, Texts};
use crate::{CoreError, Result};

/// Coordinates each n-gram touches.
pub const NNZ: usize = 3;
/// Largest sketch dimension accepted.
pub const MAX_DIM: usize = 1 << 16;

const BLOCK: usize = 1024;

/// splitmix64 finaliser: a bijective 64-bit mix.
#[inline]
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The smoothed IDF of an n-gram seen in `df` of `n_docs` documents.
#[inline]
pub fn idf(df: u64, n_docs: u64) -> f32 {
    let df = df.max(1) as f64;
    (((1.0 + n_docs as f64) / (1.0 + df)).ln() + 1.0) as f32
}

/// Add `w` times the projection column of hash `h` to `row`.
#[inline]
fn project(h: u64, seed: u64, w: f32, row: &mut [f32]) {
    let dim = row.len() as u64;
    let mut z = h ^ mix(seed);
    for _ in 0..NNZ {
        z = mix(z);
        // high bits pick the coordinate (multiply-shift, no modulo bias worth noting), bit 0 the sign
        let j = (((z >> 32) * dim) >> 32) as usize;
        row[j] += if z & 1 == 0 { w } else { -w };
    }
}

/// Dense sketches of every row of `texts`: `texts.len() * dim` floats, row-major, unit-norm rows
/// (all zero for null rows and rows without n-grams).
///
/// `hashes`/`df` give the document frequency of n-grams (any order, need not be sorted; a repeated
/// hash keeps its last df); n-grams not listed count as df = 1. `n_docs` is the corpus size the
/// counts refer to.
pub fn dense_sketches(
    texts: &Texts,
    spec: &NgramSpec,
    hashes: &[u64],
    df: &[u64],
    n_docs: u64,
    dim: usize,
    seed: u64,
) -> Result<Vec<f32>> {
    spec.validate()?;
    if dim == 0 || dim > MAX_DIM {
        return Err(CoreError::Config(format!("dim must be in 1..={MAX_DIM}, got {dim}")));
    }
    if hashes.len() != df.len() {
        return Err(CoreError::Input(format!(
            "hashes and df differ in length ({} vs {})",
            hashes.len(),
            df.len()
        )));
    }
    let weights: HashIndex<f32> = hashes.iter().zip(df).map(|(&h, &d)| (h, idf(d, n_docs))).collect();
    let unseen = idf(1, n_docs);
    let mut out = vec![0f32; texts.len() * dim];
    out.par_chunks_mut(BLOCK * dim).enumerate().try_for_each(|(b, block)| -> Result<()> {
        let (mut buf, mut grams) = (Vec::new(), Vec::new());
        for (i, row) in block.chunks_mut(dim).enumerate() {
            let Some(text) = texts.get(b * BLOCK + i)? else { continue };
            spec.row_ngrams(text, &mut buf, &mut grams);
            for &g in &grams {
                project(g, seed, weights.get(&g).copied().unwrap_or(unseen), row);
            }
            let norm = row.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>().sqrt();
            if norm > 0.0 {
                let inv = (1.0 / norm) as f32;
                row.iter_mut().for_each(|x| *x *= inv);
            }
        }
        Ok(())
    })?;
    Ok(out)
}
