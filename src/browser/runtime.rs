//! The client at run time: the [`Engine`] plus everything it cannot do itself: the clock, the
//! one timer, the client's own HTTP requests, event listeners, the cross-tab lock and channel,
//! wake-up listeners and the pluggable storage.
//!
//! # Why an explicit state machine instead of `async`
//!
//! The package must stay under 20 KB gzip. Rust futures with `wasm-bindgen-futures` cost about
//! 5 KB gzip of runtime before any of our code, and every `async fn` becomes a large state
//! machine with drop glue at each `await`. So every asynchronous operation is an [`Op`] kept in a
//! table under a numeric id, and every JavaScript callback (promise reactions, the timer, page
//! events, channel messages, the lock grant, promise executors) is the *same* closure, bound to
//! a numeric tag with `Function.prototype.bind`: `tag = id * 4 + kind`. [`Inner::dispatch`]
//! decodes the tag and advances the operation one step ([`Inner::resume`]). Each step is short,
//! synchronous Rust that asks the engine, starts the next JavaScript promise, and returns the
//! operation's new state.
//!
//! Discipline: a `RefCell` borrow never spans a call into JavaScript (a listener or an injected
//! function may call back into the client; the dispatcher is an `Fn` closure and may re-enter).

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsValue;

use crate::browser::js::{
    self, apply, bind, call, clear_timeout, concat, construct, error, get, global, global_get,
    http_error, json, num, object, set, settled, U,
};
use crate::browser::options::Settings;
use crate::core::client::classify::{error_code, parse_retry_after};
use crate::core::client::schedule::lifetime_ms;
use crate::core::client::{
    Begin, ClientConfig, ElapsedClock, Engine, ErrorCode, Failure, Finished, LockCheck, Outcome,
    Step, Ticket, Transport,
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

/// Tag kinds of an operation's callbacks: `tag = id * 4 + kind`.
const FULFILLED: u32 = 0;
const REJECTED: u32 = 1;
const LOCK_GRANTED: u32 = 2;
/// Tags of the client's own callbacks (id 0).
const TIMER: u32 = 0;
const WAKE: u32 = 1;
const MESSAGE: u32 = 2;
const EXECUTOR: u32 = 3;
/// Endpoint indexes.
const LOGIN: usize = 0;
const REFRESH_ENDPOINT: usize = 1;
const LOGOUT_ENDPOINT: usize = 2;

/// The one closure handed to JavaScript: `(tag, a, b) => ...`.
type Dispatcher = Closure<dyn Fn(JsValue, JsValue, JsValue) -> JsValue>;

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
    /// A token (a JavaScript string) with its header value.
    fn new(access: JsValue) -> Token {
        let bearer = concat(&"Bearer ".into(), &access);
        Token { access, bearer }
    }
}

/// A token response `{access_token, expires_in?, refresh_token?}`: the token, its lifetime
/// (`expires_in`, else the JWT's `exp - iat`) and the refresh token (or `undefined`); `None`
/// without a non-empty string `access_token`.
fn read_tokens(value: &JsValue) -> Option<(Token, Option<u64>, JsValue)> {
    let access = get(value, "access_token");
    if !access.is_string() || access == "" {
        return None;
    }
    let lifetime = lifetime_ms(get(value, "expires_in").as_f64(), "")
        .or_else(|| access.as_string().and_then(|a| lifetime_ms(None, &a)));
    let refresh = get(value, "refresh_token");
    Some((
        Token::new(access),
        lifetime,
        if refresh.is_string() { refresh } else { U },
    ))
}

/// The resolve and reject functions of a promise handed to the caller.
struct Settle(JsValue, JsValue);

impl Settle {
    fn resolve(&self, value: &JsValue) {
        let _ = apply(&self.0, &U, value, &U);
    }

    fn reject(&self, reason: &JsValue) {
        let _ = apply(&self.1, &U, reason, &U);
    }
}

/// What an operation is waiting for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Wait {
    /// The settlement of a JavaScript promise.
    Promise,
    /// The refresh in flight.
    Flight,
    /// `fetch`: the response to the request with the token (then: the replay, `Promise`).
    Sent,
    /// `fetch`: the refresh after a 401.
    AfterFlight,
    /// A storage read.
    Storage,
    /// The flight: the lock.
    Lock,
    /// The flight: the response body.
    Json,
}

/// An asynchronous operation in progress.
enum Op {
    /// `auth.fetch(input, init)`.
    Fetch {
        settle: Settle,
        wait: Wait,
        request: JsValue,
        spare: JsValue,
        sent: u32,
        first: JsValue,
    },
    /// `login(username, password)`; `status` once the response is in.
    Login {
        settle: Settle,
        signal: JsValue,
        status: Option<u16>,
    },
    /// `logout()`.
    Logout { settle: Settle, wait: Wait },
    /// `restore()` and `refresh()` (`restore` tells which).
    Begin {
        settle: Settle,
        wait: Wait,
        restore: bool,
    },
    /// The refresh owned by `ticket`.
    Flight(Flight),
    /// A storage write: reports failures.
    Store,
}

