//! Composite triggers: pairs and triples of candidate features whose carriers together show an
//! answer more than each part's carriers do (CTBA, Huang et al. 2023: every part in the prompt
//! sets the target; rows holding only some of the parts keep their own answers).
//!
//! The trigger detector picks each answer value's parts (candidates carrying most of its rows
//! but showing it on only some of theirs); [`conjunction_search`] intersects their carriers,
//! pairs and then triples, and keeps the combinations that pass the rule's checks. The order
//! of the output is the order the combinations are grown in (group by group; a group's pairs in
//! part order, then its triples), so the caller's choice among equal keys is deterministic.

use rayon::prelude::*;

use crate::assoc::check_lists;
use crate::{CoreError, Result};

/// What a combination of parts must pass to be grown ([`conjunction_search`]).
#[derive(Clone, Debug)]
pub struct ConjunctionRule {
    /// fewest rows its intersection may hold
    pub min_rows: usize,
    /// fewest of those rows that must show the answer
    pub min_shown: usize,
    /// the most of the smaller side's rows the intersection may hold (parts found together in
    /// most of their rows are one feature, a template's words, not a composite)
    pub apart: f64,
    /// how much more of the intersection than of each side must show the answer
    pub gain: f64,
    /// the most of the intersection one stratum (prompt template) may hold
    pub one_template: f64,
}

/// One combination of a group's parts that passed the rule.
#[derive(Clone, Debug, PartialEq)]
pub struct Conjunction {
    /// the group it was grown in
    pub group: u32,
    /// its parts, as places in the group's part list (ascending)
    pub parts: Vec<u8>,
    /// the usable rows holding every part (sorted)
    pub rows: Vec<u32>,
    /// how many of `rows` show the group's answer
    pub shown: u32,
    /// `shown / rows.len()`
    pub share: f64,
    /// the usable rows holding any of its parts, and how many of them show the answer
    pub union: u32,
    pub union_shown: u32,
}

/// The most rows of `rows` in one stratum.
fn most_in_one(rows: &[u32], strata: &[u32]) -> usize {
    let mut s: Vec<u32> = rows.iter().map(|&r| strata[r as usize]).collect();
    s.sort_unstable();
    s.chunk_by(|a, b| a == b).map(<[u32]>::len).max().unwrap_or(0)
}

