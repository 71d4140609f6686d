//! Pure-Rust cryptographic core of SKMS.
//!
//! No Python here: every function takes and returns plain Rust types and
//! reports failures through [`Error`]. The `skms-py` crate binds it.
#![forbid(unsafe_code)]

pub mod constant_time;
pub mod ed25519;
pub mod error;
pub mod secp256k1;
pub mod secret;

pub use error::{Error, Result};
pub use secret::SecretBytes;
