//! DPoP (RFC 9449): validating proofs, JWK thumbprints (RFC 7638) and the proof replay cache.
//!
//! A DPoP proof is a JWS the client signs with a key it keeps (in the browser: a non-extractable
//! WebCrypto key), naming one HTTP request. [`verify`] checks a proof against the request it came
//! with, in the order of RFC 9449 §4.3:
//!
//! 1. one compact JWS of at most [`MAX_PROOF_LEN`] bytes (several `DPoP` headers, which the
//!    runtime joins with `", "`, are not one);
//! 2. header `typ` exactly `dpop+jwt`, `alg` in the allow-list [`ALGS`] (so never `none`, never
//!    an HMAC with the public key as its secret), no `crit`;
//! 3. header `jwk` a public EC P-256 key: any private member (`d`, and the RSA/oct ones) is
//!    refused, not ignored;
//! 4. claims `jti` (1..=[`MAX_JTI_LEN`] bytes), `htm`, `htu`, `iat` (integer) present;
//! 5. `htm` equal to the request's method, `htu` equal to the request's URL, both normalised
//!    ([`normalize_htu`]: scheme and host case, default port, percent-encoding, dot segments;
//!    query and fragment ignored);
//! 6. `iat` within `window` seconds of `now`, either way (time is a parameter);
//! 7. at a resource, `ath` equal to base64url(SHA-256(access token));
//! 8. the signature, by an [`Es256Verifier`] (pure Rust, or the runtime's WebCrypto in the
//!    Worker).
//!
//! What this module does not do: single use of `jti` (the caller records each proof in a
//! [`ReplayCache`] after the checks) and comparing the key with the one a session or access
//! token is bound to (the service does, with [`Proof::jkt`]).
//!
//! **Algorithms.** Only ES256. It is the one algorithm every browser's WebCrypto can generate
//! non-extractable keys for and the one the package uses; every entry in the allow-list is
//! verification code an attacker can choose to exercise, and a second one would buy nothing
//! until a client needs it. `EdDSA` would be a one-line addition to [`ALGS`] plus an OKP arm in
//! the key parser; [`jwk_thumbprint`] already covers OKP keys.
//!
//! **Server nonces** (RFC 9449 §8) are not used. A nonce stops proofs made ahead of time by
//! script running in the page from being used after the page has gone. Here such proofs buy an
//! attacker little: at a resource a proof names the one access token (`ath`) it is good for,
//! which expires with that token; at the refresh endpoint a proof made ahead is only good with
//! the refresh token current at that future time, and any access token obtained with it is bound
//! to the key the attacker does not have, so it cannot be used at a resource either (nothing is
//! gained but the end of the victim's session, which anyone holding the refresh token can cause
//! through `/auth/revoke` anyway). Against that, nonces cost every client a retry round trip
//! whenever the nonce changes. Proofs carrying a `nonce` claim are accepted; the claim is ignored.

use crate::core::b64;
use crate::core::server::store::{KvStore, StoreError, MIN_TTL};
use serde_json::{Map, Value};

/// The `typ` header of a proof.
pub const PROOF_TYP: &str = "dpop+jwt";
/// The request header carrying the proof, and the `Authorization` scheme and `token_type` of
/// DPoP-bound access tokens.
pub const SCHEME: &str = "DPoP";
/// The curve of the accepted keys (`crv` of an EC JWK), the one `ES256` signs with.
pub const CURVE: &str = "P-256";
/// The accepted `alg` values.
pub const ALGS: &[&str] = &["ES256"];
/// [`ALGS`] as the space-separated `algs` parameter of a `WWW-Authenticate: DPoP` challenge.
pub const ALGS_PARAM: &str = "ES256";
/// Seconds a proof's `iat` may be away from the server's clock, in the past or the future.
pub const IAT_WINDOW: u64 = 60;
/// Longest proof accepted (bytes). A P-256 proof is about 500 bytes plus the URL.
pub const MAX_PROOF_LEN: usize = 4096;
/// Longest `jti` accepted (bytes); it is stored hashed anyway.
pub const MAX_JTI_LEN: usize = 128;
/// JWK members that only private (or symmetric) keys have.
const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// Why a proof was refused. Each reason has a stable code ([`DpopError::code`]) and a fixed
/// description; neither contains any input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DpopError {
    /// No `DPoP` header where one is required.
    Missing,
    /// Not one compact JWS, bad base64url or JSON, wrong member types, too long, or `crit`.
    Malformed,
    /// Header `typ` is not `dpop+jwt`.
    Typ,
    /// Header `alg` is not in [`ALGS`].
    Alg,
    /// Header `jwk` missing, not an EC P-256 public key, or not a point on the curve.
    Jwk,
    /// Header `jwk` carries private key material.
    PrivateKey,
    /// A required claim (`jti`, `htm`, `htu`, `iat`) is missing or of the wrong type.
    Claims,
    /// `htm` is not this request's method.
    Method,
    /// `htu` is not this request's URL.
    Url,
    /// `iat` is more than the window in the past.
    TooOld,
    /// `iat` is more than the window in the future.
    Future,
    /// `ath` is missing or is not the hash of the access token presented with the proof.
    Ath,
    /// The signature does not verify with the header's key.
    Signature,
    /// This proof (key and `jti`) was used before.
    Replay,
}

