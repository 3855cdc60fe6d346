/* SPDX-License-Identifier: MIT */
/* noxrc list: the sandboxes the backend knows, as a table. */
#include <string.h>

#include <noxrunner/wire.h>

#include "noxrc.h"

enum {
    OPT_QUIET = 1,
};

static const noxrc_option options[] = {
    { "quiet", 'q', false, OPT_QUIET },
    { NULL, 0, false, 0 },
};

#define N_COLS 6

static void row_cells(const nox_sandbox *sb, char cells[N_COLS][64])
{
    snprintf(cells[0], 64, "%s", sb->id ? sb->id : "?");
    snprintf(cells[1], 64, "%s", sb->pod_name ? sb->pod_name : "-");
    noxrc_describe_expiry(sb->expires_at_unix, cells[2], 64);
    snprintf(cells[3], 64, "%s", sb->isolation ? sb->isolation : "-");
    snprintf(cells[4], 64, "%s", sb->running < 0 ? "-" : sb->running ? "yes" : "no");
    if (sb->disk_used_bytes < 0)
        snprintf(cells[5], 64, "-");
    else
        noxrc_format_bytes((uint64_t)sb->disk_used_bytes, cells[5], 64);
}

static int run(noxrc_ctx *ctx, int argc, char **argv)
{
    _cleanup_parser_ noxrc_parser p;
    if (noxrc_parser_init(&p, ctx, argc, argv, options, 0) < 0)
        return NOXRC_EXIT_FAILURE;
    bool quiet = false;
    int rc, key;
    while ((key = noxrc_parse_next(&p)) != NOXRC_OPT_END) {
        if ((rc = noxrc_parse_special(ctx, key)) >= 0)
            return rc;
        if (key == OPT_QUIET)
            quiet = true;
    }
    if ((rc = noxrc_expect_args(ctx, &p, 0, 0, NULL)) != 0)
        return rc;

    _cleanup_client_ nox_client *c = NULL;
    if ((rc = noxrc_open_client(ctx, &c)) != 0)
        return rc;
    _cleanup_error_ nox_error *err = nox_error_new();
    if (!err)
        return noxrc_failf(ctx, NOX_E_NOMEM, "out of memory");
    nox_sandbox_list *list = NULL;
    if (nox_list(c, &list, err) < 0)
        return noxrc_fail(ctx, err);
    if (ctx->json) {
        char *text = NULL;
        size_t len = 0;
        rc = nox_wire_encode_sandbox_list(list, &text, &len, err);
        nox_sandbox_list_free(list);
        if (rc < 0)
            return noxrc_fail(ctx, err);
        return noxrc_json_emit_text(text, len);
    }
    if (quiet) {
        for (size_t i = 0; i < list->count; i++)
            printf("%s\n", list->items[i].id);
        nox_sandbox_list_free(list);
        return NOXRC_EXIT_OK;
    }
    if (list->count == 0) {
        const char *where = nox_client_location(c);
        noxrc_info(ctx, "No sandboxes%s%s", *where ? " in " : "", where);
        nox_sandbox_list_free(list);
        return NOXRC_EXIT_OK;
    }
    static const char *const head[N_COLS] = {
        "ID", "POD", "EXPIRES", "ISOLATION", "RUNNING", "DISK"
    };
    int width[N_COLS];
    for (int k = 0; k < N_COLS; k++)
        width[k] = (int)strlen(head[k]);
    char cells[N_COLS][64];
    for (size_t i = 0; i < list->count; i++) {
        row_cells(&list->items[i], cells);
        for (int k = 0; k < N_COLS; k++)
            if ((int)strlen(cells[k]) > width[k])
                width[k] = (int)strlen(cells[k]);
    }
    printf("%s", noxrc_c_bold(NOXRC_STDOUT));
    for (int k = 0; k < N_COLS; k++)
        printf("%-*s%s", k + 1 < N_COLS ? width[k] : 0, head[k], k + 1 < N_COLS ? "  " : "");
    printf("%s\n", noxrc_c_reset(NOXRC_STDOUT));
    for (size_t i = 0; i < list->count; i++) {
        row_cells(&list->items[i], cells);
        for (int k = 0; k < N_COLS; k++)
            printf("%-*s%s", k + 1 < N_COLS ? width[k] : 0, cells[k], k + 1 < N_COLS ? "  " : "");
        printf("\n");
    }
    nox_sandbox_list_free(list);
    return NOXRC_EXIT_OK;
}

const noxrc_command noxrc_command_list = {
    .name = "list",
    .run = run,
    .usage = "[-q]",
    .summary = "List sandboxes",
    .help = "Lists the sandboxes of the backend: id, pod name, expiry, isolation, whether\n"
            "processes run in it, and disk use where the backend reports them. Works with\n"
            "--local (the state directory) and with noxrunnerd; other backends do not offer\n"
            "a list.\n"
            "\n"
            "Options:\n"
            "  -q, --quiet           Print only the ids, one a line\n"
            "\n"
            "--json prints {\"sandboxes\": [...]}, each as `noxrc info --json` describes it.\n",
};
