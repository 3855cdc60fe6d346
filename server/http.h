/* SPDX-License-Identifier: MIT */
/* libmicrohttpd glue: the daemon, its callbacks, routing, request bodies,
 * answers and the access log. */
#ifndef NXD_HTTP_H
#define NXD_HTTP_H

#include "server.h"

/* Starts serving on @p srv->listen_fd (bound and listening). Returns 0, or
 * -1 after logging why. */
int nxd_http_start(nxd_server *srv);

/* Stops accepting connections; requests in flight go on. */
void nxd_http_quiesce(nxd_server *srv);

/* Requests that started and have not completed yet. */
long nxd_http_in_flight(nxd_server *srv);

/* Tries to stop the daemon: new calls into the library are refused with
 * 503 from now on. When no thread is inside the library (or about to be),
 * stops libmicrohttpd, which closes every connection, and returns true.
 * Returns false when a request is still inside a library call that cannot
 * be interrupted (a long exec): stopping would wait for it. */
bool nxd_http_stop(nxd_server *srv);

#endif