impl DpopError {
    /// A stable short code for logs and tests.
    pub fn code(&self) -> &'static str {
        match self {
            DpopError::Missing => "missing",
            DpopError::Malformed => "malformed",
            DpopError::Typ => "typ",
            DpopError::Alg => "alg",
            DpopError::Jwk => "jwk",
            DpopError::PrivateKey => "private_key",
            DpopError::Claims => "claims",
            DpopError::Method => "htm",
            DpopError::Url => "htu",
            DpopError::TooOld => "iat_old",
            DpopError::Future => "iat_future",
            DpopError::Ath => "ath",
            DpopError::Signature => "signature",
            DpopError::Replay => "replay",
        }
    }

    /// The reason of a [`DpopError::code`].
    pub fn of_code(code: &str) -> Option<DpopError> {
        const ALL: [DpopError; 14] = [
            DpopError::Missing,
            DpopError::Malformed,
            DpopError::Typ,
            DpopError::Alg,
            DpopError::Jwk,
            DpopError::PrivateKey,
            DpopError::Claims,
            DpopError::Method,
            DpopError::Url,
            DpopError::TooOld,
            DpopError::Future,
            DpopError::Ath,
            DpopError::Signature,
            DpopError::Replay,
        ];
        ALL.into_iter().find(|e| e.code() == code)
    }

    /// The `error_description` sent to the client (fixed text).
    pub fn description(&self) -> &'static str {
        match self {
            DpopError::Missing => "a DPoP proof is required",
            DpopError::Malformed => "the DPoP proof is not a well-formed JWS",
            DpopError::Typ => "the DPoP proof's typ must be dpop+jwt",
            DpopError::Alg => "the DPoP proof's alg is not supported (ES256 only)",
            DpopError::Jwk => "the DPoP proof's jwk is not an EC P-256 public key",
            DpopError::PrivateKey => "the DPoP proof's jwk contains private key material",
            DpopError::Claims => "the DPoP proof lacks jti, htm, htu or iat",
            DpopError::Method => "the DPoP proof's htm does not match the request method",
            DpopError::Url => "the DPoP proof's htu does not match the request URL",
            DpopError::TooOld => "the DPoP proof's iat is too old",
            DpopError::Future => "the DPoP proof's iat is in the future",
            DpopError::Ath => "the DPoP proof's ath does not match the access token",
            DpopError::Signature => "the DPoP proof's signature is invalid",
            DpopError::Replay => "the DPoP proof was used before",
        }
    }
}

/// The request a proof must name, and the verifier's clock.
#[derive(Clone, Copy, Debug)]
pub struct Expect<'a> {
    /// The request method (`POST`, `GET`).
    pub method: &'a str,
    /// The request URL as the server received it (query and fragment are ignored).
    pub url: &'a str,
    /// The current time (Unix s).
    pub now: u64,
    /// Accepted distance of `iat` from `now` (seconds), normally [`IAT_WINDOW`].
    pub window: u64,
    /// At a resource, the access token presented with the proof (its hash must be `ath`).
    pub access_token: Option<&'a str>,
}

/// A valid proof: the key's thumbprint and what the replay cache needs.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Proof {
    /// RFC 7638 SHA-256 thumbprint of the proof's key (base64url), as in `cnf.jkt`.
    pub jkt: String,
    /// The proof's `jti`.
    pub jti: String,
    /// The proof's `iat` (Unix s).
    pub iat: u64,
}

