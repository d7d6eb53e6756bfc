//! The OBJECT value tree: what OBJECT channels and req/rep carry.

/// A value of the OBJECT message type. Dicts keep insertion order as a list of pairs
/// (the wire order); keys are not merged on decode.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<Value>),
    Tuple(Vec<Value>),
    Dict(Vec<(Value, Value)>),
}

impl Value {
    /// A list from any values.
    pub fn list<I: IntoIterator<Item = V>, V: Into<Value>>(items: I) -> Value {
        Value::List(items.into_iter().map(Into::into).collect())
    }

    /// A tuple from any values.
    pub fn tuple<I: IntoIterator<Item = V>, V: Into<Value>>(items: I) -> Value {
        Value::Tuple(items.into_iter().map(Into::into).collect())
    }

    /// A dict from (key, value) pairs, in order.
    pub fn dict<I, K, V>(pairs: I) -> Value
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<Value>,
        V: Into<Value>,
    {
        Value::Dict(
            pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }

    /// The Python type name, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::None => "NoneType",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "str",
            Value::List(_) => "list",
            Value::Tuple(_) => "tuple",
            Value::Dict(_) => "dict",
        }
    }

    pub fn is_none(&self) -> bool {
        matches!(self, Value::None)
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The integer of an `Int` (a `Bool` is not an int here, unlike Python).
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The float of a `Float`, or an `Int` converted (as Python would in arithmetic).
    pub fn as_float(&self) -> Option<f64> {
        match self {
            Value::Float(f) => Some(*f),
            Value::Int(i) => Some(*i as f64),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Items of a `List` only.
    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(items) => Some(items),
            _ => None,
        }
    }

    /// Items of a `Tuple` only.
    pub fn as_tuple(&self) -> Option<&[Value]> {
        match self {
            Value::Tuple(items) => Some(items),
            _ => None,
        }
    }

    /// Items of a `List` or a `Tuple`.
    pub fn as_seq(&self) -> Option<&[Value]> {
        match self {
            Value::List(items) | Value::Tuple(items) => Some(items),
            _ => None,
        }
    }

    /// Pairs of a `Dict`, in wire order (duplicates included).
    pub fn as_dict(&self) -> Option<&[(Value, Value)]> {
        match self {
            Value::Dict(pairs) => Some(pairs),
            _ => None,
        }
    }

    /// Look up a string key in a `Dict`. With duplicate keys the last one wins, as in Python.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.as_dict()?
            .iter()
            .rev()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
    }

    /// Python's `==`: numbers compare by value across bool, int and float (`True == 1 ==
    /// 1.0`, exactly, NaN equal to nothing); lists and tuples item by item (a list never
    /// equals a tuple); dicts as mappings, whatever their order. (`PartialEq` is structural.)
    pub fn py_eq(&self, other: &Value) -> bool {
        use Value::*;
        match (self, other) {
            (None, None) => true,
            (Str(a), Str(b)) => a == b,
            (List(a), List(b)) | (Tuple(a), Tuple(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.py_eq(y))
            }
            (Dict(a), Dict(b)) => {
                let (a, b) = (py_mapping(a), py_mapping(b));
                a.len() == b.len()
                    && a.iter()
                        .all(|(k, v)| b.iter().any(|(k2, v2)| k.py_eq(k2) && v.py_eq(v2)))
            }
            (a, b) => match (a.py_number(), b.py_number()) {
                (Some(x), Some(y)) => x.eq_exact(y),
                _ => false,
            },
        }
    }

    fn py_number(&self) -> Option<Number> {
        match self {
            Value::Bool(b) => Some(Number::Int(*b as i64)),
            Value::Int(i) => Some(Number::Int(*i)),
            Value::Float(f) => Some(Number::Float(*f)),
            _ => Option::None,
        }
    }
}

/// A dict as Python sees it: one entry per key, the last one winning.
fn py_mapping(pairs: &[(Value, Value)]) -> Vec<&(Value, Value)> {
    let mut out: Vec<&(Value, Value)> = Vec::with_capacity(pairs.len());
    for pair in pairs.iter().rev() {
        if !out.iter().any(|seen| seen.0.py_eq(&pair.0)) {
            out.push(pair);
        }
    }
    out
}

#[derive(Clone, Copy)]
enum Number {
    Int(i64),
    Float(f64),
}

impl Number {
    /// Exact comparison, as Python compares an int with a float (no rounding of the int).
    fn eq_exact(self, other: Number) -> bool {
        match (self, other) {
            (Number::Int(a), Number::Int(b)) => a == b,
            (Number::Float(a), Number::Float(b)) => a == b,
            (Number::Int(i), Number::Float(f)) | (Number::Float(f), Number::Int(i)) => {
                // Within ±2^63 a float with no fraction converts exactly.
                f.fract() == 0.0
                    && (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&f)
                    && f as i64 == i
            }
        }
    }
}

impl From<()> for Value {
    fn from(_: ()) -> Value {
        Value::None
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}

macro_rules! from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(i: $t) -> Value {
                Value::Int(i64::from(i))
            }
        }
    )*};
}
from_int!(i8, i16, i32, i64, u8, u16, u32);

impl From<f64> for Value {
    fn from(f: f64) -> Value {
        Value::Float(f)
    }
}

