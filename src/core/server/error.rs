//! The server's error type: every failure a client can see, with its stable code and status.
//!
//! Codes and statuses are the ones of `docs/PROTOCOL.md`. Descriptions are fixed, generic texts:
//! they never contain a token, a password, a key or any other input.

use crate::core::protocol;
use crate::core::server::config::ConfigError;
use crate::core::server::dpop::{DpopError, ALGS_PARAM};
use crate::core::server::store::StoreError;
use std::fmt;

/// Seconds a client is asked to wait after `temporarily_unavailable`.
pub const RETRY_AFTER_SECONDS: u64 = 2;

/// A failure of a server operation, as the client sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthError {
    /// 400: a missing, duplicated or malformed parameter (the text says which, never its value).
    InvalidRequest(&'static str),
    /// 400: a `grant_type` other than `refresh_token`.
    UnsupportedGrantType,
    /// 400: unknown, expired, idle-expired, revoked or reused refresh token.
    InvalidGrant,
    /// 401: wrong username or password.
    InvalidCredentials,
    /// 401: a bad access token at a resource.
    InvalidToken,
    /// 400: a missing or invalid DPoP proof at the token endpoints (login, sessions, refresh).
    InvalidDpopProof(DpopError),
    /// 401: a missing or invalid DPoP proof with a DPoP access token at a resource; with
    /// `WWW-Authenticate: DPoP error="invalid_dpop_proof"`.
    ResourceDpopProof(DpopError),
    /// 401: an access token refused for its binding: a DPoP-bound token presented as Bearer, a
    /// Bearer token presented as DPoP, or a proof by another key; with
    /// `WWW-Authenticate: DPoP error="invalid_token"`.
    DpopBinding,
    /// 401: an admin endpoint without the admin token.
    Unauthorized,
    /// 403: cookie transport from a cross-site context or without `X-Silent-Refresh`.
    ForbiddenOrigin(&'static str),
    /// 404: unknown path.
    NotFound,
    /// 405: wrong method; the value is the `Allow` header.
    MethodNotAllowed(String),
    /// 404: the user named by an admin request does not exist.
    NoSuchUser,
    /// 409: the user to create exists already.
    UserExists,
    /// 413: body over the limit.
    PayloadTooLarge,
    /// 415: body neither JSON nor form where one is required.
    UnsupportedMediaType,
    /// 429: too many login attempts for the account or from the address; retry after the
    /// given number of seconds. No password was checked.
    TooManyAttempts(u64),
    /// 429: too many calls for one subject's rotation state (strict mode's per-route limit);
    /// retry after the given number of seconds. Nothing was done.
    TooManyRequests(u64),
    /// 503: the store failed or was rate limited; nothing was issued.
    TemporarilyUnavailable,
    /// 500: an internal failure that no request input can cause.
    ServerError(&'static str),
    /// 503: the deployment is misconfigured (a variable, a secret or a binding); the body and
    /// the log name the part (never a value). Nothing a client can do fixes it.
    Misconfigured(Misconfig),
}

/// What is misconfigured: a variable or secret breaking a rule, or a missing binding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Misconfig {
    /// A variable or secret breaks a rule (`Display` names it, never its value).
    Config(ConfigError),
    /// A binding of `wrangler.toml` (KV namespace or Durable Object) is absent.
    Binding(&'static str),
    /// The subject's rotation object refused its configuration (its own log says why).
    Object,
}

impl fmt::Display for Misconfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Misconfig::Config(e) => write!(f, "{e}"),
            Misconfig::Binding(name) => write!(f, "binding {name} is missing"),
            Misconfig::Object => f.write_str("the rotation object refused its configuration"),
        }
    }
}

