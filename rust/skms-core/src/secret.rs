//! Secret material that is wiped from memory when dropped.
use zeroize::Zeroize;

/// Bytes of secret material: zeroized on drop, locked in RAM where the OS
/// allows (best effort: `mlock` may be refused by `RLIMIT_MEMLOCK`), and
/// never printed by `Debug`.
pub struct SecretBytes {
    bytes: Box<[u8]>,
    // Unlocks the pages when dropped, after `Drop::drop` has wiped them.
    lock: Option<region::LockGuard>,
}

impl SecretBytes {
    /// Takes ownership of `bytes`; the vector's buffer becomes the secret.
    pub fn new(bytes: Vec<u8>) -> Self {
        let bytes = bytes.into_boxed_slice();
        let lock = if bytes.is_empty() {
            None
        } else {
            region::lock(bytes.as_ptr(), bytes.len()).ok()
        };
        SecretBytes { bytes, lock }
    }

    /// Takes ownership of `bytes` without locking its pages: for short-lived
    /// intermediate keys, where two syscalls would cost more than the work.
    pub fn new_unlocked(bytes: Vec<u8>) -> Self {
        SecretBytes {
            bytes: bytes.into_boxed_slice(),
            lock: None,
        }
    }

    /// Copies `bytes` into a new secret buffer.
    pub fn from_slice(bytes: &[u8]) -> Self {
        Self::new(bytes.to_vec())
    }

    /// `len` bytes from the operating system's CSPRNG.
    pub fn random(len: usize) -> Self {
        let mut bytes = vec![0u8; len];
        fill_random(&mut bytes);
        Self::new(bytes)
    }

    /// The secret bytes. Callers must not copy them into unmanaged memory.
    pub fn expose(&self) -> &[u8] {
        &self.bytes
    }

    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// True when the buffer is locked in RAM.
    pub fn is_locked(&self) -> bool {
        self.lock.is_some()
    }
}

impl Drop for SecretBytes {
    fn drop(&mut self) {
        self.bytes.zeroize();
    }
}

impl Clone for SecretBytes {
    fn clone(&self) -> Self {
        Self::from_slice(&self.bytes)
    }
}

impl PartialEq for SecretBytes {
    fn eq(&self, other: &Self) -> bool {
        crate::constant_time::bytes_eq(&self.bytes, &other.bytes)
    }
}

impl Eq for SecretBytes {}

impl std::fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretBytes(<{} bytes redacted>)", self.bytes.len())
    }
}

/// Fills `out` from the operating system's CSPRNG.
///
/// Panics only if the OS has no entropy source, which the bindings turn into
/// an exception: there is no safe way to go on without randomness.
pub fn fill_random(out: &mut [u8]) {
    getrandom::getrandom(out).expect("the operating system CSPRNG failed");
}

#[cfg(test)]
mod tests {
    use super::SecretBytes;

    #[test]
    fn debug_hides_contents() {
        let s = SecretBytes::from_slice(&[0xAB; 32]);
        let shown = format!("{s:?}");
        assert_eq!(shown, "SecretBytes(<32 bytes redacted>)");
        assert!(!shown.to_lowercase().contains("ab"));
    }

    #[test]
    fn random_differs_and_compares() {
        let a = SecretBytes::random(32);
        let b = SecretBytes::random(32);
        assert_ne!(a, b);
        assert_eq!(a, a.clone());
        assert_eq!(SecretBytes::random(0).len(), 0);
    }
}
