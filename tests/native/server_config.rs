//! Native tests of configuration: reading Worker vars and secrets, and failing loudly (with the
//! variable's name, never a secret's value) on every broken setting.

use crate::server_common::key_bytes;
use serde_json::Value;
use silent_refresh::core::b64;
use silent_refresh::core::server::access::{KeyProblem, KeySetError, SigningKey};
use silent_refresh::core::server::config::{
    ConfigError, CookieSecure, RotationStore, Rule, Var, LOCATION_HINTS,
};
use silent_refresh::core::server::Config;
use std::collections::HashMap;

fn vars() -> HashMap<&'static str, String> {
    let key = SigningKey::generate("k1");
    HashMap::from([
        (
            "SIGNING_KEYS",
            serde_json::json!([key.private_jwk()]).to_string(),
        ),
        ("REFRESH_SECRET", b64::encode(&key_bytes(9))),
        ("PASSWORD_PEPPER", b64::encode(&key_bytes(10))),
        ("ADMIN_TOKEN", b64::encode(&key_bytes(11))),
        ("ISSUER", "https://auth.example".to_string()),
        ("AUDIENCE", "api".to_string()),
        (
            "ALLOWED_ORIGINS",
            "https://app.example, http://127.0.0.1:8787".to_string(),
        ),
    ])
}

fn build(v: &HashMap<&'static str, String>) -> Result<Config, ConfigError> {
    Config::from_vars(|name| v.get(name).cloned())
}

#[test]
fn a_complete_set_of_vars_builds_a_config_with_defaults() {
    let cfg = build(&vars()).unwrap();
    assert_eq!(cfg.issuer, "https://auth.example");
    assert_eq!(cfg.access_ttl, 900);
    assert_eq!(cfg.refresh_idle, 7 * 86_400);
    assert_eq!(cfg.refresh_absolute, 30 * 86_400);
    assert_eq!(cfg.grace, 10);
    assert_eq!(
        cfg.allowed_origins,
        ["https://app.example", "http://127.0.0.1:8787"]
    );
    assert!(cfg.refresh_cookie);
    assert_eq!(cfg.cookie_secure, CookieSecure::Auto);
    assert!(cfg.demo_user.is_none());
    assert_eq!(cfg.keys.len(), 1);
    // Strict mode by default; sessions of KV mode (the earlier default) keep working there.
    assert_eq!(cfg.rotation_store, RotationStore::DurableObject);
    assert_eq!(cfg.rotation_store_previous, Some(RotationStore::Kv));
    assert_eq!(cfg.rotation_location_hint, None);
}

#[test]
fn the_previous_store_is_read_and_is_never_the_current_one() {
    let with = |store: Option<&str>, previous: Option<&str>| {
        let mut v = vars();
        if let Some(s) = store {
            v.insert("ROTATION_STORE", s.into());
        }
        if let Some(p) = previous {
            v.insert("ROTATION_STORE_PREVIOUS", p.into());
        }
        build(&v).map(|c| (c.rotation_store, c.rotation_store_previous))
    };
    use RotationStore::{DurableObject as Do, Kv};
    assert_eq!(with(Some("kv"), None), Ok((Kv, None)));
    assert_eq!(with(Some("kv"), Some("durable-object")), Ok((Kv, Some(Do))));
    assert_eq!(with(Some("durable-object"), None), Ok((Do, Some(Kv))));
    assert_eq!(with(None, Some("none")), Ok((Do, None)));
    // The same store twice: nothing to fall back to.
    assert_eq!(with(Some("kv"), Some("kv")), Ok((Kv, None)));
    let e = with(None, Some("d1")).unwrap_err();
    assert_eq!(e.variable, Var::RotationStorePrevious);
    assert_eq!(e.rule, Rule::NotOneOf(&["kv", "durable-object", "none"]));
}

#[test]
fn strict_mode_and_a_location_hint_are_read() {
    let mut v = vars();
    v.insert("ROTATION_STORE", "durable-object".into());
    v.insert("ROTATION_LOCATION_HINT", " weur ".into());
    let cfg = build(&v).unwrap();
    assert_eq!(cfg.rotation_store, RotationStore::DurableObject);
    assert_eq!(cfg.rotation_location_hint, Some("weur"));
}

