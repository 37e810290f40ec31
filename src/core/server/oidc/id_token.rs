//! The provider's signing keys (its JWKS) and ID token verification (OpenID Connect Core §3.1.3.7).
//!
//! Accepted algorithms: RS256, ES256 and EdDSA (Ed25519), each only with a key of its own type;
//! `none` and every HMAC algorithm are refused before any key is looked at (an HMAC "signature"
//! keyed with our client secret or a public key is the classic algorithm-confusion attack).
//!
//! The core decides everything but the signature itself: the algorithm allow-list, the key by
//! `kid`, the claims. The signature is checked by a [`JwsVerifier`]: the runtime's Web Crypto in
//! the Worker (src/worker/crypto.rs), [`PureRustJws`] (jwt-simple and `p256`) natively and in
//! benchmarks. The Worker links no RSA code (docs/BENCHMARKS.md, "ID token verification").

use crate::core::b64;
use serde_json::{Map, Value};

/// Longest ID token accepted (bytes).
pub const MAX_ID_TOKEN_LEN: usize = 16 * 1024;
/// Least time between two JWKS fetches caused by an unknown `kid` (seconds): a flood of tokens
/// with made-up kids costs at most one fetch per interval.
pub const JWKS_REFETCH_INTERVAL: u64 = 60;

/// The algorithms an ID token may use.
pub const ALGORITHMS: &[&str] = &["RS256", "ES256", "EdDSA"];

/// Smallest and largest RSA modulus accepted (bytes): 2048 to 8192 bits.
const RSA_MODULUS_BYTES: std::ops::RangeInclusive<usize> = 256..=1024;

/// A provider's public key, as its JWK gives it (checked for shape, not yet for being a valid
/// point or modulus: the verifier's import does that, and a key it cannot import verifies nothing).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyMaterial {
    /// RS256: the modulus and public exponent, big-endian, without leading zero bytes.
    Rsa {
        /// Modulus.
        n: Vec<u8>,
        /// Public exponent.
        e: Vec<u8>,
    },
    /// ES256: the P-256 point, uncompressed SEC1 (`04 || x || y`).
    P256(Vec<u8>),
    /// EdDSA: the Ed25519 public key (32 bytes).
    Ed25519(Vec<u8>),
}

impl KeyMaterial {
    /// The one algorithm this key verifies.
    pub fn alg(&self) -> &'static str {
        match self {
            KeyMaterial::Rsa { .. } => "RS256",
            KeyMaterial::P256(_) => "ES256",
            KeyMaterial::Ed25519(_) => "EdDSA",
        }
    }

    /// The length a signature by this key has (bytes).
    pub fn signature_len(&self) -> usize {
        match self {
            KeyMaterial::Rsa { n, .. } => n.len(),
            KeyMaterial::P256(_) | KeyMaterial::Ed25519(_) => 64,
        }
    }
}

