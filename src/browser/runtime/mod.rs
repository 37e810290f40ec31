//! The client at run time: the [`Engine`] plus everything it cannot do itself: the clock, the
//! one timer, the client's own HTTP requests, event listeners, the cross-tab lock and channel,
//! wake-up listeners and the pluggable storage. Each is a method of its [`Host`]: in the
//! browser the JavaScript plumbing of `glue.js` (`src/browser/js.rs`), in native tests a
//! recording fake (tests/native/client_runtime.rs). The runtime is generic over it and
//! monomorphized once per build: the package has one implementation. The decisions are made
//! here and in the core.
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
//! owner's, with a method number ([`Inner::call`]).
//!
//! Discipline: a `RefCell` borrow never spans a call into JavaScript (a listener or an injected
//! function may call back into the client; the dispatcher is an `Fn` closure and may re-enter).
//!
//! This file holds the state, the operation table and the dispatcher; `host` the [`Host`]
//! trait; `entry` the entry points from JavaScript, `state` the clock, events, timer, page events and other tabs, `fetch` the
//! requests of `auth.fetch`, `flight` the refresh in flight, `session` the methods that start
//! or end a session and the storage.

use ::core::cell::{Cell, RefCell, RefMut};
use alloc::rc::Rc;
use alloc::vec::Vec;

use crate::core::client::classify::{
    error_code, login_error, parse_retry_after, reported, retry_after_ms, StatusSet,
};
use crate::core::client::engine::replays;
use crate::core::client::interface::{Kind, Method, Signal, StorageMethod, KINDS};
use crate::core::client::schedule::lifetime_from_claims;
use crate::core::client::{
    Begin, ClientConfig, ElapsedClock, Endpoint, Engine, ErrorCode, EventKind, Failure, Finished,
    LockCheck, Outcome, Source, Step, Ticket, Transport,
};
pub use host::Host;

mod entry;
mod fetch;
mod flight;
mod host;
mod session;
mod state;

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

/// A value of host `H`.
pub type V<H> = <H as Host>::Value;

/// The runtime's settings, read from the options at construction; see `AuthClientOptions` in the
/// TypeScript declarations.
pub struct Settings<H> {
    /// The host: endpoints, origins, fetch, storage, channel, listeners, timer, clock.
    pub host: H,
    /// Cookie or body transport of the refresh token.
    pub transport: Transport,
    /// Whether refreshes take the cross-tab Web Lock (cross-tab on, and `navigator.locks` exists).
    pub locks: bool,
    /// Timeout of the client's own requests (login, refresh, logout), ms.
    pub timeout_ms: f64,
    /// Whether the client's own requests go to another origin in cookie mode (see
    /// [`reported`](crate::core::client::classify::reported)).
    pub cross_origin: bool,
}

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
enum Op<T> {
    /// `auth.fetch(input, init)`: `request` is the request until it is sent with the token, then
    /// its spare, for the replay; `reply` the 401 kept while the refresh after it runs; `carried`
    /// the generation of the token it carried.
    Fetch {
        wait: Wait,
        request: T,
        reply: T,
        carried: u32,
    },
    /// `login(username, password)`; `status` once the response is in.
    Login {
        signal: T,
        status: Option<u16>,
        retry_after: Option<u64>,
    },
    /// `logout()`.
    Logout { wait: Wait },
    /// `restore()` and `refresh()` (`restore` tells which).
    Refresh { wait: Wait, restore: bool },
    /// The refresh owned by `ticket`.
    Flight(Flight<T>),
    /// A storage write: reports failures.
    Store,
}

struct Flight<T> {
    ticket: Ticket,
    wait: Wait,
    signal: T,
    status: u16,
    retry_after: Option<u64>,
    /// The `error` member of a refusal's body.
    oauth_error: T,
}

/// What resumes an operation.
enum Ev<T> {
    /// A promise fulfilled.
    Ok(T),
    /// A promise rejected (with what, no step needs).
    Err,
    /// The refresh it waited for ended; with the `Error` it failed with, if it did.
    Flight(Option<T>),
    /// The Web Lock was granted.
    Lock,
}

/// The shared state behind an `AuthClient`.
pub struct Inner<H: Host> {
    s: Settings<H>,
    core: RefCell<Engine<V<H>>>,
    clock: Cell<ElapsedClock>,
    /// Body mode: the current refresh token (a string, or `undefined`).
    refresh_token: Cell<V<H>>,
    /// The operation id of the refresh in flight (its [`Flight`] holds the ticket).
    flight: Cell<Option<u32>>,
    /// Operations waiting for a flight: (flight id, waiting op id).
    waiters: RefCell<Vec<(u32, u32)>>,
    ops: RefCell<Vec<(u32, Op<V<H>>)>>,
    next_id: Cell<u32>,
    /// The deadline (engine clock) the timer is armed for.
    timer: Cell<Option<u64>>,
    disposed: Cell<bool>,
}

impl<H: Host> Inner<H> {
    // The state behind `RefCell`s is reached through these helpers rather than `borrow_mut` at
    // each use: every call site of `borrow_mut` carries its own panic location, which adds up.

