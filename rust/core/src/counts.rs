//! Streaming, mergeable n-gram document frequencies.
//!
//! Counters fed different batches or shards and then merged, in any order, hold exactly the
//! table of one pass: counts add, and the text kept for a hash is the lexicographically smallest
//! seen (only differs on a 64-bit hash collision).

use std::collections::hash_map::Entry;

use rayon::prelude::*;

use crate::column::StrColumn;
use crate::error::{CoreError, Result};
use crate::mine::HashIndex;
use crate::shingle::{hash_token, hash_window, ShingleOptions};
use crate::text::{for_each_token, normalize, NormalizeOptions, TokenMode};

/// One row of a counter's table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NgramRow {
    pub hash: u64,
    pub order: u32,
    pub text: String,
    pub df: u64,
}

#[derive(Clone, Debug)]
struct Entry_ {
    df: u64,
    order: u32,
    text: String,
}

/// Document frequencies of word (or char) n-grams of the given orders. The hash of an n-gram is
/// the shingle hash of the same window (`shingle_hashes` with `k = order`), so tables join with
/// row n-gram hashes.
#[derive(Clone, Debug)]
pub struct NgramCounter {
    normalize: NormalizeOptions,
    mode: TokenMode,
    orders: Vec<usize>,
    documents: u64,
    map: HashIndex<Entry_>,
}

thread_local! {
    /// [`NgramCounter::add_document`]'s token hashes and the n-grams a document has shown,
    /// kept between documents (a fresh set per document cost its allocation and growth).
    static SCRATCH: std::cell::RefCell<(Vec<u64>, HashIndex<()>)> = std::cell::RefCell::default();
}

impl NgramCounter {
    pub fn new(normalize: NormalizeOptions, mode: TokenMode, orders: &[usize]) -> Result<Self> {
        if orders.is_empty() {
            return Err(CoreError::Config("orders must not be empty".into()));
        }
        for &k in orders {
            ShingleOptions { normalize, mode, k }.validate()?;
        }
        let mut orders = orders.to_vec();
        orders.sort_unstable();
        orders.dedup();
        Ok(NgramCounter { normalize, mode, orders, documents: 0, map: HashIndex::default() })
    }

    pub fn normalize_options(&self) -> NormalizeOptions {
        self.normalize
    }

    pub fn mode(&self) -> TokenMode {
        self.mode
    }

    pub fn orders(&self) -> &[usize] {
        &self.orders
    }

    fn empty_like(&self) -> Self {
        NgramCounter {
            normalize: self.normalize,
            mode: self.mode,
            orders: self.orders.clone(),
            documents: 0,
            map: HashIndex::default(),
        }
    }

    /// Count each distinct n-gram of `text` once.
    pub fn add_document(&mut self, text: &str) {
        self.documents += 1;
        let norm = normalize(text, &self.normalize);
        let mut toks: Vec<&str> = Vec::new();
        for_each_token(&norm, self.mode, |t| toks.push(t));
        let sep = if self.mode == TokenMode::Word { " " } else { "" };
        SCRATCH.with_borrow_mut(|(hashes, seen)| {
            hashes.clear();
            hashes.extend(toks.iter().map(|t| hash_token(t)));
            if seen.capacity() > 1 << 14 {
                *seen = HashIndex::default(); // (clearing costs the capacity a long document left)
            } else {
                seen.clear();
            }
            for &k in &self.orders {
                if toks.len() < k {
                    continue;
                }
                for (i, w) in hashes.windows(k).enumerate() {
                    let h = hash_window(w);
                    if seen.insert(h, ()).is_some() {
                        continue;
                    }
                    match self.map.entry(h) {
                        Entry::Occupied(mut e) => e.get_mut().df += 1,
                        Entry::Vacant(e) => {
                            e.insert(Entry_ { df: 1, order: k as u32, text: toks[i..i + k].join(sep) });
                        }
                    }
                }
            }
        });
    }

    /// Count every non-null row of `col` (in parallel; same result as one row at a time). Null
    /// rows are not documents.
    pub fn add_column(&mut self, col: &StrColumn) -> Result<()> {
        let template = self.empty_like();
        let merged = (0..col.len())
            .into_par_iter()
            .with_min_len(crate::mine::leaf_len(col.len()))
            .try_fold(
                || template.clone(),
                |mut c, row| -> Result<NgramCounter> {
                    if let Some(t) = col.get(row)? {
                        c.add_document(t);
                    }
                    Ok(c)
                },
            )
            .try_reduce(|| template.clone(), |mut a, b| a.merge(b).map(|_| a))?;
        self.merge(merged)
    }

    /// Add `other`'s counts into this counter.
    pub fn merge(&mut self, other: NgramCounter) -> Result<()> {
        if other.normalize != self.normalize || other.mode != self.mode || other.orders != self.orders {
            return Err(CoreError::Config("cannot merge counters with different options".into()));
        }
        self.documents += other.documents;
        if self.map.len() < other.map.len() {
            let mine = std::mem::replace(&mut self.map, other.map);
            return self.merge_map(mine);
        }
        self.merge_map(other.map)
    }

    fn merge_map(&mut self, other: HashIndex<Entry_>) -> Result<()> {
        for (h, e) in other {
            match self.map.entry(h) {
                Entry::Occupied(mut cur) => {
                    let c = cur.get_mut();
                    c.df += e.df;
                    if (e.order, &e.text) < (c.order, &c.text) {
                        c.order = e.order;
                        c.text = e.text;
                    }
                }
                Entry::Vacant(v) => {
                    v.insert(e);
                }
            }
        }
        Ok(())
    }

    pub fn documents(&self) -> u64 {
        self.documents
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The n-grams with `df >= min_df`, most frequent first (ties by text, then hash).
    pub fn table(&self, min_df: u64) -> Vec<NgramRow> {
        let mut rows: Vec<NgramRow> = self
            .map
            .iter()
            .filter(|(_, e)| e.df >= min_df)
            .map(|(&hash, e)| NgramRow { hash, order: e.order, text: e.text.clone(), df: e.df })
            .collect();
        rows.sort_unstable_by(|a, b| {
            b.df.cmp(&a.df).then_with(|| a.text.cmp(&b.text)).then(a.hash.cmp(&b.hash))
        });
        rows
    }
}
