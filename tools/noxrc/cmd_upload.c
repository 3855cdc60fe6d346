/* SPDX-License-Identifier: MIT */
/* noxrc upload ID FILES... [--dir DIR] [--dest PATH]: files go to DEST under
 * their base names; a directory tree goes with its relative paths. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "noxrc.h"

enum {
    OPT_DIR = 1,
    OPT_DEST,
};

static const noxrc_option options[] = {
    { "dir", 0, true, OPT_DIR },
    { "dest", 0, true, OPT_DEST },
    { NULL, 0, false, 0 },
};

typedef struct upload_file {
    const char *local;
    const char *name;
    char *data;
    size_t size;
    unsigned mode;
} upload_file;

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* Reads one local file, refusing what is not a regular file. */
static int read_file(const noxrc_ctx *ctx, upload_file *f)
{
    _cleanup_close_ int fd = open(f->local, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        if (errno == ENOENT)
            return noxrc_failf(ctx, NOX_E_NOT_FOUND, "no such file: `%s`", f->local);
        return noxrc_failf(ctx, NOX_E_IO, "cannot open `%s`: %s", f->local, strerror(errno));
    }
    struct stat st;
    if (fstat(fd, &st) < 0)
        return noxrc_failf(ctx, NOX_E_IO, "cannot stat `%s`: %s", f->local, strerror(errno));
    if (S_ISDIR(st.st_mode))
        return noxrc_failf(ctx, NOX_E_INVALID, "`%s` is a directory; upload a tree with --dir %s",
                           f->local, f->local);
    if (!S_ISREG(st.st_mode))
        return noxrc_failf(ctx, NOX_E_INVALID, "`%s` is not a regular file", f->local);
    if ((uint64_t)st.st_size > (uint64_t)SIZE_MAX / 2)
        return noxrc_failf(ctx, NOX_E_LIMIT, "`%s` is too large to upload", f->local);
    /* A file may grow while we read it; read what is there, to the end. */
    size_t cap = (size_t)st.st_size + 1, len = 0;
    char *buf = malloc(cap);
    if (!buf)
        return noxrc_failf(ctx, NOX_E_NOMEM, "out of memory reading `%s`", f->local);
    for (;;) {
        if (len == cap) {
            char *bigger = cap > SIZE_MAX / 2 ? NULL : realloc(buf, cap * 2);
            if (!bigger) {
                free(buf);
                return noxrc_failf(ctx, NOX_E_NOMEM, "out of memory reading `%s`", f->local);
            }
            buf = bigger;
            cap *= 2;
        }
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            free(buf);
            return noxrc_failf(ctx, NOX_E_IO, "cannot read `%s`: %s", f->local, strerror(e));
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    f->data = buf;
    f->size = len;
    /* Mode 0 means "default" to the library; a file nobody may read stays
     * unreadable rather than becoming 0644. */
    f->mode = (unsigned)(st.st_mode & 07777);
    if (f->mode == 0)
        f->mode = 0200;
    return 0;
}

static int run(noxrc_ctx *ctx, int argc, char **argv)
{
    _cleanup_parser_ noxrc_parser p;
    if (noxrc_parser_init(&p, ctx, argc, argv, options, 0) < 0)
        return NOXRC_EXIT_FAILURE;
    const char *dir = NULL, *dest = "/workspace";
    int rc, key;
    while ((key = noxrc_parse_next(&p)) != NOXRC_OPT_END) {
        if ((rc = noxrc_parse_special(ctx, key)) >= 0)
            return rc;
        switch (key) {
        case OPT_DIR:
            if (!*p.value)
                return noxrc_usage(ctx, "--dir needs a directory");
            dir = p.value;
            break;
        case OPT_DEST:
            if (!*p.value)
                return noxrc_usage(ctx, "--dest needs a directory in the sandbox");
            dest = p.value;
            break;
        }
    }
    static const char *const names[] = { "the sandbox ID", NULL };
    if ((rc = noxrc_expect_args(ctx, &p, 1, SIZE_MAX, names)) != 0)
        return rc;
    const char *id = p.positional[0];
    if (!noxrc_check_id(ctx, id))
        return NOXRC_EXIT_USAGE;
    size_t n_files = p.n_positional - 1;
    if (n_files == 0 && !dir)
        return noxrc_usage(ctx, "nothing to upload: name FILES, or a directory with --dir");

    /* Every local argument is checked before anything is sent. */
    if (dir) {
        struct stat st;
        if (stat(dir, &st) < 0)
            return noxrc_failf(ctx, errno == ENOENT ? NOX_E_NOT_FOUND : NOX_E_IO, "--dir `%s`: %s",
                               dir, strerror(errno));
        if (!S_ISDIR(st.st_mode))
            return noxrc_failf(ctx, NOX_E_INVALID,
                               "--dir `%s` is not a directory; name a file as an argument instead",
                               dir);
    }
    upload_file *files = calloc(n_files ? n_files : 1, sizeof *files);
    nox_file *nf = calloc(n_files ? n_files : 1, sizeof *nf);
    uint64_t total = 0;
    if (!files || !nf) {
        rc = noxrc_failf(ctx, NOX_E_NOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n_files; i++) {
        upload_file *f = &files[i];
        f->local = p.positional[i + 1];
        f->name = base_name(f->local);
        struct stat st;
        if (stat(f->local, &st) == 0 && S_ISDIR(st.st_mode)) {
            rc = noxrc_failf(ctx, NOX_E_INVALID, "`%s` is a directory; upload a tree with --dir %s",
                             f->local, f->local);
            goto out;
        }
        if (!*f->name || strcmp(f->name, ".") == 0 || strcmp(f->name, "..") == 0) {
            rc = noxrc_failf(ctx, NOX_E_INVALID, "`%s` does not name a file", f->local);
            goto out;
        }
        for (size_t k = 0; k < i; k++)
            if (strcmp(files[k].name, f->name) == 0) {
                rc = noxrc_failf(ctx, NOX_E_INVALID, "`%s` and `%s` would both be uploaded as `%s`",
                                 files[k].local, f->local, f->name);
                goto out;
            }
        if ((rc = read_file(ctx, f)) != 0)
            goto out;
        nf[i].path = f->name;
        nf[i].data = f->data;
        nf[i].size = f->size;
        nf[i].mode = f->mode;
        total += f->size;
    }

    nox_client *c = NULL;
    if ((rc = noxrc_open_client(ctx, &c)) != 0)
        goto out;
    nox_error *err = nox_error_new();
    if (!err) {
        nox_client_free(c);
        rc = noxrc_failf(ctx, NOX_E_NOMEM, "out of memory");
        goto out;
    }
    noxrc_progress prog;
    noxrc_progress_start(ctx, c, &prog, "Uploading");
    int r = 0;
    if (n_files)
        r = nox_upload_files(c, id, nf, n_files, dest, err);
    if (r == 0 && dir)
        r = nox_upload_dir(c, id, dir, dest, err);
    noxrc_progress_end(c, &prog);
    if (r < 0) {
        rc = noxrc_fail(ctx, err);
    } else if (ctx->json) {
        noxrc_json j = { 0 };
        noxrc_json_begin_object(&j);
        noxrc_json_key(&j, "sessionId");
        noxrc_json_string(&j, id);
        noxrc_json_key(&j, "dest");
        noxrc_json_string(&j, dest);
        noxrc_json_key(&j, "files");
        noxrc_json_begin_array(&j);
        for (size_t i = 0; i < n_files; i++)
            noxrc_json_string(&j, files[i].name);
        noxrc_json_end_array(&j);
        noxrc_json_key(&j, "fileBytes");
        noxrc_json_uint(&j, total);
        noxrc_json_key(&j, "dir");
        noxrc_json_string(&j, dir);
        noxrc_json_end_object(&j);
        rc = noxrc_json_emit(&j);
    } else {
        char size[32];
        if (n_files)
            noxrc_success(ctx, "Uploaded %zu file%s (%s) to %s:%s", n_files,
                          n_files == 1 ? "" : "s", noxrc_format_bytes(total, size, sizeof size), id,
                          dest);
        if (dir)
            noxrc_success(ctx, "Uploaded directory %s to %s:%s", dir, id, dest);
    }
    nox_error_free(err);
    nox_client_free(c);
out:
    for (size_t i = 0; files && i < n_files; i++)
        free(files[i].data);
    free(files);
    free(nf);
    return rc;
}

const noxrc_command noxrc_command_upload = {
    .name = "upload",
    .run = run,
    .usage = "ID [FILES...] [--dir DIR] [--dest PATH]",
    .summary = "Upload files or a directory tree into a sandbox",
    .help =
        "Uploads FILES into directory PATH of sandbox ID under their base names, keeping\n"
        "their permissions, and with --dir the whole tree under DIR, keeping relative\n"
        "paths, permissions and times. Missing files, and directories named as files,\n"
        "are refused before anything is sent. PATH is created when missing; it must be\n"
        "inside /workspace.\n"
        "\n"
        "Options:\n"
        "  --dir DIR             Upload the tree under local directory DIR\n"
        "  --dest PATH           Destination in the sandbox (default /workspace)\n"
        "\n"
        "A progress line appears on a terminal for transfers over 4 MiB.\n"
        "--json prints {\"sessionId\", \"dest\", \"files\": [names], \"fileBytes\", \"dir\"}.\n",
};
