//! The provider's token endpoint (requests built here, answers judged here, sent by the
//! adapter), the provider's tokens sealed at rest, and what a session gets from an ID token:
//! its subject and claims.

use crate::core::b64;
use crate::core::server::oidc::discovery::{ClientAuth, Discovery};
use crate::core::server::oidc::flow::encode_component;
use crate::core::server::oidc::seal::{open, seal, Purpose};
use crate::core::server::oidc::UpstreamConfig;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A request for the adapter to send: always a `POST` of a form.
#[derive(Clone, PartialEq, Eq)]
pub struct FormPost {
    /// The URL.
    pub url: String,
    /// `Authorization: Basic …` when the client authenticates that way.
    pub authorization: Option<String>,
    /// The `application/x-www-form-urlencoded` body.
    pub body: String,
}

impl std::fmt::Debug for FormPost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The body carries codes, refresh tokens and maybe the client secret.
        f.debug_struct("FormPost")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

const STD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding (HTTP Basic).
fn base64_std(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let v = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(STD[((v >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode_component(k), encode_component(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// A POST to `url` with the client's authentication added (RFC 6749 §2.3.1: Basic with the
/// form-encoded id and secret; or both in the form; or, for a public client, the id alone).
pub fn client_post(
    disc: &Discovery,
    cfg: &UpstreamConfig,
    url: &str,
    pairs: &[(&str, &str)],
) -> FormPost {
    let mut pairs = pairs.to_vec();
    let secret = cfg
        .client_secret
        .as_ref()
        .map(|s| String::from_utf8_lossy(s.expose()).into_owned());
    let mut authorization = None;
    match (disc.client_auth(secret.is_some()), &secret) {
        (ClientAuth::Basic, Some(s)) => {
            let raw = format!(
                "{}:{}",
                encode_component(&cfg.client_id),
                encode_component(s)
            );
            authorization = Some(format!("Basic {}", base64_std(raw.as_bytes())));
        }
        (ClientAuth::Post, Some(s)) => {
            pairs.push(("client_id", &cfg.client_id));
            pairs.push(("client_secret", s));
            return FormPost {
                url: url.into(),
                authorization,
                body: form(&pairs),
            };
        }
        _ => pairs.push(("client_id", &cfg.client_id)),
    }
    FormPost {
        url: url.into(),
        authorization,
        body: form(&pairs),
    }
}

/// The code exchange (authorization_code grant with the PKCE verifier).
pub fn code_request(
    disc: &Discovery,
    cfg: &UpstreamConfig,
    code: &str,
    redirect_uri: &str,
    verifier: &str,
) -> FormPost {
    client_post(
        disc,
        cfg,
        &disc.token_endpoint,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier),
        ],
    )
}

/// A refresh at the provider.
pub fn refresh_request(disc: &Discovery, cfg: &UpstreamConfig, refresh_token: &str) -> FormPost {
    client_post(
        disc,
        cfg,
        &disc.token_endpoint,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ],
    )
}

/// The revocation of the provider's refresh token (RFC 7009); `None` when the provider does
/// not advertise a revocation endpoint.
pub fn revocation_request(
    disc: &Discovery,
    cfg: &UpstreamConfig,
    refresh_token: &str,
) -> Option<FormPost> {
    let url = disc.revocation_endpoint.as_deref()?;
    Some(client_post(
        disc,
        cfg,
        url,
        &[
            ("token", refresh_token),
            ("token_type_hint", "refresh_token"),
        ],
    ))
}

/// The RP-initiated logout URL (OpenID Connect RP-Initiated Logout 1.0), when the provider
/// advertises `end_session_endpoint`.
pub fn end_session_url(
    disc: &Discovery,
    cfg: &UpstreamConfig,
    id_token: Option<&str>,
    post_logout_redirect: &str,
) -> Option<String> {
    let url = disc.end_session_endpoint.as_deref()?;
    let mut pairs = vec![
        ("client_id", cfg.client_id.as_str()),
        ("post_logout_redirect_uri", post_logout_redirect),
    ];
    if let Some(t) = id_token {
        pairs.push(("id_token_hint", t));
    }
    let sep = if url.contains('?') { '&' } else { '?' };
    Some(format!("{url}{sep}{}", form(&pairs)))
}

/// The provider's answer at its token endpoint, judged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenAnswer {
    /// Tokens.
    Tokens(ProviderTokens),
    /// `invalid_grant`: the code or refresh token is dead (the grant ended at the provider).
    InvalidGrant,
    /// Another 4xx refusal (misconfiguration: wrong secret, unknown client, …).
    Refused,
    /// A 5xx, a malformed answer, or no answer: try again later.
    Unavailable,
}

/// A token response of the provider.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderTokens {
    /// `access_token`.
    pub access_token: String,
    /// `expires_in` (seconds; absent: unknown).
    #[serde(default)]
    pub expires_in: Option<u64>,
    /// `refresh_token` (absent: the provider keeps the current one, or gives none).
    #[serde(default)]
    pub refresh_token: Option<String>,
    /// `id_token`.
    #[serde(default)]
    pub id_token: Option<String>,
    /// `token_type`.
    #[serde(default)]
    pub token_type: Option<String>,
}

impl std::fmt::Debug for ProviderTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProviderTokens([redacted])")
    }
}

