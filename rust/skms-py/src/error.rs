//! The one conversion from native failures to the exception classes of
//! `skms.errors` (defined in Python, looked up by name).
use pyo3::prelude::*;
use pyo3::types::PyType;

pub enum NativeError {
    /// A failure reported by the core.
    Core(skms_core::Error),
    /// An argument of the wrong Python type (becomes `skms.errors.InvalidType`).
    Type(String),
    /// A Rust panic, caught before it could cross into Python.
    Panic(String),
    /// An exception already raised by Python code.
    Py(PyErr),
}

pub type NativeResult<T> = Result<T, NativeError>;

impl From<skms_core::Error> for NativeError {
    fn from(e: skms_core::Error) -> Self {
        NativeError::Core(e)
    }
}

impl From<PyErr> for NativeError {
    fn from(e: PyErr) -> Self {
        NativeError::Py(e)
    }
}

fn raise(kind: &str, message: String) -> PyErr {
    Python::with_gil(|py| {
        let class = py
            .import("skms.errors")
            .and_then(|m| m.getattr(kind))
            .and_then(|c| c.downcast_into::<PyType>().map_err(PyErr::from));
        match class {
            Ok(class) => PyErr::from_type(class, message),
            Err(e) => e,
        }
    })
}

impl From<NativeError> for PyErr {
    fn from(e: NativeError) -> Self {
        match e {
            NativeError::Core(e) => raise(e.kind(), e.message().to_owned()),
            NativeError::Type(m) => raise("InvalidType", m),
            NativeError::Panic(m) => raise(
                "InternalError",
                format!("internal error in the native core: {m}"),
            ),
            NativeError::Py(e) => e,
        }
    }
}

/// An `InvalidInput` error from the bindings themselves.
pub fn invalid_input(message: String) -> NativeError {
    NativeError::Core(skms_core::Error::InvalidInput(message))
}
