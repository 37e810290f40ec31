//! Native tests of the client state machine with fixed clocks: proactive refresh, single-flight,
//! replay after 401, backoff under failure, session end, discarding late results, the circuit
//! breaker, wake-ups, the cross-tab lock re-check and `restore()`.

use silent_refresh::core::client::engine::same_subject;
use silent_refresh::core::client::{
    Begin, ClientConfig, Engine, ErrorCode, Failure, Finished, LockCheck, Outcome, Secret, Step,
    Ticket,
};

const MIN: u64 = 60_000;

fn secret(s: &str) -> Secret {
    Secret::new(s.to_owned())
}

fn ok(token: &str, lifetime_ms: u64) -> Outcome {
    Outcome::Success {
        access: secret(token),
        lifetime_ms: Some(lifetime_ms),
    }
}

fn fail(status: u16, error: Option<&str>, retry_after_ms: Option<u64>) -> Outcome {
    Outcome::Failure(Failure::Http {
        status,
        error: error.map(str::to_owned),
        retry_after_ms,
    })
}

fn engine() -> Engine {
    Engine::new(ClientConfig::default())
}

/// A session with a 15-minute token received at t = 1 s.
fn signed_in() -> Engine {
    let mut e = engine();
    e.start_session(secret("a1"), Some(15 * MIN), 1_000);
    e
}

/// The ticket handed back by a lock re-check that lets the refresh proceed.
pub(crate) fn proceed(check: LockCheck) -> Ticket {
    match check {
        LockCheck::Proceed(t) => t,
        other => panic!("expected Proceed, got {other:?}"),
    }
}

/// The ticket of a step that starts a refresh.
pub(crate) fn start(step: Step) -> Ticket {
    match step {
        Step::Start(t) => t,
        other => panic!("expected Start, got {other:?}"),
    }
}

/// Runs a refresh the way the adapter does: lock, send, finish.
fn run(e: &mut Engine, ticket: Ticket, now: u64, outcome: Outcome) -> Finished {
    let ticket = proceed(e.lock_acquired(ticket));
    e.sent(now);
    e.finish(ticket, outcome, now, 0.0)
}

#[test]
fn schedules_the_refresh_a_margin_before_expiry() {
    let mut e = signed_in();
    let refresh_at = 1_000 + 15 * MIN - 90_000;
    assert_eq!(e.deadline(), Some(refresh_at));
    assert_eq!(e.expires_at(), Some(1_000 + 15 * MIN));
    assert_eq!(
        e.timer(refresh_at - 1),
        Step::Proceed,
        "an early timer does nothing"
    );
    assert_eq!(e.before_send(refresh_at - 1), Step::Proceed);
    let t = start(e.timer(refresh_at));
    assert_eq!(e.deadline(), None, "no timer while a refresh is in flight");
    assert_eq!(
        run(&mut e, t, refresh_at + 40, ok("a2", 15 * MIN)),
        Finished::Refreshed
    );
    assert_eq!(
        e.access().map(|(s, g)| (s.expose().to_owned(), g)),
        Some(("a2".to_owned(), 2))
    );
    assert_eq!(e.deadline(), Some(refresh_at + 40 + 15 * MIN - 90_000));
    assert_eq!(e.refresh_count(), 1);
}

#[test]
fn a_short_token_with_the_default_margin_is_not_refreshed_in_a_loop() {
    let mut e = engine();
    e.start_session(secret("a1"), Some(MIN), 0);
    assert_eq!(e.deadline(), Some(30_000), "half the lifetime, not at once");
    assert_eq!(e.before_send(29_999), Step::Proceed);
}

#[test]
fn unknown_lifetime_means_no_timer_but_401_still_refreshes() {
    let mut e = engine();
    let g = e.start_session(secret("opaque"), None, 0);
    assert_eq!(e.deadline(), None);
    assert_eq!(e.before_send(10 * 60 * MIN), Step::Proceed);
    assert!(matches!(e.unauthorized(g, 10), Step::Start(_)));
}

