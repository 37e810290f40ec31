// Ending sessions reaches every session: rotating REFRESH_SECRET (a restart with a new secret on
// the same state) ends every session, ending a subject's sessions after a rotation reaches every
// live one (strict mode routes by the secret), SESSIONS_NOT_BEFORE ends every session of the
// deployment, REQUIRE_DPOP, deleting an unknown user, and in strict mode the per-route rate limit
// and an account deletion that the object's outage interrupts and its retry finishes.
// scripts/test.sh runs this file in KV mode and in strict mode.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "../support/test.mjs";
import { startWorker } from "../support/worker.mjs";
import { call, isError, isTokens, refresh, session } from "./helpers.mjs";

const MODE = process.env.SILENT_REFRESH_ROTATION_STORE ?? "kv";
const strictOnly = MODE === "durable-object" ? false : "strict mode only (runs in the durable-object pass)";

const admin = (w, method, path, json) => call(w, method, path, { bearer: w.adminToken, json });
const me = (w, accessToken) => call(w, "GET", "/api/me", { bearer: accessToken });

/** A restart of `w` on the same state with `secrets` and `vars` changed. */
async function restart(w, { secrets = {}, vars = {} } = {}) {
  await w.stop({ keepState: true });
  return startWorker({ stateDir: w.stateDir, secrets: { ...w.secrets, ...secrets }, vars: { ...w.vars, ...vars } });
}

describe(`ending sessions (${MODE})`, () => {
  test("after REFRESH_SECRET is rotated, every old session is over and ending the subject's sessions reaches the new ones", async () => {
    let w = await startWorker();
    try {
      // An earlier logout-all gives the subject an epoch (KV's copy is what /api/me checks).
      const first = await session(w, "rotated-user");
      assert.equal((await call(w, "POST", "/auth/logout-all", { bearer: first.access_token })).status, 200);
      const old = await session(w, "rotated-user");
      const oldNext = isTokens(await refresh(w, old.refresh_token)).refresh_token;
      const bystander = await session(w, "bystander");
      w = await restart(w, { secrets: { REFRESH_SECRET: randomBytes(32).toString("base64url") } });
      // A session started after the rotation, then the subject's sessions ended.
      const fresh = await session(w, "rotated-user");
      assert.equal((await me(w, fresh.access_token)).status, 200, "a new session's access token works after the rotation");
      const freshNext = isTokens(await refresh(w, fresh.refresh_token), {}, "a new session refreshes").refresh_token;
      assert.equal((await admin(w, "DELETE", "/auth/sessions/rotated-user")).status, 204);
      isError(await refresh(w, oldNext), 400, "invalid_grant", "the session from before the rotation");
      isError(await refresh(w, freshNext), 400, "invalid_grant", "the session from after the rotation");
      isError(await me(w, fresh.access_token), 401, "invalid_token", "its access token");
      // The rotation alone ended the other subject's session, which nobody ended.
      isError(await refresh(w, bystander.refresh_token), 400, "invalid_grant", "a session of another subject");
      const again = await session(w, "rotated-user");
      assert.equal((await me(w, again.access_token)).status, 200, "the subject signs in again");
      isTokens(await refresh(w, again.refresh_token));
    } finally {
      await w.stop();
    }
  });

  test("SESSIONS_NOT_BEFORE ends every session and access token of the deployment", async () => {
    let w = await startWorker();
    try {
      const a = await session(w, "incident-a");
      const b = await session(w, "incident-b");
      const bNext = isTokens(await refresh(w, b.refresh_token)).refresh_token;
      const cutoff = Math.floor(Date.now() / 1000) + 1;
      w = await restart(w, { vars: { SESSIONS_NOT_BEFORE: String(cutoff) } });
      // Sessions started from the cutoff on live (the restart usually takes longer than this).
      while (Date.now() < cutoff * 1000) await new Promise((r) => setTimeout(r, 50));
      isError(await refresh(w, a.refresh_token), 400, "invalid_grant", "session a");
      isError(await refresh(w, bNext), 400, "invalid_grant", "session b, refreshed before the cutoff");
      isError(await me(w, a.access_token), 401, "invalid_token", "an access token from before");
      const c = await session(w, "incident-a");
      assert.equal((await me(w, c.access_token)).status, 200, "a new session's access token");
      isTokens(await refresh(w, c.refresh_token), {}, "a new session refreshes");
    } finally {
      await w.stop();
    }
  });

  test("deleting an unknown user answers 404 no_such_user, like changing its password", async () => {
    const w = await startWorker();
    try {
      isError(await admin(w, "DELETE", "/auth/users/ghost"), 404, "no_such_user", "delete");
      isError(await admin(w, "PATCH", "/auth/users/ghost", { password: "battery staple" }), 404, "no_such_user", "password");
      assert.equal((await admin(w, "POST", "/auth/users", { username: "ghost", password: "battery staple" })).status, 201);
      assert.equal((await admin(w, "DELETE", "/auth/users/ghost")).status, 204, "positive control");
      isError(await admin(w, "DELETE", "/auth/users/ghost"), 404, "no_such_user", "deleted twice");
    } finally {
      await w.stop();
    }
  });
});

