//! Fuzz smoke on stable Rust: replays every committed seed (fuzz/corpus/<target>/) and every
//! regression input (fuzz/artifacts/<target>/) through the same bodies the cargo-fuzz targets
//! run (fuzz/src/bodies.rs). The long coverage-guided runs are in docs/testing.md ("Fuzzing").

mod common;

#[path = "../fuzz/src/bodies.rs"]
mod bodies;

use std::path::Path;
use std::time::Instant;

/// The input files of `target` under fuzz/<dir>/ (none when the directory does not exist).
fn inputs(dir: &str, target: &str) -> Vec<std::path::PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(dir)
        .join(target);
    let Ok(entries) = std::fs::read_dir(&path) else {
        return Vec::new();
    };
    let mut files: Vec<_> = entries
        .map(|e| e.expect("readable corpus directory").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

fn replay(target: &str) {
    common::deadlock_watch();
    let (_, body) = bodies::TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .expect("a known target");
    let seeds = inputs("corpus", target);
    assert!(!seeds.is_empty(), "no committed seeds for {target}");
    let start = Instant::now();
    for file in seeds.iter().chain(&inputs("artifacts", target)) {
        let data = std::fs::read(file).expect("readable input");
        let outcome = std::panic::catch_unwind(|| body(&data));
        assert!(outcome.is_ok(), "{target}: {} fails", file.display());
    }
    eprintln!(
        "{target}: {} seeds replayed in {:?}",
        seeds.len(),
        start.elapsed()
    );
}

#[test]
fn header_corpus() {
    replay("header");
}

#[test]
fn handshake_corpus() {
    replay("handshake");
}

#[test]
fn object_corpus() {
    replay("object");
}

#[test]
fn address_corpus() {
    replay("address");
}

#[test]
fn receive_corpus() {
    replay("receive");
}
