//! Zero-knowledge proofs about a private key, on secp256k1 and Ed25519:
//! a Schnorr proof of knowledge of the key (RFC 8235) and a Chaum–Pedersen
//! proof that two points share one discrete logarithm (DLEQ), both made
//! non-interactive with Fiat–Shamir over a caller-chosen context.
//!
//! They let SKMS show that it holds a key without signing data a verifier
//! chose: the verifier puts its challenge nonce and identity in `context`,
//! which is hashed into the challenge, so a proof made for one context does
//! not verify under another.
//!
//! # The secret
//!
//! * secp256k1: the 32-byte private key x in [1, n-1]; public key X = x·G.
//! * Ed25519: the RFC 8032 32-byte seed; x = clamp(SHA-512(seed)[0..32])
//!   reduced mod L, so X = x·G is the usual Ed25519 public key A.
//!
//! # Encodings
//!
//! Points: secp256k1 compressed SEC1 (33 bytes; public keys, bases and Y
//! are also accepted uncompressed, 65 bytes, and always hashed compressed),
//! Ed25519 compressed (32 bytes, canonical). Scalars: 32 bytes, big-endian
//! for secp256k1 (SEC1), little-endian for Ed25519 (RFC 8032), canonical
//! (below the group order) and non-zero.
//!
//! Hashes: `H` is SHA-256 reduced mod n on secp256k1 and SHA-512 reduced
//! mod L on Ed25519, over a transcript where every item is preceded by its
//! length as an 8-byte big-endian integer (so no two different item lists
//! hash the same input).
//!
//! # Schnorr proof of knowledge (RFC 8235 §3.3, Fiat–Shamir)
//!
//! ```text
//! r = H("SKMS-ZKP-NONCE-v1", curve, x, aux, attempt, "SKMS-ZKP-SCHNORR-v1", X, context)
//! V = r·G
//! c = H("SKMS-ZKP-SCHNORR-v1", curve, G, X, V, context)
//! s = r − c·x
//! proof = V ‖ s          (65 bytes on secp256k1, 64 on Ed25519)
//! valid iff V = s·G + c·X
//! ```
//!
//! # DLEQ (Chaum–Pedersen), log_G(X) = log_H(Y)
//!
//! ```text
//! Y = x·H
//! r = H("SKMS-ZKP-NONCE-v1", curve, x, aux, attempt, "SKMS-ZKP-DLEQ-v1", H, X, context)
//! A = r·G,  B = r·H
//! c = H("SKMS-ZKP-DLEQ-v1", curve, G, H, X, Y, A, B, context)
//! s = r − c·x
//! proof = c ‖ s          (64 bytes on both curves)
//! valid iff c = H(…, s·G + c·X, s·H + c·Y, context)
//! ```
//!
//! The (c, s) form is the shorter one (A and B are recomputed, as in RFC
//! 9381's ECVRF proofs) and has no points for a verifier to validate.
//!
//! # Nonces
//!
//! r is hedged: it hashes the secret, 32 fresh bytes from the OS CSPRNG
//! (`aux`) and every public input, so a broken RNG alone cannot make two
//! different challenges share a nonce (which would reveal x), and a good
//! RNG protects against fault attacks on a purely deterministic nonce.
//! c = 0 or s = 0 happen with probability about 2^-252; the prover then
//! retries with the next `attempt`, and verifiers refuse such proofs.
//!
//! # Independent bases
//!
//! [`independent_base`] hashes a label to a point H whose discrete log
//! with respect to G nobody knows, for use as the DLEQ base (try-and-
//! increment, counter as 4 bytes big-endian):
//!
//! * secp256k1: the first counter for which SHA-256(label ‖ counter) is
//!   the x coordinate of a curve point; H is that point with even y.
//! * Ed25519: the first counter for which SHA-512(label ‖ counter)[0..32]
//!   is the canonical encoding of a curve point P with 8·P not the identity;
//!   H = 8·P, in the prime-order subgroup.
//!
//! The label is the caller's domain separation (for example
//! `b"example.com/dleq-base/v1"`).
//!
//! # Errors
//!
//! Malformed private keys and public keys are [`Error::InvalidKey`]; bases
//! and Y that are not valid points (or, on Ed25519, not in the prime-order
//! subgroup) are [`Error::InvalidInput`], as is an unknown curve; proofs of
//! the wrong length, with a commitment that is not a point or a scalar that
//! is zero or not canonical, are [`Error::InvalidSignature`]. A well-formed
//! proof that does not verify is `Ok(false)`.
use ::secp256k1::{PublicKey, Scalar as SecpScalar, SecretKey, SECP256K1};
use curve25519_dalek::constants::ED25519_BASEPOINT_COMPRESSED;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::{clamp_integer, Scalar as EdScalar};
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use sha2::{Digest, Sha256, Sha512};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::secret::fill_random;

