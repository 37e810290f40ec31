#!/usr/bin/env bash
# Prints the version of crate NAME that a Cargo.lock pins (default: the repository's).
# Usage: scripts/crate-version.sh NAME [LOCKFILE]
set -euo pipefail
lock=${2:-"$(cd "$(dirname "$0")/.." && pwd)/Cargo.lock"}
awk -v name="$1" '$0 == "name = \"" name "\"" { getline; gsub(/version = |"/, ""); print; exit }' "$lock"
