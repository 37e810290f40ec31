//! The provider's signing keys (its JWKS) and ID token verification (OpenID Connect Core §3.1.3.7).
//!
//! Accepted algorithms: RS256, ES256 and EdDSA (Ed25519), each only with a key of its own type;
//! `none` and every HMAC algorithm are refused before any key is looked at (an HMAC "signature"
//! keyed with our client secret or a public key is the classic algorithm-confusion attack).
//! Signatures are checked by jwt-simple's pure-Rust code, the same in native tests and in the
//! Worker (see docs/DESIGN.md for the measured cost).

use crate::core::b64;
use jwt_simple::prelude::*;
use jwt_simple::JWTError;
use serde_json::{Map, Value};
use std::collections::HashSet;

/// Longest ID token accepted (bytes).
pub const MAX_ID_TOKEN_LEN: usize = 16 * 1024;
/// Least time between two JWKS fetches caused by an unknown `kid` (seconds): a flood of tokens
/// with made-up kids costs at most one fetch per interval.
pub const JWKS_REFETCH_INTERVAL: u64 = 60;

/// The algorithms an ID token may use.
pub const ALGORITHMS: &[&str] = &["RS256", "ES256", "EdDSA"];

enum PublicKey {
    Rs256(Box<RS256PublicKey>),
    Es256(ES256PublicKey),
    Ed25519(Ed25519PublicKey),
}

impl PublicKey {
    fn alg(&self) -> &'static str {
        match self {
            PublicKey::Rs256(_) => "RS256",
            PublicKey::Es256(_) => "ES256",
            PublicKey::Ed25519(_) => "EdDSA",
        }
    }
}

struct Key {
    kid: Option<String>,
    key: PublicKey,
}

/// The provider's public signing keys. Keys of other types, other curves, or meant for
/// encryption (`use: enc`) are skipped.
#[derive(Default)]
pub struct ProviderKeys {
    keys: Vec<Key>,
}

impl std::fmt::Debug for ProviderKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kids: Vec<_> = self.keys.iter().map(|k| (&k.kid, k.key.alg())).collect();
        f.debug_struct("ProviderKeys").field("keys", &kids).finish()
    }
}

fn field<'a>(jwk: &'a Value, name: &str) -> Option<&'a str> {
    jwk.get(name).and_then(Value::as_str)
}

fn parse_key(jwk: &Value) -> Option<Key> {
    if field(jwk, "use").is_some_and(|u| u != "sig") {
        return None;
    }
    let bytes = |name| field(jwk, name).and_then(b64::decode);
    let key = match field(jwk, "kty")? {
        "RSA" => PublicKey::Rs256(Box::new(
            RS256PublicKey::from_components(&bytes("n")?, &bytes("e")?).ok()?,
        )),
        "EC" if field(jwk, "crv") == Some("P-256") => {
            let (x, y) = (bytes("x")?, bytes("y")?);
            if x.len() != 32 || y.len() != 32 {
                return None;
            }
            let mut point = vec![4u8];
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            PublicKey::Es256(ES256PublicKey::from_bytes(&point).ok()?)
        }
        "OKP" if field(jwk, "crv") == Some("Ed25519") => {
            PublicKey::Ed25519(Ed25519PublicKey::from_bytes(&bytes("x")?).ok()?)
        }
        _ => return None,
    };
    if let Some(alg) = field(jwk, "alg") {
        if alg != key.alg() {
            return None;
        }
    }
    Some(Key {
        kid: field(jwk, "kid").map(String::from),
        key,
    })
}

impl ProviderKeys {
    /// Parses a JWKS document (`{"keys": [...]}`); `None` when it is not one.
    pub fn parse(body: &[u8]) -> Option<ProviderKeys> {
        let doc: Value = serde_json::from_slice(body).ok()?;
        let keys = doc.get("keys")?.as_array()?;
        Some(ProviderKeys {
            keys: keys.iter().filter_map(parse_key).collect(),
        })
    }

