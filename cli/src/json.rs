//! OBJECT values as JSON (docs/cli.md, "Values as JSON"):
//! - None, bools, strings and lists map to null, true/false, strings and arrays;
//! - ints are JSON integers (64-bit signed); floats are JSON numbers written with a fraction
//!   or exponent (`1.0`), so they read back as floats; non-finite floats are
//!   `{"$float": "inf" | "-inf" | "nan"}`;
//! - tuples are `{"$tuple": [...]}`;
//! - dicts with unique string keys are JSON objects; any other dict (non-string or repeated
//!   keys, or a single key that looks like one of these markers) is `{"$dict": [[k, v], ...]}`;
//! - bytes (BINARY messages shown as JSON) are `{"$bytes": "<hex>"}`; OBJECT has no bytes
//!   type, so parsing that for an OBJECT value is an error.

use serde_json::{Map, Number, Value as Json};
use yoton::Value;

const MARKERS: [&str; 4] = ["$tuple", "$float", "$dict", "$bytes"];

/// A value as JSON.
pub fn to_json(value: &Value) -> Json {
    match value {
        Value::None => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(i) => Json::from(*i),
        Value::Float(f) => match Number::from_f64(*f) {
            Some(n) => Json::Number(n),
            None => marker("$float", Json::from(float_word(*f))),
        },
        Value::Str(s) => Json::String(s.clone()),
        Value::List(items) => Json::Array(items.iter().map(to_json).collect()),
        Value::Tuple(items) => marker("$tuple", Json::Array(items.iter().map(to_json).collect())),
        Value::Dict(pairs) => dict_to_json(pairs),
    }
}

fn float_word(f: f64) -> &'static str {
    if f.is_nan() {
        "nan"
    } else if f > 0.0 {
        "inf"
    } else {
        "-inf"
    }
}

fn marker(key: &str, inner: Json) -> Json {
    let mut map = Map::new();
    map.insert(key.to_string(), inner);
    Json::Object(map)
}

fn dict_to_json(pairs: &[(Value, Value)]) -> Json {
    let mut map = Map::new();
    let plain = pairs.iter().all(|(k, v)| match k {
        Value::Str(s) => map.insert(s.clone(), to_json(v)).is_none(),
        _ => false,
    });
    let looks_like_marker = map.len() == 1 && map.keys().all(|k| MARKERS.contains(&k.as_str()));
    if plain && !looks_like_marker {
        return Json::Object(map);
    }
    let items = pairs
        .iter()
        .map(|(k, v)| Json::Array(vec![to_json(k), to_json(v)]))
        .collect();
    marker("$dict", Json::Array(items))
}

/// Bytes as JSON: `{"$bytes": "<hex>"}`.
pub fn bytes_to_json(data: &[u8]) -> Json {
    marker("$bytes", Json::String(crate::hex::encode(data)))
}

/// Parse JSON text into a value (the mapping above); the error says what is wrong.
pub fn parse_value(text: &str) -> Result<Value, String> {
    let json: Json = serde_json::from_str(text).map_err(|e| format!("bad JSON: {e}"))?;
    from_json(&json)
}

/// A JSON value as a yoton value.
pub fn from_json(json: &Json) -> Result<Value, String> {
    Ok(match json {
        Json::Null => Value::None,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => {
            // (Numbers keep their text: an integer too big for i64 is an error, not a float.)
            let text = n.to_string();
            if let Some(i) = n.as_i64() {
                Value::Int(i)
            } else if !text.contains(['.', 'e', 'E']) {
                return Err(format!("integer {text} does not fit in 64 signed bits"));
            } else {
                Value::Float(text.parse().map_err(|_| format!("bad number {text}"))?)
            }
        }
        Json::String(s) => Value::Str(s.clone()),
        Json::Array(items) => Value::List(seq(items)?),
        Json::Object(map) => object_from_json(map)?,
    })
}

fn seq(items: &[Json]) -> Result<Vec<Value>, String> {
    items.iter().map(from_json).collect()
}

