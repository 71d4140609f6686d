//! Addresses of HD keys, one at a time or in parallel batches.
use rayon::prelude::*;

use crate::address::{bitcoin_address, ethereum_address, solana_address, BitcoinKind};
use crate::bip32::{format_index, Curve, DerivationPath, ExtendedKey, Network, HARDENED};
use crate::error::{Error, Result};

/// What kind of address to make.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddressSpec {
    Bitcoin(BitcoinKind, Network),
    Ethereum,
    Solana,
}

impl AddressSpec {
    /// From the names of the Python API; `network` defaults to the key's.
    pub fn parse(chain: &str, kind: Option<&str>, network: Network) -> Result<AddressSpec> {
        match (chain, kind) {
            ("bitcoin", k) => Ok(AddressSpec::Bitcoin(
                BitcoinKind::parse(k.unwrap_or("p2wpkh"))?,
                network,
            )),
            ("ethereum", None) => Ok(AddressSpec::Ethereum),
            ("solana", None) => Ok(AddressSpec::Solana),
            ("ethereum" | "solana", Some(k)) => Err(Error::InvalidInput(format!(
                "{chain} has one address kind; got kind {k:?}"
            ))),
            _ => Err(Error::InvalidInput(format!(
                "unknown chain {chain:?}; expected bitcoin, ethereum or solana"
            ))),
        }
    }

    fn curve(self) -> Curve {
        match self {
            AddressSpec::Solana => Curve::Ed25519,
            _ => Curve::Secp256k1,
        }
    }
}

pub fn address_of(key: &ExtendedKey, spec: AddressSpec) -> Result<String> {
    if key.curve != spec.curve() {
        return Err(Error::InvalidInput(format!(
            "this address needs a {} key, and the key is {}",
            spec.curve().name(),
            key.curve.name()
        )));
    }
    match (spec, key.secp_public_key()) {
        // The parsed key saves the square root that re-parsing would cost.
        (AddressSpec::Ethereum, Some(pk)) => Ok(crate::address::eip55(
            &crate::address::ethereum_address_of(&pk),
        )),
        (AddressSpec::Bitcoin(kind, network), Some(pk)) => {
            crate::address::bitcoin_address_of(&pk, kind, network)
        }
        (AddressSpec::Bitcoin(kind, network), None) => {
            bitcoin_address(key.public_key(), kind, network)
        }
        (AddressSpec::Ethereum, None) => ethereum_address(key.public_key()),
        (AddressSpec::Solana, _) => solana_address(key.public_key()),
    }
}

/// A path with one varying index: `prefix / index' ? / suffix`.
struct Template {
    prefix: DerivationPath,
    hardened: bool,
    suffix: DerivationPath,
    prefix_text: String,
    suffix_text: String,
}

const PLACEHOLDER: &str = "{index}";

fn parse_template(text: &str, curve: Curve) -> Result<Template> {
    let bad = |why: &str| Error::InvalidPath(format!("path template {text:?}: {why}"));
    if !text.contains(PLACEHOLDER) {
        let prefix = DerivationPath::parse(text)?;
        let prefix_text = text.trim_end_matches('/').to_owned();
        return Ok(Template {
            prefix,
            hardened: curve == Curve::Ed25519,
            suffix: DerivationPath {
                absolute: false,
                indices: vec![],
            },
            prefix_text,
            suffix_text: String::new(),
        });
    }
    let (before, after) = text.split_once(PLACEHOLDER).expect("contains");
    if after.contains(PLACEHOLDER) {
        return Err(bad("{index} may appear once"));
    }
    let (hardened, after) = match after.strip_prefix(['\'', 'h', 'H']) {
        Some(rest) => (true, rest),
        None => (false, after),
    };
    let before = before
        .strip_suffix('/')
        .ok_or_else(|| bad("{index} must be a whole path component"))?;
    if !(after.is_empty() || after.starts_with('/')) {
        return Err(bad("{index} must be a whole path component"));
    }
    let prefix = DerivationPath::parse(before)?;
    let suffix_rel = after.trim_start_matches('/');
    let suffix = DerivationPath::parse(suffix_rel)?;
    Ok(Template {
        prefix,
        hardened,
        suffix,
        prefix_text: before.to_owned(),
        suffix_text: after.to_owned(),
    })
}

