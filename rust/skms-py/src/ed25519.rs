//! `skms._native.ed25519`: RFC 8032 Ed25519 with strict verification, and batches.
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};
use skms_core::ed25519 as core;

use crate::args;
use crate::error::NativeResult;
use crate::gil::without_gil;
use crate::secret::PySecretBytes;

#[pyfunction]
fn generate_private_key() -> PySecretBytes {
    PySecretBytes::wrap(core::generate_private_key())
}

#[pyfunction]
fn public_key<'py>(
    py: Python<'py>,
    private_key: &Bound<'py, PyAny>,
) -> NativeResult<Bound<'py, PyBytes>> {
    let sk = args::secret(private_key, "private_key")?;
    let out = without_gil(py, || core::public_key(sk))?;
    Ok(PyBytes::new(py, &out))
}

#[pyfunction]
fn sign<'py>(
    py: Python<'py>,
    private_key: &Bound<'py, PyAny>,
    message: &Bound<'py, PyAny>,
) -> NativeResult<Bound<'py, PyBytes>> {
    let sk = args::secret(private_key, "private_key")?;
    let m = args::bytes(message, "message")?;
    let out = without_gil(py, || core::sign(sk, m))?;
    Ok(PyBytes::new(py, &out))
}

#[pyfunction]
fn verify(
    py: Python<'_>,
    public_key: &Bound<'_, PyAny>,
    message: &Bound<'_, PyAny>,
    signature: &Bound<'_, PyAny>,
) -> NativeResult<bool> {
    let pk = args::bytes(public_key, "public_key")?;
    let m = args::bytes(message, "message")?;
    let s = args::bytes(signature, "signature")?;
    without_gil(py, || core::verify(pk, m, s))
}

#[pyfunction]
fn sign_batch<'py>(
    py: Python<'py>,
    private_key: &Bound<'py, PyAny>,
    messages: &Bound<'py, PyAny>,
) -> NativeResult<Bound<'py, PyList>> {
    let sk = args::secret(private_key, "private_key")?;
    let items = args::bytes_seq(messages, "messages")?;
    let ms: Vec<&[u8]> = items.iter().map(|b| b.as_bytes()).collect();
    let out = without_gil(py, || core::sign_batch(sk, &ms))?;
    Ok(args::bytes_list(py, &out)?)
}

#[pyfunction]
fn verify_batch(
    py: Python<'_>,
    public_keys: &Bound<'_, PyAny>,
    messages: &Bound<'_, PyAny>,
    signatures: &Bound<'_, PyAny>,
) -> NativeResult<Vec<bool>> {
    let items = args::bytes_seq(messages, "messages")?;
    let ms: Vec<&[u8]> = items.iter().map(|b| b.as_bytes()).collect();
    let sigs = args::vec_seq(signatures, "signatures")?;
    if let Ok(one) = public_keys.downcast::<PyBytes>() {
        let pk = one.as_bytes();
        without_gil(py, || {
            core::verify_batch(core::BatchKeys::One(pk), &ms, &sigs)
        })
    } else {
        let pks = args::vec_seq(public_keys, "public_keys")?;
        without_gil(py, || {
            core::verify_batch(core::BatchKeys::Each(&pks), &ms, &sigs)
        })
    }
}

pub fn register(parent: &Bound<'_, PyModule>) -> PyResult<()> {
    let m = PyModule::new(parent.py(), "ed25519")?;
    m.add_function(wrap_pyfunction!(generate_private_key, &m)?)?;
    m.add_function(wrap_pyfunction!(public_key, &m)?)?;
    m.add_function(wrap_pyfunction!(sign, &m)?)?;
    m.add_function(wrap_pyfunction!(verify, &m)?)?;
    m.add_function(wrap_pyfunction!(sign_batch, &m)?)?;
    m.add_function(wrap_pyfunction!(verify_batch, &m)?)?;
    crate::add_submodule(parent, &m)
}
