//! Python `repr()` of values: what a Python peer would print, so tests and examples can
//! compare output across implementations.

use std::fmt::Write;

use crate::value::Value;

impl Value {
    /// The Python `repr()` of this value.
    pub fn repr(&self) -> String {
        let mut out = String::new();
        write_repr(self, &mut out);
        out
    }
}

fn write_repr(v: &Value, out: &mut String) {
    match v {
        Value::None => out.push_str("None"),
        Value::Bool(true) => out.push_str("True"),
        Value::Bool(false) => out.push_str("False"),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Float(f) => out.push_str(&float_repr(*f)),
        Value::Str(s) => string_repr(s, out),
        Value::List(items) => seq_repr(items, "[", "]", out),
        Value::Tuple(items) if items.len() == 1 => {
            out.push('(');
            write_repr(&items[0], out);
            out.push_str(",)");
        }
        Value::Tuple(items) => seq_repr(items, "(", ")", out),
        Value::Dict(pairs) => {
            out.push('{');
            for (i, (k, v)) in pairs.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_repr(k, out);
                out.push_str(": ");
                write_repr(v, out);
            }
            out.push('}');
        }
    }
}

fn seq_repr(items: &[Value], open: &str, close: &str, out: &mut String) {
    out.push_str(open);
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        write_repr(item, out);
    }
    out.push_str(close);
}

/// Python's float repr: shortest round-trip digits, fixed notation for exponents in
/// [-4, 16), scientific (`1e+16`, `1.5e-05`) otherwise.
pub(crate) fn float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let sci = format!("{f:e}"); // e.g. "-1.5e-5", "1e16", "0e0"
    let (mantissa, exp) = sci.split_once('e').expect("{:e} has an exponent");
    let exp: i32 = exp.parse().expect("integer exponent");
    let negative = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    let sign = if negative { "-" } else { "" };
    if (-4..16).contains(&exp) {
        let point = exp + 1; // digits before the decimal point
        let text = if point <= 0 {
            format!("0.{}{}", "0".repeat((-point) as usize), digits)
        } else if point as usize >= digits.len() {
            format!("{}{}.0", digits, "0".repeat(point as usize - digits.len()))
        } else {
            format!(
                "{}.{}",
                &digits[..point as usize],
                &digits[point as usize..]
            )
        };
        format!("{sign}{text}")
    } else {
        let rest = if digits.len() > 1 {
            format!(".{}", &digits[1..])
        } else {
            String::new()
        };
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{}{rest}e{esign}{:02}", &digits[..1], exp.abs())
    }
}

/// Python's `str.isprintable()` for one character.
fn is_printable(c: char) -> bool {
    let cp = c as u32;
    let table = &crate::unprintable::UNPRINTABLE;
    // The last range starting at or below cp decides.
    let i = table.partition_point(|&(start, _)| start <= cp);
    i == 0 || cp > table[i - 1].1
}

/// Python's str repr: single quotes unless the text has a `'` and no `"`.
fn string_repr(s: &str, out: &mut String) {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if !is_printable(c) => {
                let cp = c as u32;
                let _ = match cp {
                    0..=0xff => write!(out, "\\x{cp:02x}"),
                    0x100..=0xffff => write!(out, "\\u{cp:04x}"),
                    _ => write!(out, "\\U{cp:08x}"),
                };
            }
            c => out.push(c),
        }
    }
    out.push(quote);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_like_python() {
        for (f, text) in [
            (1.5, "1.5"),
            (1.0, "1.0"),
            (-0.0, "-0.0"),
            (0.0, "0.0"),
            (123.0, "123.0"),
            (0.1, "0.1"),
            (1e16, "1e+16"),
            (1.5e-5, "1.5e-05"),
            (0.0001, "0.0001"),
            (1e-5, "1e-05"),
            (1e100, "1e+100"),
            (2.5e15, "2500000000000000.0"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (f64::NAN, "nan"),
            (std::f64::consts::PI, "3.141592653589793"),
            (2.0 / 3.0, "0.6666666666666666"),
        ] {
            assert_eq!(float_repr(f), text, "{f:e}");
        }
    }

    #[test]
    fn nested_like_python() {
        let v = Value::Tuple(vec![
            Value::Int(1),
            Value::Str("a'b".into()),
            Value::List(vec![Value::None, Value::Bool(true)]),
            Value::Dict(vec![(Value::Str("k".into()), Value::Float(1.5))]),
            Value::Tuple(vec![Value::Str("x\n".into())]),
        ]);
        assert_eq!(
            v.repr(),
            r#"(1, "a'b", [None, True], {'k': 1.5}, ('x\n',))"#
        );
        assert_eq!(Value::Tuple(vec![]).repr(), "()");
        assert_eq!(Value::Str("héllo 😀".into()).repr(), "'héllo 😀'");
        // Escapes exactly like CPython 3.11 (values from its repr()).
        for (text, python) in [
            ("\u{a0}\u{ad}", r"'\xa0\xad'"),
            ("\u{2028}\u{200b}\u{feff}", r"'\u2028\u200b\ufeff'"),
            ("\u{e000}\u{378}\u{ffff}", r"'\ue000\u0378\uffff'"),
            ("\u{e0001}\u{10ffff}", r"'\U000e0001\U0010ffff'"),
            ("\u{7f}\u{1}\u{85}", r"'\x7f\x01\x85'"),
        ] {
            assert_eq!(Value::Str(text.into()).repr(), python);
        }
    }
}