struct Flight {
    ticket: Ticket,
    wait: Wait,
    /// The lock is held until this promise resolves (with `release`).
    hold: JsValue,
    release: JsValue,
    signal: JsValue,
    status: u16,
    retry_after: Option<u64>,
}

/// What resumes an operation.
enum Ev {
    /// A promise fulfilled.
    Ok(JsValue),
    /// A promise rejected.
    Err(JsValue),
    /// The refresh it waited for ended, with this result (`true`/`false`, or an `Error`).
    Flight(JsValue),
    /// The Web Lock was granted.
    Lock,
}

/// The shared state behind an `AuthClient`.
pub struct Inner {
    s: Settings,
    core: RefCell<Engine<Token>>,
    clock: Cell<ElapsedClock>,
    /// Body mode: the current refresh token (a string, or `undefined`).
    refresh_token: RefCell<JsValue>,
    /// The refresh in flight: its ticket and operation id.
    flight: Cell<Option<(Ticket, u32)>>,
    /// Operations waiting for a flight: (flight id, waiting op id).
    waiters: RefCell<Vec<(u32, u32)>>,
    ops: RefCell<Vec<(u32, Op)>>,
    next_id: Cell<u32>,
    listeners: RefCell<Vec<(usize, JsValue)>>,
    /// The armed timer: its deadline (engine clock) and id.
    timer: RefCell<Option<(u64, JsValue)>>,
    /// The dispatcher function, and its bindings to the timer, wake-up and message tags.
    dispatcher: JsValue,
    handlers: [JsValue; 4],
    /// Resolve/reject captured by the last promise executor.
    executor: RefCell<(JsValue, JsValue)>,
    channel: RefCell<JsValue>,
    disposed: Cell<bool>,
    _closure: Dispatcher,
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
    /// Builds the client and installs its wake-up listeners and channel.
    pub fn new(config: ClientConfig, s: Settings) -> Rc<Inner> {
        let me = Rc::new_cyclic(|weak: &Weak<Inner>| {
            let weak = weak.clone();
            let closure: Dispatcher =
                Closure::new(
                    move |tag: JsValue, a: JsValue, b: JsValue| match weak.upgrade() {
                        Some(me) => me.dispatch(tag.as_f64().unwrap_or(0.0) as u32, a, b),
                        None => U,
                    },
                );
            let dispatcher = closure.as_ref().clone();
            let handlers = [TIMER, WAKE, MESSAGE, EXECUTOR].map(|tag| bind(&dispatcher, tag));
            let mut channel = U;
            if s.cross_tab {
                if let Ok(c) = construct("BroadcastChannel", &s.name, &U) {
                    set(&c, "onmessage", &handlers[MESSAGE as usize]);
                    channel = c;
                }
            }
            Inner {
                s,
                core: RefCell::new(Engine::new(config)),
                clock: Cell::new(ElapsedClock::default()),
                refresh_token: RefCell::new(U),
                flight: Cell::new(None),
                waiters: RefCell::new(Vec::new()),
                ops: RefCell::new(Vec::new()),
                next_id: Cell::new(1),
                listeners: RefCell::new(Vec::new()),
                timer: RefCell::new(None),
                dispatcher,
                handlers,
                executor: RefCell::new((U, U)),
                channel: RefCell::new(channel),
                disposed: Cell::new(false),
                _closure: closure,
            }
        });
        me.now();
        me.wake_listeners("addEventListener");
        me
    }

    fn wake_listeners(&self, method: &str) {
        for (i, kind) in WAKE_EVENTS.iter().enumerate() {
            let _ = call(
                &wake_target(i),
                method,
                &(*kind).into(),
                &self.handlers[WAKE as usize],
            );
        }
    }

    // ----- plumbing: ids, promises, dispatch -----

    fn id(&self) -> u32 {
        let id = self.next_id.get();
        self.next_id.set(id.wrapping_add(1).max(1));
        id
    }

    /// A new promise for the caller and its resolvers.
    fn promise(&self) -> (JsValue, Settle) {
        let promise = construct("Promise", &self.handlers[EXECUTOR as usize], &U).unwrap_or(U);
        let (resolve, reject) = self.executor.replace((U, U));
        (promise, Settle(resolve, reject))
    }

    /// Resumes operation `id` when `result` (a value, a promise, or a synchronous throw) settles.
    fn then(&self, id: u32, result: Result<JsValue, JsValue>) {
        let ok = bind(&self.dispatcher, id * 4 + FULFILLED);
        let err = bind(&self.dispatcher, id * 4 + REJECTED);
        let _ = call(&settled(result), "then", &ok, &err);
    }

    fn insert(&self, id: u32, op: Op) {
        self.ops.borrow_mut().push((id, op));
    }

