/* SPDX-License-Identifier: MIT */
/* The wire module: every decoder with valid input and with each way input
 * can be wrong, round trips of every message, the UTF-8 repair of command
 * output, error bodies and ISO 8601 times. */
#include "testutil.h"

#include <jansson.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <noxrunner/wire.h>

#include "backend.h"

/* ---- helpers ------------------------------------------------------------ */

/* Asserts a failure with @p code whose message contains @p needle. */
#define assert_failed(r, err, code, needle) check_failed((r), (err), (code), (needle), __LINE__)

static void check_failed(int r, nox_error *err, int code, const char *needle, int line)
{
    const char *msg = nox_error_message(err);
    if (r != code || nox_error_code(err) != code || !strstr(msg, needle)) {
        print_error("line %d: r=%d code=%d message `%s`; wanted code %d and `%s`\n", line, r,
                    nox_error_code(err), msg, code, needle);
        fail();
    }
}

static nox_create_options *create_ok(const char *json)
{
    nox_error *err = nox_error_new();
    nox_create_options *o = NULL;
    int r = nox_wire_decode_create_request(json, strlen(json), &o, err);
    if (r != 0) {
        print_error("`%s`: %s\n", json, nox_error_message(err));
        fail();
    }
    nox_error_free(err);
    return o;
}

#define create_bad(json, code, needle) create_bad_at((json), (code), (needle), __LINE__)
static void create_bad_at(const char *json, int code, const char *needle, int line)
{
    nox_error *err = nox_error_new();
    nox_create_options *o = (nox_create_options *)(uintptr_t)1;
    int r = nox_wire_decode_create_request(json, strlen(json), &o, err);
    check_failed(r, err, code, needle, line);
    /* Out-parameters are written only on success. */
    assert_true(o == (nox_create_options *)(uintptr_t)1);
    nox_error_free(err);
}

static nox_exec_request *exec_ok(const char *json)
{
    nox_error *err = nox_error_new();
    nox_exec_request *req = NULL;
    int r = nox_wire_decode_exec_request(json, strlen(json), &req, err);
    if (r != 0) {
        print_error("`%s`: %s\n", json, nox_error_message(err));
        fail();
    }
    nox_error_free(err);
    return req;
}

#define exec_bad(json, code, needle) exec_bad_at((json), strlen(json), (code), (needle), __LINE__)
static void exec_bad_at(const char *json, size_t len, int code, const char *needle, int line)
{
    nox_error *err = nox_error_new();
    nox_exec_request *req = (nox_exec_request *)(uintptr_t)1;
    int r = nox_wire_decode_exec_request(json, len, &req, err);
    check_failed(r, err, code, needle, line);
    assert_true(req == (nox_exec_request *)(uintptr_t)1);
    nox_error_free(err);
}

#define result_bad(json, needle) result_bad_at((json), (needle), __LINE__)
static void result_bad_at(const char *json, const char *needle, int line)
{
    nox_error *err = nox_error_new();
    nox_exec_result *res = (nox_exec_result *)(uintptr_t)1;
    int r = nox_wire_decode_exec_result(json, strlen(json), &res, err);
    check_failed(r, err, NOX_E_PROTOCOL, needle, line);
    assert_true(res == (nox_exec_result *)(uintptr_t)1);
    nox_error_free(err);
}

#define sandbox_bad(json, needle) sandbox_bad_at((json), (needle), __LINE__)
static void sandbox_bad_at(const char *json, const char *needle, int line)
{
    nox_error *err = nox_error_new();
    nox_sandbox *sb = (nox_sandbox *)(uintptr_t)1;
    int r = nox_wire_decode_sandbox(json, strlen(json), "id", &sb, err);
    check_failed(r, err, NOX_E_PROTOCOL, needle, line);
    assert_true(sb == (nox_sandbox *)(uintptr_t)1);
    nox_error_free(err);
}

#define list_bad(json, needle) list_bad_at((json), (needle), __LINE__)
static void list_bad_at(const char *json, const char *needle, int line)
{
    nox_error *err = nox_error_new();
    nox_sandbox_list *list = (nox_sandbox_list *)(uintptr_t)1;
    int r = nox_wire_decode_sandbox_list(json, strlen(json), &list, err);
    check_failed(r, err, NOX_E_PROTOCOL, needle, line);
    assert_true(list == (nox_sandbox_list *)(uintptr_t)1);
    nox_error_free(err);
}

/* True when @p p points into the allocation @p base (glibc's size). */
static bool inside(const void *base, const void *p)
{
    const char *b = base, *c = p;
    return c >= b && c < b + malloc_usable_size((void *)base);
}

/* Nested arrays @p depth deep inside an unknown field of an exec request. */
static char *deep_request(size_t depth)
{
    size_t n = strlen("{\"cmd\":[\"ls\"],\"x\":") + 2 * depth + 2;
    char *s = malloc(n);
    assert_non_null(s);
    size_t k = (size_t)snprintf(s, n, "{\"cmd\":[\"ls\"],\"x\":");
    memset(s + k, '[', depth);
    memset(s + k + depth, ']', depth);
    s[k + 2 * depth] = '}';
    s[k + 2 * depth + 1] = '\0';
    return s;
}

/* ---- create request ----------------------------------------------------- */

static void test_create_decode_valid(void **state)
{
    (void)state;
    nox_create_options *o = create_ok("{\"ttlSeconds\":60,\"image\":\"python:3.12\","
                                      "\"cpuLimit\":\"500m\",\"memoryLimit\":\"512Mi\","
                                      "\"ephemeralStorageLimit\":\"2Gi\"}");
    assert_int_equal(o->ttl_seconds, 60);
    assert_string_equal(o->image, "python:3.12");
    assert_string_equal(o->cpu_limit, "500m");
    assert_string_equal(o->memory_limit, "512Mi");
    assert_string_equal(o->ephemeral_storage_limit, "2Gi");
    /* One allocation: every string lives inside it. */
    assert_true(inside(o, o->image) && inside(o, o->cpu_limit) && inside(o, o->memory_limit) &&
                inside(o, o->ephemeral_storage_limit));
    nox_free(o);

    /* Unknown fields, nulls for optional fields, odd white space. */
    o = create_ok(" {\"foo\": {\"bar\": [1, 2, {\"x\": null}]}, \"ttlSeconds\": 5,\n"
                  "  \"image\": null, \"cpuLimit\": null, \"zzz\": \"\\u00e9\"} \n");
    assert_int_equal(o->ttl_seconds, 5);
    assert_null(o->image);
    assert_null(o->cpu_limit);
    assert_null(o->memory_limit);
    assert_null(o->ephemeral_storage_limit);
    nox_free(o);

    /* A byte order mark before the JSON is skipped. */
    o = create_ok("\xef\xbb\xbf{\"ttlSeconds\":7}");
    assert_int_equal(o->ttl_seconds, 7);
    nox_free(o);
    o = create_ok("\xef\xbb\xbf");
    assert_int_equal(o->ttl_seconds, 900);
    nox_free(o);

    o = create_ok("{\"ttlSeconds\":null,\"image\":\"\"}");
    assert_int_equal(o->ttl_seconds, 900);
    assert_string_equal(o->image, "");
    nox_free(o);

    o = create_ok("{\"ttlSeconds\":9223372036854775807}");
    assert_true(o->ttl_seconds == 9223372036854775807L);
    nox_free(o);
}

static void test_create_decode_empty(void **state)
{
    (void)state;
    const char *bodies[] = { "", " ", "\r\n\t ", "{}", " { } " };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        nox_create_options *o = create_ok(bodies[i]);
        assert_int_equal(o->ttl_seconds, 900);
        assert_null(o->image);
        assert_null(o->cpu_limit);
        nox_free(o);
    }
    nox_create_options *o = NULL;
    assert_int_equal(nox_wire_decode_create_request(NULL, 0, &o, NULL), 0);
    assert_int_equal(o->ttl_seconds, 900);
    nox_free(o);
    nox_error *err = nox_error_new();
    assert_failed(nox_wire_decode_create_request(NULL, 5, &o, err), err, NOX_E_INVALID, "NULL");
    nox_error_free(err);
}

