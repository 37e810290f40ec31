//! Login throttling: counters of attempts per account and per client address, with growing
//! delays once the free attempts are used up.
//!
//! The decision is here, platform-free: [`Counter::attempt`] and [`Counter::succeed`] on a
//! plain record, under a [`Policy`]. Where counters live is behind the [`Throttle`] trait: a
//! Durable Object per key in the Worker (consistent across isolates and locations), and
//! `MemoryThrottle` in native tests (feature `testing`). An attempt is counted *before* the password is checked,
//! atomically with the check of the block, so concurrent guesses cannot all pass a check that
//! has not seen each other yet; a refused attempt changes nothing (hammering a blocked key does
//! not extend its block). The address's counters are asked first, narrowest prefix first, and a
//! wider counter or the account's counts an attempt only when every narrower one allowed it:
//! an address that is already refused cannot keep an account blocked. See `docs/DESIGN.md`.

use crate::core::server::store::StoreError;
use serde::{Deserialize, Serialize};
#[cfg(feature = "testing")]
use std::cell::RefCell;
#[cfg(feature = "testing")]
use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};

/// Which limit a counter enforces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// One account (username), whatever the address.
    Account,
    /// One client address: an IPv4 address, or an IPv6 /64 (one subscriber's usual allocation).
    Address,
    /// An IPv6 /56 (a household's or a small site's usual delegation).
    Prefix56,
    /// An IPv6 /48 (a site's usual delegation: 65,536 /64s for whoever holds it).
    Prefix48,
    /// One known address of an account (where it logged in before), while the account is
    /// blocked for everyone else: its own counter, with a higher limit (kept in the account's
    /// record, see [`Counter::attempt`]).
    Known,
}

impl Scope {
    /// The scope's name in the Worker's internal protocol.
    pub const fn name(self) -> &'static str {
        match self {
            Scope::Account => "account",
            Scope::Address => "address",
            Scope::Prefix56 => "prefix56",
            Scope::Prefix48 => "prefix48",
            Scope::Known => "known",
        }
    }

    /// The scope of a name of [`Scope::name`].
    pub fn from_name(name: &str) -> Option<Scope> {
        [
            Scope::Account,
            Scope::Address,
            Scope::Prefix56,
            Scope::Prefix48,
            Scope::Known,
        ]
        .into_iter()
        .find(|s| s.name() == name)
    }
}

/// A call of a counter's object in the Worker's internal protocol (the path of its request):
/// the one definition of the names both sides use. Any other path is not a call: the object
/// refuses it (400), and the Worker treats a refusal as a failure of the throttle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CounterCall {
    /// [`Counter::attempt`].
    Attempt,
    /// [`Counter::succeed`].
    Succeed,
    /// [`Counter::refund`].
    Refund,
}

impl CounterCall {
    /// Every call.
    pub const ALL: [CounterCall; 3] = [
        CounterCall::Attempt,
        CounterCall::Succeed,
        CounterCall::Refund,
    ];

    /// The path of the call's request.
    pub const fn path(self) -> &'static str {
        match self {
            CounterCall::Attempt => "/attempt",
            CounterCall::Succeed => "/succeed",
            CounterCall::Refund => "/refund",
        }
    }

    /// The call a request's path names (`None`: an unknown call, to be refused).
    pub fn from_path(path: &str) -> Option<CounterCall> {
        Self::ALL.into_iter().find(|c| c.path() == path)
    }
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
        const fn free(free: u32) -> Policy {
            Policy {
                free,
                base_delay_ms: 1_000,
                max_delay_ms: 15 * 60_000,
                forget_after_ms: 60 * 60_000,
            }
        }
        match scope {
            Scope::Account => free(5),
            // Wider: many users share an address (NAT, offices, mobile carriers), and wider
            // still for the prefixes that hold many addresses.
            Scope::Address => free(20),
            Scope::Prefix56 => free(80),
            Scope::Prefix48 => free(320),
            // The user at home mistypes too, while an attacker holds the account blocked.
            Scope::Known => free(10),
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
    /// An account blocked for strangers, asked from one of its known addresses (counted in
    /// that address's own counter): the password is checked; the right one logs in, a wrong one
    /// is answered exactly like [`Verdict::Refused`] with this wait, so the answer does not tell
    /// an attacker whether the address is known.
    IfCorrect {
        /// Time until the account accepts strangers' attempts again (ms).
        retry_after_ms: u64,
    },
}

