// The refresh-endpoint load run: for every server, a pool of refresh tokens is minted before
// any timed phase; then, for each repetition, each concurrency level and each server
// (interleaved, so that a noisy neighbour hits every server alike), autocannon sends
// POST refreshes for a fixed duration, every request presenting a distinct valid token taken
// from the pool. A rotating server answers with the successor, which goes to the back of the
// pool (a token of another family is always ahead of it), so no token is ever presented twice.
// The Express baseline does not rotate: its token goes back to the pool unchanged.
// Kind "silent-refresh-dpop" is our Worker with DPoP-bound sessions: minted with a proof, every
// refresh carrying a proof by the same key. The proofs are made in Node (WebCrypto) just before
// each run, one per request (a proof's jti is single use, its iat good for 60 s), so only the
// Worker's side is timed: proof checks, signature verification, the replay cache's KV read and
// write. Every 200 must say token_type DPoP.
//
// Nothing is allowed to go wrong quietly: before every run (untimed) each pool is topped up by
// minting, to at least what the server's fastest run so far would use at 1.5x plus one token per
// connection, so a run cannot drain it; after all runs, any non-200 answer, socket error, timeout,
// drained pool or proof, or DPoP refresh answered without a DPoP token, in any run (untimed
// warm-up runs included), fails the step: OUT.json is still written (with `failures`), and the
// exit status is 1.
//
// Usage: node refresh-load.mjs CONFIG.json OUT.json
//   CONFIG: { servers: [{ name, url, kind: "silent-refresh" | "silent-refresh-dpop" | "express", adminToken?, refreshSecret?, routed?, familyBound? }],
//             concurrency: [1, 16, 64], duration: seconds, reps, warmup: seconds,
//             runWarmup: untimed seconds before each timed run,
//             chained?: [1, 16] (levels at which each run is followed by a chained run: every
//             request presents the successor that arrived last, as soon as it arrived, as
//             clients do: c chains at c connections) }
// Writes every run and the medians to OUT.json; progress goes to stderr.
import autocannon from "autocannon";
import { createHash, createHmac } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { median } from "../stats.mjs";

const [configPath, outPath] = process.argv.slice(2);
const config = JSON.parse(readFileSync(configPath, "utf8"));
const log = (...a) => console.error("[load]", ...a);

/** A FIFO of tokens with O(1) take and put. */
class Pool {
  constructor(tokens = []) {
    this.items = tokens;
    this.head = 0;
  }
  get size() {
    return this.items.length - this.head;
  }
  take() {
    if (this.head >= this.items.length) return undefined;
    const t = this.items[this.head++];
    if (this.head > 65536 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return t;
  }
  put(t) {
    this.items.push(t);
  }
}

// --- DPoP proofs (RFC 9449), made with Node's WebCrypto --------------------------------------
const b64u = (bytes) => Buffer.from(bytes).toString("base64url");
/** A non-extractable P-256 key and its public JWK. */
async function dpopKey() {
  const pair = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign"]);
  const { kty, crv, x, y } = await crypto.subtle.exportKey("jwk", pair.publicKey);
  return { privateKey: pair.privateKey, jwk: { kty, crv, x, y } };
}
/** A proof by `key` for `method htu`, dated now. */
async function dpopProof(key, htu, method = "POST") {
  const header = { typ: "dpop+jwt", alg: "ES256", jwk: key.jwk };
  const claims = { jti: b64u(crypto.getRandomValues(new Uint8Array(16))), htm: method, htu, iat: Math.floor(Date.now() / 1000) };
  const input = `${b64u(JSON.stringify(header))}.${b64u(JSON.stringify(claims))}`;
  const sig = await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, key.privateKey, new TextEncoder().encode(input));
  return `${input}.${b64u(new Uint8Array(sig))}`;
}
/** RFC 7638 thumbprint of a public EC JWK. */
const thumbprint = ({ crv, kty, x, y }) => createHash("sha256").update(JSON.stringify({ crv, kty, x, y })).digest("base64url");
/** The key every DPoP-bound session of the run is bound to (the Worker imports it per request, caches nothing). */
let sessionKey;

