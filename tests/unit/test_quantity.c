/* SPDX-License-Identifier: MIT */
/* nox_parse_quantity(): Kubernetes quantities in milli-units. The expected
 * values were computed with exact rational arithmetic (Python's fractions)
 * and rounded up, as Kubernetes rounds. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include <noxrunner/noxrunner.h>

static const struct {
    const char *text;
    uint64_t milli;
} valid[] = {
    { "0", 0 },
    { "1", 1000 },
    { "500m", 500 },
    { "1.5", 1500 },
    { ".5", 500 },
    { "1.", 1000 },
    { "+1", 1000 },
    { "+.5", 500 },
    { "000001", 1000 },
    { "0.0", 0 },
    { "-0", 0 },
    { "-0.000", 0 },
    { "0Gi", 0 },
    { "0e999999999", 0 },
    /* Below a milli-unit rounds up. */
    { "0.0001", 1 },
    { "0.001", 1 },
    { "0.0015", 2 },
    { "0.5m", 1 },
    { "1.0001m", 2 },
    { "1m", 1 },
    { "1e-100000", 1 },
    /* Decimal SI. */
    { "1k", 1000000 },
    { "1M", 1000000000 },
    { "2G", 2000000000000 },
    { "1T", 1000000000000000 },
    { "1P", 1000000000000000000 },
    { "0.01E", 10000000000000000000u },
    /* Binary SI. */
    { "1Ki", 1024000 },
    { "512Mi", 536870912000 },
    { "1Gi", 1073741824000 },
    { "1.5Gi", 1610612736000 },
    { "0.5Ki", 512000 },
    { "1Ti", 1099511627776000 },
    { "1Pi", 1125899906842624000 },
    { "0.001Ei", 1152921504606846976 },
    { "0.015Ei", 17293822569102704640u },
    { "0.1Mi", 104857600 },
    { "0.0001Ki", 103 },    /* 102.4 */
    { "0.0000001Mi", 105 }, /* 104.8576 */
    { "0.000000000000000000000000000000000000000000000000000000000000000000000001Ki", 1 },
    /* Decimal exponents. */
    { "1e3", 1000000 },
    { "1E3", 1000000 },
    { "1e+3", 1000000 },
    { "1e0", 1000 },
    { "1e-3", 1 },
    { "1e-4", 1 },
    { "1.5e3", 1500000 },
    { "1e16", 10000000000000000000u },
    { ".000000000000000000000000000000000000001e40", 10000 },
    /* The top of the range: 2^64 - 1 milli-units, and just past it below. */
    { "18446744073709551615m", UINT64_MAX },
    { "18446744073709551.615", UINT64_MAX },
    { "18446744073709551.6150000", UINT64_MAX },
    { "18446744073709551", 18446744073709551000u },
    { "18446744073709551615e-3", UINT64_MAX },
    { "18014398509481.983Ki", 18446744073709550592u },
    { "18014398509481.9839Ki", 18446744073709551514u },
};

static void test_valid(void **state)
{
    (void)state;
    nox_error *err = nox_error_new();
    for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++) {
        uint64_t v = 42;
        int r = nox_parse_quantity(valid[i].text, &v, err);
        if (r != 0 || v != valid[i].milli) {
            print_error("`%s`: r=%d value=%llu expected %llu (%s)\n", valid[i].text, r,
                        (unsigned long long)v, (unsigned long long)valid[i].milli,
                        nox_error_message(err));
            fail();
        }
    }
    nox_error_free(err);
}

