/**
 * @file yoton.hpp
 * @brief yoton for C++17: a header-only wrapper over the C API of yoton.h.
 *
 * - Handles (Context, Connection, the channels, Future, Message, Signal, Timer, ...) are
 *   move-only RAII classes: the destructor calls the matching `yoton_*_free`. Value is the
 *   exception: it is a value type, copied deeply.
 * - A failed call throws yoton::Error, carrying the status code and `yoton_last_error()`.
 * - Callbacks are any callables (lambdas, std::function); the user_data/free plumbing is done
 *   here. A C++ exception never crosses into the C library: the trampolines catch it and pass
 *   it to the callback error handler (set_callback_error_handler; the default prints it to
 *   stderr). A replier handler's exception becomes the error reply of the request instead.
 * - Times are seconds as `double`, with the C API's rule: 0 does not wait, yoton::forever (any
 *   negative value) means no limit. Default arguments are the original yoton's defaults.
 * - Link with the C library as usual (`Yoton::yoton`, `pkg-config yoton`); docs/cpp.md has a tour.
 */
#ifndef YOTON_HPP
#define YOTON_HPP

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <initializer_list>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "yoton.h"

/// The C++ API of yoton (see yoton.hpp).
namespace yoton {

/// An error reported by the C library: a status code (`yoton_status`) and its details.
class Error : public std::runtime_error {
public:
    /// An error for status `code` from the C call `call`; the details are `yoton_last_error()`.
    Error(int code, const std::string &call) : Error(code, call, yoton_last_error()) {}

    /// An error for status `code` from `call` with explicit details.
    Error(int code, const std::string &call, const std::string &detail)
        : std::runtime_error(call + ": " + yoton_strerror(code) +
                             (detail.empty() ? std::string() : " (" + detail + ")")),
          code_(code), detail_(detail) {}

    /// The status code, one of `yoton_status`.
    int code() const noexcept { return code_; }

    /// The details (`yoton_last_error()` when the error was raised; may be empty).
    const std::string &detail() const noexcept { return detail_; }

private:
    int code_;
    std::string detail_;
};

/// Called with where a callback failed and the exception's text (see set_callback_error_handler).
using CallbackErrorHandler = std::function<void(const char *where, const char *what)>;

/// Internal helpers (not part of the API).
namespace detail {

/// Throw Error when `rc` is not YOTON_OK.
inline void check(int rc, const char *call) {
    if (rc != YOTON_OK) {
        throw Error(rc, call);
    }
}

/// The process-wide callback error handler and its lock.
struct ErrorHandlerSlot {
    std::mutex mutex;               ///< guards handler
    CallbackErrorHandler handler;   ///< empty: print to stderr
};

/// The one ErrorHandlerSlot of the program.
inline ErrorHandlerSlot &error_handler_slot() {
    static ErrorHandlerSlot slot;
    return slot;
}

/// Report the exception being handled (call only inside a catch block). Never throws.
inline void report_current_exception(const char *where) noexcept {
    // No allocation here: the exception object lives until the caller's catch block ends.
    const char *what = "unknown exception";
    try {
        throw;
    } catch (const std::exception &e) {
        what = e.what();
    } catch (...) {
    }
    try {
        CallbackErrorHandler handler;
        {
            std::lock_guard<std::mutex> lock(error_handler_slot().mutex);
            handler = error_handler_slot().handler;
        }
        if (handler) {
            handler(where, what);
            return;
        }
    } catch (...) {
        // The handler itself failed: fall back to stderr.
    }
    std::fprintf(stderr, "yoton: exception in %s: %s\n", where, what);
}

/// Box a callable on the heap as a callback's user data.
template <class Fn>
void *box(Fn fn) {
    return new Fn(std::move(fn));
}

/// The free_user_data function of a box made by box<Fn>.
template <class Fn>
void unbox(void *user_data) noexcept {
    delete static_cast<Fn *>(user_data);
}

/// Read a string through the C API's buffer convention: `fn(buf, cap, &len)`.
template <class Fn>
std::string read_string(Fn &&fn, const char *call) {
    char small[256];
    std::size_t len = 0;
    int rc = fn(small, sizeof small, &len);
    if (rc == YOTON_OK) {
        return std::string(small, len);
    }
    // Too small: ask again with the size given (bounded: the text may grow in between).
    for (int attempt = 0; attempt < 4 && rc == YOTON_ERR_TOO_LARGE; attempt++) {
        std::string text(len + 1, '\0');
        rc = fn(&text[0], text.size(), &len);
        if (rc == YOTON_OK) {
            text.resize(len);
            return text;
        }
    }
    throw Error(rc, call);
}

/// A NUL-terminated copy of `s` (the C API takes C strings).
inline std::string c_str(std::string_view s) { return std::string(s); }

/// An owning pointer to a C handle, released with `Free` (which accepts NULL).
template <class T, void (*Free)(T *)>
class Handle {
public:
    /// An empty handle.
    Handle() noexcept = default;
    /// Take ownership of `p` (may be NULL).
    explicit Handle(T *p) noexcept : p_(p) {}
    /// Move: `other` becomes empty.
    Handle(Handle &&other) noexcept : p_(std::exchange(other.p_, nullptr)) {}
    /// Move-assign: releases the current handle first.
    Handle &operator=(Handle &&other) noexcept {
        if (this != &other) {
            reset(std::exchange(other.p_, nullptr));
        }
        return *this;
    }
    Handle(const Handle &) = delete;
    Handle &operator=(const Handle &) = delete;
    /// Releases the handle.
    ~Handle() { Free(p_); }

    /// The C handle (still owned by this object); NULL when empty.
    T *get() const noexcept { return p_; }
    /// Give up ownership: the caller must release the returned handle.
    T *release() noexcept { return std::exchange(p_, nullptr); }
    /// Release the current handle and take `p`.
    void reset(T *p = nullptr) noexcept { Free(std::exchange(p_, p)); }
    /// Whether a handle is held.
    explicit operator bool() const noexcept { return p_ != nullptr; }

private:
    T *p_ = nullptr;
};

}  // namespace detail

/// Replace the handler of exceptions thrown by callbacks (empty: print to stderr); returns the
/// previous one. It runs on the thread of the failing callback and must not block for long.
inline CallbackErrorHandler set_callback_error_handler(CallbackErrorHandler handler) {
    std::lock_guard<std::mutex> lock(detail::error_handler_slot().mutex);
    std::swap(detail::error_handler_slot().handler, handler);
    return handler;
}

/// A timeout meaning "no limit" (YOTON_FOREVER; any negative value means the same).
inline constexpr double forever = YOTON_FOREVER;

/// The library version at run time ("MAJOR.MINOR.PATCH").
inline std::string version() { return yoton_version(); }

/// A view of bytes (pointer and size; not owned). Built from a string, a string_view, a
/// C string, a pointer and size, or a contiguous container of bytes (std::vector<uint8_t>, ...).
class bytes_view {
public:
    /// An empty view.
    constexpr bytes_view() noexcept = default;
    /// `size` bytes at `data` (data may be NULL only when size is 0).
    constexpr bytes_view(const void *data, std::size_t size) noexcept
        : data_(static_cast<const unsigned char *>(data)), size_(size) {}
    /// The bytes of a string_view.
    constexpr bytes_view(std::string_view s) noexcept : bytes_view(s.data(), s.size()) {}
    /// The bytes of a string.
    bytes_view(const std::string &s) noexcept : bytes_view(s.data(), s.size()) {}
    /// The bytes of a C string (without its NUL; NULL: empty).
    bytes_view(const char *s) noexcept
        : bytes_view(s != nullptr ? std::string_view(s) : std::string_view()) {}
    /// The bytes of a contiguous container of 1-byte elements (vector<uint8_t>, array<byte>, ...).
    template <class C,
              class = std::enable_if_t<
                  !std::is_array_v<C> && !std::is_convertible_v<const C &, std::string_view> &&
                  sizeof(*std::data(std::declval<const C &>())) == 1>>
    bytes_view(const C &container) noexcept
        : bytes_view(std::data(container), std::size(container)) {}

    /// The first byte.
    constexpr const unsigned char *data() const noexcept { return data_; }
    /// The number of bytes.
    constexpr std::size_t size() const noexcept { return size_; }
    /// Whether there are no bytes.
    constexpr bool empty() const noexcept { return size_ == 0; }
    /// Iterator to the first byte.
    constexpr const unsigned char *begin() const noexcept { return data_; }
    /// Iterator past the last byte.
    constexpr const unsigned char *end() const noexcept { return data_ + size_; }
    /// The bytes as characters.
    std::string_view str() const noexcept {
        return std::string_view(reinterpret_cast<const char *>(data_), size_);
    }

private:
    const unsigned char *data_ = nullptr;
    std::size_t size_ = 0;
};


/// A non-owning, read-only view of an OBJECT value (like std::string_view for strings): valid
/// while the value it looks at lives and is not changed. A default view is null (no value);
/// where an argument is optional, a null view means "none".
class ValueView {
public:
    /// A null view.
    ValueView() noexcept = default;
    /// A view of `value` (borrowed; may be NULL).
    explicit ValueView(const yoton_value *value) noexcept : p_(value) {}