/// Domain tag of the Schnorr proof of knowledge's challenge.
pub const SCHNORR_TAG: &[u8] = b"SKMS-ZKP-SCHNORR-v1";
/// Domain tag of the DLEQ proof's challenge.
pub const DLEQ_TAG: &[u8] = b"SKMS-ZKP-DLEQ-v1";
/// Domain tag of the hedged nonce derivation.
const NONCE_TAG: &[u8] = b"SKMS-ZKP-NONCE-v1";

/// The curves proofs are made on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Curve {
    Secp256k1,
    Ed25519,
}

impl Curve {
    pub const ALL: [Curve; 2] = [Curve::Secp256k1, Curve::Ed25519];

    /// Parses `"secp256k1"` or `"ed25519"`.
    pub fn parse(name: &str) -> Result<Curve> {
        match name {
            "secp256k1" => Ok(Curve::Secp256k1),
            "ed25519" => Ok(Curve::Ed25519),
            other => Err(Error::InvalidInput(format!(
                "curve must be \"secp256k1\" or \"ed25519\", got {other:?}"
            ))),
        }
    }

    /// The name hashed into every transcript.
    pub fn name(self) -> &'static str {
        match self {
            Curve::Secp256k1 => "secp256k1",
            Curve::Ed25519 => "ed25519",
        }
    }
}

/// How an error about a point or scalar is reported.
type Kind = fn(String) -> Error;

/// The prime-order group operations the protocols need, once per curve.
trait Group {
    /// A scalar mod the group order; for secp256k1 always non-zero.
    type Scalar;
    type Point;
    const CURVE: Curve;
    /// Length of an encoded point in proofs.
    const POINT_LEN: usize;

    /// The encoded generator G, hashed into every challenge.
    const GENERATOR: &'static [u8];

    fn private_scalar(private_key: &[u8]) -> Result<Self::Scalar>;
    fn encode(point: &Self::Point) -> Vec<u8>;
    /// Parses a point a caller supplied; on Ed25519 `subgroup` also refuses
    /// points with a small-order component.
    fn decode(bytes: &[u8], what: &str, kind: Kind, subgroup: bool) -> Result<Self::Point>;
    fn scalar_bytes(scalar: &Self::Scalar) -> [u8; 32];
    /// A canonical, non-zero scalar (an [`Error::InvalidSignature`] otherwise).
    fn parse_scalar(bytes: &[u8], what: &str) -> Result<Self::Scalar>;
    /// H over a length-prefixed transcript; `None` when the result is zero.
    fn hash_to_scalar(items: &[&[u8]]) -> Option<Self::Scalar>;
    fn mul_base(k: &Self::Scalar) -> Self::Point;
    fn mul(point: &Self::Point, k: &Self::Scalar) -> Self::Point;
    /// r − c·x, or `None` when it is zero.
    fn response(r: &Self::Scalar, c: &Self::Scalar, x: &Self::Scalar) -> Option<Self::Scalar>;
    /// s·P + c·Q (P = G when `p` is `None`), or `None` for the identity
    /// where the curve's point type cannot hold it. Variable time: public data.
    fn lincomb(
        s: &Self::Scalar,
        p: Option<&Self::Point>,
        c: &Self::Scalar,
        q: &Self::Point,
    ) -> Option<Self::Point>;
}

fn transcript<D: Digest>(items: &[&[u8]]) -> D {
    let mut h = D::new();
    for item in items {
        h.update((item.len() as u64).to_be_bytes());
        h.update(item);
    }
    h
}

// --- secp256k1 --------------------------------------------------------------

/// The order n of secp256k1, big-endian.
const SECP256K1_N: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
    0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41,
];

/// v mod n for a 256-bit v: one subtraction suffices since 2^256 < 2n.
fn reduce_mod_n(mut v: [u8; 32]) -> [u8; 32] {
    if v >= SECP256K1_N {
        let mut borrow = 0u16;
        for i in (0..32).rev() {
            let d = u16::from(v[i]) + 256 - u16::from(SECP256K1_N[i]) - borrow;
            v[i] = d as u8;
            borrow = u16::from(d < 256);
        }
    }
    v
}

struct Secp256k1Group;

