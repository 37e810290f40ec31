// Hostile and malformed input: a table of cases across all endpoints, each answered with a
// precise 4xx JSON error (never 5xx, never a stack trace), and afterwards proof that none of them
// changed any state; then a check that no secret ever reached the logs.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, test } from "../support/test.mjs";
import { startWorker } from "../support/worker.mjs";
import { call, expectNoGrace, isError, isTokens, refresh, session, sleep } from "./helpers.mjs";

let w;
let live; // a session whose token must survive every hostile case
const seen = new Set(); // every token and password handed out, for the log check
before(async () => {
  // Grace 0: had any case rotated the live token, using it later would be reuse (expectNoGrace).
  w = await startWorker({ vars: { GRACE_SECONDS: "0", ALLOWED_ORIGINS: "https://app.example" } });
  live = await session(w, "victim");
  const u = await call(w, "POST", "/auth/users", { bearer: w.adminToken, json: { username: "victim", password: "victim-password" } });
  assert.equal(u.status, 201);
  seen.add(live.refresh_token).add(live.access_token).add("victim-password");
});
after(async () => {
  await w?.stop();
});

const S = () => live.refresh_token;
const A = () => live.access_token;
const big = "x".repeat(9000);
const nonUtf8 = Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]); // {"a":"\xff\xfe"}
const nested = "[".repeat(3000) + "]".repeat(3000); // 6 KB, far deeper than serde_json's limit of 128
const alg = (h) => `${Buffer.from(JSON.stringify(h)).toString("base64url")}.${Buffer.from(JSON.stringify({ sub: "victim", iss: "http://127.0.0.1:8787", aud: "silent-refresh-demo", exp: 9999999999, iat: 1, sr_ep: 0 })).toString("base64url")}.`;

