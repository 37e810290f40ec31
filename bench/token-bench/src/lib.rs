//! The work measured by the token benchmarks, shared by the native criterion benches
//! (`benches/tokens.rs`) and the wasm32 build loaded in Node (`bench/token/wasm-bench.mjs`):
//! signing and verifying an access token with the crate's [`KeySet`], and one full refresh
//! rotation through [`AuthService`] over the in-memory store (no KV latency: CPU only); and
//! DPoP proof verification ([`dpop_verify`]), run inside workerd by `bench/dpop/`.

use silent_refresh::core::server::access::{AccessClaims, Expectations, KeySet, SigningKey};
use silent_refresh::core::server::dpop::{self, DpopError, Es256Verifier, Expect, PureRustEs256, SignedProof};
use silent_refresh::core::server::oidc::upstream::NoUpstream;
use silent_refresh::core::server::password::Pbkdf2;
use silent_refresh::core::server::secret::Secret;
use silent_refresh::core::server::store::MemoryStore;
use silent_refresh::core::server::{AuthService, Config};
use serde_json::{Map, Value};
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

/// `iat` of every benchmark token (Unix s); verification runs at the same instant.
pub const NOW: u64 = 1_800_000_000;
const ISSUER: &str = "http://127.0.0.1:8787";
const AUDIENCE: &str = "silent-refresh-demo";

/// Runs a future that never waits (the in-memory store answers at once).
pub fn ready<F: Future>(f: F) -> F::Output {
    match pin!(f).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("the in-memory store never waits"),
    }
}

/// A server configuration with one fresh Ed25519 key, plus an in-memory store.
pub struct Fixture {
    /// The configuration (default settings, one key).
    pub config: Config,
    /// The in-memory store rotations run against.
    pub store: MemoryStore,
    /// The empty custom-claims map.
    pub custom: Map<String, Value>,
    /// The refresh token the next [`Fixture::rotate`] presents.
    pub current: String,
    /// The signing key as a private JWK (so Web Crypto and jose sign with the same key).
    pub private_jwk: String,
}

impl Default for Fixture {
    fn default() -> Self {
        Self::new()
    }
}

impl Fixture {
    /// A fresh key, a fresh store and one session in it.
    pub fn new() -> Self {
        let key = SigningKey::generate("bench-1");
        let private_jwk = key.private_jwk().to_string();
        let config = Config {
            keys: KeySet::new(vec![key]),
            refresh_secret: Secret::new((0u8..32).map(|i| i.wrapping_mul(73) ^ 0x5a).collect::<Vec<u8>>()),
            password_pepper: Secret::new((0u8..32).map(|i| i.wrapping_mul(41) ^ 0xc3).collect::<Vec<u8>>()),
            admin_token: Some(Secret::new(b"bench-admin-token-0123".to_vec())),
            ..Config::default()
        };
        config.validate().expect("benchmark config is valid");
        let mut f = Fixture { config, store: MemoryStore::new(), custom: Map::new(), current: String::new(), private_jwk };
        f.store.set_time(NOW);
        let service = AuthService::new(&f.config, &f.store, Pbkdf2);
        let first = ready(service.create_session("bench-user", Map::new(), None, NOW)).expect("session");
        f.current = first.refresh_token.as_str();
        f
    }

    /// Signs one access token (what every refresh response carries).
    pub fn sign(&self) -> String {
        self.config
            .keys
            .sign(&AccessClaims {
                issuer: ISSUER,
                audience: AUDIENCE,
                subject: "bench-user",
                issued_at: NOW,
                ttl: 900,
                epoch: 0,
                custom: &self.custom,
                jkt: None,
            })
            .expect("sign")
    }

    /// Verifies an access token completely (signature, header, claims).
    pub fn verify(&self, token: &str) -> bool {
        self.config
            .keys
            .verify(token, &Expectations { issuer: ISSUER, audience: AUDIENCE, now: NOW, leeway: 30 })
            .is_ok()
    }

