/* SPDX-License-Identifier: MIT */
/* nox-init: see init.h. Not meant to be run by hand: libnoxrunner starts it
 * with the file descriptors and configuration message it expects. */
#include <stdarg.h>
#include <stdio.h>

#include <noxrunner/version.h>

#include "init.h"

int nox__init_fail(char *msg, int errnum, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, NOX_MSG_MAX, fmt, ap);
    va_end(ap);
    if (errnum && n >= 0 && n < NOX_MSG_MAX)
        snprintf(msg + n, NOX_MSG_MAX - (size_t)n, ": %s", strerror(errnum));
    return -1;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: nox-init launch | probe | --version\n"
               "nox-init is the sandbox helper of libnoxrunner; the library starts it.\n"
               "To check what this host supports, run `noxrunnerd --check`.\n");
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "launch") == 0)
        return nox__launch_main();
    if (argc >= 2 && strcmp(argv[1], "probe") == 0)
        return nox__probe_main(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
        printf("nox-init %s\n", NOX_VERSION_STRING);
        return 0;
    }
    usage(argc >= 2 && strcmp(argv[1], "--help") == 0 ? stdout : stderr);
    return argc >= 2 && strcmp(argv[1], "--help") == 0 ? 0 : 2;
}
