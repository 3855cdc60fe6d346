/* SPDX-License-Identifier: MIT */
/* The client facade: checks arguments, fills defaults, offers the
 * conveniences (exec shell, uploads from memory or a directory, downloads to
 * memory or a directory, wait until ready), then makes one backend call. */
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <time.h>

#include "tarball.h"
#include "backend.h"
#include "error.h"
#include "gzip.h"

#define DEFAULT_TIMEOUT_MS         30000
#define DEFAULT_CONNECT_TIMEOUT_MS 10000
#define DEFAULT_MAX_RESPONSE       (64ull << 20)
#define DEFAULT_MAX_OUTPUT         (1ull << 20)
#define DEFAULT_TTL                900
#define DEFAULT_EXEC_TIMEOUT       30

struct nox_client {
    nox_client_options opts; /* strings below are owned copies */
    char *base_url;
    char *ca_file;
    char *state_dir;
    char *init_path;
    char *cgroup_parent;
    nox_backend *backend;
    nox_progress_fn progress;
    void *progress_userdata;
    /* nox_client_cancel(): a flag and a self-pipe, both async-signal-safe
     * to set from anywhere. */
    volatile sig_atomic_t cancelled;
    volatile sig_atomic_t busy; /* an operation runs */
    int cancel_pipe[2];
};

struct nox_stream {
    nox_source *src;
};

const char *nox_version(void)
{
    return NOX_VERSION_STRING;
}

unsigned nox_version_number(void)
{
    return NOX_VERSION_NUMBER;
}

void nox_free(void *ptr)
{
    free(ptr);
}

void nox_client_options_init(nox_client_options *o)
{
    memset(o, 0, sizeof *o);
    o->timeout_ms = DEFAULT_TIMEOUT_MS;
    o->connect_timeout_ms = DEFAULT_CONNECT_TIMEOUT_MS;
    o->max_response_bytes = DEFAULT_MAX_RESPONSE;
    o->isolation = NOX_ISOLATION_REQUIRED;
    o->sweep_expired = true;
    o->max_output_bytes = DEFAULT_MAX_OUTPUT;
    o->gzip_level = 1;
    nox__local_limits_fill(&o->limits);
    nox__extract_limits_fill(&o->extract);
}

void nox_create_options_init(nox_create_options *o)
{
    memset(o, 0, sizeof *o);
    o->ttl_seconds = DEFAULT_TTL;
}

void nox_exec_options_init(nox_exec_options *o)
{
    memset(o, 0, sizeof *o);
    o->timeout_seconds = DEFAULT_EXEC_TIMEOUT;
}

static int dup_opt(char **dst, const char **field, nox_error *err)
{
    if (!*field)
        return 0;
    *dst = strdup(*field);
    if (!*dst)
        return nox__error_oom(err);
    *field = *dst;
    return 0;
}

