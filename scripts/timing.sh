# Where the time of a `make` run goes. Sourced by scripts/setup.sh and scripts/test.sh; also run
# as a command by the Makefile (scripts/timed.sh).
#
#   timed NAME COMMAND...   runs COMMAND; when SILENT_REFRESH_TIMINGS names a file, appends a line:
#                           NAME, start (s since SILENT_REFRESH_RUN_START), wall s, CPU user s,
#                           CPU system s (COMMAND and every process it waited for), exit status,
#                           1-minute load average at the start. Returns COMMAND's status.
#   timing_begin; ...; timing_end NAME STATUS
#                           the same for commands run in the current shell (their children's CPU
#                           time is the difference of the shell's `times` before and after).
#   timing_table            prints the steps recorded in $SILENT_REFRESH_TIMINGS as a table, with
#                           the run's wall time so far and the load average now.
#
# CPU seconds are the honest figure on a shared machine: wall seconds grow with the load, the CPU
# a step needs does not (much). Parallel steps overlap, so their wall times do not add up.

timed() {
  local name=$1
  shift
  if [ -z "${SILENT_REFRESH_TIMINGS:-}" ]; then "$@"; return; fi
  mkdir -p "$(dirname "$SILENT_REFRESH_TIMINGS")"
  (
    start=$EPOCHREALTIME load=$(cut -d' ' -f1 /proc/loadavg) t=$(mktemp)
    "$@"
    rc=$?
    end=$EPOCHREALTIME
    # `times`, a builtin (no fork): line 2 is the CPU time of the children this subshell waited for.
    times >"$t"
    awk -v n="$name" -v s="$start" -v e="$end" -v r0="${SILENT_REFRESH_RUN_START:-$start}" -v rc="$rc" -v l="$load" '
      function sec(x) { sub(/s$/, "", x); split(x, a, "m"); return a[1] * 60 + a[2] }
      NR == 2 { printf "%s\t%.1f\t%.1f\t%.1f\t%.1f\t%d\t%s\n", n, s - r0, e - s, sec($1), sec($2), rc, l }' "$t" \
      >>"$SILENT_REFRESH_TIMINGS"
    rm -f "$t"
    exit "$rc"
  )
}

# The CPU seconds (user, system) of the children the current shell has waited for. `times` must
# run in that shell itself (not in $(...), a subshell with children of its own), hence the file.
_timing_children() {
  times >"$1"
  awk 'function sec(x) { sub(/s$/, "", x); split(x, a, "m"); return a[1] * 60 + a[2] }
       NR == 2 { print sec($1), sec($2) }' "$1"
}
timing_begin() {
  _timing_start=$EPOCHREALTIME _timing_load=$(cut -d' ' -f1 /proc/loadavg) _timing_file=$(mktemp)
  _timing_children "$_timing_file" >"$_timing_file.0"
}
timing_end() {
  [ -n "${SILENT_REFRESH_TIMINGS:-}" ] || return 0
  mkdir -p "$(dirname "$SILENT_REFRESH_TIMINGS")"
  _timing_children "$_timing_file" >"$_timing_file.1"
  awk -v n="$1" -v rc="$2" -v s="$_timing_start" -v e="$EPOCHREALTIME" -v r0="${SILENT_REFRESH_RUN_START:-$_timing_start}" \
      -v l="$_timing_load" -v c0="$(cat "$_timing_file.0")" -v c1="$(cat "$_timing_file.1")" 'BEGIN {
    split(c0, a, " "); split(c1, b, " ")
    printf "%s\t%.1f\t%.1f\t%.1f\t%.1f\t%d\t%s\n", n, s - r0, e - s, b[1] - a[1], b[2] - a[2], rc, l }' >>"$SILENT_REFRESH_TIMINGS"
  rm -f "$_timing_file" "$_timing_file.0" "$_timing_file.1"
}

timing_table() {
  local f=${SILENT_REFRESH_TIMINGS:-}
  [ -n "$f" ] && [ -s "$f" ] || return 0
  local now=$EPOCHREALTIME
  echo
  echo "=== where the time went (wall s; CPU s = user + system of the step and its children) ==="
  awk -F'\t' -v now="$now" -v r0="${SILENT_REFRESH_RUN_START:-}" -v load="$(cut -d' ' -f1-3 /proc/loadavg)" '
    BEGIN { printf "  %-44s %8s %8s %8s %6s  %s\n", "step", "start", "wall", "CPU", "load", "" }
    $4 == "-" { printf "  %-44s %8.1f %8.1f %8s %6s\n", $1, $2, $3, "-", $7; next }
    { cpu = $4 + $5; tot += cpu
      printf "  %-44s %8.1f %8.1f %8.1f %6s  %s\n", $1, $2, $3, cpu, $7, ($6 == 0 ? "" : "exit " $6) }
    END {
      if (r0 != "") printf "  %-44s %8s %8.1f %8.1f\n", "whole run (steps overlap)", "", now - r0, tot
      printf "  load average now: %s (%d cores)\n", load, '"$(nproc)"'
    }' "$f"
}
