//! The whole client as an I/O-free state machine: [`Client`].
//!
//! The caller (the browser adapter, or a test) feeds it *inputs*, one method each: a method call
//! of the public `AuthClient` with its arguments, a settled request or storage operation
//! ([`Client::settled`]), the timer firing, a wake-up, the Web Lock granted, a message from
//! another tab, the response to a request of `auth.fetch`. Every input returns [`Effects`]: what
//! the caller must now do, in order (send this request, take the lock, read or write storage,
//! arm the timer, emit an event, settle a caller's promise, broadcast), and the promise the call
//! answers with, if any. The caller does them and reports back with the operation's id. The
//! client never calls out, never reads a clock (`now`, milliseconds on the caller's elapsed-time
//! clock, and `random` are parameters) and never blocks.
//!
//! Every asynchronous operation (a `login()`, a `fetch` waiting for a refresh, the refresh
//! itself, a storage write) has an id; a promise handed to a caller is named by its operation's
//! id. `H` is the platform's handle type for what the client passes through without looking
//! into it: tokens, requests, responses, the caller's credentials.
//!
//! The decisions made here, each tested natively (tests/native/client_machine.rs): what a
//! response to login means (401: `ERR_INVALID_CREDENTIALS`; 2xx without a token:
//! `ERR_BAD_RESPONSE`, or `ERR_TIMEOUT` when the timeout cut the body), that a body-mode refresh
//! without a refresh token ends the session, which `fetch` requests get the token
//! ([`Scope`]), when a 401 is replayed, that `restore()` in
//! cookie mode believes the session hint, and everything the [`Engine`] decides.

use alloc::string::String;
use alloc::vec::Vec;

use crate::core::client::classify::{
    error_code, login_error, parse_retry_after, retry_after_ms, Failure, StatusSet,
};
use crate::core::client::config::Transport;
use crate::core::client::engine::{Begin, Engine, Finished, LockCheck, Outcome, Step, Ticket};
use crate::core::client::error::ErrorCode;
use crate::core::client::interface::StorageMethod;
use crate::core::client::options::{Options, Scope};
use crate::core::client::schedule::lifetime_from_claims;

/// Longest delay a timer takes (`setTimeout`'s limit, 2^31 - 1 ms); longer waits are re-armed.
pub const MAX_TIMER_MS: u64 = 0x7fff_ffff;

/// An error for a caller: a stable code, the HTTP status that caused it and the server's OAuth
/// `error` member, if any, and for `ERR_TOO_MANY_ATTEMPTS` how long to wait (ms, `retryAfter`),
/// if the server said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthError {
    /// The stable code.
    pub code: ErrorCode,
    /// The HTTP status that caused it.
    pub status: Option<u16>,
    /// How long to wait before trying again (ms).
    pub retry_after_ms: Option<u64>,
    /// The `error` member of the response's body (`oauthError`), if a string.
    pub oauth_error: Option<String>,
}

impl From<ErrorCode> for AuthError {
    fn from(code: ErrorCode) -> AuthError {
        AuthError {
            code,
            status: None,
            retry_after_ms: None,
            oauth_error: None,
        }
    }
}

impl AuthError {
    /// Error `code`, caused by a refusal with `status` and the body's `error` member, if any.
    fn refusal(code: ErrorCode, cause: &Option<(u16, Option<String>)>) -> AuthError {
        match cause {
            Some((status, error)) => AuthError {
                status: Some(*status),
                oauth_error: error.clone(),
                ..code.into()
            },
            None => code.into(),
        }
    }
}

/// The events a caller can listen to, in the order of [`EventKind::NAMES`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// A new access token.
    Refresh,
    /// The session ended.
    Expired,
    /// A refresh failed; the session is kept.
    Error,
    /// Signed out.
    Logout,
}

impl EventKind {
    /// The events' names (`on(name, listener)`), by `kind as usize`.
    pub const NAMES: [&'static str; 4] = ["refresh", "expired", "error", "logout"];

    /// The event named `name`.
    pub fn parse(name: &str) -> Option<EventKind> {
        const ALL: [EventKind; 4] = [
            EventKind::Refresh,
            EventKind::Expired,
            EventKind::Error,
            EventKind::Logout,
        ];
        let i = EventKind::NAMES.iter().position(|n| *n == name)?;
        Some(ALL[i])
    }
}

/// Where a `refresh` or `logout` event comes from, in the order of [`Source::NAMES`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// A refresh request of this client.
    Network,
    /// Another tab's refresh (its access token, adopted: [`Engine::adopt`]).
    Tab,
    /// `restore()`.
    Restore,
    /// `logout()` here.
    Local,
}

impl Source {
    /// The sources' names, by `source as usize`.
    pub const NAMES: [&'static str; 4] = ["network", "tab", "restore", "local"];
}

/// An event to emit to the listeners.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// `refresh`: a new access token, expiring at `expires_at` (elapsed-time clock), if known.
    Refresh {
        /// Where it came from.
        source: Source,
        /// Its expiry.
        expires_at: Option<u64>,
    },
    /// `expired`: the session is over.
    Expired(AuthError),
    /// `error`: a refresh failed (or storage did); retried in `retry_in` ms, if at all.
    Error {
        /// What failed.
        error: AuthError,
        /// When the next attempt is.
        retry_in: Option<u64>,
    },
    /// `logout`.
    Logout(Source),
}

/// The client's own endpoints, by their index in [`Scope::endpoints`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// `loginPath`.
    Login,
    /// `refreshPath`.
    Refresh,
    /// `logoutPath`.
    Logout,
}

