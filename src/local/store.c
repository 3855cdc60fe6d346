/* SPDX-License-Identifier: MIT */
/* The sandbox store on disk: state directory, metadata, expiry, locks,
 * removal. See local.h for the layout. */
#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <pwd.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "local.h"

#define META_FILE "meta.json"
#define META_MAX  (1 << 20)
#define UID_SLOTS 1000000

#define _cleanup_json_ _cleanup_(json_decrefp)

/* ---- state directory ---- */

static int mkdir_parents_of(const char *path, nox_error *err)
{
    _cleanup_free_ char *p = strdup(path);
    if (!p)
        return nox__error_oom(err);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, 0755) < 0 && errno != EEXIST)
            return nox__error_errno(err, NOX_E_IO, errno, "create directory `%s`", p);
        *s = '/';
    }
    return 0;
}

static char *default_state_dir(nox_error *err)
{
    const char *env = getenv("NOXRUNNER_STATE_DIR");
    if (env && *env)
        return strdup(env);
    if (geteuid() == 0)
        return strdup("/var/lib/noxrunner");
    const char *xdg = getenv("XDG_STATE_HOME");
    if (xdg && xdg[0] == '/')
        return nox__asprintf("%s/noxrunner", xdg);
    const char *home = getenv("HOME");
    if (!home || home[0] != '/') {
        struct passwd pw, *res = NULL;
        char buf[4096];
        if (getpwuid_r(geteuid(), &pw, buf, sizeof buf, &res) == 0 && res)
            return nox__asprintf("%s/.local/state/noxrunner", res->pw_dir);
        nox__error_set(err, NOX_E_INVALID,
                       "no state directory: set NOXRUNNER_STATE_DIR or the state_dir option");
        return NULL;
    }
    return nox__asprintf("%s/.local/state/noxrunner", home);
}

int nox__store_open(const nox_client_options *opts, char **ret_path, int *ret_fd, nox_error *err)
{
    _cleanup_free_ char *path = opts->state_dir ? strdup(opts->state_dir) : default_state_dir(err);
    if (!path)
        return nox_error_code(err) ? nox_error_code(err) : nox__error_oom(err);
    if (path[0] != '/') {
        /* A relative state directory would depend on the cwd of whoever
         * runs next; make it absolute now. */
        char cwd[4096];
        if (!getcwd(cwd, sizeof cwd))
            return nox__error_errno(err, NOX_E_IO, errno, "getcwd");
        char *abs = nox__asprintf("%s/%s", cwd, path);
        if (!abs)
            return nox__error_oom(err);
        free(path);
        path = abs;
    }
    int r = mkdir_parents_of(path, err);
    if (r < 0)
        return r;
    if (mkdir(path, 0700) < 0 && errno != EEXIST)
        return nox__error_errno(err, NOX_E_IO, errno, "create state directory `%s`", path);
    _cleanup_close_ int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return nox__error_errno(err, NOX_E_IO, errno, "open state directory `%s`", path);
    struct stat st;
    if (fstat(fd, &st) < 0)
        return nox__error_errno(err, NOX_E_IO, errno, "stat `%s`", path);
    /* Sandboxes of one user must not be reachable by another. */
    if (st.st_uid != geteuid())
        return nox__error_set(err, NOX_E_IO,
                              "state directory `%s` belongs to uid %u, not to this user (%u)", path,
                              (unsigned)st.st_uid, (unsigned)geteuid());
    if (st.st_mode & 077)
        fchmod(fd, st.st_mode & ~(mode_t)077);
    static const char *const subdirs[] = { "sandboxes", "tmp", "trash", "uids" };
    for (size_t i = 0; i < NOX_ARRAY_SIZE(subdirs); i++)
        if (mkdirat(fd, subdirs[i], 0700) < 0 && errno != EEXIST)
            return nox__error_errno(err, NOX_E_IO, errno, "create `%s/%s`", path, subdirs[i]);
    *ret_path = steal_pointer(&path);
    *ret_fd = steal_fd(&fd);
    return 0;
}

/* ---- opening and locking sandboxes ---- */

