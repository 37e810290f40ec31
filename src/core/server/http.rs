//! Platform-free HTTP pieces of the server: body parsing (JSON or form, duplicates rejected),
//! the `Authorization` and `Cookie` headers, the refresh cookie, and the browser rules
//! (CSRF checks of cookie transport, CORS allow-list) of `docs/PROTOCOL.md`.
//!
//! Everything here takes strings and bytes and never panics on any input (fuzzed).

use crate::core::protocol;
use crate::core::server::config::{is_loopback_origin, Config, CookieSecure};
use crate::core::server::error::AuthError;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt;

/// Name of the refresh-token cookie.
pub const COOKIE_NAME: &str = protocol::REFRESH_COOKIE;
/// Name of the refresh-token cookie when it is `Secure`: the `__Host-` prefix makes browsers
/// refuse it unless it was set by this very host, `Secure`, with `Path=/` and no `Domain`, so a
/// sibling subdomain cannot plant or shadow it (see `docs/DESIGN.md`).
pub const SECURE_COOKIE_NAME: &str = "__Host-sr_refresh";
/// Path of the refresh-token cookie without `Secure` (loopback development only).
pub const COOKIE_PATH: &str = "/auth";
/// Name of the session-hint cookie (cookie transport): `1` while a session was last seen alive,
/// `0` after it ended. Not a secret and readable by the page, so that a signed-out page can skip
/// the refresh request that would only answer `invalid_grant`.
pub const HINT_COOKIE_NAME: &str = protocol::SESSION_HINT_COOKIE;
/// The header cookie-transport requests must carry (value `1`).
pub const CSRF_HEADER: &str = protocol::CSRF_HEADER;
/// Longest `Cookie` or `Authorization` header considered (bytes).
pub const MAX_HEADER_LEN: usize = 8 * 1024;

/// The kind of a request body, from its `Content-Type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyKind {
    /// `application/json` (charset, if any, UTF-8).
    Json,
    /// `application/x-www-form-urlencoded` (charset, if any, UTF-8).
    Form,
    /// Anything else, or no `Content-Type`.
    Other,
}

impl BodyKind {
    /// Classifies a `Content-Type` header value.
    pub fn of(content_type: Option<&str>) -> BodyKind {
        let Some(ct) = content_type else {
            return BodyKind::Other;
        };
        let mut parts = ct.split(';');
        let essence = ows(parts.next().unwrap_or("")).to_ascii_lowercase();
        for p in parts {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            if ows(k).eq_ignore_ascii_case("charset")
                && !ows(v).trim_matches('"').eq_ignore_ascii_case("utf-8")
            {
                return BodyKind::Other;
            }
        }
        match essence.as_str() {
            "application/json" => BodyKind::Json,
            "application/x-www-form-urlencoded" => BodyKind::Form,
            _ => BodyKind::Other,
        }
    }
}

/// The parameters of a request body (top-level JSON members or form fields), each name once.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Params(BTreeMap<String, Value>);

impl Params {
    /// Parses a body of `kind`. JSON must be one object; forms are strictly percent-decoded.
    /// Invalid UTF-8, syntax or a repeated name is `invalid_request`; `Other` is 415.
    pub fn parse(kind: BodyKind, body: &[u8]) -> Result<Params, AuthError> {
        match kind {
            BodyKind::Json => parse_json(body),
            BodyKind::Form => parse_form(body),
            BodyKind::Other => Err(AuthError::UnsupportedMediaType),
        }
    }

    /// A string parameter: `None` when absent (or JSON `null`), an error when of another type.
    pub fn str(&self, name: &str) -> Result<Option<&str>, AuthError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(AuthError::InvalidRequest(
                "a parameter has the wrong type (expected a string)",
            )),
        }
    }

    /// A required, non-empty string parameter.
    pub fn required(&self, name: &str, missing: &'static str) -> Result<&str, AuthError> {
        match self.str(name)? {
            Some(s) if !s.is_empty() => Ok(s),
            _ => Err(AuthError::InvalidRequest(missing)),
        }
    }

    /// An object parameter (JSON only); `None` when absent or `null`.
    pub fn object(&self, name: &str) -> Result<Option<&Map<String, Value>>, AuthError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m)),
            Some(_) => Err(AuthError::InvalidRequest(
                "a parameter has the wrong type (expected an object)",
            )),
        }
    }

    /// Parameter names present.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }
}

