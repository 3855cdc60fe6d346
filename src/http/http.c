/* SPDX-License-Identifier: MIT */
/* The http backend: any NoxRunner v1 backend over libcurl.
 *
 * One easy handle per client carries the plain requests, so consecutive
 * requests reuse one connection (keep-alive); downloads get an easy handle
 * of their own that shares the client's connection cache (CURLSH), driven
 * through a multi handle as the consumer pulls, so nothing holds a whole
 * archive. Uploads stream from a nox_source through the read callback. A
 * client, its share handle and its streams belong to one thread at a time
 * (the library's threading rule); the share handle therefore needs no
 * locks. */
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <noxrunner/wire.h>

#include "../backend.h"
#include "../error.h"
#include "curl_api.h"

/* Small uploads are sent with a Content-Length (some servers do not take
 * chunked request bodies); past this they stream chunked. */
#define UPLOAD_BUFFER_MAX (8u << 20)
/* A download buffers at most this much before pausing the transfer. */
#define STREAM_HIGH_WATER (1u << 20)
#define USER_AGENT        "noxrunner-c/" NOX_VERSION_STRING

typedef struct nox_http {
    nox_backend base;
    const char *base_url;
    CURL *easy;
    CURLM *multi;
    CURLSH *share;
    char errbuf[CURL_ERROR_SIZE];
} nox_http;

static nox_http *H(nox_backend *b)
{
    return (nox_http *)b;
}

/* ---- requests ---- */

typedef struct response {
    nox_buf body;
    uint64_t max;
    bool over;
} response;

static size_t write_body(char *p, size_t size, size_t n, void *ud)
{
    response *r = ud;
    size_t len = size * n;
    if (r->body.len + len > r->max) {
        r->over = true;
        return 0; /* aborts with CURLE_WRITE_ERROR */
    }
    if (nox__buf_append(&r->body, p, len) < 0)
        return 0;
    return len;
}

typedef struct upload_ctx {
    nox_source *src;
    nox_error *err; /* what the source reported, if it failed */
    int code;
    const char *pending; /* bytes already read (Content-Length mode) */
    size_t pending_len;
} upload_ctx;

static size_t read_body(char *p, size_t size, size_t n, void *ud)
{
    upload_ctx *u = ud;
    size_t room = size * n;
    if (u->pending_len) {
        size_t k = NOX_MIN(room, u->pending_len);
        memcpy(p, u->pending, k);
        u->pending += k;
        u->pending_len -= k;
        return k;
    }
    if (!u->src)
        return 0;
    ssize_t r = nox__source_read(u->src, p, room, u->err);
    if (r < 0) {
        u->code = (int)r;
        return CURL_READFUNC_ABORT;
    }
    return (size_t)r;
}

static char *escape(nox_http *h, const char *s)
{
    char *e = nox__curl.easy_escape(h->easy, s, 0);
    if (!e)
        return NULL;
    char *copy = strdup(e);
    nox__curl.free(e);
    return copy;
}

/* The URL of a route, with the session id and query value percent-encoded. */
static char *route_url(nox_http *h, const char *id, const char *tail, const char *qname,
                       const char *qvalue)
{
    _cleanup_free_ char *eid = id ? escape(h, id) : NULL;
    _cleanup_free_ char *eq = qvalue ? escape(h, qvalue) : NULL;
    if ((id && !eid) || (qvalue && !eq))
        return NULL;
    if (!id)
        return nox__asprintf("%s%s", h->base_url, tail);
    if (qvalue)
        return nox__asprintf("%s/v1/sandboxes/%s%s?%s=%s", h->base_url, eid, tail, qname, eq);
    return nox__asprintf("%s/v1/sandboxes/%s%s", h->base_url, eid, tail);
}

/* Connections are close-on-exec, as every other descriptor of the
 * library: otherwise a program that starts a child while a client is open
 * hands it the connection, and the child keeps it (and the server's thread
 * and connection slot for it) open for as long as it lives. libcurl 7.88
 * opens its sockets without SOCK_CLOEXEC; the callback makes it atomic
 * (no window for another thread's fork, as a later fcntl would leave).
 * The multi handle's wake-up socketpair, made inside curl_multi_init(),
 * is out of reach; it ties nothing to the server. */
