//! Reads the JavaScript options object once, at construction, into the core's
//! [`ClientConfig`] and the adapter's [`Settings`].
//!
//! The JS side (the `Host` constructor in `glue.js`) lays the options over their defaults and
//! checks them (types, ranges, URLs, origins, the mode); they are read here.

use wasm_bindgen::JsValue;

use crate::browser::js::{error, get, number, Host};
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

/// Reads the options `host` was made from; the error is the `ERR_INVALID_OPTIONS` to throw.
pub fn parse(host: Host) -> Result<(ClientConfig, Settings), JsValue> {
    let read = get(&host, "options");
    if read.is_undefined() {
        return Err(error(ErrorCode::InvalidOptions));
    }
    let option = |i| get(&read, i);
    // Checked by the host: numbers >= 0, finite (`as` truncates fractions).
    let number = |i| number(&option(i)) as u64;
    let config = ClientConfig {
        refresh_margin_ms: (!option("0").is_undefined()).then(|| number("0")),
        retry_base_ms: number("1").max(1),
        retry_max_ms: number("2").max(1),
        max_refreshes_per_minute: number("3") as u32,
    };
    let transport = if option("5") == JsValue::TRUE {
        Transport::Body
    } else {
        Transport::Cookie
    };
    Ok((
        config,
        Settings {
            timeout_ms: number("4").max(1) as f64,
            transport,
            locks: option("6") == JsValue::TRUE,
            host,
        },
    ))
}
