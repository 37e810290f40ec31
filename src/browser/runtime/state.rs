//! The clock, the state as JavaScript reads it, events, the timer and page events, and the other
//! tabs.

use alloc::rc::Rc;

use super::*;

impl<H: Host> Inner<H> {
    // ----- clock, state, events -----

    pub(super) fn now(&self) -> u64 {
        self.now_at(self.host().mono(), self.host().wall())
    }

    /// The engine clock, given readings of `performance.now()` and `Date.now()`.
    pub(super) fn now_at(&self, mono: f64, wall: f64) -> u64 {
        let mut clock = self.clock.get();
        let now = clock.observe(mono, wall);
        self.clock.set(clock);
        now
    }

    /// Converts an engine instant into Unix milliseconds, for display.
    pub(super) fn wall(&self, at: Option<u64>) -> Option<f64> {
        Some(self.host().wall() + (at? as f64 - self.now() as f64))
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
    pub(super) fn current(&self) -> Option<(V<H>, u32)> {
        self.engine().access().map(|(t, g)| (t.clone(), g))
    }

    pub(super) fn disposed_error(&self) -> Option<V<H>> {
        self.disposed.get().then(|| self.error(ErrorCode::Disposed))
    }

    /// `on(type, listener)`.
    pub fn on(&self, kind: &V<H>, listener: &V<H>) -> Result<(), V<H>> {
        if let Some(e) = self.disposed_error() {
            return Err(e);
        }
        if self.host().listen(true, kind, listener) {
            Ok(())
        } else {
            Err(self.error(ErrorCode::InvalidOptions))
        }
    }

    /// Emits `refresh` from `source` (an index, see `NETWORK`).
    pub(super) fn emit_refresh(&self, source: u32) {
        let expires = self.expires_at().map_or(self.u(), |v| H::float(v));
        self.host()
            .emit(REFRESH, &self.source_value(source), &expires);
    }

    pub(super) fn emit_error(&self, err: &V<H>, retry_in: Option<u64>) {
        let retry_in = retry_in.map_or(self.u(), |ms| H::float(ms as f64));
        self.host().emit(ERROR, err, &retry_in);
    }

    // ----- the timer and the page -----

    /// Arms the one timer for the engine's deadline (or clears it).
    pub(super) fn arm(&self) {
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
        self.host().arm(delay);
    }

    pub(super) fn on_timer(self: Rc<Self>) {
        self.timer.set(None);
        let step = self.engine().timer(self.now());
        self.automatic(step);
    }

    /// A wake-up event (`online`, or the page shown or made visible).
    pub(super) fn on_wake(self: Rc<Self>, online: bool) {
        let step = self.engine().wake(self.now(), online);
        self.automatic(step);
    }

    /// Carries out a step nobody waits for (timer, wake-up), then re-arms the timer.
    pub(super) fn automatic(self: Rc<Self>, step: Step) {
        self.wait_for(0, step);
        self.arm();
    }

    /// Carries out `step` for operation `id` (0: nobody); whether `id` now waits for a flight.
    pub(super) fn wait_for(self: &Rc<Self>, id: u32, step: Step) -> bool {
        let flight = match step {
            Step::Start(ticket) => Some(self.start_flight(ticket)),
            Step::Await => self.flight.get(),
            Step::Refused { code, report } => {
                if report {
                    self.emit_error(&self.error(code), None);
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

    /// Tells the other tabs the access token this tab has just got by signing in or refreshing
    /// (never the refresh token): `{type: "token", access, lifetime}` (ms, -1 if unknown).
    pub(super) fn broadcast_token(&self) {
        let (access, lifetime) = {
            let core = self.engine();
            let Some((token, _)) = core.access() else {
                return;
            };
            (token.clone(), core.lifetime_ms())
        };
        self.host()
            .tell(&access, lifetime.map_or(-1.0, |ms| ms as f64));
    }

    /// Another tab's new access token, `{type: "token", access, lifetime}`: a hint, adopted only
    /// if it names this tab's subject and outlives this tab's token ([`Engine::adopt`]). (It is
    /// used the way this tab uses its own: Bearer, or DPoP-bound with the key the tabs share.)
    /// A signed-out tab never takes it: the message is a hint to restore with its own cookie.
    pub(super) fn on_token_message(self: Rc<Self>, data: &V<H>) {
        if !self.signed_in() {
            let now = self.now();
            let possible = self.lazy_possible();
            self.engine().session_hint();
            let step = self.engine().lazy_restore(now, possible);
            return self.automatic(step);
        }
        self.adopt(data);
    }

    /// Adopts the access token of a token message `data` if [`Engine::adopt`] takes it (then
    /// emits `refresh` from the tab); a signed-out tab never does.
    pub(super) fn adopt(&self, data: &V<H>) {
        let access = H::get(data, "access");
        let lifetime = H::number(&H::get(data, "lifetime"));
        let sub = |token: &V<H>| Some(H::subject(token)).filter(|v| H::is_string(v));
        let ours = self.current().and_then(|(token, _)| sub(&token));
        let theirs = sub(&access);
        let now = self.now();
        let adopted = self.engine().adopt(
            access,
            theirs.as_ref(),
            ours.as_ref(),
            (lifetime >= 0.0).then_some(lifetime as u64),
            now,
        );
        if adopted.is_some() {
            self.arm();
            self.emit_refresh(TAB);
        }
    }

    /// Another tab signed out: a hint, checked by a refresh ([`Engine::logout_hint`]).
    pub(super) fn on_logout_message(self: Rc<Self>) {
        let step = self.engine().logout_hint(self.now());
        self.automatic(step);
    }

    /// Local effects of a logout (`source`: "local").
    pub(super) fn signed_out(&self, source: u32) {
        let was = self.engine().sign_out();
        self.refresh_token.set(self.u());
        self.arm();
        if was {
            // The key is removed once the logout request (which it signs) is sent.
            self.host().drop_key(false);
            self.host()
                .emit(LOGOUT, &self.source_value(source), &self.u());
        }
    }
}
