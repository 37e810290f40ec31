//! Security events: the one definition of their stable names and fields. The Worker writes each
//! as one JSON log line (`{"event":"family_revoked",...}`), which `wrangler tail` shows and
//! Workers Logs indexes by field.
//!
//! A line names the family id (a random id, not a credential) and a hash of the subject or
//! account ([`subject_hash`]); never a token, a password, a key or any other secret. The
//! service records the events only it can see ([`Event::FamilyRevoked`]) while it runs a call;
//! the Worker records the others (a throttled login, an admin call, a broken configuration).

use crate::core::b64;
use crate::core::server::error::Misconfig;
use serde_json::Value;

/// Why a family was revoked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RevokeReason {
    /// A retired refresh token was presented outside the grace window (reuse detected: the
    /// token was copied; the whole family ends).
    Reuse,
    /// A refresh came with a DPoP proof by another key than the family's.
    DpopKeyMismatch,
    /// `POST /auth/logout`.
    Logout,
    /// `POST /auth/revoke` (RFC 7009).
    Revoke,
}

impl RevokeReason {
    /// The `why` field.
    pub const fn name(self) -> &'static str {
        match self {
            RevokeReason::Reuse => "reuse",
            RevokeReason::DpopKeyMismatch => "dpop_key_mismatch",
            RevokeReason::Logout => "logout",
            RevokeReason::Revoke => "revoke",
        }
    }
}

/// What ended every session of a subject.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndedBy {
    /// The user's own `POST /auth/logout-all`.
    LogoutAll,
    /// The admin route `DELETE /auth/sessions/<sub>`.
    Admin,
}

impl EndedBy {
    /// The `by` field.
    pub const fn name(self) -> &'static str {
        match self {
            EndedBy::LogoutAll => "logout_all",
            EndedBy::Admin => "admin",
        }
    }
}

/// One security event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A refresh-token family was revoked, and why (reuse detection included).
    FamilyRevoked {
        /// The family id.
        family: String,
        /// The subject (logged as its hash).
        sub: String,
        /// Why.
        why: RevokeReason,
    },
    /// A login was refused by the throttle (429) before any password check.
    LoginThrottled {
        /// The username tried (logged as its hash).
        account: String,
        /// Seconds the client was asked to wait.
        retry_after: u64,
    },
    /// An access token was presented with the wrong DPoP binding at a resource (a bound token
    /// as Bearer, or a proof by another key).
    DpopKeyMismatch {
        /// The endpoint's path.
        path: String,
    },
    /// Every session of a subject ended (its epoch moved).
    SessionsEnded {
        /// The subject (logged as its hash).
        sub: String,
        /// What ended them.
        by: EndedBy,
    },
    /// An admin created a user.
    UserCreated {
        /// The new user's subject (logged as its hash).
        sub: String,
    },
    /// An admin deleted a user (which ends every session of its subject).
    UserDeleted {
        /// The deleted user's subject (logged as its hash).
        sub: String,
    },
    /// An admin changed a user's password (which ends every session of its subject).
    PasswordChanged {
        /// The user's subject (logged as its hash).
        sub: String,
    },
    /// A request to an admin route, with the status it got (401: wrong or missing admin token).
    AdminCall {
        /// The method.
        method: String,
        /// The route's path prefix (`/auth/users`, `/auth/sessions`), without the name in it.
        route: &'static str,
        /// The answer's status.
        status: u16,
    },
    /// The demo user's login was refused because the Worker is served on a host that is not
    /// loopback.
    DemoUserRefused,
    /// The configuration or a binding is broken: requests answer 503 `server_misconfigured`.
    ConfigError(Misconfig),
}

impl Event {
    /// Every event name, in the order of the README's table.
    pub const NAMES: &'static [&'static str] = &[
        "family_revoked",
        "login_throttled",
        "dpop_key_mismatch",
        "sessions_ended",
        "user_created",
        "user_deleted",
        "password_changed",
        "admin_call",
        "demo_user_refused",
        "config_error",
    ];

    /// The stable `event` name.
    pub const fn name(&self) -> &'static str {
        match self {
            Event::FamilyRevoked { .. } => "family_revoked",
            Event::LoginThrottled { .. } => "login_throttled",
            Event::DpopKeyMismatch { .. } => "dpop_key_mismatch",
            Event::SessionsEnded { .. } => "sessions_ended",
            Event::UserCreated { .. } => "user_created",
            Event::UserDeleted { .. } => "user_deleted",
            Event::PasswordChanged { .. } => "password_changed",
            Event::AdminCall { .. } => "admin_call",
            Event::DemoUserRefused => "demo_user_refused",
            Event::ConfigError(_) => "config_error",
        }
    }

    /// The log line: one JSON object, `event` first and the fields in a fixed order (so that
    /// `{"event":"family_revoked"` can be searched for as text).
    pub fn to_line(&self) -> String {
        let mut m: Vec<(&str, Value)> = vec![("event", Value::from(self.name()))];
        let mut put = |k: &'static str, v: Value| m.push((k, v));
        match self {
            Event::FamilyRevoked { family, sub, why } => {
                put("why", why.name().into());
                put("family", family.as_str().into());
                put("sub_hash", subject_hash(sub).into());
            }
            Event::LoginThrottled {
                account,
                retry_after,
            } => {
                put("account_hash", subject_hash(account).into());
                put("retry_after", (*retry_after).into());
            }
            Event::DpopKeyMismatch { path } => put("path", path.as_str().into()),
            Event::SessionsEnded { sub, by } => {
                put("by", by.name().into());
                put("sub_hash", subject_hash(sub).into());
            }
            Event::UserCreated { sub }
            | Event::UserDeleted { sub }
            | Event::PasswordChanged { sub } => put("sub_hash", subject_hash(sub).into()),
            Event::AdminCall {
                method,
                route,
                status,
            } => {
                put("method", method.as_str().into());
                put("route", (*route).into());
                put("status", (*status).into());
            }
            Event::DemoUserRefused => {}
            Event::ConfigError(what) => {
                match what {
                    Misconfig::Binding(name) => put("binding", (*name).into()),
                    Misconfig::Config(e) => put("variable", e.variable.name().into()),
                    Misconfig::Object => put("binding", "ROTATION".into()),
                }
                put("problem", what.to_string().into());
            }
        }
        let fields: Vec<String> = m
            .iter()
            .map(|(k, v)| format!("{}:{v}", Value::from(*k)))
            .collect();
        format!("{{{}}}", fields.join(","))
    }
}

/// The hash of a subject or username in the log: base64url of the first 12 bytes of its
/// SHA-256 (16 characters). The same everywhere, so the lines of one user can be found:
/// `printf %s alice | openssl dgst -sha256 -binary | head -c 12 | basenc --base64url`.
pub fn subject_hash(sub: &str) -> String {
    b64::encode(&hmac_sha256::Hash::hash(sub.as_bytes())[..12])
}