    /// One rotation of the current token: parse, 4 reads, HMAC successor, 2 writes, signing.
    pub fn rotate(&mut self) -> usize {
        let service = AuthService::new(&self.config, &self.store, Pbkdf2);
        let out = ready(service.refresh(&self.current, None, (NOW) * 1000, &NoUpstream)).expect("rotation");
        self.current = out.refresh_token.as_str();
        self.store.clear_ops();
        out.access_token.len()
    }
}

/// Every check of a DPoP proof except the signature: what the Worker does in Rust before it
/// hands the signature to Web Crypto.
pub struct SkipSignature;

impl Es256Verifier for SkipSignature {
    async fn verify(&self, _proof: &SignedProof<'_>) -> Result<(), DpopError> {
        Ok(())
    }
}

/// Verifies a `POST url` proof at `now` with the core's [`dpop::verify`]: with the signature in
/// pure Rust (`signature = true`, RustCrypto p256 compiled to wasm32) or without it.
pub fn dpop_verify(proof: &str, url: &str, now: u64, signature: bool) -> bool {
    let want = Expect { method: "POST", url, now, window: dpop::IAT_WINDOW, access_token: None };
    if signature {
        ready(dpop::verify(proof, &want, &PureRustEs256)).is_ok()
    } else {
        ready(dpop::verify(proof, &want, &SkipSignature)).is_ok()
    }
}

#[cfg(target_arch = "wasm32")]
mod convert;

/// ID token verification of the OpenID sign-in (bench/oidc/).
pub mod oidc;

/// The wasm32 exports, called from Node by `bench/token/wasm-bench.mjs`. Each method runs `n`
/// operations so that one JS-to-wasm call is amortised like in the Worker (one call per request).
#[cfg(target_arch = "wasm32")]
mod wasm {
    use super::Fixture;
    use wasm_bindgen::prelude::*;

    /// The benchmark fixture, seen from JS.
    #[wasm_bindgen]
    pub struct TokenBench(Fixture);

    #[wasm_bindgen]
    impl TokenBench {
        /// A fresh key, store and session.
        #[wasm_bindgen(constructor)]
        pub fn new() -> TokenBench {
            TokenBench(Fixture::new())
        }

        /// The signing key as a private JWK (JSON text).
        #[wasm_bindgen(js_name = privateJwk)]
        pub fn private_jwk(&self) -> String {
            self.0.private_jwk.clone()
        }

        /// Signs one access token and returns it.
        pub fn sign(&self) -> String {
            self.0.sign()
        }

        /// Signs `n` access tokens; returns their total length.
        #[wasm_bindgen(js_name = signN)]
        pub fn sign_n(&self, n: u32) -> u32 {
            (0..n).map(|_| self.0.sign().len() as u32).sum()
        }

        /// Verifies `token` `n` times; returns how many verifications succeeded.
        #[wasm_bindgen(js_name = verifyN)]
        pub fn verify_n(&self, token: &str, n: u32) -> u32 {
            (0..n).filter(|_| self.0.verify(token)).count() as u32
        }

        /// Runs `n` rotations; returns the total access-token length.
        #[wasm_bindgen(js_name = rotateN)]
        pub fn rotate_n(&mut self, n: u32) -> u32 {
            (0..n).map(|_| self.0.rotate() as u32).sum()
        }
    }

    /// Verifies a DPoP proof `n` times (see [`super::dpop_verify`]); returns the successes.
    #[wasm_bindgen(js_name = dpopVerifyN)]
    pub fn dpop_verify_n(proof: &str, url: &str, now: f64, signature: bool, n: u32) -> u32 {
        (0..n).filter(|_| super::dpop_verify(proof, url, now as u64, signature)).count() as u32
    }

    impl Default for TokenBench {
        fn default() -> Self {
            Self::new()
        }
    }
}
