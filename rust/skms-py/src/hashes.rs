//! `skms._native.hashes`: the hashes wallet formats need (Keccak-256, HASH160, …).
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use skms_core::hashes as core;

use crate::args;
use crate::error::NativeResult;
use crate::gil::maybe_without_gil;

#[pyfunction]
fn keccak256<'py>(py: Python<'py>, data: &Bound<'py, PyAny>) -> NativeResult<Bound<'py, PyBytes>> {
    let d = args::bytes(data, "data")?;
    let out = maybe_without_gil(py, d.len(), || Ok(core::keccak256(d)))?;
    Ok(PyBytes::new(py, &out))
}

#[pyfunction]
fn hash160<'py>(py: Python<'py>, data: &Bound<'py, PyAny>) -> NativeResult<Bound<'py, PyBytes>> {
    let d = args::bytes(data, "data")?;
    let out = maybe_without_gil(py, d.len(), || Ok(core::hash160(d)))?;
    Ok(PyBytes::new(py, &out))
}

#[pyfunction]
fn sha256d<'py>(py: Python<'py>, data: &Bound<'py, PyAny>) -> NativeResult<Bound<'py, PyBytes>> {
    let d = args::bytes(data, "data")?;
    let out = maybe_without_gil(py, d.len(), || Ok(core::sha256d(d)))?;
    Ok(PyBytes::new(py, &out))
}

/// BIP340 tagged hash of `data` under `tag`.
#[pyfunction]
fn tagged_hash<'py>(
    py: Python<'py>,
    tag: &str,
    data: &Bound<'py, PyAny>,
) -> NativeResult<Bound<'py, PyBytes>> {
    let d = args::bytes(data, "data")?;
    let out = maybe_without_gil(py, d.len(), || Ok(core::tagged_hash(tag, &[d])))?;
    Ok(PyBytes::new(py, &out))
}

pub fn register(parent: &Bound<'_, PyModule>) -> PyResult<()> {
    let m = PyModule::new(parent.py(), "hashes")?;
    m.add_function(wrap_pyfunction!(keccak256, &m)?)?;
    m.add_function(wrap_pyfunction!(hash160, &m)?)?;
    m.add_function(wrap_pyfunction!(sha256d, &m)?)?;
    m.add_function(wrap_pyfunction!(tagged_hash, &m)?)?;
    crate::add_submodule(parent, &m)
}