impl Group for Secp256k1Group {
    type Scalar = SecretKey;
    type Point = PublicKey;
    const CURVE: Curve = Curve::Secp256k1;
    const POINT_LEN: usize = 33;
    const GENERATOR: &'static [u8] = &[
        0x02, 0x79, 0xbe, 0x66, 0x7e, 0xf9, 0xdc, 0xbb, 0xac, 0x55, 0xa0, 0x62, 0x95, 0xce, 0x87,
        0x0b, 0x07, 0x02, 0x9b, 0xfc, 0xdb, 0x2d, 0xce, 0x28, 0xd9, 0x59, 0xf2, 0x81, 0x5b, 0x16,
        0xf8, 0x17, 0x98,
    ];

    fn private_scalar(private_key: &[u8]) -> Result<SecretKey> {
        crate::secp256k1::secret_key(private_key)
    }

    fn encode(point: &PublicKey) -> Vec<u8> {
        point.serialize().to_vec()
    }

    fn decode(bytes: &[u8], what: &str, kind: Kind, _subgroup: bool) -> Result<PublicKey> {
        match bytes.len() {
            33 | 65 => PublicKey::from_slice(bytes).map_err(|_| {
                kind(format!(
                    "secp256k1 {what} is not a point on the curve (or has a bad prefix byte)"
                ))
            }),
            n => Err(kind(format!(
                "secp256k1 {what} must be 33 (compressed) or 65 (uncompressed) bytes, got {n}"
            ))),
        }
    }

    fn scalar_bytes(scalar: &SecretKey) -> [u8; 32] {
        scalar.secret_bytes()
    }

    fn parse_scalar(bytes: &[u8], what: &str) -> Result<SecretKey> {
        let array: [u8; 32] = bytes.try_into().map_err(|_| {
            Error::InvalidSignature(format!("{what} must be 32 bytes, got {}", bytes.len()))
        })?;
        SecretKey::from_byte_array(array).map_err(|_| {
            Error::InvalidSignature(format!(
                "{what} must be in [1, n-1]: got 0 or a value not below the curve order"
            ))
        })
    }

    fn hash_to_scalar(items: &[&[u8]]) -> Option<SecretKey> {
        let digest = Zeroizing::new(<[u8; 32]>::from(transcript::<Sha256>(items).finalize()));
        SecretKey::from_byte_array(reduce_mod_n(*digest)).ok()
    }

    fn mul_base(k: &SecretKey) -> PublicKey {
        PublicKey::from_secret_key(SECP256K1, k)
    }

    fn mul(point: &PublicKey, k: &SecretKey) -> PublicKey {
        // k in [1, n-1] and a point of prime order n: never the identity.
        point
            .mul_tweak(SECP256K1, &SecpScalar::from(*k))
            .expect("a non-zero multiple of a curve point")
    }

    fn response(r: &SecretKey, c: &SecretKey, x: &SecretKey) -> Option<SecretKey> {
        let cx = x.mul_tweak(&SecpScalar::from(*c)).ok()?;
        r.add_tweak(&SecpScalar::from(cx.negate())).ok()
    }

    fn lincomb(
        s: &SecretKey,
        p: Option<&PublicKey>,
        c: &SecretKey,
        q: &PublicKey,
    ) -> Option<PublicKey> {
        let sp = match p {
            None => Self::mul_base(s),
            Some(p) => Self::mul(p, s),
        };
        sp.combine(&Self::mul(q, c)).ok()
    }
}

// --- Ed25519 ----------------------------------------------------------------

struct Ed25519Group;

impl Group for Ed25519Group {
    type Scalar = EdScalar;
    type Point = EdwardsPoint;
    const CURVE: Curve = Curve::Ed25519;
    const POINT_LEN: usize = 32;
    const GENERATOR: &'static [u8] = &ED25519_BASEPOINT_COMPRESSED.0;

    fn private_scalar(private_key: &[u8]) -> Result<EdScalar> {
        let seed: &[u8; 32] = private_key.try_into().map_err(|_| {
            Error::InvalidKey(format!(
                "Ed25519 private key must be 32 bytes, got {}",
                private_key.len()
            ))
        })?;
        let hash = Zeroizing::new(<[u8; 64]>::from(Sha512::digest(seed)));
        let mut lower = Zeroizing::new([0u8; 32]);
        lower.copy_from_slice(&hash[..32]);
        let x = EdScalar::from_bytes_mod_order(clamp_integer(*lower));
        // Unreachable: a clamped integer is in [2^254, 2^255) and a multiple
        // of 8, and no such integer is a multiple of L.
        if x == EdScalar::ZERO {
            return Err(Error::InvalidKey(
                "Ed25519 private key gives a zero scalar".into(),
            ));
        }
        Ok(x)
    }

    fn encode(point: &EdwardsPoint) -> Vec<u8> {
        point.compress().to_bytes().to_vec()
    }

    fn decode(bytes: &[u8], what: &str, kind: Kind, subgroup: bool) -> Result<EdwardsPoint> {
        let array: [u8; 32] = bytes.try_into().map_err(|_| {
            kind(format!(
                "Ed25519 {what} must be 32 bytes, got {}",
                bytes.len()
            ))
        })?;
        let point = CompressedEdwardsY(array)
            .decompress()
            .ok_or_else(|| kind(format!("Ed25519 {what} is not a point on the curve")))?;
        if point.compress().to_bytes() != array {
            return Err(kind(format!("Ed25519 {what} is not canonically encoded")));
        }
        if point.is_small_order() {
            return Err(kind(format!("Ed25519 {what} is a small-order point")));
        }
        if subgroup && !point.is_torsion_free() {
            return Err(kind(format!(
                "Ed25519 {what} has a small-order component (not in the prime-order subgroup)"
            )));
        }
        Ok(point)
    }