int nox__sandbox_open(nox_local *l, const char *id, int *ret_fd, nox_error *err)
{
    char rel[NOX_SESSION_ID_MAX + 16];
    snprintf(rel, sizeof rel, "sandboxes/%s", id);
    int fd = openat(l->state_fd, rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return nox__error_set(err, NOX_E_NOT_FOUND, "sandbox `%s` does not exist", id);
        return nox__error_errno(err, NOX_E_IO, errno, "open sandbox `%s`", id);
    }
    *ret_fd = fd;
    return 0;
}

int nox__sandbox_lock(nox_local *l, const char *id, int *ret_fd, nox_error *err)
{
    char rel[NOX_SESSION_ID_MAX + 16];
    snprintf(rel, sizeof rel, "sandboxes/%s", id);
    for (int attempt = 0; attempt < 100; attempt++) {
        _cleanup_close_ int fd = -1;
        int r = nox__sandbox_open(l, id, &fd, err);
        if (r < 0)
            return r;
        while (flock(fd, LOCK_EX) < 0)
            if (errno != EINTR)
                return nox__error_errno(err, NOX_E_IO, errno, "lock sandbox `%s`", id);
        /* While we waited, a delete may have moved this directory to the
         * trash and a create may have put a new one at the name. */
        struct stat a, b;
        if (fstat(fd, &a) == 0 && fstatat(l->state_fd, rel, &b, AT_SYMLINK_NOFOLLOW) == 0 &&
            a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
            *ret_fd = steal_fd(&fd);
            return 0;
        }
    }
    return nox__error_set(err, NOX_E_IO, "sandbox `%s` keeps changing; cannot lock it", id);
}

/* ---- expiry ---- */

/* A sandbox's expiry is the mtime of its `expires` file: one futimens per
 * use, and the holder watches it through a descriptor of its own. Its TTL
 * lives beside it in `ttl`, replaced by rename when a create asks for
 * another one. It used to be the content of `expires` itself, rewritten in
 * place; but any write sets the mtime to now until the futimens that
 * follows, and for that moment every other process, holder included, saw
 * an expired sandbox (test_load caught an exec failing so while creates of
 * the same sandbox changed its TTL). `expires` is written once, when the
 * sandbox is made and nobody else can see it, and keeps that first TTL as
 * content for sandboxes made before `ttl` existed. */
#define TTL_FILE     "ttl"
#define TTL_DEFAULT  900
#define EXPIRES_FILE "expires"

/* The TTL: `ttl`, else the content of the expires file @p efd. */
static int64_t read_ttl(int sbfd, int efd)
{
    char buf[32];
    ssize_t n = -1;
    _cleanup_close_ int fd = openat(sbfd, TTL_FILE, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0)
        n = pread(fd, buf, sizeof buf - 1, 0);
    if (n <= 0 && efd >= 0)
        n = pread(efd, buf, sizeof buf - 1, 0);
    buf[n > 0 ? n : 0] = '\0';
    int64_t ttl = strtoll(buf, NULL, 10);
    return ttl > 0 ? ttl : TTL_DEFAULT;
}

/* Replaces `ttl` whole: a temporary name of this writer's own (two
 * creates may change it at once), then rename. */
