// What a wasm file's code is made of: the size of each function body, attributed to its crate
// by its (mangled) name in the name section, summed per crate, and the largest functions.
// For the Worker, run it on cargo's output before wasm-bindgen and wasm-opt, which still has
// its names (scripts/build-worker.sh strips them from build/worker/index_bg.wasm):
//
//   node bench/sizes/wasm-crates.mjs target/worker/wasm32-unknown-unknown/release/silent_refresh.wasm [TOP]
//
// Sizes are of the unoptimised, unstripped module (wasm-opt -O3 then shrinks and inlines), so
// compare them with each other, not with the shipped file.
import { readFileSync } from "node:fs";

const [path, topArg] = process.argv.slice(2);
const top = Number(topArg ?? 25);
const buf = readFileSync(path);

let pos = 8;
const u32 = () => {
  let r = 0, shift = 0, b;
  do {
    b = buf[pos++];
    r |= (b & 0x7f) << shift;
    shift += 7;
  } while (b & 0x80);
  return r >>> 0;
};
const str = () => {
  const n = u32();
  const s = buf.toString("utf8", pos, pos + n);
  pos += n;
  return s;
};

let imported = 0;
const bodies = [];
const names = new Map();
const sections = {};
while (pos < buf.length) {
  const id = buf[pos++];
  const size = u32();
  const end = pos + size;
  sections[id] = (sections[id] ?? 0) + size;
  if (id === 2) {
    // imports: count function imports (they take the first function indices)
    for (let n = u32(); n > 0; n--) {
      str();
      str();
      const kind = buf[pos++];
      if (kind === 0) { u32(); imported++; }
      else if (kind === 1) { pos++; const f = u32(); u32(); if (f & 1) u32(); }
      else if (kind === 2) { const f = u32(); u32(); if (f & 1) u32(); }
      else if (kind === 3) { pos += 2; }
      else if (kind === 4) { pos++; u32(); }
    }
  } else if (id === 10) {
    for (let n = u32(), i = 0; i < n; i++) {
      const len = u32();
      bodies.push(len);
      pos += len;
    }
  } else if (id === 0) {
    const name = str();
    if (name === "name") {
      while (pos < end) {
        const sub = buf[pos++];
        const subSize = u32();
        const subEnd = pos + subSize;
        if (sub === 1) {
          for (let n = u32(); n > 0; n--) {
            const idx = u32();
            names.set(idx, str());
          }
        }
        pos = subEnd;
      }
    }
  }
  pos = end;
}

/** The crate of a Rust symbol: the first path segment of a legacy (`_ZN`) or v0 (`_R`) mangling. */
function crateOf(name) {
  let m = /^_ZN(\d+)(.*)$/.exec(name);
  if (m) {
    let seg = m[2].slice(0, Number(m[1]));
    if (seg.startsWith("_$LT$")) {
      // <T as Trait>::f: the impl's type, e.g. _$LT$alloc..vec..Vec$LT$T$GT$...
      const inner = /^_\$LT\$(?:\$RF\$|mut\$u20\$)*([a-z0-9_]+)\.\./.exec(seg);
      seg = inner ? inner[1] : "<impl>";
    }
    return seg;
  }
  m = /^_RN.*?C[a-z0-9_]*?(\d+)([a-z0-9_]+)/.exec(name);
  if (m) return m[2].slice(0, Number(m[1]));
  if (/^__wbg|^__wbindgen|wasm_bindgen/.test(name)) return "wasm_bindgen";
  if (/^(memcpy|memset|memmove|memcmp|__)/.test(name)) return "compiler_builtins";
  return "(other)";
}

const perCrate = new Map();
const fns = bodies.map((size, i) => {
  const name = names.get(imported + i) ?? `func${imported + i}`;
  const crate = crateOf(name);
  perCrate.set(crate, (perCrate.get(crate) ?? 0) + size);
  return { name, crate, size };
});
const code = bodies.reduce((a, b) => a + b, 0);
console.log(`${path}: ${buf.length} B; code ${code} B in ${bodies.length} functions (${imported} imported); data ${sections[11] ?? 0} B`);
console.log("\n| crate | code B | share |\n|---|---:|---:|");
for (const [crate, size] of [...perCrate].sort((a, b) => b[1] - a[1]).slice(0, top)) {
  console.log(`| ${crate} | ${size} | ${((100 * size) / code).toFixed(1)} % |`);
}
console.log(`\n| largest functions | crate | B |\n|---|---|---:|`);
for (const f of fns.sort((a, b) => b.size - a.size).slice(0, top)) {
  console.log(`| \`${f.name.slice(0, 110)}\` | ${f.crate} | ${f.size} |`);
}
