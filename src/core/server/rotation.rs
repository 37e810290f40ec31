//! The operations on rotation state (families, token records, revocations, epochs) as values, so
//! that they can run where that state lives: in the Worker over KV (`ROTATION_STORE = "kv"`), or
//! inside the subject's Durable Object (`"durable-object"`, strict mode).
//!
//! [`Call`] is the request and [`Answer`] the reply; both have a JSON wire form for the hop into
//! the object. [`execute`] runs a call through [`AuthService`], the same decisions in both
//! modes: only the [`KvStore`] under the service differs (KV, or the object's SQLite storage).

use crate::core::server::access::{check_custom_claims, Expectations};
use crate::core::server::config::Config;
use crate::core::server::dpop::{DpopError, Proof};
use crate::core::server::error::{AuthError, Misconfig};
use crate::core::server::events::RevokeReason;
use crate::core::server::identity::check_sub;
use crate::core::server::oidc::upstream::{Grant, UpstreamClient};
use crate::core::server::password::PasswordHasher;
use crate::core::server::records::Epoch;
use crate::core::server::service::{AuthService, TokenResponse};
use crate::core::server::store::KvStore;
use crate::core::server::token::{RefreshToken, ROUTE_LEN};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One operation on the rotation state of one subject.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Call {
    /// Starts a family (login or admin session) for `sub` with custom `claims`.
    StartFamily {
        /// Subject.
        sub: String,
        /// Custom claims (already checked by the caller; checked again).
        #[serde(default)]
        claims: Map<String, Value>,
        /// The request's DPoP proof (checked against the request): binds the family.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        dpop: Option<Proof>,
        /// Strict mode: the subject's epoch as KV's copy has it (where access tokens are
        /// checked). The object raises its own epoch to it first, so that the new family's
        /// access tokens pass those checks even when the object is new (a first login after
        /// `REFRESH_SECRET` changed routes the subject to a new object).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        epoch: Option<Epoch>,
        /// An OpenID provider sign-in: the provider's tokens, kept sealed with the family.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        upstream: Option<Grant>,
    },
    /// Rotates a refresh token.
    Refresh {
        /// The presented refresh token.
        token: String,
        /// The request's DPoP proof (checked against the request).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        dpop: Option<Proof>,
    },
    /// Revokes the family of a refresh token (logout).
    Logout {
        /// The presented refresh token.
        token: String,
    },
    /// Revokes the family of a refresh token (RFC 7009).
    Revoke {
        /// The presented refresh token.
        token: String,
    },
    /// Ends every session of the access token's subject (logout-all).
    LogoutAll {
        /// The presented access token.
        access_token: String,
        /// With `Authorization: DPoP`, the proof (checked against the request and the token).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        dpop: Option<Proof>,
    },
    /// Ends every session of `sub` (account deletion).
    EndSessions {
        /// Subject.
        sub: String,
    },
}

/// The successful outcome of a [`Call`].
#[derive(Debug)]
pub enum Answer {
    /// Tokens were issued (start, refresh).
    Issued(TokenResponse),
    /// The epoch of the subject moved (logout-all, end of sessions). In strict mode the Worker
    /// copies it to KV, where access-token checks read it.
    Epoch {
        /// Subject.
        sub: String,
        /// Its new epoch.
        epoch: Epoch,
    },
    /// Done, nothing to return (logout, revoke).
    Done,
    /// A provider sign-in's session ended (logout): the provider's last ID token, for
    /// RP-initiated logout's `id_token_hint`.
    Ended {
        /// The ID token.
        id_token: String,
    },
}

