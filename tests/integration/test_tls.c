/* SPDX-License-Identifier: MIT */
/* HTTPS for the http backend: the real noxrunnerd (plain HTTP, on an
 * ephemeral port) behind a TLS-terminating forwarder
 * (tests/tls/tls_forwarder.py), with a throw-away CA and server
 * certificates made at test time by tests/tls/make-certs.sh (openssl).
 * With the CA file set every operation works over https://; without it
 * (the system's store does not trust the throw-away CA), with a certificate
 * for another host, with an unusable CA file, or against a server that does
 * not speak TLS, calls fail with NOX_E_CONNECT and a message that says what
 * about TLS went wrong, and health answers 0 without failing. */
#include "testutil.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* POSIX has programs declare environ themselves (see src/local/pod.c). */
// NOLINTNEXTLINE(readability-redundant-declaration)
extern char **environ;

static char *dir; /* everything of this test: certificates, logs, state */
static char *ca;  /* the throw-away CA's certificate */
static pid_t server = -1, forwarder = -1;
static char plain_url[64]; /* noxrunnerd itself */
static char tls_url[64];   /* the forwarder, certificate for 127.0.0.1 and localhost */
static char host_url[64];  /* the same, by name */
static char other_url[64]; /* the forwarder, certificate for other.invalid */

static const char *source_dir(void)
{
    const char *s = getenv("NOX_TEST_SOURCE_DIR");
    return s && *s ? s : ".";
}

/* Spawns @p argv (found in PATH) with stdout and stderr appended to @p log. */
static pid_t spawn(char *const *argv, const char *log)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    pid_t pid = -1;
    int r = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    return r == 0 ? pid : -1;
}

