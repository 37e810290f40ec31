// Plumbing of the browser adapter (src/browser/js.rs binds it), and the public class `AuthClient`,
// whose methods forward to Rust (`Inner::call` in runtime.rs). It reads the options object,
// builds the client's requests, wires timers, page events, the BroadcastChannel, the Web Lock,
// storage and event listeners, and reports every callback to Rust as `dispatch(tag, value)`.
// It decides nothing: what to send, when, and what a result means is decided in Rust.
// Written in JS because JS source is far smaller than the same calls compiled to wasm.
// The package build renames every property whose name ends in `_` (scripts/build-browser.sh):
// the names an option, an event, a message or a browser API uses must not end in `_`.

// The numbers and names Rust and this file share, generated from src/core/client/interface.rs
// and the definitions it names: `cargo test` checks the block (tests/native/client_interface.rs),
// `UPDATE_INTERFACE=1 cargo test client_interface` rewrites it.
import { key, remove, send } from "./dpop.js";

// <interface>
const LOGIN = 0, SET_SESSION = 1, RESTORE = 2, FETCH = 3, REFRESH = 4, LOGOUT = 5, ON = 6, OFF = 7,
  DISPOSE = 8, SIGNED_IN = 9, EXPIRES_AT = 10, NEXT_REFRESH_AT = 11, REFRESH_COUNT = 12;
const FULFILLED = 0, REJECTED = 1, LOCKED = 2, HANDED = 3;
const KINDS = 4;
const TIMER = 0, WAKE = 1, LOGOUT_MESSAGE = 2, TOKEN_MESSAGE = 3;
const EVENTS = ["refresh", "expired", "error", "logout"];
const SOURCES = ["network", "tab", "restore", "local"];
const STORAGE = ["get", "set", "remove"];
const SLOTS = ["refreshMargin", "retryBaseDelay", "retryMaxDelay", "maxRefreshesPerMinute", "requestTimeout"];
const COOKIE_MODE = "cookie", BODY_MODE = "body";
const DEFAULTS = { baseUrl: "", mode: "cookie", requestTimeout: 10000, retryBaseDelay: 1000,
  retryMaxDelay: 60000, maxRefreshesPerMinute: 10, crossTab: true, channelName: "silent-refresh",
  loginPath: "/auth/login", refreshPath: "/auth/refresh", logoutPath: "/auth/logout",
  refreshEncoding: "form" };
const STORAGE_KEY_SUFFIX = ":refresh_token";
const CSRF_HEADER = "X-Silent-Refresh", SESSION_HINT_COOKIE = "sr_session";
const ERRORS = [ "NETWORK:network error", "TIMEOUT:request timed out",
  "SERVER:server temporarily unavailable", "REJECTED:request rejected by the server",
  "BAD_RESPONSE:unexpected response from the server", "SESSION_EXPIRED:session expired",
  "NOT_SIGNED_IN:not signed in", "INVALID_CREDENTIALS:invalid username or password",
  "REFRESH_LIMIT:too many refreshes, circuit breaker open", "DISPOSED:client disposed",
  "INVALID_OPTIONS:invalid options", "STORAGE:storage failed",
  "TOO_MANY_ATTEMPTS:too many login attempts, try again later",
  "NOT_INITIALIZED:init() has not loaded the package yet"];
// </interface>

/** `target[key]` (`undefined` for `undefined` and `null` targets). */
export const get = (target, key) => target?.[key];

/** `value` if it is a number or a decimal string of one (`expires_in: "3600"`), else `NaN`. */
export const number = (value) => (typeof value == "number" ? value : typeof value == "string" && /^\d+(\.\d*)?$/.test(value) ? +value : NaN);

/**
 * The `exp`, `iat` and `sub` claims of the JWT `token`, decoded but neither verified nor checked
 * (Rust checks them: `lifetime_from_claims`, `same_subject`); none if it is no JWT. `undefined` unless `token` is a
 * non-empty string.
 */
export function claims(token) {
  if (typeof token != "string" || !token) return;
  try {
    // header.payload.signature, the payload base64url JSON.
    const s = token.split(".");
    if (s.length == 3 && s[0] && /^[\w-]+$/.test(s[1])) {
      const p = JSON.parse(atob(s[1].replace(/-/g, "+").replace(/_/g, "/")));
      return [p.exp, p.iat, p.sub];
    }
  } catch {}
  return [];
}

