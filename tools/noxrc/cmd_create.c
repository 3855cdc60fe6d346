/* SPDX-License-Identifier: MIT */
/* noxrc create ID: create a sandbox, or renew one (the call is idempotent),
 * optionally waiting until it answers. */
#include <string.h>

#include <noxrunner/wire.h>

#include "noxrc.h"

enum {
    OPT_TTL = 1,
    OPT_IMAGE,
    OPT_CPU,
    OPT_MEM,
    OPT_STORAGE,
    OPT_WAIT,
    OPT_WAIT_TIMEOUT,
};

static const noxrc_option options[] = {
    { "ttl", 0, true, OPT_TTL },    { "image", 0, true, OPT_IMAGE },
    { "cpu", 0, true, OPT_CPU },    { "mem", 0, true, OPT_MEM },
    { "memory", 0, true, OPT_MEM }, { "storage", 0, true, OPT_STORAGE },
    { "wait", 0, false, OPT_WAIT }, { "wait-timeout", 0, true, OPT_WAIT_TIMEOUT },
    { NULL, 0, false, 0 },
};

/* Refuses a limit the library would refuse anyway, before any request. */
static int check_quantity(noxrc_ctx *ctx, const char *option, const char *value)
{
    _cleanup_error_ nox_error *err = nox_error_new();
    uint64_t v;
    if (nox_parse_quantity(value, &v, err) == 0)
        return 0;
    return noxrc_usage_hint(ctx,
                            "Limits are Kubernetes quantities: \"500m\" or \"1\" CPU, "
                            "\"512Mi\" or \"1Gi\" of memory or storage.",
                            "%s `%s`: %s", option, value,
                            err ? nox_error_message(err) : "not a quantity");
}

static int run(noxrc_ctx *ctx, int argc, char **argv)
{
    _cleanup_parser_ noxrc_parser p;
    if (noxrc_parser_init(&p, ctx, argc, argv, options, 0) < 0)
        return NOXRC_EXIT_FAILURE;
    nox_create_options co;
    nox_create_options_init(&co);
    bool wait = false;
    long wait_ms = 30000;
    int rc, key;
    while ((key = noxrc_parse_next(&p)) != NOXRC_OPT_END) {
        if ((rc = noxrc_parse_special(ctx, key)) >= 0)
            return rc;
        switch (key) {
        case OPT_TTL:
            if (!noxrc_parse_positive(p.value, 0x7fffffffL, &co.ttl_seconds))
                return noxrc_usage(ctx, "--ttl needs a positive number of seconds, not `%s`",
                                   p.value);
            break;
        case OPT_IMAGE:
            co.image = p.value;
            break;
        case OPT_CPU:
            if ((rc = check_quantity(ctx, "--cpu", p.value)) != 0)
                return rc;
            co.cpu_limit = p.value;
            break;
        case OPT_MEM:
            if ((rc = check_quantity(ctx, p.option, p.value)) != 0)
                return rc;
            co.memory_limit = p.value;
            break;
        case OPT_STORAGE:
            if ((rc = check_quantity(ctx, "--storage", p.value)) != 0)
                return rc;
            co.ephemeral_storage_limit = p.value;
            break;
        case OPT_WAIT:
            wait = true;
            break;
        case OPT_WAIT_TIMEOUT:
            if (!noxrc_parse_seconds_ms(p.value, &wait_ms))
                return noxrc_usage(
                    ctx, "--wait-timeout needs a positive number of seconds, not `%s`", p.value);
            break;
        }
    }
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
    nox_sandbox *sb = NULL;
    if (nox_create(c, id, &co, &sb, err) < 0)
        return noxrc_fail(ctx, err);
    if (wait) {
        noxrc_info(ctx, "Waiting up to %.1f s for sandbox %s to answer...",
                   (double)wait_ms / 1000.0, id);
        if (nox_wait_ready(c, id, wait_ms, 0, err) < 0) {
            nox_sandbox_free(sb);
            return noxrc_fail(ctx, err);
        }
    }

    /* What was asked for but cannot be enforced here is said, never hidden. */
    for (size_t i = 0; i < sb->n_limits; i++) {
        const nox_limit_info *li = &sb->limits[i];
        if (li->requested && !li->enforced)
            noxrc_warn("the %s limit %s is not enforced on this host%s%s", li->name, li->requested,
                       li->reason ? ": " : "", li->reason ? li->reason : "");
        else if (!li->enforced)
            noxrc_verbose(ctx, "%s limit not enforced%s%s", li->name, li->reason ? ": " : "",
                          li->reason ? li->reason : "");
    }

    if (ctx->json) {
        char *text = NULL;
        size_t len = 0;
        rc = nox_wire_encode_sandbox(sb, &text, &len, err);
        nox_sandbox_free(sb);
        if (rc < 0)
            return noxrc_fail(ctx, err);
        return noxrc_json_emit_text(text, len);
    }
    char left[32];
    noxrc_describe_expiry(sb->expires_at_unix, left, sizeof left);
    noxrc_success(ctx, "Sandbox %s %s: pod %s, expires %s (%s)", id, wait ? "is ready" : "created",
                  sb->pod_name ? sb->pod_name : "?", sb->expires_at ? sb->expires_at : "?", left);
    nox_sandbox_free(sb);
    return NOXRC_EXIT_OK;
}

const noxrc_command noxrc_command_create = {
    .name = "create",
    .run = run,
    .usage = "ID [OPTIONS]",
    .summary = "Create a sandbox (or renew an existing one)",
    .help = "Creates sandbox ID, or makes sure it exists: an existing sandbox keeps its files\n"
            "and gets the new TTL. Prints the pod name and the expiry.\n"
            "\n"
            "Options:\n"
            "  --ttl SECONDS         Time to live, counted from the last use (default 900)\n"
            "  --image IMAGE         Backend-specific image name\n"
            "  --cpu QUANTITY        CPU limit: \"1\", \"500m\"\n"
            "  --mem QUANTITY        Memory limit: \"512Mi\", \"1Gi\" (also --memory)\n"
            "  --storage QUANTITY    Workspace storage limit: \"2Gi\"\n"
            "  --wait                Wait until the sandbox answers a command\n"
            "  --wait-timeout SECONDS\n"
            "                        How long --wait waits (default 30)\n"
            "\n"
            "Limits that were asked for but cannot be enforced on this host are reported as\n"
            "warnings. --json prints the sandbox as the backend describes it (podName,\n"
            "expiresAt, sessionId, limits, ...).\n",
};
