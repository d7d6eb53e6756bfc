// cpp_chat: a chat room in one process with the C++ wrapper (include/yoton.hpp), driven by
// yoton's event loop.
//
//   cpp_chat [NAME...]        (default: alice bob carol)
//
// A "room" context hosts one connection per user (each on a free loopback port) and runs a
// replier with a "join" method (a lambda). Each user is a context of its own: it joins with a
// request whose future completes in a done-callback, then publishes one line (an OBJECT dict
// {'from': ..., 'text': ...}) per timer tick, and prints what the others say from an
// on_received callback. The room routes the messages between its peers. The program exits 0
// once every user heard every other one, 1 after a 10 s deadline.
#include <yoton.hpp>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

namespace {

struct User {
    std::string name;
    yoton::Context ctx;
    yoton::Connection conn;
    yoton::Publisher pub;
    yoton::Subscriber sub;
    yoton::Requester req;
    yoton::Future joined;
    int heard = 0;  // lines heard from the others

    User(std::string n, const std::string &room_address)
        : name(std::move(n)), conn(ctx.connect(room_address, 5.0, name)),
          pub(ctx, "chat", "obj"), sub(ctx, "chat", "obj"), req(ctx, "room") {}
};

}  // namespace

int main(int argc, char **argv) {
    std::vector<std::string> names(argv + 1, argv + argc);
    if (names.empty()) {
        names = {"alice", "bob", "carol"};
    }
    try {
        // The room: one waiting connection per user, and the "join" service.
        yoton::Context room;
        std::vector<yoton::Connection> seats;
        yoton::Value members = yoton::Value::list();
        yoton::Replier service(room, "room");
        service.on("join", [&](yoton::ValueView args) {
            members.append(args[0]);
            std::printf("[room] %s joined\n", args[0].as_string().c_str());
            return members;  // a copy goes back to the caller
        });
        service.set_mode(YOTON_REP_EVENT);  // handled inside the event loop, on this thread

        std::vector<std::unique_ptr<User>> users;
        for (const std::string &name : names) {
            seats.push_back(room.bind("localhost:0"));
            const std::string address = "127.0.0.1:" + std::to_string(seats.back().port1());
            users.push_back(std::make_unique<User>(name, address));
        }

        const int n = static_cast<int>(users.size());
        int joined = 0, done = 0;
        bool ok = false;
        yoton::Timer talk(0.05);  // one line per tick, user after user
        int next_speaker = 0;
        talk.bind([&] {
            if (next_speaker < n) {
                User &u = *users[next_speaker++];
                u.pub.send_value(yoton::Value::dict({{"from", u.name}, {"text", "hi from " + u.name}}));
            } else {
                talk.stop();
            }
        });

        for (auto &up : users) {
            User &u = *up;
            u.sub.on_received([&] {
                while (std::optional<yoton::Message> m = u.sub.try_recv(0)) {
                    yoton::Value line = m->value();
                    if (line["from"].as_string() == u.name) {
                        continue;  // our own line
                    }
                    std::printf("[%s] %s: %s\n", u.name.c_str(), line["from"].as_string().c_str(),
                                line["text"].as_string().c_str());
                    if (++u.heard == n - 1 && ++done == n) {
                        ok = true;
                        yoton::stop_event_loop();
                    }
                }
            });
            u.joined = u.req.call("join", yoton::Value::tuple({u.name}));
            u.joined.add_done_callback([&](yoton::FutureView f) {
                std::printf("[%s] in the room with %s\n", u.name.c_str(), f.result(0).repr().c_str());
                if (++joined == n && n == 1) {
                    ok = true;  // nobody to hear
                    yoton::stop_event_loop();
                } else if (joined == n) {
                    talk.start();
                }
            });
        }
        yoton::call_later(10.0, [] { yoton::stop_event_loop(); });  // the deadline
        yoton::start_event_loop();
        std::printf(ok ? "everyone heard everyone\n" : "deadline passed\n");
        return ok ? 0 : 1;
    } catch (const yoton::Error &e) {
        std::fprintf(stderr, "cpp_chat: %s\n", e.what());
        return 1;
    }
}
