/* OBJECT values from C: building every kind, nesting, the wire encoding (docs/protocol.md §8.2
 * vectors), decoding (including the edge cases), Python-style repr, equality, clone, dict
 * operations, accessors and their errors, and the buffer conventions. */
#include "ytest.h"

#include <math.h>

/* --- helpers ---------------------------------------------------------------------------- */

/* Hex of the encoding of `v` into `out` (lower case, no spaces). Returns the encoded size, or
 * (size_t)-1 after a counted failure. */
static size_t encode_hex(const yoton_value *v, char *out, size_t out_cap) {
    size_t need = 0;
    size_t i;
    unsigned char *buf;
    int rc = yoton_value_encode(v, NULL, 0, &need);
    if (!CHECK_RC(rc, YOTON_ERR_TOO_LARGE)) {
        out[0] = '\0';
        return (size_t)-1;
    }
    buf = (unsigned char *)malloc(need + 1);
    if (!CHECK_OK(yoton_value_encode(v, buf, need, NULL)) || 2 * need + 1 > out_cap) {
        free(buf);
        out[0] = '\0';
        return (size_t)-1;
    }
    for (i = 0; i < need; i++) {
        snprintf(out + 2 * i, 3, "%02x", buf[i]);
    }
    out[2 * need] = '\0';
    free(buf);
    return need;
}

/* `hex` without spaces, into `out`. */
static const char *squash(const char *hex, char *out) {
    char *o = out;
    for (; *hex != '\0'; hex++) {
        if (*hex != ' ') {
            *o++ = *hex;
        }
    }
    *o = '\0';
    return out;
}

/* Bytes of a hex string (spaces allowed) into `out`; returns the length. */
static size_t unhex(const char *hex, unsigned char *out) {
    size_t n = 0;
    while (*hex != '\0') {
        unsigned int byte = 0;
        if (*hex == ' ') {
            hex++;
            continue;
        }
        sscanf(hex, "%2x", &byte);
        out[n++] = (unsigned char)byte;
        hex += 2;
    }
    return n;
}

/* CHECK_ENCODES(value, "hex"): the encoding of `value` is exactly the bytes of "hex", and
 * decoding those bytes gives an equal value that encodes the same way. */
static int check_encodes(const yoton_value *v, const char *expected, const char *file, int line) {
    static char got[8192];
    static char want[8192];
    static unsigned char bytes[4096];
    size_t n;
    yoton_value *back = NULL;
    bool equal = false;
    int ok;
    encode_hex(v, got, sizeof got);
    squash(expected, want);
    ok = yt_check_streq(got, want, "encoding", expected, file, line);
    n = unhex(expected, bytes);
    if (yt_check_rc(yoton_value_decode(bytes, n, &back), YOTON_OK, "yoton_value_decode", file,
                    line)) {
        yoton_value_equal(v, back, &equal);
        ok &= yt_check(equal, "decoded value equals the original", file, line);
        yoton_value_free(back);
    }
    return ok;
}
#define CHECK_ENCODES(v, hex) check_encodes((v), (hex), __FILE__, __LINE__)

/* CHECK_REPR(value, "text"): the Python repr. */
static int check_repr(const yoton_value *v, const char *expected, const char *file, int line) {
    char buf[1024];
    int rc = yoton_value_repr(v, buf, sizeof buf, NULL);
    if (!yt_check_rc(rc, YOTON_OK, "yoton_value_repr", file, line)) {
        return 0;
    }
    return yt_check_streq(buf, expected, "repr", expected, file, line);
}
#define CHECK_REPR(v, text) check_repr((v), (text), __FILE__, __LINE__)

static yoton_value *str(const char *text) {
    yoton_value *v = NULL;
    CHECK_OK(yoton_value_new_string(text, &v));
    return v;
}

/* Append `item` to `container` and release `item` (append copies). */
static void push(yoton_value *container, yoton_value *item) {
    CHECK_OK(yoton_value_append(container, item));
    yoton_value_free(item);
}

/* dict[key] = item, releasing key and item (dict_set copies). */
static void put(yoton_value *dict, yoton_value *key, yoton_value *item) {
    CHECK_OK(yoton_value_dict_set(dict, key, item));
    yoton_value_free(key);
    yoton_value_free(item);
}

static int kind_of(const yoton_value *v) {
    int kind = -1;
    CHECK_OK(yoton_value_get_kind(v, &kind));
    return kind;
}

/* Decode `hex` and expect status `rc`; on success return the value (else NULL). */
static yoton_value *decode_hex(const char *hex, int rc, const char *file, int line) {
    unsigned char bytes[256];
    size_t n = unhex(hex, bytes);
    yoton_value *v = NULL;
    yt_check_rc(yoton_value_decode(bytes, n, &v), rc, hex, file, line);
    return v;
}
#define DECODE(hex, rc) decode_hex((hex), (rc), __FILE__, __LINE__)

/* --- tests ------------------------------------------------------------------------------ */

