//! BIP39 mnemonics: entropy ↔ phrase in the ten official wordlists, with
//! errors that name the problem, and the PBKDF2 seed.
use std::collections::HashMap;
use std::sync::OnceLock;

use bip39::Language;
use sha2::{Digest, Sha256, Sha512};
use unicode_normalization::UnicodeNormalization;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::secret::SecretBytes;

/// The official wordlists, by the names python-mnemonic uses.
pub const LANGUAGES: [(&str, Language); 10] = [
    ("english", Language::English),
    ("chinese_simplified", Language::SimplifiedChinese),
    ("chinese_traditional", Language::TraditionalChinese),
    ("czech", Language::Czech),
    ("french", Language::French),
    ("italian", Language::Italian),
    ("japanese", Language::Japanese),
    ("korean", Language::Korean),
    ("portuguese", Language::Portuguese),
    ("spanish", Language::Spanish),
];

pub const WORD_COUNTS: [usize; 5] = [12, 15, 18, 21, 24];

pub fn language(name: &str) -> Result<Language> {
    LANGUAGES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, l)| *l)
        .ok_or_else(|| {
            let names: Vec<&str> = LANGUAGES.iter().map(|(n, _)| *n).collect();
            Error::InvalidInput(format!(
                "unknown BIP39 language {name:?}; expected one of {}",
                names.join(", ")
            ))
        })
}

pub fn language_name(lang: Language) -> &'static str {
    LANGUAGES
        .iter()
        .find(|(_, l)| *l == lang)
        .map(|(n, _)| *n)
        .expect("every language is listed")
}

/// NFKD form of each word → its index, per language (words are compared
/// after NFKD, as BIP39 normalizes phrases).
fn index(lang: Language) -> &'static HashMap<String, u16> {
    static INDEXES: OnceLock<Vec<HashMap<String, u16>>> = OnceLock::new();
    let all = INDEXES.get_or_init(|| {
        LANGUAGES
            .iter()
            .map(|(_, l)| {
                l.word_list()
                    .iter()
                    .enumerate()
                    .map(|(i, w)| (w.nfkd().collect::<String>(), i as u16))
                    .collect()
            })
            .collect()
    });
    let pos = LANGUAGES
        .iter()
        .position(|(_, l)| *l == lang)
        .expect("listed");
    &all[pos]
}

/// Splits a phrase into NFKD words on any whitespace (U+3000 included).
fn normalized_words(phrase: &str) -> Vec<String> {
    let normalized: Zeroizing<String> = Zeroizing::new(phrase.nfkd().collect());
    normalized.split_whitespace().map(str::to_owned).collect()
}

/// A phrase with valid words and checksum: its entropy and language.
pub struct Mnemonic {
    pub entropy: SecretBytes,
    pub language: Language,
}

impl Mnemonic {
    pub fn generate(words: usize, lang: Language) -> Result<Mnemonic> {
        if !WORD_COUNTS.contains(&words) {
            return Err(Error::InvalidInput(format!(
                "a BIP39 phrase has 12, 15, 18, 21 or 24 words, not {words}"
            )));
        }
        Ok(Mnemonic {
            entropy: SecretBytes::random(words / 3 * 4),
            language: lang,
        })
    }

    pub fn from_entropy(entropy: &[u8], lang: Language) -> Result<Mnemonic> {
        if !(16..=32).contains(&entropy.len()) || !entropy.len().is_multiple_of(4) {
            return Err(Error::InvalidInput(format!(
                "BIP39 entropy must be 16, 20, 24, 28 or 32 bytes, got {}",
                entropy.len()
            )));
        }
        Ok(Mnemonic {
            entropy: SecretBytes::from_slice(entropy),
            language: lang,
        })
    }

    /// Parses and validates a phrase; detects the language when not given.
    pub fn from_phrase(phrase: &str, lang: Option<Language>) -> Result<Mnemonic> {
        let words = Zeroizing::new(normalized_words(phrase));
        if !WORD_COUNTS.contains(&words.len()) {
            return Err(Error::InvalidMnemonic(format!(
                "the phrase has {} words; a BIP39 phrase has 12, 15, 18, 21 or 24",
                words.len()
            )));
        }
        let lang = match lang {
            Some(l) => l,
            None => detect(&words)?,
        };
        let map = index(lang);
        let mut indices = Zeroizing::new(Vec::with_capacity(words.len()));
        for (pos, w) in words.iter().enumerate() {
            match map.get(w) {
                Some(&i) => indices.push(i),
                None => {
                    return Err(Error::InvalidMnemonic(format!(
                        "word {} is not in the {} wordlist",
                        pos + 1,
                        language_name(lang)
                    )))
                }
            }
        }
        let entropy = decode_indices(&indices)?;
        Ok(Mnemonic {
            entropy,
            language: lang,
        })
    }

    /// The words, joined as the language expects (U+3000 for Japanese).
    pub fn phrase(&self) -> Zeroizing<String> {
        let list = self.language.word_list();
        let sep = if self.language == Language::Japanese {
            "\u{3000}"
        } else {
            " "
        };
        let words: Vec<&str> = encode_indices(self.entropy.expose())
            .iter()
            .map(|&i| list[usize::from(i)])
            .collect();
        Zeroizing::new(words.join(sep))
    }

    pub fn word_count(&self) -> usize {
        self.entropy.len() * 3 / 4
    }
}

/// The language of a phrase (see [`Mnemonic::from_phrase`] for the rules).
pub fn detect_language(phrase: &str) -> Result<Language> {
    let words = Zeroizing::new(normalized_words(phrase));
    if words.is_empty() {
        return Err(Error::InvalidMnemonic("the phrase is empty".into()));
    }
    detect(&words)
}

