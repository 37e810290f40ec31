// Unit tests of the package's option reading (src/browser/options.js) under Node: no build, no
// browser. Node's own WHATWG URL parser stands in for the browser's (the same standard). The
// Chromium scenario `storage` checks the built package refuses bad options the same way.
import { test } from "../support/test.mjs";
import assert from "node:assert/strict";
import { read } from "../../src/browser/options.js";

const PAGE = "https://app.example.com/app/index.html";
const f = () => {};

/** The error `read(options)` throws: `[option, message]`. */
function refusal(options, href = PAGE) {
  try {
    read(options, href);
  } catch (e) {
    assert.ok(e.message.startsWith(e.option + ": "), "the message starts with the option: " + e.message);
    return [e.option, e.message];
  }
  assert.fail("accepted " + JSON.stringify(options));
}

const endpoints = (options, href = PAGE) => read({ fetch: f, ...options }, href)[0].endpoints_;

test("every refusal names the option and says the rule", () => {
  const cases = [
    [{ mode: "x" }, "mode", /must be "cookie" or "body"/],
    [{ refreshMargin: -1 }, "refreshMargin", /number >= 0/],
    [{ requestTimeout: Infinity }, "requestTimeout", /number >= 0/],
    [{ fetch: 3 }, "fetch", /function/],
    [{ bearerOrigins: 5 }, "bearerOrigins", /array of URLs/],
    [{ bearerOrigins: ["https://ok.example", "http://[::1"] }, "bearerOrigins[1]", /must be a URL/],
    [{ storage: "s" }, "storage", /object/],
    [{ crossTab: 1 }, "crossTab", /boolean/],
    [{ baseUrl: 1 }, "baseUrl", /string/],
    [{ baseUrl: "http://[::1" }, "baseUrl", /URL/],
    [{ refreshPath: 7 }, "refreshPath", /must be a string/],
    [{ dpop: "yes" }, "dpop", /boolean/],
    [{ refreshEncoding: "xml" }, "refreshEncoding", /"form" or "json"/],
    [{ clientId: 1 }, "clientId", /string/],
    [{ sessionEndingStatuses: [401, 500] }, "sessionEndingStatuses", /400-463/],
    [{ mapTokenResponse: {} }, "mapTokenResponse", /function/],
    [{ sessionHint: "false" }, "sessionHint", /must be a boolean/],
    [{ issuer: true }, "issuer", /must be a string/],
    [{ tokenEndpoint: 1 }, "tokenEndpoint", /must be a string/],
    [{ redirectUri: {} }, "redirectUri", /must be a string/],
    [{ resource: null }, "resource", /must be a string/],
    [7, "options", /object/],
    [null, "options", /object/],
  ];
  for (const [options, option, rule] of cases) {
    const [named, message] = refusal(typeof options == "object" && options ? { fetch: f, ...options } : options);
    assert.equal(named, option, JSON.stringify(options));
    assert.match(message, rule, JSON.stringify(options));
  }
});

test("an unknown option is refused, with the closest known name", () => {
  assert.deepEqual(refusal({ fetch: f, clientID: "x" }), ["clientID", "clientID: unknown option; did you mean clientId?"]);
  assert.deepEqual(refusal({ fetch: f, refreshpath: "/x" }), ["refreshpath", "refreshpath: unknown option; did you mean refreshPath?"]);
  assert.deepEqual(refusal({ fetch: f, basUrl: "" }), ["basUrl", "basUrl: unknown option; did you mean baseUrl?"]);
  assert.deepEqual(refusal({ fetch: f, prompt: "login" }), ["prompt", "prompt: unknown option"]);
});

test("the hint and sign-in options are known, and kept for glue.js and oidc.js when well typed", () => {
  const sign_in = { issuer: "https://id.example.com", authorizationEndpoint: "https://id.example.com/authorize",
    tokenEndpoint: "https://id.example.com/token", endSessionEndpoint: "https://id.example.com/logout",
    redirectUri: "https://app.example.com/cb", audience: "api", resource: "https://api.example.com/" };
  const [h] = read({ fetch: f, mode: "body", sessionHint: false, ...sign_in }, PAGE);
  for (const [k, v] of Object.entries({ ...sign_in, sessionHint: false })) assert.equal(h.o_[k], v, k);
  // One meaning of `tokenEndpoint`: the refresh goes there too.
  assert.equal(h.endpoints_[1], "https://id.example.com/token");
});

test("undefined members take their defaults", () => {
  const [h, slots] = read({ fetch: f, mode: undefined, baseUrl: undefined, requestTimeout: undefined }, PAGE);
  assert.equal(h.mode_, "cookie");
  assert.equal(slots[4], 10000);
  assert.equal(h.endpoints_[1], "https://app.example.com/auth/refresh");
});

test("paths join baseUrl as URLs do, keeping its path prefix", () => {
  assert.deepEqual(endpoints({}), ["https://app.example.com/auth/login", "https://app.example.com/auth/refresh",
    "https://app.example.com/auth/logout"]);
  // A path without its leading `/` (issue 23: once "https://id.example.comoauth/token").
  assert.equal(endpoints({ baseUrl: "https://id.example.com", refreshPath: "oauth/token" })[1], "https://id.example.com/oauth/token");
  // A prefix, with or without a trailing `/`, with or without the path's leading `/`.
  for (const baseUrl of ["https://api.example.com/v1", "https://api.example.com/v1/"]) {
    for (const refreshPath of ["/auth/refresh", "auth/refresh"]) {
      assert.equal(endpoints({ baseUrl, refreshPath })[1], "https://api.example.com/v1/auth/refresh", baseUrl + " " + refreshPath);
    }
  }
  // Relative to the page.
  assert.equal(endpoints({ baseUrl: "/api" })[0], "https://app.example.com/api/auth/login");
});

test("a full URL is taken as it is where an endpoint is expected", () => {
  assert.equal(endpoints({ refreshPath: "https://idp.example/oauth2/token" })[1], "https://idp.example/oauth2/token");
  assert.equal(endpoints({ tokenEndpoint: "https://idp.example/token?x=1" })[1], "https://idp.example/token?x=1");
  assert.equal(endpoints({ mode: "body", revokePath: "https://idp.example/revoke" }) && read({ fetch: f, mode: "body", revokePath: "https://idp.example/revoke" }, PAGE)[0].revoke_,
    "https://idp.example/revoke");
  assert.deepEqual(refusal({ fetch: f, tokenEndpoint: "https://a/t", refreshPath: "/r" }),
    ["tokenEndpoint", "tokenEndpoint: set tokenEndpoint or refreshPath, not both"]);
});

test("bearer origins default to the endpoints' origin, else the listed ones", () => {
  assert.deepEqual(read({ fetch: f }, PAGE)[0].origins_, ["https://app.example.com/"]);
  assert.deepEqual(read({ fetch: f, baseUrl: "https://api.example.com/v1" }, PAGE)[0].origins_, ["https://api.example.com/"]);
  assert.deepEqual(read({ fetch: f, bearerOrigins: ["https://a.example/x", "/"] }, PAGE)[0].origins_,
    ["https://a.example/", "https://app.example.com/"]);
});

test("session-ending statuses become two 32-bit words", () => {
  assert.deepEqual(read({ fetch: f, sessionEndingStatuses: [400, 401, 463] }, PAGE)[2], [3, 2 ** 31]);
  assert.deepEqual(read({ fetch: f }, PAGE)[2], [], "absent: the default");
});
