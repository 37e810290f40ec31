// Shared by the interop tests: the npm package as a user gets it, a static file server, and a
// child process that is stopped for sure.
//
//   installPackage(dir)    packs pkg/ with `npm pack` (once per test process) and unpacks the
//                          tarball into dir/node_modules/silent-refresh, as `npm install` would;
//                          the rest (bundlers, react, ...) resolves from the repository's
//                          node_modules, since every project lives under target/interop/.
//   projectDir(name)       a fresh target/interop/<name>/ with the files of fixtures/<name>/.
//   serveStatic(dir, port) an HTTP server for a built site on 127.0.0.1 (wasm as application/wasm).
//   spawnServer(cmd, args, { readyUrl }) a child in its own process group, waited for until
//                          readyUrl answers; stop() ends the group.
//   run(cmd, args, opts)   runs a command to its end; rejects with its output if it fails.
import { spawn } from "node:child_process";
import { cpSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { dirname, extname, join, normalize, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const fixtures = join(root, "tests/interop/fixtures");
export const workRoot = join(root, "target/interop");
export const bin = (name) => join(root, "node_modules/.bin", name);
/** Child processes still running, killed (with their process groups) when the test process exits. */
const children = new Set();

/** Runs `cmd args` to its end; resolves to its output, rejects with it on a non-zero exit. */
export function run(cmd, args, { cwd = root, env = {}, timeout = 300_000 } = {}) {
  return new Promise((ok, fail) => {
    const child = spawn(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"], detached: true });
    children.add(child); // killed at exit if a test timeout ends the file first
    let out = "";
    child.stdout.on("data", (c) => (out += c));
    child.stderr.on("data", (c) => (out += c));
    const timer = setTimeout(() => { try { process.kill(-child.pid, "SIGKILL"); } catch { /* gone */ } }, timeout);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      if (code === 0) ok(out);
      else fail(new Error(`${cmd} ${args.join(" ")} failed (${signal ?? code}):\n${out}`));
    });
  });
}

let tarball;
/** The package tarball `npm pack` makes of pkg/ (what `npm publish` would upload). */
export async function packTarball() {
  if (!tarball) {
    tarball = (async () => {
      const dest = join(workRoot, "tarball");
      rmSync(dest, { recursive: true, force: true });
      mkdirSync(dest, { recursive: true });
      const out = await run("npm", ["pack", "--json", "--pack-destination", dest], { cwd: join(root, "pkg") });
      const [info] = JSON.parse(out.slice(out.indexOf("[")));
      return { path: join(dest, info.filename), files: info.files.map((f) => f.path).sort() };
    })();
  }
  return tarball;
}

/** Unpacks the package tarball into dir/node_modules/silent-refresh. */
export async function installPackage(dir) {
  const { path } = await packTarball();
  const target = join(dir, "node_modules/silent-refresh");
  rmSync(target, { recursive: true, force: true });
  mkdirSync(target, { recursive: true });
  await run("tar", ["-xzf", path, "-C", target, "--strip-components=1"]);
  return target;
}

/**
 * A fresh target/interop/<name> holding a copy of fixtures/<from> and of fixtures/shared/app.js
 * (the page code every build runs), with the package installed.
 */
export async function projectDir(name, from = name) {
  const dir = join(workRoot, name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  cpSync(join(fixtures, from), dir, { recursive: true });
  cpSync(join(fixtures, "shared/app.js"), join(dir, "app.js"));
  await installPackage(dir);
  return dir;
}

const TYPES = {
  ".html": "text/html; charset=utf-8", ".js": "text/javascript", ".mjs": "text/javascript",
  ".css": "text/css", ".wasm": "application/wasm", ".json": "application/json", ".map": "application/json",
};

/**
 * Serves the files under `dirs` (mount path -> directory; the object may gain mounts later) on
 * 127.0.0.1:port; resolves to { url, close() }.
 */
export function serveStatic(dirs, port = 0) {
  const server = createServer((req, res) => {
    const mounts = Object.entries(dirs).sort((a, b) => b[0].length - a[0].length);
    const path = decodeURIComponent(new URL(req.url, "http://x").pathname);
    for (const [mount, dir] of mounts) {
      if (!path.startsWith(mount)) continue;
      const rest = path.slice(mount.length);
      const file = normalize(join(dir, rest === "" || rest.endsWith("/") ? rest + "index.html" : rest));
      if (!file.startsWith(dir)) break;
      try {
        const body = readFileSync(file);
        res.writeHead(200, { "content-type": TYPES[extname(file)] ?? "application/octet-stream", "cache-control": "no-store" });
        res.end(body);
      } catch {
        continue;
      }
      return;
    }
    res.writeHead(404, { "content-type": "text/plain" });
    res.end("not found");
  });
  // A port taken meanwhile (another server picked the one freePort() saw free) rejects, never hangs.
  return new Promise((ok, fail) => {
    server.once("error", fail);
    server.listen(port, "127.0.0.1", () => ok({
      url: `http://127.0.0.1:${server.address().port}`,
      port: server.address().port,
      close: () => new Promise((done) => { server.closeAllConnections(); server.close(() => done()); }),
    }));
  });
}

/** Starts a server process in its own process group; resolves once `readyUrl` answers (any status). */
export async function spawnServer(cmd, args, { cwd = root, env = {}, readyUrl, timeout = 120_000 } = {}) {
  const child = spawn(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"], detached: true });
  children.add(child);
  let out = "";
  child.stdout.on("data", (c) => (out += c));
  child.stderr.on("data", (c) => (out += c));
  let exited = false;
  const exitedPromise = new Promise((ok) => child.on("exit", () => { exited = true; ok(); }));
  const stop = async () => {
    if (!exited) {
      try { process.kill(-child.pid, "SIGTERM"); } catch { /* gone */ }
      const timer = setTimeout(() => { try { process.kill(-child.pid, "SIGKILL"); } catch { /* gone */ } }, 5000);
      await exitedPromise;
      clearTimeout(timer);
    }
    try { process.kill(-child.pid, "SIGKILL"); } catch { /* gone */ }
    children.delete(child);
  };
  const deadline = Date.now() + timeout;
  for (;;) {
    if (exited) throw new Error(`${cmd} ${args.join(" ")} exited early:\n${out}`);
    try {
      const res = await fetch(readyUrl, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      break;
    } catch { /* not up yet */ }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`${cmd} did not answer ${readyUrl} in time:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { output: () => out, stop };
}

process.on("exit", () => {
  for (const child of children) {
    try { process.kill(-child.pid, "SIGKILL"); } catch { /* gone */ }
  }
});