static int run(char *const *argv, const char *log)
{
    pid_t pid = spawn(argv, log);
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void stop(pid_t *pid)
{
    if (*pid > 0) {
        kill(*pid, SIGTERM);
        waitpid(*pid, NULL, 0);
        *pid = -1;
    }
}

static nox_client *http_client(const char *url, const char *ca_file, nox_error *err)
{
    nox_client_options o;
    nox_client_options_init(&o);
    o.base_url = url;
    o.ca_file = ca_file;
    nox_client *c = NULL;
    nox_assert_ok(nox_client_new(&o, &c, err), err);
    return c;
}

static void print_log(const char *name)
{
    char *p = nox_test_strf("%s/%s", dir, name);
    char *text = nox_test_read_file(p, NULL);
    if (text && *text)
        fprintf(stderr, "--- %s:\n%s\n", name, text);
    free(text);
    free(p);
}

static int setup(void **s)
{
    (void)s;
    dir = nox_test_mkdtemp("tls");
    char *certs = nox_test_strf("%s/certs", dir);
    char *script = nox_test_strf("%s/tests/tls/make-certs.sh", source_dir());
    char *log = nox_test_strf("%s/certs.log", dir);
    char *mk[] = { (char *)"sh", script, certs, NULL };
    if (run(mk, log) != 0) {
        print_log("certs.log");
        fail_msg("tests/tls/make-certs.sh failed");
    }
    free(script);
    free(log);
    ca = nox_test_strf("%s/ca.pem", certs);

    char *state = nox_test_strf("%s/state", dir);
    char *port_file = nox_test_strf("%s/server.port", dir);
    log = nox_test_strf("%s/server.log", dir);
    int port = nox_test_server_start(state, port_file, log, NULL, NULL, &server);
    if (port < 0) {
        print_log("server.log");
        fail_msg("noxrunnerd did not start");
    }
    snprintf(plain_url, sizeof plain_url, "http://127.0.0.1:%d", port);
    free(state);
    free(port_file);
    free(log);

    char *fwd = nox_test_strf("%s/tests/tls/tls_forwarder.py", source_dir());
    char *target = nox_test_strf("127.0.0.1:%d", port);
    char *srv_pem = nox_test_strf("%s/server.pem", certs);
    char *srv_key = nox_test_strf("%s/server.key", certs);
    char *oth_pem = nox_test_strf("%s/other.pem", certs);
    char *oth_key = nox_test_strf("%s/other.key", certs);
    char *p1 = nox_test_strf("%s/tls.port", dir);
    char *p2 = nox_test_strf("%s/other.port", dir);
    log = nox_test_strf("%s/forwarder.log", dir);
    char *fw[] = { (char *)"python3",
                   fwd,
                   (char *)"--target",
                   target,
                   (char *)"--serve",
                   srv_pem,
                   srv_key,
                   p1,
                   (char *)"--serve",
                   oth_pem,
                   oth_key,
                   p2,
                   NULL };
    forwarder = spawn(fw, log);
    int tls_port = forwarder > 0 ? nox_test_wait_port(p1, forwarder) : -1;
    int other_port = tls_port > 0 ? nox_test_wait_port(p2, forwarder) : -1;
    if (other_port < 0) {
        print_log("forwarder.log");
        fail_msg("the TLS forwarder did not start");
    }
    snprintf(tls_url, sizeof tls_url, "https://127.0.0.1:%d", tls_port);
    snprintf(host_url, sizeof host_url, "https://localhost:%d", tls_port);
    snprintf(other_url, sizeof other_url, "https://127.0.0.1:%d", other_port);
    free(fwd);
    free(target);
    free(srv_pem);
    free(srv_key);
    free(oth_pem);
    free(oth_key);
    free(p1);
    free(p2);
    free(log);
    free(certs);
    return 0;
}

static int teardown(void **s)
{
    (void)s;
    if (server > 0) {
        nox_error *err = nox_error_new();
        nox_client *c = http_client(plain_url, NULL, err);
        nox_sandbox_list *list = NULL;
        if (nox_list(c, &list, NULL) == 0) {
            for (size_t i = 0; i < list->count; i++)
                nox_delete(c, list->items[i].id, NULL);
            nox_sandbox_list_free(list);
        }
        nox_client_free(c);
        nox_error_free(err);
    }
    stop(&forwarder);
    stop(&server);
    nox_test_rmtree(dir);
    free(dir);
    free(ca);
    return 0;
}

/* Bytes that gzip cannot shrink much, so that the archive of a tree
 * holding them passes the sizes that matter: the 8 MiB past which uploads
 * stream chunked, the 1 MiB at which downloads pause for the reader. */
static void fill_noise(unsigned char *buf, size_t len)
{
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        buf[i] = (unsigned char)x;
    }
}

#define BIG_SIZE ((size_t)9 << 20)

