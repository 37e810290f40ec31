//! The client at run time: the [`Engine`] plus everything it cannot do itself: the clock, the
//! one timer, the in-flight refresh promise, the client's own HTTP requests, event listeners,
//! the cross-tab lock and channel, wake-up listeners, and the pluggable storage.
//!
//! Discipline: a `RefCell` borrow never spans an `await` or a call into JavaScript (a listener
//! may call back into the client), so state is read and decided in short blocks and the effects
//! (events, requests) happen afterwards.
//!
//! Size discipline (the package must stay under 20 KB gzip): one closure type for every
//! callback, one future type ([`Op`]) for every promise, tokens kept as JavaScript strings.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use js_sys::Promise;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::{future_to_promise, spawn_local};

use crate::browser::js::{
    self, apply, call, clear_timeout, construct, error, get, global, global_get, http_error, json, num, object, pair,
    set, settle, U,
};
use crate::browser::options::Settings;
use crate::core::client::classify::{error_code, parse_retry_after};
use crate::core::client::schedule::lifetime_ms;
use crate::core::client::{
    Begin, ClientConfig, ElapsedClock, Engine, ErrorCode, Failure, Finished, LockCheck, Outcome, Step, Ticket,
    Transport,
};

/// Longest delay `setTimeout` accepts (2^31 - 1 ms); longer waits are re-armed.
const MAX_TIMER_MS: u64 = 0x7fff_ffff;
/// The events a listener can subscribe to, by index.
const EVENTS: [&str; 4] = ["refresh", "expired", "error", "logout"];
const REFRESH: usize = 0;
const EXPIRED: usize = 1;
const ERROR: usize = 2;
const LOGOUT: usize = 3;
/// The wake-up events: on `document` the first, on the global object the others.
const WAKE_EVENTS: [&str; 3] = ["visibilitychange", "online", "pageshow"];

/// The one callback type handed to JavaScript (timer, page events, messages, the lock).
type Callback = Closure<dyn FnMut(JsValue) -> JsValue>;

/// An access token as kept by the engine: the token and its ready-made header value.
#[derive(Clone)]
pub struct Token {
    access: JsValue,
    bearer: JsValue,
}

impl PartialEq for Token {
    fn eq(&self, other: &Token) -> bool {
        self.access == other.access
    }
}

impl Token {
    /// A token and its lifetime (from `expires_in`, else the JWT's `exp - iat`).
    fn new(access: &str, expires_in: Option<f64>) -> (Token, Option<u64>) {
        let mut bearer = String::with_capacity(7 + access.len());
        bearer.push_str("Bearer ");
        bearer.push_str(access);
        (Token { access: access.into(), bearer: bearer.into() }, lifetime_ms(expires_in, access))
    }
}

/// A token response `{access_token, expires_in?, refresh_token?}`: the token, its lifetime and
/// the refresh token; `None` without a non-empty string `access_token`.
fn read_tokens(value: &JsValue) -> Option<(Token, Option<u64>, JsValue)> {
    let access = get(value, "access_token").as_string().filter(|s| !s.is_empty())?;
    let (token, lifetime) = Token::new(&access, get(value, "expires_in").as_f64());
    let refresh = get(value, "refresh_token");
    Some((token, lifetime, if refresh.is_string() { refresh } else { U }))
}

/// The asynchronous operations; each exported promise is one of them.
pub enum Op {
    /// `fetch(input, init)`.
    Fetch(JsValue, JsValue),
    /// `login(username, password)`.
    Login(JsValue, JsValue),
    /// `logout()`.
    Logout,
    /// `restore()`.
    Restore,
    /// `refresh()`.
    Refresh,
    /// The refresh owned by a ticket.
    Flight(Ticket),
}

/// How the refresh went, as seen by the task that owned it.
enum Done {
    /// The ticket was void when the lock was taken, or another tab had refreshed meanwhile.
    Nothing,
    /// A request was made.
    Finished(Finished),
}