static void test_create_decode_errors(void **state)
{
    (void)state;
    const int E = NOX_E_INVALID;
    create_bad("{\"ttlSeconds\":\"30\"}", E, "field `ttlSeconds` must be an integer, not a string");
    create_bad("{\"ttlSeconds\":30.0}", E, "field `ttlSeconds` must be an integer, not a decimal");
    create_bad("{\"ttlSeconds\":true}", E, "field `ttlSeconds` must be an integer, not a boolean");
    create_bad("{\"ttlSeconds\":[]}", E, "field `ttlSeconds` must be an integer, not an array");
    create_bad("{\"ttlSeconds\":0}", E, "field `ttlSeconds` must be a positive integer, not 0");
    create_bad("{\"ttlSeconds\":-5}", E, "field `ttlSeconds` must be a positive integer, not -5");
    create_bad("{\"ttlSeconds\":-9223372036854775808}", E, "positive integer");
    create_bad("{\"ttlSeconds\":99999999999999999999}", E, "line 1");
    create_bad("{\"image\":5}", E, "field `image` must be a string, not an integer");
    create_bad("{\"image\":{}}", E, "field `image` must be a string, not an object");
    create_bad("{\"image\":\"py\\u0000thon\"}", E, "field `image` must not contain a NUL");
    create_bad("{\"cpuLimit\":\"1GB\"}", E, "field `cpuLimit`: quantity `1GB`");
    create_bad("{\"cpuLimit\":\"\"}", E, "field `cpuLimit`: quantity is empty");
    create_bad("{\"memoryLimit\":512}", E, "field `memoryLimit` must be a string, not an integer");
    create_bad("{\"memoryLimit\":\"-1Gi\"}", E, "field `memoryLimit`: quantity `-1Gi` is negative");
    create_bad("{\"ephemeralStorageLimit\":\"2 Gi\"}", E, "field `ephemeralStorageLimit`");
    create_bad("{\"ephemeralStorageLimit\":\"99999999999999999999Gi\"}", E, "too large");
    /* Not an object. */
    create_bad("[]", E, "request body must be a JSON object, not an array");
    create_bad("\"x\"", E, "request body must be a JSON object, not a string");
    create_bad("null", E, "request body must be a JSON object, not null");
    create_bad("5", E, "request body must be a JSON object, not an integer");
    /* Not JSON: jansson's words and the place. */
    create_bad("{\"ttlSeconds\": }", E, "request body is not valid JSON");
    create_bad("{\"ttlSeconds\": }", E, "line 1, column");
    create_bad("{\n\"ttlSeconds\": 5,\n}", E, "line 3");
    create_bad("{} {}", E, "not valid JSON");
    create_bad("{\"image\":\"\xff\"}", E, "not valid JSON");
    create_bad("{'image': 'x'}", E, "not valid JSON");
    /* Duplicate keys are ambiguous in a request. */
    create_bad("{\"ttlSeconds\":1,\"ttlSeconds\":2}", E, "duplicate key");
    create_bad("{\"a\\u0000b\":1}", E, "key with a NUL character");
}

static void test_create_decode_without_error_object(void **state)
{
    (void)state;
    nox_create_options *o = NULL;
    const char *j = "{\"cpuLimit\":\"1GB\"}";
    /* The quantity's error is prefixed only when there is an error object;
     * the code stays NOX_E_INVALID either way. */
    assert_int_equal(nox_wire_decode_create_request(j, strlen(j), &o, NULL), NOX_E_INVALID);
    j = "{\"ttlSeconds\":\"1\"}";
    assert_int_equal(nox_wire_decode_create_request(j, strlen(j), &o, NULL), NOX_E_INVALID);
    assert_null(o);
    assert_int_equal(nox_wire_decode_create_request(j, strlen(j), NULL, NULL), NOX_E_INVALID);
}

static void test_create_encode(void **state)
{
    (void)state;
    char *json = NULL;
    size_t len = 0;
    assert_int_equal(nox_wire_encode_create_request(NULL, &json, &len, NULL), 0);
    assert_string_equal(json, "{\"ttlSeconds\":900}");
    assert_int_equal(len, strlen(json));
    nox_free(json);

    nox_create_options o;
    nox_create_options_init(&o);
    o.ttl_seconds = 60;
    o.image = "img \"q\" \xc3\xa9";
    o.cpu_limit = "1";
    o.memory_limit = "512Mi";
    o.ephemeral_storage_limit = "2Gi";
    assert_int_equal(nox_wire_encode_create_request(&o, &json, &len, NULL), 0);
    assert_string_equal(json,
                        "{\"ttlSeconds\":60,\"image\":\"img \\\"q\\\" \xc3\xa9\",\"cpuLimit\":"
                        "\"1\",\"memoryLimit\":\"512Mi\",\"ephemeralStorageLimit\":\"2Gi\"}");

    /* Round trip. */
    nox_create_options *back = NULL;
    assert_int_equal(nox_wire_decode_create_request(json, len, &back, NULL), 0);
    assert_int_equal(back->ttl_seconds, 60);
    assert_string_equal(back->image, o.image);
    assert_string_equal(back->cpu_limit, "1");
    assert_string_equal(back->memory_limit, "512Mi");
    assert_string_equal(back->ephemeral_storage_limit, "2Gi");
    nox_free(back);
    nox_free(json);

    /* ret_len is optional. */
    assert_int_equal(nox_wire_encode_create_request(NULL, &json, NULL, NULL), 0);
    nox_free(json);

    nox_error *err = nox_error_new();
    o.ttl_seconds = 0;
    json = NULL;
    assert_failed(nox_wire_encode_create_request(&o, &json, &len, err), err, NOX_E_INVALID,
                  "ttlSeconds");
    assert_null(json);
    o.ttl_seconds = 1;
    o.image = "bad \xff";
    assert_failed(nox_wire_encode_create_request(&o, &json, &len, err), err, NOX_E_INVALID,
                  "image is not valid UTF-8");
    assert_failed(nox_wire_encode_create_request(&o, NULL, &len, err), err, NOX_E_INVALID, "");
    nox_error_free(err);
}

/* ---- exec request ------------------------------------------------------- */

static void test_exec_decode_valid(void **state)
{
    (void)state;
    nox_exec_request *req = exec_ok("{\"cmd\":[\"echo\",\"h\\u00e9 \\u2713\",\"\",\"$X\"],"
                                    "\"workdir\":\"/workspace/x\",\"env\":{\"A\":\"1\",\"B\":\"\","
                                    "\"C\":\"x=y\"},\"timeoutSeconds\":5,\"other\":[1]}");
    assert_string_equal(req->argv[0], "echo");
    assert_string_equal(req->argv[1], "h\xc3\xa9 \xe2\x9c\x93");
    assert_string_equal(req->argv[2], "");
    assert_string_equal(req->argv[3], "$X");
    assert_null(req->argv[4]);
    assert_string_equal(req->opts.workdir, "/workspace/x");
    assert_non_null(req->opts.env);
    assert_string_equal(req->opts.env[0], "A=1");
    assert_string_equal(req->opts.env[1], "B=");
    assert_string_equal(req->opts.env[2], "C=x=y");
    assert_null(req->opts.env[3]);
    assert_int_equal(req->opts.timeout_seconds, 5);
    /* One allocation: arrays and strings are inside it. */
    assert_true(inside(req, req->argv) && inside(req, req->argv[3]) && inside(req, req->opts.env) &&
                inside(req, req->opts.env[2]) && inside(req, req->opts.workdir));
    nox_free(req);

    req = exec_ok("{\"cmd\":[\"ls\"]}");
    assert_string_equal(req->argv[0], "ls");
    assert_null(req->argv[1]);
    assert_null(req->opts.workdir);
    assert_null(req->opts.env);
    assert_int_equal(req->opts.timeout_seconds, 30);
    nox_free(req);

    /* null means absent; "" workdir means the default; {} env means none. */
    req = exec_ok("{\"cmd\":[\"ls\"],\"workdir\":\"\",\"env\":{},\"timeoutSeconds\":null}");
    assert_null(req->opts.workdir);
    assert_null(req->opts.env);
    assert_int_equal(req->opts.timeout_seconds, 30);
    nox_free(req);
    req = exec_ok("{\"cmd\":[\"ls\"],\"workdir\":null,\"env\":null}");
    assert_null(req->opts.workdir);
    assert_null(req->opts.env);
    nox_free(req);

    /* Nesting in an unknown field is fine up to jansson's depth limit. */
    char *deep = deep_request(100);
    req = exec_ok(deep);
    nox_free(req);
    free(deep);
}

