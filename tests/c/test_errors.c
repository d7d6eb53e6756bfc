/* Error behaviour of the C API: status codes and their texts, the thread-local last error,
 * versions, NULL handles and out-pointers, _free(NULL), invalid UTF-8, malformed addresses,
 * network errors (address in use, nothing listening, connect to self) and use after close. */
#include "ytest.h"

#include <float.h>
#include <math.h>
#include <pthread.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

/* Invalid UTF-8 (a lone continuation byte / a truncated sequence). Split literals so the hex
 * escape does not swallow the following characters. */
static const char BAD_UTF8[] = "ab" "\xff" "cd";
static const char BAD_ADDRESS[] = "localhost:" "\xc3";

static void test_strerror_and_versions(void) {
    int code;
    char version[32];
    YT_SECTION("strerror, last_error, version");
    CHECK_STREQ(yoton_strerror(YOTON_OK), "success");
    CHECK_STREQ(yoton_strerror(YOTON_ERR_INVALID_ARGUMENT), "invalid argument");
    CHECK_STREQ(yoton_strerror(YOTON_ERR_CLOSED), "object is closed");
    CHECK_STREQ(yoton_strerror(YOTON_ERR_TIMEOUT), "timed out");
    CHECK_STREQ(yoton_strerror(YOTON_ERR_CANCELLED), "cancelled");
    CHECK_STREQ(yoton_strerror(YOTON_ERR_IO), "I/O error");
    CHECK_STREQ(yoton_strerror(YOTON_ERR_ADDRESS_IN_USE), "address in use");
    CHECK_STREQ(yoton_strerror(YOTON_ERR_HANDSHAKE), "handshake failed");
    CHECK_STREQ(yoton_strerror(YOTON_ERR_TOO_LARGE), "message too large");
    CHECK_STREQ(yoton_strerror(YOTON_ERR_ENCODING), "invalid encoding");
    CHECK_STREQ(yoton_strerror(YOTON_ERR_REMOTE), "remote error");
    CHECK_STREQ(yoton_strerror(YOTON_ERR_INTERNAL), "internal error");
    CHECK_STREQ(yoton_strerror(YOTON_ERR_NOT_FOUND), "not found");
    /* Every known code has its own text, distinct from the unknown one. */
    for (code = YOTON_OK; code <= YOTON_ERR_NOT_FOUND; code++) {
        CHECK(strcmp(yoton_strerror(code), "unknown status code") != 0);
    }
    CHECK_STREQ(yoton_strerror(13), "unknown status code");
    CHECK_STREQ(yoton_strerror(-1), "unknown status code");
    CHECK_STREQ(yoton_strerror(1000000), "unknown status code");
    CHECK(yoton_strerror(-2147483647 - 1) != NULL);
    /* The numeric values are part of the ABI. */
    CHECK_EQ_INT(YOTON_ERR_INVALID_ARGUMENT, 1);
    CHECK_EQ_INT(YOTON_ERR_INTERNAL, 11);

    /* Version: the header's macros match the library's run-time string. */
    snprintf(version, sizeof version, "%d.%d.%d", YOTON_VERSION_MAJOR, YOTON_VERSION_MINOR,
             YOTON_VERSION_PATCH);
    CHECK(yoton_version() != NULL);
    CHECK_STREQ(yoton_version(), version);
    CHECK(yoton_version() == yoton_version()); /* static */
}

/* The last error of a fresh thread is "" (thread-local). */
static void *last_error_of_new_thread(void *arg) {
    const char *text = yoton_last_error();
    (void)arg;
    return (void *)(text != NULL && text[0] == '\0' ? "empty" : "not empty");
}

static void test_last_error(void) {
    yoton_value *v = NULL;
    pthread_t thread;
    void *result = NULL;
    YT_SECTION("last error");
    CHECK_RC(yoton_value_new_string(BAD_UTF8, &v), YOTON_ERR_ENCODING);
    CHECK(v == NULL); /* out-parameters are written only on success */
    CHECK(strstr(yoton_last_error(), "UTF-8") != NULL);
    CHECK(strlen(yoton_last_error()) > 0);
    /* A successful call does not clear it. */
    CHECK_OK(yoton_value_new_string("fine", &v));
    CHECK(strstr(yoton_last_error(), "UTF-8") != NULL);
    yoton_value_free(v);
    /* The next failure replaces it. */
    CHECK_RC(yoton_context_new(NULL), YOTON_ERR_INVALID_ARGUMENT);
    CHECK(strstr(yoton_last_error(), "NULL") != NULL);
    /* Only the details: the code's own text is yoton_strerror's, not repeated. */
    CHECK(strstr(yoton_last_error(), yoton_strerror(YOTON_ERR_INVALID_ARGUMENT)) == NULL);
    /* Thread-local: another thread has its own (empty) last error. */
    CHECK(pthread_create(&thread, NULL, last_error_of_new_thread, NULL) == 0);
    CHECK(pthread_join(thread, &result) == 0);
    CHECK_STREQ((const char *)result, "empty");
    CHECK(strstr(yoton_last_error(), "NULL") != NULL);
}

static void test_free_null(void) {
    YT_SECTION("_free(NULL) is a no-op");
    yoton_context_free(NULL);
    yoton_connection_free(NULL);
    yoton_channel_free(NULL);
    yoton_message_free(NULL);
    yoton_message_array_free(NULL, 0);
    yoton_message_array_free(NULL, 5);
    yoton_value_free(NULL);
    CHECK(1);
}

/* Every function taking a handle refuses NULL, and every out-pointer NULL, with
 * YOTON_ERR_INVALID_ARGUMENT. */
