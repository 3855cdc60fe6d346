/* SPDX-License-Identifier: MIT */
/* The holder: pid 1 of a sandbox (or, unisolated, a child subreaper on the
 * host). It owns the sandbox's namespaces for as long as the sandbox lives,
 * so an exec costs a fork of this small process and not a new set of
 * namespaces and mounts. */
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include "init.h"

#define TICK_MS             1000
#define STORAGE_EVERY_TICKS 2
#define REQUEST_TIMEOUT_MS  5000

struct running {
    pid_t supervisor;
    int out_r, err_r;
};

static const nox_init_cfg *cfg;
static nox_filter filter;
static int sigfd = -1;
static int workspace_fd = -1;
static struct running *runs;
static size_t n_runs, cap_runs;
static int *drains;
static size_t n_drains, cap_drains;

static void fail_setup(int ready_fd, const char *msg)
{
    nox__write_all(ready_fd, msg, strlen(msg));
    _exit(1);
}

static int capget_set(bool raise_effective, bool clear_all)
{
    struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct d[2];
    if (syscall(SYS_capget, &h, d) < 0)
        return -1;
    for (int i = 0; i < 2; i++) {
        if (clear_all)
            d[i].effective = d[i].permitted = d[i].inheritable = 0;
        else if (raise_effective)
            d[i].effective = d[i].permitted;
    }
    return (int)syscall(SYS_capset, &h, d);
}

/* From the launcher's identity to the sandbox user, keeping the
 * capabilities the user namespace gave us (they only reach objects this
 * namespace owns) for the mounts still to come. */
static int become_sandbox_user(bool privileged, char *msg)
{
    if (setresgid(NOX_SANDBOX_GID, NOX_SANDBOX_GID, NOX_SANDBOX_GID) < 0)
        return nox__init_fail(msg, errno, "setresgid");
    /* Root's supplementary groups would follow the holder into the
     * sandbox as host groups; drop them. (Unprivileged launches cannot and
     * need not: setgroups is denied and the groups are the caller's.) */
    if (privileged && setgroups(0, NULL) < 0)
        return nox__init_fail(msg, errno, "setgroups");
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
        return nox__init_fail(msg, errno, "PR_SET_KEEPCAPS");
    if (setresuid(NOX_SANDBOX_UID, NOX_SANDBOX_UID, NOX_SANDBOX_UID) < 0)
        return nox__init_fail(msg, errno, "setresuid");
    if (capget_set(true, false) < 0)
        return nox__init_fail(msg, errno, "capset");
    prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
    return 0;
}

/* After setup nothing in the sandbox keeps a capability: the bounding set
 * is emptied (commands can never regain one) and our own sets cleared. */
static int drop_all_caps(char *msg)
{
    for (int c = 0; c <= 63; c++)
        if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
            return nox__init_fail(msg, errno, "drop capability %d from the bounding set", c);
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    if (capget_set(false, true) < 0)
        return nox__init_fail(msg, errno, "clear capabilities");
    return 0;
}

void nox__block_signals(sigset_t *ret_old)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigprocmask(SIG_BLOCK, &set, ret_old);
}

static void add_drain(int fd)
{
    if (fd < 0)
        return;
    if (n_drains == cap_drains) {
        size_t nc = cap_drains ? cap_drains * 2 : 16;
        int *p = realloc(drains, nc * sizeof *p);
        if (!p) {
            close(fd);
            return;
        }
        drains = p;
        cap_drains = nc;
    }
    fcntl(fd, F_SETFL, O_NONBLOCK);
    drains[n_drains++] = fd;
}

static void reap(void)
{
    for (;;) {
        pid_t pid = waitpid(-1, NULL, WNOHANG);
        if (pid <= 0)
            return;
        for (size_t i = 0; i < n_runs; i++) {
            if (runs[i].supervisor != pid)
                continue;
            /* The exec is over and the library has drained what it wanted;
             * from now on whatever background processes write to the
             * exec's stdout/stderr is read and dropped here, so they never
             * die of a broken pipe. */
            add_drain(runs[i].out_r);
            add_drain(runs[i].err_r);
            runs[i] = runs[--n_runs];
            break;
        }
    }
}

/* Kills every process of the sandbox except this one and waits until they
 * are all gone. */
static void kill_everything(void)
{
    if (cfg->flags & NOX_CFGF_ISOLATED) {
        /* As pid 1 of the namespace, kill(-1) reaches every other process
         * in it; each then becomes our child (or already is), so waiting
         * until ECHILD means all of them are dead. */
        kill(-1, SIGKILL);
        for (;;) {
            pid_t p = waitpid(-1, NULL, 0);
            if (p < 0 && errno != EINTR)
                break;
        }
    } else {
        nox__kill_descendants();
    }
    for (size_t i = 0; i < n_runs; i++) {
        close(runs[i].out_r);
        close(runs[i].err_r);
    }
    n_runs = 0;
}

