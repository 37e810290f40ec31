//! The options of `new AuthClient(options)`: their names and order, their defaults and their
//! validation. The adapter reads each named member of the JavaScript object into an
//! [`OptionValue`] (in the order of [`OPTION_NAMES`]) and [`Options::parse`] decides the rest.
//!
//! URLs are resolved by the platform's URL parser (`new URL(url, location.href)` in the
//! browser), handed in as a function, as a network would be.

use alloc::string::String;
use alloc::vec::Vec;

use crate::core::client::classify::StatusSet;
use crate::core::client::config::{ClientConfig, Transport};
use crate::core::client::error::ErrorCode;
use crate::core::protocol;

/// The options' names, in the order [`Options::parse`] takes their values.
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
    "sessionHint",
    // Sign-in through a redirect (read by the package's sign-in module, oidc.js).
    "issuer",
    "authorizationEndpoint",
    "tokenEndpoint",
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

/// One member of the options object, as the adapter reads it.
#[derive(Clone, Debug, PartialEq)]
pub enum OptionValue<H> {
    /// `undefined` (or absent): the default.
    Undefined,
    /// `null`.
    Null,
    /// A number (NaN included).
    Number(f64),
    /// A boolean.
    Bool(bool),
    /// A string (as the adapter reads it: the URLs and names used here are ASCII).
    Text(String),
    /// A function.
    Function(H),
    /// An object that is not a function.
    Object(H),
    /// Array-like (`bearerOrigins`, `sessionEndingStatuses`): its elements.
    List(Vec<OptionValue<H>>),
    /// Anything else.
    Other,
}

/// What a URL is resolved to (see [`Options::parse`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UrlPart {
    /// The absolute URL (`href`).
    Href,
    /// Its origin followed by `/`: a prefix of exactly the URLs on that origin.
    Origin,
}

/// Which requests of `auth.fetch` the client manages (attaches the access token to, refreshes
/// and replays): those addressed to one of `origins` (each ending in `/`), not to one of the
/// client's own endpoints, and without an `Authorization` header of the caller's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scope {
    /// Origin prefixes (`https://api.example.com/`).
    pub origins: Vec<String>,
    /// The absolute URLs of the login, refresh and logout endpoints.
    pub endpoints: [String; 3],
}

impl Scope {
    /// Whether the request to the absolute, serialized `url` is managed; `authorization`: the
    /// caller set an `Authorization` header. Endpoints are compared exactly, query and fragment
    /// ignored, so `/auth/logout-all` is not `/auth/logout`.
    pub fn manages(&self, url: &str, authorization: bool) -> bool {
        let path = url.split(['?', '#']).next().unwrap_or(url);
        !authorization
            && self.origins.iter().any(|o| url.starts_with(o.as_str()))
            && !self.endpoints.iter().any(|e| e == path)
    }
}

/// When the client binds its session to a key with DPoP (RFC 9449): a proof on each of its own
/// requests and, for DPoP-bound access tokens, on managed requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dpop {
    /// Never (`dpop: false`; the default in cookie mode, where no script sees the refresh token).
    Off,
    /// Where the key can be stored (IndexedDB takes a `CryptoKey`), else Bearer: the default in
    /// body mode, so that a reload never loses a session to a lost key.
    WhereStored,
    /// Always (`dpop: true`): where the key cannot be stored, a key for the page's lifetime, and
    /// the session ends with the page.
    Always,
}

/// The validated options: the core's configuration and what the adapter needs.
#[derive(Clone, Debug, PartialEq)]
pub struct Options<H> {
    /// The decision parameters.
    pub config: ClientConfig,
    /// Cookie or body transport of the refresh token.
    pub transport: Transport,
    /// Timeout of the client's own requests, ms (at least 1).
    pub request_timeout_ms: u64,
    /// The caller's fetch function; `None`: the platform's.
    pub fetch: Option<H>,
    /// Body mode: the caller's storage; `None`: memory only.
    pub storage: Option<H>,
    /// Share tokens and logouts with other tabs.
    pub cross_tab: bool,
    /// Name of the Web Lock and the channel.
    pub channel_name: String,
    /// The storage key of the refresh token.
    pub storage_key: String,
    /// Which `fetch` requests are managed, and the endpoints' URLs.
    pub scope: Scope,
    /// When the session is bound to a key with DPoP (`dpop`).
    pub dpop: Dpop,
    /// The refresh request is JSON (`refreshEncoding: "json"`) rather than RFC 6749's form.
    pub refresh_json: bool,
    /// `client_id` of the refresh request (a public OAuth 2 client), if any.
    pub client_id: Option<String>,
    /// `scope` of the refresh request, if any.
    pub scope_param: Option<String>,
    /// The caller's `mapTokenResponse`, applied to login and refresh success bodies.
    pub map_token_response: Option<H>,
    /// The URL `revokePath` names, in body mode: logout revokes there with RFC 7009's form.
    pub revoke_url: Option<String>,
}

/// A duration or count: a number >= 0, finite (fractions truncated).
fn count<H>(value: &OptionValue<H>, default: u64) -> Result<u64, ErrorCode> {
    match *value {
        OptionValue::Undefined => Ok(default),
        OptionValue::Number(n) if (0.0..f64::INFINITY).contains(&n) => Ok(n as u64),
        _ => Err(ErrorCode::InvalidOptions),
    }
}

fn text<H>(value: &OptionValue<H>, default: &str) -> Result<String, ErrorCode> {
    match value {
        OptionValue::Undefined => Ok(default.into()),
        OptionValue::Text(s) => Ok(s.clone()),
        _ => Err(ErrorCode::InvalidOptions),
    }
}

