/* SPDX-License-Identifier: MIT */
#include "util.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <time.h>

char *nox__strdup0(const char *s)
{
    return s ? strdup(s) : NULL;
}

char *nox__asprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *out = NULL;
    int r = vasprintf(&out, fmt, ap);
    va_end(ap);
    return r < 0 ? NULL : out;
}

size_t nox__strv_len(const char *const *v)
{
    size_t n = 0;
    while (v && v[n])
        n++;
    return n;
}

int nox__buf_reserve(nox_buf *b, size_t extra)
{
    size_t need;
    if (nox__add_overflows(b->len, extra, &need) || nox__add_overflows(need, 1, &need)) {
        errno = ENOMEM;
        return -1;
    }
    /* A buffer without data has no room, whatever cap says: the check of
     * data keeps a hand-initialised buffer from being written through NULL. */
    if (b->data && need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) {
        if (nox__mul_overflows(cap, 2, &cap)) {
            cap = need;
            break;
        }
    }
    char *p = realloc(b->data, cap);
    if (!p)
        return -1;
    b->data = p;
    b->cap = cap;
    return 0;
}

int nox__buf_append(nox_buf *b, const void *p, size_t n)
{
    if (nox__buf_reserve(b, n) < 0)
        return -1;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int nox__buf_appendf(nox_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    va_list ap2;
    va_copy(ap2, ap);
    /* clang 14's analyzer loses track of a list once it has been copied. */
    // NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized)
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || nox__buf_reserve(b, (size_t)n) < 0) {
        va_end(ap2);
        return -1;
    }
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    b->len += (size_t)n;
    return 0;
}

char *nox__buf_steal(nox_buf *b, size_t *ret_len)
{
    if (!b->data && nox__buf_reserve(b, 0) < 0)
        return NULL;
    b->data[b->len] = '\0';
    char *d = b->data;
    if (ret_len)
        *ret_len = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    return d;
}

void nox__buf_free(nox_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

int64_t nox__now_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t nox__now_unix(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec;
}

int nox__write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = write(fd, c, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

ssize_t nox__read_full(int fd, void *p, size_t n)
{
    char *c = p;
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, c + got, n - got);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

int nox__read_file_at(int dirfd, const char *path, size_t max, char **ret_data, size_t *ret_len)
{
    _cleanup_close_ int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -1;
    if (!S_ISREG(st.st_mode)) {
        errno = EINVAL;
        return -1;
    }
    if ((uint64_t)st.st_size > max) {
        errno = EFBIG;
        return -1;
    }
    _cleanup_buf_ nox_buf b = NOX_BUF_INIT;
    char chunk[8192];
    for (;;) {
        ssize_t r = read(fd, chunk, sizeof chunk);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (r == 0)
            break;
        if (b.len + (size_t)r > max) {
            errno = EFBIG;
            return -1;
        }
        if (nox__buf_append(&b, chunk, (size_t)r) < 0)
            return -1;
    }
    size_t len;
    char *d = nox__buf_steal(&b, &len);
    if (!d)
        return -1;
    *ret_data = d;
    if (ret_len)
        *ret_len = len;
    return 0;
}

static uint64_t usage_at(int dirfd, uint64_t stop_at, uint64_t sum, int depth)
{
    if (depth > 256)
        return sum;
    /* Close-on-exec: another thread may spawn a child meanwhile. */
    int fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
    if (fd < 0)
        return sum;
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return sum;
    }
    /* A dup shares the file offset with @p dirfd: after an earlier walk it
     * sits at the end of the directory, and readdir would see nothing. */
    rewinddir(d);
    struct dirent *e;
    while ((e = readdir(d)) && sum <= stop_at) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        struct stat st;
        if (fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        sum += (uint64_t)st.st_blocks * 512;
        if (S_ISDIR(st.st_mode)) {
            int sub = openat(dirfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub >= 0) {
                sum = usage_at(sub, stop_at, sum, depth + 1);
                close(sub);
            }
        }
    }
    closedir(d);
    return sum;
}

uint64_t nox__tree_usage(int dirfd, uint64_t stop_at)
{
    return usage_at(dirfd, stop_at, 0, 0);
}

uint64_t nox__proc_starttime(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = nox__read_full(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    /* The command name (field 2) is in parentheses and may hold spaces
     * and parentheses itself: the fields start after the last ')'. */
    char *p = strrchr(buf, ')');
    if (!p)
        return 0;
    /* p is in field 2; each space starts the next field. */
    int field = 2;
    for (p++; *p && field < 22; p++)
        if (*p == ' ')
            field++;
    return field == 22 ? strtoull(p, NULL, 10) : 0;
}
