/* SPDX-License-Identifier: MIT */
/* The launcher: reads the configuration, joins the sandbox's cgroups,
 * clones the holder into its namespaces, writes the id maps and reports. */
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "init.h"

#define NS_FLAGS                                                                                   \
    (CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS |     \
     CLONE_NEWCGROUP)

/* Closes every fd above @p keep_max: the library's process may have leaked
 * descriptors without O_CLOEXEC, and none of them may reach a sandbox. */
static void close_inherited(int keep_max)
{
    if (syscall(SYS_close_range, (unsigned)keep_max + 1, ~0U, 0) == 0)
        return;
    for (int fd = keep_max + 1; fd < 65536; fd++)
        close(fd);
}

void nox__init_cfg_clear(nox_init_cfg *cfg)
{
    free(cfg->hostname);
    free(cfg->id);
    free(cfg->workspace);
    for (size_t i = 0; i < cfg->n_cgroups; i++)
        free(cfg->cgroups[i]);
    memset(cfg, 0, sizeof *cfg);
}

int nox__init_parse_config(const char *p, size_t len, bool for_sandbox, nox_init_cfg *cfg,
                           char *msg)
{
    memset(cfg, 0, sizeof *cfg);
    nox_tlv_iter it = { p, p + len };
    uint16_t tag;
    const char *v;
    uint32_t n;
    int r;
    while ((r = nox__tlv_next(&it, &tag, &v, &n)) > 0) {
        uint32_t u32 = 0;
        uint64_t u64 = 0;
        switch (tag) {
        case NOX_CFG_FLAGS:
            if (nox__tlv_u32(v, n, &cfg->flags) < 0)
                goto bad;
            break;
        case NOX_CFG_HOST_UID:
            if (nox__tlv_u32(v, n, &u32) < 0)
                goto bad;
            cfg->host_uid = u32;
            break;
        case NOX_CFG_HOST_GID:
            if (nox__tlv_u32(v, n, &u32) < 0)
                goto bad;
            cfg->host_gid = u32;
            break;
        case NOX_CFG_OWNER_UID:
            if (nox__tlv_u32(v, n, &u32) < 0)
                goto bad;
            cfg->owner_uid = u32;
            break;
        case NOX_CFG_HOSTNAME:
            if (!(cfg->hostname = nox__tlv_str(v, n)))
                goto bad;
            break;
        case NOX_CFG_ID:
            if (!(cfg->id = nox__tlv_str(v, n)))
                goto bad;
            break;
        case NOX_CFG_WORKSPACE:
            if (!(cfg->workspace = nox__tlv_str(v, n)))
                goto bad;
            break;
        case NOX_CFG_TMP_BYTES:
            if (nox__tlv_u64(v, n, &cfg->tmp_bytes) < 0)
                goto bad;
            break;
        case NOX_CFG_SHM_BYTES:
            if (nox__tlv_u64(v, n, &cfg->shm_bytes) < 0)
                goto bad;
            break;
        case NOX_CFG_STORAGE_BYTES:
            if (nox__tlv_u64(v, n, &cfg->storage_bytes) < 0)
                goto bad;
            break;
        case NOX_CFG_MAX_REQUEST:
            if (nox__tlv_u64(v, n, &u64) < 0)
                goto bad;
            cfg->max_request = u64;
            break;
        case NOX_CFG_RLIMIT: {
            if (n != 4 + 8 + 8 || cfg->n_rlimits >= NOX_MAX_RLIMITS)
                goto bad;
            struct nox_rlimit_cfg *rl = &cfg->rlimits[cfg->n_rlimits++];
            uint32_t res;
            uint64_t soft, hard;
            memcpy(&res, v, 4);
            memcpy(&soft, v + 4, 8);
            memcpy(&hard, v + 12, 8);
            rl->resource = (int)res;
            rl->lim.rlim_cur = soft;
            rl->lim.rlim_max = hard;
            break;
        }
        case NOX_CFG_CGROUP:
            if (cfg->n_cgroups >= NOX_MAX_CGROUPS ||
                !(cfg->cgroups[cfg->n_cgroups++] = nox__tlv_str(v, n)))
                goto bad;
            break;
        default:
            /* Unknown tags come from a newer library; ignore them. */
            break;
        }
    }
    if (r < 0)
        goto bad;
    if (for_sandbox && (!cfg->workspace || !cfg->id))
        return nox__init_fail(msg, 0, "configuration lacks the workspace or the id");
    if (!cfg->max_request)
        cfg->max_request = 1 << 20;
    return 0;
bad:
    return nox__init_fail(msg, 0, "malformed configuration record (tag %u)", (unsigned)tag);
}

