/* SPDX-License-Identifier: MIT */
/* noxrunnerd's router (server/route.c): the one parser of the request
 * target, which comes from anyone who can connect. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <noxrunner/noxrunner.h>

#include "route.h"

static void expect_route(const char *target, const char *method, nxd_route route, const char *id,
                         const char *param)
{
    nxd_routed r;
    nxd_refusal no;
    if (!nxd_route_parse(target, method, &r, &no))
        fail_msg("%s %s refused with %u: %s", method, target, no.status,
                 no.message ? no.message : "(no message)");
    assert_int_equal(r.route, route);
    if (id)
        assert_string_equal(r.id, id);
    else
        assert_null(r.id);
    if (param)
        assert_string_equal(r.param, param);
    else
        assert_null(r.param);
    nxd_routed_clear(&r);
}

static void expect_refusal(const char *target, const char *method, unsigned status,
                           const char *contains)
{
    nxd_routed r;
    nxd_refusal no;
    if (nxd_route_parse(target, method, &r, &no))
        fail_msg("%s %s was routed (%d), expected %u", method, target, r.route, status);
    assert_int_equal(no.status, status);
    assert_non_null(no.message);
    if (contains && !strstr(no.message, contains))
        fail_msg("%s %s: message `%s` lacks `%s`", method, target, no.message, contains);
    if (status == 405)
        assert_non_null(no.allow);
    else
        assert_null(no.allow);
    free(no.message);
}

static void test_routes(void **s)
{
    (void)s;
    expect_route("/healthz", "GET", NXD_ROUTE_HEALTH, NULL, NULL);
    expect_route("/healthz", "HEAD", NXD_ROUTE_HEALTH, NULL, NULL);
    expect_route("/healthz?x=1#frag", "GET", NXD_ROUTE_HEALTH, NULL, NULL);
    expect_route("/v1/sandboxes", "GET", NXD_ROUTE_LIST, NULL, NULL);
    expect_route("/v1/sandboxes/abc", "PUT", NXD_ROUTE_SANDBOX, "abc", NULL);
    expect_route("/v1/sandboxes/abc", "GET", NXD_ROUTE_SANDBOX, "abc", NULL);
    expect_route("/v1/sandboxes/abc", "DELETE", NXD_ROUTE_SANDBOX, "abc", NULL);
    expect_route("/v1/sandboxes/a.b-c_D9/touch", "POST", NXD_ROUTE_TOUCH, "a.b-c_D9", NULL);
    expect_route("/v1/sandboxes/abc/exec", "POST", NXD_ROUTE_EXEC, "abc", NULL);
    expect_route("/v1/sandboxes/abc/files/upload", "POST", NXD_ROUTE_UPLOAD, "abc", NULL);
    expect_route("/v1/sandboxes/abc/files/download", "GET", NXD_ROUTE_DOWNLOAD, "abc", NULL);
    /* Escapes in fixed segments and ids decode once. */
    expect_route("/v1/%73andboxes/%61bc/exec", "POST", NXD_ROUTE_EXEC, "abc", NULL);
    /* Absolute form. */
    expect_route("http://example.com/healthz", "GET", NXD_ROUTE_HEALTH, NULL, NULL);
    expect_route("https://example.com:8443/v1/sandboxes/x", "GET", NXD_ROUTE_SANDBOX, "x", NULL);
}

static void test_query_parameters(void **s)
{
    (void)s;
    const char *up = "/v1/sandboxes/abc/files/upload";
    char t[256];
    snprintf(t, sizeof t, "%s?dest=%%2Fworkspace%%2Fa+b%%2Bc", up);
    expect_route(t, "POST", NXD_ROUTE_UPLOAD, "abc", "/workspace/a b+c");
    snprintf(t, sizeof t, "%s?x=1&dest=/workspace/d&y", up);
    expect_route(t, "POST", NXD_ROUTE_UPLOAD, "abc", "/workspace/d");
    snprintf(t, sizeof t, "%s?dest", up);
    expect_route(t, "POST", NXD_ROUTE_UPLOAD, "abc", "");
    snprintf(t, sizeof t, "%s?dest=", up);
    expect_route(t, "POST", NXD_ROUTE_UPLOAD, "abc", "");
    snprintf(t, sizeof t, "%s?de%%73t=q", up);
    expect_route(t, "POST", NXD_ROUTE_UPLOAD, "abc", "q");
    snprintf(t, sizeof t, "%s?src=/workspace/x", up); /* the other route's parameter */
    expect_route(t, "POST", NXD_ROUTE_UPLOAD, "abc", NULL);
    expect_route("/v1/sandboxes/abc/files/download?src=sub%20dir&", "GET", NXD_ROUTE_DOWNLOAD,
                 "abc", "sub dir");
    expect_route("/v1/sandboxes/abc?dest=%zz", "GET", NXD_ROUTE_SANDBOX, "abc", NULL);
    snprintf(t, sizeof t, "%s?dest=a&dest=b", up);
    expect_refusal(t, "POST", 400, "more than once");
    snprintf(t, sizeof t, "%s?dest=%%zz", up);
    expect_refusal(t, "POST", 400, "percent");
    snprintf(t, sizeof t, "%s?dest=a%%00b", up);
    expect_refusal(t, "POST", 400, "NUL");
    snprintf(t, sizeof t, "%s?d%%00=a", up);
    expect_refusal(t, "POST", 400, "NUL");
}

