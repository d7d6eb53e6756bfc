/* Zero-copy publishing: yoton_pub_send_zc sends the caller's bytes without copying them and
 * calls free_data(user_data) exactly once when it no longer needs them. */
#include "ytest.h"

#include <stdlib.h>

typedef struct {
    unsigned char *bytes;
    int freed; /* set by free_buffer; read after a bounded wait */
} lent;

static void free_buffer(void *user_data) {
    lent *l = (lent *)user_data;
    free(l->bytes);
    l->bytes = NULL;
    l->freed++;
}

static int is_freed(void *arg) {
    return ((volatile lent *)arg)->freed > 0;
}

int main(void) {
    yoton_context *a = yt_context();
    yoton_context *b = yt_context();
    yoton_connection *ca = NULL, *cb = NULL;
    yoton_channel *pub, *sub, *txt;
    yoton_message *m = NULL;
    const void *data = NULL;
    size_t len = 0, i;
    const size_t n = 2u << 20;
    lent big, bad, empty;

    YT_SECTION("zero-copy send of 2 MiB: arrives intact, buffer released once");
    CHECK(yt_link(a, b, &ca, &cb));
    pub = yt_make_pub(a, "zc", "bin");
    sub = yt_make_sub(b, "zc", "bin");
    big.bytes = (unsigned char *)malloc(n);
    big.freed = 0;
    for (i = 0; i < n; i++) big.bytes[i] = (unsigned char)(i % 251);
    CHECK_OK(yoton_pub_send_zc(pub, big.bytes, n, free_buffer, &big));
    CHECK_OK(yoton_sub_recv(sub, 10.0, &m));
    CHECK_OK(yoton_message_data(m, &data, &len));
    CHECK_EQ_U64(len, n);
    {
        int same = 1;
        for (i = 0; i < n && same; i++) same = ((const unsigned char *)data)[i] == (unsigned char)(i % 251);
        CHECK(same);
    }
    yoton_message_free(m);
    CHECK_OK(yoton_context_flush(a, 5.0));
    CHECK(yt_wait_until(is_freed, &big, YT_WAIT));
    CHECK_EQ_INT(big.freed, 1);

    YT_SECTION("refused or empty zero-copy sends release the buffer at once");
    txt = yt_make_pub(a, "zt", "txt");
    bad.bytes = (unsigned char *)malloc(1);
    bad.bytes[0] = 0xff;
    bad.freed = 0;
    CHECK_RC(yoton_pub_send_zc(txt, bad.bytes, 1, free_buffer, &bad), YOTON_ERR_ENCODING);
    CHECK_EQ_INT(bad.freed, 1);
    empty.bytes = (unsigned char *)malloc(1);
    empty.freed = 0;
    CHECK_OK(yoton_pub_send_zc(pub, empty.bytes, 0, free_buffer, &empty));
    CHECK_EQ_INT(empty.freed, 1);
    CHECK_RC(yoton_pub_send_zc(NULL, NULL, 0, NULL, NULL), YOTON_ERR_INVALID_ARGUMENT);

    yoton_channel_free(pub);
    yoton_channel_free(sub);
    yoton_channel_free(txt);
    yoton_connection_free(ca);
    yoton_connection_free(cb);
    yoton_context_free(a);
    yoton_context_free(b);
    return yt_summary("test_zerocopy");
}
