/* SPDX-License-Identifier: MIT */
#include "reaper.h"

#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include "log.h"
#include "util.h"

struct nxd_reaper {
    nox_client *client;
    unsigned interval_s;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake; /* on CLOCK_MONOTONIC: wall-clock jumps do not matter */
    bool stop;
};

static void sweep(nxd_reaper *r, nox_error *err, bool *failing)
{
    size_t n = 0;
    int rc = nox_reap_expired(r->client, &n, err);
    if (rc < 0) {
        /* A broken state directory would fail every second: say it once,
         * then again when it recovers. */
        if (!*failing)
            nxd_warn("removing expired sandboxes failed: %s (will keep trying)",
                     nox_error_message(err));
        *failing = true;
        return;
    }
    if (*failing)
        nxd_info("removing expired sandboxes works again");
    *failing = false;
    /* nox_reap_expired() reports how many, not which. */
    if (n > 0)
        nxd_info("removed %zu expired sandbox%s", n, n == 1 ? "" : "es");
}

static void *reaper_main(void *arg)
{
    nxd_reaper *r = arg;
    nox_error *err = nox_error_new();
    bool failing = false;
    pthread_mutex_lock(&r->lock);
    while (!r->stop) {
        pthread_mutex_unlock(&r->lock);
        sweep(r, err, &failing);
        pthread_mutex_lock(&r->lock);
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += r->interval_s;
        while (!r->stop && pthread_cond_timedwait(&r->wake, &r->lock, &until) == 0)
            ;
    }
    pthread_mutex_unlock(&r->lock);
    nox_error_free(err);
    return NULL;
}

int nxd_reaper_start(nox_client *client, unsigned interval_s, nxd_reaper **ret_reaper)
{
    nxd_reaper *r = calloc(1, sizeof *r);
    if (!r) {
        nox_client_free(client);
        return ENOMEM;
    }
    r->client = client;
    r->interval_s = interval_s ? interval_s : 1;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&r->wake, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&r->lock, NULL);
    int e = pthread_create(&r->thread, NULL, reaper_main, r);
    if (e != 0) {
        pthread_cond_destroy(&r->wake);
        pthread_mutex_destroy(&r->lock);
        nox_client_free(client);
        free(r);
        return e;
    }
    *ret_reaper = r;
    return 0;
}

void nxd_reaper_stop(nxd_reaper *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->lock);
    r->stop = true;
    pthread_cond_signal(&r->wake);
    pthread_mutex_unlock(&r->lock);
    pthread_join(r->thread, NULL);
    pthread_cond_destroy(&r->wake);
    pthread_mutex_destroy(&r->lock);
    nox_client_free(r->client);
    free(r);
}
