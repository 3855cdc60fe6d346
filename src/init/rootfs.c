/* SPDX-License-Identifier: MIT */
/* The sandbox's root file system: a small read-only tmpfs holding
 * read-only binds of the host's programs, a curated /etc, its own /proc, a
 * minimal /dev, a private /tmp and the workspace. Runs in the holder, in
 * its new user and mount namespaces, with the capabilities the user
 * namespace grants over them (nothing on the host). */
#include <fcntl.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>

#include "init.h"

/* Where the new root is assembled before pivot_root. Mounting over the
 * host's /tmp is harmless: this mount namespace is private and is left
 * behind by the pivot. */
#define NEWROOT "/tmp"

/* Host paths with the programs. Merged-/usr systems have these as links
 * into /usr, which are recreated as links. */
static const char *const program_dirs[] = {
    "usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32"
};

/* What of the host's /etc a command may see: what programs need to run
 * (dynamic linker cache, alternatives, locale and time zone, TLS roots,
 * interpreters' configuration). Nothing with secrets: no shadow, no ssh, no
 * ssl/private, no sudoers, no machine-id. passwd, group, hosts and hostname
 * are generated for the sandbox instead. */
static const char *const etc_allow[] = {
    "alternatives",
    "bash.bashrc",
    "ca-certificates",
    "ca-certificates.conf",
    "debian_version",
    "environment",
    "fonts",
    "gai.conf",
    "host.conf",
    "inputrc",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "locale.alias",
    "locale.conf",
    "localtime",
    "lsb-release",
    "magic",
    "magic.mime",
    "mailcap",
    "manpath.config",
    "mime.types",
    "networks",
    "nsswitch.conf",
    "os-release",
    "perl",
    "profile",
    "profile.d",
    "protocols",
    "python3",
    "python3.11",
    "python3.12",
    "rpc",
    "services",
    "shells",
    "ssl/certs",
    "ssl/openssl.cnf",
    "terminfo",
    "timezone",
    "vim",
    "wgetrc",
    "xdg",
};

static const char *const dev_nodes[] = { "null", "zero", "full", "random", "urandom", "tty" };

/* Mount flags the kernel locks on a mount that a less privileged namespace
 * received: a remount must keep them or it fails with EPERM. */
static unsigned long locked_flags(const char *path)
{
    struct statvfs sv;
    if (statvfs(path, &sv) < 0)
        return 0;
    unsigned long f = 0;
    if (sv.f_flag & ST_NOSUID)
        f |= MS_NOSUID;
    if (sv.f_flag & ST_NODEV)
        f |= MS_NODEV;
    if (sv.f_flag & ST_NOEXEC)
        f |= MS_NOEXEC;
    if (sv.f_flag & ST_NOATIME)
        f |= MS_NOATIME;
    if (sv.f_flag & ST_NODIRATIME)
        f |= MS_NODIRATIME;
    if (sv.f_flag & ST_RELATIME)
        f |= MS_RELATIME;
    if (sv.f_flag & ST_RDONLY)
        f |= MS_RDONLY;
    return f;
}

/* Adds @p extra (MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC) to the mount
 * at @p dst and every mount below it. mount_setattr (Linux 5.12) does it
 * in one call and keeps the flags the kernel locked; before it, a remount
 * repeats the locked flags and reaches the top mount only. */
