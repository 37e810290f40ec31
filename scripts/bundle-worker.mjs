// The JS half of the Worker build (scripts/build-worker.sh), what worker-build did after
// wasm-bindgen:
//   node scripts/bundle-worker.mjs STAGING OUT_JS WORKER_CRATE_VERSION
// STAGING holds wasm-bindgen's `--target module` output (index.js, index_bg.wasm, snippets/).
//   1. checks that src/worker/entry.js wires what the wasm exports: every event handler (an
//      exported function) and every Durable Object class (an exported class with a `fetch`
//      method), and that each class wrangler.toml binds is one of them;
//   2. turns wasm-bindgen's `import source` of the wasm into a plain import (what wrangler's
//      bundler takes as a WebAssembly.Module);
//   3. bundles entry.js, wasm-bindgen's glue and its snippets into one minified module, OUT_JS,
//      that imports ./index_bg.wasm and cloudflare:workers;
//   4. adds `sdk: workers-rs VERSION` to the wasm's producers section (Cloudflare's record of
//      which SDK built a Worker), as worker-build does.
import { copyFileSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { build } from "esbuild";

const [staging, outJs, sdkVersion] = process.argv.slice(2);
if (!staging || !outJs || !sdkVersion) {
  console.error("usage: node scripts/bundle-worker.mjs STAGING OUT_JS WORKER_CRATE_VERSION");
  process.exit(2);
}
const fail = (msg) => {
  console.error(`[build] ${msg}`);
  process.exit(1);
};

// 1. The entry against the exports.
const glue = readFileSync(join(staging, "index.js"), "utf8");
const entry = readFileSync("src/worker/entry.js", "utf8");
const system = new Set(["__wbg_reset_state", "__worker_init_state"]);
const handlers = [...glue.matchAll(/^export (?:async )?function (\w+)\s*\(/gm)].map((m) => m[1]).filter((n) => !system.has(n));
for (const n of system) if (!new RegExp(`^export function ${n}\\b`, "m").test(glue)) fail(`wasm-bindgen's output lacks ${n} (built without --experimental-reset-state-function?)`);
const classes = new Map(); // exported class -> its body
for (const m of glue.matchAll(/^export class (\w+) \{$/gm)) {
  const end = glue.indexOf("\n}\n", m.index);
  classes.set(m[1], glue.slice(m.index, end));
}
const objects = [...classes].filter(([, body]) => /^ {4}fetch\(/m.test(body)).map(([n]) => n);
const wired = [...entry.matchAll(/^Entrypoint\.prototype\.(\w+) = /gm)].map((m) => m[1]);
const reexported = [...entry.matchAll(/^export const (\w+) = new Proxy\(exports\.(\w+), classProxyHooks\);$/gm)]
  .map((m) => (m[1] === m[2] ? m[1] : fail(`src/worker/entry.js exports ${m[2]} as ${m[1]}: the names must match`)));
const bound = [...readFileSync("wrangler.toml", "utf8").matchAll(/^class_name = "(\w+)"$/gm)].map((m) => m[1]);
const missing = (want, have) => [...new Set(want)].filter((n) => !have.includes(n));
const problems = [
  ...missing(handlers, wired).map((n) => `the wasm exports the handler ${n}, which src/worker/entry.js does not wire`),
  ...missing(wired, handlers).map((n) => `src/worker/entry.js wires the handler ${n}, which the wasm does not export`),
  ...missing(objects, reexported).map((n) => `the wasm exports the Durable Object class ${n}, which src/worker/entry.js does not export`),
  ...missing(reexported, objects).map((n) => `src/worker/entry.js exports the class ${n}, which the wasm does not export as a Durable Object`),
  ...missing(bound, reexported).map((n) => `wrangler.toml binds the class ${n}, which src/worker/entry.js does not export`),
];
if (problems.length) fail(problems.join("\n[build] "));

// 2. The wasm as a module import.
if (!glue.includes('import source wasmModule from "./index_bg.wasm";')) fail("wasm-bindgen's output does not import its wasm as expected");
writeFileSync(join(staging, "index.js"), glue.replace("import source ", "import "));

// 3. One module.
copyFileSync("src/worker/entry.js", join(staging, "entry.js"));
await build({
  entryPoints: [join(staging, "entry.js")],
  bundle: true,
  format: "esm",
  minify: true,
  external: ["./index_bg.wasm", "cloudflare:*"],
  outfile: outJs,
  logLevel: "warning",
});

// 4. The producers section (https://github.com/WebAssembly/tool-conventions/blob/main/ProducersSection.md).
const wasmPath = join(staging, "index_bg.wasm");
const wasm = readFileSync(wasmPath);
const leb = (n) => {
  const out = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return Buffer.from(out);
};
const str = (s) => Buffer.concat([leb(Buffer.byteLength(s)), Buffer.from(s)]);
let pos = 8;
const u32 = () => {
  let r = 0, shift = 0, b;
  do {
    b = wasm[pos++];
    r |= (b & 0x7f) << shift;
    shift += 7;
  } while (b & 0x80);
  return r >>> 0;
};
const readStr = () => {
  const n = u32();
  pos += n;
  return wasm.toString("utf8", pos - n, pos);
};
let section = null; // [start, end] of the whole section, and its fields
while (pos < wasm.length) {
  const start = pos, id = wasm[pos++], size = u32(), end = pos + size;
  if (id === 0 && readStr() === "producers") {
    const fields = [];
    for (let n = u32(); n > 0; n--) {
      const name = readStr(), values = [];
      for (let v = u32(); v > 0; v--) values.push([readStr(), readStr()]);
      fields.push([name, values]);
    }
    section = { start, end, fields };
  }
  pos = end;
}
const fields = section ? section.fields : [];
if (!fields.some(([name, values]) => name === "sdk" && values.some(([v]) => v === "workers-rs"))) {
  const sdk = fields.find(([name]) => name === "sdk");
  if (sdk) sdk[1].push(["workers-rs", sdkVersion]);
  else fields.push(["sdk", [["workers-rs", sdkVersion]]]);
}
const body = Buffer.concat([
  str("producers"),
  leb(fields.length),
  ...fields.flatMap(([name, values]) => [str(name), leb(values.length), ...values.flatMap(([n, v]) => [str(n), str(v)])]),
]);
const encoded = Buffer.concat([Buffer.from([0]), leb(body.length), body]);
writeFileSync(
  wasmPath,
  section ? Buffer.concat([wasm.subarray(0, section.start), encoded, wasm.subarray(section.end)]) : Buffer.concat([wasm, encoded]),
);