static int write_ttl(int sbfd, int64_t ttl)
{
    char buf[32], tmp[64];
    int n = snprintf(buf, sizeof buf, "%lld\n", (long long)ttl);
    uint64_t rnd = 0;
    if (getrandom(&rnd, sizeof rnd, GRND_NONBLOCK) < 0)
        rnd = (uint64_t)nox__now_mono_ns();
    snprintf(tmp, sizeof tmp, TTL_FILE ".%016llx.tmp", (unsigned long long)rnd);
    int fd = openat(sbfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    int r = nox__write_all(fd, buf, (size_t)n);
    close(fd);
    if (r == 0 && renameat(sbfd, tmp, sbfd, TTL_FILE) == 0)
        return 0;
    unlinkat(sbfd, tmp, 0);
    return -1;
}

int nox__expiry_expired(int sbfd)
{
    int64_t expires;
    if (nox__expiry_read(sbfd, &expires, NULL) < 0)
        return -1;
    return expires <= nox__now_unix() ? 1 : 0;
}

int nox__expiry_read(int sbfd, int64_t *ret_expires, int64_t *ret_ttl)
{
    _cleanup_close_ int fd = openat(sbfd, EXPIRES_FILE, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -1;
    if (ret_ttl)
        *ret_ttl = read_ttl(sbfd, fd);
    *ret_expires = (int64_t)st.st_mtim.tv_sec;
    return 0;
}

int nox__expiry_touch(int sbfd, int64_t ttl)
{
    int flags = O_RDWR | O_NOFOLLOW | O_CLOEXEC | (ttl > 0 ? O_CREAT : 0);
    _cleanup_close_ int fd = openat(sbfd, EXPIRES_FILE, flags, 0600);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0)
        return -1;
    if (ttl > 0) {
        if (st.st_size == 0) {
            /* Just made (O_CREAT), in a sandbox nobody can see yet. */
            char buf[32];
            int n = snprintf(buf, sizeof buf, "%lld\n", (long long)ttl);
            if (pwrite(fd, buf, (size_t)n, 0) != n)
                return -1;
        }
        if (read_ttl(sbfd, fd) != ttl && write_ttl(sbfd, ttl) < 0)
            return -1;
    } else {
        ttl = read_ttl(sbfd, fd);
    }
    int64_t expires = nox__now_unix() + ttl;
    struct timespec ts[2] = { { 0, UTIME_OMIT }, { expires, 0 } };
    if (futimens(fd, ts) < 0)
        return -1;
    /* A file just made (size 0 above) has no holder watching it yet. */
    return st.st_size > 0 && expires < (int64_t)st.st_mtim.tv_sec ? 1 : 0;
}

int nox__expiry_use(int sbfd)
{
    _cleanup_close_ int fd = openat(sbfd, EXPIRES_FILE, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0)
        return -1;
    int64_t now = nox__now_unix();
    if ((int64_t)st.st_mtim.tv_sec <= now)
        return 1;
    struct timespec ts[2] = { { 0, UTIME_OMIT }, { now + read_ttl(sbfd, fd), 0 } };
    return futimens(fd, ts) < 0 ? -1 : 0;
}

/* ---- metadata ---- */

void nox__meta_clear(nox_meta *m)
{
    free(m->id);
    free(m->pod_name);
    free(m->image);
    free(m->cpu_requested);
    free(m->memory_requested);
    free(m->storage_requested);
    free(m->cgroup_name);
    for (size_t i = 0; i < m->n_cgroup_dirs; i++)
        free(m->cgroup_dirs[i]);
    nox_sandbox_free(m->report);
    memset(m, 0, sizeof *m);
    m->uid_slot = -1;
}

static int set_str(json_t *o, const char *key, const char *v)
{
    if (!v)
        return 0;
    return json_object_set_new(o, key, json_string(v));
}

int nox__meta_save(int sbfd, const nox_meta *m, nox_error *err)
{
    _cleanup_json_ json_t *o = json_object();
    if (!o)
        return nox__error_oom(err);
    json_object_set_new(o, "version", json_integer(1));
    set_str(o, "id", m->id);
    set_str(o, "podName", m->pod_name);
    json_object_set_new(o, "createdAt", json_integer(m->created_at));
    json_object_set_new(o, "ttlSeconds", json_integer(m->ttl_seconds));
    set_str(o, "image", m->image);
    set_str(o, "cpuRequested", m->cpu_requested);
    set_str(o, "memoryRequested", m->memory_requested);
    set_str(o, "storageRequested", m->storage_requested);
    json_object_set_new(o, "cpuMilli", json_integer((json_int_t)m->cpu_milli));
    json_object_set_new(o, "memoryBytes", json_integer((json_int_t)m->memory_bytes));
    json_object_set_new(o, "storageBytes", json_integer((json_int_t)m->storage_bytes));
    json_object_set_new(o, "isolated", json_boolean(m->isolated));
    json_object_set_new(o, "hostUid", json_integer(m->host_uid));
    json_object_set_new(o, "hostGid", json_integer(m->host_gid));
    json_object_set_new(o, "uidSlot", json_integer(m->uid_slot));
    set_str(o, "cgroupName", m->cgroup_name);
    json_t *dirs = json_array();
    for (size_t i = 0; i < m->n_cgroup_dirs; i++)
        json_array_append_new(dirs, json_string(m->cgroup_dirs[i]));
    json_object_set_new(o, "cgroupDirs", dirs);
    json_object_set_new(o, "holderPid", json_integer(m->holder_pid));
    json_object_set_new(o, "holderStart", json_integer((json_int_t)m->holder_start));
    if (m->report) {
        json_t *limits = json_array();
        for (size_t i = 0; limits && i < m->report->n_limits; i++) {
            const nox_limit_info *li = &m->report->limits[i];
            json_t *e = json_object();
            set_str(e, "name", li->name);
            set_str(e, "requested", li->requested);
            json_object_set_new(e, "value", json_integer((json_int_t)li->value));
            json_object_set_new(e, "enforced", json_boolean(li->enforced));
            set_str(e, "mechanism", li->mechanism);
            set_str(e, "reason", li->reason);
            json_array_append_new(limits, e);
        }
        json_object_set_new(o, "limits", limits);
    }
    _cleanup_free_ char *text = json_dumps(o, JSON_INDENT(2));
    if (!text)
        return nox__error_oom(err);
    /* Written to a temporary name and renamed: every other process, and a
     * server killed and restarted, sees either the old or the new
     * metadata, never half of one (the page cache outlives a process).
     * Not fsync'd: on this project's machines an fsync of the file and its
     * directory costs ~8 ms, half of a sandbox's creation, and what a
     * machine crash can cost is the metadata of sandboxes made in its last
     * seconds; ext4's rename heuristics (auto_da_alloc) make an old file
     * survive a crash whole. See docs/performance.md. */
    _cleanup_close_ int fd =
        openat(sbfd, META_FILE ".tmp", O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return nox__error_errno(err, NOX_E_IO, errno, "write metadata of sandbox `%s`", m->id);
    if (nox__write_all(fd, text, strlen(text)) < 0 || nox__write_all(fd, "\n", 1) < 0)
        return nox__error_errno(err, NOX_E_IO, errno, "write metadata of sandbox `%s`", m->id);
    if (renameat(sbfd, META_FILE ".tmp", sbfd, META_FILE) < 0)
        return nox__error_errno(err, NOX_E_IO, errno, "replace metadata of sandbox `%s`", m->id);
    return 0;
}

static char *get_str(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? strdup(json_string_value(v)) : NULL;
}

static int64_t get_int(json_t *o, const char *key, int64_t dflt)
{
    json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : dflt;
}

int nox__meta_load(int sbfd, const char *id, nox_meta *m, nox_error *err)
{
    memset(m, 0, sizeof *m);
    m->uid_slot = -1;
    _cleanup_free_ char *text = NULL;
    size_t len = 0;
    if (nox__read_file_at(sbfd, META_FILE, META_MAX, &text, &len) < 0) {
        if (errno == ENOENT)
            return nox__error_set(err, NOX_E_NOT_FOUND, "sandbox `%s` has no metadata", id);
        return nox__error_errno(err, NOX_E_IO, errno, "read metadata of sandbox `%s`", id);
    }
    json_error_t je;
    _cleanup_json_ json_t *o = json_loadb(text, len, 0, &je);
    if (!json_is_object(o))
        return nox__error_set(err, NOX_E_IO, "metadata of sandbox `%s` is corrupt: %s", id,
                              o ? "not an object" : je.text);
    m->id = get_str(o, "id");
    if (!m->id)
        m->id = strdup(id);
    m->pod_name = get_str(o, "podName");
    m->created_at = get_int(o, "createdAt", 0);
    m->ttl_seconds = get_int(o, "ttlSeconds", 900);
    m->image = get_str(o, "image");
    m->cpu_requested = get_str(o, "cpuRequested");
    m->memory_requested = get_str(o, "memoryRequested");
    m->storage_requested = get_str(o, "storageRequested");
    m->cpu_milli = (uint64_t)get_int(o, "cpuMilli", 0);
    m->memory_bytes = (uint64_t)get_int(o, "memoryBytes", 0);
    m->storage_bytes = (uint64_t)get_int(o, "storageBytes", 0);
    m->isolated = json_is_true(json_object_get(o, "isolated"));
    m->host_uid = (uint32_t)get_int(o, "hostUid", 0);
    m->host_gid = (uint32_t)get_int(o, "hostGid", 0);
    m->uid_slot = get_int(o, "uidSlot", -1);
    m->cgroup_name = get_str(o, "cgroupName");
    json_t *dirs = json_object_get(o, "cgroupDirs");
    size_t i;
    json_t *d;
    json_array_foreach(dirs, i, d)
    {
        if (json_is_string(d) && m->n_cgroup_dirs < NOX_CG_COUNT)
            m->cgroup_dirs[m->n_cgroup_dirs++] = strdup(json_string_value(d));
    }
    m->holder_pid = get_int(o, "holderPid", 0);
    m->holder_start = (uint64_t)get_int(o, "holderStart", 0);
    json_t *limits = json_object_get(o, "limits");
    if (json_is_array(limits) && (m->report = nox__sandbox_new())) {
        json_t *e;
        json_array_foreach(limits, i, e)
        {
            _cleanup_free_ char *name = get_str(e, "name");
            _cleanup_free_ char *req = get_str(e, "requested");
            _cleanup_free_ char *mech = get_str(e, "mechanism");
            _cleanup_free_ char *why = get_str(e, "reason");
            if (name)
                nox__sandbox_add_limit(m->report, name, req, (uint64_t)get_int(e, "value", 0),
                                       json_is_true(json_object_get(e, "enforced")), mech, why);
        }
    }
    if (!m->id || !m->pod_name) {
        nox__meta_clear(m);
        return nox__error_set(err, NOX_E_IO, "metadata of sandbox `%s` is incomplete", id);
    }
    return 0;
}

/* ---- removal ---- */

static int remove_children(int dirfd, int depth)
{
    if (depth > 4096)
        return -ELOOP;
    int dfd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
    if (dfd < 0)
        return -errno;
    DIR *d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        return -errno;
    }
    rewinddir(d);
    int result = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (unlinkat(dirfd, e->d_name, 0) == 0)
            continue;
        if (errno != EISDIR && errno != EPERM) {
            if (errno != ENOENT)
                result = -errno;
            continue;
        }
        int r = nox__remove_tree_at(dirfd, e->d_name);
        if (r < 0)
            result = r;
    }
    closedir(d);
    return result;
}

