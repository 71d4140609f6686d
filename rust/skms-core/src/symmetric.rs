//! Keyed symmetric primitives whose key stays in Rust memory: the AEADs
//! (AES-256-GCM, ChaCha20-Poly1305, XChaCha20-Poly1305) and the MACs
//! (HMAC-SHA-256, HMAC-SHA-512, keyed BLAKE3).
//!
//! Each call builds its cipher or MAC state from the key and drops it (wiped)
//! before returning, so no key schedule outlives the call: a sealed store must
//! leave no copy of a key in the process. Ciphertexts are `nonce ‖ ciphertext ‖ tag`
//! with a fresh random nonce.
use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::Aes256Gcm;
use chacha20poly1305::{ChaCha20Poly1305, XChaCha20Poly1305};
use hmac::{Hmac, Mac as _};
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

use crate::error::{Error, Result};
use crate::secret::fill_random;

pub const TAG_SIZE: usize = 16;

/// An AEAD by its registry id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Aead {
    Aes256Gcm,
    ChaCha20Poly1305,
    XChaCha20Poly1305,
}

impl Aead {
    pub fn from_name(name: &str) -> Result<Self> {
        match name {
            "aes256-gcm" => Ok(Aead::Aes256Gcm),
            "chacha20-poly1305" => Ok(Aead::ChaCha20Poly1305),
            "xchacha20-poly1305" => Ok(Aead::XChaCha20Poly1305),
            _ => Err(Error::InvalidInput(format!("unknown AEAD {name:?}"))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Aead::Aes256Gcm => "aes256-gcm",
            Aead::ChaCha20Poly1305 => "chacha20-poly1305",
            Aead::XChaCha20Poly1305 => "xchacha20-poly1305",
        }
    }

    pub fn nonce_size(self) -> usize {
        match self {
            Aead::XChaCha20Poly1305 => 24,
            _ => 12,
        }
    }

    /// The length of `nonce ‖ ciphertext ‖ tag` for a plaintext of `len` bytes.
    pub fn sealed_len(self, len: usize) -> usize {
        self.nonce_size() + len + TAG_SIZE
    }

    /// Encrypts `out[nonce..nonce + len]` in place and writes the nonce before and the tag after
    /// it: `out` is `sealed_len(len)` bytes with the plaintext already at offset `nonce_size()`.
    pub fn seal_in_place(self, key: &[u8], out: &mut [u8], aad: &[u8]) -> Result<()> {
        let n = self.nonce_size();
        if out.len() < n + TAG_SIZE {
            return Err(Error::InvalidInput("the output buffer is too short".into()));
        }
        let (nonce, rest) = out.split_at_mut(n);
        fill_random(nonce);
        let (body, tag_out) = rest.split_at_mut(rest.len() - TAG_SIZE);
        let tag = match self {
            Aead::Aes256Gcm => cipher::<Aes256Gcm>(self, key)?.encrypt_in_place_detached(
                (&*nonce).into(),
                aad,
                body,
            ),
            Aead::ChaCha20Poly1305 => cipher::<ChaCha20Poly1305>(self, key)?
                .encrypt_in_place_detached((&*nonce).into(), aad, body),
            Aead::XChaCha20Poly1305 => cipher::<XChaCha20Poly1305>(self, key)?
                .encrypt_in_place_detached((&*nonce).into(), aad, body),
        }
        .map_err(|_| Error::InvalidInput(format!("{} input is too long", self.name())))?;
        tag_out.copy_from_slice(&tag);
        Ok(())
    }

    /// `nonce ‖ ciphertext ‖ tag` of `plaintext`.
    pub fn seal(self, key: &[u8], plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>> {
        let n = self.nonce_size();
        let mut out = vec![0u8; self.sealed_len(plaintext.len())];
        out[n..n + plaintext.len()].copy_from_slice(plaintext);
        if let Err(e) = self.seal_in_place(key, &mut out, aad) {
            out.zeroize();
            return Err(e);
        }
        Ok(out)
    }

    /// The plaintext length of a sealed `blob`, or the integrity error naming a short one.
    pub fn opened_len(self, blob: &[u8]) -> Result<usize> {
        let min = self.nonce_size() + TAG_SIZE;
        if blob.len() < min {
            return Err(Error::Integrity(format!(
                "{} ciphertext is at least {min} bytes, got {}",
                self.name(),
                blob.len()
            )));
        }
        Ok(blob.len() - min)
    }

    /// Decrypts `blob` (`nonce ‖ ciphertext ‖ tag`) into `out` (`opened_len(blob)` bytes).
    /// On failure `out` is zeroed and an integrity error returned.
    pub fn open_into(self, key: &[u8], blob: &[u8], aad: &[u8], out: &mut [u8]) -> Result<()> {
        let len = self.opened_len(blob)?;
        if out.len() != len {
            return Err(Error::InvalidInput(
                "the output buffer has the wrong length".into(),
            ));
        }
        let n = self.nonce_size();
        let nonce = &blob[..n];
        let tag = &blob[n + len..];
        out.copy_from_slice(&blob[n..n + len]);
        let result = match self {
            Aead::Aes256Gcm => cipher::<Aes256Gcm>(self, key)?.decrypt_in_place_detached(
                nonce.into(),
                aad,
                out,
                tag.into(),
            ),
            Aead::ChaCha20Poly1305 => cipher::<ChaCha20Poly1305>(self, key)?
                .decrypt_in_place_detached(nonce.into(), aad, out, tag.into()),
            Aead::XChaCha20Poly1305 => cipher::<XChaCha20Poly1305>(self, key)?
                .decrypt_in_place_detached(nonce.into(), aad, out, tag.into()),
        };
        if result.is_err() {
            out.zeroize();
            return Err(Error::Integrity(format!(
                "{} decryption failed: wrong key, altered ciphertext or associated data",
                self.name()
            )));
        }
        Ok(())
    }

    /// The plaintext of `blob` in a buffer of exactly its size (no reallocation leaves a copy).
    pub fn open(self, key: &[u8], blob: &[u8], aad: &[u8]) -> Result<Vec<u8>> {
        let mut out = vec![0u8; self.opened_len(blob)?];
        self.open_into(key, blob, aad, &mut out)?;
        Ok(out)
    }
}

/// The cipher on the heap: its drop wipes the key schedule, which a copy moved
/// around the stack would not get.
fn cipher<C: KeyInit>(aead: Aead, key: &[u8]) -> Result<Box<C>> {
    C::new_from_slice(key).map(Box::new).map_err(|_| {
        Error::InvalidKey(format!(
            "{} key must be 32 bytes, got {}",
            aead.name(),
            key.len()
        ))
    })
}

/// A MAC by its registry id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mac {
    HmacSha256,
    HmacSha512,
    Blake3,
}

impl Mac {
    pub fn from_name(name: &str) -> Result<Self> {
        match name {
            "hmac-sha256" => Ok(Mac::HmacSha256),
            "hmac-sha512" => Ok(Mac::HmacSha512),
            "blake3-keyed" => Ok(Mac::Blake3),
            _ => Err(Error::InvalidInput(format!("unknown MAC {name:?}"))),
        }
    }

