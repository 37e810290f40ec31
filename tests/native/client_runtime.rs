//! The shipped runtime (`src/browser/runtime`, what the package runs), driven natively through
//! the recording fake host of `client_fake`: requests are answered, timers fired and tab
//! messages delivered (or held back) when and in the order each test says.

use std::rc::Rc;

use crate::client_fake::{jwt, tokens, PromiseState, Tab, Val, World};
use silent_refresh::core::client::interface::Method;
use silent_refresh::core::client::{ClientConfig, Transport};

const LOGIN: u32 = 0;
const REFRESH: u32 = 1;
const LOGOUT: u32 = 2;
/// A token's lifetime in the tests: 600 s, so the default margin is 60 s.
const LIFE: u64 = 600;
const DUE_MS: f64 = 540_000.0;

fn call(tab: &Tab, method: Method, a: Val, b: Val) -> Val {
    tab.call(method as u32, a, b)
}

fn signed_in(tab: &Tab) -> bool {
    call(tab, Method::SignedIn, Val::Undef, Val::Undef) == Val::Bool(true)
}

fn refresh_count(tab: &Tab) -> f64 {
    match call(tab, Method::RefreshCount, Val::Undef, Val::Undef) {
        Val::Num(n) => n,
        v => panic!("refreshCount {v:?}"),
    }
}

/// Signs `tab` in with a token of `sub` (and refresh token `rt` in body mode).
fn login(w: &Rc<World>, tab: &Tab, sub: &str, rt: Option<&str>) -> Val {
    let p = call(tab, Method::Login, Val::s("user"), Val::s("pw"));
    w.answer(LOGIN, 200, tokens(&jwt(sub, 0, LIFE), LIFE, rt));
    assert_eq!(
        w.state(&p),
        PromiseState::Resolved(Val::Undef),
        "login resolves"
    );
    p
}

fn fetch(tab: &Tab, url: &str) -> Val {
    call(tab, Method::Fetch, Val::s(url), Val::Undef)
}

fn events(w: &World, tab: usize, kind: &str) -> Vec<(Val, Val)> {
    w.events_of(tab)
        .into_iter()
        .filter(|e| e.0 == kind)
        .map(|e| (e.1, e.2))
        .collect()
}

fn rejected_code(w: &World, p: &Val) -> Option<String> {
    match w.state(p) {
        PromiseState::Rejected(e) => e.code(),
        s => panic!("not rejected: {s:?}"),
    }
}

fn status_of(w: &World, p: &Val) -> f64 {
    match w.state(p) {
        PromiseState::Resolved(r) => match r.get("status") {
            Val::Num(n) => n,
            v => panic!("no status: {v:?}"),
        },
        s => panic!("not resolved: {s:?}"),
    }
}

#[test]
fn the_timer_refreshes_at_the_margin_and_not_before() {
    let w = World::new();
    let tab = w.tab(Transport::Cookie);
    login(&w, &tab, "alice", None);
    w.advance(DUE_MS - 1.0);
    assert!(w.posts_to(REFRESH).is_empty(), "nothing before the margin");
    w.advance(1.0);
    assert_eq!(
        w.posts_to(REFRESH).len(),
        1,
        "the timer's refresh at expiry - 60 s"
    );
    w.answer(
        REFRESH,
        200,
        tokens(&jwt("alice", 540, 540 + LIFE), LIFE, None),
    );
    let refreshes = events(&w, 0, "refresh");
    assert_eq!(refreshes.len(), 1);
    assert_eq!(refreshes[0].0, Val::Num(0.0), "source network");
    assert_eq!(refresh_count(&tab), 1.0);
    // The next one is armed a lifetime later.
    w.advance(DUE_MS - 1.0);
    assert_eq!(w.posts_to(REFRESH).len(), 1);
    w.advance(1.0);
    assert_eq!(w.posts_to(REFRESH).len(), 2);
}

