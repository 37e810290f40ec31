//! Sign-in with an OpenID provider, the Worker's side: `GET /auth/authorize`,
//! `GET /auth/callback`, and the provider's token and revocation endpoints reached with the
//! runtime's `fetch`. Every decision is the core's ([`crate::core::server::oidc`]); this file
//! fetches, caches per isolate (the discovery document and the provider's keys), and formats.
//!
//! ID token signatures are verified by the runtime's Web Crypto ([`WebCryptoJws`]); the core
//! checks everything else (bench/oidc/run.sh measures both).

use super::crypto::WebCryptoJws;
use super::http::{Meta, Reply};
use super::rotation_object::Rotation;
use super::{now, now_ms, Service};
use crate::core::protocol;
use crate::core::server::error::AuthError;
use crate::core::server::http::{cookie, cookie_secure, form_decode};
use crate::core::server::oidc::discovery::{discovery_url, Discovery};
use crate::core::server::oidc::flow::{
    authorization_url, check_callback, check_return_to, set_tx_cookie, tx_cookie_name,
    with_auth_error, AuthErrorCode, CallbackParams, Failure, Transaction,
};
use crate::core::server::oidc::id_token::{self, may_refetch, IdTokenExpectations, ProviderKeys};
use crate::core::server::oidc::upstream::{
    code_request, refresh_request, revocation_request, session_claims, subject, token_answer,
    FormPost, Grant, TokenAnswer, UpstreamClient,
};
use crate::core::server::oidc::UpstreamConfig;
use crate::core::server::rotation::{Answer, Call};
use crate::core::server::route_limit::{callback_key, RouteLimiter};
use crate::core::server::store::KvStore;
use crate::core::server::Config;
use futures_util::future::{select, Either};
use js_sys::Uint8Array;
use serde_json::json;
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// How long a request to the provider may take before it counts as unavailable.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest answer read from the provider (bytes).
const MAX_PROVIDER_BODY: usize = 256 * 1024;
/// How long the discovery document is kept per isolate (seconds).
const DISCOVERY_TTL: u64 = 3600;

/// What this isolate knows of the provider.
struct Known {
    disc: Rc<Discovery>,
    fetched: u64,
    keys: Rc<ProviderKeys>,
    /// When an unknown `kid` last caused a JWKS fetch.
    refetched: Option<u64>,
}

thread_local! {
    static PROVIDER: RefCell<Option<Known>> = const { RefCell::new(None) };
    /// Callbacks per client address in this isolate ([`callback_key`]).
    static CALLBACK_LIMITER: RefCell<RouteLimiter> = RefCell::new(RouteLimiter::new());
}

/// A response of the provider: status and body; `Err` when there was none (network, timeout).
async fn send(
    req: web_sys::Request,
    controller: &web_sys::AbortController,
) -> Result<(u16, Vec<u8>), ()> {
    let global: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    let fetch = JsFuture::from(global.fetch_with_request(&req));
    let timer = worker::Delay::from(PROVIDER_TIMEOUT);
    let resp = match select(Box::pin(fetch), Box::pin(timer)).await {
        Either::Left((Ok(resp), _)) => resp,
        Either::Left((Err(_), _)) => return Err(()),
        Either::Right(_) => {
            controller.abort();
            return Err(());
        }
    };
    let resp: web_sys::Response = resp.dyn_into().map_err(|_| ())?;
    let status = resp.status();
    let body = JsFuture::from(resp.array_buffer().map_err(|_| ())?)
        .await
        .map_err(|_| ())?;
    let body = Uint8Array::new(&body);
    if body.length() as usize > MAX_PROVIDER_BODY {
        return Err(());
    }
    Ok((status, body.to_vec()))
}

fn init(method: &str, controller: &web_sys::AbortController) -> web_sys::RequestInit {
    let init = web_sys::RequestInit::new();
    init.set_method(method);
    init.set_signal(Some(&controller.signal()));
    // Never follow a redirect from the provider's endpoints.
    init.set_redirect(web_sys::RequestRedirect::Manual);
    init
}

async fn get(url: &str) -> Result<(u16, Vec<u8>), ()> {
    let controller = web_sys::AbortController::new().map_err(|_| ())?;
    let init = init("GET", &controller);
    let headers = web_sys::Headers::new().map_err(|_| ())?;
    headers.set("Accept", "application/json").map_err(|_| ())?;
    init.set_headers(&headers);
    let req = web_sys::Request::new_with_str_and_init(url, &init).map_err(|_| ())?;
    send(req, &controller).await
}

