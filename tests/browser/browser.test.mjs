// The browser tier: the scenarios of tests/browser/scenarios.js in headless Chromium against the
// built package (pkg/: wasm-opt'ed, mangled, with its own panic handler, as users get it), each
// in a fresh browser context, on a page served from loopback that imports the package.
import { after, before, test } from "../support/test.mjs";
import { createServer } from "node:http";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import { launchBrowser } from "../support/browser.mjs";
import { names } from "./scenarios.js";

const here = dirname(fileURLToPath(import.meta.url));
const pkg = join(here, "..", "..", "pkg");
if (!existsSync(join(pkg, "silent_refresh.js")) || !existsSync(join(pkg, "silent_refresh_bg.wasm"))) {
  throw new Error("pkg/ is not built: run `make pkg/silent_refresh_bg.wasm` (or `make build`) first");
}

const PAGE = `<!doctype html><meta charset="utf-8"><title>silent-refresh browser tests</title>`;
const types = { ".js": "text/javascript", ".wasm": "application/wasm" };
let server, browser, base;

before(async () => {
  server = createServer((req, res) => {
    const path = new URL(req.url, "http://x").pathname;
    const file = path === "/scenarios.js" ? join(here, "scenarios.js")
      : path.startsWith("/pkg/") ? normalize(join(pkg, path.slice(5))) : null;
    if (path === "/app/") {
      res.writeHead(200, { "content-type": "text/html", "cache-control": "no-store" });
      return res.end(PAGE);
    }
    if (file && file.startsWith(pkg) || file === join(here, "scenarios.js")) {
      if (existsSync(file)) {
        res.writeHead(200, { "content-type": types[file.slice(file.lastIndexOf("."))] ?? "application/octet-stream", "cache-control": "no-store" });
        return res.end(readFileSync(file));
      }
    }
    res.writeHead(404).end();
  });
  await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
  base = `http://127.0.0.1:${server.address().port}`;
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await new Promise((ok) => (server ? server.close(ok) : ok()));
});

for (const name of names) {
  test(name, async () => {
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      const errors = [];
      page.on("pageerror", (e) => errors.push(e));
      // Under /app/, so that a scenario can set two cookies of one name (Path=/ and Path=/app).
      await page.goto(base + "/app/");
      await page.evaluate(async (name) => {
        const { default: init, AuthClient } = await import("/pkg/silent_refresh.js");
        await init();
        const { runScenario } = await import("/scenarios.js");
        await runScenario(name, AuthClient);
      }, name);
      if (errors.length) throw errors[0];
    } finally {
      await context.close();
    }
  });
}
