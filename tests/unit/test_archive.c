/* SPDX-License-Identifier: MIT */
/* Tests of the archive module: the tar.gz writers (pull sources) and the
 * safe extractor.
 *
 * Hostile archives are built here with libarchive's write API, entry by
 * entry, so that they hold exactly what an attacker would send. Every
 * refusal is checked the same way (expect_refused): the code, a message
 * naming the entry, a canary outside the destination unchanged, the
 * destination's listing unchanged and no staging directory left behind.
 * The tests run as root on the CI machine, so every attack aims at a canary
 * this test made in its own temporary directory, never at a system path. */
#include "testutil.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "tarball.h"
#include "error.h"
#include "stream.h"

#define MiB (1024u * 1024u)
/* UTF-8, as any tool writes it; and a Latin-1 byte that is not UTF-8. */
#define UNICODE_NAME "héllo-ünicøde.txt"
#define LATIN1_NAME  "lat\xe9.txt"

/* ==== environment: a temp dir with a destination and canaries ==== */

typedef struct env {
    char *root;        /* the test's own temporary directory */
    char *dest;        /* root/a/dest, pre-populated */
    char *canary_dir;  /* root/canary_dir, holding "canary" */
    char *canary_file; /* root/canary_file */
    int dest_fd;
} env;

static void write_str(const char *path, const char *s)
{
    nox_test_write_file(path, s, strlen(s));
}

static void write_in(const char *dir, const char *rel, const char *s)
{
    char *p = nox_test_strf("%s/%s", dir, rel);
    write_str(p, s);
    free(p);
}

static int env_setup(void **state)
{
    env *e = calloc(1, sizeof *e);
    assert_non_null(e);
    e->root = nox_test_mkdtemp("archive");
    char *a = nox_test_strf("%s/a", e->root);
    assert_int_equal(mkdir(a, 0755), 0);
    free(a);
    e->dest = nox_test_strf("%s/a/dest", e->root);
    assert_int_equal(mkdir(e->dest, 0755), 0);
    e->canary_dir = nox_test_strf("%s/canary_dir", e->root);
    char *c = nox_test_strf("%s/canary", e->canary_dir);
    write_str(c, "canary");
    free(c);
    e->canary_file = nox_test_strf("%s/canary_file", e->root);
    write_str(e->canary_file, "canary file");
    char *p = nox_test_strf("%s/existing.txt", e->dest);
    write_str(p, "old");
    free(p);
    p = nox_test_strf("%s/sub/keep.txt", e->dest);
    write_str(p, "keep");
    free(p);
    e->dest_fd = open(e->dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(e->dest_fd >= 0);
    *state = e;
    return 0;
}

static int env_teardown(void **state)
{
    env *e = *state;
    close(e->dest_fd);
    nox_test_rmtree(e->root);
    free(e->root);
    free(e->dest);
    free(e->canary_dir);
    free(e->canary_file);
    free(e);
    return 0;
}

static char *path_in(const char *dir, const char *rel)
{
    return nox_test_strf("%s/%s", dir, rel);
}

static void mkdir_in(const char *dir, const char *rel, mode_t mode)
{
    char *p = path_in(dir, rel);
    assert_int_equal(mkdir(p, mode), 0);
    free(p);
}

static char *read_in(const char *dir, const char *rel)
{
    char *p = path_in(dir, rel);
    char *d = nox_test_read_file(p, NULL);
    free(p);
    return d;
}

static struct stat lstat_in(const char *dir, const char *rel)
{
    struct stat st;
    char *p = path_in(dir, rel);
    if (lstat(p, &st) < 0)
        fail_msg("lstat `%s`: %s", p, strerror(errno));
    free(p);
    return st;
}

static bool exists_in(const char *dir, const char *rel)
{
    char *p = path_in(dir, rel);
    bool r = nox_test_exists(p);
    free(p);
    return r;
}

/* ---- listings: a tree as sorted text lines, to compare before/after ---- */

static char **g_lines;
static size_t g_n, g_cap, g_prefix;

static uint64_t fnv(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
    return h;
}

static int list_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)flag;
    if (ftw->level == 0)
        return 0; /* the root itself: staging inside it changes its time */
    const char *rel = path + g_prefix;
    unsigned mode = st->st_mode & 07777 & ~(unsigned)(S_ISUID | S_ISGID);
    char *line = NULL;
    if (S_ISDIR(st->st_mode)) {
        line = nox_test_strf("%s d %o", rel, mode);
    } else if (S_ISLNK(st->st_mode)) {
        char target[4096];
        ssize_t n = readlink(path, target, sizeof target - 1);
        assert_true(n >= 0);
        target[n] = '\0';
        line = nox_test_strf("%s l %s %lld", rel, target, (long long)st->st_mtime);
    } else if (S_ISREG(st->st_mode)) {
        size_t len = 0;
        char *data = nox_test_read_file(path, &len);
        assert_non_null(data);
        line =
            nox_test_strf("%s f %o %zu %lld %016llx n%lu", rel, mode, len, (long long)st->st_mtime,
                          (unsigned long long)fnv(data, len), (unsigned long)st->st_nlink);
        free(data);
    } else {
        return 0; /* fifos and sockets are not archived */
    }
    if (g_n == g_cap) {
        g_cap = g_cap ? g_cap * 2 : 64;
        char **more = realloc(g_lines, g_cap * sizeof *g_lines);
        assert_non_null(more);
        g_lines = more;
    }
    g_lines[g_n++] = line;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *listing(const char *dir)
{
    g_lines = NULL;
    g_n = g_cap = 0;
    g_prefix = strlen(dir) + 1;
    if (nftw(dir, list_cb, 32, FTW_PHYS) < 0)
        fail_msg("nftw `%s`: %s", dir, strerror(errno));
    if (g_n > 1)
        qsort(g_lines, g_n, sizeof *g_lines, cmp_str);
    size_t total = 1;
    for (size_t i = 0; i < g_n; i++)
        total += strlen(g_lines[i]) + 1;
    char *out = calloc(1, total);
    assert_non_null(out);
    size_t len = 0;
    for (size_t i = 0; i < g_n; i++) {
        size_t n = strlen(g_lines[i]);
        memcpy(out + len, g_lines[i], n);
        out[len + n] = '\n';
        len += n + 1;
        free(g_lines[i]);
    }
    free(g_lines);
    g_lines = NULL;
    return out;
}

/* No ".nox-extract-*" left in @p dir. */
static void assert_no_staging(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *de;
    while ((de = readdir(d)))
        if (strncmp(de->d_name, ".nox-extract-", 13) == 0)
            fail_msg("staging directory `%s` left in `%s`", de->d_name, dir);
    closedir(d);
}

/* ==== building archives entry by entry ==== */

enum { TB_PAX_GZ, TB_GNU_GZ, TB_USTAR_GZ, TB_PAX_PLAIN, TB_PAX_COMPRESS };

typedef struct tb {
    struct archive *a;
    char *data;
    size_t len, cap;
} tb;

static la_ssize_t tb_write_cb(struct archive *a, void *ud, const void *p, size_t n)
{
    (void)a;
    tb *t = ud;
    if (t->len + n > t->cap) {
        t->cap = (t->len + n) * 2;
        t->data = realloc(t->data, t->cap);
        assert_non_null(t->data);
    }
    memcpy(t->data + t->len, p, n);
    t->len += n;
    return (la_ssize_t)n;
}

static tb *tb_new(int kind)
{
    tb *t = calloc(1, sizeof *t);
    assert_non_null(t);
    t->a = archive_write_new();
    assert_non_null(t->a);
    if (kind == TB_GNU_GZ)
        assert_int_equal(archive_write_set_format_gnutar(t->a), ARCHIVE_OK);
    else if (kind == TB_USTAR_GZ)
        assert_int_equal(archive_write_set_format_ustar(t->a), ARCHIVE_OK);
    else
        assert_int_equal(archive_write_set_format_pax_restricted(t->a), ARCHIVE_OK);
    if (kind == TB_PAX_COMPRESS)
        assert_int_equal(archive_write_add_filter_compress(t->a), ARCHIVE_OK);
    else if (kind != TB_PAX_PLAIN)
        assert_int_equal(archive_write_add_filter_gzip(t->a), ARCHIVE_OK);
    assert_int_equal(archive_write_set_bytes_in_last_block(t->a, 1), ARCHIVE_OK);
    assert_int_equal(archive_write_open2(t->a, t, NULL, tb_write_cb, NULL, NULL), ARCHIVE_OK);
    return t;
}

static void tb_entry(tb *t, const char *name, unsigned type, unsigned perm, int64_t size,
                     const char *symlink, const char *hardlink)
{
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, name);
    archive_entry_set_filetype(e, type);
    archive_entry_set_perm(e, perm);
    archive_entry_set_size(e, size);
    archive_entry_set_mtime(e, 1500000000, 0);
    archive_entry_set_uid(e, 777);
    archive_entry_set_gid(e, 777);
    if (type == AE_IFCHR || type == AE_IFBLK)
        archive_entry_set_rdev(e, makedev(1, 3));
    if (symlink)
        archive_entry_set_symlink(e, symlink);
    if (hardlink)
        archive_entry_set_hardlink(e, hardlink);
    int r = archive_write_header(t->a, e);
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
        fail_msg("write header `%s`: %s", name, archive_error_string(t->a));
    archive_entry_free(e);
}

static void tb_data(tb *t, const void *p, size_t n)
{
    assert_int_equal(archive_write_data(t->a, p, n), (la_ssize_t)n);
}

static void tb_file(tb *t, const char *name, const char *content, unsigned perm)
{
    tb_entry(t, name, AE_IFREG, perm, (int64_t)strlen(content), NULL, NULL);
    tb_data(t, content, strlen(content));
}

static void tb_dir(tb *t, const char *name, unsigned perm)
{
    tb_entry(t, name, AE_IFDIR, perm, 0, NULL, NULL);
}

static void tb_symlink(tb *t, const char *name, const char *target)
{
    tb_entry(t, name, AE_IFLNK, 0777, 0, target, NULL);
}

