//! Strict mode (`ROTATION_STORE = "durable-object"`): the rotation state of each subject lives in
//! one SQLite-backed Durable Object, [`RotationObject`], and every operation on it (start a
//! family, refresh, logout, revoke, logout-all, end of sessions) is one call into that object.
//!
//! The object runs the core's [`execute`] over [`SqlStore`], its own storage behind the core's
//! [`KvStore`] trait: the same `AuthService` decisions as KV mode, with the same records (token
//! hashes only). A call runs to its end without yielding (SQL storage is synchronous and nothing
//! else is awaited), so calls on one subject are serialised: a refresh decides atomically
//! between rotate, grace replay and reuse. [`Rotation`] is the Worker's side: in KV mode it runs
//! the call locally over KV, in strict mode it sends it to the subject's object.

use super::config_as;
use super::oidc::WorkerUpstream;
use super::{Service, WebCryptoPbkdf2};
use crate::core::b64;
use crate::core::server::config::RotationStore;
use crate::core::server::error::{AuthError, Misconfig};
use crate::core::server::records::{epoch_key, load, Epoch};
use crate::core::server::rotation::{
    decode_result, encode_result, execute, route_of, Answer, Call,
};
use crate::core::server::route_limit::RouteLimiter;
use crate::core::server::store::{KvStore, StoreError};
use crate::core::server::{AuthService, Config, TokenResponse};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use worker::{
    durable_object, DurableObject, Env, ObjectNamespace, Request, Response, SqlStorage, State,
};

/// The Durable Object binding of `wrangler.toml`.
pub const OBJECT_BINDING: &str = "ROTATION";

thread_local! {
    /// Strict mode's per-route rate limit, for this isolate (see `core::server::route_limit`).
    static ROUTE_LIMITER: RefCell<RouteLimiter> = RefCell::new(RouteLimiter::new());
}

/// The object's storage as the core's [`KvStore`]: one table `kv(k, v, exp)`, `exp` in Unix
/// seconds (NULL: no expiry); expired rows read as absent.
pub struct SqlStore<'a> {
    sql: SqlStorage,
    now: u64,
    /// Whether the table exists; created by the first write, so that a call for a subject
    /// that has no state (a forged or stale route) leaves no storage behind.
    ready: &'a Cell<bool>,
}

#[derive(serde::Deserialize)]
struct Row {
    k: String,
    v: String,
}

fn failed(op: &str, e: worker::Error) -> StoreError {
    worker::console_error!("rotation object: sql {op} failed: {e}");
    StoreError::Unavailable
}

impl<'a> SqlStore<'a> {
    /// The storage of the object at `now` (Unix seconds).
    pub fn new(sql: SqlStorage, now: u64, ready: &'a Cell<bool>) -> Self {
        SqlStore { sql, now, ready }
    }

    fn exists(&self) -> Result<bool, StoreError> {
        if !self.ready.get() {
            let found = self
                .sql
                .exec(
                    "SELECT name AS k, name AS v FROM sqlite_master WHERE type = 'table' AND name = 'kv'",
                    None,
                )
                .and_then(|c| c.to_array::<Row>())
                .map_err(|e| failed("schema", e))?;
            self.ready.set(!found.is_empty());
        }
        Ok(self.ready.get())
    }

    fn create(&self) -> Result<(), StoreError> {
        if !self.exists()? {
            self.sql
                .exec(
                    // WITHOUT ROWID: the key is the table's own b-tree, so a write is one row
                    // written, not two (the row and its primary-key index): half of what strict
                    // mode pays per refresh (bench/cost/sql-rows.mjs). Objects created before
                    // keep their table; the statements are the same for both.
                    "CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v TEXT NOT NULL, exp INTEGER) WITHOUT ROWID",
                    None,
                )
                .map_err(|e| failed("create", e))?;
            self.ready.set(true);
        }
        Ok(())
    }

    /// The live family records of this object's subject (key without `f:`, record JSON).
    pub fn families(&self) -> Result<Vec<(String, String)>, StoreError> {
        if !self.exists()? {
            return Ok(Vec::new());
        }
        let rows = self
            .sql
            .exec(
                "SELECT k, v FROM kv WHERE k LIKE 'f:%' AND (exp IS NULL OR exp > ?)",
                vec![(self.now as i64).into()],
            )
            .and_then(|c| c.to_array::<Row>())
            .map_err(|e| failed("families", e))?;
        Ok(rows
            .into_iter()
            .map(|r| (r.k.trim_start_matches("f:").to_string(), r.v))
            .collect())
    }

