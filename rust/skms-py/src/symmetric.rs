//! `skms._native.symmetric`: AEADs and MACs keyed by a `SecretBytes`, so
//! that no key is ever a Python `bytes` object (freed Python memory is not
//! wiped) nor a cached library context.
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use skms_core::symmetric::{Aead, Mac};

use crate::args;
use crate::error::NativeResult;
use crate::gil::maybe_without_gil;
use crate::secret::PySecretBytes;

fn aead(name: &str) -> NativeResult<Aead> {
    Ok(Aead::from_name(name)?)
}

fn mac_of(name: &str) -> NativeResult<Mac> {
    Ok(Mac::from_name(name)?)
}

/// `nonce ‖ ciphertext ‖ tag` of `plaintext` (`bytes` or `SecretBytes`) with a fresh random nonce.
#[pyfunction]
fn aead_encrypt<'py>(
    py: Python<'py>,
    algorithm: &str,
    key: &Bound<'py, PyAny>,
    plaintext: &Bound<'py, PyAny>,
    associated_data: &Bound<'py, PyAny>,
) -> NativeResult<Bound<'py, PyBytes>> {
    let aead = aead(algorithm)?;
    let k = args::secret(key, "key")?;
    let pt = args::secret(plaintext, "plaintext")?;
    let ad = args::bytes(associated_data, "associated data")?;
    let n = aead.nonce_size();
    let mut failure = None;
    // Encrypted straight into the result object: no second copy of the output.
    let out = PyBytes::new_with(py, aead.sealed_len(pt.len()), |buf| {
        buf[n..n + pt.len()].copy_from_slice(pt);
        if let Err(e) = maybe_without_gil(py, pt.len(), || aead.seal_in_place(k, buf, ad)) {
            buf.fill(0);
            failure = Some(e);
        }
        Ok(())
    })?;
    match failure {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// The plaintext of `nonce ‖ ciphertext ‖ tag`; `IntegrityError` for any altered byte.
#[pyfunction]
fn aead_decrypt<'py>(
    py: Python<'py>,
    algorithm: &str,
    key: &Bound<'py, PyAny>,
    ciphertext: &Bound<'py, PyAny>,
    associated_data: &Bound<'py, PyAny>,
) -> NativeResult<Bound<'py, PyBytes>> {
    let aead = aead(algorithm)?;
    let k = args::secret(key, "key")?;
    let blob = args::bytes(ciphertext, "ciphertext")?;
    let ad = args::bytes(associated_data, "associated data")?;
    let len = aead.opened_len(blob)?;
    let mut failure = None;
    let out = PyBytes::new_with(py, len, |buf| {
        if let Err(e) = maybe_without_gil(py, len, || aead.open_into(k, blob, ad, buf)) {
            failure = Some(e);
        }
        Ok(())
    })?;
    match failure {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// As `aead_decrypt`, into a `SecretBytes` (for wrapped keys: no plaintext on the Python heap).
#[pyfunction]
fn aead_decrypt_secret(
    py: Python<'_>,
    algorithm: &str,
    key: &Bound<'_, PyAny>,
    ciphertext: &Bound<'_, PyAny>,
    associated_data: &Bound<'_, PyAny>,
) -> NativeResult<PySecretBytes> {
    let aead = aead(algorithm)?;
    let k = args::secret(key, "key")?;
    let blob = args::bytes(ciphertext, "ciphertext")?;
    let ad = args::bytes(associated_data, "associated data")?;
    let plain = maybe_without_gil(py, blob.len(), || aead.open(k, blob, ad))?;
    Ok(PySecretBytes::wrap(skms_core::SecretBytes::new(plain)))
}

/// The tag of `data` under `key` (`hmac-sha256`, `hmac-sha512` or `blake3-keyed`).
#[pyfunction]
fn mac<'py>(
    py: Python<'py>,
    algorithm: &str,
    key: &Bound<'py, PyAny>,
    data: &Bound<'py, PyAny>,
) -> NativeResult<Bound<'py, PyBytes>> {
    let m = mac_of(algorithm)?;
    let k = args::secret(key, "key")?;
    let d = args::bytes(data, "data")?;
    let mut failure = None;
    let out = PyBytes::new_with(py, m.tag_size(), |buf| {
        if let Err(e) = maybe_without_gil(py, d.len(), || m.tag_into(k, &[d], buf)) {
            failure = Some(e);
        }
        Ok(())
    })?;
    match failure {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// True when `tag` is the tag of `data` (constant-time comparison).
#[pyfunction]
fn mac_verify(
    py: Python<'_>,
    algorithm: &str,
    key: &Bound<'_, PyAny>,
    data: &Bound<'_, PyAny>,
    tag: &Bound<'_, PyAny>,
) -> NativeResult<bool> {
    let m = mac_of(algorithm)?;
    let k = args::secret(key, "key")?;
    let d = args::bytes(data, "data")?;
    let t = args::bytes(tag, "tag")?;
    maybe_without_gil(py, d.len(), || m.verify(k, d, t))
}

/// The tag of `data` as a `SecretBytes` (a key derived by a MAC stays off the Python heap).
#[pyfunction]
fn mac_secret(
    py: Python<'_>,
    algorithm: &str,
    key: &Bound<'_, PyAny>,
    data: &Bound<'_, PyAny>,
) -> NativeResult<PySecretBytes> {
    let m = mac_of(algorithm)?;
    let k = args::secret(key, "key")?;
    let d = args::bytes(data, "data")?;
    let tag = maybe_without_gil(py, d.len(), || m.tag(k, &[d]))?;
    Ok(PySecretBytes::wrap(skms_core::SecretBytes::new(tag)))
}

/// AES key wrap (RFC 3394, or RFC 5649 with `padding`) of `key` (`bytes` or `SecretBytes`).
#[pyfunction]
fn key_wrap<'py>(
    py: Python<'py>,
    wrapping_key: &Bound<'py, PyAny>,
    key: &Bound<'py, PyAny>,
    padding: bool,
) -> NativeResult<Bound<'py, PyBytes>> {
    let kek = args::secret(wrapping_key, "wrapping_key")?;
    let k = args::secret(key, "key")?;
    let out = maybe_without_gil(py, k.len(), || {
        skms_core::symmetric::key_wrap(kek, k, padding)
    })?;
    Ok(PyBytes::new(py, &out))
}

