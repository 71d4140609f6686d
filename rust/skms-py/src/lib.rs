//! PyO3 bindings of `skms-core`: the private module `skms._native`.
//!
//! This crate only converts types and errors; each primitive family is one
//! file that builds its own submodule, and this file assembles them.
use pyo3::prelude::*;

mod address;
mod args;
mod bip32;
mod bip39;
mod bitcoin;
mod constant_time;
mod ed25519;
mod error;
mod ethereum;
mod falcon;
mod gil;
mod hashes;
mod oaep;
mod secp256k1;
mod secret;
mod symmetric;
mod zkp;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    secret::register(m)?;
    constant_time::register(m)?;
    secp256k1::register(m)?;
    ed25519::register(m)?;
    hashes::register(m)?;
    bip39::register(m)?;
    bip32::register(m)?;
    address::register(m)?;
    bitcoin::register(m)?;
    ethereum::register(m)?;
    falcon::register(m)?;
    zkp::register(m)?;
    symmetric::register(m)?;
    oaep::register(m)?;
    Ok(())
}

/// Adds `sub` to `parent` and to `sys.modules`, so that
/// `from skms._native.<family> import f` works like a package import.
pub(crate) fn add_submodule(
    parent: &Bound<'_, PyModule>,
    sub: &Bound<'_, PyModule>,
) -> PyResult<()> {
    let qualified = format!("skms._native.{}", sub.name()?);
    // add_submodule names the attribute after __name__, so qualify it afterwards.
    parent.add_submodule(sub)?;
    sub.setattr("__name__", &qualified)?;
    parent
        .py()
        .import("sys")?
        .getattr("modules")?
        .set_item(qualified, sub)
}
