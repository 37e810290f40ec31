//! The Cloudflare Worker adapter: routing, KV and HTTP around [`crate::core::server`].
//!
//! `fetch` routes `/auth/*`, `/api/*` and `/.well-known/*` to small handlers that parse the
//! request, call the core's [`AuthService`] and format its answer; everything else is a JSON 404
//! (the demo page is served by wrangler's `[assets]` before the Worker runs). Every answer to
//! request input is a 2xx or a precise 4xx JSON error; 5xx only for broken configuration
//! (500) or an unavailable store (503). Nothing here panics on input.

mod crypto;
mod http;
mod kv;

use crate::core::protocol;
use crate::core::server::access::Verified;
use crate::core::server::error::AuthError;
use crate::core::server::http::{
    bearer, clear_refresh_cookie, cookie, cookie_secure, cors_headers, preflight_headers,
    session_hint_cookie, set_refresh_cookie, BodyKind, Params, COOKIE_NAME,
};
use crate::core::server::{AuthService, Config, TokenResponse};
use http::{read_params, Meta, Reply};
use serde_json::json;
use std::cell::RefCell;
use std::rc::Rc;
use web_sys::{Request, Response};
use worker::{event, Context, Date, Env};

pub use crypto::WebCryptoPbkdf2;
pub use kv::Kv;

/// The KV binding of `wrangler.toml`.
pub const KV_BINDING: &str = "REFRESH_TOKENS";
/// Names of the vars and secrets read from the environment (see [`Config::from_vars`]).
pub const VARS: &[&str] = &[
    "ISSUER",
    "AUDIENCE",
    "ACCESS_TTL_SECONDS",
    "REFRESH_IDLE_SECONDS",
    "REFRESH_ABSOLUTE_SECONDS",
    "GRACE_SECONDS",
    "LEEWAY_SECONDS",
    "ALLOWED_ORIGINS",
    "REFRESH_COOKIE",
    "COOKIE_SECURE",
    "MAX_BODY_BYTES",
    "PBKDF2_ITERATIONS",
    "SIGNING_KEYS",
    "REFRESH_SECRET",
    "ADMIN_TOKEN",
    "DEMO_USER",
];

type Service<'a> = AuthService<'a, Kv, WebCryptoPbkdf2>;

thread_local! {
    /// The config, built once per isolate from the environment.
    static CONFIG: RefCell<Option<Rc<Config>>> = const { RefCell::new(None) };
}

fn config(env: &Env) -> Result<Rc<Config>, AuthError> {
    if let Some(c) = CONFIG.with(|c| c.borrow().clone()) {
        return Ok(c);
    }
    match Config::from_vars(|name| env.var(name).ok().map(|v| v.to_string())) {
        Ok(c) => {
            let c = Rc::new(c);
            CONFIG.with(|slot| *slot.borrow_mut() = Some(c.clone()));
            Ok(c)
        }
        Err(msg) => {
            worker::console_error!("silent-refresh: invalid configuration: {msg}");
            Err(AuthError::ServerError("invalid configuration"))
        }
    }
}

/// The endpoints.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    Login,
    Sessions,
    Users,
    User(String),
    Refresh,
    Logout,
    Revoke,
    LogoutAll,
    Jwks,
    Me,
}

impl Route {
    fn of(path: &str) -> Option<Route> {
        Some(match path {
            protocol::LOGIN_PATH => Route::Login,
            protocol::SESSIONS_PATH => Route::Sessions,
            protocol::USERS_PATH => Route::Users,
            protocol::REFRESH_PATH => Route::Refresh,
            protocol::LOGOUT_PATH => Route::Logout,
            protocol::REVOKE_PATH => Route::Revoke,
            protocol::LOGOUT_ALL_PATH => Route::LogoutAll,
            protocol::JWKS_PATH => Route::Jwks,
            protocol::ME_PATH => Route::Me,
            p => Route::User(
                p.strip_prefix(protocol::USERS_PATH)
                    .and_then(|rest| rest.strip_prefix('/'))
                    .filter(|u| !u.is_empty() && !u.contains('/'))?
                    .to_string(),
            ),
        })
    }

    /// The one method of the route (the `Allow` header).
    fn method(&self) -> &'static str {
        match self {
            Route::Jwks | Route::Me => "GET",
            Route::User(_) => "DELETE",
            _ => "POST",
        }
    }
}

