//! Native tests of configuration: reading Worker vars and secrets, and failing loudly (with the
//! variable's name, never a secret's value) on every broken setting.

use silent_refresh::core::b64;
use silent_refresh::core::server::access::SigningKey;
use silent_refresh::core::server::config::CookieSecure;
use silent_refresh::core::server::Config;
use std::collections::HashMap;

fn vars() -> HashMap<&'static str, String> {
    let key = SigningKey::generate("k1");
    HashMap::from([
        (
            "SIGNING_KEYS",
            serde_json::json!([key.private_jwk()]).to_string(),
        ),
        ("REFRESH_SECRET", b64::encode(&[9u8; 32])),
        ("ADMIN_TOKEN", "admin-token-0123456789".to_string()),
        ("ISSUER", "https://auth.example".to_string()),
        ("AUDIENCE", "api".to_string()),
        (
            "ALLOWED_ORIGINS",
            "https://app.example, http://127.0.0.1:8787".to_string(),
        ),
    ])
}

fn build(v: &HashMap<&'static str, String>) -> Result<Config, String> {
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
fn every_broken_setting_fails_loudly_naming_the_variable() {
    let k = SigningKey::generate("k1").private_jwk();
    let mismatched = {
        let other = SigningKey::generate("k1").private_jwk();
        serde_json::json!([{"kid": "k1", "kty": "OKP", "crv": "Ed25519", "x": other["x"], "d": k["d"]}]).to_string()
    };
    let cases: Vec<(&'static str, Option<String>, &str)> = vec![
        ("SIGNING_KEYS", None, "SIGNING_KEYS"),
        ("SIGNING_KEYS", Some("not json".into()), "SIGNING_KEYS"),
        ("SIGNING_KEYS", Some("[]".into()), "SIGNING_KEYS"),
        (
            "SIGNING_KEYS",
            Some(
                serde_json::json!([{"kid":"k1","kty":"EC","crv":"P-256","x":k["x"],"d":k["d"]}])
                    .to_string(),
            ),
            "SIGNING_KEYS",
        ),
        (
            "SIGNING_KEYS",
            Some(
                serde_json::json!([{"kty":"OKP","crv":"Ed25519","x":k["x"],"d":k["d"]}])
                    .to_string(),
            ),
            "kid",
        ),
        (
            "SIGNING_KEYS",
            Some(
                serde_json::json!([{"kid":"k1","kty":"OKP","crv":"Ed25519","x":k["x"],"d":"AAAA"}])
                    .to_string(),
            ),
            "d",
        ),
        ("SIGNING_KEYS", Some(mismatched), "x"),
        (
            "SIGNING_KEYS",
            Some(serde_json::json!([k, k]).to_string()),
            "duplicate kid",
        ),
        ("REFRESH_SECRET", None, "REFRESH_SECRET"),
        (
            "REFRESH_SECRET",
            Some(b64::encode(&[1u8; 16])),
            "REFRESH_SECRET",
        ),
        (
            "REFRESH_SECRET",
            Some("not base64!".into()),
            "REFRESH_SECRET",
        ),
        ("ADMIN_TOKEN", None, "ADMIN_TOKEN"),
        ("ADMIN_TOKEN", Some("short".into()), "ADMIN_TOKEN"),
        (
            "ACCESS_TTL_SECONDS",
            Some("abc".into()),
            "ACCESS_TTL_SECONDS",
        ),
        (
            "ACCESS_TTL_SECONDS",
            Some("-5".into()),
            "ACCESS_TTL_SECONDS",
        ),
        ("ACCESS_TTL_SECONDS", Some("0".into()), "ACCESS_TTL_SECONDS"),
        (
            "REFRESH_IDLE_SECONDS",
            Some("1".into()),
            "REFRESH_IDLE_SECONDS",
        ),
        (
            "REFRESH_ABSOLUTE_SECONDS",
            Some("100".into()),
            "REFRESH_ABSOLUTE_SECONDS",
        ), // below idle
        ("GRACE_SECONDS", Some("61".into()), "GRACE_SECONDS"),
        ("ALLOWED_ORIGINS", Some("*".into()), "ALLOWED_ORIGINS"),
        (
            "ALLOWED_ORIGINS",
            Some("https://app.example/path".into()),
            "ALLOWED_ORIGINS",
        ),
        (
            "ALLOWED_ORIGINS",
            Some("app.example".into()),
            "ALLOWED_ORIGINS",
        ),
        ("REFRESH_COOKIE", Some("maybe".into()), "REFRESH_COOKIE"),
        ("COOKIE_SECURE", Some("sometimes".into()), "COOKIE_SECURE"),
        ("DEMO_USER", Some("no-colon".into()), "DEMO_USER"),
        ("DEMO_USER", Some("bad name:pw".into()), "DEMO_USER"),
        ("DEMO_USER", Some("demo:".into()), "DEMO_USER"),
        (
            "PBKDF2_ITERATIONS",
            Some("200000".into()),
            "PBKDF2_ITERATIONS",
        ),
        ("MAX_BODY_BYTES", Some("10".into()), "MAX_BODY_BYTES"),
        ("ISSUER", Some("".into()), "ISSUER"),
    ];
    let secrets = [
        vars()["REFRESH_SECRET"].clone(),
        vars()["ADMIN_TOKEN"].clone(),
        k["d"].as_str().unwrap().to_string(),
    ];
    for (name, value, expect) in cases {
        let mut v = vars();
        match &value {
            Some(val) => v.insert(name, val.clone()),
            None => v.remove(name),
        };
        let err = build(&v)
            .err()
            .unwrap_or_else(|| panic!("{name}={value:?} accepted"));
        assert!(err.contains(expect), "{name}={value:?}: {err}");
        for s in &secrets {
            assert!(!err.contains(s.as_str()), "error leaks a secret: {err}");
        }
    }
}

#[test]
fn the_default_config_does_not_validate_without_secrets() {
    assert!(Config::default().validate().is_err());
}
