//! The provider's metadata (`<issuer>/.well-known/openid-configuration`, OpenID Connect
//! Discovery 1.0): what we use of it, and the checks a document must pass before it is used.

use crate::core::server::oidc::is_acceptable_url;
use serde::Deserialize;

/// The discovery URL of `issuer`.
pub fn discovery_url(issuer: &str) -> String {
    format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    )
}

/// How we authenticate at the token and revocation endpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    /// `client_secret_basic` (HTTP Basic).
    Basic,
    /// `client_secret_post` (in the form), where the provider advertises only that.
    Post,
    /// No secret: a public client (`client_id` in the form, PKCE alone).
    None,
}

/// The parts of a discovery document we use, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Discovery {
    /// `issuer` (equal to UPSTREAM_ISSUER, exactly).
    pub issuer: String,
    /// `authorization_endpoint`.
    pub authorization_endpoint: String,
    /// `token_endpoint`.
    pub token_endpoint: String,
    /// `jwks_uri`.
    pub jwks_uri: String,
    /// `revocation_endpoint` (RFC 7009), when advertised.
    pub revocation_endpoint: Option<String>,
    /// `end_session_endpoint` (RP-initiated logout), when advertised.
    pub end_session_endpoint: Option<String>,
    /// `authorization_response_iss_parameter_supported` (RFC 9207).
    pub iss_parameter: bool,
    /// `token_endpoint_auth_methods_supported` (absent: `client_secret_basic`, the default).
    pub auth_methods: Vec<String>,
}

#[derive(Deserialize)]
struct Raw {
    issuer: Option<String>,
    authorization_endpoint: Option<String>,
    token_endpoint: Option<String>,
    jwks_uri: Option<String>,
    revocation_endpoint: Option<String>,
    end_session_endpoint: Option<String>,
    #[serde(default)]
    authorization_response_iss_parameter_supported: bool,
    #[serde(default)]
    token_endpoint_auth_methods_supported: Vec<String>,
    #[serde(default)]
    code_challenge_methods_supported: Option<Vec<String>>,
    #[serde(default)]
    response_types_supported: Vec<String>,
}

/// Why a discovery document is refused (logged; the client sees `temporarily_unavailable`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiscoveryError {
    /// Not JSON of the expected shape.
    Malformed,
    /// Its `issuer` is not exactly UPSTREAM_ISSUER.
    IssuerMismatch,
    /// A required endpoint is missing or not an https URL (http only on loopback).
    BadEndpoint(&'static str),
    /// The provider does not offer PKCE with S256, or the `code` response type.
    Unsupported(&'static str),
}

impl std::fmt::Display for DiscoveryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DiscoveryError::Malformed => f.write_str("discovery document is malformed"),
            DiscoveryError::IssuerMismatch => {
                f.write_str("discovery document's issuer is not UPSTREAM_ISSUER")
            }
            DiscoveryError::BadEndpoint(e) => write!(f, "discovery document's {e} is unusable"),
            DiscoveryError::Unsupported(w) => write!(f, "provider does not support {w}"),
        }
    }
}

impl Discovery {
    /// Parses and checks a discovery document fetched for `issuer`.
    pub fn parse(issuer: &str, body: &[u8]) -> Result<Discovery, DiscoveryError> {
        let raw: Raw = serde_json::from_slice(body).map_err(|_| DiscoveryError::Malformed)?;
        if raw.issuer.as_deref() != Some(issuer) {
            return Err(DiscoveryError::IssuerMismatch);
        }
        let url = |v: Option<String>, name| {
            v.filter(|u| is_acceptable_url(u))
                .ok_or(DiscoveryError::BadEndpoint(name))
        };
        let optional = |v: Option<String>, name| match v {
            None => Ok(None),
            Some(u) => url(Some(u), name).map(Some),
        };
        if let Some(methods) = &raw.code_challenge_methods_supported {
            if !methods.iter().any(|m| m == "S256") {
                return Err(DiscoveryError::Unsupported("PKCE S256"));
            }
        }
        if !raw.response_types_supported.is_empty()
            && !raw.response_types_supported.iter().any(|t| t == "code")
        {
            return Err(DiscoveryError::Unsupported("response_type=code"));
        }
        Ok(Discovery {
            issuer: issuer.to_string(),
            authorization_endpoint: url(raw.authorization_endpoint, "authorization_endpoint")?,
            token_endpoint: url(raw.token_endpoint, "token_endpoint")?,
            jwks_uri: url(raw.jwks_uri, "jwks_uri")?,
            revocation_endpoint: optional(raw.revocation_endpoint, "revocation_endpoint")?,
            end_session_endpoint: optional(raw.end_session_endpoint, "end_session_endpoint")?,
            iss_parameter: raw.authorization_response_iss_parameter_supported,
            auth_methods: raw.token_endpoint_auth_methods_supported,
        })
    }

    /// How a client with (`has_secret`) or without a secret authenticates: HTTP Basic, unless
    /// the provider lists `client_secret_post` and not `client_secret_basic`.
    pub fn client_auth(&self, has_secret: bool) -> ClientAuth {
        if !has_secret {
            return ClientAuth::None;
        }
        let lists = |m: &str| self.auth_methods.iter().any(|a| a == m);
        if !lists("client_secret_basic") && lists("client_secret_post") {
            ClientAuth::Post
        } else {
            ClientAuth::Basic
        }
    }
}