struct Key {
    kid: Option<String>,
    key: KeyMaterial,
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

fn strip_zeros(bytes: Vec<u8>) -> Vec<u8> {
    let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    bytes[first..].to_vec()
}

fn parse_key(jwk: &Value) -> Option<Key> {
    if field(jwk, "use").is_some_and(|u| u != "sig") {
        return None;
    }
    let bytes = |name| field(jwk, name).and_then(b64::decode);
    let key = match field(jwk, "kty")? {
        "RSA" => {
            let (n, e) = (strip_zeros(bytes("n")?), strip_zeros(bytes("e")?));
            // An even or tiny exponent, or a modulus outside 2048..8192 bits, is no RS256 key.
            let odd = e.last().is_some_and(|b| b & 1 == 1);
            if !RSA_MODULUS_BYTES.contains(&n.len())
                || e.is_empty()
                || e.len() > 4
                || !odd
                || e == [1]
            {
                return None;
            }
            KeyMaterial::Rsa { n, e }
        }
        "EC" if field(jwk, "crv") == Some("P-256") => {
            let (x, y) = (bytes("x")?, bytes("y")?);
            if x.len() != 32 || y.len() != 32 {
                return None;
            }
            let mut point = vec![4u8];
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            KeyMaterial::P256(point)
        }
        "OKP" if field(jwk, "crv") == Some("Ed25519") => {
            let x = bytes("x")?;
            if x.len() != 32 {
                return None;
            }
            KeyMaterial::Ed25519(x)
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

    fn find(&self, kid: Option<&str>, alg: &str) -> Option<&KeyMaterial> {
        let mut candidates = self.keys.iter().filter(|k| k.key.alg() == alg);
        let found = match kid {
            Some(kid) => candidates.find(|k| k.kid.as_deref() == Some(kid)),
            // Without a kid, only an unambiguous key is used.
            None => {
                let first = candidates.next()?;
                candidates.next().is_none().then_some(first)
            }
        };
        found.map(|k| &k.key)
    }
}

/// Checks a JWS signature with a provider's key: the one piece of ID token verification that is
/// the platform's. `true` only for a valid signature by `key` over `signing_input` with the
/// key's algorithm ([`KeyMaterial::alg`]); a key the implementation cannot import is `false`.
#[allow(async_fn_in_trait)] // single-threaded (Workers, tests): no `Send` bound wanted
pub trait JwsVerifier {
    /// Verifies `signature` (already of [`KeyMaterial::signature_len`] bytes) over `signing_input`.
    async fn verify(&self, key: &KeyMaterial, signing_input: &[u8], signature: &[u8]) -> bool;
}

/// RS256, ES256 and EdDSA in pure Rust (jwt-simple's RSA and Ed25519, RustCrypto's `p256`):
/// the native [`JwsVerifier`] (tests, benchmarks). The Worker uses Web Crypto instead and so
/// links none of this.
#[derive(Clone, Copy, Debug, Default)]
pub struct PureRustJws;

impl JwsVerifier for PureRustJws {
    async fn verify(&self, key: &KeyMaterial, signing_input: &[u8], signature: &[u8]) -> bool {
        use jwt_simple::prelude::*;
        if let KeyMaterial::P256(point) = key {
            use p256::ecdsa::signature::Verifier;
            use p256::ecdsa::{Signature, VerifyingKey};
            let (Ok(k), Ok(sig)) = (
                VerifyingKey::from_sec1_bytes(point),
                Signature::from_slice(signature),
            ) else {
                return false;
            };
            return k.verify(signing_input, &sig).is_ok();
        }
        // jwt-simple has no raw verification: the token is put back together and checked with
        // every claim check off (the core checks the claims itself): time 0 with no tolerance
        // passes any `exp`.
        let Ok(input) = std::str::from_utf8(signing_input) else {
            return false;
        };
        let token = format!("{input}.{}", b64::encode(signature));
        let lax = VerificationOptions {
            accept_future: true,
            artificial_time: Some(UnixTimeStamp::from_secs(0)),
            time_tolerance: Some(Duration::from_secs(0)),
            max_token_length: Some(MAX_ID_TOKEN_LEN + 16),
            ..VerificationOptions::default()
        };
        type Any = JWTClaims<Value>;
        let checked: Result<Any, _> = match key {
            KeyMaterial::Rsa { n, e } => match RS256PublicKey::from_components(n, e) {
                Ok(k) => k.verify_token(&token, Some(lax)),
                Err(_) => return false,
            },
            KeyMaterial::Ed25519(x) => match Ed25519PublicKey::from_bytes(x) {
                Ok(k) => k.verify_token(&token, Some(lax)),
                Err(_) => return false,
            },
            KeyMaterial::P256(_) => return false,
        };
        checked.is_ok()
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

fn number(claims: &Map<String, Value>, name: &str) -> Option<u64> {
    let n = claims.get(name)?.as_f64()?;
    (n.is_finite() && n >= 0.0).then_some(n as u64)
}

/// Checks the claims of a token whose signature holds: `iss` (exact), `aud` containing our
/// client id and, with several audiences, `azp` equal to it (an `azp` is always checked when
/// present), `exp` and `iat` present, not expired and not issued (nor `nbf`) in the future
/// beyond the leeway, `nonce` equal to the transaction's (constant time), and a `sub`.
pub fn check_claims(
    claims: &Map<String, Value>,
    want: &IdTokenExpectations<'_>,
) -> Result<(), IdTokenError> {
    if claims.get("iss").and_then(Value::as_str) != Some(want.issuer) {
        return Err(IdTokenError::Issuer);
    }
    let (ours, several) = match claims.get("aud") {
        Some(Value::String(a)) => (a == want.client_id, false),
        Some(Value::Array(a)) => (
            a.iter().any(|x| x.as_str() == Some(want.client_id)),
            a.len() > 1,
        ),
        _ => (false, false),
    };
    if !ours {
        return Err(IdTokenError::Audience);
    }
    match claims.get("azp") {
        Some(azp) if azp.as_str() != Some(want.client_id) => return Err(IdTokenError::Audience),
        None if several => return Err(IdTokenError::Audience),
        _ => {}
    }
    let (Some(exp), Some(iat)) = (number(claims, "exp"), number(claims, "iat")) else {
        return Err(IdTokenError::Expired);
    };
    if exp.saturating_add(want.leeway) < want.now {
        return Err(IdTokenError::Expired);
    }
    let future = |t: u64| t > want.now.saturating_add(want.leeway);
    if future(iat) {
        return Err(IdTokenError::NotYetValid);
    }
    match claims.get("nbf") {
        None => {}
        Some(_) => match number(claims, "nbf") {
            Some(nbf) if !future(nbf) => {}
            _ => return Err(IdTokenError::NotYetValid),
        },
    }
    match claims.get("nonce").and_then(Value::as_str) {
        Some(n)
            if crate::core::server::secret::constant_time_eq(
                n.as_bytes(),
                want.nonce.as_bytes(),
            ) => {}
        _ => return Err(IdTokenError::Nonce),
    }
    match claims.get("sub").and_then(Value::as_str) {
        Some(s) if !s.is_empty() && s.len() <= 255 => {}
        _ => return Err(IdTokenError::Subject),
    }
    Ok(())
}

/// Verifies an ID token: the algorithm allow-list and a key of the provider by `kid` (both
/// before any cryptography), the signature by `verifier`, then [`check_claims`]. Answers the
/// token's claims.
pub async fn verify<V: JwsVerifier>(
    keys: &ProviderKeys,
    token: &str,
    want: &IdTokenExpectations<'_>,
    verifier: &V,
) -> Result<Map<String, Value>, IdTokenError> {
    let (alg, kid) = header(token)?;
    let key = keys
        .find(kid.as_deref(), &alg)
        .ok_or(IdTokenError::UnknownKey)?;
    let (signing_input, sig) = token.rsplit_once('.').ok_or(IdTokenError::Malformed)?;
    let payload = signing_input
        .split_once('.')
        .and_then(|(_, p)| b64::decode(p))
        .ok_or(IdTokenError::Malformed)?;
    let signature = b64::decode(sig).ok_or(IdTokenError::Malformed)?;
    if signature.len() != key.signature_len() {
        return Err(IdTokenError::Signature);
    }
    if !verifier
        .verify(key, signing_input.as_bytes(), &signature)
        .await
    {
        return Err(IdTokenError::Signature);
    }
    // The signature holds: the payload is the provider's.
    let claims: Map<String, Value> =
        serde_json::from_slice(&payload).map_err(|_| IdTokenError::Malformed)?;
    check_claims(&claims, want)?;
    Ok(claims)
}