/// The JSON body of a request of the client's own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body<H> {
    /// `{"username", "password", "transport"}`.
    Login {
        /// As the caller gave it.
        username: H,
        /// As the caller gave it.
        password: H,
        /// The transport asked for.
        transport: Transport,
    },
    /// `{"refresh_token"}`.
    Token(H),
    /// No body (cookie transport).
    Empty,
}

/// A storage operation (body mode, on the caller's storage, under the configured key).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StorageAction<H> {
    /// Read the refresh token; report [`Settled::Read`].
    Read,
    /// Store this refresh token.
    Write(H),
    /// Remove the stored token.
    Remove,
}

impl<H> StorageAction<H> {
    /// The storage method that carries it out.
    pub fn method(&self) -> StorageMethod {
        match self {
            StorageAction::Read => StorageMethod::Get,
            StorageAction::Write(_) => StorageMethod::Set,
            StorageAction::Remove => StorageMethod::Remove,
        }
    }
}

/// A message to or from the other tabs. It never carries a refresh token (any script of the
/// origin can listen and post), and a tab that receives one takes it as a hint:
/// [`Engine::adopt`], [`Engine::logout_hint`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message<H> {
    /// A new access token, just obtained by a refresh, and its lifetime (ms).
    Token {
        /// The access token.
        access: H,
        /// Its lifetime.
        lifetime: Option<u64>,
    },
    /// Signed out.
    Logout,
}

impl Message<()> {
    /// The `type` of a token message.
    pub const TOKEN: &'static str = "token";
    /// The `type` of a logout message.
    pub const LOGOUT: &'static str = "logout";
}

/// What a promise resolves to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer<H> {
    /// `undefined`.
    Undefined,
    /// A boolean.
    Bool(bool),
    /// A platform value (a response, or the promise of one).
    Handle(H),
}

/// Something the caller must do.
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use = "an effect the client asked for must be carried out"]
pub enum Effect<H> {
    /// POST a request of the client's own to `endpoint` with the request timeout; in cookie
    /// transport with the CSRF header and credentials. Report [`Settled::Response`] or
    /// [`Settled::NoResponse`] for `id`.
    Post {
        /// The operation.
        id: u32,
        /// Where.
        endpoint: Endpoint,
        /// The JSON body.
        body: Body<H>,
        /// Cookie transport: the CSRF header and `credentials: "include"`.
        cookie: bool,
    },
    /// Send a request of `auth.fetch` with the caller's fetch function, with
    /// `Authorization: Bearer <token>` if `token`; settle promise `settle` with the result (or,
    /// if `None`, return it as the answer of the call). If `carried` is not 0 (the token's
    /// generation), keep a spare copy of the request and report its response with
    /// [`Client::fetch_response`].
    Send {
        /// The promise to settle with the result; `None`: the call's answer.
        settle: Option<u32>,
        /// The request.
        request: H,
        /// The access token to attach.
        token: Option<H>,
        /// The generation of `token` whose response is reported (0: not reported).
        carried: u32,
    },
    /// Request the cross-tab lock for `id`; report [`Client::lock_granted`] (or
    /// [`Settled::Failed`] if it cannot be had). Hold it until [`Effect::Release`].
    Lock(u32),
    /// Release the lock taken for `id`.
    Release(u32),
    /// A storage operation for `id`; report [`Settled`] (`Read`, `Done` or `Failed`).
    Storage {
        /// The operation.
        id: u32,
        /// What to do.
        action: StorageAction<H>,
    },
    /// Arm the one timer to fire in this many ms (calling [`Client::timer`]), or clear it.
    Timer(Option<u64>),
    /// Call the listeners.
    Emit(Event),
    /// Resolve (or reject) promise `id`.
    Settle {
        /// The operation whose promise it is.
        id: u32,
        /// Its outcome.
        result: Result<Answer<H>, AuthError>,
    },
    /// Post a message to the other tabs.
    Broadcast(Message<H>),
    /// Disposed: remove every timer, listener and channel; reject every pending promise with
    /// `ERR_DISPOSED`.
    Close,
}

/// What an input asks the caller to do. Iterate over it and carry out every effect, in order.
#[must_use = "the effects must be carried out"]
#[derive(Debug)]
pub struct Effects<H> {
    /// The promise that is the call's answer (created before any effect is carried out), if any.
    pub promise: Option<u32>,
    list: Vec<Effect<H>>,
}

impl<H> IntoIterator for Effects<H> {
    type Item = Effect<H>;
    type IntoIter = alloc::vec::IntoIter<Effect<H>>;
    fn into_iter(self) -> Self::IntoIter {
        self.list.into_iter()
    }
}

/// A token response's members, as read by the caller: `access` the `access_token` if it is a
/// non-empty string; `expires_in`, and `exp`/`iat` of the access token's payload decoded but not
/// verified, NaN where absent or not numbers; `refresh` the `refresh_token` if it is a string.
#[derive(Clone, Debug, PartialEq)]
pub struct Tokens<H> {
    /// The access token.
    pub access: H,
    /// Seconds.
    pub expires_in: f64,
    /// The JWT's `exp`.
    pub exp: f64,
    /// The JWT's `iat`.
    pub iat: f64,
    /// The JWT's `sub`, if a string.
    pub sub: Option<H>,
    /// The refresh token.
    pub refresh: Option<H>,
}