static void test_null_arguments(void) {
    yoton_context *ctx = yt_context();
    yoton_channel *pub = NULL;
    yoton_channel *sub = NULL;
    yoton_connection *conn = NULL;
    yoton_value *v = yoton_value_new_int(1);
    yoton_value *list = yoton_value_new_list();
    yoton_value *dict = yoton_value_new_dict();
    yoton_value *s = NULL;
    yoton_message **array = NULL;
    const yoton_value *borrowed = NULL;
    const yoton_value *borrowed2 = NULL;
    const char *text = NULL;
    const void *data = NULL;
    char buf[64];
    size_t n = 0;
    bool b = false;
    int i = 0;
    int64_t i64 = 0;
    uint64_t u64 = 0;
    uint16_t u16 = 0;
    double d = 0;
    const int INV = YOTON_ERR_INVALID_ARGUMENT;

    YT_SECTION("NULL handles and out-pointers");
    CHECK_OK(yoton_value_new_string("k", &s));
    CHECK_OK(yoton_pub_new(ctx, "nulls", "txt", &pub));
    CHECK_OK(yoton_sub_new(ctx, "nulls", "txt", &sub));
    CHECK_OK(yoton_context_bind(ctx, "localhost:0", 1, NULL, &conn));

    /* channels */
    CHECK_RC(yoton_pub_new(NULL, "x", NULL, &pub), INV);
    CHECK_RC(yoton_pub_new(ctx, NULL, NULL, &pub), INV);
    CHECK_RC(yoton_pub_new(ctx, "x", NULL, NULL), INV);
    {
        /* Names are capped at 8192 bytes: one byte more is refused at once. */
        static char name[8194];
        yoton_channel *big = NULL;
        yoton_connection *conn2 = NULL;
        memset(name, 'n', 8193);
        name[8193] = '\0';
        CHECK_RC(yoton_pub_new(ctx, name, NULL, &big), INV);
        memcpy(name, "localhost:", 10); /* a port name: hashed like a slot name */
        CHECK_RC(yoton_context_bind(ctx, name, 1, NULL, &conn2), INV);
        memset(name, 'n', 10);
        name[8192] = '\0';
        CHECK_OK(yoton_pub_new(ctx, name, NULL, &big));
        yoton_channel_free(big);
    }
    CHECK_RC(yoton_sub_new(NULL, "x", NULL, &sub), INV);
    CHECK_RC(yoton_sub_new(ctx, NULL, NULL, &sub), INV);
    CHECK_RC(yoton_sub_new(ctx, "x", NULL, NULL), INV);
    CHECK_RC(yoton_channel_close(NULL), INV);
    CHECK_RC(yoton_channel_is_closed(NULL, &b), INV);
    CHECK_RC(yoton_channel_is_closed(pub, NULL), INV);
    CHECK_RC(yoton_channel_pending(NULL, &n), INV);
    CHECK_RC(yoton_channel_pending(sub, NULL), INV);
    CHECK_RC(yoton_channel_get_kind(NULL, &i), INV);
    CHECK_RC(yoton_channel_get_kind(pub, NULL), INV);
    CHECK_RC(yoton_channel_slot_outgoing(NULL, buf, sizeof buf, &n), INV);
    CHECK_RC(yoton_channel_slot_incoming(NULL, buf, sizeof buf, &n), INV);
    CHECK_RC(yoton_channel_message_type(NULL, buf, sizeof buf, &n), INV);
    CHECK_RC(yoton_pub_send(NULL, "a", 1), INV);
    CHECK_RC(yoton_pub_send(pub, NULL, 3), INV); /* data NULL with len > 0 */
    CHECK_OK(yoton_pub_send(pub, NULL, 0));      /* data NULL with len 0: an empty send, skipped */
    CHECK_RC(yoton_pub_send_value(NULL, v), INV);
    CHECK_RC(yoton_pub_send_value(pub, NULL), INV);
    CHECK_RC(yoton_sub_recv(NULL, 0, NULL), INV);
    CHECK_RC(yoton_sub_recv(sub, 0, NULL), INV);
    CHECK_RC(yoton_sub_recv_all(NULL, &array, &n), INV);
    CHECK_RC(yoton_sub_recv_all(sub, NULL, &n), INV);
    CHECK_RC(yoton_sub_recv_all(sub, &array, NULL), INV);

    /* connections */
    CHECK_RC(yoton_connection_get_status(NULL, &i), INV);
    CHECK_RC(yoton_connection_get_status(conn, NULL), INV);
    CHECK_RC(yoton_connection_is_alive(NULL, &b), INV);
    CHECK_RC(yoton_connection_is_alive(conn, NULL), INV);
    CHECK_RC(yoton_connection_is_connected(NULL, &b), INV);
    CHECK_RC(yoton_connection_is_connected(conn, NULL), INV);
    CHECK_RC(yoton_connection_is_waiting(NULL, &b), INV);
    CHECK_RC(yoton_connection_is_waiting(conn, NULL), INV);
    CHECK_RC(yoton_connection_is_timedout(NULL, &b), INV);
    CHECK_RC(yoton_connection_is_timedout(conn, NULL), INV);
    CHECK_RC(yoton_connection_hostname1(NULL, buf, sizeof buf, &n), INV);
    CHECK_RC(yoton_connection_hostname2(NULL, buf, sizeof buf, &n), INV);
    CHECK_RC(yoton_connection_port1(NULL, &u16), INV);
    CHECK_RC(yoton_connection_port1(conn, NULL), INV);
    CHECK_RC(yoton_connection_port2(NULL, &u16), INV);
    CHECK_RC(yoton_connection_port2(conn, NULL), INV);
    CHECK_RC(yoton_connection_id1(NULL, &u64), INV);
    CHECK_RC(yoton_connection_id1(conn, NULL), INV);
    CHECK_RC(yoton_connection_id2(NULL, &u64), INV);
    CHECK_RC(yoton_connection_id2(conn, NULL), INV);
    CHECK_RC(yoton_connection_pid1(NULL, &u64), INV);
    CHECK_RC(yoton_connection_pid1(conn, NULL), INV);
    CHECK_RC(yoton_connection_pid2(NULL, &u64), INV);
    CHECK_RC(yoton_connection_pid2(conn, NULL), INV);
    CHECK_RC(yoton_connection_name(NULL, buf, sizeof buf, &n), INV);
    CHECK_RC(yoton_connection_set_name(NULL, "x"), INV);
    CHECK_RC(yoton_connection_set_name(conn, NULL), INV);
    CHECK_RC(yoton_connection_timeout(NULL, &d), INV);
    CHECK_RC(yoton_connection_timeout(conn, NULL), INV);
    CHECK_RC(yoton_connection_set_timeout(NULL, 1.0), INV);
    CHECK_RC(yoton_connection_close_reason(NULL, buf, sizeof buf, &n), INV);
    CHECK_RC(yoton_connection_close(NULL, NULL), INV);
    CHECK_RC(yoton_connection_close_on_problem(NULL, NULL), INV);
    CHECK_RC(yoton_connection_flush(NULL, 0.1), INV);

    /* contexts */
    CHECK_RC(yoton_context_new(NULL), INV);
    CHECK_RC(yoton_context_id(NULL, &u64), INV);
    CHECK_RC(yoton_context_id(ctx, NULL), INV);
    CHECK_RC(yoton_context_bind(NULL, "localhost:0", 1, NULL, &conn), INV);
    CHECK_RC(yoton_context_bind(ctx, NULL, 1, NULL, &conn), INV);
    CHECK_RC(yoton_context_bind(ctx, "localhost:0", 1, NULL, NULL), INV);
    CHECK_RC(yoton_context_connect(NULL, "localhost:1", 0.1, NULL, &conn), INV);
    CHECK_RC(yoton_context_connect(ctx, NULL, 0.1, NULL, &conn), INV);
    CHECK_RC(yoton_context_connect(ctx, "localhost:1", 0.1, NULL, NULL), INV);
    CHECK_RC(yoton_context_close(NULL), INV);
    CHECK_RC(yoton_context_close_channels(NULL), INV);
    CHECK_RC(yoton_context_flush(NULL, 0.1), INV);
    CHECK_RC(yoton_context_connection_count(NULL, &n), INV);
    CHECK_RC(yoton_context_connection_count(ctx, NULL), INV);
    CHECK_RC(yoton_context_connection_at(NULL, 0, true, &conn), INV);
    CHECK_RC(yoton_context_connection_at(ctx, 0, true, NULL), INV);
    CHECK_RC(yoton_context_connection_count_all(NULL, &n), INV);
    CHECK_RC(yoton_context_connection_count_all(ctx, NULL), INV);
    CHECK_RC(yoton_context_connection_by_name(NULL, "x", &conn), INV);
    CHECK_RC(yoton_context_connection_by_name(ctx, NULL, &conn), INV);
    CHECK_RC(yoton_context_set_queue_params(NULL, 10, 0, YOTON_DISCARD_OLD), INV);
    CHECK_RC(yoton_context_discarded(NULL, &u64), INV);
    CHECK_RC(yoton_context_discarded(ctx, NULL), INV);
    CHECK_RC(yoton_context_set_max_message_size(NULL, 100), INV);
    CHECK_RC(yoton_context_startup_queued(NULL, &n), INV);
    CHECK_RC(yoton_context_startup_queued(ctx, NULL), INV);

    /* messages */
    CHECK_RC(yoton_message_data(NULL, &data, &n), INV);
    CHECK_RC(yoton_message_value(NULL, &v), INV);
    CHECK_RC(yoton_message_source_id(NULL, &u64), INV);
    CHECK_RC(yoton_message_source_seq(NULL, &u64), INV);
    CHECK_RC(yoton_message_recv_seq(NULL, &u64), INV);

    /* values */
    CHECK_RC(yoton_value_new_string(NULL, &s), INV);
    CHECK_RC(yoton_value_new_string("x", NULL), INV);
    CHECK_RC(yoton_value_new_string_len(NULL, 2, &s), INV);
    CHECK_RC(yoton_value_new_string_len("x", 1, NULL), INV);
    CHECK_RC(yoton_value_clone(NULL, &v), INV);
    CHECK_RC(yoton_value_clone(v, NULL), INV);
    CHECK_RC(yoton_value_get_kind(NULL, &i), INV);
    CHECK_RC(yoton_value_get_kind(v, NULL), INV);
    CHECK_RC(yoton_value_get_bool(NULL, &b), INV);
    CHECK_RC(yoton_value_get_int(NULL, &i64), INV);
    CHECK_RC(yoton_value_get_int(v, NULL), INV);
    CHECK_RC(yoton_value_get_float(NULL, &d), INV);
    CHECK_RC(yoton_value_get_float(v, NULL), INV);
    CHECK_RC(yoton_value_get_string(NULL, &text, &n), INV);
    CHECK_RC(yoton_value_get_string(s, NULL, &n), INV);
    CHECK_RC(yoton_value_get_string(s, &text, NULL), INV);
    CHECK_RC(yoton_value_copy_string(NULL, buf, sizeof buf, &n), INV);
    CHECK_RC(yoton_value_len(NULL, &n), INV);
    CHECK_RC(yoton_value_len(list, NULL), INV);
    CHECK_RC(yoton_value_item(NULL, 0, &borrowed), INV);
    CHECK_RC(yoton_value_dict_entry(NULL, 0, &borrowed, &borrowed2), INV);
    CHECK_RC(yoton_value_dict_get(NULL, "k", &borrowed), INV);
    CHECK_RC(yoton_value_dict_get(dict, NULL, &borrowed), INV);
    CHECK_RC(yoton_value_append(NULL, v), INV);
    CHECK_RC(yoton_value_append(list, NULL), INV);
    CHECK_RC(yoton_value_dict_set(NULL, s, v), INV);
    CHECK_RC(yoton_value_dict_set(dict, NULL, v), INV);
    CHECK_RC(yoton_value_dict_set(dict, s, NULL), INV);
    CHECK_RC(yoton_value_equal(NULL, v, &b), INV);
    CHECK_RC(yoton_value_equal(v, NULL, &b), INV);
    CHECK_RC(yoton_value_equal(v, v, NULL), INV);
    CHECK_RC(yoton_value_encode(NULL, buf, sizeof buf, &n), INV);
    CHECK_RC(yoton_value_decode(NULL, 3, &s), INV);
    CHECK_RC(yoton_value_decode("n", 1, NULL), INV);
    CHECK_RC(yoton_value_repr(NULL, buf, sizeof buf, &n), INV);
    /* Out-pointers of container accessors, with a valid container. */
    CHECK_OK(yoton_value_append(list, v));
    CHECK_OK(yoton_value_dict_set(dict, s, v));
    CHECK_RC(yoton_value_item(list, 0, NULL), INV);
    CHECK_RC(yoton_value_dict_entry(dict, 0, NULL, &borrowed2), INV);
    CHECK_RC(yoton_value_dict_entry(dict, 0, &borrowed, NULL), INV);
    CHECK_RC(yoton_value_dict_get(dict, "k", NULL), INV);
    /* The functions added in 0.2. */
    CHECK_RC(yoton_sub_select_wait(NULL, 1, 0, &n), INV);
    CHECK_RC(yoton_sub_select_wait(&sub, 1, 0, NULL), INV);
    CHECK_RC(yoton_value_append_take(NULL, yoton_value_new_int(1)), INV);
    CHECK_RC(yoton_value_dict_set_str(NULL, "k", v), INV);
    CHECK_RC(yoton_value_dict_set_str(dict, NULL, v), INV);
    CHECK_RC(yoton_value_dict_set_str(dict, "k", NULL), INV);
    CHECK_RC(yoton_value_dict_set_str_take(NULL, "k", yoton_value_new_int(1)), INV);
    CHECK_RC(yoton_value_dict_set_str_take(dict, "k", NULL), INV);
    CHECK(yoton_value_new_list_take(NULL, 2) == NULL);
    CHECK_RC(yoton_state_recv_value(NULL, &s), INV);
    CHECK_RC(yoton_connection_set_close_after_timedout(NULL, 1.0), INV);
    CHECK_RC(yoton_connection_close_after_timedout(NULL, &d), INV);
    CHECK_RC(yoton_channel_is_closed(NULL, &b), INV);
    CHECK_RC(yoton_channel_is_closed(sub, NULL), INV);
    CHECK_RC(yoton_future_is_done(NULL, &b), INV);
    CHECK_RC(yoton_future_is_running(NULL, &b), INV);
    CHECK_RC(yoton_future_is_cancelled(NULL, &b), INV);
    CHECK_RC(yoton_timer_is_running(NULL, &b), INV);
    CHECK_RC(yoton_event_loop_is_running(NULL), INV);

    /* Out-parameters are written only on success. */
    u64 = 42;
    CHECK_RC(yoton_context_id(NULL, &u64), INV);
    CHECK_EQ_U64(u64, 42);

    yoton_value_free(s);
    yoton_value_free(v);
    yoton_value_free(list);
    yoton_value_free(dict);
    yoton_connection_free(conn);
    yoton_channel_free(pub);
    yoton_channel_free(sub);
    yoton_context_free(ctx);
}

