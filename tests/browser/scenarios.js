// The browser package's scenarios, run in headless Chromium against the built package (pkg/, as
// users get it) by tests/browser/browser.test.mjs. The page imports the package and this module
// and calls `runScenario(name, AuthClient)`; a scenario throws on the first failed expectation.
//
// The server is an injected `fetch`: it issues JWTs (unsigned: the client never verifies them),
// counts and logs every request, and can fail the refresh endpoint in every way. Waits are
// event-driven (for a request, an event, a gate the test opens) with generous timeouts; where a
// duration matters, only the bound a loaded machine cannot break is asserted (timers fire late,
// never early).

const te = new TextEncoder();
const b64u = (s) => btoa(String.fromCharCode(...te.encode(s))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const realSetTimeout = globalThis.setTimeout.bind(globalThis);
const realClearTimeout = globalThis.clearTimeout.bind(globalThis);
const sleep = (ms) => new Promise((r) => realSetTimeout(r, ms));
function assert(cond, msg) { if (!cond) throw new Error("assertion failed: " + msg); }
function eq(a, b, msg) { if (a !== b) throw new Error(`assertion failed: ${msg}: ${JSON.stringify(a)} !== ${JSON.stringify(b)}`); }
/** Waits until `cond()` holds (polled), failing after `ms`. */
async function until(cond, ms, msg) {
  const end = performance.now() + ms;
  while (!cond()) { if (performance.now() > end) throw new Error("timed out waiting for " + msg); await sleep(5); }
}
/** A promise and the function that resolves it: a gate the test opens. */
function gate() {
  let open;
  const wait = new Promise((r) => (open = r));
  return { wait, open };
}
const json = (status, body, headers = {}) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } });

/** An API origin other than the page's (see `baseUrl` in the storage scenario). */
const API = "https://api.example.com";

// A fake silent-refresh server, as an injected fetch. It serves the page's origin and API.
export function makeServer(o = {}) {
  const s = {
    mode: o.mode ?? "cookie",
    lifetime: o.lifetime ?? 60,        // seconds
    sendExpiresIn: o.sendExpiresIn ?? true,
    clockSkew: o.clockSkew ?? 0,       // seconds the *server* clock is off
    refreshGate: null,                 // a gate every refresh answer waits for
    slowGate: null,                    // a gate /api/slow waits for
    refresh: "ok",                     // ok | invalid_grant | 401 | network | timeout | 500 | 503 | cycle
    api: "check",                      // check | always401
    cookie: o.cookie ?? false,         // cookie session present (for restore)
    gen: 0, valid: new Map(), rt: null, count: {}, log: [], last: null, cycle: 0,
  };
  s.issue = () => {
    const n = ++s.gen;
    const iat = Math.floor(Date.now() / 1000) + s.clockSkew;
    const access = `${b64u('{"alg":"EdDSA","typ":"at+jwt"}')}.${b64u(JSON.stringify({ sub: "u1", iat, exp: iat + Math.ceil(s.lifetime), n }))}.c2ln`;
    s.valid.set(access, performance.now() + s.lifetime * 1000);
    const body = { access_token: access, token_type: "Bearer" };
    if (s.sendExpiresIn) body.expires_in = s.lifetime;
    if (s.mode === "body") { s.rt = "srt_" + n; body.refresh_token = s.rt; } else { s.cookie = true; }
    return body;
  };
  s.fetch = async function (req) {
    assert(req instanceof Request, "fetch gets a Request");
    const url = new URL(req.url);
    const served = url.origin === location.origin || url.origin === API;
    // Paths of the page's origin as they are, others as full URLs.
    const path = url.origin === location.origin ? url.pathname : url.href;
    s.count[path] = (s.count[path] ?? 0) + 1;
    const body = req.method === "GET" ? "" : await req.clone().text();
    const entry = { path, auth: req.headers.get("authorization"), xsr: req.headers.get("x-silent-refresh"),
                    credentials: req.credentials, type: req.headers.get("content-type"), body, t: performance.now() };
    s.log.push(entry);
    const route = served ? url.pathname : "";
    if (route === "/auth/login") {
      if (s.throttle) return json(429, { error: "too_many_attempts" }, s.throttle === true ? {} : { "retry-after": s.throttle });
      const b = JSON.parse(body);
      if (b.password !== "pw") return json(401, { error: "invalid_credentials" });
      eq(b.transport, s.mode, "login transport");
      return json(200, s.issue());
    }
    if (route === "/auth/refresh") {
      entry.received = true;
      // The package's default request is RFC 6749 §6's form (the scenarios check its shape).
      const form = new URLSearchParams(body);
      if (s.refreshGate) await s.refreshGate.wait;
      let mode = s.refresh;
      if (mode === "cycle") mode = ["network", "timeout", "500", "503"][s.cycle++ % 4];
      switch (mode) {
        case "network": throw new TypeError("Failed to fetch");
        case "timeout": return new Promise((_, reject) => req.signal.addEventListener("abort", () => reject(req.signal.reason)));
        case "500": return new Response("oops", { status: 500 });
        case "503": return json(503, { error: "temporarily_unavailable" }, { "retry-after": "0" });
        case "401": return json(401, { error: "invalid_token" });
        case "invalid_grant": return json(400, { error: "invalid_grant" });
      }
      if (s.mode === "body") {
        const presented = form.get("refresh_token") ?? undefined;
        if (presented !== s.rt) return json(400, { error: "invalid_grant" });
      } else if (!s.cookie) return json(400, { error: "invalid_grant" });
      return json(200, s.issue());
    }
    if (route === "/auth/logout") { s.cookie = false; s.rt = null; return json(200, {}); }
    if (route === "/api/fail") throw (s.lastError = new TypeError("Failed to fetch"));
    if (route.startsWith("/api/")) {
      if (route === "/api/slow" && s.slowGate) await s.slowGate.wait;
      const token = entry.auth?.startsWith("Bearer ") ? entry.auth.slice(7) : null;
      const exp = s.valid.get(token);
      if (s.api === "always401" || !exp || entry.t > exp) return (s.last = json(401, { error: "invalid_token" }));
      return (s.last = json(200, { ok: true, body }));
    }
    return (s.last = json(404, { error: "not_found" }));
  };
  s.revoke = () => s.valid.clear();
  s.refreshes = () => s.count["/auth/refresh"] ?? 0;
  // This server sets no session hint cookie (`sessionHint: false`, as a backend of one's own);
  // the scenario `firstVisit` takes the default, where no hint on the page's origin means no session.
  s.options = (extra = {}) => ({ fetch: s.fetch, mode: s.mode, crossTab: false, sessionHint: false, ...extra });
  return s;
}

function record(auth) {
  const events = [];
  for (const type of ["refresh", "expired", "error", "logout"]) auth.on(type, (e) => events.push({ ...e, t: performance.now() }));
  return events;
}

