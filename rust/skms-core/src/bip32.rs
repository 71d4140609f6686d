//! Hierarchical deterministic keys: BIP32 on secp256k1 and SLIP-10 on
//! ed25519 and nist256p1, with extended-key encoding (BIP32, SLIP-132).
use std::sync::OnceLock;

use ::secp256k1::{PublicKey, Scalar, SecretKey, SECP256K1};
use p256::elliptic_curve::sec1::{FromEncodedPoint, ToEncodedPoint};
use p256::elliptic_curve::{Field, PrimeField};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::hashes::{hash160, hmac_sha512, sha256d};
use crate::secp_batch;
use crate::secret::SecretBytes;

pub const HARDENED: u32 = 1 << 31;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Curve {
    Secp256k1,
    Ed25519,
    Nist256p1,
}

impl Curve {
    pub fn parse(name: &str) -> Result<Curve> {
        match name {
            "secp256k1" => Ok(Curve::Secp256k1),
            "ed25519" => Ok(Curve::Ed25519),
            "nist256p1" => Ok(Curve::Nist256p1),
            _ => Err(Error::InvalidInput(format!(
                "unknown curve {name:?}; expected secp256k1, ed25519 or nist256p1"
            ))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Curve::Secp256k1 => "secp256k1",
            Curve::Ed25519 => "ed25519",
            Curve::Nist256p1 => "nist256p1",
        }
    }

    fn seed_key(self) -> &'static [u8] {
        match self {
            Curve::Secp256k1 => b"Bitcoin seed",
            Curve::Ed25519 => b"ed25519 seed",
            Curve::Nist256p1 => b"Nist256p1 seed",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Network {
    Mainnet,
    Testnet,
}

impl Network {
    pub fn parse(name: &str) -> Result<Network> {
        match name {
            "mainnet" => Ok(Network::Mainnet),
            "testnet" => Ok(Network::Testnet),
            _ => Err(Error::InvalidInput(format!(
                "unknown network {name:?}; expected mainnet or testnet"
            ))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Network::Mainnet => "mainnet",
            Network::Testnet => "testnet",
        }
    }
}

/// Extended-key version bytes: BIP32 (x, t) and SLIP-132 (y, z, u, v).
struct Version {
    name: &'static str,
    bytes: u32,
    private: bool,
    network: Network,
}

const VERSIONS: [Version; 12] = [
    Version {
        name: "xprv",
        bytes: 0x0488_ADE4,
        private: true,
        network: Network::Mainnet,
    },
    Version {
        name: "xpub",
        bytes: 0x0488_B21E,
        private: false,
        network: Network::Mainnet,
    },
    Version {
        name: "tprv",
        bytes: 0x0435_8394,
        private: true,
        network: Network::Testnet,
    },
    Version {
        name: "tpub",
        bytes: 0x0435_87CF,
        private: false,
        network: Network::Testnet,
    },
    Version {
        name: "yprv",
        bytes: 0x049D_7878,
        private: true,
        network: Network::Mainnet,
    },
    Version {
        name: "ypub",
        bytes: 0x049D_7CB2,
        private: false,
        network: Network::Mainnet,
    },
    Version {
        name: "zprv",
        bytes: 0x04B2_430C,
        private: true,
        network: Network::Mainnet,
    },
    Version {
        name: "zpub",
        bytes: 0x04B2_4746,
        private: false,
        network: Network::Mainnet,
    },
    Version {
        name: "uprv",
        bytes: 0x044A_4E28,
        private: true,
        network: Network::Testnet,
    },
    Version {
        name: "upub",
        bytes: 0x044A_5262,
        private: false,
        network: Network::Testnet,
    },
    Version {
        name: "vprv",
        bytes: 0x045F_18BC,
        private: true,
        network: Network::Testnet,
    },
    Version {
        name: "vpub",
        bytes: 0x045F_1CF6,
        private: false,
        network: Network::Testnet,
    },
];

/// A parsed derivation path: absolute ("m/…") or relative ("0/1").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DerivationPath {
    pub absolute: bool,
    pub indices: Vec<u32>,
}

impl DerivationPath {
    pub fn parse(path: &str) -> Result<DerivationPath> {
        let mut parts = path.split('/').peekable();
        let absolute = matches!(parts.peek(), Some(&"m") | Some(&"M"));
        if absolute {
            parts.next();
        }
        let mut indices = Vec::new();
        if !absolute && path.is_empty() {
            return Ok(DerivationPath { absolute, indices });
        }
        for (n, part) in parts.enumerate() {
            indices.push(parse_index(part).map_err(|why| {
                Error::InvalidPath(format!("path {path:?}: component {} {why}", n + 1))
            })?);
        }
        Ok(DerivationPath { absolute, indices })
    }
}

fn parse_index(part: &str) -> std::result::Result<u32, String> {
    let (digits, hardened) = match part.strip_suffix(['\'', 'h', 'H']) {
        Some(d) => (d, true),
        None => (part, false),
    };
    if digits.is_empty() {
        return Err("is empty".into());
    }
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "({part:?}) is not a number with an optional ' or h"
        ));
    }
    let value: u64 = digits
        .parse()
        .map_err(|_| format!("({part:?}) is too large"))?;
    if value >= u64::from(HARDENED) {
        return Err(format!(
            "({part:?}) is not below 2^31; write hardened indices as 0' to 2147483647'"
        ));
    }
    Ok(value as u32 | if hardened { HARDENED } else { 0 })
}

