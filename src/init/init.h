/* SPDX-License-Identifier: MIT */
/* nox-init: the helper program behind every local sandbox.
 *
 * "nox-init launch" is spawned by libnoxrunner (posix_spawn, so the
 * library's process never forks), with the launch channel as its only
 * descriptor; the configuration, the control socket and the expires file
 * come over it, at once or, for a spare launcher started ahead of a create,
 * later. The launcher joins the sandbox's cgroups,
 * clones the holder into fresh user, mount, pid, network, ipc, uts and
 * cgroup namespaces, writes its id maps when it is root, reports READY and
 * exits. The holder is pid 1 of the sandbox: it builds the root file system,
 * then serves exec requests on the control socket, reaps orphans, watches
 * expiry and storage, and kills everything on SHUTDOWN or expiry.
 *
 * The holder starts each command itself (vfork + execve) and makes it a
 * child subreaper: everything the command starts stays below it while the
 * command runs, so a timeout or a cancel kills the whole tree and nothing
 * else (see exec.c). */
#ifndef NOX_INIT_H
#define NOX_INIT_H

#include <linux/filter.h>
#include <signal.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "../local/proto.h"
#include "../util.h"

/* The uid and gid commands have inside a sandbox. */
#define NOX_SANDBOX_UID 1000
#define NOX_SANDBOX_GID 1000

#define NOX_MAX_RLIMITS 8
#define NOX_MAX_CGROUPS 8

struct nox_rlimit_cfg {
    int resource;
    struct rlimit lim;
};

typedef struct nox_init_cfg {
    uint32_t flags;
    uid_t host_uid;
    gid_t host_gid;
    uid_t owner_uid;
    char *hostname;
    char *id;
    char *workspace; /* host path */
    uint64_t tmp_bytes;
    uint64_t shm_bytes;
    uint64_t storage_bytes;
    uint64_t max_request;
    struct nox_rlimit_cfg rlimits[NOX_MAX_RLIMITS];
    size_t n_rlimits;
    char *cgroups[NOX_MAX_CGROUPS];
    size_t n_cgroups;
} nox_init_cfg;

/* The compiled seccomp program applied to every command (empty when
 * running unisolated without seccomp). */
typedef struct nox_filter {
    const struct sock_filter *prog;
    unsigned short len;
} nox_filter;

/* Error reporting before the holder is up: formats a message into @p msg
 * (size NOX_MSG_MAX) and returns -1. */
#define NOX_MSG_MAX 512
int nox__init_fail(char *msg, int errnum, const char *fmt, ...) NOX_PRINTF(3, 4) NOX_HIDDEN;

int nox__launch_main(void) NOX_HIDDEN;

/* Parses a CONFIG, PREPARE or CLAIM payload into @p cfg (zeroed first).
 * @p for_sandbox: the workspace and the id must be there. */
int nox__init_parse_config(const char *p, size_t len, bool for_sandbox, nox_init_cfg *cfg,
                           char *msg) NOX_HIDDEN;
void nox__init_cfg_clear(nox_init_cfg *cfg) NOX_HIDDEN;
/* Moves the control socket and the expires file (received in that order)
 * to NOX_FD_LISTEN and NOX_FD_EXPIRES. 0, or -1 with errno. */
int nox__init_take_fds(const int fds[2]) NOX_HIDDEN;
int nox__probe_main(int argc, char **argv) NOX_HIDDEN;

/* Holder: @p ready_fd gets one status record when setup finished (0 bytes
 * of message means ready). With @p claim_fd >= 0 the holder is a spare:
 * @p ready_fd reports it prepared (namespaces, root file system), then it
 * waits on @p claim_fd for its sandbox (NOX_OP_CLAIM) and answers there.
 * Never returns. */
NOX_NORETURN void nox__holder_main(const nox_init_cfg *cfg, int ready_fd, int claim_fd) NOX_HIDDEN;

/* Builds the sandbox's root file system in the current (new) mount
 * namespace and pivots into it: what every sandbox has alike, plus the
 * workspace (bound from NOX_FD_WORKSPACE) when @p bind_workspace.
 * nox__rootfs_finish() then adds what is the sandbox's own. */
int nox__rootfs_setup(bool bind_workspace, char *msg) NOX_HIDDEN;
/* After the pivot: the workspace when @p workspace_tree >= 0 (a detached
 * mount, moved onto /workspace), /tmp and /dev/shm at their sizes, the
 * host name (and /etc/hostname, /etc/hosts); then the root goes
 * read-only. */
int nox__rootfs_finish(const nox_init_cfg *cfg, int workspace_tree, char *msg) NOX_HIDDEN;
/* Brings up the loopback interface of the current network namespace. */
int nox__loopback_up(char *msg) NOX_HIDDEN;

/* The seccomp program for commands, compiled when nox-init was built. */
void nox__seccomp_filter(nox_filter *f) NOX_HIDDEN;
/* Installs @p f on the calling thread (no_new_privs must be set): 0, or
 * -1 with errno. */
int nox__seccomp_apply(const nox_filter *f) NOX_HIDDEN;

/* One exec request, decoded. */
typedef struct nox_job_request {
    char **argv;
    size_t argc;
    char **env; /* the command's complete environment (see build_env) */
    size_t envc;
    char *cwd;
    char *path; /* PATH of env, for the search */
    uint64_t timeout_ms;
    uint32_t flags;
} nox_job_request;

int nox__job_request_parse(const char *payload, size_t len, nox_job_request *rq) NOX_HIDDEN;
void nox__job_request_clear(nox_job_request *rq) NOX_HIDDEN;
/* Unisolated: maps /workspace to the host; -1 for anything outside it. */
int nox__job_map_workspace(const nox_init_cfg *cfg, nox_job_request *rq) NOX_HIDDEN;
int nox__job_build_env(const nox_init_cfg *cfg, nox_job_request *rq) NOX_HIDDEN;

/* Starts the command with vfork. Returns its pid, or -1 (errno) when it
 * could not even be forked. When the child failed before execve, it has
 * exited and @p out says where (kind NOX_EXIT_SETUP). */
pid_t nox__job_spawn(const nox_init_cfg *cfg, const nox_job_request *rq, int out_fd, int err_fd,
                     struct nox_exec_status *out) NOX_HIDDEN;

/* Freezes, then kills, @p root (a command, subreaper of its tree) and
 * everything below it. The dead are left for the caller to reap. */
void nox__kill_tree(pid_t root) NOX_HIDDEN;

/* SIGKILLs every process below the caller (a subreaper) and reaps them. */
void nox__kill_descendants(void) NOX_HIDDEN;

/* Signals the holder handles through its signalfd. */
void nox__block_signals(sigset_t *ret_old) NOX_HIDDEN;

#endif
