//! secp256k1: ECDSA (RFC 6979, low-S), recoverable signatures, BIP340
//! Schnorr, ECDH, and their batch forms, on libsecp256k1.
use ::secp256k1::ecdsa::{RecoverableSignature, RecoveryId, Signature};
use ::secp256k1::{
    ecdh, schnorr, Keypair, Message, PublicKey, SecretKey, XOnlyPublicKey, SECP256K1,
};
use rayon::prelude::*;
use zeroize::Zeroizing;

use crate::error::{fixed, Error, Result};
use crate::secret::{fill_random, SecretBytes};

/// A fresh private key from the OS CSPRNG (rejection-sampled below n).
pub fn generate_private_key() -> SecretBytes {
    loop {
        let candidate = SecretBytes::random(32);
        if secret_key(candidate.expose()).is_ok() {
            return candidate;
        }
    }
}

/// Parses a 32-byte private key in [1, n-1].
pub fn secret_key(private_key: &[u8]) -> Result<SecretKey> {
    if private_key.len() != 32 {
        return Err(Error::InvalidKey(format!(
            "secp256k1 private key must be 32 bytes, got {}",
            private_key.len()
        )));
    }
    let bytes: &[u8; 32] = private_key.try_into().expect("length checked");
    SecretKey::from_byte_array(*bytes).map_err(|_| {
        Error::InvalidKey(
            "secp256k1 private key must be in [1, n-1]: got 0 or a value not below the curve order"
                .into(),
        )
    })
}

/// Parses a compressed (33-byte) or uncompressed (65-byte) public key.
pub fn parse_public_key(public_key: &[u8]) -> Result<PublicKey> {
    match public_key.len() {
        33 | 65 => PublicKey::from_slice(public_key).map_err(|_| {
            Error::InvalidKey(
                "secp256k1 public key is not a point on the curve (or has a bad prefix byte)"
                    .into(),
            )
        }),
        n => Err(Error::InvalidKey(format!(
            "secp256k1 public key must be 33 (compressed) or 65 (uncompressed) bytes, got {n}"
        ))),
    }
}

fn parse_xonly(public_key: &[u8]) -> Result<XOnlyPublicKey> {
    if public_key.len() != 32 {
        return Err(Error::InvalidKey(format!(
            "BIP340 public key must be 32 bytes (x-only), got {}",
            public_key.len()
        )));
    }
    XOnlyPublicKey::from_byte_array(public_key.try_into().expect("length checked")).map_err(|_| {
        Error::InvalidKey("BIP340 public key is not the x coordinate of a curve point".into())
    })
}

fn message(digest: &[u8]) -> Result<Message> {
    Ok(Message::from_digest(fixed::<32>(digest, "digest")?))
}

/// Serializes a public key, compressed (33 bytes) or not (65 bytes).
pub fn serialize_public_key(key: &PublicKey, compressed: bool) -> Vec<u8> {
    if compressed {
        key.serialize().to_vec()
    } else {
        key.serialize_uncompressed().to_vec()
    }
}

pub fn public_key(private_key: &[u8], compressed: bool) -> Result<Vec<u8>> {
    let sk = secret_key(private_key)?;
    Ok(serialize_public_key(
        &PublicKey::from_secret_key(SECP256K1, &sk),
        compressed,
    ))
}

/// Re-encodes a public key compressed or uncompressed.
pub fn convert_public_key(public_key: &[u8], compressed: bool) -> Result<Vec<u8>> {
    Ok(serialize_public_key(
        &parse_public_key(public_key)?,
        compressed,
    ))
}

/// The 32-byte x-only public key of BIP340.
pub fn xonly_public_key(private_key: &[u8]) -> Result<[u8; 32]> {
    let sk = secret_key(private_key)?;
    Ok(sk.x_only_public_key(SECP256K1).0.serialize())
}

/// ECDSA over a 32-byte digest: RFC 6979 nonce, low-S, 64-byte r‖s.
pub fn sign(private_key: &[u8], digest: &[u8]) -> Result<[u8; 64]> {
    let sk = secret_key(private_key)?;
    Ok(SECP256K1
        .sign_ecdsa(message(digest)?, &sk)
        .serialize_compact())
}

