/* SPDX-License-Identifier: MIT */
/* Isolation: each test is an escape or a peek that must fail. Hostile
 * commands aim only at canaries this test made in its own directory. */
#include "testutil.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static char *state;
static char *canary_dir;
static char *canary;
static nox_client *client;

static int setup(void **s)
{
    (void)s;
    client = nox_test_local_client(&state);
    canary_dir = nox_test_mkdtemp("canary");
    chmod(canary_dir, 0755);
    canary = nox_test_strf("%s/secret.txt", canary_dir);
    nox_test_write_file(canary, "TOP-SECRET-CANARY", 17);
    chmod(canary, 0644);
    for (const char *const *id = (const char *const[]){ "iso", "iso-other", NULL }; *id; id++)
        if (nox_create(client, *id, NULL, NULL, NULL) != 0)
            fail_msg("create %s", *id);
    return 0;
}

static int teardown(void **s)
{
    (void)s;
    if (!client)
        return 0;
    nox_delete(client, "iso", NULL);
    nox_delete(client, "iso-other", NULL);
    nox_client_free(client);
    /* The canary is exactly as the test left it. */
    char *got = nox_test_read_file(canary, NULL);
    if (!got || strcmp(got, "TOP-SECRET-CANARY") != 0)
        fail_msg("canary changed");
    free(got);
    nox_test_rmtree(canary_dir);
    nox_test_rmtree(state);
    free(canary_dir);
    free(canary);
    free(state);
    return 0;
}

#define NEED_CLIENT() NOX_NEED_CLIENT(client)

static nox_exec_result *sh(const char *script)
{
    return nox_test_sh(client, "iso", script);
}

static void test_identity_and_view(void **s)
{
    (void)s;
    NEED_CLIENT();
    nox_exec_result *r = sh("pwd; id -u; id -g; hostname; echo $HOME");
    assert_string_equal(r->stdout_data, "/workspace\n1000\n1000\nnox-iso\n/workspace\n");
    nox_exec_result_free(r);
    /* The host's programs are there. */
    r = sh("python3 -c 'print(6*7)' && bash -c 'echo ok'");
    assert_string_equal(r->stdout_data, "42\nok\n");
    nox_exec_result_free(r);
    /* No capabilities, no_new_privs, a seccomp filter. */
    r = sh("grep -E '^(CapEff|CapPrm|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status");
    assert_non_null(strstr(r->stdout_data, "CapEff:\t0000000000000000"));
    assert_non_null(strstr(r->stdout_data, "CapPrm:\t0000000000000000"));
    assert_non_null(strstr(r->stdout_data, "CapBnd:\t0000000000000000"));
    assert_non_null(strstr(r->stdout_data, "NoNewPrivs:\t1"));
    assert_non_null(strstr(r->stdout_data, "Seccomp:\t2"));
    nox_exec_result_free(r);
}

static void test_host_files_invisible(void **s)
{
    (void)s;
    NEED_CLIENT();
    char *script = nox_test_strf("cat %s; ls %s; ls /root /home; cat /etc/shadow; "
                                 "ls /var/lib /srv /opt 2>&1 | head -3",
                                 canary, canary_dir);
    nox_exec_result *r = sh(script);
    assert_null(strstr(r->stdout_data, "TOP-SECRET"));
    assert_null(strstr(r->stdout_data, "secret.txt"));
    nox_exec_result_free(r);
    free(script);
    script = nox_test_strf("test -e %s", canary);
    r = sh(script);
    assert_int_equal(r->exit_code, 1);
    nox_exec_result_free(r);
    free(script);
    /* The state directory (other sandboxes' files and control sockets)
     * is not reachable either. */
    script = nox_test_strf("ls %s 2>&1; ls /workspace/.. ", state);
    r = sh(script);
    assert_null(strstr(r->stdout_data, "sandboxes"));
    assert_null(strstr(r->stdout_data, "meta.json"));
    nox_exec_result_free(r);
    free(script);
    r = sh("ls /etc");
    assert_null(strstr(r->stdout_data, "shadow"));
    assert_null(strstr(r->stdout_data, "sudoers"));
    assert_null(strstr(r->stdout_data, "ssh"));
    nox_exec_result_free(r);
}

