#!/usr/bin/env bash
# Builds the npm package into pkg/: wasm-pack (release, web target, browser feature only),
# wasm-opt -Oz from the npm binaryen package, then enforces the size budget.
set -euo pipefail
cd "$(dirname "$0")/.."
budget=${SIZE_BUDGET_GZIP:-20480}
echo "[build] browser package (wasm-pack, release)"
# Own target dir: the browser build's features and opt-level differ from the Worker's.
CARGO_TARGET_DIR=target/browser CARGO_PROFILE_RELEASE_OPT_LEVEL=z \
  wasm-pack --quiet build --target web --release --out-dir pkg --out-name silent_refresh \
  -- --no-default-features --features browser
wasm-opt -Oz $WASM_OPT_FEATURES --strip-debug --strip-producers pkg/silent_refresh_bg.wasm -o pkg/silent_refresh_bg.wasm
rm -f pkg/.gitignore
wasm=$(wc -c <pkg/silent_refresh_bg.wasm)
wasm_gz=$(gzip -9c pkg/silent_refresh_bg.wasm | wc -c)
js_gz=$(gzip -9c pkg/silent_refresh.js | wc -c)
total=$((wasm_gz + js_gz))
echo "[build] pkg: wasm ${wasm} B raw, ${wasm_gz} B gzip; JS glue ${js_gz} B gzip; total ${total} B gzip (budget ${budget})"
if [ "$total" -gt "$budget" ]; then
  echo "[build] the browser package is over its ${budget} B gzip budget" >&2
  rm -f pkg/silent_refresh_bg.wasm
  exit 1
fi