    /// The C value (borrowed).
    const yoton_value *get() const noexcept { return p_; }
    /// Whether the view looks at a value.
    explicit operator bool() const noexcept { return p_ != nullptr; }

    /// The kind, one of `yoton_value_kind`.
    yoton_value_kind kind() const {
        int kind = 0;
        detail::check(yoton_value_get_kind(p_, &kind), "yoton_value_get_kind");
        return static_cast<yoton_value_kind>(kind);
    }
    /// Whether the value is None.
    bool is_none() const { return kind() == YOTON_VALUE_NONE; }
    /// Whether the value is a bool.
    bool is_bool() const { return kind() == YOTON_VALUE_BOOL; }
    /// Whether the value is an int.
    bool is_int() const { return kind() == YOTON_VALUE_INT; }
    /// Whether the value is a float.
    bool is_float() const { return kind() == YOTON_VALUE_FLOAT; }
    /// Whether the value is a string.
    bool is_string() const { return kind() == YOTON_VALUE_STRING; }
    /// Whether the value is a list.
    bool is_list() const { return kind() == YOTON_VALUE_LIST; }
    /// Whether the value is a tuple.
    bool is_tuple() const { return kind() == YOTON_VALUE_TUPLE; }
    /// Whether the value is a dict.
    bool is_dict() const { return kind() == YOTON_VALUE_DICT; }

    /// The boolean of a bool value (Error otherwise).
    bool as_bool() const {
        bool b = false;
        detail::check(yoton_value_get_bool(p_, &b), "yoton_value_get_bool");
        return b;
    }
    /// The integer of an int value (Error otherwise).
    std::int64_t as_int() const {
        std::int64_t i = 0;
        detail::check(yoton_value_get_int(p_, &i), "yoton_value_get_int");
        return i;
    }
    /// The number of a float or int value (Error otherwise).
    double as_double() const {
        double f = 0;
        detail::check(yoton_value_get_float(p_, &f), "yoton_value_get_float");
        return f;
    }
    /// The UTF-8 text of a string value, borrowed like the view (Error for other kinds).
    std::string_view as_string_view() const {
        const char *data = nullptr;
        std::size_t len = 0;
        detail::check(yoton_value_get_string(p_, &data, &len), "yoton_value_get_string");
        return std::string_view(data, len);
    }
    /// A copy of the text of a string value (Error for other kinds).
    std::string as_string() const { return std::string(as_string_view()); }

    /// Number of items of a list or tuple, or of pairs of a dict.
    std::size_t size() const {
        std::size_t n = 0;
        detail::check(yoton_value_len(p_, &n), "yoton_value_len");
        return n;
    }
    /// Item `index` of a list or tuple (Error if out of range).
    ValueView operator[](std::size_t index) const {
        const yoton_value *item = nullptr;
        detail::check(yoton_value_item(p_, index, &item), "yoton_value_item");
        return ValueView(item);
    }
    /// The value under string key `key` of a dict (Error YOTON_ERR_NOT_FOUND if absent).
    ValueView operator[](std::string_view key) const {
        const yoton_value *item = nullptr;
        detail::check(yoton_value_dict_get(p_, detail::c_str(key).c_str(), &item),
                      "yoton_value_dict_get");
        return ValueView(item);
    }
    /// The value under string key `key` of a dict, or nothing if absent (Error if no dict).
    std::optional<ValueView> find(std::string_view key) const {
        const yoton_value *item = nullptr;
        const int rc = yoton_value_dict_get(p_, detail::c_str(key).c_str(), &item);
        if (rc == YOTON_ERR_NOT_FOUND) {
            return std::nullopt;
        }
        detail::check(rc, "yoton_value_dict_get");
        return ValueView(item);
    }
    /// Pair `index` of a dict (insertion order) as (key, value).
    std::pair<ValueView, ValueView> entry(std::size_t index) const {
        const yoton_value *key = nullptr;
        const yoton_value *item = nullptr;
        detail::check(yoton_value_dict_entry(p_, index, &key, &item), "yoton_value_dict_entry");
        return {ValueView(key), ValueView(item)};
    }
    /// The items of a list or tuple, in order.
    std::vector<ValueView> items() const {
        std::vector<ValueView> out;
        const std::size_t n = size();
        for (std::size_t i = 0; i < n; i++) {
            out.push_back((*this)[i]);
        }
        return out;
    }
    /// The (key, value) pairs of a dict, in insertion order.
    std::vector<std::pair<ValueView, ValueView>> entries() const {
        std::vector<std::pair<ValueView, ValueView>> out;
        const std::size_t n = size();
        for (std::size_t i = 0; i < n; i++) {
            out.push_back(entry(i));
        }
        return out;
    }

    /// Python-style text, e.g. `(1, 'a', [None, True], {'k': 1.5})`.
    std::string repr() const {
        return detail::read_string(
            [&](char *buf, std::size_t cap, std::size_t *len) {
                return yoton_value_repr(p_, buf, cap, len);
            },
            "yoton_value_repr");
    }
    /// The OBJECT wire bytes.
    std::vector<std::uint8_t> encode() const {
        std::size_t len = 0;
        int rc = yoton_value_encode(p_, nullptr, 0, &len);
        if (rc != YOTON_OK && rc != YOTON_ERR_TOO_LARGE) {
            throw Error(rc, "yoton_value_encode");
        }
        std::vector<std::uint8_t> out(len);
        detail::check(yoton_value_encode(p_, out.data(), out.size(), &len), "yoton_value_encode");
        return out;
    }

    /// Deep equality (NaN != NaN).
    friend bool operator==(const ValueView &a, const ValueView &b) {
        bool eq = false;
        detail::check(yoton_value_equal(a.p_, b.p_, &eq), "yoton_value_equal");
        return eq;
    }
    /// Deep inequality.
    friend bool operator!=(const ValueView &a, const ValueView &b) { return !(a == b); }

protected:
    const yoton_value *p_ = nullptr;  ///< the value looked at (owned by Value, not by a view)
};

/// An owned OBJECT value: None, bool, int, float, string, list, tuple or dict. Copying makes
/// a deep copy; a moved-from Value is null. Build values naturally:
///
///     yoton::Value v = yoton::Value::dict({{"id", 1},
///                                          {"tags", yoton::Value::list({"a", "b"})},
///                                          {"pos", yoton::Value::tuple({1.5, -2.0})},
///                                          {"ok", true}, {"none", nullptr}});
///
/// A Value is a ValueView of itself, so every accessor of ValueView applies.
class Value : public ValueView {
public:
    /// None.
    Value() : Value(yoton_value_new_none()) {}
    /// None.
    Value(std::nullptr_t) : Value() {}
    /// A bool.
    Value(bool b) : Value(yoton_value_new_bool(b)) {}
    /// An int (any integer type; Error beyond the int64 range).
    template <class T, std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>, int> = 0>
    Value(T i) : Value(yoton_value_new_int(to_int64(i))) {}
    /// A float (float or double).
    template <class T, std::enable_if_t<std::is_floating_point_v<T>, int> = 0>
    Value(T f) : Value(yoton_value_new_float(static_cast<double>(f))) {}
    /// A string from UTF-8 text (Error YOTON_ERR_ENCODING if not UTF-8; NUL bytes allowed).
    Value(std::string_view text) : ValueView() {
        yoton_value *v = nullptr;
        detail::check(yoton_value_new_string_len(text.data(), text.size(), &v),
                      "yoton_value_new_string_len");
        p_ = v;
    }
    /// A string from a std::string.
    Value(const std::string &text) : Value(std::string_view(text)) {}
    /// A string from a C string (Error YOTON_ERR_INVALID_ARGUMENT for NULL).
    Value(const char *text) : Value(c_string(text)) {}
    /// A deep copy of the value a view looks at (Error for a null view).
    explicit Value(const ValueView &view) : ValueView() {
        yoton_value *v = nullptr;
        detail::check(yoton_value_clone(view.get(), &v), "yoton_value_clone");
        p_ = v;
    }
    /// Take ownership of a C value (may be NULL: then the Value is null).
    explicit Value(yoton_value *owned) noexcept : ValueView(owned) {}

    /// Deep copy (a copy of a null Value is null).
    Value(const Value &other) : ValueView() {
        if (other.p_ != nullptr) {
            p_ = Value(static_cast<const ValueView &>(other)).release();
        }
    }
    /// Move: `other` becomes null.
    Value(Value &&other) noexcept : ValueView(std::exchange(other.p_, nullptr)) {}
    /// Deep copy-assign.
    Value &operator=(const Value &other) {
        if (this != &other) {
            *this = Value(other);
        }
        return *this;
    }
    /// Move-assign.
    Value &operator=(Value &&other) noexcept {
        if (this != &other) {
            yoton_value_free(mut());
            p_ = std::exchange(other.p_, nullptr);
        }
        return *this;
    }
    /// Releases the value.
    ~Value() { yoton_value_free(mut()); }

