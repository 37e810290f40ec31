//! The client's state machine: the current access token, the single in-flight refresh, the
//! backoff state and the circuit breaker.
//!
//! The adapter asks the engine what to do at each decision point and reports what happened:
//!
//! - before sending a request: [`Engine::before_send`];
//! - after a 401 from a resource: [`Engine::unauthorized`] with the generation of the token the
//!   request carried;
//! - when its single timer fires ([`Engine::deadline`] says when): [`Engine::timer`];
//! - on `visibilitychange`/`pageshow`/`online`: [`Engine::wake`];
//! - for `refresh()` and `restore()`: [`Engine::manual`], [`Engine::restore`];
//! - on another tab's logout message: [`Engine::logout_hint`]; on another tab's new access
//!   token: [`Engine::adopt`].
//!
//! Whoever receives [`Step::Start`] owns the refresh: it takes the cross-tab lock, asks
//! [`Engine::lock_acquired`] whether the ticket still holds and whether another tab's token
//! arrived meanwhile (then no request), calls [`Engine::sent`]
//! when the request goes out and [`Engine::finish`] with the result. Everyone else gets
//! [`Step::Await`] and waits for that one refresh (single-flight).
//!
//! Every token gets a new *generation*; a 401 for a request that carried an older generation
//! than the current one is replayed without a refresh. Every sign-in and sign-out starts a new
//! *epoch*; a refresh result from an older epoch (one that arrives after logout) is discarded.

use crate::core::client::backoff::{retry_delay, CircuitBreaker};
use crate::core::client::classify::{classify, error_code, Failure, Verdict};
use crate::core::client::config::ClientConfig;
use crate::core::client::error::ErrorCode;
use crate::core::client::schedule::{Deadlines, Secret};

/// After a 401 to a request that carried the token of generation `carried`, and once the refresh
/// it caused (if any) is over, with the token of generation `held` (0: none): whether to replay
/// the request with it. Only with a token newer than the one refused, and only once (a 401 to the
/// replay goes to the caller, as it is).
pub fn replays(held: u32, carried: u32) -> bool {
    held != 0 && held != carried
}

/// Whether a token another tab sent names the subject of this tab's session: both tokens name
/// one (`sub`), the same.
pub fn same_subject<S: PartialEq>(ours: Option<&S>, theirs: Option<&S>) -> bool {
    ours.is_some() && ours == theirs
}

/// The right to perform one refresh, handed out by [`Step::Start`] or [`Begin::Start`]. It is
/// neither `Copy` nor `Clone`: each flight ends once, by handing its ticket to
/// [`Engine::finish`], [`Engine::no_refresh_token`] or [`Engine::abandon`], or by
/// [`Engine::lock_acquired`] keeping it (the flight is void or another tab's token made it
/// unnecessary).
#[derive(Debug, PartialEq, Eq)]
#[must_use = "a flight ends with finish, no_refresh_token or abandon"]
pub struct Ticket {
    id: u32,
    epoch: u32,
    generation: u32,
    restore: bool,
}

/// What a request (or the timer, or a wake-up) should do now.
#[derive(Debug, PartialEq, Eq)]
#[must_use]
pub enum Step {
    /// Go ahead: send with the current token (or, after a 401, give the response to the caller).
    Proceed,
    /// After a 401: a newer token exists; replay the request with it, no refresh.
    Replay,
    /// A refresh is in flight: wait for it, then go ahead.
    Await,
    /// Start this refresh, then go ahead.
    Start(Ticket),
    /// A refresh is needed but not allowed now (backing off after a failure, or the circuit
    /// breaker is open): go ahead without it. `report`: emit an `error` event with `code`.
    Refused {
        /// Why.
        code: ErrorCode,
        /// Whether this refusal is news (reported once per breaker opening).
        report: bool,
    },
}

/// The answer to an explicit `refresh()` or `restore()`.
#[derive(Debug, PartialEq, Eq)]
#[must_use]
pub enum Begin {
    /// Perform this refresh.
    Start(Ticket),
    /// A refresh is in flight already: wait for it.
    Join,
    /// Not possible: not signed in, or the circuit breaker is open.
    Refused(ErrorCode),
}

/// The re-check made once the cross-tab lock is held.
#[derive(Debug, PartialEq, Eq)]
#[must_use]
pub enum LockCheck {
    /// Still needed: send the refresh request; the ticket, handed back.
    Proceed(Ticket),
    /// Another tab refreshed while this one waited for the lock, and its token was adopted
    /// ([`Engine::adopt`]): the flight is over, no request.
    Fresh,
    /// The ticket is void (logout, or a new session, happened meanwhile): do nothing.
    Stale,
}

