/* SPDX-License-Identifier: MIT */
#include "testutil.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <spawn.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

char *nox_test_strf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        abort();
    va_end(ap);
    return s;
}

static const char *tmp_base(void)
{
    const char *t = getenv("TMPDIR");
    return t && *t ? t : "/tmp";
}

long nox_test_parse_long(const char *text)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (end == text || errno)
        fail_msg("`%s` is not a number", text);
    for (; *end; end++)
        if (!isspace((unsigned char)*end))
            fail_msg("`%s` is not a number alone", text);
    return v;
}

char *nox_test_mkdtemp(const char *tag)
{
    char *tmpl = nox_test_strf("%s/noxtest-%s-XXXXXX", tmp_base(), tag);
    if (!mkdtemp(tmpl))
        abort();
    return tmpl;
}

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_DP || flag == FTW_D) {
        chmod(path, 0700);
        /* Best effort: what cannot go stays, and the walk goes on. */
        (void)rmdir(path);
        return 0;
    }
    unlink(path);
    return 0;
}

void nox_test_rmtree(const char *path)
{
    if (!path)
        return;
    /* Refuse to remove anything that is not one of our temporary trees. */
    if (!strstr(path, "/noxtest-"))
        abort();
    /* Directories a test made unreadable must be opened up first. */
    nftw(path, rm_cb, 64, FTW_DEPTH | FTW_PHYS);
    rmdir(path);
}

static void mkparents(const char *path)
{
    char *p = strdup(path);
    for (char *s = p + 1; *s; s++) {
        if (*s == '/') {
            *s = '\0';
            mkdir(p, 0755);
            *s = '/';
        }
    }
    free(p);
}

void nox_test_write_file(const char *path, const void *data, size_t len)
{
    mkparents(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        abort();
    const char *c = data;
    while (len) {
        ssize_t w = write(fd, c, len);
        if (w <= 0)
            abort();
        c += w;
        len -= (size_t)w;
    }
    close(fd);
}

char *nox_test_read_file(const char *path, size_t *ret_len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap + 1);
    if (!buf)
        abort();
    for (;;) {
        if (len == cap) {
            cap *= 2;
            char *more = realloc(buf, cap + 1);
            if (!more)
                abort();
            buf = more;
        }
        ssize_t r = read(fd, buf + len, cap - len);
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    buf[len] = '\0';
    if (ret_len)
        *ret_len = len;
    return buf;
}

bool nox_test_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

nox_client *nox_test_local_client_at(const char *state)
{
    nox_client_options o;
    nox_client_options_init(&o);
    o.local = true;
    o.state_dir = state;
    nox_error *err = nox_error_new();
    nox_client *c = NULL;
    int r = nox_client_new(&o, &c, err);
    if (r != 0)
        fail_msg("nox_client_new: %s", nox_error_message(err));
    nox_error_free(err);
    return c;
}

nox_client *nox_test_local_client(char **ret_state)
{
    char *state = nox_test_mkdtemp("state");
    nox_client *c = nox_test_local_client_at(state);
    if (ret_state)
        *ret_state = state;
    else
        free(state);
    return c;
}

bool nox_test_isolation_available(void)
{
    nox_preflight_report *rep = NULL;
    if (nox_preflight(NULL, &rep, NULL) != 0)
        return false;
    bool ok = rep->isolation_available;
    if (!ok)
        for (size_t i = 0; i < rep->n_checks; i++)
            if (rep->checks[i].required && !rep->checks[i].ok)
                fprintf(stderr, "isolation unavailable: %s: %s\n", rep->checks[i].name,
                        rep->checks[i].detail);
    nox_preflight_free(rep);
    return ok;
}

static char *server_binary(void)
{
    const char *build = getenv("NOX_TEST_BUILD_DIR");
    return nox_test_strf("%s/server/noxrunnerd", build ? build : ".");
}

void nox_test_need_server(void)
{
    char *bin = server_binary();
    bool have = access(bin, X_OK) == 0;
    free(bin);
    if (!have) {
        fprintf(stderr, "skipped, because noxrunnerd is not built\n");
        exit(NOX_TEST_SKIPPED);
    }
    if (!nox_test_isolation_available()) {
        fprintf(stderr, "skipped, because this host cannot run isolated sandboxes\n");
        exit(NOX_TEST_SKIPPED);
    }
}

int nox_test_wait_port(const char *path, pid_t writer)
{
    for (int i = 0; i < 600; i++) {
        char *p = nox_test_read_file(path, NULL);
        int port = p ? (int)strtol(p, NULL, 10) : 0; /* 0 while the file is still empty */
        free(p);
        if (port > 0)
            return port;
        if (waitpid(writer, NULL, WNOHANG) == writer)
            return -1;
        usleep(50000);
    }
    return -1;
}

int nox_test_server_start(const char *state, const char *port_file, const char *log,
                          const char *const *extra, char *const *envp, pid_t *ret_pid)
{
    const char *base[] = { "noxrunnerd",  "--listen", "127.0.0.1:0", "--port-file", port_file,
                           "--state-dir", state,      "--log-level", "warn" };
    size_t n_base = sizeof base / sizeof base[0], n_extra = 0;
    while (extra && extra[n_extra])
        n_extra++;
    char **argv = calloc(n_base + n_extra + 1, sizeof *argv);
    if (!argv)
        abort();
    memcpy(argv, base, sizeof base);
    if (n_extra)
        memcpy(argv + n_base, extra, n_extra * sizeof *argv);
    char *bin = server_binary();
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    pid_t pid = -1;
    int r = posix_spawn(&pid, bin, &fa, NULL, argv, envp ? envp : environ);
    posix_spawn_file_actions_destroy(&fa);
    free(bin);
    free(argv);
    if (r != 0)
        return -1;
    int port = nox_test_wait_port(port_file, pid);
    if (port < 0) {
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
        return -1;
    }
    *ret_pid = pid;
    return port;
}

nox_exec_result *nox_test_exec(nox_client *c, const char *id, const char *const *argv)
{
    nox_error *err = nox_error_new();
    nox_exec_result *res = NULL;
    int r = nox_exec(c, id, argv, NULL, &res, err);
    if (r != 0)
        fail_msg("exec %s in %s: %s", argv[0], id, nox_error_message(err));
    nox_error_free(err);
    return res;
}

nox_exec_result *nox_test_sh(nox_client *c, const char *id, const char *script)
{
    const char *argv[] = { "sh", "-c", script, NULL };
    return nox_test_exec(c, id, argv);
}

void nox_test_local_done(nox_client *c, char *state)
{
    if (c) {
        nox_sandbox_list *list = NULL;
        if (nox_list(c, &list, NULL) == 0) {
            for (size_t i = 0; i < list->count; i++)
                nox_delete(c, list->items[i].id, NULL);
            nox_sandbox_list_free(list);
        }
        nox_client_free(c);
    }
    if (state) {
        nox_test_rmtree(state);
        free(state);
    }
}
