//! The client at run time: the [`Engine`] plus everything it cannot do itself: the clock, the
//! one timer, the client's own HTTP requests, event listeners, the cross-tab lock and channel,
//! wake-up listeners and the pluggable storage. The JavaScript plumbing of each is a method of
//! the [`Host`](crate::browser::js::Host); the decisions are made here and in the core.
//!
//! # Why an explicit state machine instead of `async`
//!
//! The package must stay under 20 KB gzip. Rust futures with `wasm-bindgen-futures` cost about
//! 5 KB gzip of runtime before any of our code, and every `async fn` becomes a large state
//! machine with drop glue at each `await`. So every asynchronous operation is an [`Op`] kept in a
//! table under a numeric id, and every JavaScript callback (promise reactions, the timer, page
//! events, channel messages, the lock grant) calls the *same* closure with a numeric tag:
//! `tag = id * KINDS + kind` ([`interface`](crate::core::client::interface)). [`Inner::dispatch`] decodes the tag and advances the operation one step
//! ([`Inner::resume`]). Each step is short, synchronous Rust that asks the engine, starts the
//! next JavaScript promise, and returns the operation's new state. The promise handed to the
//! caller of operation `id` is kept on the JS side and settled by id.
//!
//! The methods of the public `AuthClient` (JavaScript in `glue.js`) call one other closure, the
//! owner's, with a method number ([`Inner::call`]). `fetch` calls it only when needed: after every
//! call into Rust, the client publishes its token and until when it may be sent without asking
//! the engine ([`Inner::publish`]); meanwhile `fetch` attaches it in JavaScript.
//!
//! Discipline: a `RefCell` borrow never spans a call into JavaScript (a listener or an injected
//! function may call back into the client; the dispatcher is an `Fn` closure and may re-enter).

use ::core::cell::{Cell, RefCell, RefMut};
use alloc::rc::{Rc, Weak};
use alloc::vec::Vec;

use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsValue;

use crate::browser::js::{self, error, get, http_error, number, text, Host, U};
use crate::browser::options::Settings;
use crate::core::client::classify::{error_code, parse_retry_after};
use crate::core::client::interface::{Kind, Method, Signal, StorageMethod, KINDS};
use crate::core::client::schedule::lifetime_from_claims;
use crate::core::client::{
    Begin, ClientConfig, ElapsedClock, Endpoint, Engine, ErrorCode, EventKind, Failure, Finished,
    LockCheck, Outcome, Source, Step, Ticket, Transport,
};

/// Longest delay `setTimeout` accepts (2^31 - 1 ms); longer waits are re-armed.
const MAX_TIMER_MS: u64 = 0x7fff_ffff;

/// Kinds of an operation's callbacks (`tag = id * KINDS + kind`, see [`Kind`]).
const FULFILLED: u32 = Kind::Fulfilled as u32;
const REJECTED: u32 = Kind::Rejected as u32;
const LOCKED: u32 = Kind::Locked as u32;
/// The client's own callbacks (id 0, see [`Signal`]).
const TIMER: u32 = Signal::Timer as u32;
const WAKE: u32 = Signal::Wake as u32;
const TOKEN_MESSAGE: u32 = Signal::TokenMessage as u32;
/// Events, by their index in `glue.js` ([`EventKind::NAMES`]).
const REFRESH: u32 = EventKind::Refresh as u32;
const EXPIRED: u32 = EventKind::Expired as u32;
const ERROR: u32 = EventKind::Error as u32;
const LOGOUT: u32 = EventKind::Logout as u32;
/// Sources of `refresh` and `logout` events ([`Source::NAMES`]).
const NETWORK: u32 = Source::Network as u32;
const TAB: u32 = Source::Tab as u32;
const RESTORE: u32 = Source::Restore as u32;
const LOCAL: u32 = Source::Local as u32;
/// Endpoint indexes.
const LOGIN: u32 = Endpoint::Login as u32;
const REFRESH_ENDPOINT: u32 = Endpoint::Refresh as u32;
const LOGOUT_ENDPOINT: u32 = Endpoint::Logout as u32;
/// Storage methods.
const GET: u32 = StorageMethod::Get as u32;
const SET: u32 = StorageMethod::Set as u32;
const REMOVE: u32 = StorageMethod::Remove as u32;

/// The closures handed to JavaScript: the dispatcher, `(tag, value) => ...`, and the owner,
/// `(method, a, b) => result` ([`Inner::call`]). One type for both: every closure type costs its own
/// shims.
type Dispatcher = Closure<dyn Fn(u32, JsValue, JsValue) -> JsValue>;

