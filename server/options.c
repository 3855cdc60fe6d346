/* SPDX-License-Identifier: MIT */
/* Command line and environment. One table names every option's flag,
 * environment variable, argument and help text, so the three cannot drift
 * apart; docs/server.md and man/noxrunnerd.8 describe the same table. */
#include "options.h"

#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <noxrunner/noxrunner.h>

enum opt_id {
    OPT_LISTEN = 1000,
    OPT_HOST,
    OPT_PORT,
    OPT_PORT_FILE,
    OPT_BACKEND,
    OPT_BACKEND_CA_FILE,
    OPT_STATE_DIR,
    OPT_UNISOLATED,
    OPT_MAX_UPLOAD,
    OPT_MAX_JSON,
    OPT_MAX_HEADER,
    OPT_MAX_CONN,
    OPT_MAX_CONN_IP,
    OPT_IDLE_TIMEOUT,
    OPT_REQUEST_TIMEOUT,
    OPT_MAX_EXEC_TIMEOUT,
    OPT_MAX_TTL,
    OPT_MAX_OUTPUT,
    OPT_GZIP_LEVEL,
    OPT_GZIP_THREADS,
    OPT_SPARE_LAUNCHERS,
    OPT_REAP_INTERVAL,
    OPT_SHUTDOWN_GRACE,
    OPT_LOG_LEVEL,
    OPT_CHECK,
    OPT_HELP,
    OPT_VERSION,
};

/* A static table of a few dozen entries: its padding costs nothing. */
typedef struct opt_spec { // NOLINT(clang-analyzer-optin.performance.Padding)
    int id;
    const char *flag;
    char short_flag;
    const char *arg;  /* NULL: takes no argument */
    const char *env;  /* NULL: no environment variable */
    const char *help; /* the default is part of the text */
} opt_spec;

