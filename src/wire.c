/* SPDX-License-Identifier: MIT */
/* The JSON of the v1 API, for both ends: the http backend encodes requests
 * and decodes answers, noxrunnerd decodes requests and encodes answers.
 *
 * Decoders are strict on types and tolerant of fields they do not know.
 * Failures decoding a request are NOX_E_INVALID (the server answers 400);
 * failures decoding an answer are NOX_E_PROTOCOL (the backend broke the
 * contract). Either way the message names the field, what it must be and
 * what it was. */
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>

#include <noxrunner/wire.h>

#include "backend.h"
#include "error.h"

#define DEFAULT_TTL_SECONDS          900
#define DEFAULT_EXEC_TIMEOUT_SECONDS 30

/* How much of an error body becomes a message. */
#define ERROR_MESSAGE_MAX 1024
/* How much of a key or a quoted value goes into one of our messages. */
#define QUOTE_MAX 64

static inline void nox__json_decrefp(json_t **j)
{
    if (*j)
        json_decref(*j);
}
#define _cleanup_json_ _cleanup_(nox__json_decrefp)

/* ======================================================================== */
/* UTF-8                                                                    */
/* ======================================================================== */

static inline bool is_cont(unsigned char c)
{
    return (c & 0xC0) == 0x80;
}

/* Length of the well-formed sequence starting at @p s (@p n bytes left), or
 * 0 when the byte at @p s starts none. Table 3-7 of the Unicode standard:
 * the second-byte ranges after E0, ED, F0 and F4 are what exclude overlong
 * forms, UTF-16 surrogates and code points above U+10FFFF. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    if (c < 0xC2)
        return 0;
    if (c < 0xE0)
        return n >= 2 && is_cont(s[1]) ? 2 : 0;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c < 0xF0) {
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
        return n >= 3 && s[1] >= lo && s[1] <= hi && is_cont(s[2]) ? 3 : 0;
    }
    if (c < 0xF5) {
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
        return n >= 4 && s[1] >= lo && s[1] <= hi && is_cont(s[2]) && is_cont(s[3]) ? 4 : 0;
    }
    return 0;
}

/* Offset of the first byte that is not part of well-formed UTF-8 (or, with
 * @p nul_bad, is a NUL), @p n when there is none. Command output is mostly
 * ASCII, so eight bytes at a time are checked for a high bit or a zero byte
 * before falling back to one sequence at a time. */
static size_t utf8_first_bad(const unsigned char *s, size_t n, bool nul_bad)
{
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    size_t i = 0;
    while (i < n) {
        while (n - i >= 8) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if ((w & highs) || (nul_bad && ((w - ones) & ~w & highs)))
                break;
            i += 8;
        }
        if (i >= n)
            break;
        if (s[i] < 0x80) {
            if (s[i] == 0 && nul_bad)
                return i;
            i++;
            continue;
        }
        size_t l = utf8_seq(s + i, n - i);
        if (!l)
            return i;
        i += l;
    }
    return n;
}

/* Copies @p s to @p dst (when non-NULL) with each byte that is not part of
 * a well-formed sequence, and each NUL when @p nul_bad, replaced by U+FFFD.
 * Returns the length of the result. @p start is a known-good prefix length.
 * Run once without @p dst to size the buffer, once with it to fill it. */
static size_t utf8_sanitize(const unsigned char *s, size_t n, size_t start, bool nul_bad, char *dst)
{
    static const char replacement[3] = { '\xEF', '\xBF', '\xBD' };
    size_t out = start;
    if (dst)
        memcpy(dst, s, start);
    size_t i = start;
    while (i < n) {
        size_t good = i + utf8_first_bad(s + i, n - i, nul_bad);
        if (dst)
            memcpy(dst + out, s + i, good - i);
        out += good - i;
        i = good;
        if (i >= n)
            break;
        if (dst)
            memcpy(dst + out, replacement, 3);
        out += 3;
        i++;
    }
    return out;
}

/* A new NUL-terminated copy of @p s with invalid UTF-8 (and NULs, when
 * @p nul_bad) replaced; NULL when out of memory. */
static char *utf8_sanitized_copy(const char *s, size_t n, bool nul_bad, size_t *ret_len)
{
    const unsigned char *u = (const unsigned char *)s;
    /* Each bad byte grows to three; input this large cannot be memory. */
    if (n > (SIZE_MAX - 1) / 3)
        return NULL;
    size_t start = utf8_first_bad(u, n, nul_bad);
    size_t len = start == n ? n : utf8_sanitize(u, n, start, nul_bad, NULL);
    char *out = malloc(len + 1);
    if (!out)
        return NULL;
    if (start == n)
        memcpy(out, s, n);
    else
        utf8_sanitize(u, n, start, nul_bad, out);
    out[len] = '\0';
    if (ret_len)
        *ret_len = len;
    return out;
}

/* A JSON string of @p n bytes of @p s, invalid UTF-8 replaced, NULs kept
 * (JSON carries them as \u0000). NULL when out of memory. */
static json_t *json_text(const char *s, size_t n)
{
    if (!s)
        s = "";
    if (utf8_first_bad((const unsigned char *)s, n, false) == n)
        return json_stringn_nocheck(s, n);
    size_t len;
    _cleanup_free_ char *clean = utf8_sanitized_copy(s, n, false, &len);
    return clean ? json_stringn_nocheck(clean, len) : NULL;
}

static json_t *json_cstr(const char *s)
{
    return json_text(s, s ? strlen(s) : 0);
}

/* ======================================================================== */
/* Encoding                                                                 */
/* ======================================================================== */

/* Adds @p value (owned) to @p obj under a key that is known to be valid;
 * records failure (out of memory) in @p failed instead of returning it, so
 * an encoder adds every field and checks once. */
static void put(json_t *obj, const char *key, json_t *value, bool *failed)
{
    if (!value || json_object_set_new_nocheck(obj, key, value) < 0)
        *failed = true;
}

static int dump_cb(const char *buffer, size_t size, void *data)
{
    return nox__buf_append(data, buffer, size) < 0 ? -1 : 0;
}

/* Serialises @p j compactly into memory the caller frees with free(): not
 * json_dumps(), whose buffer comes from jansson's allocator, which a program
 * may have replaced with json_set_alloc_funcs(). */
static int dump(json_t *j, char **ret_json, size_t *ret_len, nox_error *err)
{
    _cleanup_buf_ nox_buf b = NOX_BUF_INIT;
    if (json_dump_callback(j, dump_cb, &b, JSON_COMPACT) < 0)
        return nox__error_oom(err);
    size_t len;
    char *s = nox__buf_steal(&b, &len);
    if (!s)
        return nox__error_oom(err);
    *ret_json = s;
    if (ret_len)
        *ret_len = len;
    return 0;
}

/* Strings a client sends must arrive exactly as given, so unlike output
 * they are refused, not repaired, when they are not UTF-8. */
