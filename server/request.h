/* SPDX-License-Identifier: MIT */
/* One HTTP request as the handlers see it, and the ways to answer it.
 * http.c owns the life cycle (routing, bodies, the access log); handlers.c
 * turns a routed request into one public API call and one answer. */
#ifndef NXD_REQUEST_H
#define NXD_REQUEST_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <noxrunner/noxrunner.h>

#include "route.h"
#include "server.h"
#include "util.h"

/* 413 by its RFC 9110 name; libmicrohttpd renamed its constant in 0.9.74
 * (deprecating the old one), and we build with older versions too. */
#define NXD_HTTP_CONTENT_TOO_LARGE 413

typedef struct nxd_conn nxd_conn;
typedef struct nxd_upload nxd_upload;

typedef enum nxd_body_mode {
    NXD_BODY_DISCARD = 0, /* read and ignored (still counted and limited) */
    NXD_BODY_JSON,        /* held in memory up to --max-json-bytes */
    NXD_BODY_UPLOAD,      /* streamed into nox_upload_stream() */
} nxd_body_mode;

typedef struct nxd_request {
    nxd_server *srv;
    nxd_conn *conn;
    struct MHD_Connection *mhd;

    /* For the access log. */
    char *target; /* the request target as received, query included */
    char *method; /* as received */
    int64_t start_ns;
    int status;         /* 0 until an answer is queued */
    uint64_t bytes_out; /* body bytes handed to libmicrohttpd */
    const char *note;   /* why the request ended unusually; static text */

    bool started;   /* the handler has seen this request */
    bool counted;   /* counted in srv->in_flight */
    bool responded; /* an answer is queued */

    /* Routing. */
    nxd_route route;
    char *id;    /* decoded session id, NULL for routes without one */
    char *param; /* decoded dest= or src=, NULL when absent */

    /* The body. */
    nxd_body_mode body_mode;
    uint64_t body_limit; /* bytes */
    uint64_t body_seen;
    bool over_limit;
    uint64_t drained; /* bytes read and dropped past body_limit */
    char *body;       /* JSON bodies */
    size_t body_len, body_cap;
    nxd_upload *upload;

    /* An answer decided while the body was still arriving (MHD 0.9.75 can
     * only send one before the body or after all of it): given at the end. */
    int deferred_status;
    char *deferred_message;
    const char *deferred_allow; /* static: the Allow header of a 405 */

    /* A download in progress. */
    nox_stream *stream;
    nox_error *stream_err;
} nxd_request;

/* The client of the request's connection, made on first use. NULL with
 * @p err filled when it cannot be made. */
nox_client *nxd_request_client(nxd_request *rq, nox_error *err);

/* ---- answers: each queues one response and returns what the access
 * handler must return to libmicrohttpd ---- */

/* 200 (or @p status) with the JSON text @p json of @p len bytes, which was
 * allocated by libnoxrunner and is released with nox_free(). */
enum MHD_Result nxd_respond_json(nxd_request *rq, unsigned status, char *json, size_t len);

/* @p status with static @p body of type @p content_type (NULL: none). */
enum MHD_Result nxd_respond_static(nxd_request *rq, unsigned status, const char *content_type,
                                   const char *body, size_t len);

/* @p status with {"error": message}. */
enum MHD_Result nxd_respond_error(nxd_request *rq, unsigned status, const char *fmt, ...)
    NXD_PRINTF(3, 4);

/* The answer for a failed library call: the status that fits the error
 * (see nxd_status_for()) and its message. */
enum MHD_Result nxd_respond_nox_error(nxd_request *rq, int code, const nox_error *err);

/* Queues @p resp (which the caller still releases) with @p status. */
enum MHD_Result nxd_respond(nxd_request *rq, unsigned status, struct MHD_Response *resp);

/* The HTTP status for a library error: the backend's own status in gateway
 * mode, otherwise by code (docs/server.md has the table). */
unsigned nxd_status_for(int code, const nox_error *err);

#endif
