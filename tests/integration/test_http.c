/* SPDX-License-Identifier: MIT */
/* The http backend against the real noxrunnerd (started here on an
 * ephemeral port with a private state directory), and against small fake
 * servers that misbehave: garbage, stalls, dropped connections. */
#include "testutil.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* POSIX has programs declare environ themselves (see src/local/pod.c). */
// NOLINTNEXTLINE(readability-redundant-declaration)
extern char **environ;

static char *state;
static pid_t server = -1;
static char url[64];
static nox_client *client;

static nox_client *http_client(const char *base, long timeout_ms)
{
    nox_client_options o;
    nox_client_options_init(&o);
    o.base_url = base;
    if (timeout_ms)
        o.timeout_ms = timeout_ms;
    nox_error *err = nox_error_new();
    nox_client *c = NULL;
    nox_assert_ok(nox_client_new(&o, &c, err), err);
    nox_error_free(err);
    return c;
}

static int start_server(void)
{
    state = nox_test_mkdtemp("http");
    char *port_file = nox_test_strf("%s/port", state);
    char *log = nox_test_strf("%s/server.log", state);
    int port = nox_test_server_start(state, port_file, log, NULL, NULL, &server);
    free(port_file);
    free(log);
    if (port < 0)
        return -1;
    snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
    return 0;
}

static int setup(void **s)
{
    (void)s;
    if (start_server() < 0)
        fail_msg("noxrunnerd did not start");
    client = http_client(url, 0);
    return 0;
}

static int teardown(void **s)
{
    (void)s;
    nox_sandbox_list *list = NULL;
    if (client && nox_list(client, &list, NULL) == 0) {
        for (size_t i = 0; i < list->count; i++)
            nox_delete(client, list->items[i].id, NULL);
        nox_sandbox_list_free(list);
    }
    nox_client_free(client);
    if (server > 0) {
        kill(server, SIGTERM);
        waitpid(server, NULL, 0);
    }
    nox_test_rmtree(state);
    free(state);
    return 0;
}

static void test_every_operation(void **s)
{
    (void)s;
    nox_error *err = nox_error_new();
    assert_int_equal(nox_health(client, err), 1);
    nox_sandbox *sb = NULL;
    nox_create_options co;
    nox_create_options_init(&co);
    co.memory_limit = "256Mi";
    nox_assert_ok(nox_create(client, "h1", &co, &sb, err), err);
    assert_string_equal(sb->pod_name, "nox-h1");
    assert_true(sb->expires_at_unix > 0);
    assert_true(sb->n_limits > 0);
    nox_sandbox_free(sb);
    nox_assert_ok(nox_touch(client, "h1", err), err);

    const char *argv[] = { "sh", "-c", "echo out; echo err >&2; exit 3", NULL };
    nox_exec_result *res = NULL;
    nox_assert_ok(nox_exec(client, "h1", argv, NULL, &res, err), err);
    assert_int_equal(res->exit_code, 3);
    assert_string_equal(res->stdout_data, "out\n");
    assert_string_equal(res->stderr_data, "err\n");
    nox_exec_result_free(res);

    nox_exec_options eo;
    nox_exec_options_init(&eo);
    eo.timeout_seconds = 1;
    const char *slow[] = { "sleep", "30", NULL };
    nox_assert_ok(nox_exec(client, "h1", slow, &eo, &res, err), err);
    assert_int_equal(res->exit_code, 124);
    assert_true(res->timed_out);
    nox_exec_result_free(res);

    nox_file files[] = { { "dir/a.txt", "alpha", 5, 0 }, { "b.bin", "\0\1", 2, 0755 } };
    nox_assert_ok(nox_upload_files(client, "h1", files, 2, "/workspace/up", err), err);
    const char *cat[] = { "cat", "up/dir/a.txt", NULL };
    nox_assert_ok(nox_exec(client, "h1", cat, NULL, &res, err), err);
    assert_string_equal(res->stdout_data, "alpha");
    nox_exec_result_free(res);

    char *local = nox_test_mkdtemp("httpdl");
    bool any = false;
    nox_assert_ok(nox_download_workspace(client, "h1", "/workspace/up", local, &any, err), err);
    assert_true(any);
    char *p = nox_test_strf("%s/dir/a.txt", local);
    char *got = nox_test_read_file(p, NULL);
    assert_string_equal(got, "alpha");
    free(got);
    free(p);
    nox_test_rmtree(local);
    free(local);

    nox_sandbox_list *list = NULL;
    nox_assert_ok(nox_list(client, &list, err), err);
    assert_true(list->count >= 1);
    nox_sandbox_list_free(list);
    nox_assert_ok(nox_info(client, "h1", &sb, err), err);
    assert_int_equal(sb->running, 1);
    nox_sandbox_free(sb);

    nox_assert_ok(nox_delete(client, "h1", err), err);
    nox_error_free(err);
}

