/* SPDX-License-Identifier: MIT */
/* Limits: a fork bomb, a memory hog, a disk filler and an output flood are
 * each contained, while the host and another sandbox carry on. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

static char *state;
static nox_client *client;

static int setup(void **s)
{
    (void)s;
    client = nox_test_local_client(&state);
    if (nox_create(client, "bystander", NULL, NULL, NULL) != 0)
        fail_msg("create bystander");
    return 0;
}

static int teardown(void **s)
{
    (void)s;
    nox_test_local_done(client, state);
    return 0;
}

#define NEED_CLIENT() NOX_NEED_CLIENT(client)

static const nox_limit_info *find_limit(const nox_sandbox *sb, const char *name)
{
    for (size_t i = 0; i < sb->n_limits; i++)
        if (strcmp(sb->limits[i].name, name) == 0)
            return &sb->limits[i];
    fail_msg("the sandbox reports no `%s` limit", name);
    abort();
}

static nox_sandbox *create_with(const char *id, const char *mem, const char *cpu,
                                const char *storage)
{
    nox_create_options o;
    nox_create_options_init(&o);
    o.memory_limit = mem;
    o.cpu_limit = cpu;
    o.ephemeral_storage_limit = storage;
    nox_error *err = nox_error_new();
    nox_sandbox *sb = NULL;
    nox_assert_ok(nox_create(client, id, &o, &sb, err), err);
    nox_error_free(err);
    return sb;
}

/* The bystander still works: the host and other sandboxes carried on. */
static void bystander_ok(void)
{
    nox_exec_result *r = nox_test_sh(client, "bystander", "echo alive");
    assert_string_equal(r->stdout_data, "alive\n");
    nox_exec_result_free(r);
}

static void test_report_says_what_is_enforced(void **s)
{
    (void)s;
    NEED_CLIENT();
    nox_sandbox *sb = create_with("report", "256Mi", "500m", "2Gi");
    const nox_limit_info *m = find_limit(sb, "memory");
    const nox_limit_info *c = find_limit(sb, "cpu");
    const nox_limit_info *st = find_limit(sb, "ephemeralStorage");
    const nox_limit_info *p = find_limit(sb, "pids");
    assert_true(p->value > 0);
    assert_string_equal(m->requested, "256Mi");
    assert_int_equal(m->value, 256ull << 20);
    assert_int_equal(c->value, 500);
    assert_int_equal(st->value, 2ull << 30);
    /* Every limit is either enforced with a mechanism, or says why not. */
    for (size_t i = 0; i < sb->n_limits; i++) {
        const nox_limit_info *l = &sb->limits[i];
        if (l->enforced)
            assert_non_null(l->mechanism);
        else
            assert_non_null(l->reason);
        fprintf(stderr, "  %-16s %-5s %-14s %s\n", l->name, l->enforced ? "yes" : "no",
                l->mechanism ? l->mechanism : "-", l->reason ? l->reason : "");
    }
    nox_sandbox_free(sb);
    nox_error *err = nox_error_new();
    nox_create_options o;
    nox_create_options_init(&o);
    const char *bad[] = { "lots", "1GB", "-1Gi", "", "1.2.3" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        o.memory_limit = bad[i];
        assert_int_equal(nox_create(client, "bad-quantity", &o, NULL, err), NOX_E_INVALID);
        assert_non_null(strstr(nox_error_message(err), "memoryLimit"));
    }
    o.memory_limit = "1Ki";
    assert_int_equal(nox_create(client, "bad-quantity", &o, NULL, err), NOX_E_INVALID);
    nox_error_free(err);
}