impl Proof {
    /// The replay-cache key: `j:` + base64url(SHA-256(jkt, jti)). Scoped by the key, so one
    /// client's `jti` can never block another's; hashed, so its length is fixed.
    pub fn replay_key(&self) -> String {
        let mut h = hmac_sha256::Hash::new();
        h.update(self.jkt.as_bytes());
        h.update(b"\n");
        h.update(self.jti.as_bytes());
        format!("j:{}", b64::encode(&h.finalize()))
    }

    /// How long the replay cache must remember this proof: until its `iat` leaves the window
    /// (after that [`verify`] refuses it anyway), at least KV's minimum TTL.
    pub fn replay_ttl(&self, now: u64, window: u64) -> u64 {
        (self.iat + window + 1).saturating_sub(now).max(MIN_TTL)
    }
}

/// A proof whose header and claims passed every check but the signature: what an
/// [`Es256Verifier`] is given.
#[derive(Debug)]
pub struct SignedProof<'a> {
    compact: &'a str,
    signing_input_len: usize,
    signature: Vec<u8>,
    x: [u8; 32],
    y: [u8; 32],
}

impl SignedProof<'_> {
    /// The whole proof (compact JWS).
    pub fn compact(&self) -> &str {
        self.compact
    }

    /// The JWS signing input (`header.payload`).
    pub fn signing_input(&self) -> &[u8] {
        &self.compact.as_bytes()[..self.signing_input_len]
    }

    /// The signature: `r || s`, 64 bytes (the JWS and the WebCrypto format alike).
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// The public key as an uncompressed SEC1 point (`04 || x || y`).
    pub fn sec1_point(&self) -> [u8; 65] {
        let mut p = [0u8; 65];
        p[0] = 4;
        p[1..33].copy_from_slice(&self.x);
        p[33..].copy_from_slice(&self.y);
        p
    }
}

