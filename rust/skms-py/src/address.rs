//! `skms._native.address`: Bitcoin, Ethereum and Solana address encodings.
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use skms_core::address as core;
use skms_core::bip32::Network;

use crate::args;
use crate::error::NativeResult;

#[pyfunction]
#[pyo3(signature = (public_key, kind = "p2wpkh", network = "mainnet"))]
fn bitcoin_address(
    public_key: &Bound<'_, PyAny>,
    kind: &str,
    network: &str,
) -> NativeResult<String> {
    let pk = args::bytes(public_key, "public_key")?;
    Ok(core::bitcoin_address(
        pk,
        core::BitcoinKind::parse(kind)?,
        Network::parse(network)?,
    )?)
}

/// (kind, network, program) of a Bitcoin address; `network` checks it.
#[pyfunction]
#[pyo3(signature = (address, network = None))]
fn parse_bitcoin_address<'py>(
    py: Python<'py>,
    address: &Bound<'py, PyAny>,
    network: Option<&str>,
) -> NativeResult<(String, &'static str, Bound<'py, PyBytes>)> {
    let a = args::text(address, "address")?;
    let n = network.map(Network::parse).transpose()?;
    let parsed = core::validate_bitcoin_address(&a, n)?;
    Ok((
        parsed.kind,
        parsed.network.name(),
        PyBytes::new(py, &parsed.program),
    ))
}

#[pyfunction]
fn ethereum_address(public_key: &Bound<'_, PyAny>) -> NativeResult<String> {
    Ok(core::ethereum_address(args::bytes(
        public_key,
        "public_key",
    )?)?)
}

/// The 20 bytes of an Ethereum address (mixed case must match EIP-55).
#[pyfunction]
fn parse_ethereum_address<'py>(
    py: Python<'py>,
    address: &Bound<'py, PyAny>,
) -> NativeResult<Bound<'py, PyBytes>> {
    let bytes = core::parse_ethereum_address(&args::text(address, "address")?)?;
    Ok(PyBytes::new(py, &bytes))
}

#[pyfunction]
fn to_checksum_address(address: &Bound<'_, PyAny>) -> NativeResult<String> {
    Ok(core::eip55(&core::parse_ethereum_address(&args::text(
        address, "address",
    )?)?))
}

#[pyfunction]
fn solana_address(public_key: &Bound<'_, PyAny>) -> NativeResult<String> {
    Ok(core::solana_address(args::bytes(
        public_key,
        "public_key",
    )?)?)
}

#[pyfunction]
fn parse_solana_address<'py>(
    py: Python<'py>,
    address: &Bound<'py, PyAny>,
) -> NativeResult<Bound<'py, PyBytes>> {
    let bytes = core::parse_solana_address(&args::text(address, "address")?)?;
    Ok(PyBytes::new(py, &bytes))
}

pub fn register(parent: &Bound<'_, PyModule>) -> PyResult<()> {
    let m = PyModule::new(parent.py(), "address")?;
    m.add_function(wrap_pyfunction!(bitcoin_address, &m)?)?;
    m.add_function(wrap_pyfunction!(parse_bitcoin_address, &m)?)?;
    m.add_function(wrap_pyfunction!(ethereum_address, &m)?)?;
    m.add_function(wrap_pyfunction!(parse_ethereum_address, &m)?)?;
    m.add_function(wrap_pyfunction!(to_checksum_address, &m)?)?;
    m.add_function(wrap_pyfunction!(solana_address, &m)?)?;
    m.add_function(wrap_pyfunction!(parse_solana_address, &m)?)?;
    crate::add_submodule(parent, &m)
}
