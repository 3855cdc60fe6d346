/* SPDX-License-Identifier: MIT */
/* libFuzzer target for the tar.gz writer over a directory tree
 * (nox__tar_from_fd) and the round trip through the extractor
 * (nox__extract): what we write, we must read back unchanged.
 *
 * The input is a small program (flags, gzip level, operation count, the
 * operations, then times: see build()) that builds a tree in a fresh temporary
 * directory: regular files (sizes up to just past the writer's 256 KiB
 * chunk, holes included), directories (nested a few levels), symlinks,
 * hard links and fifos, with names of arbitrary bytes (UTF-8 or not, short
 * or past tar's 100-byte name field), modes and mtimes. The tree is written
 * as tar.gz and the stream extracted, as it is pulled, into a second
 * directory, which must then equal the first: the same names, types,
 * contents, symlink targets, hard-link groups, modes (less setuid/setgid,
 * which extraction strips) and mtimes (seconds: pax "restricted" only
 * stores fractions when it needs an extended header anyway); fifos are
 * skipped by the writer and so absent. Symlink targets are mostly ones the
 * extractor accepts; some are raw bytes, and then extraction may refuse the
 * archive, but only as NOX_E_ARCHIVE and without leaving anything behind.
 * Bit 0 of the first byte instead archives one regular file under a member
 * name made of several components. Bit 1 extracts as root does for a
 * sandbox user (every entry given to FUZZ_UID:FUZZ_GID; only when running
 * as root), bit 2 stages in a separate directory instead of inside the
 * destination, which must be left empty.
 *
 * Run it with TMPDIR on a tmpfs (TMPDIR=/dev/shm): every run makes and
 * removes two trees, several times faster there than on a disk. With
 * NOX_FUZZ_KEEP=1 set, the trees of each run are kept and named on stderr. */
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "stream.h"
#include "tarball.h"

/* The tree is bounded by the counts below, not by the input; longer
 * inputs add nothing. */
#define FUZZ_MAX_INPUT 4096
#define MAX_OPS        32
#define MAX_DIRS       12
#define MAX_FILES      16
#define MAX_TREE_DEPTH 5
#define BIG_FILE_BYTES (256 * 1024 + 300) /* just past the writer's chunk */
#define MAX_NODES      64
#define FUZZ_UID       4242
#define FUZZ_GID       4343

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);               \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- reading the input ---- */

typedef struct reader {
    const uint8_t *p;
    size_t n;
} reader;

static uint8_t byte(reader *r)
{
    if (!r->n)
        return 0;
    r->n--;
    return *r->p++;
}

static uint16_t u16(reader *r)
{
    return (uint16_t)(byte(r) | byte(r) << 8);
}

/* A name of arbitrary bytes, never "", ".", "..", nor containing '/' or
 * NUL; mostly short, sometimes past the 100 bytes of a ustar name. */
static void gen_name(reader *r, char *out)
{
    uint8_t l = byte(r);
    size_t len = l >= 240 ? 100 + (size_t)byte(r) % 150 : 1 + l % 12;
    for (size_t i = 0; i < len; i++) {
        uint8_t c = r->n ? byte(r) : (uint8_t)('a' + i % 26);
        if (c == '/' || c == '\0')
            c = '_';
        out[i] = (char)c;
    }
    out[len] = '\0';
    if (strcmp(out, ".") == 0 || strcmp(out, "..") == 0) {
        out[len] = 'x';
        out[len + 1] = '\0';
    }
}

/* Appends @p s to the string in @p dst of @p cap bytes; false when full. */
static bool append(char *dst, size_t cap, const char *s)
{
    size_t have = strlen(dst), n = strlen(s);
    if (have + n + 1 > cap)
        return false;
    memcpy(dst + have, s, n + 1);
    return true;
}

/* ---- building the tree ---- */

typedef struct dir_info {
    int fd;
    char *path; /* relative to the tree's root, "" for the root */
    size_t depth;
} dir_info;

typedef struct node {
    char *path; /* relative, for mtimes */
} node;

typedef struct tree {
    int root_fd;
    dir_info dirs[MAX_DIRS];
    size_t n_dirs;
    char *files[MAX_FILES]; /* regular files, for hard links */
    size_t n_files;
    node nodes[MAX_NODES];
    size_t n_nodes;
    bool may_refuse; /* a raw symlink target the extractor may refuse */
    char buf[BIG_FILE_BYTES];
} tree;