/// The methods of the public `AuthClient`, by the number `glue.js` calls [`Inner::call`] with
/// ([`Method`]).
const LOGIN_METHOD: u32 = Method::Login as u32;
const SET_SESSION_METHOD: u32 = Method::SetSession as u32;
const RESTORE_METHOD: u32 = Method::Restore as u32;
const FETCH_METHOD: u32 = Method::Fetch as u32;
const REFRESH_METHOD: u32 = Method::Refresh as u32;
const LOGOUT_METHOD: u32 = Method::Logout as u32;
const ON_METHOD: u32 = Method::On as u32;
const OFF_METHOD: u32 = Method::Off as u32;
const DISPOSE_METHOD: u32 = Method::Dispose as u32;
const SIGNED_IN_METHOD: u32 = Method::SignedIn as u32;
const EXPIRES_AT_METHOD: u32 = Method::ExpiresAt as u32;
const NEXT_REFRESH_AT_METHOD: u32 = Method::NextRefreshAt as u32;
/// The last: any number from it on.
const REFRESH_COUNT_METHOD: u32 = Method::RefreshCount as u32;

/// The owner of a client: held (through the owner closure) by the public `AuthClient` only, so
/// that the client is disposed when that object is garbage-collected.
struct Owner(Rc<Inner>);

impl Drop for Owner {
    fn drop(&mut self) {
        self.0.dispose();
    }
}

/// A token response `{access_token, expires_in?, refresh_token?}`: the access token (a
/// JavaScript string), its lifetime (`expires_in`, else the JWT's `exp - iat`) and the refresh
/// token (or `undefined`); `None` without a non-empty string `access_token`.
fn read_tokens(value: &JsValue) -> Option<(JsValue, Option<u64>, JsValue)> {
    let access = get(value, "access_token");
    let claims = js::claims(&access);
    if claims.is_undefined() {
        return None;
    }
    // NaN (not a number) is no positive lifetime either: the JWT's times are read then.
    let lifetime = lifetime_from_claims(
        Some(number(&get(value, "expires_in"))),
        number(&get(&claims, "0")),
        number(&get(&claims, "1")),
    );
    let refresh = get(value, "refresh_token");
    Some((
        access,
        lifetime,
        if refresh.is_string() { refresh } else { U },
    ))
}

/// What an operation is waiting for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Wait {
    /// The settlement of a JavaScript promise.
    Promise,
    /// The refresh in flight.
    Flight,
    /// `fetch`: the response to the request with the token (then: the replay, `Promise`); the
    /// flight: the response to the refresh request.
    Response,
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
    /// `auth.fetch(input, init)`: `request` is the request until it is sent with the token, then
    /// its spare, for the replay; `reply` the 401 kept while the refresh after it runs; `carried`
    /// the generation of the token it carried.
    Fetch {
        wait: Wait,
        request: JsValue,
        reply: JsValue,
        carried: u32,
    },
    /// `login(username, password)`; `status` once the response is in.
    Login {
        signal: JsValue,
        status: Option<u16>,
    },
    /// `logout()`.
    Logout { wait: Wait },
    /// `restore()` and `refresh()` (`restore` tells which).
    Refresh { wait: Wait, restore: bool },
    /// The refresh owned by `ticket`.
    Flight(Flight),
    /// A storage write: reports failures.
    Store,
}

struct Flight {
    ticket: Ticket,
    wait: Wait,
    signal: JsValue,
    status: u16,
    retry_after: Option<u64>,
}

/// What resumes an operation.
enum Ev {
    /// A promise fulfilled.
    Ok(JsValue),
    /// A promise rejected (with what, no step needs).
    Err,
    /// The refresh it waited for ended; with the `Error` it failed with, if it did.
    Flight(Option<JsValue>),
    /// The Web Lock was granted.
    Lock,
}

/// The shared state behind an `AuthClient`.
pub struct Inner {
    s: Settings,
    core: RefCell<Engine<JsValue>>,
    clock: Cell<ElapsedClock>,
    /// Body mode: the current refresh token (a string, or `undefined`).
    refresh_token: Cell<JsValue>,
    /// The refresh in flight: its ticket and operation id.
    flight: Cell<Option<(Ticket, u32)>>,
    /// Operations waiting for a flight: (flight id, waiting op id).
    waiters: RefCell<Vec<(u32, u32)>>,
    ops: RefCell<Vec<(u32, Op)>>,
    next_id: Cell<u32>,
    /// The deadline (engine clock) the timer is armed for.
    timer: Cell<Option<u64>>,
    disposed: Cell<bool>,
    /// How many calls from JavaScript are running (see [`Inner::enter`]).
    depth: Cell<u32>,
    dispatcher: Dispatcher,
}