/** The `sub` claim of the JWT `token` (decoded, not verified) if it is a non-empty string. */
export const subject = (token) => {
  const s = claims(token)?.[2];
  if (typeof s == "string" && s) return s;
};

/**
 * The class of every error the client throws or reports: `code`, the stable code; for an error
 * an HTTP answer caused, its `status` and the server's OAuth `error` value as `oauthError`.
 */
export class AuthError extends Error {
  constructor(code, message, status, oauthError) {
    super(message ?? code);
    this.name = "AuthError";
    this.code = code;
    if (status !== undefined) this.status = status;
    if (typeof oauthError == "string") this.oauthError = oauthError;
  }
}

/**
 * An `AuthError` of error `index` (with the HTTP `status` and `oauthError` that caused it, and
 * `.retryAfter` in ms, if any: NaN for none).
 */
export function error(index, status, retryAfter, oauthError) {
  const [code, message] = ERRORS[index].split(":");
  const e = new AuthError("ERR_" + code, message, status, oauthError);
  if (retryAfter >= 0) e.retryAfter = retryAfter;
  return e;
}

/** Adds or removes (`method`) the wake-up listener `h`. */
function wake(method, h) {
  globalThis.document?.[method]("visibilitychange", h);
  globalThis[method]?.("online", h);
  globalThis[method]?.("pageshow", h);
}

/** The JS side of one `AuthClient`. */
export class Host {
  /** Reads and checks `options` over the defaults; `ok` is false if one is invalid. */
  constructor(options) {
    let ok = options === undefined || (typeof options == "object" && options !== null);
    const o = Object.assign({}, DEFAULTS, options);
    // `new URL(url, location.href)[field]`: an absolute URL, or an origin followed by `/` (so that
    // it is a prefix of exactly the URLs on that origin).
    const url = (u, field) => {
      try {
        const v = new URL(u, globalThis.location?.href)[field];
        return field == "href" ? v : v + "/";
      } catch {
        ok = false;
      }
    };
    // Without trailing slashes: "https://api.example.com/" + "/auth/login".
    const base = typeof o.baseUrl == "string" ? o.baseUrl.replace(/\/+$/, "") : (ok = false);
    this.endpoints_ = [o.loginPath, o.refreshPath, o.logoutPath].map((p) => url(base + p, "href"));
    // Body mode: logout revokes at `revokePath` with RFC 7009's form, if set.
    this.revoke_ = o.revokePath === undefined || o.mode != BODY_MODE ? undefined : url(base + o.revokePath, "href");
    const list = o.bearerOrigins;
    if (list !== undefined && !(list?.length >= 0)) ok = false;
    this.origins_ = list === undefined ? [url(this.endpoints_[0], "origin")]
      : Array.from({ length: ok ? list.length : 0 }, (_, i) => url(list[i], "origin"));
    this.fetch_ = o.fetch === undefined ? globalThis.fetch : o.fetch;
    this.storage_ = o.storage ?? undefined;
    this.crossTab_ = o.crossTab;
    this.name_ = o.channelName;
    this.key_ = this.name_ + STORAGE_KEY_SUFFIX;
    this.mode_ = o.mode;
    // DPoP (dpop.js): `true` always, `false` never; by default in body mode, where the key can
    // be stored (`dpop_` 1: no key for the page's lifetime).
    this.db_ = this.name_ + ":dpop";
    this.dpop_ = o.dpop ?? (o.mode == BODY_MODE && 1);
    if (o.dpop !== undefined && typeof o.dpop != "boolean") ok = false;
    if (typeof this.fetch_ != "function" || typeof this.crossTab_ != "boolean" || typeof this.name_ != "string"
      || !(this.storage_ === undefined || (typeof this.storage_ == "object"))) ok = false;
    const locks = this.crossTab_ && globalThis.navigator?.locks;
    this.locks_ = (typeof locks == "object" && locks) || undefined;
    // Durations and counts (`SLOTS`): numbers >= 0, not infinite; the first, the margin, may be
    // `undefined` (its default depends on the token).
    const slots = SLOTS.map((k) => o[k]);
    slots.map((n, i) => (typeof n == "number" && n >= 0 && n < 1 / 0) || (!i && n === undefined) || (ok = false));
    if (o.mode != COOKIE_MODE && o.mode != BODY_MODE) ok = false;
    // The refresh request's encoding (RFC 6749's form, or JSON) and optional members.
    this.form_ = o.refreshEncoding == "form";
    this.clientId_ = o.clientId;
    this.scope_ = o.scope;
    this.map_ = o.mapTokenResponse;
    if (!this.form_ && o.refreshEncoding != "json" || [o.clientId, o.scope, o.revokePath].some((v) => v !== undefined && typeof v != "string")
      || this.map_ !== undefined && typeof this.map_ != "function") ok = false;
    // `sessionEndingStatuses` (integers 400-463) as two 32-bit words of a bit set (bit n: 400 + n).
    const ending = o.sessionEndingStatuses, words = [0, 0];
    if (ending !== undefined) {
      if (!Array.isArray(ending)) ok = false;
      else for (const s of ending) {
        if (!(Number.isInteger(s) && s >= 400 && s < 464)) ok = false;
        else words[(s - 400) >> 5] = (words[(s - 400) >> 5] | 1 << (s - 400)) >>> 0;
      }
    }
    /**
     * What Rust reads, if the options are valid (by `Slot`): the options of `SLOTS` (a duration,
     * or `undefined` for the default margin), whether the mode is "body", whether there is a lock.
     */
    this.options = ok ? [...slots, o.mode == BODY_MODE, !!this.locks_, ...(ending === undefined ? [] : words)] : undefined;
    this.deferred_ = new Map();
    this.listeners_ = [];
    // Read by oidc.js (sign-in through a redirect).
    this.o_ = o;
  }

