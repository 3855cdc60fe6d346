/* SPDX-License-Identifier: MIT */
/* One function per endpoint: decode the request with nox_wire_*, make one
 * public API call, encode the answer with nox_wire_*. */
#ifndef NXD_HANDLERS_H
#define NXD_HANDLERS_H

#include "request.h"

/* Answers a routed request whose body (if any) has fully arrived. */
enum MHD_Result nxd_dispatch(nxd_request *rq);

/* First call of an upload, before its body: starts the worker that feeds
 * the body to nox_upload_stream(). Answers at once when it cannot. */
enum MHD_Result nxd_upload_begin(nxd_request *rq);

#endif
