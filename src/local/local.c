/* SPDX-License-Identifier: MIT */
/* The local backend's operations (the vtable the client facade calls). */
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>

#include <noxrunner/wire.h>

#include "../tarball.h"
#include "local.h"

#define DEFAULT_UID_BASE 1000000000u
#define MIN_MEMORY       (8ull << 20)
#define MIN_STORAGE      (1ull << 20)

void nox__local_limits_fill(nox_local_limits *l)
{
    if (!l->default_memory_bytes)
        l->default_memory_bytes = 512ull << 20;
    if (!l->default_cpu_millis)
        l->default_cpu_millis = 1000;
    if (!l->default_storage_bytes)
        l->default_storage_bytes = 1ull << 30;
    if (!l->max_pids)
        l->max_pids = 512;
    if (!l->max_open_files)
        l->max_open_files = 1024;
    if (!l->tmp_bytes)
        l->tmp_bytes = 64ull << 20;
    if (!l->max_exec_timeout_seconds)
        l->max_exec_timeout_seconds = 3600;
    if (!l->max_ttl_seconds)
        l->max_ttl_seconds = 7 * 24 * 3600;
    if (!l->max_request_bytes)
        l->max_request_bytes = 1 << 20;
}

static nox_local *L(nox_backend *b)
{
    return (nox_local *)b;
}

static const nox_cgroup_host *cgroups(nox_local *l)
{
    if (!l->cg_detected) {
        nox__cgroup_detect(&l->cg);
        l->cg_detected = true;
    }
    return &l->cg;
}

/* ---- sandbox descriptions ---- */

static void format_time(int64_t t, char *buf, size_t size)
{
    if (nox_wire_format_time(t, buf, size) < 0)
        snprintf(buf, size, "1970-01-01T00:00:00Z");
}

