// Plumbing of the browser adapter (src/browser/js.rs binds it): the `Host` each `AuthClient`
// (client.js) is built on. It builds the client's requests, wires timers, page events, the
// BroadcastChannel, the Web Lock, storage and event listeners, and reports every callback to Rust as `dispatch(tag, value)`. Rust decides when to
// refresh, what a result means, and what ends a session. Rules that cost fewer bytes here than in
// wasm live in modules with unit tests of their own (node --test, tests/browser): the options
// (options.js), which requests `auth.fetch` manages and whether a token is DPoP-bound
// (requests.js), the DPoP proofs and their nonce retry (dpop.js, loaded on first use). Two are
// still decided in this file: what the client's own requests carry (`post_`: the members, the
// encoding, a body-mode logout's RFC 7009 form) and what the session-hint cookie says (`over_`).
// The shared names are names.js's, generated from Rust.
// The package build renames every property whose name ends in `_` (scripts/build-browser.sh):
// the names an option, an event, a message or a browser API uses must not end in `_`.

import { fail, read } from "./options.js";
import { bound, managed } from "./requests.js";
import { FULFILLED, REJECTED, LOCKED, HANDED, KINDS, TIMER, WAKE, LOGOUT_MESSAGE, TOKEN_MESSAGE,
  EVENTS, SOURCES, STORAGE, COOKIE_MODE, BODY_MODE, CSRF_HEADER, SESSION_HINT_COOKIE,
  INVALID_OPTIONS, AT_REFRESH, AT_LOGOUT, TOKEN_TYPE, LOGOUT_TYPE } from "./names.js";
import { error } from "./values.js";

// DPoP (dpop.js), loaded on first use: built beside the package as silent_refresh_dpop.js, so an
// app without DPoP (cookie mode by default) never loads it. Every DPoP step is asynchronous. The
// module, once loaded, is kept: an import() of a module already loaded still cost about 48 µs of
// each DPoP auth.fetch's 260 (an injected fetch answering at once, Chromium). A load that failed
// is tried again next time.
let chunk;
const dpop = (f, ...a) => chunk ? chunk[f](...a) : import("./silent_refresh_dpop.js").then((m) => (chunk = m)[f](...a));
// Where the chunk cannot load (a Service Worker: no import() there), no key and a Bearer session,
// as where no key can be stored; `dpop: true` fails instead (use the /inline entry there).
export const key = (n, c, always) => dpop("key", n, c, always).catch((e) => { if (always) throw e; });
export const send = (f, k, make, access) => k || access ? dpop("send", f, k, make, access) : f.call(globalThis, make(0));
// Values js.rs reads and makes, bound from this module.
export { AuthError, claims, error, get, number, subject } from "./values.js";

/** Adds or removes (`method`) the wake-up listener `h`. */
function wake(method, h) {
  globalThis.document?.[method]("visibilitychange", h);
  globalThis[method]?.("online", h);
  globalThis[method]?.("pageshow", h);
}

/** The JS side of one `AuthClient`. */
export class Host {
  /** Reads and checks `options` over the defaults (options.js): throws for a bad one. */
  constructor(options) {
    const [fields, slots, words] = read(options, globalThis.location?.href);
    Object.assign(this, fields);
    const locks = this.crossTab_ && globalThis.navigator?.locks;
    this.locks_ = (typeof locks == "object" && locks) || undefined;
    // Cookie mode with the endpoints on another origin than the page's (a failed request says so).
    const here = globalThis.location?.origin;
    /**
     * What Rust reads (by `Slot`): the options of `SLOTS` (a duration, or `undefined` for the
     * default margin), whether the mode is "body", whether there is a lock, whether cookie-mode
     * requests go to another origin, the session-ending statuses (none: the default).
     */
    this.options = [...slots, this.mode_ == BODY_MODE, !!this.locks_,
      this.mode_ == COOKIE_MODE && !!here && !this.endpoints_[1].startsWith(here + "/"), ...words];
    this.deferred_ = new Map();
    this.listeners_ = [];
  }

