//! The entry points: creating a client, the calls of the public `AuthClient`, and the fast path
//! of `fetch` published after each.

use alloc::rc::Rc;

use wasm_bindgen::JsValue;

use super::*;

/// The owner of a client: held (through the owner closure) by the public `AuthClient` only, so
/// that the client is disposed when that object is garbage-collected.
struct Owner(Rc<Inner>);

impl Drop for Owner {
    fn drop(&mut self) {
        self.0.dispose();
    }
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
    pub(super) fn enter(&self) {
        let depth = self.depth.get();
        if depth == 0 {
            self.host().fresh_(&U, 0, 0.0, 0.0);
        }
        self.depth.set(depth + 1);
    }

    /// A call from JavaScript ends with `result`; the outermost publishes the fast path.
    #[inline(never)]
    pub(super) fn leave(&self, result: JsValue) -> JsValue {
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
    pub(super) fn publish(&self) {
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
    pub(super) fn call(self: &Rc<Self>, method: u32, a: JsValue, b: JsValue) -> JsValue {
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
}