static void test_invalid_arguments(void) {
    yoton_context *ctx = yt_context();
    yoton_channel *pub = NULL;
    yoton_channel *sub = NULL;
    yoton_channel *obj = NULL;
    yoton_connection *conn = NULL;
    yoton_message *msg = NULL;
    yoton_value *v = yoton_value_new_none();
    const int INV = YOTON_ERR_INVALID_ARGUMENT;
    const double nan_value = NAN;

    YT_SECTION("invalid argument values");
    CHECK_OK(yoton_pub_new(ctx, "args", NULL, &pub));
    CHECK_OK(yoton_sub_new(ctx, "args", NULL, &sub));
    CHECK_OK(yoton_pub_new(ctx, "args", "obj", &obj));
    /* Slot base and type names. */
    CHECK_RC(yoton_pub_new(ctx, "", NULL, &pub), INV);
    CHECK_RC(yoton_sub_new(ctx, "   ", NULL, &sub), INV);
    CHECK_RC(yoton_pub_new(ctx, "x", "", &pub), INV);
    CHECK_RC(yoton_pub_new(ctx, "x", "a.b", &pub), INV);
    CHECK_RC(yoton_pub_new(ctx, "x", "a b", &pub), INV);
    /* Wrong channel kind. */
    CHECK_RC(yoton_pub_send(sub, "a", 1), INV);
    CHECK_RC(yoton_pub_send_value(sub, v), INV);
    CHECK_RC(yoton_pub_send_value(pub, v), INV); /* TEXT channel */
    CHECK_RC(yoton_sub_recv(pub, 0, &msg), INV);
    CHECK(msg == NULL);
    /* NaN timeouts. */
    CHECK_RC(yoton_sub_recv(sub, nan_value, &msg), INV);
    CHECK_RC(yoton_context_flush(ctx, nan_value), INV);
    CHECK_RC(yoton_context_connect(ctx, "localhost:1", nan_value, NULL, &conn), INV);
    /* Context settings. */
    CHECK_RC(yoton_context_set_queue_params(ctx, 10, 0, 3), INV);
    CHECK_OK(yoton_context_set_queue_params(ctx, 10, 0, YOTON_DISCARD_BLOCK));
    CHECK_RC(yoton_context_set_queue_params(ctx, 10, 0, -1), INV);
    CHECK_RC(yoton_context_set_queue_params(ctx, 0, 0, YOTON_DISCARD_OLD), INV);
    CHECK_OK(yoton_context_set_queue_params(ctx, 10, 0, YOTON_DISCARD_NEW));
    CHECK_OK(yoton_context_set_queue_params(ctx, 10000, 1000000, YOTON_DISCARD_OLD));
    CHECK_RC(yoton_context_set_max_message_size(ctx, 0), INV);
    CHECK_RC(yoton_context_set_max_message_size(ctx, 1023), INV);
    CHECK_OK(yoton_context_set_max_message_size(ctx, 1024));
    CHECK_OK(yoton_context_set_max_message_size(ctx, (uint64_t)256 << 20));
    /* Lookups that find nothing. */
    CHECK_RC(yoton_context_connection_at(ctx, 0, true, &conn), INV);
    CHECK_RC(yoton_context_connection_by_name(ctx, "nobody", &conn), YOTON_ERR_NOT_FOUND);
    CHECK(conn == NULL);
    /* bind with max_tries 0 tries nothing. */
    CHECK_RC(yoton_context_bind(ctx, "localhost:0", 0, NULL, &conn), YOTON_ERR_ADDRESS_IN_USE);
    /* Connection settings. */
    CHECK_OK(yoton_context_bind(ctx, "localhost:0", 1, NULL, &conn));
    CHECK_RC(yoton_connection_set_timeout(conn, 0.4), INV);
    CHECK_RC(yoton_connection_set_timeout(conn, -1.0), INV);
    CHECK_RC(yoton_connection_set_timeout(conn, nan_value), INV);
    CHECK_RC(yoton_connection_set_timeout(conn, INFINITY), INV);
    CHECK_RC(yoton_connection_flush(conn, nan_value), INV);
    CHECK_RC(yoton_connection_close_reason(conn, NULL, 0, NULL), INV); /* not closed */

    yoton_connection_free(conn);
    yoton_value_free(v);
    yoton_channel_free(obj);
    yoton_channel_free(pub);
    yoton_channel_free(sub);
    yoton_context_free(ctx);
}

