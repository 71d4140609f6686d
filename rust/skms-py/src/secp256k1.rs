//! `skms._native.secp256k1`: ECDSA, recoverable signatures, BIP340 Schnorr,
//! ECDH and batches.
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};
use skms_core::secp256k1 as core;

use crate::args;
use crate::error::NativeResult;
use crate::gil::without_gil;
use crate::secret::PySecretBytes;

#[pyfunction]
fn generate_private_key() -> PySecretBytes {
    PySecretBytes::wrap(core::generate_private_key())
}

#[pyfunction]
#[pyo3(signature = (private_key, compressed = true))]
fn public_key<'py>(
    py: Python<'py>,
    private_key: &Bound<'py, PyAny>,
    compressed: bool,
) -> NativeResult<Bound<'py, PyBytes>> {
    let sk = args::secret(private_key, "private_key")?;
    let out = without_gil(py, || core::public_key(sk, compressed))?;
    Ok(PyBytes::new(py, &out))
}

#[pyfunction]
#[pyo3(signature = (public_key, compressed = true))]
fn convert_public_key<'py>(
    py: Python<'py>,
    public_key: &Bound<'py, PyAny>,
    compressed: bool,
) -> NativeResult<Bound<'py, PyBytes>> {
    let pk = args::bytes(public_key, "public_key")?;
    let out = without_gil(py, || core::convert_public_key(pk, compressed))?;
    Ok(PyBytes::new(py, &out))
}

#[pyfunction]
fn xonly_public_key<'py>(
    py: Python<'py>,
    private_key: &Bound<'py, PyAny>,
) -> NativeResult<Bound<'py, PyBytes>> {
    let sk = args::secret(private_key, "private_key")?;
    let out = without_gil(py, || core::xonly_public_key(sk))?;
    Ok(PyBytes::new(py, &out))
}

#[pyfunction]
fn sign<'py>(
    py: Python<'py>,
    private_key: &Bound<'py, PyAny>,
    digest: &Bound<'py, PyAny>,
) -> NativeResult<Bound<'py, PyBytes>> {
    let sk = args::secret(private_key, "private_key")?;
    let d = args::bytes(digest, "digest")?;
    let out = without_gil(py, || core::sign(sk, d))?;
    Ok(PyBytes::new(py, &out))
}

#[pyfunction]
fn sign_der<'py>(
    py: Python<'py>,
    private_key: &Bound<'py, PyAny>,
    digest: &Bound<'py, PyAny>,
) -> NativeResult<Bound<'py, PyBytes>> {
    let sk = args::secret(private_key, "private_key")?;
    let d = args::bytes(digest, "digest")?;
    let out = without_gil(py, || core::sign_der(sk, d))?;
    Ok(PyBytes::new(py, &out))
}

#[pyfunction]
fn sign_recoverable<'py>(
    py: Python<'py>,
    private_key: &Bound<'py, PyAny>,
    digest: &Bound<'py, PyAny>,
) -> NativeResult<Bound<'py, PyBytes>> {
    let sk = args::secret(private_key, "private_key")?;
    let d = args::bytes(digest, "digest")?;
    let out = without_gil(py, || core::sign_recoverable(sk, d))?;
    Ok(PyBytes::new(py, &out))
}

#[pyfunction]
#[pyo3(signature = (digest, signature, compressed = true))]
fn recover<'py>(
    py: Python<'py>,
    digest: &Bound<'py, PyAny>,
    signature: &Bound<'py, PyAny>,
    compressed: bool,
) -> NativeResult<Bound<'py, PyBytes>> {
    let d = args::bytes(digest, "digest")?;
    let s = args::bytes(signature, "signature")?;
    let out = without_gil(py, || core::recover(d, s, compressed))?;
    Ok(PyBytes::new(py, &out))
}

#[pyfunction]
#[pyo3(signature = (public_key, digest, signature, allow_high_s = false))]
fn verify(
    py: Python<'_>,
    public_key: &Bound<'_, PyAny>,
    digest: &Bound<'_, PyAny>,
    signature: &Bound<'_, PyAny>,
    allow_high_s: bool,
) -> NativeResult<bool> {
    let pk = args::bytes(public_key, "public_key")?;
    let d = args::bytes(digest, "digest")?;
    let s = args::bytes(signature, "signature")?;
    without_gil(py, || core::verify(pk, d, s, allow_high_s))
}

#[pyfunction]
#[pyo3(signature = (private_key, message, aux_rand = None))]
fn schnorr_sign<'py>(
    py: Python<'py>,
    private_key: &Bound<'py, PyAny>,
    message: &Bound<'py, PyAny>,
    aux_rand: Option<&Bound<'py, PyAny>>,
) -> NativeResult<Bound<'py, PyBytes>> {
    let sk = args::secret(private_key, "private_key")?;
    let m = args::bytes(message, "message")?;
    let aux = args::optional_bytes(aux_rand, "aux_rand")?;
    let out = without_gil(py, || core::schnorr_sign(sk, m, aux))?;
    Ok(PyBytes::new(py, &out))
}

