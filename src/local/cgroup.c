/* SPDX-License-Identifier: MIT */
/* cgroups for sandboxes: memory, pids and cpu, each from whichever
 * hierarchy has the controller. Hosts come in three layouts: unified v2,
 * pure v1, and hybrid (v1 controllers with a cgroup2 mount beside them, as
 * on this project's CI machines); the code takes each controller where it
 * lives. Nothing here is fatal: what cannot be set up is reported per
 * limit, and rlimits remain as a floor. */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>

#include "local.h"

const char *const nox__cgroup_names[NOX_CG_COUNT] = { "memory", "pids", "cpu" };

void nox__cgroup_host_clear(nox_cgroup_host *h)
{
    for (int i = 0; i < NOX_CG_COUNT; i++) {
        free(h->mount[i]);
        free(h->own[i]);
    }
    free(h->v2_mount);
    memset(h, 0, sizeof *h);
    h->layout = "none";
}

static bool has_word(const char *list, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = list; p && *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && strncmp(p, word, n) == 0)
            return true;
        p = end ? end + 1 : NULL;
    }
    return false;
}

/* Mount points from /proc/self/mountinfo; "\040"-style escapes decoded. */
static char *unescape(const char *s)
{
    char *out = malloc(strlen(s) + 1);
    if (!out)
        return NULL;
    char *o = out;
    while (*s) {
        if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
            s[3] >= '0' && s[3] <= '7') {
            *o++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
            s += 4;
        } else {
            *o++ = *s++;
        }
    }
    *o = '\0';
    return out;
}

static void read_v2_controllers(const char *mnt, bool have[NOX_CG_COUNT])
{
    char path[4096];
    snprintf(path, sizeof path, "%s/cgroup.controllers", mnt);
    _cleanup_free_ char *data = NULL;
    if (nox__read_file_at(AT_FDCWD, path, 65536, &data, NULL) < 0)
        return;
    for (char *tok = strtok(data, " \n"); tok; tok = strtok(NULL, " \n"))
        for (int i = 0; i < NOX_CG_COUNT; i++)
            if (strcmp(tok, nox__cgroup_names[i]) == 0)
                have[i] = true;
}

int nox__cgroup_detect(nox_cgroup_host *h)
{
    memset(h, 0, sizeof *h);
    h->layout = "none";
    _cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
    if (!f)
        return -1;
    char *line = NULL;
    size_t cap = 0;
    /* Mount roots: a hierarchy mounted at a subtree (containers) maps our
     * cgroup path minus that root under its mount point. */
    char *roots[NOX_CG_COUNT] = { 0 };
    char *v2_root = NULL;
    while (getline(&line, &cap, f) > 0) {
        char *sep = strstr(line, " - ");
        if (!sep)
            continue;
        char fstype[32], source[256], opts[1024];
        if (sscanf(sep + 3, "%31s %255s %1023s", fstype, source, opts) != 3)
            continue;
        char root[4096], mnt[4096];
        if (sscanf(line, "%*d %*d %*s %4095s %4095s", root, mnt) != 2)
            continue;
        if (strcmp(fstype, "cgroup2") == 0 && !h->v2_mount) {
            /* Not the first cgroup2 line when unescaping the last one's
             * mount point ran out of memory. */
            free(v2_root);
            h->v2_mount = unescape(mnt);
            v2_root = unescape(root);
        } else if (strcmp(fstype, "cgroup") == 0) {
            for (int i = 0; i < NOX_CG_COUNT; i++) {
                if (h->mount[i] || !has_word(opts, nox__cgroup_names[i]))
                    continue;
                h->mount[i] = unescape(mnt);
                roots[i] = unescape(root);
                h->version[i] = 1;
            }
        }
    }
    free(line);
    bool v2_has[NOX_CG_COUNT] = { false };
    if (h->v2_mount)
        read_v2_controllers(h->v2_mount, v2_has);
    for (int i = 0; i < NOX_CG_COUNT; i++) {
        if (!h->mount[i] && v2_has[i]) {
            h->mount[i] = nox__strdup0(h->v2_mount);
            roots[i] = nox__strdup0(v2_root);
            h->version[i] = 2;
        }
    }

    /* Our own cgroup in each hierarchy, from /proc/self/cgroup. */
    _cleanup_fclose_ FILE *c = fopen("/proc/self/cgroup", "re");
    if (c) {
        char *l = NULL;
        size_t lc = 0;
        while (getline(&l, &lc, c) > 0) {
            l[strcspn(l, "\n")] = '\0';
            char *a = strchr(l, ':');
            char *b = a ? strchr(a + 1, ':') : NULL;
            if (!b)
                continue;
            *b = '\0';
            const char *ctrls = a + 1, *path = b + 1;
            for (int i = 0; i < NOX_CG_COUNT; i++) {
                bool match = (h->version[i] == 1 && has_word(ctrls, nox__cgroup_names[i])) ||
                             (h->version[i] == 2 && *ctrls == '\0' && l[0] == '0');
                if (!match || h->own[i])
                    continue;
                /* Strip the mount's root so the path is relative to the
                 * mount point. */
                const char *root = roots[i] ? roots[i] : "/";
                size_t rl = strlen(root);
                if (rl > 1 && strncmp(path, root, rl) == 0)
                    path += rl;
                h->own[i] = nox__strdup0(*path ? path : "/");
            }
        }
        free(l);
    }
    for (int i = 0; i < NOX_CG_COUNT; i++)
        free(roots[i]);
    free(v2_root);

    int v1 = 0, v2 = 0;
    for (int i = 0; i < NOX_CG_COUNT; i++) {
        if (h->version[i] == 1)
            v1++;
        else if (h->version[i] == 2)
            v2++;
    }
    if (v1 && h->v2_mount)
        h->layout = "hybrid";
    else if (v1)
        h->layout = "v1";
    else if (v2 || h->v2_mount)
        h->layout = "v2";
    return 0;
}

