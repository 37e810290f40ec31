// Operating the Worker, in workerd: every security event appears in the Worker's output exactly
// once (read from wrangler's output with logs()), never with a token or secret in it; GET
// /healthz in both states; a broken variable or a missing binding answers 503
// server_misconfigured naming it; the demo user and COOKIE_SECURE=never only on a loopback host;
// and the deploy preflight (make preflight) on the shipped environments and on a correct one.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "../support/test.mjs";
import { startWorker } from "../support/worker.mjs";
import { call, isError, isTokens, refresh, session } from "./helpers.mjs";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const scratch = join(root, "target/http-tests", `ops-${process.pid}`);
mkdirSync(scratch, { recursive: true });

/** The security events in `w`'s output so far, parsed. */
function events(w) {
  const out = [];
  // wrangler colours console.error lines (ANSI escapes around the text).
  for (const line of w.logs().replace(/\x1b\[[0-9;]*m/g, "").split("\n")) {
    const at = line.indexOf('{"event":');
    if (at < 0) continue;
    try {
      out.push(JSON.parse(line.slice(at, line.lastIndexOf("}") + 1)));
    } catch {
      /* a line wrangler cut: not ours to judge */
    }
  }
  return out;
}

/** Waits until `pred(events)` holds (the console reaches wrangler's output after the response). */
async function until(w, pred, what) {
  for (let i = 0; i < 200; i++) {
    if (pred(events(w))) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`no ${what} in the log:\n${w.logs().slice(-3000)}`);
}

const subHash = (sub) => createHash("sha256").update(sub).digest().subarray(0, 12).toString("base64url");

const b64u = (bytes) => Buffer.from(bytes).toString("base64url");
const json64 = (value) => b64u(JSON.stringify(value));
async function newKey() {
  const pair = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign", "verify"]);
  const { crv, kty, x, y } = await crypto.subtle.exportKey("jwk", pair.publicKey);
  return { pair, jwk: { kty, crv, x, y } };
}
async function proof(key, method, url) {
  const header = { typ: "dpop+jwt", alg: "ES256", jwk: key.jwk };
  const claims = { jti: b64u(crypto.getRandomValues(new Uint8Array(16))), htm: method, htu: url, iat: Math.floor(Date.now() / 1000) };
  const input = `${json64(header)}.${json64(claims)}`;
  const sig = await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, key.pair.privateKey, new TextEncoder().encode(input));
  return `${input}.${b64u(new Uint8Array(sig))}`;
}

