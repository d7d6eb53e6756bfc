"""Build hook: compile libyoton with cargo and bundle it, with cffi declarations from the header.

`pip install ./python` runs this from the repository checkout (the package lives in its
python/ folder): it builds the Rust library (`cargo build --release --lib`), copies
libyoton.so next to the Python modules, and turns include/yoton.h into cffi's out-of-line
ABI module yoton/_yoton_cffi.py (no C compiler step of our own; the library is loaded by
path relative to the package, so no LD_LIBRARY_PATH).

Environment: YOTON_SOURCE_DIR (the repository; default: this file's parent folder),
CARGO (default: cargo on PATH, else ~/.cargo/bin/cargo), CARGO_TARGET_DIR (default
<repository>/target), YOTON_CARGO_JOBS (default 2).
"""

import os
import shutil
import subprocess
import sys

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "_build"))
from cdef import header_to_cdef  # noqa: E402


def repo_root():
    root = os.environ.get("YOTON_SOURCE_DIR") or os.path.dirname(HERE)
    if not os.path.isfile(os.path.join(root, "Cargo.toml")):
        sys.exit("yoton: no Cargo.toml in %s; set YOTON_SOURCE_DIR to the repository" % root)
    return root


def cargo():
    exe = os.environ.get("CARGO") or shutil.which("cargo")
    if not exe:
        home = os.environ.get("CARGO_HOME", os.path.expanduser("~/.cargo"))
        exe = os.path.join(home, "bin", "cargo")
    if not os.path.exists(exe):
        sys.exit("yoton: cargo not found; install Rust (https://rustup.rs)")
    return exe


def build_library(root):
    target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(root, "target")
    jobs = os.environ.get("YOTON_CARGO_JOBS", "2")
    cmd = [cargo(), "build", "--release", "--lib", "--locked", "-j", jobs]
    print("yoton: " + " ".join(cmd), flush=True)
    subprocess.check_call(cmd, cwd=root, env=dict(os.environ, CARGO_TARGET_DIR=target))
    return os.path.join(target, "release", "libyoton.so")


def write_ffi_module(root, dest):
    import cffi

    with open(os.path.join(root, "include", "yoton.h"), encoding="utf-8") as f:
        cdef = header_to_cdef(f.read())
    ffibuilder = cffi.FFI()
    ffibuilder.cdef(cdef)
    ffibuilder.set_source("yoton._yoton_cffi", None)
    ffibuilder.emit_python_code(dest)


class BuildPy(build_py):
    def run(self):
        super().run()
        root = repo_root()
        pkg = os.path.join(self.build_lib, "yoton")
        os.makedirs(pkg, exist_ok=True)
        shutil.copyfile(build_library(root), os.path.join(pkg, "libyoton.so"))
        write_ffi_module(root, os.path.join(pkg, "_yoton_cffi.py"))


class BinaryDistribution(Distribution):
    """The wheel carries a native library: platform-specific, not pure."""

    def has_ext_modules(self):
        return True


setup(cmdclass={"build_py": BuildPy}, distclass=BinaryDistribution)
