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
/* Formats into a new string (aborts on failure). */
char *nox_test_strf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints "skipped, because ..." and calls cmocka's skip(). */
#define nox_test_skip(...)                                                                        \
    do {                                                                                           \
        fprintf(stderr, "skipped, because ");                                                      \
        fprintf(stderr, __VA_ARGS__);                                                              \
        fprintf(stderr, "\n");                                                                     \
        skip();                                                                                    \
    } while (0)

#endif
