/* SPDX-License-Identifier: MIT */
/* Upload bodies stream through a pipe into a worker thread that runs
 * nox_upload_stream(); the connection's thread writes each chunk
 * libmicrohttpd hands it into the pipe.
 *
 * Why a pipe and not a spool file (O_TMPFILE, then nox_upload_stream() on
 * it once the body is complete):
 *  - memory and disk stay constant: a 1 GiB upload costs one pipe buffer,
 *    not 1 GiB of the server's disk on top of the 1 GiB in the sandbox;
 *  - extraction overlaps the transfer instead of following it, and a
 *    broken archive (not gzip, an unsafe entry) is known after its first
 *    bytes, not after the whole body;
 *  - back-pressure is natural: while extraction is slower than the
 *    network, the write into a full pipe blocks the connection's thread,
 *    which stops reading the socket, which slows the client down. The
 *    thread-per-connection model makes blocking there harmless to other
 *    requests.
 * What it costs: one more thread per upload in flight, and care at the
 * end: a body that stops early must make the worker's read fail (not end
 * cleanly), or a truncated upload could look complete to the extractor.
 * The library extracts into a staging directory and moves entries into
 * place only once the whole archive was read and checked, so a failed read
 * leaves the sandbox unchanged. */
#include "upload.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

/* A larger pipe buffer means fewer wake-ups per MiB; the default 64 KiB
 * works too, so failing to enlarge it is not an error. */
#define UPLOAD_PIPE_BYTES (256 << 10)

struct nxd_upload {
    nox_client *client;
    char *id;
    char *dest;
    int rfd; /* the worker's end */
    int wfd; /* the connection's end */
    pthread_t thread;
    /* Set before wfd is closed when the body did not arrive whole; the
     * worker's read then fails instead of reporting the end. */
    atomic_bool aborted;
    int result;
    nox_error *err;
};

static ssize_t pipe_read(void *userdata, void *buf, size_t len)
{
    nxd_upload *up = userdata;
    for (;;) {
        ssize_t n = read(up->rfd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0 && atomic_load(&up->aborted)) {
            /* nox_read_fn: -1 with ECANCELED reports a cancelled upload. */
            errno = ECANCELED;
            return -1;
        }
        return n;
    }
}

static void *worker(void *arg)
{
    nxd_upload *up = arg;
    up->result = nox_upload_stream(up->client, up->id, pipe_read, up, up->dest, up->err);
    /* Whatever the library did not read is of no use now: closing our end
     * makes the connection's next write fail with EPIPE, and it stops. */
    close(up->rfd);
    up->rfd = -1;
    return NULL;
}

static void upload_free(nxd_upload *up)
{
    if (!up)
        return;
    if (up->rfd >= 0)
        close(up->rfd);
    if (up->wfd >= 0)
        close(up->wfd);
    nox_error_free(up->err);
    free(up->id);
    free(up->dest);
    free(up);
}

int nxd_upload_start(nox_client *client, const char *id, const char *dest, nxd_upload **ret_up)
{
    nxd_upload *up = calloc(1, sizeof *up);
    if (!up)
        return ENOMEM;
    up->rfd = up->wfd = -1;
    up->client = client;
    up->id = strdup(id);
    up->dest = dest ? strdup(dest) : NULL;
    up->err = nox_error_new();
    if (!up->id || (dest && !up->dest) || !up->err) {
        upload_free(up);
        return ENOMEM;
    }
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) {
        int e = errno;
        upload_free(up);
        return e;
    }
    up->rfd = p[0];
    up->wfd = p[1];
    (void)fcntl(up->wfd, F_SETPIPE_SZ, UPLOAD_PIPE_BYTES);
    int r = pthread_create(&up->thread, NULL, worker, up);
    if (r != 0) {
        upload_free(up);
        return r;
    }
    *ret_up = up;
    return 0;
}

bool nxd_upload_write(nxd_upload *up, const void *data, size_t len)
{
    if (up->wfd < 0)
        return false;
    const char *p = data;
    while (len > 0) {
        /* SIGPIPE is ignored process-wide: a worker that stopped reading
         * shows up here as EPIPE. */
        ssize_t n = write(up->wfd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            close(up->wfd);
            up->wfd = -1;
            return false;
        }
        p += n;
        len -= (size_t)n;
    }
    return true;
}

int nxd_upload_finish(nxd_upload *up, bool complete, nox_error **ret_err)
{
    if (!complete)
        atomic_store(&up->aborted, true);
    if (up->wfd >= 0) {
        close(up->wfd);
        up->wfd = -1;
    }
    pthread_join(up->thread, NULL);
    int r = up->result;
    if (r < 0 && ret_err) {
        *ret_err = up->err;
        up->err = NULL;
    }
    upload_free(up);
    return r;
}
