// DPoP (RFC 9449) against the real Worker: bound login and sessions, rotation with proofs,
// theft with another key, missing and invalid proofs, replayed proofs, and the resource
// /api/me with DPoP-bound access tokens. Proofs are made here with Node's WebCrypto (ES256,
// non-extractable keys), independently of the Worker's code.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { after, before, describe, test } from "../support/test.mjs";
import { startWorker } from "../support/worker.mjs";
import { call, expectNoGrace, isError } from "./helpers.mjs";

let w;
before(async () => {
  w = await startWorker({ vars: { GRACE_SECONDS: "5" } });
});
after(async () => {
  await w?.stop();
});

const b64u = (bytes) => Buffer.from(bytes).toString("base64url");
const json64 = (value) => b64u(JSON.stringify(value));
const sha256 = (text) => createHash("sha256").update(text).digest();
const nowSec = () => Math.floor(Date.now() / 1000);

/** A client key: a non-extractable ECDSA P-256 pair, its public JWK and RFC 7638 thumbprint. */
async function newKey() {
  const pair = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign", "verify"]);
  const { crv, kty, x, y } = await crypto.subtle.exportKey("jwk", pair.publicKey);
  const jwk = { kty, crv, x, y };
  // RFC 7638: the required members in lexicographic order, no whitespace.
  const jkt = b64u(sha256(JSON.stringify({ crv, kty, x, y })));
  return { pair, jwk, jkt };
}

/** A DPoP proof for `method url`; `opts` overrides header or claims to make one thing wrong. */
async function proof(key, method, url, opts = {}) {
  const header = { typ: "dpop+jwt", alg: "ES256", jwk: key.jwk, ...opts.header };
  const ath = opts.accessToken ? { ath: b64u(sha256(opts.accessToken)) } : {};
  const claims = { jti: b64u(crypto.getRandomValues(new Uint8Array(16))), htm: method, htu: url, iat: nowSec(), ...ath, ...opts.claims };
  const input = `${json64(header)}.${json64(claims)}`;
  const sig = await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, (opts.signer ?? key).pair.privateKey, new TextEncoder().encode(input));
  return `${input}.${b64u(new Uint8Array(sig))}`;
}

// The helpers below talk to `w` unless given another instance (`on`).
const url = (path, on = w) => `${on.url}${path}`;

/** POST /auth/refresh with a JSON body and, when given, a DPoP header. */
async function refresh(token, dpop, on = w) {
  return call(on, "POST", "/auth/refresh", { json: { refresh_token: token }, headers: dpop ? { dpop } : {} });
}

async function refreshWith(key, token, on = w) {
  return refresh(token, await proof(key, "POST", url("/auth/refresh", on)), on);
}

/** GET /api/me with `Authorization: DPoP` and a proof naming the token. */
async function me(key, accessToken, opts = {}) {
  const dpop = await proof(key, "GET", url("/api/me"), { accessToken, ...opts });
  return call(w, "GET", "/api/me", { headers: { authorization: `DPoP ${accessToken}`, dpop } });
}

function claimsOf(accessToken) {
  return JSON.parse(Buffer.from(accessToken.split(".")[1], "base64url"));
}

/** Asserts a DPoP-bound token response for `key`; returns the body. */
function isBoundTokens(res, key, what = "") {
  assert.equal(res.status, 200, `${what}: status (body ${res.text})`);
  assert.equal(res.body.token_type, "DPoP", what);
  assert.match(res.body.refresh_token, /^srt_[A-Za-z0-9_-]{64}$/, what);
  assert.equal(claimsOf(res.body.access_token).cnf?.jkt, key.jkt, `${what}: cnf.jkt is the key's thumbprint`);
  return res.body;
}

async function boundLogin(key, on = w) {
  const dpop = await proof(key, "POST", url("/auth/login", on));
  const res = await call(on, "POST", "/auth/login", { json: { username: "demo", password: "demo-password" }, headers: { dpop } });
  return isBoundTokens(res, key, "bound login");
}

/** A 401 from a resource with a DPoP challenge naming `error` and the algorithms. */
function isDpopChallenge(res, error, what) {
  isError(res, 401, error, what);
  const challenge = res.headers.get("www-authenticate") ?? "";
  assert.match(challenge, new RegExp(`^DPoP error="${error}"`), `${what}: ${challenge}`);
  assert.match(challenge, /algs="ES256"/, `${what}: ${challenge}`);
}