#[test]
fn a_due_token_is_refreshed_before_sending_and_others_wait() {
    let mut e = signed_in();
    let due = e.deadline().unwrap() + 5;
    let t = start(e.before_send(due));
    for _ in 0..5 {
        assert_eq!(
            e.before_send(due + 1),
            Step::Await,
            "queued behind the one refresh"
        );
    }
    assert_eq!(
        run(&mut e, t, due + 10, ok("a2", 15 * MIN)),
        Finished::Refreshed
    );
    assert_eq!(e.before_send(due + 11), Step::Proceed);
    assert_eq!(e.refresh_count(), 1);
}

#[test]
fn send_due_tells_without_changing_anything_whether_before_send_has_work() {
    assert!(!engine().send_due(10 * MIN), "no token: nothing to do");
    let mut e = signed_in();
    let due = e.deadline().unwrap() + 5;
    assert!(!e.send_due(due - 10), "fresh");
    assert_eq!(e.before_send(due - 10), Step::Proceed);
    for _ in 0..3 {
        assert!(
            e.send_due(due),
            "due, asked again: still due, no refresh started"
        );
    }
    assert_eq!(e.refresh_count(), 0);
    let t = start(e.before_send(due));
    assert!(
        e.send_due(due + 1),
        "due while the refresh is in flight (before_send waits)"
    );
    assert_eq!(e.before_send(due + 1), Step::Await);
    run(&mut e, t, due + 10, ok("a2", 15 * MIN));
    assert!(!e.send_due(due + 11), "fresh again");
}

/// `fresh_for` is `send_due` ahead of time: for every state reached here and every instant in
/// the window it gives, `send_due` is false (and `before_send` has nothing to do), and at its end
/// `send_due` is true; no window while `send_due` is true, a retry is pending or no token is held.
#[test]
fn fresh_for_is_exactly_how_long_send_due_stays_false() {
    let check = |e: &Engine, now: u64, what: &str| match e.fresh_for(now) {
        Some(left) => {
            assert!(
                e.access().is_some() && !e.lazy_pending(),
                "{what}: a token, nothing pending"
            );
            for d in [0, left / 2, left - 1] {
                assert!(
                    !e.send_due(now.saturating_add(d)),
                    "{what}: fresh at +{d} of {left}"
                );
            }
            if left < u64::MAX / 2 {
                assert!(
                    e.send_due(now + left),
                    "{what}: due at the end of its window ({left})"
                );
            }
        }
        None => assert!(
            e.access().is_none() || e.send_due(now),
            "{what}: no window, yet nothing to do"
        ),
    };
    let mut e = engine();
    assert_eq!(e.fresh_for(0), None, "no token");
    check(&e, 0, "signed out");
    e.start_session(secret("a1"), Some(15 * MIN), 1_000);
    let due = e.deadline().unwrap();
    assert_eq!(
        e.fresh_for(1_000),
        Some(due - 1_000),
        "until the refresh is due"
    );
    for now in [1_000, 2_000, due - 1] {
        check(&e, now, "fresh");
    }
    assert_eq!(e.fresh_for(due), None, "due");
    check(&e, due, "due");
    // A refresh in flight while the token is fresh: calls go on with it meanwhile.
    let t = match e.manual(2_000) {
        Begin::Start(t) => t,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        e.fresh_for(2_001),
        Some(due - 2_001),
        "in flight, still fresh"
    );
    // A failed refresh: a retry is pending, so each call asks (and waits for the retry).
    let failed = run(&mut e, t, 2_003, fail(503, None, Some(5_000)));
    assert!(matches!(failed, Finished::Retry { .. }), "{failed:?}");
    assert_eq!(e.fresh_for(2_004), None, "a retry pending");
    check(&e, 2_004, "retry pending");
    // A token of unknown lifetime: fresh until something else happens.
    let mut opaque = engine();
    opaque.start_session(secret("opaque"), None, 0);
    assert_eq!(opaque.fresh_for(10 * MIN), Some(u64::MAX), "no deadline");
    check(&opaque, 10 * MIN, "opaque");
    // Signed out again: nothing.
    opaque.sign_out();
    assert_eq!(opaque.fresh_for(10 * MIN), None, "signed out");
}

