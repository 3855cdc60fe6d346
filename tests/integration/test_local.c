/* SPDX-License-Identifier: MIT */
/* The local backend, end to end through the public API: real nox-init,
 * real holders, real processes, a private state directory. */
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <noxrunner/wire.h>

static char *state;
static nox_client *client;

static int setup(void **s)
{
    (void)s;
    client = nox_test_local_client(&state);
    return 0;
}

static int teardown(void **s)
{
    (void)s;
    nox_test_local_done(client, state);
    return 0;
}

#define NEED_CLIENT() NOX_NEED_CLIENT(client)

/* Waits for child @p pid and asserts it exited with status 0. */
static void assert_child_ok(pid_t pid)
{
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void create(const char *id)
{
    nox_error *err = nox_error_new();
    nox_sandbox *sb = NULL;
    nox_assert_ok(nox_create(client, id, NULL, &sb, err), err);
    nox_sandbox_free(sb);
    nox_error_free(err);
}

static void test_create_exec_delete(void **s)
{
    (void)s;
    NEED_CLIENT();
    nox_error *err = nox_error_new();
    nox_sandbox *sb = NULL;
    nox_create_options co;
    nox_create_options_init(&co);
    co.ttl_seconds = 120;
    nox_assert_ok(nox_create(client, "basic", &co, &sb, err), err);
    assert_string_equal(sb->pod_name, "nox-basic");
    assert_non_null(sb->expires_at);
    int64_t t;
    assert_int_equal(nox_wire_parse_time(sb->expires_at, &t, NULL), 0);
    assert_int_equal(t, sb->expires_at_unix);
    int64_t now = (int64_t)time(NULL);
    assert_true(t > now + 100 && t <= now + 121);
    assert_string_equal(sb->isolation, "namespaces");
    assert_true(sb->n_limits > 0);
    nox_sandbox_free(sb);

    const char *argv[] = { "echo", "hello", NULL };
    nox_exec_result *res = nox_test_exec(client, "basic", argv);
    assert_int_equal(res->exit_code, 0);
    assert_string_equal(res->stdout_data, "hello\n");
    assert_int_equal(res->stderr_len, 0);
    assert_false(res->timed_out);
    nox_exec_result_free(res);

    nox_assert_ok(nox_delete(client, "basic", err), err);
    assert_int_equal(nox_exec(client, "basic", argv, NULL, &res, err), NOX_E_NOT_FOUND);
    assert_non_null(strstr(nox_error_message(err), "basic"));
    assert_int_equal(nox_delete(client, "basic", err), NOX_E_NOT_FOUND);
    assert_int_equal(nox_touch(client, "basic", err), NOX_E_NOT_FOUND);
    nox_error_free(err);
}

static void test_create_is_idempotent(void **s)
{
    (void)s;
    NEED_CLIENT();
    create("idem");
    nox_exec_result *res = nox_test_sh(client, "idem", "echo kept > /workspace/f");
    assert_int_equal(res->exit_code, 0);
    nox_exec_result_free(res);
    create("idem");
    res = nox_test_sh(client, "idem", "cat /workspace/f");
    assert_string_equal(res->stdout_data, "kept\n");
    nox_exec_result_free(res);
}

static void test_exit_codes(void **s)
{
    (void)s;
    NEED_CLIENT();
    create("codes");
    nox_exec_result *res = nox_test_sh(client, "codes", "exit 7");
    assert_int_equal(res->exit_code, 7);
    nox_exec_result_free(res);

    const char *missing[] = { "no-such-command-xyz", "a", NULL };
    res = nox_test_exec(client, "codes", missing);
    assert_int_equal(res->exit_code, 127);
    assert_non_null(strstr(res->stderr_data, "no-such-command-xyz"));
    assert_non_null(strstr(res->stderr_data, "not found"));
    nox_exec_result_free(res);

    res = nox_test_sh(client, "codes",
                      "printf 'echo hi' > /workspace/noexec; chmod 644 "
                      "/workspace/noexec");
    nox_exec_result_free(res);
    const char *noexec[] = { "/workspace/noexec", NULL };
    res = nox_test_exec(client, "codes", noexec);
    assert_int_equal(res->exit_code, 126);
    nox_exec_result_free(res);

    res = nox_test_sh(client, "codes", "kill -TERM $$");
    assert_int_equal(res->exit_code, 128 + SIGTERM);
    assert_int_equal(res->term_signal, SIGTERM);
    nox_exec_result_free(res);
}

static void test_args_verbatim_and_env(void **s)
{
    (void)s;
    NEED_CLIENT();
    create("args");
    const char *echo[] = { "echo", "$X", "a b", "--flag", NULL };
    nox_exec_result *res = nox_test_exec(client, "args", echo);
    assert_string_equal(res->stdout_data, "$X a b --flag\n");
    nox_exec_result_free(res);

    const char *env[] = { "X=from-env", "PATH=/usr/bin:/bin", NULL };
    nox_exec_options o;
    nox_exec_options_init(&o);
    o.env = env;
    const char *sh[] = { "sh", "-c", "echo $X; echo $PATH", NULL };
    nox_error *err = nox_error_new();
    nox_assert_ok(nox_exec(client, "args", sh, &o, &res, err), err);
    assert_string_equal(res->stdout_data, "from-env\n/usr/bin:/bin\n");
    nox_exec_result_free(res);

    /* exec_shell: sh and bash only. */
    nox_assert_ok(nox_exec_shell(client, "args", "echo $0", "bash", NULL, &res, err), err);
    assert_string_equal(res->stdout_data, "bash\n");
    nox_exec_result_free(res);
    assert_int_equal(nox_exec_shell(client, "args", "echo", "zsh", NULL, &res, err), NOX_E_INVALID);
    assert_non_null(strstr(nox_error_message(err), "zsh"));

    const char *bad_env[] = { "NOEQUALS", NULL };
    o.env = bad_env;
    assert_int_equal(nox_exec(client, "args", echo, &o, &res, err), NOX_E_INVALID);
    const char *empty[] = { NULL };
    assert_int_equal(nox_exec(client, "args", empty, NULL, &res, err), NOX_E_INVALID);
    nox_error_free(err);
}

static void test_workdir(void **s)
{
    (void)s;
    NEED_CLIENT();
    create("wd");
    const char *pwd[] = { "pwd", NULL };
    nox_exec_result *res = nox_test_exec(client, "wd", pwd);
    assert_string_equal(res->stdout_data, "/workspace\n");
    nox_exec_result_free(res);
    res = nox_test_sh(client, "wd", "mkdir -p /workspace/sub/dir");
    nox_exec_result_free(res);
    nox_exec_options o;
    nox_exec_options_init(&o);
    o.workdir = "sub/dir";
    nox_error *err = nox_error_new();
    nox_assert_ok(nox_exec(client, "wd", pwd, &o, &res, err), err);
    assert_string_equal(res->stdout_data, "/workspace/sub/dir\n");
    nox_exec_result_free(res);
    o.workdir = "/tmp";
    nox_assert_ok(nox_exec(client, "wd", pwd, &o, &res, err), err);
    assert_string_equal(res->stdout_data, "/tmp\n");
    nox_exec_result_free(res);
    o.workdir = "/workspace/missing";
    assert_int_equal(nox_exec(client, "wd", pwd, &o, &res, err), NOX_E_INVALID);
    assert_non_null(strstr(nox_error_message(err), "/workspace/missing"));
    nox_error_free(err);
}

static void test_timeout_kills_tree(void **s)
{
    (void)s;
    NEED_CLIENT();
    create("timeout");
    nox_exec_options o;
    nox_exec_options_init(&o);
    o.timeout_seconds = 1;
    /* Children in the group, in the background, and one that left the
     * session: all of them go. */
    const char *argv[] = { "sh", "-c",
                           "sleep 1001 & setsid sleep 1002 & (sleep 1003 &) ; echo started; "
                           "sleep 1000",
                           NULL };
    nox_error *err = nox_error_new();
    nox_exec_result *res = NULL;
    nox_assert_ok(nox_exec(client, "timeout", argv, &o, &res, err), err);
    assert_int_equal(res->exit_code, 124);
    assert_true(res->timed_out);
    assert_string_equal(res->stdout_data, "started\n");
    assert_non_null(strstr(res->stderr_data, "timed out after 1 second"));
    nox_exec_result_free(res);
    res = nox_test_sh(client, "timeout", "cat /proc/[0-9]*/cmdline | tr '\\0' ' '");
    assert_null(strstr(res->stdout_data, "sleep 100"));
    nox_exec_result_free(res);
    nox_error_free(err);
}

static void test_timeout_spares_other_execs(void **s)
{
    (void)s;
    NEED_CLIENT();
    create("spare");
    /* A background process from an earlier exec is not part of the next
     * exec's tree: the timeout of the second must not touch it. */
    nox_exec_result *res = nox_test_sh(client, "spare", "sleep 2001 >/dev/null 2>&1 &");
    assert_int_equal(res->exit_code, 0);
    nox_exec_result_free(res);
    nox_exec_options o;
    nox_exec_options_init(&o);
    o.timeout_seconds = 1;
    const char *argv[] = { "sleep", "60", NULL };
    nox_error *err = nox_error_new();
    nox_assert_ok(nox_exec(client, "spare", argv, &o, &res, err), err);
    assert_int_equal(res->exit_code, 124);
    nox_exec_result_free(res);
    res = nox_test_sh(client, "spare", "cat /proc/[0-9]*/cmdline | tr '\\0' ' '");
    assert_non_null(strstr(res->stdout_data, "sleep 2001"));
    nox_exec_result_free(res);
    nox_error_free(err);
}

static void test_large_output_both_streams(void **s)
{
    (void)s;
    NEED_CLIENT();
    create("big");
    /* Both streams at once, interleaved, well past a pipe buffer: a reader
     * that waited on one stream would deadlock here. */
    nox_exec_result *res = nox_test_sh(
        client, "big",
        "python3 -c 'import sys\nfor i in range(300):\n    sys.stdout.buffer.write(b\"o\" * 2000); "
        "sys.stdout.flush(); sys.stderr.buffer.write(b\"e\" * 2000); sys.stderr.flush()'");
    assert_int_equal(res->exit_code, 0);
    assert_int_equal(res->stdout_len, 600000);
    assert_int_equal(res->stderr_len, 600000);
    assert_false(res->stdout_truncated);
    for (size_t i = 0; i < res->stdout_len; i++)
        if (res->stdout_data[i] != 'o')
            fail_msg("stdout byte %zu is %d", i, res->stdout_data[i]);
    nox_exec_result_free(res);

    /* Past the cap: cut, drained, reported; the exit code stays real. */
    res = nox_test_sh(client, "big",
                      "head -c 3000000 /dev/zero; head -c 2500000 /dev/zero >&2; exit 3");
    assert_int_equal(res->exit_code, 3);
    assert_int_equal(res->stdout_len, 1 << 20);
    assert_int_equal(res->stderr_len, 1 << 20);
    assert_true(res->stdout_truncated);
    assert_true(res->stderr_truncated);
    nox_exec_result_free(res);

    /* Binary output, NUL bytes included, comes back byte for byte. */
    res = nox_test_sh(client, "big", "printf 'a\\000b\\377c'");
    assert_int_equal(res->stdout_len, 5);
    assert_memory_equal(res->stdout_data, "a\0b\377c", 5);
    nox_exec_result_free(res);
}

static void test_invalid_ids(void **s)
{
    (void)s;
    NEED_CLIENT();
    const char *bad[] = { "", "../x", "a/b", ".hidden", "..", "a b", "x\ny", "semi;colon", "ünï" };
    nox_error *err = nox_error_new();
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(nox_create(client, bad[i], NULL, NULL, err), NOX_E_INVALID);
        assert_non_null(strstr(nox_error_message(err), "session id"));
        assert_int_equal(nox_delete(client, bad[i], err), NOX_E_INVALID);
    }
    char longid[200];
    memset(longid, 'a', sizeof longid - 1);
    longid[sizeof longid - 1] = '\0';
    assert_int_equal(nox_create(client, longid, NULL, NULL, err), NOX_E_INVALID);
    longid[128] = '\0';
    nox_assert_ok(nox_create(client, longid, NULL, NULL, err), err);
    nox_assert_ok(nox_delete(client, longid, err), err);
    /* Nothing was made for the refused ids. */
    char *dir = nox_test_strf("%s/sandboxes", state);
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)))
        assert_true(e->d_name[0] != '.' || strcmp(e->d_name, ".") == 0 ||
                    strcmp(e->d_name, "..") == 0);
    closedir(d);
    free(dir);
    nox_error_free(err);
}

