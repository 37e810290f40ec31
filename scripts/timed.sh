#!/usr/bin/env bash
# timed.sh NAME COMMAND...: COMMAND, its time recorded for the table `make test` prints at the
# end (see scripts/timing.sh).
. "$(dirname "$0")/timing.sh"
timed "$@"
