//! Reads the JavaScript options object once, at construction, into the core's
//! [`ClientConfig`] and the adapter's [`Settings`] (endpoints, transport, injected functions).

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
    /// Navigator's `LockManager` when cross-tab coordination is on and available.
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

fn invalid() -> JsValue {
    error(ErrorCode::InvalidOptions)
}

/// An optional non-negative number.
fn number(options: &JsValue, key: &str) -> Result<Option<u64>, JsValue> {
    let v = get(options, key);
    if v.is_undefined() {
        return Ok(None);
    }
    match v.as_f64() {
        Some(n) if n >= 0.0 && n.is_finite() => Ok(Some(n as u64)),
        _ => Err(invalid()),
    }
}

fn text(options: &JsValue, key: &str, default: &str) -> Result<String, JsValue> {
    let v = get(options, key);
    if v.is_undefined() {
        return Ok(default.into());
    }
    v.as_string().ok_or_else(invalid)
}

/// `new URL(url, location.href)`'s `field` (`href` or `origin`).
fn resolve(url: &str, field: &str) -> Result<String, JsValue> {
    let base = get(&global_get("location"), "href");
    construct("URL", &url.into(), &base).map_err(|_| invalid()).and_then(|u| get(&u, field).as_string().ok_or_else(invalid))
}

/// Reads the options object (`undefined` for all defaults).
pub fn parse(options: &JsValue) -> Result<(ClientConfig, Settings), JsValue> {
    if !options.is_undefined() && !options.is_object() {
        return Err(invalid());
    }
    let d = ClientConfig::default();
    let config = ClientConfig {
        refresh_margin_ms: number(options, "refreshMargin")?,
        retry_base_ms: number(options, "retryBaseDelay")?.unwrap_or(d.retry_base_ms).max(1),
        retry_max_ms: number(options, "retryMaxDelay")?.unwrap_or(d.retry_max_ms).max(1),
        max_refreshes_per_minute: number(options, "maxRefreshesPerMinute")?
            .map_or(d.max_refreshes_per_minute, |n| n.min(u64::from(u32::MAX)) as u32),
    };
    let transport = Transport::parse(&text(options, "mode", "cookie")?).ok_or_else(invalid)?;
    let mut fetch = get(options, "fetch");
    if fetch.is_undefined() {
        fetch = global_get("fetch");
    }
    if !fetch.is_function() {
        return Err(invalid());
    }
    let storage = get(options, "storage");
    let storage = if storage.is_null() { U } else { storage };
    if !storage.is_undefined() && !storage.is_object() {
        return Err(invalid());
    }
    let cross_tab = match get(options, "crossTab") {
        v if v.is_undefined() => true,
        v => v.as_bool().ok_or_else(invalid)?,
    };
    let locks = get(&global_get("navigator"), "locks");
    let locks = if cross_tab && locks.is_object() && get(&global_get("Promise"), "withResolvers").is_function() {
        locks
    } else {
        U
    };
    let base = text(options, "baseUrl", "")?;
    let base = base.trim_end_matches('/');
    let mut endpoints: [String; 3] = Default::default();
    for (slot, (key, path)) in endpoints.iter_mut().zip([
        ("loginPath", "/auth/login"),
        ("refreshPath", "/auth/refresh"),
        ("logoutPath", "/auth/logout"),
    ]) {
        let mut url = base.to_owned();
        url.push_str(&text(options, key, path)?);
        *slot = resolve(&url, "href")?;
    }
    let origins = get(options, "bearerOrigins");
    let origins = if origins.is_undefined() {
        vec![resolve(if base.is_empty() { "/" } else { base }, "origin")?]
    } else {
        let len = get(&origins, "length").as_f64().ok_or_else(invalid)? as u32;
        let mut list = Vec::new();
        for i in 0..len {
            list.push(resolve(&at(&origins, i).as_string().ok_or_else(invalid)?, "origin")?);
        }
        list
    };
    let name = text(options, "channelName", "silent-refresh")?;
    let mut storage_key = name.clone();
    storage_key.push_str(":refresh_token");
    let settings = Settings {
        transport,
        timeout_ms: number(options, "requestTimeout")?.unwrap_or(10_000).max(1) as f64,
        fetch,
        storage,
        locks,
        cross_tab,
        name: name.into(),
        storage_key: storage_key.into(),
        endpoints,
        origins,
    };
    Ok((config, settings))
}