static void test_scalars(void) {
    yoton_value *v;
    bool b = false;
    int64_t i = 0;
    double d = 0;
    YT_SECTION("scalars: kinds, getters, encoding, repr");

    v = yoton_value_new_none();
    CHECK(v != NULL);
    CHECK_EQ_INT(kind_of(v), YOTON_VALUE_NONE);
    CHECK_ENCODES(v, "6e");
    CHECK_REPR(v, "None");
    yoton_value_free(v);

    v = yoton_value_new_bool(true);
    CHECK_EQ_INT(kind_of(v), YOTON_VALUE_BOOL);
    CHECK_OK(yoton_value_get_bool(v, &b));
    CHECK(b);
    CHECK_ENCODES(v, "6201");
    CHECK_REPR(v, "True");
    yoton_value_free(v);
    v = yoton_value_new_bool(false);
    CHECK_ENCODES(v, "6200");
    CHECK_REPR(v, "False");
    yoton_value_free(v);

    v = yoton_value_new_int(0);
    CHECK_EQ_INT(kind_of(v), YOTON_VALUE_INT);
    CHECK_ENCODES(v, "690000000000000000");
    yoton_value_free(v);
    v = yoton_value_new_int(1);
    CHECK_ENCODES(v, "690100000000000000");
    yoton_value_free(v);
    v = yoton_value_new_int(-1);
    CHECK_ENCODES(v, "69ffffffffffffffff");
    CHECK_REPR(v, "-1");
    yoton_value_free(v);
    v = yoton_value_new_int(255);
    CHECK_ENCODES(v, "69ff00000000000000");
    yoton_value_free(v);
    v = yoton_value_new_int(INT64_MAX);
    CHECK_ENCODES(v, "69ffffffffffffff7f");
    CHECK_REPR(v, "9223372036854775807");
    CHECK_OK(yoton_value_get_int(v, &i));
    CHECK(i == INT64_MAX);
    yoton_value_free(v);
    v = yoton_value_new_int(INT64_MIN);
    CHECK_ENCODES(v, "690000000000000080");
    CHECK_REPR(v, "-9223372036854775808");
    /* get_float converts an int. */
    CHECK_OK(yoton_value_get_float(v, &d));
    CHECK(d == -9223372036854775808.0);
    yoton_value_free(v);

    v = yoton_value_new_float(1.5);
    CHECK_EQ_INT(kind_of(v), YOTON_VALUE_FLOAT);
    CHECK_OK(yoton_value_get_float(v, &d));
    CHECK(d == 1.5);
    CHECK_ENCODES(v, "66000000000000f83f");
    CHECK_REPR(v, "1.5");
    yoton_value_free(v);
    v = yoton_value_new_float(-0.0);
    CHECK_ENCODES(v, "660000000000000080");
    CHECK_REPR(v, "-0.0");
    yoton_value_free(v);
    v = yoton_value_new_float(INFINITY);
    CHECK_ENCODES(v, "66000000000000f07f");
    CHECK_REPR(v, "inf");
    yoton_value_free(v);
    v = yoton_value_new_float(-INFINITY);
    CHECK_REPR(v, "-inf");
    yoton_value_free(v);
    v = yoton_value_new_float(NAN);
    CHECK_REPR(v, "nan");
    yoton_value_free(v);
    /* Python float repr: shortest round trip, exponent outside [-4, 16). */
    v = yoton_value_new_float(0.1);
    CHECK_REPR(v, "0.1");
    yoton_value_free(v);
    v = yoton_value_new_float(1e16);
    CHECK_REPR(v, "1e+16");
    yoton_value_free(v);
    v = yoton_value_new_float(1.5e-5);
    CHECK_REPR(v, "1.5e-05");
    yoton_value_free(v);
    v = yoton_value_new_float(123.0);
    CHECK_REPR(v, "123.0");
    yoton_value_free(v);
    v = yoton_value_new_float(2.5);
    CHECK_ENCODES(v, "660000000000000440");
    yoton_value_free(v);
}

