/* SPDX-License-Identifier: MIT */
/* The holder: pid 1 of a sandbox (or, unisolated, a child subreaper on the
 * host). It owns the sandbox's namespaces for as long as the sandbox lives,
 * so an exec costs a vfork and an execve, not a new set of namespaces and
 * mounts. It runs every exec itself, in one event loop: starts the command,
 * watches its deadline and its client's connection, reports how it ended,
 * and reaps whatever the sandbox's processes leave behind. As pid 1 it is
 * immune to signals from inside the sandbox, so no command can take the
 * bookkeeping of another exec down with a kill -9 -1. */
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <poll.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>

#include "init.h"

/* The holder sleeps until its sandbox's expiry (the expires file's mtime,
 * which the library moves on every use) on a CLOCK_REALTIME timer, reads
 * the mtime again when the timer fires (uses since have moved it later),
 * and stops everything once it has passed. Every sandbox used to wake
 * once a second to look: with a thousand idle sandboxes that was a
 * thousand wakeups a second, and their cpu cgroups kept busy in the
 * scheduler's load balancing, which slowed every process on the machine
 * (docs/performance.md). The library moves an expiry earlier only when a
 * create changes the TTL, and then says so with SIGUSR1. Without a timer
 * the holder looks at least this often. */
#define EXPIRY_RECHECK_MS 1000
/* While processes an exec left behind run, their workspace is checked
 * against the storage limit this often (STORAGE_POLL_MS during execs). */
#define STORAGE_IDLE_MS    2000
#define STORAGE_POLL_MS    250
#define REQUEST_TIMEOUT_MS 5000
/* How long a finished exec waits for its client to close the connection
 * (it drains the output first) before the holder gives up on it. */
#define DONE_GRACE_MS 60000

/* One exec, from its start until its client has closed the connection. */
struct job {
    pid_t pid; /* the command; 0 once reaped */
    int conn;  /* the library's connection */
    int out_r; /* read ends: drained here once the exec is over, so */
    int err_r; /* background writers never meet a broken pipe */
    int64_t t0;
    int64_t deadline; /* INT64_MAX: none */
    int kind;         /* why it ended when we killed it: NOX_EXIT_* */
    bool done;        /* result sent */
};

static bool grow_jobs(void);

static const nox_init_cfg *cfg;
static int sigfd = -1;
static int expiry_tfd = -1;
static int workspace_fd = -1;
static struct job *jobs;
static size_t n_jobs, cap_jobs;
/* Set when an exec starts; cleared when no process but the holder is
 * left. While set, the idle storage check runs. */
static bool maybe_background;
static int *drains;
static size_t n_drains, cap_drains;

/* Where setup reports: the launcher's status pipe, or for a prepared
 * holder once it has been claimed, the library's channel. */
static int report_fd = -1;
static bool report_claim;

static NOX_NORETURN void fail_setup(const char *msg)
{
    if (report_claim)
        nox__proto_send(report_fd, NOX_OP_FAIL, msg, strlen(msg), NULL, 0);
    else
        nox__write_all(report_fd, msg, strlen(msg));
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
    sigaddset(&set, SIGUSR1);
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

static void send_status(struct job *j, const struct nox_exec_status *st)
{
    nox__proto_send(j->conn, NOX_OP_RESULT, st, sizeof *st, NULL, 0);
    j->done = true;
    /* From now on the library drains what the command wrote and then
     * closes the connection; allow it a while. */
    j->deadline = nox__now_mono_ns() + DONE_GRACE_MS * 1000000LL;
}

/* The exec is over for good: its pipes go to the drain set. */
static void job_remove(size_t i)
{
    struct job *j = &jobs[i];
    close(j->conn);
    add_drain(j->out_r);
    add_drain(j->err_r);
    jobs[i] = jobs[--n_jobs];
}

static void job_ended(struct job *j, int status)
{
    struct nox_exec_status st = { 0 };
    st.duration_ns = nox__now_mono_ns() - j->t0;
    if (j->kind) {
        st.kind = j->kind;
    } else if (WIFEXITED(status)) {
        st.kind = NOX_EXIT_NORMAL;
        st.code = WEXITSTATUS(status);
    } else {
        st.kind = NOX_EXIT_SIGNAL;
        st.sig = WTERMSIG(status);
    }
    j->pid = 0;
    if (j->conn >= 0)
        send_status(j, &st);
}

static void reap(void)
{
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid <= 0)
            return;
        for (size_t i = 0; i < n_jobs; i++) {
            if (jobs[i].pid == pid) {
                job_ended(&jobs[i], status);
                break;
            }
        }
        /* Anything else is an orphan the sandbox left: reaped, nothing
         * more to do. */
    }
}

