// The last step of scripts/build-browser.sh: turns the built pkg/ into the npm package.
//
//   - pkg/package.json from npm/package.json, with the version of Cargo.toml (the one definition
//     of the version);
//   - pkg/README.md from npm/README.md (the package's own README, not the repository's);
//   - LICENSE-MIT and LICENSE-APACHE from the repository root;
//   - the inline entry `silent-refresh/inline`: the default entry bundled with the wasm embedded
//     (base64), so that a bundler that knows nothing about wasm (plain `esbuild --bundle`, ESM or
//     IIFE) needs no loader and no asset copying. `init()` there takes no argument; given one, it
//     behaves as the default entry's. The file ends in .mjs: it is an alternative to the default
//     entry, not a part of it, so the default entry's budget (build-browser.sh counts pkg/*.js)
//     leaves it out; its size is printed here.
//   - the React entry `silent-refresh/react` (src/browser/react.js and its d.ts), within its budget.
//
// Usage: node scripts/package-npm.mjs (after the wasm and silent_refresh.js are built).
import { build } from "esbuild";
import { copyFileSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const pkg = join(root, "pkg");
const at = (...p) => join(root, ...p);

const cargo = readFileSync(at("Cargo.toml"), "utf8");
const version = /^\[package\][^[]*?^version\s*=\s*"([^"]+)"/m.exec(cargo)?.[1];
if (!version) throw new Error("no [package] version in Cargo.toml");

const manifest = JSON.parse(readFileSync(at("npm/package.json"), "utf8"));
manifest.version = version;
writeFileSync(join(pkg, "package.json"), JSON.stringify(manifest, null, 2) + "\n");
copyFileSync(at("npm/README.md"), join(pkg, "README.md"));
for (const f of ["LICENSE-MIT", "LICENSE-APACHE"]) copyFileSync(at(f), join(pkg, f));
// wasm-bindgen's typing of the raw wasm exports: of no use to an app, not shipped.
rmSync(join(pkg, "silent_refresh_bg.wasm.d.ts"), { force: true });

// The inline entry. `init` and `initSync` default to the embedded bytes; everything else is the
// default entry's, re-exported.
const wasm = readFileSync(join(pkg, "silent_refresh_bg.wasm"));
const entry = join(pkg, "inline-entry.js");
writeFileSync(entry, `import init, { initSync as initSyncWith } from "./silent_refresh.js";
export * from "./silent_refresh.js";
const bytes = () => Uint8Array.from(atob("${wasm.toString("base64")}"), (c) => c.charCodeAt(0));
export default function (arg) { return init(arg ?? { module_or_path: bytes() }); }
export function initSync(arg) { return initSyncWith(arg ?? { module: bytes() }); }
`);
try {
  await build({
    entryPoints: [entry],
    bundle: true,
    format: "esm",
    minify: true,
    // The default entry's fallback `new URL("silent_refresh_bg.wasm", import.meta.url)` is never
    // reached here (init always has the bytes); without `import.meta` left in the file, bundling
    // it into an IIFE or a CommonJS file raises no warning.
    define: { "import.meta.url": "undefined" },
    banner: { js: '/* @ts-self-types="./silent_refresh_inline.d.ts" */' },
    outfile: join(pkg, "silent_refresh_inline.mjs"),
    logLevel: "warning",
    // Reported for the default entry by build-browser.sh already (two imports of the same module
    // in wasm-bindgen's import object); not repeated here.
    logOverride: { "duplicate-object-key": "silent" },
  });
} finally {
  rmSync(entry, { force: true });
}
const inline = readFileSync(join(pkg, "silent_refresh_inline.mjs"));
if (inline.includes("import.meta")) throw new Error("import.meta left in the inline entry");
writeFileSync(join(pkg, "silent_refresh_inline.d.ts"), `// The same API as the default entry; \`init()\` needs no argument (the wasm is embedded).
export * from "./silent_refresh.js";
export { default } from "./silent_refresh.js";
export { initSync } from "./silent_refresh.js";
`);
const gz = (b) => gzipSync(b, { level: 9 }).length;

// The React entry `silent-refresh/react` (src/browser/react.js): minified, React and the default
// entry left as imports; a budget of its own.
const REACT_BUDGET = 1536;
await build({
  entryPoints: [at("src/browser/react.js")],
  bundle: true,
  format: "esm",
  minify: true,
  external: ["react", "./silent_refresh.js"],
  banner: { js: '/* @ts-self-types="./react.d.ts" */' },
  outfile: join(pkg, "react.js"),
  logLevel: "warning",
});
copyFileSync(at("src/browser/react.d.ts"), join(pkg, "react.d.ts"));
const react = gz(readFileSync(join(pkg, "react.js")));
console.log(`[package] React entry react.js: ${react} B gzip (budget ${REACT_BUDGET})`);
if (react > REACT_BUDGET) throw new Error(`the React entry is over its ${REACT_BUDGET} B gzip budget`);
console.log(`[package] npm package ${manifest.name}@${version} in pkg/; inline entry silent_refresh_inline.mjs: ` +
  `${inline.length} B raw, ${gz(inline)} B gzip (wasm embedded, ${wasm.length} B of it before base64)`);

