//! Native tests of sign-in with an OpenID provider (src/core/server/oidc): configuration,
//! `return_to`, the authorization request, the transaction, the callback's checks, ID token
//! verification, the provider's tokens at rest, and rotation of provider sign-ins against a
//! scripted provider (fault injection: the real provider is oidc-provider in tests/http).

use crate::server_common::{config, key_bytes, run, T0};
use jwt_simple::prelude::*;
use serde_json::{json, Map, Value};
use silent_refresh::core::b64;
use silent_refresh::core::server::config::{ConfigError, RotationStore, Rule, Var};
use silent_refresh::core::server::error::AuthError;
use silent_refresh::core::server::events::RevokeReason;
use silent_refresh::core::server::oidc::discovery::{ClientAuth, Discovery, DiscoveryError};
use silent_refresh::core::server::oidc::flow::{
    authorization_url, check_callback, check_return_to, with_auth_error, AuthErrorCode,
    CallbackParams, Transaction, TRANSACTION_TTL,
};
use silent_refresh::core::server::oidc::id_token::{
    self, may_refetch, IdTokenError, IdTokenExpectations, ProviderKeys, PureRustJws,
    JWKS_REFETCH_INTERVAL,
};
use silent_refresh::core::server::oidc::upstream::{
    code_request, session_claims, subject, token_answer, Grant, ProviderTokens, TokenAnswer,
    UpstreamClient,
};
use silent_refresh::core::server::oidc::{AccessTokenSource, UpstreamConfig};
use silent_refresh::core::server::password::Pbkdf2;
use silent_refresh::core::server::records::{family_key, FamilyRecord};
use silent_refresh::core::server::secret::Secret;
use silent_refresh::core::server::store::MemoryStore;
use silent_refresh::core::server::{AuthService, Config};
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet, VecDeque};

const ISSUER: &str = "https://id.example";
const CLIENT: &str = "edge-client";

fn upstream(source: AccessTokenSource) -> UpstreamConfig {
    UpstreamConfig {
        issuer: ISSUER.into(),
        client_id: CLIENT.into(),
        client_secret: Some(Secret::new(b"s3cret:with&odd=chars".to_vec())),
        scopes: "openid email offline_access".into(),
        auth_params: vec![
            ("access_type".into(), "offline".into()),
            ("state".into(), "attacker".into()),
        ],
        token_key: Secret::new(key_bytes(77)),
        access_token_source: source,
        post_logout_redirect: None,
        claims: vec!["email".into(), "name".into()],
    }
}

fn discovery(extra: Value) -> Discovery {
    let mut doc = json!({
        "issuer": ISSUER,
        "authorization_endpoint": "https://id.example/authorize",
        "token_endpoint": "https://id.example/token",
        "jwks_uri": "https://id.example/jwks",
        "revocation_endpoint": "https://id.example/revoke",
        "authorization_response_iss_parameter_supported": true,
        "code_challenge_methods_supported": ["S256"],
    });
    for (k, v) in extra.as_object().unwrap() {
        doc[k] = v.clone();
    }
    Discovery::parse(ISSUER, doc.to_string().as_bytes()).unwrap()
}

// --- configuration ---

fn vars() -> HashMap<&'static str, String> {
    let key = silent_refresh::core::server::access::SigningKey::generate("k1");
    HashMap::from([
        ("ISSUER", "https://auth.example".to_string()),
        ("SIGNING_KEYS", json!([key.private_jwk()]).to_string()),
        ("REFRESH_SECRET", b64::encode(&key_bytes(9))),
        ("PASSWORD_PEPPER", b64::encode(&key_bytes(10))),
        ("UPSTREAM_ISSUER", ISSUER.to_string()),
        ("UPSTREAM_CLIENT_ID", CLIENT.to_string()),
        ("UPSTREAM_TOKEN_KEY", b64::encode(&key_bytes(11))),
    ])
}

fn build(v: &HashMap<&'static str, String>) -> Result<Config, ConfigError> {
    Config::from_vars(|name| v.get(name).cloned())
}

#[test]
fn upstream_settings_are_read_with_their_defaults_and_password_login_goes_off() {
    let cfg = build(&vars()).unwrap();
    let up = cfg.upstream.as_ref().unwrap();
    assert_eq!(up.issuer, ISSUER);
    assert_eq!(up.scopes, "openid profile email offline_access");
    assert_eq!(up.access_token_source, AccessTokenSource::Worker);
    assert!(up.client_secret.is_none());
    assert_eq!(up.claims, ["email", "name"]);
    assert!(!cfg.password_login, "a provider turns password login off");
    let mut v = vars();
    v.insert("PASSWORD_LOGIN", "on".into());
    assert!(build(&v).unwrap().password_login);
    let mut v = vars();
    v.remove("UPSTREAM_ISSUER");
    let cfg = build(&v).unwrap();
    assert!(cfg.upstream.is_none() && cfg.password_login);
}

#[test]
fn broken_upstream_settings_name_the_variable() {
    let cases: Vec<(&str, &str, Var)> = vec![
        ("UPSTREAM_ISSUER", "http://id.example", Var::UpstreamIssuer),
        ("UPSTREAM_ISSUER", "id.example", Var::UpstreamIssuer),
        ("UPSTREAM_TOKEN_KEY", "short", Var::UpstreamTokenKey),
        ("UPSTREAM_TOKEN_KEY", "not base64!", Var::UpstreamTokenKey),
        ("UPSTREAM_SCOPES", "email profile", Var::UpstreamScopes),
        (
            "UPSTREAM_AUTH_PARAMS",
            "access_type",
            Var::UpstreamAuthParams,
        ),
        ("UPSTREAM_CLAIMS", "email,sub", Var::UpstreamClaims),
        ("ACCESS_TOKEN_SOURCE", "provider", Var::AccessTokenSource),
        ("PASSWORD_LOGIN", "maybe", Var::PasswordLogin),
        (
            "UPSTREAM_POST_LOGOUT_REDIRECT",
            "javascript:alert(1)",
            Var::UpstreamPostLogoutRedirect,
        ),
    ];
    for (name, value, var) in cases {
        let mut v = vars();
        v.insert(name, value.to_string());
        let e = build(&v).expect_err(name);
        assert_eq!(e.variable, var, "{name}={value}: {e}");
        assert!(e.to_string().starts_with(var.name()));
    }
    let mut v = vars();
    v.remove("UPSTREAM_CLIENT_ID");
    assert_eq!(
        build(&v).unwrap_err(),
        ConfigError {
            variable: Var::UpstreamClientId,
            rule: Rule::Missing
        }
    );
}

