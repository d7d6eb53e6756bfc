#!/bin/sh
# Package test (installing: README.md): install yoton into a temporary prefix, move the prefix (the
# install tree must be relocatable), then build and run tests/package/consumer.c (C11) and
# consumer.cpp (C++17, the wrapper yoton.hpp) against it:
#   - find_package(Yoton) + Yoton::yoton_shared, Yoton::yoton_static, Yoton::yoton (both ways);
#   - pkg-config --cflags --libs yoton (shared) and yoton-static (libyoton.a: the binary must
#     have no NEEDED libyoton entry);
#   - the LICENSE is installed;
#   - the yoton command-line tool is installed in bin/ and runs from the moved prefix.
#
# Usage: tests/package/run.sh
# Environment:
#   YOTON_BUILD_DIR  an already built CMake build dir of yoton to install from (saves a cargo
#                    build; ctest's package_consumer test passes its own). Otherwise the project
#                    is configured and built in the temporary directory.
#   YOTON_KEEP_TMP=1 keep the temporary directory (its path is printed).
#   CMAKE, CC, CXX, PKG_CONFIG  tools to use (default: cmake, cc, c++, pkg-config).
# Prints PASS/FAIL lines; exits non-zero if anything failed. Every command is time-bounded.
set -u

here=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
root=$(CDPATH= cd -- "$here/../.." && pwd)
CMAKE=${CMAKE:-cmake}
CC=${CC:-cc}
CXX=${CXX:-c++}
PKG_CONFIG=${PKG_CONFIG:-pkg-config}

failures=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
finish() {
    if [ "$failures" -eq 0 ]; then
        echo "package test: all checks passed"
        exit 0
    fi
    echo "package test: $failures check(s) FAILED"
    exit 1
}
abort() { fail "$*"; finish; }

# bounded LIMIT LOG CMD...: run CMD with a time limit, output to LOG; on failure show its tail.
bounded() {
    limit=$1 log=$2
    shift 2
    if timeout -k 10 "$limit" "$@" >"$log" 2>&1; then
        return 0
    else
        rc=$?
        [ "$rc" -eq 124 ] && echo "  (timed out after ${limit}s)"
        echo "  \$ $*  -> exit $rc; last lines of $log:"
        tail -n 30 "$log" | sed 's/^/  | /'
        return 1
    fi
}

for tool in "$CMAKE" "$CC" "$CXX" "$PKG_CONFIG" readelf timeout; do
    command -v "$tool" >/dev/null 2>&1 || abort "required tool not found: $tool"
done

version=$(sed -n 's/^version[[:space:]]*=[[:space:]]*"\([^"]*\)".*/\1/p' "$root/Cargo.toml" | head -n 1)
[ -n "$version" ] || abort "cannot read the version from $root/Cargo.toml"
major=${version%%.*}