static void test_fork_bomb_contained(void **s)
{
    (void)s;
    NEED_CLIENT();
    nox_sandbox_free(create_with("bomb", NULL, NULL, NULL));
    nox_exec_options o;
    nox_exec_options_init(&o);
    o.timeout_seconds = 5;
    const char *argv[] = { "sh", "-c", "bomb() { bomb | bomb & }; bomb; sleep 10", NULL };
    nox_exec_result *r = NULL;
    nox_error *err = nox_error_new();
    nox_assert_ok(nox_exec(client, "bomb", argv, &o, &r, err), err);
    nox_exec_result_free(r);
    bystander_ok();
    /* The timeout took the bomb's whole tree and the sandbox is usable.
     * Hundreds of killed processes are reaped as they die; on a loaded
     * machine that takes a moment, so look until they are gone. */
    long procs = -1;
    for (int i = 0; i < 100; i++) {
        r = nox_test_sh(client, "bomb", "ls /proc | grep -c '^[0-9]'");
        assert_int_equal(r->exit_code, 0);
        procs = nox_test_parse_long(r->stdout_data);
        nox_exec_result_free(r);
        if (procs >= 0 && procs < 10)
            break;
        usleep(200000);
    }
    if (procs < 0 || procs >= 10)
        fail_msg("%ld processes still in the sandbox after the bomb's timeout", procs);
    nox_error_free(err);
}

static void test_memory_hog_contained(void **s)
{
    (void)s;
    NEED_CLIENT();
    nox_sandbox *sb = create_with("hog", "64Mi", NULL, NULL);
    const nox_limit_info *m = find_limit(sb, "memory");
    bool cgroup = m->mechanism && strncmp(m->mechanism, "cgroup", 6) == 0;
    nox_sandbox_free(sb);
    nox_exec_result *r = nox_test_sh(client, "hog",
                                     "python3 -c 'b = bytearray(512 * 1024 * 1024); b[::4096] = "
                                     "b\"x\" * (len(b) // 4096); print(\"survived\")'");
    assert_int_not_equal(r->exit_code, 0);
    assert_null(strstr(r->stdout_data, "survived"));
    if (cgroup)
        /* The cgroup's OOM killer: SIGKILL. */
        assert_int_equal(r->exit_code, 137);
    nox_exec_result_free(r);
    bystander_ok();
    r = nox_test_sh(client, "hog", "echo still-here");
    assert_string_equal(r->stdout_data, "still-here\n");
    nox_exec_result_free(r);
}

static void test_disk_filler_contained(void **s)
{
    (void)s;
    NEED_CLIENT();
    nox_sandbox_free(create_with("filler", NULL, NULL, "16Mi"));
    /* One big file: cut by RLIMIT_FSIZE. */
    nox_exec_result *r = nox_test_sh(client, "filler", "head -c 200000000 /dev/zero > big");
    assert_int_not_equal(r->exit_code, 0);
    nox_exec_result_free(r);
    r = nox_test_sh(client, "filler", "rm -f big");
    nox_exec_result_free(r);
    /* Many files each under the limit: the storage monitor stops it. */
    nox_exec_options o;
    nox_exec_options_init(&o);
    o.timeout_seconds = 20;
    const char *argv[] = { "sh", "-c",
                           "i=0; while [ $i -lt 400 ]; do head -c 1000000 /dev/zero > f$i || "
                           "exit 9; i=$((i+1)); done; echo filled",
                           NULL };
    nox_error *err = nox_error_new();
    nox_assert_ok(nox_exec(client, "filler", argv, &o, &r, err), err);
    assert_null(strstr(r->stdout_data, "filled"));
    assert_int_not_equal(r->exit_code, 0);
    nox_exec_result_free(r);
    nox_sandbox *sb = NULL;
    nox_assert_ok(nox_info(client, "filler", &sb, err), err);
    /* Stopped near the limit, far below what it tried to write. */
    assert_true(sb->disk_used_bytes < 200LL << 20);
    nox_sandbox_free(sb);
    /* An upload past the limit is refused whole. */
    char *big = calloc(1, 32 << 20);
    nox_file f = { "big.bin", big, 32 << 20, 0 };
    assert_int_equal(nox_upload_files(client, "filler", &f, 1, NULL, err), NOX_E_LIMIT);
    free(big);
    bystander_ok();
    nox_error_free(err);
}