/// ECDSA as strict DER, low-S.
pub fn sign_der(private_key: &[u8], digest: &[u8]) -> Result<Vec<u8>> {
    let sk = secret_key(private_key)?;
    Ok(SECP256K1
        .sign_ecdsa(message(digest)?, &sk)
        .serialize_der()
        .to_vec())
}

/// ECDSA with the recovery id: 65 bytes r‖s‖v, v in {0, 1}.
pub fn sign_recoverable(private_key: &[u8], digest: &[u8]) -> Result<[u8; 65]> {
    let sk = secret_key(private_key)?;
    let (id, rs) = SECP256K1
        .sign_ecdsa_recoverable(message(digest)?, &sk)
        .serialize_compact();
    let mut out = [0u8; 65];
    out[..64].copy_from_slice(&rs);
    out[64] = i32::from(id) as u8;
    Ok(out)
}

/// The public key that made a 65-byte recoverable signature.
/// `v` may be 0–3 or Ethereum's legacy 27–30.
pub fn recover(digest: &[u8], signature: &[u8], compressed: bool) -> Result<Vec<u8>> {
    let sig = fixed::<65>(signature, "recoverable signature")
        .map_err(|e| Error::InvalidSignature(e.message().to_owned()))?;
    let v = match sig[64] {
        v @ 0..=3 => v,
        v @ 27..=30 => v - 27,
        v => {
            return Err(Error::InvalidSignature(format!(
                "recovery id must be 0-3 (or 27-30), got {v}"
            )))
        }
    };
    let id = RecoveryId::try_from(i32::from(v))
        .map_err(|_| Error::InvalidSignature("bad recovery id".into()))?;
    let rsig = RecoverableSignature::from_compact(&sig[..64], id).map_err(|_| {
        Error::InvalidSignature("r or s is zero or not below the curve order".into())
    })?;
    let key = SECP256K1
        .recover_ecdsa(message(digest)?, &rsig)
        .map_err(|_| {
            Error::InvalidSignature("no public key recovers from this signature".into())
        })?;
    Ok(serialize_public_key(&key, compressed))
}

/// Parses a signature given as 64-byte compact r‖s or as strict DER.
/// High-S signatures are refused unless `allow_high_s`, then normalized.
pub fn parse_signature(signature: &[u8], allow_high_s: bool) -> Result<Signature> {
    let looks_der = signature.len() >= 8
        && signature[0] == 0x30
        && usize::from(signature[1]) + 2 == signature.len();
    let mut sig = if signature.len() == 64 && !(looks_der && Signature::from_der(signature).is_ok())
    {
        Signature::from_compact(signature).map_err(|_| {
            Error::InvalidSignature("compact signature has r or s not below the curve order".into())
        })?
    } else if signature.first() == Some(&0x30) {
        Signature::from_der(signature)
            .map_err(|_| Error::InvalidSignature("malformed DER signature".into()))?
    } else {
        return Err(Error::InvalidSignature(format!(
            "signature must be 64 bytes (compact r||s) or DER, got {} bytes",
            signature.len()
        )));
    };
    let before = sig.serialize_compact();
    sig.normalize_s();
    if !allow_high_s && sig.serialize_compact() != before {
        return Err(Error::InvalidSignature(
            "signature has a high S value (malleable); pass allow_high_s=True to accept it".into(),
        ));
    }
    Ok(sig)
}

/// Verifies ECDSA. Malformed keys and signatures are errors; a well-formed
/// signature that does not match is `Ok(false)`.
pub fn verify(
    public_key: &[u8],
    digest: &[u8],
    signature: &[u8],
    allow_high_s: bool,
) -> Result<bool> {
    let key = parse_public_key(public_key)?;
    let msg = message(digest)?;
    let sig = parse_signature(signature, allow_high_s)?;
    Ok(SECP256K1.verify_ecdsa(msg, &sig, &key).is_ok())
}

