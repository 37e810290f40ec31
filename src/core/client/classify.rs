//! What a failed refresh means.
//!
//! The rule of the protocol (docs/PROTOCOL.md): `400 invalid_grant` from the refresh endpoint,
//! or a status the app lists as session-ending ([`StatusSet`], `sessionEndingStatuses`: 401 by
//! default, e.g. 401 and 403 for a backend that answers 403 to a revoked token), ends the
//! session; so does `400 invalid_dpop_proof` (RFC 9449: the DPoP key is lost, or the client's
//! proofs are refused for good). Network failures, timeouts, 408, 429, 5xx and
//! `temporarily_unavailable` are transient: keep the session and retry later (honouring
//! `Retry-After`). Any other 4xx (a misconfigured endpoint, `forbidden_origin`, ...) will not
//! heal by retrying soon, but is no proof the session is over either: it is retried at the
//! slowest pace.

use alloc::string::String;

use crate::core::client::error::ErrorCode;
use crate::core::protocol;

/// Longest `Retry-After` honoured (a larger value is clamped to this).
pub const MAX_RETRY_AFTER_MS: u64 = 10 * 60_000;

/// The refresh statuses that end the session (`sessionEndingStatuses`): a set of client error
/// statuses, 400 to 463 (every 4xx status registered; 5xx are transient by definition). One
/// 64-bit word: wasm has no wider integers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatusSet(u64);

impl StatusSet {
    /// No status.
    pub const EMPTY: StatusSet = StatusSet(0);
    /// The default: 401 (servers that answer a dead refresh token with 401 instead of
    /// RFC 6749's `400 invalid_grant`).
    pub const DEFAULT: StatusSet = StatusSet(1 << 1);

    /// The set plus `status`; `None` unless `status` is a client error status from 400 to 463.
    pub const fn with(self, status: u16) -> Option<StatusSet> {
        if status < 400 || status > 463 {
            return None;
        }
        Some(StatusSet(self.0 | 1 << (status - 400)))
    }

    /// The set whose bit `n` stands for status `400 + n` (the adapter's encoding of the option).
    pub const fn from_bits(bits: u64) -> StatusSet {
        StatusSet(bits)
    }

    /// Whether `status` is in the set.
    pub fn contains(&self, status: u16) -> bool {
        let bit = status.wrapping_sub(400);
        bit < 64 && self.0 >> bit & 1 != 0
    }
}

impl Default for StatusSet {
    fn default() -> Self {
        StatusSet::DEFAULT
    }
}

/// Why a refresh request did not yield a token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The request never got a response (`fetch` rejected).
    Network,
    /// No response within the request timeout.
    Timeout,
    /// A non-2xx response.
    Http {
        /// HTTP status.
        status: u16,
        /// The `error` member of the JSON body, if any.
        error: Option<String>,
        /// `Retry-After`, parsed with [`parse_retry_after`].
        retry_after_ms: Option<u64>,
    },
    /// A 2xx response that is not a token response.
    BadResponse,
}

impl Failure {
    /// A request that got no response: its timeout fired, or else the network failed.
    pub fn no_response(timed_out: bool) -> Failure {
        if timed_out {
            Failure::Timeout
        } else {
            Failure::Network
        }
    }

    /// A 2xx whose body is no token response: cut short by the request's timeout, or else not
    /// what the protocol promises.
    pub fn no_token(timed_out: bool) -> Failure {
        if timed_out {
            Failure::Timeout
        } else {
            Failure::BadResponse
        }
    }
}

/// What a response to a login request means when it is not a 2xx with a token response: the
/// stable code to reject `login()` with, the status to report with it, and for how long (ms) to
/// wait before trying again. A 401 is `ERR_INVALID_CREDENTIALS` (the protocol's answer to a wrong
/// username or password); a 429 is `ERR_TOO_MANY_ATTEMPTS` (the login throttle), with the
/// server's `Retry-After` (`retry_after_ms`, see [`retry_after_ms`]) as it is, however long; any other
/// refusal is classified as a refresh's would be (`ERR_SERVER` for 5xx and
/// `temporarily_unavailable`, else `ERR_REJECTED`); a 2xx without a token is `ERR_BAD_RESPONSE`,
/// or `ERR_TIMEOUT` when the timeout cut the body short (no status then).
#[inline(always)]
pub fn login_error(
    status: u16,
    error: Option<String>,
    retry_after_ms: Option<u64>,
    timed_out: bool,
) -> (ErrorCode, Option<u16>, Option<u64>) {
    if (200..300).contains(&status) {
        return (
            error_code(&Failure::no_token(timed_out), StatusSet::DEFAULT),
            None,
            None,
        );
    }
    let code = match status {
        401 => ErrorCode::InvalidCredentials,
        429 => return (ErrorCode::TooManyAttempts, Some(status), retry_after_ms),
        _ => error_code(
            &Failure::Http {
                status,
                error,
                retry_after_ms: None,
            },
            StatusSet::DEFAULT,
        ),
    };
    (code, Some(status), None)
}