/// Formats one index as a path component.
pub fn format_index(index: u32) -> String {
    if index >= HARDENED {
        format!("{}'", index - HARDENED)
    } else {
        index.to_string()
    }
}

/// An extended key: private (with its lazily computed public key) or public only.
#[derive(Clone)]
pub struct ExtendedKey {
    pub curve: Curve,
    pub network: Network,
    /// The version family it came from ('x', 't', 'y', 'z', 'u', 'v').
    pub family: char,
    pub depth: u8,
    pub parent_fingerprint: [u8; 4],
    pub child_number: u32,
    pub chain_code: [u8; 32],
    private: Option<SecretBytes>,
    public: OnceLock<PublicData>,
    /// Computed once: every child's parent fingerprint is this key's.
    fingerprint: OnceLock<[u8; 4]>,
}

/// The public key, serialized, and for secp256k1 also parsed (parsing a
/// compressed key costs a square root, so it is done once).
#[derive(Clone)]
struct PublicData {
    serialized: Vec<u8>,
    secp: Option<PublicKey>,
}

impl PublicData {
    fn secp(key: PublicKey) -> PublicData {
        PublicData {
            serialized: key.serialize().to_vec(),
            secp: Some(key),
        }
    }

    fn other(serialized: Vec<u8>) -> PublicData {
        PublicData {
            serialized,
            secp: None,
        }
    }
}

fn secp_secret(bytes: &[u8]) -> std::result::Result<SecretKey, ::secp256k1::Error> {
    match <[u8; 32]>::try_from(bytes) {
        Ok(arr) => SecretKey::from_byte_array(arr),
        Err(_) => Err(::secp256k1::Error::InvalidSecretKey),
    }
}

fn split(i: &[u8; 64]) -> (Zeroizing<[u8; 32]>, [u8; 32]) {
    let mut il = Zeroizing::new([0u8; 32]);
    il.copy_from_slice(&i[..32]);
    let mut ir = [0u8; 32];
    ir.copy_from_slice(&i[32..]);
    (il, ir)
}

fn p256_scalar(bytes: &[u8; 32]) -> Option<p256::Scalar> {
    Option::from(p256::Scalar::from_repr(p256::FieldBytes::clone_from_slice(
        bytes,
    )))
}

fn p256_point(bytes: &[u8]) -> Result<p256::ProjectivePoint> {
    let ep = p256::EncodedPoint::from_bytes(bytes)
        .map_err(|_| Error::InvalidKey("nist256p1 public key is not a SEC1 point".into()))?;
    Option::<p256::AffinePoint>::from(p256::AffinePoint::from_encoded_point(&ep))
        .map(p256::ProjectivePoint::from)
        .ok_or_else(|| Error::InvalidKey("nist256p1 public key is not on the curve".into()))
}

fn invalid_child(index: u32) -> Error {
    Error::InvalidKey(format!(
        "derivation at index {} gives an invalid key (probability below 2^-127); use the next index",
        format_index(index)
    ))
}