#[test]
fn a_refresh_in_flight_does_not_hold_back_calls_while_the_token_is_fresh() {
    let mut e = signed_in();
    let _t = match e.manual(2_000) {
        Begin::Start(t) => t,
        other => panic!("{other:?}"),
    };
    assert_eq!(e.before_send(2_001), Step::Proceed);
    assert_eq!(e.manual(2_002), Begin::Join);
}

#[test]
fn concurrent_401s_cause_one_refresh_then_every_call_replays() {
    let mut e = signed_in();
    let (_, g) = e.access().map(|(s, g)| (s.clone(), g)).unwrap();
    let t = start(e.unauthorized(g, 5_000));
    for _ in 0..9 {
        assert_eq!(e.unauthorized(g, 5_001), Step::Await);
    }
    assert_eq!(
        run(&mut e, t, 5_050, ok("a2", 15 * MIN)),
        Finished::Refreshed
    );
    for _ in 0..10 {
        assert_eq!(e.unauthorized(g, 5_060), Step::Replay);
    }
    assert_eq!(e.refresh_count(), 1);
}

#[test]
fn a_401_for_an_older_token_is_replayed_without_refreshing() {
    let mut e = signed_in();
    let old = e.generation();
    let t = start(e.unauthorized(old, 5_000));
    run(&mut e, t, 5_010, ok("a2", 15 * MIN));
    // A request sent with the old token before the refresh comes back 401 later.
    assert_eq!(e.unauthorized(old, 6_000), Step::Replay);
    assert_eq!(e.refresh_count(), 1);
}

#[test]
fn invalid_grant_or_401_from_the_refresh_endpoint_ends_the_session() {
    for outcome in [
        fail(400, Some("invalid_grant"), None),
        // A lost DPoP key (no proof sent) or proofs refused for good: the end, never a loop.
        fail(400, Some("invalid_dpop_proof"), None),
        fail(401, None, None),
    ] {
        let mut e = signed_in();
        let t = start(e.unauthorized(e.generation(), 5_000));
        assert_eq!(run(&mut e, t, 5_010, outcome), Finished::Expired);
        assert!(!e.signed_in());
        assert_eq!(e.deadline(), None);
        assert_eq!(e.before_send(6_000), Step::Proceed);
        assert_eq!(e.manual(6_000), Begin::Refused(ErrorCode::NotSignedIn));
    }
}

#[test]
fn transient_failures_keep_the_session_and_back_off() {
    let mut e = signed_in();
    let g = e.generation();
    let t = start(e.unauthorized(g, 10_000));
    let r = run(&mut e, t, 10_000, Outcome::Failure(Failure::Network));
    assert_eq!(
        r,
        Finished::Retry {
            code: ErrorCode::Network,
            delay_ms: 500
        }
    );
    assert!(e.signed_in());
    assert_eq!(e.deadline(), Some(10_500));
    // During the backoff nobody starts a refresh: calls go out, 401s go back to the caller.
    assert_eq!(
        e.unauthorized(g, 10_100),
        Step::Refused {
            code: ErrorCode::Server,
            report: false
        }
    );
    assert_eq!(
        e.before_send(10_100),
        Step::Refused {
            code: ErrorCode::Server,
            report: false
        }
    );
    assert_eq!(e.timer(10_499), Step::Proceed);
    // The retry: a 503 with Retry-After 5 s, then a timeout (the delay doubles), then success.
    let t = start(e.timer(10_500));
    let r = run(
        &mut e,
        t,
        10_500,
        fail(503, Some("temporarily_unavailable"), Some(5_000)),
    );
    assert_eq!(
        r,
        Finished::Retry {
            code: ErrorCode::Server,
            delay_ms: 5_000
        }
    );
    let t = start(e.timer(15_500));
    let r = run(&mut e, t, 15_500, Outcome::Failure(Failure::Timeout));
    assert_eq!(
        r,
        Finished::Retry {
            code: ErrorCode::Timeout,
            delay_ms: 2_000
        }
    );
    let t = start(e.before_send(17_500));
    assert_eq!(
        run(&mut e, t, 17_500, ok("a2", 15 * MIN)),
        Finished::Refreshed
    );
    assert_eq!(
        e.deadline(),
        Some(17_500 + 15 * MIN - 90_000),
        "backoff over"
    );
}

