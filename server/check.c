/* SPDX-License-Identifier: MIT */
#include "check.h"

#include <stdio.h>
#include <string.h>

static int name_width(const nox_preflight_report *rep)
{
    int w = 16;
    for (size_t i = 0; i < rep->n_checks; i++) {
        int n = (int)strlen(rep->checks[i].name);
        if (n > w && n < 40)
            w = n;
    }
    return w;
}

static void print_check(const nox_check *c, int width)
{
    /* ✓ and ✗ are what a person scans for; the words after them say the
     * same for a reader without UTF-8 or colours. */
    printf("  %s %-*s %s%s\n", c->ok ? "\u2713" : "\u2717", width, c->name,
           c->detail && *c->detail ? c->detail : (c->ok ? "ok" : "failed"),
           c->required ? "" : (c->ok ? "" : "  [optional]"));
    if (!c->ok && c->fix)
        printf("    %-*s fix: %s\n", width, "", c->fix);
}

int nxd_check_run(const nxd_config *cfg, const nox_client_options *opts)
{
    printf("noxrunnerd %s: checking what isolation this host gives sandboxes\n\n", nox_version());
    nox_error *err = nox_error_new();
    nox_preflight_report *rep = NULL;
    int r = nox_preflight(opts, &rep, err);
    if (r < 0) {
        printf("  \u2717 the check itself failed: %s\n",
               err ? nox_error_message(err) : nox_strerror(r));
        nox_error_free(err);
        return 1;
    }
    int width = name_width(rep);
    printf("Required for isolated sandboxes:\n");
    for (size_t i = 0; i < rep->n_checks; i++)
        if (rep->checks[i].required)
            print_check(&rep->checks[i], width);
    printf("\nOptional (where a cgroup check fails, rlimits are the only limits):\n");
    for (size_t i = 0; i < rep->n_checks; i++)
        if (!rep->checks[i].required)
            print_check(&rep->checks[i], width);

    /* What the server makes at startup: without it, it cannot start. */
    printf("\nServer:\n");
    nox_client *client = NULL;
    nox_error_clear(err);
    if (nox_client_new(opts, &client, err) == 0) {
        /* The local backend's health is whether its state directory
         * takes new sandboxes: the server refuses to start without. */
        bool usable = cfg->backend_url || nox_health(client, err);
        if (usable)
            printf("  \u2713 %-*s %s%s\n", width, cfg->backend_url ? "backend" : "local-backend",
                   cfg->backend_url ? "" : "state directory ", nox_client_location(client));
        else
            printf("  \u2717 %-*s %s (the server will not start)\n", width, "local-backend",
                   nox_error_message(err));
        if (cfg->backend_url) {
            nox_error_clear(err);
            if (nox_health(client, err))
                printf("  \u2713 %-*s answers /healthz\n", width, "backend-health");
            else
                printf("  \u2717 %-*s %s\n", width, "backend-health", nox_error_message(err));
        }
        nox_client_free(client);
    } else {
        printf("  \u2717 %-*s %s\n", width, cfg->backend_url ? "backend" : "local-backend",
               nox_error_message(err));
    }
    nox_error_free(err);

    bool ok = rep->isolation_available;
    printf("\n");
    if (ok) {
        printf("Result: \u2713 isolation is available: sandboxes run in their own namespaces "
               "with seccomp.\n");
    } else {
        printf("Result: \u2717 isolation is NOT available on this host.\n"
               "        Fix the \u2717 lines under \"Required\" above (each says how), then run "
               "noxrunnerd --check again.\n"
               "        For trusted code only, noxrunnerd --unisolated runs commands directly "
               "on this host.\n");
    }
    nox_preflight_free(rep);
    return ok ? 0 : 1;
}
