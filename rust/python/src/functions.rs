//! The functions of `poisonscreen._poisonscreen`. Each releases the GIL while the core works.

use std::sync::atomic::{AtomicBool, Ordering};

use numpy::{PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods};
use poisonscreen_core::{
    self as core, CoreError, LshParams, MinHasher, NormalizeOptions, ShingleOptions, TokenMode,
};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::chunks::{extract, texts};
use crate::errors::{config_error, to_py};

/// Two NumPy arrays returned together.
type ArrayPair<'py, A, B> = (Bound<'py, PyArray1<A>>, Bound<'py, PyArray1<B>>);
type Arrays2<'py, A, B> = PyResult<ArrayPair<'py, A, B>>;

static FORKED: AtomicBool = AtomicBool::new(false);

#[cfg(unix)]
extern "C" fn mark_forked() {
    FORKED.store(true, Ordering::SeqCst);
}

/// Run `f` on `threads` workers (None: rayon's global pool). A forked child (data loaders fork)
/// cannot use the parent's pool, whose threads did not survive the fork, so it gets its own.
fn run<T: Send>(py: Python<'_>, threads: Option<usize>, f: impl FnOnce() -> T + Send) -> PyResult<T> {
    let threads = match threads {
        Some(0) => return Err(config_error("threads must be at least 1")),
        Some(n) => Some(n),
        None if FORKED.load(Ordering::SeqCst) => Some(rayon::current_num_threads().max(1)),
        None => None,
    };
    match threads {
        None => Ok(py.detach(f)),
        Some(n) => {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .build()
                .map_err(|e| config_error(format!("cannot start {n} threads: {e}")))?;
            Ok(py.detach(|| pool.install(f)))
        }
    }
}

fn token_mode(mode: &str) -> PyResult<TokenMode> {
    match mode {
        "word" => Ok(TokenMode::Word),
        "char" => Ok(TokenMode::Char),
        other => Err(config_error(format!("mode must be 'word' or 'char', got {other:?}"))),
    }
}

fn shingle_options(
    mode: &str,
    k: usize,
    nfkc: bool,
    casefold: bool,
    collapse_whitespace: bool,
) -> PyResult<ShingleOptions> {
    let opts = ShingleOptions {
        normalize: NormalizeOptions { nfkc, casefold, collapse_whitespace },
        mode: token_mode(mode)?,
        k,
    };
    opts.validate().map_err(to_py)?;
    Ok(opts)
}

fn slice2<'a, T: numpy::Element>(a: &'a PyReadonlyArray2<'_, T>, what: &str) -> PyResult<&'a [T]> {
    a.as_slice().map_err(|_| config_error(format!("{what} must be a C-contiguous 2-d array")))
}

fn slice1<'a, T: numpy::Element>(a: &'a PyReadonlyArray1<'_, T>, what: &str) -> PyResult<&'a [T]> {
    a.as_slice().map_err(|_| config_error(format!("{what} must be a contiguous 1-d array")))
}

/// CSR offsets given as int64 from NumPy, as `usize`.
fn offsets_arg(offsets: &PyReadonlyArray1<'_, i64>) -> PyResult<Vec<usize>> {
    slice1(offsets, "offsets")?
        .iter()
        .map(|&o| usize::try_from(o).map_err(|_| config_error("offsets must not be negative")))
        .collect()
}

/// Row lists as CSR arrays: (offsets int64, rows uint32).
fn csr_arrays<'py>(py: Python<'py>, lists: impl IntoIterator<Item = Vec<u32>>) -> Arrays2<'py, i64, u32> {
    let mut offsets = vec![0i64];
    let mut flat = Vec::new();
    for l in lists {
        flat.extend_from_slice(&l);
        offsets.push(flat.len() as i64);
    }
    Ok((PyArray1::from_vec(py, offsets), PyArray1::from_vec(py, flat)))
}

fn pairs_of(pairs: &[u32], n_rows: usize) -> PyResult<Vec<(u32, u32)>> {
    let out: Vec<(u32, u32)> = pairs.chunks_exact(2).map(|p| (p[0], p[1])).collect();
    if let Some(&(a, b)) = out.iter().find(|&&(a, b)| a as usize >= n_rows || b as usize >= n_rows) {
        return Err(to_py(CoreError::Input(format!("pair ({a}, {b}) names a row outside 0..{n_rows}"))));
    }
    Ok(out)
}

/// MinHash signatures of every row (or of `rows`, in that order): a (rows, num_perm) uint32
/// array. Null rows and rows without tokens get all 0xFFFFFFFF (the signature of the empty set).
#[pyfunction]
#[pyo3(signature = (chunks, *, num_perm=128, seed=0, k=5, mode="word", nfkc=true, casefold=true, collapse_whitespace=true, rows=None, threads=None))]
#[allow(clippy::too_many_arguments)]
fn signatures<'py>(
    py: Python<'py>,
    chunks: &Bound<'py, PyList>,
    num_perm: usize,
    seed: u64,
    k: usize,
    mode: &str,
    nfkc: bool,
    casefold: bool,
    collapse_whitespace: bool,
    rows: Option<PyReadonlyArray1<'py, u32>>,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyArray2<u32>>> {
    let opts = shingle_options(mode, k, nfkc, casefold, collapse_whitespace)?;
    let hasher = MinHasher::new(num_perm, seed).map_err(to_py)?;
    let rows = rows.as_ref().map(|r| slice1(r, "rows")).transpose()?;
    let chunks = extract(chunks)?;
    let cols = texts(&chunks)?;
    let n = rows.map_or(cols.len(), <[u32]>::len);
    let flat = run(py, threads, || -> Result<Vec<u32>, CoreError> {
        if let Some(rows) = rows {
            return core::minhash::row_signatures(&cols, rows, &opts, &hasher);
        }
        let mut out = Vec::with_capacity(cols.len() * num_perm);
        for (i, col) in cols.columns().iter().enumerate() {
            let sigs = core::batch_signatures(col, &opts, &hasher).map_err(|e| cols.globalise(i, e))?;
            out.extend_from_slice(&sigs);
        }
        Ok(out)
    })?
    .map_err(to_py)?;
    PyArray1::from_vec(py, flat).reshape([n, num_perm])
}

/// For each `i`, whether rows `a[i]` and `b[i]` hold the same text (false where either is null).
#[pyfunction]
#[pyo3(signature = (chunks, a, b, *, threads=None))]
fn equal_texts<'py>(
    py: Python<'py>,
    chunks: &Bound<'py, PyList>,
    a: PyReadonlyArray1<'py, u32>,
    b: PyReadonlyArray1<'py, u32>,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyArray1<bool>>> {
    let (a, b) = (slice1(&a, "a")?, slice1(&b, "b")?);
    let chunks = extract(chunks)?;
    let cols = texts(&chunks)?;
    let same = run(py, threads, || cols.equal(a, b))?.map_err(to_py)?;
    Ok(PyArray1::from_vec(py, same))
}

/// (bands, rows) for a Jaccard threshold, minimising false positives + false negatives.
#[pyfunction]
#[pyo3(signature = (threshold, num_perm=128))]
fn lsh_params(threshold: f64, num_perm: usize) -> PyResult<(usize, usize)> {
    let p = LshParams::from_threshold(threshold, num_perm).map_err(to_py)?;
    Ok((p.bands, p.rows))
}

/// LSH band keys: a (rows, bands) uint64 array.
#[pyfunction]
#[pyo3(signature = (sigs, bands, rows, *, threads=None))]
fn band_keys<'py>(
    py: Python<'py>,
    sigs: PyReadonlyArray2<'py, u32>,
    bands: usize,
    rows: usize,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyArray2<u64>>> {
    let n = sigs.shape()[0];
    let num_perm = sigs.shape()[1];
    let params = LshParams::new(bands, rows, num_perm).map_err(to_py)?;
    let flat = slice2(&sigs, "sigs")?;
    let keys = run(py, threads, || core::band_keys(flat, num_perm, params))?;
    PyArray1::from_vec(py, keys).reshape([n, bands])
}

/// Candidate pairs (i < j) of rows sharing a band key: an (m, 2) uint32 array, sorted.
#[pyfunction]
#[pyo3(signature = (keys, *, max_bucket=64, skip=None, threads=None))]
fn candidate_pairs<'py>(
    py: Python<'py>,
    keys: PyReadonlyArray2<'py, u64>,
    max_bucket: usize,
    skip: Option<PyReadonlyArray1<'py, bool>>,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyArray2<u32>>> {
    if max_bucket < 2 {
        return Err(config_error("max_bucket must be at least 2"));
    }
    let n = keys.shape()[0];
    let bands = keys.shape()[1];
    if n > u32::MAX as usize {
        return Err(config_error("at most 2^32 - 1 rows per call"));
    }
    let flat = slice2(&keys, "keys")?;
    let skip_slice = match &skip {
        Some(s) => {
            let s = slice1(s, "skip")?;
            if s.len() != n {
                return Err(config_error(format!("skip has {} entries for {n} rows", s.len())));
            }
            Some(s)
        }
        None => None,
    };
    let pairs = run(py, threads, || core::candidate_pairs(flat, n, bands, max_bucket, skip_slice))?;
    let m = pairs.len();
    let flat_pairs: Vec<u32> = pairs.into_iter().flat_map(|(a, b)| [a, b]).collect();
    PyArray1::from_vec(py, flat_pairs).reshape([m, 2])
}

/// Estimated Jaccard (signature agreement) of each pair of rows.
#[pyfunction]
#[pyo3(signature = (sigs, pairs, *, threads=None))]
fn signature_agreement<'py>(
    py: Python<'py>,
    sigs: PyReadonlyArray2<'py, u32>,
    pairs: PyReadonlyArray2<'py, u32>,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    use rayon::prelude::*;
    let n = sigs.shape()[0];
    let p = sigs.shape()[1];
    if pairs.shape()[1] != 2 {
        return Err(config_error("pairs must have shape (m, 2)"));
    }
    let flat = slice2(&sigs, "sigs")?;
    let pairs = pairs_of(slice2(&pairs, "pairs")?, n)?;
    let out = run(py, threads, || {
        pairs
            .par_iter()
            .map(|&(a, b)| {
                let (a, b) = (a as usize, b as usize);
                core::estimate_jaccard(&flat[a * p..(a + 1) * p], &flat[b * p..(b + 1) * p])
            })
            .collect::<Vec<f64>>()
    })?;
    Ok(PyArray1::from_vec(py, out))
}

