/* SPDX-License-Identifier: MIT */
/* The local backend's unisolated mode (NOX_ISOLATION_NONE), end to end
 * through the public API: commands run on the host, in the sandbox's host
 * workspace, as the calling user; the client says so once through its
 * warning callback; timeouts and deletes still kill whole process trees;
 * a client that requires isolation refuses sandboxes made unisolated; and
 * on a host without user namespaces only an explicit request runs at all.
 *
 * Unisolated mode needs no namespaces, so most of this runs on any host;
 * the cases that need isolated sandboxes skip on their own. */
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char *state;          /* the state directory both clients share */
static char *scratch;        /* host files the tests' commands write into */
static nox_client *client;   /* unisolated */
static nox_client *required; /* the default: isolation required */
static int warnings;         /* calls of on_warning() for `client` */
static char *last_warning;

static void on_warning(void *userdata, const char *message)
{
    int *count = userdata;
    (*count)++;
    free(last_warning);
    last_warning = strdup(message);
}

static nox_client *unisolated_client(const char *dir, int *counter, nox_error *err)
{
    nox_client_options o;
    nox_client_options_init(&o);
    o.local = true;
    o.state_dir = dir;
    o.isolation = NOX_ISOLATION_NONE;
    o.on_warning = counter ? on_warning : NULL;
    o.warning_userdata = counter;
    nox_client *c = NULL;
    if (nox_client_new(&o, &c, err) != 0)
        return NULL;
    return c;
}

static int setup(void **s)
{
    (void)s;
    state = nox_test_mkdtemp("unisolated");
    scratch = nox_test_mkdtemp("canary");
    nox_error *err = nox_error_new();
    client = unisolated_client(state, &warnings, err);
    if (!client)
        fail_msg("nox_client_new (unisolated): %s", nox_error_message(err));
    nox_error_free(err);
    required = nox_test_local_client_at(state);
    return 0;
}

static int teardown(void **s)
{
    (void)s;
    nox_client_free(required);
    nox_test_local_done(client, state);
    nox_test_rmtree(scratch);
    free(scratch);
    free(last_warning);
    return 0;
}

static void create(nox_client *c, const char *id)
{
    nox_error *err = nox_error_new();
    nox_assert_ok(nox_create(c, id, NULL, NULL, err), err);
    nox_error_free(err);
}

static nox_exec_result *sh_opts(const char *id, const char *script, const nox_exec_options *o)
{
    const char *argv[] = { "sh", "-c", script, NULL };
    nox_error *err = nox_error_new();
    nox_exec_result *res = NULL;
    nox_assert_ok(nox_exec(client, id, argv, o, &res, err), err);
    nox_error_free(err);
    return res;
}

/* The host path of sandbox @p id's workspace, with symlinks resolved as
 * getcwd() reports them. */
static char *workspace_of(const char *id)
{
    char *p = nox_test_strf("%s/sandboxes/%s/workspace", state, id);
    char *real = realpath(p, NULL);
    if (!real)
        fail_msg("realpath `%s`: %s", p, strerror(errno));
    free(p);
    return real;
}

/* A `sleep` no other process on the machine has in its command line: the
 * seconds carry this process's id and a tag. */
static char *marker(int seconds, int tag)
{
    return nox_test_strf("sleep %d.%d%d", seconds, (int)getpid(), tag);
}

static bool host_has_process(const char *m)
{
    size_t mlen = strlen(m);
    DIR *d = opendir("/proc");
    struct dirent *e;
    bool found = false;
    while (d && !found && (e = readdir(d))) {
        if (e->d_name[0] < '1' || e->d_name[0] > '9')
            continue;
        char *p = nox_test_strf("/proc/%s/cmdline", e->d_name);
        size_t len = 0;
        char *cmd = nox_test_read_file(p, &len);
        free(p);
        if (!cmd)
            continue;
        for (size_t i = 0; i < len; i++)
            if (cmd[i] == '\0')
                cmd[i] = ' ';
        /* The marker as a whole word: "sleep 3.41" is not "sleep 3.412". */
        for (char *at = strstr(cmd, m); at && !found; at = strstr(at + 1, m))
            found = at[mlen] == ' ' || at[mlen] == '\0';
        free(cmd);
    }
    if (d)
        closedir(d);
    return found;
}

