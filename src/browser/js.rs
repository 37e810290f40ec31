//! The JavaScript the adapter is built on: the plumbing in `glue.js` (one [`Host`] per client),
//! and a few globals.
//!
//! Building request objects and headers, URL checks, event objects, listener, timer, channel,
//! lock and storage wiring are JavaScript in `glue.js`, called here with few arguments: JS source
//! is far smaller than the same `Reflect` calls compiled to wasm, and the package must stay under
//! 20 KB. What to do, and what a result means, stays in Rust (`runtime` and the core).

use alloc::string::String;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::browser::runtime;
use crate::core::client::ErrorCode;

#[wasm_bindgen(module = "/src/browser/glue.js")]
extern "C" {
    /// The JS side of one client: settings, listeners, timer, channel, pending promises.
    pub type Host;
    /// Starts listening (page events, channel); every callback calls `dispatch(tag, value)`.
    /// (The host is made in JavaScript, by the public `AuthClient`, from the options object.)
    #[wasm_bindgen(method)]
    pub fn open_(this: &Host, dispatch: &JsValue, timeout_ms: f64);
    /// Removes every timer, listener and channel and rejects the pending promises with `error`.
    #[wasm_bindgen(method)]
    pub fn close_(this: &Host, error: &JsValue);
    /// A promise for operation `id`.
    #[wasm_bindgen(method)]
    pub fn defer_(this: &Host, id: u32) -> JsValue;
    /// Settles the promise of `id` (resolves if `ok`).
    #[wasm_bindgen(method)]
    pub fn settle_(this: &Host, id: u32, ok: bool, value: &JsValue);
    /// Reports the settlement of `value` to operation `id`.
    #[wasm_bindgen(method)]
    pub fn then_(this: &Host, id: u32, value: &JsValue);
    /// Fetches `request`, with `Authorization: Bearer <access>` unless `undefined`; a promise.
    /// If `generation` (the token's), a 401 comes back as
    /// `dispatch(7, [response, spare, generation])`, whose promise it settles to.
    #[wasm_bindgen(method)]
    pub fn send_(this: &Host, request: &JsValue, access: &JsValue, generation: u32) -> JsValue;
    /// POSTs to endpoint `which` for `id` (login: `a`, `b` the credentials; else `a` the refresh
    /// token or `undefined`); returns the timeout's signal.
    #[wasm_bindgen(method)]
    pub fn post_(this: &Host, id: u32, which: u32, a: &JsValue, b: &JsValue) -> JsValue;
    /// Reads `response`'s body as JSON for `id`; returns its `Retry-After` header, if any.
    #[wasm_bindgen(method)]
    pub fn json_(this: &Host, id: u32, response: &JsValue) -> JsValue;
    /// `fetch(input, init)`, a promise: `new Request(input, init)`, sent as it is unless the
    /// client attaches the token to it (bearer origin, not an endpoint, no `Authorization` of
    /// the caller's); then `send(request, access, generation)`, or, if `access` is `null`,
    /// `dispatch(7, [undefined, request])`, whose promise it settles to. For `left` ms (0: none)
    /// from clock readings taken just before this call into wasm, `auth.fetch` makes the same
    /// call without wasm, unless wasm is called in between (client.js).
    #[wasm_bindgen(method)]
    pub fn request_(
        this: &Host,
        input: &JsValue,
        init: &JsValue,
        access: &JsValue,
        generation: u32,
        left: u32,
    ) -> JsValue;
    /// True if the page can read the Worker's session hint and it says the session is over
    /// (`sr_session=0`); false when it is absent, `1` or unreadable.
    #[wasm_bindgen(method)]
    pub fn over_(this: &Host) -> bool;
    /// Calls storage method `method` ([`StorageMethod`](crate::core::client::interface::StorageMethod))
    /// for `id`; false without a storage.
    #[wasm_bindgen(method)]
    pub fn store_(this: &Host, id: u32, method: u32, value: &JsValue) -> bool;
    /// Requests the Web Lock for flight `id`, held until `settle(id, ..)`.
    #[wasm_bindgen(method)]
    pub fn lock_(this: &Host, id: u32);
    /// Forgets the DPoP key (read afresh when next needed); `gone`: removes it from IndexedDB too.
    #[wasm_bindgen(method)]
    pub fn drop_(this: &Host, gone: bool);
    /// Arms the timer in `ms` (cleared if negative).
    #[wasm_bindgen(method)]
    pub fn arm_(this: &Host, ms: f64);
    /// Posts `{type: "token", access, lifetime}` to the other tabs (an access token, never a
    /// refresh token: a hint they check), or `{type: "logout"}` if `access` is `undefined`; and
    /// writes the token message where `shared_` reads it (removes it at logout).
    #[wasm_bindgen(method)]
    pub fn tell_(this: &Host, access: &JsValue, lifetime: f64);
    /// The last token message of the origin's tabs (see `tell_`), or `undefined`.
    #[wasm_bindgen(method)]
    pub fn shared_(this: &Host) -> JsValue;
    /// Adds (`add`) a listener, or removes one; false for an unknown event type or a
    /// non-function (when adding).
    #[wasm_bindgen(method)]
    pub fn listen_(this: &Host, add: bool, kind: &JsValue, listener: &JsValue) -> bool;
    /// Calls the listeners of event `kind` (0 `refresh` with `{source, expiresAt: b}`,
    /// 1 `expired` with `{error: a}`, 2 `error` with `{error: a, retryIn: b}`, 3 `logout` with
    /// `{source}`; `source` is named by its index `a`: 0 "network", 1 "tab", 2 "restore",
    /// 3 "local").
    #[wasm_bindgen(method)]
    pub fn emit_(this: &Host, kind: u32, a: &JsValue, b: &JsValue);
    /// `target[key]`.
    pub fn get(target: &JsValue, key: &str) -> JsValue;
    /// `value` if it is a number, else `NaN` (cheaper in glue than `JsValue::as_f64`).
    pub fn number(value: &JsValue) -> f64;
    /// The `sub` of the JWT `token` as decoded (not verified) if a non-empty string, else
    /// `undefined`.
    pub fn subject(token: &JsValue) -> JsValue;
    /// `[exp, iat, sub]` of the JWT `token` as decoded (not verified; unchecked, absent members if it
    /// is no JWT), or `undefined` unless `token` is a non-empty string.
    pub fn claims(token: &JsValue) -> JsValue;
    #[wasm_bindgen(js_name = error)]
    fn js_error(code: u32, status: Option<u16>, retry_after: f64, oauth_error: &JsValue)
        -> JsValue;
}

