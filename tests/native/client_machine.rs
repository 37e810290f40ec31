//! Native tests of the client state machine (`core::client::Client`): every decision the browser
//! adapter used to make itself, driven input by input with fixed clocks, checking the effects.

use silent_refresh::core::client::options::{OptionValue, Options, UrlPart, OPTION_NAMES};
use silent_refresh::core::client::{
    Answer, AuthError, Body, Client, ClientConfig, Effect, Endpoint, ErrorCode, Event, EventKind,
    Message, Response, Settled, Source, StorageAction, Tokens, Transport,
};

type V = String;
type Effects = Vec<Effect<V>>;

const MIN: u64 = 60_000;
const PAGE: &str = "https://app.example";

/// A stand-in for the browser's URL parser: absolute http(s) URLs as they are, paths under
/// [`PAGE`]; anything else is invalid.
fn resolve(url: &str, part: UrlPart) -> Option<String> {
    let href = if url.starts_with('/') {
        format!("{PAGE}{url}")
    } else if url.starts_with("https://") || url.starts_with("http://") {
        url.to_owned()
    } else {
        return None;
    };
    Some(match part {
        UrlPart::Href => href,
        UrlPart::Origin => {
            let rest = href.split_once("://")?.1;
            let host = rest.split('/').next()?;
            format!("{}://{host}/", href.split_once("://")?.0)
        }
    })
}

/// Options from `(name, value)` pairs, the rest undefined.
fn values(pairs: &[(&str, OptionValue<V>)]) -> [OptionValue<V>; OPTION_NAMES.len()] {
    OPTION_NAMES.map(|name| {
        pairs
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(OptionValue::Undefined, |(_, v)| v.clone())
    })
}

fn parse(pairs: &[(&str, OptionValue<V>)]) -> Result<Options<V>, ErrorCode> {
    Options::parse(Some(&values(pairs)), resolve)
}

fn text(s: &str) -> OptionValue<V> {
    OptionValue::Text(s.to_owned())
}

fn client(pairs: &[(&str, OptionValue<V>)]) -> Client<V> {
    Client::new(&parse(pairs).unwrap(), false)
}

fn body_client() -> Client<V> {
    client(&[("mode", text("body"))])
}

fn storage_client() -> Client<V> {
    client(&[
        ("mode", text("body")),
        ("storage", OptionValue::Object("store".into())),
    ])
}

fn tokens(access: &str, refresh: Option<&str>, lifetime_s: f64) -> Tokens<V> {
    Tokens {
        access: access.to_owned(),
        expires_in: lifetime_s,
        exp: f64::NAN,
        iat: f64::NAN,
        sub: Some("alice".to_owned()),
        refresh: refresh.map(str::to_owned),
    }
}

fn response(status: u16, tokens: Option<Tokens<V>>) -> Settled<V> {
    Settled::Response(Response {
        status,
        timed_out: false,
        error: None,
        retry_after: None,
        tokens,
    })
}

fn error_response(status: u16, error: &str) -> Settled<V> {
    Settled::Response(Response {
        status,
        timed_out: false,
        error: Some(error.to_owned()),
        retry_after: None,
        tokens: None,
    })
}

fn ok(access: &str, refresh: Option<&str>) -> Settled<V> {
    response(200, Some(tokens(access, refresh, 900.0)))
}

fn list(e: silent_refresh::core::client::Effects<V>) -> (Option<u32>, Effects) {
    let promise = e.promise;
    (promise, e.into_iter().collect())
}

/// The id of the only `Post` to `endpoint` among `effects`.
fn post_id(effects: &Effects, endpoint: Endpoint) -> u32 {
    let ids: Vec<u32> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::Post {
                id, endpoint: e, ..
            } if *e == endpoint => Some(*id),
            _ => None,
        })
        .collect();
    assert_eq!(ids.len(), 1, "one {endpoint:?} request in {effects:?}");
    ids[0]
}

/// The id of the one storage read among `effects`.
fn read_id(effects: &Effects) -> u32 {
    let ids: Vec<u32> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::Storage {
                id,
                action: StorageAction::Read,
            } => Some(*id),
            _ => None,
        })
        .collect();
    assert_eq!(ids.len(), 1, "one storage read in {effects:?}");
    ids[0]
}

fn posts(effects: &Effects) -> usize {
    effects
        .iter()
        .filter(|e| matches!(e, Effect::Post { .. }))
        .count()
}

fn settled_with(effects: &Effects, id: u32) -> Option<Result<Answer<V>, AuthError>> {
    effects.iter().find_map(|e| match e {
        Effect::Settle { id: i, result } if *i == id => Some(result.clone()),
        _ => None,
    })
}

fn events(effects: &Effects) -> Vec<Event> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Emit(ev) => Some(ev.clone()),
            _ => None,
        })
        .collect()
}

fn sends(effects: &Effects) -> Vec<(Option<u32>, V, Option<V>, u32)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Send {
                settle,
                request,
                token,
                carried,
            } => Some((*settle, request.clone(), token.clone(), *carried)),
            _ => None,
        })
        .collect()
}

fn err(code: ErrorCode, status: Option<u16>) -> Result<Answer<V>, AuthError> {
    Err(AuthError {
        code,
        status,
        retry_after_ms: None,
        oauth_error: None,
    })
}

/// Logs in at `now` with a 15-minute token `access` (and `refresh` in body mode).
fn login(c: &mut Client<V>, now: u64, access: &str, refresh: Option<&str>) -> Effects {
    let (promise, e) = list(c.login(now, "u".into(), "pw".into()));
    let id = post_id(&e, Endpoint::Login);
    assert_eq!(promise, Some(id));
    let (_, e) = list(c.settled(now, 0.5, id, ok(access, refresh)));
    assert_eq!(settled_with(&e, id), Some(Ok(Answer::Undefined)));
    assert!(c.signed_in());
    e
}

// ----- login -----

#[test]
fn login_posts_the_credentials_and_the_transport() {
    let mut c = client(&[]);
    let (_, e) = list(c.login(0, "alice".into(), "secret".into()));
    assert!(matches!(
        &e[..],
        [Effect::Post { endpoint: Endpoint::Login, body: Body::Login { username, password, transport: Transport::Cookie }, cookie: true, .. }]
            if username == "alice" && password == "secret"
    ));
    let mut c = body_client();
    let (_, e) = list(c.login(0, "a".into(), "b".into()));
    assert!(matches!(
        &e[..],
        [Effect::Post {
            body: Body::Login {
                transport: Transport::Body,
                ..
            },
            cookie: false,
            ..
        }]
    ));
}