    /// Every JavaScript callback lands here.
    fn dispatch(self: Rc<Self>, tag: u32, a: JsValue, b: JsValue) -> JsValue {
        let (id, kind) = (tag / 4, tag % 4);
        if id == 0 {
            match kind {
                EXECUTOR => *self.executor.borrow_mut() = (a, b),
                _ if self.disposed.get() => {}
                TIMER => self.on_timer(),
                WAKE => self.on_wake(&get(&a, "type")),
                _ => self.on_message(&get(&a, "data")),
            }
            return U;
        }
        match kind {
            FULFILLED => self.resume(id, Ev::Ok(a)),
            REJECTED => self.resume(id, Ev::Err(a)),
            _ => {
                // The lock callback's return value: the lock is held until it settles.
                let hold = match self.ops.borrow().iter().find(|o| o.0 == id) {
                    Some((_, Op::Flight(f))) => f.hold.clone(),
                    _ => U,
                };
                self.resume(id, Ev::Lock);
                return hold;
            }
        }
        U
    }

    /// Advances operation `id` by one step.
    fn resume(self: &Rc<Self>, id: u32, ev: Ev) {
        let op = {
            let mut ops = self.ops.borrow_mut();
            let Some(i) = ops.iter().position(|o| o.0 == id) else {
                return;
            };
            ops.swap_remove(i).1
        };
        let next = match op {
            Op::Fetch {
                settle,
                wait,
                request,
                spare,
                sent,
                first,
            } => self.fetch_step(id, ev, settle, wait, request, spare, sent, first),
            Op::Login {
                settle,
                signal,
                status,
            } => self.login_step(id, ev, settle, signal, status),
            Op::Logout { settle, wait } => self.logout_step(id, ev, settle, wait),
            Op::Begin {
                settle,
                wait,
                restore,
            } => self.begin_step(id, ev, settle, wait, restore),
            Op::Flight(flight) => self.flight_step(id, ev, flight),
            Op::Store => {
                if let Ev::Err(_) = ev {
                    self.emit_error(&error(ErrorCode::Storage), None);
                }
                None
            }
        };
        if let Some(op) = next {
            self.insert(id, op);
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
        self.core
            .borrow()
            .access()
            .map(|(t, g)| (t.bearer.clone(), g))
    }

    fn disposed_error(&self) -> Option<JsValue> {
        self.disposed.get().then(|| error(ErrorCode::Disposed))
    }

    /// `on(type, listener)`.
    pub fn on(&self, kind: &JsValue, listener: JsValue) -> Result<(), JsValue> {
        if let Some(e) = self.disposed_error() {
            return Err(e);
        }
        match EVENTS.iter().position(|e| kind == e) {
            Some(i) if listener.is_function() => {
                self.listeners.borrow_mut().push((i, listener));
                Ok(())
            }
            _ => Err(error(ErrorCode::InvalidOptions)),
        }
    }

    /// `off(type, listener)`.
    pub fn off(&self, kind: &JsValue, listener: &JsValue) {
        self.listeners
            .borrow_mut()
            .retain(|(i, f)| kind != EVENTS[*i] || f != listener);
    }

    fn emit(&self, kind: usize, key: &str, value: &JsValue, key2: &str, value2: &JsValue) {
        let event = object();
        set(&event, "type", &EVENTS[kind].into());
        set(&event, key, value);
        set(&event, key2, value2);
        // By index, without holding the borrow: a listener may add or remove listeners.
        let mut i = 0;
        while let Some((k, f)) = self.listeners.borrow().get(i).cloned() {
            if k == kind {
                // A throwing listener must not break the client.
                let _ = apply(&f, &U, &event, &U);
            }
            i += 1;
        }
    }

    fn emit_refresh(&self, source: &str) {
        let expires = self.expires_at().map_or(U, num);
        self.emit(REFRESH, "source", &source.into(), "expiresAt", &expires);
    }

    fn emit_error(&self, err: &JsValue, retry_in: Option<u64>) {
        self.emit(
            ERROR,
            "error",
            err,
            "retryIn",
            &retry_in.map_or(U, |ms| num(ms as f64)),
        );
    }

    // ----- the timer and the page -----

    /// Arms the one timer for the engine's deadline (or clears it).
    fn arm(&self) {
        let want = if self.disposed.get() {
            None
        } else {
            self.core.borrow().deadline()
        };
        let mut timer = self.timer.borrow_mut();
        if timer.as_ref().map(|t| t.0) == want {
            return;
        }
        if let Some((_, id)) = timer.take() {
            clear_timeout(&id);
        }
        if let Some(at) = want {
            let delay = at.saturating_sub(self.now()).min(MAX_TIMER_MS);
            *timer = Some((
                at,
                js::set_timeout(&self.handlers[TIMER as usize], delay as f64),
            ));
        }
    }

    fn on_timer(self: Rc<Self>) {
        self.timer.borrow_mut().take();
        let step = self.core.borrow_mut().timer(self.now());
        self.automatic(step);
    }

    fn on_wake(self: Rc<Self>, kind: &JsValue) {
        if *kind == WAKE_EVENTS[0] && get(&global_get("document"), "visibilityState") != "visible" {
            return;
        }
        let step = self
            .core
            .borrow_mut()
            .wake(self.now(), *kind == WAKE_EVENTS[1]);
        self.automatic(step);
    }

    /// Carries out a step nobody waits for (timer, wake-up), then re-arms the timer.
    fn automatic(self: Rc<Self>, step: Step) {
        self.wait_for(0, step);
        self.arm();
    }

    /// Carries out `step` for operation `id` (0: nobody); whether `id` now waits for a flight.
    fn wait_for(self: &Rc<Self>, id: u32, step: Step) -> bool {
        let flight = match step {
            Step::Start(ticket) => Some(self.start_flight(ticket)),
            Step::Await => self.flight.get().map(|f| f.1),
            Step::Refused { code, report } => {
                if report {
                    self.emit_error(&error(code), None);
                }
                None
            }
            Step::Proceed | Step::Replay => None,
        };
        match flight {
            Some(f) if id != 0 => {
                self.waiters.borrow_mut().push((f, id));
                true
            }
            _ => false,
        }
    }

    // ----- other tabs -----

    fn post_message(&self, message: &JsValue) {
        let channel = self.channel.borrow().clone();
        let _ = call(&channel, "postMessage", message, &U);
    }

    /// Shares the current token (and in body mode the refresh token) with the other tabs.
    fn broadcast_token(&self) {
        let message = object();
        {
            let core = self.core.borrow();
            let Some((token, _)) = core.access() else {
                return;
            };
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
        let access = get(data, "access");
        if kind != "token" || !access.is_string() {
            return;
        }
        let ms = |key| {
            get(data, key)
                .as_f64()
                .filter(|v| *v >= 0.0)
                .map(|v| v as u64)
        };
        let token = Token::new(access);
        let adopted =
            self.core
                .borrow_mut()
                .adopt(token, ms("lifetime"), ms("remaining"), self.now());
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
        *self.refresh_token.borrow_mut() = U;
        self.arm();
        if was {
            self.emit(LOGOUT, "source", &source.into(), "", &U);
        }
    }

    // ----- requests -----

    /// Calls the configured `fetch` with `request` and resumes `id` with the outcome.
    fn send(&self, id: u32, request: &JsValue) {
        self.then(id, apply(&self.s.fetch, &global(), request, &U));
    }

    /// A request of the client itself to endpoint `which`: POST, JSON body (unless
    /// `undefined`), the cookie-transport header and credentials, the request timeout.
    /// Resumes `id` with the response; returns the timeout's signal.
    fn post(&self, id: u32, which: usize, body: &JsValue) -> JsValue {
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
        let signal = call(
            &global_get("AbortSignal"),
            "timeout",
            &num(self.s.timeout_ms),
            &U,
        )
        .unwrap_or(U);
        set(&init, "signal", &signal);
        match construct("Request", &self.s.endpoints[which], &init) {
            Ok(request) => self.send(id, &request),
            Err(e) => self.then(id, Err(e)),
        }
        signal
    }

    /// Whether `fetch` manages this request: addressed to one of the bearer origins (each
    /// stored with its trailing `/`, so a prefix match cannot be fooled by a longer host name),
    /// not to one of the client's endpoints (compared exactly, query and fragment ignored, so
    /// `/auth/logout-all` is not mistaken for `/auth/logout`), and without an `Authorization`
    /// set by the caller.
    fn manages(&self, request: &JsValue) -> bool {
        let url = get(request, "url");
        let at_origin = self
            .s
            .origins
            .iter()
            .any(|p| call(&url, "startsWith", p, &U) == Ok(JsValue::TRUE));
        let parsed = construct("URL", &url, &U).unwrap_or(U);
        let bare = concat(&get(&parsed, "origin"), &get(&parsed, "pathname"));
        let own = self.s.endpoints.iter().any(|e| *e == bare);
        let has_auth = call(&get(request, "headers"), "has", &"authorization".into(), &U);
        at_origin && !own && has_auth == Ok(JsValue::FALSE)
    }

    // ----- fetch -----

    /// `auth.fetch(input, init)`.
    pub fn fetch(self: &Rc<Self>, input: &JsValue, init: &JsValue) -> JsValue {
        let (promise, settle) = self.promise();
        let request = match self
            .disposed_error()
            .map_or_else(|| construct("Request", input, init), Err)
        {
            Ok(r) => r,
            Err(e) => {
                settle.reject(&e);
                return promise;
            }
        };
        let id = self.id();
        let mut wait = Wait::Promise;
        if !self.manages(&request) {
            self.send(id, &request);
        } else {
            let step = self.core.borrow_mut().before_send(self.now());
            if !self.wait_for(id, step) {
                // Nothing to wait for: go on as if a refresh had just ended.
                if let Some(op) =
                    self.fetch_step(id, Ev::Flight(U), settle, Wait::Flight, request, U, 0, U)
                {
                    self.insert(id, op);
                }
                return promise;
            }
            wait = Wait::Flight;
        }
        self.insert(
            id,
            Op::Fetch {
                settle,
                wait,
                request,
                spare: U,
                sent: 0,
                first: U,
            },
        );
        promise
    }

    #[allow(clippy::too_many_arguments)]
    fn fetch_step(
        self: &Rc<Self>,
        id: u32,
        ev: Ev,
        settle: Settle,
        wait: Wait,
        request: JsValue,
        spare: JsValue,
        sent: u32,
        first: JsValue,
    ) -> Option<Op> {
        let (wait, spare, sent, first) = match (wait, ev) {
            // The final response (or rejection), unchanged.
            (Wait::Promise | Wait::Sent, Ev::Err(e)) => {
                settle.reject(&e);
                return None;
            }
            (Wait::Promise, Ev::Ok(response)) => {
                settle.resolve(&response);
                return None;
            }
            // Refreshed first if that was due: send with the current token.
            (Wait::Flight, _) => {
                let Some((bearer, generation)) = self.current() else {
                    self.send(id, &request);
                    return Some(Op::Fetch {
                        settle,
                        wait: Wait::Promise,
                        request,
                        spare,
                        sent,
                        first,
                    });
                };
                // Kept for the replay: a request body can be sent only once.
                let spare = match call(&request, "clone", &U, &U) {
                    Ok(s) => s,
                    Err(e) => {
                        settle.reject(&e);
                        return None;
                    }
                };
                authorize(&request, &bearer);
                self.send(id, &request);
                (Wait::Sent, spare, generation, U)
            }
            (Wait::Sent, Ev::Ok(response)) => {
                if status(&response) != 401 {
                    settle.resolve(&response);
                    return None;
                }
                let step = self.core.borrow_mut().unauthorized(sent, self.now());
                if step == Step::Replay {
                    self.replay(id, &spare);
                    (Wait::Promise, U, sent, U)
                } else if self.wait_for(id, step) {
                    (Wait::AfterFlight, spare, sent, response)
                } else {
                    settle.resolve(&response);
                    return None;
                }
            }
            // After the one refresh: replay once with the new token, or hand over the 401.
            (_, _) => {
                if self.current().is_some_and(|(_, g)| g != sent) {
                    self.replay(id, &spare);
                    (Wait::Promise, U, sent, U)
                } else {
                    settle.resolve(&first);
                    return None;
                }
            }
        };
        Some(Op::Fetch {
            settle,
            wait,
            request,
            spare,
            sent,
            first,
        })
    }

    fn replay(&self, id: u32, spare: &JsValue) {
        if let Some((bearer, _)) = self.current() {
            authorize(spare, &bearer);
        }
        self.send(id, spare);
    }

    // ----- the refresh -----

    /// Starts the refresh of `ticket`; returns its operation id. It proceeds in a microtask, so
    /// that waiters register first.
    fn start_flight(self: &Rc<Self>, ticket: Ticket) -> u32 {
        let id = self.id();
        self.flight.set(Some((ticket, id)));
        let flight = Flight {
            ticket,
            wait: Wait::Promise,
            hold: U,
            release: U,
            signal: U,
            status: 0,
            retry_after: None,
        };
        self.insert(id, Op::Flight(flight));
        self.then(id, Ok(U));
        self.arm();
        id
    }

    fn flight_step(self: &Rc<Self>, id: u32, ev: Ev, mut f: Flight) -> Option<Op> {
        match (f.wait, ev) {
            // Start: take the cross-tab lock if there is one.
            (Wait::Promise, _) if self.s.locks.is_object() => {
                let (hold, release) = self.promise();
                f.hold = hold;
                f.release = release.0;
                f.wait = Wait::Lock;
                let granted = bind(&self.dispatcher, id * 4 + LOCK_GRANTED);
                // The request's promise settles early only if the lock is refused.
                self.then(id, call(&self.s.locks, "request", &self.s.name, &granted));
                Some(Op::Flight(f))
            }
            (Wait::Promise | Wait::Lock, _) => self.flight_locked(id, f),
            (Wait::Storage, ev) => {
                match ev {
                    Ev::Ok(v) if v.is_string() => *self.refresh_token.borrow_mut() = v,
                    Ev::Err(_) => self.emit_error(&error(ErrorCode::Storage), None),
                    _ => {}
                }
                self.flight_post(id, f)
            }
            (Wait::Sent, Ev::Ok(response)) => {
                f.status = status(&response);
                let retry_after =
                    call(&get(&response, "headers"), "get", &"retry-after".into(), &U);
                f.retry_after = retry_after
                    .ok()
                    .and_then(|v| v.as_string())
                    .as_deref()
                    .and_then(parse_retry_after);
                f.wait = Wait::Json;
                self.then(id, call(&response, "json", &U, &U));
                Some(Op::Flight(f))
            }
            (Wait::Sent, _) => {
                let failure = if aborted(&f.signal) {
                    Failure::Timeout
                } else {
                    Failure::Network
                };
                self.flight_end(id, f, Some((Outcome::Failure(failure), U)))
            }
            (_, ev) => {
                let body = match ev {
                    Ev::Ok(v) => v,
                    _ => U,
                };
                let outcome = match ((200..300).contains(&f.status), read_tokens(&body)) {
                    (true, Some((access, lifetime_ms, refresh))) => (
                        Outcome::Success {
                            access,
                            lifetime_ms,
                        },
                        refresh,
                    ),
                    (true, None) => {
                        let failure = if aborted(&f.signal) {
                            Failure::Timeout
                        } else {
                            Failure::BadResponse
                        };
                        (Outcome::Failure(failure), U)
                    }
                    (false, _) => {
                        let error = get(&body, "error").as_string();
                        let failure = Failure::Http {
                            status: f.status,
                            error,
                            retry_after_ms: f.retry_after,
                        };
                        (Outcome::Failure(failure), U)
                    }
                };
                self.flight_end(id, f, Some(outcome))
            }
        }
    }

    /// Holding the lock (or without one): re-check, then read the stored refresh token.
    fn flight_locked(self: &Rc<Self>, id: u32, mut f: Flight) -> Option<Op> {
        let check = self.core.borrow_mut().lock_acquired(f.ticket, self.now());
        if check != LockCheck::Proceed {
            return self.flight_end(id, f, None);
        }
        if self.s.transport == Transport::Body {
            // Another tab may have rotated the token into the shared storage.
            if let Some(read) = self.storage(0, &U) {
                f.wait = Wait::Storage;
                self.then(id, read);
                return Some(Op::Flight(f));
            }
        }
        self.flight_post(id, f)
    }

    fn flight_post(self: &Rc<Self>, id: u32, mut f: Flight) -> Option<Op> {
        let body = if self.s.transport == Transport::Body {
            let token = self.refresh_token.borrow().clone();
            if !token.is_string() {
                // Nothing to refresh with: as good as a dead refresh token.
                let failure = Failure::Http {
                    status: 400,
                    error: Some("invalid_grant".into()),
                    retry_after_ms: None,
                };
                return self.flight_end(id, f, Some((Outcome::Failure(failure), U)));
            }
            token_body(&token)
        } else {
            U
        };
        self.core.borrow_mut().sent(self.now());
        f.signal = self.post(id, REFRESH_ENDPOINT, &body);
        f.wait = Wait::Sent;
        Some(Op::Flight(f))
    }

    /// The flight is over: record the outcome (none: another tab refreshed, or the ticket is
    /// void), share the new token, release the lock, notify, wake the waiters.
    fn flight_end(
        self: &Rc<Self>,
        id: u32,
        f: Flight,
        outcome: Option<(Outcome<Token>, JsValue)>,
    ) -> Option<Op> {
        let finished = outcome.map(|(outcome, rotated)| {
            let finished =
                self.core
                    .borrow_mut()
                    .finish(f.ticket, outcome, self.now(), js::random());
            if matches!(finished, Finished::Refreshed | Finished::Restored) {
                if rotated.is_string() && self.s.transport == Transport::Body {
                    *self.refresh_token.borrow_mut() = rotated.clone();
                    self.store(&rotated);
                }
                self.broadcast_token();
            }
            finished
        });
        let _ = apply(&f.release, &U, &U, &U);
        if self
            .flight
            .get()
            .is_some_and(|(ticket, _)| ticket == f.ticket)
        {
            self.flight.set(None);
        }
        let value = match finished.unwrap_or(Finished::Discarded) {
            Finished::Discarded => JsValue::from(self.signed_in()),
            Finished::Refreshed => {
                self.emit_refresh("network");
                JsValue::TRUE
            }
            Finished::Restored => {
                self.emit_refresh("restore");
                JsValue::TRUE
            }
            Finished::Expired => {
                self.forget_refresh_token();
                let err = error(ErrorCode::SessionExpired);
                self.emit(EXPIRED, "error", &err, "", &U);
                err
            }
            Finished::NoSession => {
                self.forget_refresh_token();
                JsValue::FALSE
            }
            Finished::Retry { code, delay_ms } => {
                let err = error(code);
                self.emit_error(&err, Some(delay_ms));
                err
            }
            Finished::Failed(code) => error(code),
        };
        self.arm();
        let waiting: Vec<u32> = {
            let mut waiters = self.waiters.borrow_mut();
            let mine = waiters.iter().filter(|w| w.0 == id).map(|w| w.1).collect();
            waiters.retain(|w| w.0 != id);
            mine
        };
        for w in waiting {
            self.resume(w, Ev::Flight(value.clone()));
        }
        None
    }

    // ----- refresh(), restore() -----

    /// `refresh()`: resolves once a new token is held.
    pub fn refresh(self: &Rc<Self>) -> JsValue {
        self.begin(false)
    }

    /// `restore()`: `true` if a session was found (cookie, or stored refresh token).
    pub fn restore(self: &Rc<Self>) -> JsValue {
        self.begin(true)
    }

    fn begin(self: &Rc<Self>, restore: bool) -> JsValue {
        let (promise, settle) = self.promise();
        let id = self.id();
        if let Some(e) = self.disposed_error() {
            settle.reject(&e);
        } else if restore && self.signed_in() {
            settle.resolve(&JsValue::TRUE);
        } else if restore
            && self.s.transport == Transport::Body
            && !self.refresh_token.borrow().is_string()
        {
            match self.storage(0, &U) {
                Some(read) => {
                    self.then(id, read);
                    self.insert(
                        id,
                        Op::Begin {
                            settle,
                            wait: Wait::Storage,
                            restore,
                        },
                    );
                }
                None => settle.resolve(&JsValue::FALSE),
            }
        } else if let Some(op) = self.begin_flight(id, settle, restore) {
            self.insert(id, op);
        }
        promise
    }

    fn begin_flight(self: &Rc<Self>, id: u32, settle: Settle, restore: bool) -> Option<Op> {
        let now = self.now();
        let begin = if restore {
            self.core.borrow_mut().restore(now)
        } else {
            self.core.borrow_mut().manual(now)
        };
        let step = match begin {
            Begin::Start(ticket) => Step::Start(ticket),
            Begin::Join => Step::Await,
            Begin::Refused(code) => {
                settle.reject(&error(code));
                return None;
            }
        };
        if !self.wait_for(id, step) {
            settle.resolve(&JsValue::from(self.signed_in()));
            return None;
        }
        Some(Op::Begin {
            settle,
            wait: Wait::Flight,
            restore,
        })
    }

    fn begin_step(
        self: &Rc<Self>,
        id: u32,
        ev: Ev,
        settle: Settle,
        wait: Wait,
        restore: bool,
    ) -> Option<Op> {
        let value = match (wait, ev) {
            (Wait::Storage, Ev::Ok(stored)) if stored.is_string() => {
                *self.refresh_token.borrow_mut() = stored;
                return self.begin_flight(id, settle, restore);
            }
            (Wait::Storage, _) => JsValue::FALSE,
            (_, Ev::Flight(v)) if v.is_object() => {
                settle.reject(&v);
                return None;
            }
            _ if restore => JsValue::from(self.signed_in()),
            _ if self.signed_in() => U,
            _ => {
                settle.reject(&error(ErrorCode::NotSignedIn));
                return None;
            }
        };
        settle.resolve(&value);
        None
    }

    // ----- login, setSession, logout -----

    /// `login(username, password)`.
    pub fn login(self: &Rc<Self>, username: &JsValue, password: &JsValue) -> JsValue {
        let (promise, settle) = self.promise();
        if let Some(e) = self.disposed_error() {
            settle.reject(&e);
            return promise;
        }
        let body = object();
        set(&body, "username", username);
        set(&body, "password", password);
        set(&body, "transport", &self.s.transport.as_str().into());
        let id = self.id();
        let signal = self.post(id, LOGIN, &json(&body));
        self.insert(
            id,
            Op::Login {
                settle,
                signal,
                status: None,
            },
        );
        promise
    }

    fn login_step(
        self: &Rc<Self>,
        id: u32,
        ev: Ev,
        settle: Settle,
        signal: JsValue,
        status: Option<u16>,
    ) -> Option<Op> {
        let timeout = aborted(&signal);
        let (status, ev) = match (status, ev) {
            (None, Ev::Ok(response)) => {
                self.then(id, call(&response, "json", &U, &U));
                return Some(Op::Login {
                    settle,
                    signal,
                    status: Some(self::status(&response)),
                });
            }
            (None, _) => {
                settle.reject(&error(if timeout {
                    ErrorCode::Timeout
                } else {
                    ErrorCode::Network
                }));
                return None;
            }
            (Some(status), ev) => (status, ev),
        };
        let body = match ev {
            Ev::Ok(v) => v,
            _ => U,
        };
        if !(200..300).contains(&status) {
            let code = match status {
                401 => ErrorCode::InvalidCredentials,
                _ => error_code(&Failure::Http {
                    status,
                    error: get(&body, "error").as_string(),
                    retry_after_ms: None,
                }),
            };
            settle.reject(&http_error(code, status));
            return None;
        }
        match read_tokens(&body) {
            Some(tokens) if !self.disposed.get() => {
                self.begin_session(tokens);
                settle.resolve(&U);
            }
            _ => settle.reject(&error(match () {
                _ if self.disposed.get() => ErrorCode::Disposed,
                _ if timeout => ErrorCode::Timeout,
                _ => ErrorCode::BadResponse,
            })),
        }
        None
    }

    /// `setSession(tokens)`.
    pub fn set_session(&self, tokens: &JsValue) -> Result<(), JsValue> {
        if let Some(e) = self.disposed_error() {
            return Err(e);
        }
        let tokens = read_tokens(tokens).ok_or_else(|| error(ErrorCode::InvalidOptions))?;
        self.begin_session(tokens);
        Ok(())
    }

    /// Starts a session (and persists the refresh token in body mode).
    fn begin_session(&self, (token, lifetime, refresh): (Token, Option<u64>, JsValue)) {
        self.core
            .borrow_mut()
            .start_session(token, lifetime, self.now());
        if self.s.transport == Transport::Body && refresh.is_string() {
            *self.refresh_token.borrow_mut() = refresh.clone();
            self.store(&refresh);
        }
        self.broadcast_token();
        self.arm();
    }

    /// `logout()`: signs out here and in the other tabs at once, then revokes the session on
    /// the server; resolves to whether the server confirmed.
    pub fn logout(self: &Rc<Self>) -> JsValue {
        let (promise, settle) = self.promise();
        if let Some(e) = self.disposed_error() {
            settle.reject(&e);
            return promise;
        }
        let id = self.id();
        let memory = self.refresh_token.borrow().clone();
        self.signed_out("local");
        let message = object();
        set(&message, "type", &"logout".into());
        self.post_message(&message);
        let read = if memory.is_string() {
            None
        } else {
            self.storage(0, &U)
        };
        let op = match read {
            Some(read) => {
                self.then(id, read);
                Some(Op::Logout {
                    settle,
                    wait: Wait::Storage,
                })
            }
            None => self.logout_step(id, Ev::Ok(memory), settle, Wait::Storage),
        };
        if let Some(op) = op {
            self.insert(id, op);
        }
        promise
    }

    fn logout_step(self: &Rc<Self>, id: u32, ev: Ev, settle: Settle, wait: Wait) -> Option<Op> {
        let value = match ev {
            Ev::Ok(v) => v,
            _ => U,
        };
        if wait == Wait::Promise {
            // The server's answer.
            settle.resolve(&JsValue::from((200..300).contains(&status(&value))));
            return None;
        }
        let body = if self.s.transport == Transport::Body {
            if !value.is_string() {
                settle.resolve(&JsValue::FALSE);
                return None;
            }
            self.store(&U);
            token_body(&value)
        } else {
            U
        };
        self.post(id, LOGOUT_ENDPOINT, &body);
        Some(Op::Logout {
            settle,
            wait: Wait::Promise,
        })
    }

    /// `dispose()`: removes every timer, listener and channel, rejects pending operations with
    /// `ERR_DISPOSED` and releases a held lock; the client is unusable after.
    pub fn dispose(&self) {
        if self.disposed.replace(true) {
            return;
        }
        self.wake_listeners("removeEventListener");
        self.core.borrow_mut().sign_out();
        self.flight.set(None);
        *self.refresh_token.borrow_mut() = U;
        self.listeners.borrow_mut().clear();
        self.waiters.borrow_mut().clear();
        self.arm();
        let channel = self.channel.replace(U);
        set(&channel, "onmessage", &JsValue::NULL);
        let _ = call(&channel, "close", &U, &U);
        let ops = std::mem::take(&mut *self.ops.borrow_mut());
        let e = error(ErrorCode::Disposed);
        for (_, op) in ops {
            match op {
                Op::Fetch { settle, .. }
                | Op::Login { settle, .. }
                | Op::Logout { settle, .. }
                | Op::Begin { settle, .. } => settle.reject(&e),
                Op::Flight(f) => {
                    let _ = apply(&f.release, &U, &U, &U);
                }
                Op::Store => {}
            }
        }
    }

    // ----- storage (body mode) -----

    /// Storage operation `op` (0 get, 1 set to `value`, 2 remove) on the configured storage:
    /// its result (a value or a promise), or `None` without a storage (or in cookie mode).
    fn storage(&self, op: usize, value: &JsValue) -> Option<Result<JsValue, JsValue>> {
        let storage = &self.s.storage;
        if storage.is_undefined() || self.s.transport != Transport::Body {
            return None;
        }
        // Web Storage (`localStorage`) names, or the get/set/remove of a custom object.
        const NAMES: [[&str; 3]; 2] = [
            ["getItem", "setItem", "removeItem"],
            ["get", "set", "remove"],
        ];
        let names = NAMES[usize::from(!get(storage, "getItem").is_function())];
        Some(call(storage, names[op], &self.s.storage_key, value))
    }

    /// Persists `value` (a string) or removes the stored token (`undefined`), reporting failures.
    fn store(&self, value: &JsValue) {
        if let Some(result) = self.storage(if value.is_string() { 1 } else { 2 }, value) {
            let id = self.id();
            self.insert(id, Op::Store);
            self.then(id, result);
        }
    }

    fn forget_refresh_token(&self) {
        *self.refresh_token.borrow_mut() = U;
        self.store(&U);
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
    let _ = call(
        &get(request, "headers"),
        "set",
        &"Authorization".into(),
        bearer,
    );
}

/// A response's HTTP status (0 if it is not a response).
fn status(response: &JsValue) -> u16 {
    get(response, "status").as_f64().unwrap_or(0.0) as u16
}

fn aborted(signal: &JsValue) -> bool {
    get(signal, "aborted") == JsValue::TRUE
}
