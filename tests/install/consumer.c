/* SPDX-License-Identifier: MIT */
/* A program built against the INSTALLED libnoxrunner, as a user would
 * build one (tests/install/test_install.sh). It needs no sandbox: it checks
 * that the headers, the library and its error handling work together.
 * Exits 0 when every check holds. */
#include <stdio.h>
#include <string.h>

#include <noxrunner/noxrunner.h>
#include <noxrunner/version.h>
#include <noxrunner/wire.h>

static int failures;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "consumer: check failed at line %d: %s\n", __LINE__, #cond);           \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

int main(void)
{
    /* The header the program was compiled with matches the library it runs. */
    printf("libnoxrunner %s (built against %s)\n", nox_version(), NOX_VERSION_STRING);
    CHECK(strcmp(nox_version(), NOX_VERSION_STRING) == 0);
    CHECK(nox_version_number() == NOX_VERSION_NUMBER);

    /* Options that choose no backend: refused, with the error object filled. */
    nox_client_options opts;
    nox_client_options_init(&opts);
    nox_error *err = nox_error_new();
    CHECK(err != NULL);
    nox_client *client = NULL;
    int r = nox_client_new(&opts, &client, err);
    printf("nox_client_new with no backend: %d (%s): %s\n", r, nox_strerror(r),
           nox_error_message(err));
    CHECK(r == NOX_E_INVALID);
    CHECK(client == NULL);
    CHECK(nox_error_code(err) == NOX_E_INVALID);
    CHECK(nox_error_message(err)[0] != '\0');
    nox_client_free(client);

    /* Both backends at once: refused as well. */
    nox_error_clear(err);
    opts.base_url = "http://127.0.0.1:1";
    opts.local = true;
    CHECK(nox_client_new(&opts, &client, err) == NOX_E_INVALID);

    /* An http client is made without connecting anywhere. */
    opts.local = false;
    r = nox_client_new(&opts, &client, err);
    CHECK(r == 0);
    if (r == 0) {
        CHECK(!nox_client_is_local(client));
        CHECK(strcmp(nox_client_location(client), "http://127.0.0.1:1") == 0);
        nox_client_free(client);
    }

    /* A few pure functions, wire.h among them. */
    uint64_t milli = 0;
    CHECK(nox_parse_quantity("512Mi", &milli, err) == 0 && milli == 536870912000ull);
    CHECK(nox_parse_quantity("lots", &milli, err) == NOX_E_INVALID);
    CHECK(!nox_session_id_valid("../escape", NULL));
    char when[32];
    CHECK(nox_wire_format_time(0, when, sizeof when) == 0 &&
          strcmp(when, "1970-01-01T00:00:00Z") == 0);
    char *json = NULL;
    size_t len = 0;
    CHECK(nox_wire_encode_error("no such sandbox", &json, &len) == 0 && json &&
          len == strlen(json) && strstr(json, "\"error\""));
    char *msg = json ? nox_wire_error_message(json, len) : NULL;
    CHECK(msg && strcmp(msg, "no such sandbox") == 0);
    nox_free(msg);
    nox_free(json);

    nox_error_free(err);
    if (failures)
        fprintf(stderr, "consumer: %d check(s) failed\n", failures);
    else
        printf("consumer: all checks passed\n");
    return failures ? 1 : 0;
}
