/* SPDX-License-Identifier: MIT */
/* Starting one command and killing one command's tree.
 *
 * The holder starts each command itself with vfork: no copy of the page
 * tables (fork() of even a small process costs milliseconds on some
 * virtual machines, where page-table and copy-on-write faults are slow),
 * and nothing to do until the command has exec'd anyway. The command is
 * made a child subreaper before execve (the flag survives it): whatever it
 * starts stays below it while it runs, daemons and setsid() included, so a
 * timeout or a cancel can freeze and kill that whole tree and nothing
 * else. When the command ends by itself, what it left running is adopted
 * by the holder, and lives on for the next exec. */
#include <dirent.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "init.h"

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static int push(char ***v, size_t *n, char *s)
{
    char **p = realloc(*v, (*n + 2) * sizeof *p);
    if (!p)
        return -1;
    p[(*n)++] = s;
    p[*n] = NULL;
    *v = p;
    return 0;
}

void nox__job_request_clear(nox_job_request *rq)
{
    for (size_t i = 0; i < rq->argc; i++)
        free(rq->argv[i]);
    free(rq->argv);
    for (size_t i = 0; i < rq->envc; i++)
        free(rq->env[i]);
    free(rq->env);
    free(rq->cwd);
    free(rq->path);
    memset(rq, 0, sizeof *rq);
}

int nox__job_request_parse(const char *payload, size_t len, nox_job_request *rq)
{
    memset(rq, 0, sizeof *rq);
    nox_tlv_iter it = { payload, payload + len };
    uint16_t tag;
    const char *v;
    uint32_t n;
    int r;
    while ((r = nox__tlv_next(&it, &tag, &v, &n)) > 0) {
        char *s = NULL;
        switch (tag) {
        case NOX_EX_ARG:
            if (!(s = nox__tlv_str(v, n)) || push(&rq->argv, &rq->argc, s) < 0)
                goto fail;
            break;
        case NOX_EX_ENV:
            if (!(s = nox__tlv_str(v, n)) || push(&rq->env, &rq->envc, s) < 0)
                goto fail;
            break;
        case NOX_EX_CWD:
            free(rq->cwd);
            if (!(rq->cwd = nox__tlv_str(v, n)))
                goto fail;
            break;
        case NOX_EX_TIMEOUT_MS:
            if (nox__tlv_u64(v, n, &rq->timeout_ms) < 0)
                goto fail;
            break;
        case NOX_EX_FLAGS:
            if (nox__tlv_u32(v, n, &rq->flags) < 0)
                goto fail;
            break;
        default:
            break;
        }
        continue;
    fail:
        free(s);
        nox__job_request_clear(rq);
        return -1;
    }
    if (r < 0 || rq->argc == 0) {
        nox__job_request_clear(rq);
        return -1;
    }
    return 0;
}

/* Unisolated, commands see the host: "/workspace" (the sandbox's view,
 * which the library always sends) is mapped to the workspace's place on
 * the host, and nothing outside it is allowed. */
int nox__job_map_workspace(const nox_init_cfg *cfg, nox_job_request *rq)
{
    static const char root[] = "/workspace";
    const char *cwd = rq->cwd ? rq->cwd : root;
    size_t rl = sizeof root - 1;
    size_t n = strlen(cwd);
    if (strncmp(cwd, root, rl) != 0 || (cwd[rl] && cwd[rl] != '/') || strstr(cwd, "/../") ||
        (n >= 3 && strcmp(cwd + n - 3, "/..") == 0))
        return -1;
    char *mapped = nox__asprintf("%s%s", cfg->workspace, cwd + rl);
    if (!mapped)
        return -1;
    free(rq->cwd);
    rq->cwd = mapped;
    return 0;
}

/* The command's environment: a sane base, then the request's entries,
 * which replace base entries of the same name. Also finds PATH. */