impl ExtendedKey {
    fn new_private(curve: Curve, key: &[u8], chain_code: [u8; 32]) -> ExtendedKey {
        ExtendedKey {
            curve,
            network: Network::Mainnet,
            family: 'x',
            depth: 0,
            parent_fingerprint: [0; 4],
            child_number: 0,
            chain_code,
            private: Some(SecretBytes::new_unlocked(key.to_vec())),
            public: OnceLock::new(),
            fingerprint: OnceLock::new(),
        }
    }

    /// The master key of a seed (16 to 64 bytes).
    pub fn from_seed(seed: &[u8], curve: Curve) -> Result<ExtendedKey> {
        if !(16..=64).contains(&seed.len()) {
            return Err(Error::InvalidInput(format!(
                "seed must be 16 to 64 bytes, got {}",
                seed.len()
            )));
        }
        let mut i = Zeroizing::new(hmac_sha512(curve.seed_key(), &[seed]));
        loop {
            let (il, ir) = split(&i);
            match curve {
                Curve::Ed25519 => return Ok(Self::new_private(curve, il.as_ref(), ir)),
                Curve::Secp256k1 => {
                    secp_secret(il.as_ref()).map_err(|_| {
                        Error::InvalidKey(
                            "this seed gives an invalid master key; use another seed".into(),
                        )
                    })?;
                    return Ok(Self::new_private(curve, il.as_ref(), ir));
                }
                Curve::Nist256p1 => match p256_scalar(&il) {
                    Some(s) if !bool::from(s.is_zero()) => {
                        return Ok(Self::new_private(curve, il.as_ref(), ir))
                    }
                    // SLIP-10: retry with I = HMAC(key, I).
                    _ => *i = hmac_sha512(curve.seed_key(), &[i.as_ref()]),
                },
            }
        }
    }

    pub fn is_private(&self) -> bool {
        self.private.is_some()
    }

    pub fn private_key(&self) -> Option<&SecretBytes> {
        self.private.as_ref()
    }

    /// The public key: 33 bytes compressed (secp256k1, nist256p1) or 32 (ed25519).
    pub fn public_key(&self) -> &[u8] {
        &self.public_data().serialized
    }

    /// The parsed secp256k1 public key (secp256k1 keys only).
    pub fn secp_public_key(&self) -> Option<PublicKey> {
        self.public_data().secp
    }

    fn public_data(&self) -> &PublicData {
        self.public.get_or_init(|| {
            let sk = self
                .private
                .as_ref()
                .expect("a public-only key has its public key set")
                .expose();
            match self.curve {
                Curve::Secp256k1 => {
                    let sk = secp_secret(sk).expect("checked on creation");
                    PublicData::secp(PublicKey::from_secret_key(SECP256K1, &sk))
                }
                Curve::Ed25519 => {
                    PublicData::other(crate::ed25519::public_key(sk).expect("32 bytes").to_vec())
                }
                Curve::Nist256p1 => {
                    let s =
                        p256_scalar(sk.try_into().expect("32 bytes")).expect("checked on creation");
                    PublicData::other(
                        (p256::ProjectivePoint::GENERATOR * s)
                            .to_affine()
                            .to_encoded_point(true)
                            .as_bytes()
                            .to_vec(),
                    )
                }
            }
        })
    }

    /// serP: the 33-byte public key as BIP32/SLIP-10 hash and serialize it.
    fn ser_p(&self) -> Vec<u8> {
        match self.curve {
            Curve::Ed25519 => [&[0u8][..], self.public_key()].concat(),
            _ => self.public_key().to_vec(),
        }
    }

    pub fn identifier(&self) -> [u8; 20] {
        hash160(&self.ser_p())
    }

    pub fn fingerprint(&self) -> [u8; 4] {
        *self.fingerprint.get_or_init(|| {
            let id = self.identifier();
            [id[0], id[1], id[2], id[3]]
        })
    }

    /// A public-only copy.
    pub fn neuter(&self) -> ExtendedKey {
        let public = OnceLock::new();
        let _ = public.set(self.public_data().clone());
        let private = None;
        ExtendedKey {
            private,
            public,
            fingerprint: self.fingerprint.clone(),
            curve: self.curve,
            network: self.network,
            family: self.family,
            depth: self.depth,
            parent_fingerprint: self.parent_fingerprint,
            child_number: self.child_number,
            chain_code: self.chain_code,
        }
    }

