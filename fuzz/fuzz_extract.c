/* SPDX-License-Identifier: MIT */
/* libFuzzer target for nox__extract(), the parser of untrusted archives.
 *
 * The first input byte chooses how the rest is used:
 *  - even: as the archive itself, a tar.gz. Most mutations then break the
 *    gzip framing, which exercises the gzip checks and libarchive's inflate.
 *  - odd: as a plain tar that is gzip-compressed here first, so that
 *    mutations reach libarchive's tar parsing and our entry checks (names,
 *    links, types, limits, conflicts, the merge).
 * Every run extracts into a fresh temporary directory with small limits and
 * removes it afterwards. Build (not part of CMake yet), for example:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE \
 *     -Iinclude -Ibuild/include -Isrc fuzz/fuzz_extract.c src/archive.c \
 *     src/stream.c src/error.c src/util.c -larchive -o /tmp/fuzz_extract
 *   mkdir -p /tmp/fuzz-extract-corpus
 *   TMPDIR=/dev/shm /tmp/fuzz_extract -max_total_time=60 /tmp/fuzz-extract-corpus \
 *     fuzz/corpus/extract
 * Each run makes and removes directories: on a tmpfs (TMPDIR=/dev/shm) it
 * runs several times faster than on a disk. */
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "tarball.h"
#include "error.h"
#include "stream.h"

/* Inputs above this are ignored: bigger ones only slow the fuzzer down. */
#define FUZZ_MAX_INPUT (1u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct gz_buf {
    char *data;
    size_t len, cap;
} gz_buf;

static la_ssize_t gz_write(struct archive *a, void *userdata, const void *p, size_t n)
{
    (void)a;
    gz_buf *b = userdata;
    if (b->len + n > b->cap) {
        size_t cap = (b->len + n) * 2;
        char *d = realloc(b->data, cap);
        if (!d)
            return -1;
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return (la_ssize_t)n;
}

/* gzip-compresses @p data with libarchive's raw format (no tar framing). */
static bool gzip_bytes(const uint8_t *data, size_t size, gz_buf *out)
{
    struct archive *a = archive_write_new();
    if (!a)
        return false;
    bool ok = archive_write_set_format_raw(a) == ARCHIVE_OK &&
              archive_write_add_filter_gzip(a) == ARCHIVE_OK &&
              archive_write_set_bytes_in_last_block(a, 1) == ARCHIVE_OK &&
              archive_write_open2(a, out, NULL, gz_write, NULL, NULL) == ARCHIVE_OK;
    struct archive_entry *e = ok ? archive_entry_new() : NULL;
    if (e) {
        archive_entry_set_pathname(e, "raw");
        archive_entry_set_filetype(e, AE_IFREG);
        ok = archive_write_header(a, e) == ARCHIVE_OK &&
             (size == 0 || archive_write_data(a, data, size) == (la_ssize_t)size);
        archive_entry_free(e);
    } else {
        ok = false;
    }
    if (archive_write_close(a) != ARCHIVE_OK)
        ok = false;
    archive_write_free(a);
    return ok;
}

static int open_up(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    /* Directories the archive made read-only or unsearchable. */
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

static size_t count_entries(const char *path)
{
    DIR *d = opendir(path);
    if (!d)
        abort();
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > FUZZ_MAX_INPUT)
        return 0;
    bool compress = data[0] & 1;
    data++;
    size--;

    gz_buf gz = { NULL, 0, 0 };
    const void *input = data;
    size_t input_len = size;
    if (compress) {
        if (!gzip_bytes(data, size, &gz)) {
            free(gz.data);
            return 0;
        }
        input = gz.data;
        input_len = gz.len;
    }

    /* box/dest: whatever escapes the destination by one level lands in box,
     * where the checks below see it. */
    const char *tmp = getenv("TMPDIR");
    char box[4096], dir[4200];
    snprintf(box, sizeof box, "%s/nox-fuzz-extract-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(box))
        abort();
    snprintf(dir, sizeof dir, "%s/dest", box);
    if (mkdir(dir, 0755) < 0)
        abort();
    int dest = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dest < 0)
        abort();

    nox_extract_opts opts;
    memset(&opts, 0, sizeof opts);
    opts.limits.max_entries = 1000;
    opts.limits.max_entry_bytes = 1u << 20;
    opts.limits.max_total_bytes = 1u << 20;
    opts.limits.max_path_bytes = 4096;
    opts.staging_parent_fd = -1;

    nox_error *err = nox_error_new();
    nox_source *src = nox__source_from_mem(input, input_len);
    if (!err || !src)
        abort();
    nox_extract_stats st;
    int r = nox__extract(src, dest, &opts, &st, err);
    /* The contract: 0 or a negative code with a message. */
    if (r > 0 || (r < 0 && (nox_error_code(err) != r || !*nox_error_message(err))))
        abort();
    /* Nothing beside the destination, ever; nothing in it after a refusal
     * (not even a staging directory). */
    if (count_entries(box) != 1 || (r < 0 && count_entries(dir) != 0))
        abort();
    nox__source_free(src);
    nox_error_free(err);
    close(dest);
    remove_tree(box);
    free(gz.data);
    return 0;
}
