// Lifetimes against the real Worker, with short lifetimes set by --var: the idle deadline, the
// absolute deadline (not extended by rotation) and access-token expiry. About 9 s of waiting.
import assert from "node:assert/strict";
import { after, before, test } from "../support/test.mjs";
import { startWorker } from "../support/worker.mjs";
import { call, isError, isTokens, refresh, session, sleep } from "./helpers.mjs";

let w;
before(async () => {
  w = await startWorker({
    vars: { ACCESS_TTL_SECONDS: "5", REFRESH_IDLE_SECONDS: "5", REFRESH_ABSOLUTE_SECONDS: "8", GRACE_SECONDS: "1", LEEWAY_SECONDS: "0" },
  });
});
after(async () => {
  await w?.stop();
});

test("idle and absolute deadlines end refresh tokens; access tokens expire", async () => {
  const [idle, absolute, access] = await Promise.all([session(w, "idle"), session(w, "absolute"), session(w, "access")]);
  const start = Date.now();
  const at = (s) => sleep(Math.max(0, start + s * 1000 - Date.now()));
  assert.equal(absolute.expires_in, 5);

  await at(3);
  const a2 = isTokens(await refresh(w, absolute.refresh_token), {}, "rotation at 3 s");
  assert.equal((await call(w, "GET", "/api/me", { bearer: access.access_token })).status, 200, "access token at 3 s");
  await at(5.6);
  isError(await refresh(w, idle.refresh_token), 400, "invalid_grant", "idle for 5.6 s");
  await at(6.2);
  const a3 = isTokens(await refresh(w, a2.refresh_token), {}, "rotation at 6 s");
  isError(await call(w, "GET", "/api/me", { bearer: access.access_token }), 401, "invalid_token", "access token after 6 s");
  await at(8.7);
  isError(await refresh(w, a3.refresh_token), 400, "invalid_grant", "past the absolute deadline although rotated 2.5 s ago");
});