static int check_utf8(const char *s, const char *what, size_t index, bool indexed, nox_error *err)
{
    size_t n = strlen(s);
    size_t bad = utf8_first_bad((const unsigned char *)s, n, false);
    if (bad == n)
        return 0;
    if (indexed)
        return nox__error_set(err, NOX_E_INVALID,
                              "%s[%zu] is not valid UTF-8 (byte 0x%02x at offset %zu), which "
                              "JSON cannot carry",
                              what, index, (unsigned char)s[bad], bad);
    return nox__error_set(err, NOX_E_INVALID,
                          "%s is not valid UTF-8 (byte 0x%02x at offset %zu), which JSON cannot "
                          "carry",
                          what, (unsigned char)s[bad], bad);
}

/* ======================================================================== */
/* Decoding                                                                 */
/* ======================================================================== */

typedef struct dec {
    nox_error *err;
    /* NOX_E_INVALID for requests, NOX_E_PROTOCOL for answers. */
    int code;
    /* "request body" or "answer", for messages about the whole text. */
    const char *what;
} dec;

/* Where a value sits, as a chain up to the root, rendered only when a
 * message needs it ("sandboxes[2].limits.memory.value"): decoding that
 * succeeds allocates nothing for it. */
typedef struct jpath {
    const struct jpath *up;
    /* NULL for an array element, then @ref index applies. */
    const char *key;
    size_t index;
} jpath;

#define JKEY(parent, k) (&(const jpath){ (parent), (k), 0 })
#define JIDX(parent, i) (&(const jpath){ (parent), NULL, (i) })

static void path_render(nox_buf *b, const jpath *p)
{
    if (!p)
        return;
    path_render(b, p->up);
    if (p->key) {
        size_t n = strlen(p->key);
        if (b->len)
            nox__buf_append(b, ".", 1);
        nox__buf_append(b, p->key, NOX_MIN(n, (size_t)QUOTE_MAX));
        if (n > QUOTE_MAX)
            nox__buf_append(b, "…", strlen("…"));
    } else {
        nox__buf_appendf(b, "[%zu]", p->index);
    }
}

/* Records "field `PATH` <message>" with the decoder's code. */
static int fail(const dec *d, const jpath *p, const char *fmt, ...) NOX_PRINTF(3, 4);
static int fail(const dec *d, const jpath *p, const char *fmt, ...)
{
    _cleanup_buf_ nox_buf path = NOX_BUF_INIT;
    path_render(&path, p);
    _cleanup_free_ char *msg = NULL;
    va_list ap;
    va_start(ap, fmt);
    int r = vasprintf(&msg, fmt, ap);
    va_end(ap);
    if (r < 0) {
        msg = NULL;
        return nox__error_set(d->err, d->code, "field `%s` is invalid", path.data ? path.data : "");
    }
    return nox__error_set(d->err, d->code, "field `%s` %s", path.data ? path.data : "", msg);
}
#ifdef __clang_analyzer__
/* The analyzer does not inline variadic functions, so it cannot see that
 * fail() always returns a negative code (d->code); see error.h. */
#define fail(...) nox__analyzer_failed(fail(__VA_ARGS__))
#endif

static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a decimal number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "an unknown JSON value";
}

static int type_error(const dec *d, const jpath *p, const char *expected, const json_t *v)
{
    return fail(d, p, "must be %s, not %s", expected, type_name(v));
}

/* A member of @p obj; NULL when absent or null, which optional fields treat
 * alike (clients in other languages serialise unset fields as null). */
static json_t *field(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_null(v) ? NULL : v;
}

static int want_string(const dec *d, const jpath *p, const json_t *v, bool allow_nul,
                       const char **ret, size_t *ret_len)
{
    if (!json_is_string(v))
        return type_error(d, p, "a string", v);
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (!allow_nul && memchr(s, '\0', n))
        return fail(d, p, "must not contain a NUL character (\\u0000)");
    *ret = s;
    if (ret_len)
        *ret_len = n;
    return 0;
}

static int want_integer(const dec *d, const jpath *p, const json_t *v, json_int_t *ret)
{
    if (!json_is_integer(v))
        return type_error(d, p, "an integer", v);
    *ret = json_integer_value(v);
    return 0;
}

static int want_bool(const dec *d, const jpath *p, const json_t *v, bool *ret)
{
    if (!json_is_boolean(v))
        return type_error(d, p, "a boolean", v);
    *ret = json_is_true(v);
    return 0;
}

/* A positive integer that fits a long: ttlSeconds and timeoutSeconds. No
 * maximum here: each backend caps them by its own configuration. */
static int want_positive_long(const dec *d, const jpath *p, const json_t *v, long *ret)
{
    json_int_t x = 0;
    int r = want_integer(d, p, v, &x);
    if (r < 0)
        return r;
    if (x <= 0)
        return fail(d, p, "must be a positive integer, not %lld", (long long)x);
#if LONG_MAX < LLONG_MAX
    if (x > LONG_MAX)
        return fail(d, p, "is too large: %lld is more than %ld", (long long)x, LONG_MAX);
#endif
    *ret = (long)x;
    return 0;
}

static int want_int(const dec *d, const jpath *p, const json_t *v, int *ret)
{
    json_int_t x = 0;
    int r = want_integer(d, p, v, &x);
    if (r < 0)
        return r;
    if (x < INT_MIN || x > INT_MAX)
        return fail(d, p, "is out of range: %lld does not fit an int", (long long)x);
    *ret = (int)x;
    return 0;
}

static bool is_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
            return false;
    return true;
}

/* A UTF-8 byte order mark is not JSON, but some Windows tools put one
 * before it, and RFC 8259 lets a parser ignore it. */
static void skip_bom(const char **json, size_t *len)
{
    if (*json && *len >= 3 && memcmp(*json, "\xEF\xBB\xBF", 3) == 0) {
        *json += 3;
        *len -= 3;
    }
}

/* Parses @p json into an object. NUL bytes are let through the parser and
 * refused per field (want_string), so the message can name the field, and
 * so exec output, which may hold NULs, can be decoded at all.
 *
 * Duplicate keys are refused in requests only: a request whose "cmd"
 * appears twice means different things to parsers that keep the first and
 * those that keep the last, and a gateway and a backend must not disagree
 * on what runs. Answers are read like Python's json reads them (the last
 * one wins), since refusing them helps nobody. */
