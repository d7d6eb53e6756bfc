#!/bin/sh
# Smoke test (ctest example_multi_reqrep): 3 repliers and 2 requesters in one process; every job
# is done and every replier takes part (the program checks and sets its exit status).
set -eu
out=$(mktemp)
timeout 50 "$1/multi_reqrep" 3 2 6 >"$out" 2>&1
cat "$out"
grep -q "all jobs done, every replier took part" "$out"
rm -f "$out"
