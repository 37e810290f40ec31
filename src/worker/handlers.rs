//! The endpoint handlers: each parses its request, calls the core's [`AuthService`] and
//! formats the answer. [`dispatch`] maps the endpoint the route table chose to its handler.

use super::crypto::WebCryptoEs256;
use super::http::{read_params, Meta, Reply};
use super::rotation_object::Rotation;
use super::{now, Service};
use crate::core::server::access::Verified;
use crate::core::server::dpop::{self, DpopError, Expect, Proof};
use crate::core::server::error::AuthError;
use crate::core::server::http::{
    bearer, clear_refresh_cookie, cookie, cookie_secure, dpop_token, session_hint_cookie,
    set_refresh_cookie, BodyKind, Params, COOKIE_NAME,
};
use crate::core::server::identity::check_username;
use crate::core::server::records::{load, user_key, UserRecord};
use crate::core::server::rotation::{Answer, Call};
use crate::core::server::routes::{Endpoint, Matched};
use crate::core::server::TokenResponse;
use serde_json::json;
use web_sys::Request;

/// Runs the handler of the matched endpoint.
pub(super) async fn dispatch(
    matched: Matched<'_>,
    svc: &Service<'_>,
    rot: &Rotation,
    req: &Request,
    meta: &Meta,
) -> Result<Reply, AuthError> {
    match matched.endpoint {
        Endpoint::Login => login(svc, rot, req, meta).await,
        Endpoint::CreateSession => sessions(svc, rot, req, meta).await,
        Endpoint::CreateUser => create_user(svc, req, meta).await,
        Endpoint::DeleteUser => delete_user(svc, rot, meta, matched.segment).await,
        Endpoint::Refresh => refresh(svc, rot, req, meta).await,
        Endpoint::Logout => logout(svc, rot, req, meta).await,
        Endpoint::Revoke => revoke(svc, rot, req, meta).await,
        Endpoint::LogoutAll => logout_all(svc, rot, meta).await,
        Endpoint::Jwks => Ok(Reply::json(200, &svc.jwks())),
        Endpoint::Me => me(svc, meta).await,
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
    req: &Request,
    meta: &Meta,
) -> Result<Reply, AuthError> {
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
    let sub = svc.authenticate(username, password).await?;
    let start = Call::StartFamily {
        sub,
        claims: Default::default(),
        dpop,
    };
    let r = issued(rot.run(svc, start, now()).await?)?;
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
        rot.run(svc, Call::StartFamily { sub, claims, dpop }, now())
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
    check_username(username)?;
    // Strict mode: the user's sessions end in the user's object, which owns the epoch.
    let user = match rot {
        Rotation::Kv => None,
        Rotation::Object(_) => load::<UserRecord>(&svc.store, &user_key(username)).await?,
    };
    svc.delete_user(username).await?;
    if let Some(user) = user {
        rot.run(svc, Call::EndSessions { sub: user.sub }, now())
            .await?;
    }
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
                && cookie(meta.cookie.as_deref(), COOKIE_NAME) == Ok(None) =>
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
    match rot.run(svc, call, now()).await.and_then(issued) {
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
    rot.run(svc, call, now()).await?;
    let reply = Reply::json(200, &json!({}));
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
    rot.run(svc, call, now()).await?;
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
    svc.verify_access_with(token, proof.as_ref(), now()).await
}

async fn logout_all(svc: &Service<'_>, rot: &Rotation, meta: &Meta) -> Result<Reply, AuthError> {
    let (token, dpop) = credentials(meta).await?;
    let call = Call::LogoutAll {
        access_token: token.to_string(),
        dpop,
    };
    rot.run(svc, call, now()).await?;
    Ok(Reply::json(200, &json!({})))
}

async fn me(svc: &Service<'_>, meta: &Meta) -> Result<Reply, AuthError> {
    let verified = access(svc, meta).await?;
    Ok(Reply::json(
        200,
        &serde_json::Value::Object(verified.claims),
    ))
}
