// Every endpoint and every error of docs/PROTOCOL.md, against the real Worker in workerd.
import assert from "node:assert/strict";
import { after, before, describe, test } from "../support/test.mjs";
import { startWorker } from "../support/worker.mjs";
import { call, cookieToken, endlessPost, expectNoGrace, isError, isTokens, refresh, session } from "./helpers.mjs";

let w;
before(async () => {
  // Grace 0: the checks that a refused request changed nothing need it (see expectNoGrace).
  w = await startWorker({ vars: { ALLOWED_ORIGINS: "https://app.example", GRACE_SECONDS: "0" } });
});
after(async () => {
  await w?.stop();
});

describe("login", () => {
  test("the demo user logs in with body transport", async () => {
    const body = isTokens(await call(w, "POST", "/auth/login", { json: { username: "demo", password: "demo-password" } }));
    assert.equal(body.expires_in, 900);
    const me = await call(w, "GET", "/api/me", { bearer: body.access_token });
    assert.equal(me.status, 200);
    assert.equal(me.body.sub, "demo");
  });

  test("wrong password, unknown user and malformed names are the same 401", async () => {
    for (const [username, password] of [["demo", "nope"], ["nobody", "demo-password"], ["bad name!", "x"]]) {
      isError(await call(w, "POST", "/auth/login", { json: { username, password } }), 401, "invalid_credentials", username);
    }
  });

  test("missing or mistyped fields are invalid_request", async () => {
    for (const json of [{}, { username: "demo" }, { password: "x" }, { username: "demo", password: "" }, { username: 1, password: "x" }, { username: "demo", password: "demo-password", transport: "carrier-pigeon" }]) {
      isError(await call(w, "POST", "/auth/login", { json }), 400, "invalid_request", JSON.stringify(json));
    }
  });

  test("login is JSON only (a cross-site form cannot log anyone in)", async () => {
    isError(await call(w, "POST", "/auth/login", { form: { username: "demo", password: "demo-password" } }), 415, "unsupported_media_type");
    isError(await call(w, "POST", "/auth/login", { body: "x", headers: { "content-type": "text/plain" } }), 415, "unsupported_media_type");
  });

  test("cookie transport sets an HttpOnly SameSite=Strict cookie on /auth and no body token", async () => {
    const res = await call(w, "POST", "/auth/login", {
      json: { username: "demo", password: "demo-password", transport: "cookie" },
      headers: { "x-silent-refresh": "1" },
    });
    isTokens(res, { cookie: true });
    assert.match(res.setCookie, /; Path=\/auth/);
    assert.match(res.setCookie, /; HttpOnly/);
    assert.match(res.setCookie, /; SameSite=Strict/);
    assert.doesNotMatch(res.setCookie, /Secure/, "plain http on loopback drops Secure");
    assert.match(res.setCookie, /Max-Age=2592000/);
  });

  test("cookie transport without X-Silent-Refresh is refused", async () => {
    isError(await call(w, "POST", "/auth/login", { json: { username: "demo", password: "demo-password", transport: "cookie" } }), 403, "forbidden_origin");
  });
});

