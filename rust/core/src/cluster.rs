//! Union-find and connected components.

/// Disjoint sets over `0..n` with path halving and union by size.
#[derive(Clone, Debug)]
pub struct UnionFind {
    parent: Vec<u32>,
    size: Vec<u32>,
}

impl UnionFind {
    /// Singletons `0..n`; `n` is capped at `u32::MAX`.
    pub fn new(n: usize) -> Self {
        let n = n.min(u32::MAX as usize) as u32;
        UnionFind { parent: (0..n).collect(), size: vec![1; n as usize] }
    }

    pub fn len(&self) -> usize {
        self.parent.len()
    }

    pub fn is_empty(&self) -> bool {
        self.parent.is_empty()
    }

    /// The representative of `x`'s set; `x` itself when `x` is out of range.
    pub fn find(&mut self, mut x: u32) -> u32 {
        if x as usize >= self.parent.len() {
            return x;
        }
        while self.parent[x as usize] != x {
            let p = self.parent[x as usize];
            self.parent[x as usize] = self.parent[p as usize];
            x = p;
        }
        x
    }

    /// Join the sets of `a` and `b`; true when they were apart. Out-of-range elements are
    /// ignored (false).
    pub fn union(&mut self, a: u32, b: u32) -> bool {
        let n = self.parent.len();
        if a as usize >= n || b as usize >= n {
            return false;
        }
        let (mut ra, mut rb) = (self.find(a), self.find(b));
        if ra == rb {
            return false;
        }
        if self.size[ra as usize] < self.size[rb as usize] {
            std::mem::swap(&mut ra, &mut rb);
        }
        self.parent[rb as usize] = ra;
        self.size[ra as usize] += self.size[rb as usize];
        true
    }
}

/// Connected components of the graph on rows `0..n_rows`. Returns, per row, the component id —
/// the smallest row of the component, so ids do not depend on edge order — and the row's
/// `partner`: the smallest row it shares an edge with (`None` without edges). Edges naming rows
/// outside `0..n_rows` are ignored.
///
/// At most `u32::MAX` rows: a larger `n_rows` is capped.
pub fn connected_components(n_rows: usize, edges: &[(u32, u32)]) -> (Vec<u32>, Vec<Option<u32>>) {
    let n_rows = n_rows.min(u32::MAX as usize);
    let mut uf = UnionFind::new(n_rows);
    let mut partner: Vec<Option<u32>> = vec![None; n_rows];
    for &(a, b) in edges {
        if a as usize >= n_rows || b as usize >= n_rows || a == b {
            continue;
        }
        uf.union(a, b);
        for (x, y) in [(a, b), (b, a)] {
            let p = &mut partner[x as usize];
            if p.is_none_or(|cur| y < cur) {
                *p = Some(y);
            }
        }
    }
    let mut min_of_root = vec![u32::MAX; n_rows];
    let roots: Vec<u32> = (0..n_rows as u32).map(|r| uf.find(r)).collect();
    for (r, &root) in roots.iter().enumerate() {
        let m = &mut min_of_root[root as usize];
        *m = (*m).min(r as u32);
    }
    let ids = roots.iter().map(|&root| min_of_root[root as usize]).collect();
    (ids, partner)
}
