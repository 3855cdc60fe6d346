/* SPDX-License-Identifier: MIT */
#include "proto.h"

#include <poll.h>
#include <sys/socket.h>

int nox__tlv_put(nox_buf *b, uint16_t tag, const void *data, uint32_t len)
{
    if (nox__buf_reserve(b, sizeof tag + sizeof len + len) < 0)
        return -ENOMEM;
    memcpy(b->data + b->len, &tag, sizeof tag);
    b->len += sizeof tag;
    memcpy(b->data + b->len, &len, sizeof len);
    b->len += sizeof len;
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

int nox__tlv_put_str(nox_buf *b, uint16_t tag, const char *s)
{
    size_t n = strlen(s);
    if (n > UINT32_MAX)
        return -E2BIG;
    return nox__tlv_put(b, tag, s, (uint32_t)n);
}

int nox__tlv_put_u32(nox_buf *b, uint16_t tag, uint32_t v)
{
    return nox__tlv_put(b, tag, &v, sizeof v);
}

int nox__tlv_put_u64(nox_buf *b, uint16_t tag, uint64_t v)
{
    return nox__tlv_put(b, tag, &v, sizeof v);
}

int nox__tlv_next(nox_tlv_iter *it, uint16_t *tag, const char **val, uint32_t *len)
{
    if (it->p == it->end)
        return 0;
    if ((size_t)(it->end - it->p) < sizeof *tag + sizeof *len)
        return -1;
    memcpy(tag, it->p, sizeof *tag);
    memcpy(len, it->p + sizeof *tag, sizeof *len);
    it->p += sizeof *tag + sizeof *len;
    if ((size_t)(it->end - it->p) < *len)
        return -1;
    *val = it->p;
    it->p += *len;
    return 1;
}

char *nox__tlv_str(const char *val, uint32_t len)
{
    if (memchr(val, '\0', len)) {
        errno = EINVAL;
        return NULL;
    }
    char *s = malloc((size_t)len + 1);
    if (!s)
        return NULL;
    memcpy(s, val, len);
    s[len] = '\0';
    return s;
}

int nox__tlv_u32(const char *val, uint32_t len, uint32_t *ret)
{
    if (len != sizeof *ret)
        return -1;
    memcpy(ret, val, sizeof *ret);
    return 0;
}

int nox__tlv_u64(const char *val, uint32_t len, uint64_t *ret)
{
    if (len != sizeof *ret)
        return -1;
    memcpy(ret, val, sizeof *ret);
    return 0;
}

static int send_packet(int sock, const void *data, size_t len, const int *fds, size_t nfds)
{
    struct iovec iov = { (void *)data, len };
    union {
        char buf[CMSG_SPACE(sizeof(int) * NOX_PROTO_MAX_FDS)];
        struct cmsghdr align;
    } ctl;
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
    if (nfds) {
        memset(&ctl, 0, sizeof ctl);
        msg.msg_control = ctl.buf;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        if (!c)
            return -EINVAL;
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
    }
    for (;;) {
        ssize_t r = sendmsg(sock, &msg, MSG_NOSIGNAL);
        if (r >= 0)
            return (size_t)r == len ? 0 : -EMSGSIZE;
        if (errno != EINTR)
            return -errno;
    }
}

int nox__proto_send(int sock, uint16_t op, const void *payload, size_t len, const int *fds,
                    size_t nfds)
{
    if (nfds > NOX_PROTO_MAX_FDS || len > UINT32_MAX)
        return -EINVAL;
    struct nox_msg_hdr h = { NOX_PROTO_MAGIC, op, (uint16_t)nfds, (uint32_t)len, 0 };
    /* The header and the first chunk travel together: most messages are one
     * packet, one system call. */
    char first[sizeof h + NOX_PROTO_CHUNK];
    size_t n = NOX_MIN(len, (size_t)NOX_PROTO_CHUNK);
    memcpy(first, &h, sizeof h);
    if (n)
        memcpy(first + sizeof h, payload, n);
    int r = send_packet(sock, first, sizeof h + n, fds, nfds);
    if (r < 0)
        return r;
    const char *p = (const char *)payload + n;
    size_t left = len - n;
    while (left) {
        size_t k = NOX_MIN(left, (size_t)NOX_PROTO_CHUNK);
        if ((r = send_packet(sock, p, k, NULL, 0)) < 0)
            return r;
        p += k;
        left -= k;
    }
    return 0;
}

static int wait_readable(int sock, int timeout_ms)
{
    struct pollfd pfd = { sock, POLLIN, 0 };
    for (;;) {
        int r = poll(&pfd, 1, timeout_ms);
        if (r > 0)
            return 0;
        if (r == 0)
            return -ETIMEDOUT;
        if (errno != EINTR)
            return -errno;
    }
}

static void close_fds(int *fds, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (fds[i] >= 0)
            close(fds[i]);
}

/* One packet into @p buf; fds appended to @p fds. Returns bytes, 0 on EOF. */
static ssize_t recv_packet(int sock, void *buf, size_t len, int *fds, size_t *nfds, size_t max_fds,
                           int timeout_ms)
{
    union {
        char buf[CMSG_SPACE(sizeof(int) * NOX_PROTO_MAX_FDS)];
        struct cmsghdr align;
    } ctl;
    for (;;) {
        int w = wait_readable(sock, timeout_ms);
        if (w < 0)
            return w;
        struct iovec iov = { buf, len };
        struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
        msg.msg_control = ctl.buf;
        msg.msg_controllen = sizeof ctl.buf;
        ssize_t r = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
        if (r < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            return -errno;
        }
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
            if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
                continue;
            size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            int got[NOX_PROTO_MAX_FDS + 8];
            k = NOX_MIN(k, NOX_ARRAY_SIZE(got));
            memcpy(got, CMSG_DATA(c), k * sizeof(int));
            for (size_t i = 0; i < k; i++) {
                if (fds && *nfds < max_fds)
                    fds[(*nfds)++] = got[i];
                else
                    close(got[i]);
            }
        }
        if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))
            return -EPROTO;
        return r;
    }
}

