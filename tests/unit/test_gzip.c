/* SPDX-License-Identifier: MIT */
/* The parallel gzip writer (src/gzip.c): what it writes is one gzip member
 * that zlib reads back to the exact input, with nothing after it, at chunk
 * boundaries and between them; the bytes do not depend on the number of
 * threads; a stream abandoned at any point frees everything. */
#include "testutil.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "gzip.h"
#include "util.h"

/* Text that compresses like logs, and noise that does not. */
static unsigned char *make_input(size_t n, bool noise)
{
    unsigned char *p = malloc(n ? n : 1);
    assert_non_null(p);
    uint64_t x = 0x9E3779B97F4A7C15ull;
    static const char *const words[] = { "sandbox ", "exec ",      "ok\n",    "timeout ",
                                         "42 ",      "workspace/", "stdout ", "error: " };
    size_t i = 0;
    while (i < n) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if (noise) {
            p[i++] = (unsigned char)x;
            continue;
        }
        const char *w = words[x % 8];
        for (size_t k = 0; w[k] && i < n; k++)
            p[i++] = (unsigned char)w[k];
    }
    return p;
}

/* Compresses @p in with @p threads, reading in pieces of @p step bytes and
 * feeding in pieces of @p feed, as the tar writer does. */
static unsigned char *compress_all(const unsigned char *in, size_t n, int level, unsigned threads,
                                   size_t feed, size_t step, size_t *ret_len)
{
    nox_gz *g = nox__gz_new(level, threads);
    assert_non_null(g);
    size_t cap = n + n / 4 + 2 * step + 4096, len = 0, off = 0;
    unsigned char *out = malloc(cap);
    assert_non_null(out);
    bool finished = false;
    for (;;) {
        bool wait = finished || !nox__gz_wants_input(g);
        assert_true(len + step <= cap);
        ssize_t k = nox__gz_read(g, out + len, step, wait);
        assert_true(k >= 0);
        len += (size_t)k;
        if (k > 0)
            continue;
        if (finished)
            break;
        if (off < n) {
            size_t m = NOX_MIN(feed, n - off);
            assert_int_equal(nox__gz_write(g, in + off, m), 0);
            off += m;
        } else {
            assert_int_equal(nox__gz_finish(g), 0);
            finished = true;
        }
    }
    assert_true(nox__gz_ended(g));
    assert_int_equal(nox__gz_read(g, out, 1, true), 0);
    nox__gz_free(g);
    *ret_len = len;
    return out;
}

/* Inflates a gzip stream that must be exactly one member and return @p n
 * bytes equal to @p want. */
static void check_one_member(const unsigned char *gz, size_t len, const unsigned char *want,
                             size_t n)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    assert_int_equal(inflateInit2(&z, 16 + 15), Z_OK); /* gzip only */
    unsigned char *out = malloc(n + 1);
    assert_non_null(out);
    z.next_in = (unsigned char *)gz;
    z.avail_in = (uInt)len;
    z.next_out = out;
    z.avail_out = (uInt)(n + 1);
    int r = inflate(&z, Z_FINISH);
    assert_int_equal(r, Z_STREAM_END); /* the CRC and size check out */
    assert_int_equal(z.avail_in, 0);   /* nothing after the member */
    assert_int_equal(z.total_out, n);
    assert_memory_equal(out, want, n);
    inflateEnd(&z);
    free(out);
}

static void roundtrip(size_t n, bool noise, int level)
{
    unsigned char *in = make_input(n, noise);
    size_t len1 = 0, len4 = 0, len2 = 0;
    unsigned char *one = compress_all(in, n, level, 1, 65536, 65536, &len1);
    check_one_member(one, len1, in, n);
    /* Odd piece sizes in and out, four threads, then two. */
    unsigned char *four = compress_all(in, n, level, 4, 10007, 3001, &len4);
    check_one_member(four, len4, in, n);
    unsigned char *two = compress_all(in, n, level, 2, 1 << 20, 1 << 16, &len2);
    check_one_member(two, len2, in, n);
    /* The chunks, not the threads, decide the bytes. */
    assert_int_equal(len1, len4);
    assert_memory_equal(one, four, len1);
    assert_int_equal(len1, len2);
    assert_memory_equal(one, two, len1);
    if (!noise && n >= 4096)
        assert_true(len1 < n / 2);
    free(in);
    free(one);
    free(four);
    free(two);
}

static void test_sizes_around_chunks(void **state)
{
    (void)state;
    const size_t C = NOX_GZ_CHUNK;
    const size_t sizes[] = { 0, 1, 100, C - 1, C, C + 1, 2 * C, 3 * C + C / 2, 5u << 20 };
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        roundtrip(sizes[i], false, 1);
        roundtrip(sizes[i], true, 1);
    }
}

static void test_levels(void **state)
{
    (void)state;
    for (int level = 1; level <= 9; level += 4)
        roundtrip(3 * NOX_GZ_CHUNK + 17, false, level);
}

/* Abandoned with chunks queued, being compressed and half read: freed with
 * nothing left (the valgrind twin checks the leaks and the threads). */
static void test_abandoned(void **state)
{
    (void)state;
    size_t n = 6 * NOX_GZ_CHUNK;
    unsigned char *in = make_input(n, false);
    for (int stop = 0; stop < 4; stop++) {
        nox_gz *g = nox__gz_new(1, 3);
        assert_non_null(g);
        assert_int_equal(nox__gz_write(g, in, n), 0);
        unsigned char buf[777];
        for (int i = 0; i < stop; i++)
            assert_true(nox__gz_read(g, buf, sizeof buf, true) > 0);
        if (stop == 3)
            assert_int_equal(nox__gz_finish(g), 0);
        nox__gz_free(g);
    }
    nox__gz_free(NULL);
    free(in);
}

static void test_auto_threads(void **state)
{
    (void)state;
    unsigned n = nox__gz_auto_threads();
    assert_true(n >= 1 && n <= 8);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sizes_around_chunks),
        cmocka_unit_test(test_levels),
        cmocka_unit_test(test_abandoned),
        cmocka_unit_test(test_auto_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
