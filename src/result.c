/* SPDX-License-Identifier: MIT */
/* Allocation and release of the result types of the public API. */
#include "backend.h"
#include "error.h"

nox_exec_result *nox__exec_result_new(void)
{
    return calloc(1, sizeof(nox_exec_result));
}

void nox_exec_result_free(nox_exec_result *res)
{
    if (!res)
        return;
    free(res->stdout_data);
    free(res->stderr_data);
    free(res);
}

nox_sandbox *nox__sandbox_new(void)
{
    nox_sandbox *sb = calloc(1, sizeof *sb);
    if (sb) {
        sb->running = -1;
        sb->disk_used_bytes = -1;
    }
    return sb;
}

void nox__sandbox_clear(nox_sandbox *sb)
{
    if (!sb)
        return;
    free(sb->id);
    free(sb->pod_name);
    free(sb->expires_at);
    free(sb->created_at);
    free(sb->image);
    free(sb->isolation);
    for (size_t i = 0; i < sb->n_limits; i++) {
        free(sb->limits[i].name);
        free(sb->limits[i].requested);
        free(sb->limits[i].mechanism);
        free(sb->limits[i].reason);
    }
    free(sb->limits);
    memset(sb, 0, sizeof *sb);
    sb->running = -1;
    sb->disk_used_bytes = -1;
}

void nox_sandbox_free(nox_sandbox *sb)
{
    nox__sandbox_clear(sb);
    free(sb);
}

void nox_sandbox_list_free(nox_sandbox_list *list)
{
    if (!list)
        return;
    for (size_t i = 0; i < list->count; i++)
        nox__sandbox_clear(&list->items[i]);
    free(list->items);
    free(list);
}

int nox__sandbox_add_limit(nox_sandbox *sb, const char *name, const char *requested, uint64_t value,
                           bool enforced, const char *mechanism, const char *reason)
{
    nox_limit_info *l = realloc(sb->limits, (sb->n_limits + 1) * sizeof *l);
    if (!l)
        return -1;
    sb->limits = l;
    nox_limit_info *n = &l[sb->n_limits];
    memset(n, 0, sizeof *n);
    n->name = nox__strdup0(name);
    n->requested = nox__strdup0(requested);
    n->mechanism = nox__strdup0(mechanism);
    n->reason = nox__strdup0(reason);
    n->value = value;
    n->enforced = enforced;
    sb->n_limits++;
    if ((name && !n->name) || (requested && !n->requested) || (mechanism && !n->mechanism) ||
        (reason && !n->reason))
        return -1;
    return 0;
}

void nox_preflight_free(nox_preflight_report *rep)
{
    if (!rep)
        return;
    for (size_t i = 0; i < rep->n_checks; i++) {
        free(rep->checks[i].name);
        free(rep->checks[i].detail);
        free(rep->checks[i].fix);
    }
    free(rep->checks);
    free(rep->cgroup_version);
    free(rep);
}
