/* SPDX-License-Identifier: MIT */
#include "net.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "log.h"
#include "util.h"

static bool is_loopback(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
        if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
            return true;
        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
            return in6->sin6_addr.s6_addr[12] == 127;
    }
    return false;
}

/* Binds one candidate address; the socket, or -1 with errno set. */
static int bind_one(const struct addrinfo *ai)
{
    _cleanup_close_ int fd =
        socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
    if (fd < 0)
        return -1;
    /* A restarted server must not wait out TIME_WAIT of its predecessor's
     * connections. (Not SO_REUSEPORT: two servers on one port would split
     * the requests between them.) */
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0)
        return -1;
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, SOMAXCONN) < 0)
        return -1;
    return nxd_steal_fd(&fd);
}

int nxd_listen(const char *host, unsigned port, nxd_listener *ret)
{
    char service[8];
    snprintf(service, sizeof service, "%u", port);
    struct addrinfo hints = { 0 };
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV | AI_ADDRCONFIG;
    struct addrinfo *res = NULL;
    int gr = getaddrinfo(host, service, &hints, &res);
    if (gr == EAI_NONAME || gr == EAI_ADDRFAMILY || gr == EAI_NODATA) {
        /* AI_ADDRCONFIG hides ::1 on hosts without IPv6 on any interface
         * but loopback; an explicit address should still work. */
        hints.ai_flags &= ~AI_ADDRCONFIG;
        gr = getaddrinfo(host, service, &hints, &res);
    }
    if (gr != 0) {
        nxd_error("cannot listen on `%s`: %s", host,
                  gr == EAI_SYSTEM ? strerror(errno) : gai_strerror(gr));
        return -1;
    }
    int fd = -1, last_errno = 0;
    for (const struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = bind_one(ai);
        if (fd < 0)
            last_errno = errno;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        nxd_error("cannot listen on %s%s%s:%u: %s%s", strchr(host, ':') ? "[" : "", host,
                  strchr(host, ':') ? "]" : "", port, strerror(last_errno),
                  last_errno == EADDRINUSE ? " (another server already uses this port; pick "
                                             "another with --listen, or port 0 for any free one)"
                                           : "");
        return -1;
    }

    struct sockaddr_storage ss = { 0 };
    socklen_t len = sizeof ss;
    char addr[NI_MAXHOST] = "?"; /* room for an IPv6 scope: "fe80::1%eth0" */
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0 ||
        getnameinfo((struct sockaddr *)&ss, len, addr, sizeof addr, service, sizeof service,
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        nxd_error("cannot tell which address the listening socket got: %s", strerror(errno));
        close(fd);
        return -1;
    }
    ret->fd = fd;
    ret->port = (unsigned)strtoul(service, NULL, 10);
    ret->loopback = is_loopback(&ss);
    bool v6 = ss.ss_family == AF_INET6;
    snprintf(ret->url, sizeof ret->url, "http://%s%s%s:%u", v6 ? "[" : "", addr, v6 ? "]" : "",
             ret->port);
    return 0;
}
