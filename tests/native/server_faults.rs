//! Store faults on every individual store operation of login, session creation, refresh
//! (rotation, grace replay, reuse), logout, logout-all and access-token verification.
//!
//! For each operation the test first counts its store operations on a healthy store, then for
//! every position and every fault (fail, 429, timeout, timeout after the write happened) it
//! checks: the answer is `temporarily_unavailable`, nothing is issued, and once the store
//! recovers the presented token still works (or, when the fault hid a completed write, the
//! state is exactly the completed operation's).

use crate::server_common::{config, run, CLIENT_IP, T0};
use serde_json::Map;
use silent_refresh::core::server::events::RevokeReason;
use silent_refresh::core::server::oidc::upstream::NoUpstream;
use silent_refresh::core::server::password::Pbkdf2;
use silent_refresh::core::server::store::{Fault, FaultyStore, Op};
use silent_refresh::core::server::throttle::MemoryThrottle;
use silent_refresh::core::server::{AuthError, AuthService, Config};

const FAULTS: [Fault; 4] = [
    Fault::Fail,
    Fault::RateLimit,
    Fault::Timeout,
    Fault::TimeoutAfterWrite,
];

type Svc<'a> = AuthService<'a, &'a FaultyStore, Pbkdf2>;

/// Tokens prepared by a scenario's setup.
#[derive(Clone, Debug, Default)]
struct Ctx {
    t0: String,
    t1: String,
    access: String,
}

