//! Ethereum message digests (EIP-191, EIP-712).
use crate::error::{fixed, Result};
use crate::hashes::keccak256;

/// EIP-191 version 0x45 ("personal_sign") digest.
pub fn personal_message_digest(message: &[u8]) -> [u8; 32] {
    let mut data = format!("\x19Ethereum Signed Message:\n{}", message.len()).into_bytes();
    data.extend_from_slice(message);
    keccak256(&data)
}

/// EIP-712 digest: keccak256(0x19 ‖ 0x01 ‖ domainSeparator ‖ hashStruct(message)).
pub fn eip712_digest(domain_separator: &[u8], struct_hash: &[u8]) -> Result<[u8; 32]> {
    let ds = fixed::<32>(domain_separator, "domain_separator")?;
    let sh = fixed::<32>(struct_hash, "struct_hash")?;
    let mut data = [0u8; 66];
    data[0] = 0x19;
    data[1] = 0x01;
    data[2..34].copy_from_slice(&ds);
    data[34..].copy_from_slice(&sh);
    Ok(keccak256(&data))
}
