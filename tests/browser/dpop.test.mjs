// Unit tests of the package's DPoP module (src/browser/dpop.js, shipped as silent_refresh_dpop.js)
// under Node: no build, no browser. Node's WebCrypto signs; Node has no IndexedDB, so `key(name,
// true, true)` keeps the key for the "page's" lifetime, as a browser that cannot store one does.
// What is checked: the proof's header and claims (RFC 9449 §4.2), the `Authorization: DPoP`
// scheme, and the nonce retry (§8, §9): once when the answer asks for one, never more. The
// Chromium scenarios and the e2e tier check proofs against the real Worker.
import { test } from "../support/test.mjs";
import assert from "node:assert/strict";
import { key, send } from "../../src/browser/dpop.js";

const b64u = (bytes) => Buffer.from(bytes).toString("base64url");
const json = (part) => JSON.parse(Buffer.from(part, "base64url"));

/** A fake fetch answering with `answers` in turn (the last one again), recording every request. */
function server(...answers) {
  const sent = [];
  const fetch = async (request) => {
    sent.push(request);
    const a = answers[Math.min(sent.length, answers.length) - 1];
    return new Response(a.body === undefined ? null : JSON.stringify(a.body), { status: a.status ?? 200, headers: a.headers });
  };
  return { fetch, sent };
}

/** A request maker as glue.js's: a new copy for each attempt. */
const maker = (url, init) => () => new Request(url, init);

/** The proof of `request` checked as a server checks it: its header, claims, and signature by its `jwk`. */
async function proof(request) {
  const [h, c, s] = request.headers.get("dpop").split(".");
  const header = json(h);
  const jwk = await crypto.subtle.importKey("jwk", header.jwk, { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"]);
  const ok = await crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, jwk, Buffer.from(s, "base64url"), new TextEncoder().encode(h + "." + c));
  assert.ok(ok, "the signature verifies with the header's key");
  return [header, json(c)];
}

test("a proof names the request, carries a public key only, and is signed by it", async () => {
  const k = await key("proofs", true, true);
  assert.ok(k, "a key for the page's lifetime where none can be stored and `dpop: true`");
  const { fetch, sent } = server({ status: 200 });
  await send(fetch, k, maker("https://api.example.com/v1/items?page=2#top", { method: "PUT" }));
  const [header, claims] = await proof(sent[0]);
  assert.equal(header.typ, "dpop+jwt");
  assert.equal(header.alg, "ES256");
  assert.deepEqual(Object.keys(header.jwk).sort(), ["crv", "kty", "x", "y"], "no private member");
  assert.equal(claims.htm, "PUT");
  assert.equal(claims.htu, "https://api.example.com/v1/items", "without query and fragment");
  assert.ok(Math.abs(claims.iat - Date.now() / 1000) < 5);
  assert.match(claims.jti, /^[A-Za-z0-9_-]{22}$/, "128 random bits");
  assert.equal(claims.ath, undefined, "no access token, no ath");
  assert.equal(claims.nonce, undefined, "no nonce before the server sends one");
  assert.equal(sent[0].headers.get("authorization"), null);
  await send(fetch, k, maker("https://api.example.com/v1/items"));
  assert.notEqual((await proof(sent[1]))[1].jti, claims.jti, "a new jti for each proof");
});

test("with an access token: Authorization: DPoP and the token's hash in ath", async () => {
  const k = await key("access", true, true);
  const { fetch, sent } = server({ status: 200 });
  for (const access of ["token-1", "token-1", "token-2"]) await send(fetch, k, maker("https://api.example.com/me"), access);
  for (const [i, access] of ["token-1", "token-1", "token-2"].entries()) {
    assert.equal(sent[i].headers.get("authorization"), "DPoP " + access);
    const hash = b64u(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(access)));
    assert.equal((await proof(sent[i]))[1].ath, hash, "ath of " + access);
  }
});

test("without a key: the request as it is, no proof, and no retry", async () => {
  const { fetch, sent } = server({ status: 400, body: { error: "use_dpop_nonce" }, headers: { "DPoP-Nonce": "n" } });
  const r = await send(fetch, undefined, maker("https://nokey.example.com/token", { method: "POST" }));
  assert.equal(r.status, 400);
  assert.equal(sent.length, 1);
  assert.equal(sent[0].headers.get("dpop"), null);
});

