/* SPDX-License-Identifier: MIT */
/* Small helpers of noxrunnerd. The server uses only libnoxrunner's public
 * API, so it keeps its own copies of the few conveniences it needs instead
 * of reaching into the library's internal headers. */
#ifndef NXD_UTIL_H
#define NXD_UTIL_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define NXD_PRINTF(a, b)  __attribute__((format(printf, a, b)))
#define NXD_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define NXD_MIN(a, b)     ((a) < (b) ? (a) : (b))

#define _cleanup_(f) __attribute__((cleanup(f)))

static inline void nxd_freep(void *p)
{
    free(*(void **)p);
}

static inline void nxd_closep(const int *fd)
{
    if (*fd >= 0) {
        int saved = errno;
        close(*fd);
        errno = saved;
    }
}

/* Hands a descriptor on: returns it and leaves -1 behind for the cleanup. */
static inline int nxd_steal_fd(int *fd)
{
    int v = *fd;
    *fd = -1;
    return v;
}

#define _cleanup_free_  _cleanup_(nxd_freep)
#define _cleanup_close_ _cleanup_(nxd_closep)

static inline void *nxd_steal_ptr(void *pp)
{
    void **p = (void **)pp;
    void *v = *p;
    *p = NULL;
    return v;
}
#define steal_pointer(pp) ((__typeof__(*(pp)))nxd_steal_ptr(pp))

/* Monotonic time in nanoseconds: durations and deadlines. */
static inline int64_t nxd_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

#endif