struct UniqueObject(BTreeMap<String, Value>);

impl<'de> serde::Deserialize<'de> for UniqueObject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = UniqueObject;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<UniqueObject, A::Error> {
                let mut out = BTreeMap::new();
                while let Some(key) = map.next_key::<String>()? {
                    let value: Value = map.next_value()?;
                    if out.insert(key, value).is_some() {
                        return Err(serde::de::Error::custom("duplicated member"));
                    }
                }
                Ok(UniqueObject(out))
            }
        }
        d.deserialize_map(V)
    }
}

fn parse_json(body: &[u8]) -> Result<Params, AuthError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| AuthError::InvalidRequest("body is not valid UTF-8"))?;
    match serde_json::from_str::<UniqueObject>(text) {
        Ok(obj) => Ok(Params(obj.0)),
        Err(e) if e.to_string().starts_with("duplicated member") => {
            Err(AuthError::InvalidRequest("duplicated parameter"))
        }
        Err(_) => Err(AuthError::InvalidRequest("body is not a JSON object")),
    }
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Decodes one `application/x-www-form-urlencoded` component strictly (`+` is a space, `%`
/// must be followed by two hex digits, the result must be UTF-8).
pub fn form_decode(s: &str) -> Result<String, AuthError> {
    const BAD: AuthError = AuthError::InvalidRequest("malformed form encoding");
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = b.get(i + 1).copied().and_then(hex).ok_or(BAD)?;
                let lo = b.get(i + 2).copied().and_then(hex).ok_or(BAD)?;
                out.push(hi << 4 | lo);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| AuthError::InvalidRequest("form field is not valid UTF-8"))
}

/// Decodes a percent-encoded path segment strictly (`%` must be followed by two hex digits,
/// the result must be UTF-8; `+` stays `+`).
pub fn percent_decode_path(s: &str) -> Result<String, AuthError> {
    if s.contains('+') {
        let parts: Result<Vec<String>, AuthError> = s.split('+').map(form_decode).collect();
        return parts.map(|p| p.join("+"));
    }
    form_decode(s)
}

fn parse_form(body: &[u8]) -> Result<Params, AuthError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| AuthError::InvalidRequest("body is not valid UTF-8"))?;
    let mut out = BTreeMap::new();
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let k = form_decode(k)?;
        if k.is_empty() {
            return Err(AuthError::InvalidRequest("malformed form encoding"));
        }
        if out.insert(k, Value::String(form_decode(v)?)).is_some() {
            return Err(AuthError::InvalidRequest("duplicated parameter"));
        }
    }
    Ok(Params(out))
}

/// The token of an `Authorization: Bearer <token>` header; `None` when absent or of another
/// scheme or shape.
pub fn bearer(authorization: Option<&str>) -> Option<&str> {
    credentials(authorization, "bearer")
}

/// The token of `Authorization: DPoP <token>` (scheme case-insensitive, token68 syntax), as
/// [`bearer`] reads `Bearer`.
pub fn dpop_token(authorization: Option<&str>) -> Option<&str> {
    credentials(authorization, "dpop")
}

fn credentials<'a>(authorization: Option<&'a str>, want_scheme: &str) -> Option<&'a str> {
    let h = authorization?;
    if h.len() > MAX_HEADER_LEN {
        return None;
    }
    let (scheme, token) = h.split_once(' ')?;
    let token = token.trim_start_matches(' ');
    let token68 = |c: u8| c.is_ascii_alphanumeric() || b"-._~+/=".contains(&c);
    (scheme.eq_ignore_ascii_case(want_scheme) && !token.is_empty() && token.bytes().all(token68))
        .then_some(token)
}

