/* SPDX-License-Identifier: MIT */
/* The endpoints. Each is an adapter: the request goes through the public
 * API unchanged, the answer comes back encoded by the wire module, so the
 * local backend behaves the same embedded or served, and the JSON a
 * client sees is exactly what libnoxrunner's own http backend decodes. */
#include "handlers.h"

#include <inttypes.h>
#include <string.h>

#include <noxrunner/wire.h>

#include "log.h"
#include "upload.h"
#include "watch.h"

static const char ok_body[] = "{\"ok\":true}";

static inline void error_freep(nox_error **e)
{
    nox_error_free(*e);
}
static inline void sandbox_freep(nox_sandbox **sb)
{
    nox_sandbox_free(*sb);
}
static inline void sandbox_list_freep(nox_sandbox_list **l)
{
    nox_sandbox_list_free(*l);
}
static inline void exec_result_freep(nox_exec_result **r)
{
    nox_exec_result_free(*r);
}
static inline void wire_freep(void *p)
{
    nox_free(*(void **)p);
}
#define _cleanup_error_        _cleanup_(error_freep)
#define _cleanup_sandbox_      _cleanup_(sandbox_freep)
#define _cleanup_sandbox_list_ _cleanup_(sandbox_list_freep)
#define _cleanup_exec_result_  _cleanup_(exec_result_freep)
#define _cleanup_nox_free_     _cleanup_(wire_freep)

static enum MHD_Result respond_ok(nxd_request *rq)
{
    return nxd_respond_static(rq, MHD_HTTP_OK, "application/json", ok_body, sizeof ok_body - 1);
}

