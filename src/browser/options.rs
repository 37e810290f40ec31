//! Reads the JavaScript options object once, at construction, into the core's
//! [`ClientConfig`] and the runtime's [`Settings`].
//!
//! The JS side (the `Host` constructor in `glue.js`) lays the options over their defaults (a
//! copy generated from the core's, see [`interface`](crate::core::client::interface)) and checks
//! them (types, ranges, URLs, origins, the mode); it hands Rust the values listed by [`Slot`].

use wasm_bindgen::JsValue;

use crate::browser::js::{error, get, number, Host};
use crate::browser::runtime::Settings;
use crate::core::client::interface::Slot;
use crate::core::client::{ClientConfig, ErrorCode, StatusSet, Transport};

/// Reads the options `host` was made from; the error is the `ERR_INVALID_OPTIONS` to throw.
pub fn parse(host: Host) -> Result<(ClientConfig, Settings<Host>), JsValue> {
    let read = get(&host, "options");
    if read.is_undefined() {
        return Err(error(ErrorCode::InvalidOptions));
    }
    let option = |key: &str| get(&read, key);
    // Checked by the host: numbers >= 0, finite (`as` truncates fractions).
    let number = |slot| number(&option(slot)) as u64;
    let config = ClientConfig {
        refresh_margin_ms: (!option(const { Slot::RefreshMargin.key() }).is_undefined())
            .then(|| number(const { Slot::RefreshMargin.key() })),
        retry_base_ms: number(const { Slot::RetryBaseDelay.key() }).max(1),
        retry_max_ms: number(const { Slot::RetryMaxDelay.key() }).max(1),
        max_refreshes_per_minute: number(const { Slot::MaxRefreshesPerMinute.key() }) as u32,
        // Two 32-bit words of the bit set, checked by the host; absent: the default.
        session_ending: if option(const { Slot::SessionEndingLow.key() }).is_undefined() {
            StatusSet::DEFAULT
        } else {
            StatusSet::from_bits(
                number(const { Slot::SessionEndingLow.key() })
                    | number(const { Slot::SessionEndingHigh.key() }) << 32,
            )
        },
    };
    let transport = if option(const { Slot::BodyMode.key() }) == JsValue::TRUE {
        Transport::Body
    } else {
        Transport::Cookie
    };
    Ok((
        config,
        Settings {
            timeout_ms: number(const { Slot::RequestTimeout.key() }).max(1) as f64,
            transport,
            locks: option(const { Slot::Locks.key() }) == JsValue::TRUE,
            cross_origin: option(const { Slot::CrossOrigin.key() }) == JsValue::TRUE,
            host,
        },
    ))
}