    fn scalar_bytes(scalar: &EdScalar) -> [u8; 32] {
        scalar.to_bytes()
    }

    fn parse_scalar(bytes: &[u8], what: &str) -> Result<EdScalar> {
        let array: [u8; 32] = bytes.try_into().map_err(|_| {
            Error::InvalidSignature(format!("{what} must be 32 bytes, got {}", bytes.len()))
        })?;
        let scalar =
            Option::<EdScalar>::from(EdScalar::from_canonical_bytes(array)).ok_or_else(|| {
                Error::InvalidSignature(format!("{what} is not canonical (not below L)"))
            })?;
        if scalar == EdScalar::ZERO {
            return Err(Error::InvalidSignature(format!("{what} is zero")));
        }
        Ok(scalar)
    }

    fn hash_to_scalar(items: &[&[u8]]) -> Option<EdScalar> {
        let digest = Zeroizing::new(<[u8; 64]>::from(transcript::<Sha512>(items).finalize()));
        let scalar = EdScalar::from_bytes_mod_order_wide(&digest);
        (scalar != EdScalar::ZERO).then_some(scalar)
    }

    fn mul_base(k: &EdScalar) -> EdwardsPoint {
        EdwardsPoint::mul_base(k)
    }

    fn mul(point: &EdwardsPoint, k: &EdScalar) -> EdwardsPoint {
        point * k
    }

    fn response(r: &EdScalar, c: &EdScalar, x: &EdScalar) -> Option<EdScalar> {
        let s = r - c * x;
        (s != EdScalar::ZERO).then_some(s)
    }

    fn lincomb(
        s: &EdScalar,
        p: Option<&EdwardsPoint>,
        c: &EdScalar,
        q: &EdwardsPoint,
    ) -> Option<EdwardsPoint> {
        Some(match p {
            None => EdwardsPoint::vartime_double_scalar_mul_basepoint(c, q, s),
            Some(p) => EdwardsPoint::vartime_multiscalar_mul([s, c], [p, q]),
        })
    }
}

// --- The protocols, once for both curves --------------------------------------

/// The hedged nonce of `attempt` (see the module documentation); `None`
/// when it is zero (probability 2^-252), and the caller tries the next.
fn nonce<G: Group>(
    x: &G::Scalar,
    aux: &[u8; 32],
    attempt: u32,
    public: &[&[u8]],
) -> Option<G::Scalar> {
    let secret = Zeroizing::new(G::scalar_bytes(x));
    let attempt = attempt.to_be_bytes();
    let mut items: Vec<&[u8]> = vec![
        NONCE_TAG,
        G::CURVE.name().as_bytes(),
        &secret[..],
        aux,
        &attempt,
    ];
    items.extend_from_slice(public);
    G::hash_to_scalar(&items)
}

fn schnorr_challenge<G: Group>(x_pub: &[u8], v: &[u8], context: &[u8]) -> Option<G::Scalar> {
    G::hash_to_scalar(&[
        SCHNORR_TAG,
        G::CURVE.name().as_bytes(),
        G::GENERATOR,
        x_pub,
        v,
        context,
    ])
}

fn schnorr_prove<G: Group>(private_key: &[u8], context: &[u8], aux: &[u8; 32]) -> Result<Vec<u8>> {
    let x = G::private_scalar(private_key)?;
    let x_pub = G::encode(&G::mul_base(&x));
    for attempt in 0u32.. {
        let Some(r) = nonce::<G>(&x, aux, attempt, &[SCHNORR_TAG, &x_pub, context]) else {
            continue;
        };
        let mut proof = G::encode(&G::mul_base(&r));
        let Some(c) = schnorr_challenge::<G>(&x_pub, &proof, context) else {
            continue;
        };
        let Some(s) = G::response(&r, &c, &x) else {
            continue;
        };
        proof.extend_from_slice(&G::scalar_bytes(&s));
        return Ok(proof);
    }
    unreachable!("2^32 attempts, each failing with probability 2^-251")
}

fn schnorr_verify<G: Group>(public_key: &[u8], proof: &[u8], context: &[u8]) -> Result<bool> {
    let x_point = G::decode(public_key, "public key", Error::InvalidKey, true)?;
    let expected = G::POINT_LEN + 32;
    if proof.len() != expected {
        return Err(Error::InvalidSignature(format!(
            "{} Schnorr proof must be {expected} bytes (V || s), got {}",
            G::CURVE.name(),
            proof.len()
        )));
    }
    let (v, s) = proof.split_at(G::POINT_LEN);
    G::decode(v, "proof commitment V", Error::InvalidSignature, false)?;
    let s = G::parse_scalar(s, "proof response s")?;
    let Some(c) = schnorr_challenge::<G>(&G::encode(&x_point), v, context) else {
        return Ok(false);
    };
    Ok(G::lincomb(&s, None, &c, &x_point).is_some_and(|p| G::encode(&p) == v))
}

