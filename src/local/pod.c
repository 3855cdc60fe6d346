/* SPDX-License-Identifier: MIT */
/* The library's side of a sandbox's holder: starting it (through
 * nox-init, spawned with posix_spawn so the caller's process never forks),
 * running commands through it, and stopping it. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>

#include "local.h"

#define LAUNCH_TIMEOUT_MS 30000
#define STOP_TIMEOUT_MS   10000
/* How long past its own timeout an exec may take before the library stops
 * waiting for the holder's answer (the holder enforces the real timeout;
 * this only guards against a holder that hangs). */
#define EXEC_GRACE_MS 15000
#define READ_CHUNK    65536

/* POSIX has programs declare environ themselves; glibc's unistd.h also does
 * under _GNU_SOURCE, which the build defines. */
// NOLINTNEXTLINE(readability-redundant-declaration)
extern char **environ;

int nox__find_init(const char *opt, char **ret_path, nox_error *err)
{
    const char *candidates[4];
    size_t n = 0;
    if (opt && *opt)
        candidates[n++] = opt;
    const char *env = getenv("NOXRUNNER_INIT");
    if (!n && env && *env)
        candidates[n++] = env;
    /* No fallback into a build tree: an installed daemon running root
     * must never pick up a helper from wherever it was compiled. Tests and
     * `make run` point NOXRUNNER_INIT at the built one. */
    if (!n)
        candidates[n++] = NOX_INIT_INSTALL_PATH;
    for (size_t i = 0; i < n; i++) {
        if (access(candidates[i], X_OK) == 0) {
            *ret_path = strdup(candidates[i]);
            return *ret_path ? 0 : nox__error_oom(err);
        }
    }
    return nox__error_set(err, NOX_E_ISOLATION,
                          "the sandbox helper nox-init was not found at `%s`; install NoxRunner "
                          "(make install) or set NOXRUNNER_INIT to the built one "
                          "(build/nox-init)",
                          candidates[0]);
}

/* Unix socket paths are limited to 108 bytes; going through the sandbox
 * directory's descriptor keeps the path short whatever the state
 * directory is called. */
static void ctl_path(int sbfd, struct sockaddr_un *sa, socklen_t *len)
{
    memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    int n = snprintf(sa->sun_path, sizeof sa->sun_path, "/proc/self/fd/%d/ctl.sock", sbfd);
    *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + (size_t)n + 1);
}

int nox__pod_connect(int sbfd)
{
    int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (s < 0)
        return -errno;
    struct sockaddr_un sa;
    socklen_t len;
    ctl_path(sbfd, &sa, &len);
    while (connect(s, (struct sockaddr *)&sa, len) < 0) {
        if (errno == EINTR)
            continue;
        int e = errno;
        close(s);
        return -e;
    }
    return s;
}

int nox__pod_ping(int sbfd, struct nox_holder_status *ret_st)
{
    _cleanup_close_ int s = nox__pod_connect(sbfd);
    if (s < 0)
        return NOX_E_NOT_READY;
    if (nox__proto_send(s, NOX_OP_PING, NULL, 0, NULL, 0) < 0)
        return NOX_E_NOT_READY;
    _cleanup_buf_ nox_buf b = NOX_BUF_INIT;
    uint16_t op;
    if (nox__proto_recv(s, &op, &b, 4096, NULL, NULL, 0, 5000) < 0 || op != NOX_OP_PONG ||
        b.len != sizeof *ret_st)
        return NOX_E_NOT_READY;
    memcpy(ret_st, b.data, sizeof *ret_st);
    return 0;
}

/* ---- starting the holder ---- */

static int build_config(nox_local *l, const char *id, const char *dir, const nox_meta *m,
                        nox_buf *b, nox_error *err)
{
    const nox_local_limits *lim = &l->base.opts->limits;
    uint32_t flags = 0;
    if (m->isolated)
        flags |= NOX_CFGF_ISOLATED;
    if (l->privileged)
        flags |= NOX_CFGF_PRIVILEGED;
    _cleanup_free_ char *ws = dir ? nox__asprintf("%s/%s/workspace", l->state_dir, dir)
                                  : nox__asprintf("%s/sandboxes/%s/workspace", l->state_dir, id);
    _cleanup_free_ char *host = nox__asprintf("%s%s", NOX_POD_NAME_PREFIX, id);
    if (!ws || !host)
        return nox__error_oom(err);
    /* Host names are at most 64 bytes. */
    if (strlen(host) > 63)
        host[63] = '\0';
    int r = 0;
    r |= nox__tlv_put_u32(b, NOX_CFG_FLAGS, flags);
    r |= nox__tlv_put_u32(b, NOX_CFG_HOST_UID, m->host_uid);
    r |= nox__tlv_put_u32(b, NOX_CFG_HOST_GID, m->host_gid);
    r |= nox__tlv_put_str(b, NOX_CFG_HOSTNAME, host);
    r |= nox__tlv_put_str(b, NOX_CFG_ID, id);
    r |= nox__tlv_put_str(b, NOX_CFG_WORKSPACE, ws);
    r |= nox__tlv_put_u64(b, NOX_CFG_TMP_BYTES, lim->tmp_bytes);
    r |= nox__tlv_put_u64(b, NOX_CFG_SHM_BYTES, NOX_MIN(lim->tmp_bytes, m->memory_bytes));
    r |= nox__tlv_put_u64(b, NOX_CFG_STORAGE_BYTES, m->storage_bytes);
    r |= nox__tlv_put_u64(b, NOX_CFG_MAX_REQUEST, lim->max_request_bytes);
    for (size_t i = 0; i < m->n_cgroup_dirs; i++)
        r |= nox__tlv_put_str(b, NOX_CFG_CGROUP, m->cgroup_dirs[i]);
    /* rlimits: the floor under the cgroup limits, and the only limits
     * where cgroups are not available. */
    bool have_mem_cg = false;
    if (m->report)
        for (size_t i = 0; i < m->report->n_limits; i++) {
            const nox_limit_info *li = &m->report->limits[i];
            if (li->enforced && li->mechanism && nox__startswith(li->mechanism, "cgroup")) {
                if (strcmp(li->name, "memory") == 0)
                    have_mem_cg = true;
            }
        }
    struct rl_rec {
        uint32_t res;
        uint64_t soft, hard;
    } rl[6];
    size_t n = 0;
    rl[n++] = (struct rl_rec){ RLIMIT_NOFILE, lim->max_open_files, lim->max_open_files };
    rl[n++] = (struct rl_rec){ RLIMIT_FSIZE, m->storage_bytes, m->storage_bytes };
    rl[n++] = (struct rl_rec){ RLIMIT_CORE, 0, 0 };
    /* In a user namespace (kernel 5.14+) RLIMIT_NPROC counts the
     * namespace's processes, so it is a per-sandbox fork-bomb floor even
     * when the pids cgroup is missing. Unisolated, it counts all of the
     * caller's processes and would be wrong, so it is set only when
     * isolated. */
    if (m->isolated)
        rl[n++] = (struct rl_rec){ RLIMIT_NPROC, lim->max_pids, lim->max_pids };
    if (!have_mem_cg)
        rl[n++] = (struct rl_rec){ RLIMIT_DATA, m->memory_bytes, m->memory_bytes };
    for (size_t i = 0; i < n; i++) {
        char rec[20];
        memcpy(rec, &rl[i].res, 4);
        memcpy(rec + 4, &rl[i].soft, 8);
        memcpy(rec + 12, &rl[i].hard, 8);
        r |= nox__tlv_put(b, NOX_CFG_RLIMIT, rec, sizeof rec);
    }
    return r ? nox__error_oom(err) : 0;
}