    fn engine(&self) -> RefMut<'_, Engine<V<H>>> {
        self.core.borrow_mut()
    }

    fn ops(&self) -> RefMut<'_, Vec<(u32, Op<V<H>>)>> {
        self.ops.borrow_mut()
    }

    fn waiters(&self) -> RefMut<'_, Vec<(u32, u32)>> {
        self.waiters.borrow_mut()
    }

    /// The refresh token (body mode), a string or `undefined`.
    fn refresh_token(&self) -> V<H> {
        let token = self.refresh_token.take();
        self.refresh_token.set(token.clone());
        token
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
    fn promise(&self) -> (u32, V<H>) {
        let id = self.id();
        (id, self.host().defer(id))
    }

    fn resolve(&self, id: u32, value: &V<H>) {
        self.host().settle(id, true, value);
    }

    fn reject(&self, id: u32, reason: &V<H>) {
        self.host().settle(id, false, reason);
    }

    fn insert(&self, id: u32, op: Op<V<H>>) {
        self.ops().push((id, op));
    }

    /// Every JavaScript callback lands here; only a handed-over request gets an answer (its
    /// promise).
    #[inline(always)]
    pub fn dispatch(self: Rc<Self>, tag: u32, value: V<H>) -> V<H> {
        let (id, kind) = (tag / KINDS, tag % KINDS);
        if id == 0 {
            match kind {
                _ if self.disposed.get() => {}
                TIMER => self.on_timer(),
                WAKE => {
                    let online = H::is_true(&value);
                    self.on_wake(online)
                }
                TOKEN_MESSAGE => self.on_token_message(&value),
                _ => self.on_logout_message(),
            }
            return Default::default();
        }
        let ev = match kind {
            FULFILLED => Ev::Ok(value),
            REJECTED => Ev::Err,
            LOCKED => Ev::Lock,
            _ => return self.fetch_handed(&value),
        };
        self.resume(id, ev);
        self.u()
    }

    /// Advances operation `id` by one step.
    fn resume(self: &Rc<Self>, id: u32, ev: Ev<V<H>>) {
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
            Op::Login {
                signal,
                status,
                retry_after,
            } => self.login_step(id, ev, signal, status, retry_after),
            Op::Logout { wait } => self.logout_step(id, ev, wait),
            Op::Refresh { wait, restore } => self.refresh_step(id, ev, wait, restore),
            Op::Flight(flight) => self.flight_step(id, ev, flight),
            Op::Store => {
                if let Ev::Err = ev {
                    self.emit_error(&self.error(ErrorCode::Storage), None);
                }
                None
            }
        };
        if let Some(op) = next {
            self.insert(id, op);
        }
    }

    /// An event source (see `NETWORK`) as `emit` takes it.
    fn source_value(&self, source: u32) -> V<H> {
        H::float(source as f64)
    }

    /// A response's HTTP status (0 if it is not a response).
    fn status(&self, response: &V<H>) -> u16 {
        // `as` saturates, and makes NaN 0.
        H::number(&H::get(response, "status")) as u16
    }

    fn aborted(&self, signal: &V<H>) -> bool {
        H::is_true(&H::get(signal, "aborted"))
    }

    /// `undefined`.
    fn u(&self) -> V<H> {
        V::<H>::default()
    }

    /// An `Error` whose `.code` is the stable code (see [`ErrorCode`]).
    #[inline(never)]
    fn error(&self, code: ErrorCode) -> V<H> {
        H::error(code as u32, None, f64::NAN, &self.u())
    }

    /// Like [`Inner::error`], with the HTTP `.status` that caused it, if any, `.retryAfter` (ms),
    /// if known, and the server's `error` member (`.oauthError`, if a string).
    #[inline(never)]
    fn http_error(
        &self,
        code: ErrorCode,
        status: Option<u16>,
        retry_after_ms: Option<u64>,
        oauth_error: &V<H>,
    ) -> V<H> {
        H::error(
            code as u32,
            status,
            retry_after_ms.map_or(f64::NAN, |ms| ms as f64),
            oauth_error,
        )
    }

    /// A token response `{access_token, expires_in?, refresh_token?}`: the access token (a
    /// JavaScript string), its lifetime (`expires_in`, else the JWT's `exp - iat`) and the refresh
    /// token (or `undefined`); `None` without a non-empty string `access_token`.
    fn read_tokens(&self, value: &V<H>) -> Option<(V<H>, Option<u64>, V<H>)> {
        let access = H::get(value, "access_token");
        let claims = H::claims(&access);
        if H::is_undefined(&claims) {
            return None;
        }
        // NaN (not a number) is no positive lifetime either: the JWT's times are read then.
        let lifetime = lifetime_from_claims(
            Some(H::number(&H::get(value, "expires_in"))),
            H::number(&H::get(&claims, "0")),
            H::number(&H::get(&claims, "1")),
        );
        let refresh = H::get(value, "refresh_token");
        Some((
            access,
            lifetime,
            if H::is_string(&refresh) {
                refresh
            } else {
                self.u()
            },
        ))
    }
}
