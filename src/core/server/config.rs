//! The server's configuration: a plain struct, read once from Worker vars and secrets by
//! [`Config::from_vars`] and validated; a bad config fails loudly with a [`ConfigError`] naming
//! the variable and the rule it breaks (never a secret's value).

use crate::core::b64;
use crate::core::server::access::{KeySet, KeySetError};
use crate::core::server::identity::is_valid_username;
use crate::core::server::password::{MAX_ITERATIONS, PBKDF2_STEP};
use crate::core::server::secret::Secret;
use std::fmt;

/// A variable (Worker var or secret) the configuration reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Var {
    /// `ISSUER`.
    Issuer,
    /// `AUDIENCE`.
    Audience,
    /// `ACCESS_TTL_SECONDS`.
    AccessTtlSeconds,
    /// `REFRESH_IDLE_SECONDS`.
    RefreshIdleSeconds,
    /// `REFRESH_ABSOLUTE_SECONDS`.
    RefreshAbsoluteSeconds,
    /// `GRACE_SECONDS`.
    GraceSeconds,
    /// `LEEWAY_SECONDS`.
    LeewaySeconds,
    /// `ALLOWED_ORIGINS`.
    AllowedOrigins,
    /// `REFRESH_COOKIE`.
    RefreshCookie,
    /// `COOKIE_SECURE`.
    CookieSecure,
    /// `MAX_BODY_BYTES`.
    MaxBodyBytes,
    /// `PBKDF2_ITERATIONS`.
    Pbkdf2Iterations,
    /// `SIGNING_KEYS` (secret).
    SigningKeys,
    /// `REFRESH_SECRET` (secret).
    RefreshSecret,
    /// `ADMIN_TOKEN` (secret).
    AdminToken,
    /// `DEMO_USER` (secret).
    DemoUser,
    /// `ROTATION_STORE`.
    RotationStore,
    /// `ROTATION_LOCATION_HINT`.
    RotationLocationHint,
    /// `ROTATION_STORE_PREVIOUS`.
    RotationStorePrevious,
    /// `PASSWORD_PEPPER` (secret).
    PasswordPepper,
    /// `REQUIRE_DPOP`.
    RequireDpop,
    /// `SESSIONS_NOT_BEFORE`.
    SessionsNotBefore,
    /// `ROUTE_RATE_LIMIT`.
    RouteRateLimit,
    // --- sign-in with an OpenID provider (src/core/server/oidc) ---
    /// `UPSTREAM_ISSUER`.
    UpstreamIssuer,
    /// `UPSTREAM_CLIENT_ID`.
    UpstreamClientId,
    /// `UPSTREAM_CLIENT_SECRET` (secret).
    UpstreamClientSecret,
    /// `UPSTREAM_SCOPES`.
    UpstreamScopes,
    /// `UPSTREAM_AUTH_PARAMS`.
    UpstreamAuthParams,
    /// `UPSTREAM_TOKEN_KEY` (secret).
    UpstreamTokenKey,
    /// `UPSTREAM_POST_LOGOUT_REDIRECT`.
    UpstreamPostLogoutRedirect,
    /// `UPSTREAM_CLAIMS`.
    UpstreamClaims,
    /// `ACCESS_TOKEN_SOURCE`.
    AccessTokenSource,
    /// `PASSWORD_LOGIN`.
    PasswordLogin,
}

