// Plumbing of the browser adapter (src/browser/js.rs binds it), and the public class `AuthClient`,
// whose methods forward to Rust (`Inner::call` in runtime.rs). It reads the options object,
// builds the client's requests, wires timers, page events, the BroadcastChannel, the Web Lock,
// storage and event listeners, and reports every callback to Rust as `dispatch(tag, value)`.
// It decides nothing: what to send, when, and what a result means is decided in Rust. The one
// shortcut, `AuthClient.fetch`, attaches the token Rust published for as long as Rust said.
// Written in JS because JS source is far smaller than the same calls compiled to wasm.
// The package renames the properties listed in scripts/build-browser.sh (`mangle`): a name that
// an option, an event, a message or a browser API shares must not be listed there.

/** `target[key]` (`undefined` for `undefined` and `null` targets). */
export const get = (target, key) => target?.[key];

/** `value` if it is a number, else `NaN`. */
export const number = (value) => (typeof value == "number" ? value : NaN);

/**
 * The `exp` and `iat` claims of the JWT `token`, decoded but neither verified nor checked (Rust
 * checks them: `lifetime_from_claims`); none if it is no JWT. `undefined` unless `token` is a
 * non-empty string.
 */
export function claims(token) {
  if (typeof token != "string" || !token) return;
  try {
    // header.payload.signature, the payload base64url JSON.
    const s = token.split(".");
    if (s.length == 3 && s[0] && /^[\w-]+$/.test(s[1])) {
      const p = JSON.parse(atob(s[1].replace(/-/g, "+").replace(/_/g, "/")));
      return [p.exp, p.iat];
    }
  } catch {}
  return [];
}

/**
 * The stable codes (without `ERR_`) and messages of the errors, by the index of the code in
 * `ErrorCode::ALL` (src/core/client/error.rs, the reference; tests/browser.rs checks this copy).
 */
const ERRORS = [
  "NETWORK:network error",
  "TIMEOUT:request timed out",
  "SERVER:server temporarily unavailable",
  "REJECTED:request rejected by the server",
  "BAD_RESPONSE:unexpected response from the server",
  "SESSION_EXPIRED:session expired",
  "NOT_SIGNED_IN:not signed in",
  "INVALID_CREDENTIALS:invalid username or password",
  "REFRESH_LIMIT:too many refreshes, circuit breaker open",
  "DISPOSED:client disposed",
  "INVALID_OPTIONS:invalid options",
  "STORAGE:storage failed",
];

/** An `Error` with the stable `.code` of error `index` (and the HTTP `.status` that caused it, if any). */
export function error(index, status) {
  const [code, message] = ERRORS[index].split(":");
  const e = new Error(message);
  e.code = "ERR_" + code;
  if (status !== undefined) e.status = status;
  return e;
}

/** The events, by the index Rust uses. */
const EVENTS = ["refresh", "expired", "error", "logout"];

