//! Python bindings of `poisonscreen-core`.
//!
//! Thin by design: every function converts its arguments, releases the GIL (`py.detach`) while the
//! core works on borrowed Arrow/NumPy buffers, and maps `CoreError` to the exception classes of
//! `poisonscreen.exceptions`. Text columns arrive as lists of Arrow `large_string` chunks, each a
//! tuple `(offsets: int64[n+1], data: uint8[], validity: uint8[] | None, validity_offset: int)`,
//! viewed without copying per row.
//!
//! The same library is the polars expression plugin (`plugin`): polars loads it by path and calls
//! its exported `_polars_plugin_*` symbols, so there is one compiled extension per package.

mod chunks;
mod errors;
mod functions;
mod plugin;

use pyo3::prelude::*;

#[pymodule]
fn _poisonscreen(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    functions::register(m)?;
    functions::register_mining(m)?;
    functions::register_similarity(m)?;
    functions::register_assoc(m)?;
    Ok(())
}