static void tb_hardlink(tb *t, const char *name, const char *target)
{
    tb_entry(t, name, AE_IFREG, 0644, 0, NULL, target);
}

static void tb_zeros(tb *t, const char *name, size_t size)
{
    tb_entry(t, name, AE_IFREG, 0644, (int64_t)size, NULL, NULL);
    char *z = calloc(1, MiB);
    assert_non_null(z);
    for (size_t done = 0; done < size;) {
        size_t k = size - done < MiB ? size - done : MiB;
        tb_data(t, z, k);
        done += k;
    }
    free(z);
}

static void tb_finish(tb *t)
{
    assert_int_equal(archive_write_close(t->a), ARCHIVE_OK);
    archive_write_free(t->a);
    t->a = NULL;
}

static void tb_free(tb *t)
{
    if (t->a)
        archive_write_free(t->a);
    free(t->data);
    free(t);
}

/* ==== running the extractor ==== */

static nox_extract_opts default_opts(void)
{
    nox_extract_opts o;
    memset(&o, 0, sizeof o);
    o.staging_parent_fd = -1;
    return o;
}

static int extract_buf(const void *data, size_t len, int dest_fd, const nox_extract_opts *opts,
                       nox_extract_stats *st, nox_error *err)
{
    nox_source *src = nox__source_from_mem(data, len);
    assert_non_null(src);
    int r = nox__extract(src, dest_fd, opts, st, err);
    nox__source_free(src);
    return r;
}

static void expect_ok(env *e, tb *t, const nox_extract_opts *opts, nox_extract_stats *st)
{
    nox_error *err = nox_error_new();
    nox_extract_opts o = opts ? *opts : default_opts();
    int r = extract_buf(t->data, t->len, e->dest_fd, &o, st, err);
    if (r != 0)
        fail_msg("extract failed (%d): %s", r, nox_error_message(err));
    nox_error_free(err);
    assert_no_staging(e->dest);
}

/* Extracts @p t into the destination and checks that it was refused with
 * @p code, a message containing @p needle, and no change anywhere. */
static void expect_refused(env *e, tb *t, const nox_extract_opts *opts, int code,
                           const char *needle)
{
    char *before = listing(e->dest);
    char *canary_before = listing(e->canary_dir);
    nox_error *err = nox_error_new();
    nox_extract_opts o = opts ? *opts : default_opts();
    nox_extract_stats st = { 42, 42, 42 };
    int r = extract_buf(t->data, t->len, e->dest_fd, &o, &st, err);
    if (r != code)
        fail_msg("expected %d, got %d: %s", code, r, nox_error_message(err));
    if (getenv("NOX_TEST_VERBOSE"))
        print_message("refused: %s\n", nox_error_message(err));
    assert_int_equal(nox_error_code(err), code);
    if (!strstr(nox_error_message(err), needle))
        fail_msg("message `%s` does not name `%s`", nox_error_message(err), needle);
    /* Out-parameters are written only on success. */
    assert_int_equal(st.entries, 42);
    char *after = listing(e->dest);
    assert_string_equal(before, after);
    char *canary_after = listing(e->canary_dir);
    assert_string_equal(canary_before, canary_after);
    char *cf = nox_test_read_file(e->canary_file, NULL);
    assert_string_equal(cf, "canary file");
    assert_no_staging(e->dest);
    char *parent = path_in(e->root, "a");
    assert_no_staging(parent);
    free(parent);
    /* Nothing appeared next to the canaries either. */
    assert_false(exists_in(e->root, "pwned"));
    assert_false(exists_in(e->canary_dir, "pwned"));
    free(cf);
    free(before);
    free(after);
    free(canary_before);
    free(canary_after);
    nox_error_free(err);
}

/* ==== limits ==== */

static void test_limits_fill(void **state)
{
    (void)state;
    nox_extract_limits l;
    memset(&l, 0, sizeof l);
    nox__extract_limits_fill(&l);
    assert_int_equal(l.max_entries, 100000);
    assert_int_equal(l.max_entry_bytes, 1ull << 30);
    assert_int_equal(l.max_total_bytes, 4ull << 30);
    assert_int_equal(l.max_path_bytes, 4096);
    nox_extract_limits m = { 5, 6, 7, 8 };
    nox__extract_limits_fill(&m);
    assert_int_equal(m.max_entries, 5);
    assert_int_equal(m.max_entry_bytes, 6);
    assert_int_equal(m.max_total_bytes, 7);
    assert_int_equal(m.max_path_bytes, 8);
}

/* ==== round trips through the writer and the extractor ==== */

static void set_mtime(const char *dir, const char *rel, time_t t)
{
    char *p = path_in(dir, rel);
    struct timespec ts[2] = { { t, 0 }, { t, 0 } };
    assert_int_equal(utimensat(AT_FDCWD, p, ts, AT_SYMLINK_NOFOLLOW), 0);
    free(p);
}

static void write_mode(const char *dir, const char *rel, const void *data, size_t len, mode_t mode)
{
    char *p = path_in(dir, rel);
    nox_test_write_file(p, data, len);
    assert_int_equal(chmod(p, mode), 0);
    free(p);
}

static void symlink_in(const char *dir, const char *rel, const char *target)
{
    char *p = path_in(dir, rel);
    assert_int_equal(symlink(target, p), 0);
    free(p);
}

static const char *const g_tree_files[] = {
    "a.txt",        "empty",         "bin",        "big",          "exec.sh",
    "secret",       "suid",          UNICODE_NAME, LATIN1_NAME,    "nested/deeper/deepest/file.txt",
    "ro/child.txt", "links/sibling", "hard1",      "nested/hard2",
};

/* A tree with everything the writer handles (and some it skips). */
static void make_tree(const char *src)
{
    write_mode(src, "a.txt", "hello\n", 6, 0644);
    write_mode(src, "empty", "", 0, 0644);
    char bin[1000];
    for (size_t i = 0; i < sizeof bin; i++)
        bin[i] = (char)(i % 7 == 0 ? 0 : i * 31);
    write_mode(src, "bin", bin, sizeof bin, 0644);
    size_t big_len = 20 * MiB;
    char *big = malloc(big_len);
    assert_non_null(big);
    uint32_t x = 12345;
    for (size_t i = 0; i < big_len; i++) {
        x = x * 1103515245u + 12345u;
        big[i] = (char)(x >> 24);
    }
    write_mode(src, "big", big, big_len, 0644);
    free(big);
    write_mode(src, "exec.sh", "#!/bin/sh\n", 10, 0755);
    write_mode(src, "secret", "s", 1, 0600);
    write_mode(src, "suid", "x", 1, 04755);
    write_mode(src, UNICODE_NAME, "u", 1, 0644);
    write_mode(src, LATIN1_NAME, "l", 1, 0644);
    write_mode(src, "nested/deeper/deepest/file.txt", "deep", 4, 0644);
    mkdir_in(src, "emptydir", 0700);
    mkdir_in(src, "ro", 0755);
    write_mode(src, "ro/child.txt", "c", 1, 0444);
    mkdir_in(src, "ro/inner", 0755);
    mkdir_in(src, "links", 0755);
    write_mode(src, "links/sibling", "sib", 3, 0644);
    symlink_in(src, "links/rel", "../a.txt");
    symlink_in(src, "links/here", "sibling");
    symlink_in(src, "links/dirlink", "../nested");
    symlink_in(src, "links/dangling", "nowhere");
    write_mode(src, "hard1", "hard", 4, 0644);
    char *h1 = path_in(src, "hard1"), *h2 = path_in(src, "nested/hard2");
    assert_int_equal(link(h1, h2), 0);
    free(h1);
    free(h2);
    char *fifo = path_in(src, "fifo");
    assert_int_equal(mkfifo(fifo, 0644), 0);
    free(fifo);
    char *sock = path_in(src, "sock");
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (strlen(sock) < sizeof sa.sun_path) {
        memcpy(sa.sun_path, sock, strlen(sock) + 1);
        assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof sa), 0);
    }
    close(s);
    free(sock);

    time_t t = 1600000000;
    for (size_t i = 0; i < sizeof g_tree_files / sizeof *g_tree_files; i++)
        set_mtime(src, g_tree_files[i], t + (time_t)i);
    set_mtime(src, "links/rel", t + 100);
    set_mtime(src, "links/here", t + 101);
    /* Directories last, children first: each file above changed them. */
    set_mtime(src, "nested/deeper/deepest", t + 200);
    set_mtime(src, "nested/deeper", t + 201);
    set_mtime(src, "nested", t + 202);
    set_mtime(src, "emptydir", t + 203);
    set_mtime(src, "ro/inner", t + 204);
    char *ro = path_in(src, "ro");
    assert_int_equal(chmod(ro, 0555), 0);
    free(ro);
    set_mtime(src, "ro", t + 205);
}

static int open_dir(const char *p)
{
    int fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        fail_msg("open `%s`: %s", p, strerror(errno));
    return fd;
}

