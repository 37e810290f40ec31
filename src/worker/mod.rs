//! The Cloudflare Worker adapter: routing, KV and HTTP around [`crate::core::server`].
//!
//! `fetch` resolves the request line against the core's route table
//! ([`crate::core::server::routes`]): a path no route has is a JSON 404 (the demo page is
//! served by wrangler's `[assets]` before the Worker runs), a method the path does not take a
//! 405 with `Allow`; otherwise the endpoint's handler ([`handlers`]) runs. Every answer to
//! request input is a 2xx or a precise 4xx JSON error; 5xx only for a broken configuration or
//! a missing binding (503 `server_misconfigured`, naming it) or an unavailable store (503).
//! `GET /healthz` checks the configuration and the stores. Security events
//! ([`crate::core::server::events`]) are logged here, one JSON line each. Nothing here panics
//! on input.

mod crypto;
mod handlers;
mod http;
mod kv;
mod oidc;
// `#[durable_object]` generates undocumented wasm-bindgen glue.
#[allow(missing_docs)]
mod rotation_object;
#[allow(missing_docs)]
mod throttle;

use crate::core::protocol;
use crate::core::server::config::{ConfigError, RotationStore, Var};
use crate::core::server::error::{AuthError, Misconfig};
use crate::core::server::events::Event;
use crate::core::server::http::{cors_headers, preflight_headers};
use crate::core::server::routes::{allowed_methods, resolve};
use crate::core::server::{AuthService, Config};
use http::{Meta, Reply};
use std::cell::RefCell;
use std::rc::Rc;
use web_sys::{Request, Response};
use worker::{event, Context, Date, Env};

pub use crypto::WebCryptoPbkdf2;
pub use kv::Kv;
use rotation_object::Rotation;
pub use rotation_object::{RotationObject, SqlStore, OBJECT_BINDING};
pub use throttle::{DurableThrottle, LoginThrottle};

/// The KV binding of `wrangler.toml`.
pub const KV_BINDING: &str = "REFRESH_TOKENS";

type Service<'a> = AuthService<'a, Kv, WebCryptoPbkdf2>;

thread_local! {
    /// The config, built once per isolate from the environment.
    static CONFIG: RefCell<Option<Rc<Config>>> = const { RefCell::new(None) };
}

pub(crate) fn config(env: &Env) -> Result<Rc<Config>, AuthError> {
    if let Some(c) = CONFIG.with(|c| c.borrow().clone()) {
        return Ok(c);
    }
    match read_config(env, None) {
        Ok(c) => {
            let c = Rc::new(c);
            CONFIG.with(|slot| *slot.borrow_mut() = Some(c.clone()));
            Ok(c)
        }
        Err(e) => Err(misconfigured(Misconfig::Config(e))),
    }
}

/// Logs a security event: one JSON line (`wrangler tail`, Workers Logs).
pub(crate) fn log_event(e: &Event) {
    match e {
        Event::ConfigError(_) => worker::console_error!("{}", e.to_line()),
        _ => worker::console_log!("{}", e.to_line()),
    }
}

/// Logs a grace replay without any token: the family id and timing only (where it happened: in
/// KV mode the Worker, in strict mode the subject's object).
pub(crate) fn log_replay(replay: &crate::core::server::service::Replay) {
    worker::console_log!(
        "silent-refresh: grace replay family={} generation={} age_ms={}",
        replay.family,
        replay.generation,
        replay.age_ms
    );
}

/// A broken configuration or a missing binding: logged (naming it) and answered 503.
pub(crate) fn misconfigured(what: Misconfig) -> AuthError {
    log_event(&Event::ConfigError(what));
    AuthError::Misconfigured(what)
}

thread_local! {
    /// [`config_as`]'s configs, one per store, built once per isolate.
    static CONFIG_AS: RefCell<[Option<Rc<Config>>; 2]> = const { RefCell::new([None, None]) };
}

/// The config from the environment; with `force`, `ROTATION_STORE` reads as that store and
/// `ROTATION_STORE_PREVIOUS` as none. One closure for both, so `Config::from_vars` (generic over
/// it) is compiled once into the Worker, not twice.
fn read_config(env: &Env, force: Option<RotationStore>) -> Result<Config, ConfigError> {
    Config::from_vars(|name| match force {
        Some(store) if name == Var::RotationStore.name() => Some(
            match store {
                RotationStore::Kv => "kv",
                RotationStore::DurableObject => "durable-object",
            }
            .to_string(),
        ),
        Some(_) if name == Var::RotationStorePrevious.name() => Some("none".to_string()),
        // KV-mode families only ever ran with our own access tokens (the provider's needs the
        // one-refresh-at-a-time of an object): a strict-mode deployment that hands out the
        // provider's keeps serving its earlier KV families as they were.
        Some(RotationStore::Kv) if name == Var::AccessTokenSource.name() => {
            Some("worker".to_string())
        }
        _ => env.var(name).ok().map(|v| v.to_string()),
    })
}

/// The config with `ROTATION_STORE` set to `store` (and no previous store): what the calls on
/// a family kept in `store` run with, whatever this deployment's own setting, so that its
/// successors keep their store's form (routed in an object, plain in KV).
pub(crate) fn config_as(env: &Env, store: RotationStore) -> Result<Rc<Config>, AuthError> {
    let own = config(env)?;
    if own.rotation_store == store && own.rotation_store_previous.is_none() {
        return Ok(own);
    }
    let slot = store as usize;
    if let Some(c) = CONFIG_AS.with(|c| c.borrow()[slot].clone()) {
        return Ok(c);
    }
    let c = read_config(env, Some(store))
        .map(Rc::new)
        .map_err(|e| misconfigured(Misconfig::Config(e)))?;
    CONFIG_AS.with(|slots| slots.borrow_mut()[slot] = Some(c.clone()));
    Ok(c)
}

