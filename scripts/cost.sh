#!/usr/bin/env bash
# `make cost`: prints the "What it costs" section of docs/BENCHMARKS.md, made by the native test
# tests/native/cost.rs (the real service over instrumented stores). With a file argument, also
# writes the section there (bench/run.sh does, for bench/report.mjs). With COST_CPU=<the JSON of
# bench/cost/cpu.mjs> (bench/run.sh passes its cpu step's), the table gets a CPU-ms column and the
# Paid bill the CPU time; without it, the bill says CPU is not in it.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(cargo test --quiet --test native cost::table_of_costs -- --nocapture --exact 2>&1) || { echo "$out" >&2; exit 1; }
section=$(sed -n '/^<!-- cost:begin -->$/,/^<!-- cost:end -->$/p' <<<"$out" | sed '1d;$d')
[ -n "$section" ] || { echo "$out" >&2; echo "no cost table in the test's output" >&2; exit 1; }
echo "$section"
[ $# -eq 0 ] || printf '%s\n' "$section" >"$1"