#[test]
fn a_rejected_refresh_is_retried_at_the_slowest_pace() {
    let mut e = signed_in();
    let t = start(e.unauthorized(e.generation(), 0));
    let r = run(&mut e, t, 0, fail(403, Some("forbidden_origin"), None));
    assert_eq!(
        r,
        Finished::Retry {
            code: ErrorCode::Rejected,
            delay_ms: MIN
        }
    );
    assert!(e.signed_in());
}

#[test]
fn an_outage_of_several_minutes_keeps_the_session_without_a_storm() {
    let mut e = signed_in();
    let mut now = e.deadline().unwrap();
    let outage_end = now + 5 * MIN;
    let faults = [
        Outcome::Failure(Failure::Network),
        Outcome::Failure(Failure::Timeout),
        fail(500, None, None),
        fail(503, Some("temporarily_unavailable"), Some(0)),
    ];
    let mut sends = Vec::new();
    let mut i = 0;
    loop {
        // Besides the timer, the app makes a call every 100 ms that comes back 401.
        let step = e.unauthorized(e.generation(), now);
        let step = if let Step::Start(_) = step {
            step
        } else {
            e.timer(now)
        };
        if let Step::Start(t) = step {
            sends.push(now);
            if now >= outage_end {
                assert_eq!(
                    run(&mut e, t, now, ok("fresh", 15 * MIN)),
                    Finished::Refreshed
                );
                break;
            }
            let outcome = faults[i % faults.len()].clone();
            i += 1;
            assert!(matches!(
                run(&mut e, t, now, outcome),
                Finished::Retry { .. }
            ));
        }
        assert!(e.signed_in(), "the session survives the outage");
        now += 100;
    }
    // Never more than 8 in any minute (1 + 0.5 + 1 + 2 + ... s); once the backoff reaches its
    // cap (after about two minutes), at most 2 a minute (30 to 60 s apart).
    let first = sends[0];
    for (k, &t) in sends.iter().enumerate() {
        let in_minute = sends[k..].iter().take_while(|&&u| u < t + MIN).count();
        let bound = if t >= first + 2 * MIN { 2 } else { 8 };
        assert!(
            in_minute <= bound,
            "{in_minute} refreshes in the minute from {t}: {sends:?}"
        );
    }
    assert!(now - outage_end <= MIN, "recovered within the backoff cap");
}

#[test]
fn the_circuit_breaker_stops_a_server_that_rejects_every_fresh_token() {
    let mut e = signed_in();
    let mut now = 10_000;
    let mut started = 0;
    let mut reports = 0;
    for _ in 0..100 {
        match e.unauthorized(e.generation(), now) {
            Step::Start(t) => {
                started += 1;
                run(&mut e, t, now, ok("again", 15 * MIN));
            }
            Step::Refused { code, report } => {
                assert_eq!(code, ErrorCode::RefreshLimit);
                reports += usize::from(report);
            }
            other => panic!("{other:?}"),
        }
        now += 100;
    }
    assert_eq!(started, 10);
    assert_eq!(reports, 1, "reported once per opening");
    assert_eq!(e.manual(now), Begin::Refused(ErrorCode::RefreshLimit));
    assert!(
        matches!(e.unauthorized(e.generation(), 10_000 + MIN), Step::Start(_)),
        "allowed again once the window frees"
    );
}

