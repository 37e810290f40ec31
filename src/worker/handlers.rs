//! The endpoint handlers: each parses its request, calls the core's [`AuthService`] and
//! formats the answer. [`dispatch`] maps the endpoint the route table chose to its handler.

use super::crypto::WebCryptoEs256;
use super::http::{read_params, Meta, Reply};
use super::rotation_object::Rotation;
use super::throttle::DurableThrottle;
use super::throttle::THROTTLE_BINDING;
use super::{log_event, log_replay, misconfigured, now, now_ms, Service};
use crate::core::protocol;
use crate::core::server::access::Verified;
use crate::core::server::config::is_loopback_origin;
use crate::core::server::dpop::{self, DpopError, Expect, Proof};
use crate::core::server::error::AuthError;
use crate::core::server::error::Misconfig;
use crate::core::server::events::{EndedBy, Event};
use crate::core::server::http::{
    bearer, clear_refresh_cookie, clear_unprefixed_cookie, cookie, cookie_secure, dpop_token,
    percent_decode_path, refresh_cookie_name, session_hint_cookie, set_refresh_cookie, BodyKind,
    Params, COOKIE_NAME, MAX_HEADER_LEN,
};
use crate::core::server::rotation::{Answer, Call};
use crate::core::server::routes::{Endpoint, Matched};
use crate::core::server::throttle::address_keys;
use crate::core::server::TokenResponse;
use serde_json::json;
use web_sys::Request;
use worker::Env;

/// Runs the handler of the matched endpoint.
pub(super) async fn dispatch(
    matched: Matched<'_>,
    svc: &Service<'_>,
    rot: &Rotation,
    env: &Env,
    req: &Request,
    meta: &Meta,
) -> Result<Reply, AuthError> {
    let reply = match matched.endpoint {
        Endpoint::Login => login(svc, rot, env, req, meta).await,
        Endpoint::CreateSession => sessions(svc, rot, req, meta).await,
        Endpoint::CreateUser => create_user(svc, req, meta).await,
        Endpoint::DeleteUser => delete_user(svc, rot, meta, matched.segment).await,
        Endpoint::SetPassword => set_password(svc, rot, req, meta, matched.segment).await,
        Endpoint::RevokeSubject => revoke_subject(svc, rot, meta, matched.segment).await,
        Endpoint::Refresh => refresh(svc, rot, req, meta).await,
        Endpoint::Logout => logout(svc, rot, req, meta).await,
        Endpoint::Revoke => revoke(svc, rot, req, meta).await,
        Endpoint::LogoutAll => logout_all(svc, rot, meta).await,
        Endpoint::Jwks => Ok(Reply::json(200, &svc.jwks())),
        Endpoint::Me => me(svc, meta).await,
        Endpoint::Authorize => super::oidc::authorize(svc, meta).await,
        Endpoint::Callback => super::oidc::callback(svc, rot, meta).await,
        // Answered before the configuration is read (see `super::health`).
        Endpoint::Health => Err(AuthError::NotFound),
    };
    if let Some(route) = admin_route(matched.endpoint) {
        log_event(&Event::AdminCall {
            method: meta.method.clone(),
            route,
            status: reply.as_ref().map_or_else(AuthError::status, |r| r.status),
        });
    }
    if let Err(AuthError::DpopBinding) = &reply {
        log_event(&Event::DpopKeyMismatch {
            path: meta.path.clone(),
        });
    }
    reply
}

/// The route prefix of an admin endpoint (for its log line), `None` for the others.
fn admin_route(endpoint: Endpoint) -> Option<&'static str> {
    match endpoint {
        Endpoint::CreateSession | Endpoint::RevokeSubject => Some(protocol::SESSIONS_PATH),
        Endpoint::CreateUser | Endpoint::DeleteUser | Endpoint::SetPassword => {
            Some(protocol::USERS_PATH)
        }
        _ => None,
    }
}

/// The request's DPoP proof checked against the request (at a resource, `access_token` is the
/// token it must name in `ath`); `None` without a `DPoP` header.
async fn proof(meta: &Meta, access_token: Option<&str>) -> Result<Option<Proof>, DpopError> {
    let Some(proof) = meta.dpop.as_deref() else {
        return Ok(None);
    };
    let want = Expect {
        method: &meta.method,
        url: &meta.url,
        now: now(),
        window: dpop::IAT_WINDOW,
        access_token,
    };
    dpop::verify(proof, &want, &WebCryptoEs256).await.map(Some)
}

