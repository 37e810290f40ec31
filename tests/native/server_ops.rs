//! Native tests of what operating the Worker relies on: configuration that cannot be unsafe by
//! accident (ISSUER required, ADMIN_TOKEN like the other secrets, COOKIE_SECURE=never and the
//! demo user only on loopback, loopback parsed), the security events (names, fields, nothing
//! secret, each recorded once), `server_misconfigured`, and the deploy preflight's checks.

use crate::server_common::{config, key_bytes, run, T0};
use serde_json::{Map, Value};
use silent_refresh::core::b64;
use silent_refresh::core::server::access::SigningKey;
use silent_refresh::core::server::config::{
    is_loopback_host, is_loopback_origin, ConfigError, CookieSecure, Rule, Var,
};
use silent_refresh::core::server::error::Misconfig;
use silent_refresh::core::server::events::{EndedBy, Event, RevokeReason};
use silent_refresh::core::server::http::cookie_secure;
use silent_refresh::core::server::oidc::upstream::NoUpstream;
use silent_refresh::core::server::password::Pbkdf2;
use silent_refresh::core::server::preflight::{
    check, closest, Deployment, KvNamespace, Migration, ObjectBinding,
};
use silent_refresh::core::server::store::MemoryStore;
use silent_refresh::core::server::{AuthError, AuthService, Config};
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};

