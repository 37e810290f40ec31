// Hardening on the wire, in workerd: login throttling (a Durable Object per account and per
// address), account changes that end sessions, admin routes that exist only with ADMIN_TOKEN,
// the __Host- cookie and planted cookies, invalid_grant for tokens that are not ours, the
// millisecond grace window, and unsafe configuration refused.
import assert from "node:assert/strict";
import { after, before, describe, test } from "../support/test.mjs";
import { startWorker } from "../support/worker.mjs";
import { call, isError, isTokens, refresh, session } from "./helpers.mjs";

let w;
before(async () => {
  w = await startWorker({ vars: { GRACE_SECONDS: "0" } });
});
after(async () => {
  await w?.stop();
});

let nextIp = 1;
/** A fresh client address for one test (the Worker counts attempts per address). */
const freshIp = () => `198.51.100.${nextIp++}`;
const login = (username, password, ip, extra = {}) =>
  call(w, "POST", "/auth/login", { json: { username, password, ...extra }, headers: { "cf-connecting-ip": ip } });
const createUser = async (username, password) => {
  const res = await call(w, "POST", "/auth/users", { bearer: w.adminToken, json: { username, password } });
  assert.equal(res.status, 201, res.text);
};

describe("login throttling", () => {
  test("after the free attempts an account answers 429 too_many_attempts with Retry-After", async () => {
    await createUser("victim1", "correct horse");
    const ip = freshIp();
    for (let i = 0; i < 6; i++) isError(await login("victim1", "wrong", ip), 401, "invalid_credentials", `attempt ${i + 1}`);
    const res = await login("victim1", "correct horse", ip);
    isError(res, 429, "too_many_attempts");
    assert.match(res.headers.get("retry-after") ?? "", /^[1-9][0-9]*$/);
  });

  test("the account's block holds across client addresses", async () => {
    await createUser("victim2", "correct horse");
    for (let i = 0; i < 6; i++) await login("victim2", "wrong", freshIp());
    isError(await login("victim2", "correct horse", freshIp()), 429, "too_many_attempts");
  });

  test("a successful login resets the account's counter", async () => {
    await createUser("victim3", "correct horse");
    const ip = freshIp();
    for (let i = 0; i < 4; i++) await login("victim3", "wrong", ip);
    isTokens(await login("victim3", "correct horse", ip));
    // Five more failures are free again (the sixth would set the delay).
    for (let i = 0; i < 5; i++) isError(await login("victim3", "wrong", ip), 401, "invalid_credentials", `after reset ${i + 1}`);
  });

  test("an address that logged in before passes the account's block; others wait", async () => {
    await createUser("victim4", "correct horse");
    const home = freshIp();
    isTokens(await login("victim4", "correct horse", home));
    const attacker = freshIp();
    for (let i = 0; i < 7; i++) await login("victim4", "wrong", attacker);
    isError(await login("victim4", "correct horse", attacker), 429, "too_many_attempts");
    isTokens(await login("victim4", "correct horse", home));
  });

  test("one address guessing many accounts is refused after the address's free attempts", async () => {
    const ip = freshIp();
    for (let i = 0; i < 21; i++) isError(await login(`nobody${i}`, "guess", ip), 401, "invalid_credentials", `account ${i}`);
    isError(await login("someone-else", "guess", ip), 429, "too_many_attempts");
    isError(await login("someone-else", "guess", freshIp()), 401, "invalid_credentials");
  });

  test("successful logins do not count against their address (users behind one NAT)", async () => {
    const ip = freshIp();
    for (let i = 0; i < 25; i++) isTokens(await login("demo", "demo-password", ip), {}, `login ${i + 1}`);
  });

  test("concurrent refused attempts are all 429 and do not extend the block", async () => {
    await createUser("victim5", "correct horse");
    const ip = freshIp();
    for (let i = 0; i < 6; i++) await login("victim5", "wrong", ip);
    // Concurrent refused attempts: all 429, and they do not extend the block (a refused
    // attempt changes nothing), so the Retry-After does not grow.
    const refused = await Promise.all(Array.from({ length: 10 }, () => login("victim5", "wrong", ip)));
    for (const r of refused) isError(r, 429, "too_many_attempts");
    const waits = refused.map((r) => Number(r.headers.get("retry-after")));
    assert.ok(Math.max(...waits) <= 2, `the block stays at its first delay: ${waits}`);
  });
});

