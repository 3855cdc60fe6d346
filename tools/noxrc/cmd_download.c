/* SPDX-License-Identifier: MIT */
/* noxrc download ID [--src PATH] [--output FILE | --extract DIR]: the tar.gz
 * streams to a file (never held whole in memory), or is extracted safely. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "noxrc.h"

enum {
    OPT_SRC = 1,
    OPT_OUTPUT,
    OPT_EXTRACT,
};

static const noxrc_option options[] = {
    { "src", 0, true, OPT_SRC },
    { "output", 'o', true, OPT_OUTPUT },
    { "extract", 0, true, OPT_EXTRACT },
    { NULL, 0, false, 0 },
};

#define CHUNK (256 * 1024)

static bool write_all(int fd, const char *buf, size_t len)
{
    while (len) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        buf += n;
        len -= (size_t)n;
    }
    return true;
}

/* Streams the download into @p fd; the byte count goes to *ret_bytes. */
static int stream_to_fd(const noxrc_ctx *ctx, nox_client *c, const char *id, const char *src,
                        int fd, const char *what, uint64_t *ret_bytes)
{
    _cleanup_error_ nox_error *err = nox_error_new();
    _cleanup_free_ char *buf = malloc(CHUNK);
    if (!err || !buf)
        return noxrc_failf(ctx, NOX_E_NOMEM, "out of memory");
    nox_stream *s = NULL;
    noxrc_progress prog;
    noxrc_progress_start(ctx, c, &prog, "Downloading");
    if (nox_download_open(c, id, src, &s, err) < 0) {
        noxrc_progress_end(c, &prog);
        // cppcheck-suppress memleak ; buf is freed by its cleanup attribute
        return noxrc_fail(ctx, err);
    }
    uint64_t total = 0;
    int rc = 0;
    for (;;) {
        ssize_t n = nox_stream_read(s, buf, CHUNK, err);
        if (n < 0) {
            noxrc_progress_end(c, &prog);
            rc = noxrc_fail(ctx, err);
            break;
        }
        if (n == 0) {
            noxrc_progress_end(c, &prog);
            break;
        }
        if (!write_all(fd, buf, (size_t)n)) {
            int e = errno;
            noxrc_progress_end(c, &prog);
            rc = noxrc_failf(ctx, NOX_E_IO, "cannot write %s: %s", what, strerror(e));
            break;
        }
        total += (uint64_t)n;
    }
    nox_stream_free(s);
    if (rc == 0)
        *ret_bytes = total;
    return rc;
}

static mode_t file_mode(void)
{
    mode_t mask = umask(022);
    umask(mask);
    return 0666 & ~mask;
}

static int download_to_file(noxrc_ctx *ctx, nox_client *c, const char *id, const char *src,
                            const char *output, uint64_t *ret_bytes)
{
    if (strcmp(output, "-") == 0) {
        if (noxrc_is_tty(NOXRC_STDOUT))
            return noxrc_usage_hint(ctx, "Redirect it to a file or a pipe, or name a file.",
                                    "refusing to write a tar.gz archive to a terminal");
        return stream_to_fd(ctx, c, id, src, STDOUT_FILENO, "to standard output", ret_bytes);
    }
    /* Written under a temporary name next to the target and renamed when
     * complete, so an interrupted download never looks like a finished one. */
    size_t n = strlen(output) + sizeof ".part-XXXXXX";
    _cleanup_free_ char *tmp = malloc(n);
    if (!tmp)
        return noxrc_failf(ctx, NOX_E_NOMEM, "out of memory");
    snprintf(tmp, n, "%s.part-XXXXXX", output);
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return noxrc_failf(ctx, NOX_E_IO, "cannot create `%s`: %s", output, strerror(errno));
    noxrc_set_partial_file(tmp);
    int rc = stream_to_fd(ctx, c, id, src, fd, output, ret_bytes);
    if (rc == 0 && fchmod(fd, file_mode()) < 0)
        rc = noxrc_failf(ctx, NOX_E_IO, "cannot set the mode of `%s`: %s", output, strerror(errno));
    if (close(fd) < 0 && rc == 0)
        rc = noxrc_failf(ctx, NOX_E_IO, "cannot write `%s`: %s", output, strerror(errno));
    if (rc == 0 && rename(tmp, output) < 0)
        rc = noxrc_failf(ctx, NOX_E_IO, "cannot rename `%s` to `%s`: %s", tmp, output,
                         strerror(errno));
    if (rc != 0)
        unlink(tmp);
    noxrc_set_partial_file(NULL);
    return rc;
}