#[test]
fn fetches_while_a_refresh_is_due_share_one_refresh_and_carry_the_new_token() {
    let w = World::new();
    let tab = w.tab_with(Transport::Cookie, false, ClientConfig::DEFAULT);
    login(&w, &tab, "alice", None);
    // Frozen timers: the token is due, the timer has not fired.
    w.mono.set(w.mono.get() + DUE_MS + 1.0);
    let a = fetch(&tab, "/api/a");
    let b = fetch(&tab, "/api/b");
    w.run();
    assert_eq!(w.posts_to(REFRESH).len(), 1, "single flight");
    assert!(
        w.sent.borrow().is_empty(),
        "no request goes out with the due token"
    );
    let new = jwt("alice", 540, 540 + LIFE);
    w.answer(REFRESH, 200, tokens(&new, LIFE, None));
    let sent = w.sent.borrow().clone();
    assert_eq!(sent.len(), 2);
    assert!(
        sent.iter().all(|s| s.access == Val::s(&new)),
        "both carry the new token"
    );
    w.answer_fetch(200);
    w.answer_fetch(200);
    assert_eq!(status_of(&w, &a), 200.0);
    assert_eq!(status_of(&w, &b), 200.0);
}

/// The window `auth.fetch` hands the host with each request (glue.js repeats the call without
/// wasm while both clocks are within it: client.js): one ms less than the engine's, and none
/// when the request was handed back, went out without a token, or a retry is pending; and at the
/// end of it, by either clock, the runtime itself no longer sends the token as it is.
#[test]
fn fetch_hands_the_host_the_window_in_which_the_token_goes_out_as_it_is() {
    let last = |w: &World| w.windows.borrow().last().unwrap().1;
    let world = || {
        let w = World::new();
        let tab = w.tab_with(Transport::Cookie, false, ClientConfig::DEFAULT);
        // The session hint says there is no session: signed out, a request goes out as it is.
        w.hint_over.set(true);
        fetch(&tab, "/api/out");
        assert_eq!(last(&w), 0, "signed out: no window");
        w.hint_over.set(false);
        login(&w, &tab, "alice", None);
        fetch(&tab, "/api/a");
        assert_eq!(
            last(&w),
            DUE_MS as u32 - 1,
            "fresh: until the refresh is due, less a ms"
        );
        (w, tab)
    };
    // Timers frozen: the monotonic clock to just before the window's end, then past it.
    let (w, tab) = world();
    w.mono.set(w.mono.get() + DUE_MS - 1.5);
    fetch(&tab, "/api/b");
    assert_eq!(
        w.sent.borrow().len(),
        3,
        "still sent at once with the token"
    );
    assert!(w.posts_to(REFRESH).is_empty(), "no refresh");
    assert!(last(&w) <= 1, "a window of at most a ms left: {}", last(&w));
    w.mono.set(w.mono.get() + 1.5);
    fetch(&tab, "/api/c");
    w.run();
    assert_eq!(last(&w), 0, "due: no window");
    assert_eq!(w.sent.borrow().len(), 3, "handed back, not sent");
    assert_eq!(w.posts_to(REFRESH).len(), 1, "the refresh first");
    // A failed refresh: a retry pending, no window.
    w.fail(REFRESH);
    fetch(&tab, "/api/d");
    assert_eq!(last(&w), 0, "a retry pending: no window");
    // The wall clock alone past the window's end (a machine that slept while performance.now()
    // stood still): due, as the host's check of Date.now() says.
    let (w, tab) = world();
    w.wall.set(w.wall.get() + DUE_MS);
    fetch(&tab, "/api/c");
    w.run();
    assert_eq!(last(&w), 0, "due by the wall clock: no window");
    assert_eq!(w.sent.borrow().len(), 2, "handed back, not sent");
    assert_eq!(w.posts_to(REFRESH).len(), 1, "the refresh first");
}

