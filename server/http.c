/* SPDX-License-Identifier: MIT */
/* libmicrohttpd glue.
 *
 * Threads: one per connection (MHD_USE_THREAD_PER_CONNECTION), so a handler
 * may block in the library for as long as an exec runs without holding up
 * any other request. Each connection gets its own nox_client, made on its
 * first request and freed when the connection closes: a client is used by
 * one thread at a time, and a connection's requests are sequential.
 *
 * A request goes through:
 *   on_uri()        the request line arrived: the raw target is kept (MHD
 *                   percent-decodes the path it hands the handler, which
 *                   would turn the id "..%2Fx" into two path segments)
 *   on_request()    first call: route, method, id, body limits; then once
 *                   per body chunk; then a last call that answers
 *   on_completed()  the answer went out or the connection broke: release
 *                   everything, write the access log line. */
#include "http.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <noxrunner/wire.h>

#include "handlers.h"
#include "log.h"
#include "request.h"
#include "route.h"
#include "upload.h"

/* Past its limit, a body is still read and dropped for up to this many
 * bytes so that the client, which is usually still sending, gets to read
 * the 413; a client that keeps sending beyond it is disconnected. */
#define DRAIN_BYTES (4ull << 20)

/* How much of a request target goes into the access log and messages. */
#define TARGET_LOG_MAX 1024

/* ---- connections ---- */

struct nxd_conn {
    atomic_int refs;
    nox_client *client;
    char addr[INET6_ADDRSTRLEN + IF_NAMESIZE + 1]; /* room for "fe80::1%eth0" */
};

static void conn_release(nxd_conn *conn)
{
    if (conn && atomic_fetch_sub(&conn->refs, 1) == 1) {
        nox_client_free(conn->client);
        free(conn);
    }
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    (void)cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        nxd_conn *conn = calloc(1, sizeof *conn);
        if (!conn)
            return; /* on_request() answers 503 for this connection */
        atomic_init(&conn->refs, 1);
        snprintf(conn->addr, sizeof conn->addr, "-");
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        if (ci && ci->client_addr) {
            const struct sockaddr *sa = ci->client_addr;
            socklen_t len = sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                      : sizeof(struct sockaddr_in);
            if (getnameinfo(sa, len, conn->addr, sizeof conn->addr, NULL, 0, NI_NUMERICHOST) != 0)
                snprintf(conn->addr, sizeof conn->addr, "?");
        }
        *socket_context = conn;
    } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
        conn_release(*socket_context);
        *socket_context = NULL;
    }
}

nox_client *nxd_request_client(nxd_request *rq, nox_error *err)
{
    nxd_conn *conn = rq->conn;
    if (!conn->client) {
        nox_client *client = NULL;
        if (nox_client_new(&rq->srv->client_opts, &client, err) < 0)
            return NULL;
        conn->client = client;
    }
    return conn->client;
}

/* ---- requests ---- */

static nxd_request *request_new(nxd_server *srv)
{
    nxd_request *rq = calloc(1, sizeof *rq);
    if (!rq)
        return NULL;
    rq->srv = srv;
    rq->start_ns = nxd_now_ns();
    return rq;
}

static void request_free(nxd_request *rq)
{
    if (!rq)
        return;
    if (rq->upload)
        nxd_upload_finish(rq->upload, false, NULL);
    nox_stream_free(rq->stream);
    nox_error_free(rq->stream_err);
    conn_release(rq->conn);
    free(rq->target);
    free(rq->method);
    free(rq->id);
    free(rq->param);
    free(rq->body);
    free(rq->deferred_message);
    free(rq);
}

/* The connection a request arrived on, with a reference for the request. */
static void attach_conn(nxd_request *rq, struct MHD_Connection *c)
{
    if (rq->conn)
        return;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    nxd_conn *conn = ci ? ci->socket_context : NULL;
    if (conn) {
        atomic_fetch_add(&conn->refs, 1);
        rq->conn = conn;
    }
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
    nxd_request *rq = request_new(cls);
    if (!rq)
        return NULL;
    attach_conn(rq, c);
    if (uri)
        rq->target = strdup(uri); /* NULL on failure: on_request() answers 503 */
    return rq;
}