static void test_no_writes_outside_workspace_and_tmp(void **s)
{
    (void)s;
    NEED_CLIENT();
    const char *targets[] = { "/x",      "/usr/x", "/usr/bin/x", "/etc/x",  "/etc/passwd", "/bin/x",
                              "/proc/x", "/dev/x", "/home/x",    "/root/x", "/var/x" };
    for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
        char *script = nox_test_strf("echo pwned > %s", targets[i]);
        nox_exec_result *r = sh(script);
        if (r->exit_code == 0)
            fail_msg("writing %s succeeded", targets[i]);
        nox_exec_result_free(r);
        free(script);
    }
    nox_exec_result *r = sh("echo ok > /workspace/w && echo ok > /tmp/t && echo ok > /dev/shm/s "
                            "&& cat /workspace/w /tmp/t /dev/shm/s");
    assert_string_equal(r->stdout_data, "ok\nok\nok\n");
    nox_exec_result_free(r);
    /* Remounting writable is refused (no capabilities, seccomp). */
    r = sh("mount -o remount,rw / 2>&1; mount -t tmpfs none /tmp 2>&1; true");
    nox_exec_result_free(r);
    r = sh("touch /usr/after-mount");
    assert_int_not_equal(r->exit_code, 0);
    nox_exec_result_free(r);
}

static void test_escape_paths(void **s)
{
    (void)s;
    NEED_CLIENT();
    /* '..' cannot climb out of the root; symlinks resolve inside. */
    char *script = nox_test_strf("cat /workspace/../../../..%s", canary);
    nox_exec_result *r = sh(script);
    assert_null(strstr(r->stdout_data, "TOP-SECRET"));
    nox_exec_result_free(r);
    free(script);
    script = nox_test_strf("ln -sf %s /workspace/link && cat /workspace/link", canary);
    r = sh(script);
    assert_null(strstr(r->stdout_data, "TOP-SECRET"));
    nox_exec_result_free(r);
    free(script);
    /* pid 1 is the holder: not dumpable, so its root and descriptors are
     * closed to commands even though they share its uid. */
    r = sh("ls /proc/1/root/ 2>&1; ls -l /proc/1/fd 2>&1; cat /proc/1/environ 2>&1");
    assert_non_null(strstr(r->stdout_data, "ermission denied"));
    assert_null(strstr(r->stdout_data, "ctl.sock"));
    nox_exec_result_free(r);
    r = sh("readlink /proc/self/cwd; readlink /proc/self/root");
    assert_string_equal(r->stdout_data, "/workspace\n/\n");
    nox_exec_result_free(r);
    /* The host's side: a download never follows a link the sandbox made. */
    r = sh("ln -sfn / /workspace/rootlink");
    nox_exec_result_free(r);
    nox_error *err = nox_error_new();
    void *data = NULL;
    size_t size = 0;
    script = nox_test_strf("/workspace/rootlink%s", canary);
    assert_int_not_equal(nox_download(client, "iso", script, &data, &size, err), 0);
    free(script);
    /* Downloading the workspace into a host directory refuses the whole
     * archive, naming the link, and writes nothing there. */
    char *local = nox_test_mkdtemp("esc");
    bool any = false;
    assert_int_equal(nox_download_workspace(client, "iso", NULL, local, &any, err), NOX_E_ARCHIVE);
    assert_non_null(strstr(nox_error_message(err), "link"));
    char *p = nox_test_strf("%s/rootlink", local);
    assert_false(nox_test_exists(p));
    free(p);
    nox_test_rmtree(local);
    free(local);
    nox_error_free(err);
}

static void test_processes_isolated(void **s)
{
    (void)s;
    NEED_CLIENT();
    nox_exec_result *r = sh("cat /proc/1/comm; ls /proc | grep -c '^[0-9]'");
    /* pid 1 is nox-init; a handful of processes at most (holder,
     * sh, cat/ls/grep). */
    assert_non_null(strstr(r->stdout_data, "nox-init\n"));
    long n = nox_test_parse_long(strchr(r->stdout_data, '\n') + 1);
    assert_true(n > 0 && n < 10);
    nox_exec_result_free(r);
    char *script = nox_test_strf("kill -0 %d 2>&1 || echo no-such", (int)getppid());
    r = sh(script);
    assert_non_null(strstr(r->stdout_data, "no-such"));
    nox_exec_result_free(r);
    free(script);
    /* Another sandbox's background process survives this one's
     * kill-everything. */
    r = nox_test_sh(client, "iso-other", "sleep 5151 >/dev/null 2>&1 &");
    nox_exec_result_free(r);
    /* kill -9 -1 reaches every process of this sandbox but the caller
     * (as in any container) and pid 1, whose bookkeeping of execs is
     * therefore safe; nothing outside the sandbox. */
    r = sh("sleep 5252 >/dev/null 2>&1 &");
    nox_exec_result_free(r);
    r = sh("kill -9 -1; echo survived");
    assert_int_equal(r->exit_code, 0);
    assert_string_equal(r->stdout_data, "survived\n");
    nox_exec_result_free(r);
    r = sh("cat /proc/[0-9]*/cmdline | tr '\\0' ' '");
    assert_null(strstr(r->stdout_data, "sleep 5252"));
    nox_exec_result_free(r);
    r = nox_test_sh(client, "iso-other", "cat /proc/[0-9]*/cmdline | tr '\\0' ' '");
    assert_non_null(strstr(r->stdout_data, "sleep 5151"));
    nox_exec_result_free(r);
    /* Nor can a command stop its sandbox by signalling pid 1: the signals
     * the holder acts on from the host (TERM, INT, HUP: stop; USR1: read
     * the expiry again) are ignored from inside. The sandbox's background
     * process and the holder are still there afterwards. */
    r = sh("sleep 5353 >/dev/null 2>&1 & for s in TERM INT HUP USR1; do kill -$s 1; done; "
           "sleep 0.3; echo alive");
    assert_int_equal(r->exit_code, 0);
    assert_string_equal(r->stdout_data, "alive\n");
    nox_exec_result_free(r);
    r = sh("cat /proc/1/comm /proc/[0-9]*/cmdline | tr '\\0' ' '");
    assert_int_equal(r->exit_code, 0);
    assert_non_null(strstr(r->stdout_data, "nox-init"));
    assert_non_null(strstr(r->stdout_data, "sleep 5353"));
    nox_exec_result_free(r);
}

