// Unit tests of the package's error values (src/browser/values.js) under Node: no build, no
// browser. names.js carries the message of an error only where it is not the code's words.
import { test } from "../support/test.mjs";
import assert from "node:assert/strict";
import { AuthError, error } from "../../src/browser/values.js";
import { ERRORS } from "../../src/browser/names.js";

test("an error's message is the code's words in lower case, unless names.js carries a sentence", () => {
  const e = error(5, 401, 2000, "invalid_grant");
  assert.ok(e instanceof AuthError);
  assert.deepEqual([e.code, e.message, e.status, e.retryAfter, e.oauthError], ["ERR_SESSION_EXPIRED", "session expired", 401, 2000, "invalid_grant"]);
  assert.equal(error(7).message, "invalid credentials");
  for (const [i, entry] of ERRORS.entries()) {
    const [code, sentence] = entry.split(":");
    assert.equal(error(i).code, "ERR_" + code);
    assert.equal(error(i).message, sentence ?? code.toLowerCase().replace(/_/g, " "), code);
  }
  assert.equal(error(13).message, "cookie mode needs the auth endpoints on this origin, or body mode");
});