/// The shared state behind an `AuthClient`.
pub struct Inner {
    s: Settings,
    core: RefCell<Engine<Token>>,
    clock: Cell<ElapsedClock>,
    /// Body mode: the current refresh token (a string, or `undefined`).
    refresh_token: RefCell<JsValue>,
    /// The refresh in flight and the promise its waiters await.
    flight: RefCell<Option<(Ticket, Promise)>>,
    listeners: RefCell<Vec<(usize, JsValue)>>,
    /// The armed timer: its deadline (engine clock) and id.
    timer: RefCell<Option<(u64, JsValue)>>,
    /// Timer, wake-up and message callbacks, dropped by `dispose`.
    callbacks: RefCell<Vec<Callback>>,
    channel: RefCell<JsValue>,
    disposed: Cell<bool>,
}

fn callback(weak: &Weak<Inner>, f: fn(Rc<Inner>, JsValue)) -> Callback {
    let weak = weak.clone();
    Closure::new(move |arg: JsValue| {
        if let Some(me) = weak.upgrade() {
            if !me.disposed.get() {
                f(me, arg);
            }
        }
        U
    })
}

/// The page event targets: `document` for `visibilitychange`, the global object otherwise.
fn wake_target(i: usize) -> JsValue {
    if i == 0 {
        global_get("document")
    } else {
        global()
    }
}

impl Inner {
    /// Builds the client and installs its timer callback, wake-up listeners and channel.
    pub fn new(config: ClientConfig, s: Settings) -> Rc<Inner> {
        let me = Rc::new_cyclic(|weak: &Weak<Inner>| {
            let mut callbacks = vec![
                callback(weak, Inner::on_timer),
                callback(weak, |me, event| me.on_wake(&get(&event, "type"))),
            ];
            let mut channel = U;
            if s.cross_tab {
                if let Ok(c) = construct("BroadcastChannel", &s.name, &U) {
                    let on_message = callback(weak, |me, event| me.on_message(&get(&event, "data")));
                    set(&c, "onmessage", on_message.as_ref());
                    callbacks.push(on_message);
                    channel = c;
                }
            }
            Inner {
                s,
                core: RefCell::new(Engine::new(config)),
                clock: Cell::new(ElapsedClock::default()),
                refresh_token: RefCell::new(U),
                flight: RefCell::new(None),
                listeners: RefCell::new(Vec::new()),
                timer: RefCell::new(None),
                callbacks: RefCell::new(callbacks),
                channel: RefCell::new(channel),
                disposed: Cell::new(false),
            }
        });
        me.now();
        me.wake_listeners("addEventListener");
        me
    }

    fn wake_listeners(&self, method: &str) {
        let callbacks = self.callbacks.borrow();
        if let Some(wake) = callbacks.get(1) {
            for (i, kind) in WAKE_EVENTS.iter().enumerate() {
                let _ = call(&wake_target(i), method, &(*kind).into(), wake.as_ref());
            }
        }
    }

    // ----- clock, state, events -----

    fn now(&self) -> u64 {
        let mut clock = self.clock.get();
        let now = clock.observe(js::performance_now(), js::date_now());
        self.clock.set(clock);
        now
    }

    /// Converts an engine instant into Unix milliseconds, for display.
    fn wall(&self, at: Option<u64>) -> Option<f64> {
        Some(js::date_now() + (at? as f64 - self.now() as f64))
    }

    /// `Err(ERR_DISPOSED)` once disposed.
    fn check(&self) -> Result<(), JsValue> {
        if self.disposed.get() {
            return Err(error(ErrorCode::Disposed));
        }
        Ok(())
    }

    /// Whether a session is held.
    pub fn signed_in(&self) -> bool {
        self.core.borrow().signed_in()
    }

    /// Expiry of the access token, Unix ms.
    pub fn expires_at(&self) -> Option<f64> {
        let at = self.core.borrow().expires_at();
        self.wall(at)
    }