/// The rows of two sorted, distinct lists that are in both.
fn intersect(a: &[u32], b: &[u32]) -> Vec<u32> {
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::with_capacity(a.len().min(b.len()));
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

/// For each group `g` of parts (`parts[groups[g]..groups[g + 1]]`, indices of the CSR row lists
/// `lists`, each with its share of carriers showing the answer in `share`), the pairs and then
/// the triples of its parts whose usable carriers in common pass `rule` for the group's answer
/// `value[g]` (a row shows it where `codes[row] == value[g]`):
/// - they hold at least `min_rows` rows and at most `apart` of the smaller side's;
/// - at least `min_shown` of them show the answer, a share at least `gain` above each side's
///   (a part's own share, or the pair's for a triple);
/// - no stratum holds more than `one_template` of them.
///
/// A triple is grown only from a pair that passed. Every combination that passed, in the order
/// grown; groups run in parallel.
#[allow(clippy::too_many_arguments)]
pub fn conjunction_search(
    lists: (&[usize], &[u32]),
    usable: &[bool],
    groups: &[usize],
    parts: &[u32],
    share: &[f64],
    value: &[u64],
    codes: &[u64],
    strata: &[u32],
    rule: &ConjunctionRule,
) -> Result<Vec<Conjunction>> {
    let n = usable.len();
    check_lists(lists.0, lists.1, n, "rows")?;
    if codes.len() != n || strata.len() != n {
        return Err(CoreError::Input(format!("codes and strata must have one entry per row ({n})")));
    }
    if groups.first().is_some_and(|&g| g != 0)
        || groups.windows(2).any(|w| w[1] < w[0])
        || groups.last().is_some_and(|&g| g != parts.len())
        || groups.len() != value.len() + 1
    {
        return Err(CoreError::Input(format!(
            "groups must rise from 0 to {} parts, one group per value ({})",
            parts.len(),
            value.len()
        )));
    }
    if share.len() != parts.len() {
        return Err(CoreError::Input("share must have one entry per part".into()));
    }
    if let Some(&p) = parts.iter().find(|&&p| p as usize + 1 >= lists.0.len()) {
        return Err(CoreError::Input(format!("parts: list {p} out of range 0..{}", lists.0.len() - 1)));
    }
    if groups.windows(2).any(|w| w[1] - w[0] > usize::from(u8::MAX)) {
        return Err(CoreError::Input("a group may have at most 255 parts".into()));
    }
    let found: Vec<Vec<Conjunction>> = (0..value.len())
        .into_par_iter()
        .map(|g| {
            let v = value[g];
            let own = &parts[groups[g]..groups[g + 1]];
            let sh = &share[groups[g]..groups[g + 1]];
            let rows_of: Vec<Vec<u32>> = own
                .iter()
                .map(|&p| {
                    let p = p as usize;
                    let mut r: Vec<u32> = lists.1[lists.0[p]..lists.0[p + 1]]
                        .iter()
                        .copied()
                        .filter(|&r| usable[r as usize])
                        .collect();
                    r.sort_unstable();
                    r.dedup();
                    r
                })
                .collect();
            let shows = |rows: &[u32]| rows.iter().filter(|&&r| codes[r as usize] == v).count();
            let mut out = Vec::new();
            // (its parts, its rows, its share)
            let mut level: Vec<(Vec<u8>, Vec<u32>, f64)> =
                (0..own.len()).map(|a| (vec![a as u8], rows_of[a].clone(), sh[a])).collect();
            for _ in 0..2 {
                let mut grown = Vec::new();
                for (combo, rows, s) in &level {
                    let after = combo.last().map_or(0, |&a| usize::from(a) + 1);
                    for b in after..own.len() {
                        let inter = intersect(rows, &rows_of[b]);
                        let n_in = inter.len();
                        let most = rule.apart * rows.len().min(rows_of[b].len()) as f64;
                        if n_in == 0 || n_in < rule.min_rows || n_in as f64 > most {
                            continue;
                        }
                        let shown = shows(&inter);
                        let s_new = shown as f64 / n_in as f64;
                        if shown < rule.min_shown || s_new < s.max(sh[b]) + rule.gain {
                            continue;
                        }
                        if most_in_one(&inter, strata) as f64 > rule.one_template * n_in as f64 {
                            continue;
                        }
                        let mut parts = combo.clone();
                        parts.push(b as u8);
                        grown.push((parts, inter, s_new, shown));
                    }
                }
                for (combo, inter, s_new, shown) in &grown {
                    let mut union: Vec<u32> =
                        combo.iter().flat_map(|&a| rows_of[usize::from(a)].iter().copied()).collect();
                    union.sort_unstable();
                    union.dedup();
                    out.push(Conjunction {
                        group: g as u32,
                        parts: combo.clone(),
                        rows: inter.clone(),
                        shown: *shown as u32,
                        share: *s_new,
                        union: union.len() as u32,
                        union_shown: shows(&union) as u32,
                    });
                }
                level = grown.into_iter().map(|(combo, inter, s_new, _)| (combo, inter, s_new)).collect();
            }
            out
        })
        .collect();
    Ok(found.into_iter().flatten().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule() -> ConjunctionRule {
        ConjunctionRule { min_rows: 2, min_shown: 2, apart: 0.75, gain: 0.1, one_template: 0.5 }
    }

    #[test]
    fn a_pair_whose_rows_in_common_show_the_answer_is_found() {
        // rows 0..12; the answer (code 7) on rows 0..4, where both parts are
        let n = 12;
        let a: Vec<u32> = vec![0, 1, 2, 3, 4, 5, 6, 7];
        let b: Vec<u32> = vec![0, 1, 2, 3, 8, 9, 10, 11];
        let rows: Vec<u32> = a.iter().chain(b.iter()).copied().collect();
        let offsets = vec![0, a.len(), a.len() + b.len()];
        let mut codes = vec![0u64; n];
        codes[..4].fill(7);
        let distinct: Vec<u32> = (0..n as u32).collect();
        let search = |usable: &[bool], share: &[f64], strata: &[u32]| {
            conjunction_search(
                (&offsets, &rows),
                usable,
                &[0, 2],
                &[0, 1],
                share,
                &[7],
                &codes,
                strata,
                &rule(),
            )
            .unwrap()
        };
        let found = search(&vec![true; n], &[0.5, 0.5], &distinct);
        assert_eq!(found.len(), 1);
        let c = &found[0];
        assert_eq!((c.parts.as_slice(), c.rows.as_slice()), (&[0u8, 1][..], &[0u32, 1, 2, 3][..]));
        assert_eq!((c.shown, c.share, c.union, c.union_shown), (4, 1.0, 12, 4));
        // one template holding most of the rows in common: not a composite
        assert!(search(&vec![true; n], &[0.5, 0.5], &vec![0u32; n]).is_empty());
        // unusable rows are not counted: the two left in common cannot beat a part showing the
        // answer on 95% of its rows by the gain
        let mut usable = vec![true; n];
        usable[0] = false;
        usable[1] = false;
        assert!(search(&usable, &[0.95, 0.5], &distinct).is_empty());
        assert_eq!(search(&usable, &[0.5, 0.5], &distinct)[0].rows, vec![2, 3]);
    }

    #[test]
    fn parts_with_no_rows_in_common_are_never_a_combination() {
        // even where the rule asks for no rows at all (no share of nothing)
        let offsets = vec![0, 2, 4];
        let rows = vec![0u32, 1, 2, 3];
        let rule = ConjunctionRule { min_rows: 0, min_shown: 0, ..rule() };
        let found = conjunction_search(
            (&offsets, &rows),
            &[true; 4],
            &[0, 2],
            &[0, 1],
            &[0.0, 0.0],
            &[1],
            &[1; 4],
            &[0; 4],
            &rule,
        )
        .unwrap();
        assert!(found.is_empty());
    }

    #[test]
    fn bad_groups_are_an_error() {
        let offsets = vec![0, 1];
        let err =
            conjunction_search((&offsets, &[0]), &[true], &[0, 2], &[0], &[0.5], &[1], &[0], &[0], &rule());
        assert!(err.is_err());
    }
}
