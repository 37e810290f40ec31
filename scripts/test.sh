#!/usr/bin/env bash
# `make test`: every tier, in order; each tier's tests start and stop the servers they need.
#   native   cargo test (core, server logic, in-memory and faulty stores)
#   browser  wasm-bindgen-test in headless Chromium (the browser package)
#   http     node:test against the built Worker in `wrangler dev` (workerd, local KV), KV mode
#   http-do  the same files against the Worker in strict mode (ROTATION_STORE=durable-object)
#   e2e      node:test + Playwright driving Chromium against the Worker serving the demo page
#   interop  node:test: the packed npm package with other bundlers, servers and JS contexts
# Prints per-tier totals and a final "N passed, N failed" line; exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p target/test-logs
tiers=(native browser http http-do e2e interop)
declare -A passed failed status
total_pass=0 total_fail=0 broken=0

# Sums "test result: ... N passed; M failed" lines (cargo test, wasm-bindgen-test-runner).
cargo_counts() { awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } } END { print p + 0, f + 0 }' "$1"; }
# Reads node's spec reporter summary ("ℹ pass N", "ℹ fail N").
node_counts() { awk '/^ℹ pass / { p = $3 } /^ℹ fail / { f = $3 } END { print p + 0, f + 0 }' "$1"; }

run_tier() {
  local tier=$1 log=target/test-logs/$1.log rc counts
  echo "=== tier: $tier ==="
  case $tier in
    native)
      cargo test --color never 2>&1 | tee "$log"; rc=${PIPESTATUS[0]}
      counts=$(cargo_counts "$log") ;;
    browser)
      CARGO_TARGET_DIR=target/browser-test \
      CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
      WASM_BINDGEN_TEST_TIMEOUT=120 \
        cargo test --color never --target wasm32-unknown-unknown --no-default-features --features browser --test browser 2>&1 | tee "$log"
      rc=${PIPESTATUS[0]}
      counts=$(cargo_counts "$log") ;;
    http|http-do|e2e|interop)
      local dir=${tier%-do} mode=kv
      [ "$tier" = http-do ] && mode=durable-object
      local files=(tests/$dir/*.test.mjs)
      if [ ! -e "${files[0]}" ]; then echo "no $tier tests"; status[$tier]="none"; passed[$tier]=0; failed[$tier]=0; return; fi
      SILENT_REFRESH_ROTATION_STORE=$mode node --test --test-reporter=spec --test-concurrency=1 "${files[@]}" 2>&1 | tee "$log"; rc=${PIPESTATUS[0]}
      counts=$(node_counts "$log") ;;
  esac
  read -r p f <<<"$counts"
  passed[$tier]=$p failed[$tier]=$f
  if [ "$rc" -ne 0 ]; then
    status[$tier]="FAILED (exit $rc)"; broken=1
    [ "$f" -gt 0 ] || failed[$tier]=1 f=1
  elif [ "$p" -eq 0 ]; then
    status[$tier]="FAILED (no test ran)"; broken=1
  else
    status[$tier]="ok"
  fi
  total_pass=$((total_pass + p)) total_fail=$((total_fail + f))
}

for tier in "${tiers[@]}"; do run_tier "$tier"; done

echo
echo "=== totals ==="
for tier in "${tiers[@]}"; do
  printf '  %-8s %5s passed %4s failed  %s\n' "$tier" "${passed[$tier]}" "${failed[$tier]}" "${status[$tier]}"
done
echo "${total_pass} passed, ${total_fail} failed"
exit $broken