static const opt_spec specs[] = {
    { OPT_LISTEN, "listen", 'l', "ADDR:PORT", "NOXRUNNERD_LISTEN",
      "address and port to listen on; [::1]:8080 for IPv6; port 0 picks a free one "
      "(default 127.0.0.1:8080)" },
    { OPT_HOST, "host", 0, "ADDR", "NOXRUNNERD_HOST", "the address part of --listen" },
    { OPT_PORT, "port", 'p', "PORT", "NOXRUNNERD_PORT", "the port part of --listen" },
    { OPT_PORT_FILE, "port-file", 0, "FILE", "NOXRUNNERD_PORT_FILE",
      "write the port actually bound to FILE once listening" },
    { OPT_BACKEND, "backend", 0, "URL", "NOXRUNNERD_BACKEND",
      "serve another NoxRunner backend at URL (gateway mode) instead of local sandboxes" },
    { OPT_BACKEND_CA_FILE, "backend-ca-file", 0, "FILE", "NOXRUNNERD_BACKEND_CA_FILE",
      "CA certificates (PEM) to trust for an https:// --backend (default: the system's)" },
    { OPT_STATE_DIR, "state-dir", 0, "DIR", "NOXRUNNER_STATE_DIR",
      "state directory of the local backend (default: the library's, see noxrunnerd(8))" },
    { OPT_UNISOLATED, "unisolated", 0, NULL, "NOXRUNNERD_UNISOLATED",
      "run commands WITHOUT isolation, directly on this host (trusted code only)" },
    { OPT_MAX_UPLOAD, "max-upload-bytes", 0, "SIZE", "NOXRUNNERD_MAX_UPLOAD_BYTES",
      "largest upload body (default 1Gi)" },
    { OPT_MAX_JSON, "max-json-bytes", 0, "SIZE", "NOXRUNNERD_MAX_JSON_BYTES",
      "largest JSON request body (default 1Mi)" },
    { OPT_MAX_HEADER, "max-header-bytes", 0, "SIZE", "NOXRUNNERD_MAX_HEADER_BYTES",
      "memory for one connection's request line and headers (default 64Ki)" },
    { OPT_MAX_CONN, "max-connections", 0, "N", "NOXRUNNERD_MAX_CONNECTIONS",
      "most connections at once (default 256)" },
    { OPT_MAX_CONN_IP, "max-connections-per-ip", 0, "N", "NOXRUNNERD_MAX_CONNECTIONS_PER_IP",
      "most connections from one address, 0 for no limit (default 64)" },
    { OPT_IDLE_TIMEOUT, "idle-timeout", 0, "SECONDS", "NOXRUNNERD_IDLE_TIMEOUT",
      "close a connection that sends or takes nothing for this long (default 60)" },
    { OPT_REQUEST_TIMEOUT, "request-timeout", 0, "SECONDS", "NOXRUNNERD_REQUEST_TIMEOUT",
      "most time a request body may take to arrive (default 3600)" },
    { OPT_MAX_EXEC_TIMEOUT, "max-exec-timeout", 0, "SECONDS", "NOXRUNNERD_MAX_EXEC_TIMEOUT",
      "largest timeoutSeconds an exec may ask for (default 3600)" },
    { OPT_MAX_TTL, "max-ttl", 0, "SECONDS", "NOXRUNNERD_MAX_TTL",
      "largest ttlSeconds a create may ask for (default 604800, 7 days)" },
    { OPT_MAX_OUTPUT, "max-output-bytes", 0, "SIZE", "NOXRUNNERD_MAX_OUTPUT_BYTES",
      "cap on each of an exec's stdout and stderr (default 1Mi)" },
    { OPT_GZIP_LEVEL, "gzip-level", 0, "N", "NOXRUNNERD_GZIP_LEVEL",
      "gzip level (1-9) of downloads: 1 is fastest, 9 smallest (default 1)" },
    { OPT_GZIP_THREADS, "gzip-threads", 0, "N", "NOXRUNNERD_GZIP_THREADS",
      "threads compressing one download (0-64; default 0: one per CPU, at most 8)" },
    { OPT_SPARE_LAUNCHERS, "spare-launchers", 0, "N", "NOXRUNNERD_SPARE_LAUNCHERS",
      "nox-init launchers kept started ahead of creates (0-16, default 2)" },
    { OPT_REAP_INTERVAL, "reap-interval", 0, "SECONDS", "NOXRUNNERD_REAP_INTERVAL",
      "how often expired sandboxes are removed (default 1)" },
    { OPT_SHUTDOWN_GRACE, "shutdown-grace", 0, "SECONDS", "NOXRUNNERD_SHUTDOWN_GRACE",
      "on SIGTERM/SIGINT, how long running requests may take to finish (default 10)" },
    { OPT_LOG_LEVEL, "log-level", 0, "LEVEL", "NOXRUNNERD_LOG_LEVEL",
      "error, warn, info or debug (default info)" },
    { OPT_CHECK, "check", 0, NULL, NULL,
      "check what isolation this host provides, print it and exit (0: available)" },
    { OPT_HELP, "help", 'h', NULL, NULL, "print this help and exit" },
    { OPT_VERSION, "version", 'V', NULL, NULL, "print the version and exit" },
};

/* Prints @p text wrapped at 79 columns, each line indented by 8. */
static void print_wrapped(FILE *f, const char *text)
{
    const int indent = 8, width = 79;
    int col = 0;
    for (const char *p = text; *p;) {
        size_t word = strcspn(p, " ");
        if (col > indent && col + 1 + (int)word > width) {
            fputc('\n', f);
            col = 0;
        }
        if (col == 0)
            col = fprintf(f, "%*s", indent, "");
        else
            col += fprintf(f, " ");
        col += fprintf(f, "%.*s", (int)word, p);
        p += word;
        while (*p == ' ')
            p++;
    }
    fputc('\n', f);
}