    /// Time of the next scheduled refresh (or retry), Unix ms.
    pub fn next_refresh_at(&self) -> Option<f64> {
        let at = self.core.borrow().deadline();
        self.wall(at)
    }

    /// Refresh requests sent by this client.
    pub fn refresh_count(&self) -> u32 {
        self.core.borrow().refresh_count()
    }

    fn current(&self) -> Option<(JsValue, u32)> {
        self.core.borrow().access().map(|(t, g)| (t.bearer.clone(), g))
    }

    /// `on(type, listener)`.
    pub fn on(&self, kind: &str, listener: JsValue) -> Result<(), JsValue> {
        self.check()?;
        match EVENTS.iter().position(|e| *e == kind) {
            Some(i) if listener.is_function() => {
                self.listeners.borrow_mut().push((i, listener));
                Ok(())
            }
            _ => Err(error(ErrorCode::InvalidOptions)),
        }
    }

    /// `off(type, listener)`.
    pub fn off(&self, kind: &str, listener: &JsValue) {
        self.listeners.borrow_mut().retain(|(i, f)| EVENTS[*i] != kind || f != listener);
    }

    fn emit(&self, kind: usize, key: &str, value: &JsValue, key2: &str, value2: &JsValue) {
        let targets: Vec<JsValue> =
            self.listeners.borrow().iter().filter(|(i, _)| *i == kind).map(|(_, f)| f.clone()).collect();
        if targets.is_empty() || self.disposed.get() {
            return;
        }
        let event = object();
        set(&event, "type", &EVENTS[kind].into());
        set(&event, key, value);
        set(&event, key2, value2);
        for f in targets {
            // A throwing listener must not break the client.
            let _ = apply(&f, &U, &event, &U);
        }
    }

    fn emit_refresh(&self, source: &str) {
        let expires = self.expires_at().map_or(U, num);
        self.emit(REFRESH, "source", &source.into(), "expiresAt", &expires);
    }

    fn emit_error(&self, err: &JsValue, retry_in: Option<u64>) {
        self.emit(ERROR, "error", err, "retryIn", &retry_in.map_or(U, |ms| num(ms as f64)));
    }

    // ----- the timer and the page -----

    /// Arms the one timer for the engine's deadline (or clears it).
    fn arm(&self) {
        let want = if self.disposed.get() { None } else { self.core.borrow().deadline() };
        let mut timer = self.timer.borrow_mut();
        if timer.as_ref().map(|t| t.0) == want {
            return;
        }
        if let Some((_, id)) = timer.take() {
            clear_timeout(&id);
        }
        let callbacks = self.callbacks.borrow();
        if let (Some(at), Some(cb)) = (want, callbacks.first()) {
            let delay = at.saturating_sub(self.now()).min(MAX_TIMER_MS);
            *timer = Some((at, js::set_timeout(cb.as_ref(), delay as f64)));
        }
    }

    fn on_timer(self: Rc<Self>, _: JsValue) {
        self.timer.borrow_mut().take();
        let step = self.core.borrow_mut().timer(self.now());
        self.automatic(step);
    }

    fn on_wake(self: Rc<Self>, kind: &JsValue) {
        if *kind == WAKE_EVENTS[0] && get(&global_get("document"), "visibilityState") != "visible" {
            return;
        }
        let step = self.core.borrow_mut().wake(self.now(), *kind == WAKE_EVENTS[1]);
        self.automatic(step);
    }

    /// Carries out a step nobody waits for (timer, wake-up), then re-arms the timer.
    fn automatic(self: Rc<Self>, step: Step) {
        match step {
            Step::Start(ticket) => {
                let _ = self.start_flight(ticket);
            }
            Step::Refused { code, report: true } => self.emit_error(&error(code), None),
            _ => {}
        }
        self.arm();
    }

    // ----- other tabs -----

    fn post_message(&self, message: &JsValue) {
        let channel = self.channel.borrow();
        let _ = call(&channel, "postMessage", message, &U);
    }