int nox__proto_recv(int sock, uint16_t *op, nox_buf *payload, size_t max_len, int *fds,
                    size_t *nfds, size_t max_fds, int timeout_ms)
{
    size_t got_fds = 0;
    char first[sizeof(struct nox_msg_hdr) + NOX_PROTO_CHUNK];
    payload->len = 0;
    ssize_t r = recv_packet(sock, first, sizeof first, fds, &got_fds, max_fds, timeout_ms);
    if (r <= 0) {
        close_fds(fds, got_fds);
        return r == 0 ? -EPIPE : (int)r;
    }
    struct nox_msg_hdr h;
    if ((size_t)r < sizeof h) {
        close_fds(fds, got_fds);
        return -EPROTO;
    }
    memcpy(&h, first, sizeof h);
    if (h.magic != NOX_PROTO_MAGIC || h.len > max_len || (size_t)r - sizeof h > h.len) {
        close_fds(fds, got_fds);
        return -EPROTO;
    }
    if (nox__buf_reserve(payload, h.len) < 0) {
        close_fds(fds, got_fds);
        return -ENOMEM;
    }
    nox__buf_append(payload, first + sizeof h, (size_t)r - sizeof h);
    while (payload->len < h.len) {
        size_t want = h.len - payload->len;
        r = recv_packet(sock, payload->data + payload->len, NOX_MIN(want, (size_t)NOX_PROTO_CHUNK),
                        NULL, &got_fds, 0, timeout_ms);
        if (r <= 0) {
            close_fds(fds, got_fds);
            return r == 0 ? -EPIPE : (int)r;
        }
        payload->len += (size_t)r;
        payload->data[payload->len] = '\0';
    }
    *op = h.op;
    if (nfds)
        *nfds = got_fds;
    return 0;
}
