/* SPDX-License-Identifier: MIT */
/* Everything noxrc says to people and scripts: colour and symbols (only on a
 * terminal, never with NO_COLOR), errors with a hint on what to do, the
 * --json documents, the progress line of transfers, and the exit on Ctrl-C. */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <time.h>

#include "noxrc.h"

/* ---- terminals and colour ---- */

static bool tty[2];
static bool color[2];

void noxrc_output_init(void)
{
    const char *no_color = getenv("NO_COLOR");
    const char *term = getenv("TERM");
    bool allowed = !(no_color && *no_color) && !(term && strcmp(term, "dumb") == 0);
    tty[NOXRC_STDOUT] = isatty(STDOUT_FILENO) == 1;
    tty[NOXRC_STDERR] = isatty(STDERR_FILENO) == 1;
    color[NOXRC_STDOUT] = allowed && tty[NOXRC_STDOUT];
    color[NOXRC_STDERR] = allowed && tty[NOXRC_STDERR];
}

bool noxrc_is_tty(noxrc_stream s)
{
    return tty[s];
}

bool noxrc_use_color(noxrc_stream s)
{
    return color[s];
}

#define COLOR_FN(fn, seq)                                                                          \
    const char *fn(noxrc_stream s)                                                                 \
    {                                                                                              \
        return color[s] ? (seq) : "";                                                              \
    }
COLOR_FN(noxrc_c_bold, "\033[1m")
COLOR_FN(noxrc_c_dim, "\033[2m")
COLOR_FN(noxrc_c_red, "\033[31m")
COLOR_FN(noxrc_c_green, "\033[32m")
COLOR_FN(noxrc_c_yellow, "\033[33m")
COLOR_FN(noxrc_c_reset, "\033[0m")

/* One message line: on a terminal a coloured symbol, elsewhere a plain
 * word prefix (or none) that scripts and logs can grep. */
NOXRC_PRINTF(5, 0)
static void say(noxrc_stream s, const char *seq, const char *symbol, const char *plain,
                const char *fmt, va_list ap)
{
    FILE *f = s == NOXRC_STDOUT ? stdout : stderr;
    if (s == NOXRC_STDERR)
        fflush(stdout);
    if (tty[s])
        fprintf(f, "%s%s%s ", color[s] ? seq : "", symbol, noxrc_c_reset(s));
    else if (plain)
        fputs(plain, f);
    vfprintf(f, fmt, ap);
    fputc('\n', f);
    fflush(f);
}

void noxrc_success(const noxrc_ctx *ctx, const char *fmt, ...)
{
    if (ctx->json)
        return;
    va_list ap;
    va_start(ap, fmt);
    say(NOXRC_STDOUT, "\033[32m", "\u2713", NULL, fmt, ap);
    va_end(ap);
}

void noxrc_info(const noxrc_ctx *ctx, const char *fmt, ...)
{
    if (ctx->json)
        return;
    va_list ap;
    va_start(ap, fmt);
    say(NOXRC_STDERR, "\033[34m", "\u2139", NULL, fmt, ap);
    va_end(ap);
}

void noxrc_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    say(NOXRC_STDERR, "\033[33m", "\u26a0", "noxrc: warning: ", fmt, ap);
    va_end(ap);
}

void noxrc_error_line(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    say(NOXRC_STDERR, "\033[31m", "\u2717", "noxrc: error: ", fmt, ap);
    va_end(ap);
}

void noxrc_hint(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (tty[NOXRC_STDERR])
        fprintf(stderr, "  %s", noxrc_c_dim(NOXRC_STDERR));
    else
        fputs("noxrc: hint: ", stderr);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "%s\n", noxrc_c_reset(NOXRC_STDERR));
    fflush(stderr);
    va_end(ap);
}

void noxrc_verbose(const noxrc_ctx *ctx, const char *fmt, ...)
{
    if (!ctx->verbose)
        return;
    va_list ap;
    va_start(ap, fmt);
    fflush(stdout);
    fprintf(stderr, "%snoxrc: ", noxrc_c_dim(NOXRC_STDERR));
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "%s\n", noxrc_c_reset(NOXRC_STDERR));
    fflush(stderr);
    va_end(ap);
}

