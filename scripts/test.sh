#!/bin/sh
# Run the whole test suite: Rust unit and integration tests, the C API tests (C11 and C++17,
# shared and static), the CMake/pkg-config consumer test, the examples, and the interop tests
# against the original Python yoton (pyzo 4.22.0), including the yoton command-line tool (cli/).
#
#   scripts/test.sh
#
# Prerequisites: Rust (cargo), a C/C++ compiler and Python 3 with pip. What else is missing is
# installed first, without root (scripts/setup-env.sh): cmake and pkg-config (from PyPI, when
# the system has none), pyzo==4.22.0, pytest, cffi, setuptools and wheel in the venv $YOTON_VENV
# (default ./venv), and
# cbindgen 0.29.0 (cargo install cbindgen --version 0.29.0 --locked). Optional: libglib2.0-dev
# (the glib_embed example), libzmq3-dev and libnng-dev (the benchmark comparisons); without
# them those parts are skipped, each with one line saying so.
# Environment: YOTON_BUILD_DIR (default ./build), YOTON_VENV (default ./venv).
set -eu
root=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
cd "$root"
build=${YOTON_BUILD_DIR:-$root/build}
. "$root/scripts/setup-env.sh"
yoton_setup test

echo "== 1/5 Rust: formatting, lints, docs, unit and integration tests"
# The tree stays rustfmt-formatted, clippy-clean and free of rustdoc warnings.
cargo fmt --all --check
cargo clippy --locked --workspace --all-targets -- -D warnings 2>&1
RUSTDOCFLAGS="-D warnings" cargo doc --locked --no-deps 2>&1
# The library and the yoton command-line tool (cli/: its own tests run the built binary).
cargo test --locked --workspace --all-targets 2>&1
# The concurrency stress test again in a release build: other timings, other interleavings.
cargo test --locked --release --test stress 2>&1

echo "== 2/5 C API, packaging and example tests (cmake + ctest)"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j2
ctest --test-dir "$build" --output-on-failure --timeout 120

echo "== 3/5 Interop with the original Python yoton (pytest)"
YOTON_INTEROP_PEER="$build/yoton_interop_peer" sh tests/interop/run.sh

echo "== 4/5 Python package: pip install ./python, then its tests (pytest)"
# No build isolation: the build tools come from the venv (setup-env.sh), not from a download.
"$YOTON_VENV/bin/python" -m pip install -q --disable-pip-version-check --no-build-isolation ./python
YOTON_INTEROP_PEER="$build/yoton_interop_peer" "$YOTON_VENV/bin/python" -m pytest -q python/tests

echo "== 5/5 Benchmark programs, smoke run (tiny counts; figures live in bench/RESULTS.md)"
# (In the main build dir: the library is built already.)
"$YOTON_VENV/bin/python" bench/run.py --quick --no-write --build-dir "$build"
"$YOTON_VENV/bin/python" bench/py_bench.py --quick

# (set -e stops at the first failing stage, so reaching this line means all five passed)
echo "stages: 5 passed, 0 failed"
