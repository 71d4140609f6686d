//! `SecretBytes`: secret material held in Rust memory, zeroized on drop.
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::args;
use crate::error::{NativeError, NativeResult};

/// Secrets are keys and seeds: a larger request is a bug, not a key.
const MAX_RANDOM: u64 = 1 << 20;

/// Secret bytes held outside the Python heap: wiped when dropped, locked in
/// RAM where the OS allows, compared in constant time, never shown by
/// `repr`, and readable only through `expose_secret()`.
#[pyclass(frozen, name = "SecretBytes", module = "skms._native")]
pub struct PySecretBytes {
    pub inner: skms_core::SecretBytes,
}

impl PySecretBytes {
    pub fn wrap(inner: skms_core::SecretBytes) -> Self {
        PySecretBytes { inner }
    }
}

#[pymethods]
impl PySecretBytes {
    #[new]
    fn new(data: &Bound<'_, PyAny>) -> NativeResult<Self> {
        Ok(Self::wrap(skms_core::SecretBytes::from_slice(args::bytes(
            data, "data",
        )?)))
    }

    /// `length` bytes from the operating system's CSPRNG (at most 1 MiB).
    #[staticmethod]
    fn random(length: &Bound<'_, PyAny>) -> NativeResult<Self> {
        let n = args::int_in_range(length, "length", 0, MAX_RANDOM)? as usize;
        Ok(Self::wrap(skms_core::SecretBytes::random(n)))
    }

    /// The secret as `bytes`. The copy lives on the Python heap and is not
    /// zeroized: call this only where the bytes must leave SKMS.
    fn expose_secret<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.inner.expose())
    }

    /// True when the buffer is locked in RAM (mlock succeeded).
    #[getter]
    fn locked(&self) -> bool {
        self.inner.is_locked()
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    fn __repr__(&self) -> String {
        format!("SecretBytes(<{} bytes redacted>)", self.inner.len())
    }

    fn __str__(&self) -> String {
        self.__repr__()
    }

    /// Constant-time equality with another `SecretBytes` or `bytes`.
    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        match args::secret(other, "other") {
            Ok(bytes) => skms_core::constant_time::bytes_eq(self.inner.expose(), bytes),
            Err(_) => false,
        }
    }

    fn __hash__(&self) -> NativeResult<isize> {
        Err(NativeError::Type("SecretBytes is unhashable".into()))
    }

    fn __reduce__(&self) -> NativeResult<()> {
        Err(NativeError::Type(
            "SecretBytes cannot be pickled or copied out of process".into(),
        ))
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PySecretBytes>()
}