    /// Shares the current token (and in body mode the refresh token) with the other tabs.
    fn broadcast_token(&self) {
        let message = object();
        {
            let core = self.core.borrow();
            let Some((token, _)) = core.access() else { return };
            let ms = |v: Option<u64>| v.map_or(U, |ms| num(ms as f64));
            set(&message, "type", &"token".into());
            set(&message, "access", &token.access);
            set(&message, "lifetime", &ms(core.lifetime_ms()));
            set(&message, "remaining", &ms(core.remaining_ms(self.now())));
        }
        set(&message, "refresh", &self.refresh_token.borrow());
        self.post_message(&message);
    }

    fn on_message(self: Rc<Self>, data: &JsValue) {
        let kind = get(data, "type");
        if kind == "logout" {
            self.signed_out("tab");
            return;
        }
        let Some(access) = get(data, "access").as_string().filter(|_| kind == "token") else {
            return;
        };
        let ms = |key| get(data, key).as_f64().filter(|v| *v >= 0.0).map(|v| v as u64);
        let (token, _) = Token::new(&access, None);
        let adopted = self.core.borrow_mut().adopt(token, ms("lifetime"), ms("remaining"), self.now());
        if adopted.is_some() {
            let refresh = get(data, "refresh");
            if self.s.transport == Transport::Body && refresh.is_string() {
                *self.refresh_token.borrow_mut() = refresh;
            }
            self.arm();
            self.emit_refresh("tab");
        }
    }

    /// Local effects of a logout (here: `source` "local", or in another tab: "tab").
    fn signed_out(&self, source: &str) {
        let was = self.core.borrow_mut().sign_out();
        self.flight.borrow_mut().take();
        *self.refresh_token.borrow_mut() = U;
        self.arm();
        if was {
            self.emit(LOGOUT, "source", &source.into(), "", &U);
        }
    }

    // ----- operations -----

    /// Runs `op` as a promise.
    pub fn promise(self: &Rc<Self>, op: Op) -> Promise {
        let me = self.clone();
        future_to_promise(async move {
            me.check()?;
            match op {
                Op::Fetch(input, init) => me.fetch(input, init).await,
                Op::Login(username, password) => me.login(username, password).await,
                Op::Logout => me.logout().await,
                Op::Restore => me.restore().await,
                Op::Refresh => me.refresh().await,
                Op::Flight(ticket) => Ok(me.flight(ticket).await),
            }
        })
    }

    // ----- the refresh -----

    /// Starts the refresh of `ticket`; its promise resolves (never rejects) to `true`/`false`
    /// (signed in afterwards) or to the `Error` it failed with.
    fn start_flight(self: &Rc<Self>, ticket: Ticket) -> Promise {
        let promise = self.promise(Op::Flight(ticket));
        *self.flight.borrow_mut() = Some((ticket, promise.clone()));
        self.arm();
        promise
    }

    /// Waits for the refresh in flight; its result (see [`Inner::start_flight`]).
    async fn join(&self) -> JsValue {
        let promise = self.flight.borrow().as_ref().map(|f| JsValue::from(&f.1));
        match promise {
            Some(p) => settle(&p).await.unwrap_or_else(|e| e),
            None => JsValue::from(self.signed_in()),
        }
    }

    fn end_flight(&self, ticket: Ticket) {
        let mut flight = self.flight.borrow_mut();
        if flight.as_ref().is_some_and(|f| f.0 == ticket) {
            *flight = None;
        }
    }