describe("DPoP at the token endpoints", () => {
  test("login and sessions with a proof bind the family; without one they stay Bearer", async () => {
    const key = await newKey();
    await boundLogin(key);
    const dpop = await proof(key, "POST", url("/auth/sessions"));
    const res = await call(w, "POST", "/auth/sessions", { bearer: w.adminToken, json: { sub: "bob" }, headers: { dpop } });
    isBoundTokens(res, key, "bound session");
    const plain = await call(w, "POST", "/auth/login", { json: { username: "demo", password: "demo-password" } });
    assert.equal(plain.body.token_type, "Bearer");
    assert.equal(claimsOf(plain.body.access_token).cnf, undefined);
  });

  test("a bound family rotates with proofs by its key", async () => {
    const key = await newKey();
    const t0 = (await boundLogin(key)).refresh_token;
    const t1 = isBoundTokens(await refreshWith(key, t0), key, "first rotation").refresh_token;
    const t2 = isBoundTokens(await refreshWith(key, t1), key, "second rotation").refresh_token;
    assert.equal(new Set([t0, t1, t2]).size, 3);
  });

  test("the refresh token with another key's proof is theft: invalid_grant, family ended", async () => {
    const key = await newKey();
    const thief = await newKey();
    const t0 = (await boundLogin(key)).refresh_token;
    isError(await refreshWith(thief, t0), 400, "invalid_grant", "thief's key");
    isError(await refreshWith(key, t0), 400, "invalid_grant", "the family is over for everyone");
  });

  test("a grace replay is granted to the same key only", async () => {
    const key = await newKey();
    const thief = await newKey();
    const t0 = (await boundLogin(key)).refresh_token;
    const first = isBoundTokens(await refreshWith(key, t0), key, "rotation");
    const again = isBoundTokens(await refreshWith(key, t0), key, "grace replay, same key");
    assert.equal(again.refresh_token, first.refresh_token);
    isError(await refreshWith(thief, t0), 400, "invalid_grant", "grace replay, other key");
    isError(await refreshWith(key, first.refresh_token), 400, "invalid_grant", "family ended");
  });

  test("a proof is single use: the same proof again is refused", async () => {
    const key = await newKey();
    const t0 = (await boundLogin(key)).refresh_token;
    const p = await proof(key, "POST", url("/auth/refresh"));
    const t1 = isBoundTokens(await refresh(t0, p), key, "first use").refresh_token;
    isError(await refresh(t1, p), 400, "invalid_dpop_proof", "replayed proof");
    // Within the grace window too: the captured request replayed as a whole.
    isError(await refresh(t0, p), 400, "invalid_dpop_proof", "replayed request");
    isBoundTokens(await refreshWith(key, t1), key, "a fresh proof works");
  });

  test("an invalid proof at login issues nothing; the preflight allows the DPoP header", async () => {
    const key = await newKey();
    const dpop = await proof(key, "POST", url("/auth/refresh"));
    const res = await call(w, "POST", "/auth/login", { json: { username: "demo", password: "demo-password" }, headers: { dpop } });
    isError(res, 400, "invalid_dpop_proof", "login proof for another endpoint");
    const pre = await call(w, "OPTIONS", "/auth/refresh", {
      headers: { origin: "http://127.0.0.1:8787", "access-control-request-method": "POST", "access-control-request-headers": "content-type, dpop" },
    });
    assert.equal(pre.status, 204);
    assert.match(pre.headers.get("access-control-allow-headers") ?? "", /\bDPoP\b/);
  });
});

