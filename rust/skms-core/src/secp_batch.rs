//! Public BIP32 derivation on secp256k1: child = parent + IL·G for a batch
//! of (parent, IL), or for one child as a batch of one.
//!
//! Why it exists: in public (xpub) derivation IL is a hash of public data
//! only, so variable-time arithmetic leaks nothing, and libsecp256k1's API
//! offers neither a variable-time fixed-base multiplication nor batch
//! normalization: each `from_secret_key(IL).combine(parent)` pays its
//! constant-time generator comb and two field inversions. Here IL·G is at
//! most 32 additions from a table of byte multiples of G, and a whole batch
//! returns to affine coordinates with one inversion (Montgomery's trick).
//!
//! Never use it with secret scalars: private derivation stays on libsecp256k1.
use std::sync::OnceLock;

use ::secp256k1::PublicKey;
use k256::elliptic_curve::group::{Curve as _, Group as _};
use k256::elliptic_curve::sec1::{FromEncodedPoint, ToEncodedPoint};
use k256::elliptic_curve::PrimeField;
use k256::{AffinePoint, EncodedPoint, FieldBytes, ProjectivePoint, Scalar};

/// One window per byte of the scalar.
const WINDOWS: usize = 32;
/// Each window holds d·2^(8w)·G for the digits d = 1 ..= 255.
const DIGITS: usize = 255;

/// The byte multiples of G: entry `w * DIGITS + d - 1` is d·2^(8w)·G.
struct GeneratorTable(Vec<AffinePoint>);

impl GeneratorTable {
    fn build() -> GeneratorTable {
        let mut multiples = Vec::with_capacity(WINDOWS * DIGITS);
        let mut window_base = ProjectivePoint::GENERATOR;
        for _ in 0..WINDOWS {
            let mut multiple = window_base;
            for _ in 0..DIGITS {
                multiples.push(multiple);
                multiple += window_base;
            }
            window_base = multiple; // 256·(previous base)
        }
        let mut points = vec![AffinePoint::IDENTITY; multiples.len()];
        ProjectivePoint::batch_normalize(&multiples, &mut points);
        GeneratorTable(points)
    }

    /// scalar·G, the scalar given as 32 big-endian bytes; variable time.
    fn mul(&self, scalar: &[u8; 32]) -> ProjectivePoint {
        let mut sum = ProjectivePoint::IDENTITY;
        for (window, &digit) in scalar.iter().rev().enumerate() {
            if digit != 0 {
                sum += &self.0[window * DIGITS + usize::from(digit) - 1];
            }
        }
        sum
    }
}

fn table() -> &'static GeneratorTable {
    static TABLE: OnceLock<GeneratorTable> = OnceLock::new();
    TABLE.get_or_init(GeneratorTable::build)
}

/// A parent public key, in the coordinates the batch adds to.
#[derive(Clone, Copy, Debug)]
pub struct Parent(AffinePoint);

impl Parent {
    pub fn new(key: &PublicKey) -> Parent {
        // The uncompressed form parses without a square root.
        let encoded =
            EncodedPoint::from_bytes(key.serialize_uncompressed()).expect("a 65-byte SEC1 point");
        Parent(AffinePoint::from_encoded_point(&encoded).expect("a valid public key"))
    }
}

/// A tweak libsecp256k1 accepts: not zero and below the group order.
fn is_valid_tweak(tweak: &[u8; 32]) -> bool {
    Option::<Scalar>::from(Scalar::from_repr(FieldBytes::from(*tweak)))
        .is_some_and(|s| !bool::from(s.is_zero()))
}

fn public_key(point: &AffinePoint) -> PublicKey {
    PublicKey::from_slice(point.to_encoded_point(false).as_bytes()).expect("a point on the curve")
}