static void test_strings(void) {
    yoton_value *v = NULL;
    const char *data = NULL;
    size_t len = 0;
    char buf[300];
    char big[300];
    char want[700];
    YT_SECTION("strings");

    v = str("");
    CHECK_EQ_INT(kind_of(v), YOTON_VALUE_STRING);
    CHECK_ENCODES(v, "7300");
    CHECK_REPR(v, "''");
    yoton_value_free(v);
    v = str("a");
    CHECK_ENCODES(v, "730161");
    yoton_value_free(v);
    v = str("h\xc3\xa9llo");
    CHECK_ENCODES(v, "730668c3a96c6c6f");
    CHECK_REPR(v, "'h\xc3\xa9llo'");
    CHECK_OK(yoton_value_get_string(v, &data, &len));
    CHECK_EQ_INT(len, 6);
    CHECK_MEMEQ(data, "h\xc3\xa9llo", 6);
    yoton_value_free(v);
    v = str("\xf0\x9f\x98\x80"); /* U+1F600 */
    CHECK_ENCODES(v, "7304f09f9880");
    yoton_value_free(v);

    /* COUNT: 254 is one byte, 255 takes the long form. */
    memset(big, 'x', 255);
    big[254] = '\0';
    v = str(big);
    memset(want, 0, sizeof want);
    strcpy(want, "73fe");
    {
        size_t k;
        for (k = 0; k < 254; k++) {
            strcat(want, "78");
        }
    }
    CHECK_ENCODES(v, want);
    yoton_value_free(v);
    big[254] = 'x';
    big[255] = '\0';
    v = str(big);
    strcpy(want, "73ffff00000000000000");
    {
        size_t k;
        for (k = 0; k < 255; k++) {
            strcat(want, "78");
        }
    }
    CHECK_ENCODES(v, want);
    CHECK_OK(yoton_value_copy_string(v, buf, sizeof buf, &len));
    CHECK_EQ_INT(len, 255);
    CHECK_STREQ(buf, big);
    yoton_value_free(v);

    /* Embedded NUL bytes: new_string_len keeps them; copy_string gives a C string. */
    CHECK_OK(yoton_value_new_string_len("a\0b", 3, &v));
    CHECK_OK(yoton_value_get_string(v, &data, &len));
    CHECK_EQ_INT(len, 3);
    CHECK_MEMEQ(data, "a\0b", 3);
    CHECK_ENCODES(v, "7303 610062");
    CHECK_REPR(v, "'a\\x00b'");
    CHECK_OK(yoton_value_copy_string(v, buf, sizeof buf, &len));
    CHECK_EQ_INT(len, 3);
    CHECK_MEMEQ(buf, "a\0b\0", 4);
    yoton_value_free(v);
    CHECK_OK(yoton_value_new_string_len(NULL, 0, &v)); /* empty, NULL allowed with len 0 */
    CHECK_REPR(v, "''");
    yoton_value_free(v);

    /* Python repr quoting and escapes. */
    v = str("it's");
    CHECK_REPR(v, "\"it's\"");
    yoton_value_free(v);
    v = str("say \"hi\" it's");
    CHECK_REPR(v, "'say \"hi\" it\\'s'");
    yoton_value_free(v);
    v = str("tab\there\nnl\\");
    CHECK_REPR(v, "'tab\\there\\nnl\\\\'");
    yoton_value_free(v);

    /* copy_string buffer convention: cap 0 asks for the length; room for the NUL needed. */
    v = str("hello");
    len = 0;
    CHECK_RC(yoton_value_copy_string(v, NULL, 0, &len), YOTON_ERR_TOO_LARGE);
    CHECK_EQ_INT(len, 5);
    strcpy(buf, "untouched");
    CHECK_RC(yoton_value_copy_string(v, buf, 5, &len), YOTON_ERR_TOO_LARGE);
    CHECK_STREQ(buf, "untouched"); /* nothing written */
    CHECK_OK(yoton_value_copy_string(v, buf, 6, NULL));
    CHECK_STREQ(buf, "hello");
    yoton_value_free(v);
}

static void test_containers(void) {
    yoton_value *list = yoton_value_new_list();
    yoton_value *tuple = yoton_value_new_tuple();
    yoton_value *dict = yoton_value_new_dict();
    yoton_value *inner;
    yoton_value *v;
    const yoton_value *item = NULL;
    const yoton_value *key = NULL;
    int64_t i = 0;
    size_t n = 99;
    YT_SECTION("lists, tuples, dicts");

    CHECK_EQ_INT(kind_of(list), YOTON_VALUE_LIST);
    CHECK_EQ_INT(kind_of(tuple), YOTON_VALUE_TUPLE);
    CHECK_EQ_INT(kind_of(dict), YOTON_VALUE_DICT);
    CHECK_ENCODES(list, "6c00");
    CHECK_ENCODES(tuple, "7400");
    CHECK_ENCODES(dict, "6400");
    CHECK_REPR(list, "[]");
    CHECK_REPR(tuple, "()");
    CHECK_REPR(dict, "{}");
    CHECK_OK(yoton_value_len(list, &n));
    CHECK_EQ_INT(n, 0);

    /* [1, 2] and (1, "a") */
    push(list, yoton_value_new_int(1));
    push(list, yoton_value_new_int(2));
    CHECK_ENCODES(list, "6c02 690100000000000000 690200000000000000");
    CHECK_REPR(list, "[1, 2]");
    CHECK_OK(yoton_value_len(list, &n));
    CHECK_EQ_INT(n, 2);
    CHECK_OK(yoton_value_item(list, 1, &item));
    CHECK_OK(yoton_value_get_int(item, &i));
    CHECK_EQ_INT(i, 2);
    CHECK_RC(yoton_value_item(list, 2, &item), YOTON_ERR_INVALID_ARGUMENT);
    push(tuple, yoton_value_new_int(1));
    CHECK_REPR(tuple, "(1,)"); /* one-item tuple */
    push(tuple, str("a"));
    CHECK_ENCODES(tuple, "7402 690100000000000000 730161");
    CHECK_REPR(tuple, "(1, 'a')");
    {
        /* A list and a tuple with the same items differ. */
        yoton_value *as_list = yoton_value_new_list();
        bool equal = true;
        push(as_list, yoton_value_new_int(1));
        push(as_list, str("a"));
        CHECK_OK(yoton_value_equal(as_list, tuple, &equal));
        CHECK(!equal);
        yoton_value_free(as_list);
    }

    /* {"a": 1} */
    put(dict, str("a"), yoton_value_new_int(1));
    CHECK_ENCODES(dict, "6401 730161 690100000000000000");
    CHECK_REPR(dict, "{'a': 1}");
    yoton_value_free(dict);

    /* {1: None, (1, 2): [True]} */
    dict = yoton_value_new_dict();
    inner = yoton_value_new_tuple();
    push(inner, yoton_value_new_int(1));
    push(inner, yoton_value_new_int(2));
    v = yoton_value_new_list();
    push(v, yoton_value_new_bool(true));
    put(dict, yoton_value_new_int(1), yoton_value_new_none());
    put(dict, inner, v);
    CHECK_ENCODES(dict,
                  "6402 690100000000000000 6e 7402 690100000000000000 690200000000000000 6c01 6201");
    CHECK_REPR(dict, "{1: None, (1, 2): [True]}");
    /* dict_entry in insertion order. */
    CHECK_OK(yoton_value_dict_entry(dict, 1, &key, &item));
    CHECK_EQ_INT(kind_of(key), YOTON_VALUE_TUPLE);
    CHECK_EQ_INT(kind_of(item), YOTON_VALUE_LIST);
    CHECK_RC(yoton_value_dict_entry(dict, 2, &key, &item), YOTON_ERR_INVALID_ARGUMENT);
    yoton_value_free(dict);

    /* {True: 1} */
    dict = yoton_value_new_dict();
    put(dict, yoton_value_new_bool(true), yoton_value_new_int(1));
    CHECK_ENCODES(dict, "6401 6201 690100000000000000");
    yoton_value_free(dict);

    /* [[[]]] */
    v = yoton_value_new_list();
    inner = yoton_value_new_list();
    push(inner, yoton_value_new_list());
    push(v, inner);
    CHECK_ENCODES(v, "6c01 6c01 6c00");
    CHECK_REPR(v, "[[[]]]");
    yoton_value_free(v);

    /* list(range(255)): the long COUNT form. */
    {
        static char want[8192];
        size_t k;
        v = yoton_value_new_list();
        strcpy(want, "6cffff00000000000000");
        for (k = 0; k < 255; k++) {
            char item_hex[32];
            push(v, yoton_value_new_int((int64_t)k));
            snprintf(item_hex, sizeof item_hex, "69%02x00000000000000", (unsigned)k);
            strcat(want, item_hex);
        }
        CHECK_ENCODES(v, want);
        CHECK_EQ_INT(strlen(want), 2 * 2305);
        yoton_value_free(v);
    }

    yoton_value_free(list);
    yoton_value_free(tuple);
}

