// The package's DPoP (the option `dpop`) against oidc-provider's DPoP (RFC 9449), an
// implementation nobody here wrote, in headless Chromium. The page gets the first tokens with the
// authorization-code flow and PKCE, the code exchange carrying a proof by the key the package then
// uses (`dpopFetch`) (stored in IndexedDB under the client's channelName), and hands them
// to the package with setSession. Checked at the wire and at the provider:
//   - the tokens are DPoP-bound (token_type DPoP; the provider binds the access token and, for a
//     public client, the refresh token to the key's thumbprint);
//   - scheduled and on-demand refreshes carry proofs by that key and follow rotation; the
//     provider's userinfo endpoint takes every access token with its proof (`ath`);
//   - logout revokes the refresh token and removes the key;
//   - a refresh token copied out of storage is refused when presented with another key (a proof
//     made in Node by the `dpop` package) or without a proof, and stays good for the key holder;
//   - with server nonces required (`features.dPoP.nonceSecret`, `requireNonce`), a first request
//     without a nonce is answered `use_dpop_nonce` (400 at the token endpoint, 401 at userinfo)
//     and sent again exactly once with the `DPoP-Nonce` value, which then serves the next requests;
//     a resource that asks again gets no second retry.
import { after, before, describe, test } from "../support/test.mjs";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { generateKeyPair, generateProof } from "dpop";
import { calculateJwkThumbprint } from "jose";
import { launchBrowser } from "../support/browser.mjs";
import { projectDir, serveStatic } from "./support.mjs";
import { CLIENT_ID, startOidc } from "./servers/oidc.mjs";
import { answered, signIn, startClient } from "./oidc-flow.mjs";

const ACCESS_TTL = 8; // seconds: the package refreshes half-way, 4 s after a token is issued
/** The client's channelName, and the IndexedDB database of its key. */
const NAME = "oidc-dpop";
const DB = NAME + ":dpop";
let plain, nonced, site, browser, redirectUri;

before(async () => {
  // The page's server first, holding its port, then the servers that must know its origin.
  site = await serveStatic({ "/oidc/": await projectDir("oidc") });
  const origin = site.url;
  redirectUri = `${origin}/oidc/`;
  plain = await startOidc({ pageOrigin: origin, redirectUri, accessTtl: ACCESS_TTL });
  // Long-lived access tokens: no scheduled refresh comes between the requests a test counts.
  nonced = await startOidc({ pageOrigin: origin, redirectUri, accessTtl: 600, dpopNonce: true });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await site?.close();
  await plain?.close();
  await nonced?.close();
});

const ath = (token) => createHash("sha256").update(token).digest("base64url");

/** The RFC 7638 thumbprint (jose's) of the public key stored in the page's IndexedDB, or null. */
async function storedJkt(page) {
  const jwk = await page.evaluate((db) => new Promise((resolve, reject) => {
    const open = indexedDB.open(db);
    open.onupgradeneeded = () => open.result.createObjectStore("dpop");
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
      const get = open.result.transaction("dpop").objectStore("dpop").get(0);
      get.onsuccess = () => resolve(get.result?.[1] ?? null);
      get.onerror = () => reject(get.error);
    };
  }), DB);
  return jwk && calculateJwkThumbprint(jwk, "sha256");
}

/** A DPoP client with the access token for the issuer's origin (its userinfo endpoint) and the resource API. */
const startDpopClient = (page, oidc, tokens, extra = {}) =>
  startClient(page, oidc, tokens, { bearerOrigins: [oidc.issuer, oidc.api], channelName: NAME, dpop: true, ...extra });

/** auth.fetch of the provider's userinfo endpoint. */
const userinfo = (page, oidc) => page.evaluate(async (url) => {
  const res = await window.auth.fetch(url);
  return { status: res.status, body: await res.json() };
}, `${oidc.issuer}/me`);