#[test]
fn a_401_at_login_is_invalid_credentials() {
    let mut c = client(&[]);
    let (id, _) = list(c.login(0, "u".into(), "wrong".into()));
    let id = id.unwrap();
    let (_, e) = list(c.settled(5, 0.5, id, error_response(401, "invalid_credentials")));
    assert_eq!(
        settled_with(&e, id),
        Some(Err(AuthError {
            status: Some(401),
            oauth_error: Some("invalid_credentials".into()),
            ..ErrorCode::InvalidCredentials.into()
        }))
    );
    assert!(!c.signed_in());
}

#[test]
fn other_refusals_at_login_are_classified_with_their_status() {
    for (status, error, code) in [
        (503, "temporarily_unavailable", ErrorCode::Server),
        (500, "server_error", ErrorCode::Server),
        (403, "forbidden_origin", ErrorCode::Rejected),
        (400, "invalid_request", ErrorCode::Rejected),
    ] {
        let mut c = client(&[]);
        let id = c.login(0, "u".into(), "pw".into()).promise.unwrap();
        let (_, e) = list(c.settled(5, 0.5, id, error_response(status, error)));
        assert_eq!(
            settled_with(&e, id),
            Some(Err(AuthError {
                status: Some(status),
                oauth_error: Some(error.into()),
                ..code.into()
            })),
            "{status}"
        );
    }
}

#[test]
fn a_2xx_at_login_without_a_token_is_a_bad_response_or_a_timeout() {
    let mut c = client(&[]);
    let id = c.login(0, "u".into(), "pw".into()).promise.unwrap();
    let (_, e) = list(c.settled(5, 0.5, id, response(200, None)));
    assert_eq!(
        settled_with(&e, id),
        Some(err(ErrorCode::BadResponse, None))
    );
    assert!(!c.signed_in());
    // The timeout fired while the body was read.
    let id = c.login(10, "u".into(), "pw".into()).promise.unwrap();
    let cut = Settled::Response(Response {
        status: 200,
        timed_out: true,
        error: None,
        retry_after: None,
        tokens: None,
    });
    let (_, e) = list(c.settled(15, 0.5, id, cut));
    assert_eq!(settled_with(&e, id), Some(err(ErrorCode::Timeout, None)));
}

#[test]
fn a_throttled_login_rejects_with_too_many_attempts_and_the_wait() {
    let mut c = client(&[]);
    let id = c.login(0, "u".into(), "pw".into()).promise.unwrap();
    let throttled = Settled::Response(Response {
        status: 429,
        timed_out: false,
        error: Some("too_many_attempts".into()),
        retry_after: Some("900".into()),
        tokens: None,
    });
    let (_, e) = list(c.settled(5, 0.5, id, throttled));
    assert_eq!(
        settled_with(&e, id),
        Some(Err(AuthError {
            code: ErrorCode::TooManyAttempts,
            status: Some(429),
            retry_after_ms: Some(900_000),
            oauth_error: Some("too_many_attempts".into()),
        }))
    );
    assert!(!c.signed_in());
}

#[test]
fn login_without_a_response_is_a_network_error_or_a_timeout() {
    let mut c = client(&[]);
    for (timed_out, code) in [(false, ErrorCode::Network), (true, ErrorCode::Timeout)] {
        let id = c.login(0, "u".into(), "pw".into()).promise.unwrap();
        let (_, e) = list(c.settled(5, 0.5, id, Settled::NoResponse { timed_out }));
        assert_eq!(settled_with(&e, id), Some(err(code, None)));
    }
}

#[test]
fn login_starts_a_session_tells_the_tabs_its_access_token_and_arms_the_timer() {
    let mut c = storage_client();
    let e = login(&mut c, 1_000, "a1", Some("srt_1"));
    assert!(e.iter().any(|x| matches!(x,
        Effect::Storage { action: StorageAction::Write(t), .. } if t == "srt_1")));
    // The other tabs hear the access token (a signed-out one restores with its own cookie), and
    // never the refresh token (any script of the origin may listen).
    let messages: Vec<_> = e
        .iter()
        .filter_map(|x| match x {
            Effect::Broadcast(m) => Some(m),
            _ => None,
        })
        .collect();
    assert_eq!(messages.len(), 1, "{e:?}");
    assert!(matches!(messages[0], Message::Token { access, .. } if access == "a1"));
    assert!(!format!("{messages:?}").contains("srt_1"));
    // Refresh 90 s (10 % of 15 min) before expiry.
    assert!(e.contains(&Effect::Timer(Some(15 * MIN - 90_000))));
    assert_eq!(c.next_refresh_at(), Some(1_000 + 15 * MIN - 90_000));
}

#[test]
fn set_session_takes_a_token_response_only() {
    let mut c = client(&[]);
    assert_eq!(
        c.set_session(0, None).unwrap_err(),
        AuthError::from(ErrorCode::InvalidOptions)
    );
    let e: Effects = c
        .set_session(0, Some(tokens("a1", None, 60.0)))
        .unwrap()
        .into_iter()
        .collect();
    assert!(c.signed_in());
    assert!(e.contains(&Effect::Timer(Some(30_000))), "{e:?}");
    // The lifetime from the JWT when there is no expires_in.
    let mut t = tokens("a2", None, f64::NAN);
    (t.iat, t.exp) = (1_700_000_000.0, 1_700_000_300.0);
    let _ = c.set_session(10, Some(t)).unwrap();
    assert_eq!(c.expires_at(), Some(10 + 300_000));
}

// ----- fetch: which requests get the token, replay -----

#[test]
fn the_token_goes_to_the_bearer_origins_only_and_never_to_the_endpoints() {
    let mut c = client(&[]);
    login(&mut c, 0, "a1", None);
    let fetch = |c: &mut Client<V>, url: &str, authorization: bool| {
        let (promise, e) = list(c.fetch(10, url.into(), url, authorization, false));
        assert_eq!(promise, None, "sent at once, its promise is the answer");
        let s = sends(&e);
        assert_eq!(s.len(), 1);
        s[0].2.clone()
    };
    assert_eq!(
        fetch(&mut c, "https://app.example/api/me", false),
        Some("a1".into())
    );
    assert_eq!(
        fetch(&mut c, "https://app.example/api/me?x#y", false),
        Some("a1".into())
    );
    assert_eq!(
        fetch(&mut c, "https://other.example/x", false),
        None,
        "foreign origin"
    );
    assert_eq!(
        fetch(&mut c, "https://app.example.evil/x", false),
        None,
        "an origin is a prefix up to its slash"
    );
    assert_eq!(
        fetch(&mut c, "https://app.example/api/me", true),
        None,
        "the caller's Authorization"
    );
    for endpoint in [
        "/auth/login",
        "/auth/refresh",
        "/auth/logout",
        "/auth/refresh?x=1",
    ] {
        let url = format!("{PAGE}{endpoint}");
        assert_eq!(fetch(&mut c, &url, false), None, "{endpoint}");
    }
    assert_eq!(
        fetch(&mut c, "https://app.example/auth/logout-all", false),
        Some("a1".into()),
        "logout-all is not logout"
    );
    // Listed origins replace the default.
    let mut c = client(&[(
        "bearerOrigins",
        OptionValue::List(vec![text("https://api.example"), text("/")]),
    )]);
    login(&mut c, 0, "a1", None);
    assert_eq!(
        fetch(&mut c, "https://api.example/v1", false),
        Some("a1".into())
    );
    assert_eq!(
        fetch(&mut c, "https://app.example/v1", false),
        Some("a1".into())
    );
    assert_eq!(fetch(&mut c, "https://else.example/v1", false), None);
}

