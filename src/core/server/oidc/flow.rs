//! The browser's round trip through the provider: `GET /auth/authorize` builds the
//! authorization request and the login transaction; `GET /auth/callback` checks what comes back.
//!
//! The transaction (state, nonce, PKCE verifier, `return_to`, deadline) lives in the browser, in
//! an AES-256-GCM sealed `HttpOnly` cookie (`__Host-sr_oidc` when `Secure`) with `SameSite=Lax`:
//! the provider's redirect back is a cross-site top-level navigation, which carries Lax
//! cookies and not Strict ones. Another browser has no such cookie (or another one), so a
//! callback URL carried into it fails the `state` check; the adapter records each spent state
//! until its deadline so that a captured cookie and callback URL cannot be replayed.

use crate::core::b64;
use crate::core::server::http::form_decode;
use crate::core::server::oidc::discovery::Discovery;
use crate::core::server::oidc::seal::{open, seal, Purpose};
use crate::core::server::oidc::UpstreamConfig;
use crate::core::server::secret::constant_time_eq;
use crate::core::server::token::random_id;
use serde::{Deserialize, Serialize};

/// How long a login transaction lives (seconds).
pub const TRANSACTION_TTL: u64 = 600;
/// Longest `return_to` accepted (bytes, encoded).
pub const MAX_RETURN_TO_LEN: usize = 2048;
/// Name of the transaction cookie when `Secure`.
pub const SECURE_TX_COOKIE: &str = "__Host-sr_oidc";
/// Name of the transaction cookie on plain-http loopback (local development: `__Host-` needs
/// `Secure`).
pub const TX_COOKIE: &str = "sr_oidc";

/// The stable codes a failed sign-in reports: `?auth_error=<code>` on the redirect back to
/// `return_to`, or `auth_error` in the 400 body when no transaction names one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthErrorCode {
    /// The user (or the provider's policy) declined: the provider answered `access_denied`.
    AccessDenied,
    /// The provider answered another `error=` (`login_required`, `server_error`, …).
    ProviderError,
    /// No transaction in this browser, an expired, replayed or foreign one, or a `state` that
    /// does not match it.
    InvalidState,
    /// The `iss` of the answer is not our provider (RFC 9207: a mix-up).
    IssuerMismatch,
    /// The answer has no `code`, or it is malformed.
    InvalidCallback,
    /// The provider refused to exchange the code.
    ExchangeFailed,
    /// The ID token failed verification (signature, issuer, audience, expiry, nonce, algorithm).
    InvalidIdToken,
    /// The provider (or our store) could not be reached; trying again later may work.
    TemporarilyUnavailable,
}

impl AuthErrorCode {
    /// The code's wire string.
    pub const fn code(self) -> &'static str {
        match self {
            AuthErrorCode::AccessDenied => "access_denied",
            AuthErrorCode::ProviderError => "provider_error",
            AuthErrorCode::InvalidState => "invalid_state",
            AuthErrorCode::IssuerMismatch => "issuer_mismatch",
            AuthErrorCode::InvalidCallback => "invalid_callback",
            AuthErrorCode::ExchangeFailed => "exchange_failed",
            AuthErrorCode::InvalidIdToken => "invalid_id_token",
            AuthErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
        }
    }

    /// Every code, for the docs and tests.
    pub const ALL: [AuthErrorCode; 8] = [
        AuthErrorCode::AccessDenied,
        AuthErrorCode::ProviderError,
        AuthErrorCode::InvalidState,
        AuthErrorCode::IssuerMismatch,
        AuthErrorCode::InvalidCallback,
        AuthErrorCode::ExchangeFailed,
        AuthErrorCode::InvalidIdToken,
        AuthErrorCode::TemporarilyUnavailable,
    ];
}