#[test]
fn the_provider_access_token_source_is_refused_with_the_kv_store_and_taken_in_strict_mode() {
    let mut v = vars();
    v.insert("ACCESS_TOKEN_SOURCE", "upstream".into());
    v.insert("ROTATION_STORE", "kv".into());
    let e = build(&v).unwrap_err();
    assert_eq!(e.variable, Var::AccessTokenSource);
    v.insert("ROTATION_STORE", "durable-object".into());
    let cfg = build(&v).unwrap();
    assert_eq!(cfg.rotation_store, RotationStore::DurableObject);
    assert_eq!(
        cfg.upstream.unwrap().access_token_source,
        AccessTokenSource::Upstream
    );
}

// --- discovery ---

#[test]
fn a_discovery_document_must_name_our_issuer_exactly_and_offer_s256() {
    let doc = |issuer: &str, extra: Value| {
        let mut d = json!({
            "issuer": issuer,
            "authorization_endpoint": "https://id.example/a",
            "token_endpoint": "https://id.example/t",
            "jwks_uri": "https://id.example/k",
        });
        for (k, v) in extra.as_object().unwrap() {
            d[k] = v.clone();
        }
        d.to_string()
    };
    assert!(Discovery::parse(ISSUER, doc(ISSUER, json!({})).as_bytes()).is_ok());
    for other in [
        "https://id.example/",
        "https://evil.example",
        "https://ID.example",
    ] {
        assert_eq!(
            Discovery::parse(ISSUER, doc(other, json!({})).as_bytes()),
            Err(DiscoveryError::IssuerMismatch),
            "{other}"
        );
    }
    assert_eq!(
        Discovery::parse(
            ISSUER,
            doc(
                ISSUER,
                json!({"code_challenge_methods_supported": ["plain"]})
            )
            .as_bytes()
        ),
        Err(DiscoveryError::Unsupported("PKCE S256"))
    );
    assert_eq!(
        Discovery::parse(
            ISSUER,
            doc(ISSUER, json!({"token_endpoint": "http://id.example/t"})).as_bytes()
        ),
        Err(DiscoveryError::BadEndpoint("token_endpoint"))
    );
    assert_eq!(
        Discovery::parse(ISSUER, b"<html>"),
        Err(DiscoveryError::Malformed)
    );
}

#[test]
fn the_client_authenticates_with_basic_unless_the_provider_offers_only_post() {
    assert_eq!(discovery(json!({})).client_auth(true), ClientAuth::Basic);
    let post_only =
        discovery(json!({"token_endpoint_auth_methods_supported": ["client_secret_post"]}));
    assert_eq!(post_only.client_auth(true), ClientAuth::Post);
    assert_eq!(post_only.client_auth(false), ClientAuth::None);
    let cfg = upstream(AccessTokenSource::Worker);
    let basic = code_request(
        &discovery(json!({})),
        &cfg,
        "the-code",
        "https://edge.example/auth/callback",
        "v",
    );
    // RFC 6749 §2.3.1: id and secret form-encoded, then base64.
    let expected = format!(
        "Basic {}",
        base64_std(b"edge-client:s3cret%3Awith%26odd%3Dchars")
    );
    assert_eq!(basic.authorization.as_deref(), Some(expected.as_str()));
    assert!(!basic.body.contains("client_secret"));
    assert!(
        basic.body.contains("code_verifier=v")
            && basic.body.contains("grant_type=authorization_code")
    );
    let post = code_request(
        &post_only,
        &cfg,
        "the-code",
        "https://edge.example/auth/callback",
        "v",
    );
    assert_eq!(post.authorization, None);
    assert!(post
        .body
        .contains("client_secret=s3cret%3Awith%26odd%3Dchars"));
    assert!(
        !format!("{post:?}").contains("s3cret"),
        "Debug hides the body"
    );
}

fn base64_std(bytes: &[u8]) -> String {
    let url = b64::encode(bytes).replace('-', "+").replace('_', "/");
    let pad = (4 - url.len() % 4) % 4;
    url + &"=".repeat(pad)
}

// --- return_to ---

#[test]
fn return_to_accepts_same_origin_paths() {
    assert_eq!(check_return_to(None).as_deref(), Some("/"));
    assert_eq!(check_return_to(Some("")).as_deref(), Some("/"));
    for ok in [
        "/",
        "/app",
        "/app/page?x=1&y=2#top",
        "/caf%C3%A9",
        "/a%20b".replace("%20", "-").as_str(),
        "/50%25",
    ] {
        assert_eq!(check_return_to(Some(ok)).as_deref(), Some(ok), "{ok}");
    }
    // A path the query's decoding turned into UTF-8 comes back encoded: it goes into a
    // `Location` header, which takes ASCII only.
    assert_eq!(
        check_return_to(Some("/café?q=ü")).as_deref(),
        Some("/caf%C3%A9?q=%C3%BC")
    );
}

#[test]
fn return_to_refuses_open_redirects_as_given_and_after_decoding() {
    for bad in [
        "//evil.example",
        "https://evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "evil.example",
        "/%2F%2Fevil.example",
        "/%2f/evil.example",
        "%2F%2Fevil.example",
        "/%5Cevil.example",
        "/%252F%252Fevil.example",
        "/%25252F%25252Fevil.example",
        "/a/https://evil.example",
        "/ evil",
        "/%20evil",
        "/%0d%0aSet-Cookie:x=1",
        "/\tevil",
        "/%09",
        "/%zz",
        "/%E2%80%A8",
        "javascript:alert(1)",
    ] {
        assert_eq!(check_return_to(Some(bad)), None, "{bad} must be refused");
    }
    assert_eq!(
        check_return_to(Some(&format!("/{}", "a".repeat(3000)))),
        None
    );
}

#[test]
fn the_error_code_is_added_to_return_to_before_its_fragment() {
    assert_eq!(
        with_auth_error("/", AuthErrorCode::InvalidState),
        "/?auth_error=invalid_state"
    );
    assert_eq!(
        with_auth_error("/a?x=1#f", AuthErrorCode::AccessDenied),
        "/a?x=1&auth_error=access_denied#f"
    );
    let codes: Vec<_> = AuthErrorCode::ALL.iter().map(|c| c.code()).collect();
    assert_eq!(codes.len(), 8);
    assert!(codes
        .iter()
        .all(|c| c.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')));
}

// --- authorization request and transaction ---

fn query_of(url: &str) -> HashMap<String, String> {
    let q = url.split_once('?').unwrap().1;
    q.split('&')
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap();
            (
                k.to_string(),
                silent_refresh::core::server::http::form_decode(v).unwrap(),
            )
        })
        .collect()
}

