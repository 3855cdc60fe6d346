/* SPDX-License-Identifier: MIT */
/* Streaming an upload body into nox_upload_stream(). See upload.c for why
 * it is a pipe to a worker thread. */
#ifndef NXD_UPLOAD_H
#define NXD_UPLOAD_H

#include <stdbool.h>
#include <stddef.h>

#include <noxrunner/noxrunner.h>

typedef struct nxd_upload nxd_upload;

/* Starts a worker thread running nox_upload_stream(@p client, @p id, ...,
 * @p dest) on a pipe. From now until nxd_upload_finish() returns, the worker
 * is the only user of @p client. @p dest may be NULL (the default).
 * Returns 0, or an errno value (ENOMEM, EMFILE, EAGAIN) when the pipe or
 * the thread cannot be made. */
int nxd_upload_start(nox_client *client, const char *id, const char *dest, nxd_upload **ret_up);

/* Hands @p len body bytes to the worker, blocking while it is busy (the
 * connection has a thread of its own, and blocking is what slows a fast
 * client down to the speed of extraction). Returns false once the worker
 * has stopped reading: it failed, or the archive ended; the caller drops
 * the rest of the body. */
bool nxd_upload_write(nxd_upload *up, const void *data, size_t len);

/* Ends the body and waits for the worker. When @p complete is false (the
 * client went away, the body was too large), the worker's next read fails
 * and the upload changes nothing in the sandbox. Returns the result of
 * nox_upload_stream(); on failure *ret_err receives its error (free it
 * with nox_error_free()). Frees @p up. */
int nxd_upload_finish(nxd_upload *up, bool complete, nox_error **ret_err);

#endif