work=$(mktemp -d "${TMPDIR:-/tmp}/yoton-package.XXXXXX") || abort "mktemp failed"
cleanup() {
    if [ "${YOTON_KEEP_TMP:-0}" = 1 ]; then
        echo "kept $work"
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
echo "package test: yoton $version, work dir $work"

# --- 1. build (or reuse) and install --------------------------------------------------------
if [ -n "${YOTON_BUILD_DIR:-}" ]; then
    build=$YOTON_BUILD_DIR
    [ -f "$build/CMakeCache.txt" ] || abort "YOTON_BUILD_DIR=$build is not a CMake build directory"
    echo "using existing build dir $build"
else
    build=$work/build
    bounded 600 "$work/configure.log" "$CMAKE" -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release \
        -DYOTON_BUILD_TESTS=OFF -DYOTON_BUILD_EXAMPLES=OFF ||
        abort "configure yoton"
    bounded 3600 "$work/build.log" "$CMAKE" --build "$build" --parallel "${YOTON_JOBS:-2}" ||
        abort "build yoton"
fi

bounded 300 "$work/install.log" "$CMAKE" --install "$build" --prefix "$work/stage" ||
    abort "cmake --install into $work/stage"
# Move the tree: everything below must work from the new place (relocatable install).
mv "$work/stage" "$work/prefix" || abort "move the install tree"
prefix=$work/prefix
pass "installed into a temporary prefix and moved it"

# --- 2. installed files ---------------------------------------------------------------------
config=$(find "$prefix" -path '*/cmake/Yoton/YotonConfig.cmake' | head -n 1)
[ -n "$config" ] || abort "no cmake/Yoton/YotonConfig.cmake under $prefix"
libdir=$(CDPATH= cd -- "$(dirname -- "$config")/../.." && pwd)
header=$(find "$prefix" -name yoton.h | head -n 1)

check_file() { # what path test-flag
    if [ "$3" "$2" ]; then pass "installed $1"; else fail "missing $1 ($2)"; fi
}
check_file "header" "${header:-$prefix/include/yoton.h}" -f
check_file "C++ header yoton.hpp" "$(dirname "${header:-$prefix/include/yoton.h}")/yoton.hpp" -f
check_file "libyoton.so.$version" "$libdir/libyoton.so.$version" -f
check_file "symlink libyoton.so.$major" "$libdir/libyoton.so.$major" -h
check_file "symlink libyoton.so" "$libdir/libyoton.so" -h
check_file "libyoton.a" "$libdir/libyoton.a" -f
check_file "YotonConfigVersion.cmake" "$libdir/cmake/Yoton/YotonConfigVersion.cmake" -f
check_file "pkgconfig/yoton.pc" "$libdir/pkgconfig/yoton.pc" -f
check_file "pkgconfig/yoton-static.pc" "$libdir/pkgconfig/yoton-static.pc" -f
check_file "LICENSE" "$prefix/share/doc/yoton/LICENSE" -f
check_file "bin/yoton" "$prefix/bin/yoton" -x
if [ "$(timeout 10 "$prefix/bin/yoton" --version 2>&1)" = "yoton $version" ]; then
    pass "the installed yoton tool runs (yoton --version)"
else
    fail "the installed yoton tool does not run: $(timeout 10 "$prefix/bin/yoton" --version 2>&1 | head -n 2)"
fi
if [ "$(readlink "$libdir/libyoton.so.$major" 2>/dev/null)" = "libyoton.so.$version" ] &&
    [ "$(readlink "$libdir/libyoton.so" 2>/dev/null)" = "libyoton.so.$major" ]; then
    pass "symlinks libyoton.so -> libyoton.so.$major -> libyoton.so.$version"
else
    fail "symlinks: libyoton.so -> $(readlink "$libdir/libyoton.so" 2>/dev/null)," \
        "libyoton.so.$major -> $(readlink "$libdir/libyoton.so.$major" 2>/dev/null)"
fi
if readelf -d "$libdir/libyoton.so" 2>/dev/null | grep -q "Library soname: \[libyoton.so.$major\]"; then
    pass "libyoton.so has SONAME libyoton.so.$major"
else
    fail "libyoton.so SONAME: $(readelf -d "$libdir/libyoton.so" 2>&1 | grep -i soname || echo none)"
fi
# Shipped stripped (issue 11: the shared library was 8.6 MB with debug info for 1 MB of code),
# and an archive the system's binutils can read (thin-LTO objects were LLVM bitcode).
if readelf -S "$libdir/libyoton.so.$version" 2>/dev/null | grep -q '\.debug_info'; then
    fail "libyoton.so.$version carries debug info"
else
    pass "libyoton.so.$version is stripped ($(wc -c <"$libdir/libyoton.so.$version") bytes)"
fi
if readelf -S "$libdir/libyoton.so.$version" 2>/dev/null | grep -q '\.gnu_debuglink'; then
    pass "libyoton.so.$version points to its separate debug info (.gnu_debuglink)"
else
    fail "libyoton.so.$version has no .gnu_debuglink"
fi
if command -v nm >/dev/null 2>&1; then
    if nm "$libdir/libyoton.a" 2>/dev/null | grep -q ' T yoton_context_new$'; then
        pass "nm reads libyoton.a (yoton_context_new is defined)"
    else
        fail "nm libyoton.a shows no yoton_context_new (LLVM bitcode objects?)"
    fi
fi
if grep -l -e "$work/stage" -e "$build" "$libdir"/cmake/Yoton/*.cmake "$libdir"/pkgconfig/yoton*.pc \
    >"$work/abs-paths.txt" 2>/dev/null; then
    fail "install tree not relocatable: absolute paths in $(tr '\n' ' ' <"$work/abs-paths.txt")"
else
    pass "no absolute install or build paths in the package files"
fi

# --- 3. find_package(Yoton) consumers -------------------------------------------------------
# needed_libyoton EXE: the libyoton entry in EXE's NEEDED list ("" if none).
needed_libyoton() {
    readelf -d "$1" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(libyoton[^]]*\)\].*/\1/p'
}

