/* SPDX-License-Identifier: MIT */
/* noxrc info ID: expiry, limits with their enforcement, disk use, running. */
#include <string.h>

#include <noxrunner/wire.h>

#include "noxrc.h"

/* A limit's value in its unit: bytes, millicores, a count or seconds. */
static void format_limit(const nox_limit_info *li, char *buf, size_t size)
{
    const char *n = li->name ? li->name : "";
    if (strcmp(n, "memory") == 0 || strcmp(n, "ephemeralStorage") == 0 ||
        strcmp(n, "fileSize") == 0 || strcmp(n, "tmp") == 0 || strcmp(n, "output") == 0)
        noxrc_format_bytes(li->value, buf, size);
    else if (strcmp(n, "cpu") == 0)
        snprintf(buf, size, "%llum", (unsigned long long)li->value);
    else if (strcmp(n, "timeout") == 0)
        snprintf(buf, size, "%llu s", (unsigned long long)li->value);
    else
        snprintf(buf, size, "%llu", (unsigned long long)li->value);
    if (li->requested) {
        size_t used = strlen(buf);
        snprintf(buf + used, size - used, " (%s)", li->requested);
    }
}

static void field(const char *name, const char *value)
{
    printf("%s%-11s%s %s\n", noxrc_c_bold(NOXRC_STDOUT), name, noxrc_c_reset(NOXRC_STDOUT),
           value ? value : "-");
}

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
    nox_sandbox *sb = NULL;
    if (nox_info(c, id, &sb, err) < 0)
        return noxrc_fail(ctx, err);
    if (ctx->json) {
        char *text = NULL;
        size_t len = 0;
        rc = nox_wire_encode_sandbox(sb, &text, &len, err);
        nox_sandbox_free(sb);
        if (rc < 0)
            return noxrc_fail(ctx, err);
        return noxrc_json_emit_text(text, len);
    }
    char buf[128], left[32];
    field("Sandbox", sb->id ? sb->id : id);
    field("Pod", sb->pod_name);
    field("Created", sb->created_at);
    noxrc_describe_expiry(sb->expires_at_unix, left, sizeof left);
    snprintf(buf, sizeof buf, "%s (%s)", sb->expires_at ? sb->expires_at : "?", left);
    field("Expires", buf);
    if (sb->ttl_seconds > 0) {
        snprintf(buf, sizeof buf, "%lld s", (long long)sb->ttl_seconds);
        field("TTL", buf);
    } else {
        field("TTL", NULL);
    }
    field("Image", sb->image);
    field("Isolation", sb->isolation);
    field("Running", sb->running < 0 ? NULL : sb->running ? "yes" : "no");
    field("Disk used", sb->disk_used_bytes < 0
                           ? NULL
                           : noxrc_format_bytes((uint64_t)sb->disk_used_bytes, buf, sizeof buf));
    if (sb->n_limits) {
        /* LIMIT VALUE ENFORCED HOW, then the reason when there is one. */
        int wn = 5, wv = 5;
        for (size_t i = 0; i < sb->n_limits; i++) {
            format_limit(&sb->limits[i], buf, sizeof buf);
            if (sb->limits[i].name && (int)strlen(sb->limits[i].name) > wn)
                wn = (int)strlen(sb->limits[i].name);
            if ((int)strlen(buf) > wv)
                wv = (int)strlen(buf);
        }
        printf("\n%s%-*s  %-*s  %-8s  %s%s\n", noxrc_c_bold(NOXRC_STDOUT), wn, "LIMIT", wv, "VALUE",
               "ENFORCED", "HOW", noxrc_c_reset(NOXRC_STDOUT));
        for (size_t i = 0; i < sb->n_limits; i++) {
            const nox_limit_info *li = &sb->limits[i];
            format_limit(li, buf, sizeof buf);
            printf("%-*s  %-*s  %s%-8s%s  %s", wn, li->name ? li->name : "?", wv, buf,
                   li->enforced ? noxrc_c_green(NOXRC_STDOUT) : noxrc_c_yellow(NOXRC_STDOUT),
                   li->enforced ? "yes" : "no", noxrc_c_reset(NOXRC_STDOUT),
                   li->mechanism ? li->mechanism : "-");
            if (li->reason)
                printf("  (%s)", li->reason);
            printf("\n");
        }
    }
    nox_sandbox_free(sb);
    return NOXRC_EXIT_OK;
}

const noxrc_command noxrc_command_info = {
    .name = "info",
    .run = run,
    .usage = "ID",
    .summary = "Describe a sandbox: expiry, limits, disk use",
    .help =
        "Describes sandbox ID: pod name, creation and expiry, TTL, image, isolation,\n"
        "whether processes run in it, disk used by its workspace, and each limit with\n"
        "whether and how this host enforces it. Works with --local and noxrunnerd.\n"
        "\n"
        "--json prints the sandbox: {\"podName\", \"expiresAt\", \"sessionId\", \"createdAt\",\n"
        "\"ttlSeconds\", \"image\", \"isolation\", \"running\", \"diskUsedBytes\", \"limits\": "
        "[...]}.\n",
};