    fn child(
        &self,
        index: u32,
        key: Option<SecretBytes>,
        public: Option<PublicData>,
        chain_code: [u8; 32],
        want_fingerprint: bool,
    ) -> ExtendedKey {
        let cell = OnceLock::new();
        if let Some(p) = public {
            let _ = cell.set(p);
        }
        // The parent fingerprint needs the parent's public key: free when the
        // step was non-hardened (it was computed), one point multiplication
        // otherwise, so intermediate steps of a path skip it (see derive_path).
        let parent_fingerprint = if want_fingerprint || self.public.get().is_some() {
            self.fingerprint()
        } else {
            [0; 4]
        };
        ExtendedKey {
            curve: self.curve,
            network: self.network,
            family: self.family,
            depth: self.depth.wrapping_add(1),
            parent_fingerprint,
            child_number: index,
            chain_code,
            private: key,
            public: cell,
            fingerprint: OnceLock::new(),
        }
    }

    pub fn derive_child(&self, index: u32) -> Result<ExtendedKey> {
        self.derive_step(index, true)
    }

    fn derive_step(&self, index: u32, want_fingerprint: bool) -> Result<ExtendedKey> {
        if self.depth == u8::MAX {
            return Err(Error::InvalidPath("depth would exceed 255".into()));
        }
        let hardened = index >= HARDENED;
        if self.curve == Curve::Ed25519 && !hardened {
            return Err(Error::Unsupported(format!(
                "ed25519 (SLIP-10) derives hardened children only; use {index}' instead of {index}"
            )));
        }
        let ser_i = index.to_be_bytes();
        match &self.private {
            None => {
                if hardened {
                    return Err(Error::Unsupported(format!(
                        "cannot derive hardened child {} from a public key",
                        format_index(index)
                    )));
                }
                let i = hmac_sha512(&self.chain_code, &[self.public_key(), &ser_i]);
                self.public_child(index, i, want_fingerprint)
            }
            Some(sk) => {
                let i = Zeroizing::new(if hardened {
                    hmac_sha512(&self.chain_code, &[&[0u8], sk.expose(), &ser_i])
                } else {
                    hmac_sha512(&self.chain_code, &[self.public_key(), &ser_i])
                });
                self.private_child(index, sk.expose(), i, want_fingerprint)
            }
        }
    }

    fn private_child(
        &self,
        index: u32,
        parent: &[u8],
        mut i: Zeroizing<[u8; 64]>,
        want_fp: bool,
    ) -> Result<ExtendedKey> {
        loop {
            let (il, ir) = split(&i);
            match self.curve {
                Curve::Ed25519 => {
                    let key = SecretBytes::new_unlocked(il.to_vec());
                    return Ok(self.child(index, Some(key), None, ir, want_fp));
                }
                Curve::Secp256k1 => {
                    let tweak = Scalar::from_be_bytes(*il).map_err(|_| invalid_child(index))?;
                    let sk = secp_secret(parent).expect("checked on creation");
                    let mut child = sk.add_tweak(&tweak).map_err(|_| invalid_child(index))?;
                    let key = SecretBytes::new_unlocked(child.secret_bytes().to_vec());
                    child.non_secure_erase();
                    return Ok(self.child(index, Some(key), None, ir, want_fp));
                }
                Curve::Nist256p1 => {
                    let k = p256_scalar(parent.try_into().expect("32 bytes"))
                        .expect("checked on creation");
                    if let Some(t) = p256_scalar(&il) {
                        let c = t + k;
                        if !bool::from(c.is_zero()) {
                            let key = SecretBytes::new_unlocked(c.to_repr().to_vec());
                            return Ok(self.child(index, Some(key), None, ir, want_fp));
                        }
                    }
                    // SLIP-10: retry with I = HMAC(c, 0x01 ‖ IR ‖ ser32(i)).
                    *i = hmac_sha512(&self.chain_code, &[&[1u8], &ir, &index.to_be_bytes()]);
                }
            }
        }
    }