#[test]
fn a_401_refreshes_once_and_replays_once() {
    let w = World::new();
    let tab = w.tab(Transport::Cookie);
    login(&w, &tab, "alice", None);
    let p = fetch(&tab, "/api/me");
    w.run();
    w.answer_fetch(401);
    assert_eq!(w.posts_to(REFRESH).len(), 1, "the 401 refreshes");
    let new = jwt("alice", 1, 1 + LIFE);
    w.answer(REFRESH, 200, tokens(&new, LIFE, None));
    let replay = w.sent.borrow()[1].clone();
    assert_eq!(replay.access, Val::s(&new), "replayed with the new token");
    assert_eq!(
        replay.generation, 0,
        "a 401 to the replay is not handed back"
    );
    w.answer_fetch(401);
    assert_eq!(
        status_of(&w, &p),
        401.0,
        "the replay's 401 goes to the caller"
    );
    assert_eq!(w.posts_to(REFRESH).len(), 1, "no second refresh");
    assert!(signed_in(&tab), "a resource's 401 does not end the session");
}

#[test]
fn an_unmanaged_request_goes_out_as_it_is() {
    let w = World::new();
    let tab = w.tab(Transport::Cookie);
    login(&w, &tab, "alice", None);
    fetch(&tab, "https://elsewhere.example/x");
    let sent = w.sent.borrow()[0].clone();
    assert_eq!(sent.access, Val::Undef);
    assert_eq!(sent.generation, 0);
}

#[test]
fn a_failed_refresh_is_retried_with_backoff_and_reported() {
    let w = World::new();
    let tab = w.tab(Transport::Cookie);
    login(&w, &tab, "alice", None);
    w.advance(DUE_MS);
    w.fail(REFRESH);
    let errors = events(&w, 0, "error");
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].0.code().as_deref(), Some("ERR_NETWORK"));
    let Val::Num(retry_in) = errors[0].1 else {
        panic!("retryIn")
    };
    assert!(
        (500.0..=1_500.0).contains(&retry_in),
        "about retryBaseDelay: {retry_in}"
    );
    assert!(signed_in(&tab), "a network failure keeps the session");
    w.advance(retry_in - 1.0);
    assert_eq!(w.posts_to(REFRESH).len(), 1, "not before the backoff");
    w.advance(1.0);
    assert_eq!(w.posts_to(REFRESH).len(), 2, "retried after it");
}

#[test]
fn a_refused_refresh_ends_the_session_with_its_status() {
    let w = World::new();
    let tab = w.tab(Transport::Cookie);
    login(&w, &tab, "alice", None);
    let p = call(&tab, Method::Refresh, Val::Undef, Val::Undef);
    w.run();
    w.answer(
        REFRESH,
        400,
        Val::obj(&[("error", Val::s("invalid_grant"))]),
    );
    let expired = events(&w, 0, "expired");
    assert_eq!(expired.len(), 1);
    let e = &expired[0].0;
    assert_eq!(e.code().as_deref(), Some("ERR_SESSION_EXPIRED"));
    assert_eq!(e.get("status"), Val::Num(400.0));
    assert_eq!(e.get("oauthError"), Val::s("invalid_grant"));
    assert!(!signed_in(&tab));
    assert_eq!(
        rejected_code(&w, &p).as_deref(),
        Some("ERR_SESSION_EXPIRED")
    );
}

#[test]
fn a_success_without_an_access_token_is_a_bad_response() {
    let w = World::new();
    let tab = w.tab(Transport::Cookie);
    login(&w, &tab, "alice", None);
    let p = call(&tab, Method::Refresh, Val::Undef, Val::Undef);
    w.run();
    w.answer(REFRESH, 200, Val::obj(&[("token", Val::s("x"))]));
    assert_eq!(rejected_code(&w, &p).as_deref(), Some("ERR_BAD_RESPONSE"));
    assert!(signed_in(&tab), "kept: retried later");
    let errors = events(&w, 0, "error");
    assert_eq!(errors[0].0.code().as_deref(), Some("ERR_BAD_RESPONSE"));
}