/// The vars and secrets of a correct deployment.
fn vars() -> BTreeMap<String, String> {
    let key = SigningKey::generate("k1");
    [
        (
            "SIGNING_KEYS",
            serde_json::json!([key.private_jwk()]).to_string(),
        ),
        ("REFRESH_SECRET", b64::encode(&key_bytes(1))),
        ("PASSWORD_PEPPER", b64::encode(&key_bytes(2))),
        ("ADMIN_TOKEN", b64::encode(&key_bytes(3))),
        ("ISSUER", "https://app.example.com".into()),
        ("AUDIENCE", "app".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

fn build(v: &BTreeMap<String, String>) -> Result<Config, ConfigError> {
    Config::from_vars(|name| v.get(name).cloned())
}

#[test]
fn issuer_is_required() {
    let mut v = vars();
    v.remove("ISSUER");
    assert_eq!(
        build(&v).unwrap_err(),
        ConfigError {
            variable: Var::Issuer,
            rule: Rule::Missing
        }
    );
}

#[test]
fn the_admin_token_is_held_to_the_rule_of_the_other_secrets() {
    let refused = [
        ("admin-token-0123456789", Rule::NotBase64url),
        ("not base64url!", Rule::NotBase64url),
        (&*b64::encode(&[7u8; 32]), Rule::LowEntropy { min: 16 }),
        (
            &*b64::encode(&key_bytes(3)[..24]),
            Rule::TooShort { min: 32 },
        ),
    ];
    for (token, rule) in refused {
        let mut v = vars();
        v.insert("ADMIN_TOKEN".into(), token.into());
        let err = build(&v).unwrap_err();
        assert_eq!(
            err,
            ConfigError {
                variable: Var::AdminToken,
                rule
            },
            "{token}"
        );
        assert!(
            !err.to_string().contains(token),
            "the error leaks the token"
        );
    }
    let cfg = build(&vars()).unwrap();
    // The Worker compares the token as presented (its text).
    assert_eq!(
        cfg.admin_token.unwrap().expose(),
        vars()["ADMIN_TOKEN"].as_bytes()
    );
}

#[test]
fn cookie_secure_never_is_refused_unless_the_issuer_is_loopback() {
    let mut v = vars();
    v.insert("COOKIE_SECURE".into(), "never".into());
    assert_eq!(
        build(&v).unwrap_err(),
        ConfigError {
            variable: Var::CookieSecure,
            rule: Rule::OnlyOnLoopback
        }
    );
    v.insert("ISSUER".into(), "http://127.0.0.1:8787".into());
    assert_eq!(build(&v).unwrap().cookie_secure, CookieSecure::Never);
}

#[test]
fn loopback_is_decided_by_parsing_the_address() {
    for (host, loopback) in [
        ("localhost", true),
        ("LOCALHOST", true),
        ("127.0.0.1", true),
        ("127.255.0.9", true),
        ("[::1]", true),
        ("[0:0:0:0:0:0:0:1]", true),
        ("[::ffff:127.0.0.1]", true),
        ("127.0.0.1.example.com", false),
        ("127.example", false),
        ("127.1", false),
        ("localhost.example.com", false),
        ("[::2]", false),
        ("10.0.0.1", false),
        ("example.com", false),
        ("", false),
    ] {
        assert_eq!(is_loopback_host(host), loopback, "{host}");
    }
    for (origin, loopback) in [
        ("http://127.0.0.1:8787", true),
        ("https://[::1]:8443", true),
        ("http://127.0.0.1.example.com", false),
        ("http://127.0.0.1:80@evil.example", false),
        ("http://127.0.0.1.nip.io:8787", false),
        ("ftp://127.0.0.1", false),
    ] {
        assert_eq!(is_loopback_origin(origin), loopback, "{origin}");
    }
}

#[test]
fn a_cookie_loses_secure_only_on_a_loopback_host() {
    let mut cfg = config();
    // auto: plain http on a host that only looks like loopback keeps Secure.
    assert!(!cookie_secure(&cfg, "http://127.0.0.1:8787"));
    assert!(cookie_secure(&cfg, "http://127.0.0.1.evil.example"));
    assert!(cookie_secure(&cfg, "http://127.evil.example"));
    // never: still Secure on any other host.
    cfg.cookie_secure = CookieSecure::Never;
    assert!(!cookie_secure(&cfg, "http://localhost:8787"));
    assert!(cookie_secure(&cfg, "https://app.example.com"));
}

#[test]
fn every_variable_the_config_reads_is_a_known_name() {
    let mut v = vars();
    for (k, val) in [
        ("ROTATION_STORE", "durable-object"),
        ("ROTATION_LOCATION_HINT", "weur"),
        ("COOKIE_SECURE", "always"),
    ] {
        v.insert(k.into(), val.into());
    }
    let asked = RefCell::new(Vec::new());
    Config::from_vars(|name| {
        asked.borrow_mut().push(name.to_string());
        v.get(name).cloned()
    })
    .unwrap();
    for name in asked.borrow().iter() {
        assert!(
            Var::of_name(name).is_some(),
            "{name} is read but missing from Var::ALL (the preflight would call it unknown)"
        );
    }
    assert!(Var::ALL.iter().all(|v| Var::of_name(v.name()) == Some(*v)));
}

#[test]
fn misconfigured_is_a_503_that_names_the_part_and_never_a_value() {
    let mut v = vars();
    v.insert("REFRESH_SECRET".into(), b64::encode(&[0u8; 32]));
    let e = AuthError::Misconfigured(Misconfig::Config(build(&v).unwrap_err()));
    assert_eq!((e.status(), e.code()), (503, "server_misconfigured"));
    let body: Value = serde_json::from_str(&e.body()).unwrap();
    let text = body["error_description"].as_str().unwrap();
    assert!(text.contains("REFRESH_SECRET"), "{text}");
    assert!(!text.contains(&v["REFRESH_SECRET"]), "{text}");
    let e = AuthError::Misconfigured(Misconfig::Binding("REFRESH_TOKENS"));
    assert!(e.body().contains("binding REFRESH_TOKENS is missing"));
}

// --- security events ---

fn one_of_each() -> Vec<Event> {
    vec![
        Event::FamilyRevoked {
            family: "fam".into(),
            sub: "alice".into(),
            why: RevokeReason::Reuse,
        },
        Event::LoginThrottled {
            account: "alice".into(),
            retry_after: 3,
        },
        Event::DpopKeyMismatch {
            path: "/api/me".into(),
        },
        Event::SessionsEnded {
            sub: "alice".into(),
            by: EndedBy::Admin,
        },
        Event::UserCreated {
            sub: "alice".into(),
        },
        Event::UserDeleted {
            sub: "alice".into(),
        },
        Event::PasswordChanged {
            sub: "alice".into(),
        },
        Event::AdminCall {
            method: "DELETE".into(),
            route: "/auth/users",
            status: 401,
        },
        Event::DemoUserRefused,
        Event::ConfigError(Misconfig::Binding("REFRESH_TOKENS")),
    ]
}

#[test]
fn every_event_has_one_stable_name_listed_once_and_in_the_readme() {
    let events = one_of_each();
    let names: Vec<_> = events.iter().map(Event::name).collect();
    assert_eq!(names, Event::NAMES, "NAMES lists every event, in order");
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    for name in Event::NAMES {
        assert!(
            readme.contains(&format!("`{name}`")),
            "README's events table lacks {name}"
        );
    }
}

#[test]
fn an_event_line_is_json_with_hashes_never_the_subject() {
    for e in one_of_each() {
        let line = e.to_line();
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["event"], e.name());
        assert!(!line.contains("alice"), "{line}");
        if line.contains("sub_hash") {
            // base64url of 12 bytes of SHA-256("alice"), as the README's one-liner computes it.
            let want = b64::encode(&hmac_sha256::Hash::hash(b"alice")[..12]);
            assert!(line.contains(&want), "{line}");
        }
    }
}

#[test]
fn reuse_and_logout_are_recorded_once_each_with_why_and_no_token() {
    let cfg = config();
    let store = MemoryStore::new();
    store.set_time(T0);
    let svc = AuthService::new(&cfg, &store, Pbkdf2);
    let t0 = run(svc.create_session("alice", Map::new(), None, T0))
        .unwrap()
        .refresh_token
        .as_str();
    let t1 = run(svc.refresh(&t0, None, (T0 + 1) * 1000, &NoUpstream))
        .unwrap()
        .refresh_token
        .as_str();
    assert!(svc.take_events().is_empty(), "a rotation is no event");
    // The retired token again, after the grace window: reuse.
    store.set_time(T0 + 100);
    assert_eq!(
        run(svc.refresh(&t0, None, (T0 + 100) * 1000, &NoUpstream)).unwrap_err(),
        AuthError::InvalidGrant
    );
    let events = svc.take_events();
    assert_eq!(events.len(), 1, "{events:?}");
    let Event::FamilyRevoked { why, sub, family } = &events[0] else {
        panic!("{events:?}")
    };
    assert_eq!((*why, sub.as_str()), (RevokeReason::Reuse, "alice"));
    let line = events[0].to_line();
    assert!(
        line.contains(family) && line.contains("\"why\":\"reuse\""),
        "{line}"
    );
    assert!(!line.contains(&t0) && !line.contains(&t1), "{line}");
    // Refused again: already revoked, nothing new to tell.
    assert!(run(svc.refresh(&t1, None, (T0 + 101) * 1000, &NoUpstream)).is_err());
    assert!(svc.take_events().is_empty());
    let t = run(svc.create_session("bob", Map::new(), None, T0 + 102))
        .unwrap()
        .refresh_token
        .as_str();
    run(svc.logout(&t, RevokeReason::Logout, T0 + 103, &NoUpstream)).unwrap();
    let events = svc.take_events();
    assert!(
        matches!(
            &events[..],
            [Event::FamilyRevoked {
                why: RevokeReason::Logout,
                ..
            }]
        ),
        "{events:?}"
    );
}

// --- the preflight ---

fn deployment() -> Deployment {
    let mut d = Deployment {
        env: Some("production".into()),
        kv_namespaces: vec![KvNamespace {
            binding: "REFRESH_TOKENS".into(),
            id: Some("0123456789abcdef0123456789abcdef".into()),
        }],
        durable_objects: vec![
            ObjectBinding {
                name: "ROTATION".into(),
                class_name: "RotationObject".into(),
                script_name: None,
            },
            ObjectBinding {
                name: "LOGIN_THROTTLE".into(),
                class_name: "LoginThrottle".into(),
                script_name: None,
            },
        ],
        migrations: vec![Migration {
            tag: "v1".into(),
            new_sqlite_classes: vec!["RotationObject".into(), "LoginThrottle".into()],
            ..Migration::default()
        }],
        observability: true,
        ..Deployment::default()
    };
    let all = vars();
    for (k, v) in all {
        if Var::of_name(&k).unwrap().is_secret() {
            d.secrets.insert(k, v);
        } else {
            d.vars.insert(k, v);
        }
    }
    d.vars
        .insert("ROTATION_STORE".into(), "durable-object".into());
    d
}

/// The parts the preflight names for `d`.
fn parts(d: &Deployment) -> Vec<String> {
    check(d).into_iter().map(|p| p.part).collect()
}

#[test]
fn the_preflight_passes_a_correct_deployment() {
    assert_eq!(check(&deployment()), vec![]);
}

#[test]
fn the_preflight_names_each_unsafe_value_once() {
    type Breaker = fn(&mut Deployment);
    let cases: Vec<(&str, Breaker)> = vec![
        ("ISSUER", |d| {
            d.vars
                .insert("ISSUER".into(), "http://127.0.0.1:8787".into());
        }),
        ("ISSUER", |d| {
            d.vars
                .insert("ISSUER".into(), "http://app.example.com".into());
        }),
        ("ISSUER", |d| {
            d.vars.remove("ISSUER");
        }),
        ("REFRESH_TOKENS", |d| {
            d.kv_namespaces[0].id = Some("silent-refresh-local".into())
        }),
        ("REFRESH_TOKENS", |d| d.kv_namespaces.clear()),
        ("ROTATION", |d| {
            d.durable_objects.remove(0);
        }),
        ("LOGIN_THROTTLE", |d| {
            d.durable_objects.remove(1);
        }),
        ("LOGIN_THROTTLE", |d| {
            d.migrations[0].new_sqlite_classes.truncate(1)
        }),
        ("ROTATION", |d| {
            d.migrations[0].new_sqlite_classes.remove(0);
            d.migrations[0].new_classes.push("RotationObject".into());
        }),
        ("[assets]", |d| d.assets = Some("build/site".into())),
        ("[observability]", |d| d.observability = false),
        ("DEMO_USER", |d| {
            d.secrets
                .insert("DEMO_USER".into(), "demo:demo-password".into());
        }),
        ("COOKIE_SECURE", |d| {
            d.vars.insert("COOKIE_SECURE".into(), "never".into());
        }),
        ("ALLOWED_ORIGINS", |d| {
            d.vars.insert(
                "ALLOWED_ORIGINS".into(),
                "https://app.example.com,http://localhost:8787".into(),
            );
        }),
        ("ISUER", |d| {
            d.vars.insert("ISUER".into(), "x".into());
        }),
        ("SIGNING_KEYS", |d| {
            let k = d.secrets.remove("SIGNING_KEYS").unwrap();
            d.vars.insert("SIGNING_KEYS".into(), k);
        }),
        ("ACCESS_TTL_SECONDS", |d| {
            d.vars.insert("ACCESS_TTL_SECONDS".into(), "7200".into());
            d.vars.insert("REFRESH_IDLE_SECONDS".into(), "3600".into());
        }),
        ("LEEWAY_SECONDS", |d| {
            d.vars.insert("ACCESS_TTL_SECONDS".into(), "60".into());
            d.vars.insert("LEEWAY_SECONDS".into(), "60".into());
        }),
        ("ADMIN_TOKEN", |d| {
            d.secrets
                .insert("ADMIN_TOKEN".into(), "admin-token-0123456789".into());
        }),
    ];
    for (part, breaker) in cases {
        let mut d = deployment();
        breaker(&mut d);
        let found = parts(&d);
        assert_eq!(found, [part], "{part}: {:?}", check(&d));
    }
}

#[test]
fn a_preflight_line_never_holds_a_secret_and_suggests_the_closest_name() {
    let mut d = deployment();
    d.secrets.insert("REFRESH_SECRT".into(), "x".into());
    d.secrets
        .insert("DEMO_USER".into(), "demo:hunter2-password".into());
    d.vars.insert("COMPLETELY_UNRELATED".into(), "x".into());
    let lines: Vec<String> = check(&d).iter().map(ToString::to_string).collect();
    assert!(
        lines
            .iter()
            .any(|l| l == "REFRESH_SECRT: unknown variable (did you mean REFRESH_SECRET?)"),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l == "COMPLETELY_UNRELATED: unknown variable"),
        "{lines:?}"
    );
    let secrets: HashMap<_, _> = deployment().secrets.into_iter().collect();
    for l in &lines {
        assert!(!l.contains("hunter2"), "{l}");
        for s in secrets.values() {
            assert!(!l.contains(s.as_str()), "{l}");
        }
    }
    assert_eq!(closest("issuer"), Some("ISSUER"));
    assert_eq!(closest("GRACE_SECOND"), Some("GRACE_SECONDS"));
}

// --- signing-key rotation with a public-only old key ---

#[test]
fn a_retired_key_kept_public_only_still_verifies_and_never_signs() {
    use silent_refresh::core::server::access::{
        AccessClaims, Expectations, KeyProblem, KeySet, KeySetError,
    };
    let old = SigningKey::generate("old");
    let new = SigningKey::generate("new");
    let claims = Map::new();
    let sign = |keys: &KeySet| {
        keys.sign(&AccessClaims {
            issuer: "https://app.example.com",
            audience: "app",
            subject: "alice",
            issued_at: T0,
            ttl: 900,
            epoch: 0,
            custom: &claims,
            jkt: None,
        })
        .unwrap()
    };
    let want = Expectations {
        issuer: "https://app.example.com",
        audience: "app",
        now: T0 + 1,
        leeway: 0,
    };
    let before = sign(&KeySet::new(vec![SigningKey::generate("tmp")]));
    let by_old =
        sign(&KeySet::from_jwks_json(&serde_json::json!([old.private_jwk()]).to_string()).unwrap());
    // After promotion: the new key signs, the old one is kept without its private part.
    let mut public_old = old.private_jwk();
    public_old.as_object_mut().unwrap().remove("d");
    let set =
        KeySet::from_jwks_json(&serde_json::json!([new.private_jwk(), public_old]).to_string())
            .unwrap();
    assert_eq!(
        set.verify(&by_old, &want).unwrap().sub,
        "alice",
        "the old key's tokens still verify"
    );
    assert!(
        set.verify(&before, &want).is_err(),
        "a key not in the set does not"
    );
    let by_new = sign(&set);
    assert!(by_new.contains('.') && set.verify(&by_new, &want).is_ok());
    let header: Value =
        serde_json::from_slice(&b64::decode(by_new.split('.').next().unwrap()).unwrap()).unwrap();
    assert_eq!(header["kid"], "new", "the first key signs");
    assert_eq!(
        set.jwks()["keys"].as_array().unwrap().len(),
        2,
        "both are published"
    );
    // The signing key must be private.
    let mut public_new = new.private_jwk();
    public_new.as_object_mut().unwrap().remove("d");
    assert_eq!(
        KeySet::from_jwks_json(&serde_json::json!([public_new, old.private_jwk()]).to_string())
            .unwrap_err(),
        KeySetError::Key {
            index: 0,
            problem: KeyProblem::FirstCannotSign
        }
    );
}
