//! Arrow string chunks handed over from Python as NumPy views of their buffers.

use numpy::PyReadonlyArray1;
use poisonscreen_core::{CoreError, StrColumn};
use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::errors::to_py;

/// One chunk as Python passes it: `(offsets, data, validity, validity_offset)`.
pub struct Chunk<'py> {
    offsets: PyReadonlyArray1<'py, i64>,
    data: PyReadonlyArray1<'py, u8>,
    validity: Option<PyReadonlyArray1<'py, u8>>,
    validity_offset: usize,
}

pub fn extract<'py>(chunks: &Bound<'py, PyList>) -> PyResult<Vec<Chunk<'py>>> {
    chunks
        .iter()
        .map(|item| {
            let (offsets, data, validity, validity_offset) = item.extract::<(
                PyReadonlyArray1<'py, i64>,
                PyReadonlyArray1<'py, u8>,
                Option<PyReadonlyArray1<'py, u8>>,
                usize,
            )>()?;
            Ok(Chunk { offsets, data, validity, validity_offset })
        })
        .collect()
}

/// A column view of every chunk, with the global row index each chunk starts at.
pub struct Columns<'a> {
    pub cols: Vec<StrColumn<'a>>,
    pub starts: Vec<usize>,
    pub rows: usize,
}

impl<'a> Columns<'a> {
    pub fn new(chunks: &'a [Chunk<'_>]) -> PyResult<Self> {
        let mut cols = Vec::with_capacity(chunks.len());
        let mut starts = Vec::with_capacity(chunks.len());
        let mut rows = 0usize;
        for c in chunks {
            let offsets = c.offsets.as_slice().map_err(|e| to_py(CoreError::Input(e.to_string())))?;
            let data = c.data.as_slice().map_err(|e| to_py(CoreError::Input(e.to_string())))?;
            let validity = match &c.validity {
                Some(v) => Some(v.as_slice().map_err(|e| to_py(CoreError::Input(e.to_string())))?),
                None => None,
            };
            let col = StrColumn::new(offsets, data, validity, c.validity_offset).map_err(to_py)?;
            starts.push(rows);
            rows += col.len();
            cols.push(col);
        }
        Ok(Columns { cols, starts, rows })
    }

    /// Shift a chunk-local row number in an error to the global row number.
    pub fn globalise(&self, chunk: usize, err: CoreError) -> CoreError {
        match err {
            CoreError::InvalidUtf8 { row, byte } => {
                CoreError::InvalidUtf8 { row: row + self.starts[chunk], byte }
            }
            other => other,
        }
    }

    /// The text of a global row (None for null).
    pub fn get(&self, row: usize) -> Result<Option<&'a str>, CoreError> {
        let chunk = match self.starts.binary_search(&row) {
            Ok(i) => {
                // Several empty chunks may start at the same row: take the last with that start.
                let mut i = i;
                while i + 1 < self.starts.len() && self.starts[i + 1] == row {
                    i += 1;
                }
                i
            }
            Err(i) => i - 1,
        };
        let col = self.cols.get(chunk).ok_or_else(|| CoreError::Input(format!("row {row} out of range")))?;
        col.get(row - self.starts[chunk]).map_err(|e| self.globalise(chunk, e))
    }
}