static void test_every_operation_with_the_ca_file(void **s)
{
    (void)s;
    nox_error *err = nox_error_new();
    nox_client *c = http_client(tls_url, ca, err);
    assert_int_equal(nox_health(c, err), 1);

    nox_create_options co;
    nox_create_options_init(&co);
    co.ttl_seconds = 300;
    nox_sandbox *sb = NULL;
    nox_assert_ok(nox_create(c, "tls", &co, &sb, err), err);
    assert_string_equal(sb->pod_name, "nox-tls");
    nox_sandbox_free(sb);
    nox_assert_ok(nox_touch(c, "tls", err), err);

    const char *argv[] = { "sh", "-c", "echo out; echo err >&2; exit 3", NULL };
    nox_exec_result *res = NULL;
    nox_assert_ok(nox_exec(c, "tls", argv, NULL, &res, err), err);
    assert_int_equal(res->exit_code, 3);
    assert_string_equal(res->stdout_data, "out\n");
    assert_string_equal(res->stderr_data, "err\n");
    nox_exec_result_free(res);

    nox_file files[] = { { "dir/a.txt", "alpha", 5, 0 } };
    nox_assert_ok(nox_upload_files(c, "tls", files, 1, "/workspace/up", err), err);
    res = NULL;
    nox_assert_ok(nox_exec_shell(c, "tls", "cat up/dir/a.txt", NULL, NULL, &res, err), err);
    assert_string_equal(res->stdout_data, "alpha");
    nox_exec_result_free(res);

    /* A tree whose archive is larger than 8 MiB streams up chunked. */
    char *local = nox_test_mkdtemp("tls-up");
    unsigned char *big = malloc(BIG_SIZE);
    assert_non_null(big);
    fill_noise(big, BIG_SIZE);
    char *p = nox_test_strf("%s/big.bin", local);
    nox_test_write_file(p, big, BIG_SIZE);
    free(p);
    nox_assert_ok(nox_upload_dir(c, "tls", local, "/workspace/big", err), err);
    res = NULL;
    nox_assert_ok(nox_exec_shell(c, "tls", "wc -c < big/big.bin", NULL, NULL, &res, err), err);
    assert_int_equal(nox_test_parse_long(res->stdout_data), (long)BIG_SIZE);
    nox_exec_result_free(res);

    /* ... and comes back down, through the pauses of a streamed download. */
    char *back = nox_test_mkdtemp("tls-down");
    bool any = false;
    nox_assert_ok(nox_download_workspace(c, "tls", "/workspace", back, &any, err), err);
    assert_true(any);
    p = nox_test_strf("%s/big/big.bin", back);
    size_t len = 0;
    char *got = nox_test_read_file(p, &len);
    free(p);
    assert_non_null(got);
    assert_int_equal(len, BIG_SIZE);
    assert_memory_equal(got, big, BIG_SIZE);
    free(got);
    p = nox_test_strf("%s/up/dir/a.txt", back);
    got = nox_test_read_file(p, NULL);
    free(p);
    assert_non_null(got);
    assert_string_equal(got, "alpha");
    free(got);
    void *tgz = NULL;
    size_t tgz_len = 0;
    nox_assert_ok(nox_download(c, "tls", "/workspace/up", &tgz, &tgz_len, err), err);
    assert_true(tgz_len > 0);
    free(tgz);
    nox_test_rmtree(back);
    free(back);
    nox_test_rmtree(local);
    free(local);
    free(big);

    nox_sandbox_list *list = NULL;
    nox_assert_ok(nox_list(c, &list, err), err);
    assert_int_equal(list->count, 1);
    nox_sandbox_list_free(list);
    nox_assert_ok(nox_info(c, "tls", &sb, err), err);
    assert_string_equal(sb->id, "tls");
    nox_sandbox_free(sb);

    nox_assert_ok(nox_delete(c, "tls", err), err);
    /* Error answers come through TLS as they are. */
    const char *t[] = { "true", NULL };
    res = NULL;
    assert_int_equal(nox_exec(c, "tls", t, NULL, &res, err), NOX_E_NOT_FOUND);
    assert_int_equal(nox_error_http_status(err), 404);
    nox_client_free(c);
    nox_error_free(err);
}

static void test_host_name_in_the_url(void **s)
{
    (void)s;
    /* The certificate names localhost too; one round trip is enough. */
    nox_error *err = nox_error_new();
    nox_client *c = http_client(host_url, ca, err);
    assert_int_equal(nox_health(c, err), 1);
    nox_assert_ok(nox_create(c, "byname", NULL, NULL, err), err);
    nox_exec_result *res = NULL;
    nox_assert_ok(nox_exec_shell(c, "byname", "echo hi", NULL, NULL, &res, err), err);
    assert_string_equal(res->stdout_data, "hi\n");
    nox_exec_result_free(res);
    nox_assert_ok(nox_delete(c, "byname", err), err);
    nox_client_free(c);
    nox_error_free(err);
}

/* Asserts that @p err holds a refused connection to @p url whose message
 * says the certificate was not accepted and contains @p also. */
