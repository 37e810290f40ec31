//! Access tokens: JWTs signed with Ed25519 (`EdDSA`) via jwt-simple, and the JWKS.
//!
//! Header: `alg: EdDSA`, `kid`, `typ: at+jwt`. Claims: `iss`, `aud`, `sub`, `iat`, `exp`,
//! `jti`, `sr_ep` (the user's logout-all epoch, see `docs/DESIGN.md`) and the family's custom
//! claims. Time is always passed in: jwt-simple never reads the clock here.

use crate::core::b64;
use crate::core::server::error::AuthError;
use crate::core::server::token::{random_id, PREFIX};
use jwt_simple::prelude::*;
use serde_json::{Map, Value};
use std::collections::HashSet;
use std::fmt;

/// The JWT header `typ` of access tokens (RFC 9068).
pub const TYP: &str = "at+jwt";
/// The only accepted `alg`.
pub const ALG: &str = "EdDSA";
/// The claim carrying the user's logout-all epoch counter.
pub const EPOCH_CLAIM: &str = "sr_ep";
/// The confirmation claim (RFC 7800) of DPoP-bound tokens: `{"jkt": <RFC 7638 thumbprint>}`.
pub const CNF_CLAIM: &str = "cnf";
/// Claims that custom claims may not set.
pub const RESERVED_CLAIMS: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "iat",
    "exp",
    "nbf",
    "jti",
    "nonce",
    "cnf",
    EPOCH_CLAIM,
];
/// Longest access token accepted for verification.
pub const MAX_ACCESS_TOKEN_LEN: usize = 8 * 1024;

/// One Ed25519 signing key with its `kid`, or (without its private part) a key that only
/// verifies: a retired key kept until the tokens it signed have expired. `Debug` shows only the
/// `kid`.
pub struct SigningKey {
    kid: String,
    pair: Option<Ed25519KeyPair>,
    public: Ed25519PublicKey,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey {{ kid: {:?}, key: [redacted] }}", self.kid)
    }
}

impl SigningKey {
    /// A key from the private JWK fields (`d` and `x` base64url, 32 bytes each); the public
    /// part must match the private part.
    pub fn from_parts(kid: &str, d: &str, x: &str) -> Result<Self, KeyProblem> {
        if kid.is_empty() || kid.len() > 64 || !kid.bytes().all(|c| c.is_ascii_graphic()) {
            return Err(KeyProblem::BadKid);
        }
        let d = b64::decode(d)
            .filter(|d| d.len() == 32)
            .ok_or(KeyProblem::BadD)?;
        let x = b64::decode(x)
            .filter(|x| x.len() == 32)
            .ok_or(KeyProblem::BadX)?;
        let mut raw = d.clone();
        raw.extend_from_slice(&x);
        let pair = Ed25519KeyPair::from_bytes(&raw).map_err(|_| KeyProblem::XDoesNotMatchD)?;
        if pair.public_key().to_bytes() != x {
            return Err(KeyProblem::XDoesNotMatchD);
        }
        let pair = pair.with_key_id(kid);
        let public = pair.public_key();
        Ok(SigningKey {
            kid: kid.to_string(),
            pair: Some(pair),
            public,
        })
    }

    /// A key that only verifies, from its public JWK fields (`x` base64url, 32 bytes).
    pub fn verify_only(kid: &str, x: &str) -> Result<Self, KeyProblem> {
        if kid.is_empty() || kid.len() > 64 || !kid.bytes().all(|c| c.is_ascii_graphic()) {
            return Err(KeyProblem::BadKid);
        }
        let x = b64::decode(x)
            .filter(|x| x.len() == 32)
            .ok_or(KeyProblem::BadX)?;
        let public = Ed25519PublicKey::from_bytes(&x)
            .map_err(|_| KeyProblem::BadX)?
            .with_key_id(kid);
        Ok(SigningKey {
            kid: kid.to_string(),
            pair: None,
            public,
        })
    }

    /// True when the key can sign (it has its private part).
    pub fn can_sign(&self) -> bool {
        self.pair.is_some()
    }