/* "sleep BASE.PID": a sleep whose command line is unique to this test run,
 * so host-wide checks cannot see another run's processes. GNU sleep takes
 * fractions. */
static char *uniq_sleep(int base)
{
    return nox_test_strf("sleep %d.%d", base, (int)getpid());
}

static bool host_has_process(const char *marker);

/* Waits (up to 30 s) until a process with @p marker is there (@p present)
 * or gone. A process in the middle of execve has an empty cmdline for a
 * moment, so one negative look proves nothing. */
static bool wait_process(const char *marker, bool present)
{
    for (int i = 0; i < 300; i++) {
        if (host_has_process(marker) == present)
            return true;
        usleep(100000);
    }
    return false;
}

static bool host_has_process(const char *marker)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    bool found = false;
    while (d && (e = readdir(d))) {
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
        if (strstr(cmd, marker))
            found = true;
        free(cmd);
    }
    if (d)
        closedir(d);
    return found;
}

/* Moves the expiry of sandbox @p id to @p when (white box: the expiry is
 * the mtime of sandboxes/ID/expires), so expiry tests need no sleeping. */
static void set_expiry(const char *id, time_t when)
{
    char *p = nox_test_strf("%s/sandboxes/%s/expires", state, id);
    struct timespec ts[2] = { { 0, UTIME_OMIT }, { when, 0 } };
    assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
    free(p);
}

