//! Ed25519 (RFC 8032) with strict verification: non-canonical S,
//! non-canonical R and small-order keys or R are refused.
use curve25519_dalek::edwards::CompressedEdwardsY;
use curve25519_dalek::scalar::Scalar;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use rayon::prelude::*;

use crate::error::{fixed, Error, Result};
use crate::secret::SecretBytes;

/// Items verified together by one batch equation; failures fall back to
/// one-by-one verification to find the bad items.
const BATCH_CHUNK: usize = 64;

/// A fresh 32-byte private key (the RFC 8032 seed).
pub fn generate_private_key() -> SecretBytes {
    SecretBytes::random(32)
}

pub fn signing_key(private_key: &[u8]) -> Result<SigningKey> {
    let seed = fixed::<32>(private_key, "Ed25519 private key")
        .map_err(|e| Error::InvalidKey(e.message().to_owned()))?;
    Ok(SigningKey::from_bytes(&seed))
}

/// Parses a public key; refuses encodings off the curve and small-order points.
pub fn verifying_key(public_key: &[u8]) -> Result<VerifyingKey> {
    let bytes = fixed::<32>(public_key, "Ed25519 public key")
        .map_err(|e| Error::InvalidKey(e.message().to_owned()))?;
    let key = VerifyingKey::from_bytes(&bytes)
        .map_err(|_| Error::InvalidKey("Ed25519 public key is not a point on the curve".into()))?;
    if key.is_weak() {
        return Err(Error::InvalidKey(
            "Ed25519 public key is a small-order point".into(),
        ));
    }
    Ok(key)
}

/// Parses a signature and refuses a non-canonical S (S ≥ L).
pub fn parse_signature(signature: &[u8]) -> Result<Signature> {
    let bytes = fixed::<64>(signature, "Ed25519 signature")
        .map_err(|e| Error::InvalidSignature(e.message().to_owned()))?;
    let s: [u8; 32] = bytes[32..].try_into().expect("32 bytes");
    if Option::<Scalar>::from(Scalar::from_canonical_bytes(s)).is_none() {
        return Err(Error::InvalidSignature(
            "Ed25519 signature has a non-canonical S (S >= L)".into(),
        ));
    }
    Ok(Signature::from_bytes(&bytes))
}

pub fn public_key(private_key: &[u8]) -> Result<[u8; 32]> {
    Ok(signing_key(private_key)?.verifying_key().to_bytes())
}

pub fn sign(private_key: &[u8], message: &[u8]) -> Result<[u8; 64]> {
    Ok(signing_key(private_key)?.sign(message).to_bytes())
}

/// Strict verification. Malformed keys and signatures are errors; a
/// well-formed signature that does not match is `Ok(false)`.
pub fn verify(public_key: &[u8], message: &[u8], signature: &[u8]) -> Result<bool> {
    let key = verifying_key(public_key)?;
    let sig = parse_signature(signature)?;
    Ok(key.verify_strict(message, &sig).is_ok())
}

/// Signs many messages with one key, on every core.
pub fn sign_batch<M: AsRef<[u8]> + Sync>(
    private_key: &[u8],
    messages: &[M],
) -> Result<Vec<[u8; 64]>> {
    let key = signing_key(private_key)?;
    Ok(messages
        .par_iter()
        .map(|m| key.sign(m.as_ref()).to_bytes())
        .collect())
}

/// The public keys of a batch verification: one for all, or one per item.
pub enum BatchKeys<'a> {
    One(&'a [u8]),
    Each(&'a [Vec<u8>]),
}

/// A parsed item that passed every strict check but the equation itself.
struct Candidate<'a> {
    index: usize,
    key: VerifyingKey,
    sig: Signature,
    message: &'a [u8],
}

fn strict_r(sig: &Signature) -> bool {
    let r = CompressedEdwardsY(sig.r_bytes().to_owned());
    match r.decompress() {
        Some(point) => !point.is_small_order() && point.compress() == r,
        None => false,
    }
}

/// Verifies many signatures: batch equations over chunks on every core,
/// with the same answers as [`verify`] item by item (malformed is `false`).
pub fn verify_batch<M: AsRef<[u8]> + Sync>(
    public_keys: BatchKeys<'_>,
    messages: &[M],
    signatures: &[Vec<u8>],
) -> Result<Vec<bool>> {
    let n = messages.len();
    if signatures.len() != n {
        return Err(Error::InvalidInput(format!(
            "got {n} messages for {} signatures",
            signatures.len()
        )));
    }
    let shared = match public_keys {
        BatchKeys::One(k) => Some(verifying_key(k)?),
        BatchKeys::Each(keys) if keys.len() != n => {
            return Err(Error::InvalidInput(format!(
                "got {} public keys for {n} signatures",
                keys.len()
            )))
        }
        BatchKeys::Each(_) => None,
    };
    let chunks: Vec<Vec<bool>> = (0..n)
        .collect::<Vec<_>>()
        .par_chunks(BATCH_CHUNK)
        .map(|indices| {
            let mut out = vec![false; indices.len()];
            let mut candidates = Vec::with_capacity(indices.len());
            for (slot, &i) in indices.iter().enumerate() {
                let key = match (&shared, &public_keys) {
                    (Some(k), _) => *k,
                    (None, BatchKeys::Each(keys)) => match verifying_key(&keys[i]) {
                        Ok(k) => k,
                        Err(_) => continue,
                    },
                    (None, BatchKeys::One(_)) => unreachable!("a single key is parsed above"),
                };
                let Ok(sig) = parse_signature(&signatures[i]) else {
                    continue;
                };
                if !strict_r(&sig) {
                    continue;
                }
                candidates.push(Candidate {
                    index: slot,
                    key,
                    sig,
                    message: messages[i].as_ref(),
                });
            }
            let msgs: Vec<&[u8]> = candidates.iter().map(|c| c.message).collect();
            let sigs: Vec<Signature> = candidates.iter().map(|c| c.sig).collect();
            let keys: Vec<VerifyingKey> = candidates.iter().map(|c| c.key).collect();
            if !candidates.is_empty() && ed25519_dalek::verify_batch(&msgs, &sigs, &keys).is_ok() {
                for c in &candidates {
                    out[c.index] = true;
                }
            } else {
                for c in &candidates {
                    out[c.index] = c.key.verify_strict(c.message, &c.sig).is_ok();
                }
            }
            out
        })
        .collect();
    Ok(chunks.into_iter().flatten().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc8032_test_1() {
        let sk = hex::decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
            .unwrap();
        let pk = public_key(&sk).unwrap();
        assert_eq!(
            hex::encode(pk),
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
        );
        let sig = sign(&sk, b"").unwrap();
        assert_eq!(
            hex::encode(sig),
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        );
        assert!(verify(&pk, b"", &sig).unwrap());
        assert!(!verify(&pk, b"x", &sig).unwrap());
    }

    #[test]
    fn batch_finds_the_bad_item() {
        let sk = [9u8; 32];
        let pk = public_key(&sk).unwrap();
        let msgs: Vec<Vec<u8>> = (0..200u8).map(|i| vec![i; 10]).collect();
        let mut sigs: Vec<Vec<u8>> = sign_batch(&sk, &msgs)
            .unwrap()
            .iter()
            .map(|s| s.to_vec())
            .collect();
        sigs[77][0] ^= 1;
        let ok = verify_batch(BatchKeys::One(&pk), &msgs, &sigs).unwrap();
        assert_eq!(ok.iter().filter(|&&b| !b).count(), 1);
        assert!(!ok[77]);
    }
}
