//! The records kept in KV, their keys and TTLs (the table in `docs/DESIGN.md`).
//!
//! | key | record |
//! |---|---|
//! | `f:<family>` | [`FamilyRecord`] (a rotation's one write, or for a chained family its last: the commit point) |
//! | `t:<sha256(token)>` | [`TokenRecord`] (chained tokens only: families from before addressed tokens) |
//! | `r:<family>` | [`Revocation`] (never written by rotation) |
//! | `e:<sub>` | [`Epoch`] (logout-all) |
//! | `u:<username>` | [`UserRecord`] |

use crate::core::server::store::{KvStore, StoreError, MIN_TTL};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// One chained refresh token of a family (keyed by the token's hash); for an addressed token the
/// service makes the same view from the token and its family record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// Family id.
    pub fam: String,
    /// Generation within the family (0 for the first token).
    pub gen: u64,
    /// Subject.
    pub sub: String,
    /// Idle deadline (Unix s): unusable from then on.
    pub idle: u64,
    /// The family's absolute deadline (Unix s), copied here so logout needs one read.
    pub abs: u64,
}

/// A token family: the sessions' shared state (keyed by the family id).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FamilyRecord {
    /// Subject.
    pub sub: String,
    /// Creation time (Unix s).
    pub created: u64,
    /// Absolute deadline (Unix s), never extended.
    pub abs: u64,
    /// Current generation: the token with this generation is the live one.
    pub gen: u64,
    /// When the current generation was issued (Unix ms), for the grace window.
    #[serde(default)]
    pub rotated_ms: u64,
    /// The user's logout-all epoch counter when the family was created.
    pub ep: u64,
    /// RFC 7638 thumbprint of the DPoP key the family is bound to (`None`: a Bearer family).
    /// Set at creation, never changed: every refresh must prove possession of this key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jkt: Option<String>,
    /// The family's random value (base64url of [`FAMILY_VALUE_LEN`] bytes), mixed into every
    /// successor so that `REFRESH_SECRET` and an old token alone compute nothing. Set at
    /// creation, never changed, never logged. `None`: a family started before it existed, which
    /// keeps the earlier derivation until it ends.
    ///
    /// [`FAMILY_VALUE_LEN`]: crate::core::server::token::FAMILY_VALUE_LEN
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k: Option<String>,
    /// The identifier of the `REFRESH_SECRET` the family was started under
    /// ([`secret_id`](crate::core::server::token::secret_id)): under another secret the family
    /// is over. `None` (a family started before it existed): set by its next rotation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sk: Option<String>,
    /// Custom claims given at session creation, copied into every access token.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub claims: serde_json::Map<String, serde_json::Value>,
    /// A family started by an OpenID provider sign-in: the provider's tokens
    /// ([`crate::core::server::oidc::upstream::Grant`]), AES-256-GCM sealed under
    /// UPSTREAM_TOKEN_KEY with the family id as associated data. Replaced only in the same write
    /// as a rotation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub up: Option<String>,
    /// The DPoP proofs the family's rotations spent, while they could be accepted: each proof's
    /// replay key (its first [`SPENT_PROOF_KEY_LEN`] characters after `j:`) and until when (Unix
    /// s). A rotation records its proof here, in the write it makes anyway, instead of a `j:`
    /// key; at most [`MAX_SPENT_PROOFS`], the others go to `j:` as every other proof does.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pj: Vec<(String, u64)>,
}

/// Characters of a proof's replay key kept in a family's [`FamilyRecord::pj`] (96 bits).
pub const SPENT_PROOF_KEY_LEN: usize = 16;
/// Most proofs kept in a family record; a family rotated more often within a proof's window
/// (two minutes) spends the rest in the replay cache's `j:` keys.
pub const MAX_SPENT_PROOFS: usize = 8;

/// A revoked family.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    /// When (Unix s).
    pub at: u64,
    /// Why: `logout`, `revoke`, `reuse` or `dpop_key` (the family's refresh token presented
    /// with a proof by another key).
    pub why: String,
}

/// The logout-all epoch of a user: families and access tokens of earlier epochs are dead.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Epoch {
    /// Counter, moved forward by each end of all sessions, never backwards (0 when absent).
    pub n: u64,
    /// Time of the last logout-all (Unix s).
    pub at: u64,
}

/// A user of `/auth/login`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    /// Subject of the user's tokens.
    pub sub: String,
    /// KDF name (`pbkdf2-sha256-peppered`, or `pbkdf2-sha256` for records of the earlier
    /// scheme, upgraded at the next successful login).
    pub kdf: String,
    /// KDF iterations in total (chained in steps of 100,000).
    pub iter: u32,
    /// Salt, base64url.
    pub salt: String,
    /// Derived key (32 bytes), base64url.
    pub hash: String,
}

/// KV key of a family record.
pub fn family_key(fam: &str) -> String {
    format!("f:{fam}")
}

/// KV key of a family's revocation marker.
pub(crate) fn revocation_key(fam: &str) -> String {
    format!("r:{fam}")
}

/// KV key of a user's epoch.
pub(crate) fn epoch_key(sub: &str) -> String {
    format!("e:{sub}")
}

/// KV key of a user record.
pub fn user_key(username: &str) -> String {
    format!("u:{username}")
}

/// TTL for a record that must live until `deadline`, clamped to KV's minimum.
pub(crate) fn ttl_until(deadline: u64, now: u64) -> u64 {
    deadline.saturating_sub(now).max(MIN_TTL)
}

/// Reads and decodes a record; an undecodable value is [`StoreError::Corrupt`] (fail closed).
pub async fn load<T: DeserializeOwned>(
    store: &impl KvStore,
    key: &str,
) -> Result<Option<T>, StoreError> {
    decode(store.get(key).await?)
}

/// Decodes a record read with [`KvStore::get_many`] (`None`: absent).
pub fn decode<T: DeserializeOwned>(value: Option<String>) -> Result<Option<T>, StoreError> {
    match value {
        None => Ok(None),
        Some(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|_| StoreError::Corrupt),
    }
}

/// Encodes and writes a record.
pub async fn save<T: Serialize>(
    store: &impl KvStore,
    key: &str,
    value: &T,
    ttl: Option<u64>,
) -> Result<(), StoreError> {
    let text = serde_json::to_string(value).map_err(|_| StoreError::Corrupt)?;
    store.put(key, &text, ttl).await
}
