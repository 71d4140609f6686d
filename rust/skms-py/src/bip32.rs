//! `skms._native.bip32`: the `HDKey` class and batch address derivation.
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use skms_core::bip32::{format_index, Curve, DerivationPath, ExtendedKey, Network};
use skms_core::node_cache::CachingKey;
use skms_core::wallet::{self, AddressSpec};

use crate::args;
use crate::error::{NativeError, NativeResult};
use crate::gil::without_gil;
use crate::secret::PySecretBytes;

/// A BIP32 / SLIP-10 extended key, private or public only.
#[pyclass(frozen, name = "HDKey", module = "skms._native")]
pub struct PyHDKey {
    /// `derive` keeps the parent nodes of recent paths (see `CachingKey`).
    key: CachingKey,
    path: Option<String>,
}

fn network_arg(name: Option<&str>, default: Network) -> NativeResult<Network> {
    Ok(match name {
        Some(n) => Network::parse(n)?,
        None => default,
    })
}

impl PyHDKey {
    fn new(key: ExtendedKey, path: Option<String>) -> PyHDKey {
        PyHDKey {
            key: CachingKey::new(key),
            path,
        }
    }

    fn child_path(&self, path: &DerivationPath) -> Option<String> {
        let tail: Vec<String> = path.indices.iter().map(|&i| format_index(i)).collect();
        let base = if path.absolute {
            Some("m".to_owned())
        } else {
            self.path.clone()
        };
        base.map(|b| {
            if tail.is_empty() {
                b
            } else {
                format!("{b}/{}", tail.join("/"))
            }
        })
    }
}

#[pymethods]
impl PyHDKey {
    /// The master key of a seed: BIP32 for secp256k1, SLIP-10 for ed25519 and nist256p1.
    #[staticmethod]
    #[pyo3(signature = (seed, curve = "secp256k1"))]
    fn from_seed(py: Python<'_>, seed: &Bound<'_, PyAny>, curve: &str) -> NativeResult<Self> {
        let s = args::secret(seed, "seed")?;
        let c = Curve::parse(curve)?;
        let key = without_gil(py, || ExtendedKey::from_seed(s, c))?;
        Ok(PyHDKey::new(key, Some("m".into())))
    }

    /// Decodes xprv/xpub, tprv/tpub and the SLIP-132 forms (y, z, u, v).
    #[staticmethod]
    #[pyo3(signature = (text, curve = "secp256k1"))]
    fn from_extended(py: Python<'_>, text: &Bound<'_, PyAny>, curve: &str) -> NativeResult<Self> {
        let t = args::text(text, "text")?;
        let c = Curve::parse(curve)?;
        let key = without_gil(py, || ExtendedKey::parse(&t, c))?;
        let path = (key.depth == 0).then(|| "m".to_owned());
        Ok(PyHDKey::new(key, path))
    }

    fn derive(&self, py: Python<'_>, path: &Bound<'_, PyAny>) -> NativeResult<Self> {
        let p = DerivationPath::parse(&args::text(path, "path")?)?;
        let key = without_gil(py, || self.key.derive_path(&p))?;
        Ok(PyHDKey::new(key, self.child_path(&p)))
    }

    fn derive_child(&self, py: Python<'_>, index: &Bound<'_, PyAny>) -> NativeResult<Self> {
        let i = args::int_in_range(index, "index", 0, u64::from(u32::MAX))? as u32;
        let key = without_gil(py, || self.key.derive_child(i))?;
        let p = DerivationPath {
            absolute: false,
            indices: vec![i],
        };
        Ok(PyHDKey::new(key, self.child_path(&p)))
    }

    /// A public-only (watch-only) copy.
    fn neuter(&self) -> Self {
        PyHDKey::new(self.key.neuter(), self.path.clone())
    }