static enum MHD_Result respond_oom(nxd_request *rq)
{
    return nxd_respond_error(rq, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
}

/* Encodes @p sb and answers 200. */
static enum MHD_Result respond_sandbox(nxd_request *rq, const nox_sandbox *sb, nox_error *err)
{
    char *json = NULL;
    size_t len = 0;
    int r = nox_wire_encode_sandbox(sb, &json, &len, err);
    if (r < 0)
        return nxd_respond_nox_error(rq, r, err);
    return nxd_respond_json(rq, MHD_HTTP_OK, json, len);
}

/* GET /healthz: 200 text/plain "OK", 503 when the backend is not usable. */
static enum MHD_Result handle_health(nxd_request *rq, nox_error *err)
{
    nox_client *client = nxd_request_client(rq, err);
    if (!client)
        return nxd_respond_error(rq, MHD_HTTP_SERVICE_UNAVAILABLE, "not healthy: %s",
                                 nox_error_message(err));
    if (!nox_health(client, err))
        return nxd_respond_error(rq, MHD_HTTP_SERVICE_UNAVAILABLE, "not healthy: %s",
                                 *nox_error_message(err) ? nox_error_message(err)
                                                         : "the backend did not answer");
    return nxd_respond_static(rq, MHD_HTTP_OK, "text/plain", "OK", 2);
}

/* PUT /v1/sandboxes/{id} */
static enum MHD_Result handle_create(nxd_request *rq, nox_client *client, nox_error *err)
{
    _cleanup_nox_free_ nox_create_options *opts = NULL;
    int r = nox_wire_decode_create_request(rq->body, rq->body_len, &opts, err);
    if (r < 0)
        return nxd_respond_nox_error(rq, r, err);
    /* The local backend enforces this too; checking here makes the
     * server's limit hold in gateway mode as well. */
    if ((uint64_t)opts->ttl_seconds > rq->srv->cfg->max_ttl)
        return nxd_respond_error(rq, MHD_HTTP_BAD_REQUEST,
                                 "ttlSeconds %ld exceeds the maximum of %" PRIu64,
                                 opts->ttl_seconds, rq->srv->cfg->max_ttl);
    _cleanup_sandbox_ nox_sandbox *sb = NULL;
    if ((r = nox_create(client, rq->id, opts, &sb, err)) < 0)
        return nxd_respond_nox_error(rq, r, err);
    nxd_debug("sandbox `%s` created or ensured (expires %s)", rq->id,
              sb->expires_at ? sb->expires_at : "?");
    return respond_sandbox(rq, sb, err);
}

/* GET /v1/sandboxes/{id} (extension) */
static enum MHD_Result handle_info(nxd_request *rq, nox_client *client, nox_error *err)
{
    _cleanup_sandbox_ nox_sandbox *sb = NULL;
    int r = nox_info(client, rq->id, &sb, err);
    if (r < 0)
        return nxd_respond_nox_error(rq, r, err);
    return respond_sandbox(rq, sb, err);
}

/* DELETE /v1/sandboxes/{id}: 204, no body. */
static enum MHD_Result handle_delete(nxd_request *rq, nox_client *client, nox_error *err)
{
    int r = nox_delete(client, rq->id, err);
    if (r < 0)
        return nxd_respond_nox_error(rq, r, err);
    nxd_debug("sandbox `%s` deleted", rq->id);
    return nxd_respond_static(rq, MHD_HTTP_NO_CONTENT, NULL, "", 0);
}

/* GET /v1/sandboxes (extension) */
static enum MHD_Result handle_list(nxd_request *rq, nox_client *client, nox_error *err)
{
    _cleanup_sandbox_list_ nox_sandbox_list *list = NULL;
    int r = nox_list(client, &list, err);
    if (r < 0)
        return nxd_respond_nox_error(rq, r, err);
    char *json = NULL;
    size_t len = 0;
    if ((r = nox_wire_encode_sandbox_list(list, &json, &len, err)) < 0)
        return nxd_respond_nox_error(rq, r, err);
    return nxd_respond_json(rq, MHD_HTTP_OK, json, len);
}

/* POST /v1/sandboxes/{id}/touch: 200 (the reference client accepts exactly
 * 200 here), with {"ok":true}. */
static enum MHD_Result handle_touch(nxd_request *rq, nox_client *client, nox_error *err)
{
    int r = nox_touch(client, rq->id, err);
    if (r < 0)
        return nxd_respond_nox_error(rq, r, err);
    return respond_ok(rq);
}

/* POST /v1/sandboxes/{id}/exec: 200 with the result, also when the
 * command failed. */
static enum MHD_Result handle_exec(nxd_request *rq, nox_client *client, nox_error *err)
{
    _cleanup_nox_free_ nox_exec_request *req = NULL;
    int r = nox_wire_decode_exec_request(rq->body, rq->body_len, &req, err);
    if (r < 0)
        return nxd_respond_nox_error(rq, r, err);
    if ((uint64_t)req->opts.timeout_seconds > rq->srv->cfg->max_exec_timeout)
        return nxd_respond_error(rq, MHD_HTTP_BAD_REQUEST,
                                 "timeoutSeconds %ld exceeds the maximum of %" PRIu64,
                                 req->opts.timeout_seconds, rq->srv->cfg->max_exec_timeout);
    _cleanup_exec_result_ nox_exec_result *res = NULL;
    /* While the command runs, a hang-up of the client cancels it (and the
     * backend kills its process tree). */
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(rq->mhd, MHD_CONNECTION_INFO_CONNECTION_FD);
    int token = nxd_watch_add(rq->srv->watch, ci ? ci->connect_fd : -1, client);
    r = nox_exec(client, rq->id, (const char *const *)req->argv, &req->opts, &res, err);
    nxd_watch_remove(rq->srv->watch, token);
    if (r == NOX_E_CANCELLED)
        return nxd_respond_error(rq, MHD_HTTP_SERVICE_UNAVAILABLE,
                                 atomic_load(&rq->srv->shutting_down)
                                     ? "the server is shutting down; the command was stopped"
                                     : "the request was cancelled; the command was stopped");
    if (r < 0)
        return nxd_respond_nox_error(rq, r, err);
    char *json = NULL;
    size_t len = 0;
    if ((r = nox_wire_encode_exec_result(res, &json, &len, err)) < 0)
        return nxd_respond_nox_error(rq, r, err);
    return nxd_respond_json(rq, MHD_HTTP_OK, json, len);
}

enum MHD_Result nxd_upload_begin(nxd_request *rq)
{
    _cleanup_error_ nox_error *err = nox_error_new();
    if (!err)
        return respond_oom(rq);
    nox_client *client = nxd_request_client(rq, err);
    if (!client)
        return nxd_respond_nox_error(rq, nox_error_code(err), err);
    int e = nxd_upload_start(client, rq->id, rq->param, &rq->upload);
    if (e != 0)
        return nxd_respond_error(rq,
                                 e == EAGAIN || e == EMFILE || e == ENFILE
                                     ? MHD_HTTP_SERVICE_UNAVAILABLE
                                     : MHD_HTTP_INTERNAL_SERVER_ERROR,
                                 "cannot start the upload: %s", strerror(e));
    return MHD_YES;
}

/* POST /v1/sandboxes/{id}/files/upload?dest=DIR: the body has gone
 * through the worker; its result is the answer. 200 with {"ok":true}. */
static enum MHD_Result handle_upload(nxd_request *rq)
{
    if (!rq->upload)
        return nxd_respond_error(rq, MHD_HTTP_INTERNAL_SERVER_ERROR, "upload was not started");
    nox_error *werr = NULL;
    int r = nxd_upload_finish(rq->upload, true, &werr);
    rq->upload = NULL;
    enum MHD_Result ret;
    if (r < 0)
        ret = nxd_respond_nox_error(rq, r, werr);
    else
        ret = respond_ok(rq);
    nox_error_free(werr);
    return ret;
}

/* Reads the next bytes of a download for libmicrohttpd. Runs on the
 * connection's thread after the handler returned, until the archive ends
 * or the connection breaks; never after the request completed. */
static ssize_t download_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    nxd_request *rq = cls;
    nxd_server *srv = rq->srv;
    atomic_fetch_add(&srv->busy, 1);
    ssize_t n;
    if (atomic_load(&srv->stopping)) {
        rq->note = "download cut short by the server's shutdown";
        n = MHD_CONTENT_READER_END_WITH_ERROR;
    } else {
        n = nox_stream_read(rq->stream, buf, max, rq->stream_err);
        if (n > 0) {
            rq->bytes_out += (uint64_t)n;
        } else if (n == 0) {
            n = MHD_CONTENT_READER_END_OF_STREAM;
        } else {
            /* The status line is long gone: the only way left to say that
             * the archive is incomplete is to end the chunked body without
             * its last chunk, which every client reports as an error. */
            nxd_warn("download from sandbox `%s` failed after %" PRIu64 " bytes: %s", rq->id,
                     rq->bytes_out, nox_error_message(rq->stream_err));
            rq->note = "download failed mid-stream";
            n = MHD_CONTENT_READER_END_WITH_ERROR;
        }
    }
    atomic_fetch_sub(&srv->busy, 1);
    return n;
}