// DPoP proofs, as in dpop.test.mjs.
const b64u = (bytes) => Buffer.from(bytes).toString("base64url");
const json64 = (value) => b64u(JSON.stringify(value));
async function newKey() {
  const pair = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign", "verify"]);
  const { crv, kty, x, y } = await crypto.subtle.exportKey("jwk", pair.publicKey);
  return { pair, jwk: { kty, crv, x, y }, jkt: b64u(createHash("sha256").update(JSON.stringify({ crv, kty, x, y })).digest()) };
}
async function proof(key, method, url) {
  const claims = { jti: b64u(randomBytes(16)), htm: method, htu: url, iat: Math.floor(Date.now() / 1000) };
  const input = `${json64({ typ: "dpop+jwt", alg: "ES256", jwk: key.jwk })}.${json64(claims)}`;
  const sig = await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, key.pair.privateKey, new TextEncoder().encode(input));
  return `${input}.${b64u(new Uint8Array(sig))}`;
}

describe(`REQUIRE_DPOP (${MODE})`, () => {
  test("login and sessions without a proof, and refreshes of a Bearer session, are 400 invalid_dpop_proof", async () => {
    let w = await startWorker();
    try {
      const bearer = await session(w, "policy-user");
      w = await restart(w, { vars: { REQUIRE_DPOP: "on" } });
      const login = { username: "demo", password: "demo-password" };
      isError(await call(w, "POST", "/auth/login", { json: login }), 400, "invalid_dpop_proof", "login without a proof");
      isError(await admin(w, "POST", "/auth/sessions", { sub: "policy-user" }), 400, "invalid_dpop_proof", "session without a proof");
      isError(await refresh(w, bearer.refresh_token), 400, "invalid_dpop_proof", "a Bearer session's refresh");
      const key = await newKey();
      const withProof = async (path) => ({ dpop: await proof(key, "POST", `${w.url}${path}`) });
      isError(await call(w, "POST", "/auth/refresh", { json: { refresh_token: bearer.refresh_token }, headers: await withProof("/auth/refresh") }),
        400, "invalid_dpop_proof", "a Bearer session's refresh with a proof");
      const bound = await call(w, "POST", "/auth/login", { json: login, headers: await withProof("/auth/login") });
      assert.equal(bound.status, 200, bound.text);
      assert.equal(bound.body.token_type, "DPoP");
      const next = await call(w, "POST", "/auth/refresh", { json: { refresh_token: bound.body.refresh_token }, headers: await withProof("/auth/refresh") });
      assert.equal(next.status, 200, next.text);
    } finally {
      await w.stop();
    }
  });
});