# consumer NAME LINKAGE(shared|static) CMAKE-ARGS...
consumer() {
    name=$1 linkage=$2
    shift 2
    dir=$work/consumer-$name
    if ! bounded 300 "$dir.configure.log" "$CMAKE" -S "$here" -B "$dir" \
        -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF "$@"; then
        fail "find_package consumer ($name): configure"
        return
    fi
    found=$(sed -n 's/^Yoton_DIR:PATH=//p' "$dir/CMakeCache.txt")
    if [ "$found" != "$libdir/cmake/Yoton" ]; then
        fail "find_package consumer ($name): found Yoton in '$found', not in $libdir/cmake/Yoton"
        return
    fi
    if ! bounded 300 "$dir.build.log" "$CMAKE" --build "$dir"; then
        fail "find_package consumer ($name): build"
        return
    fi
    run_consumer "find_package consumer ($name)" "$dir/consumer" "$linkage"
    run_consumer "find_package C++ consumer ($name)" "$dir/consumer_cxx" "$linkage"
}

# run_consumer LABEL EXE LINKAGE: run EXE, check its output and how it links libyoton.
run_consumer() {
    label=$1 exe=$2 linkage=$3
    needed=$(needed_libyoton "$exe")
    if [ "$linkage" = shared ]; then
        if [ "$needed" != "libyoton.so.$major" ]; then
            fail "$label: expected NEEDED libyoton.so.$major, got '${needed:-none}'"
            return
        fi
        out=$(LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" timeout -k 5 30 "$exe" 2>&1)
    else
        if [ -n "$needed" ]; then
            fail "$label: expected a static link, but it needs $needed"
            return
        fi
        out=$(env -u LD_LIBRARY_PATH timeout -k 5 30 "$exe" 2>&1)
    fi
    rc=$?
    case "$out" in
        *"yoton $version "*)
            if [ "$rc" -eq 0 ]; then
                pass "$label: runs ($linkage): $out"
                return
            fi ;;
    esac
    fail "$label: exit $rc, output: $out"
}

consumer shared shared -DCONSUMER_LINK=shared
consumer static static -DCONSUMER_LINK=static
consumer alias-default shared -DCONSUMER_LINK=yoton
consumer alias-use-static static -DCONSUMER_LINK=yoton -DYOTON_USE_STATIC=ON

# --- 4. pkg-config consumers ----------------------------------------------------------------
PKG_CONFIG_PATH="$libdir/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
export PKG_CONFIG_PATH
pc_version=$(timeout 30 "$PKG_CONFIG" --modversion yoton 2>&1)
if [ "$pc_version" = "$version" ]; then
    pass "pkg-config --modversion yoton = $version"
else
    fail "pkg-config --modversion yoton: $pc_version"
fi

if flags=$(timeout 30 "$PKG_CONFIG" --cflags --libs yoton 2>&1); then
    # shellcheck disable=SC2086 # flags are words
    if bounded 120 "$work/pc-shared.log" "$CC" -std=c11 -o "$work/consumer-pc" "$here/consumer.c" $flags; then
        run_consumer "pkg-config consumer" "$work/consumer-pc" shared
    else
        fail "pkg-config consumer: compile with: $flags"
    fi
else
    fail "pkg-config --cflags --libs yoton: $flags"
fi

# The C++ wrapper through pkg-config: the same flags, a C++17 compiler.
if flags=$(timeout 30 "$PKG_CONFIG" --cflags --libs yoton 2>&1); then
    # shellcheck disable=SC2086 # flags are words
    if bounded 120 "$work/pc-cxx.log" "$CXX" -std=c++17 -o "$work/consumer-pc-cxx" "$here/consumer.cpp" $flags; then
        run_consumer "pkg-config C++ consumer" "$work/consumer-pc-cxx" shared
    else
        fail "pkg-config C++ consumer: compile with: $flags"
    fi
fi

# Static through pkg-config: yoton-static.pc names libyoton.a by its path (plus the system
# libraries), so the link is static although libyoton.so sits in the same directory.
pc_version=$(timeout 30 "$PKG_CONFIG" --modversion yoton-static 2>&1)
if [ "$pc_version" = "$version" ]; then
    pass "pkg-config --modversion yoton-static = $version"
else
    fail "pkg-config --modversion yoton-static: $pc_version"
fi
if flags=$(timeout 30 "$PKG_CONFIG" --cflags --libs yoton-static 2>&1); then
    # shellcheck disable=SC2086 # flags are words
    if bounded 120 "$work/pc-static.log" "$CC" -std=c11 -o "$work/consumer-pc-static" "$here/consumer.c" $flags; then
        run_consumer "pkg-config static consumer (yoton-static: $flags)" "$work/consumer-pc-static" static
    else
        fail "pkg-config static consumer: compile with: $flags"
    fi
else
    fail "pkg-config --cflags --libs yoton-static: $flags"
fi

finish