impl From<f32> for Value {
    fn from(f: f32) -> Value {
        Value::Float(f64::from(f))
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::Str(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::Str(s)
    }
}

/// A `Vec` becomes a list (use [`Value::tuple`] for a tuple).
impl From<Vec<Value>> for Value {
    fn from(items: Vec<Value>) -> Value {
        Value::List(items)
    }
}

/// `None` becomes `Value::None`.
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::None, Into::into)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions() {
        assert_eq!(Value::from(()), Value::None);
        assert_eq!(Value::from(true), Value::Bool(true));
        assert_eq!(Value::from(3i32), Value::Int(3));
        assert_eq!(Value::from(u32::MAX), Value::Int(u32::MAX as i64));
        assert_eq!(Value::from(-7i64), Value::Int(-7));
        assert_eq!(Value::from(1.5f64), Value::Float(1.5));
        assert_eq!(Value::from("a"), Value::Str("a".into()));
        assert_eq!(Value::from(String::from("b")), Value::Str("b".into()));
        assert_eq!(
            Value::from(vec![Value::None]),
            Value::List(vec![Value::None])
        );
        assert_eq!(Value::from(None::<i64>), Value::None);
        assert_eq!(Value::from(Some("x")), Value::Str("x".into()));
    }

    #[test]
    fn constructors() {
        assert_eq!(
            Value::list([1, 2]),
            Value::List(vec![Value::Int(1), Value::Int(2)])
        );
        assert_eq!(
            Value::tuple(["hi"]),
            Value::Tuple(vec![Value::Str("hi".into())])
        );
        assert_eq!(
            Value::dict([("a", 1)]),
            Value::Dict(vec![(Value::Str("a".into()), Value::Int(1))])
        );
        let request = Value::tuple([
            Value::from("add"),
            Value::tuple([3, 4]),
            Value::dict(Vec::<(Value, Value)>::new()),
        ]);
        let bytes = crate::protocol::object::encode(&request).unwrap();
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            [
                "7403",
                "7303616464",
                "7402",
                "690300000000000000",
                "690400000000000000",
                "6400"
            ]
            .concat()
        );
    }

    #[test]
    fn accessors() {
        let v = Value::dict([("a", 1), ("b", 2), ("a", 3)]);
        assert_eq!(v.get("a"), Some(&Value::Int(3))); // last duplicate wins
        assert_eq!(v.get("b").and_then(Value::as_int), Some(2));
        assert_eq!(v.get("c"), None);
        assert_eq!(v.as_dict().map(<[_]>::len), Some(3));
        assert_eq!(Value::Int(1).get("a"), None);
        assert_eq!(Value::from("s").as_str(), Some("s"));
        assert_eq!(Value::Int(2).as_float(), Some(2.0));
        assert_eq!(Value::Bool(true).as_int(), None);
        assert_eq!(Value::Bool(true).as_bool(), Some(true));
        assert!(Value::None.is_none());
        let t = Value::tuple([1]);
        assert!(t.as_list().is_none());
        assert_eq!(t.as_tuple().map(<[_]>::len), Some(1));
        assert_eq!(t.as_seq().map(<[_]>::len), Some(1));
        assert_eq!(Value::list([1]).as_seq().map(<[_]>::len), Some(1));
        assert_eq!(t.type_name(), "tuple");
        assert_eq!(Value::None.type_name(), "NoneType");
    }

    #[test]
    fn python_equality() {
        use Value::*;
        // Numbers across kinds, exactly.
        assert!(Bool(true).py_eq(&Int(1)) && Int(1).py_eq(&Float(1.0)));
        assert!(Bool(false).py_eq(&Float(0.0)));
        assert!(!Int(1).py_eq(&Float(1.5)) && !Float(f64::NAN).py_eq(&Float(f64::NAN)));
        // 2^53 + 1 has no float: Python says 9007199254740993 != 9007199254740992.0.
        assert!(!Int(9_007_199_254_740_993).py_eq(&Float(9_007_199_254_740_992.0)));
        assert!(!Int(i64::MAX).py_eq(&Float(9.223_372_036_854_776e18)));
        assert!(!Int(0).py_eq(&None) && !Str("1".into()).py_eq(&Int(1)));
        // Sequences item by item; a list is not a tuple.
        assert!(!Value::list([1, 2]).py_eq(&List(vec![Float(1.0), Bool(false)])));
        assert!(Value::list([1, 0]).py_eq(&List(vec![Float(1.0), Bool(false)])));
        assert!(!Value::list([1]).py_eq(&Value::tuple([1])));
        // Dicts as mappings: order does not matter, the last of a repeated key wins.
        let a = Value::dict([("x", 1), ("y", 2)]);
        let b = Value::dict([("y", 2), ("x", 1)]);
        assert!(a.py_eq(&b) && a != b);
        let repeated = Dict(vec![
            (Str("x".into()), Int(5)),
            (Str("x".into()), Int(1)),
            (Str("y".into()), Int(2)),
        ]);
        assert!(repeated.py_eq(&a));
        assert!(!Value::dict([("x", 1)]).py_eq(&a));
        // Keys compare like values: {1: 'a'} == {True: 'a'}.
        assert!(
            Dict(vec![(Int(1), Str("a".into()))]).py_eq(&Dict(vec![(Bool(true), Str("a".into()))]))
        );
    }
}