static void test_exec_decode_errors(void **state)
{
    (void)state;
    const int E = NOX_E_INVALID;
    exec_bad("{}", E, "field `cmd` is required");
    exec_bad("", E, "field `cmd` is required");
    exec_bad("{\"cmd\":null}", E, "field `cmd` is required");
    exec_bad("{\"cmd\":\"ls -l\"}", E, "field `cmd` must be an array of strings, not a string");
    exec_bad("{\"cmd\":{}}", E, "field `cmd` must be an array of strings, not an object");
    exec_bad("{\"cmd\":[]}", E, "field `cmd` must not be empty");
    exec_bad("{\"cmd\":[\"ls\",5]}", E, "field `cmd[1]` must be a string, not an integer");
    exec_bad("{\"cmd\":[\"ls\",\"-l\",null]}", E, "field `cmd[2]` must be a string, not null");
    exec_bad("{\"cmd\":[[\"ls\"]]}", E, "field `cmd[0]` must be a string, not an array");
    exec_bad("{\"cmd\":[\"\"]}", E, "field `cmd[0]` must not be an empty string");
    exec_bad("{\"cmd\":[\"a\\u0000b\"]}", E, "field `cmd[0]` must not contain a NUL character");
    exec_bad("{\"cmd\":[\"ls\"],\"workdir\":5}", E, "field `workdir` must be a string, not an int");
    exec_bad("{\"cmd\":[\"ls\"],\"workdir\":\"/w\\u0000\"}", E, "field `workdir` must not contain");
    exec_bad("{\"cmd\":[\"ls\"],\"env\":[]}", E,
             "field `env` must be an object of strings, not an array");
    exec_bad("{\"cmd\":[\"ls\"],\"env\":\"A=1\"}", E, "field `env` must be an object of strings");
    exec_bad("{\"cmd\":[\"ls\"],\"env\":{\"A\":5}}", E,
             "field `env.A` must be a string, not an integer");
    exec_bad("{\"cmd\":[\"ls\"],\"env\":{\"A\":null}}", E,
             "field `env.A` must be a string, not null");
    exec_bad("{\"cmd\":[\"ls\"],\"env\":{\"A\":\"1\",\"B\":true}}", E,
             "field `env.B` must be a string");
    exec_bad("{\"cmd\":[\"ls\"],\"env\":{\"A=B\":\"x\"}}", E, "variable name `A=B` with '='");
    exec_bad("{\"cmd\":[\"ls\"],\"env\":{\"\":\"x\"}}", E,
             "field `env` has an empty variable name");
    exec_bad("{\"cmd\":[\"ls\"],\"env\":{\"A\":\"x\\u0000y\"}}", E,
             "field `env.A` must not contain");
    exec_bad("{\"cmd\":[\"ls\"],\"env\":{\"A\\u0000\":\"x\"}}", E, "key with a NUL character");
    exec_bad("{\"cmd\":[\"ls\"],\"timeoutSeconds\":0}", E,
             "field `timeoutSeconds` must be a positive integer, not 0");
    exec_bad("{\"cmd\":[\"ls\"],\"timeoutSeconds\":-1}", E,
             "field `timeoutSeconds` must be a positive integer, not -1");
    exec_bad("{\"cmd\":[\"ls\"],\"timeoutSeconds\":\"30\"}", E,
             "field `timeoutSeconds` must be an integer, not a string");
    exec_bad("{\"cmd\":[\"ls\"],\"timeoutSeconds\":30.0}", E,
             "field `timeoutSeconds` must be an integer, not a decimal number");
    exec_bad("{\"cmd\":[\"ls\"],\"timeoutSeconds\":1e3}", E, "not a decimal number");
    exec_bad("{\"cmd\":[\"ls\"],\"timeoutSeconds\":false}", E, "not a boolean");
    exec_bad("{\"cmd\":[\"ls\"],\"timeoutSeconds\":9223372036854775808}", E, "line 1");
    exec_bad("{\"cmd\":[\"ls\"],\"timeoutSeconds\":-99999999999999999999999}", E, "line 1");
    exec_bad("[\"ls\"]", E, "request body must be a JSON object, not an array");
    exec_bad("\"x\"", E, "request body must be a JSON object, not a string");
    exec_bad("null", E, "request body must be a JSON object, not null");
    exec_bad("true", E, "request body must be a JSON object, not a boolean");
    exec_bad("{\"cmd\":[\"ls\"]", E, "request body is not valid JSON");
    exec_bad("{\"cmd\":[\"ls\"],}", E, "line 1, column");
    exec_bad("{\"cmd\":[\"ls\"],\"cmd\":[\"rm\"]}", E, "duplicate key");
    exec_bad("{\"cmd\":[\"ls\"],\"env\":{\"A\":\"1\",\"A\":\"2\"}}", E, "duplicate key");
    /* A raw NUL byte in the text (not the \u0000 escape) is not JSON. */
    exec_bad_at("{\"cmd\":[\"l\0s\"]}", 15, E, "not valid JSON", __LINE__);
    exec_bad_at("{\"cmd\":[\"ls\"]}\0", 15, E, "not valid JSON", __LINE__);
    /* Too deep for the parser is refused cleanly, not a crash. */
    char *deep = deep_request(100000);
    exec_bad(deep, E, "nested too deeply");
    free(deep);
}

static void test_exec_encode(void **state)
{
    (void)state;
    char *json = NULL;
    size_t len = 0;
    const char *argv[] = { "sh", "-c", "echo \"$X\" \\ \xe2\x9c\x93\n", NULL };
    assert_int_equal(nox_wire_encode_exec_request(argv, NULL, &json, &len, NULL), 0);
    assert_string_equal(json, "{\"cmd\":[\"sh\",\"-c\",\"echo \\\"$X\\\" \\\\ \xe2\x9c\x93\\n\"],"
                              "\"timeoutSeconds\":30}");
    assert_int_equal(len, strlen(json));
    nox_free(json);

    const char *env[] = { "X=1", "EMPTY=", "EQ=a=b", "X=2", NULL };
    nox_exec_options o;
    nox_exec_options_init(&o);
    o.workdir = "/workspace/sub";
    o.env = env;
    o.timeout_seconds = 7;
    assert_int_equal(nox_wire_encode_exec_request(argv, &o, &json, &len, NULL), 0);
    /* The spec's order; a name given twice keeps its last value. */
    assert_non_null(strstr(json, "],\"workdir\":\"/workspace/sub\",\"env\":{\"X\":\"2\","
                                 "\"EMPTY\":\"\",\"EQ\":\"a=b\"},\"timeoutSeconds\":7}"));

    nox_exec_request *req = NULL;
    assert_int_equal(nox_wire_decode_exec_request(json, len, &req, NULL), 0);
    for (size_t i = 0; argv[i]; i++)
        assert_string_equal(req->argv[i], argv[i]);
    assert_null(req->argv[3]);
    assert_string_equal(req->opts.workdir, "/workspace/sub");
    assert_string_equal(req->opts.env[0], "X=2");
    assert_string_equal(req->opts.env[1], "EMPTY=");
    assert_string_equal(req->opts.env[2], "EQ=a=b");
    assert_null(req->opts.env[3]);
    assert_int_equal(req->opts.timeout_seconds, 7);
    nox_free(req);
    nox_free(json);

    /* Empty workdir and env are left out. */
    const char *no_env[] = { NULL };
    o.workdir = "";
    o.env = no_env;
    assert_int_equal(nox_wire_encode_exec_request(argv, &o, &json, NULL, NULL), 0);
    assert_null(strstr(json, "workdir"));
    assert_null(strstr(json, "env"));
    nox_free(json);

    nox_error *err = nox_error_new();
    json = NULL;
    const char *empty[] = { NULL };
    const char *blank[] = { "", NULL };
    const char *bad[] = { "ls", "\xc0\xaf", NULL };
    assert_failed(nox_wire_encode_exec_request(NULL, NULL, &json, &len, err), err, NOX_E_INVALID,
                  "cmd must not be empty");
    assert_failed(nox_wire_encode_exec_request(empty, NULL, &json, &len, err), err, NOX_E_INVALID,
                  "cmd must not be empty");
    assert_failed(nox_wire_encode_exec_request(blank, NULL, &json, &len, err), err, NOX_E_INVALID,
                  "cmd[0]");
    assert_failed(nox_wire_encode_exec_request(bad, NULL, &json, &len, err), err, NOX_E_INVALID,
                  "cmd[1] is not valid UTF-8 (byte 0xc0 at offset 0)");
    const char *bad_env[] = { "NOEQUALS", NULL };
    o.env = bad_env;
    assert_failed(nox_wire_encode_exec_request(argv, &o, &json, &len, err), err, NOX_E_INVALID,
                  "`NOEQUALS` is not of the form NAME=VALUE");
    const char *bad_env2[] = { "=x", NULL };
    o.env = bad_env2;
    assert_failed(nox_wire_encode_exec_request(argv, &o, &json, &len, err), err, NOX_E_INVALID,
                  "NAME=VALUE");
    const char *bad_env3[] = { "A=\xff", NULL };
    o.env = bad_env3;
    assert_failed(nox_wire_encode_exec_request(argv, &o, &json, &len, err), err, NOX_E_INVALID,
                  "env[0] is not valid UTF-8");
    o.env = NULL;
    o.workdir = "/\xed\xa0\x80";
    assert_failed(nox_wire_encode_exec_request(argv, &o, &json, &len, err), err, NOX_E_INVALID,
                  "workdir is not valid UTF-8");
    o.workdir = NULL;
    o.timeout_seconds = 0;
    assert_failed(nox_wire_encode_exec_request(argv, &o, &json, &len, err), err, NOX_E_INVALID,
                  "timeoutSeconds");
    assert_null(json);
    nox_error_free(err);
}

/* ---- exec result -------------------------------------------------------- */

static void test_exec_result_encode(void **state)
{
    (void)state;
    nox_exec_result res = { 0 };
    res.stdout_data = (char *)"hi\n";
    res.stdout_len = 3;
    res.duration_ms = 12;
    char *json = NULL;
    size_t len = 0;
    assert_int_equal(nox_wire_encode_exec_result(&res, &json, &len, NULL), 0);
    assert_string_equal(json, "{\"exitCode\":0,\"stdout\":\"hi\\n\",\"stderr\":\"\","
                              "\"durationMs\":12,\"stdoutTruncated\":false,"
                              "\"stderrTruncated\":false,\"timedOut\":false}");
    assert_int_equal(len, strlen(json));
    nox_free(json);

    res.exit_code = 137;
    res.term_signal = 9;
    res.timed_out = true;
    res.stderr_truncated = true;
    res.stderr_data = (char *)"killed";
    res.stderr_len = 6;
    assert_int_equal(nox_wire_encode_exec_result(&res, &json, &len, NULL), 0);
    assert_string_equal(json, "{\"exitCode\":137,\"stdout\":\"hi\\n\",\"stderr\":\"killed\","
                              "\"durationMs\":12,\"stdoutTruncated\":false,"
                              "\"stderrTruncated\":true,\"timedOut\":true,\"signal\":9}");

    nox_exec_result *back = NULL;
    assert_int_equal(nox_wire_decode_exec_result(json, len, &back, NULL), 0);
    assert_int_equal(back->exit_code, 137);
    assert_int_equal(back->stdout_len, 3);
    assert_memory_equal(back->stdout_data, "hi\n", 4);
    assert_string_equal(back->stderr_data, "killed");
    assert_int_equal(back->duration_ms, 12);
    assert_false(back->stdout_truncated);
    assert_true(back->stderr_truncated);
    assert_true(back->timed_out);
    assert_int_equal(back->term_signal, 9);
    nox_exec_result_free(back);
    nox_free(json);

    nox_exec_result broken = { 0 };
    broken.stdout_len = 5;
    nox_error *err = nox_error_new();
    assert_failed(nox_wire_encode_exec_result(&broken, &json, &len, err), err, NOX_E_INVALID,
                  "no data");
    assert_failed(nox_wire_encode_exec_result(NULL, &json, &len, err), err, NOX_E_INVALID, "");
    nox_error_free(err);
}

