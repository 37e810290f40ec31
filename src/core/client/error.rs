//! The stable error codes of the browser package. JavaScript receives `Error` objects whose
//! `.code` is [`ErrorCode::code`] and whose message is [`ErrorCode::message`].

/// Every error the browser package throws or reports in an `error` event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    /// A request of the client (login, refresh, logout) got no response.
    Network,
    /// A request of the client got no response within `requestTimeout`.
    Timeout,
    /// The server answered 5xx, 429, 408 or `temporarily_unavailable`: try again later.
    Server,
    /// The server refused a refresh for a reason other than an ended session (4xx).
    Rejected,
    /// A 2xx answer that is not the expected token response.
    BadResponse,
    /// The refresh token is no longer valid: the session is over.
    SessionExpired,
    /// The operation needs a session and there is none.
    NotSignedIn,
    /// Login with a wrong username or password.
    InvalidCredentials,
    /// The circuit breaker refused a refresh (too many this minute).
    RefreshLimit,
    /// The client was disposed.
    Disposed,
    /// The options object (or a token response given to `setSession`) is invalid.
    InvalidOptions,
    /// The pluggable storage threw or rejected.
    Storage,
    /// Login refused for now (429: too many attempts for this account or address); the error's
    /// `retryAfter` says for how long, if the server said (`Retry-After`).
    TooManyAttempts,
    /// A request of a cookie-mode client to another origin got no response: the browser
    /// withholds a cross-origin answer unless the server allows credentialed CORS, which the
    /// Worker never does. Serve the auth endpoints on the page's own origin, or use body mode.
    CrossOriginCookie,
    /// `new AuthClient()` before `init()` has loaded the wasm. Last in [`ErrorCode::ALL`]: the
    /// JavaScript side, which raises it without Rust, takes the last entry of its copy.
    NotInitialized,
}

impl ErrorCode {
    /// Every code, in declaration order: the browser package's JavaScript gets a code as its
    /// index here (`code as u32`) and keeps a copy of the codes and messages, generated from this
    /// list (see [`interface`](crate::core::client::interface)).
    pub const ALL: [ErrorCode; 15] = [
        ErrorCode::Network,
        ErrorCode::Timeout,
        ErrorCode::Server,
        ErrorCode::Rejected,
        ErrorCode::BadResponse,
        ErrorCode::SessionExpired,
        ErrorCode::NotSignedIn,
        ErrorCode::InvalidCredentials,
        ErrorCode::RefreshLimit,
        ErrorCode::Disposed,
        ErrorCode::InvalidOptions,
        ErrorCode::Storage,
        ErrorCode::TooManyAttempts,
        ErrorCode::CrossOriginCookie,
        ErrorCode::NotInitialized,
    ];

    /// The stable code, e.g. `ERR_NETWORK`.
    pub fn code(self) -> &'static str {
        match self {
            ErrorCode::Network => "ERR_NETWORK",
            ErrorCode::Timeout => "ERR_TIMEOUT",
            ErrorCode::Server => "ERR_SERVER",
            ErrorCode::Rejected => "ERR_REJECTED",
            ErrorCode::BadResponse => "ERR_BAD_RESPONSE",
            ErrorCode::SessionExpired => "ERR_SESSION_EXPIRED",
            ErrorCode::NotSignedIn => "ERR_NOT_SIGNED_IN",
            ErrorCode::InvalidCredentials => "ERR_INVALID_CREDENTIALS",
            ErrorCode::RefreshLimit => "ERR_REFRESH_LIMIT",
            ErrorCode::Disposed => "ERR_DISPOSED",
            ErrorCode::InvalidOptions => "ERR_INVALID_OPTIONS",
            ErrorCode::Storage => "ERR_STORAGE",
            ErrorCode::TooManyAttempts => "ERR_TOO_MANY_ATTEMPTS",
            ErrorCode::CrossOriginCookie => "ERR_CROSS_ORIGIN_COOKIE",
            ErrorCode::NotInitialized => "ERR_NOT_INITIALIZED",
        }
    }

    /// A short human-readable message: the code's words, lower case (`ERR_SESSION_EXPIRED`:
    /// "session expired"; the package derives these, see `error` in src/browser/values.js),
    /// except where a sentence says more.
    pub fn message(self) -> &'static str {
        match self {
            ErrorCode::Network => "network",
            ErrorCode::Timeout => "timeout",
            ErrorCode::Server => "server",
            ErrorCode::Rejected => "rejected",
            ErrorCode::BadResponse => "bad response",
            ErrorCode::SessionExpired => "session expired",
            ErrorCode::NotSignedIn => "not signed in",
            ErrorCode::InvalidCredentials => "invalid credentials",
            ErrorCode::RefreshLimit => "refresh limit",
            ErrorCode::Disposed => "disposed",
            ErrorCode::InvalidOptions => "invalid options",
            ErrorCode::Storage => "storage",
            ErrorCode::TooManyAttempts => "too many attempts",
            ErrorCode::CrossOriginCookie => {
                "cookie mode needs the auth endpoints on this origin, or body mode"
            }
            ErrorCode::NotInitialized => "init() has not loaded the package yet",
        }
    }
}
