/* SPDX-License-Identifier: MIT */
/* noxrc health: is the backend up? Exit 0 when healthy, 1 when not. */
#include <string.h>

#include "noxrc.h"

static const noxrc_option options[] = {
    { NULL, 0, false, 0 },
};

static int run(noxrc_ctx *ctx, int argc, char **argv)
{
    _cleanup_parser_ noxrc_parser p;
    if (noxrc_parser_init(&p, ctx, argc, argv, options, 0) < 0)
        return NOXRC_EXIT_FAILURE;
    int rc, key;
    while ((key = noxrc_parse_next(&p)) != NOXRC_OPT_END)
        if ((rc = noxrc_parse_special(ctx, key)) >= 0)
            return rc;
    if ((rc = noxrc_expect_args(ctx, &p, 0, 0, NULL)) != 0)
        return rc;

    _cleanup_client_ nox_client *c = NULL;
    if ((rc = noxrc_open_client(ctx, &c)) != 0)
        return rc;
    _cleanup_error_ nox_error *err = nox_error_new();
    if (!err)
        return noxrc_failf(ctx, NOX_E_NOMEM, "out of memory");
    bool healthy = nox_health(c, err) == 1;
    const char *where = nox_client_location(c);
    bool local = nox_client_is_local(c);
    if (ctx->json) {
        noxrc_json j = { 0 };
        noxrc_json_begin_object(&j);
        noxrc_json_key(&j, "healthy");
        noxrc_json_bool(&j, healthy);
        noxrc_json_key(&j, "backend");
        noxrc_json_string(&j, local ? "local" : "http");
        noxrc_json_key(&j, "location");
        noxrc_json_string(&j, *where ? where : NULL);
        if (!healthy) {
            noxrc_json_key(&j, "error");
            noxrc_json_string(&j, nox_error_message(err));
            noxrc_json_key(&j, "code");
            noxrc_json_string(&j, noxrc_code_name(nox_error_code(err)));
            noxrc_json_key(&j, "status");
            noxrc_json_int(&j, nox_error_http_status(err));
        }
        noxrc_json_end_object(&j);
        if (noxrc_json_emit(&j) != 0)
            return NOXRC_EXIT_FAILURE;
    }
    if (healthy) {
        if (local && *where)
            noxrc_success(ctx, "Local backend is healthy (state directory %s)", where);
        else if (local)
            noxrc_success(ctx, "Local backend is healthy");
        else
            noxrc_success(ctx, "Backend at %s is healthy", where);
        return NOXRC_EXIT_OK;
    }
    const char *why = nox_error_message(err);
    if (local)
        noxrc_error_line("Local backend is not healthy%s%s", *why ? ": " : "", why);
    else if (*why && strstr(why, where))
        noxrc_error_line("Backend is not healthy: %s", why);
    else
        noxrc_error_line("Backend at %s is not healthy%s%s", where, *why ? ": " : "", why);
    noxrc_print_hint(ctx, nox_error_code(err), why);
    if (nox_error_http_status(err))
        noxrc_verbose(ctx, "HTTP status %d", nox_error_http_status(err));
    return NOXRC_EXIT_FAILURE;
}

const noxrc_command noxrc_command_health = {
    .name = "health",
    .run = run,
    .usage = "[OPTIONS]",
    .summary = "Check that the backend is up",
    .help =
        "Checks that the backend answers (GET /healthz for a server; the state directory\n"
        "and the sandbox helper for --local). Prints whether it is healthy and exits\n"
        "0 when it is, 1 when it is not.\n"
        "\n"
        "--json prints {\"healthy\": BOOL, \"backend\": \"http\"|\"local\", \"location\": ...},\n"
        "with \"error\", \"code\" and \"status\" when it is not healthy.\n",
};