    /// A list of copies of `items`.
    static Value list(std::initializer_list<Value> items = {}) {
        return fill(Value(yoton_value_new_list()), items);
    }
    /// A tuple of copies of `items` (distinct from a list on the wire).
    static Value tuple(std::initializer_list<Value> items = {}) {
        return fill(Value(yoton_value_new_tuple()), items);
    }
    /// A dict of copies of the (key, value) pairs, in order (a repeated key replaces the value).
    static Value dict(std::initializer_list<std::pair<Value, Value>> entries = {}) {
        Value d(yoton_value_new_dict());
        for (const auto &kv : entries) {
            d.set(kv.first, kv.second);
        }
        return d;
    }
    /// Decode OBJECT wire bytes (Error YOTON_ERR_ENCODING if invalid).
    static Value decode(bytes_view bytes) {
        yoton_value *v = nullptr;
        detail::check(yoton_value_decode(bytes.data(), bytes.size(), &v), "yoton_value_decode");
        return Value(v);
    }

    /// Append a copy of `item` to a list or tuple; returns *this.
    Value &append(const Value &item) { return append(static_cast<const ValueView &>(item)); }
    /// Append a copy of the value `item` looks at; returns *this.
    Value &append(const ValueView &item) {
        detail::check(yoton_value_append(mut(), item.get()), "yoton_value_append");
        return *this;
    }
    /// Set `dict[key] = item` (copies; an equal key's value is replaced); returns *this.
    Value &set(const Value &key, const Value &item) {
        detail::check(yoton_value_dict_set(mut(), key.get(), item.get()), "yoton_value_dict_set");
        return *this;
    }

    /// Give up ownership of the C value (the caller frees it with yoton_value_free).
    yoton_value *release() noexcept { return const_cast<yoton_value *>(std::exchange(p_, nullptr)); }

private:
    yoton_value *mut() const noexcept { return const_cast<yoton_value *>(p_); }

    static std::string_view c_string(const char *text) {
        if (text == nullptr) {
            throw Error(YOTON_ERR_INVALID_ARGUMENT, "yoton::Value", "NULL string");
        }
        return text;
    }

    template <class T>
    static std::int64_t to_int64(T i) {
        if constexpr (std::is_unsigned_v<T> && sizeof(T) >= sizeof(std::int64_t)) {
            if (i > static_cast<T>(INT64_MAX)) {
                throw Error(YOTON_ERR_INVALID_ARGUMENT, "yoton::Value", "integer beyond int64");
            }
        }
        return static_cast<std::int64_t>(i);
    }

    static Value fill(Value container, std::initializer_list<Value> items) {
        for (const Value &item : items) {
            container.append(item);
        }
        return container;
    }
};

/// A received message (move-only). Its bytes stay valid while the Message lives.
class Message : public detail::Handle<yoton_message, yoton_message_free> {
public:
    using Handle::Handle;

    /// The body.
    bytes_view data() const {
        const void *data = nullptr;
        std::size_t len = 0;
        detail::check(yoton_message_data(get(), &data, &len), "yoton_message_data");
        return bytes_view(data, len);
    }
    /// The body as text (a TEXT message is UTF-8).
    std::string_view text() const { return data().str(); }
    /// The body decoded as an OBJECT value (Error YOTON_ERR_ENCODING if it is not one).
    Value value() const {
        yoton_value *v = nullptr;
        detail::check(yoton_message_value(get(), &v), "yoton_message_value");
        return Value(v);
    }
    /// Id of the context that sent it.
    std::uint64_t source_id() const {
        std::uint64_t id = 0;
        detail::check(yoton_message_source_id(get(), &id), "yoton_message_source_id");
        return id;
    }
    /// The sender's sequence number.
    std::uint64_t source_seq() const {
        std::uint64_t seq = 0;
        detail::check(yoton_message_source_seq(get(), &seq), "yoton_message_source_seq");
        return seq;
    }
    /// Arrival order among all channels of the receiving context.
    std::uint64_t recv_seq() const {
        std::uint64_t seq = 0;
        detail::check(yoton_message_recv_seq(get(), &seq), "yoton_message_recv_seq");
        return seq;
    }
};

/// Internal helpers (not part of the API).
namespace detail {
/// Own every message of an array from yoton_sub_recv_all / yoton_sub_recv_selected.
inline std::vector<Message> take_messages(yoton_message **array, std::size_t count) {
    std::vector<Message> out;
    try {
        out.reserve(count);
    } catch (...) {
        yoton_message_array_free(array, count);
        throw;
    }
    for (std::size_t i = 0; i < count; i++) {
        out.emplace_back(std::exchange(array[i], nullptr));
    }
    yoton_message_array_free(array, count);  // NULL entries are skipped
    return out;
}
}  // namespace detail

/// Bodies of messages received in one call by Subscriber::recv_batch, one after the other in
/// a buffer the batch owns and reuses from call to call (no allocation per message).
class MessageBatch {
public:
    /// Room for up to `max_count` messages (at least 1) and `capacity` bytes of bodies per
    /// call; a bigger message still comes (the buffer grows for it).
    explicit MessageBatch(std::size_t capacity = 64 * 1024, std::size_t max_count = 1024)
        : buf_(capacity),
          lens_(max_count > 0 ? max_count : 1),
          seqs_(lens_.size()),
          starts_(lens_.size()) {}

    /// The number of messages the last recv_batch took.
    std::size_t size() const noexcept { return count_; }
    /// Whether the last recv_batch took none.
    bool empty() const noexcept { return count_ == 0; }
    /// The body of message `i` (std::out_of_range unless i < size()), valid until the next
    /// recv_batch with this batch.
    bytes_view operator[](std::size_t i) const {
        return bytes_view(buf_.data() + starts_.at(index(i)), lens_[i]);
    }
    /// The arrival order of message `i` among all channels of the receiving context (as
    /// Message::recv_seq).
    std::uint64_t recv_seq(std::size_t i) const { return seqs_[index(i)]; }

private:
    friend class Subscriber;
    std::size_t index(std::size_t i) const {
        if (i >= count_) {
            throw std::out_of_range("yoton::MessageBatch: index out of range");
        }
        return i;
    }
    std::vector<unsigned char> buf_;
    std::vector<std::size_t> lens_;
    std::vector<std::uint64_t> seqs_;
    std::vector<std::size_t> starts_;
    std::size_t count_ = 0;
};

/// A non-owning view of a future, as given to done-callbacks; Future owns one.
class FutureView {
public:
    /// A view of `future` (borrowed).
    explicit FutureView(const yoton_future *future) noexcept : p_(future) {}

    /// The C future (borrowed).
    const yoton_future *get() const noexcept { return p_; }

    /// The state, one of `yoton_future_status`.
    yoton_future_status status() const {
        int s = 0;
        detail::check(yoton_future_get_status(p_, &s), "yoton_future_get_status");
        return static_cast<yoton_future_status>(s);
    }
    /// Cancelled, failed or succeeded.
    bool done() const { return flag(yoton_future_is_done, "yoton_future_is_done"); }
    /// Taken by a replier and not finished.
    bool running() const { return flag(yoton_future_is_running, "yoton_future_is_running"); }
    /// Cancelled.
    bool cancelled() const {
        return flag(yoton_future_is_cancelled, "yoton_future_is_cancelled");
    }
    /// Cancel a request no replier took yet: false while it runs, true if cancelled or done.
    bool cancel() const { return flag(yoton_future_cancel, "yoton_future_cancel"); }