describe("sessions and users (admin)", () => {
  test("a session carries custom claims into the access token", async () => {
    const t = await session(w, "user-42", { role: "editor" });
    const me = await call(w, "GET", "/api/me", { bearer: t.access_token });
    assert.equal(me.body.sub, "user-42");
    assert.equal(me.body.role, "editor");
  });

  test("admin endpoints need the admin token", async () => {
    for (const bearer of [undefined, "wrong", `${w.adminToken}x`]) {
      isError(await call(w, "POST", "/auth/sessions", { bearer, json: { sub: "x" } }), 401, "unauthorized");
      isError(await call(w, "POST", "/auth/users", { bearer, json: { username: "x", password: "password-1" } }), 401, "unauthorized");
      isError(await call(w, "DELETE", "/auth/users/x", { bearer }), 401, "unauthorized");
    }
  });

  test("session input is validated", async () => {
    const bearer = w.adminToken;
    isError(await call(w, "POST", "/auth/sessions", { bearer, json: {} }), 400, "invalid_request", "no sub");
    isError(await call(w, "POST", "/auth/sessions", { bearer, json: { sub: "a", claims: { sub: "root" } } }), 400, "invalid_request", "reserved claim");
    isError(await call(w, "POST", "/auth/sessions", { bearer, json: { sub: "a", claims: [1] } }), 400, "invalid_request", "claims not an object");
  });

  test("create, log in as, refuse a duplicate of, and delete a user", async () => {
    const bearer = w.adminToken;
    const created = await call(w, "POST", "/auth/users", { bearer, json: { username: "carol", password: "correct horse" } });
    assert.equal(created.status, 201);
    assert.deepEqual(created.body, { username: "carol", sub: "carol" });
    isError(await call(w, "POST", "/auth/users", { bearer, json: { username: "carol", password: "another one" } }), 409, "user_exists");
    isTokens(await call(w, "POST", "/auth/login", { json: { username: "carol", password: "correct horse" } }));
    isError(await call(w, "POST", "/auth/users", { bearer, json: { username: "dave", password: "short" } }), 400, "invalid_request");
    const del = await call(w, "DELETE", "/auth/users/carol", { bearer });
    assert.equal(del.status, 204);
    isError(await call(w, "POST", "/auth/login", { json: { username: "carol", password: "correct horse" } }), 401, "invalid_credentials");
    isError(await call(w, "DELETE", "/auth/users/bad%20name", { bearer }), 400, "invalid_request");
  });
});

describe("refresh", () => {
  test("JSON, RFC 6749 form and cookie all rotate", async () => {
    const t = await session(w);
    const a = isTokens(await refresh(w, t.refresh_token));
    const b = isTokens(await call(w, "POST", "/auth/refresh", { form: { grant_type: "refresh_token", refresh_token: a.refresh_token } }));
    assert.notEqual(a.refresh_token, b.refresh_token);
    const c = isTokens(await call(w, "POST", "/auth/refresh", { cookie: `sr_refresh=${b.refresh_token}`, headers: { "x-silent-refresh": "1" } }), { cookie: true });
    assert.ok(c.access_token);
  });

  test("errors of the token endpoint", async () => {
    isError(await call(w, "POST", "/auth/refresh", { json: {} }), 400, "invalid_request", "missing token");
    isError(await call(w, "POST", "/auth/refresh"), 400, "invalid_request", "no body, no cookie");
    isError(await call(w, "POST", "/auth/refresh", { form: { grant_type: "password", refresh_token: "x" } }), 400, "unsupported_grant_type");
    isError(await call(w, "POST", "/auth/refresh", { form: { refresh_token: "x" } }), 400, "invalid_request", "form without grant_type");
    isError(await refresh(w, "srt_short"), 400, "invalid_grant", "malformed token: not a live token either");
    isError(await refresh(w, `srt_${"A".repeat(43)}`), 400, "invalid_grant", "unknown token");
    const res = await call(w, "GET", "/auth/refresh");
    isError(res, 405, "method_not_allowed");
    assert.equal(res.headers.get("allow"), "POST, OPTIONS");
  });

  test("an access token is not a refresh token", async () => {
    const t = await session(w);
    isError(await refresh(w, t.access_token), 400, "invalid_grant");
  });
});