  /**
   * Starts listening: wake-up events, the channel. `dispatch(tag, value)` is Rust's; each call
   * of it, as each method call of `AuthClient` (client.js), first ends `auth.fetch`'s path
   * without wasm (`fast_`, see `request_`).
   */
  open_(d, timeout) {
    const dispatch = this.dispatch_ = (tag, value) => (this.fast_ = null, d(tag, value));
    this.timeout_ = timeout;
    this.wake_ = (e) => (e.type != "visibilitychange" || document.visibilityState == "visible")
      && dispatch(WAKE, e.type == "online");
    if (this.crossTab_) {
      try {
        this.channel_ = new BroadcastChannel(this.name_);
        // Another tab's logout (the DPoP key is read afresh after it) or new access token: hints
        // Rust checks. Anything else is not ours.
        this.channel_.onmessage = ({ data }) => data?.type == LOGOUT_TYPE ? ((this.dk_ = undefined), dispatch(LOGOUT_MESSAGE))
          : data?.type == TOKEN_TYPE && dispatch(TOKEN_MESSAGE, data);
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
    const revoke = which == AT_LOGOUT && a !== undefined && this.revoke_;
    const body = revoke ? { token: a, token_type_hint: "refresh_token", client_id: this.clientId_ }
      : which == AT_REFRESH ? { grant_type: "refresh_token", refresh_token: a, client_id: this.clientId_, scope: this.scope_ }
      : which ? a === undefined ? a : { refresh_token: a } : { username: a, password: b, transport: this.mode_ };
    if (revoke || which == AT_REFRESH && this.form_) {
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
      .finally(() => which == AT_LOGOUT && this.drop_(1)) : this.fetch_.call(globalThis, make()));
    return init.signal;
  }

  /** Reads a response body as JSON for operation `id`; returns its `Retry-After` header, if any. */
  json_(id, response) {
    // A token response says whether its access token is DPoP-bound (`token_type`, any case).
    // A success body goes through `mapTokenResponse` first, if set.
    this.run_(id, () => response.json().then((b) => (response.ok && this.map_ && (b = this.map_(b)),
      typeof b?.access_token == "string" && (this.bound_ = bound(b.token_type)), b)));
    try {
      return response.headers.get("retry-after");
    } catch {}
  }

  /**
   * `fetch(input, init)`, a promise. A request the client manages (`managed`, requests.js) is
   * sent with `send(request, access, generation)`, unless `access` is `null` (a refresh may be
   * due): then it goes to Rust, `dispatch(7, [undefined, request])`. Any other request is sent as
   * it is. `left` (from Rust only; 0: none): for `left` ms from the clock readings `t_` that
   * `AuthClient.fetch` took just before calling Rust (no later than Rust's own), no refresh can
   * fall due (`Engine::fresh_for`, less a ms). Until either clock is past that, `auth.fetch`
   * makes this same call without Rust (`fast_`: it compares the clocks and nothing else), unless
   * Rust is called in between: every call into it (client.js's `#x`, `dispatch_`) ends `fast_`.
   */
  request_(input, init, access, generation, left) {
    if (left) {
      const [mono, wall] = this.t_;
      this.fast_ = (i, n) => performance.now() < mono + left && Date.now() < wall + left && this.request_(i, n, access, generation);
    }
    try {
      // `getAccessToken()` passes the host itself: managed, with no request.
      const request = input == this ? input : new Request(input, init);
      return input != this && !managed(request, this.origins_, this.endpoints_) ? this.send_(request)
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

  /** Forgets the DPoP key (to be read afresh), and if `gone` removes it from IndexedDB too. */
  drop_(gone) {
    this.dk_ = undefined;
    if (gone) {
      this.bound_ = undefined;
      if (this.dpop_) dpop("remove", this.db_).catch(() => {});
    }
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
    const data = access ? { type: TOKEN_TYPE, access, lifetime } : { type: LOGOUT_TYPE };
    if (this.channel_) {
      this.channel_.postMessage(data);
      // The same message in localStorage, written before the flight releases the Web Lock: the
      // tab that takes the lock next reads it there (`shared_`), whatever the message's timing.
      try {
        access ? localStorage.setItem(this.name_ + ":token", JSON.stringify({ ...data, at: Date.now() }))
          : localStorage.removeItem(this.name_ + ":token");
      } catch {}
    }
  }

  /** The last token message `tell_` wrote, its lifetime counted from now; else `undefined`. */
  shared_() {
    try {
      const d = JSON.parse(localStorage.getItem(this.name_ + ":token"));
      d.lifetime -= Date.now() - d.at;
      return d;
    } catch {}
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

// A bad option throws an `AuthError` naming it (`option`) and its rule.
fail((option, rule) => {
  const e = error(INVALID_OPTIONS);
  e.message = option + ": " + rule;
  throw Object.assign(e, { option });
});
