/* SPDX-License-Identifier: MIT */
/* Out of memory in the wire module: every call is repeated with its first,
 * second, third ... allocation failing, until one run needs no failure.
 * Each run must succeed or fail with NOX_E_NOMEM, and leave no block
 * allocated behind.
 *
 * The allocator is replaced by defining malloc() and friends here, which
 * glibc supports ("Replacing malloc" in its manual) and which also catches
 * jansson's and glibc's own allocations (strdup, vasprintf). Under
 * AddressSanitizer that would replace ASan's allocator, and valgrind
 * replaces it in turn, so there the test skips and says so.
 *
 * jansson 2.14 cannot be failed while it parses: its lexer ignores a failed
 * append to the text it saves and then trips assert(0) in lex_scan_string()
 * on the incomplete copy. So for calls that parse, jansson's allocations
 * (routed here with json_set_alloc_funcs()) are counted but never fail;
 * calls that only encode let them fail too. */
#include "testutil.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <noxrunner/wire.h>

#include "backend.h"

#if defined(__SANITIZE_ADDRESS__)
#define NOX_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NOX_ASAN 1
#endif
#endif

#ifndef NOX_ASAN
void *__libc_malloc(size_t n);
void *__libc_calloc(size_t n, size_t size);
void *__libc_realloc(void *p, size_t n);
void __libc_free(void *p);

/* -1: never fail; otherwise the number of allocations to let through
 * before one fails (once). */
static long fail_countdown = -1;
static long live_blocks;

static bool should_fail(void)
{
    if (fail_countdown < 0)
        return false;
    if (fail_countdown-- == 0) {
        errno = ENOMEM;
        return true;
    }
    return false;
}

void *malloc(size_t n)
{
    if (should_fail())
        return NULL;
    void *p = __libc_malloc(n);
    if (p)
        live_blocks++;
    return p;
}

void *calloc(size_t n, size_t size)
{
    if (should_fail())
        return NULL;
    void *p = __libc_calloc(n, size);
    if (p)
        live_blocks++;
    return p;
}

void *realloc(void *old, size_t n)
{
    if (!old)
        return malloc(n);
    if (should_fail())
        return NULL;
    return __libc_realloc(old, n);
}

void free(void *p)
{
    if (p)
        live_blocks--;
    __libc_free(p);
}

/* jansson's allocator: fails like malloc() only when @ref jansson_may_fail. */
static bool jansson_may_fail;

static void *jansson_malloc(size_t n)
{
    if (jansson_may_fail)
        return malloc(n);
    void *p = __libc_malloc(n);
    if (p)
        live_blocks++;
    return p;
}
#endif

typedef int (*call_fn)(void);

/* Skips the test where this allocator is not the one in use. */
static void require_own_malloc(void)
{
#ifdef NOX_ASAN
    nox_test_skip("AddressSanitizer owns malloc in this build");
#else
    /* Valgrind replaces malloc() in the executable too, so this one would
     * see only some of the allocations; and it is a leak checker itself. */
    const char *preload = getenv("LD_PRELOAD");
    if (preload && strstr(preload, "vgpreload"))
        nox_test_skip("valgrind replaces malloc; this test counts allocations itself");
#endif
}

/* Runs @p fn with allocation 0, 1, 2 ... failing until it needs none;
 * @p parses says whether @p fn parses JSON (see the top of the file). */
static void run_failing(const char *name, call_fn fn, bool parses)
{
    require_own_malloc();
#ifndef NOX_ASAN
    json_set_alloc_funcs(jansson_malloc, free);
    jansson_may_fail = !parses;
    for (long n = 0;; n++) {
        long before = live_blocks;
        fail_countdown = n;
        int r = fn();
        bool failed_one = fail_countdown < 0;
        fail_countdown = -1;
        if (r != 0 && r != NOX_E_NOMEM) {
            print_error("%s: allocation %ld failing gave %d, not NOX_E_NOMEM\n", name, n, r);
            fail();
        }
        if (live_blocks != before) {
            print_error("%s: allocation %ld failing leaked %ld blocks\n", name, n,
                        live_blocks - before);
            fail();
        }
        if (!failed_one) {
            assert_int_equal(r, 0);
            print_message("%s: %ld allocations, each failure handled\n", name, n);
            return;
        }
    }
#else
    (void)name;
    (void)fn;
    (void)parses;
#endif
}

static const char create_json[] = "{\"ttlSeconds\":60,\"image\":\"python\",\"cpuLimit\":\"500m\","
                                  "\"memoryLimit\":\"512Mi\",\"ephemeralStorageLimit\":\"2Gi\"}";
