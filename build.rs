//! Build script: gives the cdylib a real SONAME on Linux (include/yoton.h's preamble, "Versioning").
//!
//! `libyoton.so` gets `SONAME libyoton.so.<MAJOR>`, so the installed
//! `libyoton.so.<MAJOR>.<MINOR>.<PATCH>` is found through the `libyoton.so.<MAJOR>` symlink and
//! an incompatible major version is never loaded by mistake. The C header is NOT generated
//! here: it is committed (see scripts/gen-header.sh and tests/header_fresh.rs).

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    // The target, not the host this script runs on (cross-compiling).
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if target_os == "linux" {
        let major =
            std::env::var("CARGO_PKG_VERSION_MAJOR").expect("cargo sets CARGO_PKG_VERSION_MAJOR");
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libyoton.so.{major}");
    }
}
