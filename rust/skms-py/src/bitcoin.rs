//! `skms._native.bitcoin`: the taproot tweak and BIP137 message signatures.
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use skms_core::address::BitcoinKind;
use skms_core::bitcoin as core;

use crate::args;
use crate::error::NativeResult;
use crate::gil::without_gil;
use crate::secret::PySecretBytes;

#[pyfunction]
#[pyo3(signature = (internal_key, merkle_root = None))]
fn taproot_output_key<'py>(
    py: Python<'py>,
    internal_key: &Bound<'py, PyAny>,
    merkle_root: Option<&Bound<'py, PyAny>>,
) -> NativeResult<Bound<'py, PyBytes>> {
    let k = args::bytes(internal_key, "internal_key")?;
    let r = args::optional_bytes(merkle_root, "merkle_root")?;
    let out = without_gil(py, || core::taproot_output_key(k, r))?;
    Ok(PyBytes::new(py, &out))
}

#[pyfunction]
#[pyo3(signature = (private_key, merkle_root = None))]
fn taproot_tweak_private_key(
    py: Python<'_>,
    private_key: &Bound<'_, PyAny>,
    merkle_root: Option<&Bound<'_, PyAny>>,
) -> NativeResult<PySecretBytes> {
    let sk = args::secret(private_key, "private_key")?;
    let r = args::optional_bytes(merkle_root, "merkle_root")?;
    Ok(PySecretBytes::wrap(without_gil(py, || {
        core::taproot_tweak_private_key(sk, r)
    })?))
}

#[pyfunction]
fn message_digest<'py>(
    py: Python<'py>,
    message: &Bound<'py, PyAny>,
) -> NativeResult<Bound<'py, PyBytes>> {
    Ok(PyBytes::new(
        py,
        &core::message_digest(args::bytes(message, "message")?),
    ))
}

/// header ‖ r ‖ s of a BIP137 signature.
#[pyfunction]
#[pyo3(signature = (private_key, message, kind = "p2pkh"))]
fn sign_message<'py>(
    py: Python<'py>,
    private_key: &Bound<'py, PyAny>,
    message: &Bound<'py, PyAny>,
    kind: &str,
) -> NativeResult<Bound<'py, PyBytes>> {
    let sk = args::secret(private_key, "private_key")?;
    let m = args::bytes(message, "message")?;
    let k = BitcoinKind::parse(kind)?;
    let out = without_gil(py, || core::sign_message(sk, m, k))?;
    Ok(PyBytes::new(py, &out))
}

#[pyfunction]
fn recover_message_key<'py>(
    py: Python<'py>,
    message: &Bound<'py, PyAny>,
    signature: &Bound<'py, PyAny>,
) -> NativeResult<Bound<'py, PyBytes>> {
    let m = args::bytes(message, "message")?;
    let s = args::bytes(signature, "signature")?;
    let out = without_gil(py, || core::recover_message_key(m, s))?;
    Ok(PyBytes::new(py, &out))
}

pub fn register(parent: &Bound<'_, PyModule>) -> PyResult<()> {
    let m = PyModule::new(parent.py(), "bitcoin")?;
    m.add_function(wrap_pyfunction!(taproot_output_key, &m)?)?;
    m.add_function(wrap_pyfunction!(taproot_tweak_private_key, &m)?)?;
    m.add_function(wrap_pyfunction!(message_digest, &m)?)?;
    m.add_function(wrap_pyfunction!(sign_message, &m)?)?;
    m.add_function(wrap_pyfunction!(recover_message_key, &m)?)?;
    crate::add_submodule(parent, &m)
}
