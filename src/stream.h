/* SPDX-License-Identifier: MIT */
/* Pull streams of bytes (tar.gz archives on their way in or out).
 *
 * Everything that moves an archive is a nox_source: the tar writer over a
 * directory or a file list, a caller's read callback, an http download, a
 * file descriptor. Consumers pull: libarchive's read callback during
 * extraction, libcurl's read callback during an upload, libmicrohttpd's
 * content reader during a download. Nothing ever holds a whole archive. */
#ifndef NOX_STREAM_H
#define NOX_STREAM_H

#include <noxrunner/noxrunner.h>
#include <signal.h>
#include <sys/types.h>

#include "util.h"

typedef struct nox_source nox_source;

struct nox_source {
    /* Reads up to @p n bytes into @p buf: the count, 0 at the end, or a
     * negative nox_code with @p err filled. After the end or an error,
     * further reads repeat the outcome. */
    ssize_t (*read)(nox_source *s, void *buf, size_t n, nox_error *err);
    /* Releases the source and everything it owns. */
    void (*free)(nox_source *s);
};

static inline ssize_t nox__source_read(nox_source *s, void *buf, size_t n, nox_error *err)
{
    return s->read(s, buf, n, err);
}

static inline void nox__source_free(nox_source *s)
{
    if (s)
        s->free(s);
}

static inline void nox__source_freep(nox_source **s)
{
    nox__source_free(*s);
}
#define _cleanup_source_ _cleanup_(nox__source_freep)

/* A source over the caller's callback (public nox_read_fn). */
nox_source *nox__source_from_fn(nox_read_fn fn, void *userdata) NOX_HIDDEN;

/* A source reading @p fd until EOF; closes it when @p own is true. */
nox_source *nox__source_from_fd(int fd, bool own) NOX_HIDDEN;

/* A source over @p len bytes at @p data (borrowed: must outlive the source). */
nox_source *nox__source_from_mem(const void *data, size_t len) NOX_HIDDEN;

/* Wraps @p inner (taking ownership), counting bytes and calling @p fn with
 * (done, total) after each read; a non-zero return cancels with
 * NOX_E_CANCELLED. */
nox_source *nox__source_with_progress(nox_source *inner, nox_progress_fn fn, void *userdata,
                                      uint64_t total) NOX_HIDDEN;

/* Wraps @p inner (taking ownership), failing with NOX_E_LIMIT once more than
 * @p max bytes have been read. @p what names the stream in the message. */
nox_source *nox__source_with_limit(nox_source *inner, uint64_t max, const char *what) NOX_HIDDEN;

/* Wraps @p inner (taking ownership), failing with NOX_E_CANCELLED once
 * *@p flag is set (nox_client_cancel). */
nox_source *nox__source_with_cancel(nox_source *inner, volatile sig_atomic_t *flag) NOX_HIDDEN;

/* Reads all of @p s into memory, up to @p max bytes (NOX_E_LIMIT beyond). */
int nox__source_read_all(nox_source *s, uint64_t max, char **ret_data, size_t *ret_len,
                         nox_error *err) NOX_HIDDEN;

/* Copies all of @p s to @p fd. */
int nox__source_copy_to_fd(nox_source *s, int fd, nox_error *err) NOX_HIDDEN;

#endif