describe("cookie transport and CSRF", () => {
  async function cookieLogin() {
    const res = await call(w, "POST", "/auth/login", {
      json: { username: "demo", password: "demo-password", transport: "cookie" },
      headers: { "x-silent-refresh": "1" },
    });
    return cookieToken(isTokens(res, { cookie: true }) && res.setCookie);
  }

  test("refresh by cookie rotates the cookie", async () => {
    const t0 = await cookieLogin();
    const res = await call(w, "POST", "/auth/refresh", { cookie: `sr_refresh=${t0}`, headers: { "x-silent-refresh": "1", origin: w.url, "sec-fetch-site": "same-origin" } });
    isTokens(res, { cookie: true });
    assert.notEqual(cookieToken(res.setCookie), t0);
  });

  test("cross-site or header-less cookie requests are refused and change nothing", async () => {
    const t0 = await cookieLogin();
    const cases = [
      [{}, "no X-Silent-Refresh"],
      [{ "x-silent-refresh": "0" }, "wrong header value"],
      [{ "x-silent-refresh": "1", "sec-fetch-site": "cross-site" }, "Sec-Fetch-Site cross-site"],
      [{ "x-silent-refresh": "1", origin: "https://evil.example" }, "foreign Origin"],
      [{ "x-silent-refresh": "1", origin: "null" }, "opaque Origin"],
    ];
    for (const [headers, what] of cases) {
      isError(await call(w, "POST", "/auth/refresh", { cookie: `sr_refresh=${t0}`, headers }), 403, "forbidden_origin", what);
      isError(await call(w, "POST", "/auth/logout", { cookie: `sr_refresh=${t0}`, headers }), 403, "forbidden_origin", what);
    }
    // The token was not touched: it is still the current one (a rotated one would be reuse now).
    expectNoGrace(w);
    isTokens(await call(w, "POST", "/auth/refresh", { cookie: `sr_refresh=${t0}`, headers: { "x-silent-refresh": "1" } }), { cookie: true });
  });

  test("a duplicated cookie is refused as invalid_grant and cleared, not a 400 that repeats forever", async () => {
    const t0 = await cookieLogin();
    const res = await call(w, "POST", "/auth/refresh", { cookie: `sr_refresh=${t0}; sr_refresh=srt_x`, headers: { "x-silent-refresh": "1" } });
    isError(res, 400, "invalid_grant");
    assert.match(res.headers.getSetCookie().join("\n"), /^sr_refresh=; Max-Age=0; Path=\/auth/m);
  });

  test("the session hint: sr_session=1 while a session lives, 0 once it is over or absent", async () => {
    const csrf = { "x-silent-refresh": "1" };
    const hint = (res) => {
      const all = res.headers.getSetCookie();
      const h = all.filter((c) => c.startsWith("sr_session="));
      assert.ok(h.length <= 1, all.join(" | "));
      if (h[0]) {
        assert.doesNotMatch(h[0], /HttpOnly/, "the page must be able to read it");
        assert.match(h[0], /; Path=\/; SameSite=Strict/);
        assert.doesNotMatch(h[0], /srt_/, "it never carries a token");
      }
      return h[0]?.split(";")[0];
    };
    const login = await call(w, "POST", "/auth/login", { json: { username: "demo", password: "demo-password", transport: "cookie" }, headers: csrf });
    isTokens(login, { cookie: true });
    assert.equal(hint(login), "sr_session=1");
    assert.match(login.headers.getSetCookie().find((c) => c.startsWith("sr_session=")), /Max-Age=2592000/);
    const t0 = cookieToken(login.setCookie);
    const rotated = await call(w, "POST", "/auth/refresh", { cookie: `sr_refresh=${t0}`, headers: csrf });
    isTokens(rotated, { cookie: true });
    assert.equal(hint(rotated), "sr_session=1");
    const out = await call(w, "POST", "/auth/logout", { cookie: `sr_refresh=${cookieToken(rotated.setCookie)}`, headers: csrf });
    assert.equal(out.status, 200);
    assert.equal(hint(out), "sr_session=0");
    const dead = await call(w, "POST", "/auth/refresh", { cookie: `sr_refresh=${t0}`, headers: csrf });
    isError(dead, 400, "invalid_grant");
    assert.equal(hint(dead), "sr_session=0");
    // A signed-out page restoring (cookie mode, no cookie): refused, and told so.
    const none = await call(w, "POST", "/auth/refresh", { headers: csrf });
    isError(none, 400, "invalid_request");
    assert.equal(hint(none), "sr_session=0");
    assert.ok(!none.headers.getSetCookie().some((c) => c.startsWith("sr_refresh=srt_")));
    // Body transport and requests without the package's header never get the hint.
    const bare = await call(w, "POST", "/auth/refresh", {});
    isError(bare, 400, "invalid_request");
    assert.deepEqual(bare.headers.getSetCookie(), []);
    const t = await session(w);
    const body = await refresh(w, t.refresh_token);
    isTokens(body);
    assert.deepEqual(body.headers.getSetCookie(), []);
  });

  test("logout by cookie revokes the family and clears the cookie", async () => {
    const t0 = await cookieLogin();
    const res = await call(w, "POST", "/auth/logout", { cookie: `sr_refresh=${t0}`, headers: { "x-silent-refresh": "1" } });
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, {});
    assert.match(res.setCookie, /^sr_refresh=; Max-Age=0; Path=\/auth/);
    const again = await call(w, "POST", "/auth/refresh", { cookie: `sr_refresh=${t0}`, headers: { "x-silent-refresh": "1" } });
    isError(again, 400, "invalid_grant");
    assert.match(again.setCookie ?? "", /^sr_refresh=; Max-Age=0/, "a dead cookie is cleared");
  });
});

