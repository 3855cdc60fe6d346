/* SPDX-License-Identifier: MIT */
/* Internal helpers shared by the library, nox-init, the server and the CLI's
 * internals: cleanup attributes, ownership transfer, checked arithmetic and a
 * growable byte buffer. Nothing here is installed. */
#ifndef NOX_UTIL_H
#define NOX_UTIL_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NOX_HIDDEN       __attribute__((visibility("hidden")))
#define NOX_UNUSED       __attribute__((unused))
#define NOX_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define NOX_NORETURN     __attribute__((noreturn))

#define NOX_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define NOX_MIN(a, b)     ((a) < (b) ? (a) : (b))
#define NOX_MAX(a, b)     ((a) > (b) ? (a) : (b))

/* ---- cleanup attributes (systemd/crun style) ---- */
#define _cleanup_(f) __attribute__((cleanup(f)))

static inline void nox__freep(void *p)
{
    free(*(void **)p);
}

static inline void nox__closep(const int *fd)
{
    if (*fd >= 0) {
        int saved = errno;
        close(*fd);
        errno = saved;
    }
}

static inline void nox__fclosep(FILE **f)
{
    if (*f)
        fclose(*f);
}

static inline void nox__strvfreep(char ***v)
{
    if (*v) {
        for (char **p = *v; *p; p++)
            free(*p);
        free(*v);
    }
}

#define _cleanup_free_   _cleanup_(nox__freep)
#define _cleanup_close_  _cleanup_(nox__closep)
#define _cleanup_fclose_ _cleanup_(nox__fclosep)
#define _cleanup_strv_   _cleanup_(nox__strvfreep)

/* Hands ownership on: returns the pointer and leaves NULL behind, so the
 * cleanup attribute of the source does nothing. */
static inline void *nox__steal_ptr(void *pp)
{
    void **p = (void **)pp;
    void *v = *p;
    *p = NULL;
    return v;
}
#define steal_pointer(pp) ((__typeof__(*(pp)))nox__steal_ptr(pp))

static inline int steal_fd(int *fd)
{
    int v = *fd;
    *fd = -1;
    return v;
}

/* ---- checked arithmetic ---- */
static inline bool nox__add_overflows(size_t a, size_t b, size_t *r)
{
    return __builtin_add_overflow(a, b, r);
}

static inline bool nox__mul_overflows(size_t a, size_t b, size_t *r)
{
    return __builtin_mul_overflow(a, b, r);
}

/* ---- small string helpers ---- */
static inline bool nox__streq(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

static inline bool nox__startswith(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Duplicates @p s (NULL gives NULL). Returns NULL with errno ENOMEM. */
char *nox__strdup0(const char *s);
/* Formats into a new string; NULL when out of memory. */
char *nox__asprintf(const char *fmt, ...) NOX_PRINTF(1, 2);
/* Number of entries of a NULL-terminated vector. */
size_t nox__strv_len(const char *const *v);

/* ---- growable byte buffer, always NUL-terminated ---- */
typedef struct nox_buf {
    char *data;
    size_t len;
    size_t cap;
} nox_buf;

#define NOX_BUF_INIT                                                                               \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

/* Appends @p n bytes; -1 with errno ENOMEM on failure. */
int nox__buf_append(nox_buf *b, const void *p, size_t n);
int nox__buf_appendf(nox_buf *b, const char *fmt, ...) NOX_PRINTF(2, 3);
/* Ensures room for @p extra more bytes (plus the NUL). */
int nox__buf_reserve(nox_buf *b, size_t extra);
/* Takes the data (NUL-terminated, never NULL on success: an empty buffer
 * gives ""), leaving the buffer empty. NULL when out of memory. */
char *nox__buf_steal(nox_buf *b, size_t *ret_len);
void nox__buf_free(nox_buf *b);

static inline void nox__buf_freep(nox_buf *b)
{
    nox__buf_free(b);
}
#define _cleanup_buf_ _cleanup_(nox__buf_freep)

/* ---- time ---- */
/* Monotonic clock in nanoseconds. */
int64_t nox__now_mono_ns(void);
/* Wall clock in seconds since the epoch. */
int64_t nox__now_unix(void);

/* ---- file descriptors ---- */
/* write() all of @p n bytes, retrying on EINTR and short writes. */
int nox__write_all(int fd, const void *p, size_t n);
/* read() until @p n bytes or EOF; returns bytes read or -1. */
ssize_t nox__read_full(int fd, void *p, size_t n);
/* Reads a whole file below @p dirfd into memory, refusing files over
 * @p max bytes (errno EFBIG). NUL-terminates. */
int nox__read_file_at(int dirfd, const char *path, size_t max, char **ret_data, size_t *ret_len);

/* Field 22 of /proc/@p pid/stat, the start time in clock ticks after boot:
 * with the pid it names one process for good, so a later signal cannot hit
 * a recycled pid. 0 when the process does not exist (or is unreadable). */
uint64_t nox__proc_starttime(pid_t pid);

/* Bytes used (st_blocks) by the tree below directory @p dirfd, never
 * following links; stops counting once past @p stop_at. */
uint64_t nox__tree_usage(int dirfd, uint64_t stop_at);

#endif /* NOX_UTIL_H */