/// ES256 signature verification: pure Rust ([`PureRustEs256`]) natively, the runtime's
/// WebCrypto in the Worker.
#[allow(async_fn_in_trait)] // single-threaded (Workers, tests): no `Send` bound wanted
pub trait Es256Verifier {
    /// `Ok` when the signature of `proof` verifies with its key; [`DpopError::Jwk`] when the key
    /// is not a point on P-256, [`DpopError::Signature`] otherwise.
    async fn verify(&self, proof: &SignedProof<'_>) -> Result<(), DpopError>;
}

/// ES256 in pure Rust: RustCrypto's `p256`, the implementation behind jwt-simple's ES256.
/// jwt-simple's own token API cannot read a proof: its header type has `jwk` as a string, where
/// a DPoP header has an object.
#[derive(Clone, Copy, Debug, Default)]
pub struct PureRustEs256;

impl Es256Verifier for PureRustEs256 {
    async fn verify(&self, proof: &SignedProof<'_>) -> Result<(), DpopError> {
        use p256::ecdsa::signature::Verifier;
        use p256::ecdsa::{Signature, VerifyingKey};
        let key = VerifyingKey::from_sec1_bytes(&proof.sec1_point()).map_err(|_| DpopError::Jwk)?;
        let signature =
            Signature::from_slice(proof.signature()).map_err(|_| DpopError::Signature)?;
        key.verify(proof.signing_input(), &signature)
            .map_err(|_| DpopError::Signature)
    }
}

/// base64url(SHA-256(`access_token`)): the `ath` claim of a proof sent with that token.
pub fn ath(access_token: &str) -> String {
    b64::encode(&hmac_sha256::Hash::hash(access_token.as_bytes()))
}

/// The RFC 7638 SHA-256 thumbprint of a JWK: the hash of the JSON object of its required members
/// (EC: `crv`, `kty`, `x`, `y`; OKP: `crv`, `kty`, `x`; RSA: `e`, `kty`, `n`; oct: `k`, `kty`) in
/// lexicographic order without whitespace, base64url. Other members do not count.
pub fn jwk_thumbprint(jwk: &Map<String, Value>) -> Result<String, DpopError> {
    let kty = jwk
        .get("kty")
        .and_then(Value::as_str)
        .ok_or(DpopError::Jwk)?;
    let members: &[&str] = match kty {
        "EC" => &["crv", "kty", "x", "y"],
        "OKP" => &["crv", "kty", "x"],
        "RSA" => &["e", "kty", "n"],
        "oct" => &["k", "kty"],
        _ => return Err(DpopError::Jwk),
    };
    let mut canonical = String::from("{");
    for (i, name) in members.iter().enumerate() {
        let value = jwk
            .get(*name)
            .and_then(Value::as_str)
            .ok_or(DpopError::Jwk)?;
        if i > 0 {
            canonical.push(',');
        }
        // serde_json escapes exactly as RFC 7638 §3.3 asks (JSON string, no extra whitespace).
        canonical.push_str(&Value::from(*name).to_string());
        canonical.push(':');
        canonical.push_str(&Value::from(value).to_string());
    }
    canonical.push('}');
    Ok(b64::encode(&hmac_sha256::Hash::hash(canonical.as_bytes())))
}

/// Checks a proof against the request it came with (every rule of the module documentation) and
/// returns its key's thumbprint, `jti` and `iat`. Does not consult the replay cache.
pub async fn verify<V: Es256Verifier>(
    proof: &str,
    want: &Expect<'_>,
    verifier: &V,
) -> Result<Proof, DpopError> {
    let (signed, claims, jkt) = parse(proof)?;
    let jti = claims.get("jti").and_then(Value::as_str);
    let htm = claims.get("htm").and_then(Value::as_str);
    let htu = claims.get("htu").and_then(Value::as_str);
    let iat = claims.get("iat").and_then(Value::as_u64);
    let (Some(jti), Some(htm), Some(htu), Some(iat)) = (jti, htm, htu, iat) else {
        return Err(DpopError::Claims);
    };
    if jti.is_empty() || jti.len() > MAX_JTI_LEN {
        return Err(DpopError::Claims);
    }
    if htm != want.method {
        return Err(DpopError::Method);
    }
    match (normalize_htu(htu), normalize_htu(want.url)) {
        (Some(a), Some(b)) if a == b => {}
        _ => return Err(DpopError::Url),
    }
    if iat.saturating_add(want.window) < want.now {
        return Err(DpopError::TooOld);
    }
    if iat > want.now.saturating_add(want.window) {
        return Err(DpopError::Future);
    }
    if let Some(token) = want.access_token {
        if claims.get("ath").and_then(Value::as_str) != Some(ath(token).as_str()) {
            return Err(DpopError::Ath);
        }
    }
    verifier.verify(&signed).await?;
    Ok(Proof {
        jkt,
        jti: jti.to_string(),
        iat,
    })
}

/// Splits and decodes a proof; checks the header (typ, alg, crit, jwk). Returns the parts the
/// signature check needs, the claims and the key's thumbprint.
fn parse(proof: &str) -> Result<(SignedProof<'_>, Map<String, Value>, String), DpopError> {
    const BAD: DpopError = DpopError::Malformed;
    if proof.is_empty() || proof.len() > MAX_PROOF_LEN {
        return Err(BAD);
    }
    let mut parts = proof.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(BAD);
    };
    let object = |part: &str| -> Result<Map<String, Value>, DpopError> {
        let bytes = b64::decode(part).ok_or(BAD)?;
        serde_json::from_slice(&bytes).map_err(|_| BAD)
    };
    let header = object(h)?;
    let claims = object(p)?;
    let signature = b64::decode(s).ok_or(BAD)?;
    if header.get("typ").and_then(Value::as_str) != Some(PROOF_TYP) {
        return Err(DpopError::Typ);
    }
    let alg = header.get("alg").and_then(Value::as_str);
    if !alg.is_some_and(|a| ALGS.contains(&a)) {
        return Err(DpopError::Alg);
    }
    if header.contains_key("crit") {
        return Err(BAD);
    }
    let jwk = header
        .get("jwk")
        .and_then(Value::as_object)
        .ok_or(DpopError::Jwk)?;
    if PRIVATE_MEMBERS.iter().any(|m| jwk.contains_key(*m)) {
        return Err(DpopError::PrivateKey);
    }
    let coordinate = |name: &str| -> Result<[u8; 32], DpopError> {
        let text = jwk
            .get(name)
            .and_then(Value::as_str)
            .ok_or(DpopError::Jwk)?;
        b64::decode(text)
            .and_then(|v| <[u8; 32]>::try_from(v).ok())
            .ok_or(DpopError::Jwk)
    };
    if jwk.get("kty").and_then(Value::as_str) != Some("EC")
        || jwk.get("crv").and_then(Value::as_str) != Some(CURVE)
    {
        return Err(DpopError::Jwk);
    }
    let (x, y) = (coordinate("x")?, coordinate("y")?);
    let jkt = jwk_thumbprint(jwk)?;
    if signature.len() != 64 {
        return Err(DpopError::Signature);
    }
    let signed = SignedProof {
        compact: proof,
        signing_input_len: h.len() + 1 + p.len(),
        signature,
        x,
        y,
    };
    Ok((signed, claims, jkt))
}

