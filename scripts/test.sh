#!/usr/bin/env bash
# `make test`: every tier, in order; each tier's tests start and stop the servers they need.
#   native   cargo test (core, server logic, in-memory and faulty stores)
#   browser  node:test + Playwright: the built browser package (pkg/) in headless Chromium
#   http     node:test against the built Worker in `wrangler dev` (workerd, local KV), KV mode
#   http-do  the same files against the Worker in strict mode (ROTATION_STORE=durable-object)
#   e2e      node:test + Playwright driving Chromium against the Worker serving the demo page
#   interop  node:test: the packed npm package with other bundlers, servers and JS contexts
#
#   scripts/test.sh              every tier
#   scripts/test.sh http e2e     only those (the build must be up to date: `make build`)
#
# On a machine of two cores or more, native (cargo) runs beside browser (Chromium), which keeps
# about one core busy; then http, http-do, e2e and interop all four at once: each is mostly
# waiting (on wrangler dev's start-up, on Chromium, on bundlers, on the clock), so that run two by
# two they left most of two cores idle (on 2 cores, http and http-do beside each other: 127 and
# 134 CPU s in 238 and 246 s wall; e2e and interop: 39 and 84 CPU s in 115 and 158 s wall).
# The output of tiers running at once goes to their logs and is printed whole when all are
# done. Every server
# a tier starts listens on a port of the tier's own lane (tests/support/worker.mjs, freePort),
# below the range the system picks ports from: the two http tiers once collided on a port
# handed out by the system to the other tier's workerd before wrangler bound it ("Address already
# in use (socket direct:1:default)", 12 DPoP tests cancelled). SILENT_REFRESH_SERIAL=1 runs one
# tier at a time, printing as it goes.
#
# Prints per-tier totals and a final "N passed, N failed, N skipped" line; exits non-zero on any
# failure. A tier fails when a test fails, when its command fails, and when no test ran (a tier
# with no test files included). Skipped, ignored and todo tests do not fail a tier; they are
# counted and shown beside it, so that none goes unnoticed.
# Bounds, so that a regression fails instead of hanging: each node test and hook has a timeout
# (tests/support/test.mjs, which every http, e2e and interop test file imports instead of
# node:test; a test that builds with Next.js sets a longer one), each node test file one of
# NODE_TEST_FILE_TIMEOUT_SECONDS (1800) in all, and a file ends once its tests have
# (--test-force-exit: a timer or socket left behind cannot keep it alive).
# At the end, a table of where the time went: each tier's wall and CPU seconds and, under `make`,
# the setup steps and builds before them (scripts/timing.sh); then, for each failed tier, its own
# list of what failed and why.
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p target/test-logs
. scripts/timing.sh
if [ -z "${SILENT_REFRESH_TIMINGS:-}" ]; then
  export SILENT_REFRESH_RUN_START=$EPOCHREALTIME SILENT_REFRESH_TIMINGS=target/test-logs/timings.tsv
  rm -f "$SILENT_REFRESH_TIMINGS"
fi
all_tiers=(native browser http http-do e2e interop)
tiers=("$@")
[ ${#tiers[@]} -gt 0 ] || tiers=("${all_tiers[@]}")
for tier in "${tiers[@]}"; do
  [[ " ${all_tiers[*]} " == *" $tier "* ]] || { echo "unknown tier '$tier' (tiers: ${all_tiers[*]})" >&2; exit 2; }
done
file_timeout_ms=$(( ${NODE_TEST_FILE_TIMEOUT_SECONDS:-1800} * 1000 ))
declare -A passed failed skipped status
total_pass=0 total_fail=0 total_skip=0 broken=0

# Sums "test result: ... N passed; M failed; K ignored" lines (cargo test).
cargo_counts() {
  awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i; if ($(i+1) ~ /^ignored/) s += $i } }
       END { print p + 0, f + 0, s + 0 }' "$1"
}
# Reads node's spec reporter summary ("ℹ pass N", "ℹ fail N", "ℹ cancelled N", "ℹ skipped N",
# "ℹ todo N"). A cancelled test (timed out, or cut short by its file's timeout) is a failure.
node_counts() {
  awk '/^ℹ pass / { p = $3 } /^ℹ fail / { f = $3 } /^ℹ cancelled / { c = $3 } /^ℹ skipped / { s = $3 } /^ℹ todo / { t = $3 }
       END { print p + 0, f + c, s + t }' "$1"
}

# The lane of ports TIER's servers draw from (tests/support/worker.mjs, freePort): its place in
# all_tiers, so that no two tiers running at once pick the same port.
port_lane() {
  local i
  for i in "${!all_tiers[@]}"; do [ "${all_tiers[$i]}" = "$1" ] && echo "$i"; done
}

