/* rawpeer.h: a hand-written peer speaking the yoton wire protocol over plain POSIX sockets
 * (docs/protocol.md §2 framing, §3 handshake), so C tests can check yoton byte for byte and feed
 * it packages no yoton would send. Include after ytest.h. C11 and C++17. */
#ifndef RAWPEER_H
#define RAWPEER_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#define RAW_HEADER 56

/* The control field: "YOTON" plus three spaces. */
static const unsigned char RAW_CONTROL[8] = {'Y', 'O', 'T', 'O', 'N', ' ', ' ', ' '};

/* Slot hashes from docs/protocol.md §5.5. */
#define SLOT_CHAT_PUB_SUB 0x00000fe15408168full /* chat.txt.pub-sub */
#define SLOT_CONTEXT 2ull

struct raw_header {
    uint64_t slot;
    uint64_t source_id;
    uint64_t source_seq;
    uint64_t dest_id;
    uint64_t dest_seq;
    uint64_t length;
};

static inline void raw_put_u64(unsigned char *p, uint64_t v) {
    int i;
    for (i = 0; i < 8; i++) {
        p[i] = (unsigned char)(v >> (8 * i));
    }
}

static inline uint64_t raw_get_u64(const unsigned char *p) {
    uint64_t v = 0;
    int i;
    for (i = 7; i >= 0; i--) {
        v = (v << 8) | p[i];
    }
    return v;
}

