//! The OBJECT value codec (docs/protocol.md §8.2): byte-exact encoding, lenient bounded decoding.
//!
//! The decoder is iterative (an explicit stack of open containers), so hostile nesting can
//! never overflow the thread stack, whatever stack size the calling thread has.

use crate::value::Value;

/// Nesting limit for decoding and encoding (docs/protocol.md §13 #15).
pub const MAX_DEPTH: usize = 512;

/// Why encoding or decoding failed; the message says where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodecError(pub String);

impl std::fmt::Display for CodecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CodecError {}

impl From<CodecError> for crate::error::Error {
    fn from(e: CodecError) -> Self {
        crate::error::Error::encoding(e.0)
    }
}

const TAG_NONE: u8 = b'n';
const TAG_BOOL: u8 = b'b';
const TAG_INT: u8 = b'i';
const TAG_FLOAT: u8 = b'f';
const TAG_STR: u8 = b's';
const TAG_LIST: u8 = b'l';
const TAG_TUPLE: u8 = b't';
const TAG_DICT: u8 = b'd';
/// A COUNT byte of 255 announces a u64le count.
const COUNT_ESCAPE: u8 = 0xFF;

fn depth_error() -> CodecError {
    CodecError(format!("OBJECT nesting deeper than {MAX_DEPTH} levels"))
}

/// Append the encoding of `value` to `out`. Refuses list or dict dict-keys (Python cannot
/// decode them) and nesting deeper than MAX_DEPTH.
/// On error `out` is left as it was (no partial value).
pub fn encode_into(value: &Value, out: &mut Vec<u8>) -> Result<(), CodecError> {
    let start = out.len();
    let result = encode_value(value, out);
    if result.is_err() {
        out.truncate(start);
    }
    result
}

pub fn encode(value: &Value) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::new();
    encode_into(value, &mut out)?;
    Ok(out)
}

/// COUNT: one byte below 255, else 0xFF + u64le.
fn encode_count(n: usize, out: &mut Vec<u8>) {
    if n < COUNT_ESCAPE as usize {
        out.push(n as u8);
    } else {
        out.push(COUNT_ESCAPE);
        out.extend_from_slice(&(n as u64).to_le_bytes());
    }
}

/// A container being encoded, with the items still to write.
enum Open<'a> {
    /// `in_key`: inside a dict key, where Python needs a hashable value, so a list or dict
    /// there (even inside a tuple) would make the Python decoder raise "unhashable".
    Seq {
        items: std::slice::Iter<'a, Value>,
        in_key: bool,
    },
    /// `value`: the value still to write after its key.
    Dict {
        pairs: std::slice::Iter<'a, (Value, Value)>,
        value: Option<&'a Value>,
    },
}

fn unhashable_key(what: &str) -> CodecError {
    CodecError(format!(
        "a {what} cannot be a dict key (Python cannot decode it: unhashable)"
    ))
}

/// Iterative, like the decoder, so that encoding never depends on the caller's stack size.
fn encode_value(root: &Value, out: &mut Vec<u8>) -> Result<(), CodecError> {
    // Open containers, innermost last; its length is the depth of the next value.
    let mut stack: Vec<Open> = Vec::new();
    let mut next = Some((root, false));
    while let Some((value, in_key)) = next.take() {
        match value {
            Value::None => out.push(TAG_NONE),
            Value::Bool(b) => out.extend_from_slice(&[TAG_BOOL, *b as u8]),
            Value::Int(i) => {
                out.push(TAG_INT);
                out.extend_from_slice(&i.to_le_bytes());
            }
            Value::Float(f) => {
                out.push(TAG_FLOAT);
                out.extend_from_slice(&f.to_le_bytes());
            }
            Value::Str(s) => {
                out.push(TAG_STR);
                encode_count(s.len(), out);
                out.extend_from_slice(s.as_bytes());
            }
            Value::List(items) | Value::Tuple(items) => {
                let is_list = matches!(value, Value::List(_));
                if in_key && is_list {
                    return Err(unhashable_key("list"));
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(depth_error());
                }
                out.push(if is_list { TAG_LIST } else { TAG_TUPLE });
                encode_count(items.len(), out);
                stack.push(Open::Seq {
                    items: items.iter(),
                    in_key,
                });
            }
            Value::Dict(pairs) => {
                if in_key {
                    return Err(unhashable_key("dict"));
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(depth_error());
                }
                out.push(TAG_DICT);
                encode_count(pairs.len(), out);
                stack.push(Open::Dict {
                    pairs: pairs.iter(),
                    value: None,
                });
            }
        }
        // Find the next value to write, closing finished containers.
        while let Some(open) = stack.last_mut() {
            next = match open {
                Open::Seq { items, in_key } => items.next().map(|item| (item, *in_key)),
                Open::Dict { pairs, value } => match value.take() {
                    Some(v) => Some((v, false)),
                    None => pairs.next().map(|(k, v)| {
                        *value = Some(v);
                        (k, true)
                    }),
                },
            };
            if next.is_some() {
                break;
            }
            stack.pop();
        }
    }
    Ok(())
}

