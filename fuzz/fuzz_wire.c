/* SPDX-License-Identifier: MIT */
/* libFuzzer target for the wire module: the same bytes go to every decoder,
 * whatever decodes is encoded again and must decode to the same thing, and
 * the bytes themselves, as command output and as an error message, must
 * always encode to JSON that jansson accepts. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <noxrunner/wire.h>

/* Inputs larger than this only make runs slower; the parsers are linear. */
#define MAX_INPUT (64 * 1024)

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);               \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static bool str_eq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* True when @p s is valid UTF-8 (jansson checks strictly). */
static bool is_utf8(const char *s, size_t n)
{
    json_t *j = json_stringn(s, n);
    json_decref(j);
    return j != NULL;
}

static void create_request(const char *json, size_t size, nox_error *err)
{
    nox_create_options *o = NULL;
    if (nox_wire_decode_create_request(json, size, &o, err) < 0)
        return;
    char *out = NULL;
    size_t len = 0;
    CHECK(nox_wire_encode_create_request(o, &out, &len, err) == 0);
    nox_create_options *back = NULL;
    CHECK(nox_wire_decode_create_request(out, len, &back, err) == 0);
    CHECK(back->ttl_seconds == o->ttl_seconds);
    CHECK(str_eq(back->image, o->image));
    CHECK(str_eq(back->cpu_limit, o->cpu_limit));
    CHECK(str_eq(back->memory_limit, o->memory_limit));
    CHECK(str_eq(back->ephemeral_storage_limit, o->ephemeral_storage_limit));
    free(back);
    free(out);
    free(o);
}

static void exec_request(const char *json, size_t size, nox_error *err)
{
    nox_exec_request *req = NULL;
    if (nox_wire_decode_exec_request(json, size, &req, err) < 0)
        return;
    CHECK(req->argv[0] && req->argv[0][0]);
    char *out = NULL;
    size_t len = 0;
    CHECK(nox_wire_encode_exec_request((const char *const *)req->argv, &req->opts, &out, &len,
                                       err) == 0);
    nox_exec_request *back = NULL;
    CHECK(nox_wire_decode_exec_request(out, len, &back, err) == 0);
    size_t i;
    for (i = 0; req->argv[i]; i++)
        CHECK(str_eq(back->argv[i], req->argv[i]));
    CHECK(!back->argv[i]);
    CHECK(str_eq(back->opts.workdir, req->opts.workdir));
    CHECK(back->opts.timeout_seconds == req->opts.timeout_seconds);
    CHECK(!back->opts.env == !req->opts.env);
    for (i = 0; req->opts.env && req->opts.env[i]; i++)
        CHECK(str_eq(back->opts.env[i], req->opts.env[i]));
    CHECK(!req->opts.env || !back->opts.env[i]);
    free(back);
    free(out);
    free(req);
}

static void exec_result(const char *json, size_t size, nox_error *err)
{
    nox_exec_result *res = NULL;
    if (nox_wire_decode_exec_result(json, size, &res, err) < 0)
        return;
    char *out = NULL;
    size_t len = 0;
    CHECK(nox_wire_encode_exec_result(res, &out, &len, err) == 0);
    nox_exec_result *back = NULL;
    CHECK(nox_wire_decode_exec_result(out, len, &back, err) == 0);
    CHECK(back->exit_code == res->exit_code);
    CHECK(back->stdout_len == res->stdout_len);
    CHECK(memcmp(back->stdout_data, res->stdout_data, res->stdout_len) == 0);
    CHECK(back->stderr_len == res->stderr_len);
    CHECK(memcmp(back->stderr_data, res->stderr_data, res->stderr_len) == 0);
    CHECK(back->duration_ms == res->duration_ms);
    CHECK(back->stdout_truncated == res->stdout_truncated);
    CHECK(back->stderr_truncated == res->stderr_truncated);
    CHECK(back->timed_out == res->timed_out);
    CHECK(back->term_signal == res->term_signal);
    nox_exec_result_free(back);
    nox_exec_result_free(res);
    free(out);
}

static void check_sandbox_equal(const nox_sandbox *a, const nox_sandbox *b)
{
    CHECK(str_eq(a->id, b->id));
    CHECK(str_eq(a->pod_name, b->pod_name));
    CHECK(str_eq(a->expires_at, b->expires_at));
    CHECK(a->expires_at_unix == b->expires_at_unix);
    CHECK(str_eq(a->created_at, b->created_at));
    CHECK(a->ttl_seconds == b->ttl_seconds);
    CHECK(str_eq(a->image, b->image));
    CHECK(str_eq(a->isolation, b->isolation));
    CHECK(a->running == b->running);
    CHECK(a->disk_used_bytes == b->disk_used_bytes);
    CHECK(a->n_limits == b->n_limits);
    for (size_t i = 0; i < a->n_limits; i++) {
        CHECK(str_eq(a->limits[i].name, b->limits[i].name));
        CHECK(str_eq(a->limits[i].requested, b->limits[i].requested));
        CHECK(a->limits[i].value == b->limits[i].value);
        CHECK(a->limits[i].enforced == b->limits[i].enforced);
        CHECK(str_eq(a->limits[i].mechanism, b->limits[i].mechanism));
        CHECK(str_eq(a->limits[i].reason, b->limits[i].reason));
    }
}

