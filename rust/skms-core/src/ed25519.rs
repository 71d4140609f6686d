//! Ed25519 (RFC 8032) with strict encodings and the cofactored verification
//! equation [8][S]B = [8]R + [8][k]A (RFC 8032 §5.1.7), in single and batch
//! form, so that a batch gives exactly the answers of one-by-one checks.
//! Non-canonical S, non-canonical R or A encodings, and small-order R or A
//! are refused.
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use ed25519_dalek::{Signer, SigningKey};
use rayon::prelude::*;
use sha2::{Digest, Sha512};

use crate::error::{fixed, Error, Result};
use crate::secret::{fill_random, SecretBytes};

/// Items checked by one batch equation; a failing chunk is re-checked one by
/// one to find the bad items.
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

/// A decompressed point with a canonical encoding and not of small order.
fn strict_point(bytes: &[u8; 32]) -> Option<EdwardsPoint> {
    let compressed = CompressedEdwardsY(*bytes);
    let point = compressed.decompress()?;
    (point.compress() == compressed && !point.is_small_order()).then_some(point)
}

/// A parsed public key: its encoding and its point.
#[derive(Clone, Copy)]
pub struct PublicKey {
    bytes: [u8; 32],
    point: EdwardsPoint,
}

/// Parses a public key; refuses non-canonical encodings, points off the curve
/// and small-order points.
pub fn public_key_point(public_key: &[u8]) -> Result<PublicKey> {
    let bytes = fixed::<32>(public_key, "Ed25519 public key")
        .map_err(|e| Error::InvalidKey(e.message().to_owned()))?;
    let compressed = CompressedEdwardsY(bytes);
    let point = compressed.decompress().ok_or_else(|| {
        Error::InvalidKey("Ed25519 public key is not a point on the curve".into())
    })?;
    if point.compress() != compressed {
        return Err(Error::InvalidKey(
            "Ed25519 public key has a non-canonical encoding".into(),
        ));
    }
    if point.is_small_order() {
        return Err(Error::InvalidKey(
            "Ed25519 public key is a small-order point".into(),
        ));
    }
    Ok(PublicKey { bytes, point })
}

/// A parsed signature: R's encoding and S, with S canonical (S < L).
#[derive(Clone, Copy)]
pub struct Signature {
    r: [u8; 32],
    s: Scalar,
}

pub fn parse_signature(signature: &[u8]) -> Result<Signature> {
    let bytes = fixed::<64>(signature, "Ed25519 signature")
        .map_err(|e| Error::InvalidSignature(e.message().to_owned()))?;
    let s: [u8; 32] = bytes[32..].try_into().expect("32 bytes");
    let s = Option::<Scalar>::from(Scalar::from_canonical_bytes(s)).ok_or_else(|| {
        Error::InvalidSignature("Ed25519 signature has a non-canonical S (S >= L)".into())
    })?;
    Ok(Signature {
        r: bytes[..32].try_into().expect("32 bytes"),
        s,
    })
}

pub fn public_key(private_key: &[u8]) -> Result<[u8; 32]> {
    Ok(signing_key(private_key)?.verifying_key().to_bytes())
}

pub fn sign(private_key: &[u8], message: &[u8]) -> Result<[u8; 64]> {
    Ok(signing_key(private_key)?.sign(message).to_bytes())
}

/// k = SHA-512(R ‖ A ‖ M) mod L.
fn challenge(r: &[u8; 32], a: &[u8; 32], message: &[u8]) -> Scalar {
    let mut h = Sha512::new();
    h.update(r);
    h.update(a);
    h.update(message);
    Scalar::from_hash(h)
}

/// One item, parsed and checked except for the group equation.
struct Item {
    index: usize,
    key: PublicKey,
    r: EdwardsPoint,
    s: Scalar,
    k: Scalar,
}

fn prepare(index: usize, key: PublicKey, message: &[u8], sig: Signature) -> Option<Item> {
    let r = strict_point(&sig.r)?;
    Some(Item {
        index,
        key,
        r,
        s: sig.s,
        k: challenge(&sig.r, &key.bytes, message),
    })
}