/// The key in an RFC 3394 / RFC 5649 wrapping, as a `SecretBytes`; `IntegrityError` otherwise.
#[pyfunction]
fn key_unwrap_secret(
    py: Python<'_>,
    wrapping_key: &Bound<'_, PyAny>,
    wrapped: &Bound<'_, PyAny>,
    padding: bool,
) -> NativeResult<PySecretBytes> {
    let kek = args::secret(wrapping_key, "wrapping_key")?;
    let w = args::bytes(wrapped, "wrapped")?;
    let out = maybe_without_gil(py, w.len(), || {
        skms_core::symmetric::key_unwrap(kek, w, padding)
    })?;
    Ok(PySecretBytes::wrap(skms_core::SecretBytes::new(out)))
}

pub fn register(parent: &Bound<'_, PyModule>) -> PyResult<()> {
    let m = PyModule::new(parent.py(), "symmetric")?;
    m.add_function(wrap_pyfunction!(aead_encrypt, &m)?)?;
    m.add_function(wrap_pyfunction!(aead_decrypt, &m)?)?;
    m.add_function(wrap_pyfunction!(aead_decrypt_secret, &m)?)?;
    m.add_function(wrap_pyfunction!(mac, &m)?)?;
    m.add_function(wrap_pyfunction!(mac_verify, &m)?)?;
    m.add_function(wrap_pyfunction!(mac_secret, &m)?)?;
    m.add_function(wrap_pyfunction!(key_wrap, &m)?)?;
    m.add_function(wrap_pyfunction!(key_unwrap_secret, &m)?)?;
    crate::add_submodule(parent, &m)
}
