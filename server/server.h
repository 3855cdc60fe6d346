/* SPDX-License-Identifier: MIT */
/* What every part of noxrunnerd shares: the configuration, the options of
 * the clients it makes, and the counters shutdown looks at. */
#ifndef NXD_SERVER_H
#define NXD_SERVER_H

#include <stdatomic.h>
#include <stdbool.h>

#include <noxrunner/noxrunner.h>

#include "options.h"

struct MHD_Daemon;
struct nxd_watch;

typedef struct nxd_server {
    const nxd_config *cfg;
    /* Template for the clients of connections (and the reaper). Its strings
     * point into cfg, which outlives every client. */
    nox_client_options client_opts;
    struct MHD_Daemon *daemon;
    int listen_fd;

    /* Requests between their first handler call and their completion. */
    atomic_long in_flight;
    /* Set once on SIGTERM/SIGINT: new requests get 503 and every answer
     * asks the client to close its connection. */
    atomic_bool shutting_down;
    /* Set when the grace period is over: no thread may enter the library
     * any more (see nxd_http_stop()). */
    atomic_bool stopping;
    /* Threads inside a handler or a download read right now. */
    atomic_long busy;
    /* Cancels execs whose client hung up, and at shutdown all of them. */
    struct nxd_watch *watch;
} nxd_server;

#endif