/// Judges the token endpoint's answer (`status`, `body`); `None` status: no answer at all.
pub fn token_answer(status: Option<u16>, body: &[u8]) -> TokenAnswer {
    let Some(status) = status else {
        return TokenAnswer::Unavailable;
    };
    match status {
        200 => match serde_json::from_slice::<ProviderTokens>(body) {
            Ok(t) if !t.access_token.is_empty() => TokenAnswer::Tokens(t),
            _ => TokenAnswer::Unavailable,
        },
        400..=499 => {
            let error = serde_json::from_slice::<Value>(body)
                .ok()
                .and_then(|v| v.get("error").and_then(Value::as_str).map(String::from));
            match error.as_deref() {
                Some("invalid_grant") => TokenAnswer::InvalidGrant,
                // Rate limited or a temporary refusal: not the grant's end.
                _ if status == 429 => TokenAnswer::Unavailable,
                Some("temporarily_unavailable") => TokenAnswer::Unavailable,
                _ => TokenAnswer::Refused,
            }
        }
        _ => TokenAnswer::Unavailable,
    }
}

/// The provider's tokens of one family, as kept (sealed) in the family record.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// The provider's refresh token, when it gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rt: Option<String>,
    /// The provider's access token.
    pub at: String,
    /// When it expires (Unix s; 0: unknown, treated as expired at the next refresh).
    pub exp: u64,
    /// The last ID token (for `id_token_hint` at logout).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idt: Option<String>,
}

impl std::fmt::Debug for Grant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Grant([redacted])")
    }
}

impl Grant {
    /// The grant a token response makes at `now`; `previous` keeps the refresh token and ID
    /// token the provider did not replace.
    pub fn from_tokens(t: &ProviderTokens, previous: Option<&Grant>, now: u64) -> Grant {
        Grant {
            rt: t
                .refresh_token
                .clone()
                .or_else(|| previous.and_then(|p| p.rt.clone())),
            at: t.access_token.clone(),
            exp: t.expires_in.map_or(0, |e| now.saturating_add(e)),
            idt: t
                .id_token
                .clone()
                .or_else(|| previous.and_then(|p| p.idt.clone())),
        }
    }

    /// Seals it for family `fam` (the family id is the associated data: a sealed grant copied
    /// to another family does not open).
    pub fn seal(&self, cfg: &UpstreamConfig, fam: &str) -> Option<String> {
        let json = serde_json::to_vec(self).ok()?;
        seal(
            &cfg.token_key,
            Purpose::UpstreamTokens,
            fam.as_bytes(),
            &json,
        )
    }