impl Var {
    /// Every variable the configuration reads (the preflight's list of known names).
    pub const ALL: &'static [Var] = &[
        Var::Issuer,
        Var::Audience,
        Var::AccessTtlSeconds,
        Var::RefreshIdleSeconds,
        Var::RefreshAbsoluteSeconds,
        Var::GraceSeconds,
        Var::LeewaySeconds,
        Var::AllowedOrigins,
        Var::RefreshCookie,
        Var::CookieSecure,
        Var::MaxBodyBytes,
        Var::Pbkdf2Iterations,
        Var::SigningKeys,
        Var::RefreshSecret,
        Var::AdminToken,
        Var::DemoUser,
        Var::RotationStore,
        Var::RotationLocationHint,
        Var::RotationStorePrevious,
        Var::PasswordPepper,
        Var::RequireDpop,
        Var::SessionsNotBefore,
        Var::RouteRateLimit,
        Var::UpstreamIssuer,
        Var::UpstreamClientId,
        Var::UpstreamClientSecret,
        Var::UpstreamScopes,
        Var::UpstreamAuthParams,
        Var::UpstreamTokenKey,
        Var::UpstreamPostLogoutRedirect,
        Var::UpstreamClaims,
        Var::AccessTokenSource,
        Var::PasswordLogin,
    ];

    /// True for the secrets (`wrangler secret`), which must never be a plain-text `[vars]` entry.
    pub const fn is_secret(self) -> bool {
        matches!(
            self,
            Var::SigningKeys
                | Var::RefreshSecret
                | Var::AdminToken
                | Var::DemoUser
                | Var::PasswordPepper
                | Var::UpstreamClientSecret
                | Var::UpstreamTokenKey
        )
    }

    /// The variable called `name`, if the configuration reads one.
    pub fn of_name(name: &str) -> Option<Var> {
        Var::ALL.iter().copied().find(|v| v.name() == name)
    }

    /// The variable's name in `wrangler.toml` / `wrangler secret put`.
    pub const fn name(self) -> &'static str {
        match self {
            Var::Issuer => "ISSUER",
            Var::Audience => "AUDIENCE",
            Var::AccessTtlSeconds => "ACCESS_TTL_SECONDS",
            Var::RefreshIdleSeconds => "REFRESH_IDLE_SECONDS",
            Var::RefreshAbsoluteSeconds => "REFRESH_ABSOLUTE_SECONDS",
            Var::GraceSeconds => "GRACE_SECONDS",
            Var::LeewaySeconds => "LEEWAY_SECONDS",
            Var::AllowedOrigins => "ALLOWED_ORIGINS",
            Var::RefreshCookie => "REFRESH_COOKIE",
            Var::CookieSecure => "COOKIE_SECURE",
            Var::MaxBodyBytes => "MAX_BODY_BYTES",
            Var::Pbkdf2Iterations => "PBKDF2_ITERATIONS",
            Var::SigningKeys => "SIGNING_KEYS",
            Var::RefreshSecret => "REFRESH_SECRET",
            Var::AdminToken => "ADMIN_TOKEN",
            Var::DemoUser => "DEMO_USER",
            Var::RotationStore => "ROTATION_STORE",
            Var::RotationLocationHint => "ROTATION_LOCATION_HINT",
            Var::RotationStorePrevious => "ROTATION_STORE_PREVIOUS",
            Var::PasswordPepper => "PASSWORD_PEPPER",
            Var::RequireDpop => "REQUIRE_DPOP",
            Var::SessionsNotBefore => "SESSIONS_NOT_BEFORE",
            Var::RouteRateLimit => "ROUTE_RATE_LIMIT",
            Var::UpstreamIssuer => "UPSTREAM_ISSUER",
            Var::UpstreamClientId => "UPSTREAM_CLIENT_ID",
            Var::UpstreamClientSecret => "UPSTREAM_CLIENT_SECRET",
            Var::UpstreamScopes => "UPSTREAM_SCOPES",
            Var::UpstreamAuthParams => "UPSTREAM_AUTH_PARAMS",
            Var::UpstreamTokenKey => "UPSTREAM_TOKEN_KEY",
            Var::UpstreamPostLogoutRedirect => "UPSTREAM_POST_LOGOUT_REDIRECT",
            Var::UpstreamClaims => "UPSTREAM_CLAIMS",
            Var::AccessTokenSource => "ACCESS_TOKEN_SOURCE",
            Var::PasswordLogin => "PASSWORD_LOGIN",
        }
    }
}

