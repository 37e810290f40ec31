// Small helpers shared by the HTTP tests (not a test file itself).
import assert from "node:assert/strict";

/** Milliseconds a request may take, body included, before it fails the test. */
export const REQUEST_TIMEOUT_MS = 30_000;

/**
 * Sends one request. Options: json (object, sent as application/json), form (object or string,
 * sent as x-www-form-urlencoded), body (raw), headers, cookie (value of the Cookie header),
 * bearer (Authorization: Bearer ...). Resolves to { status, headers, body, text, setCookie }.
 */
export async function call(w, method, path, { json, form, body, headers = {}, cookie, bearer } = {}) {
  const h = { ...headers };
  if (json !== undefined) {
    h["content-type"] ??= "application/json";
    body = typeof json === "string" ? json : JSON.stringify(json);
  } else if (form !== undefined) {
    h["content-type"] ??= "application/x-www-form-urlencoded";
    body = typeof form === "string" ? form : new URLSearchParams(form).toString();
  }
  if (cookie !== undefined) h.cookie = cookie;
  if (bearer !== undefined) h.authorization = `Bearer ${bearer}`;
  const res = await fetch(`${w.url}${path}`, {
    method, headers: h, body, redirect: "manual", duplex: "half", signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  const text = await res.text();
  let parsed = null;
  try { parsed = text ? JSON.parse(text) : null; } catch { parsed = undefined; }
  return { status: res.status, headers: res.headers, body: parsed, text, setCookie: res.headers.get("set-cookie") };
}

/** Asserts a JSON error response of PROTOCOL.md. */
export function isError(res, status, code, what = "") {
  assert.equal(res.status, status, `${what}: status (body ${res.text})`);
  assert.equal(res.body?.error, code, `${what}: error code (body ${res.text})`);
  assert.equal(typeof res.body.error_description, "string", `${what}: description`);
  assert.equal(res.headers.get("cache-control"), "no-store", `${what}: no-store`);
  assert.match(res.headers.get("content-type") ?? "", /^application\/json/, `${what}: content type`);
}

/** Asserts a 200 token response; `cookie` tells the transport. Returns the body. */
export function isTokens(res, { cookie = false } = {}, what = "") {
  assert.equal(res.status, 200, `${what}: status (body ${res.text})`);
  assert.equal(res.headers.get("cache-control"), "no-store");
  assert.equal(res.body.token_type, "Bearer");
  assert.equal(typeof res.body.access_token, "string");
  assert.equal(typeof res.body.expires_in, "number");
  if (cookie) {
    assert.equal(res.body.refresh_token, undefined, `${what}: no refresh token in the body in cookie mode`);
    assert.match(res.setCookie ?? "", /^sr_refresh=srt_[A-Za-z0-9_-]{43}; /);
  } else {
    assert.match(res.body.refresh_token, /^srt_[A-Za-z0-9_-]{43}$/);
  }
  return res.body;
}

/** The refresh token carried by a Set-Cookie header. */
export function cookieToken(setCookie) {
  return /sr_refresh=([^;]*)/.exec(setCookie ?? "")?.[1];
}

/** Starts a session for `sub` through the admin endpoint; resolves to the token response. */
export async function session(w, sub = "alice", claims) {
  const res = await call(w, "POST", "/auth/sessions", { bearer: w.adminToken, json: { sub, claims } });
  return isTokens(res, {}, "session");
}

/** Refreshes with a JSON body. */
export function refresh(w, token) {
  return call(w, "POST", "/auth/refresh", { json: { refresh_token: token } });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
