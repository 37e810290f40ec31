// The Chromium the browser benchmarks run (Debian's), with one list of flags, started two ways:
// by Playwright (DevTools attached, for timing page loads and for pieces measured inside a page)
// and as a user would start it, which `withoutDevTools` does. Playwright attaches over the
// DevTools protocol and enables its network domain: for every request Chromium then records the
// JavaScript stack that started it and sends events to Playwright, which makes a loopback fetch
// cost a few ms instead of well under one, and a deeper stack (a call through auth.fetch) more
// than a shallow one (bench/browser/fetch-steps.mjs). No user's browser does this, so the ratios
// of calls over the network are judged in the browser started by `withoutDevTools`.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
export const CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
  // Diagnostics only (never set by bench/run.sh): e.g. "--js-flags=--wasm-compact-imports".
  ...(process.env.BENCH_CHROMIUM_EXTRA_ARGS ? process.env.BENCH_CHROMIUM_EXTRA_ARGS.split(" ") : [])];

/**
 * Opens `url` in a Chromium no DevTools client is attached to (no debugging port, a fresh
 * profile) and collects what the page posts to its server: `listen(deliver)` is called with the
 * function the caller's server hands each posted result to (and with `undefined` at the end).
 * Resolves with the `count` results once they are in; rejects after `timeoutMs`. The browser is
 * stopped by its process group either way.
 */
export function withoutDevTools(url, count, listen, { timeoutMs = 300_000, what = "the page" } = {}) {
  return new Promise((resolve, reject) => {
    const profile = mkdtempSync(join(tmpdir(), "bench-chromium-"));
    const results = [];
    // Playwright passes the two background flags itself.
    const child = spawn(CHROMIUM, [...CHROMIUM_ARGS, "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
      `--user-data-dir=${profile}`, url], { detached: true, stdio: "ignore" });
    const stop = () => {
      clearTimeout(timer);
      listen(undefined);
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {}
      rmSync(profile, { recursive: true, force: true });
    };
    const timer = setTimeout(() => (stop(), reject(new Error(`${what} without DevTools posted ${results.length} of ${count} results in ${timeoutMs / 1000} s`))), timeoutMs);
    child.on("error", (e) => (stop(), reject(e)));
    listen((result) => {
      results.push(result);
      if (results.length === count) stop(), resolve(results);
    });
  });
}