/** How each kind of server mints a token, presents one and returns the next one to use. */
const KINDS = {
  "silent-refresh": {
    mintPath: "/auth/sessions",
    mintHeaders: (s) => ({ "content-type": "application/json", authorization: `Bearer ${s.adminToken}` }),
    mintBody: (i) => JSON.stringify({ sub: `bench-user-${i}` }),
    minted: (json) => json.refresh_token,
    refreshPath: "/auth/refresh",
    refreshBody: (token) => JSON.stringify({ refresh_token: token }),
    next: (json) => json.refresh_token,
  },
  "silent-refresh-dpop": {
    dpop: true,
    mintPath: "/auth/sessions",
    mintHeaders: async (s) => ({
      "content-type": "application/json", authorization: `Bearer ${s.adminToken}`, dpop: await dpopProof(sessionKey, s.url + "/auth/sessions"),
    }),
    mintBody: (i) => JSON.stringify({ sub: `bench-dpop-user-${i}` }),
    minted: (json) => (json.token_type === "DPoP" ? json.refresh_token : undefined),
    refreshPath: "/auth/refresh",
    refreshBody: (token) => JSON.stringify({ refresh_token: token }),
    next: (json) => (json.token_type === "DPoP" ? json.refresh_token : undefined),
  },
  express: {
    mintPath: "/login",
    mintHeaders: () => ({ "content-type": "application/json" }),
    mintBody: (i) => JSON.stringify({ username: `bench-user-${i}` }),
    minted: (json) => json.refreshToken,
    refreshPath: "/token",
    refreshBody: (token) => JSON.stringify({ token }),
    next: (json, presented) => (typeof json.accessToken === "string" ? presented : undefined),
  },
};

/** Mints `n` tokens with `concurrency` parallel requests; returns them. */
async function mint(server, n, concurrency = 16, offset = 0) {
  const kind = KINDS[server.kind];
  const out = [];
  let next = 0;
  let failures = 0;
  async function worker() {
    while (next < n) {
      const i = offset + next++;
      const res = await fetch(server.url + kind.mintPath, {
        method: "POST",
        headers: await kind.mintHeaders(server),
        body: kind.mintBody(i),
      });
      const text = await res.text();
      if (res.status !== 200) {
        if (++failures > 10) throw new Error(`${server.name}: minting failed: ${res.status} ${text.slice(0, 200)}`);
        next--;
        continue;
      }
      const token = kind.minted(JSON.parse(text));
      if (typeof token !== "string") throw new Error(`${server.name}: minting answered ${text.slice(0, 200)}`);
      out.push(token);
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker));
  return out;
}

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx];
}


/** The highest throughput seen per server (req/s), to size the top-up of its pool. */
const bestRps = new Map();

/**
 * Mints tokens into `pool` until it holds what a run of `duration` s at `connections` can use:
 * the server's best throughput so far x 1.5, plus one per connection (a request in flight when
 * the run stops takes its token with it), plus 200. Untimed. Returns how many were minted.
 */
async function topUp(server, pool, connections, duration) {
  const want = Math.ceil((bestRps.get(server.name) ?? 3000) * duration * 1.5) + connections + 200;
  if (pool.size >= want) return 0;
  const n = want - pool.size;
  for (const t of await mint(server, n, 32, mintOffset)) pool.put(t);
  mintOffset += n;
  return n;
}
/** Subjects of minted sessions are numbered from here on (distinct families, distinct subjects). */
let mintOffset = 1_000_000;

