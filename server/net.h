/* SPDX-License-Identifier: MIT */
/* The listening socket. noxrunnerd binds it itself and hands it to
 * libmicrohttpd, so that it can report errors precisely, learn the port the
 * kernel chose for port 0, and tell loopback from the rest. */
#ifndef NXD_NET_H
#define NXD_NET_H

#include <stdbool.h>

typedef struct nxd_listener {
    int fd;         /* listening, non-blocking, close-on-exec */
    unsigned port;  /* the port actually bound */
    bool loopback;  /* only this machine can connect */
    char url[1100]; /* "http://127.0.0.1:8080", "http://[::1]:8080" */
} nxd_listener;

/* Binds @p host (a numeric address or a name) and @p port. Returns 0, or
 * -1 after logging why. */
int nxd_listen(const char *host, unsigned port, nxd_listener *ret);

#endif