/// The proof of a token-endpoint request (login, sessions, refresh): an invalid one is
/// `400 invalid_dpop_proof`.
async fn token_endpoint_proof(meta: &Meta) -> Result<Option<Proof>, AuthError> {
    proof(meta, None).await.map_err(AuthError::InvalidDpopProof)
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
            clear_stray_cookie(with_session_cookies(reply, r, secure), meta, secure)
        }
    }
}

/// `reply` with a session's cookies: the refresh token's and the session hint (`sr_session=1`).
pub(crate) fn with_session_cookies(reply: Reply, r: &TokenResponse, secure: bool) -> Reply {
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

/// A `Secure` deployment never uses an unprefixed `sr_refresh` (planted by a sibling
/// subdomain, or left from before the prefix): the answer clears the one this host can clear.
fn clear_stray_cookie(reply: Reply, meta: &Meta, secure: bool) -> Reply {
    if secure && cookie(meta.cookie.as_deref(), COOKIE_NAME) != Ok(None) {
        reply.with("Set-Cookie", clear_unprefixed_cookie())
    } else {
        reply
    }
}

/// The refresh cookie of a request.
enum CookieToken<'a> {
    /// None sent.
    Absent,
    /// One value.
    One(&'a str),
    /// Sent twice (one of them planted; we cannot tell which). Treated like a dead token:
    /// refused and cleared, never a 400 that would repeat forever.
    Duplicated,
}

fn refresh_cookie<'a>(svc: &Service<'_>, meta: &'a Meta) -> Result<CookieToken<'a>, AuthError> {
    if meta
        .cookie
        .as_ref()
        .is_some_and(|h| h.len() > MAX_HEADER_LEN)
    {
        return Err(AuthError::InvalidRequest("Cookie header too long"));
    }
    let name = refresh_cookie_name(cookie_secure(svc.config, &meta.self_origin));
    Ok(match cookie(meta.cookie.as_deref(), name) {
        Ok(None) => CookieToken::Absent,
        Ok(Some(t)) => CookieToken::One(t),
        Err(_) => CookieToken::Duplicated,
    })
}

/// The answer to a cookie-transport request whose session is over (or was never there): the
/// refresh cookie cleared and the session hint set to `0`, so the page's next `restore()` can
/// skip a request that would only be refused.
fn session_over(svc: &Service<'_>, meta: &Meta, reply: Reply) -> Reply {
    let secure = cookie_secure(svc.config, &meta.self_origin);
    let reply = reply.with("Set-Cookie", clear_refresh_cookie(secure)).with(
        "Set-Cookie",
        session_hint_cookie(false, svc.config.refresh_absolute, secure),
    );
    clear_stray_cookie(reply, meta, secure)
}

/// The tokens of a call that issues them.
fn issued(answer: Answer) -> Result<TokenResponse, AuthError> {
    match answer {
        Answer::Issued(r) => Ok(r),
        _ => Err(AuthError::TemporarilyUnavailable),
    }
}

async fn login(
    svc: &Service<'_>,
    rot: &Rotation,
    env: &Env,
    req: &Request,
    meta: &Meta,
) -> Result<Reply, AuthError> {
    if !svc.config.password_login {
        // Sign-in goes through the OpenID provider (PASSWORD_LOGIN = "on" allows both).
        return Err(AuthError::NotFound);
    }
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
    let dpop = token_endpoint_proof(meta).await?;
    if dpop.is_none() && svc.config.require_dpop {
        // REQUIRE_DPOP: refused before any password work (the family start refuses it too).
        return Err(AuthError::InvalidDpopProof(DpopError::Missing));
    }
    if svc
        .config
        .demo_user
        .as_ref()
        .is_some_and(|d| d.username == username)
        && !is_loopback_origin(&meta.self_origin)
    {
        // The demo user is for local development: never a live account on a public host,
        // whatever ISSUER says.
        log_event(&Event::DemoUserRefused);
        return Err(AuthError::InvalidCredentials);
    }
    let throttle = DurableThrottle::from_env(env)
        .ok_or_else(|| misconfigured(Misconfig::Binding(THROTTLE_BINDING)))?;
    if address_keys(meta.client_ip.as_deref()).is_none() {
        // Cloudflare's edge always sets it: without it the Worker is not behind Cloudflare.
        worker::console_error!(
            "login refused: no usable CF-Connecting-IP ({} bytes); logins are counted per client address",
            meta.client_ip.as_deref().map_or(0, str::len)
        );
    }
    let sub = svc
        .authenticate(
            username,
            password,
            meta.client_ip.as_deref(),
            &throttle,
            now_ms(),
        )
        .await
        .inspect_err(|e| {
            if let AuthError::TooManyAttempts(retry_after) = e {
                log_event(&Event::LoginThrottled {
                    account: username.to_string(),
                    retry_after: *retry_after,
                });
            }
        })?;
    let start = Call::StartFamily {
        sub,
        claims: Default::default(),
        dpop,
        epoch: None,
        upstream: None,
    };
    let r = issued(rot.run(svc, start, now_ms()).await?)?;
    Ok(token_reply(svc, meta, &r, transport))
}

fn admin(svc: &Service<'_>, meta: &Meta) -> Result<(), AuthError> {
    svc.check_admin(bearer(meta.authorization.as_deref()))
}

async fn sessions(
    svc: &Service<'_>,
    rot: &Rotation,
    req: &Request,
    meta: &Meta,
) -> Result<Reply, AuthError> {
    admin(svc, meta)?;
    let p = params(svc, req, meta, JSON).await?;
    let sub = p.required("sub", "sub is required")?.to_string();
    let claims = p.object("claims")?.cloned().unwrap_or_default();
    let dpop = token_endpoint_proof(meta).await?;
    let r = issued(
        rot.run(
            svc,
            Call::StartFamily {
                sub,
                claims,
                dpop,
                epoch: None,
                upstream: None,
            },
            now_ms(),
        )
        .await?,
    )?;
    Ok(token_reply(svc, meta, &r, Transport::Body))
}

async fn create_user(svc: &Service<'_>, req: &Request, meta: &Meta) -> Result<Reply, AuthError> {
    admin(svc, meta)?;
    let p = params(svc, req, meta, JSON).await?;
    let username = p.required("username", "username and password are required")?;
    let password = p.required("password", "username and password are required")?;
    let sub = svc.create_user(username, password, p.str("sub")?).await?;
    log_event(&Event::UserCreated { sub: sub.clone() });
    Ok(Reply::json(
        201,
        &json!({ "username": username, "sub": sub }),
    ))
}

async fn delete_user(
    svc: &Service<'_>,
    rot: &Rotation,
    meta: &Meta,
    username: &str,
) -> Result<Reply, AuthError> {
    admin(svc, meta)?;
    // Sessions end first, where the rotation state lives (strict mode: the user's object),
    // then the user goes: a failure leaves the user in place, and the retry finishes the job.
    let sub = svc.user_subject(username).await?;
    rot.run(svc, Call::EndSessions { sub: sub.clone() }, now_ms())
        .await?;
    svc.remove_user(username).await?;
    log_event(&Event::UserDeleted { sub });
    Ok(Reply::empty(204))
}

async fn set_password(
    svc: &Service<'_>,
    rot: &Rotation,
    req: &Request,
    meta: &Meta,
    username: &str,
) -> Result<Reply, AuthError> {
    admin(svc, meta)?;
    let p = params(svc, req, meta, JSON).await?;
    let password = p.required("password", "password is required")?;
    // As for deletion: sessions end first, then the password changes.
    Service::check_new_password(password)?;
    let sub = svc.user_subject(username).await?;
    rot.run(svc, Call::EndSessions { sub: sub.clone() }, now_ms())
        .await?;
    svc.replace_password(username, password, &sub).await?;
    log_event(&Event::PasswordChanged { sub });
    Ok(Reply::empty(204))
}

async fn revoke_subject(
    svc: &Service<'_>,
    rot: &Rotation,
    meta: &Meta,
    sub: &str,
) -> Result<Reply, AuthError> {
    admin(svc, meta)?;
    let sub = percent_decode_path(sub)?;
    rot.run(svc, Call::EndSessions { sub: sub.clone() }, now_ms())
        .await?;
    log_event(&Event::SessionsEnded {
        sub,
        by: EndedBy::Admin,
    });
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
    let t = match refresh_cookie(svc, meta)? {
        CookieToken::One(t) if !t.is_empty() => t,
        CookieToken::Duplicated => "",
        _ => {
            return Err(AuthError::InvalidRequest(
                "refresh_token is required (in the body or the cookie)",
            ))
        }
    };
    if !svc.config.refresh_cookie {
        return Err(AuthError::InvalidRequest(
            "refresh_token is required (in the body or the cookie)",
        ));
    }
    meta.provenance().check_cookie_request(svc.config)?;
    Ok((t, Transport::Cookie))
}

async fn refresh(
    svc: &Service<'_>,
    rot: &Rotation,
    req: &Request,
    meta: &Meta,
) -> Result<Reply, AuthError> {
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
                && matches!(refresh_cookie(svc, meta), Ok(CookieToken::Absent)) =>
        {
            return Ok(session_over(svc, meta, Reply::error(&e)));
        }
        Err(e) => return Err(e),
    };
    let dpop = token_endpoint_proof(meta).await?;
    let call = Call::Refresh {
        token: token.to_string(),
        dpop,
    };
    match rot.run(svc, call, now_ms()).await.and_then(issued) {
        Ok(r) => {
            if let Some(replay) = &r.replay {
                log_replay(replay);
            }
            Ok(token_reply(svc, meta, &r, transport))
        }
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

async fn logout(
    svc: &Service<'_>,
    rot: &Rotation,
    req: &Request,
    meta: &Meta,
) -> Result<Reply, AuthError> {
    let p = params(svc, req, meta, JSON).await?;
    let (token, transport) = presented_token(svc, meta, &p)?;
    let call = Call::Logout {
        token: token.to_string(),
    };
    let answer = rot.run(svc, call, now_ms()).await?;
    let mut body = json!({});
    if let Answer::Ended { id_token } = &answer {
        // A provider sign-in: where the browser can end its session at the provider too.
        if let Some(url) = super::oidc::end_session_url(svc.config, meta, id_token).await {
            body["end_session_url"] = json!(url);
        }
    }
    let reply = Reply::json(200, &body);
    Ok(match transport {
        Transport::Cookie => session_over(svc, meta, reply),
        Transport::Body => reply,
    })
}

async fn revoke(
    svc: &Service<'_>,
    rot: &Rotation,
    req: &Request,
    meta: &Meta,
) -> Result<Reply, AuthError> {
    let p = params(svc, req, meta, JSON_OR_FORM).await?;
    let token = p.required("token", "token is required")?;
    p.str("token_type_hint")?;
    let call = Call::Revoke {
        token: token.to_string(),
    };
    rot.run(svc, call, now_ms()).await?;
    Ok(Reply::json(200, &json!({})))
}

/// The access token of a resource request and its proof: `Authorization: DPoP <token>` needs a
/// valid `DPoP` proof naming the token (else 401 `invalid_dpop_proof`); `Bearer` has none.
async fn credentials(meta: &Meta) -> Result<(&str, Option<Proof>), AuthError> {
    let authorization = meta.authorization.as_deref();
    if let Some(token) = dpop_token(authorization) {
        let proof = proof(meta, Some(token))
            .await
            .map_err(AuthError::ResourceDpopProof)?
            .ok_or(AuthError::ResourceDpopProof(DpopError::Missing))?;
        return Ok((token, Some(proof)));
    }
    let token = bearer(authorization).ok_or(AuthError::InvalidToken)?;
    Ok((token, None))
}

async fn access(svc: &Service<'_>, meta: &Meta) -> Result<Verified, AuthError> {
    let (token, proof) = credentials(meta).await?;
    svc.verify_access(token, proof.as_ref(), now()).await
}

async fn logout_all(svc: &Service<'_>, rot: &Rotation, meta: &Meta) -> Result<Reply, AuthError> {
    let (token, dpop) = credentials(meta).await?;
    let call = Call::LogoutAll {
        access_token: token.to_string(),
        dpop,
    };
    if let Answer::Epoch { sub, .. } = rot.run(svc, call, now_ms()).await? {
        log_event(&Event::SessionsEnded {
            sub,
            by: EndedBy::LogoutAll,
        });
    }
    Ok(Reply::json(200, &json!({})))
}

async fn me(svc: &Service<'_>, meta: &Meta) -> Result<Reply, AuthError> {
    let verified = access(svc, meta).await?;
    Ok(Reply::json(
        200,
        &serde_json::Value::Object(verified.claims),
    ))
}