static void test_expiry_and_touch(void **s)
{
    (void)s;
    NEED_CLIENT();
    nox_create_options co;
    nox_create_options_init(&co);
    co.ttl_seconds = 600;
    nox_error *err = nox_error_new();
    nox_assert_ok(nox_create(client, "ttl-touched", &co, NULL, err), err);
    nox_assert_ok(nox_create(client, "ttl-expires", &co, NULL, err), err);

    /* touch resets the clock to now + the sandbox's own TTL. */
    set_expiry("ttl-touched", time(NULL) + 30);
    nox_assert_ok(nox_touch(client, "ttl-touched", err), err);
    nox_sandbox *sb = NULL;
    nox_assert_ok(nox_info(client, "ttl-touched", &sb, err), err);
    time_t now = time(NULL);
    assert_true(sb->expires_at_unix >= now + 590 && sb->expires_at_unix <= now + 601);
    nox_sandbox_free(sb);

    /* Past its expiry a sandbox is gone for every operation. */
    set_expiry("ttl-expires", time(NULL) - 1);
    const char *argv[] = { "true", NULL };
    nox_exec_result *res = NULL;
    assert_int_equal(nox_exec(client, "ttl-expires", argv, NULL, &res, err), NOX_E_NOT_FOUND);
    assert_non_null(strstr(nox_error_message(err), "expired"));
    char *dir = nox_test_strf("%s/sandboxes/ttl-expires", state);
    assert_false(nox_test_exists(dir));
    free(dir);
    nox_assert_ok(nox_exec(client, "ttl-touched", argv, NULL, &res, err), err);
    nox_exec_result_free(res);

    /* An expired sandbox nobody touches: its holder stops by itself (it
     * watches the expiry), and the next client to open the state
     * directory removes it. */
    nox_assert_ok(nox_create(client, "ttl-swept", &co, NULL, err), err);
    char *sw = uniq_sleep(7777);
    char *script = nox_test_strf("%s >/dev/null 2>&1 &", sw);
    res = nox_test_sh(client, "ttl-swept", script);
    nox_exec_result_free(res);
    free(script);
    assert_true(wait_process(sw, true));
    /* The holder sleeps until the expiry it read (10 minutes away): a
     * create with a shorter TTL moves it earlier and must wake it. It
     * then stops everything at the new expiry, not before. */
    co.ttl_seconds = 1;
    nox_assert_ok(nox_create(client, "ttl-swept", &co, NULL, err), err);
    struct stat est;
    char *exp_path = nox_test_strf("%s/sandboxes/ttl-swept/expires", state);
    assert_int_equal(stat(exp_path, &est), 0);
    free(exp_path);
    assert_true(wait_process(sw, false));
    struct timespec gone;
    clock_gettime(CLOCK_REALTIME, &gone);
    /* 0.5 s of slack for the test's own polling and clock adjustments. */
    if ((double)gone.tv_sec + (double)gone.tv_nsec / 1e9 < (double)est.st_mtim.tv_sec - 0.5)
        fail_msg("the sandbox's processes were gone at %lld.%09ld, before its expiry %lld",
                 (long long)gone.tv_sec, gone.tv_nsec, (long long)est.st_mtim.tv_sec);
    free(sw);
    /* Past the expiry without doubt (it is a whole second), the next
     * client to open the state directory removes the sandbox. */
    while (time(NULL) <= est.st_mtim.tv_sec)
        usleep(50000);
    nox_client *other = nox_test_local_client_at(state);
    dir = nox_test_strf("%s/sandboxes/ttl-swept", state);
    assert_false(nox_test_exists(dir));
    free(dir);
    nox_client_free(other);
    nox_error_free(err);
}

/* The number of times process @p pid went to sleep. */
static long voluntary_switches(pid_t pid)
{
    char *path = nox_test_strf("/proc/%d/status", (int)pid);
    char *text = nox_test_read_file(path, NULL);
    free(path);
    assert_non_null(text);
    char *p = strstr(text, "voluntary_ctxt_switches:");
    assert_non_null(p);
    long n = strtol(p + strlen("voluntary_ctxt_switches:"), NULL, 10);
    free(text);
    return n;
}

/* The holder pid recorded in sandbox @p id's metadata. */
static pid_t holder_of(const char *id)
{
    char *path = nox_test_strf("%s/sandboxes/%s/meta.json", state, id);
    char *meta = nox_test_read_file(path, NULL);
    free(path);
    assert_non_null(meta);
    char *p = strstr(meta, "\"holderPid\":");
    assert_non_null(p);
    pid_t pid = (pid_t)strtol(p + strlen("\"holderPid\":"), NULL, 10);
    free(meta);
    return pid;
}

/* An idle holder sleeps until its sandbox's expiry: nothing wakes it. It
 * used to look at the expiry every second, and a thousand idle sandboxes
 * then slowed every process on the machine (docs/performance.md). After
 * an exec it looks once for processes left behind (the idle storage
 * check, 2 s later), then sleeps too. Counted in context switches, not
 * timed. */
static void test_idle_holder_sleeps(void **s)
{
    (void)s;
    NEED_CLIENT();
    create("sleeper");
    pid_t holder = holder_of("sleeper");
    assert_true(holder > 1);
    long before = voluntary_switches(holder);
    usleep(2500000);
    assert_int_equal(voluntary_switches(holder), before);

    nox_exec_result *res = nox_test_sh(client, "sleeper", "true");
    assert_int_equal(res->exit_code, 0);
    nox_exec_result_free(res);
    usleep(3000000);
    before = voluntary_switches(holder);
    usleep(1500000);
    assert_int_equal(voluntary_switches(holder), before);

    /* Still awake to its commands and its expiry. */
    res = nox_test_sh(client, "sleeper", "echo awake");
    assert_string_equal(res->stdout_data, "awake\n");
    nox_exec_result_free(res);
    nox_error *err = nox_error_new();
    nox_assert_ok(nox_delete(client, "sleeper", err), err);
    nox_error_free(err);
}

static void test_expiry_in_real_time(void **s)
{
    (void)s;
    NEED_CLIENT();
    /* The same with a real clock: a 2 s TTL ends by itself. Only a
     * generous deadline, no timing assertion. */
    nox_create_options co;
    nox_create_options_init(&co);
    co.ttl_seconds = 2;
    nox_error *err = nox_error_new();
    nox_assert_ok(nox_create(client, "ttl-real", &co, NULL, err), err);
    nox_sandbox *sb = NULL;
    int r = 0;
    for (int i = 0; i < 300; i++) {
        r = nox_info(client, "ttl-real", &sb, err);
        nox_sandbox_free(sb);
        sb = NULL;
        if (r == NOX_E_NOT_FOUND)
            break;
        usleep(100000);
    }
    assert_int_equal(r, NOX_E_NOT_FOUND);
    nox_error_free(err);
}

/* A create of an existing sandbox with another TTL rewrites the TTL kept
 * in its expires file. A write sets the file's mtime, which is the expiry,
 * to "now" until the expiry is set again right after: a use racing it was
 * told the sandbox had expired (test_load hit it under load). Creates that
 * alternate the TTL race touches from another client for a while; no
 * touch may fail. */
struct ttl_race {
    const char *id;
    volatile int stop;
    int failures;
    char first_error[256];
};

static void *ttl_race_toucher(void *arg)
{
    struct ttl_race *t = arg;
    nox_client *c = nox_test_local_client_at(state);
    nox_error *err = nox_error_new();
    while (!t->stop) {
        if (nox_touch(c, t->id, err) != 0 && t->failures++ == 0)
            snprintf(t->first_error, sizeof t->first_error, "%s", nox_error_message(err));
    }
    nox_error_free(err);
    nox_client_free(c);
    return NULL;
}

static void test_ttl_change_races_use(void **s)
{
    (void)s;
    NEED_CLIENT();
    struct ttl_race t = { .id = "ttl-race" };
    create(t.id);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, ttl_race_toucher, &t), 0);
    nox_create_options co;
    nox_create_options_init(&co);
    nox_error *err = nox_error_new();
    for (int i = 0; i < 3000; i++) {
        co.ttl_seconds = 600 + i % 2;
        nox_assert_ok(nox_create(client, t.id, &co, NULL, err), err);
    }
    t.stop = 1;
    pthread_join(th, NULL);
    if (t.failures)
        fail_msg("%d touches failed while creates changed the TTL; the first: %s", t.failures,
                 t.first_error);
    nox_assert_ok(nox_delete(client, t.id, err), err);
    nox_error_free(err);
}