/// One operation under test.
struct Scenario {
    name: &'static str,
    setup: fn(&Svc<'_>) -> Ctx,
    /// The operation; `Ok(())` for success.
    action: fn(&Svc<'_>, &Ctx) -> Result<(), AuthError>,
    /// Checks after recovery; `wrote` tells that the fault hid a completed write.
    after: fn(&Svc<'_>, &Ctx, bool),
}

fn session(svc: &Svc<'_>) -> Ctx {
    let r = run(svc.create_session("alice", Map::new(), None, T0)).unwrap();
    Ctx {
        t0: r.refresh_token.as_str(),
        t1: String::new(),
        access: r.access_token,
    }
}

fn rotated(svc: &Svc<'_>) -> Ctx {
    let mut c = session(svc);
    c.t1 = run(svc.refresh(&c.t0, None, (T0 + 1) * 1000, &NoUpstream))
        .unwrap()
        .refresh_token
        .as_str();
    c
}

fn successor(cfg: &Config, store: &FaultyStore, t: &str) -> String {
    crate::server_common::expected_successor(cfg, &store.inner, t)
}

fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "login",
            setup: |svc| {
                run(svc.create_user("carol", "password-1", None)).unwrap();
                Ctx::default()
            },
            action: |svc, _| {
                run(svc.login(
                    "carol",
                    "password-1",
                    CLIENT_IP,
                    &MemoryThrottle::new(),
                    None,
                    (T0) * 1000,
                ))
                .map(|_| ())
            },
            after: |svc, _, _| {
                let r = run(svc.login(
                    "carol",
                    "password-1",
                    CLIENT_IP,
                    &MemoryThrottle::new(),
                    None,
                    (T0 + 1) * 1000,
                ))
                .unwrap();
                run(svc.refresh(
                    &r.refresh_token.as_str(),
                    None,
                    (T0 + 2) * 1000,
                    &NoUpstream,
                ))
                .unwrap();
            },
        },
        Scenario {
            name: "demo login (seeding)",
            setup: |_| Ctx::default(),
            action: |svc, _| {
                run(svc.login(
                    "demo",
                    "demo-password",
                    CLIENT_IP,
                    &MemoryThrottle::new(),
                    None,
                    (T0) * 1000,
                ))
                .map(|_| ())
            },
            after: |svc, _, _| {
                run(svc.login(
                    "demo",
                    "demo-password",
                    CLIENT_IP,
                    &MemoryThrottle::new(),
                    None,
                    (T0 + 1) * 1000,
                ))
                .unwrap();
            },
        },
        Scenario {
            name: "session",
            setup: |_| Ctx::default(),
            action: |svc, _| run(svc.create_session("alice", Map::new(), None, T0)).map(|_| ()),
            after: |svc, _, _| {
                let r = run(svc.create_session("alice", Map::new(), None, T0 + 1)).unwrap();
                run(svc.refresh(
                    &r.refresh_token.as_str(),
                    None,
                    (T0 + 2) * 1000,
                    &NoUpstream,
                ))
                .unwrap();
            },
        },
        Scenario {
            name: "refresh (rotation)",
            setup: session,
            action: |svc, c| {
                run(svc.refresh(&c.t0, None, (T0 + 5) * 1000, &NoUpstream)).map(|_| ())
            },
            after: |svc, c, _| {
                // The presented token still works and yields the one successor.
                let r = run(svc.refresh(&c.t0, None, (T0 + 6) * 1000, &NoUpstream)).unwrap();
                assert_eq!(
                    r.refresh_token.as_str(),
                    successor(svc.config, svc.store, &c.t0)
                );
                run(svc.refresh(
                    &r.refresh_token.as_str(),
                    None,
                    (T0 + 7) * 1000,
                    &NoUpstream,
                ))
                .unwrap();
            },
        },
        Scenario {
            name: "refresh (grace replay)",
            setup: rotated,
            action: |svc, c| {
                run(svc.refresh(&c.t0, None, (T0 + 3) * 1000, &NoUpstream)).map(|_| ())
            },
            after: |svc, c, _| {
                assert_eq!(
                    run(svc.refresh(&c.t0, None, (T0 + 4) * 1000, &NoUpstream))
                        .unwrap()
                        .refresh_token
                        .as_str(),
                    c.t1
                );
                run(svc.refresh(&c.t1, None, (T0 + 5) * 1000, &NoUpstream)).unwrap();
            },
        },
        Scenario {
            name: "refresh (reuse)",
            setup: rotated,
            // A reuse must revoke; if the revocation cannot be written the answer is 503.
            action: |svc, c| match run(svc.refresh(&c.t0, None, (T0 + 100) * 1000, &NoUpstream)) {
                Err(AuthError::InvalidGrant) => Ok(()),
                other => other.map(|_| ()),
            },
            after: |svc, c, _| {
                assert_eq!(
                    run(svc.refresh(&c.t0, None, (T0 + 101) * 1000, &NoUpstream)).unwrap_err(),
                    AuthError::InvalidGrant
                );
                assert_eq!(
                    run(svc.refresh(&c.t1, None, (T0 + 102) * 1000, &NoUpstream)).unwrap_err(),
                    AuthError::InvalidGrant
                );
            },
        },
        Scenario {
            name: "logout",
            setup: session,
            action: |svc, c| {
                run(svc.logout(&c.t0, RevokeReason::Logout, T0 + 5, &NoUpstream)).map(drop)
            },
            after: |svc, c, wrote| {
                if !wrote {
                    // Nothing happened: the token still works (and its successor is the family's).
                    let r = run(svc.refresh(&c.t0, None, (T0 + 6) * 1000, &NoUpstream)).unwrap();
                    assert_eq!(
                        r.refresh_token.as_str(),
                        successor(svc.config, svc.store, &c.t0)
                    );
                }
                run(svc.logout(&c.t0, RevokeReason::Logout, T0 + 7, &NoUpstream)).unwrap();
                assert_eq!(
                    run(svc.refresh(&c.t0, None, (T0 + 8) * 1000, &NoUpstream)).unwrap_err(),
                    AuthError::InvalidGrant
                );
            },
        },
        Scenario {
            name: "logout-all",
            setup: session,
            action: |svc, c| run(svc.logout_all(&c.access, None, (T0 + 5) * 1000)).map(drop),
            after: |svc, c, wrote| {
                if !wrote {
                    run(svc.verify_access(&c.access, None, T0 + 6)).unwrap();
                    run(svc.logout_all(&c.access, None, (T0 + 6) * 1000)).unwrap();
                }
                assert_eq!(
                    run(svc.verify_access(&c.access, None, T0 + 7)).unwrap_err(),
                    AuthError::InvalidToken
                );
                assert_eq!(
                    run(svc.refresh(&c.t0, None, (T0 + 7) * 1000, &NoUpstream)).unwrap_err(),
                    AuthError::InvalidGrant
                );
            },
        },
        Scenario {
            name: "verify access (/api/me)",
            setup: session,
            action: |svc, c| run(svc.verify_access(&c.access, None, T0 + 5)).map(|_| ()),
            after: |svc, c, _| {
                run(svc.verify_access(&c.access, None, T0 + 6)).unwrap();
            },
        },
    ]
}

