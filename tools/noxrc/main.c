/* SPDX-License-Identifier: MIT */
/* noxrc: the command-line tool of NoxRunner. Global options, the command
 * table, dispatch, and the one place a client is opened. Each subcommand
 * lives in its own file (cmd_*.c) with its options and help. */
#include <errno.h>
#include <string.h>

#include "noxrc.h"

static const noxrc_command *const commands[] = {
    &noxrc_command_health, &noxrc_command_create,   &noxrc_command_exec,  &noxrc_command_shell,
    &noxrc_command_upload, &noxrc_command_download, &noxrc_command_touch, &noxrc_command_delete,
    &noxrc_command_list,   &noxrc_command_info,     &noxrc_command_check,
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static const char global_help[] =
    "Global options (accepted before or after the command):\n"
    "  --base-url URL        NoxRunner backend to use (default: $NOXRUNNER_BASE_URL,\n"
    "                        else " NOXRC_DEFAULT_BASE_URL ")\n"
    "  --ca-file FILE        CA certificates (PEM) to trust for an https:// backend,\n"
    "                        instead of the system's (default: $NOXRUNNER_CA_FILE)\n"
    "  --local, --local-test Run sandboxes on this machine, without a server\n"
    "  --state-dir DIR       Local mode: where sandboxes live (default:\n"
    "                        $NOXRUNNER_STATE_DIR, else $XDG_STATE_HOME/noxrunner,\n"
    "                        else ~/.local/state/noxrunner; /var/lib/noxrunner for root)\n"
    "  --unisolated          Local mode: run commands directly on this host, without\n"
    "                        isolation (only for code you trust)\n"
    "  --timeout SECONDS     Time limit of one request to the backend (default 30)\n"
    "  --json                Print exactly one JSON document on stdout, for scripts\n"
    "  -v, --verbose         Say more about what happens, on stderr\n"
    "  -h, --help            Show help\n";

static void print_main_help(FILE *f)
{
    fprintf(f, "Usage: noxrc [GLOBAL OPTIONS] COMMAND [OPTIONS] [ARGS...]\n"
               "\n"
               "Run commands in NoxRunner sandboxes, through a NoxRunner server (noxrunnerd or\n"
               "any backend of the v1 API) or on this machine with --local.\n"
               "\n"
               "Commands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(f, "  %-10s %s\n", commands[i]->name, commands[i]->summary);
    fprintf(f, "  %-10s %s\n", "help", "Show the help of a command");
    fprintf(f, "\n%s", global_help);
    fprintf(f, "  -V, --version         Show the version\n"
               "\n"
               "Environment: NOXRUNNER_BASE_URL, NOXRUNNER_CA_FILE, NOXRUNNER_STATE_DIR,\n"
               "NOXRUNNER_INIT, XDG_STATE_HOME, NO_COLOR.\n"
               "Exit status: 0 success, 1 failure, 2 usage error, 130 interrupted;\n"
               "`exec` exits with the command's exit code.\n"
               "\n"
               "`noxrc COMMAND --help` describes a command; `man noxrc` has the manual.\n");
}

void noxrc_print_command_help(const noxrc_command *cmd)
{
    printf("Usage: noxrc %s %s\n\n%s\n%s", cmd->name, cmd->usage, cmd->help, global_help);
    fflush(stdout);
}

static void print_version(const noxrc_ctx *ctx)
{
    if (ctx->json) {
        noxrc_json j = { 0 };
        noxrc_json_begin_object(&j);
        noxrc_json_key(&j, "noxrc");
        noxrc_json_string(&j, NOX_VERSION_STRING);
        noxrc_json_key(&j, "libnoxrunner");
        noxrc_json_string(&j, nox_version());
        noxrc_json_end_object(&j);
        noxrc_json_emit(&j);
        return;
    }
    printf("noxrc %s (libnoxrunner %s)\n", NOX_VERSION_STRING, nox_version());
}

/* ---- the client ---- */

static void on_warning(void *userdata, const char *message)
{
    (void)userdata;
    /* The library speaks to any program; our ⚠ already says "warning". */
    if (strncmp(message, "WARNING: ", 9) == 0)
        message += 9;
    noxrc_warn("%s", message);
}

void noxrc_client_options(const noxrc_ctx *ctx, nox_client_options *o)
{
    nox_client_options_init(o);
    if (ctx->local) {
        o->local = true;
        o->state_dir = ctx->state_dir;
        o->isolation = ctx->unisolated ? NOX_ISOLATION_NONE : NOX_ISOLATION_REQUIRED;
    } else {
        o->base_url = ctx->base_url;
        o->ca_file = ctx->ca_file;
    }
    o->timeout_ms = ctx->timeout_ms;
    o->on_warning = on_warning;
}

int noxrc_open_for_id(noxrc_ctx *ctx, int argc, char **argv, const char **ret_id,
                      nox_client **ret_client)
{
    static const noxrc_option none[] = { { NULL, 0, false, 0 } };
    _cleanup_parser_ noxrc_parser p;
    if (noxrc_parser_init(&p, ctx, argc, argv, none, 0) < 0)
        return NOXRC_EXIT_FAILURE;
    int rc, key;
    while ((key = noxrc_parse_next(&p)) != NOXRC_OPT_END)
        if ((rc = noxrc_parse_special(ctx, key)) >= 0)
            return rc;
    static const char *const names[] = { "the sandbox ID", NULL };
    if ((rc = noxrc_expect_args(ctx, &p, 1, 1, names)) != 0)
        return rc;
    const char *id = p.positional[0];
    if (!noxrc_check_id(ctx, id))
        return NOXRC_EXIT_USAGE;
    if ((rc = noxrc_open_client(ctx, ret_client)) != 0)
        return rc;
    *ret_id = id;
    return -1;
}

int noxrc_open_client(noxrc_ctx *ctx, nox_client **ret_client)
{
    if (ctx->local && ctx->base_url_given)
        return noxrc_usage(ctx, "--base-url and --local choose two backends; give one of them");
    if (ctx->local && ctx->ca_file_given)
        return noxrc_usage_hint(ctx, "Drop --local to use an https:// backend.",
                                "--ca-file applies to an http backend only");
    if (!ctx->local && (ctx->state_dir || ctx->unisolated))
        return noxrc_usage_hint(ctx, "Add --local to run sandboxes on this machine.",
                                "%s applies to local mode only",
                                ctx->state_dir ? "--state-dir" : "--unisolated");
    nox_client_options o;
    noxrc_client_options(ctx, &o);
    _cleanup_error_ nox_error *err = nox_error_new();
    if (!err)
        return noxrc_failf(ctx, NOX_E_NOMEM, "out of memory");
    nox_client *c = NULL;
    if (nox_client_new(&o, &c, err) < 0)
        return noxrc_fail(ctx, err);
    noxrc_verbose(ctx, "%s backend: %s", nox_client_is_local(c) ? "local" : "http",
                  nox_client_location(c));
    if (!ctx->local && ctx->ca_file)
        noxrc_verbose(ctx, "trusting the CA certificates of %s", ctx->ca_file);
    *ret_client = c;
    return 0;
}

/* ---- dispatch ---- */

static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 32 || lb > 32)
        return 99;
    size_t row[33];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

static const noxrc_command *find_command(const char *name)
{
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(commands[i]->name, name) == 0)
            return commands[i];
    return NULL;
}

