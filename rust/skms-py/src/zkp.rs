//! `skms._native.zkp`: Schnorr proofs of knowledge of a private key and
//! Chaum–Pedersen DLEQ proofs, on secp256k1 and Ed25519.
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyTuple};
use skms_core::zkp as core;

use crate::args;
use crate::error::NativeResult;
use crate::gil::without_gil;

fn curve(obj: &Bound<'_, PyAny>) -> NativeResult<core::Curve> {
    Ok(core::Curve::parse(&args::text(obj, "curve")?)?)
}

#[pyfunction]
fn prove_knowledge<'py>(
    py: Python<'py>,
    curve: &Bound<'py, PyAny>,
    private_key: &Bound<'py, PyAny>,
    context: &Bound<'py, PyAny>,
) -> NativeResult<Bound<'py, PyBytes>> {
    let c = self::curve(curve)?;
    let sk = args::secret(private_key, "private_key")?;
    let ctx = args::bytes(context, "context")?;
    let out = without_gil(py, || core::prove_knowledge(c, sk, ctx))?;
    Ok(PyBytes::new(py, &out))
}

#[pyfunction]
fn verify_knowledge(
    py: Python<'_>,
    curve: &Bound<'_, PyAny>,
    public_key: &Bound<'_, PyAny>,
    proof: &Bound<'_, PyAny>,
    context: &Bound<'_, PyAny>,
) -> NativeResult<bool> {
    let c = self::curve(curve)?;
    let pk = args::bytes(public_key, "public_key")?;
    let p = args::bytes(proof, "proof")?;
    let ctx = args::bytes(context, "context")?;
    without_gil(py, || core::verify_knowledge(c, pk, p, ctx))
}

#[pyfunction]
fn independent_base<'py>(
    py: Python<'py>,
    curve: &Bound<'py, PyAny>,
    label: &Bound<'py, PyAny>,
) -> NativeResult<Bound<'py, PyBytes>> {
    let c = self::curve(curve)?;
    let l = args::bytes(label, "label")?;
    let out = without_gil(py, || Ok(core::independent_base(c, l)))?;
    Ok(PyBytes::new(py, &out))
}

#[pyfunction]
fn prove_dleq<'py>(
    py: Python<'py>,
    curve: &Bound<'py, PyAny>,
    private_key: &Bound<'py, PyAny>,
    base: &Bound<'py, PyAny>,
    context: &Bound<'py, PyAny>,
) -> NativeResult<Bound<'py, PyTuple>> {
    let c = self::curve(curve)?;
    let sk = args::secret(private_key, "private_key")?;
    let h = args::bytes(base, "base")?;
    let ctx = args::bytes(context, "context")?;
    let (y, proof) = without_gil(py, || core::prove_dleq(c, sk, h, ctx))?;
    Ok(PyTuple::new(
        py,
        [PyBytes::new(py, &y), PyBytes::new(py, &proof)],
    )?)
}

#[pyfunction]
fn verify_dleq(
    py: Python<'_>,
    curve: &Bound<'_, PyAny>,
    public_key: &Bound<'_, PyAny>,
    base: &Bound<'_, PyAny>,
    y: &Bound<'_, PyAny>,
    proof: &Bound<'_, PyAny>,
    context: &Bound<'_, PyAny>,
) -> NativeResult<bool> {
    let c = self::curve(curve)?;
    let pk = args::bytes(public_key, "public_key")?;
    let h = args::bytes(base, "base")?;
    let yb = args::bytes(y, "y")?;
    let p = args::bytes(proof, "proof")?;
    let ctx = args::bytes(context, "context")?;
    without_gil(py, || core::verify_dleq(c, pk, h, yb, p, ctx))
}

pub fn register(parent: &Bound<'_, PyModule>) -> PyResult<()> {
    let m = PyModule::new(parent.py(), "zkp")?;
    m.add_function(wrap_pyfunction!(prove_knowledge, &m)?)?;
    m.add_function(wrap_pyfunction!(verify_knowledge, &m)?)?;
    m.add_function(wrap_pyfunction!(independent_base, &m)?)?;
    m.add_function(wrap_pyfunction!(prove_dleq, &m)?)?;
    m.add_function(wrap_pyfunction!(verify_dleq, &m)?)?;
    crate::add_submodule(parent, &m)
}
