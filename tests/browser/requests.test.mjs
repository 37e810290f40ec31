// Unit tests of the request rules of the package (src/browser/requests.js) under Node: no build,
// no browser. Node's `Request` (undici's, WHATWG Fetch) stands in for the browser's. The Chromium
// scenarios check the built package sends a managed request with the token (`fetchWrapper`) and
// leaves the others alone (`bearerOrigins`).
import { test } from "../support/test.mjs";
import assert from "node:assert/strict";
import { read } from "../../src/browser/options.js";
import { bound, managed } from "../../src/browser/requests.js";

const PAGE = "https://app.example.com/app/index.html";

/**
 * Whether a client with `options` (read as the package reads them) manages `fetch(input, init)`
 * on the page `PAGE` (a path resolves against it, as in the browser).
 */
function manages(options, input, init) {
  const [h] = read({ fetch: () => {}, ...options }, PAGE);
  return managed(new Request(typeof input == "string" ? new URL(input, PAGE) : input, init), h.origins_, h.endpoints_);
}

test("a request to the API's origin is managed, with any method, query or fragment", () => {
  assert.equal(manages({}, "/api/me"), true);
  assert.equal(manages({}, "https://app.example.com/api/me?x=1#y"), true);
  assert.equal(manages({}, "/api/items", { method: "POST", body: "{}" }), true);
  // A positive control for the endpoint rule below: a path that merely starts with one.
  assert.equal(manages({}, "/auth/logout-all", { method: "POST" }), true);
  assert.equal(manages({}, "/auth/refresh/x"), true);
});

test("the client's own endpoints are not managed, whatever their query or fragment", () => {
  for (const path of ["/auth/login", "/auth/refresh", "/auth/logout", "/auth/logout?all=1", "/auth/refresh#x"]) {
    assert.equal(manages({}, path, { method: "POST" }), false, path);
  }
  // Endpoints on another origin (`tokenEndpoint`, `revokePath` is not one: it is not sent through `fetch`).
  const other = { baseUrl: "https://api.example.com", bearerOrigins: ["https://api.example.com"] };
  assert.equal(manages(other, "https://api.example.com/auth/refresh"), false);
  assert.equal(manages(other, "https://api.example.com/data"), true);
  const token = { tokenEndpoint: "https://idp.example.com/token", bearerOrigins: ["https://idp.example.com"] };
  assert.equal(manages(token, "https://idp.example.com/token?x"), false);
  assert.equal(manages(token, "https://idp.example.com/userinfo"), true);
});

test("only the bearer origins are managed: not a look-alike host, port or scheme", () => {
  const options = { bearerOrigins: ["https://api.example.com"] };
  assert.equal(manages(options, "https://api.example.com/x"), true);
  for (const url of ["https://api.example.com.evil.example/x", "https://api.example.com:8443/x",
    "http://api.example.com/x", "https://app.example.com/api/me", "https://evil.example/https://api.example.com/x"]) {
    assert.equal(manages(options, url), false, url);
  }
  // The default: the page's origin only (where the endpoints are).
  assert.equal(manages({}, "https://cdn.example.com/app.js"), false);
  // Userinfo would hide the real host behind a prefix: `Request` refuses it before the rule runs.
  assert.throws(() => new Request("https://api.example.com@evil.example/x"), TypeError);
});

test("a request with the caller's own Authorization is not managed, in any case", () => {
  assert.equal(manages({}, "/api/me", { headers: { Authorization: "Basic eDp5" } }), false);
  assert.equal(manages({}, "/api/me", { headers: { authorization: "Bearer theirs" } }), false);
  assert.equal(manages({}, new Request(PAGE.replace("app/index.html", "api"), { headers: { AUTHORIZATION: "x" } })), false);
  assert.equal(manages({}, "/api/me", { headers: { "X-Other": "1" } }), true);
});

test("a token is DPoP-bound when its token_type is DPoP, in any case; else Bearer", () => {
  for (const t of ["DPoP", "dpop", "DPOP"]) assert.equal(bound(t), true, t);
  for (const t of ["Bearer", "bearer", "", "DPoP ", " DPoP", "xDPoP", "DPoPx", undefined, null, 1]) assert.equal(bound(t), false, String(t));
});
