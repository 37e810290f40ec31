//! Storage behind a trait: Workers KV in the Worker, the object's SQLite storage in strict mode,
//! and with the `testing` feature the doubles of the native tests (`MemoryStore`, `FaultyStore`).
//!
//! The trait is the subset of KV the core uses: get, put with a TTL, delete, all on strings.
//! KV has no transactions and no compare-and-swap; the service is written for that (see
//! `docs/DESIGN.md`).

use futures_util::future::try_join_all;
use std::fmt;

#[cfg(feature = "testing")]
mod doubles;
#[cfg(feature = "testing")]
pub use doubles::{Fault, FaultyStore, MemoryStore, Op};

/// KV's minimum `expirationTtl`, in seconds.
pub const MIN_TTL: u64 = 60;

/// Why a store operation failed. Every kind maps to `503 temporarily_unavailable`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreError {
    /// The operation failed (network, internal error).
    Unavailable,
    /// The operation timed out; a write may or may not have happened.
    Timeout,
    /// The store rate-limited the operation (KV: 429, more than one write per second per key).
    RateLimited,
    /// A stored value could not be decoded (fail closed).
    Corrupt,
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StoreError::Unavailable => "store unavailable",
            StoreError::Timeout => "store timeout",
            StoreError::RateLimited => "store rate limited",
            StoreError::Corrupt => "stored value corrupt",
        })
    }
}

impl std::error::Error for StoreError {}

/// A string key-value store with per-key TTL, like Workers KV.
#[allow(async_fn_in_trait)] // single-threaded (Workers, tests): no `Send` bound wanted
pub trait KvStore {
    /// The value at `key`, `None` when absent or expired.
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError>;
    /// Stores `value` at `key`; with `ttl` (seconds, at least [`MIN_TTL`]) it expires.
    async fn put(&self, key: &str, value: &str, ttl: Option<u64>) -> Result<(), StoreError>;
    /// Removes `key` (no error when absent).
    async fn delete(&self, key: &str) -> Result<(), StoreError>;
    /// The values at several keys, in order, read together. The default issues the reads
    /// concurrently; Workers KV answers them in one bulk `get` (one operation, one round trip).
    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<String>>, StoreError> {
        try_join_all(keys.iter().map(|k| self.get(k))).await
    }
}

impl<S: KvStore> KvStore for &S {
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        (**self).get(key).await
    }
    async fn put(&self, key: &str, value: &str, ttl: Option<u64>) -> Result<(), StoreError> {
        (**self).put(key, value, ttl).await
    }
    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        (**self).delete(key).await
    }
    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<String>>, StoreError> {
        (**self).get_many(keys).await
    }
}