/// A header value or part without the optional whitespace of RFC 9110 around it: ASCII space
/// and tab only. Never Rust's `trim()`, which also removes Unicode spaces (U+00A0, U+2000...):
/// headers arrive decoded from bytes, and `\u{2000}__Host-sr_refresh` is another cookie's name.
pub fn ows(s: &str) -> &str {
    s.trim_matches([' ', '\t'])
}

/// True for an RFC 6265 cookie name: a non-empty RFC 9110 token (visible ASCII but separators).
pub fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c))
}

/// The value of cookie `name` in a `Cookie` header, names compared exactly (around a pair only
/// ASCII space and tab are optional; a pair whose name is not a token, such as a nameless
/// `=__Host-sr_refresh=...` or a name with a Unicode space, is ignored). A name present twice is
/// `invalid_request` (an attacker-planted cookie must not shadow the real one silently).
pub fn cookie<'a>(header: Option<&'a str>, name: &str) -> Result<Option<&'a str>, AuthError> {
    let Some(h) = header else { return Ok(None) };
    if h.len() > MAX_HEADER_LEN {
        return Err(AuthError::InvalidRequest("Cookie header too long"));
    }
    let mut found = None;
    for part in h.split(';') {
        let Some((k, v)) = part.split_once('=') else {
            continue;
        };
        let k = ows(k);
        if !is_token(k) || k != name {
            continue;
        }
        if found.is_some() {
            return Err(AuthError::InvalidRequest("duplicated cookie"));
        }
        let v = ows(v);
        found = Some(
            v.strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v),
        );
    }
    Ok(found)
}

/// The origin (`scheme://host[:port]`) of an absolute URL.
pub fn origin_of(url: &str) -> Option<&str> {
    let (scheme, rest) = url.split_once("://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    Some(&url[..scheme.len() + 3 + end])
}

/// The path of an absolute URL (without query or fragment; `/` when empty), as sent: still
/// percent-encoded.
pub fn path_of(url: &str) -> &str {
    let rest = match url.split_once("://") {
        Some((_, rest)) => rest,
        None => return "/",
    };
    let start = match rest.find(['/', '?', '#']) {
        Some(i) if rest.as_bytes()[i] == b'/' => i,
        _ => return "/",
    };
    let path = &rest[start..];
    &path[..path.find(['?', '#']).unwrap_or(path.len())]
}

/// What a request says about where it comes from.
#[derive(Clone, Copy, Debug, Default)]
pub struct Provenance<'a> {
    /// The request's own origin (from its URL).
    pub self_origin: &'a str,
    /// The `Origin` header.
    pub origin: Option<&'a str>,
    /// The `Sec-Fetch-Site` header.
    pub sec_fetch_site: Option<&'a str>,
    /// The `X-Silent-Refresh` header.
    pub csrf_header: Option<&'a str>,
}

impl Provenance<'_> {
    /// True when an `Origin` is present, not our own and not allow-listed.
    pub fn foreign_origin(&self, config: &Config) -> bool {
        match self.origin {
            None => false,
            Some(o) => o != self.self_origin && !config.allowed_origins.iter().any(|a| a == o),
        }
    }

    /// The CSRF rules of cookie transport: `X-Silent-Refresh: 1`, not cross-site, and an
    /// `Origin` (when sent) that is ours or allow-listed.
    pub fn check_cookie_request(&self, config: &Config) -> Result<(), AuthError> {
        if !config.refresh_cookie {
            return Err(AuthError::InvalidRequest("cookie transport is disabled"));
        }
        if self.csrf_header.map(ows) != Some("1") {
            return Err(AuthError::ForbiddenOrigin(
                "cookie transport requires the header X-Silent-Refresh: 1",
            ));
        }
        if self.sec_fetch_site.is_some_and(|s| {
            // Only the values a browser sends that are not cross-site pass; anything else
            // (cross-site, or a value no browser sends) is refused.
            !["same-origin", "same-site", "none"]
                .iter()
                .any(|ok| ows(s).eq_ignore_ascii_case(ok))
        }) {
            return Err(AuthError::ForbiddenOrigin(
                "cookie transport refuses cross-site requests",
            ));
        }
        if self.foreign_origin(config) {
            return Err(AuthError::ForbiddenOrigin("origin not allowed"));
        }
        Ok(())
    }
}