/// Runs `call` against the rotation state behind `svc` at `now_ms` (Unix milliseconds: the
/// grace window and the epoch are measured in ms), with the OpenID provider reachable through
/// `up` (refreshes and revocations of provider sign-ins; [`NoUpstream`] where there is none).
///
/// [`NoUpstream`]: crate::core::server::oidc::upstream::NoUpstream
pub async fn execute<S: KvStore, H: PasswordHasher>(
    svc: &AuthService<'_, S, H>,
    call: &Call,
    now_ms: u64,
    up: &impl UpstreamClient,
) -> Result<Answer, AuthError> {
    let now = now_ms / 1000;
    Ok(match call {
        Call::StartFamily {
            sub,
            claims,
            dpop,
            epoch,
            upstream,
        } => {
            if let Some(floor) = epoch {
                svc.raise_epoch(sub, floor).await?;
            }
            Answer::Issued(match (upstream, dpop) {
                (Some(grant), None) => {
                    svc.start_upstream_session(sub, claims.clone(), grant, now)
                        .await?
                }
                _ => {
                    svc.create_session(sub, claims.clone(), dpop.as_ref(), now)
                        .await?
                }
            })
        }
        Call::Refresh { token, dpop } => {
            Answer::Issued(svc.refresh(token, dpop.as_ref(), now_ms, up).await?)
        }
        Call::Logout { token } => match svc.logout(token, RevokeReason::Logout, now, up).await? {
            Some(id_token) => Answer::Ended { id_token },
            None => Answer::Done,
        },
        Call::Revoke { token } => {
            svc.logout(token, RevokeReason::Revoke, now, up).await?;
            Answer::Done
        }
        Call::LogoutAll { access_token, dpop } => {
            let epoch = svc.logout_all(access_token, dpop.as_ref(), now_ms).await?;
            let sub = subject_of(svc.config, access_token, now)?;
            Answer::Epoch { sub, epoch }
        }
        Call::EndSessions { sub } => Answer::Epoch {
            epoch: svc.end_sessions(sub, now_ms).await?,
            sub: sub.clone(),
        },
    })
}

/// The route of the object that owns the state `call` acts on (`None`: there is nothing to act
/// on, the answer is [`Answer::Done`]: a logout or revocation of a malformed token). A refresh token
/// carries its route; a subject's route is derived from it; a logout-all takes the subject of
/// its access token, whose signature and claims are checked here (the epoch is checked by the
/// object). Errors are those the service itself would answer for the same input.
pub fn route_of(cfg: &Config, call: &Call, now: u64) -> Result<Option<[u8; ROUTE_LEN]>, AuthError> {
    let sub = match call {
        Call::StartFamily { sub, claims, .. } => {
            // Checked here too, so that the client gets the precise error without a hop.
            check_sub(sub)?;
            check_custom_claims(claims)?;
            sub.clone()
        }
        Call::EndSessions { sub } => {
            check_sub(sub)?;
            sub.clone()
        }
        Call::Refresh { token, .. } => return Ok(Some(RefreshToken::parse(token)?.route())),
        // A token that is not ours has no family to revoke: done, as the service answers.
        Call::Logout { token } | Call::Revoke { token } => {
            return Ok(RefreshToken::parse(token).ok().map(|t| t.route()))
        }
        Call::LogoutAll { access_token, .. } => subject_of(cfg, access_token, now)?,
    };
    Ok(Some(RefreshToken::route_of(&cfg.refresh_secret, &sub)))
}

/// The subject of an access token whose signature and claims check out (the epoch and any DPoP
/// binding are the service's to check).
fn subject_of(cfg: &Config, access_token: &str, now: u64) -> Result<String, AuthError> {
    let verified = cfg.keys.verify(
        access_token,
        &Expectations {
            issuer: &cfg.issuer,
            audience: &cfg.audience,
            now,
            leeway: cfg.leeway,
        },
    )?;
    Ok(verified.sub)
}

