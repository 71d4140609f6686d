//! Falcon signatures as FN-DSA (the FIPS 206 draft), degrees 512 and 1024.
//!
//! The engine is the `fn-dsa` crate family (0.4) by Thomas Pornin, one of
//! the designers of Falcon. It is chosen because it is pure Rust (no C
//! toolchain, unlike the liboqs bindings), written to run in constant time
//! (integer-only key generation and verification; native IEEE-754 floats
//! only where the ABI guarantees them), and picks its AVX2 code at run time,
//! so one wheel is both portable and fast. It tracks the FIPS 206 draft:
//! until its 1.0, a new version may change the key and signature encodings,
//! and keys made now may then need to be generated again.
//!
//! Encodings (the crate's, all of fixed size):
//!
//! | degree | private key | public key | signature | security  |
//! |--------|-------------|------------|-----------|-----------|
//! | 512    | 1345 bytes  | 897 bytes  | 666 bytes | NIST I    |
//! | 1024   | 2369 bytes  | 1793 bytes | 1280 bytes| NIST V    |
//!
//! The first byte of each names the degree: `0x50 + logn` for a private key
//! (f, g, F and the SHAKE256 hash of the public key), `logn` for a public key,
//! `0x30 + logn` for a signature, with logn = 9 (512) or 10 (1024).
//!
//! Message mode: "pure" FN-DSA (`HASH_ID_RAW`) with an empty domain context.
//! The message itself, not a digest, is signed: mu = SHAKE256(SHAKE256(public
//! key) ‖ 0x00 ‖ 0x00 ‖ message), the 0x00 bytes saying "not pre-hashed" and
//! "context of length 0". Signing is randomized and hedged: the crate derives
//! the 40-byte nonce seed from SHAKE256(hash of f, g ‖ mu ‖ 40 bytes from the
//! OS CSPRNG), so two signatures of one message differ and a weak RNG alone
//! does not expose the key.
use fn_dsa::{
    hashed_vrfykey_from_signkey, hashed_vrfykey_from_vrfykey, sign_key_size, signature_size,
    vrfy_key_size, CryptoRng, DomainContext, HashIdentifier, KeyPairGenerator,
    KeyPairGeneratorStandard, RngCore, SigningKey, SigningKeyStandard, VerifyingKey,
    VerifyingKeyStandard, DOMAIN_NONE, FN_DSA_LOGN_1024, FN_DSA_LOGN_512, HASH_ID_RAW,
};
use rand_core::OsRng;
use zeroize::Zeroizing;

use crate::constant_time::bytes_eq;
use crate::error::{Error, Result};
use crate::secret::SecretBytes;

/// High nibble of the first byte of an encoded private key.
const PRIVATE_KEY_TAG: u8 = 0x50;
/// High nibble of the first byte of an encoded public key.
const PUBLIC_KEY_TAG: u8 = 0x00;

/// The supported degrees (`n`): 512 (NIST level I) and 1024 (level V).
pub const DEGREES: [u32; 2] = [512, 1024];

/// logn (9 or 10) for a degree, or an error naming the accepted ones.
fn logn_of_degree(degree: u32) -> Result<u32> {
    match degree {
        512 => Ok(FN_DSA_LOGN_512),
        1024 => Ok(FN_DSA_LOGN_1024),
        d => Err(Error::InvalidInput(format!(
            "FN-DSA degree must be 512 or 1024, got {d}"
        ))),
    }
}

/// logn from the first byte of a key encoding, whose high nibble must be
/// `tag`. Private-key messages never show the byte: it may be secret.
fn logn_of_header(bytes: &[u8], tag: u8, what: &str) -> Result<u32> {
    let Some(&head) = bytes.first() else {
        return Err(Error::InvalidKey(format!("FN-DSA {what} is empty")));
    };
    let logn = u32::from(head & 0x0f);
    if head & 0xf0 == tag && (logn == FN_DSA_LOGN_512 || logn == FN_DSA_LOGN_1024) {
        return Ok(logn);
    }
    let expected = format!(
        "0x{:02x} (FN-DSA-512) or 0x{:02x} (FN-DSA-1024)",
        tag + 9,
        tag + 10
    );
    Err(Error::InvalidKey(if tag == PRIVATE_KEY_TAG {
        format!("FN-DSA {what} must start with {expected}")
    } else {
        format!("FN-DSA {what} must start with {expected}, got 0x{head:02x}")
    }))
}

fn check_len(bytes: &[u8], expected: usize, logn: u32, what: &str) -> Result<()> {
    if bytes.len() == expected {
        Ok(())
    } else {
        Err(Error::InvalidKey(format!(
            "FN-DSA-{} {what} must be {expected} bytes, got {}",
            1u32 << logn,
            bytes.len()
        )))
    }
}

/// Decodes a private key and checks the public-key hash it carries against
/// the public key recomputed from f and g (the crate trusts that hash; a
/// wrong one would make every signature fail to verify).
fn signing_key(private_key: &[u8]) -> Result<SigningKeyStandard> {
    let logn = logn_of_header(private_key, PRIVATE_KEY_TAG, "private key")?;
    check_len(private_key, sign_key_size(logn), logn, "private key")?;
    let key = SigningKeyStandard::decode(private_key).ok_or_else(|| {
        Error::InvalidKey(
            "FN-DSA private key does not decode: a coefficient is out of range or f is not invertible"
                .into(),
        )
    })?;
    let mut public = vec![0u8; vrfy_key_size(logn)];
    key.to_verifying_key(&mut public);
    if !bytes_eq(
        &hashed_vrfykey_from_signkey(private_key),
        &hashed_vrfykey_from_vrfykey(&public),
    ) {
        return Err(Error::InvalidKey(
            "FN-DSA private key is inconsistent: its public-key hash does not match f and g".into(),
        ));
    }
    Ok(key)
}