int nox__job_build_env(const nox_init_cfg *cfg, nox_job_request *rq)
{
    bool isolated = cfg->flags & NOX_CFGF_ISOLATED;
    char *base[16];
    size_t nb = 0;
    base[nb++] = nox__strdup0("PATH=" DEFAULT_PATH);
    base[nb++] = nox__asprintf("HOME=%s", isolated ? "/workspace" : cfg->workspace);
    base[nb++] = nox__strdup0("LANG=C.UTF-8");
    base[nb++] = nox__strdup0("TMPDIR=/tmp");
    base[nb++] = nox__asprintf("PWD=%s", rq->cwd ? rq->cwd : "/");
    if (isolated) {
        base[nb++] = nox__strdup0("USER=sandbox");
        base[nb++] = nox__strdup0("LOGNAME=sandbox");
        base[nb++] = nox__strdup0("SHELL=/bin/sh");
        base[nb++] = nox__asprintf("HOSTNAME=%s", cfg->hostname ? cfg->hostname : "sandbox");
    }
    int r = 0;
    for (size_t i = 0; i < nb; i++) {
        if (!base[i] || r < 0) {
            free(base[i]);
            r = -1;
            continue;
        }
        size_t name_len = strcspn(base[i], "=");
        bool overridden = false;
        for (size_t j = 0; j < rq->envc; j++)
            if (strncmp(rq->env[j], base[i], name_len + 1) == 0)
                overridden = true;
        if (overridden || push(&rq->env, &rq->envc, base[i]) < 0) {
            if (!overridden)
                r = -1;
            free(base[i]);
        }
    }
    for (size_t j = 0; j < rq->envc && r == 0; j++)
        if (strncmp(rq->env[j], "PATH=", 5) == 0 && !rq->path)
            rq->path = strdup(rq->env[j] + 5);
    return r;
}

/* ---- the child, between vfork and execve ----
 * It shares the holder's memory: only system calls and its own stack
 * frames, and the outcome is reported through @p out (shared memory). */

NOX_NORETURN static void child_fail(struct nox_exec_status *out, const char *stage, int err)
{
    out->kind = NOX_EXIT_SETUP;
    out->err = err;
    snprintf(out->stage, sizeof out->stage, "%s", stage);
    _exit(127);
}

/* execvp without touching the caller's environ: PATH comes from the
 * command's own environment. Returns the errno that best describes the
 * failure, as execvp would. */
static int exec_path(const nox_job_request *rq)
{
    const char *file = rq->argv[0];
    if (strchr(file, '/')) {
        execve(file, rq->argv, rq->env);
        return errno;
    }
    const char *path = rq->path ? rq->path : DEFAULT_PATH;
    int saved = ENOENT;
    char buf[4096];
    size_t fl = strlen(file);
    for (const char *p = path;; p++) {
        const char *end = strchr(p, ':');
        size_t dl = end ? (size_t)(end - p) : strlen(p);
        if (dl + 1 + fl + 1 <= sizeof buf) {
            /* An empty PATH element means the current directory. */
            if (dl) {
                /* Terminated by the second memcpy, which copies file's NUL. */
                // NOLINTNEXTLINE(bugprone-not-null-terminated-result)
                memcpy(buf, p, dl);
                buf[dl] = '/';
                memcpy(buf + dl + 1, file, fl + 1);
            } else {
                memcpy(buf, file, fl + 1);
            }
            execve(buf, rq->argv, rq->env);
            if (errno == EACCES)
                saved = EACCES;
            else if (errno != ENOENT && errno != ENOTDIR)
                return errno;
        }
        if (!end)
            break;
        p = end;
    }
    return saved;
}