/// Exact Jaccard of the shingle sets of each pair of rows (shingles recomputed for those rows).
#[pyfunction]
#[pyo3(signature = (chunks, pairs, *, k=5, mode="word", nfkc=true, casefold=true, collapse_whitespace=true, threads=None))]
#[allow(clippy::too_many_arguments)]
fn exact_jaccard<'py>(
    py: Python<'py>,
    chunks: &Bound<'py, PyList>,
    pairs: PyReadonlyArray2<'py, u32>,
    k: usize,
    mode: &str,
    nfkc: bool,
    casefold: bool,
    collapse_whitespace: bool,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    use rayon::prelude::*;
    let opts = shingle_options(mode, k, nfkc, casefold, collapse_whitespace)?;
    let chunks = extract(chunks)?;
    let cols = texts(&chunks)?;
    if pairs.shape()[1] != 2 {
        return Err(config_error("pairs must have shape (m, 2)"));
    }
    let pairs = pairs_of(slice2(&pairs, "pairs")?, cols.len())?;
    let out = run(py, threads, || -> Result<Vec<f64>, CoreError> {
        let mut rows: Vec<u32> = pairs.iter().flat_map(|&(a, b)| [a, b]).collect();
        rows.sort_unstable();
        rows.dedup();
        let sets: Vec<Vec<u64>> = rows
            .par_iter()
            .map(|&r| Ok(cols.get(r as usize)?.map(|t| core::shingle_set(t, &opts)).unwrap_or_default()))
            .collect::<Result<_, CoreError>>()?;
        // rows are sorted: a pair's sets are found by binary search (no hashing per lookup)
        let at = |r: &u32| &sets[rows.partition_point(|x| x < r)];
        Ok(pairs
            .par_iter()
            .map(|(a, b)| {
                let (sa, sb) = (at(a), at(b));
                // duplicates are most pairs of a big corpus; equal sets compare by memcmp
                if sa == sb && !sa.is_empty() {
                    1.0
                } else {
                    core::jaccard_sorted(sa, sb)
                }
            })
            .collect())
    })?
    .map_err(to_py)?;
    Ok(PyArray1::from_vec(py, out))
}

/// Connected components of the graph on `n_rows` rows with the given edges:
/// (cluster id = smallest row of the component, partner row or -1).
#[pyfunction]
#[pyo3(signature = (n_rows, edges))]
fn connected_components<'py>(
    py: Python<'py>,
    n_rows: usize,
    edges: PyReadonlyArray2<'py, u32>,
) -> Arrays2<'py, u32, i64> {
    if n_rows > u32::MAX as usize {
        return Err(config_error("at most 2^32 - 1 rows"));
    }
    if edges.shape()[1] != 2 {
        return Err(config_error("edges must have shape (m, 2)"));
    }
    let edges = pairs_of(slice2(&edges, "edges")?, n_rows)?;
    let (ids, partners) = py.detach(|| core::connected_components(n_rows, &edges));
    let partners: Vec<i64> = partners.into_iter().map(|p| p.map_or(-1, i64::from)).collect();
    Ok((PyArray1::from_vec(py, ids), PyArray1::from_vec(py, partners)))
}

/// Per-row text statistics as a dict of NumPy arrays (plus `valid`, false for null rows).
#[pyfunction]
#[pyo3(signature = (chunks, *, threads=None))]
fn text_stats<'py>(
    py: Python<'py>,
    chunks: &Bound<'py, PyList>,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyDict>> {
    let chunks = extract(chunks)?;
    let cols = texts(&chunks)?;
    let stats = run(py, threads, || -> Result<Vec<Option<core::TextStats>>, CoreError> {
        let mut out = Vec::with_capacity(cols.len());
        for (i, col) in cols.columns().iter().enumerate() {
            out.extend(core::batch_text_stats(col).map_err(|e| cols.globalise(i, e))?);
        }
        Ok(out)
    })?
    .map_err(to_py)?;
    let d = PyDict::new(py);
    let empty = core::text_stats("");
    let get = |s: &Option<core::TextStats>| s.unwrap_or(empty);
    d.set_item("valid", PyArray1::from_vec(py, stats.iter().map(|s| s.is_some()).collect()))?;
    d.set_item("chars", PyArray1::from_vec(py, stats.iter().map(|s| get(s).chars).collect()))?;
    d.set_item("words", PyArray1::from_vec(py, stats.iter().map(|s| get(s).words).collect()))?;
    d.set_item("char_entropy", PyArray1::from_vec(py, stats.iter().map(|s| get(s).char_entropy).collect()))?;
    d.set_item("repetition", PyArray1::from_vec(py, stats.iter().map(|s| get(s).repetition).collect()))?;
    d.set_item("non_alnum", PyArray1::from_vec(py, stats.iter().map(|s| get(s).non_alnum).collect()))?;
    d.set_item(
        "compressibility",
        PyArray1::from_vec(py, stats.iter().map(|s| get(s).compressibility).collect()),
    )?;
    d.set_item(
        "unique_word_ratio",
        PyArray1::from_vec(py, stats.iter().map(|s| get(s).unique_word_ratio).collect()),
    )?;
    Ok(d)
}

/// The distinct n-gram hashes of every row (orders `orders`), as CSR arrays (offsets int64[n+1],
/// hashes uint64[]); null rows have none. Hashes join with `NgramCounter.table()`.
#[pyfunction]
#[pyo3(signature = (chunks, orders, *, mode="word", nfkc=true, casefold=true, collapse_whitespace=true, max_per_row=None, threads=None))]
#[allow(clippy::too_many_arguments)]
fn row_ngram_hashes<'py>(
    py: Python<'py>,
    chunks: &Bound<'py, PyList>,
    orders: Vec<usize>,
    mode: &str,
    nfkc: bool,
    casefold: bool,
    collapse_whitespace: bool,
    max_per_row: Option<usize>,
    threads: Option<usize>,
) -> Arrays2<'py, i64, u64> {
    use rayon::prelude::*;
    if orders.is_empty() {
        return Err(config_error("orders must not be empty"));
    }
    let mut per_order = Vec::with_capacity(orders.len());
    for &k in &orders {
        per_order.push(shingle_options(mode, k, nfkc, casefold, collapse_whitespace)?);
    }
    let chunks = extract(chunks)?;
    let cols = texts(&chunks)?;
    let lists = run(py, threads, || -> Result<Vec<Vec<u64>>, CoreError> {
        (0..cols.len())
            .into_par_iter()
            .map_init(Vec::new, |buf, row| {
                let mut set = Vec::new();
                if let Some(text) = cols.get(row)? {
                    for opts in &per_order {
                        core::shingle_hashes(text, opts, buf);
                        set.extend_from_slice(buf);
                    }
                    set.sort_unstable();
                    set.dedup();
                    if let Some(m) = max_per_row {
                        set.truncate(m);
                    }
                }
                Ok(set)
            })
            .collect()
    })?
    .map_err(to_py)?;
    let mut offsets = Vec::with_capacity(lists.len() + 1);
    offsets.push(0i64);
    let total: usize = lists.iter().map(Vec::len).sum();
    let mut flat = Vec::with_capacity(total);
    for l in lists {
        flat.extend_from_slice(&l);
        offsets.push(flat.len() as i64);
    }
    Ok((PyArray1::from_vec(py, offsets), PyArray1::from_vec(py, flat)))
}

/// Normalise one text (NFKC, case folding, whitespace collapse; each switchable).
#[pyfunction]
#[pyo3(signature = (text, *, nfkc=true, casefold=true, collapse_whitespace=true))]
fn normalize(text: &str, nfkc: bool, casefold: bool, collapse_whitespace: bool) -> String {
    core::normalize(text, &NormalizeOptions { nfkc, casefold, collapse_whitespace }).into_owned()
}

/// Tokens of one normalised text: UAX #29 words, or characters.
#[pyfunction]
#[pyo3(signature = (text, *, mode="word", nfkc=true, casefold=true, collapse_whitespace=true))]
fn tokenize(
    text: &str,
    mode: &str,
    nfkc: bool,
    casefold: bool,
    collapse_whitespace: bool,
) -> PyResult<Vec<String>> {
    let mode = token_mode(mode)?;
    let norm = core::normalize(text, &NormalizeOptions { nfkc, casefold, collapse_whitespace });
    Ok(core::tokenize(&norm, mode).into_iter().map(str::to_owned).collect())
}

/// The k-gram strings of one text, in the windows `signatures` hashes.
#[pyfunction]
#[pyo3(signature = (text, *, k=5, mode="word", nfkc=true, casefold=true, collapse_whitespace=true))]
fn ngrams(
    text: &str,
    k: usize,
    mode: &str,
    nfkc: bool,
    casefold: bool,
    collapse_whitespace: bool,
) -> PyResult<Vec<String>> {
    let opts = shingle_options(mode, k, nfkc, casefold, collapse_whitespace)?;
    Ok(core::ngram_strings(text, &opts))
}

/// Streaming, mergeable n-gram document frequencies.
#[pyclass(module = "poisonscreen._poisonscreen")]
struct NgramCounter {
    inner: core::NgramCounter,
}

#[pymethods]
impl NgramCounter {
    #[new]
    #[pyo3(signature = (orders=vec![1, 2, 3], *, mode="word", nfkc=true, casefold=true, collapse_whitespace=true))]
    fn new(
        orders: Vec<usize>,
        mode: &str,
        nfkc: bool,
        casefold: bool,
        collapse_whitespace: bool,
    ) -> PyResult<Self> {
        let inner = core::NgramCounter::new(
            NormalizeOptions { nfkc, casefold, collapse_whitespace },
            token_mode(mode)?,
            &orders,
        )
        .map_err(to_py)?;
        Ok(NgramCounter { inner })
    }

