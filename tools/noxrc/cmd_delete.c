/* SPDX-License-Identifier: MIT */
/* noxrc delete ID: kill everything running in the sandbox and remove its files. */
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
    static const char *const names[] = { "the sandbox ID", NULL };
    if ((rc = noxrc_expect_args(ctx, &p, 1, 1, names)) != 0)
        return rc;
    const char *id = p.positional[0];
    if (!noxrc_check_id(ctx, id))
        return NOXRC_EXIT_USAGE;

    _cleanup_client_ nox_client *c = NULL;
    if ((rc = noxrc_open_client(ctx, &c)) != 0)
        return rc;
    _cleanup_error_ nox_error *err = nox_error_new();
    if (!err)
        return noxrc_failf(ctx, NOX_E_NOMEM, "out of memory");
    if (nox_delete(c, id, err) < 0)
        return noxrc_fail(ctx, err);
    if (ctx->json) {
        noxrc_json j = { 0 };
        noxrc_json_begin_object(&j);
        noxrc_json_key(&j, "sessionId");
        noxrc_json_string(&j, id);
        noxrc_json_key(&j, "deleted");
        noxrc_json_bool(&j, true);
        noxrc_json_end_object(&j);
        return noxrc_json_emit(&j);
    }
    noxrc_success(ctx, "Deleted sandbox %s", id);
    return NOXRC_EXIT_OK;
}

const noxrc_command noxrc_command_delete = {
    .name = "delete",
    .run = run,
    .usage = "ID",
    .summary = "Delete a sandbox and everything running in it",
    .help = "Deletes sandbox ID now: kills every process running in it and removes its\n"
            "files. Deleting a sandbox that does not exist is an error.\n"
            "\n"
            "--json prints {\"sessionId\": ID, \"deleted\": true}.\n",
};