    fn public_child(&self, index: u32, mut i: [u8; 64], want_fp: bool) -> Result<ExtendedKey> {
        loop {
            let (il, ir) = split(&i);
            match self.curve {
                Curve::Ed25519 => unreachable!("ed25519 public derivation is refused above"),
                Curve::Secp256k1 => {
                    // A batch of one: secp_batch is the one implementation of parent + IL·G.
                    let parent =
                        secp_batch::Parent::new(&self.secp_public_key().expect("a secp256k1 key"));
                    let child = secp_batch::add_tweaks(&[(parent, *il)])
                        .pop()
                        .flatten()
                        .ok_or_else(|| invalid_child(index))?;
                    return Ok(self.child(index, None, Some(PublicData::secp(child)), ir, want_fp));
                }
                Curve::Nist256p1 => {
                    let parent = p256_point(self.public_key())?;
                    if let Some(t) = p256_scalar(&il) {
                        let point = p256::ProjectivePoint::GENERATOR * t + parent;
                        if point != p256::ProjectivePoint::IDENTITY {
                            let bytes =
                                point.to_affine().to_encoded_point(true).as_bytes().to_vec();
                            return Ok(self.child(
                                index,
                                None,
                                Some(PublicData::other(bytes)),
                                ir,
                                want_fp,
                            ));
                        }
                    }
                    i = hmac_sha512(&self.chain_code, &[&[1u8], &ir, &index.to_be_bytes()]);
                }
            }
        }
    }

    /// Derives along `path`; an absolute path needs a key of depth 0.
    pub fn derive_path(&self, path: &DerivationPath) -> Result<ExtendedKey> {
        if path.absolute && self.depth != 0 {
            return Err(Error::InvalidPath(format!(
                "an absolute path (m/…) needs a root key, and this key has depth {}; give the path relative to it",
                self.depth
            )));
        }
        match path.indices.split_last() {
            None => Ok(self.clone()),
            Some((&last, [])) => self.derive_child(last),
            Some((&last, parent)) => self.derive_intermediate(parent)?.derive_child(last),
        }
    }

    /// The key at `indices` (not empty) below this one as an intermediate
    /// node of a path, to derive children from: its own parent fingerprint
    /// is only set where it came free (it costs a point multiplication
    /// after a hardened step), so it is not a key to hand out.
    pub fn derive_intermediate(&self, indices: &[u32]) -> Result<ExtendedKey> {
        let (&first, rest) = indices.split_first().expect("a non-empty path");
        let mut key = self.derive_step(first, false)?;
        for &index in rest {
            key = key.derive_step(index, false)?;
        }
        Ok(key)
    }

    /// Whether `secp_batch` may derive this key's child at `index`: a public
    /// step from a public-only secp256k1 key, so IL is no secret.
    fn batches_public_child(&self, index: u32) -> bool {
        self.curve == Curve::Secp256k1
            && self.private.is_none()
            && index < HARDENED
            && self.depth < u8::MAX
    }

    /// `parent.derive_child(index)` for each step, in order, with the public
    /// steps of public-only secp256k1 keys done as one batch (see
    /// `secp_batch`); any other step is derived as before.
    pub fn derive_children(steps: &[(&ExtendedKey, u32)]) -> Vec<Result<ExtendedKey>> {
        Self::derive_steps(steps, true)
    }

    /// `derive_children` for intermediate nodes of paths (see `derive_intermediate`).
    pub fn derive_intermediate_children(steps: &[(&ExtendedKey, u32)]) -> Vec<Result<ExtendedKey>> {
        Self::derive_steps(steps, false)
    }

    fn derive_steps(steps: &[(&ExtendedKey, u32)], want_fp: bool) -> Vec<Result<ExtendedKey>> {
        let mut batch = Vec::new();
        let mut chain_codes = Vec::new();
        let mut last_parent: Option<(&ExtendedKey, secp_batch::Parent)> = None;
        for &(key, index) in steps {
            if !key.batches_public_child(index) {
                continue;
            }
            let i = hmac_sha512(&key.chain_code, &[key.public_key(), &index.to_be_bytes()]);
            let (il, ir) = split(&i);
            let parent = match last_parent {
                Some((k, parent)) if std::ptr::eq(k, key) => parent,
                _ => {
                    let parent =
                        secp_batch::Parent::new(&key.secp_public_key().expect("a secp256k1 key"));
                    last_parent = Some((key, parent));
                    parent
                }
            };
            batch.push((parent, *il));
            chain_codes.push(ir);
        }
        let mut batched = secp_batch::add_tweaks(&batch).into_iter().zip(chain_codes);
        steps
            .iter()
            .map(|&(key, index)| {
                if !key.batches_public_child(index) {
                    return key.derive_step(index, want_fp);
                }
                let (child, chain_code) = batched.next().expect("one result per batched step");
                let public = PublicData::secp(child.ok_or_else(|| invalid_child(index))?);
                Ok(key.child(index, None, Some(public), chain_code, want_fp))
            })
            .collect()
    }