static int join_cgroups(const nox_init_cfg *cfg, char *msg)
{
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%d\n", (int)getpid());
    for (size_t i = 0; i < cfg->n_cgroups; i++) {
        char path[4096];
        if (snprintf(path, sizeof path, "%s/cgroup.procs", cfg->cgroups[i]) >= (int)sizeof path)
            return nox__init_fail(msg, ENAMETOOLONG, "cgroup path `%s`", cfg->cgroups[i]);
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, pid, (size_t)n) != n)
            return nox__init_fail(msg, errno, "join cgroup `%s`", cfg->cgroups[i]);
    }
    return 0;
}

static int write_file(const char *path, const char *data, char *msg)
{
    _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
    size_t n = strlen(data);
    if (fd < 0 || write(fd, data, n) != (ssize_t)n)
        return nox__init_fail(msg, errno, "write `%s`", path);
    return 0;
}

/* The sandbox user is uid/gid 1000 inside, mapped to one unprivileged host
 * id. Only that one id is mapped: files of any other host user (root's
 * included) show up as the overflow id and the sandbox has no rights on
 * them beyond "other". */
static int write_id_maps(pid_t pid, const nox_init_cfg *cfg, bool self, char *msg)
{
    char path[64], map[64];
    const char *who = self ? "self" : NULL;
    char pidbuf[16];
    if (!who) {
        snprintf(pidbuf, sizeof pidbuf, "%d", (int)pid);
        who = pidbuf;
    }
    if (self) {
        /* An unprivileged process may map only its own ids, and only after
         * giving up setgroups (CVE-2014-8989: dropping groups could grant
         * access that negative group permissions deny). */
        snprintf(path, sizeof path, "/proc/%s/setgroups", who);
        if (write_file(path, "deny", msg) < 0)
            return -1;
    }
    snprintf(path, sizeof path, "/proc/%s/uid_map", who);
    snprintf(map, sizeof map, "%d %u 1\n", NOX_SANDBOX_UID, (unsigned)cfg->host_uid);
    if (write_file(path, map, msg) < 0)
        return -1;
    snprintf(path, sizeof path, "/proc/%s/gid_map", who);
    snprintf(map, sizeof map, "%d %u 1\n", NOX_SANDBOX_GID, (unsigned)cfg->host_gid);
    return write_file(path, map, msg);
}

static int wait_status(int fd, char *msg, int timeout_ms)
{
    struct pollfd pfd = { fd, POLLIN, 0 };
    int r;
    do
        r = poll(&pfd, 1, timeout_ms);
    while (r < 0 && errno == EINTR);
    if (r == 0)
        return nox__init_fail(msg, 0, "sandbox holder did not start within %d ms", timeout_ms);
    char buf[NOX_MSG_MAX];
    ssize_t n = nox__read_full(fd, buf, sizeof buf - 1);
    if (n < 0)
        return nox__init_fail(msg, errno, "read holder status");
    if (n == 0)
        return 0;
    buf[n] = '\0';
    snprintf(msg, NOX_MSG_MAX, "%s", buf);
    return -1;
}

/* The control socket and the expires file come with the configuration;
 * they go to their fixed numbers (moved out of the way first, since the
 * kernel gave them the lowest free ones). */