    /// Count every distinct n-gram of each non-null row once.
    #[pyo3(signature = (chunks, *, threads=None))]
    fn add<'py>(
        &mut self,
        py: Python<'py>,
        chunks: &Bound<'py, PyList>,
        threads: Option<usize>,
    ) -> PyResult<()> {
        let chunks = extract(chunks)?;
        let cols = texts(&chunks)?;
        let inner = &mut self.inner;
        run(py, threads, || -> Result<(), CoreError> {
            for (i, col) in cols.columns().iter().enumerate() {
                inner.add_column(col).map_err(|e| cols.globalise(i, e))?;
            }
            Ok(())
        })?
        .map_err(to_py)
    }

    /// Add another counter's counts (same options) into this one; `other` is left empty.
    fn merge(&mut self, py: Python<'_>, other: &Bound<'_, NgramCounter>) -> PyResult<()> {
        let taken = {
            let mut o = other.borrow_mut();
            let empty =
                core::NgramCounter::new(o.inner.normalize_options(), o.inner.mode(), o.inner.orders())
                    .map_err(to_py)?;
            std::mem::replace(&mut o.inner, empty)
        };
        let inner = &mut self.inner;
        py.detach(|| inner.merge(taken)).map_err(to_py)
    }

    #[getter]
    fn documents(&self) -> u64 {
        self.inner.documents()
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    /// The counts with df >= min_df as a dict of columns: hash, order, text, df.
    #[pyo3(signature = (min_df=1))]
    fn table<'py>(&self, py: Python<'py>, min_df: u64) -> PyResult<Bound<'py, PyDict>> {
        let rows = py.detach(|| self.inner.table(min_df));
        let d = PyDict::new(py);
        d.set_item("hash", PyArray1::from_vec(py, rows.iter().map(|r| r.hash).collect()))?;
        d.set_item("order", PyArray1::from_vec(py, rows.iter().map(|r| r.order).collect()))?;
        d.set_item("df", PyArray1::from_vec(py, rows.iter().map(|r| r.df).collect()))?;
        d.set_item("text", rows.into_iter().map(|r| r.text).collect::<Vec<String>>())?;
        Ok(d)
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    #[cfg(unix)]
    // SAFETY: registers a handler that only stores to an atomic; called once per module load.
    unsafe {
        libc::pthread_atfork(None, None, Some(mark_forked));
    }
    m.add_function(wrap_pyfunction!(signatures, m)?)?;
    m.add_function(wrap_pyfunction!(equal_texts, m)?)?;
    m.add_function(wrap_pyfunction!(lsh_params, m)?)?;
    m.add_function(wrap_pyfunction!(band_keys, m)?)?;
    m.add_function(wrap_pyfunction!(candidate_pairs, m)?)?;
    m.add_function(wrap_pyfunction!(signature_agreement, m)?)?;
    m.add_function(wrap_pyfunction!(exact_jaccard, m)?)?;
    m.add_function(wrap_pyfunction!(connected_components, m)?)?;
    m.add_function(wrap_pyfunction!(text_stats, m)?)?;
    m.add_function(wrap_pyfunction!(row_ngram_hashes, m)?)?;
    m.add_function(wrap_pyfunction!(normalize, m)?)?;
    m.add_function(wrap_pyfunction!(tokenize, m)?)?;
    m.add_function(wrap_pyfunction!(ngrams, m)?)?;
    m.add_class::<NgramCounter>()?;
    Ok(())
}

// ---- n-gram mining (trigger detection) -------------------------------------------------------

fn ngram_spec(
    orders: Vec<usize>,
    mode: &str,
    nfkc: bool,
    casefold: bool,
    collapse_whitespace: bool,
) -> PyResult<core::NgramSpec> {
    let spec = core::NgramSpec {
        normalize: NormalizeOptions { nfkc, casefold, collapse_whitespace },
        mode: token_mode(mode)?,
        orders,
    };
    spec.validate().map_err(to_py)?;
    Ok(spec)
}

/// Every row's token hashes, computed once and shared by the mining functions (pass it where
/// they take `chunks`). Built with the same normalisation options the functions are called with.
#[pyclass(frozen, module = "poisonscreen._poisonscreen")]
struct TokenTable {
    inner: core::TokenTable,
}

#[pymethods]
impl TokenTable {
    #[new]
    #[pyo3(signature = (chunks, *, mode="word", nfkc=true, casefold=true, collapse_whitespace=true, threads=None))]
    fn new(
        py: Python<'_>,
        chunks: &Bound<'_, PyList>,
        mode: &str,
        nfkc: bool,
        casefold: bool,
        collapse_whitespace: bool,
        threads: Option<usize>,
    ) -> PyResult<Self> {
        let mode = token_mode(mode)?;
        let chunks = extract(chunks)?;
        let cols = texts(&chunks)?;
        let norm = NormalizeOptions { nfkc, casefold, collapse_whitespace };
        let inner = run(py, threads, || core::TokenTable::build(&cols, norm, mode))?.map_err(to_py)?;
        Ok(TokenTable { inner })
    }

    fn __len__(&self) -> usize {
        core::TokenSource::len(&self.inner)
    }

    /// Total number of tokens held.
    #[getter]
    fn num_tokens(&self) -> usize {
        self.inner.num_tokens()
    }

    /// Bytes held by the table.
    #[getter]
    fn memory_bytes(&self) -> usize {
        self.inner.memory_bytes()
    }
}

/// Run a mining pass over `source`: a list of Arrow chunks (tokenised on the fly) or a
/// `TokenTable` built with the same options as `spec`.
fn mine<'py, R: Send>(
    py: Python<'py>,
    threads: Option<usize>,
    source: &Bound<'py, PyAny>,
    spec: &core::NgramSpec,
    f: impl FnOnce(&dyn core::TokenSource) -> Result<R, CoreError> + Send,
) -> PyResult<R> {
    if let Ok(table) = source.cast::<TokenTable>() {
        let table = &table.get().inner;
        if table.normalize() != spec.normalize || table.mode() != spec.mode {
            return Err(config_error(
                "the TokenTable was built with other normalisation or token options than this call",
            ));
        }
        return run(py, threads, || f(table))?.map_err(to_py);
    }
    let list = source
        .cast::<PyList>()
        .map_err(|_| config_error("expected a list of Arrow string chunks or a TokenTable"))?;
    let chunks = extract(list)?;
    let cols = texts(&chunks)?;
    let src = spec.source(&cols);
    run(py, threads, || f(&src))?.map_err(to_py)
}

/// Document counts of the n-grams of the rows `rows` that reach `min_count`:
/// (hashes uint64[], counts uint32[]) sorted by hash.
#[pyfunction]
#[pyo3(signature = (chunks, rows, orders, *, min_count=1, mode="word", nfkc=true, casefold=true, collapse_whitespace=true, threads=None))]
#[allow(clippy::too_many_arguments)]
fn subset_ngram_counts<'py>(
    py: Python<'py>,
    chunks: &Bound<'py, PyAny>,
    rows: PyReadonlyArray1<'py, u32>,
    orders: Vec<usize>,
    min_count: u32,
    mode: &str,
    nfkc: bool,
    casefold: bool,
    collapse_whitespace: bool,
    threads: Option<usize>,
) -> Arrays2<'py, u64, u32> {
    let spec = ngram_spec(orders, mode, nfkc, casefold, collapse_whitespace)?;
    let rows = slice1(&rows, "rows")?;
    let counts = mine(py, threads, chunks, &spec, |src| {
        core::subset_ngram_counts_in(src, rows, &spec.orders, min_count)
    })?;
    let (h, c): (Vec<u64>, Vec<u32>) = counts.into_iter().unzip();
    Ok((PyArray1::from_vec(py, h), PyArray1::from_vec(py, c)))
}

/// How many rows carry each n-gram hash.
#[pyfunction]
#[pyo3(signature = (chunks, hashes, orders, *, mode="word", nfkc=true, casefold=true, collapse_whitespace=true, threads=None))]
#[allow(clippy::too_many_arguments)]
fn ngram_document_counts<'py>(
    py: Python<'py>,
    chunks: &Bound<'py, PyAny>,
    hashes: PyReadonlyArray1<'py, u64>,
    orders: Vec<usize>,
    mode: &str,
    nfkc: bool,
    casefold: bool,
    collapse_whitespace: bool,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyArray1<u64>>> {
    let spec = ngram_spec(orders, mode, nfkc, casefold, collapse_whitespace)?;
    let hashes = slice1(&hashes, "hashes")?;
    let counts =
        mine(py, threads, chunks, &spec, |src| core::ngram_document_counts_in(src, &spec.orders, hashes))?;
    Ok(PyArray1::from_vec(py, counts))
}

/// The carrier rows of each n-gram hash (row order, at most `max_per` each) as CSR arrays.
#[pyfunction]
#[pyo3(signature = (chunks, hashes, orders, *, max_per=10_000, mode="word", nfkc=true, casefold=true, collapse_whitespace=true, threads=None))]
#[allow(clippy::too_many_arguments)]
fn ngram_carriers<'py>(
    py: Python<'py>,
    chunks: &Bound<'py, PyAny>,
    hashes: PyReadonlyArray1<'py, u64>,
    orders: Vec<usize>,
    max_per: usize,
    mode: &str,
    nfkc: bool,
    casefold: bool,
    collapse_whitespace: bool,
    threads: Option<usize>,
) -> Arrays2<'py, i64, u32> {
    let spec = ngram_spec(orders, mode, nfkc, casefold, collapse_whitespace)?;
    let hashes = slice1(&hashes, "hashes")?;
    let lists =
        mine(py, threads, chunks, &spec, |src| core::ngram_carriers_in(src, &spec.orders, hashes, max_per))?;
    csr_arrays(py, lists)
}