static const char *termination_note(enum MHD_RequestTerminationCode toe)
{
    switch (toe) {
    case MHD_REQUEST_TERMINATED_COMPLETED_OK:
        return NULL;
    case MHD_REQUEST_TERMINATED_WITH_ERROR:
        return "connection closed on an error";
    case MHD_REQUEST_TERMINATED_TIMEOUT_REACHED:
        return "idle timeout";
    case MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN:
        return "server shutdown";
    case MHD_REQUEST_TERMINATED_READ_ERROR:
        return "read error";
    case MHD_REQUEST_TERMINATED_CLIENT_ABORT:
        return "client closed the connection";
    }
    return "ended unusually";
}

static void log_access(const nxd_request *rq)
{
    char when[32] = "-";
    struct timespec ts;
    struct tm tm;
    if (clock_gettime(CLOCK_REALTIME, &ts) == 0 && gmtime_r(&ts.tv_sec, &tm)) {
        size_t n = strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(when + n, sizeof when - n, ".%03ldZ", ts.tv_nsec / 1000000);
    }
    char target[TARGET_LOG_MAX + 8], method[40], status[8];
    nxd_printable(rq->target, target, sizeof target);
    nxd_printable(rq->method, method, sizeof method);
    if (rq->status)
        snprintf(status, sizeof status, "%d", rq->status);
    else
        snprintf(status, sizeof status, "-");
    long long ms = (long long)((nxd_now_ns() - rq->start_ns) / 1000000);
    nxd_log_access("%s %s \"%s %s\" %s %lldms %" PRIu64 "B%s%s%s", when,
                   rq->conn ? rq->conn->addr : "-", method, target, status, ms, rq->bytes_out,
                   rq->note ? " (" : "", rq->note ? rq->note : "", rq->note ? ")" : "");
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)c;
    nxd_server *srv = cls;
    nxd_request *rq = *con_cls;
    *con_cls = NULL;
    if (!rq)
        return;
    if (!rq->started) {
        /* The handler never saw it: libmicrohttpd answered (or dropped) it
         * itself, or the headers never finished. */
        switch (toe) {
        case MHD_REQUEST_TERMINATED_TIMEOUT_REACHED:
            rq->note = "headers incomplete at the idle timeout";
            break;
        case MHD_REQUEST_TERMINATED_CLIENT_ABORT:
        case MHD_REQUEST_TERMINATED_READ_ERROR:
            rq->note = "client went away before its headers were complete";
            break;
        case MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN:
            rq->note = "server shutdown";
            break;
        default:
            rq->note = "refused by libmicrohttpd: malformed or too large request";
            break;
        }
    } else if (!rq->note) {
        rq->note = termination_note(toe);
    }
    log_access(rq);
    bool counted = rq->counted;
    /* An upload cut short is aborted here (its worker joined), before the
     * request counts as finished for shutdown. */
    request_free(rq);
    if (counted)
        atomic_fetch_sub(&srv->in_flight, 1);
}

long nxd_http_in_flight(nxd_server *srv)
{
    return atomic_load(&srv->in_flight);
}

/* ---- answers ---- */

enum MHD_Result nxd_respond(nxd_request *rq, unsigned status, struct MHD_Response *resp)
{
    if (!resp) {
        nxd_error("out of memory building a response");
        return MHD_NO;
    }
    if (atomic_load(&rq->srv->shutting_down))
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result r = MHD_queue_response(rq->mhd, status, resp);
    if (r == MHD_YES) {
        rq->status = (int)status;
        rq->responded = true;
    } else {
        nxd_debug("libmicrohttpd refused a %u answer; closing the connection", status);
    }
    return r;
}

enum MHD_Result nxd_respond_json(nxd_request *rq, unsigned status, char *json, size_t len)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer_with_free_callback(len, json, nox_free);
    if (!resp) {
        nox_free(json);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    rq->bytes_out = len;
    enum MHD_Result r = nxd_respond(rq, status, resp);
    MHD_destroy_response(resp);
    return r;
}

