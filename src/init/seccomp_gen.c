/* SPDX-License-Identifier: MIT */
/* nox-seccomp-gen: compiles the seccomp policy of sandboxed commands, at
 * build time, into the C source of a BPF program that nox-init carries.
 *
 * The policy: everything a normal program needs is allowed; what a
 * sandboxed program has no business doing is refused with EPERM (so
 * programs see an ordinary "not permitted", not a crash).
 *
 * Compiling it with libseccomp when each sandbox starts cost its holder a
 * few thousand small allocations and the largest share of its user time
 * (docs/performance.md); the program is the same for every sandbox, so it
 * is compiled once here. The output is for the architecture this tool is
 * built for, which is the one nox-init is built for (the build does not
 * cross-compile).
 *
 * Usage: nox-seccomp-gen OUTPUT.h */
#include <errno.h>
#include <sched.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

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
                    const struct scmp_arg_cmp *cmp)
{
    int nr = seccomp_syscall_resolve_name(name);
    /* A name this libseccomp does not know on this architecture has no
     * syscall to refuse. */
    if (nr == __NR_SCMP_ERROR)
        return 0;
    int r = seccomp_rule_add_array(ctx, action, nr, n, cmp);
    if (r < 0 && r != -EEXIST) {
        fprintf(stderr, "nox-seccomp-gen: seccomp rule for %s: %s\n", name, strerror(-r));
        return -1;
    }
    return 0;
}

static scmp_filter_ctx build_policy(void)
{
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (!ctx)
        return NULL;
    int r = 0;
    /* 32-bit x86 and x32 entry points get the same rules; without them an
     * int 0x80 call would slip past a filter written for x86_64 only. */
#if defined(__x86_64__)
    if (seccomp_arch_add(ctx, SCMP_ARCH_X86) < 0 || seccomp_arch_add(ctx, SCMP_ARCH_X32) < 0)
        r = -1;
#endif
    for (size_t i = 0; i < ARRAY_SIZE(denied) && r == 0; i++)
        r = add_rule(ctx, SCMP_ACT_ERRNO(EPERM), denied[i], 0, NULL);
    /* clone with CLONE_NEWUSER (or any new namespace) is refused; plain
     * fork and thread creation pass. */
    struct scmp_arg_cmp ns = SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_NEWUSER, CLONE_NEWUSER);
    if (r == 0)
        r = add_rule(ctx, SCMP_ACT_ERRNO(EPERM), "clone", 1, &ns);
    /* clone3 passes its flags in memory, out of a filter's reach: ENOSYS
     * makes libc fall back to clone, which the rule above checks. */
    if (r == 0)
        r = add_rule(ctx, SCMP_ACT_ERRNO(ENOSYS), "clone3", 0, NULL);
    /* Typing into another terminal's input queue (TIOCSTI, TIOCLINUX). */
    struct scmp_arg_cmp sti = SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, TIOCSTI);
    struct scmp_arg_cmp lnx = SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, TIOCLINUX);
    if (r == 0)
        r = add_rule(ctx, SCMP_ACT_ERRNO(EPERM), "ioctl", 1, &sti);
    if (r == 0)
        r = add_rule(ctx, SCMP_ACT_ERRNO(EPERM), "ioctl", 1, &lnx);
    if (r < 0) {
        seccomp_release(ctx);
        return NULL;
    }
    return ctx;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: nox-seccomp-gen OUTPUT.h\n");
        return 2;
    }
    scmp_filter_ctx ctx = build_policy();
    if (!ctx) {
        fprintf(stderr, "nox-seccomp-gen: cannot build the policy\n");
        return 1;
    }
    /* The BPF goes through a memory file: libseccomp exports to a file
     * descriptor only. */
    int mfd = memfd_create("nox-seccomp", MFD_CLOEXEC);
    int r = mfd < 0 ? -errno : seccomp_export_bpf(ctx, mfd);
    seccomp_release(ctx);
    struct stat st;
    if (r < 0 || fstat(mfd, &st) < 0 || st.st_size <= 0 || st.st_size % 8 != 0 ||
        st.st_size / 8 > 4096) {
        fprintf(stderr, "nox-seccomp-gen: cannot export the filter: %s\n",
                strerror(r < 0 ? -r : EINVAL));
        return 1;
    }
    size_t n = (size_t)st.st_size / 8;
    unsigned char *prog = malloc((size_t)st.st_size);
    if (!prog || pread(mfd, prog, (size_t)st.st_size, 0) != st.st_size) {
        fprintf(stderr, "nox-seccomp-gen: cannot read the filter back\n");
        return 1;
    }
    close(mfd);

    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", argv[1]);
    FILE *out = fopen(tmp, "w");
    if (!out) {
        fprintf(stderr, "nox-seccomp-gen: %s: %s\n", tmp, strerror(errno));
        return 1;
    }
    fprintf(out,
            "/* Generated by nox-seccomp-gen (src/init/seccomp_gen.c): do not edit. */\n"
            "#define NOX_SECCOMP_LEN %zuu\n"
            "static const struct sock_filter nox_seccomp_prog[NOX_SECCOMP_LEN] = {\n",
            n);
    for (size_t i = 0; i < n; i++) {
        /* struct sock_filter { __u16 code; __u8 jt; __u8 jf; __u32 k; },
         * in this machine's byte order. */
        const unsigned char *p = prog + i * 8;
        unsigned short code;
        unsigned int k;
        memcpy(&code, p, 2);
        memcpy(&k, p + 4, 4);
        fprintf(out, "    { 0x%04x, %u, %u, 0x%08xu },\n", code, p[2], p[3], k);
    }
    fprintf(out, "};\n");
    free(prog);
    if (fclose(out) != 0 || rename(tmp, argv[1]) < 0) {
        fprintf(stderr, "nox-seccomp-gen: %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    return 0;
}
