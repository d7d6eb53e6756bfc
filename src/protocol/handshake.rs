//! Handshake lines (docs/protocol.md §3.4–3.7).

use super::hash::is_py_space;

/// A valid line is under 64 bytes; a longer one is refused (docs/protocol.md §13 #3).
pub const MAX_LINE: usize = 256;
/// Host's reply to a peer whose line does not start with `YOTON!`.
pub const ERROR_NOT_YOTON: &[u8] = b"ERROR: this is Yoton.\r\n";
/// Host's reply to a `YOTON!` line whose id or pid does not parse.
pub const ERROR_BAD_ID: &[u8] = b"ERROR: could not parse id.\r\n";

/// Prefix of every handshake line.
const PREFIX: &str = "YOTON!";

/// Why a received handshake line was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineError {
    /// Empty (EOF or timeout before anything arrived).
    Empty,
    /// Does not start with `YOTON!`.
    NotYoton,
    /// Starts with `YOTON!` but the id or pid does not parse.
    BadId,
}

/// `"YOTON!" + 16 lowercase hex digits + "." + pid + "\r\n"`.
pub fn encode_line(id: u64, pid: u64) -> String {
    format!("{PREFIX}{id:016x}.{pid}\r\n")
}

/// Parse a received line (bytes as read, including the CRLF if present). Returns (id, pid).
/// Lenient like Python's int(): surrounding whitespace, sign, `0x` prefix on the id, `_` separators.
pub fn parse_line(line: &[u8]) -> Result<(u64, u64), LineError> {
    // The original decodes with errors='ignore': invalid UTF-8 bytes simply vanish.
    let text = decode_utf8_ignore(line);
    if text.is_empty() {
        return Err(LineError::Empty);
    }
    let rest = text.strip_prefix(PREFIX).ok_or(LineError::NotYoton)?;
    let (id_text, pid_text) = rest.split_once('.').ok_or(LineError::BadId)?;
    // Python would accept negative values; ids and pids are u64 here, so they are refused.
    let to_u64 = |n: Option<PyInt>| match n {
        Some(PyInt {
            negative: false,
            magnitude: Some(m),
        }) => Ok(m),
        Some(PyInt {
            negative: true,
            magnitude: Some(0),
        }) => Ok(0), // "-0" is 0
        _ => Err(LineError::BadId),
    };
    let id = to_u64(parse_py_int(id_text, 16))?;
    let pid = to_u64(parse_py_int(pid_text, 10))?;
    Ok((id, pid))
}

/// `bytes.decode('utf-8', errors='ignore')`.
fn decode_utf8_ignore(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
    }
    out
}

/// An integer as Python's `int(text, base)` reads it: a sign and a magnitude
/// (`None` when the magnitude does not fit in a u64, which Python would still accept).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PyInt {
    pub negative: bool,
    pub magnitude: Option<u64>,
}

impl PyInt {
    /// The value as an i128; `None` when the magnitude overflowed u64.
    pub fn to_i128(self) -> Option<i128> {
        let m = self.magnitude? as i128;
        Some(if self.negative { -m } else { m })
    }
}

/// CPython's default `sys.get_int_max_str_digits()`.
const PY_MAX_STR_DIGITS: usize = 4300;