/* {"b": [1, 2.5, None], "a": (True, "z")} and the requests of docs/protocol.md §8.2. */
static void test_nested_vectors(void) {
    yoton_value *dict = yoton_value_new_dict();
    yoton_value *b = yoton_value_new_list();
    yoton_value *a = yoton_value_new_tuple();
    yoton_value *req;
    yoton_value *args;
    yoton_value *back = NULL;
    const yoton_value *got = NULL;
    const yoton_value *item = NULL;
    const char *text = NULL;
    size_t len = 0;
    double d = 0;
    bool flag = false;
    char buf[256];
    YT_SECTION("nested vectors");

    push(b, yoton_value_new_int(1));
    push(b, yoton_value_new_float(2.5));
    push(b, yoton_value_new_none());
    push(a, yoton_value_new_bool(true));
    push(a, str("z"));
    put(dict, str("b"), b);
    put(dict, str("a"), a);
    CHECK_ENCODES(dict, "6402 730162 6c03 690100000000000000 660000000000000440 6e 730161 7402 "
                        "6201 73017a");
    CHECK_REPR(dict, "{'b': [1, 2.5, None], 'a': (True, 'z')}");

    /* Decode the bytes and walk the tree. */
    {
        unsigned char bytes[64];
        size_t n = unhex("6402 730162 6c03 690100000000000000 660000000000000440 6e 730161 7402 "
                         "6201 73017a",
                         bytes);
        CHECK_OK(yoton_value_decode(bytes, n, &back));
    }
    CHECK_OK(yoton_value_dict_get(back, "b", &got));
    CHECK_EQ_INT(kind_of(got), YOTON_VALUE_LIST);
    CHECK_OK(yoton_value_item(got, 1, &item));
    CHECK_OK(yoton_value_get_float(item, &d));
    CHECK(d == 2.5);
    CHECK_OK(yoton_value_item(got, 2, &item));
    CHECK_EQ_INT(kind_of(item), YOTON_VALUE_NONE);
    CHECK_OK(yoton_value_dict_get(back, "a", &got));
    CHECK_EQ_INT(kind_of(got), YOTON_VALUE_TUPLE);
    CHECK_OK(yoton_value_item(got, 0, &item));
    CHECK_OK(yoton_value_get_bool(item, &flag));
    CHECK(flag);
    CHECK_OK(yoton_value_item(got, 1, &item));
    CHECK_OK(yoton_value_get_string(item, &text, &len));
    CHECK_EQ_INT(len, 1);
    CHECK(text[0] == 'z');
    CHECK_RC(yoton_value_dict_get(back, "c", &got), YOTON_ERR_NOT_FOUND);
    CHECK_OK(yoton_value_equal(dict, back, &flag));
    CHECK(flag);
    CHECK_OK(yoton_value_repr(back, buf, sizeof buf, &len));
    CHECK_STREQ(buf, "{'b': [1, 2.5, None], 'a': (True, 'z')}");
    CHECK_EQ_INT(len, strlen(buf));
    yoton_value_free(back);

    /* ("add", (3, 4), {}) */
    req = yoton_value_new_tuple();
    args = yoton_value_new_tuple();
    push(args, yoton_value_new_int(3));
    push(args, yoton_value_new_int(4));
    push(req, str("add"));
    push(req, args);
    push(req, yoton_value_new_dict());
    CHECK_ENCODES(req, "7403 7303616464 7402 690300000000000000 690400000000000000 6400");
    CHECK_REPR(req, "('add', (3, 4), {})");
    yoton_value_free(req);

    /* ("echo", ("hi",), {"sleep": 0.0}) */
    req = yoton_value_new_tuple();
    args = yoton_value_new_tuple();
    push(args, str("hi"));
    push(req, str("echo"));
    push(req, args);
    args = yoton_value_new_dict();
    put(args, str("sleep"), yoton_value_new_float(0.0));
    push(req, args);
    CHECK_ENCODES(req, "740373046563686f74017302686964017305736c656570660000000000000000");
    CHECK_REPR(req, "('echo', ('hi',), {'sleep': 0.0})");
    yoton_value_free(req);

    yoton_value_free(dict);
}