/** One timed run of `duration` seconds at `connections`; returns the figures. */
async function run(server, pool, connections, duration, chained = false) {
  const kind = KINDS[server.kind];
  const latencies = [];
  let ok = 0;
  let bad = 0;
  let exhausted = 0;
  let unbound = 0;
  const statuses = {};
  // DPoP: one fresh proof per request, made before the run (never timed), with room to spare.
  let proofs;
  if (kind.dpop) {
    // Sized by the best throughput seen, not the last: the last run may be a one-second warm-up
    // at 64 connections, which completes few requests (a whole run once drew 667 times on an
    // empty pool of proofs sized that way).
    const want = Math.ceil((bestRps.get(server.name) ?? 3000) * duration * 2) + 4 * connections + 200;
    proofs = new Pool(await Promise.all(Array.from({ length: want }, () => dpopProof(sessionKey, server.url + kind.refreshPath))));
  }
  /** Chained runs: successors just given, the last one presented first. */
  const fresh = [];
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: server.url,
        connections,
        pipelining: 1,
        duration,
        timeout: 10,
        requests: [
          {
            method: "POST",
            path: kind.refreshPath,
            headers: { "content-type": "application/json" },
            setupRequest: (req, context) => {
              // Chained: the next request presents the successor that arrived last, as soon as it
              // arrived (closed loop: with c connections, c chains), as clients do; a request
              // with none waiting takes a token from the pool. (Not per connection through
              // autocannon's context: it is reset before every request of a one-request list.)
              let token = (chained && fresh.pop()) || pool.take();
              if (token === undefined) {
                exhausted++;
                token = "srt_exhausted";
              }
              context.token = token;
              if (proofs) {
                const dpop = proofs.take();
                if (dpop === undefined) exhausted++;
                return { ...req, headers: { ...req.headers, dpop: dpop ?? "exhausted" }, body: kind.refreshBody(token) };
              }
              return { ...req, body: kind.refreshBody(token) };
            },
            onResponse: (status, body, context) => {
              statuses[status] = (statuses[status] ?? 0) + 1;
              if (status !== 200) return;
              let next;
              try {
                next = kind.next(JSON.parse(body), context.token);
              } catch {
                next = undefined;
              }
              if (typeof next === "string") {
                if (chained) fresh.push(next);
                else pool.put(next);
              } else if (kind.dpop) unbound++;
            },
          },
        ],
      },
      (err, result) => {
        // Successors still unpresented when a chained run stops stay live: back to the pool.
        for (const t of fresh.splice(0)) pool.put(t);
        if (err) return reject(err);
        latencies.sort((a, b) => a - b);
        const seconds = (result.finish - result.start) / 1000;
        bestRps.set(server.name, Math.max(bestRps.get(server.name) ?? 0, ok / seconds));
        resolve({
          connections,
          seconds,
          requests: ok + bad,
          ok,
          rps: ok / seconds,
          p50: percentile(latencies, 50),
          p99: percentile(latencies, 99),
          errors: bad + result.errors + result.timeouts,
          socketErrors: result.errors,
          timeouts: result.timeouts,
          exhausted,
          unbound,
          statuses,
        });
      },
    );
    // The per-response event carries the latency in ms with sub-millisecond precision
    // (autocannon's own histogram keeps whole milliseconds).
    instance.on("response", (_client, status, _bytes, responseTime) => {
      if (status === 200) {
        ok++;
        latencies.push(responseTime);
      } else {
        bad++;
      }
    });
  });
}

/**
 * Checks that a silent-refresh-kind server rotates as docs/DESIGN.md says: the successor is
 * HMAC-SHA256(REFRESH_SECRET, token bytes), or for a server whose tokens are bound to a
 * per-family random value (`familyBound`: ours, addressed tokens) a successor that is *not*
 * that HMAC (the secret and the token alone must not give it) and keeps the token's lead and
 * family handle (its first 24 bytes); a replay inside the grace window returns the same
 * successor, and a reuse after that revokes the family (the successor stops working).
 */
async function checkRotation(server) {
  const [token] = await mint(server, 1, 1, 999_999);
  const refresh = async (t) => {
    const res = await fetch(server.url + "/auth/refresh", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ refresh_token: t }),
    });
    return { status: res.status, body: await res.json() };
  };
  const raw = Buffer.from(token.slice(4), "base64url");
  const mac = createHmac("sha256", Buffer.from(server.refreshSecret, "base64url")).update(raw).digest();
  // Strict mode keeps the token's 12-byte route and appends the first 20 bytes of the HMAC.
  const expected = "srt_" + (server.routed ? Buffer.concat([raw.subarray(0, 12), mac.subarray(0, 20)]) : mac).toString("base64url");
  const first = await refresh(token);
  const replay = await refresh(token);
  const s2 = await refresh(first.body.refresh_token); // rotates again: token is now two behind
  const reuse = await refresh(token); // outside "one behind": reuse -> family revoked
  const after = await refresh(s2.body.refresh_token);
  const successor = server.familyBound ? first.body.refresh_token : expected;
  const ok = {
    derivedSuccessor: first.status === 200 && (server.familyBound
      ? /^srt_[A-Za-z0-9_-]{64}$/.test(successor) && successor !== expected && successor !== token && successor.slice(0, 36) === token.slice(0, 36)
      : first.body.refresh_token === expected),
    graceReplay: replay.status === 200 && replay.body.refresh_token === successor,
    reuseRejected: reuse.status === 400 && reuse.body.error === "invalid_grant",
    familyRevoked: after.status === 400 && after.body.error === "invalid_grant",
  };
  log(`${server.name}: rotation check ${JSON.stringify(ok)}`);
  return ok;
}