int nox_client_new(const nox_client_options *opts, nox_client **ret_client, nox_error *err)
{
    nox_error_clear(err);
    if (!opts || !ret_client)
        return nox__error_set(err, NOX_E_INVALID,
                              "nox_client_new: options and result are required");
    bool http = opts->base_url && *opts->base_url;
    if (!http && !opts->local)
        return nox__error_set(
            err, NOX_E_INVALID,
            "no backend chosen: set base_url for an http backend "
            "(e.g. http://127.0.0.1:8080) or local for sandboxes on this machine");
    if (http && opts->local)
        return nox__error_set(err, NOX_E_INVALID,
                              "two backends chosen: set either base_url or local, not both");
    if (opts->gzip_level < 0 || opts->gzip_level > 9)
        return nox__error_set(err, NOX_E_INVALID, "gzip_level %d is out of range 1-9",
                              opts->gzip_level);
    if (opts->gzip_threads > NOX_GZ_MAX_THREADS)
        return nox__error_set(err, NOX_E_INVALID, "gzip_threads %u is more than %u",
                              opts->gzip_threads, (unsigned)NOX_GZ_MAX_THREADS);
    if (opts->spare_launchers > NOX_MAX_SPARE_LAUNCHERS)
        return nox__error_set(err, NOX_E_INVALID, "spare_launchers %u is more than %u",
                              opts->spare_launchers, (unsigned)NOX_MAX_SPARE_LAUNCHERS);
    if (opts->timeout_ms < 0 || opts->connect_timeout_ms < 0)
        return nox__error_set(err, NOX_E_INVALID, "timeouts must not be negative");

    nox_client *c = calloc(1, sizeof *c);
    if (!c)
        return nox__error_oom(err);
    c->cancel_pipe[0] = c->cancel_pipe[1] = -1;
    if (pipe2(c->cancel_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
        int e = errno;
        free(c);
        return nox__error_errno(err, NOX_E_IO, e, "pipe");
    }
    c->opts = *opts;
    if (!http)
        c->opts.base_url = NULL;
    if (c->opts.timeout_ms == 0)
        c->opts.timeout_ms = DEFAULT_TIMEOUT_MS;
    if (c->opts.connect_timeout_ms == 0)
        c->opts.connect_timeout_ms = DEFAULT_CONNECT_TIMEOUT_MS;
    if (c->opts.max_response_bytes == 0)
        c->opts.max_response_bytes = DEFAULT_MAX_RESPONSE;
    if (c->opts.max_output_bytes == 0)
        c->opts.max_output_bytes = DEFAULT_MAX_OUTPUT;
    if (c->opts.gzip_level == 0)
        c->opts.gzip_level = 1;
    nox__local_limits_fill(&c->opts.limits);
    nox__extract_limits_fill(&c->opts.extract);

    int r;
    if ((r = dup_opt(&c->base_url, &c->opts.base_url, err)) < 0 ||
        (r = dup_opt(&c->ca_file, &c->opts.ca_file, err)) < 0 ||
        (r = dup_opt(&c->state_dir, &c->opts.state_dir, err)) < 0 ||
        (r = dup_opt(&c->init_path, &c->opts.init_path, err)) < 0 ||
        (r = dup_opt(&c->cgroup_parent, &c->opts.cgroup_parent, err)) < 0) {
        nox_client_free(c);
        return r;
    }
    /* A trailing slash on the base URL would double the one of every route. */
    if (c->base_url) {
        size_t n = strlen(c->base_url);
        while (n > 0 && c->base_url[n - 1] == '/')
            c->base_url[--n] = '\0';
    }

    r = http ? nox__http_backend_new(&c->opts, &c->backend, err)
             : nox__local_backend_new(&c->opts, &c->backend, err);
    if (r < 0) {
        nox_client_free(c);
        return r;
    }
    c->backend->cancelled = &c->cancelled;
    c->backend->cancel_fd = c->cancel_pipe[0];
    *ret_client = c;
    return 0;
}

void nox_client_free(nox_client *c)
{
    if (!c)
        return;
    if (c->backend)
        c->backend->ops->free(c->backend);
    free(c->base_url);
    free(c->ca_file);
    free(c->state_dir);
    free(c->init_path);
    free(c->cgroup_parent);
    if (c->cancel_pipe[0] >= 0)
        close(c->cancel_pipe[0]);
    if (c->cancel_pipe[1] >= 0)
        close(c->cancel_pipe[1]);
    free(c);
}

int nox_client_cancel(nox_client *c)
{
    if (!c)
        return 0;
    int saved = errno;
    int hit = c->busy;
    c->cancelled = 1;
    /* A full pipe already says "cancelled"; nothing to do about EAGAIN. */
    ssize_t w = write(c->cancel_pipe[1], "c", 1);
    (void)w;
    errno = saved;
    return hit ? 1 : 0;
}

/* A new operation forgets cancels that came while nothing ran. */
static void reset_cancel(nox_client *c)
{
    char buf[64];
    while (read(c->cancel_pipe[0], buf, sizeof buf) > 0)
        ;
    c->cancelled = 0;
}

/* Around every operation. The reset comes before `busy` is set: a cancel
 * that lands between the two reports a miss (0), so a canceller that
 * retries until it hits never has its cancel forgotten. */
static void begin_op(nox_client *c)
{
    if (!c)
        return;
    reset_cancel(c);
    c->busy = 1;
}

static void end_op(nox_client *c)
{
    if (c)
        c->busy = 0;
}

bool nox_client_is_local(const nox_client *c)
{
    return c && c->opts.local;
}

const char *nox_client_location(const nox_client *c)
{
    if (!c)
        return "";
    if (c->backend && c->backend->location)
        return c->backend->location;
    return c->opts.base_url ? c->opts.base_url : "";
}

void nox_client_set_progress(nox_client *c, nox_progress_fn fn, void *userdata)
{
    if (!c)
        return;
    c->progress = fn;
    c->progress_userdata = userdata;
}

/* Every operation starts here: a client and a valid session id. */
static int check_call(nox_client *c, const char *id, nox_error *err)
{
    if (!c)
        return nox__error_set(err, NOX_E_INVALID, "client is NULL");
    nox_error_clear(err);
    return nox__check_session_id(id, err);
}

static int health_impl(nox_client *c, nox_error *err)
{
    if (!c) {
        nox__error_set(err, NOX_E_INVALID, "client is NULL");
        return 0;
    }
    nox_error_clear(err);
    return c->backend->ops->health(c->backend, err) > 0 ? 1 : 0;
}

static int check_quantity_field(const char *value, const char *field, nox_error *err)
{
    if (!value)
        return 0;
    uint64_t v;
    int r = nox_parse_quantity(value, &v, err);
    if (r < 0)
        return nox__error_prefix(err, r, "%s", field);
    return 0;
}

static int create_impl(nox_client *c, const char *id, const nox_create_options *opts,
                       nox_sandbox **ret_sb, nox_error *err)
{
    int r = check_call(c, id, err);
    if (r < 0)
        return r;
    nox_create_options o;
    if (opts)
        o = *opts;
    else
        nox_create_options_init(&o);
    if (o.ttl_seconds <= 0)
        return nox__error_set(err, NOX_E_INVALID, "ttlSeconds must be a positive number, not %ld",
                              o.ttl_seconds);
    if ((r = check_quantity_field(o.cpu_limit, "cpuLimit", err)) < 0 ||
        (r = check_quantity_field(o.memory_limit, "memoryLimit", err)) < 0 ||
        (r = check_quantity_field(o.ephemeral_storage_limit, "ephemeralStorageLimit", err)) < 0)
        return r;
    nox_sandbox *sb = NULL;
    r = c->backend->ops->create(c->backend, id, &o, &sb, err);
    if (r < 0)
        return r;
    if (ret_sb)
        *ret_sb = sb;
    else
        nox_sandbox_free(sb);
    return 0;
}

static int touch_impl(nox_client *c, const char *id, nox_error *err)
{
    int r = check_call(c, id, err);
    if (r < 0)
        return r;
    return c->backend->ops->touch(c->backend, id, err);
}

static int check_env(const char *const *env, nox_error *err)
{
    for (size_t i = 0; env && env[i]; i++) {
        const char *eq = strchr(env[i], '=');
        if (!eq || eq == env[i])
            return nox__error_set(err, NOX_E_INVALID,
                                  "environment entry `%s` is not of the form NAME=VALUE", env[i]);
    }
    return 0;
}

static int exec_impl(nox_client *c, const char *id, const char *const *argv,
                     const nox_exec_options *opts, nox_exec_result **ret_res, nox_error *err)
{
    int r = check_call(c, id, err);
    if (r < 0)
        return r;
    if (!ret_res)
        return nox__error_set(err, NOX_E_INVALID, "exec needs a result pointer");
    if (!argv || !argv[0])
        return nox__error_set(err, NOX_E_INVALID, "cmd must not be empty");
    if (!*argv[0])
        return nox__error_set(err, NOX_E_INVALID, "cmd[0] must not be an empty string");
    nox_exec_options o;
    if (opts)
        o = *opts;
    else
        nox_exec_options_init(&o);
    if (o.timeout_seconds <= 0)
        return nox__error_set(err, NOX_E_INVALID,
                              "timeoutSeconds must be a positive number, not %ld",
                              o.timeout_seconds);
    if ((r = check_env(o.env, err)) < 0)
        return r;
    if (o.workdir && !*o.workdir)
        o.workdir = NULL;
    return c->backend->ops->exec(c->backend, id, argv, &o, ret_res, err);
}

int nox_exec_shell(nox_client *c, const char *id, const char *command, const char *shell,
                   const nox_exec_options *opts, nox_exec_result **ret_res, nox_error *err)
{
    if (!shell)
        shell = "sh";
    if (strcmp(shell, "sh") != 0 && strcmp(shell, "bash") != 0)
        return nox__error_set(err, NOX_E_INVALID, "shell must be \"sh\" or \"bash\", not `%s`",
                              shell);
    if (!command)
        return nox__error_set(err, NOX_E_INVALID, "command is NULL");
    const char *argv[] = { shell, "-c", command, NULL };
    return nox_exec(c, id, argv, opts, ret_res, err);
}

/* Uploads @p archive (owned) after wrapping it for progress reporting. */
static int upload_source(nox_client *c, const char *id, nox_source *archive, const char *dest,
                         uint64_t total, nox_error *err)
{
    _cleanup_source_ nox_source *src = archive;
    if (dest && !*dest)
        return nox__error_set(err, NOX_E_INVALID, "dest must not be empty");
    nox_source *guarded = nox__source_with_cancel(src, &c->cancelled);
    if (!guarded)
        return nox__error_oom(err);
    src = guarded;
    if (c->progress) {
        nox_source *wrapped =
            nox__source_with_progress(src, c->progress, c->progress_userdata, total);
        if (!wrapped)
            return nox__error_oom(err);
        src = wrapped;
    }
    return c->backend->ops->upload(c->backend, id, dest ? dest : "/workspace", src, err);
}

static int upload_files_impl(nox_client *c, const char *id, const nox_file *files, size_t n_files,
                             const char *dest, nox_error *err)
{
    int r = check_call(c, id, err);
    if (r < 0)
        return r;
    if (n_files && !files)
        return nox__error_set(err, NOX_E_INVALID, "files is NULL");
    nox_source *tar = NULL;
    r = nox__tar_from_files(files, n_files, c->opts.gzip_level, c->opts.gzip_threads, &tar, err);
    if (r < 0)
        return r;
    return upload_source(c, id, tar, dest, 0, err);
}

/* Uploads a local directory tree, or (when @p dir_only is false) a
 * regular file under its own name. */
static int upload_local(nox_client *c, const char *id, const char *path, const char *dest,
                        bool dir_only, nox_error *err)
{
    int r = check_call(c, id, err);
    if (r < 0)
        return r;
    if (!path || !*path)
        return nox__error_set(err, NOX_E_INVALID, "local path is empty");
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | (dir_only ? O_DIRECTORY : 0));
    if (fd < 0)
        return nox__error_errno(err, errno == ENOTDIR ? NOX_E_INVALID : nox__code_from_errno(errno),
                                errno, "open `%s`", path);
    struct stat st;
    if (fstat(fd, &st) < 0 || !(S_ISDIR(st.st_mode) || S_ISREG(st.st_mode))) {
        close(fd);
        return nox__error_set(err, NOX_E_INVALID, "`%s` is neither a directory nor a regular file",
                              path);
    }
    fcntl(fd, F_SETFL, 0);
    const char *name = NULL;
    _cleanup_free_ char *copy = NULL;
    if (S_ISREG(st.st_mode)) {
        copy = strdup(path);
        if (!copy) {
            close(fd);
            return nox__error_oom(err);
        }
        size_t n = strlen(copy);
        while (n > 1 && copy[n - 1] == '/')
            copy[--n] = '\0';
        char *slash = strrchr(copy, '/');
        name = slash ? slash + 1 : copy;
    }
    nox_source *tar = NULL;
    r = nox__tar_from_fd(fd, name, c->opts.gzip_level, c->opts.gzip_threads, &tar, err);
    if (r < 0)
        return r;
    return upload_source(c, id, tar, dest, S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0, err);
}

