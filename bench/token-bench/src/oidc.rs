//! ID token verification as `/auth/callback` does it (src/core/server/oidc/id_token.rs: the
//! provider's JWKS parsed once, then the algorithm allow-list, key by `kid`, signature and
//! claims), with the signature checked in pure Rust ([`PureRustJws`], what the Worker ran before
//! it used Web Crypto), run inside workerd by `bench/oidc/`.

use silent_refresh::core::server::oidc::id_token::{verify, IdTokenExpectations, ProviderKeys, PureRustJws};

/// Verifies `token` against `jwks` `n` times (the keys parsed once, as the Worker caches them per
/// isolate); returns how many verifications succeeded.
pub fn id_token_verify_n(token: &str, jwks: &str, issuer: &str, client_id: &str, nonce: &str, now: u64, n: u32) -> u32 {
    let Some(keys) = ProviderKeys::parse(jwks.as_bytes()) else {
        return 0;
    };
    let want = IdTokenExpectations { issuer, client_id, nonce, now, leeway: 30 };
    (0..n).filter(|_| crate::ready(verify(&keys, token, &want, &PureRustJws)).is_ok()).count() as u32
}

#[cfg(target_arch = "wasm32")]
mod wasm {
    use wasm_bindgen::prelude::*;

    /// See [`super::id_token_verify_n`].
    #[wasm_bindgen(js_name = idTokenVerifyN)]
    pub fn id_token_verify_n(token: &str, jwks: &str, issuer: &str, client_id: &str, nonce: &str, now: f64, n: u32) -> u32 {
        super::id_token_verify_n(token, jwks, issuer, client_id, nonce, now as u64, n)
    }
}