struct mem_reader {
    const unsigned char *p;
    size_t n;
};

static ssize_t read_mem(void *ud, void *buf, size_t len)
{
    struct mem_reader *m = ud;
    size_t k = len < m->n ? len : m->n;
    memcpy(buf, m->p, k);
    m->p += k;
    m->n -= k;
    return (ssize_t)k;
}

static void test_error_statuses(void **s)
{
    (void)s;
    nox_error *err = nox_error_new();
    const char *argv[] = { "true", NULL };
    nox_exec_result *res = NULL;
    /* 404 with the server's body and message. */
    assert_int_equal(nox_exec(client, "missing", argv, NULL, &res, err), NOX_E_NOT_FOUND);
    assert_int_equal(nox_error_http_status(err), 404);
    size_t blen = 0;
    const char *body = nox_error_body(err, &blen);
    assert_non_null(body);
    assert_non_null(strstr(body, "\"error\""));
    assert_non_null(strstr(nox_error_message(err), "missing"));
    assert_int_equal(nox_touch(client, "missing", err), NOX_E_NOT_FOUND);
    assert_int_equal(nox_delete(client, "missing", err), NOX_E_NOT_FOUND);
    void *data;
    size_t size;
    assert_int_equal(nox_download(client, "missing", NULL, &data, &size, err), NOX_E_NOT_FOUND);
    /* 400 from the server: a limit that is not a quantity is caught by the
     * client first; a timeout over the server's maximum is not. */
    nox_assert_ok(nox_create(client, "h2", NULL, NULL, err), err);
    nox_exec_options eo;
    nox_exec_options_init(&eo);
    eo.timeout_seconds = 999999;
    assert_int_equal(nox_exec(client, "h2", argv, &eo, &res, err), NOX_E_INVALID);
    assert_int_equal(nox_error_http_status(err), 400);
    /* An invalid id never leaves the client. */
    assert_int_equal(nox_exec(client, "../x", argv, NULL, &res, err), NOX_E_INVALID);
    assert_int_equal(nox_error_http_status(err), 0);
    /* Not an archive: 400 with the server's reason. */
    struct mem_reader rd = { (const unsigned char *)"this is not an archive", 22 };
    assert_int_equal(nox_upload_stream(client, "h2", read_mem, &rd, NULL, err), NOX_E_INVALID);
    assert_int_equal(nox_error_http_status(err), 400);
    assert_non_null(strstr(nox_error_message(err), "gzip"));
    nox_delete(client, "h2", NULL);
    nox_error_free(err);
}