    /// The result, waiting up to `timeout` s (forever by default; 0: do not wait). Error with
    /// YOTON_ERR_TIMEOUT, _CANCELLED, _REMOTE (detail(): the replier's error text), _IO ...
    Value result(double timeout = forever) const {
        yoton_value *v = nullptr;
        detail::check(yoton_future_result(p_, timeout, &v), "yoton_future_result");
        return Value(v);
    }
    /// The result if it comes within `timeout` s (default 1 s, as in the original; forever: no
    /// limit); otherwise cancel the request and throw Error YOTON_ERR_CANCELLED.
    Value result_or_cancel(double timeout = 1.0) const {
        yoton_value *v = nullptr;
        detail::check(yoton_future_result_or_cancel(p_, timeout, &v),
                      "yoton_future_result_or_cancel");
        return Value(v);
    }
    /// The error text of a failed request, waiting like result(); Error
    /// YOTON_ERR_INVALID_ARGUMENT if it succeeded.
    std::string exception(double timeout = forever) const {
        return detail::read_string(
            [&](char *buf, std::size_t cap, std::size_t *len) {
                return yoton_future_exception(p_, timeout, buf, cap, len);
            },
            "yoton_future_exception");
    }
    /// Cancel automatically if no replier took the request within `seconds` (forever: never).
    void set_auto_cancel_timeout(double seconds) const {
        detail::check(yoton_future_set_auto_cancel_timeout(p_, seconds),
                      "yoton_future_set_auto_cancel_timeout");
    }
    /// Executor side: move from waiting to running; false if it was cancelled.
    bool set_running_or_notify_cancel() const {
        return flag(yoton_future_set_running_or_notify_cancel,
                    "yoton_future_set_running_or_notify_cancel");
    }
    /// Executor side: complete with a copy of `value`.
    void set_result(const ValueView &value) const {
        detail::check(yoton_future_set_result(p_, value.get()), "yoton_future_set_result");
    }
    /// Executor side: complete with an error text (result() then throws YOTON_ERR_REMOTE).
    void set_exception(std::string_view text) const {
        detail::check(yoton_future_set_exception(p_, detail::c_str(text).c_str()),
                      "yoton_future_set_exception");
    }

protected:
    const yoton_future *p_;  ///< the future looked at

private:
    bool flag(int (*fn)(const yoton_future *, bool *), const char *call) const {
        bool b = false;
        detail::check(fn(p_, &b), call);
        return b;
    }
};

/// The future result of a request (Requester::call) or a detached future (move-only).
class Future : public FutureView {
public:
    /// An empty handle (to assign a future to later).
    Future() noexcept : FutureView(nullptr) {}
    /// Take ownership of a C future (may be NULL).
    explicit Future(yoton_future *owned) noexcept : FutureView(owned) {}
    /// Move: `other` becomes empty.
    Future(Future &&other) noexcept : FutureView(std::exchange(other.p_, nullptr)) {}
    /// Move-assign.
    Future &operator=(Future &&other) noexcept {
        if (this != &other) {
            yoton_future_free(mut());
            p_ = std::exchange(other.p_, nullptr);
        }
        return *this;
    }
    Future(const Future &) = delete;
    Future &operator=(const Future &) = delete;
    /// Releases the handle (a request in flight goes on; its result is dropped).
    ~Future() { yoton_future_free(mut()); }

    /// A detached future that you complete yourself (set_result, set_exception).
    static Future detached() {
        yoton_future *f = nullptr;
        detail::check(yoton_future_new(&f), "yoton_future_new");
        return Future(f);
    }

    /// Call `callback` on the event-processing thread once the future is done (at the next
    /// event processing if it is already). Not called if this Future is destroyed first.
    void add_done_callback(std::function<void(FutureView)> callback) const {
        using Fn = std::function<void(FutureView)>;
        detail::check(yoton_future_add_done_callback(p_, &done_trampoline, detail::box<Fn>(std::move(callback)),
                                                     &detail::unbox<Fn>),
                      "yoton_future_add_done_callback");
    }

    /// Whether a handle is held.
    explicit operator bool() const noexcept { return p_ != nullptr; }

private:
    yoton_future *mut() const noexcept { return const_cast<yoton_future *>(p_); }

    static void done_trampoline(void *user_data, const yoton_future *future) noexcept {
        try {
            (*static_cast<std::function<void(FutureView)> *>(user_data))(FutureView(future));
        } catch (...) {
            detail::report_current_exception("future done-callback");
        }
    }
};

/// Queue limits of a context (see Context::set_queue_params).
struct QueueParams {
    std::size_t max_packages;  ///< packages per queue
    std::size_t max_bytes;     ///< bytes per queue
    yoton_discard discard;     ///< what a full queue drops
};

/// A connection between two contexts (move-only). Destroying the handle does not close the
/// connection (the context owns it) but ends the handlers bound through it.
class Connection : public detail::Handle<yoton_connection, yoton_connection_free> {
public:
    using Handle::Handle;

    /// The status, one of `yoton_connection_status`.
    yoton_connection_status status() const {
        int s = 0;
        detail::check(yoton_connection_get_status(get(), &s), "yoton_connection_get_status");
        return static_cast<yoton_connection_status>(s);
    }
    /// Waiting, hosting or connected.
    bool is_alive() const { return flag(yoton_connection_is_alive, "yoton_connection_is_alive"); }
    /// Hosting or connected.
    bool is_connected() const {
        return flag(yoton_connection_is_connected, "yoton_connection_is_connected");
    }
    /// Bound and waiting for a peer.
    bool is_waiting() const {
        return flag(yoton_connection_is_waiting, "yoton_connection_is_waiting");
    }
    /// Nothing heard from the peer for longer than timeout().
    bool is_timedout() const {
        return flag(yoton_connection_is_timedout, "yoton_connection_is_timedout");
    }
    /// Local host (IP text).
    std::string hostname1() const { return text(yoton_connection_hostname1, "yoton_connection_hostname1"); }
    /// Peer host (IP text; empty while waiting).
    std::string hostname2() const { return text(yoton_connection_hostname2, "yoton_connection_hostname2"); }
    /// Local port (while waiting: the listening port).
    std::uint16_t port1() const { return number<std::uint16_t>(yoton_connection_port1, "yoton_connection_port1"); }
    /// Peer port (0 while waiting).
    std::uint16_t port2() const { return number<std::uint16_t>(yoton_connection_port2, "yoton_connection_port2"); }
    /// Own context id.
    std::uint64_t id1() const { return number<std::uint64_t>(yoton_connection_id1, "yoton_connection_id1"); }
    /// Peer context id (0 while waiting).
    std::uint64_t id2() const { return number<std::uint64_t>(yoton_connection_id2, "yoton_connection_id2"); }
    /// Own process id.
    std::uint64_t pid1() const { return number<std::uint64_t>(yoton_connection_pid1, "yoton_connection_pid1"); }
    /// Peer process id (0 while waiting).
    std::uint64_t pid2() const { return number<std::uint64_t>(yoton_connection_pid2, "yoton_connection_pid2"); }
    /// The connection's name.
    std::string name() const { return text(yoton_connection_name, "yoton_connection_name"); }
    /// Set the connection's name.
    void set_name(std::string_view name) const {
        detail::check(yoton_connection_set_name(get(), detail::c_str(name).c_str()),
                      "yoton_connection_set_name");
    }
    /// The `timedout` detection timeout in seconds.
    double timeout() const { return number<double>(yoton_connection_timeout, "yoton_connection_timeout"); }
    /// Set the `timedout` detection timeout (at least 0.5 s).
    void set_timeout(double seconds) const {
        detail::check(yoton_connection_set_timeout(get(), seconds), "yoton_connection_set_timeout");
    }
    /// Why the connection closed (Error YOTON_ERR_INVALID_ARGUMENT while it is open).
    std::string close_reason() const {
        return text(yoton_connection_close_reason, "yoton_connection_close_reason");
    }
    /// Close the connection once it has stayed `timedout` for `seconds` (0: never, the
    /// default; otherwise 0.1 s at least).
    void set_close_after_timedout(double seconds) const {
        detail::check(yoton_connection_set_close_after_timedout(get(), seconds),
                      "yoton_connection_set_close_after_timedout");
    }
    /// The close-after-timedout setting in seconds (0: never).
    double close_after_timedout() const {
        return number<double>(yoton_connection_close_after_timedout,
                              "yoton_connection_close_after_timedout");
    }
    /// Close, telling the peer (empty reason: "Closed on command."). Queued packages are
    /// dropped: flush() first to deliver them.
    void close(std::string_view reason = {}) const {
        const std::string r(reason);
        detail::check(yoton_connection_close(get(), reason.empty() ? nullptr : r.c_str()),
                      "yoton_connection_close");
    }
    /// Close without telling the peer (empty reason: "Unspecified problem").
    void close_on_problem(std::string_view reason = {}) const {
        const std::string r(reason);
        detail::check(yoton_connection_close_on_problem(get(), reason.empty() ? nullptr : r.c_str()),
                      "yoton_connection_close_on_problem");
    }
    /// Wait until everything queued is written, at most `timeout` s (default 3 s, as in the
    /// original; forever: no limit). Error YOTON_ERR_TIMEOUT, or YOTON_ERR_CLOSED if not connected.
    void flush(double timeout = 3.0) const {
        detail::check(yoton_connection_flush(get(), timeout), "yoton_connection_flush");
    }
    /// Call `handler(reason)` on the event-processing thread when the connection closes.
    /// Returns the binding's id for unbind().
    std::uint64_t on_closed(std::function<void(std::string_view reason)> handler) const {
        using Fn = std::function<void(std::string_view)>;
        std::uint64_t id = 0;
        detail::check(yoton_connection_on_closed(get(), &closed_trampoline,
                                                 detail::box<Fn>(std::move(handler)),
                                                 &detail::unbox<Fn>, &id),
                      "yoton_connection_on_closed");
        return id;
    }
    /// Call `handler(timedout)` on the event-processing thread when the `timedout` state
    /// changes. Returns the binding's id for unbind().
    std::uint64_t on_timedout(std::function<void(bool timedout)> handler) const {
        using Fn = std::function<void(bool)>;
        std::uint64_t id = 0;
        detail::check(yoton_connection_on_timedout(get(), &timedout_trampoline,
                                                   detail::box<Fn>(std::move(handler)),
                                                   &detail::unbox<Fn>, &id),
                      "yoton_connection_on_timedout");
        return id;
    }
    /// End a binding made by on_closed or on_timedout.
    void unbind(std::uint64_t id) const {
        detail::check(yoton_connection_unbind(get(), id), "yoton_connection_unbind");
    }

private:
    bool flag(int (*fn)(const yoton_connection *, bool *), const char *call) const {
        bool b = false;
        detail::check(fn(get(), &b), call);
        return b;
    }
    template <class T>
    T number(int (*fn)(const yoton_connection *, T *), const char *call) const {
        T out{};
        detail::check(fn(get(), &out), call);
        return out;
    }
    std::string text(int (*fn)(const yoton_connection *, char *, std::size_t, std::size_t *),
                     const char *call) const {
        return detail::read_string(
            [&](char *buf, std::size_t cap, std::size_t *len) { return fn(get(), buf, cap, len); },
            call);
    }
    static void closed_trampoline(void *user_data, const char *reason) noexcept {
        try {
            (*static_cast<std::function<void(std::string_view)> *>(user_data))(
                reason != nullptr ? std::string_view(reason) : std::string_view());
        } catch (...) {
            detail::report_current_exception("connection closed handler");
        }
    }
    static void timedout_trampoline(void *user_data, bool timedout) noexcept {
        try {
            (*static_cast<std::function<void(bool)> *>(user_data))(timedout);
        } catch (...) {
            detail::report_current_exception("connection timedout handler");
        }
    }
};

/// A node of a yoton network (move-only). Destroying the last handle closes its connections
/// and channels.
class Context : public detail::Handle<yoton_context, yoton_context_free> {
public:
    /// A new context with a fresh random id.
    Context() : Handle(make()) {}
    /// Take ownership of a C context handle (may be NULL).
    explicit Context(yoton_context *owned) noexcept : Handle(owned) {}