static int write_text(const char *dir, const char *file, const char *text)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s/%s", dir, file) >= (int)sizeof path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t n = strlen(text);
    return write(fd, text, n) == (ssize_t)n ? 0 : -1;
}

int nox__cgroup_attach(const char *dir, pid_t pid)
{
    char text[32];
    snprintf(text, sizeof text, "%d\n", (int)pid);
    return write_text(dir, "cgroup.procs", text);
}

static int mkdir_p(const char *path)
{
    _cleanup_free_ char *p = strdup(path);
    if (!p)
        return -1;
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, 0755) < 0 && errno != EEXIST)
            return -1;
        *s = '/';
    }
    return mkdir(p, 0755) < 0 && errno != EEXIST ? -1 : 0;
}

static char *parent_path(const nox_cgroup_host *h, int i, const char *parent)
{
    if (parent)
        return nox__asprintf("%s/%s", h->mount[i], parent[0] == '/' ? parent + 1 : parent);
    const char *own = h->own[i] && strcmp(h->own[i], "/") != 0 ? h->own[i] : "";
    return nox__asprintf("%s%s/noxrunner", h->mount[i], own);
}

/* cgroup v2 distributes a controller to a cgroup only when its parent
 * enables it in cgroup.subtree_control, and so on up to the root: enable it
 * in every proper ancestor of @p dir below @p mount. This fails with EBUSY
 * in a cgroup that has processes of its own (the "no internal processes"
 * rule), and the report then says so. */
static int v2_enable(const char *mount, const char *dir, const char *ctrl)
{
    char tok[32];
    snprintf(tok, sizeof tok, "+%s", ctrl);
    _cleanup_free_ char *p = strdup(dir);
    if (!p)
        return -1;
    size_t ml = strlen(mount);
    /* Walk p's ancestors from the mount point down: at each '/' after the
     * mount prefix, the part before it is an ancestor. */
    for (char *s = p + ml; (s = strchr(s, '/')); s++) {
        *s = '\0';
        int r = write_text(p, "cgroup.subtree_control", tok);
        int e = errno;
        *s = '/';
        if (r < 0) {
            errno = e;
            return -1;
        }
    }
    return 0;
}