    /// Number of usable keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when no key is usable.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Whether a token naming `kid` (or none) and `alg` has a key here.
    pub fn has(&self, kid: Option<&str>, alg: &str) -> bool {
        self.find(kid, alg).is_some()
    }

    fn find(&self, kid: Option<&str>, alg: &str) -> Option<&Key> {
        let mut candidates = self.keys.iter().filter(|k| k.key.alg() == alg);
        match kid {
            Some(kid) => candidates.find(|k| k.kid.as_deref() == Some(kid)),
            // Without a kid, only an unambiguous key is used.
            None => {
                let first = candidates.next()?;
                candidates.next().is_none().then_some(first)
            }
        }
    }
}

/// Whether an unknown `kid` may refetch the JWKS now: at most once per
/// [`JWKS_REFETCH_INTERVAL`] (`last_refetch`: when an unknown `kid` last caused one, Unix s;
/// the regular fetches do not count, so a rotation just after one is still picked up).
pub fn may_refetch(last_refetch: Option<u64>, now: u64) -> bool {
    last_refetch.is_none_or(|t| now >= t.saturating_add(JWKS_REFETCH_INTERVAL))
}

/// Why an ID token is refused (all are `invalid_id_token` to the browser; the log says which).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdTokenError {
    /// Not a JWS compact token, or too long.
    Malformed,
    /// `alg` is `none`, an HMAC or anything outside [`ALGORITHMS`].
    Algorithm,
    /// No key of the provider has this `kid` and algorithm.
    UnknownKey,
    /// The signature does not verify.
    Signature,
    /// `iss` is not the provider.
    Issuer,
    /// `aud` does not contain our client id, or `azp` is not it.
    Audience,
    /// Expired (beyond the leeway), or `exp`/`iat` missing.
    Expired,
    /// `iat` or `nbf` in the future (beyond the leeway).
    NotYetValid,
    /// `nonce` missing or not the transaction's.
    Nonce,
    /// `sub` missing, empty or too long.
    Subject,
}

impl IdTokenError {
    /// A short name for the log.
    pub const fn code(self) -> &'static str {
        match self {
            IdTokenError::Malformed => "malformed",
            IdTokenError::Algorithm => "algorithm",
            IdTokenError::UnknownKey => "unknown_key",
            IdTokenError::Signature => "signature",
            IdTokenError::Issuer => "issuer",
            IdTokenError::Audience => "audience",
            IdTokenError::Expired => "expired",
            IdTokenError::NotYetValid => "not_yet_valid",
            IdTokenError::Nonce => "nonce",
            IdTokenError::Subject => "subject",
        }
    }
}

/// What an ID token must be.
#[derive(Clone, Copy, Debug)]
pub struct IdTokenExpectations<'a> {
    /// The provider's issuer.
    pub issuer: &'a str,
    /// Our client id.
    pub client_id: &'a str,
    /// The transaction's nonce.
    pub nonce: &'a str,
    /// Now (Unix s).
    pub now: u64,
    /// Clock skew tolerated (s).
    pub leeway: u64,
}

/// The header of an ID token: (`alg`, `kid`), after the algorithm allow-list.
pub fn header(token: &str) -> Result<(String, Option<String>), IdTokenError> {
    if token.len() > MAX_ID_TOKEN_LEN || token.split('.').count() != 3 {
        return Err(IdTokenError::Malformed);
    }
    let head = token.split('.').next().and_then(b64::decode);
    let head: Value = head
        .and_then(|h| serde_json::from_slice(&h).ok())
        .ok_or(IdTokenError::Malformed)?;
    let alg = head
        .get("alg")
        .and_then(Value::as_str)
        .ok_or(IdTokenError::Malformed)?;
    if !ALGORITHMS.contains(&alg) {
        return Err(IdTokenError::Algorithm);
    }
    if head.get("crit").is_some() {
        return Err(IdTokenError::Malformed);
    }
    let kid = head.get("kid").and_then(Value::as_str).map(String::from);
    Ok((alg.to_string(), kid))
}