#[test]
fn logout_discards_the_refresh_in_flight() {
    let w = World::new();
    let tab = w.tab(Transport::Cookie);
    login(&w, &tab, "alice", None);
    w.advance(DUE_MS);
    assert_eq!(w.posts_to(REFRESH).len(), 1);
    let out = call(&tab, Method::Logout, Val::Undef, Val::Undef);
    assert!(!signed_in(&tab));
    w.answer(
        REFRESH,
        200,
        tokens(&jwt("alice", 540, 540 + LIFE), LIFE, None),
    );
    assert!(
        !signed_in(&tab),
        "a late answer does not sign the tab back in"
    );
    assert!(events(&w, 0, "refresh").is_empty());
    w.answer(LOGOUT, 204, Val::Null);
    assert_eq!(w.state(&out), PromiseState::Resolved(Val::Bool(true)));
    assert_eq!(events(&w, 0, "logout").len(), 1);
    assert_eq!(
        *w.dropped.borrow(),
        [(0, false)],
        "the key forgotten, removed after the logout request"
    );
}

#[test]
fn the_circuit_breaker_stops_refreshes_beyond_the_limit() {
    let w = World::new();
    let config = ClientConfig {
        max_refreshes_per_minute: 2,
        ..ClientConfig::DEFAULT
    };
    let tab = w.tab_with(Transport::Cookie, false, config);
    login(&w, &tab, "alice", None);
    for i in 0..2 {
        call(&tab, Method::Refresh, Val::Undef, Val::Undef);
        w.run();
        w.answer(REFRESH, 200, tokens(&jwt("alice", i, i + LIFE), LIFE, None));
    }
    let p = call(&tab, Method::Refresh, Val::Undef, Val::Undef);
    w.run();
    assert_eq!(rejected_code(&w, &p).as_deref(), Some("ERR_REFRESH_LIMIT"));
    assert_eq!(w.posts_to(REFRESH).len(), 2);
}

#[test]
fn waking_up_refreshes_a_due_token_at_once() {
    let w = World::new();
    let tab = w.tab(Transport::Cookie);
    login(&w, &tab, "alice", None);
    // The machine slept: the timer did not fire.
    w.mono.set(w.mono.get() + DUE_MS + 10.0);
    w.wall.set(w.wall.get() + DUE_MS + 10.0);
    w.dispatch(0, 1, Val::Bool(false));
    w.run();
    assert_eq!(w.posts_to(REFRESH).len(), 1);
}

#[test]
fn a_lifetime_beyond_the_timer_range_re_arms_without_refreshing() {
    let w = World::new();
    let tab = w.tab(Transport::Cookie);
    let days = 60 * 24 * 3600;
    call(
        &tab,
        Method::SetSession,
        tokens(&jwt("alice", 0, days), days, None),
        Val::Undef,
    );
    let max = 2_147_483_647.0;
    assert_eq!(
        w.armed.borrow().last().unwrap().1,
        max,
        "setTimeout's longest delay"
    );
    w.advance(max);
    assert!(
        w.posts_to(REFRESH).is_empty(),
        "the timer fired early: no refresh"
    );
    let rearmed = w.armed.borrow().last().unwrap().1;
    assert_eq!(rearmed, max, "armed again for the rest");
    let due = days as f64 * 1000.0 - (days as f64 * 100.0);
    w.advance(due - max - 1.0);
    assert!(
        w.posts_to(REFRESH).is_empty(),
        "armed again, not refreshed: {:?}",
        w.armed.borrow()
    );
    w.advance(1.0);
    assert_eq!(
        w.posts_to(REFRESH).len(),
        1,
        "refreshed at the margin after all"
    );
}

#[test]
fn set_session_refuses_what_is_no_token_response() {
    let w = World::new();
    let tab = w.tab(Transport::Cookie);
    for bad in [
        Val::Undef,
        Val::obj(&[]),
        Val::obj(&[("access_token", Val::s(""))]),
        Val::s("x"),
    ] {
        let e = call(&tab, Method::SetSession, bad.clone(), Val::Undef);
        assert_eq!(e.code().as_deref(), Some("ERR_INVALID_OPTIONS"), "{bad:?}");
        assert!(!signed_in(&tab));
    }
    let ok = call(
        &tab,
        Method::SetSession,
        tokens(&jwt("a", 0, LIFE), LIFE, None),
        Val::Undef,
    );
    assert_eq!(ok, Val::Undef);
    assert!(signed_in(&tab));
}