static int describe(nox_local *l, int sbfd, const nox_meta *m, bool with_usage,
                    nox_sandbox **ret_sb, nox_error *err)
{
    nox_sandbox *sb = nox__sandbox_new();
    if (!sb)
        return nox__error_oom(err);
    int64_t expires = 0;
    nox__expiry_read(sbfd, &expires, NULL);
    char t1[32], t2[32];
    format_time(expires, t1, sizeof t1);
    format_time(m->created_at, t2, sizeof t2);
    sb->id = nox__strdup0(m->id);
    sb->pod_name = nox__strdup0(m->pod_name);
    sb->expires_at = strdup(t1);
    sb->expires_at_unix = expires;
    sb->created_at = strdup(t2);
    sb->ttl_seconds = m->ttl_seconds;
    sb->image = nox__strdup0(m->image);
    sb->isolation = strdup(m->isolated ? "namespaces" : "none");
    if (with_usage) {
        struct nox_holder_status st;
        sb->running = nox__pod_ping(sbfd, &st) == 0 ? 1 : 0;
        int wfd = openat(sbfd, "workspace", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (wfd >= 0) {
            sb->disk_used_bytes = (int64_t)nox__tree_usage(wfd, UINT64_MAX);
            close(wfd);
        }
    }
    bool oom = !sb->id || !sb->pod_name || !sb->expires_at || !sb->created_at || !sb->isolation;
    if (m->report)
        for (size_t i = 0; i < m->report->n_limits && !oom; i++) {
            const nox_limit_info *li = &m->report->limits[i];
            oom = nox__sandbox_add_limit(sb, li->name, li->requested, li->value, li->enforced,
                                         li->mechanism, li->reason) < 0;
        }
    (void)l;
    if (oom) {
        nox_sandbox_free(sb);
        return nox__error_oom(err);
    }
    *ret_sb = sb;
    return 0;
}

/* What this host enforces for a new sandbox, computed once at creation. */
static int build_report(nox_local *l, nox_meta *m, const nox_cgroup_set *cg, nox_error *err)
{
    const nox_local_limits *lim = &l->base.opts->limits;
    nox_sandbox *r = nox__sandbox_new();
    if (!r)
        return nox__error_oom(err);
    char mech[3][16];
    for (int i = 0; i < NOX_CG_COUNT; i++)
        snprintf(mech[i], sizeof mech[i], "cgroup-v%d", cg->version[i]);
    int bad = 0;
    if (cg->enforced[NOX_CG_MEMORY])
        bad |= nox__sandbox_add_limit(r, "memory", m->memory_requested, m->memory_bytes, true,
                                      mech[NOX_CG_MEMORY], NULL);
    else
        bad |= nox__sandbox_add_limit(
            r, "memory", m->memory_requested, m->memory_bytes, true, "rlimit",
            cg->reason[NOX_CG_MEMORY] ? cg->reason[NOX_CG_MEMORY]
                                      : "no memory cgroup: RLIMIT_DATA bounds "
                                        "each process, not the sandbox");
    bad |= nox__sandbox_add_limit(
        r, "cpu", m->cpu_requested, m->cpu_milli, cg->enforced[NOX_CG_CPU],
        cg->enforced[NOX_CG_CPU] ? mech[NOX_CG_CPU] : NULL, cg->reason[NOX_CG_CPU]);
    bad |= nox__sandbox_add_limit(
        r, "ephemeralStorage", m->storage_requested, m->storage_bytes, true, "monitor+rlimit",
        "checked every 250 ms during an exec and every 2 s otherwise (a fast writer can pass it "
        "briefly; offenders are killed, as kubelet evicts); RLIMIT_FSIZE caps each file");
    if (cg->enforced[NOX_CG_PIDS])
        bad |=
            nox__sandbox_add_limit(r, "pids", NULL, lim->max_pids, true, mech[NOX_CG_PIDS], NULL);
    else if (m->isolated)
        bad |= nox__sandbox_add_limit(r, "pids", NULL, lim->max_pids, true, "rlimit",
                                      "RLIMIT_NPROC in the sandbox's user namespace");
    else
        bad |= nox__sandbox_add_limit(r, "pids", NULL, lim->max_pids, false, NULL,
                                      cg->reason[NOX_CG_PIDS]);
    bad |= nox__sandbox_add_limit(r, "openFiles", NULL, lim->max_open_files, true, "rlimit", NULL);
    bad |= nox__sandbox_add_limit(r, "fileSize", NULL, m->storage_bytes, true, "rlimit", NULL);
    if (m->isolated)
        bad |= nox__sandbox_add_limit(r, "tmp", NULL, lim->tmp_bytes, true, "tmpfs", NULL);
    else
        bad |= nox__sandbox_add_limit(r, "tmp", NULL, lim->tmp_bytes, false, NULL,
                                      "unisolated: commands share the host's /tmp");
    bad |= nox__sandbox_add_limit(r, "output", NULL, l->base.opts->max_output_bytes, true,
                                  "capture", NULL);
    bad |= nox__sandbox_add_limit(r, "timeout", NULL, lim->max_exec_timeout_seconds, true, "holder",
                                  NULL);
    if (bad) {
        nox_sandbox_free(r);
        return nox__error_oom(err);
    }
    m->report = r;
    return 0;
}

void nox__cgroups_ensure(nox_local *l, nox_meta *m)
{
    bool missing = false;
    for (size_t i = 0; i < m->n_cgroup_dirs; i++)
        if (access(m->cgroup_dirs[i], F_OK) < 0)
            missing = true;
    if (!missing || !m->cgroup_name)
        return;
    nox_cgroup_limits cl = { m->memory_bytes, m->cpu_milli, l->base.opts->limits.max_pids };
    nox_cgroup_set cg;
    nox__cgroup_create(cgroups(l), l->base.opts->cgroup_parent, m->cgroup_name, &cl, &cg);
    for (size_t i = 0; i < m->n_cgroup_dirs; i++)
        free(m->cgroup_dirs[i]);
    m->n_cgroup_dirs = 0;
    for (size_t i = 0; i < cg.n_dirs; i++)
        m->cgroup_dirs[m->n_cgroup_dirs++] = steal_pointer(&cg.dirs[i]);
    nox__cgroup_set_clear(&cg);
}

/* ---- create ---- */

static int quantity_value(const char *text, const char *field, uint64_t dflt_value, bool bytes,
                          uint64_t min, uint64_t *ret, nox_error *err)
{
    if (!text) {
        *ret = dflt_value;
        return 0;
    }
    uint64_t milli;
    int r = nox_parse_quantity(text, &milli, err);
    if (r < 0)
        return nox__error_prefix(err, r, "%s", field);
    uint64_t v = bytes ? milli / 1000 + (milli % 1000 != 0) : milli;
    if (v < min)
        return nox__error_set(err, NOX_E_INVALID, "%s `%s` is below the minimum of %llu%s", field,
                              text, (unsigned long long)min, bytes ? " bytes" : " millicores");
    *ret = v;
    return 0;
}

static int random_hex(char *buf, size_t size)
{
    uint32_t v;
    if (getrandom(&v, sizeof v, 0) != sizeof v)
        v = (uint32_t)nox__now_mono_ns();
    return snprintf(buf, size, "%08x", v);
}

/* Makes a new sandbox under tmp/ and renames it into place, holding its
 * lock throughout so nobody sees it before its holder runs. Returns 1 when
 * another process created the id first. */
static int create_new(nox_local *l, const char *id, const nox_create_options *o,
                      nox_sandbox **ret_sb, nox_error *err)
{
    const nox_local_limits *lim = &l->base.opts->limits;
    nox_meta m;
    memset(&m, 0, sizeof m);
    m.uid_slot = -1;
    nox_prepared prep = { .sock = -1, .uid_slot = -1 };
    int r;
    if ((r = quantity_value(o->memory_limit, "memoryLimit", lim->default_memory_bytes, true,
                            MIN_MEMORY, &m.memory_bytes, err)) < 0 ||
        (r = quantity_value(o->cpu_limit, "cpuLimit", lim->default_cpu_millis, false, 1,
                            &m.cpu_milli, err)) < 0 ||
        (r = quantity_value(o->ephemeral_storage_limit, "ephemeralStorageLimit",
                            lim->default_storage_bytes, true, MIN_STORAGE, &m.storage_bytes, err)) <
            0)
        return r;

    char rnd[16], tmp[NOX_SESSION_ID_MAX + 32];
    random_hex(rnd, sizeof rnd);
    snprintf(tmp, sizeof tmp, "tmp/%s.%s", id, rnd);
    if (mkdirat(l->state_fd, tmp, 0700) < 0)
        return nox__error_errno(err, NOX_E_IO, errno, "create `%s/%s`", l->state_dir, tmp);
    _cleanup_close_ int sbfd = openat(l->state_fd, tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (sbfd < 0 || flock(sbfd, LOCK_EX) < 0) {
        r = nox__error_errno(err, NOX_E_IO, errno, "open `%s/%s`", l->state_dir, tmp);
        goto fail;
    }
    m.id = strdup(id);
    m.pod_name = nox__asprintf("%s%s", NOX_POD_NAME_PREFIX, id);
    m.image = nox__strdup0(o->image);
    m.cpu_requested = nox__strdup0(o->cpu_limit);
    m.memory_requested = nox__strdup0(o->memory_limit);
    m.storage_requested = nox__strdup0(o->ephemeral_storage_limit);
    m.cgroup_name = nox__asprintf("%s.%s", id, rnd);
    if (!m.id || !m.pod_name || !m.cgroup_name) {
        r = nox__error_oom(err);
        goto fail;
    }
    m.created_at = nox__now_unix();
    m.ttl_seconds = o->ttl_seconds;
    m.isolated = l->isolated;
    m.host_uid = l->uid;
    m.host_gid = l->gid;
    if (l->privileged && l->isolated) {
        /* A prepared holder comes with its uid slot (its ids are mapped
         * already); the sandbox takes the slot over. */
        int64_t slot;
        if (nox__pod_take_prepared(l, &prep)) {
            slot = m.uid_slot = prep.uid_slot;
            if ((r = nox__uid_slot_claim(l, slot, id, err)) < 0)
                goto fail;
        } else if ((slot = nox__uid_slot_take(l, id, err)) < 0) {
            r = (int)slot;
            goto fail;
        }
        m.uid_slot = slot;
        m.host_uid = m.host_gid = l->uid_base + (uint32_t)slot;
    }
    /* staging/ is made by the first upload: one inode fewer per create. */
    if (mkdirat(sbfd, "workspace", 0755) < 0) {
        r = nox__error_errno(err, NOX_E_IO, errno, "create the workspace of sandbox `%s`", id);
        goto fail;
    }
    if (m.host_uid != l->uid &&
        fchownat(sbfd, "workspace", m.host_uid, m.host_gid, AT_SYMLINK_NOFOLLOW) < 0) {
        r = nox__error_errno(err, NOX_E_IO, errno, "give the workspace of `%s` to uid %u", id,
                             (unsigned)m.host_uid);
        goto fail;
    }
    nox_cgroup_limits cl = { m.memory_bytes, m.cpu_milli, lim->max_pids };
    nox_cgroup_set cg;
    nox__cgroup_create(cgroups(l), l->base.opts->cgroup_parent, m.cgroup_name, &cl, &cg);
    for (size_t i = 0; i < cg.n_dirs; i++)
        m.cgroup_dirs[m.n_cgroup_dirs++] = steal_pointer(&cg.dirs[i]);
    r = build_report(l, &m, &cg, err);
    nox__cgroup_set_clear(&cg);
    if (r < 0)
        goto fail;
    if (nox__expiry_touch(sbfd, m.ttl_seconds) < 0) {
        r = nox__error_errno(err, NOX_E_IO, errno, "write the expiry of sandbox `%s`", id);
        goto fail;
    }
    /* An isolated holder opens its workspace once, at start, so it can
     * start while the sandbox is still under tmp/: the sandbox then appears
     * complete and running, with its metadata written once. An unisolated
     * holder maps /workspace to the final path at every exec, so it starts
     * after the rename. */
    if (m.isolated && (r = nox__pod_start(l, id, tmp, sbfd, &m, &prep, err)) < 0)
        goto fail;
    if ((r = nox__meta_save(sbfd, &m, err)) < 0)
        goto fail_stop;
    char final[NOX_SESSION_ID_MAX + 16];
    snprintf(final, sizeof final, "sandboxes/%s", id);
    if (renameat2(l->state_fd, tmp, l->state_fd, final, RENAME_NOREPLACE) < 0) {
        if (errno == EEXIST || errno == ENOTEMPTY) {
            r = 1;
            goto fail_stop;
        }
        r = nox__error_errno(err, NOX_E_IO, errno, "move sandbox `%s` into place", id);
        goto fail_stop;
    }
    if (!m.isolated) {
        /* From here the sandbox exists; if its holder cannot start, it is
         * removed again so a failed create leaves nothing behind. */
        r = nox__pod_start(l, id, final, sbfd, &m, NULL, err);
        if (r == 0)
            r = nox__meta_save(sbfd, &m, err);
        if (r < 0) {
            nox__sandbox_destroy(l, id, sbfd, NULL);
            nox__meta_clear(&m);
            return r;
        }
    }
    r = describe(l, sbfd, &m, false, ret_sb, err);
    nox__meta_clear(&m);
    return r;
fail_stop:
    if (m.holder_pid)
        nox__pod_stop(sbfd, &m);
fail:
    nox__pod_prepared_discard(&prep);
    for (size_t i = 0; i < m.n_cgroup_dirs; i++)
        nox__cgroup_remove(m.cgroup_dirs[i]);
    if (m.uid_slot >= 0)
        nox__uid_slot_release(l, m.uid_slot);
    nox__remove_tree_at(l->state_fd, tmp);
    nox__meta_clear(&m);
    return r;
}

static bool is_expired(int sbfd)
{
    return nox__expiry_expired(sbfd) == 1;
}

static int local_create(nox_backend *b, const char *id, const nox_create_options *o,
                        nox_sandbox **ret_sb, nox_error *err)
{
    nox_local *l = L(b);
    if ((uint64_t)o->ttl_seconds > l->base.opts->limits.max_ttl_seconds)
        return nox__error_set(err, NOX_E_INVALID, "ttlSeconds %ld exceeds the maximum of %llu",
                              o->ttl_seconds,
                              (unsigned long long)l->base.opts->limits.max_ttl_seconds);
    for (int attempt = 0; attempt < 10; attempt++) {
        _cleanup_close_ int sbfd = -1;
        nox_error *probe = nox_error_new();
        int r = nox__sandbox_lock(l, id, &sbfd, probe);
        if (r == NOX_E_NOT_FOUND) {
            nox_error_free(probe);
            r = create_new(l, id, o, ret_sb, err);
            if (r == 1)
                continue; /* lost a race with another create of this id */
            return r;
        }
        if (r < 0) {
            r = nox__error_copy(err, probe);
            nox_error_free(probe);
            return r;
        }
        nox_error_free(probe);
        if (is_expired(sbfd)) {
            /* Expired sandboxes are gone, even if nobody swept them yet. */
            nox__sandbox_destroy(l, id, sbfd, NULL);
            continue;
        }
        /* Idempotent: an existing sandbox keeps its files and limits, and
         * takes the new TTL. */
        nox_meta m;
        if ((r = nox__meta_load(sbfd, id, &m, err)) < 0)
            return r;
        /* Ensuring a sandbox exists promises one this client can use; a
         * client that requires isolation cannot use one made unisolated
         * (its holder refuses every exec). Say so now, before its TTL or
         * its holder are touched, rather than at the first exec. */
        if (l->isolated && !m.isolated) {
            nox__meta_clear(&m);
            return nox__error_set(err, NOX_E_ISOLATION,
                                  "sandbox `%s` exists and was created unisolated, and this "
                                  "client requires isolation; delete and recreate it",
                                  id);
        }
        if (m.ttl_seconds != o->ttl_seconds) {
            m.ttl_seconds = o->ttl_seconds;
            r = nox__meta_save(sbfd, &m, err);
        }
        int moved = r == 0 ? nox__expiry_touch(sbfd, m.ttl_seconds) : 0;
        if (moved < 0)
            r = nox__error_errno(err, NOX_E_IO, errno, "touch sandbox `%s`", id);
        else if (moved > 0)
            nox__pod_expiry_moved(&m); /* a shorter TTL */
        if (r == 0) {
            int s = nox__pod_connect(sbfd);
            if (s >= 0) {
                close(s);
            } else {
                r = nox__pod_start(l, id, NULL, sbfd, &m, NULL, err);
                if (r == 0)
                    r = nox__meta_save(sbfd, &m, err);
            }
        }
        if (r == 0)
            r = describe(l, sbfd, &m, false, ret_sb, err);
        nox__meta_clear(&m);
        return r;
    }
    return nox__error_set(err, NOX_E_IO, "sandbox `%s` kept changing while being created", id);
}

/* ---- the rest ---- */

/* Opens a sandbox for use: exists, not expired; every use resets its TTL
 * clock ("touch and any use may extend it"). */
static int open_for_use(nox_local *l, const char *id, int *ret_fd, nox_error *err)
{
    _cleanup_close_ int sbfd = -1;
    int r = nox__sandbox_open(l, id, &sbfd, err);
    if (r < 0)
        return r;
    r = nox__expiry_use(sbfd);
    if (r == 1) {
        _cleanup_close_ int locked = -1;
        if (nox__sandbox_lock(l, id, &locked, NULL) == 0 && is_expired(locked))
            nox__sandbox_destroy(l, id, locked, NULL);
        return nox__error_set(err, NOX_E_NOT_FOUND, "sandbox `%s` does not exist (it expired)", id);
    }
    /* A read-only state directory (remounted by an administrator, or by
     * ext4 after an error) cannot record the use: the sandbox can still be
     * used, and expires when it was going to. */
    if (r < 0 && errno != EROFS)
        return nox__error_errno(err, NOX_E_IO, errno, "touch sandbox `%s`", id);
    /* An upload whose process died half way through its merge is finished
     * before anything looks at the workspace. */
    nox__staging_recover(l, id, sbfd, 0);
    *ret_fd = steal_fd(&sbfd);
    return 0;
}

static int local_touch(nox_backend *b, const char *id, nox_error *err)
{
    _cleanup_close_ int sbfd = -1;
    return open_for_use(L(b), id, &sbfd, err);
}

static int local_exec(nox_backend *b, const char *id, const char *const *argv,
                      const nox_exec_options *o, nox_exec_result **ret_res, nox_error *err)
{
    nox_local *l = L(b);
    if ((uint64_t)o->timeout_seconds > l->base.opts->limits.max_exec_timeout_seconds)
        return nox__error_set(err, NOX_E_INVALID, "timeoutSeconds %ld exceeds the maximum of %llu",
                              o->timeout_seconds,
                              (unsigned long long)l->base.opts->limits.max_exec_timeout_seconds);
    _cleanup_close_ int sbfd = -1;
    int r = open_for_use(l, id, &sbfd, err);
    if (r < 0)
        return r;
    int64_t t0 = nox__now_mono_ns();
    r = nox__pod_exec(l, id, sbfd, argv, o, ret_res, err);
    /* A long command counts as use until its end (a short one was just
     * counted at its start). */
    if (nox__now_mono_ns() - t0 > 1000000000LL)
        nox__expiry_touch(sbfd, 0);
    return r;
}

/* Opens directory @p rel below the workspace one component at a time,
 * never following a symlink (the sandbox controls the workspace), making
 * missing components when @p create. */
static int open_in_workspace(nox_local *l, int sbfd, const char *id, const char *rel, bool create,
                             const nox_meta *m, int *ret_fd, nox_error *err)
{
    int fd = openat(sbfd, "workspace", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return nox__error_errno(err, NOX_E_IO, errno, "open the workspace of sandbox `%s`", id);
    _cleanup_free_ char *copy = strdup(rel);
    if (!copy) {
        close(fd);
        return nox__error_oom(err);
    }
    char *save = NULL;
    for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
        int next = openat(fd, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (next < 0 && errno == ENOENT && create) {
            if (mkdirat(fd, c, 0755) < 0 && errno != EEXIST) {
                int e = errno;
                close(fd);
                return nox__error_errno(err, NOX_E_IO, e, "create `/workspace/%s` in sandbox `%s`",
                                        rel, id);
            }
            /* The sandbox's user must own what is made for it. */
            if (m && m->host_uid != l->uid &&
                fchownat(fd, c, m->host_uid, m->host_gid, AT_SYMLINK_NOFOLLOW) < 0) {
                int e = errno;
                close(fd);
                return nox__error_errno(err, NOX_E_IO, e, "chown `/workspace/%s` in sandbox `%s`",
                                        rel, id);
            }
            next = openat(fd, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        }
        if (next < 0) {
            int e = errno;
            close(fd);
            if (e == ENOENT)
                return nox__error_set(err, NOX_E_NOT_FOUND,
                                      "`/workspace/%s` does not exist in sandbox `%s`", rel, id);
            if (e == ELOOP || e == ENOTDIR)
                return nox__error_set(err, NOX_E_INVALID,
                                      "`/workspace/%s` in sandbox `%s` is not a directory (or "
                                      "passes through a symlink)",
                                      rel, id);
            return nox__error_errno(err, NOX_E_IO, e, "open `/workspace/%s` in sandbox `%s`", rel,
                                    id);
        }
        close(fd);
        fd = next;
    }
    *ret_fd = fd;
    return 0;
}

/* ---- uploads interrupted by a process that died ---- */

struct recover_ctx {
    nox_local *l;
    const char *id;
    int sbfd;
};

static int recover_dest(void *userdata, const char *label, int *ret_fd, nox_error *err)
{
    struct recover_ctx *c = userdata;
    nox_meta m;
    int r = nox__meta_load(c->sbfd, c->id, &m, err);
    if (r < 0)
        return r;
    r = open_in_workspace(c->l, c->sbfd, c->id, label, true, &m, ret_fd, err);
    nox__meta_clear(&m);
    return r;
}

void nox__staging_recover(nox_local *l, const char *id, int sbfd, int64_t orphan_before)
{
    /* Every exec comes here: on file systems that count a directory's
     * subdirectories in its links (ext4, xfs, tmpfs; btrfs does not), one
     * stat says that there is nothing to do. */
    struct stat st;
    if (fstatat(sbfd, "staging", &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode) ||
        st.st_nlink == 2)
        return;
    int fd = openat(sbfd, "staging", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return;
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return;
    }
    struct recover_ctx ctx = { l, id, sbfd };
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        /* Old enough not to be one whose extraction is between making it
         * and locking it. */
        struct stat sst;
        bool old = orphan_before > 0 && fstatat(fd, e->d_name, &sst, AT_SYMLINK_NOFOLLOW) == 0 &&
                   sst.st_mtim.tv_sec <= orphan_before;
        nox__extract_recover(fd, e->d_name, old, recover_dest, &ctx, NULL);
    }
    closedir(d);
}

static int local_upload(nox_backend *b, const char *id, const char *dest, nox_source *archive,
                        nox_error *err)
{
    nox_local *l = L(b);
    _cleanup_free_ char *rel = NULL;
    int r = nox__workspace_relpath(dest, "dest", &rel, err);
    if (r < 0)
        return r;
    _cleanup_close_ int sbfd = -1;
    if ((r = open_for_use(l, id, &sbfd, err)) < 0)
        return r;
    nox_meta m;
    if ((r = nox__meta_load(sbfd, id, &m, err)) < 0)
        return r;
    _cleanup_close_ int dfd = -1, staging = -1, wfd = -1;
    r = open_in_workspace(l, sbfd, id, rel, true, &m, &dfd, err);
    if (r < 0)
        goto out;
    if (mkdirat(sbfd, "staging", 0700) < 0 && errno != EEXIST) {
        r = nox__error_errno(err, NOX_E_IO, errno, "create the staging area of `%s`", id);
        goto out;
    }
    staging = openat(sbfd, "staging", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    wfd = openat(sbfd, "workspace", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (staging < 0 || wfd < 0) {
        r = nox__error_errno(err, NOX_E_IO, errno, "open the staging area of `%s`", id);
        goto out;
    }
    /* With a commit label, an upload whose process dies once the
     * workspace has begun to change is finished by the next use of the
     * sandbox or the next sweep (nox__staging_recover). */
    nox_extract_opts eo = { .limits = l->base.opts->extract,
                            .staging_parent_fd = staging,
                            .commit_label = rel };
    /* An upload may not take the workspace past its storage limit. */
    uint64_t used = nox__tree_usage(wfd, m.storage_bytes);
    uint64_t room = used >= m.storage_bytes ? 0 : m.storage_bytes - used;
    if (!eo.limits.max_total_bytes || room < eo.limits.max_total_bytes)
        eo.limits.max_total_bytes = room ? room : 1;
    if (m.host_uid != l->uid) {
        eo.chown = true;
        eo.uid = m.host_uid;
        eo.gid = m.host_gid;
    }
    r = nox__extract(archive, dfd, &eo, NULL, err);
    if (r == NOX_E_LIMIT && err && (err->sys_errno == ENOSPC || err->sys_errno == EDQUOT))
        nox__error_prefix(err, r,
                          "upload into sandbox `%s`: the file system of the state directory "
                          "is full (not the sandbox's limit)",
                          id);
    else if (r == NOX_E_LIMIT && room < l->base.opts->extract.max_total_bytes)
        nox__error_prefix(err, r,
                          "upload into sandbox `%s` (ephemeral storage limit %llu bytes, "
                          "%llu in use)",
                          id, (unsigned long long)m.storage_bytes, (unsigned long long)used);
out:
    nox__meta_clear(&m);
    return r;
}

static int local_download_open(nox_backend *b, const char *id, const char *src,
                               nox_source **ret_src, nox_error *err)
{
    nox_local *l = L(b);
    _cleanup_free_ char *rel = NULL;
    int r = nox__workspace_relpath(src, "src", &rel, err);
    if (r < 0)
        return r;
    _cleanup_close_ int sbfd = -1;
    if ((r = open_for_use(l, id, &sbfd, err)) < 0)
        return r;
    int fd = -1;
    const char *file_name = NULL;
    /* The last component may be a regular file: then the archive holds
     * that one file. */
    char *slash = strrchr(rel, '/');
    const char *last = slash ? slash + 1 : rel;
    _cleanup_close_ int parent = -1;
    if (*rel) {
        _cleanup_free_ char *dir = strndup(rel, slash ? (size_t)(slash - rel) : 0);
        if (!dir)
            return nox__error_oom(err);
        if ((r = open_in_workspace(l, sbfd, id, dir, false, NULL, &parent, err)) < 0)
            return r;
        /* O_NONBLOCK: a fifo planted in the workspace must not hang us. */
        fd = openat(parent, last, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0) {
            if (errno == ENOENT)
                return nox__error_set(err, NOX_E_NOT_FOUND, "`%s` does not exist in sandbox `%s`",
                                      src, id);
            return nox__error_errno(err, errno == ELOOP ? NOX_E_INVALID : NOX_E_IO, errno,
                                    "open `%s` in sandbox `%s`", src, id);
        }
        struct stat st;
        if (fstat(fd, &st) < 0 || !(S_ISDIR(st.st_mode) || S_ISREG(st.st_mode))) {
            close(fd);
            return nox__error_set(err, NOX_E_INVALID,
                                  "`%s` in sandbox `%s` is neither a directory nor a file", src,
                                  id);
        }
        fcntl(fd, F_SETFL, 0);
        if (S_ISREG(st.st_mode))
            file_name = last;
    } else {
        if ((r = open_in_workspace(l, sbfd, id, "", false, NULL, &fd, err)) < 0)
            return r;
    }
    return nox__tar_from_fd(fd, file_name, l->base.opts->gzip_level, l->base.opts->gzip_threads,
                            ret_src, err);
}

static int local_remove(nox_backend *b, const char *id, nox_error *err)
{
    nox_local *l = L(b);
    _cleanup_close_ int sbfd = -1;
    int r = nox__sandbox_lock(l, id, &sbfd, err);
    if (r < 0)
        return r;
    /* Expired is gone, for delete as for every other operation; it is
     * removed now all the same. */
    bool expired = is_expired(sbfd);
    r = nox__sandbox_destroy(l, id, sbfd, err);
    if (r == 0 && expired)
        return nox__error_set(err, NOX_E_NOT_FOUND, "sandbox `%s` does not exist (it expired)", id);
    return r;
}

static int local_info(nox_backend *b, const char *id, nox_sandbox **ret_sb, nox_error *err)
{
    nox_local *l = L(b);
    _cleanup_close_ int sbfd = -1;
    int r = nox__sandbox_open(l, id, &sbfd, err);
    if (r < 0)
        return r;
    if (is_expired(sbfd))
        return nox__error_set(err, NOX_E_NOT_FOUND, "sandbox `%s` does not exist (it expired)", id);
    nox_meta m;
    if ((r = nox__meta_load(sbfd, id, &m, err)) < 0)
        return r;
    r = describe(l, sbfd, &m, true, ret_sb, err);
    nox__meta_clear(&m);
    return r;
}

static int cmp_sandbox(const void *a, const void *b)
{
    return strcmp(((const nox_sandbox *)a)->id, ((const nox_sandbox *)b)->id);
}

static int local_list(nox_backend *b, nox_sandbox_list **ret_list, nox_error *err)
{
    nox_local *l = L(b);
    int fd = openat(l->state_fd, "sandboxes", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return nox__error_errno(err, NOX_E_IO, errno, "open `%s/sandboxes`", l->state_dir);
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return nox__error_errno(err, NOX_E_IO, errno, "read `%s/sandboxes`", l->state_dir);
    }
    nox_sandbox_list *list = calloc(1, sizeof *list);
    size_t cap = 0;
    int r = list ? 0 : nox__error_oom(err);
    struct dirent *e;
    while (r == 0 && (e = readdir(d))) {
        if (e->d_name[0] == '.' || nox__check_session_id(e->d_name, NULL) < 0)
            continue;
        _cleanup_close_ int sbfd =
            openat(fd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sbfd < 0 || is_expired(sbfd))
            continue;
        nox_meta m;
        if (nox__meta_load(sbfd, e->d_name, &m, NULL) < 0)
            continue; /* being created or removed right now */
        nox_sandbox *sb = NULL;
        r = describe(l, sbfd, &m, false, &sb, err);
        nox__meta_clear(&m);
        if (r < 0)
            break;
        if (list->count == cap) {
            size_t nc = cap ? cap * 2 : 16;
            nox_sandbox *items = realloc(list->items, nc * sizeof *items);
            if (!items) {
                nox_sandbox_free(sb);
                r = nox__error_oom(err);
                break;
            }
            list->items = items;
            cap = nc;
        }
        list->items[list->count++] = *sb;
        free(sb);
    }
    closedir(d);
    if (r < 0) {
        nox_sandbox_list_free(list);
        return r;
    }
    if (list->count)
        qsort(list->items, list->count, sizeof *list->items, cmp_sandbox);
    *ret_list = list;
    return 0;
}

static int local_reap(nox_backend *b, size_t *ret_count, nox_error *err)
{
    return nox__store_sweep(L(b), ret_count, err);
}

static int local_health(nox_backend *b, nox_error *err)
{
    nox_local *l = L(b);
    struct stat st;
    if (fstat(l->state_fd, &st) < 0) {
        nox__error_errno(err, NOX_E_IO, errno, "state directory `%s`", l->state_dir);
        return 0;
    }
    if (faccessat(l->state_fd, "sandboxes", W_OK | X_OK, AT_EACCESS) < 0) {
        nox__error_errno(err, NOX_E_IO, errno, "cannot create sandboxes in `%s/sandboxes`",
                         l->state_dir);
        return 0;
    }
    if (access(l->init_path, X_OK) < 0) {
        nox__error_errno(err, NOX_E_ISOLATION, errno, "sandbox helper `%s`", l->init_path);
        return 0;
    }
    return 1;
}

static void local_free(nox_backend *b)
{
    nox_local *l = L(b);
    if (l->state_fd >= 0)
        close(l->state_fd);
    free(l->state_dir);
    free(l->init_path);
    nox__cgroup_host_clear(&l->cg);
    free(l);
}

static const nox_backend_ops local_ops = {
    .name = "local",
    .health = local_health,
    .create = local_create,
    .touch = local_touch,
    .exec = local_exec,
    .upload = local_upload,
    .download_open = local_download_open,
    .remove = local_remove,
    .list = local_list,
    .info = local_info,
    .reap = local_reap,
    .free = local_free,
};

int nox__local_backend_new(const nox_client_options *opts, nox_backend **ret_b, nox_error *err)
{
    nox_local *l = calloc(1, sizeof *l);
    if (!l)
        return nox__error_oom(err);
    l->base.ops = &local_ops;
    l->base.opts = opts;
    l->base.cancel_fd = -1;
    l->state_fd = -1;
    l->cg.layout = "none";
    l->uid = geteuid();
    l->gid = getegid();
    l->privileged = l->uid == 0;
    l->isolated = opts->isolation != NOX_ISOLATION_NONE;
    l->uid_base = DEFAULT_UID_BASE;
    const char *base = getenv("NOXRUNNER_UID_BASE");
    if (base && *base) {
        char *end;
        unsigned long v = strtoul(base, &end, 10);
        if (*end || v == 0 || v > 4000000000ul) {
            local_free(&l->base);
            return nox__error_set(err, NOX_E_INVALID, "NOXRUNNER_UID_BASE `%s` is not a uid", base);
        }
        l->uid_base = (uint32_t)v;
    }
    int r = nox__find_init(opts->init_path, &l->init_path, err);
    if (r == 0)
        r = nox__store_open(opts, &l->state_dir, &l->state_fd, err);
    l->base.location = l->state_dir;
    if (r == 0 && opts->sweep_expired)
        r = nox__store_sweep(l, NULL, err);
    if (r < 0) {
        local_free(&l->base);
        return r;
    }
    if (!l->isolated && opts->on_warning)
        opts->on_warning(opts->warning_userdata,
                         l->privileged
                             ? "WARNING: sandboxes run UNISOLATED: commands run directly on this "
                               "host AS ROOT, with rlimits only. Use this only for code you trust."
                             : "WARNING: sandboxes run UNISOLATED: commands run directly on this "
                               "host as your user, with rlimits only. Use this only for code you "
                               "trust.");
    *ret_b = &l->base;
    return 0;
}