static void usage(FILE *f)
{
    fprintf(f, "Usage: noxrunnerd [OPTION]...\n"
               "Serve NoxRunner sandboxes over the v1 HTTP API (docs/api-v1.md).\n\n");
    for (size_t i = 0; i < NXD_ARRAY_SIZE(specs); i++) {
        const opt_spec *s = &specs[i];
        char left[64];
        if (s->short_flag)
            snprintf(left, sizeof left, "-%c, --%s%s%s", s->short_flag, s->flag, s->arg ? " " : "",
                     s->arg ? s->arg : "");
        else
            snprintf(left, sizeof left, "    --%s%s%s", s->flag, s->arg ? " " : "",
                     s->arg ? s->arg : "");
        if (s->env)
            fprintf(f, "  %-36s env %s\n", left, s->env);
        else
            fprintf(f, "  %s\n", left);
        print_wrapped(f, s->help);
    }
    fprintf(f, "\nSIZE is a byte count with an optional suffix: Ki, Mi, Gi (1024-based)\n"
               "or k, M, G (1000-based), as in \"512Mi\" or \"1Gi\".\n"
               "Flags override environment variables. See noxrunnerd(8) and docs/server.md.\n");
}

/* Where a value came from, for messages: "--port" or "NOXRUNNERD_PORT". */
typedef struct origin {
    const opt_spec *spec;
    bool from_env;
} origin;

static void origin_name(const origin *o, char *buf, size_t size)
{
    if (o->from_env)
        snprintf(buf, size, "environment variable %s", o->spec->env);
    else
        snprintf(buf, size, "--%s", o->spec->flag);
}

static bool bad_value(const origin *o, const char *value, const char *why)
{
    char name[96];
    origin_name(o, name, sizeof name);
    fprintf(stderr, "noxrunnerd: %s: invalid value `%s`: %s\n", name, value, why);
    return false;
}

static bool parse_u64(const char *text, uint64_t *ret)
{
    if (!text || *text < '0' || *text > '9')
        return false;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno || *end)
        return false;
    *ret = v;
    return true;
}

static bool parse_number(const origin *o, const char *value, uint64_t min, uint64_t max,
                         uint64_t *ret)
{
    uint64_t v;
    if (!parse_u64(value, &v))
        return bad_value(o, value, "expected a whole number");
    if (v < min || v > max) {
        char why[96];
        snprintf(why, sizeof why, "must be between %" PRIu64 " and %" PRIu64, min, max);
        return bad_value(o, value, why);
    }
    *ret = v;
    return true;
}

static bool parse_unsigned(const origin *o, const char *value, unsigned min, unsigned max,
                           unsigned *ret)
{
    uint64_t v;
    if (!parse_number(o, value, min, max, &v))
        return false;
    *ret = (unsigned)v;
    return true;
}

/* Sizes are Kubernetes quantities, as the API's limits are: "1Gi", "512Mi",
 * "1000000". nox_parse_quantity() gives thousandths; a size must be whole. */
static bool parse_size(const origin *o, const char *value, uint64_t min, uint64_t max,
                       uint64_t *ret)
{
    uint64_t milli;
    nox_error *err = nox_error_new();
    int r = nox_parse_quantity(value, &milli, err);
    if (r < 0) {
        char why[256];
        snprintf(why, sizeof why, "%s", err ? nox_error_message(err) : nox_strerror(r));
        nox_error_free(err);
        return bad_value(o, value, why);
    }
    nox_error_free(err);
    if (milli % 1000)
        return bad_value(o, value, "a size must be a whole number of bytes");
    uint64_t v = milli / 1000;
    if (v < min || v > max) {
        char why[96];
        snprintf(why, sizeof why, "must be between %" PRIu64 " and %" PRIu64 " bytes", min, max);
        return bad_value(o, value, why);
    }
    *ret = v;
    return true;
}

static bool parse_bool(const origin *o, const char *value, bool *ret)
{
    static const char *const yes[] = { "1", "true", "yes", "on" };
    static const char *const no[] = { "0", "false", "no", "off", "" };
    for (size_t i = 0; i < NXD_ARRAY_SIZE(yes); i++)
        if (strcasecmp(value, yes[i]) == 0) {
            *ret = true;
            return true;
        }
    for (size_t i = 0; i < NXD_ARRAY_SIZE(no); i++)
        if (strcasecmp(value, no[i]) == 0) {
            *ret = false;
            return true;
        }
    return bad_value(o, value, "expected 1, true, yes, on, 0, false, no or off");
}

/* Sets the listen address to the @p len bytes at @p text; @p shown is the
 * whole value, for messages. */