    /// A fresh random key (tests and tools).
    pub fn generate(kid: &str) -> Self {
        let pair = Ed25519KeyPair::generate().with_key_id(kid);
        let public = pair.public_key();
        SigningKey {
            kid: kid.to_string(),
            pair: Some(pair),
            public,
        }
    }

    /// The key's id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public JWK (`kty`, `crv`, `x`, `kid`, `alg`, `use`).
    pub fn public_jwk(&self) -> Value {
        serde_json::json!({
            "kty": "OKP", "crv": "Ed25519", "x": b64::encode(&self.public.to_bytes()),
            "kid": self.kid, "alg": ALG, "use": "sig",
        })
    }

    /// The private JWK, as SIGNING_KEYS expects it (tests and tools); a verify-only key gives
    /// its public JWK.
    pub fn private_jwk(&self) -> Value {
        let Some(pair) = &self.pair else {
            return serde_json::json!({
                "kid": self.kid, "kty": "OKP", "crv": "Ed25519", "x": b64::encode(&self.public.to_bytes()),
            });
        };
        let raw = pair.to_bytes();
        serde_json::json!({
            "kid": self.kid, "kty": "OKP", "crv": "Ed25519",
            "x": b64::encode(&raw[32..]), "d": b64::encode(&raw[..32]),
        })
    }
}

/// What is wrong with one JWK of `SIGNING_KEYS` (never its material).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyProblem {
    /// A required member (`kid`, `kty`, `crv`, `x`, `d`) is missing or not a string.
    Missing(&'static str),
    /// Not `kty: OKP`, `crv: Ed25519`.
    Unsupported,
    /// `kid` is not 1..64 printable ASCII characters.
    BadKid,
    /// `d` is not 32 base64url bytes.
    BadD,
    /// `x` is not 32 base64url bytes.
    BadX,
    /// `d` and `x` do not form an Ed25519 key pair (`x` is not the public key of `d`).
    XDoesNotMatchD,
    /// Another key of the set has the same `kid`.
    DuplicateKid,
    /// The first key (the one that signs) has no `d`: only the keys after it may be
    /// verify-only.
    FirstCannotSign,
}

/// Why `SIGNING_KEYS` was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeySetError {
    /// Not a JSON array of objects.
    NotAnArray,
    /// An empty array.
    Empty,
    /// The key at `index` is unusable.
    Key {
        /// Position in the array.
        index: usize,
        /// What is wrong with it.
        problem: KeyProblem,
    },
}

impl fmt::Display for KeyProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyProblem::Missing(member) => write!(f, "missing \"{member}\""),
            KeyProblem::Unsupported => f.write_str("only kty OKP, crv Ed25519 keys are supported"),
            KeyProblem::BadKid => f.write_str("kid must be 1..64 printable ASCII characters"),
            KeyProblem::BadD => f.write_str("d is not 32 base64url bytes"),
            KeyProblem::BadX => f.write_str("x is not 32 base64url bytes"),
            KeyProblem::XDoesNotMatchD => f.write_str("x does not match d"),
            KeyProblem::DuplicateKid => f.write_str("duplicate kid"),
            KeyProblem::FirstCannotSign => {
                f.write_str("missing \"d\": the first key signs (later keys may be public only)")
            }
        }
    }
}

impl fmt::Display for KeySetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySetError::NotAnArray => f.write_str("must be a JSON array of JWK objects"),
            KeySetError::Empty => f.write_str("is empty"),
            KeySetError::Key { index, problem } => write!(f, "key [{index}]: {problem}"),
        }
    }
}

/// The signing keys: the first signs, all verify and are published (key rotation).
#[derive(Debug, Default)]
pub struct KeySet {
    keys: Vec<SigningKey>,
}

/// What an access token says, as input to [`KeySet::sign`].
#[derive(Clone, Debug)]
pub struct AccessClaims<'a> {
    /// `iss`.
    pub issuer: &'a str,
    /// `aud`.
    pub audience: &'a str,
    /// `sub`.
    pub subject: &'a str,
    /// `iat` (Unix s).
    pub issued_at: u64,
    /// Lifetime in seconds (`exp = iat + ttl`).
    pub ttl: u64,
    /// The user's logout-all epoch.
    pub epoch: u64,
    /// Custom claims (must not use [`RESERVED_CLAIMS`]).
    pub custom: &'a Map<String, Value>,
    /// The thumbprint of the DPoP key the token is bound to (`cnf.jkt`); `None` for Bearer.
    pub jkt: Option<&'a str>,
}