int nox_upload_dir(nox_client *c, const char *id, const char *local_dir, const char *dest,
                   nox_error *err)
{
    return upload_local(c, id, local_dir, dest, true, err);
}

int nox_upload_path(nox_client *c, const char *id, const char *local_path, const char *dest,
                    nox_error *err)
{
    return upload_local(c, id, local_path, dest, false, err);
}

static int upload_stream_impl(nox_client *c, const char *id, nox_read_fn read, void *userdata,
                              const char *dest, nox_error *err)
{
    int r = check_call(c, id, err);
    if (r < 0)
        return r;
    if (!read)
        return nox__error_set(err, NOX_E_INVALID, "read callback is NULL");
    nox_source *src = nox__source_from_fn(read, userdata);
    if (!src)
        return nox__error_oom(err);
    return upload_source(c, id, src, dest, 0, err);
}

static int open_download(nox_client *c, const char *id, const char *src_path, nox_source **ret_src,
                         nox_error *err)
{
    int r = check_call(c, id, err);
    if (r < 0)
        return r;
    if (src_path && !*src_path)
        return nox__error_set(err, NOX_E_INVALID, "src must not be empty");
    nox_source *src = NULL;
    r = c->backend->ops->download_open(c->backend, id, src_path ? src_path : "/workspace", &src,
                                       err);
    if (r < 0)
        return r;
    nox_source *guarded = nox__source_with_cancel(src, &c->cancelled);
    if (!guarded) {
        nox__source_free(src);
        return nox__error_oom(err);
    }
    src = guarded;
    if (c->progress) {
        nox_source *wrapped = nox__source_with_progress(src, c->progress, c->progress_userdata, 0);
        if (!wrapped) {
            nox__source_free(src);
            return nox__error_oom(err);
        }
        src = wrapped;
    }
    *ret_src = src;
    return 0;
}

