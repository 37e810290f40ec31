//! Refresh tokens: `srt_` + 64 base64url characters (48 bytes) that name their family and
//! generation, or, for families started before those existed, `srt_` + 43 (32 bytes) found
//! through a token record.
//!
//! **Addressed tokens** (every new family): `lead (12) ‖ handle (12) ‖ generation (4, big
//! endian) ‖ tag (20)`. The handle is 12 random bytes drawn at the family's start and kept
//! nowhere but in its tokens: the family's id, its KV key and the id in logs, is
//! `base64url(SHA-256(handle)[..16])` ([`RefreshToken::family_id`]). The tag is the first 20
//! bytes of `HMAC-SHA256(REFRESH_SECRET, "token:" + family value + the 28 bytes before it)`,
//! the family value being 32 random bytes kept in the family record (never in a token, never
//! logged). So a refresh finds the family from the token alone and checks, with the record it
//! reads anyway, that the token is one of the family's and which one: no token record is
//! written or read. A successor is the same lead and handle with the next generation, so
//! concurrent rotations of one token agree on it and a replay inside the grace window gets it
//! back; any retired token of a family is recognised as such (reuse detection), a token not
//! made with the secret and the family's value is no token of it. Computing a token takes the
//! secret, the family value (a read of KV) and the handle (a token of the family): the secret
//! and an old token, or the secret and KV, compute nothing (see `docs/DESIGN.md`).
//!
//! **Chained tokens** (families started before addressed tokens existed, kept until they end):
//! the first token of a family is random; each successor is `HMAC-SHA256(REFRESH_SECRET,
//! "successor:" + family value + predecessor bytes)`, and a token record `t:<sha256(token)>`
//! names each token's family and generation. Families older still, without a family value,
//! keep `HMAC-SHA256(REFRESH_SECRET, predecessor bytes)`.
//!
//! Every use of the secret is labelled, so no two can produce the same MAC input: `token:` and
//! `successor:` here, `route:` for routes, `secret-id:` for [`secret_id`], `demo-user-salt:`
//! for the demo user's salt (`service.rs`).
//!
//! In strict mode (`ROTATION_STORE = "durable-object"`) a token is *routed*: its first
//! [`ROUTE_LEN`] bytes (an addressed token's lead) name the Durable Object of its subject
//! (`HMAC(REFRESH_SECRET, "route:" + sub)`, truncated) and a successor keeps them (a chained
//! routed token's other 20 bytes are the truncated successor MAC). In KV mode an addressed
//! token's lead is random.

use crate::core::b64;
use crate::core::server::config::RotationStore;
use crate::core::server::error::AuthError;
use crate::core::server::secret::{constant_time_eq, Secret};
use std::fmt;

/// The prefix of every refresh token.
pub const PREFIX: &str = "srt_";
/// Length of a chained refresh token in characters (`srt_` + 43: 32 bytes).
pub const TOKEN_LEN: usize = PREFIX.len() + 43;
/// Length of an addressed refresh token in characters (`srt_` + 64: [`ADDRESSED_LEN`] bytes).
pub const ADDRESSED_TOKEN_LEN: usize = PREFIX.len() + 64;

/// Bytes of a chained token.
const CHAINED_LEN: usize = 32;
/// Bytes of an addressed token: lead, handle, generation, tag.
pub const ADDRESSED_LEN: usize = ROUTE_LEN + HANDLE_LEN + 4 + TAG_LEN;
/// Bytes of an addressed token's family handle (random, kept only in the family's tokens).
pub const HANDLE_LEN: usize = 12;
/// Bytes of an addressed token's tag (the truncated HMAC).
const TAG_LEN: usize = 20;
/// Where an addressed token's tag starts (what comes before it is what it authenticates).
const TAG_AT: usize = ADDRESSED_LEN - TAG_LEN;

/// Bytes at the start of a routed token that name its subject's Durable Object (96 bits).
pub const ROUTE_LEN: usize = 12;

/// Bytes of a family's random value (kept in its family record, mixed into every successor).
pub const FAMILY_VALUE_LEN: usize = 32;

/// Label of the secret's use for successors.
const SUCCESSOR_LABEL: &[u8] = b"successor:";
/// Label of the secret's use for addressed tokens' tags.
const TOKEN_LABEL: &[u8] = b"token:";
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

    /// The first token of a new family of `sub` whose value is `family_value`: an addressed
    /// token of generation 0 with a fresh handle (its [`RefreshToken::family_id`] is the new
    /// family's id).
    pub fn first(
        self,
        secret: &Secret,
        sub: &str,
        family_value: &[u8],
    ) -> Result<RefreshToken, AuthError> {
        let mut bytes = [0u8; ADDRESSED_LEN];
        fill_random(&mut bytes[..TAG_AT])?;
        if self == TokenForm::Routed {
            bytes[..ROUTE_LEN].copy_from_slice(&RefreshToken::route_of(secret, sub));
        }
        bytes[TAG_AT - 4..TAG_AT].fill(0);
        let mut token = RefreshToken {
            bytes,
            len: ADDRESSED_LEN,
        };
        token.sign(secret, family_value);
        Ok(token)
    }

    /// The successor of chained `token` (in a family with random value `family_value`).
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

