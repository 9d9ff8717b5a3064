//! Arrow string chunks handed over from Python as NumPy views of their buffers.

use numpy::PyReadonlyArray1;
use poisonscreen_core::{CoreError, StrColumn, Texts};
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

/// The chunks as one column of rows (`poisonscreen_core::Texts`), borrowed.
pub fn texts<'a>(chunks: &'a [Chunk<'_>]) -> PyResult<Texts<'a>> {
    let input = |e: numpy::AsSliceError| to_py(CoreError::Input(e.to_string()));
    let mut cols = Vec::with_capacity(chunks.len());
    for c in chunks {
        let offsets = c.offsets.as_slice().map_err(input)?;
        let data = c.data.as_slice().map_err(input)?;
        let validity = match &c.validity {
            Some(v) => Some(v.as_slice().map_err(input)?),
            None => None,
        };
        cols.push(StrColumn::new(offsets, data, validity, c.validity_offset).map_err(to_py)?);
    }
    Ok(Texts::new(cols))
}