#[test]
fn restore_believes_the_session_hint_and_asks_nothing() {
    let w = World::new();
    let tab = w.tab(Transport::Cookie);
    w.hint_over.set(true);
    let p = call(&tab, Method::Restore, Val::Undef, Val::Undef);
    w.run();
    assert_eq!(w.state(&p), PromiseState::Resolved(Val::Bool(false)));
    assert!(w.posts_to(REFRESH).is_empty());
    // Without the hint it asks.
    w.hint_over.set(false);
    let p = call(&tab, Method::Restore, Val::Undef, Val::Undef);
    w.run();
    w.answer(REFRESH, 200, tokens(&jwt("a", 0, LIFE), LIFE, None));
    assert_eq!(w.state(&p), PromiseState::Resolved(Val::Bool(true)));
    assert_eq!(
        events(&w, 0, "refresh")[0].0,
        Val::Num(2.0),
        "source restore"
    );
}

#[test]
fn a_signed_out_cookie_client_restores_lazily_once_before_its_first_fetch() {
    let w = World::new();
    let tab = w.tab(Transport::Cookie);
    fetch(&tab, "/api/me");
    w.run();
    assert_eq!(w.posts_to(REFRESH).len(), 1, "restores first");
    assert!(w.sent.borrow().is_empty());
    w.answer(REFRESH, 401, Val::obj(&[]));
    assert_eq!(
        w.sent.borrow().len(),
        1,
        "then the request goes, without a token"
    );
    assert_eq!(w.sent.borrow()[0].access, Val::Undef);
    fetch(&tab, "/api/me");
    w.run();
    assert_eq!(w.posts_to(REFRESH).len(), 1, "once per page");
}

#[test]
fn login_errors_carry_their_codes_and_retry_after() {
    let w = World::new();
    let tab = w.tab(Transport::Cookie);
    let p = call(&tab, Method::Login, Val::s("u"), Val::s("p"));
    w.answer(LOGIN, 401, Val::obj(&[("error", Val::s("invalid_grant"))]));
    assert_eq!(
        rejected_code(&w, &p).as_deref(),
        Some("ERR_INVALID_CREDENTIALS")
    );
    let p = call(&tab, Method::Login, Val::s("u"), Val::s("p"));
    w.answer_with(LOGIN, 429, Val::obj(&[]), Val::s("30"));
    let PromiseState::Rejected(e) = w.state(&p) else {
        panic!()
    };
    assert_eq!(e.code().as_deref(), Some("ERR_TOO_MANY_ATTEMPTS"));
    assert_eq!(e.get("retryAfter"), Val::Num(30_000.0));
    assert!(!signed_in(&tab));
}

#[test]
fn body_mode_keeps_the_rotated_refresh_token_in_storage() {
    let w = World::new();
    let tab = w.tab(Transport::Body);
    login(&w, &tab, "alice", Some("rt1"));
    w.run();
    assert_eq!(w.stored.borrow().as_deref(), Some("rt1"));
    call(&tab, Method::Refresh, Val::Undef, Val::Undef);
    w.run();
    assert_eq!(w.posts_to(REFRESH)[0].a, Val::s("rt1"));
    w.answer(
        REFRESH,
        200,
        tokens(&jwt("alice", 1, 1 + LIFE), LIFE, Some("rt2")),
    );
    assert_eq!(w.stored.borrow().as_deref(), Some("rt2"));
    call(&tab, Method::Refresh, Val::Undef, Val::Undef);
    w.run();
    assert_eq!(
        w.posts_to(REFRESH)[1].a,
        Val::s("rt2"),
        "the rotated one is sent"
    );
}

