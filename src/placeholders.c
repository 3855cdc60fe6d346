/* SPDX-License-Identifier: MIT */
/* Bring-up placeholders: each section disappears when its module lands. */
#include "backend.h"
#include "error.h"
#include "archive.h"

/* ==== archive (src/archive.c) ==== */

void nox__extract_limits_fill(nox_extract_limits *l)
{
    (void)l;
}

int nox__tar_from_files(const nox_file *files, size_t n_files, int gzip_level, nox_source **ret_src,
                        nox_error *err)
{
    return nox__error_set(err, NOX_E_UNSUPPORTED, "bring-up placeholder");
}

int nox__tar_from_fd(int fd, const char *file_name, int gzip_level, nox_source **ret_src,
                     nox_error *err)
{
    return nox__error_set(err, NOX_E_UNSUPPORTED, "bring-up placeholder");
}

int nox__extract(nox_source *src, int dest_fd, const nox_extract_opts *opts,
                 nox_extract_stats *ret_stats, nox_error *err)
{
    return nox__error_set(err, NOX_E_UNSUPPORTED, "bring-up placeholder");
}

/* ==== end ==== */
