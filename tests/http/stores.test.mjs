// The two rotation stores (ROTATION_STORE): where the state goes, and strict mode's faults.
// scripts/test.sh runs every http file once per mode; the mode-specific tests here say which
// mode they are about and are skipped in the other pass.
import assert from "node:assert/strict";
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "../support/test.mjs";
import { DEV_VARS, startWorker } from "../support/worker.mjs";
import { call, expectNoGrace, isError, isTokens, refresh, session } from "./helpers.mjs";

const MODE = process.env.SILENT_REFRESH_ROTATION_STORE ?? "kv";
const strictOnly = MODE === "durable-object" ? false : "strict mode only (runs in the durable-object pass)";

/** The SQLite files of rotation objects in a state directory (one per object; the namespace's
 *  own metadata.sqlite is always there and not counted). */
function objectFiles(stateDir) {
  const dir = join(stateDir, "state/v3/do/silent-refresh-RotationObject");
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => /^[0-9a-f]{64}\.sqlite$/.test(f));
}

describe(`rotation store: ${MODE}`, () => {
  let w;
  before(async () => {
    w = await startWorker();
  });
  after(async () => {
    await w?.stop();
  });

  test("rotation state goes where ROTATION_STORE says", async () => {
    assert.equal(w.rotationStore, MODE);
    const t = await session(w, "where-user");
    const kvBefore = w.kvValues();
    isTokens(await refresh(w, t.refresh_token));
    const kvAfter = w.kvValues();
    if (MODE === "kv") {
      // A rotation writes the family record to KV (its one write: the token names its family).
      assert.notDeepEqual(kvAfter, kvBefore, "KV written by a rotation");
      assert.equal(objectFiles(w.stateDir).length, 0, "no Durable Object storage in KV mode");
    } else {
      // A rotation writes nothing to KV: the subject's object holds the state.
      assert.deepEqual(kvAfter, kvBefore, "KV untouched by a rotation in strict mode");
      assert.ok(objectFiles(w.stateDir).length >= 1, "the subject's object has SQLite storage");
    }
  });

  test("a revoked family is refused at the very next request", async () => {
    const t = await session(w, "revoked-user");
    const t1 = isTokens(await refresh(w, t.refresh_token)).refresh_token;
    assert.equal((await call(w, "POST", "/auth/logout", { json: { refresh_token: t1 } })).status, 200);
    isError(await refresh(w, t1), 400, "invalid_grant", "current token right after logout");
  });

  test("logout-all ends every session of the user and its access tokens at the next request", async () => {
    const a = await session(w, "everywhere-user");
    const b = await session(w, "everywhere-user");
    assert.equal((await call(w, "POST", "/auth/logout-all", { bearer: a.access_token })).status, 200);
    isError(await refresh(w, b.refresh_token), 400, "invalid_grant", "the other session");
    isError(await call(w, "GET", "/api/me", { bearer: b.access_token }), 401, "invalid_token", "old access token");
    const c = await session(w, "everywhere-user");
    assert.equal((await call(w, "GET", "/api/me", { bearer: c.access_token })).status, 200, "a new session works");
  });

  test("deleting a user ends the user's sessions", { skip: strictOnly }, async () => {
    const created = await call(w, "POST", "/auth/users", {
      bearer: w.adminToken,
      json: { username: "to-delete", password: "correct horse battery" },
    });
    assert.equal(created.status, 201);
    const login = isTokens(await call(w, "POST", "/auth/login", { json: { username: "to-delete", password: "correct horse battery" } }));
    assert.equal((await call(w, "DELETE", "/auth/users/to-delete", { bearer: w.adminToken })).status, 204);
    isError(await refresh(w, login.refresh_token), 400, "invalid_grant", "refresh after deletion");
  });
});

describe("strict mode placement", { skip: strictOnly }, () => {
  test("with ROTATION_LOCATION_HINT new objects are created through the hint and work", async () => {
    const w = await startWorker({ rotationStore: "durable-object", vars: { ROTATION_LOCATION_HINT: "weur" } });
    try {
      const t = await session(w, "hinted-user");
      const next = isTokens(await refresh(w, t.refresh_token));
      isTokens(await refresh(w, next.refresh_token));
      assert.equal(objectFiles(w.stateDir).length, 1, "one object for the one subject");
    } finally {
      await w.stop();
    }
  });
});