#[test]
fn a_failing_storage_is_reported_as_err_storage() {
    let w = World::new();
    let tab = w.tab(Transport::Body);
    w.storage_fails.set(true);
    login(&w, &tab, "alice", Some("rt1"));
    w.run();
    let errors = events(&w, 0, "error");
    assert_eq!(errors.len(), 1, "the failed write is reported");
    assert_eq!(errors[0].0.code().as_deref(), Some("ERR_STORAGE"));
    // A failed read falls back on the token in memory.
    call(&tab, Method::Refresh, Val::Undef, Val::Undef);
    w.run();
    assert_eq!(events(&w, 0, "error").len(), 2);
    assert_eq!(w.posts_to(REFRESH)[0].a, Val::s("rt1"));
}

#[test]
fn dispose_rejects_what_is_pending_and_everything_after() {
    let w = World::new();
    let tab = w.tab(Transport::Cookie);
    login(&w, &tab, "alice", None);
    let p = call(&tab, Method::Refresh, Val::Undef, Val::Undef);
    w.run();
    call(&tab, Method::Dispose, Val::Undef, Val::Undef);
    assert_eq!(rejected_code(&w, &p).as_deref(), Some("ERR_DISPOSED"));
    assert!(w.lock.borrow().0.is_none(), "the lock is released");
    let q = fetch(&tab, "/api/me");
    assert_eq!(rejected_code(&w, &q).as_deref(), Some("ERR_DISPOSED"));
    let e = call(&tab, Method::On, Val::s("refresh"), Val::Undef);
    assert_eq!(e.code().as_deref(), Some("ERR_DISPOSED"));
    assert!(!signed_in(&tab));
}

#[test]
fn another_tabs_token_is_adopted_only_for_the_same_subject() {
    let w = World::new();
    let a = w.tab(Transport::Cookie);
    let b = w.tab(Transport::Cookie);
    login(&w, &a, "alice", None);
    w.messages.borrow_mut().clear();
    call(
        &b,
        Method::SetSession,
        tokens(&jwt("alice", 0, LIFE), LIFE, None),
        Val::Undef,
    );
    let mallory = w.tab(Transport::Cookie);
    call(
        &mallory,
        Method::SetSession,
        tokens(&jwt("mallory", 0, LIFE), LIFE, None),
        Val::Undef,
    );
    w.advance(1_000.0);
    call(&a, Method::Refresh, Val::Undef, Val::Undef);
    w.run();
    let new = jwt("alice", 1, 1 + LIFE);
    w.answer(REFRESH, 200, tokens(&new, LIFE, None));
    while w.deliver() {}
    assert_eq!(
        events(&w, 1, "refresh").len(),
        1,
        "b takes alice's new token"
    );
    assert_eq!(events(&w, 1, "refresh")[0].0, Val::Num(1.0), "source tab");
    assert!(
        events(&w, 2, "refresh").is_empty(),
        "mallory's tab does not"
    );
}

#[test]
fn a_logout_message_makes_a_signed_in_tab_check_its_session() {
    let w = World::new();
    let a = w.tab(Transport::Body);
    let b = w.tab(Transport::Body);
    login(&w, &a, "alice", Some("rt1"));
    w.run();
    let p = call(&b, Method::Restore, Val::Undef, Val::Undef);
    w.run();
    w.answer(
        REFRESH,
        200,
        tokens(&jwt("alice", 0, LIFE), LIFE, Some("rt2")),
    );
    assert_eq!(w.state(&p), PromiseState::Resolved(Val::Bool(true)));
    w.messages.borrow_mut().clear();
    call(&a, Method::Logout, Val::Undef, Val::Undef);
    w.run();
    w.answer(LOGOUT, 204, Val::Null);
    assert!(w.deliver(), "a's logout message");
    w.run();
    assert!(
        !signed_in(&b),
        "the storage holds no token: b's session is over"
    );
    assert_eq!(events(&w, 1, "expired").len(), 1);
    assert_eq!(w.posts_to(REFRESH).len(), 1, "without a request");
}

