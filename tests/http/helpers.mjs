// Small helpers shared by the HTTP tests (not a test file itself).
import assert from "node:assert/strict";
import { connect } from "node:net";

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
    assert.match(res.setCookie ?? "", /^sr_refresh=srt_[A-Za-z0-9_-]{64}; /);
  } else {
    assert.match(res.body.refresh_token, /^srt_[A-Za-z0-9_-]{64}$/);
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

/**
 * Asserts that `w` runs without a grace window, before a follow-up request that proves earlier
 * refused requests did not rotate a token: the follow-up presents the token and must get a first
 * rotation. Had a refused request rotated it, the token would be a predecessor, and inside a
 * grace window a predecessor is a grace replay that succeeds too; with GRACE_SECONDS=0 it is
 * reuse (invalid_grant).
 */
export function expectNoGrace(w) {
  assert.equal(w.vars?.GRACE_SECONDS, "0", "a refused request's rotation is only visible with GRACE_SECONDS=0");
}

/**
 * Sends a POST whose chunked body (no Content-Length) is `bytes` bytes long so far, `start`
 * followed by padding, and never ends, over a raw socket; resolves to the response { status,
 * headers, body, text } as soon as it is complete. Only a server that enforces a body limit while reading can answer; one that waits
 * for the end of the body fails the request after REQUEST_TIMEOUT_MS. The client sends no more
 * than `bytes` (fetch would keep sending while the server closes, and then lose the answer).
 */
export function endlessPost(w, path, { start = "", bytes, headers = {} }) {
  return new Promise((resolve, reject) => {
    const socket = connect(w.port, "127.0.0.1");
    let got = Buffer.alloc(0);
    const fail = (e) => { clearTimeout(timer); socket.destroy(); reject(e); };
    const timer = setTimeout(() => fail(new Error(`${path}: no answer within ${REQUEST_TIMEOUT_MS} ms to an endless body`)), REQUEST_TIMEOUT_MS);
    socket.on("error", fail);
    socket.on("close", () => fail(new Error(`${path}: connection closed after ${got.length} bytes of answer: ${got}`)));
    socket.on("data", (d) => {
      got = Buffer.concat([got, d]);
      const res = parseResponse(got);
      if (res) { clearTimeout(timer); socket.removeAllListeners("close"); socket.destroy(); resolve(res); }
    });
    socket.on("connect", () => {
      const head = Object.entries({ "content-type": "application/json", ...headers }).map(([k, v]) => `${k}: ${v}\r\n`).join("");
      socket.write(`POST ${path} HTTP/1.1\r\nhost: 127.0.0.1:${w.port}\r\ntransfer-encoding: chunked\r\n${head}\r\n`);
      const body = Buffer.from(start.padEnd(bytes, "a"));
      for (let sent = 0; sent < body.length; sent += 1024) {
        const chunk = body.subarray(sent, sent + 1024);
        socket.write(`${chunk.length.toString(16)}\r\n`);
        socket.write(chunk);
        socket.write("\r\n");
      }
    });
  });
}

/**
 * Sends one request over a raw socket with header values written as UTF-8 bytes (fetch refuses
 * or re-encodes non-Latin-1 header values; an attacker's browser or script sends bytes).
 * Options: headers, json (object). Resolves to { status, headers, body, text, setCookie }.
 */
export function rawCall(w, method, path, { headers = {}, json } = {}) {
  return new Promise((resolve, reject) => {
    const socket = connect(w.port, "127.0.0.1");
    let got = Buffer.alloc(0);
    const fail = (e) => { clearTimeout(timer); socket.destroy(); reject(e); };
    const timer = setTimeout(() => fail(new Error(`${path}: no answer within ${REQUEST_TIMEOUT_MS} ms`)), REQUEST_TIMEOUT_MS);
    socket.on("error", fail);
    socket.on("close", () => fail(new Error(`${path}: connection closed after ${got.length} bytes of answer: ${got}`)));
    socket.on("data", (d) => {
      got = Buffer.concat([got, d]);
      const res = parseResponse(got);
      if (res) { clearTimeout(timer); socket.removeAllListeners("close"); socket.destroy(); resolve(res); }
    });
    socket.on("connect", () => {
      const body = json === undefined ? Buffer.alloc(0) : Buffer.from(JSON.stringify(json));
      const all = { ...(json === undefined ? {} : { "content-type": "application/json" }), ...headers, "content-length": String(body.length) };
      const head = Object.entries(all).map(([k, v]) => `${k}: ${v}\r\n`).join("");
      socket.write(Buffer.concat([Buffer.from(`${method} ${path} HTTP/1.1\r\nhost: 127.0.0.1:${w.port}\r\n${head}\r\n`, "utf8"), body]));
    });
  });
}

/** A complete HTTP/1.1 response in `buf` (Content-Length or chunked), or null while incomplete. */
function parseResponse(buf) {
  const end = buf.indexOf("\r\n\r\n");
  if (end < 0) return null;
  const [statusLine, ...lines] = buf.subarray(0, end).toString("latin1").split("\r\n");
  const headers = new Headers(lines.map((l) => [l.slice(0, l.indexOf(":")), l.slice(l.indexOf(":") + 1).trim()]));
  let rest = buf.subarray(end + 4);
  let body;
  if (headers.has("content-length")) {
    const n = Number(headers.get("content-length"));
    if (rest.length < n) return null;
    body = rest.subarray(0, n);
  } else if (/chunked/i.test(headers.get("transfer-encoding") ?? "")) {
    const parts = [];
    for (;;) {
      const nl = rest.indexOf("\r\n");
      if (nl < 0) return null;
      const n = parseInt(rest.subarray(0, nl).toString(), 16);
      if (n === 0) break;
      if (rest.length < nl + 2 + n + 2) return null;
      parts.push(rest.subarray(nl + 2, nl + 2 + n));
      rest = rest.subarray(nl + 2 + n + 2);
    }
    body = Buffer.concat(parts);
  } else {
    return null; // a body delimited by the connection's end: not what the Worker sends
  }
  const text = body.toString();
  let parsed = null;
  try { parsed = text ? JSON.parse(text) : null; } catch { parsed = undefined; }
  return { status: Number(statusLine.split(" ")[1]), headers, body: parsed, text, setCookie: headers.get("set-cookie") };
}