static void test_unknown_paths(void **s)
{
    (void)s;
    const char *paths[] = { "",
                            "*",
                            "/",
                            "healthz",
                            "/healthz/",
                            "//healthz",
                            "/HEALTHZ",
                            "/v1",
                            "/v1/",
                            "/v1//sandboxes",
                            "/v2/sandboxes",
                            "/v1/sandboxes/abc/nope",
                            "/v1/sandboxes/abc/files",
                            "/v1/sandboxes/abc/files/upload/more",
                            "/v1/sandboxes/a/b/c/d/e/f/g/h",
                            "/v1/sandboxes/abc/%66iles/upload/x",
                            "http://host",
                            NULL };
    for (size_t i = 0; paths[i]; i++)
        expect_refusal(paths[i], "GET", 404, "no such endpoint");
}

static void test_methods(void **s)
{
    (void)s;
    expect_refusal("/healthz", "POST", 405, "allowed: GET, HEAD");
    expect_refusal("/healthz", "get", 405, NULL);
    expect_refusal("/v1/sandboxes", "DELETE", 405, NULL);
    expect_refusal("/v1/sandboxes/abc", "POST", 405, "GET, HEAD, PUT, DELETE");
    expect_refusal("/v1/sandboxes/abc/exec", "GET", 405, "allowed: POST");
    expect_refusal("/v1/sandboxes/abc/touch", "PUT", 405, NULL);
    expect_refusal("/v1/sandboxes/abc/files/upload", "PUT", 405, NULL);
    expect_refusal("/v1/sandboxes/abc/files/download", "POST", 405, NULL);
    /* The method is quoted harmlessly. */
    expect_refusal("/healthz", "BR\"EW\n", 405, "BR%22EW%0A");
    /* The id is checked before the method: an invalid id is 400 on every
     * sandbox route, whatever the method. */
    expect_refusal("/v1/sandboxes/..%2Fx/exec", "GET", 400, "session id");
    expect_refusal("/v1/sandboxes/.x", "PATCH", 400, "session id");
}

static void test_invalid_ids(void **s)
{
    (void)s;
    const char *ids[] = { "..%2Fx", "a%2Fb",  "a%20b", ".hidden", "%2E%2E", "%2e",
                          "a;b",    "%C3%A9", "a%0Ab", "a%5Cb",   "",       NULL };
    char t[512];
    for (size_t i = 0; ids[i]; i++) {
        snprintf(t, sizeof t, "/v1/sandboxes/%s/exec", ids[i]);
        expect_refusal(t, "POST", 400, "session id");
    }
    char long_id[200];
    memset(long_id, 'a', sizeof long_id - 1);
    long_id[128] = '\0';
    snprintf(t, sizeof t, "/v1/sandboxes/%s", long_id);
    expect_route(t, "GET", NXD_ROUTE_SANDBOX, long_id, NULL);
    long_id[128] = 'a';
    long_id[129] = '\0';
    snprintf(t, sizeof t, "/v1/sandboxes/%s", long_id);
    expect_refusal(t, "GET", 400, "limit is 128");
    expect_refusal("/v1/sandboxes/a%00b", "GET", 400, "NUL");
    expect_refusal("/v1/sandboxes/a%zzb", "GET", 400, "percent");
    expect_refusal("/v1/sandboxes/a%4", "GET", 400, "percent");
    expect_refusal("/v1/sandboxes/a%", "GET", 400, "percent");
}

static void test_printable(void **s)
{
    (void)s;
    char buf[64];
    assert_string_equal(nxd_printable("/a b\"c\\d\x01\xff", buf, sizeof buf),
                        "/a%20b%22c%5Cd%01%FF");
    assert_string_equal(nxd_printable(NULL, buf, sizeof buf), "-");
    char small[16];
    nxd_printable("/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", small, sizeof small);
    assert_true(strlen(small) < sizeof small);
    assert_non_null(strstr(small, "..."));
    nxd_printable("\x01\x01\x01\x01\x01\x01\x01\x01\x01", small, sizeof small);
    assert_true(strlen(small) < sizeof small);
}

/* Arbitrary bytes never crash the router, and what it routes is
 * consistent (run it under ASan and UBSan to make this mean something). */
static void test_random_targets(void **s)
{
    (void)s;
    static const char alphabet[] = "/%?&=+#.-_aAzZ09v1sandboxesfilesuploadexec\x01\x7f\x80\xff";
    uint64_t x = 0x9e3779b97f4a7c15ull;
    char t[96];
    for (int round = 0; round < 200000; round++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        size_t len = (size_t)(x % (sizeof t - 1));
        uint64_t y = x;
        for (size_t i = 0; i < len; i++) {
            y = y * 6364136223846793005ull + 1442695040888963407ull;
            t[i] = alphabet[(y >> 33) % (sizeof alphabet - 1)];
        }
        t[len] = '\0';
        if (round % 3 == 0 && len > 14)
            memcpy(t, "/v1/sandboxes/", 14);
        nxd_routed r;
        nxd_refusal no;
        const char *methods[] = { "GET", "POST", "PUT", "DELETE" };
        if (nxd_route_parse(t, methods[round % 4], &r, &no)) {
            assert_true(r.route != NXD_ROUTE_NONE);
            if (r.id)
                assert_true(nox_session_id_valid(r.id, NULL));
            nxd_routed_clear(&r);
        } else {
            assert_true(no.status == 400 || no.status == 404 || no.status == 405);
            assert_non_null(no.message);
            free(no.message);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routes),         cmocka_unit_test(test_query_parameters),
        cmocka_unit_test(test_unknown_paths),  cmocka_unit_test(test_methods),
        cmocka_unit_test(test_invalid_ids),    cmocka_unit_test(test_printable),
        cmocka_unit_test(test_random_targets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