fn dleq_challenge<G: Group>(points: [&[u8]; 5], context: &[u8]) -> Option<G::Scalar> {
    let [h, x_pub, y, a, b] = points;
    G::hash_to_scalar(&[
        DLEQ_TAG,
        G::CURVE.name().as_bytes(),
        G::GENERATOR,
        h,
        x_pub,
        y,
        a,
        b,
        context,
    ])
}

fn dleq_prove<G: Group>(
    private_key: &[u8],
    base: &[u8],
    context: &[u8],
    aux: &[u8; 32],
) -> Result<(Vec<u8>, Vec<u8>)> {
    let x = G::private_scalar(private_key)?;
    let h_point = G::decode(base, "base", Error::InvalidInput, true)?;
    let h = G::encode(&h_point);
    let x_pub = G::encode(&G::mul_base(&x));
    let y = G::encode(&G::mul(&h_point, &x));
    for attempt in 0u32.. {
        let Some(r) = nonce::<G>(&x, aux, attempt, &[DLEQ_TAG, &h, &x_pub, context]) else {
            continue;
        };
        let a = G::encode(&G::mul_base(&r));
        let b = G::encode(&G::mul(&h_point, &r));
        let Some(c) = dleq_challenge::<G>([&h, &x_pub, &y, &a, &b], context) else {
            continue;
        };
        let Some(s) = G::response(&r, &c, &x) else {
            continue;
        };
        let mut proof = G::scalar_bytes(&c).to_vec();
        proof.extend_from_slice(&G::scalar_bytes(&s));
        return Ok((y, proof));
    }
    unreachable!("2^32 attempts, each failing with probability 2^-251")
}

fn dleq_verify<G: Group>(
    public_key: &[u8],
    base: &[u8],
    y: &[u8],
    proof: &[u8],
    context: &[u8],
) -> Result<bool> {
    let x_point = G::decode(public_key, "public key", Error::InvalidKey, true)?;
    let h_point = G::decode(base, "base", Error::InvalidInput, true)?;
    let y_point = G::decode(y, "y", Error::InvalidInput, true)?;
    if proof.len() != 64 {
        return Err(Error::InvalidSignature(format!(
            "{} DLEQ proof must be 64 bytes (c || s), got {}",
            G::CURVE.name(),
            proof.len()
        )));
    }
    let c = G::parse_scalar(&proof[..32], "proof challenge c")?;
    let s = G::parse_scalar(&proof[32..], "proof response s")?;
    let (Some(a), Some(b)) = (
        G::lincomb(&s, None, &c, &x_point),
        G::lincomb(&s, Some(&h_point), &c, &y_point),
    ) else {
        return Ok(false);
    };
    let points = [
        &G::encode(&h_point)[..],
        &G::encode(&x_point),
        &G::encode(&y_point),
        &G::encode(&a),
        &G::encode(&b),
    ];
    Ok(dleq_challenge::<G>(points, context).is_some_and(|c2| G::scalar_bytes(&c2) == proof[..32]))
}

fn fresh_aux() -> Zeroizing<[u8; 32]> {
    let mut aux = Zeroizing::new([0u8; 32]);
    fill_random(&mut aux[..]);
    aux
}

// --- Public API ---------------------------------------------------------------

/// A Schnorr proof of knowledge of `private_key`, bound to `context`.
pub fn prove_knowledge(curve: Curve, private_key: &[u8], context: &[u8]) -> Result<Vec<u8>> {
    let aux = fresh_aux();
    match curve {
        Curve::Secp256k1 => schnorr_prove::<Secp256k1Group>(private_key, context, &aux),
        Curve::Ed25519 => schnorr_prove::<Ed25519Group>(private_key, context, &aux),
    }
}

/// Checks a proof of [`prove_knowledge`] for `public_key` and `context`.
pub fn verify_knowledge(
    curve: Curve,
    public_key: &[u8],
    proof: &[u8],
    context: &[u8],
) -> Result<bool> {
    match curve {
        Curve::Secp256k1 => schnorr_verify::<Secp256k1Group>(public_key, proof, context),
        Curve::Ed25519 => schnorr_verify::<Ed25519Group>(public_key, proof, context),
    }
}

/// A point with no known discrete log to G, from `label` (see the module
/// documentation for the exact construction).
pub fn independent_base(curve: Curve, label: &[u8]) -> Vec<u8> {
    for counter in 0u32.. {
        let counter = counter.to_be_bytes();
        match curve {
            Curve::Secp256k1 => {
                let x = Sha256::new()
                    .chain_update(label)
                    .chain_update(counter)
                    .finalize();
                let mut candidate = [2u8; 33];
                candidate[1..].copy_from_slice(&x);
                if let Ok(point) = PublicKey::from_slice(&candidate) {
                    return point.serialize().to_vec();
                }
            }
            Curve::Ed25519 => {
                let digest = Sha512::new()
                    .chain_update(label)
                    .chain_update(counter)
                    .finalize();
                let candidate: [u8; 32] = digest[..32].try_into().expect("32 of 64 bytes");
                let Some(point) = CompressedEdwardsY(candidate).decompress() else {
                    continue;
                };
                let h = point.mul_by_cofactor();
                if point.compress().to_bytes() == candidate && !h.is_identity() {
                    return h.compress().to_bytes().to_vec();
                }
            }
        }
    }
    unreachable!("about half of all candidates are points")
}