    /// Opens what [`Grant::seal`] made for `fam`.
    pub fn open(cfg: &UpstreamConfig, fam: &str, sealed: &str) -> Option<Grant> {
        let json = open(
            &cfg.token_key,
            Purpose::UpstreamTokens,
            fam.as_bytes(),
            sealed,
        )?;
        serde_json::from_slice(&json).ok()
    }

    /// Whether the provider's access token must be refreshed before `now + margin`.
    pub fn needs_refresh(&self, now: u64, margin: u64) -> bool {
        self.exp <= now.saturating_add(margin)
    }
}

/// Prefix of the subjects of provider sign-ins.
pub const SUB_PREFIX: &str = "oidc:";

/// Our subject for the provider's (`issuer`, `sub`): `oidc:` and the base64url SHA-256 of
/// `issuer`, a zero byte and `sub` (48 characters). Stable for as long as the issuer URL is,
/// distinct per provider (the same `sub` at two providers is two users), and never a password
/// user's default subject (`:` is not a username character).
pub fn subject(issuer: &str, provider_sub: &str) -> String {
    let mut input = issuer.as_bytes().to_vec();
    input.push(0);
    input.extend_from_slice(provider_sub.as_bytes());
    format!(
        "{SUB_PREFIX}{}",
        b64::encode(&hmac_sha256::Hash::hash(&input))
    )
}

/// The claims our access tokens take from an ID token: the configured names, when present as a
/// string, number or boolean (never a registered claim: those are ours). `email` and
/// `phone_number` only when the provider says it verified them (`email_verified` /
/// `phone_number_verified` is `true`): many providers let a user set an address they do not own,
/// and an API that looks users up by the address our issuer signs would hand that user another's
/// account. Resource servers key users on `sub`.
pub fn session_claims(cfg: &UpstreamConfig, id_claims: &Map<String, Value>) -> Map<String, Value> {
    cfg.claims
        .iter()
        .filter(|name| !crate::core::server::access::RESERVED_CLAIMS.contains(&name.as_str()))
        .filter(
            |name| match VERIFIED_BY.iter().find(|(claim, _)| claim == name) {
                Some((_, flag)) => id_claims.get(*flag) == Some(&Value::Bool(true)),
                None => true,
            },
        )
        .filter_map(|name| {
            let v = id_claims.get(name)?;
            (v.is_string() || v.is_number() || v.is_boolean()).then(|| (name.clone(), v.clone()))
        })
        .collect()
}

/// Claims copied only when the claim beside them says the provider verified them.
const VERIFIED_BY: [(&str, &str); 2] = [
    ("email", "email_verified"),
    ("phone_number", "phone_number_verified"),
];

/// Refresh the provider's access token when it has less than this left (seconds) and
/// `ACCESS_TOKEN_SOURCE = "upstream"` (the client gets a token that lives at least this long).
pub const UPSTREAM_REFRESH_MARGIN: u64 = 60;

/// The provider, as the rotation sees it: the adapter sends the requests of this module and
/// judges the answers with [`token_answer`]. Native tests supply a scripted one.
#[allow(async_fn_in_trait)] // single-threaded (Workers, tests)
pub trait UpstreamClient {
    /// Refreshes at the provider with its refresh token.
    async fn refresh(&self, refresh_token: &str) -> TokenAnswer;
    /// Revokes the provider's refresh token of an ended family (RFC 7009), best effort: a
    /// failure is logged by the adapter, never reported. `why`: `logout`, `revoke`, `reuse`, …
    async fn revoke(&self, grant: &Grant, why: &str);
}

/// No provider: every refresh at it is `Unavailable`, revocation does nothing. What the
/// service uses where no provider is configured.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoUpstream;

impl UpstreamClient for NoUpstream {
    async fn refresh(&self, _refresh_token: &str) -> TokenAnswer {
        TokenAnswer::Unavailable
    }
    async fn revoke(&self, _grant: &Grant, _why: &str) {}
}