/// CORS headers for a response to `origin` when it is allow-listed (never `*`).
pub fn cors_headers(origin: Option<&str>, config: &Config) -> Vec<(&'static str, String)> {
    match origin {
        Some(o) if config.allowed_origins.iter().any(|a| a == o) => vec![
            ("Access-Control-Allow-Origin", o.to_string()),
            (
                "Access-Control-Expose-Headers",
                "Retry-After, WWW-Authenticate".into(),
            ),
            ("Vary", "Origin".into()),
        ],
        _ => vec![("Vary", "Origin".into())],
    }
}

/// Extra headers of a successful CORS preflight.
pub fn preflight_headers(allow_methods: &str) -> Vec<(&'static str, String)> {
    vec![
        ("Access-Control-Allow-Methods", allow_methods.to_string()),
        (
            "Access-Control-Allow-Headers",
            "Authorization, Content-Type, DPoP, X-Silent-Refresh".into(),
        ),
        ("Access-Control-Max-Age", "600".into()),
    ]
}

fn is_loopback_http(self_origin: &str) -> bool {
    self_origin.starts_with("http://") && is_loopback_origin(self_origin)
}

/// Whether the cookie gets `Secure` for a request to `self_origin`.
pub fn cookie_secure(config: &Config, self_origin: &str) -> bool {
    match config.cookie_secure {
        CookieSecure::Always => true,
        // `never` is for local development: a request to any other host still gets `Secure`.
        CookieSecure::Never => !is_loopback_origin(self_origin),
        CookieSecure::Auto => !is_loopback_http(self_origin),
    }
}

/// The name of the refresh cookie: [`SECURE_COOKIE_NAME`] when `Secure`, else [`COOKIE_NAME`].
pub fn refresh_cookie_name(secure: bool) -> &'static str {
    if secure {
        SECURE_COOKIE_NAME
    } else {
        COOKIE_NAME
    }
}

/// The `Set-Cookie` value carrying a refresh token: `__Host-sr_refresh` on `Path=/` when
/// `Secure`, `sr_refresh` on `Path=/auth` otherwise.
pub fn set_refresh_cookie(token: &str, max_age: u64, secure: bool) -> String {
    if secure {
        format!("{SECURE_COOKIE_NAME}={token}; Max-Age={max_age}; Path=/; HttpOnly; SameSite=Strict; Secure")
    } else {
        format!("{COOKIE_NAME}={token}; Max-Age={max_age}; Path={COOKIE_PATH}; HttpOnly; SameSite=Strict")
    }
}

/// The `Set-Cookie` value that clears the refresh cookie.
pub fn clear_refresh_cookie(secure: bool) -> String {
    set_refresh_cookie("", 0, secure)
}

/// The `Set-Cookie` value that clears an unprefixed `sr_refresh` this host set on `/auth`
/// (sent when a `Secure` deployment receives one: it is never used there).
pub fn clear_unprefixed_cookie() -> String {
    format!("{COOKIE_NAME}=; Max-Age=0; Path={COOKIE_PATH}; HttpOnly; SameSite=Strict; Secure")
}