NOX_NORETURN static void run_command(const nox_init_cfg *cfg, const nox_job_request *rq, int out_fd,
                                     int err_fd, struct nox_exec_status *out)
{
    /* Its own process group: the cheap first strike of a kill. */
    setpgid(0, 0);
    /* The holder ignores SIGPIPE and blocks a few signals for its
     * signalfd; a command starts with everything default and unblocked. */
    signal(SIGPIPE, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null_fd < 0 || dup2(null_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0)
        child_fail(out, "stdio", errno);
    if (rq->cwd && chdir(rq->cwd) < 0)
        child_fail(out, "chdir", errno);
    umask(022);
    for (size_t i = 0; i < cfg->n_rlimits; i++)
        if (setrlimit(cfg->rlimits[i].resource, &cfg->rlimits[i].lim) < 0)
            child_fail(out, "setrlimit", errno);
    /* Everything it starts stays below it while it runs (see above). */
    if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
        child_fail(out, "subreaper", errno);
    /* no_new_privs and the seccomp filter come from the holder. */
    child_fail(out, "exec", exec_path(rq));
}

pid_t nox__job_spawn(const nox_init_cfg *cfg, const nox_job_request *rq, int out_fd, int err_fd,
                     struct nox_exec_status *out)
{
    memset(out, 0, sizeof *out);
    /* vfork on purpose (see the top of this file); the child only makes
     * system calls on its own frames before execve or _exit. */
    // NOLINTNEXTLINE(clang-analyzer-security.insecureAPI.vfork)
    pid_t pid = vfork();
    if (pid == 0)
        // NOLINTNEXTLINE(clang-analyzer-unix.Vfork)
        run_command(cfg, rq, out_fd, err_fd, out);
    return pid;
}

/* ---- killing a tree ---- */

/* Appends the children of every thread of @p pid to @p set. */
static void add_children(pid_t pid, pid_t **set, size_t *n, size_t *cap)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        char cpath[300];
        snprintf(cpath, sizeof cpath, "/proc/%d/task/%s/children", (int)pid, e->d_name);
        _cleanup_free_ char *data = NULL;
        if (nox__read_file_at(AT_FDCWD, cpath, 1 << 20, &data, NULL) < 0)
            continue;
        for (char *p = data; *p;) {
            char *end;
            long v = strtol(p, &end, 10);
            if (end == p)
                break;
            bool seen = false;
            for (size_t i = 0; i < *n; i++)
                if ((*set)[i] == (pid_t)v)
                    seen = true;
            if (!seen) {
                if (*n == *cap) {
                    size_t nc = *cap ? *cap * 2 : 64;
                    pid_t *ns = realloc(*set, nc * sizeof *ns);
                    if (!ns)
                        break;
                    *set = ns;
                    *cap = nc;
                }
                (*set)[(*n)++] = (pid_t)v;
            }
            p = end;
            /* p is NULL only on entry, when the file was empty; here it is
             * strtol's end pointer, never NULL. */
            // cppcheck-suppress nullPointerRedundantCheck
            while (*p == ' ' || *p == '\n')
                p++;
        }
    }
    closedir(d);
}

/* Whether @p pid still runs: not gone, not a zombie (SIGKILL takes effect
 * when the process next runs, which on a loaded machine can be a while). */
static bool still_running(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t k = nox__read_full(fd, buf, sizeof buf - 1);
    close(fd);
    if (k <= 0)
        return false;
    buf[k] = '\0';
    const char *p = strrchr(buf, ')');
    return p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X' && p[2] != '\0';
}

void nox__kill_tree(pid_t root)
{
    /* The process group first: most trees are one group, and it stops
     * them in one call. */
    kill(-root, SIGSTOP);
    /* Then freeze the tree: stop every process below the command (it is a
     * subreaper, so nothing escaped above it) until a pass finds nothing
     * new; stopped processes cannot fork. Only then kill: killing a
     * parent first would hand its children to the holder, out of the
     * tree's reach. */
    pid_t *set = NULL;
    size_t n = 0, cap = 0;
    if (!(set = malloc(64 * sizeof *set))) {
        kill(-root, SIGKILL);
        kill(root, SIGKILL);
        return;
    }
    cap = 64;
    set[n++] = root;
    kill(root, SIGSTOP);
    for (int pass = 0; pass < 64; pass++) {
        size_t before = n;
        for (size_t i = 0; i < n; i++)
            add_children(set[i], &set, &n, &cap);
        for (size_t i = before; i < n; i++)
            kill(set[i], SIGSTOP);
        if (n == before)
            break;
    }
    for (size_t i = 0; i < n; i++)
        kill(set[i], SIGKILL);
    kill(-root, SIGKILL);
    /* The exec's result goes out once the command is reaped; by then the
     * rest of its tree is to be gone too, not dying: wait for each (2 s
     * at most; a killed process only needs to be scheduled once). */
    for (int t = 0; t < 2000; t++) {
        bool any = false;
        for (size_t i = 0; i < n && !any; i++)
            any = still_running(set[i]);
        if (!any)
            break;
        struct timespec ms = { 0, 1000000 };
        nanosleep(&ms, NULL);
    }
    free(set);
}

void nox__kill_descendants(void)
{
    /* We are a child subreaper: when a process below us dies, its children
     * become ours. So killing our children round after round reaches the
     * whole tree, including processes that left the process group or the
     * session (setsid, double fork). */
    for (;;) {
        pid_t *set = NULL;
        size_t n = 0, cap = 0;
        add_children(getpid(), &set, &n, &cap);
        for (size_t i = 0; i < n; i++)
            kill(set[i], SIGKILL);
        free(set);
        if (n == 0) {
            while (waitpid(-1, NULL, WNOHANG) > 0)
                ;
            if (waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD)
                return;
        }
        pid_t p = waitpid(-1, NULL, 0);
        if (p < 0 && errno == ECHILD)
            return;
        while (waitpid(-1, NULL, WNOHANG) > 0)
            ;
    }
}
