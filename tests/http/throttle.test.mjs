// Login throttling on the wire, in workerd: a Durable Object per account and per client address
// (IPv4, or IPv6 /64, /56 and /48), asked address first. Timing: a block is judged by the
// send/receive windows of the requests around it, never by assuming a request arrives within
// the first delay (1 s): `block()` waits for a 429 whose Retry-After leaves at least a second,
// and an answer that should be refused is only required to be 429 when it was received before
// the earliest moment the block could have ended.
import assert from "node:assert/strict";
import { after, before, describe, test } from "../support/test.mjs";
import { startWorker } from "../support/worker.mjs";
import { call, isError, isTokens, sleep } from "./helpers.mjs";

let w;
before(async () => {
  w = await startWorker({ vars: { GRACE_SECONDS: "0" } });
});
after(async () => {
  await w?.stop();
});

let nextIp = 1;
/** A fresh client address for one test (the Worker counts attempts per address). */
const freshIp = () => `198.51.100.${nextIp++}`;
/** A login; resolves to the response with `sent` and `received` (ms, this process's clock). */
const login = async (username, password, ip) => {
  const sent = Date.now();
  const res = await call(w, "POST", "/auth/login", { json: { username, password }, headers: { "cf-connecting-ip": ip } });
  return Object.assign(res, { sent, received: Date.now() });
};
const createUser = async (username, password) => {
  const res = await call(w, "POST", "/auth/users", { bearer: w.adminToken, json: { username, password } });
  assert.equal(res.status, 201, res.text);
};
const retryAfter = (res) => Number(res.headers.get("retry-after"));

/**
 * Sends failing logins (`attempt(i)`, i counting from 0) until one is refused with a
 * Retry-After of at least `seconds`, waiting out shorter blocks (each further counted failure
 * doubles the delay). The first `free` attempts must all reach the password check (401).
 * Resolves to { refused, until }: the 429 and the earliest instant its block may end, from its
 * send time (the server decided between send and receive, and rounds the wait up to seconds).
 */
async function block(attempt, { free, seconds = 2 }) {
  for (let i = 0; i < free + 40; i++) {
    const res = await attempt(i);
    if (i < free) {
      isError(res, 401, "invalid_credentials", `free attempt ${i + 1}`);
      continue;
    }
    if (res.status === 401) continue; // counted: the next delay is twice as long
    isError(res, 429, "too_many_attempts", `attempt ${i + 1}`);
    const wait = retryAfter(res);
    assert.ok(wait >= 1, `Retry-After ${wait}`);
    if (wait >= seconds) return { refused: res, until: res.sent + (wait - 1) * 1000 };
    await sleep(wait * 1000);
  }
  throw new Error(`no 429 with Retry-After >= ${seconds} after ${free + 40} attempts`);
}

/** Asserts `res` is a 429, unless it was received after `until` (then nothing is judged). */
function refusedIfInside(res, until, what) {
  if (res.received < until) isError(res, 429, "too_many_attempts", what);
  return res.received < until;
}

