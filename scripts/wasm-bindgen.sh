#!/usr/bin/env bash
# The wasm-bindgen CLI of the version Cargo.lock pins, installed on first need.
#
#   scripts/wasm-bindgen.sh ARGS...    runs `wasm-bindgen ARGS...` (the build scripts' step 2),
#                                      first installing or waiting for the CLI if it is not there
#   scripts/wasm-bindgen.sh --install  only that
#
# On a new machine the CLI is the one cargo tool to compile (minutes). scripts/setup.sh starts
# `--install` in the background and does not wait for it: the builds' own cargo runs
# (the package's and the Worker's, which do not need the CLI) go on meanwhile, and each build
# waits here, before its wasm-bindgen step, only for what is left of the compile. One install at a
# time (an exclusive lock on .tools/wasm-bindgen.lock): whoever comes second waits and finds it
# done; if the background install failed, the build installs it itself and shows why it fails.
#
# The install goes to $CARGO_INSTALL_ROOT/bin when set (else ~/.cargo/bin; scripts/env.sh), without
# TLS (the default feature is for its test runner's downloads), unoptimised (opt-level 0 instead
# of the release profile's 3): its compile is what counts here, not its speed. Measured with
# `/usr/bin/time cargo install` into an empty CARGO_INSTALL_ROOT on a shared 2-core machine: 131 CPU
# s at opt-level 0, 292 at 1, 354 at 3; on the Worker's cargo output it then takes 1.3 CPU s
# instead of 0.3 (the package's: 0.05), and writes byte-identical files.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=env.sh
. "$root/scripts/env.sh"
# shellcheck source=timing.sh
. "$root/scripts/timing.sh"

version=$("$root/scripts/crate-version.sh" wasm-bindgen)
installed() {
  [ "$("$WASM_BINDGEN_BIN" --version 2>/dev/null | awk 'NR == 1 { print $NF }')" = "$version" ]
}
install() {
  # Not --locked: the registry index here may lack a locked dependency's exact version.
  CARGO_PROFILE_RELEASE_OPT_LEVEL=0 \
    cargo install -q wasm-bindgen-cli --version "$version" --force --no-default-features --bin wasm-bindgen
}

if ! installed; then
  mkdir -p "$root/.tools"
  exec 9>"$root/.tools/wasm-bindgen.lock"
  if ! flock -n 9; then
    echo "[wasm-bindgen] waiting for the install of wasm-bindgen-cli $version under way (scripts/setup.sh; log: .tools/setup-logs/wasm-bindgen-cli.log)" >&2
    flock 9
  fi
  if ! installed; then
    echo "[wasm-bindgen] installing wasm-bindgen-cli $version (cargo install, a few minutes on a new machine)" >&2
    timed "setup: cargo install wasm-bindgen-cli $version" install
    installed || { echo "[wasm-bindgen] $WASM_BINDGEN_BIN --version does not say $version" >&2; exit 1; }
  fi
  exec 9>&-
fi
[ "${1:-}" = --install ] && exit 0
exec "$WASM_BINDGEN_BIN" "$@"
