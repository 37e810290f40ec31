//! The platform-free core: bytes and values in, decisions out. Never imports wasm_bindgen,
//! web_sys, js_sys or worker; takes the current time as a parameter.

pub mod b64;
pub mod client;
pub mod protocol;

#[cfg(feature = "server")]
pub mod server;