/// The decision for a failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The session is over (`invalid_grant`, or 401 from the refresh endpoint).
    SessionOver,
    /// Transient: retry after the backoff delay, or after `Retry-After` if that is longer.
    Retry {
        /// The server's `Retry-After`, if it sent one.
        retry_after_ms: Option<u64>,
    },
    /// The server refused the request for another reason: retry at the slowest pace.
    Rejected,
}

/// Classifies a failed refresh; `ending`: the statuses that end the session.
pub fn classify(failure: &Failure, ending: StatusSet) -> Verdict {
    match failure {
        Failure::Network | Failure::Timeout | Failure::BadResponse => Verdict::Retry {
            retry_after_ms: None,
        },
        Failure::Http {
            status,
            error,
            retry_after_ms,
        } => {
            let retry = Verdict::Retry {
                retry_after_ms: *retry_after_ms,
            };
            match (*status, error.as_deref()) {
                (_, Some(protocol::TEMPORARILY_UNAVAILABLE)) => retry,
                // A proof refused at the refresh endpoint: the DPoP key is lost (no proof was
                // sent) or the server will not take this client's proofs (its clock is off
                // by more than the server's window): neither heals by retrying.
                (_, Some(protocol::INVALID_GRANT | protocol::INVALID_DPOP_PROOF)) => {
                    Verdict::SessionOver
                }
                (status, _) if ending.contains(status) => Verdict::SessionOver,
                (408 | 429, _) | (500..=599, _) => retry,
                _ => Verdict::Rejected,
            }
        }
    }
}

/// The code reported for `code` by a client whose own requests go to another origin in cookie
/// mode (`cross_origin_cookie`): a request without a response is [`ErrorCode::CrossOriginCookie`]
/// (the browser hides a cross-origin answer the server did not allow with credentials, and the
/// Worker never allows it); classification (retry, backoff) is unchanged.
pub fn reported(code: ErrorCode, cross_origin_cookie: bool) -> ErrorCode {
    if code == ErrorCode::Network && cross_origin_cookie {
        ErrorCode::CrossOriginCookie
    } else {
        code
    }
}

/// The stable code reported for a failure (`ending` as for [`classify`]).
pub fn error_code(failure: &Failure, ending: StatusSet) -> ErrorCode {
    match failure {
        Failure::Network => ErrorCode::Network,
        Failure::Timeout => ErrorCode::Timeout,
        Failure::BadResponse => ErrorCode::BadResponse,
        Failure::Http { .. } => match classify(failure, ending) {
            Verdict::SessionOver => ErrorCode::SessionExpired,
            Verdict::Retry { .. } => ErrorCode::Server,
            Verdict::Rejected => ErrorCode::Rejected,
        },
    }
}

/// Parses a `Retry-After` value given in delta-seconds into milliseconds, clamped to
/// [`MAX_RETRY_AFTER_MS`]. HTTP-dates are not honoured (they would need the wall clock, which
/// the client deliberately ignores) and yield `None`.
pub fn parse_retry_after(value: &str) -> Option<u64> {
    Some(retry_after_ms(value)?.min(MAX_RETRY_AFTER_MS))
}

/// A `Retry-After` value in delay-seconds form (at most 10 digits) in ms, uncapped.
pub fn retry_after_ms(value: &str) -> Option<u64> {
    let digits = value.trim_ascii();
    if digits.is_empty() || digits.len() > 10 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let seconds = digits
        .bytes()
        .fold(0u64, |acc, b| acc * 10 + u64::from(b - b'0'));
    Some(seconds.saturating_mul(1000))
}