static char *join(const char *dir, const char *name)
{
    char *p = *dir ? nox__asprintf("%s/%s", dir, name) : strdup(name);
    CHECK(p);
    return p;
}

static void add_node(tree *t, char *path)
{
    if (t->n_nodes < MAX_NODES)
        t->nodes[t->n_nodes++].path = path;
    else
        free(path);
}

static void make_file(tree *t, reader *r, dir_info *d, const char *name)
{
    uint8_t cls = byte(r);
    size_t size;
    if (cls < 200)
        size = cls % 64;
    else if (cls < 252)
        size = u16(r);
    else
        size = BIG_FILE_BYTES - cls % 4;
    uint8_t seed = byte(r), step = byte(r) | 1;
    mode_t mode = (mode_t)(u16(r) & 07777) | 0400;
    int fd = openat(d->fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return; /* the name is taken */
    bool hole = seed & 1 && size > 0;
    if (hole) {
        /* A hole with one byte at the end: the writer reads zeros. */
        CHECK(pwrite(fd, &seed, 1, (off_t)size - 1) == 1);
    } else {
        for (size_t i = 0; i < size; i++)
            t->buf[i] = (char)(seed + i * step);
        CHECK(nox__write_all(fd, t->buf, size) == 0);
    }
    CHECK(fchmod(fd, mode) == 0);
    close(fd);
    char *path = join(d->path, name);
    if (t->n_files < MAX_FILES)
        t->files[t->n_files++] = strdup(path);
    add_node(t, path);
}

static void make_dir(tree *t, reader *r, dir_info *d, const char *name)
{
    mode_t mode = (mode_t)(u16(r) & 07777) | 0700;
    if (d->depth >= MAX_TREE_DEPTH || t->n_dirs >= MAX_DIRS)
        return;
    if (mkdirat(d->fd, name, 0700) < 0)
        return;
    int fd = openat(d->fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    CHECK(fd >= 0);
    CHECK(fchmod(fd, mode) == 0);
    char *path = join(d->path, name);
    size_t depth = d->depth + 1;
    t->dirs[t->n_dirs++] = (dir_info){ fd, path, depth };
    add_node(t, strdup(path));
}

static void make_symlink(tree *t, reader *r, dir_info *d, const char *name)
{
    char target[2048] = "";
    uint8_t kind = byte(r);
    if (kind < 224) {
        /* Inside the tree: leading ".." no higher than the root, then
         * names (which may or may not exist) and ".". */
        size_t ups = d->depth ? byte(r) % (d->depth + 1) : 0;
        for (size_t i = 0; i < ups; i++)
            append(target, sizeof target, "../");
        size_t comps = byte(r) % 4;
        for (size_t i = 0; i < comps; i++) {
            char comp[256] = ".";
            if (byte(r) % 8 != 0)
                gen_name(r, comp);
            if (!append(target, sizeof target, comp) ||
                (i + 1 < comps && !append(target, sizeof target, "/")))
                break;
        }
        if (!*target)
            append(target, sizeof target, ".");
    } else {
        /* Raw bytes: absolute, escaping, anything. */
        size_t len = 1 + byte(r) % 64;
        for (size_t i = 0; i < len; i++) {
            uint8_t c = byte(r);
            target[i] = (char)(c ? c : '/');
        }
        target[len] = '\0';
        t->may_refuse = true;
    }
    if (symlinkat(target, d->fd, name) < 0)
        return;
    add_node(t, join(d->path, name));
}

static void make_hardlink(tree *t, reader *r, dir_info *d, const char *name)
{
    if (!t->n_files)
        return;
    const char *target = t->files[byte(r) % t->n_files];
    if (linkat(t->root_fd, target, d->fd, name, 0) < 0)
        return;
    add_node(t, join(d->path, name));
}

static void build(tree *t, reader *r)
{
    size_t n_ops = byte(r) % (MAX_OPS + 1);
    for (size_t op = 0; op < n_ops && r->n; op++) {
        uint8_t what = byte(r);
        dir_info *d = &t->dirs[byte(r) % t->n_dirs];
        char name[256];
        gen_name(r, name);
        switch (what % 8) {
        case 0:
        case 1:
        case 2:
            make_file(t, r, d, name);
            break;
        case 3:
        case 4:
            make_dir(t, r, d, name);
            break;
        case 5:
            make_symlink(t, r, d, name);
            break;
        case 6:
            make_hardlink(t, r, d, name);
            break;
        case 7:
            /* Skipped by the writer: must not appear in the copy. */
            (void)mkfifoat(d->fd, name, 0600);
            break;
        }
    }
    /* Times last: creating entries changes their directory's mtime. */
    for (size_t i = 0; i < t->n_nodes; i++) {
        int32_t sec = (int32_t)((uint32_t)u16(r) << 16 | u16(r));
        struct timespec ts[2] = { { 0, UTIME_OMIT }, { sec, (long)(u16(r) % 1000) * 1000000 } };
        CHECK(utimensat(t->root_fd, t->nodes[i].path, ts, AT_SYMLINK_NOFOLLOW) == 0);
    }
}

static void tree_free(tree *t)
{
    for (size_t i = 0; i < t->n_dirs; i++) {
        if (i > 0)
            close(t->dirs[i].fd);
        free(t->dirs[i].path);
    }
    for (size_t i = 0; i < t->n_files; i++)
        free(t->files[i]);
    for (size_t i = 0; i < t->n_nodes; i++)
        free(t->nodes[i].path);
}

/* How this run extracts (bits 1 and 2 of the first byte). */
static struct {
    bool chown;
    int staging_fd; /* -1: inside the destination */
} g_run;

static void check_owner(const struct stat *st)
{
    if (g_run.chown)
        CHECK(st->st_uid == FUZZ_UID && st->st_gid == FUZZ_GID);
}

/* ---- comparing ---- */

typedef struct listing {
    char **v;
    size_t n;
} listing;

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names in @p fd, without fifos when @p skip_fifos. */
static listing list_dir(int fd, bool skip_fifos)
{
    int dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHECK(dfd >= 0);
    DIR *d = fdopendir(dfd);
    CHECK(d);
    listing l = { NULL, 0 };
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        struct stat st;
        CHECK(fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0);
        if (skip_fifos && S_ISFIFO(st.st_mode))
            continue;
        l.v = realloc(l.v, (l.n + 1) * sizeof *l.v);
        CHECK(l.v);
        l.v[l.n] = strdup(de->d_name);
        CHECK(l.v[l.n]);
        l.n++;
    }
    closedir(d);
    if (l.n > 1)
        qsort(l.v, l.n, sizeof *l.v, cmp_str);
    return l;
}

static void listing_free(listing *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
}

/* Regular files seen so far, by inode in each tree, for hard links. */
typedef struct inode_pair {
    ino_t orig, copy;
} inode_pair;

typedef struct compare_state {
    inode_pair seen[MAX_NODES * 2];
    size_t n_seen;
    char *a, *b; /* file contents */
} compare_state;

static void compare_links(compare_state *cs, ino_t orig, ino_t copy)
{
    /* Two names share an inode in the copy exactly when they do in the
     * original. */
    for (size_t i = 0; i < cs->n_seen; i++)
        CHECK((cs->seen[i].orig == orig) == (cs->seen[i].copy == copy));
    CHECK(cs->n_seen < NOX_ARRAY_SIZE(cs->seen));
    cs->seen[cs->n_seen++] = (inode_pair){ orig, copy };
}

static void compare_file(compare_state *cs, int ofd, int cfd, const char *name,
                         const struct stat *ost)
{
    int a = openat(ofd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    int b = openat(cfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    CHECK(a >= 0 && b >= 0);
    size_t n = (size_t)ost->st_size;
    CHECK(n <= BIG_FILE_BYTES);
    CHECK(nox__read_full(a, cs->a, n) == (ssize_t)n);
    CHECK(nox__read_full(b, cs->b, n) == (ssize_t)n);
    CHECK(memcmp(cs->a, cs->b, n) == 0);
    close(a);
    close(b);
}

static void compare_dir(compare_state *cs, int ofd, int cfd, unsigned depth)
{
    CHECK(depth <= MAX_TREE_DEPTH + 1);
    listing lo = list_dir(ofd, true), lc = list_dir(cfd, false);
    if (lo.n != lc.n)
        fprintf(stderr, "%zu entries in the original, %zu in the copy\n", lo.n, lc.n);
    CHECK(lo.n == lc.n);
    for (size_t i = 0; i < lo.n; i++) {
        const char *name = lo.v[i];
        CHECK(strcmp(name, lc.v[i]) == 0);
        struct stat os, cst;
        CHECK(fstatat(ofd, name, &os, AT_SYMLINK_NOFOLLOW) == 0);
        CHECK(fstatat(cfd, name, &cst, AT_SYMLINK_NOFOLLOW) == 0);
        CHECK((os.st_mode & S_IFMT) == (cst.st_mode & S_IFMT));
        CHECK(os.st_mtim.tv_sec == cst.st_mtim.tv_sec);
        check_owner(&cst);
        if (!S_ISLNK(os.st_mode))
            CHECK((os.st_mode & 07777 & ~(mode_t)(S_ISUID | S_ISGID)) == (cst.st_mode & 07777));
        if (S_ISREG(os.st_mode)) {
            CHECK(os.st_size == cst.st_size);
            compare_file(cs, ofd, cfd, name, &os);
            compare_links(cs, os.st_ino, cst.st_ino);
        } else if (S_ISLNK(os.st_mode)) {
            char ta[4096], tb[4096];
            ssize_t na = readlinkat(ofd, name, ta, sizeof ta);
            ssize_t nb = readlinkat(cfd, name, tb, sizeof tb);
            CHECK(na > 0 && na == nb && memcmp(ta, tb, (size_t)na) == 0);
        } else if (S_ISDIR(os.st_mode)) {
            int co = openat(ofd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            int cc = openat(cfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            CHECK(co >= 0 && cc >= 0);
            compare_dir(cs, co, cc, depth + 1);
            close(co);
            close(cc);
        } else {
            CHECK(!"unexpected file type in the copy");
        }
    }
    listing_free(&lo);
    listing_free(&lc);
}

/* ---- temporary directories ---- */

static int open_up(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_D || flag == FTW_DNR)
        chmod(path, 0700);
    return 0;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_DP)
        rmdir(path);
    else
        unlink(path);
    return 0;
}

static void remove_tree(const char *dir)
{
    nftw(dir, open_up, 16, FTW_PHYS);
    nftw(dir, remove_one, 16, FTW_PHYS | FTW_DEPTH);
}

static size_t count_entries(int fd)
{
    listing l = list_dir(fd, false);
    size_t n = l.n;
    listing_free(&l);
    return n;
}

static int make_dir_in(const char *box, const char *name)
{
    char *p = nox__asprintf("%s/%s", box, name);
    CHECK(p && mkdir(p, 0700) == 0);
    int fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHECK(fd >= 0);
    free(p);
    return fd;
}

/* ---- one run ---- */

static int extract(nox_source *src, int dest_fd, nox_error *err)
{
    nox_extract_opts opts;
    memset(&opts, 0, sizeof opts);
    opts.limits.max_entries = 1000;
    opts.limits.max_entry_bytes = 1u << 20;
    opts.limits.max_total_bytes = 16u << 20;
    opts.limits.max_path_bytes = 4096;
    opts.chown = g_run.chown;
    opts.uid = FUZZ_UID;
    opts.gid = FUZZ_GID;
    opts.staging_parent_fd = g_run.staging_fd;
    nox_extract_stats st;
    int r = nox__extract(src, dest_fd, &opts, &st, err);
    /* The staging directory goes, whatever happened. */
    if (g_run.staging_fd >= 0)
        CHECK(count_entries(g_run.staging_fd) == 0);
    return r;
}

/* Bit 0 set: one regular file, archived under a name of a few components. */
static void single_file(tree *t, reader *r, int dest_fd, int gzip_level)
{
    if (!t->n_files)
        return;
    const char *file = t->files[0];
    char member[1024] = "";
    size_t comps = 1 + byte(r) % 3;
    for (size_t i = 0; i < comps; i++) {
        char comp[256];
        gen_name(r, comp);
        comp[32] = '\0';
        append(member, sizeof member, comp);
        if (i + 1 < comps)
            append(member, sizeof member, "/");
    }
    int fd = openat(t->root_fd, file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    CHECK(fd >= 0);
    nox_error *err = nox_error_new();
    nox_source *src = NULL;
    CHECK(nox__tar_from_fd(fd, member, gzip_level, 0, &src, err) == 0);
    int r2 = extract(src, dest_fd, err);
    if (r2 < 0)
        fprintf(stderr, "extract: %s\n", nox_error_message(err));
    CHECK(r2 == 0);
    nox__source_free(src);

    struct stat os, cst;
    CHECK(fstatat(t->root_fd, file, &os, 0) == 0);
    CHECK(fstatat(dest_fd, member, &cst, AT_SYMLINK_NOFOLLOW) == 0);
    CHECK(S_ISREG(cst.st_mode) && cst.st_size == os.st_size);
    check_owner(&cst);
    /* The directories the member name implies: made 0755, and owned like
     * the rest. */
    for (char *slash = strchr(member, '/'); slash; slash = strchr(slash + 1, '/')) {
        *slash = '\0';
        struct stat dst;
        CHECK(fstatat(dest_fd, member, &dst, AT_SYMLINK_NOFOLLOW) == 0);
        CHECK(S_ISDIR(dst.st_mode) && (dst.st_mode & 07777) == 0755);
        check_owner(&dst);
        *slash = '/';
    }
    CHECK((os.st_mode & 07777 & ~(mode_t)(S_ISUID | S_ISGID)) == (cst.st_mode & 07777));
    int a = openat(t->root_fd, file, O_RDONLY | O_CLOEXEC);
    int b = openat(dest_fd, member, O_RDONLY | O_CLOEXEC);
    CHECK(a >= 0 && b >= 0);
    static char bufa[BIG_FILE_BYTES], bufb[BIG_FILE_BYTES];
    size_t n = (size_t)os.st_size;
    CHECK(nox__read_full(a, bufa, n) == (ssize_t)n && nox__read_full(b, bufb, n) == (ssize_t)n);
    CHECK(memcmp(bufa, bufb, n) == 0);
    close(a);
    close(b);
    nox_error_free(err);
}

static void whole_tree(tree *t, int dest_fd, int gzip_level)
{
    nox_error *err = nox_error_new();
    CHECK(err);
    int fd = openat(t->root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHECK(fd >= 0);
    nox_source *src = NULL;
    int r = nox__tar_from_fd(fd, NULL, gzip_level, 0, &src, err);
    if (r < 0)
        fprintf(stderr, "tar_from_fd: %s\n", nox_error_message(err));
    CHECK(r == 0);
    r = extract(src, dest_fd, err);
    nox__source_free(src);
    if (r < 0) {
        /* Only a raw symlink target may be refused, and nothing is left. */
        if (!t->may_refuse || r != NOX_E_ARCHIVE)
            fprintf(stderr, "extract: %s\n", nox_error_message(err));
        CHECK(t->may_refuse && r == NOX_E_ARCHIVE);
        CHECK(strstr(nox_error_message(err), "symlink"));
        CHECK(count_entries(dest_fd) == 0);
    } else {
        static char bufa[BIG_FILE_BYTES], bufb[BIG_FILE_BYTES];
        compare_state cs = { .a = bufa, .b = bufb };
        compare_dir(&cs, t->root_fd, dest_fd, 0);
    }
    nox_error_free(err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2 || size > FUZZ_MAX_INPUT)
        return 0;
    reader r = { data, size };
    uint8_t flags = byte(&r);
    int gzip_level = byte(&r) % 10;

    const char *tmp = getenv("TMPDIR");
    char *box = nox__asprintf("%s/nox-fuzz-tar-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    CHECK(box && mkdtemp(box));
    static tree t;
    memset(&t, 0, offsetof(tree, buf));
    t.root_fd = make_dir_in(box, "orig");
    int dest_fd = make_dir_in(box, "copy");
    t.dirs[0] = (dir_info){ t.root_fd, strdup(""), 0 };
    t.n_dirs = 1;
    g_run.chown = (flags & 2) && geteuid() == 0;
    g_run.staging_fd = flags & 4 ? make_dir_in(box, "stage") : -1;

    build(&t, &r);
    if (flags & 1)
        single_file(&t, &r, dest_fd, gzip_level);
    else
        whole_tree(&t, dest_fd, gzip_level);

    tree_free(&t);
    close(t.root_fd);
    close(dest_fd);
    if (g_run.staging_fd >= 0)
        close(g_run.staging_fd);
    /* NOX_FUZZ_KEEP=1 leaves both trees for a look, when reproducing. */
    if (getenv("NOX_FUZZ_KEEP"))
        fprintf(stderr, "kept %s\n", box);
    else
        remove_tree(box);
    free(box);
    return 0;
}
