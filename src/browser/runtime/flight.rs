//! The refresh in flight: the lock, the stored token, the request, the outcome.

use alloc::rc::Rc;

use super::*;

impl<H: Host> Inner<H> {
    // ----- the refresh -----

    /// Starts the refresh of `ticket`; returns its operation id. It proceeds in a microtask, so
    /// that waiters register first.
    pub(super) fn start_flight(self: &Rc<Self>, ticket: Ticket) -> u32 {
        let id = self.id();
        self.flight.set(Some(id));
        let flight = Flight {
            ticket,
            wait: Wait::Promise,
            signal: self.u(),
            status: 0,
            retry_after: None,
            oauth_error: self.u(),
        };
        self.insert(id, Op::Flight(flight));
        self.host().then(id, &self.u());
        self.arm();
        id
    }

    pub(super) fn flight_step(
        self: &Rc<Self>,
        id: u32,
        ev: Ev<V<H>>,
        mut f: Flight<V<H>>,
    ) -> Option<Op<V<H>>> {
        match (f.wait, ev) {
            // Start: take the cross-tab lock if there is one. The lock request settles early
            // only if the lock is refused.
            (Wait::Promise, _) if self.s.locks => {
                f.wait = Wait::Lock;
                self.host().lock(id);
                Some(Op::Flight(f))
            }
            (Wait::Lock, Ev::Lock) => {
                // The lock is granted: a tab that refreshed while this one waited wrote its
                // token message before it released the lock. Read in order, the message is no
                // longer raced by the lock grant (the channel's copy may arrive later).
                self.adopt(&self.host().shared());
                self.flight_locked(id, f)
            }
            (Wait::Promise | Wait::Lock, _) => self.flight_locked(id, f),
            (Wait::Storage, ev) => {
                // The storage is the truth: no token there means another tab signed out (or
                // the app removed it); only a failed read falls back on the one in memory.
                match ev {
                    Ev::Ok(v) => {
                        self.refresh_token
                            .set(if H::is_string(&v) { v } else { self.u() })
                    }
                    _ => self.emit_error(&self.error(ErrorCode::Storage), None),
                }
                self.flight_post(id, f)
            }
            (Wait::Response, Ev::Ok(response)) => {
                f.status = self.status(&response);
                let retry_after = self.host().json(id, &response);
                f.retry_after = H::text(&retry_after).as_deref().and_then(parse_retry_after);
                f.wait = Wait::Json;
                Some(Op::Flight(f))
            }
            (Wait::Response, _) => {
                let failure = Failure::no_response(self.aborted(&f.signal));
                self.flight_end(id, f, (Outcome::Failure(failure), self.u()))
            }
            (_, ev) => {
                let body = match ev {
                    Ev::Ok(v) => v,
                    _ => self.u(),
                };
                let outcome = match ((200..300).contains(&f.status), self.read_tokens(&body)) {
                    (true, Some((access, lifetime_ms, refresh))) => (
                        Outcome::Success {
                            access,
                            lifetime_ms,
                        },
                        refresh,
                    ),
                    (true, None) => {
                        let failure = Failure::no_token(self.aborted(&f.signal));
                        (Outcome::Failure(failure), self.u())
                    }
                    (false, _) => {
                        f.oauth_error = H::get(&body, "error");
                        let failure = Failure::Http {
                            status: f.status,
                            error: H::text(&f.oauth_error),
                            retry_after_ms: f.retry_after,
                        };
                        (Outcome::Failure(failure), self.u())
                    }
                };
                self.flight_end(id, f, outcome)
            }
        }
    }

    /// Holding the lock (or without one): re-check (another tab's token may have been adopted
    /// meanwhile: no request), then read the stored refresh token.
    pub(super) fn flight_locked(self: &Rc<Self>, id: u32, mut f: Flight<V<H>>) -> Option<Op<V<H>>> {
        let LockCheck::Proceed(ticket) = self.engine().lock_acquired(f.ticket) else {
            // The flight is over: void, or another tab's token made it unnecessary.
            return self.flight_finished(id, f.status, &f.oauth_error, Finished::Discarded);
        };
        f.ticket = ticket;
        // Another tab may have rotated the token into the shared storage.
        if self.storage(id, GET, &self.u()) {
            f.wait = Wait::Storage;
            return Some(Op::Flight(f));
        }
        self.flight_post(id, f)
    }

    pub(super) fn flight_post(self: &Rc<Self>, id: u32, mut f: Flight<V<H>>) -> Option<Op<V<H>>> {
        // Body mode: the refresh token (none in cookie mode).
        let token = self.refresh_token();
        // Nothing to refresh with: no refresh token, or in cookie mode the server's hint says
        // the session is over. The session is over (for restore(): there is none).
        if if self.body_mode() {
            !H::is_string(&token)
        } else {
            self.s.transport.believes_session_hint() && self.host().over()
        } {
            let finished = self.engine().no_refresh_token(f.ticket);
            return self.flight_finished(id, f.status, &f.oauth_error, finished);
        }
        self.engine().sent(self.now());
        f.signal = self.host().post(id, REFRESH_ENDPOINT, &token, &self.u());
        f.wait = Wait::Response;
        Some(Op::Flight(f))
    }

    /// The flight is over: record the outcome, keep the rotated refresh token, share the new
    /// access token, release the lock, notify, wake the waiters.
    pub(super) fn flight_end(
        self: &Rc<Self>,
        id: u32,
        f: Flight<V<H>>,
        (outcome, rotated): (Outcome<V<H>>, V<H>),
    ) -> Option<Op<V<H>>> {
        let finished = self
            .engine()
            .finish(f.ticket, outcome, self.now(), self.host().random());
        if matches!(finished, Finished::Refreshed | Finished::Restored) {
            if H::is_string(&rotated) && self.body_mode() {
                self.refresh_token.set(rotated.clone());
                self.store(&rotated);
            }
            self.broadcast_token();
        }
        self.flight_finished(id, f.status, &f.oauth_error, finished)
    }

    /// The flight `id` ended as `finished` (`status` and `oauth_error`: the refusal's, if one
    /// ended it): release the lock, notify, wake the waiters.
    pub(super) fn flight_finished(
        self: &Rc<Self>,
        id: u32,
        status: u16,
        oauth_error: &V<H>,
        finished: Finished,
    ) -> Option<Op<V<H>>> {
        // Releases the lock, if this flight holds it.
        self.resolve(id, &self.u());
        if self.flight.get() == Some(id) {
            self.flight.set(None);
        }
        // An error a refusal caused carries its status and the server's `error`.
        let err = |code| {
            let code = reported(code, self.s.cross_origin);
            if status >= 300 {
                self.http_error(code, Some(status), None, oauth_error)
            } else {
                self.error(code)
            }
        };
        let failed = match finished {
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
                // The DPoP key ends with the session.
                self.host().drop_key(true);
                self.forget_refresh_token();
                let err = err(ErrorCode::SessionExpired);
                self.host().emit(EXPIRED, &err, &self.u());
                Some(err)
            }
            Finished::NoSession => {
                self.forget_refresh_token();
                None
            }
            Finished::Retry { code, delay_ms } => {
                let err = err(code);
                self.emit_error(&err, Some(delay_ms));
                Some(err)
            }
            Finished::Failed(code) => Some(err(code)),
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
}