#[test]
fn a_result_arriving_after_logout_is_discarded() {
    let mut e = signed_in();
    let t = start(e.unauthorized(e.generation(), 5_000));
    e.sent(5_000);
    assert!(e.sign_out());
    assert_eq!(
        e.finish(t, ok("late", 15 * MIN), 5_100, 0.0),
        Finished::Discarded
    );
    assert!(!e.signed_in());
    // A ticket voided by logout before its lock was granted: no request.
    let mut e = signed_in();
    let t = start(e.unauthorized(e.generation(), 5_000));
    assert!(e.sign_out());
    assert_eq!(e.lock_acquired(t), LockCheck::Stale);
    assert!(!e.refreshing());
    // Also after logout and a new login in between.
    let t2 = match e.restore(6_000) {
        Begin::Start(t) => t,
        other => panic!("{other:?}"),
    };
    e.start_session(secret("b1"), Some(15 * MIN), 6_100);
    assert_eq!(
        e.finish(t2, ok("late", 15 * MIN), 6_200, 0.0),
        Finished::Discarded
    );
    assert_eq!(e.access().unwrap().0.expose(), "b1");
}

#[test]
fn wake_up_refreshes_a_token_the_throttled_timer_missed() {
    let mut e = signed_in();
    let due = e.deadline().unwrap();
    assert_eq!(e.wake(due - 1, false), Step::Proceed, "still fresh");
    let t = start(e.wake(due + 3 * MIN, false));
    assert_eq!(
        e.before_send(due + 3 * MIN),
        Step::Await,
        "queued calls wait for it"
    );
    run(&mut e, t, due + 3 * MIN, ok("a2", 15 * MIN));
    // An expired token too.
    let mut e = signed_in();
    assert!(matches!(e.wake(60 * MIN, false), Step::Start(_)));
}

#[test]
fn coming_online_ends_the_backoff() {
    let mut e = signed_in();
    let t = start(e.unauthorized(e.generation(), 0));
    run(&mut e, t, 0, fail(503, None, Some(120_000)));
    assert!(matches!(e.wake(1_000, false), Step::Refused { .. }));
    assert!(matches!(e.wake(1_000, true), Step::Start(_)));
}

#[test]
fn a_logout_message_never_signs_a_signed_out_tab_in() {
    let mut e = engine();
    assert_eq!(e.logout_hint(1_000), Step::Proceed);
    assert!(!e.signed_in());
    assert!(!e.refreshing());
    assert_eq!(e.refresh_count(), 0);
}

#[test]
fn a_logout_message_is_checked_by_one_refresh_that_keeps_a_live_session() {
    let mut e = signed_in();
    // Not taken on trust: the tab refreshes (under the lock, after reading the shared storage).
    let t = start(e.logout_hint(2_000));
    assert!(e.signed_in(), "nothing ends before the check");
    // More messages while the check runs join it: one request, whatever a page posts.
    assert_eq!(e.logout_hint(2_001), Step::Await);
    assert_eq!(e.logout_hint(2_002), Step::Await);
    assert_eq!(
        run(&mut e, t, 2_100, ok("a2", 15 * MIN)),
        Finished::Refreshed
    );
    assert!(e.signed_in(), "a forged logout changes no session");
    assert_eq!(e.refresh_count(), 1);
}

#[test]
fn a_logout_message_ends_the_session_when_the_check_finds_it_over() {
    // The server says so.
    let mut e = signed_in();
    let t = start(e.logout_hint(2_000));
    assert_eq!(
        run(&mut e, t, 2_100, fail(400, Some("invalid_grant"), None)),
        Finished::Expired
    );
    assert!(!e.signed_in());
    // The shared storage holds no refresh token (the other tab removed it): no request.
    let mut e = signed_in();
    let t = start(e.logout_hint(2_000));
    let t = proceed(e.lock_acquired(t));
    assert_eq!(e.no_refresh_token(t), Finished::Expired);
    assert!(!e.signed_in());
    assert_eq!(e.refresh_count(), 0);
}