/* A writer an exec left in the background is stopped by the holder when
 * the workspace grows past the limit, with no exec running to notice. */
static void test_background_filler_contained(void **s)
{
    (void)s;
    NEED_CLIENT();
    nox_sandbox_free(create_with("bg-filler", NULL, NULL, "16Mi"));
    nox_exec_result *r = nox_test_sh(client, "bg-filler",
                                     "(i=0; while [ $i -lt 400 ]; do head -c 1000000 /dev/zero "
                                     "> f$i; sleep 0.02; i=$((i+1)); done) >/dev/null 2>&1 &");
    assert_int_equal(r->exit_code, 0);
    nox_exec_result_free(r);
    /* 400 MB at one file per ~30 ms would take 12 s or more; the idle
     * check runs every 2 s. The writer is stopped once the workspace has
     * stopped growing for 3 s (a live writer adds a file every ~30 ms);
     * the sandbox itself goes on. */
    nox_error *err = nox_error_new();
    nox_sandbox *sb = NULL;
    int64_t last = -1;
    int still = 0;
    for (int i = 0; i < 120 && still < 6; i++) {
        usleep(500000);
        nox_assert_ok(nox_info(client, "bg-filler", &sb, err), err);
        still = sb->disk_used_bytes == last ? still + 1 : 0;
        last = sb->disk_used_bytes;
        assert_int_equal(sb->running, 1);
        nox_sandbox_free(sb);
    }
    assert_int_equal(still, 6);
    /* Stopped a few seconds past the limit, far below what it would write. */
    assert_true(last < 200LL << 20);
    nox_assert_ok(nox_delete(client, "bg-filler", err), err);
    nox_error_free(err);
    bystander_ok();
}

static void test_output_flood_contained(void **s)
{
    (void)s;
    NEED_CLIENT();
    nox_sandbox_free(create_with("flood", NULL, NULL, NULL));
    nox_exec_options o;
    nox_exec_options_init(&o);
    o.timeout_seconds = 2;
    const char *argv[] = { "yes", "flood", NULL };
    nox_exec_result *r = NULL;
    nox_error *err = nox_error_new();
    nox_assert_ok(nox_exec(client, "flood", argv, &o, &r, err), err);
    assert_int_equal(r->exit_code, 124);
    assert_true(r->stdout_truncated);
    assert_int_equal(r->stdout_len, 1 << 20);
    nox_exec_result_free(r);
    bystander_ok();
    nox_error_free(err);
}

static void test_tmp_is_bounded(void **s)
{
    (void)s;
    NEED_CLIENT();
    nox_sandbox_free(create_with("tmpfill", NULL, NULL, NULL));
    nox_exec_result *r = nox_test_sh(client, "tmpfill",
                                     "head -c 100000000 /dev/zero > /tmp/x; "
                                     "echo rc=$?; df -k /tmp | tail -1");
    assert_non_null(strstr(r->stdout_data, "rc=1"));
    nox_exec_result_free(r);
    bystander_ok();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_report_says_what_is_enforced),
        cmocka_unit_test(test_fork_bomb_contained),
        cmocka_unit_test(test_memory_hog_contained),
        cmocka_unit_test(test_disk_filler_contained),
        cmocka_unit_test(test_background_filler_contained),
        cmocka_unit_test(test_output_flood_contained),
        cmocka_unit_test(test_tmp_is_bounded),
    };
    if (!nox_test_isolation_available()) {
        fprintf(stderr, "skipped, because this host cannot run isolated sandboxes "
                        "(noxrunnerd --check says why)\n");
        return NOX_TEST_SKIPPED;
    }
    return cmocka_run_group_tests(tests, setup, teardown);
}
