//! The entry points: creating a client and the calls of the public `AuthClient`.

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
                    me.clone().dispatch(tag, value)
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
                dispatcher,
            }
        });
        me.host().open_(me.dispatcher.as_ref(), me.s.timeout_ms);
        me.now();
        let owner = Owner(me);
        let call: Dispatcher = Closure::new(move |method, a, b| {
            let me = &owner.0;
            me.call(method, a, b)
        });
        call.into_js_value()
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
