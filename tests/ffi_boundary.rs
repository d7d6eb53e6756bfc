//! Every exported C function runs its whole body inside the panic boundary (issue 10 item 5).
//!
//! Since Rust 1.81 a panic that unwinds out of an `extern "C"` function aborts the host
//! process. src/ffi/util.rs provides the boundary (`guard`, `guard_void`, `guard_or`); this
//! test reads the sources of src/ffi/ and fails if the body of any `#[no_mangle]` function is
//! anything but a single call to one of them, so work done before or after the boundary (as
//! in the old `yoton_channel_free`) cannot come back unnoticed.

use std::fs;
use std::path::Path;

const BOUNDARIES: [&str; 3] = ["guard(", "guard_void(", "guard_or("];

/// Remove comments, and blank out string and char literal contents, keeping delimiters, so
/// brackets inside them do not count.
fn strip(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'"' => {
                out.push('"');
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                out.push('"');
                i += 1;
            }
            // A char literal ('x', '\n', '{'), not a lifetime ('a): closed two or three on.
            b'\'' if b.get(i + 2) == Some(&b'\'') || (b.get(i + 1) == Some(&b'\\')) => {
                let end = if b[i + 1] == b'\\' {
                    i + 1 + b[i + 1..].iter().skip(2).position(|&c| c == b'\'').unwrap() + 2
                } else {
                    i + 2
                };
                out.push_str("' '");
                i = end + 1;
            }
            c => {
                out.push(c as char);
                i += 1;
            }
        }
    }
    out
}

/// Index just past the bracket that closes the one at `open`.
fn matching(s: &[u8], open: usize) -> usize {
    let (o, c) = (s[open], if s[open] == b'(' { b')' } else { b'}' });
    let mut depth = 0;
    for (i, &ch) in s.iter().enumerate().skip(open) {
        if ch == o {
            depth += 1;
        } else if ch == c {
            depth -= 1;
            if depth == 0 {
                return i + 1;
            }
        }
    }
    panic!("unbalanced brackets");
}

/// (function name, body text) of every `#[no_mangle]` function in `src`.
fn exported_bodies(src: &str) -> Vec<(String, String)> {
    let s = strip(src);
    let bytes = s.as_bytes();
    let mut found = Vec::new();
    let mut at = 0;
    while let Some(pos) = s[at..].find("#[no_mangle]") {
        let start = at + pos;
        let fn_at = start + s[start..].find("fn ").expect("fn after #[no_mangle]");
        let name: String = s[fn_at + 3..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let params = fn_at + s[fn_at..].find('(').unwrap();
        let after_params = matching(bytes, params);
        let open = after_params + s[after_params..].find('{').unwrap();
        let close = matching(bytes, open);
        found.push((name, s[open + 1..close - 1].trim().to_string()));
        at = close;
    }
    found
}

/// Whether `body` is exactly one boundary call (with an optional trailing `;`).
fn is_wrapped(body: &str) -> bool {
    let Some(b) = BOUNDARIES.iter().find(|b| body.starts_with(*b)) else {
        return false;
    };
    let end = matching(body.as_bytes(), b.len() - 1);
    matches!(body[end..].trim(), "" | ";")
}

#[test]
fn every_exported_function_runs_inside_the_panic_boundary() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/ffi");
    let mut total = 0;
    let mut unwrapped = Vec::new();
    for entry in fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "rs") {
            for (name, body) in exported_bodies(&fs::read_to_string(&path).unwrap()) {
                total += 1;
                if !is_wrapped(&body) {
                    unwrapped.push(format!("{} in {}", name, path.display()));
                }
            }
        }
    }
    // The header declares about 170 functions: finding far fewer means the parser broke.
    assert!(total > 150, "found only {total} exported functions");
    assert!(
        unwrapped.is_empty(),
        "exported functions with work outside guard/guard_void/guard_or:\n  {}",
        unwrapped.join("\n  ")
    );
}

#[test]
fn the_checker_sees_work_outside_the_boundary() {
    let src = r#"
        #[no_mangle]
        pub extern "C" fn ok(x: *mut T) -> c_int { guard(|| { let s = "}"; Ok(()) }) }
        #[no_mangle]
        pub extern "C" fn before(x: *mut T) { if x.is_null() { return; } guard_void(|| f(x)); }
        #[no_mangle]
        pub extern "C" fn after(x: *mut T) -> c_int { let r = guard(|| Ok(())); r }
        #[no_mangle]
        pub extern "C" fn value() -> *const c_char { guard_or(c"".as_ptr(), || p('}')) }
    "#;
    let verdicts: Vec<(String, bool)> = exported_bodies(src)
        .into_iter()
        .map(|(n, b)| (n, is_wrapped(&b)))
        .collect();
    let expected = [
        ("ok", true),
        ("before", false),
        ("after", false),
        ("value", true),
    ];
    assert_eq!(verdicts, expected.map(|(n, w)| (n.to_string(), w)).to_vec());
}
