//! Native tests of the client's pure policies: token lifetime and refresh time, classification
//! of refresh failures, `Retry-After`, backoff with jitter, and the circuit breaker.

use silent_refresh::core::client::backoff::{
    backoff_delay, retry_delay, CircuitBreaker, WINDOW_MS,
};
use silent_refresh::core::client::classify::{
    classify, error_code, parse_retry_after, MAX_RETRY_AFTER_MS,
};
use silent_refresh::core::client::schedule::{effective_margin, lifetime_from_claims, Deadlines};
use silent_refresh::core::client::{ErrorCode, Failure, StatusSet, Verdict};

fn http(status: u16, error: Option<&str>, retry_after_ms: Option<u64>) -> Failure {
    Failure::Http {
        status,
        error: error.map(str::to_owned),
        retry_after_ms,
    }
}

#[test]
fn lifetime_prefers_expires_in_then_exp_minus_iat() {
    let (iat, exp) = (1_700_000_000.0, 1_700_000_900.0);
    assert_eq!(lifetime_from_claims(Some(300.0), exp, iat), Some(300_000));
    assert_eq!(
        lifetime_from_claims(Some(0.25), exp, iat),
        Some(250),
        "fractions of a second are kept"
    );
    for bad in [
        None,
        Some(0.0),
        Some(-5.0),
        Some(f64::NAN),
        Some(f64::INFINITY),
    ] {
        assert_eq!(
            lifetime_from_claims(bad, exp, iat),
            Some(900_000),
            "{bad:?}"
        );
    }
    // What the package's JavaScript passes for an absent or non-numeric claim: NaN.
    assert_eq!(
        lifetime_from_claims(None, f64::NAN, f64::NAN),
        None,
        "opaque token"
    );
    assert_eq!(
        lifetime_from_claims(None, exp, f64::NAN),
        None,
        "no iat: unknown"
    );
    assert_eq!(
        lifetime_from_claims(None, 5.0, 10.0),
        None,
        "exp before iat: unknown"
    );
    for (exp, iat) in [
        (900.5, 0.0),
        (900.0, -1.0),
        (f64::INFINITY, 0.0),
        (1e20, 0.0),
    ] {
        assert_eq!(lifetime_from_claims(None, exp, iat), None, "{exp} {iat}");
    }
}

