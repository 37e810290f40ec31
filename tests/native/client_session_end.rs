//! When a refused refresh ends the session: the statuses the app lists as session-ending
//! (`sessionEndingStatuses`, a [`StatusSet`]), and no endless retries of a refusal once the
//! access token has expired (a "zombie" session), while transient failures keep it.

use crate::client_engine::{proceed, start};
use silent_refresh::core::client::classify::{classify, error_code};
use silent_refresh::core::client::{
    ClientConfig, Engine, ErrorCode, Failure, Finished, Outcome, Secret, StatusSet, Verdict,
};

const MIN: u64 = 60_000;

fn http(status: u16, error: Option<&str>) -> Failure {
    Failure::Http {
        status,
        error: error.map(str::to_owned),
        retry_after_ms: None,
    }
}

fn engine(ending: StatusSet) -> Engine {
    Engine::new(ClientConfig {
        session_ending: ending,
        ..ClientConfig::DEFAULT
    })
}

/// Signed in at t = 1 s with a 15-minute token (`None`: lifetime unknown, an opaque token).
fn signed_in(ending: StatusSet, lifetime_ms: Option<u64>) -> Engine {
    let mut e = engine(ending);
    e.start_session(Secret::new("a1".to_owned()), lifetime_ms, 1_000);
    e
}

/// A refresh on demand at `now` answered with `failure`.
fn refused(e: &mut Engine, now: u64, failure: Failure) -> Finished {
    let t = match e.manual(now) {
        silent_refresh::core::client::Begin::Start(t) => t,
        other => panic!("expected Start, got {other:?}"),
    };
    let t = proceed(e.lock_acquired(t));
    e.sent(now);
    e.finish(t, Outcome::Failure(failure), now, 0.0)
}

fn with(set: StatusSet, status: u16) -> StatusSet {
    set.with(status).expect("an error status")
}

#[test]
fn status_set_holds_error_statuses_only() {
    let d = StatusSet::DEFAULT;
    assert!(d.contains(401));
    for s in [
        0,
        200,
        302,
        399,
        400,
        403,
        500,
        501,
        599,
        600,
        1401,
        u16::MAX,
    ] {
        assert!(!d.contains(s), "{s}");
    }
    let s = with(with(StatusSet::EMPTY, 401), 403);
    assert!(s.contains(401) && s.contains(403) && !s.contains(402) && !s.contains(404));
    let edges = with(with(StatusSet::EMPTY, 400), 463);
    assert!(
        edges.contains(400) && edges.contains(463) && !edges.contains(401) && !edges.contains(464)
    );
    for bad in [0, 200, 399, 464, 499, 500, 503, 599, 600, 1000, u16::MAX] {
        assert_eq!(StatusSet::EMPTY.with(bad), None, "{bad}");
    }
    assert_eq!(ClientConfig::DEFAULT.session_ending, StatusSet::DEFAULT);
}

#[test]
fn listed_statuses_end_the_session_and_invalid_grant_always_does() {
    let both = with(StatusSet::DEFAULT, 403);
    let cases = [
        (
            http(403, None),
            StatusSet::DEFAULT,
            Verdict::Rejected,
            ErrorCode::Rejected,
        ),
        (
            http(403, None),
            both,
            Verdict::SessionOver,
            ErrorCode::SessionExpired,
        ),
        (
            http(401, None),
            StatusSet::EMPTY,
            Verdict::Rejected,
            ErrorCode::Rejected,
        ),
        (
            http(400, Some("invalid_grant")),
            StatusSet::EMPTY,
            Verdict::SessionOver,
            ErrorCode::SessionExpired,
        ),
        // A listed status ends the session even where it would be transient (the app said so);
        // `temporarily_unavailable` is always transient.
        (
            http(429, None),
            with(StatusSet::EMPTY, 429),
            Verdict::SessionOver,
            ErrorCode::SessionExpired,
        ),
        (
            http(400, Some("temporarily_unavailable")),
            with(StatusSet::EMPTY, 400),
            Verdict::Retry {
                retry_after_ms: None,
            },
            ErrorCode::Server,
        ),
    ];
    for (failure, set, verdict, code) in cases {
        assert_eq!(classify(&failure, set), verdict, "{failure:?}");
        assert_eq!(error_code(&failure, set), code, "{failure:?}");
    }

    let mut e = signed_in(both, Some(15 * MIN));
    assert_eq!(refused(&mut e, 5_000, http(403, None)), Finished::Expired);
    assert!(!e.signed_in());
}

#[test]
fn a_refusal_before_expiry_is_retried_slowly_and_after_expiry_ends_the_session() {
    let expiry = 1_000 + 15 * MIN;
    for failure in [
        http(403, None),
        http(400, Some("invalid_request")),
        http(404, None),
    ] {
        let mut e = signed_in(StatusSet::DEFAULT, Some(15 * MIN));
        assert_eq!(
            refused(&mut e, 5_000, failure.clone()),
            Finished::Retry {
                code: ErrorCode::Rejected,
                delay_ms: MIN
            },
            "{failure:?} while the token works"
        );
        assert!(e.signed_in());
        assert_eq!(
            refused(&mut e, expiry, failure.clone()),
            Finished::Expired,
            "{failure:?} at expiry"
        );
        assert!(!e.signed_in());
        assert_eq!(e.deadline(), None, "nothing scheduled after the end");
    }
}

#[test]
fn transient_failures_keep_an_expired_session() {
    let late = 1_000 + 15 * MIN + 5_000;
    let transient = [
        http(408, None),
        http(429, None),
        http(500, None),
        http(503, None),
        http(400, Some("temporarily_unavailable")),
        Failure::Network,
        Failure::Timeout,
        Failure::BadResponse,
    ];
    for failure in transient {
        let mut e = signed_in(StatusSet::DEFAULT, Some(15 * MIN));
        let r = refused(&mut e, late, failure.clone());
        assert!(matches!(r, Finished::Retry { .. }), "{failure:?}: {r:?}");
        assert!(e.signed_in(), "{failure:?}");
    }
}

#[test]
fn a_refusal_with_an_unknown_expiry_ends_the_session() {
    // An opaque token without expires_in is refreshed after a 401 only: by then it is dead.
    let mut e = signed_in(StatusSet::DEFAULT, None);
    let t = start(e.unauthorized(e.generation(), 5_000));
    let t = proceed(e.lock_acquired(t));
    e.sent(5_000);
    assert_eq!(
        e.finish(t, Outcome::Failure(http(403, None)), 5_000, 0.0),
        Finished::Expired
    );
    assert!(!e.signed_in());
}

#[test]
fn restore_refused_still_means_no_session() {
    let mut e = engine(StatusSet::DEFAULT);
    let t = match e.restore(5_000) {
        silent_refresh::core::client::Begin::Start(t) => t,
        other => panic!("{other:?}"),
    };
    let t = proceed(e.lock_acquired(t));
    e.sent(5_000);
    assert_eq!(
        e.finish(t, Outcome::Failure(http(403, None)), 5_000, 0.0),
        Finished::NoSession
    );
}