/* ---- errors ---- */

const char *noxrc_code_name(int code)
{
    /* The library's name, "NOX_E_NOT_FOUND", as --json documents it:
     * "not_found" ("ok" for NOX_OK, "unknown" for codes it does not know). */
    static _Thread_local char buf[40];
    const char *n = nox_code_name(code);
    if (strcmp(n, "NOX_OK") == 0)
        return "ok";
    if (strncmp(n, "NOX_E_", 6) != 0)
        return "unknown";
    size_t i = 0;
    for (const char *p = n + 6; *p && i < sizeof buf - 1; p++)
        buf[i++] = (char)((*p >= 'A' && *p <= 'Z') ? *p - 'A' + 'a' : *p);
    buf[i] = '\0';
    return buf;
}

/* What to do about a failure, in one sentence; NULL when nothing useful
 * can be said beyond the message. */
static const char *hint_for(const noxrc_ctx *ctx, int code, const char *message)
{
    switch (code) {
    case NOX_E_CONNECT:
        /* The library's messages for TLS failures say which it was. */
        if (strstr(message, "TLS certificate was not accepted"))
            return "Give the certificate of the CA that signed the server's with --ca-file FILE "
                   "(or NOXRUNNER_CA_FILE), and use the host name the certificate is for.";
        if (strstr(message, "the CA file `"))
            return "--ca-file (or NOXRUNNER_CA_FILE) must name a PEM file of CA certificates.";
        if (strstr(message, "TLS handshake failed"))
            return "Check that the server speaks https at that address; an http server needs "
                   "an http:// URL.";
        return "Start a server with `noxrunnerd`, point --base-url (or NOXRUNNER_BASE_URL) at a "
               "running one, or use --local to run sandboxes on this machine without a server.";
    case NOX_E_ISOLATION:
        return "Run `noxrc check` (or `noxrunnerd --check`) to see what this host lacks. "
               "--unisolated runs commands directly on this host: for trusted code only.";
    case NOX_E_NOT_FOUND:
        if (strstr(message, "sandbox `") &&
            (strstr(message, "does not exist") || strstr(message, "expired")))
            return "Create it with `noxrc create ID`; `noxrc list` shows the sandboxes there are.";
        return NULL;
    case NOX_E_TIMEOUT:
        return "Raise the limit: --timeout SECONDS for requests, --wait-timeout for create "
               "--wait, --timeout-seconds for commands.";
    case NOX_E_NOT_READY:
        return "The sandbox is still starting; try again, or create it with --wait.";
    case NOX_E_UNSUPPORTED:
        if (strstr(message, "bring-up placeholder"))
            return "This part of NoxRunner is not built into this copy yet.";
        if (ctx->cmd &&
            (strcmp(ctx->cmd->name, "list") == 0 || strcmp(ctx->cmd->name, "info") == 0))
            return "Listing and describing sandboxes needs --local or a noxrunnerd server.";
        return NULL;
    case NOX_E_ARCHIVE:
        return "The archive was refused to protect the destination; nothing was written outside "
               "it.";
    case NOX_E_NETWORK:
        return "The connection broke during the request; check that the server is still running.";
    default:
        return NULL;
    }
}

void noxrc_print_hint(const noxrc_ctx *ctx, int code, const char *message)
{
    const char *h = hint_for(ctx, code, message ? message : "");
    if (h)
        noxrc_hint("%s", h);
}

static void json_error(const char *message, const char *code, int status, const char *hint)
{
    noxrc_json j = { 0 };
    noxrc_json_begin_object(&j);
    noxrc_json_key(&j, "error");
    noxrc_json_string(&j, message);
    noxrc_json_key(&j, "code");
    noxrc_json_string(&j, code);
    noxrc_json_key(&j, "status");
    noxrc_json_int(&j, status);
    if (hint) {
        noxrc_json_key(&j, "hint");
        noxrc_json_string(&j, hint);
    }
    noxrc_json_end_object(&j);
    noxrc_json_emit(&j);
}