/// Decode one value; empty input is None; trailing bytes are ignored; never preallocates from
/// a COUNT; depth-limited; invalid UTF-8, truncation and unknown tags are errors.
pub fn decode(bytes: &[u8]) -> Result<Value, CodecError> {
    decode_prefix(bytes).map(|(value, _)| value)
}

/// Like [`decode`], but also returns how many bytes the value used (0 for empty input),
/// so callers can tell whether trailing bytes were present.
pub fn decode_prefix(bytes: &[u8]) -> Result<(Value, usize), CodecError> {
    if bytes.is_empty() {
        return Ok((Value::None, 0));
    }
    let mut reader = Reader {
        data: bytes,
        pos: 0,
    };
    // Open containers, innermost last. Its length is the depth of the next value.
    let mut stack: Vec<Frame> = Vec::new();
    loop {
        let tag_pos = reader.pos;
        let tag = reader.byte()?;
        let mut value = match tag {
            TAG_NONE => Value::None,
            // Python: any non-zero byte is true.
            TAG_BOOL => Value::Bool(reader.byte()? != 0),
            TAG_INT => Value::Int(i64::from_le_bytes(reader.array8()?)),
            TAG_FLOAT => Value::Float(f64::from_le_bytes(reader.array8()?)),
            TAG_STR => {
                let n = reader.count()?;
                let raw = reader.take(n)?;
                let text = std::str::from_utf8(raw).map_err(|e| {
                    CodecError(format!(
                        "invalid UTF-8 in OBJECT string at offset {}",
                        tag_pos + e.valid_up_to()
                    ))
                })?;
                Value::Str(text.to_owned())
            }
            TAG_LIST | TAG_TUPLE | TAG_DICT => {
                if stack.len() >= MAX_DEPTH {
                    return Err(CodecError(format!(
                        "OBJECT nesting deeper than {MAX_DEPTH} levels at offset {tag_pos}"
                    )));
                }
                // The count is only a promise: items are collected as they arrive (no capacity).
                let remaining = reader.count()?;
                let frame = match tag {
                    TAG_DICT => Frame::Dict {
                        remaining,
                        items: Vec::new(),
                        key: None,
                    },
                    _ => Frame::Seq {
                        tuple: tag == TAG_TUPLE,
                        remaining,
                        items: Vec::new(),
                    },
                };
                if remaining > 0 {
                    stack.push(frame);
                    continue;
                }
                frame.finish()
            }
            other => {
                return Err(CodecError(format!(
                    "Unsupported type: {other} (OBJECT tag at offset {tag_pos})"
                )))
            }
        };
        // Hand the completed value to its container, closing every container it completes.
        loop {
            let Some(frame) = stack.last_mut() else {
                return Ok((value, reader.pos));
            };
            if !frame.push(value) {
                break;
            }
            value = stack.pop().expect("frame exists").finish();
        }
    }
}

/// A container being decoded.
enum Frame {
    Seq {
        tuple: bool,
        remaining: u64,
        items: Vec<Value>,
    },
    /// Dict keys are kept as they come: no merging of duplicates, any key type accepted.
    Dict {
        remaining: u64,
        items: Vec<(Value, Value)>,
        key: Option<Value>,
    },
}