void nox__cgroup_create(const nox_cgroup_host *h, const char *parent, const char *name,
                        const nox_cgroup_limits *lim, nox_cgroup_set *set)
{
    memset(set, 0, sizeof *set);
    for (int i = 0; i < NOX_CG_COUNT; i++) {
        set->version[i] = h->version[i];
        if (!h->mount[i]) {
            set->reason[i] =
                nox__asprintf("the host has no %s cgroup controller mounted", nox__cgroup_names[i]);
            continue;
        }
        _cleanup_free_ char *pp = parent_path(h, i, parent);
        _cleanup_free_ char *dir = pp ? nox__asprintf("%s/%s", pp, name) : NULL;
        if (!dir)
            continue;
        /* In v1 each controller has its own tree; in v2 all share one
         * directory, made once. */
        bool made = false;
        for (size_t k = 0; k < set->n_dirs; k++)
            if (strcmp(set->dirs[k], dir) == 0)
                made = true;
        if (!made) {
            if (mkdir_p(pp) < 0 || (mkdir(dir, 0755) < 0 && errno != EEXIST)) {
                set->reason[i] =
                    nox__asprintf("cannot create cgroup `%s`: %s", dir, strerror(errno));
                continue;
            }
        }
        if (h->version[i] == 2 && v2_enable(h->mount[i], dir, nox__cgroup_names[i]) < 0) {
            set->reason[i] = nox__asprintf(
                "cannot enable the %s controller for `%s`: %s (cgroup v2 needs a delegated "
                "subtree: set cgroup_parent / NOXRUNNER_CGROUP_PARENT to one)",
                nox__cgroup_names[i], pp, strerror(errno));
            if (!made)
                rmdir(dir);
            continue;
        }
        char val[64];
        int r = 0;
        switch (i) {
        case NOX_CG_MEMORY:
            snprintf(val, sizeof val, "%llu", (unsigned long long)lim->memory_bytes);
            if (h->version[i] == 1) {
                r = write_text(dir, "memory.limit_in_bytes", val);
                /* Without this, a v1 limit can be dodged into swap. */
                if (r == 0)
                    write_text(dir, "memory.memsw.limit_in_bytes", val);
            } else {
                r = write_text(dir, "memory.max", val);
                if (r == 0)
                    write_text(dir, "memory.swap.max", "0");
            }
            break;
        case NOX_CG_PIDS:
            snprintf(val, sizeof val, "%llu", (unsigned long long)lim->pids);
            r = write_text(dir, "pids.max", val);
            break;
        case NOX_CG_CPU:
            if (h->version[i] == 1) {
                snprintf(val, sizeof val, "%llu", (unsigned long long)(lim->cpu_milli * 100));
                r = write_text(dir, "cpu.cfs_period_us", "100000");
                if (r == 0)
                    r = write_text(dir, "cpu.cfs_quota_us", val);
            } else {
                snprintf(val, sizeof val, "%llu 100000",
                         (unsigned long long)(lim->cpu_milli * 100));
                r = write_text(dir, "cpu.max", val);
            }
            break;
        }
        if (r < 0) {
            set->reason[i] = nox__asprintf("cannot set the %s limit in `%s`: %s",
                                           nox__cgroup_names[i], dir, strerror(errno));
            if (!made)
                rmdir(dir);
            continue;
        }
        set->enforced[i] = true;
        if (!made && set->n_dirs < NOX_CG_COUNT)
            set->dirs[set->n_dirs++] = steal_pointer(&dir);
    }
}

void nox__cgroup_set_clear(nox_cgroup_set *set)
{
    for (size_t i = 0; i < set->n_dirs; i++)
        free(set->dirs[i]);
    for (int i = 0; i < NOX_CG_COUNT; i++)
        free(set->reason[i]);
    memset(set, 0, sizeof *set);
}

static size_t kill_procs(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/cgroup.procs", dir);
    _cleanup_free_ char *data = NULL;
    if (nox__read_file_at(AT_FDCWD, path, 1 << 20, &data, NULL) < 0)
        return 0;
    size_t n = 0;
    for (char *tok = strtok(data, "\n"); tok; tok = strtok(NULL, "\n")) {
        long pid = strtol(tok, NULL, 10);
        if (pid > 1) {
            kill((pid_t)pid, SIGKILL);
            n++;
        }
    }
    return n;
}

void nox__cgroup_remove(const char *dir)
{
    /* cgroup v2 (5.14+) kills the whole cgroup atomically. */
    write_text(dir, "cgroup.kill", "1");
    /* The holder is usually dead already, but a dead task keeps its cgroup
     * busy until its parent has reaped it, which takes a moment: retry
     * soon, then less often (0.1 ms doubling to 5 ms, about 1 s in all). */
    long wait_ns = 100000;
    for (int round = 0; round < 200; round++) {
        if (rmdir(dir) == 0 || errno == ENOENT)
            return;
        kill_procs(dir);
        struct timespec ts = { 0, wait_ns };
        nanosleep(&ts, NULL);
        wait_ns = wait_ns * 2 > 5000000 ? 5000000 : wait_ns * 2;
    }
}

bool nox__cgroup_writable(const nox_cgroup_host *h, const char *parent, int i, char **ret_reason)
{
    if (!h->mount[i]) {
        *ret_reason = nox__asprintf("no %s controller is mounted", nox__cgroup_names[i]);
        return false;
    }
    char name[64];
    snprintf(name, sizeof name, "preflight-%d", (int)getpid());
    nox_cgroup_limits lim = { 64ull << 20, 1000, 64 };
    /* Probe only controller i: a shallow copy with the others hidden. */
    nox_cgroup_host one = *h;
    for (int k = 0; k < NOX_CG_COUNT; k++)
        if (k != i)
            one.mount[k] = NULL;
    nox_cgroup_set set;
    nox__cgroup_create(&one, parent, name, &lim, &set);
    bool ok = set.enforced[i];
    if (!ok)
        *ret_reason = set.reason[i] ? strdup(set.reason[i]) : NULL;
    for (size_t k = 0; k < set.n_dirs; k++)
        rmdir(set.dirs[k]);
    nox__cgroup_set_clear(&set);
    return ok;
}