static int parse(const dec *d, const char *json, size_t len, bool empty_is_object, json_t **ret)
{
    if (!json && len)
        return nox__error_set(d->err, NOX_E_INVALID, "JSON text is NULL but its length is %zu",
                              len);
    skip_bom(&json, &len);
    if (!json || is_blank(json, len)) {
        if (!empty_is_object)
            return nox__error_set(d->err, d->code, "%s is empty; expected a JSON object", d->what);
        json_t *o = json_object();
        if (!o)
            return nox__error_oom(d->err);
        *ret = o;
        return 0;
    }
    size_t flags = JSON_DECODE_ANY | JSON_ALLOW_NUL;
    if (d->code == NOX_E_INVALID)
        flags |= JSON_REJECT_DUPLICATES;
    json_error_t je;
    json_t *j = json_loadb(json, len, flags, &je);
    if (!j) {
        /* jansson sets a text for every real parse error; when an
         * allocation fails inside it, it often sets none. */
        if (je.text[0] == '\0')
            return nox__error_oom(d->err);
        switch (json_error_code(&je)) {
        case json_error_out_of_memory:
            return nox__error_oom(d->err);
        case json_error_duplicate_key:
            return nox__error_set(d->err, d->code,
                                  "%s has a duplicate key at line %d, column %d (%s); each key "
                                  "may appear once",
                                  d->what, je.line, je.column, je.text);
        case json_error_null_byte_in_key:
            return nox__error_set(d->err, d->code,
                                  "%s has a key with a NUL character (\\u0000) at line %d, "
                                  "column %d; keys must not contain NUL",
                                  d->what, je.line, je.column);
        case json_error_stack_overflow:
            return nox__error_set(d->err, d->code,
                                  "%s is nested too deeply at line %d, column %d (%s)", d->what,
                                  je.line, je.column, je.text);
        default:
            return nox__error_set(d->err, d->code, "%s is not valid JSON: %s at line %d, column %d",
                                  d->what, je.text, je.line, je.column);
        }
    }
    if (!json_is_object(j)) {
        const char *t = type_name(j);
        json_decref(j);
        return nox__error_set(d->err, d->code, "%s must be a JSON object, not %s", d->what, t);
    }
    *ret = j;
    return 0;
}

/* Adds @p n + 1 to @p size, reporting overflow as lack of memory (no
 * allocation of that size could succeed anyway). */
static bool size_add(size_t *size, size_t n)
{
    return !nox__add_overflows(*size, n, size) && !nox__add_overflows(*size, 1, size);
}

/* Copies @p n bytes and a NUL to @p *cur, advancing it; returns the copy. */
static char *pack(char **cur, const char *s, size_t n)
{
    char *out = *cur;
    memcpy(out, s, n);
    out[n] = '\0';
    *cur += n + 1;
    return out;
}

/* A NUL-terminated heap copy of a string already checked for NULs. */
static int dup_field(const dec *d, const char *s, char **ret)
{
    char *c = strdup(s);
    if (!c)
        return nox__error_oom(d->err);
    *ret = c;
    return 0;
}

/* An optional string member copied into @p *ret (left alone when absent). */
static int opt_string(const dec *d, const jpath *parent, const json_t *obj, const char *key,
                      char **ret)
{
    json_t *v = field(obj, key);
    if (!v)
        return 0;
    const char *s;
    int r = want_string(d, JKEY(parent, key), v, false, &s, NULL);
    if (r < 0)
        return r;
    free(*ret);
    *ret = NULL;
    return dup_field(d, s, ret);
}

/* ======================================================================== */
/* Create request                                                           */
/* ======================================================================== */

static const struct {
    const char *key;
    bool quantity;
} create_strings[] = {
    { "image", false },
    { "cpuLimit", true },
    { "memoryLimit", true },
    { "ephemeralStorageLimit", true },
};

static const char **create_slot(nox_create_options *o, size_t i)
{
    switch (i) {
    case 0:
        return &o->image;
    case 1:
        return &o->cpu_limit;
    case 2:
        return &o->memory_limit;
    default:
        return &o->ephemeral_storage_limit;
    }
}

static const char *create_value(const nox_create_options *o, size_t i)
{
    switch (i) {
    case 0:
        return o->image;
    case 1:
        return o->cpu_limit;
    case 2:
        return o->memory_limit;
    default:
        return o->ephemeral_storage_limit;
    }
}

int nox_wire_decode_create_request(const char *json, size_t len, nox_create_options **ret_opts,
                                   nox_error *err)
{
    const dec d = { err, NOX_E_INVALID, "request body" };
    if (!ret_opts)
        return nox__error_set(err, NOX_E_INVALID, "decoding a create request needs a result");
    _cleanup_json_ json_t *root = NULL;
    int r = parse(&d, json, len, true, &root);
    if (r < 0)
        return r;

    long ttl = DEFAULT_TTL_SECONDS;
    json_t *v = field(root, "ttlSeconds");
    if (v && (r = want_positive_long(&d, JKEY(NULL, "ttlSeconds"), v, &ttl)) < 0)
        return r;

    const char *str[NOX_ARRAY_SIZE(create_strings)] = { NULL };
    size_t str_len[NOX_ARRAY_SIZE(create_strings)] = { 0 };
    size_t size = sizeof(nox_create_options);
    for (size_t i = 0; i < NOX_ARRAY_SIZE(create_strings); i++) {
        const char *key = create_strings[i].key;
        if (!(v = field(root, key)))
            continue;
        if ((r = want_string(&d, JKEY(NULL, key), v, false, &str[i], &str_len[i])) < 0)
            return r;
        if (create_strings[i].quantity) {
            uint64_t q;
            r = nox_parse_quantity(str[i], &q, err);
            if (r < 0)
                return nox__error_prefix(err, r, "field `%s`", key);
        }
        if (!size_add(&size, str_len[i]))
            return nox__error_oom(err);
    }

    nox_create_options *o = malloc(size);
    if (!o)
        return nox__error_oom(err);
    /* Not nox_create_options_init(): the wire module stands alone (the
     * fuzzers link it without the client), so the defaults are set here. */
    memset(o, 0, sizeof *o);
    o->ttl_seconds = ttl;
    char *cur = (char *)(o + 1);
    for (size_t i = 0; i < NOX_ARRAY_SIZE(create_strings); i++)
        if (str[i])
            *create_slot(o, i) = pack(&cur, str[i], str_len[i]);
    *ret_opts = o;
    return 0;
}

int nox_wire_encode_create_request(const nox_create_options *opts, char **ret_json, size_t *ret_len,
                                   nox_error *err)
{
    if (!ret_json)
        return nox__error_set(err, NOX_E_INVALID, "encoding a create request needs a result");
    const nox_create_options defaults = { .ttl_seconds = DEFAULT_TTL_SECONDS };
    if (!opts)
        opts = &defaults;
    if (opts->ttl_seconds <= 0)
        return nox__error_set(err, NOX_E_INVALID, "ttlSeconds must be a positive number, not %ld",
                              opts->ttl_seconds);
    _cleanup_json_ json_t *o = json_object();
    if (!o)
        return nox__error_oom(err);
    bool failed = false;
    put(o, "ttlSeconds", json_integer(opts->ttl_seconds), &failed);
    for (size_t i = 0; i < NOX_ARRAY_SIZE(create_strings); i++) {
        const char *s = create_value(opts, i);
        if (!s)
            continue;
        int r = check_utf8(s, create_strings[i].key, 0, false, err);
        if (r < 0)
            return r;
        put(o, create_strings[i].key, json_string_nocheck(s), &failed);
    }
    if (failed)
        return nox__error_oom(err);
    return dump(o, ret_json, ret_len, err);
}

/* ======================================================================== */
/* Exec request                                                             */
/* ======================================================================== */