impl AuthError {
    /// The stable `error` code of the response body.
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::InvalidRequest(_) => "invalid_request",
            AuthError::UnsupportedGrantType => "unsupported_grant_type",
            AuthError::InvalidGrant => protocol::INVALID_GRANT,
            AuthError::InvalidCredentials => "invalid_credentials",
            AuthError::InvalidToken | AuthError::DpopBinding => "invalid_token",
            AuthError::InvalidDpopProof(_) | AuthError::ResourceDpopProof(_) => {
                protocol::INVALID_DPOP_PROOF
            }
            AuthError::Unauthorized => "unauthorized",
            AuthError::ForbiddenOrigin(_) => "forbidden_origin",
            AuthError::NotFound => "not_found",
            AuthError::MethodNotAllowed(_) => "method_not_allowed",
            AuthError::NoSuchUser => "no_such_user",
            AuthError::UserExists => "user_exists",
            AuthError::PayloadTooLarge => "payload_too_large",
            AuthError::UnsupportedMediaType => "unsupported_media_type",
            AuthError::TooManyAttempts(_) => "too_many_attempts",
            AuthError::TooManyRequests(_) => "too_many_requests",
            AuthError::TemporarilyUnavailable => protocol::TEMPORARILY_UNAVAILABLE,
            AuthError::ServerError(_) => "server_error",
            AuthError::Misconfigured(_) => "server_misconfigured",
        }
    }

    /// The HTTP status of the response.
    pub fn status(&self) -> u16 {
        match self {
            AuthError::InvalidRequest(_)
            | AuthError::UnsupportedGrantType
            | AuthError::InvalidGrant
            | AuthError::InvalidDpopProof(_) => 400,
            AuthError::InvalidCredentials
            | AuthError::InvalidToken
            | AuthError::Unauthorized
            | AuthError::ResourceDpopProof(_)
            | AuthError::DpopBinding => 401,
            AuthError::ForbiddenOrigin(_) => 403,
            AuthError::NotFound | AuthError::NoSuchUser => 404,
            AuthError::MethodNotAllowed(_) => 405,
            AuthError::UserExists => 409,
            AuthError::PayloadTooLarge => 413,
            AuthError::UnsupportedMediaType => 415,
            AuthError::TooManyAttempts(_) | AuthError::TooManyRequests(_) => 429,
            AuthError::TemporarilyUnavailable | AuthError::Misconfigured(_) => 503,
            AuthError::ServerError(_) => 500,
        }
    }

    /// The human-readable `error_description`: fixed text, never echoing input.
    pub fn description(&self) -> &'static str {
        match self {
            AuthError::InvalidRequest(what) => what,
            AuthError::UnsupportedGrantType => "only grant_type=refresh_token is supported",
            AuthError::InvalidGrant => "the refresh token is invalid, expired or revoked",
            AuthError::InvalidCredentials => "wrong username or password",
            AuthError::InvalidToken => "the access token is missing, invalid or expired",
            AuthError::InvalidDpopProof(why) | AuthError::ResourceDpopProof(why) => {
                why.description()
            }
            AuthError::DpopBinding => {
                "the access token's DPoP binding does not match how it was presented"
            }
            AuthError::Unauthorized => "the admin token is missing or wrong",
            AuthError::ForbiddenOrigin(why) => why,
            AuthError::NotFound => "no such endpoint",
            AuthError::MethodNotAllowed(_) => "method not allowed for this endpoint",
            AuthError::NoSuchUser => "no user with this username",
            AuthError::UserExists => "a user with this username exists already",
            AuthError::PayloadTooLarge => "the request body is too large",
            AuthError::UnsupportedMediaType => {
                "the body must be application/json or application/x-www-form-urlencoded"
            }
            AuthError::TooManyAttempts(_) => {
                "too many login attempts; retry after the time in Retry-After"
            }
            AuthError::TooManyRequests(_) => {
                "too many requests for this session's state; retry after the time in Retry-After"
            }
            AuthError::TemporarilyUnavailable => "storage is temporarily unavailable; retry later",
            AuthError::ServerError(_) => "internal server error",
            AuthError::Misconfigured(_) => "the server is misconfigured",
        }
    }

    /// Extra response headers this error requires (`Allow`, `Retry-After`, `WWW-Authenticate`).
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        match self {
            AuthError::MethodNotAllowed(allow) => vec![("Allow", allow.clone())],
            AuthError::TemporarilyUnavailable => {
                vec![("Retry-After", RETRY_AFTER_SECONDS.to_string())]
            }
            AuthError::TooManyAttempts(seconds) | AuthError::TooManyRequests(seconds) => {
                vec![("Retry-After", seconds.to_string())]
            }
            // Both schemes the resources take (RFC 9449 §7.1): a Bearer client learns that it
            // may bind its tokens, and with which algorithms.
            AuthError::InvalidToken => {
                vec![(
                    "WWW-Authenticate",
                    format!(r#"Bearer error="invalid_token", DPoP algs="{ALGS_PARAM}""#),
                )]
            }
            AuthError::ResourceDpopProof(_) | AuthError::DpopBinding => {
                vec![(
                    "WWW-Authenticate",
                    format!(
                        r#"DPoP error="{}", error_description="{}", algs="{ALGS_PARAM}""#,
                        self.code(),
                        self.description()
                    ),
                )]
            }
            _ => Vec::new(),
        }
    }

    /// The JSON body `{"error","error_description"}` (RFC 6749 §5.2 shape).
    pub fn body(&self) -> String {
        let description = match self {
            // The part at fault (a variable's or binding's name and the rule, never a value),
            // so that whoever deployed it sees what to fix.
            AuthError::Misconfigured(what) => format!("the server is misconfigured: {what}"),
            _ => self.description().to_string(),
        };
        serde_json::json!({ "error": self.code(), "error_description": description }).to_string()
    }
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthError::ServerError(detail) => write!(f, "server_error: {detail}"),
            AuthError::Misconfigured(what) => write!(f, "server_misconfigured: {what}"),
            other => write!(f, "{}: {}", other.code(), other.description()),
        }
    }
}

impl std::error::Error for AuthError {}

impl From<StoreError> for AuthError {
    fn from(_: StoreError) -> Self {
        AuthError::TemporarilyUnavailable
    }
}
