#!/usr/bin/env bash
# Fuzzes every parser that sees untrusted input, one cargo-fuzz target at a time, each
# for a bounded time, and prints executions, exec/s and coverage per target.
#
#   scripts/fuzz.sh                      every target, 60 s each
#   FUZZ_SECONDS=300 scripts/fuzz.sh     longer
#   scripts/fuzz.sh json_body form_body  only those
#
# Targets live in fuzz/ (their own Cargo workspace, so the main crate is untouched), seeds in
# fuzz/seeds/<target>/ (committed, small), the growing corpus in fuzz/corpus/<target>/ and crash
# inputs in fuzz/artifacts/<target>/ (both gitignored). Needs the nightly toolchain (installed by
# rustup beside stable); installs cargo-fuzz with `cargo install` when it is missing.
# A crash fails the run: reproduce it with
#   cargo +nightly fuzz run <target> fuzz/artifacts/<target>/<file>   (from fuzz/)
# then fix it and keep the input as a case in tests/native/fuzz_regressions.rs.
# Env: FUZZ_SECONDS (60), FUZZ_SANITIZER (address; `none` is about twice as fast).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. scripts/env.sh

seconds=${FUZZ_SECONDS:-60}
sanitizer=${FUZZ_SANITIZER:-address}
all=(json_body form_body cookie_header bearer_header refresh_token b64_roundtrip)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")

# A dictionary of the tokens each input format is made of speeds the first minute up.
dict_for() {
  case $1 in
    json_body) echo fuzz/dicts/json.dict ;;
    form_body) echo fuzz/dicts/form.dict ;;
    cookie_header | bearer_header | refresh_token) echo fuzz/dicts/header.dict ;;
    *) echo "" ;;
  esac
}

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  echo "fuzz: the nightly toolchain is missing (rustup toolchain install nightly)" >&2
  exit 2
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

logs=$root/target/fuzz-logs
mkdir -p "$logs"
cd fuzz
echo "fuzz: building the targets (nightly, sanitizer $sanitizer)"
cargo +nightly fuzz build --sanitizer "$sanitizer" >"$logs/build.log" 2>&1 || { cat "$logs/build.log" >&2; exit 1; }

failed=()
summary=()
for t in "${targets[@]}"; do
  [ -d "seeds/$t" ] || { echo "fuzz: unknown target $t (known: ${all[*]})" >&2; exit 2; }
  mkdir -p "corpus/$t"
  log=$logs/$t.log
  args=(-max_total_time="$seconds" -timeout=10 -print_final_stats=1)
  dict=$(dict_for "$t")
  [ -z "$dict" ] || args+=(-dict="$root/$dict")
  echo "=== fuzz: $t for ${seconds}s ==="
  rc=0
  cargo +nightly fuzz run --sanitizer "$sanitizer" "$t" "corpus/$t" "seeds/$t" -- "${args[@]}" >"$log" 2>&1 || rc=$?
  # libFuzzer's closing statistics and its last progress line.
  execs=$(awk '/^stat::number_of_executed_units:/ { print $2 }' "$log")
  rate=$(awk '/^stat::average_exec_per_sec:/ { print $2 }' "$log")
  rss=$(awk '/^stat::peak_rss_mb:/ { print $2 }' "$log")
  edges=$(grep -oE 'Loaded 1 modules +\(([0-9]+) inline 8-bit counters' "$log" | grep -oE '[0-9]+ inline' | grep -oE '[0-9]+' | head -1)
  last=$(grep -E '^#[0-9]+' "$log" | tail -1)
  cov=$(grep -oE 'cov: [0-9]+' <<<"$last" | grep -oE '[0-9]+' || true)
  ft=$(grep -oE 'ft: [0-9]+' <<<"$last" | grep -oE '[0-9]+' || true)
  corp=$(grep -oE 'corp: [0-9]+' <<<"$last" | grep -oE '[0-9]+' || true)
  if [ "$rc" -ne 0 ]; then
    failed+=("$t")
    echo "fuzz: $t FAILED (exit $rc); log: $log"
    grep -E 'panicked at|ERROR: |artifact_prefix|Test unit written to' "$log" | head -10 || true
    status=FAILED
  else
    status=ok
  fi
  line=$(printf '%-14s %-6s execs %10s  exec/s %7s  cov %5s/%-6s ft %6s  corpus %5s  rss %4s MB' \
    "$t" "$status" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${edges:-?}" "${ft:-?}" "${corp:-?}" "${rss:-?}")
  echo "$line"
  summary+=("$line")
done

echo
echo "=== fuzz: summary (${seconds}s per target; cov = edges reached / instrumented in the binary) ==="
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: crashes in: ${failed[*]} (inputs under fuzz/artifacts/)" >&2
  exit 1
fi
echo "fuzz: no crash in ${#targets[@]} target(s)"