/// The result of a refresh request; `T` is the access token's representation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome<T = Secret> {
    /// A token response.
    Success {
        /// The new access token.
        access: T,
        /// Its lifetime (see [`crate::core::client::schedule::lifetime_from_claims`]).
        lifetime_ms: Option<u64>,
    },
    /// No token.
    Failure(Failure),
}

/// What a finished refresh means for the session, and what the adapter should emit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finished {
    /// The result is void (logout or another token arrived meanwhile): ignore it.
    Discarded,
    /// New token of the running session: emit `refresh`.
    Refreshed,
    /// `restore()` found a session: signed in now.
    Restored,
    /// The session is over: signed out; emit `expired`.
    Expired,
    /// `restore()` found no session.
    NoSession,
    /// Transient failure; the session is kept and retried in `delay_ms`: emit `error`.
    Retry {
        /// The failure's code.
        code: ErrorCode,
        /// Delay until the next automatic attempt.
        delay_ms: u64,
    },
    /// `restore()` failed transiently; nothing is scheduled.
    Failed(ErrorCode),
}

#[derive(Clone, Debug)]
struct Held<T> {
    access: T,
    generation: u32,
    lifetime_ms: Option<u64>,
    deadlines: Option<Deadlines>,
}

/// The client's state machine; see the module documentation. `T` is the access token's
/// representation: [`Secret`] natively, a JavaScript string in the browser adapter.
#[derive(Clone, Debug)]
pub struct Engine<T = Secret> {
    config: ClientConfig,
    token: Option<Held<T>>,
    epoch: u32,
    generation: u32,
    next_ticket: u32,
    /// The id of the ticket of the refresh in flight.
    flight: Option<u32>,
    failures: u32,
    retry_at: Option<u64>,
    breaker: CircuitBreaker,
    limit_reported: bool,
    requests: u32,
    /// Signed out: the next `auth.fetch`/`refresh()` may try a lazy restore
    /// ([`Engine::lazy_restore`]).
    lazy: bool,
}