static void assert_certificate_refused(int r, const nox_error *err, const char *url,
                                       const char *also)
{
    const char *msg = nox_error_message(err);
    if (r != NOX_E_CONNECT || nox_error_code(err) != NOX_E_CONNECT)
        fail_msg("got %d (%s), want NOX_E_CONNECT", r, msg);
    assert_int_equal(nox_error_http_status(err), 0);
    if (!strstr(msg, url) || !strstr(msg, "TLS certificate was not accepted") ||
        !strstr(msg, "certificate") || (also && !strstr(msg, also)))
        fail_msg("the message does not say what went wrong: %s", msg);
}

static void test_untrusted_without_the_ca_file(void **s)
{
    (void)s;
    /* The system's store does not know the throw-away CA. Every kind of
     * call fails the same way, each on a client whose first call it is
     * (so each makes the TLS connection itself). */
    nox_error *err = nox_error_new();
    nox_client *c = http_client(tls_url, NULL, err);
    /* Health never fails: it answers 0 and says why. */
    assert_int_equal(nox_health(c, err), 0);
    assert_certificate_refused(NOX_E_CONNECT, err, tls_url, "ca_file");
    nox_client_free(c);

    c = http_client(tls_url, NULL, err);
    assert_certificate_refused(nox_create(c, "never", NULL, NULL, err), err, tls_url, NULL);
    nox_client_free(c);

    c = http_client(tls_url, NULL, err);
    const char *argv[] = { "true", NULL };
    nox_exec_result *res = NULL;
    assert_certificate_refused(nox_exec(c, "never", argv, NULL, &res, err), err, tls_url, NULL);
    assert_null(res);
    nox_client_free(c);

    c = http_client(tls_url, NULL, err);
    nox_file f = { "x", "x", 1, 0 };
    assert_certificate_refused(nox_upload_files(c, "never", &f, 1, NULL, err), err, tls_url, NULL);
    nox_client_free(c);

    /* A download reports it as a refused connection too, not as a
     * transfer that broke off. */
    c = http_client(tls_url, NULL, err);
    void *data = NULL;
    size_t len = 0;
    assert_certificate_refused(nox_download(c, "never", NULL, &data, &len, err), err, tls_url,
                               NULL);
    nox_stream *st = NULL;
    assert_certificate_refused(nox_download_open(c, "never", NULL, &st, err), err, tls_url, NULL);
    assert_null(st);
    nox_client_free(c);

    /* Nothing reached the server. */
    c = http_client(tls_url, ca, err);
    nox_sandbox_list *list = NULL;
    nox_assert_ok(nox_list(c, &list, err), err);
    assert_int_equal(list->count, 0);
    nox_sandbox_list_free(list);
    nox_client_free(c);
    nox_error_free(err);
}

static void test_certificate_for_another_host(void **s)
{
    (void)s;
    /* Signed by the trusted CA, but for other.invalid, not 127.0.0.1. */
    nox_error *err = nox_error_new();
    nox_client *c = http_client(other_url, ca, err);
    assert_int_equal(nox_health(c, err), 0);
    assert_certificate_refused(NOX_E_CONNECT, err, other_url, "127.0.0.1");
    assert_non_null(strstr(nox_error_message(err), ca));
    assert_int_equal(nox_create(c, "x", NULL, NULL, err), NOX_E_CONNECT);
    assert_non_null(strstr(nox_error_message(err), "TLS certificate was not accepted"));
    nox_client_free(c);
    nox_error_free(err);
}