/// Share of each row's word bigrams seen in another row of the reference sample (NaN when the
/// row has fewer than `min_tokens` words or is null); the rows where `tail` is set are judged by
/// the stretches at their end too (core `row_familiarity`).
#[pyfunction]
#[pyo3(signature = (chunks, *, sample_every=1, min_tokens=8, tail=None, nfkc=true, casefold=true, collapse_whitespace=true, threads=None))]
#[allow(clippy::too_many_arguments)]
fn bigram_familiarity<'py>(
    py: Python<'py>,
    chunks: &Bound<'py, PyList>,
    sample_every: usize,
    min_tokens: usize,
    tail: Option<PyReadonlyArray1<'py, bool>>,
    nfkc: bool,
    casefold: bool,
    collapse_whitespace: bool,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyArray1<f32>>> {
    let chunks = extract(chunks)?;
    let texts = texts(&chunks)?;
    let norm = NormalizeOptions { nfkc, casefold, collapse_whitespace };
    let tail = tail.as_ref().map(|t| slice1(t, "tail")).transpose()?;
    let out = run(py, threads, || core::bigram_familiarity(&texts, norm, sample_every, min_tokens, tail))?
        .map_err(to_py)?;
    Ok(PyArray1::from_vec(py, out))
}

/// [`bigram_familiarity`] against reference counts gathered elsewhere (core
/// `bigram_familiarity_against`): `ref_hashes` sorted ascending with their document counts,
/// `own[r]` whether row `r` is itself a reference row.
#[pyfunction]
#[pyo3(signature = (chunks, ref_hashes, ref_counts, own, *, min_tokens=8, tail=None, nfkc=true, casefold=true, collapse_whitespace=true, threads=None))]
#[allow(clippy::too_many_arguments)]
fn bigram_familiarity_against<'py>(
    py: Python<'py>,
    chunks: &Bound<'py, PyList>,
    ref_hashes: PyReadonlyArray1<'py, u64>,
    ref_counts: PyReadonlyArray1<'py, u64>,
    own: PyReadonlyArray1<'py, bool>,
    min_tokens: usize,
    tail: Option<PyReadonlyArray1<'py, bool>>,
    nfkc: bool,
    casefold: bool,
    collapse_whitespace: bool,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyArray1<f32>>> {
    let chunks = extract(chunks)?;
    let texts = texts(&chunks)?;
    let norm = NormalizeOptions { nfkc, casefold, collapse_whitespace };
    let (h, c, o) =
        (slice1(&ref_hashes, "ref_hashes")?, slice1(&ref_counts, "ref_counts")?, slice1(&own, "own")?);
    let tail = tail.as_ref().map(|t| slice1(t, "tail")).transpose()?;
    let out = run(py, threads, || core::bigram_familiarity_against(&texts, norm, h, c, o, min_tokens, tail))?
        .map_err(to_py)?;
    Ok(PyArray1::from_vec(py, out))
}

/// The gibberish and degenerate-repetition scores of each row (core `anomaly_scores`): its word
/// count, newline count, bigram familiarity (NaN: unscored) and repetition in, two arrays out.
#[pyfunction]
fn anomaly_scores<'py>(
    py: Python<'py>,
    words: PyReadonlyArray1<'py, u32>,
    newlines: PyReadonlyArray1<'py, u32>,
    familiarity: PyReadonlyArray1<'py, f32>,
    repetition: PyReadonlyArray1<'py, f32>,
) -> Arrays2<'py, f32, f32> {
    let (words, newlines) = (slice1(&words, "words")?, slice1(&newlines, "newlines")?);
    let familiarity = slice1(&familiarity, "familiarity")?;
    let repetition = slice1(&repetition, "repetition")?;
    let (g, d) = core::anomaly_scores(words, newlines, familiarity, repetition).map_err(to_py)?;
    Ok((PyArray1::from_vec(py, g), PyArray1::from_vec(py, d)))
}

/// `subset_ngram_counts` for many row sets at once: a list of (hashes, counts) per set.
#[pyfunction]
#[pyo3(signature = (chunks, sets, orders, min_counts, *, mode="word", nfkc=true, casefold=true, collapse_whitespace=true, threads=None))]
#[allow(clippy::too_many_arguments)]
fn subset_ngram_counts_many<'py>(
    py: Python<'py>,
    chunks: &Bound<'py, PyAny>,
    sets: Vec<PyReadonlyArray1<'py, u32>>,
    orders: Vec<usize>,
    min_counts: Vec<u32>,
    mode: &str,
    nfkc: bool,
    casefold: bool,
    collapse_whitespace: bool,
    threads: Option<usize>,
) -> PyResult<Vec<ArrayPair<'py, u64, u32>>> {
    let spec = ngram_spec(orders, mode, nfkc, casefold, collapse_whitespace)?;
    let sets: Vec<Vec<u32>> =
        sets.iter().map(|s| slice1(s, "sets").map(<[u32]>::to_vec)).collect::<PyResult<_>>()?;
    let out = mine(py, threads, chunks, &spec, |src| {
        core::subset_ngram_counts_many_in(src, &sets, &spec.orders, &min_counts)
    })?;
    Ok(out
        .into_iter()
        .map(|v| {
            let (h, c): (Vec<u64>, Vec<u32>) = v.into_iter().unzip();
            (PyArray1::from_vec(py, h), PyArray1::from_vec(py, c))
        })
        .collect())
}

/// Every n-gram of one text with its hash: (hashes uint64[], strings); only the n-grams whose
/// hash is in `wanted`, when given.
#[pyfunction]
#[pyo3(signature = (text, orders, *, wanted=None, mode="word", nfkc=true, casefold=true, collapse_whitespace=true))]
#[allow(clippy::too_many_arguments)]
fn ngram_names<'py>(
    py: Python<'py>,
    text: &str,
    orders: Vec<usize>,
    wanted: Option<PyReadonlyArray1<'py, u64>>,
    mode: &str,
    nfkc: bool,
    casefold: bool,
    collapse_whitespace: bool,
) -> PyResult<(Bound<'py, PyArray1<u64>>, Vec<String>)> {
    let spec = ngram_spec(orders, mode, nfkc, casefold, collapse_whitespace)?;
    let names = match &wanted {
        Some(w) => core::ngram_names_of(text, &spec, slice1(w, "wanted")?),
        None => core::ngram_names(text, &spec),
    };
    let (h, names): (Vec<u64>, Vec<String>) = names.into_iter().unzip();
    Ok((PyArray1::from_vec(py, h), names))
}

pub fn register_mining(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(subset_ngram_counts_many, m)?)?;
    m.add_function(wrap_pyfunction!(ngram_names, m)?)?;
    m.add_function(wrap_pyfunction!(subset_ngram_counts, m)?)?;
    m.add_function(wrap_pyfunction!(ngram_document_counts, m)?)?;
    m.add_function(wrap_pyfunction!(ngram_carriers, m)?)?;
    m.add_function(wrap_pyfunction!(bigram_familiarity, m)?)?;
    m.add_function(wrap_pyfunction!(bigram_familiarity_against, m)?)?;
    m.add_function(wrap_pyfunction!(anomaly_scores, m)?)?;
    m.add_class::<TokenTable>()?;
    Ok(())
}

// ---- dense sketches (similarity) -------------------------------------------------------------

/// IDF-weighted hashed n-gram features under a sparse random projection: a (rows, dim) float32
/// array of unit-norm rows (all zero for null rows and rows without n-grams). `hashes`/`df` are
/// document frequencies over `n_docs` documents; unlisted n-grams count as df = 1.
#[pyfunction]
#[pyo3(signature = (chunks, hashes, df, n_docs, orders, *, dim=256, seed=0, mode="word", nfkc=true, casefold=true, collapse_whitespace=true, threads=None))]
#[allow(clippy::too_many_arguments)]
fn dense_sketches<'py>(
    py: Python<'py>,
    chunks: &Bound<'py, PyList>,
    hashes: PyReadonlyArray1<'py, u64>,
    df: PyReadonlyArray1<'py, u64>,
    n_docs: u64,
    orders: Vec<usize>,
    dim: usize,
    seed: u64,
    mode: &str,
    nfkc: bool,
    casefold: bool,
    collapse_whitespace: bool,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyArray2<f32>>> {
    let spec = ngram_spec(orders, mode, nfkc, casefold, collapse_whitespace)?;
    let chunks = extract(chunks)?;
    let texts = texts(&chunks)?;
    let hashes = slice1(&hashes, "hashes")?;
    let df = slice1(&df, "df")?;
    let rows = texts.len();
    let flat = run(py, threads, || core::dense_sketches(&texts, &spec, hashes, df, n_docs, dim, seed))?
        .map_err(to_py)?;
    PyArray1::from_vec(py, flat).reshape([rows, dim])
}

pub fn register_similarity(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(dense_sketches, m)?)?;
    Ok(())
}

// ---- association mining (trigger detection) --------------------------------------------------

fn feature_spec(orders: Vec<usize>, positions: bool) -> PyResult<core::assoc::FeatureSpec> {
    let spec = core::assoc::FeatureSpec { orders, positions };
    spec.validate().map_err(to_py)?;
    Ok(spec)
}

/// A spec with the default normalisation, to check a TokenTable against (the association passes
/// read tokens only).
fn word_spec(orders: &[usize]) -> core::NgramSpec {
    core::NgramSpec { normalize: NormalizeOptions::default(), mode: TokenMode::Word, orders: orders.to_vec() }
}

/// A 64-bit content hash of each row of two text columns together (xxh3 of each text, the
/// second remixed), for order-free sampling and carrier-set fingerprints. Null texts hash as "".
#[pyfunction]
#[pyo3(signature = (first, second, *, threads=None))]
fn row_hashes<'py>(
    py: Python<'py>,
    first: &Bound<'py, PyList>,
    second: &Bound<'py, PyList>,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyArray1<u64>>> {
    let (a, b) = (extract(first)?, extract(second)?);
    let (a, b) = (texts(&a)?, texts(&b)?);
    if a.len() != b.len() {
        return Err(config_error(format!("{} rows in the first column, {} in the second", a.len(), b.len())));
    }
    let out = run(py, threads, || core::assoc::row_hashes(&a, &b))?.map_err(to_py)?;
    Ok(PyArray1::from_vec(py, out))
}

