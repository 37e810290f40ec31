// End-to-end DPoP: the package's DPoP in headless Chromium against the real Worker in workerd.
// Each page loads the package from the Worker's /pkg/ and makes a body-mode client with
// localStorage (DPoP on by default there); proofs are made by the page's WebCrypto with the
// non-extractable key in IndexedDB.
import { after, before, describe, test, within } from "../support/test.mjs";
import assert from "node:assert/strict";
import { startWorker } from "../support/worker.mjs";
import { launchBrowser } from "../support/browser.mjs";

let worker;
let browser;

before(async () => {
  worker = await startWorker();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await worker?.stop();
});

const NAME = "dpop-e2e";
const evaluate = (page, fn, arg, what) => within(page.evaluate(fn, arg), 30_000, what);

/**
 * A page of the Worker's origin with `window.auth`: a body-mode client, with DPoP by default
 * (`dpop`: the option, if given).
 */
async function openClient(context, page, dpop) {
  page ??= await context.newPage();
  await page.goto(worker.url + "/style.css");
  await evaluate(page, async ([name, dpop]) => {
    const m = await import("/pkg/silent_refresh.js");
    await m.default();
    window.auth = new m.AuthClient({ mode: "body", storage: localStorage, channelName: name, ...(dpop === undefined ? {} : { dpop }) });
    window.claims = (t) => JSON.parse(atob(t.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
    window.me = async () => (await window.auth.fetch("/api/me")).status;
  }, [NAME, dpop], "client");
  return page;
}

/** The public JWK of the key stored in IndexedDB (`null` if none). */
const storedKey = (page) => evaluate(page, (name) => new Promise((resolve, reject) => {
  const open = indexedDB.open(name + ":dpop");
  open.onupgradeneeded = () => open.result.createObjectStore("dpop");
  open.onsuccess = () => {
    const get = open.result.transaction("dpop").objectStore("dpop").get(0);
    get.onsuccess = () => resolve(get.result ? { jwk: get.result[1], extractable: get.result[0].extractable } : null);
    get.onerror = () => reject(get.error);
  };
  open.onerror = () => reject(open.error);
}), NAME, "stored key");

/** Counts POST /auth/refresh and records the DPoP headers the context sends. */
function watch(context) {
  const seen = { refreshes: 0, proofs: [] };
  context.on("request", (req) => {
    const path = new URL(req.url()).pathname;
    if (req.method() === "POST" && path === "/auth/refresh") seen.refreshes++;
    const dpop = req.headers()["dpop"];
    if (dpop) seen.proofs.push({ path, dpop, authorization: req.headers()["authorization"] });
  });
  return seen;
}

/** Fault injection (an init script): IndexedDB refuses to store a CryptoKey, as Safari's private browsing does. */
function refuseCryptoKeys() {
  const add = IDBObjectStore.prototype.add;
  IDBObjectStore.prototype.add = function (value, key) {
    if (Array.isArray(value) && value.some((v) => v instanceof CryptoKey)) throw new DOMException("cannot store a CryptoKey", "DataCloneError");
    return add.call(this, value, key);
  };
}

const login = (page) => evaluate(page, async () => {
  await window.auth.login("demo", "demo-password");
  return localStorage.getItem("dpop-e2e:refresh_token");
}, undefined, "login");

describe("DPoP in Chromium against the Worker", () => {
  test("a bound session: proofs on login, refresh and auth.fetch; it survives a reload", async () => {
    const context = await browser.newContext();
    const seen = watch(context);
    const page = await openClient(context);
    assert.ok(await login(page), "refresh token stored");
    const key = await storedKey(page);
    assert.ok(key?.jwk?.x, "a key in IndexedDB");
    assert.equal(key.extractable, false, "the private key is not extractable");
    assert.equal(key.jwk.d, undefined, "no private member stored beside it");
    assert.equal(await evaluate(page, () => window.me(), undefined, "me"), 200, "bound token with its proof");
    const fetched = seen.proofs.find((p) => p.path === "/api/me");
    assert.match(fetched?.authorization ?? "", /^DPoP /, "Authorization: DPoP");
    assert.ok(seen.proofs.some((p) => p.path === "/auth/login"), "proof at login");

    await page.reload();
    await openClient(context, page);
    assert.equal(await evaluate(page, () => window.auth.restore(), undefined, "restore"), true, "restored after a reload");
    assert.equal(seen.refreshes, 1);
    assert.ok(seen.proofs.some((p) => p.path === "/auth/refresh"), "proof at refresh");
    assert.deepEqual((await storedKey(page)).jwk, key.jwk, "the same key");
    assert.equal(await evaluate(page, () => window.me(), undefined, "me"), 200);
    await context.close();
  });

  test("two tabs share one key and one refresh: the tab that refreshes tells the other its access token (never the refresh token), the other takes it; no reuse alarm; logout removes the key and ends both", async () => {
    const context = await browser.newContext();
    const seen = watch(context);
    const a = await openClient(context);
    await login(a);
    const b = await openClient(context);
    // A hostile script of the origin, without the package, listens on the tab channel.
    await evaluate(b, (name) => {
      window.heard = [];
      new BroadcastChannel(name).onmessage = (e) => window.heard.push(e.data);
    }, NAME, "listener");
    // Each tab counts the tokens it takes from the other.
    for (const p of [a, b]) {
      await evaluate(p, () => {
        window.taken = 0;
        window.auth.on("refresh", (e) => e.source === "tab" && window.taken++);
      }, undefined, "counter");
    }
    const taken = (page, n) => page.waitForFunction((n) => window.taken >= n, n, { timeout: 20_000 });
    assert.equal(await evaluate(b, () => window.auth.restore(), undefined, "restore b"), true);
    assert.equal(seen.refreshes, 1);
    await taken(a, 1);
    // In turn, one tab refreshes (with the refresh token the other rotated into storage, read
    // under the Web Lock: a rotated-away one would trip reuse detection and end both sessions)
    // and the other takes its access token instead of refreshing.
    const ROUNDS = 4;
    const count = new Map([[a, 1], [b, 0]]);
    for (let i = 0; i < ROUNDS; i++) {
      const [x, y] = i % 2 ? [b, a] : [a, b];
      await evaluate(x, () => window.auth.refresh(), undefined, "refresh");
      count.set(y, count.get(y) + 1);
      await taken(y, count.get(y));
    }
    assert.equal(seen.refreshes, 1 + ROUNDS, "one refresh for both tabs each time");
    assert.equal(await evaluate(b, () => window.me(), undefined, "me b"), 200, "B's proof matches the token's key");
    assert.equal(await evaluate(a, () => window.me(), undefined, "me a"), 200);
    assert.equal(seen.refreshes, 1 + ROUNDS, "no refresh since");
    assert.deepEqual(await evaluate(a, () => [window.auth.signedIn], undefined, "a"), [true]);
    // The listener heard access tokens, never a refresh token.
    const [heard, stored] = await evaluate(b, () => [window.heard, localStorage.getItem("dpop-e2e:refresh_token")], undefined, "heard");
    assert.equal(heard.length, 1 + ROUNDS);
    for (const m of heard) {
      assert.deepEqual(Object.keys(m).sort(), ["access", "lifetime", "type"]);
      assert.equal(m.type, "token");
    }
    assert.ok(stored && !JSON.stringify(heard).includes(stored), "the refresh token stays out of the channel");

    assert.equal(await evaluate(a, () => window.auth.logout(), undefined, "logout"), true);
    await a.waitForFunction(() => new Promise((resolve) => {
      const open = indexedDB.open("dpop-e2e:dpop");
      open.onsuccess = () => {
        const get = open.result.transaction("dpop").objectStore("dpop").get(0);
        get.onsuccess = () => resolve(get.result === undefined);
      };
    }), undefined, { timeout: 20_000 });
    assert.equal(await storedKey(b), null, "the key is gone for every tab");
    await b.waitForFunction(() => !window.auth.signedIn, undefined, { timeout: 20_000 });
    assert.deepEqual((await evaluate(b, () => window.heard, undefined, "heard")).at(-1), { type: "logout" }, "then a token-free logout hint");
    await context.close();
  });

  test("where IndexedDB cannot store a CryptoKey (as Safari's private browsing), by default: no key, a Bearer session that a reload keeps", async () => {
    const context = await browser.newContext();
    await context.addInitScript(refuseCryptoKeys);
    const seen = watch(context);
    const page = await openClient(context);
    assert.ok(await login(page), "signed in");
    assert.equal(await storedKey(page), null, "no key in IndexedDB");
    assert.equal(await evaluate(page, () => window.me(), undefined, "me"), 200);
    assert.deepEqual(seen.proofs, [], "no proof: a key that a reload would lose binds nothing");
    await page.reload();
    await openClient(context, page);
    assert.deepEqual(await evaluate(page, async () => [await window.auth.restore(), await window.me()], undefined, "restore"), [true, 200], "the session survives the reload");
    assert.equal(seen.refreshes, 1);
    await context.close();
  });

  test("where IndexedDB cannot store a CryptoKey, with dpop: true: the key lives with the page, the session works; after a reload it ends with one refused refresh, no loop", async () => {
    const context = await browser.newContext();
    await context.addInitScript(refuseCryptoKeys);
    const seen = watch(context);
    const answers = [];
    context.on("response", (r) => {
      if (new URL(r.url()).pathname === "/auth/refresh") answers.push(r.json().then((b) => [r.status(), b.error ?? b.token_type]));
    });
    const errors = [];
    const page = await openClient(context, undefined, true);
    page.on("pageerror", (e) => errors.push(String(e)));
    assert.ok(await login(page), "signed in");
    assert.equal(await storedKey(page), null, "no key in IndexedDB");
    assert.equal(await evaluate(page, () => window.me(), undefined, "me"), 200, "the page's key makes the proofs");
    await evaluate(page, () => window.auth.refresh(), undefined, "refresh");
    assert.equal(await evaluate(page, () => window.me(), undefined, "me"), 200);
    assert.ok(seen.proofs.some((p) => p.path === "/auth/refresh"), "the refresh carried a proof");

    await page.reload();
    await openClient(context, page, true);
    const restored = await evaluate(page, async () => {
      window.events = [];
      window.auth.on("expired", (e) => window.events.push(e.type));
      return [await window.auth.restore(), window.auth.signedIn];
    }, undefined, "restore");
    assert.deepEqual(restored, [false, false], "the key went with the page: the session is over");
    // Time for a loop to show itself, were there one.
    await new Promise((r) => setTimeout(r, 2000));
    assert.equal(seen.refreshes, 2, "one refresh before the reload, one after it");
    assert.deepEqual(await Promise.all(answers), [[200, "DPoP"], [400, "invalid_dpop_proof"]]);
    assert.deepEqual(errors, []);
    await context.close();
  });

  test("a refresh token copied out of storage and presented with another key is refused", async () => {
    const victim = await browser.newContext();
    const page = await openClient(victim);
    const stolen = await login(page);
    const thief = await browser.newContext();
    const answers = [];
    thief.on("response", (r) => {
      if (new URL(r.url()).pathname === "/auth/refresh") answers.push(r.json().then((b) => [r.status(), b.error]));
    });
    const other = await openClient(thief);
    const answer = await evaluate(other, async (token) => {
      // The thief's page has a key of its own (dpopFetch makes one), and the victim's refresh
      // token in its storage.
      await window.auth.dpopFetch("/style.css");
      localStorage.setItem("dpop-e2e:refresh_token", token);
      return [await window.auth.restore(), window.auth.signedIn, localStorage.getItem("dpop-e2e:refresh_token")];
    }, stolen, "thief restore");
    assert.deepEqual(answer, [false, false, null], "refused; the copied token is forgotten");
    assert.deepEqual(await Promise.all(answers), [[400, "invalid_grant"]], "the Worker refused the proof by another key");
    // The Worker treats it as theft: the victim's session is over too.
    assert.equal(await evaluate(page, () => window.auth.refresh().then(() => "ok", (e) => e.code), undefined, "victim"), "ERR_SESSION_EXPIRED");
    await victim.close();
    await thief.close();
  });
});
