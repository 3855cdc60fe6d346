/* SPDX-License-Identifier: MIT */
/* One exec: the supervisor (a child subreaper forked by the holder) starts
 * the command, enforces its timeout and the workspace's storage limit,
 * reports how it ended, and kills its whole process tree when the timeout
 * passes or the library goes away. */
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "init.h"

#define STORAGE_POLL_MS 250
#define DONE_GRACE_MS   60000

extern char **environ;

struct request {
    char **argv;
    size_t argc;
    char **env;
    size_t envc;
    char *cwd;
    uint64_t timeout_ms;
    uint32_t flags;
};

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

static int parse_request(const char *payload, size_t len, struct request *rq)
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
                return -1;
            break;
        case NOX_EX_ENV:
            if (!(s = nox__tlv_str(v, n)) || push(&rq->env, &rq->envc, s) < 0)
                return -1;
            break;
        case NOX_EX_CWD:
            free(rq->cwd);
            if (!(rq->cwd = nox__tlv_str(v, n)))
                return -1;
            break;
        case NOX_EX_TIMEOUT_MS:
            if (nox__tlv_u64(v, n, &rq->timeout_ms) < 0)
                return -1;
            break;
        case NOX_EX_FLAGS:
            if (nox__tlv_u32(v, n, &rq->flags) < 0)
                return -1;
            break;
        default:
            break;
        }
    }
    return r < 0 || rq->argc == 0 ? -1 : 0;
}

/* Unisolated, commands see the host: "/workspace" (the sandbox's view,
 * which the library always sends) is mapped to the workspace's place on
 * the host, and nothing outside it is allowed. */
static int map_workspace(const nox_init_cfg *cfg, struct request *rq)
{
    static const char root[] = "/workspace";
    const char *cwd = rq->cwd ? rq->cwd : root;
    size_t rl = sizeof root - 1;
    if (strncmp(cwd, root, rl) != 0 || (cwd[rl] && cwd[rl] != '/') || strstr(cwd, "/../") ||
        (strlen(cwd) >= 3 && strcmp(cwd + strlen(cwd) - 3, "/..") == 0))
        return -1;
    char *mapped = nox__asprintf("%s%s", cfg->workspace, cwd + rl);
    if (!mapped)
        return -1;
    free(rq->cwd);
    rq->cwd = mapped;
    return 0;
}

/* The command's environment: a sane base, then the request's entries,
 * which replace base entries of the same name. */