    /// The context id (non-zero).
    std::uint64_t id() const {
        std::uint64_t id = 0;
        detail::check(yoton_context_id(get(), &id), "yoton_context_id");
        return id;
    }
    /// Host a connection at `address` ("host:port", "localhost:name+offset", port 0: any free
    /// port), trying up to `max_tries` ports; returns a waiting connection. Empty `name`: the
    /// default name.
    Connection bind(std::string_view address, std::uint32_t max_tries = 1,
                    std::string_view name = {}) const {
        const std::string n(name);
        yoton_connection *c = nullptr;
        detail::check(yoton_context_bind(get(), detail::c_str(address).c_str(), max_tries,
                                         name.empty() ? nullptr : n.c_str(), &c),
                      "yoton_context_bind");
        return Connection(c);
    }
    /// Connect to a context hosting at `address`, retrying up to `timeout` s (default 1 s, as
    /// in the original; forever: until it succeeds). Empty `name`: the default name.
    Connection connect(std::string_view address, double timeout = 1.0,
                       std::string_view name = {}) const {
        const std::string n(name);
        yoton_connection *c = nullptr;
        detail::check(yoton_context_connect(get(), detail::c_str(address).c_str(), timeout,
                                            name.empty() ? nullptr : n.c_str(), &c),
                      "yoton_context_connect");
        return Connection(c);
    }
    /// Close every connection and channel (the context can bind and connect again).
    void close() const { detail::check(yoton_context_close(get()), "yoton_context_close"); }
    /// Close every channel, keep the connections.
    void close_channels() const {
        detail::check(yoton_context_close_channels(get()), "yoton_context_close_channels");
    }
    /// Wait until every connection has written what is queued, at most `timeout` s (default
    /// 5 s, as in the original; forever: no limit).
    void flush(double timeout = 5.0) const {
        detail::check(yoton_context_flush(get(), timeout), "yoton_context_flush");
    }
    /// Number of connections with a peer.
    std::size_t connection_count() const {
        return size(yoton_context_connection_count, "yoton_context_connection_count");
    }
    /// Number of connections including those waiting for a peer.
    std::size_t connection_count_all() const {
        return size(yoton_context_connection_count_all, "yoton_context_connection_count_all");
    }
    /// The `index`-th connection with a peer (or also waiting ones with `include_waiting`).
    Connection connection_at(std::size_t index, bool include_waiting = false) const {
        yoton_connection *c = nullptr;
        detail::check(yoton_context_connection_at(get(), index, include_waiting, &c),
                      "yoton_context_connection_at");
        return Connection(c);
    }
    /// The alive connection named `name` (Error YOTON_ERR_NOT_FOUND if none).
    Connection connection_by_name(std::string_view name) const {
        yoton_connection *c = nullptr;
        detail::check(yoton_context_connection_by_name(get(), detail::c_str(name).c_str(), &c),
                      "yoton_context_connection_by_name");
        return Connection(c);
    }
    /// Queue limits for the startup queue and later channels and connections (0 bytes: keep).
    void set_queue_params(std::size_t max_packages, std::size_t max_bytes,
                          yoton_discard discard = YOTON_DISCARD_OLD) const {
        detail::check(yoton_context_set_queue_params(get(), max_packages, max_bytes, discard),
                      "yoton_context_set_queue_params");
    }
    /// The current queue limits.
    QueueParams queue_params() const {
        QueueParams q{0, 0, YOTON_DISCARD_OLD};
        int discard = 0;
        detail::check(yoton_context_queue_params(get(), &q.max_packages, &q.max_bytes, &discard),
                      "yoton_context_queue_params");
        q.discard = static_cast<yoton_discard>(discard);
        return q;
    }
    /// Number of packages dropped so far by the discard policy.
    std::uint64_t discarded() const {
        std::uint64_t n = 0;
        detail::check(yoton_context_discarded(get(), &n), "yoton_context_discarded");
        return n;
    }
    /// Largest message accepted and sent (at least 1024).
    void set_max_message_size(std::uint64_t bytes) const {
        detail::check(yoton_context_set_max_message_size(get(), bytes),
                      "yoton_context_set_max_message_size");
    }
    /// The largest message size accepted and sent.
    std::uint64_t max_message_size() const {
        std::uint64_t n = 0;
        detail::check(yoton_context_max_message_size(get(), &n), "yoton_context_max_message_size");
        return n;
    }
    /// How long the I/O thread polls after a request/reply step (0 to 0.01 s).
    void set_rpc_spin(double seconds) const {
        detail::check(yoton_context_set_rpc_spin(get(), seconds), "yoton_context_set_rpc_spin");
    }
    /// The RPC spin in seconds.
    double rpc_spin() const {
        double s = 0;
        detail::check(yoton_context_rpc_spin(get(), &s), "yoton_context_rpc_spin");
        return s;
    }
    /// Loss-free mode: disconnect a peer that takes no byte for `seconds` (0: never; else >= 0.5).
    void set_stall_timeout(double seconds) const {
        detail::check(yoton_context_set_stall_timeout(get(), seconds),
                      "yoton_context_set_stall_timeout");
    }
    /// The stall timeout in seconds (0: never).
    double stall_timeout() const {
        double s = 0;
        detail::check(yoton_context_stall_timeout(get(), &s), "yoton_context_stall_timeout");
        return s;
    }
    /// Number of packages waiting in the startup queue.
    std::size_t startup_queued() const {
        return size(yoton_context_startup_queued, "yoton_context_startup_queued");
    }

private:
    static yoton_context *make() {
        yoton_context *ctx = nullptr;
        detail::check(yoton_context_new(&ctx), "yoton_context_new");
        return ctx;
    }
    std::size_t size(int (*fn)(const yoton_context *, std::size_t *), const char *call) const {
        std::size_t n = 0;
        detail::check(fn(get(), &n), call);
        return n;
    }
};

/// A channel of any kind (move-only); destroying it closes it. The kinds are the subclasses.
class Channel : public detail::Handle<yoton_channel, yoton_channel_free> {
public:
    using Handle::Handle;