/* Stops exec @p j now: its command's whole tree is killed and the result
 * says @p kind (timeout, storage; 0 for a cancel, which sends none). */
static void job_kill(struct job *j, int kind)
{
    if (!j->pid)
        return;
    j->kind = kind;
    nox__kill_tree(j->pid);
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
    for (size_t i = 0; i < n_jobs; i++) {
        close(jobs[i].conn);
        close(jobs[i].out_r);
        close(jobs[i].err_r);
    }
    n_jobs = 0;
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

/* Reads the sandbox's expiry (its expires file's mtime) and stops
 * everything once it has passed. Otherwise arms the expiry timer at it and
 * returns INT64_MAX (nothing to do until the timer fires or SIGUSR1
 * arrives), or, without a timer, returns when to look again
 * (monotonic ns). The timer is cancelled when the clock is set, so a
 * clock stepped past the expiry ends the sandbox too. */
static int64_t check_expiry(int64_t now_mono)
{
    struct stat st;
    if (fstat(NOX_FD_EXPIRES, &st) < 0)
        return now_mono + EXPIRY_RECHECK_MS * 1000000LL;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    if (st.st_mtim.tv_sec <= now.tv_sec) {
        kill_everything();
        _exit(0);
    }
    if (expiry_tfd >= 0) {
        struct itimerspec it = { .it_value = { st.st_mtim.tv_sec, 0 } };
        if (timerfd_settime(expiry_tfd, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &it, NULL) ==
            0)
            return INT64_MAX;
    }
    int64_t ms = ((int64_t)st.st_mtim.tv_sec - now.tv_sec) * 1000 - now.tv_nsec / 1000000;
    return now_mono + NOX_MAX(1, NOX_MIN(ms, EXPIRY_RECHECK_MS)) * 1000000LL;
}

static bool grow_jobs(void)
{
    size_t nc = cap_jobs ? cap_jobs * 2 : 16;
    struct job *p = realloc(jobs, nc * sizeof *p);
    if (!p)
        return false;
    jobs = p;
    cap_jobs = nc;
    return true;
}

static void refuse(int conn, const char *stage, int err)
{
    struct nox_exec_status st = { 0 };
    st.kind = NOX_EXIT_SETUP;
    st.err = err;
    snprintf(st.stage, sizeof st.stage, "%s", stage);
    nox__proto_send(conn, NOX_OP_RESULT, &st, sizeof st, NULL, 0);
}

static void handle_exec(int conn, const nox_buf *payload, int *fds, size_t nfds)
{
    /* fds: the command's stdout and stderr (write ends), then the read
     * ends, which we keep for draining once the exec is over. */
    if (nfds != 4) {
        for (size_t i = 0; i < nfds; i++)
            close(fds[i]);
        close(conn);
        return;
    }
    nox_job_request rq;
    if (nox__job_request_parse(payload->data, payload->len, &rq) < 0) {
        refuse(conn, "request", EPROTO);
        goto drop;
    }
    if ((rq.flags & NOX_EXF_REQUIRE_ISOLATION) && !(cfg->flags & NOX_CFGF_ISOLATED)) {
        refuse(conn, "isolation", EPERM);
        goto drop_rq;
    }
    if (!(cfg->flags & NOX_CFGF_ISOLATED) && nox__job_map_workspace(cfg, &rq) < 0) {
        refuse(conn, "chdir", ENOENT);
        goto drop_rq;
    }
    if (nox__job_build_env(cfg, &rq) < 0 || (n_jobs == cap_jobs && !grow_jobs())) {
        refuse(conn, "memory", ENOMEM);
        goto drop_rq;
    }
    uint64_t rq_timeout_ms = rq.timeout_ms;
    maybe_background = true;
    struct job *j = &jobs[n_jobs];
    *j = (struct job){ 0, conn, fds[2], fds[3], nox__now_mono_ns(), INT64_MAX, 0, false };
    struct nox_exec_status st;
    pid_t pid = nox__job_spawn(cfg, &rq, fds[0], fds[1], &st);
    close(fds[0]);
    close(fds[1]);
    nox__job_request_clear(&rq);
    n_jobs++;
    if (pid < 0) {
        refuse(conn, "fork", errno);
        j->done = true;
        j->deadline = nox__now_mono_ns() + DONE_GRACE_MS * 1000000LL;
        return;
    }
    if (st.kind == NOX_EXIT_SETUP) {
        /* The child wrote why into shared memory and exited; it is
         * reaped with the rest. */
        st.duration_ns = nox__now_mono_ns() - j->t0;
        send_status(j, &st);
        return;
    }
    j->pid = pid;
    if (rq_timeout_ms)
        j->deadline = j->t0 + (int64_t)rq_timeout_ms * 1000000LL;
    return;
drop_rq:
    nox__job_request_clear(&rq);
drop:
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
        st.running_execs = (int64_t)n_jobs;
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
    if (!cfg->storage_bytes || workspace_fd < 0 || n_jobs > 0)
        return;
    if (count_processes() == 0) {
        maybe_background = false;
        return;
    }
    if (nox__tree_usage(workspace_fd, cfg->storage_bytes) <= cfg->storage_bytes)
        return;
    kill_everything();
}

/* The workspace of a sandbox with execs running: killed when over its
 * limit, polled every STORAGE_POLL_MS (kubelet evicts the same way). */
static void check_storage_during_execs(void)
{
    if (nox__tree_usage(workspace_fd, cfg->storage_bytes) <= cfg->storage_bytes)
        return;
    for (size_t i = 0; i < n_jobs; i++)
        if (jobs[i].pid && !jobs[i].done)
            job_kill(&jobs[i], NOX_EXIT_STORAGE);
}

/* serve()'s first pollfds: signals, the control socket, the expiry timer;
 * then one per job, then one per drained pipe. */
#define FIXED 3

static void serve(int listen_fd)
{
    int64_t next_expiry = 0; /* read the expiry on the first pass */
    int64_t next_storage = 0;
    int64_t next_idle_storage = 0;
    struct pollfd *p = NULL;
    size_t cap = 0;
    for (;;) {
        size_t n = FIXED + n_jobs + n_drains;
        if (n > cap) {
            struct pollfd *np = realloc(p, n * 2 * sizeof *np);
            if (!np) {
                struct timespec ts = { 0, 100000000 };
                nanosleep(&ts, NULL);
                continue;
            }
            p = np;
            cap = n * 2;
        }
        /* n >= FIXED > cap on the first pass, so p is set whenever we get here;
         * the analyzer assumes the sum above may wrap to 0. */
        // NOLINTNEXTLINE(clang-analyzer-core.NullDereference)
        p[0] = (struct pollfd){ sigfd, POLLIN, 0 };
        p[1] = (struct pollfd){ listen_fd, POLLIN, 0 };
        p[2] = (struct pollfd){ expiry_tfd, POLLIN, 0 }; /* -1: ignored */
        int64_t now = nox__now_mono_ns();
        if (now >= next_expiry)
            next_expiry = check_expiry(now);
        int64_t until = next_expiry;
        /* The idle storage check, while an exec may have left processes. */
        bool idle_check = maybe_background && cfg->storage_bytes && workspace_fd >= 0;
        if (!idle_check)
            next_idle_storage = 0;
        else if (!next_idle_storage)
            next_idle_storage = now + STORAGE_IDLE_MS * 1000000LL;
        if (next_idle_storage && next_idle_storage < until)
            until = next_idle_storage;
        bool running = false;
        for (size_t i = 0; i < n_jobs; i++) {
            /* The connection becomes readable only when the library closes
             * it (done, or a cancel: it sends nothing after the request). */
            p[FIXED + i] = (struct pollfd){ jobs[i].conn, POLLIN, 0 };
            if (jobs[i].deadline < until)
                until = jobs[i].deadline;
            if (jobs[i].pid && !jobs[i].done)
                running = true;
        }
        if (running && cfg->storage_bytes && workspace_fd >= 0) {
            if (!next_storage)
                next_storage = now + STORAGE_POLL_MS * 1000000LL;
            if (next_storage < until)
                until = next_storage;
        } else {
            next_storage = 0;
        }
        for (size_t i = 0; i < n_drains; i++)
            p[FIXED + n_jobs + i] = (struct pollfd){ drains[i], POLLIN, 0 };
        /* Nothing due (an idle sandbox with its expiry timer armed):
         * sleep until something happens. */
        int timeout = -1;
        if (until != INT64_MAX)
            timeout = (int)NOX_MIN(NOX_MAX(0, (until - now + 999999) / 1000000), INT_MAX);
        int r = poll(p, n, timeout);
        if (r > 0 && (p[2].revents & POLLIN)) {
            /* Fired, or cancelled by a clock change (ECANCELED): either
             * way, look at the expiry now. */
            uint64_t ticks;
            ssize_t k = read(expiry_tfd, &ticks, sizeof ticks);
            (void)k;
            next_expiry = 0;
        }
        if (r > 0 && (p[0].revents & POLLIN)) {
            struct signalfd_siginfo si;
            while (read(sigfd, &si, sizeof si) == sizeof si) {
                if (si.ssi_signo == SIGCHLD)
                    continue;
                /* Sent by a process of the sandbox (the kernel gives the
                 * sender's pid as 0 only when it is outside our pid
                 * namespace): ignored, as the kernel ignores signals to
                 * an init that has no handler for them. A command must
                 * not stop its own sandbox with `kill 1`. */
                if (si.ssi_pid != 0 && (cfg->flags & NOX_CFGF_ISOLATED))
                    continue;
                /* The library moved the expiry earlier. */
                if (si.ssi_signo == SIGUSR1) {
                    next_expiry = 0;
                    continue;
                }
                /* SIGTERM and friends from the host: stop the sandbox. */
                kill_everything();
                _exit(0);
            }
            reap();
        }
        if (r > 0) {
            drain_ready(p + FIXED + n_jobs, n - FIXED - n_jobs);
            /* Jobs whose client closed the connection: a finished one is
             * over; a running one is cancelled, its tree killed. Walk
             * backwards: job_remove moves the last job into the hole. */
            for (size_t i = n_jobs; i-- > 0;) {
                if (i >= n - FIXED || !p[FIXED + i].revents || p[FIXED + i].fd != jobs[i].conn)
                    continue;
                if (jobs[i].pid && !jobs[i].done) {
                    job_kill(&jobs[i], 0);
                    close(jobs[i].conn);
                    jobs[i].conn = -1;
                    jobs[i].done = true;
                    jobs[i].deadline = INT64_MAX;
                } else {
                    job_remove(i);
                }
            }
            if (p[1].revents & POLLIN) {
                int conn = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
                if (conn >= 0)
                    handle_conn(conn);
            }
        }
        now = nox__now_mono_ns();
        for (size_t i = n_jobs; i-- > 0;) {
            struct job *j = &jobs[i];
            if (j->conn < 0 && !j->pid) {
                /* Cancelled, and its command reaped. */
                add_drain(j->out_r);
                add_drain(j->err_r);
                jobs[i] = jobs[--n_jobs];
            } else if (now >= j->deadline) {
                if (j->pid && !j->done) {
                    job_kill(j, NOX_EXIT_TIMEOUT);
                    j->deadline = INT64_MAX; /* the result goes out at the reap */
                } else if (j->done) {
                    job_remove(i); /* the library never closed: give up on it */
                }
            }
        }
        if (next_storage && now >= next_storage) {
            next_storage = now + STORAGE_POLL_MS * 1000000LL;
            check_storage_during_execs();
        }
        if (next_idle_storage && now >= next_idle_storage) {
            next_idle_storage = now + STORAGE_IDLE_MS * 1000000LL;
            check_storage();
        }
    }
}

/* A prepared holder's wait for its sandbox: the configuration, and the
 * control socket, the expires file and the workspace (a detached mount).
 * It has no sandbox of its own to clean up, so anything but a claim, the
 * library's end closing included, ends it. */
static void await_claim(int claim_fd, const nox_init_cfg *prepared, nox_init_cfg *ret,
                        int *ret_tree)
{
    char msg[NOX_MSG_MAX] = "";
    _cleanup_buf_ nox_buf payload = NOX_BUF_INIT;
    uint16_t op = 0;
    int fds[3] = { -1, -1, -1 };
    size_t nfds = 0;
    int r = nox__proto_recv(claim_fd, &op, &payload, 1 << 20, fds, &nfds, 3, -1);
    if (r < 0 || op != NOX_OP_CLAIM)
        _exit(0);
    report_fd = claim_fd;
    report_claim = true;
    if (nfds != 3)
        fail_setup("claim without its three descriptors");
    if (nox__init_parse_config(payload.data, payload.len, true, ret, msg) < 0)
        fail_setup(msg);
    /* The ids were fixed when the namespaces were made. */
    if (ret->flags != prepared->flags || ret->host_uid != prepared->host_uid ||
        ret->host_gid != prepared->host_gid)
        fail_setup("claim for other ids or flags than the holder was prepared with");
    *ret_tree = fcntl(fds[2], F_DUPFD_CLOEXEC, 64);
    close(fds[2]);
    if (*ret_tree < 0 || nox__init_take_fds(fds) < 0)
        fail_setup((nox__init_fail(msg, errno, "take the claim's descriptors"), msg));
}

void nox__holder_main(const nox_init_cfg *c, int ready_fd, int claim_fd)
{
    cfg = c;
    report_fd = ready_fd;
    char msg[NOX_MSG_MAX] = "";
    bool isolated = cfg->flags & NOX_CFGF_ISOLATED;
    bool privileged = cfg->flags & NOX_CFGF_PRIVILEGED;
    bool prepared = claim_fd >= 0;
    sigset_t old;
    nox__block_signals(&old);
    signal(SIGPIPE, SIG_IGN);
    if (isolated) {
        /* Opened here, in the new mount namespace (a bind source must be
         * in it) and still with the launcher's file system identity (the
         * state directory is private to its owner). A prepared holder
         * gets its workspace later, as a mount. */
        if (!prepared) {
            int wfd = open(cfg->workspace, O_PATH | O_DIRECTORY | O_CLOEXEC);
            if (wfd < 0)
                fail_setup(
                    (nox__init_fail(msg, errno, "open workspace `%s`", cfg->workspace), msg));
            if (wfd != NOX_FD_WORKSPACE) {
                if (dup3(wfd, NOX_FD_WORKSPACE, O_CLOEXEC) < 0)
                    fail_setup("dup workspace fd");
                close(wfd);
            }
        }
        if (become_sandbox_user(privileged, msg) < 0 || nox__rootfs_setup(!prepared, msg) < 0 ||
            nox__loopback_up(msg) < 0)
            fail_setup(msg);
        int tree = -1;
        if (prepared) {
            /* Prepared: the launcher reads end-of-file and reports us. */
            close(ready_fd);
            static nox_init_cfg claimed;
            await_claim(claim_fd, c, &claimed, &tree);
            cfg = &claimed;
        } else {
            close(NOX_FD_WORKSPACE);
        }
        if (nox__rootfs_finish(cfg, tree, msg) < 0)
            fail_setup(msg);
        if (tree >= 0)
            close(tree);
        /* Moved into the sandbox's cgroups by the library before the
         * claim; the cgroup namespace made now is rooted there. */
        if (prepared && unshare(CLONE_NEWCGROUP) < 0)
            fail_setup((nox__init_fail(msg, errno, "create the cgroup namespace"), msg));
        workspace_fd = open("/workspace", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    } else {
        /* Unisolated: orphans of commands come back to us, not to the
         * host's init, so delete can still find and kill them. */
        prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
        if (chdir(cfg->workspace) < 0)
            fail_setup((nox__init_fail(msg, errno, "chdir `%s`", cfg->workspace), msg));
        workspace_fd = open(cfg->workspace, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    }
    if (isolated && drop_all_caps(msg) < 0)
        fail_setup(msg);
    /* The commands' seccomp filter goes on the holder itself, once: every
     * command inherits it through vfork. Installed per command, the kernel
     * copied and JIT-compiled the program on every exec (~0.3 ms of an
     * exec's ~1 ms over a bare spawn here; docs/performance.md). The
     * holder needs none of what it refuses from here on. no_new_privs
     * comes with it and is inherited the same way: setuid binaries and
     * file capabilities confer nothing on commands. */
    nox_filter filter;
    nox__seccomp_filter(&filter);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        fail_setup((nox__init_fail(msg, errno, "no_new_privs"), msg));
    if (nox__seccomp_apply(&filter) < 0)
        fail_setup((nox__init_fail(msg, errno, "install the seccomp filter"), msg));
    /* Not dumpable: commands (same uid) cannot ptrace the holder or read
     * its /proc entries, descriptors included. */
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR1);
    sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sigfd < 0)
        fail_setup((nox__init_fail(msg, errno, "signalfd"), msg));
    /* Without it (no timerfd), serve() looks at the expiry every second. */
    expiry_tfd = timerfd_create(CLOCK_REALTIME, TFD_CLOEXEC | TFD_NONBLOCK);
    fcntl(NOX_FD_LISTEN, F_SETFD, FD_CLOEXEC);
    fcntl(NOX_FD_EXPIRES, F_SETFD, FD_CLOEXEC);
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull >= 0) {
        dup2(devnull, 0);
        dup2(devnull, 1);
        dup2(devnull, 2);
        close(devnull);
    }
    /* Ready: the launcher reads end-of-file with no message; the library
     * that claimed a prepared holder gets READY. */
    if (prepared) {
        nox__proto_send(claim_fd, NOX_OP_READY, NULL, 0, NULL, 0);
        close(claim_fd);
    } else {
        close(ready_fd);
    }
    serve(NOX_FD_LISTEN);
    _exit(0);
}