/// BIP340 Schnorr signature of `message` (any length; 32 bytes in BIP340
/// proper). Without `aux_rand`, 32 fresh random bytes are used.
pub fn schnorr_sign(
    private_key: &[u8],
    message: &[u8],
    aux_rand: Option<&[u8]>,
) -> Result<[u8; 64]> {
    let sk = secret_key(private_key)?;
    let keypair = Keypair::from_secret_key(SECP256K1, &sk);
    let aux = match aux_rand {
        Some(a) => fixed::<32>(a, "aux_rand")?,
        None => {
            let mut a = [0u8; 32];
            fill_random(&mut a);
            a
        }
    };
    Ok(SECP256K1
        .sign_schnorr_with_aux_rand(message, &keypair, &aux)
        .to_byte_array())
}

pub fn schnorr_verify(public_key: &[u8], message: &[u8], signature: &[u8]) -> Result<bool> {
    let key = parse_xonly(public_key)?;
    let sig = fixed::<64>(signature, "BIP340 signature")
        .map_err(|e| Error::InvalidSignature(e.message().to_owned()))?;
    Ok(SECP256K1
        .verify_schnorr(&schnorr::Signature::from_byte_array(sig), message, &key)
        .is_ok())
}

/// ECDH as libsecp256k1 defines it: SHA-256 of the compressed shared point.
pub fn ecdh(private_key: &[u8], public_key: &[u8]) -> Result<[u8; 32]> {
    let sk = secret_key(private_key)?;
    let pk = parse_public_key(public_key)?;
    Ok(ecdh::SharedSecret::new(&pk, &sk).secret_bytes())
}

/// Signs many digests with one key, on every core.
pub fn sign_batch(private_key: &[u8], digests: &[[u8; 32]]) -> Result<Vec<[u8; 64]>> {
    let sk = secret_key(private_key)?;
    Ok(digests
        .par_iter()
        .map(|d| {
            let signature = SECP256K1
                .sign_ecdsa(Message::from_digest(*d), &sk)
                .serialize_compact();
            // The nonce derivation (RFC 6979) copied the key onto this pool thread's stack.
            crate::symmetric::scrub_stack();
            signature
        })
        .collect())
}

/// Signs many digests with one key as strict DER, on every core.
pub fn sign_der_batch(private_key: &[u8], digests: &[[u8; 32]]) -> Result<Vec<Vec<u8>>> {
    let sk = secret_key(private_key)?;
    Ok(digests
        .par_iter()
        .map(|d| {
            let signature = SECP256K1
                .sign_ecdsa(Message::from_digest(*d), &sk)
                .serialize_der()
                .to_vec();
            crate::symmetric::scrub_stack();
            signature
        })
        .collect())
}

/// Signs `digests[i]` with `private_keys[i]`, on every core.
pub fn sign_many(
    private_keys: &[Zeroizing<[u8; 32]>],
    digests: &[[u8; 32]],
) -> Result<Vec<[u8; 64]>> {
    if private_keys.len() != digests.len() {
        return Err(Error::InvalidInput(format!(
            "got {} private keys for {} digests",
            private_keys.len(),
            digests.len()
        )));
    }
    private_keys
        .par_iter()
        .zip(digests.par_iter())
        .enumerate()
        .map(|(i, (k, d))| {
            let sk = SecretKey::from_byte_array(**k)
                .map_err(|_| Error::InvalidKey(format!("private_keys[{i}] must be in [1, n-1]")))?;
            let signature = SECP256K1
                .sign_ecdsa(Message::from_digest(*d), &sk)
                .serialize_compact();
            crate::symmetric::scrub_stack();
            Ok(signature)
        })
        .collect()
}

/// The public keys of a batch verification: one for all, or one per item.
pub enum BatchKeys<'a> {
    One(&'a [u8]),
    Each(&'a [Vec<u8>]),
}

impl BatchKeys<'_> {
    fn check_len(&self, n: usize) -> Result<()> {
        match self {
            BatchKeys::Each(keys) if keys.len() != n => Err(Error::InvalidInput(format!(
                "got {} public keys for {n} signatures",
                keys.len()
            ))),
            _ => Ok(()),
        }
    }
}

