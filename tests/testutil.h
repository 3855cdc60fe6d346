/* SPDX-License-Identifier: MIT */
/* Helpers shared by the tests: temporary directories, canary files,
 * running commands. cmocka needs these includes in this order. */
#ifndef NOX_TESTUTIL_H
#define NOX_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <sys/types.h>

/* Makes a fresh directory under $TMPDIR (or /tmp); the caller frees the
 * string and removes the tree with nox_test_rmtree(). */
char *nox_test_mkdtemp(const char *tag);
/* rm -rf, refusing anything outside the temporary directory. */
void nox_test_rmtree(const char *path);
/* Writes @p len bytes to @p path (creating parents), mode 0644. */
void nox_test_write_file(const char *path, const void *data, size_t len);
/* Reads a whole file; NULL when missing. */
char *nox_test_read_file(const char *path, size_t *ret_len);
/* True when @p path exists (lstat). */
bool nox_test_exists(const char *path);
/* The decimal number at the start of @p text, which must be followed only
 * by whitespace; fails the test otherwise (atoi would read garbage as 0). */
long nox_test_parse_long(const char *text);
/* Formats into a new string (aborts on failure). */
char *nox_test_strf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Exit status of a test program that skipped entirely; ctest reports it
 * as "Skipped" (SKIP_RETURN_CODE), never as passed. */
#define NOX_TEST_SKIPPED 77

/* Prints "skipped, because ..." and calls cmocka's skip(). */
#define nox_test_skip(...)                                                                         \
    do {                                                                                           \
        fprintf(stderr, "skipped, because ");                                                      \
        fprintf(stderr, __VA_ARGS__);                                                              \
        fprintf(stderr, "\n");                                                                     \
        skip();                                                                                    \
    } while (0)

#endif

#include <noxrunner/noxrunner.h>

/* A local client on a fresh state directory (returned in *ret_state when
 * non-NULL; the caller removes it). Fails the test on error. */
nox_client *nox_test_local_client(char **ret_state);
/* Deletes every sandbox @p c knows (NULL is accepted), frees @p c, and
 * removes the state directory @p state (freed too). */
void nox_test_local_done(nox_client *c, char *state);
/* Skips the current test when the group could not make its client. */
#define NOX_NEED_CLIENT(client)                                                                    \
    do {                                                                                           \
        if (!(client))                                                                             \
            nox_test_skip("this host cannot run isolated sandboxes");                              \
    } while (0)
/* A local client on an existing state directory. */
nox_client *nox_test_local_client_at(const char *state);
/* True when this host can run isolated sandboxes; prints why not. */
bool nox_test_isolation_available(void);

/* ---- a real noxrunnerd ---- */

/* For main() of the tests that drive a real noxrunnerd: exits with
 * NOX_TEST_SKIPPED, saying why, unless the server of this build
 * ($NOX_TEST_BUILD_DIR/server/noxrunnerd) exists and this host can run
 * isolated sandboxes. */
void nox_test_need_server(void);

/* Starts the server of this build on 127.0.0.1:0 with --port-file
 * @p port_file, --state-dir @p state, --log-level warn, then @p extra
 * (NULL-terminated, or NULL); its output is appended to @p log, its
 * environment is @p envp (NULL: this process's). Returns the port once the
 * server has written it, with *@p ret_pid set, or -1 (the server, if it
 * started, is stopped). */
int nox_test_server_start(const char *state, const char *port_file, const char *log,
                          const char *const *extra, char *const *envp, pid_t *ret_pid);

/* Waits up to 30 s for the port @p writer writes to @p path: the port, or
 * -1 when @p writer exits first or the time runs out. */
int nox_test_wait_port(const char *path, pid_t writer);
/* Runs argv in sandbox @p id with the default options; fails the test when
 * the call itself fails. */
nox_exec_result *nox_test_exec(nox_client *c, const char *id, const char *const *argv);
/* Runs `sh -c script`. */
nox_exec_result *nox_test_sh(nox_client *c, const char *id, const char *script);
/* Asserts a call succeeded, printing the error's message when not. */
#define nox_assert_ok(expr, err)                                                                   \
    do {                                                                                           \
        int nox_r_ = (expr);                                                                       \
        if (nox_r_ != 0)                                                                           \
            fail_msg("%s failed: %d (%s)", #expr, nox_r_, nox_error_message(err));                 \
    } while (0)
