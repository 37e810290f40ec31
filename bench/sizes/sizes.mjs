// Sizes, raw and gzip -9: our browser package (wasm + JS glue, as shipped in pkg/) against the
// browser auth clients installed in bench/node_modules, and our Worker bundle against the jose
// Worker's bundle.
//
// Each JS client is measured three ways:
//   - "shipped": the minified browser bundle the package itself ships (if it ships one);
//   - "client": esbuild --bundle --minify --format=esm of `export { <main client class> }` from
//     the package entry: what an app that uses the client pays (tree-shaken);
//   - "full": the same of `export * from "<package>"`: the whole library.
// Our package has no bundling step to apply (the wasm is the code): it is counted as shipped,
// and also with the JS glue minified by the same esbuild, for reference.
//
// Usage: node sizes.mjs ROOT OUT.json   (ROOT: the repository; esbuild from ROOT/node_modules)
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const [root, outPath] = process.argv.slice(2);
const bench = join(root, "bench");
const work = join(root, "target/bench/sizes");
mkdirSync(work, { recursive: true });
const esbuild = join(root, "node_modules/.bin/esbuild");

const raw = (file) => readFileSync(file).length;
const gz = (file) => execFileSync("gzip", ["-9c", file], { maxBuffer: 1 << 28 }).length;
const measure = (files) => ({
  files: files.map((f) => f.replace(root + "/", "")),
  raw: files.reduce((a, f) => a + raw(f), 0),
  gzip: files.reduce((a, f) => a + gz(f), 0),
});
const version = (pkg) => JSON.parse(readFileSync(join(bench, "node_modules", pkg, "package.json"), "utf8")).version;

// The entry comes on stdin so that packages resolve from bench/node_modules (cwd).
function bundle(name, source) {
  const out = join(work, `${name}.min.js`);
  execFileSync(esbuild, ["--bundle", "--minify", "--format=esm", "--platform=browser", "--target=es2022",
    "--log-level=error", `--outfile=${out}`], { cwd: bench, input: source, stdio: ["pipe", "inherit", "inherit"] });
  return out;
}

const clients = [
  { pkg: "@auth0/auth0-spa-js", main: "Auth0Client", shipped: "dist/auth0-spa-js.production.esm.js" },
  { pkg: "oidc-client-ts", main: "UserManager", shipped: "dist/browser/oidc-client-ts.min.js" },
  { pkg: "@azure/msal-browser", main: "PublicClientApplication", shipped: "lib/msal-browser.min.js" },
];

const result = { browser: [], worker: {} };

const pkgDir = join(root, "pkg");
const wasm = join(pkgDir, "silent_refresh_bg.wasm");
const glue = join(pkgDir, "silent_refresh.js");
if (existsSync(wasm) && existsSync(glue)) {
  const glueMin = join(work, "silent_refresh.glue.min.js");
  execFileSync(esbuild, [glue, "--minify", "--format=esm", "--log-level=error", `--outfile=${glueMin}`]);
  result.browser.push({
    name: "silent-refresh (ours)",
    version: JSON.parse(readFileSync(join(pkgDir, "package.json"), "utf8")).version,
    shipped: measure([wasm, glue]),
    client: measure([wasm, glueMin]),
    full: measure([wasm, glue]),
    wasm: measure([wasm]),
    glue: measure([glue]),
  });
} else {
  result.browser.push({ name: "silent-refresh (ours)", missing: "pkg/ not built (make build)" });
}

for (const c of clients) {
  const shippedFile = join(bench, "node_modules", c.pkg, c.shipped);
  const safe = c.pkg.replace(/[@/]/g, "_");
  result.browser.push({
    name: c.pkg,
    version: version(c.pkg),
    shipped: existsSync(shippedFile) ? measure([shippedFile]) : null,
    client: measure([bundle(`${safe}.client`, `export { ${c.main} } from "${c.pkg}";\n`)]),
    full: measure([bundle(`${safe}.full`, `export * from "${c.pkg}";\n`)]),
    mainExport: c.main,
  });
}

// Workers: the entry module and the wasm it imports (build/worker/index.js is already an
// esbuild bundle made by scripts/build-worker.sh).
const workerDir = join(root, "build/worker");
if (existsSync(join(workerDir, "index.js"))) {
  const files = [join(workerDir, "index.js"), ...readdirSync(workerDir).filter((f) => f.endsWith(".wasm")).map((f) => join(workerDir, f))];
  result.worker.ours = measure(files);
  const wasmFiles = files.filter((f) => f.endsWith(".wasm"));
  result.worker.oursWasm = measure(wasmFiles);
} else {
  result.worker.ours = { missing: "build/worker not built (make build)" };
}
const joseBundle = join(root, "target/bench/jose-worker/index.js");
if (existsSync(joseBundle)) result.worker.jose = measure([joseBundle]);

writeFileSync(outPath, JSON.stringify(result, null, 2));
for (const b of result.browser) {
  if (b.missing) console.error(`[sizes] ${b.name}: ${b.missing}`);
  else console.error(`[sizes] ${b.name.padEnd(24)} shipped ${b.shipped ? b.shipped.gzip : "-"} B gz, client ${b.client.gzip} B gz, full ${b.full.gzip} B gz`);
}
for (const [k, v] of Object.entries(result.worker)) console.error(`[sizes] worker ${k}: ${v.missing ?? `${v.raw} B raw, ${v.gzip} B gz`}`);