enum MHD_Result nxd_respond_static(nxd_request *rq, unsigned status, const char *content_type,
                                   const char *body, size_t len)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    if (content_type)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    rq->bytes_out = len;
    enum MHD_Result r = nxd_respond(rq, status, resp);
    MHD_destroy_response(resp);
    return r;
}

/* {"error": message} as a response not yet queued; NULL when out of memory. */
static struct MHD_Response *error_response(nxd_request *rq, const char *message)
{
    char *json = NULL;
    size_t len = 0;
    struct MHD_Response *resp;
    if (nox_wire_encode_error(message, &json, &len) == 0) {
        resp = MHD_create_response_from_buffer_with_free_callback(len, json, nox_free);
        if (!resp)
            nox_free(json);
    } else {
        static const char oom[] = "{\"error\":\"out of memory\"}";
        len = sizeof oom - 1;
        resp = MHD_create_response_from_buffer(len, (void *)oom, MHD_RESPMEM_PERSISTENT);
    }
    if (resp) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
        rq->bytes_out = len;
    }
    return resp;
}

static void log_failure(const nxd_request *rq, unsigned status, const char *message)
{
    char target[TARGET_LOG_MAX + 8];
    nxd_log(status >= 500 ? NXD_LOG_WARN : NXD_LOG_DEBUG, "%s %s: %u: %s",
            rq->method ? rq->method : "-", nxd_printable(rq->target, target, sizeof target), status,
            message);
}

static enum MHD_Result respond_error_with_allow(nxd_request *rq, unsigned status, const char *allow,
                                                const char *message)
{
    log_failure(rq, status, message);
    struct MHD_Response *resp = error_response(rq, message);
    if (!resp)
        return MHD_NO;
    if (allow)
        MHD_add_response_header(resp, "Allow", allow);
    enum MHD_Result r = nxd_respond(rq, status, resp);
    MHD_destroy_response(resp);
    return r;
}

enum MHD_Result nxd_respond_error(nxd_request *rq, unsigned status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = NULL;
    int n = vasprintf(&msg, fmt, ap);
    va_end(ap);
    enum MHD_Result r = respond_error_with_allow(rq, status, NULL, n < 0 ? "out of memory" : msg);
    if (n >= 0)
        free(msg);
    return r;
}

unsigned nxd_status_for(int code, const nox_error *err)
{
    /* Gateway mode: the backend's own answer goes through as it was. Only
     * error statuses: a 3xx without its Location would mislead. */
    int upstream = nox_error_http_status(err);
    if (upstream >= 400 && upstream <= 599)
        return (unsigned)upstream;
    return (unsigned)nox_wire_http_status(code);
}

enum MHD_Result nxd_respond_nox_error(nxd_request *rq, int code, const nox_error *err)
{
    const char *msg = nox_error_message(err);
    if (!*msg)
        msg = nox_strerror(code);
    return respond_error_with_allow(rq, nxd_status_for(code, err), NULL, msg);
}

/* ---- answers decided early, given later ---- */

static void abort_upload(nxd_request *rq)
{
    if (rq->upload) {
        nxd_upload_finish(rq->upload, false, NULL);
        rq->upload = NULL;
    }
}

/* Records the answer to give once the body has arrived (or at once; see
 * begin()). The first problem found is the one reported. @p allow is a
 * static string for the Allow header of a 405, or NULL. */
static void vreject(nxd_request *rq, unsigned status, const char *allow, const char *fmt,
                    va_list ap) NXD_PRINTF(4, 0);
static void vreject(nxd_request *rq, unsigned status, const char *allow, const char *fmt,
                    va_list ap)
{
    if (rq->deferred_status)
        return;
    rq->deferred_status = (int)status;
    rq->deferred_allow = allow;
    if (vasprintf(&rq->deferred_message, fmt, ap) < 0)
        rq->deferred_message = NULL;
}

static void reject(nxd_request *rq, unsigned status, const char *allow, const char *fmt, ...)
    NXD_PRINTF(4, 5);
static void reject(nxd_request *rq, unsigned status, const char *allow, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreject(rq, status, allow, fmt, ap);
    va_end(ap);
}

