/* SPDX-License-Identifier: MIT */
/* Archives: gzip-compressed tar, written as pull streams and extracted
 * safely.
 *
 * Writing. A libarchive write handle whose output callback appends to a
 * queue inside the source. Each read() of the source advances a small state
 * machine by one step (one header, or one chunk of file data) until the
 * queue holds bytes, then hands them out. The queue never holds more than
 * one step's output, so memory stays at a few hundred KiB whatever the size
 * of the tree or of its files.
 *
 * Extracting. libarchive only parses. archive_write_disk is not used: it
 * resolves paths by name from the process's working directory, which a
 * multi-threaded server cannot give each request. Entries are created with
 * *at() calls on directory fds inside a private staging directory, walking
 * one component at a time with O_NOFOLLOW; only when the whole archive has
 * been read and checked are they renamed into the destination. Those
 * renames are many, not one: a commit record written just before them lets
 * another process finish them should this one die half way (recovery, at
 * the end of this file). */
#include "tarball.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <locale.h>
#include <stdarg.h>
#include <sys/random.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>

#include <archive.h>
#include <archive_entry.h>

#include "error.h"
#include "gzip.h"

#define DEFAULT_MAX_ENTRIES     100000ull
#define DEFAULT_MAX_ENTRY_BYTES (1ull << 30)
#define DEFAULT_MAX_TOTAL_BYTES (4ull << 30)
#define DEFAULT_MAX_PATH_BYTES  4096ull

/* File data per writer step: large enough for throughput, small enough that
 * one step's compressed output (the queue) stays a few hundred KiB. */
#define CHUNK_BYTES (256u * 1024)
/* Bytes pulled from the source per libarchive read callback. */
#define INPUT_BYTES (64u * 1024)
/* Deepest directory nesting written or extracted. Walking holds one
 * directory fd per level (merging two), so this keeps a deep tree from
 * exhausting the process's fds (often 1024) in a multi-threaded server. The
 * writer and the extractor share it so that what we write we can extract. */
#define MAX_DEPTH 256
/* Longest member name nox__tar_from_files() accepts: the extractor's
 * default limit, so that the archive is accepted on the other side. */
#define MAX_FILE_PATH DEFAULT_MAX_PATH_BYTES
/* Staging directories are named this and six random characters. Inside:
 * STAGING_TREE, the entries as the archive has them, and, from the moment
 * the destination starts to change, STAGING_COMMIT (see write_commit()). */
#define STAGING_PREFIX ".nox-extract-"
#define STAGING_TREE   "tree"
#define STAGING_COMMIT "commit"
/* The commit record: a version line, the attributes the merge still has
 * to apply, then the caller's label up to the end of the file. */
#define COMMIT_MAGIC "nox-extract-commit 1\n"
#define COMMIT_MAX   (64u << 20)
/* Longest name quoted in a message. */
#define MAX_QUOTED 200

void nox__extract_limits_fill(nox_extract_limits *l)
{
    if (!l->max_entries)
        l->max_entries = DEFAULT_MAX_ENTRIES;
    if (!l->max_entry_bytes)
        l->max_entry_bytes = DEFAULT_MAX_ENTRY_BYTES;
    if (!l->max_total_bytes)
        l->max_total_bytes = DEFAULT_MAX_TOTAL_BYTES;
    if (!l->max_path_bytes)
        l->max_path_bytes = DEFAULT_MAX_PATH_BYTES;
}

/* ==== small helpers ==== */

/* libarchive converts names between UTF-8 (pax headers) and the charset of
 * the current locale. The caller's locale is not ours to rely on: in "C"
 * UTF-8 names only pass with warnings, in a legacy charset they would be
 * rewritten. So every libarchive call runs under a C.UTF-8 LC_CTYPE and
 * names go through byte for byte. uselocale() is per thread, which is what
 * a multi-threaded server needs; without C.UTF-8 we keep the caller's. */
static locale_t utf8_locale_new(void)
{
    return newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
}

static locale_t locale_enter(locale_t loc)
{
    return loc ? uselocale(loc) : (locale_t)0;
}

static void locale_leave(locale_t old)
{
    if (old)
        uselocale(old);
}

/* A name fit for a message: control bytes as \xNN, and at most MAX_QUOTED
 * bytes of it, so that hostile names cannot forge lines in a log. NULL only
 * when out of memory; callers print "?" then. */
static char *quote(const char *s)
{
    nox_buf b = NOX_BUF_INIT;
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++, n++) {
        int r;
        if (n == MAX_QUOTED)
            r = nox__buf_append(&b, "...", 3);
        else if (*p < 0x20 || *p == 0x7f)
            r = nox__buf_appendf(&b, "\\x%02x", *p);
        else
            r = nox__buf_append(&b, p, 1);
        if (r < 0) {
            nox__buf_free(&b);
            return NULL;
        }
        if (n == MAX_QUOTED)
            break;
    }
    return nox__buf_steal(&b, NULL);
}

#define Q(s) ((s) ? (s) : "?")

/* Fails with "entry `NAME` <what>". */
static int entry_fail(nox_error *err, int code, const char *name, const char *fmt, ...)
    NOX_PRINTF(4, 5);

static int entry_fail(nox_error *err, int code, const char *name, const char *fmt, ...)
{
    _cleanup_free_ char *q = quote(name);
    _cleanup_free_ char *what = NULL;
    va_list ap;
    va_start(ap, fmt);
    int r = vasprintf(&what, fmt, ap);
    va_end(ap);
    if (r < 0) {
        what = NULL;
        return nox__error_oom(err);
    }
    return nox__error_set(err, code, "entry `%s` %s", Q(q), what);
}

/* The code for a failed file system call: a full disk or quota is a limit
 * the caller can act on, a name this file system cannot hold is the
 * archive's fault, the rest is I/O. */
static int io_code(int errnum)
{
    switch (errnum) {
    case ENAMETOOLONG:
    case EILSEQ:
        return NOX_E_ARCHIVE;
    case ENOSPC:
    case EDQUOT:
    case EFBIG:
        return NOX_E_LIMIT;
    case ENOMEM:
        return NOX_E_NOMEM;
    default:
        return NOX_E_IO;
    }
}

/* entry_fail for a failed file system call: the code from io_code, the
 * message ending in strerror(errnum), and errnum kept in the error (so a
 * caller can tell a full disk from a limit of ours). */
static int entry_fail_errno(nox_error *err, int errnum, const char *name, const char *what)
{
    int code = entry_fail(err, io_code(errnum), name, "%s: %s", what, strerror(errnum));
    if (err && err->code == code)
        err->sys_errno = errnum;
    return code;
}

static int dup_fd(int fd)
{
    return fcntl(fd, F_DUPFD_CLOEXEC, 3);
}

/* Opens directory @p name below @p dirfd without following a symlink. */
static int open_dir_at(int dirfd, const char *name)
{
    return openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

typedef enum name_problem {
    NAME_OK,
    NAME_EMPTY,
    NAME_ABSOLUTE,
    NAME_DOTDOT,
} name_problem;

/* Normalises a member name into @p out (room for strlen(raw) + 1): empty
 * and "." components dropped (so "./a//b/" is "a/b", and "." or "./" is ""
 * for the root itself), ".." refused, absolute names refused. @p ret_depth
 * gets the number of components. */
static name_problem normalize_name(const char *raw, char *out, size_t *ret_depth)
{
    if (!*raw)
        return NAME_EMPTY;
    if (raw[0] == '/')
        return NAME_ABSOLUTE;
    char *o = out;
    size_t depth = 0;
    for (const char *p = raw; *p;) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        const char *end = p;
        while (*end && *end != '/')
            end++;
        size_t len = (size_t)(end - p);
        if (len == 2 && p[0] == '.' && p[1] == '.')
            return NAME_DOTDOT;
        if (!(len == 1 && p[0] == '.')) {
            if (o != out)
                *o++ = '/';
            memcpy(o, p, len);
            o += len;
            depth++;
        }
        p = end;
    }
    *o = '\0';
    *ret_depth = depth;
    return NAME_OK;
}

/* ---- sorted directory listings ---- */

typedef struct name_list {
    char **v;
    size_t n;
} name_list;

static void name_list_free(name_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static void name_list_freep(name_list *l)
{
    name_list_free(l);
}
#define _cleanup_names_ _cleanup_(name_list_freep)

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void closedirp(DIR **d)
{
    if (*d)
        closedir(*d);
}

/* The names in directory @p fd (borrowed), without "." and "..", sorted so
 * that archives come out the same for the same tree. -errno on failure. */
static int read_names(int fd, name_list *ret)
{
    int dfd = dup_fd(fd);
    if (dfd < 0)
        return -errno;
    _cleanup_(closedirp) DIR *d = fdopendir(dfd);
    if (!d) {
        int e = errno;
        close(dfd);
        return -e;
    }
    /* The duplicate shares its offset with @p fd: start from the top. */
    rewinddir(d);
    _cleanup_names_ name_list l = { NULL, 0 };
    size_t cap = 0;
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (!de) {
            if (errno)
                return -errno;
            break;
        }
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (l.n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            char **v = reallocarray(l.v, ncap, sizeof *v);
            if (!v)
                return -ENOMEM;
            l.v = v;
            cap = ncap;
        }
        l.v[l.n] = strdup(de->d_name);
        if (!l.v[l.n])
            return -ENOMEM;
        l.n++;
    }
    if (l.n > 1)
        qsort(l.v, l.n, sizeof *l.v, cmp_names);
    *ret = l;
    l.v = NULL;
    l.n = 0;
    return 0;
}

/* ---- a small map keyed by inode ---- */

typedef struct ino_entry {
    dev_t dev;
    ino_t ino;
    bool used;
    /* writer: the first member name of a hard-linked file */
    char *path;
    /* extractor: the final attributes of a directory that had an entry */
    mode_t mode;
    bool has_mtime;
    struct timespec mtime;
} ino_entry;

typedef struct ino_map {
    ino_entry *slots;
    size_t cap, n;
} ino_map;

static size_t ino_hash(dev_t dev, ino_t ino)
{
    uint64_t h = (uint64_t)ino * 0x9E3779B97F4A7C15ull ^ (uint64_t)dev * 0xC2B2AE3D27D4EB4Full;
    return (size_t)(h ^ (h >> 29));
}

static ino_entry *ino_map_find(const ino_map *m, dev_t dev, ino_t ino)
{
    if (!m->cap)
        return NULL;
    for (size_t i = ino_hash(dev, ino) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        ino_entry *e = &m->slots[i];
        if (!e->used)
            return NULL;
        if (e->dev == dev && e->ino == ino)
            return e;
    }
}

/* The entry for dev:ino, made (zeroed) when missing; NULL when out of memory. */
static ino_entry *ino_map_get(ino_map *m, dev_t dev, ino_t ino)
{
    ino_entry *e = ino_map_find(m, dev, ino);
    if (e)
        return e;
    if ((m->n + 1) * 2 > m->cap) {
        size_t ncap = m->cap ? m->cap * 2 : 64;
        ino_entry *slots = calloc(ncap, sizeof *slots);
        if (!slots)
            return NULL;
        for (size_t i = 0; i < m->cap; i++) {
            if (!m->slots[i].used)
                continue;
            size_t j = ino_hash(m->slots[i].dev, m->slots[i].ino) & (ncap - 1);
            while (slots[j].used)
                j = (j + 1) & (ncap - 1);
            slots[j] = m->slots[i];
        }
        free(m->slots);
        m->slots = slots;
        m->cap = ncap;
    }
    size_t i = ino_hash(dev, ino) & (m->cap - 1);
    while (m->slots[i].used)
        i = (i + 1) & (m->cap - 1);
    e = &m->slots[i];
    e->used = true;
    e->dev = dev;
    e->ino = ino;
    m->n++;
    return e;
}