pub(crate) fn now_ms() -> u64 {
    Date::now().as_millis()
}

pub(crate) fn now() -> u64 {
    now_ms() / 1000
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> worker::Result<Response> {
    // No per-request log line: Workers' own request logs carry method, path and status, and a
    // console line per request costs real time (in `wrangler dev`, a round trip to Node).
    // What is logged is what needs attention: broken configuration and store failures.
    let meta = Meta::of(&req);
    let reply = handle(&req, &env, &meta)
        .await
        .unwrap_or_else(|e| Reply::error(&e));
    Ok(reply.into_response()?)
}

async fn handle(req: &Request, env: &Env, meta: &Meta) -> Result<Reply, AuthError> {
    // Unknown paths answer 404 even with a broken configuration.
    allowed_methods(&meta.path, true).ok_or(AuthError::NotFound)?;
    if meta.path == protocol::HEALTH_PATH {
        // Answers with a broken configuration too: that is what it reports.
        resolve(&meta.method, &meta.path, false)?;
        return Ok(health(env).await);
    }
    let cfg = config(env)?;
    let admin = cfg.admin_token.is_some();
    let allow = allowed_methods(&meta.path, admin).ok_or(AuthError::NotFound)?;
    let cors = cors_headers(meta.origin.as_deref(), &cfg);
    let mut reply = if meta.method == "OPTIONS" {
        preflight(&cfg, meta, &allow)
    } else {
        match resolve(&meta.method, &meta.path, admin) {
            Err(e) => Err(e),
            Ok(_) if meta.method != "GET" && meta.provenance().foreign_origin(&cfg) => {
                Err(AuthError::ForbiddenOrigin("origin not allowed"))
            }
            Ok(matched) => {
                let kv = Kv::from_env(env, KV_BINDING)
                    .ok_or_else(|| misconfigured(Misconfig::Binding(KV_BINDING)))?;
                let svc = AuthService::new(&cfg, kv, WebCryptoPbkdf2);
                let rot = Rotation::from_env(env, &cfg)?;
                let reply = handlers::dispatch(matched, &svc, &rot, env, req, meta).await;
                // What the service saw while running over KV (in strict mode, the subject's
                // object logs its own).
                for e in svc.take_events() {
                    log_event(&e);
                }
                reply
            }
        }
    }
    .unwrap_or_else(|e| Reply::error(&e));
    reply.headers.extend(cors);
    Ok(reply)
}

/// `GET /healthz`: 200 `{"status":"ok","sign_in":{"password":bool,"provider":bool}}` when the
/// configuration is valid, the KV namespace answers a read, the throttle's binding is there and
/// (strict mode) a rotation object answers;
/// else 503 `{"status":"error","failing":[{"part","detail"}]}`. Details name variables and
/// bindings, never a value.
async fn health(env: &Env) -> Reply {
    let mut failing: Vec<(&str, String)> = Vec::new();
    let cfg = match config(env) {
        Ok(cfg) => Some(cfg),
        Err(e @ AuthError::Misconfigured(_)) => {
            failing.push(("configuration", e.to_string()));
            None
        }
        Err(e) => {
            failing.push(("configuration", e.code().to_string()));
            None
        }
    };
    match Kv::from_env(env, KV_BINDING) {
        None => failing.push(("kv", format!("binding {KV_BINDING} is missing"))),
        Some(kv) => {
            use crate::core::server::store::KvStore;
            if kv.get("health:probe").await.is_err() {
                failing.push(("kv", "a read of the namespace failed".into()));
            }
        }
    }
    if DurableThrottle::from_env(env).is_none() {
        failing.push((
            "login_throttle",
            format!("binding {} is missing", throttle::THROTTLE_BINDING),
        ));
    }
    if cfg
        .as_ref()
        .is_some_and(|c| c.rotation_store == RotationStore::DurableObject)
    {
        if let Err(detail) = rotation_object::probe(env).await {
            failing.push(("rotation_object", detail));
        }
    }
    if let (true, Some(c)) = (failing.is_empty(), &cfg) {
        // Which sign-ins this deployment offers (the demo page shows its buttons from it).
        let sign_in =
            serde_json::json!({ "password": c.password_login, "provider": c.upstream.is_some() });
        return Reply::json(
            200,
            &serde_json::json!({ "status": "ok", "sign_in": sign_in }),
        );
    }
    let failing: Vec<_> = failing
        .into_iter()
        .map(|(part, detail)| serde_json::json!({ "part": part, "detail": detail }))
        .collect();
    Reply::json(
        503,
        &serde_json::json!({ "status": "error", "failing": failing }),
    )
}

fn preflight(cfg: &Config, meta: &Meta, allow: &str) -> Result<Reply, AuthError> {
    match meta.origin.as_deref() {
        Some(o) if cfg.allowed_origins.iter().any(|a| a == o) => {
            let mut r = Reply::empty(204);
            r.headers.extend(preflight_headers(allow));
            Ok(r)
        }
        _ => Err(AuthError::ForbiddenOrigin("origin not allowed")),
    }
}