int nox_wire_decode_exec_request(const char *json, size_t len, nox_exec_request **ret_req,
                                 nox_error *err)
{
    const dec d = { err, NOX_E_INVALID, "request body" };
    if (!ret_req)
        return nox__error_set(err, NOX_E_INVALID, "decoding an exec request needs a result");
    _cleanup_json_ json_t *root = NULL;
    int r = parse(&d, json, len, true, &root);
    if (r < 0)
        return r;

    /* First pass: check everything and add up the size, so that the second
     * pass, which fills the single allocation, cannot fail. */
    const jpath *p_cmd = JKEY(NULL, "cmd");
    json_t *cmd = field(root, "cmd");
    if (!cmd)
        return fail(&d, p_cmd, "is required: the command as a non-empty array of strings");
    if (!json_is_array(cmd))
        return type_error(&d, p_cmd, "an array of strings", cmd);
    size_t argc = json_array_size(cmd);
    if (argc == 0)
        return fail(&d, p_cmd, "must not be empty");

    size_t size = sizeof(nox_exec_request), bytes = 0, ptrs = 0;
    if (nox__add_overflows(argc, 1, &ptrs))
        return nox__error_oom(err);
    for (size_t i = 0; i < argc; i++) {
        const char *s;
        size_t n;
        if ((r = want_string(&d, JIDX(p_cmd, i), json_array_get(cmd, i), false, &s, &n)) < 0)
            return r;
        if (i == 0 && n == 0)
            return fail(&d, JIDX(p_cmd, 0), "must not be an empty string");
        if (!size_add(&bytes, n))
            return nox__error_oom(err);
    }

    const char *workdir = NULL;
    size_t workdir_len = 0;
    json_t *v = field(root, "workdir");
    if (v && (r = want_string(&d, JKEY(NULL, "workdir"), v, false, &workdir, &workdir_len)) < 0)
        return r;
    /* "" means the default, as it does in nox_exec(). */
    if (workdir && workdir_len == 0)
        workdir = NULL;
    if (workdir && !size_add(&bytes, workdir_len))
        return nox__error_oom(err);

    const jpath *p_env = JKEY(NULL, "env");
    json_t *env = field(root, "env");
    size_t envc = 0;
    if (env) {
        if (!json_is_object(env))
            return type_error(&d, p_env, "an object of strings", env);
        const char *name;
        json_t *value;
        json_object_foreach(env, name, value)
        {
            /* The parser refuses keys with NUL, so strlen() is the length. */
            size_t name_len = strlen(name), value_len;
            const char *s;
            if (name_len == 0)
                return fail(&d, p_env, "has an empty variable name");
            if (memchr(name, '=', name_len))
                return fail(&d, p_env, "has a variable name `%.*s%s` with '=' in it",
                            (int)NOX_MIN(name_len, (size_t)QUOTE_MAX), name,
                            name_len > QUOTE_MAX ? "…" : "");
            if ((r = want_string(&d, JKEY(p_env, name), value, false, &s, &value_len)) < 0)
                return r;
            if (!size_add(&bytes, name_len) || !size_add(&bytes, value_len))
                return nox__error_oom(err);
            envc++;
        }
        if (envc && nox__add_overflows(ptrs, envc + 1, &ptrs))
            return nox__error_oom(err);
    }

    long timeout = DEFAULT_EXEC_TIMEOUT_SECONDS;
    v = field(root, "timeoutSeconds");
    if (v && (r = want_positive_long(&d, JKEY(NULL, "timeoutSeconds"), v, &timeout)) < 0)
        return r;

    if (nox__mul_overflows(ptrs, sizeof(char *), &ptrs) || nox__add_overflows(size, ptrs, &size) ||
        nox__add_overflows(size, bytes, &size))
        return nox__error_oom(err);

    /* Layout: the struct, argv[], env[], then the bytes of every string.
     * The struct holds pointers, so its size keeps the arrays aligned. */
    nox_exec_request *req = malloc(size);
    if (!req)
        return nox__error_oom(err);
    char **argv = (char **)(req + 1);
    char **envv = envc ? argv + argc + 1 : NULL;
    char *cur = (char *)(argv + argc + 1 + (envc ? envc + 1 : 0));
    for (size_t i = 0; i < argc; i++) {
        json_t *el = json_array_get(cmd, i);
        argv[i] = pack(&cur, json_string_value(el), json_string_length(el));
    }
    argv[argc] = NULL;
    req->argv = argv;
    memset(&req->opts, 0, sizeof req->opts);
    req->opts.timeout_seconds = timeout;
    if (workdir)
        req->opts.workdir = pack(&cur, workdir, workdir_len);
    if (envc) {
        size_t i = 0;
        const char *name;
        json_t *value;
        json_object_foreach(env, name, value)
        {
            size_t name_len = strlen(name), value_len = json_string_length(value);
            envv[i] = cur;
            memcpy(cur, name, name_len);
            cur[name_len] = '=';
            memcpy(cur + name_len + 1, json_string_value(value), value_len);
            cur[name_len + 1 + value_len] = '\0';
            cur += name_len + 1 + value_len + 1;
            i++;
        }
        envv[i] = NULL;
        req->opts.env = (const char *const *)envv;
    }
    *ret_req = req;
    return 0;
}

int nox_wire_encode_exec_request(const char *const *argv, const nox_exec_options *opts,
                                 char **ret_json, size_t *ret_len, nox_error *err)
{
    if (!ret_json)
        return nox__error_set(err, NOX_E_INVALID, "encoding an exec request needs a result");
    if (!argv || !argv[0])
        return nox__error_set(err, NOX_E_INVALID, "cmd must not be empty");
    if (!*argv[0])
        return nox__error_set(err, NOX_E_INVALID, "cmd[0] must not be an empty string");
    long timeout = opts ? opts->timeout_seconds : DEFAULT_EXEC_TIMEOUT_SECONDS;
    if (timeout <= 0)
        return nox__error_set(err, NOX_E_INVALID,
                              "timeoutSeconds must be a positive number, not %ld", timeout);

    _cleanup_json_ json_t *o = json_object();
    json_t *cmd = json_array();
    bool failed = false;
    if (!o) {
        json_decref(cmd);
        return nox__error_oom(err);
    }
    put(o, "cmd", cmd, &failed);
    for (size_t i = 0; argv[i] && !failed; i++) {
        int r = check_utf8(argv[i], "cmd", i, true, err);
        if (r < 0)
            return r;
        if (json_array_append_new(cmd, json_string_nocheck(argv[i])) < 0)
            failed = true;
    }
    if (opts && opts->workdir && *opts->workdir) {
        int r = check_utf8(opts->workdir, "workdir", 0, false, err);
        if (r < 0)
            return r;
        put(o, "workdir", json_string_nocheck(opts->workdir), &failed);
    }
    if (opts && opts->env && opts->env[0]) {
        json_t *env = json_object();
        put(o, "env", env, &failed);
        for (size_t i = 0; opts->env[i] && !failed; i++) {
            const char *e = opts->env[i];
            const char *eq = strchr(e, '=');
            if (!eq || eq == e)
                return nox__error_set(err, NOX_E_INVALID,
                                      "environment entry `%.*s%s` is not of the form NAME=VALUE",
                                      (int)NOX_MIN(strlen(e), (size_t)QUOTE_MAX), e,
                                      strlen(e) > QUOTE_MAX ? "…" : "");
            int r = check_utf8(e, "env", i, true, err);
            if (r < 0)
                return r;
            /* Later entries win, as they do when a shell exports a name twice. */
            _cleanup_free_ char *name = strndup(e, (size_t)(eq - e));
            if (!name || json_object_set_new_nocheck(env, name, json_string_nocheck(eq + 1)) < 0)
                failed = true;
        }
    }
    put(o, "timeoutSeconds", json_integer(timeout), &failed);
    if (failed)
        return nox__error_oom(err);
    return dump(o, ret_json, ret_len, err);
}

