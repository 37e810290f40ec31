//! Reads the JavaScript options object once, at construction, into the core's
//! [`ClientConfig`] and the adapter's [`Settings`] (endpoints, transport, injected functions).
//!
//! The options are laid over a JSON object of defaults with `Object.assign`, so every member
//! is read once, without a default branch per option.

use std::cell::Cell;

use wasm_bindgen::JsValue;

use crate::browser::js::{
    assign, at, call, concat, construct, error, get, global_get, template, U,
};
use crate::core::client::{ClientConfig, ErrorCode, Transport};

/// The defaults of `AuthClientOptions` (`retryBaseDelay` etc. as in [`ClientConfig`]).
const DEFAULTS: &str = r#"{"baseUrl":"","mode":"cookie","requestTimeout":10000,"retryBaseDelay":1000,
"retryMaxDelay":60000,"maxRefreshesPerMinute":10,"crossTab":true,"channelName":"silent-refresh",
"loginPath":"/auth/login","refreshPath":"/auth/refresh","logoutPath":"/auth/logout"}"#;

/// The adapter's settings; see `AuthClientOptions` in the TypeScript declarations.
pub struct Settings {
    /// Cookie or body transport of the refresh token.
    pub transport: Transport,
    /// Timeout of the client's own requests (login, refresh, logout), ms.
    pub timeout_ms: f64,
    /// The `fetch` used for every request (the injected one, or `globalThis.fetch`).
    pub fetch: JsValue,
    /// Body mode: where the refresh token is persisted (`undefined`: memory only).
    pub storage: JsValue,
    /// Navigator's `LockManager` when cross-tab coordination is on and it exists.
    pub locks: JsValue,
    /// Whether to coordinate with other tabs (BroadcastChannel, Web Locks).
    pub cross_tab: bool,
    /// Name of the lock and of the channel.
    pub name: JsValue,
    /// Storage key of the refresh token: the name plus `:refresh_token`.
    pub storage_key: JsValue,
    /// Absolute URLs of the login, refresh and logout endpoints.
    pub endpoints: [JsValue; 3],
    /// Origins to which `fetch` attaches the access token, each followed by `/` (so that they
    /// are prefixes of exactly the URLs on that origin).
    pub origins: Vec<JsValue>,
}

/// Reads the options object (`undefined` for all defaults); throws `ERR_INVALID_OPTIONS`.
pub fn parse(options: &JsValue) -> Result<(ClientConfig, Settings), JsValue> {
    let bad = Cell::new(!options.is_undefined() && !options.is_object());
    let fail = |b: bool| bad.set(bad.get() || b);
    let o = assign(&template(DEFAULTS), options);
    let number = |key| match get(&o, key).as_f64() {
        Some(n) if n >= 0.0 && n.is_finite() => n as u64,
        _ => {
            fail(true);
            0
        }
    };
    let config = ClientConfig {
        refresh_margin_ms: (!get(&o, "refreshMargin").is_undefined())
            .then(|| number("refreshMargin")),
        retry_base_ms: number("retryBaseDelay").max(1),
        retry_max_ms: number("retryMaxDelay").max(1),
        max_refreshes_per_minute: number("maxRefreshesPerMinute") as u32,
    };
    let timeout_ms = number("requestTimeout").max(1) as f64;
    let transport = get(&o, "mode")
        .as_string()
        .and_then(|m| Transport::parse(&m));
    let mut fetch = get(&o, "fetch");
    if fetch.is_undefined() {
        fetch = global_get("fetch");
    }
    let storage = get(&o, "storage");
    let storage = if storage.is_null() { U } else { storage };
    let cross_tab = get(&o, "crossTab");
    fail(
        !fetch.is_function()
            || !(storage.is_undefined() || storage.is_object())
            || cross_tab.as_bool().is_none(),
    );
    let cross_tab = cross_tab == JsValue::TRUE;
    // `new URL(url, location.href)[field]`: an absolute URL, or an origin followed by `/`.
    let base = get(&global_get("location"), "href");
    let url = |url: &JsValue, field| {
        let value = construct("URL", url, &base)
            .map(|u| get(&u, field))
            .unwrap_or(U);
        fail(!value.is_string());
        if field == "origin" {
            return concat(&value, &"/".into());
        }
        value
    };
    // Without trailing slashes: "https://api.example.com/" + "/auth/login".
    let slashes = construct("RegExp", &"/+$".into(), &U).unwrap_or(U);
    let base_url = call(&get(&o, "baseUrl"), "replace", &slashes, &"".into()).unwrap_or(U);
    let endpoints = ["loginPath", "refreshPath", "logoutPath"]
        .map(|key| url(&concat(&base_url, &get(&o, key)), "href"));
    let list = get(&o, "bearerOrigins");
    let origins = if list.is_undefined() {
        vec![url(&endpoints[0], "origin")]
    } else {
        let len = get(&list, "length").as_f64().filter(|n| *n >= 0.0);
        fail(len.is_none());
        let len = len.unwrap_or(0.0);
        (0..len as u32)
            .map(|i| url(&at(&list, i), "origin"))
            .collect()
    };
    let name = get(&o, "channelName");
    let storage_key = concat(&name, &":refresh_token".into());
    let locks = get(&global_get("navigator"), "locks");
    match transport {
        Some(transport) if !bad.get() && name.is_string() => Ok((
            config,
            Settings {
                transport,
                timeout_ms,
                fetch,
                storage,
                locks: if cross_tab && locks.is_object() {
                    locks
                } else {
                    U
                },
                cross_tab,
                name,
                storage_key,
                endpoints,
                origins,
            },
        )),
        _ => Err(error(ErrorCode::InvalidOptions)),
    }
}