static void test_decode_edge_cases(void) {
    yoton_value *v;
    bool b = false;
    size_t n = 0;
    const yoton_value *got = NULL;
    int64_t i = 0;
    YT_SECTION("decode edge cases");

    /* Empty input is None. */
    v = NULL;
    CHECK_OK(yoton_value_decode(NULL, 0, &v));
    CHECK_EQ_INT(kind_of(v), YOTON_VALUE_NONE);
    yoton_value_free(v);
    /* Any non-zero bool byte is True. */
    v = DECODE("6202", YOTON_OK);
    CHECK_OK(yoton_value_get_bool(v, &b));
    CHECK(b);
    yoton_value_free(v);
    v = DECODE("62ff", YOTON_OK);
    CHECK_REPR(v, "True");
    yoton_value_free(v);
    /* Trailing bytes are ignored. */
    v = DECODE("6e6e6e", YOTON_OK);
    CHECK_EQ_INT(kind_of(v), YOTON_VALUE_NONE);
    yoton_value_free(v);
    /* The long COUNT form is accepted for small counts. */
    v = DECODE("6c ff 0100000000000000 6e", YOTON_OK);
    CHECK_REPR(v, "[None]");
    yoton_value_free(v);
    /* Duplicate keys are kept as they come; dict_get returns the last one. */
    v = DECODE("6402 730161 690100000000000000 730161 690200000000000000", YOTON_OK);
    CHECK_OK(yoton_value_len(v, &n));
    CHECK_EQ_INT(n, 2);
    CHECK_OK(yoton_value_dict_get(v, "a", &got));
    CHECK_OK(yoton_value_get_int(got, &i));
    CHECK_EQ_INT(i, 2);
    yoton_value_free(v);
    /* A list key decodes (Python could not), but re-encoding refuses it. */
    v = DECODE("6401 6c00 6e", YOTON_OK);
    CHECK_RC(yoton_value_encode(v, NULL, 0, &n), YOTON_ERR_ENCODING);
    yoton_value_free(v);

    /* Errors: unknown tag, truncated input, invalid UTF-8, huge counts. */
    CHECK(DECODE("7a", YOTON_ERR_ENCODING) == NULL);
    CHECK(strstr(yoton_last_error(), "Unsupported type: 122") != NULL);
    CHECK(DECODE("7303 6162", YOTON_ERR_ENCODING) == NULL);
    CHECK(DECODE("6c05 6e", YOTON_ERR_ENCODING) == NULL);
    CHECK(DECODE("690100", YOTON_ERR_ENCODING) == NULL);
    CHECK(DECODE("7302 fffe", YOTON_ERR_ENCODING) == NULL);
    CHECK(DECODE("69", YOTON_ERR_ENCODING) == NULL);
    CHECK(DECODE("62", YOTON_ERR_ENCODING) == NULL);
    CHECK(DECODE("6c", YOTON_ERR_ENCODING) == NULL);
    CHECK(DECODE("6401 730161", YOTON_ERR_ENCODING) == NULL); /* key without value */
    CHECK(DECODE("6cff ffffffffffffff7f 6e", YOTON_ERR_ENCODING) == NULL);
    CHECK(DECODE("73ff ffffffffffffffff", YOTON_ERR_ENCODING) == NULL);

    /* Truncating a valid encoding anywhere gives YOTON_ERR_ENCODING. */
    {
        unsigned char bytes[64];
        size_t len = unhex("6402 730162 6c03 690100000000000000 660000000000000440 6e 730161 "
                           "7402 6201 73017a",
                           bytes);
        size_t cut;
        int all_refused = 1;
        for (cut = 1; cut < len; cut++) {
            yoton_value *part = NULL;
            if (yoton_value_decode(bytes, cut, &part) != YOTON_ERR_ENCODING || part != NULL) {
                all_refused = 0;
                printf("   truncation at %zu was not refused\n", cut);
            }
            yoton_value_free(part);
        }
        CHECK(all_refused);
    }

    /* Hostile nesting is refused without overflowing the stack. */
    {
        size_t depth = 100000;
        unsigned char *deep = (unsigned char *)malloc(2 * depth + 1);
        size_t k;
        for (k = 0; k < depth; k++) {
            deep[2 * k] = 0x6c;
            deep[2 * k + 1] = 0x01;
        }
        deep[2 * depth] = 0x6e;
        v = NULL;
        CHECK_RC(yoton_value_decode(deep, 2 * depth + 1, &v), YOTON_ERR_ENCODING);
        CHECK(v == NULL);
        /* Moderate nesting is fine. */
        CHECK_OK(yoton_value_decode(deep + 2 * (depth - 100), 201, &v));
        yoton_value_free(v);
        free(deep);
    }
}

