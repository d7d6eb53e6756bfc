# shellcheck shell=sh
# Set-up shared by scripts/demo.sh and scripts/test.sh (sourced, not run; POSIX sh):
#
#   root=/path/to/repo; . "$root/scripts/setup-env.sh"; yoton_setup demo|test
#
# Checks what the script needs and installs what is missing, without root:
#   demo, test  cargo (on PATH or in ~/.cargo/bin; not installed: use rustup), a C compiler,
#               cmake >= 3.16 (the system one, else pip-installed into the venv);
#   test        a C++ compiler; rustfmt and clippy (rustup component add, when missing);
#               pkg-config (the system one, else PyPI's pkgconf in the venv);
#               pyzo==4.22.0, pytest and the Python package's build tools (cffi,
#               setuptools, wheel) in the venv; cbindgen 0.29.0
#               (cargo install cbindgen --version 0.29.0 --locked, into ~/.cargo/bin).
# The venv is $YOTON_VENV (default <repo>/venv), created with $PYTHON (default python3) when
# needed; its bin/ goes first on PATH when a tool comes from it. Says nothing when everything
# is already there; running it again installs nothing new.
#
# Optional system libraries are not installed (that needs root): without GLib (libglib2.0-dev)
# CMake skips the glib_embed example, without libzmq/nng (libzmq3-dev, libnng-dev) the
# benchmark smoke run skips those comparisons; each says so on one line.

YOTON_CBINDGEN_VERSION=0.29.0
YOTON_PYZO_VERSION=4.22.0

_yoton_say() { echo "== setup: $*"; }
_yoton_die() {
    echo "== setup: error: $*" >&2
    exit 1
}

# _yoton_cmake_ok CMAKE: CMAKE runs and is version >= 3.16.
_yoton_cmake_ok() {
    _v=$("$1" --version 2>/dev/null | sed -n '1s/^cmake version \([0-9][0-9]*\)\.\([0-9][0-9]*\).*/\1 \2/p') || return 1
    [ -n "$_v" ] || return 1
    # shellcheck disable=SC2086 # two numbers, split on purpose
    set -- $_v
    [ "$1" -gt 3 ] || { [ "$1" -eq 3 ] && [ "$2" -ge 16 ]; }
}

# _yoton_venv: create the venv if it has no python yet.
_yoton_venv() {
    [ -x "$YOTON_VENV/bin/python" ] && return 0
    _yoton_say "creating the Python venv $YOTON_VENV"
    _py=${PYTHON:-python3}
    command -v "$_py" >/dev/null 2>&1 || _yoton_die "$_py not found: install Python 3 (with pip)"
    if ! "$_py" -m venv "$YOTON_VENV" >/dev/null 2>&1; then
        # No ensurepip (Debian without python3-venv): a venv without pip, filled by the
        # interpreter's own pip (see _yoton_pip).
        "$_py" -m venv --without-pip "$YOTON_VENV" ||
            _yoton_die "cannot create a venv at $YOTON_VENV (install python3-venv, or set YOTON_VENV to an existing venv)"
    fi
}

# _yoton_pip ARGS...: pip install ARGS into the venv (quietly).
_yoton_pip() {
    _yoton_venv
    if "$YOTON_VENV/bin/python" -m pip --version >/dev/null 2>&1; then
        "$YOTON_VENV/bin/python" -m pip install -q --disable-pip-version-check "$@"
    elif "${PYTHON:-python3}" -m pip --version >/dev/null 2>&1; then
        "${PYTHON:-python3}" -m pip --python "$YOTON_VENV/bin/python" install -q --disable-pip-version-check "$@"
    else
        _yoton_die "no pip for $YOTON_VENV (install python3-pip or python3-venv)"
    fi || _yoton_die "pip install $* failed"
}

# _yoton_use_venv_bin: put the venv's bin/ first on PATH (once).
_yoton_use_venv_bin() {
    case ":$PATH:" in
        ":$YOTON_VENV/bin:"*) ;;
        *) PATH="$YOTON_VENV/bin:$PATH"; export PATH ;;
    esac
}

_yoton_pkg_config_ok() {
    command -v pkg-config >/dev/null 2>&1 && pkg-config --version >/dev/null 2>&1
}

# _yoton_pkgconf_search_path: the system's .pc directories, for PyPI's pkgconf (whose built-in
# search path is /usr/local only; without a path it also warns on every call).
_yoton_pkgconf_search_path() {
    _ma=$(cc -print-multiarch 2>/dev/null) || _ma=
    _dirs=
    for _d in ${_ma:+/usr/local/lib/$_ma} /usr/local/lib64 /usr/local/lib /usr/local/share \
        ${_ma:+/usr/lib/$_ma} /usr/lib64 /usr/lib /usr/share; do
        [ -d "$_d/pkgconfig" ] && _dirs="$_dirs${_dirs:+:}$_d/pkgconfig"
    done
    PKG_CONFIG_LIBDIR=${_dirs:-/usr/lib/pkgconfig}
    PKG_CONFIG_SYSTEM_INCLUDE_PATH=${PKG_CONFIG_SYSTEM_INCLUDE_PATH:-/usr/include}
    PKG_CONFIG_SYSTEM_LIBRARY_PATH=${PKG_CONFIG_SYSTEM_LIBRARY_PATH:-${_ma:+/usr/lib/$_ma:/lib/$_ma:}/usr/lib64:/usr/lib:/lib64:/lib}
    export PKG_CONFIG_LIBDIR PKG_CONFIG_SYSTEM_INCLUDE_PATH PKG_CONFIG_SYSTEM_LIBRARY_PATH
}

