#!/usr/bin/env bash
# `make bench-repeat`: the figures that sit near their targets, measured again and again. One
# `make bench` run gives each figure once, and three of them (auth.fetch ÷ fetch, DPoP ÷ Bearer
# refresh throughput, start-up CPU ÷ the jose Worker's) have moved across their lines from one
# whole run to the next on the same code. This runs the steps that make them (bench/run.sh with
# BENCH_ONLY) REPEAT times, one after another, each with fresh servers and a fresh browser, keeps
# every repetition's results, and writes the spread and the medians (bench/repeat-report.mjs) to
# docs/BENCHMARKS-REPEATED.md, or, when a repetition failed, to target/bench/BENCHMARKS-REPEATED.md
# only. About 10 minutes a repetition on 2 cores; run it on an otherwise idle machine.
#
# Knobs (environment): REPEAT (5), REPEAT_STEPS (startup,client,dpop-load: bench/run.sh's step
# names), and every knob of bench/run.sh (BENCH_DURATION, BENCH_REPS, ...).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

n=${REPEAT:-5}
steps=${REPEAT_STEPS:-startup,client,dpop-load}
out=target/bench/repeat
rm -rf "$out"
mkdir -p "$out"
started=$(date +%s)
failed=()
for i in $(seq 1 "$n"); do
  printf '[repeat %4ss] repetition %s of %s: %s (load %s)\n' "$(($(date +%s) - started))" "$i" "$n" "$steps" "$(cut -d' ' -f1-3 /proc/loadavg)" >&2
  load_before=$(cut -d' ' -f1 /proc/loadavg)
  ok=1
  BENCH_ONLY=$steps bench/run.sh || ok=0
  mkdir -p "$out/$i"
  cp -r target/bench/results/. "$out/$i/"
  printf '{ "loadBefore": %s, "ok": %s }\n' "$load_before" "$([ $ok -eq 1 ] && echo true || echo false)" >"$out/$i/repeat.json"
  [ $ok -eq 1 ] || failed+=("$i")
done

doc=target/bench/BENCHMARKS-REPEATED.md
report_ok=1
node bench/repeat-report.mjs "$root/$out" "$root/$doc" "$steps" "$(($(date +%s) - started))" || report_ok=0
if [ ${#failed[@]} -eq 0 ] && [ $report_ok -eq 1 ]; then
  cp "$doc" docs/BENCHMARKS-REPEATED.md
  doc=docs/BENCHMARKS-REPEATED.md
fi
printf '[repeat %4ss] done; wrote %s\n' "$(($(date +%s) - started))" "$doc" >&2
[ ${#failed[@]} -eq 0 ] || { echo "[repeat] failed repetitions: ${failed[*]} (docs/BENCHMARKS-REPEATED.md left as it was)" >&2; exit 1; }
[ $report_ok -eq 1 ] || { echo "[repeat] the report found a failed check (docs/BENCHMARKS-REPEATED.md left as it was)" >&2; exit 1; }