    pub fn tag_size(self) -> usize {
        match self {
            Mac::HmacSha512 => 64,
            _ => 32,
        }
    }

    /// The tag of `data` (the concatenation of `parts`) into `out` (`tag_size()` bytes).
    pub fn tag_into(self, key: &[u8], parts: &[&[u8]], out: &mut [u8]) -> Result<()> {
        match self {
            Mac::HmacSha256 => {
                let mut m = Box::new(
                    <Hmac<sha2::Sha256> as hmac::Mac>::new_from_slice(key)
                        .map_err(|_| Error::InvalidKey("bad HMAC key".into()))?,
                );
                for p in parts {
                    m.update(p);
                }
                out.copy_from_slice(&m.finalize_reset().into_bytes());
            }
            Mac::HmacSha512 => {
                let mut m = Box::new(
                    <Hmac<sha2::Sha512> as hmac::Mac>::new_from_slice(key)
                        .map_err(|_| Error::InvalidKey("bad HMAC key".into()))?,
                );
                for p in parts {
                    m.update(p);
                }
                out.copy_from_slice(&m.finalize_reset().into_bytes());
            }
            Mac::Blake3 => {
                let k: &[u8; 32] = key.try_into().map_err(|_| {
                    Error::InvalidKey(format!(
                        "blake3-keyed key must be 32 bytes, got {}",
                        key.len()
                    ))
                })?;
                let mut h = Box::new(blake3::Hasher::new_keyed(k));
                for p in parts {
                    h.update(p);
                }
                out.copy_from_slice(h.finalize().as_bytes());
                h.zeroize();
            }
        }
        Ok(())
    }