static void ino_map_free(ino_map *m)
{
    for (size_t i = 0; i < m->cap; i++)
        free(m->slots[i].path);
    free(m->slots);
    m->slots = NULL;
    m->cap = m->n = 0;
}

/* ==== writing ==== */

typedef struct tar_writer tar_writer;
struct tar_writer {
    nox_source base;
    struct archive *a;
    locale_t loc;
    nox_gz *gz;      /* compresses what libarchive writes */
    bool out_failed; /* the output callback ran out of memory */
    bool discard;    /* being freed: output is refused */
    bool done;       /* archive closed: the queue holds its last bytes */
    int fail_code;   /* a failure, repeated by every later read */
    char *fail_msg;
    /* One step: a header or a chunk of data. 0, 1 when nothing is left,
     * or a negative code. */
    int (*step)(tar_writer *w, nox_error *err);
    /* Releases what the kind of writer owns. */
    void (*release)(tar_writer *w);
};

static la_ssize_t queue_write(struct archive *a, void *userdata, const void *buf, size_t n)
{
    tar_writer *w = userdata;
    if (w->discard) {
        archive_set_error(a, ECANCELED, "tar.gz stream abandoned");
        return -1;
    }
    if (nox__gz_write(w->gz, buf, n) < 0) {
        w->out_failed = true;
        archive_set_error(a, ENOMEM, "out of memory");
        return -1;
    }
    return (la_ssize_t)n;
}

static int writer_error(tar_writer *w, nox_error *err, const char *what, const char *path)
{
    if (w->out_failed || archive_errno(w->a) == ENOMEM)
        return nox__error_oom(err);
    _cleanup_free_ char *q = quote(path);
    const char *m = archive_error_string(w->a);
    return nox__error_set(err, NOX_E_ARCHIVE, "%s `%s`: %s", what, Q(q),
                          m ? m : "unknown libarchive error");
}

static ssize_t writer_read(nox_source *s, void *buf, size_t n, nox_error *err)
{
    tar_writer *w = (tar_writer *)s;
    if (w->fail_code)
        return nox__error_set(err, w->fail_code, "%s",
                              w->fail_msg ? w->fail_msg : nox_strerror(w->fail_code));
    if (n == 0)
        return 0;
    nox_error local = { 0 };
    ssize_t r;
    locale_t old = locale_enter(w->loc);
    for (;;) {
        /* Compressed bytes first; wait for them only when there is no more
         * input to make, or enough is being compressed already. */
        bool wait = w->done || !nox__gz_wants_input(w->gz);
        r = nox__gz_read(w->gz, buf, n, wait);
        if (r < 0)
            r = nox__error_oom(&local);
        if (r != 0 || w->done)
            break; /* bytes, a failure, or the end */
        r = w->step(w, &local);
        if (r < 0)
            break;
        if (r == 1) {
            if (archive_write_close(w->a) != ARCHIVE_OK) {
                r = writer_error(w, &local, "finish", "tar.gz stream");
                break;
            }
            if (nox__gz_finish(w->gz) < 0) {
                r = nox__error_oom(&local);
                break;
            }
            w->done = true;
        }
    }
    locale_leave(old);
    if (r < 0) {
        w->fail_code = (int)r;
        w->fail_msg = nox__strdup0(local.message);
        nox__error_copy(err, &local);
        nox_error_clear(&local);
    }
    return r;
}

static void writer_free(nox_source *s)
{
    tar_writer *w = (tar_writer *)s;
    locale_t old = locale_enter(w->loc);
    if (w->a) {
        /* An unfinished archive is closed with its output refused: close
         * pads the current entry with zeros up to its declared size,
         * gigabytes maybe, and the first block it hands over fails and
         * ends that early. */
        if (!w->done) {
            w->discard = true;
            (void)archive_write_close(w->a);
        }
        archive_write_free(w->a);
    }
    locale_leave(old);
    if (w->release)
        w->release(w);
    if (w->loc)
        freelocale(w->loc);
    nox__gz_free(w->gz);
    free(w->fail_msg);
    free(w);
}

static int writer_setup(tar_writer *w, nox_error *err)
{
    w->a = archive_write_new();
    if (!w->a)
        return nox__error_oom(err);
    if (archive_write_set_format_pax_restricted(w->a) != ARCHIVE_OK)
        return writer_error(w, err, "set up", "tar.gz writer");
    /* libarchive writes plain tar; gzip.c compresses it, on several
     * threads when the archive is large. */
    if (archive_write_add_filter_none(w->a) != ARCHIVE_OK)
        return writer_error(w, err, "set up", "tar.gz writer");
    /* Hand over 64 KiB at a time, and do not pad the end to a whole block:
     * gzip readers would see trailing garbage. */
    if (archive_write_set_bytes_per_block(w->a, 64 * 1024) != ARCHIVE_OK ||
        archive_write_set_bytes_in_last_block(w->a, 1) != ARCHIVE_OK)
        return writer_error(w, err, "set up", "tar.gz writer");
#if ARCHIVE_VERSION_NUMBER >= 3005000
    int r = archive_write_open2(w->a, w, NULL, queue_write, NULL, NULL);
#else
    int r = archive_write_open(w->a, w, NULL, queue_write, NULL);
#endif
    if (r != ARCHIVE_OK)
        return writer_error(w, err, "open", "tar.gz writer");
    return 0;
}

/* Sets up the libarchive side of a writer allocated by the caller (with
 * tar_writer as its first member). */
static int writer_init(tar_writer *w, int gzip_level, unsigned gzip_threads, nox_error *err)
{
    w->base.read = writer_read;
    w->base.free = writer_free;
    if (gzip_level < 0 || gzip_level > 9)
        return nox__error_set(err, NOX_E_INVALID, "gzip level %d is out of range 1-9", gzip_level);
    if (gzip_level == 0)
        gzip_level = 1;
    w->gz = nox__gz_new(gzip_level, gzip_threads);
    if (!w->gz)
        return nox__error_oom(err);
    w->loc = utf8_locale_new();
    locale_t old = locale_enter(w->loc);
    int r = writer_setup(w, err);
    locale_leave(old);
    return r;
}

/* Writes one header. uid and gid are always 0 without names: the archive
 * says nothing about accounts of the machine it was made on. */
static int put_header(tar_writer *w, const char *path, unsigned type, mode_t mode, int64_t size,
                      const struct timespec *mtime, const char *symlink, const char *hardlink,
                      nox_error *err)
{
    struct archive_entry *e = archive_entry_new();
    if (!e)
        return nox__error_oom(err);
    archive_entry_set_pathname(e, path);
    archive_entry_set_filetype(e, type);
    archive_entry_set_perm(e, mode & 07777);
    archive_entry_set_size(e, size);
    archive_entry_set_uid(e, 0);
    archive_entry_set_gid(e, 0);
    if (mtime)
        archive_entry_set_mtime(e, mtime->tv_sec, mtime->tv_nsec);
    if (symlink)
        archive_entry_set_symlink(e, symlink);
    if (hardlink)
        archive_entry_set_hardlink(e, hardlink);
    int r = archive_write_header(w->a, e);
    archive_entry_free(e);
    /* ARCHIVE_WARN is a name that could not be converted to UTF-8: it is
     * then stored as binary (hdrcharset=BINARY), which is right. */
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
        return writer_error(w, err, "write tar header for", path);
    return 0;
}

static int put_data(tar_writer *w, const void *p, size_t n, const char *path, nox_error *err)
{
    const char *c = p;
    while (n > 0) {
        la_ssize_t k = archive_write_data(w->a, c, n);
        if (k <= 0)
            return writer_error(w, err, "write tar data of", path);
        c += k;
        n -= (size_t)k;
    }
    return 0;
}

/* ---- in-memory files ---- */

typedef struct files_writer {
    tar_writer w;
    const nox_file *files;
    char **names; /* normalised member names */
    size_t n;
    size_t next; /* file whose header comes next */
    size_t off;  /* data of files[next - 1] written so far */
    bool in_data;
    struct timespec mtime;
} files_writer;

static int files_step(tar_writer *w, nox_error *err)
{
    files_writer *f = (files_writer *)w;
    if (f->in_data) {
        const nox_file *file = &f->files[f->next - 1];
        size_t k = NOX_MIN((size_t)CHUNK_BYTES, file->size - f->off);
        int r = put_data(w, (const char *)file->data + f->off, k, f->names[f->next - 1], err);
        if (r < 0)
            return r;
        f->off += k;
        if (f->off == file->size)
            f->in_data = false;
        return 0;
    }
    if (f->next == f->n)
        return 1;
    const nox_file *file = &f->files[f->next];
    mode_t mode = file->mode & 07777;
    int r = put_header(w, f->names[f->next], AE_IFREG, mode ? mode : 0644, (int64_t)file->size,
                       &f->mtime, NULL, NULL, err);
    if (r < 0)
        return r;
    f->next++;
    f->off = 0;
    f->in_data = file->size > 0;
    return 0;
}

static void files_release(tar_writer *w)
{
    files_writer *f = (files_writer *)w;
    for (size_t i = 0; f->names && i < f->n; i++)
        free(f->names[i]);
    free(f->names);
}

/* Checks the path of file @p i and returns its normalised form. */
static int check_file(const nox_file *file, size_t i, char **ret_name, nox_error *err)
{
    if (!file->path || !*file->path)
        return nox__error_set(err, NOX_E_INVALID, "file %zu has an empty path", i);
    _cleanup_free_ char *q = quote(file->path);
    size_t len = strlen(file->path);
    if (len > MAX_FILE_PATH)
        return nox__error_set(err, NOX_E_INVALID, "path `%s` is longer than %llu bytes", Q(q),
                              (unsigned long long)MAX_FILE_PATH);
    if (!file->data && file->size)
        return nox__error_set(err, NOX_E_INVALID, "path `%s` has no data but a size of %zu bytes",
                              Q(q), file->size);
    if (file->path[len - 1] == '/')
        return nox__error_set(err, NOX_E_INVALID, "path `%s` ends with a slash", Q(q));
    _cleanup_free_ char *name = malloc(len + 1);
    if (!name)
        return nox__error_oom(err);
    size_t depth;
    switch (normalize_name(file->path, name, &depth)) {
    case NAME_OK:
        break;
    case NAME_EMPTY:
        return nox__error_set(err, NOX_E_INVALID, "file %zu has an empty path", i);
    case NAME_ABSOLUTE:
        return nox__error_set(err, NOX_E_INVALID, "path `%s` is absolute", Q(q));
    case NAME_DOTDOT:
        return nox__error_set(err, NOX_E_INVALID, "path `%s` has a `..` component", Q(q));
    }
    if (depth == 0)
        return nox__error_set(err, NOX_E_INVALID, "path `%s` names no file", Q(q));
    if (depth > MAX_DEPTH)
        return nox__error_set(err, NOX_E_INVALID, "path `%s` is nested more than %d levels deep",
                              Q(q), MAX_DEPTH);
    *ret_name = steal_pointer(&name);
    return 0;
}

