/* SPDX-License-Identifier: MIT */
/* The http backend without libcurl (src/http/curl_api.c): nox_client_new()
 * fails with NOX_E_UNSUPPORTED, as its return value says and not only its
 * error object, every time it is asked. A process of its own: libcurl is
 * loaded once per process, so NOXRUNNER_LIBCURL must name a missing file
 * before the first http client is made. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include <noxrunner/noxrunner.h>

static void test_missing_libcurl_is_unsupported(void **s)
{
    (void)s;
    assert_int_equal(setenv("NOXRUNNER_LIBCURL", "/nonexistent/noxtest/libcurl.so.4", 1), 0);
    nox_client_options o;
    nox_client_options_init(&o);
    o.base_url = "http://127.0.0.1:1";
    nox_error *err = nox_error_new();
    for (int attempt = 0; attempt < 2; attempt++) {
        nox_client *c = NULL;
        int r = nox_client_new(&o, &c, err);
        assert_int_equal(r, NOX_E_UNSUPPORTED);
        assert_int_equal(nox_error_code(err), NOX_E_UNSUPPORTED);
        assert_null(c);
        assert_non_null(strstr(nox_error_message(err), "NOXRUNNER_LIBCURL"));
    }
    nox_error_free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_missing_libcurl_is_unsupported),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
