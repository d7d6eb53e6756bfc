//! The committed `include/yoton.h` must be exactly what the pinned cbindgen generates from
//! `src/ffi`. Regenerate with `scripts/gen-header.sh`.
//!
//! cbindgen is looked up as `$CBINDGEN`, then on `PATH`, then in `$CARGO_HOME/bin`
//! (`~/.cargo/bin`). If it is missing the test fails, unless `YOTON_SKIP_HEADER_CHECK=1`.

use std::path::{Path, PathBuf};
use std::process::Command;

const CBINDGEN_VERSION: &str = "0.29.0";
const INSTALL_HINT: &str = "install it with: cargo install cbindgen --version 0.29.0 --locked \
                            (or set YOTON_SKIP_HEADER_CHECK=1 to skip this check)";

/// The version cbindgen reports ("cbindgen 0.29.0"), or None if it cannot be run.
fn version_of(program: &Path) -> Option<String> {
    let out = Command::new(program).arg("--version").output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let first = text.lines().next()?.trim();
    first
        .strip_prefix("cbindgen ")
        .map(|v| v.trim().to_string())
}

/// Candidates in order: $CBINDGEN, PATH, $CARGO_HOME/bin, ~/.cargo/bin.
fn candidates() -> Vec<PathBuf> {
    let mut list = Vec::new();
    if let Some(explicit) = std::env::var_os("CBINDGEN") {
        list.push(PathBuf::from(explicit));
        return list;
    }
    if let Some(path) = std::env::var_os("PATH") {
        list.extend(std::env::split_paths(&path).map(|dir| dir.join("cbindgen")));
    }
    if let Some(cargo_home) = std::env::var_os("CARGO_HOME") {
        list.push(PathBuf::from(cargo_home).join("bin").join("cbindgen"));
    }
    if let Some(home) = std::env::var_os("HOME") {
        list.push(
            PathBuf::from(home)
                .join(".cargo")
                .join("bin")
                .join("cbindgen"),
        );
    }
    list
}

/// The first cbindgen found, with its version; Err(message) if none can be run.
fn find_cbindgen() -> Result<(PathBuf, String), String> {
    let mut seen = Vec::new();
    for candidate in candidates() {
        if let Some(version) = version_of(&candidate) {
            if version == CBINDGEN_VERSION {
                return Ok((candidate, version));
            }
            seen.push(format!("{} is version {version}", candidate.display()));
        }
    }
    if seen.is_empty() {
        Err(format!(
            "cbindgen not found ($CBINDGEN, PATH, ~/.cargo/bin); {INSTALL_HINT}"
        ))
    } else {
        Err(format!(
            "cbindgen {CBINDGEN_VERSION} not found ({}); {INSTALL_HINT}",
            seen.join(", ")
        ))
    }
}

#[test]
fn header_is_up_to_date() {
    if std::env::var("YOTON_SKIP_HEADER_CHECK").as_deref() == Ok("1") {
        eprintln!("header_fresh: skipped (YOTON_SKIP_HEADER_CHECK=1)");
        return;
    }
    let (cbindgen, _version) = match find_cbindgen() {
        Ok(found) => found,
        Err(message) => panic!("{message}"),
    };

    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let committed_path = root.join("include").join("yoton.h");
    let generated_path = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("yoton.h.fresh-{}", std::process::id()));

    // Same invocation as scripts/gen-header.sh.
    let out = Command::new(&cbindgen)
        .current_dir(root)
        .args(["--quiet", "--config", "cbindgen.toml", "--output"])
        .arg(&generated_path)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", cbindgen.display()));
    assert!(
        out.status.success(),
        "{} failed ({}):\n{}",
        cbindgen.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );

    let generated = std::fs::read(&generated_path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", generated_path.display()));
    let _ = std::fs::remove_file(&generated_path);
    let committed = std::fs::read(&committed_path).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e}; run scripts/gen-header.sh",
            committed_path.display()
        )
    });

    if generated != committed {
        let generated = String::from_utf8_lossy(&generated);
        let committed = String::from_utf8_lossy(&committed);
        let first_diff = generated
            .lines()
            .zip(committed.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| generated.lines().count().min(committed.lines().count()));
        panic!(
            "include/yoton.h is stale: it differs from what cbindgen {CBINDGEN_VERSION} generates \
             from src/ffi (first difference at line {}).\n  committed: {:?}\n  generated: {:?}\n\
             Run scripts/gen-header.sh and commit include/yoton.h.",
            first_diff + 1,
            committed.lines().nth(first_diff).unwrap_or("<end of file>"),
            generated.lines().nth(first_diff).unwrap_or("<end of file>"),
        );
    }
}
