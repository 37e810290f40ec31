//! Workers KV as the core's [`KvStore`]: every KV error becomes a [`StoreError`] (429 →
//! `RateLimited`), which the service answers with `503 temporarily_unavailable`.

use crate::core::server::store::{KvStore, StoreError, MIN_TTL};
use worker::kv::KvError;

/// The KV namespace of the refresh tokens, behind the core's trait.
pub struct Kv(pub worker::kv::KvStore);

fn classify(op: &str, key: &str, e: KvError) -> StoreError {
    let text = e.to_string();
    // Log the kind of key only: keys hold hashes and usernames, never raw tokens, but keep logs small.
    let prefix = key.split(':').next().unwrap_or("");
    worker::console_error!("kv {op} {prefix}: failed: {text}");
    if text.contains("429") || text.to_ascii_lowercase().contains("too many requests") {
        StoreError::RateLimited
    } else {
        StoreError::Unavailable
    }
}

impl KvStore for Kv {
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.0
            .get(key)
            .text()
            .await
            .map_err(|e| classify("get", key, e))
    }

    async fn put(&self, key: &str, value: &str, ttl: Option<u64>) -> Result<(), StoreError> {
        let builder = self
            .0
            .put(key, value)
            .map_err(|e| classify("put", key, e))?;
        let builder = match ttl {
            Some(t) => builder.expiration_ttl(t.max(MIN_TTL)),
            None => builder,
        };
        builder.execute().await.map_err(|e| classify("put", key, e))
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.0
            .delete(key)
            .await
            .map_err(|e| classify("delete", key, e))
    }
}
