//! Server-side logic of the Worker: refresh-token rotation, reuse detection, revocation, users
//! and access tokens, with no platform in it.
//!
//! The Worker adapter (`src/worker`) supplies three things and calls [`service::AuthService`]:
//! a [`store::KvStore`] (Workers KV), a [`password::PasswordHasher`] (Web Crypto PBKDF2) and the
//! current time in Unix seconds. Native tests supply `store::MemoryStore`, `store::FaultyStore`
//! and `throttle::MemoryThrottle` (the `testing` feature) and [`password::Pbkdf2`] instead.
//!
//! - [`config`]: the validated settings and secrets, read once from Worker vars.
//! - [`error`]: [`AuthError`], one stable code and HTTP status per failure.
//! - [`events`]: the security events (stable names, one JSON log line each).
//! - [`preflight`]: the checks of a deployment before `wrangler deploy`.
//! - [`secret`]: newtypes for secrets (redacted `Debug`, constant-time comparison).
//! - [`identity`]: the rules for usernames and subjects.
//! - [`throttle`]: login throttling per account and per client address.
//! - [`token`]: the refresh-token format, its hash (KV key) and successor derivation.
//! - [`records`]: the JSON records stored in KV and their keys.
//! - [`store`]: the storage trait (and, with `testing`, the in-memory and fault-injecting stores).
//! - [`access`]: signing and verifying access tokens (JWT, EdDSA), the JWKS.
//! - [`dpop`]: DPoP proofs (RFC 9449): validation, JWK thumbprints, the replay cache.
//! - [`password`]: password hashing (PBKDF2-HMAC-SHA256) behind a trait.
//! - [`routes`]: the endpoint table (method, path, endpoint); 404, 405 and `Allow` derive from it.
//! - [`rotation`]: the operations on rotation state as values, run where that state lives.
//! - [`route_limit`]: strict mode's per-route rate limit, checked before calling an object.
//! - [`service`]: login, sessions, refresh, logout, revoke, logout-all, users.
//! - [`oidc`]: sign-in with an OpenID Connect provider (the Worker as its relying party).
//! - [`http`]: platform-free request parsing (JSON, form, cookies) and browser rules (CSRF, CORS).

pub mod access;
pub mod config;
pub mod dpop;
pub mod error;
pub mod events;
pub mod http;
pub mod identity;
pub mod oidc;
pub mod password;
pub mod preflight;
pub mod records;
pub mod rotation;
pub mod route_limit;
pub mod routes;
pub mod secret;
pub mod service;
pub mod store;
pub mod throttle;
pub mod token;

pub use config::Config;
pub use error::AuthError;
pub use service::{AuthService, TokenResponse};
pub use store::{KvStore, StoreError};