describe("logout, revoke, logout-all", () => {
  test("logout revokes the whole family", async () => {
    const t = await session(w);
    const t1 = isTokens(await refresh(w, t.refresh_token)).refresh_token;
    const res = await call(w, "POST", "/auth/logout", { json: { refresh_token: t1 } });
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, {});
    isError(await refresh(w, t1), 400, "invalid_grant");
    isError(await call(w, "POST", "/auth/logout", { json: {} }), 400, "invalid_request");
    assert.equal((await call(w, "POST", "/auth/logout", { json: { refresh_token: "nope" } })).status, 200, "not ours: nothing to revoke");
  });

  test("revoke follows RFC 7009: 200 for anything, revokes known tokens", async () => {
    for (const token of ["junk", `srt_${"B".repeat(43)}`, "eyJ.x.y"]) {
      const res = await call(w, "POST", "/auth/revoke", { form: { token, token_type_hint: "refresh_token" } });
      assert.equal(res.status, 200, token);
    }
    const t = await session(w);
    assert.equal((await call(w, "POST", "/auth/revoke", { json: { token: t.refresh_token } })).status, 200);
    isError(await refresh(w, t.refresh_token), 400, "invalid_grant");
    isError(await call(w, "POST", "/auth/revoke", { form: {} }), 400, "invalid_request");
  });

  test("logout-all kills every family and older access token of the user, not others", async () => {
    const a1 = await session(w, "multi");
    const a2 = await session(w, "multi");
    const other = await session(w, "someone-else");
    const res = await call(w, "POST", "/auth/logout-all", { bearer: a1.access_token });
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, {});
    for (const t of [a1, a2]) {
      isError(await call(w, "GET", "/api/me", { bearer: t.access_token }), 401, "invalid_token");
      isError(await refresh(w, t.refresh_token), 400, "invalid_grant");
    }
    assert.equal((await call(w, "GET", "/api/me", { bearer: other.access_token })).status, 200);
    isTokens(await refresh(w, other.refresh_token));
    // A new session right after (same second) is fine.
    const fresh = await session(w, "multi");
    assert.equal((await call(w, "GET", "/api/me", { bearer: fresh.access_token })).status, 200);
    isError(await call(w, "POST", "/auth/logout-all", { bearer: a1.access_token }), 401, "invalid_token");
    isError(await call(w, "POST", "/auth/logout-all"), 401, "invalid_token");
  });
});

describe("resources", () => {
  test("JWKS publishes the public key only", async () => {
    const res = await call(w, "GET", "/.well-known/jwks.json");
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("cache-control"), "no-store");
    assert.equal(res.body.keys.length, 1);
    const [k] = res.body.keys;
    assert.deepEqual(Object.keys(k).sort(), ["alg", "crv", "kid", "kty", "use", "x"]);
    assert.equal(k.alg, "EdDSA");
  });

  test("/api/me rejects missing, malformed and refresh tokens with WWW-Authenticate", async () => {
    const t = await session(w);
    for (const headers of [{}, { authorization: "Basic abc" }, { authorization: `Bearer ${t.refresh_token}` }, { authorization: "Bearer a.b.c" }, { authorization: `Bearer ${t.access_token}x` }]) {
      const res = await call(w, "GET", "/api/me", { headers });
      isError(res, 401, "invalid_token", JSON.stringify(headers));
      // Both schemes: Bearer with the error, and DPoP with the algorithms it takes (RFC 9449 §7.1).
      assert.equal(res.headers.get("www-authenticate"), 'Bearer error="invalid_token", DPoP algs="ES256"');
    }
  });

  test("unknown paths are a JSON 404; wrong methods a 405 with Allow", async () => {
    isError(await call(w, "GET", "/auth/nope"), 404, "not_found");
    isError(await call(w, "GET", "/api/nope"), 404, "not_found");
    isError(await call(w, "GET", "/.well-known/openid-configuration"), 404, "not_found");
    const r = await call(w, "POST", "/api/me");
    isError(r, 405, "method_not_allowed");
    assert.equal(r.headers.get("allow"), "GET, OPTIONS");
    isError(await call(w, "PUT", "/auth/login"), 405, "method_not_allowed");
  });
});