static void yt_noop_callback(void *user_data) { (void)user_data; }

/* One rule for every timeout argument (header preamble "Timeouts"): 0 do not wait, positive at
 * most that long up to YOTON_TIMEOUT_MAX, negative (YOTON_FOREVER) or +inf no limit; NaN and
 * finite values above the maximum are refused with nothing done. Delays and intervals must be
 * finite and at most the maximum. (Issue 10 item 6: 1e19, 1e300 and DBL_MAX used to panic
 * inside yoton or make connect never return.) */
static void test_timeout_rule(void) {
    yoton_context *ctx = yt_context();
    yoton_channel *sub = NULL;
    yoton_channel *req = NULL;
    yoton_connection *conn = NULL;
    yoton_message *msg = NULL;
    yoton_timer *timer = NULL;
    yoton_future *fut = NULL;
    yoton_value *out = NULL;
    char *reply = NULL;
    const int INV = YOTON_ERR_INVALID_ARGUMENT;
    const double huge[] = {YOTON_TIMEOUT_MAX * 1.5, 1e19, 1e300, DBL_MAX, NAN};
    double t0;

    YT_SECTION("the timeout rule");
    CHECK(YOTON_FOREVER < 0);
    CHECK_OK(yoton_sub_new(ctx, "timeouts", NULL, &sub));
    CHECK_OK(yoton_req_new(ctx, "timeouts", &req));
    CHECK_OK(yoton_req_call(req, "nobody", NULL, NULL, &fut));
    CHECK_OK(yoton_timer_new(1.0, false, &timer));
    for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
        double h = huge[i];
        t0 = yt_now();
        CHECK_RC(yoton_sub_recv(sub, h, &msg), INV);
        CHECK_RC(yoton_context_connect(ctx, "localhost:1", h, NULL, &conn), INV);
        CHECK_RC(yoton_context_flush(ctx, h), INV);
        CHECK_RC(yoton_future_result(fut, h, &out), INV);
        CHECK_RC(yoton_future_result_or_cancel(fut, h, &out), INV);
        CHECK_RC(yoton_future_set_auto_cancel_timeout(fut, h), INV);
        CHECK_RC(yoton_req_set_default_timeout(req, h), INV);
        CHECK_RC(yoton_process_events(h, NULL), INV);
        CHECK_RC(yoton_do_request("localhost:1", "x", h, &reply), INV);
        CHECK_RC(yoton_call_later(h, yt_noop_callback, NULL, NULL), INV);
        CHECK_RC(yoton_call_later(-h, yt_noop_callback, NULL, NULL), INV);
        CHECK_RC(yoton_timer_start(timer, h, 0), INV);
        {
            yoton_timer *t2 = NULL;
            CHECK_RC(yoton_timer_new(h, true, &t2), INV);
            CHECK(t2 == NULL);
        }
        /* Refused at once, not after waiting. */
        CHECK(yt_now() - t0 < 1.0);
    }
    CHECK(msg == NULL && conn == NULL && out == NULL && reply == NULL);
    /* The largest finite value is accepted (and no-limit values are, for waits). */
    CHECK_OK(yoton_future_set_auto_cancel_timeout(fut, YOTON_TIMEOUT_MAX));
    CHECK_OK(yoton_future_set_auto_cancel_timeout(fut, INFINITY));
    CHECK_OK(yoton_future_set_auto_cancel_timeout(fut, YOTON_FOREVER));
    CHECK_OK(yoton_context_flush(ctx, YOTON_FOREVER)); /* nothing connected: done at once */
    CHECK_OK(yoton_context_flush(ctx, INFINITY));
    CHECK_OK(yoton_timer_start(timer, YOTON_TIMEOUT_MAX, 1));
    CHECK_OK(yoton_timer_stop(timer));
    /* Delays cannot be infinite; oneshot is a boolean (0 or 1). */
    CHECK_RC(yoton_call_later(INFINITY, yt_noop_callback, NULL, NULL), INV);
    CHECK_RC(yoton_timer_start(timer, INFINITY, 0), INV);
    CHECK_RC(yoton_timer_start(timer, 1.0, 5), INV);
    CHECK_RC(yoton_timer_start(timer, 1.0, -2), INV);
    CHECK_OK(yoton_timer_start(timer, 1.0, -1)); /* keeps the mode */
    CHECK_OK(yoton_timer_start(timer, 1.0, 0));
    /* Zero: do not wait. */
    CHECK_RC(yoton_sub_recv(sub, 0, &msg), YOTON_ERR_TIMEOUT);
    /* A short connect timeout on a dead port ends in time (with no limit it keeps trying). */
    t0 = yt_now();
    CHECK_RC(yoton_context_connect(ctx, "localhost:1", 0.2, NULL, &conn), YOTON_ERR_IO);
    CHECK(yt_now() - t0 < 2.0);

    yoton_future_free(fut);
    yoton_timer_free(timer);
    yoton_channel_free(req);
    yoton_channel_free(sub);
    yoton_context_free(ctx);
}