/**
 * Checks that a DPoP server binds and refuses as docs/PROTOCOL.md says: a session minted with a
 * proof answers token_type DPoP with cnf.jkt = the key's thumbprint; a refresh with a proof by
 * the key rotates; one without a proof or with a replayed proof is refused (invalid_dpop_proof);
 * one with another key's proof is refused (invalid_grant) and revokes the family.
 */
async function checkDpop(server) {
  const url = server.url;
  const refresh = async (token, dpop) => {
    const res = await fetch(url + "/auth/refresh", {
      method: "POST",
      headers: { "content-type": "application/json", ...(dpop ? { dpop } : {}) },
      body: JSON.stringify({ refresh_token: token }),
    });
    return { status: res.status, body: await res.json() };
  };
  const res = await fetch(url + "/auth/sessions", { method: "POST", headers: await KINDS[server.kind].mintHeaders(server), body: JSON.stringify({ sub: "bench-dpop-check" }) });
  const minted = await res.json();
  const cnf = (t) => JSON.parse(Buffer.from(String(t).split(".")[1] ?? "", "base64url").toString() || "{}").cnf?.jkt;
  const proof = await dpopProof(sessionKey, url + "/auth/refresh");
  const first = await refresh(minted.refresh_token, proof);
  const t1 = first.body.refresh_token;
  const noProof = await refresh(t1);
  const replayed = await refresh(t1, proof);
  const other = await refresh(t1, await dpopProof(await dpopKey(), url + "/auth/refresh"));
  const after = await refresh(t1, await dpopProof(sessionKey, url + "/auth/refresh"));
  const ok = {
    bound: res.status === 200 && minted.token_type === "DPoP" && cnf(minted.access_token) === thumbprint(sessionKey.jwk),
    rotates: first.status === 200 && first.body.token_type === "DPoP" && typeof t1 === "string" && t1 !== minted.refresh_token,
    noProofRefused: noProof.status === 400 && noProof.body.error === "invalid_dpop_proof",
    replayRefused: replayed.status === 400 && replayed.body.error === "invalid_dpop_proof",
    otherKeyRefused: other.status === 400 && other.body.error === "invalid_grant",
    familyRevoked: after.status === 400 && after.body.error === "invalid_grant",
  };
  log(`${server.name}: DPoP check ${JSON.stringify(ok)}`);
  return ok;
}

