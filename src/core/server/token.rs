//! Refresh tokens: `srt_` + 43 base64url characters (32 bytes).
//!
//! The first token of a family is random; each successor is
//! `HMAC-SHA256(REFRESH_SECRET, predecessor bytes)`, so concurrent rotations of one token agree
//! on one successor and a replay inside the grace window gets that same successor back, while
//! no raw token is ever stored: KV keys hold `SHA-256(token)` only (see `docs/DESIGN.md`).
//!
//! In strict mode (`ROTATION_STORE = "durable-object"`) a token is *routed*: its first
//! [`ROUTE_LEN`] bytes name the Durable Object of its subject (`HMAC(REFRESH_SECRET, "route:" +
//! sub)`, truncated), and a successor keeps them, the other 20 bytes (160 bits) being the
//! truncated HMAC of the predecessor. The wire form is the same.

use crate::core::b64;
use crate::core::server::error::AuthError;
use crate::core::server::secret::{constant_time_eq, Secret};
use std::fmt;

/// The prefix of every refresh token.
pub const PREFIX: &str = "srt_";
/// Length of a refresh token in characters (`srt_` + 43).
pub const TOKEN_LEN: usize = PREFIX.len() + 43;

/// Bytes at the start of a routed token that name its subject's Durable Object (96 bits).
pub const ROUTE_LEN: usize = 12;

/// A refresh token. `Debug` prints `[redacted]`; [`RefreshToken::as_str`] is for the response only.
#[derive(Clone)]
pub struct RefreshToken {
    bytes: [u8; 32],
}

impl RefreshToken {
    /// Parses the wire form; anything but `srt_` + 43 canonical base64url characters is
    /// `invalid_grant`: like an unknown token, it is not a live refresh token of ours (this is
    /// also what rejects an access token presented as a refresh token).
    pub fn parse(text: &str) -> Result<Self, AuthError> {
        const BAD: AuthError = AuthError::InvalidGrant;
        if text.len() != TOKEN_LEN || !text.starts_with(PREFIX) {
            return Err(BAD);
        }
        let raw = b64::decode(&text[PREFIX.len()..]).ok_or(BAD)?;
        let bytes: [u8; 32] = raw.try_into().map_err(|_| BAD)?;
        Ok(RefreshToken { bytes })
    }

    /// A fresh random token (the first of a family).
    pub fn generate() -> Result<Self, AuthError> {
        let mut bytes = [0u8; 32];
        fill_random(&mut bytes)?;
        Ok(RefreshToken { bytes })
    }

    /// A fresh routed token: `route` followed by random bytes.
    pub fn generate_routed(route: &[u8; ROUTE_LEN]) -> Result<Self, AuthError> {
        let mut token = Self::generate()?;
        token.bytes[..ROUTE_LEN].copy_from_slice(route);
        Ok(token)
    }

    /// The successor of this token: `HMAC-SHA256(secret, self)`.
    pub fn successor(&self, secret: &Secret) -> RefreshToken {
        RefreshToken {
            bytes: hmac_sha256::HMAC::mac(self.bytes, secret.expose()),
        }
    }

    /// The successor of a routed token: the same route, then the first 20 bytes of
    /// `HMAC-SHA256(secret, self)`.
    pub fn successor_routed(&self, secret: &Secret) -> RefreshToken {
        let mac = hmac_sha256::HMAC::mac(self.bytes, secret.expose());
        let mut bytes = self.bytes;
        bytes[ROUTE_LEN..].copy_from_slice(&mac[..32 - ROUTE_LEN]);
        RefreshToken { bytes }
    }

    /// The route a routed token carries (meaningless for an unrouted one).
    pub fn route(&self) -> [u8; ROUTE_LEN] {
        let mut route = [0u8; ROUTE_LEN];
        route.copy_from_slice(&self.bytes[..ROUTE_LEN]);
        route
    }

    /// The route of `sub`'s tokens: `HMAC-SHA256(secret, "route:" + sub)`, truncated.
    pub fn route_of(secret: &Secret, sub: &str) -> [u8; ROUTE_LEN] {
        let mac = hmac_sha256::HMAC::mac(format!("route:{sub}"), secret.expose());
        let mut route = [0u8; ROUTE_LEN];
        route.copy_from_slice(&mac[..ROUTE_LEN]);
        route
    }

    /// The KV key of this token: `t:` + base64url(SHA-256(token text)).
    pub fn key(&self) -> String {
        format!(
            "t:{}",
            b64::encode(&hmac_sha256::Hash::hash(self.as_str().as_bytes()))
        )
    }

    /// The wire form, for the token response or the cookie only.
    pub fn as_str(&self) -> String {
        format!("{PREFIX}{}", b64::encode(&self.bytes))
    }
}

impl PartialEq for RefreshToken {
    fn eq(&self, other: &Self) -> bool {
        constant_time_eq(&self.bytes, &other.bytes)
    }
}

impl Eq for RefreshToken {}

impl fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RefreshToken([redacted])")
    }
}

/// Fills `buf` from the platform's CSPRNG (`crypto.getRandomValues` on Workers).
pub fn fill_random(buf: &mut [u8]) -> Result<(), AuthError> {
    getrandom::fill(buf).map_err(|_| AuthError::ServerError("random number generator failed"))
}

/// A random identifier of `n` bytes, base64url (family ids, `jti`, salts).
pub fn random_id(n: usize) -> Result<String, AuthError> {
    let mut buf = vec![0u8; n];
    fill_random(&mut buf)?;
    Ok(b64::encode(&buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_derives_deterministically() {
        let t = RefreshToken::generate().unwrap();
        let text = t.as_str();
        assert_eq!(text.len(), TOKEN_LEN);
        assert_eq!(RefreshToken::parse(&text).unwrap(), t);
        let secret = Secret::new(vec![7u8; 32]);
        assert_eq!(t.successor(&secret), t.successor(&secret));
        assert_ne!(t.successor(&secret), t);
        assert_ne!(
            t.successor(&Secret::new(vec![8u8; 32])),
            t.successor(&secret)
        );
        assert!(t.key().starts_with("t:") && t.key().len() == 2 + 43);
        assert_eq!(format!("{t:?}"), "RefreshToken([redacted])");
    }

    #[test]
    fn routed_tokens_keep_their_route() {
        let secret = Secret::new(vec![7u8; 32]);
        let route = RefreshToken::route_of(&secret, "alice");
        assert_ne!(route, RefreshToken::route_of(&secret, "bob"));
        let t = RefreshToken::generate_routed(&route).unwrap();
        let next = t.successor_routed(&secret);
        assert_eq!(t.route(), route);
        assert_eq!(next.route(), route);
        assert_ne!(next, t);
        assert_eq!(next, t.successor_routed(&secret));
        assert_eq!(RefreshToken::parse(&next.as_str()).unwrap(), next);
        assert_eq!(next.successor_routed(&secret).route(), route);
    }

    #[test]
    fn rejects_wrong_shapes() {
        let good = RefreshToken::generate().unwrap().as_str();
        let bad = [
            String::new(),
            good[1..].to_string(),
            format!("{good}A"),
            good.replace("srt_", "srx_"),
            format!("srt_{}", "+".repeat(43)),
            format!("srt_{}", "A".repeat(42) + "B"), // non-zero trailing bits
            "eyJhbGciOiJFZERTQSJ9.e30.sig".to_string(),
            format!("srt_{}é", "A".repeat(41)),
        ];
        for b in bad {
            assert!(RefreshToken::parse(&b).is_err(), "{b:?}");
        }
    }
}