int nox__init_take_fds(const int fds[2])
{
    int hi[2];
    for (int i = 0; i < 2; i++) {
        hi[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 64);
        if (hi[i] < 0)
            return -1;
        close(fds[i]);
    }
    if (dup2(hi[0], NOX_FD_LISTEN) < 0 || dup2(hi[1], NOX_FD_EXPIRES) < 0)
        return -1;
    close(hi[0]);
    close(hi[1]);
    return 0;
}

static void send_fail(const char *msg)
{
    nox__proto_send(NOX_FD_STATUS, NOX_OP_FAIL, msg, strlen(msg), NULL, 0);
}

int nox__launch_main(void)
{
    close_inherited(NOX_FD_STATUS);
    char msg[NOX_MSG_MAX] = "";
    _cleanup_buf_ nox_buf payload = NOX_BUF_INIT;
    uint16_t op = 0;
    /* The configuration may come much later: a spare launcher is started
     * ahead of the create that uses it. It waits for as long as the
     * library's end is open, and leaves quietly when it closes. */
    int fds[2] = { -1, -1 };
    size_t nfds = 0;
    int r = nox__proto_recv(NOX_FD_STATUS, &op, &payload, 1 << 20, fds, &nfds, 2, -1);
    if (r == -EPIPE)
        return 0;
    /* PREPARE: a spare holder, without sandbox until the library claims
     * it (see nox__holder_main); CONFIG: a sandbox's holder. */
    bool prepare = r == 0 && op == NOX_OP_PREPARE;
    if (r < 0 || (op != NOX_OP_CONFIG && !prepare) || nfds != (prepare ? 0u : 2u) ||
        (!prepare && nox__init_take_fds(fds) < 0)) {
        nox__init_fail(msg, r < 0 ? -r : 0, "receive configuration");
        send_fail(msg);
        return 1;
    }
    nox_init_cfg cfg;
    if (nox__init_parse_config(payload.data, payload.len, !prepare, &cfg, msg) < 0 ||
        join_cgroups(&cfg, msg) < 0) {
        send_fail(msg);
        return 1;
    }
    bool isolated = cfg.flags & NOX_CFGF_ISOLATED;
    bool privileged = cfg.flags & NOX_CFGF_PRIVILEGED;
    if (prepare && (!isolated || cfg.n_cgroups)) {
        send_fail("only an isolated holder without cgroups can be prepared");
        return 1;
    }

    int go[2], status[2];
    if (pipe2(go, O_CLOEXEC) < 0 || pipe2(status, O_CLOEXEC) < 0) {
        nox__init_fail(msg, errno, "pipe");
        send_fail(msg);
        return 1;
    }
    /* A raw clone: this process is small and single-threaded, and the
     * namespaces must be created with the child (CLONE_NEWPID makes it
     * pid 1). The child continues here like after fork(). */
    unsigned long flags = SIGCHLD | (isolated ? NS_FLAGS : 0);
    /* A prepared holder makes its cgroup namespace once the library has
     * moved it into its sandbox's cgroups, so that it is rooted there. */
    if (prepare)
        flags &= ~(unsigned long)CLONE_NEWCGROUP;
    pid_t pid = (pid_t)syscall(SYS_clone, flags, NULL, NULL, NULL, 0);
    if (pid < 0) {
        int e = errno;
        nox__init_fail(msg, e, "create the sandbox's namespaces (clone)");
        if (e == EPERM || e == ENOSPC || e == EINVAL)
            strncat(msg, "; run `noxrunnerd --check` to see why", NOX_MSG_MAX - strlen(msg) - 1);
        send_fail(msg);
        return 1;
    }
    if (pid == 0) {
        close(go[1]);
        close(status[0]);
        /* A prepared holder keeps the channel: its claim comes there. */
        if (!prepare)
            close(NOX_FD_STATUS);
        char b;
        if (nox__read_full(go[0], &b, 1) != 1)
            _exit(1);
        close(go[0]);
        if (isolated && !privileged && write_id_maps(0, &cfg, true, msg) < 0) {
            nox__write_all(status[1], msg, strlen(msg));
            _exit(1);
        }
        nox__holder_main(&cfg, status[1], prepare ? NOX_FD_STATUS : -1);
    }
    close(go[0]);
    close(status[1]);
    if (isolated && privileged && write_id_maps(pid, &cfg, false, msg) < 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        send_fail(msg);
        return 1;
    }
    if (nox__write_all(go[1], "g", 1) < 0 || wait_status(status[0], msg, 20000) < 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        send_fail(msg[0] ? msg : "sandbox holder failed to start");
        return 1;
    }
    uint64_t ready[2] = { (uint64_t)pid, nox__proc_starttime(pid) };
    r = nox__proto_send(NOX_FD_STATUS, prepare ? NOX_OP_PREPARED : NOX_OP_READY, ready,
                        sizeof ready, NULL, 0);
    /* The holder now lives on its own; this process ends and the holder is
     * re-parented, detached from the library's process. */
    return r < 0 ? 1 : 0;
}