/* ======================================================================== */
/* Exec result                                                              */
/* ======================================================================== */

/* Appends @p s as a JSON string literal in one pass: checked as UTF-8
 * (each bad byte becomes U+FFFD), escaped as jansson escapes (so both
 * encoders give the same bytes), copied in runs. This is the exec answer's
 * hot path, up to a megabyte per stream; jansson's own dump of the same
 * string is several times slower. */
static int append_json_string(nox_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *u = (const unsigned char *)s;
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    if (nox__buf_reserve(b, n + 2) < 0 || nox__buf_append(b, "\"", 1) < 0)
        return -1;
    size_t i = 0, run = 0;
    while (i < n) {
        /* Eight plain bytes at a time: none below 0x20, no '"', no '\\',
         * no high bit (the classic has-zero-byte tests). */
        while (n - i >= 8) {
            uint64_t w, q, bs;
            memcpy(&w, u + i, 8);
            q = w ^ (ones * '"');
            bs = w ^ (ones * '\\');
            if ((w | ((w - ones * 0x20) & ~w) | ((q - ones) & ~q) | ((bs - ones) & ~bs)) & highs)
                break;
            i += 8;
        }
        if (i >= n)
            break;
        unsigned char c = u[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            size_t l = c < 0x80 ? 1 : utf8_seq(u + i, n - i);
            if (l) {
                i += l;
                continue;
            }
        }
        if (nox__buf_append(b, s + run, i - run) < 0)
            return -1;
        char esc[6] = { '\\', 0, 0, 0, 0, 0 };
        const char *out = esc;
        size_t out_len = 2;
        switch (c) {
        case '"':
            esc[1] = '"';
            break;
        case '\\':
            esc[1] = '\\';
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        default:
            if (c < 0x20) {
                /* esc is a byte sequence of out_len bytes, not a string. */
                // NOLINTNEXTLINE(bugprone-not-null-terminated-result)
                memcpy(esc + 1, "u00", 3);
                esc[4] = hex[c >> 4];
                esc[5] = hex[c & 15];
                out_len = 6;
            } else {
                out = "\xEF\xBF\xBD";
                out_len = 3;
            }
        }
        if (nox__buf_append(b, out, out_len) < 0)
            return -1;
        run = ++i;
    }
    if (nox__buf_append(b, s + run, n - run) < 0 || nox__buf_append(b, "\"", 1) < 0)
        return -1;
    return 0;
}

int nox_wire_encode_exec_result(const nox_exec_result *res, char **ret_json, size_t *ret_len,
                                nox_error *err)
{
    if (!res || !ret_json)
        return nox__error_set(err, NOX_E_INVALID, "encoding an exec result needs a result");
    if ((!res->stdout_data && res->stdout_len) || (!res->stderr_data && res->stderr_len))
        return nox__error_set(err, NOX_E_INVALID, "exec result has a length but no data");
    size_t hint;
    if (nox__add_overflows(res->stdout_len, res->stderr_len, &hint) ||
        nox__add_overflows(hint, 256, &hint))
        return nox__error_oom(err);
    _cleanup_buf_ nox_buf b = NOX_BUF_INIT;
    /* The order is the contract's (exitCode, stdout, stderr, durationMs),
     * then NoxRunner's fields; "signal" only when there was one, since
     * "signal": 0 would read as "killed by signal 0". */
    if (nox__buf_reserve(&b, hint) < 0 ||
        nox__buf_appendf(&b, "{\"exitCode\":%d,\"stdout\":", res->exit_code) < 0 ||
        append_json_string(&b, res->stdout_data, res->stdout_len) < 0 ||
        nox__buf_append(&b, ",\"stderr\":", strlen(",\"stderr\":")) < 0 ||
        append_json_string(&b, res->stderr_data, res->stderr_len) < 0 ||
        nox__buf_appendf(&b,
                         ",\"durationMs\":%lld,\"stdoutTruncated\":%s,\"stderrTruncated\":%s,"
                         "\"timedOut\":%s",
                         (long long)res->duration_ms, res->stdout_truncated ? "true" : "false",
                         res->stderr_truncated ? "true" : "false",
                         res->timed_out ? "true" : "false") < 0 ||
        (res->term_signal && nox__buf_appendf(&b, ",\"signal\":%d", res->term_signal) < 0) ||
        nox__buf_append(&b, "}", 1) < 0)
        return nox__error_oom(err);
    size_t len;
    char *json = nox__buf_steal(&b, &len);
    if (!json)
        return nox__error_oom(err);
    *ret_json = json;
    if (ret_len)
        *ret_len = len;
    return 0;
}

/* Copies an output stream that may hold NULs; absent means empty. */
static int output_field(const dec *d, const json_t *root, const char *key, char **ret,
                        size_t *ret_len)
{
    const char *s = "";
    size_t n = 0;
    json_t *v = field(root, key);
    int r;
    if (v && (r = want_string(d, JKEY(NULL, key), v, true, &s, &n)) < 0)
        return r;
    char *c = malloc(n + 1);
    if (!c)
        return nox__error_oom(d->err);
    memcpy(c, s, n);
    c[n] = '\0';
    *ret = c;
    *ret_len = n;
    return 0;
}

static int opt_bool(const dec *d, const json_t *root, const char *key, bool *ret)
{
    json_t *v = field(root, key);
    return v ? want_bool(d, JKEY(NULL, key), v, ret) : 0;
}

int nox_wire_decode_exec_result(const char *json, size_t len, nox_exec_result **ret_res,
                                nox_error *err)
{
    const dec d = { err, NOX_E_PROTOCOL, "answer" };
    if (!ret_res)
        return nox__error_set(err, NOX_E_INVALID, "decoding an exec result needs a result");
    _cleanup_json_ json_t *root = NULL;
    int r = parse(&d, json, len, false, &root);
    if (r < 0)
        return r;
    nox_exec_result *res = nox__exec_result_new();
    if (!res)
        return nox__error_oom(err);

    json_t *v = field(root, "exitCode");
    json_int_t ms = 0;
    if (!v)
        r = fail(&d, JKEY(NULL, "exitCode"), "is required");
    else
        r = want_int(&d, JKEY(NULL, "exitCode"), v, &res->exit_code);
    if (r >= 0)
        r = output_field(&d, root, "stdout", &res->stdout_data, &res->stdout_len);
    if (r >= 0)
        r = output_field(&d, root, "stderr", &res->stderr_data, &res->stderr_len);
    if (r >= 0 && (v = field(root, "durationMs")))
        r = want_integer(&d, JKEY(NULL, "durationMs"), v, &ms);
    if (r >= 0)
        r = opt_bool(&d, root, "stdoutTruncated", &res->stdout_truncated);
    if (r >= 0)
        r = opt_bool(&d, root, "stderrTruncated", &res->stderr_truncated);
    if (r >= 0)
        r = opt_bool(&d, root, "timedOut", &res->timed_out);
    if (r >= 0 && (v = field(root, "signal")))
        r = want_int(&d, JKEY(NULL, "signal"), v, &res->term_signal);
    if (r < 0) {
        nox_exec_result_free(res);
        return r;
    }
    res->duration_ms = (int64_t)ms;
    *ret_res = res;
    return 0;
}

