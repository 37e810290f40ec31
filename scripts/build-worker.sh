#!/usr/bin/env bash
# Builds the Worker into build/worker/ (index.js, the entry module wrangler.toml's `main` names,
# and index_bg.wasm, which it imports), the way worker-build did, without a cargo tool of its own:
#   1. cargo, release profile (Cargo.toml), feature `worker`, in target/worker;
#   2. wasm-bindgen (the CLI of the version in Cargo.lock: scripts/wasm-bindgen.sh, which waits
#      for the install scripts/setup.sh started, after this cargo run),
#      `--target module` with the two flags worker-build passes: a trap re-creates the wasm
#      instance instead of leaving the Worker broken;
#   3. scripts/bundle-worker.mjs: checks src/worker/entry.js against the wasm's exports, bundles
#      it with wasm-bindgen's glue into one minified module (esbuild), tags the wasm's producers
#      section with the workers-rs version;
#   4. wasm-opt -O3 (from the npm binaryen package), for speed.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "[build] Worker (cargo + wasm-bindgen, release)"
# Read by wasm-bindgen's proc macro: the `worker` crate's futures come from js-sys (worker-build set it).
WASM_BINDGEN_USE_JS_SYS=1 CARGO_TARGET_DIR=target/worker \
  cargo build --quiet --lib --release --target wasm32-unknown-unknown --features worker
staging=target/worker/bindgen
rm -rf "$staging"
scripts/wasm-bindgen.sh target/worker/wasm32-unknown-unknown/release/silent_refresh.wasm \
  --out-dir "$staging" --out-name index --target module --no-typescript \
  --experimental-reset-state-function --force-enable-abort-handler
worker_version=$(scripts/crate-version.sh worker)
node scripts/bundle-worker.mjs "$staging" "$staging/out/index.js" "$worker_version"
# wasm-bindgen's catch wrappers use exception handling (try_table).
wasm-opt -O3 $WASM_OPT_FEATURES --enable-exception-handling --strip-debug "$staging/index_bg.wasm" -o "$staging/out/index_bg.wasm"
# Only the two files, replaced at once (nothing left of an earlier layout).
rm -rf build/worker
mkdir -p build
mv "$staging/out" build/worker
wasm=$(wc -c <build/worker/index_bg.wasm)
gz=$(gzip -9c build/worker/index_bg.wasm | wc -c)
js=$(wc -c <build/worker/index.js)
js_gz=$(gzip -9c build/worker/index.js | wc -c)
echo "[build] worker: wasm ${wasm} B raw, ${gz} B gzip; index.js ${js} B raw, ${js_gz} B gzip"