/* Write everything (no SIGPIPE). 0 on success. */
static inline int raw_write(int fd, const void *data, size_t len) {
    const char *p = (const char *)data;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Wait up to `timeout` seconds for readability; 1 if readable. */
static inline int raw_readable(int fd, double timeout) {
    struct pollfd p;
    int ms = (int)(timeout * 1000);
    p.fd = fd;
    p.events = POLLIN;
    p.revents = 0;
    return poll(&p, 1, ms < 0 ? 0 : ms) == 1;
}

/* Read exactly `len` bytes within `timeout` seconds. 0 on success, -1 on EOF/error/timeout. */
static inline int raw_read(int fd, void *buf, size_t len, double timeout) {
    char *p = (char *)buf;
    double deadline = yt_now() + timeout;
    while (len > 0) {
        ssize_t n;
        double left = deadline - yt_now();
        if (left <= 0 || !raw_readable(fd, left)) {
            return -1;
        }
        n = recv(fd, p, len, 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Read one line (up to and including CRLF) byte by byte; NUL-terminated. Length or -1. */
static inline int raw_read_line(int fd, char *buf, size_t cap, double timeout) {
    size_t n = 0;
    while (n + 1 < cap) {
        if (raw_read(fd, buf + n, 1, timeout) != 0) {
            break;
        }
        n++;
        if (n >= 2 && buf[n - 2] == '\r' && buf[n - 1] == '\n') {
            break;
        }
    }
    buf[n] = '\0';
    return n > 0 ? (int)n : -1;
}

static inline void raw_loopback(struct sockaddr_in *addr, uint16_t port) {
    memset(addr, 0, sizeof *addr);
    addr->sin_family = AF_INET;
    addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr->sin_port = htons(port);
}

/* A TCP connection to 127.0.0.1:port, or -1. */
static inline int raw_connect(uint16_t port) {
    struct sockaddr_in addr;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    if (fd < 0) {
        return -1;
    }
    raw_loopback(&addr, port);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        close(fd);
        return -1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

/* A listening socket on 127.0.0.1 (any port, written to *port), or -1. */
static inline int raw_listen(uint16_t *port) {
    struct sockaddr_in addr;
    socklen_t len = sizeof addr;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        return -1;
    }
    raw_loopback(&addr, 0);
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(fd, 4) != 0 ||
        getsockname(fd, (struct sockaddr *)&addr, &len) != 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(addr.sin_port);
    return fd;
}

/* Accept one client within `timeout` seconds, or -1. */
static inline int raw_accept(int lfd, double timeout) {
    int fd;
    if (!raw_readable(lfd, timeout)) {
        return -1;
    }
    fd = accept(lfd, NULL, NULL);
    return fd;
}

/* Encode a header into 56 bytes. */
static inline void raw_encode_header(unsigned char *out, const struct raw_header *h) {
    memcpy(out, RAW_CONTROL, 8);
    raw_put_u64(out + 8, h->slot);
    raw_put_u64(out + 16, h->source_id);
    raw_put_u64(out + 24, h->source_seq);
    raw_put_u64(out + 32, h->dest_id);
    raw_put_u64(out + 40, h->dest_seq);
    raw_put_u64(out + 48, h->length);
}

/* Send one package (header + body) in a single write. 0 on success. */
static inline int raw_send_package(int fd, uint64_t slot, uint64_t source_id, uint64_t seq,
                                   uint64_t dest_id, const void *body, size_t len) {
    unsigned char *buf = (unsigned char *)malloc(RAW_HEADER + len + 1);
    struct raw_header h;
    int rc;
    h.slot = slot;
    h.source_id = source_id;
    h.source_seq = seq;
    h.dest_id = dest_id;
    h.dest_seq = 0;
    h.length = len;
    raw_encode_header(buf, &h);
    if (len > 0) {
        memcpy(buf + RAW_HEADER, body, len);
    }
    rc = raw_write(fd, buf, RAW_HEADER + len);
    free(buf);
    return rc;
}

/* The canonical heartbeat (source_seq 0) or close (source_seq 1) package (docs/protocol.md §2.2). */
static inline int raw_send_signal(int fd, uint64_t seq) {
    unsigned char buf[RAW_HEADER];
    struct raw_header h;
    h.slot = 1;
    h.source_id = 0;
    h.source_seq = seq;
    h.dest_id = 0;
    h.dest_seq = 0;
    h.length = 0;
    raw_encode_header(buf, &h);
    return raw_write(fd, buf, sizeof buf);
}

/* Read one package: header into *h, the raw 56 header bytes into raw56 (if not NULL), body
 * into body (at most cap bytes kept; the rest is read and dropped). 0 on success, -1 on
 * error/timeout, -2 on a bad control field. */
static inline int raw_read_package(int fd, struct raw_header *h, unsigned char *raw56,
                                   unsigned char *body, size_t cap, double timeout) {
    unsigned char hdr[RAW_HEADER];
    uint64_t left;
    if (raw_read(fd, hdr, RAW_HEADER, timeout) != 0) {
        return -1;
    }
    if (raw56 != NULL) {
        memcpy(raw56, hdr, RAW_HEADER);
    }
    if (memcmp(hdr, RAW_CONTROL, 8) != 0) {
        return -2;
    }
    h->slot = raw_get_u64(hdr + 8);
    h->source_id = raw_get_u64(hdr + 16);
    h->source_seq = raw_get_u64(hdr + 24);
    h->dest_id = raw_get_u64(hdr + 32);
    h->dest_seq = raw_get_u64(hdr + 40);
    h->length = raw_get_u64(hdr + 48);
    left = h->length;
    while (left > 0) {
        unsigned char scratch[4096];
        size_t chunk = left > sizeof scratch ? sizeof scratch : (size_t)left;
        size_t offset = (size_t)(h->length - left);
        if (raw_read(fd, scratch, chunk, timeout) != 0) {
            return -1;
        }
        if (offset < cap) {
            size_t keep = cap - offset < chunk ? cap - offset : chunk;
            memcpy(body + offset, scratch, keep);
        }
        left -= chunk;
    }
    return 0;
}

/* Read packages until a data package (length > 0) arrives; heartbeats are skipped and
 * counted in *heartbeats (may be NULL). Same return values as raw_read_package. */
static inline int raw_read_data(int fd, struct raw_header *h, unsigned char *body, size_t cap,
                                double timeout, int *heartbeats) {
    double deadline = yt_now() + timeout;
    for (;;) {
        double left = deadline - yt_now();
        int rc;
        if (left <= 0) {
            return -1;
        }
        rc = raw_read_package(fd, h, NULL, body, cap, left);
        if (rc != 0) {
            return rc;
        }
        if (h->length > 0) {
            return 0;
        }
        if (heartbeats != NULL) {
            (*heartbeats)++;
        }
    }
}

/* Client side of the handshake: send our line, read the host's. The host's line (with CRLF)
 * goes into `line`. 0 when a YOTON! line came back. */
static inline int raw_client_handshake(int fd, uint64_t id, unsigned pid, char *line, size_t cap) {
    char ours[64];
    snprintf(ours, sizeof ours, "YOTON!%016llx.%u\r\n", (unsigned long long)id, pid);
    if (raw_write(fd, ours, strlen(ours)) != 0) {
        return -1;
    }
    if (raw_read_line(fd, line, cap, 5.0) < 0) {
        return -1;
    }
    return strncmp(line, "YOTON!", 6) == 0 ? 0 : -1;
}

#endif /* RAWPEER_H */
