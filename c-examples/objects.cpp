// objects: the C API from C++17, with RAII handles, sending OBJECT values (nested lists,
// tuples and dicts, the same encoding a Python peer uses) between two contexts in one process.
//
//   objects [count]        (default 3)
//
// The yoton handles are wrapped in std::unique_ptr with their _free function as deleter, and
// failed calls throw an exception carrying yoton_strerror() and yoton_last_error(). Values are
// built with the yoton_value_* functions; the subscriber decodes each message and prints its
// Python repr, e.g. {'id': 0, 'tags': ['a', 'b'], 'pos': (1.5, -2.0), 'ok': True}.
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>

#include <yoton.h>

namespace {

// Throw on a non-zero status.
void check(int rc, const char *what) {
    if (rc != YOTON_OK) {
        throw std::runtime_error(std::string(what) + ": " + yoton_strerror(rc) + " (" +
                                 yoton_last_error() + ")");
    }
}

// Owning handles: the deleter is the matching yoton_*_free (all accept NULL).
template <typename T, void (*Free)(T *)>
struct Deleter {
    void operator()(T *p) const { Free(p); }
};
using Context = std::unique_ptr<yoton_context, Deleter<yoton_context, yoton_context_free>>;
using Connection =
    std::unique_ptr<yoton_connection, Deleter<yoton_connection, yoton_connection_free>>;
using Channel = std::unique_ptr<yoton_channel, Deleter<yoton_channel, yoton_channel_free>>;
using Message = std::unique_ptr<yoton_message, Deleter<yoton_message, yoton_message_free>>;
using Value = std::unique_ptr<yoton_value, Deleter<yoton_value, yoton_value_free>>;

Context new_context() {
    yoton_context *ctx = nullptr;
    check(yoton_context_new(&ctx), "yoton_context_new");
    return Context(ctx);
}

Value str(const std::string &s) {
    yoton_value *v = nullptr;
    check(yoton_value_new_string_len(s.data(), s.size(), &v), "yoton_value_new_string_len");
    return Value(v);
}

// append/dict_set copy their arguments, so temporaries can be passed and freed right away.
void append(yoton_value *container, const Value &item) {
    check(yoton_value_append(container, item.get()), "yoton_value_append");
}

void set(yoton_value *dict, const char *key, const Value &item) {
    check(yoton_value_dict_set(dict, str(key).get(), item.get()), "yoton_value_dict_set");
}

std::string repr(const yoton_value *v) {
    size_t len = 0;
    yoton_value_repr(v, nullptr, 0, &len);  // ask for the length (YOTON_ERR_TOO_LARGE)
    std::string text(len + 1, '\0');
    check(yoton_value_repr(v, &text[0], text.size(), nullptr), "yoton_value_repr");
    text.resize(len);
    return text;
}

// {'id': i, 'tags': ['a', 'b'], 'pos': (1.5, 2.0 * i), 'ok': True}
Value make_record(int i) {
    Value record(yoton_value_new_dict());
    Value tags(yoton_value_new_list());
    append(tags.get(), str("a"));
    append(tags.get(), str("b"));
    Value pos(yoton_value_new_tuple());
    append(pos.get(), Value(yoton_value_new_float(1.5)));
    append(pos.get(), Value(yoton_value_new_float(2.0 * i)));
    set(record.get(), "id", Value(yoton_value_new_int(i)));
    set(record.get(), "tags", tags);
    set(record.get(), "pos", pos);
    set(record.get(), "ok", Value(yoton_value_new_bool(true)));
    return record;
}

}  // namespace

int main(int argc, char **argv) {
    const int count = argc > 1 ? std::atoi(argv[1]) : 3;
    if (count <= 0) {
        std::fprintf(stderr, "usage: %s [count]\n", argv[0]);
        return 2;
    }
    try {
        Context a = new_context(), b = new_context();

        // b hosts on a free loopback port, a connects to it.
        yoton_connection *raw = nullptr;
        check(yoton_context_bind(b.get(), "localhost:0", 1, nullptr, &raw), "yoton_context_bind");
        Connection host(raw);
        uint16_t port = 0;
        check(yoton_connection_port1(host.get(), &port), "yoton_connection_port1");
        const std::string address = "127.0.0.1:" + std::to_string(port);
        check(yoton_context_connect(a.get(), address.c_str(), 5.0, nullptr, &raw),
              "yoton_context_connect");
        Connection client(raw);
        std::printf("connected over %s\n", address.c_str());

        // OBJECT channels ("obj") carry encoded values.
        yoton_channel *ch = nullptr;
        check(yoton_pub_new(a.get(), "records", "obj", &ch), "yoton_pub_new");
        Channel pub(ch);
        check(yoton_sub_new(b.get(), "records", "obj", &ch), "yoton_sub_new");
        Channel sub(ch);

        for (int i = 0; i < count; i++) {
            Value record = make_record(i);
            check(yoton_pub_send_value(pub.get(), record.get()), "yoton_pub_send_value");
            std::printf("sent     %s\n", repr(record.get()).c_str());
        }
        for (int i = 0; i < count; i++) {
            yoton_message *m = nullptr;
            check(yoton_sub_recv(sub.get(), 5.0, &m), "yoton_sub_recv");
            Message msg(m);
            yoton_value *v = nullptr;
            check(yoton_message_value(msg.get(), &v), "yoton_message_value");
            Value value(v);
            // Read fields back: dict_get borrows from `value`.
            const yoton_value *id = nullptr;
            int64_t id_number = -1;
            check(yoton_value_dict_get(value.get(), "id", &id), "yoton_value_dict_get");
            check(yoton_value_get_int(id, &id_number), "yoton_value_get_int");
            std::printf("received %s (id %lld)\n", repr(value.get()).c_str(),
                        static_cast<long long>(id_number));
            if (id_number != i) throw std::runtime_error("messages out of order");
        }
        // Handles are released in reverse order of declaration: channels, connections,
        // then the contexts (which close their connections).
        std::printf("done\n");
    } catch (const std::exception &e) {
        std::fprintf(stderr, "objects: %s\n", e.what());
        return 1;
    }
    return 0;
}
