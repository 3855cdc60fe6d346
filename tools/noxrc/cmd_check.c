/* SPDX-License-Identifier: MIT */
/* noxrc check: what isolation this host can give local sandboxes. */
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

    /* The checks are about this host whatever backend the other commands
     * use, so the local options apply without --local. */
    noxrc_ctx local = *ctx;
    local.local = true;
    local.base_url_given = false;
    nox_client_options o;
    noxrc_client_options(&local, &o);
    _cleanup_error_ nox_error *err = nox_error_new();
    if (!err)
        return noxrc_failf(ctx, NOX_E_NOMEM, "out of memory");
    nox_preflight_report *rep = NULL;
    if (nox_preflight(&o, &rep, err) < 0)
        return noxrc_fail(ctx, err);
    rc = rep->isolation_available ? NOXRC_EXIT_OK : NOXRC_EXIT_FAILURE;
    if (ctx->json) {
        noxrc_json j = { 0 };
        noxrc_json_begin_object(&j);
        noxrc_json_key(&j, "isolationAvailable");
        noxrc_json_bool(&j, rep->isolation_available);
        noxrc_json_key(&j, "cgroupVersion");
        noxrc_json_string(&j, rep->cgroup_version);
        noxrc_json_key(&j, "checks");
        noxrc_json_begin_array(&j);
        for (size_t i = 0; i < rep->n_checks; i++) {
            const nox_check *ch = &rep->checks[i];
            noxrc_json_begin_object(&j);
            noxrc_json_key(&j, "name");
            noxrc_json_string(&j, ch->name);
            noxrc_json_key(&j, "ok");
            noxrc_json_bool(&j, ch->ok);
            noxrc_json_key(&j, "required");
            noxrc_json_bool(&j, ch->required);
            noxrc_json_key(&j, "detail");
            noxrc_json_string(&j, ch->detail);
            noxrc_json_key(&j, "fix");
            noxrc_json_string(&j, ch->fix);
            noxrc_json_end_object(&j);
        }
        noxrc_json_end_array(&j);
        noxrc_json_end_object(&j);
        nox_preflight_free(rep);
        return noxrc_json_emit(&j) != 0 ? NOXRC_EXIT_FAILURE : rc;
    }
    /* One line per check on stdout: the symbol on a terminal, a word
     * elsewhere so that the output greps well. */
    int w = 4;
    for (size_t i = 0; i < rep->n_checks; i++)
        if (rep->checks[i].name && (int)strlen(rep->checks[i].name) > w)
            w = (int)strlen(rep->checks[i].name);
    bool tty = noxrc_is_tty(NOXRC_STDOUT);
    for (size_t i = 0; i < rep->n_checks; i++) {
        const nox_check *ch = &rep->checks[i];
        const char *color = ch->ok         ? noxrc_c_green(NOXRC_STDOUT)
                            : ch->required ? noxrc_c_red(NOXRC_STDOUT)
                                           : noxrc_c_yellow(NOXRC_STDOUT);
        const char *mark = tty ? (ch->ok         ? "\u2713"
                                  : ch->required ? "\u2717"
                                                 : "\u26a0")
                               : (ch->ok         ? "ok  "
                                  : ch->required ? "FAIL"
                                                 : "warn");
        printf("%s%s%s %-*s  %s%s\n", color, mark, noxrc_c_reset(NOXRC_STDOUT), w,
               ch->name ? ch->name : "?", ch->detail ? ch->detail : "",
               ch->required || ch->ok ? "" : " (optional)");
        if (!ch->ok && ch->fix)
            printf("  %s%*s  fix: %s%s\n", noxrc_c_dim(NOXRC_STDOUT), w, "", ch->fix,
                   noxrc_c_reset(NOXRC_STDOUT));
    }
    printf("\ncgroups: %s\n", rep->cgroup_version ? rep->cgroup_version : "unknown");
    if (rep->isolation_available)
        noxrc_success(ctx, "Sandboxes can run isolated on this host");
    else
        noxrc_error_line("Sandboxes cannot run isolated on this host; fix the failed checks, or "
                         "use --local --unisolated for trusted code only");
    nox_preflight_free(rep);
    return rc;
}

const noxrc_command noxrc_command_check = {
    .name = "check",
    .run = run,
    .usage = "",
    .summary = "Check what isolation this host can provide",
    .help = "Checks, on this host and for this user, everything local sandboxes need to run\n"
            "isolated: user and other namespaces, seccomp, cgroups and their controllers,\n"
            "and the nox-init helper. It starts a throw-away sandbox process to test for\n"
            "real. Each failed check says how to fix it. Exits 0 when sandboxes can run\n"
            "isolated, 1 when not. --state-dir and $NOXRUNNER_INIT apply; --local is not\n"
            "needed.\n"
            "\n"
            "--json prints {\"isolationAvailable\", \"cgroupVersion\", \"checks\": [{\"name\",\n"
            "\"ok\", \"required\", \"detail\", \"fix\"}]}.\n",
};