static void test_network_loopback_only(void **s)
{
    (void)s;
    NEED_CLIENT();
    nox_exec_result *r = sh("cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' '");
    assert_string_equal(r->stdout_data, "lo\n");
    nox_exec_result_free(r);
    /* A listener on the host's loopback is out of reach. */
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    assert_int_equal(bind(ls, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(ls, 4), 0);
    socklen_t sl = sizeof sa;
    getsockname(ls, (struct sockaddr *)&sa, &sl);
    char *script = nox_test_strf("python3 -c 'import socket; s=socket.socket(); "
                                 "s.settimeout(2); s.connect((\"127.0.0.1\", %d)); print(\"in\")'",
                                 ntohs(sa.sin_port));
    r = sh(script);
    assert_null(strstr(r->stdout_data, "in"));
    assert_int_not_equal(r->exit_code, 0);
    nox_exec_result_free(r);
    free(script);
    close(ls);
    /* No abstract or file sockets of the host: the host's /run is absent. */
    r = sh("ls /run; ls /var/run 2>&1");
    assert_null(strstr(r->stdout_data, "docker.sock"));
    assert_null(strstr(r->stdout_data, "systemd"));
    nox_exec_result_free(r);
}

static void test_seccomp_refusals(void **s)
{
    (void)s;
    NEED_CLIENT();
    /* New user namespaces, keyrings, bpf, mounts: refused with EPERM. */
    nox_exec_result *r =
        sh("unshare -U true 2>&1; echo rc=$?; "
           "python3 -c 'import ctypes,os; l=ctypes.CDLL(None,use_errno=True); "
           "print(l.syscall(250,0,0,0,0), ctypes.get_errno()); "    /* keyctl */
           "print(l.syscall(321,0,0,0), ctypes.get_errno()); "      /* bpf */
           "print(l.syscall(165,0,0,0,0,0), ctypes.get_errno()); "  /* mount */
           "print(l.syscall(298,0,0,0,0,0), ctypes.get_errno())'"); /* perf_event_open */
    assert_non_null(strstr(r->stdout_data, "rc=1"));
    assert_non_null(strstr(r->stdout_data, "-1 1\n-1 1\n-1 1\n-1 1\n"));
    nox_exec_result_free(r);
}

static void test_sandboxes_see_only_their_files(void **s)
{
    (void)s;
    NEED_CLIENT();
    nox_exec_result *r = nox_test_sh(client, "iso-other", "echo other-secret > /workspace/o");
    nox_exec_result_free(r);
    r = sh("cat /workspace/o 2>&1; find / -name o -path '*workspace*' 2>/dev/null");
    assert_null(strstr(r->stdout_data, "other-secret"));
    nox_exec_result_free(r);
    /* /tmp is private per sandbox. */
    r = sh("echo mine > /tmp/private");
    nox_exec_result_free(r);
    r = nox_test_sh(client, "iso-other", "cat /tmp/private 2>&1");
    assert_null(strstr(r->stdout_data, "mine"));
    nox_exec_result_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identity_and_view),
        cmocka_unit_test(test_host_files_invisible),
        cmocka_unit_test(test_no_writes_outside_workspace_and_tmp),
        cmocka_unit_test(test_escape_paths),
        cmocka_unit_test(test_processes_isolated),
        cmocka_unit_test(test_network_loopback_only),
        cmocka_unit_test(test_seccomp_refusals),
        cmocka_unit_test(test_sandboxes_see_only_their_files),
    };
    if (!nox_test_isolation_available()) {
        fprintf(stderr, "skipped, because this host cannot run isolated sandboxes "
                        "(noxrunnerd --check says why)\n");
        return NOX_TEST_SKIPPED;
    }
    return cmocka_run_group_tests(tests, setup, teardown);
}
