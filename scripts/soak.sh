#!/usr/bin/env bash
# Load and soak test (a separate command, not part of `make test`): the built Worker in
# `wrangler dev` under closed-loop mixed traffic (login, refresh, /api/me, logout) from many
# concurrent sessions on 127.0.0.1, then checks zero 5xx, zero lost sessions and stable workerd
# memory, and prints the figures. The driver is tests/soak/soak.mjs (its header says what it checks).
#
#   scripts/soak.sh                                  60 s, 48 sessions
#   SOAK_SECONDS=300 SOAK_SESSIONS=64 scripts/soak.sh
#
# Needs `make build` first (it never builds). Stops everything it started, also on failure.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. scripts/env.sh

if [ ! -f build/worker/index.js ]; then
  echo "soak: build/worker is missing: run \`make build\` first" >&2
  exit 2
fi
# The figures are only meaningful on an otherwise idle machine (2 cores).
if pgrep -f autocannon >/dev/null 2>&1; then
  echo "soak: warning: a benchmark (autocannon) is running; the figures will be lower" >&2
fi
exec node tests/soak/soak.mjs