static int download_impl(nox_client *c, const char *id, const char *src_path, void **ret_data,
                         size_t *ret_size, nox_error *err)
{
    if (!ret_data || !ret_size)
        return nox__error_set(err, NOX_E_INVALID, "download needs result pointers");
    _cleanup_source_ nox_source *src = NULL;
    int r = open_download(c, id, src_path, &src, err);
    if (r < 0)
        return r;
    char *data;
    size_t len;
    r = nox__source_read_all(src, UINT64_MAX, &data, &len, err);
    if (r < 0)
        return r;
    *ret_data = data;
    *ret_size = len;
    return 0;
}

static int download_open_impl(nox_client *c, const char *id, const char *src_path,
                              nox_stream **ret_stream, nox_error *err)
{
    if (!ret_stream)
        return nox__error_set(err, NOX_E_INVALID, "download needs a result pointer");
    nox_stream *s = calloc(1, sizeof *s);
    if (!s)
        return nox__error_oom(err);
    int r = open_download(c, id, src_path, &s->src, err);
    if (r < 0) {
        free(s);
        return r;
    }
    *ret_stream = s;
    return 0;
}

ssize_t nox_stream_read(nox_stream *s, void *buf, size_t len, nox_error *err)
{
    nox_error_clear(err);
    if (!s || (!buf && len))
        return nox__error_set(err, NOX_E_INVALID, "stream or buffer is NULL");
    return nox__source_read(s->src, buf, len, err);
}