/// What verification requires besides a valid signature.
#[derive(Clone, Debug)]
pub struct Expectations<'a> {
    /// Required `iss`.
    pub issuer: &'a str,
    /// Required `aud`.
    pub audience: &'a str,
    /// The current time (Unix s).
    pub now: u64,
    /// Allowed clock skew for `exp`, `nbf` and `iat` (seconds).
    pub leeway: u64,
}

/// A verified access token's claims.
#[derive(Clone, Debug, PartialEq)]
pub struct Verified {
    /// `sub`.
    pub sub: String,
    /// `iat`.
    pub iat: u64,
    /// The epoch claim.
    pub epoch: u64,
    /// `cnf.jkt`: the thumbprint of the DPoP key the token is bound to (`None`: a Bearer token).
    pub jkt: Option<String>,
    /// Every claim of the payload.
    pub claims: Map<String, Value>,
}

impl KeySet {
    /// A set of keys; the first one signs.
    pub fn new(keys: Vec<SigningKey>) -> Self {
        KeySet { keys }
    }

    /// Parses SIGNING_KEYS: a JSON array of private Ed25519 JWKs
    /// `[{"kid","kty":"OKP","crv":"Ed25519","x","d"}]`. Errors name the key, never its material.
    pub fn from_jwks_json(text: &str) -> Result<Self, KeySetError> {
        let list: Vec<Map<String, Value>> =
            serde_json::from_str(text).map_err(|_| KeySetError::NotAnArray)?;
        if list.is_empty() {
            return Err(KeySetError::Empty);
        }
        let mut keys: Vec<SigningKey> = Vec::new();
        for (index, jwk) in list.iter().enumerate() {
            let bad = |problem| KeySetError::Key { index, problem };
            let field = |name: &'static str| {
                jwk.get(name)
                    .and_then(Value::as_str)
                    .ok_or(bad(KeyProblem::Missing(name)))
            };
            if field("kty")? != "OKP" || field("crv")? != "Ed25519" {
                return Err(bad(KeyProblem::Unsupported));
            }
            // A key without `d` only verifies (a retired key, kept until its tokens expire);
            // the first key signs and needs it.
            let key = match jwk.get("d") {
                None if index == 0 => return Err(bad(KeyProblem::FirstCannotSign)),
                None => SigningKey::verify_only(field("kid")?, field("x")?),
                Some(_) => SigningKey::from_parts(field("kid")?, field("d")?, field("x")?),
            }
            .map_err(bad)?;
            if keys.iter().any(|k| k.kid == key.kid) {
                return Err(bad(KeyProblem::DuplicateKid));
            }
            keys.push(key);
        }
        Ok(KeySet { keys })
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when no key is configured.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The JWKS document `{"keys":[...]}` with every public key.
    pub fn jwks(&self) -> Value {
        serde_json::json!({ "keys": self.keys.iter().map(SigningKey::public_jwk).collect::<Vec<_>>() })
    }

    /// Signs an access token with the first key.
    pub fn sign(&self, c: &AccessClaims<'_>) -> Result<String, AuthError> {
        let key = self
            .keys
            .first()
            .ok_or(AuthError::ServerError("no signing key"))?;
        let mut custom = c.custom.clone();
        custom.insert(EPOCH_CLAIM.into(), Value::from(c.epoch));
        if let Some(jkt) = c.jkt {
            custom.insert(CNF_CLAIM.into(), serde_json::json!({ "jkt": jkt }));
        }
        let claims = JWTClaims {
            issued_at: Some(UnixTimeStamp::from_secs(c.issued_at)),
            expires_at: Some(UnixTimeStamp::from_secs(c.issued_at + c.ttl)),
            invalid_before: None,
            issuer: Some(c.issuer.to_string()),
            subject: Some(c.subject.to_string()),
            audiences: Some(Audiences::AsString(c.audience.to_string())),
            jwt_id: Some(random_id(16)?),
            nonce: None,
            custom,
        };
        let opts = HeaderOptions {
            signature_type: Some(TYP.to_string()),
            content_type: None,
        };
        key.pair
            .as_ref()
            .ok_or(AuthError::ServerError("the first key cannot sign"))?
            .sign_with_options(claims, &opts)
            .map_err(|_| AuthError::ServerError("signing failed"))
    }