#[test]
fn logout_messages_cannot_exceed_the_circuit_breaker() {
    let mut e = signed_in();
    let mut sent = 0;
    for i in 0..50 {
        if let Step::Start(t) = e.logout_hint(2_000 + i) {
            run(&mut e, t, 2_000 + i, ok("a", 15 * MIN));
            sent += 1;
        }
    }
    assert_eq!(sent, e.config().max_refreshes_per_minute);
    assert!(e.signed_in());
}

#[test]
fn restore_finds_a_session_or_none() {
    let mut e = engine();
    let t = match e.restore(0) {
        Begin::Start(t) => t,
        other => panic!("{other:?}"),
    };
    assert_eq!(e.restore(1), Begin::Join);
    assert_eq!(run(&mut e, t, 10, ok("r1", 15 * MIN)), Finished::Restored);
    assert!(e.signed_in());

    let mut e = engine();
    let Begin::Start(t) = e.restore(0) else {
        panic!()
    };
    assert_eq!(
        run(&mut e, t, 10, fail(400, Some("invalid_grant"), None)),
        Finished::NoSession
    );
    // No cookie at all: the server answers 400 invalid_request; still "no session", not an error.
    let Begin::Start(t) = e.restore(12) else {
        panic!()
    };
    assert_eq!(
        run(&mut e, t, 14, fail(400, Some("invalid_request"), None)),
        Finished::NoSession
    );
    let Begin::Start(t) = e.restore(20) else {
        panic!()
    };
    assert_eq!(
        run(&mut e, t, 30, Outcome::Failure(Failure::Network)),
        Finished::Failed(ErrorCode::Network)
    );
    assert!(!e.signed_in());
    assert_eq!(e.deadline(), None, "nothing scheduled without a session");
}

#[test]
fn manual_refresh_ignores_backoff_but_not_the_breaker() {
    let mut e = signed_in();
    let t = start(e.unauthorized(e.generation(), 0));
    run(&mut e, t, 0, fail(500, None, None));
    assert!(matches!(e.manual(10), Begin::Start(_)));
}

#[test]
fn abandon_releases_the_flight() {
    let mut e = signed_in();
    let t = start(e.unauthorized(e.generation(), 0));
    e.abandon(t);
    assert!(!e.refreshing());
    assert!(matches!(e.unauthorized(e.generation(), 1), Step::Start(_)));
}

#[test]
fn a_401_is_replayed_only_with_a_newer_token() {
    use silent_refresh::core::client::engine::replays;
    assert!(replays(2, 1), "a newer token");
    assert!(!replays(1, 1), "the refused token itself: no replay");
    assert!(!replays(0, 1), "no token at all");
    let mut e = signed_in();
    assert!(!e.replays(1));
    e.start_session(secret("b"), Some(15 * MIN), 2_000);
    assert!(e.replays(1));
    e.sign_out();
    assert!(!e.replays(1));
}

#[test]
fn no_refresh_token_ends_the_session_or_finds_none() {
    let mut e = signed_in();
    let t = start(e.unauthorized(e.generation(), 5_000));
    assert_eq!(e.no_refresh_token(t), Finished::Expired);
    assert!(!e.signed_in());
    assert!(!e.refreshing());
    let Begin::Start(t) = e.restore(6_000) else {
        panic!()
    };
    // The ticket is spent: it cannot be handed in twice (it is neither Copy nor Clone).
    assert_eq!(e.no_refresh_token(t), Finished::NoSession);
    assert!(!e.refreshing());
}

