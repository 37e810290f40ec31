// Rotation, grace replay, reuse detection, races and key rotation against the real Worker; access
// tokens are verified from the JWKS with the independent `jose` library.
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { createLocalJWKSet, createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from "jose";
import { after, before, describe, test } from "../support/test.mjs";
import { generateSecrets, startWorker } from "../support/worker.mjs";
import { call, isError, isTokens, refresh, session, sleep } from "./helpers.mjs";

// An issuer other than the Worker's own URL (loopback: the demo user is only honoured there).
const ISSUER = "http://localhost:9";
const AUDIENCE = "api.test";
let w;
before(async () => {
  w = await startWorker({ vars: { GRACE_SECONDS: "2", ISSUER, AUDIENCE } });
});
after(async () => {
  await w?.stop();
});

const claimsOf = (jwt) => JSON.parse(Buffer.from(jwt.split(".")[1], "base64url"));

async function verifyWithJose(token, url = w.url) {
  const jwks = createRemoteJWKSet(new URL(`${url}/.well-known/jwks.json`));
  return jwtVerify(token, jwks, { issuer: ISSUER, audience: AUDIENCE, algorithms: ["EdDSA"], typ: "at+jwt" });
}

describe("rotation and reuse", () => {
  test("login → refresh → rotate → reuse → family revoked", async () => {
    const t0 = isTokens(await call(w, "POST", "/auth/login", { json: { username: "demo", password: "demo-password" } })).refresh_token;
    const t1 = isTokens(await refresh(w, t0)).refresh_token;
    const t2 = isTokens(await refresh(w, t1)).refresh_token;
    assert.equal(new Set([t0, t1, t2]).size, 3);
    // t0 is two generations old: reuse, even inside the grace window.
    isError(await refresh(w, t0), 400, "invalid_grant", "reuse");
    isError(await refresh(w, t2), 400, "invalid_grant", "current token of a revoked family");
    isError(await refresh(w, t1), 400, "invalid_grant");
  });

  test("the immediate predecessor inside the grace window gets the same successor", async () => {
    const t = await session(w);
    const first = isTokens(await refresh(w, t.refresh_token));
    const again = isTokens(await refresh(w, t.refresh_token));
    assert.equal(again.refresh_token, first.refresh_token);
    assert.notEqual(again.access_token, first.access_token, "a fresh access token each time");
    isTokens(await refresh(w, first.refresh_token));
  });

  test("the predecessor after the grace window is reuse and revokes the family", async () => {
    const t = await session(w);
    const t1 = isTokens(await refresh(w, t.refresh_token)).refresh_token;
    await sleep(3200); // grace is 2 s here
    isError(await refresh(w, t.refresh_token), 400, "invalid_grant");
    isError(await refresh(w, t1), 400, "invalid_grant");
  });

  test("access tokens verify with jose from the JWKS, and carry the documented claims", async () => {
    const t = await session(w, "jose-user", { plan: "pro" });
    const { payload, protectedHeader } = await verifyWithJose(t.access_token);
    assert.equal(protectedHeader.alg, "EdDSA");
    assert.equal(protectedHeader.typ, "at+jwt");
    assert.ok(protectedHeader.kid);
    assert.equal(payload.sub, "jose-user");
    assert.equal(payload.plan, "pro");
    assert.equal(payload.exp - payload.iat, 900);
    assert.ok(payload.jti);
    const next = isTokens(await refresh(w, t.refresh_token));
    assert.equal((await verifyWithJose(next.access_token)).payload.plan, "pro");
    await assert.rejects(verifyWithJose(`${t.access_token.slice(0, -4)}AAAA`));
  });
});

describe("races", () => {
  for (const n of [20, 50]) {
    test(`${n} concurrent refreshes of one token: one successor, and every answer inside the grace window a 200`, async () => {
      const t = await session(w);
      const start = performance.now();
      const results = await Promise.all(Array.from({ length: n }, async () => {
        const r = await refresh(w, t.refresh_token);
        return Object.assign(r, { at: performance.now() - start });
      }));
      // The successor is a function of the token (an HMAC), so there is one by design; what a
      // race could break is the answers. The rotation happened after the first request was
      // sent, so every request answered within the grace window (2 s) of that moment reached the
      // Worker inside it: the winner or a grace replay, 200 in both stores. A later one (a slow
      // machine) may be refused as reuse.
      const successors = new Set();
      for (const r of results) {
        if (r.status === 200) successors.add(r.body.refresh_token);
        else if (r.at < 2000) assert.fail(`answered ${r.status} after ${Math.round(r.at)} ms, inside the grace window`);
        else isError(r, 400, "invalid_grant", "a concurrent refresh after the grace window");
      }
      assert.equal(successors.size, 1, `successors: ${successors.size}`);
      assert.ok(results.some((r) => r.at < 2000), "at least one answer inside the grace window");
      for (const r of results.filter((r) => r.status === 200)) await verifyWithJose(r.body.access_token);
      if (results.every((r) => r.status === 200)) {
        // The family goes on through the successor.
        const [s] = successors;
        isTokens(await refresh(w, isTokens(await refresh(w, s)).refresh_token));
      }
    });
  }

  test("concurrent logout and refresh: the family ends revoked", async () => {
    for (let i = 0; i < 5; i++) {
      const t = await session(w);
      const [out, ref] = await Promise.all([
        call(w, "POST", "/auth/logout", { json: { refresh_token: t.refresh_token } }),
        refresh(w, t.refresh_token),
      ]);
      assert.equal(out.status, 200);
      isError(await refresh(w, t.refresh_token), 400, "invalid_grant");
      // The refresh either won the race (its successor is dead now too) or was refused.
      if (ref.status === 200) isError(await refresh(w, ref.body.refresh_token), 400, "invalid_grant");
      else isError(ref, 400, "invalid_grant", "the refresh that lost the race");
    }
  });

  test("concurrent logins of one user within the throttle's free attempts all succeed", async () => {
    const bearer = w.adminToken;
    assert.equal((await call(w, "POST", "/auth/users", { bearer, json: { username: "crowd", password: "crowd-password" } })).status, 201);
    // Five: the account's free attempts (every attempt counts until its success is known).
    const results = await Promise.all(Array.from({ length: 5 }, () => call(w, "POST", "/auth/login", { json: { username: "crowd", password: "crowd-password" } })));
    const tokens = results.map((r) => isTokens(r));
    assert.equal(new Set(tokens.map((t) => t.refresh_token)).size, 5, "one family per login");
    for (const t of tokens) assert.equal((await verifyWithJose(t.access_token)).payload.sub, "crowd");
  });

  test("concurrent first logins of the demo user seed it consistently", async () => {
    // A fresh Worker: on the shared one the demo user was seeded by an earlier test.
    const fresh = await startWorker({ vars: { ISSUER, AUDIENCE } });
    try {
      const login = () => call(fresh, "POST", "/auth/login", { json: { username: "demo", password: "demo-password" } });
      const first = await Promise.all(Array.from({ length: 5 }, login));
      for (const r of first) assert.equal(claimsOf(isTokens(r).access_token).sub, "demo");
      // The record they wrote is a valid one: a later login checks the password against it.
      assert.equal(claimsOf(isTokens(await login()).access_token).sub, "demo");
      isError(await call(fresh, "POST", "/auth/login", { json: { username: "demo", password: "wrong-password" } }), 401, "invalid_credentials");
    } finally {
      await fresh.stop();
    }
  });
});

describe("signing-key rotation", () => {
  test("a new key signs while tokens of the previous key still verify", async () => {
    const oldSecrets = generateSecrets();
    const a = await startWorker({ vars: { ISSUER, AUDIENCE }, secrets: oldSecrets });
    let b;
    try {
      const old = await session(a, "rotating");
      const { privateKey } = generateKeyPairSync("ed25519");
      const jwk = privateKey.export({ format: "jwk" });
      const newKey = { kid: "next", kty: "OKP", crv: "Ed25519", x: jwk.x, d: jwk.d };
      const keys = JSON.stringify([newKey, ...JSON.parse(oldSecrets.SIGNING_KEYS)]);
      b = await startWorker({ vars: { ISSUER, AUDIENCE }, secrets: { ...oldSecrets, SIGNING_KEYS: keys } });
      // The old token still works at the rotated deployment ...
      const me = await call(b, "GET", "/api/me", { bearer: old.access_token });
      assert.equal(me.status, 200);
      // ... which signs with the new key and publishes both.
      const fresh = await session(b, "rotating");
      assert.equal(decodeProtectedHeader(fresh.access_token).kid, "next");
      const jwks = (await call(b, "GET", "/.well-known/jwks.json")).body;
      assert.deepEqual(jwks.keys.map((k) => k.kid), ["next", JSON.parse(oldSecrets.SIGNING_KEYS)[0].kid]);
      const local = createLocalJWKSet(jwks);
      for (const t of [old.access_token, fresh.access_token]) {
        await jwtVerify(t, local, { issuer: ISSUER, audience: AUDIENCE, algorithms: ["EdDSA"], typ: "at+jwt" });
      }
    } finally {
      await a.stop();
      await b?.stop();
    }
  });
});