/// Sends a form POST the core built.
async fn post(p: &FormPost) -> Result<(u16, Vec<u8>), ()> {
    let controller = web_sys::AbortController::new().map_err(|_| ())?;
    let init = init("POST", &controller);
    let headers = web_sys::Headers::new().map_err(|_| ())?;
    let set = |k: &str, v: &str| headers.set(k, v).map_err(|_| ());
    set("Content-Type", "application/x-www-form-urlencoded")?;
    set("Accept", "application/json")?;
    if let Some(a) = &p.authorization {
        set("Authorization", a)?;
    }
    init.set_headers(&headers);
    init.set_body(&JsValue::from_str(&p.body));
    let req = web_sys::Request::new_with_str_and_init(&p.url, &init).map_err(|_| ())?;
    send(req, &controller).await
}

async fn fetch_keys(disc: &Discovery) -> Result<ProviderKeys, AuthError> {
    match get(&disc.jwks_uri).await {
        Ok((200, body)) => ProviderKeys::parse(&body).ok_or_else(|| {
            worker::console_error!("silent-refresh: the provider's JWKS is malformed");
            AuthError::TemporarilyUnavailable
        }),
        _ => {
            worker::console_error!("silent-refresh: the provider's JWKS is unreachable");
            Err(AuthError::TemporarilyUnavailable)
        }
    }
}

/// The provider's discovery document and keys, fetched once per isolate (the document again
/// after [`DISCOVERY_TTL`]).
async fn provider(cfg: &UpstreamConfig) -> Result<(Rc<Discovery>, Rc<ProviderKeys>), AuthError> {
    let t = now();
    let cached = PROVIDER.with(|p| {
        p.borrow()
            .as_ref()
            .filter(|k| t < k.fetched + DISCOVERY_TTL)
            .map(|k| (k.disc.clone(), k.keys.clone()))
    });
    if let Some(found) = cached {
        return Ok(found);
    }
    let disc = match get(&discovery_url(&cfg.issuer)).await {
        Ok((200, body)) => Discovery::parse(&cfg.issuer, &body).map_err(|e| {
            worker::console_error!("silent-refresh: UPSTREAM_ISSUER: {e}");
            AuthError::TemporarilyUnavailable
        })?,
        _ => {
            worker::console_error!(
                "silent-refresh: the provider's discovery document is unreachable"
            );
            return Err(AuthError::TemporarilyUnavailable);
        }
    };
    let keys = Rc::new(fetch_keys(&disc).await?);
    let disc = Rc::new(disc);
    PROVIDER.with(|p| {
        *p.borrow_mut() = Some(Known {
            disc: disc.clone(),
            fetched: t,
            keys: keys.clone(),
            refetched: None,
        })
    });
    Ok((disc, keys))
}

/// The provider's keys after an unknown `kid`: fetched again at most once per interval.
async fn refetch_keys(disc: &Discovery) -> Option<Rc<ProviderKeys>> {
    let t = now();
    let allowed = PROVIDER.with(|p| {
        p.borrow()
            .as_ref()
            .is_some_and(|k| may_refetch(k.refetched, t))
    });
    if !allowed {
        return None;
    }
    // Counted before the fetch: concurrent unknown kids in this isolate make one fetch.
    PROVIDER.with(|p| {
        if let Some(k) = p.borrow_mut().as_mut() {
            k.refetched = Some(t);
        }
    });
    let keys = Rc::new(fetch_keys(disc).await.ok()?);
    PROVIDER.with(|p| {
        if let Some(k) = p.borrow_mut().as_mut() {
            k.keys = keys.clone();
        }
    });
    Some(keys)
}

/// The provider as the rotation uses it (refreshes and revocations), in the Worker or in the
/// subject's object.
pub(crate) struct WorkerUpstream<'a> {
    cfg: Option<&'a UpstreamConfig>,
}

impl<'a> WorkerUpstream<'a> {
    /// For the provider of `cfg` (none configured: refreshes are unavailable).
    pub(crate) fn new(cfg: &'a Config) -> Self {
        WorkerUpstream {
            cfg: cfg.upstream.as_ref(),
        }
    }
}

impl UpstreamClient for WorkerUpstream<'_> {
    async fn refresh(&self, refresh_token: &str) -> TokenAnswer {
        let Some(cfg) = self.cfg else {
            return TokenAnswer::Unavailable;
        };
        let Ok((disc, _)) = provider(cfg).await else {
            return TokenAnswer::Unavailable;
        };
        let answer = match post(&refresh_request(&disc, cfg, refresh_token)).await {
            Ok((status, body)) => token_answer(Some(status), &body),
            Err(()) => token_answer(None, &[]),
        };
        match &answer {
            TokenAnswer::Tokens(_) => {}
            other => worker::console_log!(
                "silent-refresh: provider refresh: {}",
                match other {
                    TokenAnswer::InvalidGrant => "invalid_grant (family revoked)",
                    TokenAnswer::Refused => "refused (check UPSTREAM_CLIENT_ID/SECRET)",
                    _ => "unavailable",
                }
            ),
        }
        answer
    }

    async fn revoke(&self, grant: &Grant, why: &str) {
        let (Some(cfg), Some(rt)) = (self.cfg, grant.rt.as_deref()) else {
            return;
        };
        let Ok((disc, _)) = provider(cfg).await else {
            worker::console_log!("silent-refresh: provider revocation after {why}: unavailable");
            return;
        };
        let Some(req) = revocation_request(&disc, cfg, rt) else {
            return;
        };
        let outcome = match post(&req).await {
            Ok((200, _)) => "done",
            Ok(_) => "refused",
            Err(()) => "unavailable",
        };
        worker::console_log!("silent-refresh: provider revocation after {why}: {outcome}");
    }
}