/// A token from another tab for subject `sub`, valid for `lifetime_ms` from `now`; this tab's
/// subject is alice.
fn offer(e: &mut Engine, token: &str, sub: &str, lifetime_ms: u64, now: u64) -> Option<u32> {
    e.adopt(
        secret(token),
        Some(&sub),
        Some(&"alice"),
        Some(lifetime_ms),
        now,
    )
}

#[test]
fn subjects_match_only_when_both_tokens_name_the_same_one() {
    assert!(same_subject(Some(&"alice"), Some(&"alice")));
    assert!(!same_subject(Some(&"alice"), Some(&"mallory")));
    assert!(!same_subject(Some(&"alice"), None));
    assert!(!same_subject(None, Some(&"alice")));
    assert!(
        !same_subject::<&str>(None, None),
        "no subject on either side is no match"
    );
}

#[test]
fn after_the_lock_a_token_from_another_tab_makes_the_request_unnecessary() {
    let mut e = signed_in();
    let due = e.deadline().unwrap();
    let t = start(e.timer(due));
    // While waiting for the lock, the other tab's refresh result arrives over the channel.
    assert!(offer(&mut e, "from-tab", "alice", 15 * MIN, due + 30).is_some());
    assert_eq!(e.lock_acquired(t), LockCheck::Fresh);
    assert_eq!(e.refresh_count(), 0);
    assert!(!e.refreshing());
    assert_eq!(e.access().unwrap().0.expose(), "from-tab");
    // Without such a token, the tab that waited refreshes (with the stored refresh token).
    let due = e.deadline().unwrap();
    let t = start(e.timer(due));
    let t = proceed(e.lock_acquired(t));
    e.sent(due + 10);
    assert_eq!(
        e.finish(t, ok("a2", 15 * MIN), due + 50, 0.0),
        Finished::Refreshed
    );
}

#[test]
fn a_token_is_adopted_only_by_a_signed_in_tab_of_its_subject_if_it_outlives_ours() {
    let mut e = signed_in();
    // Another subject (a forged or foreign token): ignored, whatever it promises.
    assert_eq!(offer(&mut e, "foreign", "mallory", 15 * MIN, 2_000), None);
    // Malformed: no lifetime, or none left; no subject.
    let alice = Some(&"alice");
    assert_eq!(e.adopt(secret("t"), alice, alice, None, 2_000), None);
    assert_eq!(offer(&mut e, "dead", "alice", 0, 2_000), None);
    assert_eq!(
        e.adopt(secret("t"), None, alice, Some(15 * MIN), 2_000),
        None
    );
    // Not newer than ours (ours expires at 1 s + 15 min).
    assert_eq!(offer(&mut e, "older", "alice", 10 * MIN, 2_000), None);
    assert_eq!(
        offer(&mut e, "a1", "alice", 15 * MIN, 9_000),
        None,
        "same token"
    );
    assert_eq!(e.access().unwrap().0.expose(), "a1", "nothing changed");
    // A newer token of the same subject.
    assert!(offer(&mut e, "newer", "alice", 15 * MIN, 2_000).is_some());
    assert_eq!(e.access().unwrap().0.expose(), "newer");
    assert_eq!(
        e.deadline(),
        Some(2_000 + 15 * MIN - 90_000),
        "refresh time and margin from the lifetime, from now"
    );
    // A signed-out tab adopts nothing: a message never signs a tab in.
    let mut e = engine();
    assert_eq!(offer(&mut e, "t", "alice", 15 * MIN, 0), None);
    assert!(!e.signed_in());
}

#[test]
fn adopting_a_token_ends_the_backoff() {
    let mut e = signed_in();
    let Begin::Start(t) = e.manual(2_000) else {
        panic!("a refresh")
    };
    assert!(matches!(
        run(&mut e, t, 2_000, fail(503, None, None)),
        Finished::Retry { .. }
    ));
    assert!(e.send_due(2_100), "backing off: requests ask the engine");
    assert!(offer(&mut e, "from-tab", "alice", 15 * MIN, 2_100).is_some());
    assert!(!e.send_due(2_100), "the adopted token is fresh");
}