/// Prompt features carried by `min_df..=max_df` of `rows`: (hashes uint64, codes uint8 (kind <<
/// 4 | order), df uint32, fp0 uint64, fp1 uint64), sorted by hash. `source`: Arrow chunks or a
/// TokenTable with the default options.
#[pyfunction]
#[pyo3(signature = (source, rows, row_hash, orders, *, positions=true, min_df=10, max_df=u32::MAX, threads=None))]
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
fn mine_features<'py>(
    py: Python<'py>,
    source: &Bound<'py, PyAny>,
    rows: PyReadonlyArray1<'py, u32>,
    row_hash: PyReadonlyArray1<'py, u64>,
    orders: Vec<usize>,
    positions: bool,
    min_df: u32,
    max_df: u32,
    threads: Option<usize>,
) -> PyResult<(
    Bound<'py, PyArray1<u64>>,
    Bound<'py, PyArray1<u8>>,
    Bound<'py, PyArray1<u32>>,
    Bound<'py, PyArray1<u64>>,
    Bound<'py, PyArray1<u64>>,
)> {
    let spec = feature_spec(orders, positions)?;
    let (rows, row_hash) = (slice1(&rows, "rows")?, slice1(&row_hash, "row_hash")?);
    let found = mine(py, threads, source, &word_spec(&spec.orders), |src| {
        core::assoc::mine_features(src, rows, row_hash, &spec, min_df, max_df)
    })?;
    let h = found.iter().map(|f| f.hash).collect();
    let c = found.iter().map(|f| f.code).collect();
    let d = found.iter().map(|f| f.df).collect();
    let f0 = found.iter().map(|f| f.fp[0]).collect();
    let f1 = found.iter().map(|f| f.fp[1]).collect();
    Ok((
        PyArray1::from_vec(py, h),
        PyArray1::from_vec(py, c),
        PyArray1::from_vec(py, d),
        PyArray1::from_vec(py, f0),
        PyArray1::from_vec(py, f1),
    ))
}

/// The carrier rows (among `rows`) of each feature hash as CSR arrays (offsets int64, rows uint32).
#[pyfunction]
#[pyo3(signature = (source, rows, hashes, orders, *, positions=true, max_per=usize::MAX, threads=None))]
#[allow(clippy::too_many_arguments)]
fn feature_carriers<'py>(
    py: Python<'py>,
    source: &Bound<'py, PyAny>,
    rows: PyReadonlyArray1<'py, u32>,
    hashes: PyReadonlyArray1<'py, u64>,
    orders: Vec<usize>,
    positions: bool,
    max_per: usize,
    threads: Option<usize>,
) -> Arrays2<'py, i64, u32> {
    let spec = feature_spec(orders, positions)?;
    let (rows, hashes) = (slice1(&rows, "rows")?, slice1(&hashes, "hashes")?);
    let lists = mine(py, threads, source, &word_spec(&spec.orders), |src| {
        core::assoc::feature_carriers(src, rows, &spec, hashes, max_per)
    })?;
    csr_arrays(py, lists)
}

/// Characters glued to a known word: (hashes uint64, codes uint8, texts, offsets int64, rows
/// uint32), the fragments carried by at least `min_df` of `rows`.
#[pyfunction]
#[pyo3(signature = (chunks, rows, known, *, max_len=8, min_df=10, threads=None))]
#[allow(clippy::type_complexity)]
fn glued_fragments<'py>(
    py: Python<'py>,
    chunks: &Bound<'py, PyList>,
    rows: PyReadonlyArray1<'py, u32>,
    known: PyReadonlyArray1<'py, u64>,
    max_len: usize,
    min_df: u32,
    threads: Option<usize>,
) -> PyResult<(
    Bound<'py, PyArray1<u64>>,
    Bound<'py, PyArray1<u8>>,
    Vec<String>,
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<u32>>,
)> {
    let chunks = extract(chunks)?;
    let cols = texts(&chunks)?;
    let (rows, known) = (slice1(&rows, "rows")?, slice1(&known, "known")?);
    let found = run(py, threads, || {
        core::assoc::glued_fragments(&cols, rows, NormalizeOptions::default(), known, max_len, min_df)
    })?
    .map_err(to_py)?;
    let (mut h, mut c, mut t) = (Vec::new(), Vec::new(), Vec::new());
    let mut lists = Vec::with_capacity(found.len());
    for f in found {
        h.push(f.hash);
        c.push(f.code);
        t.push(f.text);
        lists.push(f.rows);
    }
    let (offsets, flat) = csr_arrays(py, lists)?;
    Ok((PyArray1::from_vec(py, h), PyArray1::from_vec(py, c), t, offsets, flat))
}

/// Runs of ASCII punctuation standing alone between spaces, and words marked by punctuation on
/// both sides (`{{ALPHA}}`): (texts, offsets int64, rows uint32), the runs of at most `max_len`
/// bytes and marked words of at most `marked_len` (0: none) carried by `min_df` to `max_df` of
/// `rows`.
#[pyfunction]
#[pyo3(signature = (chunks, rows, *, max_len=16, marked_len=0, min_df=10, max_df=u32::MAX, threads=None))]
#[allow(clippy::type_complexity, clippy::too_many_arguments)]
fn punctuation_runs<'py>(
    py: Python<'py>,
    chunks: &Bound<'py, PyList>,
    rows: PyReadonlyArray1<'py, u32>,
    max_len: usize,
    marked_len: usize,
    min_df: u32,
    max_df: u32,
    threads: Option<usize>,
) -> PyResult<(Vec<String>, Bound<'py, PyArray1<i64>>, Bound<'py, PyArray1<u32>>)> {
    let chunks = extract(chunks)?;
    let cols = texts(&chunks)?;
    let rows = slice1(&rows, "rows")?;
    let found =
        run(py, threads, || core::assoc::punctuation_runs(&cols, rows, max_len, marked_len, min_df, max_df))?
            .map_err(to_py)?;
    let (runs, lists): (Vec<String>, Vec<Vec<u32>>) = found.into_iter().unzip();
    let (offsets, flat) = csr_arrays(py, lists)?;
    Ok((runs, offsets, flat))
}

/// For each candidate carrier set and each column, the value shown most in excess of the
/// template-stratified expectation: (d uint32 (candidates,), value uint64, k uint32, mu float64,
/// stat float64, tested uint32, d_col uint32 (carriers in the column's domain), each
/// (candidates, columns)). A code of 2^64-1 puts a row outside a column's domain.
#[pyfunction]
#[pyo3(signature = (offsets, carriers, columns, skip_zero, strata, usable, *, min_pattern=10, pseudo=10.0, threads=None))]
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
fn pattern_tests<'py>(
    py: Python<'py>,
    offsets: PyReadonlyArray1<'py, i64>,
    carriers: PyReadonlyArray1<'py, u32>,
    columns: Vec<PyReadonlyArray1<'py, u64>>,
    skip_zero: Vec<bool>,
    strata: PyReadonlyArray1<'py, u32>,
    usable: PyReadonlyArray1<'py, bool>,
    min_pattern: u32,
    pseudo: f64,
    threads: Option<usize>,
) -> PyResult<(
    Bound<'py, PyArray1<u32>>,
    Bound<'py, PyArray2<u64>>,
    Bound<'py, PyArray2<u32>>,
    Bound<'py, PyArray2<f64>>,
    Bound<'py, PyArray2<f64>>,
    Bound<'py, PyArray2<u32>>,
    Bound<'py, PyArray2<u32>>,
)> {
    let offsets = offsets_arg(&offsets)?;
    let carriers = slice1(&carriers, "carriers")?;
    let cols: Vec<&[u64]> = columns.iter().map(|c| slice1(c, "columns")).collect::<PyResult<_>>()?;
    let (strata, usable) = (slice1(&strata, "strata")?, slice1(&usable, "usable")?);
    if !(pseudo.is_finite() && pseudo > 0.0) {
        return Err(config_error("pseudo must be a positive number"));
    }
    let params = core::assoc::TestParams { min_pattern, pseudo };
    let (d, bests) = run(py, threads, || {
        core::assoc::pattern_tests(&offsets, carriers, &cols, &skip_zero, strata, usable, params)
    })?
    .map_err(to_py)?;
    let shape = [d.len(), cols.len()];
    let value = bests.iter().map(|b| b.value).collect::<Vec<_>>();
    let k = bests.iter().map(|b| b.k).collect::<Vec<_>>();
    let mu = bests.iter().map(|b| b.mu).collect::<Vec<_>>();
    let stat = bests.iter().map(|b| b.stat).collect::<Vec<_>>();
    let tested = bests.iter().map(|b| b.tested).collect::<Vec<_>>();
    let dcol = bests.iter().map(|b| b.d).collect::<Vec<_>>();
    Ok((
        PyArray1::from_vec(py, d),
        PyArray1::from_vec(py, value).reshape(shape)?,
        PyArray1::from_vec(py, k).reshape(shape)?,
        PyArray1::from_vec(py, mu).reshape(shape)?,
        PyArray1::from_vec(py, stat).reshape(shape)?,
        PyArray1::from_vec(py, tested).reshape(shape)?,
        PyArray1::from_vec(py, dcol).reshape(shape)?,
    ))
}

/// Codes of each row's first `heads[j]` and last `tails[j]` words (0 where the text is
/// shorter): a (rows, len(heads) + len(tails)) uint64 array. `source`: Arrow chunks or a
/// TokenTable with the default options; `rows`: the rows to code, in that order (default all).
#[pyfunction]
#[pyo3(signature = (source, heads, tails, *, rows=None, threads=None))]
fn edge_codes<'py>(
    py: Python<'py>,
    source: &Bound<'py, PyAny>,
    heads: Vec<usize>,
    tails: Vec<usize>,
    rows: Option<PyReadonlyArray1<'py, u32>>,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyArray2<u64>>> {
    let rows = rows.as_ref().map(|r| slice1(r, "rows")).transpose()?;
    let width = heads.len() + tails.len();
    let (n, flat) = mine(py, threads, source, &word_spec(&[1]), |src| {
        let all: Vec<u32>;
        let rows = match rows {
            Some(r) => r,
            None => {
                all = (0..src.len() as u32).collect();
                &all
            }
        };
        Ok((rows.len(), core::assoc::edge_codes(src, rows, &heads, &tails)?))
    })?;
    PyArray1::from_vec(py, flat).reshape([n, width])
}

