//! Native tests of access-token signing and verification, including the attacks on them:
//! `alg: none`, HS256 keyed with the public key, wrong kid/iss/aud/typ, expired and
//! not-yet-valid tokens, tampering, and tokens of the wrong kind.

use crate::server_common::{config, config_with_keys, run, T0};
use jwt_simple::prelude::*;
use serde_json::{json, Map, Value};
use silent_refresh::core::b64;
use silent_refresh::core::server::access::SigningKey;
use silent_refresh::core::server::oidc::upstream::NoUpstream;
use silent_refresh::core::server::password::Pbkdf2;
use silent_refresh::core::server::store::MemoryStore;
use silent_refresh::core::server::{AuthError, AuthService, Config};

/// The jwt-simple key pair behind a [`SigningKey`].
fn pair_of(key: &SigningKey) -> Ed25519KeyPair {
    let jwk = key.private_jwk();
    let mut raw = b64::decode(jwk["d"].as_str().unwrap()).unwrap();
    raw.extend(b64::decode(jwk["x"].as_str().unwrap()).unwrap());
    Ed25519KeyPair::from_bytes(&raw)
        .unwrap()
        .with_key_id(key.kid())
}

/// Claims like the server's, with `edit` applied to the JSON.
fn claims(
    cfg: &Config,
    iat: u64,
    edit: impl FnOnce(&mut Map<String, Value>),
) -> JWTClaims<Map<String, Value>> {
    let mut custom = Map::new();
    custom.insert("sr_ep".into(), json!(0));
    let mut c = JWTClaims {
        issued_at: Some(UnixTimeStamp::from_secs(iat)),
        expires_at: Some(UnixTimeStamp::from_secs(iat + 900)),
        invalid_before: None,
        issuer: Some(cfg.issuer.clone()),
        subject: Some("alice".into()),
        audiences: Some(Audiences::AsString(cfg.audience.clone())),
        jwt_id: Some("j".into()),
        nonce: None,
        custom,
    };
    let mut as_json = serde_json::to_value(&c)
        .unwrap()
        .as_object()
        .unwrap()
        .clone();
    edit(&mut as_json);
    c = serde_json::from_value(Value::Object(as_json)).unwrap();
    c
}

fn at_jwt() -> HeaderOptions {
    HeaderOptions {
        signature_type: Some("at+jwt".into()),
        content_type: None,
    }
}

fn verify(cfg: &Config, token: &str, now: u64) -> Result<String, AuthError> {
    let store = MemoryStore::new();
    let svc = AuthService::new(cfg, &store, Pbkdf2);
    run(svc.verify_access(token, None, now)).map(|v| v.sub)
}

fn enc(v: &Value) -> String {
    b64::encode(v.to_string().as_bytes())
}

#[test]
fn a_token_of_the_server_verifies_and_has_the_documented_shape() {
    let cfg = config();
    let store = MemoryStore::new();
    let svc = AuthService::new(&cfg, &store, Pbkdf2);
    let r = run(svc.create_session("alice", Map::new(), None, T0)).unwrap();
    assert_eq!(verify(&cfg, &r.access_token, T0).unwrap(), "alice");
    let meta = Token::decode_metadata(&r.access_token).unwrap();
    assert_eq!(
        (meta.algorithm(), meta.key_id(), meta.signature_type()),
        ("EdDSA", Some("k1"), Some("at+jwt"))
    );
    let payload: Value =
        serde_json::from_slice(&b64::decode(r.access_token.split('.').nth(1).unwrap()).unwrap())
            .unwrap();
    for claim in ["iss", "aud", "sub", "iat", "exp", "jti"] {
        assert!(payload.get(claim).is_some(), "{claim}");
    }
    assert_eq!(
        payload["exp"].as_u64().unwrap() - payload["iat"].as_u64().unwrap(),
        cfg.access_ttl
    );
    assert_eq!(r.expires_in, cfg.access_ttl);
}

#[test]
fn expiry_and_future_dates_honour_the_leeway() {
    let (key, cfg) = keys_and_config(); // leeway 30 s
    let pair = pair_of(&key);
    let good = pair
        .sign_with_options(claims(&cfg, T0, |_| {}), &at_jwt())
        .unwrap();
    assert!(verify(&cfg, &good, T0 + 900).is_ok());
    assert!(verify(&cfg, &good, T0 + 900 + cfg.leeway).is_ok());
    assert_eq!(
        verify(&cfg, &good, T0 + 900 + cfg.leeway + 1),
        Err(AuthError::InvalidToken),
        "expired"
    );
    assert!(verify(&cfg, &good, T0 - cfg.leeway).is_ok());
    assert_eq!(
        verify(&cfg, &good, T0 - cfg.leeway - 1),
        Err(AuthError::InvalidToken),
        "issued in the future"
    );
    let nbf = pair
        .sign_with_options(
            claims(&cfg, T0, |c| {
                c.insert("nbf".into(), json!(T0 + 100));
            }),
            &at_jwt(),
        )
        .unwrap();
    assert_eq!(
        verify(&cfg, &nbf, T0),
        Err(AuthError::InvalidToken),
        "not yet valid"
    );
    assert!(verify(&cfg, &nbf, T0 + 100).is_ok());
}