describe("account changes end sessions", () => {
  test("deleting a user ends its sessions and re-creating it does not revive them", async () => {
    await createUser("leaver", "correct horse");
    const t = isTokens(await login("leaver", "correct horse", freshIp()));
    assert.equal((await call(w, "DELETE", "/auth/users/leaver", { bearer: w.adminToken })).status, 204);
    await createUser("leaver", "another horse");
    isError(await refresh(w, t.refresh_token), 400, "invalid_grant");
    isError(await call(w, "GET", "/api/me", { bearer: t.access_token }), 401, "invalid_token");
  });

  test("an admin password change ends every session; only the new password logs in", async () => {
    await createUser("changer", "correct horse");
    const ip = freshIp();
    const t = isTokens(await login("changer", "correct horse", ip));
    const res = await call(w, "PATCH", "/auth/users/changer", { bearer: w.adminToken, json: { password: "battery staple" } });
    assert.equal(res.status, 204, res.text);
    isError(await refresh(w, t.refresh_token), 400, "invalid_grant");
    isError(await login("changer", "correct horse", ip), 401, "invalid_credentials");
    isTokens(await login("changer", "battery staple", ip));
    isError(await call(w, "PATCH", "/auth/users/ghost", { bearer: w.adminToken, json: { password: "battery staple" } }), 404, "no_such_user");
  });

  test("DELETE /auth/sessions/{sub} ends every session of that subject only", async () => {
    const a = await session(w, "user:alice");
    const b = await session(w, "bob");
    const res = await call(w, "DELETE", `/auth/sessions/${encodeURIComponent("user:alice")}`, { bearer: w.adminToken });
    assert.equal(res.status, 204, res.text);
    isError(await refresh(w, a.refresh_token), 400, "invalid_grant");
    isTokens(await refresh(w, b.refresh_token));
    isError(await call(w, "DELETE", "/auth/sessions/bob", {}), 401, "unauthorized");
  });
});

describe("refresh tokens that are not ours", () => {
  test("malformed, truncated, foreign and access tokens are all invalid_grant", async () => {
    const t = await session(w);
    for (const bad of ["x", t.refresh_token.slice(0, -1), `${t.refresh_token}A`, "opaque-from-another-server", t.access_token]) {
      isError(await refresh(w, bad), 400, "invalid_grant", bad.slice(0, 12));
    }
    isError(await call(w, "POST", "/auth/refresh", { json: {} }), 400, "invalid_request", "a missing token is a malformed request");
  });
});

describe("grace window", () => {
  test("GRACE_SECONDS=0: an immediate replay of the predecessor is reuse, the family is revoked", async () => {
    const t = await session(w);
    const t1 = isTokens(await refresh(w, t.refresh_token)).refresh_token;
    isError(await refresh(w, t.refresh_token), 400, "invalid_grant");
    isError(await refresh(w, t1), 400, "invalid_grant");
  });
});

