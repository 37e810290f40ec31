//! Secrets as types: their `Debug` prints `[redacted]`, they compare in constant time and
//! their bytes are overwritten when dropped.

use std::fmt;

/// Compares two byte strings in time that depends only on their lengths.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b) {
        diff |= x ^ y;
    }
    // `black_box` keeps the optimizer from turning the fold into an early exit.
    std::hint::black_box(diff) == 0
}

/// A secret byte string (a key, the refresh secret, the admin token, a password).
#[derive(Clone, Default)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// Wraps `bytes`.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Secret(bytes.into())
    }

    /// The secret bytes; the caller must not log or store them.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// True when the secret is empty (not configured).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Constant-time comparison with a presented value. Both sides are hashed first, so not
    /// even the secret's length shows in the timing.
    pub fn matches(&self, presented: &[u8]) -> bool {
        let a = hmac_sha256::Hash::hash(&self.0);
        let b = hmac_sha256::Hash::hash(presented);
        constant_time_eq(&a, &b)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        for b in self.0.iter_mut() {
            // Volatile-free best effort: black_box keeps the stores from being elided.
            *std::hint::black_box(b) = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted_and_comparison_is_exact() {
        let s = Secret::new(b"hunter2".to_vec());
        assert_eq!(format!("{s:?}"), "[redacted]");
        assert!(s.matches(b"hunter2"));
        assert!(!s.matches(b"hunter3"));
        assert!(!s.matches(b"hunter"));
        assert!(constant_time_eq(b"", b""));
    }
}
