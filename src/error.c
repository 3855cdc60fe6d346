/* SPDX-License-Identifier: MIT */
/* Defines the helpers that error.h spells out for the static analyzer. */
#define NOX_ERROR_IMPL
#include "error.h"

#include <stdarg.h>

/* A message used when even formatting the real one failed for lack of
 * memory; never freed. */
static char oom_message[] = "out of memory";

/* One table: the code, its name and its short description. */
#define CODE(c, text)                                                                              \
    {                                                                                              \
        c, #c, text                                                                                \
    }
static const struct {
    int code;
    const char *name;
    const char *text;
} code_texts[] = {
    CODE(NOX_OK, "success"),
    CODE(NOX_E_INVALID, "invalid argument"),
    CODE(NOX_E_NOMEM, "out of memory"),
    CODE(NOX_E_NOT_FOUND, "not found"),
    CODE(NOX_E_HTTP, "HTTP error"),
    CODE(NOX_E_CONNECT, "could not connect to the backend"),
    CODE(NOX_E_TIMEOUT, "timed out"),
    CODE(NOX_E_PROTOCOL, "malformed answer from the backend"),
    CODE(NOX_E_ARCHIVE, "invalid or unsafe archive"),
    CODE(NOX_E_LIMIT, "limit exceeded"),
    CODE(NOX_E_IO, "I/O error"),
    CODE(NOX_E_EXEC, "execution failure"),
    CODE(NOX_E_NOT_READY, "sandbox not ready"),
    CODE(NOX_E_UNSUPPORTED, "not supported by this backend"),
    CODE(NOX_E_ISOLATION, "isolation unavailable"),
    CODE(NOX_E_CANCELLED, "cancelled"),
    CODE(NOX_E_NETWORK, "connection to the backend broke"),
    CODE(NOX_E_SERVER, "backend failure"),
    CODE(NOX_E_INTERNAL, "internal error"),
};

const char *nox_strerror(int code)
{
    for (size_t i = 0; i < NOX_ARRAY_SIZE(code_texts); i++)
        if (code_texts[i].code == code)
            return code_texts[i].text;
    return "unknown error code";
}

const char *nox_code_name(int code)
{
    for (size_t i = 0; i < NOX_ARRAY_SIZE(code_texts); i++)
        if (code_texts[i].code == code)
            return code_texts[i].name;
    return "NOX_E_UNKNOWN";
}

nox_error *nox_error_new(void)
{
    return calloc(1, sizeof(nox_error));
}

static void free_message(nox_error *err)
{
    if (err->message != oom_message)
        free(err->message);
    err->message = NULL;
}

void nox_error_clear(nox_error *err)
{
    if (!err)
        return;
    free_message(err);
    free(err->body);
    memset(err, 0, sizeof *err);
}

void nox_error_free(nox_error *err)
{
    nox_error_clear(err);
    free(err);
}

int nox_error_code(const nox_error *err)
{
    return err ? err->code : 0;
}

int nox_error_http_status(const nox_error *err)
{
    return err ? err->http_status : 0;
}

const char *nox_error_message(const nox_error *err)
{
    return err && err->message ? err->message : "";
}

const char *nox_error_body(const nox_error *err, size_t *ret_len)
{
    if (!err || !err->body)
        return NULL;
    if (ret_len)
        *ret_len = err->body_len;
    return err->body;
}

NOX_PRINTF(4, 0)
static int set_v(nox_error *err, int code, int errnum, const char *fmt, va_list ap)
{
    if (!err)
        return code;
    nox_error_clear(err);
    err->code = code;
    err->sys_errno = errnum;
    char *msg = NULL;
    if (vasprintf(&msg, fmt, ap) < 0) {
        err->message = oom_message;
        return code;
    }
    if (errnum) {
        char *full = nox__asprintf("%s: %s", msg, strerror(errnum));
        if (full) {
            free(msg);
            msg = full;
        }
    }
    err->message = msg;
    return code;
}

int nox__error_set(nox_error *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    set_v(err, code, 0, fmt, ap);
    va_end(ap);
    return code;
}

int nox__error_errno(nox_error *err, int code, int errnum, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    set_v(err, code, errnum, fmt, ap);
    va_end(ap);
    return code;
}

int nox__error_http(nox_error *err, int code, int status, const char *body, size_t body_len,
                    const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    set_v(err, code, 0, fmt, ap);
    va_end(ap);
    if (!err)
        return code;
    err->http_status = status;
    if (body) {
        err->body = malloc(body_len + 1);
        if (err->body) {
            memcpy(err->body, body, body_len);
            err->body[body_len] = '\0';
            err->body_len = body_len;
        }
    }
    return code;
}

int nox__error_prefix(nox_error *err, int code, const char *fmt, ...)
{
    if (!err)
        return code;
    char *prefix = NULL;
    va_list ap;
    va_start(ap, fmt);
    int r = vasprintf(&prefix, fmt, ap);
    va_end(ap);
    if (r < 0)
        return code;
    char *full = nox__asprintf("%s: %s", prefix, nox_error_message(err));
    free(prefix);
    if (full) {
        free_message(err);
        err->message = full;
    }
    return code;
}

int nox__error_copy(nox_error *dst, const nox_error *src)
{
    if (!dst || dst == src)
        return src ? src->code : 0;
    if (!src)
        return 0;
    nox__error_http(dst, src->code, src->http_status, src->body, src->body_len, "%s",
                    nox_error_message(src));
    if (!src->body)
        dst->body = NULL;
    return src->code;
}

int nox__error_oom(nox_error *err)
{
    if (err) {
        nox_error_clear(err);
        err->code = NOX_E_NOMEM;
        err->message = oom_message;
    }
    return NOX_E_NOMEM;
}

int nox__code_from_errno(int errnum)
{
    switch (errnum) {
    case ENOMEM:
        return NOX_E_NOMEM;
    case ENOENT:
    case ENOTDIR:
        return NOX_E_NOT_FOUND;
    case EINVAL:
    case ENAMETOOLONG:
    case ELOOP:
        return NOX_E_INVALID;
    case EFBIG:
    case ENOSPC:
    case EDQUOT:
        return NOX_E_LIMIT;
    case ETIMEDOUT:
        return NOX_E_TIMEOUT;
    case ECANCELED:
        return NOX_E_CANCELLED;
    default:
        return NOX_E_IO;
    }
}

int nox__code_from_http_status(int status)
{
    switch (status) {
    case 400:
    case 405:
    case 422:
        return NOX_E_INVALID;
    case 404:
    case 410:
        return NOX_E_NOT_FOUND;
    case 408:
    case 504:
        return NOX_E_TIMEOUT;
    case 413:
    case 429:
        return NOX_E_LIMIT;
    case 501:
        return NOX_E_UNSUPPORTED;
    case 503:
        return NOX_E_NOT_READY;
    default:
        if (status >= 500 && status <= 599)
            return NOX_E_SERVER;
        return NOX_E_HTTP;
    }
}