static enum MHD_Result answer_rejected(nxd_request *rq)
{
    abort_upload(rq);
    return respond_error_with_allow(rq, (unsigned)rq->deferred_status, rq->deferred_allow,
                                    rq->deferred_message ? rq->deferred_message : "out of memory");
}

/* ---- routing ---- */

/* Routes the request (route.c); false with the answer recorded. */
static bool route_request(nxd_request *rq)
{
    nxd_routed routed;
    nxd_refusal refusal;
    if (!nxd_route_parse(rq->target, rq->method, &routed, &refusal)) {
        if (refusal.message) {
            reject(rq, refusal.status, refusal.allow, "%s", refusal.message);
            free(refusal.message);
        } else {
            reject(rq, MHD_HTTP_SERVICE_UNAVAILABLE, NULL, "out of memory; try again later");
        }
        return false;
    }
    rq->route = routed.route;
    rq->id = routed.id;
    rq->param = routed.param;
    return true;
}

/* ---- bodies ---- */

static const char *limit_flag(const nxd_request *rq)
{
    return rq->route == NXD_ROUTE_UPLOAD ? "--max-upload-bytes" : "--max-json-bytes";
}

static enum MHD_Result body_over_limit(nxd_request *rq, size_t n)
{
    if (!rq->over_limit) {
        rq->over_limit = true;
        /* Nothing of a body that is too large may reach the sandbox. */
        abort_upload(rq);
        free(rq->body);
        rq->body = NULL;
        rq->body_len = rq->body_cap = 0;
        reject(rq, NXD_HTTP_CONTENT_TOO_LARGE, NULL,
               "request body is larger than this server's limit of %" PRIu64 " bytes (%s)",
               rq->body_limit, limit_flag(rq));
        n -= (size_t)(rq->body_limit - rq->body_seen);
        rq->body_seen = rq->body_limit;
    }
    rq->drained += n;
    if (rq->drained > DRAIN_BYTES) {
        rq->note = "body too large; connection closed while it was still arriving";
        return MHD_NO;
    }
    return MHD_YES;
}

static bool json_append(nxd_request *rq, const char *data, size_t n)
{
    if (rq->body_cap - rq->body_len < n) {
        /* body_len + n <= body_limit, checked by the caller. */
        size_t want = rq->body_len + n;
        size_t cap = rq->body_cap ? rq->body_cap : 4096;
        while (cap < want)
            cap = cap > SIZE_MAX / 2 ? want : cap * 2;
        if (cap > rq->body_limit)
            cap = (size_t)rq->body_limit;
        if (cap < want)
            cap = want;
        char *b = realloc(rq->body, cap);
        if (!b)
            return false;
        rq->body = b;
        rq->body_cap = cap;
    }
    memcpy(rq->body + rq->body_len, data, n);
    rq->body_len += n;
    return true;
}

static enum MHD_Result body_chunk(nxd_request *rq, const char *data, size_t n)
{
    if (rq->responded)
        return MHD_YES;
    if (nxd_now_ns() - rq->start_ns > (int64_t)rq->srv->cfg->request_timeout * 1000000000) {
        /* libmicrohttpd cannot answer before the body is complete; a client
         * dripping its body slower than this is simply disconnected. */
        abort_upload(rq);
        rq->note = "request body took longer than --request-timeout; connection closed";
        return MHD_NO;
    }
    if (rq->over_limit || n > rq->body_limit - rq->body_seen)
        return body_over_limit(rq, n);
    rq->body_seen += n;
    switch (rq->body_mode) {
    case NXD_BODY_JSON:
        if (!json_append(rq, data, n)) {
            reject(rq, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL, "out of memory reading the body");
            rq->body_mode = NXD_BODY_DISCARD;
        }
        break;
    case NXD_BODY_UPLOAD:
        /* The worker stopped reading (it failed, or the archive ended):
         * the rest is read and dropped; the answer says what happened. */
        if (rq->upload && !nxd_upload_write(rq->upload, data, n))
            rq->body_mode = NXD_BODY_DISCARD;
        break;
    case NXD_BODY_DISCARD:
        break;
    }
    return MHD_YES;
}