/* Deprecated names (issue 11: predicates are now named _is_...; yoton_sub_select became
 * yoton_sub_select_wait) still work, give the same answers, and warn at compile time. */
#if defined(__GNUC__) || defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#endif
static void test_deprecated_names(void) {
    yoton_context *ctx = yt_context();
    yoton_channel *sub = NULL;
    yoton_future *f = NULL;
    yoton_timer *t = NULL;
    const yoton_channel *list[1];
    bool a = true, b = false;
    size_t index = 9;

    YT_SECTION("deprecated names still work");
    CHECK_OK(yoton_sub_new(ctx, "old-names", NULL, &sub));
    CHECK_OK(yoton_channel_closed(sub, &a));
    CHECK_OK(yoton_channel_is_closed(sub, &b));
    CHECK(a == b && !a);
    CHECK_RC(yoton_channel_closed(NULL, &a), YOTON_ERR_INVALID_ARGUMENT);
    list[0] = sub;
    CHECK_RC(yoton_sub_select(list, 1, &index), YOTON_ERR_TIMEOUT);
    CHECK_EQ_INT(index, 9);
    CHECK_OK(yoton_future_new(&f));
    CHECK_OK(yoton_future_cancel(f, &b));
    CHECK_OK(yoton_future_done(f, &a));
    CHECK(a);
    CHECK_OK(yoton_future_cancelled(f, &a));
    CHECK(a);
    CHECK_OK(yoton_future_running(f, &a));
    CHECK(!a);
    CHECK_OK(yoton_timer_new(1.0, false, &t));
    CHECK_OK(yoton_timer_running(t, &a));
    CHECK(!a);
    CHECK_OK(yoton_event_loop_running(&a));
    CHECK(!a);
    yoton_timer_free(t);
    yoton_future_free(f);
    yoton_channel_free(sub);
    yoton_context_free(ctx);
}
#if defined(__GNUC__) || defined(__clang__)
#pragma GCC diagnostic pop
#endif

