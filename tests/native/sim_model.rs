//! Models of production storage for the simulation of many locations (`simulation.rs`): Workers
//! KV as each location sees it, and the Durable Object as one linearizable store reached with a
//! round-trip time. Both implement the core's `KvStore`, so the simulation runs the real
//! `AuthService` over them. Time is virtual (milliseconds), randomness seeded: a run is a pure
//! function of its seed.

use silent_refresh::core::server::store::{KvStore, StoreError};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;

/// The locations of the model: where requests enter Cloudflare's network.
pub const LOCATIONS: [&str; 4] = ["fra", "ams", "iad", "syd"];
/// Round-trip time in ms from each location to the Durable Object, which was created by the
/// login at `fra` and so lives there: same metro, a neighbour, across the Atlantic, antipodes.
pub const RTT_MS: [u64; 4] = [4, 12, 95, 290];
/// A KV write reaches another location after a delay drawn uniformly from 0 to this (ms).
pub const PROPAGATION_MS: u64 = 60_000;
/// A KV read that finds nothing is remembered at its location for this long (KV's minimum
/// `cacheTtl`, ms): a write arriving meanwhile stays hidden there.
pub const NEGATIVE_CACHE_MS: u64 = 60_000;
/// KV accepts one write per second per key; a faster write is answered 429.
pub const WRITE_INTERVAL_MS: u64 = 1_000;

/// A small seeded generator (SplitMix64): enough for delays, no dependency.
#[derive(Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..=max`.
    pub fn upto(&mut self, max: u64) -> u64 {
        self.next() % (max + 1)
    }
}

#[derive(Debug)]
struct Version {
    written: u64,
    value: Option<String>,
    expires: Option<u64>,
    visible: [u64; LOCATIONS.len()],
}

/// Workers KV as the model sees it: every write lands at once where it was made and at each
/// other location after its own random delay; misses are cached per location; one write per
/// second per key.
#[derive(Debug)]
pub struct Kv {
    now: Cell<u64>,
    rng: RefCell<Rng>,
    versions: RefCell<HashMap<String, Vec<Version>>>,
    last_write: RefCell<HashMap<String, u64>>,
    misses: RefCell<HashMap<(usize, String), u64>>,
    /// Writes answered 429.
    pub refused: Cell<u32>,
}

impl Kv {
    /// An empty namespace whose delays come from `seed`.
    pub fn new(seed: u64) -> Self {
        Kv {
            now: Cell::new(0),
            rng: RefCell::new(Rng::new(seed)),
            versions: RefCell::default(),
            last_write: RefCell::default(),
            misses: RefCell::default(),
            refused: Cell::new(0),
        }
    }

    /// Sets the clock (ms).
    pub fn set_now(&self, ms: u64) {
        self.now.set(ms);
    }

    /// The namespace as location `loc` sees it.
    pub fn at(&self, loc: usize) -> KvAt<'_> {
        KvAt { kv: self, loc }
    }

    /// Every value ever written under a key starting with `prefix` (any location, any time).
    pub fn ever_written(&self, prefix: &str) -> Vec<String> {
        self.versions
            .borrow()
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .flat_map(|(_, vs)| vs.iter().filter_map(|v| v.value.clone()))
            .collect()
    }

    fn read(&self, loc: usize, key: &str) -> Option<String> {
        let now = self.now.get();
        let cached_miss = (loc, key.to_string());
        if self
            .misses
            .borrow()
            .get(&cached_miss)
            .is_some_and(|&until| now < until)
        {
            return None;
        }
        let found = self.versions.borrow().get(key).and_then(|vs| {
            vs.iter()
                .filter(|v| v.visible[loc] <= now)
                .max_by_key(|v| v.written)
                .and_then(|v| {
                    v.value
                        .clone()
                        .filter(|_| v.expires.is_none_or(|e| now < e))
                })
        });
        if found.is_none() {
            self.misses
                .borrow_mut()
                .insert(cached_miss, now + NEGATIVE_CACHE_MS);
        }
        found
    }

    fn write(
        &self,
        loc: usize,
        key: &str,
        value: Option<String>,
        ttl: Option<u64>,
    ) -> Result<(), StoreError> {
        let now = self.now.get();
        if let Some(&last) = self.last_write.borrow().get(key) {
            if now < last + WRITE_INTERVAL_MS {
                self.refused.set(self.refused.get() + 1);
                return Err(StoreError::RateLimited);
            }
        }
        let mut visible = [0; LOCATIONS.len()];
        let mut rng = self.rng.borrow_mut();
        for (i, v) in visible.iter_mut().enumerate() {
            *v = if i == loc {
                now
            } else {
                now + rng.upto(PROPAGATION_MS)
            };
        }
        self.versions
            .borrow_mut()
            .entry(key.to_string())
            .or_default()
            .push(Version {
                written: now,
                value,
                expires: ttl.map(|t| now + t * 1000),
                visible,
            });
        self.last_write.borrow_mut().insert(key.to_string(), now);
        // A location sees its own writes at once, cached miss or not.
        self.misses.borrow_mut().remove(&(loc, key.to_string()));
        Ok(())
    }
}

/// [`Kv`] seen from one location: what the Worker running there gets from its binding.
#[derive(Debug)]
pub struct KvAt<'a> {
    kv: &'a Kv,
    loc: usize,
}

impl KvStore for KvAt<'_> {
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self.kv.read(self.loc, key))
    }

    async fn put(&self, key: &str, value: &str, ttl: Option<u64>) -> Result<(), StoreError> {
        self.kv.write(self.loc, key, Some(value.to_string()), ttl)
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.kv.write(self.loc, key, None, None)
    }
}