/// The `Set-Cookie` value of the session hint ([`HINT_COOKIE_NAME`]): on the whole site (the page
/// reads it), not `HttpOnly`, carrying no token.
pub fn session_hint_cookie(alive: bool, max_age: u64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    let value = if alive { 1 } else { 0 };
    format!("{HINT_COOKIE_NAME}={value}; Max-Age={max_age}; Path=/; SameSite=Strict{secure}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_kinds() {
        assert_eq!(BodyKind::of(Some("application/json")), BodyKind::Json);
        assert_eq!(
            BodyKind::of(Some("Application/JSON; charset=UTF-8")),
            BodyKind::Json
        );
        assert_eq!(
            BodyKind::of(Some("application/json; charset=latin1")),
            BodyKind::Other
        );
        assert_eq!(
            BodyKind::of(Some("application/x-www-form-urlencoded")),
            BodyKind::Form
        );
        assert_eq!(BodyKind::of(Some("text/plain")), BodyKind::Other);
        assert_eq!(BodyKind::of(None), BodyKind::Other);
    }

    #[test]
    fn json_bodies() {
        let p = Params::parse(BodyKind::Json, br#"{"a":"x","b":1,"c":null}"#).unwrap();
        assert_eq!(p.str("a").unwrap(), Some("x"));
        assert!(p.str("b").is_err());
        assert_eq!(p.str("c").unwrap(), None);
        assert_eq!(p.str("d").unwrap(), None);
        for bad in [
            &b"{\"a\":1,\"a\":2}"[..],
            b"[1]",
            b"",
            b"{",
            b"\xff",
            b"\"s\"",
            b"{} x",
        ] {
            assert!(
                matches!(
                    Params::parse(BodyKind::Json, bad),
                    Err(AuthError::InvalidRequest(_))
                ),
                "{bad:?}"
            );
        }
        assert_eq!(
            Params::parse(BodyKind::Json, br#"{"a":1,"a":2}"#),
            Err(AuthError::InvalidRequest("duplicated parameter"))
        );
    }

    #[test]
    fn form_bodies() {
        let p = Params::parse(
            BodyKind::Form,
            b"grant_type=refresh_token&refresh_token=a%2Bb+c&&e",
        )
        .unwrap();
        assert_eq!(p.str("grant_type").unwrap(), Some("refresh_token"));
        assert_eq!(p.str("refresh_token").unwrap(), Some("a+b c"));
        assert_eq!(p.str("e").unwrap(), Some(""));
        for bad in [
            &b"a=1&a=2"[..],
            b"a=%zz",
            b"a=%4",
            b"a=%ff",
            b"=x",
            b"\xff=1",
        ] {
            assert!(
                matches!(
                    Params::parse(BodyKind::Form, bad),
                    Err(AuthError::InvalidRequest(_))
                ),
                "{bad:?}"
            );
        }
        assert_eq!(
            Params::parse(BodyKind::Other, b"x"),
            Err(AuthError::UnsupportedMediaType)
        );
    }

    #[test]
    fn headers() {
        assert_eq!(bearer(Some("Bearer abc.def-_")), Some("abc.def-_"));
        assert_eq!(bearer(Some("bearer x")), Some("x"));
        assert_eq!(bearer(Some("Basic x")), None);
        assert_eq!(bearer(Some("Bearer a b")), None);
        assert_eq!(bearer(Some("Bearer ")), None);
        assert_eq!(
            cookie(Some("a=1; sr_refresh=tok; b=2"), COOKIE_NAME).unwrap(),
            Some("tok")
        );
        assert_eq!(cookie(Some("a=1"), COOKIE_NAME).unwrap(), None);
        assert!(cookie(Some("sr_refresh=1; sr_refresh=2"), COOKIE_NAME).is_err());
        assert_eq!(
            session_hint_cookie(true, 60, true),
            "sr_session=1; Max-Age=60; Path=/; SameSite=Strict; Secure"
        );
        assert_eq!(
            session_hint_cookie(false, 600, false),
            "sr_session=0; Max-Age=600; Path=/; SameSite=Strict"
        );
        assert_eq!(
            origin_of("http://127.0.0.1:8787/auth/x?y"),
            Some("http://127.0.0.1:8787")
        );
        assert_eq!(path_of("http://127.0.0.1:8787/auth/x?y=/z#f"), "/auth/x");
        assert_eq!(path_of("https://h/auth/users/a%2Fb"), "/auth/users/a%2Fb");
        assert_eq!(path_of("https://h"), "/");
        assert_eq!(path_of("https://h?q=/a"), "/");
        assert_eq!(path_of("https://h#/a"), "/");
        assert_eq!(path_of("no-scheme/a"), "/");
        assert!(is_loopback_http("http://127.0.0.1:8787") && is_loopback_http("http://localhost"));
        assert!(!is_loopback_http("https://127.0.0.1") && !is_loopback_http("http://example.com"));
    }
}
