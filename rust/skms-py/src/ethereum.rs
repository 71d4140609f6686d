//! `skms._native.ethereum`: EIP-191 and EIP-712 digests.
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use skms_core::ethereum as core;

use crate::args;
use crate::error::NativeResult;

#[pyfunction]
fn personal_message_digest<'py>(
    py: Python<'py>,
    message: &Bound<'py, PyAny>,
) -> NativeResult<Bound<'py, PyBytes>> {
    Ok(PyBytes::new(
        py,
        &core::personal_message_digest(args::bytes(message, "message")?),
    ))
}

#[pyfunction]
fn eip712_digest<'py>(
    py: Python<'py>,
    domain_separator: &Bound<'py, PyAny>,
    struct_hash: &Bound<'py, PyAny>,
) -> NativeResult<Bound<'py, PyBytes>> {
    let ds = args::bytes(domain_separator, "domain_separator")?;
    let sh = args::bytes(struct_hash, "struct_hash")?;
    Ok(PyBytes::new(py, &core::eip712_digest(ds, sh)?))
}

pub fn register(parent: &Bound<'_, PyModule>) -> PyResult<()> {
    let m = PyModule::new(parent.py(), "ethereum")?;
    m.add_function(wrap_pyfunction!(personal_message_digest, &m)?)?;
    m.add_function(wrap_pyfunction!(eip712_digest, &m)?)?;
    crate::add_submodule(parent, &m)
}