static int unknown_command(const noxrc_ctx *ctx, const char *name)
{
    const noxrc_command *best = NULL;
    size_t best_d = 3;
    for (size_t i = 0; i < N_COMMANDS; i++) {
        size_t d = edit_distance(name, commands[i]->name);
        if (d < best_d) {
            best_d = d;
            best = commands[i];
        }
    }
    if (best) {
        char hint[128];
        snprintf(hint, sizeof hint, "Did you mean `noxrc %s`?", best->name);
        return noxrc_usage_hint(ctx, hint, "unknown command `%s`", name);
    }
    return noxrc_usage(ctx, "unknown command `%s`", name);
}

static int help_command(noxrc_ctx *ctx, int argc, char **argv)
{
    if (argc < 2) {
        print_main_help(stdout);
        return NOXRC_EXIT_OK;
    }
    const noxrc_command *cmd = find_command(argv[1]);
    if (!cmd)
        return unknown_command(ctx, argv[1]);
    noxrc_print_command_help(cmd);
    return NOXRC_EXIT_OK;
}

int main(int argc, char **argv)
{
    noxrc_output_init();
    noxrc_ctx ctx = { 0 };
    const char *env_url = getenv("NOXRUNNER_BASE_URL");
    ctx.base_url = env_url && *env_url ? env_url : NOXRC_DEFAULT_BASE_URL;
    const char *env_ca = getenv("NOXRUNNER_CA_FILE");
    ctx.ca_file = env_ca && *env_ca ? env_ca : NULL;
    ctx.timeout_ms = 30000;

    /* Global options before the command. */
    int i = 1;
    for (; i < argc; i++) {
        const char *arg = argv[i];
        if (arg[0] != '-' || arg[1] == '\0')
            break;
        if (strcmp(arg, "--") == 0) {
            i++;
            break;
        }
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            print_main_help(stdout);
            return NOXRC_EXIT_OK;
        }
        if (strcmp(arg, "-V") == 0 || strcmp(arg, "--version") == 0) {
            print_version(&ctx);
            return NOXRC_EXIT_OK;
        }
        char name[64] = "";
        char short_name = 0;
        const char *value = NULL;
        if (arg[1] == '-') {
            const char *eq = strchr(arg + 2, '=');
            size_t n = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
            if (n >= sizeof name)
                return noxrc_usage(&ctx, "unknown option `%s`", arg);
            memcpy(name, arg + 2, n);
            name[n] = '\0';
            value = eq ? eq + 1 : NULL;
        } else if (arg[2] == '\0') {
            short_name = arg[1];
        } else {
            return noxrc_usage(&ctx, "unknown option `%s`", arg);
        }
        bool needs = false;
        int r = noxrc_global_option(&ctx, short_name ? NULL : name, short_name, value, &needs);
        if (r < 0)
            return NOXRC_EXIT_USAGE;
        if (r == 0)
            return noxrc_usage_hint(&ctx, "Command options go after the command.",
                                    "unknown global option `%s`", arg);
        if (needs) {
            if (i + 1 >= argc)
                return noxrc_usage(&ctx, "option `%s` needs a value", arg);
            if (noxrc_global_option(&ctx, short_name ? NULL : name, short_name, argv[++i], &needs) <
                0)
                return NOXRC_EXIT_USAGE;
        }
    }
    if (i >= argc)
        return noxrc_usage(&ctx, "missing the command (health, create, exec, shell, ...)");
    const char *name = argv[i];
    if (strcmp(name, "help") == 0)
        return help_command(&ctx, argc - i, argv + i);
    const noxrc_command *cmd = find_command(name);
    if (!cmd)
        return unknown_command(&ctx, name);
    ctx.cmd = cmd;
    /* Until a subcommand says otherwise (the shell does), Ctrl-C ends noxrc
     * with 130; closing the process drops the request in flight. */
    noxrc_exit_on_sigint();
    int rc = cmd->run(&ctx, argc - i, argv + i);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        noxrc_error_line("cannot write to standard output: %s", strerror(errno));
        if (rc == NOXRC_EXIT_OK)
            rc = NOXRC_EXIT_FAILURE;
    }
    return rc;
}