/// The rule a variable breaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    /// Required but not set.
    Missing,
    /// Set but empty.
    Empty,
    /// Not a non-negative integer.
    NotAnInteger,
    /// Outside `min..=max`.
    OutOfRange {
        /// Smallest accepted value.
        min: u64,
        /// Largest accepted value.
        max: u64,
    },
    /// Must be at least the value of another variable.
    BelowOther(Var),
    /// Must be below the value of another variable.
    NotBelowOther(Var),
    /// Not one of the listed words.
    NotOneOf(&'static [&'static str]),
    /// Not base64url without padding.
    NotBase64url,
    /// Shorter than `min` bytes.
    TooShort {
        /// Shortest accepted length in bytes.
        min: usize,
    },
    /// The entry at `index` of the comma-separated list is not an origin like
    /// `https://app.example` (no `*`, no path).
    NotAnOrigin {
        /// Position in the list.
        index: usize,
    },
    /// Not `username:password` with a valid username and a non-empty password.
    NotUserColonPassword,
    /// A secret that looks typed or patterned rather than random: fewer than `min` distinct
    /// byte values.
    LowEntropy {
        /// Fewest distinct byte values accepted.
        min: usize,
    },
    /// Only allowed when `ISSUER` is a loopback origin (local development).
    OnlyOnLoopback,
    /// The signing keys are unusable.
    Keys(KeySetError),
    /// Not of the documented shape; the text says which (OpenID provider settings).
    Malformed(&'static str),
}

/// A broken configuration: which variable, which rule. `Display` is the log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The variable at fault.
    pub variable: Var,
    /// The rule it breaks.
    pub rule: Rule,
}

