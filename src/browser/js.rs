//! The few JavaScript primitives the adapter is built on.
//!
//! Every browser API is reached through `Reflect.get`/`Reflect.set`, `Reflect.apply` and
//! `Reflect.construct` with argument arrays from `Array.of`, rather than through one typed
//! `web-sys` binding per method: each binding costs an import in the wasm and a shim in the JS
//! glue, and the package must stay under 20 KB. The price is the loss of static typing at this
//! boundary, which these helpers confine to one file.

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::core::client::ErrorCode;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(thread_local_v2, js_name = globalThis)]
    static GLOBAL: JsValue;
    #[wasm_bindgen(js_namespace = Reflect, js_name = get, catch)]
    fn reflect_get(target: &JsValue, key: &JsValue) -> Result<JsValue, JsValue>;
    /// `Object(value)`: the value itself for objects, a wrapper for primitives, `{}` for
    /// `undefined` and `null`; so that `Reflect.get` works on strings and never throws.
    #[wasm_bindgen(js_name = Object)]
    fn to_object(value: &JsValue) -> JsValue;
    #[wasm_bindgen(js_namespace = Reflect, js_name = set, catch)]
    fn reflect_set(target: &JsValue, key: &JsValue, value: &JsValue) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_namespace = Reflect, js_name = apply, catch)]
    fn reflect_apply(f: &JsValue, this: &JsValue, args: &JsValue) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_namespace = Reflect, js_name = construct, catch)]
    fn reflect_construct(f: &JsValue, args: &JsValue) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_namespace = Array, js_name = of)]
    fn args(a: &JsValue, b: &JsValue) -> JsValue;
    #[wasm_bindgen(js_namespace = JSON, js_name = stringify)]
    fn stringify(value: &JsValue) -> JsValue;
    #[wasm_bindgen(js_namespace = JSON, js_name = parse)]
    fn json_parse(text: &str) -> JsValue;
    /// A JavaScript string.
    type Text;
    #[wasm_bindgen(method, structural, js_name = concat)]
    fn js_concat(this: &Text, other: &JsValue) -> JsValue;
    #[wasm_bindgen(js_namespace = Object, js_name = assign)]
    fn object_assign(target: &JsValue, source: &JsValue) -> JsValue;
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

/// `target[key]`; `undefined` for `undefined` and `null` targets or if a getter throws.
#[inline(never)]
pub fn get(target: &JsValue, key: &str) -> JsValue {
    reflect_get(&to_object(target), &JsValue::from_str(key)).unwrap_or(U)
}

/// `target[index]`.
#[inline(never)]
pub fn at(target: &JsValue, index: u32) -> JsValue {
    reflect_get(&to_object(target), &JsValue::from(index)).unwrap_or(U)
}

/// `globalThis[key]`.
#[inline(never)]
pub fn global_get(key: &str) -> JsValue {
    get(&global(), key)
}

/// `target[key] = value` (ignored if `target` is not an object).
#[inline(never)]
pub fn set(target: &JsValue, key: &str, value: &JsValue) {
    let _ = reflect_set(target, &JsValue::from_str(key), value);
}

/// A new plain object.
#[inline(never)]
pub fn object() -> JsValue {
    reflect_construct(&global_get("Object"), &args(&U, &U)).unwrap_or(U)
}

/// `f.call(this, a, b)` (pass `U` for missing arguments; only for functions that ignore an
/// extra `undefined`, which excludes variadic ones such as `String.prototype.concat`).
#[inline(never)]
pub fn apply(f: &JsValue, this: &JsValue, a: &JsValue, b: &JsValue) -> Result<JsValue, JsValue> {
    reflect_apply(f, this, &args(a, b))
}

/// `target[name](a, b)`; `Err` if that is not a function or it throws.
#[inline(never)]
pub fn call(target: &JsValue, name: &str, a: &JsValue, b: &JsValue) -> Result<JsValue, JsValue> {
    apply(&get(target, name), target, a, b)
}

/// `new globalThis[name](a, b)`.
#[inline(never)]
pub fn construct(name: &str, a: &JsValue, b: &JsValue) -> Result<JsValue, JsValue> {
    reflect_construct(&global_get(name), &args(a, b))
}

/// A new object from a JSON template (cheaper than a `set` per member).
#[inline(never)]
pub fn template(json: &str) -> JsValue {
    json_parse(json)
}

/// `Object.assign(target, source)`.
#[inline(never)]
pub fn assign(target: &JsValue, source: &JsValue) -> JsValue {
    object_assign(target, source)
}

/// `a.concat(b)` for strings (`call` would pass a second, `undefined`, argument, and
/// `concat` would append it).
#[inline(never)]
pub fn concat(a: &JsValue, b: &JsValue) -> JsValue {
    a.unchecked_ref::<Text>().js_concat(b)
}

/// `JSON.stringify(value)`.
#[inline(never)]
pub fn json(value: &JsValue) -> JsValue {
    stringify(value)
}

/// `f.bind(null, tag)`: a function that calls `f(tag, ...args)`.
#[inline(never)]
pub fn bind(f: &JsValue, tag: u32) -> JsValue {
    call(f, "bind", &JsValue::NULL, &JsValue::from(tag)).unwrap_or(U)
}

/// A promise settled like `result`: `Promise.resolve(value)` or `Promise.reject(error)`.
#[inline(never)]
pub fn settled(result: Result<JsValue, JsValue>) -> JsValue {
    let promise = global_get("Promise");
    let r = match result {
        Ok(v) => call(&promise, "resolve", &v, &U),
        Err(e) => call(&promise, "reject", &e, &U),
    };
    r.unwrap_or(U)
}

/// A number as a JavaScript value.
#[inline(never)]
pub fn num(value: f64) -> JsValue {
    JsValue::from_f64(value)
}

/// An `Error` whose `.code` is the stable code (see [`ErrorCode`]).
#[inline(never)]
pub fn error(code: ErrorCode) -> JsValue {
    let e = construct("Error", &code.message().into(), &U).unwrap_or(U);
    set(&e, "code", &code.code().into());
    e
}

/// Like [`error`], with the HTTP `.status` that caused it.
#[inline(never)]
pub fn http_error(code: ErrorCode, status: u16) -> JsValue {
    let e = error(code);
    set(&e, "status", &num(f64::from(status)));
    e
}
