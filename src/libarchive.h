/* SPDX-License-Identifier: MIT */
/* libarchive's headers, for src/archive.c and its tests.
 *
 * libarchive's <archive.h> has the same name as this module's src/archive.h,
 * and src/ is on the include path (-Isrc), so a plain #include <archive.h>
 * finds ours, whose include guard then makes it a silent no-op: nothing of
 * libarchive gets declared. #include_next resumes the search after the
 * directory this file was found in. That only works when this file itself
 * was found through -Isrc, so include it with angle brackets,
 * #include <libarchive.h>, never with quotes. */
#ifndef NOX_LIBARCHIVE_H
#define NOX_LIBARCHIVE_H

#include_next <archive.h>
#include <archive_entry.h>

#ifndef ARCHIVE_VERSION_NUMBER
#error "libarchive's archive.h was not found: include this file as <libarchive.h>"
#endif

#endif