describe("strict mode: the per-route rate limit", { skip: strictOnly }, () => {
  test("tokens forged on a user's route are refused with 429 before reaching the object; other routes go on", async () => {
    const w = await startWorker({ rotationStore: "durable-object", vars: { ROUTE_RATE_LIMIT: "5" } });
    try {
      const victim = await session(w, "route-victim");
      const route = Buffer.from(victim.refresh_token.slice(4), "base64url").subarray(0, 12);
      const forged = () => `srt_${Buffer.concat([route, randomBytes(20)]).toString("base64url")}`;
      // Sent together, so that the budget (5 per 10 s, one call back every 2 s) refills little
      // meanwhile; the session's start spent one call of it.
      const started = Date.now();
      const answers = await Promise.all(Array.from({ length: 12 }, () => refresh(w, forged())));
      const refilled = Math.ceil((Date.now() - started) / 2000);
      const refused = answers.filter((res) => res.status === 429);
      for (const res of answers) {
        if (res.status === 429) {
          isError(res, 429, "too_many_requests", "forged token over the budget");
          assert.match(res.headers.get("retry-after") ?? "", /^[1-9][0-9]*$/, "Retry-After");
        } else {
          isError(res, 400, "invalid_grant", "forged token within the budget");
        }
      }
      assert.ok(answers.length - refused.length <= 4 + refilled, `${answers.length - refused.length} forged tokens reached the object`);
      assert.ok(refused.length >= 1, "some were refused");
      const other = await session(w, "route-bystander");
      isTokens(await refresh(w, other.refresh_token), {}, "another user's route is not limited");
    } finally {
      await w.stop();
    }
  });
});

describe("strict mode: account changes are retry-safe", { skip: strictOnly }, () => {
  test("the object down during DELETE /auth/users/x: 503, the user stays, and the retry ends every session", async () => {
    const healthy = await startWorker({ rotationStore: "durable-object" });
    let broken, back;
    try {
      const password = "correct horse battery";
      assert.equal((await admin(healthy, "POST", "/auth/users", { username: "leaving", password })).status, 201);
      const a = isTokens(await call(healthy, "POST", "/auth/login", { json: { username: "leaving", password } }));
      const b = isTokens(await call(healthy, "POST", "/auth/login", { json: { username: "leaving", password } }));
      await healthy.stop({ keepState: true });
      // The same state, with the object binding pointing at a script that is not running.
      const config = join(healthy.stateDir, "unreachable.wrangler.toml");
      writeFileSync(config, readFileSync("wrangler.toml", "utf8")
        .replace('class_name = "RotationObject"', 'class_name = "RotationObject"\nscript_name = "silent-refresh-not-running"')
        .replace(/^\[\[migrations\]\]\n(?:\w+ = .*\n)*/gm, "")
        .replace('main = "build/worker/index.js"', `main = "${join(process.cwd(), "build/worker/index.js")}"`)
        .replace('directory = "build/site"', `directory = "${join(process.cwd(), "build/site")}"`));
      broken = await startWorker({ config, stateDir: healthy.stateDir, secrets: healthy.secrets, vars: { ...healthy.vars } });
      isError(await admin(broken, "DELETE", "/auth/users/leaving"), 503, "temporarily_unavailable", "object down");
      await broken.stop({ keepState: true });
      back = await startWorker({ rotationStore: "durable-object", stateDir: healthy.stateDir, secrets: healthy.secrets });
      assert.equal((await admin(back, "DELETE", "/auth/users/leaving")).status, 204, "the retry");
      isError(await refresh(back, a.refresh_token), 400, "invalid_grant", "session a");
      isError(await refresh(back, b.refresh_token), 400, "invalid_grant", "session b");
      isError(await call(back, "POST", "/auth/login", { json: { username: "leaving", password } }), 401, "invalid_credentials", "the user is gone");
    } finally {
      await healthy.stop();
      await broken?.stop();
      await back?.stop();
    }
  });
});
