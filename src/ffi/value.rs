//! C API of OBJECT values: `yoton_value_*`. Inputs are borrowed and copied; nothing is
//! consumed. A `yoton_value *` is really a `Value *` (owned ones are boxed; borrowed ones
//! point into their container), so children can be handed out without copies.

use std::ffi::{c_char, c_int, c_void};

use super::util::{
    bytes_arg, check_out, free_handle, guard, guard_or, guard_void, handle, handle_mut,
    into_handle, str_arg, write_opt, write_out, write_str,
};
use crate::error::{Error, ErrorKind, Result};
use crate::protocol::object;
use crate::value::Value;

/// Kinds of OBJECT values.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum yoton_value_kind {
    /// None.
    YOTON_VALUE_NONE = 0,
    /// A bool.
    YOTON_VALUE_BOOL = 1,
    /// A 64-bit integer.
    YOTON_VALUE_INT = 2,
    /// A double.
    YOTON_VALUE_FLOAT = 3,
    /// A UTF-8 string.
    YOTON_VALUE_STRING = 4,
    /// A list.
    YOTON_VALUE_LIST = 5,
    /// A tuple.
    YOTON_VALUE_TUPLE = 6,
    /// A dict (insertion order kept).
    YOTON_VALUE_DICT = 7,
}

/// An OBJECT value (None, bool, int, float, string, list, tuple or dict). Opaque.
pub struct yoton_value {
    _opaque: [u8; 0],
}

fn new_value(v: Value) -> *mut yoton_value {
    super::util::live::made(Box::into_raw(Box::new(v))).cast()
}

/// The value behind a C pointer.
pub(crate) fn value_ref<'a>(ptr: *const yoton_value, what: &str) -> Result<&'a Value> {
    handle(ptr.cast::<Value>(), what)
}

fn value_mut<'a>(ptr: *mut yoton_value, what: &str) -> Result<&'a mut Value> {
    handle_mut(ptr.cast::<Value>(), what)
}

/// Hand an owned value to C through an out-pointer.
pub(crate) fn value_out(out: *mut *mut yoton_value, value: Value) -> Result<()> {
    into_handle(out.cast::<*mut Value>(), value)
}

fn borrowed(v: &Value) -> *const yoton_value {
    (v as *const Value).cast()
}

/// A new None value. Caller owns it (`yoton_value_free`). Never NULL.
#[no_mangle]
pub extern "C" fn yoton_value_new_none() -> *mut yoton_value {
    guard_or(std::ptr::null_mut(), || new_value(Value::None))
}

/// A new bool value. Caller owns it (`yoton_value_free`).
#[no_mangle]
pub extern "C" fn yoton_value_new_bool(b: bool) -> *mut yoton_value {
    guard_or(std::ptr::null_mut(), || new_value(Value::Bool(b)))
}

/// A new integer value (i64, the OBJECT range). Caller owns it (`yoton_value_free`).
#[no_mangle]
pub extern "C" fn yoton_value_new_int(i: i64) -> *mut yoton_value {
    guard_or(std::ptr::null_mut(), || new_value(Value::Int(i)))
}

/// A new float value (NaN and infinities allowed). Caller owns it (`yoton_value_free`).
#[no_mangle]
pub extern "C" fn yoton_value_new_float(f: f64) -> *mut yoton_value {
    guard_or(std::ptr::null_mut(), || new_value(Value::Float(f)))
}

/// A new empty list. Caller owns it (`yoton_value_free`).
#[no_mangle]
pub extern "C" fn yoton_value_new_list() -> *mut yoton_value {
    guard_or(std::ptr::null_mut(), || new_value(Value::List(Vec::new())))
}

/// A new empty tuple (distinct from a list on the wire). Caller owns it (`yoton_value_free`).
#[no_mangle]
pub extern "C" fn yoton_value_new_tuple() -> *mut yoton_value {
    guard_or(std::ptr::null_mut(), || new_value(Value::Tuple(Vec::new())))
}

/// A new empty dict (keeps insertion order). Caller owns it (`yoton_value_free`).
#[no_mangle]
pub extern "C" fn yoton_value_new_dict() -> *mut yoton_value {
    guard_or(std::ptr::null_mut(), || new_value(Value::Dict(Vec::new())))
}