/// [8]([S]B − [k]A − R) = 0.
fn check_one(item: &Item) -> bool {
    let sb_minus_ka =
        EdwardsPoint::vartime_double_scalar_mul_basepoint(&item.k, &(-item.key.point), &item.s);
    (sb_minus_ka - item.r).mul_by_cofactor().is_identity()
}

/// [8](Σ zᵢSᵢ·B − Σ zᵢRᵢ − Σ zᵢkᵢAᵢ) = 0 with random 128-bit zᵢ.
fn check_batch(items: &[Item]) -> bool {
    let mut random = vec![0u8; 16 * items.len()];
    fill_random(&mut random);
    let mut scalars = Vec::with_capacity(2 * items.len() + 1);
    let mut points = Vec::with_capacity(2 * items.len() + 1);
    let mut b_coefficient = Scalar::ZERO;
    for (item, z) in items.iter().zip(random.chunks_exact(16)) {
        let mut wide = [0u8; 32];
        wide[..16].copy_from_slice(z);
        let z = Scalar::from_bytes_mod_order(wide);
        b_coefficient += z * item.s;
        scalars.push(-z);
        points.push(item.r);
        scalars.push(-(z * item.k));
        points.push(item.key.point);
    }
    scalars.push(b_coefficient);
    points.push(curve25519_dalek::constants::ED25519_BASEPOINT_POINT);
    EdwardsPoint::vartime_multiscalar_mul(scalars, points)
        .mul_by_cofactor()
        .is_identity()
}

/// Verification. Malformed keys and signatures are errors; a well-formed
/// signature that does not match is `Ok(false)`.
pub fn verify(public_key: &[u8], message: &[u8], signature: &[u8]) -> Result<bool> {
    let key = public_key_point(public_key)?;
    let sig = parse_signature(signature)?;
    Ok(prepare(0, key, message, sig).is_some_and(|item| check_one(&item)))
}

/// Signs many messages with one key, on every core.
pub fn sign_batch<M: AsRef<[u8]> + Sync>(
    private_key: &[u8],
    messages: &[M],
) -> Result<Vec<[u8; 64]>> {
    let key = signing_key(private_key)?;
    Ok(messages
        .par_iter()
        .map(|m| {
            let signature = key.sign(m.as_ref()).to_bytes();
            // Signing hashed the seed on this pool thread's stack.
            crate::symmetric::scrub_stack();
            signature
        })
        .collect())
}

/// The public keys of a batch verification: one for all, or one per item.
pub enum BatchKeys<'a> {
    One(&'a [u8]),
    Each(&'a [Vec<u8>]),
}

/// Verifies many signatures: one batch equation per chunk, chunks on every
/// core, the same answers as [`verify`] item by item (malformed is `false`).
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
        BatchKeys::One(k) => Some(public_key_point(k)?),
        BatchKeys::Each(keys) if keys.len() != n => {
            return Err(Error::InvalidInput(format!(
                "got {} public keys for {n} signatures",
                keys.len()
            )))
        }
        BatchKeys::Each(_) => None,
    };
    let indices: Vec<usize> = (0..n).collect();
    let chunks: Vec<Vec<bool>> = indices
        .par_chunks(BATCH_CHUNK)
        .map(|chunk| {
            let mut out = vec![false; chunk.len()];
            let items: Vec<Item> = chunk
                .iter()
                .enumerate()
                .filter_map(|(slot, &i)| {
                    let key = match (&shared, &public_keys) {
                        (Some(k), _) => *k,
                        (None, BatchKeys::Each(keys)) => public_key_point(&keys[i]).ok()?,
                        (None, BatchKeys::One(_)) => unreachable!("a single key is parsed above"),
                    };
                    let sig = parse_signature(&signatures[i]).ok()?;
                    prepare(slot, key, messages[i].as_ref(), sig)
                })
                .collect();
            if !items.is_empty() && check_batch(&items) {
                for item in &items {
                    out[item.index] = true;
                }
            } else {
                for item in &items {
                    out[item.index] = check_one(item);
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