/// A response to a request of the client's own, as read by the caller (the body is read as
/// JSON first; a body that is not JSON counts as none).
#[derive(Clone, Debug, PartialEq)]
pub struct Response<H> {
    /// The HTTP status.
    pub status: u16,
    /// Whether the request's timeout fired (while the body was read).
    pub timed_out: bool,
    /// The body's `error`, if a string.
    pub error: Option<String>,
    /// The `Retry-After` header, if any.
    pub retry_after: Option<String>,
    /// The token response's members, if the body has an `access_token`.
    pub tokens: Option<Tokens<H>>,
}

/// How an operation the client asked for ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Settled<H> {
    /// A request of the client's own got a response.
    Response(Response<H>),
    /// A request of the client's own got none (`fetch` rejected).
    NoResponse {
        /// Whether the request's timeout fired.
        timed_out: bool,
    },
    /// A storage read: the stored value, if a string.
    Read(Option<H>),
    /// A storage write or removal succeeded.
    Done,
    /// A storage operation failed, or the lock cannot be had.
    Failed,
}

/// What a waiting operation is waiting for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wait {
    /// The refresh in flight.
    Flight,
    /// A storage read.
    Storage,
    /// The response to a request.
    Response,
    /// The cross-tab lock.
    Lock,
}

#[derive(Debug)]
enum Op<H> {
    /// `auth.fetch`, waiting for a refresh: `request` to send after it (or its spare, for the
    /// replay), and, after a 401, that response and the generation the request carried.
    Fetch {
        request: H,
        unauthorized: Option<(H, u32)>,
    },
    /// `login()`.
    Login,
    /// `logout()`.
    Logout(Wait),
    /// `refresh()`, or `restore()`.
    Refresh { restore: bool },
    /// The refresh request of `ticket`.
    Flight { ticket: Ticket, wait: Wait },
    /// A storage write (failures are reported). `release`: the write of the refresh token the
    /// flight of the same id rotated, which holds that flight's lock until it settles (another
    /// tab must not read the storage before it holds the new token: it would present the
    /// rotated-away one and trip reuse detection).
    Store { release: bool },
}

/// The browser package's client; see the module documentation.
#[derive(Debug)]
pub struct Client<H> {
    engine: Engine<H>,
    transport: Transport,
    scope: Scope,
    locks: bool,
    storage: bool,
    /// Body mode: the current refresh token.
    refresh_token: Option<H>,
    /// The `sub` of the current access token, if it names one.
    subject: Option<H>,
    /// The operation id of the refresh in flight.
    flight: Option<u32>,
    /// The status and `error` member of the refusal that ends the flight, if one does.
    cause: Option<(u16, Option<String>)>,
    /// The page reads the server's session hint and it says the session is over
    /// ([`Client::session_hint`]).
    hint_over: bool,
    /// Operations waiting for a flight: (flight id, waiting id).
    waiters: Vec<(u32, u32)>,
    ops: Vec<(u32, Op<H>)>,
    next_id: u32,
    /// The instant the timer is armed for.
    timer: Option<u64>,
    disposed: bool,
    /// The current input's time and random number.
    now: u64,
    random: f64,
    out: Vec<Effect<H>>,
}

impl<H: Clone + PartialEq> Client<H> {
    /// A signed-out client. `locks`: the platform has the Web Locks API (used if `crossTab`).
    pub fn new(options: &Options<H>, locks: bool) -> Client<H> {
        Client {
            engine: Engine::new(options.config.clone()),
            transport: options.transport,
            scope: options.scope.clone(),
            locks: locks && options.cross_tab,
            storage: options.storage.is_some() && options.transport == Transport::Body,
            refresh_token: None,
            subject: None,
            flight: None,
            cause: None,
            hint_over: false,
            waiters: Vec::new(),
            ops: Vec::new(),
            next_id: 1,
            timer: None,
            disposed: false,
            now: 0,
            random: 0.5,
            out: Vec::new(),
        }
    }

    // ----- reading the state -----

    /// Whether a session is held.
    pub fn signed_in(&self) -> bool {
        self.engine.signed_in()
    }

    /// When the access token expires, if known.
    pub fn expires_at(&self) -> Option<u64> {
        self.engine.expires_at()
    }

    /// When the next refresh (or retry) is scheduled, if any.
    pub fn next_refresh_at(&self) -> Option<u64> {
        self.engine.deadline()
    }

    /// Refresh requests sent so far.
    pub fn refresh_count(&self) -> u32 {
        self.engine.refresh_count()
    }

    /// Whether the cross-tab lock is used.
    pub fn uses_locks(&self) -> bool {
        self.locks
    }

    /// The decisions behind the state (for tests and diagnostics).
    pub fn engine(&self) -> &Engine<H> {
        &self.engine
    }

    // ----- plumbing -----

    fn enter(&mut self, now: u64) {
        self.now = now;
    }

    fn done(&mut self, promise: Option<u32>) -> Effects<H> {
        Effects {
            promise,
            list: ::core::mem::take(&mut self.out),
        }
    }

    fn id(&mut self) -> u32 {
        let id = self.next_id;
        self.next_id = id.wrapping_add(1).max(1);
        id
    }

    fn effect(&mut self, effect: Effect<H>) {
        self.out.push(effect);
    }

    fn settle(&mut self, id: u32, result: Result<Answer<H>, AuthError>) {
        self.effect(Effect::Settle { id, result });
    }

    fn emit(&mut self, event: Event) {
        self.effect(Effect::Emit(event));
    }

    fn insert(&mut self, id: u32, op: Op<H>) {
        self.ops.push((id, op));
    }

    fn body_mode(&self) -> bool {
        self.transport == Transport::Body
    }

    /// A new promise, rejected at once if the client is disposed; `None` then.
    fn promise(&mut self) -> (u32, bool) {
        let id = self.id();
        if self.disposed {
            self.settle(id, Err(ErrorCode::Disposed.into()));
        }
        (id, !self.disposed)
    }