/* ======================================================================== */
/* Sandboxes                                                                */
/* ======================================================================== */

static int sandbox_to_json(const nox_sandbox *sb, json_t **ret, nox_error *err)
{
    if (!sb->pod_name)
        return nox__error_set(err, NOX_E_INVALID,
                              "sandbox `%s` has no podName, which the contract requires",
                              sb->id ? sb->id : "");
    json_t *o = json_object();
    if (!o)
        return nox__error_oom(err);
    bool failed = false;
    put(o, "podName", json_cstr(sb->pod_name), &failed);
    if (sb->expires_at) {
        put(o, "expiresAt", json_cstr(sb->expires_at), &failed);
    } else if (sb->expires_at_unix) {
        char t[32];
        if (nox_wire_format_time(sb->expires_at_unix, t, sizeof t) == 0)
            put(o, "expiresAt", json_string_nocheck(t), &failed);
    }
    if (sb->id)
        put(o, "sessionId", json_cstr(sb->id), &failed);
    if (sb->created_at)
        put(o, "createdAt", json_cstr(sb->created_at), &failed);
    if (sb->ttl_seconds > 0)
        put(o, "ttlSeconds", json_integer(sb->ttl_seconds), &failed);
    if (sb->image)
        put(o, "image", json_cstr(sb->image), &failed);
    if (sb->isolation)
        put(o, "isolation", json_cstr(sb->isolation), &failed);
    if (sb->running >= 0)
        put(o, "running", json_boolean(sb->running), &failed);
    if (sb->disk_used_bytes >= 0)
        put(o, "diskUsedBytes", json_integer(sb->disk_used_bytes), &failed);
    if (sb->n_limits) {
        json_t *limits = json_object();
        put(o, "limits", limits, &failed);
        for (size_t i = 0; i < sb->n_limits && !failed; i++) {
            const nox_limit_info *l = &sb->limits[i];
            if (!l->name) {
                json_decref(o);
                return nox__error_set(err, NOX_E_INVALID, "limit %zu of sandbox `%s` has no name",
                                      i, sb->id ? sb->id : "");
            }
            json_t *lo = json_object();
            if (!lo) {
                failed = true;
                break;
            }
            if (l->requested)
                put(lo, "requested", json_cstr(l->requested), &failed);
            /* JSON integers here are 64-bit signed (jansson, and most
             * readers); a limit beyond 2^63-1 is unlimited in practice. */
            put(lo, "value", json_integer(l->value > INT64_MAX ? INT64_MAX : (json_int_t)l->value),
                &failed);
            put(lo, "enforced", json_boolean(l->enforced), &failed);
            if (l->mechanism)
                put(lo, "mechanism", json_cstr(l->mechanism), &failed);
            if (l->reason)
                put(lo, "reason", json_cstr(l->reason), &failed);
            _cleanup_free_ char *key = utf8_sanitized_copy(l->name, strlen(l->name), false, NULL);
            if (!key || json_object_set_new_nocheck(limits, key, lo) < 0)
                failed = true;
            if (!key)
                json_decref(lo);
        }
    }
    if (failed) {
        json_decref(o);
        return nox__error_oom(err);
    }
    *ret = o;
    return 0;
}

int nox_wire_encode_sandbox(const nox_sandbox *sb, char **ret_json, size_t *ret_len, nox_error *err)
{
    if (!sb || !ret_json)
        return nox__error_set(err, NOX_E_INVALID,
                              "encoding a sandbox needs a sandbox and a result");
    _cleanup_json_ json_t *o = NULL;
    int r = sandbox_to_json(sb, &o, err);
    if (r < 0)
        return r;
    return dump(o, ret_json, ret_len, err);
}

static int limit_from_json(const dec *d, const jpath *p, const char *name, const json_t *v,
                           nox_sandbox *sb)
{
    if (!json_is_object(v))
        return type_error(d, p, "an object", v);
    const char *requested = NULL, *mechanism = NULL, *reason = NULL;
    json_int_t value = 0;
    bool enforced = false;
    json_t *f;
    int r;
    if ((f = field(v, "requested")) &&
        (r = want_string(d, JKEY(p, "requested"), f, false, &requested, NULL)) < 0)
        return r;
    if ((f = field(v, "value"))) {
        if ((r = want_integer(d, JKEY(p, "value"), f, &value)) < 0)
            return r;
        if (value < 0)
            return fail(d, JKEY(p, "value"), "must not be negative, not %lld", (long long)value);
    }
    if ((f = field(v, "enforced")) && (r = want_bool(d, JKEY(p, "enforced"), f, &enforced)) < 0)
        return r;
    if ((f = field(v, "mechanism")) &&
        (r = want_string(d, JKEY(p, "mechanism"), f, false, &mechanism, NULL)) < 0)
        return r;
    if ((f = field(v, "reason")) &&
        (r = want_string(d, JKEY(p, "reason"), f, false, &reason, NULL)) < 0)
        return r;
    if (nox__sandbox_add_limit(sb, name, requested, (uint64_t)value, enforced, mechanism, reason) <
        0)
        return nox__error_oom(d->err);
    return 0;
}

/* Fills @p sb (initialised by the caller) from @p o; on failure @p sb holds
 * what was decoded so far, for the caller to clear. */
static int sandbox_from_json(const dec *d, const jpath *p, const json_t *o, const char *id,
                             nox_sandbox *sb)
{
    json_t *v = field(o, "podName");
    int r;
    if (!v)
        return fail(d, JKEY(p, "podName"), "is required");
    if ((r = opt_string(d, p, o, "podName", &sb->pod_name)) < 0 ||
        (r = opt_string(d, p, o, "expiresAt", &sb->expires_at)) < 0 ||
        (r = opt_string(d, p, o, "sessionId", &sb->id)) < 0 ||
        (r = opt_string(d, p, o, "createdAt", &sb->created_at)) < 0 ||
        (r = opt_string(d, p, o, "image", &sb->image)) < 0 ||
        (r = opt_string(d, p, o, "isolation", &sb->isolation)) < 0)
        return r;
    /* Backends format times differently; one this parser does not know is
     * kept as text, which is all the contract promises anyway. */
    if (sb->expires_at && nox_wire_parse_time(sb->expires_at, &sb->expires_at_unix, NULL) < 0)
        sb->expires_at_unix = 0;
    if (!sb->id && id && (r = dup_field(d, id, &sb->id)) < 0)
        return r;

    json_int_t x = 0;
    if ((v = field(o, "ttlSeconds"))) {
        if ((r = want_integer(d, JKEY(p, "ttlSeconds"), v, &x)) < 0)
            return r;
        if (x < 0)
            return fail(d, JKEY(p, "ttlSeconds"), "must not be negative, not %lld", (long long)x);
        sb->ttl_seconds = x;
    }
    if ((v = field(o, "running"))) {
        bool running = false;
        if ((r = want_bool(d, JKEY(p, "running"), v, &running)) < 0)
            return r;
        sb->running = running;
    }
    if ((v = field(o, "diskUsedBytes"))) {
        if ((r = want_integer(d, JKEY(p, "diskUsedBytes"), v, &x)) < 0)
            return r;
        /* -1 is how a backend written against this API says "unknown". */
        if (x < -1)
            return fail(d, JKEY(p, "diskUsedBytes"), "must not be negative, not %lld",
                        (long long)x);
        sb->disk_used_bytes = x;
    }
    const jpath *p_limits = JKEY(p, "limits");
    if ((v = field(o, "limits"))) {
        if (!json_is_object(v))
            return type_error(d, p_limits, "an object keyed by limit name", v);
        const char *name;
        json_t *l;
        json_object_foreach(v, name, l)
        {
            if ((r = limit_from_json(d, JKEY(p_limits, name), name, l, sb)) < 0)
                return r;
        }
    }
    return 0;
}

