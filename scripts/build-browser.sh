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
# opt-level "s" with an LLVM inlining threshold of 100: the smallest wasm gzip measured with the
# runtime generic over its host (11,789 B against 11,844 B for "z" at 50, 11,837 for "z" at 100,
# 12,176 for "z" at 25, 12,648 for "s" at 200); re-measure after larger changes.
# The two steps wasm-pack would run (it added nothing else we keep: scripts/package-npm.mjs writes
# pkg/package.json and the README), without a third cargo tool to install.
CARGO_TARGET_DIR=target/browser CARGO_PROFILE_RELEASE_OPT_LEVEL=s \
  RUSTFLAGS="${RUSTFLAGS:-} -Cllvm-args=-inline-threshold=100" \
  cargo build --quiet --lib --release --target wasm32-unknown-unknown --no-default-features --features browser,pkg
mkdir -p pkg
"$WASM_BINDGEN_BIN" target/browser/wasm32-unknown-unknown/release/silent_refresh.wasm \
  --out-dir pkg --out-name silent_refresh --target web --typescript
# --low-memory-unused: the stack comes first in memory and grows down from 1 MiB, so the low
# 1 KiB is never touched (it lets wasm-opt fold address offsets).
wasm-opt -Oz --converge --low-memory-unused $WASM_OPT_FEATURES --strip-debug --strip-producers --strip-target-features \
  pkg/silent_refresh_bg.wasm -o pkg/silent_refresh_bg.wasm
# Short import names in the wasm and the glue alike (wasm-bindgen's carry hashes that do not compress).
node scripts/shorten-imports.mjs pkg/silent_refresh_bg.wasm pkg/silent_refresh.js
# wasm-bindgen's long diagnostic messages, shorter (the same information).
node scripts/shorten-messages.mjs pkg/silent_refresh.js
# One module instead of the glue plus pkg/snippets/**: the snippet is inlined, comments and
# whitespace go (the readable sources are src/browser/glue.js and the .d.ts). Its entry connects
# the public class `AuthClient` of glue.js to the wasm export `client` and exports the class with
# wasm-bindgen's init functions.
glue=$(cd pkg && find snippets -name glue.js)
# glue.js imports the modules beside it (wasm-bindgen copies only the snippet itself): DPoP, the
# options, the shared names and the values.
for m in dpop options names values; do cp "src/browser/$m.js" "pkg/$(dirname "$glue")/$m.js"; done
printf '%s\n' "import { client } from \"./silent_refresh.js\";" \
  "import { connect } from \"./$glue\";" "connect(client);" \
  "export { default, initSync } from \"./silent_refresh.js\";" \
  "export { AuthClient, AuthError } from \"./$glue\";" >pkg/entry.js
# Properties only glue.js and wasm-bindgen's calls of it use are renamed too (not the options'
# names, nor any a browser API shares: `timeout`, `request`, `close`, `json`, `then`, ...).
mangle='^[a-z][A-Za-z]*_$'
"$ESBUILD_BIN" pkg/entry.js --bundle --format=esm --minify --mangle-props="$mangle" --log-level=warning \
  --banner:js='/* @ts-self-types="./silent_refresh.d.ts" */' --outfile=pkg/silent_refresh.min.js
rm pkg/entry.js
mv pkg/silent_refresh.min.js pkg/silent_refresh.js
rm -rf pkg/snippets pkg/.gitignore
wasm=$(wc -c <pkg/silent_refresh_bg.wasm)
wasm_gz=$(gzip -9c pkg/silent_refresh_bg.wasm | wc -c)
js_gz=0
js_list=""
while IFS= read -r f; do
  n=$(gzip -9c "$f" | wc -c)
  js_gz=$((js_gz + n))
  js_list="$js_list ${f#pkg/} ${n} B;"
done < <(find pkg -name '*.js' | sort)
total=$((wasm_gz + js_gz))
echo "[build] pkg: wasm ${wasm} B raw, ${wasm_gz} B gzip; JS${js_list} JS total ${js_gz} B gzip; total ${total} B gzip (budget ${budget})"
if [ "$total" -gt "$budget" ]; then
  echo "[build] the browser package is over its ${budget} B gzip budget" >&2
  rm -f pkg/silent_refresh_bg.wasm
  exit 1
fi
node scripts/package-npm.mjs
