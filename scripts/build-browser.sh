#!/usr/bin/env bash
# Builds the npm package into pkg/: cargo (release, browser feature only), wasm-bindgen (web target),
# wasm-opt -Oz from the npm binaryen package, the JS (wasm-bindgen's glue and our plumbing in
# src/browser/glue.js) bundled into one minified module with esbuild, then enforces the size
# budget on everything the package ships that a browser loads: the wasm plus every JS file.
set -euo pipefail
cd "$(dirname "$0")/.."
# The budget keeps the package below the smallest JS client `make bench` measures (oidc-client-ts,
# 17,510 B gzip tree-shaken).
budget=${SIZE_BUDGET_GZIP:-17400}
echo "[build] browser package (cargo + wasm-bindgen, release)"
rm -rf pkg/snippets
# Own target dir: the browser build's features and opt-level differ from the Worker's.
# Feature `pkg`: the package's own panic handler (see Cargo.toml).
# opt-level "s" with an LLVM inlining threshold of 109: the smallest wasm gzip measured with the
# runtime generic over its host (11,789 B against 11,844 B for "z" at 50, 11,837 for "z" at 100,
# 12,176 for "z" at 25, 12,648 for "s" at 200); re-measure after larger changes. Re-measured with
# auth.fetch's path without wasm (main before it: 11,548 B at 100, 11,430 at 109): 11,577 B at 80,
# 11,559 at 95, 11,587 at 100, 11,557 at 105, 11,489 at 106-107, 11,470 at 108-110, 11,638 at
# 111-115, 11,743 at 120 (a cliff above 110: the middle of the plateau).
# The two steps wasm-pack would run (it added nothing else we keep: scripts/package-npm.mjs writes
# pkg/package.json and the README), without a third cargo tool to install.
CARGO_TARGET_DIR=target/browser CARGO_PROFILE_RELEASE_OPT_LEVEL=s \
  RUSTFLAGS="${RUSTFLAGS:-} -Cllvm-args=-inline-threshold=109" \
  cargo build --quiet --lib --release --target wasm32-unknown-unknown --no-default-features --features browser,pkg
mkdir -p pkg
scripts/wasm-bindgen.sh target/browser/wasm32-unknown-unknown/release/silent_refresh.wasm \
  --out-dir pkg --out-name silent_refresh --target web --typescript
# --low-memory-unused: the stack comes first in memory and grows down from 1 MiB, so the low
# 1 KiB is never touched (it lets wasm-opt fold address offsets).
# Then twice binaryen's flatten and re-reloop, each followed by -Oz: control flow rebuilt from
# scratch, which -Oz then folds further (11,675 B gzip against 11,789 for -Oz alone, measured on
# the merged issues 19 and 23; a third round measured no better).
rounds="--flatten --rereloop -Oz --converge"
wasm-opt -Oz --converge $rounds $rounds --low-memory-unused $WASM_OPT_FEATURES --strip-debug --strip-producers --strip-target-features \
  pkg/silent_refresh_bg.wasm -o pkg/silent_refresh_bg.wasm
# Short import names in the wasm and the glue alike (wasm-bindgen's carry hashes that do not compress).
node scripts/shorten-imports.mjs pkg/silent_refresh_bg.wasm pkg/silent_refresh.js
# wasm-bindgen's long diagnostic messages, shorter (the same information).
node scripts/shorten-messages.mjs pkg/silent_refresh.js
# One module instead of the glue plus pkg/snippets/**: the snippet is inlined, comments and
# whitespace go (the readable sources are src/browser/glue.js and the .d.ts). Its entry connects
# the public class `AuthClient` of client.js to the wasm export `client` and exports the class with
# wasm-bindgen's init functions.
glue=$(cd pkg && find snippets -name glue.js)
# glue.js imports the modules beside it (wasm-bindgen copies only the snippet itself): the
# options, the shared names, the request rules and the values; the public class (client.js) is
# built on glue.js's `Host`; it loads the sign-in module
# (src/browser/oidc.js) and DPoP (src/browser/dpop.js) on first use as ./silent_refresh_oidc.js
# and ./silent_refresh_dpop.js.
for m in client options names requests values; do cp "src/browser/$m.js" "pkg/$(dirname "$glue")/$m.js"; done
# `init` is wasm-bindgen's, wrapped by `loader` (a failure to load the wasm names the fix).
printf '%s\n' "import load, { client } from \"./silent_refresh.js\";" \
  "import { connect, loader } from \"./$(dirname "$glue")/client.js\";" "connect(client);" \
  "export default loader(load);" \
  "export { initSync } from \"./silent_refresh.js\";" \
  "export { AuthClient } from \"./$(dirname "$glue")/client.js\";" \
  "export { AuthError } from \"./$glue\";" >pkg/entry.js