/// Y = x·H and a proof that log_G(X) = log_H(Y), bound to `context`.
/// Returns `(Y, proof)`.
pub fn prove_dleq(
    curve: Curve,
    private_key: &[u8],
    base: &[u8],
    context: &[u8],
) -> Result<(Vec<u8>, Vec<u8>)> {
    let aux = fresh_aux();
    match curve {
        Curve::Secp256k1 => dleq_prove::<Secp256k1Group>(private_key, base, context, &aux),
        Curve::Ed25519 => dleq_prove::<Ed25519Group>(private_key, base, context, &aux),
    }
}

/// Checks a proof of [`prove_dleq`]: that `public_key` = x·G and `y` = x·`base`
/// for one x, under `context`.
pub fn verify_dleq(
    curve: Curve,
    public_key: &[u8],
    base: &[u8],
    y: &[u8],
    proof: &[u8],
    context: &[u8],
) -> Result<bool> {
    match curve {
        Curve::Secp256k1 => dleq_verify::<Secp256k1Group>(public_key, base, y, proof, context),
        Curve::Ed25519 => dleq_verify::<Ed25519Group>(public_key, base, y, proof, context),
    }
}

#[cfg(test)]
mod tests {
    use curve25519_dalek::constants::EIGHT_TORSION;

    use super::*;

    const SECP_KEY: [u8; 32] = [7u8; 32];
    const ED_SEED: [u8; 32] = [9u8; 32];

    fn key(curve: Curve) -> [u8; 32] {
        match curve {
            Curve::Secp256k1 => SECP_KEY,
            Curve::Ed25519 => ED_SEED,
        }
    }

    fn public(curve: Curve, private_key: &[u8]) -> Vec<u8> {
        match curve {
            Curve::Secp256k1 => crate::secp256k1::public_key(private_key, true).unwrap(),
            Curve::Ed25519 => crate::ed25519::public_key(private_key).unwrap().to_vec(),
        }
    }

    /// `Ok(false)` or a malformed-proof error: anything but acceptance.
    fn refused(result: Result<bool>) -> bool {
        matches!(result, Ok(false) | Err(Error::InvalidSignature(_)))
    }

    #[test]
    fn knowledge_round_trip_and_binding() {
        for curve in Curve::ALL {
            let (sk, pk) = (key(curve), public(curve, &key(curve)));
            let proof = prove_knowledge(curve, &sk, b"nonce 1, verifier A").unwrap();
            let point_len = if curve == Curve::Secp256k1 { 33 } else { 32 };
            assert_eq!(proof.len(), point_len + 32);
            assert!(verify_knowledge(curve, &pk, &proof, b"nonce 1, verifier A").unwrap());
            assert!(!verify_knowledge(curve, &pk, &proof, b"nonce 2, verifier A").unwrap());
            assert!(!verify_knowledge(curve, &pk, &proof, b"").unwrap());
            let other = public(curve, &[3u8; 32]);
            assert!(!verify_knowledge(curve, &other, &proof, b"nonce 1, verifier A").unwrap());
            let again = prove_knowledge(curve, &sk, b"nonce 1, verifier A").unwrap();
            assert_ne!(proof, again, "nonces are hedged with fresh randomness");
            assert!(verify_knowledge(curve, &pk, &again, b"nonce 1, verifier A").unwrap());
        }
    }

    #[test]
    fn uncompressed_secp256k1_public_key_is_accepted() {
        let proof = prove_knowledge(Curve::Secp256k1, &SECP_KEY, b"c").unwrap();
        let full = crate::secp256k1::public_key(&SECP_KEY, false).unwrap();
        assert!(verify_knowledge(Curve::Secp256k1, &full, &proof, b"c").unwrap());
    }

    #[test]
    fn proofs_are_deterministic_given_the_randomness() {
        let a = schnorr_prove::<Ed25519Group>(&ED_SEED, b"c", &[1; 32]).unwrap();
        let b = schnorr_prove::<Ed25519Group>(&ED_SEED, b"c", &[1; 32]).unwrap();
        let c = schnorr_prove::<Ed25519Group>(&ED_SEED, b"c", &[2; 32]).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        let a = schnorr_prove::<Secp256k1Group>(&SECP_KEY, b"c", &[1; 32]).unwrap();
        let b = schnorr_prove::<Secp256k1Group>(&SECP_KEY, b"c", &[1; 32]).unwrap();
        assert_eq!(a, b);
        // One randomness, two contexts: two nonces.
        let d = schnorr_prove::<Secp256k1Group>(&SECP_KEY, b"d", &[1; 32]).unwrap();
        assert_ne!(a[..33], d[..33]);
    }

