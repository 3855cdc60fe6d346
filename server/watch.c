/* SPDX-License-Identifier: MIT */
#include "watch.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "util.h"

typedef struct entry {
    int fd;
    nox_client *client;
    int token;
    bool fired;
} entry;

struct nxd_watch {
    pthread_t thread;
    pthread_mutex_t lock;
    int wake[2];
    bool stop;
    entry *entries;
    size_t n, cap;
    int next_token;
};

static void wake(nxd_watch *w)
{
    ssize_t r = write(w->wake[1], "w", 1);
    (void)r; /* a full pipe is already awake */
}

static void *run(void *arg)
{
    nxd_watch *w = arg;
    struct pollfd *p = NULL;
    int *tokens = NULL;
    size_t cap = 0;
    for (;;) {
        pthread_mutex_lock(&w->lock);
        if (w->stop) {
            pthread_mutex_unlock(&w->lock);
            break;
        }
        if (w->n + 1 > cap) {
            size_t nc = (w->n + 1) * 2;
            struct pollfd *np = realloc(p, nc * sizeof *np);
            if (np)
                p = np;
            int *nt = np ? realloc(tokens, nc * sizeof *nt) : NULL;
            if (nt)
                tokens = nt;
            if (np && nt) {
                cap = nc;
            } else if (!cap) {
                /* Nothing to poll with yet: try again in a moment. */
                pthread_mutex_unlock(&w->lock);
                struct timespec ts = { 0, 10000000 };
                nanosleep(&ts, NULL);
                continue;
            }
        }
        if (!p || !tokens) {
            pthread_mutex_unlock(&w->lock);
            struct timespec ts = { 0, 10000000 };
            nanosleep(&ts, NULL);
            continue;
        }
        size_t k = 0;
        p[k++] = (struct pollfd){ w->wake[0], POLLIN, 0 };
        for (size_t i = 0; i < w->n && k < cap; i++) {
            if (w->entries[i].fired)
                continue;
            tokens[k] = w->entries[i].token;
            /* Not POLLIN: a pipelined next request is no reason to cancel;
             * only the peer's end of the connection is. */
            p[k++] = (struct pollfd){ w->entries[i].fd, POLLRDHUP, 0 };
        }
        pthread_mutex_unlock(&w->lock);
        int r = poll(p, k, -1);
        if (r <= 0)
            continue;
        if (p[0].revents) {
            char buf[64];
            while (read(w->wake[0], buf, sizeof buf) > 0)
                ;
        }
        pthread_mutex_lock(&w->lock);
        for (size_t j = 1; j < k; j++) {
            if (!(p[j].revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)))
                continue;
            /* The entry may have been removed meanwhile: look it up by
             * token, under the lock, so a removed client is never used. */
            for (size_t i = 0; i < w->n; i++) {
                if (w->entries[i].token == tokens[j] && !w->entries[i].fired) {
                    w->entries[i].fired = true;
                    nox_client_cancel(w->entries[i].client);
                }
            }
        }
        pthread_mutex_unlock(&w->lock);
    }
    free(p);
    free(tokens);
    return NULL;
}

int nxd_watch_start(nxd_watch **ret_watch)
{
    nxd_watch *w = calloc(1, sizeof *w);
    if (!w)
        return -ENOMEM;
    if (pipe2(w->wake, O_CLOEXEC | O_NONBLOCK) < 0) {
        int e = errno;
        free(w);
        return -e;
    }
    pthread_mutex_init(&w->lock, NULL);
    int r = pthread_create(&w->thread, NULL, run, w);
    if (r != 0) {
        close(w->wake[0]);
        close(w->wake[1]);
        pthread_mutex_destroy(&w->lock);
        free(w);
        return -r;
    }
    *ret_watch = w;
    return 0;
}

void nxd_watch_stop(nxd_watch *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    w->stop = true;
    pthread_mutex_unlock(&w->lock);
    wake(w);
    pthread_join(w->thread, NULL);
    close(w->wake[0]);
    close(w->wake[1]);
    pthread_mutex_destroy(&w->lock);
    free(w->entries);
    free(w);
}

int nxd_watch_add(nxd_watch *w, int fd, nox_client *client)
{
    if (!w || fd < 0 || !client)
        return -1;
    pthread_mutex_lock(&w->lock);
    if (w->n == w->cap) {
        size_t nc = w->cap ? w->cap * 2 : 16;
        entry *ne = realloc(w->entries, nc * sizeof *ne);
        if (!ne) {
            pthread_mutex_unlock(&w->lock);
            return -1;
        }
        w->entries = ne;
        w->cap = nc;
    }
    int token = w->next_token++;
    if (w->next_token < 0)
        w->next_token = 0;
    w->entries[w->n++] = (entry){ fd, client, token, false };
    pthread_mutex_unlock(&w->lock);
    wake(w);
    return token;
}

void nxd_watch_remove(nxd_watch *w, int token)
{
    if (!w || token < 0)
        return;
    pthread_mutex_lock(&w->lock);
    for (size_t i = 0; i < w->n; i++) {
        if (w->entries[i].token == token) {
            w->entries[i] = w->entries[--w->n];
            break;
        }
    }
    pthread_mutex_unlock(&w->lock);
    wake(w);
}

int nxd_watch_cancel_all(nxd_watch *w)
{
    if (!w)
        return 0;
    int n = 0;
    pthread_mutex_lock(&w->lock);
    for (size_t i = 0; i < w->n; i++) {
        nox_client_cancel(w->entries[i].client);
        w->entries[i].fired = true;
        n++;
    }
    pthread_mutex_unlock(&w->lock);
    wake(w);
    return n;
}
