#!/bin/sh
# Smoke test (ctest example_poll_embed): a poll() host loop receives 8 messages and exits.
set -eu
out=$(mktemp)
timeout 30 "$1/poll_embed" 8 >"$out" 2>&1
cat "$out"
grep -q "received: news #8" "$out"
grep -q "host: done after 8 messages (ok)" "$out"
rm -f "$out"