static curl_socket_t open_socket(void *userdata, curlsocktype purpose, struct curl_sockaddr *addr)
{
    (void)userdata;
    (void)purpose;
    return socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
}

static void common_options(nox_http *h, CURL *e, long timeout_ms)
{
    const nox_client_options *o = h->base.opts;
    nox__curl.easy_setopt(e, CURLOPT_SHARE, h->share);
    nox__curl.easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    nox__curl.easy_setopt(e, CURLOPT_USERAGENT, USER_AGENT);
    nox__curl.easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, o->connect_timeout_ms);
    if (timeout_ms > 0)
        nox__curl.easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
    nox__curl.easy_setopt(e, CURLOPT_ERRORBUFFER, h->errbuf);
    nox__curl.easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    nox__curl.easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, (curl_opensocket_callback)open_socket);
    /* Only the schemes a NoxRunner backend speaks. */
#if LIBCURL_VERSION_NUM >= 0x075500
    nox__curl.easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    nox__curl.easy_setopt(e, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    if (o->ca_file && *o->ca_file)
        nox__curl.easy_setopt(e, CURLOPT_CAINFO, o->ca_file);
    h->errbuf[0] = '\0';
}

/* How a TLS connection could not be set up, as libcurl says it. */
enum tls_failure {
    TLS_OK,          /* not a TLS failure */
    TLS_CERTIFICATE, /* the server's certificate was not accepted */
    TLS_CA_FILE,     /* our CA file (or CRL file) could not be used */
    TLS_HANDSHAKE,   /* anything else of the handshake */
};

static enum tls_failure tls_failure_of(CURLcode rc)
{
    switch (rc) {
    /* Untrusted issuer, expired, wrong host name: libcurl reports every
     * verification failure of the peer with this one code (it absorbed
     * CURLE_SSL_CACERT in 7.62). */
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
        return TLS_CERTIFICATE;
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CRL_BADFILE:
        return TLS_CA_FILE;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
#if LIBCURL_VERSION_NUM >= 0x074900
    case CURLE_SSL_CLIENTCERT:
#endif
        return TLS_HANDSHAKE;
    default:
        return TLS_OK;
    }
}

/* A transfer that ended before the server could answer: it could not be
 * reached, or no TLS connection could be set up with it. Every request and
 * every download reports these alike (NOX_E_CONNECT), with a message that
 * says which it was and what to do. Returns 0 for other codes. */
static int connect_error(const nox_http *h, CURLcode rc, const char *detail, nox_error *err)
{
    const char *ca = h->base.opts->ca_file;
    switch (tls_failure_of(rc)) {
    case TLS_CERTIFICATE:
        if (ca && *ca)
            return nox__error_set(err, NOX_E_CONNECT,
                                  "cannot connect to the NoxRunner backend at %s: its TLS "
                                  "certificate was not accepted: %s (it must be signed by a CA "
                                  "in the CA file `%s` and name the host of the URL)",
                                  h->base_url, detail, ca);
        return nox__error_set(
            err, NOX_E_CONNECT,
            "cannot connect to the NoxRunner backend at %s: its TLS certificate "
            "was not accepted: %s (if the system's CA store does not trust the CA "
            "that signed it, set ca_file to that CA's certificate)",
            h->base_url, detail);
    case TLS_CA_FILE:
        return nox__error_set(err, NOX_E_CONNECT,
                              "cannot connect to the NoxRunner backend at %s: the CA file `%s` "
                              "cannot be used: %s (it must hold PEM certificates)",
                              h->base_url, ca && *ca ? ca : "(the system's)", detail);
    case TLS_HANDSHAKE:
        return nox__error_set(err, NOX_E_CONNECT,
                              "cannot connect to the NoxRunner backend at %s: the TLS handshake "
                              "failed: %s (does the server speak https there?)",
                              h->base_url, detail);
    case TLS_OK:
        break;
    }
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
        return nox__error_set(err, NOX_E_CONNECT,
                              "cannot connect to the NoxRunner backend at %s: %s (is noxrunnerd "
                              "running there?)",
                              h->base_url, detail);
    default:
        return 0;
    }
}