/// Parses a public key: header, length, and every coefficient below q = 12289.
fn verifying_key(public_key: &[u8]) -> Result<VerifyingKeyStandard> {
    let logn = logn_of_header(public_key, PUBLIC_KEY_TAG, "public key")?;
    check_len(public_key, vrfy_key_size(logn), logn, "public key")?;
    VerifyingKeyStandard::decode(public_key).ok_or_else(|| {
        Error::InvalidKey("FN-DSA public key has a coefficient not below q = 12289".into())
    })
}

/// Checks a signature's length and header byte against the key's degree.
/// The rest (nonce and compressed s2) is checked by verification itself: a
/// body that does not decode does not verify.
fn check_signature(signature: &[u8], logn: u32) -> Result<()> {
    let expected = signature_size(logn);
    if signature.len() != expected {
        return Err(Error::InvalidSignature(format!(
            "FN-DSA-{} signature must be {expected} bytes, got {}",
            1u32 << logn,
            signature.len()
        )));
    }
    let head = signature[0];
    let want = 0x30 + logn as u8;
    if head != want {
        return Err(Error::InvalidSignature(format!(
            "FN-DSA-{} signature must start with 0x{want:02x}, got 0x{head:02x}",
            1u32 << logn
        )));
    }
    Ok(())
}

/// A fresh private key of `degree` (512 or 1024) from the OS CSPRNG. The
/// public key is recomputed from it by [`public_key`].
pub fn generate_private_key(degree: u32) -> Result<SecretBytes> {
    let key = keygen(logn_of_degree(degree)?, &mut OsRng);
    crate::symmetric::scrub_stack_deep();
    Ok(key)
}

/// Key generation from `rng`: the crate draws one 32-byte seed and derives
/// everything from it, so a seeded `rng` gives a known key (the KATs).
fn keygen<R: CryptoRng + RngCore>(logn: u32, rng: &mut R) -> SecretBytes {
    let mut private = Zeroizing::new(vec![0u8; sign_key_size(logn)]);
    let mut public = vec![0u8; vrfy_key_size(logn)];
    KeyPairGeneratorStandard::default().keygen(logn, rng, &mut private, &mut public);
    SecretBytes::new(std::mem::take(&mut *private))
}

/// The encoded public key of a private key.
pub fn public_key(private_key: &[u8]) -> Result<Vec<u8>> {
    let public = public_key_inner(private_key);
    // The decoded key (f, g, F, G) was moved through frames below this one: wipe them all.
    crate::symmetric::scrub_stack_deep();
    public
}

fn public_key_inner(private_key: &[u8]) -> Result<Vec<u8>> {
    let key = signing_key(private_key)?;
    let mut public = vec![0u8; vrfy_key_size(key.get_logn())];
    key.to_verifying_key(&mut public);
    Ok(public)
}

/// Signs `message` (pure FN-DSA, empty context), randomized.
pub fn sign(private_key: &[u8], message: &[u8]) -> Result<Vec<u8>> {
    let signature = sign_with(private_key, &mut OsRng, &DOMAIN_NONE, &HASH_ID_RAW, message);
    crate::symmetric::scrub_stack_deep();
    signature
}

fn sign_with<R: CryptoRng + RngCore>(
    private_key: &[u8],
    rng: &mut R,
    context: &DomainContext<'_>,
    hash_id: &HashIdentifier<'_>,
    message: &[u8],
) -> Result<Vec<u8>> {
    let mut key = signing_key(private_key)?;
    let mut signature = vec![0u8; signature_size(key.get_logn())];
    key.sign(rng, context, hash_id, message, &mut signature)
        .ok_or_else(|| {
            Error::InvalidKey("FN-DSA signing failed: the private key is invalid".into())
        })?;
    Ok(signature)
}

/// Verifies a signature. Malformed keys and signatures (wrong length or
/// header, coefficients out of range) are errors; a well-formed signature
/// that does not match is `Ok(false)`.
pub fn verify(public_key: &[u8], message: &[u8], signature: &[u8]) -> Result<bool> {
    verify_with(public_key, &DOMAIN_NONE, &HASH_ID_RAW, message, signature)
}

fn verify_with(
    public_key: &[u8],
    context: &DomainContext<'_>,
    hash_id: &HashIdentifier<'_>,
    message: &[u8],
    signature: &[u8],
) -> Result<bool> {
    let key = verifying_key(public_key)?;
    check_signature(signature, u32::from(public_key[0]))?;
    Ok(key.verify(signature, context, hash_id, message))
}

#[cfg(test)]
mod tests {
    use fn_dsa::{
        compute_mu, KeyPairGeneratorWeak, RngError, SigningKeyWeak, VerifyingKeyWeak,
        HASH_ID_EXTMU, HASH_ID_SHA3_256,
    };
    use sha3::digest::{ExtendableOutput, Update, XofReader};
    use sha3::{Digest, Sha3_256, Shake256};

    use super::*;