    /// Base58Check encoding with the version `name` (xprv, xpub, zpub, …).
    pub fn serialize(&self, name: &str) -> Result<Zeroizing<String>> {
        let version = VERSIONS.iter().find(|v| v.name == name).ok_or_else(|| {
            Error::InvalidInput(format!(
                "unknown extended key version {name:?}; expected one of xprv, xpub, tprv, tpub, yprv, ypub, zprv, zpub, uprv, upub, vprv, vpub"
            ))
        })?;
        let mut data = Zeroizing::new(Vec::with_capacity(82));
        data.extend_from_slice(&version.bytes.to_be_bytes());
        data.push(self.depth);
        data.extend_from_slice(&self.parent_fingerprint);
        data.extend_from_slice(&self.child_number.to_be_bytes());
        data.extend_from_slice(&self.chain_code);
        if version.private {
            let sk = self.private.as_ref().ok_or_else(|| {
                Error::Unsupported(format!(
                    "a public-only key has no {name}; use the public form"
                ))
            })?;
            data.push(0);
            data.extend_from_slice(sk.expose());
        } else {
            data.extend_from_slice(&self.ser_p());
        }
        let checksum = sha256d(&data);
        data.extend_from_slice(&checksum[..4]);
        Ok(Zeroizing::new(bs58::encode(&data[..]).into_string()))
    }

    /// The version name of this key's family: "xprv" / "xpub", "zprv" / "zpub", …
    pub fn default_version(&self, private: bool) -> String {
        format!("{}{}", self.family, if private { "prv" } else { "pub" })
    }

    /// Decodes an extended key, checking everything BIP32 test vector 5 checks.
    pub fn parse(text: &str, curve: Curve) -> Result<ExtendedKey> {
        let bad = |why: String| Error::InvalidExtendedKey(why);
        let raw = Zeroizing::new(
            bs58::decode(text.trim())
                .into_vec()
                .map_err(|e| bad(format!("not base58: {e}")))?,
        );
        if raw.len() != 82 {
            return Err(bad(format!(
                "an extended key is 78 bytes and a 4-byte checksum; this one decodes to {} bytes",
                raw.len()
            )));
        }
        let (data, checksum) = raw.split_at(78);
        if sha256d(data)[..4] != *checksum {
            return Err(bad("invalid checksum".into()));
        }
        let version_bytes = u32::from_be_bytes(data[0..4].try_into().expect("4"));
        let version = VERSIONS
            .iter()
            .find(|v| v.bytes == version_bytes)
            .ok_or_else(|| {
                bad(format!(
                    "unknown extended key version 0x{version_bytes:08x}"
                ))
            })?;
        let depth = data[4];
        let parent_fingerprint: [u8; 4] = data[5..9].try_into().expect("4");
        let child_number = u32::from_be_bytes(data[9..13].try_into().expect("4"));
        let chain_code: [u8; 32] = data[13..45].try_into().expect("32");
        let key = &data[45..78];
        if depth == 0 && parent_fingerprint != [0; 4] {
            return Err(bad("zero depth with non-zero parent fingerprint".into()));
        }
        if depth == 0 && child_number != 0 {
            return Err(bad("zero depth with non-zero index".into()));
        }
        let mut out = ExtendedKey {
            curve,
            network: version.network,
            family: version.name.chars().next().expect("named"),
            depth,
            parent_fingerprint,
            child_number,
            chain_code,
            private: None,
            public: OnceLock::new(),
            fingerprint: OnceLock::new(),
        };
        if version.private {
            match key[0] {
                0 => {}
                2 | 3 if curve != Curve::Ed25519 => {
                    return Err(bad(format!(
                        "prvkey version / pubkey mismatch: {} with public key data",
                        version.name
                    )))
                }
                p => {
                    return Err(bad(format!(
                        "invalid prvkey prefix {p:02x}: private key data starts with 00"
                    )))
                }
            }
            let sk = &key[1..];
            match curve {
                Curve::Secp256k1 => {
                    secp_secret(sk).map_err(|_| {
                        bad("private key is 0 or not below n: not in 1..n-1".into())
                    })?;
                }
                Curve::Nist256p1 => match p256_scalar(sk.try_into().expect("32")) {
                    Some(s) if !bool::from(s.is_zero()) => {}
                    _ => return Err(bad("private key is 0 or not below n: not in 1..n-1".into())),
                },
                Curve::Ed25519 => {}
            }
            out.private = Some(SecretBytes::from_slice(sk));
        } else {
            let public = match curve {
                Curve::Ed25519 => {
                    if key[0] != 0 {
                        return Err(bad(format!(
                            "invalid pubkey prefix {:02x}: ed25519 key data starts with 00",
                            key[0]
                        )));
                    }
                    crate::ed25519::public_key_point(&key[1..])
                        .map_err(|e| bad(format!("invalid pubkey: {}", e.message())))?;
                    PublicData::other(key[1..].to_vec())
                }
                _ => {
                    match key[0] {
                        2 | 3 => {}
                        0 => {
                            return Err(bad(format!(
                                "pubkey version / prvkey mismatch: {} with private key data",
                                version.name
                            )))
                        }
                        p => {
                            return Err(bad(format!(
                            "invalid pubkey prefix {p:02x}: a compressed key starts with 02 or 03"
                        )))
                        }
                    }
                    let not_on_curve = || {
                        bad(format!(
                            "invalid pubkey {}: not a point on the curve",
                            hex_string(key)
                        ))
                    };
                    if curve == Curve::Secp256k1 {
                        PublicData::secp(PublicKey::from_slice(key).map_err(|_| not_on_curve())?)
                    } else {
                        p256_point(key).map_err(|_| not_on_curve())?;
                        PublicData::other(key.to_vec())
                    }
                }
            };
            let _ = out.public.set(public);
        }
        Ok(out)
    }
}

