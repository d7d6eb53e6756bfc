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
}