    #[test]
    fn ed25519_secret_scalar_is_the_rfc8032_one() {
        let x = Ed25519Group::private_scalar(&ED_SEED).unwrap();
        assert_eq!(
            Ed25519Group::encode(&Ed25519Group::mul_base(&x)),
            public(Curve::Ed25519, &ED_SEED)
        );
    }

    #[test]
    fn every_changed_byte_is_refused() {
        for curve in Curve::ALL {
            let (sk, pk) = (key(curve), public(curve, &key(curve)));
            let proof = prove_knowledge(curve, &sk, b"ctx").unwrap();
            let base = independent_base(curve, b"skms test base");
            let (y, dleq) = prove_dleq(curve, &sk, &base, b"ctx").unwrap();
            for mask in [0x01u8, 0x80] {
                for i in 0..proof.len() {
                    let mut bad = proof.clone();
                    bad[i] ^= mask;
                    assert!(
                        refused(verify_knowledge(curve, &pk, &bad, b"ctx")),
                        "{curve:?} {i}"
                    );
                }
                for i in 0..dleq.len() {
                    let mut bad = dleq.clone();
                    bad[i] ^= mask;
                    assert!(
                        refused(verify_dleq(curve, &pk, &base, &y, &bad, b"ctx")),
                        "{curve:?} {i}"
                    );
                }
            }
        }
    }

    #[test]
    fn dleq_round_trip_and_binding() {
        for curve in Curve::ALL {
            let (sk, pk) = (key(curve), public(curve, &key(curve)));
            let base = independent_base(curve, b"base one");
            let other_base = independent_base(curve, b"base two");
            let (y, proof) = prove_dleq(curve, &sk, &base, b"ctx").unwrap();
            assert_eq!(proof.len(), 64);
            assert!(verify_dleq(curve, &pk, &base, &y, &proof, b"ctx").unwrap());
            assert!(!verify_dleq(curve, &pk, &base, &y, &proof, b"ctx2").unwrap());
            assert!(!verify_dleq(curve, &pk, &other_base, &y, &proof, b"ctx").unwrap());
            let other_sk = [5u8; 32];
            let other_pk = public(curve, &other_sk);
            assert!(!verify_dleq(curve, &other_pk, &base, &y, &proof, b"ctx").unwrap());
            // Y of another key under the same base: same X, wrong Y.
            let (other_y, _) = prove_dleq(curve, &other_sk, &base, b"ctx").unwrap();
            assert!(!verify_dleq(curve, &pk, &base, &other_y, &proof, b"ctx").unwrap());
            // Y is deterministic: x·H.
            let (y2, proof2) = prove_dleq(curve, &sk, &base, b"ctx").unwrap();
            assert_eq!(y, y2);
            assert_ne!(proof, proof2);
            // G itself as the base: Y = X.
            let g = match curve {
                Curve::Secp256k1 => Secp256k1Group::GENERATOR,
                Curve::Ed25519 => Ed25519Group::GENERATOR,
            };
            let (y_g, proof_g) = prove_dleq(curve, &sk, g, b"ctx").unwrap();
            assert_eq!(y_g, pk);
            assert!(verify_dleq(curve, &pk, g, &y_g, &proof_g, b"ctx").unwrap());
        }
    }

    #[test]
    fn independent_bases() {
        for curve in Curve::ALL {
            let h = independent_base(curve, b"label");
            assert_eq!(h, independent_base(curve, b"label"));
            assert_ne!(h, independent_base(curve, b"label2"));
            assert_ne!(h, independent_base(curve, b""));
        }
        let h = independent_base(Curve::Secp256k1, b"label");
        assert_eq!(h[0], 2);
        assert!(PublicKey::from_slice(&h).is_ok());
        let h = independent_base(Curve::Ed25519, b"label");
        let point = Ed25519Group::decode(&h, "base", Error::InvalidInput, true).unwrap();
        assert!(!point.is_identity());
        assert_ne!(h, Ed25519Group::GENERATOR);
    }

