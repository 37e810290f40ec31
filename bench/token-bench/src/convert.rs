//! The Worker's conversions between JS values and Rust types, each two ways: the string +
//! serde_json path the Worker uses, and serde-wasm-bindgen (JS values walked directly). Called
//! from Node by `bench/token/token-bench.mjs` with inputs shaped like the runtime's:
//!
//! - KV bulk read: a `Map` from key to text (`get([keys])`, parsed by serde_json in wasm) or to
//!   parsed objects (`get([keys], "json")`, parsed by the runtime, then serde-wasm-bindgen);
//! - `/api/me` claims: a claims map to JSON text (serde_json) or to a JS object
//!   (serde-wasm-bindgen) that the runtime then stringifies (`JSON.stringify` included);
//! - the rotation object's payloads: a `Call` to and from JSON text, or to and from a JS object;
//! - the object's SQL rows `{k, v}`: serde-wasm-bindgen (what `SqlCursor::to_array` does) or
//!   two property reads.

use js_sys::{Map, Reflect, JSON};
use serde::Deserialize;
use serde_json::{Map as JsonMap, Value};
use silent_refresh::core::server::records::{Epoch, FamilyRecord, Revocation};
use silent_refresh::core::server::rotation::Call;
use wasm_bindgen::prelude::*;

fn bulk_keys() -> [JsValue; 3] {
    ["f:fam", "r:fam", "e:sub"].map(JsValue::from_str)
}

/// Reads the three records of a refresh from a bulk read of text `n` times; returns the sum
/// of the family generations (so nothing is optimised away).
#[wasm_bindgen(js_name = bulkText)]
pub fn bulk_text(map: &Map, n: u32) -> f64 {
    let [f, r, e] = bulk_keys();
    let mut sum = 0.0;
    for _ in 0..n {
        let fam: FamilyRecord = serde_json::from_str(&map.get(&f).as_string().unwrap()).unwrap();
        let rev: Option<Revocation> = map.get(&r).as_string().map(|t| serde_json::from_str(&t).unwrap());
        let ep: Epoch = serde_json::from_str(&map.get(&e).as_string().unwrap()).unwrap();
        sum += (fam.gen + ep.n) as f64 + rev.map_or(0.0, |r| r.at as f64);
    }
    sum
}

/// The same from a bulk read of parsed JSON (`get([keys], "json")`) with serde-wasm-bindgen.
#[wasm_bindgen(js_name = bulkSwb)]
pub fn bulk_swb(map: &Map, n: u32) -> f64 {
    let [f, r, e] = bulk_keys();
    let mut sum = 0.0;
    for _ in 0..n {
        let fam: FamilyRecord = serde_wasm_bindgen::from_value(map.get(&f)).unwrap();
        let rev: Option<Revocation> = serde_wasm_bindgen::from_value(map.get(&r)).unwrap();
        let ep: Epoch = serde_wasm_bindgen::from_value(map.get(&e)).unwrap();
        sum += (fam.gen + ep.n) as f64 + rev.map_or(0.0, |r| r.at as f64);
    }
    sum
}

fn claims() -> JsonMap<String, Value> {
    let v = serde_json::json!({
        "iss": "http://127.0.0.1:8787", "aud": "silent-refresh-demo", "sub": "user-1234",
        "iat": 1_800_000_000u64, "exp": 1_800_000_900u64, "jti": "b7k2pX0q9sVnA1cD3eF5gH",
        "sr_ep": 0, "plan": "pro", "roles": ["reader", "writer"],
    });
    v.as_object().unwrap().clone()
}

/// `/api/me`'s body from the claims `n` times, serde_json to text; returns the total length.
#[wasm_bindgen(js_name = claimsText)]
pub fn claims_text(n: u32) -> f64 {
    let c = claims();
    (0..n).map(|_| serde_json::to_string(&c).unwrap().len() as f64).sum()
}

/// The same through serde-wasm-bindgen to a JS object, then `JSON.stringify` (what
/// `Response.json(object)` does in the runtime).
#[wasm_bindgen(js_name = claimsSwb)]
pub fn claims_swb(n: u32) -> f64 {
    let c = claims();
    let ser = serde_wasm_bindgen::Serializer::json_compatible();
    (0..n)
        .map(|_| {
            let v = serde::Serialize::serialize(&c, &ser).unwrap();
            JSON::stringify(&v).unwrap().length() as f64
        })
        .sum()
}

fn call() -> Call {
    Call::Refresh {
        token: "srt_q1w2e3r4t5y6u7i8o9p0a1s2d3f4g5h6j7k8l9z0x1c".into(),
        dpop: None,
    }
}

/// A rotation call to JSON text and back `n` times (the fetch body to the object).
#[wasm_bindgen(js_name = callText)]
pub fn call_text(n: u32) -> u32 {
    let c = call();
    (0..n)
        .filter(|_| serde_json::from_str::<Call>(&serde_json::to_string(&c).unwrap()).unwrap() == c)
        .count() as u32
}

/// The same to a JS object and back with serde-wasm-bindgen (an RPC argument).
#[wasm_bindgen(js_name = callSwb)]
pub fn call_swb(n: u32) -> u32 {
    let c = call();
    let ser = serde_wasm_bindgen::Serializer::json_compatible();
    (0..n)
        .filter(|_| {
            let v = serde::Serialize::serialize(&c, &ser).unwrap();
            serde_wasm_bindgen::from_value::<Call>(v).unwrap() == c
        })
        .count() as u32
}

#[derive(Deserialize)]
struct Row {
    k: String,
    v: String,
}

/// Decodes SQL rows (`{k, v}` objects) with serde-wasm-bindgen, as `to_array` does.
#[wasm_bindgen(js_name = rowsSwb)]
pub fn rows_swb(rows: &js_sys::Array, n: u32) -> f64 {
    let mut len = 0.0;
    for _ in 0..n {
        for r in rows.iter() {
            let row: Row = serde_wasm_bindgen::from_value(r).unwrap();
            len += (row.k.len() + row.v.len()) as f64;
        }
    }
    len
}

/// Decodes the same rows with two property reads each.
#[wasm_bindgen(js_name = rowsDirect)]
pub fn rows_direct(rows: &js_sys::Array, n: u32) -> f64 {
    let (k, v) = (JsValue::from_str("k"), JsValue::from_str("v"));
    let mut len = 0.0;
    for _ in 0..n {
        for r in rows.iter() {
            let key = Reflect::get(&r, &k).unwrap().as_string().unwrap();
            let val = Reflect::get(&r, &v).unwrap().as_string().unwrap();
            len += (key.len() + val.len()) as f64;
        }
    }
    len
}