/// A new string value from a NUL-terminated UTF-8 string (YOTON_ERR_ENCODING if not UTF-8).
/// Caller owns `*out` (`yoton_value_free`).
#[no_mangle]
pub extern "C" fn yoton_value_new_string(text: *const c_char, out: *mut *mut yoton_value) -> c_int {
    guard(|| {
        let text = str_arg(text, "text")?;
        value_out(out, Value::Str(text.to_string()))
    })
}

/// A new string value from `len` bytes of UTF-8 (may contain NUL bytes).
/// Caller owns `*out` (`yoton_value_free`).
#[no_mangle]
pub extern "C" fn yoton_value_new_string_len(
    data: *const c_char,
    len: usize,
    out: *mut *mut yoton_value,
) -> c_int {
    guard(|| {
        let bytes = bytes_arg(data.cast(), len, "data")?;
        let text = std::str::from_utf8(bytes)
            .map_err(|e| Error::encoding(format!("string is not valid UTF-8: {e}")))?;
        value_out(out, Value::Str(text.to_string()))
    })
}

/// A new string value from a NUL-terminated UTF-8 string, returned like the other
/// constructors. NULL if `text` is NULL or not UTF-8 (the reason is in `yoton_last_error`).
/// Caller owns it (`yoton_value_free`).
#[no_mangle]
pub extern "C" fn yoton_value_new_str(text: *const c_char) -> *mut yoton_value {
    guard_or(std::ptr::null_mut(), || {
        new_value_or_null(str_arg(text, "text").map(|s| Value::Str(s.to_owned())))
    })
}

/// A new tuple made of `items`, which it takes over: each item is owned by the tuple (or
/// released, if this fails) and must not be used or freed by the caller afterwards. The
/// short way to build call arguments:
///     yoton_value *items[] = {yoton_value_new_int(2), yoton_value_new_str("x")};
///     yoton_value *args = yoton_value_new_tuple_take(items, 2);
/// NULL (with `yoton_last_error`) if an item is NULL, e.g. a failed constructor; the other
/// items are released then too. Caller owns the tuple (`yoton_value_free`).
#[no_mangle]
pub extern "C" fn yoton_value_new_tuple_take(
    items: *const *mut yoton_value,
    count: usize,
) -> *mut yoton_value {
    guard_or(std::ptr::null_mut(), || {
        new_value_or_null(take_items(items, count).map(Value::Tuple))
    })
}

/// Like `yoton_value_new_tuple_take`, for a list.
#[no_mangle]
pub extern "C" fn yoton_value_new_list_take(
    items: *const *mut yoton_value,
    count: usize,
) -> *mut yoton_value {
    guard_or(std::ptr::null_mut(), || {
        new_value_or_null(take_items(items, count).map(Value::List))
    })
}

/// For constructors that return the value: NULL on error, with the error as the last error.
fn new_value_or_null(value: Result<Value>) -> *mut yoton_value {
    match value {
        Ok(v) => new_value(v),
        Err(e) => {
            super::error::set_last_error(&e);
            std::ptr::null_mut()
        }
    }
}

/// Take over `count` owned values; all of them are consumed, also on error.
fn take_items(items: *const *mut yoton_value, count: usize) -> Result<Vec<Value>> {
    let pointers = super::util::array_arg(items, count, "items")?;
    let mut taken = Vec::with_capacity(count);
    let mut missing = None;
    for (i, &ptr) in pointers.iter().enumerate() {
        match take_value(ptr) {
            Some(v) => taken.push(v),
            None => missing = missing.or(Some(i)),
        }
    }
    match missing {
        None => Ok(taken),
        Some(i) => Err(Error::invalid(format!("item {i} is NULL"))),
    }
}

/// Take over an owned value (made by a constructor): the handle is released, its value
/// returned. None for NULL (or, in debug builds, a pointer that is not a live value).
fn take_value(ptr: *mut yoton_value) -> Option<Value> {
    if ptr.is_null() || !super::util::live::released(ptr.cast::<Value>()) {
        return None;
    }
    // SAFETY: an owned value made by Box::into_raw here; the caller gives it up.
    Some(*unsafe { Box::from_raw(ptr.cast::<Value>()) })
}

/// Release a value (and everything inside it). NULL is a no-op.
#[no_mangle]
pub extern "C" fn yoton_value_free(value: *mut yoton_value) {
    guard_void(|| free_handle(value.cast::<Value>()));
}

