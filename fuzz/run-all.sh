#!/bin/sh
# Long fuzz runs, one target at a time (docs/testing.md, "Fuzzing"): each target runs until
# 10 million executions or FUZZ_MAX_TIME seconds (default 900), whichever comes first. New
# inputs go to corpus-work/ (not committed); the committed seeds in corpus/ are only read.
# Usage: sh run-all.sh [target...]   (default: all five; logs in logs/<target>.log)
set -eu
cd "$(dirname "$0")"
mkdir -p corpus-work logs
targets=${*:-"header handshake object address receive"}
for t in $targets; do
    mkdir -p "corpus-work/$t"
    nice -n 15 cargo +nightly fuzz run "$t" "corpus-work/$t" "corpus/$t" -- \
        -runs=10000000 -max_total_time="${FUZZ_MAX_TIME:-900}" -print_final_stats=1 \
        > "logs/$t.log" 2>&1 || echo "$t: exit status $?" >> "logs/$t.log"
done
