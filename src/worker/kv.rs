//! Workers KV as the core's [`KvStore`]: every KV error becomes a [`StoreError`] (429 →
//! `RateLimited`), which the service answers with `503 temporarily_unavailable`.
//!
//! The binding is called directly (`get(key)`, `get([keys])`, `put(key, value,
//! { expirationTtl })`, `delete(key)`): one call into the runtime per operation. The `worker` crate's KV builder
//! looks up the namespace's five methods on every construction and serialises each options
//! object through serde, which a refresh (four reads, two writes) pays on every request.

use crate::core::server::store::{KvStore, StoreError, MIN_TTL};
use js_sys::{Array, Map, Object, Promise, Reflect};
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

#[wasm_bindgen]
extern "C" {
    /// A KV namespace binding (`KVNamespace` in the Workers runtime).
    #[derive(Clone, Debug)]
    pub type KvNamespace;

    #[wasm_bindgen(method, catch, js_name = get)]
    fn get_text(this: &KvNamespace, key: &str) -> Result<Promise, JsValue>;

    /// Bulk read (up to 100 keys): resolves to a `Map` from key to text or null.
    #[wasm_bindgen(method, catch, js_name = get)]
    fn get_bulk(this: &KvNamespace, keys: &Array) -> Result<Promise, JsValue>;

    #[wasm_bindgen(method, catch)]
    fn put(
        this: &KvNamespace,
        key: &str,
        value: &str,
        options: &Object,
    ) -> Result<Promise, JsValue>;

    #[wasm_bindgen(method, catch)]
    fn delete(this: &KvNamespace, key: &str) -> Result<Promise, JsValue>;
}

/// The KV namespace of the refresh tokens, behind the core's trait.
#[derive(Clone)]
pub struct Kv(KvNamespace);

impl Kv {
    /// The binding `name` of `env`, if it is there.
    pub fn from_env(env: &JsValue, name: &str) -> Option<Kv> {
        let binding = Reflect::get(env, &JsValue::from_str(name)).ok()?;
        let ok = binding.is_object()
            && Reflect::get(&binding, &JsValue::from_str("get"))
                .map(|f| f.is_function())
                .unwrap_or(false);
        ok.then(|| Kv(binding.unchecked_into()))
    }
}

fn classify(op: &str, key: &str, e: JsValue) -> StoreError {
    let text = e
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| e.as_string())
        .unwrap_or_default();
    // Log the kind of key only: keys hold hashes and usernames, never raw tokens, but keep logs small.
    let prefix = key.split(':').next().unwrap_or("");
    worker::console_error!("kv {op} {prefix}: failed: {text}");
    if text.contains("429") || text.to_ascii_lowercase().contains("too many requests") {
        StoreError::RateLimited
    } else {
        StoreError::Unavailable
    }
}

async fn settle(
    op: &str,
    key: &str,
    promise: Result<Promise, JsValue>,
) -> Result<JsValue, StoreError> {
    match promise {
        Ok(p) => JsFuture::from(p).await.map_err(|e| classify(op, key, e)),
        Err(e) => Err(classify(op, key, e)),
    }
}

impl KvStore for Kv {
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        // Without options, `get` resolves to the value as text, or null.
        Ok(settle("get", key, self.0.get_text(key)).await?.as_string())
    }

    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<String>>, StoreError> {
        let first = keys.first().copied().unwrap_or("");
        let list: Array = keys.iter().map(|k| JsValue::from_str(k)).collect();
        let map = settle("get", first, self.0.get_bulk(&list)).await?;
        let map: Map = map.dyn_into().map_err(|_| StoreError::Unavailable)?;
        Ok(list.iter().map(|k| map.get(&k).as_string()).collect())
    }

    async fn put(&self, key: &str, value: &str, ttl: Option<u64>) -> Result<(), StoreError> {
        let options = Object::new();
        if let Some(t) = ttl {
            let t = JsValue::from_f64(t.max(MIN_TTL) as f64);
            Reflect::set(&options, &JsValue::from_str("expirationTtl"), &t)
                .map_err(|e| classify("put", key, e))?;
        }
        settle("put", key, self.0.put(key, value, &options)).await?;
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        settle("delete", key, self.0.delete(key)).await?;
        Ok(())
    }
}
