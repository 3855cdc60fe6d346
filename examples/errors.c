/* SPDX-License-Identifier: MIT */
/* Error handling done right: every way a libnoxrunner call fails, what it
 * returns, and what the error object says.
 *
 * The contract: a call that can fail returns 0 or a negative nox_code, and
 * fills the nox_error passed to it with that code, a message naming what
 * failed, and -- when a server answered -- the HTTP status and the body.
 * A command that runs and fails is NOT an error: the call succeeds and the
 * result carries the exit code.
 *
 * Each case below prints the code and the message, and checks that the code
 * is the one documented; the program exits 1 if any check fails.
 *
 * Build against the installed library:
 *
 *   cc errors.c $(pkg-config --cflags --libs noxrunner) -o errors
 *   ./errors                          # local sandboxes, no server
 *   ./errors http://127.0.0.1:8080    # the same cases through noxrunnerd
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <noxrunner/noxrunner.h>

static int failures;

/* Checks that a call returned @p want and shows everything @p err holds. */
static void expect(const char *what, int got, int want, const nox_error *err)
{
    bool ok = got == want && (got == 0 || nox_error_code(err) == got);
    printf("%s %s\n     returned %s", ok ? "ok  " : "FAIL", what, nox_code_name(got));
    if (!ok)
        printf(", expected %s", nox_code_name(want));
    printf("\n");
    if (got != 0) {
        printf("     message: %s\n", nox_error_message(err));
        size_t len = 0;
        const char *body = nox_error_body(err, &len);
        if (nox_error_http_status(err))
            printf("     HTTP %d, body: %.*s\n", nox_error_http_status(err), (int)len,
                   body ? body : "(none)");
    }
    failures += !ok;
}

static void check(const char *what, bool ok)
{
    printf("%s %s\n", ok ? "ok  " : "FAIL", what);
    failures += !ok;
}

/* What to tell a person when isolation is unavailable: nox_preflight()
 * runs the same checks as `noxrunnerd --check` and says how to fix each. */
static void explain_isolation(const nox_client_options *opts)
{
    nox_preflight_report *rep = NULL;
    nox_error *err = nox_error_new();
    if (nox_preflight(opts, &rep, err) != 0) {
        printf("     preflight failed too: %s\n", nox_error_message(err));
    } else {
        for (size_t i = 0; i < rep->n_checks; i++)
            if (!rep->checks[i].ok && rep->checks[i].required)
                printf("     %s: %s\n       fix: %s\n", rep->checks[i].name, rep->checks[i].detail,
                       rep->checks[i].fix ? rep->checks[i].fix : "-");
        nox_preflight_free(rep);
    }
    printf("     (`noxrunnerd --check` prints the same; NOX_ISOLATION_NONE runs commands\n"
           "     unisolated, for trusted code only)\n");
    nox_error_free(err);
}

/* A tar.gz made by someone else, holding `ok.txt` and then `../escape.txt`.
 * Made with Python's tarfile (ustar, mtime 0) and gzip.compress(mtime=0). */
static const unsigned char hostile_tar_gz[] = {
    0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0xed, 0xd4, 0x31, 0x0e, 0x83, 0x30,
    0x0c, 0x85, 0x61, 0xcf, 0x3d, 0x45, 0x4f, 0x10, 0x12, 0x94, 0xd0, 0xf3, 0xa0, 0xd6, 0x95, 0x10,
    0x52, 0x40, 0x90, 0xaa, 0x3d, 0x7e, 0x53, 0xa6, 0xc2, 0xc2, 0x04, 0x12, 0xe2, 0xff, 0x96, 0x67,
    0x79, 0xf1, 0xf4, 0xdc, 0xb5, 0x26, 0x7d, 0x92, 0x6c, 0xca, 0x66, 0x95, 0xf7, 0x53, 0x66, 0xcb,
    0xcc, 0xc2, 0xdf, 0xfc, 0xdb, 0xdf, 0x9c, 0x2b, 0xe5, 0x6a, 0x65, 0x07, 0xaf, 0x31, 0xd5, 0x43,
    0x3e, 0x29, 0xe7, 0xf4, 0x6c, 0xa2, 0x5e, 0x04, 0x67, 0x65, 0x4c, 0xa1, 0xe3, 0xbd, 0xee, 0x75,
    0xc3, 0x37, 0xb0, 0xde, 0xff, 0x6a, 0xde, 0x7f, 0x67, 0x5d, 0x08, 0xf4, 0x7f, 0x0f, 0xdd, 0x3b,
    0xea, 0x83, 0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x70,
    0x58, 0x5f, 0x89, 0x93, 0xad, 0xfc, 0x00, 0x28, 0x00, 0x00,
};

