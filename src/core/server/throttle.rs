//! Login throttling: a counter of attempts per account and per client address, with growing
//! delays once the free attempts are used up.
//!
//! The decision is here, platform-free: [`Counter::attempt`] and [`Counter::succeed`] on a
//! plain record, under a [`Policy`]. Where counters live is behind the [`Throttle`] trait: a
//! Durable Object per key in the Worker (consistent across isolates and locations), and
//! [`MemoryThrottle`] in native tests. An attempt is counted *before* the password is checked,
//! atomically with the check of the block, so concurrent guesses cannot all pass a check that
//! has not seen each other yet; a refused attempt changes nothing (hammering a blocked key does
//! not extend its block) and costs no password hashing. See `docs/DESIGN.md`.

use crate::core::server::store::StoreError;
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};

/// Which limit a counter enforces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// One account (username), whatever the address.
    Account,
    /// One client address (an IPv6 /64), whatever the account.
    Address,
}

/// The numbers of a limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Failed attempts allowed without delay.
    pub free: u32,
    /// The delay after the first attempt beyond `free`, doubled for each further one (ms).
    pub base_delay_ms: u64,
    /// Longest delay (ms).
    pub max_delay_ms: u64,
    /// A counter with no attempt for this long starts again from zero (ms).
    pub forget_after_ms: u64,
}

impl Policy {
    /// The policy of a scope.
    pub const fn of(scope: Scope) -> Policy {
        match scope {
            Scope::Account => Policy {
                free: 5,
                base_delay_ms: 1_000,
                max_delay_ms: 15 * 60_000,
                forget_after_ms: 60 * 60_000,
            },
            // Wider: many users share an address (NAT, offices, mobile carriers).
            Scope::Address => Policy {
                free: 20,
                base_delay_ms: 1_000,
                max_delay_ms: 15 * 60_000,
                forget_after_ms: 60 * 60_000,
            },
        }
    }

    /// The delay imposed after the `failures`-th counted attempt (0 while free).
    pub fn delay_ms(&self, failures: u32) -> u64 {
        if failures <= self.free {
            return 0;
        }
        let doublings = (failures - self.free - 1).min(40);
        self.base_delay_ms
            .saturating_mul(1u64 << doublings)
            .min(self.max_delay_ms)
    }
}

/// How long a successful login's address stays known to the account (ms).
pub const KNOWN_ADDRESS_MS: u64 = 30 * 86_400_000;
/// How many known addresses an account keeps (the oldest goes first).
pub const MAX_KNOWN_ADDRESSES: usize = 16;

/// What a throttle answers to an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Go on (the attempt was counted).
    Allowed,
    /// Refused, nothing counted: retry after this many ms.
    Refused {
        /// Time until the key accepts attempts again (ms).
        retry_after_ms: u64,
    },
}

/// The state of one key.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counter {
    /// Attempts counted since the last reset (successes reset an account's counter).
    pub failures: u32,
    /// No attempt is allowed before this instant (Unix ms).
    pub blocked_until: u64,
    /// The last counted attempt (Unix ms).
    pub last: u64,
    /// Addresses (keys) that logged in to this account successfully, with when (Unix ms).
    pub known: Vec<(String, u64)>,
}

impl Counter {
    /// Decides an attempt at `now` (Unix ms) from `address` (an account's counter lets a known
    /// address through its block; the address's own counter still applies).
    pub fn attempt(&mut self, policy: &Policy, now: u64, address: Option<&str>) -> Verdict {
        self.known
            .retain(|(_, at)| now.saturating_sub(*at) < KNOWN_ADDRESS_MS);
        let known = address.is_some_and(|a| self.known.iter().any(|(k, _)| k == a));
        if known {
            return Verdict::Allowed;
        }
        if now < self.blocked_until {
            return Verdict::Refused {
                retry_after_ms: self.blocked_until - now,
            };
        }
        if now.saturating_sub(self.last) >= policy.forget_after_ms {
            self.failures = 0;
        }
        self.failures = self.failures.saturating_add(1);
        self.last = now;
        self.blocked_until = now + policy.delay_ms(self.failures);
        Verdict::Allowed
    }