static bool set_host(nxd_config *cfg, const origin *o, const char *shown, const char *text,
                     size_t len)
{
    if (len == 0)
        return bad_value(o, shown, "the address is empty");
    char *h = strndup(text, len);
    if (!h) {
        fprintf(stderr, "noxrunnerd: out of memory\n");
        return false;
    }
    free(cfg->host);
    cfg->host = h;
    return true;
}

/* "HOST:PORT" or "[IPV6]:PORT". */
static bool parse_listen(nxd_config *cfg, const origin *o, const char *value)
{
    const char *host = value, *colon;
    size_t host_len;
    if (value[0] == '[') {
        const char *close = strchr(value, ']');
        if (!close || close[1] != ':')
            return bad_value(o, value, "expected [IPV6-ADDRESS]:PORT, as in [::1]:8080");
        host = value + 1;
        host_len = (size_t)(close - host);
        colon = close + 1;
    } else {
        colon = strrchr(value, ':');
        if (!colon)
            return bad_value(o, value, "expected ADDRESS:PORT, as in 127.0.0.1:8080");
        host_len = (size_t)(colon - value);
        if (memchr(value, ':', host_len))
            return bad_value(o, value, "an IPv6 address needs brackets, as in [::1]:8080");
    }
    if (!set_host(cfg, o, value, host, host_len))
        return false;
    return parse_unsigned(o, colon + 1, 0, 65535, &cfg->port);
}

/* Applies one option; false after printing what is wrong. */
static bool apply(nxd_config *cfg, const origin *o, const char *value)
{
    switch (o->spec->id) {
    case OPT_LISTEN:
        return parse_listen(cfg, o, value);
    case OPT_HOST: {
        size_t n = strlen(value);
        /* Accept "[::1]" as well as "::1". */
        if (n >= 2 && value[0] == '[' && value[n - 1] == ']')
            return set_host(cfg, o, value, value + 1, n - 2);
        return set_host(cfg, o, value, value, n);
    }
    case OPT_PORT:
        return parse_unsigned(o, value, 0, 65535, &cfg->port);
    case OPT_PORT_FILE:
        if (!*value)
            return bad_value(o, value, "the file name is empty");
        cfg->port_file = value;
        return true;
    case OPT_BACKEND:
        if (!*value)
            return bad_value(o, value, "the URL is empty");
        if (strncmp(value, "http://", 7) != 0 && strncmp(value, "https://", 8) != 0)
            return bad_value(o, value, "expected an http:// or https:// URL");
        cfg->backend_url = value;
        return true;
    case OPT_BACKEND_CA_FILE:
        if (!*value)
            return bad_value(o, value, "the file name is empty");
        cfg->backend_ca_file = value;
        return true;
    case OPT_STATE_DIR:
        if (!*value)
            return bad_value(o, value, "the directory name is empty");
        cfg->state_dir = value;
        return true;
    case OPT_UNISOLATED:
        if (!o->from_env) {
            cfg->unisolated = true;
            return true;
        }
        return parse_bool(o, value, &cfg->unisolated);
    case OPT_MAX_UPLOAD:
        return parse_size(o, value, 1, UINT64_MAX / 2, &cfg->max_upload_bytes);
    case OPT_MAX_JSON:
        /* Bounded above: a JSON body is held in memory whole. */
        return parse_size(o, value, 64, 1ull << 30, &cfg->max_json_bytes);
    case OPT_MAX_HEADER:
        /* libmicrohttpd needs a few KiB of the pool for its own buffers. */
        return parse_size(o, value, 8 << 10, 16 << 20, &cfg->max_header_bytes);
    case OPT_MAX_CONN:
        return parse_unsigned(o, value, 1, 65536, &cfg->max_connections);
    case OPT_MAX_CONN_IP:
        return parse_unsigned(o, value, 0, 65536, &cfg->max_connections_per_ip);
    case OPT_IDLE_TIMEOUT:
        return parse_unsigned(o, value, 1, 86400, &cfg->idle_timeout);
    case OPT_REQUEST_TIMEOUT:
        return parse_unsigned(o, value, 1, 7 * 86400, &cfg->request_timeout);
    case OPT_MAX_EXEC_TIMEOUT:
        return parse_number(o, value, 1, LONG_MAX, &cfg->max_exec_timeout);
    case OPT_MAX_TTL:
        return parse_number(o, value, 1, LONG_MAX, &cfg->max_ttl);
    case OPT_MAX_OUTPUT:
        return parse_size(o, value, 1, 1ull << 30, &cfg->max_output_bytes);
    case OPT_GZIP_LEVEL:
        return parse_unsigned(o, value, 1, 9, &cfg->gzip_level);
    case OPT_GZIP_THREADS:
        return parse_unsigned(o, value, 0, 64, &cfg->gzip_threads);
    case OPT_SPARE_LAUNCHERS:
        return parse_unsigned(o, value, 0, 16, &cfg->spare_launchers);
    case OPT_REAP_INTERVAL:
        return parse_unsigned(o, value, 1, 3600, &cfg->reap_interval);
    case OPT_SHUTDOWN_GRACE:
        return parse_unsigned(o, value, 0, 3600, &cfg->shutdown_grace);
    case OPT_LOG_LEVEL: {
        int l = nxd_log_level_parse(value);
        if (l < 0)
            return bad_value(o, value, "expected error, warn, info or debug");
        cfg->log_level = (nxd_log_level)l;
        return true;
    }
    case OPT_CHECK:
        cfg->check = true;
        return true;
    }
    return false;
}