#[test]
fn the_wrangler_toml_vars_and_a_dev_vars_style_secret_set_are_accepted() {
    let mut v = vars();
    for (k, val) in [
        ("ACCESS_TTL_SECONDS", "900"),
        ("REFRESH_IDLE_SECONDS", "604800"),
        ("REFRESH_ABSOLUTE_SECONDS", "2592000"),
        ("GRACE_SECONDS", "10"),
        ("REFRESH_COOKIE", "on"),
        ("COOKIE_SECURE", "auto"),
        ("DEMO_USER", "demo:demo-password"),
        ("ISSUER", "http://127.0.0.1:8787"),
    ] {
        v.insert(k, val.to_string());
    }
    let cfg = build(&v).unwrap();
    let demo = cfg.demo_user.as_ref().unwrap();
    assert_eq!(demo.username, "demo");
    assert_eq!(demo.password.expose(), b"demo-password");
}

#[test]
fn two_keys_mean_rotation_and_the_first_signs() {
    let mut v = vars();
    let (a, b) = (SigningKey::generate("new"), SigningKey::generate("old"));
    v.insert(
        "SIGNING_KEYS",
        serde_json::json!([a.private_jwk(), b.private_jwk()]).to_string(),
    );
    let cfg = build(&v).unwrap();
    assert_eq!(cfg.keys.jwks()["keys"][0]["kid"], "new");
    assert_eq!(cfg.keys.len(), 2);
}

