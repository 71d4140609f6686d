//! Address encodings: Bitcoin (P2PKH, P2SH-P2WPKH, P2WPKH, P2TR), Ethereum
//! (EIP-55) and Solana (base58), with parsers that name what is wrong.
use bech32::Hrp;

use crate::bip32::Network;
use crate::error::{Error, Result};
use crate::hashes::{hash160, keccak256, sha256d};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BitcoinKind {
    P2pkh,
    P2shP2wpkh,
    P2wpkh,
    P2tr,
}

impl BitcoinKind {
    pub fn parse(name: &str) -> Result<BitcoinKind> {
        match name {
            "p2pkh" => Ok(BitcoinKind::P2pkh),
            "p2sh-p2wpkh" => Ok(BitcoinKind::P2shP2wpkh),
            "p2wpkh" => Ok(BitcoinKind::P2wpkh),
            "p2tr" => Ok(BitcoinKind::P2tr),
            _ => Err(Error::InvalidInput(format!(
                "unknown Bitcoin address kind {name:?}; expected p2pkh, p2sh-p2wpkh, p2wpkh or p2tr"
            ))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            BitcoinKind::P2pkh => "p2pkh",
            BitcoinKind::P2shP2wpkh => "p2sh-p2wpkh",
            BitcoinKind::P2wpkh => "p2wpkh",
            BitcoinKind::P2tr => "p2tr",
        }
    }
}

fn hrp(network: Network) -> Hrp {
    match network {
        Network::Mainnet => bech32::hrp::BC,
        Network::Testnet => bech32::hrp::TB,
    }
}

fn base58check(version: u8, payload: &[u8]) -> String {
    let mut data = Vec::with_capacity(1 + payload.len() + 4);
    data.push(version);
    data.extend_from_slice(payload);
    let checksum = sha256d(&data);
    data.extend_from_slice(&checksum[..4]);
    bs58::encode(data).into_string()
}

/// The P2WPKH script that P2SH-P2WPKH wraps: OP_0 PUSH20 <hash160(key)>.
fn p2wpkh_script(key_hash: &[u8; 20]) -> [u8; 22] {
    let mut script = [0u8; 22];
    script[0] = 0x00;
    script[1] = 0x14;
    script[2..].copy_from_slice(key_hash);
    script
}

/// A Bitcoin address for a secp256k1 public key (33 or 65 bytes; P2PKH
/// hashes the bytes as given, the segwit kinds use the compressed form, and
/// P2TR the BIP86 key-path-only tweak).
pub fn bitcoin_address(public_key: &[u8], kind: BitcoinKind, network: Network) -> Result<String> {
    let key = crate::secp256k1::parse_public_key(public_key)?;
    if kind == BitcoinKind::P2pkh {
        let version = if network == Network::Testnet {
            0x6f
        } else {
            0x00
        };
        return Ok(base58check(version, &hash160(public_key)));
    }
    bitcoin_address_of(&key, kind, network)
}

/// As [`bitcoin_address`], for a parsed key (compressed for P2PKH).
pub fn bitcoin_address_of(
    key: &::secp256k1::PublicKey,
    kind: BitcoinKind,
    network: Network,
) -> Result<String> {
    let testnet = network == Network::Testnet;
    match kind {
        BitcoinKind::P2pkh => Ok(base58check(
            if testnet { 0x6f } else { 0x00 },
            &hash160(&key.serialize()),
        )),
        BitcoinKind::P2shP2wpkh => {
            let script = p2wpkh_script(&hash160(&key.serialize()));
            Ok(base58check(
                if testnet { 0xc4 } else { 0x05 },
                &hash160(&script),
            ))
        }
        BitcoinKind::P2wpkh => {
            let program = hash160(&key.serialize());
            Ok(bech32::segwit::encode_v0(hrp(network), &program).expect("20-byte program"))
        }
        BitcoinKind::P2tr => {
            let output = crate::bitcoin::taproot_output_key_of(&key.x_only_public_key().0, None)?;
            Ok(bech32::segwit::encode_v1(hrp(network), &output).expect("32-byte program"))
        }
    }
}

/// A decoded Bitcoin address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BitcoinAddress {
    /// p2pkh, p2sh (script hash: P2SH-P2WPKH cannot be told from other P2SH),
    /// p2wpkh, p2wsh, p2tr, or witness-vN for future versions.
    pub kind: String,
    pub network: Network,
    /// The hash or witness program.
    pub program: Vec<u8>,
}

