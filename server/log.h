/* SPDX-License-Identifier: MIT */
/* The server's log: one line per event on stderr, each written with a
 * single write(2) under a lock, so lines from concurrent connections never
 * interleave. Text that came from a client (paths, ids, library messages
 * quoting them) has its control characters escaped, so a request cannot
 * forge log lines. */
#ifndef NXD_LOG_H
#define NXD_LOG_H

#include <stdbool.h>

#include "util.h"

typedef enum nxd_log_level {
    NXD_LOG_ERROR = 0,
    NXD_LOG_WARN = 1,
    NXD_LOG_INFO = 2,
    NXD_LOG_DEBUG = 3,
} nxd_log_level;

/* Parses "error", "warn" (or "warning"), "info", "debug"; -1 otherwise. */
int nxd_log_level_parse(const char *text);
/* The name of @p level as --log-level spells it. */
const char *nxd_log_level_name(nxd_log_level level);

void nxd_log_set_level(nxd_log_level level);
bool nxd_log_enabled(nxd_log_level level);

/* "noxrunnerd: LEVEL: message" when @p level is enabled. */
void nxd_log(nxd_log_level level, const char *fmt, ...) NXD_PRINTF(2, 3);

/* "noxrunnerd: message" regardless of the level: what a person starting
 * the server must see (the listening line, fatal startup errors). */
void nxd_log_plain(const char *fmt, ...) NXD_PRINTF(1, 2);

/* "noxrunnerd: access: message", logged at level info. */
void nxd_log_access(const char *fmt, ...) NXD_PRINTF(1, 2);

#define nxd_error(...) nxd_log(NXD_LOG_ERROR, __VA_ARGS__)
#define nxd_warn(...)  nxd_log(NXD_LOG_WARN, __VA_ARGS__)
#define nxd_info(...)  nxd_log(NXD_LOG_INFO, __VA_ARGS__)
#define nxd_debug(...) nxd_log(NXD_LOG_DEBUG, __VA_ARGS__)

#endif