#[test]
fn every_broken_setting_fails_naming_the_variable_and_the_rule() {
    let k = SigningKey::generate("k1").private_jwk();
    let mismatched = {
        let other = SigningKey::generate("k1").private_jwk();
        serde_json::json!([{"kid": "k1", "kty": "OKP", "crv": "Ed25519", "x": other["x"], "d": k["d"]}]).to_string()
    };
    let key = |index, problem| Rule::Keys(KeySetError::Key { index, problem });
    let jwk = |kid: Value, kty: &str, crv: &str, d: Value| {
        let mut o = serde_json::json!({"kty": kty, "crv": crv, "x": k["x"], "d": d});
        if !kid.is_null() {
            o["kid"] = kid;
        }
        serde_json::json!([o]).to_string()
    };
    let cases: Vec<(Var, Option<String>, Rule)> = vec![
        (Var::SigningKeys, None, Rule::Missing),
        (
            Var::SigningKeys,
            Some("not json".into()),
            Rule::Keys(KeySetError::NotAnArray),
        ),
        (
            Var::SigningKeys,
            Some("[]".into()),
            Rule::Keys(KeySetError::Empty),
        ),
        (
            Var::SigningKeys,
            Some(jwk("k1".into(), "EC", "P-256", k["d"].clone())),
            key(0, KeyProblem::Unsupported),
        ),
        (
            Var::SigningKeys,
            Some(jwk(Value::Null, "OKP", "Ed25519", k["d"].clone())),
            key(0, KeyProblem::Missing("kid")),
        ),
        (
            Var::SigningKeys,
            Some(jwk("k1".into(), "OKP", "Ed25519", "AAAA".into())),
            key(0, KeyProblem::BadD),
        ),
        (
            Var::SigningKeys,
            Some(jwk("".into(), "OKP", "Ed25519", k["d"].clone())),
            key(0, KeyProblem::BadKid),
        ),
        (
            Var::SigningKeys,
            Some(mismatched),
            key(0, KeyProblem::XDoesNotMatchD),
        ),
        (
            Var::SigningKeys,
            Some(serde_json::json!([k, k]).to_string()),
            key(1, KeyProblem::DuplicateKid),
        ),
        (Var::RefreshSecret, None, Rule::Missing),
        (
            Var::RefreshSecret,
            Some(b64::encode(&[1u8; 16])),
            Rule::TooShort { min: 32 },
        ),
        (
            Var::RefreshSecret,
            Some("not base64!".into()),
            Rule::NotBase64url,
        ),
        (
            Var::AdminToken,
            Some("shortish".into()),
            Rule::TooShort { min: 32 },
        ),
        (
            Var::AccessTtlSeconds,
            Some("abc".into()),
            Rule::NotAnInteger,
        ),
        (Var::AccessTtlSeconds, Some("-5".into()), Rule::NotAnInteger),
        (
            Var::AccessTtlSeconds,
            Some("0".into()),
            Rule::OutOfRange {
                min: 5,
                max: 86_400,
            },
        ),
        (
            Var::RefreshIdleSeconds,
            Some("1".into()),
            Rule::OutOfRange {
                min: 5,
                max: 400 * 86_400,
            },
        ),
        (
            Var::RefreshAbsoluteSeconds,
            Some("100".into()),
            Rule::BelowOther(Var::RefreshIdleSeconds),
        ),
        (
            Var::GraceSeconds,
            Some("61".into()),
            Rule::OutOfRange { min: 0, max: 60 },
        ),
        (
            Var::AllowedOrigins,
            Some("*".into()),
            Rule::NotAnOrigin { index: 0 },
        ),
        (
            Var::AllowedOrigins,
            Some("https://ok.example, https://app.example/path".into()),
            Rule::NotAnOrigin { index: 1 },
        ),
        (
            Var::AllowedOrigins,
            Some("app.example".into()),
            Rule::NotAnOrigin { index: 0 },
        ),
        (
            Var::RefreshCookie,
            Some("maybe".into()),
            Rule::NotOneOf(&["on", "true", "1", "off", "false", "0"]),
        ),
        (
            Var::CookieSecure,
            Some("sometimes".into()),
            Rule::NotOneOf(&["auto", "always", "never"]),
        ),
        (
            Var::RotationStore,
            Some("durable_object".into()),
            Rule::NotOneOf(&["kv", "durable-object"]),
        ),
        (
            Var::RotationLocationHint,
            Some("europe".into()),
            Rule::NotOneOf(LOCATION_HINTS),
        ),
        (
            Var::DemoUser,
            Some("no-colon".into()),
            Rule::NotUserColonPassword,
        ),
        (
            Var::DemoUser,
            Some("bad name:pw".into()),
            Rule::NotUserColonPassword,
        ),
        (
            Var::DemoUser,
            Some("demo:".into()),
            Rule::NotUserColonPassword,
        ),
        (
            Var::Pbkdf2Iterations,
            Some("1000".into()),
            Rule::OutOfRange {
                min: 100_000,
                max: 1_000_000,
            },
        ),
        (
            Var::Pbkdf2Iterations,
            Some("2000000".into()),
            Rule::OutOfRange {
                min: 100_000,
                max: 1_000_000,
            },
        ),
        (
            Var::MaxBodyBytes,
            Some("10".into()),
            Rule::OutOfRange {
                min: 256,
                max: 1_048_576,
            },
        ),
        (Var::Issuer, Some("".into()), Rule::Empty),
    ];
    let secrets = [
        vars()["REFRESH_SECRET"].clone(),
        vars()["PASSWORD_PEPPER"].clone(),
        vars()["ADMIN_TOKEN"].clone(),
        k["d"].as_str().unwrap().to_string(),
    ];
    for (variable, value, rule) in cases {
        let mut v = vars();
        match &value {
            Some(val) => v.insert(variable.name(), val.clone()),
            None => v.remove(variable.name()),
        };
        let err = build(&v)
            .err()
            .unwrap_or_else(|| panic!("{variable:?}={value:?} accepted"));
        assert_eq!(
            err,
            ConfigError { variable, rule },
            "{variable:?}={value:?}"
        );
        let line = err.to_string();
        assert!(line.starts_with(variable.name()), "{line}");
        for s in &secrets {
            assert!(!line.contains(s.as_str()), "error leaks a secret: {line}");
        }
    }
}

#[test]
fn the_default_config_does_not_validate_without_secrets() {
    assert!(Config::default().validate().is_err());
}

#[test]
fn without_an_admin_token_the_config_is_valid_and_has_no_admin() {
    let mut v = vars();
    v.remove("ADMIN_TOKEN");
    assert!(build(&v).unwrap().admin_token.is_none());
    v.insert("ADMIN_TOKEN", "  ".into());
    assert!(build(&v).unwrap().admin_token.is_none());
}

#[test]
fn the_demo_user_is_honoured_only_with_a_loopback_issuer() {
    for (issuer, ok) in [
        ("http://127.0.0.1:8787", true),
        ("http://localhost:8787", true),
        ("http://[::1]:8787", true),
        ("http://127.9.9.9", true),
        ("https://auth.example", false),
        ("http://localhost.example.com", false),
        ("http://127.0.0.1.example.com", false),
        ("https://10.0.0.1", false),
    ] {
        let mut v = vars();
        v.insert("ISSUER", issuer.into());
        v.insert("DEMO_USER", "demo:demo-password".into());
        assert_eq!(build(&v).is_ok(), ok, "{issuer}");
    }
}
