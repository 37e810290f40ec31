//! Reads the JavaScript options object once, at construction, into the core's
//! [`ClientConfig`] and the adapter's [`Settings`] (endpoints, transport, injected functions).

use std::cell::Cell;

use wasm_bindgen::JsValue;

use crate::browser::js::{at, construct, error, get, global_get, U};
use crate::core::client::{ClientConfig, ErrorCode, Transport};

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
    pub endpoints: [String; 3],
    /// Origins (`scheme://host[:port]`) to which `fetch` attaches the access token.
    pub origins: Vec<String>,
}

/// Reads members of the options object; any invalid one sets `bad`.
struct Reader<'a> {
    options: &'a JsValue,
    bad: Cell<bool>,
}

impl Reader<'_> {
    /// `options[key]`, or `None` (and `bad`) if present but not accepted by `accept`.
    fn read<T>(&self, key: &str, accept: impl Fn(&JsValue) -> Option<T>) -> Option<T> {
        let v = get(self.options, key);
        if v.is_undefined() {
            return None;
        }
        let r = accept(&v);
        self.bad.set(self.bad.get() || r.is_none());
        r
    }

    fn number(&self, key: &str) -> Option<u64> {
        self.read(key, |v| v.as_f64().filter(|n| *n >= 0.0 && n.is_finite()).map(|n| n as u64))
    }

    fn text(&self, key: &str, default: &str) -> String {
        self.read(key, JsValue::as_string).unwrap_or_else(|| default.into())
    }

    /// `new URL(url, location.href)[field]` (`href` or `origin`).
    fn url(&self, url: &str, field: &str) -> String {
        let base = get(&global_get("location"), "href");
        let url = construct("URL", &url.into(), &base).map(|u| get(&u, field).as_string());
        url.ok().flatten().unwrap_or_else(|| {
            self.bad.set(true);
            String::new()
        })
    }
}

/// Reads the options object (`undefined` for all defaults); throws `ERR_INVALID_OPTIONS`.
pub fn parse(options: &JsValue) -> Result<(ClientConfig, Settings), JsValue> {
    let r = Reader { options, bad: Cell::new(!options.is_undefined() && !options.is_object()) };
    let d = ClientConfig::default();
    let config = ClientConfig {
        refresh_margin_ms: r.number("refreshMargin"),
        retry_base_ms: r.number("retryBaseDelay").unwrap_or(d.retry_base_ms).max(1),
        retry_max_ms: r.number("retryMaxDelay").unwrap_or(d.retry_max_ms).max(1),
        max_refreshes_per_minute: r.number("maxRefreshesPerMinute").map_or(d.max_refreshes_per_minute, |n| n as u32),
    };
    let transport = Transport::parse(&r.text("mode", "cookie"));
    let fetch = r.read("fetch", |v| Some(v.clone()).filter(JsValue::is_function)).unwrap_or_else(|| global_get("fetch"));
    let storage = r.read("storage", |v| match () {
        _ if v.is_null() => Some(U),
        _ if v.is_object() => Some(v.clone()),
        _ => None,
    });
    let cross_tab = r.read("crossTab", JsValue::as_bool).unwrap_or(true);
    let locks = get(&global_get("navigator"), "locks");
    let base = r.text("baseUrl", "");
    let base = base.trim_end_matches('/');
    let mut endpoints: [String; 3] = Default::default();
    for (slot, (key, path)) in endpoints.iter_mut().zip([
        ("loginPath", "/auth/login"),
        ("refreshPath", "/auth/refresh"),
        ("logoutPath", "/auth/logout"),
    ]) {
        let mut url = base.to_owned();
        url.push_str(&r.text(key, path));
        *slot = r.url(&url, "href");
    }
    let list = get(options, "bearerOrigins");
    let origins = if list.is_undefined() {
        vec![r.url(if base.is_empty() { "/" } else { base }, "origin")]
    } else {
        let len = get(&list, "length").as_f64().unwrap_or(-1.0);
        r.bad.set(r.bad.get() || len < 0.0);
        (0..len.max(0.0) as u32).map(|i| r.url(&at(&list, i).as_string().unwrap_or_default(), "origin")).collect()
    };
    let name = r.text("channelName", "silent-refresh");
    let mut storage_key = name.clone();
    storage_key.push_str(":refresh_token");
    let timeout_ms = r.number("requestTimeout").unwrap_or(10_000).max(1) as f64;
    let (Some(transport), Some(fetch), false) = (transport, Some(fetch).filter(JsValue::is_function), r.bad.get()) else {
        return Err(error(ErrorCode::InvalidOptions));
    };
    let settings = Settings {
        transport,
        timeout_ms,
        fetch,
        storage: storage.unwrap_or(U),
        locks: if cross_tab && locks.is_object() { locks } else { U },
        cross_tab,
        name: name.into(),
        storage_key: storage_key.into(),
        endpoints,
        origins,
    };
    Ok((config, settings))
}
