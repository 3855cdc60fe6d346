/* SPDX-License-Identifier: MIT */
/* Kubernetes quantities ("500m", "1", "512Mi", "1.5G", "1e3"), the way the
 * contract writes resource limits. Parsed with integer arithmetic only: a
 * double cannot represent every quantity below 2^64 milli-units, and a limit
 * that silently changes by rounding is a limit nobody asked for. Like
 * Kubernetes, values that are not a whole number of milli-units round up. */
#include "error.h"

/* Quoted input is cut at this many bytes so that a megabyte of garbage
 * does not become a megabyte of error message. */
#define QUOTE_MAX 64

#define ACCEPTED                                                                                   \
    "a number such as 1, 1.5 or .5, optionally followed by one of the suffixes m, k, M, G, T, "    \
    "P, E, Ki, Mi, Gi, Ti, Pi, Ei or a decimal exponent such as e3"

/* Digits of a fraction kept for the binary suffixes; see binary_fraction(). */
#define FRACTION_DIGITS 64

static int invalid(nox_error *err, const char *text, const char *why)
{
    size_t n = strlen(text);
    return nox__error_set(err, NOX_E_INVALID, "quantity `%.*s%s` %s; expected " ACCEPTED,
                          (int)NOX_MIN(n, (size_t)QUOTE_MAX), text, n > QUOTE_MAX ? "…" : "", why);
}