static void age(const char *path, time_t seconds)
{
    struct timespec ts[2] = { { time(NULL) - seconds, 0 }, { time(NULL) - seconds, 0 } };
    assert_int_equal(utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW), 0);
}

/* Field 22 of /proc/PID/stat: the process's start time. */
static unsigned long long proc_start(pid_t pid)
{
    char *path = nox_test_strf("/proc/%d/stat", (int)pid);
    char *text = nox_test_read_file(path, NULL);
    free(path);
    assert_non_null(text);
    /* After the command's ')' each space starts the next field (3...). */
    char *p = strrchr(text, ')');
    assert_non_null(p);
    int field = 2;
    for (p++; *p && field < 22; p++)
        if (*p == ' ')
            field++;
    assert_int_equal(field, 22);
    unsigned long long v = strtoull(p, NULL, 10);
    free(text);
    return v;
}

static void test_sweep_removes_crash_leftovers(void **s)
{
    (void)s;
    NEED_CLIENT();
    create("survivor");
    /* What a process killed mid-upload and mid-delete leaves: an unlocked
     * staging directory and a uid slot whose sandbox is gone. (The
     * staging area exists from the first upload on.) */
    char *staging = nox_test_strf("%s/sandboxes/survivor/staging", state);
    assert_true(mkdir(staging, 0700) == 0 || errno == EEXIST);
    free(staging);
    char *orphan = nox_test_strf("%s/sandboxes/survivor/staging/.nox-extract-dead00", state);
    assert_int_equal(mkdir(orphan, 0700), 0);
    char *inside = nox_test_strf("%s/half.txt", orphan);
    nox_test_write_file(inside, "half", 4);
    age(orphan, 600);
    char *young = nox_test_strf("%s/sandboxes/survivor/staging/.nox-extract-young0", state);
    assert_int_equal(mkdir(young, 0700), 0);
    char *slot = nox_test_strf("%s/uids/424242", state);
    nox_test_write_file(slot, "ghost", 5);
    age(slot, 600);
    /* Spare holders' slots name the process keeping the spares: kept
     * while it lives, freed once it is gone. */
    char *live = nox_test_strf("%s/uids/424243", state);
    char *owner = nox_test_strf("spare %d %llu", (int)getpid(), proc_start(getpid()));
    nox_test_write_file(live, owner, strlen(owner));
    age(live, 600);
    pid_t gone = fork();
    assert_true(gone >= 0);
    if (gone == 0) {
        pause();
        _exit(0);
    }
    char *dead = nox_test_strf("%s/uids/424244", state);
    char *dead_owner = nox_test_strf("spare %d %llu", (int)gone, proc_start(gone));
    kill(gone, SIGKILL);
    waitpid(gone, NULL, 0);
    nox_test_write_file(dead, dead_owner, strlen(dead_owner));
    age(dead, 600);
    /* A minute since the last deep sweep. */
    char *mark = nox_test_strf("%s/.swept", state);
    if (nox_test_exists(mark))
        age(mark, 600);
    nox_client *other = nox_test_local_client_at(state);
    assert_false(nox_test_exists(orphan));
    assert_true(nox_test_exists(young)); /* it could be an upload being made */
    assert_false(nox_test_exists(slot));
    assert_true(nox_test_exists(live));
    assert_false(nox_test_exists(dead));
    unlink(live);
    free(live);
    free(owner);
    free(dead);
    free(dead_owner);
    /* The live sandbox keeps its slot and works. */
    nox_sandbox *sb = NULL;
    nox_error *err = nox_error_new();
    nox_assert_ok(nox_info(other, "survivor", &sb, err), err);
    nox_sandbox_free(sb);
    nox_exec_result *res = nox_test_sh(other, "survivor", "echo ok");
    assert_string_equal(res->stdout_data, "ok\n");
    nox_exec_result_free(res);
    rmdir(young);
    nox_client_free(other);
    nox_error_free(err);
    free(orphan);
    free(inside);
    free(young);
    free(slot);
    free(mark);
}

static void test_two_processes_share_state(void **s)
{
    (void)s;
    NEED_CLIENT();
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        nox_client *c = nox_test_local_client_at(state);
        int ok = nox_create(c, "shared", NULL, NULL, NULL) == 0;
        nox_exec_result *res = NULL;
        const char *argv[] = { "sh", "-c", "echo from-child > /workspace/f", NULL };
        ok = ok && nox_exec(c, "shared", argv, NULL, &res, NULL) == 0 && res->exit_code == 0;
        nox_exec_result_free(res);
        nox_client_free(c);
        _exit(ok ? 0 : 1);
    }
    assert_child_ok(pid);
    nox_exec_result *res = nox_test_sh(client, "shared", "cat /workspace/f");
    assert_string_equal(res->stdout_data, "from-child\n");
    nox_exec_result_free(res);
}

static void test_background_processes_persist(void **s)
{
    (void)s;
    NEED_CLIENT();
    create("pod");
    /* Not redirected: the exec must still end when sh ends, and the
     * background process must survive writing to the old stdout later. */
    nox_exec_result *res =
        nox_test_sh(client, "pod", "(sleep 1; echo late; echo late >&2; exec sleep 3001) &");
    assert_int_equal(res->exit_code, 0);
    nox_exec_result_free(res);
    sleep(2);
    res = nox_test_sh(client, "pod", "cat /proc/[0-9]*/cmdline | tr '\\0' ' '");
    assert_non_null(strstr(res->stdout_data, "sleep 3001"));
    nox_exec_result_free(res);
    /* A server on a loopback port, reached from the next exec. */
    res = nox_test_sh(client, "pod",
                      "cd /tmp && python3 -m http.server 8765 --bind 127.0.0.1 & sleep 1");
    nox_exec_result_free(res);
    res = nox_test_sh(client, "pod",
                      "for i in 1 2 3 4 5; do python3 -c 'import urllib.request;"
                      "print(urllib.request.urlopen(\"http://127.0.0.1:8765/\").status)' && "
                      "break; sleep 1; done");
    assert_string_equal(res->stdout_data, "200\n");
    nox_exec_result_free(res);
}

static void test_delete_kills_everything(void **s)
{
    (void)s;
    NEED_CLIENT();
    create("doomed");
    char *a = uniq_sleep(4242), *b = uniq_sleep(4243);
    char *script = nox_test_strf("%s & setsid sh -c '%s &' ; true", a, b);
    nox_exec_result *res = nox_test_sh(client, "doomed", script);
    nox_exec_result_free(res);
    free(script);
    assert_true(wait_process(a, true));
    assert_true(wait_process(b, true));
    nox_error *err = nox_error_new();
    nox_assert_ok(nox_delete(client, "doomed", err), err);
    assert_false(host_has_process(a));
    assert_false(host_has_process(b));
    free(a);
    free(b);
    char *dir = nox_test_strf("%s/sandboxes/doomed", state);
    assert_false(nox_test_exists(dir));
    free(dir);
    nox_error_free(err);
}