/// A refresh token, addressed or chained (see the module). `Debug` prints `[redacted]`;
/// [`RefreshToken::as_str`] is for the response only.
#[derive(Clone)]
pub struct RefreshToken {
    /// The token's bytes: the first `len` ([`CHAINED_LEN`] or [`ADDRESSED_LEN`]) are used.
    bytes: [u8; ADDRESSED_LEN],
    len: usize,
}

impl RefreshToken {
    /// Parses the wire form; anything but `srt_` + 43 or 64 canonical base64url characters is
    /// `invalid_grant`: like an unknown token, it is not a live refresh token of ours (this is
    /// also what rejects an access token presented as a refresh token).
    pub fn parse(text: &str) -> Result<Self, AuthError> {
        const BAD: AuthError = AuthError::InvalidGrant;
        if !(text.len() == TOKEN_LEN || text.len() == ADDRESSED_TOKEN_LEN)
            || !text.starts_with(PREFIX)
        {
            return Err(BAD);
        }
        let raw = b64::decode(&text[PREFIX.len()..]).ok_or(BAD)?;
        let mut bytes = [0u8; ADDRESSED_LEN];
        bytes[..raw.len()].copy_from_slice(&raw);
        Ok(RefreshToken {
            bytes,
            len: raw.len(),
        })
    }

    /// A fresh random chained token (the first of a family of the earlier form: what tests of
    /// those families start from).
    pub fn generate() -> Result<Self, AuthError> {
        let mut bytes = [0u8; ADDRESSED_LEN];
        fill_random(&mut bytes[..CHAINED_LEN])?;
        Ok(RefreshToken {
            bytes,
            len: CHAINED_LEN,
        })
    }

    /// The token's bytes.
    fn raw(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    /// Whether this is an addressed token (it names its family and generation).
    pub fn is_addressed(&self) -> bool {
        self.len == ADDRESSED_LEN
    }

    /// An addressed token's family id: `base64url(SHA-256(handle)[..16])` (`None`: a chained
    /// token, whose token record names its family). Not a credential: it is what logs show.
    pub fn family_id(&self) -> Option<String> {
        self.is_addressed().then(|| {
            let handle = &self.bytes[ROUTE_LEN..ROUTE_LEN + HANDLE_LEN];
            b64::encode(&hmac_sha256::Hash::hash(handle)[..16])
        })
    }

    /// An addressed token's generation (`None`: a chained token).
    pub fn generation(&self) -> Option<u64> {
        self.is_addressed().then(|| {
            let mut n = [0u8; 4];
            n.copy_from_slice(&self.bytes[TAG_AT - 4..TAG_AT]);
            u64::from(u32::from_be_bytes(n))
        })
    }

    /// The tag of an addressed token's first 28 bytes in a family with value `family_value`.
    fn tag(&self, secret: &Secret, family_value: &[u8]) -> [u8; 32] {
        let mut mac = hmac_sha256::HMAC::new(secret.expose());
        mac.update(TOKEN_LABEL);
        mac.update(family_value);
        mac.update(&self.bytes[..TAG_AT]);
        mac.finalize()
    }

    fn sign(&mut self, secret: &Secret, family_value: &[u8]) {
        let tag = self.tag(secret, family_value);
        self.bytes[TAG_AT..].copy_from_slice(&tag[..TAG_LEN]);
    }

    /// Whether this addressed token was made with `secret` for the family whose value is
    /// `family_value` (constant time; `false` for a chained token). Only then is it one of the
    /// family's tokens, of the generation it carries.
    pub fn authentic(&self, secret: &Secret, family_value: &[u8]) -> bool {
        self.is_addressed()
            && constant_time_eq(
                &self.tag(secret, family_value)[..TAG_LEN],
                &self.bytes[TAG_AT..],
            )
    }

    /// The successor of an addressed token: the same lead and handle, the next generation
    /// (`None`: a chained token, or the last generation the form holds).
    pub fn next_addressed(&self, secret: &Secret, family_value: &[u8]) -> Option<RefreshToken> {
        let next = u32::try_from(self.generation()? + 1).ok()?;
        let mut token = self.clone();
        token.bytes[TAG_AT - 4..TAG_AT].copy_from_slice(&next.to_be_bytes());
        token.sign(secret, family_value);
        Some(token)
    }

    /// A fresh routed chained token: `route` followed by random bytes.
    pub fn generate_routed(route: &[u8; ROUTE_LEN]) -> Result<Self, AuthError> {
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
                mac.update(self.raw());
                mac.finalize()
            }
            None => hmac_sha256::HMAC::mac(self.raw(), secret.expose()),
        }
    }

    /// The successor of this chained token (see [`RefreshToken::successor_mac`]).
    pub fn successor(&self, secret: &Secret, family_value: Option<&[u8]>) -> RefreshToken {
        let mut bytes = [0u8; ADDRESSED_LEN];
        bytes[..CHAINED_LEN].copy_from_slice(&self.successor_mac(secret, family_value));
        RefreshToken {
            bytes,
            len: CHAINED_LEN,
        }
    }

    /// The successor of a routed token: the same route, then the first 20 bytes of the
    /// successor MAC.
    pub fn successor_routed(&self, secret: &Secret, family_value: Option<&[u8]>) -> RefreshToken {
        let mac = self.successor_mac(secret, family_value);
        let mut bytes = self.bytes;
        bytes[ROUTE_LEN..CHAINED_LEN].copy_from_slice(&mac[..CHAINED_LEN - ROUTE_LEN]);
        RefreshToken {
            bytes,
            len: CHAINED_LEN,
        }
    }

    /// The route a routed token carries (meaningless for an unrouted one: random bytes).
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

    /// The KV key of this chained token's record: `t:` + base64url(SHA-256(token text)).
    pub fn key(&self) -> String {
        format!(
            "t:{}",
            b64::encode(&hmac_sha256::Hash::hash(self.as_str().as_bytes()))
        )
    }

    /// The wire form, for the token response or the cookie only.
    pub fn as_str(&self) -> String {
        format!("{PREFIX}{}", b64::encode(self.raw()))
    }
}