/// Python's `int(text, radix)` for radix 10 or 16, `None` when Python raises ValueError.
/// Accepted: surrounding Python whitespace, one `+`/`-` sign, for radix 16 an optional
/// `0x`/`0X` prefix (optionally followed by one `_`), and single `_` between digits.
/// Not accepted (unlike Python): non-ASCII Unicode decimal digits.
pub(crate) fn parse_py_int(text: &str, radix: u32) -> Option<PyInt> {
    let s = text.trim_matches(is_py_space);
    let (negative, s) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let mut s = s;
    if radix == 16 && (s.starts_with("0x") || s.starts_with("0X")) {
        s = &s[2..];
        // PEP 515: one underscore may follow the base prefix ("0x_ff").
        s = s.strip_prefix('_').unwrap_or(s);
    }
    let mut magnitude: Option<u64> = Some(0);
    let mut digits = 0usize;
    let mut after_underscore = false;
    for c in s.chars() {
        if c == '_' {
            // Underscores only between digits, never two in a row or first.
            if digits == 0 || after_underscore {
                return None;
            }
            after_underscore = true;
            continue;
        }
        let d = c.to_digit(radix)?;
        magnitude = magnitude
            .and_then(|m| m.checked_mul(radix as u64))
            .and_then(|m| m.checked_add(d as u64));
        digits += 1;
        after_underscore = false;
    }
    if digits == 0 || after_underscore {
        return None;
    }
    // CPython 3.11+ refuses more than 4300 digits in a non-power-of-two base (int_max_str_digits).
    if radix == 10 && digits > PY_MAX_STR_DIGITS {
        return None;
    }
    Some(PyInt {
        negative,
        magnitude,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: u64 = 0x0123_4567_89ab_cdef;

    #[test]
    fn encode_example_of_section_3_4() {
        let line = encode_line(ID, 4242);
        assert_eq!(line, "YOTON!0123456789abcdef.4242\r\n");
        let hex: String = line.bytes().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "594f544f4e21".to_owned()
                + "30313233343536373839616263646566"
                + "2e"
                + "34323432"
                + "0d0a"
        );
        assert!(line.len() < 64);
    }

    #[test]
    fn encode_pads_and_lowercases() {
        assert_eq!(encode_line(1, 0), "YOTON!0000000000000001.0\r\n");
        assert_eq!(
            encode_line(u64::MAX, u64::MAX),
            "YOTON!ffffffffffffffff.18446744073709551615\r\n"
        );
        assert!(encode_line(u64::MAX, u64::MAX).len() < 64);
    }

    #[test]
    fn parse_round_trip() {
        for (id, pid) in [(ID, 4242), (1, 0), (u64::MAX, u64::MAX), (0xabc, 1)] {
            assert_eq!(parse_line(encode_line(id, pid).as_bytes()), Ok((id, pid)));
        }
    }

    #[test]
    fn empty_line() {
        assert_eq!(parse_line(b""), Err(LineError::Empty));
        // Only undecodable bytes: empty after errors='ignore'.
        assert_eq!(parse_line(b"\xff\xfe"), Err(LineError::Empty));
    }

    #[test]
    fn not_yoton() {
        assert_eq!(parse_line(b"GET / HTTP/1.1\r\n"), Err(LineError::NotYoton));
        assert_eq!(
            parse_line(b"HTTP/1.0 400 Bad Request\r\n"),
            Err(LineError::NotYoton)
        );
        assert_eq!(
            parse_line(b"yoton!0123456789abcdef.4242\r\n"),
            Err(LineError::NotYoton)
        );
        assert_eq!(
            parse_line(b" YOTON!0123456789abcdef.4242\r\n"),
            Err(LineError::NotYoton)
        );
        assert_eq!(parse_line(b"\r\n"), Err(LineError::NotYoton));
        assert_eq!(parse_line(ERROR_NOT_YOTON), Err(LineError::NotYoton));
    }

    #[test]
    fn bad_id() {
        for line in [
            &b"YOTON!\r\n"[..],
            b"YOTON!0123456789abcdef\r\n",       // no '.'
            b"YOTON!.4242\r\n",                  // empty id
            b"YOTON!0123456789abcdef.\r\n",      // empty pid
            b"YOTON!xyz.4242\r\n",               // not hex
            b"YOTON!0123456789abcdef.12ab\r\n",  // pid not decimal
            b"YOTON!0123456789abcdef.1.2\r\n",   // split at the first '.': pid "1.2"
            b"YOTON!0123456789abcdef.0x10\r\n",  // no prefix in base 10
            b"YOTON!-1.4242\r\n",                // negative id
            b"YOTON!1.-5\r\n",                   // negative pid
            b"YOTON!10000000000000000.1\r\n",    // id overflows u64
            b"YOTON!1.18446744073709551616\r\n", // pid overflows u64
            b"YOTON!1__2.3\r\n",                 // double underscore
            b"YOTON!_12.3\r\n",                  // leading underscore
            b"YOTON!12_.3\r\n",                  // trailing underscore
            b"YOTON!0x.3\r\n",                   // prefix without digits
            b"YOTON!- 1.3\r\n",                  // space after sign
            b"YOTON!1 2.3\r\n",                  // inner space
            b"YOTON!1\x002.3\r\n",               // NUL
        ] {
            assert_eq!(
                parse_line(line),
                Err(LineError::BadId),
                "{:?}",
                String::from_utf8_lossy(line)
            );
        }
    }

    #[test]
    fn lenient_forms_like_python_int() {
        let ok = |line: &[u8], expected: (u64, u64)| {
            assert_eq!(
                parse_line(line),
                Ok(expected),
                "{:?}",
                String::from_utf8_lossy(line)
            );
        };
        ok(b"YOTON!  0123456789ABCDEF  .  4242  \r\n", (ID, 4242)); // whitespace, upper case
        ok(b"YOTON!+0x0123456789abcdef.+4242\r\n", (ID, 4242)); // sign and 0x prefix
        ok(b"YOTON!0X_ff.1\r\n", (0xff, 1)); // "0x_ff" is valid for int(x, 16)
        ok(b"YOTON!0123_4567_89ab_cdef.4_242\r\n", (ID, 4242)); // '_' separators
        ok(b"YOTON!ff.4242", (0xff, 4242)); // no CRLF
        ok(b"YOTON!ff.4242\n", (0xff, 4242));
        ok(b"YOTON!-0.-0\r\n", (0, 0)); // -0 is 0
        ok(b"YOTON!\x1cff\x1c.\x1f7\x1f\r\n", (0xff, 7)); // Python whitespace includes U+001C..U+001F
        ok("YOTON!\u{3000}ff.7\u{a0}\r\n".as_bytes(), (0xff, 7)); // Unicode whitespace
        ok(
            b"YOTON!00000000000000000000000000ff.0000000000000000000000000007\r\n",
            (0xff, 7),
        ); // leading zeros
           // Invalid UTF-8 bytes are dropped before parsing (errors='ignore').
        ok(b"YOTON!f\xfff.4\xc02\r\n", (0xff, 42));
        ok(b"\xffYOTON!ff.42\r\n", (0xff, 42));
        ok(
            b"YOTON!ffffffffffffffff.18446744073709551615\r\n",
            (u64::MAX, u64::MAX),
        );
    }

    #[test]
    fn py_int_helper() {
        let v = |s: &str, r: u32| parse_py_int(s, r).and_then(|n| n.to_i128());
        assert_eq!(v(" 80 ", 10), Some(80));
        assert_eq!(v("1_000", 10), Some(1000));
        assert_eq!(v("+80", 10), Some(80));
        assert_eq!(v("-3", 10), Some(-3));
        assert_eq!(v("007", 10), Some(7));
        assert_eq!(v("", 10), None);
        assert_eq!(v("+", 10), None);
        assert_eq!(v("--1", 10), None);
        assert_eq!(v("1e3", 10), None);
        assert_eq!(v("0x1f", 16), Some(31));
        assert_eq!(v("-0x1f", 16), Some(-31));
        assert_eq!(v("0x1f", 10), None);
        // CPython's 4300-digit limit for decimal strings (none for hex).
        assert!(parse_py_int(&"1".repeat(4300), 10).is_some());
        assert_eq!(parse_py_int(&"1".repeat(4301), 10), None);
        assert_eq!(parse_py_int(&"0".repeat(4301), 10), None);
        assert!(parse_py_int(&"1".repeat(5000), 16).is_some());
        // Too large for u64 is still a valid integer, reported without a magnitude.
        assert_eq!(
            parse_py_int("99999999999999999999999", 10),
            Some(PyInt {
                negative: false,
                magnitude: None
            })
        );
    }

    #[test]
    fn error_lines() {
        assert_eq!(ERROR_NOT_YOTON, b"ERROR: this is Yoton.\r\n");
        assert_eq!(ERROR_BAD_ID, b"ERROR: could not parse id.\r\n");
    }
}