int nox__tar_from_files(const nox_file *files, size_t n_files, int gzip_level,
                        unsigned gzip_threads, nox_source **ret_src, nox_error *err)
{
    if (!ret_src || (n_files && !files))
        return nox__error_set(err, NOX_E_INVALID, "tar_from_files: files and result are required");
    files_writer *f = calloc(1, sizeof *f);
    if (!f)
        return nox__error_oom(err);
    f->w.step = files_step;
    f->w.release = files_release;
    f->files = files;
    f->n = n_files;
    f->mtime.tv_sec = (time_t)nox__now_unix();
    int r = 0;
    f->names = calloc(n_files ? n_files : 1, sizeof *f->names);
    if (!f->names)
        r = nox__error_oom(err);
    /* Every path is checked before the first byte goes out, so a bad one
     * fails the call instead of a transfer already under way. */
    for (size_t i = 0; r == 0 && i < n_files; i++)
        r = check_file(&files[i], i, &f->names[i], err);
    if (r == 0)
        r = writer_init(&f->w, gzip_level, gzip_threads, err);
    if (r < 0) {
        writer_free(&f->w.base);
        return r;
    }
    *ret_src = &f->w.base;
    return 0;
}

/* ---- a tree below a file descriptor ---- */

typedef struct dir_frame {
    int fd;
    name_list names;
    size_t next;
    size_t path_len; /* length of the member-name prefix ("sub/") of its entries */
} dir_frame;

typedef struct fd_writer {
    tar_writer w;
    dir_frame frames[MAX_DEPTH + 1];
    size_t depth;
    nox_buf path;       /* member name of the entry being written */
    int file_fd;        /* regular file whose data is being written */
    uint64_t file_left; /* bytes of it still due, as its header declared */
    bool file_short;    /* it shrank: the rest is zeros */
    bool single;        /* the tree is one regular file */
    int single_fd;
    ino_map links; /* hard-linked files already written */
    char *chunk;
    char *target; /* PATH_MAX bytes for readlinkat */
} fd_writer;

static int set_path(fd_writer *f, size_t keep, const char *name, nox_error *err)
{
    f->path.len = keep;
    if (nox__buf_append(&f->path, name, strlen(name)) < 0)
        return nox__error_oom(err);
    return 0;
}

/* Writes the header of the regular file open at @p fd and makes its data
 * the next steps. Takes @p fd. */
static int start_file(fd_writer *f, int fd, const struct stat *st, nox_error *err)
{
    _cleanup_close_ int owned = fd;
    int r = put_header(&f->w, f->path.data, AE_IFREG, st->st_mode, (int64_t)st->st_size,
                       &st->st_mtim, NULL, NULL, err);
    if (r < 0)
        return r;
    if (st->st_size > 0) {
        f->file_fd = steal_fd(&owned);
        f->file_left = (uint64_t)st->st_size;
        f->file_short = false;
    }
    return 1;
}

/* One chunk of the current file. The header already declared its size, so
 * a file that shrank meanwhile is padded with zeros and one that grew is cut
 * at that size: the archive stays well-formed either way. */
static int file_chunk(fd_writer *f, nox_error *err)
{
    size_t want = (size_t)NOX_MIN((uint64_t)CHUNK_BYTES, f->file_left);
    size_t got = 0;
    if (!f->file_short) {
        ssize_t k;
        do
            k = read(f->file_fd, f->chunk, want);
        while (k < 0 && errno == EINTR);
        if (k < 0)
            return nox__error_errno(err, NOX_E_IO, errno, "read `%s`", f->path.data);
        if (k == 0)
            f->file_short = true;
        got = (size_t)k;
    }
    if (f->file_short) {
        memset(f->chunk, 0, want);
        got = want;
    }
    int r = put_data(&f->w, f->chunk, got, f->path.data, err);
    if (r < 0)
        return r;
    f->file_left -= got;
    if (f->file_left == 0) {
        close(f->file_fd);
        f->file_fd = -1;
    }
    return 0;
}

static int visit_file(fd_writer *f, int dirfd, const char *name, nox_error *err)
{
    /* O_NONBLOCK: should a fifo take the file's place after the stat, the
     * open must not hang; the fstat below then skips it. */
    _cleanup_close_ int fd =
        openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT || errno == ELOOP)
            return 0; /* removed or replaced since it was listed */
        return nox__error_errno(err, NOX_E_IO, errno, "open `%s`", f->path.data);
    }
    struct stat st;
    if (fstat(fd, &st) < 0)
        return nox__error_errno(err, NOX_E_IO, errno, "stat `%s`", f->path.data);
    if (!S_ISREG(st.st_mode))
        return 0;
    if (st.st_nlink > 1) {
        ino_entry *e = ino_map_get(&f->links, st.st_dev, st.st_ino);
        if (!e)
            return nox__error_oom(err);
        if (e->path) {
            int r = put_header(&f->w, f->path.data, AE_IFREG, st.st_mode, 0, &st.st_mtim, NULL,
                               e->path, err);
            return r < 0 ? r : 1;
        }
        e->path = strdup(f->path.data);
        if (!e->path)
            return nox__error_oom(err);
    }
    return start_file(f, steal_fd(&fd), &st, err);
}

static int visit_dir(fd_writer *f, int dirfd, const char *name, nox_error *err)
{
    if (f->depth >= MAX_DEPTH)
        return nox__error_set(err, NOX_E_LIMIT, "directory `%s` is nested more than %d levels deep",
                              f->path.data, MAX_DEPTH);
    _cleanup_close_ int fd = open_dir_at(dirfd, name);
    if (fd < 0) {
        if (errno == ENOENT || errno == ELOOP || errno == ENOTDIR)
            return 0;
        return nox__error_errno(err, NOX_E_IO, errno, "open directory `%s`", f->path.data);
    }
    struct stat st;
    if (fstat(fd, &st) < 0)
        return nox__error_errno(err, NOX_E_IO, errno, "stat `%s`", f->path.data);
    _cleanup_names_ name_list names = { NULL, 0 };
    int r = read_names(fd, &names);
    if (r < 0)
        return nox__error_errno(err, NOX_E_IO, -r, "read directory `%s`", f->path.data);
    if (nox__buf_append(&f->path, "/", 1) < 0)
        return nox__error_oom(err);
    r = put_header(&f->w, f->path.data, AE_IFDIR, st.st_mode, 0, &st.st_mtim, NULL, NULL, err);
    if (r < 0)
        return r;
    dir_frame *fr = &f->frames[f->depth++];
    fr->fd = steal_fd(&fd);
    fr->names = names;
    names.v = NULL;
    names.n = 0;
    fr->next = 0;
    fr->path_len = f->path.len;
    return 1;
}

static int visit_symlink(fd_writer *f, int dirfd, const char *name, const struct stat *st,
                         nox_error *err)
{
    ssize_t n = readlinkat(dirfd, name, f->target, PATH_MAX);
    if (n < 0) {
        if (errno == ENOENT || errno == EINVAL)
            return 0;
        return nox__error_errno(err, NOX_E_IO, errno, "read symlink `%s`", f->path.data);
    }
    if (n >= PATH_MAX)
        return nox__error_set(err, NOX_E_IO, "symlink `%s` has a target longer than %d bytes",
                              f->path.data, PATH_MAX - 1);
    f->target[n] = '\0';
    int r = put_header(&f->w, f->path.data, AE_IFLNK, st->st_mode, 0, &st->st_mtim, f->target, NULL,
                       err);
    return r < 0 ? r : 1;
}

/* Writes the header for @p name of directory @p fr: 1 when a header went
 * out, 0 when the entry is skipped, or a negative code. */