int noxrc_report(const noxrc_ctx *ctx, int code, int status, const char *message, const char *body)
{
    if (!message || !*message)
        message = nox_strerror(code);
    /* A refused connection must name where we tried to connect. */
    _cleanup_free_ char *full = NULL;
    size_t url_len = ctx->base_url ? strlen(ctx->base_url) : 0;
    while (url_len > 0 && ctx->base_url[url_len - 1] == '/')
        url_len--;
    if (code == NOX_E_CONNECT && !ctx->local && url_len &&
        !memmem(message, strlen(message), ctx->base_url, url_len)) {
        size_t n = strlen(ctx->base_url) + strlen(message) + 32;
        full = malloc(n);
        if (full) {
            snprintf(full, n, "cannot connect to %s: %s", ctx->base_url, message);
            message = full;
        }
    }
    noxrc_error_line("%s", message);
    const char *hint = hint_for(ctx, code, message);
    if (hint)
        noxrc_hint("%s", hint);
    if (ctx->verbose) {
        noxrc_verbose(ctx, "error code %s (%d), HTTP status %d", noxrc_code_name(code), code,
                      status);
        if (body && *body)
            noxrc_verbose(ctx, "response body: %s", body);
    }
    if (ctx->json)
        json_error(message, noxrc_code_name(code), status, hint);
    return NOXRC_EXIT_FAILURE;
}

int noxrc_fail(const noxrc_ctx *ctx, const nox_error *err)
{
    if (!err)
        return noxrc_report(ctx, NOX_E_NOMEM, 0, "out of memory", NULL);
    return noxrc_report(ctx, nox_error_code(err), nox_error_http_status(err),
                        nox_error_message(err), nox_error_body(err, NULL));
}

int noxrc_failf(const noxrc_ctx *ctx, int code, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return noxrc_report(ctx, code, 0, msg, NULL);
}

NOXRC_PRINTF(3, 0)
static int usagev(const noxrc_ctx *ctx, const char *hint, const char *fmt, va_list ap)
{
    char msg[2048];
    vsnprintf(msg, sizeof msg, fmt, ap);
    const char *name = ctx->cmd ? ctx->cmd->name : NULL;
    fflush(stdout);
    if (tty[NOXRC_STDERR])
        fprintf(stderr, "%s\u2717%s ", noxrc_c_red(NOXRC_STDERR), noxrc_c_reset(NOXRC_STDERR));
    fprintf(stderr, "noxrc%s%s: %s\n", name ? " " : "", name ? name : "", msg);
    if (hint)
        noxrc_hint("%s", hint);
    fprintf(stderr, "Try `noxrc%s%s --help`.\n", name ? " " : "", name ? name : "");
    fflush(stderr);
    if (ctx->json)
        json_error(msg, "usage", 0, hint);
    return NOXRC_EXIT_USAGE;
}

int noxrc_usage(const noxrc_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = usagev(ctx, NULL, fmt, ap);
    va_end(ap);
    return r;
}

int noxrc_usage_hint(const noxrc_ctx *ctx, const char *hint, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = usagev(ctx, hint, fmt, ap);
    va_end(ap);
    return r;
}

/* ---- raw output and sizes ---- */

bool noxrc_write_raw(FILE *f, const void *data, size_t len)
{
    if (len && fwrite(data, 1, len, f) != len)
        return false;
    return fflush(f) == 0;
}

const char *noxrc_format_bytes(uint64_t bytes, char *buf, size_t size)
{
    static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB" };
    if (bytes < 1024) {
        snprintf(buf, size, "%llu B", (unsigned long long)bytes);
        return buf;
    }
    double v = (double)bytes / 1024.0;
    size_t u = 0;
    while (v >= 1024.0 && u + 1 < sizeof units / sizeof units[0]) {
        v /= 1024.0;
        u++;
    }
    snprintf(buf, size, "%.1f %s", v, units[u]);
    return buf;
}

int64_t noxrc_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void noxrc_describe_expiry(int64_t expires_unix, char *buf, size_t size)
{
    int64_t left = expires_unix - (int64_t)time(NULL);
    if (expires_unix <= 0)
        snprintf(buf, size, "unknown");
    else if (left <= 0)
        snprintf(buf, size, "expired");
    else if (left < 120)
        snprintf(buf, size, "in %llds", (long long)left);
    else if (left < 2 * 3600)
        snprintf(buf, size, "in %lldm", (long long)(left / 60));
    else if (left < 2 * 86400)
        snprintf(buf, size, "in %lldh%02lldm", (long long)(left / 3600),
                 (long long)(left % 3600 / 60));
    else
        snprintf(buf, size, "in %lldd", (long long)(left / 86400));
}

