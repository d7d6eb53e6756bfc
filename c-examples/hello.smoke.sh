#!/bin/sh
# Smoke test (ctest example_hello): subscriber and publisher in two processes on a free port.
set -eu
port=$(python3 "$(dirname "$0")/free_port.py")
out=$(mktemp)
timeout 30 "$1/hello" sub "127.0.0.1:$port" 5 >"$out" 2>&1 &
sub=$!
timeout 30 "$1/hello" pub "127.0.0.1:$port" 5
wait "$sub"
cat "$out"
grep -q "hello 4" "$out"
rm -f "$out"
