//! `CoreError` → the Python exception classes defined in `poisonscreen.exceptions`.
//!
//! The classes live in Python (importable without the compiled module); they are looked up once.

use poisonscreen_core::CoreError;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;

static INPUT_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static CONFIG_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();

fn class<'py>(
    py: Python<'py>,
    cell: &'static PyOnceLock<Py<PyType>>,
    name: &str,
) -> PyResult<Bound<'py, PyType>> {
    let ty = cell.get_or_try_init(py, || -> PyResult<Py<PyType>> {
        let module = py.import("poisonscreen.exceptions")?;
        Ok(module.getattr(name)?.cast_into::<PyType>()?.unbind())
    })?;
    Ok(ty.bind(py).clone())
}

fn raise(py: Python<'_>, cell: &'static PyOnceLock<Py<PyType>>, name: &str, msg: String) -> PyErr {
    match class(py, cell, name) {
        Ok(ty) => PyErr::from_type(ty, msg),
        // Only if the Python package is broken: still a ValueError with the message.
        Err(_) => PyValueError::new_err(msg),
    }
}

pub fn to_py(err: CoreError) -> PyErr {
    Python::attach(|py| match err {
        CoreError::Config(_) => raise(py, &CONFIG_ERROR, "ConfigError", err.to_string()),
        _ => raise(py, &INPUT_ERROR, "InputError", err.to_string()),
    })
}

pub fn config_error(msg: impl Into<String>) -> PyErr {
    to_py(CoreError::Config(msg.into()))
}