static int restrict_mount(const char *dst, unsigned long extra, char *msg)
{
#ifdef SYS_mount_setattr
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif
    struct {
        uint64_t attr_set, attr_clr, propagation, userns_fd;
    } attr = { 0 };
    /* MOUNT_ATTR_RDONLY, _NOSUID, _NODEV, _NOEXEC: <linux/mount.h>, which
     * does not mix with <sys/mount.h> on every libc. */
    attr.attr_set = (extra & MS_RDONLY ? 0x1u : 0) | (extra & MS_NOSUID ? 0x2u : 0) |
                    (extra & MS_NODEV ? 0x4u : 0) | (extra & MS_NOEXEC ? 0x8u : 0);
    if (syscall(SYS_mount_setattr, AT_FDCWD, dst, AT_RECURSIVE, &attr, sizeof attr) == 0)
        return 0;
    if (errno != ENOSYS)
        return nox__init_fail(msg, errno, "restrict the mount `%s`", dst);
#endif
    unsigned long flags = MS_BIND | MS_REMOUNT | extra | locked_flags(dst);
    if (mount(NULL, dst, NULL, flags, NULL) < 0)
        return nox__init_fail(msg, errno, "remount `%s`", dst);
    return 0;
}

static int bind_mount(const char *src, const char *dst, unsigned long extra, char *msg)
{
    if (mount(src, dst, NULL, MS_BIND | MS_REC, NULL) < 0)
        return nox__init_fail(msg, errno, "bind `%s` on `%s`", src, dst);
    return restrict_mount(dst, extra, msg);
}

static int make_dir(const char *path, mode_t mode, char *msg)
{
    if (mkdir(path, mode) < 0 && errno != EEXIST)
        return nox__init_fail(msg, errno, "mkdir `%s`", path);
    return 0;
}

static int make_file(const char *path, const char *content, mode_t mode, char *msg)
{
    _cleanup_close_ int fd =
        open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0)
        return nox__init_fail(msg, errno, "create `%s`", path);
    if (content && nox__write_all(fd, content, strlen(content)) < 0)
        return nox__init_fail(msg, errno, "write `%s`", path);
    return 0;
}

/* Recreates host path @p name (relative to "/") inside the new root: links
 * as links, directories and files as read-only binds. Missing is fine. */
static int mirror(const char *name, char *msg)
{
    char host[512], dst[512], target[512];
    snprintf(host, sizeof host, "/%s", name);
    snprintf(dst, sizeof dst, NEWROOT "/%s", name);
    struct stat st;
    if (lstat(host, &st) < 0)
        return 0;
    /* Parents inside the new root (for "ssl/certs"). */
    for (char *s = dst + sizeof NEWROOT; *s; s++) {
        if (*s == '/') {
            *s = '\0';
            if (make_dir(dst, 0755, msg) < 0)
                return -1;
            *s = '/';
        }
    }
    if (S_ISLNK(st.st_mode)) {
        ssize_t n = readlink(host, target, sizeof target - 1);
        if (n < 0)
            return nox__init_fail(msg, errno, "readlink `%s`", host);
        target[n] = '\0';
        if (symlink(target, dst) < 0 && errno != EEXIST)
            return nox__init_fail(msg, errno, "symlink `%s`", dst);
        return 0;
    }
    if (S_ISDIR(st.st_mode)) {
        if (make_dir(dst, 0755, msg) < 0)
            return -1;
    } else if (S_ISREG(st.st_mode)) {
        if (make_file(dst, NULL, 0644, msg) < 0)
            return -1;
    } else {
        return 0;
    }
    return bind_mount(host, dst, MS_RDONLY | MS_NOSUID | MS_NODEV, msg);
}

static int setup_etc(char *msg)
{
    if (make_dir(NEWROOT "/etc", 0755, msg) < 0)
        return -1;
    for (size_t i = 0; i < NOX_ARRAY_SIZE(etc_allow); i++) {
        char name[256];
        snprintf(name, sizeof name, "etc/%s", etc_allow[i]);
        if (mirror(name, msg) < 0)
            return -1;
    }
    char buf[1024];
    snprintf(buf, sizeof buf,
             "root:x:0:0:root:/root:/usr/sbin/nologin\n"
             "sandbox:x:%d:%d:sandbox:/workspace:/bin/sh\n"
             "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
             NOX_SANDBOX_UID, NOX_SANDBOX_GID);
    if (make_file(NEWROOT "/etc/passwd", buf, 0644, msg) < 0)
        return -1;
    snprintf(buf, sizeof buf, "root:x:0:\nsandbox:x:%d:\nnogroup:x:65534:\n", NOX_SANDBOX_GID);
    return make_file(NEWROOT "/etc/group", buf, 0644, msg);
}