/* GET /v1/sandboxes/{id}/files/download?src=DIR: 200 application/x-tar,
 * streamed with chunked encoding. The download is opened first, so a
 * missing sandbox or path is a clean 404/400 before any byte is sent. */
static enum MHD_Result handle_download(nxd_request *rq, nox_client *client, nox_error *err)
{
    int r = nox_download_open(client, rq->id, rq->param, &rq->stream, err);
    if (r < 0)
        return nxd_respond_nox_error(rq, r, err);
    if (!(rq->stream_err = nox_error_new()))
        return respond_oom(rq);
    /* No free callback: the stream belongs to the request and is released
     * when it completes, which libmicrohttpd reports only after its last
     * read. */
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, download_read, rq, NULL);
    if (!resp)
        return respond_oom(rq);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/x-tar");
    enum MHD_Result ret = nxd_respond(rq, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return ret;
}

enum MHD_Result nxd_dispatch(nxd_request *rq)
{
    if (rq->route == NXD_ROUTE_UPLOAD)
        return handle_upload(rq);
    _cleanup_error_ nox_error *err = nox_error_new();
    if (!err)
        return respond_oom(rq);
    if (rq->route == NXD_ROUTE_HEALTH)
        return handle_health(rq, err);
    nox_client *client = nxd_request_client(rq, err);
    if (!client)
        return nxd_respond_nox_error(rq, nox_error_code(err), err);
    bool get = strcmp(rq->method, "GET") == 0 || strcmp(rq->method, "HEAD") == 0;
    switch (rq->route) {
    case NXD_ROUTE_LIST:
        return handle_list(rq, client, err);
    case NXD_ROUTE_SANDBOX:
        if (get)
            return handle_info(rq, client, err);
        if (strcmp(rq->method, "PUT") == 0)
            return handle_create(rq, client, err);
        return handle_delete(rq, client, err);
    case NXD_ROUTE_TOUCH:
        return handle_touch(rq, client, err);
    case NXD_ROUTE_EXEC:
        return handle_exec(rq, client, err);
    case NXD_ROUTE_DOWNLOAD:
        return handle_download(rq, client, err);
    case NXD_ROUTE_NONE:
    case NXD_ROUTE_HEALTH:
    case NXD_ROUTE_UPLOAD:
        break;
    }
    return nxd_respond_error(rq, MHD_HTTP_INTERNAL_SERVER_ERROR, "request was not routed");
}
