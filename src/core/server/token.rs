//! Refresh tokens: `srt_` + 43 base64url characters (32 bytes).
//!
//! The first token of a family is random; each successor is
//! `HMAC-SHA256(REFRESH_SECRET, "successor:" + family value + predecessor bytes)`, where the
//! family value is 32 random bytes kept in the family record (never in a token, never logged):
//! concurrent rotations of one token agree on one successor and a replay inside the grace
//! window gets that same successor back, while no raw token is ever stored (KV keys hold
//! `SHA-256(token)` only), and the secret with an old token alone computes nothing (see
//! `docs/DESIGN.md`). Families started before the family value existed keep the earlier
//! derivation, `HMAC-SHA256(REFRESH_SECRET, predecessor bytes)`, until they end.
//!
//! Every use of the secret is labelled, so no two can produce the same MAC input:
//! `successor:` here, `route:` for routes, `secret-id:` for [`secret_id`], `demo-user-salt:`
//! for the demo user's salt (`service.rs`).
//!
//! In strict mode (`ROTATION_STORE = "durable-object"`) a token is *routed*: its first
//! [`ROUTE_LEN`] bytes name the Durable Object of its subject (`HMAC(REFRESH_SECRET, "route:" +
//! sub)`, truncated), and a successor keeps them, the other 20 bytes (160 bits) being the
//! truncated successor MAC. The wire form is the same.

use crate::core::b64;
use crate::core::server::config::RotationStore;
use crate::core::server::error::AuthError;
use crate::core::server::secret::{constant_time_eq, Secret};
use std::fmt;

/// The prefix of every refresh token.
pub const PREFIX: &str = "srt_";
/// Length of a refresh token in characters (`srt_` + 43).
pub const TOKEN_LEN: usize = PREFIX.len() + 43;

/// Bytes at the start of a routed token that name its subject's Durable Object (96 bits).
pub const ROUTE_LEN: usize = 12;

/// Bytes of a family's random value (kept in its family record, mixed into every successor).
pub const FAMILY_VALUE_LEN: usize = 32;

/// Label of the secret's use for successors.
const SUCCESSOR_LABEL: &[u8] = b"successor:";
/// Label of the secret's use for routes.
const ROUTE_LABEL: &str = "route:";
/// Label of the secret's use for its own identifier.
const SECRET_ID_LABEL: &[u8] = b"secret-id:";

/// The identifier of a refresh secret kept in each family it starts (`sk`): base64url of the
/// first 9 bytes of `HMAC-SHA256(secret, "secret-id:")`. It names the secret without giving
/// anything that helps compute it; a family whose identifier is not the current secret's was
/// started under an earlier secret and is over (rotating `REFRESH_SECRET` ends every session).
pub fn secret_id(secret: &Secret) -> String {
    let mac = hmac_sha256::HMAC::mac(SECRET_ID_LABEL, secret.expose());
    b64::encode(&mac[..9])
}

/// The form of a deployment's refresh tokens, chosen once from where its rotation state lives
/// ([`RotationStore`]): the only place the store's mode reaches token minting and rotation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TokenForm {
    /// KV mode: a family starts with a random token, each successor is the whole MAC.
    Plain,
    /// Strict mode: every token of a subject carries the route of the subject's object
    /// ([`RefreshToken::route_of`]), successors keep it.
    Routed,
}

impl TokenForm {
    /// The form of the tokens of state kept in `store`.
    pub fn of(store: RotationStore) -> Self {
        match store {
            RotationStore::Kv => TokenForm::Plain,
            RotationStore::DurableObject => TokenForm::Routed,
        }
    }

    /// The first token of a family of `sub`.
    pub fn first(self, secret: &Secret, sub: &str) -> Result<RefreshToken, AuthError> {
        match self {
            TokenForm::Plain => RefreshToken::generate(),
            TokenForm::Routed => {
                RefreshToken::generate_routed(&RefreshToken::route_of(secret, sub))
            }
        }
    }

    /// The successor of `token` (in a family with random value `family_value`).
    pub fn successor(
        self,
        token: &RefreshToken,
        secret: &Secret,
        family_value: Option<&[u8]>,
    ) -> RefreshToken {
        match self {
            TokenForm::Plain => token.successor(secret, family_value),
            TokenForm::Routed => token.successor_routed(secret, family_value),
        }
    }