/// A deep copy. Caller owns `*out` (`yoton_value_free`).
#[no_mangle]
pub extern "C" fn yoton_value_clone(
    value: *const yoton_value,
    out: *mut *mut yoton_value,
) -> c_int {
    guard(|| value_out(out, value_ref(value, "value")?.clone()))
}

/// The kind of a value, one of `yoton_value_kind`.
#[no_mangle]
pub extern "C" fn yoton_value_get_kind(value: *const yoton_value, out: *mut c_int) -> c_int {
    guard(|| {
        let kind = match value_ref(value, "value")? {
            Value::None => yoton_value_kind::YOTON_VALUE_NONE,
            Value::Bool(_) => yoton_value_kind::YOTON_VALUE_BOOL,
            Value::Int(_) => yoton_value_kind::YOTON_VALUE_INT,
            Value::Float(_) => yoton_value_kind::YOTON_VALUE_FLOAT,
            Value::Str(_) => yoton_value_kind::YOTON_VALUE_STRING,
            Value::List(_) => yoton_value_kind::YOTON_VALUE_LIST,
            Value::Tuple(_) => yoton_value_kind::YOTON_VALUE_TUPLE,
            Value::Dict(_) => yoton_value_kind::YOTON_VALUE_DICT,
        };
        write_out(out, kind as c_int)
    })
}

fn wrong_kind(value: &Value, wanted: &str) -> Error {
    Error::invalid(format!("value is not {wanted} but {}", kind_name(value)))
}

fn kind_name(value: &Value) -> &'static str {
    match value {
        Value::None => "None",
        Value::Bool(_) => "a bool",
        Value::Int(_) => "an int",
        Value::Float(_) => "a float",
        Value::Str(_) => "a string",
        Value::List(_) => "a list",
        Value::Tuple(_) => "a tuple",
        Value::Dict(_) => "a dict",
    }
}

/// The boolean of a bool value.
#[no_mangle]
pub extern "C" fn yoton_value_get_bool(value: *const yoton_value, out: *mut bool) -> c_int {
    guard(|| match value_ref(value, "value")? {
        Value::Bool(b) => write_out(out, *b),
        other => Err(wrong_kind(other, "a bool")),
    })
}

/// The integer of an int value.
#[no_mangle]
pub extern "C" fn yoton_value_get_int(value: *const yoton_value, out: *mut i64) -> c_int {
    guard(|| match value_ref(value, "value")? {
        Value::Int(i) => write_out(out, *i),
        other => Err(wrong_kind(other, "an int")),
    })
}

/// The number of a float value (an int value is converted too).
#[no_mangle]
pub extern "C" fn yoton_value_get_float(value: *const yoton_value, out: *mut f64) -> c_int {
    guard(|| match value_ref(value, "value")? {
        Value::Float(f) => write_out(out, *f),
        Value::Int(i) => write_out(out, *i as f64),
        other => Err(wrong_kind(other, "a float")),
    })
}

/// The UTF-8 bytes of a string value: `*data` borrowed until the value is freed or changed,
/// `*len` bytes, not NUL-terminated (use `yoton_value_copy_string` for a C string).
#[no_mangle]
pub extern "C" fn yoton_value_get_string(
    value: *const yoton_value,
    data: *mut *const c_char,
    len: *mut usize,
) -> c_int {
    guard(|| match value_ref(value, "value")? {
        Value::Str(s) => {
            check_out(data)?;
            write_out(len, s.len())?;
            // An empty String's pointer dangles: hand out a real (static) empty string instead.
            let ptr: *const c_char = if s.is_empty() {
                c"".as_ptr()
            } else {
                s.as_ptr().cast()
            };
            write_out(data, ptr)
        }
        other => Err(wrong_kind(other, "a string")),
    })
}