impl PartialEq for RefreshToken {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len && constant_time_eq(self.raw(), other.raw())
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
            t.successor(&secret, None).raw(),
            hmac_sha256::HMAC::mac(t.raw(), secret.expose())
        );
        assert!(t.key().starts_with("t:") && t.key().len() == 2 + 43);
        assert_eq!(format!("{t:?}"), "RefreshToken([redacted])");
    }

    #[test]
    fn addressed_tokens_name_their_family_and_generation() {
        let secret = Secret::new(vec![7u8; 32]);
        let value = [9u8; FAMILY_VALUE_LEN];
        let t0 = TokenForm::Plain.first(&secret, "alice", &value).unwrap();
        let text = t0.as_str();
        assert_eq!(text.len(), ADDRESSED_TOKEN_LEN);
        assert_eq!(RefreshToken::parse(&text).unwrap(), t0);
        assert_eq!(t0.generation(), Some(0));
        assert!(t0.authentic(&secret, &value));
        let fam = t0.family_id().unwrap();
        assert_eq!(fam.len(), 22);
        // Each family draws its own handle.
        let other = TokenForm::Plain.first(&secret, "alice", &value).unwrap();
        assert_ne!(other.family_id().unwrap(), fam);
        let t1 = t0.next_addressed(&secret, &value).unwrap();
        assert_eq!(
            t1,
            t0.next_addressed(&secret, &value).unwrap(),
            "deterministic"
        );
        assert_eq!(
            (t1.generation(), t1.family_id()),
            (Some(1), Some(fam.clone()))
        );
        assert_eq!(t1.route(), t0.route());
        assert!(t1.authentic(&secret, &value));
        assert_ne!(t1, t0);
        // The tag needs the secret and the family value; any changed byte breaks it.
        assert!(!t1.authentic(&Secret::new(vec![8u8; 32]), &value));
        assert!(!t1.authentic(&secret, &[10u8; FAMILY_VALUE_LEN]));
        for i in [0, ROUTE_LEN, TAG_AT - 1, TAG_AT, ADDRESSED_LEN - 1] {
            let mut forged = t1.clone();
            forged.bytes[i] ^= 1;
            assert!(!forged.authentic(&secret, &value), "byte {i}");
        }
        // A chained token is never authentic as an addressed one, and has no address.
        let chained = RefreshToken::generate().unwrap();
        assert!(!chained.authentic(&secret, &value));
        assert_eq!((chained.family_id(), chained.generation()), (None, None));
        assert!(chained.next_addressed(&secret, &value).is_none());
        // The last generation the form holds has no successor.
        let mut last = t1.clone();
        last.bytes[TAG_AT - 4..TAG_AT].copy_from_slice(&u32::MAX.to_be_bytes());
        last.sign(&secret, &value);
        assert!(last.next_addressed(&secret, &value).is_none());
        // Strict mode: the lead is the subject's route, kept by successors.
        let r0 = TokenForm::Routed.first(&secret, "alice", &value).unwrap();
        let route = RefreshToken::route_of(&secret, "alice");
        assert_eq!(r0.route(), route);
        assert_eq!(r0.next_addressed(&secret, &value).unwrap().route(), route);
        assert_eq!(format!("{r0:?}"), "RefreshToken([redacted])");
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
            // Only the two lengths of the two forms.
            format!("srt_{}", "A".repeat(48)),
            format!("srt_{}", "A".repeat(63)),
            format!("srt_{}", "A".repeat(65)),
            format!("srt_{}", "A".repeat(86)),
            format!("srt_{}=", "A".repeat(63)),
        ];
        assert!(RefreshToken::parse(&format!("srt_{}", "A".repeat(64))).is_ok());
        for b in bad {
            assert!(RefreshToken::parse(&b).is_err(), "{b:?}");
        }
    }
}
