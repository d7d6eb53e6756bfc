#!/bin/sh
# Run the whole test suite: Rust unit and integration tests, the C API tests (C11 and C++17,
# shared and static), the CMake/pkg-config consumer test, the examples, and the interop tests
# against the original Python yoton (pyzo 4.22.0).
#
#   scripts/test.sh
#
# Prerequisites (installed by .ci/run on a fresh machine): Rust, cmake, a C/C++ compiler,
# pkg-config, cbindgen 0.29.0 (cargo install cbindgen --version 0.29.0 --locked), a Python
# venv with pyzo==4.22.0 and pytest at $YOTON_VENV (default ./venv), and for the benchmark
# smoke run libzmq3-dev and libnng-dev.
set -eu
root=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
cd "$root"
build=${YOTON_BUILD_DIR:-$root/build}
export YOTON_VENV=${YOTON_VENV:-$root/venv}

echo "== 1/4 Rust unit and integration tests (cargo test)"
cargo test --locked --all-targets 2>&1

echo "== 2/4 C API, packaging and example tests (cmake + ctest)"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j2
ctest --test-dir "$build" --output-on-failure --timeout 120

echo "== 3/4 Interop with the original Python yoton (pytest)"
YOTON_INTEROP_PEER="$build/yoton_interop_peer" sh tests/interop/run.sh

echo "== 4/4 Benchmark programs, smoke run (tiny counts; figures live in bench/RESULTS.md)"
"$YOTON_VENV/bin/python" bench/run.py --quick --no-write --build-dir "$build-bench"

# (set -e stops at the first failing stage, so reaching this line means all four passed)
echo "stages: 4 passed, 0 failed"