/* A failed transfer (no HTTP answer) as a nox error. */
static int transfer_error(nox_http *h, CURLcode rc, const char *method, const char *url,
                          nox_error *err)
{
    const char *detail = h->errbuf[0] ? h->errbuf : nox__curl.easy_strerror(rc);
    int r = connect_error(h, rc, detail, err);
    if (r < 0)
        return r;
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
        return nox__error_set(err, NOX_E_TIMEOUT, "%s %s timed out: %s", method, url, detail);
    case CURLE_ABORTED_BY_CALLBACK:
        return nox__error_set(err, NOX_E_CANCELLED, "%s %s was cancelled", method, url);
    case CURLE_FAILED_INIT:
        return nox__error_set(err, NOX_E_INTERNAL, "%s %s: libcurl failed: %s", method, url,
                              detail);
    case CURLE_OUT_OF_MEMORY:
        return nox__error_oom(err);
    default:
        return nox__error_set(err, NOX_E_NETWORK, "%s %s failed: %s", method, url, detail);
    }
}

/* A non-2xx answer as a nox error carrying status, message and body. */
static int status_error(long status, const char *method, const char *url, const nox_buf *body,
                        nox_error *err)
{
    _cleanup_free_ char *msg = nox_wire_error_message(body->data ? body->data : "", body->len);
    int code = nox__code_from_http_status((int)status);
    return nox__error_http(err, code, (int)status, body->data ? body->data : "", body->len,
                           "%s %s: HTTP %ld%s%s", method, url, status, msg && *msg ? ": " : "",
                           msg ? msg : "");
}

/* Runs the transfer of @p e to its end through the client's multi handle,
 * whose poll also watches the cancel pipe: nox_client_cancel() stops a
 * request at once instead of at libcurl's next progress callback. */
static CURLcode drive(nox_http *h, CURL *e)
{
    if (nox__curl.multi_add_handle(h->multi, e) != CURLM_OK)
        return CURLE_FAILED_INIT;
    CURLcode rc = CURLE_OK;
    for (;;) {
        int running = 0;
        CURLMcode mc = nox__curl.multi_perform(h->multi, &running);
        if (mc != CURLM_OK) {
            rc = mc == CURLM_OUT_OF_MEMORY ? CURLE_OUT_OF_MEMORY : CURLE_FAILED_INIT;
            break;
        }
        CURLMsg *m;
        int left;
        bool done = false;
        while ((m = nox__curl.multi_info_read(h->multi, &left)))
            if (m->msg == CURLMSG_DONE && m->easy_handle == e) {
                rc = m->data.result;
                done = true;
            }
        if (done)
            break;
        if (nox__cancelled(&h->base)) {
            rc = CURLE_ABORTED_BY_CALLBACK;
            break;
        }
        struct curl_waitfd wfd = { h->base.cancel_fd, CURL_WAIT_POLLIN, 0 };
        mc = nox__curl.multi_poll(h->multi, &wfd, h->base.cancel_fd >= 0 ? 1 : 0, 1000, NULL);
        if (mc != CURLM_OK && mc != CURLM_UNRECOVERABLE_POLL) {
            rc = CURLE_FAILED_INIT;
            break;
        }
    }
    nox__curl.multi_remove_handle(h->multi, e);
    return rc;
}

typedef struct request {
    const char *method;
    char *url;
    const char *json; /* request body, or NULL */
    size_t json_len;
    upload_ctx *upload; /* streamed body, or NULL */
    long timeout_ms;
} request;

/* Performs @p rq on the client's handle; the answer's status and body go
 * to @p ret_status and @p resp. Only transfer failures are errors here. */
