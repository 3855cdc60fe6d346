/* SPDX-License-Identifier: MIT */
/* The seccomp program applied to every sandboxed command right before
 * execve. The policy, and why it is compiled at build time: seccomp_gen.c. */
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>

#include "init.h"
#include "seccomp_filter.h"

void nox__seccomp_filter(nox_filter *f)
{
    f->prog = nox_seccomp_prog;
    f->len = NOX_SECCOMP_LEN;
}

int nox__seccomp_apply(const nox_filter *f)
{
    /* The kernel copies the program and never writes to it. */
    struct sock_fprog prog = { .len = f->len, .filter = (struct sock_filter *)f->prog };
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0);
}