# Properties only glue.js, oidc.js and wasm-bindgen's calls of glue.js use are renamed too (not the
# options' names, nor any a browser API shares: `timeout`, `request`, `close`, `json`, `then`, ...).
# Two builds, one renaming (esbuild's mangle cache): the package, with the sign-in module left
# out as an import, then that module as a file of its own, silent_refresh_oidc.js, with its own
# budget (code splitting would share esbuild's helpers through a third file); DPoP the same way,
# silent_refresh_dpop.js.
mangle='^[a-z][A-Za-z]*_$'
MANGLE="$mangle" node --input-type=module -e '
  import { build } from "esbuild";
  import { readFileSync, writeFileSync } from "node:fs";
  const common = { bundle: true, format: "esm", minify: true, mangleProps: new RegExp(process.env.MANGLE), logLevel: "warning" };
  const main = await build({ ...common, entryPoints: ["pkg/entry.js"], external: ["./silent_refresh_oidc.js", "./silent_refresh_dpop.js"],
    banner: { js: "/* @ts-self-types=\"./silent_refresh.d.ts\" */" }, outfile: "pkg/silent_refresh.min.js", mangleCache: {} });
  await build({ ...common, entryPoints: ["src/browser/oidc.js"], outfile: "pkg/silent_refresh_oidc.js", mangleCache: main.mangleCache });
  await build({ ...common, entryPoints: ["src/browser/dpop.js"], outfile: "pkg/silent_refresh_dpop.js", mangleCache: main.mangleCache });
  for (const m of ["oidc", "dpop"])
    if (!readFileSync("pkg/silent_refresh.min.js", "utf8").includes(`import("./silent_refresh_${m}.js")`)) throw new Error("no import of the " + m + " module");'
rm pkg/entry.js
mv pkg/silent_refresh.min.js pkg/silent_refresh.js
rm -rf pkg/snippets pkg/.gitignore
wasm=$(wc -c <pkg/silent_refresh_bg.wasm)
wasm_gz=$(gzip -9c pkg/silent_refresh_bg.wasm | wc -c)
# The sign-in chunk is loaded only by apps that sign in through a redirect, the DPoP chunk only by
# apps with DPoP on: each has a budget of its own (and so has the React entry, react.js, which
# scripts/package-npm.mjs builds).
chunk=silent_refresh_oidc.js
chunk_budget=${CHUNK_BUDGET_GZIP:-3072}
chunk_gz=$(gzip -9c "pkg/$chunk" | wc -c)
dpop=silent_refresh_dpop.js
dpop_budget=${DPOP_BUDGET_GZIP:-1136}
dpop_gz=$(gzip -9c "pkg/$dpop" | wc -c)
js_gz=0
js_list=""
while IFS= read -r f; do
  n=$(gzip -9c "$f" | wc -c)
  js_gz=$((js_gz + n))
  js_list="$js_list ${f#pkg/} ${n} B;"
done < <(find pkg -name '*.js' ! -name "$chunk" ! -name "$dpop" ! -name react.js | sort)
total=$((wasm_gz + js_gz))
echo "[build] pkg: wasm ${wasm} B raw, ${wasm_gz} B gzip; JS${js_list} JS total ${js_gz} B gzip; total ${total} B gzip (budget ${budget})"
echo "[build] sign-in chunk $chunk: ${chunk_gz} B gzip (budget ${chunk_budget})"
echo "[build] DPoP chunk $dpop: ${dpop_gz} B gzip (budget ${dpop_budget})"
if [ "$chunk_gz" -gt "$chunk_budget" ]; then
  echo "[build] the sign-in chunk is over its ${chunk_budget} B gzip budget" >&2
  exit 1
fi
if [ "$dpop_gz" -gt "$dpop_budget" ]; then
  echo "[build] the DPoP chunk is over its ${dpop_budget} B gzip budget" >&2
  exit 1
fi
if [ "$total" -gt "$budget" ]; then
  echo "[build] the browser package is over its ${budget} B gzip budget" >&2
  rm -f pkg/silent_refresh_bg.wasm
  exit 1
fi
node scripts/package-npm.mjs