test("a token endpoint's 400 use_dpop_nonce: one retry with the nonce, never a second", async () => {
  const k = await key("nonce-400", true, true);
  const ask = { status: 400, body: { error: "use_dpop_nonce" }, headers: { "DPoP-Nonce": "n-1" } };
  const { fetch, sent } = server(ask, { status: 200, body: { access_token: "a" } });
  const r = await send(fetch, k, maker("https://idp1.example.com/token", { method: "POST", body: "x=1" }));
  assert.equal(r.status, 200);
  assert.equal(sent.length, 2, "one retry");
  assert.equal((await proof(sent[0]))[1].nonce, undefined);
  assert.equal((await proof(sent[1]))[1].nonce, "n-1");
  assert.equal(await sent[1].text(), "x=1", "the retry is a fresh copy with its body");
  // A server that keeps asking gets its answer back after one retry.
  const again = server({ ...ask, headers: { "DPoP-Nonce": "n-2" } }, { ...ask, headers: { "DPoP-Nonce": "n-3" } }, { status: 200 });
  const last = await send(again.fetch, k, maker("https://idp1.example.com/token", { method: "POST" }));
  assert.equal(again.sent.length, 2, "never a second retry");
  assert.equal(last.status, 400);
  assert.equal((await proof(again.sent[0]))[1].nonce, "n-1", "the origin's last nonce, remembered");
  assert.equal((await proof(again.sent[1]))[1].nonce, "n-2");
});

test("a resource's 401 with WWW-Authenticate use_dpop_nonce: one retry with the nonce", async () => {
  const k = await key("nonce-401", true, true);
  const challenge = { "WWW-Authenticate": 'DPoP error="use_dpop_nonce", algs="ES256"', "DPoP-Nonce": "r-1" };
  const { fetch, sent } = server({ status: 401, headers: challenge }, { status: 200 });
  assert.equal((await send(fetch, k, maker("https://rs1.example.com/me"), "at")).status, 200);
  assert.equal(sent.length, 2);
  assert.equal((await proof(sent[1]))[1].nonce, "r-1");
  assert.equal(sent[1].headers.get("authorization"), "DPoP at");
});

test("no retry for an answer that does not ask for a nonce, or gives none", async () => {
  const k = await key("no-retry", true, true);
  const cases = [
    { status: 400, body: { error: "invalid_grant" }, headers: { "DPoP-Nonce": "x" } },
    { status: 400, body: { error: "use_dpop_nonce" } },
    { status: 401, headers: { "WWW-Authenticate": 'DPoP error="invalid_token"', "DPoP-Nonce": "x" } },
    { status: 401, headers: { "WWW-Authenticate": 'DPoP error="use_dpop_nonce"' } },
    { status: 403, body: { error: "use_dpop_nonce" }, headers: { "DPoP-Nonce": "x" } },
    { status: 400, body: "not json", headers: { "DPoP-Nonce": "x" } },
  ];
  for (const [i, answer] of cases.entries()) {
    const { fetch, sent } = server(answer, { status: 200 });
    const r = await send(fetch, k, maker(`https://case${i}.example.com/x`, { method: "POST" }), "at");
    assert.equal(sent.length, 1, JSON.stringify(answer));
    assert.equal(r.status, answer.status);
  }
});

test("a nonce is remembered per origin", async () => {
  const k = await key("origins", true, true);
  const { fetch, sent } = server({ status: 200, headers: { "DPoP-Nonce": "only-a" } });
  await send(fetch, k, maker("https://a.example.com/1"));
  await send(fetch, k, maker("https://a.example.com/2"));
  await send(fetch, k, maker("https://b.example.com/1"));
  assert.equal((await proof(sent[1]))[1].nonce, "only-a");
  assert.equal((await proof(sent[2]))[1].nonce, undefined, "not sent to another origin");
});

test("no key where none can be stored, unless `dpop: true`; and none is made unless asked", async () => {
  assert.equal(await key("unstorable", true, false), undefined);
  assert.equal(await key("not-asked", false, true), undefined);
  const k = await key("kept", true, true);
  assert.equal(await key("kept", false, false), k, "the page's key is found again");
});
