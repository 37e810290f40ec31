//! `refresh()`, `restore()`, `login()`, `setSession()`, `logout()`, `dispose()` and the
//! pluggable storage.

use alloc::rc::Rc;

use super::*;

impl<H: Host> Inner<H> {
    // ----- refresh(), restore() -----

    /// `refresh()` (resolves once a new token is held), or `restore()` (resolves to `true` if a
    /// session was found: the cookie, or a stored refresh token; `false` at once, without a
    /// request, in cookie mode when the Worker's session hint says the session is over).
    pub(super) fn refresh_or_restore(self: &Rc<Self>, restore: bool) -> V<H> {
        let (id, promise) = self.promise();
        if let Some(e) = self.disposed_error() {
            self.reject(id, &e);
        } else if restore && self.signed_in() {
            self.resolve(id, &H::boolean(true));
        } else if restore && self.s.transport.believes_session_hint() && self.host().over() {
            // The Worker's hint says the session is over: asking would only be refused.
            self.resolve(id, &H::boolean(false));
        } else if restore && self.body_mode() && !H::is_string(&self.refresh_token()) {
            if self.storage(id, GET, &self.u()) {
                self.insert(
                    id,
                    Op::Refresh {
                        wait: Wait::Storage,
                        restore,
                    },
                );
            } else {
                self.resolve(id, &H::boolean(false));
            }
        } else if !restore && self.engine().lazy_pending() {
            // Signed out: the first refresh() restores first if it may (cookie mode).
            let possible = self.lazy_possible();
            let step = self.engine().lazy_restore(self.now(), possible);
            if self.wait_for(id, step) {
                self.insert(
                    id,
                    Op::Refresh {
                        wait: Wait::Flight,
                        restore,
                    },
                );
            } else {
                self.reject(id, &self.error(ErrorCode::NotSignedIn));
            }
        } else if let Some(op) = self.refresh_flight(id, restore) {
            self.insert(id, op);
        }
        promise
    }

    /// Whether a lazy restore may ask ([`Engine::lazy_restore`]): cookie mode, unless the
    /// Worker's session hint says the session is over.
    pub(super) fn lazy_possible(&self) -> bool {
        self.s.transport.believes_session_hint() && !self.host().over()
    }

