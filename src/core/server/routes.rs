//! The endpoint table: one list of method, path and endpoint. What the Worker answers for a
//! request line falls out of it: the endpoint to run, `404 not_found` for a path no route has,
//! `405 method_not_allowed` with the `Allow` header for a method the path does not take, and
//! the methods a CORS preflight may announce.

use crate::core::protocol;
use crate::core::server::error::AuthError;

/// What a route runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// Password login.
    Login,
    /// Admin: a session for a subject.
    CreateSession,
    /// Admin: a new user.
    CreateUser,
    /// Admin: delete the user named by the path (ends the user's sessions).
    DeleteUser,
    /// Admin: set the password of the user named by the path (ends the user's sessions).
    SetPassword,
    /// Admin: end every session of the subject named by the path.
    RevokeSubject,
    /// Refresh-token rotation.
    Refresh,
    /// Logout of one session.
    Logout,
    /// RFC 7009 revocation.
    Revoke,
    /// Logout of every session of the caller.
    LogoutAll,
    /// The public signing keys.
    Jwks,
    /// The reference resource.
    Me,
    /// The health check.
    Health,
    /// Sign-in with an OpenID provider: the redirect to the provider.
    Authorize,
    /// Sign-in with an OpenID provider: the provider's answer.
    Callback,
}

/// The path a route matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathPattern {
    /// Exactly this path.
    Exact(&'static str),
    /// This path plus one non-empty segment (`/auth/users/{name}`), handed to the endpoint.
    Child(&'static str),
}

impl PathPattern {
    /// `Some(segment)` (`Some("")` for [`PathPattern::Exact`]) when `path` matches.
    fn matches<'a>(&self, path: &'a str) -> Option<&'a str> {
        match *self {
            PathPattern::Exact(p) => (path == p).then_some(""),
            PathPattern::Child(p) => path
                .strip_prefix(p)?
                .strip_prefix('/')
                .filter(|s| !s.is_empty() && !s.contains('/')),
        }
    }
}

/// One route: method, path and endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    /// The HTTP method (exact, upper case).
    pub method: &'static str,
    /// The path.
    pub path: PathPattern,
    /// The endpoint it runs.
    pub endpoint: Endpoint,
    /// An admin route: it exists only when an admin token is configured.
    pub admin: bool,
}

const fn route(method: &'static str, path: PathPattern, endpoint: Endpoint) -> Route {
    Route {
        method,
        path,
        endpoint,
        admin: false,
    }
}

const fn admin(method: &'static str, path: PathPattern, endpoint: Endpoint) -> Route {
    Route {
        admin: true,
        ..route(method, path, endpoint)
    }
}

use PathPattern::{Child, Exact};

/// Every route of the server.
#[rustfmt::skip]
pub const ROUTES: &[Route] = &[
    route("POST",   Exact(protocol::LOGIN_PATH),      Endpoint::Login),
    route("POST",   Exact(protocol::REFRESH_PATH),    Endpoint::Refresh),
    route("POST",   Exact(protocol::LOGOUT_PATH),     Endpoint::Logout),
    route("POST",   Exact(protocol::REVOKE_PATH),     Endpoint::Revoke),
    route("POST",   Exact(protocol::LOGOUT_ALL_PATH), Endpoint::LogoutAll),
    admin("POST",   Exact(protocol::SESSIONS_PATH),   Endpoint::CreateSession),
    admin("DELETE", Child(protocol::SESSIONS_PATH),   Endpoint::RevokeSubject),
    admin("POST",   Exact(protocol::USERS_PATH),      Endpoint::CreateUser),
    admin("DELETE", Child(protocol::USERS_PATH),      Endpoint::DeleteUser),
    admin("PATCH",  Child(protocol::USERS_PATH),      Endpoint::SetPassword),
    route("GET",    Exact(protocol::JWKS_PATH),       Endpoint::Jwks),
    route("GET",    Exact(protocol::ME_PATH),         Endpoint::Me),
    route("GET",    Exact(protocol::HEALTH_PATH),     Endpoint::Health),
    route("GET",    Exact(protocol::AUTHORIZE_PATH),  Endpoint::Authorize),
    route("GET",    Exact(protocol::CALLBACK_PATH),   Endpoint::Callback),
];

/// A request line resolved to an endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Matched<'a> {
    /// The endpoint to run.
    pub endpoint: Endpoint,
    /// The path segment of a [`PathPattern::Child`] route (`""` otherwise), still
    /// percent-encoded.
    pub segment: &'a str,
}

/// The routes that exist: all of them with `admin`, the others without.
fn live(admin: bool) -> impl Iterator<Item = &'static Route> {
    ROUTES.iter().filter(move |r| admin || !r.admin)
}

/// The `Allow` value of `path` (its methods, then `OPTIONS`); `None` when no route has the path.
/// `admin`: whether the admin routes exist (an admin token is configured).
pub fn allowed_methods(path: &str, admin: bool) -> Option<String> {
    let mut allow = String::new();
    for r in live(admin).filter(|r| r.path.matches(path).is_some()) {
        if !allow.split(", ").any(|m| m == r.method) {
            allow.push_str(r.method);
            allow.push_str(", ");
        }
    }
    (!allow.is_empty()).then(|| allow + "OPTIONS")
}

/// The endpoint of `method` and `path`: `not_found` when no route has the path,
/// `method_not_allowed` (with `Allow`) when none of its routes has the method. `OPTIONS` is
/// not a route (the caller answers preflights with [`allowed_methods`]). Without `admin`, the
/// admin routes do not exist: their paths are `not_found`.
pub fn resolve<'a>(method: &str, path: &'a str, admin: bool) -> Result<Matched<'a>, AuthError> {
    for r in live(admin).filter(|r| r.method == method) {
        if let Some(segment) = r.path.matches(path) {
            return Ok(Matched {
                endpoint: r.endpoint,
                segment,
            });
        }
    }
    match allowed_methods(path, admin) {
        Some(allow) => Err(AuthError::MethodNotAllowed(allow)),
        None => Err(AuthError::NotFound),
    }
}