    /// Deletes expired rows (see [`RotationObject::run`] for when, so the table stays bounded).
    pub fn sweep(&self) -> Result<(), StoreError> {
        if self.exists()? {
            self.sql
                .exec(
                    "DELETE FROM kv WHERE exp IS NOT NULL AND exp <= ?",
                    vec![(self.now as i64).into()],
                )
                .map_err(|e| failed("sweep", e))?;
        }
        Ok(())
    }
}

impl KvStore for SqlStore<'_> {
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self.get_many(&[key]).await?.pop().flatten())
    }

    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<String>>, StoreError> {
        if !self.exists()? {
            return Ok(vec![None; keys.len()]);
        }
        let marks = vec!["?"; keys.len()].join(", ");
        let mut bindings: Vec<worker::SqlStorageValue> = keys.iter().map(|k| (*k).into()).collect();
        bindings.push((self.now as i64).into());
        let rows = self
            .sql
            .exec(
                &format!("SELECT k, v FROM kv WHERE k IN ({marks}) AND (exp IS NULL OR exp > ?)"),
                bindings,
            )
            .and_then(|c| c.to_array::<Row>())
            .map_err(|e| failed("get", e))?;
        Ok(keys
            .iter()
            .map(|k| rows.iter().find(|r| r.k == *k).map(|r| r.v.clone()))
            .collect())
    }

    async fn put(&self, key: &str, value: &str, ttl: Option<u64>) -> Result<(), StoreError> {
        self.create()?;
        let exp = ttl.map(|t| (self.now + t) as i64).into();
        self.sql
            .exec(
                "INSERT OR REPLACE INTO kv (k, v, exp) VALUES (?, ?, ?)",
                vec![key.into(), value.into(), exp],
            )
            .map_err(|e| failed("put", e))?;
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        if self.exists()? {
            self.sql
                .exec("DELETE FROM kv WHERE k = ?", vec![key.into()])
                .map_err(|e| failed("delete", e))?;
        }
        Ok(())
    }
}

/// The Durable Object owning one subject's rotation state.
#[durable_object(fetch)]
pub struct RotationObject {
    state: State,
    env: Env,
    ready: Cell<bool>,
    /// When this instance last swept expired rows (Unix seconds; 0: not yet).
    swept_at: Cell<u64>,
    lock: futures_util::lock::Mutex<()>,
}

/// A live instance sweeps expired rows at most this often (seconds). Every read skips expired
/// rows, so the sweep only bounds the table; without a pause it would scan the whole table
/// (no index on `exp`) on every DPoP refresh of a subject refreshing many times a minute.
const SWEEP_EVERY_SECONDS: u64 = 60;

impl DurableObject for RotationObject {
    fn new(state: State, env: Env) -> Self {
        RotationObject {
            state,
            env,
            ready: Cell::new(false),
            swept_at: Cell::new(0),
            lock: futures_util::lock::Mutex::new(()),
        }
    }

    /// One [`Call`] (JSON body) in, its result (the wire form of [`encode_result`]) out.
    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        let text = req.text().await?;
        let result = match serde_json::from_str::<Call>(&text) {
            Err(_) => Err(AuthError::InvalidRequest("malformed call")),
            Ok(call) => self.run(&call).await,
        };
        Response::ok(encode_result(&result))
    }
}

impl RotationObject {
    async fn run(&self, call: &Call) -> Result<Answer, AuthError> {
        // An object's families are strict mode's, whatever ROTATION_STORE says now (after a
        // switch to KV they keep working here until they end: ROTATION_STORE_PREVIOUS).
        let cfg = config_as(&self.env, RotationStore::DurableObject)?;
        let now_ms = super::now_ms();
        let now = now_ms / 1000;
        let store = SqlStore::new(self.state.storage().sql(), now, &self.ready);
        // Expired rows go before a new family starts and before a DPoP proof is spent (at most
        // once a minute per instance), so that spent proofs (kept for the proof window) do not
        // pile up over a long session.
        if matches!(
            call,
            Call::StartFamily { .. }
                | Call::Refresh { dpop: Some(_), .. }
                | Call::LogoutAll { dpop: Some(_), .. }
        ) && now >= self.swept_at.get() + SWEEP_EVERY_SECONDS
        {
            store.sweep()?;
            self.swept_at.set(now);
        }
        let svc = AuthService::new(&cfg, store, WebCryptoPbkdf2);
        // A call that reaches the OpenID provider awaits its answer, and the runtime may then
        // deliver this object's next request: the lock keeps calls on one subject serialised
        // (one provider refresh per rotation, however many refreshes race). Without a provider
        // nothing is awaited and the lock is free on every call.
        let _held = self.lock.lock().await;
        let upstream = WorkerUpstream::new(&cfg);
        let answer = execute(&svc, call, now_ms, &upstream).await;
        if let (Ok(Answer::Epoch { .. }), Some(_)) = (&answer, &cfg.upstream) {
            // Every session of the subject ended (logout-all, deletion, the admin route): their
            // provider refresh tokens are revoked too, best effort (each outcome is logged).
            if let Ok(families) = svc.store.families() {
                svc.revoke_upstream_families(&families, "end_sessions", &upstream)
                    .await;
            }
        }
        for e in svc.take_events() {
            super::log_event(&e);
        }
        if let Ok(Answer::Issued(TokenResponse {
            replay: Some(replay),
            ..
        })) = &answer
        {
            super::log_replay(replay);
        }
        answer
    }
}