int nox_wire_decode_sandbox(const char *json, size_t len, const char *id, nox_sandbox **ret_sb,
                            nox_error *err)
{
    const dec d = { err, NOX_E_PROTOCOL, "answer" };
    if (!ret_sb)
        return nox__error_set(err, NOX_E_INVALID, "decoding a sandbox needs a result");
    _cleanup_json_ json_t *root = NULL;
    int r = parse(&d, json, len, false, &root);
    if (r < 0)
        return r;
    nox_sandbox *sb = nox__sandbox_new();
    if (!sb)
        return nox__error_oom(err);
    if ((r = sandbox_from_json(&d, NULL, root, id, sb)) < 0) {
        nox_sandbox_free(sb);
        return r;
    }
    *ret_sb = sb;
    return 0;
}

int nox_wire_encode_sandbox_list(const nox_sandbox_list *list, char **ret_json, size_t *ret_len,
                                 nox_error *err)
{
    if (!list || !ret_json)
        return nox__error_set(err, NOX_E_INVALID,
                              "encoding a sandbox list needs a list and a result");
    if (list->count && !list->items)
        return nox__error_set(err, NOX_E_INVALID, "sandbox list has a count but no items");
    _cleanup_json_ json_t *o = json_object();
    json_t *arr = json_array();
    bool failed = false;
    if (!o) {
        json_decref(arr);
        return nox__error_oom(err);
    }
    put(o, "sandboxes", arr, &failed);
    for (size_t i = 0; i < list->count && !failed; i++) {
        json_t *item;
        int r = sandbox_to_json(&list->items[i], &item, err);
        if (r < 0)
            return r;
        if (json_array_append_new(arr, item) < 0)
            failed = true;
    }
    if (failed)
        return nox__error_oom(err);
    return dump(o, ret_json, ret_len, err);
}

static int compare_sandboxes(const void *a, const void *b)
{
    const nox_sandbox *x = a, *y = b;
    const char *ix = x->id ? x->id : "", *iy = y->id ? y->id : "";
    int c = strcmp(ix, iy);
    if (c)
        return c;
    return strcmp(x->pod_name ? x->pod_name : "", y->pod_name ? y->pod_name : "");
}

int nox_wire_decode_sandbox_list(const char *json, size_t len, nox_sandbox_list **ret_list,
                                 nox_error *err)
{
    const dec d = { err, NOX_E_PROTOCOL, "answer" };
    if (!ret_list)
        return nox__error_set(err, NOX_E_INVALID, "decoding a sandbox list needs a result");
    _cleanup_json_ json_t *root = NULL;
    int r = parse(&d, json, len, false, &root);
    if (r < 0)
        return r;
    const jpath *p_list = JKEY(NULL, "sandboxes");
    json_t *arr = field(root, "sandboxes");
    if (!arr)
        return fail(&d, p_list, "is required");
    if (!json_is_array(arr))
        return type_error(&d, p_list, "an array", arr);
    size_t n = json_array_size(arr);

    nox_sandbox_list *list = calloc(1, sizeof *list);
    if (!list)
        return nox__error_oom(err);
    if (n && !(list->items = calloc(n, sizeof *list->items))) {
        free(list);
        return nox__error_oom(err);
    }
    for (size_t i = 0; i < n; i++) {
        nox_sandbox *sb = &list->items[i];
        /* Counted before decoding so that cleanup clears a half-filled one. */
        list->count++;
        nox__sandbox_clear(sb);
        const jpath *p_item = JIDX(p_list, i);
        json_t *item = json_array_get(arr, i);
        if (!json_is_object(item))
            r = type_error(&d, p_item, "an object", item);
        else
            r = sandbox_from_json(&d, p_item, item, NULL, sb);
        if (r < 0) {
            nox_sandbox_list_free(list);
            return r;
        }
    }
    /* The list is documented as sorted by id, whatever order a backend
     * sent it in. */
    if (list->count > 1)
        qsort(list->items, list->count, sizeof *list->items, compare_sandboxes);
    *ret_list = list;
    return 0;
}

/* ======================================================================== */
/* Errors                                                                   */
/* ======================================================================== */

int nox_wire_encode_error(const char *message, char **ret_json, size_t *ret_len)
{
    if (!ret_json)
        return NOX_E_INVALID;
    _cleanup_json_ json_t *o = json_object();
    if (!o)
        return NOX_E_NOMEM;
    bool failed = false;
    put(o, "error", json_cstr(message), &failed);
    if (failed)
        return NOX_E_NOMEM;
    return dump(o, ret_json, ret_len, NULL);
}

/* Text meant for a person: UTF-8, NULs replaced (the result is a C
 * string), white space trimmed, at most ERROR_MESSAGE_MAX bytes (cut at a
 * character boundary, "…" appended). */
static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

static char *person_text(const char *s, size_t n)
{
    while (n && is_space(s[0])) {
        s++;
        n--;
    }
    while (n && is_space(s[n - 1]))
        n--;
    /* Sanitising at most four times the cap keeps work bounded for huge
     * bodies and still yields at least the cap's worth of text. */
    size_t len;
    char *t = utf8_sanitized_copy(s, NOX_MIN(n, (size_t)ERROR_MESSAGE_MAX * 4), true, &len);
    if (!t)
        return NULL;
    if (len <= ERROR_MESSAGE_MAX && n <= (size_t)ERROR_MESSAGE_MAX * 4)
        return t;
    size_t cut = NOX_MIN(len, (size_t)ERROR_MESSAGE_MAX);
    while (cut > 0 && is_cont((unsigned char)t[cut]))
        cut--;
    static const char ellipsis[] = "…";
    char *out = malloc(cut + sizeof ellipsis);
    if (out) {
        memcpy(out, t, cut);
        memcpy(out + cut, ellipsis, sizeof ellipsis);
    }
    free(t);
    return out;
}