static int visit(fd_writer *f, dir_frame *fr, const char *name, nox_error *err)
{
    int r = set_path(f, fr->path_len, name, err);
    if (r < 0)
        return r;
    struct stat st;
    if (fstatat(fr->fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        if (errno == ENOENT)
            return 0;
        return nox__error_errno(err, NOX_E_IO, errno, "stat `%s`", f->path.data);
    }
    if (S_ISREG(st.st_mode))
        return visit_file(f, fr->fd, name, err);
    if (S_ISDIR(st.st_mode))
        return visit_dir(f, fr->fd, name, err);
    if (S_ISLNK(st.st_mode))
        return visit_symlink(f, fr->fd, name, &st, err);
    /* Devices, fifos and sockets have no meaning in another place. */
    return 0;
}

static int fd_step(tar_writer *w, nox_error *err)
{
    fd_writer *f = (fd_writer *)w;
    if (f->file_fd >= 0)
        return file_chunk(f, err);
    if (f->single) {
        if (f->single_fd < 0)
            return 1;
        int fd = steal_fd(&f->single_fd);
        struct stat st;
        if (fstat(fd, &st) < 0) {
            int e = errno;
            close(fd);
            return nox__error_errno(err, NOX_E_IO, e, "stat `%s`", f->path.data);
        }
        int r = start_file(f, fd, &st, err);
        return r < 0 ? r : 0;
    }
    while (f->depth > 0) {
        dir_frame *top = &f->frames[f->depth - 1];
        if (top->next == top->names.n) {
            close(top->fd);
            name_list_free(&top->names);
            f->depth--;
            continue;
        }
        int r = visit(f, top, top->names.v[top->next++], err);
        if (r != 0)
            return r < 0 ? r : 0;
    }
    return 1;
}

static void fd_release(tar_writer *w)
{
    fd_writer *f = (fd_writer *)w;
    while (f->depth > 0) {
        dir_frame *top = &f->frames[--f->depth];
        close(top->fd);
        name_list_free(&top->names);
    }
    if (f->file_fd >= 0)
        close(f->file_fd);
    if (f->single_fd >= 0)
        close(f->single_fd);
    ino_map_free(&f->links);
    nox__buf_free(&f->path);
    free(f->chunk);
    free(f->target);
}

int nox__tar_from_fd(int fd, const char *file_name, int gzip_level, unsigned gzip_threads,
                     nox_source **ret_src, nox_error *err)
{
    /* The fd is ours from here on, whatever happens. */
    _cleanup_close_ int owned = fd;
    if (fd < 0 || !ret_src)
        return nox__error_set(err, NOX_E_INVALID, "tar_from_fd: fd and result are required");
    struct stat st;
    if (fstat(fd, &st) < 0)
        return nox__error_errno(err, NOX_E_IO, errno, "stat the tree to archive");
    if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
        return nox__error_set(err, NOX_E_INVALID,
                              "only a directory or a regular file can be archived");

    fd_writer *f = calloc(1, sizeof *f);
    if (!f)
        return nox__error_oom(err);
    f->w.step = fd_step;
    f->w.release = fd_release;
    f->file_fd = -1;
    f->single_fd = -1;
    int r = 0;
    f->chunk = malloc(CHUNK_BYTES);
    f->target = malloc(PATH_MAX);
    if (!f->chunk || !f->target) {
        r = nox__error_oom(err);
    } else if (S_ISREG(st.st_mode)) {
        nox_file one = { .path = file_name, .data = "", .size = 0 };
        _cleanup_free_ char *name = NULL;
        if (!file_name)
            r = nox__error_set(err, NOX_E_INVALID, "a regular file needs a member name");
        else
            r = check_file(&one, 0, &name, err);
        if (r == 0 && nox__buf_append(&f->path, name, strlen(name)) < 0)
            r = nox__error_oom(err);
        f->single = true;
        f->single_fd = steal_fd(&owned);
    } else {
        name_list names = { NULL, 0 };
        r = read_names(fd, &names);
        if (r < 0) {
            r = nox__error_errno(err, NOX_E_IO, -r, "read the directory to archive");
        } else {
            f->frames[0] = (dir_frame){ .fd = steal_fd(&owned), .names = names };
            f->depth = 1;
        }
    }
    if (r == 0)
        r = writer_init(&f->w, gzip_level, gzip_threads, err);
    if (r < 0) {
        writer_free(&f->w.base);
        return r;
    }
    *ret_src = &f->w.base;
    return 0;
}

/* ==== extracting ==== */

typedef struct extractor {
    const nox_extract_opts *opts;
    nox_extract_limits lim;
    nox_source *src;
    nox_error src_err; /* the source's own failure, passed on unchanged */
    int src_code;
    uint64_t src_bytes;
    unsigned char magic[2]; /* the first input bytes */
    char *inbuf;
    struct archive *a;
    int dest_fd;
    int staging_parent; /* borrowed */
    char staging_name[32];
    int staging_fd; /* the staging directory itself, locked */
    int tree_fd;    /* its STAGING_TREE */
    dev_t staging_dev;
    ino_t staging_ino;
    bool staging_made;
    /* The parent directory of the last entry, so that the many entries of
     * one directory do not each walk down from the top. */
    char *cache_path;
    int cache_fd;
    ino_map dirs;
    uint64_t entries, implied_dirs, files, file_bytes, total_bytes;
    bool root_set, root_has_mtime;
    mode_t root_mode;
    struct timespec root_mtime;
} extractor;

static la_ssize_t source_read_cb(struct archive *a, void *userdata, const void **buf)
{
    extractor *ex = userdata;
    if (ex->src_code)
        return -1;
    ssize_t r = nox__source_read(ex->src, ex->inbuf, INPUT_BYTES, &ex->src_err);
    if (r < 0) {
        ex->src_code = (int)r;
        archive_set_error(a, EIO, "%s", nox_error_message(&ex->src_err));
        return -1;
    }
    for (size_t i = 0; i < (size_t)r && ex->src_bytes + i < sizeof ex->magic; i++)
        ex->magic[ex->src_bytes + i] = (unsigned char)ex->inbuf[i];
    ex->src_bytes += (uint64_t)r;
    *buf = ex->inbuf;
    return (la_ssize_t)r;
}

/* A libarchive failure while reading: the source's own error when it was
 * the source that failed (a limit or a cancellation must reach the caller
 * as such), else NOX_E_ARCHIVE with libarchive's message. */
static int read_error(extractor *ex, nox_error *err, const char *what)
{
    if (ex->src_code) {
        if (ex->src_err.code)
            return nox__error_copy(err, &ex->src_err);
        return nox__error_set(err, ex->src_code, "read the archive");
    }
    if (archive_errno(ex->a) == ENOMEM)
        return nox__error_oom(err);
    const char *m = archive_error_string(ex->a);
    return nox__error_set(err, NOX_E_ARCHIVE, "%s: %s", what, m ? m : "unknown libarchive error");
}

static int set_owner(extractor *ex, int fd, const char *entry, nox_error *err)
{
    if (!ex->opts || !ex->opts->chown)
        return 0;
    if (fchown(fd, ex->opts->uid, ex->opts->gid) < 0)
        return entry_fail(err, NOX_E_IO, entry, "cannot be given to %u:%u: %s",
                          (unsigned)ex->opts->uid, (unsigned)ex->opts->gid, strerror(errno));
    return 0;
}

/* Opens component @p comp of directory @p cur, making it (0700, as an
 * implied directory) when missing and @p create. @p sofar is the path up to
 * and including @p comp, for messages. */
static int walk_one(extractor *ex, int cur, const char *comp, bool create, const char *entry,
                    const char *sofar, nox_error *err)
{
    for (int attempt = 0; attempt < 3; attempt++) {
        int fd = open_dir_at(cur, comp);
        if (fd >= 0)
            return fd;
        if (errno == ENOENT && create) {
            if (ex->implied_dirs >= ex->lim.max_entries)
                return entry_fail(err, NOX_E_LIMIT, entry,
                                  "would make more than %llu directories that have no entry",
                                  (unsigned long long)ex->lim.max_entries);
            if (mkdirat(cur, comp, 0700) < 0) {
                int e = errno;
                if (e == EEXIST)
                    continue;
                _cleanup_free_ char *q = quote(sofar);
                return nox__error_errno(err, io_code(e), e, "create directory `%s`", Q(q));
            }
            ex->implied_dirs++;
            _cleanup_close_ int nfd = open_dir_at(cur, comp);
            if (nfd < 0)
                continue;
            /* 0700 whatever the umask: we must be able to fill it. Its final
             * mode (0755) is set when it is merged. */
            int r;
            if (fchmod(nfd, 0700) < 0) {
                int e = errno;
                _cleanup_free_ char *q = quote(sofar);
                return nox__error_errno(err, NOX_E_IO, e, "chmod `%s`", Q(q));
            }
            if ((r = set_owner(ex, nfd, sofar, err)) < 0)
                return r;
            return steal_fd(&nfd);
        }
        int e = errno;
        _cleanup_free_ char *q = quote(sofar);
        if (e == ENOENT)
            return entry_fail(err, NOX_E_ARCHIVE, entry, "needs `%s`, which is not in the archive",
                              Q(q));
        if (e == ELOOP || e == ENOTDIR) {
            struct stat st;
            if (fstatat(cur, comp, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
                return entry_fail(err, NOX_E_ARCHIVE, entry,
                                  "would be created through symlink `%s`", Q(q));
            return entry_fail(err, NOX_E_ARCHIVE, entry,
                              "would be created through `%s`, which is not a directory", Q(q));
        }
        _cleanup_free_ char *qe = quote(entry);
        return nox__error_errno(err, io_code(e), e, "open directory `%s` for entry `%s`", Q(q),
                                Q(qe));
    }
    _cleanup_free_ char *q = quote(sofar);
    return nox__error_set(err, NOX_E_IO, "directory `%s` keeps changing", Q(q));
}

/* Opens the staging directory that holds @p name (normalised), walking
 * down one component at a time with O_NOFOLLOW so that nothing is ever
 * created through a symlink, and making missing directories when @p create.
 * Returns an fd the caller owns and sets @p ret_last to the last component. */
static int open_parent(extractor *ex, const char *entry, const char *name, bool create,
                       const char **ret_last, nox_error *err)
{
    const char *slash = strrchr(name, '/');
    *ret_last = slash ? slash + 1 : name;
    size_t plen = slash ? (size_t)(slash - name) : 0;
    int fd;
    if (plen == 0 || (ex->cache_path && strlen(ex->cache_path) == plen &&
                      memcmp(ex->cache_path, name, plen) == 0)) {
        fd = dup_fd(plen == 0 ? ex->tree_fd : ex->cache_fd);
        if (fd < 0)
            return nox__error_errno(err, NOX_E_IO, errno, "duplicate a directory fd");
        return fd;
    }
    _cleanup_free_ char *prefix = strndup(name, plen);
    if (!prefix)
        return nox__error_oom(err);
    _cleanup_close_ int cur = dup_fd(ex->tree_fd);
    if (cur < 0)
        return nox__error_errno(err, NOX_E_IO, errno, "duplicate a directory fd");
    for (char *c = prefix;;) {
        char *end = strchr(c, '/');
        if (end)
            *end = '\0';
        int nfd = walk_one(ex, cur, c, create, entry, prefix, err);
        if (nfd < 0)
            return nfd;
        close(cur);
        cur = nfd;
        if (!end)
            break;
        *end = '/';
        c = end + 1;
    }
    /* A cache that cannot be kept only costs speed. */
    int cfd = dup_fd(cur);
    if (cfd >= 0) {
        if (ex->cache_fd >= 0)
            close(ex->cache_fd);
        free(ex->cache_path);
        ex->cache_path = steal_pointer(&prefix);
        ex->cache_fd = cfd;
    }
    return steal_fd(&cur);
}

/* Makes room for a new non-directory @p last in @p pfd after creating it
 * failed with EEXIST: a later entry replaces an earlier file or link of the
 * same name, as tar does, but a directory in the way is a conflict. */
static int clear_for_nondir(int pfd, const char *last, const char *entry, nox_error *err)
{
    struct stat st;
    if (fstatat(pfd, last, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        if (errno == ENOENT)
            return 0;
        return entry_fail(err, NOX_E_IO, entry, "cannot be checked: %s", strerror(errno));
    }
    if (S_ISDIR(st.st_mode))
        return entry_fail(err, NOX_E_ARCHIVE, entry,
                          "is not a directory, but an earlier entry made it one");
    if (unlinkat(pfd, last, 0) < 0 && errno != ENOENT)
        return entry_fail(err, NOX_E_IO, entry, "cannot replace the earlier entry: %s",
                          strerror(errno));
    return 0;
}

static struct timespec entry_mtime(struct archive_entry *e, bool *ret_set)
{
    struct timespec ts = { 0, UTIME_OMIT };
    *ret_set = archive_entry_mtime_is_set(e);
    if (*ret_set) {
        ts.tv_sec = archive_entry_mtime(e);
        ts.tv_nsec = archive_entry_mtime_nsec(e);
        if (ts.tv_nsec < 0 || ts.tv_nsec > 999999999)
            ts.tv_nsec = 0;
    }
    return ts;
}

/* The mode an entry gets: its permission bits without setuid and setgid,
 * which must not survive an upload (an attacker's binary made setuid root by
 * the extracting server). The sticky bit is harmless and kept. */
static mode_t entry_mode(struct archive_entry *e)
{
    return (mode_t)(archive_entry_perm(e) & 07777 & ~(S_ISUID | S_ISGID));
}

static int pwrite_all(int fd, const char *p, size_t n, off_t off)
{
    while (n > 0) {
        ssize_t w = pwrite(fd, p, n, off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (w == 0) {
            errno = EIO;
            return -1;
        }
        p += w;
        n -= (size_t)w;
        off += w;
    }
    return 0;
}

static int extract_file(extractor *ex, struct archive_entry *e, const char *entry, const char *name,
                        int64_t size, nox_error *err)
{
    const char *last;
    _cleanup_close_ int pfd = open_parent(ex, entry, name, true, &last, err);
    if (pfd < 0)
        return pfd;
    _cleanup_close_ int fd = -1;
    for (int attempt = 0; fd < 0; attempt++) {
        fd = openat(pfd, last, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd >= 0)
            break;
        if (errno != EEXIST || attempt == 2)
            return entry_fail_errno(err, errno, entry, "cannot be created");
        int r = clear_for_nondir(pfd, last, entry, err);
        if (r < 0)
            return r;
    }
    /* Data blocks come with their offsets: a sparse entry's holes are
     * skipped by pwrite and stay holes, and ftruncate gives the file its full
     * size. Every block must lie inside the size the header declared; that
     * size was checked against the limits before anything was written, so
     * what is written can never exceed them. */
    for (;;) {
        const void *buf;
        size_t len;
        la_int64_t off;
        int r = archive_read_data_block(ex->a, &buf, &len, &off);
        if (r == ARCHIVE_EOF)
            break;
        if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
            _cleanup_free_ char *q = quote(entry);
            _cleanup_free_ char *what = nox__asprintf("read entry `%s`", Q(q));
            return read_error(ex, err, what ? what : "read entry");
        }
        if (off < 0 || (uint64_t)off > (uint64_t)size || len > (uint64_t)size - (uint64_t)off)
            return entry_fail(err, NOX_E_ARCHIVE, entry, "has data beyond its declared size");
        if (len && pwrite_all(fd, buf, len, (off_t)off) < 0)
            return entry_fail_errno(err, errno, entry, "cannot be written");
    }
    if (ftruncate(fd, (off_t)size) < 0)
        return entry_fail_errno(err, errno, entry, "cannot be sized");
    int r = set_owner(ex, fd, entry, err);
    if (r < 0)
        return r;
    /* After chown, which may clear mode bits. */
    if (fchmod(fd, entry_mode(e)) < 0)
        return entry_fail(err, NOX_E_IO, entry, "cannot be given its mode: %s", strerror(errno));
    bool has_mtime;
    struct timespec ts[2] = { { 0, UTIME_OMIT }, entry_mtime(e, &has_mtime) };
    if (has_mtime && futimens(fd, ts) < 0)
        return entry_fail(err, NOX_E_IO, entry, "cannot be given its time: %s", strerror(errno));
    ex->files++;
    ex->file_bytes += (uint64_t)size;
    return 0;
}

static int extract_dir(extractor *ex, struct archive_entry *e, const char *entry, const char *name,
                       nox_error *err)
{
    const char *last;
    _cleanup_close_ int pfd = open_parent(ex, entry, name, true, &last, err);
    if (pfd < 0)
        return pfd;
    bool created = mkdirat(pfd, last, 0700) == 0;
    if (!created && errno != EEXIST)
        return entry_fail_errno(err, errno, entry, "cannot be created");
    _cleanup_close_ int fd = open_dir_at(pfd, last);
    if (fd < 0) {
        if (errno == ELOOP || errno == ENOTDIR)
            return entry_fail(err, NOX_E_ARCHIVE, entry,
                              "is a directory, but an earlier entry of that name is not");
        return entry_fail(err, NOX_E_IO, entry, "cannot be opened: %s", strerror(errno));
    }
    if (created) {
        if (fchmod(fd, 0700) < 0)
            return entry_fail(err, NOX_E_IO, entry, "cannot be given its mode: %s",
                              strerror(errno));
        int r = set_owner(ex, fd, entry, err);
        if (r < 0)
            return r;
    }
    /* Its real mode and time come at merge time, after its children: a
     * read-only directory must still receive them, and each child would
     * change the time again. A later entry for the same directory wins. */
    struct stat st;
    if (fstat(fd, &st) < 0)
        return entry_fail(err, NOX_E_IO, entry, "cannot be checked: %s", strerror(errno));
    ino_entry *d = ino_map_get(&ex->dirs, st.st_dev, st.st_ino);
    if (!d)
        return nox__error_oom(err);
    d->mode = entry_mode(e);
    d->mtime = entry_mtime(e, &d->has_mtime);
    return 0;
}

/* Whether a relative symlink target, resolved from the directory of the
 * link (which has @p depth components), stays inside the extraction root.
 * Only leading ".." components are accepted: the link's own parents are real
 * directories (nothing is created through a symlink), so climbing them is
 * exactly what the lexical count says. A ".." after a name would climb out
 * of wherever that name leads, and the name may be a symlink itself
 * ("d/up -> .." then "x -> d/up/.." resolves to the root's parent), so no
 * lexical check could vouch for it. */
static const char *symlink_target_problem(const char *target, size_t depth)
{
    bool named = false;
    for (const char *p = target; *p;) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        const char *end = p;
        while (*end && *end != '/')
            end++;
        size_t len = (size_t)(end - p);
        if (len == 2 && p[0] == '.' && p[1] == '.') {
            if (named)
                return "which has `..` after a name; only leading `..` components are allowed";
            if (depth == 0)
                return "which leads out of the destination";
            depth--;
        } else if (!(len == 1 && p[0] == '.')) {
            named = true;
        }
        p = end;
    }
    return NULL;
}

static int extract_symlink(extractor *ex, struct archive_entry *e, const char *entry,
                           const char *name, size_t depth, nox_error *err)
{
    const char *target = archive_entry_symlink(e);
    if (!target || !*target)
        return entry_fail(err, NOX_E_ARCHIVE, entry, "is a symlink with an empty target");
    _cleanup_free_ char *qt = quote(target);
    if (strlen(target) > ex->lim.max_path_bytes)
        return entry_fail(err, NOX_E_LIMIT, entry,
                          "is a symlink whose target is longer than %llu bytes",
                          (unsigned long long)ex->lim.max_path_bytes);
    if (target[0] == '/')
        return entry_fail(err, NOX_E_ARCHIVE, entry,
                          "is a symlink to `%s`, an absolute path; only relative targets "
                          "inside the destination are allowed",
                          Q(qt));
    const char *problem = symlink_target_problem(target, depth - 1);
    if (problem)
        return entry_fail(err, NOX_E_ARCHIVE, entry, "is a symlink to `%s`, %s", Q(qt), problem);

    const char *last;
    _cleanup_close_ int pfd = open_parent(ex, entry, name, true, &last, err);
    if (pfd < 0)
        return pfd;
    for (int attempt = 0;; attempt++) {
        if (symlinkat(target, pfd, last) == 0)
            break;
        if (errno != EEXIST || attempt == 2)
            return entry_fail_errno(err, errno, entry, "cannot be created");
        int r = clear_for_nondir(pfd, last, entry, err);
        if (r < 0)
            return r;
    }
    if (ex->opts && ex->opts->chown) {
        /* Through an O_PATH fd on the link itself, checked to be a symlink,
         * so that a name swapped meanwhile cannot redirect the chown. */
        _cleanup_close_ int fd = openat(pfd, last, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0 ||
            (S_ISLNK(st.st_mode) &&
             fchownat(fd, "", ex->opts->uid, ex->opts->gid, AT_EMPTY_PATH) < 0))
            return entry_fail(err, NOX_E_IO, entry, "cannot be given to %u:%u: %s",
                              (unsigned)ex->opts->uid, (unsigned)ex->opts->gid, strerror(errno));
        if (!S_ISLNK(st.st_mode))
            return entry_fail(err, NOX_E_IO, entry, "was replaced while it was extracted");
    }
    bool has_mtime;
    struct timespec ts[2] = { { 0, UTIME_OMIT }, entry_mtime(e, &has_mtime) };
    if (has_mtime && utimensat(pfd, last, ts, AT_SYMLINK_NOFOLLOW) < 0)
        return entry_fail(err, NOX_E_IO, entry, "cannot be given its time: %s", strerror(errno));
    return 0;
}

static int extract_hardlink(extractor *ex, const char *entry, const char *name,
                            const char *target_raw, nox_error *err)
{
    _cleanup_free_ char *qt = quote(target_raw);
    size_t tlen = strlen(target_raw);
    if (tlen > ex->lim.max_path_bytes)
        return entry_fail(err, NOX_E_LIMIT, entry,
                          "is a hard link whose target is longer than %llu bytes",
                          (unsigned long long)ex->lim.max_path_bytes);
    _cleanup_free_ char *target = malloc(tlen + 1);
    if (!target)
        return nox__error_oom(err);
    size_t tdepth = 0;
    name_problem p = normalize_name(target_raw, target, &tdepth);
    if (p != NAME_OK || tdepth == 0)
        return entry_fail(err, NOX_E_ARCHIVE, entry,
                          "is a hard link to `%s`, which is not an earlier regular file of the "
                          "archive",
                          Q(qt));
    const char *tlast;
    _cleanup_close_ int tfd = open_parent(ex, entry, target, false, &tlast, err);
    if (tfd < 0 && tfd != NOX_E_ARCHIVE)
        return tfd;
    struct stat st;
    if (tfd < 0 || fstatat(tfd, tlast, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
        return entry_fail(err, NOX_E_ARCHIVE, entry,
                          "is a hard link to `%s`, which is not an earlier regular file of the "
                          "archive",
                          Q(qt));
    /* A link to itself: the file is already there. */
    if (strcmp(target, name) == 0)
        return 0;
    const char *last;
    _cleanup_close_ int pfd = open_parent(ex, entry, name, true, &last, err);
    if (pfd < 0)
        return pfd;
    for (int attempt = 0;; attempt++) {
        /* No AT_SYMLINK_FOLLOW: the link is made to the staged file itself,
         * and we checked above that it is a regular file. */
        if (linkat(tfd, tlast, pfd, last, 0) == 0)
            break;
        if (errno == ENOENT)
            return entry_fail(err, NOX_E_ARCHIVE, entry,
                              "is a hard link to `%s`, which is not an earlier regular file of "
                              "the archive",
                              Q(qt));
        if (errno != EEXIST || attempt == 2)
            return entry_fail_errno(err, errno, entry, "cannot be created");
        int r = clear_for_nondir(pfd, last, entry, err);
        if (r < 0)
            return r;
    }
    return 0;
}

static int extract_entry(extractor *ex, struct archive_entry *e, nox_error *err)
{
    const char *raw = archive_entry_pathname(e);
    if (!raw)
        raw = archive_entry_pathname_utf8(e);
    if (!raw)
        return nox__error_set(err, NOX_E_ARCHIVE, "entry %llu has a name that cannot be read",
                              (unsigned long long)ex->entries);
    if (ex->entries > ex->lim.max_entries) {
        _cleanup_free_ char *q = quote(raw);
        return nox__error_set(err, NOX_E_LIMIT,
                              "archive has more than %llu entries (at entry `%s`)",
                              (unsigned long long)ex->lim.max_entries, Q(q));
    }
    size_t len = strlen(raw);
    if (len > ex->lim.max_path_bytes)
        return entry_fail(err, NOX_E_LIMIT, raw, "has a name longer than the limit of %llu bytes",
                          (unsigned long long)ex->lim.max_path_bytes);
    _cleanup_free_ char *name = malloc(len + 1);
    if (!name)
        return nox__error_oom(err);
    size_t depth = 0;
    switch (normalize_name(raw, name, &depth)) {
    case NAME_OK:
        break;
    case NAME_EMPTY:
        return nox__error_set(err, NOX_E_ARCHIVE, "entry %llu has an empty name",
                              (unsigned long long)ex->entries);
    case NAME_ABSOLUTE:
        return entry_fail(err, NOX_E_ARCHIVE, raw, "has an absolute name");
    case NAME_DOTDOT:
        return entry_fail(err, NOX_E_ARCHIVE, raw, "has a `..` component");
    }
    if (depth > MAX_DEPTH)
        return entry_fail(err, NOX_E_LIMIT, raw, "is nested more than %d levels deep", MAX_DEPTH);

    /* Every entry's declared size counts, whatever its type: libarchive
     * decompresses and skips the data of entries we do not write, and that
     * work must be bounded as well. Checked before a byte is written, so a
     * small gzip that expands to a huge entry is stopped at its header. */
    int64_t size = archive_entry_size_is_set(e) ? archive_entry_size(e) : 0;
    if (size < 0)
        size = 0;
    if ((uint64_t)size > ex->lim.max_entry_bytes)
        return entry_fail(err, NOX_E_LIMIT, raw, "is %lld bytes, over the limit of %llu bytes",
                          (long long)size, (unsigned long long)ex->lim.max_entry_bytes);
    if ((uint64_t)size > ex->lim.max_total_bytes - ex->total_bytes)
        return entry_fail(err, NOX_E_LIMIT, raw,
                          "brings the archive over the limit of %llu bytes in all",
                          (unsigned long long)ex->lim.max_total_bytes);
    ex->total_bytes += (uint64_t)size;

    const char *hardlink = archive_entry_hardlink(e);
    if (depth == 0) {
        /* "." or "./": the destination itself. Only its mode and time can
         * come from the archive, applied when everything else is in place. */
        if (hardlink || archive_entry_filetype(e) != AE_IFDIR)
            return entry_fail(err, NOX_E_ARCHIVE, raw,
                              "names the destination itself but is not a directory");
        ex->root_set = true;
        ex->root_mode = entry_mode(e);
        ex->root_mtime = entry_mtime(e, &ex->root_has_mtime);
        return 0;
    }
    if (hardlink)
        return extract_hardlink(ex, raw, name, hardlink, err);
    switch (archive_entry_filetype(e)) {
    case AE_IFREG:
        return extract_file(ex, e, raw, name, size, err);
    case AE_IFDIR:
        return extract_dir(ex, e, raw, name, err);
    case AE_IFLNK:
        return extract_symlink(ex, e, raw, name, depth, err);
    case AE_IFCHR:
        return entry_fail(err, NOX_E_ARCHIVE, raw,
                          "is a character device; devices are not allowed");
    case AE_IFBLK:
        return entry_fail(err, NOX_E_ARCHIVE, raw, "is a block device; devices are not allowed");
    case AE_IFIFO:
        return entry_fail(err, NOX_E_ARCHIVE, raw, "is a fifo; fifos are not allowed");
    case AE_IFSOCK:
        return entry_fail(err, NOX_E_ARCHIVE, raw, "is a socket; sockets are not allowed");
    default:
        return entry_fail(err, NOX_E_ARCHIVE, raw, "has an unsupported type (0%o)",
                          (unsigned)archive_entry_filetype(e));
    }
}

/* Reads the whole archive into the staging directory. */
static int read_archive(extractor *ex, nox_error *err)
{
    ex->a = archive_read_new();
    if (!ex->a)
        return nox__error_oom(err);
    if (archive_read_support_format_tar(ex->a) != ARCHIVE_OK)
        return read_error(ex, err, "set up the tar reader");
    int r = archive_read_support_filter_gzip(ex->a);
    if (r == ARCHIVE_WARN)
        return nox__error_set(err, NOX_E_UNSUPPORTED,
                              "libarchive was built without zlib; gzip needs an external program");
    if (r != ARCHIVE_OK)
        return read_error(ex, err, "set up the gzip reader");
    /* Opening chooses the filters and the format: a plain tar passes (and
     * is refused just below), anything neither gzip nor tar fails here. */
    if (archive_read_open(ex->a, ex, NULL, source_read_cb, NULL) != ARCHIVE_OK) {
        if (ex->src_code)
            return read_error(ex, err, "read archive");
        if (ex->src_bytes == 0)
            return nox__error_set(err, NOX_E_ARCHIVE, "archive is empty: not even a gzip header");
        if (ex->src_bytes < 2 || ex->magic[0] != 0x1f || ex->magic[1] != 0x8b)
            return nox__error_set(err, NOX_E_ARCHIVE, "archive is not gzip-compressed");
        return read_error(ex, err, "read archive");
    }
    if (archive_filter_code(ex->a, 0) != ARCHIVE_FILTER_GZIP)
        return nox__error_set(err, NOX_E_ARCHIVE, "archive is not gzip-compressed");
    for (;;) {
        struct archive_entry *e;
        r = archive_read_next_header(ex->a, &e);
        if (r == ARCHIVE_EOF)
            return 0;
        /* ARCHIVE_WARN is a name in another charset: still usable. RETRY
         * (a damaged header libarchive could skip) is refused like FATAL. */
        if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
            return read_error(ex, err, "read archive");
        ex->entries++;
        r = extract_entry(ex, e, err);
        if (r < 0)
            return r;
    }
}

/* ---- moving the staged tree into place ---- */

static int path_push(nox_buf *path, size_t keep, const char *name, nox_error *err)
{
    path->len = keep;
    if ((keep && nox__buf_append(path, "/", 1) < 0) ||
        nox__buf_append(path, name, strlen(name)) < 0)
        return nox__error_oom(err);
    return 0;
}

static int path_error(nox_error *err, int code, int errnum, const char *what, const nox_buf *path)
{
    _cleanup_free_ char *q = quote(path->len ? path->data : ".");
    if (errnum)
        return nox__error_errno(err, code, errnum, "%s `%s`", what, Q(q));
    return nox__error_set(err, code, "%s `%s`", what, Q(q));
}

/* The mode a directory new in the destination ends with: its entry's, or
 * 0755 for a parent the archive only implied. */
static mode_t dir_final_mode(extractor *ex, const struct stat *staged)
{
    ino_entry *d = ino_map_find(&ex->dirs, staged->st_dev, staged->st_ino);
    return d ? d->mode : 0755;
}

/* Gives a directory the mode and time its entry had; a directory that is
 * new in the destination but had no entry (a parent the archive implied)
 * gets 0755; an existing directory without an entry is left alone. */
static int apply_dir_attrs(extractor *ex, int fd, const struct stat *staged, bool is_new,
                           const nox_buf *path, nox_error *err)
{
    ino_entry *d = ino_map_find(&ex->dirs, staged->st_dev, staged->st_ino);
    if (!d && !is_new)
        return 0;
    if (fchmod(fd, d ? d->mode : 0755) < 0)
        return path_error(err, NOX_E_IO, errno, "chmod", path);
    struct timespec ts[2] = { { 0, UTIME_OMIT }, { 0, UTIME_OMIT } };
    if (d && d->has_mtime) {
        ts[1] = d->mtime;
        if (futimens(fd, ts) < 0)
            return path_error(err, NOX_E_IO, errno, "set the time of", path);
    }
    return 0;
}

/* Applies the final attributes to every directory below staged directory
 * @p fd, children before parents (post-order), so that each time is set
 * after the last change inside. Runs just before the tree is renamed into
 * the destination as a whole. */
static int finalize_tree(extractor *ex, int fd, nox_buf *path, unsigned depth, nox_error *err)
{
    if (depth > MAX_DEPTH)
        return path_error(err, NOX_E_LIMIT, 0, "too deep:", path);
    _cleanup_names_ name_list names = { NULL, 0 };
    int r = read_names(fd, &names);
    if (r < 0)
        return path_error(err, NOX_E_IO, -r, "read staged directory", path);
    size_t keep = path->len;
    for (size_t i = 0; i < names.n; i++) {
        if ((r = path_push(path, keep, names.v[i], err)) < 0)
            return r;
        struct stat st;
        if (fstatat(fd, names.v[i], &st, AT_SYMLINK_NOFOLLOW) < 0)
            return path_error(err, NOX_E_IO, errno, "stat staged", path);
        if (!S_ISDIR(st.st_mode))
            continue;
        _cleanup_close_ int cfd = open_dir_at(fd, names.v[i]);
        if (cfd < 0)
            return path_error(err, NOX_E_IO, errno, "open staged directory", path);
        if ((r = finalize_tree(ex, cfd, path, depth + 1, err)) < 0)
            return r;
        if ((r = apply_dir_attrs(ex, cfd, &st, true, path, err)) < 0)
            return r;
    }
    path->len = keep;
    return 0;
}

static bool dir_is_empty(int dirfd, const char *name)
{
    int fd = open_dir_at(dirfd, name);
    if (fd < 0)
        return false;
    _cleanup_(closedirp) DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return false;
    }
    struct dirent *de;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            return false;
    return true;
}

/* Looks for conflicts the merge would meet before it changes anything, so
 * that an archive refused for one leaves the destination as it was: a
 * staged non-directory where the destination has a non-empty directory, or
 * an entry that would land on the staging directory itself. (Hostile code
 * changing the destination meanwhile can still make the merge fail halfway;
 * it can never make it follow a symlink.) */
static int check_merge(extractor *ex, int sfd, int dfd, nox_buf *path, unsigned depth,
                       nox_error *err)
{
    if (depth > MAX_DEPTH)
        return path_error(err, NOX_E_LIMIT, 0, "too deep:", path);
    _cleanup_names_ name_list names = { NULL, 0 };
    int r = read_names(sfd, &names);
    if (r < 0)
        return path_error(err, NOX_E_IO, -r, "read staged directory", path);
    size_t keep = path->len;
    for (size_t i = 0; i < names.n; i++) {
        const char *name = names.v[i];
        if ((r = path_push(path, keep, name, err)) < 0)
            return r;
        struct stat sst, dst;
        if (fstatat(sfd, name, &sst, AT_SYMLINK_NOFOLLOW) < 0)
            return path_error(err, NOX_E_IO, errno, "stat staged", path);
        if (fstatat(dfd, name, &dst, AT_SYMLINK_NOFOLLOW) < 0) {
            if (errno == ENOENT)
                continue;
            return path_error(err, NOX_E_IO, errno, "stat", path);
        }
        /* Our own staging directory, or that of another extraction into the
         * same place: merging into it would mix two archives, and move
         * this one's symlinks to a depth their targets were not checked
         * for once the other extraction merges them a level up. */
        if (depth == 0 && strncmp(name, STAGING_PREFIX, strlen(STAGING_PREFIX)) == 0)
            return entry_fail(err, NOX_E_ARCHIVE, name,
                              "has the name of a staging directory in the destination");
        if (S_ISDIR(sst.st_mode) && S_ISDIR(dst.st_mode)) {
            _cleanup_close_ int csfd = open_dir_at(sfd, name);
            _cleanup_close_ int cdfd = open_dir_at(dfd, name);
            if (csfd < 0)
                return path_error(err, NOX_E_IO, errno, "open staged directory", path);
            if (cdfd < 0)
                continue; /* changed under us: the merge will see what it is */
            if ((r = check_merge(ex, csfd, cdfd, path, depth + 1, err)) < 0)
                return r;
        } else if (!S_ISDIR(sst.st_mode) && S_ISDIR(dst.st_mode) && !dir_is_empty(dfd, name)) {
            return entry_fail(err, NOX_E_ARCHIVE, path->data,
                              "is not a directory, but the destination has a non-empty "
                              "directory there");
        }
    }
    path->len = keep;
    return 0;
}

static int rename_into_place(int sfd, int dfd, const char *name, const nox_buf *path,
                             nox_error *err)
{
    if (renameat(sfd, name, dfd, name) == 0)
        return 0;
    if (errno == EXDEV)
        return path_error(err, NOX_E_IO, errno,
                          "the staging directory is on another file system than", path);
    return path_error(err, io_code(errno), errno, "move into place", path);
}

/* Moves the contents of staged directory @p sfd into destination directory
 * @p dfd. Nothing in the destination is ever followed: entries are looked
 * at with AT_SYMLINK_NOFOLLOW, directories opened with O_NOFOLLOW, and
 * rename() replaces a final symlink instead of following it. So a symlink
 * planted in the destination (say `sub -> /etc`) is replaced by the
 * archive's `sub/`, never written through. */
static int merge(extractor *ex, int sfd, int dfd, nox_buf *path, unsigned depth, nox_error *err)
{
    if (depth > MAX_DEPTH)
        return path_error(err, NOX_E_LIMIT, 0, "too deep:", path);
    _cleanup_names_ name_list names = { NULL, 0 };
    int r = read_names(sfd, &names);
    if (r < 0)
        return path_error(err, NOX_E_IO, -r, "read staged directory", path);
    size_t keep = path->len;
    for (size_t i = 0; i < names.n; i++) {
        const char *name = names.v[i];
        if ((r = path_push(path, keep, name, err)) < 0)
            return r;
        struct stat sst, dst;
        if (fstatat(sfd, name, &sst, AT_SYMLINK_NOFOLLOW) < 0)
            return path_error(err, NOX_E_IO, errno, "stat staged", path);
        bool dexists = fstatat(dfd, name, &dst, AT_SYMLINK_NOFOLLOW) == 0;
        if (!dexists && errno != ENOENT)
            return path_error(err, NOX_E_IO, errno, "stat", path);

        if (S_ISDIR(sst.st_mode) && dexists && S_ISDIR(dst.st_mode)) {
            _cleanup_close_ int csfd = open_dir_at(sfd, name);
            if (csfd < 0)
                return path_error(err, NOX_E_IO, errno, "open staged directory", path);
            _cleanup_close_ int cdfd = open_dir_at(dfd, name);
            if (cdfd < 0)
                return path_error(err, NOX_E_IO, errno, "open directory", path);
            if ((r = merge(ex, csfd, cdfd, path, depth + 1, err)) < 0)
                return r;
            if ((r = apply_dir_attrs(ex, cdfd, &sst, false, path, err)) < 0)
                return r;
            /* Emptied now; whatever is left goes with the staging dir. */
            (void)unlinkat(sfd, name, AT_REMOVEDIR);
        } else if (S_ISDIR(sst.st_mode)) {
            /* A file or symlink in the way of a directory goes. */
            if (dexists && unlinkat(dfd, name, 0) < 0 && errno != ENOENT)
                return path_error(err, NOX_E_IO, errno, "replace", path);
            _cleanup_close_ int csfd = open_dir_at(sfd, name);
            if (csfd < 0)
                return path_error(err, NOX_E_IO, errno, "open staged directory", path);
            if ((r = finalize_tree(ex, csfd, path, depth + 1, err)) < 0)
                return r;
            /* Moving a directory to another parent needs write permission
             * on it (its ".." changes). When its own mode allows that (or
             * we are root), the mode and time are set before the move, so
             * a process killed right after the move leaves nothing for a
             * recovery to fix (the move changes its ctime, not its mtime).
             * Otherwise it moves still 0700 and gets its own mode after,
             * through the fd that moved with it. */
            bool before = geteuid() == 0 || (dir_final_mode(ex, &sst) & S_IWUSR);
            if (before && (r = apply_dir_attrs(ex, csfd, &sst, true, path, err)) < 0)
                return r;
            if ((r = rename_into_place(sfd, dfd, name, path, err)) < 0)
                return r;
            if (!before && (r = apply_dir_attrs(ex, csfd, &sst, true, path, err)) < 0)
                return r;
        } else {
            if (dexists && S_ISDIR(dst.st_mode) && unlinkat(dfd, name, AT_REMOVEDIR) < 0 &&
                errno != ENOENT) {
                if (errno == ENOTEMPTY || errno == EEXIST)
                    return entry_fail(err, NOX_E_ARCHIVE, path->data,
                                      "is not a directory, but the destination has a non-empty "
                                      "directory there");
                return path_error(err, NOX_E_IO, errno, "replace", path);
            }
            if ((r = rename_into_place(sfd, dfd, name, path, err)) < 0)
                return r;
        }
    }
    path->len = keep;
    return 0;
}

/* ---- the staging directory ---- */

static void random_name(char *buf, size_t n)
{
    static const char chars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    unsigned char rnd[16];
    if (n > sizeof rnd)
        n = sizeof rnd;
    if (getrandom(rnd, n, GRND_NONBLOCK) != (ssize_t)n) {
        /* No entropy yet (early boot): uniqueness is all we need here, and
         * mkdirat's EEXIST retries cover collisions. */
        uint64_t x = (uint64_t)nox__now_mono_ns() ^ ((uint64_t)getpid() << 32);
        for (size_t i = 0; i < n; i++, x = x * 6364136223846793005ull + 1442695040888963407ull)
            rnd[i] = (unsigned char)(x >> 56);
    }
    for (size_t i = 0; i < n; i++)
        buf[i] = chars[rnd[i] % (sizeof chars - 1)];
    buf[n] = '\0';
}

static int staging_create(extractor *ex, nox_error *err)
{
    ex->staging_parent =
        ex->opts && ex->opts->staging_parent_fd >= 0 ? ex->opts->staging_parent_fd : ex->dest_fd;
    for (int attempt = 0;; attempt++) {
        memcpy(ex->staging_name, STAGING_PREFIX, strlen(STAGING_PREFIX));
        random_name(ex->staging_name + strlen(STAGING_PREFIX), 6);
        if (mkdirat(ex->staging_parent, ex->staging_name, 0700) == 0)
            break;
        if (errno != EEXIST || attempt == 100)
            return nox__error_errno(err, io_code(errno), errno, "create staging directory `%s`",
                                    ex->staging_name);
    }
    ex->staging_made = true;
    ex->staging_fd = open_dir_at(ex->staging_parent, ex->staging_name);
    struct stat st, dst;
    if (ex->staging_fd < 0 || fstat(ex->staging_fd, &st) < 0)
        return nox__error_errno(err, NOX_E_IO, errno, "open staging directory `%s`",
                                ex->staging_name);
    ex->staging_dev = st.st_dev;
    ex->staging_ino = st.st_ino;
    /* Held until the staging directory's fd closes: a process killed in
     * the middle of an extraction leaves an unlocked staging directory, and
     * that is how a sweep tells it from one in progress. */
    if (flock(ex->staging_fd, LOCK_EX) < 0)
        return nox__error_errno(err, NOX_E_IO, errno, "lock staging directory `%s`",
                                ex->staging_name);
    /* 0700 whatever the umask. */
    if (fchmod(ex->staging_fd, 0700) < 0)
        return nox__error_errno(err, NOX_E_IO, errno, "chmod staging directory `%s`",
                                ex->staging_name);
    /* Entries are renamed from staging into place, which only works
     * within one file system. */
    if (fstat(ex->dest_fd, &dst) < 0)
        return nox__error_errno(err, NOX_E_IO, errno, "stat the destination");
    if (!S_ISDIR(dst.st_mode))
        return nox__error_set(err, NOX_E_INVALID, "the destination is not a directory");
    if (dst.st_dev != st.st_dev)
        return nox__error_set(err, NOX_E_INVALID,
                              "staging directory `%s` is on another file system than the "
                              "destination",
                              ex->staging_name);
    if (mkdirat(ex->staging_fd, STAGING_TREE, 0700) < 0)
        return nox__error_errno(err, io_code(errno), errno, "create staging directory `%s/%s`",
                                ex->staging_name, STAGING_TREE);
    ex->tree_fd = open_dir_at(ex->staging_fd, STAGING_TREE);
    if (ex->tree_fd < 0)
        return nox__error_errno(err, NOX_E_IO, errno, "open staging directory `%s/%s`",
                                ex->staging_name, STAGING_TREE);
    return 0;
}

/* Removes everything below directory @p fd. Best effort, and fd-based so
 * that a symlink in there is removed, never followed. */
static int remove_contents(int fd, unsigned depth)
{
    if (depth > MAX_DEPTH + 8)
        return -ELOOP;
    _cleanup_names_ name_list names = { NULL, 0 };
    int r = read_names(fd, &names);
    if (r < 0)
        return r;
    for (size_t i = 0; i < names.n; i++) {
        const char *name = names.v[i];
        if (unlinkat(fd, name, 0) == 0 || errno == ENOENT)
            continue;
        if (errno != EISDIR && errno != EPERM)
            r = -errno;
        int cfd = open_dir_at(fd, name);
        if (cfd < 0 && errno == EACCES) {
            /* A directory its entry made unreadable. AT_SYMLINK_NOFOLLOW (done
             * by glibc through an O_PATH fd): should the name have been
             * swapped for a symlink, nothing is followed. */
            if (fchmodat(fd, name, 0700, AT_SYMLINK_NOFOLLOW) == 0)
                cfd = open_dir_at(fd, name);
        }
        if (cfd < 0) {
            r = -errno;
            continue;
        }
        struct stat st;
        if (fstat(cfd, &st) == 0 && (st.st_mode & 0700) != 0700 &&
            fchmod(cfd, st.st_mode | 0700) < 0)
            r = -errno; /* the removal below will likely fail too */
        int cr = remove_contents(cfd, depth + 1);
        close(cfd);
        if (cr < 0)
            r = cr;
        if (unlinkat(fd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
            r = -errno;
    }
    return r;
}

static int staging_remove(extractor *ex)
{
    if (ex->tree_fd >= 0) {
        close(ex->tree_fd);
        ex->tree_fd = -1;
    }
    if (!ex->staging_made)
        return 0;
    int r = 0;
    if (ex->staging_fd >= 0)
        r = remove_contents(ex->staging_fd, 0);
    /* Only the directory we made: if hostile code swapped the name for
     * another directory, leave that alone. Removed before its fd closes,
     * so that its lock is held for as long as it has a name. */
    struct stat st;
    if (fstatat(ex->staging_parent, ex->staging_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        st.st_dev == ex->staging_dev && st.st_ino == ex->staging_ino &&
        unlinkat(ex->staging_parent, ex->staging_name, AT_REMOVEDIR) < 0 && r == 0)
        r = -errno;
    if (ex->staging_fd >= 0) {
        close(ex->staging_fd);
        ex->staging_fd = -1;
    }
    ex->staging_made = false;
    return r;
}

/* ---- the commit record ---- */

/* The commit point. Written into the staging directory once the whole
 * archive was read and checked, just before the destination starts to
 * change: a process that dies after it leaves a merge for
 * nox__extract_recover() to finish, instead of a destination with some
 * entries new and some old for good. It holds what the merge needs besides
 * the staged tree: the final attributes of directories (until the merge
 * applies them they exist only in memory), those of the destination
 * itself, and the caller's label for the destination. Written under a
 * temporary name and renamed, so it is whole or absent. Not fsync'd, like
 * the local backend's metadata (see store.c): what it covers is a process
 * killed, whose writes the page cache keeps. */
static int write_commit(extractor *ex, const char *label, nox_error *err)
{
    _cleanup_buf_ nox_buf b = NOX_BUF_INIT;
    int r = nox__buf_append(&b, COMMIT_MAGIC, strlen(COMMIT_MAGIC));
    if (r == 0)
        r = nox__buf_appendf(&b, "root %d %o %d %lld %ld\n", ex->root_set, (unsigned)ex->root_mode,
                             ex->root_has_mtime, (long long)ex->root_mtime.tv_sec,
                             (long)ex->root_mtime.tv_nsec);
    for (size_t i = 0; r == 0 && i < ex->dirs.cap; i++) {
        const ino_entry *d = &ex->dirs.slots[i];
        if (d->used)
            r = nox__buf_appendf(&b, "dir %llu %o %d %lld %ld\n", (unsigned long long)d->ino,
                                 (unsigned)d->mode, d->has_mtime, (long long)d->mtime.tv_sec,
                                 (long)d->mtime.tv_nsec);
    }
    if (r == 0)
        r = nox__buf_appendf(&b, "label\n%s", label);
    if (r < 0)
        return nox__error_oom(err);
    _cleanup_close_ int fd = openat(ex->staging_fd, STAGING_COMMIT ".tmp",
                                    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 || nox__write_all(fd, b.data, b.len) < 0 ||
        renameat(ex->staging_fd, STAGING_COMMIT ".tmp", ex->staging_fd, STAGING_COMMIT) < 0)
        return nox__error_errno(err, io_code(errno), errno,
                                "write the commit record of staging directory `%s`",
                                ex->staging_name);
    return 0;
}

/* One line of attributes of the commit record: KEY A MODE HAS SEC NSEC,
 * A being an inode number ("dir") or a flag ("root"), MODE octal. */
typedef struct attr_line {
    unsigned long long a;
    unsigned long mode;
    long has;
    long long sec;
    long nsec;
} attr_line;

static bool parse_attr_line(const char *line, const char *key, attr_line *ret)
{
    size_t k = strlen(key);
    if (strncmp(line, key, k) != 0 || line[k] != ' ')
        return false;
    const char *p = line + k;
    char *end;
    errno = 0;
    ret->a = strtoull(p, &end, 10);
    if (end == p || *end != ' ')
        return false;
    ret->mode = strtoul(p = end, &end, 8);
    if (end == p || *end != ' ')
        return false;
    ret->has = strtol(p = end, &end, 10);
    if (end == p || *end != ' ')
        return false;
    ret->sec = strtoll(p = end, &end, 10);
    if (end == p || *end != ' ')
        return false;
    ret->nsec = strtol(p = end, &end, 10);
    return end != p && *end == '\0' && errno == 0 && ret->nsec >= 0 && ret->nsec < 1000000000;
}

/* Reads the commit record of a staging directory back into @p ex (whose
 * staged directories are on device @p dev). 1 and the label when there is
 * one, 0 when there is none (the extraction died before its commit). */
static int read_commit(extractor *ex, dev_t dev, char **ret_label, nox_error *err)
{
    _cleanup_free_ char *text = NULL;
    size_t len = 0;
    if (nox__read_file_at(ex->staging_fd, STAGING_COMMIT, COMMIT_MAX, &text, &len) < 0) {
        if (errno == ENOENT)
            return 0;
        return nox__error_errno(err, NOX_E_IO, errno,
                                "read the commit record of staging directory `%s`",
                                ex->staging_name);
    }
    size_t mlen = strlen(COMMIT_MAGIC);
    char *p = text + mlen, *end = text + len;
    if (len < mlen || memcmp(text, COMMIT_MAGIC, mlen) != 0)
        goto corrupt;
    for (;;) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            goto corrupt;
        *nl = '\0';
        if (strcmp(p, "label") == 0) {
            char *label = strndup(nl + 1, (size_t)(end - nl - 1));
            if (!label)
                return nox__error_oom(err);
            *ret_label = label;
            return 1;
        }
        attr_line al;
        if (parse_attr_line(p, "dir", &al)) {
            ino_entry *d = ino_map_get(&ex->dirs, dev, (ino_t)al.a);
            if (!d)
                return nox__error_oom(err);
            d->mode = (mode_t)al.mode & 07777;
            d->has_mtime = al.has != 0;
            d->mtime = (struct timespec){ (time_t)al.sec, al.nsec };
        } else if (parse_attr_line(p, "root", &al)) {
            ex->root_set = al.a != 0;
            ex->root_mode = (mode_t)al.mode & 07777;
            ex->root_has_mtime = al.has != 0;
            ex->root_mtime = (struct timespec){ (time_t)al.sec, al.nsec };
        } else {
            goto corrupt;
        }
        p = nl + 1;
    }
corrupt:
    return nox__error_set(err, NOX_E_IO, "the commit record of staging directory `%s` is corrupt",
                          ex->staging_name);
}

static int extract_run(extractor *ex, nox_error *err)
{
    int r = staging_create(ex, err);
    if (r < 0)
        return r;
    if ((r = read_archive(ex, err)) < 0)
        return r;
    /* The whole archive was read and every entry accepted. Now, and only
     * now, the destination changes. */
    _cleanup_buf_ nox_buf path = NOX_BUF_INIT;
    if ((r = check_merge(ex, ex->tree_fd, ex->dest_fd, &path, 0, err)) < 0)
        return r;
    if (ex->opts && ex->opts->commit_label &&
        (r = write_commit(ex, ex->opts->commit_label, err)) < 0)
        return r;
    path.len = 0;
    return merge(ex, ex->tree_fd, ex->dest_fd, &path, 0, err);
}

/* The mode and time of a "./" entry go to the destination itself, last of
 * all: removing a staging directory made inside it changes its time. */
static int apply_root_attrs(extractor *ex, nox_error *err)
{
    if (!ex->root_set)
        return 0;
    if (fchmod(ex->dest_fd, ex->root_mode) < 0)
        return nox__error_errno(err, NOX_E_IO, errno, "chmod the destination");
    struct timespec ts[2] = { { 0, UTIME_OMIT }, ex->root_mtime };
    if (ex->root_has_mtime && futimens(ex->dest_fd, ts) < 0)
        return nox__error_errno(err, NOX_E_IO, errno, "set the time of the destination");
    return 0;
}

int nox__extract(nox_source *src, int dest_fd, const nox_extract_opts *opts,
                 nox_extract_stats *ret_stats, nox_error *err)
{
    if (!src || dest_fd < 0)
        return nox__error_set(err, NOX_E_INVALID, "extract: source and destination are required");
    extractor ex = {
        .opts = opts,
        .src = src,
        .dest_fd = dest_fd,
        .staging_fd = -1,
        .tree_fd = -1,
        .cache_fd = -1,
    };
    if (opts)
        ex.lim = opts->limits;
    nox__extract_limits_fill(&ex.lim);
    ex.inbuf = malloc(INPUT_BYTES);
    if (!ex.inbuf)
        return nox__error_oom(err);

    locale_t loc = utf8_locale_new();
    locale_t old = locale_enter(loc);
    int r = extract_run(&ex, err);
    if (ex.a)
        archive_read_free(ex.a);
    locale_leave(old);
    if (loc)
        freelocale(loc);

    if (ex.cache_fd >= 0)
        close(ex.cache_fd);
    free(ex.cache_path);
    /* On failure and on success alike: after a merge, what is left in
     * staging is only emptied directories. */
    int rr = staging_remove(&ex);
    if (r == 0 && rr < 0)
        r = nox__error_errno(err, NOX_E_IO, -rr, "remove staging directory `%s`", ex.staging_name);
    if (r == 0)
        r = apply_root_attrs(&ex, err);
    ino_map_free(&ex.dirs);
    nox_error_clear(&ex.src_err);
    free(ex.inbuf);
    if (r < 0)
        return r;
    if (ret_stats) {
        ret_stats->entries = ex.entries;
        ret_stats->files = ex.files;
        ret_stats->bytes = ex.file_bytes;
    }
    return 0;
}

int nox__extract_recover(int parent_fd, const char *name, bool remove_uncommitted,
                         nox_extract_dest_fn open_dest, void *userdata, nox_error *err)
{
    extractor ex = {
        .dest_fd = -1,
        .staging_parent = parent_fd,
        .staging_fd = -1,
        .tree_fd = -1,
        .cache_fd = -1,
    };
    size_t plen = strlen(STAGING_PREFIX);
    if (strncmp(name, STAGING_PREFIX, plen) != 0 || strlen(name) >= sizeof ex.staging_name)
        return 0;
    memcpy(ex.staging_name, name, strlen(name) + 1);
    ex.staging_fd = open_dir_at(parent_fd, name);
    if (ex.staging_fd < 0)
        return errno == ENOENT
                   ? 0
                   : nox__error_errno(err, NOX_E_IO, errno, "open staging directory `%s`", name);
    /* Locked: an extraction still running, or another process recovering
     * this one. Unlocked but no longer at its name: recovered and removed
     * by another process while we opened it. */
    struct stat st, cur;
    if (flock(ex.staging_fd, LOCK_EX | LOCK_NB) < 0 || fstat(ex.staging_fd, &st) < 0 ||
        fstatat(parent_fd, name, &cur, AT_SYMLINK_NOFOLLOW) < 0 || st.st_dev != cur.st_dev ||
        st.st_ino != cur.st_ino) {
        close(ex.staging_fd);
        return 0;
    }
    ex.staging_made = true;
    ex.staging_dev = st.st_dev;
    ex.staging_ino = st.st_ino;
    _cleanup_free_ char *label = NULL;
    int r = read_commit(&ex, st.st_dev, &label, err);
    if (r == 0 && !remove_uncommitted) {
        close(ex.staging_fd);
        ino_map_free(&ex.dirs);
        return 0;
    }
    if (r == 1) {
        /* Committed: roll forward. The merge resumes where it stopped:
         * what moved is no longer in the tree, a directory merged half
         * way is merged again, attributes are applied again. */
        r = open_dest(userdata, label, &ex.dest_fd, err);
        if (r == 0 && (ex.tree_fd = open_dir_at(ex.staging_fd, STAGING_TREE)) < 0 &&
            errno != ENOENT)
            r = nox__error_errno(err, NOX_E_IO, errno, "open staging directory `%s/%s`", name,
                                 STAGING_TREE);
        _cleanup_buf_ nox_buf path = NOX_BUF_INIT;
        if (r == 0 && ex.tree_fd >= 0)
            r = merge(&ex, ex.tree_fd, ex.dest_fd, &path, 0, err);
        if (r == 0)
            r = 2;
    } else if (r == 0) {
        r = 1;
    }
    /* Finished, never committed, or a merge that cannot be finished (the
     * destination was changed in its way, as when a live merge fails): the
     * staging directory goes. Where even that fails (a read-only file
     * system), it stays, and the next recovery tries again. */
    int rr = staging_remove(&ex);
    if (r > 0 && rr < 0)
        r = nox__error_errno(err, NOX_E_IO, -rr, "remove staging directory `%s`", name);
    if (r == 2) {
        int ar = apply_root_attrs(&ex, err);
        if (ar < 0)
            r = ar;
    }
    if (ex.dest_fd >= 0)
        close(ex.dest_fd);
    ino_map_free(&ex.dirs);
    return r;
}