#[wasm_bindgen]
extern "C" {
    /// `performance.now()`.
    #[wasm_bindgen(js_namespace = performance, js_name = now)]
    pub fn performance_now() -> f64;
    /// `Date.now()`.
    #[wasm_bindgen(js_namespace = Date, js_name = now)]
    pub fn date_now() -> f64;
    /// `Math.random()`.
    #[wasm_bindgen(js_namespace = Math, js_name = random)]
    pub fn random() -> f64;
    /// A JavaScript string.
    type Text;
    #[wasm_bindgen(method, getter)]
    fn length(this: &Text) -> u32;
    #[wasm_bindgen(method, js_name = charCodeAt)]
    fn char_code_at(this: &Text, index: u32) -> u32;
}

/// A JavaScript string as a Rust `String` (`None` if `value` is not a string), with every
/// non-ASCII character replaced by U+001A SUBSTITUTE.
///
/// Read one UTF-16 unit at a time rather than with `JsValue::as_string`, whose UTF-8 encoding
/// glue in JS and wasm costs more than this function. The strings read are ASCII by definition:
/// a JWT, an OAuth `error` code, `Retry-After`, the mode; a substitute never matches one.
pub fn text(value: &JsValue) -> Option<String> {
    if !value.is_string() {
        return None;
    }
    let text: &Text = value.unchecked_ref();
    let ascii = |unit: u32| char::from(if unit < 0x80 { unit as u8 } else { 0x1a });
    Some(
        (0..text.length())
            .map(|i| ascii(text.char_code_at(i)))
            .collect(),
    )
}

