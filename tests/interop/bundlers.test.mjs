// The npm package (packed with `npm pack`, unpacked as `npm install` would) built into a page by
// the bundlers people use, each page loaded in headless Chromium where it runs init(), signs in
// at our Worker (body mode, cross-origin with CORS) and calls auth.fetch:
//   - Vite 8 (`vite build`; the dev servers of Vite 8 and 6 with the README's
//     optimizeDeps.exclude), webpack 5 (production mode, defaults), both with the default entry,
//     whose wasm they must emit as an asset;
//   - plain `esbuild --bundle` of the inline entry, ESM and IIFE, with no loader and no warning,
//     and no wasm request at run time;
//   - Next.js (app router, `next build` + `next start`): a client page using the package, a
//     server component importing it during server rendering, and silent-refresh/react rendered
//     on the server and then in the browser.
import { after, before, describe, test } from "../support/test.mjs";
import assert from "node:assert/strict";
import { copyFileSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { freePort, startWorker } from "../support/worker.mjs";
import { launchBrowser } from "../support/browser.mjs";
import { bin, projectDir, root, run, serveStatic, spawnServer } from "./support.mjs";

let worker, browser, site, nextPort, vitePort;
const dirs = {};

before(async () => {
  // The site's server first, holding its port (`dirs` is read per request: tests mount later).
  site = await serveStatic(dirs);
  nextPort = await freePort();
  vitePort = await freePort();
  const origins = [site.url, ...[nextPort, vitePort].map((p) => `http://127.0.0.1:${p}`)];
  worker = await startWorker({ vars: { ALLOWED_ORIGINS: origins.join(",") } });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await site?.close();
  await worker?.stop();
});

/**
 * Loads `url` (plus `?api=` the Worker) in a fresh context; resolves to the page's outcome, the
 * wasm responses it received and the errors it logged.
 */
async function runPage(url) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const wasm = [];
  const errors = [];
  page.on("response", (r) => {
    if (new URL(r.url()).pathname.endsWith(".wasm")) wasm.push({ status: r.status(), type: r.headers()["content-type"] });
  });
  page.on("pageerror", (e) => errors.push(String(e)));
  // Said when the page never reports: what it logged, the requests that failed, its navigations.
  const seen = [];
  page.on("console", (m) => seen.push(`console.${m.type()}: ${m.text()}`));
  page.on("requestfailed", (r) => seen.push(`failed: ${r.url()} ${r.failure()?.errorText}`));
  page.on("framenavigated", (f) => f === page.mainFrame() && seen.push(`navigated: ${f.url()}`));
  try {
    await page.goto(`${url}?api=${encodeURIComponent(worker.url)}`);
    await page.waitForSelector("body[data-result]", { state: "attached", timeout: 30_000 }).catch((e) => {
      throw new Error(`${e.message}\npage errors: ${JSON.stringify(errors)}\n${seen.join("\n")}`, { cause: e });
    });
    const result = JSON.parse(await page.getAttribute("body", "data-result"));
    return { result, wasm, errors };
  } finally {
    await context.close();
  }
}

const SIGNED_IN = { signedIn: true, status: 200, sub: "demo", user: null };

