#!/usr/bin/env bash
# The CPU of a sign-in callback's ID token verification inside workerd: the runtime's Web Crypto
# (importKey + verify, what /auth/callback's signature check is) for RS256, ES256 and EdDSA ID
# tokens, beside the core's verification with the pure-Rust signature code (PureRustJws:
# jwt-simple and p256 compiled to wasm32 with the Worker's release profile). Builds the token-bench crate to wasm32 (as
# bench/dpop/run.sh does), runs bench/oidc/worker.mjs in `wrangler dev` and times it from outside.
# Output: a table on stderr and target/bench/oidc/results.json. Knobs: OIDC_BENCH_N (100),
# OIDC_BENCH_REPS (15).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
# shellcheck source=../../scripts/env.sh
. scripts/env.sh
export CARGO_TARGET_DIR="$root/target/bench/token-bench"
out=target/bench/oidc-wasm
cli=$(wasm-bindgen --version | awk '{ print $2 }')
locked=$(awk '$0 == "name = \"wasm-bindgen\"" { getline; gsub(/version = |"/, ""); print; exit }' bench/token-bench/Cargo.lock)
if [ "$cli" != "$locked" ]; then
  (cd bench/token-bench && cargo update -q -p wasm-bindgen --precise "$cli")
fi
(cd bench/token-bench && cargo build --quiet --release --lib --target wasm32-unknown-unknown)
rm -rf "$out"
wasm-bindgen --target web --out-dir "$out" --out-name token_bench \
  "$CARGO_TARGET_DIR/wasm32-unknown-unknown/release/token_bench.wasm"
features=${WASM_OPT_FEATURES:---enable-bulk-memory --enable-sign-ext --enable-nontrapping-float-to-int --enable-mutable-globals --enable-reference-types --enable-multivalue}
# shellcheck disable=SC2086
wasm-opt -O3 $features --strip-debug "$out/token_bench_bg.wasm" -o "$out/token_bench_bg.wasm"
mkdir -p target/bench/oidc
cat >target/bench/oidc/wrangler.toml <<TOML
name = "oidc-id-token-bench"
main = "$root/bench/oidc/worker.mjs"
compatibility_date = "2025-09-01"
TOML
node bench/oidc/verify-bench.mjs target/bench/oidc/wrangler.toml target/bench/oidc/results.json