static void sandbox(const char *json, size_t size, nox_error *err)
{
    nox_sandbox *sb = NULL;
    if (nox_wire_decode_sandbox(json, size, "fuzz-id", &sb, err) < 0)
        return;
    char *out = NULL;
    size_t len = 0;
    CHECK(nox_wire_encode_sandbox(sb, &out, &len, err) == 0);
    nox_sandbox *back = NULL;
    CHECK(nox_wire_decode_sandbox(out, len, NULL, &back, err) == 0);
    check_sandbox_equal(sb, back);
    nox_sandbox_free(back);
    nox_sandbox_free(sb);
    free(out);
}

static void sandbox_list(const char *json, size_t size, nox_error *err)
{
    nox_sandbox_list *list = NULL;
    if (nox_wire_decode_sandbox_list(json, size, &list, err) < 0)
        return;
    char *out = NULL;
    size_t len = 0;
    CHECK(nox_wire_encode_sandbox_list(list, &out, &len, err) == 0);
    nox_sandbox_list *back = NULL;
    CHECK(nox_wire_decode_sandbox_list(out, len, &back, err) == 0);
    CHECK(back->count == list->count);
    for (size_t i = 0; i < list->count; i++) {
        CHECK(str_eq(back->items[i].id, list->items[i].id));
        CHECK(str_eq(back->items[i].pod_name, list->items[i].pod_name));
    }
    nox_sandbox_list_free(back);
    nox_sandbox_list_free(list);
    free(out);
}

static void error_message(const char *data, size_t size)
{
    char *msg = nox_wire_error_message(data, size);
    CHECK(msg);
    size_t n = strlen(msg);
    /* 1 KiB and an ellipsis at most, and valid UTF-8. */
    CHECK(n <= 1024 + 3);
    CHECK(is_utf8(msg, n));
    char *out = NULL;
    size_t len = 0;
    CHECK(nox_wire_encode_error(msg, &out, &len) == 0);
    char *again = nox_wire_error_message(out, len);
    CHECK(again);
    /* Re-extraction trims, so compare against the trimmed message. */
    const char *s = msg;
    while (*s && strchr(" \t\r\n\v\f", *s))
        s++;
    size_t k = strlen(s);
    while (k && strchr(" \t\r\n\v\f", s[k - 1]))
        k--;
    CHECK(strlen(again) == k && memcmp(again, s, k) == 0);
    free(again);
    free(out);
    free(msg);
}

/* Arbitrary bytes as command output and as an error message. */
static void raw_bytes(const char *data, size_t size)
{
    nox_exec_result res = { 0 };
    res.stdout_data = (char *)data;
    res.stdout_len = size;
    res.stderr_data = (char *)data;
    res.stderr_len = size / 2;
    char *out = NULL;
    size_t len = 0;
    CHECK(nox_wire_encode_exec_result(&res, &out, &len, NULL) == 0);
    CHECK(strlen(out) == len);
    json_error_t je;
    json_t *j = json_loadb(out, len, JSON_ALLOW_NUL, &je);
    if (!j) {
        fprintf(stderr, "exec answer is not JSON: %s\n", je.text);
        abort();
    }
    json_decref(j);
    /* Valid input comes back byte for byte. */
    if (is_utf8(data, size)) {
        nox_exec_result *back = NULL;
        CHECK(nox_wire_decode_exec_result(out, len, &back, NULL) == 0);
        CHECK(back->stdout_len == size && memcmp(back->stdout_data, data, size) == 0);
        nox_exec_result_free(back);
    }
    free(out);

    char *text = malloc(size + 1);
    CHECK(text);
    memcpy(text, data, size);
    text[size] = '\0';
    CHECK(nox_wire_encode_error(text, &out, &len) == 0);
    j = json_loadb(out, len, 0, &je);
    CHECK(j && json_is_string(json_object_get(j, "error")));
    json_decref(j);
    free(out);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > MAX_INPUT)
        return 0;
    const char *json = (const char *)data;
    /* Half the runs without an error object: that path must not crash or
     * change codes either. */
    nox_error *err = size % 2 ? nox_error_new() : NULL;
    create_request(json, size, err);
    exec_request(json, size, err);
    exec_result(json, size, err);
    sandbox(json, size, err);
    sandbox_list(json, size, err);
    error_message(json, size);
    raw_bytes(json, size);
    nox_error_free(err);
    return 0;
}