/// Where the Worker runs rotation calls: over KV here, or in the subject's object.
pub enum Rotation {
    /// KV mode: the call runs in this Worker over KV. With the objects of the previous store
    /// (ROTATION_STORE_PREVIOUS = "durable-object"), whose families keep working there.
    Kv(Option<ObjectNamespace>),
    /// Strict mode: the call goes to the subject's [`RotationObject`].
    Object(Strict),
}

/// Strict mode's backend: the objects, and the config of KV-mode families when KV is the previous
/// store (ROTATION_STORE_PREVIOUS = "kv", the default), which keep working in KV.
pub struct Strict {
    ns: ObjectNamespace,
    kv_previous: Option<Rc<Config>>,
}

fn objects(env: &Env) -> Result<ObjectNamespace, AuthError> {
    env.durable_object(OBJECT_BINDING)
        .map_err(|_| super::misconfigured(Misconfig::Binding(OBJECT_BINDING)))
}

impl Rotation {
    /// The backend `cfg` asks for.
    pub fn from_env(env: &Env, cfg: &Config) -> Result<Rotation, AuthError> {
        let previous = cfg.rotation_store_previous;
        Ok(match cfg.rotation_store {
            RotationStore::Kv => Rotation::Kv(match previous {
                Some(RotationStore::DurableObject) => Some(objects(env)?),
                _ => None,
            }),
            RotationStore::DurableObject => Rotation::Object(Strict {
                ns: objects(env)?,
                kv_previous: match previous {
                    Some(RotationStore::Kv) => Some(config_as(env, RotationStore::Kv)?),
                    _ => None,
                },
            }),
        })
    }

    /// Runs `call` where this deployment keeps rotation state, then, during a switch of store
    /// (ROTATION_STORE_PREVIOUS), where it kept it before, so that no session ends because of
    /// the switch (docs/DESIGN.md "Switching stores"): a refresh token this store does not know
    /// is tried there (its family goes on there, in its own store's form, until it ends); a
    /// logout, revocation, logout-all or end of sessions acts on both.
    pub async fn run(
        &self,
        svc: &Service<'_>,
        call: Call,
        now_ms: u64,
    ) -> Result<Answer, AuthError> {
        let answer = self.run_here(svc, &call, now_ms).await;
        let previous = match (&call, &answer) {
            (Call::Refresh { .. }, Err(AuthError::InvalidGrant)) => Some(call),
            (Call::Logout { .. } | Call::Revoke { .. }, Ok(_)) => Some(call),
            // KV-mode families read the epoch from KV, where strict mode copies it already.
            (Call::LogoutAll { .. } | Call::EndSessions { .. }, Ok(Answer::Epoch { sub, .. }))
                if matches!(self, Rotation::Kv(Some(_))) =>
            {
                Some(Call::EndSessions { sub: sub.clone() })
            }
            _ => None,
        };
        let Some(again) = previous else {
            return answer;
        };
        match (&again, self.run_previous(svc, &again, now_ms).await) {
            (_, None) => answer,
            // The previous store's answer to a refresh is the answer (it knows the family).
            (Call::Refresh { .. }, Some(result)) => result,
            (_, Some(result)) => result.and(answer),
        }
    }