static void test_roundtrip_tree(void **state)
{
    env *e = *state;
    char *src = path_in(e->root, "src");
    char *out = path_in(e->root, "out");
    mkdir_in(e->root, "src", 0755);
    mkdir_in(e->root, "out", 0755);
    make_tree(src);

    nox_error *err = nox_error_new();
    nox_source *tar = NULL;
    assert_int_equal(nox__tar_from_fd(open_dir(src), NULL, 1, 0, &tar, err), 0);
    int ofd = open_dir(out);
    nox_extract_opts o = default_opts();
    nox_extract_stats st = { 0, 0, 0 };
    int r = nox__extract(tar, ofd, &o, &st, err);
    if (r)
        fail_msg("extract: %s", nox_error_message(err));
    nox__source_free(tar);
    close(ofd);

    char *ls = listing(src), *ld = listing(out);
    assert_string_equal(ls, ld);
    free(ls);
    free(ld);
    /* 13 files and a hard link, 7 directories, 4 symlinks; no fifo, no
     * socket. */
    assert_int_equal(st.files, 13);
    assert_int_equal(st.entries, 13 + 1 + 7 + 4);
    assert_false(exists_in(out, "fifo"));
    assert_false(exists_in(out, "sock"));
    /* setuid stripped, the rest of the mode kept. */
    assert_int_equal(lstat_in(out, "suid").st_mode & 07777, 0755);
    assert_int_equal(lstat_in(out, "exec.sh").st_mode & 07777, 0755);
    assert_int_equal(lstat_in(out, "secret").st_mode & 07777, 0600);
    assert_int_equal(lstat_in(out, "ro").st_mode & 07777, 0555);
    assert_int_equal(lstat_in(out, "emptydir").st_mode & 07777, 0700);
    assert_true(exists_in(out, "ro/inner"));
    /* Directory times, set after their children. */
    assert_int_equal(lstat_in(out, "nested/deeper/deepest").st_mtime, 1600000200);
    assert_int_equal(lstat_in(out, "nested").st_mtime, 1600000202);
    assert_int_equal(lstat_in(out, "ro").st_mtime, 1600000205);
    assert_int_equal(lstat_in(out, "links/rel").st_mtime, 1600000100);
    /* Hard links stay one file. */
    assert_int_equal(lstat_in(out, "hard1").st_ino, lstat_in(out, "nested/hard2").st_ino);
    char *big = read_in(out, "big");
    assert_non_null(big);
    free(big);
    assert_true(S_ISLNK(lstat_in(out, "links/dirlink").st_mode));

    nox_error_free(err);
    free(src);
    free(out);
}

static void test_tar_from_files(void **state)
{
    env *e = *state;
    static const char bin[] = { 'a', 0, 'b', 0, 0, 'c' };
    nox_file files[] = {
        { .path = "top.txt", .data = "top", .size = 3, .mode = 0 },
        { .path = "sub/dir/x.sh", .data = "#!", .size = 2, .mode = 0755 },
        { .path = "./dots//y.bin", .data = bin, .size = sizeof bin, .mode = 0600 },
        { .path = "empty", .data = NULL, .size = 0, .mode = 0 },
        { .path = "existing.txt", .data = "new", .size = 3, .mode = 0644 },
    };
    nox_error *err = nox_error_new();
    nox_source *tar = NULL;
    assert_int_equal(nox__tar_from_files(files, 5, 6, 0, &tar, err), 0);
    nox_extract_opts o = default_opts();
    nox_extract_stats st;
    assert_int_equal(nox__extract(tar, e->dest_fd, &o, &st, err), 0);
    nox__source_free(tar);
    assert_int_equal(st.entries, 5);
    assert_int_equal(st.files, 5);
    assert_int_equal(st.bytes, 3 + 2 + sizeof bin + 0 + 3);

    char *d = read_in(e->dest, "top.txt");
    assert_string_equal(d, "top");
    free(d);
    assert_int_equal(lstat_in(e->dest, "top.txt").st_mode & 07777, 0644);
    assert_int_equal(lstat_in(e->dest, "sub/dir/x.sh").st_mode & 07777, 0755);
    /* Implied directories get 0755. */
    assert_int_equal(lstat_in(e->dest, "sub/dir").st_mode & 07777, 0755);
    size_t len = 0;
    char *yp = path_in(e->dest, "dots/y.bin");
    d = nox_test_read_file(yp, &len);
    free(yp);
    assert_int_equal(len, sizeof bin);
    assert_memory_equal(d, bin, sizeof bin);
    free(d);
    assert_int_equal(lstat_in(e->dest, "dots/y.bin").st_mode & 07777, 0600);
    assert_int_equal(lstat_in(e->dest, "empty").st_size, 0);
    d = read_in(e->dest, "existing.txt");
    assert_string_equal(d, "new");
    free(d);
    d = read_in(e->dest, "sub/keep.txt");
    assert_string_equal(d, "keep");
    free(d);

    /* The stream itself: no directory entries, owner 0 without names,
     * normalised names. */
    assert_int_equal(nox__tar_from_files(files, 5, 0, 0, &tar, err), 0);
    struct archive *a = archive_read_new();
    archive_read_support_format_tar(a);
    archive_read_support_filter_gzip(a);
    char *buf = NULL;
    size_t blen = 0;
    assert_int_equal(nox__source_read_all(tar, 1 << 20, &buf, &blen, err), 0);
    nox__source_free(tar);
    assert_int_equal(archive_read_open_memory(a, buf, blen), ARCHIVE_OK);
    struct archive_entry *ae;
    int n = 0;
    while (archive_read_next_header(a, &ae) == ARCHIVE_OK) {
        assert_int_equal(archive_entry_filetype(ae), AE_IFREG);
        assert_int_equal(archive_entry_uid(ae), 0);
        assert_int_equal(archive_entry_gid(ae), 0);
        assert_true(!archive_entry_uname(ae) || !*archive_entry_uname(ae));
        assert_true(!archive_entry_gname(ae) || !*archive_entry_gname(ae));
        if (n == 2)
            assert_string_equal(archive_entry_pathname(ae), "dots/y.bin");
        n++;
    }
    assert_int_equal(n, 5);
    assert_int_equal(archive_filter_code(a, 0), ARCHIVE_FILTER_GZIP);
    archive_read_free(a);
    free(buf);
    nox_error_free(err);
}

static void expect_bad_file(const char *path, const void *data, size_t size, const char *needle)
{
    nox_file f = { .path = path, .data = data, .size = size, .mode = 0 };
    nox_file files[] = { { .path = "fine.txt", .data = "x", .size = 1 }, f };
    nox_error *err = nox_error_new();
    nox_source *tar = (nox_source *)0x1;
    assert_int_equal(nox__tar_from_files(files, 2, 1, 0, &tar, err), NOX_E_INVALID);
    assert_int_equal(nox_error_code(err), NOX_E_INVALID);
    assert_ptr_equal(tar, (nox_source *)0x1);
    if (!strstr(nox_error_message(err), needle))
        fail_msg("message `%s` does not name `%s`", nox_error_message(err), needle);
    nox_error_free(err);
}

static void test_tar_from_files_invalid(void **state)
{
    (void)state;
    expect_bad_file("", "x", 1, "empty path");
    expect_bad_file(NULL, "x", 1, "empty path");
    expect_bad_file("/etc/passwd", "x", 1, "`/etc/passwd` is absolute");
    expect_bad_file("a/../../b", "x", 1, "`a/../../b` has a `..`");
    expect_bad_file("..", "x", 1, "`..`");
    expect_bad_file(".", "x", 1, "`.` names no file");
    expect_bad_file("dir/", "x", 1, "`dir/` ends with a slash");
    expect_bad_file("nodata", NULL, 5, "`nodata` has no data");
    expect_bad_file("bad\nname/..", "x", 1, "`bad\\x0aname/..`");
    char *longp = malloc(5000);
    memset(longp, 'a', 4999);
    longp[4999] = '\0';
    expect_bad_file(longp, "x", 1, "longer than 4096 bytes");
    free(longp);

    nox_file ok = { .path = "a", .data = "x", .size = 1 };
    nox_error *err = nox_error_new();
    nox_source *tar = NULL;
    assert_int_equal(nox__tar_from_files(&ok, 1, 10, 0, &tar, err), NOX_E_INVALID);
    assert_int_equal(nox__tar_from_files(&ok, 1, -1, 0, &tar, err), NOX_E_INVALID);
    assert_null(tar);
    nox_error_free(err);
}

static void test_tar_from_fd_single_file(void **state)
{
    env *e = *state;
    char *p = path_in(e->root, "single.bin");
    nox_test_write_file(p, "single", 6);
    nox_error *err = nox_error_new();
    nox_source *tar = NULL;
    /* A regular file needs a member name. */
    assert_int_equal(nox__tar_from_fd(open(p, O_RDONLY | O_CLOEXEC), NULL, 1, 0, &tar, err),
                     NOX_E_INVALID);
    assert_int_equal(nox__tar_from_fd(open(p, O_RDONLY | O_CLOEXEC), "../x", 1, 0, &tar, err),
                     NOX_E_INVALID);
    assert_int_equal(
        nox__tar_from_fd(open(p, O_RDONLY | O_CLOEXEC), "renamed.bin", 1, 0, &tar, err), 0);
    nox_extract_opts o = default_opts();
    nox_extract_stats st;
    assert_int_equal(nox__extract(tar, e->dest_fd, &o, &st, err), 0);
    nox__source_free(tar);
    assert_int_equal(st.entries, 1);
    char *d = read_in(e->dest, "renamed.bin");
    assert_string_equal(d, "single");
    free(d);

    /* Neither a directory nor a regular file. */
    char *fifo = path_in(e->root, "fifo");
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(
        nox__tar_from_fd(open(fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC), "f", 1, 0, &tar, err),
        NOX_E_INVALID);
    assert_int_equal(nox__tar_from_fd(-1, NULL, 1, 0, &tar, err), NOX_E_INVALID);
    free(fifo);
    free(p);
    nox_error_free(err);
}

/* Reads every member of a tar.gz source: "name type size link" lines. */
static char *members(nox_source *src)
{
    char *buf = NULL;
    size_t len = 0;
    nox_error *err = nox_error_new();
    int r = nox__source_read_all(src, 512u * MiB, &buf, &len, err);
    if (r)
        fail_msg("read source: %s", nox_error_message(err));
    nox_error_free(err);
    struct archive *a = archive_read_new();
    archive_read_support_format_tar(a);
    archive_read_support_filter_gzip(a);
    assert_int_equal(archive_read_open_memory(a, buf, len), ARCHIVE_OK);
    char *out = nox_test_strf("%s", "");
    struct archive_entry *ae;
    while (archive_read_next_header(a, &ae) == ARCHIVE_OK) {
        const char *link = archive_entry_hardlink(ae);
        char *line = nox_test_strf(
            "%s%s %o %lld %s%s\n", out, archive_entry_pathname(ae),
            (unsigned)archive_entry_filetype(ae), (long long)archive_entry_size(ae),
            link ? "hard:" : "",
            link ? link : (archive_entry_symlink(ae) ? archive_entry_symlink(ae) : "-"));
        free(out);
        out = line;
    }
    archive_read_free(a);
    free(buf);
    return out;
}