// [name, method, path, options (a function, so tokens are read late), status, code]
const cases = [
  // Wrong methods.
  ...["/auth/login", "/auth/sessions", "/auth/users", "/auth/refresh", "/auth/logout", "/auth/revoke", "/auth/logout-all"].flatMap((p) => [
    [`GET ${p}`, "GET", p, () => ({}), 405, "method_not_allowed"],
    [`PUT ${p}`, "PUT", p, () => ({ json: { refresh_token: S() } }), 405, "method_not_allowed"],
  ]),
  ["POST jwks", "POST", "/.well-known/jwks.json", () => ({}), 405, "method_not_allowed"],
  ["POST healthz", "POST", "/healthz", () => ({ json: { status: "ok" } }), 405, "method_not_allowed"],
  ["DELETE /api/me", "DELETE", "/api/me", () => ({ bearer: A() }), 405, "method_not_allowed"],
  ["GET user", "GET", "/auth/users/victim", () => ({}), 405, "method_not_allowed"],
  ["PATCH refresh", "PATCH", "/auth/refresh", () => ({ json: { refresh_token: S() } }), 405, "method_not_allowed"],
  // (Unknown methods such as FROB never reach the Worker: workerd answers 501 itself.)
  ["preflight without Origin", "OPTIONS", "/auth/refresh", () => ({}), 403, "forbidden_origin"],
  // Unknown and tricky paths.
  ["trailing slash", "POST", "/auth/refresh/", () => ({ json: { refresh_token: S() } }), 404, "not_found"],
  ["upper case", "POST", "/AUTH/REFRESH", () => ({ json: { refresh_token: S() } }), 404, "not_found"],
  ["users/ empty", "DELETE", "/auth/users/", () => ({ bearer: w.adminToken }), 404, "not_found"],
  ["users nested", "DELETE", "/auth/users/a/b", () => ({ bearer: w.adminToken }), 404, "not_found"],
  ["encoded slash user", "DELETE", "/auth/users/victim%2Fx", () => ({ bearer: w.adminToken }), 400, "invalid_request"],
  ["unicode user", "DELETE", "/auth/users/%C3%A9", () => ({ bearer: w.adminToken }), 400, "invalid_request"],
  // Malformed JSON.
  ["truncated JSON", "POST", "/auth/refresh", () => ({ json: '{"refresh_token":' }), 400, "invalid_request"],
  ["JSON array", "POST", "/auth/refresh", () => ({ json: "[]" }), 400, "invalid_request"],
  ["JSON string", "POST", "/auth/refresh", () => ({ json: '"srt_"' }), 400, "invalid_request"],
  ["JSON null", "POST", "/auth/refresh", () => ({ json: "null" }), 400, "invalid_request"],
  ["JSON trailing junk", "POST", "/auth/refresh", () => ({ json: `{"refresh_token":"${S()}"} x` }), 400, "invalid_request"],
  ["JSON BOM", "POST", "/auth/refresh", () => ({ json: `\uFEFF{"refresh_token":"${S()}"}` }), 400, "invalid_request"],
  ["deeply nested JSON", "POST", "/auth/refresh", () => ({ json: `{"a":${nested}}` }), 400, "invalid_request"],
  ["non-UTF-8 JSON", "POST", "/auth/refresh", () => ({ body: nonUtf8, headers: { "content-type": "application/json" } }), 400, "invalid_request"],
  ["duplicated JSON member", "POST", "/auth/refresh", () => ({ json: `{"refresh_token":"${S()}","refresh_token":"${S()}"}` }), 400, "invalid_request"],
  ["token as number", "POST", "/auth/refresh", () => ({ json: { refresh_token: 5 } }), 400, "invalid_request"],
  ["token as array", "POST", "/auth/refresh", () => ({ json: { refresh_token: [S()] } }), 400, "invalid_request"],
  ["token as object", "POST", "/auth/refresh", () => ({ json: { refresh_token: { $ne: "" } } }), 400, "invalid_request"],
  ["token null", "POST", "/auth/refresh", () => ({ json: { refresh_token: null } }), 400, "invalid_request"],
  ["token empty", "POST", "/auth/refresh", () => ({ json: { refresh_token: "" } }), 400, "invalid_request"],
  // Tokens of the wrong shape.
  ["token too short", "POST", "/auth/refresh", () => ({ json: { refresh_token: S().slice(0, -1) } }), 400, "invalid_grant"],
  ["token too long", "POST", "/auth/refresh", () => ({ json: { refresh_token: `${S()}A` } }), 400, "invalid_grant"],
  ["token padded", "POST", "/auth/refresh", () => ({ json: { refresh_token: `${S()}=` } }), 400, "invalid_grant"],
  ["token std alphabet", "POST", "/auth/refresh", () => ({ json: { refresh_token: `srt_${"+/".repeat(21)}A` } }), 400, "invalid_grant"],
  ["token wrong prefix", "POST", "/auth/refresh", () => ({ json: { refresh_token: `SRT_${S().slice(4)}` } }), 400, "invalid_grant"],
  ["token with spaces", "POST", "/auth/refresh", () => ({ json: { refresh_token: ` ${S()} ` } }), 400, "invalid_grant"],
  ["token with CRLF", "POST", "/auth/refresh", () => ({ json: { refresh_token: `${S()}\r\nSet-Cookie: x=1` } }), 400, "invalid_grant"],
  ["token unicode", "POST", "/auth/refresh", () => ({ json: { refresh_token: `srt_${"é".repeat(43)}` } }), 400, "invalid_grant"],
  ["access token as refresh token", "POST", "/auth/refresh", () => ({ json: { refresh_token: A() } }), 400, "invalid_grant"],
  ["unknown well-formed token", "POST", "/auth/refresh", () => ({ json: { refresh_token: `srt_${"Q".repeat(42)}A` } }), 400, "invalid_grant"],
  // Forms.
  ["form bad percent", "POST", "/auth/refresh", () => ({ form: `grant_type=refresh_token&refresh_token=%zz` }), 400, "invalid_request"],
  ["form truncated percent", "POST", "/auth/refresh", () => ({ form: `grant_type=refresh_token&refresh_token=%4` }), 400, "invalid_request"],
  ["form non-UTF-8", "POST", "/auth/refresh", () => ({ form: `grant_type=refresh_token&refresh_token=%ff%fe` }), 400, "invalid_request"],
  ["form duplicated field", "POST", "/auth/refresh", () => ({ form: `grant_type=refresh_token&refresh_token=${S()}&refresh_token=${S()}` }), 400, "invalid_request"],
  ["form duplicated grant", "POST", "/auth/refresh", () => ({ form: `grant_type=refresh_token&grant_type=refresh_token&refresh_token=${S()}` }), 400, "invalid_request"],
  ["form empty name", "POST", "/auth/refresh", () => ({ form: `=x&grant_type=refresh_token` }), 400, "invalid_request"],
  // Grant types.
  ...["password", "client_credentials", "authorization_code", "REFRESH_TOKEN", "refresh_token ", ""].map((g) =>
    [`grant_type ${JSON.stringify(g)}`, "POST", "/auth/refresh", () => ({ form: { grant_type: g, refresh_token: S() } }), 400, g === "" ? "unsupported_grant_type" : "unsupported_grant_type"]),
  ["JSON grant_type wrong", "POST", "/auth/refresh", () => ({ json: { grant_type: "password", refresh_token: S() } }), 400, "unsupported_grant_type"],
  // Media types and sizes.
  ["text/plain body", "POST", "/auth/refresh", () => ({ body: `{"refresh_token":"${S()}"}`, headers: { "content-type": "text/plain" } }), 415, "unsupported_media_type"],
  ["no content type", "POST", "/auth/revoke", () => ({ body: `token=${S()}`, headers: { "content-type": "" } }), 415, "unsupported_media_type"],
  ["multipart", "POST", "/auth/refresh", () => ({ body: "--b\r\n\r\n--b--", headers: { "content-type": "multipart/form-data; boundary=b" } }), 415, "unsupported_media_type"],
  ["utf-16 JSON", "POST", "/auth/login", () => ({ body: "{}", headers: { "content-type": "application/json; charset=utf-16" } }), 415, "unsupported_media_type"],
  ["form login", "POST", "/auth/login", () => ({ form: { username: "victim", password: "victim-password" } }), 415, "unsupported_media_type"],
  ...["/auth/login", "/auth/refresh", "/auth/logout", "/auth/revoke"].map((p) =>
    [`oversized ${p}`, "POST", p, () => ({ json: { refresh_token: S(), pad: big } }), 413, "payload_too_large"]),
  ["oversized sessions", "POST", "/auth/sessions", () => ({ bearer: w.adminToken, json: { sub: "x", claims: { pad: big } } }), 413, "payload_too_large"],
  ["oversized users", "POST", "/auth/users", () => ({ bearer: w.adminToken, json: { username: "x", password: big } }), 413, "payload_too_large"],
  // Login.
  ["login empty", "POST", "/auth/login", () => ({ json: {} }), 400, "invalid_request"],
  ["login long password", "POST", "/auth/login", () => ({ json: { username: "victim", password: "p".repeat(2000) } }), 400, "invalid_request"],
  ["login CRLF username", "POST", "/auth/login", () => ({ json: { username: "victim\r\nX-Injected: 1", password: "victim-password" } }), 401, "invalid_credentials"],
  ["login wrong password", "POST", "/auth/login", () => ({ json: { username: "victim", password: "victim-passwore" } }), 401, "invalid_credentials"],
  ["login object password", "POST", "/auth/login", () => ({ json: { username: "victim", password: { toString: 1 } } }), 400, "invalid_request"],
  // Cookies and CSRF.
  ["cookie without header", "POST", "/auth/refresh", () => ({ cookie: `sr_refresh=${S()}` }), 403, "forbidden_origin"],
  ["cookie cross-site", "POST", "/auth/refresh", () => ({ cookie: `sr_refresh=${S()}`, headers: { "x-silent-refresh": "1", "sec-fetch-site": "cross-site" } }), 403, "forbidden_origin"],
  ["cookie foreign origin", "POST", "/auth/logout", () => ({ cookie: `sr_refresh=${S()}`, headers: { "x-silent-refresh": "1", origin: "https://evil.example" } }), 403, "forbidden_origin"],
  ["duplicated cookie", "POST", "/auth/refresh", () => ({ cookie: `sr_refresh=${S()}; sr_refresh=${S()}`, headers: { "x-silent-refresh": "1" } }), 400, "invalid_grant"],
  ["very long cookie", "POST", "/auth/refresh", () => ({ cookie: `a=${"c".repeat(9000)}; sr_refresh=${S()}`, headers: { "x-silent-refresh": "1" } }), 400, "invalid_request"],
  ["junk cookie value", "POST", "/auth/refresh", () => ({ cookie: `sr_refresh=<script>`, headers: { "x-silent-refresh": "1" } }), 400, "invalid_grant"],
  ["foreign origin body mode", "POST", "/auth/refresh", () => ({ json: { refresh_token: S() }, headers: { origin: "https://evil.example" } }), 403, "forbidden_origin"],
  ["preflight foreign", "OPTIONS", "/auth/refresh", () => ({ headers: { origin: "https://evil.example" } }), 403, "forbidden_origin"],
  // Bearer tokens.
  ["me no auth", "GET", "/api/me", () => ({}), 401, "invalid_token"],
  ["me refresh token", "GET", "/api/me", () => ({ bearer: S() }), 401, "invalid_token"],
  ["me alg none", "GET", "/api/me", () => ({ bearer: alg({ alg: "none", typ: "at+jwt" }) }), 401, "invalid_token"],
  ["me HS256 header", "GET", "/api/me", () => ({ bearer: `${alg({ alg: "HS256", typ: "at+jwt", kid: "x" })}AAAA` }), 401, "invalid_token"],
  ["me huge bearer", "GET", "/api/me", () => ({ bearer: `a.${"b".repeat(9000)}.c` }), 401, "invalid_token"],
  ["me two tokens", "GET", "/api/me", () => ({ headers: { authorization: `Bearer ${A()} ${A()}` } }), 401, "invalid_token"],
  ["logout-all refresh token", "POST", "/auth/logout-all", () => ({ bearer: S() }), 401, "invalid_token"],
  ["logout-all tampered", "POST", "/auth/logout-all", () => ({ bearer: `${A().slice(0, -2)}xx` }), 401, "invalid_token"],
  // Admin.
  ["admin token as session bearer", "POST", "/auth/sessions", () => ({ bearer: A(), json: { sub: "x" } }), 401, "unauthorized"],
  ["admin lowercase scheme junk", "POST", "/auth/users", () => ({ headers: { authorization: `Basic ${w.adminToken}` }, json: { username: "x", password: "password-1" } }), 401, "unauthorized"],
  ["sessions control chars in sub", "POST", "/auth/sessions", () => ({ bearer: w.adminToken, json: { sub: "a\u0000b" } }), 400, "invalid_request"],
  ["users bad username", "POST", "/auth/users", () => ({ bearer: w.adminToken, json: { username: "../etc", password: "password-1" } }), 400, "invalid_request"],
  ["users existing", "POST", "/auth/users", () => ({ bearer: w.adminToken, json: { username: "victim", password: "password-2" } }), 409, "user_exists"],
  ["password change without admin", "PATCH", "/auth/users/victim", () => ({ json: { password: "password-3" } }), 401, "unauthorized"],
  ["password change too short", "PATCH", "/auth/users/victim", () => ({ bearer: w.adminToken, json: { password: "short" } }), 400, "invalid_request"],
  ["password change no password", "PATCH", "/auth/users/victim", () => ({ bearer: w.adminToken, json: {} }), 400, "invalid_request"],
  ["password change as form", "PATCH", "/auth/users/victim", () => ({ bearer: w.adminToken, form: { password: "password-3" } }), 415, "unsupported_media_type"],
  ["password change unknown user", "PATCH", "/auth/users/ghost", () => ({ bearer: w.adminToken, json: { password: "password-3" } }), 404, "no_such_user"],
  ["end sessions without admin", "DELETE", "/auth/sessions/victim", () => ({}), 401, "unauthorized"],
  ["end sessions bad encoding", "DELETE", "/auth/sessions/%zz", () => ({ bearer: w.adminToken }), 400, "invalid_request"],
  ["end sessions control char", "DELETE", "/auth/sessions/a%00b", () => ({ bearer: w.adminToken }), 400, "invalid_request"],
];

