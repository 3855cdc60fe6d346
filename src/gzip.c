/* SPDX-License-Identifier: MIT */
/* Parallel gzip: see gzip.h for the format. All calls but the workers' come
 * from the one thread that owns the stream; the workers touch only the
 * chunks they took from the todo list and the lock-protected fields. */
#include "gzip.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "util.h"

#define DICT_BYTES   (32u * 1024u) /* deflate's window: what priming can use */
#define SPARE_CHUNKS 2             /* chunks kept for reuse instead of freed */

typedef struct gz_chunk gz_chunk;
struct gz_chunk {
    gz_chunk *next;    /* the next one in stream order (or on the spare list) */
    unsigned char *in; /* dict bytes of dictionary, then len bytes of data */
    size_t dict, len;
    unsigned char *out; /* compressed data */
    size_t out_len, out_cap, out_pos;
    unsigned long crc; /* of the data */
    bool last;         /* ends the deflate stream (Z_FINISH) */
    bool done;         /* compressed; under the lock once workers run */
    int err;           /* -ENOMEM when the output could not grow */
};

typedef struct gz_worker {
    nox_gz *g;
    pthread_t thread;
    z_stream z;
} gz_worker;

struct nox_gz {
    gz_worker *workers;
    gz_chunk *cur;         /* being filled */
    gz_chunk *head, *tail; /* submitted and not yet read, oldest first */
    gz_chunk *todo;        /* the oldest one no worker took yet */
    size_t queued;         /* chunks from head to tail */
    gz_chunk *spare;
    size_t n_spare;
    size_t header_pos;
    size_t trailer_pos;
    unsigned long crc; /* of the data read so far */
    uint64_t total;

    pthread_mutex_t lock;
    pthread_cond_t work_cond; /* todo gained a chunk, or stop */
    pthread_cond_t done_cond; /* a chunk was compressed */
    z_stream z;               /* the owner's, while no worker runs */

    int level;
    unsigned max_workers;
    unsigned n_workers;
    int err;
    bool tried_workers;
    bool z_ready;
    bool stop;
    bool trailer_ready;
    bool finished;
    unsigned char trailer[8];
    unsigned char header[10];
};

unsigned nox__gz_auto_threads(void)
{
    cpu_set_t set;
    long n = 0;
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        n = CPU_COUNT(&set);
    if (n <= 0)
        n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n <= 0)
        n = 1;
    return n > 8 ? 8u : (unsigned)n;
}

static bool deflate_init(z_stream *z, int level)
{
    memset(z, 0, sizeof *z);
    /* Raw deflate (negative window bits): the gzip framing is ours. */
    return deflateInit2(z, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) == Z_OK;
}

nox_gz *nox__gz_new(int level, unsigned threads)
{
    nox_gz *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    g->level = level < 1 ? 1 : level > 9 ? 9 : level;
    if (threads == 0)
        threads = nox__gz_auto_threads();
    g->max_workers = threads > NOX_GZ_MAX_THREADS ? NOX_GZ_MAX_THREADS : threads;
    if (g->max_workers < 2)
        g->max_workers = 0; /* one thread: the owner's */
    if (!deflate_init(&g->z, g->level)) {
        free(g);
        return NULL;
    }
    g->z_ready = true;
    pthread_mutex_init(&g->lock, NULL);
    pthread_cond_init(&g->work_cond, NULL);
    pthread_cond_init(&g->done_cond, NULL);
    /* Magic, deflate, no flags, no time (the same input gives the same
     * bytes), extra flags (2: slowest, 4: fastest), Unix. */
    static const unsigned char header[10] = { 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3 };
    memcpy(g->header, header, sizeof header);
    g->header[8] = g->level == 9 ? 2 : g->level == 1 ? 4 : 0;
    g->crc = crc32(0L, Z_NULL, 0);
    return g;
}

static void chunk_free(gz_chunk *c)
{
    if (!c)
        return;
    free(c->in);
    free(c->out);
    free(c);
}

static gz_chunk *chunk_get(nox_gz *g)
{
    gz_chunk *c = g->spare;
    if (c) {
        g->spare = c->next;
        g->n_spare--;
    } else {
        c = calloc(1, sizeof *c);
        if (!c)
            return NULL;
        c->in = malloc(DICT_BYTES + NOX_GZ_CHUNK);
        if (!c->in) {
            free(c);
            return NULL;
        }
    }
    unsigned char *in = c->in, *out = c->out;
    size_t out_cap = c->out_cap;
    memset(c, 0, sizeof *c);
    c->in = in;
    c->out = out;
    c->out_cap = out_cap;
    return c;
}