    /// Verifies an access token: size, `alg` (EdDSA only), `typ`, a known `kid`, the
    /// signature, `iss`, `aud`, `exp` (with leeway), `nbf`/`iat` not in the future, and the
    /// presence of `sub`, `iat`, `exp` and the epoch claim. Every failure is `invalid_token`.
    /// The epoch itself is checked by the caller against the store.
    pub fn verify(&self, token: &str, want: &Expectations<'_>) -> Result<Verified, AuthError> {
        const BAD: AuthError = AuthError::InvalidToken;
        if token.is_empty() || token.len() > MAX_ACCESS_TOKEN_LEN || token.starts_with(PREFIX) {
            return Err(BAD);
        }
        let meta = Token::decode_metadata(token).map_err(|_| BAD)?;
        if meta.algorithm() != ALG
            || meta.signature_type() != Some(TYP)
            || meta.critical().is_some()
        {
            return Err(BAD);
        }
        let kid = meta.key_id().ok_or(BAD)?;
        let key = self.keys.iter().find(|k| k.kid == kid).ok_or(BAD)?;
        let opts = VerificationOptions {
            accept_future: false,
            required_key_id: Some(kid.to_string()),
            required_signature_type: Some(TYP.to_string()),
            allowed_issuers: Some(HashSet::from([want.issuer.to_string()])),
            allowed_audiences: Some(HashSet::from([want.audience.to_string()])),
            time_tolerance: Some(Duration::from_secs(want.leeway)),
            max_token_length: Some(MAX_ACCESS_TOKEN_LEN),
            artificial_time: Some(UnixTimeStamp::from_secs(want.now)),
            ..VerificationOptions::default()
        };
        let verified = key
            .public
            .verify_token::<Map<String, Value>>(token, Some(opts))
            .map_err(|_| BAD)?;
        let iat = verified.issued_at.ok_or(BAD)?.as_secs();
        verified.expires_at.ok_or(BAD)?;
        let sub = verified
            .subject
            .clone()
            .filter(|s| !s.is_empty())
            .ok_or(BAD)?;
        let epoch = verified
            .custom
            .get(EPOCH_CLAIM)
            .and_then(Value::as_u64)
            .ok_or(BAD)?;
        // A `cnf` must be the one this server writes: `{"jkt": <thumbprint>}`.
        let jkt = match verified.custom.get(CNF_CLAIM) {
            None => None,
            Some(cnf) => Some(
                cnf.get("jkt")
                    .and_then(Value::as_str)
                    .filter(|j| !j.is_empty())
                    .ok_or(BAD)?
                    .to_string(),
            ),
        };
        // The signature is valid, so the payload is ours: return it as the claims.
        let payload = token.split('.').nth(1).and_then(b64::decode).ok_or(BAD)?;
        let claims: Map<String, Value> = serde_json::from_slice(&payload).map_err(|_| BAD)?;
        Ok(Verified {
            sub,
            iat,
            epoch,
            jkt,
            claims,
        })
    }
}

/// Checks custom claims given at session creation: an object of at most 4 KiB without
/// reserved names.
pub(crate) fn check_custom_claims(claims: &Map<String, Value>) -> Result<(), AuthError> {
    if claims.keys().any(|k| RESERVED_CLAIMS.contains(&k.as_str())) {
        return Err(AuthError::InvalidRequest(
            "claims may not set registered claims (iss, sub, aud, iat, exp, nbf, jti)",
        ));
    }
    let size = serde_json::to_string(claims)
        .map(|s| s.len())
        .unwrap_or(usize::MAX);
    if size > 4096 {
        return Err(AuthError::InvalidRequest("claims are larger than 4 KiB"));
    }
    Ok(())
}