#[test]
fn only_a_401_to_a_request_with_the_token_is_taken_back() {
    let mut c = client(&[]);
    login(&mut c, 0, "a1", None);
    let (_, e) = list(c.fetch(10, "req".into(), "https://app.example/api", false, false));
    assert_eq!(sends(&e), vec![(None, "req".into(), Some("a1".into()), 1)]);
    for status in [200, 403, 500] {
        let (promise, e) = list(c.fetch_response(20, status, 1, "res".into(), "spare".into()));
        assert_eq!(
            (promise, e.len()),
            (None, 0),
            "{status} goes to the caller as it is"
        );
    }
}

#[test]
fn a_401_refreshes_once_and_replays_once_with_the_new_token() {
    let mut c = client(&[]);
    login(&mut c, 0, "a1", None);
    let (promise, e) = list(c.fetch_response(20, 401, 1, "res".into(), "spare".into()));
    let promise = promise.unwrap();
    let flight = post_id(&e, Endpoint::Refresh);
    assert!(sends(&e).is_empty(), "waits for the refresh");
    let (_, e) = list(c.settled(30, 0.5, flight, ok("a2", None)));
    assert_eq!(
        events(&e),
        vec![Event::Refresh {
            source: Source::Network,
            expires_at: Some(30 + 15 * MIN)
        }]
    );
    // The replay carries the new token and reports no 401: that one goes to the caller.
    assert_eq!(
        sends(&e),
        vec![(Some(promise), "spare".into(), Some("a2".into()), 0)]
    );
    assert_eq!(c.refresh_count(), 1);
}

#[test]
fn a_401_for_an_older_token_is_replayed_at_once() {
    let mut c = client(&[]);
    login(&mut c, 0, "a1", None);
    let (_, e) = list(c.refresh(5, false));
    let f = post_id(&e, Endpoint::Refresh);
    let _ = c.settled(6, 0.5, f, ok("a2", None));
    // A request that left with a1 (generation 1) comes back 401 after a2 arrived.
    let (promise, e) = list(c.fetch_response(7, 401, 1, "res".into(), "spare".into()));
    assert_eq!(posts(&e), 0, "no refresh");
    assert_eq!(
        sends(&e),
        vec![(promise, "spare".into(), Some("a2".into()), 0)]
    );
}

#[test]
fn a_401_after_a_failed_refresh_goes_to_the_caller() {
    let mut c = client(&[]);
    login(&mut c, 0, "a1", None);
    let (promise, e) = list(c.fetch_response(20, 401, 1, "res".into(), "spare".into()));
    let flight = post_id(&e, Endpoint::Refresh);
    let (_, e) = list(c.settled(
        30,
        0.5,
        flight,
        error_response(503, "temporarily_unavailable"),
    ));
    assert!(sends(&e).is_empty());
    assert_eq!(
        settled_with(&e, promise.unwrap()),
        Some(Ok(Answer::Handle("res".into())))
    );
    assert!(c.signed_in(), "a transient failure keeps the session");
}

#[test]
fn concurrent_401s_share_one_refresh() {
    let mut c = client(&[]);
    login(&mut c, 0, "a1", None);
    let (p0, first) = list(c.fetch_response(20, 401, 1, "r0".into(), "s0".into()));
    let f = post_id(&first, Endpoint::Refresh);
    let mut promises = vec![p0];
    for i in 1..10 {
        let (p, e) = list(c.fetch_response(20 + i, 401, 1, format!("r{i}"), format!("s{i}")));
        assert_eq!(posts(&e), 0, "no second refresh");
        promises.push(p);
    }
    let (_, e) = list(c.settled(40, 0.5, f, ok("a2", None)));
    let s = sends(&e);
    assert_eq!(s.len(), 10, "every call replays");
    for (i, p) in promises.into_iter().enumerate() {
        assert!(s.contains(&(p, format!("s{i}"), Some("a2".into()), 0)));
    }
    assert_eq!(c.refresh_count(), 1);
}

#[test]
fn a_due_token_is_refreshed_before_the_request_goes_out() {
    let mut c = client(&[]);
    login(&mut c, 0, "a1", None);
    let due = c.next_refresh_at().unwrap();
    let (promise, e) = list(c.fetch(due, "req".into(), "https://app.example/api", false, false));
    let flight = post_id(&e, Endpoint::Refresh);
    assert!(sends(&e).is_empty());
    let (p2, e2) = list(c.fetch(
        due + 1,
        "req2".into(),
        "https://app.example/api",
        false,
        false,
    ));
    assert_eq!(posts(&e2), 0, "the second waits for the same refresh");
    let (_, e) = list(c.settled(due + 5, 0.5, flight, ok("a2", None)));
    let s = sends(&e);
    assert!(s.contains(&(promise, "req".into(), Some("a2".into()), 2)));
    assert!(s.contains(&(p2, "req2".into(), Some("a2".into()), 2)));
}

// ----- refresh outcomes -----

#[test]
fn a_refresh_answered_2xx_without_a_token_is_retried_as_a_bad_response() {
    let mut c = client(&[("retryBaseDelay", OptionValue::Number(1000.0))]);
    login(&mut c, 0, "a1", None);
    let (p, e) = list(c.refresh(10, false));
    let f = post_id(&e, Endpoint::Refresh);
    let (_, e) = list(c.settled(20, 0.0, f, response(200, None)));
    let error = AuthError::from(ErrorCode::BadResponse);
    assert_eq!(
        events(&e),
        vec![Event::Error {
            error: error.clone(),
            retry_in: Some(500)
        }]
    );
    assert_eq!(settled_with(&e, p.unwrap()), Some(Err(error)));
    assert!(c.signed_in());
}

#[test]
fn invalid_grant_ends_the_session_and_forgets_the_refresh_token() {
    let mut c = storage_client();
    login(&mut c, 0, "a1", Some("srt_1"));
    let (p, e) = list(c.refresh(10, false));
    // It reads the stored token first (another tab may have rotated it).
    let f = read_id(&e);
    let (_, e) = list(c.settled(11, 0.5, f, Settled::Read(Some("srt_9".into()))));
    assert!(matches!(&e[..], [Effect::Post { body: Body::Token(t), .. }] if t == "srt_9"));
    let (_, e) = list(c.settled(20, 0.5, f, error_response(400, "invalid_grant")));
    // The error carries the refusal's status and the server's `error` member.
    let expired = AuthError {
        status: Some(400),
        oauth_error: Some("invalid_grant".into()),
        ..ErrorCode::SessionExpired.into()
    };
    assert_eq!(events(&e), vec![Event::Expired(expired.clone())]);
    assert_eq!(settled_with(&e, p.unwrap()), Some(Err(expired)));
    assert!(e.iter().any(|x| matches!(
        x,
        Effect::Storage {
            action: StorageAction::Remove,
            ..
        }
    )));
    assert!(!c.signed_in());
}