static void test_encoding_errors(void) {
    yoton_context *ctx = yt_context();
    yoton_channel *txt = NULL;
    yoton_channel *obj = NULL;
    yoton_channel *bin = NULL;
    yoton_channel *ch = NULL;
    yoton_connection *conn = NULL;
    yoton_value *v = NULL;
    const yoton_value *item = NULL;
    const int ENC = YOTON_ERR_ENCODING;

    YT_SECTION("invalid UTF-8 -> YOTON_ERR_ENCODING");
    CHECK_OK(yoton_pub_new(ctx, "enc", "txt", &txt));
    CHECK_OK(yoton_pub_new(ctx, "enc", "obj", &obj));
    CHECK_OK(yoton_pub_new(ctx, "enc", "bin", &bin));
    /* Names. */
    CHECK_RC(yoton_pub_new(ctx, BAD_UTF8, NULL, &ch), ENC);
    CHECK_RC(yoton_sub_new(ctx, BAD_UTF8, NULL, &ch), ENC);
    CHECK_RC(yoton_pub_new(ctx, "x", BAD_UTF8, &ch), ENC);
    CHECK(ch == NULL);
    CHECK_RC(yoton_context_bind(ctx, BAD_ADDRESS, 1, NULL, &conn), ENC);
    CHECK_RC(yoton_context_bind(ctx, "localhost:0", 1, BAD_UTF8, &conn), ENC);
    CHECK_RC(yoton_context_connect(ctx, BAD_ADDRESS, 0.1, NULL, &conn), ENC);
    CHECK_RC(yoton_context_connect(ctx, "localhost:1", 0.1, BAD_UTF8, &conn), ENC);
    CHECK_RC(yoton_context_connection_by_name(ctx, BAD_UTF8, &conn), ENC);
    CHECK(conn == NULL);
    CHECK_OK(yoton_context_bind(ctx, "localhost:0", 1, "ok", &conn));
    CHECK_RC(yoton_connection_set_name(conn, BAD_UTF8), ENC);
    CHECK_RC(yoton_connection_close(conn, BAD_UTF8), ENC);
    CHECK_RC(yoton_connection_close_on_problem(conn, BAD_UTF8), ENC);
    /* Message bodies: TEXT needs UTF-8, OBJECT a valid value, BINARY takes anything. */
    CHECK_RC(yoton_pub_send(txt, BAD_UTF8, strlen(BAD_UTF8)), ENC);
    CHECK_RC(yoton_pub_send(txt, "\xe2\x82", 2), ENC); /* truncated sequence */
    CHECK_OK(yoton_pub_send(txt, "h\xc3\xa9llo", 6));
    CHECK_RC(yoton_pub_send(obj, "z", 1), ENC);
    CHECK_RC(yoton_pub_send(obj, "\x73\x03\x61", 3), ENC); /* truncated string */
    CHECK_OK(yoton_pub_send(obj, "\x69\x01\x00\x00\x00\x00\x00\x00\x00", 9));
    CHECK_OK(yoton_pub_send(bin, BAD_UTF8, strlen(BAD_UTF8)));
    /* Values. */
    CHECK_RC(yoton_value_new_string(BAD_UTF8, &v), ENC);
    CHECK_RC(yoton_value_new_string_len("\xff\x00", 2, &v), ENC);
    CHECK(v == NULL);
    CHECK_OK(yoton_value_new_string("x", &v));
    yoton_value_free(v);
    v = yoton_value_new_dict();
    CHECK_RC(yoton_value_dict_get(v, BAD_UTF8, &item), ENC);
    yoton_value_free(v);
    /* The connection survived: the name is unchanged and the connection is still waiting. */
    {
        char name[16];
        bool waiting = false;
        CHECK_OK(yoton_connection_name(conn, name, sizeof name, NULL));
        CHECK_STREQ(name, "ok");
        CHECK_OK(yoton_connection_is_waiting(conn, &waiting));
        CHECK(waiting);
    }
    yoton_connection_free(conn);
    yoton_channel_free(txt);
    yoton_channel_free(obj);
    yoton_channel_free(bin);
    yoton_context_free(ctx);
}

