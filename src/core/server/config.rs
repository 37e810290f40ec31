//! The server's configuration: a plain struct, read once from Worker vars and secrets by
//! [`Config::from_vars`] and validated; a bad config fails loudly with a message naming the
//! variable (never its secret value).

use crate::core::b64;
use crate::core::server::access::KeySet;
use crate::core::server::secret::Secret;

/// Whether the refresh cookie carries `Secure`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CookieSecure {
    /// `Secure` unless the request came over plain http to a loopback host (local development).
    #[default]
    Auto,
    /// Always `Secure`.
    Always,
    /// Never `Secure` (tests only).
    Never,
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
    /// PBKDF2 iterations for new password hashes (PBKDF2_ITERATIONS, default 100000, workerd's cap).
    pub pbkdf2_iterations: u32,
    /// Signing keys (secret SIGNING_KEYS).
    pub keys: KeySet,
    /// Key of successor derivation, at least 32 bytes (secret REFRESH_SECRET, base64url).
    pub refresh_secret: Secret,
    /// Bearer token of the admin endpoints (secret ADMIN_TOKEN).
    pub admin_token: Secret,
    /// Demo user (secret DEMO_USER = "user:password"), local development only.
    pub demo_user: Option<DemoUser>,
}

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
            admin_token: Secret::default(),
            demo_user: None,
        }
    }
}

fn number<T: std::str::FromStr>(
    name: &str,
    value: Option<String>,
    default: T,
) -> Result<T, String> {
    match value {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse()
            .map_err(|_| format!("{name} must be a non-negative integer")),
    }
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
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Config, String> {
        let d = Config::default();
        let text = |name: &str, default: String| {
            var(name).map(|v| v.trim().to_string()).unwrap_or(default)
        };
        let refresh_secret = match var("REFRESH_SECRET") {
            None => return Err("REFRESH_SECRET is not set".into()),
            Some(s) => {
                b64::decode(s.trim()).ok_or("REFRESH_SECRET must be base64url without padding")?
            }
        };
        let keys = KeySet::from_jwks_json(&var("SIGNING_KEYS").ok_or("SIGNING_KEYS is not set")?)?;
        let demo_user = match var("DEMO_USER") {
            None => None,
            Some(v) if v.trim().is_empty() => None,
            Some(v) => {
                let (u, p) = v
                    .split_once(':')
                    .ok_or("DEMO_USER must be \"username:password\"")?;
                Some(DemoUser {
                    username: u.to_string(),
                    password: Secret::new(p.as_bytes().to_vec()),
                })
            }
        };
        let cfg = Config {
            issuer: text("ISSUER", d.issuer),
            audience: text("AUDIENCE", d.audience),
            access_ttl: number(
                "ACCESS_TTL_SECONDS",
                var("ACCESS_TTL_SECONDS"),
                d.access_ttl,
            )?,
            refresh_idle: number(
                "REFRESH_IDLE_SECONDS",
                var("REFRESH_IDLE_SECONDS"),
                d.refresh_idle,
            )?,
            refresh_absolute: number(
                "REFRESH_ABSOLUTE_SECONDS",
                var("REFRESH_ABSOLUTE_SECONDS"),
                d.refresh_absolute,
            )?,
            grace: number("GRACE_SECONDS", var("GRACE_SECONDS"), d.grace)?,
            leeway: number("LEEWAY_SECONDS", var("LEEWAY_SECONDS"), d.leeway)?,
            allowed_origins: var("ALLOWED_ORIGINS")
                .map(|v| {
                    v.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default(),
            refresh_cookie: match text("REFRESH_COOKIE", "on".into()).as_str() {
                "on" | "true" | "1" => true,
                "off" | "false" | "0" => false,
                _ => return Err("REFRESH_COOKIE must be on or off".into()),
            },
            cookie_secure: match text("COOKIE_SECURE", "auto".into()).as_str() {
                "auto" => CookieSecure::Auto,
                "always" => CookieSecure::Always,
                "never" => CookieSecure::Never,
                _ => return Err("COOKIE_SECURE must be auto, always or never".into()),
            },
            max_body_bytes: number("MAX_BODY_BYTES", var("MAX_BODY_BYTES"), d.max_body_bytes)?,
            pbkdf2_iterations: number(
                "PBKDF2_ITERATIONS",
                var("PBKDF2_ITERATIONS"),
                d.pbkdf2_iterations,
            )?,
            keys,
            refresh_secret: Secret::new(refresh_secret),
            admin_token: Secret::new(
                var("ADMIN_TOKEN")
                    .ok_or("ADMIN_TOKEN is not set")?
                    .trim()
                    .as_bytes()
                    .to_vec(),
            ),
            demo_user,
        };
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks every setting; the error names the variable and the rule.
    pub fn validate(&self) -> Result<(), String> {
        if self.issuer.is_empty() || self.audience.is_empty() {
            return Err("ISSUER and AUDIENCE must not be empty".into());
        }
        if !(5..=86_400).contains(&self.access_ttl) {
            return Err("ACCESS_TTL_SECONDS must be between 5 and 86400".into());
        }
        if self.refresh_idle < 5
            || self.refresh_absolute < self.refresh_idle
            || self.refresh_absolute > 400 * 86_400
        {
            return Err(
                "need 5 <= REFRESH_IDLE_SECONDS <= REFRESH_ABSOLUTE_SECONDS <= 400 days".into(),
            );
        }
        if self.grace > 60 || self.grace >= self.refresh_idle {
            return Err("GRACE_SECONDS must be at most 60 and below REFRESH_IDLE_SECONDS".into());
        }
        if self.leeway > 300 {
            return Err("LEEWAY_SECONDS must be at most 300".into());
        }
        if let Some(bad) = self.allowed_origins.iter().find(|o| !is_valid_origin(o)) {
            return Err(format!("ALLOWED_ORIGINS: {bad:?} is not an origin like https://app.example (no \"*\", no path)"));
        }
        if !(256..=1_048_576).contains(&self.max_body_bytes) {
            return Err("MAX_BODY_BYTES must be between 256 and 1048576".into());
        }
        if !(1000..=100_000).contains(&self.pbkdf2_iterations) {
            return Err("PBKDF2_ITERATIONS must be between 1000 and 100000 (workerd's cap)".into());
        }
        if self.keys.is_empty() {
            return Err("SIGNING_KEYS must hold at least one key".into());
        }
        if self.refresh_secret.expose().len() < 32 {
            return Err("REFRESH_SECRET must decode to at least 32 bytes".into());
        }
        if self.admin_token.expose().len() < 16 {
            return Err("ADMIN_TOKEN must be at least 16 characters".into());
        }
        if let Some(demo) = &self.demo_user {
            if crate::core::server::service::check_username(&demo.username).is_err()
                || demo.password.is_empty()
            {
                return Err("DEMO_USER must be \"username:password\" with a valid username".into());
            }
        }
        Ok(())
    }
}