static int64_t count_processes(void)
{
    if (!(cfg->flags & NOX_CFGF_ISOLATED))
        return -1;
    DIR *d = opendir("/proc");
    if (!d)
        return -1;
    int64_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] >= '1' && e->d_name[0] <= '9')
            n++;
    closedir(d);
    return n > 0 ? n - 1 : 0;
}

static bool expired(void)
{
    struct stat st;
    if (fstat(NOX_FD_EXPIRES, &st) < 0)
        return false;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return st.st_mtim.tv_sec <= now.tv_sec;
}

static void handle_exec(int conn, const nox_buf *payload, int *fds, size_t nfds)
{
    if (nfds != 4) {
        for (size_t i = 0; i < nfds; i++)
            close(fds[i]);
        close(conn);
        return;
    }
    if (n_runs == cap_runs) {
        size_t nc = cap_runs ? cap_runs * 2 : 16;
        struct running *p = realloc(runs, nc * sizeof *p);
        if (!p)
            goto refuse;
        runs = p;
        cap_runs = nc;
    }
    pid_t pid = fork();
    if (pid < 0)
        goto refuse;
    if (pid == 0) {
        /* The supervisor keeps exactly the connection and the two write
         * ends, at known numbers; the holder's other descriptors (other
         * execs' pipes, the listening socket) must not leak into it. */
        int keep[3] = { conn, fds[0], fds[1] };
        for (int i = 0; i < 3; i++) {
            int nfd = fcntl(keep[i], F_DUPFD_CLOEXEC, 20);
            if (nfd < 0)
                _exit(1);
            keep[i] = nfd;
        }
        for (int i = 0; i < 3; i++) {
            if (dup3(keep[i], 3 + i, O_CLOEXEC) < 0)
                _exit(1);
        }
        syscall(SYS_close_range, 6U, ~0U, 0);
        nox__supervise(cfg, &filter, 3, payload->data, payload->len, 4, 5);
    }
    close(conn);
    close(fds[0]);
    close(fds[1]);
    runs[n_runs++] = (struct running){ pid, fds[2], fds[3] };
    return;
refuse:
    for (size_t i = 0; i < nfds; i++)
        close(fds[i]);
    close(conn);
}

static void handle_conn(int conn)
{
    _cleanup_buf_ nox_buf payload = NOX_BUF_INIT;
    int fds[NOX_PROTO_MAX_FDS];
    size_t nfds = 0;
    uint16_t op = 0;
    int r = nox__proto_recv(conn, &op, &payload, cfg->max_request + 65536, fds, &nfds,
                            NOX_PROTO_MAX_FDS, REQUEST_TIMEOUT_MS);
    if (r < 0) {
        close(conn);
        return;
    }
    switch (op) {
    case NOX_OP_EXEC:
        handle_exec(conn, &payload, fds, nfds);
        return;
    case NOX_OP_PING: {
        struct nox_holder_status st = { 0 };
        st.pid_in_sandbox = getpid();
        st.running_execs = (int64_t)n_runs;
        st.processes = count_processes();
        st.workspace_bytes =
            workspace_fd >= 0 ? (int64_t)nox__tree_usage(workspace_fd, UINT64_MAX) : -1;
        nox__proto_send(conn, NOX_OP_PONG, &st, sizeof st, NULL, 0);
        break;
    }
    case NOX_OP_SHUTDOWN:
        kill_everything();
        nox__proto_send(conn, NOX_OP_BYE, NULL, 0, NULL, 0);
        close(conn);
        _exit(0);
    default:
        break;
    }
    for (size_t i = 0; i < nfds; i++)
        close(fds[i]);
    close(conn);
}

static void drain_ready(struct pollfd *p, size_t n)
{
    char buf[16384];
    for (size_t i = 0; i < n; i++) {
        if (!p[i].revents)
            continue;
        ssize_t r = read(p[i].fd, buf, sizeof buf);
        if (r > 0 || (r < 0 && (errno == EAGAIN || errno == EINTR)))
            continue;
        close(p[i].fd);
        for (size_t j = 0; j < n_drains; j++) {
            if (drains[j] == p[i].fd) {
                drains[j] = drains[--n_drains];
                break;
            }
        }
    }
}

/* Like kubelet's eviction for ephemeral storage: when the workspace has
 * grown past its limit while nothing is being executed, whatever runs in
 * the background is stopped. Files stay, so the owner can clean up. */
