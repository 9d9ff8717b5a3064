//! The polars expression plugin: `pl.col(...).poison.*` (see `poisonscreen/polars.py`).
//!
//! Each `#[polars_expr]` function is exported from this same shared library as a C symbol that
//! polars calls without the GIL. Inputs arrive as polars Series (strings as views); outputs keep
//! the input's length and name, and null rows stay null. Work on columns of more than one block
//! runs in parallel on this module's own pool, sized like polars' (`POLARS_MAX_THREADS`, else
//! every core), in blocks merged in row order, so results are identical for any thread count.
//! Bad arguments and dtypes are `polars_bail!` errors naming the argument; a panic is caught by
//! the generated wrapper and reported by polars as an error, never unwound across the FFI.

use std::sync::OnceLock;

use poisonscreen_core::{
    self as core, minhash::MAX_PERM, shingle::MAX_K, LshParams, MinHasher, NormalizeOptions, OwnedStrColumn,
    ShingleOptions, TokenMode,
};
use polars::prelude::*;
use polars_arrow::array::{FixedSizeListArray, PrimitiveArray};
use polars_arrow::bitmap::Bitmap;
use pyo3_polars::derive::polars_expr;
use rayon::prelude::*;
use serde::Deserialize;

/// Rows per block of parallel work (columns up to this size run on the calling thread).
const BLOCK: usize = 8192;

/// The plugin's worker pool, sized like polars' own.
fn pool() -> &'static rayon::ThreadPool {
    static POOL: OnceLock<rayon::ThreadPool> = OnceLock::new();
    POOL.get_or_init(|| {
        let n = std::env::var("POLARS_MAX_THREADS")
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|&n| n > 0)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .thread_name(|i| format!("poisonscreen-polars-{i}"))
            .build()
            .or_else(|_| rayon::ThreadPoolBuilder::new().num_threads(1).build())
            .expect("a one-thread pool can always be built")
    })
}

/// Run `f` on the pool when there is more than one block of work, else on this thread.
fn maybe_parallel<T: Send>(rows: usize, f: impl FnOnce() -> T + Send) -> T {
    if rows > BLOCK {
        pool().install(f)
    } else {
        f()
    }
}

// ---- arguments -------------------------------------------------------------------------------

fn default_true() -> bool {
    true
}

fn default_mode() -> String {
    "word".into()
}

/// Normalisation switches shared by most functions.
#[derive(Deserialize, Clone, Copy)]
struct Norm {
    #[serde(default = "default_true")]
    nfkc: bool,
    #[serde(default = "default_true")]
    casefold: bool,
    #[serde(default = "default_true")]
    collapse_whitespace: bool,
}

impl Norm {
    fn options(self) -> NormalizeOptions {
        NormalizeOptions {
            nfkc: self.nfkc,
            casefold: self.casefold,
            collapse_whitespace: self.collapse_whitespace,
        }
    }
}

#[derive(Deserialize)]
struct NormalizeKwargs {
    #[serde(flatten)]
    norm: Norm,
}

#[derive(Deserialize)]
struct TokenKwargs {
    #[serde(default = "default_mode")]
    mode: String,
    #[serde(flatten)]
    norm: Norm,
}

#[derive(Deserialize)]
struct NgramKwargs {
    #[serde(default = "default_ngram")]
    ngram: usize,
    #[serde(default = "default_mode")]
    mode: String,
    #[serde(flatten)]
    norm: Norm,
}

fn default_ngram() -> usize {
    5
}

#[derive(Deserialize)]
struct NgramHashKwargs {
    orders: Vec<usize>,
    #[serde(default = "default_mode")]
    mode: String,
    #[serde(default)]
    max_per_row: Option<usize>,
    #[serde(flatten)]
    norm: Norm,
}

#[derive(Deserialize)]
struct MinhashKwargs {
    num_perm: usize,
    /// The `u64` seed's bits as `i64`: pickle's integers above `i64::MAX` do not decode.
    seed: i64,
    ngram: usize,
    #[serde(default = "default_mode")]
    mode: String,
    #[serde(flatten)]
    norm: Norm,
}

#[derive(Deserialize)]
struct BandKwargs {
    #[serde(default)]
    threshold: Option<f64>,
    #[serde(default)]
    bands: Option<usize>,
    #[serde(default)]
    rows: Option<usize>,
}

#[derive(Deserialize)]
struct AnomalyKwargs {
    part: String,
    familiarity_sample: usize,
    familiarity_sample_mb: f64,
    #[serde(flatten)]
    norm: Norm,
}