static int perform(nox_http *h, request *rq, long *ret_status, response *resp, nox_error *err)
{
    CURL *e = h->easy;
    /* reset keeps the connection cache: the next request reuses it. */
    nox__curl.easy_reset(e);
    common_options(h, e, rq->timeout_ms);
    nox__curl.easy_setopt(e, CURLOPT_URL, rq->url);
    nox__curl.easy_setopt(e, CURLOPT_WRITEFUNCTION, write_body);
    nox__curl.easy_setopt(e, CURLOPT_WRITEDATA, resp);
    struct curl_slist *hdrs = NULL;
    hdrs = nox__curl.slist_append(hdrs, "Accept: application/json");
    /* No "Expect: 100-continue" round trip before bodies. */
    hdrs = nox__curl.slist_append(hdrs, "Expect:");
    if (strcmp(rq->method, "GET") != 0)
        nox__curl.easy_setopt(e, CURLOPT_CUSTOMREQUEST, rq->method);
    if (rq->json) {
        hdrs = nox__curl.slist_append(hdrs, "Content-Type: application/json");
        nox__curl.easy_setopt(e, CURLOPT_POSTFIELDS, rq->json);
        nox__curl.easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->json_len);
    } else if (rq->upload) {
        hdrs = nox__curl.slist_append(hdrs, "Content-Type: application/x-tar");
        nox__curl.easy_setopt(e, CURLOPT_POST, 1L);
        nox__curl.easy_setopt(e, CURLOPT_READFUNCTION, read_body);
        nox__curl.easy_setopt(e, CURLOPT_READDATA, rq->upload);
        if (rq->upload->src) {
            hdrs = nox__curl.slist_append(hdrs, "Transfer-Encoding: chunked");
        } else {
            nox__curl.easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
                                  (curl_off_t)rq->upload->pending_len);
        }
        /* A stalled upload is cut off; a long one is not. */
        nox__curl.easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
        nox__curl.easy_setopt(e, CURLOPT_LOW_SPEED_TIME,
                              NOX_MAX(1L, h->base.opts->timeout_ms / 1000));
    } else if (strcmp(rq->method, "POST") == 0) {
        nox__curl.easy_setopt(e, CURLOPT_POSTFIELDS, "");
        nox__curl.easy_setopt(e, CURLOPT_POSTFIELDSIZE, 0L);
    }
    if (hdrs)
        nox__curl.easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
    CURLcode rc = drive(h, e);
    nox__curl.slist_free_all(hdrs);
    if (rq->upload && rq->upload->code < 0)
        return rq->upload->code;
    if (rc == CURLE_WRITE_ERROR && resp->over)
        return nox__error_set(err, NOX_E_LIMIT,
                              "%s %s: the answer is larger than the limit of %llu bytes",
                              rq->method, rq->url, (unsigned long long)resp->max);
    if (rc != CURLE_OK)
        return transfer_error(h, rc, rq->method, rq->url, err);
    nox__curl.easy_getinfo(e, CURLINFO_RESPONSE_CODE, ret_status);
    return 0;
}

/* A JSON request whose answer must be 2xx. */
static int call(nox_http *h, const char *method, char *url, const char *json, size_t json_len,
                long extra_ms, nox_buf *ret_body, long *ret_status, nox_error *err)
{
    response resp = { NOX_BUF_INIT, h->base.opts->max_response_bytes, false };
    request rq = { method, url, json, json_len, NULL, h->base.opts->timeout_ms + extra_ms };
    long status = 0;
    int r = perform(h, &rq, &status, &resp, err);
    if (r == 0 && (status < 200 || status > 299))
        r = status_error(status, method, url, &resp.body, err);
    if (r == 0) {
        if (ret_status)
            *ret_status = status;
        if (ret_body) {
            *ret_body = resp.body;
            return 0;
        }
    }
    nox__buf_free(&resp.body);
    return r;
}

/* ---- operations ---- */