/// Attempts counted on one key (or on one known address of an account).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Strikes {
    /// Attempts counted since the last reset.
    pub failures: u32,
    /// No attempt is allowed before this instant (Unix ms).
    pub blocked_until: u64,
    /// The last counted attempt (Unix ms).
    pub last: u64,
}

impl Strikes {
    /// Counts an attempt at `now` unless blocked (then nothing changes).
    fn count(&mut self, policy: &Policy, now: u64) -> Verdict {
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
}

/// An address an account logged in from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Known {
    /// The address's key ([`address_keys`], the narrowest).
    pub address: String,
    /// Its last successful login (Unix ms).
    pub at: u64,
    /// Its own attempts while the account was blocked for strangers ([`Scope::Known`]).
    #[serde(default)]
    pub strikes: Strikes,
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
    /// Addresses that logged in to this account successfully (an account's counter only).
    #[serde(default)]
    pub known: Vec<Known>,
}

impl Counter {
    /// Decides an attempt at `now` from `address` (an account's counter: the narrowest key of
    /// the client's address). Every attempt the counter is free to take is counted, from any
    /// address. While it is blocked, strangers are refused; a known address gets
    /// [`Verdict::IfCorrect`] as long as its own [`Scope::Known`] counter allows (and is
    /// refused with the account's wait otherwise, the answer a stranger gets).
    pub fn attempt(&mut self, policy: &Policy, now: u64, address: Option<&str>) -> Verdict {
        self.known
            .retain(|k| now.saturating_sub(k.at) < KNOWN_ADDRESS_MS);
        let mut strikes = Strikes {
            failures: self.failures,
            blocked_until: self.blocked_until,
            last: self.last,
        };
        let verdict = strikes.count(policy, now);
        (self.failures, self.blocked_until, self.last) =
            (strikes.failures, strikes.blocked_until, strikes.last);
        let Verdict::Refused { retry_after_ms } = verdict else {
            return verdict;
        };
        let known = address.and_then(|a| self.known.iter_mut().find(|k| k.address == a));
        match known.map(|k| k.strikes.count(&Policy::of(Scope::Known), now)) {
            Some(Verdict::Allowed) => Verdict::IfCorrect { retry_after_ms },
            _ => verdict,
        }
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
            self.known.retain(|k| k.address != a);
            self.known.push(Known {
                address: a.to_string(),
                at: now,
                strikes: Strikes::default(),
            });
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

/// Counters in memory (native tests; feature `testing`).
#[cfg(feature = "testing")]
#[derive(Debug, Default)]
pub struct MemoryThrottle {
    counters: RefCell<HashMap<String, Counter>>,
}

#[cfg(feature = "testing")]
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

#[cfg(feature = "testing")]
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

/// The counter keys of a client address, narrowest first, each with its scope: an IPv4 address
/// (or an IPv4-mapped IPv6 one) as is; an IPv6 address by its /64, /56 and /48 (counting single
/// IPv6 addresses would give an attacker 2^64 fresh counters, and whoever holds a /48 holds
/// 65,536 /64s). `None` when `ip` is absent or not an IP address: such a request is refused,
/// never counted in a counter shared with everyone else's.
pub fn address_keys(ip: Option<&str>) -> Option<Vec<(Scope, String)>> {
    let ip: IpAddr = ip?.trim_matches([' ', '\t']).parse().ok()?;
    Some(match ip {
        IpAddr::V4(v4) => vec![(Scope::Address, format!("i:{v4}"))],
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => vec![(Scope::Address, format!("i:{v4}"))],
            None => {
                let prefix = |bits: u32| {
                    let masked = u128::from(v6) & !(u128::MAX >> bits);
                    format!("i:{}/{bits}", Ipv6Addr::from(masked))
                };
                vec![
                    (Scope::Address, prefix(64)),
                    (Scope::Prefix56, prefix(56)),
                    (Scope::Prefix48, prefix(48)),
                ]
            }
        },
    })
}