impl AnomalyKwargs {
    /// The byte cap of the familiarity sample, as the screener computes it (`int(mb * 1e6)`).
    fn sample_bytes(&self) -> PolarsResult<u64> {
        let mb = self.familiarity_sample_mb;
        if !(mb.is_finite() && mb > 0.0) {
            polars_bail!(InvalidOperation: "familiarity_sample_mb must be a positive number, got {mb}");
        }
        Ok(((mb * 1e6) as u64).max(1))
    }
}

fn token_mode(mode: &str) -> PolarsResult<TokenMode> {
    match mode {
        "word" => Ok(TokenMode::Word),
        "char" => Ok(TokenMode::Char),
        other => polars_bail!(InvalidOperation: "mode must be 'word' or 'char', got {other:?}"),
    }
}

fn shingle_options(ngram: usize, mode: &str, norm: Norm) -> PolarsResult<ShingleOptions> {
    if ngram == 0 || ngram > MAX_K {
        polars_bail!(InvalidOperation: "ngram must be in 1..={MAX_K}, got {ngram}");
    }
    Ok(ShingleOptions { normalize: norm.options(), mode: token_mode(mode)?, k: ngram })
}

fn minhasher(k: &MinhashKwargs) -> PolarsResult<MinHasher> {
    if k.num_perm == 0 || k.num_perm > MAX_PERM {
        polars_bail!(InvalidOperation: "num_perm must be in 1..={MAX_PERM}, got {}", k.num_perm);
    }
    MinHasher::new(k.num_perm, k.seed as u64)
        .map_err(|e| polars_err!(InvalidOperation: "poison.minhash: {e}"))
}

// ---- inputs and outputs ----------------------------------------------------------------------

/// Check that the (single) input of `func` is text; `Null` (an all-null column) counts as text.
fn text_field<'a>(func: &str, fields: &'a [Field]) -> PolarsResult<&'a Field> {
    let [field] = fields else {
        polars_bail!(InvalidOperation: "poison.{func} takes one input column, got {}", fields.len());
    };
    match field.dtype() {
        DataType::String | DataType::Null => Ok(field),
        other => polars_bail!(
            SchemaMismatch: "poison.{func} needs a String column, but {:?} is {other}; cast it with .cast(pl.String)",
            field.name().as_str()
        ),
    }
}

/// The text input of `func` as a `StringChunked` (checked as in [`text_field`]).
fn text_input(func: &str, inputs: &[Series]) -> PolarsResult<StringChunked> {
    let fields: Vec<Field> = inputs.iter().map(|s| s.field().into_owned()).collect();
    text_field(func, &fields)?;
    Ok(inputs[0].cast(&DataType::String)?.str()?.clone())
}

/// Process the rows in blocks (in parallel for long columns), each block giving one Series,
/// concatenated in row order under `name`.
fn by_blocks(
    ca: &StringChunked,
    f: impl Fn(&[Option<&str>]) -> PolarsResult<Series> + Sync,
) -> PolarsResult<Series> {
    let texts: Vec<Option<&str>> = ca.iter().collect();
    let parts: Vec<Series> = if texts.len() <= BLOCK {
        vec![f(&texts)?]
    } else {
        maybe_parallel(texts.len(), || texts.par_chunks(BLOCK).map(&f).collect::<PolarsResult<Vec<_>>>())?
    };
    let mut parts = parts.into_iter();
    let mut out = parts.next().expect("by_blocks makes at least one block");
    for p in parts {
        out.append(&p)?;
    }
    Ok(out.rechunk().with_name(ca.name().clone()))
}

fn validity(texts: &[Option<&str>]) -> Option<Bitmap> {
    texts.iter().any(Option::is_none).then(|| texts.iter().map(Option::is_some).collect())
}

/// An `Array[inner, width]` Series from row-major values (`rows * width` of them).
fn array_series<T: polars_arrow::types::NativeType>(
    name: PlSmallStr,
    inner: DataType,
    width: usize,
    values: Vec<T>,
    validity: Option<Bitmap>,
) -> PolarsResult<Series> {
    let rows = values.len().checked_div(width).unwrap_or(0);
    let arrow_inner = inner.to_arrow(CompatLevel::newest());
    let arr = FixedSizeListArray::try_new(
        arrow_inner.clone().to_fixed_size_list(width, true),
        rows,
        PrimitiveArray::<T>::from_vec(values).boxed(),
        validity,
    )?;
    let dtype = DataType::Array(Box::new(inner), width);
    // SAFETY: the arrow array was built for exactly this dtype.
    Ok(unsafe { Series::from_chunks_and_dtype_unchecked(name, vec![arr.boxed()], &dtype) })
}

// ---- elementwise expressions -----------------------------------------------------------------