/// Issue 20 item 10: the waiting tab learns of the other's refresh from what that tab wrote
/// before it released the lock, not from the channel message, which is held back here until
/// both refreshes would be over.
#[test]
fn two_tabs_due_at_once_send_one_refresh_even_when_the_message_comes_late() {
    let w = World::new();
    let a = w.tab(Transport::Cookie);
    let b = w.tab(Transport::Cookie);
    login(&w, &a, "alice", None);
    call(
        &b,
        Method::SetSession,
        tokens(&jwt("alice", 0, LIFE), LIFE, None),
        Val::Undef,
    );
    w.messages.borrow_mut().clear();
    w.advance(DUE_MS);
    assert_eq!(
        w.posts_to(REFRESH).len(),
        1,
        "a holds the lock, b waits for it"
    );
    let new = jwt("alice", 540, 540 + LIFE);
    w.answer(REFRESH, 200, tokens(&new, LIFE, None));
    w.run();
    assert_eq!(
        w.messages.borrow().len(),
        1,
        "a's message is still undelivered"
    );
    assert_eq!(
        w.posts_to(REFRESH).len(),
        1,
        "b took the lock after a and sent nothing"
    );
    assert_eq!(events(&w, 1, "refresh").len(), 1, "b holds a's token");
    assert_eq!(events(&w, 1, "refresh")[0].0, Val::Num(1.0), "source tab");
    let p = fetch(&b, "/api/me");
    w.run();
    assert_eq!(w.sent.borrow()[0].access, Val::s(&new));
    // The late message changes nothing.
    assert!(w.deliver());
    assert_eq!(events(&w, 1, "refresh").len(), 1);
    w.answer_fetch(200);
    assert_eq!(status_of(&w, &p), 200.0);
}

/// Issue 24 item 7: a cookie-mode client aimed at another origin says why its requests fail.
#[test]
fn a_cookie_client_on_another_origin_reports_err_cross_origin_cookie() {
    let w = World::new();
    w.cross_origin.set(true);
    let tab = w.tab(Transport::Cookie);
    let p = call(&tab, Method::Login, Val::s("u"), Val::s("p"));
    w.fail(LOGIN);
    assert_eq!(
        rejected_code(&w, &p).as_deref(),
        Some("ERR_CROSS_ORIGIN_COOKIE")
    );
    call(
        &tab,
        Method::SetSession,
        tokens(&jwt("a", 0, LIFE), LIFE, None),
        Val::Undef,
    );
    w.advance(DUE_MS);
    w.fail(REFRESH);
    let errors = events(&w, 0, "error");
    assert_eq!(
        errors[0].0.code().as_deref(),
        Some("ERR_CROSS_ORIGIN_COOKIE")
    );
    assert!(errors[0].1 != Val::Undef, "retried as a network failure is");
    // A same-origin client's failure is a network error.
    let same = World::new();
    let tab = same.tab(Transport::Cookie);
    let p = call(&tab, Method::Login, Val::s("u"), Val::s("p"));
    same.fail(LOGIN);
    assert_eq!(rejected_code(&same, &p).as_deref(), Some("ERR_NETWORK"));
}

/// Was covered in Chromium only (scenario `breaker`): a resource that answers 401 to every fresh
/// token makes each call refresh and replay until the breaker stops it; the limit is reported
/// once, every 401 goes to its caller, and `refresh()` is refused too.
#[test]
fn a_resource_refusing_every_token_cannot_cause_a_refresh_loop() {
    let w = World::new();
    let config = ClientConfig {
        max_refreshes_per_minute: 3,
        ..ClientConfig::DEFAULT
    };
    let tab = w.tab_with(Transport::Cookie, false, config);
    login(&w, &tab, "alice", None);
    for i in 0..8u64 {
        let p = fetch(&tab, "/api/me");
        w.run();
        w.answer_fetch(401);
        if w.posts_to(REFRESH).iter().any(|p| !p.answered) {
            let fresh = jwt("alice", i + 1, i + 1 + LIFE);
            w.answer(REFRESH, 200, tokens(&fresh, LIFE, None));
            let replay = w.answer_fetch(401);
            assert_eq!(
                replay.access,
                Val::s(&fresh),
                "call {i}: replayed with the fresh token"
            );
        }
        assert_eq!(
            status_of(&w, &p),
            401.0,
            "call {i}: the 401 goes to the caller"
        );
    }
    assert_eq!(
        w.posts_to(REFRESH).len(),
        3,
        "three refreshes, then the breaker"
    );
    let limits = events(&w, 0, "error")
        .into_iter()
        .filter(|e| e.0.code().as_deref() == Some("ERR_REFRESH_LIMIT"))
        .count();
    assert_eq!(limits, 1, "the limit reported once");
    let p = call(&tab, Method::Refresh, Val::Undef, Val::Undef);
    w.run();
    assert_eq!(rejected_code(&w, &p).as_deref(), Some("ERR_REFRESH_LIMIT"));
    assert_eq!(w.posts_to(REFRESH).len(), 3);
}

