//! Capped exponential backoff with jitter, and the circuit breaker that bounds refresh requests
//! per minute.

use alloc::vec::Vec;

/// The circuit breaker's window.
pub const WINDOW_MS: u64 = 60_000;

/// The delay before retry number `attempt + 1` (`attempt` = failures so far, minus one):
/// `base * 2^attempt` capped at `max`, with "equal jitter": a uniformly random point in the
/// upper half, so clients that failed together spread out but none retries at once.
/// `random` is in `[0, 1)`.
pub fn backoff_delay(attempt: u32, base_ms: u64, max_ms: u64, random: f64) -> u64 {
    let exp = base_ms.saturating_mul(1u64 << attempt.min(40)).min(max_ms);
    let random = if random.is_finite() {
        random.clamp(0.0, 1.0)
    } else {
        0.5
    };
    let half = exp / 2;
    half + ((exp - half) as f64 * random) as u64
}

/// The delay before the next retry: the backoff delay, or the server's `Retry-After` if longer.
pub fn retry_delay(
    attempt: u32,
    retry_after_ms: Option<u64>,
    base_ms: u64,
    max_ms: u64,
    random: f64,
) -> u64 {
    backoff_delay(attempt, base_ms, max_ms, random).max(retry_after_ms.unwrap_or(0))
}

/// Bounds the number of refresh requests in any sliding 60 s window, so that no server
/// behaviour (always 401, always 500 with `Retry-After: 0`, ...) can drive a refresh loop.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CircuitBreaker {
    limit: u32,
    /// Send times of the requests in the current window, oldest first.
    sent: Vec<u64>,
}

impl CircuitBreaker {
    /// A breaker allowing `limit` requests per minute (at least one).
    pub fn new(limit: u32) -> CircuitBreaker {
        CircuitBreaker {
            limit: limit.max(1),
            sent: Vec::new(),
        }
    }

    /// `Ok` if a request may be sent at `now`; else `Err(t)`, the first instant one may.
    pub fn check(&self, now: u64) -> Result<(), u64> {
        let mut in_window = self
            .sent
            .iter()
            .filter(|&&t| now < t.saturating_add(WINDOW_MS));
        let count = in_window.clone().count();
        if count < self.limit as usize {
            return Ok(());
        }
        // The window is full: a slot frees when the (count - limit + 1)-th oldest entry leaves it.
        let nth = in_window
            .nth(count - self.limit as usize)
            .copied()
            .unwrap_or(now);
        Err(nth.saturating_add(WINDOW_MS))
    }

    /// Records a request sent at `now`.
    pub fn record(&mut self, now: u64) {
        self.sent.retain(|&t| now < t.saturating_add(WINDOW_MS));
        self.sent.push(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_in_the_upper_half() {
        assert_eq!(backoff_delay(0, 1000, 60_000, 0.0), 500);
        assert_eq!(backoff_delay(0, 1000, 60_000, 0.999_999), 999);
        assert_eq!(backoff_delay(3, 1000, 60_000, 0.0), 4000);
        assert_eq!(backoff_delay(200, 1000, 60_000, 1.0), 60_000);
        assert_eq!(backoff_delay(1, 1000, 60_000, f64::NAN), 1500);
    }
}