    fn post(&mut self, id: u32, endpoint: Endpoint, body: Body<H>) {
        let cookie = !self.body_mode();
        self.effect(Effect::Post {
            id,
            endpoint,
            body,
            cookie,
        });
    }

    /// Starts storage `action` for `id` if there is a storage (body mode); whether it did.
    fn storage(&mut self, id: u32, action: StorageAction<H>) -> bool {
        if self.storage {
            self.effect(Effect::Storage { id, action });
        }
        self.storage
    }

    /// Persists the refresh token (or removes it: `None`); failures are reported.
    fn store(&mut self, token: Option<H>) {
        let id = self.id();
        self.store_as(id, token, false);
    }

    /// Persists (or removes) the refresh token as operation `id`; `release`: see [`Op::Store`].
    /// Whether a write started.
    fn store_as(&mut self, id: u32, token: Option<H>, release: bool) -> bool {
        let action = token.map_or(StorageAction::Remove, StorageAction::Write);
        let started = self.storage(id, action);
        if started {
            self.insert(id, Op::Store { release });
        }
        started
    }

    fn forget_refresh_token(&mut self) {
        self.refresh_token = None;
        self.store(None);
    }

    /// Arms the timer for the engine's deadline (or clears it), if that changed.
    fn arm(&mut self) {
        let want = if self.disposed {
            None
        } else {
            self.engine.deadline()
        };
        if self.timer != want {
            self.timer = want;
            let delay = want.map(|at| at.saturating_sub(self.now).min(MAX_TIMER_MS));
            self.effect(Effect::Timer(delay));
        }
    }

    fn emit_refresh(&mut self, source: Source) {
        let expires_at = self.engine.expires_at();
        self.emit(Event::Refresh { source, expires_at });
    }

    fn emit_error(&mut self, error: AuthError, retry_in: Option<u64>) {
        self.emit(Event::Error { error, retry_in });
    }

    fn current(&self) -> (Option<H>, u32) {
        match self.engine.access() {
            Some((token, generation)) => (Some(token.clone()), generation),
            None => (None, 0),
        }
    }

    /// Starts a session (login, `setSession`) and persists the refresh token in body mode.
    fn start_session(&mut self, tokens: Tokens<H>) {
        let lifetime = lifetime_from_claims(Some(tokens.expires_in), tokens.exp, tokens.iat);
        self.engine.start_session(tokens.access, lifetime, self.now);
        self.subject = tokens.sub;
        if self.body_mode() && tokens.refresh.is_some() {
            self.refresh_token = tokens.refresh.clone();
            self.store(tokens.refresh);
        }
        self.arm();
    }

    /// Local effects of a logout (here, or in another tab).
    fn signed_out(&mut self, source: Source) {
        let was = self.engine.sign_out();
        self.refresh_token = None;
        self.subject = None;
        self.arm();
        if was {
            self.emit(Event::Logout(source));
        }
    }

    // ----- method calls -----

    /// `login(username, password)`: resolves once signed in.
    pub fn login(&mut self, now: u64, username: H, password: H) -> Effects<H> {
        self.enter(now);
        let (id, live) = self.promise();
        if live {
            let transport = self.transport;
            let body = Body::Login {
                username,
                password,
                transport,
            };
            self.post(id, Endpoint::Login, body);
            self.insert(id, Op::Login);
        }
        self.done(Some(id))
    }

    fn login_settled(&mut self, id: u32, settled: Settled<H>) {
        let result = match settled {
            Settled::Response(r) if (200..300).contains(&r.status) && r.tokens.is_some() => {
                self.start_session(r.tokens.expect("a token response"));
                // Signed-in tabs of the same subject take it; signed-out ones restore with their
                // own cookie.
                self.broadcast_token();
                Ok(Answer::Undefined)
            }
            Settled::Response(r) => {
                let retry_after = r.retry_after.as_deref().and_then(retry_after_ms);
                let oauth_error = r.error.clone();
                let (code, status, retry_after_ms) =
                    login_error(r.status, r.error, retry_after, r.timed_out);
                Err(AuthError {
                    code,
                    status,
                    retry_after_ms,
                    oauth_error,
                })
            }
            Settled::NoResponse { timed_out } => {
                Err(error_code(&Failure::no_response(timed_out), StatusSet::DEFAULT).into())
            }
            _ => Err(ErrorCode::Network.into()),
        };
        self.settle(id, result);
    }

    /// `setSession(tokens)` (`None`: not a token response): throws `ERR_INVALID_OPTIONS` for
    /// anything but a token response.
    pub fn set_session(
        &mut self,
        now: u64,
        tokens: Option<Tokens<H>>,
    ) -> Result<Effects<H>, AuthError> {
        self.enter(now);
        if self.disposed {
            return Err(ErrorCode::Disposed.into());
        }
        self.start_session(tokens.ok_or(ErrorCode::InvalidOptions)?);
        Ok(self.done(None))
    }

    /// `restore()`: resolves to whether a session was found (the refresh cookie, or a stored
    /// refresh token). `hint_over`: the page reads the server's session hint and it says the
    /// session is over; in cookie mode the answer is then `false` without a request.
    pub fn restore(&mut self, now: u64, hint_over: bool) -> Effects<H> {
        self.enter(now);
        self.session_hint(hint_over);
        let (id, live) = self.promise();
        if !live {
        } else if self.signed_in() {
            self.settle(id, Ok(Answer::Bool(true)));
        } else if self.transport.believes_session_hint() && hint_over {
            // The server's hint says the session is over: asking would only be refused.
            self.settle(id, Ok(Answer::Bool(false)));
        } else if self.body_mode() && self.refresh_token.is_none() {
            if self.storage(id, StorageAction::Read) {
                self.insert(id, Op::Refresh { restore: true });
            } else {
                self.settle(id, Ok(Answer::Bool(false)));
            }
        } else {
            self.refresh_op(id, true);
        }
        self.done(Some(id))
    }