/// The error and every cause below it, joined: the bech32 crate's outer
/// errors alone do not say what is wrong.
fn describe(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// Decodes a segwit address, naming a checksum of the wrong kind (BIP350).
fn decode_segwit(address: &str) -> Result<(u8, Vec<u8>)> {
    use bech32::primitives::decode::{CheckedHrpstring, SegwitHrpstring};
    use bech32::{Bech32, Bech32m};
    match SegwitHrpstring::new(address) {
        Ok(s) => Ok((s.witness_version().to_u8(), s.byte_iter().collect())),
        Err(e) => {
            let version = |c: CheckedHrpstring<'_>| c.witness_version().map(|v| v.to_u8());
            let as_bech32 = CheckedHrpstring::new::<Bech32>(address)
                .ok()
                .and_then(version);
            let as_bech32m = CheckedHrpstring::new::<Bech32m>(address)
                .ok()
                .and_then(version);
            let why = match (as_bech32, as_bech32m) {
                (Some(v), _) if v > 0 => format!(
                    "witness version {v} needs a bech32m checksum (BIP350), and this address has a bech32 one"
                ),
                (_, Some(0)) => {
                    "witness version 0 needs a bech32 checksum (BIP173), and this address has a bech32m one".to_owned()
                }
                _ => describe(&e),
            };
            Err(Error::InvalidAddress(format!("bad segwit address: {why}")))
        }
    }
}

pub fn parse_bitcoin_address(address: &str) -> Result<BitcoinAddress> {
    let bad = |why: String| Error::InvalidAddress(why);
    let lower = address.to_ascii_lowercase();
    if lower.starts_with("bc1") || lower.starts_with("tb1") {
        let network = if lower.starts_with("bc1") {
            Network::Mainnet
        } else {
            Network::Testnet
        };
        let (version, program) = decode_segwit(address)?;
        let kind = match (version, program.len()) {
            (0, 20) => "p2wpkh".to_owned(),
            (0, 32) => "p2wsh".to_owned(),
            (1, 32) => "p2tr".to_owned(),
            (v, _) => format!("witness-v{v}"),
        };
        return Ok(BitcoinAddress {
            kind,
            network,
            program,
        });
    }
    let data = bs58::decode(address)
        .into_vec()
        .map_err(|e| bad(format!("not base58 and no bc1/tb1 prefix: {e}")))?;
    if data.len() != 25 {
        return Err(bad(format!(
            "a base58 address is 25 bytes, this one decodes to {}",
            data.len()
        )));
    }
    if sha256d(&data[..21])[..4] != data[21..] {
        return Err(bad("bad base58 checksum".into()));
    }
    let (kind, network) = match data[0] {
        0x00 => ("p2pkh", Network::Mainnet),
        0x05 => ("p2sh", Network::Mainnet),
        0x6f => ("p2pkh", Network::Testnet),
        0xc4 => ("p2sh", Network::Testnet),
        v => {
            return Err(bad(format!(
                "unknown base58 address version byte 0x{v:02x}"
            )))
        }
    };
    Ok(BitcoinAddress {
        kind: kind.to_owned(),
        network,
        program: data[1..21].to_vec(),
    })
}

/// Checks an address, and its network when one is given.
pub fn validate_bitcoin_address(address: &str, network: Option<Network>) -> Result<BitcoinAddress> {
    let parsed = parse_bitcoin_address(address)?;
    if let Some(n) = network {
        if parsed.network != n {
            return Err(Error::InvalidAddress(format!(
                "wrong network: a {} address where {} was expected",
                parsed.network.name(),
                n.name()
            )));
        }
    }
    Ok(parsed)
}

/// The 20-byte Ethereum address of a secp256k1 public key.
pub fn ethereum_address_bytes(public_key: &[u8]) -> Result<[u8; 20]> {
    Ok(ethereum_address_of(&crate::secp256k1::parse_public_key(
        public_key,
    )?))
}

pub fn ethereum_address_of(key: &::secp256k1::PublicKey) -> [u8; 20] {
    let hash = keccak256(&key.serialize_uncompressed()[1..]);
    hash[12..].try_into().expect("20 bytes")
}

/// EIP-55 mixed-case checksum encoding of 20 address bytes.
pub fn eip55(address: &[u8; 20]) -> String {
    let lower: String = address.iter().map(|b| format!("{b:02x}")).collect();
    let hash = keccak256(lower.as_bytes());
    let mut out = String::with_capacity(42);
    out.push_str("0x");
    for (i, c) in lower.chars().enumerate() {
        let nibble = (hash[i / 2] >> (if i % 2 == 0 { 4 } else { 0 })) & 0x0f;
        out.push(if nibble >= 8 {
            c.to_ascii_uppercase()
        } else {
            c
        });
    }
    out
}

pub fn ethereum_address(public_key: &[u8]) -> Result<String> {
    Ok(eip55(&ethereum_address_bytes(public_key)?))
}

/// Parses "0x" + 40 hex digits. All-lower or all-upper hex carries no
/// checksum; mixed case must match EIP-55.
pub fn parse_ethereum_address(address: &str) -> Result<[u8; 20]> {
    let bad = |why: String| Error::InvalidAddress(why);
    let digits = address
        .strip_prefix("0x")
        .or_else(|| address.strip_prefix("0X"))
        .ok_or_else(|| bad("an Ethereum address starts with 0x".into()))?;
    if digits.len() != 40 {
        return Err(bad(format!(
            "an Ethereum address has 40 hex digits, this one has {}",
            digits.len()
        )));
    }
    if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad(
            "an Ethereum address has only hex digits after 0x".into()
        ));
    }
    let mut bytes = [0u8; 20];
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = u8::from_str_radix(&digits[2 * i..2 * i + 2], 16).expect("hex checked");
    }
    let mixed = digits.bytes().any(|b| b.is_ascii_lowercase())
        && digits.bytes().any(|b| b.is_ascii_uppercase());
    if mixed && eip55(&bytes)[2..] != *digits {
        return Err(bad(
            "bad EIP-55 checksum: the letter case does not match".into()
        ));
    }
    Ok(bytes)
}

pub fn solana_address(public_key: &[u8]) -> Result<String> {
    if public_key.len() != 32 {
        return Err(Error::InvalidKey(format!(
            "a Solana public key is 32 bytes, got {}",
            public_key.len()
        )));
    }
    Ok(bs58::encode(public_key).into_string())
}

pub fn parse_solana_address(address: &str) -> Result<[u8; 32]> {
    let bytes = bs58::decode(address)
        .into_vec()
        .map_err(|e| Error::InvalidAddress(format!("a Solana address is base58: {e}")))?;
    bytes.as_slice().try_into().map_err(|_| {
        Error::InvalidAddress(format!(
            "a Solana address decodes to 32 bytes, this one to {}",
            bytes.len()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eip55_examples() {
        for a in [
            "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
            "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
        ] {
            let bytes = parse_ethereum_address(a).unwrap();
            assert_eq!(eip55(&bytes), a);
        }
        assert!(parse_ethereum_address("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD").is_err());
    }
}
