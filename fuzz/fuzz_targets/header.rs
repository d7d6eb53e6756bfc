#![no_main]

// The body is shared with the stable-Rust corpus replay in tests/fuzz_corpus.rs.
#[path = "../src/bodies.rs"]
#[allow(dead_code)]
mod bodies;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::header(data));