describe("DPoP: refused requests change nothing", () => {
  // Grace 0 (see expectNoGrace): had a refused request rotated t0, the follow-up would be reuse.
  let w0;
  before(async () => {
    w0 = await startWorker({ vars: { GRACE_SECONDS: "0" } });
  });
  after(async () => {
    await w0?.stop();
  });

  test("a missing proof is invalid_dpop_proof and leaves the session alive", async () => {
    const key = await newKey();
    const t0 = (await boundLogin(key, w0)).refresh_token;
    isError(await refresh(t0, undefined, w0), 400, "invalid_dpop_proof", "no proof");
    expectNoGrace(w0);
    isBoundTokens(await refreshWith(key, t0, w0), key, "then with a proof");
  });

  test("invalid proofs are invalid_dpop_proof and change nothing", async () => {
    const key = await newKey();
    const other = await newKey();
    const t0 = (await boundLogin(key, w0)).refresh_token;
    const refreshUrl = url("/auth/refresh", w0);
    const good = await proof(key, "POST", refreshUrl);
    const [h, p] = good.split(".");
    const cases = {
      "htu of another endpoint": await proof(key, "POST", url("/auth/login", w0)),
      "htu of another host": await proof(key, "POST", "https://elsewhere.test/auth/refresh"),
      "htm GET": await proof(key, "GET", refreshUrl),
      "iat 5 minutes old": await proof(key, "POST", refreshUrl, { claims: { iat: nowSec() - 300 } }),
      "iat 5 minutes ahead": await proof(key, "POST", refreshUrl, { claims: { iat: nowSec() + 300 } }),
      "typ JWT": await proof(key, "POST", refreshUrl, { header: { typ: "JWT" } }),
      "alg none": `${json64({ typ: "dpop+jwt", alg: "none", jwk: key.jwk })}.${p}.`,
      "signed by another key": await proof(key, "POST", refreshUrl, { signer: other }),
      "bad signature": `${h}.${p}.${b64u(new Uint8Array(64))}`,
      "private key in jwk": await proof(key, "POST", refreshUrl, { header: { jwk: { ...key.jwk, d: b64u(new Uint8Array(32).fill(1)) } } }),
      "two DPoP headers": `${good}, ${good}`,
      "not a JWS": "garbage",
    };
    for (const [what, dpop] of Object.entries(cases)) {
      isError(await refresh(t0, dpop, w0), 400, "invalid_dpop_proof", what);
    }
    // Nothing happened to the family: t0 is still the current token.
    expectNoGrace(w0);
    isBoundTokens(await refreshWith(key, t0, w0), key, "after the refused proofs");
  });
});

describe("DPoP at the resource", () => {
  test("a bound access token works with its proof and is refused as Bearer", async () => {
    const key = await newKey();
    const { access_token: at } = await boundLogin(key);
    const ok = await me(key, at);
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.body.cnf.jkt, key.jkt);
    isDpopChallenge(await call(w, "GET", "/api/me", { bearer: at }), "invalid_token", "bound token as Bearer");
  });

  test("missing, mismatched or replayed proofs are refused with a DPoP challenge", async () => {
    const key = await newKey();
    const other = await newKey();
    const { access_token: at } = await boundLogin(key);
    const noProof = await call(w, "GET", "/api/me", { headers: { authorization: `DPoP ${at}` } });
    isDpopChallenge(noProof, "invalid_dpop_proof", "no proof");
    isDpopChallenge(await me(key, at, { claims: { ath: b64u(sha256("another token")) } }), "invalid_dpop_proof", "wrong ath");
    const noAth = await proof(key, "GET", url("/api/me"));
    isDpopChallenge(await call(w, "GET", "/api/me", { headers: { authorization: `DPoP ${at}`, dpop: noAth } }), "invalid_dpop_proof", "no ath");
    isDpopChallenge(await me(other, at), "invalid_token", "proof by another key");
    const once = await proof(key, "GET", url("/api/me"), { accessToken: at });
    const headers = { authorization: `DPoP ${at}`, dpop: once };
    assert.equal((await call(w, "GET", "/api/me", { headers })).status, 200);
    isDpopChallenge(await call(w, "GET", "/api/me", { headers }), "invalid_dpop_proof", "replayed proof");
  });

  test("a Bearer token presented as DPoP is refused; Bearer tokens work as before", async () => {
    const key = await newKey();
    const plain = await call(w, "POST", "/auth/login", { json: { username: "demo", password: "demo-password" } });
    const at = plain.body.access_token;
    isDpopChallenge(await me(key, at), "invalid_token", "Bearer token with the DPoP scheme");
    assert.equal((await call(w, "GET", "/api/me", { bearer: at })).status, 200);
  });

  test("logout-all takes a bound token with its proof", async () => {
    const key = await newKey();
    const { access_token: at, refresh_token: rt } = await boundLogin(key);
    isDpopChallenge(await call(w, "POST", "/auth/logout-all", { bearer: at }), "invalid_token", "as Bearer");
    const dpop = await proof(key, "POST", url("/auth/logout-all"), { accessToken: at });
    const res = await call(w, "POST", "/auth/logout-all", { headers: { authorization: `DPoP ${at}`, dpop } });
    assert.equal(res.status, 200, res.text);
    isError(await refreshWith(key, rt), 400, "invalid_grant", "after logout-all");
  });
});
