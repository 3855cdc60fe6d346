/* SPDX-License-Identifier: MIT */
/* The local backend: sandboxes on this machine, no server.
 *
 * State on disk is the truth. Under the state directory:
 *   sandboxes/<id>/meta.json   what the sandbox is (written atomically)
 *   sandboxes/<id>/expires     empty file whose mtime is the expiry; its
 *                              content is the TTL in seconds. Touching is
 *                              one futimens(), and the holder watches it.
 *   sandboxes/<id>/workspace/  the files (/workspace inside)
 *   sandboxes/<id>/ctl.sock    the holder's control socket
 *   sandboxes/<id>/staging/    uploads being extracted (same file system)
 *   tmp/                       sandboxes being created, renamed into place
 *   trash/                     sandboxes being removed
 *   uids/<n>                   host uid slots taken (when running as root)
 * Every process (CLI, server, library user) sees the same sandboxes. A
 * sandbox directory is locked with flock() on its own fd for create,
 * delete and holder restarts; execs take no lock. */
#ifndef NOX_LOCAL_H
#define NOX_LOCAL_H

#include <stdbool.h>
#include <sys/types.h>

#include "../backend.h"
#include "../error.h"
#include "proto.h"

/* ---- cgroups ---- */
enum { NOX_CG_MEMORY, NOX_CG_PIDS, NOX_CG_CPU, NOX_CG_COUNT };

typedef struct nox_cgroup_host {
    /* Per controller: the mount point of the hierarchy that has it, the
     * hierarchy's version (1 or 2, 0 = not available) and this process's
     * cgroup in it (relative to the hierarchy's root). */
    char *mount[NOX_CG_COUNT];
    char *own[NOX_CG_COUNT];
    int version[NOX_CG_COUNT];
    /* The cgroup2 mount point, NULL when none is mounted. */
    char *v2_mount;
    /* "v2", "v1", "hybrid" (v1 controllers with cgroup2 mounted beside
     * them) or "none". */
    const char *layout;
} nox_cgroup_host;

typedef struct nox_cgroup_limits {
    uint64_t memory_bytes;
    uint64_t cpu_milli;
    uint64_t pids;
} nox_cgroup_limits;

typedef struct nox_cgroup_set {
    /* Directories the sandbox's processes join (absolute paths). */
    char *dirs[NOX_CG_COUNT];
    size_t n_dirs;
    /* Per controller: enforced or why not. */
    bool enforced[NOX_CG_COUNT];
    int version[NOX_CG_COUNT];
    char *reason[NOX_CG_COUNT];
} nox_cgroup_set;

int nox__cgroup_detect(nox_cgroup_host *h) NOX_HIDDEN;
void nox__cgroup_host_clear(nox_cgroup_host *h) NOX_HIDDEN;
/* Creates the cgroups of sandbox @p name under @p parent (relative to the
 * hierarchies' roots; NULL means this process's cgroup + "/noxrunner") and
 * writes the limits. Failures are not errors: they are recorded per
 * controller in @p set. */
void nox__cgroup_create(const nox_cgroup_host *h, const char *parent, const char *name,
                        const nox_cgroup_limits *lim, nox_cgroup_set *set) NOX_HIDDEN;
void nox__cgroup_set_clear(nox_cgroup_set *set) NOX_HIDDEN;
/* Kills what is left in @p dir and removes it. */
void nox__cgroup_remove(const char *dir) NOX_HIDDEN;
/* Moves process @p pid into cgroup @p dir: 0, or -1 with errno. */
int nox__cgroup_attach(const char *dir, pid_t pid) NOX_HIDDEN;
/* Checks that a child cgroup can be made for each controller (preflight). */
bool nox__cgroup_writable(const nox_cgroup_host *h, const char *parent, int controller,
                          char **ret_reason) NOX_HIDDEN;
extern const char *const nox__cgroup_names[NOX_CG_COUNT] NOX_HIDDEN;

