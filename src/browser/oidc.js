// Sign-in through a redirect, loaded on first use (glue.js imports it dynamically, so that an app
// that never calls these methods never loads it; the package build makes it a chunk of its own,
// silent_refresh_oidc.js, with its own size budget). Two roads, one set of methods:
//
//   - with the option `issuer`, the browser is an OpenID Connect relying party (a public client):
//     authorization code with PKCE S256, `state` and `nonce` kept in sessionStorage for one
//     redirect and spent on return, RFC 9207's `iss` checked, the code exchanged with a DPoP proof
//     by the client's key when DPoP is on (`dpopFetch`), the ID token's claims checked (OpenID
//     Connect Core 3.1.3.7: received straight from the token endpoint over TLS, so its signature
//     is not checked here), the session started as `setSession` starts it, RP-initiated logout;
//   - without it, the Worker signs in through its provider: `GET <baseUrl>/auth/authorize`,
//     then back to `returnTo` with the refresh cookie (or `?auth_error=<code>`), and `restore()`.
//
// It uses only the client's public methods and the host's own fields (the same build, so the
// renamed fields agree). Every error is an `AuthError` with a stable code (see the d.ts).

/** Keys in sessionStorage (the pending sign-in) and in the client's storage (the user). */
const PENDING = ":login", USER = ":user";
/** Leeway for the ID token's `exp`, ms. */
const LEEWAY = 60000;
/** The Worker's sign-in endpoint, under `baseUrl` (docs/PROTOCOL.md). */
const AUTHORIZE = "/auth/authorize";
/** Query members of a callback, removed from the address once read. */
const CALLBACK = ["code", "state", "iss", "session_state", "error", "error_description", "error_uri", "auth_error"];