impl Inner {
    /// Builds the client and installs its wake-up listeners and channel; returns the owner
    /// closure (see [`Inner::call`]).
    pub fn create(config: ClientConfig, s: Settings) -> JsValue {
        let me = Rc::new_cyclic(|weak: &Weak<Inner>| {
            let weak = weak.clone();
            let dispatcher: Dispatcher =
                Closure::new(move |tag: u32, value: JsValue, _: JsValue| {
                    let Some(me) = weak.upgrade() else {
                        return U;
                    };
                    me.enter();
                    let result = me.clone().dispatch(tag, value);
                    me.leave(result)
                });
            Inner {
                s,
                core: RefCell::new(Engine::new(config)),
                clock: Cell::new(ElapsedClock::default()),
                refresh_token: Cell::new(U),
                flight: Cell::new(None),
                waiters: RefCell::new(Vec::new()),
                ops: RefCell::new(Vec::new()),
                next_id: Cell::new(1),
                timer: Cell::new(None),
                disposed: Cell::new(false),
                depth: Cell::new(0),
                dispatcher,
            }
        });
        me.host().open_(me.dispatcher.as_ref(), me.s.timeout_ms);
        me.now();
        let owner = Owner(me);
        let call: Dispatcher = Closure::new(move |method, a, b| {
            let me = &owner.0;
            me.enter();
            let result = me.call(method, a, b);
            me.leave(result)
        });
        call.into_js_value()
    }

    /// A call from JavaScript begins. While Rust runs, the fast path of `fetch` is off (a
    /// listener or an injected function may call back into the client while the state changes);
    /// the outermost call publishes it anew when it returns ([`Inner::leave`]).
    #[inline(never)]
    fn enter(&self) {
        let depth = self.depth.get();
        if depth == 0 {
            self.host().fresh_(&U, 0, 0.0, 0.0);
        }
        self.depth.set(depth + 1);
    }

    /// A call from JavaScript ends with `result`; the outermost publishes the fast path.
    #[inline(never)]
    fn leave(&self, result: JsValue) -> JsValue {
        let depth = self.depth.get() - 1;
        self.depth.set(depth);
        if depth == 0 {
            self.publish();
        }
        result
    }

    /// Publishes the fast path of `fetch` to the host: the current token (or `undefined`), its
    /// generation, and until when requests may go out with it without asking the engine, on
    /// `performance.now()` and on `Date.now()` (both must hold): until the engine would call the
    /// token due ([`Engine::fresh_for`]). The bounds are those of the engine clock's next reading
    /// ([`ElapsedClock`] advances by the larger increment), less a millisecond for its rounding.
    /// Off (0) once disposed or while a refresh is due.
    fn publish(&self) {
        let (mono, wall) = (js::performance_now(), js::date_now());
        let now = self.now_at(mono, wall);
        let fresh = if self.disposed.get() {
            None
        } else {
            self.engine().fresh_for(now)
        };
        let until = |t: f64| match fresh {
            None => 0.0,
            Some(u64::MAX) => f64::INFINITY,
            Some(ms) => t + (ms - 1) as f64,
        };
        let (access, generation) = self.current().unwrap_or((U, 0));
        self.host()
            .fresh_(&access, generation, until(mono), until(wall));
    }

    /// Method `method` of the public `AuthClient` ([`Method`]), with its arguments `a`, `b`:
    /// its result, or the `Error` it throws (`glue.js` throws an `Error` it gets back).
    fn call(self: &Rc<Self>, method: u32, a: JsValue, b: JsValue) -> JsValue {
        let done = |r: Result<(), JsValue>| r.err().unwrap_or(U);
        let number = |v: Option<f64>| v.map_or(U, JsValue::from_f64);
        match method {
            LOGIN_METHOD => self.login(&a, &b),
            SET_SESSION_METHOD => done(self.set_session(&a)),
            RESTORE_METHOD => self.refresh_or_restore(true),
            FETCH_METHOD => self.fetch(&a, &b),
            REFRESH_METHOD => self.refresh_or_restore(false),
            LOGOUT_METHOD => self.logout(),
            ON_METHOD => done(self.on(&a, &b)),
            OFF_METHOD => {
                self.host().listen_(false, &a, &b);
                U
            }
            DISPOSE_METHOD => {
                self.dispose();
                U
            }
            SIGNED_IN_METHOD => self.signed_in().into(),
            EXPIRES_AT_METHOD => number(self.expires_at()),
            NEXT_REFRESH_AT_METHOD => number(self.next_refresh_at()),
            REFRESH_COUNT_METHOD.. => self.engine().refresh_count().into(),
        }
    }

    // The state behind `RefCell`s is reached through these helpers rather than `borrow_mut` at
    // each use: every call site of `borrow_mut` carries its own panic location, which adds up.

