// The npm package as published: what `npm publish --dry-run` would upload, that every `exports`
// target is in it, that the types compile under `tsc --strict` from a project that installed the
// tarball, and that both entries load in plain Node (server rendering imports them).
import { test } from "../support/test.mjs";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { bin, projectDir, root, run } from "./support.mjs";

const SHIPPED = [
  "LICENSE-APACHE", "LICENSE-MIT", "README.md", "package.json",
  "silent_refresh.d.ts", "silent_refresh.js", "silent_refresh_bg.wasm",
  "silent_refresh_inline.d.ts", "silent_refresh_inline.mjs", "silent_refresh_oidc.js", "silent_refresh_dpop.js",
  "react.d.ts", "react.js",
];

test("npm publish --dry-run ships exactly the entries, their types, the wasm, README and licences", async () => {
  const out = await run("npm", ["publish", "--dry-run", "--json"], { cwd: join(root, "pkg") });
  const info = JSON.parse(out.slice(out.indexOf("{")));
  const files = info["silent-refresh"].files.map((f) => f.path).sort();
  assert.deepEqual(files, [...SHIPPED].sort());
  const readme = readFileSync(join(root, "pkg/README.md"), "utf8");
  assert.doesNotMatch(readme, /make dev|wrangler/, "the package's README is not the repository's");
});

test("package.json: every exports target is shipped; metadata a registry page needs", () => {
  const manifest = JSON.parse(readFileSync(join(root, "pkg/package.json"), "utf8"));
  const targets = [];
  const walk = (v) => (typeof v === "string" ? targets.push(v) : Object.values(v).forEach(walk));
  walk(manifest.exports);
  for (const t of [...targets, manifest.main, manifest.module, manifest.types]) {
    assert.ok(SHIPPED.includes(t.replace(/^\.\//, "")), `${t} is shipped`);
  }
  for (const key of [".", "./inline", "./react"]) {
    assert.deepEqual(Object.keys(manifest.exports[key]).slice(0, 2), ["types", "import"], `${key}: types first, then import`);
  }
  assert.equal(manifest.exports["./silent_refresh_bg.wasm"], "./silent_refresh_bg.wasm");
  const cargoVersion = /^version = "(.+)"/m.exec(readFileSync(join(root, "Cargo.toml"), "utf8"))[1];
  assert.equal(manifest.version, cargoVersion);
  assert.equal(manifest.license, "MIT OR Apache-2.0");
  assert.equal(manifest.sideEffects, false);
  for (const key of ["repository", "homepage", "bugs", "description"]) assert.ok(manifest[key], key);
  assert.doesNotMatch(manifest.description, /Worker/, "the package contains no Worker");
});

for (const [config, what] of [
  ["tsconfig.json", "every option, method, event payload and error field of the d.ts (lib DOM)"],
  ["tsconfig.full.json", "the options for other servers, listeners typed per event, the AuthError class"],
  ["tsconfig.worker.json", "in a Web Worker (lib WebWorker, no DOM, no ESNext.Disposable)"],
]) {
  test(`tsc --strict: ${what}`, async () => {
    const dir = await projectDir(`types-${config}`, "types");
    // tsc prints the errors; an unused @ts-expect-error is an error too.
    await run(bin("tsc"), ["-p", config], { cwd: dir });
  });
}

test("plain Node imports both entries without a browser; the inline entry instantiates its wasm; errors are AuthErrors, ERR_NOT_INITIALIZED before init(), ERR_WASM_LOAD naming the inline entry for init() of the default one", async () => {
  const dir = await projectDir("node", "types");
  const script = `
    const main = await import("silent-refresh");
    const inline = await import("silent-refresh/inline");
    const thrown = (C, f) => { try { f(); } catch (e) { return [e instanceof C, e.name, e.code]; } };
    const early = thrown(main.AuthError, () => new main.AuthClient({ baseUrl: "https://api.example" }));
    // init() of the default entry in Node: its fetch of the wasm fails, and the error says what to do.
    const load = await main.default().then(() => "loaded", (e) => [e instanceof main.AuthError, e.code, e.message.includes("silent-refresh/inline"), !!e.cause]);
    await inline.default();
    const invalid = thrown(inline.AuthError, () => new inline.AuthClient({ baseUrl: "https://api.example", mode: "nope" }));
    console.log(JSON.stringify([typeof main.AuthClient, typeof main.default, typeof inline.AuthClient, early, invalid, load]));`;
  const out = await run(process.execPath, ["--input-type=module", "-e", script], { cwd: dir });
  assert.deepEqual(JSON.parse(out.trim().split("\n").at(-1)), ["function", "function", "function",
    [true, "AuthError", "ERR_NOT_INITIALIZED"], [true, "AuthError", "ERR_INVALID_OPTIONS"], [true, "ERR_WASM_LOAD", true, true]]);
});

test("the README's event table and the d.ts agree on every event, its payload's members and its sources", () => {
  // README: | `type` | `{ a: X, b? }` | when |
  const readme = readFileSync(join(root, "pkg/README.md"), "utf8");
  const table = readme.slice(readme.indexOf("### Events"), readme.indexOf("### Errors"));
  const members = (list) => Object.fromEntries(list.map((m) => {
    const [, name, optional, value = ""] = /^\s*(\w+)(\??)\s*(?::\s*(.*))?$/.exec(m);
    return [name, { optional: !!optional, literals: [...value.matchAll(/"(\w+)"/g)].map((x) => x[1]).sort() }];
  }));
  const documented = Object.fromEntries([...table.matchAll(/^\| `(\w+)` \| `\{ (.*?) \}` \|/gm)]
    .map(([, type, payload]) => [type, members(payload.replace(/\\\|/g, "|").split(","))]));
  // d.ts: AuthEventMap names each event's interface; an interface lists `name?: type;` members.
  const dts = readFileSync(join(root, "pkg/silent_refresh.d.ts"), "utf8");
  const map = /export interface AuthEventMap \{([^}]*)\}/.exec(dts)[1];
  const typed = Object.fromEntries([...map.matchAll(/(\w+): (\w+);/g)].map(([, type, name]) => {
    const body = new RegExp(`export interface ${name} \\{([^}]*)\\}`).exec(dts)[1];
    const list = body.split(";").map((m) => m.replace(/\/\*\*[^]*?\*\//g, "").trim()).filter(Boolean);
    const all = members(list);
    assert.deepEqual(all.type, { optional: false, literals: [type] }, `${name}.type is "${type}"`);
    delete all.type;
    // A member whose type names interfaces (`event`, `error`) compares by name only.
    for (const m of Object.values(all)) if (!m.literals.length) m.literals = [];
    return [type, all];
  }));
  assert.deepEqual(Object.keys(documented).sort(), Object.keys(typed).sort(), "the same events");
  assert.deepEqual(documented, typed);
});
