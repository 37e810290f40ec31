//! The few JavaScript primitives the adapter is built on.
//!
//! Every browser API is reached through `Reflect.get`/`Reflect.set`, `Reflect.apply` and
//! `Reflect.construct` with argument arrays from `Array.of`, rather than through one typed
//! `web-sys` binding per method: each binding costs an import in the wasm and a shim in the JS
//! glue, and the package must stay under 20 KB. The price is the loss of static typing at this
//! boundary, which these helpers confine to one file.

use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use crate::core::client::ErrorCode;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(thread_local_v2, js_name = globalThis)]
    static GLOBAL: JsValue;
    #[wasm_bindgen(js_namespace = Reflect, js_name = get, catch)]
    fn reflect_get(target: &JsValue, key: &JsValue) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_namespace = Reflect, js_name = set, catch)]
    fn reflect_set(target: &JsValue, key: &JsValue, value: &JsValue) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_namespace = Reflect, js_name = apply, catch)]
    fn reflect_apply(f: &JsValue, this: &JsValue, args: &JsValue) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_namespace = Reflect, js_name = construct, catch)]
    fn reflect_construct(f: &JsValue, args: &JsValue) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_namespace = Array, js_name = of)]
    fn args(a: &JsValue, b: &JsValue) -> JsValue;
    #[wasm_bindgen(js_namespace = Promise, js_name = resolve)]
    fn promise_resolve(value: &JsValue) -> js_sys::Promise;
    #[wasm_bindgen(js_namespace = JSON, js_name = stringify)]
    fn stringify(value: &JsValue) -> JsValue;
    /// `setTimeout(handler, ms)`.
    #[wasm_bindgen(js_name = setTimeout)]
    pub fn set_timeout(handler: &JsValue, ms: f64) -> JsValue;
    /// `clearTimeout(id)`.
    #[wasm_bindgen(js_name = clearTimeout)]
    pub fn clear_timeout(id: &JsValue);
    /// `performance.now()`.
    #[wasm_bindgen(js_namespace = performance, js_name = now)]
    pub fn performance_now() -> f64;
    /// `Date.now()`.
    #[wasm_bindgen(js_namespace = Date, js_name = now)]
    pub fn date_now() -> f64;
    /// `Math.random()`.
    #[wasm_bindgen(js_namespace = Math, js_name = random)]
    pub fn random() -> f64;
}

/// `undefined`.
pub const U: JsValue = JsValue::UNDEFINED;

/// `globalThis`.
pub fn global() -> JsValue {
    GLOBAL.with(JsValue::clone)
}

/// `target[key]`; `undefined` if `target` is not an object.
pub fn get(target: &JsValue, key: &str) -> JsValue {
    reflect_get(target, &JsValue::from_str(key)).unwrap_or(U)
}

/// `target[index]`.
pub fn at(target: &JsValue, index: u32) -> JsValue {
    reflect_get(target, &JsValue::from(index)).unwrap_or(U)
}

/// `[a, b]`.
pub fn pair(a: &JsValue, b: &JsValue) -> JsValue {
    args(a, b)
}

/// `globalThis[key]`.
pub fn global_get(key: &str) -> JsValue {
    get(&global(), key)
}

/// `target[key] = value` (ignored if `target` is not an object).
pub fn set(target: &JsValue, key: &str, value: &JsValue) {
    let _ = reflect_set(target, &JsValue::from_str(key), value);
}

/// A new plain object.
pub fn object() -> JsValue {
    reflect_construct(&global_get("Object"), &args(&U, &U)).unwrap_or(U)
}

/// `f.call(this, a, b)` (pass `U` for missing arguments).
pub fn apply(f: &JsValue, this: &JsValue, a: &JsValue, b: &JsValue) -> Result<JsValue, JsValue> {
    reflect_apply(f, this, &args(a, b))
}

/// `target[name](a, b)`; `Err` if that is not a function or it throws.
pub fn call(target: &JsValue, name: &str, a: &JsValue, b: &JsValue) -> Result<JsValue, JsValue> {
    apply(&get(target, name), target, a, b)
}

/// `new globalThis[name](a, b)`.
pub fn construct(name: &str, a: &JsValue, b: &JsValue) -> Result<JsValue, JsValue> {
    reflect_construct(&global_get(name), &args(a, b))
}

/// `JSON.stringify(value)`.
pub fn json(value: &JsValue) -> JsValue {
    stringify(value)
}

/// Awaits a value that may or may not be a promise.
pub async fn settle(value: &JsValue) -> Result<JsValue, JsValue> {
    JsFuture::from(promise_resolve(value)).await
}

/// A number as a JavaScript value.
pub fn num(value: f64) -> JsValue {
    JsValue::from_f64(value)
}

/// An `Error` whose `.code` is the stable code (see [`ErrorCode`]).
pub fn error(code: ErrorCode) -> JsValue {
    let e = construct("Error", &code.message().into(), &U).unwrap_or(U);
    set(&e, "code", &code.code().into());
    e
}

/// Like [`error`], with the HTTP `.status` that caused it.
pub fn http_error(code: ErrorCode, status: u16) -> JsValue {
    let e = error(code);
    set(&e, "status", &num(f64::from(status)));
    e
}
