/* SPDX-License-Identifier: MIT */
/* nox_preflight(): what isolation this host gives this user, and how to
 * fix what it does not. The real test is a throw-away sandbox started by
 * "nox-init probe"; the sysctl and status checks around it exist to turn a
 * bare EPERM into the reason and the fix. */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include "local.h"

/* POSIX has programs declare environ themselves; glibc's unistd.h also does
 * under _GNU_SOURCE, which the build defines. */
// NOLINTNEXTLINE(readability-redundant-declaration)
extern char **environ;

typedef struct report_builder {
    nox_preflight_report *rep;
    bool oom;
} report_builder;

static void add(report_builder *b, const char *name, bool ok, bool required, const char *detail,
                const char *fix)
{
    nox_preflight_report *r = b->rep;
    nox_check *c = realloc(r->checks, (r->n_checks + 1) * sizeof *c);
    if (!c) {
        b->oom = true;
        return;
    }
    r->checks = c;
    c = &r->checks[r->n_checks++];
    c->name = nox__strdup0(name);
    c->ok = ok;
    c->required = required;
    c->detail = nox__strdup0(detail ? detail : "");
    c->fix = ok ? NULL : nox__strdup0(fix);
    if (!c->name || !c->detail || (!ok && fix && !c->fix))
        b->oom = true;
}

static long read_long(const char *path, long dflt)
{
    _cleanup_free_ char *s = NULL;
    if (nox__read_file_at(AT_FDCWD, path, 256, &s, NULL) < 0)
        return dflt;
    return strtol(s, NULL, 10);
}

static int seccomp_mode(void)
{
    _cleanup_free_ char *s = NULL;
    if (nox__read_file_at(AT_FDCWD, "/proc/self/status", 1 << 16, &s, NULL) < 0)
        return -1;
    char *p = strstr(s, "\nSeccomp:");
    return p ? (int)strtol(p + 9, NULL, 10) : -1;
}

static void sysctl_checks(report_builder *b, bool root)
{
    long max_ns = read_long("/proc/sys/user/max_user_namespaces", -1);
    if (max_ns == 0)
        add(b, "sysctl-max-user-namespaces", false, true,
            "user.max_user_namespaces is 0: user namespaces are disabled",
            "sudo sysctl -w user.max_user_namespaces=15000 (and set it in /etc/sysctl.d/ to "
            "keep it)");
    else
        add(b, "sysctl-max-user-namespaces", true, true,
            max_ns < 0 ? "not present (no limit)" : "user namespaces allowed", NULL);
    long clone = read_long("/proc/sys/kernel/unprivileged_userns_clone", -1);
    if (clone == 0 && !root)
        add(b, "sysctl-unprivileged-userns-clone", false, true,
            "kernel.unprivileged_userns_clone is 0: only root may create user namespaces",
            "sudo sysctl -w kernel.unprivileged_userns_clone=1, or run as root");
    else if (clone >= 0)
        add(b, "sysctl-unprivileged-userns-clone", true, true,
            clone ? "unprivileged user namespaces allowed" : "0, but running as root", NULL);
    long aa = read_long("/proc/sys/kernel/apparmor_restrict_unprivileged_userns", -1);
    if (aa == 1 && !root)
        add(b, "apparmor-userns", false, true,
            "AppArmor restricts unprivileged user namespaces "
            "(kernel.apparmor_restrict_unprivileged_userns=1)",
            "install an AppArmor profile that allows `userns,` for nox-init, or sudo sysctl -w "
            "kernel.apparmor_restrict_unprivileged_userns=0");
    else if (aa >= 0)
        add(b, "apparmor-userns", true, true,
            aa ? "restricted, but running as root" : "not restricted", NULL);
    int sc = seccomp_mode();
    if (sc == 2)
        add(b, "container-seccomp", true, false,
            "this process already runs under a seccomp filter (a container profile?); if the "
            "namespace checks below fail with EPERM, that profile is the likely cause",
            NULL);
    else if (sc >= 0)
        add(b, "container-seccomp", true, false, "no seccomp filter on this process", NULL);
}

static const char *probe_fix(const char *name)
{
    if (strcmp(name, "user-namespace") == 0)
        return "enable user namespaces (see the sysctl checks above); in a container, run it with "
               "--security-opt seccomp=unconfined and --security-opt apparmor=unconfined, or "
               "use NOX_ISOLATION_NONE (unisolated) for trusted code only";
    if (strcmp(name, "sandbox") == 0)
        return "a container that masks parts of /proc or mounts /sys read-only prevents the "
               "sandbox's own /proc: run it with --privileged or --security-opt "
               "systempaths=unconfined, or run NoxRunner on the host";
    return "the kernel refuses this namespace for this user; check the sysctls and any "
           "container or AppArmor profile around this process";
}

