//! The options of `new AuthClient(options)`: their names and order and their defaults. glue.js
//! carries a generated copy (see [`interface`](crate::core::client::interface)).

use crate::core::client::config::{ClientConfig, Transport};
use crate::core::protocol;

/// The options' names, in the order the TypeScript declarations list them.
pub const OPTION_NAMES: [&str; 30] = [
    "baseUrl",
    "mode",
    "refreshMargin",
    "requestTimeout",
    "retryBaseDelay",
    "retryMaxDelay",
    "maxRefreshesPerMinute",
    "fetch",
    "storage",
    "crossTab",
    "channelName",
    "loginPath",
    "refreshPath",
    "logoutPath",
    "bearerOrigins",
    "dpop",
    "refreshEncoding",
    "clientId",
    "scope",
    "sessionEndingStatuses",
    "mapTokenResponse",
    "revokePath",
    "tokenEndpoint",
    "sessionHint",
    // Sign-in through a redirect (read by the package's sign-in module, oidc.js).
    "issuer",
    "authorizationEndpoint",
    "endSessionEndpoint",
    "redirectUri",
    "audience",
    "resource",
];

/// Encodings of the refresh request (`refreshEncoding`): RFC 6749's form, the default, or the
/// same members as a JSON object.
pub const REFRESH_ENCODINGS: [&str; 2] = ["form", "json"];

/// Default of `requestTimeout`, ms.
pub const DEFAULT_REQUEST_TIMEOUT_MS: u64 = 10_000;
/// Default of `channelName`: the Web Lock's and the BroadcastChannel's name, the storage key's
/// prefix.
pub const DEFAULT_CHANNEL_NAME: &str = "silent-refresh";
/// Suffix of the storage key after the channel name.
pub const STORAGE_KEY_SUFFIX: &str = ":refresh_token";

/// A default value of an option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefaultValue {
    /// A string.
    Text(&'static str),
    /// A number.
    Number(u64),
    /// A boolean.
    Bool(bool),
}

/// The options that have a default, and their defaults (the others are off or derived when
/// absent), in the order of [`OPTION_NAMES`].
pub const DEFAULTS: [(&str, DefaultValue); 12] = [
    ("baseUrl", DefaultValue::Text("")),
    ("mode", DefaultValue::Text(Transport::Cookie.as_str())),
    (
        "requestTimeout",
        DefaultValue::Number(DEFAULT_REQUEST_TIMEOUT_MS),
    ),
    (
        "retryBaseDelay",
        DefaultValue::Number(ClientConfig::DEFAULT.retry_base_ms),
    ),
    (
        "retryMaxDelay",
        DefaultValue::Number(ClientConfig::DEFAULT.retry_max_ms),
    ),
    (
        "maxRefreshesPerMinute",
        DefaultValue::Number(ClientConfig::DEFAULT.max_refreshes_per_minute as u64),
    ),
    ("crossTab", DefaultValue::Bool(true)),
    ("channelName", DefaultValue::Text(DEFAULT_CHANNEL_NAME)),
    ("loginPath", DefaultValue::Text(protocol::LOGIN_PATH)),
    ("refreshPath", DefaultValue::Text(protocol::REFRESH_PATH)),
    ("logoutPath", DefaultValue::Text(protocol::LOGOUT_PATH)),
    ("refreshEncoding", DefaultValue::Text(REFRESH_ENCODINGS[0])),
];