static void test_upload_download(void **s)
{
    (void)s;
    NEED_CLIENT();
    create("files");
    nox_error *err = nox_error_new();
    nox_file files[] = {
        { "a.txt", "alpha\n", 6, 0 },
        { "dir/b.bin", "\0\1\2\377", 4, 0600 },
        { "run.sh", "#!/bin/sh\necho ran\n", 19, 0755 },
    };
    nox_assert_ok(nox_upload_files(client, "files", files, 3, NULL, err), err);
    nox_exec_result *res = nox_test_sh(client, "files",
                                       "cat a.txt; od -An -tx1 dir/b.bin; ./run.sh; "
                                       "stat -c '%a %u' dir/b.bin; echo more >> a.txt");
    assert_int_equal(res->exit_code, 0);
    assert_string_equal(res->stdout_data, "alpha\n 00 01 02 ff\nran\n600 1000\n");
    nox_exec_result_free(res);

    /* Upload into a subdirectory that does not exist yet. */
    nox_assert_ok(nox_upload_files(client, "files", files, 1, "/workspace/deep/er", err), err);
    res = nox_test_sh(client, "files", "cat /workspace/deep/er/a.txt");
    assert_string_equal(res->stdout_data, "alpha\n");
    nox_exec_result_free(res);
    /* Outside /workspace is refused, not redirected. */
    assert_int_equal(nox_upload_files(client, "files", files, 1, "/etc", err), NOX_E_INVALID);
    assert_int_equal(nox_upload_files(client, "files", files, 1, "/workspace/../etc", err),
                     NOX_E_INVALID);

    /* Download to memory, then to a directory. */
    void *data = NULL;
    size_t size = 0;
    nox_assert_ok(nox_download(client, "files", NULL, &data, &size, err), err);
    assert_true(size > 20);
    assert_int_equal(((unsigned char *)data)[0], 0x1f);
    assert_int_equal(((unsigned char *)data)[1], 0x8b);
    free(data);
    char *local = nox_test_mkdtemp("dl");
    bool any = false;
    nox_assert_ok(nox_download_workspace(client, "files", NULL, local, &any, err), err);
    assert_true(any);
    char *p = nox_test_strf("%s/a.txt", local);
    char *got = nox_test_read_file(p, NULL);
    assert_string_equal(got, "alpha\nmore\n");
    free(got);
    free(p);
    p = nox_test_strf("%s/run.sh", local);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0755);
    free(p);

    /* A single file as src. */
    char *local2 = nox_test_mkdtemp("dl1");
    nox_assert_ok(
        nox_download_workspace(client, "files", "/workspace/dir/b.bin", local2, &any, err), err);
    p = nox_test_strf("%s/b.bin", local2);
    size_t n = 0;
    got = nox_test_read_file(p, &n);
    assert_int_equal(n, 4);
    assert_memory_equal(got, "\0\1\2\377", 4);
    free(got);
    free(p);
    assert_int_equal(nox_download(client, "files", "/workspace/nope", &data, &size, err),
                     NOX_E_NOT_FOUND);

    /* Upload a local tree. */
    char *tree = nox_test_mkdtemp("tree");
    p = nox_test_strf("%s/x/y/z.txt", tree);
    nox_test_write_file(p, "zed", 3);
    free(p);
    nox_assert_ok(nox_upload_dir(client, "files", tree, "/workspace/tree", err), err);
    res = nox_test_sh(client, "files", "cat /workspace/tree/x/y/z.txt");
    assert_string_equal(res->stdout_data, "zed");
    nox_exec_result_free(res);

    nox_test_rmtree(local);
    nox_test_rmtree(local2);
    nox_test_rmtree(tree);
    free(local);
    free(local2);
    free(tree);
    nox_error_free(err);
}

struct canceller {
    nox_client *c;
    useconds_t after_us;
};

static void *cancel_later(void *arg)
{
    struct canceller *k = arg;
    usleep(k->after_us);
    /* Until it hits a running call (1): a cancel before the call started
     * would be forgotten. */
    for (int i = 0; i < 2000 && !nox_client_cancel(k->c); i++)
        usleep(5000);
    return NULL;
}

static void test_cancel(void **s)
{
    (void)s;
    NEED_CLIENT();
    create("cancel");
    /* A cancel from another thread stops a running exec and its tree. */
    struct canceller k = { client, 500000 };
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, cancel_later, &k), 0);
    char *a = uniq_sleep(6161), *b = uniq_sleep(6162);
    char *script = nox_test_strf("%s & %s", a, b);
    const char *argv[] = { "sh", "-c", script, NULL };
    nox_error *err = nox_error_new();
    nox_exec_result *res = NULL;
    assert_int_equal(nox_exec(client, "cancel", argv, NULL, &res, err), NOX_E_CANCELLED);
    pthread_join(t, NULL);
    assert_true(wait_process(a, false));
    assert_true(wait_process(b, false));
    free(a);
    free(b);
    free(script);
    /* A cancel that came while nothing ran says so (0), and does not hit
     * the next call. */
    assert_int_equal(nox_client_cancel(client), 0);
    res = nox_test_sh(client, "cancel", "echo after");
    assert_string_equal(res->stdout_data, "after\n");
    nox_exec_result_free(res);
    /* wait_ready stops waiting: against a backend that refuses every
     * connection it would retry for 20 s. */
    nox_client_options o;
    nox_client_options_init(&o);
    o.base_url = "http://127.0.0.1:1";
    nox_client *down = NULL;
    nox_assert_ok(nox_client_new(&o, &down, err), err);
    k.c = down;
    assert_int_equal(pthread_create(&t, NULL, cancel_later, &k), 0);
    assert_int_equal(nox_wait_ready(down, "cancel", 20000, 200, err), NOX_E_CANCELLED);
    pthread_join(t, NULL);
    nox_client_free(down);
    nox_error_free(err);
}

static void test_upload_path(void **s)
{
    (void)s;
    NEED_CLIENT();
    create("path");
    char *dir = nox_test_mkdtemp("path");
    char *file = nox_test_strf("%s/single.txt", dir);
    nox_test_write_file(file, "one file", 8);
    nox_error *err = nox_error_new();
    nox_assert_ok(nox_upload_path(client, "path", file, "/workspace/in", err), err);
    nox_assert_ok(nox_upload_path(client, "path", dir, "/workspace/tree", err), err);
    nox_exec_result *res = nox_test_sh(client, "path", "cat in/single.txt tree/single.txt");
    assert_string_equal(res->stdout_data, "one fileone file");
    nox_exec_result_free(res);
    assert_int_equal(nox_upload_path(client, "path", "/dev/null", NULL, err), NOX_E_INVALID);
    assert_int_equal(nox_upload_path(client, "path", "/nonexistent/x", NULL, err), NOX_E_NOT_FOUND);
    nox_test_rmtree(dir);
    free(dir);
    free(file);
    nox_error_free(err);
}

static void test_list_and_info(void **s)
{
    (void)s;
    NEED_CLIENT();
    create("listed-a");
    create("listed-b");
    nox_error *err = nox_error_new();
    nox_sandbox_list *list = NULL;
    nox_assert_ok(nox_list(client, &list, err), err);
    bool a = false, b = false;
    for (size_t i = 0; i < list->count; i++) {
        a |= strcmp(list->items[i].id, "listed-a") == 0;
        b |= strcmp(list->items[i].id, "listed-b") == 0;
        if (i > 0)
            assert_true(strcmp(list->items[i - 1].id, list->items[i].id) < 0);
    }
    assert_true(a && b);
    nox_sandbox_list_free(list);
    nox_exec_result *res = nox_test_sh(client, "listed-a", "head -c 100000 /dev/zero > f");
    nox_exec_result_free(res);
    nox_sandbox *sb = NULL;
    nox_assert_ok(nox_info(client, "listed-a", &sb, err), err);
    assert_int_equal(sb->running, 1);
    assert_true(sb->disk_used_bytes >= 100000);
    bool mem = false;
    for (size_t i = 0; i < sb->n_limits; i++)
        if (strcmp(sb->limits[i].name, "memory") == 0)
            mem = sb->limits[i].value == 512ull << 20;
    assert_true(mem);
    nox_sandbox_free(sb);
    assert_int_equal(nox_info(client, "listed-none", &sb, err), NOX_E_NOT_FOUND);
    nox_error_free(err);
}

