/* SPDX-License-Identifier: MIT */
/* noxrc touch ID: start the sandbox's TTL clock again. */
#include "noxrc.h"

static int run(noxrc_ctx *ctx, int argc, char **argv)
{
    const char *id = NULL;
    _cleanup_client_ nox_client *c = NULL;
    int rc = noxrc_open_for_id(ctx, argc, argv, &id, &c);
    if (rc >= 0)
        return rc;
    _cleanup_error_ nox_error *err = nox_error_new();
    if (!err)
        return noxrc_failf(ctx, NOX_E_NOMEM, "out of memory");
    if (nox_touch(c, id, err) < 0)
        return noxrc_fail(ctx, err);
    if (ctx->json) {
        noxrc_json j = { 0 };
        noxrc_json_begin_object(&j);
        noxrc_json_key(&j, "sessionId");
        noxrc_json_string(&j, id);
        noxrc_json_key(&j, "touched");
        noxrc_json_bool(&j, true);
        noxrc_json_end_object(&j);
        return noxrc_json_emit(&j);
    }
    noxrc_success(ctx, "Sandbox %s touched: its TTL starts again now", id);
    return NOXRC_EXIT_OK;
}

const noxrc_command noxrc_command_touch = {
    .name = "touch",
    .run = run,
    .usage = "ID",
    .summary = "Reset the expiry clock of a sandbox",
    .help = "Resets the TTL clock of sandbox ID: it now expires TTL seconds from now.\n"
            "\n"
            "--json prints {\"sessionId\": ID, \"touched\": true}.\n",
};