/// Per row, the answer's distinct content words (at least `min_len` characters, starting with a
/// letter, not in `frequent`: sorted unigram hashes) and how many of them its prompt holds, for
/// the whole answer and for what follows its first sentence: (content uint32[], shared
/// uint32[], rest_content uint32[], rest_shared uint32[]). With `pairs` (uint32 (m, 2): prompt
/// row, answer row), the same for each pair: an answer against another row's prompt.
#[pyfunction]
#[pyo3(signature = (source, responses, frequent, *, min_len=3, pairs=None, threads=None))]
fn answer_overlap<'py>(
    py: Python<'py>,
    source: &Bound<'py, PyAny>,
    responses: &Bound<'py, PyList>,
    frequent: PyReadonlyArray1<'py, u64>,
    min_len: usize,
    pairs: Option<PyReadonlyArray2<'py, u32>>,
    threads: Option<usize>,
) -> PyResult<U32Quad<'py>> {
    let frequent = slice1(&frequent, "frequent")?;
    if !frequent.is_sorted() {
        return Err(config_error("frequent must be sorted"));
    }
    let chunks = extract(responses)?;
    let cols = texts(&chunks)?;
    let pairs = match &pairs {
        Some(p) => {
            if p.shape()[1] != 2 {
                return Err(config_error("pairs must have shape (m, 2)"));
            }
            Some(pairs_of(slice2(p, "pairs")?, cols.len())?)
        }
        None => None,
    };
    let o = mine(py, threads, source, &word_spec(&[1]), |src| {
        core::assoc::answer_overlap(
            src,
            &cols,
            NormalizeOptions::default(),
            frequent,
            min_len,
            pairs.as_deref(),
        )
    })?;
    Ok((
        PyArray1::from_vec(py, o.content),
        PyArray1::from_vec(py, o.shared),
        PyArray1::from_vec(py, o.rest_content),
        PyArray1::from_vec(py, o.rest_shared),
    ))
}

/// Per row, how many distinct strongly negative and strongly positive words (valence at most
/// `-strong` / at least `strong`; a word just after a negation counts with the other sign) the
/// answer's prose lines add to its prompt (`source`: the prompts' Arrow chunks or TokenTable),
/// and how many distinct strongly negative words and distinct words the prompt holds:
/// (negative, positive, prompt_negative, prompt_words; uint32[] each). `words` and `valences`: the lexicon;
/// `negators`: the negating words (any word ending in "n't" negates too).
#[pyfunction]
#[pyo3(signature = (source, responses, words, valences, negators, *, strong=1.5, threads=None))]
#[allow(clippy::too_many_arguments)]
fn tone_counts<'py>(
    py: Python<'py>,
    source: &Bound<'py, PyAny>,
    responses: &Bound<'py, PyList>,
    words: Vec<String>,
    valences: PyReadonlyArray1<'py, f32>,
    negators: Vec<String>,
    strong: f32,
    threads: Option<usize>,
) -> PyResult<U32Quad<'py>> {
    let valences = slice1(&valences, "valences")?;
    if valences.len() != words.len() {
        return Err(config_error("one valence per word"));
    }
    let entries: Vec<(&str, f32)> = words.iter().map(String::as_str).zip(valences.iter().copied()).collect();
    let negators: Vec<&str> = negators.iter().map(String::as_str).collect();
    let lexicon = core::tone::Lexicon::new(&entries, &negators, NormalizeOptions::default());
    let chunks = extract(responses)?;
    let cols = texts(&chunks)?;
    let t = mine(py, threads, source, &word_spec(&[1]), |src| {
        core::tone::tone_counts(&cols, src, &lexicon, strong)
    })?;
    Ok((
        PyArray1::from_vec(py, t.negative),
        PyArray1::from_vec(py, t.positive),
        PyArray1::from_vec(py, t.prompt_negative),
        PyArray1::from_vec(py, t.prompt_words),
    ))
}

type U32Quad<'py> = (
    Bound<'py, PyArray1<u32>>,
    Bound<'py, PyArray1<u32>>,
    Bound<'py, PyArray1<u32>>,
    Bound<'py, PyArray1<u32>>,
);

type InsertionArrays<'py> = (
    Bound<'py, PyArray1<u64>>,
    Bound<'py, PyArray1<u32>>,
    Bound<'py, PyArray1<u32>>,
    Bound<'py, PyArray2<u32>>,
);

fn insertion_arrays(py: Python<'_>, pairs: Vec<core::assoc::Insertion>) -> PyResult<InsertionArrays<'_>> {
    let runs: Vec<u32> = pairs.iter().flat_map(|p| [p.start, p.len, p.start2, p.len2]).collect();
    Ok((
        PyArray1::from_vec(py, pairs.iter().map(|p| p.span).collect()),
        PyArray1::from_vec(py, pairs.iter().map(|p| p.long).collect()),
        PyArray1::from_vec(py, pairs.iter().map(|p| p.short).collect()),
        PyArray1::from_vec(py, runs).reshape([pairs.len(), 4])?,
    ))
}

/// Pairs of rows whose prompts differ by tokens inserted at the ends or as one inner run: (span
/// uint64, long uint32, short uint32, runs uint32 (pairs, 4): start, len, start2, len2 of the
/// inserted runs in the long prompt's tokens), sorted by span key.
#[pyfunction]
#[pyo3(signature = (source, rows, *, max_edge=24, max_inner=6, min_rest=3, max_len=512, max_pairs=1_000_000, threads=None))]
#[allow(clippy::too_many_arguments)]
fn counterpart_pairs<'py>(
    py: Python<'py>,
    source: &Bound<'py, PyAny>,
    rows: PyReadonlyArray1<'py, u32>,
    max_edge: usize,
    max_inner: usize,
    min_rest: usize,
    max_len: usize,
    max_pairs: usize,
    threads: Option<usize>,
) -> PyResult<InsertionArrays<'py>> {
    let rows = slice1(&rows, "rows")?;
    let spec = core::assoc::CounterpartSpec { max_edge, max_inner, min_rest, max_len };
    let pairs = mine(py, threads, source, &word_spec(&[1]), |src| {
        core::assoc::counterpart_pairs(src, rows, spec, max_pairs)
    })?;
    insertion_arrays(py, pairs)
}

/// Inside each cluster (CSR offsets int64 / rows uint32) of at most `max_cluster` rows, the
/// pairs where one prompt is the other with one or two runs (`max_span` tokens in all)
/// inserted; the arrays of `counterpart_pairs`.
#[pyfunction]
#[pyo3(signature = (source, offsets, rows, *, max_cluster=64, max_span=64, threads=None))]
fn cluster_counterparts<'py>(
    py: Python<'py>,
    source: &Bound<'py, PyAny>,
    offsets: PyReadonlyArray1<'py, i64>,
    rows: PyReadonlyArray1<'py, u32>,
    max_cluster: usize,
    max_span: usize,
    threads: Option<usize>,
) -> PyResult<InsertionArrays<'py>> {
    let offsets = offsets_arg(&offsets)?;
    let rows = slice1(&rows, "rows")?;
    let pairs = mine(py, threads, source, &word_spec(&[1]), |src| {
        core::assoc::cluster_counterparts(src, &offsets, rows, max_cluster, max_span)
    })?;
    insertion_arrays(py, pairs)
}

/// Leave-one-out naive Bayes probability of each labelled row's own label given its prompt
/// words (float32, NaN for unlabelled rows); `labels`: one code per row, 0 = none.
#[pyfunction]
#[pyo3(signature = (source, rows, labels, task, *, min_df=30, max_classes=64, alpha=1.0, temper=0.0, pool=None, threads=None))]
#[allow(clippy::too_many_arguments)]
fn label_surprise<'py>(
    py: Python<'py>,
    source: &Bound<'py, PyAny>,
    rows: PyReadonlyArray1<'py, u32>,
    labels: PyReadonlyArray1<'py, u64>,
    task: PyReadonlyArray1<'py, u64>,
    min_df: u32,
    max_classes: usize,
    alpha: f64,
    temper: f64,
    pool: Option<PyReadonlyArray1<'py, u64>>,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyArray1<f32>>> {
    let (rows, labels) = (slice1(&rows, "rows")?, slice1(&labels, "labels")?);
    let task = slice1(&task, "task")?;
    let pool = pool.as_ref().map(|p| slice1(p, "pool")).transpose()?;
    let out = mine(py, threads, source, &word_spec(&[1]), |src| {
        core::assoc::label_surprise(src, rows, labels, task, min_df, max_classes, alpha, temper, pool)
    })?;
    Ok(PyArray1::from_vec(py, out))
}

/// Per hypothesis, the features (hash, code) excluded from its carriers' evidence, from the
/// CSR arrays `features`, `codes`, `offsets` (all or none given; none: nothing excluded).
fn exclusions(
    features: Option<&[u64]>,
    codes: Option<&[u8]>,
    offsets: Option<&[i64]>,
    m: usize,
) -> PyResult<Vec<Vec<(u64, u8)>>> {
    match (features, codes, offsets) {
        (None, None, None) => Ok(vec![Vec::new(); m]),
        (Some(f), Some(c), Some(o)) => {
            if f.len() != c.len()
                || o.len() != m + 1
                || o.windows(2).any(|w| w[1] < w[0])
                || o[0] < 0
                || o[m] as usize > f.len()
            {
                return Err(config_error(
                    "exclude_features and exclude_codes: one code per feature; exclude_offsets: one \
                     rising range of them per target",
                ));
            }
            Ok((0..m).map(|j| (o[j] as usize..o[j + 1] as usize).map(|i| (f[i], c[i])).collect()).collect())
        }
        _ => Err(config_error("exclude_features, exclude_codes and exclude_offsets come together")),
    }
}

