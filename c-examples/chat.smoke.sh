#!/bin/sh
# Smoke test (ctest example_chat): two chat nodes, each hears the other.
set -eu
port=$(python3 "$(dirname "$0")/free_port.py")
out_a=$(mktemp)
out_b=$(mktemp)
(sleep 1; echo "hi from alice") | timeout 30 "$1/chat" alice "127.0.0.1:$port" --seconds 2 >"$out_a" 2>&1 &
a=$!
(sleep 1; echo "hi from bob") | timeout 30 "$1/chat" bob "127.0.0.1:0" "127.0.0.1:$port" --seconds 2 >"$out_b" 2>&1
wait "$a"
cat "$out_a" "$out_b"
grep -q "hi from bob" "$out_a"
grep -q "hi from alice" "$out_b"
rm -f "$out_a" "$out_b"
