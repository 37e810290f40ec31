//! Shared helpers of the native server tests (`server_*.rs` beside this file).
#![allow(dead_code)]

use silent_refresh::core::server::access::{KeySet, SigningKey};
use silent_refresh::core::server::config::DemoUser;
use silent_refresh::core::server::config::RotationStore;
use silent_refresh::core::server::records::{FamilyRecord, TokenRecord};
use silent_refresh::core::server::secret::Secret;
use silent_refresh::core::server::store::{MemoryStore, Op};
use silent_refresh::core::server::token::{secret_id, RefreshToken};
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

/// The family id and record of `token`: an addressed token names its family, a chained one's
/// token record does.
pub fn family_of(store: &impl KvStore, token: &str) -> (String, FamilyRecord) {
    let t = RefreshToken::parse(token).unwrap();
    let fam = t.family_id().unwrap_or_else(|| {
        let rec: TokenRecord =
            serde_json::from_str(&run(store.get(&t.key())).unwrap().unwrap()).unwrap();
        rec.fam
    });
    let record = run(store.get(&format!("f:{fam}"))).unwrap().unwrap();
    (fam, serde_json::from_str(&record).unwrap())
}

/// The successor the server derives for `token` (whose family is in `store`): the secret, the
/// family's random value and the token, as `AuthService::refresh` computes it.
pub fn expected_successor(cfg: &Config, store: &impl KvStore, token: &str) -> String {
    let t = RefreshToken::parse(token).unwrap();
    let (_, fam) = family_of(store, token);
    let value = fam
        .k
        .map(|k| silent_refresh::core::b64::decode(&k).unwrap());
    if t.is_addressed() {
        return t
            .next_addressed(&cfg.refresh_secret, value.as_deref().unwrap())
            .unwrap()
            .as_str();
    }
    match cfg.rotation_store {
        RotationStore::Kv => t.successor(&cfg.refresh_secret, value.as_deref()),
        RotationStore::DurableObject => t.successor_routed(&cfg.refresh_secret, value.as_deref()),
    }
    .as_str()
}

/// Starts a family of `sub` at `now` as the versions before addressed tokens wrote it: a
/// chained token (routed in strict mode) and its token record, then the family record, with a
/// family value and the secret's id, or (`with_value` false) as the version before those wrote
/// it. Answers the token.
pub fn start_chained(
    cfg: &Config,
    store: &MemoryStore,
    sub: &str,
    now: u64,
    with_value: bool,
) -> String {
    store.set_time(now);
    let token = match cfg.rotation_store {
        RotationStore::Kv => RefreshToken::generate().unwrap(),
        RotationStore::DurableObject => {
            RefreshToken::generate_routed(&RefreshToken::route_of(&cfg.refresh_secret, sub))
                .unwrap()
        }
    };
    let fam = format!("legacy-{}", &token.key()[2..12]);
    let abs = now + cfg.refresh_absolute;
    let record = TokenRecord {
        fam: fam.clone(),
        gen: 0,
        sub: sub.into(),
        idle: (now + cfg.refresh_idle).min(abs),
        abs,
    };
    let ttl = Some(abs - now);
    run(store.put(&token.key(), &serde_json::to_string(&record).unwrap(), ttl)).unwrap();
    let family = FamilyRecord {
        sub: sub.into(),
        created: now,
        abs,
        gen: 0,
        rotated_ms: now * 1000,
        ep: 0,
        jkt: None,
        k: with_value.then(|| silent_refresh::core::b64::encode(&[5u8; 32])),
        sk: with_value.then(|| secret_id(&cfg.refresh_secret)),
        claims: Default::default(),
        up: None,
        pj: Vec::new(),
    };
    run(store.put(
        &format!("f:{fam}"),
        &serde_json::to_string(&family).unwrap(),
        ttl,
    ))
    .unwrap();
    token.as_str()
}

/// The keys `store` was written under since its operations were last cleared, in order.
pub fn puts(store: &MemoryStore) -> Vec<String> {
    store
        .ops()
        .into_iter()
        .filter(|o| matches!(o, Op::Put(_)))
        .map(|o| o.key().to_string())
        .collect()
}

/// A client address for logins (a login without one is refused, never counted with everyone's).
pub const CLIENT_IP: Option<&str> = Some("192.0.2.10");