# run_tier TIER: runs it, writes "passed failed skipped status" to target/test-logs/TIER.result;
# returns 0 when the tier is ok.
run_tier() {
  local tier=$1 log=target/test-logs/$1.log rc counts why="" st
  echo "=== tier: $tier ==="
  case $tier in
    native)
      cargo test --no-fail-fast --color never 2>&1 | tee "$log"; rc=${PIPESTATUS[0]}
      # The deploy preflight's checker (a native binary with other features), which the http tiers
      # run (tests/http/ops.test.mjs, through scripts/preflight.mjs): compiled here, on dependencies
      # just compiled, rather than inside a test of two tiers running at once.
      cargo build --quiet --features preflight --bin preflight 2>&1 | tee -a "$log"
      [ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
      counts=$(cargo_counts "$log") ;;
    browser|http|http-do|e2e|interop)
      local dir=${tier%-do} mode=kv files=() f
      [ "$tier" = http-do ] && mode=durable-object
      for f in tests/$dir/*.test.mjs; do [ -e "$f" ] && files+=("$f"); done
      if [ ${#files[@]} -eq 0 ]; then
        why="no test files in tests/$dir"; echo "$why" | tee "$log"; rc=1 counts="0 0 0"
      elif unbounded=$(grep -lE "from ['\"]node:test['\"]" "${files[@]}"); then
        why="test files import node:test directly (no per-test timeouts; import tests/support/test.mjs): $(echo $unbounded)"
        echo "$why" | tee "$log"; rc=1 counts="0 0 0"
      else
        SILENT_REFRESH_ROTATION_STORE=$mode SILENT_REFRESH_PORT_LANE=$(port_lane "$tier") node --test --test-reporter=spec --test-concurrency=1 --test-force-exit --test-timeout="$file_timeout_ms" "${files[@]}" 2>&1 | tee "$log"; rc=${PIPESTATUS[0]}
        counts=$(node_counts "$log")
      fi ;;
  esac
  read -r p f s <<<"$counts"
  if [ -n "$why" ] || [ "$rc" -ne 0 ]; then
    st="FAILED (${why:-exit $rc})"
    [ "$f" -gt 0 ] || f=1
  elif [ "$p" -eq 0 ]; then
    st="FAILED (no test ran)"
  else
    st="ok"
  fi
  echo "$p $f $s $st" >"target/test-logs/$tier.result"
  [ "$st" = ok ]
}

# Adds a finished tier's result to the totals.
collect() {
  local tier=$1 p f s st
  read -r p f s st <"target/test-logs/$tier.result"
  passed[$tier]=$p failed[$tier]=$f skipped[$tier]=$s status[$tier]=$st
  [ "$st" = ok ] || broken=1
  total_pass=$((total_pass + p)) total_fail=$((total_fail + f)) total_skip=$((total_skip + s))
}

# The groups whose tiers run at once (see the top): the tiers of a group that were asked for.
at_once=0
[ -z "${SILENT_REFRESH_SERIAL:-}" ] && [ "$(nproc)" -ge 2 ] && at_once=1
group() {
  case $1 in native|browser) echo cargo-and-chromium ;; *) echo servers ;; esac
}
queued=" ${tiers[*]} "
for tier in "${tiers[@]}"; do
  [[ "$queued" == *" $tier "* ]] || continue
  together=()
  for t in "${tiers[@]}"; do
    [[ "$queued" == *" $t "* ]] && [ "$(group "$t")" = "$(group "$tier")" ] && together+=("$t")
  done
  if [ "$at_once" -eq 1 ] && [ ${#together[@]} -gt 1 ]; then
    for t in "${together[@]}"; do queued=${queued/ $t / }; done
    echo "=== tiers at once: ${together[*]} (each one's output follows when all are done) ==="
    pids=()
    for t in "${together[@]}"; do
      rm -f "target/test-logs/$t.result"
      timed "tier: $t (at once)" run_tier "$t" >"target/test-logs/$t.console" 2>&1 &
      pids+=($!)
    done
    wait "${pids[@]}"
    for t in "${together[@]}"; do
      cat "target/test-logs/$t.console"
      [ -f "target/test-logs/$t.result" ] || echo "0 1 0 FAILED (the tier's runner died)" >"target/test-logs/$t.result"
      collect "$t"
    done
  else
    queued=${queued/ $tier / }
    timing_begin
    run_tier "$tier"
    timing_end "tier: $tier" $?
    collect "$tier"
  fi
done

echo
echo "=== totals ==="
for tier in "${tiers[@]}"; do
  printf '  %-8s %5s passed %4s failed %4s skipped  %s\n' "$tier" "${passed[$tier]}" "${failed[$tier]}" "${skipped[$tier]}" "${status[$tier]}"
done
timing_table
# What failed, last, where a reader of the run's tail (CI) sees it: each failed tier's own
# summary of its failures (node's "failing tests" section, cargo's "failures:"), cut at 40 lines.
for tier in "${tiers[@]}"; do
  [ "${status[$tier]}" = ok ] && continue
  echo "=== what failed in $tier (whole: target/test-logs/$tier.log) ==="
  awk '/^✖ failing tests:/ || /^failures:$/ { on = 1 } on && !/^ +at .*\(node:/' "target/test-logs/$tier.log" | head -n 40
done
echo "${total_pass} passed, ${total_fail} failed, ${total_skip} skipped"
exit $broken
