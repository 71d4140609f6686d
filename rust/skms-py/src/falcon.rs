//! `skms._native.falcon`: Falcon signatures as FN-DSA (degrees 512 and 1024).
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyInt};
use skms_core::falcon as core;

use crate::args;
use crate::error::{invalid_input, NativeError, NativeResult};
use crate::gil::without_gil;
use crate::secret::PySecretBytes;

/// The `degree` argument: a Python `int` (the core checks 512 or 1024).
struct Degree(u32);

impl<'py> FromPyObject<'py> for Degree {
    fn extract_bound(obj: &Bound<'py, PyAny>) -> PyResult<Self> {
        let Ok(int) = obj.downcast::<PyInt>() else {
            let name = obj
                .get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_else(|_| "?".to_owned());
            return Err(NativeError::Type(format!("degree must be int, got {name}")).into());
        };
        match int.extract::<u32>() {
            Ok(d) => Ok(Degree(d)),
            Err(_) => Err(invalid_input(format!(
                "FN-DSA degree must be 512 or 1024, got {}",
                int.str()?
            ))
            .into()),
        }
    }
}

#[pyfunction]
#[pyo3(signature = (degree = Degree(512)), text_signature = "(degree=512)")]
fn generate_private_key(py: Python<'_>, degree: Degree) -> NativeResult<PySecretBytes> {
    let key = without_gil(py, || core::generate_private_key(degree.0))?;
    Ok(PySecretBytes::wrap(key))
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

pub fn register(parent: &Bound<'_, PyModule>) -> PyResult<()> {
    let m = PyModule::new(parent.py(), "falcon")?;
    m.add_function(wrap_pyfunction!(generate_private_key, &m)?)?;
    m.add_function(wrap_pyfunction!(public_key, &m)?)?;
    m.add_function(wrap_pyfunction!(sign, &m)?)?;
    m.add_function(wrap_pyfunction!(verify, &m)?)?;
    crate::add_submodule(parent, &m)
}