/* Content-Length, when the request has one and no chunked body. */
static bool declared_length(struct MHD_Connection *c, uint64_t *ret)
{
    if (MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING))
        return false;
    const char *cl =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (!cl)
        return false;
    uint64_t v = 0;
    for (const char *p = cl; *p; p++) {
        if (*p < '0' || *p > '9')
            return false; /* libmicrohttpd refuses these itself */
        if (v > (UINT64_MAX - 9) / 10) {
            *ret = UINT64_MAX;
            return true;
        }
        v = v * 10 + (uint64_t)(*p - '0');
    }
    *ret = v;
    return true;
}

/* ---- the handler ---- */

static bool expects_continue(struct MHD_Connection *c)
{
    const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT);
    return v && strcasecmp(v, "100-continue") == 0;
}

/* Answers a request refused before its body (the answer is recorded by
 * reject()). libmicrohttpd 0.9.75 can answer before the body only by
 * closing the connection afterwards, and a client still sending its body
 * then gets a broken pipe instead of the answer. So when the body is known
 * to be at most @p bound bytes, it is read and dropped and the answer
 * follows it, on a connection that stays usable. The answer goes at once
 * when the client waits for "100 Continue" (it never sends the body), and
 * for bodies that are chunked or larger than @p bound. */
static enum MHD_Result refuse(nxd_request *rq, struct MHD_Connection *c, uint64_t bound)
{
    abort_upload(rq);
    bool chunked =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
    uint64_t declared = 0;
    bool has_length = !chunked && declared_length(c, &declared);
    if (chunked || (has_length && declared > 0 && (declared > bound || expects_continue(c))))
        return answer_rejected(rq);
    rq->body_mode = NXD_BODY_DISCARD;
    rq->body_limit = declared;
    return MHD_YES;
}

/* First call for a request: everything that can be decided from the
 * request line and the headers, before any body byte is read. */
static enum MHD_Result begin(nxd_request *rq, struct MHD_Connection *c, const char *method)
{
    nxd_server *srv = rq->srv;
    rq->started = true;
    rq->counted = true;
    atomic_fetch_add(&srv->in_flight, 1);
    attach_conn(rq, c);
    rq->method = strdup(method);
    if (!rq->method || !rq->target || !rq->conn) {
        reject(rq, MHD_HTTP_SERVICE_UNAVAILABLE, NULL, "out of memory; try again later");
        return answer_rejected(rq);
    }
    if (atomic_load(&srv->shutting_down)) {
        reject(rq, MHD_HTTP_SERVICE_UNAVAILABLE, NULL,
               "the server is shutting down; try again later");
        return refuse(rq, c, DRAIN_BYTES);
    }
    if (!route_request(rq))
        return refuse(rq, c, DRAIN_BYTES);

    const nxd_config *cfg = srv->cfg;
    if (rq->route == NXD_ROUTE_UPLOAD) {
        rq->body_mode = NXD_BODY_UPLOAD;
        rq->body_limit = cfg->max_upload_bytes;
    } else {
        /* Bodies of routes that take none are read, limited and ignored. */
        bool json = (rq->route == NXD_ROUTE_SANDBOX && strcmp(method, "PUT") == 0) ||
                    rq->route == NXD_ROUTE_EXEC;
        rq->body_mode = json ? NXD_BODY_JSON : NXD_BODY_DISCARD;
        rq->body_limit = cfg->max_json_bytes;
    }
    uint64_t declared;
    if (declared_length(c, &declared) && declared > rq->body_limit) {
        reject(rq, NXD_HTTP_CONTENT_TOO_LARGE, NULL,
               "request body of %" PRIu64 " bytes is larger than this server's limit of %" PRIu64
               " bytes (%s)",
               declared, rq->body_limit, limit_flag(rq));
        return refuse(rq, c, rq->body_limit + DRAIN_BYTES);
    }