#[test]
fn a_failure_superseded_by_another_tabs_token_is_ignored() {
    let mut e = signed_in();
    let t = start(e.unauthorized(e.generation(), 0));
    let t = proceed(e.lock_acquired(t));
    e.sent(0);
    assert!(offer(&mut e, "from-tab", "alice", 15 * MIN, 2_000).is_some());
    assert_eq!(
        e.finish(t, fail(400, Some("invalid_grant"), None), 2_010, 0.0),
        Finished::Discarded
    );
    assert!(e.signed_in());
}

#[test]
fn lazy_restore_asks_once_per_page() {
    let mut e = engine();
    assert!(e.lazy_pending());
    let t = start(e.lazy_restore(0, true));
    assert!(!e.lazy_pending(), "asked once");
    assert_eq!(e.lazy_restore(1, true), Step::Proceed, "later calls go on");
    assert_eq!(run(&mut e, t, 10, ok("r1", 15 * MIN)), Finished::Restored);
    assert!(e.signed_in());

    // No session: the request goes out without a token, and the next does not ask again.
    let mut e = engine();
    let t = start(e.lazy_restore(0, true));
    assert_eq!(
        run(&mut e, t, 10, fail(400, Some("invalid_grant"), None)),
        Finished::NoSession
    );
    assert_eq!(e.lazy_restore(11, true), Step::Proceed);
    assert_eq!(e.lazy_restore(12, true), Step::Proceed);
    assert!(!e.signed_in());
}

#[test]
fn lazy_restore_not_possible_costs_no_request() {
    // Body mode, or the server's hint says the session is over: no request, and no second ask.
    let mut e = engine();
    assert_eq!(e.lazy_restore(0, false), Step::Proceed);
    assert!(!e.lazy_pending());
    assert_eq!(e.lazy_restore(1, true), Step::Proceed);
    assert!(
        matches!(e.restore(2), Begin::Start(_)),
        "nothing was in flight"
    );
}

#[test]
fn explicit_restore_sign_in_and_sign_out_end_the_lazy_restore() {
    let mut e = engine();
    let Begin::Start(t) = e.restore(0) else {
        panic!()
    };
    assert!(!e.lazy_pending(), "restore() was asked for");
    assert_eq!(
        run(&mut e, t, 10, fail(400, Some("invalid_grant"), None)),
        Finished::NoSession
    );
    assert_eq!(e.lazy_restore(11, true), Step::Proceed);

    let mut e = signed_in();
    assert!(!e.lazy_pending(), "signed in");
    e.sign_out();
    assert!(
        !e.lazy_pending(),
        "a session that ended is not restored behind the page's back"
    );
    assert_eq!(e.lazy_restore(2_000, true), Step::Proceed);
}

#[test]
fn a_tab_message_lets_a_signed_out_tab_try_its_own_cookie_again() {
    let mut e = signed_in();
    e.sign_out();
    e.session_hint();
    assert!(e.lazy_pending());
    let t = start(e.lazy_restore(2_000, true));
    // Hearing more messages while that restore flies joins it: one request.
    e.session_hint();
    assert_eq!(e.lazy_restore(2_001, true), Step::Await);
    assert_eq!(
        run(&mut e, t, 2_010, ok("r2", 15 * MIN)),
        Finished::Restored
    );
    // Signed in: a message no longer re-arms anything.
    e.session_hint();
    assert!(!e.lazy_pending());
    assert_eq!(e.lazy_restore(2_020, true), Step::Proceed);

    // A failed restore: one request per message at most, never a loop.
    let mut e = signed_in();
    e.sign_out();
    e.session_hint();
    let t = start(e.lazy_restore(3_000, true));
    assert_eq!(
        run(&mut e, t, 3_010, fail(401, None, None)),
        Finished::NoSession
    );
    assert_eq!(e.lazy_restore(3_011, true), Step::Proceed);
}