/* Output that is not UTF-8 still makes valid JSON; each bad byte becomes
 * U+FFFD and NUL bytes travel as \u0000. */
static void test_exec_result_bad_utf8(void **state)
{
    (void)state;
#define FFFD "\xef\xbf\xbd"
    static const struct {
        const char *in;
        size_t in_len;
        const char *out;
        size_t out_len;
    } cases[] = {
#define C(i, o) { i, sizeof(i) - 1, o, sizeof(o) - 1 }
        C("plain ascii", "plain ascii"),
        C("a\0b", "a\0b"),
        C("\xff", FFFD),
        C("\xfe\xff", FFFD FFFD),
        C("\xc3\x28", FFFD "("),
        C("\xc3\xa9", "\xc3\xa9"),
        C("\xc0\xaf", FFFD FFFD),                   /* overlong '/' */
        C("\xc1\xbf", FFFD FFFD),                   /* overlong */
        C("\xe0\x80\xaf", FFFD FFFD FFFD),          /* overlong, 3 bytes */
        C("\xe0\xa0\x80", "\xe0\xa0\x80"),          /* U+0800, smallest 3-byte */
        C("\xed\x9f\xbf", "\xed\x9f\xbf"),          /* U+D7FF */
        C("\xed\xa0\x80", FFFD FFFD FFFD),          /* U+D800, a surrogate */
        C("\xed\xbf\xbf", FFFD FFFD FFFD),          /* U+DFFF */
        C("\xee\x80\x80", "\xee\x80\x80"),          /* U+E000 */
        C("\xef\xbf\xbf", "\xef\xbf\xbf"),          /* U+FFFF */
        C("\xf0\x80\x80\xaf", FFFD FFFD FFFD FFFD), /* overlong, 4 bytes */
        C("\xf0\x90\x80\x80", "\xf0\x90\x80\x80"),  /* U+10000 */
        C("\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf"),  /* U+10FFFF */
        C("\xf4\x90\x80\x80", FFFD FFFD FFFD FFFD), /* above U+10FFFF */
        C("\xf5\x80\x80\x80", FFFD FFFD FFFD FFFD),
        C("\xf8\x88\x80\x80\x80", FFFD FFFD FFFD FFFD FFFD),
        C("ok \xe2\x9c", "ok " FFFD FFFD), /* cut short at the end */
        C("\xe2\x9c ok", FFFD FFFD " ok"), /* cut short in the middle */
        C("\x80", FFFD),                   /* lone continuation byte */
        C("12345678\xff"
          "12345678",
          "12345678" FFFD "12345678"),
        C("\0\0\0\0\0\0\0\0\0", "\0\0\0\0\0\0\0\0\0"),
        C("\x7f\x01\x1f", "\x7f\x01\x1f"),
#undef C
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nox_exec_result res = { 0 };
        res.stdout_data = (char *)cases[i].in;
        res.stdout_len = cases[i].in_len;
        res.stderr_data = (char *)cases[i].in;
        res.stderr_len = cases[i].in_len;
        char *json = NULL;
        size_t len = 0;
        assert_int_equal(nox_wire_encode_exec_result(&res, &json, &len, NULL), 0);
        /* jansson validates UTF-8 strictly when it reads. */
        json_error_t je;
        json_t *j = json_loadb(json, len, JSON_ALLOW_NUL, &je);
        if (!j) {
            print_error("case %zu: %s: %s\n", i, json, je.text);
            fail();
        }
        json_decref(j);
        nox_exec_result *back = NULL;
        assert_int_equal(nox_wire_decode_exec_result(json, len, &back, NULL), 0);
        if (back->stdout_len != cases[i].out_len ||
            memcmp(back->stdout_data, cases[i].out, cases[i].out_len) != 0) {
            print_error("case %zu: got %zu bytes, wanted %zu\n", i, back->stdout_len,
                        cases[i].out_len);
            fail();
        }
        assert_int_equal(back->stdout_data[back->stdout_len], '\0');
        assert_int_equal(back->stderr_len, cases[i].out_len);
        nox_exec_result_free(back);
        nox_free(json);
    }
#undef FFFD
}

/* Random bytes, and a megabyte of mostly text: the result is always JSON
 * that jansson accepts, and valid input comes back unchanged. */
