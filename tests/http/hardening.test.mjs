// Hardening on the wire, in workerd: account changes that end sessions, admin routes that
// exist only with ADMIN_TOKEN, the __Host- cookie and planted cookies (names with Unicode
// spaces and nameless pairs sent as raw UTF-8 bytes), invalid_grant for tokens that are not
// ours, the millisecond grace window, and unsafe configuration refused. Login throttling:
// throttle.test.mjs.
import assert from "node:assert/strict";
import { after, before, describe, test } from "../support/test.mjs";
import { startWorker } from "../support/worker.mjs";
import { call, isError, isTokens, rawCall, refresh, session } from "./helpers.mjs";

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

// Login throttling: tests/http/throttle.test.mjs.

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

  // A sibling subdomain can set any cookie whose name does not start with __Host-. workerd
  // decodes header bytes as UTF-8, so these go out as raw bytes (fetch would refuse them).
  const planted = [
    ["U+2000 before the name", "\u2000__Host-sr_refresh"],
    ["U+00A0 before the name", "\u00a0__Host-sr_refresh"],
    ["U+00A0 after the name", "__Host-sr_refresh\u00a0"],
    ["a nameless pair", "=__Host-sr_refresh"],
  ];
  const loginCookie = async () => {
    const res = await call(s, "POST", "/auth/login", { json: { username: "demo", password: "demo-password", transport: "cookie" }, headers: csrf });
    return res.headers.getSetCookie().find((c) => c.startsWith("__Host-sr_refresh=")).split(";")[0].split("=")[1];
  };
  const refreshRaw = (cookie) => rawCall(s, "POST", "/auth/refresh", { headers: { ...csrf, cookie } });

  for (const [what, name] of planted) {
    test(`a planted cookie named with ${what} does not sign a signed-out user in to the attacker's account`, async () => {
      const attacker = await session(s, "attacker");
      isError(await refreshRaw(`${name}=${attacker.refresh_token}`), 400, "invalid_request", what);
      // Positive control: the same token under the real name is read.
      const ok = await refreshRaw(`__Host-sr_refresh=${attacker.refresh_token}`);
      assert.equal(ok.status, 200, ok.text);
    });

    test(`a planted cookie named with ${what} beside the real one neither signs the user out nor swaps the account`, async () => {
      const token = await loginCookie();
      const attacker = await session(s, "attacker");
      const r = await refreshRaw(`${name}=${attacker.refresh_token}; __Host-sr_refresh=${token}`);
      assert.equal(r.status, 200, r.text);
      const me = await call(s, "GET", "/api/me", { bearer: r.body.access_token });
      assert.equal(me.body.sub, "demo", "the user stays in their own account");
    });
  }
});

describe("COOKIE_SECURE=never", () => {
  let n;
  before(async () => {
    n = await startWorker({ vars: { COOKIE_SECURE: "never" } });
  });
  after(async () => {
    await n?.stop();
  });

  test("the refresh cookie is unprefixed, without Secure, on Path=/auth, and read back under that name only", async () => {
    const csrf = { "x-silent-refresh": "1" };
    const res = await call(n, "POST", "/auth/login", { json: { username: "demo", password: "demo-password", transport: "cookie" }, headers: csrf });
    assert.equal(res.status, 200, res.text);
    const set = res.headers.getSetCookie();
    const plain = set.find((c) => c.startsWith("sr_refresh="));
    assert.ok(plain, set.join("\n"));
    assert.match(plain, /; Path=\/auth;/);
    assert.doesNotMatch(plain, /; Secure/i);
    assert.ok(!set.some((c) => c.startsWith("__Host-")), set.join("\n"));
    const token = plain.split(";")[0].split("=")[1];
    isError(await call(n, "POST", "/auth/refresh", { cookie: `__Host-sr_refresh=${token}`, headers: csrf }), 400, "invalid_request");
    const ok = await call(n, "POST", "/auth/refresh", { cookie: `sr_refresh=${token}`, headers: csrf });
    assert.equal(ok.status, 200, ok.text);
  });
});

describe("PBKDF2 above workerd's 100,000 iterations per call", () => {
  test("PBKDF2_ITERATIONS=200000: a user created at 100,000 logs in, is upgraded to 200,000 (two chained calls), and wrong passwords fail", async () => {
    const { readFileSync } = await import("node:fs");
    const { join } = await import("node:path");
    let x = await startWorker({ vars: { PBKDF2_ITERATIONS: "100000" } });
    const ip = "203.0.113.200";
    const loginX = (password) => call(x, "POST", "/auth/login", { json: { username: "chained", password }, headers: { "cf-connecting-ip": ip } });
    // The user's record as stored in the local KV (the newest blob naming it).
    const record = () => {
      const dir = join(x.stateDir, "state/v3/kv/silent-refresh-local/blobs");
      const texts = x.kvValues().map((b) => readFileSync(join(dir, b), "utf8")).filter((t) => t.includes('"kdf"'));
      return texts.map((t) => JSON.parse(t)).map((r) => r.iter);
    };
    try {
      const created = await call(x, "POST", "/auth/users", { bearer: x.adminToken, json: { username: "chained", password: "correct horse" } });
      assert.equal(created.status, 201, created.text);
      assert.deepEqual(record(), [100000]);
      await x.stop({ keepState: true });
      x = await startWorker({ vars: { PBKDF2_ITERATIONS: "200000" }, stateDir: x.stateDir, secrets: x.secrets });
      isError(await loginX("wrong horse"), 401, "invalid_credentials", "wrong password, record at 100,000");
      isTokens(await loginX("correct horse"), {}, "right password, record at 100,000");
      assert.ok(record().includes(200000), `upgraded: ${record()}`);
      isTokens(await loginX("correct horse"), {}, "right password, record at 200,000");
      isError(await loginX("correct horse!"), 401, "invalid_credentials", "wrong password, record at 200,000");
    } finally {
      await x.stop();
    }
  });
});
