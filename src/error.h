/* SPDX-License-Identifier: MIT */
/* Filling nox_error objects. Every helper returns the (negative) code it
 * recorded, so a failure path reads:
 *     return nox__error_errno(err, NOX_E_IO, errno, "open `%s`", path);
 */
#ifndef NOX_ERROR_H
#define NOX_ERROR_H

#include <noxrunner/noxrunner.h>

#include "util.h"

struct nox_error {
    int code;
    int http_status;
    char *message;
    char *body;
    size_t body_len;
    /* The errno behind the error, when a system call's failure was it
     * (nox__error_errno); 0 otherwise. Internal: lets a caller tell a
     * full disk from a limit of ours. */
    int sys_errno;
};

/* Records @p code and a formatted message. @p err may be NULL. */
int nox__error_set(nox_error *err, int code, const char *fmt, ...) NOX_PRINTF(3, 4) NOX_HIDDEN;

/* As nox__error_set(), appending ": strerror(errnum)". */
int nox__error_errno(nox_error *err, int code, int errnum, const char *fmt, ...)
    NOX_PRINTF(4, 5) NOX_HIDDEN;

/* Records an HTTP failure: code, status, message and a copy of the body. */
int nox__error_http(nox_error *err, int code, int status, const char *body, size_t body_len,
                    const char *fmt, ...) NOX_PRINTF(6, 7) NOX_HIDDEN;

/* Prefixes the message already in @p err with a formatted context:
 * "exec in sandbox `a`: <old message>". Returns @p code (the failure's
 * code, which the caller has even when @p err is NULL). */
int nox__error_prefix(nox_error *err, int code, const char *fmt, ...) NOX_PRINTF(3, 4) NOX_HIDDEN;

/* Copies everything from @p src into @p dst (dst may be NULL). */
int nox__error_copy(nox_error *dst, const nox_error *src) NOX_HIDDEN;

/* Out of memory: a static message, no allocation needed. */
int nox__error_oom(nox_error *err) NOX_HIDDEN;

/* Maps an errno of a file operation to the closest nox_code. */
int nox__code_from_errno(int errnum) NOX_HIDDEN;

/* Maps an HTTP status to the nox_code a client reports for it. */
int nox__code_from_http_status(int status) NOX_HIDDEN;

#if defined(__clang_analyzer__) && !defined(NOX_ERROR_IMPL)
/* The static analyzer (clang-tidy's clang-analyzer-*) sees one file at a
 * time, so it cannot know that these helpers return a negative code: it
 * follows `r = nox__error_oom(err)` on as if r could be 0 and reports the
 * NULL that the failure left behind. Stating the contract for it removes
 * that whole family of false positives. Compilers never see these macros,
 * nor does error.c, which defines the functions. */
static inline int nox__analyzer_failed(int code)
{
    __builtin_assume(code < 0);
    return code;
}
#define nox__error_set(...)    nox__analyzer_failed(nox__error_set(__VA_ARGS__))
#define nox__error_errno(...)  nox__analyzer_failed(nox__error_errno(__VA_ARGS__))
#define nox__error_http(...)   nox__analyzer_failed(nox__error_http(__VA_ARGS__))
#define nox__error_prefix(...) nox__analyzer_failed(nox__error_prefix(__VA_ARGS__))
#define nox__error_oom(...)    nox__analyzer_failed(nox__error_oom(__VA_ARGS__))
#endif

#endif
