//! Fuzz smoke on stable Rust: replays every committed seed (fuzz/corpus/<target>/) and every
//! regression input (fuzz/artifacts/<target>/) through the same bodies the cargo-fuzz targets
//! run (fuzz/src/bodies.rs), then a fixed number of deterministic mutations of each seed.
//! The long coverage-guided runs are in docs/testing.md ("Fuzzing").

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

/// Deterministic variants of `seed` (xorshift from a fixed start): a cut, a changed byte, or
/// eight inserted bytes at a random place.
fn variants(seed: &[u8], count: usize) -> impl Iterator<Item = Vec<u8>> + '_ {
    let mut state = 0x9E37_79B9_7F4A_7C15u64 ^ seed.len() as u64;
    (0..count).map(move |_| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let mut v = seed.to_vec();
        let at = (state >> 8) as usize % (v.len() + 1);
        match state % 3 {
            0 => v.truncate(at),
            1 if at < v.len() => v[at] ^= (state >> 32) as u8 | 1,
            _ => {
                let bytes = state.to_le_bytes();
                v.splice(at..at, bytes);
            }
        }
        v
    })
}

/// Mutations per seed: the receive target costs a loopback connection each.
fn mutations_per_seed(target: &str) -> usize {
    if target == "receive" {
        64
    } else {
        1024
    }
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
    let mut mutated = 0;
    for file in &seeds {
        let seed = std::fs::read(file).expect("readable input");
        for v in variants(&seed, mutations_per_seed(target)) {
            let outcome = std::panic::catch_unwind(|| body(&v));
            assert!(
                outcome.is_ok(),
                "{target}: a mutation of {} fails: {v:02x?}",
                file.display()
            );
            mutated += 1;
        }
    }
    eprintln!(
        "{target}: {} seeds and {mutated} mutations replayed in {:?}",
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