#[test]
fn the_authorization_request_has_state_nonce_pkce_s256_and_asks_for_a_refresh_token() {
    let cfg = upstream(AccessTokenSource::Worker);
    let tx = Transaction::new("/app".into(), T0).unwrap();
    let url = authorization_url(
        &discovery(json!({})),
        &cfg,
        "https://edge.example/auth/callback",
        &tx,
    );
    assert!(url.starts_with("https://id.example/authorize?"));
    let q = query_of(&url);
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], CLIENT);
    assert_eq!(q["redirect_uri"], "https://edge.example/auth/callback");
    assert_eq!(q["scope"], "openid email offline_access");
    assert_eq!(
        q["state"], tx.state,
        "UPSTREAM_AUTH_PARAMS cannot override state"
    );
    assert_eq!(q["nonce"], tx.nonce);
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(
        q["code_challenge"],
        b64::encode(&hmac_sha256::Hash::hash(tx.verifier.as_bytes()))
    );
    assert_eq!(q["prompt"], "consent");
    assert_eq!(q["access_type"], "offline");
    assert!(tx.verifier.len() >= 43 && tx.state.len() >= 43 && tx.nonce.len() >= 43);
    let other = Transaction::new("/app".into(), T0).unwrap();
    assert_ne!(other.state, tx.state);
    let mut no_offline = upstream(AccessTokenSource::Worker);
    no_offline.scopes = "openid email".into();
    assert!(
        !authorization_url(&discovery(json!({})), &no_offline, "https://e/cb", &tx)
            .contains("prompt=")
    );
}

#[test]
fn the_transaction_cookie_opens_only_unaltered_in_time_and_under_its_key() {
    let cfg = upstream(AccessTokenSource::Worker);
    let tx = Transaction::new("/back".into(), T0).unwrap();
    let sealed = tx.seal(&cfg).unwrap();
    assert!(
        !sealed.contains(&tx.state) && !sealed.contains("back"),
        "encrypted"
    );
    assert_eq!(Transaction::open(&cfg, &sealed, T0 + 1), Some(tx.clone()));
    assert_eq!(
        Transaction::open(&cfg, &sealed, T0 + TRANSACTION_TTL),
        None,
        "expired after 10 minutes"
    );
    let mut bytes = b64::decode(&sealed).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    assert_eq!(
        Transaction::open(&cfg, &b64::encode(&bytes), T0),
        None,
        "altered"
    );
    let mut other = upstream(AccessTokenSource::Worker);
    other.token_key = Secret::new(key_bytes(78));
    assert_eq!(Transaction::open(&other, &sealed, T0), None, "another key");
    // A grant sealed under the same key is not a transaction (derived keys per purpose).
    let grant = Grant {
        rt: None,
        at: "x".into(),
        exp: 0,
        idt: None,
    };
    assert_eq!(
        Transaction::open(&cfg, &grant.seal(&cfg, "sr_oidc").unwrap(), T0),
        None
    );
}

fn callback(
    cfg: &UpstreamConfig,
    disc: &Discovery,
    query: &str,
    cookie: Option<&str>,
) -> Result<(Transaction, String), (AuthErrorCode, Option<String>)> {
    check_callback(cfg, disc, CallbackParams::parse(query), cookie, T0 + 5)
        .map_err(|f| (f.code, f.return_to))
}

#[test]
fn the_callback_needs_this_browsers_transaction_and_its_state() {
    let cfg = upstream(AccessTokenSource::Worker);
    let disc = discovery(json!({}));
    let tx = Transaction::new("/back".into(), T0).unwrap();
    let cookie = tx.seal(&cfg).unwrap();
    let good = format!(
        "code=abc&state={}&iss={}",
        tx.state, "https%3A%2F%2Fid.example"
    );
    let (got, code) = callback(&cfg, &disc, &good, Some(&cookie)).unwrap();
    assert_eq!(
        (got.state.as_str(), code.as_str()),
        (tx.state.as_str(), "abc")
    );
    let back = Some("/back".to_string());
    // No transaction in this browser: no return_to is known, a 400.
    assert_eq!(
        callback(&cfg, &disc, &good, None),
        Err((AuthErrorCode::InvalidState, None))
    );
    // Another browser's transaction (its own cookie, our state): state mismatch.
    let theirs = Transaction::new("/theirs".into(), T0)
        .unwrap()
        .seal(&cfg)
        .unwrap();
    assert_eq!(
        callback(&cfg, &disc, &good, Some(&theirs)),
        Err((AuthErrorCode::InvalidState, Some("/theirs".into())))
    );
    // State missing, or one byte off.
    let iss = "iss=https%3A%2F%2Fid.example";
    assert_eq!(
        callback(&cfg, &disc, &format!("code=abc&{iss}"), Some(&cookie)),
        Err((AuthErrorCode::InvalidState, back.clone()))
    );
    let mut wrong = tx.state.clone();
    wrong.replace_range(0..1, if wrong.starts_with('A') { "B" } else { "A" });
    assert_eq!(
        callback(
            &cfg,
            &disc,
            &format!("code=abc&state={wrong}&{iss}"),
            Some(&cookie)
        ),
        Err((AuthErrorCode::InvalidState, back.clone()))
    );
    // Mix-up (RFC 9207): another issuer, or none where the provider promises one.
    let state = format!("state={}", tx.state);
    assert_eq!(
        callback(
            &cfg,
            &disc,
            &format!("code=abc&{state}&iss=https%3A%2F%2Fevil.example"),
            Some(&cookie)
        ),
        Err((AuthErrorCode::IssuerMismatch, back.clone()))
    );
    assert_eq!(
        callback(&cfg, &disc, &format!("code=abc&{state}"), Some(&cookie)),
        Err((AuthErrorCode::IssuerMismatch, back.clone()))
    );
    let no_iss = discovery(json!({"authorization_response_iss_parameter_supported": false}));
    assert!(callback(&cfg, &no_iss, &format!("code=abc&{state}"), Some(&cookie)).is_ok());
    // The provider's error, no code, a duplicated parameter.
    assert_eq!(
        callback(
            &cfg,
            &disc,
            &format!("error=access_denied&{state}&{iss}"),
            Some(&cookie)
        ),
        Err((AuthErrorCode::AccessDenied, back.clone()))
    );
    assert_eq!(
        callback(
            &cfg,
            &disc,
            &format!("error=server_error&{state}&{iss}"),
            Some(&cookie)
        ),
        Err((AuthErrorCode::ProviderError, back.clone()))
    );
    assert_eq!(
        callback(&cfg, &disc, &format!("{state}&{iss}"), Some(&cookie)),
        Err((AuthErrorCode::InvalidCallback, back.clone()))
    );
    assert_eq!(
        callback(
            &cfg,
            &disc,
            &format!("code=a&code=b&{state}&{iss}"),
            Some(&cookie)
        ),
        Err((AuthErrorCode::InvalidCallback, back.clone()))
    );
    // An expired transaction is no transaction.
    let late = check_callback(
        &cfg,
        &disc,
        CallbackParams::parse(&good),
        Some(&cookie),
        T0 + TRANSACTION_TTL,
    );
    assert_eq!(late.unwrap_err().code, AuthErrorCode::InvalidState);
    assert_ne!(
        tx.spent_key(),
        Transaction::new("/".into(), T0).unwrap().spent_key()
    );
}

