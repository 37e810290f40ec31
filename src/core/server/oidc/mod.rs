//! Sign-in with an OpenID Connect provider: the Worker as a confidential (or public, PKCE-only)
//! relying party that keeps every provider token out of the browser (a token-mediating backend).
//!
//! Platform-free, like the rest of the core: the Worker adapter fetches, this module decides.
//!
//! - [`UpstreamConfig`]: the validated `UPSTREAM_*` settings (read by [`crate::core::server::config`]).
//! - [`discovery`]: the provider's metadata document and its checks.
//! - [`flow`]: `return_to`, the authorization request (state, nonce, PKCE S256), the login
//!   transaction cookie and the callback's checks; [`AuthErrorCode`] for the redirect back.
//! - [`id_token`]: the provider's keys and ID token verification.
//! - [`upstream`]: the token endpoint (requests and answers), the provider's tokens sealed at
//!   rest, and the subject and claims a session gets.
//! - [`seal`]: AES-256-GCM under `UPSTREAM_TOKEN_KEY`.

pub mod config;
pub mod discovery;
pub mod flow;
pub mod id_token;
pub mod seal;
pub mod upstream;

use crate::core::server::secret::Secret;

/// Which access token `/auth/refresh` hands out in upstream mode (`ACCESS_TOKEN_SOURCE`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AccessTokenSource {
    /// The Worker's own access tokens, as without a provider (`"worker"`, the default). The
    /// provider's refresh token is used once the provider's access token has expired, so that
    /// a grant the provider ended also ends here.
    #[default]
    Worker,
    /// The provider's access token, with its own `expires_in` (`"upstream"`).
    Upstream,
}

/// The `UPSTREAM_*` settings: present when `UPSTREAM_ISSUER` is set.
#[derive(Debug)]
pub struct UpstreamConfig {
    /// The provider's issuer (UPSTREAM_ISSUER), exactly as its discovery document states it.
    pub issuer: String,
    /// Our client id at the provider (UPSTREAM_CLIENT_ID).
    pub client_id: String,
    /// Our client secret (secret UPSTREAM_CLIENT_SECRET); `None`: a public client, PKCE alone.
    pub client_secret: Option<Secret>,
    /// Scopes asked for (UPSTREAM_SCOPES, default `openid profile email offline_access`).
    pub scopes: String,
    /// Extra authorization-request parameters, already form-encoded pairs
    /// (UPSTREAM_AUTH_PARAMS, `k=v&k2=v2`, e.g. Google's `access_type=offline`).
    pub auth_params: Vec<(String, String)>,
    /// The key sealing the provider's tokens and the transaction cookie, 32 bytes
    /// (secret UPSTREAM_TOKEN_KEY, base64url).
    pub token_key: Secret,
    /// Which access token refresh answers (ACCESS_TOKEN_SOURCE).
    pub access_token_source: AccessTokenSource,
    /// Where the provider sends the browser after RP-initiated logout
    /// (UPSTREAM_POST_LOGOUT_REDIRECT; `None`: the Worker's origin + `/`).
    pub post_logout_redirect: Option<String>,
    /// ID token claims copied into our access tokens (UPSTREAM_CLAIMS, default `email,name`).
    pub claims: Vec<String>,
}

/// Default of UPSTREAM_SCOPES.
pub const DEFAULT_SCOPES: &str = "openid profile email offline_access";
/// Default of UPSTREAM_CLAIMS.
pub const DEFAULT_CLAIMS: &str = "email,name";

/// True when `url` is `https://…`, or `http://` on a loopback host (local development).
pub fn is_acceptable_url(url: &str) -> bool {
    let rest = if let Some(r) = url.strip_prefix("https://") {
        r
    } else if let Some(r) = url.strip_prefix("http://") {
        let origin = url.splitn(4, '/').take(3).collect::<Vec<_>>().join("/");
        if !crate::core::server::config::is_loopback_origin(&origin) {
            return false;
        }
        r
    } else {
        return false;
    };
    !rest.is_empty()
        && !rest.starts_with('/')
        && url.len() <= 2048
        && !url
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '#' || c == '\\')
}
