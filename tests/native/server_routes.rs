//! Native tests of the route table: the endpoint of every request line, and the 404, 405 and
//! `Allow` answers derived from the table.

use silent_refresh::core::protocol;
use silent_refresh::core::server::routes::{allowed_methods, resolve, Endpoint, ROUTES};
use silent_refresh::core::server::AuthError;

#[test]
fn every_route_resolves_to_its_own_endpoint() {
    for r in ROUTES {
        let path = match r.path {
            silent_refresh::core::server::routes::PathPattern::Exact(p) => p.to_string(),
            silent_refresh::core::server::routes::PathPattern::Child(p) => format!("{p}/alice"),
        };
        assert_eq!(
            resolve(r.method, &path, true).map(|m| m.endpoint),
            Ok(r.endpoint),
            "{path}"
        );
    }
    let m = resolve("DELETE", "/auth/users/a%40b", true).unwrap();
    assert_eq!((m.endpoint, m.segment), (Endpoint::DeleteUser, "a%40b"));
    let m = resolve("DELETE", "/auth/sessions/a%40b", true).unwrap();
    assert_eq!((m.endpoint, m.segment), (Endpoint::RevokeSubject, "a%40b"));
}

#[test]
fn a_path_no_route_has_is_not_found() {
    for path in [
        "/",
        "/auth",
        "/auth/",
        "/auth/login/",
        "/auth/users/",
        "/auth/users/a/b",
        "/auth/sessions/",
        "/auth/sessions/a/b",
        "/AUTH/LOGIN",
        "/api/me/x",
    ] {
        assert_eq!(
            resolve("POST", path, true),
            Err(AuthError::NotFound),
            "{path}"
        );
        assert_eq!(allowed_methods(path, true), None, "{path}");
    }
}

#[test]
fn a_wrong_method_is_405_with_the_paths_methods_in_allow() {
    let cases = [
        ("GET", protocol::LOGIN_PATH, "POST, OPTIONS"),
        ("PUT", protocol::REFRESH_PATH, "POST, OPTIONS"),
        ("POST", protocol::JWKS_PATH, "GET, OPTIONS"),
        ("DELETE", protocol::ME_PATH, "GET, OPTIONS"),
        ("GET", "/auth/users/alice", "DELETE, PATCH, OPTIONS"),
        ("POST", "/auth/sessions/alice", "DELETE, OPTIONS"),
        ("DELETE", protocol::USERS_PATH, "POST, OPTIONS"),
        ("get", protocol::JWKS_PATH, "GET, OPTIONS"),
    ];
    for (method, path, allow) in cases {
        assert_eq!(
            resolve(method, path, true),
            Err(AuthError::MethodNotAllowed(allow.into())),
            "{method} {path}"
        );
        assert_eq!(allowed_methods(path, true).as_deref(), Some(allow));
        let e = resolve(method, path, true).unwrap_err();
        assert_eq!(e.headers(), vec![("Allow", allow.to_string())]);
    }
}

#[test]
fn the_table_has_one_route_per_method_and_path() {
    for (i, a) in ROUTES.iter().enumerate() {
        for b in &ROUTES[i + 1..] {
            assert!(
                !(a.method == b.method && a.path == b.path),
                "{a:?} and {b:?} collide"
            );
        }
    }
}

#[test]
fn without_an_admin_token_the_admin_routes_do_not_exist() {
    for r in ROUTES {
        let path = match r.path {
            silent_refresh::core::server::routes::PathPattern::Exact(p) => p.to_string(),
            silent_refresh::core::server::routes::PathPattern::Child(p) => format!("{p}/alice"),
        };
        let found = resolve(r.method, &path, false).map(|m| m.endpoint);
        if r.admin {
            assert_eq!(found, Err(AuthError::NotFound), "{path}");
            assert_eq!(allowed_methods(&path, false), None, "{path}");
        } else {
            assert_eq!(found, Ok(r.endpoint), "{path}");
        }
    }
    let admin_paths = [
        protocol::SESSIONS_PATH,
        protocol::USERS_PATH,
        "/auth/users/alice",
        "/auth/sessions/alice",
    ];
    assert!(admin_paths.iter().all(|p| ROUTES
        .iter()
        .any(|r| r.admin && resolve(r.method, p, true).is_ok())));
}