/* ---- metadata ---- */
typedef struct nox_meta {
    char *id;
    char *pod_name;
    int64_t created_at;
    int64_t ttl_seconds;
    char *image;
    char *cpu_requested, *memory_requested, *storage_requested;
    uint64_t cpu_milli, memory_bytes, storage_bytes;
    bool isolated;
    uint32_t host_uid, host_gid;
    int64_t uid_slot; /* -1 when none */
    char *cgroup_name;
    char *cgroup_dirs[NOX_CG_COUNT];
    size_t n_cgroup_dirs;
    int64_t holder_pid;
    uint64_t holder_start;
    /* The enforcement report computed at creation. */
    nox_sandbox *report;
} nox_meta;

void nox__meta_clear(nox_meta *m) NOX_HIDDEN;
int nox__meta_load(int sbfd, const char *id, nox_meta *m, nox_error *err) NOX_HIDDEN;
int nox__meta_save(int sbfd, const nox_meta *m, nox_error *err) NOX_HIDDEN;

/* ---- the backend ---- */
typedef struct nox_local {
    nox_backend base;
    char *state_dir;
    int state_fd;
    char *init_path;
    bool privileged;
    bool isolated;
    uid_t uid;
    gid_t gid;
    uint32_t uid_base;
    nox_cgroup_host cg;
    bool cg_detected;
} nox_local;

/* ---- store ---- */
/* Resolves and opens the state directory for @p opts. */
int nox__store_open(const nox_client_options *opts, char **ret_path, int *ret_fd,
                    nox_error *err) NOX_HIDDEN;
/* Opens sandboxes/<id> (O_RDONLY|O_DIRECTORY); NOX_E_NOT_FOUND when missing. */
int nox__sandbox_open(nox_local *l, const char *id, int *ret_fd, nox_error *err) NOX_HIDDEN;
/* Opens and locks sandboxes/<id>, making sure the lock is on the directory
 * that is still at that name (a delete may have moved it away). */
int nox__sandbox_lock(nox_local *l, const char *id, int *ret_fd, nox_error *err) NOX_HIDDEN;
/* Expiry: reads the expiry (unix seconds) and TTL of an open sandbox. */
int nox__expiry_read(int sbfd, int64_t *ret_expires, int64_t *ret_ttl) NOX_HIDDEN;
/* 1 when the sandbox's expiry has passed, 0 when not, -1 on failure. */
int nox__expiry_expired(int sbfd) NOX_HIDDEN;
/* Sets expiry to now + TTL (TTL rewritten when @p ttl > 0). 1 when that
 * moved an existing expiry earlier (the holder must be told:
 * nox__pod_expiry_moved), else 0; -1 on failure. */
int nox__expiry_touch(int sbfd, int64_t ttl) NOX_HIDDEN;
/* For a use of the sandbox: 1 when it has expired (left as is), else 0
 * after resetting its expiry to now + its TTL; -1 on failure. One open. */
int nox__expiry_use(int sbfd) NOX_HIDDEN;
/* Removes a locked sandbox: stops its holder, removes its cgroups, moves
 * it to the trash, frees its uid slot, deletes its files. */
int nox__sandbox_destroy(nox_local *l, const char *id, int sbfd, nox_error *err) NOX_HIDDEN;
/* Removes expired sandboxes and leftovers in tmp/ and trash/. */
int nox__store_sweep(nox_local *l, size_t *ret_count, nox_error *err) NOX_HIDDEN;
/* Recursively removes @p name under @p dirfd, never following links. */
int nox__remove_tree_at(int dirfd, const char *name) NOX_HIDDEN;
/* Takes a free uid slot for @p id; returns the slot or a negative code. */
int64_t nox__uid_slot_take(nox_local *l, const char *id, nox_error *err) NOX_HIDDEN;
void nox__uid_slot_release(nox_local *l, int64_t slot) NOX_HIDDEN;
/* The same on a state directory's descriptor, for the spares' thread:
 * the slot recorded as @p owner's, or -errno (-ENOSPC: all in use). */