static void test_writer_walk(void **state)
{
    env *e = *state;
    char *src = path_in(e->root, "w");
    mkdir_in(e->root, "w", 0755);
    write_mode(src, "b.txt", "b", 1, 0644);
    write_mode(src, "a.txt", "a", 1, 0644);
    write_mode(src, "d/z", "z", 1, 0644);
    char *a = path_in(src, "a.txt"), *l = path_in(src, "d/link-to-a");
    assert_int_equal(link(a, l), 0);
    free(a);
    free(l);
    symlink_in(src, "s", "d/z");
    char *fifo = path_in(src, "fifo");
    assert_int_equal(mkfifo(fifo, 0644), 0);
    free(fifo);

    nox_error *err = nox_error_new();
    nox_source *tar = NULL;
    assert_int_equal(nox__tar_from_fd(open_dir(src), NULL, 9, 0, &tar, err), 0);
    char *m = members(tar);
    nox__source_free(tar);
    /* Sorted, depth first, the hard link as a link to the first name (a
     * typeflag '1' entry, which libarchive reads back with no file type),
     * the fifo skipped. */
    assert_string_equal(m, "a.txt 100000 1 -\n"
                           "b.txt 100000 1 -\n"
                           "d/ 40000 0 -\n"
                           "d/link-to-a 0 0 hard:a.txt\n"
                           "d/z 100000 1 -\n"
                           "s 120000 0 d/z\n");
    free(m);

    /* The same tree gives the same bytes. */
    char *b1 = NULL, *b2 = NULL;
    size_t l1 = 0, l2 = 0;
    assert_int_equal(nox__tar_from_fd(open_dir(src), NULL, 1, 0, &tar, err), 0);
    assert_int_equal(nox__source_read_all(tar, MiB, &b1, &l1, err), 0);
    nox__source_free(tar);
    assert_int_equal(nox__tar_from_fd(open_dir(src), NULL, 1, 0, &tar, err), 0);
    assert_int_equal(nox__source_read_all(tar, MiB, &b2, &l2, err), 0);
    nox__source_free(tar);
    assert_int_equal(l1, l2);
    assert_memory_equal(b1, b2, l1);
    /* gzip magic, no timestamp. */
    assert_int_equal((unsigned char)b1[0], 0x1f);
    assert_int_equal((unsigned char)b1[1], 0x8b);
    assert_int_equal(b1[4] | b1[5] | b1[6] | b1[7], 0);
    free(b1);
    free(b2);

    /* An empty directory gives a valid, empty archive. */
    mkdir_in(e->root, "emptysrc", 0755);
    char *es = path_in(e->root, "emptysrc");
    assert_int_equal(nox__tar_from_fd(open_dir(es), NULL, 1, 0, &tar, err), 0);
    m = members(tar);
    nox__source_free(tar);
    assert_string_equal(m, "");
    free(m);
    free(es);
    nox_error_free(err);
    free(src);
}

static void test_writer_depth_limit(void **state)
{
    env *e = *state;
    char *p = path_in(e->root, "deep");
    assert_int_equal(mkdir(p, 0755), 0);
    int fd = open_dir(p);
    for (int i = 0; i < 300; i++) {
        assert_int_equal(mkdirat(fd, "d", 0755), 0);
        int nfd = openat(fd, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(nfd >= 0);
        close(fd);
        fd = nfd;
    }
    close(fd);
    nox_error *err = nox_error_new();
    nox_source *tar = NULL;
    assert_int_equal(nox__tar_from_fd(open_dir(p), NULL, 1, 0, &tar, err), 0);
    char buf[4096];
    ssize_t r;
    while ((r = nox__source_read(tar, buf, sizeof buf, err)) > 0)
        ;
    assert_int_equal(r, NOX_E_LIMIT);
    assert_non_null(strstr(nox_error_message(err), "d/d/d/"));
    assert_non_null(strstr(nox_error_message(err), "nested more than 256 levels"));
    /* Later reads repeat the failure. */
    nox_error_clear(err);
    assert_int_equal(nox__source_read(tar, buf, sizeof buf, err), NOX_E_LIMIT);
    assert_non_null(strstr(nox_error_message(err), "nested more than 256 levels"));
    nox__source_free(tar);
    nox_error_free(err);
    free(p);
}

/* Pulls a 100 MiB file of zeros through the writer in small reads, and
 * checks it member by member with a streaming reader: memory must not grow
 * with the file. */
typedef struct pull {
    nox_source *src;
    char buf[4096];
    size_t reads;
    uint64_t bytes;
} pull;

static la_ssize_t pull_cb(struct archive *a, void *ud, const void **buf)
{
    (void)a;
    pull *p = ud;
    ssize_t r = nox__source_read(p->src, p->buf, 1000, NULL);
    assert_true(r >= 0);
    assert_true(r <= 1000);
    p->reads++;
    p->bytes += (uint64_t)r;
    *buf = p->buf;
    return r;
}

static void test_writer_bounded_memory(void **state)
{
    env *e = *state;
    mkdir_in(e->root, "huge", 0755);
    char *p = path_in(e->root, "huge/zeros");
    int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, 100 * (off_t)MiB), 0);
    close(fd);
    free(p);
    char *dir = path_in(e->root, "huge");

    struct mallinfo2 before = mallinfo2();
    nox_error *err = nox_error_new();
    pull pl = { 0 };
    assert_int_equal(nox__tar_from_fd(open_dir(dir), NULL, 1, 0, &pl.src, err), 0);
    struct archive *a = archive_read_new();
    archive_read_support_format_tar(a);
    archive_read_support_filter_gzip(a);
    assert_int_equal(archive_read_open(a, &pl, NULL, pull_cb, NULL), ARCHIVE_OK);
    struct archive_entry *ae;
    assert_int_equal(archive_read_next_header(a, &ae), ARCHIVE_OK);
    assert_string_equal(archive_entry_pathname(ae), "zeros");
    assert_int_equal(archive_entry_size(ae), 100 * (int64_t)MiB);
    uint64_t total = 0;
    size_t peak = 0;
    const void *blk;
    size_t len;
    la_int64_t off;
    while (archive_read_data_block(a, &blk, &len, &off) == ARCHIVE_OK) {
        for (size_t i = 0; i < len; i++)
            if (((const char *)blk)[i])
                fail_msg("non-zero byte at %lld", (long long)off + (long long)i);
        total += len;
        struct mallinfo2 now = mallinfo2();
        if (now.uordblks > before.uordblks && now.uordblks - before.uordblks > peak)
            peak = now.uordblks - before.uordblks;
    }
    assert_int_equal(total, 100 * (uint64_t)MiB);
    assert_int_equal(archive_read_next_header(a, &ae), ARCHIVE_EOF);
    archive_read_free(a);
    /* Many small reads, none over what was asked (pull_cb checks each). */
    assert_true(pl.reads > 10);
    /* Heap in use by writer and reader together stays small. mallinfo2 is
     * glibc's own; under ASan or valgrind it reports nothing and this check
     * has nothing to say. */
    if (before.uordblks > 0 && peak > 8 * MiB)
        fail_msg("heap grew by %zu bytes while streaming 100 MiB", peak);
    nox__source_free(pl.src);
    nox_error_free(err);
    free(dir);
}

/* A consumer that gives up mid-file (an aborted upload): freeing the source
 * must neither leak libarchive's zlib state nor pad the rest of a huge
 * entry with zeros. */
static void test_writer_abandoned(void **state)
{
    env *e = *state;
    mkdir_in(e->root, "abandon", 0755);
    char *p = path_in(e->root, "abandon/huge");
    int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, (off_t)64 << 30), 0);
    close(fd);
    free(p);
    char *dir = path_in(e->root, "abandon");
    nox_error *err = nox_error_new();
    nox_source *tar = NULL;
    assert_int_equal(nox__tar_from_fd(open_dir(dir), NULL, 1, 0, &tar, err), 0);
    char buf[512];
    assert_int_equal(nox__source_read(tar, buf, sizeof buf, err), (ssize_t)sizeof buf);
    int64_t t0 = nox__now_mono_ns();
    nox__source_free(tar);
    if (getenv("NOX_TEST_VERBOSE"))
        print_message("freed an abandoned 64 GiB entry in %lld ms\n",
                      (long long)((nox__now_mono_ns() - t0) / 1000000));
    nox_error_free(err);
    free(dir);
}

/* ==== positive extraction cases ==== */

static void test_empty_archive(void **state)
{
    env *e = *state;
    tb *t = tb_new(TB_PAX_GZ);
    tb_finish(t);
    char *before = listing(e->dest);
    nox_extract_stats st = { 9, 9, 9 };
    expect_ok(e, t, NULL, &st);
    assert_int_equal(st.entries, 0);
    assert_int_equal(st.files, 0);
    char *after = listing(e->dest);
    assert_string_equal(before, after);
    free(before);
    free(after);
    tb_free(t);
}

static void test_formats(void **state)
{
    env *e = *state;
    static const int kinds[] = { TB_PAX_GZ, TB_GNU_GZ, TB_USTAR_GZ };
    /* Over 100 bytes (ustar's name field), in components a file system
     * takes (at most 255 bytes each). */
    char longname[300];
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    memcpy(longname, "long/", 5);
    longname[150] = '/';
    for (size_t i = 0; i < 3; i++) {
        tb *t = tb_new(kinds[i]);
        tb_file(t, "./fmt.txt", "fmt", 0640);
        if (kinds[i] != TB_USTAR_GZ)
            tb_file(t, longname, "long", 0644);
        tb_finish(t);
        expect_ok(e, t, NULL, NULL);
        char *d = read_in(e->dest, "fmt.txt");
        assert_string_equal(d, "fmt");
        free(d);
        assert_int_equal(lstat_in(e->dest, "fmt.txt").st_mtime, 1500000000);
        assert_int_equal(lstat_in(e->dest, "fmt.txt").st_mode & 07777, 0640);
        if (kinds[i] != TB_USTAR_GZ) {
            d = read_in(e->dest, longname);
            assert_string_equal(d, "long");
            free(d);
        }
        tb_free(t);
    }
}