fn is_safe_path(p: &str) -> bool {
    p.starts_with('/')
        && !p.starts_with("//")
        && !p.contains("//")
        && !p.contains('\\')
        && !p.contains("://")
        && !p.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Checks a `return_to`: a same-origin path that starts with one `/` and holds no `//`, no
/// backslash, no scheme, no whitespace or control character, as given and after each round
/// of percent-decoding (until decoding changes nothing; at most 4 rounds, a deeper nesting is
/// refused). `None` (absent or empty) is `/`. The answer is ASCII: a character beyond it is
/// percent-encoded (UTF-8), as a browser would, so that it can stand in a `Location` header.
pub fn check_return_to(given: Option<&str>) -> Option<String> {
    checked_return_to(given).map(|p| {
        p.bytes()
            .fold(String::with_capacity(p.len()), |mut out, b| {
                if b.is_ascii() {
                    out.push(b as char);
                } else {
                    out.push_str(&format!("%{b:02X}"));
                }
                out
            })
    })
}

fn checked_return_to(given: Option<&str>) -> Option<String> {
    let given = match given {
        None | Some("") => return Some("/".into()),
        Some(g) => g,
    };
    if given.len() > MAX_RETURN_TO_LEN {
        return None;
    }
    let mut current = given.to_string();
    for _ in 0..4 {
        if !is_safe_path(&current) {
            return None;
        }
        if !current.contains('%') {
            return Some(given.to_string());
        }
        // `+` stays `+` in a path: decode percent escapes only.
        let Ok(parts) = current
            .split('+')
            .map(form_decode)
            .collect::<Result<Vec<_>, _>>()
        else {
            // After a round of decoding, a `%` that does not start an escape is a literal one
            // (nothing decodes it further); a given value that does not decode is malformed.
            return (current != given).then(|| given.to_string());
        };
        let decoded = parts.join("+");
        if decoded == current {
            return Some(given.to_string());
        }
        current = decoded;
    }
    None
}

/// `return_to` with `auth_error=<code>` added to its query (before any fragment).
pub fn with_auth_error(return_to: &str, code: AuthErrorCode) -> String {
    let (path, fragment) = match return_to.split_once('#') {
        Some((p, f)) => (p, Some(f)),
        None => (return_to, None),
    };
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut out = format!("{path}{sep}auth_error={}", code.code());
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    out
}

/// A login in progress, kept sealed in the browser's transaction cookie.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transaction {
    /// `state` sent to the provider.
    pub state: String,
    /// `nonce` sent to the provider (the ID token must carry it).
    pub nonce: String,
    /// PKCE `code_verifier`.
    pub verifier: String,
    /// Where the browser goes afterwards (checked by [`check_return_to`]).
    pub return_to: String,
    /// Deadline (Unix s).
    pub exp: u64,
}

const TX_AAD: &[u8] = b"sr_oidc";

impl Transaction {
    /// A fresh transaction for `return_to` at `now`.
    pub fn new(return_to: String, now: u64) -> Option<Transaction> {
        Some(Transaction {
            state: random_id(32).ok()?,
            nonce: random_id(32).ok()?,
            verifier: random_id(32).ok()?,
            return_to,
            exp: now + TRANSACTION_TTL,
        })
    }

    /// The PKCE S256 `code_challenge` of the verifier.
    pub fn challenge(&self) -> String {
        b64::encode(&hmac_sha256::Hash::hash(self.verifier.as_bytes()))
    }

    /// The sealed cookie value.
    pub fn seal(&self, cfg: &UpstreamConfig) -> Option<String> {
        let json = serde_json::to_vec(self).ok()?;
        seal(&cfg.token_key, Purpose::Transaction, TX_AAD, &json)
    }

    /// Opens a cookie value; `None` when it is not ours, altered, or past its deadline.
    pub fn open(cfg: &UpstreamConfig, cookie: &str, now: u64) -> Option<Transaction> {
        let json = open(&cfg.token_key, Purpose::Transaction, TX_AAD, cookie)?;
        let tx: Transaction = serde_json::from_slice(&json).ok()?;
        (now < tx.exp).then_some(tx)
    }

    /// The `return_to` of a cookie that opens (for a failure reported before the full check).
    pub fn open_for_return(cfg: &UpstreamConfig, cookie: Option<&str>, now: u64) -> Option<String> {
        cookie
            .and_then(|c| Transaction::open(cfg, c, now))
            .map(|t| t.return_to)
    }

    /// The name under which the adapter records this transaction as spent.
    pub fn spent_key(&self) -> String {
        format!(
            "o:x:{}",
            b64::encode(&hmac_sha256::Hash::hash(self.state.as_bytes()))
        )
    }
}

/// The transaction cookie's name.
pub fn tx_cookie_name(secure: bool) -> &'static str {
    if secure {
        SECURE_TX_COOKIE
    } else {
        TX_COOKIE
    }
}

/// `Set-Cookie` carrying a transaction (`Max-Age` 0 and an empty value clear it).
pub fn set_tx_cookie(value: &str, max_age: u64, secure: bool) -> String {
    if secure {
        format!(
            "{SECURE_TX_COOKIE}={value}; Max-Age={max_age}; Path=/; HttpOnly; SameSite=Lax; Secure"
        )
    } else {
        format!("{TX_COOKIE}={value}; Max-Age={max_age}; Path=/auth; HttpOnly; SameSite=Lax")
    }
}

