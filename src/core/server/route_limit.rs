//! Strict mode's per-route rate limit: calls to one subject's Durable Object that a Worker
//! isolate lets through, checked before the call is made.
//!
//! Every refresh token of a subject starts with the same route (`token::ROUTE_LEN` bytes), so
//! anyone who has seen one token of a user can send forged tokens with that route, each of which
//! costs the user's object a call. [`RouteLimiter`] is a token bucket per route: `limit` calls
//! at once, refilled at `limit` per [`WINDOW_MS`]. It lives in the isolate's memory (no store
//! operation per request): an attacker spread over many isolates gets one budget per isolate,
//! but each isolate stops forwarding a flood to the object. The table holds at most
//! [`MAX_ROUTES`] routes; when full, routes whose bucket is full again are forgotten first.

use crate::core::server::token::ROUTE_LEN;
use std::collections::HashMap;

/// The refill period of [`RouteLimiter`]: `limit` calls per this many milliseconds.
pub const WINDOW_MS: u64 = 10_000;
/// Most routes a limiter tracks at once.
pub const MAX_ROUTES: usize = 10_000;

/// A token bucket per route (see the module documentation), kept as the time its bucket is
/// full again (GCRA): one number per route, no rounding drift.
#[derive(Debug, Default)]
pub struct RouteLimiter {
    /// Per route: when its bucket is full again (µs, on the caller's clock).
    full_at: HashMap<[u8; ROUTE_LEN], u64>,
}

impl RouteLimiter {
    /// An empty limiter.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts one call to `route` at `now_ms` under `limit` calls per [`WINDOW_MS`] (0: no
    /// limit). `Err(retry_after_ms)` when the route's budget is spent (nothing is counted).
    pub fn check(&mut self, route: &[u8; ROUTE_LEN], limit: u32, now_ms: u64) -> Result<(), u64> {
        if limit == 0 {
            return Ok(());
        }
        let now = now_ms.saturating_mul(1000);
        // One call's share of the window, and how far ahead of now a full budget reaches.
        let interval = WINDOW_MS * 1000 / u64::from(limit);
        let burst = interval * u64::from(limit);
        if self.full_at.len() >= MAX_ROUTES && !self.full_at.contains_key(route) {
            self.full_at.retain(|_, at| *at > now);
            if self.full_at.len() >= MAX_ROUTES {
                // Every tracked route is busy: forget an arbitrary one rather than grow.
                if let Some(k) = self.full_at.keys().next().copied() {
                    self.full_at.remove(&k);
                }
            }
        }
        let at = self.full_at.entry(*route).or_insert(now);
        let next = (*at).max(now) + interval;
        if next > now + burst {
            return Err((next - now - burst).div_ceil(1000).max(1));
        }
        *at = next;
        Ok(())
    }
}

/// The [`RouteLimiter`] key of `GET /auth/callback` from one client address
/// (`CF-Connecting-IP`; none: one shared key). A callback with a valid transaction costs a store
/// write and a request to the provider's token endpoint, and transactions are free to mint at
/// `/auth/authorize`: each address gets ROUTE_RATE_LIMIT such callbacks per [`WINDOW_MS`] per
/// isolate, in either rotation store. The prefix keeps these keys apart from subjects' routes.
pub fn callback_key(client_ip: Option<&str>) -> [u8; ROUTE_LEN] {
    let mut h = hmac_sha256::Hash::new();
    h.update(b"callback:");
    h.update(client_ip.unwrap_or("").as_bytes());
    let mut key = [0u8; ROUTE_LEN];
    key.copy_from_slice(&h.finalize()[..ROUTE_LEN]);
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_client_address_has_its_own_callback_key() {
        let a = callback_key(Some("192.0.2.1"));
        assert_eq!(a, callback_key(Some("192.0.2.1")));
        assert_ne!(a, callback_key(Some("192.0.2.2")));
        assert_ne!(a, callback_key(None));
        let mut l = RouteLimiter::new();
        assert_eq!(l.check(&a, 1, 0), Ok(()));
        assert!(l.check(&a, 1, 0).is_err());
        assert_eq!(l.check(&callback_key(Some("192.0.2.2")), 1, 0), Ok(()));
    }

    #[test]
    fn a_route_gets_its_budget_then_waits_other_routes_are_unaffected() {
        let mut l = RouteLimiter::new();
        let (a, b) = ([1u8; ROUTE_LEN], [2u8; ROUTE_LEN]);
        for _ in 0..5 {
            assert_eq!(l.check(&a, 5, 1000), Ok(()));
        }
        let wait = l.check(&a, 5, 1000).unwrap_err();
        assert_eq!(wait, 2000, "one call refills in WINDOW_MS / limit");
        assert_eq!(l.check(&b, 5, 1000), Ok(()));
        assert!(l.check(&a, 5, 1000 + wait - 1).is_err());
        assert_eq!(l.check(&a, 5, 1000 + wait), Ok(()));
        assert!(l.check(&a, 5, 1000 + wait).is_err());
        // Limit 0: no limit.
        for _ in 0..100 {
            assert_eq!(l.check(&a, 0, 0), Ok(()));
        }
    }

    #[test]
    fn the_table_stays_bounded() {
        let mut l = RouteLimiter::new();
        for i in 0..(MAX_ROUTES as u32 + 50) {
            let mut r = [0u8; ROUTE_LEN];
            r[..4].copy_from_slice(&i.to_le_bytes());
            assert_eq!(l.check(&r, 3, 0), Ok(()));
        }
        assert!(l.full_at.len() <= MAX_ROUTES);
    }
}
