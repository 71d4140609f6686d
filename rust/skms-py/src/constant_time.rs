//! Constant-time comparison (`skms.hazmat.constant_time`).
use pyo3::prelude::*;

use crate::args;
use crate::error::NativeResult;

/// True when `a` and `b` are equal; the time taken depends only on the lengths.
#[pyfunction]
fn bytes_eq(a: &Bound<'_, PyAny>, b: &Bound<'_, PyAny>) -> NativeResult<bool> {
    Ok(skms_core::constant_time::bytes_eq(
        args::secret(a, "a")?,
        args::secret(b, "b")?,
    ))
}

pub fn register(parent: &Bound<'_, PyModule>) -> PyResult<()> {
    let m = PyModule::new(parent.py(), "constant_time")?;
    m.add_function(wrap_pyfunction!(bytes_eq, &m)?)?;
    crate::add_submodule(parent, &m)
}
