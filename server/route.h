/* SPDX-License-Identifier: MIT */
/* Routing: from the raw request target and method to an endpoint, a
 * decoded session id and a decoded query parameter. Pure functions (no
 * libmicrohttpd, no I/O), so the parser of this untrusted input can be
 * tested on its own. */
#ifndef NXD_ROUTE_H
#define NXD_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

typedef enum nxd_route {
    NXD_ROUTE_NONE = 0,
    NXD_ROUTE_HEALTH,   /* /healthz */
    NXD_ROUTE_LIST,     /* /v1/sandboxes (extension) */
    NXD_ROUTE_SANDBOX,  /* /v1/sandboxes/{id}: PUT, DELETE, GET (extension) */
    NXD_ROUTE_TOUCH,    /* /v1/sandboxes/{id}/touch */
    NXD_ROUTE_EXEC,     /* /v1/sandboxes/{id}/exec */
    NXD_ROUTE_UPLOAD,   /* /v1/sandboxes/{id}/files/upload?dest= */
    NXD_ROUTE_DOWNLOAD, /* /v1/sandboxes/{id}/files/download?src= */
} nxd_route;

typedef struct nxd_routed {
    nxd_route route;
    /* The session id, percent-decoded once and checked with
     * nox_session_id_valid(); NULL for routes without one. */
    char *id;
    /* The route's query parameter (dest= or src=), decoded; NULL when
     * absent. */
    char *param;
} nxd_routed;

/* What a refused request is answered with. */
typedef struct nxd_refusal {
    unsigned status;   /* 400, 404, 405, or 503 when out of memory */
    char *message;     /* allocated; NULL when out of memory */
    const char *allow; /* static; the Allow header of a 405, else NULL */
} nxd_refusal;

/* Routes @p method and the raw (still percent-encoded) request @p target,
 * query included. Returns true with @p out filled (free it with
 * nxd_routed_clear()), or false with @p refusal filled (free its message
 * with free()). In this order: 400 for a malformed escape or an encoded
 * NUL in the path, 404 for an unknown path, 400 for an invalid session id
 * (before the method: an invalid id is 400 whatever the method), 405 for
 * a method the route does not take, 400 for a malformed query parameter
 * or one given twice. */
bool nxd_route_parse(const char *target, const char *method, nxd_routed *out, nxd_refusal *refusal);

void nxd_routed_clear(nxd_routed *r);

/* @p text as it may appear in a log line or an error message, written into
 * @p buf: bytes outside printable ASCII, quotes and backslashes
 * percent-encoded (so it cannot break a log line or its quoting), cut with
 * "..." to fit @p size (at least 16). NULL prints as "-". Returns @p buf. */
const char *nxd_printable(const char *text, char *buf, size_t size);

#endif