/// Percent-encodes a query component (RFC 3986 unreserved characters stay).
pub fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The provider's authorization URL for `tx`: `response_type=code`, our client id, the
/// redirect URI, the scopes, state, nonce, PKCE S256, `prompt=consent` when `offline_access`
/// is asked for (OpenID Connect Core §11), then UPSTREAM_AUTH_PARAMS (which cannot override
/// the parameters above).
pub fn authorization_url(
    disc: &Discovery,
    cfg: &UpstreamConfig,
    redirect_uri: &str,
    tx: &Transaction,
) -> String {
    let mut params: Vec<(&str, String)> = vec![
        ("response_type", "code".into()),
        ("client_id", cfg.client_id.clone()),
        ("redirect_uri", redirect_uri.into()),
        ("scope", cfg.scopes.clone()),
        ("state", tx.state.clone()),
        ("nonce", tx.nonce.clone()),
        ("code_challenge", tx.challenge()),
        ("code_challenge_method", "S256".into()),
    ];
    if cfg.scopes.split(' ').any(|s| s == "offline_access") {
        params.push(("prompt", "consent".into()));
    }
    for (k, v) in &cfg.auth_params {
        if !params.iter().any(|(p, _)| p == k) {
            params.push((k, v.clone()));
        }
    }
    let query = params
        .iter()
        .map(|(k, v)| format!("{}={}", encode_component(k), encode_component(v)))
        .collect::<Vec<_>>()
        .join("&");
    let sep = if disc.authorization_endpoint.contains('?') {
        '&'
    } else {
        '?'
    };
    format!("{}{sep}{query}", disc.authorization_endpoint)
}

/// The parameters of a callback request, parsed from its query.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallbackParams {
    /// `code`.
    pub code: Option<String>,
    /// `state`.
    pub state: Option<String>,
    /// `iss` (RFC 9207).
    pub iss: Option<String>,
    /// `error`.
    pub error: Option<String>,
}

impl CallbackParams {
    /// Parses a query string (without `?`); a duplicated or undecodable parameter of ours is
    /// `None` (refused as `invalid_callback`).
    pub fn parse(query: &str) -> Option<CallbackParams> {
        let mut p = CallbackParams::default();
        for pair in query.split('&').filter(|s| !s.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let slot = match k {
                "code" => &mut p.code,
                "state" => &mut p.state,
                "iss" => &mut p.iss,
                "error" => &mut p.error,
                _ => continue,
            };
            if slot.is_some() || v.len() > 4096 {
                return None;
            }
            *slot = Some(form_decode(v).ok()?);
        }
        Some(p)
    }
}

/// A callback that failed: the code, and where to send the browser (`None`: no transaction
/// names a `return_to`, so the answer is a 400).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The stable code.
    pub code: AuthErrorCode,
    /// The transaction's `return_to`, when there was a valid transaction.
    pub return_to: Option<String>,
}

/// Checks a callback before any exchange: the transaction cookie opens and is in time, `state`
/// matches it (constant time), `iss` is our provider when it advertises RFC 9207 (and whenever
/// one is sent), then the provider's `error=`, then a `code`. Answers the transaction and the
/// code. The caller must then spend the transaction (see [`Transaction::spent_key`]).
pub fn check_callback(
    cfg: &UpstreamConfig,
    disc: &Discovery,
    params: Option<CallbackParams>,
    cookie: Option<&str>,
    now: u64,
) -> Result<(Transaction, String), Failure> {
    let tx = cookie
        .and_then(|c| Transaction::open(cfg, c, now))
        .ok_or(Failure {
            code: AuthErrorCode::InvalidState,
            return_to: None,
        })?;
    let fail = |code| Failure {
        code,
        return_to: Some(tx.return_to.clone()),
    };
    let params = params.ok_or_else(|| fail(AuthErrorCode::InvalidCallback))?;
    match &params.state {
        Some(s) if constant_time_eq(s.as_bytes(), tx.state.as_bytes()) => {}
        _ => return Err(fail(AuthErrorCode::InvalidState)),
    }
    match &params.iss {
        Some(iss) if iss != &disc.issuer => return Err(fail(AuthErrorCode::IssuerMismatch)),
        None if disc.iss_parameter => return Err(fail(AuthErrorCode::IssuerMismatch)),
        _ => {}
    }
    if let Some(e) = &params.error {
        return Err(fail(if e == "access_denied" {
            AuthErrorCode::AccessDenied
        } else {
            AuthErrorCode::ProviderError
        }));
    }
    match params.code {
        Some(code) if !code.is_empty() => Ok((tx, code)),
        _ => Err(fail(AuthErrorCode::InvalidCallback)),
    }
}