describe("configuration", () => {
  test("without ADMIN_TOKEN the admin routes answer 404 and the rest works", async () => {
    const x = await startWorker({ secrets: { ADMIN_TOKEN: null } });
    try {
      for (const [method, path] of [["POST", "/auth/users"], ["POST", "/auth/sessions"], ["DELETE", "/auth/users/demo"], ["PATCH", "/auth/users/demo"], ["DELETE", "/auth/sessions/demo"]]) {
        isError(await call(x, method, path, { bearer: "anything-at-all-here", json: {} }), 404, "not_found", `${method} ${path}`);
      }
      isTokens(await call(x, "POST", "/auth/login", { json: { username: "demo", password: "demo-password" } }));
    } finally {
      await x.stop();
    }
  });

  test("DEMO_USER with a non-loopback issuer, or a low-entropy secret, is refused naming the variable", async () => {
    const cases = [
      [{ vars: { ISSUER: "https://auth.example" } }, "DEMO_USER"],
      [{ secrets: { REFRESH_SECRET: Buffer.alloc(32).toString("base64url") } }, "REFRESH_SECRET"],
      [{ secrets: { PASSWORD_PEPPER: null } }, "PASSWORD_PEPPER"],
    ];
    for (const [options, variable] of cases) {
      const x = await startWorker({ ...options, ready: false });
      try {
        const res = await call(x, "POST", "/auth/login", { json: { username: "demo", password: "demo-password" } });
        isError(res, 503, "server_misconfigured", variable);
        assert.match(res.body.error_description, new RegExp(`: ${variable} `));
        // The Worker's console reaches wrangler's output a moment after the response.
        const logged = new RegExp(`\\{"event":"config_error","variable":"${variable}",`);
        for (let i = 0; i < 100 && !logged.test(x.logs()); i++) await new Promise((r) => setTimeout(r, 100));
        assert.match(x.logs(), logged);
      } finally {
        await x.stop();
      }
    }
  });
});

describe("cookies", () => {
  let s;
  before(async () => {
    s = await startWorker({ vars: { COOKIE_SECURE: "always" } });
  });
  after(async () => {
    await s?.stop();
  });
  const csrf = { "x-silent-refresh": "1" };

  test("a Secure deployment sets __Host-sr_refresh on Path=/ and reads only that name", async () => {
    const res = await call(s, "POST", "/auth/login", { json: { username: "demo", password: "demo-password", transport: "cookie" }, headers: csrf });
    assert.equal(res.status, 200, res.text);
    const set = res.headers.getSetCookie();
    const host = set.find((c) => c.startsWith("__Host-sr_refresh="));
    assert.ok(host, set.join("\n"));
    assert.match(host, /; Path=\/;/);
    assert.match(host, /; Secure/);
    assert.doesNotMatch(host, /Domain=/i);
    const token = host.split(";")[0].split("=")[1];
    // The unprefixed name (what a sibling subdomain could plant) is never used.
    isError(await call(s, "POST", "/auth/refresh", { cookie: `sr_refresh=${token}`, headers: csrf }), 400, "invalid_request");
    const ok = await call(s, "POST", "/auth/refresh", { cookie: `__Host-sr_refresh=${token}`, headers: csrf });
    assert.equal(ok.status, 200, ok.text);
    assert.ok(ok.headers.getSetCookie().some((c) => c.startsWith("__Host-sr_refresh=srt_")));
  });

  test("a planted unprefixed cookie beside the real one does not lock the user out, and is cleared", async () => {
    const res = await call(s, "POST", "/auth/login", { json: { username: "demo", password: "demo-password", transport: "cookie" }, headers: csrf });
    const token = res.headers.getSetCookie().find((c) => c.startsWith("__Host-sr_refresh=")).split(";")[0].split("=")[1];
    const planted = await session(s, "attacker");
    const r = await call(s, "POST", "/auth/refresh", { cookie: `sr_refresh=${planted.refresh_token}; __Host-sr_refresh=${token}`, headers: csrf });
    assert.equal(r.status, 200, r.text);
    const me = await call(s, "GET", "/api/me", { bearer: r.body.access_token });
    assert.equal(me.body.sub, "demo", "the victim stays in their own account");
    assert.ok(r.headers.getSetCookie().some((c) => /^sr_refresh=; Max-Age=0; Path=\/auth/.test(c)), "the stray cookie is cleared");
  });
});
