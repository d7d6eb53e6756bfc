#!/bin/sh
# Interop tests: our C library (through tests/interop/peer.c) against the original Python
# yoton (pyzo==4.22.0). Exits non-zero on failure; pytest prints its summary line last.
#
# Environment:
#   YOTON_VENV           Python venv holding pyzo==4.22.0 and pytest (default: <repo>/venv;
#                        created and filled with pip when missing)
#   YOTON_INTEROP_PEER   the built peer (default: $YOTON_BUILD_DIR/yoton_interop_peer)
#   YOTON_CLI            the yoton command-line tool (default: next to the peer; test_cli.py)
#   YOTON_BUILD_DIR      CMake build directory used to find, or build, the peer (default: <repo>/build)
#   PYTHON               interpreter used to create the venv (default: python3)
#   Extra arguments are passed to pytest (e.g. -k close, -x).
set -eu

REPO=$(cd "$(dirname "$0")/../.." && pwd)
VENV=${YOTON_VENV:-$REPO/venv}
BUILD_DIR=${YOTON_BUILD_DIR:-$REPO/build}
PEER=${YOTON_INTEROP_PEER:-$BUILD_DIR/yoton_interop_peer}

if [ ! -x "$VENV/bin/python" ]; then
    echo "interop: creating venv $VENV" >&2
    "${PYTHON:-python3}" -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c 'import importlib.util as u, sys; sys.exit(0 if u.find_spec("pyzo") and u.find_spec("pytest") else 1)'; then
    echo "interop: installing pyzo==4.22.0 and pytest into $VENV" >&2
    "$VENV/bin/python" -m pip install -q pyzo==4.22.0 pytest
fi

if [ ! -x "$PEER" ]; then
    if [ -n "${YOTON_INTEROP_PEER:-}" ]; then
        echo "interop: YOTON_INTEROP_PEER=$PEER is not an executable" >&2
        exit 2
    fi
    echo "interop: building yoton_interop_peer in $BUILD_DIR" >&2
    cmake -S "$REPO" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$BUILD_DIR" -j2 --target yoton_interop_peer
fi
CLI=${YOTON_CLI:-$(dirname "$PEER")/yoton}
if [ ! -x "$CLI" ] && [ -z "${YOTON_CLI:-}" ]; then
    echo "interop: building the yoton tool in $BUILD_DIR" >&2
    cmake -S "$REPO" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$BUILD_DIR" -j2 --target yoton_cli
    CLI=$BUILD_DIR/yoton
fi

cd "$REPO"
export YOTON_INTEROP_PEER="$PEER"
export YOTON_CLI="$CLI"
export PYTHONDONTWRITEBYTECODE=1
exec "$VENV/bin/python" -m pytest -q -p no:cacheprovider tests/interop "$@"