/** Asserts that `call` carries a well-formed proof by the key `jkt` for `method url` (and `access`). */
async function assertProof(call, jkt, method, url, access) {
  const { header, payload } = call.proof ?? {};
  assert.ok(header, `a DPoP proof on ${call.method} ${call.path}`);
  assert.equal(header.typ, "dpop+jwt");
  assert.equal(header.alg, "ES256");
  assert.equal(await calculateJwkThumbprint(header.jwk, "sha256"), jkt, "the proof is by the stored key");
  assert.equal(payload.htm, method);
  assert.equal(payload.htu, url);
  assert.equal(payload.ath, access === undefined ? undefined : ath(access));
  if (access !== undefined) assert.equal(call.authorization, `DPoP ${access}`);
}

describe("oidc-provider with DPoP", () => {
  test("bound tokens; scheduled and on-demand refreshes with proofs follow rotation; userinfo takes every access token with its proof; logout revokes and removes the key", async () => {
    const oidc = plain;
    const { context, page, calls, tokens } = await signIn(browser, oidc, redirectUri, { dpop: NAME });
    try {
      assert.equal(tokens.token_type, "DPoP");
      const jkt = await storedJkt(page);
      assert.ok(jkt, "a key in IndexedDB");
      assert.equal((await oidc.provider.AccessToken.find(tokens.access_token))?.jkt, jkt, "the access token is bound to the key");
      assert.equal((await oidc.provider.RefreshToken.find(tokens.refresh_token))?.jkt, jkt, "the refresh token is bound to the key (public client)");
      await startDpopClient(page, oidc, tokens);

      assert.deepEqual(await userinfo(page, oidc), { status: 200, body: { sub: "demo" } });
      await answered(calls);
      assert.deepEqual(calls.map((c) => [c.method, c.path, c.status]), [["GET", "/me", 200]], "one userinfo call, no refresh");
      await assertProof(calls[0], jkt, "GET", `${oidc.issuer}/me`, tokens.access_token);

      // On schedule, then on demand (a scheduled one may slip in on a slow machine: at least one more).
      await page.waitForFunction(() => window.events.some((e) => e.type === "refresh"), null, { timeout: ACCESS_TTL * 3000 });
      const before = await page.evaluate(() => window.auth.refreshCount);
      await page.evaluate(() => window.auth.refresh());
      const count = await page.evaluate(() => window.auth.refreshCount);
      assert.ok(count >= before + 1 && before >= 1, `${before} then ${count} refreshes`);
      assert.deepEqual(await page.evaluate(() => window.events.map((e) => [e.type, e.source])), Array.from({ length: count }, () => ["refresh", "network"]));

      await answered(calls);
      const refreshes = calls.filter((c) => c.path === "/token");
      assert.equal(refreshes.length, count);
      let current = tokens.refresh_token, access;
      for (const r of refreshes) {
        assert.deepEqual(r.form, { grant_type: "refresh_token", refresh_token: current, client_id: CLIENT_ID, scope: "openid offline_access" });
        await assertProof(r, jkt, "POST", `${oidc.issuer}/token`);
        assert.equal(r.status, 200, JSON.stringify(r.body));
        assert.equal(r.body.token_type, "DPoP");
        assert.ok(r.body.refresh_token && r.body.refresh_token !== current, "the provider rotated the refresh token");
        current = r.body.refresh_token; // the next request must present the rotated one
        access = r.body.access_token;
        assert.equal((await oidc.provider.RefreshToken.find(current))?.jkt, jkt, "the rotated refresh token stays bound");
      }
      assert.equal(new Set(refreshes.map((r) => r.proof.payload.jti)).size, refreshes.length, "a fresh jti per proof");

      assert.deepEqual(await userinfo(page, oidc), { status: 200, body: { sub: "demo" } });
      await answered(calls);
      await assertProof(calls.at(-1), jkt, "GET", `${oidc.issuer}/me`, access);
      // A server without nonces: no proof carries one, nothing was sent twice.
      assert.deepEqual(calls.filter((c) => c.status !== 200 || c.proof.payload.nonce !== undefined), []);

      assert.equal(await page.evaluate(() => window.auth.logout()), true);
      await answered(calls);
      const revocations = calls.filter((c) => c.path === "/token/revocation");
      assert.equal(revocations.length, 1);
      assert.deepEqual(revocations[0].form, { token: current, token_type_hint: "refresh_token", client_id: CLIENT_ID });
      assert.equal(revocations[0].status, 200);
      assert.equal(await oidc.provider.RefreshToken.find(current), undefined, "the provider forgot the token");
      await page.waitForFunction((db) => new Promise((resolve) => {
        const open = indexedDB.open(db);
        open.onsuccess = () => {
          const get = open.result.transaction("dpop").objectStore("dpop").get(0);
          get.onsuccess = () => resolve(get.result === undefined);
        };
      }), DB, { timeout: 20_000 });
      assert.equal(await storedJkt(page), null, "logout removed the key");
    } finally {
      await context.close();
    }
  });

  test("a refresh token copied out of storage is refused with another key's proof and without a proof; the key holder still refreshes with it", async () => {
    const oidc = plain;
    const { context, page, calls, tokens } = await signIn(browser, oidc, redirectUri, { dpop: NAME });
    try {
      await startDpopClient(page, oidc, tokens, { storage: "local" });
      const stolen = await page.evaluate((name) => localStorage.getItem(name + ":refresh_token"), NAME);
      assert.equal(stolen, tokens.refresh_token, "the refresh token as stored");
      const thief = await generateKeyPair("ES256");
      const present = async (headers) => {
        const res = await fetch(`${oidc.issuer}/token`, {
          method: "POST", headers,
          body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: stolen, client_id: CLIENT_ID }),
        });
        return { status: res.status, error: (await res.json()).error };
      };
      assert.deepEqual(await present({ dpop: await generateProof(thief, `${oidc.issuer}/token`, "POST") }), { status: 400, error: "invalid_grant" });
      assert.deepEqual(await present({}), { status: 400, error: "invalid_grant" });
      // The thief's proof is one the provider takes: with it, a refresh token of the thief's own
      // binding would be accepted. Here the refusal is the binding's: the token is live, and the
      // key holder refreshes with it.
      await page.evaluate(() => window.auth.refresh());
      await answered(calls);
      const refreshes = calls.filter((c) => c.path === "/token");
      assert.equal(refreshes.length, 1);
      assert.equal(refreshes[0].form.refresh_token, stolen);
      assert.equal(refreshes[0].status, 200, JSON.stringify(refreshes[0].body));
      assert.equal(refreshes[0].body.token_type, "DPoP");
      await page.evaluate(() => window.auth.dispose());
    } finally {
      await context.close();
    }
  });

  test("server nonces at the token endpoint: the first refresh is answered 400 use_dpop_nonce and sent again exactly once with the nonce; later requests carry it", async () => {
    const oidc = nonced;
    const { context, page, calls, tokens } = await signIn(browser, oidc, redirectUri, { dpop: NAME });
    try {
      assert.equal(tokens.token_type, "DPoP");
      const jkt = await storedJkt(page);
      await startDpopClient(page, oidc, tokens);
      await page.evaluate(() => window.auth.refresh());
      await answered(calls);
      const [first, second, ...more] = calls;
      assert.deepEqual(more, [], "one retry, not more");
      assert.deepEqual([first?.path, first?.status, first?.body?.error], ["/token", 400, "use_dpop_nonce"]);
      assert.equal(first.proof.payload.nonce, undefined, "the package knew no nonce yet");
      assert.ok(first.nonce, "the provider sent a DPoP-Nonce");
      assert.deepEqual([second?.path, second?.status], ["/token", 200], JSON.stringify(second?.body));
      await assertProof(second, jkt, "POST", `${oidc.issuer}/token`);
      assert.equal(second.proof.payload.nonce, first.nonce, "the retry carries the provider's nonce");
      assert.notEqual(second.proof.payload.jti, first.proof.payload.jti, "a new proof");
      assert.deepEqual(second.form, first.form, "the same request");
      assert.equal(second.body.token_type, "DPoP");
      assert.deepEqual(await page.evaluate(() => window.events.map((e) => [e.type, e.source])), [["refresh", "network"]]);

      // The nonce is remembered for the origin: the resource and the next refresh need no retry.
      const nonce = second.nonce ?? first.nonce;
      assert.deepEqual(await userinfo(page, oidc), { status: 200, body: { sub: "demo" } });
      await page.evaluate(() => window.auth.refresh());
      await answered(calls);
      assert.deepEqual(calls.slice(2).map((c) => [c.path, c.status, c.proof?.payload.nonce]), [["/me", 200, nonce], ["/token", 200, nonce]]);
      await assertProof(calls[2], jkt, "GET", `${oidc.issuer}/me`, second.body.access_token);
      await page.evaluate(() => window.auth.dispose());
    } finally {
      await context.close();
    }
  });

  test("server nonces at the resource: the first userinfo call is answered 401 use_dpop_nonce and sent again exactly once with the nonce; the refresh after it carries it", async () => {
    const oidc = nonced;
    const { context, page, calls, tokens } = await signIn(browser, oidc, redirectUri, { dpop: NAME });
    try {
      const jkt = await storedJkt(page);
      await startDpopClient(page, oidc, tokens);
      assert.deepEqual(await userinfo(page, oidc), { status: 200, body: { sub: "demo" } });
      await answered(calls);
      const [first, second, ...more] = calls;
      assert.deepEqual(more, [], "one retry, not more, and no refresh");
      assert.deepEqual([first?.path, first?.status], ["/me", 401]);
      assert.match(first.wwwAuthenticate ?? "", /^DPoP .*error="use_dpop_nonce"/);
      assert.equal(first.proof.payload.nonce, undefined, "the package knew no nonce yet");
      assert.ok(first.nonce, "the provider sent a DPoP-Nonce");
      assert.deepEqual([second?.path, second?.status], ["/me", 200]);
      await assertProof(second, jkt, "GET", `${oidc.issuer}/me`, tokens.access_token);
      assert.equal(second.proof.payload.nonce, first.nonce, "the retry carries the provider's nonce");
      assert.notEqual(second.proof.payload.jti, first.proof.payload.jti, "a new proof");
      assert.equal(await page.evaluate(() => window.auth.refreshCount), 0);

      await page.evaluate(() => window.auth.refresh());
      await answered(calls);
      assert.deepEqual(calls.slice(2).map((c) => [c.path, c.status, c.proof?.payload.nonce]), [["/token", 200, second.nonce ?? first.nonce]]);

      // A resource that asks for a new nonce every time gets one retry per request, never more:
      // the 401 then goes the way of any 401 (one refresh, one replay, again with one retry).
      const status = await page.evaluate(async (url) => (await window.auth.fetch(url)).status, `${oidc.api}/api/nonce-again`);
      assert.equal(status, 401);
      const asked = oidc.seen.nonceAgain.splice(0);
      assert.equal(asked.length, 4, "two sends of one retry each");
      const nonces = asked.map((a) => JSON.parse(Buffer.from(a.dpop.split(".")[1], "base64url")).nonce);
      assert.deepEqual([nonces[1], nonces[3]], [asked[0].nonce, asked[2].nonce], "each retry with the nonce just given");
      await answered(calls);
      assert.deepEqual(calls.slice(3).map((c) => [c.path, c.status]), [["/token", 200]], "one refresh for the 401");
      await page.evaluate(() => window.auth.dispose());
    } finally {
      await context.close();
    }
  });
});