static void test_duplicates(void **state)
{
    env *e = *state;
    tb *t = tb_new(TB_PAX_GZ);
    tb_file(t, "dup.txt", "first", 0644);
    tb_hardlink(t, "dup-link", "dup.txt");
    tb_file(t, "dup.txt", "second", 0600);
    tb_dir(t, "dd", 0700);
    tb_file(t, "dd/in", "in", 0644);
    tb_dir(t, "dd/", 0750);
    tb_symlink(t, "sl", "dup.txt");
    tb_symlink(t, "sl", "dd");
    tb_file(t, "sl2", "file first", 0644);
    tb_symlink(t, "sl2", "dup.txt");
    tb_finish(t);
    nox_extract_stats st;
    expect_ok(e, t, NULL, &st);
    char *d = read_in(e->dest, "dup.txt");
    assert_string_equal(d, "second");
    free(d);
    assert_int_equal(lstat_in(e->dest, "dup.txt").st_mode & 07777, 0600);
    /* The earlier name linked to the replaced file keeps the old content,
     * as with tar. */
    d = read_in(e->dest, "dup-link");
    assert_string_equal(d, "first");
    free(d);
    assert_int_equal(lstat_in(e->dest, "dd").st_mode & 07777, 0750);
    char target[64];
    char *sl = path_in(e->dest, "sl");
    ssize_t n = readlink(sl, target, sizeof target - 1);
    assert_int_equal(n, 2);
    free(sl);
    assert_true(S_ISLNK(lstat_in(e->dest, "sl2").st_mode));
    assert_int_equal(st.entries, 10);
    tb_free(t);
}

static void test_merge_into_existing(void **state)
{
    env *e = *state;
    /* Hostile code in the sandbox planted symlinks where the archive has a
     * directory and a file: both must be replaced, never followed. */
    symlink_in(e->dest, "sub2", e->canary_dir);
    symlink_in(e->dest, "file.txt", e->canary_file);
    symlink_in(e->dest, "rel", "../../canary_dir");
    write_in(e->dest, "wasfile", "a file where a directory comes");
    mkdir_in(e->dest, "wasemptydir", 0755);
    mkdir_in(e->dest, "sub/deep", 0700);
    write_in(e->dest, "sub/deep/old", "old");

    tb *t = tb_new(TB_PAX_GZ);
    tb_dir(t, "sub2/", 0755);
    tb_file(t, "sub2/pwned", "into the canary?", 0644);
    tb_file(t, "file.txt", "replaced", 0644);
    tb_dir(t, "rel", 0700);
    tb_file(t, "rel/pwned", "x", 0644);
    tb_file(t, "existing.txt", "new", 0644);
    tb_file(t, "sub/new.txt", "new", 0644);
    tb_dir(t, "sub/deep", 0751);
    tb_file(t, "sub/deep/new", "new", 0644);
    tb_file(t, "wasfile/inside", "inside", 0644);
    tb_file(t, "wasemptydir", "now a file", 0644);
    tb_finish(t);
    expect_ok(e, t, NULL, NULL);

    assert_true(S_ISDIR(lstat_in(e->dest, "sub2").st_mode));
    assert_true(exists_in(e->dest, "sub2/pwned"));
    assert_true(S_ISDIR(lstat_in(e->dest, "rel").st_mode));
    assert_int_equal(lstat_in(e->dest, "rel").st_mode & 07777, 0700);
    assert_false(exists_in(e->canary_dir, "pwned"));
    char *c = read_in(e->canary_dir, "canary");
    assert_string_equal(c, "canary");
    free(c);
    assert_true(S_ISREG(lstat_in(e->dest, "file.txt").st_mode));
    c = nox_test_read_file(e->canary_file, NULL);
    assert_string_equal(c, "canary file");
    free(c);
    c = read_in(e->dest, "existing.txt");
    assert_string_equal(c, "new");
    free(c);
    c = read_in(e->dest, "sub/keep.txt");
    assert_string_equal(c, "keep");
    free(c);
    c = read_in(e->dest, "sub/deep/old");
    assert_string_equal(c, "old");
    free(c);
    assert_true(exists_in(e->dest, "sub/deep/new"));
    assert_int_equal(lstat_in(e->dest, "sub/deep").st_mode & 07777, 0751);
    assert_int_equal(lstat_in(e->dest, "sub/deep").st_mtime, 1500000000);
    /* An existing directory without an entry keeps its mode. */
    assert_int_equal(lstat_in(e->dest, "sub").st_mode & 07777, 0755);
    c = read_in(e->dest, "wasfile/inside");
    assert_string_equal(c, "inside");
    free(c);
    assert_true(S_ISREG(lstat_in(e->dest, "wasemptydir").st_mode));
    tb_free(t);
}

static void test_root_entry(void **state)
{
    env *e = *state;
    tb *t = tb_new(TB_PAX_GZ);
    tb_dir(t, "./", 0751);
    tb_file(t, "./in-root", "r", 0644);
    tb_finish(t);
    expect_ok(e, t, NULL, NULL);
    struct stat st;
    assert_int_equal(fstat(e->dest_fd, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0751);
    assert_int_equal(st.st_mtime, 1500000000);
    assert_true(exists_in(e->dest, "in-root"));
    tb_free(t);

    t = tb_new(TB_PAX_GZ);
    tb_file(t, ".", "not a dir", 0644);
    tb_finish(t);
    expect_refused(e, t, NULL, NOX_E_ARCHIVE, "entry `.` names the destination itself");
    tb_free(t);
}

static void test_chown(void **state)
{
    env *e = *state;
    if (geteuid() != 0)
        nox_test_skip("chown to another user needs root");
    tb *t = tb_new(TB_PAX_GZ);
    tb_file(t, "owned.txt", "o", 0644);
    tb_dir(t, "odir", 0755);
    tb_file(t, "implied/deeper/f", "f", 0644);
    tb_symlink(t, "olink", "owned.txt");
    tb_hardlink(t, "ohard", "owned.txt");
    tb_finish(t);
    nox_extract_opts o = default_opts();
    o.chown = true;
    o.uid = 12345;
    o.gid = 12345;
    expect_ok(e, t, &o, NULL);
    static const char *const names[] = { "owned.txt",        "odir",  "implied", "implied/deeper",
                                         "implied/deeper/f", "olink", "ohard" };
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        struct stat st = lstat_in(e->dest, names[i]);
        if (st.st_uid != 12345 || st.st_gid != 12345)
            fail_msg("`%s` is owned by %u:%u", names[i], (unsigned)st.st_uid, (unsigned)st.st_gid);
    }
    /* Without the option, the archive's owner (777) is never applied. */
    tb_free(t);
    t = tb_new(TB_PAX_GZ);
    tb_file(t, "mine.txt", "m", 0644);
    tb_finish(t);
    expect_ok(e, t, NULL, NULL);
    assert_int_equal(lstat_in(e->dest, "mine.txt").st_uid, geteuid());
    tb_free(t);
}

static void test_sparse(void **state)
{
    env *e = *state;
    tb *t = tb_new(TB_PAX_GZ);
    struct archive_entry *ae = archive_entry_new();
    archive_entry_set_pathname(ae, "sparse");
    archive_entry_set_filetype(ae, AE_IFREG);
    archive_entry_set_perm(ae, 0644);
    archive_entry_set_size(ae, 64 * (int64_t)MiB);
    archive_entry_sparse_add_entry(ae, 32 * (int64_t)MiB, 4096);
    assert_int_equal(archive_write_header(t->a, ae), ARCHIVE_OK);
    archive_entry_free(ae);
    char *chunk = calloc(1, MiB);
    for (int i = 0; i < 64; i++) {
        memset(chunk, i == 32 ? 'x' : 0, 4096);
        tb_data(t, chunk, MiB);
    }
    free(chunk);
    tb_finish(t);
    assert_true(t->len < 64 * 1024);

    nox_extract_stats st;
    expect_ok(e, t, NULL, &st);
    struct stat sst = lstat_in(e->dest, "sparse");
    assert_int_equal(sst.st_size, 64 * (off_t)MiB);
    /* Holes stayed holes (when the file system has them). */
    assert_true((uint64_t)sst.st_blocks * 512 < 4 * (uint64_t)MiB);
    assert_int_equal(st.bytes, 64 * (uint64_t)MiB);
    int fd = openat(e->dest_fd, "sparse", O_RDONLY | O_CLOEXEC);
    char b[2] = { 1, 1 };
    assert_int_equal(pread(fd, b, 2, 32 * (off_t)MiB - 1), 2);
    assert_int_equal(b[0], 0);
    assert_int_equal(b[1], 'x');
    close(fd);

    /* Still counted by its size toward the limits. */
    nox_extract_opts o = default_opts();
    o.limits.max_total_bytes = MiB;
    assert_int_equal(unlinkat(e->dest_fd, "sparse", 0), 0);
    expect_refused(e, t, &o, NOX_E_LIMIT, "entry `sparse`");
    tb_free(t);
}

static void test_staging_parent(void **state)
{
    env *e = *state;
    mkdir_in(e->root, "a/staging", 0700);
    char *sp = path_in(e->root, "a/staging");
    int sfd = open_dir(sp);
    nox_extract_opts o = default_opts();
    o.staging_parent_fd = sfd;
    tb *t = tb_new(TB_PAX_GZ);
    tb_file(t, "via-staging", "v", 0644);
    tb_finish(t);
    expect_ok(e, t, &o, NULL);
    assert_true(exists_in(e->dest, "via-staging"));
    char *ls = listing(sp);
    assert_string_equal(ls, "");
    free(ls);
    tb_free(t);

    t = tb_new(TB_PAX_GZ);
    tb_file(t, "fine", "f", 0644);
    tb_file(t, "../pwned", "x", 0644);
    tb_finish(t);
    expect_refused(e, t, &o, NOX_E_ARCHIVE, "`../pwned`");
    ls = listing(sp);
    assert_string_equal(ls, "");
    free(ls);
    tb_free(t);
    close(sfd);
    free(sp);
}

