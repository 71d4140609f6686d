//! `skms._native.bip39`: the `Mnemonic` class.
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use skms_core::bip39 as core;

use crate::args;
use crate::error::NativeResult;
use crate::gil::without_gil;
use crate::secret::PySecretBytes;

/// A valid BIP39 phrase, held as its entropy in a zeroizing buffer.
#[pyclass(frozen, name = "Mnemonic", module = "skms._native")]
pub struct PyMnemonic {
    inner: core::Mnemonic,
}

fn language_arg(name: Option<&Bound<'_, PyAny>>) -> NativeResult<Option<bip39::Language>> {
    match name {
        Some(n) if !n.is_none() => Ok(Some(core::language(&args::text(n, "language")?)?)),
        _ => Ok(None),
    }
}

#[pymethods]
impl PyMnemonic {
    #[classattr]
    #[allow(non_snake_case)]
    fn LANGUAGES(py: Python<'_>) -> PyResult<Bound<'_, PyTuple>> {
        PyTuple::new(py, core::LANGUAGES.iter().map(|(n, _)| *n))
    }

    /// A new phrase from the OS CSPRNG; `words` None means 24.
    #[staticmethod]
    #[pyo3(signature = (words = None, language = "english"))]
    fn generate(words: Option<&Bound<'_, PyAny>>, language: &str) -> NativeResult<Self> {
        let words = match words {
            Some(w) if !w.is_none() => args::int_in_range(w, "words", 0, 1024)? as usize,
            _ => 24,
        };
        Ok(PyMnemonic {
            inner: core::Mnemonic::generate(words, core::language(language)?)?,
        })
    }

    /// Parses and validates a phrase; detects its language when `language` is None.
    #[staticmethod]
    #[pyo3(signature = (phrase, language = None))]
    fn from_phrase(
        phrase: &Bound<'_, PyAny>,
        language: Option<&Bound<'_, PyAny>>,
    ) -> NativeResult<Self> {
        let lang = language_arg(language)?;
        Ok(PyMnemonic {
            inner: core::Mnemonic::from_phrase(&args::text(phrase, "phrase")?, lang)?,
        })
    }

    #[staticmethod]
    #[pyo3(signature = (entropy, language = "english"))]
    fn from_entropy(entropy: &Bound<'_, PyAny>, language: &str) -> NativeResult<Self> {
        let e = args::secret(entropy, "entropy")?;
        Ok(PyMnemonic {
            inner: core::Mnemonic::from_entropy(e, core::language(language)?)?,
        })
    }

    /// Raises `InvalidMnemonic` naming the problem; returns None for a valid phrase.
    #[staticmethod]
    #[pyo3(signature = (phrase, language = None))]
    fn validate(
        phrase: &Bound<'_, PyAny>,
        language: Option<&Bound<'_, PyAny>>,
    ) -> NativeResult<()> {
        Self::from_phrase(phrase, language).map(|_| ())
    }

    #[staticmethod]
    fn detect_language(phrase: &Bound<'_, PyAny>) -> NativeResult<&'static str> {
        Ok(core::language_name(core::detect_language(&args::text(
            phrase, "phrase",
        )?)?))
    }

    #[getter]
    fn language(&self) -> &'static str {
        core::language_name(self.inner.language)
    }

    #[getter]
    fn word_count(&self) -> usize {
        self.inner.word_count()
    }

    /// The words, as text on the Python heap: call only to show or export them.
    fn phrase(&self) -> String {
        self.inner.phrase().to_string()
    }

    fn entropy(&self) -> PySecretBytes {
        PySecretBytes::wrap(self.inner.entropy.clone())
    }

    /// The 64-byte BIP39 seed (PBKDF2-HMAC-SHA512, 2048 rounds), GIL released.
    /// `passphrase` None is the empty passphrase.
    #[pyo3(signature = (passphrase = None))]
    fn to_seed(
        &self,
        py: Python<'_>,
        passphrase: Option<&Bound<'_, PyAny>>,
    ) -> NativeResult<PySecretBytes> {
        let pass = match passphrase {
            Some(p) if !p.is_none() => args::text(p, "passphrase")?,
            _ => "".into(),
        };
        let phrase = self.inner.phrase();
        let seed = without_gil(py, || Ok(core::to_seed(&phrase, &pass)))?;
        Ok(PySecretBytes::wrap(seed))
    }

    fn __repr__(&self) -> String {
        format!(
            "Mnemonic(<{} words, {}>)",
            self.inner.word_count(),
            self.language()
        )
    }

    fn __reduce__(&self) -> NativeResult<()> {
        Err(crate::error::NativeError::Type(
            "Mnemonic cannot be pickled".into(),
        ))
    }
}

pub fn register(parent: &Bound<'_, PyModule>) -> PyResult<()> {
    let m = PyModule::new(parent.py(), "bip39")?;
    m.add_class::<PyMnemonic>()?;
    crate::add_submodule(parent, &m)
}