    /// `refresh()`: resolves once a new token is held (joining a refresh in flight). Signed
    /// out, the first one restores first if it may ([`Engine::lazy_restore`]; `hint_over` as
    /// for [`restore`](Self::restore)).
    pub fn refresh(&mut self, now: u64, hint_over: bool) -> Effects<H> {
        self.enter(now);
        let (id, live) = self.promise();
        if !live {
        } else if self.engine.lazy_pending() {
            let step = {
                let possible = self.lazy_possible(hint_over);
                self.engine.lazy_restore(now, possible)
            };
            self.wait_for(Some((id, Op::Refresh { restore: false })), step);
        } else {
            self.refresh_op(id, false);
        }
        self.done(Some(id))
    }

    /// Whether a lazy restore may ask: cookie mode, unless the session hint says it is over.
    fn lazy_possible(&mut self, hint_over: bool) -> bool {
        self.hint_over = hint_over;
        self.transport.believes_session_hint() && !hint_over
    }

    /// What the page now reads of the server's session hint: `over` if it says the session is
    /// over (`sr_session=0` and no `sr_session=1`). The adapter reports it before each input that
    /// can send a refresh (the timer, a wake-up, the lock granted): in cookie mode a refresh is
    /// not sent while the hint says the session is over; it ends the session instead.
    pub fn session_hint(&mut self, over: bool) {
        self.hint_over = over;
    }

    fn refresh_op(&mut self, id: u32, restore: bool) {
        let begin = if restore {
            self.engine.restore(self.now)
        } else {
            self.engine.manual(self.now)
        };
        let step = match begin {
            Begin::Start(ticket) => Step::Start(ticket),
            Begin::Join => Step::Await,
            Begin::Refused(code) => return self.settle(id, Err(code.into())),
        };
        self.wait_for(Some((id, Op::Refresh { restore })), step);
    }

    fn refresh_settled(&mut self, id: u32, restore: bool, settled: Settled<H>) {
        if let Settled::Read(Some(token)) = settled {
            self.refresh_token = Some(token);
            return self.refresh_op(id, restore);
        }
        // A failed read, or nothing stored: no session to restore.
        self.settle(id, Ok(Answer::Bool(false)));
    }

    fn refresh_flown(&mut self, id: u32, restore: bool, failed: Option<AuthError>) {
        let result = match failed {
            Some(e) => Err(e),
            None if restore => Ok(Answer::Bool(self.signed_in())),
            None if self.signed_in() => Ok(Answer::Undefined),
            None => Err(ErrorCode::NotSignedIn.into()),
        };
        self.settle(id, result);
    }

    /// `logout()`: signs out here at once, then revokes the session on the server (any refresh
    /// token of the family revokes it); resolves to whether the server confirmed. Then it tells
    /// the other tabs, which check their own session ([`Engine::logout_hint`]): by then the
    /// storage holds no token and the server has ended the session.
    pub fn logout(&mut self, now: u64) -> Effects<H> {
        self.enter(now);
        let (id, live) = self.promise();
        if live {
            let memory = self.refresh_token.clone();
            self.signed_out(Source::Local);
            if memory.is_none() && self.storage(id, StorageAction::Read) {
                self.insert(id, Op::Logout(Wait::Storage));
            } else {
                self.logout_revoke(id, memory);
            }
        }
        self.done(Some(id))
    }

    /// Revokes the session with the refresh token `token` (body mode; the cookie otherwise).
    fn logout_revoke(&mut self, id: u32, token: Option<H>) {
        let body = match (self.body_mode(), token) {
            (false, _) => Body::Empty,
            (true, Some(token)) => {
                self.store(None);
                Body::Token(token)
            }
            // Nothing to revoke with.
            (true, None) => return self.logout_done(id, false),
        };
        self.post(id, Endpoint::Logout, body);
        self.insert(id, Op::Logout(Wait::Response));
    }

    fn logout_settled(&mut self, id: u32, wait: Wait, settled: Settled<H>) {
        match (wait, settled) {
            (Wait::Storage, Settled::Read(token)) => self.logout_revoke(id, token),
            (Wait::Storage, _) => self.logout_revoke(id, None),
            (_, Settled::Response(r)) => self.logout_done(id, (200..300).contains(&r.status)),
            _ => self.logout_done(id, false),
        }
    }

    /// The logout is over (`confirmed` by the server or not): tell the other tabs, settle.
    fn logout_done(&mut self, id: u32, confirmed: bool) {
        self.effect(Effect::Broadcast(Message::Logout));
        self.settle(id, Ok(Answer::Bool(confirmed)));
    }

    /// `on(name, listener)` (and `off`): the event named `name`; `function`: the listener is a
    /// function. `ERR_INVALID_OPTIONS` for an unknown name or a listener that is no function,
    /// `ERR_DISPOSED` once disposed.
    pub fn on(&self, name: Option<&str>, function: bool) -> Result<EventKind, AuthError> {
        if self.disposed {
            return Err(ErrorCode::Disposed.into());
        }
        match name.and_then(EventKind::parse) {
            Some(kind) if function => Ok(kind),
            _ => Err(ErrorCode::InvalidOptions.into()),
        }
    }