    /// Close: sends fail, queued messages can still be received.
    void close() const { detail::check(yoton_channel_close(get()), "yoton_channel_close"); }
    /// Whether the channel is closed.
    bool closed() const {
        bool b = false;
        detail::check(yoton_channel_is_closed(get(), &b), "yoton_channel_is_closed");
        return b;
    }
    /// Number of messages waiting to be received.
    std::size_t pending() const {
        std::size_t n = 0;
        detail::check(yoton_channel_pending(get(), &n), "yoton_channel_pending");
        return n;
    }
    /// The kind, one of `yoton_channel_kind`.
    yoton_channel_kind kind() const {
        int k = 0;
        detail::check(yoton_channel_get_kind(get(), &k), "yoton_channel_get_kind");
        return static_cast<yoton_channel_kind>(k);
    }
    /// Full outgoing slot name (e.g. "chat.txt.pub-sub").
    std::string slot_outgoing() const {
        return text(yoton_channel_slot_outgoing, "yoton_channel_slot_outgoing");
    }
    /// Full incoming slot name (e.g. "chat.txt.sub-pub").
    std::string slot_incoming() const {
        return text(yoton_channel_slot_incoming, "yoton_channel_slot_incoming");
    }
    /// Message type name ("txt", "bin", "obj" or custom).
    std::string message_type() const {
        return text(yoton_channel_message_type, "yoton_channel_message_type");
    }
    /// Call `callback` on the event-processing thread after messages arrived (one call per
    /// burst). Returns the binding's id for unbind(); the binding ends with this handle.
    std::uint64_t on_received(std::function<void()> callback) const {
        using Fn = std::function<void()>;
        std::uint64_t id = 0;
        detail::check(yoton_channel_on_received(get(), &void_trampoline,
                                                detail::box<Fn>(std::move(callback)),
                                                &detail::unbox<Fn>, &id),
                      "yoton_channel_on_received");
        return id;
    }
    /// End a binding made by on_received.
    void unbind(std::uint64_t id) const {
        detail::check(yoton_channel_unbind(get(), id), "yoton_channel_unbind");
    }

protected:
    /// Make a channel with a C constructor taking (ctx, base, type_name, out).
    static yoton_channel *make(int (*fn)(const yoton_context *, const char *, const char *,
                                         yoton_channel **),
                               const Context &ctx, std::string_view base,
                               std::string_view type_name, const char *call) {
        yoton_channel *ch = nullptr;
        detail::check(fn(ctx.get(), detail::c_str(base).c_str(), detail::c_str(type_name).c_str(), &ch),
                      call);
        return ch;
    }
    /// Make a channel with a C constructor taking (ctx, base, out).
    static yoton_channel *make(int (*fn)(const yoton_context *, const char *, yoton_channel **),
                               const Context &ctx, std::string_view base, const char *call) {
        yoton_channel *ch = nullptr;
        detail::check(fn(ctx.get(), detail::c_str(base).c_str(), &ch), call);
        return ch;
    }
    /// The trampoline of a `void()` callback boxed as std::function.
    static void void_trampoline(void *user_data) noexcept {
        try {
            (*static_cast<std::function<void()> *>(user_data))();
        } catch (...) {
            detail::report_current_exception("channel received callback");
        }
    }

private:
    std::string text(int (*fn)(const yoton_channel *, char *, std::size_t, std::size_t *),
                     const char *call) const {
        return detail::read_string(
            [&](char *buf, std::size_t cap, std::size_t *len) { return fn(get(), buf, cap, len); },
            call);
    }
};

/// A publisher: sends to every subscriber of its slot base and message type.
class Publisher : public Channel {
public:
    /// A publisher on slot base `base` with message type `type_name` ("txt", "bin", "obj" or
    /// a custom name).
    Publisher(const Context &ctx, std::string_view base, std::string_view type_name = "txt")
        : Channel(make(yoton_pub_new, ctx, base, type_name, "yoton_pub_new")) {}

    /// Publish bytes (copied; TEXT channels need UTF-8, OBJECT channels an encoded value).
    /// An empty message is skipped. May wait up to 1 s while a connection is congested.
    void send(bytes_view data) const {
        detail::check(yoton_pub_send(get(), data.data(), data.size()), "yoton_pub_send");
    }
    /// Publish a value on an OBJECT channel.
    void send_value(const ValueView &value) const {
        detail::check(yoton_pub_send_value(get(), value.get()), "yoton_pub_send_value");
    }
    /// Publish a buffer without copying it (zero-copy, for big messages): the buffer (a
    /// std::string, std::vector<uint8_t>, ...) is moved in and destroyed once every
    /// connection wrote it, on some yoton thread.
    template <class Buffer>
    void send_owned(Buffer &&buffer) const {
        using B = std::decay_t<Buffer>;
        B *owned = new B(std::forward<Buffer>(buffer));
        const bytes_view bytes(*owned);
        // On failure yoton still calls the free function: no leak.
        detail::check(yoton_pub_send_zc(get(), bytes.data(), bytes.size(), &detail::unbox<B>, owned),
                      "yoton_pub_send_zc");
    }
};

/// A subscriber: receives what publishers of its slot base and message type send.
class Subscriber : public Channel {
public:
    /// A subscriber on slot base `base` with message type `type_name`.
    Subscriber(const Context &ctx, std::string_view base, std::string_view type_name = "txt")
        : Channel(make(yoton_sub_new, ctx, base, type_name, "yoton_sub_new")) {}

    /// The oldest message, waiting up to `timeout` s (forever: until one arrives or the
    /// channel closes). Error YOTON_ERR_TIMEOUT if none came, YOTON_ERR_CLOSED if closed.
    Message recv(double timeout = forever) const {
        yoton_message *m = nullptr;
        detail::check(yoton_sub_recv(get(), timeout, &m), "yoton_sub_recv");
        return Message(m);
    }
    /// Like recv(), but nothing (instead of an Error) if no message came within `timeout`.
    std::optional<Message> try_recv(double timeout = 0) const {
        yoton_message *m = nullptr;
        const int rc = yoton_sub_recv(get(), timeout, &m);
        if (rc == YOTON_ERR_TIMEOUT) {
            return std::nullopt;
        }
        detail::check(rc, "yoton_sub_recv");
        return Message(m);
    }
    /// Every pending message, without waiting.
    std::vector<Message> recv_all() const {
        yoton_message **array = nullptr;
        std::size_t count = 0;
        detail::check(yoton_sub_recv_all(get(), &array, &count), "yoton_sub_recv_all");
        return detail::take_messages(array, count);
    }
    /// Take up to the batch's max_count pending messages in one call, their bodies copied
    /// into `batch` (yoton_sub_recv_batch), after waiting up to `timeout` s for the first.
    /// Returns how many came (also batch.size()): 0 if none came within `timeout`. A message
    /// bigger than the batch's buffer grows the buffer. Error YOTON_ERR_CLOSED once the
    /// channel is closed and empty.
    std::size_t recv_batch(MessageBatch &batch, double timeout = forever) const {
        batch.count_ = 0;
        for (;;) {
            std::size_t count = 0;
            std::size_t used = 0;
            const int rc = yoton_sub_recv_batch(get(), timeout, batch.buf_.data(), batch.buf_.size(),
                                                batch.lens_.data(), batch.seqs_.data(),
                                                batch.lens_.size(), &count, &used);
            if (rc == YOTON_ERR_TIMEOUT) {
                return 0;
            }
            if (rc == YOTON_ERR_TOO_LARGE) {
                batch.buf_.resize(used);  // the oldest message is bigger; it stays queued
                continue;
            }
            detail::check(rc, "yoton_sub_recv_batch");
            std::size_t start = 0;
            for (std::size_t i = 0; i < count; i++) {
                batch.starts_[i] = start;
                start += batch.lens_[i];
            }
            batch.count_ = count;
            return count;
        }
    }
    /// Sync mode: ask publishers to slow down while more than 32 messages are pending.
    void set_sync_mode(bool on) const {
        detail::check(yoton_sub_set_sync_mode(get(), on), "yoton_sub_set_sync_mode");
    }
    /// Of subscribers of one context, wait up to `timeout` s (default 0: do not wait) for a
    /// message on any, and give the index of the one holding the oldest pending message
    /// (nothing if none came); then call recv_selected() on it. Error YOTON_ERR_CLOSED once
    /// every subscriber is closed.
    static std::optional<std::size_t> select(const std::vector<const Subscriber *> &subscribers,
                                             double timeout = 0) {
        std::vector<yoton_channel *> raw;
        raw.reserve(subscribers.size());
        for (const Subscriber *s : subscribers) {
            raw.push_back(s != nullptr ? s->get() : nullptr);
        }
        std::size_t index = 0;
        const int rc = yoton_sub_select_wait(raw.data(), raw.size(), timeout, &index);
        if (rc == YOTON_ERR_TIMEOUT) {
            return std::nullopt;
        }
        detail::check(rc, "yoton_sub_select_wait");
        return index;
    }
    /// After select() chose this subscriber: its messages older than any pending elsewhere.
    std::vector<Message> recv_selected() const {
        yoton_message **array = nullptr;
        std::size_t count = 0;
        detail::check(yoton_sub_recv_selected(get(), &array, &count), "yoton_sub_recv_selected");
        return detail::take_messages(array, count);
    }
};

/// A requester: calls methods on repliers of its slot base (OBJECT values).
class Requester : public Channel {
public:
    /// A requester on slot base `base`.
    Requester(const Context &ctx, std::string_view base)
        : Channel(make(yoton_req_new, ctx, base, "yoton_req_new")) {}