fn string_output(inputs: &[Field]) -> PolarsResult<Field> {
    let f = text_field("normalize", inputs)?;
    Ok(Field::new(f.name().clone(), DataType::String))
}

/// NFKC, case folding and whitespace collapse (each switchable), as `poisonscreen` normalises.
#[polars_expr(output_type_func=string_output)]
fn poison_normalize(inputs: &[Series], kwargs: NormalizeKwargs) -> PolarsResult<Series> {
    let ca = text_input("normalize", inputs)?;
    let opts = kwargs.norm.options();
    by_blocks(&ca, |rows| {
        let out: StringChunked =
            rows.iter().map(|t| t.map(|t| core::normalize(t, &opts).into_owned())).collect();
        Ok(out.into_series())
    })
}

fn list_string_output(inputs: &[Field]) -> PolarsResult<Field> {
    let f = text_field("tokens", inputs)?;
    Ok(Field::new(f.name().clone(), DataType::List(Box::new(DataType::String))))
}

fn list_strings(rows: &[Option<&str>], each: impl Fn(&str) -> Vec<String>) -> Series {
    let mut b = ListStringChunkedBuilder::new(PlSmallStr::EMPTY, rows.len(), rows.len() * 8);
    for t in rows {
        match t {
            Some(t) => b.append_values_iter(each(t).iter().map(String::as_str)),
            None => b.append_null(),
        }
    }
    b.finish().into_series()
}

/// The tokens of the normalised text: UAX #29 words (or characters).
#[polars_expr(output_type_func=list_string_output)]
fn poison_tokens(inputs: &[Series], kwargs: TokenKwargs) -> PolarsResult<Series> {
    let ca = text_input("tokens", inputs)?;
    let mode = token_mode(&kwargs.mode)?;
    let opts = kwargs.norm.options();
    by_blocks(&ca, |rows| {
        Ok(list_strings(rows, |t| {
            let norm = core::normalize(t, &opts);
            core::tokenize(&norm, mode).into_iter().map(str::to_owned).collect()
        }))
    })
}

/// The n-gram strings MinHash hashes (short texts: one n-gram of all their tokens).
#[polars_expr(output_type_func=list_string_output)]
fn poison_ngrams(inputs: &[Series], kwargs: NgramKwargs) -> PolarsResult<Series> {
    let ca = text_input("ngrams", inputs)?;
    let opts = shingle_options(kwargs.ngram, &kwargs.mode, kwargs.norm)?;
    by_blocks(&ca, |rows| Ok(list_strings(rows, |t| core::ngram_strings(t, &opts))))
}

fn ngram_hashes_output(inputs: &[Field]) -> PolarsResult<Field> {
    let f = text_field("ngram_hashes", inputs)?;
    Ok(Field::new(f.name().clone(), DataType::List(Box::new(DataType::UInt64))))
}

/// The distinct n-gram hashes of each row (all `orders`), sorted: the hashes of
/// `poisonscreen.ngram_frequencies`.
#[polars_expr(output_type_func=ngram_hashes_output)]
fn poison_ngram_hashes(inputs: &[Series], kwargs: NgramHashKwargs) -> PolarsResult<Series> {
    let ca = text_input("ngram_hashes", inputs)?;
    if kwargs.orders.is_empty() {
        polars_bail!(InvalidOperation: "orders must not be empty");
    }
    let per_order = kwargs
        .orders
        .iter()
        .map(|&k| shingle_options(k, &kwargs.mode, kwargs.norm))
        .collect::<PolarsResult<Vec<_>>>()?;
    by_blocks(&ca, |rows| {
        let mut b = ListPrimitiveChunkedBuilder::<UInt64Type>::new(
            PlSmallStr::EMPTY,
            rows.len(),
            rows.len() * 16,
            DataType::UInt64,
        );
        let (mut buf, mut set) = (Vec::new(), Vec::new());
        for t in rows {
            let Some(t) = t else {
                b.append_null();
                continue;
            };
            set.clear();
            for opts in &per_order {
                core::shingle_hashes(t, opts, &mut buf);
                set.extend_from_slice(&buf);
            }
            set.sort_unstable();
            set.dedup();
            if let Some(m) = kwargs.max_per_row {
                set.truncate(m);
            }
            b.append_slice(&set);
        }
        Ok(b.finish().into_series())
    })
}

fn minhash_output(inputs: &[Field], kwargs: MinhashKwargs) -> PolarsResult<Field> {
    let f = text_field("minhash", inputs)?;
    shingle_options(kwargs.ngram, &kwargs.mode, kwargs.norm)?;
    minhasher(&kwargs)?;
    Ok(Field::new(f.name().clone(), DataType::Array(Box::new(DataType::UInt32), kwargs.num_perm)))
}