/// (path, address) for each index in `start .. start + count`, on every core.
pub fn derive_addresses(
    key: &ExtendedKey,
    template: &str,
    start: u32,
    count: u32,
    spec: AddressSpec,
) -> Result<Vec<(String, String)>> {
    let t = parse_template(template, key.curve)?;
    if u64::from(start) + u64::from(count) > u64::from(HARDENED) {
        return Err(Error::InvalidInput(format!(
            "indices {start} .. {start}+{count} pass 2^31; BIP32 indices are below 2147483648"
        )));
    }
    // Check the chain and curve once, not once per item.
    if key.curve != spec.curve() {
        address_of(key, spec)?;
    }
    let base = key.derive_path(&t.prefix)?;
    let base_text = if t.prefix_text.is_empty() {
        String::new()
    } else {
        format!("{}/", t.prefix_text)
    };
    let indices: Vec<u32> = (start..start + count)
        .map(|i| if t.hardened { i | HARDENED } else { i })
        .collect();
    let chunks: Vec<Vec<(String, String)>> = indices
        .par_chunks(CHUNK)
        .map(|chunk| {
            let nodes = derive_chunk(&base, chunk, &t.suffix);
            // Hardened steps derive private keys on this pool thread's stack.
            crate::symmetric::scrub_stack();
            let nodes = nodes?;
            chunk
                .iter()
                .zip(&nodes)
                .map(|(&index, node)| {
                    let path = format!("{base_text}{}{}", format_index(index), t.suffix_text);
                    Ok((path, address_of(node, spec)?))
                })
                .collect()
        })
        .collect::<Result<_>>()?;
    Ok(chunks.concat())
}

/// Indices per parallel task: enough that a batch of public derivations
/// shares one field inversion across many keys (see `secp_batch`).
const CHUNK: usize = 256;

/// `base / index / suffix` for each index, one path level at a time.
fn derive_chunk(
    base: &ExtendedKey,
    indices: &[u32],
    suffix: &DerivationPath,
) -> Result<Vec<ExtendedKey>> {
    let steps: Vec<(&ExtendedKey, u32)> = indices.iter().map(|&i| (base, i)).collect();
    let mut nodes = derive_level(&steps, suffix.indices.is_empty())?;
    for (n, &index) in suffix.indices.iter().enumerate() {
        let steps: Vec<(&ExtendedKey, u32)> = nodes.iter().map(|node| (node, index)).collect();
        nodes = derive_level(&steps, n + 1 == suffix.indices.len())?;
    }
    Ok(nodes)
}

/// One level of `derive_chunk`; the keys of the last level are complete.
fn derive_level(steps: &[(&ExtendedKey, u32)], last: bool) -> Result<Vec<ExtendedKey>> {
    let children = if last {
        ExtendedKey::derive_children(steps)
    } else {
        ExtendedKey::derive_intermediate_children(steps)
    };
    children.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_equals_single() {
        let seed = [42u8; 64];
        let root = ExtendedKey::from_seed(&seed, Curve::Secp256k1).unwrap();
        let out = derive_addresses(&root, "m/44'/60'/0'/0", 5, 20, AddressSpec::Ethereum).unwrap();
        assert_eq!(out.len(), 20);
        for (path, addr) in &out {
            let k = root
                .derive_path(&DerivationPath::parse(path).unwrap())
                .unwrap();
            assert_eq!(&address_of(&k, AddressSpec::Ethereum).unwrap(), addr);
        }
        assert_eq!(out[0].0, "m/44'/60'/0'/0/5");
        let sol = ExtendedKey::from_seed(&seed, Curve::Ed25519).unwrap();
        let out =
            derive_addresses(&sol, "m/44'/501'/{index}'/0'", 0, 3, AddressSpec::Solana).unwrap();
        assert_eq!(out[2].0, "m/44'/501'/2'/0'");
    }

    #[test]
    fn batch_from_an_xpub_equals_single() {
        let root = ExtendedKey::from_seed(&[9u8; 64], Curve::Secp256k1).unwrap();
        let account = root
            .derive_path(&DerivationPath::parse("m/84'/0'/0'").unwrap())
            .unwrap()
            .neuter();
        let spec = AddressSpec::Bitcoin(BitcoinKind::P2wpkh, Network::Mainnet);
        // Several chunks; with a suffix the second level batches distinct parents.
        for template in ["0", "0/{index}/0", "1/{index}/2/3"] {
            let out = derive_addresses(&account, template, 100, 600, spec).unwrap();
            assert_eq!(out.len(), 600);
            for (n, (path, addr)) in out.iter().enumerate() {
                let expected = template.replace("{index}", &(100 + n).to_string());
                let expected = if template.contains("{index}") {
                    expected
                } else {
                    format!("{expected}/{}", 100 + n)
                };
                assert_eq!(path, &expected);
                let k = account
                    .derive_path(&DerivationPath::parse(path).unwrap())
                    .unwrap();
                assert_eq!(&address_of(&k, spec).unwrap(), addr);
            }
        }
    }
}