int64_t nox__uid_slot_take_at(int state_fd, const char *owner) NOX_HIDDEN;
void nox__uid_slot_release_at(int state_fd, int64_t slot) NOX_HIDDEN;
/* Records @p slot (taken by a spare holder) as sandbox @p id's. */
int nox__uid_slot_claim(nox_local *l, int64_t slot, const char *id, nox_error *err) NOX_HIDDEN;
/* A spare holder's uid slot names the process that keeps the spare:
 * NOX_SPARE_SLOT_PREFIX "<pid> <start time>". */
#define NOX_SPARE_SLOT_PREFIX "spare "
bool nox__spare_owner_alive(const char *owner) NOX_HIDDEN;

/* Uploads into sandbox @p id whose process died: those that had begun to
 * change the workspace are finished (so the workspace gets all of an
 * archive or none of it), those that had not are removed when their
 * staging directory is older than @p orphan_before (unix seconds; 0: never).
 * Cheap when there are none: one fstatat(). Failures are left for the
 * next call. */
void nox__staging_recover(nox_local *l, const char *id, int sbfd, int64_t orphan_before) NOX_HIDDEN;

/* Re-creates the cgroups of @p m when one is missing (a process killed in
 * the middle of a delete, a host reboot) before its holder restarts; the
 * new directories go to @p m. */
void nox__cgroups_ensure(nox_local *l, nox_meta *m) NOX_HIDDEN;

/* ---- the holder, library side ---- */
/* A spare holder, prepared ahead of its sandbox (see pod.c). */
typedef struct nox_prepared {
    pid_t pid;
    int sock; /* -1 once used or discarded */
    uint64_t start;
    int64_t uid_slot; /* its ids: the sandbox takes the slot over */
} nox_prepared;

/* Whether spares can be prepared holders here (@p privileged: running as
 * root), with a sentence saying what they are. */
bool nox__pod_can_prepare(bool privileged, const char **ret_why) NOX_HIDDEN;
/* Takes a prepared holder for a create of @p l, when the spares have one. */
bool nox__pod_take_prepared(nox_local *l, nox_prepared *ret) NOX_HIDDEN;
/* Ends a prepared holder that was taken but not used (its uid slot is
 * left to the caller). No-op once used. */
void nox__pod_prepared_discard(nox_prepared *p) NOX_HIDDEN;
/* Starts the holder of a locked sandbox whose holder is not running. @p dir
 * is where the sandbox is, relative to the state directory (NULL for
 * "sandboxes/ID"); an isolated holder opens the workspace there once.
 * With @p prep (taken for this create, its uid slot the sandbox's), that
 * holder is claimed instead; it is used or ended either way. */
int nox__pod_start(nox_local *l, const char *id, const char *dir, int sbfd, nox_meta *m,
                   nox_prepared *prep, nox_error *err) NOX_HIDDEN;
/* Connects to the holder's control socket; -ENOENT/-ECONNREFUSED when it
 * does not run. */
int nox__pod_connect(int sbfd) NOX_HIDDEN;
/* Runs one command through the holder. */
int nox__pod_exec(nox_local *l, const char *id, int sbfd, const char *const *argv,
                  const nox_exec_options *opts, nox_exec_result **ret_res,
                  nox_error *err) NOX_HIDDEN;
/* Asks the holder to kill everything and exit; falls back to killing the
 * recorded pid. */
void nox__pod_stop(int sbfd, const nox_meta *m) NOX_HIDDEN;
/* Tells the holder of @p m that its expiry moved earlier: it sleeps until
 * the expiry it last read (SIGUSR1, guarded by its start time). */
void nox__pod_expiry_moved(const nox_meta *m) NOX_HIDDEN;
/* PING: NOX_OK and the status, or a negative code when not running. */
int nox__pod_ping(int sbfd, struct nox_holder_status *ret_st) NOX_HIDDEN;
/* Finds the nox-init helper. */
int nox__find_init(const char *opt, char **ret_path, nox_error *err) NOX_HIDDEN;

#define NOX_POD_NAME_PREFIX "nox-"

#endif
