/* SPDX-License-Identifier: MIT */
/* Session ids and sandbox paths: the names that come from outside and end
 * up as path components on this machine. Invalid ones are refused, never
 * rewritten (the reference client's rewriting let two ids collide). */
#include "backend.h"
#include "error.h"

static bool id_char_ok(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '-' || ch == '_' || ch == '.';
}

int nox__check_session_id(const char *id, nox_error *err)
{
    if (!id)
        return nox__error_set(err, NOX_E_INVALID, "session id is missing");
    size_t n = strlen(id);
    if (n == 0)
        return nox__error_set(err, NOX_E_INVALID, "session id is empty");
    if (n > NOX_SESSION_ID_MAX)
        return nox__error_set(err, NOX_E_INVALID,
                              "session id is %zu bytes long; the limit is %d bytes of letters, "
                              "digits, '-', '_' and '.'",
                              n, NOX_SESSION_ID_MAX);
    if (id[0] == '.')
        return nox__error_set(err, NOX_E_INVALID,
                              "invalid session id `%s`: it must not start with '.' (use letters, "
                              "digits, '-', '_' and '.')",
                              id);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)id[i];
        if (!id_char_ok(ch)) {
            if (ch >= 0x20 && ch < 0x7f)
                return nox__error_set(err, NOX_E_INVALID,
                                      "invalid session id `%s`: character '%c' is not allowed "
                                      "(use letters, digits, '-', '_' and '.')",
                                      id, ch);
            return nox__error_set(err, NOX_E_INVALID,
                                  "invalid session id: byte 0x%02x at offset %zu is not allowed "
                                  "(use letters, digits, '-', '_' and '.')",
                                  ch, i);
        }
    }
    return 0;
}

bool nox_session_id_valid(const char *id, nox_error *err)
{
    nox_error_clear(err);
    return nox__check_session_id(id, err) == 0;
}

int nox__workspace_relpath(const char *path, const char *what, char **ret_rel, nox_error *err)
{
    static const char root[] = "/workspace";
    if (!path)
        path = root;
    const char *rest;
    if (path[0] == '/') {
        size_t rl = sizeof root - 1;
        if (strncmp(path, root, rl) != 0 || (path[rl] != '\0' && path[rl] != '/'))
            return nox__error_set(err, NOX_E_INVALID, "%s `%s` is outside the sandbox's /workspace",
                                  what, path);
        rest = path + rl;
    } else {
        rest = path;
    }
    nox_buf out = NOX_BUF_INIT;
    const char *p = rest;
    while (*p) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        const char *end = strchr(p, '/');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n == 1 && p[0] == '.') {
            p += n;
            continue;
        }
        if (n == 2 && p[0] == '.' && p[1] == '.') {
            nox__buf_free(&out);
            return nox__error_set(err, NOX_E_INVALID, "%s `%s` contains a '..' component", what,
                                  path);
        }
        if ((out.len && nox__buf_append(&out, "/", 1) < 0) || nox__buf_append(&out, p, n) < 0) {
            nox__buf_free(&out);
            return nox__error_oom(err);
        }
        p += n;
    }
    if (out.len > 4096) {
        nox__buf_free(&out);
        return nox__error_set(err, NOX_E_INVALID, "%s is longer than 4096 bytes", what);
    }
    char *rel = nox__buf_steal(&out, NULL);
    if (!rel)
        return nox__error_oom(err);
    *ret_rel = rel;
    return 0;
}