#[test]
fn body_mode_without_a_refresh_token_ends_the_session_without_a_request() {
    let mut c = body_client();
    // A session from setSession without a refresh token: nothing to refresh with.
    let _ = c.set_session(0, Some(tokens("a1", None, 900.0))).unwrap();
    let (p, e) = list(c.refresh(10, false));
    assert_eq!(posts(&e), 0, "no request");
    assert_eq!(c.refresh_count(), 0);
    let expired = AuthError::from(ErrorCode::SessionExpired);
    assert_eq!(events(&e), vec![Event::Expired(expired.clone())]);
    assert_eq!(settled_with(&e, p.unwrap()), Some(Err(expired)));
    assert!(!c.signed_in());
}

#[test]
fn a_result_after_logout_is_discarded() {
    let mut c = client(&[]);
    login(&mut c, 0, "a1", None);
    let (p, e) = list(c.refresh(10, false));
    let f = post_id(&e, Endpoint::Refresh);
    let (_, e) = list(c.logout(20));
    assert_eq!(events(&e), vec![Event::Logout(Source::Local)]);
    // The other tabs are told once the server has answered, not before.
    assert!(!e.contains(&Effect::Broadcast(Message::Logout)));
    assert!(matches!(
        &e[..],
        [
            ..,
            Effect::Post {
                endpoint: Endpoint::Logout,
                body: Body::Empty,
                cookie: true,
                ..
            }
        ]
    ));
    let (_, e) = list(c.settled(30, 0.5, f, ok("late", None)));
    assert!(events(&e).is_empty(), "no refresh event");
    assert!(!c.signed_in());
    assert_eq!(
        settled_with(&e, p.unwrap()),
        Some(err(ErrorCode::NotSignedIn, None))
    );
}

#[test]
fn logout_in_body_mode_revokes_the_stored_token() {
    let mut c = storage_client();
    let (p, e) = list(c.logout(0));
    let p = p.unwrap();
    assert!(e.contains(&Effect::Storage {
        id: p,
        action: StorageAction::Read
    }));
    let (_, e) = list(c.settled(1, 0.5, p, Settled::Read(Some("srt_7".into()))));
    assert!(e.iter().any(|x| matches!(
        x,
        Effect::Storage {
            action: StorageAction::Remove,
            ..
        }
    )));
    assert!(e.iter().any(|x| matches!(x, Effect::Post { endpoint: Endpoint::Logout, body: Body::Token(t), .. } if t == "srt_7")));
    let (_, e) = list(c.settled(2, 0.5, p, response(200, None)));
    assert_eq!(settled_with(&e, p), Some(Ok(Answer::Bool(true))));
    // Nothing stored, nothing to revoke.
    let mut c = body_client();
    let (p, e) = list(c.logout(0));
    assert_eq!(settled_with(&e, p.unwrap()), Some(Ok(Answer::Bool(false))));
    assert_eq!(posts(&e), 0);
}

// ----- restore -----

#[test]
fn restore_in_cookie_mode_believes_the_session_hint() {
    let mut c = client(&[]);
    let (p, e) = list(c.restore(0, true));
    assert_eq!(settled_with(&e, p.unwrap()), Some(Ok(Answer::Bool(false))));
    assert_eq!(
        posts(&e),
        0,
        "no request when the hint says the session is over"
    );
    let (p, e) = list(c.restore(1, false));
    let f = post_id(&e, Endpoint::Refresh);
    let (_, e) = list(c.settled(2, 0.5, f, ok("r1", None)));
    assert_eq!(settled_with(&e, p.unwrap()), Some(Ok(Answer::Bool(true))));
    assert!(matches!(
        events(&e)[..],
        [Event::Refresh {
            source: Source::Restore,
            ..
        }]
    ));
    // Signed in: true at once.
    let (p, e) = list(c.restore(3, true));
    assert_eq!(settled_with(&e, p.unwrap()), Some(Ok(Answer::Bool(true))));
}

#[test]
fn restore_in_body_mode_reads_the_storage_and_ignores_the_hint() {
    let mut c = storage_client();
    let (p, e) = list(c.restore(0, true));
    let p = p.unwrap();
    assert_eq!(
        e,
        vec![Effect::Storage {
            id: p,
            action: StorageAction::Read
        }]
    );
    let (_, e) = list(c.settled(1, 0.5, p, Settled::Read(Some("srt_3".into()))));
    // The refresh reads it again once it holds the lock (another tab may have rotated it).
    let f = read_id(&e);
    let (_, e) = list(c.settled(1, 0.5, f, Settled::Read(Some("srt_3".into()))));
    assert!(
        matches!(&e[..], [Effect::Post { id, body: Body::Token(t), .. }] if *id == f && t == "srt_3")
    );
    let (_, e) = list(c.settled(2, 0.5, f, error_response(400, "invalid_grant")));
    assert_eq!(
        settled_with(&e, p),
        Some(Ok(Answer::Bool(false))),
        "no session, no error"
    );
    assert!(events(&e).is_empty());
    // Nothing stored: false without a request; no storage at all: the same.
    let mut c = storage_client();
    let p = c.restore(0, false).promise.unwrap();
    let (_, e) = list(c.settled(1, 0.5, p, Settled::Read(None)));
    assert_eq!(
        (settled_with(&e, p), posts(&e)),
        (Some(Ok(Answer::Bool(false))), 0)
    );
    let mut c = body_client();
    let (p, e) = list(c.restore(0, false));
    assert_eq!(
        (settled_with(&e, p.unwrap()), posts(&e)),
        (Some(Ok(Answer::Bool(false))), 0)
    );
}

// ----- lock, timer, wake-up, tabs, dispose -----

#[test]
fn the_refresh_takes_the_lock_and_releases_it() {
    let o = parse(&[]).unwrap();
    let mut c = Client::new(&o, true);
    assert!(c.uses_locks());
    login(&mut c, 0, "a1", None);
    let (_, e) = list(c.refresh(10, false));
    let f = match e[..] {
        [Effect::Timer(None), Effect::Lock(f)] => f,
        _ => panic!("{e:?}"),
    };
    let (_, e) = list(c.lock_granted(11, f));
    assert_eq!(post_id(&e, Endpoint::Refresh), f);
    let (_, e) = list(c.settled(12, 0.5, f, ok("a2", None)));
    assert!(e.contains(&Effect::Release(f)));
    // Without cross-tab sharing, no lock.
    let o = parse(&[("crossTab", OptionValue::Bool(false))]).unwrap();
    assert!(!Client::<V>::new(&o, true).uses_locks());
}

