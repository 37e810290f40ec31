// The public class `AuthClient` (its TypeScript declaration is in src/browser/types.rs), whose
// methods forward to Rust (`Inner::call` in src/browser/runtime) through the function the wasm
// export `client` makes for each one (`fetch` repeats Rust's last answer without it while that
// holds); and the package's `init`. The plumbing each client is built on, its `Host`, is glue.js's.

import { Host, key, send } from "./glue.js";
import { bound } from "./requests.js";
import { LOGIN, SET_SESSION, RESTORE, FETCH, REFRESH, LOGOUT, ON, OFF, DISPOSE, SIGNED_IN, EXPIRES_AT,
  NEXT_REFRESH_AT, REFRESH_COUNT, NOT_INITIALIZED } from "./names.js";
import { AuthError, error } from "./values.js";

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

/** The public class. Every method forwards to Rust (`fetch`: see there). */
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
      throw error(NOT_INITIALIZED);
    }
    if (typeof c != "function") throw c;
    this.#h = h;
    this.#c = c;
  }

  /** Calls `method`; throws the `Error` it returns. Ends `fetch`'s path without wasm first. */
  #x(method, a, b) {
    this.#h.fast_ = null;
    const r = this.#c(method, a, b);
    if (r instanceof Error) throw r;
    return r;
  }

  login(username, password) { return this.#x(LOGIN, username, password).then(() => this.#s("login")); }
  /** With DPoP, tokens whose `token_type` is DPoP were bound to the key by whoever got them (see dpop.js). */
  setSession(tokens) { this.#x(SET_SESSION, tokens); this.#h.bound_ = bound(tokens.token_type); this.#s("setSession"); }
  /** A session started by `source` (`login`, `setSession`): the `session` and `change` events. */
  #s(source) { this.#h.state_({ type: "session", source }, true, this.expiresAt); }
  /** With `issuer`, the provider's metadata first (oidc.js): the refresh goes to its token endpoint. */
  restore() {
    const r = () => this.#x(RESTORE);
    return this.#h.o_.issuer ? this.#o(4, 0, r) : r();
  }

  /**
   * While Rust's last answer to `fetch` holds (`fast_`: its arguments to `request_` and the
   * instants until which both clocks say no refresh can fall due; any other call into Rust ends
   * it), the same call without entering wasm: the request starts sooner and from a shallower
   * stack (a debugger or DevTools records each request's stack; bench/browser/fetch-steps.mjs).
   */
  fetch(input, init) {
    const h = this.#h;
    return h.fast_?.(input, init) || (h.t_ = [performance.now(), Date.now()], this.#x(FETCH, input, init));
  }
  /** The access token `fetch` would send now (refreshing first if due), for clients that do not use fetch. */
  getAccessToken() { return this.fetch(this.#h); }

  /** `fetch(input, init)` with a DPoP proof by the client's key, made if there is none, if DPoP is on (see the d.ts). */
  dpopFetch(input, init) {
    const h = this.#h;
    // A copy for each attempt: a request with a body can be sent once.
    return Promise.resolve(h.dpop_ && key(h.db_, 1, h.dpop_ === true))
      // Without a key, the request as it is (and the DPoP module is not loaded).
      .then((k, r = new Request(input, init)) => k ? send(h.fetch_, k, () => r.clone()) : h.fetch_.call(globalThis, r));
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