impl<H: Clone> Options<H> {
    /// Validates `values` (one per [`OPTION_NAMES`], `None` if the options argument is neither
    /// `undefined` nor an object) and applies the defaults. `resolve(url, part)` is the
    /// platform's URL parser (relative URLs against the page), `None` for an invalid URL.
    pub fn parse(
        values: Option<&[OptionValue<H>; OPTION_NAMES.len()]>,
        mut resolve: impl FnMut(&str, UrlPart) -> Option<String>,
    ) -> Result<Options<H>, ErrorCode> {
        use OptionValue::*;
        let invalid = ErrorCode::InvalidOptions;
        let [base_url, mode, margin, timeout, base, max, per_minute, fetch, storage, cross_tab, channel, login, refresh, logout, origins, dpop, encoding, client_id, scope_param, ending, map, revoke, session_hint, sign_in @ ..] =
            values.ok_or(invalid)?;
        // `sessionHint` (a boolean) and the sign-in options (strings) are read by the package's
        // JavaScript (the hint rule, oidc.js): checked here, not kept.
        if !matches!(session_hint, Undefined | Bool(_))
            || sign_in.iter().any(|v| !matches!(v, Undefined | Text(_)))
        {
            return Err(invalid);
        }
        let transport = match mode {
            Undefined => Transport::Cookie,
            Text(s) => Transport::parse(s).ok_or(invalid)?,
            _ => return Err(invalid),
        };
        let config = ClientConfig {
            refresh_margin_ms: match margin {
                Undefined => None,
                v => Some(count(v, 0)?),
            },
            retry_base_ms: count(base, ClientConfig::DEFAULT.retry_base_ms)?.max(1),
            retry_max_ms: count(max, ClientConfig::DEFAULT.retry_max_ms)?.max(1),
            max_refreshes_per_minute: count(
                per_minute,
                ClientConfig::DEFAULT.max_refreshes_per_minute.into(),
            )? as u32,
            session_ending: ClientConfig::DEFAULT.session_ending,
        };
        let fetch = match fetch {
            Undefined => None,
            Function(f) => Some(f.clone()),
            _ => return Err(invalid),
        };
        let storage = match storage {
            Undefined | Null => None,
            Object(s) => Some(s.clone()),
            _ => return Err(invalid),
        };
        let dpop = match dpop {
            Undefined if transport == Transport::Body => Dpop::WhereStored,
            Undefined | Bool(false) => Dpop::Off,
            Bool(true) => Dpop::Always,
            _ => return Err(invalid),
        };
        let refresh_json = match encoding {
            Undefined => false,
            Text(s) if REFRESH_ENCODINGS.contains(&s.as_str()) => s == REFRESH_ENCODINGS[1],
            _ => return Err(invalid),
        };
        let optional = |v: &OptionValue<H>| match v {
            Undefined => Ok(None),
            Text(s) => Ok(Some(s.clone())),
            _ => Err(invalid),
        };
        let client_id = optional(client_id)?;
        let revoke_path = optional(revoke)?;
        let revoke_path = revoke_path.filter(|_| transport == Transport::Body);
        let map_token_response = match map {
            Undefined => None,
            Function(f) => Some(f.clone()),
            _ => return Err(invalid),
        };
        let session_ending = match ending {
            Undefined => ClientConfig::DEFAULT.session_ending,
            // Integers 400-463.
            List(list) => list.iter().try_fold(StatusSet::EMPTY, |set, s| match *s {
                Number(n) if (400.0..464.0).contains(&n) && n == (n as u16) as f64 => {
                    set.with(n as u16).ok_or(invalid)
                }
                _ => Err(invalid),
            })?,
            _ => return Err(invalid),
        };
        let scope_param = optional(scope_param)?;
        let cross_tab = match cross_tab {
            Undefined => true,
            Bool(b) => *b,
            _ => return Err(invalid),
        };
        let channel_name = text(channel, DEFAULT_CHANNEL_NAME)?;
        // Without trailing slashes: "https://api.example.com/" + "/auth/login".
        let base_url = text(base_url, "")?;
        let base_url = base_url.trim_end_matches('/');
        let mut endpoint = |path: &OptionValue<H>, default| {
            let url = String::from(base_url) + &text(path, default)?;
            resolve(&url, UrlPart::Href).ok_or(invalid)
        };
        let endpoints = [
            endpoint(login, protocol::LOGIN_PATH)?,
            endpoint(refresh, protocol::REFRESH_PATH)?,
            endpoint(logout, protocol::LOGOUT_PATH)?,
        ];
        let revoke_url = match revoke_path {
            Some(path) => Some(endpoint(&Text(path), "")?),
            None => None,
        };
        let origins = match origins {
            Undefined => Vec::from([resolve(&endpoints[0], UrlPart::Origin).ok_or(invalid)?]),
            List(list) => list
                .iter()
                .map(|o| match o {
                    Text(o) => resolve(o, UrlPart::Origin).ok_or(invalid),
                    _ => Err(invalid),
                })
                .collect::<Result<_, _>>()?,
            _ => return Err(invalid),
        };
        let config = ClientConfig {
            session_ending,
            ..config
        };
        Ok(Options {
            config,
            transport,
            request_timeout_ms: count(timeout, DEFAULT_REQUEST_TIMEOUT_MS)?.max(1),
            fetch,
            storage,
            cross_tab,
            storage_key: channel_name.clone() + STORAGE_KEY_SUFFIX,
            channel_name,
            scope: Scope { origins, endpoints },
            dpop,
            refresh_json,
            client_id,
            scope_param,
            map_token_response,
            revoke_url,
        })
    }
}
