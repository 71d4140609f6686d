//! `skms._native.oaep`: constant-time EME-OAEP decoding (SHA-256, MGF1-SHA-256) of a raw RSA
//! private operation's output, into a `SecretBytes`.
use pyo3::prelude::*;

use crate::args;
use crate::error::NativeResult;
use crate::secret::PySecretBytes;

/// The message of `encoded` (the k-byte output of m = c^d mod n) for a modulus of
/// `modulus_len` bytes; `IntegrityError` with one message for every malformed encoding.
#[pyfunction]
#[pyo3(signature = (encoded, modulus_len, label = None))]
fn decode_sha256(
    encoded: &Bound<'_, PyAny>,
    modulus_len: &Bound<'_, PyAny>,
    label: Option<&Bound<'_, PyAny>>,
) -> NativeResult<PySecretBytes> {
    let em = args::secret(encoded, "encoded")?;
    let k = args::int_in_range(
        modulus_len,
        "modulus_len",
        skms_core::oaep::MIN_MODULUS_LEN as u64,
        skms_core::oaep::MAX_MODULUS_LEN as u64,
    )?;
    let label = args::optional_bytes(label, "label")?.unwrap_or(&[]);
    Ok(PySecretBytes::wrap(skms_core::oaep::decode_sha256(
        em, k as usize, label,
    )?))
}

pub fn register(parent: &Bound<'_, PyModule>) -> PyResult<()> {
    let m = PyModule::new(parent.py(), "oaep")?;
    m.add_function(wrap_pyfunction!(decode_sha256, &m)?)?;
    crate::add_submodule(parent, &m)
}