    /// Call `method` with positional `args` (a tuple or list; null: none) and keyword
    /// `kwargs` (a dict with string keys; null: none); returns at once with a Future.
    Future call(std::string_view method, const ValueView &args = ValueView(),
                const ValueView &kwargs = ValueView()) const {
        yoton_future *f = nullptr;
        detail::check(yoton_req_call(get(), detail::c_str(method).c_str(), args.get(), kwargs.get(), &f),
                      "yoton_req_call");
        return Future(f);
    }
    /// Auto-cancel timeout for new requests, in seconds (forever: never; the default is 10 s).
    void set_default_timeout(double seconds) const {
        detail::check(yoton_req_set_default_timeout(get(), seconds),
                      "yoton_req_set_default_timeout");
    }
};

/// A replier: answers the requests of requesters of its slot base with registered handlers.
class Replier : public Channel {
public:
    /// The handler type: (args tuple, kwargs dict) -> result. Throwing answers with an error.
    using Handler = std::function<Value(ValueView args, ValueView kwargs)>;

    /// A replier on slot base `base`, in mode YOTON_REP_OFF until set_mode().
    Replier(const Context &ctx, std::string_view base)
        : Channel(make(yoton_rep_new, ctx, base, "yoton_rep_new")) {}

    /// Register `handler` for `method` (replacing a previous one). It may take (args, kwargs)
    /// or just (args) and return a Value (or anything a Value is built from) or void (None).
    /// An exception it throws becomes the request's error (the requester's YOTON_ERR_REMOTE,
    /// with what() as text). It runs on the replier's processing thread (see set_mode).
    template <class F>
    void on(std::string_view method, F handler) const {
        register_handler(method, adapt(std::move(handler)));
    }
    /// Remove the handler of `method` (Error if there is none).
    void unregister(std::string_view method) const {
        detail::check(yoton_rep_unregister(get(), detail::c_str(method).c_str()),
                      "yoton_rep_unregister");
    }
    /// Choose how requests are processed: YOTON_REP_OFF, _EVENT (in process_events) or _THREAD.
    void set_mode(yoton_rep_mode mode) const {
        detail::check(yoton_rep_set_mode(get(), mode), "yoton_rep_set_mode");
    }
    /// The processing mode.
    yoton_rep_mode mode() const {
        int m = 0;
        detail::check(yoton_rep_get_mode(get(), &m), "yoton_rep_get_mode");
        return static_cast<yoton_rep_mode>(m);
    }
    /// Handle every queued request now on the calling thread; returns the packages processed.
    std::size_t handle_pending() const {
        std::size_t n = 0;
        detail::check(yoton_rep_handle_pending(get(), &n), "yoton_rep_handle_pending");
        return n;
    }

private:
    template <class F>
    static Handler adapt(F f) {
        if constexpr (std::is_invocable_v<F &, ValueView, ValueView>) {
            return [f = std::move(f)](ValueView args, ValueView kwargs) mutable -> Value {
                if constexpr (std::is_void_v<std::invoke_result_t<F &, ValueView, ValueView>>) {
                    f(args, kwargs);
                    return Value();
                } else {
                    return Value(f(args, kwargs));
                }
            };
        } else {
            static_assert(std::is_invocable_v<F &, ValueView>,
                          "a replier handler takes (ValueView args, ValueView kwargs) or (ValueView args)");
            return [f = std::move(f)](ValueView args, ValueView) mutable -> Value {
                if constexpr (std::is_void_v<std::invoke_result_t<F &, ValueView>>) {
                    f(args);
                    return Value();
                } else {
                    return Value(f(args));
                }
            };
        }
    }
    void register_handler(std::string_view method, Handler handler) const {
        detail::check(yoton_rep_register(get(), detail::c_str(method).c_str(), &rep_trampoline,
                                         detail::box<Handler>(std::move(handler)),
                                         &detail::unbox<Handler>),
                      "yoton_rep_register");
    }
    static void rep_trampoline(void *user_data, const yoton_value *args, const yoton_value *kwargs,
                               yoton_reply *reply) noexcept {
        try {
            const Value result = (*static_cast<Handler *>(user_data))(ValueView(args), ValueView(kwargs));
            detail::check(yoton_reply_set_result(reply, result.get()), "yoton_reply_set_result");
        } catch (const std::exception &e) {
            if (yoton_reply_set_error(reply, e.what()) != YOTON_OK) {
                yoton_reply_set_error(reply, "C++ exception (its text is not UTF-8)");
            }
        } catch (...) {
            yoton_reply_set_error(reply, "unknown C++ exception");
        }
    }
};

/// A state channel: every context of the slot base sees the last state sent.
class State : public Channel {
public:
    /// A state channel on slot base `base` with message type `type_name`.
    State(const Context &ctx, std::string_view base, std::string_view type_name = "txt")
        : Channel(make(yoton_state_new, ctx, base, type_name, "yoton_state_new")) {}

    /// Set and broadcast the state (copied); nothing happens if it equals the current one.
    void send(bytes_view data) const {
        detail::check(yoton_state_send(get(), data.data(), data.size()), "yoton_state_send");
    }
    /// Set and broadcast an OBJECT state.
    void send_value(const ValueView &value) const {
        detail::check(yoton_state_send_value(get(), value.get()), "yoton_state_send_value");
    }
    /// The current state (never blocks): an empty message until one was sent or received.
    Message recv() const {
        yoton_message *m = nullptr;
        detail::check(yoton_state_recv(get(), &m), "yoton_state_recv");
        return Message(m);
    }
    /// The current state of an OBJECT state channel, decoded (never blocks): None until a
    /// state was sent or received.
    Value recv_value() const {
        yoton_value *v = nullptr;
        detail::check(yoton_state_recv_value(get(), &v), "yoton_state_recv_value");
        return Value(v);
    }
    /// Broadcast the current state again.
    void send_last() const { detail::check(yoton_state_send_last(get()), "yoton_state_send_last"); }
};

/// A generic signal (move-only): handlers bound to it run when it is emitted.
class Signal : public detail::Handle<yoton_signal, yoton_signal_free> {
public:
    /// A new signal.
    Signal() : Handle(make()) {}
    /// Take ownership of a C signal (may be NULL).
    explicit Signal(yoton_signal *owned) noexcept : Handle(owned) {}

    /// Bind `handler(arg)`; returns the binding's id for unbind().
    std::uint64_t bind(std::function<void(ValueView arg)> handler) const {
        using Fn = std::function<void(ValueView)>;
        std::uint64_t id = 0;
        detail::check(yoton_signal_bind(get(), &trampoline, detail::box<Fn>(std::move(handler)),
                                        &detail::unbox<Fn>, &id),
                      "yoton_signal_bind");
        return id;
    }
    /// Unbind one handler.
    void unbind(std::uint64_t id) const {
        detail::check(yoton_signal_unbind(get(), id), "yoton_signal_unbind");
    }
    /// Unbind every handler.
    void unbind_all() const {
        detail::check(yoton_signal_unbind_all(get()), "yoton_signal_unbind_all");
    }
    /// Queue one call per handler with a copy of `arg` (null: None); they run when events are
    /// processed. Any thread.
    void emit(const ValueView &arg = ValueView()) const {
        detail::check(yoton_signal_emit(get(), arg.get()), "yoton_signal_emit");
    }
    /// Call every handler now, on the calling thread.
    void emit_now(const ValueView &arg = ValueView()) const {
        detail::check(yoton_signal_emit_now(get(), arg.get()), "yoton_signal_emit_now");
    }

private:
    static yoton_signal *make() {
        yoton_signal *s = nullptr;
        detail::check(yoton_signal_new(&s), "yoton_signal_new");
        return s;
    }
    static void trampoline(void *user_data, const yoton_value *arg) noexcept {
        try {
            (*static_cast<std::function<void(ValueView)> *>(user_data))(ValueView(arg));
        } catch (...) {
            detail::report_current_exception("signal handler");
        }
    }
};

/// A timer (move-only): its callbacks run on the event-processing thread at every expiry.
class Timer : public detail::Handle<yoton_timer, yoton_timer_free> {
public:
    /// A stopped timer of `interval` seconds, firing once or repeatedly.
    explicit Timer(double interval, bool oneshot = false) : Handle(make(interval, oneshot)) {}
    /// Take ownership of a C timer (may be NULL).
    explicit Timer(yoton_timer *owned) noexcept : Handle(owned) {}