/// A fresh key `k1` (a twin of the one inside the config) and a config using it.
fn keys_and_config() -> (SigningKey, Config) {
    let key = SigningKey::generate("k1");
    let jwk = key.private_jwk();
    let twin = SigningKey::from_parts("k1", jwk["d"].as_str().unwrap(), jwk["x"].as_str().unwrap())
        .unwrap();
    (twin, config_with_keys(vec![key]))
}

#[test]
fn claims_and_header_mismatches_are_rejected() {
    let (key, cfg) = keys_and_config();
    let pair = pair_of(&key);
    let sign = |edit: &dyn Fn(&mut Map<String, Value>)| {
        pair.sign_with_options(claims(&cfg, T0, edit), &at_jwt())
            .unwrap()
    };
    assert!(verify(&cfg, &sign(&|_| {}), T0).is_ok());
    let cases: Vec<(&str, String)> = vec![
        (
            "wrong iss",
            sign(&|c| {
                c.insert("iss".into(), json!("https://evil.example"));
            }),
        ),
        (
            "no iss",
            sign(&|c| {
                c.remove("iss");
            }),
        ),
        (
            "wrong aud",
            sign(&|c| {
                c.insert("aud".into(), json!("other-api"));
            }),
        ),
        (
            "no aud",
            sign(&|c| {
                c.remove("aud");
            }),
        ),
        (
            "no exp",
            sign(&|c| {
                c.remove("exp");
            }),
        ),
        (
            "no iat",
            sign(&|c| {
                c.remove("iat");
            }),
        ),
        (
            "no sub",
            sign(&|c| {
                c.remove("sub");
            }),
        ),
        (
            "no epoch",
            sign(&|c| {
                c.remove("sr_ep");
            }),
        ),
        (
            "old epoch",
            sign(&|c| {
                c.insert("sr_ep".into(), json!(5));
            }),
        ),
        (
            "typ JWT",
            pair.sign_with_options(claims(&cfg, T0, |_| {}), &HeaderOptions::default())
                .unwrap(),
        ),
        (
            "typ other",
            pair.sign_with_options(
                claims(&cfg, T0, |_| {}),
                &HeaderOptions {
                    signature_type: Some("id+jwt".into()),
                    content_type: None,
                },
            )
            .unwrap(),
        ),
    ];
    for (name, token) in cases {
        assert_eq!(
            verify(&cfg, &token, T0),
            Err(AuthError::InvalidToken),
            "{name}"
        );
    }
}

#[test]
fn unknown_kid_and_foreign_keys_are_rejected() {
    let (key, cfg) = keys_and_config();
    let good_claims = || claims(&cfg, T0, |_| {});
    let other = SigningKey::generate("k2");
    let t = pair_of(&other)
        .sign_with_options(good_claims(), &at_jwt())
        .unwrap();
    assert_eq!(
        verify(&cfg, &t, T0),
        Err(AuthError::InvalidToken),
        "unknown kid"
    );
    let impostor = pair_of(&SigningKey::generate("k1"))
        .sign_with_options(good_claims(), &at_jwt())
        .unwrap();
    assert_eq!(
        verify(&cfg, &impostor, T0),
        Err(AuthError::InvalidToken),
        "known kid, other key"
    );
    let no_kid = Ed25519KeyPair::from_bytes(&pair_of(&key).to_bytes())
        .unwrap()
        .sign_with_options(good_claims(), &at_jwt())
        .unwrap();
    assert_eq!(
        verify(&cfg, &no_kid, T0),
        Err(AuthError::InvalidToken),
        "no kid"
    );
}

#[test]
fn alg_none_and_algorithm_confusion_are_rejected() {
    let (key, cfg) = keys_and_config();
    let payload = enc(&serde_json::to_value(claims(&cfg, T0, |_| {})).unwrap());
    for alg in ["none", "None", "NONE", "HS256", "Ed25519", "ES256", ""] {
        let header = enc(&json!({"alg": alg, "typ": "at+jwt", "kid": "k1"}));
        for sig in ["", "AAAA"] {
            let t = format!("{header}.{payload}.{sig}");
            assert_eq!(
                verify(&cfg, &t, T0),
                Err(AuthError::InvalidToken),
                "alg {alg:?} sig {sig:?}"
            );
        }
    }
    // HS256 keyed with the public key in every form an attacker can get it.
    let public = key.public_jwk();
    let x = public["x"].as_str().unwrap().to_string();
    for secret in [
        b64::decode(&x).unwrap(),
        x.as_bytes().to_vec(),
        public.to_string().into_bytes(),
    ] {
        let hs = HS256Key::from_bytes(&secret).with_key_id("k1");
        let t = hs
            .authenticate_with_options(claims(&cfg, T0, |_| {}), &at_jwt())
            .unwrap();
        assert_eq!(
            verify(&cfg, &t, T0),
            Err(AuthError::InvalidToken),
            "HS256 confusion"
        );
    }
}