/// Every field of a key, to compare two keys in tests.
#[cfg(test)]
pub(crate) type KeyFields = (
    Curve,
    Network,
    char,
    u8,
    [u8; 4],
    u32,
    [u8; 32],
    Option<Vec<u8>>,
    Vec<u8>,
);

#[cfg(test)]
impl ExtendedKey {
    pub(crate) fn fields(&self) -> KeyFields {
        (
            self.curve,
            self.network,
            self.family,
            self.depth,
            self.parent_fingerprint,
            self.child_number,
            self.chain_code,
            self.private.as_ref().map(|k| k.expose().to_vec()),
            self.public_key().to_vec(),
        )
    }
}

fn hex_string(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn bip32_vector_1() {
        let seed = hex::decode("000102030405060708090a0b0c0d0e0f").unwrap();
        let m = ExtendedKey::from_seed(&seed, Curve::Secp256k1).unwrap();
        assert_eq!(m.serialize("xprv").unwrap().as_str(), "xprv9s21ZrQH143K3QTDL4LXw2F7HEK3wJUD2nW2nRk4stbPy6cq3jPPqjiChkVvvNKmPGJxWUtg6LnF5kejMRNNU3TGtRBeJgk33yuGBxrMPHi");
        let k = m
            .derive_path(&DerivationPath::parse("m/0H/1/2H/2/1000000000").unwrap())
            .unwrap();
        assert_eq!(k.serialize("xpub").unwrap().as_str(), "xpub6H1LXWLaKsWFhvm6RVpEL9P4KfRZSW7abD2ttkWP3SSQvnyA8FSVqNTEcYFgJS2UaFcxupHiYkro49S8yGasTvXEYBVPamhGW6cFJodrTHy");
        let back = ExtendedKey::parse(&m.serialize("xprv").unwrap(), Curve::Secp256k1).unwrap();
        assert_eq!(back.public_key(), m.public_key());
    }

    /// A deterministic test seed.
    pub(crate) fn seed(n: u32) -> [u8; 64] {
        hmac_sha512(b"skms test seed", &[&n.to_be_bytes()])
    }

    fn fields(results: &[Result<ExtendedKey>]) -> Vec<std::result::Result<KeyFields, String>> {
        results
            .iter()
            .map(|r| {
                r.as_ref()
                    .map(ExtendedKey::fields)
                    .map_err(|e| e.to_string())
            })
            .collect()
    }

    #[test]
    fn batched_public_children_equal_single_derivation() {
        // 40 watch-only accounts, 2,000 steps: batched (secp_batch) vs libsecp256k1.
        let accounts: Vec<ExtendedKey> = (0..40)
            .map(|n| {
                let root = ExtendedKey::from_seed(&seed(n), Curve::Secp256k1).unwrap();
                let path = DerivationPath::parse(&format!("m/44'/0'/{n}'")).unwrap();
                root.derive_path(&path).unwrap().neuter()
            })
            .collect();
        let steps: Vec<(&ExtendedKey, u32)> = (0..2000u32)
            .map(|n| {
                let index = n.wrapping_mul(0x9E37_79B9) % HARDENED;
                (&accounts[(n / 50) as usize], index)
            })
            .collect();
        let single: Vec<_> = steps.iter().map(|(k, i)| k.derive_child(*i)).collect();
        let batched = ExtendedKey::derive_children(&steps);
        assert!(single.iter().all(Result::is_ok));
        assert_eq!(fields(&batched), fields(&single));
        // And one level further, each parent different.
        let children: Vec<ExtendedKey> = batched.into_iter().map(Result::unwrap).collect();
        let steps: Vec<(&ExtendedKey, u32)> = children.iter().map(|c| (c, 7)).collect();
        let single: Vec<_> = steps.iter().map(|(k, i)| k.derive_child(*i)).collect();
        assert_eq!(
            fields(&ExtendedKey::derive_children(&steps)),
            fields(&single)
        );
    }

    #[test]
    fn derive_children_mixes_batched_and_other_steps() {
        let root = ExtendedKey::from_seed(&seed(1), Curve::Secp256k1).unwrap();
        let account = root
            .derive_path(&DerivationPath::parse("m/84'/0'/0'").unwrap())
            .unwrap();
        let watch = account.neuter();
        let ed = ExtendedKey::from_seed(&seed(1), Curve::Ed25519).unwrap();
        let p256 = ExtendedKey::from_seed(&seed(1), Curve::Nist256p1)
            .unwrap()
            .neuter();
        let mut deepest = watch.clone();
        deepest.depth = u8::MAX;
        let steps: Vec<(&ExtendedKey, u32)> = vec![
            (&watch, 0),
            (&account, 0),      // private: libsecp256k1, constant time
            (&watch, HARDENED), // hardened from a public key: refused
            (&watch, 1),
            (&ed, HARDENED + 3), // another curve
            (&ed, 3),            // ed25519 non-hardened: refused
            (&p256, 5),
            (&deepest, 2),        // depth 255: refused
            (&account, HARDENED), // hardened private step
            (&watch, HARDENED - 1),
        ];
        let single: Vec<_> = steps.iter().map(|(k, i)| k.derive_child(*i)).collect();
        let batched = ExtendedKey::derive_children(&steps);
        assert_eq!(fields(&batched), fields(&single));
        let errors = batched.iter().filter(|r| r.is_err()).count();
        assert_eq!(errors, 3);
        assert!(ExtendedKey::derive_children(&[]).is_empty());
        // Intermediate children: the same keys except where a parent
        // fingerprint would cost a multiplication (after a hardened step).
        let intermediate = ExtendedKey::derive_intermediate_children(&steps);
        for ((step, a), b) in steps.iter().zip(&intermediate).zip(&single) {
            match (a, b) {
                (Ok(a), Ok(b)) if step.1 < HARDENED => assert_eq!(a.fields(), b.fields()),
                (Ok(a), Ok(b)) => assert_eq!(a.public_key(), b.public_key()),
                (a, b) => assert_eq!(a.is_err(), b.is_err()),
            }
        }
    }

    #[test]
    fn paths() {
        assert_eq!(
            DerivationPath::parse("m/44'/0h/1H/2").unwrap().indices,
            vec![44 | HARDENED, HARDENED, 1 | HARDENED, 2]
        );
        assert!(DerivationPath::parse("0/1").map(|p| !p.absolute).unwrap());
        for bad in ["m/x", "m//1", "m/1''", "m/2147483648", "m/-1", "m/ 1"] {
            assert!(
                matches!(DerivationPath::parse(bad), Err(Error::InvalidPath(_))),
                "{bad}"
            );
        }
    }
}