static int http_health(nox_backend *b, nox_error *err)
{
    nox_http *h = H(b);
    _cleanup_free_ char *url = route_url(h, NULL, "/healthz", NULL, NULL);
    if (!url) {
        nox__error_oom(err);
        return 0;
    }
    response resp = { NOX_BUF_INIT, 65536, false };
    request rq = { "GET", url, NULL, 0, NULL, h->base.opts->timeout_ms };
    long status = 0;
    int r = perform(h, &rq, &status, &resp, err);
    int healthy = 0;
    if (r == 0) {
        /* The contract: healthy only for 200 with "OK" in the body. */
        healthy = status == 200 && resp.body.data && strstr(resp.body.data, "OK");
        if (!healthy)
            status_error(status, "GET", url, &resp.body, err);
    }
    nox__buf_free(&resp.body);
    return healthy;
}

static int http_create(nox_backend *b, const char *id, const nox_create_options *o,
                       nox_sandbox **ret_sb, nox_error *err)
{
    nox_http *h = H(b);
    _cleanup_free_ char *json = NULL;
    size_t len;
    int r = nox_wire_encode_create_request(o, &json, &len, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *url = route_url(h, id, "", NULL, NULL);
    if (!url)
        return nox__error_oom(err);
    _cleanup_buf_ nox_buf body = NOX_BUF_INIT;
    if ((r = call(h, "PUT", url, json, len, 0, &body, NULL, err)) < 0)
        return r;
    return nox_wire_decode_sandbox(body.data, body.len, id, ret_sb, err);
}

static int http_touch(nox_backend *b, const char *id, nox_error *err)
{
    nox_http *h = H(b);
    _cleanup_free_ char *url = route_url(h, id, "/touch", NULL, NULL);
    if (!url)
        return nox__error_oom(err);
    return call(h, "POST", url, NULL, 0, 0, NULL, NULL, err);
}

static int http_exec(nox_backend *b, const char *id, const char *const *argv,
                     const nox_exec_options *o, nox_exec_result **ret_res, nox_error *err)
{
    nox_http *h = H(b);
    _cleanup_free_ char *json = NULL;
    size_t len;
    int r = nox_wire_encode_exec_request(argv, o, &json, &len, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *url = route_url(h, id, "/exec", NULL, NULL);
    if (!url)
        return nox__error_oom(err);
    _cleanup_buf_ nox_buf body = NOX_BUF_INIT;
    /* The request may take the command's own timeout on top of ours. */
    if ((r = call(h, "POST", url, json, len, o->timeout_seconds * 1000L, &body, NULL, err)) < 0)
        return r;
    return nox_wire_decode_exec_result(body.data, body.len, ret_res, err);
}

static int http_upload(nox_backend *b, const char *id, const char *dest, nox_source *archive,
                       nox_error *err)
{
    nox_http *h = H(b);
    _cleanup_free_ char *url = route_url(h, id, "/files/upload", "dest", dest);
    if (!url)
        return nox__error_oom(err);
    /* Read ahead up to UPLOAD_BUFFER_MAX: a small archive then goes out
     * with a Content-Length, a large one streams chunked from there on. */
    _cleanup_buf_ nox_buf head = NOX_BUF_INIT;
    bool ended = false;
    while (head.len < UPLOAD_BUFFER_MAX) {
        if (nox__buf_reserve(&head, 65536) < 0)
            return nox__error_oom(err);
        ssize_t n = nox__source_read(archive, head.data + head.len,
                                     NOX_MIN(head.cap - head.len - 1, 65536), err);
        if (n < 0)
            return (int)n;
        if (n == 0) {
            ended = true;
            break;
        }
        head.len += (size_t)n;
    }
    upload_ctx u = { ended ? NULL : archive, err, 0, head.data, head.len };
    response resp = { NOX_BUF_INIT, h->base.opts->max_response_bytes, false };
    request rq = { "POST", url, NULL, 0, &u, 0 };
    long status = 0;
    int r = perform(h, &rq, &status, &resp, err);
    if (r == 0 && (status < 200 || status > 299))
        r = status_error(status, "POST", url, &resp.body, err);
    nox__buf_free(&resp.body);
    return r;
}

/* ---- streamed download ---- */

typedef struct http_stream {
    nox_source base;
    nox_http *h;
    CURL *easy;
    CURLM *multi;
    nox_buf buf;
    size_t pos;
    bool paused, done, failed;
    bool keep; /* collecting an error body: never recycle the buffer */
    CURLcode rc;
    long status;
    char *url;
    int final_code;
    nox_error *final_err;
    char errbuf[CURL_ERROR_SIZE];
} http_stream;

static size_t stream_write(char *p, size_t size, size_t n, void *ud)
{
    http_stream *s = ud;
    size_t len = size * n;
    /* Back-pressure: past the high-water mark the transfer pauses until
     * the consumer has read what is buffered. */
    if (s->buf.len - s->pos >= STREAM_HIGH_WATER) {
        s->paused = true;
        return CURL_WRITEFUNC_PAUSE;
    }
    if (!s->keep && s->pos && s->pos == s->buf.len) {
        s->buf.len = 0;
        s->pos = 0;
    }
    if (nox__buf_append(&s->buf, p, len) < 0)
        return 0;
    return len;
}

/* Drives the transfer until there is data, or it ended. */
static int stream_pump(http_stream *s, nox_error *err)
{
    while (s->pos == s->buf.len && !s->done) {
        if (s->paused) {
            s->paused = false;
            nox__curl.easy_pause(s->easy, CURLPAUSE_CONT);
        }
        int running = 0;
        CURLMcode mc = nox__curl.multi_perform(s->multi, &running);
        if (mc != CURLM_OK)
            return nox__error_set(err, NOX_E_NETWORK, "download: %s", nox__curl.multi_strerror(mc));
        CURLMsg *m;
        int left;
        while ((m = nox__curl.multi_info_read(s->multi, &left)))
            if (m->msg == CURLMSG_DONE) {
                s->done = true;
                s->rc = m->data.result;
            }
        if (s->done || s->pos < s->buf.len)
            break;
        if (s->paused)
            continue;
        if (nox__cancelled(&s->h->base))
            return nox__error_set(err, NOX_E_CANCELLED, "download from %s cancelled", s->url);
        struct curl_waitfd wfd = { s->h->base.cancel_fd, CURL_WAIT_POLLIN, 0 };
        mc = nox__curl.multi_poll(s->multi, &wfd, s->h->base.cancel_fd >= 0 ? 1 : 0, 1000, NULL);
        if (mc != CURLM_OK)
            return nox__error_set(err, NOX_E_NETWORK, "download: %s", nox__curl.multi_strerror(mc));
    }
    if (s->done && s->rc != CURLE_OK && s->pos == s->buf.len) {
        if (s->rc == CURLE_WRITE_ERROR)
            return nox__error_oom(err);
        const char *d = s->errbuf[0] ? s->errbuf : nox__curl.easy_strerror(s->rc);
        if (s->rc == CURLE_OPERATION_TIMEDOUT)
            return nox__error_set(err, NOX_E_TIMEOUT, "download from %s stalled: %s", s->url, d);
        int r = connect_error(s->h, s->rc, d, err);
        if (r < 0)
            return r;
        return nox__error_set(err, NOX_E_NETWORK, "download from %s broke off: %s", s->url, d);
    }
    return 0;
}

static ssize_t stream_read(nox_source *src, void *buf, size_t n, nox_error *err)
{
    http_stream *s = (http_stream *)src;
    if (s->failed)
        return nox__error_set(err, NOX_E_NETWORK, "download from %s already failed", s->url);
    int r = stream_pump(s, err);
    if (r < 0) {
        s->failed = true;
        return r;
    }
    size_t k = NOX_MIN(n, s->buf.len - s->pos);
    if (k) {
        memcpy(buf, s->buf.data + s->pos, k);
        s->pos += k;
    }
    return (ssize_t)k;
}

static void stream_free(nox_source *src)
{
    http_stream *s = (http_stream *)src;
    if (s->multi) {
        if (s->easy)
            nox__curl.multi_remove_handle(s->multi, s->easy);
        nox__curl.multi_cleanup(s->multi);
    }
    if (s->easy)
        nox__curl.easy_cleanup(s->easy);
    nox__buf_free(&s->buf);
    free(s->url);
    free(s);
}

static int http_download_open(nox_backend *b, const char *id, const char *src, nox_source **ret_src,
                              nox_error *err)
{
    nox_http *h = H(b);
    http_stream *s = calloc(1, sizeof *s);
    if (!s)
        return nox__error_oom(err);
    s->base.read = stream_read;
    s->base.free = stream_free;
    s->h = h;
    s->url = route_url(h, id, "/files/download", "src", src);
    s->easy = nox__curl.easy_init();
    s->multi = nox__curl.multi_init();
    if (!s->url || !s->easy || !s->multi) {
        stream_free(&s->base);
        return nox__error_oom(err);
    }
    common_options(h, s->easy, 0);
    nox__curl.easy_setopt(s->easy, CURLOPT_ERRORBUFFER, s->errbuf);
    nox__curl.easy_setopt(s->easy, CURLOPT_URL, s->url);
    nox__curl.easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, stream_write);
    nox__curl.easy_setopt(s->easy, CURLOPT_WRITEDATA, s);
    /* Large downloads take as long as they take; a stalled one is cut off. */
    nox__curl.easy_setopt(s->easy, CURLOPT_LOW_SPEED_LIMIT, 1L);
    nox__curl.easy_setopt(s->easy, CURLOPT_LOW_SPEED_TIME,
                          NOX_MAX(1L, h->base.opts->timeout_ms / 1000));
    nox__curl.multi_add_handle(s->multi, s->easy);
    /* Until the first body bytes (or the end) the status is not final;
     * errors known then are returned here, not from the first read. */
    int r = stream_pump(s, err);
    if (r < 0) {
        stream_free(&s->base);
        return r;
    }
    nox__curl.easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &s->status);
    if (s->status < 200 || s->status > 299) {
        /* Collect the (bounded) error body. */
        s->keep = true;
        while (!s->done && s->buf.len < 65536 && stream_pump(s, NULL) == 0) {
            s->pos = s->buf.len;
        }
        nox_buf body = { s->buf.data, s->buf.len, s->buf.cap };
        r = status_error(s->status, "GET", s->url, &body, err);
        stream_free(&s->base);
        return r;
    }
    *ret_src = &s->base;
    return 0;
}