/** The sources of `refresh` and `logout` events, by the index Rust uses. */
const SOURCES = ["network", "tab", "restore", "local"];

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
    const o = Object.assign({ baseUrl: "", mode: "cookie", requestTimeout: 10000, retryBaseDelay: 1000,
      retryMaxDelay: 60000, maxRefreshesPerMinute: 10, crossTab: true, channelName: "silent-refresh",
      loginPath: "/auth/login", refreshPath: "/auth/refresh", logoutPath: "/auth/logout" }, options);
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
    this.endpoints = [o.loginPath, o.refreshPath, o.logoutPath].map((p) => url(base + p, "href"));
    const list = o.bearerOrigins;
    if (list !== undefined && !(list?.length >= 0)) ok = false;
    this.origins = list === undefined ? [url(this.endpoints[0], "origin")]
      : Array.from({ length: ok ? list.length : 0 }, (_, i) => url(list[i], "origin"));
    this.fetch = o.fetch === undefined ? globalThis.fetch : o.fetch;
    this.storage = o.storage ?? undefined;
    this.crossTab = o.crossTab;
    this.name = o.channelName;
    this.key = this.name + ":refresh_token";
    this.mode = o.mode;
    if (typeof this.fetch != "function" || typeof this.crossTab != "boolean" || typeof this.name != "string"
      || !(this.storage === undefined || (typeof this.storage == "object"))) ok = false;
    const locks = this.crossTab && globalThis.navigator?.locks;
    this.locks = typeof locks == "object" && locks !== null ? locks : undefined;
    // A duration or count: a number >= 0, not infinite.
    const count = (n) => (typeof n == "number" && n >= 0 && n < 1 / 0) || (ok = false);
    [o.retryBaseDelay, o.retryMaxDelay, o.maxRefreshesPerMinute, o.requestTimeout].map(count);
    if (o.refreshMargin !== undefined) count(o.refreshMargin);
    if (o.mode != "cookie" && o.mode != "body") ok = false;
    /**
     * What Rust reads, if the options are valid: 0-4 the durations (0 `undefined` for the
     * default), 5 whether the mode is "body", 6 whether there is a lock.
     */
    this.options = ok ? [o.refreshMargin, o.retryBaseDelay, o.retryMaxDelay, o.maxRefreshesPerMinute,
      o.requestTimeout, o.mode == "body", !!this.locks] : undefined;
    this.deferred = new Map();
    this.listeners = [];
  }

  /** Starts listening: wake-up events, the channel. `dispatch(tag, value)` is Rust's. */
  open(dispatch, timeout) {
    this.dispatch = dispatch;
    this.timeout = timeout;
    this.wake = (e) => (e.type != "visibilitychange" || document.visibilityState == "visible")
      && dispatch(1, e.type == "online");
    if (this.crossTab) {
      try {
        this.channel = new BroadcastChannel(this.name);
        // 2: a token (`access` a string), 3: a logout; anything else is not ours.
        this.channel.onmessage = ({ data }) => data?.type == "logout" ? dispatch(3)
          : data?.type == "token" && typeof data.access == "string" && dispatch(2, data);
      } catch {}
    }
    wake("addEventListener", this.wake);
  }

  /** Stops everything (timer, listeners, channel) and rejects every pending promise with `e`. */
  close(e) {
    wake("removeEventListener", this.wake);
    clearTimeout(this.timer);
    this.listeners = [];
    if (this.channel) {
      this.channel.onmessage = null;
      this.channel.close();
      this.channel = undefined;
    }
    for (const [, settle] of this.deferred) settle[1](e);
    this.deferred.clear();
  }

  /** A promise for operation `id`, settled by `settle(id, ...)`. */
  defer(id) {
    return new Promise((resolve, reject) => this.deferred.set(id, [resolve, reject]));
  }

  /** Resolves (`ok`) or rejects the promise of `id`, if it is pending. */
  settle(id, ok, value) {
    const settle = this.deferred.get(id);
    this.deferred.delete(id);
    settle?.[ok ? 0 : 1](value);
  }

  /** Reports the settlement of `value` (a value or a promise) to operation `id`. */
  then(id, value) {
    Promise.resolve(value).then((v) => this.dispatch(id * 4, v), (e) => this.dispatch(id * 4 + 1, e));
  }

  /** `then(id, f())`, a synchronous throw counting as a rejection. */
  run(id, f) {
    let value;
    try {
      value = f();
    } catch (e) {
      value = Promise.reject(e);
    }
    this.then(id, value);
  }

  /**
   * Sends `request` with the configured fetch, a promise, with the access token unless
   * `undefined`. If `generation` (the token's), a 401 goes to Rust with a spare copy of the
   * request made first, for the replay (a body can be sent only once; GET and HEAD have none):
   * `dispatch(7, [response, spare, generation])`, whose promise it settles to.
   */
  send(request, access, generation) {
    try {
      let spare;
      if (access !== undefined) {
        spare = /^(GET|HEAD)$/.test(request.method) ? request : request.clone();
        try {
          request.headers.set("Authorization", "Bearer " + access);
        } catch {}
      }
      const sent = Promise.resolve(this.fetch.call(globalThis, request));
      return generation ? sent.then((r) => r?.status == 401 ? this.dispatch(7, [r, spare, generation]) : r) : sent;
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * A request of the client itself to endpoint `which` (0 login with username `a` and password
   * `b`; 1 refresh, 2 logout, with the refresh token `a` in the body unless `undefined`): POST,
   * JSON, the cookie transport's header and credentials, the request timeout. Returns its signal.
   */
  post(id, which, a, b) {
    const headers = {};
    const init = { method: "POST", headers };
    const body = which ? (a === undefined ? a : JSON.stringify({ refresh_token: a }))
      : JSON.stringify({ username: a, password: b, transport: this.mode });
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = body;
    }
    if (this.mode == "cookie") {
      headers["X-Silent-Refresh"] = "1";
      init.credentials = "include";
    }
    try {
      init.signal = AbortSignal.timeout(this.timeout);
    } catch {}
    this.run(id, () => this.fetch.call(globalThis, new Request(this.endpoints[which], init)));
    return init.signal;
  }

  /** Reads a response body as JSON for operation `id`; returns its `Retry-After` header, if any. */
  json(id, response) {
    this.run(id, () => response.json());
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
  request(input, init, access, generation) {
    try {
      const request = new Request(input, init);
      // Absolute and serialized (no credentials: `Request` throws on them), so the part before
      // `?` or `#` is the origin and path, as the endpoints are.
      const url = request.url;
      return !this.origins.some((o) => url.startsWith(o)) || this.endpoints.includes(url.split(/[?#]/)[0])
        || request.headers.has("authorization") ? this.send(request)
        : access === null ? this.dispatch(7, [, request]) : this.send(request, access, generation);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * The fast path of `fetch`, published by Rust: the token `access` (or `undefined`) of
   * `generation` may be attached without asking Rust while `performance.now() < mono` and
   * `Date.now() < wall` (see `AuthClient.fetch`).
   */
  fresh(access, generation, mono, wall) {
    this.access = access;
    this.generation = generation;
    this.mono = mono;
    this.wall = wall;
  }

  /**
   * True if the page sees the Worker's session hint saying the session is over: `sr_session=0`
   * in `document.cookie` (set beside the refresh cookie in cookie mode; visible when the page
   * and the Worker share a host). Absent or unreadable: unknown, false.
   */
  over() {
    try {
      return /(?:^|;\s*)sr_session=0(?:;|$)/.test(document.cookie);
    } catch {
      return false;
    }
  }

  /** Storage operation `op` (0 get, 1 set to `value`, 2 remove) for `id`; false without storage. */
  store(id, op, value) {
    const s = this.storage;
    if (s === undefined) return false;
    // The get/set/remove of a custom object, or Web Storage's (`localStorage`) getItem/setItem/removeItem.
    const name = ["get", "set", "remove"][op] + (typeof s.getItem == "function" ? "Item" : "");
    this.run(id, () => s[name](this.key, value));
    return true;
  }

  /** Takes the Web Lock for flight `id`; it is held until `settle(id, ...)`. */
  lock(id) {
    const hold = this.defer(id);
    this.run(id, () => this.locks.request(this.name, () => (this.dispatch(id * 4 + 2), hold)));
  }

  /** Arms the one timer (`ms` >= 0) or clears it. */
  arm(ms) {
    clearTimeout(this.timer);
    this.timer = ms < 0 ? undefined : setTimeout(() => this.dispatch(0), ms);
  }

  /** Posts `{type: "token", access, lifetime, remaining, refresh}` to the other tabs, or `{type: "logout"}`. */
  tell(access, lifetime, remaining, refresh) {
    this.channel?.postMessage(access === undefined ? { type: "logout" }
      : { type: "token", access, lifetime, remaining, refresh });
  }

  /** `on(type, listener)` (`add`), false for an unknown type or a non-function; or `off`. */
  listen(add, type, listener) {
    if (!add) {
      this.listeners = this.listeners.filter(([t, f]) => t !== type || f !== listener);
      return true;
    }
    const ok = EVENTS.includes(type) && typeof listener == "function";
    if (ok) this.listeners.push([type, listener]);
    return ok;
  }

  /** Calls the listeners of event `kind` (see `emit` in js.rs) with its event object; a throwing one is ignored. */
  emit(kind, a, b) {
    const type = EVENTS[kind];
    const source = SOURCES[a];
    const event = [{ type, source, expiresAt: b }, { type, error: a }, { type, error: a, retryIn: b },
      { type, source }][kind];
    // Read afresh at each step: a listener may add or remove listeners.
    for (let i = 0; i < this.listeners.length; i++) {
      const [t, f] = this.listeners[i];
      if (t === type) {
        try {
          f(event);
        } catch {}
      }
    }
  }
}

/** The wasm export that creates a client (`client` in mod.rs), set by `connect`. */
let create;

/** Connects `AuthClient` to `client` (the package's entry module does it); returns the class. */
export const connect = (client) => ((create = client), AuthClient);

/** The public class (its TypeScript declaration is in mod.rs). Every method forwards to Rust. */
export class AuthClient {
  /** The host, and the client's function `(op, a, b) => result` (op codes in runtime.rs). */
  #h;
  #c;

  constructor(options) {
    const h = new Host(options);
    const c = create(h);
    if (typeof c != "function") throw c;
    this.#h = h;
    this.#c = c;
  }

  /** Calls method `op`; throws the `Error` it returns. */
  #x(op, a, b) {
    const r = this.#c(op, a, b);
    if (r instanceof Error) throw r;
    return r;
  }

  login(username, password) {
    return this.#x(0, username, password);
  }

  setSession(tokens) {
    this.#x(1, tokens);
  }

  restore() {
    return this.#x(2);
  }

  /** Without entering Rust while the token published by Rust is fresh (the common case). */
  fetch(input, init) {
    const h = this.#h;
    return performance.now() < h.mono && Date.now() < h.wall ? h.request(input, init, h.access, h.generation)
      : this.#x(3, input, init);
  }

  refresh() {
    return this.#x(4);
  }

  logout() {
    return this.#x(5);
  }

  on(type, listener) {
    this.#x(6, type, listener);
  }

  off(type, listener) {
    this.#x(7, type, listener);
  }

  dispose() {
    this.#x(8);
  }

  /** Same as `dispose()` (the client's memory goes with the object). */
  free() {
    this.#x(8);
  }

  get signedIn() {
    return this.#x(9);
  }

  get expiresAt() {
    return this.#x(10);
  }

  get nextRefreshAt() {
    return this.#x(11);
  }

  get refreshCount() {
    return this.#x(12);
  }
}
if (Symbol.dispose) AuthClient.prototype[Symbol.dispose] = AuthClient.prototype.free;