    pub fn tag(self, key: &[u8], parts: &[&[u8]]) -> Result<Vec<u8>> {
        let mut out = vec![0u8; self.tag_size()];
        self.tag_into(key, parts, &mut out)?;
        Ok(out)
    }

    /// True when `tag` is the tag of `data`, compared in constant time.
    pub fn verify(self, key: &[u8], data: &[u8], tag: &[u8]) -> Result<bool> {
        let expected = self.tag(key, &[data])?;
        Ok(tag.len() == expected.len() && bool::from(expected.ct_eq(tag)))
    }
}

/// The RFC 3394 / RFC 5649 failure every bad unwrap reports (the cause is not told apart).
const UNWRAP_FAILED: &str = "key unwrap failed: wrong wrapping key or altered data";

macro_rules! with_kek {
    ($kek:expr, |$k:ident| $body:expr) => {
        match $kek.len() {
            16 => {
                let $k = Box::new(aes_kw::KekAes128::try_from($kek).map_err(|_| bad_kek($kek))?);
                $body
            }
            24 => {
                let $k = Box::new(aes_kw::KekAes192::try_from($kek).map_err(|_| bad_kek($kek))?);
                $body
            }
            32 => {
                let $k = Box::new(aes_kw::KekAes256::try_from($kek).map_err(|_| bad_kek($kek))?);
                $body
            }
            _ => return Err(bad_kek($kek)),
        }
    };
}

fn bad_kek(kek: &[u8]) -> Error {
    Error::InvalidInput(format!(
        "wrapping key must be 16, 24 or 32 bytes, got {}",
        kek.len()
    ))
}

/// AES key wrap of `key` under `kek`: RFC 3394, or RFC 5649 with `padding`.
pub fn key_wrap(kek: &[u8], key: &[u8], padding: bool) -> Result<Vec<u8>> {
    let bad =
        |_| Error::InvalidInput("the key to wrap has a length the key wrap cannot take".into());
    with_kek!(kek, |k| if padding {
        k.wrap_with_padding_vec(key).map_err(bad)
    } else {
        k.wrap_vec(key).map_err(bad)
    })
}

/// The key in `wrapped`, in a buffer of exactly its size; an integrity error otherwise.
pub fn key_unwrap(kek: &[u8], wrapped: &[u8], padding: bool) -> Result<Vec<u8>> {
    if wrapped.len() < 16 || !wrapped.len().is_multiple_of(8) {
        return Err(Error::Integrity(UNWRAP_FAILED.into()));
    }
    let mut out = vec![0u8; wrapped.len() - 8];
    let result = with_kek!(kek, |k| if padding {
        k.unwrap_with_padding(wrapped, &mut out)
            .map(|plain| plain.len())
    } else {
        k.unwrap(wrapped, &mut out).map(|()| out.len())
    });
    match result {
        Ok(len) if len == out.len() => Ok(out),
        Ok(len) => {
            let exact = out[..len].to_vec();
            out.zeroize();
            Ok(exact)
        }
        Err(_) => {
            out.zeroize();
            Err(Error::Integrity(UNWRAP_FAILED.into()))
        }
    }
}

/// Overwrites the stack below the caller with zeros. Keyed code leaves key
/// bytes and key schedules in its dead stack frames (a value moved out of a
/// frame is not wiped there), which later calls reuse only partly; a call that
/// handled a key ends with this, from a frame above the keyed ones.
pub fn scrub_stack() {
    scrub_stack_of::<SCRUB_BYTES>();
}

/// As [`scrub_stack`], for the deepest callers (FN-DSA keeps whole decoded keys on the stack).
pub fn scrub_stack_deep() {
    scrub_stack_of::<DEEP_SCRUB_BYTES>();
}

#[inline(never)]
fn scrub_stack_of<const N: usize>() {
    let area = [0u8; N];
    std::hint::black_box(&area);
}

/// Deeper than the frames of any keyed call but FN-DSA's (the hashes and ciphers
/// here keep their state on the heap).
pub const SCRUB_BYTES: usize = 16 * 1024;
/// FN-DSA key generation and signing.
pub const DEEP_SCRUB_BYTES: usize = 256 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aeads_round_trip_and_reject_changes() {
        let key = [7u8; 32];
        for aead in [
            Aead::Aes256Gcm,
            Aead::ChaCha20Poly1305,
            Aead::XChaCha20Poly1305,
        ] {
            let blob = aead.seal(&key, b"hello", b"ad").unwrap();
            assert_eq!(blob.len(), aead.sealed_len(5));
            assert_eq!(aead.open(&key, &blob, b"ad").unwrap(), b"hello");
            assert!(aead.open(&key, &blob, b"other").is_err());
            let mut bad = blob.clone();
            bad[aead.nonce_size()] ^= 1;
            assert!(matches!(
                aead.open(&key, &bad, b"ad"),
                Err(Error::Integrity(_))
            ));
            assert!(matches!(
                aead.open(&key, &blob[..10], b"ad"),
                Err(Error::Integrity(_))
            ));
            assert!(matches!(
                aead.seal(&key[..16], b"x", b""),
                Err(Error::InvalidKey(_))
            ));
        }
    }

