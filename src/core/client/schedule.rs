//! Token lifetime, refresh margin and refresh time.
//!
//! Everything is measured on the client's monotonic clock from the moment the token was
//! received. The token's lifetime comes from the server's relative `expires_in`, or else from
//! the JWT's `exp - iat` (a difference of two server times, so the client's wall clock never
//! enters): a client clock that is hours off changes nothing.

use alloc::string::String;

/// Smallest default margin: refresh at least a minute before expiry.
pub const MIN_DEFAULT_MARGIN_MS: u64 = 60_000;

/// A token (access or refresh) whose `Debug` never prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a token.
    pub fn new(value: String) -> Secret {
        Secret(value)
    }

    /// The token itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl ::core::fmt::Debug for Secret {
    fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// The default margin for a token living `lifetime_ms`: max(60 s, 10 %).
pub fn default_margin(lifetime_ms: u64) -> u64 {
    (lifetime_ms / 10).max(MIN_DEFAULT_MARGIN_MS)
}

/// The margin actually used: the configured one (or the default), never more than half the
/// lifetime. Without the cap a 60 s token and a 60 s margin would be refreshed the moment it
/// arrives, forever.
pub fn effective_margin(lifetime_ms: u64, configured_ms: Option<u64>) -> u64 {
    configured_ms
        .unwrap_or_else(|| default_margin(lifetime_ms))
        .min(lifetime_ms / 2)
}

/// A token's lifetime in milliseconds: `expires_in` (seconds, fractions allowed) when it is a
/// positive finite number, else `exp - iat` of the JWT, else unknown. The claims are decoded by
/// the caller (the browser package: `atob` and `JSON.parse`); each counts only if it is a
/// non-negative whole number of seconds, and `exp` must not be before `iat`.
pub fn lifetime_from_claims(expires_in_s: Option<f64>, exp: f64, iat: f64) -> Option<u64> {
    // Below 2^64 and whole: `as` is exact then (NaN fails the first test).
    let seconds = |v: f64| {
        ((0.0..18_446_744_073_709_551_616.0).contains(&v) && v == (v as u64) as f64)
            .then_some(v as u64)
    };
    expires_in_ms(expires_in_s).or_else(|| match (seconds(iat), seconds(exp)) {
        (Some(iat), Some(exp)) if exp >= iat => Some((exp - iat).saturating_mul(1000)),
        _ => None,
    })
}

/// `expires_in` in milliseconds, if it is a positive finite number of seconds.
fn expires_in_ms(expires_in_s: Option<f64>) -> Option<u64> {
    // `as` saturates; a lifetime beyond u64 milliseconds is not a concern.
    let s = expires_in_s?;
    (s.is_finite() && s > 0.0).then_some((s * 1000.0) as u64)
}

/// When a token received at `received_at` with `remaining_ms` left (and a full lifetime of
/// `lifetime_ms`, for the margin) expires and is due for refresh, on the monotonic clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deadlines {
    /// The token is expired from this instant on.
    pub expires_at: u64,
    /// The token should be refreshed from this instant on.
    pub refresh_at: u64,
}

impl Deadlines {
    /// Deadlines of a token with `remaining_ms` left at `now`, whose full lifetime was
    /// `lifetime_ms` (equal to `remaining_ms` for a token just issued).
    pub fn compute(
        now: u64,
        lifetime_ms: u64,
        remaining_ms: u64,
        margin_ms: Option<u64>,
    ) -> Deadlines {
        let expires_at = now.saturating_add(remaining_ms);
        let margin = effective_margin(lifetime_ms, margin_ms);
        Deadlines {
            expires_at,
            refresh_at: expires_at.saturating_sub(margin),
        }
    }

    /// Whether the token is due for refresh at `now`.
    pub fn due(&self, now: u64) -> bool {
        now >= self.refresh_at
    }
}

/// The client's elapsed-time clock, fed with `performance.now()` and `Date.now()` readings.
///
/// It advances by the larger of the two clocks' increments since the last reading and never goes
/// back. A constant wall-clock offset (a client clock hours off) cancels out of every increment,
/// so it changes nothing; a wall clock set *back* is ignored (the monotonic clock still advances);
/// and while the machine sleeps, when some browsers stop `performance.now()`, the wall clock's
/// increment still counts, so a token that expired during the sleep is seen as expired on wake-up.
/// (A wall clock set *forward* makes a token look older: at worst one early refresh.)
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ElapsedClock {
    last: Option<(f64, f64)>,
    now: f64,
}

impl ElapsedClock {
    /// Records a reading of both clocks (milliseconds) and returns the elapsed-time clock's value.
    pub fn observe(&mut self, monotonic_ms: f64, wall_ms: f64) -> u64 {
        if let Some((m, w)) = self.last {
            let step = (monotonic_ms - m).max(wall_ms - w);
            if step > 0.0 {
                self.now += step;
            }
        }
        self.last = Some((monotonic_ms, wall_ms));
        self.now as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn margin_is_a_minute_or_a_tenth_but_at_most_half() {
        assert_eq!(effective_margin(15 * 60_000, None), 90_000);
        assert_eq!(effective_margin(5 * 60_000, None), 60_000);
        assert_eq!(effective_margin(60_000, None), 30_000);
        assert_eq!(effective_margin(60_000, Some(10_000)), 10_000);
        assert_eq!(effective_margin(1_000, Some(10_000)), 500);
    }

    #[test]
    fn debug_of_a_secret_is_redacted() {
        let s = Secret::new("srt_abc".into());
        assert_eq!(format!("{s:?}"), "[redacted]");
        assert_eq!(s.expose(), "srt_abc");
    }
}