/// Verifies many signatures on every core. A malformed item is `false`.
pub fn verify_batch(
    public_keys: BatchKeys<'_>,
    digests: &[[u8; 32]],
    signatures: &[Vec<u8>],
    allow_high_s: bool,
) -> Result<Vec<bool>> {
    if digests.len() != signatures.len() {
        return Err(Error::InvalidInput(format!(
            "got {} digests for {} signatures",
            digests.len(),
            signatures.len()
        )));
    }
    public_keys.check_len(digests.len())?;
    let shared = match public_keys {
        BatchKeys::One(k) => Some(parse_public_key(k)?),
        BatchKeys::Each(_) => None,
    };
    Ok((0..digests.len())
        .into_par_iter()
        .map(|i| {
            let key = match (&shared, &public_keys) {
                (Some(k), _) => *k,
                (None, BatchKeys::Each(keys)) => match parse_public_key(&keys[i]) {
                    Ok(k) => k,
                    Err(_) => return false,
                },
                (None, BatchKeys::One(_)) => unreachable!("a single key is parsed above"),
            };
            match parse_signature(&signatures[i], allow_high_s) {
                Ok(sig) => SECP256K1
                    .verify_ecdsa(Message::from_digest(digests[i]), &sig, &key)
                    .is_ok(),
                Err(_) => false,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [7u8; 32];

    #[test]
    fn sign_verify_recover() {
        let digest = [1u8; 32];
        let pk = public_key(&KEY, true).unwrap();
        let sig = sign(&KEY, &digest).unwrap();
        assert!(verify(&pk, &digest, &sig, false).unwrap());
        assert!(!verify(&pk, &[2u8; 32], &sig, false).unwrap());
        let der = sign_der(&KEY, &digest).unwrap();
        assert!(verify(&pk, &digest, &der, false).unwrap());
        let rec = sign_recoverable(&KEY, &digest).unwrap();
        assert_eq!(&rec[..64], &sig[..]);
        assert_eq!(recover(&digest, &rec, true).unwrap(), pk);
    }

    #[test]
    fn rejects_bad_keys() {
        assert!(matches!(secret_key(&[0u8; 32]), Err(Error::InvalidKey(_))));
        assert!(matches!(
            secret_key(&[0xffu8; 32]),
            Err(Error::InvalidKey(_))
        ));
        assert!(matches!(secret_key(&[1u8; 31]), Err(Error::InvalidKey(_))));
        assert!(matches!(
            parse_public_key(&[2u8; 33]),
            Err(Error::InvalidKey(_)) | Ok(_)
        ));
        assert!(matches!(
            parse_public_key(&[5u8; 33]),
            Err(Error::InvalidKey(_))
        ));
    }

    #[test]
    fn high_s_is_refused_unless_allowed() {
        let digest = [3u8; 32];
        let pk = public_key(&KEY, true).unwrap();
        let sig = sign(&KEY, &digest).unwrap();
        // s' = n - s
        let n = hex_n();
        let mut s = [0u8; 32];
        let mut borrow = 0i16;
        for i in (0..32).rev() {
            let v = i16::from(n[i]) - i16::from(sig[32 + i]) - borrow;
            borrow = i16::from(v < 0);
            s[i] = (v + 256 * borrow) as u8;
        }
        let mut high = sig;
        high[32..].copy_from_slice(&s);
        assert!(matches!(
            verify(&pk, &digest, &high, false),
            Err(Error::InvalidSignature(_))
        ));
        assert!(verify(&pk, &digest, &high, true).unwrap());
    }

    fn hex_n() -> [u8; 32] {
        let mut n = [0u8; 32];
        let h = "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141";
        for i in 0..32 {
            n[i] = u8::from_str_radix(&h[2 * i..2 * i + 2], 16).unwrap();
        }
        n
    }

    #[test]
    fn batch_matches_single() {
        let digests: Vec<[u8; 32]> = (0..100u8).map(|i| [i; 32]).collect();
        let sigs = sign_batch(&KEY, &digests).unwrap();
        for (d, s) in digests.iter().zip(&sigs) {
            assert_eq!(&sign(&KEY, d).unwrap(), s);
        }
        let pk = public_key(&KEY, true).unwrap();
        let sig_vecs: Vec<Vec<u8>> = sigs.iter().map(|s| s.to_vec()).collect();
        let ok = verify_batch(BatchKeys::One(&pk), &digests, &sig_vecs, false).unwrap();
        assert!(ok.iter().all(|&b| b));
    }
}