// --- ID tokens ---

struct Signers {
    es: ES256KeyPair,
    ed: Ed25519KeyPair,
    jwks: Vec<u8>,
}

fn signers() -> Signers {
    let es = ES256KeyPair::generate().with_key_id("es1");
    let ed = Ed25519KeyPair::generate().with_key_id("ed1");
    let point = es.public_key().public_key().to_bytes_uncompressed();
    let jwks = json!({"keys": [
        {"kty": "EC", "crv": "P-256", "kid": "es1", "use": "sig", "alg": "ES256",
         "x": b64::encode(&point[1..33]), "y": b64::encode(&point[33..])},
        {"kty": "OKP", "crv": "Ed25519", "kid": "ed1", "x": b64::encode(&ed.public_key().to_bytes())},
        {"kty": "EC", "crv": "P-384", "kid": "skip", "x": "AA", "y": "AA"},
        {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
    ]});
    Signers {
        es,
        ed,
        jwks: jwks.to_string().into_bytes(),
    }
}

fn id_claims(
    edit: impl FnOnce(&mut JWTClaims<Map<String, Value>>),
) -> JWTClaims<Map<String, Value>> {
    let mut custom = Map::new();
    custom.insert("email".into(), json!("ada@example.com"));
    custom.insert("name".into(), json!("Ada"));
    custom.insert("groups".into(), json!(["admin"]));
    let mut c = Claims::with_custom_claims(custom, Duration::from_secs(300))
        .with_issuer(ISSUER)
        .with_audience(CLIENT)
        .with_subject("provider-user-1")
        .with_nonce("the-nonce");
    c.issued_at = Some(UnixTimeStamp::from_secs(T0));
    c.expires_at = Some(UnixTimeStamp::from_secs(T0 + 300));
    c.invalid_before = None;
    edit(&mut c);
    c
}

fn want() -> IdTokenExpectations<'static> {
    IdTokenExpectations {
        issuer: ISSUER,
        client_id: CLIENT,
        nonce: "the-nonce",
        now: T0 + 10,
        leeway: 30,
    }
}

/// The core's verification with the native signature check (the Worker's is Web Crypto,
/// exercised by tests/http/oidc-hostile.test.mjs).
fn verify(
    keys: &ProviderKeys,
    token: &str,
    want: &IdTokenExpectations<'_>,
) -> Result<Map<String, Value>, IdTokenError> {
    run(id_token::verify(keys, token, want, &PureRustJws))
}

fn raw_token(header: Value, payload: Value, sig: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        b64::encode(header.to_string().as_bytes()),
        b64::encode(payload.to_string().as_bytes()),
        b64::encode(sig)
    )
}

#[test]
fn an_id_token_signed_by_the_provider_with_es256_or_eddsa_verifies_and_answers_its_claims() {
    let s = signers();
    let keys = ProviderKeys::parse(&s.jwks).unwrap();
    assert_eq!(keys.len(), 2, "P-384 and oct keys are skipped");
    for token in [
        s.es.sign(id_claims(|_| {})).unwrap(),
        s.ed.sign(id_claims(|_| {})).unwrap(),
    ] {
        let claims = verify(&keys, &token, &want()).unwrap();
        assert_eq!(claims["sub"], "provider-user-1");
        assert_eq!(claims["email"], "ada@example.com");
    }
}

#[test]
fn an_id_token_with_rs256_verifies() {
    let rs = RS256KeyPair::generate(2048).unwrap().with_key_id("rs1");
    let c = rs.public_key().to_components();
    let jwks = json!({"keys": [{"kty": "RSA", "kid": "rs1", "n": b64::encode(&c.n), "e": b64::encode(&c.e)}]});
    let keys = ProviderKeys::parse(jwks.to_string().as_bytes()).unwrap();
    let token = rs.sign(id_claims(|_| {})).unwrap();
    assert!(verify(&keys, &token, &want()).is_ok());
    let forged = RS256KeyPair::generate(2048)
        .unwrap()
        .with_key_id("rs1")
        .sign(id_claims(|_| {}))
        .unwrap();
    assert_eq!(
        verify(&keys, &forged, &want()),
        Err(IdTokenError::Signature)
    );
}