/// The language whose wordlist has every word and whose checksum holds.
fn detect(words: &[String]) -> Result<Language> {
    let candidates: Vec<Language> = LANGUAGES
        .iter()
        .map(|(_, l)| *l)
        .filter(|l| words.iter().all(|w| index(*l).contains_key(w)))
        .collect();
    match candidates.as_slice() {
        [] => {
            // Name the first word that no list has, or the first that breaks the best list.
            let best = LANGUAGES
                .iter()
                .map(|(_, l)| {
                    (
                        *l,
                        words.iter().filter(|w| index(*l).contains_key(*w)).count(),
                    )
                })
                .max_by_key(|(_, n)| *n)
                .map(|(l, _)| l)
                .expect("ten languages");
            let pos = words
                .iter()
                .position(|w| !index(best).contains_key(w))
                .unwrap_or(0);
            Err(Error::InvalidMnemonic(format!(
                "word {} is not in any BIP39 wordlist that fits the rest of the phrase (closest: {})",
                pos + 1,
                language_name(best)
            )))
        }
        [only] => Ok(*only),
        several => {
            // Shared words (English/French, the two Chinese lists): keep the first list
            // whose checksum holds; identical words give identical seeds.
            for l in several {
                let idx: Zeroizing<Vec<u16>> =
                    Zeroizing::new(words.iter().map(|w| index(*l)[w]).collect());
                if decode_indices(&idx).is_ok() {
                    return Ok(*l);
                }
            }
            Ok(several[0])
        }
    }
}

fn checksum_bits(entropy: &[u8]) -> u8 {
    Sha256::digest(entropy)[0]
}

fn encode_indices(entropy: &[u8]) -> Zeroizing<Vec<u16>> {
    let cs_len = entropy.len() / 4; // bits
    let mut bits = Zeroizing::new(Vec::with_capacity(entropy.len() * 8 + cs_len));
    for byte in entropy {
        for i in (0..8).rev() {
            bits.push((byte >> i) & 1);
        }
    }
    let cs = checksum_bits(entropy);
    for i in 0..cs_len {
        bits.push((cs >> (7 - i)) & 1);
    }
    Zeroizing::new(
        bits.chunks(11)
            .map(|c| c.iter().fold(0u16, |acc, &b| (acc << 1) | u16::from(b)))
            .collect(),
    )
}

fn decode_indices(indices: &[u16]) -> Result<SecretBytes> {
    let total = indices.len() * 11;
    let cs_len = total / 33;
    let ent_len = total - cs_len;
    let mut bits = Zeroizing::new(Vec::with_capacity(total));
    for &i in indices {
        for b in (0..11).rev() {
            bits.push(((i >> b) & 1) as u8);
        }
    }
    let mut entropy = Zeroizing::new(vec![0u8; ent_len / 8]);
    for (n, byte) in entropy.iter_mut().enumerate() {
        *byte = bits[n * 8..n * 8 + 8]
            .iter()
            .fold(0u8, |acc, &b| (acc << 1) | b);
    }
    let cs = checksum_bits(&entropy);
    let expected = bits[ent_len..].iter().fold(0u8, |acc, &b| (acc << 1) | b);
    if cs >> (8 - cs_len) != expected {
        return Err(Error::InvalidMnemonic(
            "bad checksum: the last word does not match the others (a word is wrong or out of order)".into(),
        ));
    }
    Ok(SecretBytes::from_slice(&entropy))
}

/// The 64-byte BIP39 seed: PBKDF2-HMAC-SHA512, 2048 rounds, over the NFKD
/// phrase with salt "mnemonic" ‖ NFKD passphrase. The phrase is not checked,
/// as BIP39 specifies.
pub fn to_seed(phrase: &str, passphrase: &str) -> SecretBytes {
    let words = Zeroizing::new(normalized_words(phrase).join(" "));
    let salt: Zeroizing<String> =
        Zeroizing::new(format!("mnemonic{}", passphrase.nfkd().collect::<String>()));
    let mut seed = Zeroizing::new([0u8; 64]);
    pbkdf2::pbkdf2_hmac::<Sha512>(words.as_bytes(), salt.as_bytes(), 2048, seed.as_mut());
    SecretBytes::from_slice(seed.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ABOUT: &str = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";

    #[test]
    fn abandon_about() {
        let m = Mnemonic::from_phrase(ABOUT, None).unwrap();
        assert_eq!(m.entropy.expose(), &[0u8; 16]);
        assert_eq!(m.language, Language::English);
        assert_eq!(m.phrase().as_str(), ABOUT);
        let seed = to_seed(ABOUT, "TREZOR");
        assert_eq!(
            hex::encode(seed.expose()),
            "c55257c360c07c72029aebc1b53c05ed0362ada38ead3e3e9efa3708e53495531f09a6987599d18264c1e1c92f2cf141630c7a3c4ab7c81b2f001698e7463b04"
        );
    }

    #[test]
    fn errors_name_the_problem() {
        let bad_word = ABOUT.replace("about", "aboot");
        let e = Mnemonic::from_phrase(&bad_word, Some(Language::English))
            .err()
            .unwrap();
        assert!(e.message().contains("word 12"), "{e}");
        let bad_sum = ABOUT.replace("about", "abandon");
        let e = Mnemonic::from_phrase(&bad_sum, None).err().unwrap();
        assert!(e.message().contains("checksum"), "{e}");
        let e = Mnemonic::from_phrase("abandon abandon", None)
            .err()
            .unwrap();
        assert!(e.message().contains("2 words"), "{e}");
    }
}
