/* SPDX-License-Identifier: MIT */
/* noxrunnerd's configuration: every option has a flag, an environment
 * variable and a documented default (docs/server.md, man/noxrunnerd.8).
 * Flags win over the environment, the environment over the defaults. */
#ifndef NXD_OPTIONS_H
#define NXD_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>

#include "log.h"

#define NXD_DEFAULT_HOST               "127.0.0.1"
#define NXD_DEFAULT_PORT               8080
#define NXD_DEFAULT_MAX_UPLOAD_BYTES   (1ull << 30)
#define NXD_DEFAULT_MAX_JSON_BYTES     (1ull << 20)
#define NXD_DEFAULT_MAX_HEADER_BYTES   (64ull << 10)
#define NXD_DEFAULT_MAX_CONNECTIONS    256
#define NXD_DEFAULT_MAX_CONNECTIONS_IP 64
#define NXD_DEFAULT_IDLE_TIMEOUT       60
#define NXD_DEFAULT_REQUEST_TIMEOUT    3600
#define NXD_DEFAULT_MAX_EXEC_TIMEOUT   3600
#define NXD_DEFAULT_MAX_TTL            (7 * 24 * 3600)
#define NXD_DEFAULT_MAX_OUTPUT_BYTES   (1ull << 20)
#define NXD_DEFAULT_REAP_INTERVAL      1
#define NXD_DEFAULT_SHUTDOWN_GRACE     10

typedef struct nxd_config {
    /* Listen address without brackets ("127.0.0.1", "::1", "localhost"). */
    char *host;
    /* Listen port; 0 asks the kernel for a free one. */
    unsigned port;
    /* Where to write the port actually bound; NULL for nowhere. */
    const char *port_file;
    /* Gateway mode: the base URL of another backend; NULL for local. */
    const char *backend_url;
    /* CA file for an https:// backend_url; NULL: the system's store. */
    const char *backend_ca_file;
    /* Local backend: state directory; NULL for the library's default. */
    const char *state_dir;
    /* Local backend: run commands without isolation. */
    bool unisolated;

    uint64_t max_upload_bytes;
    uint64_t max_json_bytes;
    uint64_t max_header_bytes;
    unsigned max_connections;
    /* 0: no per-address limit. */
    unsigned max_connections_per_ip;
    unsigned idle_timeout;
    unsigned request_timeout;
    uint64_t max_exec_timeout;
    uint64_t max_ttl;
    uint64_t max_output_bytes;
    /* Of the archives the local backend writes (downloads). */
    unsigned gzip_level;
    /* Threads compressing one download; 0: one per CPU, at most 8. */
    unsigned gzip_threads;
    /* nox-init launchers started ahead of creates (local backend). */
    unsigned spare_launchers;
    unsigned reap_interval;
    unsigned shutdown_grace;
    nxd_log_level log_level;

    /* --check: run the preflight, print it, exit. */
    bool check;
} nxd_config;

typedef enum nxd_parse_result {
    NXD_PARSE_RUN = 0,   /* start the server (or the check) */
    NXD_PARSE_EXIT_OK,   /* --help or --version was printed */
    NXD_PARSE_EXIT_USAGE /* an error was printed; exit 2 */
} nxd_parse_result;

/* Fills @p cfg from the environment and @p argv. Prints usage errors. */
nxd_parse_result nxd_options_parse(int argc, char **argv, nxd_config *cfg);

/* Releases what nxd_options_parse() allocated. */
void nxd_options_free(nxd_config *cfg);

#endif