static void test_wait_ready(void **s)
{
    (void)s;
    NEED_CLIENT();
    create("ready");
    nox_error *err = nox_error_new();
    nox_assert_ok(nox_wait_ready(client, "ready", 5000, 100, err), err);
    assert_int_equal(nox_wait_ready(client, "not-there", 500, 100, err), NOX_E_NOT_FOUND);
    nox_error_free(err);
}

static void test_holder_restart_keeps_files(void **s)
{
    (void)s;
    NEED_CLIENT();
    create("revive");
    nox_exec_result *res = nox_test_sh(client, "revive", "echo still > /workspace/f");
    nox_exec_result_free(res);
    /* Kill the holder from the host, as a reboot or an OOM kill would. */
    res = nox_test_sh(client, "revive", "echo $PPID");
    nox_exec_result_free(res);
    char *sock = nox_test_strf("%s/sandboxes/revive/ctl.sock", state);
    assert_true(nox_test_exists(sock));
    char *meta = nox_test_strf("%s/sandboxes/revive/meta.json", state);
    char *text = nox_test_read_file(meta, NULL);
    char *hp = strstr(text, "\"holderPid\":");
    assert_non_null(hp);
    char *end;
    pid_t holder = (pid_t)strtol(hp + strlen("\"holderPid\":"), &end, 10);
    assert_true(end != hp + strlen("\"holderPid\":"));
    assert_true(holder > 1);
    assert_int_equal(kill(holder, SIGKILL), 0);
    /* Its cgroups go too, as after a delete killed half way: the next
     * holder gets new ones. */
    char *dirs = strstr(text, "\"cgroupDirs\"");
    char *cg[4] = { NULL };
    int ncg = 0;
    for (char *q = dirs ? strchr(dirs, '[') : NULL; q && ncg < 4;) {
        char *a = strchr(q, '"');
        char *close_br = strchr(q, ']');
        if (!a || (close_br && a > close_br))
            break;
        char *b = strchr(a + 1, '"');
        cg[ncg++] = strndup(a + 1, (size_t)(b - a - 1));
        q = b + 1;
    }
    for (int i = 0; i < ncg; i++)
        for (int k = 0; k < 200 && rmdir(cg[i]) < 0 && errno == EBUSY; k++)
            usleep(10000);
    res = nox_test_sh(client, "revive", "cat /workspace/f");
    assert_string_equal(res->stdout_data, "still\n");
    nox_exec_result_free(res);
    for (int i = 0; i < ncg; i++) {
        assert_true(nox_test_exists(cg[i]));
        free(cg[i]);
    }
    free(text);
    free(meta);
    free(sock);
}

#define NOX_MAX_SPARES_SEEN 8

/* The state letter of process @p pid ('\0' when it is gone), with its
 * parent in @p ppid and whether it runs nox-init in @p nox_init. */
static char proc_state(pid_t pid, long *ppid, bool *nox_init)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return '\0';
    size_t k = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[k] = '\0';
    /* "PID (COMM) STATE PPID ..." */
    char *rp = strrchr(buf, ')');
    if (!rp || strlen(rp) < 5)
        return '\0';
    if (ppid)
        *ppid = strtol(rp + 4, NULL, 10);
    if (nox_init)
        *nox_init = strstr(buf, "(nox-init)") != NULL;
    return rp[2];
}

/* Whether the library makes prepared holders its spares: as root, where
 * open_tree is known (not under valgrind 3.19, which does not know it). */
static bool spares_prepared(void)
{
    static int known = -1;
    if (known < 0) {
        known = 0;
#ifdef SYS_open_tree
        int fd = (int)syscall(SYS_open_tree, AT_FDCWD, "/", (unsigned)O_CLOEXEC);
        if (fd >= 0)
            close(fd);
        known = geteuid() == 0 && fd >= 0;
#endif
    }
    return known;
}

/* Set when count_spares() saw a spare holding a sandbox's descriptors. */
static bool spare_has_sandbox;

/* The real uid of process @p pid, or -1. */
static long proc_uid(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "re");
    long uid = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "Uid:", 4) == 0)
            uid = strtol(line + 4, NULL, 10);
    if (f)
        fclose(f);
    return uid;
}

/* The host uids of the prepared holders this process keeps as spares
 * (running as root): their uid slots name this process. */
static int spare_slot_uids(long *uids, int max)
{
    const char *b = getenv("NOXRUNNER_UID_BASE");
    long base = b ? strtol(b, NULL, 10) : 1000000000L;
    char *dir = nox_test_strf("%s/uids", state);
    char *want = nox_test_strf("spare %d ", (int)getpid());
    int n = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        char *path = nox_test_strf("%s/%s", dir, e->d_name);
        char *text = nox_test_read_file(path, NULL);
        if (text && strncmp(text, want, strlen(want)) == 0 && n < max)
            uids[n++] = base + strtol(e->d_name, NULL, 10);
        free(text);
        free(path);
    }
    if (d)
        closedir(d);
    free(dir);
    free(want);
    return n;
}

/* This process's spares. Running as root (with open_tree) they are
 * prepared holders, waiting for a sandbox: the nox-init processes running
 * as the uid of one of its spare uid slots (its children running nox-init
 * then are launchers preparing one, counted in @p ret_launchers).
 * Otherwise they are launchers, waiting for a configuration: its children
 * running nox-init. Either holds no descriptor of a sandbox. */
static int count_spares(pid_t *pids, int max, int *ret_launchers)
{
    bool prepared = spares_prepared();
    long uids[NOX_MAX_SPARES_SEEN * 2];
    int n_uids = spare_slot_uids(uids, NOX_MAX_SPARES_SEEN * 2);
    int n = 0;
    DIR *d = opendir("/proc");
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        pid_t pid = (pid_t)strtol(e->d_name, NULL, 10);
        long ppid = 0;
        bool nox_init = false;
        if (pid <= 0)
            continue;
        char st = proc_state(pid, &ppid, &nox_init);
        if (!st || st == 'Z' || !nox_init)
            continue;
        if (ret_launchers && ppid == (long)getpid())
            (*ret_launchers)++;
        bool spare = !prepared && ppid == (long)getpid();
        long uid = n_uids ? proc_uid(pid) : -1;
        for (int i = 0; i < n_uids && !spare; i++)
            spare = uid == uids[i] && ppid != (long)getpid();
        if (!spare)
            continue;
        /* Nothing of a sandbox. A launcher has no descriptor but 0-3; a
         * holder being prepared opens files of its root file system for
         * a moment (at the lowest free numbers, 4 and up), but never the
         * expires file (6) a claim brings. Runs in forked children: a
         * failure is recorded, not asserted. */
        char path[64], link[512];
        snprintf(path, sizeof path, "/proc/%d/fd/6", (int)pid);
        ssize_t k = readlink(path, link, sizeof link - 1);
        link[k > 0 ? k : 0] = '\0';
        snprintf(path, sizeof path, "/proc/%d/fd/4", (int)pid);
        if (prepared ? strstr(link, "/expires") != NULL : k > 0 || nox_test_exists(path)) {
            fprintf(stderr, "spare %d holds a sandbox's descriptors (fd 6: %s)\n", (int)pid, link);
            spare_has_sandbox = true;
        }
        if (pids && n < max)
            pids[n] = pid;
        n++;
    }
    closedir(d);
    return n;
}