#[test]
fn every_store_operation_failing_answers_503_and_loses_nothing() {
    let cfg = config();
    let mut checked = 0;
    for s in scenarios() {
        // Count the store operations of the action on a healthy store.
        let healthy = FaultyStore::new();
        healthy.inner.set_time(T0);
        let svc = AuthService::new(&cfg, &healthy, Pbkdf2);
        let ctx = (s.setup)(&svc);
        let before = healthy.inner.ops().len();
        (s.action)(&svc, &ctx).unwrap_or_else(|e| panic!("{}: healthy run failed: {e}", s.name));
        let ops = healthy.inner.ops()[before..].to_vec();
        assert!(!ops.is_empty(), "{}", s.name);

        for (i, op) in ops.iter().enumerate() {
            for fault in FAULTS {
                let store = FaultyStore::new();
                store.inner.set_time(T0);
                let svc = AuthService::new(&cfg, &store, Pbkdf2);
                let ctx = (s.setup)(&svc);
                store.fail_nth(i, fault);
                let result = (s.action)(&svc, &ctx);
                assert_eq!(
                    result,
                    Err(AuthError::TemporarilyUnavailable),
                    "{}: op {i} ({op:?}) {fault:?}",
                    s.name
                );
                // The fault hid a write that did happen.
                let wrote = fault == Fault::TimeoutAfterWrite && !matches!(op, Op::Get(_));
                (s.after)(&svc, &ctx, wrote);
                checked += 1;
            }
        }
    }
    assert!(checked > 100, "only {checked} fault cases");
}

#[test]
fn a_store_that_stays_down_answers_503_everywhere_and_recovers() {
    let cfg = config();
    let store = FaultyStore::new();
    store.inner.set_time(T0);
    let svc = AuthService::new(&cfg, &store, Pbkdf2);
    let c = session(&svc);
    for fault in FAULTS {
        store.set_down(Some(fault));
        assert_eq!(
            run(svc.refresh(&c.t0, None, (T0 + 1) * 1000, &NoUpstream)).unwrap_err(),
            AuthError::TemporarilyUnavailable
        );
        assert_eq!(
            run(svc.login(
                "demo",
                "demo-password",
                CLIENT_IP,
                &MemoryThrottle::new(),
                None,
                (T0) * 1000,
            ))
            .unwrap_err(),
            AuthError::TemporarilyUnavailable
        );
        assert_eq!(
            run(svc.verify_access(&c.access, None, T0)).unwrap_err(),
            AuthError::TemporarilyUnavailable
        );
        assert_eq!(
            run(svc.logout(&c.t0, RevokeReason::Logout, T0, &NoUpstream)).unwrap_err(),
            AuthError::TemporarilyUnavailable
        );
    }
    store.set_down(None);
    // Nothing was written while down (every fault hit before the write), so t0 is current.
    let r = run(svc.refresh(&c.t0, None, (T0 + 2) * 1000, &NoUpstream)).unwrap();
    assert_eq!(r.refresh_token.as_str(), successor(&cfg, &store, &c.t0));
}

#[test]
fn a_corrupt_record_fails_closed() {
    let cfg = config();
    let store = FaultyStore::new();
    store.inner.set_time(T0);
    let svc = AuthService::new(&cfg, &store, Pbkdf2);
    let c = session(&svc);
    use silent_refresh::core::server::KvStore;
    run(store.inner.put("e:alice", "{not json", None)).unwrap();
    assert_eq!(
        run(svc.refresh(&c.t0, None, (T0 + 1) * 1000, &NoUpstream)).unwrap_err(),
        AuthError::TemporarilyUnavailable
    );
    assert_eq!(
        run(svc.verify_access(&c.access, None, T0 + 1)).unwrap_err(),
        AuthError::TemporarilyUnavailable
    );
}