static char *json_value_text(const json_t *v)
{
    if (json_is_string(v))
        return person_text(json_string_value(v), json_string_length(v));
    /* FastAPI's validation errors are {"detail": [ ... ]}: show them. */
    _cleanup_buf_ nox_buf b = NOX_BUF_INIT;
    if (json_dump_callback(v, dump_cb, &b, JSON_COMPACT | JSON_ENCODE_ANY) < 0)
        return NULL;
    return person_text(b.data ? b.data : "", b.len);
}

char *nox_wire_error_message(const char *body, size_t len)
{
    if (!body || len == 0)
        return strdup("");
    skip_bom(&body, &len);
    json_error_t je;
    _cleanup_json_ json_t *j = json_loadb(body, len, JSON_ALLOW_NUL, &je);
    if (json_is_object(j)) {
        json_t *v = field(j, "error");
        /* {"error": {"message": "..."}}, as some gateways nest it. */
        if (json_is_object(v) && json_is_string(json_object_get(v, "message")))
            return json_value_text(json_object_get(v, "message"));
        if (json_is_string(v))
            return json_value_text(v);
        /* Not json_is_string(v = ...): the macro evaluates its argument
         * twice. */
        v = field(j, "message");
        if (json_is_string(v))
            return json_value_text(v);
        if ((v = field(j, "detail")))
            return json_value_text(v);
    }
    return person_text(body, len);
}

/* ======================================================================== */
/* Time                                                                     */
/* ======================================================================== */

/* Calendar arithmetic of the proleptic Gregorian calendar (H. Hinnant's
 * days_from_civil and civil_from_days), not timegm()/gmtime_r(): timegm()
 * reports overflow as -1, which is also a valid time (one second before the
 * epoch), and time_t is 32 bits on some ABIs this library builds for. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *ret_y, unsigned *ret_m, unsigned *ret_d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    unsigned m = mp < 10 ? mp + 3 : mp - 9;
    *ret_d = doy - (153 * mp + 2) / 5 + 1;
    *ret_m = m;
    *ret_y = (int64_t)yoe + era * 400 + (m <= 2);
}

static bool is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned days_in_month(int64_t y, unsigned m)
{
    static const unsigned char days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* The years ISO 8601's basic four-digit form can write. */
#define TIME_MIN (-62167219200LL) /* 0000-01-01T00:00:00Z */
#define TIME_MAX 253402300799LL   /* 9999-12-31T23:59:59Z */

int nox_wire_format_time(int64_t unix_seconds, char *buf, size_t size)
{
    if (!buf || size < 21 || unix_seconds < TIME_MIN || unix_seconds > TIME_MAX)
        return NOX_E_INVALID;
    int64_t days = unix_seconds / 86400, secs = unix_seconds % 86400;
    if (secs < 0) {
        secs += 86400;
        days--;
    }
    int64_t y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    int n = snprintf(buf, size, "%04d-%02u-%02uT%02u:%02u:%02uZ", (int)y, m, d,
                     (unsigned)(secs / 3600), (unsigned)(secs / 60 % 60), (unsigned)(secs % 60));
    return n == 20 ? 0 : NOX_E_INVALID;
}

/* Reads exactly @p n digits. */
static bool read_digits(const char **p, unsigned n, unsigned *ret)
{
    unsigned v = 0;
    for (unsigned i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (unsigned)(c - '0');
    }
    *p += n;
    *ret = v;
    return true;
}

static bool read_char(const char **p, const char *accepted)
{
    if (**p && strchr(accepted, **p)) {
        (*p)++;
        return true;
    }
    return false;
}

static int bad_time(nox_error *err, const char *text, const char *why)
{
    size_t n = strlen(text);
    return nox__error_set(err, NOX_E_INVALID,
                          "time `%.*s%s` %s; expected an ISO 8601 date-time such as "
                          "2026-01-02T12:34:56Z",
                          (int)NOX_MIN(n, (size_t)QUOTE_MAX), text, n > QUOTE_MAX ? "…" : "", why);
}

int nox_wire_parse_time(const char *text, int64_t *ret_unix, nox_error *err)
{
    if (!text)
        return nox__error_set(err, NOX_E_INVALID, "time is missing");
    const char *p = text;
    unsigned year, mon, day, hour, min, sec;
    if (!read_digits(&p, 4, &year) || !read_char(&p, "-") || !read_digits(&p, 2, &mon) ||
        !read_char(&p, "-") || !read_digits(&p, 2, &day) || !read_char(&p, "Tt ") ||
        !read_digits(&p, 2, &hour) || !read_char(&p, ":") || !read_digits(&p, 2, &min) ||
        !read_char(&p, ":") || !read_digits(&p, 2, &sec))
        return bad_time(err, text, "is not of the form YYYY-MM-DDTHH:MM:SS");
    /* Fractions of a second do not matter to an expiry; they are read and
     * dropped (rounding down, as every timestamp truncation does). */
    if (read_char(&p, ".,")) {
        if (*p < '0' || *p > '9')
            return bad_time(err, text, "has a decimal point without digits");
        while (*p >= '0' && *p <= '9')
            p++;
    }
    int64_t offset = 0;
    if (read_char(&p, "Zz")) {
        /* UTC */
    } else if (*p == '+' || *p == '-') {
        bool neg = *p++ == '-';
        unsigned oh, om = 0;
        if (!read_digits(&p, 2, &oh))
            return bad_time(err, text, "has an invalid UTC offset");
        if (*p) {
            read_char(&p, ":");
            if (!read_digits(&p, 2, &om))
                return bad_time(err, text, "has an invalid UTC offset");
        }
        if (oh > 23 || om > 59)
            return bad_time(err, text, "has a UTC offset out of range");
        offset = (int64_t)(oh * 3600 + om * 60) * (neg ? -1 : 1);
    }
    /* No zone at all is taken as UTC: the contract says expiresAt is UTC,
     * and Python's datetime.utcnow().isoformat() writes no zone. */
    if (*p)
        return bad_time(err, text, "has trailing characters");
    if (mon < 1 || mon > 12 || day < 1 || day > days_in_month(year, mon))
        return bad_time(err, text, "is not a valid date");
    if (hour > 23 || min > 59 || sec > 60)
        return bad_time(err, text, "is not a valid time of day");
    /* A leap second (:60) is the first second of the next minute, as
     * timegm() would normalise it. */
    int64_t t = days_from_civil(year, mon, day) * 86400 + hour * 3600 + min * 60 + sec;
    *ret_unix = t - offset;
    return 0;
}

int nox_wire_http_status(int code)
{
    switch (code) {
    case NOX_E_INVALID:
    case NOX_E_ARCHIVE:
        return 400;
    case NOX_E_NOT_FOUND:
        return 404;
    case NOX_E_LIMIT:
        return 413;
    case NOX_E_NOT_READY:
        return 503;
    case NOX_E_TIMEOUT:
        return 504;
    case NOX_E_UNSUPPORTED:
        return 501;
    case NOX_E_CONNECT:
    case NOX_E_PROTOCOL:
    case NOX_E_NETWORK:
        return 502;
    default:
        return 500;
    }
}