    fn engine(&self) -> RefMut<'_, Engine<JsValue>> {
        self.core.borrow_mut()
    }

    fn ops(&self) -> RefMut<'_, Vec<(u32, Op)>> {
        self.ops.borrow_mut()
    }

    fn waiters(&self) -> RefMut<'_, Vec<(u32, u32)>> {
        self.waiters.borrow_mut()
    }

    /// The refresh token (body mode), a string or `undefined`.
    fn refresh_token(&self) -> JsValue {
        let token = self.refresh_token.take();
        self.refresh_token.set(token.clone());
        token
    }

    fn host(&self) -> &Host {
        &self.s.host
    }

    fn body_mode(&self) -> bool {
        self.s.transport == Transport::Body
    }

    // ----- plumbing: ids, promises, dispatch -----

    fn id(&self) -> u32 {
        let id = self.next_id.get();
        self.next_id.set(id.wrapping_add(1).max(1));
        id
    }

    /// A new operation id and the promise its caller gets.
    fn promise(&self) -> (u32, JsValue) {
        let id = self.id();
        (id, self.host().defer_(id))
    }

    fn resolve(&self, id: u32, value: &JsValue) {
        self.host().settle_(id, true, value);
    }

    fn reject(&self, id: u32, reason: &JsValue) {
        self.host().settle_(id, false, reason);
    }

    fn insert(&self, id: u32, op: Op) {
        self.ops().push((id, op));
    }

    /// Every JavaScript callback lands here; only a handed-over request gets an answer (its
    /// promise).
    fn dispatch(self: Rc<Self>, tag: u32, value: JsValue) -> JsValue {
        let (id, kind) = (tag / KINDS, tag % KINDS);
        if id == 0 {
            match kind {
                _ if self.disposed.get() => {}
                TIMER => self.on_timer(),
                WAKE => self.on_wake(value == JsValue::TRUE),
                TOKEN_MESSAGE => self.on_token_message(&value),
                _ => self.signed_out(TAB),
            }
            return U;
        }
        let ev = match kind {
            FULFILLED => Ev::Ok(value),
            REJECTED => Ev::Err,
            LOCKED => Ev::Lock,
            _ => return self.fetch_handed(&value),
        };
        self.resume(id, ev);
        U
    }

    /// Advances operation `id` by one step.
    fn resume(self: &Rc<Self>, id: u32, ev: Ev) {
        let op = {
            let mut ops = self.ops();
            let Some(i) = ops.iter().position(|o| o.0 == id) else {
                return;
            };
            ops.swap_remove(i).1
        };
        let next = match op {
            Op::Fetch {
                wait,
                request,
                reply,
                carried,
            } => {
                self.fetch_step(id, wait, &request, &reply, carried);
                None
            }
            Op::Login { signal, status } => self.login_step(id, ev, signal, status),
            Op::Logout { wait } => self.logout_step(id, ev, wait),
            Op::Refresh { wait, restore } => self.refresh_step(id, ev, wait, restore),
            Op::Flight(flight) => self.flight_step(id, ev, flight),
            Op::Store => {
                if let Ev::Err = ev {
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
        self.now_at(js::performance_now(), js::date_now())
    }

    /// The engine clock, given readings of `performance.now()` and `Date.now()`.
    fn now_at(&self, mono: f64, wall: f64) -> u64 {
        let mut clock = self.clock.get();
        let now = clock.observe(mono, wall);
        self.clock.set(clock);
        now
    }

    /// Converts an engine instant into Unix milliseconds, for display.
    fn wall(&self, at: Option<u64>) -> Option<f64> {
        Some(js::date_now() + (at? as f64 - self.now() as f64))
    }

    /// Whether a session is held.
    pub fn signed_in(&self) -> bool {
        self.engine().signed_in()
    }

    /// Expiry of the access token, Unix ms.
    pub fn expires_at(&self) -> Option<f64> {
        let at = self.engine().expires_at();
        self.wall(at)
    }

    /// Time of the next scheduled refresh (or retry), Unix ms.
    pub fn next_refresh_at(&self) -> Option<f64> {
        let at = self.engine().deadline();
        self.wall(at)
    }

    /// The current access token and its generation.
    fn current(&self) -> Option<(JsValue, u32)> {
        self.engine().access().map(|(t, g)| (t.clone(), g))
    }

    fn disposed_error(&self) -> Option<JsValue> {
        self.disposed.get().then(|| error(ErrorCode::Disposed))
    }

    /// `on(type, listener)`.
    pub fn on(&self, kind: &JsValue, listener: &JsValue) -> Result<(), JsValue> {
        if let Some(e) = self.disposed_error() {
            return Err(e);
        }
        if self.host().listen_(true, kind, listener) {
            Ok(())
        } else {
            Err(error(ErrorCode::InvalidOptions))
        }
    }

    /// Emits `refresh` from `source` (an index, see `NETWORK`).
    fn emit_refresh(&self, source: u32) {
        let expires = self.expires_at().map_or(U, JsValue::from_f64);
        self.host().emit_(REFRESH, &source_value(source), &expires);
    }

    fn emit_error(&self, err: &JsValue, retry_in: Option<u64>) {
        let retry_in = retry_in.map_or(U, |ms| JsValue::from_f64(ms as f64));
        self.host().emit_(ERROR, err, &retry_in);
    }

    // ----- the timer and the page -----

    /// Arms the one timer for the engine's deadline (or clears it).
    fn arm(&self) {
        let want = if self.disposed.get() {
            None
        } else {
            self.engine().deadline()
        };
        if self.timer.replace(want) == want {
            return;
        }
        let delay = want.map_or(-1.0, |at| {
            at.saturating_sub(self.now()).min(MAX_TIMER_MS) as f64
        });
        self.host().arm_(delay);
    }

    fn on_timer(self: Rc<Self>) {
        self.timer.set(None);
        let step = self.engine().timer(self.now());
        self.automatic(step);
    }

    /// A wake-up event (`online`, or the page shown or made visible).
    fn on_wake(self: Rc<Self>, online: bool) {
        let step = self.engine().wake(self.now(), online);
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
                self.waiters().push((f, id));
                true
            }
            _ => false,
        }
    }

    // ----- other tabs -----

    /// Shares the current token (and in body mode the refresh token) with the other tabs.
    fn broadcast_token(&self) {
        let (access, lifetime, remaining) = {
            let core = self.engine();
            let Some((token, _)) = core.access() else {
                return;
            };
            (
                token.clone(),
                core.lifetime_ms(),
                core.remaining_ms(self.now()),
            )
        };
        let ms = |v: Option<u64>| v.map(|ms| ms as f64);
        let refresh = self.refresh_token();
        self.host()
            .tell_(&access, ms(lifetime), ms(remaining), &refresh);
    }

    /// A token from another tab: `{type: "token", access, lifetime?, remaining?, refresh?}`
    /// (`access` a string).
    fn on_token_message(self: Rc<Self>, data: &JsValue) {
        let access = get(data, "access");
        let ms = |key| {
            Some(number(&get(data, key)))
                .filter(|v| *v >= 0.0)
                .map(|v| v as u64)
        };
        let adopted = self
            .engine()
            .adopt(access, ms("lifetime"), ms("remaining"), self.now());
        if adopted.is_some() {
            let refresh = get(data, "refresh");
            if self.body_mode() && refresh.is_string() {
                self.refresh_token.set(refresh);
            }
            self.arm();
            self.emit_refresh(TAB);
        }
    }

    /// Local effects of a logout (here: `source` "local", or in another tab: "tab").
    fn signed_out(&self, source: u32) {
        let was = self.engine().sign_out();
        self.refresh_token.set(U);
        self.arm();
        if was {
            self.host().emit_(LOGOUT, &source_value(source), &U);
        }
    }

    // ----- fetch -----

    /// `auth.fetch(input, init)` when the fast path is off (see [`Inner::publish`]): with the
    /// token unless a refresh may be due, then the request is handed back
    /// ([`Inner::fetch_handed`]). (On the fast path, the JavaScript side sends the request with
    /// the published token and comes back only with a 401.)
    fn fetch(self: &Rc<Self>, input: &JsValue, init: &JsValue) -> JsValue {
        if let Some(e) = self.disposed_error() {
            let (id, promise) = self.promise();
            self.reject(id, &e);
            return promise;
        }
        let now = self.now();
        let (access, generation) = if self.engine().send_due(now) {
            (JsValue::NULL, 0)
        } else {
            self.current().unwrap_or((U, 0))
        };
        self.host().request_(input, init, &access, generation)
    }

    /// A request of `fetch` handed over as `[response, request, generation]`, a promise: a
    /// managed request while a refresh may be due (no response: refresh first, or wait for the
    /// one in flight), or the 401 to one sent with the token of `generation` (`request` its
    /// spare): replay at once if a newer token is held, else after one refresh, or hand over the
    /// 401.
    fn fetch_handed(self: &Rc<Self>, value: &JsValue) -> JsValue {
        let (id, promise) = self.promise();
        if let Some(e) = self.disposed_error() {
            self.reject(id, &e);
            return promise;
        }
        let reply = get(value, "0");
        let request = get(value, "1");
        let carried = number(&get(value, "2")) as u32;
        let now = self.now();
        let (wait, step) = if reply.is_undefined() {
            (Wait::Flight, self.engine().before_send(now))
        } else {
            (Wait::AfterFlight, self.engine().unauthorized(carried, now))
        };
        if self.wait_for(id, step) {
            self.insert(
                id,
                Op::Fetch {
                    wait,
                    request,
                    reply,
                    carried,
                },
            );
        } else {
            // Nothing to wait for: go on as if a refresh had just ended.
            self.fetch_step(id, wait, &request, &reply, carried);
        }
        promise
    }

    /// After the refresh a fetch waited for (if any): send with the current token (`Flight`),
    /// or replay once with a newer token than the 401's, else hand over the 401 (`AfterFlight`).
    fn fetch_step(&self, id: u32, wait: Wait, request: &JsValue, reply: &JsValue, carried: u32) {
        let (access, generation) = self.current().unwrap_or((U, 0));
        let value = if wait == Wait::Flight {
            self.host().send_(request, &access, generation)
        } else if generation != 0 && generation != carried {
            // The replay: a 401 to it goes to the caller.
            self.host().send_(request, &access, 0)
        } else {
            reply.clone()
        };
        self.resolve(id, &value);
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
            signal: U,
            status: 0,
            retry_after: None,
        };
        self.insert(id, Op::Flight(flight));
        self.host().then_(id, &U);
        self.arm();
        id
    }

    fn flight_step(self: &Rc<Self>, id: u32, ev: Ev, mut f: Flight) -> Option<Op> {
        match (f.wait, ev) {
            // Start: take the cross-tab lock if there is one. The lock request settles early
            // only if the lock is refused.
            (Wait::Promise, _) if self.s.locks => {
                f.wait = Wait::Lock;
                self.host().lock_(id);
                Some(Op::Flight(f))
            }
            (Wait::Promise | Wait::Lock, _) => self.flight_locked(id, f),
            (Wait::Storage, ev) => {
                match ev {
                    Ev::Ok(v) if v.is_string() => self.refresh_token.set(v),
                    Ev::Err => self.emit_error(&error(ErrorCode::Storage), None),
                    _ => {}
                }
                self.flight_post(id, f)
            }
            (Wait::Response, Ev::Ok(response)) => {
                f.status = status(&response);
                let retry_after = self.host().json_(id, &response);
                f.retry_after = text(&retry_after).as_deref().and_then(parse_retry_after);
                f.wait = Wait::Json;
                Some(Op::Flight(f))
            }
            (Wait::Response, _) => {
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
                        let failure = Failure::Http {
                            status: f.status,
                            error: text(&get(&body, "error")),
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
        let check = self.engine().lock_acquired(f.ticket, self.now());
        if check != LockCheck::Proceed {
            return self.flight_end(id, f, None);
        }
        // Another tab may have rotated the token into the shared storage.
        if self.storage(id, GET, &U) {
            f.wait = Wait::Storage;
            return Some(Op::Flight(f));
        }
        self.flight_post(id, f)
    }

    fn flight_post(self: &Rc<Self>, id: u32, mut f: Flight) -> Option<Op> {
        let token = if self.body_mode() {
            let token = self.refresh_token();
            if !token.is_string() {
                // Nothing to refresh with: as good as a dead refresh token.
                let failure = Failure::Http {
                    status: 400,
                    error: Some("invalid_grant".into()),
                    retry_after_ms: None,
                };
                return self.flight_end(id, f, Some((Outcome::Failure(failure), U)));
            }
            token
        } else {
            U
        };
        self.engine().sent(self.now());
        f.signal = self.host().post_(id, REFRESH_ENDPOINT, &token, &U);
        f.wait = Wait::Response;
        Some(Op::Flight(f))
    }

    /// The flight is over: record the outcome (none: another tab refreshed, or the ticket is
    /// void), share the new token, release the lock, notify, wake the waiters.
    fn flight_end(
        self: &Rc<Self>,
        id: u32,
        f: Flight,
        outcome: Option<(Outcome<JsValue>, JsValue)>,
    ) -> Option<Op> {
        let finished = outcome.map(|(outcome, rotated)| {
            let finished = self
                .engine()
                .finish(f.ticket, outcome, self.now(), js::random());
            if matches!(finished, Finished::Refreshed | Finished::Restored) {
                if rotated.is_string() && self.body_mode() {
                    self.refresh_token.set(rotated.clone());
                    self.store(&rotated);
                }
                self.broadcast_token();
            }
            finished
        });
        // Releases the lock, if this flight holds it.
        self.resolve(id, &U);
        if self
            .flight
            .get()
            .is_some_and(|(ticket, _)| ticket == f.ticket)
        {
            self.flight.set(None);
        }
        let failed = match finished.unwrap_or(Finished::Discarded) {
            Finished::Discarded => None,
            Finished::Refreshed => {
                self.emit_refresh(NETWORK);
                None
            }
            Finished::Restored => {
                self.emit_refresh(RESTORE);
                None
            }
            Finished::Expired => {
                self.forget_refresh_token();
                let err = error(ErrorCode::SessionExpired);
                self.host().emit_(EXPIRED, &err, &U);
                Some(err)
            }
            Finished::NoSession => {
                self.forget_refresh_token();
                None
            }
            Finished::Retry { code, delay_ms } => {
                let err = error(code);
                self.emit_error(&err, Some(delay_ms));
                Some(err)
            }
            Finished::Failed(code) => Some(error(code)),
        };
        self.arm();
        let waiting: Vec<u32> = {
            let mut waiters = self.waiters();
            let mine = waiters.iter().filter(|w| w.0 == id).map(|w| w.1).collect();
            waiters.retain(|w| w.0 != id);
            mine
        };
        for w in waiting {
            self.resume(w, Ev::Flight(failed.clone()));
        }
        None
    }

    // ----- refresh(), restore() -----

    /// `refresh()` (resolves once a new token is held), or `restore()` (resolves to `true` if a
    /// session was found: the cookie, or a stored refresh token; `false` at once, without a
    /// request, in cookie mode when the Worker's session hint says the session is over).
    fn refresh_or_restore(self: &Rc<Self>, restore: bool) -> JsValue {
        let (id, promise) = self.promise();
        if let Some(e) = self.disposed_error() {
            self.reject(id, &e);
        } else if restore && self.signed_in() {
            self.resolve(id, &JsValue::TRUE);
        } else if restore && !self.body_mode() && self.host().over_() {
            // The Worker's hint says the session is over: asking would only be refused.
            self.resolve(id, &JsValue::FALSE);
        } else if restore && self.body_mode() && !self.refresh_token().is_string() {
            if self.storage(id, GET, &U) {
                self.insert(
                    id,
                    Op::Refresh {
                        wait: Wait::Storage,
                        restore,
                    },
                );
            } else {
                self.resolve(id, &JsValue::FALSE);
            }
        } else if let Some(op) = self.refresh_flight(id, restore) {
            self.insert(id, op);
        }
        promise
    }

    fn refresh_flight(self: &Rc<Self>, id: u32, restore: bool) -> Option<Op> {
        let now = self.now();
        let answer = if restore {
            self.engine().restore(now)
        } else {
            self.engine().manual(now)
        };
        let step = match answer {
            Begin::Start(ticket) => Step::Start(ticket),
            Begin::Join => Step::Await,
            Begin::Refused(code) => {
                self.reject(id, &error(code));
                return None;
            }
        };
        if !self.wait_for(id, step) {
            self.resolve(id, &JsValue::from(self.signed_in()));
            return None;
        }
        Some(Op::Refresh {
            wait: Wait::Flight,
            restore,
        })
    }

    fn refresh_step(self: &Rc<Self>, id: u32, ev: Ev, wait: Wait, restore: bool) -> Option<Op> {
        let value = match (wait, ev) {
            (Wait::Storage, Ev::Ok(stored)) if stored.is_string() => {
                self.refresh_token.set(stored);
                return self.refresh_flight(id, restore);
            }
            (Wait::Storage, _) => JsValue::FALSE,
            (_, Ev::Flight(Some(e))) => {
                self.reject(id, &e);
                return None;
            }
            _ if restore => JsValue::from(self.signed_in()),
            _ if self.signed_in() => U,
            _ => {
                self.reject(id, &error(ErrorCode::NotSignedIn));
                return None;
            }
        };
        self.resolve(id, &value);
        None
    }

    // ----- login, setSession, logout -----

    /// `login(username, password)`.
    pub fn login(self: &Rc<Self>, username: &JsValue, password: &JsValue) -> JsValue {
        let (id, promise) = self.promise();
        if let Some(e) = self.disposed_error() {
            self.reject(id, &e);
            return promise;
        }
        let signal = self.host().post_(id, LOGIN, username, password);
        self.insert(
            id,
            Op::Login {
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
        signal: JsValue,
        status: Option<u16>,
    ) -> Option<Op> {
        let timeout = aborted(&signal);
        let (status, ev) = match (status, ev) {
            (None, Ev::Ok(response)) => {
                let _ = self.host().json_(id, &response);
                return Some(Op::Login {
                    signal,
                    status: Some(self::status(&response)),
                });
            }
            (None, _) => {
                self.reject(
                    id,
                    &error(if timeout {
                        ErrorCode::Timeout
                    } else {
                        ErrorCode::Network
                    }),
                );
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
                    error: text(&get(&body, "error")),
                    retry_after_ms: None,
                }),
            };
            self.reject(id, &http_error(code, status));
            return None;
        }
        match read_tokens(&body) {
            Some(tokens) if !self.disposed.get() => {
                self.start_session(tokens);
                self.resolve(id, &U);
            }
            _ => self.reject(
                id,
                &error(match () {
                    _ if self.disposed.get() => ErrorCode::Disposed,
                    _ if timeout => ErrorCode::Timeout,
                    _ => ErrorCode::BadResponse,
                }),
            ),
        }
        None
    }

    /// `setSession(tokens)`.
    pub fn set_session(&self, tokens: &JsValue) -> Result<(), JsValue> {
        if let Some(e) = self.disposed_error() {
            return Err(e);
        }
        let tokens = read_tokens(tokens).ok_or_else(|| error(ErrorCode::InvalidOptions))?;
        self.start_session(tokens);
        Ok(())
    }

    /// Starts a session (and persists the refresh token in body mode).
    fn start_session(&self, (token, lifetime, refresh): (JsValue, Option<u64>, JsValue)) {
        self.engine().start_session(token, lifetime, self.now());
        if self.body_mode() && refresh.is_string() {
            self.refresh_token.set(refresh.clone());
            self.store(&refresh);
        }
        self.broadcast_token();
        self.arm();
    }

    /// `logout()`: signs out here and in the other tabs at once, then revokes the session on
    /// the server; resolves to whether the server confirmed.
    pub fn logout(self: &Rc<Self>) -> JsValue {
        let (id, promise) = self.promise();
        if let Some(e) = self.disposed_error() {
            self.reject(id, &e);
            return promise;
        }
        let memory = self.refresh_token();
        self.signed_out(LOCAL);
        self.host().tell_(&U, None, None, &U);
        let op = if !memory.is_string() && self.storage(id, GET, &U) {
            Some(Op::Logout {
                wait: Wait::Storage,
            })
        } else {
            self.logout_step(id, Ev::Ok(memory), Wait::Storage)
        };
        if let Some(op) = op {
            self.insert(id, op);
        }
        promise
    }

    fn logout_step(self: &Rc<Self>, id: u32, ev: Ev, wait: Wait) -> Option<Op> {
        let value = match ev {
            Ev::Ok(v) => v,
            _ => U,
        };
        if wait == Wait::Promise {
            // The server's answer.
            self.resolve(id, &JsValue::from((200..300).contains(&status(&value))));
            return None;
        }
        let token = if self.body_mode() {
            if !value.is_string() {
                self.resolve(id, &JsValue::FALSE);
                return None;
            }
            self.store(&U);
            value
        } else {
            U
        };
        self.host().post_(id, LOGOUT_ENDPOINT, &token, &U);
        Some(Op::Logout {
            wait: Wait::Promise,
        })
    }

    /// `dispose()`: removes every timer, listener and channel, rejects pending operations with
    /// `ERR_DISPOSED` and releases a held lock; the client is unusable after.
    pub fn dispose(&self) {
        if self.disposed.replace(true) {
            return;
        }
        self.engine().sign_out();
        self.flight.set(None);
        self.refresh_token.set(U);
        self.waiters().clear();
        self.timer.set(None);
        self.ops().clear();
        self.host().close_(&error(ErrorCode::Disposed));
    }

    // ----- storage (body mode) -----

    /// Calls storage method `method` (`GET`, `SET` to `value`, `REMOVE`) for operation `id`,
    /// which it resumes; false without a storage (or in cookie mode).
    fn storage(&self, id: u32, method: u32, value: &JsValue) -> bool {
        self.body_mode() && self.host().store_(id, method, value)
    }

    /// Persists `value` (a string) or removes the stored token (`undefined`), reporting failures.
    fn store(&self, value: &JsValue) {
        let id = self.id();
        if self.storage(id, if value.is_string() { SET } else { REMOVE }, value) {
            self.insert(id, Op::Store);
        }
    }

    fn forget_refresh_token(&self) {
        self.refresh_token.set(U);
        self.store(&U);
    }
}

/// An event source (see `NETWORK`) as `emit` takes it.
fn source_value(source: u32) -> JsValue {
    JsValue::from_f64(source as f64)
}

/// A response's HTTP status (0 if it is not a response).
fn status(response: &JsValue) -> u16 {
    // `as` saturates, and makes NaN 0.
    number(&get(response, "status")) as u16
}

fn aborted(signal: &JsValue) -> bool {
    get(signal, "aborted") == JsValue::TRUE
}
