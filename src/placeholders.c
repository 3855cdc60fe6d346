/* SPDX-License-Identifier: MIT */
/* Bring-up placeholders: each section disappears when its module lands. */
#include "backend.h"
#include "error.h"
#include "archive.h"

/* ==== local backend (src/local/) ==== */

void nox__local_limits_fill(nox_local_limits *l)
{
    (void)l;
}

int nox__local_backend_new(const nox_client_options *opts, nox_backend **ret_b, nox_error *err)
{
    return nox__error_set(err, NOX_E_UNSUPPORTED, "local backend: bring-up placeholder");
}

int nox_preflight(const nox_client_options *opts, nox_preflight_report **ret_report,
                  nox_error *err)
{
    return nox__error_set(err, NOX_E_UNSUPPORTED, "bring-up placeholder");
}

/* ==== http backend (src/http/) ==== */

int nox__http_backend_new(const nox_client_options *opts, nox_backend **ret_b, nox_error *err)
{
    return nox__error_set(err, NOX_E_UNSUPPORTED, "http backend: bring-up placeholder");
}

/* ==== quantity (src/quantity.c) ==== */

int nox_parse_quantity(const char *text, uint64_t *ret_milli, nox_error *err)
{
    return nox__error_set(err, NOX_E_UNSUPPORTED, "bring-up placeholder");
}

/* ==== end ==== */