static void test_malformed_addresses(void) {
    static const char *const bad[] = {
        "localhost",              /* no colon: format */
        "localhost:70000",        /* port range */
        "localhost:65536",        /* port range */
        "localhost:a+b+c",        /* invalid offset */
        "localhost:abc+999999",   /* port range after the hash */
        "localhost:-5",           /* negative port */
        "",                       /* empty */
        "::1:0",                  /* IPv6 without brackets: ambiguous (was every interface) */
        "localhost:a:b",          /* a port name with a colon: ambiguous */
        "[::1:0",                 /* unclosed bracket */
        "[localhost]:0",          /* brackets hold IPv6 literals only */
        ":0",                     /* no host (write 0.0.0.0 or [::] for every interface) */
    };
    yoton_context *ctx = yt_context();
    yoton_connection *conn = NULL;
    size_t i;
    YT_SECTION("malformed addresses -> YOTON_ERR_INVALID_ARGUMENT");
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        printf("   address \"%s\"\n", bad[i]);
        CHECK_RC(yoton_context_bind(ctx, bad[i], 1, NULL, &conn), YOTON_ERR_INVALID_ARGUMENT);
        CHECK_RC(yoton_context_connect(ctx, bad[i], 0.1, NULL, &conn), YOTON_ERR_INVALID_ARGUMENT);
        CHECK(conn == NULL);
    }
    /* The format error keeps the original's wording. */
    CHECK_RC(yoton_context_bind(ctx, "localhost", 1, NULL, &conn), YOTON_ERR_INVALID_ARGUMENT);
    CHECK(strstr(yoton_last_error(), "host:port") != NULL);
    /* Variants that are valid: a protocol prefix, a named port with offset, upper-case host. */
    CHECK_OK(yoton_context_bind(ctx, "tcp://LocalHost:0", 1, NULL, &conn));
    yoton_connection_free(conn);
    conn = NULL;
    /* IPv6 in brackets (where the machine has IPv6 loopback). */
    if (access("/proc/net/if_inet6", F_OK) == 0) {
        char host[64];
        CHECK_OK(yoton_context_bind(ctx, "[::1]:0", 1, NULL, &conn));
        CHECK_OK(yoton_connection_hostname1(conn, host, sizeof host, NULL));
        CHECK_STREQ(host, "::1");
        yoton_connection_free(conn);
        conn = NULL;
    } else {
        printf("   (no IPv6 on this machine: the [::1] bind is skipped)\n");
    }
    yoton_context_free(ctx);
}

/* A port nobody listens on: a socket bound to it (not listening) keeps it reserved. */
static int reserve_port(uint16_t *port) {
    struct sockaddr_in addr;
    socklen_t len = sizeof addr;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        return -1;
    }
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 ||
        getsockname(fd, (struct sockaddr *)&addr, &len) != 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(addr.sin_port);
    return fd;
}

static void test_network_errors(void) {
    yoton_context *a = yt_context();
    yoton_context *b = yt_context();
    yoton_connection *ca = NULL;
    yoton_connection *cb = NULL;
    yoton_connection *self = NULL;
    char address[64];
    uint16_t port = 0;
    double t0;
    int fd;

    YT_SECTION("address in use, nothing listening, connect to self");
    CHECK_OK(yoton_context_bind(a, "localhost:0", 1, NULL, &ca));
    port = yt_port(ca);
    CHECK(port != 0);
    snprintf(address, sizeof address, "localhost:%u", (unsigned)port);
    /* The port is taken: with max_tries 1 the bind fails... */
    CHECK_RC(yoton_context_bind(b, address, 1, NULL, &cb), YOTON_ERR_ADDRESS_IN_USE);
    CHECK(cb == NULL);
    /* ...with more tries another port is used (port + 1, or a later one). */
    if (CHECK_OK(yoton_context_bind(b, address, 16, NULL, &cb))) {
        CHECK(yt_port(cb) > port);
        yoton_connection_close(cb, NULL);
        yoton_connection_free(cb);
        cb = NULL;
    }

    /* Connecting to ourselves: the handshake sees our own id. */
    snprintf(address, sizeof address, "127.0.0.1:%u", (unsigned)port);
    CHECK_RC(yoton_context_connect(a, address, 2.0, NULL, &self), YOTON_ERR_HANDSHAKE);
    CHECK(strstr(yoton_last_error(), "self") != NULL);
    CHECK(self == NULL);
    {
        /* The waiting connection still waits and b can still connect to it. */
        bool waiting = false;
        CHECK_OK(yoton_connection_is_waiting(ca, &waiting));
        CHECK(waiting);
        if (CHECK_OK(yoton_context_connect(b, address, 5.0, NULL, &cb))) {
            CHECK(yt_wait_status(ca, YOTON_STATUS_HOSTING, YT_WAIT));
        }
    }

    /* Nothing listening: retries for the timeout, then YOTON_ERR_IO (promptly). */
    fd = reserve_port(&port);
    CHECK(fd >= 0);
    snprintf(address, sizeof address, "127.0.0.1:%u", (unsigned)port);
    t0 = yt_now();
    CHECK_RC(yoton_context_connect(b, address, 0.3, NULL, &self), YOTON_ERR_IO);
    CHECK(yt_now() - t0 < 5.0);
    CHECK(self == NULL);
    if (fd >= 0) {
        close(fd);
    }

    yoton_connection_free(ca);
    yoton_connection_free(cb);
    yoton_context_free(a);
    yoton_context_free(b);
}

