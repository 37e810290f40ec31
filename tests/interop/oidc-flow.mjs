// The browser side of the oidc-provider interop tests (oidc.test.mjs, oidc-dpop.test.mjs): signing
// in through the authorization-code flow with PKCE in Chromium, recording the page's calls to the
// provider, and the package's client in the page.
//
//   signIn(browser, oidc, redirectUri, { dpop })  a fresh context signed in; the page (the
//       redirect target) exchanges the code like a single-page app. With `dpop` (a database name),
//       the exchange carries a proof by the key stored under that name (created if missing), made
//       by a copy of the package's DPoP module of its own (so the package's copy learns no nonce
//       from it). Resolves to { context, page, calls, tokens }.
//   answered(calls)    waits until every recorded call has its answer.
//   startClient(page, oidc, options)  `window.auth` for the provider, events in `window.events`.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { CLIENT_ID } from "./servers/oidc.mjs";

/** The provider's paths whose calls are recorded. */
const PATHS = ["/token", "/token/revocation", "/me"];

/** `{ header, payload }` of a compact JWS (a DPoP proof), or `undefined`. */
export const decodeJws = (jws) => {
  if (!jws) return undefined;
  const [h, p] = jws.split(".").slice(0, 2).map((s) => JSON.parse(Buffer.from(s, "base64url")));
  return { header: h, payload: p };
};

/**
 * Records every request of `page` to the provider's token, revocation and userinfo endpoints in
 * order (preflights aside): path, method, content type, decoded form, decoded `DPoP` proof, the
 * `Authorization` header; `status`, `body`, `nonce` (the `DPoP-Nonce` answer header) and
 * `wwwAuthenticate` arrive with the answer (see `answered`).
 */
function record(page, issuer) {
  const calls = [];
  page.on("request", (req) => {
    const path = new URL(req.url()).pathname;
    if (req.method() === "OPTIONS" || !req.url().startsWith(issuer + "/") || !PATHS.includes(path)) return;
    const headers = req.headers();
    const call = {
      path, method: req.method(), type: headers["content-type"], authorization: headers.authorization,
      form: Object.fromEntries(new URLSearchParams(req.postData() ?? "")), proof: decodeJws(headers.dpop),
    };
    calls.push(call);
    req.response().then(async (res) => {
      const h = await res.allHeaders();
      // A body the page never reads (a 401 the package answers with a retry) may never finish
      // loading: the status is recorded without waiting for it.
      const body = await Promise.race([res.json(), new Promise((r) => setTimeout(r, 2000))]).catch(() => null);
      Object.assign(call, { status: res.status(), body, nonce: h["dpop-nonce"], wwwAuthenticate: h["www-authenticate"] });
    }).catch(() => Object.assign(call, { status: 0, body: null }));
  });
  return calls;
}

export async function signIn(browser, oidc, redirectUri, { dpop } = {}) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const calls = record(page, oidc.issuer);
  const verifier = randomBytes(32).toString("base64url");
  const url = new URL(`${oidc.issuer}/auth`);
  for (const [k, v] of Object.entries({
    client_id: CLIENT_ID, response_type: "code", redirect_uri: redirectUri, scope: "openid offline_access",
    prompt: "consent", state: randomBytes(8).toString("hex"),
    code_challenge: createHash("sha256").update(verifier).digest("base64url"), code_challenge_method: "S256",
  })) url.searchParams.set(k, v);
  await page.goto(url.href);
  await page.fill('input[name="login"]', "demo");
  await page.fill('input[name="password"]', "any");
  await page.click('button[type="submit"]');
  await page.click('button:has-text("Continue")');
  await page.waitForURL((u) => u.href.startsWith(redirectUri) && u.searchParams.has("code"));
  await page.waitForSelector('body[data-ready="true"]', { state: "attached" });
  const code = new URL(page.url()).searchParams.get("code");
  const tokens = await page.evaluate(async ({ issuer, code, verifier, redirectUri, clientId, dpop }) => {
    const make = () => new Request(`${issuer}/token`, {
      method: "POST",
      body: new URLSearchParams({ grant_type: "authorization_code", code, code_verifier: verifier, redirect_uri: redirectUri, client_id: clientId }),
    });
    if (!dpop) return (await fetch(make())).json();
    // The package's own proof (dpopFetch), by the key of channel `dpop`: the client made later
    // with that channel name uses the same key, so that the tokens are bound to it.
    const exchange = new window.sr.AuthClient({ mode: "body", channelName: dpop, crossTab: false, dpop: true });
    try {
      return (await exchange.dpopFetch(make())).json();
    } finally {
      exchange.dispose();
    }
  }, { issuer: oidc.issuer, code, verifier, redirectUri, clientId: CLIENT_ID, dpop });
  assert.ok(tokens.access_token && tokens.refresh_token, `code exchange: ${JSON.stringify(tokens)}`);
  await answered(calls);
  if (dpop) {
    // The app's next page, as a redirect after the exchange would load it: the package starts
    // afresh (no provider nonce known yet); the key stays in IndexedDB.
    await page.reload();
    await page.waitForSelector('body[data-ready="true"]', { state: "attached" });
  }
  calls.length = 0; // the code exchange is the test's, not the package's
  return { context, page, calls, tokens };
}

export async function answered(calls) {
  const deadline = Date.now() + 10_000;
  while (calls.some((c) => c.status === undefined)) {
    if (Date.now() > deadline) throw new Error(`a call to the provider got no answer: ${JSON.stringify(calls.map((c) => [c.method, c.path, c.status]))}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Creates `window.auth` for the provider in `page` (body mode, RFC 6749 refresh at /token, RFC
 * 7009 revocation, the access token for `bearerOrigins`), with `extra` options (`storage:
 * "local"` passes localStorage), recording its events
 * in `window.events`, and hands it `tokens`.
 */
export async function startClient(page, oidc, tokens, { bearerOrigins = [oidc.api], ...extra } = {}) {
  await page.evaluate(({ issuer, clientId, tokens, bearerOrigins, extra }) => {
    window.events = [];
    window.auth = new window.sr.AuthClient({
      mode: "body",
      baseUrl: issuer,
      refreshPath: "/token",
      revokePath: "/token/revocation",
      clientId,
      scope: "openid offline_access",
      bearerOrigins,
      ...extra,
      ...(extra.storage ? { storage: localStorage } : {}),
    });
    for (const type of ["refresh", "expired", "error", "logout"]) {
      window.auth.on(type, (e) => window.events.push({
        type: e.type, source: e.source, code: e.error?.code, status: e.error?.status, oauthError: e.error?.oauthError,
      }));
    }
    window.auth.setSession(tokens);
  }, { issuer: oidc.issuer, clientId: CLIENT_ID, tokens, bearerOrigins, extra });
}
