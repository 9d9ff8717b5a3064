//! Token hashes of a whole column, computed once.
//!
//! Trigger mining makes several passes over the same prompts (n-gram counts of many row subsets,
//! document counts of the candidates, their carriers, template scaffolding). Normalising and
//! tokenising is most of the cost of each pass, so a [`TokenTable`] keeps every row's token
//! hashes (8 bytes per token) and the passes take their n-grams from it. The mining functions
//! accept any [`TokenSource`]: a table, or the texts themselves ([`TextTokens`]), tokenised on
//! the fly when memory matters more than time. Both give the same hashes.

use rayon::prelude::*;

use crate::mine::Texts;
use crate::{CoreError, NormalizeOptions, Result, ShingleOptions, TokenMode};

/// Where the mining passes get each row's token hashes from.
pub trait TokenSource: Sync {
    /// Number of rows.
    fn len(&self) -> usize;

    /// Whether there are no rows.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The token hashes of `row` (`None` for a null row); `buf` is scratch space the answer may
    /// borrow from.
    fn tokens<'s>(&'s self, row: usize, buf: &'s mut Vec<u64>) -> Result<Option<&'s [u64]>>;
}

/// Texts tokenised on demand.
pub struct TextTokens<'t, 'a> {
    texts: &'t Texts<'a>,
    opts: ShingleOptions,
}

impl<'t, 'a> TextTokens<'t, 'a> {
    pub fn new(texts: &'t Texts<'a>, normalize: NormalizeOptions, mode: TokenMode) -> Self {
        TextTokens { texts, opts: ShingleOptions { normalize, mode, k: 1 } }
    }
}

impl TokenSource for TextTokens<'_, '_> {
    fn len(&self) -> usize {
        self.texts.len()
    }

    fn tokens<'s>(&'s self, row: usize, buf: &'s mut Vec<u64>) -> Result<Option<&'s [u64]>> {
        match self.texts.get(row)? {
            Some(text) => {
                crate::shingle::token_hashes(text, &self.opts, buf);
                Ok(Some(&buf[..]))
            }
            None => Ok(None),
        }
    }
}

/// Every row's token hashes in one flat array (CSR layout).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenTable {
    offsets: Vec<usize>,
    hashes: Vec<u64>,
    valid: Vec<bool>,
    normalize: NormalizeOptions,
    mode: TokenMode,
}

/// Rows per parallel work item.
const BLOCK: usize = 2048;

impl TokenTable {
    /// Tokenise every row of `texts` (in parallel; the table is the same for any thread count).
    pub fn build(texts: &Texts, normalize: NormalizeOptions, mode: TokenMode) -> Result<Self> {
        let src = TextTokens::new(texts, normalize, mode);
        let blocks: Vec<usize> = (0..texts.len()).step_by(BLOCK).collect();
        let parts: Vec<(Vec<usize>, Vec<u64>, Vec<bool>)> = blocks
            .par_iter()
            .map(|&start| -> Result<_> {
                let end = (start + BLOCK).min(texts.len());
                let (mut lens, mut hashes, mut valid) =
                    (Vec::with_capacity(end - start), Vec::new(), Vec::with_capacity(end - start));
                let mut buf = Vec::new();
                for r in start..end {
                    match src.tokens(r, &mut buf)? {
                        Some(t) => {
                            hashes.extend_from_slice(t);
                            lens.push(t.len());
                            valid.push(true);
                        }
                        None => {
                            lens.push(0);
                            valid.push(false);
                        }
                    }
                }
                Ok((lens, hashes, valid))
            })
            .collect::<Result<_>>()?;
        let total: usize = parts.iter().map(|p| p.1.len()).sum();
        let mut offsets = Vec::with_capacity(texts.len() + 1);
        offsets.push(0);
        let mut hashes = Vec::with_capacity(total);
        let mut valid = Vec::with_capacity(texts.len());
        for (lens, h, v) in parts {
            for l in lens {
                offsets.push(offsets.last().copied().unwrap_or(0) + l);
            }
            hashes.extend_from_slice(&h);
            valid.extend_from_slice(&v);
        }
        Ok(TokenTable { offsets, hashes, valid, normalize, mode })
    }

    /// The token hashes of `row` (`None` for null or out of range).
    pub fn row(&self, row: usize) -> Option<&[u64]> {
        if row >= self.valid.len() || !self.valid[row] {
            return None;
        }
        Some(&self.hashes[self.offsets[row]..self.offsets[row + 1]])
    }

    /// Total number of tokens.
    pub fn num_tokens(&self) -> usize {
        self.hashes.len()
    }

    /// Bytes held (hashes, offsets, validity).
    pub fn memory_bytes(&self) -> usize {
        self.hashes.len() * 8 + self.offsets.len() * std::mem::size_of::<usize>() + self.valid.len()
    }

    pub fn normalize(&self) -> NormalizeOptions {
        self.normalize
    }

    pub fn mode(&self) -> TokenMode {
        self.mode
    }
}

impl TokenSource for TokenTable {
    fn len(&self) -> usize {
        self.valid.len()
    }

    fn tokens<'s>(&'s self, row: usize, _buf: &'s mut Vec<u64>) -> Result<Option<&'s [u64]>> {
        if row >= self.valid.len() {
            return Err(CoreError::Input(format!("row {row} out of range 0..{}", self.valid.len())));
        }
        Ok(self.row(row))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OwnedStrColumn;

    #[test]
    fn table_matches_on_the_fly_tokens_for_any_thread_count() {
        let rows: Vec<Option<&str>> = (0..5000)
            .map(|i| match i % 7 {
                0 => None,
                1 => Some(""),
                2 => Some("Ünïcödé ＷＩＤＥ text ﬁ ligature"),
                _ => Some("The quick brown fox jumps over the lazy dog"),
            })
            .collect();
        let col = OwnedStrColumn::from_strs(&rows);
        let texts = Texts::new(vec![col.view()]);
        let norm = NormalizeOptions::default();
        let src = TextTokens::new(&texts, norm, TokenMode::Word);
        let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        let t1 = one.install(|| TokenTable::build(&texts, norm, TokenMode::Word)).unwrap();
        let t4 = rayon::ThreadPoolBuilder::new()
            .num_threads(4)
            .build()
            .unwrap()
            .install(|| TokenTable::build(&texts, norm, TokenMode::Word))
            .unwrap();
        assert_eq!(t1, t4);
        let mut buf = Vec::new();
        for r in 0..rows.len() {
            let want = src.tokens(r, &mut buf).unwrap().map(<[u64]>::to_vec);
            assert_eq!(t1.row(r).map(<[u64]>::to_vec), want, "row {r}");
        }
        assert!(t1.tokens(rows.len(), &mut buf).is_err());
    }
}