static const char exec_json[] = "{\"cmd\":[\"sh\",\"-c\",\"echo $X\"],\"workdir\":\"/w\","
                                "\"env\":{\"X\":\"1\",\"Y\":\"2\"},\"timeoutSeconds\":5}";
static const char result_json[] = "{\"exitCode\":1,\"stdout\":\"out\\u0000\",\"stderr\":\"err\","
                                  "\"durationMs\":5,\"timedOut\":true,\"signal\":9}";
#define SANDBOX_JSON                                                                               \
    "{\"podName\":\"nox-a\",\"expiresAt\":\"2026-01-02T12:34:56Z\",\"sessionId\":\"a\","           \
    "\"createdAt\":\"2026-01-02T12:19:56Z\",\"ttlSeconds\":900,\"image\":\"python\","              \
    "\"isolation\":\"namespaces\",\"running\":true,\"diskUsedBytes\":4096,\"limits\":{"            \
    "\"memory\":{\"requested\":\"512Mi\",\"value\":536870912,\"enforced\":true,"                   \
    "\"mechanism\":\"cgroup-v2\"},\"cpu\":{\"value\":1000,\"enforced\":false,"                     \
    "\"reason\":\"no cpu controller\"}}}"
static const char sandbox_json[] = SANDBOX_JSON;
static const char list_json[] =
    "{\"sandboxes\":[" SANDBOX_JSON ",{\"podName\":\"b\",\"sessionId\":\"0\"}]}";

/* Each call below frees what it got, and its error message, so that only
 * a leak changes the count of live blocks. */
#define WITH_ERR(expr)                                                                             \
    do {                                                                                           \
        nox_error *err_ = nox_error_new();                                                         \
        if (!err_)                                                                                 \
            return NOX_E_NOMEM;                                                                    \
        nox_error *err = err_;                                                                     \
        int r_ = (expr);                                                                           \
        nox_error_free(err_);                                                                      \
        return r_;                                                                                 \
    } while (0)

static int decode_create(void)
{
    nox_create_options *o = NULL;
    int r = nox_wire_decode_create_request(create_json, strlen(create_json), &o, NULL);
    free(o);
    return r;
}

static int decode_create_bad(void)
{
    nox_create_options *o = NULL;
    const char *j = "{\"cpuLimit\":\"1GB\"}";
    WITH_ERR(nox_wire_decode_create_request(j, strlen(j), &o, err) == NOX_E_INVALID ? 0
                                                                                    : NOX_E_NOMEM);
}

static int encode_create(void)
{
    nox_create_options o = { .ttl_seconds = 5, .image = "i", .cpu_limit = "1" };
    char *json = NULL;
    int r = nox_wire_encode_create_request(&o, &json, NULL, NULL);
    free(json);
    return r;
}

static int decode_exec(void)
{
    nox_exec_request *req = NULL;
    int r = nox_wire_decode_exec_request(exec_json, strlen(exec_json), &req, NULL);
    free(req);
    return r;
}

static int decode_exec_bad(void)
{
    nox_exec_request *req = NULL;
    const char *j = "{\"cmd\":[\"ls\",5]}";
    WITH_ERR(nox_wire_decode_exec_request(j, strlen(j), &req, err) == NOX_E_INVALID ? 0
                                                                                    : NOX_E_NOMEM);
}

static int encode_exec(void)
{
    const char *argv[] = { "sh", "-c", "echo", NULL };
    const char *env[] = { "A=1", "B=2", NULL };
    nox_exec_options o = { .workdir = "/w", .env = env, .timeout_seconds = 3 };
    char *json = NULL;
    int r = nox_wire_encode_exec_request(argv, &o, &json, NULL, NULL);
    free(json);
    return r;
}

static int encode_result(void)
{
    nox_exec_result res = { .stdout_data = (char *)"a\xff",
                            .stdout_len = 2,
                            .stderr_data = (char *)"e",
                            .stderr_len = 1,
                            .term_signal = 9 };
    char *json = NULL;
    int r = nox_wire_encode_exec_result(&res, &json, NULL, NULL);
    free(json);
    return r;
}

static int decode_result(void)
{
    nox_exec_result *res = NULL;
    int r = nox_wire_decode_exec_result(result_json, strlen(result_json), &res, NULL);
    nox_exec_result_free(res);
    return r;
}

static int decode_sandbox(void)
{
    nox_sandbox *sb = NULL;
    int r = nox_wire_decode_sandbox(sandbox_json, strlen(sandbox_json), "id", &sb, NULL);
    nox_sandbox_free(sb);
    return r;
}

/* Decoded before the allocations start failing, so that encoding alone
 * runs with jansson failing too. */
static nox_sandbox *prepared_sb;
static nox_sandbox_list *prepared_list;