    #[test]
    fn malformed_proofs_are_errors() {
        let pk = public(Curve::Ed25519, &ED_SEED);
        let proof = prove_knowledge(Curve::Ed25519, &ED_SEED, b"c").unwrap();
        let sig = |r: Result<bool>| matches!(r, Err(Error::InvalidSignature(_)));
        assert!(sig(verify_knowledge(
            Curve::Ed25519,
            &pk,
            &proof[..63],
            b"c"
        )));
        let mut zero_s = proof.clone();
        zero_s[32..].fill(0);
        assert!(sig(verify_knowledge(Curve::Ed25519, &pk, &zero_s, b"c")));
        let mut big_s = proof.clone();
        big_s[32..].fill(0xff);
        assert!(sig(verify_knowledge(Curve::Ed25519, &pk, &big_s, b"c")));
        let mut small_v = proof.clone();
        small_v[..32].copy_from_slice(&EIGHT_TORSION[1].compress().to_bytes());
        assert!(sig(verify_knowledge(Curve::Ed25519, &pk, &small_v, b"c")));

        let pk = public(Curve::Secp256k1, &SECP_KEY);
        let proof = prove_knowledge(Curve::Secp256k1, &SECP_KEY, b"c").unwrap();
        let mut zero_s = proof.clone();
        zero_s[33..].fill(0);
        assert!(sig(verify_knowledge(Curve::Secp256k1, &pk, &zero_s, b"c")));
        let mut n_s = proof.clone();
        n_s[33..].copy_from_slice(&SECP256K1_N);
        assert!(sig(verify_knowledge(Curve::Secp256k1, &pk, &n_s, b"c")));
        let mut bad_v = proof.clone();
        bad_v[0] = 4;
        assert!(sig(verify_knowledge(Curve::Secp256k1, &pk, &bad_v, b"c")));
        let (y, dleq) = prove_dleq(Curve::Secp256k1, &SECP_KEY, &pk, b"c").unwrap();
        let mut zero_c = dleq.clone();
        zero_c[..32].fill(0);
        assert!(sig(verify_dleq(
            Curve::Secp256k1,
            &pk,
            &pk,
            &y,
            &zero_c,
            b"c"
        )));
    }

    #[test]
    fn malformed_keys_and_points_are_errors() {
        let key_err = |r: Result<bool>| matches!(r, Err(Error::InvalidKey(_)));
        let input_err = |r: Result<bool>| matches!(r, Err(Error::InvalidInput(_)));
        let ed = Curve::Ed25519;
        let proof = prove_knowledge(ed, &ED_SEED, b"").unwrap();
        let pk = public(ed, &ED_SEED);
        let identity = EdwardsPoint::default().compress().to_bytes();
        let torsion = EIGHT_TORSION[1].compress().to_bytes();
        let a = CompressedEdwardsY(pk[..].try_into().unwrap())
            .decompress()
            .unwrap();
        let mixed = (a + EIGHT_TORSION[1]).compress().to_bytes();
        // y = p (non-canonical encoding of y = 0).
        let mut non_canonical = [0xffu8; 32];
        non_canonical[0] = 0xed;
        non_canonical[31] = 0x7f;
        for bad in [
            &identity[..],
            &torsion,
            &mixed,
            &non_canonical,
            &pk[..31],
            &[2u8; 32],
        ] {
            assert!(key_err(verify_knowledge(ed, bad, &proof, b"")), "{bad:?}");
        }
        let base = independent_base(ed, b"b");
        let (y, dleq) = prove_dleq(ed, &ED_SEED, &base, b"").unwrap();
        for bad in [&identity[..], &torsion, &mixed, &non_canonical] {
            assert!(input_err(verify_dleq(ed, &pk, bad, &y, &dleq, b"")));
            assert!(input_err(verify_dleq(ed, &pk, &base, bad, &dleq, b"")));
            assert!(matches!(
                prove_dleq(ed, &ED_SEED, bad, b""),
                Err(Error::InvalidInput(_))
            ));
        }
        assert!(matches!(
            prove_knowledge(ed, &ED_SEED[..31], b""),
            Err(Error::InvalidKey(_))
        ));
        let secp = Curve::Secp256k1;
        for bad in [&[0u8; 32][..], &SECP256K1_N, &[1u8; 31]] {
            assert!(matches!(
                prove_knowledge(secp, bad, b""),
                Err(Error::InvalidKey(_))
            ));
        }
        let proof = prove_knowledge(secp, &SECP_KEY, b"").unwrap();
        assert!(key_err(verify_knowledge(secp, &[5u8; 33], &proof, b"")));
        assert!(key_err(verify_knowledge(secp, &[2u8; 32], &proof, b"")));
        assert!(matches!(Curve::parse("p256"), Err(Error::InvalidInput(_))));
    }

    #[test]
    fn reduction_mod_n() {
        assert_eq!(reduce_mod_n(SECP256K1_N), [0u8; 32]);
        let mut n_plus_5 = SECP256K1_N;
        n_plus_5[31] += 5;
        let mut five = [0u8; 32];
        five[31] = 5;
        assert_eq!(reduce_mod_n(n_plus_5), five);
        let max = reduce_mod_n([0xff; 32]);
        // 2^256 - 1 - n = 0x1_4551231950b75fc4_402da1732fc9bebe
        assert_eq!(
            hex::encode(max),
            "000000000000000000000000000000014551231950b75fc4402da1732fc9bebe"
        );
        let below = [0x11u8; 32];
        assert_eq!(reduce_mod_n(below), below);
    }
}
