//! The one way the bindings run core code: with the GIL released and
//! panics caught, so other Python threads run meanwhile and a bug in the
//! core raises `skms.errors.InternalError` instead of aborting.
use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::prelude::*;

use crate::error::{NativeError, NativeResult};

/// Work smaller than this many bytes runs with the GIL held: releasing and
/// re-taking it costs more than the work (hashing, comparing).
pub const RELEASE_THRESHOLD: usize = 4096;

fn run<T, F>(f: F) -> NativeResult<T>
where
    F: FnOnce() -> skms_core::Result<T>,
{
    let outcome = catch_unwind(AssertUnwindSafe(f));
    // Most native calls handle a key: leave none of it in the dead stack frames below.
    skms_core::symmetric::scrub_stack();
    match outcome {
        Ok(result) => result.map_err(NativeError::Core),
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "panic".to_owned());
            Err(NativeError::Panic(message))
        }
    }
}

/// Runs `f` without the GIL. Every elliptic-curve operation takes tens of
/// microseconds, so they all come through here.
pub fn without_gil<T, F>(py: Python<'_>, f: F) -> NativeResult<T>
where
    T: Send,
    F: FnOnce() -> skms_core::Result<T> + Send,
{
    py.allow_threads(|| run(f))
}

/// Runs `f` without the GIL when `work_bytes` is above the threshold.
pub fn maybe_without_gil<T, F>(py: Python<'_>, work_bytes: usize, f: F) -> NativeResult<T>
where
    T: Send,
    F: FnOnce() -> skms_core::Result<T> + Send,
{
    if work_bytes >= RELEASE_THRESHOLD {
        without_gil(py, f)
    } else {
        run(f)
    }
}
