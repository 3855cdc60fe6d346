/* SPDX-License-Identifier: MIT */
/* libFuzzer target for the names that come from outside and become path
 * components on this machine: session ids (nox_session_id_valid) and the
 * sandbox paths of uploads and downloads (nox__workspace_relpath, as "dest"
 * and as "src").
 *
 * Besides not crashing, it checks what the callers rely on:
 *  - a valid id is 1..NOX_SESSION_ID_MAX bytes, never contains '/', never
 *    starts with '.', and is made of the documented characters only; an
 *    invalid one fails with NOX_E_INVALID and a message;
 *  - a relative path result never starts with '/', has no empty, "." or
 *    ".." components, is at most 4096 bytes, and normalising it again (as
 *    is, and below "/workspace/") gives it back unchanged;
 *  - a refusal is NOX_E_INVALID with a message naming the parameter, and
 *    leaves the out-parameter alone.
 * The input is used whole (up to its first NUL) and, when it has one, the
 * part after the first NUL as a second string, so one run tries both. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "error.h"

/* Ids are at most 128 bytes and paths 4096: anything much longer only
 * repeats what shorter inputs already cover. */
#define MAX_INPUT (8 * 1024)

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);               \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool id_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
}

static void check_error(const nox_error *err, const char *must_name)
{
    CHECK(nox_error_code(err) == NOX_E_INVALID);
    const char *m = nox_error_message(err);
    CHECK(m && *m);
    if (must_name)
        CHECK(strstr(m, must_name) != NULL);
}

static void session_id(const char *id)
{
    nox_error *err = nox_error_new();
    CHECK(err);
    bool valid = nox_session_id_valid(id, err);
    /* The internal check and the public one agree, with or without an
     * error object. */
    CHECK(valid == (nox__check_session_id(id, NULL) == 0));
    CHECK(valid == nox_session_id_valid(id, NULL));
    size_t n = strlen(id);
    if (valid) {
        CHECK(n >= 1 && n <= NOX_SESSION_ID_MAX);
        CHECK(!strchr(id, '/'));
        CHECK(id[0] != '.');
        for (size_t i = 0; i < n; i++)
            CHECK(id_char((unsigned char)id[i]));
        CHECK(nox_error_code(err) == 0);
    } else {
        check_error(err, NULL);
        /* The rules, stated independently: one of them must be broken. */
        bool bad_char = false;
        for (size_t i = 0; i < n; i++)
            bad_char |= !id_char((unsigned char)id[i]);
        CHECK(n == 0 || n > NOX_SESSION_ID_MAX || id[0] == '.' || bad_char);
    }
    nox_error_free(err);
}

static void check_rel(const char *rel)
{
    size_t n = strlen(rel);
    CHECK(n <= 4096);
    if (n == 0)
        return;
    CHECK(rel[0] != '/');
    /* Components: split on '/', none empty (no leading, trailing or double
     * slash), none "." or "..". */
    for (const char *p = rel;;) {
        const char *end = strchr(p, '/');
        size_t k = end ? (size_t)(end - p) : strlen(p);
        CHECK(k > 0);
        CHECK(!(k == 1 && p[0] == '.'));
        CHECK(!(k == 2 && p[0] == '.' && p[1] == '.'));
        if (!end)
            break;
        p = end + 1;
    }
}

static void relpath(const char *path, const char *what)
{
    nox_error *err = nox_error_new();
    CHECK(err);
    char *sentinel = (char *)"untouched";
    char *rel = sentinel;
    int r = nox__workspace_relpath(path, what, &rel, err);
    if (r < 0) {
        CHECK(r == NOX_E_INVALID);
        CHECK(rel == sentinel);
        check_error(err, what);
        nox_error_free(err);
        return;
    }
    CHECK(r == 0 && rel && rel != sentinel);
    check_rel(rel);

    /* Normalised paths are fixed points, relative or under /workspace. */
    char *again = NULL;
    CHECK(nox__workspace_relpath(rel, what, &again, NULL) == 0);
    CHECK(strcmp(again, rel) == 0);
    free(again);
    char *abs = nox__asprintf("/workspace/%s", rel);
    CHECK(abs);
    again = NULL;
    CHECK(nox__workspace_relpath(abs, what, &again, NULL) == 0);
    CHECK(strcmp(again, rel) == 0);
    free(again);
    free(abs);
    free(rel);
    nox_error_free(err);
}

static void one_string(const char *s)
{
    session_id(s);
    relpath(s, "dest");
    relpath(s, "src");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > MAX_INPUT)
        return 0;
    /* Exactly the input and a NUL, so that reading past the string is an
     * ASan report. */
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    one_string(s);
    size_t first = strlen(s);
    if (first < size)
        one_string(s + first + 1);
    /* NULL means /workspace itself. */
    if (size == 0) {
        char *rel = NULL;
        CHECK(nox__workspace_relpath(NULL, "dest", &rel, NULL) == 0 && strcmp(rel, "") == 0);
        free(rel);
    }
    free(s);
    return 0;
}
