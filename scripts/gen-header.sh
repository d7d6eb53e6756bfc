#!/bin/sh
# Regenerate include/yoton.h from src/ffi with the pinned cbindgen (see cbindgen.toml).
#
#   scripts/gen-header.sh            # write include/yoton.h
#   scripts/gen-header.sh --check    # exit 1 if include/yoton.h is stale (writes nothing)
#
# cbindgen is looked up as $CBINDGEN, then on PATH, then in ~/.cargo/bin. Install the pinned
# version with:  cargo install cbindgen --version 0.29.0 --locked
set -eu

CBINDGEN_VERSION=0.29.0
root=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
header="$root/include/yoton.h"

check=0
case "${1:-}" in
    "") ;;
    --check) check=1 ;;
    *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

cbindgen=${CBINDGEN:-}
if [ -z "$cbindgen" ]; then
    if command -v cbindgen >/dev/null 2>&1; then
        cbindgen=$(command -v cbindgen)
    elif [ -x "${CARGO_HOME:-$HOME/.cargo}/bin/cbindgen" ]; then
        cbindgen="${CARGO_HOME:-$HOME/.cargo}/bin/cbindgen"
    else
        echo "error: cbindgen not found (looked at \$CBINDGEN, PATH and ${CARGO_HOME:-$HOME/.cargo}/bin)." >&2
        echo "       install the pinned version: cargo install cbindgen --version $CBINDGEN_VERSION --locked" >&2
        exit 1
    fi
fi

found=$("$cbindgen" --version 2>/dev/null | sed -n '1s/^cbindgen \([^ ]*\).*/\1/p') || found=""
if [ "$found" != "$CBINDGEN_VERSION" ]; then
    echo "error: $cbindgen is version '${found:-unknown}', but yoton.h is generated with cbindgen $CBINDGEN_VERSION." >&2
    echo "       install it: cargo install cbindgen --version $CBINDGEN_VERSION --locked" >&2
    echo "       (or point \$CBINDGEN at a $CBINDGEN_VERSION binary)" >&2
    exit 1
fi

tmp=$(mktemp "${TMPDIR:-/tmp}/yoton.h.XXXXXX")
trap 'rm -f "$tmp"' EXIT
trap 'exit 130' INT TERM
cd "$root"
# Input is the FFI module file, not the crate: only src/ffi is parsed (see cbindgen.toml).
"$cbindgen" --config cbindgen.toml --output "$tmp"

if [ "$check" = 1 ]; then
    if cmp -s "$tmp" "$header"; then
        echo "include/yoton.h is up to date"
        exit 0
    fi
    echo "include/yoton.h is stale: run scripts/gen-header.sh" >&2
    diff -u "$header" "$tmp" >&2 || true
    exit 1
fi

mkdir -p "$root/include"
if cmp -s "$tmp" "$header"; then
    echo "include/yoton.h unchanged"
else
    cp "$tmp" "$header"
    echo "wrote include/yoton.h (cbindgen $CBINDGEN_VERSION)"
fi