impl ConfigError {
    fn new(variable: Var, rule: Rule) -> Self {
        ConfigError { variable, rule }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ", self.variable.name())?;
        match self.rule {
            Rule::Missing => f.write_str("is not set"),
            Rule::Empty => f.write_str("must not be empty"),
            Rule::NotAnInteger => f.write_str("must be a non-negative integer"),
            Rule::OutOfRange { min, max } => write!(f, "must be between {min} and {max}"),
            Rule::BelowOther(v) => write!(f, "must be at least {}", v.name()),
            Rule::NotBelowOther(v) => write!(f, "must be below {}", v.name()),
            Rule::NotOneOf(words) => write!(f, "must be one of {}", words.join(", ")),
            Rule::NotBase64url => f.write_str("must be base64url without padding"),
            Rule::TooShort { min } => write!(f, "must be at least {min} bytes"),
            Rule::NotAnOrigin { index } => write!(
                f,
                "entry {index} is not an origin like https://app.example (no \"*\", no path)"
            ),
            Rule::NotUserColonPassword => {
                f.write_str("must be \"username:password\" with a valid username")
            }
            Rule::LowEntropy { min } => write!(
                f,
                "looks low-entropy (fewer than {min} distinct bytes): generate it randomly"
            ),
            Rule::OnlyOnLoopback => {
                f.write_str("is refused unless ISSUER is a loopback origin (local development)")
            }
            Rule::Keys(e) => write!(f, "{e}"),
            Rule::Malformed(what) => write!(f, "must be {what}"),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Whether the refresh cookie carries `Secure`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CookieSecure {
    /// `Secure` unless the request came over plain http to a loopback host (local development).
    #[default]
    Auto,
    /// Always `Secure`.
    Always,
    /// Never `Secure`: refused unless `ISSUER` is a loopback origin, and even then a request
    /// to a host that is not loopback still gets `Secure` (local development only).
    Never,
}

/// Where the rotation state (families, token records, revocations, epochs) lives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RotationStore {
    /// In Workers KV, beside the users: eventually consistent across locations (`"kv"`; the
    /// in-memory default of `Config::default()`, which native tests build on).
    #[default]
    Kv,
    /// In one Durable Object per subject: strict single use everywhere (`"durable-object"`,
    /// the default of a deployment, `Config::from_vars`: the faster and cheaper store, see
    /// `make cost` and `make bench`).
    /// Refresh tokens then begin with their subject's route (see `token::ROUTE_LEN`).
    DurableObject,
}

/// The demo user seeded on its first login attempt (local development only).
#[derive(Clone, Debug)]
pub struct DemoUser {
    /// Username.
    pub username: String,
    /// Password.
    pub password: Secret,
}

/// Settings and secrets of the server.
#[derive(Debug)]
pub struct Config {
    /// `iss` of access tokens (var ISSUER).
    pub issuer: String,
    /// `aud` of access tokens (var AUDIENCE).
    pub audience: String,
    /// Access-token lifetime, seconds (ACCESS_TTL_SECONDS, default 900).
    pub access_ttl: u64,
    /// Idle lifetime of a refresh token, seconds (REFRESH_IDLE_SECONDS, default 7 days).
    pub refresh_idle: u64,
    /// Absolute lifetime of a family, seconds (REFRESH_ABSOLUTE_SECONDS, default 30 days).
    pub refresh_absolute: u64,
    /// Grace window for replaying the immediate predecessor, seconds (GRACE_SECONDS, default 10).
    pub grace: u64,
    /// Clock skew tolerated when verifying access tokens, seconds (LEEWAY_SECONDS, default 30).
    pub leeway: u64,
    /// Origins allowed for CORS and for cookie-mode requests (ALLOWED_ORIGINS, comma-separated).
    pub allowed_origins: Vec<String>,
    /// Whether cookie transport is offered (REFRESH_COOKIE on/off, default on).
    pub refresh_cookie: bool,
    /// `Secure` attribute policy of the cookie (COOKIE_SECURE auto/always/never).
    pub cookie_secure: CookieSecure,
    /// Largest accepted request body in bytes (MAX_BODY_BYTES, default 8192).
    pub max_body_bytes: usize,
    /// PBKDF2 iterations of password hashes, in chained calls of 100,000 (PBKDF2_ITERATIONS,
    /// default 100000, at least 100000).
    pub pbkdf2_iterations: u32,
    /// Signing keys (secret SIGNING_KEYS).
    pub keys: KeySet,
    /// Key of successor derivation, at least 32 bytes (secret REFRESH_SECRET, base64url).
    pub refresh_secret: Secret,
    /// Bearer token of the admin endpoints (secret ADMIN_TOKEN); without it the admin routes
    /// answer 404.
    pub admin_token: Option<Secret>,
    /// Key mixed into every password hash, so that a copy of KV alone cannot be cracked
    /// offline (secret PASSWORD_PEPPER, base64url, at least 32 bytes).
    pub password_pepper: Secret,
    /// Demo user (secret DEMO_USER = "user:password"), local development only.
    pub demo_user: Option<DemoUser>,
    /// Where the rotation state lives (ROTATION_STORE kv/durable-object, default durable-object).
    pub rotation_store: RotationStore,
    /// The store sessions may still live in after a switch (ROTATION_STORE_PREVIOUS kv,
    /// durable-object or none; default: kv in strict mode, the store of earlier versions'
    /// default, none in KV mode). Its families keep working, where they are, until they end:
    /// see docs/DESIGN.md "Switching stores".
    pub rotation_store_previous: Option<RotationStore>,
    /// Strict mode: the region new rotation objects are created in (ROTATION_LOCATION_HINT, one
    /// of [`LOCATION_HINTS`]; unset: near the Worker that first calls the object).
    pub rotation_location_hint: Option<&'static str>,
    /// Sessions must be bound to a DPoP key (REQUIRE_DPOP on/off, default off): a login or
    /// session creation without a proof, and a refresh of an unbound family, are
    /// `invalid_dpop_proof`.
    pub require_dpop: bool,
    /// Every session started, and every access token issued, before this time (Unix seconds)
    /// is over (SESSIONS_NOT_BEFORE, default 0: none): the deployment-wide end of sessions.
    pub sessions_not_before: u64,
    /// Strict mode: calls to one subject's object that one Worker isolate lets through in 10
    /// seconds (ROUTE_RATE_LIMIT, default [`DEFAULT_ROUTE_RATE_LIMIT`], 0: no limit).
    pub route_rate_limit: u32,
    /// Sign-in with an OpenID provider (UPSTREAM_* and ACCESS_TOKEN_SOURCE); `None` without
    /// UPSTREAM_ISSUER.
    pub upstream: Option<crate::core::server::oidc::UpstreamConfig>,
    /// Whether `POST /auth/login` takes passwords (PASSWORD_LOGIN on/off; default on, and off
    /// when UPSTREAM_ISSUER is set).
    pub password_login: bool,
}

/// Default of [`Config::route_rate_limit`].
pub const DEFAULT_ROUTE_RATE_LIMIT: u32 = 100;

/// The Durable Object location hints the runtime accepts.
pub const LOCATION_HINTS: &[&str] = &[
    "wnam", "enam", "sam", "weur", "eeur", "apac", "oc", "afr", "me",
];

impl Default for Config {
    /// Defaults for every setting; no keys and no secrets (so it does not validate as is).
    fn default() -> Self {
        Config {
            issuer: "http://127.0.0.1:8787".into(),
            audience: "silent-refresh-demo".into(),
            access_ttl: 900,
            refresh_idle: 7 * 86_400,
            refresh_absolute: 30 * 86_400,
            grace: 10,
            leeway: 30,
            allowed_origins: Vec::new(),
            refresh_cookie: true,
            cookie_secure: CookieSecure::Auto,
            max_body_bytes: 8192,
            pbkdf2_iterations: 100_000,
            keys: KeySet::default(),
            refresh_secret: Secret::default(),
            admin_token: None,
            password_pepper: Secret::default(),
            demo_user: None,
            rotation_store: RotationStore::Kv,
            rotation_store_previous: None,
            rotation_location_hint: None,
            require_dpop: false,
            sessions_not_before: 0,
            route_rate_limit: DEFAULT_ROUTE_RATE_LIMIT,
            upstream: None,
            password_login: true,
        }
    }
}

fn number<T: std::str::FromStr>(
    var: Var,
    value: Option<String>,
    default: T,
) -> Result<T, ConfigError> {
    match value {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse()
            .map_err(|_| ConfigError::new(var, Rule::NotAnInteger)),
    }
}

fn in_range(var: Var, value: u64, min: u64, max: u64) -> Result<(), ConfigError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(ConfigError::new(var, Rule::OutOfRange { min, max }))
    }
}