#[test]
fn every_bad_id_token_is_refused_with_its_reason() {
    let s = signers();
    let keys = ProviderKeys::parse(&s.jwks).unwrap();
    let es = |edit: fn(&mut JWTClaims<Map<String, Value>>)| s.es.sign(id_claims(edit)).unwrap();
    let check = |token: &str| verify(&keys, token, &want());
    assert_eq!(
        check(&es(|c| c.nonce = Some("other".into()))),
        Err(IdTokenError::Nonce)
    );
    assert_eq!(check(&es(|c| c.nonce = None)), Err(IdTokenError::Nonce));
    assert_eq!(
        check(&es(
            |c| c.audiences = Some(Audiences::AsString("someone-else".into()))
        )),
        Err(IdTokenError::Audience)
    );
    assert_eq!(
        check(&es(|c| c.issuer = Some("https://evil.example".into()))),
        Err(IdTokenError::Issuer)
    );
    assert_eq!(
        check(&es(
            |c| c.expires_at = Some(UnixTimeStamp::from_secs(T0 - 60))
        )),
        Err(IdTokenError::Expired)
    );
    assert_eq!(
        check(&es(|c| c.expires_at = None)),
        Err(IdTokenError::Expired)
    );
    assert_eq!(
        check(&es(
            |c| c.issued_at = Some(UnixTimeStamp::from_secs(T0 + 3600))
        )),
        Err(IdTokenError::NotYetValid)
    );
    // Within the leeway: accepted.
    assert!(check(&es(
        |c| c.expires_at = Some(UnixTimeStamp::from_secs(T0 - 10))
    ))
    .is_ok());
    // Several audiences: azp must be us.
    let multi = |c: &mut JWTClaims<Map<String, Value>>| {
        c.audiences = Some(Audiences::AsSet(HashSet::from([
            CLIENT.to_string(),
            "other".to_string(),
        ])));
    };
    assert_eq!(check(&es(multi)), Err(IdTokenError::Audience));
    assert!(check(&es(|c| {
        c.audiences = Some(Audiences::AsSet(HashSet::from([
            CLIENT.to_string(),
            "other".to_string(),
        ])));
        c.custom.insert("azp".into(), json!(CLIENT));
    }))
    .is_ok());
    assert_eq!(
        check(&es(|c| {
            c.custom.insert("azp".into(), json!("other"));
        })),
        Err(IdTokenError::Audience)
    );
    // Another key under the provider's kid.
    let forged = ES256KeyPair::generate()
        .with_key_id("es1")
        .sign(id_claims(|_| {}))
        .unwrap();
    assert_eq!(check(&forged), Err(IdTokenError::Signature));
    // An unknown kid (a key rotation, or made up).
    let unknown = ES256KeyPair::generate()
        .with_key_id("es2")
        .sign(id_claims(|_| {}))
        .unwrap();
    assert_eq!(check(&unknown), Err(IdTokenError::UnknownKey));
    // alg: none, and HMAC keyed with anything (here a public key's bytes).
    let payload = serde_json::to_value(id_claims(|_| {})).unwrap();
    assert_eq!(
        check(&raw_token(
            json!({"alg": "none", "kid": "es1"}),
            payload.clone(),
            b""
        )),
        Err(IdTokenError::Algorithm)
    );
    assert_eq!(
        check(&raw_token(json!({"alg": "none"}), payload, b"")),
        Err(IdTokenError::Algorithm)
    );
    for hs in [
        HS256Key::from_bytes(&s.jwks)
            .with_key_id("es1")
            .authenticate(id_claims(|_| {}))
            .unwrap(),
        HS256Key::from_bytes(&key_bytes(1))
            .with_key_id("hmac")
            .authenticate(id_claims(|_| {}))
            .unwrap(),
    ] {
        assert_eq!(check(&hs), Err(IdTokenError::Algorithm));
    }
    // An ES256 signature presented as EdDSA under the Ed25519 key's kid: no such key/alg pair.
    let es_token = es(|_| {});
    let parts: Vec<&str> = es_token.split('.').collect();
    let relabelled = format!(
        "{}.{}.{}",
        b64::encode(br#"{"alg":"EdDSA","kid":"es1"}"#),
        parts[1],
        parts[2]
    );
    assert_eq!(check(&relabelled), Err(IdTokenError::UnknownKey));
    assert_eq!(check("a.b"), Err(IdTokenError::Malformed));
    assert_eq!(check(&"x".repeat(20_000)), Err(IdTokenError::Malformed));
}

/// A [`JwsVerifier`](id_token::JwsVerifier) that counts its calls and accepts every signature.
#[derive(Default)]
struct CountingJws(Cell<u32>);

impl id_token::JwsVerifier for CountingJws {
    async fn verify(&self, _: &id_token::KeyMaterial, _: &[u8], _: &[u8]) -> bool {
        self.0.set(self.0.get() + 1);
        true
    }
}

#[test]
fn none_hmac_unknown_keys_and_misshapen_signatures_are_refused_before_any_cryptography() {
    let s = signers();
    let keys = ProviderKeys::parse(&s.jwks).unwrap();
    let jws = CountingJws::default();
    let check = |token: &str| run(id_token::verify(&keys, token, &want(), &jws));
    let payload = serde_json::to_value(id_claims(|_| {})).unwrap();
    let sig64 = [7u8; 64];
    assert_eq!(
        check(&raw_token(
            json!({"alg": "none", "kid": "es1"}),
            payload.clone(),
            b""
        )),
        Err(IdTokenError::Algorithm)
    );
    for alg in ["HS256", "HS384", "HS512", "RS384", "PS256", "ES384"] {
        assert_eq!(
            check(&raw_token(
                json!({"alg": alg, "kid": "es1"}),
                payload.clone(),
                &sig64
            )),
            Err(IdTokenError::Algorithm),
            "{alg}"
        );
    }
    assert_eq!(
        check(&raw_token(
            json!({"alg": "ES256", "kid": "nope"}),
            payload.clone(),
            &sig64
        )),
        Err(IdTokenError::UnknownKey)
    );
    assert_eq!(
        check(&raw_token(
            json!({"alg": "ES256", "kid": "es1"}),
            payload.clone(),
            &[7u8; 63]
        )),
        Err(IdTokenError::Signature),
        "an ES256 signature is 64 bytes"
    );
    assert_eq!(jws.0.get(), 0, "no signature was checked");
    // Positive control: a well-formed token reaches the verifier (which here accepts anything:
    // the claims are then the core's to check).
    assert!(check(&raw_token(
        json!({"alg": "ES256", "kid": "es1"}),
        payload,
        &sig64
    ))
    .is_ok());
    assert_eq!(jws.0.get(), 1);
}

#[test]
fn rsa_keys_outside_2048_to_8192_bits_or_with_a_bad_exponent_are_skipped() {
    let n = |bytes: usize| b64::encode(&vec![0xc5u8; bytes]);
    let jwks = |n: String, e: &str| {
        json!({"keys": [{"kty": "RSA", "kid": "r", "n": n, "e": e}]}).to_string()
    };
    let usable = |n: String, e: &str| ProviderKeys::parse(jwks(n, e).as_bytes()).unwrap().len();
    assert_eq!(usable(n(256), "AQAB"), 1, "2048 bits, e = 65537");
    assert_eq!(usable(n(1024), "AQAB"), 1, "8192 bits");
    assert_eq!(usable(n(128), "AQAB"), 0, "1024 bits");
    assert_eq!(usable(n(1025), "AQAB"), 0);
    assert_eq!(usable(n(256), "AQ"), 0, "e = 1");
    assert_eq!(usable(n(256), "AQAA"), 0, "an even exponent");
    assert_eq!(
        usable(b64::encode(&[&[0u8][..], &[0xc5; 256]].concat()), "AQAB"),
        1,
        "a leading zero byte is not a bit"
    );
}

#[test]
fn an_unknown_kid_refetches_the_keys_at_most_once_per_interval() {
    assert!(may_refetch(None, T0), "the first unknown kid refetches");
    assert!(may_refetch(Some(T0), T0 + JWKS_REFETCH_INTERVAL));
    assert!(!may_refetch(Some(T0), T0 + JWKS_REFETCH_INTERVAL - 1));
    assert!(!may_refetch(Some(T0), T0));
}

// --- the session's subject and the provider's tokens at rest ---

#[test]
fn the_subject_is_stable_per_issuer_and_provider_sub() {
    let a = subject(ISSUER, "user-1");
    assert_eq!(a, subject(ISSUER, "user-1"));
    assert_eq!(
        a,
        "oidc:".to_string() + &b64::encode(&hmac_sha256::Hash::hash(b"https://id.example\0user-1"))
    );
    assert_ne!(a, subject("https://other.example", "user-1"));
    assert_ne!(
        subject("https://id.example/a", "b"),
        subject("https://id.example/", "ab")
    );
    assert!(silent_refresh::core::server::identity::check_sub(&a).is_ok());
    assert!(!silent_refresh::core::server::identity::is_valid_username(
        &a
    ));
}

#[test]
fn a_sealed_grant_opens_only_for_its_family() {
    let cfg = upstream(AccessTokenSource::Worker);
    let grant = Grant {
        rt: Some("provider-rt".into()),
        at: "provider-at".into(),
        exp: T0 + 60,
        idt: Some("idt".into()),
    };
    let sealed = grant.seal(&cfg, "fam-a").unwrap();
    assert!(!sealed.contains("provider"));
    assert_eq!(Grant::open(&cfg, "fam-a", &sealed), Some(grant.clone()));
    assert_eq!(Grant::open(&cfg, "fam-b", &sealed), None);
    assert_eq!(format!("{grant:?}"), "Grant([redacted])");
}

#[test]
fn token_endpoint_answers_are_judged() {
    assert!(matches!(
        token_answer(
            Some(200),
            br#"{"access_token":"a","expires_in":60,"refresh_token":"r","id_token":"i"}"#
        ),
        TokenAnswer::Tokens(_)
    ));
    assert_eq!(
        token_answer(Some(400), br#"{"error":"invalid_grant"}"#),
        TokenAnswer::InvalidGrant
    );
    assert_eq!(
        token_answer(Some(401), br#"{"error":"invalid_client"}"#),
        TokenAnswer::Refused
    );
    assert_eq!(token_answer(Some(429), b""), TokenAnswer::Unavailable);
    assert_eq!(token_answer(Some(503), b""), TokenAnswer::Unavailable);
    assert_eq!(token_answer(Some(200), b"<html>"), TokenAnswer::Unavailable);
    assert_eq!(token_answer(None, b""), TokenAnswer::Unavailable);
}

// --- rotation of provider sign-ins against a scripted provider ---

#[derive(Default)]
struct Scripted {
    answers: RefCell<VecDeque<TokenAnswer>>,
    refreshed_with: RefCell<Vec<String>>,
    revoked: RefCell<Vec<(String, String)>>,
    calls: Cell<usize>,
}

impl UpstreamClient for &Scripted {
    async fn refresh(&self, rt: &str) -> TokenAnswer {
        self.calls.set(self.calls.get() + 1);
        self.refreshed_with.borrow_mut().push(rt.to_string());
        self.answers
            .borrow_mut()
            .pop_front()
            .unwrap_or(TokenAnswer::Unavailable)
    }
    async fn revoke(&self, grant: &Grant, why: &str) {
        self.revoked
            .borrow_mut()
            .push((grant.rt.clone().unwrap_or_default(), why.to_string()));
    }
}

fn tokens(n: u32, ttl: u64) -> TokenAnswer {
    TokenAnswer::Tokens(ProviderTokens {
        access_token: format!("up-at-{n}"),
        expires_in: Some(ttl),
        refresh_token: Some(format!("up-rt-{n}")),
        id_token: None,
        token_type: Some("Bearer".into()),
    })
}

fn provider_config(source: AccessTokenSource) -> Config {
    Config {
        upstream: Some(upstream(source)),
        ..config()
    }
}

fn first_grant() -> Grant {
    Grant {
        rt: Some("up-rt-0".into()),
        at: "up-at-0".into(),
        exp: T0 + 300,
        idt: Some("idt-0".into()),
    }
}

fn family_of(store: &MemoryStore) -> (String, FamilyRecord) {
    let snap = store.snapshot();
    let (k, v) = snap.iter().find(|(k, _)| k.starts_with("f:")).unwrap();
    (k[2..].to_string(), serde_json::from_str(v).unwrap())
}

#[test]
fn a_provider_sign_in_keeps_the_provider_tokens_sealed_with_its_family() {
    let cfg = provider_config(AccessTokenSource::Worker);
    let store = MemoryStore::new();
    store.set_time(T0);
    let svc = AuthService::new(&cfg, &store, Pbkdf2);
    let mut claims = Map::new();
    claims.insert("email".into(), json!("ada@example.com"));
    let r = run(svc.start_upstream_session("oidc:x", claims, &first_grant(), T0)).unwrap();
    let (fam, f) = family_of(&store);
    let everything = serde_json::to_string(&store.snapshot()).unwrap();
    assert!(
        !everything.contains("up-rt-0") && !everything.contains("up-at-0"),
        "nothing in clear at rest"
    );
    assert_eq!(
        Grant::open(
            cfg.upstream.as_ref().unwrap(),
            &fam,
            f.up.as_deref().unwrap()
        ),
        Some(first_grant())
    );
    assert_ne!(
        r.access_token, "up-at-0",
        "worker source: our own access token"
    );
    assert!(store.snapshot().contains_key(&family_key(&fam)));
}

#[test]
fn worker_source_refreshes_at_the_provider_only_once_its_access_token_expired() {
    let cfg = provider_config(AccessTokenSource::Worker);
    let store = MemoryStore::new();
    store.set_time(T0);
    let svc = AuthService::new(&cfg, &store, Pbkdf2);
    let up = Scripted::default();
    up.answers.borrow_mut().push_back(tokens(1, 300));
    let r = run(svc.start_upstream_session("oidc:x", Map::new(), &first_grant(), T0)).unwrap();
    let sealed_at_start = family_of(&store).1.up;
    store.set_time(T0 + 100);
    let r = run(svc.refresh(&r.refresh_token.as_str(), None, (T0 + 100) * 1000, &&up)).unwrap();
    assert_eq!(up.calls.get(), 0, "the provider's access token still lives");
    assert_eq!(
        family_of(&store).1.up,
        sealed_at_start,
        "the provider's tokens unchanged: the sealed copy is kept as it was, not sealed again"
    );
    store.set_time(T0 + 400);
    let r = run(svc.refresh(&r.refresh_token.as_str(), None, (T0 + 400) * 1000, &&up)).unwrap();
    assert_eq!(up.calls.get(), 1);
    assert_eq!(up.refreshed_with.borrow()[0], "up-rt-0");
    let (fam, f) = family_of(&store);
    let g = Grant::open(
        cfg.upstream.as_ref().unwrap(),
        &fam,
        f.up.as_deref().unwrap(),
    )
    .unwrap();
    assert_eq!(
        (g.rt.as_deref(), g.at.as_str(), g.exp, g.idt.as_deref()),
        (Some("up-rt-1"), "up-at-1", T0 + 700, Some("idt-0"))
    );
    assert_ne!(f.up, sealed_at_start);
    // A grace replay of the token just rotated does not call the provider.
    let _ = r;
}

#[test]
fn upstream_source_hands_out_the_provider_access_token_and_refreshes_it_within_the_margin() {
    let cfg = provider_config(AccessTokenSource::Upstream);
    let store = MemoryStore::new();
    store.set_time(T0);
    let svc = AuthService::new(&cfg, &store, Pbkdf2);
    let up = Scripted::default();
    up.answers.borrow_mut().push_back(tokens(1, 300));
    let r0 = run(svc.start_upstream_session("oidc:x", Map::new(), &first_grant(), T0)).unwrap();
    assert_eq!((r0.access_token.as_str(), r0.expires_in), ("up-at-0", 300));
    // 250 s later: 50 s left, under the 60 s margin: refreshed first.
    store.set_time(T0 + 250);
    let r1 = run(svc.refresh(&r0.refresh_token.as_str(), None, (T0 + 250) * 1000, &&up)).unwrap();
    assert_eq!((r1.access_token.as_str(), r1.expires_in), ("up-at-1", 300));
    // The same token again within the grace window: the same answer, no provider call.
    let again =
        run(svc.refresh(&r0.refresh_token.as_str(), None, (T0 + 251) * 1000, &&up)).unwrap();
    assert_eq!(again.access_token, "up-at-1");
    assert!(again.replay.is_some());
    assert_eq!(up.calls.get(), 1);
}

#[test]
fn the_provider_ending_the_grant_revokes_our_family() {
    let cfg = provider_config(AccessTokenSource::Worker);
    let store = MemoryStore::new();
    store.set_time(T0);
    let svc = AuthService::new(&cfg, &store, Pbkdf2);
    let up = Scripted::default();
    up.answers.borrow_mut().push_back(TokenAnswer::InvalidGrant);
    let r = run(svc.start_upstream_session("oidc:x", Map::new(), &first_grant(), T0)).unwrap();
    store.set_time(T0 + 400);
    let token = r.refresh_token.as_str();
    assert_eq!(
        run(svc.refresh(&token, None, (T0 + 400) * 1000, &&up)).unwrap_err(),
        AuthError::InvalidGrant
    );
    assert!(
        store.snapshot().keys().any(|k| k.starts_with("r:")),
        "family revoked"
    );
    up.answers.borrow_mut().push_back(tokens(2, 300));
    assert_eq!(
        run(svc.refresh(&token, None, (T0 + 401) * 1000, &&up)).unwrap_err(),
        AuthError::InvalidGrant
    );
    assert_eq!(
        up.calls.get(),
        1,
        "a revoked family never reaches the provider again"
    );
}

#[test]
fn the_provider_down_is_503_with_nothing_rotated_and_the_same_token_works_later() {
    let cfg = provider_config(AccessTokenSource::Worker);
    let store = MemoryStore::new();
    store.set_time(T0);
    let svc = AuthService::new(&cfg, &store, Pbkdf2);
    let up = Scripted::default();
    up.answers.borrow_mut().extend([
        TokenAnswer::Unavailable,
        TokenAnswer::Refused,
        tokens(1, 300),
    ]);
    let r = run(svc.start_upstream_session("oidc:x", Map::new(), &first_grant(), T0)).unwrap();
    let token = r.refresh_token.as_str();
    store.set_time(T0 + 400);
    let before = store.snapshot();
    for _ in 0..2 {
        let e = run(svc.refresh(&token, None, (T0 + 400) * 1000, &&up)).unwrap_err();
        assert_eq!(e, AuthError::TemporarilyUnavailable);
        assert!(e.headers().iter().any(|(h, _)| *h == "Retry-After"));
        assert_eq!(store.snapshot(), before, "nothing written");
    }
    assert!(run(svc.refresh(&token, None, (T0 + 400) * 1000, &&up)).is_ok());
    assert_eq!(
        up.refreshed_with.borrow().as_slice(),
        ["up-rt-0", "up-rt-0", "up-rt-0"]
    );
}

#[test]
fn logout_and_reuse_revoke_the_provider_refresh_token_and_logout_answers_the_id_token() {
    let cfg = provider_config(AccessTokenSource::Worker);
    let store = MemoryStore::new();
    store.set_time(T0);
    let svc = AuthService::new(&cfg, &store, Pbkdf2);
    let up = Scripted::default();
    let r = run(svc.start_upstream_session("oidc:x", Map::new(), &first_grant(), T0)).unwrap();
    let idt = run(svc.logout(&r.refresh_token.as_str(), RevokeReason::Logout, T0, &&up)).unwrap();
    assert_eq!(idt.as_deref(), Some("idt-0"));
    assert_eq!(
        up.revoked.borrow().as_slice(),
        [("up-rt-0".to_string(), "logout".to_string())]
    );
    // The same token once its family is over reads no ID token back (the user's claims).
    let again = run(svc.logout(
        &r.refresh_token.as_str(),
        RevokeReason::Logout,
        T0 + 1,
        &&up,
    ))
    .unwrap();
    assert_eq!(again, None);
    up.revoked.borrow_mut().clear();
    // Reuse of a retired token, past the grace window.
    let r = run(svc.start_upstream_session("oidc:y", Map::new(), &first_grant(), T0)).unwrap();
    let old = r.refresh_token.as_str();
    run(svc.refresh(&old, None, T0 * 1000, &&up)).unwrap();
    store.set_time(T0 + 60);
    assert_eq!(
        run(svc.refresh(&old, None, (T0 + 60) * 1000, &&up)).unwrap_err(),
        AuthError::InvalidGrant
    );
    assert_eq!(up.revoked.borrow().last().unwrap().1, "reuse");
}

#[test]
fn a_family_sealed_under_another_token_key_fails_closed() {
    let cfg = provider_config(AccessTokenSource::Worker);
    let store = MemoryStore::new();
    store.set_time(T0);
    let svc = AuthService::new(&cfg, &store, Pbkdf2);
    let r = run(svc.start_upstream_session("oidc:x", Map::new(), &first_grant(), T0)).unwrap();
    let mut other = provider_config(AccessTokenSource::Worker);
    other.upstream.as_mut().unwrap().token_key = Secret::new(key_bytes(99));
    let svc2 = AuthService::new(&other, &store, Pbkdf2);
    let up = Scripted::default();
    assert_eq!(
        run(svc2.refresh(&r.refresh_token.as_str(), None, T0 * 1000, &&up)).unwrap_err(),
        AuthError::InvalidGrant
    );
}

#[test]
fn the_end_of_every_session_revokes_each_live_provider_grant_once() {
    let cfg = provider_config(AccessTokenSource::Worker);
    let store = MemoryStore::new();
    store.set_time(T0);
    let svc = AuthService::new(&cfg, &store, Pbkdf2);
    let up = Scripted::default();
    let grant = |n: u32| Grant {
        rt: Some(format!("up-rt-{n}")),
        ..first_grant()
    };
    let a = run(svc.start_upstream_session("oidc:x", Map::new(), &grant(1), T0)).unwrap();
    run(svc.start_upstream_session("oidc:x", Map::new(), &grant(2), T0)).unwrap();
    run(svc.create_session("oidc:x", Map::new(), None, T0)).unwrap(); // not a provider sign-in
    run(svc.logout(&a.refresh_token.as_str(), RevokeReason::Logout, T0, &&up)).unwrap();
    let families: Vec<(String, String)> = store
        .snapshot()
        .into_iter()
        .filter_map(|(k, v)| k.strip_prefix("f:").map(|f| (f.to_string(), v)))
        .collect();
    assert_eq!(families.len(), 3);
    let sent = run(svc.revoke_upstream_families(&families, "end_sessions", &&up));
    assert_eq!(sent, 1);
    assert_eq!(
        up.revoked.borrow().as_slice(),
        [
            ("up-rt-1".to_string(), "logout".to_string()),
            ("up-rt-2".to_string(), "end_sessions".to_string())
        ]
    );
}

#[test]
fn over_kv_a_session_ended_by_logout_all_revokes_its_provider_grant_at_its_next_refresh_once() {
    let cfg = provider_config(AccessTokenSource::Worker);
    assert_eq!(cfg.rotation_store, RotationStore::Kv);
    let store = MemoryStore::new();
    store.set_time(T0);
    let svc = AuthService::new(&cfg, &store, Pbkdf2);
    let up = Scripted::default();
    let r = run(svc.start_upstream_session("oidc:x", Map::new(), &first_grant(), T0)).unwrap();
    let r = run(svc.refresh(&r.refresh_token.as_str(), None, (T0 + 1) * 1000, &&up)).unwrap();
    assert!(
        up.revoked.borrow().is_empty(),
        "a live session revokes nothing (positive control)"
    );
    run(svc.end_sessions("oidc:x", (T0 + 2) * 1000)).unwrap();
    let token = r.refresh_token.as_str().to_string();
    for _ in 0..2 {
        assert_eq!(
            run(svc.refresh(&token, None, (T0 + 3) * 1000, &&up)).err(),
            Some(AuthError::InvalidGrant)
        );
    }
    assert_eq!(
        up.revoked.borrow().as_slice(),
        [("up-rt-0".to_string(), "end_sessions".to_string())],
        "revoked once, at the first refresh that found the session ended"
    );
    assert_eq!(up.calls.get(), 0, "never refreshed at the provider");
}

#[test]
fn an_email_the_provider_did_not_verify_never_reaches_our_access_tokens() {
    let cfg = provider_config(AccessTokenSource::Worker);
    let up = cfg.upstream.as_ref().unwrap();
    let claims = |extra: Value| {
        let mut m = json!({ "sub": "u", "email": "ceo@victim.example", "name": "Mallory" });
        for (k, v) in extra.as_object().unwrap() {
            m[k] = v.clone();
        }
        m.as_object().unwrap().clone()
    };
    // Positive control: a verified address is copied.
    let verified = session_claims(up, &claims(json!({ "email_verified": true })));
    assert_eq!(verified["email"], "ceo@victim.example");
    // Unverified, absent, or a string "true" (not the boolean): the address stays out; the
    // other configured claims still come.
    for extra in [
        json!({ "email_verified": false }),
        json!({}),
        json!({ "email_verified": "true" }),
    ] {
        let got = session_claims(up, &claims(extra.clone()));
        assert!(!got.contains_key("email"), "{extra}: {got:?}");
        assert_eq!(got["name"], "Mallory");
    }
}

#[test]
fn settings_that_would_make_every_provider_sign_in_fail_are_refused() {
    for (name, value, var) in [
        ("REFRESH_COOKIE", "off", Var::RefreshCookie),
        ("REQUIRE_DPOP", "on", Var::RequireDpop),
    ] {
        let mut v = vars();
        v.insert(name, value.into());
        assert_eq!(build(&v).unwrap_err().variable, var, "{name}={value}");
        // Without a provider the same value is fine.
        v.remove("UPSTREAM_ISSUER");
        v.remove("UPSTREAM_CLIENT_ID");
        v.remove("UPSTREAM_TOKEN_KEY");
        assert!(build(&v).is_ok(), "{name}={value} without a provider");
    }
}
