//! Bitcoin signing helpers: the BIP341 taproot tweak and BIP137 messages.
use ::secp256k1::{Keypair, Scalar, XOnlyPublicKey, SECP256K1};

use crate::error::{fixed, Error, Result};
use crate::hashes::{sha256d, tagged_hash};
use crate::secret::SecretBytes;

fn tweak(internal: &XOnlyPublicKey, merkle_root: Option<&[u8]>) -> Result<Scalar> {
    let root = merkle_root
        .map(|r| fixed::<32>(r, "merkle_root"))
        .transpose()?;
    let serialized = internal.serialize();
    let t = match &root {
        Some(r) => tagged_hash("TapTweak", &[&serialized, r]),
        None => tagged_hash("TapTweak", &[&serialized]),
    };
    Scalar::from_be_bytes(t)
        .map_err(|_| Error::InvalidKey("taproot tweak is not below the curve order".into()))
}

/// The BIP341 output key Q = P + H_TapTweak(P ‖ root)·G, x-only. Without a
/// merkle root this is the BIP86 key-path-only output.
pub fn taproot_output_key(internal_key: &[u8], merkle_root: Option<&[u8]>) -> Result<[u8; 32]> {
    let xonly = match internal_key.len() {
        32 => XOnlyPublicKey::from_byte_array(internal_key.try_into().expect("32 bytes")).map_err(
            |_| Error::InvalidKey("internal key is not the x coordinate of a curve point".into()),
        )?,
        _ => {
            crate::secp256k1::parse_public_key(internal_key)?
                .x_only_public_key()
                .0
        }
    };
    taproot_output_key_of(&xonly, merkle_root)
}

pub fn taproot_output_key_of(
    xonly: &XOnlyPublicKey,
    merkle_root: Option<&[u8]>,
) -> Result<[u8; 32]> {
    let (output, _) = xonly
        .add_tweak(SECP256K1, &tweak(xonly, merkle_root)?)
        .map_err(|_| Error::InvalidKey("tweaked key is the point at infinity".into()))?;
    Ok(output.serialize())
}

/// The private key that signs for the tweaked output key (negated as BIP340 needs).
pub fn taproot_tweak_private_key(
    private_key: &[u8],
    merkle_root: Option<&[u8]>,
) -> Result<SecretBytes> {
    let sk = crate::secp256k1::secret_key(private_key)?;
    let keypair = Keypair::from_secret_key(SECP256K1, &sk);
    let (xonly, _) = keypair.x_only_public_key();
    let tweaked = keypair
        .add_xonly_tweak(SECP256K1, &tweak(&xonly, merkle_root)?)
        .map_err(|_| Error::InvalidKey("tweaked key is invalid".into()))?;
    Ok(SecretBytes::from_slice(&tweaked.secret_bytes()))
}

fn varint(n: usize, out: &mut Vec<u8>) {
    match n {
        0..=0xfc => out.push(n as u8),
        0xfd..=0xffff => {
            out.push(0xfd);
            out.extend_from_slice(&(n as u16).to_le_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(0xfe);
            out.extend_from_slice(&(n as u32).to_le_bytes());
        }
        _ => {
            out.push(0xff);
            out.extend_from_slice(&(n as u64).to_le_bytes());
        }
    }
}

const MESSAGE_MAGIC: &[u8] = b"Bitcoin Signed Message:\n";

/// The digest a Bitcoin signed message commits to.
pub fn message_digest(message: &[u8]) -> [u8; 32] {
    let mut data = Vec::with_capacity(message.len() + 30);
    varint(MESSAGE_MAGIC.len(), &mut data);
    data.extend_from_slice(MESSAGE_MAGIC);
    varint(message.len(), &mut data);
    data.extend_from_slice(message);
    sha256d(&data)
}

/// BIP137 header byte offsets above 27 + recovery id.
pub fn message_header_offset(kind: crate::address::BitcoinKind) -> Result<u8> {
    use crate::address::BitcoinKind::*;
    match kind {
        P2pkh => Ok(4),
        P2shP2wpkh => Ok(8),
        P2wpkh => Ok(12),
        P2tr => Err(Error::Unsupported(
            "BIP137 message signatures have no taproot form; use p2pkh, p2sh-p2wpkh or p2wpkh"
                .into(),
        )),
    }
}

/// A BIP137 signature: header ‖ r ‖ s (65 bytes, base64-encoded by callers).
pub fn sign_message(
    private_key: &[u8],
    message: &[u8],
    kind: crate::address::BitcoinKind,
) -> Result<[u8; 65]> {
    let sig = crate::secp256k1::sign_recoverable(private_key, &message_digest(message))?;
    let mut out = [0u8; 65];
    out[0] = 27 + sig[64] + message_header_offset(kind)?;
    out[1..].copy_from_slice(&sig[..64]);
    Ok(out)
}

/// The public key that made a BIP137 signature, compressed or not as the header says.
pub fn recover_message_key(message: &[u8], signature: &[u8]) -> Result<Vec<u8>> {
    let sig = fixed::<65>(signature, "message signature")
        .map_err(|e| Error::InvalidSignature(e.message().to_owned()))?;
    let header = sig[0];
    if !(27..=42).contains(&header) {
        return Err(Error::InvalidSignature(format!(
            "BIP137 header byte must be 27 to 42, got {header}"
        )));
    }
    let recid = (header - 27) % 4;
    let compressed = header >= 31;
    let mut rsv = [0u8; 65];
    rsv[..64].copy_from_slice(&sig[1..]);
    rsv[64] = recid;
    crate::secp256k1::recover(&message_digest(message), &rsv, compressed)
}