static int setup_dev(char *msg)
{
    if (make_dir(NEWROOT "/dev", 0755, msg) < 0)
        return -1;
    if (mount("tmpfs", NEWROOT "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=64k") < 0)
        return nox__init_fail(msg, errno, "mount tmpfs on /dev");
    /* mknod is not allowed in a user namespace; the host's nodes are bound
     * instead, and the device cgroup of the host still applies. */
    for (size_t i = 0; i < NOX_ARRAY_SIZE(dev_nodes); i++) {
        char src[64], dst[64];
        snprintf(src, sizeof src, "/dev/%s", dev_nodes[i]);
        snprintf(dst, sizeof dst, NEWROOT "/dev/%s", dev_nodes[i]);
        if (make_file(dst, NULL, 0666, msg) < 0)
            return -1;
        if (mount(src, dst, NULL, MS_BIND, NULL) < 0)
            return nox__init_fail(msg, errno, "bind `%s`", src);
    }
    if (make_dir(NEWROOT "/dev/pts", 0755, msg) < 0)
        return -1;
    /* A new devpts instance: the sandbox's ptys are its own. */
    if (mount("devpts", NEWROOT "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
              "newinstance,ptmxmode=0666,mode=0620") < 0)
        return nox__init_fail(msg, errno, "mount devpts on /dev/pts");
    if (make_dir(NEWROOT "/dev/shm", 01777, msg) < 0)
        return -1;
    static const char *const links[][2] = {
        { "pts/ptmx", "ptmx" },          { "/proc/self/fd", "fd" },
        { "/proc/self/fd/0", "stdin" },  { "/proc/self/fd/1", "stdout" },
        { "/proc/self/fd/2", "stderr" },
    };
    for (size_t i = 0; i < NOX_ARRAY_SIZE(links); i++) {
        char dst[64];
        snprintf(dst, sizeof dst, NEWROOT "/dev/%s", links[i][1]);
        if (symlink(links[i][0], dst) < 0)
            return nox__init_fail(msg, errno, "symlink `%s`", dst);
    }
    /* The nodes, pts and shm are mounts of their own and stay writable;
     * /dev itself takes no new files. */
    if (mount(NULL, NEWROOT "/dev", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NOEXEC,
              NULL) < 0)
        return nox__init_fail(msg, errno, "make /dev read-only");
    return 0;
}