static void test_keepalive_one_connection(void **s)
{
    (void)s;
    nox_error *err = nox_error_new();
    nox_assert_ok(nox_create(client, "ka", NULL, NULL, err), err);
    const char *argv[] = { "true", NULL };
    for (int i = 0; i < 20; i++) {
        nox_exec_result *res = NULL;
        nox_assert_ok(nox_exec(client, "ka", argv, NULL, &res, err), err);
        nox_exec_result_free(res);
    }
    /* Count our TCP sockets to the server: keep-alive means one. */
    int port = (int)nox_test_parse_long(strrchr(url, ':') + 1);
    char *tcp = nox_test_read_file("/proc/self/net/tcp", NULL);
    int n = 0;
    char want[16];
    snprintf(want, sizeof want, ":%04X 01", port); /* remote port, ESTABLISHED */
    for (char *line = strtok(tcp, "\n"); line; line = strtok(NULL, "\n")) {
        /* local_address rem_address st: the remote is the third field. */
        char loc[64], rem[64], st[8];
        if (sscanf(line, "%*d: %63s %63s %7s", loc, rem, st) == 3) {
            char combined[80];
            snprintf(combined, sizeof combined, "%s %s", strchr(rem, ':'), st);
            if (strcmp(combined, want) == 0)
                n++;
        }
    }
    free(tcp);
    assert_int_equal(n, 1);
    nox_delete(client, "ka", NULL);
    nox_error_free(err);
}

/* A program that starts a child while a client is open must not hand it
 * the connection: the child would keep it, and the server's thread and
 * slot for it, for as long as it lives. */
static void test_connection_close_on_exec(void **s)
{
    (void)s;
    nox_error *err = nox_error_new();
    assert_int_equal(nox_health(client, err), 1);
    int port = (int)nox_test_parse_long(strrchr(url, ':') + 1);
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    int found = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        int fd = (int)nox_test_parse_long(e->d_name);
        struct sockaddr_storage peer = { 0 };
        socklen_t len = sizeof peer;
        if (getpeername(fd, (struct sockaddr *)&peer, &len) < 0 || peer.ss_family != AF_INET ||
            ntohs(((struct sockaddr_in *)&peer)->sin_port) != port)
            continue;
        found++;
        int flags = fcntl(fd, F_GETFD);
        if (flags < 0 || !(flags & FD_CLOEXEC))
            fail_msg("the connection to the server (fd %d) is not close-on-exec", fd);
    }
    closedir(d);
    assert_true(found >= 1);
    nox_error_free(err);
}

/* ---- misbehaving servers ---- */

typedef enum { FAKE_GARBAGE, FAKE_STALL, FAKE_DROP, FAKE_500, FAKE_HUGE } fake_kind;

typedef struct fake {
    int fd;
    int port;
    fake_kind kind;
    pthread_t t;
} fake;

static void *fake_run(void *arg)
{
    fake *f = arg;
    for (;;) {
        int c = accept(f->fd, NULL, NULL);
        if (c < 0)
            return NULL;
        char buf[8192];
        ssize_t n = recv(c, buf, sizeof buf, 0);
        (void)n;
        const char *ans = NULL;
        switch (f->kind) {
        case FAKE_GARBAGE:
            ans = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 9\r\n\r\n"
                  "{not json";
            break;
        case FAKE_STALL:
            sleep(5);
            break;
        case FAKE_DROP:
            break;
        case FAKE_500:
            ans = "HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\n"
                  "Content-Length: 26\r\n\r\n{\"error\": \"disk on fire\"}\n";
            break;
        case FAKE_HUGE: {
            const char *h = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                            "Content-Length: 100000000\r\n\r\n";
            if (send(c, h, strlen(h), MSG_NOSIGNAL) > 0) {
                char junk[65536];
                memset(junk, ' ', sizeof junk);
                for (int i = 0; i < 2000; i++)
                    if (send(c, junk, sizeof junk, MSG_NOSIGNAL) < 0)
                        break;
            }
            break;
        }
        }
        if (ans && send(c, ans, strlen(ans), MSG_NOSIGNAL) < 0) {
            /* the client may be gone */
        }
        close(c);
    }
}

