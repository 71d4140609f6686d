//! The one error type of the core. Each variant is one Python exception
//! class of `skms.errors`, named by [`Error::kind`].

/// A failure of a core operation, with a message that says what is wrong.
///
/// Messages never contain secret material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Input of the wrong shape: a length, a count, a range.
    #[error("{0}")]
    InvalidInput(String),
    /// A private or public key that is malformed or out of range.
    #[error("{0}")]
    InvalidKey(String),
    /// A signature that cannot be parsed or is not in canonical form.
    #[error("{0}")]
    InvalidSignature(String),
    /// A BIP39 phrase with an unknown word, a bad checksum or a bad length.
    #[error("{0}")]
    InvalidMnemonic(String),
    /// A derivation path that cannot be parsed or used.
    #[error("{0}")]
    InvalidPath(String),
    /// An extended key (xprv, xpub, …) that cannot be decoded.
    #[error("{0}")]
    InvalidExtendedKey(String),
    /// An address with a bad encoding, checksum, prefix or network.
    #[error("{0}")]
    InvalidAddress(String),
    /// Authenticated data that fails authentication (an AEAD tag, a truncated ciphertext).
    #[error("{0}")]
    Integrity(String),
    /// A well-formed request the algorithm cannot do (hardened public derivation, …).
    #[error("{0}")]
    Unsupported(String),
}

impl Error {
    /// The name of the `skms.errors` class this error becomes in Python.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::InvalidInput(_) => "InvalidInput",
            Error::InvalidKey(_) => "InvalidKey",
            Error::InvalidSignature(_) => "InvalidSignature",
            Error::InvalidMnemonic(_) => "InvalidMnemonic",
            Error::InvalidPath(_) => "InvalidPath",
            Error::InvalidExtendedKey(_) => "InvalidExtendedKey",
            Error::InvalidAddress(_) => "InvalidAddress",
            Error::Integrity(_) => "IntegrityError",
            Error::Unsupported(_) => "UnsupportedOperation",
        }
    }

    /// The message, without the kind.
    pub fn message(&self) -> &str {
        match self {
            Error::InvalidInput(m)
            | Error::InvalidKey(m)
            | Error::InvalidSignature(m)
            | Error::InvalidMnemonic(m)
            | Error::InvalidPath(m)
            | Error::InvalidExtendedKey(m)
            | Error::InvalidAddress(m)
            | Error::Integrity(m)
            | Error::Unsupported(m) => m,
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// Checks that `bytes` has exactly `N` bytes and returns them as an array.
pub fn fixed<const N: usize>(bytes: &[u8], what: &str) -> Result<[u8; N]> {
    bytes
        .try_into()
        .map_err(|_| Error::InvalidInput(format!("{what} must be {N} bytes, got {}", bytes.len())))
}
