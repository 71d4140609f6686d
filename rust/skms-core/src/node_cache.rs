//! An extended key that keeps the parent nodes of the paths it derived, like
//! trezor-crypto's `hdnode_private_ckd_cached`: `root.derive_path("m/44'/0'/0'/0/i")`
//! for consecutive i derives `m/44'/0'/0'/0` (and its public key and
//! fingerprint) once, then one child step per call instead of five steps and
//! two point multiplications.
use std::ops::Deref;
use std::sync::{Arc, Mutex};

use crate::bip32::{DerivationPath, ExtendedKey};
use crate::error::Result;

/// Parent nodes kept per key: a few accounts' receive and change chains.
const CAPACITY: usize = 8;

/// A parent node and its indices below the key.
struct CachedParent {
    indices: Vec<u32>,
    node: Arc<ExtendedKey>,
}

/// An [`ExtendedKey`] (reached through `Deref`) whose `derive_path` keeps the
/// last 8 parent nodes it used. Private nodes keep their keys in
/// `SecretBytes`, wiped when evicted and no derivation uses them any more.
pub struct CachingKey {
    key: ExtendedKey,
    /// Least recently used first.
    parents: Mutex<Vec<CachedParent>>,
}

impl CachingKey {
    pub fn new(key: ExtendedKey) -> CachingKey {
        CachingKey {
            key,
            parents: Mutex::new(Vec::with_capacity(CAPACITY)),
        }
    }

