/* SPDX-License-Identifier: MIT */
#include "stream.h"

#include "error.h"

/* ---- caller's callback ---- */
typedef struct {
    nox_source base;
    nox_read_fn fn;
    void *userdata;
} fn_source;

static ssize_t fn_read(nox_source *s, void *buf, size_t n, nox_error *err)
{
    fn_source *f = (fn_source *)s;
    errno = 0;
    ssize_t r = f->fn(f->userdata, buf, n);
    if (r < 0) {
        int e = errno;
        if (e == ECANCELED)
            return nox__error_set(err, NOX_E_CANCELLED, "upload cancelled by the read callback");
        return nox__error_errno(err, NOX_E_IO, e, "upload read callback failed");
    }
    if ((size_t)r > n)
        return nox__error_set(err, NOX_E_INVALID,
                              "upload read callback returned %zd for a %zu-byte buffer", r, n);
    return r;
}

static void plain_free(nox_source *s)
{
    free(s);
}

nox_source *nox__source_from_fn(nox_read_fn fn, void *userdata)
{
    fn_source *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->base.read = fn_read;
    f->base.free = plain_free;
    f->fn = fn;
    f->userdata = userdata;
    return &f->base;
}

/* ---- file descriptor ---- */
typedef struct {
    nox_source base;
    int fd;
    bool own;
} fd_source;

static ssize_t fd_read(nox_source *s, void *buf, size_t n, nox_error *err)
{
    fd_source *f = (fd_source *)s;
    for (;;) {
        ssize_t r = read(f->fd, buf, n);
        if (r >= 0)
            return r;
        if (errno != EINTR)
            return nox__error_errno(err, NOX_E_IO, errno, "read archive");
    }
}

static void fd_free(nox_source *s)
{
    fd_source *f = (fd_source *)s;
    if (f->own && f->fd >= 0)
        close(f->fd);
    free(f);
}

nox_source *nox__source_from_fd(int fd, bool own)
{
    fd_source *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->base.read = fd_read;
    f->base.free = fd_free;
    f->fd = fd;
    f->own = own;
    return &f->base;
}

/* ---- memory ---- */
typedef struct {
    nox_source base;
    const char *data;
    size_t len, pos;
} mem_source;

static ssize_t mem_read(nox_source *s, void *buf, size_t n, nox_error *err)
{
    (void)err;
    mem_source *m = (mem_source *)s;
    size_t k = NOX_MIN(n, m->len - m->pos);
    if (k)
        memcpy(buf, m->data + m->pos, k);
    m->pos += k;
    return (ssize_t)k;
}

nox_source *nox__source_from_mem(const void *data, size_t len)
{
    mem_source *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->base.read = mem_read;
    m->base.free = plain_free;
    m->data = data;
    m->len = data ? len : 0;
    return &m->base;
}

/* ---- progress ---- */
typedef struct {
    nox_source base;
    nox_source *inner;
    nox_progress_fn fn;
    void *userdata;
    uint64_t done, total;
} progress_source;

static ssize_t progress_read(nox_source *s, void *buf, size_t n, nox_error *err)
{
    progress_source *p = (progress_source *)s;
    ssize_t r = nox__source_read(p->inner, buf, n, err);
    if (r < 0)
        return r;
    p->done += (uint64_t)r;
    if (p->fn(p->userdata, p->done, p->total) != 0)
        return nox__error_set(err, NOX_E_CANCELLED, "transfer cancelled by the progress callback");
    return r;
}

static void wrapper_free(nox_source *s)
{
    progress_source *p = (progress_source *)s;
    nox__source_free(p->inner);
    free(p);
}

nox_source *nox__source_with_progress(nox_source *inner, nox_progress_fn fn, void *userdata,
                                      uint64_t total)
{
    progress_source *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->base.read = progress_read;
    p->base.free = wrapper_free;
    p->inner = inner;
    p->fn = fn;
    p->userdata = userdata;
    p->total = total;
    return &p->base;
}

/* ---- size limit ---- */
typedef struct {
    nox_source base;
    nox_source *inner;
    uint64_t max, done;
    const char *what;
} limit_source;

static ssize_t limit_read(nox_source *s, void *buf, size_t n, nox_error *err)
{
    limit_source *l = (limit_source *)s;
    ssize_t r = nox__source_read(l->inner, buf, n, err);
    if (r < 0)
        return r;
    l->done += (uint64_t)r;
    if (l->done > l->max)
        return nox__error_set(err, NOX_E_LIMIT, "%s is larger than the limit of %llu bytes",
                              l->what, (unsigned long long)l->max);
    return r;
}

static void limit_free(nox_source *s)
{
    limit_source *l = (limit_source *)s;
    nox__source_free(l->inner);
    free(l);
}

nox_source *nox__source_with_limit(nox_source *inner, uint64_t max, const char *what)
{
    limit_source *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->base.read = limit_read;
    l->base.free = limit_free;
    l->inner = inner;
    l->max = max;
    l->what = what;
    return &l->base;
}

/* ---- cancellation ---- */
typedef struct {
    nox_source base;
    nox_source *inner;
    volatile sig_atomic_t *flag;
} cancel_source;

static ssize_t cancel_read(nox_source *s, void *buf, size_t n, nox_error *err)
{
    cancel_source *c = (cancel_source *)s;
    if (*c->flag)
        return nox__error_set(err, NOX_E_CANCELLED, "transfer cancelled");
    return nox__source_read(c->inner, buf, n, err);
}

static void cancel_free(nox_source *s)
{
    cancel_source *c = (cancel_source *)s;
    nox__source_free(c->inner);
    free(c);
}

nox_source *nox__source_with_cancel(nox_source *inner, volatile sig_atomic_t *flag)
{
    cancel_source *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->base.read = cancel_read;
    c->base.free = cancel_free;
    c->inner = inner;
    c->flag = flag;
    return &c->base;
}

int nox__source_read_all(nox_source *s, uint64_t max, char **ret_data, size_t *ret_len,
                         nox_error *err)
{
    _cleanup_buf_ nox_buf b = NOX_BUF_INIT;
    for (;;) {
        if (nox__buf_reserve(&b, 65536) < 0)
            return nox__error_oom(err);
        ssize_t r = nox__source_read(s, b.data + b.len, b.cap - b.len - 1, err);
        if (r < 0)
            return (int)r;
        if (r == 0)
            break;
        b.len += (size_t)r;
        b.data[b.len] = '\0';
        if (b.len > max)
            return nox__error_set(err, NOX_E_LIMIT, "download is larger than %llu bytes",
                                  (unsigned long long)max);
    }
    char *d = nox__buf_steal(&b, ret_len);
    if (!d)
        return nox__error_oom(err);
    *ret_data = d;
    return 0;
}

int nox__source_copy_to_fd(nox_source *s, int fd, nox_error *err)
{
    char buf[65536];
    for (;;) {
        ssize_t r = nox__source_read(s, buf, sizeof buf, err);
        if (r < 0)
            return (int)r;
        if (r == 0)
            return 0;
        if (nox__write_all(fd, buf, (size_t)r) < 0)
            return nox__error_errno(err, NOX_E_IO, errno, "write download");
    }
}
