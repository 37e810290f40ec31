#!/usr/bin/env bash
# Builds the Worker into build/worker/ with worker-build (release). wasm-bindgen, wasm-opt and
# esbuild come from local installs (see scripts/env.sh); nothing is downloaded.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "[build] Worker (worker-build, release)"
CARGO_TARGET_DIR=target/worker worker-build --release --out-dir build/worker --features worker
# wasm-pack's own wasm-opt step is off (Cargo.toml metadata); optimise for speed here.
# worker-build's catch wrappers use exception handling (try_table).
wasm-opt -O3 $WASM_OPT_FEATURES --enable-exception-handling --strip-debug build/worker/index_bg.wasm -o build/worker/index_bg.wasm
wasm=$(wc -c <build/worker/index_bg.wasm)
gz=$(gzip -9c build/worker/index_bg.wasm | wc -c)
echo "[build] worker: wasm ${wasm} B raw, ${gz} B gzip"
