//! Shared helpers of the native server tests (`server_*.rs` beside this file).
#![allow(dead_code)]

use silent_refresh::core::server::access::{KeySet, SigningKey};
use silent_refresh::core::server::config::DemoUser;
use silent_refresh::core::server::config::RotationStore;
use silent_refresh::core::server::records::{FamilyRecord, TokenRecord};
use silent_refresh::core::server::secret::Secret;
use silent_refresh::core::server::token::RefreshToken;
use silent_refresh::core::server::{Config, KvStore};

/// A fixed "now" for the tests (Unix seconds).
pub const T0: u64 = 1_700_000_000;

/// A valid config with one fresh key `k1`, the minimum PBKDF2 iterations and the demo user `demo`.
pub fn config() -> Config {
    config_with_keys(vec![SigningKey::generate("k1")])
}

/// Like [`config`] with the given keys.
pub fn config_with_keys(keys: Vec<SigningKey>) -> Config {
    let cfg = Config {
        access_ttl: 900,
        refresh_idle: 3600,
        refresh_absolute: 10 * 3600,
        grace: 10,
        pbkdf2_iterations: 100_000,
        allowed_origins: vec!["https://app.example".into()],
        keys: KeySet::new(keys),
        refresh_secret: Secret::new(key_bytes(42)),
        admin_token: Some(Secret::new(b"admin-token-0123456789".to_vec())),
        password_pepper: Secret::new(key_bytes(7)),
        demo_user: Some(DemoUser {
            username: "demo".into(),
            password: Secret::new(b"demo-password".to_vec()),
        }),
        ..Config::default()
    };
    cfg.validate().expect("test config is valid");
    cfg
}

/// 32 distinct-looking key bytes derived from `seed` (fixed, so tests are reproducible).
pub fn key_bytes(seed: u8) -> Vec<u8> {
    hmac_sha256::Hash::hash(&[seed]).to_vec()
}

/// Runs a future to completion.
pub fn run<F: std::future::Future>(f: F) -> F::Output {
    pollster::block_on(f)
}

/// The successor the server derives for `token` (whose family is in `store`): the secret, the
/// family's random value and the token, as `AuthService::refresh` computes it.
pub fn expected_successor(cfg: &Config, store: &impl KvStore, token: &str) -> String {
    let t = RefreshToken::parse(token).unwrap();
    let rec: TokenRecord =
        serde_json::from_str(&run(store.get(&t.key())).unwrap().unwrap()).unwrap();
    let fam: FamilyRecord =
        serde_json::from_str(&run(store.get(&format!("f:{}", rec.fam))).unwrap().unwrap()).unwrap();
    let value = fam
        .k
        .map(|k| silent_refresh::core::b64::decode(&k).unwrap());
    match cfg.rotation_store {
        RotationStore::Kv => t.successor(&cfg.refresh_secret, value.as_deref()),
        RotationStore::DurableObject => t.successor_routed(&cfg.refresh_secret, value.as_deref()),
    }
    .as_str()
}

/// A client address for logins (a login without one is refused, never counted with everyone's).
pub const CLIENT_IP: Option<&str> = Some("192.0.2.10");