impl<T: PartialEq> Engine<T> {
    /// A signed-out engine.
    pub fn new(config: ClientConfig) -> Engine<T> {
        let breaker = CircuitBreaker::new(config.max_refreshes_per_minute);
        Engine {
            config,
            token: None,
            epoch: 0,
            generation: 0,
            next_ticket: 0,
            flight: None,
            failures: 0,
            retry_at: None,
            breaker,
            limit_reported: false,
            lazy: true,
            requests: 0,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    // ----- the session -----

    fn reset_flight(&mut self) {
        self.flight = None;
        self.failures = 0;
        self.retry_at = None;
    }

    fn hold(&mut self, access: T, lifetime_ms: Option<u64>, now: u64) -> u32 {
        self.generation = self.generation.wrapping_add(1);
        let deadlines = lifetime_ms.map(|lifetime| {
            Deadlines::compute(now, lifetime, lifetime, self.config.refresh_margin_ms)
        });
        self.token = Some(Held {
            access,
            generation: self.generation,
            lifetime_ms,
            deadlines,
        });
        self.generation
    }

    /// A new session (login, `setSession`): voids any refresh in flight. Returns the generation.
    pub fn start_session(&mut self, access: T, lifetime_ms: Option<u64>, now: u64) -> u32 {
        self.epoch = self.epoch.wrapping_add(1);
        self.reset_flight();
        self.hold(access, lifetime_ms, now)
    }

    /// Another tab says it signed out. A message proves nothing (any script of the origin can
    /// post one, and none carries a token): a signed-in tab checks by refreshing, which ends its
    /// session only if the shared storage or the server says it is over; a signed-out tab does
    /// nothing (a message never signs a tab in).
    pub fn logout_hint(&mut self, now: u64) -> Step {
        if self.token.is_none() {
            return Step::Proceed;
        }
        self.try_start(now, true, false)
    }

    /// A new access token another tab has just obtained by refreshing, valid for `lifetime_ms`
    /// from `now` (as that tab says); `subject` is the `sub` of its payload and `ours` the `sub`
    /// of this tab's token. A message proves nothing (any script of the origin can post one), so
    /// the token is only a hint: it is adopted only by a signed-in tab, only if the message is
    /// well-formed (a lifetime), names this tab's subject ([`same_subject`]) and outlives this
    /// tab's token; then `Some(generation)`, else `None` and nothing changes. A signed-out tab is
    /// never signed in by a message: it signs in with `login()`, `setSession()` or `restore()`.
    pub fn adopt<S: PartialEq>(
        &mut self,
        access: T,
        subject: Option<&S>,
        ours: Option<&S>,
        lifetime_ms: Option<u64>,
        now: u64,
    ) -> Option<u32> {
        let held = self.token.as_ref()?;
        let theirs = now.checked_add(lifetime_ms.filter(|l| *l > 0)?)?;
        let outlives = held.deadlines.is_none_or(|d| theirs > d.expires_at);
        if !same_subject(ours, subject) || held.access == access || !outlives {
            return None;
        }
        // A newer token of the same session: a refresh waiting for the lock finds it
        // ([`LockCheck::Fresh`]); backoff is over.
        self.failures = 0;
        self.retry_at = None;
        Some(self.hold(access, lifetime_ms, now))
    }

    /// Ends the session (logout, here or in another tab). Returns whether there was one.
    pub fn sign_out(&mut self) -> bool {
        self.epoch = self.epoch.wrapping_add(1);
        self.lazy = false;
        self.reset_flight();
        self.token.take().is_some()
    }

    // ----- reading the state -----

    /// Whether a session is held.
    pub fn signed_in(&self) -> bool {
        self.token.is_some()
    }

    /// The current access token and its generation.
    pub fn access(&self) -> Option<(&T, u32)> {
        self.token.as_ref().map(|h| (&h.access, h.generation))
    }

    /// The current token's generation (0 when none was ever held).
    pub fn generation(&self) -> u32 {
        self.generation
    }

    /// When the current token expires (monotonic ms), if its lifetime is known.
    pub fn expires_at(&self) -> Option<u64> {
        self.token.as_ref()?.deadlines.map(|d| d.expires_at)
    }

    /// The current token's full lifetime, if known.
    pub fn lifetime_ms(&self) -> Option<u64> {
        self.token.as_ref()?.lifetime_ms
    }

    /// How long the current token has left at `now`, if its lifetime is known.
    pub fn remaining_ms(&self, now: u64) -> Option<u64> {
        self.expires_at().map(|t| t.saturating_sub(now))
    }

    /// Whether a refresh is in flight.
    pub fn refreshing(&self) -> bool {
        self.flight.is_some()
    }

    /// Number of refresh requests sent so far.
    pub fn refresh_count(&self) -> u32 {
        self.requests
    }

    /// When the timer should next call [`Engine::timer`] (monotonic ms): the refresh time, or the
    /// retry time while backing off, or when the circuit breaker lets a request through again.
    /// `None`: nothing scheduled (signed out, refresh in flight, lifetime unknown).
    pub fn deadline(&self) -> Option<u64> {
        let held = self.token.as_ref()?;
        if self.flight.is_some() {
            return None;
        }
        let due = self.retry_at.or(held.deadlines.map(|d| d.refresh_at))?;
        Some(match self.breaker.check(due) {
            Ok(()) => due,
            Err(free) => free,
        })
    }

    fn due(&self, now: u64) -> bool {
        let token_due = self
            .token
            .as_ref()
            .and_then(|h| h.deadlines)
            .is_some_and(|d| d.due(now));
        token_due || self.retry_at.is_some()
    }

    // ----- decision points -----

    fn try_start(&mut self, now: u64, automatic: bool, restore: bool) -> Step {
        if self.flight.is_some() {
            return Step::Await;
        }
        if automatic && self.retry_at.is_some_and(|t| now < t) {
            return Step::Refused {
                code: ErrorCode::Server,
                report: false,
            };
        }
        if self.breaker.check(now).is_err() {
            let report = !self.limit_reported;
            self.limit_reported = true;
            return Step::Refused {
                code: ErrorCode::RefreshLimit,
                report,
            };
        }
        self.limit_reported = false;
        self.next_ticket = self.next_ticket.wrapping_add(1);
        let ticket = Ticket {
            id: self.next_ticket,
            epoch: self.epoch,
            generation: self.generation,
            restore,
        };
        self.flight = Some(ticket.id);
        Step::Start(ticket)
    }

    /// Before sending a request: refresh first if the token is due (inside the margin, or
    /// expired); wait for a refresh in flight if the token is due; else go.
    pub fn before_send(&mut self, now: u64) -> Step {
        if !self.send_due(now) {
            return Step::Proceed;
        }
        self.try_start(now, true, false)
    }

    /// Whether [`before_send`](Self::before_send) has anything to do (else it is
    /// [`Step::Proceed`]): a token is held and a refresh is due. Changes nothing.
    pub fn send_due(&self, now: u64) -> bool {
        self.token.is_some() && self.due(now)
    }

    /// For how many ms from `now` a managed request goes out with the current token without
    /// anything to do, if nothing else happens meanwhile: [`send_due`](Self::send_due) stays
    /// false until then (and [`lazy_pending`](Self::lazy_pending) with it, a token being held).
    /// `None`: ask before each request (no token, a refresh due or a retry pending). The
    /// browser's `auth.fetch` takes a path without wasm for that long (see `fetch` in
    /// src/browser/runtime/fetch.rs). Changes nothing.
    pub fn fresh_for(&self, now: u64) -> Option<u64> {
        let held = self.token.as_ref()?;
        let left = held
            .deadlines
            .map_or(u64::MAX, |d| d.refresh_at.saturating_sub(now));
        (self.retry_at.is_none() && left > 0).then_some(left)
    }

    /// After a 401 to a request that carried the token of generation `carried` (0: none):
    /// replay if a newer token exists, else one refresh (or join the one in flight).
    pub fn unauthorized(&mut self, carried: u32, now: u64) -> Step {
        let Some(held) = &self.token else {
            return Step::Proceed;
        };
        if held.generation != carried {
            return Step::Replay;
        }
        self.try_start(now, true, false)
    }

    /// Whether a request refused with a 401 while carrying the token of generation `carried` is
    /// replayed now (see [`replays`]).
    pub fn replays(&self, carried: u32) -> bool {
        replays(self.access().map_or(0, |(_, g)| g), carried)
    }

    /// The timer fired: refresh if due.
    pub fn timer(&mut self, now: u64) -> Step {
        if self.token.is_none() || self.flight.is_some() || self.deadline().is_none_or(|t| now < t)
        {
            return Step::Proceed;
        }
        self.try_start(now, true, false)
    }

    /// The page became visible, was shown again, or came online (`online`: ends the backoff).
    /// A token inside the margin or expired is refreshed now, before queued calls go out.
    pub fn wake(&mut self, now: u64, online: bool) -> Step {
        if online {
            // Retry now rather than at the end of the backoff.
            self.retry_at = self.retry_at.map(|t| t.min(now));
        }
        if self.token.is_none() || self.flight.is_some() || !self.due(now) {
            return Step::Proceed;
        }
        self.try_start(now, true, false)
    }

    fn answer(step: Step) -> Begin {
        match step {
            Step::Start(ticket) => Begin::Start(ticket),
            Step::Refused { code, .. } => Begin::Refused(code),
            _ => Begin::Join,
        }
    }

    /// `refresh()`: a refresh now, regardless of the token's age and of backoff (the circuit
    /// breaker still applies).
    pub fn manual(&mut self, now: u64) -> Begin {
        if self.token.is_none() {
            return Begin::Refused(ErrorCode::NotSignedIn);
        }
        Self::answer(self.try_start(now, false, false))
    }

    /// Whether a signed-out client's next `auth.fetch` or `refresh()` asks
    /// [`lazy_restore`](Self::lazy_restore) first. Changes nothing.
    pub fn lazy_pending(&self) -> bool {
        self.token.is_none() && self.lazy
    }

    /// Lazy restore: the first `auth.fetch` or `refresh()` of a signed-out client (and the first
    /// after a [`session_hint`](Self::session_hint)) restores first, as `restore()` does, if
    /// `possible` (cookie mode, and the server's session hint does not say the session is over).
    /// Once: whatever the answer, the next call goes on without asking (never a loop); a refused
    /// or failed restore leaves the request to go out without a token.
    pub fn lazy_restore(&mut self, now: u64, possible: bool) -> Step {
        if !self.lazy_pending() {
            return Step::Proceed;
        }
        self.lazy = false;
        match possible.then(|| self.try_start(now, false, true)) {
            Some(step @ (Step::Start(_) | Step::Await)) => step,
            _ => Step::Proceed,
        }
    }

    /// A signed-out tab heard another tab's token message: a session may exist now. The message
    /// signs nothing in (any script of the origin can post one); it only lets the next
    /// [`lazy_restore`](Self::lazy_restore) try the tab's own refresh cookie again.
    pub fn session_hint(&mut self) {
        if self.token.is_none() {
            self.lazy = true;
        }
    }

    /// `restore()` while signed out: a refresh without an access token (the cookie, or a stored
    /// refresh token, may hold a session).
    pub fn restore(&mut self, now: u64) -> Begin {
        let restore = self.token.is_none();
        self.lazy = false;
        Self::answer(self.try_start(now, false, restore))
    }

    /// The cross-tab lock is held: is the refresh still wanted? Not if another tab's token was
    /// adopted meanwhile ([`LockCheck::Fresh`]: an adopted token outlives the one that was due,
    /// and is never due when adopted). Otherwise the tab refreshes with the refresh token the
    /// shared storage or the cookie now holds.
    pub fn lock_acquired(&mut self, ticket: Ticket) -> LockCheck {
        if !self.holds(&ticket) {
            return LockCheck::Stale;
        }
        if self.generation != ticket.generation && self.token.is_some() {
            self.flight = None;
            return LockCheck::Fresh;
        }
        LockCheck::Proceed(ticket)
    }

    /// Whether `ticket` is the one of the refresh in flight.
    fn holds(&self, ticket: &Ticket) -> bool {
        self.flight == Some(ticket.id)
    }

    /// The refresh request of `ticket` is being sent at `now` (counted by the circuit breaker).
    pub fn sent(&mut self, now: u64) {
        self.breaker.record(now);
        self.requests = self.requests.saturating_add(1);
    }

    /// Ends the flight of `ticket` without a result (the adapter failed before sending).
    pub fn abandon(&mut self, ticket: Ticket) {
        if self.holds(&ticket) {
            self.flight = None;
        }
    }

    /// The refresh of `ticket` cannot be made: there is no refresh token to present (body
    /// transport, none issued, stored or shared). As final as `invalid_grant`: the session is
    /// over ([`Finished::Expired`]), or for `restore()` there is none ([`Finished::NoSession`]).
    pub fn no_refresh_token(&mut self, ticket: Ticket) -> Finished {
        if !self.holds(&ticket) || self.epoch != ticket.epoch {
            return Finished::Discarded;
        }
        self.flight = None;
        if ticket.restore {
            Finished::NoSession
        } else {
            self.sign_out();
            Finished::Expired
        }
    }

    /// The refresh of `ticket` finished with `outcome` at `now`; `random` in `[0, 1)` jitters
    /// the retry delay.
    pub fn finish(
        &mut self,
        ticket: Ticket,
        outcome: Outcome<T>,
        now: u64,
        random: f64,
    ) -> Finished {
        if !self.holds(&ticket) || self.epoch != ticket.epoch {
            return Finished::Discarded;
        }
        self.flight = None;
        match outcome {
            Outcome::Success {
                access,
                lifetime_ms,
            } => {
                self.failures = 0;
                self.retry_at = None;
                if ticket.restore {
                    self.epoch = self.epoch.wrapping_add(1);
                    self.hold(access, lifetime_ms, now);
                    Finished::Restored
                } else {
                    self.hold(access, lifetime_ms, now);
                    Finished::Refreshed
                }
            }
            Outcome::Failure(failure) => {
                if self.generation != ticket.generation {
                    // Another tab's token was adopted while this request was out: it supersedes.
                    return Finished::Discarded;
                }
                let ending = self.config.session_ending;
                let mut verdict = classify(&failure, ending);
                let mut code = error_code(&failure, ending);
                // A refusal that retrying will not heal, once the access token has expired (or
                // when its expiry is unknown): nothing usable is left, so the session ends
                // instead of being retried forever. Before expiry it is retried at the slowest
                // pace, since the token still works.
                if verdict == Verdict::Rejected
                    && !ticket.restore
                    && self.expires_at().is_none_or(|at| now >= at)
                {
                    verdict = Verdict::SessionOver;
                    code = ErrorCode::SessionExpired;
                }
                if ticket.restore {
                    // A rejection (e.g. 400 invalid_request: no cookie to present) also means
                    // there is no session to restore; only transient failures are errors.
                    return match verdict {
                        Verdict::SessionOver | Verdict::Rejected => Finished::NoSession,
                        Verdict::Retry { .. } => Finished::Failed(code),
                    };
                }
                let retry_after_ms = match verdict {
                    Verdict::SessionOver => {
                        self.sign_out();
                        return Finished::Expired;
                    }
                    Verdict::Retry { retry_after_ms } => retry_after_ms,
                    Verdict::Rejected => Some(self.config.retry_max_ms),
                };
                let cfg = &self.config;
                let delay_ms = retry_delay(
                    self.failures,
                    retry_after_ms,
                    cfg.retry_base_ms,
                    cfg.retry_max_ms,
                    random,
                );
                self.failures = self.failures.saturating_add(1);
                self.retry_at = Some(now.saturating_add(delay_ms));
                Finished::Retry { code, delay_ms }
            }
        }
    }
}