  /** Starts listening: wake-up events, the channel. `dispatch(tag, value)` is Rust's. */
  open_(dispatch, timeout) {
    this.dispatch_ = dispatch;
    this.timeout_ = timeout;
    this.wake_ = (e) => (e.type != "visibilitychange" || document.visibilityState == "visible")
      && dispatch(WAKE, e.type == "online");
    if (this.crossTab_) {
      try {
        this.channel_ = new BroadcastChannel(this.name_);
        // Another tab's logout (the DPoP key is read afresh after it) or new access token: hints
        // Rust checks. Anything else is not ours.
        this.channel_.onmessage = ({ data }) => data?.type == "logout" ? ((this.dk_ = undefined), dispatch(LOGOUT_MESSAGE))
          : data?.type == "token" && dispatch(TOKEN_MESSAGE, data);
      } catch {}
    }
    wake("addEventListener", this.wake_);
  }

  /** Stops everything (timer, listeners, channel) and rejects every pending promise with `e`. */
  close_(e) {
    wake("removeEventListener", this.wake_);
    clearTimeout(this.timer_);
    this.listeners_ = [];
    if (this.channel_) {
      this.channel_.onmessage = null;
      this.channel_.close();
      this.channel_ = undefined;
    }
    for (const [, settle] of this.deferred_) settle[1](e);
    this.deferred_.clear();
  }

  /** A promise for operation `id`, settled by `settle(id, ...)`. */
  defer_(id) {
    return new Promise((resolve, reject) => this.deferred_.set(id, [resolve, reject]));
  }

  /** Resolves (`ok`) or rejects the promise of `id`, if it is pending. */
  settle_(id, ok, value) {
    const settle = this.deferred_.get(id);
    this.deferred_.delete(id);
    settle?.[ok ? 0 : 1](value);
  }

  /** Reports the settlement of `value` (a value or a promise) to operation `id`; a promise of the report. */
  then_(id, value) {
    return Promise.resolve(value).then((v) => this.dispatch_(id * KINDS + FULFILLED, v),
      (e) => this.dispatch_(id * KINDS + REJECTED, e));
  }

  /** `then(id, f())`, a synchronous throw counting as a rejection. */
  run_(id, f) {
    let value;
    try {
      value = f();
    } catch (e) {
      value = Promise.reject(e);
    }
    return this.then_(id, value);
  }