/// The JSON wire form of an [`execute`] result: `{"ok": …}` or `{"error": code}`.
pub fn encode_result(result: &Result<Answer, AuthError>) -> String {
    let body = match result {
        Ok(Answer::Issued(r)) => serde_json::json!({ "ok": {
            "access_token": r.access_token,
            "expires_in": r.expires_in,
            "refresh_token": r.refresh_token.as_str(),
            "refresh_expires_in": r.refresh_expires_in,
            "dpop_bound": r.dpop_bound,
        }}),
        Ok(Answer::Epoch { sub, epoch }) => {
            serde_json::json!({ "ok": { "sub": sub, "epoch": epoch } })
        }
        Ok(Answer::Done) => serde_json::json!({ "ok": {} }),
        Ok(Answer::Ended { id_token }) => serde_json::json!({ "ok": { "id_token": id_token } }),
        Err(AuthError::InvalidDpopProof(why)) => {
            serde_json::json!({ "error": "invalid_dpop_proof", "dpop": why.code() })
        }
        Err(AuthError::ResourceDpopProof(why)) => {
            serde_json::json!({ "error": "invalid_dpop_proof", "dpop": why.code(), "at": "resource" })
        }
        Err(AuthError::DpopBinding) => {
            serde_json::json!({ "error": "invalid_token", "dpop": "binding" })
        }
        Err(e) => serde_json::json!({ "error": e.code() }),
    };
    body.to_string()
}

/// Reads what [`encode_result`] wrote; anything else is `temporarily_unavailable` (the object
/// answered something unexpected: nothing is issued, the client retries).
pub fn decode_result(text: &str) -> Result<Answer, AuthError> {
    const BROKEN: AuthError = AuthError::TemporarilyUnavailable;
    let v: Value = serde_json::from_str(text).map_err(|_| BROKEN)?;
    if let Some(code) = v.get("error").and_then(Value::as_str) {
        let dpop = v.get("dpop").and_then(Value::as_str);
        let at_resource = v.get("at").and_then(Value::as_str) == Some("resource");
        return Err(match (code, dpop) {
            ("invalid_token", Some("binding")) => AuthError::DpopBinding,
            ("invalid_dpop_proof", Some(why)) => match DpopError::of_code(why) {
                Some(why) if at_resource => AuthError::ResourceDpopProof(why),
                Some(why) => AuthError::InvalidDpopProof(why),
                None => BROKEN,
            },
            _ => error_of_code(code),
        });
    }
    let ok = v.get("ok").and_then(Value::as_object).ok_or(BROKEN)?;
    if let Some(e) = ok.get("epoch") {
        return Ok(Answer::Epoch {
            sub: ok.get("sub").and_then(Value::as_str).ok_or(BROKEN)?.into(),
            epoch: serde_json::from_value(e.clone()).map_err(|_| BROKEN)?,
        });
    }
    if let Some(id_token) = ok.get("id_token").and_then(Value::as_str) {
        return Ok(Answer::Ended {
            id_token: id_token.to_string(),
        });
    }
    let Some(access_token) = ok.get("access_token").and_then(Value::as_str) else {
        return Ok(Answer::Done);
    };
    let num = |k: &str| ok.get(k).and_then(Value::as_u64).ok_or(BROKEN);
    let refresh = ok
        .get("refresh_token")
        .and_then(Value::as_str)
        .ok_or(BROKEN)?;
    Ok(Answer::Issued(TokenResponse {
        access_token: access_token.to_string(),
        expires_in: num("expires_in")?,
        refresh_token: RefreshToken::parse(refresh).map_err(|_| BROKEN)?,
        refresh_expires_in: num("refresh_expires_in")?,
        dpop_bound: ok
            .get("dpop_bound")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        // A replay is logged by the object, where it happened.
        replay: None,
    }))
}

/// The error a code stands for. Only the codes a [`Call`] can produce come back from the
/// object; any other is reported as `temporarily_unavailable`.
fn error_of_code(code: &str) -> AuthError {
    match code {
        "invalid_grant" => AuthError::InvalidGrant,
        "invalid_token" => AuthError::InvalidToken,
        "invalid_request" => AuthError::InvalidRequest("invalid request"),
        "server_error" => AuthError::ServerError("rotation state"),
        "server_misconfigured" => AuthError::Misconfigured(Misconfig::Object),
        _ => AuthError::TemporarilyUnavailable,
    }
}