/** A request with a Host header of our choosing (fetch may not set one). */
function withHost(w, host, method, path, body, headers = {}) {
  return new Promise((ok, fail) => {
    const req = request(`${w.url}${path}`, { method, headers: { host, "content-type": "application/json", ...headers } }, (res) => {
      let text = "";
      res.on("data", (c) => (text += c));
      res.on("end", () => ok({ status: res.statusCode, headers: res.headers, body: text ? JSON.parse(text) : null }));
    });
    req.on("error", fail);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

describe("security events", () => {
  let w;
  before(async () => {
    w = await startWorker({ vars: { GRACE_SECONDS: "0" } });
  });
  after(async () => {
    await w?.stop();
  });

  test("each event appears in workerd's output exactly once, with no token or secret", async () => {
    const seen = []; // every token and secret that must never reach the log
    let adminCalls = 0;
    const admin = async (...args) => {
      adminCalls++;
      return call(w, ...args);
    };
    const begin = async (sub) => {
      adminCalls++;
      const t = await session(w, sub);
      seen.push(t.access_token, t.refresh_token);
      return t;
    };

    // Reuse: a retired token presented again (no grace window here).
    const a = await begin("ev-alice");
    const a1 = isTokens(await refresh(w, a.refresh_token));
    seen.push(a1.refresh_token, a1.access_token);
    isError(await refresh(w, a.refresh_token), 400, "invalid_grant", "reuse");
    // Logout and RFC 7009 revocation.
    const b = await begin("ev-bob");
    assert.equal((await call(w, "POST", "/auth/logout", { json: { refresh_token: b.refresh_token } })).status, 200);
    const c = await begin("ev-carol");
    assert.equal((await call(w, "POST", "/auth/revoke", { form: { token: c.refresh_token } })).status, 200);
    // A DPoP-bound session: refreshed with another key's proof (the family ends), and its
    // access token presented as Bearer at the resource.
    const key = await newKey();
    const other = await newKey();
    adminCalls++;
    const bound = await call(w, "POST", "/auth/sessions", {
      bearer: w.adminToken, json: { sub: "ev-dpop" }, headers: { dpop: await proof(key, "POST", `${w.url}/auth/sessions`) },
    });
    assert.equal(bound.status, 200, bound.text);
    seen.push(bound.body.access_token, bound.body.refresh_token);
    const stolen = await call(w, "POST", "/auth/refresh", {
      json: { refresh_token: bound.body.refresh_token }, headers: { dpop: await proof(other, "POST", `${w.url}/auth/refresh`) },
    });
    isError(stolen, 400, "invalid_grant", "refresh with another key");
    isError(await call(w, "GET", "/api/me", { bearer: bound.body.access_token }), 401, "invalid_token", "bound token as Bearer");
    // Logout-all by the user; the admin ends another subject's sessions.
    const d = await begin("ev-dave");
    assert.equal((await call(w, "POST", "/auth/logout-all", { bearer: d.access_token })).status, 200);
    assert.equal((await admin("DELETE", "/auth/sessions/ev-erin", { bearer: w.adminToken })).status, 204);
    // Account changes, and an admin call with a wrong token.
    assert.equal((await admin("POST", "/auth/users", { bearer: w.adminToken, json: { username: "ev-frank", password: "first-password" } })).status, 201);
    assert.equal((await admin("PATCH", "/auth/users/ev-frank", { bearer: w.adminToken, json: { password: "second-password" } })).status, 204);
    assert.equal((await admin("DELETE", "/auth/users/ev-frank", { bearer: w.adminToken })).status, 204);
    const wrong = "x".repeat(43);
    isError(await admin("POST", "/auth/users", { bearer: wrong, json: { username: "ev-mallory", password: "whatever-password" } }), 401, "unauthorized");
    // Throttled logins: wrong passwords for one account until the first 429.
    let throttled = 0;
    for (let i = 0; i < 25 && !throttled; i++) {
      const res = await call(w, "POST", "/auth/login", { json: { username: "ev-victim", password: `wrong-${i}-password` }, headers: { "cf-connecting-ip": "203.0.113.77" } });
      if (res.status === 429) throttled++;
      else isError(res, 401, "invalid_credentials");
    }
    assert.equal(throttled, 1, "the account was throttled");
    // A marker: once its lines are there, every earlier line is too. Its own admin_call is
    // logged by the Worker after the answer, and in strict mode its sessions_ended by the
    // subject's object, so either may be printed first: wait for both.
    assert.equal((await admin("DELETE", "/auth/sessions/ev-marker", { bearer: w.adminToken })).status, 204);
    await until(w, (es) => es.some((e) => e.event === "sessions_ended" && e.sub_hash === subHash("ev-marker"))
      && es.filter((e) => e.event === "admin_call").length >= adminCalls, "marker");

    const es = events(w);
    const count = (pred) => es.filter(pred).length;
    const revoked = (why, sub) => count((e) => e.event === "family_revoked" && e.why === why && e.sub_hash === subHash(sub));
    assert.equal(revoked("reuse", "ev-alice"), 1, "reuse");
    assert.equal(revoked("logout", "ev-bob"), 1, "logout");
    assert.equal(revoked("revoke", "ev-carol"), 1, "revoke");
    assert.equal(revoked("dpop_key_mismatch", "ev-dpop"), 1, "refresh with another key");
    assert.equal(count((e) => e.event === "family_revoked"), 4, "no other revocation");
    assert.ok(es.filter((e) => e.event === "family_revoked").every((e) => /^[A-Za-z0-9_-]{16,}$/.test(e.family)), "family ids");
    assert.equal(count((e) => e.event === "dpop_key_mismatch" && e.path === "/api/me"), 1, "dpop_key_mismatch");
    assert.equal(count((e) => e.event === "sessions_ended" && e.by === "logout_all" && e.sub_hash === subHash("ev-dave")), 1, "logout-all");
    assert.equal(count((e) => e.event === "sessions_ended" && e.by === "admin" && e.sub_hash === subHash("ev-erin")), 1, "admin end");
    assert.equal(count((e) => e.event === "sessions_ended"), 3, "no other end of sessions");
    for (const name of ["user_created", "password_changed", "user_deleted"]) {
      assert.equal(count((e) => e.event === name && e.sub_hash === subHash("ev-frank")), 1, name);
      assert.equal(count((e) => e.event === name), 1, `${name}: once`);
    }
    assert.equal(count((e) => e.event === "admin_call"), adminCalls, "one admin_call per admin request");
    assert.equal(count((e) => e.event === "admin_call" && e.status === 401 && e.route === "/auth/users" && e.method === "POST"), 1, "refused admin call");
    assert.equal(count((e) => e.event === "login_throttled" && e.account_hash === subHash("ev-victim")), 1, "login_throttled");
    assert.equal(count((e) => e.event === "config_error" || e.event === "demo_user_refused"), 0);
    // Nothing secret: no token, no admin token, no secret, no subject in clear.
    const lines = w.logs().split("\n").filter((l) => l.includes('{"event":'));
    for (const l of lines) {
      for (const s of [...seen, w.adminToken, wrong, ...Object.values(w.secrets)]) assert.ok(!l.includes(s), `a secret in ${l}`);
      assert.doesNotMatch(l, /ev-(alice|bob|carol|dave|erin|frank|victim)/, l);
    }
  });

  test("GET /healthz: 200 {status: ok} when the configuration and the stores answer, with the sign-ins offered", async () => {
    const res = await call(w, "GET", "/healthz");
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body, { status: "ok", sign_in: { password: true, provider: false } });
    assert.equal(res.headers.get("cache-control"), "no-store");
    isError(await call(w, "POST", "/healthz"), 405, "method_not_allowed");
  });
});

describe("broken configuration and missing bindings", () => {
  test("a broken variable: 503 server_misconfigured naming it, one config_error line per request, /healthz 503", async () => {
    const x = await startWorker({ vars: { ISSUER: null }, ready: false });
    try {
      // The harness's readiness request was answered 503 too: wait for its line first.
      await until(x, (es) => es.some((e) => e.event === "config_error"), "config_error of the readiness request");
      const before = events(x).filter((e) => e.event === "config_error").length;
      const res = await call(x, "POST", "/auth/refresh", { json: { refresh_token: "srt_x" } });
      isError(res, 503, "server_misconfigured", "missing ISSUER");
      assert.match(res.body.error_description, /ISSUER is not set/);
      assert.equal(res.headers.get("retry-after"), null, "nothing to retry");
      await until(x, (es) => es.filter((e) => e.event === "config_error").length > before, "config_error");
      // The health check (which logs it too) is the positive control that the first line has landed.
      const health = await call(x, "GET", "/healthz");
      assert.equal(health.status, 503, health.text);
      assert.equal(health.body.status, "error");
      assert.deepEqual(health.body.failing.map((f) => f.part), ["configuration"]);
      assert.match(health.body.failing[0].detail, /ISSUER/);
      await until(x, (es) => es.filter((e) => e.event === "config_error").length >= before + 2, "config_error of /healthz");
      const lines = events(x).filter((e) => e.event === "config_error").slice(before);
      assert.equal(lines.length, 2, "one line per request");
      assert.deepEqual(lines.map((e) => e.variable), ["ISSUER", "ISSUER"]);
      for (const s of Object.values(x.secrets)) assert.ok(!JSON.stringify(health.body).includes(s));
    } finally {
      await x.stop();
    }
  });

  /** wrangler.toml's top level without the lines `drop` matches, with `main` made absolute. */
  function configWithout(name, drop) {
    let text = readFileSync(join(root, "wrangler.toml"), "utf8");
    text = text.slice(0, text.indexOf("\n# -----")); // the top level only
    text = text.replace(/^main = ".*"$/m, `main = "${join(root, "build/worker/index.js")}"`);
    const cut = text.replace(drop, "");
    assert.notEqual(cut, text, `${name}: nothing removed`);
    const dir = join(scratch, name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "wrangler.toml"), cut);
    return join(dir, "wrangler.toml");
  }
  const dev = { ISSUER: "http://127.0.0.1:8787" };

  test("a missing KV binding: 503 naming REFRESH_TOKENS, logged, and /healthz names kv", async () => {
    const config = configWithout("no-kv", /\[\[kv_namespaces\]\]\nbinding = "REFRESH_TOKENS"\nid = ".*"\n/);
    // Even the JWKS answers 503 without KV: any answer means it is up.
    const x = await startWorker({ config, vars: { ...dev, ROTATION_STORE: process.env.SILENT_REFRESH_ROTATION_STORE ?? "kv" }, ready: false });
    try {
      const res = await call(x, "POST", "/auth/refresh", { json: { refresh_token: "srt_x" } });
      isError(res, 503, "server_misconfigured", "no KV");
      assert.match(res.body.error_description, /binding REFRESH_TOKENS is missing/);
      await until(x, (es) => es.some((e) => e.event === "config_error" && e.binding === "REFRESH_TOKENS"), "config_error REFRESH_TOKENS");
      const health = await call(x, "GET", "/healthz");
      assert.equal(health.status, 503);
      assert.deepEqual(health.body.failing, [{ part: "kv", detail: "binding REFRESH_TOKENS is missing" }]);
    } finally {
      await x.stop();
    }
  });

  test("a missing Durable Object binding: 503 naming it (LOGIN_THROTTLE at login, ROTATION in strict mode)", async () => {
    const strict = (process.env.SILENT_REFRESH_ROTATION_STORE ?? "kv") === "durable-object";
    const [binding, drop] = strict
      ? ["ROTATION", /\[\[durable_objects\.bindings\]\]\nname = "ROTATION"\nclass_name = "RotationObject"\n/]
      : ["LOGIN_THROTTLE", /\[\[durable_objects\.bindings\]\]\nname = "LOGIN_THROTTLE"\nclass_name = "LoginThrottle"\n/];
    const config = configWithout(`no-${binding}`, drop);
    // In strict mode even the JWKS answers 503 without ROTATION: any answer means it is up.
    const x = await startWorker({ config, vars: { ...dev, ROTATION_STORE: strict ? "durable-object" : "kv" }, ready: false });
    try {
      const res = await call(x, "POST", "/auth/login", { json: { username: "demo", password: "demo-password" } });
      isError(res, 503, "server_misconfigured", `no ${binding}`);
      assert.match(res.body.error_description, new RegExp(`binding ${binding} is missing`));
      await until(x, (es) => es.some((e) => e.event === "config_error" && e.binding === binding), `config_error ${binding}`);
      const health = await call(x, "GET", "/healthz");
      assert.equal(health.status, 503);
      assert.deepEqual(health.body.failing.map((f) => f.detail), [`binding ${binding} is missing`]);
    } finally {
      await x.stop();
    }
  });
});

describe("local-only settings stay local", () => {
  test("the demo user is refused on a host that is not loopback, and logged", async () => {
    const w = await startWorker();
    try {
      // Positive control: on the loopback host the demo user logs in.
      const ok = await withHost(w, `127.0.0.1:${w.port}`, "POST", "/auth/login", { username: "demo", password: "demo-password" });
      assert.equal(ok.status, 200, JSON.stringify(ok.body));
      const res = await withHost(w, "auth.example.com", "POST", "/auth/login", { username: "demo", password: "demo-password" });
      assert.equal(res.status, 401, JSON.stringify(res.body));
      assert.equal(res.body.error, "invalid_credentials");
      await until(w, (es) => es.some((e) => e.event === "demo_user_refused"), "demo_user_refused");
      assert.equal(events(w).filter((e) => e.event === "demo_user_refused").length, 1);
    } finally {
      await w.stop();
    }
  });

  test("COOKIE_SECURE=never drops Secure on loopback only", async () => {
    const w = await startWorker({ vars: { COOKIE_SECURE: "never" } });
    try {
      const login = (host) => withHost(w, host, "POST", "/auth/login", { username: "demo", password: "demo-password", transport: "cookie" }, { "x-silent-refresh": "1" });
      const local = await login(`127.0.0.1:${w.port}`);
      assert.equal(local.status, 200, JSON.stringify(local.body));
      assert.ok(local.headers["set-cookie"].some((c) => c.startsWith("sr_refresh=") && !/; Secure/.test(c)), local.headers["set-cookie"].join("\n"));
      // The same login on a public host name: Secure and the __Host- name, whatever the setting.
      // (The demo user is refused there, so this uses an account of its own.)
      assert.equal((await call(w, "POST", "/auth/users", { bearer: w.adminToken, json: { username: "cs-user", password: "cs-user-password" } })).status, 201);
      const remote = await withHost(w, "auth.example.com", "POST", "/auth/login", { username: "cs-user", password: "cs-user-password", transport: "cookie" }, { "x-silent-refresh": "1" });
      assert.equal(remote.status, 200, JSON.stringify(remote.body));
      assert.ok(remote.headers["set-cookie"].some((c) => c.startsWith("__Host-sr_refresh=") && /; Secure/.test(c)), remote.headers["set-cookie"].join("\n"));
    } finally {
      await w.stop();
    }
  });
});

describe("make preflight", () => {
  const run = (args, cwd = root) => spawnSync(process.execPath, [join(root, "scripts/preflight.mjs"), ...args], { cwd, encoding: "utf8", timeout: 600_000 });
  let secrets;
  before(() => {
    rmSync(join(scratch, "secrets.production.json"), { force: true });
    const made = spawnSync(process.execPath, [join(root, "scripts/secrets.mjs"), "new", "production"], { cwd: scratch, encoding: "utf8" });
    assert.equal(made.status, 0, made.stderr);
    secrets = join(scratch, "secrets.production.json");
    const parsed = JSON.parse(readFileSync(secrets, "utf8"));
    assert.deepEqual(Object.keys(parsed).sort(), ["ADMIN_TOKEN", "PASSWORD_PEPPER", "REFRESH_SECRET", "SIGNING_KEYS"], "no DEMO_USER");
    const again = spawnSync(process.execPath, [join(root, "scripts/secrets.mjs"), "new", "production"], { cwd: scratch, encoding: "utf8" });
    assert.notEqual(again.status, 0, "an existing secrets file is never overwritten");
  });

  /** A copy of wrangler.toml with `edit` applied. */
  function toml(name, edit) {
    const path = join(scratch, `${name}.wrangler.toml`);
    writeFileSync(path, edit(readFileSync(join(root, "wrangler.toml"), "utf8")));
    return path;
  }
  const realId = "0123456789abcdef0123456789abcdef";

  test("the shipped production environment fails on its placeholder; a correct one passes", () => {
    const shipped = run(["--env", "production", "--secrets", secrets]);
    assert.equal(shipped.status, 1, shipped.stdout + shipped.stderr);
    const lines = shipped.stdout.trim().split("\n");
    assert.deepEqual(lines, ['preflight [production] REFRESH_TOKENS: KV namespace id "<production KV namespace id>" is a placeholder, not an id (32 hex digits): `wrangler kv namespace create REFRESH_TOKENS`']);
    const fixed = toml("fixed", (t) => t.replace("<production KV namespace id>", realId));
    const ok = run(["--env", "production", "--secrets", secrets, "--config", fixed]);
    assert.equal(ok.status, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, /^preflight \[production\] ok/);
  });

  test("unsafe values fail it, one line each, naming the part and never a secret", () => {
    const unsafe = toml("unsafe", (t) => t
      .replace("<production KV namespace id>", realId)
      .replace('ISSUER = "https://app.example.com"', 'ISSUER = "http://127.0.0.1:8787"\nISUER = "typo"')
      .replace('COOKIE_SECURE = "always"', 'COOKIE_SECURE = "never"')
      .replace('[env.production.observability]\nenabled = true', '[env.production.observability]\nenabled = false\n\n[env.production.assets]\ndirectory = "build/site"')
      .replace(/\[\[env\.production\.durable_objects\.bindings\]\]\nname = "LOGIN_THROTTLE"\nclass_name = "LoginThrottle"\n/, ""));
    const withDemo = join(scratch, "demo.json");
    const values = JSON.parse(readFileSync(secrets, "utf8"));
    writeFileSync(withDemo, JSON.stringify({ ...values, DEMO_USER: "demo:demo-password" }));
    const res = run(["--env", "production", "--secrets", withDemo, "--config", unsafe]);
    assert.equal(res.status, 1, res.stdout + res.stderr);
    const parts = res.stdout.trim().split("\n").map((l) => /^preflight \[production\] (\S+):/.exec(l)?.[1]);
    assert.deepEqual(parts.sort(), ["COOKIE_SECURE", "DEMO_USER", "ISSUER", "ISUER", "LOGIN_THROTTLE", "[assets]", "[observability]"].sort(), res.stdout);
    assert.match(res.stdout, /ISUER: unknown variable \(did you mean ISSUER\?\)/);
    for (const v of Object.values(values)) assert.ok(!res.stdout.includes(v) && !res.stderr.includes(v), "a secret in the output");
  });

  test("the top level (what a plain `wrangler deploy` ships) fails: no ISSUER, a local KV id", () => {
    const res = run(["--secrets", secrets]);
    assert.equal(res.status, 1, res.stdout + res.stderr);
    const parts = res.stdout.trim().split("\n").map((l) => /^preflight \[\(top level\)\] (\S+):/.exec(l)?.[1]);
    assert.ok(parts.includes("ISSUER") && parts.includes("REFRESH_TOKENS"), res.stdout);
    assert.ok(!parts.includes("[assets]"), "the demo site is not in the shipped config");
  });
});