    async fn flight(self: Rc<Self>, ticket: Ticket) -> JsValue {
        let done = self.clone().with_lock(ticket).await;
        self.end_flight(ticket);
        let value = match done {
            Done::Nothing | Done::Finished(Finished::Discarded) => JsValue::from(self.signed_in()),
            Done::Finished(Finished::Refreshed) => {
                self.emit_refresh("network");
                JsValue::TRUE
            }
            Done::Finished(Finished::Restored) => {
                self.emit_refresh("restore");
                JsValue::TRUE
            }
            Done::Finished(Finished::Expired) => {
                self.forget_refresh_token().await;
                let err = error(ErrorCode::SessionExpired);
                self.emit(EXPIRED, "error", &err, "", &U);
                err
            }
            Done::Finished(Finished::NoSession) => {
                self.forget_refresh_token().await;
                JsValue::FALSE
            }
            Done::Finished(Finished::Retry { code, delay_ms }) => {
                let err = error(code);
                self.emit_error(&err, Some(delay_ms));
                err
            }
            Done::Finished(Finished::Failed(code)) => error(code),
        };
        self.arm();
        value
    }

    /// Runs [`Inner::locked`] holding the Web Lock (when available; else, or if the lock is
    /// refused, without it).
    async fn with_lock(self: Rc<Self>, ticket: Ticket) -> Done {
        let promise = global_get("Promise");
        let locks = &self.s.locks;
        if !locks.is_object() {
            return self.locked(ticket).await;
        }
        // `acquired` is resolved by the lock callback; the lock is held until `held` resolves.
        let (Ok(acquired), Ok(held)) =
            (call(&promise, "withResolvers", &U, &U), call(&promise, "withResolvers", &U, &U))
        else {
            return self.locked(ticket).await;
        };
        let (resolve, hold) = (get(&acquired, "resolve"), get(&held, "promise"));
        let on_lock: Callback = Closure::new(move |_lock: JsValue| {
            let _ = apply(&resolve, &U, &U, &U);
            hold.clone()
        });
        let request = call(locks, "request", &self.s.name, on_lock.as_ref());
        let granted = match request {
            // Granted, unless the request fails first.
            Ok(request) => {
                let race = call(&promise, "race", &pair(&get(&acquired, "promise"), &request), &U).unwrap_or(U);
                settle(&race).await.is_ok()
            }
            Err(_) => false,
        };
        let done = self.locked(ticket).await;
        if granted {
            let _ = call(&held, "resolve", &U, &U);
        }
        drop(on_lock);
        done
    }

    /// The refresh proper, inside the lock: re-check, send, record the result, share it.
    async fn locked(self: Rc<Self>, ticket: Ticket) -> Done {
        match self.core.borrow_mut().lock_acquired(ticket, self.now()) {
            LockCheck::Stale => return Done::Nothing,
            LockCheck::Fresh => {
                self.end_flight(ticket);
                return Done::Nothing;
            }
            LockCheck::Proceed => {}
        }
        let body = if self.s.transport == Transport::Body {
            // Another tab may have rotated the token into the shared storage.
            let stored = self.storage(0, &U).await;
            if stored.is_string() {
                *self.refresh_token.borrow_mut() = stored;
            }
            let token = self.refresh_token.borrow().clone();
            if !token.is_string() {
                // Nothing to refresh with: as good as a dead refresh token.
                let f = Failure::Http { status: 400, error: Some("invalid_grant".into()), retry_after_ms: None };
                return Done::Finished(self.core.borrow_mut().finish(ticket, Outcome::Failure(f), self.now(), 0.5));
            }
            token_body(&token)
        } else {
            U
        };
        self.core.borrow_mut().sent(self.now());
        let (outcome, rotated) = self.refresh_request(&body).await;
        let finished = self.core.borrow_mut().finish(ticket, outcome, self.now(), js::random());
        self.end_flight(ticket);
        if matches!(finished, Finished::Refreshed | Finished::Restored) {
            if rotated.is_string() && self.s.transport == Transport::Body {
                *self.refresh_token.borrow_mut() = rotated.clone();
                self.storage(1, &rotated).await;
            }
            self.broadcast_token();
        }
        Done::Finished(finished)
    }