static void test_equality_and_clone(void) {
    yoton_value *a = yoton_value_new_list();
    yoton_value *b = NULL;
    yoton_value *x;
    yoton_value *y;
    bool equal = false;
    const yoton_value *item = NULL;
    YT_SECTION("equality and clone");

    push(a, yoton_value_new_int(1));
    push(a, str("two"));
    x = yoton_value_new_dict();
    put(x, str("k"), yoton_value_new_float(1.5));
    push(a, x);
    CHECK_OK(yoton_value_clone(a, &b));
    CHECK(a != b);
    CHECK_OK(yoton_value_equal(a, b, &equal));
    CHECK(equal);
    /* The clone is deep: changing it leaves the original alone. */
    push(b, yoton_value_new_none());
    CHECK_OK(yoton_value_equal(a, b, &equal));
    CHECK(!equal);
    CHECK_REPR(a, "[1, 'two', {'k': 1.5}]");
    CHECK_REPR(b, "[1, 'two', {'k': 1.5}, None]");
    /* Items are borrowed, valid while the container is unchanged. */
    CHECK_OK(yoton_value_item(a, 2, &item));
    CHECK_REPR(item, "{'k': 1.5}");
    yoton_value_free(b);

    /* Appending a container to itself appends a copy of its current state. */
    b = yoton_value_new_list();
    push(b, yoton_value_new_int(1));
    CHECK_OK(yoton_value_append(b, b));
    CHECK_OK(yoton_value_append(b, b));
    CHECK_REPR(b, "[1, [1], [1, [1]]]");
    x = yoton_value_new_dict();
    y = str("self");
    CHECK_OK(yoton_value_dict_set(x, y, x));
    CHECK_REPR(x, "{'self': {}}");
    yoton_value_free(y);
    yoton_value_free(x);
    yoton_value_free(b);

    /* Floats compare as numbers: NaN != NaN, 0.0 == -0.0. */
    x = yoton_value_new_float(NAN);
    CHECK_OK(yoton_value_equal(x, x, &equal));
    CHECK(!equal);
    yoton_value_free(x);
    x = yoton_value_new_float(0.0);
    y = yoton_value_new_float(-0.0);
    CHECK_OK(yoton_value_equal(x, y, &equal));
    CHECK(equal);
    yoton_value_free(x);
    yoton_value_free(y);
    /* Different kinds are different values. */
    x = yoton_value_new_bool(true);
    y = str("True");
    CHECK_OK(yoton_value_equal(x, y, &equal));
    CHECK(!equal);
    yoton_value_free(x);
    yoton_value_free(y);
    x = yoton_value_new_none();
    y = yoton_value_new_none();
    CHECK_OK(yoton_value_equal(x, y, &equal));
    CHECK(equal);
    yoton_value_free(x);
    yoton_value_free(y);
    yoton_value_free(a);
}

static void test_dict_set(void) {
    yoton_value *d = yoton_value_new_dict();
    yoton_value *bad;
    yoton_value *t;
    const yoton_value *got = NULL;
    const yoton_value *key = NULL;
    size_t n = 0;
    int64_t i = 0;
    YT_SECTION("dict_set: replace, order, refused keys");

    put(d, str("x"), yoton_value_new_int(1));
    put(d, str("y"), yoton_value_new_int(2));
    put(d, str("x"), yoton_value_new_int(3)); /* replaces, keeps the position */
    CHECK_OK(yoton_value_len(d, &n));
    CHECK_EQ_INT(n, 2);
    CHECK_REPR(d, "{'x': 3, 'y': 2}");
    CHECK_OK(yoton_value_dict_entry(d, 0, &key, &got));
    CHECK_REPR(key, "'x'");
    CHECK_OK(yoton_value_get_int(got, &i));
    CHECK_EQ_INT(i, 3);
    /* Tuple, None, int, float and bool keys are fine. */
    t = yoton_value_new_tuple();
    push(t, yoton_value_new_int(1));
    put(d, t, yoton_value_new_none());
    put(d, yoton_value_new_none(), yoton_value_new_int(0));
    put(d, yoton_value_new_float(0.5), yoton_value_new_int(0));
    CHECK_REPR(d, "{'x': 3, 'y': 2, (1,): None, None: 0, 0.5: 0}");
    /* List and dict keys are refused (Python cannot decode them); nothing changes. */
    bad = yoton_value_new_list();
    CHECK_RC(yoton_value_dict_set(d, bad, bad), YOTON_ERR_INVALID_ARGUMENT);
    yoton_value_free(bad);
    bad = yoton_value_new_dict();
    CHECK_RC(yoton_value_dict_set(d, bad, bad), YOTON_ERR_INVALID_ARGUMENT);
    yoton_value_free(bad);
    CHECK_OK(yoton_value_len(d, &n));
    CHECK_EQ_INT(n, 5);
    /* dict_set on a non-dict. */
    bad = yoton_value_new_list();
    t = str("k");
    CHECK_RC(yoton_value_dict_set(bad, t, t), YOTON_ERR_INVALID_ARGUMENT);
    yoton_value_free(t);
    yoton_value_free(bad);
    /* dict_get only finds string keys. */
    CHECK_RC(yoton_value_dict_get(d, "1", &got), YOTON_ERR_NOT_FOUND);
    yoton_value_free(d);
}