/** The endpoints of docs/PROTOCOL.md's table: [method, path pattern, as written]. */
function documentedEndpoints() {
  const doc = readFileSync(new URL("../../docs/PROTOCOL.md", import.meta.url), "utf8");
  return [...doc.matchAll(/^\| `(GET|POST|PUT|PATCH|DELETE) (\/[^`]*)` \|/gm)].map(([, method, path]) => {
    const pattern = new RegExp(`^${path.replace(/[.]/g, "\\.").replace(/<[^>]+>/g, "[^/]+")}$`);
    return [method, pattern, `${method} ${path}`];
  });
}

describe("hostile input", () => {
  test("the table reaches every documented endpoint, and every one that takes a body with its own method", () => {
    const endpoints = documentedEndpoints();
    assert.ok(endpoints.length >= 10, `endpoints found in docs/PROTOCOL.md: ${endpoints.map((e) => e[2])}`);
    for (const [method, pattern, name] of endpoints) {
      const hits = cases.filter(([, , path]) => pattern.test(path));
      assert.ok(hits.length > 0, `no hostile case for ${name}`);
      if (method !== "GET") assert.ok(hits.some(([, m]) => m === method), `no hostile ${method} case for ${name}`);
    }
  });

  /**
   * Runs every case once, whichever test asks first (so that the "afterwards" test, run alone,
   * still comes after them): each must be a precise 4xx JSON error. Resolves to the KV values
   * before the first case.
   */
  let ran;
  const runCases = () => (ran ??= (async () => {
    const kvBefore = w.kvValues();
    assert.ok(kvBefore.length > 0);
    for (const [name, method, path, opts, status, code] of cases) {
      const res = await call(w, method, path, opts());
      assert.ok(res.status < 500, `${name}: ${res.status} ${res.text}`);
      assert.doesNotMatch(res.text, /panic|RuntimeError|unreachable|at .*\.rs|stack/i, name);
      isError(res, status, code, name);
    }
    return kvBefore;
  })());

  test("every case is a precise 4xx JSON error and changes nothing", async () => {
    const kvBefore = await runCases();
    // In strict mode the rotation state lives in Durable Objects, not KV: the next test is what
    // proves that no case rotated or revoked the live family there.
    assert.deepEqual(w.kvValues(), kvBefore, "no KV write happened");
  });

  test("afterwards the live family, its tokens and the user are intact", async () => {
    await runCases();
    // Had any case rotated or revoked it, this would be reuse or revoked.
    expectNoGrace(w);
    const next = isTokens(await refresh(w, live.refresh_token), {}, "live token still current");
    seen.add(next.refresh_token).add(next.access_token);
    assert.equal((await call(w, "GET", "/api/me", { bearer: next.access_token })).status, 200);
    const u = isTokens(await call(w, "POST", "/auth/login", { json: { username: "victim", password: "victim-password" } }));
    seen.add(u.refresh_token).add(u.access_token);
  });
});

describe("logs", () => {
  test("no token, password or secret ever appears in the Worker's output", async () => {
    const d = await call(w, "POST", "/auth/login", { json: { username: "demo", password: "demo-password" } });
    seen.add(d.body.refresh_token).add(d.body.access_token).add("demo-password");
    // The output arrives in order: once the last request's log line is there, so is everything
    // the Worker printed before it (not a sleep: a loaded machine flushes late).
    const refused = /POST \/auth\/login 401/g;
    const lines = () => w.logs().match(refused)?.length ?? 0;
    const before = lines();
    await call(w, "POST", "/auth/login", { json: { username: "demo", password: "a-wrong-password-123" } });
    seen.add("a-wrong-password-123");
    for (let i = 0; lines() === before; i++) {
      assert.ok(i < 400, "the refused login's request line reaches the output");
      await sleep(25);
    }
    const logs = w.logs();
    assert.match(logs, /POST \/auth\/login 200/, "the request log is captured");
    const secrets = [...seen, w.adminToken, w.secrets.REFRESH_SECRET, JSON.parse(w.secrets.SIGNING_KEYS)[0].d];
    for (const s of secrets) {
      assert.ok(!logs.includes(s), `a secret leaked into the logs: ${s.slice(0, 8)}…`);
      // Also the token bodies without their prefix.
      if (s.startsWith("srt_")) assert.ok(!logs.includes(s.slice(4)));
    }
  });
});