/* ---- progress ---- */

/* Small transfers finish before a progress line would help. */
#define PROGRESS_THRESHOLD (4ull << 20)
#define PROGRESS_INTERVAL  (100 * 1000000LL)

static int progress_cb(void *userdata, uint64_t done, uint64_t total)
{
    noxrc_progress *p = userdata;
    p->done = done;
    if (done < PROGRESS_THRESHOLD && !p->shown)
        return 0;
    int64_t now = noxrc_now_ns();
    if (p->shown && now - p->last_ns < PROGRESS_INTERVAL && (total == 0 || done < total))
        return 0;
    p->last_ns = now;
    p->shown = true;
    double secs = (double)(now - p->start_ns) / 1e9;
    char a[32], b[32], rate[32];
    noxrc_format_bytes(done, a, sizeof a);
    noxrc_format_bytes(secs > 0.05 ? (uint64_t)((double)done / secs) : 0, rate, sizeof rate);
    if (total > 0)
        fprintf(stderr, "\r\033[K%s %s of %s (%d%%), %s/s", p->verb, a,
                noxrc_format_bytes(total, b, sizeof b),
                (int)(done >= total ? 100 : done * 100 / total), rate);
    else
        fprintf(stderr, "\r\033[K%s %s, %s/s", p->verb, a, rate);
    fflush(stderr);
    return 0;
}

void noxrc_progress_start(const noxrc_ctx *ctx, nox_client *client, noxrc_progress *p,
                          const char *verb)
{
    memset(p, 0, sizeof *p);
    p->verb = verb;
    p->start_ns = noxrc_now_ns();
    if (ctx->json || !tty[NOXRC_STDERR])
        return;
    nox_client_set_progress(client, progress_cb, p);
}

void noxrc_progress_end(nox_client *client, noxrc_progress *p)
{
    nox_client_set_progress(client, NULL, NULL);
    if (p->shown) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
        p->shown = false;
    }
}

/* ---- JSON ---- */

static void jb_reserve(noxrc_json *j, size_t more)
{
    if (j->failed)
        return;
    if (j->len + more + 1 <= j->cap)
        return;
    size_t cap = j->cap ? j->cap : 256;
    while (cap < j->len + more + 1) {
        if (cap > SIZE_MAX / 2) {
            j->failed = true;
            return;
        }
        cap *= 2;
    }
    char *p = realloc(j->data, cap);
    if (!p) {
        j->failed = true;
        return;
    }
    j->data = p;
    j->cap = cap;
}

static void jb_put(noxrc_json *j, const char *s, size_t n)
{
    jb_reserve(j, n);
    if (j->failed)
        return;
    memcpy(j->data + j->len, s, n);
    j->len += n;
    j->data[j->len] = '\0';
}

static void jb_puts(noxrc_json *j, const char *s)
{
    jb_put(j, s, strlen(s));
}

/* Before a value: a comma when the container already has one. After a
 * key, the value follows the colon without one. */
static void jb_value_start(noxrc_json *j)
{
    if (j->after_key) {
        j->after_key = false;
        return;
    }
    if (j->depth > 0 && j->need_comma[j->depth])
        jb_puts(j, ",");
    if (j->depth > 0)
        j->need_comma[j->depth] = true;
}

static void jb_open(noxrc_json *j, const char *bracket)
{
    jb_value_start(j);
    jb_puts(j, bracket);
    if (j->depth + 1 >= (int)(sizeof j->need_comma / sizeof j->need_comma[0])) {
        j->failed = true;
        return;
    }
    j->depth++;
    j->need_comma[j->depth] = false;
}

void noxrc_json_begin_object(noxrc_json *j)
{
    jb_open(j, "{");
}

void noxrc_json_end_object(noxrc_json *j)
{
    jb_puts(j, "}");
    if (j->depth > 0)
        j->depth--;
}

void noxrc_json_begin_array(noxrc_json *j)
{
    jb_open(j, "[");
}

