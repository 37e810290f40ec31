// `silent-refresh/react`: React bindings for the package (its own entry, minified by
// scripts/package-npm.mjs, with its own size budget; React is a peer dependency).
//
//   <AuthProvider options={{ baseUrl: "" }} onRedirect={(r) => navigate(r.returnTo)}>
//     <App />
//   </AuthProvider>
//   const { status, user, error, login, loginWithRedirect, logout, fetch } = useAuth();
//
// One client per provider, made in an effect: none on the server (SSR renders `status:
// "loading"`, nothing touches `window` at import), and one under StrictMode, whose double mount
// runs the effect, its cleanup and the effect again before the module loads: only the effect
// still mounted when `init()` settles makes the client, and the cleanup of a mounted one disposes
// it. A failed `init()` is not kept: the next mount tries again. On a redirect back (`state`
// or `auth_error` in the query) the provider calls `handleRedirectCallback()`, else `restore()`.
// The state follows the client's `change` events: login, refresh, expiry, another tab's logout.
import { createContext, createElement, useContext, useEffect, useState } from "react";
import init, { AuthClient, AuthError } from "./silent_refresh.js";

/** The package's `init()`, once per page while it succeeds. */
let loading;
const load = () => (loading ??= init().catch((e) => {
  loading = undefined;
  throw e;
}));

const LOADING = { status: "loading", isAuthenticated: false };
const Context = createContext(undefined);

/** Provides the client made with `options` (read once) to `useAuth()` below it. */
export function AuthProvider({ options, onRedirect, children }) {
  const [state, setState] = useState(LOADING);
  useEffect(() => {
    let client, seq = 0, live = true;
    const set = (s) => live && setState(s);
    // The state after each transition (from the `change` event: a listener does not call the
    // client back); the ID token's claims with `issuer`.
    const update = async (signedIn, expiresAt, error) => {
      const n = ++seq;
      const user = signedIn && options?.issuer ? await client.getUser().catch(() => undefined) : undefined;
      // An older transition whose user arrives late does not overwrite a newer one.
      if (n == seq) set({ status: signedIn ? "signedIn" : "signedOut", isAuthenticated: signedIn, user, error, expiresAt, client });
    };
    load().then(async () => {
      if (!live) return;
      client = new AuthClient(options);
      client.on("change", (e) => update(e.signedIn, e.expiresAt, e.event.error));
      let error;
      try {
        /[?&](state|auth_error)=/.test(location.search)
          ? onRedirect?.(await client.handleRedirectCallback()) : await client.restore();
      } catch (e) {
        error = e;
      }
      if (live) update(client.signedIn, client.expiresAt, error);
    }).catch((error) => set({ status: "signedOut", isAuthenticated: false, error }));
    return () => {
      live = false;
      client?.dispose();
    };
    // `options` are read once, as the client reads them.
  }, []);
  return createElement(Context.Provider, { value: state }, children);
}

/** The current client's action, or a rejection with ERR_NOT_INITIALIZED before there is one. */
const act = (client, name) => (...args) => client ? client[name](...args)
  : Promise.reject(new AuthError("ERR_NOT_INITIALIZED", "no client yet"));

/**
 * The state (`status`: "loading", "signedIn" or "signedOut"; `isAuthenticated`, `user`,
 * `error`, `expiresAt`, `client`) and the client's actions (`login`, `loginWithRedirect`,
 * `logout`, `fetch`, `getAccessToken`), re-rendered on every transition.
 */
export function useAuth() {
  const state = useContext(Context);
  if (!state) throw new Error("useAuth() outside <AuthProvider>");
  const c = state.client;
  return { ...state, login: act(c, "login"), loginWithRedirect: act(c, "loginWithRedirect"),
    logout: act(c, "logout"), fetch: act(c, "fetch"), getAccessToken: act(c, "getAccessToken") };
}
