/* SPDX-License-Identifier: MIT */
/* Routing works on the raw request target. libmicrohttpd percent-decodes
 * the path it hands its handler, which would turn the id "..%2Fx" into two
 * path segments (and a 404 instead of the 400 an invalid id deserves), so
 * the target is split at '/' first and each segment decoded once after. */
#include "route.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <noxrunner/noxrunner.h>

#include "util.h"

/* How much of a target a message quotes. */
#define QUOTE_MAX 200

const char *nxd_printable(const char *text, char *buf, size_t size)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    if (!text)
        text = "-";
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (n + 8 >= size) {
            memcpy(buf + n, "...", 3);
            n += 3;
            break;
        }
        if (*p <= 0x20 || *p >= 0x7f || *p == '"' || *p == '\\') {
            buf[n++] = '%';
            buf[n++] = hex[*p >> 4];
            buf[n++] = hex[*p & 15];
        } else {
            buf[n++] = (char)*p;
        }
    }
    buf[n] = '\0';
    return buf;
}

static bool refuse(nxd_refusal *r, unsigned status, const char *allow, const char *fmt, ...)
    NXD_PRINTF(4, 5);
static bool refuse(nxd_refusal *r, unsigned status, const char *allow, const char *fmt, ...)
{
    r->status = status;
    r->allow = allow;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&r->message, fmt, ap) < 0)
        r->message = NULL;
    va_end(ap);
    return false;
}

static bool out_of_memory(nxd_refusal *r)
{
    r->status = 503;
    r->allow = NULL;
    r->message = NULL;
    return false;
}

static int hex_value(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Decodes the @p len bytes at @p s: %XX escapes, and '+' as a space when
 * @p plus (query strings, as HTML forms and Python's urlencode write
 * them). NULL with *ret_why set for a malformed escape or an encoded NUL;
 * NULL with *ret_why NULL when out of memory. */
static char *percent_decode(const char *s, size_t len, bool plus, const char **ret_why)
{
    *ret_why = NULL;
    char *out = malloc(len + 1);
    if (!out)
        return NULL;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        if (ch == '%') {
            int hi = i + 1 < len ? hex_value(s[i + 1]) : -1;
            int lo = i + 2 < len ? hex_value(s[i + 2]) : -1;
            if (hi < 0 || lo < 0) {
                free(out);
                *ret_why = "malformed percent-encoding";
                return NULL;
            }
            ch = (char)(hi << 4 | lo);
            if (ch == '\0') {
                free(out);
                *ret_why = "an encoded NUL byte (%00)";
                return NULL;
            }
            i += 2;
        } else if (ch == '+' && plus) {
            ch = ' ';
        }
        out[n++] = ch;
    }
    out[n] = '\0';
    return out;
}

#define MAX_SEGMENTS 6

typedef struct route_spec {
    nxd_route route;
    size_t n_segments;
    const char *segments[MAX_SEGMENTS]; /* NULL: the session id */
    const char *allow;                  /* for 405 answers */
    const char *param;                  /* the query parameter the route reads */
} route_spec;

static const route_spec routes[] = {
    { NXD_ROUTE_HEALTH, 1, { "healthz" }, "GET, HEAD", NULL },
    { NXD_ROUTE_LIST, 2, { "v1", "sandboxes" }, "GET, HEAD", NULL },
    { NXD_ROUTE_SANDBOX, 3, { "v1", "sandboxes", NULL }, "GET, HEAD, PUT, DELETE", NULL },
    { NXD_ROUTE_TOUCH, 4, { "v1", "sandboxes", NULL, "touch" }, "POST", NULL },
    { NXD_ROUTE_EXEC, 4, { "v1", "sandboxes", NULL, "exec" }, "POST", NULL },
    { NXD_ROUTE_UPLOAD, 5, { "v1", "sandboxes", NULL, "files", "upload" }, "POST", "dest" },
    { NXD_ROUTE_DOWNLOAD, 5, { "v1", "sandboxes", NULL, "files", "download" }, "GET, HEAD", "src" },
};

/* The session id sits at this segment in every route that has one. */
#define ID_SEGMENT 2

static bool method_allowed(const char *allow, const char *method)
{
    size_t n = strlen(method);
    for (const char *p = allow; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && memcmp(p, method, n) == 0)
            return true;
        if (!end)
            break;
        p = end + 1;
        while (*p == ' ')
            p++;
    }
    return false;
}

static void free_segments(char **seg, size_t n)
{
    for (size_t k = 0; k < n; k++)
        free(seg[k]);
}

/* Finds the route of the @p path_len bytes of path at @p path, whatever
 * the method; the decoded id goes to *ret_id. NULL with @p refusal filled
 * when there is none. */