/* ---- probe: what this host lets us do, step by step, for preflight ---- */

static void probe_report(const char *name, int errnum, const char *detail)
{
    if (errnum)
        printf("%s fail %d %s\n", name, errnum, detail ? detail : strerror(errnum));
    else
        printf("%s ok %s\n", name, detail ? detail : "");
    fflush(stdout);
}

/* Runs @p step in a child so that namespace changes do not stick; returns
 * the child's errno (0 = worked). */
static int probe_child(unsigned long clone_flags, int (*step)(void *), void *arg, char *detail)
{
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) < 0)
        return errno;
    pid_t pid = (pid_t)syscall(SYS_clone, SIGCHLD | clone_flags, NULL, NULL, NULL, 0);
    if (pid < 0) {
        int e = errno;
        close(pfd[0]);
        close(pfd[1]);
        return e;
    }
    if (pid == 0) {
        close(pfd[0]);
        /* Out of the way of the fixed numbers (NOX_FD_*) the step may
         * dup2 onto. */
        int hi = fcntl(pfd[1], F_DUPFD_CLOEXEC, 64);
        if (hi < 0)
            _exit(1);
        close(pfd[1]);
        pfd[1] = hi;
        char m[NOX_MSG_MAX] = "";
        errno = 0;
        int rr = step ? step(m) : 0;
        int e = rr < 0 ? (errno ? errno : EPERM) : 0;
        char out[NOX_MSG_MAX + 16];
        int n = snprintf(out, sizeof out, "%d %s", e, m);
        nox__write_all(pfd[1], out, (size_t)NOX_MIN(n, (int)sizeof out - 1));
        _exit(0);
    }
    close(pfd[1]);
    char buf[NOX_MSG_MAX + 16];
    ssize_t n = nox__read_full(pfd[0], buf, sizeof buf - 1);
    close(pfd[0]);
    waitpid(pid, NULL, 0);
    if (n <= 0)
        return EIO;
    buf[n] = '\0';
    char *sp = strchr(buf, ' ');
    if (sp && detail)
        snprintf(detail, NOX_MSG_MAX, "%s", sp + 1);
    return (int)strtol(buf, NULL, 10);
}

static nox_init_cfg probe_cfg;

static int probe_self_maps(char *m)
{
    if (getuid() != 0)
        return write_id_maps(0, &probe_cfg, true, m);
    /* Root maps any id, but from the parent namespace only; the probe maps
     * its own uid instead, which any process may do. */
    char map[64];
    snprintf(map, sizeof map, "%d 0 1\n", NOX_SANDBOX_UID);
    if (write_file("/proc/self/setgroups", "deny", m) < 0 ||
        write_file("/proc/self/uid_map", map, m) < 0)
        return -1;
    snprintf(map, sizeof map, "%d 0 1\n", NOX_SANDBOX_GID);
    return write_file("/proc/self/gid_map", map, m);
}