const b64u = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes)))
  .replace(/=/g, "").replace(/\+/g, "-").replace(/\//g, "_");
const random = () => b64u(crypto.getRandomValues(new Uint8Array(32)));
const json = (text) => {
  try {
    return JSON.parse(text);
  } catch {}
};
/** The JSON payload of a JWT, decoded, not verified; `undefined` if it is none. */
const payload = (jwt) => json(atob((jwt?.split?.(".")[1] ?? "!").replace(/-/g, "+").replace(/_/g, "/")));

/** Web Storage for the user: the client's `storage` if it is Web Storage, else sessionStorage (none in a worker). */
const store = (h) => (h.storage_?.getItem ? h.storage_ : globalThis.sessionStorage);

/**
 * The provider's metadata (OpenID Connect Discovery, once per client; its `issuer` must equal
 * the option exactly), with the endpoints given as options over it; points the client's refresh
 * (and, in body mode without `revokePath`, its logout) at the provider.
 */
function discover(h, o, fail) {
  return h.meta_ ??= (o.authorizationEndpoint && o.tokenEndpoint ? Promise.resolve({ issuer: o.issuer })
    : h.fetch_.call(globalThis, new Request(o.issuer.replace(/\/+$/, "") + "/.well-known/openid-configuration"))
      .then((r) => (r.ok ? r.json() : {}))).then((m) => {
    if (m?.issuer !== o.issuer) throw fail("BAD_RESPONSE", "discovery: issuer differs", { issuer: m?.issuer });
    m = { ...m, authorization_endpoint: o.authorizationEndpoint ?? m.authorization_endpoint,
      token_endpoint: o.tokenEndpoint === undefined ? m.token_endpoint : h.endpoints_[1], end_session_endpoint: o.endSessionEndpoint ?? m.end_session_endpoint };
    if (!m.authorization_endpoint || !m.token_endpoint) throw fail("BAD_RESPONSE", "discovery: no endpoints");
    h.endpoints_[1] = m.token_endpoint;
    if (o.mode == "body" && o.revokePath === undefined && m.revocation_endpoint) h.revoke_ = m.revocation_endpoint;
    return m;
  }).catch((e) => {
    h.meta_ = undefined;
    throw e.code ? e : fail("NETWORK", "discovery failed");
  });
}

/**
 * Operation `n` of the client `auth` (`h` its host), called by glue.js: 0 loginWithRedirect(arg),
 * 1 handleRedirectCallback(arg: the callback URL), 2 getUser(), 3 logout(arg) with
 * `federated` (`then()`: the local logout), 4 the provider's metadata, then `then()` (restore).
 * `AuthError` is the package's error class.
 */
export async function run(n, arg, auth, h, then, AuthError) {
  const o = h.o_ ?? {}, name = o.channelName ?? "silent-refresh";
  const fail = (code, message, extra) => Object.assign(new AuthError("ERR_" + code, message), extra);
  const pending = globalThis.sessionStorage, user = () => json(store(h)?.getItem(name + USER));
  const provider = typeof o.issuer == "string";
  if (provider && o.mode != "body") throw fail("INVALID_OPTIONS", "issuer needs mode: \"body\"", { option: "mode" });
  const meta = provider && (await discover(h, o, fail));
  if (n == 4) return then();
  if (n == 2) return auth.signedIn ? user()?.claims : undefined;
  if (n == 3) {
    const u = user(), f = h.fetch_;
    store(h)?.removeItem(name + USER);
    let confirmed = false, seen;
    // The Worker's road: its logout answer carries `end_session_url` (the provider's, with
    // id_token_hint); it is read off the answer on its way to the client.
    if (!provider) h.fetch_ = (r, i) => f.call(globalThis, r, i).then((res) =>
      (r?.url == h.endpoints_[2] && (seen = res.clone().json().catch(() => {})), res));
    try {
      confirmed = await then();
    } catch {} finally {
      h.fetch_ = f;
    }
    const end = meta ? meta.end_session_endpoint : (await seen)?.end_session_url;
    if (/^https?:/.test(end)) {
      const url = new URL(end);
      if (meta) for (const [k, v] of Object.entries({ id_token_hint: u?.idToken, client_id: o.clientId,
        post_logout_redirect_uri: arg.returnTo })) v && url.searchParams.set(k, v);
      location.assign(url);
    }
    return confirmed;
  }
  const here = location.href;
  if (n == 0) {
    const returnTo = arg?.returnTo ?? here.slice(location.origin.length);
    if (!provider) {
      // The Worker's road: it keeps state, nonce and verifier itself.
      const url = new URL((o.baseUrl ?? "").replace(/\/+$/, "") + AUTHORIZE, here);
      url.searchParams.set("return_to", returnTo);
      return location.assign(url);
    }
    const state = random(), nonce = random(), verifier = random();
    const scope = arg?.scope ?? o.scope ?? "openid";
    const url = new URL(meta.authorization_endpoint);
    for (const [k, v] of Object.entries({ response_type: "code", client_id: o.clientId,
      redirect_uri: o.redirectUri ?? location.origin + location.pathname, scope, state, nonce,
      code_challenge: b64u(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier))),
      code_challenge_method: "S256", audience: o.audience, resource: o.resource,
      // OpenID Connect Core 11: a refresh token (`offline_access`) is asked for with consent.
      prompt: /\boffline_access\b/.test(scope) ? "consent" : undefined, ...arg?.params })) v && url.searchParams.set(k, v);
    pending.setItem(name + PENDING, JSON.stringify({ state, nonce, verifier, returnTo, redirectUri: url.searchParams.get("redirect_uri") }));
    return location.assign(url);
  }
  // n == 1: the callback. Its query leaves the address at once: a reload does not replay it.
  const url = new URL(arg ?? here), q = url.searchParams, get = (k) => q.get(k) ?? undefined;
  const clean = new URL(url);
  for (const k of CALLBACK) clean.searchParams.delete(k);
  if (!arg) history.replaceState(history.state, "", clean);
  if (!provider) {
    // The Worker's road: it answered `?auth_error=<code>` (docs/PROTOCOL.md) or set the cookie.
    const code = get("auth_error");
    if (code) throw fail("LOGIN_REJECTED", "sign-in failed: " + code, { oauthError: code });
    return { returnTo: clean.href.slice(clean.origin.length), signedIn: await auth.restore() };
  }
  // The pending sign-in is spent whatever the outcome: one redirect, one try.
  const t = json(pending.getItem(name + PENDING));
  pending.removeItem(name + PENDING);
  if (!t) throw fail("NO_PENDING_LOGIN", "no sign-in pending (a replayed or foreign callback)");
  if (get("state") !== t.state) throw fail("LOGIN_STATE", "state differs from the pending sign-in");
  // RFC 9207: where the provider sends `iss`, it must be the one the sign-in went to.
  if ((meta.authorization_response_iss_parameter_supported || q.has("iss")) && get("iss") !== meta.issuer)
    throw fail("LOGIN_ISSUER", "iss differs from the issuer");
  const refused = get("error");
  if (refused) throw fail("LOGIN_REJECTED", "the provider refused: " + refused, { oauthError: refused });
  const response = await auth.dpopFetch(meta.token_endpoint, { method: "POST", body: new URLSearchParams({
    grant_type: "authorization_code", code: get("code") ?? "", code_verifier: t.verifier, redirect_uri: t.redirectUri,
    ...(o.clientId ? { client_id: o.clientId } : {}) }) });
  const tokens = await response.json().catch(() => ({}));
  if (!response.ok) throw fail("REJECTED", "code exchange refused", { status: response.status, oauthError: tokens.error });
  const claims = payload(tokens.id_token), aud = [].concat(claims?.aud);
  // The ID token's claims (OpenID Connect Core 3.1.3.7): the first one that fails is named.
  const claim = !claims ? "id_token" : claims.iss !== meta.issuer ? "iss" : !aud.includes(o.clientId) ? "aud"
    : (aud.length > 1 || claims.azp !== undefined) && claims.azp !== o.clientId ? "azp"
    : !(claims.exp * 1000 > Date.now() - LEEWAY) ? "exp" : claims.nonce !== t.nonce ? "nonce" : undefined;
  if (claim) throw fail("ID_TOKEN", "ID token: " + claim + " fails its check", { claim });
  store(h).setItem(name + USER, JSON.stringify({ claims, idToken: tokens.id_token }));
  auth.setSession(tokens);
  return { returnTo: t.returnTo, user: claims };
}