static const route_spec *match_path(const char *path, size_t path_len, const char *shown,
                                    const char *method, char **ret_id, nxd_refusal *refusal)
{
    char *seg[MAX_SEGMENTS] = { NULL };
    size_t n_seg = 0;
    bool too_many = false;
    /* An absolute path only: "*" and relative targets match nothing. */
    for (size_t i = 1; path_len > 0 && path[0] == '/' && i <= path_len;) {
        size_t len = 0;
        while (i + len < path_len && path[i + len] != '/')
            len++;
        if (n_seg == MAX_SEGMENTS) {
            too_many = true;
            break;
        }
        const char *why;
        if (!(seg[n_seg] = percent_decode(path + i, len, false, &why))) {
            free_segments(seg, n_seg);
            if (!why)
                out_of_memory(refusal);
            else
                refuse(refusal, 400, NULL, "path `%s` has %s", shown, why);
            return NULL;
        }
        n_seg++;
        i += len + 1;
    }
    const route_spec *found = NULL;
    for (size_t r = 0; !too_many && !found && r < NXD_ARRAY_SIZE(routes); r++) {
        bool match = routes[r].n_segments == n_seg;
        for (size_t k = 0; match && k < n_seg; k++)
            if (routes[r].segments[k] && strcmp(routes[r].segments[k], seg[k]) != 0)
                match = false;
        if (match)
            found = &routes[r];
    }
    char *id = NULL;
    if (found && found->n_segments > ID_SEGMENT) {
        id = seg[ID_SEGMENT];
        seg[ID_SEGMENT] = NULL;
    }
    free_segments(seg, n_seg);
    if (!found) {
        char m[40];
        nxd_printable(method, m, sizeof m);
        refuse(refusal, 404, NULL,
               "no such endpoint: %s %s (the API is described in docs/api-v1.md)", m, shown);
        return NULL;
    }
    *ret_id = id;
    return found;
}

/* The route's one query parameter, decoded. Others are ignored (clients
 * may add their own); one given twice is ambiguous. */
static bool find_param(const char *query, const char *name, const char *shown, char **ret,
                       nxd_refusal *refusal)
{
    *ret = NULL;
    for (const char *p = query; p && *p;) {
        size_t len = strcspn(p, "&#");
        const char *eq = memchr(p, '=', len);
        size_t key_len = eq ? (size_t)(eq - p) : len;
        const char *why;
        char *key = percent_decode(p, key_len, true, &why);
        if (!key) {
            free(*ret);
            *ret = NULL;
            if (!why)
                return out_of_memory(refusal);
            return refuse(refusal, 400, NULL, "query of `%s` has %s", shown, why);
        }
        bool wanted = strcmp(key, name) == 0;
        free(key);
        if (wanted) {
            if (*ret) {
                free(*ret);
                *ret = NULL;
                return refuse(refusal, 400, NULL, "query parameter `%s` is given more than once",
                              name);
            }
            const char *v = eq ? eq + 1 : p + len;
            if (!(*ret = percent_decode(v, (size_t)(p + len - v), true, &why))) {
                if (!why)
                    return out_of_memory(refusal);
                return refuse(refusal, 400, NULL, "query parameter `%s` has %s", name, why);
            }
        }
        if (p[len] != '&')
            break;
        p += len + 1;
    }
    return true;
}

bool nxd_route_parse(const char *target, const char *method, nxd_routed *out, nxd_refusal *refusal)
{
    memset(out, 0, sizeof *out);
    memset(refusal, 0, sizeof *refusal);
    char shown[QUOTE_MAX + 8];
    nxd_printable(target, shown, sizeof shown);
    /* An absolute-form target ("http://host/path", RFC 9112 3.2.2). */
    const char *path = target;
    if (strncmp(path, "http://", 7) == 0 || strncmp(path, "https://", 8) == 0) {
        const char *slash = strchr(strstr(path, "://") + 3, '/');
        path = slash ? slash : "/";
    }
    size_t path_len = strcspn(path, "?#");
    const char *query = path[path_len] == '?' ? path + path_len + 1 : NULL;

    char *id = NULL;
    const route_spec *spec = match_path(path, path_len, shown, method, &id, refusal);
    if (!spec)
        return false;
    /* A path that names a sandbox is a sandbox route: its id is checked
     * before anything else, the method included (an invalid id is 400 on
     * every route, whatever the method). */
    if (id) {
        nox_error *err = nox_error_new();
        if (!nox_session_id_valid(id, err)) {
            refuse(refusal, 400, NULL, "%s", err ? nox_error_message(err) : "invalid session id");
            nox_error_free(err);
            free(id);
            return false;
        }
        nox_error_free(err);
    }
    if (!method_allowed(spec->allow, method)) {
        char m[40];
        free(id);
        return refuse(refusal, 405, spec->allow, "method %s is not allowed on %s; allowed: %s",
                      nxd_printable(method, m, sizeof m), shown, spec->allow);
    }
    char *param = NULL;
    if (spec->param && !find_param(query, spec->param, shown, &param, refusal)) {
        free(id);
        return false;
    }
    out->route = spec->route;
    out->id = id;
    out->param = param;
    return true;
}

void nxd_routed_clear(nxd_routed *r)
{
    free(r->id);
    free(r->param);
    memset(r, 0, sizeof *r);
}