static int http_remove(nox_backend *b, const char *id, nox_error *err)
{
    nox_http *h = H(b);
    _cleanup_free_ char *url = route_url(h, id, "", NULL, NULL);
    if (!url)
        return nox__error_oom(err);
    return call(h, "DELETE", url, NULL, 0, 0, NULL, NULL, err);
}

/* The list and info routes are NoxRunner's extensions; other backends
 * answer 404 or 405 for the list route. */
static int unsupported_if_missing(int r, const char *what, nox_error *err)
{
    int st = nox_error_http_status(err);
    if (r < 0 && (st == 404 || st == 405 || st == 501))
        return nox__error_set(err, NOX_E_UNSUPPORTED,
                              "this backend does not offer %s (a NoxRunner extension of the API)",
                              what);
    return r;
}

static int http_list(nox_backend *b, nox_sandbox_list **ret_list, nox_error *err)
{
    nox_http *h = H(b);
    _cleanup_free_ char *url = route_url(h, NULL, "/v1/sandboxes", NULL, NULL);
    if (!url)
        return nox__error_oom(err);
    _cleanup_buf_ nox_buf body = NOX_BUF_INIT;
    int r = call(h, "GET", url, NULL, 0, 0, &body, NULL, err);
    if (r < 0)
        return unsupported_if_missing(r, "a list of sandboxes", err);
    return nox_wire_decode_sandbox_list(body.data, body.len, ret_list, err);
}

