//! Argument extraction with errors that name the argument and the problem.
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

use crate::error::{invalid_input, NativeError, NativeResult};
use crate::secret::PySecretBytes;

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".to_owned())
}

/// A `bytes` argument.
pub fn bytes<'a>(obj: &'a Bound<'_, PyAny>, name: &str) -> NativeResult<&'a [u8]> {
    match obj.downcast::<PyBytes>() {
        Ok(b) => Ok(b.as_bytes()),
        Err(_) => Err(NativeError::Type(format!(
            "{name} must be bytes, got {}",
            type_name(obj)
        ))),
    }
}

/// An optional `bytes` argument.
pub fn optional_bytes<'a>(
    obj: Option<&'a Bound<'_, PyAny>>,
    name: &str,
) -> NativeResult<Option<&'a [u8]>> {
    match obj {
        Some(o) if !o.is_none() => bytes(o, name).map(Some),
        _ => Ok(None),
    }
}

/// A private key: `SecretBytes` or `bytes`.
pub fn secret<'a>(obj: &'a Bound<'_, PyAny>, name: &str) -> NativeResult<&'a [u8]> {
    if let Ok(s) = obj.downcast::<PySecretBytes>() {
        return Ok(s.get().inner.expose());
    }
    match obj.downcast::<PyBytes>() {
        Ok(b) => Ok(b.as_bytes()),
        Err(_) => Err(NativeError::Type(format!(
            "{name} must be SecretBytes or bytes, got {}",
            type_name(obj)
        ))),
    }
}

/// A sequence of `bytes` items, borrowed (PyBytes are immutable).
pub fn bytes_seq<'py>(
    obj: &Bound<'py, PyAny>,
    name: &str,
) -> NativeResult<Vec<Bound<'py, PyBytes>>> {
    if obj.is_instance_of::<PyBytes>() || obj.is_instance_of::<pyo3::types::PyString>() {
        return Err(NativeError::Type(format!(
            "{name} must be a sequence of bytes, got a single {}",
            type_name(obj)
        )));
    }
    let iter = obj.try_iter().map_err(|_| {
        NativeError::Type(format!(
            "{name} must be a sequence of bytes, got {}",
            type_name(obj)
        ))
    })?;
    let mut out = Vec::new();
    for (i, item) in iter.enumerate() {
        let item = item?;
        match item.downcast_into::<PyBytes>() {
            Ok(b) => out.push(b),
            Err(e) => {
                return Err(NativeError::Type(format!(
                    "{name}[{i}] must be bytes, got {}",
                    type_name(&e.into_inner())
                )))
            }
        }
    }
    Ok(out)
}

/// A sequence of fixed-size byte strings, copied into arrays.
pub fn array_seq<const N: usize>(obj: &Bound<'_, PyAny>, name: &str) -> NativeResult<Vec<[u8; N]>> {
    bytes_seq(obj, name)?
        .iter()
        .enumerate()
        .map(|(i, b)| {
            b.as_bytes().try_into().map_err(|_| {
                invalid_input(format!(
                    "{name}[{i}] must be {N} bytes, got {}",
                    b.as_bytes().len()
                ))
            })
        })
        .collect()
}

/// A sequence of private keys (`SecretBytes` or `bytes`), copied into
/// zeroizing 32-byte arrays.
pub fn secret_array_seq(
    obj: &Bound<'_, PyAny>,
    name: &str,
) -> NativeResult<Vec<zeroize::Zeroizing<[u8; 32]>>> {
    let iter = obj.try_iter().map_err(|_| {
        NativeError::Type(format!("{name} must be a sequence, got {}", type_name(obj)))
    })?;
    let mut out = Vec::new();
    for (i, item) in iter.enumerate() {
        let item = item?;
        let raw = secret(&item, &format!("{name}[{i}]"))?;
        let arr: [u8; 32] = raw.try_into().map_err(|_| {
            NativeError::Core(skms_core::Error::InvalidKey(format!(
                "{name}[{i}] must be 32 bytes, got {}",
                raw.len()
            )))
        })?;
        out.push(zeroize::Zeroizing::new(arr));
    }
    Ok(out)
}

/// Owned copies of a sequence of `bytes`.
pub fn vec_seq(obj: &Bound<'_, PyAny>, name: &str) -> NativeResult<Vec<Vec<u8>>> {
    Ok(bytes_seq(obj, name)?
        .iter()
        .map(|b| b.as_bytes().to_vec())
        .collect())
}

/// A list of `bytes` built from fixed arrays or vectors.
pub fn bytes_list<'py, T: AsRef<[u8]>>(
    py: Python<'py>,
    items: &[T],
) -> PyResult<Bound<'py, PyList>> {
    PyList::new(py, items.iter().map(|i| PyBytes::new(py, i.as_ref())))
}

/// A `str` argument.
pub fn text<'a>(obj: &'a Bound<'_, PyAny>, name: &str) -> NativeResult<std::borrow::Cow<'a, str>> {
    match obj.downcast::<pyo3::types::PyString>() {
        Ok(s) => Ok(s.to_cow()?),
        Err(_) => Err(NativeError::Type(format!(
            "{name} must be str, got {}",
            type_name(obj)
        ))),
    }
}

/// An `int` argument in `[min, max]`.
pub fn int_in_range(obj: &Bound<'_, PyAny>, name: &str, min: u64, max: u64) -> NativeResult<u64> {
    if !obj.is_instance_of::<pyo3::types::PyInt>() || obj.is_instance_of::<pyo3::types::PyBool>() {
        return Err(NativeError::Type(format!(
            "{name} must be int, got {}",
            type_name(obj)
        )));
    }
    match obj.extract::<i128>() {
        Ok(v) if v >= i128::from(min) && v <= i128::from(max) => Ok(v as u64),
        _ => Err(invalid_input(format!(
            "{name} must be in [{min}, {max}], got {obj}"
        ))),
    }
}
