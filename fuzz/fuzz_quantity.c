/* SPDX-License-Identifier: MIT */
/* libFuzzer target for the small text parsers of the API: Kubernetes
 * quantities and ISO 8601 times. Besides not crashing, each checks what
 * must hold of any input it accepts. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <noxrunner/wire.h>

#define MAX_INPUT (64 * 1024)

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);               \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static void quantity(const char *text, nox_error *err)
{
    uint64_t v = 0;
    int r = nox_parse_quantity(text, &v, err);
    CHECK(r == 0 || r == NOX_E_INVALID || r == NOX_E_NOMEM);
    if (r < 0 || text[0] == '+' || text[0] == '-')
        return;
    /* A leading '+' changes nothing. */
    size_t n = strlen(text);
    char *plus = malloc(n + 2);
    CHECK(plus);
    plus[0] = '+';
    memcpy(plus + 1, text, n + 1);
    uint64_t w = 1;
    CHECK(nox_parse_quantity(plus, &w, NULL) == 0 && w == v);
    free(plus);
}

static void time_text(const char *text, nox_error *err)
{
    int64_t t = 0;
    if (nox_wire_parse_time(text, &t, err) < 0)
        return;
    /* What parses formats, unless an offset took it past year 0000-9999,
     * and the formatted text parses back to the same second. */
    char buf[32];
    if (nox_wire_format_time(t, buf, sizeof buf) < 0)
        return;
    CHECK(strlen(buf) == 20);
    int64_t back = 0;
    CHECK(nox_wire_parse_time(buf, &back, NULL) == 0);
    CHECK(back == t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > MAX_INPUT)
        return 0;
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    nox_error *err = size % 2 ? nox_error_new() : NULL;
    quantity(text, err);
    time_text(text, err);
    /* The first eight bytes, read as a time stamp, format and parse back. */
    if (size >= 8) {
        int64_t t;
        memcpy(&t, data, sizeof t);
        char buf[32];
        if (nox_wire_format_time(t, buf, sizeof buf) == 0) {
            int64_t back = 0;
            CHECK(nox_wire_parse_time(buf, &back, NULL) == 0 && back == t);
        }
    }
    nox_error_free(err);
    free(text);
    return 0;
}
