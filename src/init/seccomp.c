/* SPDX-License-Identifier: MIT */
/* The seccomp policy of sandboxed commands: everything a normal program
 * needs is allowed; what a sandboxed program has no business doing is
 * refused with EPERM (so programs see an ordinary "not permitted", not a
 * crash). The filter is compiled once in the holder and applied in each
 * command's process right before execve. */
#include <fcntl.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "init.h"

/* Refused outright. Grouped by why. */
static const char *const denied[] = {
    /* kernel keyrings: shared kernel state, a history of bugs */
    "add_key",
    "keyctl",
    "request_key",
    /* eBPF, perf, userfaultfd, io_uring: large attack surface */
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    /* kernel modules and kexec */
    "init_module",
    "finit_module",
    "delete_module",
    "create_module",
    "query_module",
    "get_kernel_syms",
    "kexec_load",
    "kexec_file_load",
    /* namespaces: no new user namespaces (their root is a door to a lot of
     * kernel code), no joining others */
    "unshare",
    "setns",
    /* mounts: the sandbox's mount table is fixed */
    "mount",
    "umount",
    "umount2",
    "pivot_root",
    "chroot",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "move_mount",
    "open_tree",
    "mount_setattr",
    /* file handles bypass path permissions (the "shocker" escape) */
    "open_by_handle_at",
    "name_to_handle_at",
    /* the machine's clock, swap, reboot, accounting, quotas, kernel log */
    "settimeofday",
    "clock_settime",
    "clock_adjtime",
    "adjtimex",
    "stime",
    "swapon",
    "swapoff",
    "reboot",
    "acct",
    "quotactl",
    "quotactl_fd",
    "syslog",
    "vhangup",
    /* obsolete or hardware-level interfaces */
    "ioperm",
    "iopl",
    "lookup_dcookie",
    "nfsservctl",
    "uselib",
    "ustat",
    "sysfs",
    "_sysctl",
    "vm86",
    "vm86old",
    /* fanotify watches the whole mount; not needed inside */
    "fanotify_init",
};

static int add_rule(scmp_filter_ctx ctx, uint32_t action, const char *name, unsigned n,
                    const struct scmp_arg_cmp *cmp, char *msg)
{
    int nr = seccomp_syscall_resolve_name(name);
    /* A name this libseccomp does not know on this architecture has no
     * syscall to refuse. */
    if (nr == __NR_SCMP_ERROR)
        return 0;
    int r = seccomp_rule_add_array(ctx, action, nr, n, cmp);
    if (r < 0 && r != -EEXIST)
        return nox__init_fail(msg, -r, "seccomp rule for %s", name);
    return 0;
}

int nox__seccomp_build(nox_filter *f, char *msg)
{
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (!ctx)
        return nox__init_fail(msg, ENOMEM, "seccomp_init");
    int r = 0;
    /* 32-bit x86 and x32 entry points get the same rules; without them an
     * int 0x80 call would slip past a filter written for x86_64 only. */
#if defined(__x86_64__)
    seccomp_arch_add(ctx, SCMP_ARCH_X86);
    seccomp_arch_add(ctx, SCMP_ARCH_X32);
#endif
    for (size_t i = 0; i < NOX_ARRAY_SIZE(denied) && r == 0; i++)
        r = add_rule(ctx, SCMP_ACT_ERRNO(EPERM), denied[i], 0, NULL, msg);
    /* clone with CLONE_NEWUSER (or any new namespace) is refused; plain
     * fork and thread creation pass. */
    struct scmp_arg_cmp ns = SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_NEWUSER, CLONE_NEWUSER);
    if (r == 0)
        r = add_rule(ctx, SCMP_ACT_ERRNO(EPERM), "clone", 1, &ns, msg);
    /* clone3 passes its flags in memory, out of a filter's reach: ENOSYS
     * makes libc fall back to clone, which the rule above checks. */
    if (r == 0)
        r = add_rule(ctx, SCMP_ACT_ERRNO(ENOSYS), "clone3", 0, NULL, msg);
    /* Typing into another terminal's input queue (TIOCSTI, TIOCLINUX). */
    struct scmp_arg_cmp sti = SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, TIOCSTI);
    struct scmp_arg_cmp lnx = SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, TIOCLINUX);
    if (r == 0)
        r = add_rule(ctx, SCMP_ACT_ERRNO(EPERM), "ioctl", 1, &sti, msg);
    if (r == 0)
        r = add_rule(ctx, SCMP_ACT_ERRNO(EPERM), "ioctl", 1, &lnx, msg);
    if (r < 0) {
        seccomp_release(ctx);
        return -1;
    }
    /* Export the BPF once; every exec applies the same program. */
    int mfd = memfd_create("nox-seccomp", MFD_CLOEXEC);
    if (mfd < 0) {
        seccomp_release(ctx);
        return nox__init_fail(msg, errno, "memfd_create");
    }
    r = seccomp_export_bpf(ctx, mfd);
    seccomp_release(ctx);
    struct stat st;
    if (r < 0 || fstat(mfd, &st) < 0 || st.st_size <= 0 || st.st_size % 8 != 0 ||
        st.st_size / 8 > 65535) {
        close(mfd);
        return nox__init_fail(msg, r < 0 ? -r : EINVAL, "export the seccomp filter");
    }
    void *prog = malloc((size_t)st.st_size);
    if (!prog || pread(mfd, prog, (size_t)st.st_size, 0) != st.st_size) {
        free(prog);
        close(mfd);
        return nox__init_fail(msg, errno, "read the seccomp filter");
    }
    close(mfd);
    f->prog = prog;
    f->len = (unsigned short)(st.st_size / 8);
    return 0;
}