/// Copy a string value into `buf` as a C string (see `yoton_connection_name` for the
/// buffer convention).
#[no_mangle]
pub extern "C" fn yoton_value_copy_string(
    value: *const yoton_value,
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> c_int {
    guard(|| match value_ref(value, "value")? {
        Value::Str(s) => write_str(s, buf, cap, len),
        other => Err(wrong_kind(other, "a string")),
    })
}

/// Number of items of a list or tuple, or of pairs of a dict.
#[no_mangle]
pub extern "C" fn yoton_value_len(value: *const yoton_value, out: *mut usize) -> c_int {
    guard(|| match value_ref(value, "value")? {
        Value::List(items) | Value::Tuple(items) => write_out(out, items.len()),
        Value::Dict(pairs) => write_out(out, pairs.len()),
        other => Err(wrong_kind(other, "a list, tuple or dict")),
    })
}

/// Item `index` of a list or tuple; borrowed until the container is freed or changed.
#[no_mangle]
pub extern "C" fn yoton_value_item(
    value: *const yoton_value,
    index: usize,
    out: *mut *const yoton_value,
) -> c_int {
    guard(|| match value_ref(value, "value")? {
        Value::List(items) | Value::Tuple(items) => {
            let item = items.get(index).ok_or_else(|| {
                Error::invalid(format!(
                    "index {index} out of range ({} items)",
                    items.len()
                ))
            })?;
            write_out(out, borrowed(item))
        }
        other => Err(wrong_kind(other, "a list or tuple")),
    })
}

/// Pair `index` of a dict (insertion order); key and value borrowed like `yoton_value_item`.
#[no_mangle]
pub extern "C" fn yoton_value_dict_entry(
    value: *const yoton_value,
    index: usize,
    key: *mut *const yoton_value,
    item: *mut *const yoton_value,
) -> c_int {
    guard(|| match value_ref(value, "value")? {
        Value::Dict(pairs) => {
            let (k, v) = pairs.get(index).ok_or_else(|| {
                Error::invalid(format!(
                    "index {index} out of range ({} pairs)",
                    pairs.len()
                ))
            })?;
            check_out(key)?;
            check_out(item)?;
            write_out(key, borrowed(k))?;
            write_out(item, borrowed(v))
        }
        other => Err(wrong_kind(other, "a dict")),
    })
}

/// The value under the string key `key` of a dict (the last one if repeated); borrowed like
/// `yoton_value_item`. YOTON_ERR_NOT_FOUND if absent, YOTON_ERR_INVALID_ARGUMENT if `value` is
/// not a dict.
#[no_mangle]
pub extern "C" fn yoton_value_dict_get(
    value: *const yoton_value,
    key: *const c_char,
    out: *mut *const yoton_value,
) -> c_int {
    guard(|| {
        let key = str_arg(key, "key")?;
        check_out(out)?;
        match value_ref(value, "value")? {
            Value::Dict(pairs) => {
                let found = pairs
                    .iter()
                    .rev()
                    .find(|(k, _)| matches!(k, Value::Str(s) if s == key));
                let (_, v) = found.ok_or_else(|| {
                    Error::new(ErrorKind::NotFound, format!("dict has no key {key:?}"))
                })?;
                write_out(out, borrowed(v))
            }
            other => Err(wrong_kind(other, "a dict")),
        }
    })
}

/// Append a copy of `item` to a list or tuple.
#[no_mangle]
pub extern "C" fn yoton_value_append(
    container: *mut yoton_value,
    item: *const yoton_value,
) -> c_int {
    guard(|| {
        let item = value_ref(item, "item")?.clone();
        push_item(value_mut(container, "container")?, item)
    })
}

fn push_item(container: &mut Value, item: Value) -> Result<()> {
    match container {
        Value::List(items) | Value::Tuple(items) => {
            items.push(item);
            Ok(())
        }
        other => Err(wrong_kind(other, "a list or tuple")),
    }
}

/// Append `item` to a list or tuple, taking it over: the container owns it afterwards (or it
/// is released, if this fails), so `yoton_value_append_take(list, yoton_value_new_int(1))`
/// needs no temporary. A NULL item (a failed constructor) is YOTON_ERR_INVALID_ARGUMENT.
#[no_mangle]
pub extern "C" fn yoton_value_append_take(
    container: *mut yoton_value,
    item: *mut yoton_value,
) -> c_int {
    guard(|| {
        let item = take_value(item).ok_or_else(|| Error::invalid("item is NULL"))?;
        push_item(value_mut(container, "container")?, item)
    })
}

/// Set `dict[key] = item` for a string key (a copy of `item`): replaces the value of an equal
/// key, else appends.
#[no_mangle]
pub extern "C" fn yoton_value_dict_set_str(
    dict: *mut yoton_value,
    key: *const c_char,
    item: *const yoton_value,
) -> c_int {
    guard(|| {
        let key = Value::Str(str_arg(key, "key")?.to_owned());
        let item = value_ref(item, "item")?.clone();
        dict_insert(value_mut(dict, "dict")?, key, item)
    })
}

/// Like `yoton_value_dict_set_str`, taking `item` over (see `yoton_value_append_take`).
#[no_mangle]
pub extern "C" fn yoton_value_dict_set_str_take(
    dict: *mut yoton_value,
    key: *const c_char,
    item: *mut yoton_value,
) -> c_int {
    guard(|| {
        let item = take_value(item).ok_or_else(|| Error::invalid("item is NULL"))?;
        let key = Value::Str(str_arg(key, "key")?.to_owned());
        dict_insert(value_mut(dict, "dict")?, key, item)
    })
}

/// `dict[key] = item` with Python's key equality (`1`, `1.0` and `True` are one key).
fn dict_insert(dict: &mut Value, key: Value, item: Value) -> Result<()> {
    match dict {
        Value::Dict(pairs) => {
            match pairs.iter_mut().rev().find(|(k, _)| k.py_eq(&key)) {
                Some(pair) => pair.1 = item,
                None => pairs.push((key, item)),
            }
            Ok(())
        }
        other => Err(wrong_kind(other, "a dict")),
    }
}

/// Set `dict[key] = item` (copies of both): replaces the value of an equal key (by Python's
/// `==`), else appends. Keys that are lists or dicts are refused (Python cannot decode them).
#[no_mangle]
pub extern "C" fn yoton_value_dict_set(
    dict: *mut yoton_value,
    key: *const yoton_value,
    item: *const yoton_value,
) -> c_int {
    guard(|| {
        let key = value_ref(key, "key")?.clone();
        let item = value_ref(item, "item")?.clone();
        if matches!(key, Value::List(_) | Value::Dict(_)) {
            return Err(Error::invalid(
                "dict keys cannot be lists or dicts (Python cannot decode them)",
            ));
        }
        dict_insert(value_mut(dict, "dict")?, key, item)
    })
}

/// Python's `==`: numbers compare by value across bool, int and float (`True == 1 == 1.0`;
/// NaN equals nothing), lists and tuples item by item (a list never equals a tuple), dicts as
/// mappings whatever their order.
#[no_mangle]
pub extern "C" fn yoton_value_equal(
    a: *const yoton_value,
    b: *const yoton_value,
    out: *mut bool,
) -> c_int {
    guard(|| write_out(out, value_ref(a, "a")?.py_eq(value_ref(b, "b")?)))
}

fn encode(value: &Value) -> Result<Vec<u8>> {
    object::encode(value).map_err(|e| Error::new(ErrorKind::Encoding, e.0))
}

/// Encode into `buf` (the OBJECT wire bytes). `*len` (may be NULL) gets the encoded size;
/// if `cap` is smaller, nothing is written and YOTON_ERR_TOO_LARGE is returned (call with
/// cap 0 to ask for the size).
#[no_mangle]
pub extern "C" fn yoton_value_encode(
    value: *const yoton_value,
    buf: *mut c_void,
    cap: usize,
    len: *mut usize,
) -> c_int {
    guard(|| {
        let bytes = encode(value_ref(value, "value")?)?;
        write_opt(len, bytes.len())?;
        if buf.is_null() || cap < bytes.len() {
            return Err(Error::new(
                ErrorKind::TooLarge,
                format!(
                    "buffer of {cap} bytes is too small for {} bytes",
                    bytes.len()
                ),
            ));
        }
        // SAFETY: buf has `cap >= bytes.len()` writable bytes by the caller's contract.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), buf.cast::<u8>(), bytes.len()) };
        Ok(())
    })
}

/// Decode OBJECT wire bytes. Caller owns `*out` (`yoton_value_free`).
/// YOTON_ERR_ENCODING for truncated or invalid input.
#[no_mangle]
pub extern "C" fn yoton_value_decode(
    data: *const c_void,
    len: usize,
    out: *mut *mut yoton_value,
) -> c_int {
    guard(|| {
        let bytes = bytes_arg(data, len, "data")?;
        check_out(out)?;
        let value = object::decode(bytes).map_err(|e| Error::encoding(e.0))?;
        value_out(out, value)
    })
}

/// Python-style text of a value (`(1, 'a', [None, True], {'k': 1.5})`) into `buf`, with the
/// buffer convention of `yoton_connection_name`.
#[no_mangle]
pub extern "C" fn yoton_value_repr(
    value: *const yoton_value,
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> c_int {
    guard(|| write_str(&value_ref(value, "value")?.repr(), buf, cap, len))
}