fn now() -> u64 {
    Date::now().as_millis() / 1000
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
    let route = Route::of(&meta.path).ok_or(AuthError::NotFound)?;
    let cfg = config(env)?;
    let cors = cors_headers(meta.origin.as_deref(), &cfg);
    let mut reply = if meta.method == "OPTIONS" {
        preflight(&cfg, meta, &route)
    } else if meta.method != route.method() {
        Err(AuthError::MethodNotAllowed(match route.method() {
            "GET" => "GET, OPTIONS",
            "DELETE" => "DELETE, OPTIONS",
            _ => "POST, OPTIONS",
        }))
    } else if route.method() != "GET" && meta.provenance().foreign_origin(&cfg) {
        Err(AuthError::ForbiddenOrigin("origin not allowed"))
    } else {
        let kv =
            Kv::from_env(env, KV_BINDING).ok_or(AuthError::ServerError("KV binding missing"))?;
        let svc = AuthService::new(&cfg, kv, WebCryptoPbkdf2);
        dispatch(&route, &svc, req, meta).await
    }
    .unwrap_or_else(|e| Reply::error(&e));
    reply.headers.extend(cors);
    Ok(reply)
}

fn preflight(cfg: &Config, meta: &Meta, route: &Route) -> Result<Reply, AuthError> {
    match meta.origin.as_deref() {
        Some(o) if cfg.allowed_origins.iter().any(|a| a == o) => {
            let mut r = Reply::empty(204);
            r.headers
                .extend(preflight_headers(&format!("{}, OPTIONS", route.method())));
            Ok(r)
        }
        _ => Err(AuthError::ForbiddenOrigin("origin not allowed")),
    }
}

async fn dispatch(
    route: &Route,
    svc: &Service<'_>,
    req: &Request,
    meta: &Meta,
) -> Result<Reply, AuthError> {
    match route {
        Route::Login => login(svc, req, meta).await,
        Route::Sessions => sessions(svc, req, meta).await,
        Route::Users => create_user(svc, req, meta).await,
        Route::User(name) => delete_user(svc, meta, name).await,
        Route::Refresh => refresh(svc, req, meta).await,
        Route::Logout => logout(svc, req, meta).await,
        Route::Revoke => revoke(svc, req, meta).await,
        Route::LogoutAll => logout_all(svc, meta).await,
        Route::Jwks => Ok(Reply::json(200, &svc.jwks())),
        Route::Me => me(svc, meta).await,
    }
}

const JSON: &[BodyKind] = &[BodyKind::Json];
const JSON_OR_FORM: &[BodyKind] = &[BodyKind::Json, BodyKind::Form];

async fn params(
    svc: &Service<'_>,
    req: &Request,
    meta: &Meta,
    accepted: &[BodyKind],
) -> Result<Params, AuthError> {
    read_params(req, meta, svc.config.max_body_bytes, accepted)
        .await
        .map(|(p, _)| p)
}

/// How the refresh token travels for this request.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Transport {
    Body,
    Cookie,
}

fn token_reply(svc: &Service<'_>, meta: &Meta, r: &TokenResponse, transport: Transport) -> Reply {
    let reply = Reply::json(200, &r.to_json(transport == Transport::Body));
    match transport {
        Transport::Body => reply,
        Transport::Cookie => {
            let secure = cookie_secure(svc.config, &meta.self_origin);
            reply
                .with(
                    "Set-Cookie",
                    set_refresh_cookie(&r.refresh_token.as_str(), r.refresh_expires_in, secure),
                )
                .with(
                    "Set-Cookie",
                    session_hint_cookie(true, r.refresh_expires_in, secure),
                )
        }
    }
}

/// The answer to a cookie-transport request whose session is over (or was never there): the
/// refresh cookie cleared and the session hint set to `0`, so the page's next `restore()` can
/// skip a request that would only be refused.
fn session_over(svc: &Service<'_>, meta: &Meta, reply: Reply) -> Reply {
    let secure = cookie_secure(svc.config, &meta.self_origin);
    reply.with("Set-Cookie", clear_refresh_cookie(secure)).with(
        "Set-Cookie",
        session_hint_cookie(false, svc.config.refresh_absolute, secure),
    )
}

async fn login(svc: &Service<'_>, req: &Request, meta: &Meta) -> Result<Reply, AuthError> {
    let p = params(svc, req, meta, JSON).await?;
    let transport = match p.str("transport")? {
        None | Some("body") => Transport::Body,
        Some("cookie") => Transport::Cookie,
        Some(_) => {
            return Err(AuthError::InvalidRequest(
                "transport must be \"cookie\" or \"body\"",
            ))
        }
    };
    if transport == Transport::Cookie {
        meta.provenance().check_cookie_request(svc.config)?;
    }
    let username = p.required("username", "username and password are required")?;
    let password = p.required("password", "username and password are required")?;
    let r = svc.login(username, password, now()).await?;
    Ok(token_reply(svc, meta, &r, transport))
}

fn admin(svc: &Service<'_>, meta: &Meta) -> Result<(), AuthError> {
    svc.check_admin(bearer(meta.authorization.as_deref()))
}

async fn sessions(svc: &Service<'_>, req: &Request, meta: &Meta) -> Result<Reply, AuthError> {
    admin(svc, meta)?;
    let p = params(svc, req, meta, JSON).await?;
    let sub = p.required("sub", "sub is required")?;
    let claims = p.object("claims")?.cloned().unwrap_or_default();
    let r = svc.create_session(sub, claims, now()).await?;
    Ok(token_reply(svc, meta, &r, Transport::Body))
}