static int probe_ns(void *arg)
{
    char *m = arg;
    if (probe_self_maps(m) < 0)
        return -1;
    return 0;
}

static unsigned long probe_flag;

static int probe_unshare(void *arg)
{
    char *m = arg;
    if (probe_self_maps(m) < 0)
        return -1;
    if (unshare((int)probe_flag) < 0)
        return nox__init_fail(m, errno, "unshare");
    return 0;
}

/* The whole holder setup with a throw-away workspace, then one command. */
static int probe_sandbox(void *arg)
{
    char *m = arg;
    if (probe_self_maps(m) < 0)
        return -1;
    /* Opened inside the new mount namespace: a bind mount's source must
     * belong to it. */
    int wfd = open(probe_cfg.workspace, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (wfd < 0 || dup2(wfd, NOX_FD_WORKSPACE) < 0)
        return nox__init_fail(m, errno, "open the scratch workspace `%s`", probe_cfg.workspace);
    if (nox__rootfs_setup(true, m) < 0 || nox__rootfs_finish(&probe_cfg, -1, m) < 0)
        return -1;
    if (nox__loopback_up(m) < 0)
        return -1;
    nox_filter f = { 0 };
    nox__seccomp_filter(&f);
    pid_t c = fork();
    if (c < 0)
        return nox__init_fail(m, errno, "fork");
    if (c == 0) {
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || nox__seccomp_apply(&f) < 0)
            _exit(120);
        execl("/bin/sh", "sh", "-c", "cd /workspace && echo ok > probe && test -s probe", NULL);
        _exit(127);
    }
    int st;
    while (waitpid(c, &st, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        errno = EPERM;
        return nox__init_fail(m, 0, "a command inside the probe sandbox failed (status %d)",
                              WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
    }
    return 0;
}

int nox__probe_main(int argc, char **argv)
{
    /* argv[1]: a scratch directory to use as the probe's workspace. */
    if (argc < 2) {
        fprintf(stderr, "usage: nox-init probe SCRATCH_DIR\n");
        return 2;
    }
    memset(&probe_cfg, 0, sizeof probe_cfg);
    probe_cfg.flags = NOX_CFGF_ISOLATED;
    probe_cfg.host_uid = getuid();
    probe_cfg.host_gid = getgid();
    probe_cfg.workspace = argv[1];
    static char probe_name[] = "probe";
    probe_cfg.id = probe_name;
    probe_cfg.hostname = probe_name;
    probe_cfg.tmp_bytes = 1 << 20;
    probe_cfg.shm_bytes = 1 << 20;

    char detail[NOX_MSG_MAX] = "";
    int e = probe_child(CLONE_NEWUSER, probe_ns, detail, detail);
    probe_report("user-namespace", e, e ? detail : "created and mapped");
    if (e)
        return 0;
    static const struct {
        const char *name;
        unsigned long flag;
    } kinds[] = {
        { "mount-namespace", CLONE_NEWNS },    { "pid-namespace", CLONE_NEWPID },
        { "network-namespace", CLONE_NEWNET }, { "ipc-namespace", CLONE_NEWIPC },
        { "uts-namespace", CLONE_NEWUTS },     { "cgroup-namespace", CLONE_NEWCGROUP },
    };
    for (size_t i = 0; i < NOX_ARRAY_SIZE(kinds); i++) {
        probe_flag = kinds[i].flag;
        detail[0] = '\0';
        e = probe_child(CLONE_NEWUSER, probe_unshare, detail, detail);
        probe_report(kinds[i].name, e, e ? detail : "created");
    }
    detail[0] = '\0';
    e = probe_child(NS_FLAGS, probe_sandbox, detail, detail);
    probe_report("sandbox", e,
                 e ? detail
                   : "root file system, /proc, /dev, loopback, seccomp "
                     "and a command all work");
    return 0;
}