#[test]
fn tampered_tokens_are_rejected() {
    let (key, cfg) = keys_and_config();
    let t = pair_of(&key)
        .sign_with_options(claims(&cfg, T0, |_| {}), &at_jwt())
        .unwrap();
    let parts: Vec<&str> = t.split('.').collect();
    let mut forged = serde_json::to_value(claims(&cfg, T0, |_| {})).unwrap();
    forged["sub"] = json!("root");
    let swapped_payload = format!("{}.{}.{}", parts[0], enc(&forged), parts[2]);
    let mut sig = b64::decode(parts[2]).unwrap();
    sig[0] ^= 1;
    let flipped_sig = format!("{}.{}.{}", parts[0], parts[1], b64::encode(&sig));
    let header_alg = format!(
        "{}.{}.{}",
        enc(&json!({"alg":"Ed25519","typ":"at+jwt","kid":"k1"})),
        parts[1],
        parts[2]
    );
    let crit = format!(
        "{}.{}.{}",
        enc(&json!({"alg":"EdDSA","typ":"at+jwt","kid":"k1","crit":["x"]})),
        parts[1],
        parts[2]
    );
    for (name, bad) in [
        ("payload", swapped_payload),
        ("signature", flipped_sig),
        ("header alg", header_alg),
        ("crit", crit),
        ("truncated", t[..t.len() - 3].to_string()),
        ("two parts", format!("{}.{}", parts[0], parts[1])),
        ("four parts", format!("{t}.x")),
        ("padding", format!("{t}==")),
        ("whitespace", format!(" {t}")),
        (
            "huge",
            format!("{}.{}.{}", parts[0], "A".repeat(10_000), parts[2]),
        ),
        ("empty", String::new()),
        ("junk", "not a token".into()),
    ] {
        assert_eq!(
            verify(&cfg, &bad, T0),
            Err(AuthError::InvalidToken),
            "{name}"
        );
    }
}

#[test]
fn key_rotation_keeps_old_tokens_valid_and_publishes_every_key() {
    let old = SigningKey::generate("old");
    let old_twin = {
        let j = old.private_jwk();
        SigningKey::from_parts("old", j["d"].as_str().unwrap(), j["x"].as_str().unwrap()).unwrap()
    };
    let before = config_with_keys(vec![old]);
    let store = MemoryStore::new();
    let svc = AuthService::new(&before, &store, Pbkdf2);
    let r = run(svc.create_session("alice", Map::new(), None, T0)).unwrap();
    // Rotate: a new key signs first; the old one stays for verification.
    let after = config_with_keys(vec![SigningKey::generate("new"), old_twin]);
    assert_eq!(verify(&after, &r.access_token, T0 + 1).unwrap(), "alice");
    let svc2 = AuthService::new(&after, &store, Pbkdf2);
    let r2 = run(svc2.refresh(
        &r.refresh_token.as_str(),
        None,
        (T0 + 1) * 1000,
        &NoUpstream,
    ))
    .unwrap();
    assert_eq!(
        Token::decode_metadata(&r2.access_token).unwrap().key_id(),
        Some("new")
    );
    let jwks = svc2.jwks();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids, ["new", "old"]);
    for k in jwks["keys"].as_array().unwrap() {
        assert_eq!(
            (
                k["kty"].as_str(),
                k["crv"].as_str(),
                k["alg"].as_str(),
                k["use"].as_str()
            ),
            (Some("OKP"), Some("Ed25519"), Some("EdDSA"), Some("sig"))
        );
        assert!(k.get("d").is_none(), "private part published");
    }
    // Dropping the old key ends its tokens.
    let dropped = config_with_keys(vec![SigningKey::generate("new")]);
    assert_eq!(
        verify(&dropped, &r.access_token, T0 + 1),
        Err(AuthError::InvalidToken)
    );
}

#[test]
fn signing_keys_never_appear_in_debug_output() {
    let key = SigningKey::generate("k1");
    let d = key.private_jwk()["d"].as_str().unwrap().to_string();
    let cfg = config_with_keys(vec![key]);
    let dump = format!("{cfg:?}");
    assert!(!dump.contains(&d));
    assert!(dump.contains("[redacted]"));
}