    pub(super) fn refresh_flight(self: &Rc<Self>, id: u32, restore: bool) -> Option<Op<V<H>>> {
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
                self.reject(id, &self.error(code));
                return None;
            }
        };
        if !self.wait_for(id, step) {
            self.resolve(id, &H::boolean(self.signed_in()));
            return None;
        }
        Some(Op::Refresh {
            wait: Wait::Flight,
            restore,
        })
    }

    pub(super) fn refresh_step(
        self: &Rc<Self>,
        id: u32,
        ev: Ev<V<H>>,
        wait: Wait,
        restore: bool,
    ) -> Option<Op<V<H>>> {
        let value = match (wait, ev) {
            (Wait::Storage, Ev::Ok(stored)) if H::is_string(&stored) => {
                self.refresh_token.set(stored);
                return self.refresh_flight(id, restore);
            }
            (Wait::Storage, _) => H::boolean(false),
            (_, Ev::Flight(Some(e))) => {
                self.reject(id, &e);
                return None;
            }
            _ if restore => H::boolean(self.signed_in()),
            _ if self.signed_in() => self.u(),
            _ => {
                self.reject(id, &self.error(ErrorCode::NotSignedIn));
                return None;
            }
        };
        self.resolve(id, &value);
        None
    }

    // ----- login, setSession, logout -----

    /// `login(username, password)`.
    pub fn login(self: &Rc<Self>, username: &V<H>, password: &V<H>) -> V<H> {
        let (id, promise) = self.promise();
        if let Some(e) = self.disposed_error() {
            self.reject(id, &e);
            return promise;
        }
        let signal = self.host().post(id, LOGIN, username, password);
        self.insert(
            id,
            Op::Login {
                signal,
                status: None,
                retry_after: None,
            },
        );
        promise
    }

    /// The response to the login request, then its body: a session, or the error the core
    /// names ([`login_error`]).
    pub(super) fn login_step(
        self: &Rc<Self>,
        id: u32,
        ev: Ev<V<H>>,
        signal: V<H>,
        status: Option<u16>,
        retry_after: Option<u64>,
    ) -> Option<Op<V<H>>> {
        let timeout = self.aborted(&signal);
        let (status, ev) = match (status, ev) {
            (None, Ev::Ok(response)) => {
                return Some(Op::Login {
                    retry_after: H::text(&self.host().json(id, &response))
                        .as_deref()
                        .and_then(retry_after_ms),
                    signal,
                    status: Some(self.status(&response)),
                });
            }
            (None, _) => {
                let failure = Failure::no_response(timeout);
                let code = error_code(&failure, StatusSet::DEFAULT);
                self.reject(id, &self.error(reported(code, self.s.cross_origin)));
                return None;
            }
            (Some(status), ev) => (status, ev),
        };
        let body = match ev {
            Ev::Ok(v) => v,
            _ => self.u(),
        };
        match self.read_tokens(&body) {
            Some(tokens) if (200..300).contains(&status) && !self.disposed.get() => {
                self.start_session(tokens);
                self.broadcast_token();
                self.resolve(id, &self.u());
            }
            _ => {
                let oauth_error = H::get(&body, "error");
                let (code, status, wait) =
                    login_error(status, H::text(&oauth_error), retry_after, timeout);
                self.reject(id, &self.http_error(code, status, wait, &oauth_error));
            }
        }
        None
    }

    /// `setSession(tokens)`.
    pub fn set_session(&self, tokens: &V<H>) -> Result<(), V<H>> {
        if let Some(e) = self.disposed_error() {
            return Err(e);
        }
        let tokens = self
            .read_tokens(tokens)
            .ok_or_else(|| self.error(ErrorCode::InvalidOptions))?;
        self.start_session(tokens);
        Ok(())
    }

    /// Starts a session (and persists the refresh token in body mode).
    pub(super) fn start_session(&self, (token, lifetime, refresh): (V<H>, Option<u64>, V<H>)) {
        self.engine().start_session(token, lifetime, self.now());
        if self.body_mode() && H::is_string(&refresh) {
            self.refresh_token.set(refresh.clone());
            self.store(&refresh);
        }
        self.arm();
    }

    /// `logout()`: signs out here at once, then revokes the session on the server (any refresh
    /// token of the family revokes it, a rotated-away one too); resolves to whether the server
    /// confirmed. Then it tells the other tabs, which check their own session (see
    /// [`Engine::logout_hint`]): by then the storage holds no token and the server has ended the
    /// session.
    pub fn logout(self: &Rc<Self>) -> V<H> {
        let (id, promise) = self.promise();
        if let Some(e) = self.disposed_error() {
            self.reject(id, &e);
            return promise;
        }
        let memory = self.refresh_token();
        self.signed_out(LOCAL);
        let op = if !H::is_string(&memory) && self.storage(id, GET, &self.u()) {
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

    pub(super) fn logout_step(
        self: &Rc<Self>,
        id: u32,
        ev: Ev<V<H>>,
        wait: Wait,
    ) -> Option<Op<V<H>>> {
        let value = match ev {
            Ev::Ok(v) => v,
            _ => self.u(),
        };
        if wait == Wait::Promise || self.body_mode() && !H::is_string(&value) {
            // The server's answer (or nothing to revoke with): now tell the other tabs.
            self.host().tell(&self.u(), 0.0);
            self.resolve(id, &H::boolean((200..300).contains(&self.status(&value))));
            return None;
        }
        let token = if self.body_mode() {
            self.store(&self.u());
            value
        } else {
            self.u()
        };
        self.host().post(id, LOGOUT_ENDPOINT, &token, &self.u());
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
        self.refresh_token.set(self.u());
        self.waiters().clear();
        self.timer.set(None);
        self.ops().clear();
        self.host().close(&self.error(ErrorCode::Disposed));
    }

    // ----- storage (body mode) -----

    /// Calls storage method `method` (`GET`, `SET` to `value`, `REMOVE`) for operation `id`,
    /// which it resumes; false without a storage (or in cookie mode).
    pub(super) fn storage(&self, id: u32, method: u32, value: &V<H>) -> bool {
        self.body_mode() && self.host().store(id, method, value)
    }

    /// Persists `value` (a string) or removes the stored token (`undefined`), reporting failures.
    pub(super) fn store(&self, value: &V<H>) {
        let id = self.id();
        if self.storage(id, if H::is_string(value) { SET } else { REMOVE }, value) {
            self.insert(id, Op::Store);
        }
    }

    pub(super) fn forget_refresh_token(&self) {
        self.refresh_token.set(self.u());
        self.store(&self.u());
    }
}