/// `undefined`.
pub const U: JsValue = JsValue::UNDEFINED;

/// An `Error` whose `.code` is the stable code and whose message is the code's (see
/// [`ErrorCode`]; `glue.js` holds a copy of both, indexed as [`ErrorCode::ALL`]).
pub fn error(code: ErrorCode) -> JsValue {
    js_error(code as u32, None, f64::NAN, &U)
}

/// The browser: every method is the `glue.js` plumbing of the same name (with `_`), a global, or
/// a `JsValue` method.
impl runtime::Host for Host {
    type Value = JsValue;

    fn get(target: &JsValue, key: &str) -> JsValue {
        get(target, key)
    }
    fn number(value: &JsValue) -> f64 {
        number(value)
    }
    fn text(value: &JsValue) -> Option<String> {
        text(value)
    }
    fn is_string(value: &JsValue) -> bool {
        value.is_string()
    }
    fn is_undefined(value: &JsValue) -> bool {
        value.is_undefined()
    }
    fn is_true(value: &JsValue) -> bool {
        *value == JsValue::TRUE
    }
    fn boolean(value: bool) -> JsValue {
        JsValue::from_bool(value)
    }
    fn float(value: f64) -> JsValue {
        JsValue::from_f64(value)
    }
    fn null() -> JsValue {
        JsValue::NULL
    }
    fn claims(token: &JsValue) -> JsValue {
        claims(token)
    }
    fn subject(token: &JsValue) -> JsValue {
        subject(token)
    }
    fn error(code: u32, status: Option<u16>, retry_after: f64, oauth: &JsValue) -> JsValue {
        js_error(code, status, retry_after, oauth)
    }
    fn mono(&self) -> f64 {
        performance_now()
    }
    fn wall(&self) -> f64 {
        date_now()
    }
    fn random(&self) -> f64 {
        random()
    }
    fn close(&self, error: &JsValue) {
        self.close_(error)
    }
    fn defer(&self, id: u32) -> JsValue {
        self.defer_(id)
    }
    fn settle(&self, id: u32, ok: bool, value: &JsValue) {
        self.settle_(id, ok, value)
    }
    fn then(&self, id: u32, value: &JsValue) {
        self.then_(id, value)
    }
    fn send(&self, request: &JsValue, access: &JsValue, generation: u32) -> JsValue {
        self.send_(request, access, generation)
    }
    fn post(&self, id: u32, which: u32, a: &JsValue, b: &JsValue) -> JsValue {
        self.post_(id, which, a, b)
    }
    fn json(&self, id: u32, response: &JsValue) -> JsValue {
        self.json_(id, response)
    }
    fn request(
        &self,
        input: &JsValue,
        init: &JsValue,
        access: &JsValue,
        generation: u32,
        left: u32,
    ) -> JsValue {
        self.request_(input, init, access, generation, left)
    }
    fn over(&self) -> bool {
        self.over_()
    }
    fn store(&self, id: u32, method: u32, value: &JsValue) -> bool {
        self.store_(id, method, value)
    }
    fn lock(&self, id: u32) {
        self.lock_(id)
    }
    fn drop_key(&self, gone: bool) {
        self.drop_(gone)
    }
    fn arm(&self, ms: f64) {
        self.arm_(ms)
    }
    fn tell(&self, access: &JsValue, lifetime: f64) {
        self.tell_(access, lifetime)
    }
    fn shared(&self) -> JsValue {
        self.shared_()
    }
    fn listen(&self, add: bool, kind: &JsValue, listener: &JsValue) -> bool {
        self.listen_(add, kind, listener)
    }
    fn emit(&self, kind: u32, a: &JsValue, b: &JsValue) {
        self.emit_(kind, a, b)
    }
}
