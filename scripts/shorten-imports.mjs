// Shortens the import names of the package's wasm and its wasm-bindgen glue alike:
// `node scripts/shorten-imports.mjs pkg/silent_refresh_bg.wasm pkg/silent_refresh.js`.
// wasm-bindgen names each import `__wbg_<name>_<16 hex digits>` and each module by its path
// ("./silent_refresh_bg.js", "./snippets/<crate>-<hash>/src/browser/glue.js"); the hashes do not
// compress, and every name is in both files. The modules become `a`, `b`, ... and the imports of
// wasm-bindgen's own module `a0`, `a1`, ... (the glue's own exports keep their names: the glue
// module is passed as it is). Every renamed name must occur in the JS as a key: else this fails.
import fs from "node:fs";

const [wasmPath, jsPath] = process.argv.slice(2);
const wasm = fs.readFileSync(wasmPath);
let js = fs.readFileSync(jsPath, "utf8");

let p = 8;
const leb = () => {
  let r = 0, s = 0, x;
  do {
    x = wasm[p++];
    r += (x & 127) * 2 ** s;
    s += 7;
  } while (x & 128);
  return r;
};
const encodeLeb = (n) => {
  const out = [];
  do {
    let x = n % 128;
    n = Math.floor(n / 128);
    if (n) x |= 128;
    out.push(x);
  } while (n);
  return Buffer.from(out);
};
const name = () => {
  const n = leb();
  const s = wasm.subarray(p, p + n).toString();
  p += n;
  return s;
};
const encodeName = (s) => Buffer.concat([encodeLeb(Buffer.byteLength(s)), Buffer.from(s)]);
const escape = (s) => s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");

const out = [wasm.subarray(0, 8)];
const modules = new Map();
let renamed = 0;
while (p < wasm.length) {
  const start = p;
  const id = wasm[p++];
  const len = leb();
  const end = p + len;
  if (id == 7) {
    // Exports: short names too (`wasm.<name>` in the JS); one the JS never reads goes.
    const count = leb();
    const body = [];
    let kept = 0;
    for (let i = 0; i < count; i++) {
      const field = name();
      const descStart = p;
      p++;
      leb();
      const use = new RegExp(`\\bwasm\\.${escape(field)}\\b`, "g");
      if (!use.test(js)) continue;
      const short = String.fromCharCode(97 + kept++);
      js = js.replace(use, "wasm." + short);
      body.push(encodeName(short), wasm.subarray(descStart, p));
    }
    if (p != end) throw new Error("export section: unexpected trailing bytes");
    const section = Buffer.concat([encodeLeb(kept), ...body]);
    out.push(Buffer.from([7]), encodeLeb(section.length), section);
    continue;
  }
  if (id != 2) {
    out.push(wasm.subarray(start, end));
    p = end;
    continue;
  }
  const count = leb();
  const body = [encodeLeb(count)];
  for (let i = 0; i < count; i++) {
    const module = name();
    const field = name();
    const descStart = p;
    const kind = wasm[p++];
    if (kind != 0) throw new Error(`import ${module} ${field}: only functions are expected`);
    leb();
    if (!modules.has(module)) modules.set(module, { short: String.fromCharCode(97 + modules.size), fields: new Map() });
    const m = modules.get(module);
    let short = field;
    // wasm-bindgen's generated imports; a snippet's own exports keep their names.
    if (!module.startsWith("./snippets/")) {
      if (!m.fields.has(field)) m.fields.set(field, m.short + m.fields.size);
      short = m.fields.get(field);
    } else (m.own ??= new Set()).add(field);
    body.push(encodeName(m.short), encodeName(short), wasm.subarray(descStart, p));
  }
  if (p != end) throw new Error("import section: unexpected trailing bytes");
  const section = Buffer.concat(body);
  out.push(Buffer.from([2]), encodeLeb(section.length), section);
}

// The JS: the module keys of the imports object, then the import keys.
for (const [module, m] of modules) {
  const key = new RegExp(`"${escape(module)}"(\\s*):`, "g");
  if (!key.test(js)) throw new Error(`${jsPath}: no key "${module}"`);
  js = js.replace(key, `${m.short}$1:`);
  for (const [field, short] of m.fields) {
    const re = new RegExp(`(^|[^\\w$])${escape(field)}(\\s*):`, "g");
    const before = js;
    js = js.replace(re, `$1${short}$2:`);
    if (js == before) throw new Error(`${jsPath}: no key ${field}`);
    renamed++;
  }
}
// A snippet's imports: wasm-bindgen passes its whole module (`import * as importN`, once per
// import), which keeps every export of glue.js and esbuild's namespace helpers in the bundle; an
// object of just the imported functions instead.
for (const [module, m] of modules) {
  if (!m.own) continue;
  const star = new RegExp(`^import \\* as (import\\d+) from ["']${escape(module)}["'];?\\n`, "gm");
  const names = [...js.matchAll(star)].map((x) => x[1]);
  if (!names.length) throw new Error(`${jsPath}: no import * of ${module}`);
  const own = [...m.own];
  js = js.replace(star, "");
  js = `import { ${own.map((f) => `${f} as __sr_${f}`).join(", ")} } from "${module}";\n` + js;
  const value = new RegExp(`\\b${m.short}(\\s*):\\s*(${names.join("|")}),?`, "g");
  let first = true;
  js = js.replace(value, (_, sp) => first ? (first = false, `${m.short}${sp}: { ${own.map((f) => `${f}: __sr_${f}`).join(", ")} },`) : "");
  if (first) throw new Error(`${jsPath}: no module key ${m.short}`);
}
// The renamed imports as arrow functions (none uses `this` or `arguments`), which esbuild then
// shortens to `(a, b) => expression`.
const arrows = new RegExp(`(\\b[a-z]\\d+)(\\s*):\\s*function\\(([^()]*)\\)\\s*\\{`, "g");
js = js.replace(arrows, "$1$2: ($3) => {");
fs.writeFileSync(wasmPath, Buffer.concat(out));
fs.writeFileSync(jsPath, js);
console.log(`[build] imports: ${modules.size} modules and ${renamed} names shortened`);
