//! The wire names both halves share: endpoint paths, cookie names, the CSRF header and the OAuth
//! `error` codes the client acts on. The
//! Worker routes and sets cookies with these; the browser package builds its default endpoints
//! and reads the session hint with them. Defined here once (this module is compiled into both).

/// Login: `POST` username and password, answers a token response.
pub const LOGIN_PATH: &str = "/auth/login";
/// Refresh: `POST` a refresh token (body or cookie), answers a token response.
pub const REFRESH_PATH: &str = "/auth/refresh";
/// Logout: `POST`, revokes the presented refresh token's family.
pub const LOGOUT_PATH: &str = "/auth/logout";
/// RFC 7009 token revocation.
pub const REVOKE_PATH: &str = "/auth/revoke";
/// Logout everywhere: revokes every session of the caller's subject.
pub const LOGOUT_ALL_PATH: &str = "/auth/logout-all";
/// Admin: create a session for a subject (token exchange for a trusted backend) (`POST`);
/// `/auth/sessions/{sub}` ends every session of a subject (`DELETE`).
pub const SESSIONS_PATH: &str = "/auth/sessions";
/// Admin: create users (`POST`); `/auth/users/{name}` deletes one (`DELETE`) or sets its
/// password (`PATCH`).
pub const USERS_PATH: &str = "/auth/users";
/// Sign-in with an OpenID provider: `GET ?return_to=<path>` starts it (302 to the provider).
pub const AUTHORIZE_PATH: &str = "/auth/authorize";
/// Sign-in with an OpenID provider: where the provider sends the browser back (`GET`).
pub const CALLBACK_PATH: &str = "/auth/callback";
/// The published signing keys.
pub const JWKS_PATH: &str = "/.well-known/jwks.json";
/// The reference resource: answers the verified claims of the access token.
pub const ME_PATH: &str = "/api/me";
/// Health check of the Worker (`GET`): 200 `{"status":"ok"}` when the configuration is valid
/// and the stores answer, 503 naming the failing part otherwise.
pub const HEALTH_PATH: &str = "/healthz";

/// Name of the refresh-token cookie (httpOnly).
pub const REFRESH_COOKIE: &str = "sr_refresh";
/// Name of the session-hint cookie: `1` while a session was last seen alive, `0` after it ended.
/// Not a secret and readable by the page.
pub const SESSION_HINT_COOKIE: &str = "sr_session";
/// The header cookie-transport requests must carry (value `1`).
pub const CSRF_HEADER: &str = "X-Silent-Refresh";

/// OAuth `error`: the refresh token (or grant) is not valid: the session is over (RFC 6749 §5.2).
pub const INVALID_GRANT: &str = "invalid_grant";
/// OAuth `error`: a DPoP proof was refused (RFC 9449 §7.1): at the refresh endpoint, the session is over.
pub const INVALID_DPOP_PROOF: &str = "invalid_dpop_proof";
/// OAuth `error`: try again later (RFC 6749 §5.2's `temporarily_unavailable`).
pub const TEMPORARILY_UNAVAILABLE: &str = "temporarily_unavailable";
