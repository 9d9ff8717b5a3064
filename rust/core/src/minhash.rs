//! MinHash signatures.
//!
//! Each shingle is hashed once (64-bit, see [`crate::shingle`]); permutation `i` maps a shingle
//! hash `h` to `((a_i * h + b_i) mod 2^64) >> 32` with odd `a_i` (multiply-shift hashing), and the
//! signature keeps the minimum per permutation as `u32`. `a_i`, `b_i` come from a SplitMix64
//! stream seeded by `seed`, so a signature depends only on the text, the options, `num_perm` and
//! `seed` — never on thread count, batch size or machine.
//!
//! Estimator: the share of positions where two signatures agree estimates the Jaccard similarity
//! `J` of the shingle sets. It is unbiased up to the 2^-32 chance of two different shingles
//! colliding in a position, with standard error `sqrt(J (1 - J) / num_perm)`: at most 0.044 for
//! 128 permutations (at J = 0.5), 0.027 at J = 0.9.

use rayon::prelude::*;

use crate::column::StrColumn;
use crate::error::{CoreError, Result};
use crate::shingle::{shingle_hashes_with, ShingleOptions};

pub const MAX_PERM: usize = 4096;

/// The permutations of one MinHash family.
#[derive(Clone, Debug)]
pub struct MinHasher {
    a: Vec<u64>,
    b: Vec<u64>,
    seed: u64,
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl MinHasher {
    pub fn new(num_perm: usize, seed: u64) -> Result<Self> {
        if num_perm == 0 || num_perm > MAX_PERM {
            return Err(CoreError::Config(format!("num_perm must be in 1..={MAX_PERM}, got {num_perm}")));
        }
        let mut state = seed;
        let mut a = Vec::with_capacity(num_perm);
        let mut b = Vec::with_capacity(num_perm);
        for _ in 0..num_perm {
            a.push(splitmix64(&mut state) | 1);
            b.push(splitmix64(&mut state));
        }
        Ok(MinHasher { a, b, seed })
    }

    pub fn num_perm(&self) -> usize {
        self.a.len()
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The signature of a shingle multiset into `out` (`out.len() == num_perm`). The empty set
    /// gives all `u32::MAX`.
    pub fn signature_into(&self, shingles: &[u64], out: &mut [u32]) {
        out.fill(u32::MAX);
        let n = out.len().min(self.a.len());
        let (a, b, out) = (&self.a[..n], &self.b[..n], &mut out[..n]);
        // permutations outer in blocks of 8 keep the minima in registers; the inner loop over
        // lanes is what LLVM vectorises.
        const L: usize = 8;
        let full = n / L * L;
        for base in (0..full).step_by(L) {
            let aa: [u64; L] = a[base..base + L].try_into().unwrap_or([1; L]);
            let bb: [u64; L] = b[base..base + L].try_into().unwrap_or([0; L]);
            let mut m = [u32::MAX; L];
            for &h in shingles {
                for l in 0..L {
                    let v = (aa[l].wrapping_mul(h).wrapping_add(bb[l]) >> 32) as u32;
                    m[l] = m[l].min(v);
                }
            }
            out[base..base + L].copy_from_slice(&m);
        }
        for i in full..n {
            let mut m = u32::MAX;
            for &h in shingles {
                m = m.min((a[i].wrapping_mul(h).wrapping_add(b[i]) >> 32) as u32);
            }
            out[i] = m;
        }
    }
}

const BLOCK_ROWS: usize = 256;

/// Signatures of every row, row-major `rows × num_perm`. Null rows and rows without tokens get
/// the empty-set signature (all `u32::MAX`).
pub fn batch_signatures(col: &StrColumn, opts: &ShingleOptions, hasher: &MinHasher) -> Result<Vec<u32>> {
    opts.validate()?;
    let p = hasher.num_perm();
    let mut out = vec![u32::MAX; col.len() * p];
    out.par_chunks_mut(BLOCK_ROWS * p).enumerate().try_for_each(|(blk, chunk)| -> Result<()> {
        let (mut toks, mut sh) = (Vec::new(), Vec::new());
        for (j, sig) in chunk.chunks_mut(p).enumerate() {
            let row = blk * BLOCK_ROWS + j;
            if let Some(text) = col.get(row)? {
                shingle_hashes_with(text, opts, &mut toks, &mut sh);
                hasher.signature_into(&sh, sig);
            }
        }
        Ok(())
    })?;
    Ok(out)
}

/// Share of positions where `a` and `b` agree. Two empty-set signatures give 0.
pub fn estimate_jaccard(a: &[u32], b: &[u32]) -> f64 {
    let n = a.len().min(b.len());
    if n == 0 {
        return 0.0;
    }
    if a[..n].iter().all(|&x| x == u32::MAX) && b[..n].iter().all(|&x| x == u32::MAX) {
        return 0.0;
    }
    let eq = a[..n].iter().zip(&b[..n]).filter(|(x, y)| x == y).count();
    eq as f64 / n as f64
}