async fn create_user(svc: &Service<'_>, req: &Request, meta: &Meta) -> Result<Reply, AuthError> {
    admin(svc, meta)?;
    let p = params(svc, req, meta, JSON).await?;
    let username = p.required("username", "username and password are required")?;
    let password = p.required("password", "username and password are required")?;
    let sub = svc.create_user(username, password, p.str("sub")?).await?;
    Ok(Reply::json(
        201,
        &json!({ "username": username, "sub": sub }),
    ))
}

async fn delete_user(svc: &Service<'_>, meta: &Meta, username: &str) -> Result<Reply, AuthError> {
    admin(svc, meta)?;
    svc.delete_user(username).await?;
    Ok(Reply::empty(204))
}

/// The refresh token of a refresh or logout request: from the body (`refresh_token`), else
/// from the cookie (which requires the CSRF rules).
fn presented_token<'a>(
    svc: &Service<'_>,
    meta: &'a Meta,
    p: &'a Params,
) -> Result<(&'a str, Transport), AuthError> {
    if let Some(t) = p.str("refresh_token")? {
        if t.is_empty() {
            return Err(AuthError::InvalidRequest("refresh_token is empty"));
        }
        return Ok((t, Transport::Body));
    }
    match cookie(meta.cookie.as_deref(), COOKIE_NAME)? {
        Some(t) if svc.config.refresh_cookie && !t.is_empty() => {
            meta.provenance().check_cookie_request(svc.config)?;
            Ok((t, Transport::Cookie))
        }
        _ => Err(AuthError::InvalidRequest(
            "refresh_token is required (in the body or the cookie)",
        )),
    }
}

async fn refresh(svc: &Service<'_>, req: &Request, meta: &Meta) -> Result<Reply, AuthError> {
    let (p, kind) = read_params(req, meta, svc.config.max_body_bytes, JSON_OR_FORM).await?;
    match p.str("grant_type")? {
        Some("refresh_token") => {}
        Some(_) => return Err(AuthError::UnsupportedGrantType),
        None if kind == BodyKind::Form && p.names().next().is_some() => {
            return Err(AuthError::InvalidRequest("grant_type is required"));
        }
        None => {}
    }
    let (token, transport) = match presented_token(svc, meta, &p) {
        Ok(found) => found,
        // No token at all from the package in cookie mode (it sends the CSRF header): a
        // signed-out page restoring; tell it through the hint, so it does not ask again.
        Err(e @ AuthError::InvalidRequest(_))
            if svc.config.refresh_cookie
                && meta.csrf.is_some()
                && p.names().next().is_none()
                && cookie(meta.cookie.as_deref(), COOKIE_NAME) == Ok(None) =>
        {
            return Ok(session_over(svc, meta, Reply::error(&e)));
        }
        Err(e) => return Err(e),
    };
    match svc.refresh(token, now()).await {
        Ok(r) => Ok(token_reply(svc, meta, &r, transport)),
        Err(AuthError::InvalidGrant) if transport == Transport::Cookie => {
            // The session is over: drop the dead cookie.
            Ok(session_over(
                svc,
                meta,
                Reply::error(&AuthError::InvalidGrant),
            ))
        }
        Err(e) => Err(e),
    }
}

async fn logout(svc: &Service<'_>, req: &Request, meta: &Meta) -> Result<Reply, AuthError> {
    let p = params(svc, req, meta, JSON).await?;
    let (token, transport) = presented_token(svc, meta, &p)?;
    svc.logout(token, now()).await?;
    let reply = Reply::json(200, &json!({}));
    Ok(match transport {
        Transport::Cookie => session_over(svc, meta, reply),
        Transport::Body => reply,
    })
}

async fn revoke(svc: &Service<'_>, req: &Request, meta: &Meta) -> Result<Reply, AuthError> {
    let p = params(svc, req, meta, JSON_OR_FORM).await?;
    let token = p.required("token", "token is required")?;
    p.str("token_type_hint")?;
    svc.revoke(token, now()).await?;
    Ok(Reply::json(200, &json!({})))
}

async fn access(svc: &Service<'_>, meta: &Meta) -> Result<Verified, AuthError> {
    let token = bearer(meta.authorization.as_deref()).ok_or(AuthError::InvalidToken)?;
    svc.verify_access(token, now()).await
}

async fn logout_all(svc: &Service<'_>, meta: &Meta) -> Result<Reply, AuthError> {
    let token = bearer(meta.authorization.as_deref()).ok_or(AuthError::InvalidToken)?;
    svc.logout_all(token, now()).await?;
    Ok(Reply::json(200, &json!({})))
}

async fn me(svc: &Service<'_>, meta: &Meta) -> Result<Reply, AuthError> {
    let verified = access(svc, meta).await?;
    Ok(Reply::json(
        200,
        &serde_json::Value::Object(verified.claims),
    ))
}