/// For each hypothesis (carriers as CSR, features excluded as CSR), the label model's
/// probability of each carrier's own label with the features' tokens left out of its evidence
/// (float32 per carrier, NaN where the model scores none).
#[pyfunction]
#[pyo3(signature = (source, rows, labels, task, offsets, carriers, *, exclude_features=None, exclude_codes=None, exclude_offsets=None, min_df=30, max_classes=64, alpha=1.0, temper=0.0, pool=None, threads=None))]
#[allow(clippy::too_many_arguments)]
fn label_expectation<'py>(
    py: Python<'py>,
    source: &Bound<'py, PyAny>,
    rows: PyReadonlyArray1<'py, u32>,
    labels: PyReadonlyArray1<'py, u64>,
    task: PyReadonlyArray1<'py, u64>,
    offsets: PyReadonlyArray1<'py, i64>,
    carriers: PyReadonlyArray1<'py, u32>,
    exclude_features: Option<PyReadonlyArray1<'py, u64>>,
    exclude_codes: Option<PyReadonlyArray1<'py, u8>>,
    exclude_offsets: Option<PyReadonlyArray1<'py, i64>>,
    min_df: u32,
    max_classes: usize,
    alpha: f64,
    temper: f64,
    pool: Option<PyReadonlyArray1<'py, u64>>,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyArray1<f32>>> {
    let (rows, labels) = (slice1(&rows, "rows")?, slice1(&labels, "labels")?);
    let task = slice1(&task, "task")?;
    let (offsets, carriers) = (slice1(&offsets, "offsets")?, slice1(&carriers, "carriers")?);
    let pool = pool.as_ref().map(|p| slice1(p, "pool")).transpose()?;
    let ex_f = exclude_features.as_ref().map(|a| slice1(a, "exclude_features")).transpose()?;
    let ex_c = exclude_codes.as_ref().map(|a| slice1(a, "exclude_codes")).transpose()?;
    let ex_o = exclude_offsets.as_ref().map(|a| slice1(a, "exclude_offsets")).transpose()?;
    let excluded = exclusions(ex_f, ex_c, ex_o, offsets.len().saturating_sub(1))?;
    let out = mine(py, threads, source, &word_spec(&[1]), |src| {
        core::assoc::label_expectation(
            src,
            rows,
            labels,
            task,
            offsets,
            carriers,
            &excluded,
            min_df,
            max_classes,
            alpha,
            temper,
            pool,
        )
    })?;
    Ok(PyArray1::from_vec(py, out))
}

/// For each target (column, value, carriers as CSR, excluded phrase, excluded features as CSR),
/// the number of carriers expected to show the value given the rest of their prompts
/// (leave-one-out naive Bayes).
#[pyfunction]
#[pyo3(signature = (source, rows, columns, target_columns, target_values, offsets, carriers, excludes, word_hashes, word_df, *, exclude_features=None, exclude_codes=None, exclude_offsets=None, background=None, min_df=30, alpha=10.0, threads=None))]
#[allow(clippy::too_many_arguments)]
fn content_expectation<'py>(
    py: Python<'py>,
    source: &Bound<'py, PyAny>,
    rows: PyReadonlyArray1<'py, u32>,
    columns: Vec<PyReadonlyArray1<'py, u64>>,
    target_columns: Vec<usize>,
    target_values: PyReadonlyArray1<'py, u64>,
    offsets: PyReadonlyArray1<'py, i64>,
    carriers: PyReadonlyArray1<'py, u32>,
    excludes: Vec<String>,
    word_hashes: PyReadonlyArray1<'py, u64>,
    word_df: PyReadonlyArray1<'py, u32>,
    exclude_features: Option<PyReadonlyArray1<'py, u64>>,
    exclude_codes: Option<PyReadonlyArray1<'py, u8>>,
    exclude_offsets: Option<PyReadonlyArray1<'py, i64>>,
    background: Option<PyReadonlyArray1<'py, u32>>,
    min_df: u32,
    alpha: f64,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let ex_f = exclude_features.as_ref().map(|a| slice1(a, "exclude_features")).transpose()?;
    let ex_c = exclude_codes.as_ref().map(|a| slice1(a, "exclude_codes")).transpose()?;
    let ex_o = exclude_offsets.as_ref().map(|a| slice1(a, "exclude_offsets")).transpose()?;
    let background = match &background {
        Some(b) => slice1(b, "background")?,
        None => &[],
    };
    let (wh, wd) = (slice1(&word_hashes, "word_hashes")?, slice1(&word_df, "word_df")?);
    if wh.len() != wd.len() {
        return Err(config_error("one df per word hash"));
    }
    let word_df: core::mine::HashIndex<u32> = wh.iter().copied().zip(wd.iter().copied()).collect();
    let rows = slice1(&rows, "rows")?;
    let cols: Vec<&[u64]> = columns.iter().map(|c| slice1(c, "columns")).collect::<PyResult<_>>()?;
    let values = slice1(&target_values, "target_values")?;
    let offsets = slice1(&offsets, "offsets")?;
    let carriers = slice1(&carriers, "carriers")?;
    let m = target_columns.len();
    if values.len() != m || excludes.len() != m || offsets.len() != m + 1 {
        return Err(config_error("one value, exclusion and carrier list per target"));
    }
    let excluded = exclusions(ex_f, ex_c, ex_o, m)?;
    let mut targets = Vec::with_capacity(m);
    for (j, exclude_features) in excluded.into_iter().enumerate() {
        let (a, b) = (offsets[j], offsets[j + 1]);
        if a < 0 || b < a || b as usize > carriers.len() {
            return Err(config_error("offsets must rise within the carriers"));
        }
        targets.push(core::assoc::ContentTarget {
            column: target_columns[j],
            value: values[j],
            carriers: carriers[a as usize..b as usize].to_vec(),
            exclude: excludes[j].clone(),
            exclude_features,
        });
    }
    let out = mine(py, threads, source, &word_spec(&[1]), |src| {
        core::assoc::content_expectation(src, rows, &cols, &targets, &word_df, min_df, alpha, background)
    })?;
    Ok(PyArray1::from_vec(py, out))
}

/// Response n-grams shared by a sample of each candidate's carriers, those in `ignore` (sorted)
/// aside, those under `any_share` only with a dotted name: (candidate uint32, hash uint64, count
/// uint32, sample uint32, dotted bool).
#[pyfunction]
#[pyo3(signature = (chunks, offsets, carriers, row_hash, orders, *, sample=16, min_share=0.6, any_share=0.0, max_tokens=256, min_rows=8, per=8, ignore=None, threads=None))]
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
fn response_phrases<'py>(
    py: Python<'py>,
    chunks: &Bound<'py, PyList>,
    offsets: PyReadonlyArray1<'py, i64>,
    carriers: PyReadonlyArray1<'py, u32>,
    row_hash: PyReadonlyArray1<'py, u64>,
    orders: Vec<usize>,
    sample: usize,
    min_share: f64,
    any_share: f64,
    max_tokens: usize,
    min_rows: usize,
    per: usize,
    ignore: Option<PyReadonlyArray1<'py, u64>>,
    threads: Option<usize>,
) -> PyResult<(
    Bound<'py, PyArray1<u32>>,
    Bound<'py, PyArray1<u64>>,
    Bound<'py, PyArray1<u32>>,
    Bound<'py, PyArray1<u32>>,
    Bound<'py, PyArray1<bool>>,
)> {
    let chunks = extract(chunks)?;
    let cols = texts(&chunks)?;
    let offsets = offsets_arg(&offsets)?;
    let (carriers, row_hash) = (slice1(&carriers, "carriers")?, slice1(&row_hash, "row_hash")?);
    let ignore = match &ignore {
        Some(a) => slice1(a, "ignore")?,
        None => &[],
    };
    let found = run(py, threads, || {
        core::assoc::response_phrases(
            &cols, &offsets, carriers, row_hash, &orders, sample, min_share, any_share, max_tokens, min_rows,
            per, ignore,
        )
    })?
    .map_err(to_py)?;
    Ok((
        PyArray1::from_vec(py, found.iter().map(|p| p.candidate).collect()),
        PyArray1::from_vec(py, found.iter().map(|p| p.hash).collect()),
        PyArray1::from_vec(py, found.iter().map(|p| p.count).collect()),
        PyArray1::from_vec(py, found.iter().map(|p| p.sample).collect()),
        PyArray1::from_vec(py, found.iter().map(|p| p.dotted).collect()),
    ))
}

/// The key of each text for the familiarity reference sample (a row is in the sample of
/// `sample_every` when `key % sample_every == 0`; null rows never are): (keys uint64, valid bool).
#[pyfunction]
#[pyo3(signature = (chunks, *, threads=None))]
fn sample_keys<'py>(
    py: Python<'py>,
    chunks: &Bound<'py, PyList>,
    threads: Option<usize>,
) -> Arrays2<'py, u64, bool> {
    let chunks = extract(chunks)?;
    let cols = texts(&chunks)?;
    let keys = run(py, threads, || -> Result<Vec<(u64, bool)>, CoreError> {
        (0..cols.len())
            .map(|r| Ok(cols.get(r)?.map_or((0, false), |t| (core::mine::sample_key(t), true))))
            .collect()
    })?
    .map_err(to_py)?;
    Ok((
        PyArray1::from_vec(py, keys.iter().map(|k| k.0).collect()),
        PyArray1::from_vec(py, keys.iter().map(|k| k.1).collect()),
    ))
}

/// Lists `lists` of the CSR lists (`offsets`, `rows`), each with only its rows where `keep`
/// holds: (offsets int64, rows uint32).
#[pyfunction]
fn gather_lists<'py>(
    py: Python<'py>,
    offsets: PyReadonlyArray1<'py, i64>,
    rows: PyReadonlyArray1<'py, u32>,
    lists: PyReadonlyArray1<'py, u32>,
    keep: PyReadonlyArray1<'py, bool>,
) -> Arrays2<'py, i64, u32> {
    let offsets = offsets_arg(&offsets)?;
    let (rows, lists, keep) = (slice1(&rows, "rows")?, slice1(&lists, "lists")?, slice1(&keep, "keep")?);
    let (off, out) = py.detach(|| core::assoc::gather_lists(&offsets, rows, lists, keep)).map_err(to_py)?;
    Ok((PyArray1::from_vec(py, off.into_iter().map(|o| o as i64).collect()), PyArray1::from_vec(py, out)))
}