static void check_storage(void)
{
    if (!cfg->storage_bytes || workspace_fd < 0 || n_runs > 0)
        return;
    if (count_processes() == 0)
        return;
    if (nox__tree_usage(workspace_fd, cfg->storage_bytes) <= cfg->storage_bytes)
        return;
    kill_everything();
}

static void serve(int listen_fd)
{
    int64_t next_tick = nox__now_mono_ns() + TICK_MS * 1000000LL;
    unsigned ticks = 0;
    for (;;) {
        size_t n = 2 + n_drains;
        struct pollfd *p = calloc(n, sizeof *p);
        if (!p) {
            struct timespec ts = { 0, 100000000 };
            nanosleep(&ts, NULL);
            continue;
        }
        p[0] = (struct pollfd){ sigfd, POLLIN, 0 };
        p[1] = (struct pollfd){ listen_fd, POLLIN, 0 };
        for (size_t i = 0; i < n_drains; i++)
            p[2 + i] = (struct pollfd){ drains[i], POLLIN, 0 };
        int64_t wait_ms = (next_tick - nox__now_mono_ns()) / 1000000;
        int r = poll(p, n, (int)NOX_MAX(0, NOX_MIN(wait_ms, TICK_MS)));
        if (r > 0 && (p[0].revents & POLLIN)) {
            struct signalfd_siginfo si;
            while (read(sigfd, &si, sizeof si) == sizeof si) {
                if (si.ssi_signo == SIGCHLD)
                    continue;
                /* SIGTERM and friends (from the host): stop the sandbox. */
                kill_everything();
                _exit(0);
            }
            reap();
        }
        if (r > 0) {
            drain_ready(p + 2, n - 2);
            if (p[1].revents & POLLIN) {
                int conn = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
                if (conn >= 0)
                    handle_conn(conn);
            }
        }
        free(p);
        if (nox__now_mono_ns() >= next_tick) {
            next_tick = nox__now_mono_ns() + TICK_MS * 1000000LL;
            if (expired()) {
                kill_everything();
                _exit(0);
            }
            if (++ticks % STORAGE_EVERY_TICKS == 0)
                check_storage();
        }
    }
}

void nox__holder_main(const nox_init_cfg *c, int ready_fd)
{
    cfg = c;
    char msg[NOX_MSG_MAX] = "";
    bool isolated = cfg->flags & NOX_CFGF_ISOLATED;
    bool privileged = cfg->flags & NOX_CFGF_PRIVILEGED;
    sigset_t old;
    nox__block_signals(&old);
    signal(SIGPIPE, SIG_IGN);
    if (isolated) {
        /* Opened here, in the new mount namespace (a bind source must be
         * in it) and still with the launcher's file system identity (the
         * state directory is private to its owner). */
        int wfd = open(cfg->workspace, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (wfd < 0)
            fail_setup(ready_fd,
                       (nox__init_fail(msg, errno, "open workspace `%s`", cfg->workspace), msg));
        if (wfd != NOX_FD_WORKSPACE) {
            if (dup3(wfd, NOX_FD_WORKSPACE, O_CLOEXEC) < 0)
                fail_setup(ready_fd, "dup workspace fd");
            close(wfd);
        }
        if (become_sandbox_user(privileged, msg) < 0 || nox__rootfs_setup(cfg, msg) < 0 ||
            nox__loopback_up(msg) < 0)
            fail_setup(ready_fd, msg);
        close(NOX_FD_WORKSPACE);
        workspace_fd = open("/workspace", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    } else {
        /* Unisolated: orphans of commands come back to us, not to the
         * host's init, so delete can still find and kill them. */
        prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
        if (chdir(cfg->workspace) < 0)
            fail_setup(ready_fd, (nox__init_fail(msg, errno, "chdir `%s`", cfg->workspace), msg));
        workspace_fd = open(cfg->workspace, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    }
    if (nox__seccomp_build(&filter, msg) < 0)
        fail_setup(ready_fd, msg);
    if (isolated && drop_all_caps(msg) < 0)
        fail_setup(ready_fd, msg);
    /* Not dumpable: commands (same uid) cannot ptrace the holder or read
     * its /proc entries, descriptors included. */
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sigfd < 0)
        fail_setup(ready_fd, (nox__init_fail(msg, errno, "signalfd"), msg));
    fcntl(NOX_FD_LISTEN, F_SETFD, FD_CLOEXEC);
    fcntl(NOX_FD_EXPIRES, F_SETFD, FD_CLOEXEC);
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull >= 0) {
        dup2(devnull, 0);
        dup2(devnull, 1);
        dup2(devnull, 2);
        close(devnull);
    }
    /* Ready: the launcher reads end-of-file with no message. */
    close(ready_fd);
    serve(NOX_FD_LISTEN);
    _exit(0);
}
