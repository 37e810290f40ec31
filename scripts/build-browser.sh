#!/usr/bin/env bash
# Builds the npm package into pkg/: wasm-pack (release, web target, browser feature only),
# wasm-opt -Oz from the npm binaryen package, the JS (wasm-bindgen's glue and our plumbing in
# src/browser/glue.js) bundled into one minified module with esbuild, then enforces the size
# budget on everything the package ships that a browser loads: the wasm plus every JS file.
set -euo pipefail
cd "$(dirname "$0")/.."
budget=${SIZE_BUDGET_GZIP:-20480}
echo "[build] browser package (wasm-pack, release)"
rm -rf pkg/snippets
# Own target dir: the browser build's features and opt-level differ from the Worker's.
# Feature `pkg`: the package's own panic handler (see Cargo.toml).
# A low LLVM inlining threshold: about 1 % smaller than the opt-level "z" default here.
CARGO_TARGET_DIR=target/browser CARGO_PROFILE_RELEASE_OPT_LEVEL=z \
  RUSTFLAGS="${RUSTFLAGS:-} -Cllvm-args=-inline-threshold=25" \
  wasm-pack --quiet build --target web --release --out-dir pkg --out-name silent_refresh \
  -- --no-default-features --features browser,pkg
# --low-memory-unused: the stack comes first in memory and grows down from 1 MiB, so the low
# 1 KiB is never touched (it lets wasm-opt fold address offsets).
wasm-opt -Oz --converge --low-memory-unused $WASM_OPT_FEATURES --strip-debug --strip-producers --strip-target-features \
  pkg/silent_refresh_bg.wasm -o pkg/silent_refresh_bg.wasm
# One module instead of the glue plus pkg/snippets/**: the snippet is inlined, comments and
# whitespace go (the readable sources are src/browser/glue.js and the .d.ts).
"$ESBUILD_BIN" pkg/silent_refresh.js --bundle --format=esm --minify --log-level=warning \
  --banner:js='/* @ts-self-types="./silent_refresh.d.ts" */' --outfile=pkg/silent_refresh.min.js
mv pkg/silent_refresh.min.js pkg/silent_refresh.js
rm -rf pkg/snippets pkg/.gitignore
node -e '
  const fs = require("fs"), f = "pkg/package.json", p = JSON.parse(fs.readFileSync(f, "utf8"));
  p.files = p.files.filter((x) => x !== "snippets");
  delete p.sideEffects;
  fs.writeFileSync(f, JSON.stringify(p, null, 2) + "\n");'
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