typedef struct mem_reader {
    const unsigned char *p;
    size_t left;
} mem_reader;

static ssize_t read_mem(void *userdata, void *buf, size_t len)
{
    mem_reader *m = userdata;
    size_t k = len < m->left ? len : m->left;
    memcpy(buf, m->p, k);
    m->p += k;
    m->left -= k;
    return (ssize_t)k;
}

static int stop_transfer(void *userdata, uint64_t done, uint64_t total)
{
    (void)userdata;
    (void)done;
    (void)total;
    return 1; /* non-zero: cancel */
}

int main(int argc, char **argv)
{
    const char *url = argc > 1 ? argv[1] : NULL;
    nox_error *err = nox_error_new();
    if (!err)
        return 1;
    nox_client *c = NULL;
    nox_client_options opts;

    /* -- The client -- */
    nox_client_options_init(&opts); /* neither base_url nor local */
    expect("a client with no backend chosen", nox_client_new(&opts, &c, err), NOX_E_INVALID, err);

    nox_client_options_init(&opts);
    opts.local = true;
    opts.init_path = "/nonexistent/nox-init";
    int r = nox_client_new(&opts, &c, err);
    expect("a local client without its nox-init helper", r, NOX_E_ISOLATION, err);
    if (r == NOX_E_ISOLATION)
        explain_isolation(&opts);

    nox_client_options_init(&opts);
    if (url)
        opts.base_url = url;
    else
        opts.local = true;
    r = nox_client_new(&opts, &c, err);
    expect("the client of the examples", r, 0, err);
    if (r != 0) {
        if (r == NOX_E_ISOLATION)
            explain_isolation(&opts);
        nox_error_free(err);
        return 1;
    }
    bool local = nox_client_is_local(c);
    printf("     %s backend at %s\n", local ? "local" : "http", nox_client_location(c));

    /* -- Arguments, refused before anything is sent -- */
    expect("an invalid session id", nox_create(c, "../etc", NULL, NULL, err), NOX_E_INVALID, err);
    check("nox_session_id_valid() agrees", !nox_session_id_valid("../etc", NULL));
    nox_create_options co;
    nox_create_options_init(&co);
    co.memory_limit = "lots";
    expect("a limit that is not a quantity", nox_create(c, "errors-q", &co, NULL, err),
           NOX_E_INVALID, err);
    nox_exec_result *res = NULL;
    expect("a shell other than sh or bash",
           nox_exec_shell(c, "errors-q", "echo", "zsh", NULL, &res, err), NOX_E_INVALID, err);

    /* -- A sandbox that does not exist: 404 from a server -- */
    char missing[64];
    snprintf(missing, sizeof missing, "errors-%ld-missing", (long)getpid());
    const char *echo[] = { "echo", "hi", NULL };
    expect("exec in a missing sandbox", nox_exec(c, missing, echo, NULL, &res, err),
           NOX_E_NOT_FOUND, err);
    expect("delete of a missing sandbox", nox_delete(c, missing, err), NOX_E_NOT_FOUND, err);
    expect("wait_ready gives up at once on a missing sandbox",
           nox_wait_ready(c, missing, 5000, 100, err), NOX_E_NOT_FOUND, err);

    /* -- In a sandbox -- */
    char id[64];
    snprintf(id, sizeof id, "errors-%ld", (long)getpid());
    co.memory_limit = NULL;
    co.ephemeral_storage_limit = "1Mi";
    r = nox_create(c, id, &co, NULL, err);
    expect("create a sandbox with 1 MiB of storage", r, 0, err);
    if (r != 0)
        goto out;

    /* A command that fails is a successful call with a non-zero exit code. */
    r = nox_exec_shell(c, id, "echo oops >&2; exit 3", NULL, NULL, &res, err);
    expect("a command that exits with 3", r, 0, err);
    if (r == 0) {
        printf("     exit code %d, stderr: %s", res->exit_code, res->stderr_data);
        check("exit code 3 in the result", res->exit_code == 3);
        nox_exec_result_free(res);
    }
    const char *nosuch[] = { "no-such-command", NULL };
    r = nox_exec(c, id, nosuch, NULL, &res, err);
    expect("a command that does not exist", r, 0, err);
    if (r == 0) {
        check("exit code 127 in the result", res->exit_code == 127);
        nox_exec_result_free(res);
    }

    /* A timeout is a result too: exit code 124, timed_out set. */
    nox_exec_options eo;
    nox_exec_options_init(&eo);
    eo.timeout_seconds = 1;
    const char *slow[] = { "sleep", "10", NULL };
    r = nox_exec(c, id, slow, &eo, &res, err);
    expect("a command past its 1 s timeout", r, 0, err);
    if (r == 0) {
        printf("     exit code %d, timed_out %d, stderr: %s", res->exit_code, res->timed_out,
               res->stderr_data);
        check("exit code 124 and timed_out", res->exit_code == 124 && res->timed_out);
        nox_exec_result_free(res);
    }
    eo.workdir = "/workspace/does-not-exist";
    expect("a working directory that does not exist", nox_exec(c, id, echo, &eo, &res, err),
           NOX_E_INVALID, err);

    /* A hostile archive is refused whole, naming the entry. The local
     * backend says NOX_E_ARCHIVE; a server answers 400, which a client
     * reads back as NOX_E_INVALID. */
    mem_reader rd = { hostile_tar_gz, sizeof hostile_tar_gz };
    expect("an archive with a `../` entry", nox_upload_stream(c, id, read_mem, &rd, NULL, err),
           local ? NOX_E_ARCHIVE : NOX_E_INVALID, err);
    r = nox_exec_shell(c, id, "test -e ok.txt", NULL, NULL, &res, err);
    if (r == 0) {
        check("nothing of the refused archive arrived (not even ok.txt)", res->exit_code == 1);
        nox_exec_result_free(res);
    }
    expect("an upload outside /workspace",
           nox_upload_files(c, id, &(nox_file){ "x", "x", 1, 0 }, 1, "/etc", err), NOX_E_INVALID,
           err);

    /* Over the sandbox's storage limit: NOX_E_LIMIT (HTTP 413). */
    size_t big_size = 2u << 20;
    char *big = calloc(1, big_size);
    if (big) {
        nox_file f = { "big.bin", big, big_size, 0 };
        expect("2 MiB into a sandbox with 1 MiB of storage",
               nox_upload_files(c, id, &f, 1, NULL, err), NOX_E_LIMIT, err);
        free(big);
    }

    /* A progress callback that returns non-zero cancels the transfer. */
    nox_client_set_progress(c, stop_transfer, NULL);
    expect("an upload stopped by its progress callback",
           nox_upload_files(c, id, &(nox_file){ "small.txt", "hello", 5, 0 }, 1, NULL, err),
           NOX_E_CANCELLED, err);
    nox_client_set_progress(c, NULL, NULL);

    expect("download of a path that does not exist",
           nox_download_workspace(c, id, "/workspace/nope", "errors-never-made", NULL, err),
           NOX_E_NOT_FOUND, err);
    check("and no local directory was made", access("errors-never-made", F_OK) != 0);

    expect("delete the sandbox", nox_delete(c, id, err), 0, err);

out:
    nox_client_free(c);

    /* -- A server nobody runs -- */
    nox_client_options_init(&opts);
    opts.base_url = "http://127.0.0.1:1";
    opts.connect_timeout_ms = 2000;
    r = nox_client_new(&opts, &c, err);
    expect("a client for http://127.0.0.1:1 (no connection yet)", r, 0, err);
    if (r == 0) {
        /* nox_health() never fails: it answers 0 and says why in err. */
        int healthy = nox_health(c, err);
        check("nox_health() answers 0", healthy == 0);
        expect("and its reason", nox_error_code(err), NOX_E_CONNECT, err);
        expect("create on an unreachable server", nox_create(c, "errors", NULL, NULL, err),
               NOX_E_CONNECT, err);
        expect("reap_expired on an http client", nox_reap_expired(c, NULL, err), NOX_E_UNSUPPORTED,
               err);
        nox_client_free(c);
    }

    printf("%s: %d check%s failed\n", failures ? "FAILED" : "all as documented", failures,
           failures == 1 ? "" : "s");
    nox_error_free(err);
    return failures ? 1 : 0;
}
