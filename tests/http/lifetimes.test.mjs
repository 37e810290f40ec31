// Lifetimes against the real Worker, with short lifetimes set by --var: the idle deadline, the
// absolute deadline (not extended by rotation) and access-token expiry. About 11 s of waiting;
// the three tests run side by side.
//
// The Worker counts lifetimes from whole seconds of its own clock, so a deadline of N seconds
// falls between N-1 and N seconds after the moment the client sent the issuing request, and
// at most N seconds after it received the answer. Each request below is timed by the client
// (sent, received), and only a request that lies wholly on one side of a deadline's uncertain
// second is judged: one answered before it must succeed, one sent after it must fail, and one
// in between may do either. A slow machine makes fewer requests decisive; it cannot make a
// decisive one wrong. Each test also requires that the requests it needs were decisive.
import assert from "node:assert/strict";
import { after, before, describe, test } from "../support/test.mjs";
import { startWorker } from "../support/worker.mjs";
import { call, isError, isTokens, refresh, session, sleep } from "./helpers.mjs";

const ACCESS_TTL = 5;
const IDLE = 5;
const ABSOLUTE = 10;
let w;
before(async () => {
  w = await startWorker({
    vars: {
      ACCESS_TTL_SECONDS: String(ACCESS_TTL),
      REFRESH_IDLE_SECONDS: String(IDLE),
      REFRESH_ABSOLUTE_SECONDS: String(ABSOLUTE),
      GRACE_SECONDS: "0",
      LEEWAY_SECONDS: "0",
    },
  });
});
after(async () => {
  await w?.stop();
});

/** Sends `request()`; resolves to its answer and when it was sent and received (ms). */
async function timed(request) {
  const sent = Date.now();
  const res = await request();
  return { res, sent, received: Date.now() };
}

/** A deadline of `seconds` counted from an issuing request timed by `timed`. */
const deadline = (issued, seconds) => ({
  surelyBefore: (r) => r.received < issued.sent + (seconds - 1) * 1000,
  surelyAfter: (r) => r.sent >= issued.received + seconds * 1000,
  // Milliseconds to wait until a request sent now is surely after it.
  waitPast: () => Math.max(0, issued.received + seconds * 1000 - Date.now()) + 50,
});

describe("lifetimes", { concurrency: true }, () => {
  test("a token unused for REFRESH_IDLE_SECONDS is refused", async () => {
    const issued = await timed(() => session(w, "idle"));
    const idle = deadline(issued, IDLE);
    await sleep(idle.waitPast());
    const late = await timed(() => refresh(w, issued.res.refresh_token));
    assert.ok(idle.surelyAfter(late));
    isError(late.res, 400, "invalid_grant", "unused past the idle deadline");
  });

  test("rotation keeps a session past the idle deadline, never past the absolute one", async () => {
    const issued = await timed(() => session(w, "absolute"));
    const firstIdle = deadline(issued, IDLE);
    const absolute = deadline(issued, ABSOLUTE);
    let token = issued.res.refresh_token;
    let last = issued; // the request that issued `token`
    let pastFirstIdle = 0; // rotations that succeeded surely after the first token's idle deadline
    // Rotate about once a second until the absolute deadline refuses it.
    for (;;) {
      await sleep(1000);
      const r = await timed(() => refresh(w, token));
      const when = `${r.sent - issued.sent} ms after login`;
      // The presented token is surely within its own idle deadline: a refusal is not idleness.
      const fresh = deadline(last, IDLE).surelyBefore(r);
      if (r.res.status === 200) {
        assert.ok(!absolute.surelyAfter(r), `a rotation ${when} outlived the absolute deadline`);
        isTokens(r.res, {}, `rotation ${when}`);
        if (firstIdle.surelyAfter(r)) pastFirstIdle++;
        token = r.res.body.refresh_token;
        last = r;
        continue;
      }
      assert.ok(!absolute.surelyBefore(r), `rotation ${when} refused before the absolute deadline: ${r.res.text}`);
      assert.ok(fresh, `the refusal ${when} came ${r.received - last.sent} ms after the previous rotation: too late to tell idle from absolute`);
      isError(r.res, 400, "invalid_grant", `past the absolute deadline, ${when}, although rotated ${r.sent - last.received} ms before`);
      break;
    }
    assert.ok(pastFirstIdle >= 1, "no rotation was surely past the first token's idle deadline");
  });

  test("an access token works until ACCESS_TTL_SECONDS, then is refused", async () => {
    const issued = await timed(() => session(w, "access"));
    // jwt-simple accepts a token up to and including its exp second: one more second of margin.
    const expiry = deadline(issued, ACCESS_TTL + 1);
    const early = await timed(() => call(w, "GET", "/api/me", { bearer: issued.res.access_token }));
    assert.ok(deadline(issued, ACCESS_TTL).surelyBefore(early), `answered ${early.received - issued.sent} ms after issue`);
    assert.equal(early.res.status, 200, "access token right after issue");
    await sleep(expiry.waitPast());
    const late = await timed(() => call(w, "GET", "/api/me", { bearer: issued.res.access_token }));
    assert.ok(expiry.surelyAfter(late));
    isError(late.res, 401, "invalid_token", "access token past its lifetime");
  });
});