static char **build_env(const nox_init_cfg *cfg, const struct request *rq)
{
    bool isolated = cfg->flags & NOX_CFGF_ISOLATED;
    char *base[16];
    size_t nb = 0;
    base[nb++] = nox__strdup0("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
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
    char **env = NULL;
    size_t n = 0;
    for (size_t i = 0; i < nb; i++) {
        if (!base[i])
            return NULL;
        size_t name_len = strcspn(base[i], "=");
        bool overridden = false;
        for (size_t j = 0; j < rq->envc; j++)
            if (strncmp(rq->env[j], base[i], name_len + 1) == 0)
                overridden = true;
        if (!overridden && push(&env, &n, base[i]) < 0)
            return NULL;
    }
    for (size_t j = 0; j < rq->envc; j++)
        if (push(&env, &n, rq->env[j]) < 0)
            return NULL;
    return env;
}

struct setup_error {
    int32_t err;
    char stage[32];
};

NOX_NORETURN static void child_fail(int errfd, const char *stage)
{
    struct setup_error e = { errno, "" };
    snprintf(e.stage, sizeof e.stage, "%s", stage);
    nox__write_all(errfd, &e, sizeof e);
    _exit(127);
}

/* In the command's process, between fork and execve. */
NOX_NORETURN static void run_command(const nox_init_cfg *cfg, const nox_filter *filter,
                                     const struct request *rq, char **env, int out_fd, int err_fd,
                                     int errfd)
{
    /* Its own process group: the timeout kills the group first. */
    setpgid(0, 0);
    /* The holder ignores SIGPIPE and blocks a few signals (they go to its
     * signalfd); every other disposition is already the default. A
     * command starts with all of them default and unblocked. */
    sigset_t none;
    sigemptyset(&none);
    signal(SIGPIPE, SIG_DFL);
    sigprocmask(SIG_SETMASK, &none, NULL);
    int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null_fd < 0 || dup2(null_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0)
        child_fail(errfd, "stdio");
    if (rq->cwd && chdir(rq->cwd) < 0)
        child_fail(errfd, "chdir");
    umask(022);
    for (size_t i = 0; i < cfg->n_rlimits; i++)
        if (setrlimit(cfg->rlimits[i].resource, &cfg->rlimits[i].lim) < 0)
            child_fail(errfd, "setrlimit");
    /* no_new_privs: setuid binaries and file capabilities confer nothing,
     * and it is what lets an unprivileged process install a filter. */
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        child_fail(errfd, "no_new_privs");
    if (filter->prog) {
        struct {
            unsigned short len;
            void *filter;
        } prog = { filter->len, filter->prog };
        if (prctl(PR_SET_SECCOMP, 2 /* SECCOMP_MODE_FILTER */, &prog, 0, 0) < 0)
            child_fail(errfd, "seccomp");
    }
    /* execvp searches the PATH of the current environment, so the
     * command's environment becomes ours first. */
    environ = env;
    execvp(rq->argv[0], rq->argv);
    child_fail(errfd, "exec");
}

/* vfork: no copy of the page tables, and the supervisor has nothing to do
 * until the command has exec'd anyway. Between vfork and execve the child
 * only makes system calls and writes its own stack frames; it never
 * returns here. A function of its own, so no caller's locals live across
 * the vfork. */
static __attribute__((noinline)) pid_t spawn_command(const nox_init_cfg *cfg,
                                                     const nox_filter *filter,
                                                     const struct request *rq, char **env,
                                                     int out_fd, int err_fd, const int errp[2])
{
    pid_t pid = vfork();
    if (pid == 0)
        run_command(cfg, filter, rq, env, out_fd, err_fd, errp[1]);
    return pid;
}

static pid_t *list_children(size_t *ret_n)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%d/children", (int)getpid());
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    pid_t *kids = NULL;
    size_t n = 0, cap = 0;
    if (fd >= 0) {
        _cleanup_buf_ nox_buf b = NOX_BUF_INIT;
        char chunk[4096];
        ssize_t r;
        while ((r = read(fd, chunk, sizeof chunk)) > 0)
            nox__buf_append(&b, chunk, (size_t)r);
        for (char *p = b.data; p && *p;) {
            char *end;
            long v = strtol(p, &end, 10);
            if (end == p)
                break;
            if (n == cap) {
                cap = cap ? cap * 2 : 32;
                pid_t *k = realloc(kids, cap * sizeof *k);
                if (!k)
                    break;
                kids = k;
            }
            kids[n++] = (pid_t)v;
            p = end;
            while (*p == ' ' || *p == '\n')
                p++;
        }
        *ret_n = n;
        return kids;
    }
    /* Kernels without CONFIG_PROC_CHILDREN: scan /proc for our children. */
    DIR *d = opendir("/proc");
    if (!d) {
        *ret_n = 0;
        return NULL;
    }
    struct dirent *e;
    pid_t self = getpid();
    while ((e = readdir(d))) {
        if (e->d_name[0] < '1' || e->d_name[0] > '9')
            continue;
        char sp[300], buf[512];
        snprintf(sp, sizeof sp, "/proc/%s/stat", e->d_name);
        int sfd = open(sp, O_RDONLY | O_CLOEXEC);
        if (sfd < 0)
            continue;
        ssize_t r = read(sfd, buf, sizeof buf - 1);
        close(sfd);
        if (r <= 0)
            continue;
        buf[r] = '\0';
        char *q = strrchr(buf, ')');
        int ppid = 0;
        if (!q || sscanf(q + 1, " %*c %d", &ppid) != 1 || ppid != self)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 32;
            pid_t *k = realloc(kids, cap * sizeof *k);
            if (!k)
                break;
            kids = k;
        }
        kids[n++] = (pid_t)atoi(e->d_name);
    }
    closedir(d);
    *ret_n = n;
    return kids;
}