/// MinHash signatures, `Array[UInt32, num_perm]`, bit-identical to `poisonscreen.minhash`.
#[polars_expr(output_type_func_with_kwargs=minhash_output)]
fn poison_minhash(inputs: &[Series], kwargs: MinhashKwargs) -> PolarsResult<Series> {
    let ca = text_input("minhash", inputs)?;
    let opts = shingle_options(kwargs.ngram, &kwargs.mode, kwargs.norm)?;
    let hasher = minhasher(&kwargs)?;
    let p = kwargs.num_perm;
    let texts: Vec<Option<&str>> = ca.iter().collect();
    let mut flat = vec![u32::MAX; texts.len() * p];
    let sign = |(block, out): (usize, &mut [u32])| {
        let (mut toks, mut sh) = (Vec::new(), Vec::new());
        for (j, sig) in out.chunks_mut(p).enumerate() {
            if let Some(t) = texts[block * BLOCK + j] {
                core::shingle_hashes_with(t, &opts, &mut toks, &mut sh);
                hasher.signature_into(&sh, sig);
            }
        }
    };
    maybe_parallel(texts.len(), || flat.par_chunks_mut(BLOCK * p).enumerate().for_each(sign));
    array_series(ca.name().clone(), DataType::UInt32, p, flat, validity(&texts))
}

/// `(bands, rows)` from the keyword arguments and the signature width.
fn band_params(k: &BandKwargs, num_perm: usize) -> PolarsResult<LshParams> {
    let err = |e: core::CoreError| polars_err!(InvalidOperation: "poison.band_keys: {e}");
    match (k.bands, k.rows, k.threshold) {
        (Some(b), Some(r), _) => LshParams::new(b, r, num_perm).map_err(err),
        (None, None, Some(t)) => LshParams::from_threshold(t, num_perm).map_err(err),
        (None, None, None) => {
            polars_bail!(InvalidOperation: "poison.band_keys: give a threshold= or bands= and rows=")
        }
        _ => polars_bail!(InvalidOperation: "poison.band_keys: give both bands= and rows=, or a threshold="),
    }
}

/// The width of a signature column: `Array[UInt32, num_perm]`.
fn signature_width(fields: &[Field]) -> PolarsResult<(PlSmallStr, usize)> {
    let [field] = fields else {
        polars_bail!(InvalidOperation: "poison.band_keys takes one input column, got {}", fields.len());
    };
    match field.dtype() {
        DataType::Array(inner, width) if **inner == DataType::UInt32 => Ok((field.name().clone(), *width)),
        other => polars_bail!(
            SchemaMismatch: "poison.band_keys needs a MinHash signature column (Array[UInt32, num_perm], from .poison.minhash()), but {:?} is {other}",
            field.name().as_str()
        ),
    }
}

fn band_keys_output(inputs: &[Field], kwargs: BandKwargs) -> PolarsResult<Field> {
    let (name, width) = signature_width(inputs)?;
    let params = band_params(&kwargs, width)?;
    Ok(Field::new(name, DataType::Array(Box::new(DataType::UInt64), params.bands)))
}

/// LSH band keys of MinHash signatures, `Array[UInt64, bands]`: the keys of
/// `poisonscreen.band_keys`, one array per row.
#[polars_expr(output_type_func_with_kwargs=band_keys_output)]
fn poison_band_keys(inputs: &[Series], kwargs: BandKwargs) -> PolarsResult<Series> {
    let fields: Vec<Field> = inputs.iter().map(|s| s.field().into_owned()).collect();
    let (name, p) = signature_width(&fields)?;
    let params = band_params(&kwargs, p)?;
    let sigs = inputs[0].array()?.rechunk();
    let n = sigs.len();
    let row_valid: Vec<bool> = sigs.is_not_null().iter().map(|v| v == Some(true)).collect();
    let values = sigs.get_inner();
    let values = values.u32()?.rechunk();
    // the raw values (those of null rows are ignored; a null inside a valid row is an error)
    let flat: &[u32] = values.downcast_iter().next().map_or(&[], |a| a.values().as_slice());
    if flat.len() != n * p {
        polars_bail!(ComputeError: "poison.band_keys: {} signature values for {n} rows of {p}", flat.len());
    }
    if values.null_count() > 0 {
        let inner_null: Vec<bool> = values.is_null().iter().map(|v| v != Some(false)).collect();
        if let Some(r) = (0..n).find(|&r| row_valid[r] && inner_null[r * p..(r + 1) * p].iter().any(|&x| x)) {
            polars_bail!(
                ComputeError: "poison.band_keys: row {r} of {:?} has null signature values; signature values must not be null",
                name.as_str()
            );
        }
    }
    let valid: Option<Bitmap> = (sigs.null_count() > 0).then(|| row_valid.iter().copied().collect());
    let keys = maybe_parallel(n, || core::band_keys(flat, p, params));
    array_series(name, DataType::UInt64, params.bands, keys, valid)
}

