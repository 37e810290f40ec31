//! Reads the JavaScript options object once, at construction, into the core's
//! [`ClientConfig`] and the adapter's [`Settings`].
//!
//! The JS side ([`Host::new`]) lays the options over their defaults and checks the JS-typed ones
//! (functions, storage object, URLs, origins); the numbers and the mode are checked here.

use core::cell::Cell;

use wasm_bindgen::JsValue;

use crate::browser::js::{error, get, number, text, Host};
use crate::core::client::{ClientConfig, ErrorCode, Transport};

/// The adapter's settings; see `AuthClientOptions` in the TypeScript declarations.
pub struct Settings {
    /// The JS side: endpoints, origins, fetch, storage, channel name, listeners.
    pub host: Host,
    /// Cookie or body transport of the refresh token.
    pub transport: Transport,
    /// Whether refreshes take the cross-tab Web Lock (cross-tab on, and `navigator.locks` exists).
    pub locks: bool,
    /// Timeout of the client's own requests (login, refresh, logout), ms.
    pub timeout_ms: f64,
}

/// Reads the options object (`undefined` for all defaults); throws `ERR_INVALID_OPTIONS`.
pub fn parse(options: &JsValue) -> Result<(ClientConfig, Settings), JsValue> {
    let host = Host::new(options);
    let read = get(&host, "options");
    let option = |i| get(&read, i);
    let bad = Cell::new(option("7") != JsValue::TRUE);
    let number = |i| match number(&option(i)) {
        n if n >= 0.0 && n.is_finite() => n as u64,
        _ => {
            bad.set(true);
            0
        }
    };
    let config = ClientConfig {
        refresh_margin_ms: (!option("0").is_undefined()).then(|| number("0")),
        retry_base_ms: number("1").max(1),
        retry_max_ms: number("2").max(1),
        max_refreshes_per_minute: number("3") as u32,
    };
    let timeout_ms = number("4").max(1) as f64;
    let transport = text(&option("5")).and_then(|m| Transport::parse(&m));
    let locks = option("6") == JsValue::TRUE;
    match transport {
        Some(transport) if !bad.get() => Ok((
            config,
            Settings {
                host,
                transport,
                locks,
                timeout_ms,
            },
        )),
        _ => Err(error(ErrorCode::InvalidOptions)),
    }
}
