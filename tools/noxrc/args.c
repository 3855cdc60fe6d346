/* SPDX-License-Identifier: MIT */
/* Option parsing. getopt_long cannot say "options may come before and after
 * the id, but the first word after the id starts the command", nor accept the
 * global options among every subcommand's own, so noxrc has its own small
 * parser: GNU-style long options (--name VALUE, --name=VALUE), short options
 * (-e VALUE, -eVALUE, bundles), "--" ending options, and messages that name
 * the subcommand and the option. */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "noxrc.h"

/* ---- global options ---- */

enum {
    G_BASE_URL = 1,
    G_LOCAL,
    G_TIMEOUT,
    G_VERBOSE,
    G_JSON,
    G_STATE_DIR,
    G_UNISOLATED,
    G_CA_FILE,
};

static const noxrc_option global_options[] = {
    { "base-url", 0, true, G_BASE_URL },
    { "ca-file", 0, true, G_CA_FILE }, /* http backend only */
    { "local", 0, false, G_LOCAL },
    { "local-test", 0, false, G_LOCAL },
    { "timeout", 0, true, G_TIMEOUT },
    { "verbose", 'v', false, G_VERBOSE },
    { "json", 0, false, G_JSON },
    { "state-dir", 0, true, G_STATE_DIR },
    { "unisolated", 0, false, G_UNISOLATED },
    { NULL, 0, false, 0 },
};

static const noxrc_option *find_option(const noxrc_option *table, const char *name, size_t name_len,
                                       char short_name)
{
    for (const noxrc_option *o = table; o && o->name; o++) {
        if (short_name) {
            if (o->short_name == short_name)
                return o;
        } else if (name && strlen(o->name) == name_len && strncmp(o->name, name, name_len) == 0) {
            return o;
        }
    }
    return NULL;
}

static int apply_global(noxrc_ctx *ctx, const noxrc_option *o, const char *value)
{
    /* The parser hands a value to every option that takes one; the others
     * ignore it. */
    if (!value)
        value = "";
    switch (o->key) {
    case G_BASE_URL:
        if (!*value)
            return noxrc_usage(ctx, "--base-url needs a URL such as %s", NOXRC_DEFAULT_BASE_URL),
                   NOXRC_OPT_ERROR;
        ctx->base_url = value;
        ctx->base_url_given = true;
        break;
    case G_LOCAL:
        ctx->local = true;
        break;
    case G_TIMEOUT:
        if (!noxrc_parse_seconds_ms(value, &ctx->timeout_ms))
            return noxrc_usage(ctx, "--timeout needs a positive number of seconds, not `%s`",
                               value),
                   NOXRC_OPT_ERROR;
        break;
    case G_VERBOSE:
        ctx->verbose = true;
        break;
    case G_JSON:
        ctx->json = true;
        break;
    case G_STATE_DIR:
        if (!*value)
            return noxrc_usage(ctx, "--state-dir needs a directory"), NOXRC_OPT_ERROR;
        ctx->state_dir = value;
        break;
    case G_UNISOLATED:
        ctx->unisolated = true;
        break;
    case G_CA_FILE:
        if (!*value)
            return noxrc_usage(ctx, "--ca-file needs a file of CA certificates (PEM)"),
                   NOXRC_OPT_ERROR;
        ctx->ca_file = value;
        ctx->ca_file_given = true;
        break;
    }
    return 1;
}

int noxrc_global_option(noxrc_ctx *ctx, const char *name, char short_name, const char *value,
                        bool *ret_needs_arg)
{
    *ret_needs_arg = false;
    const noxrc_option *o = find_option(global_options, name, name ? strlen(name) : 0, short_name);
    if (!o)
        return 0;
    if (!o->has_arg && value)
        return noxrc_usage(ctx, "option `--%s` takes no value", o->name), NOXRC_OPT_ERROR;
    if (o->has_arg && !value) {
        *ret_needs_arg = true;
        return 1;
    }
    return apply_global(ctx, o, value);
}

/* ---- the parser ---- */

int noxrc_parser_init(noxrc_parser *p, noxrc_ctx *ctx, int argc, char **argv,
                      const noxrc_option *options, size_t stop_after)
{
    memset(p, 0, sizeof *p);
    p->ctx = ctx;
    p->argc = argc;
    p->argv = argv;
    p->index = 1;
    p->options = options;
    p->stop_after = stop_after;
    p->positional = calloc((size_t)(argc > 0 ? argc : 1), sizeof *p->positional);
    if (!p->positional) {
        noxrc_failf(ctx, NOX_E_NOMEM, "out of memory");
        return NOXRC_OPT_ERROR;
    }
    return 0;
}

void noxrc_parser_free(noxrc_parser *p)
{
    free(p->positional);
    p->positional = NULL;
}

static void take_rest(noxrc_parser *p)
{
    while (p->index < p->argc)
        p->positional[p->n_positional++] = p->argv[p->index++];
}

/* An option was found; fetch its value when it takes one. @p inline_value is
 * the part after '=' (long) or the rest of a short bundle. */
static int with_value(noxrc_parser *p, const noxrc_option *o, bool global, const char *written,
                      const char *inline_value)
{
    p->value = NULL;
    if (o->has_arg) {
        if (inline_value) {
            p->value = inline_value;
        } else if (p->index < p->argc) {
            p->value = p->argv[p->index++];
        } else {
            return noxrc_usage(p->ctx, "option `%s` needs a value", written), NOXRC_OPT_ERROR;
        }
    } else if (inline_value) {
        return noxrc_usage(p->ctx, "option `%s` takes no value", written), NOXRC_OPT_ERROR;
    }
    if (global) {
        int r = apply_global(p->ctx, o, p->value);
        return r < 0 ? r : 0;
    }
    return o->key;
}