void noxrc_json_end_array(noxrc_json *j)
{
    jb_puts(j, "]");
    if (j->depth > 0)
        j->depth--;
}

/* Length of the valid UTF-8 sequence at @p s (at most @p n bytes), 0 when
 * the bytes there are not one: overlong forms, surrogates and values past
 * U+10FFFF are refused, as JSON text must be valid UTF-8. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t len;
    uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

void noxrc_json_string_len(noxrc_json *j, const char *str, size_t len)
{
    jb_value_start(j);
    jb_puts(j, "\"");
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < len && !j->failed) {
        unsigned char c = s[i];
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            jb_put(j, esc, 2);
            i++;
        } else if (c < 0x20) {
            const char *short_form = c == '\n'   ? "\\n"
                                     : c == '\t' ? "\\t"
                                     : c == '\r' ? "\\r"
                                     : c == '\b' ? "\\b"
                                     : c == '\f' ? "\\f"
                                                 : NULL;
            if (short_form) {
                jb_puts(j, short_form);
            } else {
                snprintf(esc, sizeof esc, "\\u%04x", c);
                jb_puts(j, esc);
            }
            i++;
        } else {
            size_t n = utf8_seq(s + i, len - i);
            if (n == 0) {
                jb_puts(j, "\\ufffd");
                i++;
            } else {
                jb_put(j, (const char *)s + i, n);
                i += n;
            }
        }
    }
    jb_puts(j, "\"");
}

void noxrc_json_string(noxrc_json *j, const char *s)
{
    if (!s) {
        noxrc_json_null(j);
        return;
    }
    noxrc_json_string_len(j, s, strlen(s));
}

void noxrc_json_key(noxrc_json *j, const char *key)
{
    noxrc_json_string(j, key);
    jb_puts(j, ":");
    j->after_key = true;
}

void noxrc_json_int(noxrc_json *j, int64_t v)
{
    char buf[32];
    jb_value_start(j);
    snprintf(buf, sizeof buf, "%lld", (long long)v);
    jb_puts(j, buf);
}

void noxrc_json_uint(noxrc_json *j, uint64_t v)
{
    char buf[32];
    jb_value_start(j);
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)v);
    jb_puts(j, buf);
}

void noxrc_json_bool(noxrc_json *j, bool v)
{
    jb_value_start(j);
    jb_puts(j, v ? "true" : "false");
}

void noxrc_json_null(noxrc_json *j)
{
    jb_value_start(j);
    jb_puts(j, "null");
}

void noxrc_json_raw(noxrc_json *j, const char *text, size_t len)
{
    jb_value_start(j);
    jb_put(j, text, len);
}

void noxrc_json_free(noxrc_json *j)
{
    free(j->data);
    memset(j, 0, sizeof *j);
}

int noxrc_json_emit(noxrc_json *j)
{
    int r = NOXRC_EXIT_OK;
    if (j->failed || !j->data) {
        noxrc_error_line("out of memory while writing the JSON answer");
        r = NOXRC_EXIT_FAILURE;
    } else if (!noxrc_write_raw(stdout, j->data, j->len) || !noxrc_write_raw(stdout, "\n", 1)) {
        noxrc_error_line("cannot write to standard output: %s", strerror(errno));
        r = NOXRC_EXIT_FAILURE;
    }
    noxrc_json_free(j);
    return r;
}

int noxrc_json_emit_text(char *text, size_t len)
{
    int r = NOXRC_EXIT_OK;
    if (!noxrc_write_raw(stdout, text, len) || !noxrc_write_raw(stdout, "\n", 1)) {
        noxrc_error_line("cannot write to standard output: %s", strerror(errno));
        r = NOXRC_EXIT_FAILURE;
    }
    nox_free(text);
    return r;
}

/* ---- Ctrl-C ---- */

static const char *volatile partial_file;

static void on_sigint(int sig)
{
    const char *p = partial_file;
    if (p)
        unlink(p);
    if (tty[NOXRC_STDERR]) {
        static const char msg[] = "\nnoxrc: interrupted\n";
        ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
        (void)w;
    }
    _exit(128 + sig);
}

void noxrc_exit_on_sigint(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
}

void noxrc_set_partial_file(const char *path)
{
    partial_file = path;
}