void nox_stream_free(nox_stream *s)
{
    if (!s)
        return;
    nox__source_free(s->src);
    free(s);
}

/* mkdir -p for a caller's local directory (not a sandbox path: the caller
 * chose it, so ordinary path resolution applies). */
static int mkdir_parents(const char *path, nox_error *err)
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
    if (mkdir(p, 0755) < 0 && errno != EEXIST)
        return nox__error_errno(err, NOX_E_IO, errno, "create directory `%s`", p);
    return 0;
}

static int download_workspace_impl(nox_client *c, const char *id, const char *src_path,
                                   const char *local_dir, bool *ret_any, nox_error *err)
{
    if (!local_dir || !*local_dir)
        return nox__error_set(err, NOX_E_INVALID, "local directory is empty");
    _cleanup_source_ nox_source *src = NULL;
    int r = open_download(c, id, src_path, &src, err);
    if (r < 0)
        return r;
    if ((r = mkdir_parents(local_dir, err)) < 0)
        return r;
    _cleanup_close_ int dfd = open(local_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return nox__error_errno(err, NOX_E_IO, errno, "open directory `%s`", local_dir);
    nox_extract_opts eo = { .limits = c->opts.extract, .staging_parent_fd = -1 };
    nox_extract_stats st = { 0 };
    r = nox__extract(src, dfd, &eo, &st, err);
    if (r < 0)
        return nox__error_prefix(err, r, "extract into `%s`", local_dir);
    if (ret_any)
        *ret_any = st.entries > 0;
    return 0;
}

static int delete_impl(nox_client *c, const char *id, nox_error *err)
{
    int r = check_call(c, id, err);
    if (r < 0)
        return r;
    return c->backend->ops->remove(c->backend, id, err);
}

/* Sleeps @p ms, or less when the operation is cancelled. */
static void sleep_ms(nox_client *c, long ms)
{
    struct pollfd p = { c->cancel_pipe[0], POLLIN, 0 };
    int64_t end = nox__now_mono_ns() + (int64_t)ms * 1000000;
    while (!c->cancelled) {
        int64_t left = (end - nox__now_mono_ns()) / 1000000;
        if (left <= 0 || poll(&p, 1, (int)left) > 0)
            return;
    }
}

static int wait_ready_impl(nox_client *c, const char *id, long timeout_ms, long interval_ms,
                           nox_error *err)
{
    int r = check_call(c, id, err);
    if (r < 0)
        return r;
    if (timeout_ms < 0 || interval_ms < 0)
        return nox__error_set(err, NOX_E_INVALID, "wait times must not be negative");
    if (timeout_ms == 0)
        timeout_ms = 30000;
    if (interval_ms == 0)
        interval_ms = 2000;
    int64_t deadline = nox__now_mono_ns() + (int64_t)timeout_ms * 1000000;
    const char *argv[] = { "echo", "ready", NULL };
    nox_exec_options o;
    nox_exec_options_init(&o);
    _cleanup_free_ char *last = NULL;
    for (;;) {
        nox_exec_result *res = NULL;
        nox_error *attempt = nox_error_new();
        int64_t left_ms = (deadline - nox__now_mono_ns()) / 1000000;
        o.timeout_seconds = NOX_MAX(1, NOX_MIN(30, (left_ms + 999) / 1000));
        r = c->backend->ops->exec(c->backend, id, argv, &o, &res, attempt);
        bool ready = false;
        if (r == 0) {
            ready = res->exit_code == 0 && res->stdout_len >= 5 &&
                    strncmp(res->stdout_data, "ready", 5) == 0;
            if (!ready) {
                free(last);
                last = nox__asprintf("`echo ready` exited with %d", res->exit_code);
            }
        } else {
            free(last);
            last = strdup(nox_error_message(attempt));
        }
        nox_exec_result_free(res);
        nox_error_free(attempt);
        if (ready)
            return 0;
        if (r == NOX_E_CANCELLED || c->cancelled)
            return nox__error_set(err, NOX_E_CANCELLED, "waiting for sandbox `%s` was cancelled",
                                  id);
        /* A sandbox that does not exist will not become ready by waiting,
         * nor will one this client refuses to run commands in (made
         * unisolated, and this client requires isolation). */
        if (r == NOX_E_NOT_FOUND || r == NOX_E_INVALID || r == NOX_E_ISOLATION)
            return nox__error_set(err, r, "%s", last ? last : "not found");
        int64_t now = nox__now_mono_ns();
        if (now >= deadline)
            return nox__error_set(err, NOX_E_TIMEOUT,
                                  "sandbox `%s` not ready after %ld ms (last attempt: %s)", id,
                                  timeout_ms, last ? last : "no answer");
        long nap = NOX_MIN(interval_ms, (long)((deadline - now) / 1000000) + 1);
        sleep_ms(c, nap);
    }
}

static int list_impl(nox_client *c, nox_sandbox_list **ret_list, nox_error *err)
{
    if (!c || !ret_list)
        return nox__error_set(err, NOX_E_INVALID, "client and result are required");
    nox_error_clear(err);
    return c->backend->ops->list(c->backend, ret_list, err);
}

static int info_impl(nox_client *c, const char *id, nox_sandbox **ret_sb, nox_error *err)
{
    int r = check_call(c, id, err);
    if (r < 0)
        return r;
    if (!ret_sb)
        return nox__error_set(err, NOX_E_INVALID, "info needs a result pointer");
    return c->backend->ops->info(c->backend, id, ret_sb, err);
}

static int reap_expired_impl(nox_client *c, size_t *ret_count, nox_error *err)
{
    if (!c)
        return nox__error_set(err, NOX_E_INVALID, "client is NULL");
    nox_error_clear(err);
    size_t n = 0;
    int r = c->backend->ops->reap(c->backend, &n, err);
    if (r < 0)
        return r;
    if (ret_count)
        *ret_count = n;
    return 0;
}

/* ---- the public operations: each marks the client busy (see
 * nox_client_cancel) around its implementation ---- */

int nox_health(nox_client *c, nox_error *err)
{
    begin_op(c);
    int r = health_impl(c, err);
    end_op(c);
    return r;
}

int nox_create(nox_client *c, const char *id, const nox_create_options *opts, nox_sandbox **ret_sb,
               nox_error *err)
{
    begin_op(c);
    int r = create_impl(c, id, opts, ret_sb, err);
    end_op(c);
    return r;
}

int nox_touch(nox_client *c, const char *id, nox_error *err)
{
    begin_op(c);
    int r = touch_impl(c, id, err);
    end_op(c);
    return r;
}

int nox_exec(nox_client *c, const char *id, const char *const *argv, const nox_exec_options *opts,
             nox_exec_result **ret_res, nox_error *err)
{
    begin_op(c);
    int r = exec_impl(c, id, argv, opts, ret_res, err);
    end_op(c);
    return r;
}

int nox_upload_files(nox_client *c, const char *id, const nox_file *files, size_t n_files,
                     const char *dest, nox_error *err)
{
    begin_op(c);
    int r = upload_files_impl(c, id, files, n_files, dest, err);
    end_op(c);
    return r;
}

int nox_upload_stream(nox_client *c, const char *id, nox_read_fn read, void *userdata,
                      const char *dest, nox_error *err)
{
    begin_op(c);
    int r = upload_stream_impl(c, id, read, userdata, dest, err);
    end_op(c);
    return r;
}

int nox_download(nox_client *c, const char *id, const char *src_path, void **ret_data,
                 size_t *ret_size, nox_error *err)
{
    begin_op(c);
    int r = download_impl(c, id, src_path, ret_data, ret_size, err);
    end_op(c);
    return r;
}

int nox_download_open(nox_client *c, const char *id, const char *src_path, nox_stream **ret_stream,
                      nox_error *err)
{
    begin_op(c);
    int r = download_open_impl(c, id, src_path, ret_stream, err);
    end_op(c);
    return r;
}

int nox_download_workspace(nox_client *c, const char *id, const char *src_path,
                           const char *local_dir, bool *ret_any, nox_error *err)
{
    begin_op(c);
    int r = download_workspace_impl(c, id, src_path, local_dir, ret_any, err);
    end_op(c);
    return r;
}

int nox_delete(nox_client *c, const char *id, nox_error *err)
{
    begin_op(c);
    int r = delete_impl(c, id, err);
    end_op(c);
    return r;
}

int nox_wait_ready(nox_client *c, const char *id, long timeout_ms, long interval_ms, nox_error *err)
{
    begin_op(c);
    int r = wait_ready_impl(c, id, timeout_ms, interval_ms, err);
    end_op(c);
    return r;
}

int nox_list(nox_client *c, nox_sandbox_list **ret_list, nox_error *err)
{
    begin_op(c);
    int r = list_impl(c, ret_list, err);
    end_op(c);
    return r;
}

int nox_info(nox_client *c, const char *id, nox_sandbox **ret_sb, nox_error *err)
{
    begin_op(c);
    int r = info_impl(c, id, ret_sb, err);
    end_op(c);
    return r;
}

int nox_reap_expired(nox_client *c, size_t *ret_count, nox_error *err)
{
    begin_op(c);
    int r = reap_expired_impl(c, ret_count, err);
    end_op(c);
    return r;
}