/* ==== hostile archives ==== */

static void test_refuse_dotdot_and_absolute(void **state)
{
    env *e = *state;
    tb *t = tb_new(TB_PAX_GZ);
    tb_file(t, "fine.txt", "fine", 0644);
    tb_file(t, "../../canary_dir/pwned", "x", 0644);
    tb_finish(t);
    expect_refused(e, t, NULL, NOX_E_ARCHIVE, "entry `../../canary_dir/pwned` has a `..`");
    tb_free(t);

    t = tb_new(TB_GNU_GZ);
    tb_file(t, "sub/../../../pwned", "x", 0644);
    tb_finish(t);
    expect_refused(e, t, NULL, NOX_E_ARCHIVE, "`sub/../../../pwned`");
    tb_free(t);

    char *abs = nox_test_strf("%s/pwned", e->canary_dir);
    t = tb_new(TB_PAX_GZ);
    tb_file(t, abs, "x", 0644);
    tb_finish(t);
    expect_refused(e, t, NULL, NOX_E_ARCHIVE, "has an absolute name");
    tb_free(t);
    free(abs);

    /* Control bytes in a name are quoted, not printed raw. */
    t = tb_new(TB_PAX_GZ);
    tb_file(t, "evil\n/../x", "x", 0644);
    tb_finish(t);
    expect_refused(e, t, NULL, NOX_E_ARCHIVE, "entry `evil\\x0a/../x`");
    tb_free(t);
}

static void test_refuse_symlink_escapes(void **state)
{
    env *e = *state;
    /* The classic: a link out, then a file through it. */
    tb *t = tb_new(TB_PAX_GZ);
    tb_symlink(t, "link", "../../canary_dir");
    tb_file(t, "link/pwned", "x", 0644);
    tb_finish(t);
    expect_refused(e, t, NULL, NOX_E_ARCHIVE, "entry `link` is a symlink to `../../canary_dir`");
    tb_free(t);

    char *abs = nox_test_strf("%s", e->canary_dir);
    t = tb_new(TB_PAX_GZ);
    tb_symlink(t, "abs", abs);
    tb_file(t, "abs/pwned", "x", 0644);
    tb_finish(t);
    expect_refused(e, t, NULL, NOX_E_ARCHIVE, "an absolute path");
    tb_free(t);
    free(abs);

    t = tb_new(TB_PAX_GZ);
    tb_symlink(t, "a/b/l", "../../../x");
    tb_finish(t);
    expect_refused(e, t, NULL, NOX_E_ARCHIVE,
                   "entry `a/b/l` is a symlink to `../../../x`, which "
                   "leads out");
    tb_free(t);

    /* Lexically inside, physically outside: d/up is the root, so d/up/..
     * is the root's parent. */
    t = tb_new(TB_PAX_GZ);
    tb_symlink(t, "d/up", "..");
    tb_symlink(t, "x", "d/up/../canary_dir");
    tb_finish(t);
    expect_refused(e, t, NULL, NOX_E_ARCHIVE,
                   "`x` is a symlink to `d/up/../canary_dir`, which has");
    tb_free(t);

    /* A link that stays inside is fine, but nothing is created through it. */
    t = tb_new(TB_PAX_GZ);
    tb_dir(t, "sub", 0755);
    tb_symlink(t, "sub/up", "..");
    tb_file(t, "sub/up/pwned", "x", 0644);
    tb_finish(t);
    expect_refused(e, t, NULL, NOX_E_ARCHIVE,
                   "entry `sub/up/pwned` would be created through symlink `sub/up`");
    tb_free(t);

    t = tb_new(TB_PAX_GZ);
    tb_symlink(t, "empty", "");
    tb_finish(t);
    expect_refused(e, t, NULL, NOX_E_ARCHIVE, "entry `empty` is a symlink with an empty target");
    tb_free(t);

    /* Through a file. */
    t = tb_new(TB_PAX_GZ);
    tb_file(t, "f", "f", 0644);
    tb_file(t, "f/child", "c", 0644);
    tb_finish(t);
    expect_refused(e, t, NULL, NOX_E_ARCHIVE, "through `f`, which is not a directory");
    tb_free(t);

    /* Allowed: links that stay inside, leading ".." only. */
    t = tb_new(TB_PAX_GZ);
    tb_file(t, "top.txt", "t", 0644);
    tb_symlink(t, "a/b/ok", "../../top.txt");
    tb_symlink(t, "a/self", ".");
    tb_symlink(t, "a/down", "b/ok");
    tb_finish(t);
    expect_ok(e, t, NULL, NULL);
    char *d = read_in(e->dest, "a/b/ok");
    assert_string_equal(d, "t");
    free(d);
    tb_free(t);
}

static void test_refuse_hardlinks(void **state)
{
    env *e = *state;
    tb *t = tb_new(TB_PAX_GZ);
    tb_hardlink(t, "h", "../canary_file");
    tb_finish(t);
    expect_refused(e, t, NULL, NOX_E_ARCHIVE,
                   "entry `h` is a hard link to `../canary_file`, which is not an earlier");
    tb_free(t);

    t = tb_new(TB_PAX_GZ);
    tb_hardlink(t, "h", e->canary_file);
    tb_finish(t);
    expect_refused(e, t, NULL, NOX_E_ARCHIVE, "entry `h` is a hard link to");
    tb_free(t);

    /* To a file of the destination that is not in the archive. */
    t = tb_new(TB_PAX_GZ);
    tb_hardlink(t, "h", "existing.txt");
    tb_finish(t);
    expect_refused(e, t, NULL, NOX_E_ARCHIVE, "`existing.txt`, which is not an earlier");
    tb_free(t);

    t = tb_new(TB_PAX_GZ);
    tb_dir(t, "somedir", 0755);
    tb_hardlink(t, "h", "somedir");
    tb_finish(t);
    expect_refused(e, t, NULL, NOX_E_ARCHIVE, "`somedir`, which is not an earlier regular file");
    tb_free(t);

    t = tb_new(TB_PAX_GZ);
    tb_file(t, "f", "f", 0644);
    tb_symlink(t, "sl", "f");
    tb_hardlink(t, "h", "sl");
    tb_finish(t);
    expect_refused(e, t, NULL, NOX_E_ARCHIVE, "`sl`, which is not an earlier regular file");
    tb_free(t);

    /* Through a symlink to reach a file: refused too. */
    t = tb_new(TB_PAX_GZ);
    tb_file(t, "d/f", "f", 0644);
    tb_symlink(t, "dl", "d");
    tb_hardlink(t, "h", "dl/f");
    tb_finish(t);
    expect_refused(e, t, NULL, NOX_E_ARCHIVE, "`dl/f`, which is not an earlier regular file");
    tb_free(t);

    /* Accepted: a link to an earlier file, hard-linked in the result. */
    t = tb_new(TB_PAX_GZ);
    tb_file(t, "d/f", "f", 0644);
    tb_hardlink(t, "other/h", "./d/f");
    tb_finish(t);
    expect_ok(e, t, NULL, NULL);
    assert_int_equal(lstat_in(e->dest, "d/f").st_ino, lstat_in(e->dest, "other/h").st_ino);
    tb_free(t);
}