    /// (Re)start with the current interval and mode.
    void start() const { detail::check(yoton_timer_start(get(), 0, -1), "yoton_timer_start"); }
    /// (Re)start with a new interval (keeping the mode).
    void start(double interval) const {
        detail::check(yoton_timer_start(get(), interval, -1), "yoton_timer_start");
    }
    /// (Re)start with a new interval and mode.
    void start(double interval, bool oneshot) const {
        detail::check(yoton_timer_start(get(), interval, oneshot ? 1 : 0), "yoton_timer_start");
    }
    /// Stop (an expiry already queued still runs).
    void stop() const { detail::check(yoton_timer_stop(get()), "yoton_timer_stop"); }
    /// Whether the timer is running.
    bool running() const {
        bool b = false;
        detail::check(yoton_timer_is_running(get(), &b), "yoton_timer_is_running");
        return b;
    }
    /// Call `callback` at every expiry; returns the binding's id for unbind().
    std::uint64_t bind(std::function<void()> callback) const {
        using Fn = std::function<void()>;
        std::uint64_t id = 0;
        detail::check(yoton_timer_bind(get(), &trampoline, detail::box<Fn>(std::move(callback)),
                                       &detail::unbox<Fn>, &id),
                      "yoton_timer_bind");
        return id;
    }
    /// Unbind a callback.
    void unbind(std::uint64_t id) const {
        detail::check(yoton_timer_unbind(get(), id), "yoton_timer_unbind");
    }

private:
    static yoton_timer *make(double interval, bool oneshot) {
        yoton_timer *t = nullptr;
        detail::check(yoton_timer_new(interval, oneshot, &t), "yoton_timer_new");
        return t;
    }
    static void trampoline(void *user_data) noexcept {
        try {
            (*static_cast<std::function<void()> *>(user_data))();
        } catch (...) {
            detail::report_current_exception("timer callback");
        }
    }
};

/// Internal helpers (not part of the API).
namespace detail {
/// The trampoline of call_later and embed_event_loop callbacks.
inline void event_trampoline(void *user_data) noexcept {
    try {
        (*static_cast<std::function<void()> *>(user_data))();
    } catch (...) {
        report_current_exception("event callback");
    }
}
}  // namespace detail

/// Run queued events (callbacks, handlers, event-mode replies) on the calling thread.
/// `block` applies to the first event: 0 do not wait, forever wait until one comes, positive
/// wait at most that long. Returns the number of events run.
inline std::size_t process_events(double block = 0) {
    std::size_t n = 0;
    detail::check(yoton_process_events(block, &n), "yoton_process_events");
    return n;
}
/// Process events until stop_event_loop().
inline void start_event_loop() { detail::check(yoton_start_event_loop(), "yoton_start_event_loop"); }
/// Make start_event_loop() return (any thread, also from callbacks).
inline void stop_event_loop() { detail::check(yoton_stop_event_loop(), "yoton_stop_event_loop"); }
/// Whether start_event_loop() is running (in any thread).
inline bool event_loop_running() {
    bool b = false;
    detail::check(yoton_event_loop_is_running(&b), "yoton_event_loop_is_running");
    return b;
}
/// Run `callback` on the event-processing thread after `delay` s (0: at the back of the
/// queue, negative: at the front).
inline void call_later(double delay, std::function<void()> callback) {
    using Fn = std::function<void()>;
    detail::check(yoton_call_later(delay, &detail::event_trampoline, detail::box<Fn>(std::move(callback)),
                                   &detail::unbox<Fn>),
                  "yoton_call_later");
}
/// Embed yoton's event loop in a host loop: `wakeup` runs (on any thread) for the first event
/// queued after each process_events and must post a job to the host loop that calls
/// process_events(0). An empty function disables embedding.
inline void embed_event_loop(std::function<void()> wakeup) {
    using Fn = std::function<void()>;
    if (!wakeup) {
        detail::check(yoton_embed_event_loop(nullptr, nullptr, nullptr), "yoton_embed_event_loop");
        return;
    }
    detail::check(yoton_embed_event_loop(&detail::event_trampoline, detail::box<Fn>(std::move(wakeup)),
                                         &detail::unbox<Fn>),
                  "yoton_embed_event_loop");
}
/// A file descriptor readable exactly while events are pending (watch it; never read or close).
inline int wakeup_fd() {
    int fd = -1;
    detail::check(yoton_wakeup_fd(&fd), "yoton_wakeup_fd");
    return fd;
}
/// Seconds until the next timer or delayed call is due (0: overdue, -1: none).
inline double time_until_next_timer() {
    double s = 0;
    detail::check(yoton_time_until_next_timer(&s), "yoton_time_until_next_timer");
    return s;
}
/// Number of events waiting to be processed.
inline std::size_t pending_events() {
    std::size_t n = 0;
    detail::check(yoton_pending_events(&n), "yoton_pending_events");
    return n;
}

/// A request server (telnet-like: one CRLF-terminated line in, one out) (move-only);
/// destroying it stops it.
class RequestServer : public detail::Handle<yoton_request_server, yoton_request_server_free> {
public:
    /// The handler type: the request line (with its CRLF) -> the reply line (CRLF added).
    using Handler = std::function<std::string(std::string_view request)>;

    /// A server listening at `address` (port 0: any free port, see port()). `handler` runs on
    /// the server's thread (or a per-connection thread with YOTON_SERVER_THREAD_PER_CONNECTION);
    /// an exception it throws is reported (set_callback_error_handler) and the reply is empty.
    RequestServer(std::string_view address, Handler handler,
                  yoton_server_flags flags = YOTON_SERVER_INLINE)
        : Handle(make(address, std::move(handler), flags)) {}

    /// The port it listens on.
    std::uint16_t port() const {
        std::uint16_t p = 0;
        detail::check(yoton_request_server_port(get(), &p), "yoton_request_server_port");
        return p;
    }
    /// Serve in a background thread.
    void start() const {
        detail::check(yoton_request_server_start(get()), "yoton_request_server_start");
    }
    /// Serve on the calling thread until stop().
    void run() const { detail::check(yoton_request_server_run(get()), "yoton_request_server_run"); }
    /// Stop serving (final).
    void stop() const { detail::check(yoton_request_server_stop(get()), "yoton_request_server_stop"); }
    /// Requests answered and connections dropped without an answer.
    std::pair<std::uint64_t, std::uint64_t> stats() const {
        std::uint64_t handled = 0;
        std::uint64_t dropped = 0;
        detail::check(yoton_request_server_stats(get(), &handled, &dropped),
                      "yoton_request_server_stats");
        return {handled, dropped};
    }
    /// Why the last connection was dropped ("" if none).
    std::string last_drop_reason() const {
        return detail::read_string(
            [&](char *buf, std::size_t cap, std::size_t *len) {
                return yoton_request_server_last_drop_reason(get(), buf, cap, len);
            },
            "yoton_request_server_last_drop_reason");
    }

private:
    static yoton_request_server *make(std::string_view address, Handler handler,
                                      yoton_server_flags flags) {
        yoton_request_server *s = nullptr;
        detail::check(yoton_request_server_new(detail::c_str(address).c_str(), &trampoline,
                                               detail::box<Handler>(std::move(handler)),
                                               &detail::unbox<Handler>, flags, &s),
                      "yoton_request_server_new");
        return s;
    }
    static void trampoline(void *user_data, const char *request, yoton_text_reply *reply) noexcept {
        try {
            const std::string answer = (*static_cast<Handler *>(user_data))(request);
            detail::check(yoton_text_reply_set(reply, answer.c_str()), "yoton_text_reply_set");
        } catch (...) {
            detail::report_current_exception("request server handler");
        }
    }
};

/// Send `request` (CRLF appended if missing) to the request server at `address` and return
/// its reply line (with the CRLF), waiting at most `timeout` s (forever: no limit).
inline std::string do_request(std::string_view address, std::string_view request,
                              double timeout = forever) {
    char *reply = nullptr;
    detail::check(yoton_do_request(detail::c_str(address).c_str(), detail::c_str(request).c_str(),
                                   timeout, &reply),
                  "yoton_do_request");
    std::unique_ptr<char, void (*)(char *)> owned(reply, yoton_string_free);
    return std::string(reply);
}

/// A context with a TEXT publisher and subscriber on slot base "text" (the original's
/// SimpleSocket) (move-only).
class SimpleSocket : public detail::Handle<yoton_simple_socket, yoton_simple_socket_free> {
public:
    /// A new simple socket.
    SimpleSocket() : Handle(make()) {}

    /// A new handle to its context, to bind or connect.
    Context context() const {
        yoton_context *ctx = nullptr;
        detail::check(yoton_simple_socket_context(get(), &ctx), "yoton_simple_socket_context");
        return Context(ctx);
    }
    /// Publish UTF-8 text.
    void send(std::string_view text) const {
        detail::check(yoton_simple_socket_send(get(), text.data(), text.size()),
                      "yoton_simple_socket_send");
    }
    /// Receive a text like Subscriber::recv.
    Message recv(double timeout = forever) const {
        yoton_message *m = nullptr;
        detail::check(yoton_simple_socket_recv(get(), timeout, &m), "yoton_simple_socket_recv");
        return Message(m);
    }
    /// Like recv(), but nothing (instead of an Error) if no text came within `timeout`.
    std::optional<Message> try_recv(double timeout = 0) const {
        yoton_message *m = nullptr;
        const int rc = yoton_simple_socket_recv(get(), timeout, &m);
        if (rc == YOTON_ERR_TIMEOUT) {
            return std::nullopt;
        }
        detail::check(rc, "yoton_simple_socket_recv");
        return Message(m);
    }

private:
    static yoton_simple_socket *make() {
        yoton_simple_socket *s = nullptr;
        detail::check(yoton_simple_socket_new(&s), "yoton_simple_socket_new");
        return s;
    }
};

}  // namespace yoton

#endif  // YOTON_HPP