#[test]
fn the_lock_is_held_until_the_rotated_refresh_token_is_stored() {
    let o = parse(&[
        ("mode", text("body")),
        ("storage", OptionValue::Object("store".into())),
    ])
    .unwrap();
    for outcome in [Settled::Done, Settled::Failed] {
        let mut c = Client::new(&o, true);
        login(&mut c, 0, "a1", Some("srt_1"));
        let (_, e) = list(c.refresh(10, false));
        let f = match e[..] {
            [Effect::Timer(None), Effect::Lock(f)] => f,
            _ => panic!("{e:?}"),
        };
        let _ = list(c.lock_granted(11, f));
        let (_, e) = list(c.settled(12, 0.5, f, Settled::Read(Some("srt_1".into()))));
        assert_eq!(post_id(&e, Endpoint::Refresh), f);
        let (_, e) = list(c.settled(13, 0.5, f, ok("a2", Some("srt_2"))));
        // The write starts; an async storage may take its time: the lock stays held, so no
        // other tab reads the storage before it holds srt_2.
        assert!(e.contains(&Effect::Storage {
            id: f,
            action: StorageAction::Write("srt_2".into())
        }));
        assert!(!e.contains(&Effect::Release(f)), "{e:?}");
        assert!(matches!(
            events(&e)[..],
            [Event::Refresh {
                source: Source::Network,
                ..
            }]
        ));
        // Settled (written, or failed: then reported): the lock goes.
        let (_, e) = list(c.settled(20, 0.5, f, outcome.clone()));
        assert!(e.contains(&Effect::Release(f)), "{e:?}");
        assert_eq!(
            events(&e).len(),
            usize::from(outcome == Settled::Failed),
            "a failed write is reported"
        );
    }
}

#[test]
fn a_tab_that_waited_for_the_lock_refreshes_with_the_stored_token() {
    let o = parse(&[
        ("mode", text("body")),
        ("storage", OptionValue::Object("store".into())),
    ])
    .unwrap();
    let mut c = Client::new(&o, true);
    login(&mut c, 0, "a1", Some("srt_1"));
    let due = c.next_refresh_at().unwrap();
    let (_, e) = list(c.timer(due));
    let f = match e[..] {
        [Effect::Lock(f), ..] | [_, Effect::Lock(f), ..] => f,
        _ => panic!("{e:?}"),
    };
    let (_, e) = list(c.lock_granted(due + 6, f));
    assert!(e.contains(&Effect::Storage {
        id: f,
        action: StorageAction::Read
    }));
    // Another tab rotated the family meanwhile: the stored token, never the one in memory.
    let (_, e) = list(c.settled(due + 7, 0.5, f, Settled::Read(Some("srt_9".into()))));
    assert!(e
        .iter()
        .any(|x| matches!(x, Effect::Post { body: Body::Token(t), .. } if t == "srt_9")));
}

#[test]
fn no_stored_token_under_the_lock_ends_the_session_without_a_request() {
    let mut c = storage_client();
    login(&mut c, 0, "a1", Some("srt_1"));
    let (p, e) = list(c.refresh(10, false));
    // It reads the storage first.
    let f = read_id(&e);
    let (_, e) = list(c.settled(11, 0.5, f, Settled::Read(None)));
    assert_eq!(
        posts(&e),
        0,
        "the rotated-away token in memory is never presented"
    );
    assert!(matches!(events(&e)[..], [Event::Expired(_)]));
    assert!(!c.signed_in());
    assert!(settled_with(&e, p.unwrap()).is_some());
}

/// A message of `kind` from another tab: `access` for subject `sub`, valid for `lifetime` ms.
fn message(
    c: &mut Client<V>,
    now: u64,
    kind: Option<&str>,
    access: Option<&str>,
    sub: Option<&str>,
    lifetime: f64,
) -> Effects {
    let (_, e) = list(c.tab_message(
        now,
        kind,
        access.map(str::to_owned),
        sub.map(str::to_owned),
        lifetime,
        false,
    ));
    e
}

#[test]
fn tab_messages_are_hints() {
    // A signed-out tab: nothing is ever signed in by a message, a token of any subject included.
    let mut c = body_client();
    for kind in [Some("token"), Some("logout"), Some("nonsense"), None] {
        let e = message(&mut c, 0, kind, Some("t"), Some("alice"), 900_000.0);
        assert!(e.is_empty(), "{kind:?}");
        assert!(!c.signed_in());
    }
    // A signed-in tab: a logout is checked with a refresh; malformed messages and tokens of
    // another subject are ignored.
    login(&mut c, 0, "a1", Some("srt_1"));
    let expires = c.expires_at();
    for (kind, access, sub, lifetime) in [
        (Some("token"), None, Some("alice"), 900_000.0),
        (Some("token"), Some("forged"), Some("mallory"), 900_000.0),
        (Some("token"), Some("forged"), None, 900_000.0),
        (Some("token"), Some("t"), Some("alice"), f64::NAN),
        (Some("token"), Some("t"), Some("alice"), -1.0),
        (Some("nonsense"), Some("t"), Some("alice"), 900_000.0),
        (None, Some("t"), Some("alice"), 900_000.0),
    ] {
        let e = message(&mut c, 1, kind, access, sub, lifetime);
        assert!(e.is_empty(), "{kind:?} {access:?} {sub:?} {lifetime}");
        assert_eq!(c.expires_at(), expires);
    }
    let e = message(&mut c, 2, Some("logout"), None, None, f64::NAN);
    assert!(events(&e).is_empty(), "no logout on a message's word");
    assert!(c.signed_in());
    let f = post_id(&e, Endpoint::Refresh);
    // The session is alive: nothing changes but the token.
    let (_, e) = list(c.settled(3, 0.5, f, ok("a2", Some("srt_2"))));
    assert!(matches!(
        events(&e)[..],
        [Event::Refresh {
            source: Source::Network,
            ..
        }]
    ));
    assert!(c.signed_in());
    // The session is over: the check ends it.
    let e = message(&mut c, 4, Some("logout"), None, None, f64::NAN);
    let f = post_id(&e, Endpoint::Refresh);
    let (_, e) = list(c.settled(5, 0.5, f, response(401, None)));
    assert!(matches!(events(&e)[..], [Event::Expired(_)]));
    assert!(!c.signed_in());
}