    /// Serves fixed bytes as "randomness" and panics when they run out, like
    /// `FakeRng2` of the fn-dsa tests: keygen draws exactly 32 bytes, signing
    /// exactly 40.
    struct FixedRng<'a>(&'a [u8]);

    impl CryptoRng for FixedRng<'_> {}

    impl RngCore for FixedRng<'_> {
        fn next_u32(&mut self) -> u32 {
            unimplemented!("FN-DSA only calls fill_bytes")
        }
        fn next_u64(&mut self) -> u64 {
            unimplemented!("FN-DSA only calls fill_bytes")
        }
        fn fill_bytes(&mut self, dest: &mut [u8]) {
            let (now, rest) = self.0.split_at(dest.len());
            dest.copy_from_slice(now);
            self.0 = rest;
        }
        fn try_fill_bytes(&mut self, dest: &mut [u8]) -> std::result::Result<(), RngError> {
            self.fill_bytes(dest);
            Ok(())
        }
    }

    fn shake256(input: &[u8], len: usize) -> Vec<u8> {
        let mut h = Shake256::default();
        h.update(input);
        let mut out = vec![0u8; len];
        h.finalize_xof().read(&mut out);
        out
    }

    fn sha3_256(parts: &[&[u8]]) -> String {
        let mut h = Sha3_256::new();
        for p in parts {
            Digest::update(&mut h, p);
        }
        hex::encode(h.finalize())
    }

    // Known answers of fn-dsa-0.4.0/src/lib.rs (`test_kat`), copied verbatim.
    // KAT[logn - 2][j], for n = 2^logn and j in 0..10:
    //   seed = logn (1 byte) || j (4 bytes, little-endian);
    //   SHAKE256(seed) gives seed_kgen (32 bytes) then seed_sign (40 bytes);
    //   keygen from seed_kgen; sign "message" under domain context "domain"
    //   with seed_sign, raw if j is even, pre-hashed with SHA3-256 if odd;
    //   KAT[logn - 2][j] = SHA3-256(private key || public key || signature).
    // Degrees 4 to 256 are the crate's "weak" toy sizes, run through the
    // crate directly; 512 and 1024 run through this module.
    const KAT: [[&str; 10]; 9] = [
        [
            "d4bb8ac8fa02ca916ace37586269218ded12afcfbacc290a142274661ef9e784",
            "3565c014785b035c2442a93a06c5e9105b895b34ba92d7958a5683d0d9ce29f5",
            "a7a38eaef6b8f43aa39913bac0d8c762c461d61cba2e81f06a1be0f6e2d537e0",
            "53f44db3f24a3ecf59124fbc2bbaf8bc08160e648fb30b0eb8c5f402f8cac536",
            "e63e7f053f6a072f5207b3996e8bdd12def03813d9b217d22a9cd96726f104a0",
            "e53cc18f683951db780d1e68a519d955d9015ff4d94ce42ec8a8d980511aa373",
            "ae6dfaab6db4ad836bc42cfe58344d3e3d0f9d4968f1d243ba38183ca1409730",
            "64a376800ae2bf5090ec1e50b9bc1cb5e2ffdca84a4304d5757794a76324c108",
            "71b39bb48de89f402d5c048cd2f38bdd27bb7720111f6ae88897f6af84f8fdcb",
            "490fb34bfd84adaa504c23dfeb9a621c7b4daab147856c877fae3ad7ba2b3d1f",
        ],
        [
            "b8ab12d83bd3e559bb1df1c256fa0a77722c3cf7326efbf6dcd0b92ceeed5e16",
            "af5f98191865ddde1bd8f13a065e5b4595bbb721253d10970b240eaa040a0943",
            "a5c08cbd9d776e330e63e91c8e2948b8a411a3f53e86b52a76e67b3ffcf48f55",
            "46d348a1ed975891db62de10ccf48f968f19ff28fb23c4b43a94abec90ca2147",
            "f11171b1598f5c387faba115823b1d78b24147e21d1e7acd0f63d8de784d46e8",
            "e35f94986445b13da057236c2f51d45d76c2477c8957c34b52f7863cbdf2f45a",
            "efebe6c9dc58d702a0a3e9773461ea6f95888fd2e569b1fbf4a6937e99d7e542",
            "5747a79febfdc0402a1f3c4d11f437bcdd284c210d370e55fc5878a65b671189",
            "f4d5a288dc21973dd0929a91cecc392dd385a702acf1e635100a3130cf437997",
            "f93ec3e9e8edc3ad1ced06f2b83741b2afc77248049b617e0e14a5171669dea7",
        ],
        [
            "137514e7bb1f150426d66f3dd64b26d26272f225d4926e185b7a2dbe9d421460",
            "0dd3bdf334a1379381d9123d9c3c05b5280759c65c99ed81a46df2b0af1320af",
            "c5ffeba6ea3b630701a32a9a6e3e736dcd32ce8394edf855bb81a433daa3f188",
            "3e911daa7655073d9987221f7eeb45c3336bd8aad2909de431c9a5cbd2dc33e6",
            "4fff7e334de3dc4c442aa6953713cbc2a8bd4f1c67eb3ee02a06789a88d2e790",
            "04c12dcd4fcc512097bec078464b1370aba0fa7cd0ab11352ec4e76c64f9cada",
            "b5f62f1d82c76055fc7cd846a54d7f39bb2c0f74ee55e1c2d98b82ee10d076fa",
            "44953161d2d0b6227d3f55730d1034a138c58e8800541fc30346e3c7627eb696",
            "d8d23052ac3f14133b5fa886da8aede2dfe5ce8aca270e65b23688889ea1b821",
            "456772f7f182f3b241a17f4b2482efac038955d76dabceb49562fa6e62ad5d95",
        ],
        [
            "49151dcac636c59c55930e91a11292426718147fcaf896228bfb690c662d78e2",
            "34dcc0e9699691dff61a72881f04484b333954e3c8de319ce890c47456559f48",
            "73184939665019b4fdfb2de0af502ad3ef4b1f13472d7aa1c739064b074debbf",
            "264f5aa8556e0ae4b11027565e44ac47a52788cd80ed030e1b0e9f758eafd84a",
            "3f5bac7c84a1351c060bb4ee49b957e2a936c9314a75d2f9c06051dea294f407",
            "8b5d3a6f387e1187a500ab55648eb07a7e495a0ae97e7d031a667eca36c11e87",
            "bd6a11ed412ce3c1f7b41763c20cc1f9335b2a5a58be4ea3ecc8943fd698d2a9",
            "3f75f78c35123a4ea85afaa4c4035ee7c56b0ace01cc1c647c84df007dc38aee",
            "8e5e0653c3f087c0c1a608edf03962230efb963d0e00254ce29950905ebb2e50",
            "8938c6f1d88d63f4726363aeb82d91ecaeb058c1c9f8697166d97b2d33fcd78d",
        ],
        [
            "bbfc086cc6efe456483d80ed130fa3cf468ca927f2f98e0275976fb978034c53",
            "963e9ea43d0733cf4e735d6b85baa32d5a5071442053adf3cf711ee76f8fc0a2",
            "f03c8f8bd2fbbf434c7adb880befdf87aad135bcf933ff3fef1f72ee7518c120",
            "e8d5ccc73b73c2bd78748fcdccdb8bae5fcbd9872b343a41c45b1af04a56487c",
            "674bf0c4e6c0ab53019d0d27564dc25c8c515e1e1306c5512cc4bbf922aa5f6a",
            "22f274014a72d463ed078b729819ac2f4dc5163271731526ea1fca836afb418a",
            "5ae920ac2ca2ced3f0da1292e1a645f5c6a4a78258c207a83b39668ae1556b25",
            "ba169240a38b209cd482137269f0c33cca98e3bd181c576e1523bd5b3306207e",
            "f5ad4fc07a56f20232bd3d51f6c386f93f152fde088e3d545c24da012b893e42",
            "3dcdc145e4c8466e80f19f06bd59ff5d4dc0ad299b6b0d1ee7b78688c41367c7",
        ],
        [
            "2e590e99833785ee67b7fa004c3b4525f1f77a89d938f9ed38f2b718c331bda8",
            "134537a6a183db2eb232fe2b8f6accf474d34759dfe86bb2ffec669a77dd7a14",
            "471e4f121374d2c25c714865a3960bee910dcb50e3e8645c1f54f4c3e22fb186",
            "48153c04b97c4a3507602db294d8abbebeed34fa87ce7eabcadfc441d69288ad",
            "4f9c6703595b5f77ff6048e270cf4c4ae73a82e65f227edba91f7e84022eb5c0",
            "c8ffe0bce23744ed41933402dc5b9e6416086b129924b171af0d47b2aeb5a5b9",
            "bd7c4187b36bd31ec677e4db4feff6d60511aee7d9716b78e3159aa322168a70",
            "a5b70aa436c3cdff9d1c69a0a9825c505be0775ead0b45608b368df9b4c429af",
            "fc6c1c552ecc836b11f7beb2cb5613254d13de4c0930e234002a3b6418717077",
            "76c61e7f16492c22832057af120a39437deb748c199da5c2404bb4a363c76e1f",
        ],
        [
            "7c186bbfd1376de1d14e5c9c44fd41183b6cf7d6988e904d14bb977c31519302",
            "5fd57dd9530835813e59a3cce2879554be6df4067717426a4dd7efec4c8c731e",
            "62c592885e4c385766b797e47198a08aa29878d602deeecb143cfb9e3065de8c",
            "2d1a8b654a6100b6e7e238d709f4a95088a2c4b315545ff4ddcb38905f7dbf88",
            "2798f70186b541ea96c3c2adeee96c3266dcc324038bed22c3156931335beca0",
            "06aa91f4ff9a4bd75e7fb87b9a4f766bd3391b34e813ab46bfaa3b108292bdaf",
            "29f0421ae8739fb73c832cb17baef2aea39ac12216028daf9334c08e7f6a23fd",
            "486efe575fc0bafeac5b048da3b12280de402a66d304d2118ee2039fe206519a",
            "954ad7d6cc89cb7066358ea82f14ab944d62212fbb63f53bdc0ac2b8ff57cbc3",
            "c4141cebcb947e3dd702be708ce41eb20d2127719f404d476bc0945a6c5a79dd",
        ],
        [
            "71009cd3bc68f5061608ab541e9ae27ba0263c42fad97c112825075176d539d0",
            "70d8e2492da097f5407459eb9e3d58697855984e305032973a49709d208ddf1d",
            "91807eec4fc11be204e0bb48d6cc5968dd4dd4e1e886370ddb0c95458d9b68f0",
            "ded7d5c6392f0e16926a8e535b3bdb8b0fb4dc6dfd108ce8229c8ce6a378e965",
            "7c6a265c4b6732dccbb2fcc872be4546709285f8ed13902d7adfef2fb006d513",
            "c4afc6d00b2560fe567a1fab088d8b5e35774d4154a638fc5e4a10cc587aa798",
            "e3a0d6f8aba1c5658e053234fa0526f0d6c05f33fece73965871376a1f9039fc",
            "56d822207747b7c8bd47914482d63609e303bfa380b795b9f0f74cc0728ed040",
            "4021a79b26e2b5ad8603b1ec203a0de7177bbb2c4f7e046be5438842dcef30ad",
            "2ecca13d10dc658e0915bc42a8687d2aa7605c8670a2ca5c67e480487eaa0281",
        ],
        [
            "51bec3b8ca2565a94b2f1ad7bdc5f3844170495f235b8ea87fdae7e6d3b9dcb6",
            "abed632dec978f230f17e1c9059e36a7f0edfbaac2969ee75100421ea3346446",
            "83868908f2f89ee85a4e869b3d040de1f040e0dfa2e8cdabff00f0a2a2e8c120",
            "66f11c38b7f787bd66cd00ec62f3f2af622b81274a4dbe9462025b8d757710e1",
            "65602b1692abe97e845e41589d21927732f71c36ef1c888d155a15708b7b60e4",
            "95539caec65ac9a9ce23175168af914b905165b8f72c4d700f61b0b746683b11",
            "3a9632ee72a09704519eadea4b3688289c644f17105d29997d3555d21a428c7b",
            "b32a4019b5e5f802d4b61c751b99c58ffdee5adbf8cb97dc59c480756aa0a4f7",
            "439a026581a9472bf11b9f62389a066291b9a4ca789877ee2a44c9c6b5ca9852",
            "37b7f34cd910edc8b53b5302af4e2ff60192a396fe6c44fe8140a0ce0be04888",
        ],
    ];

    /// One `test_kat` vector through this module (degrees 512 and 1024).
    fn kat_through_skms(logn: u32, j: u32) -> String {
        let (seed_kgen, seed_sign) = kat_seeds(logn, j);
        let private = keygen(logn, &mut FixedRng(&seed_kgen));
        let public = public_key(private.expose()).unwrap();
        let context = DomainContext(b"domain");
        let digest: [u8; 32] = Sha3_256::digest(b"message").into();
        let (hash_id, message): (HashIdentifier<'_>, &[u8]) = if j & 1 == 0 {
            (HASH_ID_RAW, b"message")
        } else {
            (HASH_ID_SHA3_256, &digest)
        };
        let signature = sign_with(
            private.expose(),
            &mut FixedRng(&seed_sign),
            &context,
            &hash_id,
            message,
        )
        .unwrap();
        assert!(verify_with(&public, &context, &hash_id, message, &signature).unwrap());
        assert!(!verify_with(&public, &DOMAIN_NONE, &hash_id, message, &signature).unwrap());
        sha3_256(&[private.expose(), &public, &signature])
    }

    /// One `test_kat` vector through the crate's own API (toy degrees).
    fn kat_through_crate(logn: u32, j: u32) -> String {
        let (seed_kgen, seed_sign) = kat_seeds(logn, j);
        let mut private = vec![0u8; sign_key_size(logn)];
        let mut public = vec![0u8; vrfy_key_size(logn)];
        KeyPairGeneratorWeak::default().keygen(
            logn,
            &mut FixedRng(&seed_kgen),
            &mut private,
            &mut public,
        );
        let mut key = SigningKeyWeak::decode(&private).unwrap();
        let verifier = VerifyingKeyWeak::decode(&public).unwrap();
        let context = DomainContext(b"domain");
        let digest: [u8; 32] = Sha3_256::digest(b"message").into();
        let (hash_id, message): (HashIdentifier<'_>, &[u8]) = if j & 1 == 0 {
            (HASH_ID_RAW, b"message")
        } else {
            (HASH_ID_SHA3_256, &digest)
        };
        let mut signature = vec![0u8; signature_size(logn)];
        key.sign(
            &mut FixedRng(&seed_sign),
            &context,
            &hash_id,
            message,
            &mut signature,
        )
        .unwrap();
        assert!(verifier.verify(&signature, &context, &hash_id, message));
        sha3_256(&[&private, &public, &signature])
    }

    fn kat_seeds(logn: u32, j: u32) -> (Vec<u8>, Vec<u8>) {
        let mut seed = vec![logn as u8];
        seed.extend_from_slice(&j.to_le_bytes());
        let stream = shake256(&seed, 72);
        (stream[..32].to_vec(), stream[32..].to_vec())
    }

    #[test]
    fn kat_fn_dsa_hashed_key_pairs_and_signatures() {
        for (i, row) in KAT.iter().enumerate() {
            let logn = i as u32 + 2;
            for (j, expected) in row.iter().enumerate() {
                let got = if logn >= FN_DSA_LOGN_512 {
                    kat_through_skms(logn, j as u32)
                } else {
                    kat_through_crate(logn, j as u32)
                };
                assert_eq!(&got, expected, "degree {} vector {j}", 1u32 << logn);
            }
        }
    }

    // fn-dsa-sign-0.4.0/src/lib.rs, test `sign_512`: KAT_512_KGEN_SEED (kept
    // there in a comment), KAT_512_SIGN_SEED and KAT_512_MU verbatim; the
    // 1345-, 897- and 666-byte KAT_512_SK, KAT_512_VK and KAT_512_SIG as the
    // SHA3-256 digests of those arrays. fn-dsa-vrfy-0.4.0/src/lib.rs
    // (`verify_kat_512`) uses the same VK, MU and SIG.
    const KAT_512_KGEN_SEED: &str =
        "c322672bd332d96b7d3c1bbe5212cb3eb912468f4d29921228c9cedf25bd6d20";
    const KAT_512_SIGN_SEED: &str =
        "ea6d9cf08560653ca1a37e52ff14992020ee09700a88f5b90e541dbdf5de2dcd37749d6136b15187";
    const KAT_512_MU: &str = concat!(
        "459939f00e0b65395d633db25408c62d9c58819621917a8f299728754e08ac5e",
        "7c44ac0c7e131ff24b5f0f47bea8e902c7efdc642fb75faa310174ef0e32738c",
    );
    const KAT_512_SK_SHA3: &str =
        "d6e302eb15cef396beebf9b7d104d72d68a436e4e43a1c607556663d4e8534f8";
    const KAT_512_VK_SHA3: &str =
        "9e21bfa87faec0896d6bb13231aae7ca4c4cff4c585d195b27aa7431100c9d4c";
    const KAT_512_SIG_SHA3: &str =
        "d2c79eb7a43fc04691c1affa6de26b79398b176d00e3ffb75fcc5b486905cce9";

    #[test]
    fn kat_fn_dsa_sign_512() {
        let seed = hex::decode(KAT_512_KGEN_SEED).unwrap();
        let private = keygen(FN_DSA_LOGN_512, &mut FixedRng(&seed));
        assert_eq!(sha3_256(&[private.expose()]), KAT_512_SK_SHA3);
        let public = public_key(private.expose()).unwrap();
        assert_eq!(sha3_256(&[&public]), KAT_512_VK_SHA3);
        let context = DomainContext(b"context");
        let mu = compute_mu(
            &hashed_vrfykey_from_vrfykey(&public),
            &context,
            &HASH_ID_RAW,
            b"message",
        );
        assert_eq!(hex::encode(mu), KAT_512_MU);
        let sign_seed = hex::decode(KAT_512_SIGN_SEED).unwrap();
        let signature = sign_with(
            private.expose(),
            &mut FixedRng(&sign_seed),
            &context,
            &HASH_ID_RAW,
            b"message",
        )
        .unwrap();
        assert_eq!(sha3_256(&[&signature]), KAT_512_SIG_SHA3);
        // verify_kat_512: by mu (external-mu mode) and by message.
        let verifier = verifying_key(&public).unwrap();
        assert!(verifier.verify(&signature, &DOMAIN_NONE, &HASH_ID_EXTMU, &mu));
        assert!(verify_with(&public, &context, &HASH_ID_RAW, b"message", &signature).unwrap());
        assert!(!verify(&public, b"message", &signature).unwrap());
    }

    // fn-dsa-vrfy-0.4.0/src/lib.rs, test `verify_kat_1024`: KAT_1024_VK,
    // KAT_1024_MU and KAT_1024_SIG verbatim (as hex).
    const KAT_1024_VK: &str = concat!(
        "0a282d3280a356abc02842933ebc33e7a71915dc7222848cd0ba2b005399eda667049633fe1835d0ac2a9ea7a29b8762",
        "0e5d2c5141fa1e541df0e3b123701877ccc2c4eb87963d369324647d5977b7d4a76921be9f7c231162fb162e1dd07309",
        "15c2940f8f098912a87e07015cc6b00292b55c570139c9b2a856552ac490a956a902d348bc8699203ef4e6596fb20df7",
        "c6bdc56a36a7f697f4e66049046d57d249bb2d12cfd03aa27f07d123943ebabe7c205e5315e46fb847b6919e94bc8d8a",
        "7aba71d193b00f2763ffdd4fda556231e46aa427d43f33fe454c6a492f35bdd89501c7fa3485b0ba229a1ba34ae8071f",
        "26c0e9c32e4476c74d13a82d58ae6b3df028008a8c1c5ff11c46a3edd8abc87a5a6c31812e671bfa31202f9497f32093",
        "2fea39282ab53536a3b607da224d2101fc75cb042a5f29801afc84327b4d422350cd11ed6df28a28ed3412ecac91c239",
        "29336330e2605204598ae89947749100c12168cc09062557e35aa2502839caaf76a0929ae61fec41f9412045447ce146",
        "5da789cf734b5a261b30c312f2970687bcab77d19eb9ba546372f5cc7660df8cc8685cf515a35f8561839421a8ee56e6",
        "27ca982a51990781667b455e46b3cd5086e4141f7b893e3463db53678b2c4e646530a6430aac1a205247537024ff9236",
        "26aaa07465cfda74234571cfd090c6ddfc32f8a526f8c0a17feddcd45acf2d456240e93a37f4b56ba9b4f151d5a2af40",
        "1ff60f75b46915c4673d04ab0463892667761d785273f42801613c933061a8d66f1c0895b2f29a743fc56c5bc0069d6c",
        "d2db3bb2f25a98ca9472def416c82e1a53824e941862016a226217289dfa588ce269bd99825496e669b61694b832861b",
        "61d5a032fe5646e0851130da7448631fd253546d31a0db93184f0567a1436815a1be83f78abb69f28113078621037750",
        "4d989805500a9a20824663623a50791e145bf049d206ed848e3bb4916c339a5a094f7d6597c23f6742f56d6bc124560d",
        "10663ccf8ac4631576c2d186c8c4a68811e3ef03b459856003a84b9b4276c84deafa352c21a38259a1cd2c99391cbfa2",
        "133c9f2b47c9c546651b9b6c4a6003d22662032810a1b41f5318c311714681590ae8eb007aa4c869f64bb5d5b365de2f",
        "130a2d08f19657c62312beb1421e592a1437ad0304d841880abf17d597b5ae4d15cb3c81b49e0213479d8ab72c37a9a8",
        "b15ad38056b7e8ab01cea07b5c54b181e9b06112d4e5cb8ff110ee892fb413151126ec922acc0248019ec3fa2d2c5080",
        "65fa49daa93700235d33f5601c3a8298ca0dea1d6e4a403473d256f815a593fe124bcaa990ebaf9c860a8fc66a23f686",
        "0854db9a025c0cbb96a1946cfc797b134a70378e2d0112063249b83af24eee98166a2acde5c443d8910f644ca8bad602",
        "b510eb93438eb45a86a69669bc3d3e465e688166dd05ea9aed82cc4cb9c32d247a67eaa1fdc1acb8f1311ac54b4da362",
        "869922569ad7ba884ed4c7c665c29924a3465d3bcaa1363b4877cb85de00bb1474194f358210a6d6c511914f1e9f6e08",
        "bc84720f89e8c62a314d3c09abc10dd01a498b0305ec39ae16e919b500da36bf949e333b9451915d3ac20bf47e44ea86",
        "f567149d5814a36a118db56a9dd628128db2ba52f2d75d985e86c0a582e6264a0fa50576faa83c2fc237d3e26e658ea0",
        "16c3d329135e43da9ac512528a276cc6729c6951e6f6a13d669f2d02bbf261b991fd2a13234d62b5f7d4946bcaac5bd7",
        "a57a69f342682507af5469ce4f8e66e1500c5e59289ce1d86051a8f4404773df591c56a3ba177c058f955fd1e684f98f",
        "75ca48b416852e575fad00f4628b3c2dbab6edb624595e5799daf6a2464dcdd7fb1695ed6f24826246044ac4d5f9cca1",
        "9388541381e49a7efd4f1d7aa6ee56396bd0e14cd14a3d6c01460b505be95f9a1883809687c589e9634182e21a41a46f",
        "41b1f9c066d86d00aa8f42320a71e55d086f71b13f58b4066ac0e94bbe1dd089ed9aaf617b05267a8232e688d8cfc5f6",
        "99ad5d000ad21009bab9a6e175705130be13ee6f36cd6d4ff5c553068741721c0ad7047dc6bfa66d38e657ec672264b7",
        "fb3f784a55870e6916eda3918a1a123ce11e33dc70a78af67fa395199560f95a3bcb7aa6cdbe663660470a3d014943a8",
        "1f43765e800584736720210bba9846a46ce6a6dd111627519187046bd2a1d1019cca047884b24d56f449fbb514687147",
        "24f815b8807252437f039670be0607f05a4bd465495a6eb583c4438b51b2137edc1c1fd7e58916c41035d8098a6f5a01",
        "d4296516aa91197b15e5a800066551c9a8d739726e77d507a6320da8fa4f54a763120806a776597011b443d49bf5a6ac",
        "a7a959b4508fbd5dc00cf17348c8b57c4e49c8a462771b835517bd2265ba55e791ce64626c0970640fbd3cb785ba11df",
        "7e7848eccdf6bb9d7439260417c15db57b87054849a20e839276e157b472742a4206416a783ea6cd24893db09bdf78d4",
        "80356b884a441bd8cca63f23cde392a108",    );
    const KAT_1024_MU: &str = concat!(
        "087f0cc65b023ade59eec2b4eb5fad050d9765a260debdebf6fb88bc7cf5c5d6",
        "7e73543b64ed66dabe12bb2bd02ff68cb7e6256a515341089e75b1d2111d00d0",
    );
    const KAT_1024_SIG: &str = concat!(
        "3a8fae4a53fbec38ffe6c68adf43344aba7f517894c9744aa1c2ac24e859992a0efea1cfcef218f2ab8a4db2a53e1224",
        "91407e2f1dc9959d727e16a444209ea4cbd96f8810976a392ceb3b9975e9573af43d1be7fc5890d9f90522d9d3421164",
        "2eeac2261d2285537ba6703e1af27c6b22dc9530eb742da8fa2540dbaca7ccbfc7d1d8a9e857637583bd49f2d8629100",
        "ef0f33c0a35b0e38025fa7a473b544c0af4782fd9dbfbdde07871cf3b55fcd8553c42aff8f69935cdb7bcb9d614a11ec",
        "dbc577dbaa10eac76735630fdad4349aad95b7dc0ef3c7c848c4dae8669681c1d049dbafe81078a4465a962a7eb75ca6",
        "963450cfe5d189395881179ebd7ef4c2b77e65f63d1f165138759246d72d5c03198d45756b05231a5fe5a31f77c6c524",
        "ce173cb54635ef6e306b8d19b70bbb56df34763fe12eff2bcb6547f57ac1e787610624eabde0ea4625f674fe4021c39c",
        "b3c7a1abbaa9db14bb6bbe43360713b8385994496bd5148f3e7b23fac2e78eeaf8a9f364b7d3c9b029ecee1614d24e8e",
        "3b3cdde5d28d85fb0aecadf3af74fc4ae6719faa7331677db1206718e34d11f5f82a18fe182bfa7b42e608648bb27a18",
        "28d81bbd46de56acbff4bd434cb65dacf782c5d0a45d8159117e9c9056bdb7ba06c13659ee8da68014d411c81e73cd21",
        "0a4725b78a7c599f4af054106528a2f6ffe5658bf79140aa0bbd52283d10e9a2747eea44128b634e74878a530f94945f",
        "94980905fee645e0e27552a6333db04e27b8ed5abe6baeed3c4d3de9a39cb1660779af4083a8b3fdafb2c55d1bcd0f23",
        "100f7a369880a5970e14a499c2d491da9d8dbab1df936cce6a15e4c0820b0c9cb77e6beed64d0cb423ad732d87d62b5e",
        "c48afb72e724c09c2bd6c5a85821eedb3fd26e5e9585e6f2047240ff5e07dc504cb5bc8b31e18eb0b6401fc5f2f6e76d",
        "b1421e2ae79e44e96861d185e4f10de9d07a8db3adad4a6e17453e55b2ebc134a963282586173da3143bc0dd2bb58ea7",
        "bdee8e5a71f7bcd173afe291f6056a2a5d26d1679ae67d329b233fff14a72bf18c6d5cc2d51d39e96bd042be7fab414e",
        "7da399a1d2b06ba3c4238d28990ab769366df0634c596060114bac1eb15f9df85b53ae207841c74a5f5ce58c363746fa",
        "fdc5024fb4fda285b9bb3c1e6401a6305e1f01bd2d73c34a579c6bffa1c63f2b25650882786681013409955d24c57c88",
        "d5549eeb989b4196201c31cc8c46113699dfd70501a83bfd95646e5e6faf98d38bae86852a6db387d44b618d66541180",
        "ba0afecbf5c3e763a65d18c4886cc535eba68b182acf6207032bae4bfe254c27d78c33e8e58ded7c9fcbd25fe5383f4b",
        "90e55d3fe15033ef3f555fd24be36dbea8f13782523f5caba31e5d1e90e027251a451cbb31d58c791aaf4baf0997553c",
        "88dad7b06b6ccd53bc9edbab9295ecd818dcb9d4ba186e804b72ba39c07d2d1e197fb9872373ed6a7623b4a50b167c9c",
        "f1bfd29a2e633f1127a3ae1e566cd352dd95a66666ef0309d0f5c8545da8af8b55e99a5c7ed9c9f5a21a781ec9b773bc",
        "b0245cf44d357c9832aa908bbc1cd7a68e24325268958d5e3d1340156ffc0bbb4d5dbed1e19ff28b70db81a805960991",
        "639b9cb563d4f16f03a98cf69890a21deb9a7fb53223e3f8e82c3a8b6ed30b76dfb7d6010fd24a5a3672c785a1da5153",
        "fb2b186a4b48d9d67c9362c6864dcd486dec41a5fc68d191832dbe370f659af133e81b2e250f8abc4223119b39ca5d7c",
        "77f0d276d90ca6a109fc3b1bec6818ecafd8d243370dae230000000000000000",    );

    #[test]
    fn kat_fn_dsa_verify_1024() {
        let public = hex::decode(KAT_1024_VK).unwrap();
        let mu = hex::decode(KAT_1024_MU).unwrap();
        let signature = hex::decode(KAT_1024_SIG).unwrap();
        let context = DomainContext(b"context");
        let verifier = verifying_key(&public).unwrap();
        assert!(verifier.verify(&signature, &DOMAIN_NONE, &HASH_ID_EXTMU, &mu));
        assert!(verify_with(&public, &context, &HASH_ID_RAW, b"message", &signature).unwrap());
        assert!(!verify_with(&public, &context, &HASH_ID_RAW, b"messagf", &signature).unwrap());
        assert!(!verify(&public, b"message", &signature).unwrap());
    }

    #[test]
    fn round_trip_both_degrees() {
        for degree in DEGREES {
            let private = generate_private_key(degree).unwrap();
            let public = public_key(private.expose()).unwrap();
            let logn = degree.trailing_zeros();
            assert_eq!(private.len(), sign_key_size(logn));
            assert_eq!(public.len(), vrfy_key_size(logn));
            let a = sign(private.expose(), b"skms").unwrap();
            let b = sign(private.expose(), b"skms").unwrap();
            assert_eq!(a.len(), signature_size(logn));
            assert_ne!(a, b, "signing is randomized");
            assert!(verify(&public, b"skms", &a).unwrap());
            assert!(verify(&public, b"skms", &b).unwrap());
            assert!(!verify(&public, b"skm5", &a).unwrap());
            let other = public_key(generate_private_key(degree).unwrap().expose()).unwrap();
            assert!(!verify(&other, b"skms", &a).unwrap());
        }
    }

    #[test]
    fn altered_signatures_fail_or_are_refused() {
        let private = generate_private_key(512).unwrap();
        let public = public_key(private.expose()).unwrap();
        let signature = sign(private.expose(), b"m").unwrap();
        for i in 0..signature.len() {
            let mut bad = signature.clone();
            bad[i] ^= 0x01;
            match verify(&public, b"m", &bad) {
                Ok(ok) => assert!(!ok, "byte {i} altered still verifies"),
                Err(e) => assert!(i == 0 && matches!(e, Error::InvalidSignature(_))),
            }
        }
        assert!(matches!(
            verify(&public, b"m", &signature[..665]),
            Err(Error::InvalidSignature(_))
        ));
    }

    #[test]
    fn rejects_malformed_keys_and_degrees() {
        assert!(matches!(
            generate_private_key(256),
            Err(Error::InvalidInput(_))
        ));
        let private = generate_private_key(512).unwrap();
        let public = public_key(private.expose()).unwrap();
        let bad = |r: Result<Vec<u8>>| matches!(r, Err(Error::InvalidKey(_)));
        assert!(bad(public_key(&[])));
        assert!(bad(public_key(&private.expose()[..1344])));
        assert!(
            bad(public_key(&public)),
            "a public key is not a private key"
        );
        let mut wrong_hash = private.expose().to_vec();
        *wrong_hash.last_mut().unwrap() ^= 1;
        assert!(bad(public_key(&wrong_hash)));
        let mut toy = private.expose().to_vec();
        toy[0] = 0x58;
        assert!(bad(public_key(&toy)));
        assert!(matches!(
            verify(&public[..896], b"", &[0x39; 666]),
            Err(Error::InvalidKey(_))
        ));
        assert!(matches!(
            verify(private.expose(), b"", &[0x39; 666]),
            Err(Error::InvalidKey(_))
        ));
        // Coefficients are 14 bits; 0xff bytes make them 16383 >= q.
        let mut high = vec![0xffu8; 897];
        high[0] = 0x09;
        assert!(matches!(
            verify(&high, b"", &[0x39; 666]),
            Err(Error::InvalidKey(_))
        ));
        // A degree-1024 signature against a degree-512 key.
        let big = generate_private_key(1024).unwrap();
        let sig = sign(big.expose(), b"").unwrap();
        assert!(matches!(
            verify(&public, b"", &sig),
            Err(Error::InvalidSignature(_))
        ));
    }
}