/// The query's value of `name` (decoded); `Err` when duplicated or malformed.
fn query_param(url: &str, name: &str) -> Result<Option<String>, AuthError> {
    let query = url.split_once('?').map_or("", |(_, q)| q);
    let query = query.split_once('#').map_or(query, |(q, _)| q);
    let mut found = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if k == name {
            if found.is_some() {
                return Err(AuthError::InvalidRequest("duplicated parameter"));
            }
            found = Some(form_decode(v)?);
        }
    }
    Ok(found)
}

fn upstream(cfg: &Config) -> Result<&UpstreamConfig, AuthError> {
    cfg.upstream.as_ref().ok_or(AuthError::NotFound)
}

fn redirect_uri(meta: &Meta) -> String {
    format!("{}{}", meta.self_origin, protocol::CALLBACK_PATH)
}

/// `GET /auth/authorize?return_to=<path>`: a new transaction and a 302 to the provider.
pub(super) async fn authorize(svc: &Service<'_>, meta: &Meta) -> Result<Reply, AuthError> {
    let cfg = upstream(svc.config)?;
    let given = query_param(&meta.url, "return_to")?;
    let return_to = check_return_to(given.as_deref()).ok_or(AuthError::InvalidRequest(
        "return_to must be a path on this site (one leading /, no //, \\, scheme, whitespace or control character)",
    ))?;
    let (disc, _) = provider(cfg).await?;
    let tx = Transaction::new(return_to, now()).ok_or(AuthError::TemporarilyUnavailable)?;
    let sealed = tx
        .seal(cfg)
        .ok_or(AuthError::ServerError("sealing the transaction failed"))?;
    let secure = cookie_secure(svc.config, &meta.self_origin);
    let location = authorization_url(&disc, cfg, &redirect_uri(meta), &tx);
    Ok(Reply::empty(302).with("Location", location).with(
        "Set-Cookie",
        set_tx_cookie(
            &sealed,
            crate::core::server::oidc::flow::TRANSACTION_TTL,
            secure,
        ),
    ))
}

/// A failed callback: 303 back to `return_to` with `auth_error`, or 400 without a transaction;
/// the transaction cookie cleared either way.
fn failed(svc: &Service<'_>, meta: &Meta, f: Failure) -> Reply {
    let secure = cookie_secure(svc.config, &meta.self_origin);
    let reply = match &f.return_to {
        Some(to) => Reply::empty(303).with("Location", with_auth_error(to, f.code)),
        None => Reply::json(
            400,
            &json!({
                "error": "invalid_request",
                "error_description": "no sign-in in progress in this browser, or it expired",
                "auth_error": f.code.code(),
            }),
        ),
    };
    reply.with("Set-Cookie", set_tx_cookie("", 0, secure))
}

