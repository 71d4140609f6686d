//! `SecretBytes`: secret material held in Rust memory, zeroized on drop.
use pyo3::buffer::PyBuffer;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes};

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
    /// A copy of `data`: `bytes`, or any contiguous buffer (a `bytearray` or a
    /// `memoryview` slice of one, which the caller then wipes).
    #[new]
    fn new(data: &Bound<'_, PyAny>) -> NativeResult<Self> {
        if let Ok(b) = data.downcast::<PyBytes>() {
            return Ok(Self::wrap(skms_core::SecretBytes::from_slice(b.as_bytes())));
        }
        let buffer = PyBuffer::<u8>::get(data).map_err(|_| {
            NativeError::Type(format!(
                "data must be bytes or a bytes-like buffer, got {}",
                data.get_type()
                    .name()
                    .map(|n| n.to_string())
                    .unwrap_or_default()
            ))
        })?;
        // to_vec allocates exactly the length: the buffer becomes the secret without a reallocation.
        Ok(Self::wrap(skms_core::SecretBytes::new(
            buffer.to_vec(data.py())?,
        )))
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

    /// The secret as a `bytearray`, for a library that wants a buffer: the
    /// caller wipes it with `skms._native.wipe` right after the call.
    fn expose_bytearray<'py>(&self, py: Python<'py>) -> Bound<'py, PyByteArray> {
        PyByteArray::new(py, self.inner.expose())
    }

    /// The bytes `[start, end)` as a new secret.
    fn slice(&self, start: usize, end: usize) -> NativeResult<Self> {
        let bytes = self.inner.expose();
        if start > end || end > bytes.len() {
            return Err(crate::error::invalid_input(format!(
                "slice [{start}, {end}) is outside a secret of {} bytes",
                bytes.len()
            )));
        }
        Ok(Self::wrap(skms_core::SecretBytes::from_slice(
            &bytes[start..end],
        )))
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

/// Overwrites `buffer` with zeros in place: a `bytearray`, or a `bytes` object
/// that a library returned and only the caller holds (Python never wipes
/// freed memory). Empty and one-byte `bytes` are shared singletons and are
/// left alone (they hold no key).
#[pyfunction]
fn wipe(buffer: &Bound<'_, PyAny>) -> NativeResult<()> {
    if let Ok(b) = buffer.downcast::<PyBytes>() {
        let len = b.as_bytes().len();
        if len > 1 {
            // SAFETY: PyBytes_AsString points at the object's `len` bytes, alive while `b` is; the
            // caller owns the object alone, so no other reader sees it change.
            unsafe {
                let ptr = pyo3::ffi::PyBytes_AsString(b.as_ptr());
                if !ptr.is_null() {
                    std::ptr::write_bytes(ptr.cast::<u8>(), 0, len);
                }
            }
        }
        return Ok(());
    }
    if let Ok(b) = buffer.downcast::<PyByteArray>() {
        // SAFETY: no Python code runs while the slice lives, so the bytearray cannot be resized.
        unsafe { b.as_bytes_mut() }.fill(0);
        return Ok(());
    }
    Err(NativeError::Type(format!(
        "wipe takes bytes or bytearray, got {}",
        buffer
            .get_type()
            .name()
            .map(|n| n.to_string())
            .unwrap_or_default()
    )))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PySecretBytes>()?;
    m.add_function(wrap_pyfunction!(wipe, m)?)
}