describe("body limits and media types", () => {
  test("an oversized body is 413 by Content-Length before reading", async () => {
    isError(await call(w, "POST", "/auth/refresh", { json: { refresh_token: "x".repeat(10_000) } }), 413, "payload_too_large");
  });

  test("an oversized streamed body without Content-Length is 413 while reading", async () => {
    // The body is 9 KB so far (the limit is 8 KB) and never ends: only a Worker that counts while
    // reading can answer. It starts with a live token, which must come out untouched.
    const t = await session(w);
    const kvBefore = w.kvValues();
    const start = `{"refresh_token":"${t.refresh_token}","pad":"`;
    isError(await endlessPost(w, "/auth/refresh", { start, bytes: 9 * 1024 }), 413, "payload_too_large");
    assert.deepEqual(w.kvValues(), kvBefore, "nothing written");
    expectNoGrace(w);
    isTokens(await refresh(w, t.refresh_token), {}, "the token in the refused body is still the current one");
  });

  test("a streamed body without Content-Length within the limit is read in full", async () => {
    const t = await session(w);
    const bytes = new TextEncoder().encode(JSON.stringify({ refresh_token: t.refresh_token }));
    let sent = 0;
    const stream = new ReadableStream({
      pull(c) {
        // A few bytes per chunk: the Worker must join every chunk, not stop at the first.
        if (sent < bytes.length) c.enqueue(bytes.slice(sent, (sent += 7)));
        else c.close();
      },
    });
    const res = await fetch(`${w.url}/auth/refresh?via=stream`, {
      method: "POST", body: stream, duplex: "half", headers: { "content-type": "application/json" }, signal: AbortSignal.timeout(30_000),
    });
    const body = await res.json();
    assert.equal(res.status, 200, JSON.stringify(body));
    assert.match(body.refresh_token, /^srt_[A-Za-z0-9_-]{64}$/);
    assert.notEqual(body.refresh_token, t.refresh_token);
  });

  test("bodies of the wrong type are 415", async () => {
    isError(await call(w, "POST", "/auth/refresh", { body: "refresh_token=x", headers: { "content-type": "text/plain" } }), 415, "unsupported_media_type");
    isError(await call(w, "POST", "/auth/refresh", { body: "{}", headers: { "content-type": "application/json; charset=latin1" } }), 415, "unsupported_media_type");
  });
});

describe("CORS", () => {
  test("an allow-listed origin gets CORS headers, never *", async () => {
    const t = await session(w);
    const res = await call(w, "POST", "/auth/refresh", { json: { refresh_token: t.refresh_token }, headers: { origin: "https://app.example" } });
    isTokens(res);
    assert.equal(res.headers.get("access-control-allow-origin"), "https://app.example");
    assert.match(res.headers.get("vary"), /Origin/);
  });

  test("preflight succeeds for an allow-listed origin and is refused otherwise", async () => {
    const ok = await call(w, "OPTIONS", "/auth/refresh", { headers: { origin: "https://app.example", "access-control-request-method": "POST" } });
    assert.equal(ok.status, 204);
    assert.equal(ok.headers.get("access-control-allow-origin"), "https://app.example");
    assert.match(ok.headers.get("access-control-allow-methods"), /POST/);
    assert.match(ok.headers.get("access-control-allow-headers"), /X-Silent-Refresh/);
    const bad = await call(w, "OPTIONS", "/auth/refresh", { headers: { origin: "https://evil.example", "access-control-request-method": "POST" } });
    isError(bad, 403, "forbidden_origin");
    assert.equal(bad.headers.get("access-control-allow-origin"), null);
  });

  test("a foreign origin cannot use the POST endpoints at all", async () => {
    const t = await session(w);
    const res = await call(w, "POST", "/auth/refresh", { json: { refresh_token: t.refresh_token }, headers: { origin: "https://evil.example" } });
    isError(res, 403, "forbidden_origin");
    assert.equal(res.headers.get("access-control-allow-origin"), null);
    expectNoGrace(w);
    isTokens(await refresh(w, t.refresh_token), {}, "the refused token is still the current one");
  });
});
