#!/bin/sh
# The README quick start: build yoton and the examples (CMake, Release, into ./build) if
# needed, then run c-examples/hello as two processes: `hello sub` in the background (it binds)
# and `hello pub` in the foreground (it connects, publishes, flushes and exits). Prints what
# the subscriber received.
#
#   scripts/demo.sh [address] [count]     # defaults: localhost:yoton_hello 10
#
# Prerequisites: Rust (cargo) and a C compiler. CMake >= 3.16 is installed from PyPI into the
# project venv when the system has none (scripts/setup-env.sh).
# Environment: YOTON_BUILD_DIR (default ./build), YOTON_VENV (default ./venv).
set -eu

root=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
. "$root/scripts/setup-env.sh"
yoton_setup demo
build=${YOTON_BUILD_DIR:-$root/build}
address=${1:-localhost:yoton_hello}
count=${2:-10}
hello="$build/examples/hello"

# Configure once; building is always asked for (a no-op when nothing changed).
if [ ! -f "$build/CMakeCache.txt" ]; then
    echo "== configuring $build (Release)"
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release
fi
echo "== building the library and the hello example"
cmake --build "$build" -j2 --target example_hello

out=$(mktemp "${TMPDIR:-/tmp}/yoton-demo.XXXXXX")
sub_pid=
cleanup() {
    # Only the subscriber this script started, if it is still running.
    if [ -n "$sub_pid" ] && kill -0 "$sub_pid" 2>/dev/null; then
        kill "$sub_pid" 2>/dev/null || true
    fi
    rm -f "$out"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# run_pair ADDRESS: the subscriber in the background, the publisher in the foreground; sets
# pub_status and sub_status.
run_pair() {
    echo "== hello sub $1 $count  (background, binds)"
    # timeout(1) bounds the subscriber (it exits by itself after `count` messages, or after
    # 10 s without one); `wait` below is therefore bounded too.
    timeout 20 "$hello" sub "$1" "$count" >"$out" 2>&1 &
    sub_pid=$!
    echo "== hello pub $1 $count  (foreground, connects within 5 s)"
    pub_status=0
    "$hello" pub "$1" "$count" || pub_status=$?
    sub_status=0
    wait "$sub_pid" || sub_status=$?
    sub_pid=
    [ "$sub_status" -ne 124 ] || echo "== the subscriber did not finish within 20 s"
}

run_pair "$address"
# A named port is a hash in 49152-65535, which overlaps the kernel's range for outgoing
# connections: on a busy machine one of them may hold it. Then say so, and use a free port.
if [ "$sub_status" -ne 0 ] && grep -q "address in use" "$out" && [ -z "${1:-}" ] &&
    command -v python3 >/dev/null 2>&1; then
    echo "== subscriber output"
    cat "$out"
    free=$(python3 "$root/c-examples/free_port.py")
    echo "== $address's port is taken on this machine right now: again on free port $free"
    run_pair "127.0.0.1:$free"
fi

echo "== subscriber output"
cat "$out"

if [ "$pub_status" -ne 0 ] || [ "$sub_status" -ne 0 ]; then
    echo "== demo FAILED (pub exit $pub_status, sub exit $sub_status)"
    exit 1
fi
echo "== demo ok"
