//! The client's decision parameters: a plain struct with documented fields and defaults, filled
//! once from the JavaScript options object by the adapter.

use crate::core::client::classify::StatusSet;

/// Where the refresh token lives between refreshes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// An `HttpOnly` cookie the client never sees (same-origin apps).
    Cookie,
    /// JSON bodies; the client keeps the refresh token (memory or a pluggable storage).
    Body,
}

impl Transport {
    /// The value of the login request's `transport` member.
    pub const fn as_str(self) -> &'static str {
        match self {
            Transport::Cookie => "cookie",
            Transport::Body => "body",
        }
    }

    /// Whether `restore()` believes the server's session hint (`sr_session`, readable by the
    /// page): in cookie transport, where the server sets it beside the refresh cookie. A hint
    /// saying the session is over then answers `false` without a request.
    pub fn believes_session_hint(self) -> bool {
        self == Transport::Cookie
    }

    /// Parses `"cookie"` or `"body"`.
    pub fn parse(text: &str) -> Option<Transport> {
        match text {
            "cookie" => Some(Transport::Cookie),
            "body" => Some(Transport::Body),
            _ => None,
        }
    }
}

/// Decision parameters of the client. Durations are milliseconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientConfig {
    /// Refresh this long before the access token expires. `None`: max(60 s, 10 % of the
    /// token's lifetime). Either way at most half the lifetime, so a short-lived token cannot
    /// cause a refresh loop.
    pub refresh_margin_ms: Option<u64>,
    /// First retry delay after a failed refresh; doubles per consecutive failure.
    pub retry_base_ms: u64,
    /// Upper bound of the retry delay (also used after a refresh the server rejected).
    pub retry_max_ms: u64,
    /// Circuit breaker: at most this many refresh requests in any 60 s window.
    pub max_refreshes_per_minute: u32,
    /// Refresh statuses that end the session besides `400 invalid_grant`.
    pub session_ending: StatusSet,
}

impl ClientConfig {
    /// The defaults (those of the options `refreshMargin`, `retryBaseDelay`, `retryMaxDelay`,
    /// `maxRefreshesPerMinute` and `sessionEndingStatuses`).
    pub const DEFAULT: ClientConfig = ClientConfig {
        refresh_margin_ms: None,
        retry_base_ms: 1_000,
        retry_max_ms: 60_000,
        max_refreshes_per_minute: 10,
        session_ending: StatusSet::DEFAULT,
    };
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig::DEFAULT
    }
}
