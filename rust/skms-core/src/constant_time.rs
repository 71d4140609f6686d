//! Comparisons whose timing does not depend on the secret contents.
use subtle::ConstantTimeEq;

/// True when `a` and `b` are equal. Time depends on the lengths only.
pub fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::bytes_eq;

    #[test]
    fn compares() {
        assert!(bytes_eq(b"abc", b"abc"));
        assert!(!bytes_eq(b"abc", b"abd"));
        assert!(!bytes_eq(b"abc", b"ab"));
        assert!(bytes_eq(b"", b""));
    }
}