  /**
   * Sends `request` with the configured fetch, a promise, with the access token unless
   * `undefined`. If `generation` (the token's), a 401 goes to Rust with a spare copy of the
   * request made first, for the replay (a body can be sent only once; GET and HEAD have none):
   * `dispatch(7, [response, spare, generation])`, whose promise it settles to.
   */
  send_(request, access, generation) {
    // `getAccessToken()`: the host stands for the request, and the token is the answer.
    if (request == this) return Promise.resolve(access);
    try {
      let spare, sent;
      if (access !== undefined) {
        spare = /^(GET|HEAD)$/.test(request.method) ? request : request.clone();
        // A DPoP-bound token: `Authorization: DPoP`, a proof naming it, one retry for a nonce.
        if (this.bound_) sent = (this.dk_ ??= key(this.db_)).then((k) => send(this.fetch_, k,
          (retry) => (retry ? spare.clone() : request), access));
        else {
          try {
            request.headers.set("Authorization", "Bearer " + access);
          } catch {}
        }
      }
      sent ??= Promise.resolve(this.fetch_.call(globalThis, request));
      return generation ? sent.then((r) => r?.status == 401 ? this.dispatch_(KINDS + HANDED, [r, spare, generation]) : r) : sent;
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * A request of the client itself to endpoint `which` (0 login with username `a` and password
   * `b`, JSON; 1 refresh, RFC 6749 §6's members with the refresh token `a` unless `undefined`, as
   * a form or JSON (`refreshEncoding`); 2 logout, JSON with the refresh token `a` unless
   * `undefined`): POST, the cookie transport's header and credentials, the request timeout.
   * Returns its signal.
   */
  post_(id, which, a, b) {
    const headers = {};
    const init = { method: "POST", headers };
    // Body-mode logout with `revokePath`: RFC 7009's form there.
    const revoke = which == 2 && a !== undefined && this.revoke_;
    const body = revoke ? { token: a, token_type_hint: "refresh_token", client_id: this.clientId_ }
      : which == 1 ? { grant_type: "refresh_token", refresh_token: a, client_id: this.clientId_, scope: this.scope_ }
      : which ? a === undefined ? a : { refresh_token: a } : { username: a, password: b, transport: this.mode_ };
    if (revoke || which == 1 && this.form_) {
      // The browser sets Content-Type: application/x-www-form-urlencoded;charset=UTF-8.
      init.body = new URLSearchParams(Object.entries(body).filter((e) => e[1] !== undefined));
    } else if (body) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    if (this.mode_ == COOKIE_MODE) {
      headers[CSRF_HEADER] = "1";
      init.credentials = "include";
    }
    try {
      init.signal = AbortSignal.timeout(this.timeout_);
    } catch {}
    const make = () => new Request(revoke || this.endpoints_[which], init);
    // With DPoP, a proof by the key (a new one at login if there is none; a lost key is not
    // replaced: the session ends, see classify.rs); the key goes with the session at logout.
    this.run_(id, () => this.dpop_ ? (this.dk_ = key(this.db_, !which, this.dpop_ === true)).then((k) => send(this.fetch_, k, make))
      .finally(() => which == 2 && this.drop_()) : this.fetch_.call(globalThis, make()));
    return init.signal;
  }

  /** Reads a response body as JSON for operation `id`; returns its `Retry-After` header, if any. */
  json_(id, response) {
    // A token response says whether its access token is DPoP-bound (`token_type`, any case).
    // A success body goes through `mapTokenResponse` first, if set.
    this.run_(id, () => response.json().then((b) => (response.ok && this.map_ && (b = this.map_(b)),
      typeof b?.access_token == "string" && (this.bound_ = /^dpop$/i.test(b.token_type)), b)));
    try {
      return response.headers.get("retry-after");
    } catch {}
  }

  /**
   * `fetch(input, init)`, a promise. The client manages the request if it is addressed to a
   * bearer origin, not to one of the client's endpoints (compared exactly, query and fragment
   * ignored, so `/auth/logout-all` is not `/auth/logout`), without an `Authorization` set by the
   * caller; it is sent with `send(request, access, generation)`, unless `access` is `null` (a
   * refresh may be due): then it goes to Rust, `dispatch(7, [undefined, request])`. Any other
   * request is sent as it is.
   */
  request_(input, init, access, generation) {
    try {
      // `getAccessToken()` passes the host itself: managed, with no request.
      const request = input == this ? input : new Request(input, init);
      // Absolute and serialized (no credentials: `Request` throws on them), so the part before
      // `?` or `#` is the origin and path, as the endpoints are.
      const url = request.url;
      return input != this && (!this.origins_.some((o) => url.startsWith(o)) || this.endpoints_.includes(url.split(/[?#]/)[0])
        || request.headers.has("authorization")) ? this.send_(request)
        : access === null ? this.dispatch_(KINDS + HANDED, [, request]) : this.send_(request, access, generation);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * True if the page sees the Worker's session hint saying the session is over: `sr_session=0`
   * in `document.cookie` (set beside the refresh cookie in cookie mode; visible when the page
   * and the Worker share a host), and no `sr_session=1` beside it: a sibling subdomain can plant
   * a `0` for the parent domain, which must not hide this host's live session. Where the
   * refresh endpoint is on the page's own origin, so that the page would see its hint, no hint
   * at all says the same (a first visit sends no refresh that can only be refused), unless the
   * option `sessionHint` is `false` (a server that sets no hint). Else unknown, false (`undefined`).
   */
  over_() {
    try {
      const c = document.cookie.split(/; */), n = SESSION_HINT_COOKIE + "=";
      return !c.includes(n + 1) && (c.includes(n + 0) || this.o_.sessionHint !== false && this.endpoints_[1].startsWith(location.origin + "/"));
    } catch {}
  }

  /** Calls storage method `method` (`STORAGE`; set: to `value`) for operation `id`; false without storage. */
  store_(id, method, value) {
    const s = this.storage_;
    if (s === undefined) return false;
    // The get/set/remove of a custom object, or Web Storage's (`localStorage`) getItem/setItem/removeItem.
    const name = STORAGE[method] + (typeof s.getItem == "function" ? "Item" : "");
    // The last write, which the Web Lock waits for (see `lock_`).
    this.write_ = this.run_(id, () => s[name](this.key_, value));
    return true;
  }

  /** Forgets the DPoP key and removes it from IndexedDB. */
  drop_() {
    this.dk_ = this.bound_ = undefined;
    if (this.dpop_) remove(this.db_);
  }

  /**
   * Takes the Web Lock for flight `id`; it is held until `settle(id, ...)`, and then until the
   * last storage write has settled: the rotated refresh token, written as the flight ends (an
   * async storage could otherwise let another tab read its predecessor, which would trip reuse
   * detection).
   */
  lock_(id) {
    const hold = this.defer_(id).then(() => this.write_);
    this.run_(id, () => this.locks_.request(this.name_, () => (this.dispatch_(id * KINDS + LOCKED), hold)));
  }

  /** Arms the one timer (`ms` >= 0) or clears it. */
  arm_(ms) {
    clearTimeout(this.timer_);
    this.timer_ = ms < 0 ? undefined : setTimeout(() => this.dispatch_(TIMER), ms);
  }

  /**
   * Posts `{type: "token", access, lifetime}` (an access token, never a refresh token: any script
   * of the origin may listen) to the other tabs, or `{type: "logout"}`.
   */
  tell_(access, lifetime) {
    this.channel_?.postMessage(access ? { type: "token", access, lifetime } : { type: "logout" });
  }

  /** `on(type, listener)` (`add`), false for an unknown type or a non-function; or `off`. */
  listen_(add, type, listener) {
    if (!add) {
      this.listeners_ = this.listeners_.filter(([t, f]) => t !== type || f !== listener);
      return true;
    }
    // Rust's events, and this side's for UIs: a session starts; any transition (see `state_`).
    const ok = [...EVENTS, "session", "change"].includes(type) && typeof listener == "function";
    if (ok) this.listeners_.push([type, listener]);
    return ok;
  }

  /** Calls the listeners of event `kind` (see `emit` in js.rs) with its event object; a throwing one is ignored. */
  emit_(kind, a, b) {
    const type = EVENTS[kind];
    // The DPoP key ends with the session (at logout, once the logout request is sent).
    if (type == "expired") this.drop_();
    if (type == "logout") this.dk_ = undefined;
    const source = SOURCES[a];
    const event = [{ type, source, expiresAt: b }, { type, error: a }, { type, error: a, retryIn: b },
      { type, source }][kind];
    // Signed in after a new token, out after `expired` and `logout`, unchanged after `error`.
    this.state_(event, kind == 2 ? this.in_ : !kind, kind == 2 ? this.at_ : b);
  }

  /**
   * Calls the listeners of `event` (one of the client's, or `{ type: "session", source }` for a
   * login or `setSession`), then, if it starts a session (a token while signed out), those of
   * `session`, then those of `change` with the state after it (`signedIn`, `expiresAt`: kept
   * here, from the events alone). A throwing listener is ignored.
   */
  state_(event, signedIn, expiresAt) {
    const events = [event, signedIn && !this.in_ && event.type == "refresh" && { type: "session", source: event.source },
      { type: "change", signedIn, expiresAt: this.at_ = signedIn ? expiresAt : undefined, event }];
    this.in_ = signedIn;
    for (const e of events) {
      // Read afresh at each step: a listener may add or remove listeners.
      for (let i = 0; i < this.listeners_.length; i++) {
        const [t, f] = this.listeners_[i];
        if (t === e.type) {
          try {
            f(e);
          } catch {}
        }
      }
    }
  }
}

/**
 * The package's `init` (wasm-bindgen's, `load`): a failure to load the wasm is an `AuthError`
 * `ERR_WASM_LOAD` that names the fix, with the original error as its `cause`.
 */
export const loader = (load) => (arg) => load(arg).catch((cause) => {
  throw Object.assign(new AuthError("ERR_WASM_LOAD", "wasm not loaded: use silent-refresh/inline"), { cause });
});

/** The wasm export that creates a client (`client` in mod.rs), set by `connect`. */
let create;

/** Connects `AuthClient` to `client` (the package's entry module does it); returns the class. */
export const connect = (client) => ((create = client), AuthClient);

/** The public class (its TypeScript declaration is in mod.rs). Every method forwards to Rust. */
export class AuthClient {
  /** The host, and the client's function `(method, a, b) => result` (see `Method`). */
  #h;
  #c;

  constructor(options) {
    const h = new Host(options);
    let c;
    try {
      c = create(h);
    } catch {
      // The wasm is not instantiated: init() has not been called, or has not finished.
      throw error(ERRORS.length - 1);
    }
    if (typeof c != "function") throw c;
    this.#h = h;
    this.#c = c;
  }

  /** Calls `method`; throws the `Error` it returns. */
  #x(method, a, b) {
    const r = this.#c(method, a, b);
    if (r instanceof Error) throw r;
    return r;
  }

  login(username, password) { return this.#x(LOGIN, username, password).then(() => this.#s("login")); }
  /** With DPoP, tokens whose `token_type` is DPoP were bound to the key by whoever got them (see dpop.js). */
  setSession(tokens) { this.#x(SET_SESSION, tokens); this.#h.bound_ = /^dpop$/i.test(tokens.token_type); this.#s("setSession"); }
  /** A session started by `source` (`login`, `setSession`): the `session` and `change` events. */
  #s(source) { this.#h.state_({ type: "session", source }, true, this.expiresAt); }
  /** With `issuer`, the provider's metadata first (oidc.js): the refresh goes to its token endpoint. */
  restore() {
    const r = () => this.#x(RESTORE);
    return this.#h.o_.issuer ? this.#o(4, 0, r) : r();
  }

  fetch(input, init) { return this.#x(FETCH, input, init); }
  /** The access token `fetch` would send now (refreshing first if due), for clients that do not use fetch. */
  getAccessToken() { return this.#x(FETCH, this.#h); }

  /** `fetch(input, init)` with a DPoP proof by the client's key, made if there is none, if DPoP is on (see the d.ts). */
  dpopFetch(input, init) {
    const h = this.#h;
    // A copy for each attempt: a request with a body can be sent once.
    return Promise.resolve(h.dpop_ && key(h.db_, 1, h.dpop_ === true)).then((k, r = new Request(input, init)) => send(h.fetch_, k, () => r.clone()));
  }

  refresh() { return this.#x(REFRESH); }
  logout(o) { return o?.federated ? this.#o(3, o, () => this.#x(LOGOUT)) : this.#x(LOGOUT); }
  /** Operation `n` of oidc.js, loaded on first use (built beside the package as silent_refresh_oidc.js). */
  #o(n, a, f) { return import("./silent_refresh_oidc.js").then((m) => m.run(n, a, this, this.#h, f, AuthError)); }
  loginWithRedirect(o) { return this.#o(0, o); }
  handleRedirectCallback(url) { return this.#o(1, url); }
  getUser() { return this.#o(2); }
  on(type, listener) { this.#x(ON, type, listener); }
  off(type, listener) { this.#x(OFF, type, listener); }
  dispose() { this.#x(DISPOSE); }
  /** Same as `dispose()` (the client's memory goes with the object). */
  free() { this.#x(DISPOSE); }
  get signedIn() { return this.#x(SIGNED_IN); }
  get isAuthenticated() { return this.signedIn; }
  get expiresAt() { return this.#x(EXPIRES_AT); }
  get nextRefreshAt() { return this.#x(NEXT_REFRESH_AT); }
  get refreshCount() { return this.#x(REFRESH_COUNT); }
}
if (Symbol.dispose) AuthClient.prototype[Symbol.dispose] = AuthClient.prototype.free;