    #[test]
    fn aes_gcm_known_answer() {
        // NIST GCM test vector (AES-256, 96-bit IV, empty plaintext): key and IV all zero.
        let key = [0u8; 32];
        let mut blob = vec![0u8; 12];
        blob.extend_from_slice(&[
            0x53, 0x0f, 0x8a, 0xfb, 0xc7, 0x45, 0x36, 0xb9, 0xa9, 0x63, 0xb4, 0xf1, 0xc4, 0xcb,
            0x73, 0x8b,
        ]);
        assert_eq!(Aead::Aes256Gcm.open(&key, &blob, b"").unwrap(), b"");
    }

    #[test]
    fn key_wrap_known_answers_and_refusals() {
        // RFC 3394 4.6: 256-bit key data with a 256-bit KEK.
        let kek: Vec<u8> = (0u8..32).collect();
        let data = hex::decode("00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F")
            .unwrap();
        let wrapped = key_wrap(&kek, &data, false).unwrap();
        assert_eq!(
            hex::encode_upper(&wrapped),
            "28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326CBC7F0E71A99F43BFB988B9B7A02DD21"
        );
        assert_eq!(key_unwrap(&kek, &wrapped, false).unwrap(), data);
        // RFC 5649 4: 20 octets under a 192-bit KEK.
        let kek = hex::decode("5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8").unwrap();
        let data = hex::decode("c37b7e6492584340bed12207808941155068f738").unwrap();
        let wrapped = key_wrap(&kek, &data, true).unwrap();
        assert_eq!(
            hex::encode(&wrapped),
            "138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a"
        );
        assert_eq!(key_unwrap(&kek, &wrapped, true).unwrap(), data);
        let mut bad = wrapped.clone();
        bad[3] ^= 1;
        assert!(matches!(
            key_unwrap(&kek, &bad, true),
            Err(Error::Integrity(_))
        ));
        assert!(matches!(
            key_unwrap(&kek, &wrapped[..12], true),
            Err(Error::Integrity(_))
        ));
        assert!(matches!(
            key_wrap(&kek[..5], &data, true),
            Err(Error::InvalidInput(_))
        ));
    }

    #[test]
    fn macs_match_references() {
        // RFC 4231 test case 1.
        let key = [0x0bu8; 20];
        let tag = Mac::HmacSha256.tag(&key, &[b"Hi ", b"There"]).unwrap();
        assert_eq!(
            hex::encode(&tag),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        assert!(Mac::HmacSha256.verify(&key, b"Hi There", &tag).unwrap());
        assert!(!Mac::HmacSha256.verify(&key, b"Hi there", &tag).unwrap());
        let key = [0x0bu8; 32];
        assert_eq!(Mac::HmacSha512.tag(&key, &[b"x"]).unwrap().len(), 64);
        let b3 = Mac::Blake3.tag(&key, &[b"data"]).unwrap();
        assert_eq!(b3, blake3::keyed_hash(&key, b"data").as_bytes());
    }
}
