//! The entry points: creating a client and the calls of the public `AuthClient`.

use alloc::rc::Rc;

use super::*;

impl<H: Host> Inner<H> {
    /// The client of `settings`, signed out. The caller (the browser's `client` export, or a
    /// test) wires the host's callbacks to [`Inner::dispatch`] and starts listening.
    pub fn new(config: ClientConfig, s: Settings<H>) -> Inner<H> {
        let me = Inner {
            s,
            refresh_token: Cell::new(Default::default()),
            core: RefCell::new(Engine::new(config)),
            clock: Cell::new(ElapsedClock::default()),
            flight: Cell::new(None),
            waiters: RefCell::new(Vec::new()),
            ops: RefCell::new(Vec::new()),
            next_id: Cell::new(1),
            timer: Cell::new(None),
            disposed: Cell::new(false),
        };
        me.now();
        me
    }

    /// The host.
    pub fn host(&self) -> &H {
        &self.s.host
    }

    /// Method `method` of the public `AuthClient` ([`Method`]), with its arguments `a`, `b`:
    /// its result, or the `Error` it throws (`glue.js` throws an `Error` it gets back).
    #[inline(always)]
    pub fn call(self: &Rc<Self>, method: u32, a: V<H>, b: V<H>) -> V<H> {
        let done = |r: Result<(), V<H>>| r.err().unwrap_or_default();
        let number = |v: Option<f64>| v.map_or(self.u(), |v| H::float(v));
        match method {
            LOGIN_METHOD => self.login(&a, &b),
            SET_SESSION_METHOD => done(self.set_session(&a)),
            RESTORE_METHOD => self.refresh_or_restore(true),
            FETCH_METHOD => self.fetch(&a, &b),
            REFRESH_METHOD => self.refresh_or_restore(false),
            LOGOUT_METHOD => self.logout(),
            ON_METHOD => done(self.on(&a, &b)),
            OFF_METHOD => {
                self.host().listen(false, &a, &b);
                self.u()
            }
            DISPOSE_METHOD => {
                self.dispose();
                self.u()
            }
            SIGNED_IN_METHOD => H::boolean(self.signed_in()),
            EXPIRES_AT_METHOD => number(self.expires_at()),
            NEXT_REFRESH_AT_METHOD => number(self.next_refresh_at()),
            REFRESH_COUNT_METHOD.. => H::float(self.engine().refresh_count() as f64),
        }
    }
}