impl Frame {
    /// Add one decoded value; true when the container is now complete.
    fn push(&mut self, value: Value) -> bool {
        match self {
            Frame::Seq {
                remaining, items, ..
            } => {
                items.push(value);
                *remaining -= 1;
                *remaining == 0
            }
            Frame::Dict {
                remaining,
                items,
                key,
            } => match key.take() {
                None => {
                    *key = Some(value);
                    false
                }
                Some(k) => {
                    items.push((k, value));
                    *remaining -= 1;
                    *remaining == 0
                }
            },
        }
    }

    fn finish(self) -> Value {
        match self {
            Frame::Seq {
                tuple: true, items, ..
            } => Value::Tuple(items),
            Frame::Seq {
                tuple: false,
                items,
                ..
            } => Value::List(items),
            Frame::Dict { items, .. } => Value::Dict(items),
        }
    }
}

/// A bounds-checked cursor; every read checks the bytes exist before touching them.
struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: u64) -> Result<&'a [u8], CodecError> {
        let available = self.data.len() - self.pos;
        if n > available as u64 {
            return Err(CodecError(format!(
                "truncated OBJECT data (EOF): {n} byte(s) needed at offset {}, {available} available",
                self.pos
            )));
        }
        let slice = &self.data[self.pos..self.pos + n as usize];
        self.pos += n as usize;
        Ok(slice)
    }

    fn byte(&mut self) -> Result<u8, CodecError> {
        Ok(self.take(1)?[0])
    }

    fn array8(&mut self) -> Result<[u8; 8], CodecError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(a)
    }

    /// COUNT; the long form is accepted for any value, including small ones.
    fn count(&mut self) -> Result<u64, CodecError> {
        match self.byte()? {
            COUNT_ESCAPE => Ok(u64::from_le_bytes(self.array8()?)),
            n => Ok(n as u64),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Value as V;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        assert!(s.len() % 2 == 0, "odd hex");
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn to_hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    fn s(x: &str) -> Value {
        V::Str(x.to_owned())
    }

    fn i(x: i64) -> Value {
        V::Int(x)
    }

    /// Encodes to exactly `expected` and decodes back to an equal value (bit-equal for floats).
    fn vector(value: Value, expected: &str) {
        let bytes = hex(expected);
        assert_eq!(
            to_hex(&encode(&value).unwrap()),
            to_hex(&bytes),
            "{value:?}"
        );
        let back = decode(&bytes).unwrap();
        assert_eq!(encode(&back).unwrap(), bytes, "{value:?}");
        if !matches!(value, V::Float(f) if f.is_nan()) {
            assert_eq!(back, value);
        }
    }

    fn decode_err(bytes: &[u8]) -> String {
        decode(bytes).expect_err(&to_hex(bytes)).0
    }

    #[test]
    fn scalar_vectors() {
        vector(V::None, "6e");
        vector(V::Bool(true), "6201");
        vector(V::Bool(false), "6200");
        vector(i(0), "690000000000000000");
        vector(i(1), "690100000000000000");
        vector(i(-1), "69ffffffffffffffff");
        vector(i(255), "69ff00000000000000");
        vector(i(i64::MAX), "69ffffffffffffff7f");
        vector(i(i64::MIN), "690000000000000080");
        vector(V::Float(1.5), "66000000000000f83f");
        vector(V::Float(-0.0), "660000000000000080");
        vector(V::Float(f64::INFINITY), "66000000000000f07f");
    }

    #[test]
    fn negative_zero_and_nan_pass_through() {
        let back = decode(&hex("660000000000000080")).unwrap();
        assert!(matches!(back, V::Float(f) if f == 0.0 && f.is_sign_negative()));
        // A NaN with a payload survives bit for bit.
        let nan = hex("66010000000000f87f");
        assert!(matches!(decode(&nan).unwrap(), V::Float(f) if f.is_nan()));
        assert_eq!(encode(&decode(&nan).unwrap()).unwrap(), nan);
        vector(V::Float(f64::NEG_INFINITY), "66000000000000f0ff");
    }

    #[test]
    fn string_vectors() {
        vector(s(""), "7300");
        vector(s("a"), "730161");
        vector(s("héllo"), "730668c3a96c6c6f");
        vector(s("😀"), "7304f09f9880");
        let x254 = encode(&s(&"x".repeat(254))).unwrap();
        assert_eq!(x254.len(), 256);
        assert_eq!(&x254[..2], &hex("73fe")[..]);
        assert!(x254[2..].iter().all(|&b| b == b'x'));
        let x255 = encode(&s(&"x".repeat(255))).unwrap();
        assert_eq!(x255.len(), 265);
        assert_eq!(&x255[..10], &hex("73ffff00000000000000")[..]);
        assert!(x255[10..].iter().all(|&b| b == b'x'));
        assert_eq!(decode(&x254).unwrap(), s(&"x".repeat(254)));
        assert_eq!(decode(&x255).unwrap(), s(&"x".repeat(255)));
    }

    #[test]
    fn container_vectors() {
        vector(V::List(vec![]), "6c00");
        vector(
            V::List(vec![i(1), i(2)]),
            "6c02 690100000000000000 690200000000000000",
        );
        vector(V::Tuple(vec![]), "7400");
        vector(
            V::Tuple(vec![i(1), s("a")]),
            "7402 690100000000000000 730161",
        );
        vector(V::Dict(vec![]), "6400");
        vector(
            V::Dict(vec![(s("a"), i(1))]),
            "6401 730161 690100000000000000",
        );
        vector(
            V::Dict(vec![
                (i(1), V::None),
                (V::Tuple(vec![i(1), i(2)]), V::List(vec![V::Bool(true)])),
            ]),
            "6402 690100000000000000 6e 7402 690100000000000000 690200000000000000 6c01 6201",
        );
        vector(
            V::Dict(vec![(V::Bool(true), i(1))]),
            "6401 6201 690100000000000000",
        );
        vector(
            V::List(vec![V::List(vec![V::List(vec![])])]),
            "6c01 6c01 6c00",
        );
        vector(
            V::Dict(vec![
                (s("b"), V::List(vec![i(1), V::Float(2.5), V::None])),
                (s("a"), V::Tuple(vec![V::Bool(true), s("z")])),
            ]),
            "6402 730162 6c03 690100000000000000 660000000000000440 6e 730161 7402 6201 73017a",
        );
    }

    #[test]
    fn list_of_255_ints() {
        let value = V::List((0..255).map(i).collect());
        let mut expected = hex("6cffff00000000000000");
        for n in 0..255i64 {
            expected.push(b'i');
            expected.extend_from_slice(&n.to_le_bytes());
        }
        assert_eq!(expected.len(), 2305);
        assert_eq!(encode(&value).unwrap(), expected);
        assert_eq!(decode(&expected).unwrap(), value);
        // 254 items still use the short COUNT.
        let short = encode(&V::List((0..254).map(i).collect())).unwrap();
        assert_eq!(&short[..2], &[b'l', 0xfe]);
    }

    #[test]
    fn request_vectors() {
        let empty = || V::Dict(vec![]);
        vector(
            V::Tuple(vec![s("add"), V::Tuple(vec![i(3), i(4)]), empty()]),
            "7403 7303616464 7402 690300000000000000 690400000000000000 6400",
        );
        vector(
            V::Tuple(vec![s("echo"), V::Tuple(vec![s("hi")]), empty()]),
            "740373046563686f7401730268696400",
        );
        vector(
            V::Tuple(vec![
                s("echo"),
                V::Tuple(vec![s("hi")]),
                V::Dict(vec![(s("sleep"), V::Float(0.0))]),
            ]),
            "740373046563686f74017302686964017305736c656570660000000000000000",
        );
        vector(
            V::Tuple(vec![s("yoton_ERROR_HANDLING_REQUEST"), s("boom")]),
            "7402731c796f746f6e5f4552524f525f48414e444c494e475f524551554553547304626f6f6d",
        );
        // Appendix A.1: ("nonexist", (1,), {"k": 2}).
        vector(
            V::Tuple(vec![
                s("nonexist"),
                V::Tuple(vec![i(1)]),
                V::Dict(vec![(s("k"), i(2))]),
            ]),
            "7403 7308 6e6f6e6578697374 7401 69 0100000000000000 6401 73016b 69 0200000000000000",
        );
        vector(i(7), "690700000000000000");
    }

    #[test]
    fn decoding_edge_cases() {
        assert_eq!(decode(b""), Ok(V::None));
        assert_eq!(decode(&hex("6202")), Ok(V::Bool(true)));
        assert_eq!(decode(&hex("62ff")), Ok(V::Bool(true)));
        assert!(decode_err(&hex("7a")).contains("Unsupported type: 122"));
        assert!(decode_err(&hex("7303 6162")).contains("truncated"));
        assert!(decode_err(&hex("6c05 6e")).contains("truncated"));
        // Python raises "unhashable" for a list key; our Value needs no hashing, so this
        // decoder accepts it as it comes (the encoder refuses to produce it, see below).
        assert_eq!(
            decode(&hex("6401 6c00 6e")),
            Ok(V::Dict(vec![(V::List(vec![]), V::None)]))
        );
        // Duplicate keys are kept in wire order, not merged (Python would keep {1: None}).
        assert_eq!(
            decode(&hex("6402 690100000000000000 6e 690100000000000000 6e")),
            Ok(V::Dict(vec![(i(1), V::None), (i(1), V::None)]))
        );
        assert_eq!(decode(&hex("6e6e6e")), Ok(V::None));
        assert!(decode_err(&hex("7302 fffe")).contains("UTF-8"));
        assert!(decode_err(&hex("690100")).contains("truncated"));
    }

    #[test]
    fn long_form_count_is_accepted() {
        assert_eq!(
            decode(&hex("6cff0100000000000000 6e")),
            Ok(V::List(vec![V::None]))
        );
        assert_eq!(decode(&hex("73ff0200000000000000 6869")), Ok(s("hi")));
        assert_eq!(decode(&hex("74ff0000000000000000")), Ok(V::Tuple(vec![])));
        assert_eq!(decode(&hex("64ff0000000000000000")), Ok(V::Dict(vec![])));
        // But re-encoding is canonical.
        assert_eq!(encode(&V::List(vec![V::None])).unwrap(), hex("6c016e"));
    }

    #[test]
    fn trailing_bytes_are_ignored_and_measured() {
        assert_eq!(decode_prefix(&hex("6e6e6e")), Ok((V::None, 1)));
        assert_eq!(
            decode_prefix(&hex("6c01 6c00 ffff")),
            Ok((V::List(vec![V::List(vec![])]), 4))
        );
        assert_eq!(decode(&hex("730161 7a7a")), Ok(s("a")));
        assert_eq!(decode_prefix(b""), Ok((V::None, 0)));
    }

    #[test]
    fn truncation_everywhere_is_an_error() {
        let full = hex(
            "6402 730162 6c03 690100000000000000 660000000000000440 6e 730161 7402 6201 73017a",
        );
        for cut in 1..full.len() {
            assert!(decode(&full[..cut]).is_err(), "prefix of {cut} bytes");
        }
        for bad in [
            "62",
            "69",
            "66",
            "73",
            "73ff",
            "73ff01",
            "6c",
            "6cff00",
            "64016e",
            "64027301616e",
        ] {
            assert!(decode_err(&hex(bad)).contains("truncated"), "{bad}");
        }
    }

    #[test]
    fn unknown_tags_name_the_byte() {
        for tag in [0u8, b'N', b'B', b'x', b'z', 0x80, 0xff] {
            let msg = decode_err(&[tag, 0, 0, 0, 0, 0, 0, 0, 0]);
            assert!(msg.contains(&format!("Unsupported type: {tag} ")), "{msg}");
        }
        // Inside a container too, at the right offset.
        assert!(decode_err(&hex("6c02 6e 7a")).contains("offset 3"));
    }

    #[test]
    fn invalid_utf8_variants() {
        for bad in ["7301ff", "7302c328", "7303eda080", "7304f4908080", "7301c3"] {
            assert!(decode_err(&hex(bad)).contains("UTF-8"), "{bad}");
        }
        // A truncated string (not enough bytes) is an EOF, not a UTF-8 error.
        assert!(decode_err(&hex("7302c3")).contains("truncated"));
    }

    #[test]
    fn huge_counts_fail_fast_without_allocating() {
        let start = std::time::Instant::now();
        for bad in [
            "6cffffffffffffffffff",
            "74ffffffffffffffffff",
            "64ffffffffffffffffff",
            "73ffffffffffffffffff",
            "73ffffffffffffff7f00",
            "6cffffffffffffffffff 6e6e6e",
            "64ffffffffffffffffff 6e",
            "6cffffffffffffffff7f 6cffffffffffffffffff",
        ] {
            assert!(decode_err(&hex(bad)).contains("truncated"), "{bad}");
        }
        // Many nested huge promises with no data behind them.
        let mut nested = Vec::new();
        for _ in 0..MAX_DEPTH {
            nested.extend_from_slice(&hex("6cffffffffffffffffff"));
        }
        assert!(decode(&nested).is_err());
        assert!(start.elapsed() < std::time::Duration::from_secs(2));
    }

    #[test]
    fn deep_nesting_is_refused_without_stack_overflow() {
        // 100000 nested one-item lists: refused at the depth limit, iteratively.
        let deep: Vec<u8> = std::iter::repeat([0x6c, 0x01])
            .take(100_000)
            .flatten()
            .collect();
        assert!(decode_err(&deep).contains("nesting"));
        // Same with tuples, dicts (as keys and as values) and long-form counts.
        let deep_t: Vec<u8> = std::iter::repeat([0x74, 0x01])
            .take(100_000)
            .flatten()
            .collect();
        assert!(decode_err(&deep_t).contains("nesting"));
        let deep_d: Vec<u8> = std::iter::repeat([0x64, 0x01])
            .take(100_000)
            .flatten()
            .collect();
        assert!(decode_err(&deep_d).contains("nesting"));
        let deep_v: Vec<u8> = std::iter::repeat([0x64, 0x01, 0x6e])
            .take(100_000)
            .flatten()
            .collect();
        assert!(decode_err(&deep_v).contains("nesting"));
    }

    /// `n` nested lists around an empty list: n + 1 containers in total.
    fn nested_lists(containers: usize) -> Value {
        let mut v = V::List(vec![]);
        for _ in 1..containers {
            v = V::List(vec![v]);
        }
        v
    }

    #[test]
    fn depth_limit_is_exact_and_symmetric() {
        // MAX_DEPTH nested containers are fine both ways.
        let ok = nested_lists(MAX_DEPTH);
        let bytes = encode(&ok).unwrap();
        assert_eq!(bytes.len(), 2 * MAX_DEPTH);
        assert_eq!(decode(&bytes).unwrap(), ok);
        // One more is refused by the encoder and by the decoder (even when the innermost is empty).
        let too_deep = nested_lists(MAX_DEPTH + 1);
        assert!(encode(&too_deep).unwrap_err().0.contains("nesting"));
        let mut bytes = hex("6c01");
        bytes.extend(encode(&ok).unwrap());
        assert!(decode_err(&bytes).contains("nesting"));
        // Scalars at the deepest level are fine.
        let mut v = V::Tuple(vec![i(1)]);
        for _ in 1..MAX_DEPTH {
            v = V::Tuple(vec![v]);
        }
        assert_eq!(decode(&encode(&v).unwrap()).unwrap(), v);
    }

    #[test]
    fn max_depth_works_on_a_small_thread_stack() {
        // Encoding and decoding are iterative; only the derived Drop/PartialEq of the
        // 512-deep tree recurse (~128 KiB in debug builds), so 256 KiB is plenty.
        std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(|| {
                let deep = nested_lists(MAX_DEPTH);
                let bytes = encode(&deep).unwrap();
                assert_eq!(decode(&bytes).unwrap(), deep);
                let hostile: Vec<u8> = std::iter::repeat([0x6c, 0x01])
                    .take(100_000)
                    .flatten()
                    .collect();
                assert!(decode(&hostile).is_err());
            })
            .unwrap()
            .join()
            .unwrap();
    }

    #[test]
    fn encoder_refuses_unhashable_keys() {
        let list_key = V::Dict(vec![(V::List(vec![]), V::None)]);
        let dict_key = V::Dict(vec![(V::Dict(vec![]), V::None)]);
        // A tuple containing a list is unhashable in Python too.
        let tuple_list_key = V::Dict(vec![(V::Tuple(vec![i(1), V::List(vec![])]), V::None)]);
        for bad in [&list_key, &dict_key, &tuple_list_key] {
            assert!(encode(bad).unwrap_err().0.contains("dict key"), "{bad:?}");
        }
        // Nested inside other containers as well.
        assert!(encode(&V::List(vec![i(1), list_key.clone()])).is_err());
        // Lists and dicts as values, and hashable tuple keys, are fine.
        let fine = V::Dict(vec![
            (
                V::Tuple(vec![i(1), V::Tuple(vec![s("a"), V::None])]),
                V::List(vec![V::Dict(vec![])]),
            ),
            (V::Float(1.0), V::Dict(vec![(s("x"), V::List(vec![]))])),
        ]);
        assert_eq!(decode(&encode(&fine).unwrap()).unwrap(), fine);
    }

    #[test]
    fn failed_encode_leaves_output_untouched() {
        let mut out = vec![1, 2, 3];
        let bad = V::List(vec![i(1), V::Dict(vec![(V::List(vec![]), V::None)])]);
        assert!(encode_into(&bad, &mut out).is_err());
        assert_eq!(out, vec![1, 2, 3]);
        encode_into(&V::None, &mut out).unwrap();
        assert_eq!(out, vec![1, 2, 3, b'n']);
    }

    #[test]
    fn round_trips() {
        let values = vec![
            V::None,
            V::Bool(false),
            i(42),
            i(-42),
            V::Float(3.25),
            V::Float(f64::MIN_POSITIVE),
            s(""),
            s("\0 nul and 日本 and 😀"),
            s(&"é".repeat(300)),
            V::List((0..1000).map(i).collect()),
            V::Tuple(vec![
                V::None,
                V::Tuple(vec![]),
                V::List(vec![V::Tuple(vec![s("deep")])]),
            ]),
            V::Dict(vec![
                (s("b"), i(2)),
                (s("a"), i(1)),
                (i(3), V::Float(-1.0)),
                (V::None, V::Bool(true)),
            ]),
            V::Dict((0..300).map(|n| (s(&n.to_string()), i(n))).collect()),
        ];
        for value in values {
            let bytes = encode(&value).unwrap();
            assert_eq!(decode(&bytes).unwrap(), value);
            assert_eq!(decode_prefix(&bytes).unwrap().1, bytes.len());
        }
    }

    #[test]
    fn tuple_and_list_stay_distinct() {
        let l = encode(&V::List(vec![i(1)])).unwrap();
        let t = encode(&V::Tuple(vec![i(1)])).unwrap();
        assert_ne!(l, t);
        assert!(matches!(decode(&l).unwrap(), V::List(_)));
        assert!(matches!(decode(&t).unwrap(), V::Tuple(_)));
    }

    #[test]
    fn hostile_inputs_never_panic() {
        // A cheap deterministic fuzz: every mutation of a rich message decodes or errors.
        let base = hex(
            "6402 730162 6c03 690100000000000000 660000000000000440 6e 730161 7402 6201 73017a",
        );
        let mut state = 0x1234_5678_9abc_def0u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let mut bytes = base.clone();
            for _ in 0..(next() % 4 + 1) {
                let pos = (next() as usize) % bytes.len();
                bytes[pos] = next() as u8;
            }
            let cut = (next() as usize) % (bytes.len() + 1);
            if let Ok(v) = decode(&bytes[..cut]) {
                // Whatever decodes re-encodes (unless it holds a list/dict key) and decodes the same.
                if let Ok(again) = encode(&v) {
                    let back = decode(&again).unwrap();
                    assert_eq!(encode(&back).unwrap(), again);
                }
            }
        }
    }

    #[test]
    fn codec_error_converts_to_encoding_error() {
        let e: crate::error::Error = CodecError("x".into()).into();
        assert_eq!(e.kind(), crate::error::ErrorKind::Encoding);
        assert_eq!(e.message(), "x");
    }
}