    /// Whether the end of a subject's sessions can list the subject's families, and so reach
    /// each one's provider grant at once: with routed tokens they live in the subject's object;
    /// with plain ones (KV, no index per subject) a family learns it was ended at its next
    /// refresh.
    pub fn ends_list_families(self) -> bool {
        matches!(self, TokenForm::Routed)
    }

    /// Whether `token`, a token of `sub`'s family, is still addressed where `sub`'s state is
    /// found: always for plain tokens; for routed ones, when the current secret routes `sub`
    /// to the route the token carries (after a change of `REFRESH_SECRET`, no end of `sub`'s
    /// sessions would reach the object it names).
    pub fn reaches(self, token: &RefreshToken, secret: &Secret, sub: &str) -> bool {
        match self {
            TokenForm::Plain => true,
            TokenForm::Routed => token.route() == RefreshToken::route_of(secret, sub),
        }
    }
}

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
    pub(crate) fn generate_routed(route: &[u8; ROUTE_LEN]) -> Result<Self, AuthError> {
        let mut token = Self::generate()?;
        token.bytes[..ROUTE_LEN].copy_from_slice(route);
        Ok(token)
    }

    /// The successor MAC: `HMAC-SHA256(secret, "successor:" + family_value + self)` with the
    /// family's value, or for a family that has none (started before it existed) the earlier
    /// `HMAC-SHA256(secret, self)`.
    fn successor_mac(&self, secret: &Secret, family_value: Option<&[u8]>) -> [u8; 32] {
        match family_value {
            Some(value) => {
                let mut mac = hmac_sha256::HMAC::new(secret.expose());
                mac.update(SUCCESSOR_LABEL);
                mac.update(value);
                mac.update(self.bytes);
                mac.finalize()
            }
            None => hmac_sha256::HMAC::mac(self.bytes, secret.expose()),
        }
    }

    /// The successor of this token (see [`RefreshToken::successor_mac`]).
    pub fn successor(&self, secret: &Secret, family_value: Option<&[u8]>) -> RefreshToken {
        RefreshToken {
            bytes: self.successor_mac(secret, family_value),
        }
    }

    /// The successor of a routed token: the same route, then the first 20 bytes of the
    /// successor MAC.
    pub fn successor_routed(&self, secret: &Secret, family_value: Option<&[u8]>) -> RefreshToken {
        let mac = self.successor_mac(secret, family_value);
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
        let mac = hmac_sha256::HMAC::mac(format!("{ROUTE_LABEL}{sub}"), secret.expose());
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
pub(crate) fn fill_random(buf: &mut [u8]) -> Result<(), AuthError> {
    getrandom::fill(buf).map_err(|_| AuthError::ServerError("random number generator failed"))
}

/// A random identifier of `n` bytes, base64url (family ids, `jti`, salts).
pub(crate) fn random_id(n: usize) -> Result<String, AuthError> {
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
        let value = [9u8; FAMILY_VALUE_LEN];
        let next = t.successor(&secret, Some(&value));
        assert_eq!(next, t.successor(&secret, Some(&value)));
        assert_ne!(next, t);
        assert_ne!(t.successor(&Secret::new(vec![8u8; 32]), Some(&value)), next);
        // The family value is part of the derivation: the secret and the token alone (the
        // earlier derivation, or another family's value) do not give the successor.
        assert_ne!(t.successor(&secret, Some(&[10u8; FAMILY_VALUE_LEN])), next);
        assert_ne!(t.successor(&secret, None), next);
        assert_eq!(
            t.successor(&secret, None).bytes,
            hmac_sha256::HMAC::mac(t.bytes, secret.expose())
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
        let value = Some(&[3u8; FAMILY_VALUE_LEN][..]);
        let next = t.successor_routed(&secret, value);
        assert_eq!(t.route(), route);
        assert_eq!(next.route(), route);
        assert_ne!(next, t);
        assert_eq!(next, t.successor_routed(&secret, value));
        assert_eq!(RefreshToken::parse(&next.as_str()).unwrap(), next);
        assert_eq!(next.successor_routed(&secret, value).route(), route);
        assert_ne!(next, t.successor_routed(&secret, None));
        assert_ne!(secret_id(&secret), secret_id(&Secret::new(vec![8u8; 32])));
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