static const struct {
    const char *text;
    const char *needle;
} invalid[] = {
    { "", "empty" },
    { " 1", "white space" },
    { "1 ", "white space" },
    { "1\t", "white space" },
    { "1GB", "`1GB` has an unknown suffix `GB`" },
    { "1g", "unknown suffix `g`" },
    { "1KI", "unknown suffix" },
    { "1ki", "unknown suffix" },
    { "1Ki2", "unknown suffix" },
    { "1e", "unknown suffix `e`" },
    { "1e+", "unknown suffix" },
    { "1e3Ki", "unknown suffix" },
    { "1mi", "unknown suffix" },
    { "abc", "`abc` does not start with a number" },
    { "Mi", "does not start with a number" },
    { "e3", "does not start with a number" },
    { "--1", "does not start with a number" },
    { "+-1", "does not start with a number" },
    { "+", "does not start with a number" },
    { "-", "does not start with a number" },
    { ".", "does not start with a number" },
    { "1.2.3", "`1.2.3` is not a number" },
    { "1..2", "is not a number" },
    { "1,5", "unknown suffix" },
    { "0x10", "unknown suffix" },
    { "\xd9\xa1", "does not start with a number" },
    { "-1", "`-1` is negative" },
    { "-0.0001", "negative" },
    { "-1Gi", "negative" },
    { "-1e-9", "negative" },
    /* Just past 2^64 - 1 milli-units. */
    { "18446744073709551616m", "`18446744073709551616m` is too large" },
    { "18446744073709551.6151", "too large" },
    { "18446744073709551.616", "too large" },
    { "18446744073709552", "too large" },
    { "1e17", "too large" },
    { "1e999999999999999999999", "too large" },
    { "1E", "too large" },
    { "16Ei", "too large" },
    { "0.016Ei", "too large" },
    { "18014398509481.984Ki", "too large" },
    { "99999999999999999999999999999999999999", "too large" },
};

static void test_invalid(void **state)
{
    (void)state;
    nox_error *err = nox_error_new();
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
        uint64_t v = 42;
        int r = nox_parse_quantity(invalid[i].text, &v, err);
        const char *msg = nox_error_message(err);
        if (r != NOX_E_INVALID || nox_error_code(err) != NOX_E_INVALID || v != 42 ||
            !strstr(msg, invalid[i].needle)) {
            print_error("`%s`: r=%d value=%llu message `%s`, wanted `%s`\n", invalid[i].text, r,
                        (unsigned long long)v, msg, invalid[i].needle);
            fail();
        }
    }
    nox_error_free(err);
}

static void test_messages_say_what_is_accepted(void **state)
{
    (void)state;
    nox_error *err = nox_error_new();
    uint64_t v;
    assert_int_equal(nox_parse_quantity("1GB", &v, err), NOX_E_INVALID);
    const char *msg = nox_error_message(err);
    assert_non_null(strstr(msg, "`1GB`"));
    assert_non_null(strstr(msg, "1.5"));
    assert_non_null(strstr(msg, " m, k, M, G"));
    assert_non_null(strstr(msg, "Ki, Mi, Gi"));
    assert_non_null(strstr(msg, "e3"));
    nox_error_free(err);
}

static void test_null_and_no_error_object(void **state)
{
    (void)state;
    uint64_t v = 7;
    nox_error *err = nox_error_new();
    assert_int_equal(nox_parse_quantity(NULL, &v, err), NOX_E_INVALID);
    assert_non_null(strstr(nox_error_message(err), "missing"));
    assert_int_equal(nox_parse_quantity("1GB", &v, NULL), NOX_E_INVALID);
    assert_int_equal(nox_parse_quantity("2Gi", &v, NULL), 0);
    assert_true(v == 2147483648000ull);
    nox_error_free(err);
}

/* A megabyte of digits is parsed in linear time and quoted only briefly. */
static void test_long_input(void **state)
{
    (void)state;
    size_t n = 1 << 20;
    char *s = malloc(n + 1);
    assert_non_null(s);
    memset(s, '0', n);
    s[n] = '\0';
    uint64_t v = 1;
    assert_int_equal(nox_parse_quantity(s, &v, NULL), 0);
    assert_true(v == 0);
    s[0] = '1';
    nox_error *err = nox_error_new();
    assert_int_equal(nox_parse_quantity(s, &v, err), NOX_E_INVALID);
    assert_non_null(strstr(nox_error_message(err), "too large"));
    assert_true(strlen(nox_error_message(err)) < 200);
    s[0] = '0';
    s[1] = '.';
    s[n - 1] = '1'; /* 0.000...1: rounds up to one milli-unit */
    assert_int_equal(nox_parse_quantity(s, &v, NULL), 0);
    assert_true(v == 1);
    s[n - 2] = 'K';
    s[n - 1] = 'i';
    assert_int_equal(nox_parse_quantity(s, &v, NULL), 0);
    assert_true(v == 0);
    free(s);
    nox_error_free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_messages_say_what_is_accepted),
        cmocka_unit_test(test_null_and_no_error_object),
        cmocka_unit_test(test_long_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