    if (rq->route == NXD_ROUTE_UPLOAD)
        return nxd_upload_begin(rq);
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)url;
    (void)version;
    nxd_server *srv = cls;
    nxd_request *rq = *con_cls;
    if (!rq) {
        /* on_uri() could not allocate: answer from a fresh one if we can. */
        if (!(rq = request_new(srv)))
            return MHD_NO;
        *con_cls = rq;
    }
    rq->mhd = c;
    atomic_fetch_add(&srv->busy, 1);
    enum MHD_Result r;
    if (!rq->started) {
        r = begin(rq, c, method);
    } else if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        r = body_chunk(rq, upload_data, n);
    } else if (rq->responded) {
        r = MHD_YES;
    } else if (rq->deferred_status) {
        r = answer_rejected(rq);
    } else if (atomic_load(&srv->stopping)) {
        /* Past the grace period nothing new may enter the library: the
         * daemon is about to stop and must not wait for it. */
        abort_upload(rq);
        r = nxd_respond_error(rq, MHD_HTTP_SERVICE_UNAVAILABLE,
                              "the server is shutting down; try again later");
    } else {
        r = nxd_dispatch(rq);
    }
    atomic_fetch_sub(&srv->busy, 1);
    return r;
}

/* ---- the daemon ---- */

static void on_mhd_log(void *cls, const char *fmt, va_list ap) NXD_PRINTF(2, 0);
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char buf[1024];
    vsnprintf(buf, sizeof buf, fmt, ap);
    size_t n = strlen(buf);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    nxd_debug("libmicrohttpd: %s", buf);
}

int nxd_http_start(nxd_server *srv)
{
    const nxd_config *cfg = srv->cfg;
    /* MHD_USE_POLL: select() cannot watch descriptors above FD_SETSIZE
     * (1024), which a busy server with many sandboxes reaches.
     * MHD_USE_ITC: MHD_quiesce_daemon() needs it with internal threads. */
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_POLL | MHD_USE_ITC;
    if (nxd_log_enabled(NXD_LOG_DEBUG))
        flags |= MHD_USE_ERROR_LOG;
    struct MHD_OptionItem ops[] = {
        { MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)on_mhd_log, NULL },
        { MHD_OPTION_LISTEN_SOCKET, srv->listen_fd, NULL },
        { MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)on_uri, srv },
        { MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, srv },
        { MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, srv },
        { MHD_OPTION_CONNECTION_LIMIT, (intptr_t)cfg->max_connections, NULL },
        { MHD_OPTION_PER_IP_CONNECTION_LIMIT, (intptr_t)cfg->max_connections_per_ip, NULL },
        { MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t)cfg->idle_timeout, NULL },
        { MHD_OPTION_CONNECTION_MEMORY_LIMIT, (intptr_t)cfg->max_header_bytes, NULL },
        { MHD_OPTION_END, 0, NULL },
    };
    srv->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, srv, MHD_OPTION_ARRAY, ops,
                                   MHD_OPTION_END);
    if (!srv->daemon) {
        nxd_error("cannot start the HTTP server (libmicrohttpd %s refused its options; run "
                  "with --log-level debug for its reason)",
                  MHD_get_version());
        return -1;
    }
    return 0;
}

void nxd_http_quiesce(nxd_server *srv)
{
    if (!srv->daemon)
        return;
    /* The socket stays open until the daemon has stopped (its thread may
     * still hold it), but a quiesced socket that still listens lets clients
     * connect into a backlog nobody accepts from: they would hang until
     * their own timeout. Shut down, it refuses them at once. */
    if (MHD_quiesce_daemon(srv->daemon) != MHD_INVALID_SOCKET && srv->listen_fd >= 0)
        shutdown(srv->listen_fd, SHUT_RDWR);
}

bool nxd_http_stop(nxd_server *srv)
{
    if (!srv->daemon)
        return true;
    atomic_store(&srv->stopping, true);
    /* A handler either saw `stopping` (and answers 503 without calling the
     * library) or is counted in `busy` now: sequentially consistent
     * atomics on both sides make one of the two true. */
    if (atomic_load(&srv->busy) > 0)
        return false;
    MHD_stop_daemon(srv->daemon);
    srv->daemon = NULL;
    return true;
}