/* Waits (up to 30 s) until a process with @p m is there or gone: one look
 * proves little, a process in execve has an empty command line. */
static bool wait_process(const char *m, bool present)
{
    for (int i = 0; i < 300; i++) {
        if (host_has_process(m) == present)
            return true;
        usleep(100000);
    }
    return false;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------------------ */

static void test_warns_once_loudly(void **s)
{
    (void)s;
    /* The client was made in setup: one warning, then, and a loud one. */
    assert_int_equal(warnings, 1);
    assert_non_null(last_warning);
    assert_non_null(strstr(last_warning, "UNISOLATED"));
    assert_non_null(strstr(last_warning, "trust"));
    if (geteuid() == 0)
        assert_non_null(strstr(last_warning, "AS ROOT"));
    /* Using the client says nothing more. */
    create(client, "quiet");
    nox_exec_result *res = sh_opts("quiet", "true", NULL);
    nox_exec_result_free(res);
    nox_file f = { "f.txt", "x", 1, 0 };
    nox_error *err = nox_error_new();
    nox_assert_ok(nox_upload_files(client, "quiet", &f, 1, NULL, err), err);
    nox_assert_ok(nox_delete(client, "quiet", err), err);
    assert_int_equal(warnings, 1);

    /* Every new unisolated client warns once; a client that requires
     * isolation never does; without a callback the warning is dropped. */
    int other = 0;
    nox_client *c2 = unisolated_client(state, &other, err);
    assert_non_null(c2);
    assert_int_equal(other, 1);
    nox_client_free(c2);
    nox_client *quiet = unisolated_client(state, NULL, err);
    assert_non_null(quiet);
    nox_client_free(quiet);
    int none = 0;
    nox_client_options o;
    nox_client_options_init(&o);
    o.local = true;
    o.state_dir = state;
    o.on_warning = on_warning;
    o.warning_userdata = &none;
    nox_client *req = NULL;
    nox_assert_ok(nox_client_new(&o, &req, err), err);
    assert_int_equal(none, 0);
    nox_client_free(req);
    nox_error_free(err);
}

static void test_runs_on_the_host_in_the_workspace(void **s)
{
    (void)s;
    nox_error *err = nox_error_new();
    nox_sandbox *sb = NULL;
    nox_assert_ok(nox_create(client, "host", NULL, &sb, err), err);
    assert_string_equal(sb->isolation, "none");
    /* What the host cannot give unisolated is reported, not pretended. */
    bool saw_tmp = false;
    for (size_t i = 0; i < sb->n_limits; i++)
        if (strcmp(sb->limits[i].name, "tmp") == 0) {
            saw_tmp = true;
            assert_false(sb->limits[i].enforced);
            assert_non_null(sb->limits[i].reason);
        }
    assert_true(saw_tmp);
    nox_sandbox_free(sb);

    char *ws = workspace_of("host");
    nox_exec_result *res = sh_opts("host", "pwd; echo \"$HOME\"; echo \"$PWD\"; id -u", NULL);
    assert_int_equal(res->exit_code, 0);
    char *want = nox_test_strf("%s\n%s\n%s\n%u\n", ws, ws, ws, (unsigned)geteuid());
    assert_string_equal(res->stdout_data, want);
    free(want);
    nox_exec_result_free(res);

    /* The host's processes and host name, not a sandbox's. */
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    char *script = nox_test_strf("test -d /proc/%d && hostname", (int)getpid());
    res = sh_opts("host", script, NULL);
    free(script);
    assert_int_equal(res->exit_code, 0);
    char *hn = nox_test_strf("%s\n", host);
    assert_string_equal(res->stdout_data, hn);
    free(hn);
    nox_exec_result_free(res);

    /* Working directories are the sandbox's view, mapped onto the host
     * workspace; anything outside it is refused, not run elsewhere. */
    nox_exec_result *mk = sh_opts("host", "mkdir -p sub/dir", NULL);
    nox_exec_result_free(mk);
    nox_exec_options o;
    nox_exec_options_init(&o);
    o.workdir = "sub/dir";
    res = sh_opts("host", "pwd", &o);
    want = nox_test_strf("%s/sub/dir\n", ws);
    assert_string_equal(res->stdout_data, want);
    free(want);
    nox_exec_result_free(res);
    o.workdir = "/workspace/sub";
    res = sh_opts("host", "pwd", &o);
    want = nox_test_strf("%s/sub\n", ws);
    assert_string_equal(res->stdout_data, want);
    free(want);
    nox_exec_result_free(res);
    const char *argv[] = { "pwd", NULL };
    const char *outside[] = { "/etc", "/workspace/..", "/workspace/../..", "sub/../../..", "/" };
    for (size_t i = 0; i < sizeof outside / sizeof outside[0]; i++) {
        o.workdir = outside[i];
        res = NULL;
        int r = nox_exec(client, "host", argv, &o, &res, err);
        if (r != NOX_E_INVALID)
            fail_msg("workdir `%s`: got %d (%s), want NOX_E_INVALID", outside[i], r,
                     res ? res->stdout_data : nox_error_message(err));
        assert_null(res);
    }
    free(ws);
    nox_error_free(err);
}

static void test_files_are_in_the_host_workspace(void **s)
{
    (void)s;
    create(client, "files");
    char *ws = workspace_of("files");
    nox_error *err = nox_error_new();
    nox_file files[] = { { "dir/a.txt", "alpha", 5, 0 }, { "run.sh", "echo ran\n", 9, 0755 } };
    nox_assert_ok(nox_upload_files(client, "files", files, 2, NULL, err), err);
    char *p = nox_test_strf("%s/dir/a.txt", ws);
    char *got = nox_test_read_file(p, NULL);
    assert_non_null(got);
    assert_string_equal(got, "alpha");
    free(got);
    free(p);
    nox_exec_result *res = sh_opts("files", "cat dir/a.txt; ./run.sh", NULL);
    assert_string_equal(res->stdout_data, "alpharan\n");
    nox_exec_result_free(res);

    /* What a command writes is on the host too, and downloads find it. */
    res = sh_opts("files", "echo made > made.txt", NULL);
    nox_exec_result_free(res);
    p = nox_test_strf("%s/made.txt", ws);
    got = nox_test_read_file(p, NULL);
    assert_non_null(got);
    assert_string_equal(got, "made\n");
    free(got);
    free(p);
    char *dl = nox_test_mkdtemp("unisolated-dl");
    bool any = false;
    nox_assert_ok(nox_download_workspace(client, "files", NULL, dl, &any, err), err);
    assert_true(any);
    p = nox_test_strf("%s/made.txt", dl);
    got = nox_test_read_file(p, NULL);
    assert_non_null(got);
    assert_string_equal(got, "made\n");
    free(got);
    free(p);
    nox_test_rmtree(dl);
    free(dl);
    free(ws);
    nox_error_free(err);
}

static void test_background_processes_persist(void **s)
{
    (void)s;
    create(client, "bg");
    /* As in an isolated sandbox (docs/isolation.md): what an exec leaves
     * running is adopted by the holder and lives on for the next exec. */
    char *m = marker(60, 1);
    char *script = nox_test_strf("%s >/dev/null 2>&1 & echo $!", m);
    nox_exec_result *res = sh_opts("bg", script, NULL);
    free(script);
    assert_int_equal(res->exit_code, 0);
    long pid = nox_test_parse_long(res->stdout_data);
    nox_exec_result_free(res);
    assert_true(wait_process(m, true));

    script = nox_test_strf("kill -0 %ld && echo alive", pid);
    res = sh_opts("bg", script, NULL);
    free(script);
    assert_string_equal(res->stdout_data, "alive\n");
    nox_exec_result_free(res);

    /* Its parent is the sandbox's holder (a child subreaper), not the
     * host's init: that is what lets delete find it. */
    char *stat_path = nox_test_strf("/proc/%ld/stat", pid);
    char *st = nox_test_read_file(stat_path, NULL);
    free(stat_path);
    assert_non_null(st);
    char *close_paren = strrchr(st, ')');
    assert_non_null(close_paren);
    /* After the command's name: " S PPID ...", the state, then the parent. */
    const char *fields = close_paren + 1;
    assert_true(fields[0] == ' ' && fields[1] && fields[2] == ' ');
    char *end = NULL;
    long ppid = strtol(fields + 3, &end, 10);
    assert_true(end > fields + 3 && *end == ' ');
    free(st);
    assert_true(ppid > 1);
    char *exe_path = nox_test_strf("/proc/%ld/exe", ppid);
    char exe[PATH_MAX] = "";
    ssize_t n = readlink(exe_path, exe, sizeof exe - 1);
    free(exe_path);
    assert_true(n > 0);
    exe[n] = '\0';
    assert_non_null(strstr(exe, "nox-init"));

    nox_error *err = nox_error_new();
    nox_assert_ok(nox_delete(client, "bg", err), err);
    assert_true(wait_process(m, false));
    free(m);
    nox_error_free(err);
}

static void test_timeout_kills_the_whole_tree(void **s)
{
    (void)s;
    create(client, "timeout");
    /* Canaries: each process of the tree would write its file three
     * seconds after it started, well after the one-second timeout. One in
     * the group, one in a session of its own, one double-forked, one that
     * ignores SIGTERM and SIGHUP. None may ever appear. */
    char *c[4], *m[4];
    for (int i = 0; i < 4; i++) {
        c[i] = nox_test_strf("%s/timeout-%d", scratch, i);
        m[i] = marker(3, i + 1);
    }
    char *script =
        nox_test_strf("(%s; echo leaked > %s) & "
                      "setsid sh -c '%s; echo leaked > %s' & "
                      "(sh -c '%s; echo leaked > %s' &) ; "
                      "nohup sh -c 'trap \"\" TERM HUP; %s; echo leaked > %s' >/dev/null 2>&1 & "
                      "echo started; sleep 100",
                      m[0], c[0], m[1], c[1], m[2], c[2], m[3], c[3]);
    nox_exec_options o;
    nox_exec_options_init(&o);
    o.timeout_seconds = 1;
    int64_t t0 = now_ms();
    nox_exec_result *res = sh_opts("timeout", script, &o);
    free(script);
    assert_int_equal(res->exit_code, 124);
    assert_true(res->timed_out);
    assert_string_equal(res->stdout_data, "started\n");
    assert_non_null(strstr(res->stderr_data, "timed out after 1 second"));
    /* The answer does not wait for the tree's sleeps. */
    assert_true(now_ms() - t0 < 2900);
    nox_exec_result_free(res);
    for (int i = 0; i < 4; i++)
        if (!wait_process(m[i], false))
            fail_msg("`%s` survived the timeout", m[i]);
    /* Past the moment every canary would have been written. */
    while (now_ms() - t0 < 5000)
        usleep(100000);
    for (int i = 0; i < 4; i++) {
        if (nox_test_exists(c[i]))
            fail_msg("canary %s appeared: part of the tree outlived the timeout", c[i]);
        free(c[i]);
        free(m[i]);
    }
    /* The sandbox goes on. */
    res = sh_opts("timeout", "echo fine", NULL);
    assert_string_equal(res->stdout_data, "fine\n");
    nox_exec_result_free(res);
}

static void test_timeout_spares_earlier_background_processes(void **s)
{
    (void)s;
    create(client, "spare");
    char *m = marker(60, 5);
    char *script = nox_test_strf("%s >/dev/null 2>&1 &", m);
    nox_exec_result *res = sh_opts("spare", script, NULL);
    free(script);
    nox_exec_result_free(res);
    assert_true(wait_process(m, true));
    nox_exec_options o;
    nox_exec_options_init(&o);
    o.timeout_seconds = 1;
    res = sh_opts("spare", "sleep 60", &o);
    assert_int_equal(res->exit_code, 124);
    nox_exec_result_free(res);
    assert_true(host_has_process(m));
    nox_error *err = nox_error_new();
    nox_assert_ok(nox_delete(client, "spare", err), err);
    assert_true(wait_process(m, false));
    free(m);
    nox_error_free(err);
}

static void test_delete_kills_what_is_left(void **s)
{
    (void)s;
    create(client, "doomed");
    char *ws = workspace_of("doomed");
    char *c[3], *m[3];
    for (int i = 0; i < 3; i++) {
        c[i] = nox_test_strf("%s/delete-%d", scratch, i);
        m[i] = marker(3, 6 + i);
    }
    /* Left running by an exec that ended: plain, in its own session, and
     * double-forked. */
    char *script = nox_test_strf("(%s; echo leaked > %s) >/dev/null 2>&1 & "
                                 "setsid sh -c '%s; echo leaked > %s' >/dev/null 2>&1 & "
                                 "(sh -c '%s; echo leaked > %s' >/dev/null 2>&1 &) ; true",
                                 m[0], c[0], m[1], c[1], m[2], c[2]);
    int64_t t0 = now_ms();
    nox_exec_result *res = sh_opts("doomed", script, NULL);
    free(script);
    assert_int_equal(res->exit_code, 0);
    nox_exec_result_free(res);
    for (int i = 0; i < 3; i++)
        assert_true(wait_process(m[i], true));
    nox_error *err = nox_error_new();
    nox_assert_ok(nox_delete(client, "doomed", err), err);
    /* Gone when delete returns, not eventually. */
    for (int i = 0; i < 3; i++)
        if (host_has_process(m[i]))
            fail_msg("`%s` survived the delete", m[i]);
    assert_false(nox_test_exists(ws));
    while (now_ms() - t0 < 5000)
        usleep(100000);
    for (int i = 0; i < 3; i++) {
        if (nox_test_exists(c[i]))
            fail_msg("canary %s appeared after the delete", c[i]);
        free(c[i]);
        free(m[i]);
    }
    const char *argv[] = { "true", NULL };
    res = NULL;
    assert_int_equal(nox_exec(client, "doomed", argv, NULL, &res, err), NOX_E_NOT_FOUND);
    free(ws);
    nox_error_free(err);
}

static void test_isolation_required_refuses_unisolated_sandboxes(void **s)
{
    (void)s;
    create(client, "mixed");
    nox_error *err = nox_error_new();
    char *canary = nox_test_strf("%s/mixed", scratch);
    char *script = nox_test_strf("echo ran > %s", canary);
    const char *argv[] = { "sh", "-c", script, NULL };
    nox_exec_result *res = NULL;

    /* Nothing runs: not through exec, not through the shell helper. */
    assert_int_equal(nox_exec(required, "mixed", argv, NULL, &res, err), NOX_E_ISOLATION);
    assert_int_equal(nox_error_code(err), NOX_E_ISOLATION);
    assert_non_null(strstr(nox_error_message(err), "`mixed`"));
    assert_non_null(strstr(nox_error_message(err), "unisolated"));
    assert_null(res);
    assert_int_equal(nox_exec_shell(required, "mixed", script, NULL, NULL, &res, err),
                     NOX_E_ISOLATION);
    assert_false(nox_test_exists(canary));

    /* Ensuring it exists does not hand it over as if it were isolated,
     * and leaves it as it was. */
    nox_sandbox *before = NULL, *sb = NULL;
    nox_assert_ok(nox_info(required, "mixed", &before, err), err);
    nox_create_options co;
    nox_create_options_init(&co);
    co.ttl_seconds = 60;
    assert_int_equal(nox_create(required, "mixed", &co, &sb, err), NOX_E_ISOLATION);
    assert_non_null(strstr(nox_error_message(err), "`mixed`"));
    assert_non_null(strstr(nox_error_message(err), "unisolated"));
    assert_null(sb);
    nox_assert_ok(nox_info(required, "mixed", &sb, err), err);
    assert_int_equal(sb->ttl_seconds, before->ttl_seconds);
    nox_sandbox_free(sb);
    nox_sandbox_free(before);

    /* Waiting cannot make it isolated: the refusal comes at once. */
    int64_t t0 = now_ms();
    assert_int_equal(nox_wait_ready(required, "mixed", 20000, 200, err), NOX_E_ISOLATION);
    assert_non_null(strstr(nox_error_message(err), "unisolated"));
    assert_true(now_ms() - t0 < 10000);

    /* Looking at it and removing it work: that is how it is replaced. */
    nox_assert_ok(nox_info(required, "mixed", &sb, err), err);
    assert_string_equal(sb->isolation, "none");
    nox_sandbox_free(sb);
    nox_assert_ok(nox_delete(required, "mixed", err), err);
    assert_false(nox_test_exists(canary));
    free(script);
    free(canary);
    nox_error_free(err);
}

static void test_isolated_sandboxes_stay_isolated(void **s)
{
    (void)s;
    if (!nox_test_isolation_available())
        nox_test_skip("this host cannot run isolated sandboxes");
    /* A sandbox keeps the mode it was made with: an unisolated client's
     * commands in an isolated sandbox run isolated. */
    create(required, "iso");
    nox_error *err = nox_error_new();
    nox_sandbox *sb = NULL;
    nox_assert_ok(nox_create(client, "iso", NULL, &sb, err), err);
    assert_string_equal(sb->isolation, "namespaces");
    nox_sandbox_free(sb);
    nox_exec_result *res = sh_opts("iso", "pwd; id -u", NULL);
    assert_string_equal(res->stdout_data, "/workspace\n1000\n");
    nox_exec_result_free(res);
    nox_assert_ok(nox_delete(client, "iso", err), err);
    nox_error_free(err);
}

/* ---- a host without user namespaces ---- */

/* What a container's seccomp profile typically does: no new user
 * namespaces (clone with CLONE_NEWUSER and unshare refused, clone3 made to
 * look absent so that libc falls back to clone). */
static int deny_user_namespaces(void)
{
    scmp_filter_ctx f = seccomp_init(SCMP_ACT_ALLOW);
    if (!f)
        return -1;
    int r = seccomp_rule_add(f, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(unshare), 0);
    if (r == 0)
        r = seccomp_rule_add(f, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
                             SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_NEWUSER, CLONE_NEWUSER));
    if (r == 0)
        r = seccomp_rule_add(f, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
    if (r == 0)
        r = seccomp_load(f);
    seccomp_release(f);
    return r;
}

/* The checks of the child below; returns NULL or what went wrong. */
static char *without_namespaces(const char *dir)
{
    if (deny_user_namespaces() < 0)
        return strdup("could not install the seccomp filter");
    nox_error *err = nox_error_new();
    char *why = NULL;
    nox_preflight_report *rep = NULL;
    if (nox_preflight(NULL, &rep, err) != 0)
        why = nox_test_strf("preflight failed: %s", nox_error_message(err));
    else if (rep->isolation_available)
        why = strdup("preflight says isolation is available under the filter");
    nox_preflight_free(rep);

    /* Required (the default): refused, saying why and where to look. */
    nox_client_options o;
    nox_client_options_init(&o);
    o.local = true;
    o.state_dir = dir;
    nox_client *req = NULL;
    if (!why && nox_client_new(&o, &req, err) != 0)
        why = nox_test_strf("required client: %s", nox_error_message(err));
    if (!why) {
        int r = nox_create(req, "nons", NULL, NULL, err);
        const char *msg = nox_error_message(err);
        if (r != NOX_E_ISOLATION)
            why = nox_test_strf("create gave %d (%s), want NOX_E_ISOLATION", r, msg);
        else if (!strstr(msg, "`nons`") || !strstr(msg, "namespaces") || !strstr(msg, "--check"))
            why = nox_test_strf("the refusal does not say what and why: %s", msg);
    }
    /* ... and leaves nothing behind. */
    nox_sandbox_list *list = NULL;
    if (!why && nox_list(req, &list, err) != 0)
        why = nox_test_strf("list: %s", nox_error_message(err));
    if (!why && list->count != 0)
        why = nox_test_strf("a refused create left %zu sandboxes", list->count);
    nox_sandbox_list_free(list);
    nox_client_free(req);

    /* Unisolated, on explicit request: runs, and warned. */
    int warned = 0;
    nox_client *un = why ? NULL : unisolated_client(dir, &warned, err);
    if (!why && !un)
        why = nox_test_strf("unisolated client: %s", nox_error_message(err));
    nox_exec_result *res = NULL;
    const char *argv[] = { "echo", "ran", NULL };
    if (!why && nox_create(un, "nons", NULL, NULL, err) != 0)
        why = nox_test_strf("unisolated create: %s", nox_error_message(err));
    if (!why && nox_exec(un, "nons", argv, NULL, &res, err) != 0)
        why = nox_test_strf("unisolated exec: %s", nox_error_message(err));
    if (!why && strcmp(res->stdout_data, "ran\n") != 0)
        why = nox_test_strf("unisolated exec printed `%s`", res->stdout_data);
    if (!why && warned != 1)
        why = nox_test_strf("%d warnings, want 1", warned);
    nox_exec_result_free(res);
    if (un)
        nox_delete(un, "nons", NULL);
    nox_client_free(un);
    nox_error_free(err);
    return why;
}

static void test_without_namespaces_only_unisolated_runs(void **s)
{
    (void)s;
    char *dir = nox_test_mkdtemp("nons");
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* The filter stays with this child; the test's own process keeps
         * its namespaces. */
        close(p[0]);
        char *why = without_namespaces(dir);
        const char *out = why ? why : "ok";
        ssize_t w = write(p[1], out, strlen(out));
        _exit(w < 0 ? 2 : 0);
    }
    close(p[1]);
    char buf[4096];
    size_t len = 0;
    ssize_t n;
    while (len < sizeof buf - 1 && (n = read(p[0], buf + len, sizeof buf - 1 - len)) > 0)
        len += (size_t)n;
    buf[len] = '\0';
    close(p[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    nox_test_rmtree(dir);
    free(dir);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("the child ended with status %#x", status);
    if (strcmp(buf, "ok") != 0)
        fail_msg("without user namespaces: %s", buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_warns_once_loudly),
        cmocka_unit_test(test_runs_on_the_host_in_the_workspace),
        cmocka_unit_test(test_files_are_in_the_host_workspace),
        cmocka_unit_test(test_background_processes_persist),
        cmocka_unit_test(test_timeout_kills_the_whole_tree),
        cmocka_unit_test(test_timeout_spares_earlier_background_processes),
        cmocka_unit_test(test_delete_kills_what_is_left),
        cmocka_unit_test(test_isolation_required_refuses_unisolated_sandboxes),
        cmocka_unit_test(test_isolated_sandboxes_stay_isolated),
        cmocka_unit_test(test_without_namespaces_only_unisolated_runs),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