static void test_exec_result_random_output(void **state)
{
    (void)state;
    srand(12345);
    for (int round = 0; round < 2000; round++) {
        size_t n = (size_t)(rand() % 64);
        unsigned char buf[64];
        for (size_t i = 0; i < n; i++) {
            int k = rand() % 4;
            buf[i] = (unsigned char)(k == 0 ? rand() % 128 : 0x80 + rand() % 128);
        }
        nox_exec_result res = { 0 };
        res.stdout_data = (char *)buf;
        res.stdout_len = n;
        char *json = NULL;
        size_t len = 0;
        assert_int_equal(nox_wire_encode_exec_result(&res, &json, &len, NULL), 0);
        json_t *j = json_loadb(json, len, JSON_ALLOW_NUL, NULL);
        assert_non_null(j);
        json_t *s = json_object_get(j, "stdout");
        /* Either unchanged, or it was not valid UTF-8 and gained U+FFFD. */
        bool same = json_string_length(s) == n && memcmp(json_string_value(s), buf, n) == 0;
        if (!same)
            assert_non_null(memmem(json_string_value(s), json_string_length(s), "\xef\xbf\xbd", 3));
        json_decref(j);
        nox_free(json);
    }

    size_t big = 1 << 20;
    char *out = malloc(big);
    assert_non_null(out);
    for (size_t i = 0; i < big; i++)
        out[i] = (char)("hello world \xe2\x9c\x93\n"[i % 16]);
    out[big / 2] = '\xff';
    out[big / 3] = '\0';
    nox_exec_result res = { 0 };
    res.stdout_data = out;
    res.stdout_len = big;
    char *json = NULL;
    size_t len = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(nox_wire_encode_exec_result(&res, &json, &len, NULL), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    nox_exec_result *back = NULL;
    assert_int_equal(nox_wire_decode_exec_result(json, len, &back, NULL), 0);
    assert_int_equal(back->stdout_len, big + 2);
    assert_memory_equal(back->stdout_data, out, big / 3);
    assert_memory_equal(back->stdout_data + big / 2, "\xef\xbf\xbd", 3);
    print_message("encoded 1 MiB of output in %.1f ms\n",
                  (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
    nox_exec_result_free(back);
    nox_free(json);
    free(out);
}

/* A slow, obviously correct reference: the length of the well-formed
 * sequence at @p s, found by decoding the code point and checking it, or 0. */
static size_t ref_utf8(const unsigned char *s, size_t n)
{
    size_t len;
    uint32_t cp, min;
    if (s[0] < 0x80)
        return 1;
    if ((s[0] & 0xE0) == 0xC0) {
        len = 2, cp = s[0] & 0x1F, min = 0x80;
    } else if ((s[0] & 0xF0) == 0xE0) {
        len = 3, cp = s[0] & 0x0F, min = 0x800;
    } else if ((s[0] & 0xF8) == 0xF0) {
        len = 4, cp = s[0] & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

static size_t put_cp(unsigned char *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | cp >> 6);
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | cp >> 12);
        o[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | cp >> 18);
    o[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
    o[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* The hand-written exec answer encoder gives exactly the bytes jansson
 * gives for the reference-repaired output, over random mixes of text,
 * controls, quotes, boundary code points and broken sequences. */
static void test_exec_result_matches_jansson(void **state)
{
    (void)state;
    static const uint32_t edges[] = { 0x7F,   0x80,   0x7FF,   0x800,    0xD7FF, 0xE000,
                                      0xFFFD, 0xFFFF, 0x10000, 0x10FFFF, 0x2028, 0xE9 };
    static const char *const broken[] = {
        "\xc0\x80",         "\xc1\xbf",         "\xe0\x9f\xbf", "\xed\xa0\x80", "\xed\xbf\xbf",
        "\xf0\x8f\xbf\xbf", "\xf4\x90\x80\x80", "\xf5\x80",     "\xff",         "\x80",
        "\xe2\x9c",         "\xf0\x9f\x98"
    };
    srand(4242);
    unsigned char in[512], ref[2048];
    for (int round = 0; round < 20000; round++) {
        size_t n = 0, units = (size_t)(rand() % 60);
        for (size_t u = 0; u < units; u++) {
            switch (rand() % 8) {
            case 0:
                in[n++] = (unsigned char)(rand() % 0x20);
                break;
            case 1:
                in[n++] = "\"\\/\x7f"[rand() % 4];
                break;
            case 2:
                n += put_cp(in + n, edges[rand() % (int)(sizeof edges / sizeof edges[0])]);
                break;
            case 3:
                n += put_cp(in + n, (uint32_t)(rand() % 0x110000));
                break;
            case 4: {
                const char *b = broken[rand() % (int)(sizeof broken / sizeof broken[0])];
                memcpy(in + n, b, strlen(b));
                n += strlen(b);
                break;
            }
            case 5:
                in[n++] = (unsigned char)(0x80 + rand() % 0x80);
                break;
            default:
                for (int k = rand() % 12; k > 0; k--)
                    in[n++] = (unsigned char)(0x20 + rand() % 0x5F);
            }
        }
        size_t r = 0;
        for (size_t i = 0; i < n;) {
            size_t l = ref_utf8(in + i, n - i);
            if (l) {
                memcpy(ref + r, in + i, l);
                r += l;
                i += l;
            } else {
                memcpy(ref + r, "\xef\xbf\xbd", 3);
                r += 3;
                i++;
            }
        }
        json_t *lit = json_stringn((const char *)ref, r);
        assert_non_null(lit);
        char *lit_text = json_dumps(lit, JSON_COMPACT | JSON_ENCODE_ANY);
        assert_non_null(lit_text);
        char *want = nox_test_strf("{\"exitCode\":0,\"stdout\":%s,\"stderr\":%s,\"durationMs\":0,"
                                   "\"stdoutTruncated\":false,\"stderrTruncated\":false,"
                                   "\"timedOut\":false}",
                                   lit_text, lit_text);
        nox_exec_result res = { 0 };
        res.stdout_data = res.stderr_data = (char *)in;
        res.stdout_len = res.stderr_len = n;
        char *json = NULL;
        size_t len = 0;
        assert_int_equal(nox_wire_encode_exec_result(&res, &json, &len, NULL), 0);
        if (strcmp(json, want) != 0) {
            print_error("round %d:\n got %s\nwant %s\n", round, json, want);
            fail();
        }
        assert_int_equal(len, strlen(want));
        nox_free(json);
        free(want);
        free(lit_text);
        json_decref(lit);
    }
}

static void test_exec_result_decode(void **state)
{
    (void)state;
    nox_exec_result *res = NULL;
    const char *j = "{\"exitCode\":3}";
    assert_int_equal(nox_wire_decode_exec_result(j, strlen(j), &res, NULL), 0);
    assert_int_equal(res->exit_code, 3);
    assert_non_null(res->stdout_data);
    assert_string_equal(res->stdout_data, "");
    assert_int_equal(res->stdout_len, 0);
    assert_string_equal(res->stderr_data, "");
    assert_int_equal(res->duration_ms, 0);
    assert_int_equal(res->term_signal, 0);
    nox_exec_result_free(res);

    /* The contract's answer, from another backend: nulls, unknown fields,
     * duplicate keys (the last one wins, as in Python). */
    j = "{\"exitCode\":1,\"stdout\":null,\"stderr\":\"e\\u0000\",\"durationMs\":-5,"
        "\"podIp\":\"10.0.0.1\",\"exitCode\":2,\"signal\":null}";
    assert_int_equal(nox_wire_decode_exec_result(j, strlen(j), &res, NULL), 0);
    assert_int_equal(res->exit_code, 2);
    assert_string_equal(res->stdout_data, "");
    assert_int_equal(res->stderr_len, 2);
    assert_memory_equal(res->stderr_data, "e\0", 3);
    assert_int_equal(res->duration_ms, -5);
    nox_exec_result_free(res);

    j = "{\"exitCode\":-2147483648,\"signal\":2147483647}";
    assert_int_equal(nox_wire_decode_exec_result(j, strlen(j), &res, NULL), 0);
    assert_int_equal(res->exit_code, -2147483647 - 1);
    nox_exec_result_free(res);

    result_bad("{}", "field `exitCode` is required");
    result_bad("{\"exitCode\":null}", "field `exitCode` is required");
    result_bad("{\"exitCode\":\"0\"}", "field `exitCode` must be an integer, not a string");
    result_bad("{\"exitCode\":0.5}", "field `exitCode` must be an integer, not a decimal");
    result_bad("{\"exitCode\":2147483648}", "field `exitCode` is out of range");
    result_bad("{\"exitCode\":-2147483649}", "field `exitCode` is out of range");
    result_bad("{\"exitCode\":0,\"stdout\":5}", "field `stdout` must be a string, not an integer");
    result_bad("{\"exitCode\":0,\"stderr\":[]}", "field `stderr` must be a string, not an array");
    result_bad("{\"exitCode\":0,\"durationMs\":\"1\"}", "field `durationMs` must be an integer");
    result_bad("{\"exitCode\":0,\"timedOut\":\"yes\"}", "field `timedOut` must be a boolean");
    result_bad("{\"exitCode\":0,\"stdoutTruncated\":1}", "field `stdoutTruncated` must be a bool");
    result_bad("{\"exitCode\":0,\"stderrTruncated\":{}}", "field `stderrTruncated`");
    result_bad("{\"exitCode\":0,\"signal\":1.5}", "field `signal` must be an integer");
    result_bad("{\"exitCode\":0,\"signal\":4294967296}", "field `signal` is out of range");
    result_bad("", "answer is empty");
    result_bad("  ", "answer is empty");
    result_bad("[]", "answer must be a JSON object, not an array");
    result_bad("null", "answer must be a JSON object, not null");
    result_bad("<html>502 Bad Gateway</html>", "answer is not valid JSON");
    result_bad("{\"exitCode\":0", "line 1, column");
    result_bad("\xef\xbb\xbf", "answer is empty");
    result_bad("\xef\xbb\xbf\xef\xbb\xbf{}", "not valid JSON");

    nox_error *err = nox_error_new();
    assert_failed(nox_wire_decode_exec_result("{}", 2, NULL, err), err, NOX_E_INVALID, "");
    nox_error_free(err);
}

/* ---- sandboxes ---------------------------------------------------------- */

static nox_sandbox *full_sandbox(const char *id)
{
    nox_sandbox *sb = calloc(1, sizeof *sb);
    assert_non_null(sb);
    sb->id = strdup(id);
    sb->pod_name = nox_test_strf("nox-%s", id);
    sb->expires_at = strdup("2026-01-02T12:34:56Z");
    sb->expires_at_unix = 1767357296;
    sb->created_at = strdup("2026-01-02T12:19:56Z");
    sb->ttl_seconds = 900;
    sb->image = strdup("python");
    sb->isolation = strdup("namespaces");
    sb->running = 1;
    sb->disk_used_bytes = 4096;
    sb->n_limits = 2;
    sb->limits = calloc(2, sizeof *sb->limits);
    sb->limits[0].name = strdup("memory");
    sb->limits[0].requested = strdup("512Mi");
    sb->limits[0].value = 536870912;
    sb->limits[0].enforced = true;
    sb->limits[0].mechanism = strdup("cgroup-v2");
    sb->limits[1].name = strdup("cpu");
    sb->limits[1].value = 1000;
    sb->limits[1].reason = strdup("no cpu controller");
    return sb;
}

static const char full_sandbox_json[] =
    "{\"podName\":\"nox-a\",\"expiresAt\":\"2026-01-02T12:34:56Z\",\"sessionId\":\"a\","
    "\"createdAt\":\"2026-01-02T12:19:56Z\",\"ttlSeconds\":900,\"image\":\"python\","
    "\"isolation\":\"namespaces\",\"running\":true,\"diskUsedBytes\":4096,\"limits\":{"
    "\"memory\":{\"requested\":\"512Mi\",\"value\":536870912,\"enforced\":true,"
    "\"mechanism\":\"cgroup-v2\"},\"cpu\":{\"value\":1000,\"enforced\":false,"
    "\"reason\":\"no cpu controller\"}}}";

static void assert_sandbox_equal(const nox_sandbox *a, const nox_sandbox *b)
{
    assert_string_equal(a->id, b->id);
    assert_string_equal(a->pod_name, b->pod_name);
    assert_string_equal(a->expires_at, b->expires_at);
    assert_int_equal(a->expires_at_unix, b->expires_at_unix);
    assert_string_equal(a->created_at, b->created_at);
    assert_int_equal(a->ttl_seconds, b->ttl_seconds);
    assert_string_equal(a->image, b->image);
    assert_string_equal(a->isolation, b->isolation);
    assert_int_equal(a->running, b->running);
    assert_int_equal(a->disk_used_bytes, b->disk_used_bytes);
    assert_int_equal(a->n_limits, b->n_limits);
    for (size_t i = 0; i < a->n_limits; i++) {
        const nox_limit_info *x = &a->limits[i], *y = &b->limits[i];
        assert_string_equal(x->name, y->name);
        assert_true((x->requested == NULL) == (y->requested == NULL));
        if (x->requested)
            assert_string_equal(x->requested, y->requested);
        assert_true(x->value == y->value);
        assert_int_equal(x->enforced, y->enforced);
        assert_true((x->mechanism == NULL) == (y->mechanism == NULL));
        if (x->mechanism)
            assert_string_equal(x->mechanism, y->mechanism);
        assert_true((x->reason == NULL) == (y->reason == NULL));
        if (x->reason)
            assert_string_equal(x->reason, y->reason);
    }
}

static void test_sandbox_encode_decode(void **state)
{
    (void)state;
    nox_sandbox *sb = full_sandbox("a");
    char *json = NULL;
    size_t len = 0;
    assert_int_equal(nox_wire_encode_sandbox(sb, &json, &len, NULL), 0);
    assert_string_equal(json, full_sandbox_json);
    assert_int_equal(len, strlen(json));

    nox_sandbox *back = NULL;
    assert_int_equal(nox_wire_decode_sandbox(json, len, "other", &back, NULL), 0);
    assert_sandbox_equal(sb, back);
    nox_sandbox_free(back);
    nox_sandbox_free(sb);
    nox_free(json);

    /* The bare minimum: the id comes from the caller, unknown is -1. */
    const char *j = "{\"podName\":\"sandbox-abc\",\"expiresAt\":\"2026-01-02T12:34:56Z\"}";
    assert_int_equal(nox_wire_decode_sandbox(j, strlen(j), "abc", &back, NULL), 0);
    assert_string_equal(back->id, "abc");
    assert_string_equal(back->pod_name, "sandbox-abc");
    assert_string_equal(back->expires_at, "2026-01-02T12:34:56Z");
    assert_int_equal(back->expires_at_unix, 1767357296);
    assert_null(back->created_at);
    assert_int_equal(back->ttl_seconds, 0);
    assert_null(back->image);
    assert_null(back->isolation);
    assert_int_equal(back->running, -1);
    assert_int_equal(back->disk_used_bytes, -1);
    assert_int_equal(back->n_limits, 0);
    assert_null(back->limits);
    nox_sandbox_free(back);

    /* Encoded again, it is what the contract's create answer is. */
    sb = calloc(1, sizeof *sb);
    sb->pod_name = strdup("p");
    sb->expires_at_unix = 1767357296;
    sb->running = -1;
    sb->disk_used_bytes = -1;
    assert_int_equal(nox_wire_encode_sandbox(sb, &json, &len, NULL), 0);
    assert_string_equal(json, "{\"podName\":\"p\",\"expiresAt\":\"2026-01-02T12:34:56Z\"}");
    nox_free(json);
    sb->running = 0;
    sb->disk_used_bytes = 0;
    sb->expires_at_unix = 0;
    assert_int_equal(nox_wire_encode_sandbox(sb, &json, &len, NULL), 0);
    assert_string_equal(json, "{\"podName\":\"p\",\"running\":false,\"diskUsedBytes\":0}");
    nox_free(json);
    nox_sandbox_free(sb);

    /* An expiry this parser does not read is kept as text. No id at all. */
    j = "{\"podName\":\"p\",\"expiresAt\":\"tomorrow\",\"running\":false,\"diskUsedBytes\":-1,"
        "\"limits\":{},\"extra\":{\"deep\":[1,2,3]}}";
    assert_int_equal(nox_wire_decode_sandbox(j, strlen(j), NULL, &back, NULL), 0);
    assert_null(back->id);
    assert_string_equal(back->expires_at, "tomorrow");
    assert_int_equal(back->expires_at_unix, 0);
    assert_int_equal(back->running, 0);
    assert_int_equal(back->disk_used_bytes, -1);
    nox_sandbox_free(back);

    /* sessionId wins over the caller's id; nulls are absent. */
    j = "{\"podName\":\"p\",\"sessionId\":\"real\",\"image\":null,\"limits\":{\"pids\":"
        "{\"value\":512}}}";
    assert_int_equal(nox_wire_decode_sandbox(j, strlen(j), "given", &back, NULL), 0);
    assert_string_equal(back->id, "real");
    assert_null(back->image);
    assert_int_equal(back->n_limits, 1);
    assert_string_equal(back->limits[0].name, "pids");
    assert_true(back->limits[0].value == 512);
    assert_false(back->limits[0].enforced);
    assert_null(back->limits[0].requested);
    nox_sandbox_free(back);
}

static void test_sandbox_encode_edge_cases(void **state)
{
    (void)state;
    nox_sandbox *sb = full_sandbox("b");
    /* Beyond what a JSON integer holds: sent as the largest one. */
    sb->limits[0].value = UINT64_MAX;
    /* Strings that are not UTF-8 are repaired in answers. */
    free(sb->image);
    sb->image = strdup("bad \xff");
    char *json = NULL;
    size_t len = 0;
    assert_int_equal(nox_wire_encode_sandbox(sb, &json, &len, NULL), 0);
    assert_non_null(strstr(json, "\"value\":9223372036854775807,"));
    assert_non_null(strstr(json, "\"image\":\"bad \xef\xbf\xbd\""));
    nox_free(json);

    nox_error *err = nox_error_new();
    free(sb->limits[1].name);
    sb->limits[1].name = NULL;
    assert_failed(nox_wire_encode_sandbox(sb, &json, &len, err), err, NOX_E_INVALID,
                  "limit 1 of sandbox `b` has no name");
    free(sb->pod_name);
    sb->pod_name = NULL;
    assert_failed(nox_wire_encode_sandbox(sb, &json, &len, err), err, NOX_E_INVALID, "podName");
    assert_failed(nox_wire_encode_sandbox(NULL, &json, &len, err), err, NOX_E_INVALID, "");
    nox_sandbox_free(sb);
    nox_error_free(err);
}

static void test_sandbox_decode_errors(void **state)
{
    (void)state;
    sandbox_bad("{}", "field `podName` is required");
    sandbox_bad("{\"podName\":null}", "field `podName` is required");
    sandbox_bad("{\"podName\":5}", "field `podName` must be a string, not an integer");
    sandbox_bad("{\"podName\":\"p\\u0000\"}", "field `podName` must not contain a NUL");
    sandbox_bad("{\"podName\":\"p\",\"expiresAt\":123}", "field `expiresAt` must be a string");
    sandbox_bad("{\"podName\":\"p\",\"sessionId\":[]}", "field `sessionId` must be a string");
    sandbox_bad("{\"podName\":\"p\",\"createdAt\":1}", "field `createdAt` must be a string");
    sandbox_bad("{\"podName\":\"p\",\"image\":true}", "field `image` must be a string");
    sandbox_bad("{\"podName\":\"p\",\"isolation\":{}}", "field `isolation` must be a string");
    sandbox_bad("{\"podName\":\"p\",\"ttlSeconds\":\"900\"}", "field `ttlSeconds` must be an int");
    sandbox_bad("{\"podName\":\"p\",\"ttlSeconds\":-1}", "field `ttlSeconds` must not be negative");
    sandbox_bad("{\"podName\":\"p\",\"running\":\"yes\"}", "field `running` must be a boolean");
    sandbox_bad("{\"podName\":\"p\",\"running\":1}", "field `running` must be a boolean");
    sandbox_bad("{\"podName\":\"p\",\"diskUsedBytes\":1.5}",
                "field `diskUsedBytes` must be an int");
    sandbox_bad("{\"podName\":\"p\",\"diskUsedBytes\":-2}",
                "field `diskUsedBytes` must not be neg");
    sandbox_bad("{\"podName\":\"p\",\"limits\":[]}",
                "field `limits` must be an object keyed by limit name, not an array");
    sandbox_bad("{\"podName\":\"p\",\"limits\":{\"memory\":5}}",
                "field `limits.memory` must be an object, not an integer");
    sandbox_bad("{\"podName\":\"p\",\"limits\":{\"memory\":{\"value\":\"1\"}}}",
                "field `limits.memory.value` must be an integer, not a string");
    sandbox_bad("{\"podName\":\"p\",\"limits\":{\"memory\":{\"value\":-1}}}",
                "field `limits.memory.value` must not be negative");
    sandbox_bad(
        "{\"podName\":\"p\",\"limits\":{\"cpu\":{\"value\":1},\"memory\":{\"enforced\":1}}}",
        "field `limits.memory.enforced` must be a boolean");
    sandbox_bad("{\"podName\":\"p\",\"limits\":{\"m\":{\"requested\":5}}}",
                "field `limits.m.requested` must be a string");
    sandbox_bad("{\"podName\":\"p\",\"limits\":{\"m\":{\"mechanism\":[]}}}",
                "field `limits.m.mechanism` must be a string");
    sandbox_bad("{\"podName\":\"p\",\"limits\":{\"m\":{\"reason\":false}}}",
                "field `limits.m.reason` must be a string");
    sandbox_bad("", "answer is empty");
    sandbox_bad("\"p\"", "answer must be a JSON object, not a string");
    sandbox_bad("{\"podName\":", "answer is not valid JSON");
}

/* ---- lists -------------------------------------------------------------- */

static void test_list(void **state)
{
    (void)state;
    nox_sandbox_list list = { 0 };
    nox_sandbox *a = full_sandbox("a"), *b = full_sandbox("b");
    nox_sandbox items[2] = { *a, *b };
    list.items = items;
    list.count = 2;
    char *json = NULL;
    size_t len = 0;
    assert_int_equal(nox_wire_encode_sandbox_list(&list, &json, &len, NULL), 0);
    assert_true(strncmp(json, "{\"sandboxes\":[{\"podName\":\"nox-a\"", 32) == 0);
    nox_sandbox_list *back = NULL;
    assert_int_equal(nox_wire_decode_sandbox_list(json, len, &back, NULL), 0);
    assert_int_equal(back->count, 2);
    assert_sandbox_equal(&back->items[0], a);
    assert_sandbox_equal(&back->items[1], b);
    nox_sandbox_list_free(back);
    nox_free(json);
    free(a);
    free(b);
    nox__sandbox_clear(&items[0]);
    nox__sandbox_clear(&items[1]);

    /* Empty. */
    list.items = NULL;
    list.count = 0;
    assert_int_equal(nox_wire_encode_sandbox_list(&list, &json, &len, NULL), 0);
    assert_string_equal(json, "{\"sandboxes\":[]}");
    assert_int_equal(nox_wire_decode_sandbox_list(json, len, &back, NULL), 0);
    assert_int_equal(back->count, 0);
    nox_sandbox_list_free(back);
    nox_free(json);

    /* Sorted by id whatever order they came in. */
    const char *j = "{\"sandboxes\":[{\"podName\":\"p3\",\"sessionId\":\"c\"},"
                    "{\"podName\":\"p1\",\"sessionId\":\"a\"},{\"podName\":\"p2\","
                    "\"sessionId\":\"b\",\"limits\":{\"memory\":{\"value\":1}}}],\"next\":null}";
    assert_int_equal(nox_wire_decode_sandbox_list(j, strlen(j), &back, NULL), 0);
    assert_int_equal(back->count, 3);
    assert_string_equal(back->items[0].id, "a");
    assert_string_equal(back->items[1].id, "b");
    assert_string_equal(back->items[2].id, "c");
    assert_int_equal(back->items[1].n_limits, 1);
    assert_int_equal(back->items[0].running, -1);
    nox_sandbox_list_free(back);

    list_bad("{}", "field `sandboxes` is required");
    list_bad("{\"sandboxes\":{}}", "field `sandboxes` must be an array, not an object");
    list_bad("{\"sandboxes\":[{\"podName\":\"a\"},5]}",
             "field `sandboxes[1]` must be an object, not an integer");
    list_bad("{\"sandboxes\":[{\"podName\":\"a\"},{\"podName\":\"b\",\"limits\":{\"x\":{}}},{}]}",
             "field `sandboxes[2].podName` is required");
    list_bad("{\"sandboxes\":[{\"podName\":\"a\",\"limits\":{\"cpu\":{\"enforced\":\"x\"}}}]}",
             "field `sandboxes[0].limits.cpu.enforced` must be a boolean");
    list_bad("[]", "answer must be a JSON object");
    list_bad("", "answer is empty");

    nox_error *err = nox_error_new();
    list.count = 1;
    list.items = NULL;
    assert_failed(nox_wire_encode_sandbox_list(&list, &json, &len, err), err, NOX_E_INVALID,
                  "no items");
    nox_sandbox bad = { 0 };
    list.items = &bad;
    assert_failed(nox_wire_encode_sandbox_list(&list, &json, &len, err), err, NOX_E_INVALID,
                  "podName");
    nox_error_free(err);
}

/* ---- errors ------------------------------------------------------------- */

static void test_encode_error(void **state)
{
    (void)state;
    char *json = NULL;
    size_t len = 0;
    assert_int_equal(nox_wire_encode_error("boom", &json, &len), 0);
    assert_string_equal(json, "{\"error\":\"boom\"}");
    assert_int_equal(len, strlen(json));
    nox_free(json);
    assert_int_equal(nox_wire_encode_error("say \"hi\"\n\\ \x01 \xff", &json, &len), 0);
    assert_string_equal(json, "{\"error\":\"say \\\"hi\\\"\\n\\\\ \\u0001 \xef\xbf\xbd\"}");
    nox_free(json);
    assert_int_equal(nox_wire_encode_error(NULL, &json, NULL), 0);
    assert_string_equal(json, "{\"error\":\"\"}");
    char *msg = nox_wire_error_message(json, strlen(json));
    assert_string_equal(msg, "");
    nox_free(msg);
    nox_free(json);
    assert_int_equal(nox_wire_encode_error("x", NULL, NULL), NOX_E_INVALID);
}

static void check_message(const char *body, size_t len, const char *want)
{
    char *msg = nox_wire_error_message(body, len);
    assert_non_null(msg);
    assert_string_equal(msg, want);
    nox_free(msg);
}
#define MESSAGE(body, want) check_message((body), sizeof(body) - 1, (want))

static void test_error_message(void **state)
{
    (void)state;
    MESSAGE("{\"error\":\"no such sandbox\"}", "no such sandbox");
    MESSAGE("{\"message\":\"m\"}", "m");
    MESSAGE("\xef\xbb\xbf{\"error\":\"bom\"}", "bom");
    MESSAGE("{\"detail\":\"Sandbox not found\"}", "Sandbox not found");
    MESSAGE("{\"error\":\"e\",\"message\":\"m\",\"detail\":\"d\"}", "e");
    MESSAGE("{\"error\":null,\"message\":\"m\"}", "m");
    MESSAGE("{\"error\":{\"message\":\"nested\",\"code\":5}}", "nested");
    MESSAGE("{\"detail\":[{\"loc\":[\"body\",\"cmd\"],\"msg\":\"field required\"}]}",
            "[{\"loc\":[\"body\",\"cmd\"],\"msg\":\"field required\"}]");
    MESSAGE("{\"detail\":{\"reason\":\"x\"}}", "{\"reason\":\"x\"}");
    MESSAGE("{\"error\":\"nul\\u0000in it\"}", "nul\xef\xbf\xbdin it");
    MESSAGE("{\"error\":\"  padded \\n\"}", "padded");
    /* No message field: the body itself. */
    MESSAGE("{\"error\":5}", "{\"error\":5}");
    MESSAGE("{\"status\":\"bad\"}", "{\"status\":\"bad\"}");
    MESSAGE("[\"error\"]", "[\"error\"]");
    MESSAGE("Internal Server Error\n", "Internal Server Error");
    MESSAGE("  \r\n<html><body>502 Bad Gateway</body></html>\r\n",
            "<html><body>502 Bad Gateway</body></html>");
    MESSAGE("bad \xff byte", "bad \xef\xbf\xbd byte");
    MESSAGE("nul \0 byte", "nul \xef\xbf\xbd byte");
    MESSAGE("   \n\t ", "");
    MESSAGE("", "");
    check_message(NULL, 0, "");
    check_message(NULL, 5, "");

    /* Long bodies are cut at 1 KiB, on a character boundary. */
    char body[5000];
    memset(body, 'a', sizeof body);
    char *msg = nox_wire_error_message(body, sizeof body);
    assert_int_equal(strlen(msg), 1024 + strlen("…"));
    assert_string_equal(msg + 1024, "…");
    nox_free(msg);
    memcpy(body + 1023, "\xc3\xa9", 2); /* é straddles byte 1024 */
    msg = nox_wire_error_message(body, sizeof body);
    assert_int_equal(strlen(msg), 1023 + strlen("…"));
    assert_string_equal(msg + 1023, "…");
    nox_free(msg);
    msg = nox_wire_error_message(body, 1024); /* short enough: kept, repaired */
    assert_int_equal(strlen(msg), 1023 + 3);
    nox_free(msg);
    memset(body, 'b', sizeof body);
    msg = nox_wire_error_message(body, 1024);
    assert_int_equal(strlen(msg), 1024);
    nox_free(msg);
    msg = nox_wire_error_message(body, 1025);
    assert_int_equal(strlen(msg), 1024 + strlen("…"));
    nox_free(msg);
    /* A long JSON message is cut the same way. */
    char *long_json = malloc(3000);
    size_t k = (size_t)snprintf(long_json, 3000, "{\"error\":\"");
    memset(long_json + k, 'x', 2000);
    memcpy(long_json + k + 2000, "\"}", 3);
    msg = nox_wire_error_message(long_json, strlen(long_json));
    assert_int_equal(strlen(msg), 1024 + strlen("…"));
    assert_int_equal(msg[0], 'x');
    nox_free(msg);
    free(long_json);
}

/* ---- time --------------------------------------------------------------- */

static void test_format_time(void **state)
{
    (void)state;
    static const struct {
        int64_t t;
        const char *s;
    } cases[] = {
        { 0, "1970-01-01T00:00:00Z" },
        { 1767357296, "2026-01-02T12:34:56Z" },
        { 951782400, "2000-02-29T00:00:00Z" },
        { 1709251199, "2024-02-29T23:59:59Z" },
        { 1483228799, "2016-12-31T23:59:59Z" },
        { 1798761599, "2026-12-31T23:59:59Z" },
        { -1, "1969-12-31T23:59:59Z" },
        { -62135596800, "0001-01-01T00:00:00Z" },
        { -62167219200, "0000-01-01T00:00:00Z" },
        { 253402300799, "9999-12-31T23:59:59Z" },
    };
    char buf[32];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(nox_wire_format_time(cases[i].t, buf, sizeof buf), 0);
        assert_string_equal(buf, cases[i].s);
        int64_t back = 42;
        assert_int_equal(nox_wire_parse_time(buf, &back, NULL), 0);
        assert_true(back == cases[i].t);
    }
    assert_int_equal(nox_wire_format_time(0, buf, 21), 0);
    assert_int_equal(nox_wire_format_time(0, buf, 20), NOX_E_INVALID);
    assert_int_equal(nox_wire_format_time(0, NULL, 32), NOX_E_INVALID);
    assert_int_equal(nox_wire_format_time(253402300800, buf, sizeof buf), NOX_E_INVALID);
    assert_int_equal(nox_wire_format_time(-62167219201, buf, sizeof buf), NOX_E_INVALID);
    assert_int_equal(nox_wire_format_time(INT64_MIN, buf, sizeof buf), NOX_E_INVALID);
    assert_int_equal(nox_wire_format_time(INT64_MAX, buf, sizeof buf), NOX_E_INVALID);
}

/* The calendar arithmetic agrees with the C library's over the whole range. */
static void test_time_against_libc(void **state)
{
    (void)state;
    srand(777);
    char buf[32], want[64];
    for (int i = 0; i < 200000; i++) {
        int64_t t = (int64_t)(((uint64_t)rand() << 31 | (uint64_t)rand()) %
                              (253402300799ull + 62167219200ull + 1)) -
                    62167219200;
        if (i < 1000)
            t = (int64_t)i * 86399 * 37 - 86400LL * 366 * 3; /* around 1967-1970 */
        time_t tt = (time_t)t;
        struct tm tm;
        assert_non_null(gmtime_r(&tt, &tm));
        snprintf(want, sizeof want, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        assert_int_equal(nox_wire_format_time(t, buf, sizeof buf), 0);
        assert_string_equal(buf, want);
        int64_t back;
        assert_int_equal(nox_wire_parse_time(buf, &back, NULL), 0);
        assert_true(back == t);
        assert_true((int64_t)timegm(&tm) == t);
    }
}

static void test_parse_time(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        int64_t t;
    } ok[] = {
        { "2026-01-02T12:34:56Z", 1767357296 },
        { "2026-01-02T12:34:56.123456Z", 1767357296 },
        { "2026-01-02T12:34:56.999999999Z", 1767357296 },
        { "2026-01-02T12:34:56,5Z", 1767357296 },
        { "2026-01-02t12:34:56z", 1767357296 },
        { "2026-01-02 12:34:56Z", 1767357296 },
        { "2026-01-02T12:34:56", 1767357296 }, /* no zone: UTC */
        { "2026-01-02T12:34:56.5", 1767357296 },
        { "2026-01-02T12:34:56+00:00", 1767357296 },
        { "2026-01-02T12:34:56-00:00", 1767357296 },
        { "2026-01-02T13:34:56+01:00", 1767357296 },
        { "2026-01-02T07:04:56-05:30", 1767357296 },
        { "2026-01-02T18:04:56+0530", 1767357296 },
        { "2026-01-02T14:34:56+02", 1767357296 },
        { "2026-01-02T12:34:56.000001+00:00", 1767357296 },
        { "2026-01-03T00:04:56+11:30", 1767357296 },
        { "2026-01-01T23:34:56-13:00", 1767357296 },
        { "2000-02-29T00:00:00Z", 951782400 },
        { "2024-02-29T23:59:59Z", 1709251199 },
        { "2016-12-31T23:59:60Z", 1483228800 }, /* leap second */
        { "1969-12-31T23:59:59Z", -1 },
        { "1970-01-01T00:00:00Z", 0 },
        { "0000-01-01T00:00:00Z", -62167219200 },
        { "9999-12-31T23:59:59Z", 253402300799 },
        { "0000-01-01T00:00:00+23:59", -62167219200 - 86340 },
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        int64_t t = 42;
        nox_error *err = nox_error_new();
        int r = nox_wire_parse_time(ok[i].s, &t, err);
        if (r != 0 || t != ok[i].t) {
            print_error("`%s`: r=%d t=%lld want %lld (%s)\n", ok[i].s, r, (long long)t,
                        (long long)ok[i].t, nox_error_message(err));
            fail();
        }
        nox_error_free(err);
    }

    static const struct {
        const char *s;
        const char *needle;
    } bad[] = {
        { "", "is not of the form" },
        { "tomorrow", "`tomorrow` is not of the form" },
        { "2026-01-02", "is not of the form" },
        { "2026-01-02T12:34", "is not of the form" },
        { "2026-1-02T12:34:56Z", "is not of the form" },
        { "26-01-02T12:34:56Z", "is not of the form" },
        { "+2026-01-02T12:34:56Z", "is not of the form" },
        { "2026-01-02X12:34:56Z", "is not of the form" },
        { "2026-01-02T12:34:56ZZ", "trailing characters" },
        { "2026-01-02T12:34:56Z ", "trailing characters" },
        { "2026-01-02T12:34:56 Z", "trailing characters" },
        { "2026-01-02T12:34:56.Z", "decimal point without digits" },
        { "2026-01-02T12:34:56+1", "invalid UTC offset" },
        { "2026-01-02T12:34:56+01:", "invalid UTC offset" },
        { "2026-01-02T12:34:56+01:0", "invalid UTC offset" },
        { "2026-01-02T12:34:56+24:00", "UTC offset out of range" },
        { "2026-01-02T12:34:56+01:60", "UTC offset out of range" },
        { "2026-01-02T12:34:56+01:00:00", "trailing" },
        { "2026-00-02T12:34:56Z", "not a valid date" },
        { "2026-13-02T12:34:56Z", "not a valid date" },
        { "2026-01-00T12:34:56Z", "not a valid date" },
        { "2026-01-32T12:34:56Z", "not a valid date" },
        { "2026-04-31T12:34:56Z", "not a valid date" },
        { "2023-02-29T12:34:56Z", "not a valid date" },
        { "1900-02-29T12:34:56Z", "not a valid date" },
        { "2024-02-30T12:34:56Z", "not a valid date" },
        { "2026-01-02T24:00:00Z", "not a valid time of day" },
        { "2026-01-02T12:60:00Z", "not a valid time of day" },
        { "2026-01-02T12:34:61Z", "not a valid time of day" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t t = 42;
        nox_error *err = nox_error_new();
        int r = nox_wire_parse_time(bad[i].s, &t, err);
        if (r != NOX_E_INVALID || t != 42 || !strstr(nox_error_message(err), bad[i].needle)) {
            print_error("`%s`: r=%d message `%s`, wanted `%s`\n", bad[i].s, r,
                        nox_error_message(err), bad[i].needle);
            fail();
        }
        nox_error_free(err);
    }
    int64_t t;
    assert_int_equal(nox_wire_parse_time(NULL, &t, NULL), NOX_E_INVALID);
    assert_int_equal(nox_wire_parse_time("x", &t, NULL), NOX_E_INVALID);
}

static void test_codes_and_statuses(void **state)
{
    (void)state;
    assert_string_equal(nox_code_name(NOX_OK), "NOX_OK");
    assert_string_equal(nox_code_name(NOX_E_NOT_FOUND), "NOX_E_NOT_FOUND");
    assert_string_equal(nox_code_name(NOX_E_INTERNAL), "NOX_E_INTERNAL");
    assert_string_equal(nox_code_name(-999), "NOX_E_UNKNOWN");
    assert_int_equal(nox_wire_http_status(NOX_E_INVALID), 400);
    assert_int_equal(nox_wire_http_status(NOX_E_ARCHIVE), 400);
    assert_int_equal(nox_wire_http_status(NOX_E_NOT_FOUND), 404);
    assert_int_equal(nox_wire_http_status(NOX_E_LIMIT), 413);
    assert_int_equal(nox_wire_http_status(NOX_E_NOT_READY), 503);
    assert_int_equal(nox_wire_http_status(NOX_E_EXEC), 500);
    /* Every code has a name and a description. */
    for (int c = 0; c >= NOX_E_INTERNAL; c--) {
        assert_string_not_equal(nox_code_name(c), "NOX_E_UNKNOWN");
        assert_string_not_equal(nox_strerror(c), "unknown error code");
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_codes_and_statuses),
        cmocka_unit_test(test_create_decode_valid),
        cmocka_unit_test(test_create_decode_empty),
        cmocka_unit_test(test_create_decode_errors),
        cmocka_unit_test(test_create_decode_without_error_object),
        cmocka_unit_test(test_create_encode),
        cmocka_unit_test(test_exec_decode_valid),
        cmocka_unit_test(test_exec_decode_errors),
        cmocka_unit_test(test_exec_encode),
        cmocka_unit_test(test_exec_result_encode),
        cmocka_unit_test(test_exec_result_bad_utf8),
        cmocka_unit_test(test_exec_result_random_output),
        cmocka_unit_test(test_exec_result_matches_jansson),
        cmocka_unit_test(test_exec_result_decode),
        cmocka_unit_test(test_sandbox_encode_decode),
        cmocka_unit_test(test_sandbox_encode_edge_cases),
        cmocka_unit_test(test_sandbox_decode_errors),
        cmocka_unit_test(test_list),
        cmocka_unit_test(test_encode_error),
        cmocka_unit_test(test_error_message),
        cmocka_unit_test(test_format_time),
        cmocka_unit_test(test_time_against_libc),
        cmocka_unit_test(test_parse_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
