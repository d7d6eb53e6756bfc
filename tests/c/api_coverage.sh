#!/bin/sh
# Every function declared in include/yoton.h is called by at least one C test (tests/c/*.c,
# built shared, static and as C++). Prints the ones that are not and fails.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
missing=0
total=0
for f in $(grep -oE '^[a-z_ *]*\byoton_[a-z0-9_]+\(' "$ROOT/include/yoton.h" | grep -oE 'yoton_[a-z0-9_]+' | sort -u); do
    total=$((total + 1))
    if ! grep -qw "$f" "$ROOT"/tests/c/*.c "$ROOT"/tests/c/*.h; then
        echo "not called by any C test: $f"
        missing=$((missing + 1))
    fi
done
echo "api_coverage: $((total - missing)) of $total functions called from tests/c"
[ "$missing" -eq 0 ]