int noxrc_parse_next(noxrc_parser *p)
{
    static char written[64];
    for (;;) {
        /* Inside a bundle of short options ("-vh", "-eK=V"). */
        if (p->bundle && *p->bundle) {
            char c = *p->bundle++;
            snprintf(written, sizeof written, "-%c", c);
            p->option = written;
            if (c == 'h')
                return NOXRC_OPT_HELP;
            bool global = false;
            const noxrc_option *o = find_option(p->options, NULL, 0, c);
            if (!o) {
                o = find_option(global_options, NULL, 0, c);
                global = o != NULL;
            }
            if (!o)
                return noxrc_usage(p->ctx, "unknown option `-%c`", c), NOXRC_OPT_ERROR;
            const char *inline_value = NULL;
            if (o->has_arg && *p->bundle) {
                inline_value = p->bundle;
                p->bundle = NULL;
            }
            int r = with_value(p, o, global, written, inline_value);
            if (r != 0)
                return r;
            continue;
        }
        p->bundle = NULL;
        if (p->index >= p->argc)
            return NOXRC_OPT_END;
        const char *arg = p->argv[p->index];
        if (strcmp(arg, "--") == 0) {
            p->index++;
            take_rest(p);
            return NOXRC_OPT_END;
        }
        if (arg[0] != '-' || arg[1] == '\0') {
            /* A positional argument ("-" alone is one, meaning stdin/stdout). */
            if (p->stop_after && p->n_positional >= p->stop_after) {
                take_rest(p);
                return NOXRC_OPT_END;
            }
            p->positional[p->n_positional++] = p->argv[p->index++];
            continue;
        }
        p->index++;
        if (arg[1] != '-') {
            p->bundle = arg + 1;
            continue;
        }
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        size_t name_len = eq ? (size_t)(eq - name) : strlen(name);
        snprintf(written, sizeof written, "--%.*s", (int)(name_len < 60 ? name_len : 60), name);
        p->option = written;
        if (name_len == 4 && strncmp(name, "help", 4) == 0)
            return NOXRC_OPT_HELP;
        bool global = false;
        const noxrc_option *o = find_option(p->options, name, name_len, 0);
        if (!o) {
            o = find_option(global_options, name, name_len, 0);
            global = o != NULL;
        }
        if (!o)
            return noxrc_usage(p->ctx, "unknown option `%s`", written), NOXRC_OPT_ERROR;
        int r = with_value(p, o, global, written, eq ? eq + 1 : NULL);
        if (r != 0)
            return r;
    }
}

/* ---- values ---- */

bool noxrc_parse_positive(const char *text, long max, long *ret)
{
    if (!text || *text < '0' || *text > '9')
        return false;
    errno = 0;
    char *end;
    long v = strtol(text, &end, 10);
    if (errno || *end || v <= 0 || v > max)
        return false;
    *ret = v;
    return true;
}

bool noxrc_parse_seconds_ms(const char *text, long *ret_ms)
{
    /* By hand rather than strtod: no locale decimal comma, no "inf", no hex. */
    if (!text || !*text)
        return false;
    const char *s = text;
    uint64_t whole = 0;
    size_t digits = 0;
    for (; *s >= '0' && *s <= '9'; s++, digits++) {
        whole = whole * 10 + (uint64_t)(*s - '0');
        if (whole > 100000000)
            return false;
    }
    uint64_t frac_ms = 0;
    uint64_t scale = 100;
    bool rest = false;
    if (*s == '.') {
        s++;
        for (; *s >= '0' && *s <= '9'; s++, digits++) {
            if (scale)
                frac_ms += (uint64_t)(*s - '0') * scale;
            else if (*s != '0')
                rest = true;
            scale /= 10;
        }
    }
    if (*s || !digits)
        return false;
    uint64_t ms = whole * 1000 + frac_ms + (rest ? 1 : 0);
    if (ms == 0 || ms > (uint64_t)LONG_MAX)
        return false;
    *ret_ms = (long)ms;
    return true;
}

bool noxrc_check_id(noxrc_ctx *ctx, const char *id)
{
    nox_error *err = nox_error_new();
    if (nox_session_id_valid(id, err)) {
        nox_error_free(err);
        return true;
    }
    const char *msg = err ? nox_error_message(err) : "invalid session id";
    noxrc_usage_hint(ctx,
                     "A session id is 1 to 128 letters, digits, '-', '_' or '.', and does not "
                     "start with '.'.",
                     "%s", msg);
    nox_error_free(err);
    return false;
}

int noxrc_parse_special(noxrc_ctx *ctx, int key)
{
    if (key == NOXRC_OPT_HELP) {
        noxrc_print_command_help(ctx->cmd);
        return NOXRC_EXIT_OK;
    }
    if (key == NOXRC_OPT_ERROR)
        return NOXRC_EXIT_USAGE;
    return -1;
}

int noxrc_expect_args(noxrc_ctx *ctx, const noxrc_parser *p, size_t min, size_t max,
                      const char *const *names)
{
    if (p->n_positional < min) {
        const char *missing = "an argument";
        for (size_t i = 0; names && names[i]; i++)
            if (i == p->n_positional) {
                missing = names[i];
                break;
            }
        return noxrc_usage(ctx, "missing %s", missing);
    }
    if (p->n_positional > max)
        return noxrc_usage(ctx, "unexpected argument `%s`", p->positional[max]);
    return 0;
}