#[pyfunction]
fn schnorr_verify(
    py: Python<'_>,
    public_key: &Bound<'_, PyAny>,
    message: &Bound<'_, PyAny>,
    signature: &Bound<'_, PyAny>,
) -> NativeResult<bool> {
    let pk = args::bytes(public_key, "public_key")?;
    let m = args::bytes(message, "message")?;
    let s = args::bytes(signature, "signature")?;
    without_gil(py, || core::schnorr_verify(pk, m, s))
}

#[pyfunction]
fn ecdh<'py>(
    py: Python<'py>,
    private_key: &Bound<'py, PyAny>,
    public_key: &Bound<'py, PyAny>,
) -> NativeResult<PySecretBytes> {
    let sk = args::secret(private_key, "private_key")?;
    let pk = args::bytes(public_key, "public_key")?;
    let shared = without_gil(py, || core::ecdh(sk, pk))?;
    Ok(PySecretBytes::wrap(skms_core::SecretBytes::from_slice(
        &shared,
    )))
}

#[pyfunction]
fn sign_batch<'py>(
    py: Python<'py>,
    private_key: &Bound<'py, PyAny>,
    digests: &Bound<'py, PyAny>,
) -> NativeResult<Bound<'py, PyList>> {
    let sk = args::secret(private_key, "private_key")?;
    let ds = args::array_seq::<32>(digests, "digests")?;
    let out = without_gil(py, || core::sign_batch(sk, &ds))?;
    Ok(args::bytes_list(py, &out)?)
}

#[pyfunction]
fn sign_der_batch<'py>(
    py: Python<'py>,
    private_key: &Bound<'py, PyAny>,
    digests: &Bound<'py, PyAny>,
) -> NativeResult<Bound<'py, PyList>> {
    let sk = args::secret(private_key, "private_key")?;
    let ds = args::array_seq::<32>(digests, "digests")?;
    let out = without_gil(py, || core::sign_der_batch(sk, &ds))?;
    Ok(args::bytes_list(py, &out)?)
}

#[pyfunction]
fn sign_many<'py>(
    py: Python<'py>,
    private_keys: &Bound<'py, PyAny>,
    digests: &Bound<'py, PyAny>,
) -> NativeResult<Bound<'py, PyList>> {
    let sks = args::secret_array_seq(private_keys, "private_keys")?;
    let ds = args::array_seq::<32>(digests, "digests")?;
    let out = without_gil(py, || core::sign_many(&sks, &ds))?;
    Ok(args::bytes_list(py, &out)?)
}

#[pyfunction]
#[pyo3(signature = (public_keys, digests, signatures, allow_high_s = false))]
fn verify_batch(
    py: Python<'_>,
    public_keys: &Bound<'_, PyAny>,
    digests: &Bound<'_, PyAny>,
    signatures: &Bound<'_, PyAny>,
    allow_high_s: bool,
) -> NativeResult<Vec<bool>> {
    let ds = args::array_seq::<32>(digests, "digests")?;
    let sigs = args::vec_seq(signatures, "signatures")?;
    if let Ok(one) = public_keys.downcast::<PyBytes>() {
        let pk = one.as_bytes();
        without_gil(py, || {
            core::verify_batch(core::BatchKeys::One(pk), &ds, &sigs, allow_high_s)
        })
    } else {
        let pks = args::vec_seq(public_keys, "public_keys")?;
        without_gil(py, || {
            core::verify_batch(core::BatchKeys::Each(&pks), &ds, &sigs, allow_high_s)
        })
    }
}

pub fn register(parent: &Bound<'_, PyModule>) -> PyResult<()> {
    let m = PyModule::new(parent.py(), "secp256k1")?;
    m.add_function(wrap_pyfunction!(generate_private_key, &m)?)?;
    m.add_function(wrap_pyfunction!(public_key, &m)?)?;
    m.add_function(wrap_pyfunction!(convert_public_key, &m)?)?;
    m.add_function(wrap_pyfunction!(xonly_public_key, &m)?)?;
    m.add_function(wrap_pyfunction!(sign, &m)?)?;
    m.add_function(wrap_pyfunction!(sign_der, &m)?)?;
    m.add_function(wrap_pyfunction!(sign_recoverable, &m)?)?;
    m.add_function(wrap_pyfunction!(recover, &m)?)?;
    m.add_function(wrap_pyfunction!(verify, &m)?)?;
    m.add_function(wrap_pyfunction!(schnorr_sign, &m)?)?;
    m.add_function(wrap_pyfunction!(schnorr_verify, &m)?)?;
    m.add_function(wrap_pyfunction!(ecdh, &m)?)?;
    m.add_function(wrap_pyfunction!(sign_batch, &m)?)?;
    m.add_function(wrap_pyfunction!(sign_der_batch, &m)?)?;
    m.add_function(wrap_pyfunction!(sign_many, &m)?)?;
    m.add_function(wrap_pyfunction!(verify_batch, &m)?)?;
    crate::add_submodule(parent, &m)
}
