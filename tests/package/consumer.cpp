// A minimal C++17 program using the installed wrapper yoton.hpp (tests/package/run.sh builds it
// like consumer.c: find_package(Yoton) against the shared and the static library, and with
// pkg-config).
#include <yoton.hpp>

#include <cstdio>

int main() {
    try {
        yoton::Context ctx;
        yoton::Publisher pub(ctx, "consumer");
        const yoton::Value v = yoton::Value::dict({{"ok", true}, {"id", ctx.id() != 0}});
        std::printf("yoton %s (C++ wrapper): %s\n", yoton::version().c_str(), v.repr().c_str());
        return v["ok"].as_bool() && v["id"].as_bool() ? 0 : 1;
    } catch (const yoton::Error &e) {
        std::fprintf(stderr, "consumer_cxx: %s\n", e.what());
        return 1;
    }
}