describe("login throttling", () => {
  test("after the free attempts an account answers 429 too_many_attempts with Retry-After", async () => {
    await createUser("victim1", "correct horse");
    const ip = freshIp();
    const { refused, until } = await block(() => login("victim1", "wrong", ip), { free: 6 });
    assert.match(refused.headers.get("retry-after"), /^[1-9][0-9]*$/);
    // The right password is refused too while the block lasts.
    assert.ok(refusedIfInside(await login("victim1", "correct horse", ip), until, "right password"), "answered inside the block");
  });

  test("the account's block holds across client addresses", async () => {
    await createUser("victim2", "correct horse");
    const { until } = await block(() => login("victim2", "wrong", freshIp()), { free: 6 });
    assert.ok(refusedIfInside(await login("victim2", "correct horse", freshIp()), until, "fresh address"));
  });

  test("a successful login resets the account's counter", async () => {
    await createUser("victim3", "correct horse");
    const ip = freshIp();
    for (let i = 0; i < 4; i++) await login("victim3", "wrong", ip);
    isTokens(await login("victim3", "correct horse", ip));
    // Five more failures are free again (the sixth would set the delay).
    for (let i = 0; i < 5; i++) isError(await login("victim3", "wrong", ip), 401, "invalid_credentials", `after reset ${i + 1}`);
  });

  test("a known address logs in through the account's block; a wrong password there is answered like a stranger's", async () => {
    await createUser("victim4", "correct horse");
    const home = freshIp();
    isTokens(await login("victim4", "correct horse", home));
    const attacker = freshIp();
    const { until } = await block(() => login("victim4", "wrong", attacker), { free: 6, seconds: 4 });
    const stranger = await login("victim4", "wrong", freshIp());
    const known = await login("victim4", "wrong", home);
    assert.ok(refusedIfInside(stranger, until, "stranger") && refusedIfInside(known, until, "known address"));
    // Same answer: status, code and the account's wait (not the address's own counter).
    assert.equal(known.body.error_description, stranger.body.error_description);
    assert.ok(Math.abs(retryAfter(known) - retryAfter(stranger)) <= 1, `${retryAfter(known)} vs ${retryAfter(stranger)}`);
    assert.ok(refusedIfInside(await login("victim4", "correct horse", attacker), until, "attacker, right password"));
    isTokens(await login("victim4", "correct horse", home));
  });

  test("one address guessing many accounts is refused after the address's free attempts", async () => {
    const ip = freshIp();
    const { until } = await block((i) => login(`nobody${i}`, "guess", ip), { free: 21 });
    assert.ok(refusedIfInside(await login("someone-else", "guess", ip), until, "same address"));
    isError(await login("someone-else", "guess", freshIp()), 401, "invalid_credentials");
  });

  test("an address already refused does not count against the account it names: the user logs in from elsewhere", async () => {
    await createUser("target1", "correct horse");
    const attacker = freshIp();
    const { until } = await block((i) => login(`spray${i}`, "guess", attacker), { free: 21, seconds: 4 });
    // More attempts on the account than its free ones, all from the refused address.
    let judged = 0;
    for (let i = 0; i < 8; i++) if (refusedIfInside(await login("target1", "guess", attacker), until, `attempt ${i + 1} on target1`)) judged++;
    assert.ok(judged >= 6, `only ${judged} attempts landed inside the address's block`);
    isError(await login("target1", "wrong", freshIp()), 401, "invalid_credentials", "fresh address, wrong password");
    isTokens(await login("target1", "correct horse", freshIp()), {}, "fresh address, right password");
  });

  test("IPv6: fresh /64s of one /56 are stopped by the /56's budget; another /56 of the /48 is not", async () => {
    // The /56's free attempts (80) and the one that sets its first delay pass.
    let n = 0;
    const { until } = await block(() => login(`v6user${n}`, "guess", `2001:db8:aa:${(n++).toString(16)}::1`), { free: 81 });
    assert.ok(refusedIfInside(await login("v6-other", "guess", "2001:db8:aa:ff::9"), until, "a fresh /64 of the same /56"));
    isError(await login("v6-other", "guess", "2001:db8:aa:100::1"), 401, "invalid_credentials", "another /56 of the /48");
    isError(await login("v6-other", "guess", "2001:db8:ab::1"), 401, "invalid_credentials", "another /48");
  });

  test("a login without a usable client address is refused and logged, never counted with everyone else's", async () => {
    for (const ip of ["not-an-address", "198.51.100.1, 198.51.100.2", "\u00a0"]) {
      isError(await login("demo", "demo-password", ip), 400, "invalid_request", JSON.stringify(ip));
    }
    const logged = /login refused: no usable CF-Connecting-IP/;
    for (let i = 0; i < 100 && !logged.test(w.logs()); i++) await sleep(100);
    assert.match(w.logs(), logged);
    // Positive control: with an address the same login works.
    isTokens(await login("demo", "demo-password", freshIp()));
  });

  test("successful logins do not count against their address (users behind one NAT)", async () => {
    const ip = freshIp();
    for (let i = 0; i < 25; i++) isTokens(await login("demo", "demo-password", ip), {}, `login ${i + 1}`);
  });

  test("concurrent refused attempts are all 429 and do not extend the block", async () => {
    await createUser("victim5", "correct horse");
    const ip = freshIp();
    // A block of at least 4 s, so that the burst lands inside it on a loaded machine too (with
    // 2 s, a run under two CPU hogs once saw every answer arrive after the block).
    const { refused, until } = await block(() => login("victim5", "wrong", ip), { free: 6, seconds: 4 });
    // Concurrent refused attempts: all 429, and they do not extend the block (a refused
    // attempt changes nothing), so the Retry-After does not grow.
    const burst = await Promise.all(Array.from({ length: 10 }, () => login("victim5", "wrong", ip)));
    const inside = burst.filter((r) => refusedIfInside(r, until, "burst"));
    assert.ok(inside.length > 0, "the burst was answered inside the block");
    const waits = inside.map(retryAfter);
    assert.ok(Math.max(...waits) <= retryAfter(refused), `the block stays as it was: ${waits} vs ${retryAfter(refused)}`);
  });
});