void nox__kill_descendants(void)
{
    /* We are a child subreaper: when a process below us dies, its children
     * become ours. So killing our children round after round reaches the
     * whole tree, including processes that left the process group or the
     * session (setsid, double fork). */
    for (;;) {
        size_t n = 0;
        pid_t *kids = list_children(&n);
        for (size_t i = 0; i < n; i++)
            kill(kids[i], SIGKILL);
        free(kids);
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

static void send_result(int conn, const struct nox_exec_status *st)
{
    nox__proto_send(conn, NOX_OP_RESULT, st, sizeof *st, NULL, 0);
}

/* After the result: stay until the library has drained the output and
 * closed the connection, so the holder starts draining the pipes only
 * once the library no longer reads them. */
NOX_NORETURN static void finish(int conn, int sig_fd)
{
    struct pollfd p[2] = { { conn, POLLIN, 0 }, { sig_fd, POLLIN, 0 } };
    int64_t end = nox__now_mono_ns() + DONE_GRACE_MS * 1000000LL;
    for (;;) {
        int64_t left = (end - nox__now_mono_ns()) / 1000000;
        if (left <= 0)
            break;
        int r = poll(p, 2, (int)left);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        if (p[1].revents) {
            struct signalfd_siginfo si;
            while (read(sig_fd, &si, sizeof si) == sizeof si)
                ;
            while (waitpid(-1, NULL, WNOHANG) > 0)
                ;
        }
        if (p[0].revents) {
            char b[64];
            ssize_t n = recv(conn, b, sizeof b, MSG_DONTWAIT);
            if (n <= 0 && !(n < 0 && errno == EAGAIN))
                break;
        }
    }
    _exit(0);
}

void nox__supervise(const nox_init_cfg *cfg, const nox_filter *filter, int conn,
                    const char *payload, size_t len, int out_fd, int err_fd)
{
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    struct nox_exec_status st = { 0 };
    struct request rq;
    char **env = NULL;
    if (parse_request(payload, len, &rq) < 0 || !(env = build_env(cfg, &rq))) {
        st.kind = NOX_EXIT_SETUP;
        st.err = EPROTO;
        snprintf(st.stage, sizeof st.stage, "request");
        send_result(conn, &st);
        _exit(1);
    }
    if ((rq.flags & NOX_EXF_REQUIRE_ISOLATION) && !(cfg->flags & NOX_CFGF_ISOLATED)) {
        st.kind = NOX_EXIT_SETUP;
        st.err = EPERM;
        snprintf(st.stage, sizeof st.stage, "isolation");
        send_result(conn, &st);
        _exit(1);
    }
    if (!(cfg->flags & NOX_CFGF_ISOLATED) && map_workspace(cfg, &rq) < 0) {
        st.kind = NOX_EXIT_SETUP;
        st.err = ENOENT;
        snprintf(st.stage, sizeof st.stage, "chdir");
        send_result(conn, &st);
        _exit(1);
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    int sig_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    int errp[2];
    if (sig_fd < 0 || pipe2(errp, O_CLOEXEC) < 0) {
        st.kind = NOX_EXIT_SETUP;
        st.err = errno;
        snprintf(st.stage, sizeof st.stage, "pipe");
        send_result(conn, &st);
        _exit(1);
    }
    int64_t t0 = nox__now_mono_ns();
    pid_t pid = spawn_command(cfg, filter, &rq, env, out_fd, err_fd, errp);
    if (pid < 0) {
        st.kind = NOX_EXIT_SETUP;
        st.err = errno;
        snprintf(st.stage, sizeof st.stage, "fork");
        send_result(conn, &st);
        _exit(1);
    }
    close(errp[1]);
    close(out_fd);
    close(err_fd);
    /* End of file on the error pipe means execve succeeded (the pipe is
     * close-on-exec); a record means it failed, and where. */
    struct setup_error se;
    ssize_t n = nox__read_full(errp[0], &se, sizeof se);
    close(errp[0]);
    if (n == (ssize_t)sizeof se) {
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        st.kind = NOX_EXIT_SETUP;
        st.err = se.err;
        memcpy(st.stage, se.stage, sizeof st.stage);
        st.stage[sizeof st.stage - 1] = '\0';
        st.duration_ns = nox__now_mono_ns() - t0;
        send_result(conn, &st);
        finish(conn, sig_fd);
    }

    int64_t deadline = rq.timeout_ms ? t0 + (int64_t)rq.timeout_ms * 1000000LL : INT64_MAX;
    int storage_fd = -1;
    if (cfg->storage_bytes)
        storage_fd = open((cfg->flags & NOX_CFGF_ISOLATED) ? "/workspace" : cfg->workspace,
                          O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int64_t next_storage = t0 + STORAGE_POLL_MS * 1000000LL;
    struct pollfd p[2] = { { conn, POLLIN, 0 }, { sig_fd, POLLIN, 0 } };
    for (;;) {
        int64_t now = nox__now_mono_ns();
        int64_t until = deadline;
        if (storage_fd >= 0 && next_storage < until)
            until = next_storage;
        int wait_ms = until == INT64_MAX ? -1 : (int)NOX_MAX(0, (until - now + 999999) / 1000000);
        int r = poll(p, 2, wait_ms);
        if (r < 0 && errno != EINTR)
            break;
        if (r > 0 && p[1].revents) {
            struct signalfd_siginfo si;
            while (read(sig_fd, &si, sizeof si) == sizeof si)
                ;
            int status;
            pid_t w;
            bool done = false;
            while ((w = waitpid(-1, &status, WNOHANG)) > 0) {
                if (w != pid)
                    continue;
                st.duration_ns = nox__now_mono_ns() - t0;
                if (WIFEXITED(status)) {
                    st.kind = NOX_EXIT_NORMAL;
                    st.code = WEXITSTATUS(status);
                } else {
                    st.kind = NOX_EXIT_SIGNAL;
                    st.sig = WTERMSIG(status);
                }
                done = true;
            }
            if (done) {
                send_result(conn, &st);
                finish(conn, sig_fd);
            }
        }
        if (r > 0 && (p[0].revents & (POLLIN | POLLHUP | POLLERR))) {
            /* The library went away (or asked to cancel): the exec's tree
             * goes too. */
            kill(-pid, SIGKILL);
            nox__kill_descendants();
            _exit(0);
        }
        now = nox__now_mono_ns();
        if (now >= deadline) {
            kill(-pid, SIGKILL);
            nox__kill_descendants();
            st.kind = NOX_EXIT_TIMEOUT;
            st.duration_ns = nox__now_mono_ns() - t0;
            send_result(conn, &st);
            finish(conn, sig_fd);
        }
        if (storage_fd >= 0 && now >= next_storage) {
            next_storage = now + STORAGE_POLL_MS * 1000000LL;
            if (nox__tree_usage(storage_fd, cfg->storage_bytes) > cfg->storage_bytes) {
                kill(-pid, SIGKILL);
                nox__kill_descendants();
                st.kind = NOX_EXIT_STORAGE;
                st.duration_ns = nox__now_mono_ns() - t0;
                send_result(conn, &st);
                finish(conn, sig_fd);
            }
        }
    }
    kill(-pid, SIGKILL);
    nox__kill_descendants();
    _exit(1);
}