static void test_refuse_special_files(void **state)
{
    env *e = *state;
    static const struct {
        unsigned type;
        const char *needle;
    } cases[] = {
        { AE_IFCHR, "entry `dev` is a character device; devices are not allowed" },
        { AE_IFBLK, "entry `dev` is a block device; devices are not allowed" },
        { AE_IFIFO, "entry `dev` is a fifo; fifos are not allowed" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        tb *t = tb_new(TB_PAX_GZ);
        tb_file(t, "before", "b", 0644);
        tb_entry(t, "dev", cases[i].type, 0666, 0, NULL, NULL);
        tb_finish(t);
        expect_refused(e, t, NULL, NOX_E_ARCHIVE, cases[i].needle);
        tb_free(t);
    }
    /* Sockets cannot be stored in tar at all (libarchive refuses to write
     * them and never reads one), so there is no archive to test with. */
}

static void test_refuse_conflicts(void **state)
{
    env *e = *state;
    tb *t = tb_new(TB_PAX_GZ);
    tb_file(t, "x", "file", 0644);
    tb_dir(t, "x/", 0755);
    tb_finish(t);
    expect_refused(e, t, NULL, NOX_E_ARCHIVE,
                   "entry `x/` is a directory, but an earlier entry of that name is not");
    tb_free(t);

    t = tb_new(TB_PAX_GZ);
    tb_dir(t, "y", 0755);
    tb_file(t, "y", "file", 0644);
    tb_finish(t);
    expect_refused(e, t, NULL, NOX_E_ARCHIVE, "entry `y` is not a directory, but an earlier");
    tb_free(t);

    /* The destination has a non-empty directory where the archive has a
     * file: found before anything moves, so nothing does. */
    mkdir_in(e->dest, "full", 0755);
    write_in(e->dest, "full/x", "x");
    t = tb_new(TB_PAX_GZ);
    tb_file(t, "aaa-first", "would be merged first", 0644);
    tb_file(t, "full", "file", 0644);
    tb_finish(t);
    expect_refused(e, t, NULL, NOX_E_ARCHIVE,
                   "entry `full` is not a directory, but the destination");
    tb_free(t);
}

static void test_refuse_limits(void **state)
{
    env *e = *state;
    nox_extract_opts o = default_opts();
    o.limits.max_entries = 10;
    tb *t = tb_new(TB_PAX_GZ);
    for (int i = 0; i < 11; i++) {
        char name[16];
        snprintf(name, sizeof name, "f%d", i);
        tb_file(t, name, "x", 0644);
    }
    tb_finish(t);
    expect_refused(e, t, &o, NOX_E_LIMIT, "more than 10 entries (at entry `f10`)");
    tb_free(t);

    o = default_opts();
    o.limits.max_entry_bytes = 1000;
    t = tb_new(TB_PAX_GZ);
    tb_zeros(t, "small", 1000);
    tb_zeros(t, "toobig", 1001);
    tb_finish(t);
    expect_refused(e, t, &o, NOX_E_LIMIT, "entry `toobig` is 1001 bytes");
    tb_free(t);

    o = default_opts();
    o.limits.max_path_bytes = 64;
    char name[66];
    memset(name, 'p', 65);
    name[65] = '\0';
    t = tb_new(TB_PAX_GZ);
    tb_file(t, name, "x", 0644);
    tb_finish(t);
    expect_refused(e, t, &o, NOX_E_LIMIT, "longer than the limit of 64 bytes");
    tb_free(t);

    o.limits.max_path_bytes = 64;
    t = tb_new(TB_PAX_GZ);
    tb_symlink(t, "l", name);
    tb_finish(t);
    expect_refused(e, t, &o, NOX_E_LIMIT, "entry `l` is a symlink whose target is longer");
    tb_free(t);

    /* Deeper than 256 levels. */
    char *deep = calloc(1, 2 * 300 + 8);
    assert_non_null(deep);
    for (int i = 0; i < 300; i++)
        memcpy(deep + 2 * i, "d/", 2);
    deep[2 * 300] = 'f';
    t = tb_new(TB_PAX_GZ);
    tb_file(t, deep, "x", 0644);
    tb_finish(t);
    expect_refused(e, t, NULL, NOX_E_LIMIT, "nested more than 256 levels deep");
    tb_free(t);
    free(deep);

    /* Many implied directories count too. */
    o = default_opts();
    o.limits.max_entries = 5;
    t = tb_new(TB_PAX_GZ);
    tb_file(t, "a/b/c/d/e/f/g", "x", 0644);
    tb_finish(t);
    expect_refused(e, t, &o, NOX_E_LIMIT, "more than 5 directories that have no entry");
    tb_free(t);
}

/* A source handing out at most 1 KiB per read and counting what it gave. */
typedef struct count_src {
    nox_source base;
    const char *data;
    size_t len, pos;
} count_src;

static ssize_t count_read(nox_source *s, void *buf, size_t n, nox_error *err)
{
    (void)err;
    count_src *c = (count_src *)s;
    size_t k = c->len - c->pos;
    if (k > n)
        k = n;
    if (k > 1024)
        k = 1024;
    memcpy(buf, c->data + c->pos, k);
    c->pos += k;
    return (ssize_t)k;
}

static void count_free(nox_source *s)
{
    (void)s;
}

static void test_refuse_zip_bomb(void **state)
{
    env *e = *state;
    /* 64 MiB of zeros behind a small header, then more after it. */
    tb *t = tb_new(TB_PAX_GZ);
    tb_file(t, "harmless", "h", 0644);
    tb_zeros(t, "bomb", 64 * MiB);
    tb_zeros(t, "after", 8 * MiB);
    tb_finish(t);
    assert_true(t->len < 256 * 1024);
    nox_extract_opts o = default_opts();
    o.limits.max_total_bytes = MiB;
    expect_refused(e, t, &o, NOX_E_LIMIT, "entry `bomb` brings the archive over the limit");

    /* Stopped at the bomb's header: most of the input was never read. */
    count_src cs = { { count_read, count_free }, t->data, t->len, 0 };
    nox_error *err = nox_error_new();
    struct mallinfo2 before = mallinfo2();
    assert_int_equal(nox__extract(&cs.base, e->dest_fd, &o, NULL, err), NOX_E_LIMIT);
    struct mallinfo2 after = mallinfo2();
    if (cs.pos * 2 > t->len)
        fail_msg("read %zu of %zu bytes before stopping", cs.pos, t->len);
    if (before.uordblks > 0 && after.uordblks > before.uordblks + 4 * MiB)
        fail_msg("heap grew by %zu bytes", (size_t)(after.uordblks - before.uordblks));

    /* Under the per-entry limit each, over the total together. */
    tb_free(t);
    t = tb_new(TB_PAX_GZ);
    for (int i = 0; i < 20; i++) {
        char name[16];
        snprintf(name, sizeof name, "part%02d", i);
        tb_zeros(t, name, 100 * 1024);
    }
    tb_finish(t);
    expect_refused(e, t, &o, NOX_E_LIMIT, "entry `part10` brings the archive over");
    nox_error_free(err);
    tb_free(t);
}

static void expect_refused_bytes(env *e, const void *data, size_t len, int code, const char *needle)
{
    tb t = { .a = NULL, .data = (char *)data, .len = len };
    expect_refused(e, &t, NULL, code, needle);
}

static void test_refuse_not_gzip_tar(void **state)
{
    env *e = *state;
    tb *t = tb_new(TB_PAX_PLAIN);
    tb_file(t, "plain", "p", 0644);
    tb_finish(t);
    expect_refused(e, t, NULL, NOX_E_ARCHIVE, "not gzip-compressed");
    tb_free(t);

    t = tb_new(TB_PAX_COMPRESS);
    tb_file(t, "compress", "c", 0644);
    tb_finish(t);
    expect_refused(e, t, NULL, NOX_E_ARCHIVE, "not gzip-compressed");
    tb_free(t);

    size_t noise_len = 200000;
    char *noise = malloc(noise_len);
    assert_non_null(noise);
    uint32_t x = 99;
    for (size_t i = 0; i < noise_len; i++) {
        x = x * 1103515245u + 12345u;
        noise[i] = (char)(x >> 24);
    }
    expect_refused_bytes(e, noise, 4096, NOX_E_ARCHIVE, "not gzip-compressed");
    expect_refused_bytes(e, "", 0, NOX_E_ARCHIVE, "archive is empty");

    /* Valid gzip around something that is not tar. */
    struct archive *a = archive_write_new();
    tb gz = { 0 };
    archive_write_set_format_raw(a);
    archive_write_add_filter_gzip(a);
    archive_write_set_bytes_in_last_block(a, 1);
    archive_write_open2(a, &gz, NULL, tb_write_cb, NULL, NULL);
    struct archive_entry *ae = archive_entry_new();
    archive_entry_set_filetype(ae, AE_IFREG);
    archive_entry_set_pathname(ae, "raw");
    archive_write_header(a, ae);
    archive_entry_free(ae);
    archive_write_data(a, noise, 4096);
    archive_write_close(a);
    archive_write_free(a);
    expect_refused_bytes(e, gz.data, gz.len, NOX_E_ARCHIVE, "read archive: Unrecognized archive");
    free(gz.data);

    /* Truncated: the first file arrives whole, the second is cut short. The
     * data does not compress, so half the archive ends inside it. */
    t = tb_new(TB_PAX_GZ);
    tb_file(t, "whole", "w", 0644);
    tb_entry(t, "cut", AE_IFREG, 0644, (int64_t)noise_len, NULL, NULL);
    tb_data(t, noise, noise_len);
    tb_finish(t);
    expect_refused_bytes(e, t->data, t->len / 2, NOX_E_ARCHIVE, "read entry `cut`: truncated");
    expect_refused_bytes(e, t->data, 20, NOX_E_ARCHIVE, "read archive: truncated gzip input");
    /* The gzip magic and then garbage. */
    memcpy(noise, t->data, 4);
    expect_refused_bytes(e, noise, 4096, NOX_E_ARCHIVE, "read archive: gzip decompression failed");
    tb_free(t);
    free(noise);
}

/* Another extraction into the same destination has its staging directory
 * there: an archive naming it is refused, the other one is left alone. */
static void test_refuse_staging_name(void **state)
{
    env *e = *state;
    mkdir_in(e->dest, ".nox-extract-OTHER1", 0700);
    char *before = listing(e->dest);
    tb *t = tb_new(TB_PAX_GZ);
    tb_file(t, ".nox-extract-OTHER1/sub/x", "x", 0644);
    tb_symlink(t, ".nox-extract-OTHER1/sub/l", "../y");
    tb_finish(t);
    nox_error *err = nox_error_new();
    nox_extract_opts o = default_opts();
    assert_int_equal(extract_buf(t->data, t->len, e->dest_fd, &o, NULL, err), NOX_E_ARCHIVE);
    assert_non_null(strstr(nox_error_message(err),
                           "entry `.nox-extract-OTHER1` has the name of a staging directory"));
    char *after = listing(e->dest);
    assert_string_equal(before, after);
    free(before);
    free(after);
    assert_false(exists_in(e->dest, ".nox-extract-OTHER1/sub"));
    nox_error_free(err);
    tb_free(t);
}

/* ==== the source's failures reach the caller as they were ==== */

static int cancel_progress(void *ud, uint64_t done, uint64_t total)
{
    (void)ud;
    (void)total;
    return done > 100;
}

static void test_source_failures(void **state)
{
    env *e = *state;
    tb *t = tb_new(TB_PAX_GZ);
    tb_zeros(t, "z", 4 * MiB);
    tb_finish(t);
    char *before = listing(e->dest);

    nox_error *err = nox_error_new();
    nox_source *src = nox__source_with_limit(nox__source_from_mem(t->data, t->len), 100, "upload");
    nox_extract_opts o = default_opts();
    assert_int_equal(nox__extract(src, e->dest_fd, &o, NULL, err), NOX_E_LIMIT);
    assert_string_equal(nox_error_message(err), "upload is larger than the limit of 100 bytes");
    nox__source_free(src);

    src =
        nox__source_with_progress(nox__source_from_mem(t->data, t->len), cancel_progress, NULL, 0);
    assert_int_equal(nox__extract(src, e->dest_fd, &o, NULL, err), NOX_E_CANCELLED);
    assert_string_equal(nox_error_message(err), "transfer cancelled by the progress callback");
    nox__source_free(src);

    char *after = listing(e->dest);
    assert_string_equal(before, after);
    assert_no_staging(e->dest);
    free(before);
    free(after);
    nox_error_free(err);
    tb_free(t);
}

/* ==== recovery of extractions whose process died ==== */

#define RECOVER_FILES 2000

typedef struct recover_ctx {
    int dest_fd;
    char *label; /* what the callback was asked for */
    int calls;
} recover_ctx;

static int recover_open_dest(void *userdata, const char *label, int *ret_fd, nox_error *err)
{
    (void)err;
    recover_ctx *c = userdata;
    c->calls++;
    free(c->label);
    c->label = strdup(label);
    *ret_fd = dup(c->dest_fd);
    return *ret_fd < 0 ? NOX_E_IO : 0;
}

/* The one staging directory in @p parent, or NULL. */
static char *only_staging(const char *parent)
{
    DIR *d = opendir(parent);
    assert_non_null(d);
    char *found = NULL;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strncmp(de->d_name, ".nox-extract-", 13) != 0)
            continue;
        assert_null(found);
        found = strdup(de->d_name);
    }
    closedir(d);
    return found;
}