    /// `dispose()`: drops the session from memory and every pending operation; the caller
    /// closes everything ([`Effect::Close`]). Every later call fails with `ERR_DISPOSED`.
    pub fn dispose(&mut self) -> Effects<H> {
        if !self.disposed {
            self.disposed = true;
            self.engine.sign_out();
            self.flight = None;
            self.refresh_token = None;
            self.waiters.clear();
            self.timer = None;
            self.ops.clear();
            self.effect(Effect::Close);
        }
        self.done(None)
    }

    // ----- fetch -----

    /// `auth.fetch(input, init)` for `request`, whose absolute URL is `url`; `authorization`:
    /// the caller set an `Authorization` header. A managed request (see [`Scope::manages`]) is
    /// sent with the access token, after a refresh if one is due; any other as it is.
    ///
    /// Signed out, the first managed request restores first if it may
    /// ([`Engine::lazy_restore`]; `hint_over` as for [`restore`](Self::restore)), then goes out
    /// with whatever token that left.
    pub fn fetch(
        &mut self,
        now: u64,
        request: H,
        url: &str,
        authorization: bool,
        hint_over: bool,
    ) -> Effects<H> {
        self.enter(now);
        if self.disposed {
            let (id, _) = self.promise();
            return self.done(Some(id));
        }
        if !self.scope.manages(url, authorization) {
            self.send(None, request, None, 0);
        } else if self.engine.send_due(now) || self.engine.lazy_pending() {
            let id = self.id();
            let step = if self.signed_in() {
                self.engine.before_send(now)
            } else {
                {
                    let possible = self.lazy_possible(hint_over);
                    self.engine.lazy_restore(now, possible)
                }
            };
            let op = Op::Fetch {
                request,
                unauthorized: None,
            };
            self.wait_for(Some((id, op)), step);
            return self.done(Some(id));
        } else {
            let (token, generation) = self.current();
            self.send(None, request, token, generation);
        }
        self.done(None)
    }

    fn send(&mut self, settle: Option<u32>, request: H, token: Option<H>, carried: u32) {
        self.effect(Effect::Send {
            settle,
            request,
            token,
            carried,
        });
    }

    /// The response, of status `status`, to a request of `auth.fetch` sent with the token of
    /// generation `carried`, and a spare copy of that request. A 401 means one refresh (or none
    /// if a newer token is held already) and one replay; the answer is then a promise
    /// ([`Effects::promise`]). Any other response goes to the caller as it is (no promise).
    pub fn fetch_response(
        &mut self,
        now: u64,
        status: u16,
        carried: u32,
        response: H,
        spare: H,
    ) -> Effects<H> {
        self.enter(now);
        if status != 401 {
            return self.done(None);
        }
        let (id, live) = self.promise();
        if live {
            let step = self.engine.unauthorized(carried, now);
            let op = Op::Fetch {
                request: spare,
                unauthorized: Some((response, carried)),
            };
            self.wait_for(Some((id, op)), step);
        }
        self.done(Some(id))
    }

    /// After the refresh a fetch waited for (if any): send with the current token, or after a
    /// 401 replay once with a newer token than the one it carried, else hand over the 401.
    fn fetch_continue(&mut self, id: u32, request: H, unauthorized: Option<(H, u32)>) {
        let (token, generation) = self.current();
        match unauthorized {
            None => self.send(Some(id), request, token, generation),
            // The replay: a 401 to it goes to the caller.
            Some((_, carried)) if self.engine.replays(carried) => {
                self.send(Some(id), request, token, 0)
            }
            Some((response, _)) => self.settle(id, Ok(Answer::Handle(response))),
        }
    }

    // ----- timer, wake-up, other tabs -----

    /// The timer fired.
    pub fn timer(&mut self, now: u64) -> Effects<H> {
        self.enter(now);
        if !self.disposed {
            self.timer = None;
            let step = self.engine.timer(now);
            self.automatic(step);
        }
        self.done(None)
    }

    /// The page became visible, was shown again, or came `online`.
    pub fn wake(&mut self, now: u64, online: bool) -> Effects<H> {
        self.enter(now);
        if !self.disposed {
            let step = self.engine.wake(now, online);
            self.automatic(step);
        }
        self.done(None)
    }

    /// Carries out a step nobody waits for (timer, wake-up), then re-arms the timer.
    fn automatic(&mut self, step: Step) {
        self.wait_for(None, step);
        self.arm();
    }

    /// Tells the other tabs the access token this tab just got by signing in or refreshing
    /// (never the refresh token).
    fn broadcast_token(&mut self) {
        let Some((access, _)) = self.engine.access() else {
            return;
        };
        let message = Message::Token {
            access: access.clone(),
            lifetime: self.engine.lifetime_ms(),
        };
        self.effect(Effect::Broadcast(message));
    }