    async fn refresh_request(&self, body: &JsValue) -> (Outcome<Token>, JsValue) {
        let (resp, signal) = match self.post(1, body).await {
            Ok(r) => r,
            Err(f) => return (Outcome::Failure(f), U),
        };
        let status = status(&resp);
        let json = read_json(&resp).await;
        if (200..300).contains(&status) {
            return match read_tokens(&json) {
                Some((access, lifetime_ms, refresh)) => (Outcome::Success { access, lifetime_ms }, refresh),
                None if aborted(&signal) => (Outcome::Failure(Failure::Timeout), U),
                None => (Outcome::Failure(Failure::BadResponse), U),
            };
        }
        let retry_after = call(&get(&resp, "headers"), "get", &"retry-after".into(), &U).unwrap_or(U).as_string();
        let failure = Failure::Http {
            status,
            error: get(&json, "error").as_string(),
            retry_after_ms: retry_after.as_deref().and_then(parse_retry_after),
        };
        (Outcome::Failure(failure), U)
    }

    // ----- requests -----

    /// Calls the configured `fetch` with `request`; its result or rejection, unchanged.
    async fn send(&self, request: &JsValue) -> Result<JsValue, JsValue> {
        settle(&apply(&self.s.fetch, &global(), request, &U)?).await
    }

    /// A request of the client itself to endpoint `which` (0 login, 1 refresh, 2 logout):
    /// POST, JSON body (unless `undefined`), the cookie-transport header and credentials, the
    /// request timeout. Returns the response and the timeout's signal.
    async fn post(&self, which: usize, body: &JsValue) -> Result<(JsValue, JsValue), Failure> {
        let init = object();
        let headers = object();
        set(&init, "method", &"POST".into());
        if !body.is_undefined() {
            set(&headers, "Content-Type", &"application/json".into());
            set(&init, "body", body);
        }
        if self.s.transport == Transport::Cookie {
            set(&headers, "X-Silent-Refresh", &"1".into());
            set(&init, "credentials", &"include".into());
        }
        set(&init, "headers", &headers);
        let signal = call(&global_get("AbortSignal"), "timeout", &num(self.s.timeout_ms), &U).unwrap_or(U);
        set(&init, "signal", &signal);
        let url = JsValue::from_str(&self.s.endpoints[which]);
        let request = construct("Request", &url, &init).map_err(|_| Failure::Network)?;
        match self.send(&request).await {
            Ok(resp) => Ok((resp, signal)),
            Err(_) if aborted(&signal) => Err(Failure::Timeout),
            Err(_) => Err(Failure::Network),
        }
    }

    /// Whether `fetch` manages this request: addressed to one of the bearer origins, not to
    /// one of the client's endpoints, and without an `Authorization` set by the caller.
    fn manages(&self, request: &JsValue) -> bool {
        let Some(url) = get(request, "url").as_string() else { return false };
        let to_origin = self.s.origins.iter().any(|o| {
            url.strip_prefix(o.as_str()).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        });
        let path = url.split(['?', '#']).next().unwrap_or_default();
        let has_auth = call(&get(request, "headers"), "has", &"authorization".into(), &U);
        to_origin && !self.s.endpoints.iter().any(|e| e == path) && has_auth.is_ok_and(|v| v == JsValue::FALSE)
    }

    /// `auth.fetch(input, init)`.
    async fn fetch(self: Rc<Self>, input: JsValue, init: JsValue) -> Result<JsValue, JsValue> {
        let request = construct("Request", &input, &init)?;
        if !self.manages(&request) {
            return self.send(&request).await;
        }
        let step = self.core.borrow_mut().before_send(self.now());
        self.wait(step).await;
        let Some((bearer, sent)) = self.current() else {
            return self.send(&request).await;
        };
        // Kept for the replay: a request body can be sent only once.
        let spare = call(&request, "clone", &U, &U)?;
        authorize(&request, &bearer);
        let response = self.send(&request).await?;
        if status(&response) != 401 {
            return Ok(response);
        }
        let step = self.core.borrow_mut().unauthorized(sent, self.now());
        if step != Step::Replay && !self.wait(step).await {
            return Ok(response);
        }
        match self.current() {
            Some((bearer, generation)) if generation != sent => {
                authorize(&spare, &bearer);
                self.send(&spare).await
            }
            _ => Ok(response),
        }
    }