static void fake_start(fake *f, fake_kind kind)
{
    f->kind = kind;
    f->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    assert_int_equal(bind(f->fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(f->fd, 8), 0);
    socklen_t sl = sizeof sa;
    getsockname(f->fd, (struct sockaddr *)&sa, &sl);
    f->port = ntohs(sa.sin_port);
    assert_int_equal(pthread_create(&f->t, NULL, fake_run, f), 0);
}

static void fake_stop(fake *f)
{
    shutdown(f->fd, SHUT_RDWR);
    close(f->fd);
    pthread_join(f->t, NULL);
}

static int exec_against(fake_kind kind, long timeout_ms, nox_error *err)
{
    fake f;
    fake_start(&f, kind);
    char base[64];
    snprintf(base, sizeof base, "http://127.0.0.1:%d", f.port);
    nox_client_options o;
    nox_client_options_init(&o);
    o.base_url = base;
    o.timeout_ms = timeout_ms;
    o.max_response_bytes = 1 << 20;
    nox_client *c = NULL;
    nox_assert_ok(nox_client_new(&o, &c, err), err);
    nox_exec_options eo;
    nox_exec_options_init(&eo);
    eo.timeout_seconds = 1;
    const char *argv[] = { "true", NULL };
    nox_exec_result *res = NULL;
    int r = nox_exec(c, "x", argv, &eo, &res, err);
    nox_exec_result_free(res);
    assert_int_equal(nox_health(c, NULL), 0);
    nox_client_free(c);
    fake_stop(&f);
    return r;
}

static void test_misbehaving_servers(void **s)
{
    (void)s;
    nox_error *err = nox_error_new();
    assert_int_equal(exec_against(FAKE_GARBAGE, 5000, err), NOX_E_PROTOCOL);
    assert_int_equal(exec_against(FAKE_DROP, 5000, err), NOX_E_NETWORK);
    assert_int_equal(exec_against(FAKE_500, 5000, err), NOX_E_SERVER);
    assert_int_equal(nox_error_http_status(err), 500);
    assert_non_null(strstr(nox_error_message(err), "disk on fire"));
    assert_int_equal(exec_against(FAKE_HUGE, 5000, err), NOX_E_LIMIT);
    /* The exec's own timeout (1 s) is added to the request timeout. */
    assert_int_equal(exec_against(FAKE_STALL, 500, err), NOX_E_TIMEOUT);
    /* Nobody listening: health is false with the reason, never an error. */
    nox_client *down = http_client("http://127.0.0.1:1", 0);
    nox_error_clear(err);
    assert_int_equal(nox_health(down, err), 0);
    assert_int_equal(nox_error_code(err), NOX_E_CONNECT);
    assert_non_null(strstr(nox_error_message(err), "127.0.0.1:1"));
    nox_client_free(down);
    nox_error_free(err);
}

struct par {
    int i;
    int ok;
};

static void *parallel_exec(void *arg)
{
    struct par *p = arg;
    nox_client *c = http_client(url, 0);
    char id[32];
    snprintf(id, sizeof id, "par-%d", p->i);
    const char *argv[] = { "sh", "-c", "echo $0", id, NULL };
    nox_exec_result *res = NULL;
    p->ok = nox_create(c, id, NULL, NULL, NULL) == 0 &&
            nox_exec(c, id, argv, NULL, &res, NULL) == 0 && res->exit_code == 0 &&
            strncmp(res->stdout_data, id, strlen(id)) == 0;
    nox_exec_result_free(res);
    nox_delete(c, id, NULL);
    nox_client_free(c);
    return NULL;
}

static void test_clients_in_threads(void **s)
{
    (void)s;
    enum { N = 8 };
    pthread_t t[N];
    struct par p[N];
    for (int i = 0; i < N; i++) {
        p[i] = (struct par){ i, 0 };
        assert_int_equal(pthread_create(&t[i], NULL, parallel_exec, &p[i]), 0);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        assert_true(p[i].ok);
    }
}

int main(void)
{
    nox_test_need_server();
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_operation),
        cmocka_unit_test(test_error_statuses),
        cmocka_unit_test(test_keepalive_one_connection),
        cmocka_unit_test(test_misbehaving_servers),
        cmocka_unit_test(test_clients_in_threads),
        cmocka_unit_test(test_connection_close_on_exec),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