describe("strict mode faults", { skip: strictOnly }, () => {
  test("an unreachable object answers 503 with Retry-After, issues nothing, and the token works afterwards", async () => {
    // Grace 0 (see expectNoGrace): had the failed refresh rotated the token, it would be reuse after.
    const vars = { GRACE_SECONDS: "0" };
    const healthy = await startWorker({ rotationStore: "durable-object", vars });
    let broken;
    try {
      const t = await session(healthy, "fault-user");
      await healthy.stop({ keepState: true });
      // The same Worker and state, with the object binding pointing at a script that is not
      // running: every call to the object fails in workerd.
      const config = join(healthy.stateDir, "unreachable.wrangler.toml");
      const toml = (await import("node:fs")).readFileSync("wrangler.toml", "utf8")
        .replace('class_name = "RotationObject"', 'class_name = "RotationObject"\nscript_name = "silent-refresh-not-running"')
        .replace(/^\[\[migrations\]\]\n(?:\w+ = .*\n)*/gm, "")
        .replace('main = "build/worker/index.js"', `main = "${join(process.cwd(), "build/worker/index.js")}"`)
        .replace('directory = "build/site"', `directory = "${join(process.cwd(), "build/site")}"`);
      writeFileSync(config, toml);
      // Another config gets none of the harness's local values: the loopback ISSUER given here.
      broken = await startWorker({ config, stateDir: healthy.stateDir, secrets: healthy.secrets, vars: { ...DEV_VARS, ...vars, ROTATION_STORE: "durable-object" } });
      const kvBefore = broken.kvValues();
      const res = await refresh(broken, t.refresh_token);
      isError(res, 503, "temporarily_unavailable", "object unreachable");
      assert.match(res.headers.get("retry-after") ?? "", /^[1-9][0-9]*$/, "Retry-After");
      assert.equal(res.body.refresh_token, undefined, "nothing issued");
      assert.deepEqual(broken.kvValues(), kvBefore, "nothing written");
      await broken.stop({ keepState: true });
      broken = await startWorker({ rotationStore: "durable-object", vars, stateDir: healthy.stateDir, secrets: healthy.secrets });
      expectNoGrace(broken);
      const next = isTokens(await refresh(broken, t.refresh_token), {}, "the presented token after recovery");
      isTokens(await refresh(broken, next.refresh_token), {}, "and its successor");
    } finally {
      await healthy.stop();
      await broken?.stop();
    }
  });

  test("a restart in the middle of refreshes loses nothing committed", async () => {
    // Grace 60 s: a rotation that committed but whose answer was lost in the kill is retried
    // after the restart within the window, as a client would, and gets the same successor.
    const vars = { GRACE_SECONDS: "60" };
    const first = await startWorker({ rotationStore: "durable-object", vars });
    let second;
    try {
      const chains = await Promise.all(Array.from({ length: 8 }, (_, i) => session(first, `restart-user-${i % 4}`)));
      const state = chains.map((t) => ({ received: t.refresh_token, rotations: 0 }));
      let killed = false;
      // Each chain rotates as fast as it can until the kill; every 200 is a committed rotation.
      const runs = state.map(async (s) => {
        while (!killed) {
          let res;
          try {
            res = await refresh(first, s.received);
          } catch (e) {
            // Only the kill may end a chain (the connection died with the server): an error
            // before it fails the test.
            if (killed) return;
            throw e;
          }
          if (res.status === 200) {
            s.received = res.body.refresh_token;
            s.rotations++;
          } else if (!killed) {
            assert.fail(`refresh answered ${res.status} ${res.text} before the kill`);
          }
        }
      });
      // Kill once every chain has rotated a few times (event-driven, not a fixed delay); a chain
      // that fails first fails the test at once.
      const running = Promise.all(runs);
      while (state.some((s) => s.rotations < 3)) await Promise.race([running, new Promise((r) => setTimeout(r, 20))]);
      killed = true;
      await first.stop({ keepState: true, signal: "SIGKILL" });
      await running;
      second = await startWorker({ rotationStore: "durable-object", vars, stateDir: first.stateDir, secrets: first.secrets });
      for (const [i, s] of state.entries()) {
        // The last token each chain received in a 200 is the current one, or the predecessor
        // of a rotation whose answer the kill swallowed (then the replay gives the successor).
        const res = await refresh(second, s.received);
        isTokens(res, {}, `chain ${i} after the restart (${s.rotations} rotations before)`);
        isTokens(await refresh(second, res.body.refresh_token), {}, `chain ${i} goes on`);
      }
    } finally {
      await first.stop();
      await second?.stop();
    }
  });
});