static void test_wrong_kinds(void) {
    yoton_value *i = yoton_value_new_int(7);
    yoton_value *s = str("s");
    yoton_value *l = yoton_value_new_list();
    yoton_value *d = yoton_value_new_dict();
    yoton_value *n = yoton_value_new_none();
    const yoton_value *got = NULL;
    const yoton_value *got2 = NULL;
    const char *text = NULL;
    char buf[16];
    size_t len = 0;
    bool b = false;
    int64_t i64 = 0;
    double f = 0;
    const int INV = YOTON_ERR_INVALID_ARGUMENT;
    YT_SECTION("accessors on the wrong kind -> YOTON_ERR_INVALID_ARGUMENT");

    CHECK_RC(yoton_value_get_bool(i, &b), INV);
    CHECK_RC(yoton_value_get_bool(n, &b), INV);
    CHECK_RC(yoton_value_get_int(s, &i64), INV);
    {
        /* A bool is not an int here. */
        yoton_value *t = yoton_value_new_bool(true);
        CHECK_RC(yoton_value_get_int(t, &i64), INV);
        CHECK_RC(yoton_value_get_float(t, &f), INV);
        yoton_value_free(t);
    }
    CHECK_RC(yoton_value_get_float(s, &f), INV);
    CHECK_RC(yoton_value_get_string(i, &text, &len), INV);
    CHECK_RC(yoton_value_copy_string(l, buf, sizeof buf, &len), INV);
    CHECK_RC(yoton_value_len(i, &len), INV);
    CHECK_RC(yoton_value_len(s, &len), INV);
    CHECK_RC(yoton_value_item(d, 0, &got), INV);
    CHECK_RC(yoton_value_item(s, 0, &got), INV);
    CHECK_RC(yoton_value_dict_entry(l, 0, &got, &got2), INV);
    CHECK_RC(yoton_value_dict_get(l, "k", &got), INV);
    CHECK_RC(yoton_value_append(d, i), INV);
    CHECK_RC(yoton_value_append(i, i), INV);
    /* Values stay unchanged after errors. */
    CHECK_OK(yoton_value_get_int(i, &i64));
    CHECK_EQ_INT(i64, 7);
    CHECK(got == NULL);
    yoton_value_free(i);
    yoton_value_free(s);
    yoton_value_free(l);
    yoton_value_free(d);
    yoton_value_free(n);
}

static void test_buffers(void) {
    yoton_value *v = yoton_value_new_tuple();
    unsigned char buf[64];
    char text[64];
    size_t len = 0;
    YT_SECTION("encode and repr buffers");

    push(v, yoton_value_new_int(1));
    push(v, str("a"));
    /* Encode: cap 0 asks for the size; too small writes nothing; exact fits. */
    CHECK_RC(yoton_value_encode(v, NULL, 0, &len), YOTON_ERR_TOO_LARGE);
    CHECK_EQ_INT(len, 14);
    memset(buf, 0xAA, sizeof buf);
    len = 0;
    CHECK_RC(yoton_value_encode(v, buf, 13, &len), YOTON_ERR_TOO_LARGE);
    CHECK_EQ_INT(len, 14);
    CHECK(buf[0] == 0xAA);
    CHECK_OK(yoton_value_encode(v, buf, 14, &len));
    CHECK_EQ_INT(len, 14);
    CHECK(buf[0] == 0x74);
    CHECK(buf[14] == 0xAA);
    CHECK_OK(yoton_value_encode(v, buf, sizeof buf, NULL));
    CHECK(strstr(yoton_last_error(), "too small") != NULL); /* success does not clear it */

    /* Repr: "(1, 'a')" is 8 characters, needs 9 bytes. */
    len = 0;
    CHECK_RC(yoton_value_repr(v, NULL, 0, &len), YOTON_ERR_TOO_LARGE);
    CHECK_EQ_INT(len, 8);
    strcpy(text, "keep");
    CHECK_RC(yoton_value_repr(v, text, 8, &len), YOTON_ERR_TOO_LARGE);
    CHECK_STREQ(text, "keep");
    CHECK_OK(yoton_value_repr(v, text, 9, &len));
    CHECK_STREQ(text, "(1, 'a')");
    yoton_value_free(v);

    /* Encoding refuses a list hidden in a tuple key (set through dict_set, which only checks
     * the top level of the key). */
    {
        yoton_value *d = yoton_value_new_dict();
        yoton_value *key = yoton_value_new_tuple();
        yoton_value *none = yoton_value_new_none();
        push(key, yoton_value_new_list());
        CHECK_OK(yoton_value_dict_set(d, key, none));
        CHECK_RC(yoton_value_encode(d, buf, sizeof buf, &len), YOTON_ERR_ENCODING);
        yoton_value_free(key);
        yoton_value_free(none);
        yoton_value_free(d);
    }
}

/* Deep values built from C: encoding stops at a nesting limit instead of crashing. */
static void test_deep_encode(void) {
    yoton_value *v = yoton_value_new_none();
    size_t depth;
    size_t len = 0;
    int rc = YOTON_OK;
    YT_SECTION("deep nesting");
    for (depth = 1; depth <= 2000 && rc == YOTON_OK; depth++) {
        yoton_value *outer = yoton_value_new_list();
        yoton_value_append(outer, v);
        yoton_value_free(v);
        v = outer;
        if (depth == 100) {
            rc = yoton_value_encode(v, NULL, 0, &len);
            CHECK_RC(rc, YOTON_ERR_TOO_LARGE);
            CHECK_EQ_INT(len, 2 * 100 + 1);
            rc = YOTON_OK;
        }
    }
    CHECK_RC(yoton_value_encode(v, NULL, 0, &len), YOTON_ERR_ENCODING);
    yoton_value_free(v); /* freeing a 2000-deep value must not overflow either */
    CHECK(1);
}

/* The value builders of issue 11: constructors that return the value, ownership-taking
 * append / set / tuple / list, string-keyed dict access, Python equality. */
