//! EME-OAEP decoding (RFC 8017 §7.1.2) with SHA-256 and MGF1-SHA-256, in constant time.
//!
//! For tokens that decrypt RSA-OAEP with SHA-1 only (SoftHSM2 2.6): the token does the raw
//! private operation (`CKM_RSA_X_509`, m = c^d mod n) and this module decodes the result.
//! Every check (the leading Y byte, the label hash, the padding scan) is branch-free and they
//! are folded into one verdict, so that timing and the error say nothing about which one failed
//! (Manger's attack needs exactly that distinction). Only the length of a valid message is
//! revealed, as it is by the plaintext itself.
use sha2::{Digest, Sha256};
use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::secret::SecretBytes;

/// SHA-256's output size (hLen).
pub const HASH_LEN: usize = 32;
/// The smallest modulus that fits an empty message: 2·hLen + 2 bytes.
pub const MIN_MODULUS_LEN: usize = 2 * HASH_LEN + 2;
/// The largest modulus accepted: 16,384 bits.
pub const MAX_MODULUS_LEN: usize = 2048;

/// The one error of every decoding failure.
pub const FAILED: &str = "RSA-OAEP decryption failed: wrong key or altered ciphertext";

/// `out ^= MGF1-SHA-256(seed, out.len())`.
fn mgf1_xor(seed: &[u8], out: &mut [u8]) {
    let mut mask = Zeroizing::new([0u8; HASH_LEN]);
    for (counter, chunk) in (0u32..).zip(out.chunks_mut(HASH_LEN)) {
        let mut h = Sha256::new();
        h.update(seed);
        h.update(counter.to_be_bytes());
        h.finalize_into((&mut mask[..]).into());
        for (o, m) in chunk.iter_mut().zip(mask.iter()) {
            *o ^= m;
        }
    }
}