    /// Carries out a step a request waits on; whether a refresh was awaited.
    async fn wait(self: &Rc<Self>, step: Step) -> bool {
        match step {
            Step::Start(ticket) => {
                let _ = settle(&self.start_flight(ticket)).await;
                true
            }
            Step::Await => {
                self.join().await;
                true
            }
            Step::Refused { code, report } => {
                if report {
                    self.emit_error(&error(code), None);
                }
                false
            }
            Step::Proceed | Step::Replay => false,
        }
    }

    /// `refresh()` and `restore()`: carry out `begin`, then map the flight's result.
    async fn begun(self: &Rc<Self>, begin: Begin) -> Result<JsValue, JsValue> {
        let value = match begin {
            Begin::Start(ticket) => settle(&self.start_flight(ticket)).await?,
            Begin::Join => self.join().await,
            Begin::Refused(code) => return Err(error(code)),
        };
        if value.is_object() {
            return Err(value);
        }
        Ok(value)
    }

    /// `refresh()`: resolves once a new token is held.
    async fn refresh(self: Rc<Self>) -> Result<JsValue, JsValue> {
        let begin = self.core.borrow_mut().manual(self.now());
        if self.begun(begin).await? == JsValue::FALSE {
            return Err(error(ErrorCode::NotSignedIn));
        }
        Ok(U)
    }

    /// `restore()`: `true` if a session was found (cookie, or stored refresh token).
    async fn restore(self: Rc<Self>) -> Result<JsValue, JsValue> {
        if self.signed_in() {
            return Ok(JsValue::TRUE);
        }
        if self.s.transport == Transport::Body && !self.refresh_token.borrow().is_string() {
            let stored = self.storage(0, &U).await;
            if !stored.is_string() {
                return Ok(JsValue::FALSE);
            }
            *self.refresh_token.borrow_mut() = stored;
        }
        let begin = self.core.borrow_mut().restore(self.now());
        self.begun(begin).await?;
        Ok(JsValue::from(self.signed_in()))
    }

    /// `login(username, password)`.
    async fn login(self: Rc<Self>, username: JsValue, password: JsValue) -> Result<JsValue, JsValue> {
        let body = object();
        set(&body, "username", &username);
        set(&body, "password", &password);
        set(&body, "transport", &self.s.transport.as_str().into());
        let (resp, signal) = self.post(0, &json(&body)).await.map_err(|f| error(error_code(&f)))?;
        let status = status(&resp);
        let json = read_json(&resp).await;
        if !(200..300).contains(&status) {
            let code = match status {
                401 => ErrorCode::InvalidCredentials,
                _ => error_code(&Failure::Http { status, error: get(&json, "error").as_string(), retry_after_ms: None }),
            };
            return Err(http_error(code, status));
        }
        let code = if aborted(&signal) { ErrorCode::Timeout } else { ErrorCode::BadResponse };
        let tokens = read_tokens(&json).ok_or_else(|| error(code))?;
        self.check()?;
        let refresh = self.begin_session(tokens);
        self.storage(1, &refresh).await;
        Ok(U)
    }

    /// `setSession(tokens)`.
    pub fn set_session(self: &Rc<Self>, tokens: &JsValue) -> Result<(), JsValue> {
        self.check()?;
        let tokens = read_tokens(tokens).ok_or_else(|| error(ErrorCode::InvalidOptions))?;
        let refresh = self.begin_session(tokens);
        let me = self.clone();
        spawn_local(async move {
            me.storage(1, &refresh).await;
        });
        Ok(())
    }

    /// Starts a session; returns the refresh token to persist (body mode; else `undefined`).
    fn begin_session(&self, (token, lifetime, refresh): (Token, Option<u64>, JsValue)) -> JsValue {
        self.core.borrow_mut().start_session(token, lifetime, self.now());
        self.flight.borrow_mut().take();
        let refresh = if self.s.transport == Transport::Body { refresh } else { U };
        if refresh.is_string() {
            *self.refresh_token.borrow_mut() = refresh.clone();
        }
        self.broadcast_token();
        self.arm();
        refresh
    }