#[test]
fn a_refresh_shares_the_access_token_never_the_refresh_token() {
    let mut c = storage_client();
    login(&mut c, 0, "a1", Some("srt_1"));
    let (_, e) = list(c.refresh(1_000, false));
    let f = read_id(&e);
    let (_, e) = list(c.settled(1_001, 0.5, f, Settled::Read(Some("srt_1".into()))));
    let f = post_id(&e, Endpoint::Refresh);
    let (_, e) = list(c.settled(1_002, 0.5, f, ok("a2", Some("srt_2"))));
    let sent: Vec<_> = e
        .iter()
        .filter_map(|x| match x {
            Effect::Broadcast(m) => Some(m.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        sent,
        vec![Message::Token {
            access: "a2".into(),
            lifetime: Some(900_000),
        }]
    );
    // The rotated refresh token goes to the storage only.
    assert!(e.iter().any(|x| matches!(x,
        Effect::Storage { action: StorageAction::Write(t), .. } if t == "srt_2")));
}

#[test]
fn another_tabs_token_is_adopted_and_saves_the_waiting_tab_its_request() {
    let o = parse(&[]).unwrap();
    let mut c = Client::new(&o, true);
    login(&mut c, 0, "a1", None);
    let due = c.next_refresh_at().unwrap();
    let (_, e) = list(c.timer(due));
    let f = match e[..] {
        [Effect::Lock(f), ..] | [_, Effect::Lock(f), ..] => f,
        _ => panic!("{e:?}"),
    };
    // While this tab waits for the lock, the tab holding it refreshes and tells.
    let e = message(
        &mut c,
        due + 5,
        Some("token"),
        Some("t2"),
        Some("alice"),
        899_990.0,
    );
    assert!(matches!(
        events(&e)[..],
        [Event::Refresh {
            source: Source::Tab,
            ..
        }]
    ));
    let (_, e) = list(c.lock_granted(due + 6, f));
    assert_eq!(posts(&e), 0, "one refresh across the tabs");
    assert!(e.contains(&Effect::Release(f)));
    assert_eq!(c.refresh_count(), 0);
    // A token of another subject would not have done it.
    let due = c.next_refresh_at().unwrap();
    let (_, e) = list(c.timer(due));
    let f = match e[..] {
        [Effect::Lock(f), ..] | [_, Effect::Lock(f), ..] => f,
        _ => panic!("{e:?}"),
    };
    let e = message(
        &mut c,
        due + 5,
        Some("token"),
        Some("t3"),
        Some("mallory"),
        900_000.0,
    );
    assert!(e.is_empty());
    let (_, e) = list(c.lock_granted(due + 6, f));
    assert_eq!(post_id(&e, Endpoint::Refresh), f);
}

#[test]
fn the_timer_refreshes_and_is_rearmed_for_long_waits() {
    let mut c = client(&[]);
    let _ = c
        .set_session(0, Some(tokens("a1", None, 90.0 * 24.0 * 3600.0)))
        .unwrap();
    assert_eq!(
        c.next_refresh_at(),
        Some(90 * 24 * 3600 * 1000 - 90 * 24 * 360 * 1000)
    );
    let (_, e) = list(c.timer(0x7fff_ffff));
    assert_eq!(posts(&e), 0, "an early firing refreshes nothing");
    assert!(matches!(e[..], [Effect::Timer(Some(_))]), "re-armed: {e:?}");
    let due = c.next_refresh_at().unwrap();
    let (_, e) = list(c.timer(due));
    assert_eq!(posts(&e), 1);
}

#[test]
fn wake_up_refreshes_a_due_token() {
    let mut c = client(&[]);
    login(&mut c, 0, "a1", None);
    let (_, e) = list(c.wake(1_000, false));
    assert!(e.is_empty(), "fresh: nothing to do");
    let (_, e) = list(c.wake(20 * MIN, false));
    assert_eq!(posts(&e), 1);
}

#[test]
fn storage_failures_are_reported() {
    let mut c = storage_client();
    let e = login(&mut c, 0, "a1", Some("srt_1"));
    let write = e.iter().find_map(|x| match x {
        Effect::Storage {
            id,
            action: StorageAction::Write(_),
        } => Some(*id),
        _ => None,
    });
    let (_, e) = list(c.settled(1, 0.5, write.unwrap(), Settled::Failed));
    let error = AuthError::from(ErrorCode::Storage);
    assert_eq!(
        events(&e),
        vec![Event::Error {
            error,
            retry_in: None
        }]
    );
}

#[test]
fn dispose_closes_and_refuses_everything_after() {
    let mut c = client(&[]);
    login(&mut c, 0, "a1", None);
    let (_, e) = list(c.refresh(1, false));
    let f = post_id(&e, Endpoint::Refresh);
    let (_, e) = list(c.dispose());
    assert_eq!(e, vec![Effect::Close]);
    assert!(!c.signed_in());
    let (_, e) = list(c.settled(2, 0.5, f, ok("late", None)));
    assert!(e.is_empty(), "a result after dispose is ignored");
    let disposed = Some(err(ErrorCode::Disposed, None));
    let (p, e) = list(c.fetch(3, "r".into(), "https://app.example/api", false, false));
    assert_eq!(settled_with(&e, p.unwrap()), disposed);
    let (p, e) = list(c.login(3, "u".into(), "pw".into()));
    assert_eq!(settled_with(&e, p.unwrap()), disposed);
    assert_eq!(c.on(Some("refresh"), true), Err(ErrorCode::Disposed.into()));
    assert!(c.timer(4).into_iter().next().is_none());
    assert!(c.dispose().into_iter().next().is_none(), "once");
}

#[test]
fn listeners_need_a_known_event_and_a_function() {
    let c = client(&[]);
    assert_eq!(c.on(Some("expired"), true), Ok(EventKind::Expired));
    assert_eq!(
        c.on(Some("nope"), true),
        Err(ErrorCode::InvalidOptions.into())
    );
    assert_eq!(c.on(None, true), Err(ErrorCode::InvalidOptions.into()));
    assert_eq!(
        c.on(Some("refresh"), false),
        Err(ErrorCode::InvalidOptions.into())
    );
}

// ----- options -----

#[test]
fn options_have_their_defaults() {
    let o = parse(&[]).unwrap();
    assert_eq!(o.config, ClientConfig::DEFAULT);
    assert_eq!(o.transport, Transport::Cookie);
    assert_eq!(o.request_timeout_ms, 10_000);
    assert_eq!((o.fetch, o.storage), (None, None));
    assert!(o.cross_tab);
    assert_eq!(o.channel_name, "silent-refresh");
    assert_eq!(o.storage_key, "silent-refresh:refresh_token");
    assert_eq!(
        o.scope.endpoints,
        ["/auth/login", "/auth/refresh", "/auth/logout"].map(|p| format!("{PAGE}{p}"))
    );
    assert_eq!(o.scope.origins, vec![format!("{PAGE}/")]);
}

#[test]
fn options_are_read_as_given() {
    let o = parse(&[
        ("baseUrl", text("https://api.example.com/")),
        ("mode", text("body")),
        ("refreshMargin", OptionValue::Number(400.5)),
        ("requestTimeout", OptionValue::Number(0.0)),
        ("retryBaseDelay", OptionValue::Number(40.0)),
        ("retryMaxDelay", OptionValue::Number(320.0)),
        ("maxRefreshesPerMinute", OptionValue::Number(3.0)),
        ("fetch", OptionValue::Function("f".into())),
        ("storage", OptionValue::Null),
        ("crossTab", OptionValue::Bool(false)),
        ("channelName", text("app")),
        ("refreshPath", text("/token")),
    ])
    .unwrap();
    assert_eq!(o.transport, Transport::Body);
    assert_eq!(o.config.refresh_margin_ms, Some(400));
    assert_eq!(o.request_timeout_ms, 1, "at least 1 ms");
    assert_eq!(
        (
            o.config.retry_base_ms,
            o.config.retry_max_ms,
            o.config.max_refreshes_per_minute
        ),
        (40, 320, 3)
    );
    assert_eq!((o.fetch.as_deref(), o.storage), (Some("f"), None));
    assert!(!o.cross_tab);
    assert_eq!(o.storage_key, "app:refresh_token");
    assert_eq!(
        o.scope.endpoints[0], "https://api.example.com/auth/login",
        "trailing slash tolerated"
    );
    assert_eq!(o.scope.endpoints[1], "https://api.example.com/token");
    assert_eq!(
        o.scope.origins,
        vec!["https://api.example.com/".to_owned()],
        "the origin of the endpoints"
    );
}

#[test]
fn invalid_options_are_refused() {
    use OptionValue::*;
    assert_eq!(
        Options::<V>::parse(None, resolve),
        Err(ErrorCode::InvalidOptions),
        "not an object"
    );
    let bad: Vec<(&str, OptionValue<V>)> = vec![
        ("mode", text("x")),
        ("mode", Bool(true)),
        ("baseUrl", Number(1.0)),
        ("baseUrl", text("ftp:x")),
        ("refreshMargin", Number(-1.0)),
        ("requestTimeout", Number(f64::INFINITY)),
        ("retryBaseDelay", Number(f64::NAN)),
        ("retryMaxDelay", text("5")),
        ("maxRefreshesPerMinute", Null),
        ("fetch", Number(3.0)),
        ("fetch", Object("o".into())),
        ("fetch", Null),
        ("storage", Function("f".into())),
        ("storage", text("s")),
        ("crossTab", Number(1.0)),
        ("channelName", Bool(true)),
        ("loginPath", Number(1.0)),
        ("bearerOrigins", Number(5.0)),
        ("bearerOrigins", List(vec![text("not a url")])),
        ("bearerOrigins", List(vec![Number(1.0)])),
        ("dpop", Object("module".into())),
        ("dpop", Function("f".into())),
        ("dpop", Null),
        ("dpop", text("true")),
        ("sessionHint", text("false")),
        ("issuer", Bool(true)),
        ("tokenEndpoint", Number(1.0)),
        ("redirectUri", Object("url".into())),
        ("resource", Null),
    ];
    for (name, value) in bad {
        assert_eq!(
            parse(&[(name, value.clone())]),
            Err(ErrorCode::InvalidOptions),
            "{name}: {value:?}"
        );
    }
}

#[test]
fn the_hint_and_sign_in_options_are_taken_when_well_typed() {
    use OptionValue::*;
    let sign_in: Vec<(&str, OptionValue<V>)> = [
        "issuer",
        "authorizationEndpoint",
        "tokenEndpoint",
        "endSessionEndpoint",
        "redirectUri",
        "audience",
        "resource",
    ]
    .map(|name| (name, text("https://id.example.com/x")))
    .into_iter()
    .chain([("mode", text("body")), ("sessionHint", Bool(false))])
    .collect();
    assert!(parse(&sign_in).is_ok());
}

#[test]
fn adapter_options_for_other_backends_are_read_and_checked() {
    let list = |v: &[f64]| OptionValue::List(v.iter().map(|n| OptionValue::Number(*n)).collect());
    let o = parse(&[
        ("mode", text("body")),
        ("sessionEndingStatuses", list(&[401.0, 403.0, 463.0])),
        ("mapTokenResponse", OptionValue::Function("map".into())),
        ("revokePath", text("/token/revocation")),
    ])
    .unwrap();
    let ending = o.config.session_ending;
    assert!(ending.contains(401) && ending.contains(403) && ending.contains(463));
    assert!(!ending.contains(400) && !ending.contains(404) && !ending.contains(429));
    assert_eq!(o.map_token_response.as_deref(), Some("map"));
    let revoke = format!("{PAGE}/token/revocation");
    assert_eq!(o.revoke_url, Some(revoke), "resolved against the base URL");
    let cookie = parse(&[("revokePath", text("/token/revocation"))]).unwrap();
    assert_eq!(
        cookie.revoke_url, None,
        "cookie mode revokes with the cookie"
    );
    let o = parse(&[]).unwrap();
    assert!(o.config.session_ending.contains(401) && !o.config.session_ending.contains(403));
    assert_eq!((o.map_token_response, o.revoke_url), (None, None));
    for bad in [
        ("sessionEndingStatuses", list(&[399.0])),
        ("sessionEndingStatuses", list(&[464.0])),
        ("sessionEndingStatuses", list(&[500.0])),
        ("sessionEndingStatuses", list(&[401.5])),
        ("sessionEndingStatuses", list(&[f64::NAN])),
        (
            "sessionEndingStatuses",
            OptionValue::List(vec![text("401")]),
        ),
        ("sessionEndingStatuses", OptionValue::Number(401.0)),
        ("mapTokenResponse", OptionValue::Object("o".into())),
        ("mapTokenResponse", text("f")),
        ("revokePath", OptionValue::Number(1.0)),
    ] {
        let what = format!("{bad:?}");
        assert_eq!(
            parse(&[bad]).err(),
            Some(ErrorCode::InvalidOptions),
            "{what}"
        );
    }
}

const API: &str = "https://app.example/api";

#[test]
fn cookie_mode_restores_lazily_on_the_first_fetch_once() {
    let mut c = client(&[]);
    let (p, e) = list(c.fetch(0, "req".into(), API, false, false));
    let f = post_id(&e, Endpoint::Refresh);
    assert!(sends(&e).is_empty(), "the request waits for the restore");
    let (_, e) = list(c.settled(2, 0.5, f, ok("r1", None)));
    assert_eq!(sends(&e), vec![(p, "req".into(), Some("r1".into()), 1)]);
    assert!(c.signed_in());

    // No session: the request goes out without a token, and the next asks nothing.
    let mut c = client(&[]);
    let (p, e) = list(c.fetch(0, "req".into(), API, false, false));
    let f = post_id(&e, Endpoint::Refresh);
    let (_, e) = list(c.settled(2, 0.5, f, error_response(400, "invalid_grant")));
    assert_eq!(sends(&e), vec![(p, "req".into(), None, 0)]);
    let (p, e) = list(c.fetch(3, "req2".into(), API, false, false));
    assert_eq!(posts(&e), 0, "once per page");
    assert_eq!(p, None);
    assert_eq!(sends(&e), vec![(None, "req2".into(), None, 0)]);
    let (p, e) = list(c.refresh(4, false));
    assert_eq!(posts(&e), 0);
    assert_eq!(
        settled_with(&e, p.unwrap()),
        Some(err(ErrorCode::NotSignedIn, None))
    );
}

#[test]
fn lazy_restore_asks_nothing_when_the_hint_says_over_or_in_body_mode() {
    for (mut c, hint_over) in [(client(&[]), true), (body_client(), false)] {
        let (_, e) = list(c.fetch(0, "req".into(), API, false, hint_over));
        assert_eq!(posts(&e), 0);
        assert_eq!(sends(&e).len(), 1);
        assert_eq!(sends(&e)[0].2, None, "without a token");
        let (p, e) = list(c.refresh(1, hint_over));
        assert_eq!(posts(&e), 0);
        assert_eq!(
            settled_with(&e, p.unwrap()),
            Some(err(ErrorCode::NotSignedIn, None))
        );
    }
}

#[test]
fn the_first_refresh_of_a_signed_out_cookie_client_restores() {
    let mut c = client(&[]);
    let (p, e) = list(c.refresh(0, false));
    let f = post_id(&e, Endpoint::Refresh);
    let (_, e) = list(c.settled(2, 0.5, f, ok("r1", None)));
    assert_eq!(settled_with(&e, p.unwrap()), Some(Ok(Answer::Undefined)));
    assert!(c.signed_in());
}

#[test]
fn a_token_message_makes_a_signed_out_cookie_tab_restore_with_its_own_cookie() {
    let mut c = client(&[]);
    let (_, e) = list(c.fetch(0, "req".into(), API, false, true));
    assert_eq!(
        posts(&e),
        0,
        "hint 0: the lazy restore is spent without a request"
    );
    let (_, e) = list(c.tab_message(
        1,
        Some("token"),
        Some("theirs".into()),
        Some("alice".into()),
        900_000.0,
        false,
    ));
    let f = post_id(&e, Endpoint::Refresh);
    assert!(!c.signed_in(), "the message signs nothing in");
    // More messages while it flies: no second request.
    let (_, e) = list(c.tab_message(
        2,
        Some("token"),
        Some("theirs".into()),
        Some("alice".into()),
        900_000.0,
        false,
    ));
    assert_eq!(posts(&e), 0);
    let (_, e) = list(c.settled(3, 0.5, f, ok("mine", None)));
    assert!(c.signed_in());
    assert_eq!(
        c.engine().access().map(|(t, _)| t.clone()),
        Some("mine".to_owned()),
        "its own token, not the heard one"
    );
    assert!(matches!(
        events(&e)[..],
        [Event::Refresh {
            source: Source::Restore,
            ..
        }]
    ));
    // A logout message, or a token message while the hint reads sr_session=0: no request.
    let mut c = client(&[]);
    let (_, e) = list(c.fetch(0, "req".into(), API, false, true));
    assert_eq!(posts(&e), 0);
    let (_, e) = list(c.tab_message(1, Some("logout"), None, None, f64::NAN, false));
    assert_eq!(posts(&e), 0);
    let (_, e) = list(c.tab_message(
        2,
        Some("token"),
        Some("t".into()),
        Some("alice".into()),
        900_000.0,
        true,
    ));
    assert_eq!(posts(&e), 0);
    assert!(!c.signed_in());
}

#[test]
fn a_refusal_reports_its_status_and_the_servers_error() {
    let mut c = client(&[("retryBaseDelay", OptionValue::Number(1000.0))]);
    login(&mut c, 0, "a1", None);
    let (p, e) = list(c.refresh(10, false));
    let f = post_id(&e, Endpoint::Refresh);
    let (_, e) = list(c.settled(20, 0.0, f, error_response(503, "temporarily_unavailable")));
    let error = AuthError {
        status: Some(503),
        oauth_error: Some("temporarily_unavailable".into()),
        ..ErrorCode::Server.into()
    };
    assert!(
        matches!(&events(&e)[..], [Event::Error { error: reported, retry_in: Some(_) }] if *reported == error),
        "{e:?}"
    );
    assert_eq!(settled_with(&e, p.unwrap()), Some(Err(error)));
    // The next failure without a response says nothing of the earlier refusal.
    let due = c.next_refresh_at().unwrap();
    let (_, e) = list(c.timer(due));
    let f = post_id(&e, Endpoint::Refresh);
    let (_, e) = list(c.settled(due + 5, 0.0, f, Settled::NoResponse { timed_out: false }));
    assert!(
        matches!(&events(&e)[..], [Event::Error { error, .. }] if *error == ErrorCode::Network.into()),
        "{e:?}"
    );
}

#[test]
fn in_cookie_mode_no_refresh_is_sent_while_the_hint_says_the_session_is_over() {
    let mut c = client(&[]);
    login(&mut c, 0, "a1", None);
    let due = c.next_refresh_at().unwrap();
    // Another tab signed out: the server's hint cookie now says so.
    c.session_hint(true);
    let (_, e) = list(c.timer(due));
    assert_eq!(posts(&e), 0, "no request the server would refuse");
    assert_eq!(
        events(&e),
        vec![Event::Expired(ErrorCode::SessionExpired.into())]
    );
    assert!(!c.signed_in());
    // Without the hint the same refresh goes out.
    let mut c = client(&[]);
    login(&mut c, 0, "a1", None);
    c.session_hint(false);
    let (_, e) = list(c.timer(due));
    assert_eq!(posts(&e), 1);
    // Body mode has no hint: it is ignored there.
    let mut c = body_client();
    login(&mut c, 0, "a1", Some("srt_1"));
    c.session_hint(true);
    let (_, e) = list(c.timer(due));
    assert_eq!(posts(&e), 1);
}

#[test]
fn dpop_is_on_by_default_in_body_mode_where_the_key_can_be_stored() {
    use silent_refresh::core::client::Dpop;
    assert_eq!(parse(&[]).unwrap().dpop, Dpop::Off, "cookie mode");
    assert_eq!(
        parse(&[("mode", text("body"))]).unwrap().dpop,
        Dpop::WhereStored
    );
    for mode in ["cookie", "body"] {
        let with = |on| parse(&[("mode", text(mode)), ("dpop", OptionValue::Bool(on))]);
        assert_eq!(with(true).unwrap().dpop, Dpop::Always, "{mode}");
        assert_eq!(with(false).unwrap().dpop, Dpop::Off, "{mode}");
    }
}