fn map_jwt_error(e: &jwt_simple::Error) -> IdTokenError {
    match e.downcast_ref::<JWTError>() {
        Some(JWTError::TokenHasExpired) => IdTokenError::Expired,
        Some(JWTError::ClockDrift) | Some(JWTError::TokenNotValidYet) => IdTokenError::NotYetValid,
        Some(JWTError::RequiredIssuerMismatch) | Some(JWTError::RequiredIssuerMissing) => {
            IdTokenError::Issuer
        }
        Some(JWTError::RequiredAudienceMismatch) | Some(JWTError::RequiredAudienceMissing) => {
            IdTokenError::Audience
        }
        Some(JWTError::AlgorithmMismatch) => IdTokenError::Algorithm,
        Some(JWTError::InvalidSignature) => IdTokenError::Signature,
        _ => IdTokenError::Signature,
    }
}

/// Verifies an ID token: the algorithm allow-list, a key of the provider by `kid`, the
/// signature, `iss` (exact), `aud` containing our client id and, with several audiences, `azp`
/// equal to it (an `azp` is always checked when present), `exp` and `iat` present, not expired
/// and not issued in the future beyond the leeway, `nonce` equal to the transaction's (constant
/// time), and a `sub`. Answers the token's claims.
pub fn verify(
    keys: &ProviderKeys,
    token: &str,
    want: &IdTokenExpectations<'_>,
) -> Result<Map<String, Value>, IdTokenError> {
    let (alg, kid) = header(token)?;
    let key = keys
        .find(kid.as_deref(), &alg)
        .ok_or(IdTokenError::UnknownKey)?;
    let opts = VerificationOptions {
        accept_future: false,
        allowed_issuers: Some(HashSet::from([want.issuer.to_string()])),
        allowed_audiences: Some(HashSet::from([want.client_id.to_string()])),
        time_tolerance: Some(Duration::from_secs(want.leeway)),
        max_token_length: Some(MAX_ID_TOKEN_LEN),
        artificial_time: Some(UnixTimeStamp::from_secs(want.now)),
        ..VerificationOptions::default()
    };
    let claims = match &key.key {
        PublicKey::Rs256(k) => k.verify_token::<Map<String, Value>>(token, Some(opts)),
        PublicKey::Es256(k) => k.verify_token::<Map<String, Value>>(token, Some(opts)),
        PublicKey::Ed25519(k) => k.verify_token::<Map<String, Value>>(token, Some(opts)),
    }
    .map_err(|e| map_jwt_error(&e))?;
    claims.expires_at.ok_or(IdTokenError::Expired)?;
    claims.issued_at.ok_or(IdTokenError::Expired)?;
    // The signature holds: the payload is the provider's. Read it whole (jwt-simple keeps only
    // what it knows about in its own fields).
    let payload = token
        .split('.')
        .nth(1)
        .and_then(b64::decode)
        .ok_or(IdTokenError::Malformed)?;
    let all: Map<String, Value> =
        serde_json::from_slice(&payload).map_err(|_| IdTokenError::Malformed)?;
    if all.get("iss").and_then(Value::as_str) != Some(want.issuer) {
        return Err(IdTokenError::Issuer);
    }
    let several = all
        .get("aud")
        .and_then(Value::as_array)
        .is_some_and(|a| a.len() > 1);
    match all.get("azp") {
        Some(azp) if azp.as_str() != Some(want.client_id) => return Err(IdTokenError::Audience),
        None if several => return Err(IdTokenError::Audience),
        _ => {}
    }
    match all.get("nonce").and_then(Value::as_str) {
        Some(n)
            if crate::core::server::secret::constant_time_eq(
                n.as_bytes(),
                want.nonce.as_bytes(),
            ) => {}
        _ => return Err(IdTokenError::Nonce),
    }
    match all.get("sub").and_then(Value::as_str) {
        Some(s) if !s.is_empty() && s.len() <= 255 => {}
        _ => return Err(IdTokenError::Subject),
    }
    Ok(all)
}