    /// `logout()`: signs out here and in the other tabs at once, then revokes the session on
    /// the server; resolves to whether the server confirmed.
    async fn logout(self: Rc<Self>) -> Result<JsValue, JsValue> {
        let memory = self.refresh_token.borrow().clone();
        self.signed_out("local");
        let message = object();
        set(&message, "type", &"logout".into());
        self.post_message(&message);
        let body = if self.s.transport == Transport::Body {
            let token = if memory.is_string() { memory } else { self.storage(0, &U).await };
            if !token.is_string() {
                return Ok(JsValue::FALSE);
            }
            self.storage(2, &U).await;
            token_body(&token)
        } else {
            U
        };
        let confirmed = match self.post(2, &body).await {
            Ok((resp, _)) => (200..300).contains(&status(&resp)),
            Err(_) => false,
        };
        Ok(JsValue::from(confirmed))
    }

    /// `dispose()`: removes every timer, listener and channel; the client is unusable after.
    pub fn dispose(&self) {
        if self.disposed.get() {
            return;
        }
        self.wake_listeners("removeEventListener");
        self.disposed.set(true);
        self.core.borrow_mut().sign_out();
        self.flight.borrow_mut().take();
        *self.refresh_token.borrow_mut() = U;
        self.listeners.borrow_mut().clear();
        self.arm();
        let channel = self.channel.replace(U);
        set(&channel, "onmessage", &JsValue::NULL);
        let _ = call(&channel, "close", &U, &U);
        self.callbacks.borrow_mut().clear();
    }

    // ----- storage (body mode) -----

    /// Storage operation `op` (0 get, 1 set to `value` or remove if it is not a string,
    /// 2 remove); the value read (a string or `undefined`). Failures are reported as `error`
    /// events with `ERR_STORAGE`.
    async fn storage(&self, op: usize, value: &JsValue) -> JsValue {
        let storage = &self.s.storage;
        if storage.is_undefined() || self.s.transport != Transport::Body {
            return U;
        }
        let op = if op == 1 && !value.is_string() { 2 } else { op };
        // Web Storage (`localStorage`) names, or the get/set/remove of a custom object.
        const NAMES: [[&str; 3]; 2] = [["getItem", "setItem", "removeItem"], ["get", "set", "remove"]];
        let names = NAMES[usize::from(!get(storage, "getItem").is_function())];
        let result = match call(storage, names[op], &self.s.storage_key, value) {
            Ok(v) => settle(&v).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(v) if v.is_string() => v,
            Ok(_) => U,
            Err(_) => {
                self.emit_error(&error(ErrorCode::Storage), None);
                U
            }
        }
    }

    async fn forget_refresh_token(&self) {
        *self.refresh_token.borrow_mut() = U;
        self.storage(2, &U).await;
    }
}

/// `{"refresh_token": token}` as JSON.
fn token_body(token: &JsValue) -> JsValue {
    let body = object();
    set(&body, "refresh_token", token);
    json(&body)
}

/// Sets the `Authorization` header of `request`.
fn authorize(request: &JsValue, bearer: &JsValue) {
    let _ = call(&get(request, "headers"), "set", &"Authorization".into(), bearer);
}

/// A response's HTTP status (0 if it is not a response).
fn status(response: &JsValue) -> u16 {
    get(response, "status").as_f64().unwrap_or(0.0) as u16
}

fn aborted(signal: &JsValue) -> bool {
    get(signal, "aborted") == JsValue::TRUE
}

/// The response body as JSON, `undefined` if it is not JSON.
async fn read_json(response: &JsValue) -> JsValue {
    match call(response, "json", &U, &U) {
        Ok(p) => settle(&p).await.unwrap_or(U),
        Err(_) => U,
    }
}