describe("bundlers", () => {
  test("Vite: vite build of the default entry emits the wasm; init, login and auth.fetch work", async () => {
    const dir = await projectDir("vite");
    await run(bin("vite"), ["build"], { cwd: dir });
    assert.ok(readdirSync(join(dir, "dist/assets")).some((f) => f.endsWith(".wasm")), "a .wasm asset in dist/assets");
    dirs["/vite/"] = join(dir, "dist");
    const { result, wasm, errors } = await runPage(`${site.url}/vite/`);
    assert.deepEqual(result, SIGNED_IN);
    assert.deepEqual(wasm, [{ status: 200, type: "application/wasm" }]);
    assert.deepEqual(errors, []);
  });

  for (const [version, cli] of [["8", "node_modules/vite/bin/vite.js"], ["6", "node_modules/vite6/bin/vite.js"]]) {
    test(`Vite ${version}: the dev server with optimizeDeps.exclude, as the README says`, async () => {
      const dir = await projectDir(`vite${version}-dev`, "vite");
      const base = `http://127.0.0.1:${vitePort}`;
      const args = [join(root, cli), "--config", "dev.config.js", "--host", "127.0.0.1", "--port", String(vitePort), "--strictPort"];
      const server = await spawnServer(process.execPath, args, { cwd: dir, readyUrl: `${base}/` });
      try {
        const { result, wasm, errors } = await runPage(`${base}/`);
        assert.deepEqual(result, SIGNED_IN);
        assert.deepEqual(wasm, [{ status: 200, type: "application/wasm" }]);
        assert.deepEqual(errors, []);
      } finally {
        await server.stop();
      }
    });
  }

  test("webpack 5: production build with defaults emits the wasm; init, login and auth.fetch work", async () => {
    const dir = await projectDir("webpack");
    const webpack = (await import("webpack")).default;
    const config = createRequire(import.meta.url)(join(dir, "webpack.config.cjs"));
    const stats = await new Promise((ok, fail) => webpack(config, (err, s) => (err ? fail(err) : ok(s))));
    assert.equal(stats.hasErrors(), false, stats.toString("errors-only"));
    assert.equal(stats.hasWarnings(), false, stats.toString("errors-warnings"));
    assert.ok(readdirSync(join(dir, "dist")).some((f) => f.endsWith(".wasm")), "a .wasm asset in dist");
    copyFileSync(join(dir, "index.html"), join(dir, "dist/index.html"));
    dirs["/webpack/"] = join(dir, "dist");
    const { result, wasm, errors } = await runPage(`${site.url}/webpack/`);
    assert.deepEqual(result, SIGNED_IN);
    assert.deepEqual(wasm, [{ status: 200, type: "application/wasm" }]);
    assert.deepEqual(errors, []);
  });

  for (const format of ["esm", "iife"]) {
    test(`esbuild --bundle --format=${format} of silent-refresh/inline: no loader, no warning, no wasm request`, async () => {
      const dir = await projectDir(`esbuild-${format}`, "esbuild");
      // --log-level=warning: esbuild prints nothing unless something is wrong.
      const out = await run(bin("esbuild"), ["main.js", "--bundle", `--format=${format}`, `--outfile=dist/${format}.js`, "--log-level=warning"], { cwd: dir });
      assert.equal(out, "", "esbuild printed no warning");
      copyFileSync(join(dir, `${format}.html`), join(dir, "dist/index.html"));
      dirs[`/esbuild-${format}/`] = join(dir, "dist");
      const { result, wasm, errors } = await runPage(`${site.url}/esbuild-${format}/`);
      assert.deepEqual(result, SIGNED_IN);
      assert.deepEqual(wasm, [], "the wasm comes from the bundle, not the network");
      assert.deepEqual(errors, []);
    });
  }

  test("esbuild --bundle of the default entry (the wasm not copied): init() rejects with ERR_WASM_LOAD naming silent-refresh/inline", async () => {
    const dir = await projectDir("esbuild-default", "esbuild");
    await run(bin("esbuild"), ["default.js", "--bundle", "--format=esm", "--outfile=dist/esm.js", "--log-level=warning"], { cwd: dir });
    copyFileSync(join(dir, "esm.html"), join(dir, "dist/index.html"));
    dirs["/esbuild-default/"] = join(dir, "dist");
    const { result, wasm } = await runPage(`${site.url}/esbuild-default/`);
    assert.equal(wasm.length, 1, "the page asked for the wasm");
    assert.equal(wasm[0].status, 404, "which esbuild did not copy");
    assert.match(result.error, /^ERR_WASM_LOAD .*silent-refresh\/inline/);
  });

  // next build takes about 20 s here; ten minutes on a loaded machine before it counts as a hang.
  test("Next.js (app router): next build; server rendering imports the package; the client page works", { timeout: 600_000 }, async () => {
    const dir = await projectDir("next");
    const env = { NEXT_TELEMETRY_DISABLED: "1" };
    await run(bin("next"), ["build"], { cwd: dir, env, timeout: 600_000 });
    const base = `http://127.0.0.1:${nextPort}`;
    const server = await spawnServer(bin("next"), ["start", "-H", "127.0.0.1", "-p", String(nextPort)], { cwd: dir, env, readyUrl: `${base}/ssr` });
    try {
      const ssr = await fetch(`${base}/ssr`);
      assert.equal(ssr.status, 200);
      assert.match(await ssr.text(), /<p id="ssr">function<\/p>/, "the server component saw the AuthClient class");
      const home = await fetch(`${base}/`);
      assert.equal(home.status, 200);
      assert.match(await home.text(), /client page/, "the client page was rendered on the server");
      const { result, wasm, errors } = await runPage(`${base}/`);
      assert.deepEqual(result, SIGNED_IN);
      assert.deepEqual(wasm, [{ status: 200, type: "application/wasm" }]);
      assert.deepEqual(errors, []);
      // silent-refresh/react: rendered on the server with no client ("loading"); in the browser
      // the provider's client finds no session hint on its own origin and sends nothing.
      const react = await fetch(`${base}/react`);
      assert.equal(react.status, 200);
      assert.match(await react.text(), /<p id="react">loading<\/p>/, "the React binding rendered on the server");
      const context = await browser.newContext();
      try {
        const page = await context.newPage();
        const refreshes = [];
        page.on("request", (r) => r.url().includes("/auth/refresh") && refreshes.push(r.url()));
        await page.goto(`${base}/react`);
        await page.waitForSelector('#react:text("signedOut")');
        assert.deepEqual(refreshes, [], "no refresh that could only be refused");
      } finally {
        await context.close();
      }
      assert.doesNotMatch(server.output(), /\b(Error|TypeError|ReferenceError)\b/, "next start logged no error");
    } finally {
      await server.stop();
    }
  });
});