async function main() {
  const { servers, concurrency, duration, reps, warmup, runWarmup = 0 } = config;
  // "pool" always; "chained" too at the levels listed in config.chained (each request presents
  // the successor that arrived last).
  const chainedAt = config.chained ?? [];
  const modes = chainedAt.length ? ["pool", "chained"] : ["pool"];
  const pools = new Map();
  const checks = {};
  sessionKey = await dpopKey();
  for (const s of servers) if (s.kind === "silent-refresh" && s.refreshSecret) checks[s.name] = await checkRotation(s);
  for (const s of servers) if (s.kind === "silent-refresh-dpop") checks[s.name] = await checkDpop(s);
  const failures = [];
  /** Records what went wrong in a run (timed or not): every answer must be a 200 with a token. */
  const judge = (s, c, r, what) => {
    const wrong = [];
    const other = Object.entries(r.statuses).filter(([st]) => st !== "200").map(([st, n]) => `${n} x ${st}`);
    if (other.length) wrong.push(`answered ${other.join(", ")}`);
    if (r.socketErrors) wrong.push(`${r.socketErrors} socket errors`);
    if (r.timeouts) wrong.push(`${r.timeouts} timeouts`);
    if (r.exhausted) wrong.push(`tokens or proofs ran out ${r.exhausted} times`);
    if (r.unbound) wrong.push(`${r.unbound} refreshes answered without a DPoP token`);
    if (wrong.length) failures.push(`${s.name}, ${c} connections, ${what}: ${wrong.join("; ")}`);
  };
  // Warm-up (JIT, isolate, KV files) and a throughput estimate that sizes each pool so that
  // one run at the highest concurrency uses each family at most once.
  for (const s of servers) {
    const seed = new Pool(await mint(s, 300, 16, 0));
    const w = await run(s, seed, 16, warmup);
    // The seed pool may run dry in the warm-up (its size is a guess): each request then presents
    // a token that does not exist and earns a 400. Those 400s only; anything else still fails.
    const statuses = { ...w.statuses };
    const spare400 = (statuses[400] ?? 0) - w.exhausted;
    if (spare400 > 0) statuses[400] = spare400;
    else delete statuses[400];
    judge(s, 16, { ...w, statuses, exhausted: 0 }, "warm-up");
    // Plus the tokens lost by the runs themselves: a request still in flight when a run stops
    // takes its token with it (at most one per connection per run, warm-up runs included).
    const lost = concurrency.reduce((a, c) => a + c, 0) * reps * (runWarmup > 0 ? 2 : 1);
    const want = Math.ceil(w.rps * duration * 1.5) + 200 + lost;
    log(`${s.name}: warm-up ${w.rps.toFixed(0)} req/s at 16 connections (${w.errors} errors); minting ${want} tokens`);
    const t0 = performance.now();
    const pool = new Pool(await mint(s, want, 32, 1000));
    log(`${s.name}: minted ${pool.size} tokens in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    pools.set(s.name, pool);
  }
  const runs = [];
  for (let rep = 1; rep <= reps; rep++) {
    for (const c of concurrency) {
      for (const s of servers) {
        const pool = pools.get(s.name);
        const minted = await topUp(s, pool, c, duration + runWarmup);
        if (minted) log(`${s.name}: pool topped up with ${minted} tokens`);
        // One untimed second at the same concurrency first: the server has been idle while the
        // others ran, and the first requests after a pause are not what is being measured.
        for (const mode of modes) {
          const chained = mode === "chained";
          if (chained && !chainedAt.includes(c)) continue;
          if (runWarmup > 0) judge(s, c, await run(s, pool, c, runWarmup, chained), `rep ${rep} ${mode} warm-up`);
          const r = await run(s, pool, c, duration, chained);
          judge(s, c, r, `rep ${rep} ${mode}`);
          runs.push({ server: s.name, rep, mode, ...r });
          log(
            `rep ${rep} c=${String(c).padStart(2)} ${s.name.padEnd(8)} ${mode.padEnd(7)} ${r.rps.toFixed(0).padStart(6)} req/s  ` +
              `p50 ${r.p50.toFixed(2)} ms  p99 ${r.p99.toFixed(2)} ms  errors ${r.errors}` +
              (r.exhausted ? `  (pool exhausted ${r.exhausted}x)` : "") +
              `  pool ${pool.size}`,
          );
        }
      }
    }
  }
  const summaries = {};
  for (const mode of modes) {
    const summary = (summaries[mode] = []);
    for (const s of servers) {
      for (const c of concurrency) {
        if (mode === "chained" && !chainedAt.includes(c)) continue;
        const rs = runs.filter((r) => r.server === s.name && r.connections === c && r.mode === mode);
        summary.push({
          server: s.name,
          connections: c,
          rps: median(rs.map((r) => r.rps)),
          p50: median(rs.map((r) => r.p50)),
          p99: median(rs.map((r) => r.p99)),
          errors: rs.reduce((a, r) => a + r.errors, 0),
          requests: rs.reduce((a, r) => a + r.requests, 0),
          exhausted: rs.reduce((a, r) => a + r.exhausted, 0),
          unbound: rs.reduce((a, r) => a + (r.unbound ?? 0), 0),
          runs: rs.length,
        });
      }
    }
  }
  const publicConfig = { ...config, servers: servers.map((s) => ({ name: s.name, kind: s.kind, url: s.url })) };
  writeFileSync(outPath, JSON.stringify({ config: publicConfig, checks, runs, summary: summaries.pool, chained: summaries.chained, failures }, null, 2));
  if (failures.length) {
    console.error(`[load] FAIL: ${failures.length} runs had errors:\n  ${failures.join("\n  ")}`);
    process.exitCode = 1;
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