/* Moves @p fd above the range nox-init expects (3..6), so the dup2 file
 * actions cannot clobber one another. */
static int high_fd(int fd)
{
    return fcntl(fd, F_DUPFD_CLOEXEC, 64);
}

static int spawn_init(const char *init_path, int status_fd, pid_t *ret_pid, nox_error *err)
{
    _cleanup_close_ int s = high_fd(status_fd);
    if (s < 0)
        return nox__error_errno(err, NOX_E_IO, errno, "prepare descriptors for nox-init");
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, s, NOX_FD_STATUS);
    /* A session of its own (no controlling terminal, no signals from the
     * caller's terminal), default signal handling and an empty mask, as a
     * daemon should start, whatever the caller's process had. */
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &all);
    posix_spawnattr_setflags(&at,
                             POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    char *argv[] = { (char *)"nox-init", (char *)"launch", NULL };
    /* A minimal environment, plus the sanitizer settings of test builds. */
    char *envp[8];
    size_t ne = 0;
    envp[ne++] = (char *)"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    static const char *const pass[] = { "ASAN_OPTIONS=", "UBSAN_OPTIONS=", "LSAN_OPTIONS=" };
    for (char **e = environ; e && *e && ne < NOX_ARRAY_SIZE(envp) - 1; e++)
        for (size_t i = 0; i < NOX_ARRAY_SIZE(pass); i++)
            if (nox__startswith(*e, pass[i]))
                envp[ne++] = *e;
    envp[ne] = NULL;
    pid_t pid;
    int r = posix_spawn(&pid, init_path, &fa, &at, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    if (r != 0)
        return nox__error_errno(err, NOX_E_ISOLATION, r, "start `%s`", init_path);
    *ret_pid = pid;
    return 0;
}

static void reap_child(pid_t pid)
{
    /* Only our own child; a caller that ignores SIGCHLD gets ECHILD. */
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
}

/* Starts "nox-init launch" with the other end of a new launch channel;
 * it waits there for its configuration. */
static int start_launcher(const char *init_path, pid_t *ret_pid, int *ret_sock, nox_error *err)
{
    int sp[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
        return nox__error_errno(err, NOX_E_IO, errno, "socketpair");
    int r = spawn_init(init_path, sp[1], ret_pid, err);
    close(sp[1]);
    if (r < 0) {
        close(sp[0]);
        return r;
    }
    *ret_sock = sp[0];
    return 0;
}

/* ---- spares ----
 * Starting nox-init costs a create over a millisecond before the sandbox's
 * own work begins, and making an isolated holder's namespaces and root file
 * system several more. With nox_client_options.spare_launchers set, a
 * thread of the library keeps that many spares ready: launchers started
 * and waiting for a configuration and, when the library runs as root with
 * isolation, gone one step further: prepared holders, whose namespaces,
 * uid slot, root file system and loopback are made, waiting for their
 * sandbox. A create takes the oldest spare and, once its holder is ready,
 * has the thread start a replacement when the sandbox's first command is
 * over, or REFILL_DELAY_MS later if that comes first. Neither the create
 * nor its caller waits for a spawn. (A replacement started while the
 * holder set up competed with it for the CPU, and one started by the create
 * itself made the create wait for the spawn: each gave back most of the
 * gain on 2 cores. One started the moment the holder was ready doubled the
 * first command's time, even from a SCHED_IDLE thread; one that always
 * waited the whole delay fell behind creates made back to back:
 * docs/performance.md.)
 *
 * Claiming a prepared holder (claim_spare): the library moves it into the
 * sandbox's cgroups, records its uid slot under the sandbox's id, and sends
 * the configuration with the control socket, the expires file and the
 * workspace as a detached mount (open_tree, which needs root here: other
 * users' spares stay launchers). The holder mounts the workspace, /tmp and
 * /dev/shm at their sizes, sets its host name, makes its cgroup namespace,
 * drops its capabilities, installs the filter, and answers READY. A claim
 * that fails for any reason kills that holder and the create starts a
 * holder the ordinary way, which reports what is wrong if it is not the
 * spare.
 *
 * The spares and the thread belong to the process: shared by its clients
 * alike (same nox-init; for prepared holders the same ids and state
 * directory, since their uid maps are fixed: the pool follows the client
 * that last woke it), gone when the process ends (each spare leaves when
 * its channel closes; a prepared holder's uid slot names the process, so
 * a sweep frees it after). A child made by fork() has neither the thread
 * nor any claim on its parent's spares: its first create with spares
 * closes its copies of their channels and starts its own. The lock and
 * condition are made fresh in the child (pthread_atfork, registered by the
 * first create with spares). */

/* How long after a create took a spare its replacement starts at the
 * latest: time for the first command, which a replacement being made
 * slowed from 3.6 to 5.4 to 6.2 ms (median) on 2 cores. */
#define REFILL_DELAY_MS 25

/* A launcher (its pid and channel), or a prepared holder. */
typedef nox_prepared spare;

/* What the spares are for. */
typedef struct pool_key {
    char *init;   /* the nox-init they run */
    bool prepare; /* prepared holders, not launchers */
    uint32_t uid_base;
    dev_t state_dev; /* the state directory their uid slots are in */
    ino_t state_ino;
} pool_key;

static pthread_mutex_t spares_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t spares_cond = PTHREAD_COND_INITIALIZER;
static spare spares[NOX_MAX_SPARE_LAUNCHERS]; /* oldest first */
static size_t n_spares;
/* The replacements of spares taken, earliest first: when each may start
 * (CLOCK_REALTIME, as the condition waits), and the sandbox directory
 * whose first command brings that forward (0/0 once it has). */
typedef struct refill {
    struct timespec due;
    dev_t dev;
    ino_t ino;
} refill;
static refill refills[NOX_MAX_SPARE_LAUNCHERS];
static size_t n_refills;
static unsigned spares_want; /* the most any client of the process asked for */
static pid_t spares_owner;   /* the process the spares and the thread are of */
static pool_key spares_key;  /* .init NULL until the first wake */
static int spares_state_fd = -1;
/* open_tree was refused when a claim needed it: launchers from then on. */
static bool prepare_refused;

static void kill_holder(pid_t pid, uint64_t start);

/* fork(): the lock is held across it, so that the child's copy is in a
 * known state; the child, which has no spares thread, gets a fresh lock
 * and condition (the parent's thread may be waiting on the copied one,
 * and glibc's pthread_cond_signal would wait for it). */
static pthread_once_t spares_once = PTHREAD_ONCE_INIT;

static void spares_prepare(void)
{
    pthread_mutex_lock(&spares_lock);
}

static void spares_parent(void)
{
    pthread_mutex_unlock(&spares_lock);
}

static void spares_child(void)
{
    pthread_mutex_init(&spares_lock, NULL);
    pthread_cond_init(&spares_cond, NULL);
}

static void spares_register(void)
{
    pthread_atfork(spares_prepare, spares_parent, spares_child);
}

/* Claiming a prepared holder hands it the workspace as a detached mount:
 * open_tree (Linux 5.2). Checked once, with a plain (not cloning) open of
 * "/", which needs no privilege. Not there (an old kernel, or valgrind,
 * which does not know the call), spares are launchers. */
static pthread_once_t open_tree_once = PTHREAD_ONCE_INIT;
static bool open_tree_known;

static void check_open_tree(void)
{
#ifdef SYS_open_tree
    int fd = (int)syscall(SYS_open_tree, AT_FDCWD, "/", (unsigned)O_CLOEXEC);
    if (fd >= 0) {
        close(fd);
        open_tree_known = true;
    }
#endif
}

bool nox__pod_can_prepare(bool privileged, const char **ret_why)
{
    pthread_once(&open_tree_once, check_open_tree);
    *ret_why = !privileged        ? "spares are nox-init launchers: prepared holders need root"
               : !open_tree_known ? "spares are nox-init launchers: this kernel has no open_tree "
                                    "(Linux 5.2), which claiming a prepared holder needs"
                                  : "spares (spare_launchers, noxrunnerd --spare-launchers) are "
                                    "prepared holders";
    return privileged && open_tree_known;
}

/* @p l's key; .init is borrowed. Called with the lock held. */
static pool_key key_of(const nox_local *l)
{
    pool_key k = { .init = l->init_path };
    pthread_once(&open_tree_once, check_open_tree);
    k.prepare = l->isolated && l->privileged && open_tree_known && !prepare_refused;
    struct stat st;
    if (k.prepare && fstat(l->state_fd, &st) == 0) {
        k.uid_base = l->uid_base;
        k.state_dev = st.st_dev;
        k.state_ino = st.st_ino;
    }
    return k;
}

static bool key_equal(const pool_key *a, const pool_key *b)
{
    return a->init && b->init && strcmp(a->init, b->init) == 0 && a->prepare == b->prepare &&
           a->uid_base == b->uid_base && a->state_dev == b->state_dev &&
           a->state_ino == b->state_ino;
}

static bool spare_usable(const pool_key *k)
{
    return spares_owner == getpid() && key_equal(k, &spares_key);
}

/* Ends a spare that will not be used: its channel closes (it leaves by
 * itself on that); this process's own are also waited for, and a prepared
 * holder's uid slot is freed once it is dead. */
static void spare_discard(const spare *sp, bool prepared, int state_fd, bool ours)
{
    close(sp->sock);
    if (!ours)
        return;
    if (prepared) {
        kill_holder(sp->pid, sp->start);
        if (sp->uid_slot >= 0 && state_fd >= 0)
            nox__uid_slot_release_at(state_fd, sp->uid_slot);
    } else {
        reap_child(sp->pid);
    }
}

/* Takes the oldest live spare, dropping any that died meanwhile (killed
 * from outside). */
static bool take_spare(nox_local *l, bool prepared, spare *ret)
{
    if (!l->base.opts->spare_launchers)
        return false;
    bool took = false;
    pthread_mutex_lock(&spares_lock);
    pool_key k = key_of(l);
    while (!took && n_spares && k.prepare == prepared && spare_usable(&k)) {
        spare sp = spares[0];
        memmove(&spares[0], &spares[1], --n_spares * sizeof *spares);
        bool alive = k.prepare ? nox__proc_starttime(sp.pid) == sp.start
                               : waitpid(sp.pid, NULL, WNOHANG) == 0;
        if (!alive) {
            /* Ended and (a launcher) reaped, or not ours. */
            close(sp.sock);
            if (k.prepare && sp.uid_slot >= 0)
                nox__uid_slot_release_at(spares_state_fd, sp.uid_slot);
            continue;
        }
        *ret = sp;
        took = true;
    }
    pthread_mutex_unlock(&spares_lock);
    return took;
}

/* Takes a launcher on to a prepared holder: a uid slot recorded as
 * @p owner's (this process: NOX_SPARE_SLOT_PREFIX "PID START"), PREPARE, and PREPARED with the
 * holder's pid once the launcher is done. @p sp becomes the holder (its channel passes to it). */
static int spare_prepare(const pool_key *k, int state_fd, const char *owner, spare *sp)
{
    int64_t slot = nox__uid_slot_take_at(state_fd, owner);
    if (slot < 0)
        return (int)slot;
    uint32_t id = k->uid_base + (uint32_t)slot;
    _cleanup_buf_ nox_buf cfg = NOX_BUF_INIT;
    int r = 0;
    r |= nox__tlv_put_u32(&cfg, NOX_CFG_FLAGS, NOX_CFGF_ISOLATED | NOX_CFGF_PRIVILEGED);
    r |= nox__tlv_put_u32(&cfg, NOX_CFG_HOST_UID, id);
    r |= nox__tlv_put_u32(&cfg, NOX_CFG_HOST_GID, id);
    if (r)
        r = -ENOMEM;
    else
        r = nox__proto_send(sp->sock, NOX_OP_PREPARE, cfg.data, cfg.len, NULL, 0);
    _cleanup_buf_ nox_buf ans = NOX_BUF_INIT;
    uint16_t op = 0;
    if (r == 0)
        r = nox__proto_recv(sp->sock, &op, &ans, 65536, NULL, NULL, 0, LAUNCH_TIMEOUT_MS);
    bool ok = r == 0 && op == NOX_OP_PREPARED && ans.len == 2 * sizeof(uint64_t) && ans.data;
    if (!ok)
        kill(sp->pid, SIGKILL);
    reap_child(sp->pid);
    if (!ok) {
        nox__uid_slot_release_at(state_fd, slot);
        return r < 0 ? r : -EPROTO;
    }
    uint64_t ready[2];
    memcpy(ready, ans.data, sizeof ready);
    sp->pid = (pid_t)ready[0];
    sp->start = ready[1];
    sp->uid_slot = slot;
    return 0;
}

static bool before(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

static void *spares_main(void *arg)
{
    (void)arg;
    pid_t me = getpid();
    char owner[64];
    snprintf(owner, sizeof owner, NOX_SPARE_SLOT_PREFIX "%d %llu", (int)me,
             (unsigned long long)nox__proc_starttime(me));
    struct timespec backoff = { 0, 0 };
    pthread_mutex_lock(&spares_lock);
    for (;;) {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        /* A backoff after a failure, or a replacement not due yet. */
        const struct timespec *until = before(&now, &backoff) ? &backoff
                                       : n_refills && before(&now, &refills[0].due)
                                           ? &refills[0].due
                                           : NULL;
        if (n_spares >= spares_want || spares_owner != me) {
            n_refills = 0;
            pthread_cond_wait(&spares_cond, &spares_lock);
            continue;
        }
        if (until) {
            struct timespec t = *until;
            pthread_cond_timedwait(&spares_cond, &spares_lock, &t);
            continue;
        }
        if (n_refills)
            memmove(&refills[0], &refills[1], --n_refills * sizeof *refills);
        pool_key k = spares_key;
        k.init = strdup(spares_key.init);
        int state_fd = k.prepare ? fcntl(spares_state_fd, F_DUPFD_CLOEXEC, 3) : -1;
        pthread_mutex_unlock(&spares_lock);
        spare sp = { .uid_slot = -1 };
        int r = k.init ? start_launcher(k.init, &sp.pid, &sp.sock, NULL) : -ENOMEM;
        if (r == 0 && k.prepare) {
            r = state_fd >= 0 ? spare_prepare(&k, state_fd, owner, &sp) : -EBADF;
            if (r < 0)
                close(sp.sock);
        }
        pthread_mutex_lock(&spares_lock);
        if (r < 0) {
            /* nox-init cannot be started or prepare a holder: creates say
             * why. Try again in a second, not at every wakeup. */
            clock_gettime(CLOCK_REALTIME, &backoff);
            backoff.tv_sec += 1;
        } else if (key_equal(&k, &spares_key) && n_spares < spares_want) {
            spares[n_spares++] = sp;
        } else {
            pthread_mutex_unlock(&spares_lock);
            spare_discard(&sp, k.prepare, state_fd, true);
            pthread_mutex_lock(&spares_lock);
        }
        free(k.init);
        if (state_fd >= 0)
            close(state_fd);
    }
    return NULL;
}

/* Makes the pool this process's and @p l's kind, starting its thread in
 * this process if needed, raises its size to @p l's number and wakes the
 * thread. @p took_sbfd: the directory of a sandbox that took a spare
 * (else -1), whose replacement is due REFILL_DELAY_MS from now or at the
 * end of that sandbox's first command (spares_command_done). Spares it
 * drops are handled after the lock: this process's own are ended, a
 * forked parent's are only closed. */
static void wake_spares(nox_local *l, int took_sbfd)
{
    unsigned want = l->base.opts->spare_launchers;
    if (!want)
        return;
    spare drop[NOX_MAX_SPARE_LAUNCHERS];
    size_t n_drop = 0;
    bool ours = true, drop_prepared = false;
    int drop_state_fd = -1;
    struct stat took_st;
    bool took_known = took_sbfd >= 0 && fstat(took_sbfd, &took_st) == 0;
    pthread_once(&spares_once, spares_register);
    pthread_mutex_lock(&spares_lock);
    pid_t me = getpid();
    pool_key k = key_of(l);
    if (!spare_usable(&k)) {
        char *path = strdup(l->init_path);
        int state_fd = k.prepare ? fcntl(l->state_fd, F_DUPFD_CLOEXEC, 3) : -1;
        if (!path || (k.prepare && state_fd < 0)) {
            free(path);
            goto out;
        }
        ours = spares_owner == me;
        memcpy(drop, spares, n_spares * sizeof *spares);
        n_drop = n_spares;
        n_spares = 0;
        drop_prepared = spares_key.prepare;
        drop_state_fd = spares_state_fd;
        free(spares_key.init);
        spares_key = k;
        spares_key.init = path;
        spares_state_fd = state_fd;
        if (spares_owner != me) {
            spares_want = 0;
            /* The thread takes no signal of the process's. */
            sigset_t all, old;
            sigfillset(&all);
            pthread_sigmask(SIG_SETMASK, &all, &old);
            pthread_attr_t at;
            pthread_attr_init(&at);
            pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
            pthread_t t;
            if (pthread_create(&t, &at, spares_main, NULL) == 0)
                spares_owner = me;
            pthread_attr_destroy(&at);
            pthread_sigmask(SIG_SETMASK, &old, NULL);
        }
    }
    if (want > spares_want)
        spares_want = want;
    if (took_sbfd >= 0 && n_refills < NOX_MAX_SPARE_LAUNCHERS) {
        refill *r = &refills[n_refills++];
        clock_gettime(CLOCK_REALTIME, &r->due);
        r->due.tv_nsec += REFILL_DELAY_MS * 1000000L;
        if (r->due.tv_nsec >= 1000000000L) {
            r->due.tv_sec++;
            r->due.tv_nsec -= 1000000000L;
        }
        r->dev = took_known ? took_st.st_dev : 0;
        r->ino = took_known ? took_st.st_ino : 0;
    }
    pthread_cond_signal(&spares_cond);
out:
    pthread_mutex_unlock(&spares_lock);
    for (size_t i = 0; i < n_drop; i++)
        spare_discard(&drop[i], drop_prepared, drop_state_fd, ours);
    if (drop_state_fd >= 0)
        close(drop_state_fd);
}

/* A command in the sandbox at @p sbfd is over: if that sandbox took a
 * spare whose replacement is not due yet, it is due now. */
static void spares_command_done(int sbfd)
{
    /* Every exec comes here: the fstat only while some sandbox's first
     * command is awaited. */
    bool awaited = false;
    pthread_mutex_lock(&spares_lock);
    for (size_t i = 0; i < n_refills && !awaited; i++)
        awaited = refills[i].ino != 0;
    pthread_mutex_unlock(&spares_lock);
    struct stat st;
    if (!awaited || fstat(sbfd, &st) < 0)
        return;
    pthread_mutex_lock(&spares_lock);
    for (size_t i = 0; i < n_refills; i++) {
        if (refills[i].ino != st.st_ino || refills[i].dev != st.st_dev)
            continue;
        memmove(&refills[1], &refills[0], i * sizeof *refills);
        refills[0] = (refill){ .dev = 0, .ino = 0 };
        clock_gettime(CLOCK_REALTIME, &refills[0].due);
        pthread_cond_signal(&spares_cond);
        break;
    }
    pthread_mutex_unlock(&spares_lock);
}

bool nox__spare_owner_alive(const char *owner)
{
    if (!nox__startswith(owner, NOX_SPARE_SLOT_PREFIX))
        return false;
    char *end;
    errno = 0;
    long pid = strtol(owner + strlen(NOX_SPARE_SLOT_PREFIX), &end, 10);
    if (errno || *end != ' ' || pid <= 0 || pid > INT32_MAX)
        return false;
    unsigned long long start = strtoull(end + 1, &end, 10);
    if (errno || *end != '\0' || !start)
        return false;
    return nox__proc_starttime((pid_t)pid) == start;
}

/* Hands a prepared holder its sandbox. 0 once it answered READY; -1 when
 * it could not be claimed (the caller ends it). */
static int claim_spare(const spare *sp, int sbfd, const nox_meta *m, const nox_buf *cfg, int ls,
                       int ex)
{
    for (size_t i = 0; i < m->n_cgroup_dirs; i++)
        if (nox__cgroup_attach(m->cgroup_dirs[i], sp->pid) < 0)
            return -1;
#ifdef SYS_open_tree
    /* OPEN_TREE_CLONE | AT_RECURSIVE, <linux/mount.h>'s values. */
    _cleanup_close_ int tree =
        (int)syscall(SYS_open_tree, sbfd, "workspace", 0x1u | 0x8000u | (unsigned)O_CLOEXEC);
#else
    int tree = -1;
    errno = ENOSYS;
#endif
    if (tree < 0) {
        if (errno == ENOSYS || errno == EPERM) {
            pthread_mutex_lock(&spares_lock);
            prepare_refused = true;
            pthread_mutex_unlock(&spares_lock);
        }
        return -1;
    }
    const int fds[3] = { ls, ex, tree };
    if (nox__proto_send(sp->sock, NOX_OP_CLAIM, cfg->data, cfg->len, fds, 3) < 0)
        return -1;
    _cleanup_buf_ nox_buf ans = NOX_BUF_INIT;
    uint16_t op = 0;
    if (nox__proto_recv(sp->sock, &op, &ans, 65536, NULL, NULL, 0, LAUNCH_TIMEOUT_MS) < 0 ||
        op != NOX_OP_READY)
        return -1;
    return 0;
}

bool nox__pod_take_prepared(nox_local *l, nox_prepared *ret)
{
    return take_spare(l, true, ret);
}

void nox__pod_prepared_discard(nox_prepared *p)
{
    if (p->sock < 0)
        return;
    /* No state directory: the uid slot stays with the caller. */
    spare_discard(p, true, -1, true);
    p->sock = -1;
}

int nox__pod_start(nox_local *l, const char *id, const char *dir, int sbfd, nox_meta *m,
                   nox_prepared *prep, nox_error *err)
{
    /* The control socket is bound and listening before the holder exists,
     * so a connect never races its start: it waits in the backlog. */
    _cleanup_close_ int ls = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (ls < 0)
        return nox__error_errno(err, NOX_E_IO, errno, "socket");
    unlinkat(sbfd, "ctl.sock", 0);
    struct sockaddr_un sa;
    socklen_t salen;
    ctl_path(sbfd, &sa, &salen);
    if (bind(ls, (struct sockaddr *)&sa, salen) < 0)
        return nox__error_errno(err, NOX_E_IO, errno, "bind the control socket of sandbox `%s`",
                                id);
    /* Only the owner of the state directory may talk to the holder. */
    if (fchmodat(sbfd, "ctl.sock", 0600, 0) < 0)
        return nox__error_errno(err, NOX_E_IO, errno, "chmod the control socket of `%s`", id);
    if (listen(ls, 256) < 0)
        return nox__error_errno(err, NOX_E_IO, errno, "listen on the control socket");
    _cleanup_close_ int ex = openat(sbfd, "expires", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (ex < 0)
        return nox__error_errno(err, NOX_E_IO, errno, "open the expiry of sandbox `%s`", id);
    nox__cgroups_ensure(l, m);
    _cleanup_buf_ nox_buf cfg = NOX_BUF_INIT;
    int r = build_config(l, id, dir, m, &cfg, err);
    if (r < 0)
        return r;
    if (prep && prep->sock >= 0) {
        if (claim_spare(prep, sbfd, m, &cfg, ls, ex) == 0) {
            close(steal_fd(&prep->sock));
            wake_spares(l, sbfd);
            m->holder_pid = prep->pid;
            m->holder_start = prep->start;
            return 0;
        }
        /* Its uid slot stays the sandbox's, for the holder started next. */
        nox__pod_prepared_discard(prep);
    }
    /* The control socket and the expires file go with the configuration. */
    const int fds[2] = { ls, ex };
    pid_t pid = -1;
    _cleanup_close_ int mine = -1;
    spare sp;
    bool took = take_spare(l, false, &sp);
    if (took) {
        pid = sp.pid;
        mine = sp.sock;
        r = nox__proto_send(mine, NOX_OP_CONFIG, cfg.data, cfg.len, fds, 2);
        if (r < 0) {
            /* The spare is gone (killed from outside): start one afresh. */
            close(steal_fd(&mine));
            reap_child(pid);
        }
    }
    if (mine < 0) {
        r = start_launcher(l->init_path, &pid, &mine, err);
        if (r < 0)
            return r;
        r = nox__proto_send(mine, NOX_OP_CONFIG, cfg.data, cfg.len, fds, 2);
    }
    _cleanup_buf_ nox_buf ans = NOX_BUF_INIT;
    uint16_t op = 0;
    if (r == 0)
        r = nox__proto_recv(mine, &op, &ans, 65536, NULL, NULL, 0, LAUNCH_TIMEOUT_MS);
    if (r < 0) {
        kill(pid, SIGKILL);
        reap_child(pid);
        return nox__error_errno(err, NOX_E_ISOLATION, -r,
                                "start the holder of sandbox `%s` (nox-init gave no answer)", id);
    }
    /* The next create's launcher starts on the spares' thread. */
    wake_spares(l, took ? sbfd : -1);
    reap_child(pid);
    if (op == NOX_OP_FAIL) {
        int code = m->isolated ? NOX_E_ISOLATION : NOX_E_EXEC;
        return nox__error_set(err, code, "start sandbox `%s`: %.*s", id, (int)ans.len,
                              ans.data ? ans.data : "");
    }
    if (op != NOX_OP_READY || ans.len != 2 * sizeof(uint64_t))
        return nox__error_set(err, NOX_E_INTERNAL, "start sandbox `%s`: unexpected answer %u", id,
                              (unsigned)op);
    uint64_t ready[2];
    memcpy(ready, ans.data, sizeof ready);
    m->holder_pid = (int64_t)ready[0];
    m->holder_start = ready[1];
    return 0;
}

/* ---- stopping it ---- */

/* Sends @p sig to the holder @p pid if it is still the one that started
 * at @p start; for SIGKILL, waits (2 s at most) for it to be dead. Its
 * death takes every process of its pid namespace with it: the kernel lets
 * pid 1 exit only after all the others are gone. A pidfd (Linux 5.3) pins
 * the process, so a recycled pid is never signalled, and wakes the moment
 * it exits; without one, /proc is polled every 5 ms (which cost every
 * delete at least that). */
static void signal_holder(pid_t pid, uint64_t start, int sig)
{
#if defined(SYS_pidfd_open) && defined(SYS_pidfd_send_signal)
    int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (pfd >= 0) {
        if (nox__proc_starttime(pid) == start &&
            syscall(SYS_pidfd_send_signal, pfd, sig, NULL, 0) == 0 && sig == SIGKILL) {
            struct pollfd p = { pfd, POLLIN, 0 };
            while (poll(&p, 1, 2000) < 0 && errno == EINTR)
                ;
        }
        close(pfd);
        return;
    }
    if (errno == ESRCH)
        return; /* already gone */
#endif
    if (nox__proc_starttime(pid) != start)
        return;
    kill(pid, sig);
    for (int i = 0; sig == SIGKILL && i < 400 && nox__proc_starttime(pid) == start; i++) {
        struct timespec ts = { 0, 5000000 };
        nanosleep(&ts, NULL);
    }
}

static void kill_holder(pid_t pid, uint64_t start)
{
    signal_holder(pid, start, SIGKILL);
}

void nox__pod_expiry_moved(const nox_meta *m)
{
    if (m->holder_pid > 1 && m->holder_start)
        signal_holder((pid_t)m->holder_pid, m->holder_start, SIGUSR1);
}

void nox__pod_stop(int sbfd, const nox_meta *m)
{
    int s = nox__pod_connect(sbfd);
    if (s >= 0) {
        if (nox__proto_send(s, NOX_OP_SHUTDOWN, NULL, 0, NULL, 0) == 0) {
            /* BYE comes after the holder killed and reaped everything. */
            _cleanup_buf_ nox_buf b = NOX_BUF_INIT;
            uint16_t op;
            nox__proto_recv(s, &op, &b, 64, NULL, NULL, 0, STOP_TIMEOUT_MS);
        }
        close(s);
    }
    /* Whatever happened above, make sure the recorded holder is gone: it
     * is pid 1 of the sandbox, and its death takes every process of the
     * sandbox's pid namespace with it. The start time guards against a
     * recycled pid. */
    if (m && m->holder_pid > 1 && m->holder_start)
        kill_holder((pid_t)m->holder_pid, m->holder_start);
    unlinkat(sbfd, "ctl.sock", 0);
}

/* ---- exec ---- */

typedef struct capture {
    int fd;
    nox_buf buf;
    uint64_t cap;
    bool truncated;
    bool eof;
} capture;

/* Reads what is there; returns false on end of file. */
static void capture_read(capture *c)
{
    char scratch[READ_CHUNK];
    for (;;) {
        char *dst = scratch;
        size_t room = sizeof scratch;
        if (c->buf.len < c->cap) {
            size_t want = (size_t)NOX_MIN((uint64_t)READ_CHUNK, c->cap - c->buf.len);
            if (nox__buf_reserve(&c->buf, want) == 0) {
                dst = c->buf.data + c->buf.len;
                room = want;
            }
        }
        ssize_t r = read(c->fd, dst, room);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN)
                c->eof = true;
            return;
        }
        if (r == 0) {
            c->eof = true;
            return;
        }
        if (dst == scratch) {
            /* Past the cap: drained and dropped, so the command never
             * blocks on a full pipe, and the result says so. */
            c->truncated = true;
        } else {
            c->buf.len += (size_t)r;
            c->buf.data[c->buf.len] = '\0';
        }
        if ((size_t)r < room)
            return;
    }
}

static int encode_request(const char *const *argv, const nox_exec_options *o, const char *cwd,
                          uint32_t flags, uint64_t max, nox_buf *b, nox_error *err)
{
    int r = nox__tlv_put_u32(b, NOX_EX_FLAGS, flags);
    for (size_t i = 0; argv[i]; i++)
        r |= nox__tlv_put_str(b, NOX_EX_ARG, argv[i]);
    for (size_t i = 0; o->env && o->env[i]; i++)
        r |= nox__tlv_put_str(b, NOX_EX_ENV, o->env[i]);
    r |= nox__tlv_put_str(b, NOX_EX_CWD, cwd);
    r |= nox__tlv_put_u64(b, NOX_EX_TIMEOUT_MS, (uint64_t)o->timeout_seconds * 1000);
    if (r)
        return nox__error_oom(err);
    if (b->len > max)
        return nox__error_set(err, NOX_E_LIMIT,
                              "the command and its environment take %zu bytes; the limit is %llu",
                              b->len, (unsigned long long)max);
    return 0;
}

static int append_note(nox_buf *b, const char *fmt, ...) NOX_PRINTF(2, 3);
static int append_note(nox_buf *b, const char *fmt, ...)
{
    char note[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(note, sizeof note, fmt, ap);
    va_end(ap);
    if (b->len && b->data[b->len - 1] != '\n' && nox__buf_append(b, "\n", 1) < 0)
        return -1;
    return nox__buf_append(b, note, strlen(note));
}

/* The working directory as the sandbox sees it. Inside a sandbox every
 * path is the sandbox's own and chdir there cannot reach the host, so any
 * absolute path is fine; relative ones are under /workspace. (An
 * unisolated holder maps /workspace to the host and refuses the rest.) */
static char *resolve_cwd(const char *workdir)
{
    if (!workdir)
        return strdup("/workspace");
    if (workdir[0] == '/')
        return strdup(workdir);
    return nox__asprintf("/workspace/%s", workdir);
}

int nox__pod_exec(nox_local *l, const char *id, int sbfd, const char *const *argv,
                  const nox_exec_options *o, nox_exec_result **ret_res, nox_error *err)
{
    const nox_client_options *opts = l->base.opts;
    int64_t t0 = nox__now_mono_ns();
    _cleanup_free_ char *cwd = resolve_cwd(o->workdir);
    if (!cwd)
        return nox__error_oom(err);
    _cleanup_buf_ nox_buf req = NOX_BUF_INIT;
    int r = encode_request(argv, o, cwd, l->isolated ? NOX_EXF_REQUIRE_ISOLATION : 0,
                           opts->limits.max_request_bytes, &req, err);
    if (r < 0)
        return r;

    _cleanup_close_ int conn = nox__pod_connect(sbfd);
    if (conn < 0) {
        /* No holder (the machine restarted, or it was killed): start one
         * under the sandbox's lock, then try again. */
        _cleanup_close_ int locked = -1;
        if ((r = nox__sandbox_lock(l, id, &locked, err)) < 0)
            return r;
        conn = nox__pod_connect(locked);
        if (conn < 0) {
            nox_meta m;
            if ((r = nox__meta_load(locked, id, &m, err)) < 0)
                return r;
            r = nox__pod_start(l, id, NULL, locked, &m, NULL, err);
            if (r == 0)
                r = nox__meta_save(locked, &m, err);
            nox__meta_clear(&m);
            if (r < 0)
                return r;
            conn = nox__pod_connect(locked);
            if (conn < 0)
                return nox__error_errno(err, NOX_E_EXEC, -conn,
                                        "connect to the holder of sandbox `%s`", id);
        }
    }

    int out[2], errp[2];
    if (pipe2(out, O_CLOEXEC) < 0)
        return nox__error_errno(err, NOX_E_IO, errno, "pipe");
    if (pipe2(errp, O_CLOEXEC) < 0) {
        close(out[0]);
        close(out[1]);
        return nox__error_errno(err, NOX_E_IO, errno, "pipe");
    }
    capture cs[2] = { { out[0], NOX_BUF_INIT, opts->max_output_bytes, false, false },
                      { errp[0], NOX_BUF_INIT, opts->max_output_bytes, false, false } };
    fcntl(out[0], F_SETFL, O_NONBLOCK);
    fcntl(errp[0], F_SETFL, O_NONBLOCK);
    int fds[4] = { out[1], errp[1], out[0], errp[0] };
    r = nox__proto_send(conn, NOX_OP_EXEC, req.data, req.len, fds, 4);
    close(out[1]);
    close(errp[1]);
    nox_exec_result *res = NULL;
    struct nox_exec_status st = { 0 };
    bool have_result = false;
    if (r < 0) {
        r = nox__error_errno(err, NOX_E_EXEC, -r, "send the command to sandbox `%s`", id);
        goto out;
    }
    int64_t deadline = t0 + ((int64_t)o->timeout_seconds * 1000 + EXEC_GRACE_MS) * 1000000LL;
    while (!have_result) {
        struct pollfd p[4] = { { conn, POLLIN, 0 },
                               { cs[0].eof ? -1 : cs[0].fd, POLLIN, 0 },
                               { cs[1].eof ? -1 : cs[1].fd, POLLIN, 0 },
                               { l->base.cancel_fd, POLLIN, 0 } };
        int64_t left = (deadline - nox__now_mono_ns()) / 1000000;
        if (left <= 0) {
            r = nox__error_set(err, NOX_E_TIMEOUT,
                               "sandbox `%s` did not answer within %ld s after the command's "
                               "timeout",
                               id, (long)(EXEC_GRACE_MS / 1000));
            goto out;
        }
        if (nox__cancelled(&l->base)) {
            /* Closing the connection (below) makes the holder kill the
             * command's whole tree. */
            r = nox__error_set(err, NOX_E_CANCELLED, "exec in sandbox `%s` cancelled", id);
            goto out;
        }
        int pr = poll(p, 4, (int)NOX_MIN(left, 3600 * 1000));
        if (pr < 0) {
            if (errno == EINTR)
                continue;
            r = nox__error_errno(err, NOX_E_IO, errno, "poll");
            goto out;
        }
        for (int i = 0; i < 2; i++)
            if (p[1 + i].revents)
                capture_read(&cs[i]);
        if (p[0].revents) {
            _cleanup_buf_ nox_buf msg = NOX_BUF_INIT;
            uint16_t op = 0;
            int rr = nox__proto_recv(conn, &op, &msg, 4096, NULL, NULL, 0, 5000);
            if (rr < 0) {
                /* The holder, which runs the exec, is gone: the sandbox was
                 * deleted or expired, or its holder was killed from the
                 * host (the next exec starts a new one). */
                struct stat sst;
                bool gone = fstatat(sbfd, "expires", &sst, AT_SYMLINK_NOFOLLOW) < 0;
                r = nox__error_set(err, gone ? NOX_E_NOT_FOUND : NOX_E_EXEC,
                                   gone ? "sandbox `%s` went away while running the command "
                                          "(deleted or expired)"
                                        : "the holder of sandbox `%s` stopped while running the "
                                          "command",
                                   id);
                goto out;
            }
            if (op == NOX_OP_RESULT && msg.len == sizeof st) {
                memcpy(&st, msg.data, sizeof st);
                have_result = true;
            }
        }
    }
    /* Everything the command wrote before it ended is in the pipes by now;
     * take it without waiting for end of file, which background processes
     * holding the pipes would postpone indefinitely. */
    for (int i = 0; i < 2; i++)
        capture_read(&cs[i]);

    if (st.kind == NOX_EXIT_SETUP) {
        if (strcmp(st.stage, "chdir") == 0) {
            r = nox__error_errno(err,
                                 st.err == ENOENT || st.err == ENOTDIR ? NOX_E_INVALID : NOX_E_EXEC,
                                 st.err, "workdir `%s` in sandbox `%s`", cwd, id);
            goto out;
        }
        if (strcmp(st.stage, "isolation") == 0) {
            r = nox__error_set(err, NOX_E_ISOLATION,
                               "sandbox `%s` was created unisolated and this client requires "
                               "isolation; delete and recreate it",
                               id);
            goto out;
        }
        if (strcmp(st.stage, "exec") != 0) {
            r = nox__error_errno(err, NOX_E_EXEC, st.err, "start the command in sandbox `%s` (%s)",
                                 id, st.stage);
            goto out;
        }
    }
    res = nox__exec_result_new();
    if (!res) {
        r = nox__error_oom(err);
        goto out;
    }
    switch (st.kind) {
    case NOX_EXIT_NORMAL:
        res->exit_code = st.code;
        break;
    case NOX_EXIT_SIGNAL:
        res->exit_code = 128 + st.sig;
        res->term_signal = st.sig;
        break;
    case NOX_EXIT_TIMEOUT:
        /* 124 as timeout(1) reports it; timed_out says why, so no signal. */
        res->exit_code = 124;
        res->timed_out = true;
        append_note(&cs[1].buf, "Command timed out after %ld second%s\n", o->timeout_seconds,
                    o->timeout_seconds == 1 ? "" : "s");
        break;
    case NOX_EXIT_STORAGE:
        res->exit_code = 128 + SIGKILL;
        res->term_signal = SIGKILL;
        append_note(&cs[1].buf,
                    "noxrunner: killed: the workspace grew past its ephemeral storage limit\n");
        break;
    case NOX_EXIT_SETUP:
        /* The command could not be executed: the shell's conventions. */
        res->exit_code = st.err == ENOENT ? 127 : 126;
        append_note(&cs[1].buf, "%s: %s\n", argv[0],
                    st.err == ENOENT ? "command not found" : strerror(st.err));
        break;
    default:
        r = nox__error_set(err, NOX_E_INTERNAL, "unknown exec outcome %d", st.kind);
        goto out;
    }
    res->stdout_data = nox__buf_steal(&cs[0].buf, &res->stdout_len);
    res->stderr_data = nox__buf_steal(&cs[1].buf, &res->stderr_len);
    if (!res->stdout_data || !res->stderr_data) {
        r = nox__error_oom(err);
        goto out;
    }
    res->stdout_truncated = cs[0].truncated;
    res->stderr_truncated = cs[1].truncated;
    res->duration_ms = (nox__now_mono_ns() - t0) / 1000000;
    *ret_res = steal_pointer(&res);
    r = 0;
out:
    nox_exec_result_free(res);
    for (int i = 0; i < 2; i++) {
        close(cs[i].fd);
        nox__buf_free(&cs[i].buf);
    }
    if (opts->spare_launchers)
        spares_command_done(sbfd);
    return r;
}