    /// The same key as `ExtendedKey::derive_path`, from the cached parent when
    /// there is one. The lock is not held while a missing parent is derived,
    /// so two threads may both derive it; the second copy is dropped.
    pub fn derive_path(&self, path: &DerivationPath) -> Result<ExtendedKey> {
        let Some((&last, parent_indices)) = path.indices.split_last() else {
            return self.key.derive_path(path);
        };
        if parent_indices.is_empty() || (path.absolute && self.key.depth != 0) {
            return self.key.derive_path(path); // one step, or the error for an absolute path
        }
        let parent = match self.cached(parent_indices) {
            Some(node) => node,
            None => {
                let node = Arc::new(self.key.derive_intermediate(parent_indices)?);
                self.insert(parent_indices, node)
            }
        };
        parent.derive_child(last)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<CachedParent>> {
        // A panic elsewhere leaves only whole entries behind.
        self.parents.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn cached(&self, indices: &[u32]) -> Option<Arc<ExtendedKey>> {
        let mut parents = self.lock();
        let at = parents.iter().position(|p| p.indices == indices)?;
        let entry = parents.remove(at);
        let node = Arc::clone(&entry.node);
        parents.push(entry);
        Some(node)
    }

    /// Caches `node` unless another thread did first; returns the cached one.
    fn insert(&self, indices: &[u32], node: Arc<ExtendedKey>) -> Arc<ExtendedKey> {
        let mut parents = self.lock();
        if let Some(entry) = parents.iter().find(|p| p.indices == indices) {
            return Arc::clone(&entry.node);
        }
        if parents.len() == CAPACITY {
            parents.remove(0);
        }
        parents.push(CachedParent {
            indices: indices.to_vec(),
            node: Arc::clone(&node),
        });
        node
    }

    #[cfg(test)]
    fn cached_paths(&self) -> Vec<Vec<u32>> {
        self.lock().iter().map(|p| p.indices.clone()).collect()
    }
}

impl Deref for CachingKey {
    type Target = ExtendedKey;

    fn deref(&self) -> &ExtendedKey {
        &self.key
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bip32::tests::seed;
    use crate::bip32::{Curve, HARDENED};

    fn path(text: &str) -> DerivationPath {
        DerivationPath::parse(text).unwrap()
    }

    fn same(cached: &CachingKey, text: &str) {
        let p = path(text);
        let expected = cached.key.derive_path(&p).map(|k| k.fields());
        let got = cached.derive_path(&p).map(|k| k.fields());
        match (got, expected) {
            (Ok(got), Ok(expected)) => assert_eq!(got, expected, "{text}"),
            (Err(got), Err(expected)) => assert_eq!(got.to_string(), expected.to_string()),
            (got, expected) => panic!("{text}: {:?} vs {:?}", got.is_ok(), expected.is_ok()),
        }
    }

    #[test]
    fn cached_equals_uncached() {
        for curve in [Curve::Secp256k1, Curve::Nist256p1] {
            let root = CachingKey::new(ExtendedKey::from_seed(&seed(3), curve).unwrap());
            for round in 0..3 {
                for i in [0, 1, 2, 1000, HARDENED - 1] {
                    same(&root, &format!("m/44'/0'/0'/0/{i}"));
                    same(&root, &format!("m/44'/0'/0'/1/{i}'"));
                    same(&root, &format!("m/44'/0'/{round}'/0'/{i}"));
                    same(&root, &format!("0/{i}/{i}"));
                }
            }
            same(&root, "m");
            same(&root, "m/7");
            same(&root, "");
        }
        let ed = CachingKey::new(ExtendedKey::from_seed(&seed(3), Curve::Ed25519).unwrap());
        for i in 0..5 {
            same(&ed, &format!("m/44'/501'/0'/{i}'"));
            same(&ed, &format!("m/44'/501'/0'/{i}")); // refused, as uncached
        }
    }

    #[test]
    fn public_only_and_errors() {
        let root = ExtendedKey::from_seed(&seed(4), Curve::Secp256k1).unwrap();
        let account = root.derive_path(&path("m/84'/0'/0'")).unwrap();
        let watch = CachingKey::new(account.neuter());
        for i in 0..20 {
            same(&watch, &format!("0/{i}"));
            same(&watch, &format!("1/2/{i}"));
            same(&watch, &format!("0/{i}'")); // hardened from a public key
            same(&watch, &format!("m/0/{i}")); // absolute at depth 3
        }
        let deep = CachingKey::new(account.clone());
        let long = vec!["1"; 260].join("/");
        same(&deep, &long); // depth past 255
        assert!(deep.derive_path(&path(&long)).is_err());
    }

    #[test]
    fn keeps_the_last_parents() {
        let root = CachingKey::new(ExtendedKey::from_seed(&seed(5), Curve::Secp256k1).unwrap());
        for account in 0..CAPACITY as u32 + 1 {
            same(&root, &format!("m/44'/0'/{account}'/0/5"));
        }
        let parent = |account: u32| vec![44 | HARDENED, HARDENED, account | HARDENED, 0];
        let kept: Vec<_> = (1..=CAPACITY as u32).map(parent).collect();
        assert_eq!(root.cached_paths(), kept);
        // A hit makes its parent the most recently used: account 2 then outlives 1.
        same(&root, "m/44'/0'/1'/0/6");
        same(&root, "m/44'/0'/99'/0/6");
        let cached = root.cached_paths();
        assert_eq!(cached.len(), CAPACITY);
        assert_eq!(cached[0], parent(3));
        assert_eq!(cached[CAPACITY - 2..], [parent(1), parent(99)]);
        // Single steps and errors cache nothing.
        let fresh = CachingKey::new(root.neuter());
        same(&fresh, "m/3");
        same(&fresh, "m/0'/1"); // hardened from a public key
        assert!(fresh.cached_paths().is_empty());
    }

    #[test]
    fn concurrent_derivations_agree() {
        let root = CachingKey::new(ExtendedKey::from_seed(&seed(6), Curve::Secp256k1).unwrap());
        // More parents than the cache holds, from four threads at once.
        std::thread::scope(|scope| {
            for thread in 0..4u32 {
                let root = &root;
                scope.spawn(move || {
                    for n in 0..60u32 {
                        let account = (n + thread) % (CAPACITY as u32 + 3);
                        same(root, &format!("m/44'/0'/{account}'/{}/{n}", n % 2));
                    }
                });
            }
        });
        assert_eq!(root.cached_paths().len(), CAPACITY);
    }
}