static void test_unusable_ca_files(void **s)
{
    (void)s;
    nox_error *err = nox_error_new();
    nox_client_options o;
    nox_client_options_init(&o);
    nox_client *c = NULL;

    /* A CA file that is not there is said at once, naming it. */
    char *missing = nox_test_strf("%s/no-such-ca.pem", dir);
    o.base_url = tls_url;
    o.ca_file = missing;
    assert_int_equal(nox_client_new(&o, &c, err), NOX_E_IO);
    assert_null(c);
    assert_non_null(strstr(nox_error_message(err), missing));
    /* ... but only an https:// URL uses one. */
    o.base_url = plain_url;
    nox_assert_ok(nox_client_new(&o, &c, err), err);
    assert_int_equal(nox_health(c, err), 1);
    nox_client_free(c);
    c = NULL;
    free(missing);

    /* A directory is not a CA file. */
    o.base_url = tls_url;
    o.ca_file = dir;
    assert_int_equal(nox_client_new(&o, &c, err), NOX_E_INVALID);
    assert_non_null(strstr(nox_error_message(err), dir));

    /* A file that holds no certificate cannot be used; the call says so. */
    char *junk = nox_test_strf("%s/junk.pem", dir);
    nox_test_write_file(junk, "not a certificate\n", 18);
    o.ca_file = junk;
    nox_assert_ok(nox_client_new(&o, &c, err), err);
    assert_int_equal(nox_health(c, err), 0);
    assert_int_equal(nox_error_code(err), NOX_E_CONNECT);
    assert_non_null(strstr(nox_error_message(err), junk));
    assert_non_null(strstr(nox_error_message(err), "cannot be used"));
    nox_client_free(c);
    c = NULL;
    free(junk);

    /* A certificate that is not the CA that signed the server's. */
    char *leaf = nox_test_strf("%s/certs/other.pem", dir);
    o.ca_file = leaf;
    nox_assert_ok(nox_client_new(&o, &c, err), err);
    assert_int_equal(nox_health(c, err), 0);
    assert_certificate_refused(NOX_E_CONNECT, err, tls_url, leaf);
    nox_client_free(c);
    free(leaf);
    nox_error_free(err);
}

static void test_https_to_a_plain_server(void **s)
{
    (void)s;
    /* noxrunnerd itself speaks no TLS: the handshake fails, and says so. */
    char url[80];
    snprintf(url, sizeof url, "https://%s", plain_url + strlen("http://"));
    nox_error *err = nox_error_new();
    nox_client *c = http_client(url, ca, err);
    assert_int_equal(nox_health(c, err), 0);
    assert_int_equal(nox_error_code(err), NOX_E_CONNECT);
    if (!strstr(nox_error_message(err), "TLS handshake failed") ||
        !strstr(nox_error_message(err), url))
        fail_msg("the message does not say what went wrong: %s", nox_error_message(err));
    nox_client_free(c);
    nox_error_free(err);
}

/* True when @p name is an executable in PATH. */
static bool in_path(const char *name)
{
    const char *path = getenv("PATH");
    if (!path)
        return false;
    char *copy = strdup(path);
    bool found = false;
    char *save = NULL;
    for (char *d = strtok_r(copy, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
        char *p = nox_test_strf("%s/%s", d, name);
        found = access(p, X_OK) == 0;
        free(p);
    }
    free(copy);
    return found;
}

int main(void)
{
    nox_test_need_server();
    if (!in_path("openssl")) {
        fprintf(stderr, "skipped, because the openssl command is missing (it makes the test's "
                        "certificates; scripts/install-deps.sh installs it)\n");
        return NOX_TEST_SKIPPED;
    }
    char *const py[] = { (char *)"python3", (char *)"-c", (char *)"import asyncio, ssl", NULL };
    if (!in_path("python3") || run(py, "/dev/null") != 0) {
        fprintf(stderr, "skipped, because python3 with its ssl module is missing (it runs the "
                        "TLS forwarder)\n");
        return NOX_TEST_SKIPPED;
    }
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_operation_with_the_ca_file),
        cmocka_unit_test(test_host_name_in_the_url),
        cmocka_unit_test(test_untrusted_without_the_ca_file),
        cmocka_unit_test(test_certificate_for_another_host),
        cmocka_unit_test(test_unusable_ca_files),
        cmocka_unit_test(test_https_to_a_plain_server),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