    /// Takes back the count of an attempt that turned out to be a successful login (an
    /// address's counter: many users behind one NAT log in all day without being slowed).
    pub fn refund(&mut self, policy: &Policy) {
        self.failures = self.failures.saturating_sub(1);
        self.blocked_until = self.last + policy.delay_ms(self.failures);
    }

    /// A successful login: the counter starts again and `address` becomes known.
    pub fn succeed(&mut self, now: u64, address: Option<&str>) {
        self.failures = 0;
        self.blocked_until = 0;
        if let Some(a) = address {
            self.known.retain(|(k, _)| k != a);
            self.known.push((a.to_string(), now));
            if self.known.len() > MAX_KNOWN_ADDRESSES {
                self.known.remove(0);
            }
        }
    }
}

/// Where the counters live.
#[allow(async_fn_in_trait)] // single-threaded (Workers, tests): no `Send` bound wanted
pub trait Throttle {
    /// [`Counter::attempt`] on the counter of `key`, atomically.
    async fn attempt(
        &self,
        scope: Scope,
        key: &str,
        address: Option<&str>,
        now: u64,
    ) -> Result<Verdict, StoreError>;
    /// [`Counter::succeed`] on the counter of `key`.
    async fn succeed(&self, key: &str, address: Option<&str>, now: u64) -> Result<(), StoreError>;
    /// [`Counter::refund`] on the counter of `key`.
    async fn refund(&self, scope: Scope, key: &str) -> Result<(), StoreError>;
}

/// Counters in memory (native tests, tools).
#[derive(Debug, Default)]
pub struct MemoryThrottle {
    counters: RefCell<HashMap<String, Counter>>,
}

impl MemoryThrottle {
    /// No counters.
    pub fn new() -> Self {
        Self::default()
    }

    /// The counter of `key` (a default one when absent).
    pub fn counter(&self, key: &str) -> Counter {
        self.counters.borrow().get(key).cloned().unwrap_or_default()
    }
}

impl Throttle for MemoryThrottle {
    async fn attempt(
        &self,
        scope: Scope,
        key: &str,
        address: Option<&str>,
        now: u64,
    ) -> Result<Verdict, StoreError> {
        let mut map = self.counters.borrow_mut();
        let counter = map.entry(key.to_string()).or_default();
        Ok(counter.attempt(&Policy::of(scope), now, address))
    }

    async fn refund(&self, scope: Scope, key: &str) -> Result<(), StoreError> {
        let mut map = self.counters.borrow_mut();
        map.entry(key.to_string())
            .or_default()
            .refund(&Policy::of(scope));
        Ok(())
    }

    async fn succeed(&self, key: &str, address: Option<&str>, now: u64) -> Result<(), StoreError> {
        let mut map = self.counters.borrow_mut();
        map.entry(key.to_string())
            .or_default()
            .succeed(now, address);
        Ok(())
    }
}

impl<T: Throttle> Throttle for &T {
    async fn refund(&self, scope: Scope, key: &str) -> Result<(), StoreError> {
        (**self).refund(scope, key).await
    }
    async fn attempt(
        &self,
        scope: Scope,
        key: &str,
        address: Option<&str>,
        now: u64,
    ) -> Result<Verdict, StoreError> {
        (**self).attempt(scope, key, address, now).await
    }
    async fn succeed(&self, key: &str, address: Option<&str>, now: u64) -> Result<(), StoreError> {
        (**self).succeed(key, address, now).await
    }
}

/// The counter key of an account.
pub fn account_key(username: &str) -> String {
    format!("a:{username}")
}

/// The counter key of a client address: IPv4 as is, IPv6 by its /64 (one subscriber's usual
/// allocation: counting single IPv6 addresses would give an attacker 2^64 fresh counters).
/// Anything that is not an IP address shares one counter.
pub fn address_key(ip: Option<&str>) -> String {
    match ip.map(str::trim).and_then(|s| s.parse::<IpAddr>().ok()) {
        Some(IpAddr::V4(v4)) => format!("i:{v4}"),
        Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => format!("i:{v4}"),
            None => {
                let s = v6.segments();
                let prefix = Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
                format!("i:{prefix}/64")
            }
        },
        None => "i:unknown".into(),
    }
}