/// Refuses a secret with fewer than `min` distinct byte values: 32 random bytes have about 30,
/// a typed word, a repeated pattern or zeros far fewer.
fn check_entropy(var: Var, secret: &Secret, min: usize) -> Result<(), ConfigError> {
    let mut seen = [false; 256];
    for &b in secret.expose() {
        seen[b as usize] = true;
    }
    if seen.iter().filter(|s| **s).count() < min {
        return Err(ConfigError::new(var, Rule::LowEntropy { min }));
    }
    Ok(())
}

/// True when `host` (as in a URL: `localhost`, an IPv4 address, or an IPv6 address in
/// brackets) is a loopback host. Decided by parsing the address (`127.0.0.0/8`, `::1` in any
/// spelling, `::ffff:127.x.y.z`), never by a text prefix: `127.0.0.1.example.com` is not one.
pub fn is_loopback_host(host: &str) -> bool {
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return v6.parse::<std::net::Ipv6Addr>().is_ok_and(|ip| {
            ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        });
    }
    host.parse::<std::net::Ipv4Addr>()
        .is_ok_and(|ip| ip.is_loopback())
}

/// The host of `origin` (`scheme://host[:port]`, http or https only), without the port.
fn host_of_origin(origin: &str) -> Option<&str> {
    let rest = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))?;
    if rest.contains(['/', '@', '?', '#']) {
        return None;
    }
    Some(match rest.rsplit_once(':') {
        Some((h, p))
            if !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()) && !p.contains(']') =>
        {
            h
        }
        _ => rest,
    })
}

/// True when `origin` is http(s) on a loopback host ([`is_loopback_host`]).
pub fn is_loopback_origin(origin: &str) -> bool {
    host_of_origin(origin).is_some_and(is_loopback_host)
}

/// True when `origin` is `scheme://host[:port]` with nothing else.
pub fn is_valid_origin(origin: &str) -> bool {
    let Some((scheme, rest)) = origin.split_once("://") else {
        return false;
    };
    (scheme == "http" || scheme == "https")
        && !rest.is_empty()
        && rest
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"-.:[]".contains(&c))
}