    /// A message from another tab, by its `type`: a logout is a hint, checked with a refresh
    /// ([`Engine::logout_hint`]); a token (`access` if a string, the `sub` of its payload if a
    /// non-empty string, `lifetime` in ms, NaN if not a number) is a hint too, adopted only if it
    /// names this tab's subject and outlives this tab's token ([`Engine::adopt`]); anything else
    /// is ignored. A signed-out tab takes no token: a token message is a hint to restore with
    /// its own cookie ([`Engine::session_hint`]; `hint_over` as for [`restore`](Self::restore)).
    pub fn tab_message(
        &mut self,
        now: u64,
        kind: Option<&str>,
        access: Option<H>,
        sub: Option<H>,
        lifetime: f64,
        hint_over: bool,
    ) -> Effects<H> {
        self.enter(now);
        if self.disposed {
        } else if kind == Some(Message::TOKEN) && access.is_some() && !self.signed_in() {
            self.engine.session_hint();
            let step = {
                let possible = self.lazy_possible(hint_over);
                self.engine.lazy_restore(now, possible)
            };
            self.automatic(step);
        } else if kind == Some(Message::LOGOUT) {
            let step = self.engine.logout_hint(now);
            self.automatic(step);
        } else if let (Some(Message::TOKEN), Some(access)) = (kind, access) {
            let lifetime = (lifetime >= 0.0).then_some(lifetime as u64);
            let ours = self.subject.as_ref();
            let adopted = self.engine.adopt(access, sub.as_ref(), ours, lifetime, now);
            if adopted.is_some() {
                self.subject = sub;
                self.arm();
                self.emit_refresh(Source::Tab);
            }
        }
        self.done(None)
    }

    // ----- the refresh -----

    /// Carries out `step` for the operation `waiter` (if any: its id and state), which then
    /// waits for the flight, if there is one; otherwise it goes on at once.
    fn wait_for(&mut self, waiter: Option<(u32, Op<H>)>, step: Step) {
        let mut started = None;
        let flight = match step {
            Step::Start(ticket) => {
                started = Some(self.start_flight(ticket));
                started
            }
            Step::Await => self.flight,
            Step::Refused { code, report } => {
                if report {
                    self.emit_error(code.into(), None);
                }
                None
            }
            Step::Proceed | Step::Replay => None,
        };
        if let Some((id, op)) = waiter {
            match flight {
                Some(f) => {
                    self.waiters.push((f, id));
                    self.insert(id, op);
                }
                None => self.resume(id, op, Wake::Flight(None)),
            }
        }
        if let Some(f) = started {
            self.flight_advance(f, Wake::Start);
        }
    }

    /// Starts the flight of `ticket`; returns its id. It advances once the waiter is known.
    fn start_flight(&mut self, ticket: Ticket) -> u32 {
        let id = self.id();
        self.flight = Some(id);
        let wait = Wait::Flight;
        self.insert(id, Op::Flight { ticket, wait });
        self.arm();
        id
    }

    fn flight_advance(&mut self, id: u32, wake: Wake<H>) {
        if let Some(Op::Flight { ticket, wait }) = self.take(id) {
            self.flight_step(id, ticket, wait, wake);
        }
    }

    fn flight_step(&mut self, id: u32, ticket: Ticket, wait: Wait, wake: Wake<H>) {
        let settled = match wake {
            Wake::Settled(s) => s,
            _ => Settled::Done,
        };
        match (wait, settled) {
            // Start: take the cross-tab lock if there is one.
            (Wait::Flight, _) if self.locks => {
                self.effect(Effect::Lock(id));
                let wait = Wait::Lock;
                self.insert(id, Op::Flight { ticket, wait });
            }
            // Holding the lock (or it cannot be had, or there is none).
            (Wait::Flight | Wait::Lock, _) => {
                let LockCheck::Proceed(ticket) = self.engine.lock_acquired(ticket) else {
                    // The flight is over (void, or another tab's token arrived meanwhile).
                    return self.finish_flight(id, Finished::Discarded, true);
                };
                // Another tab may have rotated the token into the shared storage.
                if self.storage(id, StorageAction::Read) {
                    let wait = Wait::Storage;
                    self.insert(id, Op::Flight { ticket, wait });
                } else {
                    self.flight_post(id, ticket);
                }
            }
            (Wait::Storage, settled) => {
                match settled {
                    // The storage is the truth: no token there means another tab signed out
                    // (or the app removed it); only a failed read falls back on memory.
                    Settled::Read(token) => self.refresh_token = token,
                    _ => self.emit_error(ErrorCode::Storage.into(), None),
                }
                self.flight_post(id, ticket);
            }
            (Wait::Response, settled) => {
                let result = match settled {
                    Settled::Response(r) => {
                        // An error a refusal causes carries its status and the server's `error`.
                        if r.status >= 300 {
                            self.cause = Some((r.status, r.error.clone()));
                        }
                        response_outcome(r)
                    }
                    Settled::NoResponse { timed_out } => (
                        Outcome::Failure(Failure::no_response(timed_out)),
                        None,
                        None,
                    ),
                    _ => (Outcome::Failure(Failure::Network), None, None),
                };
                self.flight_end(id, ticket, Some(result));
            }
        }
    }

    fn flight_post(&mut self, id: u32, ticket: Ticket) {
        let body = match (self.body_mode(), self.refresh_token.clone()) {
            // In cookie mode the server's hint may say the session is over (the refresh cookie
            // is gone): asking would only be refused.
            (false, _) if !(self.transport.believes_session_hint() && self.hint_over) => {
                Body::Empty
            }
            (true, Some(token)) => Body::Token(token),
            _ => {
                // Nothing to refresh with: the session is over (or, for restore(), none).
                let finished = self.engine.no_refresh_token(ticket);
                return self.flight_finished(id, finished);
            }
        };
        self.engine.sent(self.now);
        self.post(id, Endpoint::Refresh, body);
        let wait = Wait::Response;
        self.insert(id, Op::Flight { ticket, wait });
    }

