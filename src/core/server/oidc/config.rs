//! Reading and checking the OpenID provider settings (the `UPSTREAM_*` variables,
//! `ACCESS_TOKEN_SOURCE`, `PASSWORD_LOGIN`), called by [`Config::from_vars`].

use crate::core::b64;
use crate::core::server::config::{Config, ConfigError, RotationStore, Rule, Var};
use crate::core::server::http::form_decode;
use crate::core::server::oidc::{
    is_acceptable_url, AccessTokenSource, UpstreamConfig, DEFAULT_CLAIMS, DEFAULT_SCOPES,
};
use crate::core::server::secret::Secret;

fn err(v: Var, rule: Rule) -> ConfigError {
    ConfigError { variable: v, rule }
}

fn text(get: &dyn Fn(Var) -> Option<String>, v: Var) -> Option<String> {
    get(v)
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// The upstream settings; `None` without `UPSTREAM_ISSUER`.
pub fn from_vars(
    get: &dyn Fn(Var) -> Option<String>,
) -> Result<Option<UpstreamConfig>, ConfigError> {
    let Some(issuer) = text(get, Var::UpstreamIssuer) else {
        return Ok(None);
    };
    if !is_acceptable_url(&issuer) || issuer.contains('?') {
        return Err(err(
            Var::UpstreamIssuer,
            Rule::Malformed("an https URL without query (http only on a loopback host)"),
        ));
    }
    let client_id =
        text(get, Var::UpstreamClientId).ok_or(err(Var::UpstreamClientId, Rule::Missing))?;
    let client_secret = text(get, Var::UpstreamClientSecret).map(|s| Secret::new(s.into_bytes()));
    let scopes = text(get, Var::UpstreamScopes).unwrap_or_else(|| DEFAULT_SCOPES.into());
    let scopes = scopes.split_whitespace().collect::<Vec<_>>().join(" ");
    if !scopes.split(' ').any(|s| s == "openid")
        || !scopes
            .bytes()
            .all(|c| c.is_ascii_graphic() && c != b'"' && c != b'\\' || c == b' ')
    {
        return Err(err(
            Var::UpstreamScopes,
            Rule::Malformed("space-separated scopes including \"openid\""),
        ));
    }
    let mut auth_params = Vec::new();
    if let Some(raw) = text(get, Var::UpstreamAuthParams) {
        const SHAPE: Rule = Rule::Malformed("name=value pairs joined by &");
        for pair in raw.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair
                .split_once('=')
                .ok_or(err(Var::UpstreamAuthParams, SHAPE))?;
            let k = form_decode(k).map_err(|_| err(Var::UpstreamAuthParams, SHAPE))?;
            let v = form_decode(v).map_err(|_| err(Var::UpstreamAuthParams, SHAPE))?;
            if k.is_empty() {
                return Err(err(Var::UpstreamAuthParams, SHAPE));
            }
            auth_params.push((k, v));
        }
    }
    let key = text(get, Var::UpstreamTokenKey).ok_or(err(Var::UpstreamTokenKey, Rule::Missing))?;
    let key = b64::decode(&key).ok_or(err(Var::UpstreamTokenKey, Rule::NotBase64url))?;
    if key.len() != 32 {
        return Err(err(
            Var::UpstreamTokenKey,
            Rule::Malformed("32 random bytes, base64url"),
        ));
    }
    let access_token_source = match text(get, Var::AccessTokenSource).as_deref() {
        None | Some("worker") => AccessTokenSource::Worker,
        Some("upstream") => AccessTokenSource::Upstream,
        Some(_) => {
            return Err(err(
                Var::AccessTokenSource,
                Rule::NotOneOf(&["worker", "upstream"]),
            ))
        }
    };
    let post_logout_redirect = text(get, Var::UpstreamPostLogoutRedirect);
    if let Some(u) = &post_logout_redirect {
        if !is_acceptable_url(u) {
            return Err(err(
                Var::UpstreamPostLogoutRedirect,
                Rule::Malformed("an https URL (http only on a loopback host)"),
            ));
        }
    }
    let claims = text(get, Var::UpstreamClaims).unwrap_or_else(|| DEFAULT_CLAIMS.into());
    let claims: Vec<String> = claims
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(String::from)
        .collect();
    if claims.iter().any(|c| {
        crate::core::server::access::RESERVED_CLAIMS.contains(&c.as_str())
            || !c
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-.:".contains(&b))
    }) {
        return Err(err(
            Var::UpstreamClaims,
            Rule::Malformed("comma-separated claim names, none of iss sub aud iat exp nbf jti"),
        ));
    }
    Ok(Some(UpstreamConfig {
        issuer,
        client_id,
        client_secret,
        scopes,
        auth_params,
        token_key: Secret::new(key),
        access_token_source,
        post_logout_redirect,
        claims,
    }))
}

/// The settings that depend on others: `PASSWORD_LOGIN` (default on, off with a provider), and
/// `ACCESS_TOKEN_SOURCE = "upstream"` refused with the KV rotation store (KV cannot make the
/// provider's refresh single use; see docs/DESIGN.md).
pub fn finish(get: &dyn Fn(Var) -> Option<String>, cfg: &mut Config) -> Result<(), ConfigError> {
    cfg.password_login = match text(get, Var::PasswordLogin).as_deref() {
        None => cfg.upstream.is_none(),
        Some("on") => true,
        Some("off") => false,
        Some(_) => return Err(err(Var::PasswordLogin, Rule::NotOneOf(&["on", "off"]))),
    };
    if let Some(up) = &cfg.upstream {
        if up.access_token_source == AccessTokenSource::Upstream
            && cfg.rotation_store == RotationStore::Kv
        {
            return Err(err(
                Var::AccessTokenSource,
                Rule::Malformed(
                    "\"worker\" with ROTATION_STORE = \"kv\" (\"upstream\" needs \"durable-object\")",
                ),
            ));
        }
        // A provider sign-in ends in the cookie transport, and its family starts without a DPoP
        // proof (the browser's navigation carries none): both would make every sign-in fail.
        if !cfg.refresh_cookie {
            return Err(err(
                Var::RefreshCookie,
                Rule::Malformed(
                    "\"on\" with UPSTREAM_ISSUER (the provider sign-in sets the refresh cookie)",
                ),
            ));
        }
        if cfg.require_dpop {
            return Err(err(
                Var::RequireDpop,
                Rule::Malformed(
                    "\"off\" with UPSTREAM_ISSUER (a provider sign-in starts without a DPoP proof)",
                ),
            ));
        }
    }
    Ok(())
}