static int http_info(nox_backend *b, const char *id, nox_sandbox **ret_sb, nox_error *err)
{
    nox_http *h = H(b);
    _cleanup_free_ char *url = route_url(h, id, "", NULL, NULL);
    if (!url)
        return nox__error_oom(err);
    _cleanup_buf_ nox_buf body = NOX_BUF_INIT;
    int r = call(h, "GET", url, NULL, 0, 0, &body, NULL, err);
    if (r < 0) {
        /* 404 is a missing sandbox; 405/501 a backend without the route. */
        if (nox_error_http_status(err) == 404)
            return r;
        return unsupported_if_missing(r, "sandbox descriptions", err);
    }
    return nox_wire_decode_sandbox(body.data, body.len, id, ret_sb, err);
}

/* The signature is the backend interface's, which other backends fill. */
// NOLINTNEXTLINE(readability-non-const-parameter)
static int http_reap(nox_backend *b, size_t *ret_count, nox_error *err)
{
    (void)b;
    (void)ret_count;
    return nox__error_set(err, NOX_E_UNSUPPORTED,
                          "expired sandboxes are removed by the backend itself");
}

static void http_free(nox_backend *b)
{
    nox_http *h = H(b);
    if (h->easy)
        nox__curl.easy_cleanup(h->easy);
    if (h->multi)
        nox__curl.multi_cleanup(h->multi);
    if (h->share)
        nox__curl.share_cleanup(h->share);
    free(h);
}

