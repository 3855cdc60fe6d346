/* SPDX-License-Identifier: MIT */
/* libFuzzer target for what the http backend believes of a server: the
 * bodies it decodes (exec answers, sandbox descriptions, sandbox lists) and
 * the text it extracts from an error answer. A server can be anything a
 * user points the client at, so every byte here is hostile.
 *
 * fuzz_wire covers every decoder at once; this one holds the answers to the
 * client's contract:
 *  - a refusal is NOX_E_PROTOCOL (or NOX_E_NOMEM) with a message, and the
 *    out-parameter is left alone;
 *  - what decodes is well-formed: outputs NUL-terminated at their length,
 *    lists sorted by id, every limit named;
 *  - decode -> encode -> decode gives equal objects (exec results,
 *    sandboxes, every sandbox of a list);
 *  - the error text is at most 1 KiB plus an ellipsis and valid UTF-8,
 *    whatever the body.
 * The body is handed over exactly as received: not NUL-terminated, so any
 * read past its length is an ASan report. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <noxrunner/wire.h>

/* Answers are small; the parsers are linear, so larger inputs only slow
 * the fuzzer down. */
#define MAX_INPUT (64 * 1024)

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);               \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool str_eq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* A refused answer: the documented codes, a message, nothing returned. */
static void check_refusal(int r, const nox_error *err, const void *out, const void *sentinel)
{
    CHECK(r == NOX_E_PROTOCOL || r == NOX_E_NOMEM);
    CHECK(out == sentinel);
    if (err) {
        CHECK(nox_error_code(err) == r);
        CHECK(*nox_error_message(err));
    }
}

static void check_output(const char *p, size_t len)
{
    if (!p) {
        CHECK(len == 0);
        return;
    }
    CHECK(p[len] == '\0');
}

static void check_result_equal(const nox_exec_result *a, const nox_exec_result *b)
{
    CHECK(a->exit_code == b->exit_code);
    CHECK(a->stdout_len == b->stdout_len);
    CHECK(a->stdout_len == 0 || memcmp(a->stdout_data, b->stdout_data, a->stdout_len) == 0);
    CHECK(a->stderr_len == b->stderr_len);
    CHECK(a->stderr_len == 0 || memcmp(a->stderr_data, b->stderr_data, a->stderr_len) == 0);
    CHECK(a->duration_ms == b->duration_ms);
    CHECK(a->stdout_truncated == b->stdout_truncated);
    CHECK(a->stderr_truncated == b->stderr_truncated);
    CHECK(a->timed_out == b->timed_out);
    CHECK(a->term_signal == b->term_signal);
}

static void exec_answer(const char *body, size_t len, nox_error *err)
{
    nox_exec_result *sentinel = (nox_exec_result *)&sentinel;
    nox_exec_result *res = sentinel;
    int r = nox_wire_decode_exec_result(body, len, &res, err);
    if (r < 0) {
        check_refusal(r, err, res, sentinel);
        return;
    }
    CHECK(r == 0 && res && res != sentinel);
    check_output(res->stdout_data, res->stdout_len);
    check_output(res->stderr_data, res->stderr_len);

    char *json = NULL;
    size_t json_len = 0;
    CHECK(nox_wire_encode_exec_result(res, &json, &json_len, err) == 0);
    CHECK(strlen(json) == json_len);
    nox_exec_result *back = NULL;
    CHECK(nox_wire_decode_exec_result(json, json_len, &back, err) == 0);
    check_result_equal(res, back);
    nox_exec_result_free(back);
    nox_exec_result_free(res);
    free(json);
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

/* What any decoded sandbox must look like. */
static void check_sandbox(const nox_sandbox *sb)
{
    CHECK(sb->pod_name); /* required by the contract */
    CHECK(sb->running >= -1 && sb->running <= 1);
    CHECK(sb->n_limits == 0 || sb->limits);
    for (size_t i = 0; i < sb->n_limits; i++)
        CHECK(sb->limits[i].name);
}

static void sandbox_answer(const char *body, size_t len, const char *id, nox_error *err)
{
    nox_sandbox *sentinel = (nox_sandbox *)&sentinel;
    nox_sandbox *sb = sentinel;
    int r = nox_wire_decode_sandbox(body, len, id, &sb, err);
    if (r < 0) {
        check_refusal(r, err, sb, sentinel);
        return;
    }
    CHECK(r == 0 && sb && sb != sentinel);
    check_sandbox(sb);
    /* The caller's id fills in only what the answer lacks. */
    if (id)
        CHECK(sb->id);

    char *json = NULL;
    size_t json_len = 0;
    CHECK(nox_wire_encode_sandbox(sb, &json, &json_len, err) == 0);
    CHECK(strlen(json) == json_len);
    nox_sandbox *back = NULL;
    CHECK(nox_wire_decode_sandbox(json, json_len, NULL, &back, err) == 0);
    check_sandbox_equal(sb, back);
    nox_sandbox_free(back);
    nox_sandbox_free(sb);
    free(json);
}

static void list_answer(const char *body, size_t len, nox_error *err)
{
    nox_sandbox_list *sentinel = (nox_sandbox_list *)&sentinel;
    nox_sandbox_list *list = sentinel;
    int r = nox_wire_decode_sandbox_list(body, len, &list, err);
    if (r < 0) {
        check_refusal(r, err, list, sentinel);
        return;
    }
    CHECK(r == 0 && list && list != sentinel);
    CHECK(list->count == 0 || list->items);
    for (size_t i = 0; i < list->count; i++) {
        check_sandbox(&list->items[i]);
        /* Sorted by id (a missing id sorts as ""). */
        if (i > 0) {
            const char *a = list->items[i - 1].id, *b = list->items[i].id;
            CHECK(strcmp(a ? a : "", b ? b : "") <= 0);
        }
    }

    char *json = NULL;
    size_t json_len = 0;
    CHECK(nox_wire_encode_sandbox_list(list, &json, &json_len, err) == 0);
    CHECK(strlen(json) == json_len);
    nox_sandbox_list *back = NULL;
    CHECK(nox_wire_decode_sandbox_list(json, json_len, &back, err) == 0);
    CHECK(back->count == list->count);
    for (size_t i = 0; i < list->count; i++)
        check_sandbox_equal(&list->items[i], &back->items[i]);
    nox_sandbox_list_free(back);
    nox_sandbox_list_free(list);
    free(json);
}

static void error_answer(const char *body, size_t len)
{
    char *msg = nox_wire_error_message(body, len);
    CHECK(msg);
    size_t n = strlen(msg);
    CHECK(n <= 1024 + 3);
    /* Valid UTF-8 (jansson checks strictly), so it can be shown and sent on. */
    json_t *j = json_stringn(msg, n);
    CHECK(j);
    json_decref(j);
    free(msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > MAX_INPUT)
        return 0;
    const char *body = (const char *)data;
    /* Half the runs without an error object: the same paths must not
     * crash or change codes then. */
    nox_error *err = size % 2 ? nox_error_new() : NULL;
    exec_answer(body, size, err);
    sandbox_answer(body, size, size % 3 ? "fuzz-id" : NULL, err);
    list_answer(body, size, err);
    error_answer(body, size);
    nox_error_free(err);
    return 0;
}