/// Normalises an `http`/`https` URL for comparing `htu` with the request (RFC 3986 §6.2.2 and
/// §6.2.3): scheme and host lower-cased, the scheme's default port and an empty port dropped,
/// an empty path made `/`, percent-encodings upper-cased and those of unreserved characters
/// decoded, dot segments removed; query and fragment dropped. `None` for anything else
/// (another scheme, userinfo, a bad port or percent-encoding, no host).
pub fn normalize_htu(url: &str) -> Option<String> {
    let url = url.split(['#', '?']).next().unwrap_or("");
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => 80,
        "https" => 443,
        _ => return None,
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    if authority.contains('@') {
        return None;
    }
    let (host, port) = if authority.starts_with('[') {
        let end = authority.find(']')?;
        let (h, after) = authority.split_at(end + 1);
        let port = if after.is_empty() {
            ""
        } else {
            after.strip_prefix(':')?
        };
        (h, port)
    } else {
        authority.rsplit_once(':').unwrap_or((authority, ""))
    };
    if host.is_empty()
        || host
            .bytes()
            .any(|c| c <= b' ' || c >= 0x7f || b"/\\?#%".contains(&c))
    {
        return None;
    }
    let mut out = format!("{scheme}://{}", host.to_ascii_lowercase());
    if !port.is_empty() {
        if port.len() > 5 || !port.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let n: u32 = port.parse().ok()?;
        if n > 65535 {
            return None;
        }
        if n != default_port {
            out.push_str(&format!(":{n}"));
        }
    }
    out.push_str(&remove_dot_segments(&normalize_percent(path)?));
    Some(out)
}

/// Upper-cases percent-encodings and decodes those of unreserved characters; `None` for a `%`
/// not followed by two hex digits or a byte that may not appear in a path.
fn normalize_percent(path: &str) -> Option<String> {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            let v = u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
            if v.is_ascii_alphanumeric() || b"-._~".contains(&v) {
                out.push(char::from(v));
            } else {
                out.push('%');
                out.push_str(&std::str::from_utf8(hex).ok()?.to_ascii_uppercase());
            }
            i += 3;
        } else if c <= b' ' || c >= 0x7f || b"\"<>\\^`{|}".contains(&c) {
            return None;
        } else {
            out.push(char::from(c));
            i += 1;
        }
    }
    Some(out)
}

/// RFC 3986 §5.2.4 for an absolute path (or empty, which becomes `/`).
fn remove_dot_segments(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    let mut parts = path.split('/').skip(1).peekable();
    let mut trailing_slash = path.is_empty();
    while let Some(seg) = parts.next() {
        let last = parts.peek().is_none();
        match seg {
            "." => trailing_slash = last,
            ".." => {
                segments.pop();
                trailing_slash = last;
            }
            s => {
                segments.push(s);
                trailing_slash = false;
            }
        }
    }
    let mut out = String::with_capacity(path.len() + 1);
    for s in &segments {
        out.push('/');
        out.push_str(s);
    }
    if trailing_slash || out.is_empty() {
        out.push('/');
    }
    out
}

/// Remembers which proofs were used. Consistency is the implementation's: see
/// [`KvReplayCache`] for what Workers KV gives.
#[allow(async_fn_in_trait)]
pub trait ReplayCache {
    /// Records `key` for `ttl` seconds; `false` when it was recorded already (a replay).
    async fn first_use(&self, key: &str, ttl: u64) -> Result<bool, StoreError>;
}

/// A [`ReplayCache`] over a [`KvStore`]: a read, then a write with the TTL.
///
/// On Workers KV a write is visible at once in the location that made it, so a proof replayed
/// after its first use has been recorded at that location is refused. Not caught: a replay
/// racing the first use (both read before either writes), and a replay at another location
/// within KV's propagation delay (about 60 s, the order of the `iat` window). A strict global
/// guarantee needs one serialisation point per key (a Durable Object), at the price of a
/// round trip to it on every proof.
#[derive(Debug)]
pub struct KvReplayCache<'a, S>(pub &'a S);

impl<S: KvStore> ReplayCache for KvReplayCache<'_, S> {
    async fn first_use(&self, key: &str, ttl: u64) -> Result<bool, StoreError> {
        if self.0.get(key).await?.is_some() {
            return Ok(false);
        }
        self.0.put(key, "1", Some(ttl.max(MIN_TTL))).await?;
        Ok(true)
    }
}