/* Runs "nox-init probe SCRATCH" and turns its lines into checks. */
static void probe(report_builder *b, const char *init_path)
{
    char scratch[] = "/tmp/noxrunner-preflight-XXXXXX";
    if (!mkdtemp(scratch)) {
        add(b, "sandbox", false, true, "cannot make a scratch directory in /tmp",
            "make /tmp writable");
        return;
    }
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) {
        rmdir(scratch);
        add(b, "sandbox", false, true, "pipe failed", NULL);
        return;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, p[1], 1);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    char *argv[] = { (char *)"nox-init", (char *)"probe", scratch, NULL };
    pid_t pid;
    int r = posix_spawn(&pid, init_path, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(p[1]);
    if (r != 0) {
        close(p[0]);
        rmdir(scratch);
        char d[512];
        snprintf(d, sizeof d, "cannot run `%s`: %s", init_path, strerror(r));
        add(b, "sandbox", false, true, d, "reinstall NoxRunner or set NOXRUNNER_INIT");
        return;
    }
    _cleanup_buf_ nox_buf out = NOX_BUF_INIT;
    int64_t deadline = nox__now_mono_ns() + 30000000000LL;
    for (;;) {
        struct pollfd pf = { p[0], POLLIN, 0 };
        int64_t left = (deadline - nox__now_mono_ns()) / 1000000;
        if (left <= 0 || poll(&pf, 1, (int)left) <= 0)
            break;
        char chunk[4096];
        ssize_t n = read(p[0], chunk, sizeof chunk);
        if (n <= 0)
            break;
        nox__buf_append(&out, chunk, (size_t)n);
    }
    close(p[0]);
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
    /* The probe's command wrote one file into the scratch workspace. */
    char path[sizeof scratch + 16];
    snprintf(path, sizeof path, "%s/probe", scratch);
    unlink(path);
    rmdir(scratch);
    bool any = false;
    for (char *line = out.data ? strtok(out.data, "\n") : NULL; line; line = strtok(NULL, "\n")) {
        char name[64], status[8];
        int off = 0;
        if (sscanf(line, "%63s %7s %n", name, status, &off) < 2)
            continue;
        any = true;
        const char *detail = line + off;
        if (strcmp(status, "ok") == 0) {
            add(b, name, true, true, detail, NULL);
        } else {
            /* "fail ERRNO message" */
            char *sp = strchr(detail, ' ');
            add(b, name, false, true, sp ? sp + 1 : detail, probe_fix(name));
        }
    }
    if (!any)
        add(b, "sandbox", false, true, "nox-init probe reported nothing (crashed?)",
            "run `nox-init probe /tmp/x` by hand to see why");
}

static void cgroup_checks(report_builder *b, const nox_client_options *opts)
{
    nox_cgroup_host h;
    nox__cgroup_detect(&h);
    b->rep->cgroup_version = strdup(h.layout);
    if (!b->rep->cgroup_version)
        b->oom = true;
    char detail[1024];
    int n = snprintf(detail, sizeof detail, "layout %s", h.layout);
    for (int i = 0; i < NOX_CG_COUNT && n > 0 && (size_t)n < sizeof detail; i++)
        n += snprintf(detail + n, sizeof detail - (size_t)n, "; %s: %s", nox__cgroup_names[i],
                      h.version[i] ? (h.version[i] == 1 ? "v1" : "v2") : "absent");
    add(b, "cgroups", strcmp(h.layout, "none") != 0, false, detail,
        "mount cgroup2 (or the v1 memory, pids and cpu controllers) to get limits enforced");
    const char *parent =
        opts->cgroup_parent ? opts->cgroup_parent : getenv("NOXRUNNER_CGROUP_PARENT");
    if (parent && !*parent)
        parent = NULL;
    for (int i = 0; i < NOX_CG_COUNT; i++) {
        char name[32];
        snprintf(name, sizeof name, "cgroup-%s", nox__cgroup_names[i]);
        char *reason = NULL;
        bool ok = nox__cgroup_writable(&h, parent, i, &reason);
        snprintf(detail, sizeof detail, "%s limits %s", nox__cgroup_names[i],
                 ok ? "can be enforced" : (reason ? reason : "cannot be enforced"));
        add(b, name, ok, false, detail,
            "run as root, or delegate a cgroup subtree to this user (systemd: Delegate=yes) and "
            "set NOXRUNNER_CGROUP_PARENT to it; without it, rlimits are the only limits");
        free(reason);
    }
    nox__cgroup_host_clear(&h);
}

int nox_preflight(const nox_client_options *opts_in, nox_preflight_report **ret_report,
                  nox_error *err)
{
    nox_error_clear(err);
    if (!ret_report)
        return nox__error_set(err, NOX_E_INVALID, "preflight needs a result pointer");
    nox_client_options defaults;
    nox_client_options_init(&defaults);
    const nox_client_options *opts = opts_in ? opts_in : &defaults;
    report_builder b = { calloc(1, sizeof(nox_preflight_report)), false };
    if (!b.rep)
        return nox__error_oom(err);
    bool root = geteuid() == 0;
    _cleanup_free_ char *init = NULL;
    nox_error *e = nox_error_new();
    if (nox__find_init(opts->init_path, &init, e) == 0)
        add(&b, "nox-init", true, true, init, NULL);
    else
        add(&b, "nox-init", false, true, nox_error_message(e),
            "install NoxRunner (make install) or set NOXRUNNER_INIT to the built nox-init");
    nox_error_free(e);
    sysctl_checks(&b, root);
    if (init)
        probe(&b, init);
    cgroup_checks(&b, opts);
    const char *why;
    bool prepared = nox__pod_can_prepare(root, &why);
    add(&b, "prepared-holders", prepared, false, why,
        root ? "a kernel of Linux 5.2 or later" : "run as root (noxrunnerd as a system service)");
    if (b.oom) {
        nox_preflight_free(b.rep);
        return nox__error_oom(err);
    }
    b.rep->isolation_available = true;
    for (size_t i = 0; i < b.rep->n_checks; i++)
        if (b.rep->checks[i].required && !b.rep->checks[i].ok)
            b.rep->isolation_available = false;
    *ret_report = b.rep;
    return 0;
}
