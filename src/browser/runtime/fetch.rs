//! `auth.fetch`, and the 401s of managed requests.

use alloc::rc::Rc;

use super::*;

impl<H: Host> Inner<H> {
    // ----- fetch -----

    /// `auth.fetch(input, init)`: with the token unless a refresh may be due, then the request
    /// is handed back ([`Inner::fetch_handed`]). With it, the window (ms, 0: none) in which the
    /// host may make the same call again without the runtime (the browser's `auth.fetch` does,
    /// without entering wasm), if the runtime is not called in between: while neither clock has
    /// advanced by that much since readings the host took before this call. The engine's clock
    /// advances by the larger of the two increments and counts whole ms, so [`Engine::send_due`]
    /// stays false until then ([`Engine::fresh_for`], less a ms; taken modulo 2^32: shorter,
    /// never longer).
    pub(super) fn fetch(self: &Rc<Self>, input: &V<H>, init: &V<H>) -> V<H> {
        if let Some(e) = self.disposed_error() {
            let (id, promise) = self.promise();
            self.reject(id, &e);
            return promise;
        }
        let now = self.now();
        // (Not in the `match`: its engine borrow would last through the arms.)
        let fresh = self.engine().fresh_for(now);
        let ((access, generation), left) = match fresh {
            // A token held and no refresh due: the token, for `ms` more.
            Some(ms) => (
                self.current().unwrap_or_default(),
                (ms as u32).saturating_sub(1),
            ),
            // A refresh due or pending, or a lazy restore: handed back; else no token.
            None if self.signed_in() || self.engine().lazy_pending() => ((H::null(), 0), 0),
            None => ((self.u(), 0), 0),
        };
        self.host().request(input, init, &access, generation, left)
    }

    /// A request of `fetch` handed over as `[response, request, generation]`, a promise: a
    /// managed request while a refresh may be due (no response: refresh first, or wait for the
    /// one in flight), or the 401 to one sent with the token of `generation` (`request` its
    /// spare): replay at once if a newer token is held, else after one refresh, or hand over the
    /// 401.
    pub(super) fn fetch_handed(self: &Rc<Self>, value: &V<H>) -> V<H> {
        let (id, promise) = self.promise();
        if let Some(e) = self.disposed_error() {
            self.reject(id, &e);
            return promise;
        }
        let reply = H::get(value, "0");
        let request = H::get(value, "1");
        let carried = H::number(&H::get(value, "2")) as u32;
        let now = self.now();
        let (wait, step) = if H::is_undefined(&reply) {
            let step = if self.signed_in() {
                self.engine().before_send(now)
            } else {
                let possible = self.lazy_possible();
                self.engine().lazy_restore(now, possible)
            };
            (Wait::Flight, step)
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
    pub(super) fn fetch_step(
        &self,
        id: u32,
        wait: Wait,
        request: &V<H>,
        reply: &V<H>,
        carried: u32,
    ) {
        let (access, generation) = self.current().unwrap_or((self.u(), 0));
        let value = if wait == Wait::Flight {
            self.host().send(request, &access, generation)
        } else if replays(generation, carried) {
            // The replay: a 401 to it goes to the caller.
            self.host().send(request, &access, 0)
        } else {
            reply.clone()
        };
        self.resolve(id, &value);
    }
}