/// `GET /auth/callback`: the provider's answer checked, the code exchanged, the ID token
/// verified, then a session started as a cookie-transport login starts one; 303 to
/// `return_to`. Never a 5xx: every failure is a redirect with `auth_error` or a 400.
pub(super) async fn callback(
    svc: &Service<'_>,
    rot: &Rotation,
    meta: &Meta,
) -> Result<Reply, AuthError> {
    let cfg = upstream(svc.config)?;
    let secure = cookie_secure(svc.config, &meta.self_origin);
    let tx_cookie = cookie(meta.cookie.as_deref(), tx_cookie_name(secure))
        .ok()
        .flatten();
    let query = meta.url.split_once('?').map_or("", |(_, q)| q);
    let query = query.split_once('#').map_or(query, |(q, _)| q);
    let params = CallbackParams::parse(query);
    let t = now();
    let early = Transaction::open_for_return(cfg, tx_cookie, t);
    let fail = |code: AuthErrorCode, return_to: Option<String>| {
        failed(svc, meta, Failure { code, return_to })
    };
    // The document and keys are read once: a second read could find the cache expired and the
    // provider gone after the first succeeded (a 5xx-free callback must not depend on it).
    let (disc, keys) = match provider(cfg).await {
        Ok(found) => found,
        Err(_) => return Ok(fail(AuthErrorCode::TemporarilyUnavailable, early)),
    };
    let (tx, code) = match check_callback(cfg, &disc, params, tx_cookie, t) {
        Ok(found) => found,
        Err(f) => return Ok(failed(svc, meta, f)),
    };
    let back = Some(tx.return_to.clone());
    // A callback that would cost a store write and a request to the provider: counted per
    // client address (ROUTE_RATE_LIMIT per 10 s in this isolate).
    let key = callback_key(meta.client_ip.as_deref());
    let limit = svc.config.route_rate_limit;
    if CALLBACK_LIMITER
        .with(|l| l.borrow_mut().check(&key, limit, now_ms()))
        .is_err()
    {
        worker::console_log!("silent-refresh: sign-in: callback rate limit (ROUTE_RATE_LIMIT)");
        return Ok(fail(AuthErrorCode::TemporarilyUnavailable, back));
    }
    // Single use: a transaction already spent (its cookie and callback URL replayed) is refused.
    let spent = tx.spent_key();
    match svc.store.get(&spent).await {
        Ok(None) => {}
        Ok(Some(_)) => return Ok(fail(AuthErrorCode::InvalidState, back)),
        Err(_) => return Ok(fail(AuthErrorCode::TemporarilyUnavailable, back)),
    }
    let ttl = tx
        .exp
        .saturating_sub(t)
        .max(crate::core::server::store::MIN_TTL);
    if svc.store.put(&spent, "1", Some(ttl)).await.is_err() {
        return Ok(fail(AuthErrorCode::TemporarilyUnavailable, back));
    }
    let exchange = code_request(&disc, cfg, &code, &redirect_uri(meta), &tx.verifier);
    let tokens = match post(&exchange).await {
        Ok((status, body)) => token_answer(Some(status), &body),
        Err(()) => TokenAnswer::Unavailable,
    };
    let tokens = match tokens {
        TokenAnswer::Tokens(t) => t,
        TokenAnswer::Unavailable => return Ok(fail(AuthErrorCode::TemporarilyUnavailable, back)),
        TokenAnswer::InvalidGrant | TokenAnswer::Refused => {
            worker::console_log!("silent-refresh: sign-in: the provider refused the code exchange");
            return Ok(fail(AuthErrorCode::ExchangeFailed, back));
        }
    };
    let Some(id_token) = tokens.id_token.as_deref() else {
        worker::console_log!("silent-refresh: sign-in: no ID token in the provider's answer");
        return Ok(fail(AuthErrorCode::InvalidIdToken, back));
    };
    let want = IdTokenExpectations {
        issuer: &cfg.issuer,
        client_id: &cfg.client_id,
        nonce: &tx.nonce,
        // The clock after the exchange: the ID token was issued during it (a workerd clock read
        // at the callback's start can be a second behind the token's `iat`).
        now: now(),
        leeway: svc.config.leeway,
    };
    let mut verified = id_token::verify(&keys, id_token, &want, &WebCryptoJws).await;
    if verified == Err(id_token::IdTokenError::UnknownKey) {
        // A key rotation at the provider: one bounded refetch.
        if let Some(keys) = refetch_keys(&disc).await {
            verified = id_token::verify(&keys, id_token, &want, &WebCryptoJws).await;
        }
    }
    let claims = match verified {
        Ok(c) => c,
        Err(e) => {
            worker::console_log!("silent-refresh: sign-in: ID token refused: {}", e.code());
            return Ok(fail(AuthErrorCode::InvalidIdToken, back));
        }
    };
    let provider_sub = claims
        .get("sub")
        .and_then(|s| s.as_str())
        .unwrap_or_default();
    let sub = subject(&cfg.issuer, provider_sub);
    let grant = Grant::from_tokens(&tokens, None, t);
    let start = Call::StartFamily {
        sub,
        claims: session_claims(cfg, &claims),
        dpop: None,
        epoch: None,
        upstream: Some(grant),
    };
    let r = match rot.run(svc, start, now_ms()).await {
        Ok(Answer::Issued(r)) => r,
        _ => return Ok(fail(AuthErrorCode::TemporarilyUnavailable, back)),
    };
    let reply = Reply::empty(303)
        .with("Location", tx.return_to.clone())
        .with("Set-Cookie", set_tx_cookie("", 0, secure));
    Ok(super::handlers::with_session_cookies(reply, &r, secure))
}

/// The RP-initiated logout URL of a provider sign-in's logout.
pub(super) async fn end_session_url(cfg: &Config, meta: &Meta, id_token: &str) -> Option<String> {
    let up = cfg.upstream.as_ref()?;
    let (disc, _) = provider(up).await.ok()?;
    let back = up
        .post_logout_redirect
        .clone()
        .unwrap_or_else(|| format!("{}/", meta.self_origin));
    crate::core::server::oidc::upstream::end_session_url(&disc, up, Some(id_token), &back)
}
