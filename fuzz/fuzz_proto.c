/* SPDX-License-Identifier: MIT */
/* libFuzzer target for the private protocol between libnoxrunner and
 * nox-init (src/local/proto.c). nox-init parses what the library sends and
 * the library parses what a sandbox's supervisor answers; a sandbox that
 * got hold of its control socket could send anything, so neither parser may
 * ever read or write out of bounds.
 *
 * The first byte chooses the mode:
 *  - even: the rest is a TLV payload. Every record goes through
 *    nox__tlv_next and nox__tlv_str/u32/u64, as nox-init's CONFIG and EXEC
 *    parsers use them. Checks: values lie inside the payload, the iterator
 *    always advances, str/u32/u64 accept exactly what they should and copy
 *    exactly the bytes, and re-encoding the records with nox__tlv_put gives
 *    the parsed bytes back.
 *  - odd: the rest is a list of packets ([u16 length][u8 fd count][bytes]),
 *    sent on a SOCK_SEQPACKET socketpair with file descriptors attached,
 *    then read with nox__proto_recv. Checks: only the documented results,
 *    a payload of exactly the header's length, never more fds than asked,
 *    and no fd leaked whatever happens.
 * Bits 1-2 of the first byte pick the size limit and fd limit given to
 * nox__proto_recv; bit 3 stamps the right magic on the first packet so
 * that mutations get past it quickly. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "local/proto.h"

/* Messages of a few packets show everything; a cap keeps runs fast and
 * keeps the socket buffer from filling up. */
#define MAX_INPUT   (64 * 1024)
#define MAX_PACKETS 64

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);               \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void tlv_records(const char *p, size_t len)
{
    nox_tlv_iter it = { p, p + len };
    nox_buf again = NOX_BUF_INIT;
    size_t good = 0; /* bytes of @p p that parsed as whole records */
    int r;
    for (;;) {
        uint16_t tag = 0;
        const char *val = NULL;
        uint32_t n = 0;
        const char *before = it.p;
        r = nox__tlv_next(&it, &tag, &val, &n);
        CHECK(r >= -1 && r <= 1);
        CHECK(it.p >= p && it.p <= p + len);
        if (r <= 0)
            break;
        /* Progress: a header and the value. */
        CHECK(it.p == before + sizeof tag + sizeof n + n);
        CHECK(val >= p && val + n <= p + len && val + n == it.p);
        good = (size_t)(it.p - p);

        char *s = nox__tlv_str(val, n);
        if (s) {
            CHECK(strlen(s) == n && memcmp(s, val, n) == 0);
            free(s);
        } else {
            CHECK(memchr(val, '\0', n) != NULL || errno == ENOMEM);
        }
        uint32_t u32 = 0;
        int r32 = nox__tlv_u32(val, n, &u32);
        CHECK(r32 == (n == 4 ? 0 : -1));
        if (r32 == 0)
            CHECK(memcmp(&u32, val, 4) == 0);
        uint64_t u64 = 0;
        int r64 = nox__tlv_u64(val, n, &u64);
        CHECK(r64 == (n == 8 ? 0 : -1));
        if (r64 == 0)
            CHECK(memcmp(&u64, val, 8) == 0);

        CHECK(nox__tlv_put(&again, tag, val, n) == 0);
    }
    /* The end is reached exactly at the end, or the rest is malformed. */
    if (r == 0)
        CHECK(good == len);
    else
        CHECK(good < len);
    CHECK(again.len == good);
    CHECK(good == 0 || memcmp(again.data, p, good) == 0);
    nox__buf_free(&again);
}

/* One fd that stands in for the pipes the real protocol carries. */
static int spare_fd(void)
{
    static int fd = -1;
    if (fd < 0)
        fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    CHECK(fd >= 0);
    return fd;
}

/* The lowest free fd: a leak of any fd received shows up as a change. */
static int lowest_free_fd(void)
{
    int fd = dup(0);
    CHECK(fd >= 0);
    close(fd);
    return fd;
}

static void send_packets(int sock, const uint8_t *p, size_t len, bool fix_magic)
{
    for (int i = 0; i < MAX_PACKETS && len >= 3; i++) {
        size_t n = (size_t)p[0] | (size_t)p[1] << 8;
        size_t nfds = p[2] % 8;
        p += 3;
        len -= 3;
        n = NOX_MIN(n, len);
        char *pkt = malloc(n ? n : 1);
        CHECK(pkt);
        if (n)
            memcpy(pkt, p, n);
        if (i == 0 && fix_magic && n >= sizeof(uint32_t)) {
            uint32_t magic = NOX_PROTO_MAGIC;
            memcpy(pkt, &magic, sizeof magic);
        }
        struct iovec iov = { pkt, n };
        union {
            char buf[CMSG_SPACE(sizeof(int) * 8)];
            struct cmsghdr align;
        } ctl;
        struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
        if (nfds) {
            memset(&ctl, 0, sizeof ctl);
            msg.msg_control = ctl.buf;
            msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
            struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
            c->cmsg_level = SOL_SOCKET;
            c->cmsg_type = SCM_RIGHTS;
            c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
            int fds[8];
            for (size_t k = 0; k < nfds; k++)
                fds[k] = spare_fd();
            memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
        }
        /* Never block: a full socket buffer just ends the message early. */
        ssize_t r = sendmsg(sock, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
        free(pkt);
        if (r < 0)
            break;
        p += n;
        len -= n;
    }
}

static void receive(const uint8_t *data, size_t size, unsigned mode)
{
    static const size_t max_lens[] = { 0, 64, NOX_PROTO_CHUNK, 1u << 20 };
    size_t max_len = max_lens[(mode >> 1) & 3];
    size_t max_fds = (mode >> 4) & 1 ? NOX_PROTO_MAX_FDS : 1;
    bool fix_magic = (mode >> 3) & 1;

    (void)spare_fd(); /* opened once, before the count */
    int before = lowest_free_fd();
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
    send_packets(sv[0], data, size, fix_magic);
    /* The peer is done: the reader sees EOF instead of waiting. */
    CHECK(shutdown(sv[0], SHUT_WR) == 0);

    uint16_t op = 0;
    nox_buf payload = NOX_BUF_INIT;
    int fds[NOX_PROTO_MAX_FDS];
    size_t nfds = 99;
    int r = nox__proto_recv(sv[1], &op, &payload, max_len, fds, &nfds, max_fds, 1000);
    if (r == 0) {
        CHECK(payload.len <= max_len);
        CHECK(payload.len == 0 || payload.data[payload.len] == '\0');
        CHECK(nfds <= max_fds);
        for (size_t i = 0; i < nfds; i++) {
            CHECK(fds[i] >= 0);
            close(fds[i]);
        }
    } else {
        CHECK(r == -EPIPE || r == -EPROTO || r == -ENOMEM);
        CHECK(nfds == 99);
    }
    nox__buf_free(&payload);
    close(sv[0]);
    close(sv[1]);
    CHECK(lowest_free_fd() == before);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > MAX_INPUT)
        return 0;
    unsigned mode = data[0];
    data++;
    size--;
    if (mode & 1) {
        receive(data, size, mode);
        return 0;
    }
    /* An exact copy, so that reading past the payload is an ASan report. */
    char *p = malloc(size ? size : 1);
    if (!p)
        return 0;
    if (size)
        memcpy(p, data, size);
    tlv_records(p, size);
    free(p);
    return 0;
}