static void chunk_put(nox_gz *g, gz_chunk *c)
{
    if (g->n_spare >= SPARE_CHUNKS) {
        chunk_free(c);
        return;
    }
    c->next = g->spare;
    g->spare = c;
    g->n_spare++;
}

/* Gives @p c's output room for @p cap bytes; false (and c->err) when out
 * of memory. */
static bool chunk_out_grow(gz_chunk *c, size_t cap)
{
    if (c->out_cap >= cap)
        return true;
    unsigned char *p = realloc(c->out, cap);
    if (!p) {
        c->err = -ENOMEM;
        return false;
    }
    c->out = p;
    c->out_cap = cap;
    return true;
}

/* Compresses one chunk with @p z. Runs on a worker or on the owner. */
static void compress_chunk(z_stream *z, gz_chunk *c)
{
    (void)deflateReset(z);
    if (c->dict)
        (void)deflateSetDictionary(z, c->in, (uInt)c->dict);
    if (!chunk_out_grow(c, deflateBound(z, (uLong)c->len) + 64))
        return;
    z->next_in = c->in + c->dict;
    z->avail_in = (uInt)c->len;
    z->next_out = c->out;
    z->avail_out = (uInt)c->out_cap;
    /* A sync flush ends the piece on a byte boundary with an empty stored
     * block, so the next piece's blocks follow it directly. */
    int flush = c->last ? Z_FINISH : Z_SYNC_FLUSH;
    for (;;) {
        int r = deflate(z, flush);
        if (c->last ? r == Z_STREAM_END : (z->avail_in == 0 && z->avail_out > 0))
            break;
        /* Out of room (deflateBound promises it does not happen): grow. */
        size_t used = c->out_cap - z->avail_out;
        if (!chunk_out_grow(c, c->out_cap * 2 + 4096))
            return;
        z->next_out = c->out + used;
        z->avail_out = (uInt)(c->out_cap - used);
    }
    c->out_len = c->out_cap - z->avail_out;
    c->crc = crc32(0L, c->in + c->dict, (uInt)c->len);
}

static void *worker_main(void *arg)
{
    gz_worker *w = arg;
    nox_gz *g = w->g;
    pthread_mutex_lock(&g->lock);
    for (;;) {
        while (!g->stop && !g->todo)
            pthread_cond_wait(&g->work_cond, &g->lock);
        if (g->stop)
            break;
        gz_chunk *c = g->todo;
        g->todo = c->next;
        pthread_mutex_unlock(&g->lock);
        compress_chunk(&w->z, c);
        pthread_mutex_lock(&g->lock);
        c->done = true;
        pthread_cond_broadcast(&g->done_cond);
    }
    pthread_mutex_unlock(&g->lock);
    return NULL;
}

/* Starts the workers, with every signal blocked (they are the owner's
 * business). Starting fewer than asked, or none, only costs speed. */