const STAT_FIELDS: [&str; 7] =
    ["chars", "words", "char_entropy", "repetition", "non_alnum", "compressibility", "unique_word_ratio"];

fn stats_dtype() -> DataType {
    let ty = |i: usize| if i < 2 { DataType::UInt32 } else { DataType::Float32 };
    DataType::Struct(STAT_FIELDS.iter().enumerate().map(|(i, n)| Field::new((*n).into(), ty(i))).collect())
}

fn text_stats_output(inputs: &[Field]) -> PolarsResult<Field> {
    let f = text_field("text_stats", inputs)?;
    Ok(Field::new(f.name().clone(), stats_dtype()))
}

/// Per-row text statistics as a struct (the columns of `poisonscreen.text_stats`).
#[polars_expr(output_type_func=text_stats_output)]
fn poison_text_stats(inputs: &[Series]) -> PolarsResult<Series> {
    let ca = text_input("text_stats", inputs)?;
    by_blocks(&ca, |rows| {
        let stats: Vec<core::TextStats> =
            rows.iter().map(|t| core::text_stats(t.unwrap_or_default())).collect();
        let u = |name: &str, f: fn(&core::TextStats) -> u32| {
            Series::from_vec(name.into(), stats.iter().map(f).collect::<Vec<u32>>())
        };
        let x = |name: &str, f: fn(&core::TextStats) -> f32| {
            Series::from_vec(name.into(), stats.iter().map(f).collect::<Vec<f32>>())
        };
        let fields = [
            u("chars", |s| s.chars),
            u("words", |s| s.words),
            x("char_entropy", |s| s.char_entropy),
            x("repetition", |s| s.repetition),
            x("non_alnum", |s| s.non_alnum),
            x("compressibility", |s| s.compressibility),
            x("unique_word_ratio", |s| s.unique_word_ratio),
        ];
        let out = StructChunked::from_series(PlSmallStr::EMPTY, rows.len(), fields.iter())?
            .with_outer_validity(validity(rows));
        Ok(out.into_series())
    })
}

// ---- column-relative expressions -------------------------------------------------------------

fn anomaly_output(inputs: &[Field], kwargs: AnomalyKwargs) -> PolarsResult<Field> {
    let f = text_field(&kwargs.part, inputs)?;
    anomaly_part(&kwargs.part)?;
    if kwargs.familiarity_sample == 0 {
        polars_bail!(InvalidOperation: "familiarity_sample must be at least 1");
    }
    kwargs.sample_bytes()?;
    Ok(Field::new(f.name().clone(), DataType::Float32))
}

fn anomaly_part(part: &str) -> PolarsResult<fn(&core::RowAnomaly) -> f32> {
    Ok(match part {
        "familiarity" => |a| a.familiarity,
        "gibberish" => |a| a.gibberish,
        "degenerate" => |a| a.degenerate,
        "anomaly_score" => |a| a.anomaly,
        other => polars_bail!(InvalidOperation: "unknown anomaly part {other:?}"),
    })
}

/// The screener's per-row response-anomaly parts, scored against the whole input (the column,
/// or the group in `over` / `group_by`): not elementwise.
#[polars_expr(output_type_func_with_kwargs=anomaly_output)]
fn poison_anomaly(inputs: &[Series], kwargs: AnomalyKwargs) -> PolarsResult<Series> {
    let ca = text_input(&kwargs.part, inputs)?;
    let get = anomaly_part(&kwargs.part)?;
    let texts: Vec<Option<&str>> = ca.iter().collect();
    let owned = OwnedStrColumn::from_strs(&texts);
    let cols = core::Texts::new(vec![owned.view()]);
    let sample_bytes = kwargs.sample_bytes()?;
    let rows = maybe_parallel(texts.len(), || {
        core::response_anomalies(&cols, kwargs.norm.options(), kwargs.familiarity_sample, sample_bytes)
    })
    .map_err(|e| polars_err!(ComputeError: "poison.{}: {e}", kwargs.part))?;
    let out: Float32Chunked = rows.iter().map(|r| r.as_ref().map(get)).collect();
    Ok(out.with_name(ca.name().clone()).into_series())
}