fn object_from_json(map: &Map<String, Json>) -> Result<Value, String> {
    if map.len() == 1 {
        let (key, inner) = map.iter().next().expect("one entry");
        match (key.as_str(), inner) {
            ("$tuple", Json::Array(items)) => return Ok(Value::Tuple(seq(items)?)),
            ("$float", Json::String(word)) => {
                return match word.as_str() {
                    "inf" => Ok(Value::Float(f64::INFINITY)),
                    "-inf" => Ok(Value::Float(f64::NEG_INFINITY)),
                    "nan" => Ok(Value::Float(f64::NAN)),
                    _ => Err(format!(
                        "bad $float {word:?}: use \"inf\", \"-inf\" or \"nan\""
                    )),
                }
            }
            ("$dict", Json::Array(items)) => {
                let pairs = items
                    .iter()
                    .map(|item| match item {
                        Json::Array(kv) if kv.len() == 2 => {
                            Ok((from_json(&kv[0])?, from_json(&kv[1])?))
                        }
                        _ => Err("each $dict item must be a [key, value] array".to_string()),
                    })
                    .collect::<Result<Vec<_>, String>>()?;
                return Ok(Value::Dict(pairs));
            }
            ("$bytes", _) => {
                return Err(
                    "OBJECT values have no bytes type ($bytes): send bytes on a binary channel"
                        .into(),
                )
            }
            (k, _) if MARKERS.contains(&k) => return Err(format!("bad {k} value")),
            _ => {}
        }
    }
    let pairs = map
        .iter()
        .map(|(k, v)| Ok((Value::Str(k.clone()), from_json(v)?)))
        .collect::<Result<Vec<_>, String>>()?;
    Ok(Value::Dict(pairs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(text: &str) -> String {
        to_json(&parse_value(text).unwrap()).to_string()
    }

    #[test]
    fn json_round_trips_through_values() {
        for text in [
            "null",
            "true",
            "-9223372036854775808",
            "1.0",
            "-0.0",
            "0.1",
            "\"h\\u00e9 😀\"",
            "[1,[2.5,null]]",
            "{\"b\":1,\"a\":[{\"$tuple\":[]}]}",
            "{\"$tuple\":[1,\"x\"]}",
            "{\"$float\":\"inf\"}",
            "{\"$float\":\"-inf\"}",
            "{\"$float\":\"nan\"}",
            "{\"$dict\":[[1,null],[{\"$tuple\":[1,2]},true]]}",
            "{\"$dict\":[[\"$tuple\",1]]}",
        ] {
            assert_eq!(round_trip(text), text.replace("\\u00e9", "é"));
        }
    }

    #[test]
    fn values_map_as_documented() {
        let v = parse_value("{\"$tuple\":[1,2.0,{\"k\":[]}]}").unwrap();
        assert_eq!(
            v,
            Value::Tuple(vec![
                Value::Int(1),
                Value::Float(2.0),
                Value::Dict(vec![(Value::Str("k".into()), Value::List(vec![]))])
            ])
        );
        // Repeated keys survive as $dict.
        let d = Value::Dict(vec![
            (Value::Str("a".into()), Value::Int(1)),
            (Value::Str("a".into()), Value::Int(2)),
        ]);
        assert_eq!(to_json(&d).to_string(), "{\"$dict\":[[\"a\",1],[\"a\",2]]}");
    }

    #[test]
    fn bad_input_gives_a_clear_error() {
        assert!(parse_value("{").unwrap_err().starts_with("bad JSON"));
        assert!(parse_value("18446744073709551615")
            .unwrap_err()
            .contains("64 signed bits"));
        assert!(parse_value("-99999999999999999999")
            .unwrap_err()
            .contains("64 signed bits"));
        assert_eq!(parse_value("1e400").unwrap(), Value::Float(f64::INFINITY));
        assert!(parse_value("{\"$bytes\":\"00\"}")
            .unwrap_err()
            .contains("no bytes type"));
        assert!(parse_value("{\"$float\":\"big\"}")
            .unwrap_err()
            .contains("$float"));
        assert!(parse_value("{\"$dict\":[1]}")
            .unwrap_err()
            .contains("[key, value]"));
    }
}