impl Config {
    /// Builds the config from Worker vars and secrets (`var(name)` returns `None` when unset)
    /// and validates it.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let d = Config::default();
        let get = |v: Var| var(v.name());
        let text =
            |v: Var, default: String| get(v).map(|s| s.trim().to_string()).unwrap_or(default);
        let word = |v: Var, default: &str, words: &'static [&'static str]| {
            let s = text(v, default.into());
            words
                .iter()
                .position(|w| *w == s)
                .ok_or(ConfigError::new(v, Rule::NotOneOf(words)))
        };
        let key = |v: Var| match get(v) {
            None => Err(ConfigError::new(v, Rule::Missing)),
            Some(s) => b64::decode(s.trim()).ok_or(ConfigError::new(v, Rule::NotBase64url)),
        };
        let rotation_store = [RotationStore::Kv, RotationStore::DurableObject][word(
            Var::RotationStore,
            "durable-object",
            &["kv", "durable-object"],
        )?];
        let refresh_secret = key(Var::RefreshSecret)?;
        let password_pepper = key(Var::PasswordPepper)?;
        let keys = KeySet::from_jwks_json(
            &get(Var::SigningKeys).ok_or(ConfigError::new(Var::SigningKeys, Rule::Missing))?,
        )
        .map_err(|e| ConfigError::new(Var::SigningKeys, Rule::Keys(e)))?;
        let demo_user = match get(Var::DemoUser) {
            None => None,
            Some(v) if v.trim().is_empty() => None,
            Some(v) => {
                let (u, p) = v
                    .split_once(':')
                    .ok_or(ConfigError::new(Var::DemoUser, Rule::NotUserColonPassword))?;
                Some(DemoUser {
                    username: u.to_string(),
                    password: Secret::new(p.as_bytes().to_vec()),
                })
            }
        };
        // The admin token is held to the rule of the other secrets: base64url of at least 32
        // random bytes. The Worker compares the text as presented.
        let admin_token = match get(Var::AdminToken).map(|t| t.trim().to_string()) {
            None => None,
            Some(t) if t.is_empty() => None,
            Some(t) => {
                let raw =
                    b64::decode(&t).ok_or(ConfigError::new(Var::AdminToken, Rule::NotBase64url))?;
                if raw.len() < 32 {
                    return Err(ConfigError::new(
                        Var::AdminToken,
                        Rule::TooShort { min: 32 },
                    ));
                }
                check_entropy(Var::AdminToken, &Secret::new(raw), 16)?;
                Some(Secret::new(t.into_bytes()))
            }
        };
        let cfg = Config {
            // Required: a deploy must say where it lives (a loopback default would ship the
            // demo user and cookies without `Secure` to production).
            issuer: get(Var::Issuer)
                .map(|s| s.trim().to_string())
                .ok_or(ConfigError::new(Var::Issuer, Rule::Missing))?,
            audience: text(Var::Audience, d.audience),
            access_ttl: number(
                Var::AccessTtlSeconds,
                get(Var::AccessTtlSeconds),
                d.access_ttl,
            )?,
            refresh_idle: number(
                Var::RefreshIdleSeconds,
                get(Var::RefreshIdleSeconds),
                d.refresh_idle,
            )?,
            refresh_absolute: number(
                Var::RefreshAbsoluteSeconds,
                get(Var::RefreshAbsoluteSeconds),
                d.refresh_absolute,
            )?,
            grace: number(Var::GraceSeconds, get(Var::GraceSeconds), d.grace)?,
            leeway: number(Var::LeewaySeconds, get(Var::LeewaySeconds), d.leeway)?,
            allowed_origins: get(Var::AllowedOrigins)
                .map(|v| {
                    v.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default(),
            refresh_cookie: word(
                Var::RefreshCookie,
                "on",
                &["on", "true", "1", "off", "false", "0"],
            )? < 3,
            cookie_secure: [
                CookieSecure::Auto,
                CookieSecure::Always,
                CookieSecure::Never,
            ][word(Var::CookieSecure, "auto", &["auto", "always", "never"])?],
            max_body_bytes: number(Var::MaxBodyBytes, get(Var::MaxBodyBytes), d.max_body_bytes)?,
            pbkdf2_iterations: number(
                Var::Pbkdf2Iterations,
                get(Var::Pbkdf2Iterations),
                d.pbkdf2_iterations,
            )?,
            keys,
            refresh_secret: Secret::new(refresh_secret),
            admin_token,
            password_pepper: Secret::new(password_pepper),
            demo_user,
            rotation_store,
            rotation_store_previous: match word(
                Var::RotationStorePrevious,
                match rotation_store {
                    RotationStore::DurableObject => "kv",
                    RotationStore::Kv => "none",
                },
                &["kv", "durable-object", "none"],
            )? {
                0 => Some(RotationStore::Kv),
                1 => Some(RotationStore::DurableObject),
                _ => None,
            }
            .filter(|p| *p != rotation_store),
            rotation_location_hint: match text(Var::RotationLocationHint, String::new()) {
                hint if hint.is_empty() => None,
                hint => Some(*LOCATION_HINTS.iter().find(|h| **h == hint).ok_or(
                    ConfigError::new(Var::RotationLocationHint, Rule::NotOneOf(LOCATION_HINTS)),
                )?),
            },
            require_dpop: word(
                Var::RequireDpop,
                "off",
                &["on", "true", "1", "off", "false", "0"],
            )? < 3,
            sessions_not_before: number(
                Var::SessionsNotBefore,
                get(Var::SessionsNotBefore),
                d.sessions_not_before,
            )?,
            route_rate_limit: number(
                Var::RouteRateLimit,
                get(Var::RouteRateLimit),
                d.route_rate_limit,
            )?,
            upstream: crate::core::server::oidc::config::from_vars(&get)?,
            password_login: true,
        };
        let mut cfg = cfg;
        crate::core::server::oidc::config::finish(&get, &mut cfg)?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks every setting; the error names the variable and the rule.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let fail = |v, rule| Err(ConfigError::new(v, rule));
        if self.issuer.is_empty() {
            return fail(Var::Issuer, Rule::Empty);
        }
        if self.audience.is_empty() {
            return fail(Var::Audience, Rule::Empty);
        }
        in_range(Var::AccessTtlSeconds, self.access_ttl, 5, 86_400)?;
        in_range(Var::RefreshIdleSeconds, self.refresh_idle, 5, 400 * 86_400)?;
        in_range(
            Var::RefreshAbsoluteSeconds,
            self.refresh_absolute,
            5,
            400 * 86_400,
        )?;
        if self.refresh_absolute < self.refresh_idle {
            return fail(
                Var::RefreshAbsoluteSeconds,
                Rule::BelowOther(Var::RefreshIdleSeconds),
            );
        }
        in_range(Var::GraceSeconds, self.grace, 0, 60)?;
        if self.grace >= self.refresh_idle {
            return fail(
                Var::GraceSeconds,
                Rule::NotBelowOther(Var::RefreshIdleSeconds),
            );
        }
        in_range(Var::LeewaySeconds, self.leeway, 0, 300)?;
        if let Some(index) = self
            .allowed_origins
            .iter()
            .position(|o| !is_valid_origin(o))
        {
            return fail(Var::AllowedOrigins, Rule::NotAnOrigin { index });
        }
        in_range(
            Var::MaxBodyBytes,
            self.max_body_bytes as u64,
            256,
            1_048_576,
        )?;
        in_range(
            Var::Pbkdf2Iterations,
            self.pbkdf2_iterations.into(),
            PBKDF2_STEP.into(),
            MAX_ITERATIONS.into(),
        )?;
        // Unix seconds: a value in milliseconds (13 digits) would end every session until 2286.
        in_range(
            Var::SessionsNotBefore,
            self.sessions_not_before,
            0,
            9_999_999_999,
        )?;
        in_range(
            Var::RouteRateLimit,
            self.route_rate_limit.into(),
            0,
            100_000,
        )?;
        if self.keys.is_empty() {
            return fail(Var::SigningKeys, Rule::Keys(KeySetError::Empty));
        }
        for (var, secret) in [
            (Var::RefreshSecret, &self.refresh_secret),
            (Var::PasswordPepper, &self.password_pepper),
        ] {
            if secret.expose().len() < 32 {
                return fail(var, Rule::TooShort { min: 32 });
            }
            check_entropy(var, secret, 16)?;
        }
        if let Some(admin) = &self.admin_token {
            if admin.expose().len() < 16 {
                return fail(Var::AdminToken, Rule::TooShort { min: 16 });
            }
            check_entropy(Var::AdminToken, admin, 10)?;
        }
        if self.cookie_secure == CookieSecure::Never && !is_loopback_origin(&self.issuer) {
            return fail(Var::CookieSecure, Rule::OnlyOnLoopback);
        }
        if let Some(demo) = &self.demo_user {
            if !is_valid_username(&demo.username) || demo.password.is_empty() {
                return fail(Var::DemoUser, Rule::NotUserColonPassword);
            }
            if !is_loopback_origin(&self.issuer) {
                return fail(Var::DemoUser, Rule::OnlyOnLoopback);
            }
        }
        Ok(())
    }
}
