//! Pure-Rust cryptographic core of SKMS.
//!
//! No Python here: every function takes and returns plain Rust types and
//! reports failures through [`Error`]. The `skms-py` crate binds it.
#![forbid(unsafe_code)]

pub mod address;
pub mod bip32;
pub mod bip39;
pub mod bitcoin;
pub mod constant_time;
pub mod ed25519;
pub mod error;
pub mod ethereum;
pub mod falcon;
pub mod hashes;
pub mod node_cache;
pub mod oaep;
pub mod secp256k1;
pub mod secp_batch;
pub mod secret;
pub mod symmetric;
pub mod wallet;
pub mod zkp;

pub use error::{Error, Result};
pub use secret::SecretBytes;
