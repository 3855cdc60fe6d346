/* SPDX-License-Identifier: MIT */
/* Cancels library calls whose client went away. With a thread per
 * connection, a handler blocked in nox_exec() does not see its client hang
 * up; this thread watches the sockets of such calls and cancels them with
 * nox_client_cancel(), so an abandoned command's process tree is killed at
 * once instead of running to its timeout. Shutdown uses it to cancel
 * whatever still runs after the grace period. */
#ifndef NXD_WATCH_H
#define NXD_WATCH_H

#include <noxrunner/noxrunner.h>

typedef struct nxd_watch nxd_watch;

/* Starts the watcher thread. Returns 0 or -errno. */
int nxd_watch_start(nxd_watch **ret_watch);
/* Stops and frees it; NULL is accepted. */
void nxd_watch_stop(nxd_watch *w);
/* Watches @p fd (a connection's socket) while @p client runs a call: when
 * the peer hangs up, the call is cancelled. Returns a token for
 * nxd_watch_remove(), or -1 when not watched (out of memory). */
int nxd_watch_add(nxd_watch *w, int fd, nox_client *client);
/* Stops watching; after it returns the watcher no longer touches the
 * client. -1 is accepted. */
void nxd_watch_remove(nxd_watch *w, int token);
/* Cancels every watched call now (shutdown). Returns how many. */
int nxd_watch_cancel_all(nxd_watch *w);

#endif