int nox__remove_tree_at(int dirfd, const char *name)
{
    if (unlinkat(dirfd, name, 0) == 0)
        return 0;
    if (errno == ENOENT)
        return 0;
    if (errno != EISDIR && errno != EPERM)
        return -errno;
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == EACCES) {
        /* A sandbox may have made its directories unreadable; they are its
         * owner's (or ours) to open up again. */
        if (fchmodat(dirfd, name, 0700, 0) == 0)
            errno = EACCES;
        fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    }
    if (fd < 0)
        return errno == ENOENT ? 0 : -errno;
    fchmod(fd, 0700);
    int r = remove_children(fd, 0);
    close(fd);
    if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
        return r < 0 ? r : -errno;
    return r;
}

static int random_suffix(char *buf, size_t size)
{
    uint32_t v;
    if (getrandom(&v, sizeof v, 0) != sizeof v)
        v = (uint32_t)nox__now_mono_ns() ^ (uint32_t)getpid();
    return snprintf(buf, size, "%08x", v);
}

int nox__sandbox_destroy(nox_local *l, const char *id, int sbfd, nox_error *err)
{
    nox_meta m;
    bool have_meta = nox__meta_load(sbfd, id, &m, NULL) == 0;
    if (!have_meta) {
        memset(&m, 0, sizeof m);
        m.uid_slot = -1;
    }
    /* A removal ends with a rename out of sandboxes/. Where that cannot
     * happen (a state directory remounted read-only), refuse before
     * stopping anything: failing after it would leave a sandbox without
     * its processes and cgroups, listed but broken. */
    if (faccessat(l->state_fd, "sandboxes", W_OK, AT_EACCESS) < 0 ||
        faccessat(l->state_fd, "trash", W_OK, AT_EACCESS) < 0) {
        int r = nox__error_errno(err, NOX_E_IO, errno,
                                 "cannot delete sandbox `%s`: state directory `%s` is not writable",
                                 id, l->state_dir);
        if (have_meta)
            nox__meta_clear(&m);
        return r;
    }
    nox__pod_stop(sbfd, have_meta ? &m : NULL);
    for (size_t i = 0; i < m.n_cgroup_dirs; i++)
        nox__cgroup_remove(m.cgroup_dirs[i]);
    /* Moving the directory out of sandboxes/ is the moment the sandbox
     * stops existing for everyone; removing its files can then take its
     * time (or fail and be retried by the next sweep). */
    char src[NOX_SESSION_ID_MAX + 16], dst[NOX_SESSION_ID_MAX + 32], rnd[16];
    random_suffix(rnd, sizeof rnd);
    snprintf(src, sizeof src, "sandboxes/%s", id);
    snprintf(dst, sizeof dst, "trash/%s.%s", id, rnd);
    int r = 0;
    if (renameat(l->state_fd, src, l->state_fd, dst) < 0) {
        r = nox__error_errno(err, NOX_E_IO, errno, "move sandbox `%s` to the trash", id);
    } else {
        if (m.uid_slot >= 0)
            nox__uid_slot_release(l, m.uid_slot);
        nox__remove_tree_at(l->state_fd, dst);
    }
    if (have_meta)
        nox__meta_clear(&m);
    return r;
}

