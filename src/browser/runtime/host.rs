//! [`Host`]: everything the runtime does outside itself. The browser's implementation is the
//! JavaScript plumbing of `glue.js` (`src/browser/js.rs`); native tests drive the same runtime
//! through a recording fake (tests/native/client_runtime.rs) that settles requests, fires the
//! timer and delivers tab messages in whatever order a test chooses.
//!
//! Values the runtime only passes on (requests, responses, promises, signals, listeners, errors)
//! are the host's [`Host::Value`]; the runtime reads a few members of them through the host
//! (`get`, `number`, `text`) and never builds anything but numbers and booleans itself.

use alloc::string::String;

/// The runtime's world: values, the clock, randomness, and the plumbing (requests, promises, the
/// lock, storage, the timer, the channel, listeners). Methods mirror `glue.js`'s `Host`, whose
/// documentation in `src/browser/js.rs` says what each does; ids are operation ids, settled by
/// [`Inner::dispatch`](super::Inner::dispatch) with `tag = id * KINDS + kind`.
pub trait Host {
    /// A value of the host (a `JsValue` in the browser); `Default` is `undefined`.
    type Value: Clone + Default + PartialEq;

    // ----- values -----

    /// `target[key]` (`undefined` for `undefined` and `null`).
    fn get(target: &Self::Value, key: &str) -> Self::Value;
    /// `value` if a number or a decimal string of one, else NaN.
    fn number(value: &Self::Value) -> f64;
    /// A string as ASCII (others: U+001A), `None` if `value` is no string.
    fn text(value: &Self::Value) -> Option<String>;
    /// Whether `value` is a string.
    fn is_string(value: &Self::Value) -> bool;
    /// Whether `value` is `undefined`.
    fn is_undefined(value: &Self::Value) -> bool;
    /// Whether `value` is `true`.
    fn is_true(value: &Self::Value) -> bool;
    /// A boolean.
    fn boolean(value: bool) -> Self::Value;
    /// A number.
    fn float(value: f64) -> Self::Value;
    /// `null`.
    fn null() -> Self::Value;
    /// `[exp, iat, sub]` of a JWT, decoded and not verified (`[]` if no JWT), `undefined` unless
    /// `token` is a non-empty string.
    fn claims(token: &Self::Value) -> Self::Value;
    /// The JWT's `sub` if a non-empty string, else `undefined`.
    fn subject(token: &Self::Value) -> Self::Value;
    /// The `AuthError` of error `code` (`ErrorCode as u32`), with the HTTP `status`, the
    /// `retryAfter` in ms (NaN: none) and the server's `error` member.
    fn error(
        code: u32,
        status: Option<u16>,
        retry_after: f64,
        oauth_error: &Self::Value,
    ) -> Self::Value;

    // ----- clock, randomness -----

    /// The monotonic clock, ms (`performance.now()`).
    fn mono(&self) -> f64;
    /// The wall clock, Unix ms (`Date.now()`).
    fn wall(&self) -> f64;
    /// Uniform in `[0, 1)`.
    fn random(&self) -> f64;

    // ----- plumbing -----

    /// Stops the timer, listeners and channel; rejects the pending promises with `error`.
    fn close(&self, error: &Self::Value);
    /// A promise for operation `id`.
    fn defer(&self, id: u32) -> Self::Value;
    /// Settles the promise of `id` (resolves if `ok`); for a flight, releases its lock.
    fn settle(&self, id: u32, ok: bool, value: &Self::Value);
    /// Reports the settlement of `value` to `id` (later: a microtask).
    fn then(&self, id: u32, value: &Self::Value);
    /// Sends `request` with the access token (unless `undefined`); a 401 to a request of token
    /// `generation` (non-zero) is handed back. A promise.
    fn send(&self, request: &Self::Value, access: &Self::Value, generation: u32) -> Self::Value;
    /// POSTs to endpoint `which` for `id`; returns the timeout's signal.
    fn post(&self, id: u32, which: u32, a: &Self::Value, b: &Self::Value) -> Self::Value;
    /// Reads `response`'s body for `id`; returns its `Retry-After` header.
    fn json(&self, id: u32, response: &Self::Value) -> Self::Value;
    /// `auth.fetch(input, init)`: a promise; a managed request is sent with `access`, or handed
    /// back if `access` is `null`. For `left` ms (0: none) after its last readings of both
    /// clocks before this call, the host may make the next calls of `auth.fetch` the same way
    /// without the runtime, unless it calls the runtime in between (see `Inner::fetch`).
    fn request(
        &self,
        input: &Self::Value,
        init: &Self::Value,
        access: &Self::Value,
        generation: u32,
        left: u32,
    ) -> Self::Value;
    /// Whether the page reads the session hint as "over" (`sr_session=0`).
    fn over(&self) -> bool;
    /// Calls storage method `method` for `id`; false without storage.
    fn store(&self, id: u32, method: u32, value: &Self::Value) -> bool;
    /// Requests the Web Lock for flight `id` (granted: `LOCKED`; held until `settle(id, ..)`).
    fn lock(&self, id: u32);
    /// The session ended: forget the DPoP key (read afresh when next needed); `gone` (the
    /// session expired): remove it from its store too, so the next session gets a new one.
    fn drop_key(&self, gone: bool);
    /// Arms the one timer in `ms` (cleared if negative).
    fn arm(&self, ms: f64);
    /// Tells the other tabs the access token (or a logout, if `undefined`): a channel message,
    /// and the same message where [`Host::shared`] reads it, written before this returns.
    fn tell(&self, access: &Self::Value, lifetime: f64);
    /// The last token message any tab of the origin told ([`Host::tell`] writes it before the
    /// flight that got the token releases the lock; a logout removes it), or `undefined`.
    fn shared(&self) -> Self::Value;
    /// Adds or removes a listener; false for an unknown event or a non-function.
    fn listen(&self, add: bool, kind: &Self::Value, listener: &Self::Value) -> bool;
    /// Calls the listeners of event `kind`.
    fn emit(&self, kind: u32, a: &Self::Value, b: &Self::Value);
}
