/* SPDX-License-Identifier: MIT */
/* noxrc delete ID: kill everything running in the sandbox and remove its files. */
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