static void start_workers(nox_gz *g)
{
    g->tried_workers = true;
    g->workers = calloc(g->max_workers, sizeof *g->workers);
    if (!g->workers)
        return;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    for (unsigned i = 0; i < g->max_workers; i++) {
        gz_worker *w = &g->workers[i];
        w->g = g;
        if (!deflate_init(&w->z, g->level))
            break;
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
            deflateEnd(&w->z);
            break;
        }
        g->n_workers++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static void submit(nox_gz *g, gz_chunk *c)
{
    if (!c->last && !g->tried_workers && g->max_workers)
        start_workers(g);
    if (!g->n_workers) {
        compress_chunk(&g->z, c);
        c->done = true;
    }
    pthread_mutex_lock(&g->lock);
    if (g->tail)
        g->tail->next = c;
    else
        g->head = c;
    g->tail = c;
    g->queued++;
    if (g->n_workers) {
        if (!g->todo)
            g->todo = c;
        pthread_cond_signal(&g->work_cond);
    }
    pthread_mutex_unlock(&g->lock);
}

/* A new chunk to fill, primed with the end of @p prev when there is one. */
static gz_chunk *next_chunk(nox_gz *g, const gz_chunk *prev)
{
    gz_chunk *c = chunk_get(g);
    if (!c)
        return NULL;
    if (prev) {
        size_t have = prev->dict + prev->len;
        c->dict = NOX_MIN(have, (size_t)DICT_BYTES);
        memcpy(c->in, prev->in + have - c->dict, c->dict);
    }
    return c;
}

int nox__gz_write(nox_gz *g, const void *p, size_t n)
{
    const unsigned char *s = p;
    if (g->err)
        return g->err;
    if (!g->cur && !(g->cur = next_chunk(g, NULL)))
        return g->err = -ENOMEM;
    while (n > 0) {
        if (g->cur->len == NOX_GZ_CHUNK) {
            /* Full, and more follows: it is not the last. */
            gz_chunk *full = g->cur;
            g->cur = next_chunk(g, full);
            submit(g, full);
            if (!g->cur)
                return g->err = -ENOMEM;
        }
        size_t k = NOX_MIN(n, NOX_GZ_CHUNK - g->cur->len);
        memcpy(g->cur->in + g->cur->dict + g->cur->len, s, k);
        g->cur->len += k;
        s += k;
        n -= k;
    }
    return 0;
}

int nox__gz_finish(nox_gz *g)
{
    if (g->err)
        return g->err;
    if (g->finished)
        return 0;
    if (!g->cur && !(g->cur = next_chunk(g, NULL)))
        return g->err = -ENOMEM;
    gz_chunk *c = g->cur;
    g->cur = NULL;
    c->last = true;
    submit(g, c);
    g->finished = true;
    return 0;
}

bool nox__gz_wants_input(const nox_gz *g)
{
    if (g->finished || g->err)
        return false;
    /* One chunk per worker and two more: every worker has one to compress
     * while the reader drains the oldest. Each chunk is ~0.55 MiB (input,
     * dictionary and output); with the one being filled, the two a step
     * can add and the spares, a stream holds up to about (threads + 4) of
     * them, plus 0.25 MiB of deflate state per thread. */
    return !g->n_workers || g->queued < g->n_workers + 2u;
}

bool nox__gz_ended(const nox_gz *g)
{
    return g->finished && !g->head && g->trailer_ready && g->trailer_pos == sizeof g->trailer;
}

static void put_le32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static size_t copy_out(void *buf, size_t n, const unsigned char *src, size_t len, size_t *pos)
{
    size_t k = NOX_MIN(n, len - *pos);
    memcpy(buf, src + *pos, k);
    *pos += k;
    return k;
}

ssize_t nox__gz_read(nox_gz *g, void *buf, size_t n, bool wait)
{
    unsigned char *d = buf;
    size_t got = 0;
    if (g->err)
        return g->err;
    while (got < n && g->head) {
        gz_chunk *c = g->head;
        pthread_mutex_lock(&g->lock);
        while (!c->done && wait && !got)
            pthread_cond_wait(&g->done_cond, &g->lock);
        bool done = c->done;
        pthread_mutex_unlock(&g->lock);
        if (!done)
            break;
        if (c->err)
            return g->err = c->err;
        /* The header goes with the first compressed bytes, so that a reader
         * is not handed 10 bytes on their own. */
        got += copy_out(d + got, n - got, g->header, sizeof g->header, &g->header_pos);
        got += copy_out(d + got, n - got, c->out, c->out_len, &c->out_pos);
        if (c->out_pos < c->out_len)
            break;
        g->crc = crc32_combine(g->crc, c->crc, (z_off_t)c->len);
        g->total += c->len;
        pthread_mutex_lock(&g->lock);
        g->head = c->next;
        if (!g->head)
            g->tail = NULL;
        g->queued--;
        pthread_mutex_unlock(&g->lock);
        if (c->last) {
            put_le32(g->trailer, (uint32_t)g->crc);
            put_le32(g->trailer + 4, (uint32_t)g->total); /* ISIZE: mod 2^32 */
            g->trailer_ready = true;
        }
        chunk_put(g, c);
    }
    if (g->trailer_ready)
        got += copy_out(d + got, n - got, g->trailer, sizeof g->trailer, &g->trailer_pos);
    return (ssize_t)got;
}

void nox__gz_free(nox_gz *g)
{
    if (!g)
        return;
    pthread_mutex_lock(&g->lock);
    g->stop = true;
    pthread_cond_broadcast(&g->work_cond);
    pthread_mutex_unlock(&g->lock);
    for (unsigned i = 0; i < g->n_workers; i++) {
        pthread_join(g->workers[i].thread, NULL);
        deflateEnd(&g->workers[i].z);
    }
    free(g->workers);
    if (g->z_ready)
        deflateEnd(&g->z);
    while (g->head) {
        gz_chunk *c = g->head;
        g->head = c->next;
        chunk_free(c);
    }
    while (g->spare) {
        gz_chunk *c = g->spare;
        g->spare = c->next;
        chunk_free(c);
    }
    chunk_free(g->cur);
    pthread_cond_destroy(&g->work_cond);
    pthread_cond_destroy(&g->done_cond);
    pthread_mutex_destroy(&g->lock);
    free(g);
}