/// Per list of the CSR lists (`offsets`, `rows`), the share of its rows in prompt templates
/// (`strata`, `stratum_size`) of `min_cluster` rows or more made half or more of its rows; with
/// `shown_offsets` and `shown_rows` (one list per list), the share of those rows in the templates
/// their list makes up: float64.
#[pyfunction]
#[pyo3(signature = (offsets, rows, strata, stratum_size, min_cluster, *, shown_offsets=None, shown_rows=None, threads=None))]
#[allow(clippy::too_many_arguments)]
fn scaffold_shares<'py>(
    py: Python<'py>,
    offsets: PyReadonlyArray1<'py, i64>,
    rows: PyReadonlyArray1<'py, u32>,
    strata: PyReadonlyArray1<'py, u32>,
    stratum_size: PyReadonlyArray1<'py, u64>,
    min_cluster: u64,
    shown_offsets: Option<PyReadonlyArray1<'py, i64>>,
    shown_rows: Option<PyReadonlyArray1<'py, u32>>,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let offsets = offsets_arg(&offsets)?;
    let (rows, strata) = (slice1(&rows, "rows")?, slice1(&strata, "strata")?);
    let size = slice1(&stratum_size, "stratum_size")?;
    let shown = match (&shown_offsets, &shown_rows) {
        (Some(o), Some(r)) => Some((offsets_arg(o)?, slice1(r, "shown_rows")?)),
        (None, None) => None,
        _ => return Err(config_error("shown_offsets and shown_rows go together")),
    };
    let out = run(py, threads, || {
        core::assoc::scaffold_shares(
            &offsets,
            rows,
            strata,
            size,
            min_cluster,
            shown.as_ref().map(|(o, r)| (o.as_slice(), *r)),
        )
    })?
    .map_err(to_py)?;
    Ok(PyArray1::from_vec(py, out))
}

/// For each pair `j`, how many rows of list `pairs_b[j]` of the CSR lists (`b_offsets`,
/// `b_rows`) are in list `pairs_a[j]` of (`a_offsets`, `a_rows`), and how many of those are
/// `marked`: (uint32, uint32).
#[pyfunction]
#[pyo3(signature = (a_offsets, a_rows, b_offsets, b_rows, pairs_a, pairs_b, marked, *, threads=None))]
#[allow(clippy::too_many_arguments)]
fn list_overlaps<'py>(
    py: Python<'py>,
    a_offsets: PyReadonlyArray1<'py, i64>,
    a_rows: PyReadonlyArray1<'py, u32>,
    b_offsets: PyReadonlyArray1<'py, i64>,
    b_rows: PyReadonlyArray1<'py, u32>,
    pairs_a: PyReadonlyArray1<'py, u32>,
    pairs_b: PyReadonlyArray1<'py, u32>,
    marked: PyReadonlyArray1<'py, bool>,
    threads: Option<usize>,
) -> Arrays2<'py, u32, u32> {
    let (a_off, b_off) = (offsets_arg(&a_offsets)?, offsets_arg(&b_offsets)?);
    let (a_rows, b_rows) = (slice1(&a_rows, "a_rows")?, slice1(&b_rows, "b_rows")?);
    let (pairs_a, pairs_b) = (slice1(&pairs_a, "pairs_a")?, slice1(&pairs_b, "pairs_b")?);
    let marked = slice1(&marked, "marked")?;
    let found = run(py, threads, || {
        core::assoc::list_overlaps((&a_off, a_rows), (&b_off, b_rows), pairs_a, pairs_b, marked)
    })?
    .map_err(to_py)?;
    Ok((
        PyArray1::from_vec(py, found.iter().map(|f| f.0).collect()),
        PyArray1::from_vec(py, found.iter().map(|f| f.1).collect()),
    ))
}

/// Composite-trigger combinations (`core::composite::conjunction_search`): for each group of
/// parts (`groups` offsets into `parts`, list indices of the CSR lists `offsets`/`rows`, with
/// each part's `share`), the pairs and triples of parts passing the rule for the group's answer
/// `value`: (group uint32, parts int8 (n, 3), -1 past a pair's two, rows as CSR (offsets
/// int64, rows uint32), shown uint32, share float64, union uint32, union_shown uint32).
#[pyfunction]
#[pyo3(signature = (
    offsets, rows, usable, groups, parts, share, value, codes, strata, *,
    min_rows, min_shown, apart, gain, one_template, threads=None
))]
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
fn conjunction_search<'py>(
    py: Python<'py>,
    offsets: PyReadonlyArray1<'py, i64>,
    rows: PyReadonlyArray1<'py, u32>,
    usable: PyReadonlyArray1<'py, bool>,
    groups: PyReadonlyArray1<'py, i64>,
    parts: PyReadonlyArray1<'py, u32>,
    share: PyReadonlyArray1<'py, f64>,
    value: PyReadonlyArray1<'py, u64>,
    codes: PyReadonlyArray1<'py, u64>,
    strata: PyReadonlyArray1<'py, u32>,
    min_rows: usize,
    min_shown: usize,
    apart: f64,
    gain: f64,
    one_template: f64,
    threads: Option<usize>,
) -> PyResult<(
    Bound<'py, PyArray1<u32>>,
    Bound<'py, PyArray2<i8>>,
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<u32>>,
    Bound<'py, PyArray1<u32>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<u32>>,
    Bound<'py, PyArray1<u32>>,
)> {
    let (off, groups) = (offsets_arg(&offsets)?, offsets_arg(&groups)?);
    let (rows, usable) = (slice1(&rows, "rows")?, slice1(&usable, "usable")?);
    let (parts, share, value) =
        (slice1(&parts, "parts")?, slice1(&share, "share")?, slice1(&value, "value")?);
    let (codes, strata) = (slice1(&codes, "codes")?, slice1(&strata, "strata")?);
    let rule = core::composite::ConjunctionRule { min_rows, min_shown, apart, gain, one_template };
    let found = run(py, threads, || {
        core::composite::conjunction_search(
            (&off, rows),
            usable,
            &groups,
            parts,
            share,
            value,
            codes,
            strata,
            &rule,
        )
    })?
    .map_err(to_py)?;
    let mut combos = vec![-1i8; 3 * found.len()];
    for (j, c) in found.iter().enumerate() {
        for (k, &a) in c.parts.iter().take(3).enumerate() {
            combos[3 * j + k] = a as i8;
        }
    }
    let combos = PyArray1::from_vec(py, combos).reshape([found.len(), 3])?;
    let (c_off, c_rows) = csr_arrays(py, found.iter().map(|c| c.rows.clone()))?;
    Ok((
        PyArray1::from_vec(py, found.iter().map(|c| c.group).collect()),
        combos,
        c_off,
        c_rows,
        PyArray1::from_vec(py, found.iter().map(|c| c.shown).collect()),
        PyArray1::from_vec(py, found.iter().map(|c| c.share).collect()),
        PyArray1::from_vec(py, found.iter().map(|c| c.union).collect()),
        PyArray1::from_vec(py, found.iter().map(|c| c.union_shown).collect()),
    ))
}

/// `-ln p` of `k` or more of `d` at rate `mu / d` by the Chernoff bound of the binomial tail
/// (0 when `k <= mu`): the statistic of `pattern_tests`, for the detectors' own tests.
#[pyfunction]
fn chernoff(k: f64, d: f64, mu: f64) -> f64 {
    core::assoc::chernoff(k, d, mu)
}

/// How much stronger `k` rows showing a value are judged row by row (the Chernoff bound of the
/// Poisson-binomial tail over the rows' rates `q`, each held within `[1 - sure, sure]`) than at
/// their mean rate (`chernoff(k, len(q), sum(q))`): at least 1.
#[pyfunction]
fn row_gain(k: f64, q: PyReadonlyArray1<'_, f64>, sure: f64) -> PyResult<f64> {
    Ok(core::assoc::row_gain(k, slice1(&q, "q")?, sure))
}

pub fn register_assoc(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(chernoff, m)?)?;
    m.add_function(wrap_pyfunction!(row_gain, m)?)?;
    m.add_function(wrap_pyfunction!(gather_lists, m)?)?;
    m.add_function(wrap_pyfunction!(scaffold_shares, m)?)?;
    m.add_function(wrap_pyfunction!(list_overlaps, m)?)?;
    m.add_function(wrap_pyfunction!(conjunction_search, m)?)?;
    m.add_function(wrap_pyfunction!(cluster_counterparts, m)?)?;
    m.add_function(wrap_pyfunction!(sample_keys, m)?)?;
    m.add_function(wrap_pyfunction!(response_phrases, m)?)?;
    m.add_function(wrap_pyfunction!(content_expectation, m)?)?;
    m.add_function(wrap_pyfunction!(label_surprise, m)?)?;
    m.add_function(wrap_pyfunction!(label_expectation, m)?)?;
    m.add_function(wrap_pyfunction!(counterpart_pairs, m)?)?;
    m.add_function(wrap_pyfunction!(edge_codes, m)?)?;
    m.add_function(wrap_pyfunction!(answer_overlap, m)?)?;
    m.add_function(wrap_pyfunction!(tone_counts, m)?)?;
    m.add_function(wrap_pyfunction!(row_hashes, m)?)?;
    m.add_function(wrap_pyfunction!(mine_features, m)?)?;
    m.add_function(wrap_pyfunction!(feature_carriers, m)?)?;
    m.add_function(wrap_pyfunction!(glued_fragments, m)?)?;
    m.add_function(wrap_pyfunction!(punctuation_runs, m)?)?;
    m.add_function(wrap_pyfunction!(pattern_tests, m)?)?;
    Ok(())
}