/* How many of dest/d/fNNNN start with @p word. */
static int count_version(const char *dest, const char *word)
{
    int n = 0;
    for (int i = 0; i < RECOVER_FILES; i++) {
        char rel[32];
        snprintf(rel, sizeof rel, "d/f%04d", i);
        char *data = read_in(dest, rel);
        if (data && strncmp(data, word, strlen(word)) == 0)
            n++;
        free(data);
    }
    return n;
}

static void put_old_versions(const char *dest)
{
    char *d = path_in(dest, "d");
    mkdir(d, 0755);
    for (int i = 0; i < RECOVER_FILES; i++) {
        char rel[32];
        snprintf(rel, sizeof rel, "d/f%04d", i);
        write_in(dest, rel, "old");
    }
    free(d);
}

/* A process killed while it merges a committed extraction: another
 * process finishes the merge, with the attributes the archive gave, and
 * removes the staging directory. */
static void test_recover_killed_mid_merge(void **state)
{
    env *e = *state;
    mkdir_in(e->root, "a/staging", 0700);
    char *sp = path_in(e->root, "a/staging");
    int sfd = open_dir(sp);
    tb *t = tb_new(TB_PAX_GZ);
    tb_dir(t, "d", 0750);
    for (int i = 0; i < RECOVER_FILES; i++) {
        char name[32];
        snprintf(name, sizeof name, "d/f%04d", i);
        tb_file(t, name, "new", 0640);
    }
    tb_dir(t, "nd", 0710);
    tb_file(t, "nd/inner", "inner", 0600);
    tb_finish(t);

    /* Killed as soon as the first entry is in place; the merge takes far
     * longer than noticing that (~50 us per entry), but should one run
     * end first, try again. */
    int old = 0, fresh = 0;
    for (int attempt = 0; attempt < 10 && !(old && fresh); attempt++) {
        put_old_versions(e->dest);
        char *first = path_in(e->dest, "d/f0000");
        struct stat st0;
        assert_int_equal(stat(first, &st0), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            nox_extract_opts o = default_opts();
            o.staging_parent_fd = sfd;
            o.commit_label = "the/label";
            _exit(extract_buf(t->data, t->len, e->dest_fd, &o, NULL, NULL) == 0 ? 0 : 1);
        }
        struct stat st;
        while (stat(first, &st) == 0 && st.st_ino == st0.st_ino && waitpid(pid, NULL, WNOHANG) == 0)
            ;
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        free(first);
        old = count_version(e->dest, "old");
        fresh = count_version(e->dest, "new");
        assert_int_equal(old + fresh, RECOVER_FILES);
        if (!(old && fresh)) {
            /* Ran to the end (or died before the merge): clear up, again. */
            char *name = only_staging(sp);
            if (name)
                nox__extract_recover(sfd, name, true, recover_open_dest,
                                     &(recover_ctx){ e->dest_fd, NULL, 0 }, NULL);
            free(name);
        }
    }
    if (!(old && fresh))
        fail_msg("no attempt was killed in the middle of its merge");
    print_message("killed with %d of %d entries moved\n", fresh, RECOVER_FILES);

    char *name = only_staging(sp);
    assert_non_null(name);
    /* Recovering leaves a committed extraction to nobody else. */
    recover_ctx ctx = { e->dest_fd, NULL, 0 };
    nox_error *err = nox_error_new();
    int r = nox__extract_recover(sfd, name, false, recover_open_dest, &ctx, err);
    if (r != 2)
        fail_msg("recover returned %d: %s", r, nox_error_message(err));
    assert_int_equal(ctx.calls, 1);
    assert_string_equal(ctx.label, "the/label");
    assert_int_equal(count_version(e->dest, "new"), RECOVER_FILES);
    assert_int_equal(lstat_in(e->dest, "d").st_mode & 07777, 0750);
    assert_int_equal(lstat_in(e->dest, "d").st_mtime, 1500000000);
    assert_int_equal(lstat_in(e->dest, "nd").st_mode & 07777, 0710);
    assert_int_equal(lstat_in(e->dest, "nd").st_mtime, 1500000000);
    assert_int_equal(lstat_in(e->dest, "d/f0000").st_mode & 07777, 0640);
    char *inner = read_in(e->dest, "nd/inner");
    assert_string_equal(inner, "inner");
    char *kept = read_in(e->dest, "existing.txt");
    assert_string_equal(kept, "old");
    char *ls = listing(sp);
    assert_string_equal(ls, "");
    /* Nothing left to do. */
    assert_int_equal(nox__extract_recover(sfd, name, true, recover_open_dest, &ctx, err), 0);
    assert_int_equal(ctx.calls, 1);
    free(ls);
    free(kept);
    free(inner);
    free(ctx.label);
    free(name);
    nox_error_free(err);
    close(sfd);
    free(sp);
    tb_free(t);
}

/* A process killed while the archive still arrives: its staging directory
 * goes (only when asked to), the destination never changed. A staging
 * directory still locked, or a name that is not one, is left alone. */
static void test_recover_killed_mid_read(void **state)
{
    env *e = *state;
    mkdir_in(e->root, "a/staging", 0700);
    char *sp = path_in(e->root, "a/staging");
    int sfd = open_dir(sp);
    tb *t = tb_new(TB_PAX_GZ);
    for (int i = 0; i < 200; i++) {
        char name[32];
        snprintf(name, sizeof name, "existing-%03d.txt", i);
        tb_zeros(t, name, 16384);
    }
    tb_finish(t);
    char *before = listing(e->dest);
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[1]);
        nox_source *src = nox__source_from_fd(p[0], true);
        nox_extract_opts o = default_opts();
        o.staging_parent_fd = sfd;
        o.commit_label = "x";
        _exit(nox__extract(src, e->dest_fd, &o, NULL, NULL) == 0 ? 0 : 1);
    }
    close(p[0]);
    /* Half the archive, then wait for the staging directory to fill. */
    assert_int_equal(nox__write_all(p[1], t->data, t->len / 2), 0);
    char *name = NULL;
    for (int i = 0; i < 2000 && !name; i++) {
        name = only_staging(sp);
        usleep(5000);
    }
    assert_non_null(name);
    char *tree = nox_test_strf("%s/%s/tree/existing-000.txt", sp, name);
    for (int i = 0; i < 2000 && !nox_test_exists(tree); i++)
        usleep(5000);
    assert_true(nox_test_exists(tree));
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    close(p[1]);

    recover_ctx ctx = { e->dest_fd, NULL, 0 };
    nox_error *err = nox_error_new();
    assert_int_equal(nox__extract_recover(sfd, name, false, recover_open_dest, &ctx, err), 0);
    char *again = only_staging(sp);
    assert_non_null(again);
    assert_int_equal(nox__extract_recover(sfd, name, true, recover_open_dest, &ctx, err), 1);
    assert_int_equal(ctx.calls, 0);
    char *ls = listing(sp);
    assert_string_equal(ls, "");
    char *after = listing(e->dest);
    assert_string_equal(before, after);

    /* Locked: an extraction in progress (flock conflicts between two open
     * descriptions, even in one process). */
    mkdir_in(sp, ".nox-extract-live00", 0700);
    char *live = path_in(sp, ".nox-extract-live00");
    int lfd = open_dir(live);
    assert_int_equal(flock(lfd, LOCK_EX), 0);
    assert_int_equal(
        nox__extract_recover(sfd, ".nox-extract-live00", true, recover_open_dest, &ctx, err), 0);
    assert_true(nox_test_exists(live));
    close(lfd);
    assert_int_equal(
        nox__extract_recover(sfd, ".nox-extract-live00", true, recover_open_dest, &ctx, err), 1);
    assert_false(nox_test_exists(live));
    mkdir_in(sp, "not-staging", 0700);
    assert_int_equal(nox__extract_recover(sfd, "not-staging", true, recover_open_dest, &ctx, err),
                     0);
    assert_true(exists_in(sp, "not-staging"));
    free(live);
    free(after);
    free(ls);
    free(again);
    free(tree);
    free(name);
    free(before);
    nox_error_free(err);
    close(sfd);
    free(sp);
    tb_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_limits_fill),
        cmocka_unit_test_setup_teardown(test_roundtrip_tree, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_tar_from_files, env_setup, env_teardown),
        cmocka_unit_test(test_tar_from_files_invalid),
        cmocka_unit_test_setup_teardown(test_tar_from_fd_single_file, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_writer_walk, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_writer_depth_limit, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_writer_bounded_memory, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_writer_abandoned, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_empty_archive, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_formats, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_duplicates, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_merge_into_existing, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_root_entry, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_chown, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_sparse, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_staging_parent, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_refuse_dotdot_and_absolute, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_refuse_symlink_escapes, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_refuse_hardlinks, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_refuse_special_files, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_refuse_conflicts, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_refuse_limits, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_refuse_zip_bomb, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_refuse_not_gzip_tar, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_refuse_staging_name, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_source_failures, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_recover_killed_mid_merge, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_recover_killed_mid_read, env_setup, env_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
