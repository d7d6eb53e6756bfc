#!/bin/sh
# Smoke test (ctest example_simple_client_server): the server and the client in one process
# ("both"), then in two processes on a free port (the server started first, stopped by the
# client's quit()).
set -eu
out=$(mktemp)
timeout 30 "$1/simple_client_server" both >"$out" 2>&1
cat "$out"
grep -q "client: add(3, 4) -> 7" "$out"
grep -q "client: upper('hello yoton') -> 'HELLO YOTON'" "$out"
grep -q "Method 'divide' not implemented." "$out"
grep -q "client: server said \"add(3, 4) = 7\"" "$out"
grep -q "client: done" "$out"
grep -q "server: done" "$out"

port=$(python3 "$(dirname "$0")/free_port.py")
srv=$(mktemp)
timeout 30 "$1/simple_client_server" server "127.0.0.1:$port" >"$srv" 2>&1 &
server=$!
timeout 30 "$1/simple_client_server" client "127.0.0.1:$port" >"$out" 2>&1
wait "$server"
cat "$srv" "$out"
grep -q "client: add(3, 4) -> 7" "$out"
grep -q "client: quit() -> 'bye'" "$out"
grep -q "server: done" "$srv"
rm -f "$out" "$srv"