/* How old a leftover must be before a sweep takes it for an orphan, and how
 * often the deep part of a sweep runs. */
#define ORPHAN_AGE 60

/* uid slot files whose sandbox is gone: a process killed between a
 * sandbox's removal and the release of its slot leaves one behind. */
static void sweep_uid_slots(nox_local *l, int64_t now)
{
    int fd = openat(l->state_fd, "uids", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return;
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        struct stat st;
        _cleanup_free_ char *id = NULL;
        if (fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
            st.st_mtim.tv_sec > now - ORPHAN_AGE ||
            nox__read_file_at(fd, e->d_name, NOX_SESSION_ID_MAX + 1, &id, NULL) < 0)
            continue;
        /* A spare holder's slot: in use while the process that keeps the
         * spare lives (the spare leaves with it). */
        if (nox__startswith(id, NOX_SPARE_SLOT_PREFIX)) {
            if (!nox__spare_owner_alive(id))
                unlinkat(fd, e->d_name, 0);
            continue;
        }
        if (nox__check_session_id(id, NULL) < 0)
            continue;
        long slot = strtol(e->d_name, NULL, 10);
        _cleanup_close_ int sb = -1;
        bool in_use = false;
        if (nox__sandbox_open(l, id, &sb, NULL) == 0) {
            nox_meta m;
            int r = nox__meta_load(sb, id, &m, NULL);
            /* Unreadable metadata: keep the slot, to be safe. */
            in_use = r < 0 || m.uid_slot == slot;
            if (r == 0)
                nox__meta_clear(&m);
        }
        if (!in_use)
            unlinkat(fd, e->d_name, 0);
    }
    closedir(d);
}

