// The C++17 wrapper (include/yoton.hpp): every class, the exception path (yoton::Error with
// the status code and yoton_last_error()), callbacks through lambdas (including exceptions
// thrown inside them: they must be caught in the trampoline and reported, never cross into
// the C library) and the user-data release of every binding. Built against the shared and
// the static library (cxx_test_cpp_wrapper_shared / _static).
//
// Waits are bounded polls on conditions (wait_until); events are processed on this thread.
#include "ytest.h"

#include <yoton.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <array>
#include <atomic>
#include <cmath>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace {

// CHECK_THROWS(expr, expected): `expr` throws yoton::Error with status `expected`.
#define CHECK_THROWS(expr, expected)                                                            \
    do {                                                                                    \
        int yt_code_ = -1;                                                                  \
        try {                                                                               \
            (void)(expr);                                                                   \
        } catch (const yoton::Error &yt_e_) {                                               \
            yt_code_ = yt_e_.code();                                                        \
        }                                                                                   \
        yt_check_rc(yt_code_, (int)(expected), "throws: " #expr, __FILE__, __LINE__);           \
    } while (0)

// Poll `pred` (processing events meanwhile) until true or `timeout` seconds passed.
template <class Pred>
bool wait_until(Pred pred, double timeout = YT_WAIT) {
    const double deadline = yt_now() + timeout;
    for (;;) {
        if (pred()) {
            return true;
        }
        if (yt_now() >= deadline) {
            return false;
        }
        yoton::process_events(0.002);
    }
}

// Two contexts linked over loopback: `host` binds, `client` connects.
struct Pair {
    yoton::Context host;
    yoton::Context client;
    yoton::Connection host_conn;
    yoton::Connection client_conn;

    Pair() {
        host_conn = host.bind("localhost:0", 1, "host-side");
        client_conn = client.connect("127.0.0.1:" + std::to_string(host_conn.port1()), 5.0);
        CHECK(wait_until([&] { return host_conn.status() == YOTON_STATUS_HOSTING; }));
    }
};

// "127.0.0.1:<port>" of a socket that is bound but not listening: connecting is refused.
std::string refused_address() {
    static int fd = -1;
    static std::string address;
    if (fd < 0) {
        fd = socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof sa;
        CHECK(fd >= 0 && bind(fd, reinterpret_cast<sockaddr *>(&sa), len) == 0 &&
              getsockname(fd, reinterpret_cast<sockaddr *>(&sa), &len) == 0);
        address = "127.0.0.1:" + std::to_string(ntohs(sa.sin_port));
    }
    return address;
}

// Counts the deletions of a callback's captured state (the wrapper's free_user_data).
struct Tracker {
    std::shared_ptr<int> alive = std::make_shared<int>(0);
    long uses() const { return alive.use_count(); }
};

// Records the reports of exceptions escaping callbacks.
struct Reports {
    std::mutex mutex;
    std::vector<std::string> items;
    void add(const char *where, const char *what) {
        std::lock_guard<std::mutex> lock(mutex);
        items.push_back(std::string(where) + ": " + what);
    }
    std::size_t count() {
        std::lock_guard<std::mutex> lock(mutex);
        return items.size();
    }
    std::string last() {
        std::lock_guard<std::mutex> lock(mutex);
        return items.empty() ? std::string() : items.back();
    }
};
Reports reports;

void test_values() {
    YT_SECTION("Value: scalars, containers from initializer lists, accessors, copies");
    using yoton::Value;
    CHECK(Value().is_none());
    CHECK(Value(nullptr).is_none());
    CHECK(Value(true).as_bool());
    CHECK_EQ_INT(Value(-42).as_int(), -42);
    CHECK_EQ_INT(Value(std::uint8_t{200}).as_int(), 200);
    CHECK_EQ_INT(Value(INT64_MIN).as_int(), INT64_MIN);
    CHECK(Value(2.5).as_double() == 2.5);
    CHECK(Value(2.5f).is_float());
    CHECK(Value(7).as_double() == 7.0);  // an int reads as a float too
    CHECK(Value("abc").as_string() == "abc");
    CHECK(Value(std::string("x\0y", 3)).as_string_view() == std::string_view("x\0y", 3));
    CHECK(Value(std::string_view("sv")).is_string());

    Value record = Value::dict({{"id", 1},
                                {"tags", Value::list({"a", "b"})},
                                {"pos", Value::tuple({1.5, -2.0})},
                                {"ok", true},
                                {"none", nullptr}});
    CHECK(record.repr() == "{'id': 1, 'tags': ['a', 'b'], 'pos': (1.5, -2.0), 'ok': True, 'none': None}");
    CHECK(record.is_dict());
    CHECK_EQ_INT(record.size(), 5);
    CHECK_EQ_INT(record["id"].as_int(), 1);
    CHECK(record["tags"].is_list());
    CHECK(record["tags"][1].as_string() == "b");
    CHECK(record["pos"].is_tuple());
    CHECK(record["pos"][1].as_double() == -2.0);
    CHECK(record.find("ok").has_value() && record.find("ok")->as_bool());
    CHECK(!record.find("missing").has_value());
    CHECK_THROWS(record["missing"], YOTON_ERR_NOT_FOUND);
    CHECK_THROWS(Value(1).find("x"), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_THROWS(record["tags"][2], YOTON_ERR_INVALID_ARGUMENT);
    auto entries = record.entries();
    CHECK_EQ_INT(entries.size(), 5);
    CHECK(entries[2].first.as_string() == "pos");
    auto tags = record["tags"].items();
    CHECK(tags.size() == 2 && tags[0].as_string() == "a");
    CHECK(Value::list().size() == 0 && Value::tuple().is_tuple() && Value::dict().is_dict());

    // Mutation, copies (deep) and moves.
    Value list = Value::list({1});
    list.append(2).append("three").append(record["pos"]);
    CHECK(list.repr() == "[1, 2, 'three', (1.5, -2.0)]");
    Value copy = list;
    copy.append(4);
    CHECK_EQ_INT(list.size(), 4);
    CHECK_EQ_INT(copy.size(), 5);
    CHECK(copy != list);
    Value again = copy;
    CHECK(again == copy);
    Value moved = std::move(again);
    CHECK(!again);  // moved-from: null
    Value copy_of_null = again;
    CHECK(!copy_of_null);
    again = moved;
    CHECK(again == moved);
    record.set("id", 2).set(3, "int key");
    CHECK_EQ_INT(record["id"].as_int(), 2);
    CHECK_EQ_INT(record.size(), 6);
    Value from_view(record["tags"]);
    CHECK(from_view == record["tags"]);

    // Encoding round trip and the raw handle.
    std::vector<std::uint8_t> wire = record.encode();
    CHECK(!wire.empty());
    CHECK(Value::decode(wire) == record);
    CHECK_THROWS(Value::decode(yoton::bytes_view("\xff\xff", 2)), YOTON_ERR_ENCODING);
    yoton_value *raw = Value(5).release();
    Value adopted(raw);
    CHECK_EQ_INT(adopted.as_int(), 5);

    YT_SECTION("Value: errors carry the status and yoton_last_error()");
    try {
        (void)Value("text").as_int();
        CHECK(false);
    } catch (const yoton::Error &e) {
        CHECK_EQ_INT(e.code(), YOTON_ERR_INVALID_ARGUMENT);
        CHECK(!e.detail().empty());
        CHECK(std::string(e.what()).find("yoton_value_get_int") != std::string::npos);
        CHECK(std::string(e.what()).find(e.detail()) != std::string::npos);
    }
    CHECK_THROWS(Value(std::string_view("\xc3\x28", 2)), YOTON_ERR_ENCODING);
    CHECK_THROWS(Value(UINT64_MAX), YOTON_ERR_INVALID_ARGUMENT);
    const char *null_text = nullptr;
    CHECK_THROWS(Value(null_text), YOTON_ERR_INVALID_ARGUMENT);
    CHECK(yoton::bytes_view(null_text).empty());
    CHECK_THROWS(Value(yoton::ValueView()), YOTON_ERR_INVALID_ARGUMENT);  // clone of nothing
    const std::runtime_error &base = yoton::Error(YOTON_ERR_IO, "call", "detail");
    CHECK(std::string(base.what()) == std::string("call: ") + yoton_strerror(YOTON_ERR_IO) + " (detail)");
}

void test_bytes_view() {
    YT_SECTION("bytes_view from strings, C strings, containers, pointer and size");
    std::string s = "hello";
    std::vector<std::uint8_t> v = {1, 2, 3};
    std::array<char, 2> a = {{'x', 'y'}};
    CHECK(yoton::bytes_view(s).size() == 5);
    CHECK(yoton::bytes_view("abc").size() == 3);  // no NUL
    CHECK(yoton::bytes_view(std::string_view("ab")).str() == "ab");
    CHECK(yoton::bytes_view(v).size() == 3 && yoton::bytes_view(v).data()[2] == 3);
    CHECK(yoton::bytes_view(a).str() == "xy");
    CHECK(yoton::bytes_view(s.data(), 2).str() == "he");
    CHECK(yoton::bytes_view().empty());
}

void test_context_connection() {
    YT_SECTION("Context and Connection");
    Pair p;
    CHECK(p.host.id() != 0 && p.host.id() != p.client.id());
    CHECK(p.host_conn.is_connected() && p.host_conn.is_alive() && !p.host_conn.is_waiting());
    CHECK(p.client_conn.status() == YOTON_STATUS_CONNECTED);
    CHECK(p.host_conn.name() == "host-side");
    p.client_conn.set_name("client-side");
    CHECK(p.client_conn.name() == "client-side");
    CHECK(p.client.connection_by_name("client-side").id2() == p.host.id());
    CHECK_THROWS(p.client.connection_by_name("nobody"), YOTON_ERR_NOT_FOUND);
    CHECK(p.client_conn.hostname1() == "127.0.0.1");
    CHECK(p.client_conn.hostname2() == "127.0.0.1");
    CHECK(p.client_conn.port2() == p.host_conn.port1());
    CHECK(p.host_conn.port2() == p.client_conn.port1());
    CHECK(p.client_conn.id1() == p.client.id() && p.client_conn.id2() == p.host.id());
    CHECK(p.client_conn.pid1() == p.client_conn.pid2() && p.client_conn.pid1() != 0);
    CHECK(!p.client_conn.is_timedout());
    p.client_conn.set_timeout(2.0);
    CHECK(p.client_conn.timeout() == 2.0);
    CHECK_THROWS(p.client_conn.set_timeout(0.1), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_THROWS(p.client_conn.close_reason(), YOTON_ERR_INVALID_ARGUMENT);
    CHECK(p.client_conn.close_after_timedout() == 0);
    p.client_conn.set_close_after_timedout(30.0);
    CHECK(p.client_conn.close_after_timedout() == 30.0);
    CHECK_THROWS(p.client_conn.set_close_after_timedout(0.01), YOTON_ERR_INVALID_ARGUMENT);
    p.client_conn.set_close_after_timedout(0);
    CHECK_EQ_INT(p.host.connection_count(), 1);
    CHECK_EQ_INT(p.host.connection_count_all(), 1);
    CHECK(p.host.connection_at(0).port1() == p.host_conn.port1());
    CHECK_THROWS(p.host.connection_at(1), YOTON_ERR_INVALID_ARGUMENT);

    p.host.set_queue_params(500, 0, YOTON_DISCARD_NEW);
    yoton::QueueParams q = p.host.queue_params();
    CHECK(q.max_packages == 500 && q.max_bytes > 0 && q.discard == YOTON_DISCARD_NEW);
    CHECK_EQ_U64(p.host.discarded(), 0);
    p.host.set_max_message_size(1 << 20);
    CHECK_EQ_U64(p.host.max_message_size(), 1 << 20);
    p.host.set_rpc_spin(0);
    CHECK(p.host.rpc_spin() == 0);
    p.host.set_stall_timeout(0);
    CHECK(p.host.stall_timeout() == 0);
    CHECK_THROWS(p.host.set_stall_timeout(0.1), YOTON_ERR_INVALID_ARGUMENT);
    p.host.flush(5.0);
    p.client_conn.flush(5.0);

    // A context alone queues its publications in the startup queue.
    yoton::Context lonely;
    yoton::Publisher early(lonely, "early");
    early.send("queued");
    CHECK_EQ_INT(lonely.startup_queued(), 1);

    // on_closed / on_timedout: lambdas; closing from the peer side reaches the handler.
    Tracker t;
    std::string reason;
    int closed_calls = 0;
    std::uint64_t id = p.host_conn.on_closed([&, keep = t.alive](std::string_view r) {
        reason = std::string(r);
        closed_calls++;
    });
    std::uint64_t tid = p.host_conn.on_timedout([keep = t.alive](bool) {});
    CHECK(t.uses() == 3);
    p.host_conn.unbind(tid);
    CHECK(t.uses() == 2);  // unbinding released the lambda
    CHECK_THROWS(p.host_conn.unbind(tid), YOTON_ERR_INVALID_ARGUMENT);
    p.client_conn.close("bye from the client");
    CHECK(wait_until([&] { return closed_calls == 1; }));
    CHECK(reason == "Closed from other end.");  // the original's text on the peer side
    CHECK(p.host_conn.close_reason() == reason);
    CHECK(p.client_conn.close_reason() == "bye from the client");
    CHECK(p.client_conn.status() == YOTON_STATUS_CLOSED);
    CHECK_THROWS(p.client_conn.flush(0.5), YOTON_ERR_CLOSED);
    p.host_conn.unbind(id);
    CHECK(t.uses() == 1);
    p.host_conn.close_on_problem();  // closed already: no-op
    p.host.close();
    p.host.close_channels();

    YT_SECTION("Context errors: bad address, nobody listening");
    yoton::Context c;
    CHECK_THROWS(c.bind("no port here"), YOTON_ERR_INVALID_ARGUMENT);
    const std::string refused = refused_address();
    try {
        c.connect(refused, 0.2);
        CHECK(false);
    } catch (const yoton::Error &e) {
        if (!CHECK(e.code() == YOTON_ERR_IO || e.code() == YOTON_ERR_TIMEOUT)) {
            std::fprintf(stderr, "    %s\n", e.what());
        }
        CHECK(!e.detail().empty());
    }

    // Moves of handles.
    yoton::Context a;
    const std::uint64_t a_id = a.id();
    yoton::Context b = std::move(a);
    CHECK(!a && b && b.id() == a_id);
    a = std::move(b);
    CHECK(a.id() == a_id && !b);
    yoton_context *raw = a.release();
    yoton::Context back(raw);
    CHECK(back.id() == a_id);
}

void test_pubsub() {
    YT_SECTION("Publisher and Subscriber");
    Pair p;
    yoton::Publisher pub(p.client, "chat");
    yoton::Subscriber sub(p.host, "chat");
    CHECK(pub.kind() == YOTON_PUB && sub.kind() == YOTON_SUB);
    CHECK(pub.slot_outgoing() == "chat.txt.pub-sub");
    CHECK(sub.slot_incoming() == "chat.txt.pub-sub");
    CHECK(pub.message_type() == "txt");
    CHECK(!sub.try_recv(0.0).has_value());
    CHECK_THROWS(sub.recv(0.01), YOTON_ERR_TIMEOUT);

    int received_calls = 0;
    Tracker t;
    std::uint64_t id = sub.on_received([&, keep = t.alive] { received_calls++; });
    pub.send("hello");
    pub.send(std::string("world"));
    CHECK(wait_until([&] { return sub.pending() == 2; }));
    CHECK(wait_until([&] { return received_calls >= 1; }));
    yoton::Message m = sub.recv(YT_WAIT);
    CHECK(m.text() == "hello");
    CHECK(m.source_id() == p.client.id());
    CHECK(m.data().size() == 5);
    std::optional<yoton::Message> m2 = sub.try_recv(YT_WAIT);
    CHECK(m2 && m2->text() == "world");
    CHECK(m2->source_seq() > m.source_seq() && m2->recv_seq() > m.recv_seq());
    sub.unbind(id);
    CHECK(t.uses() == 1);
    CHECK_THROWS(pub.send(std::string_view("\xff", 1)), YOTON_ERR_ENCODING);

    // recv_all and zero-copy sends (the buffer is released once written).
    auto big = std::make_shared<int>(0);
    struct Owned {
        std::string bytes;
        std::shared_ptr<int> keep;
        const char *data() const { return bytes.data(); }
        std::size_t size() const { return bytes.size(); }
    };
    pub.send_owned(std::string(1000, 'z'));
    pub.send_owned(Owned{"owned", big});
    pub.send_owned(std::vector<std::uint8_t>{'v', 'e', 'c'});
    CHECK(wait_until([&] { return sub.pending() == 3; }));
    std::vector<yoton::Message> all = sub.recv_all();
    CHECK_EQ_INT(all.size(), 3);
    CHECK(all.size() == 3 && all[0].text() == std::string(1000, 'z') && all[1].text() == "owned" &&
          all[2].text() == "vec");
    CHECK(wait_until([&] { return big.use_count() == 1; }));  // released after the write
    CHECK(sub.recv_all().empty());

    // recv_batch: several bodies in one call into a reused buffer; a bigger one grows it.
    yoton::MessageBatch batch(8, 2);
    CHECK(sub.recv_batch(batch, 0) == 0 && batch.empty());
    pub.send("one");
    pub.send("two");
    pub.send("three");
    pub.send(std::string(100, 'b'));
    CHECK(wait_until([&] { return sub.pending() == 4; }));
    CHECK_EQ_INT(sub.recv_batch(batch, YT_WAIT), 2);  // max_count 2
    CHECK(batch.size() == 2 && batch[0].str() == "one" && batch[1].str() == "two");
    CHECK(batch.size() == 2 && batch.recv_seq(0) < batch.recv_seq(1));
    CHECK_EQ_INT(sub.recv_batch(batch, YT_WAIT), 1);  // "three" fits in 8 bytes, 100 do not
    CHECK(batch.size() == 1 && batch[0].str() == "three");
    CHECK_EQ_INT(sub.recv_batch(batch, YT_WAIT), 1);  // the buffer grew for it
    CHECK(batch.size() == 1 && batch[0].str() == std::string(100, 'b'));
    bool out_of_range = false;
    try {
        (void)batch[1];
    } catch (const std::out_of_range &) {
        out_of_range = true;
    }
    CHECK(out_of_range);

    YT_SECTION("OBJECT channels, select, sync mode, close");
    yoton::Publisher opub(p.client, "objs", "obj");
    yoton::Subscriber osub(p.host, "objs", "obj");
    yoton::Subscriber other(p.host, "other", "obj");
    yoton::Publisher opub2(p.client, "other", "obj");
    osub.set_sync_mode(true);
    opub.send_value(yoton::Value::tuple({1, "one"}));
    CHECK(wait_until([&] { return osub.pending() == 1; }));
    opub2.send_value(yoton::Value(2));
    CHECK(wait_until([&] { return other.pending() == 1; }));
    CHECK(osub.recv(0).value() == yoton::Value::tuple({1, "one"}));
    std::optional<std::size_t> which = yoton::Subscriber::select({&osub, &other});
    CHECK(which && *which == 1);
    std::vector<yoton::Message> sel = other.recv_selected();
    CHECK(sel.size() == 1 && sel[0].value().as_int() == 2);
    CHECK(!yoton::Subscriber::select({&osub, &other}).has_value());
    CHECK(!yoton::Subscriber::select({&osub, &other}, 0.02).has_value());  // waits, none came
    opub2.send_value(yoton::Value(3));
    which = yoton::Subscriber::select({&osub, &other}, YT_WAIT);  // waits for it
    CHECK(which && *which == 1);
    CHECK(other.recv_selected().size() == 1);
    CHECK_THROWS(opub.send(yoton::bytes_view("\xff\xff", 2)), YOTON_ERR_ENCODING);
    CHECK_THROWS(pub.send_value(yoton::Value(1)), YOTON_ERR_INVALID_ARGUMENT);  // TEXT channel
    osub.close();
    CHECK(osub.closed());
    CHECK_THROWS(osub.recv(0), YOTON_ERR_CLOSED);
    CHECK_THROWS(osub.recv_batch(batch, YT_WAIT), YOTON_ERR_CLOSED);  // at once
    pub.close();
    CHECK_THROWS(pub.send("x"), YOTON_ERR_CLOSED);
}

void test_reqrep() {
    YT_SECTION("Requester and Replier: lambdas, errors, modes, futures");
    Pair p;
    yoton::Replier rep(p.host, "calc");
    yoton::Requester req(p.client, "calc");
    CHECK(rep.kind() == YOTON_REP && req.kind() == YOTON_REQ);
    Tracker t;
    rep.on("add", [keep = t.alive](yoton::ValueView args, yoton::ValueView kwargs) {
        std::int64_t sum = args[0].as_int() + args[1].as_int();
        if (kwargs.find("times")) {
            sum *= kwargs["times"].as_int();
        }
        return sum;
    });
    rep.on("upper", [](yoton::ValueView args) {
        std::string s = args[0].as_string();
        for (char &c : s) {
            c = static_cast<char>(toupper(static_cast<unsigned char>(c)));
        }
        return s;
    });
    int pings = 0;
    rep.on("ping", [&](yoton::ValueView) { pings++; });
    rep.on("fail", [](yoton::ValueView) -> yoton::Value { throw std::runtime_error("no luck"); });
    rep.on("bad", [](yoton::ValueView args) { return args[5]; });  // a yoton::Error inside
    CHECK(t.uses() == 2);

    rep.set_mode(YOTON_REP_THREAD);
    CHECK(rep.mode() == YOTON_REP_THREAD);
    yoton::Future f = req.call("add", yoton::Value::tuple({2, 3}));
    CHECK_EQ_INT(f.result(YT_WAIT).as_int(), 5);
    CHECK(f.done() && f.status() == YOTON_FUTURE_SUCCESS && !f.running() && !f.cancelled());
    CHECK_EQ_INT(req.call("add", yoton::Value::list({2, 3}), yoton::Value::dict({{"times", 10}}))
                     .result(YT_WAIT)
                     .as_int(),
                 50);
    CHECK(req.call("upper", yoton::Value::tuple({"abc"})).result(YT_WAIT).as_string() == "ABC");
    CHECK(req.call("ping").result(YT_WAIT).is_none());
    CHECK_EQ_INT(pings, 1);
    CHECK(req.call("echo", yoton::Value::tuple({"hi"})).result(YT_WAIT)[0].as_string() == "hi");

    // A handler's exception becomes the requester's YOTON_ERR_REMOTE with its text.
    yoton::Future bad = req.call("fail");
    try {
        bad.result(YT_WAIT);
        CHECK(false);
    } catch (const yoton::Error &e) {
        CHECK_EQ_INT(e.code(), YOTON_ERR_REMOTE);
        CHECK(e.detail().find("no luck") != std::string::npos);
    }
    CHECK(bad.exception(0).find("no luck") != std::string::npos);
    CHECK(bad.status() == YOTON_FUTURE_ERROR);
    CHECK_THROWS(f.exception(0), YOTON_ERR_INVALID_ARGUMENT);
    try {
        req.call("bad", yoton::Value::tuple({1})).result(YT_WAIT);
        CHECK(false);
    } catch (const yoton::Error &e) {
        CHECK_EQ_INT(e.code(), YOTON_ERR_REMOTE);
        CHECK(e.detail().find("yoton_value_item") != std::string::npos);
    }
    CHECK_THROWS(req.call("nosuchmethod").result(YT_WAIT), YOTON_ERR_REMOTE);

    // Event mode: handled only while events are processed, done-callbacks run there too.
    rep.set_mode(YOTON_REP_EVENT);
    yoton::Future ev = req.call("add", yoton::Value::tuple({1, 1}));
    int done_calls = 0;
    std::int64_t seen = 0;
    ev.add_done_callback([&](yoton::FutureView fv) {
        done_calls++;
        seen = fv.result(0).as_int();
    });
    CHECK(wait_until([&] { return done_calls == 1; }));
    CHECK_EQ_INT(seen, 2);

    // Off: requests wait; handle_pending runs them here; a waiting request can be cancelled.
    rep.set_mode(YOTON_REP_OFF);
    yoton::Future waiting = req.call("add", yoton::Value::tuple({4, 4}));
    CHECK(wait_until([&] { return rep.pending() >= 1; }));
    CHECK(waiting.status() == YOTON_FUTURE_WAITING);
    // The request and then the requester's go-ahead each wait for a handle_pending call.
    std::size_t handled = 0;
    CHECK(wait_until([&] {
        handled += rep.handle_pending();
        return waiting.done();
    }));
    CHECK(handled >= 2);
    CHECK_EQ_INT(waiting.result(0).as_int(), 8);
    yoton::Future cancelled = req.call("add", yoton::Value::tuple({1, 2}));
    CHECK(cancelled.cancel());
    CHECK(cancelled.cancelled());
    CHECK_THROWS(cancelled.result(0), YOTON_ERR_CANCELLED);
    CHECK_THROWS(req.call("add", yoton::Value::tuple({1, 2})).result_or_cancel(0.05),
                 YOTON_ERR_CANCELLED);
    req.set_default_timeout(0.05);
    yoton::Future auto_cancelled = req.call("add", yoton::Value::tuple({1, 2}));
    CHECK(wait_until([&] { return auto_cancelled.cancelled(); }));
    req.set_default_timeout(-1);
    yoton::Future later = req.call("add", yoton::Value::tuple({1, 2}));
    later.set_auto_cancel_timeout(0.05);
    CHECK(wait_until([&] { return later.cancelled(); }));

    rep.set_mode(YOTON_REP_THREAD);
    CHECK_EQ_INT(req.call("add", yoton::Value::tuple({1, 2})).result_or_cancel(YT_WAIT).as_int(), 3);
    rep.unregister("add");
    CHECK(t.uses() == 1);  // the handler's lambda was released
    CHECK_THROWS(rep.unregister("add"), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_THROWS(req.call("add", yoton::Value::tuple({1, 2})).result(YT_WAIT), YOTON_ERR_REMOTE);
    CHECK_THROWS(req.call("add", yoton::Value(1)), YOTON_ERR_INVALID_ARGUMENT);  // args: no tuple

    YT_SECTION("detached Future: executor side");
    yoton::Future d = yoton::Future::detached();
    CHECK(d.set_running_or_notify_cancel());
    CHECK(d.running());
    d.set_result(yoton::Value("done"));
    CHECK(d.result(0).as_string() == "done");
    CHECK_THROWS(d.set_result(yoton::Value(1)), YOTON_ERR_INVALID_ARGUMENT);
    yoton::Future e = yoton::Future::detached();
    e.set_exception("broken");
    CHECK_THROWS(e.result(0), YOTON_ERR_REMOTE);
    CHECK(e.exception(0) == "broken");
    yoton::Future c = yoton::Future::detached();
    CHECK(c.cancel());
    CHECK(!c.set_running_or_notify_cancel());
    yoton::Future pending = yoton::Future::detached();
    CHECK_THROWS(pending.result(0), YOTON_ERR_TIMEOUT);
    yoton::Future moved = std::move(pending);
    CHECK(!pending && moved && moved.status() == YOTON_FUTURE_WAITING);
}

void test_state() {
    YT_SECTION("State");
    Pair p;
    yoton::State a(p.client, "status");
    yoton::State b(p.host, "status");
    CHECK(a.kind() == YOTON_STATE);
    CHECK(b.recv().data().empty());
    a.send("ready");
    CHECK(wait_until([&] { return b.recv().text() == "ready"; }));
    a.send_last();
    yoton::State oa(p.client, "ostatus", "obj");
    yoton::State ob(p.host, "ostatus", "obj");
    oa.send_value(yoton::Value::dict({{"busy", false}}));
    CHECK(wait_until([&] { return !ob.recv().data().empty(); }));
    CHECK(ob.recv().value() == yoton::Value::dict({{"busy", false}}));
    CHECK(ob.recv_value() == yoton::Value::dict({{"busy", false}}));
    yoton::State fresh(p.host, "fresh", "obj");
    CHECK(fresh.recv_value().is_none());
}

void test_signals_timers() {
    YT_SECTION("Signal: bind lambdas, emit, emit_now, unbind, exceptions reported");
    yoton::Signal sig;
    std::vector<std::int64_t> got;
    Tracker t;
    std::uint64_t id = sig.bind([&, keep = t.alive](yoton::ValueView arg) {
        got.push_back(arg.is_none() ? -1 : arg.as_int());
    });
    sig.emit(yoton::Value(7));
    sig.emit();
    CHECK(got.empty());  // queued until events are processed
    CHECK(wait_until([&] { return got.size() == 2; }));
    CHECK(got.size() == 2 && got[0] == 7 && got[1] == -1);
    sig.emit_now(yoton::Value(8));
    CHECK(got.size() == 3 && got[2] == 8);
    sig.unbind(id);
    CHECK(t.uses() == 1);
    CHECK_THROWS(sig.unbind(id), YOTON_ERR_INVALID_ARGUMENT);

    const std::size_t before = reports.count();
    sig.bind([](yoton::ValueView) { throw std::logic_error("signal handler threw"); });
    sig.bind([](yoton::ValueView arg) { (void)arg[3]; });  // a yoton::Error
    sig.emit_now();
    CHECK_EQ_INT(reports.count(), before + 2);
    CHECK(reports.last().find("signal handler") != std::string::npos);
    sig.unbind_all();
    sig.emit_now();
    CHECK_EQ_INT(reports.count(), before + 2);

    YT_SECTION("Timer");
    yoton::Timer timer(0.01, true);
    int fired = 0;
    std::uint64_t tid = timer.bind([&] { fired++; });
    CHECK(!timer.running());
    timer.start();
    CHECK(timer.running());
    CHECK(yoton::time_until_next_timer() >= 0);
    CHECK(wait_until([&] { return fired == 1; }));
    CHECK(!timer.running());  // oneshot
    timer.start(0.01, false);
    CHECK(wait_until([&] { return fired >= 3; }));
    timer.stop();
    CHECK(!timer.running());
    timer.start(0.02);
    CHECK(timer.running());
    timer.unbind(tid);
    CHECK_THROWS(timer.unbind(tid), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_THROWS(yoton::Timer(-1.0), YOTON_ERR_INVALID_ARGUMENT);
    timer.bind([] { throw 42; });  // not a std::exception: reported as unknown
    const std::size_t before_timer = reports.count();
    CHECK(wait_until([&] { return reports.count() > before_timer; }));
    CHECK(reports.last().find("timer callback: unknown exception") != std::string::npos);
}

void test_events() {
    YT_SECTION("events: call_later, pending_events, wakeup_fd, event loop, embedding");
    int calls = 0;
    yoton::call_later(0, [&] { calls++; });
    CHECK(yoton::pending_events() >= 1);
    const int fd = yoton::wakeup_fd();
    struct pollfd pfd = {fd, POLLIN, 0};
    CHECK(poll(&pfd, 1, 0) == 1);  // readable while an event is pending
    CHECK(yoton::process_events(0) >= 1);
    CHECK_EQ_INT(calls, 1);
    CHECK_EQ_INT(yoton::pending_events(), 0);
    CHECK_THROWS(yoton::call_later(std::nan(""), [] {}), YOTON_ERR_INVALID_ARGUMENT);
    CHECK(yoton::forever < 0);
    CHECK_EQ_INT(yoton::process_events(0), 0);  // nothing queued: returns at once

    // The loop runs until a callback stops it; nested process_events is refused (an Error
    // inside a callback, reported).
    CHECK(!yoton::event_loop_running());
    bool was_running = false;
    const std::size_t before = reports.count();
    yoton::call_later(0.01, [&] {
        was_running = yoton::event_loop_running();
        yoton::process_events(0);  // throws: reported
    });
    yoton::call_later(0.02, [] { yoton::stop_event_loop(); });
    yoton::start_event_loop();
    CHECK(was_running);
    CHECK_EQ_INT(reports.count(), before + 1);
    CHECK(reports.last().find("yoton_process_events") != std::string::npos);

    // Embedding: the wakeup runs when an event is queued; the host then processes events.
    std::atomic<int> wakeups{0};
    yoton::embed_event_loop([&] { wakeups++; });
    yoton::call_later(0, [&] { calls++; });
    CHECK(wakeups.load() >= 1);
    yoton::process_events(0);
    CHECK_EQ_INT(calls, 2);
    yoton::embed_event_loop(nullptr);
    const int w = wakeups.load();
    yoton::call_later(0, [&] { calls++; });
    yoton::process_events(0);
    CHECK_EQ_INT(wakeups.load(), w);
    CHECK_EQ_INT(calls, 3);
}

void test_request_server() {
    YT_SECTION("RequestServer and do_request");
    const std::size_t before = reports.count();
    yoton::RequestServer server("localhost:0", [](std::string_view request) {
        if (request.substr(0, 4) == "boom") {
            throw std::runtime_error("handler threw");
        }
        return "you said " + std::string(request.substr(0, request.size() - 2));
    });
    CHECK(server.port() != 0);
    server.start();
    const std::string address = "127.0.0.1:" + std::to_string(server.port());
    CHECK(yoton::do_request(address, "hello", YT_WAIT) == "you said hello\r\n");
    CHECK(yoton::do_request(address, "boom", YT_WAIT) == "\r\n");
    CHECK(wait_until([&] { return reports.count() == before + 1; }));
    CHECK(reports.last().find("handler threw") != std::string::npos);
    CHECK(server.stats().first == 2);
    CHECK(server.stats().second == 0);
    CHECK(server.last_drop_reason().empty());
    server.stop();
    CHECK_THROWS(yoton::do_request(refused_address(), "again", 2.0), YOTON_ERR_IO);
    CHECK_THROWS(yoton::do_request("bad address", "x", 1.0), YOTON_ERR_INVALID_ARGUMENT);

    // Serving on the calling thread until a handler stops it.
    std::unique_ptr<yoton::RequestServer> inline_server;
    inline_server.reset(new yoton::RequestServer("localhost:0", [&](std::string_view) {
        inline_server->stop();
        return std::string("stopping");
    }));
    const std::string inline_address = "127.0.0.1:" + std::to_string(inline_server->port());
    std::string answer;
    std::thread client([&] { answer = yoton::do_request(inline_address, "stop", YT_WAIT); });
    inline_server->run();
    client.join();
    CHECK(answer == "stopping\r\n");
}

void test_simple_socket() {
    YT_SECTION("SimpleSocket");
    yoton::SimpleSocket s1;
    yoton::SimpleSocket s2;
    yoton::Connection host = s1.context().bind("localhost:0");
    yoton::Connection client = s2.context().connect("127.0.0.1:" + std::to_string(host.port1()), 5.0);
    CHECK(wait_until([&] { return host.status() == YOTON_STATUS_HOSTING; }));
    s1.send("ping");
    CHECK(s2.recv(YT_WAIT).text() == "ping");
    CHECK(!s2.try_recv(0).has_value());
    CHECK_THROWS(s2.recv(0), YOTON_ERR_TIMEOUT);
    s2.send("pong");
    std::optional<yoton::Message> m = s1.try_recv(YT_WAIT);
    CHECK(m && m->text() == "pong");
}

}  // namespace

int main() {
    yoton::set_callback_error_handler(
        [](const char *where, const char *what) { reports.add(where, what); });
    CHECK(yoton::version() == yoton_version());
    try {
        test_values();
        test_bytes_view();
        test_context_connection();
        test_pubsub();
        test_reqrep();
        test_state();
        test_signals_timers();
        test_events();
        test_request_server();
        test_simple_socket();
    } catch (const std::exception &e) {
        std::fprintf(stderr, "unexpected exception: %s\n", e.what());
        CHECK(false);
    }
    // The previous handler comes back; the default one prints to stderr.
    CHECK(yoton::set_callback_error_handler(nullptr) != nullptr);
    return yt_summary("test_cpp_wrapper");
}
