/* SPDX-License-Identifier: MIT */
/* noxrc exec ID [OPTIONS] [--] CMD [ARGS...]: run one command, pass its
 * output through byte for byte and exit with its exit code. */
#include <string.h>

#include <noxrunner/wire.h>

#include "noxrc.h"

enum {
    OPT_WORKDIR = 1,
    OPT_ENV,
    OPT_TIMEOUT_SECONDS,
    OPT_IGNORE_EXIT_CODE,
};

static const noxrc_option options[] = {
    { "workdir", 'w', true, OPT_WORKDIR },
    { "env", 'e', true, OPT_ENV },
    { "timeout-seconds", 0, true, OPT_TIMEOUT_SECONDS },
    { "ignore-exit-code", 0, false, OPT_IGNORE_EXIT_CODE },
    { NULL, 0, false, 0 },
};

int noxrc_exit_status(int exit_code)
{
    /* A process can only exit with 0-255; anything else from a backend is a
     * failure we cannot pass through. */
    return exit_code >= 0 && exit_code <= 255 ? exit_code : NOXRC_EXIT_FAILURE;
}

bool noxrc_env_entry_ok(const char *entry)
{
    const char *eq = strchr(entry, '=');
    if (!eq || eq == entry) {
        noxrc_warn("ignoring --env `%s`: expected KEY=VALUE", entry);
        return false;
    }
    return true;
}

static int run(noxrc_ctx *ctx, int argc, char **argv)
{
    _cleanup_parser_ noxrc_parser p;
    /* Options may come before and after the id; the first word after the id
     * starts the command, so `exec box ls -l --all` runs `ls -l --all`. */
    if (noxrc_parser_init(&p, ctx, argc, argv, options, 1) < 0)
        return NOXRC_EXIT_FAILURE;
    nox_exec_options eo;
    nox_exec_options_init(&eo);
    eo.workdir = "/workspace";
    bool ignore_exit = false;
    _cleanup_free_ const char **env = calloc((size_t)argc + 1, sizeof *env);
    size_t n_env = 0;
    if (!env)
        return noxrc_failf(ctx, NOX_E_NOMEM, "out of memory");
    int rc, key;
    while ((key = noxrc_parse_next(&p)) != NOXRC_OPT_END) {
        if ((rc = noxrc_parse_special(ctx, key)) >= 0)
            return rc;
        switch (key) {
        case OPT_WORKDIR:
            if (!*p.value)
                return noxrc_usage(ctx, "--workdir needs a directory");
            eo.workdir = p.value;
            break;
        case OPT_ENV:
            if (noxrc_env_entry_ok(p.value))
                env[n_env++] = p.value;
            break;
        case OPT_TIMEOUT_SECONDS:
            if (!noxrc_parse_positive(p.value, 0x7fffffffL, &eo.timeout_seconds))
                return noxrc_usage(ctx, "--timeout-seconds needs a positive whole number, not `%s`",
                                   p.value);
            break;
        case OPT_IGNORE_EXIT_CODE:
            ignore_exit = true;
            break;
        }
    }
    static const char *const names[] = { "the sandbox ID", "the command to run", NULL };
    if ((rc = noxrc_expect_args(ctx, &p, 2, SIZE_MAX, names)) != 0)
        return rc;
    const char *id = p.positional[0];
    if (!noxrc_check_id(ctx, id))
        return NOXRC_EXIT_USAGE;
    if (!*p.positional[1])
        return noxrc_usage(ctx, "the command to run is an empty string");
    eo.env = n_env ? env : NULL;
    /* positional is NULL-terminated: the parser's array has argc slots and
     * at least the subcommand name was not stored in it. */
    const char *const *cmd = (const char *const *)p.positional + 1;

    _cleanup_client_ nox_client *c = NULL;
    if ((rc = noxrc_open_client(ctx, &c)) != 0)
        return rc;
    _cleanup_error_ nox_error *err = nox_error_new();
    if (!err)
        return noxrc_failf(ctx, NOX_E_NOMEM, "out of memory");
    noxrc_verbose(ctx, "exec in %s (workdir %s, timeout %ld s): %s%s", id, eo.workdir,
                  eo.timeout_seconds, cmd[0], cmd[1] ? " ..." : "");
    nox_exec_result *res = NULL;
    if (nox_exec(c, id, cmd, &eo, &res, err) < 0)
        return noxrc_fail(ctx, err);

    int status = ignore_exit ? NOXRC_EXIT_OK : noxrc_exit_status(res->exit_code);
    if (ctx->json) {
        char *text = NULL;
        size_t len = 0;
        if (nox_wire_encode_exec_result(res, &text, &len, err) < 0) {
            nox_exec_result_free(res);
            return noxrc_fail(ctx, err);
        }
        nox_exec_result_free(res);
        return noxrc_json_emit_text(text, len) != 0 ? NOXRC_EXIT_FAILURE : status;
    }
    bool ok = noxrc_write_raw(stdout, res->stdout_data, res->stdout_len);
    ok = noxrc_write_raw(stderr, res->stderr_data, res->stderr_len) && ok;
    if (res->stdout_truncated)
        noxrc_warn("the command's stdout was cut at the backend's output limit");
    if (res->stderr_truncated)
        noxrc_warn("the command's stderr was cut at the backend's output limit");
    noxrc_verbose(ctx, "exit code %d after %lld ms%s", res->exit_code, (long long)res->duration_ms,
                  res->timed_out ? " (timed out)" : "");
    if (res->exit_code != noxrc_exit_status(res->exit_code))
        noxrc_warn("the backend reported exit code %d, which cannot be passed on", res->exit_code);
    nox_exec_result_free(res);
    if (!ok)
        return noxrc_failf(ctx, NOX_E_IO, "cannot write the command's output");
    return status;
}

const noxrc_command noxrc_command_exec = {
    .name = "exec",
    .run = run,
    .usage = "ID [OPTIONS] [--] CMD [ARGS...]",
    .summary = "Run a command in a sandbox",
    .help = "Runs CMD with ARGS in sandbox ID, with no shell added: arguments arrive\n"
            "verbatim (use `sh -c '...'` for pipes and variables). The command's stdout and\n"
            "stderr are written unchanged, byte for byte, and noxrc exits with its exit\n"
            "code: 127 command not found, 126 not executable, 124 timed out, 128+N killed\n"
            "by signal N.\n"
            "\n"
            "Options come before the command: the first word after ID starts it, and so\n"
            "does everything after `--`. `noxrc exec box ls -l --all` runs `ls -l --all`.\n"
            "\n"
            "Options:\n"
            "  -w, --workdir DIR     Working directory in the sandbox (default /workspace)\n"
            "  -e, --env KEY=VALUE   Add to the environment (repeatable); an entry without\n"
            "                        '=' is warned about and skipped\n"
            "  --timeout-seconds N   Wall-clock limit of the command (default 30)\n"
            "  --ignore-exit-code    Exit 0 whatever the command's exit code\n"
            "\n"
            "--json prints {\"exitCode\", \"stdout\", \"stderr\", \"durationMs\", "
            "\"stdoutTruncated\",\n"
            "\"stderrTruncated\", \"timedOut\", \"signal\"} instead of the output (bytes that are\n"
            "not UTF-8 become U+FFFD there) and still exits with the command's exit code.\n",
};