static int run(noxrc_ctx *ctx, int argc, char **argv)
{
    _cleanup_parser_ noxrc_parser p;
    if (noxrc_parser_init(&p, ctx, argc, argv, options, 0) < 0)
        return NOXRC_EXIT_FAILURE;
    const char *src = "/workspace", *output = NULL, *extract = NULL;
    int rc, key;
    while ((key = noxrc_parse_next(&p)) != NOXRC_OPT_END) {
        if ((rc = noxrc_parse_special(ctx, key)) >= 0)
            return rc;
        switch (key) {
        case OPT_SRC:
            if (!*p.value)
                return noxrc_usage(ctx, "--src needs a path in the sandbox");
            src = p.value;
            break;
        case OPT_OUTPUT:
            if (!*p.value)
                return noxrc_usage(ctx, "--output needs a file name");
            output = p.value;
            break;
        case OPT_EXTRACT:
            if (!*p.value)
                return noxrc_usage(ctx, "--extract needs a directory");
            extract = p.value;
            break;
        }
    }
    static const char *const names[] = { "the sandbox ID", NULL };
    if ((rc = noxrc_expect_args(ctx, &p, 1, 1, names)) != 0)
        return rc;
    if (output && extract)
        return noxrc_usage(ctx, "--output and --extract exclude each other; give one");
    const char *id = p.positional[0];
    if (!noxrc_check_id(ctx, id))
        return NOXRC_EXIT_USAGE;
    if (!output && !extract)
        extract = ".";

    _cleanup_client_ nox_client *c = NULL;
    if ((rc = noxrc_open_client(ctx, &c)) != 0)
        return rc;
    noxrc_json j = { 0 };
    if (output) {
        uint64_t bytes = 0;
        if ((rc = download_to_file(ctx, c, id, src, output, &bytes)) != 0)
            return rc;
        char size[32];
        noxrc_format_bytes(bytes, size, sizeof size);
        if (!ctx->json) {
            if (strcmp(output, "-") == 0)
                noxrc_info(ctx, "Downloaded %s:%s (%s)", id, src, size);
            else
                noxrc_success(ctx, "Downloaded %s:%s to %s (%s)", id, src, output, size);
            return NOXRC_EXIT_OK;
        }
        if (strcmp(output, "-") == 0)
            return NOXRC_EXIT_OK; /* stdout holds the archive: no document */
        noxrc_json_begin_object(&j);
        noxrc_json_key(&j, "sessionId");
        noxrc_json_string(&j, id);
        noxrc_json_key(&j, "src");
        noxrc_json_string(&j, src);
        noxrc_json_key(&j, "output");
        noxrc_json_string(&j, output);
        noxrc_json_key(&j, "bytes");
        noxrc_json_uint(&j, bytes);
        noxrc_json_end_object(&j);
        return noxrc_json_emit(&j);
    }

    _cleanup_error_ nox_error *err = nox_error_new();
    if (!err)
        return noxrc_failf(ctx, NOX_E_NOMEM, "out of memory");
    bool any = false;
    noxrc_progress prog;
    noxrc_progress_start(ctx, c, &prog, "Downloading");
    int r = nox_download_workspace(c, id, src, extract, &any, err);
    noxrc_progress_end(c, &prog);
    if (r < 0)
        return noxrc_fail(ctx, err);
    if (ctx->json) {
        noxrc_json_begin_object(&j);
        noxrc_json_key(&j, "sessionId");
        noxrc_json_string(&j, id);
        noxrc_json_key(&j, "src");
        noxrc_json_string(&j, src);
        noxrc_json_key(&j, "extractedTo");
        noxrc_json_string(&j, extract);
        noxrc_json_key(&j, "any");
        noxrc_json_bool(&j, any);
        noxrc_json_end_object(&j);
        return noxrc_json_emit(&j);
    }
    if (any)
        noxrc_success(ctx, "Extracted %s:%s into %s", id, src, extract);
    else
        noxrc_info(ctx, "Nothing to download: %s:%s is empty", id, src);
    return NOXRC_EXIT_OK;
}

const noxrc_command noxrc_command_download = {
    .name = "download",
    .run = run,
    .usage = "ID [--src PATH] [--output FILE | --extract DIR]",
    .summary = "Download files from a sandbox",
    .help = "Downloads PATH of sandbox ID (a directory or a single file) as a tar.gz archive\n"
            "and extracts it into DIR, or saves the archive as FILE. Extraction is safe:\n"
            "entries with '..' or absolute paths, links pointing outside, devices and\n"
            "oversized archives are refused, and nothing outside DIR is written.\n"
            "\n"
            "Options:\n"
            "  --src PATH            What to download (default /workspace)\n"
            "  -o, --output FILE     Save the tar.gz archive as FILE (`-`: standard output);\n"
            "                        it streams to disk, and appears only when complete\n"
            "  --extract DIR         Extract into DIR, created when missing (default `.`)\n"
            "\n"
            "A progress line appears on a terminal for transfers over 4 MiB.\n"
            "--json prints {\"sessionId\", \"src\", \"output\", \"bytes\"} or\n"
            "{\"sessionId\", \"src\", \"extractedTo\", \"any\"}.\n",
};