static int too_large(nox_error *err, const char *text)
{
    size_t n = strlen(text);
    return nox__error_set(err, NOX_E_INVALID, "quantity `%.*s%s` is too large",
                          (int)NOX_MIN(n, (size_t)QUOTE_MAX), text, n > QUOTE_MAX ? "…" : "");
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Reads the suffix: a power of ten and a power of two (the binary suffixes
 * are powers of 1024 = 2^10). False when @p s is not a suffix. */
static bool parse_suffix(const char *s, int64_t *ret_exp10, unsigned *ret_exp2)
{
    static const struct {
        const char *name;
        int exp10;
        unsigned exp2;
    } suffixes[] = {
        { "", 0, 0 },    { "m", -3, 0 },  { "k", 3, 0 },   { "M", 6, 0 },   { "G", 9, 0 },
        { "T", 12, 0 },  { "P", 15, 0 },  { "E", 18, 0 },  { "Ki", 0, 10 }, { "Mi", 0, 20 },
        { "Gi", 0, 30 }, { "Ti", 0, 40 }, { "Pi", 0, 50 }, { "Ei", 0, 60 },
    };
    for (size_t i = 0; i < NOX_ARRAY_SIZE(suffixes); i++) {
        if (strcmp(s, suffixes[i].name) == 0) {
            *ret_exp10 = suffixes[i].exp10;
            *ret_exp2 = suffixes[i].exp2;
            return true;
        }
    }
    /* A decimal exponent: e or E, an optional sign, at least one digit.
     * Its size is saturated: past a few hundred, any non-zero number
     * overflows and any fraction rounds up to one milli-unit, so the exact
     * value no longer matters, and a bound keeps the arithmetic below in
     * range for any input length. */
    if (s[0] != 'e' && s[0] != 'E')
        return false;
    s++;
    bool neg = false;
    if (*s == '+' || *s == '-')
        neg = *s++ == '-';
    if (!is_digit(*s))
        return false;
    int64_t e = 0;
    for (; is_digit(*s); s++)
        if (e < 100000)
            e = e * 10 + (*s - '0');
    if (*s)
        return false;
    *ret_exp10 = neg ? -e : e;
    *ret_exp2 = 0;
    return true;
}

/* ceil(0.d1d2d3... * 2^exp2) for the fraction digits @p digits (n of them,
 * '.' skipped), plus whether it was exact. Only FRACTION_DIGITS digits take
 * part: with exp2 <= 60 < FRACTION_DIGITS the dropped tail changes the value
 * by less than 2^60 / 10^64, which can neither move it across an integer nor
 * (when any dropped digit is non-zero) leave it exact, since a fraction whose
 * last non-zero digit is at place L > exp2 times 2^exp2 is never whole. */
static uint64_t binary_fraction(const char *digits, size_t n, unsigned exp2)
{
    unsigned char d[FRACTION_DIGITS];
    size_t nd = 0;
    bool tail_nonzero = false;
    for (size_t i = 0; i < n; i++) {
        if (digits[i] == '.')
            continue;
        unsigned char v = (unsigned char)(digits[i] - '0');
        if (nd < FRACTION_DIGITS)
            d[nd++] = v;
        else if (v)
            tail_nonzero = true;
    }
    /* Doubling the decimal fraction exp2 times shifts one binary digit of
     * the product out of it each time. */
    uint64_t whole = 0;
    for (unsigned bit = 0; bit < exp2; bit++) {
        unsigned carry = 0;
        for (size_t i = nd; i-- > 0;) {
            unsigned v = d[i] * 2u + carry;
            d[i] = (unsigned char)(v % 10);
            carry = v / 10;
        }
        whole = whole * 2 + carry;
    }
    bool exact = !tail_nonzero;
    for (size_t i = 0; i < nd && exact; i++)
        if (d[i])
            exact = false;
    return whole + (exact ? 0 : 1);
}

int nox_parse_quantity(const char *text, uint64_t *ret_milli, nox_error *err)
{
    nox_error_clear(err);
    if (!text)
        return nox__error_set(err, NOX_E_INVALID, "quantity is missing");
    if (!*text)
        return nox__error_set(err, NOX_E_INVALID, "quantity is empty; expected " ACCEPTED);
    /* Kubernetes refuses " 1" and "1 " too; saying so beats "unknown suffix ` `". */
    if (text[strcspn(text, " \t\n\r\v\f")])
        return invalid(err, text, "contains white space");

    const char *p = text;
    bool neg = false;
    if (*p == '+' || *p == '-')
        neg = *p++ == '-';
    const char *num = p;
    size_t int_digits = 0, frac_digits = 0;
    while (is_digit(*p)) {
        p++;
        int_digits++;
    }
    if (*p == '.') {
        p++;
        while (is_digit(*p)) {
            p++;
            frac_digits++;
        }
    }
    const char *num_end = p;
    if (int_digits + frac_digits == 0)
        return invalid(err, text, "does not start with a number");

    int64_t exp10;
    unsigned exp2;
    if (!parse_suffix(p, &exp10, &exp2)) {
        size_t n = strlen(p);
        size_t q = NOX_MIN(n, (size_t)QUOTE_MAX);
        if (is_digit(*p) || *p == '.' || *p == '+' || *p == '-')
            return invalid(err, text, "is not a number");
        return nox__error_set(err, NOX_E_INVALID,
                              "quantity `%.*s%s` has an unknown suffix `%.*s%s` (suffixes are "
                              "case-sensitive); expected " ACCEPTED,
                              (int)NOX_MIN(strlen(text), (size_t)QUOTE_MAX), text,
                              strlen(text) > QUOTE_MAX ? "…" : "", (int)q, p,
                              n > QUOTE_MAX ? "…" : "");
    }

    bool nonzero = false;
    for (const char *c = num; c < num_end; c++)
        if (*c >= '1' && *c <= '9')
            nonzero = true;
    if (!nonzero) {
        *ret_milli = 0;
        return 0;
    }
    /* "-0" is zero and fine; anything below zero is not a limit. */
    if (neg) {
        size_t n = strlen(text);
        return nox__error_set(err, NOX_E_INVALID,
                              "quantity `%.*s%s` is negative; limits must be zero or more",
                              (int)NOX_MIN(n, (size_t)QUOTE_MAX), text, n > QUOTE_MAX ? "…" : "");
    }

    /* The digits, read without their '.', form an integer D, and the value
     * in milli-units is D * 10^shift * 2^exp2 with shift = exp10 + 3 -
     * frac_digits. Digits before the cut make the whole part; those after
     * it are the fraction, which rounds up (or, for binary suffixes, is
     * multiplied out in binary_fraction()). */
    int64_t cut = (int64_t)int_digits + exp10 + 3;
    uint64_t whole = 0;
    int64_t pos = 0;
    const char *frac_start = num_end;
    bool frac_nonzero = false;
    for (const char *c = num; c < num_end; c++) {
        if (*c == '.')
            continue;
        if (pos < cut) {
            if (__builtin_mul_overflow(whole, 10, &whole) ||
                __builtin_add_overflow(whole, (uint64_t)(*c - '0'), &whole))
                return too_large(err, text);
        } else {
            if (pos == cut)
                frac_start = c;
            if (*c != '0')
                frac_nonzero = true;
        }
        pos++;
    }
    /* Zeros the exponent adds after the last digit. whole is non-zero here
     * or becomes so: D has a non-zero digit and all of D is before the cut. */
    for (int64_t i = pos; i < cut; i++) {
        if (__builtin_mul_overflow(whole, 10, &whole))
            return too_large(err, text);
    }

    if (exp2 == 0) {
        if (frac_nonzero && __builtin_add_overflow(whole, 1, &whole))
            return too_large(err, text);
        *ret_milli = whole;
        return 0;
    }

    if (whole > (UINT64_MAX >> exp2))
        return too_large(err, text);
    whole <<= exp2;
    if (frac_nonzero) {
        uint64_t f = binary_fraction(frac_start, (size_t)(num_end - frac_start), exp2);
        if (__builtin_add_overflow(whole, f, &whole))
            return too_large(err, text);
    }
    *ret_milli = whole;
    return 0;
}