    /// The flight is over: record the outcome (none: another tab refreshed, or the ticket is
    /// void), keep the rotated refresh token, share the new access token, then
    /// [`flight_finished`](Self::flight_finished).
    fn flight_end(&mut self, id: u32, ticket: Ticket, outcome: Option<Outcome3<H>>) {
        let mut writing = false;
        let finished = match outcome {
            Some((outcome, rotated, sub)) => {
                let finished = self.engine.finish(ticket, outcome, self.now, self.random);
                if matches!(finished, Finished::Refreshed | Finished::Restored) {
                    self.subject = sub;
                    if self.body_mode() && rotated.is_some() {
                        self.refresh_token = rotated.clone();
                        writing = self.store_as(id, rotated, self.locks);
                    }
                    self.broadcast_token();
                }
                finished
            }
            None => Finished::Discarded,
        };
        self.finish_flight(id, finished, !writing);
    }

    /// The flight `id` ended as `finished`: release the lock, notify, resume the waiters.
    fn flight_finished(&mut self, id: u32, finished: Finished) {
        self.finish_flight(id, finished, true);
    }

    /// [`flight_finished`](Self::flight_finished); the lock is released later (by the pending
    /// write of the rotated refresh token) unless `release`.
    fn finish_flight(&mut self, id: u32, finished: Finished, release: bool) {
        if self.locks && release {
            self.effect(Effect::Release(id));
        }
        if self.flight == Some(id) {
            self.flight = None;
        }
        let cause = self.cause.take();
        let error = |code| AuthError::refusal(code, &cause);
        let failed = match finished {
            Finished::Discarded | Finished::NoSession => None,
            Finished::Refreshed => {
                self.emit_refresh(Source::Network);
                None
            }
            Finished::Restored => {
                self.emit_refresh(Source::Restore);
                None
            }
            Finished::Expired => {
                let error = error(ErrorCode::SessionExpired);
                self.emit(Event::Expired(error.clone()));
                Some(error)
            }
            Finished::Retry { code, delay_ms } => {
                let error = error(code);
                self.emit_error(error.clone(), Some(delay_ms));
                Some(error)
            }
            Finished::Failed(code) => Some(error(code)),
        };
        if matches!(finished, Finished::Expired | Finished::NoSession) {
            self.forget_refresh_token();
        }
        self.arm();
        let mut waiting = Vec::new();
        self.waiters.retain(|&(flight, op)| {
            let mine = flight == id;
            if mine {
                waiting.push(op);
            }
            !mine
        });
        for w in waiting {
            if let Some(op) = self.take(w) {
                self.resume(w, op, Wake::Flight(failed.clone()));
            }
        }
    }

    // ----- reports -----

    fn take(&mut self, id: u32) -> Option<Op<H>> {
        let i = self.ops.iter().position(|o| o.0 == id)?;
        Some(self.ops.swap_remove(i).1)
    }

    /// Operation `id`, which the client asked for, ended with `settled`; `random` in `[0, 1)`
    /// (jitter of a retry delay).
    pub fn settled(&mut self, now: u64, random: f64, id: u32, settled: Settled<H>) -> Effects<H> {
        self.enter(now);
        self.random = random;
        if let Some(op) = self.take(id) {
            self.resume(id, op, Wake::Settled(settled));
        }
        self.done(None)
    }

    /// The cross-tab lock requested for `id` is held.
    pub fn lock_granted(&mut self, now: u64, id: u32) -> Effects<H> {
        self.enter(now);
        self.flight_advance(id, Wake::Settled(Settled::Done));
        self.done(None)
    }

    fn resume(&mut self, id: u32, op: Op<H>, wake: Wake<H>) {
        match (op, wake) {
            (
                Op::Fetch {
                    request,
                    unauthorized,
                },
                _,
            ) => self.fetch_continue(id, request, unauthorized),
            (Op::Login, Wake::Settled(s)) => self.login_settled(id, s),
            (Op::Logout(wait), Wake::Settled(s)) => self.logout_settled(id, wait, s),
            (Op::Refresh { restore }, Wake::Flight(failed)) => {
                self.refresh_flown(id, restore, failed)
            }
            (Op::Refresh { restore }, Wake::Settled(s)) => self.refresh_settled(id, restore, s),
            (Op::Flight { ticket, wait }, wake) => self.flight_step(id, ticket, wait, wake),
            (Op::Store { release }, Wake::Settled(settled)) => {
                if settled == Settled::Failed {
                    self.emit_error(ErrorCode::Storage.into(), None);
                }
                if release {
                    self.effect(Effect::Release(id));
                }
            }
            _ => {}
        }
    }
}

/// What resumes an operation.
enum Wake<H> {
    /// The flight starts.
    Start,
    /// The flight it waited for ended, with the error it failed with, if any.
    Flight(Option<AuthError>),
    /// What it asked for ended.
    Settled(Settled<H>),
}

/// A refresh's outcome, the rotated refresh token and the `sub` of the new access token.
type Outcome3<H> = (Outcome<H>, Option<H>, Option<H>);

/// What a response to a refresh request means, the rotated refresh token it carries and the `sub`
/// of its access token.
fn response_outcome<H>(r: Response<H>) -> Outcome3<H> {
    let failure = match r.tokens {
        _ if !(200..300).contains(&r.status) => Failure::Http {
            status: r.status,
            error: r.error,
            retry_after_ms: r.retry_after.as_deref().and_then(parse_retry_after),
        },
        Some(t) => {
            let lifetime_ms = lifetime_from_claims(Some(t.expires_in), t.exp, t.iat);
            let access = t.access;
            return (
                Outcome::Success {
                    access,
                    lifetime_ms,
                },
                t.refresh,
                t.sub,
            );
        }
        None => Failure::no_token(r.timed_out),
    };
    (Outcome::Failure(failure), None, None)
}