static void defaults(nxd_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->port = NXD_DEFAULT_PORT;
    cfg->max_upload_bytes = NXD_DEFAULT_MAX_UPLOAD_BYTES;
    cfg->max_json_bytes = NXD_DEFAULT_MAX_JSON_BYTES;
    cfg->max_header_bytes = NXD_DEFAULT_MAX_HEADER_BYTES;
    cfg->max_connections = NXD_DEFAULT_MAX_CONNECTIONS;
    cfg->max_connections_per_ip = NXD_DEFAULT_MAX_CONNECTIONS_IP;
    cfg->idle_timeout = NXD_DEFAULT_IDLE_TIMEOUT;
    cfg->request_timeout = NXD_DEFAULT_REQUEST_TIMEOUT;
    cfg->max_exec_timeout = NXD_DEFAULT_MAX_EXEC_TIMEOUT;
    cfg->max_ttl = NXD_DEFAULT_MAX_TTL;
    cfg->max_output_bytes = NXD_DEFAULT_MAX_OUTPUT_BYTES;
    cfg->reap_interval = NXD_DEFAULT_REAP_INTERVAL;
    cfg->gzip_level = 1;
    cfg->spare_launchers = 2;
    cfg->shutdown_grace = NXD_DEFAULT_SHUTDOWN_GRACE;
    cfg->log_level = NXD_LOG_INFO;
}