    #[getter]
    fn curve(&self) -> &'static str {
        self.key.curve.name()
    }

    #[getter]
    fn path(&self) -> Option<String> {
        self.path.clone()
    }

    #[getter]
    fn depth(&self) -> u8 {
        self.key.depth
    }

    #[getter]
    fn child_number(&self) -> u32 {
        self.key.child_number
    }

    #[getter]
    fn network(&self) -> &'static str {
        self.key.network.name()
    }

    #[getter]
    fn fingerprint<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.key.fingerprint())
    }

    #[getter]
    fn parent_fingerprint<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.key.parent_fingerprint)
    }

    #[getter]
    fn chain_code<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.key.chain_code)
    }

    #[getter]
    fn public_key<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.key.public_key())
    }

    #[getter]
    fn is_private(&self) -> bool {
        self.key.is_private()
    }

    #[getter]
    fn private_key(&self) -> NativeResult<PySecretBytes> {
        match self.key.private_key() {
            Some(k) => Ok(PySecretBytes::wrap(k.clone())),
            None => Err(skms_core::Error::Unsupported(
                "a public-only (watch-only) key has no private key".into(),
            )
            .into()),
        }
    }

    /// The extended private key: an explicit export of secret material.
    #[pyo3(signature = (version = None))]
    fn xprv(&self, version: Option<&str>) -> NativeResult<String> {
        let v = version
            .map(str::to_owned)
            .unwrap_or_else(|| self.key.default_version(true));
        if !v.ends_with("prv") {
            return Err(crate::error::invalid_input(format!(
                "{v:?} is not a private version; use xpub() for it"
            )));
        }
        Ok(self.key.serialize(&v)?.to_string())
    }

    #[pyo3(signature = (version = None))]
    fn xpub(&self, version: Option<&str>) -> NativeResult<String> {
        let v = version
            .map(str::to_owned)
            .unwrap_or_else(|| self.key.default_version(false));
        if !v.ends_with("pub") {
            return Err(crate::error::invalid_input(format!(
                "{v:?} is not a public version; use xprv() for it"
            )));
        }
        Ok(self.key.serialize(&v)?.to_string())
    }

    #[pyo3(signature = (chain, kind = None, network = None))]
    fn address(
        &self,
        chain: &str,
        kind: Option<&str>,
        network: Option<&str>,
    ) -> NativeResult<String> {
        let spec = AddressSpec::parse(chain, kind, network_arg(network, self.key.network)?)?;
        Ok(wallet::address_of(&self.key, spec)?)
    }

    fn __repr__(&self) -> String {
        let fp: String = self
            .key
            .fingerprint()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!(
            "HDKey({}, path={}, fingerprint={fp}, {})",
            self.key.curve.name(),
            self.path.as_deref().unwrap_or("?"),
            if self.key.is_private() {
                "private"
            } else {
                "public"
            }
        )
    }

    fn __reduce__(&self) -> NativeResult<()> {
        Err(NativeError::Type(
            "HDKey cannot be pickled; export it with xprv() or xpub()".into(),
        ))
    }
}

/// (path, address) pairs for indices start .. start+count, on every core.
#[pyfunction]
#[pyo3(signature = (key, path_prefix, start, count, chain, kind = None, network = None))]
#[allow(clippy::too_many_arguments)]
fn derive_addresses(
    py: Python<'_>,
    key: &Bound<'_, PyHDKey>,
    path_prefix: &str,
    start: &Bound<'_, PyAny>,
    count: &Bound<'_, PyAny>,
    chain: &str,
    kind: Option<&str>,
    network: Option<&str>,
) -> NativeResult<Vec<(String, String)>> {
    let hardened = u64::from(skms_core::bip32::HARDENED);
    let start = args::int_in_range(start, "start", 0, hardened - 1)? as u32;
    let count = args::int_in_range(count, "count", 0, hardened)? as u32;
    let key = key.get();
    let spec = AddressSpec::parse(chain, kind, network_arg(network, key.key.network)?)?;
    let ext = &key.key;
    let pairs = without_gil(py, || {
        wallet::derive_addresses(ext, path_prefix, start, count, spec)
    })?;
    // A relative prefix under a key whose own path is known gives full paths.
    match (&key.path, path_prefix.starts_with(['m', 'M'])) {
        (Some(base), false) => Ok(pairs
            .into_iter()
            .map(|(p, a)| (format!("{base}/{p}"), a))
            .collect()),
        _ => Ok(pairs),
    }
}

pub fn register(parent: &Bound<'_, PyModule>) -> PyResult<()> {
    let m = PyModule::new(parent.py(), "bip32")?;
    m.add_class::<PyHDKey>()?;
    m.add_function(wrap_pyfunction!(derive_addresses, &m)?)?;
    crate::add_submodule(parent, &m)
}