const scenarios = {
  // Cookie mode on the page's origin with the default `sessionHint`: no hint cookie at all is no
  // session (a first visit): restore() and the lazy restore send nothing; a `1` beside it asks.
  async firstVisit(AuthClient) {
    const s = makeServer({ mode: "cookie" });
    const auth = new AuthClient({ fetch: s.fetch, crossTab: false });
    eq(document.cookie.includes("sr_session"), false, "no hint cookie");
    eq(await auth.restore(), false, "no hint: no session");
    eq((await auth.fetch("/api/me")).status, 401, "the lazy restore neither: out without a token");
    eq(s.refreshes(), 0, "no refresh request");
    // A server elsewhere: the page could not read its hint, so restore() asks.
    const remote = new AuthClient({ fetch: s.fetch, crossTab: false, baseUrl: API });
    eq(await remote.restore(), false, "another origin: asks");
    eq(s.count[API + "/auth/refresh"], 1, "another origin: one refresh request");
    eq(s.refreshes(), 0, "none on the page's origin");
    document.cookie = "sr_session=1; Path=/; SameSite=Strict";
    await auth.login("u", "pw");
    const fresh = new AuthClient({ fetch: s.fetch, crossTab: false });
    eq(await fresh.restore(), true, "hint 1: restored");
    document.cookie = "sr_session=; Max-Age=0; Path=/";
    for (const c of [auth, remote, fresh]) c.dispose();
  },

  // State for UIs: `session` when a session starts (login, setSession, restore), `change` after
  // every transition with the state; getAccessToken() refreshes first when due; isAuthenticated.
  async stateEvents(AuthClient) {
    const s = makeServer({ mode: "body" });
    const storage = new Map();
    const options = s.options({ storage: { get: (k) => storage.get(k), set: (k, v) => storage.set(k, v), remove: (k) => storage.delete(k) } });
    const auth = new AuthClient(options);
    const seen = [];
    auth.on("session", (e) => seen.push(["session", e.source]));
    auth.on("change", (e) => seen.push(["change", e.signedIn, e.event.type, typeof e.expiresAt]));
    eq(await auth.getAccessToken(), undefined, "signed out: no token");
    eq(s.refreshes(), 0, "and no request");
    await auth.login("u", "pw");
    eq(auth.isAuthenticated, true, "isAuthenticated");
    const token = await auth.getAccessToken();
    eq(typeof token, "string", "a token");
    eq(s.valid.has(token), true, "the server's current token");
    await auth.refresh();
    const next = await auth.getAccessToken();
    assert(next !== token && s.valid.has(next), "the refreshed token");
    await auth.logout();
    eq(auth.isAuthenticated, false, "isAuthenticated after logout");
    auth.setSession(s.issue());
    const again = new AuthClient(options);
    again.on("session", (e) => seen.push(["session", e.source]));
    eq(await again.restore(), true, "restored");
    eq(JSON.stringify(seen), JSON.stringify([
      ["session", "login"], ["change", true, "session", "number"],
      ["change", true, "refresh", "number"],
      ["change", false, "logout", "undefined"],
      ["session", "setSession"], ["change", true, "session", "number"],
      ["session", "restore"]]), "events");
    // Due (a 1 s token, refreshed half-way, the answer held): getAccessToken() waits for the
    // refresh, as fetch would, and answers its token, not the due one.
    const before = s.refreshes();
    const due = new AuthClient(s.options());
    const short = s.issue();
    s.refreshGate = gate();
    due.setSession({ ...short, expires_in: 1 });
    await until(() => s.refreshes() === before + 1, 10_000, "the refresh is sent");
    const pending = due.getAccessToken();
    s.refreshGate.open();
    s.refreshGate = null;
    const fresh = await pending;
    assert(fresh !== short.access_token, "not the due token");
    eq(s.refreshes(), before + 1, "one refresh");
    eq(s.valid.has(fresh), true, "a token the server accepts");
    for (const c of [auth, again, due]) c.dispose();
  },

  // Bearer attached; same Response, same errors; refresh token only where it belongs.
  async passThrough(AuthClient) {
    const s = makeServer({ mode: "body" });
    const auth = new AuthClient(s.options());
    await auth.login("u", "pw");
    eq(auth.signedIn, true, "signed in");
    const res = await auth.fetch("/api/me");
    assert(res === s.last, "the server's Response object itself");
    eq(res.status, 200, "status");
    eq(s.log.at(-1).auth, "Bearer " + [...s.valid.keys()][0], "bearer header");
    const post = await auth.fetch(new Request("/api/echo", { method: "POST", body: "hello" }), { headers: { "x-a": "1" } });
    eq((await post.json()).body, "hello", "body passed on");
    let caught;
    try { await auth.fetch("/api/fail"); } catch (e) { caught = e; }
    assert(caught && caught === s.lastError, "the same rejection as fetch");
    eq((await auth.fetch("https://other.example/x")).status, 404, "a foreign origin is fetched");
    eq(s.log.at(-1).auth, null, "no token to foreign origins");
    await auth.fetch("/api/me", { headers: { Authorization: "Basic abc" } });
    eq(s.log.at(-1).auth, "Basic abc", "the caller's own Authorization is kept");
    // A call of the app to the refresh endpoint is not intercepted nor given the access token.
    await auth.fetch("/auth/refresh", { method: "POST" });
    eq(s.log.at(-1).auth, null, "no bearer on the refresh endpoint");
    eq(s.refreshes(), 1, "one refresh (the app's own), none added");
    // An API path that merely starts with an endpoint's path is an API call like any other.
    await auth.fetch("/auth/logout-all", { method: "POST" });
    assert((s.log.at(-1).auth ?? "").startsWith("Bearer "), "bearer on /auth/logout-all (not mistaken for /auth/logout)");
    for (const e of s.log) {
      const carries = e.body.includes("srt_") || (e.auth ?? "").includes("srt_");
      if (carries) assert(e.path === "/auth/refresh" || e.path === "/auth/logout", "refresh token sent to " + e.path);
    }
    eq(await auth.logout(), true, "logout confirmed");
    eq(s.log.at(-1).body, JSON.stringify({ refresh_token: "srt_1" }), "logout revokes the refresh token");
    eq(auth.signedIn, false, "signed out");
    let err;
    try { await auth.login("u", "wrong"); } catch (e) { err = e; }
    eq(err?.code, "ERR_INVALID_CREDENTIALS", "error code");
    eq(err?.status, 401, "error status");
    // off() removes a listener (and only that one).
    await auth.login("u", "pw");
    let [heard, kept] = [0, 0];
    const count = () => heard++, keep = () => kept++;
    auth.on("refresh", count);
    auth.on("refresh", keep);
    await auth.refresh();
    auth.off("refresh", count);
    await auth.refresh();
    eq([heard, kept].join(), "1,2", "off() removed that listener only");
    auth.dispose();
  },

  // Cookie transport: header, credentials, no body; restore() with and without a cookie.
  async cookieTransport(AuthClient) {
    const s = makeServer({ mode: "cookie" });
    const auth = new AuthClient(s.options());
    // The Worker's session hint says the session is over: restore() does not even ask.
    document.cookie = "sr_session=0; Path=/; SameSite=Strict";
    eq(await auth.restore(), false, "hint 0: no session");
    eq(s.refreshes(), 0, "hint 0: no refresh request");
    document.cookie = "sr_session=1; Path=/; SameSite=Strict";
    eq(await auth.restore(), false, "no cookie, no session");
    eq(s.refreshes(), 1, "hint 1: restore asks the server");
    document.cookie = "sr_session=; Max-Age=0; Path=/";
    // A planted "0" (a sibling subdomain's cookie for the parent domain) beside this host's "1"
    // does not hide the session. Two cookies of one name stand in for the two domains: one on
    // "/", one on the page's path (/app/).
    document.cookie = "sr_session=0; Path=/; SameSite=Strict";
    document.cookie = "sr_session=1; Path=/app; SameSite=Strict";
    eq(document.cookie.split(/; */).filter((c) => c.startsWith("sr_session=")).sort().join(), "sr_session=0,sr_session=1", "both cookies visible");
    eq(await auth.restore(), false, "no refresh cookie, no session");
    eq(s.refreshes(), 2, "a planted 0 beside a 1: restore still asks the server");
    document.cookie = "sr_session=; Max-Age=0; Path=/app";
    document.cookie = "sr_session=; Max-Age=0; Path=/";
    await auth.login("u", "pw");
    await auth.refresh();
    const r = s.log.filter((e) => e.path.startsWith("/auth/"));
    for (const e of r) {
      eq(e.xsr, "1", "X-Silent-Refresh on " + e.path);
      eq(e.credentials, "include", "credentials on " + e.path);
    }
    eq(r.at(-1).body, "grant_type=refresh_token", "refresh in cookie mode: RFC 6749's form without the token");
    eq(r.at(-1).type, "application/x-www-form-urlencoded;charset=UTF-8", "refresh in cookie mode: a form");
    const fresh = new AuthClient(s.options());
    eq(await fresh.restore(), true, "restored from the cookie");
    eq(fresh.signedIn, true, "signed in after restore");
    assert(fresh.expiresAt > Date.now() + 50_000, "expiresAt in Unix ms");
    assert(fresh.nextRefreshAt < fresh.expiresAt, "next refresh before expiry");
    eq((await fresh.fetch("/api/me")).status, 200, "works after restore");
    auth.dispose(); fresh.dispose();
  },

  // Proactive refresh before expiry, computed from elapsed time: a client wall clock three
  // hours ahead and a server clock five hours behind change nothing. A 2 s token with a 1 s
  // margin: each refresh comes no earlier than 1 s after its token arrived (timers never fire
  // early) and every call before, during and after goes out with a live token.
  async proactive(AuthClient) {
    const realNow = Date.now;
    Date.now = () => realNow() + 3 * 3600_000;
    try {
      const s = makeServer({ lifetime: 2, sendExpiresIn: false, clockSkew: -5 * 3600 });
      const auth = new AuthClient(s.options({ refreshMargin: 1000 }));
      const events = record(auth);
      await auth.login("u", "pw");
      const t0 = performance.now();
      const refreshed = () => events.filter((e) => e.type === "refresh" && e.source === "network");
      const statuses = [];
      while (refreshed().length < 2) {
        assert(performance.now() - t0 < 20_000, "two proactive refreshes within 20 s");
        statuses.push((await auth.fetch("/api/me")).status);
        await sleep(40);
      }
      assert(statuses.every((x) => x === 200), "no call ever went out with an expired token: " + statuses);
      // None was answered 401 and replayed.
      eq(s.count["/api/me"], statuses.length, "one request per call");
      const sent = s.log.filter((e) => e.path === "/auth/refresh").map((e) => e.t);
      // A call that finds the token due refreshes first, so the calls alone would pass the above
      // without a timer: with no call at all, the timer refreshes.
      const quiet = refreshed().length;
      await until(() => refreshed().length > quiet, 10_000, "a refresh while no call is made (the timer's)");
      assert(sent[0] - t0 >= 990, "the first refresh waited for the margin: " + (sent[0] - t0));
      // Not a loop: at most one refresh per (lifetime - margin) since login, plus the one in flight.
      const elapsed = performance.now() - t0;
      assert(sent.length <= Math.floor(elapsed / 990) + 1, `${sent.length} refreshes in ${elapsed} ms`);
      auth.dispose();
    } finally { Date.now = realNow; }
  },

  // A 401 causes a refresh and a replay of the request with its body (a copy made before it was
  // sent: a body can be sent once). How many refreshes and replays, and what a second 401 does,
  // the native test client_runtime::a_401_refreshes_once_and_replays_once checks.
  async replay(AuthClient) {
    const s = makeServer();
    const auth = new AuthClient(s.options());
    await auth.login("u", "pw");
    s.revoke();
    const res = await auth.fetch("/api/echo", { method: "POST", body: "payload" });
    eq(res.status, 200, "replayed successfully");
    eq((await res.json()).body, "payload", "body replayed");
    eq(s.count["/api/echo"], 2, "sent twice");
    auth.dispose();
  },

  // Single-flight: ten concurrent 401s through real promises, one refresh (held open until all
  // ten were answered 401). The runtime's share natively:
  // client_runtime::concurrent_401s_share_one_refresh_and_each_call_replays_once; that a 401 for
  // an older token replays at once without a refresh is the engine's decision:
  // client_engine::a_401_for_an_older_token_is_replayed_without_refreshing.
  async singleFlight(AuthClient) {
    const s = makeServer();
    const auth = new AuthClient(s.options());
    await auth.login("u", "pw");
    s.revoke();
    s.refreshGate = gate();
    const all = Promise.all(Array.from({ length: 10 }, () => auth.fetch("/api/me")));
    await until(() => s.count["/api/me"] === 10 && s.refreshes() === 1, 10_000, "ten 401s and a refresh");
    s.refreshGate.open();
    s.refreshGate = null;
    assert((await all).every((r) => r.status === 200), "all ten succeed");
    eq(s.refreshes(), 1, "exactly one refresh for ten calls");
    eq(auth.refreshCount, 1, "refreshCount");
    auth.dispose();
  },


  // Wake-up: with timers throttled (as in a background tab), pageshow / online /
  // visibilitychange refresh a due token before queued calls go out.
  async wakeUp(AuthClient) {
    const s = makeServer({ lifetime: 0.6 });
    // Throttle: timers of 200 ms or more are recorded and never fire (the client's refresh timer
    // among them), so only a wake-up can refresh (no sleep needed to see the timer did not fire).
    const throttled = [];
    globalThis.setTimeout = (f, ms, ...a) => (ms >= 200 ? (throttled.push(ms), -1) : realSetTimeout(f, ms, ...a));
    try {
      const auth = new AuthClient(s.options({ refreshMargin: 150 }));
      // Until the token is due (450 ms after it came, 50 ms of slack) and before it expires (600).
      const due = () => until(() => Date.now() > auth.nextRefreshAt + 50, 10_000, "the token due");
      await auth.login("u", "pw");
      assert(throttled.length > 0, "the refresh timer was armed, and throttled");
      await due();
      eq(s.refreshes(), 0, "no refresh before the wake-up");
      window.dispatchEvent(new Event("pageshow"));
      // Started by the event itself, not by the call below (which would refresh a due token too).
      eq(auth.nextRefreshAt, undefined, "pageshow: the refresh started");
      const res = await auth.fetch("/api/me");
      eq(res.status, 200, "the queued call used the new token");
      eq(s.refreshes(), 1, "refreshed on pageshow");
      const order = s.log.map((e) => e.path);
      assert(order.lastIndexOf("/auth/refresh") < order.lastIndexOf("/api/me"), "refresh before the call");
      await due();
      window.dispatchEvent(new Event("online"));
      await until(() => s.refreshes() === 2, 10_000, "refresh on online");
      await until(() => auth.nextRefreshAt !== undefined, 10_000, "the refresh over");
      await due();
      // The page's visibility as the test says (a headless page may report either).
      let state = "hidden";
      Object.defineProperty(document, "visibilityState", { configurable: true, get: () => state });
      // A wake-up that refreshes starts the refresh at once, and `nextRefreshAt` is unset while
      // one is in flight: the state right after the event says whether it started.
      document.dispatchEvent(new Event("visibilitychange"));
      assert(auth.nextRefreshAt !== undefined, "hidden: the due token is not refreshed");
      state = "visible";
      document.dispatchEvent(new Event("visibilitychange"));
      eq(auth.nextRefreshAt, undefined, "visible: the refresh started");
      await until(() => s.refreshes() === 3, 10_000, "refresh on visibilitychange");
      await until(() => auth.nextRefreshAt !== undefined, 10_000, "the refresh over");
      // Not due: a wake-up does nothing.
      const before = s.refreshes();
      window.dispatchEvent(new Event("pageshow"));
      assert(auth.nextRefreshAt !== undefined, "no refresh for a fresh token");
      eq((await auth.fetch("/api/me")).status, 200, "a call after the wake-up");
      eq(s.refreshes(), before, "no refresh for a fresh token");
      auth.dispose();
    } finally {
      globalThis.setTimeout = realSetTimeout;
      delete document.visibilityState;
    }
  },

  // Real failures (a rejected fetch, the request timeout's AbortSignal, a 500, a 503) are each
  // reported with their code and keep the session; it recovers afterwards. The backoff between
  // attempts and which answers end a session are decisions the native tests check
  // (client_runtime::a_failed_refresh_is_retried_with_backoff_and_reported,
  // a_refused_refresh_ends_the_session_with_its_status).
  async outage(AuthClient) {
    const s = makeServer({ lifetime: 0.5 });
    const auth = new AuthClient(s.options({ refreshMargin: 100, requestTimeout: 60, retryBaseDelay: 40,
                                            retryMaxDelay: 320, maxRefreshesPerMinute: 1000 }));
    const events = record(auth);
    await auth.login("u", "pw");
    s.refresh = "cycle";
    const errors = () => events.filter((e) => e.type === "error");
    let calls = 0;
    while (errors().length < 8) {
      assert(calls < 2000, "eight failed attempts");
      await auth.fetch("/api/me");
      calls++;
      await sleep(20);
      eq(auth.signedIn, true, "the session is kept during the outage");
    }
    const failures = errors();
    assert(failures.every((e) => e.retryIn > 0), "retryIn reported");
    const codes = new Set(failures.map((e) => e.error.code));
    for (const c of ["ERR_NETWORK", "ERR_TIMEOUT", "ERR_SERVER"]) assert(codes.has(c), "error event " + c);
    eq(events.filter((e) => e.type === "expired").length, 0, "no expired event");
    s.refresh = "ok";
    await until(() => events.some((e) => e.type === "refresh"), 10_000, "recovery");
    eq((await auth.fetch("/api/me")).status, 200, "works again");
    auth.dispose();
  },

  // dispose() removes every timer, listener and channel (a wake-up that refreshes a client set up
  // the same way starts nothing); later calls fail with ERR_DISPOSED.
  async dispose(AuthClient) {
    const added = [], removed = [], timers = new Set(), channels = [];
    const patch = (target) => {
      const add = target.addEventListener, remove = target.removeEventListener;
      target.addEventListener = function (t, f, o) { added.push([this, t, f]); return add.call(this, t, f, o); };
      target.removeEventListener = function (t, f, o) { removed.push([this, t, f]); return remove.call(this, t, f, o); };
      return () => { target.addEventListener = add; target.removeEventListener = remove; };
    };
    const RealChannel = globalThis.BroadcastChannel;
    globalThis.BroadcastChannel = class extends RealChannel {
      constructor(n) { super(n); this.closed = false; channels.push(this); }
      close() { this.closed = true; super.close(); }
    };
    // Throttled as in a background tab: a timer of 200 ms or more is armed but never fires, so
    // the tokens below fall due with no refresh, and only a wake-up can start one.
    globalThis.setTimeout = (f, ms, ...a) => {
      const id = ms >= 200 ? {} : realSetTimeout(() => { timers.delete(id); f(...a); }, ms);
      timers.add(id);
      return id;
    };
    globalThis.clearTimeout = (id) => { timers.delete(id); realClearTimeout(id); };
    const unpatch = [patch(window), patch(document)];
    try {
      const s = makeServer({ lifetime: 0.6 });
      const auth = new AuthClient({ ...s.options({ refreshMargin: 150 }), crossTab: true, channelName: "sr-dispose-test" });
      await auth.login("u", "pw");
      const mine = new Set(timers), listeners = added.length;
      assert(mine.size >= 1, "a refresh timer is armed");
      assert(listeners >= 3, "wake-up listeners installed");
      eq(channels.length, 1, "a channel opened");
      // The positive control: a client set up the same way (its own server), not disposed.
      const c = makeServer({ lifetime: 0.6 });
      const control = new AuthClient({ ...c.options({ refreshMargin: 150 }), crossTab: true, channelName: "sr-dispose-control" });
      const controlEvents = record(control);
      await control.login("u", "pw");
      const theirs = [...timers].filter((id) => !mine.has(id));
      const due = Math.max(auth.nextRefreshAt, control.nextRefreshAt);
      await until(() => Date.now() > due, 10_000, "both tokens due");
      auth.dispose();
      eq([...timers].filter((id) => !theirs.includes(id)).length, 0, "no timer of the disposed client left");
      for (const [target, type, f] of added.slice(0, listeners))
        assert(removed.some(([t2, ty, f2]) => t2 === target && ty === type && f2 === f), "listener removed: " + type);
      assert(channels[0].closed && channels[0].onmessage === null, "channel closed");
      // Both clients' listeners hear the wake-up, the disposed one's first (it added them first):
      // once the control's refresh is over, the disposed client would have sent its own.
      window.dispatchEvent(new Event("online"));
      await until(() => controlEvents.some((e) => e.type === "refresh"), 10_000, "the control refreshes on the wake-up");
      eq(c.refreshes(), 1, "the control's one refresh");
      eq(s.refreshes(), 0, "no refresh after dispose");
      control.dispose();
      let err;
      try { await auth.fetch("/api/me"); } catch (e) { err = e; }
      eq(err?.code, "ERR_DISPOSED", "fetch after dispose");
      eq(auth.signedIn, false, "session dropped");
    } finally {
      unpatch.forEach((u) => u());
      globalThis.BroadcastChannel = RealChannel;
      globalThis.setTimeout = realSetTimeout;
      globalThis.clearTimeout = realClearTimeout;
    }
  },

  // The token is attached without a refresh while it is fresh, a token that fell due while no
  // timer fired is refreshed before the call goes out, a token sent with no expires_in is timed
  // by its JWT claims, and a listener that calls fetch while the client changes state (here: at
  // logout) sees the new state.
  async fastPath(AuthClient) {
    const s = makeServer({ lifetime: 3, sendExpiresIn: false });
    globalThis.setTimeout = (f, ms, ...a) => (ms >= 200 ? -1 : realSetTimeout(f, ms, ...a));
    try {
      const auth = new AuthClient(s.options({ refreshMargin: 1000 }));
      const t0 = Date.now();
      await auth.login("u", "pw");
      const t1 = Date.now();
      assert(auth.expiresAt >= t0 + 2950 && auth.expiresAt <= t1 + 3050, "lifetime from exp - iat");
      for (let i = 0; i < 5; i++) eq((await auth.fetch("/api/me")).status, 200, "fresh token: sent");
      eq(s.refreshes(), 0, "no refresh while fresh");
      await until(() => Date.now() >= t1 + 2100, 10_000, "the token falls due");
      eq(s.refreshes(), 0, "the throttled timer did not fire");
      eq((await auth.fetch("/api/me")).status, 200, "a due token is refreshed first");
      eq(s.refreshes(), 1, "one refresh, before the call");
      const order = s.log.map((e) => e.path);
      assert(order.lastIndexOf("/auth/refresh") < order.lastIndexOf("/api/me"), "refresh before the call");
      let during;
      auth.on("logout", () => { during = auth.fetch("/api/me"); });
      await auth.logout();
      eq((await during).status, 401, "fetch from a logout listener");
      eq(s.log.filter((e) => e.path === "/api/me").at(-1).auth, null, "no bearer after logout");
      auth.free();
      let err;
      try { await auth.fetch("/api/me"); } catch (e) { err = e; }
      eq(err?.code, "ERR_DISPOSED", "free() disposes");
      if (Symbol.dispose) eq(auth[Symbol.dispose], auth.free, "Symbol.dispose is free");
    } finally { globalThis.setTimeout = realSetTimeout; }
  },

  // auth.fetch without wasm (client.js): while Rust's last answer to `fetch` holds, a managed
  // call goes out from a stack with no wasm frame, with the token Rust gave; the first call after
  // any other call into the client, and every call once a refresh is due (by either clock), after
  // a 401 or after logout, goes through Rust (a wasm frame on the stack) and carries what Rust
  // decides then. The clocks are moved rather than waited for (the client reads them at each call).
  async fetchWithoutWasm(AuthClient) {
    const s = makeServer({ lifetime: 60, sendExpiresIn: false });
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 100;
    // The refresh timer never fires: only a call can find the token due.
    globalThis.setTimeout = (f, ms, ...a) => (ms >= 200 ? -1 : realSetTimeout(f, ms, ...a));
    const [realNow, realMono] = [Date.now, performance.now];
    try {
      const via = [];
      const fetch = (req) => {
        if (new URL(req.url).pathname.startsWith("/api/")) via.push(/wasm/.test(new Error().stack) ? "wasm" : "js");
        return s.fetch(req);
      };
      const auth = new AuthClient({ ...s.options({ refreshMargin: 1000 }), fetch });
      const api = () => s.log.filter((e) => e.path.startsWith("/api/"));
      const newest = () => [...s.valid.keys()].at(-1);
      const calls = async (n, status = 200) => {
        via.length = 0;
        for (let i = 0; i < n; i++) eq((await auth.fetch("/api/me")).status, status, "status");
        return via.join();
      };
      await auth.login("u", "pw");
      const first = newest();
      eq(await calls(3), "wasm,js,js", "fresh: through Rust once, then without wasm");
      assert(api().slice(-3).every((e) => e.auth === "Bearer " + first), "each with the token");
      eq(await auth.getAccessToken(), first, "getAccessToken the same way");
      eq(auth.signedIn, true, "signed in");
      eq(await calls(2), "wasm,js", "after another call into the client (a getter): through Rust once");
      // performance.now() past the refresh time (59 s: a 60 s token, a 1 s margin), the wall
      // clock not: through Rust, refreshed first.
      performance.now = () => realMono.call(performance) + 59_500;
      try {
        eq(await calls(1), "wasm", "due by performance.now(): through Rust");
      } finally { performance.now = realMono; }
      eq(s.refreshes(), 1, "refreshed first");
      const second = newest();
      eq(api().at(-1).auth, "Bearer " + second, "with the new token");
      eq(await calls(2), "wasm,js", "then through Rust once (the refresh called it), then without");
      // A 401 to a call made without wasm: Rust refreshes and replays; the next call goes
      // through Rust and carries the newest token, never the refused one.
      s.revoke();
      eq(await calls(1), "js,wasm", "the 401 (sent without wasm), then the replay through Rust");
      eq(s.refreshes(), 2, "one refresh after the 401");
      const third = newest();
      eq(api().at(-1).auth, "Bearer " + third, "replayed with the new token");
      eq(await calls(2), "wasm,js", "after the 401: through Rust once, then without");
      assert(api().slice(-2).every((e) => e.auth === "Bearer " + third), "both with the newest token");
      // The wall clock alone past the refresh time (a machine that slept while performance.now()
      // stood still; the client's clock takes the larger step): through Rust, refreshed first.
      Date.now = () => realNow() + 59_500;
      try {
        eq(await calls(1), "wasm", "due by Date.now(): through Rust");
      } finally { Date.now = realNow; }
      eq(s.refreshes(), 3, "refreshed first");
      eq(api().at(-1).auth, "Bearer " + newest(), "with the new token");
      // Logout: through Rust, no token.
      await auth.logout();
      eq(await calls(2, 401), "wasm,wasm", "signed out: through Rust each time");
      assert(api().slice(-2).every((e) => e.auth === null), "no token after logout");
      auth.dispose();
    } finally {
      globalThis.setTimeout = realSetTimeout;
      [Date.now, performance.now] = [realNow, realMono];
      Error.stackTraceLimit = limit;
    }
  },

  // The tab channel carries no credentials, and a hostile page of the same origin (a plain
  // BroadcastChannel, no package) listening and posting on it learns nothing and changes nothing.
  // Two clients in one page stand in for two tabs.
  async hostileChannel(AuthClient) {
    const s = makeServer({ mode: "body" });
    const name = "sr-hostile-test";
    const hostile = new BroadcastChannel(name);
    const seen = [];
    hostile.onmessage = (e) => seen.push(e.data);
    const a = new AuthClient({ ...s.options(), crossTab: true, channelName: name });
    const events = record(a);
    // Instead of a sleep before each "nothing happened": a channel opened after `a`'s hears a
    // mark posted after the hostile messages; one sender's messages are delivered in order, so
    // by then `a` has handled every one of them (a client handles a message synchronously).
    const witness = new BroadcastChannel(name), marks = [];
    witness.onmessage = (e) => marks.push(e.data?.mark);
    const flush = async () => {
      const mark = Math.random();
      hostile.postMessage({ type: "mark", mark });
      await until(() => marks.includes(mark), 10_000, "the mark");
    };
    const jwt = (claims) => `${b64u('{"alg":"EdDSA"}')}.${b64u(JSON.stringify(claims))}.c2ln`;
    // A token of another subject that would outlive any of ours; one of our subject.
    const other = jwt({ sub: "mallory", iat: 1, exp: 4e9 });
    const ours = jwt({ sub: "u1", iat: 1, exp: 4e9, forged: true });
    // A signed-out tab is never signed in by a message, not even one naming a plausible subject.
    for (const access of [other, ours]) hostile.postMessage({ type: "token", access, lifetime: 9e5, refresh: "srt_evil" });
    hostile.postMessage({ type: "logout" });
    await flush();
    eq(a.signedIn, false, "no sign-in by a message");
    eq(events.length, 0, "no event for a signed-out tab");
    eq(s.refreshes(), 0, "no request for a signed-out tab");
    await a.login("u", "pw");
    const mine = [...s.valid.keys()][0];
    const expires = a.expiresAt;
    // Another subject's token, and malformed messages: ignored.
    for (const m of [{ type: "token", access: other, lifetime: 9e5, refresh: "srt_evil" },
      { type: "token", access: jwt({ iat: 1, exp: 4e9 }), lifetime: 9e5 }, { type: "token", access: "x.y.z", lifetime: 9e5 },
      { type: "token", access: mine }, { type: "token", access: ours }, { type: "token", access: ours, lifetime: -1 },
      { type: "token", access: ours, lifetime: "9e5" }, { type: "token", access: 7, lifetime: 9e5 }, { type: "token" },
      null, "logout", { type: 1 }, [], { type: "Logout" }]) hostile.postMessage(m);
    await flush();
    assert(Math.abs(a.expiresAt - expires) < 50, "its token unchanged");
    eq((await a.fetch("/api/me")).status, 200, "still its own session");
    eq(s.log.at(-1).auth, "Bearer " + mine, "its own token");
    eq(s.refreshes(), 0, "no request for any of them");
    eq(events.length, 0, "no event for any of them");
    // A forged logout is checked (one refresh) and changes no session.
    hostile.postMessage({ type: "logout" });
    await until(() => s.refreshes() === 1, 10_000, "the check");
    await until(() => events.some((e) => e.type === "refresh"), 10_000, "the check's answer");
    eq(a.signedIn, true, "still signed in");
    assert(!events.some((e) => e.type === "logout" || e.type === "expired"), "no logout, no expiry");
    eq(new URLSearchParams(s.log.at(-1).body).get("refresh_token"), "srt_1", "with its own refresh token, not the forged one");
    eq(s.log.at(-1).body, "grant_type=refresh_token&refresh_token=srt_1", "RFC 6749's form in body mode");
    eq(s.log.at(-1).type, "application/x-www-form-urlencoded;charset=UTF-8", "refresh in body mode: a form");
    await a.refresh();
    const rotated = s.rt;
    // A token of its own subject that outlives its own is a hint it takes: used until refused,
    // then the tab refreshes with its own refresh token (never one from a message).
    hostile.postMessage({ type: "token", access: ours, lifetime: 9e5, refresh: "srt_evil" });
    await until(() => events.some((e) => e.type === "refresh" && e.source === "tab"), 10_000, "the adoption");
    const before = s.refreshes();
    eq((await a.fetch("/api/me")).status, 200, "refused, refreshed, replayed");
    eq(s.refreshes(), before + 1, "one refresh");
    eq(new URLSearchParams(s.log.filter((e) => e.path === "/auth/refresh").at(-1).body).get("refresh_token"), rotated, "its own refresh token");
    await a.logout();
    await until(() => seen.some((m) => m?.type === "logout"), 10_000, "the logout message");
    await sleep(50);
    // The page saw access tokens after the sign-in and each refresh, and one logout hint: never
    // a refresh token.
    const heard = JSON.stringify(seen);
    assert(!/srt_|refresh_token|"refresh"/.test(heard), "no refresh token on the channel: " + heard);
    eq(seen.map((m) => m.type).join(), "token,token,token,token,logout", "what the channel carried");
    assert(seen.slice(0, 4).every((m) => Object.keys(m).sort().join() === "access,lifetime,type" && s.valid.has(m.access)), "access tokens: " + heard);
    a.dispose(); hostile.close(); witness.close();
  },

  // An async storage whose write of a rotated refresh token takes its time: the Web Lock is held
  // until it has settled, so the next tab to refresh reads the new token, not its predecessor
  // (which the server would take for a reuse).
  async lockWaitsForTheWrite(AuthClient) {
    const s = makeServer({ mode: "body" });
    const name = "sr-write-test";
    const store = new Map();
    let writing = null;
    const storage = {
      get: async (k) => store.get(k) ?? null,
      set: async (k, v) => { if (writing) await writing.wait; store.set(k, v); },
      remove: async (k) => { store.delete(k); },
    };
    const a = new AuthClient({ ...s.options(), crossTab: true, channelName: name, storage });
    const b = new AuthClient({ ...s.options(), crossTab: true, channelName: name, storage });
    const eventsA = record(a), eventsB = record(b);
    await a.login("u", "pw");
    await until(() => store.get(name + ":refresh_token") === "srt_1", 10_000, "srt_1 stored");
    eq(await b.restore(), true, "b restores from the storage");
    await until(() => eventsA.some((e) => e.source === "tab"), 10_000, "b's token reaches a");
    await until(() => store.get(name + ":refresh_token") === "srt_2", 10_000, "srt_2 stored");
    writing = gate();
    await a.refresh();
    eq(s.rt, "srt_3", "a rotated");
    eq(store.get(name + ":refresh_token"), "srt_2", "its write is pending");
    await until(() => eventsB.some((e) => e.source === "tab"), 10_000, "a's token reaches b");
    const before = s.refreshes();
    const refreshed = b.refresh();
    // Not a sleep: the Web Locks API shows b's request waiting while a holds the lock.
    const waiting = async () => (await navigator.locks.query()).pending.some((l) => l.name === name);
    for (let i = 0; !(await waiting()); i++) {
      assert(i < 2000, "b asks for the lock");
      await sleep(5);
    }
    assert((await navigator.locks.query()).held.some((l) => l.name === name), "a still holds it");
    eq(s.refreshes(), before, "b waits for the lock while a's write is pending");
    writing.open();
    await refreshed;
    eq(s.refreshes(), before + 1, "then b refreshes");
    eq(new URLSearchParams(s.log.at(-1).body).get("refresh_token"), "srt_3", "with the token a wrote");
    eq(b.signedIn && a.signedIn, true, "no reuse: both signed in");
    assert(![...eventsA, ...eventsB].some((e) => e.type === "expired"), "no session ended");
    a.dispose(); b.dispose();
  },

  // The Worker's login throttle: 429 too_many_attempts with Retry-After (up to 15 minutes).
  async throttledLogin(AuthClient) {
    const s = makeServer();
    const auth = new AuthClient(s.options());
    const refusal = async () => {
      try {
        await auth.login("u", "pw");
      } catch (e) {
        return e;
      }
      throw new Error("login resolved");
    };
    s.throttle = "900";
    let e = await refusal();
    assert(e instanceof Error, "an Error");
    eq(e.code, "ERR_TOO_MANY_ATTEMPTS", "code");
    eq(e.status, 429, "status");
    eq(e.retryAfter, 900_000, "the server's wait in ms, uncapped");
    eq(auth.signedIn, false, "not signed in");
    s.throttle = "Wed, 21 Oct 2026 07:28:00 GMT";
    e = await refusal();
    eq(e.code, "ERR_TOO_MANY_ATTEMPTS", "code without a usable Retry-After");
    assert(!("retryAfter" in e), "no wait it cannot know");
    s.throttle = true;
    e = await refusal();
    eq([e.code, e.status, "retryAfter" in e].join(), "ERR_TOO_MANY_ATTEMPTS,429,false", "without Retry-After");
    // Other refusals keep their codes, without retryAfter.
    s.throttle = false;
    try {
      await auth.login("u", "wrong");
      throw new Error("login resolved");
    } catch (e) {
      eq([e.code, e.status, "retryAfter" in e].join(), "ERR_INVALID_CREDENTIALS,401,false", "wrong password");
    }
    await auth.login("u", "pw");
    eq(auth.signedIn, true, "signed in once the throttle lets it");
    auth.dispose();
  },

  // Two tabs sharing a session (cookie): the tab that refreshes tells the other its access token,
  // which takes it and does not refresh; the one waiting for the lock finds it and sends nothing.
  async tokenAcrossTabs(AuthClient) {
    const s = makeServer();
    const name = "sr-token-test";
    const a = new AuthClient({ ...s.options(), crossTab: true, channelName: name });
    const b = new AuthClient({ ...s.options(), crossTab: true, channelName: name });
    const events = record(b), eventsA = record(a);
    await a.login("u", "pw");
    eq(b.signedIn, false, "a login signs no other tab in");
    eq(await b.restore(), true, "b restores the cookie's session");
    await until(() => eventsA.some((e) => e.type === "refresh" && e.source === "tab"), 10_000, "a takes b's token");
    const [before, own] = [s.refreshes(), b.refreshCount];
    await a.refresh();
    await until(() => events.some((e) => e.type === "refresh" && e.source === "tab"), 10_000, "b takes a's token");
    eq(b.refreshCount, own, "b sent no refresh of its own");
    eq(s.refreshes(), before + 1, "one refresh for both tabs");
    const last = s.log.filter((e) => e.path === "/auth/refresh").length;
    eq((await b.fetch("/api/me")).status, 200, "b uses a's token");
    eq(s.log.at(-1).auth, (await (async () => { await a.fetch("/api/me"); return s.log.at(-1).auth; })()), "the same token in both tabs");
    eq(s.log.filter((e) => e.path === "/auth/refresh").length, last, "no refresh since");
    a.dispose(); b.dispose();
  },

  // Issue 20 item 10: the channel's message comes late on purpose (held until the end). The tab
  // waiting for the Web Lock while the other refreshes learns of that refresh from what the
  // other wrote before releasing the lock, and sends nothing.
  async lateTokenMessage(AuthClient) {
    const s = makeServer();
    const name = "sr-late-test";
    const held = gate(), RealChannel = globalThis.BroadcastChannel;
    globalThis.BroadcastChannel = class extends RealChannel {
      set onmessage(f) { super.onmessage = f && ((e) => held.wait.then(() => f(e))); }
      get onmessage() { return super.onmessage; }
    };
    let b;
    try {
      b = new AuthClient({ ...s.options(), crossTab: true, channelName: name });
    } finally {
      globalThis.BroadcastChannel = RealChannel;
    }
    const a = new AuthClient({ ...s.options(), crossTab: true, channelName: name });
    const events = record(b), eventsA = record(a);
    await a.login("u", "pw");
    eq(await b.restore(), true, "b restores the cookie's session");
    // a takes b's newer token (its message is not delayed): a's refresh below is then its own.
    await until(() => eventsA.some((e) => e.type === "refresh" && e.source === "tab"), 10_000, "a takes b's token");
    const [before, own] = [s.refreshes(), b.refreshCount];
    s.refreshGate = gate();
    const refreshA = a.refresh();
    await until(() => s.log.filter((e) => e.received).length > before, 10_000, "a's refresh reaches the server");
    // b wants a refresh too and waits for the lock a holds.
    const refreshB = b.refresh();
    await sleep(0);
    s.refreshGate.open();
    s.refreshGate = null;
    await refreshA;
    await refreshB;
    eq(s.refreshes(), before + 1, "one refresh for both tabs");
    eq(b.refreshCount, own, "b sent no refresh of its own");
    assert(events.some((e) => e.type === "refresh" && e.source === "tab"), "b holds a's token before the message came");
    eq((await b.fetch("/api/me")).status, 200, "b uses a's token");
    held.open();
    a.dispose(); b.dispose();
    localStorage.removeItem(name + ":token");
  },

  // Lazy restore in cookie mode: a signed-out client's first auth.fetch or refresh() restores
  // with the cookie first (once per page, not when sr_session=0); a signed-out tab that hears
  // another tab's token restores with its own cookie, never with the token it heard.
  async lazyRestore(AuthClient) {
    const s = makeServer();
    const name = "sr-lazy-test";
    const api = () => s.log.filter((e) => e.path === "/api/me");
    const early = new AuthClient(s.options());
    eq((await early.fetch("/api/me")).status, 401, "no session: the request goes out without a token");
    eq(s.refreshes(), 1, "after one restore attempt");
    eq(api().at(-1).auth, null, "without a token");
    eq((await early.fetch("/api/me")).status, 401, "again");
    eq(s.refreshes(), 1, "once per page: no second attempt");
    await early.refresh().then(() => assert(false, "refresh() resolved"), (e) => eq(e.code, "ERR_NOT_SIGNED_IN", "refresh() while signed out"));
    eq(s.refreshes(), 1, "refresh() does not ask again either");
    // A signed-out tab that has used its one attempt, then hears another tab sign in.
    const b = new AuthClient({ ...s.options(), crossTab: true, channelName: name });
    const events = record(b);
    eq((await b.fetch("/api/me")).status, 401, "b: no session yet");
    const a = new AuthClient({ ...s.options(), crossTab: true, channelName: name });
    const before = s.refreshes();
    await a.login("u", "pw");
    await until(() => b.signedIn, 10_000, "b restores after hearing a sign in");
    eq(s.refreshes(), before + 1, "b's own restore, one request");
    assert(events.some((e) => e.type === "refresh" && e.source === "restore"), "b restored: " + JSON.stringify(events));
    eq((await b.fetch("/api/me")).status, 200, "b works");
    const heard = s.log.filter((e) => e.path === "/auth/refresh").at(-1);
    eq(heard.body, "grant_type=refresh_token", "b asked with its own cookie");
    // A page opened after the sign-in: its first auth.fetch gets 200 without restore().
    const later = new AuthClient(s.options());
    eq((await later.fetch("/api/me")).status, 200, "restored on the first fetch");
    eq(later.signedIn, true, "signed in");
    assert(api().at(-1).auth?.startsWith("Bearer "), "with a token");
    const viaRefresh = new AuthClient(s.options());
    await viaRefresh.refresh();
    eq(viaRefresh.signedIn, true, "the first refresh() restores too");
    // The hint says the session is over: no request, the fetch goes out without a token.
    document.cookie = "sr_session=0; Path=/; SameSite=Strict";
    const over = new AuthClient(s.options());
    const n = s.refreshes();
    eq((await over.fetch("/api/me")).status, 401, "hint 0: no token");
    eq(s.refreshes(), n, "hint 0: no refresh request");
    document.cookie = "sr_session=; Max-Age=0; Path=/";
    // Explicit restore() still works after a lazy attempt.
    eq(await over.restore(), true, "restore() after the lazy attempt");
    for (const c of [early, a, b, later, viaRefresh, over]) c.dispose();
  },

  // Another tab's logout reaches a tab sharing the storage: the hint makes it read the storage
  // under the lock, find no token, and end its session without presenting one.
  async logoutAcrossTabs(AuthClient) {
    const s = makeServer({ mode: "body" });
    sessionStorage.clear();
    const name = "sr-logout-test";
    const a = new AuthClient({ ...s.options(), crossTab: true, channelName: name, storage: sessionStorage });
    const b = new AuthClient({ ...s.options(), crossTab: true, channelName: name, storage: sessionStorage });
    const events = record(b), eventsA = record(a);
    await a.login("u", "pw");
    eq(b.signedIn, false, "a login signs no other tab in");
    eq(await b.restore(), true, "b restores from the shared storage");
    await until(() => eventsA.some((e) => e.source === "tab"), 10_000, "b's token reaches a");
    await a.refresh();
    // b takes a's access token (not its refresh token); its own refresh reads the storage.
    await until(() => events.some((e) => e.type === "refresh" && e.source === "tab"), 10_000, "a's token reaches b");
    await b.refresh();
    eq(new URLSearchParams(s.log.at(-1).body).get("refresh_token"), "srt_3", "b presents the token a rotated into storage");
    const before = s.refreshes();
    await a.logout();
    await until(() => !b.signedIn, 10_000, "the logout reaches b");
    assert(events.some((e) => e.type === "expired"), "b's session ended");
    eq(s.refreshes(), before, "b presented no token");
    a.dispose(); b.dispose();
  },

  // Body mode with a pluggable (async) storage; an API on another origin; options validation.
  async storage(AuthClient) {
    const s = makeServer({ mode: "body" });
    const store = new Map();
    const writes = [];
    const storage = {
      get: async (k) => store.get(k) ?? null,
      set: async (k, v) => { store.set(k, v); writes.push(v); },
      remove: async (k) => { store.delete(k); writes.push(null); },
    };
    const auth = new AuthClient(s.options({ storage }));
    await auth.login("u", "pw");
    await until(() => writes.length === 1, 10_000, "the refresh token stored");
    eq(store.get("silent-refresh:refresh_token"), "srt_1", "stored");
    await auth.refresh();
    await until(() => writes.length === 2, 10_000, "the rotated token stored");
    eq(store.get("silent-refresh:refresh_token"), "srt_2", "rotated in storage");
    auth.dispose();
    const again = new AuthClient(s.options({ storage }));
    eq(await again.restore(), true, "restored from storage");
    await again.logout();
    await until(() => writes.at(-1) === null, 10_000, "the token removed");
    eq(store.size, 0, "removed on logout");
    again.dispose();
    // Web Storage works as it is.
    sessionStorage.clear();
    const web = new AuthClient(s.options({ storage: sessionStorage, channelName: "web" }));
    await web.login("u", "pw");
    await until(() => sessionStorage.getItem("web:refresh_token") === "srt_4", 10_000, "sessionStorage written");
    web.dispose();
    // An absolute baseUrl (trailing slash tolerated) addresses the endpoints there, and the
    // access token goes to that origin only: not to the page's.
    const remote = new AuthClient({ fetch: s.fetch, baseUrl: API + "/", mode: "body", crossTab: false });
    await remote.login("u", "pw");
    eq(s.log.at(-1).path, API + "/auth/login", "endpoint under baseUrl");
    eq((await remote.fetch(API + "/api/me")).status, 200, "the API origin gets the token");
    assert((s.log.at(-1).auth ?? "").startsWith("Bearer "), "bearer to " + API);
    eq((await remote.fetch("/api/me")).status, 401, "the page's origin does not");
    eq(s.log.at(-1).auth, null, "no bearer to the page's origin");
    remote.dispose();
    for (const bad of [{ mode: "x" }, { refreshMargin: -1 }, { fetch: 3 }, { bearerOrigins: 5 }, { storage: "s" },
      { crossTab: 1 }, { baseUrl: 1 }, { requestTimeout: Infinity }, { clientID: "x" }, 7, null]) {
      let err;
      try { new AuthClient(bad); } catch (e) { err = e; }
      eq(err?.code, "ERR_INVALID_OPTIONS", "rejects " + JSON.stringify(bad));
      // The option it names (options.js's unit tests check each rule).
      eq(err.option, bad && typeof bad == "object" ? Object.keys(bad)[0] : "options", "names the option");
      assert(err.message.startsWith(err.option + ": "), "says the rule: " + err.message);
    }
    let err;
    try { new AuthClient({ clientID: "x" }); } catch (e) { err = e; }
    eq(err.message, "clientID: unknown option; did you mean clientId?", "suggests the closest name");
  },

  // dpopFetch: a request with a proof by the client's key (made if there is none) when DPoP is
  // on, by default in body mode: the key the client's own requests then use. None when it is off.
  async dpopFetch(AuthClient) {
    const s = makeServer({ mode: "body" });
    const seen = [];
    const fetch = (req) => (seen.push([new URL(req.url).pathname, req.headers.get("dpop")]), s.fetch(req));
    const jwk = (proof) => JSON.stringify(JSON.parse(atob(proof.split(".")[0].replace(/-/g, "+").replace(/_/g, "/"))).jwk);
    const auth = new AuthClient({ ...s.options(), fetch, channelName: "sr-dpop-fetch" });
    const exchange = { method: "POST", body: JSON.stringify({ username: "u", password: "pw", transport: "body" }) };
    eq((await auth.dpopFetch("/auth/login", exchange)).status, 200, "answered");
    const [path, proof] = seen[0];
    eq(path, "/auth/login", "the request as given");
    assert(proof, "with a proof");
    await auth.login("u", "pw");
    eq(seen[1][0], "/auth/login", "then the client's login");
    eq(jwk(seen[1][1]), jwk(proof), "by the same key");
    await auth.logout();
    const off = new AuthClient({ ...s.options(), fetch, dpop: false, channelName: "sr-dpop-fetch-off" });
    await off.dpopFetch("/api/none");
    eq(seen.at(-1)[1], null, "DPoP off: no proof");
    off.dispose();
  },
};

/** Runs scenario `name` with the package's `AuthClient`. */
export async function runScenario(name, AuthClient) {
  const probe = new AuthClient();
  assert(probe instanceof AuthClient, "default options are valid");
  probe.dispose();
  await scenarios[name](AuthClient);
}

/** The scenarios' names. */
export const names = Object.keys(scenarios);