nxd_parse_result nxd_options_parse(int argc, char **argv, nxd_config *cfg)
{
    defaults(cfg);

    /* The environment first, in table order (so NOXRUNNERD_HOST and
     * NOXRUNNERD_PORT refine NOXRUNNERD_LISTEN), then the flags. */
    for (size_t i = 0; i < NXD_ARRAY_SIZE(specs); i++) {
        const opt_spec *s = &specs[i];
        if (!s->env || s->id == OPT_STATE_DIR)
            continue; /* the library reads NOXRUNNER_STATE_DIR itself */
        const char *v = getenv(s->env);
        if (!v)
            continue;
        origin o = { s, true };
        if (!apply(cfg, &o, v))
            return NXD_PARSE_EXIT_USAGE;
    }

    struct option longopts[NXD_ARRAY_SIZE(specs) + 1];
    char shortopts[3 * NXD_ARRAY_SIZE(specs) + 2];
    size_t sn = 0;
    shortopts[sn++] = ':'; /* report a missing argument distinctly */
    for (size_t i = 0; i < NXD_ARRAY_SIZE(specs); i++) {
        longopts[i] =
            (struct option){ specs[i].flag, specs[i].arg ? required_argument : no_argument, NULL,
                             specs[i].short_flag ? specs[i].short_flag : specs[i].id };
        if (specs[i].short_flag) {
            shortopts[sn++] = specs[i].short_flag;
            if (specs[i].arg)
                shortopts[sn++] = ':';
        }
    }
    longopts[NXD_ARRAY_SIZE(specs)] = (struct option){ NULL, 0, NULL, 0 };
    shortopts[sn] = '\0';

    /* --host and --port refine --listen whatever their order. */
    const char *host_flag = NULL, *port_flag = NULL;
    opterr = 0;
    int c, longindex;
    while ((c = getopt_long(argc, argv, shortopts, longopts, &longindex)) != -1) {
        if (c == '?') {
            if (optopt)
                fprintf(stderr, "noxrunnerd: unknown option -%c\n", optopt);
            else
                fprintf(stderr, "noxrunnerd: unknown option %s\n", argv[optind - 1]);
            fprintf(stderr, "Try `noxrunnerd --help`.\n");
            return NXD_PARSE_EXIT_USAGE;
        }
        if (c == ':') {
            fprintf(stderr, "noxrunnerd: option %s needs a value\n", argv[optind - 1]);
            return NXD_PARSE_EXIT_USAGE;
        }
        const opt_spec *s = NULL;
        for (size_t i = 0; i < NXD_ARRAY_SIZE(specs); i++)
            if (specs[i].id == c || (specs[i].short_flag && specs[i].short_flag == c))
                s = &specs[i];
        if (!s)
            return NXD_PARSE_EXIT_USAGE;
        if (s->id == OPT_HELP) {
            usage(stdout);
            return NXD_PARSE_EXIT_OK;
        }
        if (s->id == OPT_VERSION) {
            printf("noxrunnerd %s (libnoxrunner %s)\n", NOX_VERSION_STRING, nox_version());
            return NXD_PARSE_EXIT_OK;
        }
        if (s->id == OPT_HOST) {
            host_flag = optarg;
            continue;
        }
        if (s->id == OPT_PORT) {
            port_flag = optarg;
            continue;
        }
        origin o = { s, false };
        if (!apply(cfg, &o, optarg ? optarg : ""))
            return NXD_PARSE_EXIT_USAGE;
    }
    if (optind < argc) {
        fprintf(stderr, "noxrunnerd: unexpected argument `%s`\nTry `noxrunnerd --help`.\n",
                argv[optind]);
        return NXD_PARSE_EXIT_USAGE;
    }
    for (size_t i = 0; i < NXD_ARRAY_SIZE(specs); i++) {
        origin o = { &specs[i], false };
        if (specs[i].id == OPT_HOST && host_flag && !apply(cfg, &o, host_flag))
            return NXD_PARSE_EXIT_USAGE;
        if (specs[i].id == OPT_PORT && port_flag && !apply(cfg, &o, port_flag))
            return NXD_PARSE_EXIT_USAGE;
    }
    if (!cfg->host && !(cfg->host = strdup(NXD_DEFAULT_HOST))) {
        fprintf(stderr, "noxrunnerd: out of memory\n");
        return NXD_PARSE_EXIT_USAGE;
    }
    if (cfg->backend_url && cfg->unisolated) {
        fprintf(stderr, "noxrunnerd: --unisolated applies to local sandboxes; it makes no sense "
                        "with --backend\n");
        return NXD_PARSE_EXIT_USAGE;
    }
    if (cfg->backend_ca_file &&
        (!cfg->backend_url || strncmp(cfg->backend_url, "https://", 8) != 0)) {
        fprintf(stderr, "noxrunnerd: --backend-ca-file applies to an https:// --backend\n");
        return NXD_PARSE_EXIT_USAGE;
    }
    if (cfg->backend_url && cfg->state_dir) {
        fprintf(stderr, "noxrunnerd: --state-dir applies to local sandboxes; it makes no sense "
                        "with --backend\n");
        return NXD_PARSE_EXIT_USAGE;
    }
    return NXD_PARSE_RUN;
}

void nxd_options_free(nxd_config *cfg)
{
    free(cfg->host);
    cfg->host = NULL;
}