static int encode_sandbox(void)
{
    char *json = NULL;
    int r = nox_wire_encode_sandbox(prepared_sb, &json, NULL, NULL);
    free(json);
    return r;
}

static int encode_list(void)
{
    char *json = NULL;
    int r = nox_wire_encode_sandbox_list(prepared_list, &json, NULL, NULL);
    free(json);
    return r;
}

static int decode_list(void)
{
    nox_sandbox_list *list = NULL;
    int r = nox_wire_decode_sandbox_list(list_json, strlen(list_json), &list, NULL);
    nox_sandbox_list_free(list);
    return r;
}

static int list_bad(void)
{
    nox_sandbox_list *list = NULL;
    const char *j = "{\"sandboxes\":[{\"podName\":\"a\",\"limits\":{\"m\":{\"value\":1}}},{}]}";
    WITH_ERR(
        nox_wire_decode_sandbox_list(j, strlen(j), &list, err) == NOX_E_PROTOCOL ? 0 : NOX_E_NOMEM);
}

static int error_encode(void)
{
    char *json = NULL;
    int r = nox_wire_encode_error("bad \xff message", &json, NULL);
    free(json);
    return r;
}

static int error_messages(void)
{
    static const char *const bodies[] = {
        "{\"error\":\"e\"}",
        "{\"detail\":[{\"msg\":\"x\"}]}",
        "{\"error\":{\"message\":\"m\"}}",
        "plain \xff text",
        "",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        char *m = nox_wire_error_message(bodies[i], strlen(bodies[i]));
        if (!m)
            return NOX_E_NOMEM;
        free(m);
    }
    return 0;
}

static int time_and_quantity_errors(void)
{
    int64_t t;
    uint64_t q;
    WITH_ERR((nox_wire_parse_time("nope", &t, err) == NOX_E_INVALID &&
              nox_parse_quantity("1GB", &q, err) == NOX_E_INVALID)
                 ? 0
                 : NOX_E_NOMEM);
}

#define OOM_TEST(fn, parses)                                                                       \
    static void test_##fn(void **state)                                                            \
    {                                                                                              \
        (void)state;                                                                               \
        run_failing(#fn, fn, parses);                                                              \
    }

OOM_TEST(decode_create, true)
OOM_TEST(decode_create_bad, true)
OOM_TEST(encode_create, false)
OOM_TEST(decode_exec, true)
OOM_TEST(decode_exec_bad, true)
OOM_TEST(encode_exec, false)
OOM_TEST(encode_result, false)
OOM_TEST(decode_result, true)
OOM_TEST(decode_sandbox, true)
OOM_TEST(decode_list, true)
OOM_TEST(list_bad, true)
OOM_TEST(error_encode, false)
OOM_TEST(error_messages, true)
OOM_TEST(time_and_quantity_errors, false)

static void test_encode_sandbox(void **state)
{
    (void)state;
    require_own_malloc();
    assert_int_equal(
        nox_wire_decode_sandbox(sandbox_json, strlen(sandbox_json), "id", &prepared_sb, NULL), 0);
    run_failing("encode_sandbox", encode_sandbox, false);
    nox_sandbox_free(prepared_sb);
}

static void test_encode_list(void **state)
{
    (void)state;
    require_own_malloc();
    assert_int_equal(
        nox_wire_decode_sandbox_list(list_json, strlen(list_json), &prepared_list, NULL), 0);
    run_failing("encode_list", encode_list, false);
    nox_sandbox_list_free(prepared_list);
}

int main(void)
{
    /* Where every test would skip, say so to ctest too (exit 77). */
#ifdef NOX_ASAN
    fprintf(stderr, "skipped, because AddressSanitizer owns malloc in this build\n");
    return NOX_TEST_SKIPPED;
#else
    const char *preload = getenv("LD_PRELOAD");
    if (preload && strstr(preload, "vgpreload")) {
        fprintf(stderr, "skipped, because valgrind replaces malloc; this test counts "
                        "allocations itself\n");
        return NOX_TEST_SKIPPED;
    }
#endif
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_create),   cmocka_unit_test(test_decode_create_bad),
        cmocka_unit_test(test_encode_create),   cmocka_unit_test(test_decode_exec),
        cmocka_unit_test(test_decode_exec_bad), cmocka_unit_test(test_encode_exec),
        cmocka_unit_test(test_encode_result),   cmocka_unit_test(test_decode_result),
        cmocka_unit_test(test_decode_sandbox),  cmocka_unit_test(test_encode_sandbox),
        cmocka_unit_test(test_decode_list),     cmocka_unit_test(test_encode_list),
        cmocka_unit_test(test_list_bad),        cmocka_unit_test(test_error_encode),
        cmocka_unit_test(test_error_messages),  cmocka_unit_test(test_time_and_quantity_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
