// The numbers and names Rust and the JavaScript of the package share, generated from
// src/core/client/interface.rs and the definitions it names: `cargo test` checks the block
// (tests/native/client_interface.rs) and never writes it; `UPDATE_INTERFACE=1 cargo test --test
// native client_interface::rewrite_names_js -- --ignored --exact` rewrites it. glue.js,
// options.js and dpop.js import it; the package build bundles it (nothing of it is exported).

// <interface>
export const LOGIN = 0, SET_SESSION = 1, RESTORE = 2, FETCH = 3, REFRESH = 4, LOGOUT = 5, ON = 6, OFF = 7,
  DISPOSE = 8, SIGNED_IN = 9, EXPIRES_AT = 10, NEXT_REFRESH_AT = 11, REFRESH_COUNT = 12;
export const FULFILLED = 0, REJECTED = 1, LOCKED = 2, HANDED = 3;
export const KINDS = 4;
export const TIMER = 0, WAKE = 1, LOGOUT_MESSAGE = 2, TOKEN_MESSAGE = 3;
export const AT_LOGIN = 0, AT_REFRESH = 1, AT_LOGOUT = 2;
export const EVENTS = ["refresh", "expired", "error", "logout"];
export const SOURCES = ["network", "tab", "restore", "local"];
export const STORAGE = ["get", "set", "remove"];
export const SLOTS = ["refreshMargin", "retryBaseDelay", "retryMaxDelay", "maxRefreshesPerMinute", "requestTimeout"];
export const COOKIE_MODE = "cookie", BODY_MODE = "body";
export const DEFAULTS = { baseUrl: "", mode: "cookie", requestTimeout: 10000, retryBaseDelay: 1000,
  retryMaxDelay: 60000, maxRefreshesPerMinute: 10, crossTab: true, channelName: "silent-refresh",
  loginPath: "/auth/login", refreshPath: "/auth/refresh", logoutPath: "/auth/logout",
  refreshEncoding: "form" };
export const STORAGE_KEY_SUFFIX = ":refresh_token";
export const TOKEN_TYPE = "token", LOGOUT_TYPE = "logout";
export const DPOP_TYP = "dpop+jwt", DPOP_ALG = "ES256", DPOP_CURVE = "P-256", DPOP = "DPoP";
export const CSRF_HEADER = "X-Silent-Refresh", SESSION_HINT_COOKIE = "sr_session";
export const ERRORS = [ "NETWORK", "TIMEOUT", "SERVER", "REJECTED", "BAD_RESPONSE", "SESSION_EXPIRED",
  "NOT_SIGNED_IN", "INVALID_CREDENTIALS", "REFRESH_LIMIT", "DISPOSED", "INVALID_OPTIONS", "STORAGE",
  "TOO_MANY_ATTEMPTS",
  "CROSS_ORIGIN_COOKIE:cookie mode needs the auth endpoints on this origin, or body mode",
  "NOT_INITIALIZED:init() has not loaded the package yet"];
export const INVALID_OPTIONS = 10, NOT_INITIALIZED = 14;
export const NAMES = [ "baseUrl", "mode", "refreshMargin", "requestTimeout", "retryBaseDelay",
  "retryMaxDelay", "maxRefreshesPerMinute", "fetch", "storage", "crossTab", "channelName",
  "loginPath", "refreshPath", "logoutPath", "bearerOrigins", "dpop", "refreshEncoding", "clientId",
  "scope", "sessionEndingStatuses", "mapTokenResponse", "revokePath", "tokenEndpoint",
  "sessionHint", "issuer", "authorizationEndpoint", "endSessionEndpoint", "redirectUri", "audience",
  "resource"];
// </interface>