/* The part of a sweep that reads every sandbox: at most once a minute,
 * whoever opens the state directory. */
static void deep_sweep(nox_local *l, int64_t now)
{
    struct stat st;
    if (fstatat(l->state_fd, ".swept", &st, 0) == 0 && st.st_mtim.tv_sec > now - ORPHAN_AGE)
        return;
    _cleanup_close_ int mark =
        openat(l->state_fd, ".swept", O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (mark < 0 || futimens(mark, NULL) < 0)
        return;
    int fd = openat(l->state_fd, "sandboxes", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        DIR *d = fdopendir(fd);
        struct dirent *e;
        while (d && (e = readdir(d))) {
            if (e->d_name[0] == '.')
                continue;
            _cleanup_close_ int sb =
                openat(fd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sb >= 0)
                nox__staging_recover(l, e->d_name, sb, now - ORPHAN_AGE);
        }
        if (d)
            closedir(d);
        else
            close(fd);
    }
    sweep_uid_slots(l, now);
}

int nox__store_sweep(nox_local *l, size_t *ret_count, nox_error *err)
{
    size_t removed = 0;
    int64_t now = nox__now_unix();
    int fd = openat(l->state_fd, "sandboxes", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return nox__error_errno(err, NOX_E_IO, errno, "open `%s/sandboxes`", l->state_dir);
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return nox__error_errno(err, NOX_E_IO, errno, "read `%s/sandboxes`", l->state_dir);
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || nox__check_session_id(e->d_name, NULL) < 0)
            continue;
        /* One fstatat per sandbox for the common case, a live one (every
         * client's start and noxrunnerd's reaper each second come here):
         * its expiry is the mtime of ID/expires. What looks expired is
         * checked again properly, under the sandbox's lock. */
        char rel[sizeof e->d_name + sizeof "/" EXPIRES_FILE];
        struct stat st;
        snprintf(rel, sizeof rel, "%s/" EXPIRES_FILE, e->d_name);
        if (fstatat(fd, rel, &st, AT_SYMLINK_NOFOLLOW) < 0 || (int64_t)st.st_mtim.tv_sec > now)
            continue;
        _cleanup_close_ int locked = -1;
        if (nox__sandbox_lock(l, e->d_name, &locked, NULL) < 0)
            continue;
        /* Re-check under the lock: a touch may have come in between. */
        if (nox__expiry_expired(locked) == 1 &&
            nox__sandbox_destroy(l, e->d_name, locked, NULL) == 0)
            removed++;
    }
    closedir(d);
    /* Leftovers of interrupted creates and deletes. */
    static const char *const leftovers[] = { "trash", "tmp" };
    for (size_t k = 0; k < NOX_ARRAY_SIZE(leftovers); k++) {
        int lfd = openat(l->state_fd, leftovers[k], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (lfd < 0)
            continue;
        DIR *ld = fdopendir(lfd);
        if (!ld) {
            close(lfd);
            continue;
        }
        while ((e = readdir(ld))) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            struct stat st;
            /* A create in progress is young; give it a minute. */
            if (k == 1 && (fstatat(lfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
                           st.st_mtim.tv_sec > now - 60))
                continue;
            nox__remove_tree_at(lfd, e->d_name);
        }
        closedir(ld);
    }
    deep_sweep(l, now);
    if (ret_count)
        *ret_count = removed;
    return 0;
}

/* ---- uid slots (root only) ---- */

static uint32_t hash_id(const char *id)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)id; *p; p++) {
        h ^= *p;
        h *= 16777619u;
    }
    return h;
}

