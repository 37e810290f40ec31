// Switching ROTATION_STORE on a live deployment, in workerd with its KV and objects kept across
// the restart: sessions of the store before the switch keep working where they are until they
// end (ROTATION_STORE_PREVIOUS; by default "kv" in strict mode), logout and logout-all still
// reach them, new sessions go to the new store; with ROTATION_STORE_PREVIOUS = "none" the switch
// ends them (the control). Each test sets both stores itself, so the file runs in the KV pass
// only.
import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "../support/test.mjs";
import { startWorker } from "../support/worker.mjs";
import { call, isError, isTokens, refresh, session } from "./helpers.mjs";

const MODE = process.env.SILENT_REFRESH_ROTATION_STORE ?? "kv";
const once = MODE === "kv" ? false : "sets its stores itself (runs in the kv pass)";

function objectFiles(stateDir) {
  const dir = join(stateDir, "state/v3/do/silent-refresh-RotationObject");
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => /^[0-9a-f]{64}\.sqlite$/.test(f));
}

/** Starts the Worker in `from`, runs `before` on it, restarts it on the same state in `to`
 *  with `vars`, and runs `after` on that. */
async function switchStores(from, to, vars, before, after) {
  const first = await startWorker({ rotationStore: from });
  let second;
  try {
    const carried = await before(first);
    await first.stop({ keepState: true });
    second = await startWorker({ rotationStore: to, vars, stateDir: first.stateDir, secrets: first.secrets });
    await after(second, carried);
  } finally {
    await first.stop();
    await second?.stop();
  }
}

describe("switching ROTATION_STORE", { skip: once }, () => {
  test("kv -> durable-object: KV sessions go on refreshing in KV, logout ends them, new sessions are strict", async () => {
    await switchStores("kv", "durable-object", {}, async (w) => {
      const a = await session(w, "switch-user");
      const b = await session(w, "switch-user-2");
      return { a: isTokens(await refresh(w, a.refresh_token)).refresh_token, b: b.refresh_token };
    }, async (w, { a, b }) => {
      assert.equal(objectFiles(w.stateDir).length, 0, "no object yet");
      const a1 = isTokens(await refresh(w, a), {}, "a KV session after the switch").refresh_token;
      const a2 = isTokens(await refresh(w, a1), {}, "and its successor").refresh_token;
      isError(await refresh(w, a), 400, "invalid_grant", "reuse is still detected in KV");
      isError(await refresh(w, a2), 400, "invalid_grant", "the reuse revoked the family");
      const b1 = isTokens(await refresh(w, b), {}, "another KV session").refresh_token;
      assert.equal((await call(w, "POST", "/auth/logout", { json: { refresh_token: b1 } })).status, 200);
      isError(await refresh(w, b1), 400, "invalid_grant", "logout reaches the KV family");
      const c = await session(w, "switch-user-3");
      isTokens(await refresh(w, c.refresh_token), {}, "a new session");
      assert.ok(objectFiles(w.stateDir).length >= 1, "new sessions live in objects");
    });
  });

  test("kv -> durable-object with ROTATION_STORE_PREVIOUS=none ends KV sessions (the control)", async () => {
    await switchStores("kv", "durable-object", { ROTATION_STORE_PREVIOUS: "none" }, async (w) => {
      return (await session(w, "switch-none-user")).refresh_token;
    }, async (w, t) => {
      isError(await refresh(w, t), 400, "invalid_grant", "a KV session after a switch without a previous store");
    });
  });

  test("durable-object -> kv with ROTATION_STORE_PREVIOUS=durable-object: strict sessions go on in their objects, logout-all reaches them", async () => {
    await switchStores("durable-object", "kv", { ROTATION_STORE_PREVIOUS: "durable-object" }, async (w) => {
      const a = await session(w, "back-user");
      const b = await session(w, "back-user");
      return { a: a.refresh_token, b: b.refresh_token };
    }, async (w, { a, b }) => {
      const kvBefore = w.kvValues();
      const a1 = isTokens(await refresh(w, a), {}, "a strict session after the switch");
      const a2 = isTokens(await refresh(w, a1.refresh_token), {}, "and its successor");
      assert.deepEqual(w.kvValues(), kvBefore, "its rotations stay in the object");
      assert.equal((await call(w, "POST", "/auth/logout-all", { bearer: a2.access_token })).status, 200);
      isError(await refresh(w, b), 400, "invalid_grant", "logout-all reaches the user's other strict session");
      isError(await refresh(w, a2.refresh_token), 400, "invalid_grant", "and this one");
    });
  });

  test("durable-object -> kv without a previous store ends strict sessions (the control)", async () => {
    await switchStores("durable-object", "kv", {}, async (w) => {
      return (await session(w, "back-none-user")).refresh_token;
    }, async (w, t) => {
      isError(await refresh(w, t), 400, "invalid_grant", "a strict session after a switch to KV without a previous store");
    });
  });
});