describe("the login throttle object and its alarm", () => {
  // The object forgets its counter with an alarm an hour (or 30 days) after the last attempt.
  // To fire it now, the test stops workerd, moves every LoginThrottle alarm to the present in
  // the local storage (workerd's alarm table and each object's own record of its alarm, both in
  // nanoseconds) and starts workerd again on the same storage: overdue alarms run at start, in
  // an instance that then stays loaded and serves the next login without being constructed again.
  test("an alarm fired, then logins through the same objects keep working", async () => {
    const { DatabaseSync } = await import("node:sqlite");
    const { readdirSync } = await import("node:fs");
    const { join } = await import("node:path");
    let x = await startWorker();
    const ip = freshIp();
    const loginX = (password) => call(x, "POST", "/auth/login", { json: { username: "demo", password }, headers: { "cf-connecting-ip": ip } });
    try {
      isTokens(await loginX("demo-password"));
      isError(await loginX("wrong"), 401, "invalid_credentials");
      await x.stop({ keepState: true });
      const dir = join(x.stateDir, "state/v3/do");
      const ns = readdirSync(dir).find((d) => d.endsWith("-LoginThrottle"));
      assert.ok(ns, `no LoginThrottle storage in ${readdirSync(dir)}`);
      const files = readdirSync(join(dir, ns)).filter((f) => f.endsWith(".sqlite"));
      const now = BigInt(Date.now()) * 1_000_000n;
      let alarms = 0;
      const objects = files.filter((f) => f !== "metadata.sqlite");
      for (const f of objects) {
        const db = new DatabaseSync(join(dir, ns, f));
        alarms += Number(db.prepare("UPDATE _cf_METADATA SET value = ? WHERE key = 1").run(now).changes);
        db.close();
      }
      assert.ok(alarms >= 2, `alarms of the account's and the address's objects: ${alarms} in ${objects}`);
      const scheduler = files.includes("metadata.sqlite") ? join(dir, ns, "metadata.sqlite") : join(dir, "metadata.sqlite");
      const meta = new DatabaseSync(scheduler);
      assert.ok(Number(meta.prepare("UPDATE _cf_ALARM SET scheduled_time = ?").run(now).changes) >= 2);
      meta.close();
      x = await startWorker({ stateDir: x.stateDir, secrets: x.secrets });
      // Wait until the alarms ran (workerd deletes an alarm's row once its handler succeeded).
      const pending = () => {
        const db = new DatabaseSync(scheduler, { readOnly: true });
        try { return Number(db.prepare("SELECT count(*) AS n FROM _cf_ALARM WHERE scheduled_time <= ?").get(now).n); } finally { db.close(); }
      };
      for (let i = 0; i < 100 && pending() > 0; i++) await sleep(100);
      assert.equal(pending(), 0, "the alarms ran");
      // The same objects, still loaded after their alarm: logins through them keep working
      // (with delete_all() in the alarm their table was gone and every call failed: 503).
      for (let i = 0; i < 5; i++) isError(await loginX("wrong"), 401, "invalid_credentials", `after the alarm ${i + 1}`);
      isTokens(await loginX("demo-password"));
    } finally {
      await x.stop();
    }
  });
});