    /// Runs `call` in the previous store, if any (`None`: there is none).
    async fn run_previous(
        &self,
        svc: &Service<'_>,
        call: &Call,
        now_ms: u64,
    ) -> Option<Result<Answer, AuthError>> {
        match self {
            Rotation::Kv(Some(ns)) => Some(call_object(ns, svc, call, now_ms).await),
            Rotation::Object(Strict {
                kv_previous: Some(cfg),
                ..
            }) => {
                let kv = AuthService::new(cfg, svc.store.clone(), WebCryptoPbkdf2);
                Some(execute(&kv, call, now_ms, &WorkerUpstream::new(cfg)).await)
            }
            _ => None,
        }
    }

    /// Runs `call` in this deployment's store. In strict mode an object that cannot be reached,
    /// is overloaded or answers nonsense is `temporarily_unavailable`: nothing was issued, and
    /// the client retries. A new epoch is copied to KV, where access-token checks read it.
    /// `now_ms` is Unix milliseconds.
    async fn run_here(
        &self,
        svc: &Service<'_>,
        call: &Call,
        now_ms: u64,
    ) -> Result<Answer, AuthError> {
        let ns = match self {
            Rotation::Kv(_) => {
                return execute(svc, call, now_ms, &WorkerUpstream::new(svc.config)).await
            }
            Rotation::Object(strict) => &strict.ns,
        };
        let answer = call_object(ns, svc, call, now_ms).await?;
        if let Answer::Epoch { sub, epoch } = &answer {
            svc.store_epoch(sub, epoch).await?;
        }
        Ok(answer)
    }
}

/// `GET /healthz` in strict mode: the binding is there and an object answers (a malformed call,
/// which an object refuses without touching storage).
pub async fn probe(env: &Env) -> Result<(), String> {
    let ns = env
        .durable_object(OBJECT_BINDING)
        .map_err(|_| format!("binding {OBJECT_BINDING} is missing"))?;
    let text = send(&ns, "healthz", None, "{}")
        .await
        .map_err(|_| "the object did not answer".to_string())?;
    match decode_result(&text) {
        Err(AuthError::InvalidRequest(_)) => Ok(()),
        _ => Err("the object answered something unexpected".into()),
    }
}

/// Sends `call` to the object that owns its state and decodes the answer.
async fn call_object(
    ns: &ObjectNamespace,
    svc: &Service<'_>,
    call: &Call,
    now_ms: u64,
) -> Result<Answer, AuthError> {
    let Some(route) = route_of(svc.config, call, now_ms / 1000)? else {
        return Ok(Answer::Done);
    };
    // A route over its rate limit (ROUTE_RATE_LIMIT) is `too_many_requests` before any call.
    let limit = svc.config.route_rate_limit;
    ROUTE_LIMITER
        .with(|l| l.borrow_mut().check(&route, limit, now_ms))
        .map_err(|wait_ms| AuthError::TooManyRequests(wait_ms.div_ceil(1000)))?;
    // A new family starts at no lower an epoch than KV's copy (where access-token checks read
    // it), even in an object that is new (a first login after REFRESH_SECRET changed routes).
    let mut call = call.clone();
    if let Call::StartFamily { sub, epoch, .. } = &mut call {
        *epoch = load::<Epoch>(&svc.store, &epoch_key(sub)).await?;
    }
    let body = serde_json::to_string(&call).map_err(|_| AuthError::ServerError("call"))?;
    let hint = svc.config.rotation_location_hint;
    let text = send(ns, &b64::encode(&route), hint, &body)
        .await
        .map_err(|e| {
            worker::console_error!("rotation object unreachable: {e:?}");
            AuthError::TemporarilyUnavailable
        })?;
    decode_result(&text)
}

/// POSTs `body` to the object named `name` and answers its response text. `hint` is the region
/// the object is created in if it does not exist yet (an existing object never moves).
async fn send(
    ns: &ObjectNamespace,
    name: &str,
    hint: Option<&str>,
    body: &str,
) -> Result<String, JsValue> {
    let stub = ns
        .id_from_name(name)
        .and_then(|id| match hint {
            Some(h) => id.get_stub_with_location_hint(h),
            None => id.get_stub(),
        })
        .map_err(JsValue::from)?
        .into_rpc::<worker::worker_sys::DurableObject>();
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    init.set_body(&JsValue::from_str(body));
    let req = web_sys::Request::new_with_str_and_init("https://rotation.internal/", &init)?;
    let resp: web_sys::Response = JsFuture::from(stub.fetch_with_request(&req)?)
        .await?
        .dyn_into()?;
    if resp.status() != 200 {
        return Err(JsValue::from_str(&format!("status {}", resp.status())));
    }
    let text = JsFuture::from(resp.text()?).await?;
    text.as_string().ok_or_else(|| JsValue::from_str("body"))
}
