//! Password hashing: PBKDF2-HMAC-SHA256 behind the [`PasswordHasher`] trait.
//!
//! The Worker implements the trait with Web Crypto (`deriveBits`, which runs natively in
//! workerd and is capped there at 100 000 iterations); native code and tests use [`Pbkdf2`],
//! a pure-Rust implementation over `hmac-sha256`. Both produce identical bytes.

use crate::core::server::error::AuthError;

/// Length of a derived password hash in bytes.
pub const HASH_LEN: usize = 32;
/// Length of a password salt in bytes.
pub const SALT_LEN: usize = 16;
/// Iterations of one PBKDF2 call (workerd's cap for `deriveBits`); more iterations are
/// chained calls of at most this many.
pub const PBKDF2_STEP: u32 = 100_000;
/// Most iterations a password hash may ask for (ten chained calls).
pub const MAX_ITERATIONS: u32 = 10 * PBKDF2_STEP;

/// Derives a password hash (PBKDF2-HMAC-SHA256, [`HASH_LEN`] bytes).
#[allow(async_fn_in_trait)] // single-threaded (Workers, tests): no `Send` bound wanted
pub trait PasswordHasher {
    /// PBKDF2-HMAC-SHA256 of `password` with `salt` and `iterations`.
    async fn derive(
        &self,
        password: &[u8],
        salt: &[u8],
        iterations: u32,
    ) -> Result<[u8; HASH_LEN], AuthError>;
}

/// The pure-Rust [`PasswordHasher`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Pbkdf2;

impl PasswordHasher for Pbkdf2 {
    async fn derive(
        &self,
        password: &[u8],
        salt: &[u8],
        iterations: u32,
    ) -> Result<[u8; HASH_LEN], AuthError> {
        let mut out = [0u8; HASH_LEN];
        pbkdf2_hmac_sha256(password, salt, iterations, &mut out);
        Ok(out)
    }
}

/// PBKDF2 (RFC 8018 §5.2) with HMAC-SHA256, filling `out` (any length).
pub fn pbkdf2_hmac_sha256(password: &[u8], salt: &[u8], iterations: u32, out: &mut [u8]) {
    // The keyed state is computed once; each iteration clones it.
    let keyed = hmac_sha256::HMAC::new(password);
    for (i, block) in out.chunks_mut(32).enumerate() {
        let mut mac = keyed.clone();
        mac.update(salt);
        mac.update((i as u32 + 1).to_be_bytes());
        let mut u = mac.finalize();
        let mut t = u;
        for _ in 1..iterations {
            let mut mac = keyed.clone();
            mac.update(u);
            u = mac.finalize();
            for (a, b) in t.iter_mut().zip(u.iter()) {
                *a ^= b;
            }
        }
        block.copy_from_slice(&t[..block.len()]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn rfc7914_vectors() {
        // RFC 7914 §11: PBKDF2-HMAC-SHA256.
        let mut out = [0u8; 64];
        pbkdf2_hmac_sha256(b"passwd", b"salt", 1, &mut out);
        assert_eq!(
            hex(&out),
            "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc\
             49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783"
        );
        pbkdf2_hmac_sha256(b"Password", b"NaCl", 80000, &mut out);
        assert_eq!(
            hex(&out),
            "4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab56\
             a1d425a1225833549adb841b51c9b3176a272bdebba1d078478f62b397f33c8d"
        );
    }

    #[test]
    fn common_vectors() {
        // Widely published PBKDF2-HMAC-SHA256 vectors (password / salt, 32-byte output).
        let mut out = [0u8; 32];
        pbkdf2_hmac_sha256(b"password", b"salt", 1, &mut out);
        assert_eq!(
            hex(&out),
            "120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b"
        );
        pbkdf2_hmac_sha256(b"password", b"salt", 4096, &mut out);
        assert_eq!(
            hex(&out),
            "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a"
        );
    }
}
