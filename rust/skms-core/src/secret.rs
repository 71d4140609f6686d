//! Secret material that is wiped from memory when dropped.
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use zeroize::Zeroize;

/// Pages kept locked at most while no secret lives on them (1 MiB); past
/// that, unused pages are unlocked. Keeping them avoids an `mlock`/`munlock`
/// pair per short-lived secret, which cost more than most operations.
const IDLE_LOCKED_PAGES: usize = 256;

/// Locked pages, shared by every secret on them: `mlock` is per page, not
/// per buffer, so unlocking one buffer's page must wait for the others.
struct PageLocks {
    pages: HashMap<usize, (usize, Option<region::LockGuard>)>,
}

fn page_locks() -> &'static Mutex<PageLocks> {
    static LOCKS: OnceLock<Mutex<PageLocks>> = OnceLock::new();
    LOCKS.get_or_init(|| {
        Mutex::new(PageLocks {
            pages: HashMap::new(),
        })
    })
}

fn page_range(bytes: &[u8]) -> std::ops::Range<usize> {
    let size = region::page::size();
    let start = bytes.as_ptr() as usize / size;
    let end = (bytes.as_ptr() as usize + bytes.len() - 1) / size + 1;
    start..end
}

/// Locks the pages of `bytes`; true when every page is locked.
fn lock_pages(bytes: &[u8]) -> bool {
    let size = region::page::size();
    let mut locks = page_locks().lock().unwrap_or_else(|e| e.into_inner());
    let mut all = true;
    for page in page_range(bytes) {
        let entry = locks.pages.entry(page).or_insert((0, None));
        if entry.1.is_none() {
            entry.1 = region::lock((page * size) as *const u8, size).ok();
        }
        entry.0 += 1;
        all &= entry.1.is_some();
    }
    all
}

fn unlock_pages(bytes: &[u8]) {
    let mut locks = page_locks().lock().unwrap_or_else(|e| e.into_inner());
    for page in page_range(bytes) {
        if let Some(entry) = locks.pages.get_mut(&page) {
            entry.0 = entry.0.saturating_sub(1);
        }
    }
    if locks.pages.len() > IDLE_LOCKED_PAGES {
        locks.pages.retain(|_, (count, _)| *count > 0);
    }
}

/// Bytes of secret material: zeroized on drop, locked in RAM where the OS
/// allows (best effort: `mlock` may be refused by `RLIMIT_MEMLOCK`), and
/// never printed by `Debug`.
pub struct SecretBytes {
    bytes: Box<[u8]>,
    locked: bool,
    counted: bool,
}

impl SecretBytes {
    /// Takes ownership of `bytes`; the vector's buffer becomes the secret.
    pub fn new(bytes: Vec<u8>) -> Self {
        let bytes = bytes.into_boxed_slice();
        let (locked, counted) = if bytes.is_empty() {
            (false, false)
        } else {
            (lock_pages(&bytes), true)
        };
        SecretBytes {
            bytes,
            locked,
            counted,
        }
    }

    /// Takes ownership of `bytes` without locking its pages: for short-lived
    /// intermediate keys, where two syscalls would cost more than the work.
    pub fn new_unlocked(bytes: Vec<u8>) -> Self {
        SecretBytes {
            bytes: bytes.into_boxed_slice(),
            locked: false,
            counted: false,
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
        self.locked
    }
}

impl Drop for SecretBytes {
    fn drop(&mut self) {
        self.bytes.zeroize();
        if self.counted {
            unlock_pages(&self.bytes);
        }
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