/// `parent + tweak·G` for each item, in order. `None` where libsecp256k1's
/// `PublicKey::from_secret_key(tweak).combine(parent)` fails: a tweak of zero
/// or not below the group order, or a sum at infinity.
pub fn add_tweaks(items: &[(Parent, [u8; 32])]) -> Vec<Option<PublicKey>> {
    let table = table();
    let sums: Vec<Option<ProjectivePoint>> = items
        .iter()
        .map(|(parent, tweak)| {
            is_valid_tweak(tweak)
                .then(|| table.mul(tweak) + parent.0)
                .filter(|sum| !bool::from(sum.is_identity()))
        })
        .collect();
    // k256's batch_normalize fails on a point at infinity whose z is zero
    // but not reduced, so the batch gets a stand-in for each.
    let finite: Vec<ProjectivePoint> = sums
        .iter()
        .map(|sum| sum.unwrap_or(ProjectivePoint::GENERATOR))
        .collect();
    let mut points = vec![AffinePoint::IDENTITY; finite.len()];
    if !finite.is_empty() {
        ProjectivePoint::batch_normalize(&finite, &mut points);
    }
    sums.iter()
        .zip(&points)
        .map(|(sum, point)| sum.map(|_| public_key(point)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::secp256k1::{SecretKey, SECP256K1};
    use rand_core::{OsRng, RngCore};

    fn reference(parent: &PublicKey, tweak: &[u8; 32]) -> Option<PublicKey> {
        let t = SecretKey::from_byte_array(*tweak).ok()?;
        PublicKey::from_secret_key(SECP256K1, &t)
            .combine(parent)
            .ok()
    }

    fn random_key() -> PublicKey {
        loop {
            let mut bytes = [0u8; 32];
            OsRng.fill_bytes(&mut bytes);
            if let Ok(sk) = SecretKey::from_byte_array(bytes) {
                return PublicKey::from_secret_key(SECP256K1, &sk);
            }
        }
    }

    #[test]
    fn table_entries_are_byte_multiples_of_g() {
        let table = table();
        for (w, d) in [(0, 1), (0, 255), (1, 1), (17, 200), (31, 255)] {
            let mut scalar = [0u8; 32];
            scalar[31 - w] = d as u8;
            let expected =
                PublicKey::from_secret_key(SECP256K1, &SecretKey::from_byte_array(scalar).unwrap());
            assert_eq!(public_key(&table.0[w * DIGITS + d - 1]), expected);
        }
    }

    #[test]
    fn equals_libsecp_on_random_parents_and_tweaks() {
        let parents: Vec<PublicKey> = (0..40).map(|_| random_key()).collect();
        let mut items = Vec::new();
        let mut expected = Vec::new();
        for n in 0..2000 {
            let parent = &parents[n % parents.len()];
            let mut tweak = [0u8; 32];
            OsRng.fill_bytes(&mut tweak);
            // Also bytes of zero and 0xff, which skip or use the last table entry.
            match n % 7 {
                0 => tweak[..16].fill(0),
                1 => tweak[16..].fill(0xff),
                2 => tweak[5] = 0,
                _ => {}
            }
            expected.push(reference(parent, &tweak));
            items.push((Parent::new(parent), tweak));
        }
        assert!(expected.iter().all(Option::is_some));
        assert_eq!(add_tweaks(&items), expected);
    }

    #[test]
    fn invalid_children_are_none_in_place() {
        let parent = random_key();
        let mut tweak = [0u8; 32];
        OsRng.fill_bytes(&mut tweak);
        // parent' = -(tweak·G): parent' + tweak·G is the point at infinity.
        let tweak_point =
            PublicKey::from_secret_key(SECP256K1, &SecretKey::from_byte_array(tweak).unwrap());
        let opposite = tweak_point.negate(SECP256K1);
        let order_minus_one: [u8; 32] = (-Scalar::ONE).to_repr().into();
        let mut order = order_minus_one;
        order[31] += 1; // n - 1 ends in 0x40
        let cases = [
            (parent, tweak),
            (opposite, tweak),
            (parent, [0u8; 32]),
            (parent, order),
            (parent, [0xff; 32]),
            (parent, order_minus_one),
        ];
        let items: Vec<_> = cases.iter().map(|(p, t)| (Parent::new(p), *t)).collect();
        let expected: Vec<_> = cases.iter().map(|(p, t)| reference(p, t)).collect();
        assert!(expected[0].is_some() && expected[5].is_some());
        assert!(expected[1..5].iter().all(Option::is_none));
        assert_eq!(add_tweaks(&items), expected);
    }

    #[test]
    fn empty_batch() {
        assert!(add_tweaks(&[]).is_empty());
    }
}