/// The message of `encoded`, the output of a raw RSA private operation (I2OSP(m, k), or
/// shorter when the token strips leading zeros) for a modulus of `modulus_len` bytes.
///
/// Every malformed encoding gives the same `Error::Integrity(FAILED)`; an `encoded` longer
/// than the modulus or a modulus out of range (public facts) is `InvalidInput`.
pub fn decode_sha256(encoded: &[u8], modulus_len: usize, label: &[u8]) -> Result<SecretBytes> {
    let k = modulus_len;
    if !(MIN_MODULUS_LEN..=MAX_MODULUS_LEN).contains(&k) {
        return Err(Error::InvalidInput(format!(
            "an RSA-OAEP SHA-256 modulus is {MIN_MODULUS_LEN} to {MAX_MODULUS_LEN} bytes, got {k}"
        )));
    }
    if encoded.len() > k {
        return Err(Error::InvalidInput(format!(
            "the RSA output is {} bytes, longer than the {k}-byte modulus",
            encoded.len()
        )));
    }
    let mut em = Zeroizing::new(vec![0u8; k]);
    em[k - encoded.len()..].copy_from_slice(encoded);
    let l_hash = Sha256::digest(label);

    let (y, rest) = em.split_at_mut(1);
    let (seed, db) = rest.split_at_mut(HASH_LEN);
    mgf1_xor(db, seed); // seed = maskedSeed ⊕ MGF(maskedDB)
    mgf1_xor(seed, db); // DB = maskedDB ⊕ MGF(seed)

    // DB = lHash' ‖ PS (zeros) ‖ 0x01 ‖ M
    let mut good = y[0].ct_eq(&0) & db[..HASH_LEN].ct_eq(&l_hash[..]);
    let mut looking = Choice::from(1u8); // still in PS: no 0x01 seen yet
    let mut index = 0u32; // position of the 0x01 in DB
    for (i, byte) in (HASH_LEN as u32..).zip(db[HASH_LEN..].iter()) {
        let zero = byte.ct_eq(&0);
        let one = byte.ct_eq(&1);
        index.conditional_assign(&i, looking & one);
        good &= !(looking & !zero & !one); // a byte other than 0 or 1 before the separator
        looking &= !one;
    }
    good &= !looking; // no separator at all

    if bool::from(good) {
        Ok(SecretBytes::new(db[index as usize + 1..].to_vec()))
    } else {
        Err(Error::Integrity(FAILED.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// EME-OAEP encoding (RFC 8017 §7.1.1) with a given seed: the decoder's mirror, for tests.
    fn encode(message: &[u8], k: usize, label: &[u8], seed: [u8; HASH_LEN]) -> Vec<u8> {
        assert!(message.len() <= k - 2 * HASH_LEN - 2);
        let mut db = Sha256::digest(label).to_vec();
        db.resize(k - message.len() - HASH_LEN - 2, 0);
        db.push(1);
        db.extend_from_slice(message);
        let mut seed = seed.to_vec();
        mgf1_xor(&seed, &mut db);
        mgf1_xor(&db, &mut seed);
        let mut em = vec![0u8];
        em.extend(seed);
        em.extend(db);
        em
    }

    fn failed(r: Result<SecretBytes>) -> bool {
        matches!(r, Err(Error::Integrity(m)) if m == FAILED)
    }

    #[test]
    fn round_trips_every_length() {
        for k in [MIN_MODULUS_LEN, 128, 384, 512] {
            for len in 0..=k - MIN_MODULUS_LEN {
                let message: Vec<u8> = (0..len).map(|i| (i * 7 + k) as u8).collect();
                let em = encode(&message, k, b"", [len as u8; 32]);
                assert_eq!(decode_sha256(&em, k, b"").unwrap().expose(), &message[..]);
                // A token that strips the leading zero byte.
                assert_eq!(
                    decode_sha256(&em[1..], k, b"").unwrap().expose(),
                    &message[..]
                );
            }
        }
    }

    #[test]
    fn every_corruption_fails_alike() {
        let k = 384;
        let em = encode(b"a data key of 32 bytes, say....", k, b"", [9; 32]);
        for i in 0..k {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut bad = em.clone();
                bad[i] ^= flip;
                assert!(failed(decode_sha256(&bad, k, b"")), "byte {i} ^ {flip:#x}");
            }
        }
    }

    #[test]
    fn label_is_checked() {
        let em = encode(b"m", 256, b"label", [1; 32]);
        assert_eq!(decode_sha256(&em, 256, b"label").unwrap().expose(), b"m");
        assert!(failed(decode_sha256(&em, 256, b"")));
    }

    #[test]
    fn padding_defects_fail_alike() {
        let k = 128;
        let l_hash = Sha256::digest(b"");
        let mask_and_wrap = |db: Vec<u8>, y: u8| {
            let mut db = db;
            let mut seed = vec![3u8; HASH_LEN];
            mgf1_xor(&seed, &mut db);
            mgf1_xor(&db, &mut seed);
            let mut em = vec![y];
            em.extend(seed);
            em.extend(db);
            em
        };
        let db_len = k - HASH_LEN - 1;
        // No 0x01 separator: all zeros after lHash.
        let mut none = l_hash.to_vec();
        none.resize(db_len, 0);
        assert!(failed(decode_sha256(&mask_and_wrap(none, 0), k, b"")));
        // A 0x02 before the separator.
        let mut two = l_hash.to_vec();
        two.resize(db_len - 3, 0);
        two.extend([2, 1, 0x41]);
        assert!(failed(decode_sha256(&mask_and_wrap(two, 0), k, b"")));
        // A non-zero Y byte with an otherwise valid block.
        let mut good = l_hash.to_vec();
        good.resize(db_len - 2, 0);
        good.extend([1, 0x41]);
        assert_eq!(
            decode_sha256(&mask_and_wrap(good.clone(), 0), k, b"")
                .unwrap()
                .expose(),
            b"A"
        );
        assert!(failed(decode_sha256(&mask_and_wrap(good, 1), k, b"")));
        // The separator as the very last byte: an empty message.
        let mut empty = l_hash.to_vec();
        empty.resize(db_len - 1, 0);
        empty.push(1);
        assert!(decode_sha256(&mask_and_wrap(empty, 0), k, b"")
            .unwrap()
            .is_empty());
    }

    #[test]
    fn public_shape_errors() {
        assert!(matches!(
            decode_sha256(&[0; 10], 65, b""),
            Err(Error::InvalidInput(_))
        ));
        assert!(matches!(
            decode_sha256(&[0; 129], 128, b""),
            Err(Error::InvalidInput(_))
        ));
        assert!(failed(decode_sha256(&[], 128, b"")));
    }
}