#[test]
fn lifetime_ignores_how_far_the_server_clock_is_from_ours() {
    // The same 15-minute token issued by a server whose clock is at 1970, now, or year 2100:
    // the client uses only the difference, so the schedule is identical.
    let now_ms = 5_000;
    let mut seen = Vec::new();
    for iat in [0u64, 1_700_000_000, 4_102_444_800] {
        let lifetime = lifetime_from_claims(None, (iat + 900) as f64, iat as f64).unwrap();
        seen.push(Deadlines::compute(now_ms, lifetime, lifetime, None));
    }
    assert!(seen.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(
        seen[0],
        Deadlines {
            expires_at: 905_000,
            refresh_at: 815_000
        }
    );
}

#[test]
fn refresh_time_is_margin_before_expiry() {
    let d = Deadlines::compute(1_000, 900_000, 900_000, None);
    assert_eq!(d.expires_at, 901_000);
    assert_eq!(d.refresh_at, 901_000 - 90_000);
    assert!(!d.due(d.refresh_at - 1));
    assert!(d.due(d.refresh_at));
    // Configured margin; a token received from another tab with 100 s of 900 s left.
    let d = Deadlines::compute(0, 900_000, 100_000, Some(30_000));
    assert_eq!(
        d,
        Deadlines {
            expires_at: 100_000,
            refresh_at: 70_000
        }
    );
    // A margin larger than the remaining time: due at once.
    let d = Deadlines::compute(0, 900_000, 50_000, None);
    assert!(d.due(0));
}

#[test]
fn margin_never_exceeds_half_the_lifetime() {
    for lifetime in [0u64, 1, 2, 999, 60_000, 120_000, 600_000, 3_600_000] {
        for configured in [None, Some(0), Some(10), Some(60_000), Some(u64::MAX)] {
            let m = effective_margin(lifetime, configured);
            assert!(
                m <= lifetime / 2,
                "lifetime {lifetime}, configured {configured:?}: {m}"
            );
        }
    }
    assert_eq!(
        effective_margin(3_600_000, None),
        360_000,
        "10 % of an hour"
    );
    assert_eq!(effective_margin(300_000, None), 60_000, "at least a minute");
}

#[test]
fn classification_table() {
    let retry = |ms| Verdict::Retry { retry_after_ms: ms };
    let cases: &[(Failure, Verdict, ErrorCode)] = &[
        (Failure::Network, retry(None), ErrorCode::Network),
        (Failure::Timeout, retry(None), ErrorCode::Timeout),
        (Failure::BadResponse, retry(None), ErrorCode::BadResponse),
        (
            http(400, Some("invalid_grant"), None),
            Verdict::SessionOver,
            ErrorCode::SessionExpired,
        ),
        (
            http(401, None, None),
            Verdict::SessionOver,
            ErrorCode::SessionExpired,
        ),
        (
            http(401, Some("invalid_token"), None),
            Verdict::SessionOver,
            ErrorCode::SessionExpired,
        ),
        (
            http(503, Some("temporarily_unavailable"), Some(2_000)),
            retry(Some(2_000)),
            ErrorCode::Server,
        ),
        (
            http(400, Some("temporarily_unavailable"), None),
            retry(None),
            ErrorCode::Server,
        ),
        (http(500, None, None), retry(None), ErrorCode::Server),
        (
            http(502, Some("bad gateway"), None),
            retry(None),
            ErrorCode::Server,
        ),
        (
            http(429, None, Some(30_000)),
            retry(Some(30_000)),
            ErrorCode::Server,
        ),
        (http(408, None, None), retry(None), ErrorCode::Server),
        (
            http(400, Some("invalid_request"), None),
            Verdict::Rejected,
            ErrorCode::Rejected,
        ),
        (
            http(403, Some("forbidden_origin"), None),
            Verdict::Rejected,
            ErrorCode::Rejected,
        ),
        (
            http(404, Some("not_found"), None),
            Verdict::Rejected,
            ErrorCode::Rejected,
        ),
        (
            http(302, None, None),
            Verdict::Rejected,
            ErrorCode::Rejected,
        ),
    ];
    for (failure, verdict, code) in cases {
        assert_eq!(
            classify(failure, StatusSet::DEFAULT),
            *verdict,
            "{failure:?}"
        );
        assert_eq!(
            error_code(failure, StatusSet::DEFAULT),
            *code,
            "{failure:?}"
        );
    }
}

#[test]
fn retry_after_accepts_delta_seconds_only() {
    assert_eq!(parse_retry_after("5"), Some(5_000));
    assert_eq!(parse_retry_after(" 7 "), Some(7_000));
    assert_eq!(parse_retry_after("0"), Some(0));
    assert_eq!(parse_retry_after("9999999999"), Some(MAX_RETRY_AFTER_MS));
    for bad in [
        "",
        "-1",
        "1.5",
        "Wed, 21 Oct 2015 07:28:00 GMT",
        "5s",
        "99999999999",
    ] {
        assert_eq!(parse_retry_after(bad), None, "{bad:?}");
    }
}

#[test]
fn backoff_doubles_up_to_the_cap_with_bounded_jitter() {
    let mut previous_floor = 0;
    for attempt in 0..64u32 {
        let exp = (1_000u64 << attempt.min(40)).min(60_000);
        for r in [0.0, 0.25, 0.5, 0.999] {
            let d = backoff_delay(attempt, 1_000, 60_000, r);
            assert!(d >= exp / 2 && d <= exp, "attempt {attempt}, r {r}: {d}");
        }
        let floor = backoff_delay(attempt, 1_000, 60_000, 0.0);
        assert!(floor >= previous_floor);
        previous_floor = floor;
    }
    assert_eq!(backoff_delay(10, 1_000, 60_000, 0.0), 30_000);
    // Retry-After wins when longer, the backoff when the server asks for less.
    assert_eq!(retry_delay(0, Some(5_000), 1_000, 60_000, 0.0), 5_000);
    assert_eq!(retry_delay(4, Some(0), 1_000, 60_000, 0.0), 8_000);
    // Out-of-range randomness cannot produce a zero or oversized delay.
    assert_eq!(backoff_delay(0, 1_000, 60_000, -3.0), 500);
    assert_eq!(backoff_delay(0, 1_000, 60_000, 7.0), 1_000);
}

#[test]
fn circuit_breaker_bounds_requests_in_any_minute() {
    let mut b = CircuitBreaker::new(3);
    for t in [0, 10, 20] {
        assert_eq!(b.check(t), Ok(()));
        b.record(t);
    }
    assert_eq!(b.check(30), Err(WINDOW_MS));
    assert_eq!(b.check(WINDOW_MS - 1), Err(WINDOW_MS));
    assert_eq!(b.check(WINDOW_MS), Ok(()));
    b.record(WINDOW_MS);
    assert_eq!(b.check(WINDOW_MS + 5), Err(WINDOW_MS + 10));
    // A zero limit still lets one request a minute through (never a dead client).
    let mut one = CircuitBreaker::new(0);
    assert_eq!(one.check(0), Ok(()));
    one.record(0);
    assert_eq!(one.check(1), Err(WINDOW_MS));
}

#[test]
fn elapsed_clock_ignores_wall_clock_offset_and_setbacks_but_sees_sleep() {
    use silent_refresh::core::client::ElapsedClock;
    // Same readings of performance.now(), wall clock exact or three hours ahead: same result.
    for offset in [0.0, 3.0 * 3_600_000.0, -86_400_000.0] {
        let mut c = ElapsedClock::default();
        let wall = 1_700_000_000_000.0 + offset;
        assert_eq!(c.observe(100.0, wall), 0);
        assert_eq!(c.observe(1_100.0, wall + 1_000.0), 1_000);
        assert_eq!(c.observe(2_100.5, wall + 2_000.0), 2_000);
    }
    let mut c = ElapsedClock::default();
    c.observe(0.0, 1e12);
    // The wall clock is set back an hour: the monotonic clock still counts.
    assert_eq!(c.observe(500.0, 1e12 - 3_600_000.0), 500);
    // The machine sleeps 10 minutes; performance.now() stood still, the wall clock did not.
    assert_eq!(
        c.observe(600.0, 1e12 - 3_600_000.0 + 100.0 + 600_000.0),
        600_600
    );
    // Garbage readings never move it backwards.
    assert_eq!(c.observe(f64::NAN, f64::NAN), 600_600);
}

#[test]
fn requests_without_a_response_or_without_a_token_are_timeouts_when_the_timeout_fired() {
    use silent_refresh::core::client::classify::login_error;
    assert_eq!(Failure::no_response(true), Failure::Timeout);
    assert_eq!(Failure::no_response(false), Failure::Network);
    assert_eq!(Failure::no_token(true), Failure::Timeout);
    assert_eq!(Failure::no_token(false), Failure::BadResponse);
    assert_eq!(
        login_error(401, Some("invalid_credentials".into()), None, false),
        (ErrorCode::InvalidCredentials, Some(401), None)
    );
    assert_eq!(
        login_error(
            503,
            Some("temporarily_unavailable".into()),
            Some(5_000),
            false
        ),
        (ErrorCode::Server, Some(503), None)
    );
    assert_eq!(
        login_error(200, None, None, false),
        (ErrorCode::BadResponse, None, None)
    );
    assert_eq!(
        login_error(204, None, None, true),
        (ErrorCode::Timeout, None, None)
    );
}

#[test]
fn a_throttled_login_is_too_many_attempts_with_the_servers_wait_however_long() {
    use silent_refresh::core::client::classify::{login_error, parse_retry_after, retry_after_ms};
    let throttled = |header| {
        let wait = Some(header).and_then(retry_after_ms);
        login_error(429, Some("too_many_attempts".into()), wait, false)
    };
    // The login throttle's longest lockout, 15 minutes: reported as it is (a refresh's backoff
    // caps Retry-After at 10 minutes).
    assert_eq!(
        throttled("900"),
        (ErrorCode::TooManyAttempts, Some(429), Some(900_000))
    );
    assert_eq!(parse_retry_after("900"), Some(600_000));
    assert_eq!(
        throttled(" 1 "),
        (ErrorCode::TooManyAttempts, Some(429), Some(1_000))
    );
    // No usable Retry-After (an HTTP-date, garbage): no wait to report.
    for header in ["Wed, 21 Oct 2026 07:28:00 GMT", "-1", "", "12345678901"] {
        assert_eq!(
            throttled(header),
            (ErrorCode::TooManyAttempts, Some(429), None),
            "{header:?}"
        );
    }
    // Any 429 at login, whatever its body says.
    assert_eq!(
        login_error(429, None, None, false),
        (ErrorCode::TooManyAttempts, Some(429), None)
    );
    assert_eq!(ErrorCode::TooManyAttempts.code(), "ERR_TOO_MANY_ATTEMPTS");
}

#[test]
fn only_cookie_transport_believes_the_session_hint() {
    use silent_refresh::core::client::Transport;
    assert!(Transport::Cookie.believes_session_hint());
    assert!(!Transport::Body.believes_session_hint());
}