/* Creates @p id, runs `echo spare` in it and, with @p del, deletes it:
 * true when all of it worked. */
static bool spare_round(nox_client *c, const char *id, bool del)
{
    const char *argv[] = { "sh", "-c", "echo $0", "spare", NULL };
    nox_exec_result *res = NULL;
    bool ok = nox_create(c, id, NULL, NULL, NULL) == 0 &&
              nox_exec(c, id, argv, NULL, &res, NULL) == 0 && res->exit_code == 0 &&
              strcmp(res->stdout_data, "spare\n") == 0 && (!del || nox_delete(c, id, NULL) == 0);
    nox_exec_result_free(res);
    return ok;
}

/* Waits up to 10 s for @p n live spares, ready to be taken; returns how
 * many there are. A prepared holder shows before it is ready: it is once
 * its launcher has left, and the thread puts it in the pool a moment
 * later (given 0.2 s here). */
static int wait_spares(int n, pid_t *first)
{
    int have = 0;
    for (int t = 0; t < 1000; t++) {
        int launchers = 0;
        have = count_spares(first, 1, &launchers);
        if (have == n && (!spares_prepared() || launchers == 0))
            break;
        usleep(10000);
    }
    if (spares_prepared())
        usleep(200000);
    return have;
}

/* spare_launchers: creates take launchers that a thread of the library
 * started ahead of time and keeps at the number asked for; a spare killed
 * from outside is skipped; a bad count is refused; the spares leave once
 * the process's end of their channel closes (checked in a child
 * process). */
static void test_spare_launchers(void **s)
{
    (void)s;
    NEED_CLIENT();
    nox_error *err = nox_error_new();
    nox_client_options o;
    nox_client_options_init(&o);
    o.local = true;
    o.state_dir = state;
    o.spare_launchers = 17;
    nox_client *c = NULL;
    assert_int_equal(nox_client_new(&o, &c, err), NOX_E_INVALID);
    assert_non_null(strstr(nox_error_message(err), "spare_launchers"));

    int pp[2];
    assert_int_equal(pipe(pp), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* In a child, so that the spares' life is this process's. */
        close(pp[0]);
        o.spare_launchers = 2;
        int ok = nox_client_new(&o, &c, NULL) == 0;
        int spares[5] = { 0 };
        for (int i = 0; ok && i < 5; i++) {
            char id[32];
            snprintf(id, sizeof id, "spare-%d", i);
            ok = spare_round(c, id, false);
            pid_t victim = 0;
            spares[i] = wait_spares(2, &victim);
            if (i == 2 && victim > 0) {
                /* Killed and ended before the next create: it is skipped. */
                kill(victim, SIGKILL);
                for (int t = 0; t < 1000; t++) {
                    char st = proc_state(victim, NULL, NULL);
                    if (!st || st == 'Z')
                        break;
                    usleep(10000);
                }
            }
        }
        /* A child of this process, forked while the spares' thread runs,
         * uses spares of its own (a deadlock on the copied lock or
         * condition would hang it: it gets 60 s), and this process's
         * spares are still there after it. */
        pid_t g = fork();
        if (g == 0) {
            nox_client *d = NULL;
            int gok = nox_client_new(&o, &d, NULL) == 0;
            for (int i = 0; gok && i < 3; i++) {
                char id[32];
                snprintf(id, sizeof id, "spare-g%d", i);
                gok = spare_round(d, id, true);
            }
            nox_client_free(d);
            nox_error_free(err);
            _exit(gok ? 0 : 1);
        }
        int gst = -1;
        for (int t = 0; g > 0 && t < 6000 && waitpid(g, &gst, WNOHANG) == 0; t++)
            usleep(10000);
        if (g > 0 && gst == -1) {
            kill(g, SIGKILL);
            waitpid(g, NULL, 0);
            fprintf(stderr, "a forked child's creates with spares hung\n");
        }
        ok = ok && g > 0 && gst != -1 && WIFEXITED(gst) && WEXITSTATUS(gst) == 0;
        ok = ok && wait_spares(2, NULL) == 2;
        for (int i = 0; i < 5; i++) {
            char id[32];
            snprintf(id, sizeof id, "spare-%d", i);
            ok = ok && nox_delete(c, id, NULL) == 0;
        }
        nox_client_free(c);
        pid_t left[NOX_MAX_SPARES_SEEN];
        int n_left = count_spares(left, NOX_MAX_SPARES_SEEN, NULL);
        if (n_left > 0 && write(pp[1], left, sizeof(pid_t) * (size_t)n_left) < 0)
            ok = 0;
        /* The thread keeps two. After the kill the dead one may still
         * hold a place until a create comes to it, skips it and has it
         * replaced. */
        ok = ok && !spare_has_sandbox && spares[0] == 2 && spares[1] == 2 && spares[2] == 2 &&
             spares[3] >= 1 && spares[4] == 2;
        if (!ok)
            fprintf(stderr, "spares after each create: %d %d %d %d %d\n", spares[0], spares[1],
                    spares[2], spares[3], spares[4]);
        nox_error_free(err); /* the parent's, copied by fork: valgrind checks the child too */
        _exit(ok ? 0 : 1);
    }
    close(pp[1]);
    pid_t left[NOX_MAX_SPARES_SEEN];
    ssize_t k = read(pp[0], left, sizeof left);
    close(pp[0]);
    assert_child_ok(pid);
    /* The spares the child left saw their channel close and ended (a
     * prepared holder's parent is the host's init, which reaps it when
     * it will: a zombie has ended). */
    assert_true(k >= (ssize_t)sizeof(pid_t));
    for (size_t i = 0; i < (size_t)k / sizeof(pid_t); i++) {
        char ps = proc_state(left[i], NULL, NULL);
        for (int t = 0; t < 1000 && ps && ps != 'Z'; t++) {
            usleep(10000);
            ps = proc_state(left[i], NULL, NULL);
        }
        assert_true(!ps || ps == 'Z');
    }
    nox_error_free(err);
}

/* The metadata records the holder's pid with its start time, which is
 * what guards every later kill against a recycled pid (a parser that was
 * off by one field recorded 0, and the kill after a failed shutdown never
 * ran). */
static void test_holder_start_recorded(void **s)
{
    (void)s;
    NEED_CLIENT();
    create("start-time");
    char *meta_path = nox_test_strf("%s/sandboxes/start-time/meta.json", state);
    char *meta = nox_test_read_file(meta_path, NULL);
    assert_non_null(meta);
    char *q = strstr(meta, "\"holderStart\": ");
    assert_non_null(q);
    pid_t holder = holder_of("start-time");
    unsigned long long start = strtoull(q + strlen("\"holderStart\": "), NULL, 10);
    assert_true(holder > 1);
    assert_true(start > 0);
    assert_true(start == proc_start(holder));
    nox_error *err = nox_error_new();
    nox_assert_ok(nox_delete(client, "start-time", err), err);
    nox_error_free(err);
    free(meta);
    free(meta_path);
}

/* A create that takes a prepared holder (root, isolation, spares) gets a
 * complete sandbox of its own: its host name and /etc, its workspace, its
 * cgroups (and a cgroup namespace rooted there), the spare's uid slot
 * recorded under its id, no capabilities, the filter. */