static const nox_backend_ops http_ops = {
    .name = "http",
    .health = http_health,
    .create = http_create,
    .touch = http_touch,
    .exec = http_exec,
    .upload = http_upload,
    .download_open = http_download_open,
    .remove = http_remove,
    .list = http_list,
    .info = http_info,
    .reap = http_reap,
    .free = http_free,
};

/* A CA file that cannot be read would otherwise surface only at the
 * first request, as a failed connection; a typo in its path is better
 * reported by nox_client_new(), naming it. (libcurl reads it again for
 * every new connection, so this proves nothing about later.) An http://
 * URL makes no use of it. */
static int check_ca_file(const nox_client_options *opts, nox_error *err)
{
    const char *ca = opts->ca_file;
    if (!ca || !*ca || strncmp(opts->base_url, "https://", 8) != 0)
        return 0;
    _cleanup_close_ int fd = open(ca, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return nox__error_errno(err, NOX_E_IO, errno, "cannot read the CA file `%s`", ca);
    struct stat st;
    if (fstat(fd, &st) < 0)
        return nox__error_errno(err, NOX_E_IO, errno, "cannot read the CA file `%s`", ca);
    if (!S_ISREG(st.st_mode))
        return nox__error_set(err, NOX_E_INVALID,
                              "CA file `%s` is not a regular file (a PEM file of CA "
                              "certificates is needed)",
                              ca);
    return 0;
}

int nox__http_backend_new(const nox_client_options *opts, nox_backend **ret_b, nox_error *err)
{
    const char *u = opts->base_url;
    if (strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0)
        return nox__error_set(err, NOX_E_INVALID,
                              "base URL `%s` must start with http:// or https://", u);
    int r = nox__curl_load(err);
    if (r < 0)
        return r;
    r = check_ca_file(opts, err);
    if (r < 0)
        return r;
    nox_http *h = calloc(1, sizeof *h);
    if (!h)
        return nox__error_oom(err);
    h->base.ops = &http_ops;
    h->base.opts = opts;
    h->base_url = opts->base_url;
    h->base.location = opts->base_url;
    h->base.cancel_fd = -1;
    h->easy = nox__curl.easy_init();
    h->multi = nox__curl.multi_init();
    h->share = nox__curl.share_init();
    if (!h->easy || !h->multi || !h->share) {
        http_free(&h->base);
        return nox__error_oom(err);
    }
    nox__curl.share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
    nox__curl.share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    nox__curl.share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    *ret_b = &h->base;
    return 0;
}
