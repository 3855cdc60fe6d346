/* SPDX-License-Identifier: MIT */
#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

static atomic_int current_level = NXD_LOG_INFO;
static pthread_mutex_t write_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = { "error", "warn", "info", "debug" };
/* How a line names its level: "warning" reads better than "warn". */
static const char *const level_labels[] = { "error", "warning", "info", "debug" };

int nxd_log_level_parse(const char *text)
{
    if (!text)
        return -1;
    for (size_t i = 0; i < NXD_ARRAY_SIZE(level_names); i++)
        if (strcmp(text, level_names[i]) == 0)
            return (int)i;
    if (strcmp(text, "warning") == 0)
        return NXD_LOG_WARN;
    return -1;
}

const char *nxd_log_level_name(nxd_log_level level)
{
    if ((size_t)level >= NXD_ARRAY_SIZE(level_names))
        return "?";
    return level_names[level];
}

void nxd_log_set_level(nxd_log_level level)
{
    atomic_store(&current_level, (int)level);
}

bool nxd_log_enabled(nxd_log_level level)
{
    return (int)level <= atomic_load(&current_level);
}

static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return; /* nowhere left to report a failing stderr */
        }
        p += w;
        n -= (size_t)w;
    }
}

/* Formats "noxrunnerd: " PREFIX MESSAGE "\n" with control characters of
 * the message escaped, and writes it in one go. */
static void emit(const char *prefix, const char *fmt, va_list ap) NXD_PRINTF(2, 0);
static void emit(const char *prefix, const char *fmt, va_list ap)
{
    char *msg = NULL;
    int len = vasprintf(&msg, fmt, ap);
    if (len < 0) {
        static const char oom[] = "noxrunnerd: error: out of memory while logging\n";
        write_all(STDERR_FILENO, oom, sizeof oom - 1);
        return;
    }
    size_t plen = strlen(prefix);
    static const char head[] = "noxrunnerd: ";
    /* Every message byte may become four ("\x1b"). */
    size_t cap = sizeof head + plen + (size_t)len * 4 + 2;
    char *line = malloc(cap);
    if (!line) {
        free(msg);
        static const char oom[] = "noxrunnerd: error: out of memory while logging\n";
        write_all(STDERR_FILENO, oom, sizeof oom - 1);
        return;
    }
    size_t n = 0;
    /* A length-counted buffer, written with write(): no terminator. */
    memcpy(line, head, sizeof head - 1); // NOLINT(bugprone-not-null-terminated-result)
    n += sizeof head - 1;
    memcpy(line + n, prefix, plen); // NOLINT(bugprone-not-null-terminated-result)
    n += plen;
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)msg[i];
        if (ch < 0x20 || ch == 0x7f) {
            line[n++] = '\\';
            line[n++] = 'x';
            line[n++] = hex[ch >> 4];
            line[n++] = hex[ch & 15];
        } else {
            line[n++] = (char)ch;
        }
    }
    line[n++] = '\n';
    pthread_mutex_lock(&write_lock);
    write_all(STDERR_FILENO, line, n);
    pthread_mutex_unlock(&write_lock);
    free(line);
    free(msg);
}

void nxd_log(nxd_log_level level, const char *fmt, ...)
{
    if (!nxd_log_enabled(level))
        return;
    char prefix[16];
    snprintf(prefix, sizeof prefix, "%s: ", level_labels[level]);
    va_list ap;
    va_start(ap, fmt);
    emit(prefix, fmt, ap);
    va_end(ap);
}

void nxd_log_plain(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    emit("", fmt, ap);
    va_end(ap);
}

void nxd_log_access(const char *fmt, ...)
{
    if (!nxd_log_enabled(NXD_LOG_INFO))
        return;
    va_list ap;
    va_start(ap, fmt);
    emit("access: ", fmt, ap);
    va_end(ap);
}