static void test_prepared_holder(void **s)
{
    (void)s;
    NEED_CLIENT();
    if (!spares_prepared()) {
        fprintf(stderr, "skipped, because holders are prepared only for a library running as "
                        "root where open_tree works (Linux 5.2; not under valgrind 3.19)\n");
        skip();
    }
    /* The state directory is a shared mount, as / is under systemd: the
     * workspace a holder gets through open_tree must still be private. */
    char *shared = nox_test_strf("%s.shared", state);
    assert_int_equal(mkdir(shared, 0700), 0);
    assert_int_equal(mount(shared, shared, NULL, MS_BIND, NULL), 0);
    assert_int_equal(mount(NULL, shared, NULL, MS_SHARED, NULL), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* In a child: the spares' life is this process's. */
        state = shared;
        nox_client_options o;
        nox_client_options_init(&o);
        o.local = true;
        o.state_dir = state;
        o.spare_launchers = 1;
        nox_client *c = NULL;
        int ok = nox_client_new(&o, &c, NULL) == 0;
        /* The first create starts the spares' thread; the second takes
         * the spare made meanwhile. */
        ok = ok && spare_round(c, "prep-warmup", true);
        pid_t spare = 0;
        ok = ok && wait_spares(1, &spare) == 1 && !spare_has_sandbox;
        ok = ok && nox_create(c, "prep-a", NULL, NULL, NULL) == 0;
        char *meta_path = nox_test_strf("%s/sandboxes/prep-a/meta.json", state);
        char *meta = nox_test_read_file(meta_path, NULL);
        char want[64];
        snprintf(want, sizeof want, "\"holderPid\": %d,", (int)spare);
        if (!meta || !strstr(meta, want)) {
            fprintf(stderr, "prep-a's holder is not the spare %d:\n%s\n", (int)spare,
                    meta ? meta : "(no metadata)");
            ok = 0;
        }
        nox_exec_result *res = ok ? nox_test_sh(c, "prep-a",
                                                "hostname; cat /etc/hostname; "
                                                "grep -c nox-prep-a /etc/hosts; "
                                                "grep -vc ':/$' /proc/self/cgroup; "
                                                "grep -E '^(CapEff|NoNewPrivs|Seccomp):' "
                                                "/proc/self/status | tr -s '\t' ' '; "
                                                "echo made > /workspace/f; "
                                                "touch /etc/x 2>/dev/null || echo ro")
                                  : NULL;
        const char *expect = "nox-prep-a\nnox-prep-a\n1\n0\nCapEff: 0000000000000000\n"
                             "NoNewPrivs: 1\nSeccomp: 2\nro\n";
        if (!res || res->exit_code != 0 || strcmp(res->stdout_data, expect) != 0) {
            fprintf(stderr, "in prep-a: exit %d\n%s%s\n", res ? res->exit_code : -1,
                    res ? res->stdout_data : "", res ? res->stderr_data : "");
            ok = 0;
        }
        nox_exec_result_free(res);
        char *mi_path = nox_test_strf("/proc/%d/mountinfo", (int)spare);
        char *mi = nox_test_read_file(mi_path, NULL);
        char *ws = mi ? strstr(mi, " /workspace ") : NULL;
        char *eol = ws ? strchr(ws, '\n') : NULL;
        if (!ws || !eol || memmem(ws, (size_t)(eol - ws), "shared:", 7)) {
            fprintf(stderr, "prep-a's /workspace is not a private mount:\n%s\n", mi ? mi : "");
            ok = 0;
        }
        free(mi);
        free(mi_path);
        char *made = nox_test_strf("%s/sandboxes/prep-a/workspace/f", state);
        char *text = nox_test_read_file(made, NULL);
        ok = ok && text && strcmp(text, "made\n") == 0;
        free(text);
        /* The holder is in each of the sandbox's cgroups (the metadata
         * lists them one per line). */
        char *p = meta ? strstr(meta, "\"cgroupDirs\": [") : NULL;
        char *end = p ? strchr(p, ']') : NULL;
        int n_dirs = 0;
        for (char *q = p ? strchr(p, '\n') : NULL; q && q < end; q = strchr(q + 1, '\n')) {
            char dir[512];
            if (sscanf(q, " \"%511[^\"]\"", dir) != 1)
                continue;
            n_dirs++;
            char *procs_path = nox_test_strf("%s/cgroup.procs", dir);
            char *procs = nox_test_read_file(procs_path, NULL);
            char line[32];
            snprintf(line, sizeof line, "%d\n", (int)spare);
            if (!procs || strncmp(procs, line, strlen(line)) != 0) {
                fprintf(stderr, "holder %d not in %s: %s\n", (int)spare, dir,
                        procs ? procs : "(unreadable)");
                ok = 0;
            }
            free(procs);
            free(procs_path);
        }
        if (n_dirs == 0) {
            fprintf(stderr, "no cgroups in prep-a's metadata\n");
            ok = 0;
        }
        /* The spare's uid slot is the sandbox's now. */
        char *slot = meta ? strstr(meta, "\"uidSlot\": ") : NULL;
        char *slot_path =
            nox_test_strf("%s/uids/%ld", state, slot ? strtol(slot + 11, NULL, 10) : -1L);
        char *owner = nox_test_read_file(slot_path, NULL);
        ok = ok && owner && strcmp(owner, "prep-a") == 0;
        ok = ok && nox_delete(c, "prep-a", NULL) == 0 && !nox_test_exists(slot_path);
        free(owner);
        free(slot_path);
        free(made);
        free(meta);
        free(meta_path);
        nox_client_free(c);
        _exit(ok ? 0 : 1);
    }
    assert_child_ok(pid);
    assert_int_equal(umount2(shared, MNT_DETACH), 0);
    nox_test_rmtree(shared);
    free(shared);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_exec_delete),
        cmocka_unit_test(test_create_is_idempotent),
        cmocka_unit_test(test_exit_codes),
        cmocka_unit_test(test_args_verbatim_and_env),
        cmocka_unit_test(test_workdir),
        cmocka_unit_test(test_timeout_kills_tree),
        cmocka_unit_test(test_timeout_spares_other_execs),
        cmocka_unit_test(test_large_output_both_streams),
        cmocka_unit_test(test_invalid_ids),
        cmocka_unit_test(test_expiry_and_touch),
        cmocka_unit_test(test_ttl_change_races_use),
        cmocka_unit_test(test_expiry_in_real_time),
        cmocka_unit_test(test_idle_holder_sleeps),
        cmocka_unit_test(test_sweep_removes_crash_leftovers),
        cmocka_unit_test(test_two_processes_share_state),
        cmocka_unit_test(test_background_processes_persist),
        cmocka_unit_test(test_delete_kills_everything),
        cmocka_unit_test(test_upload_download),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_upload_path),
        cmocka_unit_test(test_list_and_info),
        cmocka_unit_test(test_wait_ready),
        cmocka_unit_test(test_holder_restart_keeps_files),
        cmocka_unit_test(test_spare_launchers),
        cmocka_unit_test(test_holder_start_recorded),
        cmocka_unit_test(test_prepared_holder),
    };
    if (!nox_test_isolation_available()) {
        fprintf(stderr, "skipped, because this host cannot run isolated sandboxes "
                        "(noxrunnerd --check says why)\n");
        return NOX_TEST_SKIPPED;
    }
    return cmocka_run_group_tests(tests, setup, teardown);
}