static void test_use_after_close(void) {
    yoton_context *a = yt_context();
    yoton_context *b = yt_context();
    yoton_channel *pub = NULL;
    yoton_channel *sub = NULL;
    yoton_channel *sub2 = NULL;
    yoton_connection *ca = NULL;
    yoton_connection *cb = NULL;
    yoton_message *msg = NULL;
    yoton_message **array = NULL;
    size_t n = 99;
    bool closed = false;
    int status = -1;
    char reason[128];

    YT_SECTION("use after close");
    CHECK_OK(yoton_pub_new(a, "uac", "txt", &pub));
    CHECK_OK(yoton_sub_new(b, "uac", "txt", &sub));
    CHECK(yt_link(a, b, &ca, &cb));

    /* A closed channel: sends fail, queued messages can still be received, then CLOSED. */
    CHECK_OK(yoton_pub_send(pub, "one", 3));
    CHECK_OK(yoton_pub_send(pub, "two", 3));
    CHECK(yt_wait_pending(sub, 2, YT_WAIT));
    CHECK_OK(yoton_channel_close(sub));
    CHECK_OK(yoton_channel_close(sub)); /* twice: no-op */
    CHECK_OK(yoton_channel_is_closed(sub, &closed));
    CHECK(closed);
    CHECK_RECV(sub, "one");
    CHECK_RECV(sub, "two");
    CHECK_RC(yoton_sub_recv(sub, 0, &msg), YOTON_ERR_CLOSED);
    CHECK_RC(yoton_sub_recv(sub, -1, &msg), YOTON_ERR_CLOSED); /* does not block */
    CHECK_OK(yoton_sub_recv_all(sub, &array, &n));
    CHECK_EQ_INT(n, 0);
    CHECK(array == NULL);
    CHECK_OK(yoton_channel_close(pub));
    CHECK_RC(yoton_pub_send(pub, "three", 5), YOTON_ERR_CLOSED);
    CHECK(strstr(yoton_last_error(), "closed") != NULL);

    /* A closed connection: flush fails with CLOSED, properties still readable. */
    CHECK_OK(yoton_connection_close(cb, "bye"));
    CHECK_OK(yoton_connection_close(cb, "again")); /* no-op, keeps the first reason */
    CHECK_RC(yoton_connection_flush(cb, 1.0), YOTON_ERR_CLOSED);
    CHECK_OK(yoton_connection_get_status(cb, &status));
    CHECK_EQ_INT(status, YOTON_STATUS_CLOSED);
    CHECK_OK(yoton_connection_close_reason(cb, reason, sizeof reason, NULL));
    CHECK_STREQ(reason, "bye");
    CHECK(yt_wait_status(ca, YOTON_STATUS_CLOSED, YT_WAIT));
    CHECK_RC(yoton_connection_flush(ca, 1.0), YOTON_ERR_CLOSED);

    /* A freed context: channel and connection handles stay valid and report CLOSED. */
    CHECK_OK(yoton_sub_new(a, "after", "bin", &sub2));
    yoton_channel_free(pub);
    CHECK_OK(yoton_pub_new(a, "uac", "txt", &pub)); /* the slot is free again */
    yoton_context_free(a);
    a = NULL;
    CHECK_OK(yoton_channel_is_closed(pub, &closed));
    CHECK(closed);
    CHECK_RC(yoton_pub_send(pub, "x", 1), YOTON_ERR_CLOSED);
    CHECK_OK(yoton_channel_is_closed(sub2, &closed));
    CHECK(closed);
    CHECK_RC(yoton_sub_recv(sub2, 0.1, &msg), YOTON_ERR_CLOSED);
    CHECK_OK(yoton_connection_get_status(ca, &status));
    CHECK_EQ_INT(status, YOTON_STATUS_CLOSED);
    CHECK_RC(yoton_connection_flush(ca, 0.5), YOTON_ERR_CLOSED);
    CHECK(msg == NULL);

    yoton_channel_free(pub);
    yoton_channel_free(sub);
    yoton_channel_free(sub2);
    yoton_connection_free(ca);
    yoton_connection_free(cb);
    yoton_context_free(b);
}

/* A context freed while it has a live, connected connection and channels. */
static void test_context_free_with_live_connection(void) {
    yoton_context *a = yt_context();
    yoton_context *b = yt_context();
    yoton_connection *ca = NULL;
    yoton_connection *cb = NULL;
    yoton_channel *pub = NULL;
    char reason[128];
    int status = -1;

    YT_SECTION("context freed with live connection");
    CHECK_OK(yoton_pub_new(a, "live", "txt", &pub));
    CHECK(yt_link(a, b, &ca, &cb));
    yoton_context_free(a);
    CHECK_OK(yoton_connection_get_status(ca, &status));
    CHECK_EQ_INT(status, YOTON_STATUS_CLOSED);
    CHECK_OK(yoton_connection_close_reason(ca, reason, sizeof reason, NULL));
    CHECK_STREQ(reason, "Closed by the context.");
    CHECK_RC(yoton_pub_send(pub, "x", 1), YOTON_ERR_CLOSED);
    /* The peer learns it with a close package. */
    CHECK(yt_wait_status(cb, YOTON_STATUS_CLOSED, YT_WAIT));
    CHECK_OK(yoton_connection_close_reason(cb, reason, sizeof reason, NULL));
    CHECK_STREQ(reason, "Closed from other end.");
    /* Closing handles of a freed context is harmless. */
    CHECK_OK(yoton_connection_close(ca, NULL));
    CHECK_OK(yoton_channel_close(pub));
    yoton_channel_free(pub);
    yoton_connection_free(ca);
    yoton_connection_free(cb);
    yoton_context_free(b);
}

int main(void) {
    test_strerror_and_versions();
    test_last_error();
    test_free_null();
    test_null_arguments();
    test_invalid_arguments();
    test_timeout_rule();
    test_deprecated_names();
    test_encoding_errors();
    test_malformed_addresses();
    test_network_errors();
    test_use_after_close();
    test_context_free_with_live_connection();
    return yt_summary("test_errors");
}
