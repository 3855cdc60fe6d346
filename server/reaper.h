/* SPDX-License-Identifier: MIT */
/* The expiry reaper: a thread with a client of its own that calls
 * nox_reap_expired() every few seconds, so expired sandboxes disappear
 * without waiting for a request to notice them. */
#ifndef NXD_REAPER_H
#define NXD_REAPER_H

#include <noxrunner/noxrunner.h>

typedef struct nxd_reaper nxd_reaper;

/* Starts reaping every @p interval_s seconds with @p client, which the
 * reaper owns from now on (even on failure). Returns 0 or an errno value. */
int nxd_reaper_start(nox_client *client, unsigned interval_s, nxd_reaper **ret_reaper);

/* Stops the thread (waiting for a sweep in progress), frees the client and
 * the reaper. NULL is accepted. */
void nxd_reaper_stop(nxd_reaper *reaper);

#endif