static void test_builders(void) {
    yoton_value *args, *list, *dict, *x, *y, *bad;
    const yoton_value *got = NULL;
    bool equal = false;
    YT_SECTION("builders: new_str, *_take, dict_set_str, Python equality");

    /* new_str returns the value; NULL with a reason for bad input. */
    x = yoton_value_new_str("hi");
    CHECK_REPR(x, "'hi'");
    yoton_value_free(x);
    CHECK(yoton_value_new_str(NULL) == NULL);
    CHECK(strstr(yoton_last_error(), "NULL") != NULL);
    CHECK(yoton_value_new_str("bad" "\xff") == NULL);
    CHECK(strstr(yoton_last_error(), "UTF-8") != NULL);

    /* Call arguments in one expression. */
    {
        yoton_value *items[] = {yoton_value_new_int(2), yoton_value_new_str("x"),
                                yoton_value_new_none()};
        args = yoton_value_new_tuple_take(items, 3);
    }
    CHECK_REPR(args, "(2, 'x', None)");
    yoton_value_free(args);
    {
        yoton_value *items[] = {yoton_value_new_float(0.5)};
        list = yoton_value_new_list_take(items, 1);
    }
    CHECK_REPR(list, "[0.5]");
    /* A NULL item (a failed constructor): NULL, and the other items are released. */
    {
        yoton_value *items[] = {yoton_value_new_int(1), yoton_value_new_str(NULL)};
        bad = yoton_value_new_tuple_take(items, 2);
    }
    CHECK(bad == NULL);
    CHECK(strstr(yoton_last_error(), "item 1 is NULL") != NULL);
    x = yoton_value_new_tuple_take(NULL, 0); /* no items: () */
    CHECK_REPR(x, "()");
    yoton_value_free(x);

    /* append_take: no temporaries; the item is consumed even on failure. */
    CHECK_OK(yoton_value_append_take(list, yoton_value_new_int(7)));
    CHECK_OK(yoton_value_append_take(list, yoton_value_new_str("s")));
    CHECK_REPR(list, "[0.5, 7, 's']");
    CHECK_RC(yoton_value_append_take(list, NULL), YOTON_ERR_INVALID_ARGUMENT);
    x = yoton_value_new_int(1);
    CHECK_RC(yoton_value_append_take(x, yoton_value_new_int(2)), YOTON_ERR_INVALID_ARGUMENT);
    yoton_value_free(x);

    /* String keys. */
    dict = yoton_value_new_dict();
    CHECK_OK(yoton_value_dict_set_str(dict, "a", list));
    CHECK_OK(yoton_value_dict_set_str_take(dict, "b", yoton_value_new_bool(true)));
    CHECK_OK(yoton_value_dict_set_str_take(dict, "a", yoton_value_new_int(3))); /* replaces */
    CHECK_REPR(dict, "{'a': 3, 'b': True}");
    CHECK_OK(yoton_value_dict_get(dict, "b", &got));
    CHECK_REPR(got, "True");
    CHECK_RC(yoton_value_dict_get(dict, "zz", &got), YOTON_ERR_NOT_FOUND);
    CHECK_RC(yoton_value_dict_get(list, "a", &got), YOTON_ERR_INVALID_ARGUMENT); /* not a dict */
    CHECK_RC(yoton_value_dict_set_str(list, "a", dict), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_value_dict_set_str_take(dict, NULL, yoton_value_new_none()), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_value_dict_set_str(dict, "bad" "\xff", list), YOTON_ERR_ENCODING);
    yoton_value_free(list);

    /* Python equality: True == 1 == 1.0; dicts in any order; a list is not a tuple. */
    x = yoton_value_new_bool(true);
    y = yoton_value_new_float(1.0);
    CHECK_OK(yoton_value_equal(x, y, &equal));
    CHECK(equal);
    yoton_value_free(x);
    yoton_value_free(y);
    x = yoton_value_new_dict();
    CHECK_OK(yoton_value_dict_set_str_take(x, "b", yoton_value_new_int(1)));
    CHECK_OK(yoton_value_dict_set_str_take(x, "a", yoton_value_new_float(3.0)));
    CHECK_OK(yoton_value_equal(x, dict, &equal));
    CHECK(equal); /* {'b': 1, 'a': 3.0} == {'a': 3, 'b': True} */
    yoton_value_free(x);
    {
        yoton_value *l[] = {yoton_value_new_int(1)};
        yoton_value *t[] = {yoton_value_new_int(1)};
        x = yoton_value_new_list_take(l, 1);
        y = yoton_value_new_tuple_take(t, 1);
    }
    CHECK_OK(yoton_value_equal(x, y, &equal));
    CHECK(!equal);
    yoton_value_free(x);
    yoton_value_free(y);
    /* 2^53 + 1 is not 2^53 as a float (exact, as Python compares). */
    x = yoton_value_new_int(9007199254740993LL);
    y = yoton_value_new_float(9007199254740992.0);
    CHECK_OK(yoton_value_equal(x, y, &equal));
    CHECK(!equal);
    yoton_value_free(x);
    yoton_value_free(y);
    yoton_value_free(dict);
}

int main(void) {
    test_scalars();
    test_strings();
    test_containers();
    test_nested_vectors();
    test_decode_edge_cases();
    test_equality_and_clone();
    test_dict_set();
    test_builders();
    test_wrong_kinds();
    test_buffers();
    test_deep_encode();
    return yt_summary("test_value");
}