# yoton_setup demo|test
yoton_setup() {
    case "${1:-}" in
        demo | test) ;;
        *) _yoton_die "usage: yoton_setup demo|test" ;;
    esac
    YOTON_VENV=${YOTON_VENV:-$root/venv}
    export YOTON_VENV
    _cargo_bin=${CARGO_INSTALL_ROOT:-${CARGO_HOME:-$HOME/.cargo}}/bin

    # Rust: rustup's cargo may be installed but not on PATH (a shell without ~/.cargo/env).
    if ! command -v cargo >/dev/null 2>&1; then
        [ -x "${CARGO_HOME:-$HOME/.cargo}/bin/cargo" ] ||
            _yoton_die "cargo not found: install Rust (https://rustup.rs), then run this again"
        PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
        export PATH
    fi
    command -v cc >/dev/null 2>&1 || _yoton_die "no C compiler (cc): install gcc (Debian: gcc or build-essential)"
    # (binutils come with gcc; CMake strips the shipped libraries with objcopy)
    command -v objcopy >/dev/null 2>&1 || _yoton_die "no objcopy: install binutils"
    if [ "$1" = test ]; then
        command -v c++ >/dev/null 2>&1 || _yoton_die "no C++ compiler (c++): install g++"
    fi

    # CMake >= 3.16: the system's, else PyPI's (wheels with the cmake, ctest and cpack binaries).
    if ! _yoton_cmake_ok cmake; then
        if ! _yoton_cmake_ok "$YOTON_VENV/bin/cmake"; then
            _yoton_venv
            _yoton_say "no cmake >= 3.16 found: installing cmake from PyPI into $YOTON_VENV"
            _yoton_pip "cmake>=3.16"
        fi
        _yoton_use_venv_bin
        _yoton_cmake_ok cmake || _yoton_die "cmake from $YOTON_VENV does not work"
    fi

    [ "$1" = test ] || return 0

    # rustfmt and clippy (the suite checks formatting and lints): rustup's default profile has
    # them; a minimal profile does not.
    for _comp in rustfmt clippy; do
        _sub=fmt
        [ "$_comp" = clippy ] && _sub=clippy
        if ! cargo "$_sub" --version >/dev/null 2>&1; then
            command -v rustup >/dev/null 2>&1 ||
                _yoton_die "cargo $_sub not found and no rustup to add it: install the $_comp component"
            _yoton_say "adding the Rust component $_comp (rustup component add $_comp)"
            rustup component add "$_comp" >/dev/null 2>&1 || _yoton_die "rustup component add $_comp failed"
        fi
    done

    # pkg-config (the package test, CMake's GLib lookup, the benchmark Makefile).
    if ! _yoton_pkg_config_ok; then
        if [ ! -x "$YOTON_VENV/bin/pkg-config" ]; then
            _yoton_venv
            _yoton_say "no pkg-config found: installing pkgconf from PyPI into $YOTON_VENV"
            _yoton_pip pkgconf
        fi
        _yoton_use_venv_bin
        _yoton_pkg_config_ok || _yoton_die "pkg-config from $YOTON_VENV does not work"
    fi
    case "$(command -v pkg-config)" in
        "$YOTON_VENV/bin/"*) [ -n "${PKG_CONFIG_LIBDIR:-}" ] || _yoton_pkgconf_search_path ;;
    esac

    # The reference peer of the interop tests and the test runner.
    if ! "$YOTON_VENV/bin/python" -c "
import importlib.metadata as m, importlib.util as u, sys
sys.exit(0 if m.version('pyzo') == '$YOTON_PYZO_VERSION' and u.find_spec('pytest') else 1)" 2>/dev/null; then
        _yoton_venv
        _yoton_say "installing pyzo==$YOTON_PYZO_VERSION and pytest into $YOTON_VENV"
        _yoton_pip "pyzo==$YOTON_PYZO_VERSION" pytest
    fi

    # The Python package's build (python/setup.py, run without build isolation by test.sh).
    if ! "$YOTON_VENV/bin/python" -c "
import importlib.util as u, sys
sys.exit(0 if all(u.find_spec(m) for m in ('cffi', 'setuptools', 'wheel')) else 1)" 2>/dev/null; then
        _yoton_venv
        _yoton_say "installing cffi, setuptools and wheel into $YOTON_VENV (the Python package's build)"
        _yoton_pip "cffi>=1.15" "setuptools>=61" wheel
    fi

    # cbindgen for the header check (tests/header_fresh.rs looks on PATH, then ~/.cargo/bin).
    _cb=
    for _c in "$(command -v cbindgen 2>/dev/null)" "$_cargo_bin/cbindgen"; do
        if [ -n "$_c" ] && [ "$("$_c" --version 2>/dev/null)" = "cbindgen $YOTON_CBINDGEN_VERSION" ]; then
            _cb=$_c
            break
        fi
    done
    if [ -z "$_cb" ]; then
        _yoton_say "installing cbindgen $YOTON_CBINDGEN_VERSION (cargo install, takes a few minutes)"
        cargo install --quiet cbindgen --version "$YOTON_CBINDGEN_VERSION" --locked ||
            _yoton_die "cargo install cbindgen --version $YOTON_CBINDGEN_VERSION --locked failed"
        _cb=$_cargo_bin/cbindgen
    fi
    case ":$PATH:" in
        *":${_cb%/cbindgen}:"*) ;;
        *) PATH="${_cb%/cbindgen}:$PATH"; export PATH ;;
    esac
    return 0
}