int64_t nox__uid_slot_take_at(int state_fd, const char *owner)
{
    /* Each sandbox gets its own host uid, so per-user kernel limits
     * (RLIMIT_NPROC, inotify, user namespaces) and file ownership never
     * couple two sandboxes. Slots are files made with O_EXCL: allocation
     * is atomic across processes, and starting from a hash of the owner
     * keeps it O(1) in practice. */
    uint32_t start = hash_id(owner) % UID_SLOTS;
    for (uint32_t k = 0; k < UID_SLOTS; k++) {
        uint32_t slot = (start + k) % UID_SLOTS;
        char name[32];
        snprintf(name, sizeof name, "uids/%u", slot);
        int fd = openat(state_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd >= 0) {
            nox__write_all(fd, owner, strlen(owner));
            close(fd);
            return slot;
        }
        if (errno != EEXIST)
            return -errno;
    }
    return -ENOSPC;
}

int64_t nox__uid_slot_take(nox_local *l, const char *id, nox_error *err)
{
    int64_t slot = nox__uid_slot_take_at(l->state_fd, id);
    if (slot == -ENOSPC)
        return nox__error_set(err, NOX_E_LIMIT, "all %d sandbox uids are in use", UID_SLOTS);
    if (slot < 0)
        return nox__error_errno(err, NOX_E_IO, (int)-slot, "take a uid slot in `%s/uids`",
                                l->state_dir);
    return slot;
}

int nox__uid_slot_claim(nox_local *l, int64_t slot, const char *id, nox_error *err)
{
    char name[32];
    snprintf(name, sizeof name, "uids/%lld", (long long)slot);
    _cleanup_close_ int fd = openat(l->state_fd, name, O_WRONLY | O_TRUNC | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 || nox__write_all(fd, id, strlen(id)) < 0)
        return nox__error_errno(err, NOX_E_IO, errno, "record uid slot %lld for `%s`",
                                (long long)slot, id);
    return 0;
}

void nox__uid_slot_release_at(int state_fd, int64_t slot)
{
    char name[32];
    snprintf(name, sizeof name, "uids/%lld", (long long)slot);
    unlinkat(state_fd, name, 0);
}

void nox__uid_slot_release(nox_local *l, int64_t slot)
{
    nox__uid_slot_release_at(l->state_fd, slot);
}