/// Was covered in Chromium only (scenario `lateResult`): a `refresh()` pending when the user
/// logs out rejects with `ERR_NOT_SIGNED_IN` once its answer arrives, which signs nothing in.
#[test]
fn a_refresh_call_pending_at_logout_rejects_not_signed_in() {
    let w = World::new();
    let tab = w.tab(Transport::Cookie);
    login(&w, &tab, "alice", None);
    let p = call(&tab, Method::Refresh, Val::Undef, Val::Undef);
    w.run();
    assert_eq!(w.posts_to(REFRESH).len(), 1);
    let out = call(&tab, Method::Logout, Val::Undef, Val::Undef);
    w.answer(LOGOUT, 200, Val::obj(&[]));
    assert_eq!(w.state(&out), PromiseState::Resolved(Val::Bool(true)));
    w.answer(REFRESH, 200, tokens(&jwt("alice", 1, 1 + LIFE), LIFE, None));
    assert_eq!(rejected_code(&w, &p).as_deref(), Some("ERR_NOT_SIGNED_IN"));
    assert!(!signed_in(&tab), "still signed out");
    assert!(
        events(&w, 0, "refresh").is_empty(),
        "no refresh event after logout"
    );
    assert_eq!(events(&w, 0, "logout").len(), 1);
}

/// Was covered in Chromium only (scenario `lateResult`): a 401 from the refresh endpoint ends
/// the session, as `invalid_grant` does.
#[test]
fn a_401_from_the_refresh_endpoint_ends_the_session() {
    let w = World::new();
    let tab = w.tab(Transport::Cookie);
    login(&w, &tab, "alice", None);
    let p = call(&tab, Method::Refresh, Val::Undef, Val::Undef);
    w.run();
    w.answer(
        REFRESH,
        401,
        Val::obj(&[("error", Val::s("invalid_token"))]),
    );
    assert_eq!(
        rejected_code(&w, &p).as_deref(),
        Some("ERR_SESSION_EXPIRED")
    );
    assert!(!signed_in(&tab));
    let expired = events(&w, 0, "expired");
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0].0.get("status"), Val::Num(401.0));
}

/// The runtime's side of scenario `singleFlight` (client_engine tests the decision): ten calls
/// answered 401 at once share one refresh, and each is replayed once with the new token.
#[test]
fn concurrent_401s_share_one_refresh_and_each_call_replays_once() {
    let w = World::new();
    let tab = w.tab(Transport::Cookie);
    login(&w, &tab, "alice", None);
    let calls: Vec<Val> = (0..10).map(|_| fetch(&tab, "/api/me")).collect();
    w.run();
    for _ in 0..10 {
        w.answer_fetch(401);
    }
    assert_eq!(w.posts_to(REFRESH).len(), 1, "one refresh for ten 401s");
    let new = jwt("alice", 1, 1 + LIFE);
    w.answer(REFRESH, 200, tokens(&new, LIFE, None));
    for i in 0..10 {
        let replay = w.answer_fetch(200);
        assert_eq!(replay.access, Val::s(&new), "replay {i} with the new token");
    }
    for p in &calls {
        assert_eq!(status_of(&w, p), 200.0);
    }
    assert_eq!(w.sent.borrow().len(), 20, "each call sent twice, no more");
    assert_eq!(refresh_count(&tab), 1.0);
}