int nox__rootfs_setup(bool bind_workspace, char *msg)
{
    /* Nothing done here may propagate back to the host. */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        return nox__init_fail(msg, errno, "make mounts private");
    if (mount("tmpfs", NEWROOT, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=4m") < 0)
        return nox__init_fail(msg, errno, "mount the root tmpfs");
    for (size_t i = 0; i < NOX_ARRAY_SIZE(program_dirs); i++)
        if (mirror(program_dirs[i], msg) < 0)
            return -1;
    if (setup_etc(msg) < 0)
        return -1;
    if (make_dir(NEWROOT "/proc", 0555, msg) < 0)
        return -1;
    if (mount("proc", NEWROOT "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
        return nox__init_fail(msg, errno,
                              "mount /proc (a container that masks parts of the host's /proc "
                              "prevents this)");
    if (setup_dev(msg) < 0)
        return -1;
    if (make_dir(NEWROOT "/tmp", 01777, msg) < 0)
        return -1;
    if (make_dir(NEWROOT "/workspace", 0755, msg) < 0)
        return -1;
    /* The workspace was opened (O_PATH) in this mount namespace before the
     * holder gave up its host identity; binding through the fd needs no
     * path access to the root-only state directory. */
    char wsrc[64];
    snprintf(wsrc, sizeof wsrc, "/proc/self/fd/%d", NOX_FD_WORKSPACE);
    if (bind_workspace && bind_mount(wsrc, NEWROOT "/workspace", MS_NOSUID | MS_NODEV, msg) < 0)
        return -1;
    if (make_dir(NEWROOT "/var", 0755, msg) < 0 || make_dir(NEWROOT "/run", 0755, msg) < 0 ||
        make_dir(NEWROOT "/home", 0755, msg) < 0 || make_dir(NEWROOT "/root", 0700, msg) < 0)
        return -1;
    if (symlink("../tmp", NEWROOT "/var/tmp") < 0)
        return nox__init_fail(msg, errno, "symlink /var/tmp");

    if (chdir(NEWROOT) < 0)
        return nox__init_fail(msg, errno, "chdir to the new root");
    /* pivot_root(".", ".") stacks the old root under the new one; detaching
     * it leaves no path back to the host's file system. */
    if (syscall(SYS_pivot_root, ".", ".") < 0)
        return nox__init_fail(msg, errno, "pivot_root");
    if (umount2(".", MNT_DETACH) < 0)
        return nox__init_fail(msg, errno, "detach the old root");
    if (chdir("/") < 0)
        return nox__init_fail(msg, errno, "chdir /");
    return 0;
}

static int mount_tmpfs(const char *dst, uint64_t bytes, char *msg)
{
    char opts[64];
    snprintf(opts, sizeof opts, "mode=1777,size=%llu",
             (unsigned long long)(bytes ? bytes : 64ull << 20));
    if (mount("tmpfs", dst, "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0)
        return nox__init_fail(msg, errno, "mount tmpfs on %s", dst);
    return 0;
}

int nox__rootfs_finish(const nox_init_cfg *cfg, int workspace_tree, char *msg)
{
    if (workspace_tree >= 0) {
#ifdef SYS_move_mount
        /* MOVE_MOUNT_F_EMPTY_PATH: <linux/mount.h>, as above. */
        if (syscall(SYS_move_mount, workspace_tree, "", AT_FDCWD, "/workspace", 0x4u) < 0)
            return nox__init_fail(msg, errno, "mount the workspace");
        /* A clone of a shared mount (the host's, under systemd) joins its
         * peer group: made private, as the ordinary path's bind is, no
         * mount event crosses between the host and the sandbox. */
        if (mount(NULL, "/workspace", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
            return nox__init_fail(msg, errno, "make the workspace mount private");
        if (restrict_mount("/workspace", MS_NOSUID | MS_NODEV, msg) < 0)
            return -1;
#else
        return nox__init_fail(msg, ENOSYS, "mount the workspace");
#endif
    }
    if (mount_tmpfs("/tmp", cfg->tmp_bytes, msg) < 0 ||
        mount_tmpfs("/dev/shm", cfg->shm_bytes, msg) < 0)
        return -1;
    const char *host = cfg->hostname ? cfg->hostname : "sandbox";
    char buf[256];
    snprintf(buf, sizeof buf, "%s\n", host);
    if (make_file("/etc/hostname", buf, 0644, msg) < 0)
        return -1;
    snprintf(buf, sizeof buf,
             "127.0.0.1\tlocalhost %s\n::1\tlocalhost ip6-localhost ip6-loopback\n", host);
    if (make_file("/etc/hosts", buf, 0644, msg) < 0)
        return -1;
    if (mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) < 0)
        return nox__init_fail(msg, errno, "make the root read-only");
    if (sethostname(host, strlen(host)) < 0)
        return nox__init_fail(msg, errno, "sethostname");
    return 0;
}

int nox__loopback_up(char *msg)
{
    _cleanup_close_ int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return nox__init_fail(msg, errno, "socket for the loopback interface");
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "lo");
    if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
        return nox__init_fail(msg, errno, "read the loopback interface's flags");
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
        return nox__init_fail(msg, errno, "bring the loopback interface up");
    return 0;
}
