/* SPDX-License-Identifier: MIT */
/* noxrc internals: the context every subcommand receives, the command
 * table, the option parser and the output helpers. The CLI talks to
 * libnoxrunner only through its public headers, as curl's tool does. */
#ifndef NOXRC_H
#define NOXRC_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <noxrunner/noxrunner.h>

#define NOXRC_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define NOXRC_NORETURN     __attribute__((noreturn))

/* Exit codes. exec passes the command's own exit code through instead. */
#define NOXRC_EXIT_OK          0
#define NOXRC_EXIT_FAILURE     1
#define NOXRC_EXIT_USAGE       2
#define NOXRC_EXIT_INTERRUPTED 130

#define NOXRC_DEFAULT_BASE_URL "http://127.0.0.1:8080"

/* ---- cleanup attributes, as in the library (systemd/crun style) ---- */
static inline void noxrc_freep(void *p)
{
    free(*(void **)p);
}
static inline void noxrc_closep(const int *fd)
{
    if (*fd >= 0)
        close(*fd);
}
static inline void noxrc_client_freep(nox_client **c)
{
    nox_client_free(*c);
}
static inline void noxrc_error_freep(nox_error **e)
{
    nox_error_free(*e);
}
#define _cleanup_free_   __attribute__((cleanup(noxrc_freep)))
#define _cleanup_close_  __attribute__((cleanup(noxrc_closep)))
#define _cleanup_client_ __attribute__((cleanup(noxrc_client_freep)))
#define _cleanup_error_  __attribute__((cleanup(noxrc_error_freep)))

/* ---- context ---- */

/** What the global options chose; every subcommand receives it. */
typedef struct noxrc_ctx {
    const char *base_url;            /* --base-url, else $NOXRUNNER_BASE_URL, else the default */
    bool base_url_given;             /* --base-url was on the command line */
    const char *ca_file;             /* --ca-file, else $NOXRUNNER_CA_FILE, else NULL */
    bool ca_file_given;              /* --ca-file was on the command line */
    bool local;                      /* --local / --local-test */
    const char *state_dir;           /* --state-dir (local) */
    bool unisolated;                 /* --unisolated (local) */
    long timeout_ms;                 /* --timeout, in milliseconds */
    bool verbose;                    /* --verbose */
    bool json;                       /* --json: one JSON document on stdout */
    const struct noxrc_command *cmd; /* the subcommand running, NULL before dispatch */
} noxrc_ctx;

/* ---- the command table ---- */

typedef int (*noxrc_run_fn)(noxrc_ctx *ctx, int argc, char **argv);

typedef struct noxrc_command {
    const char *name;
    noxrc_run_fn run;
    /** Arguments after the name in the usage line ("ID [OPTIONS]"). */
    const char *usage;
    /** One line for `noxrc --help`. */
    const char *summary;
    /** The rest of `noxrc CMD --help`: description and options. */
    const char *help;
} noxrc_command;

/* One per file (cmd_*.c), each with its options and help. */
extern const noxrc_command noxrc_command_health;
extern const noxrc_command noxrc_command_create;
extern const noxrc_command noxrc_command_exec;
extern const noxrc_command noxrc_command_shell;
extern const noxrc_command noxrc_command_upload;
extern const noxrc_command noxrc_command_download;
extern const noxrc_command noxrc_command_touch;
extern const noxrc_command noxrc_command_delete;
extern const noxrc_command noxrc_command_list;
extern const noxrc_command noxrc_command_info;
extern const noxrc_command noxrc_command_check;

/** Prints the help of @p cmd to stdout. */
void noxrc_print_command_help(const noxrc_command *cmd);

/* ---- options (args.c) ---- */

/** One option a subcommand accepts. Tables end with a NULL name. */
typedef struct noxrc_option {
    const char *name; /* long name, without "--" */
    char short_name;  /* 0 when none */
    bool has_arg;
    int key; /* what noxrc_parse_next() returns for it; > 0 */
} noxrc_option;

/** Keys every parser can return besides the command's own. */
#define NOXRC_OPT_END   0    /* no more options */
#define NOXRC_OPT_ERROR (-1) /* a usage error, already reported */
#define NOXRC_OPT_HELP  (-2) /* --help / -h */

typedef struct noxrc_parser {
    noxrc_ctx *ctx;
    int argc;
    char **argv;
    int index;
    const noxrc_option *options;
    /** Once this many positional arguments are taken, the next positional
     *  argument ends option parsing: it and everything after it are
     *  positional (exec: the command after the id). 0: never. */
    size_t stop_after;
    /** The positional arguments, in order (an array owned by the parser). */
    char **positional;
    size_t n_positional;
    /** The value of the option just returned (NULL for flags). */
    const char *value;
    /** The option just returned, as written ("--ttl", "-e"). */
    const char *option;
    /* Short options bundled in one argument ("-vh"): where we are in it. */
    const char *bundle;
} noxrc_parser;

/** Sets @p p up for argv[1..argc) of subcommand ctx->cmd. Global options
 *  are accepted among the command's own and applied to @p ctx. Returns 0 or
 *  NOXRC_OPT_ERROR (out of memory, reported). */
int noxrc_parser_init(noxrc_parser *p, noxrc_ctx *ctx, int argc, char **argv,
                      const noxrc_option *options, size_t stop_after);
void noxrc_parser_free(noxrc_parser *p);
#define _cleanup_parser_ __attribute__((cleanup(noxrc_parser_free)))
/** The key of the next option of the command, NOXRC_OPT_END when none are
 *  left, NOXRC_OPT_HELP, or NOXRC_OPT_ERROR after reporting a usage error. */
int noxrc_parse_next(noxrc_parser *p);

/** What a subcommand's option loop does with the parser's special keys:
 *  returns -1 to go on, or the exit code to return (0 after --help). */
int noxrc_parse_special(noxrc_ctx *ctx, int key);
/** Checks the number of positional arguments: at least @p min (the first
 *  missing one is named by @p names, a NULL-terminated list), at most @p max
 *  (SIZE_MAX: no limit). Returns 0 or NOXRC_EXIT_USAGE (reported). */
int noxrc_expect_args(noxrc_ctx *ctx, const noxrc_parser *p, size_t min, size_t max,
                      const char *const *names);

/** Handles one global option written as @p name (long, without "--") or
 *  @p short_name, with @p value when it takes one. Returns 1 when it was a
 *  global option, 0 when not, NOXRC_OPT_ERROR after reporting. Sets
 *  *ret_needs_arg when the option exists, takes a value and @p value is
 *  NULL (the caller then fetches it and calls again). */
int noxrc_global_option(noxrc_ctx *ctx, const char *name, char short_name, const char *value,
                        bool *ret_needs_arg);

/** Parses a positive number of seconds (decimals allowed) into
 *  milliseconds; false when @p text is not one. */
bool noxrc_parse_seconds_ms(const char *text, long *ret_ms);
/** Parses a positive whole number no larger than @p max. */
bool noxrc_parse_positive(const char *text, long max, long *ret);

/** Checks a session id; reports a usage error naming the allowed
 *  characters when it is not valid. */
bool noxrc_check_id(noxrc_ctx *ctx, const char *id);

/* ---- client (main.c) ---- */

/** The client options the global options describe (local or http). */
void noxrc_client_options(const noxrc_ctx *ctx, nox_client_options *opts);
/** Opens a client as the global options describe, reporting failures.
 *  Returns 0 or an exit code. */
int noxrc_open_client(noxrc_ctx *ctx, nox_client **ret_client);

/** The start of every command that takes just a sandbox ID and no options
 *  of its own (delete, touch, info): parses the arguments, checks the id
 *  and opens the client. Returns -1 with *@p ret_id and *@p ret_client set
 *  when the command goes on, else the exit code to return now (0 after
 *  --help). */
int noxrc_open_for_id(noxrc_ctx *ctx, int argc, char **argv, const char **ret_id,
                      nox_client **ret_client);

/* ---- output (output.c) ---- */

typedef enum noxrc_stream {
    NOXRC_STDOUT = 0,
    NOXRC_STDERR = 1,
} noxrc_stream;

/** Decides, per stream, whether it is a terminal and whether to colour it
 *  (terminal, NO_COLOR unset or empty, TERM not "dumb"). */
void noxrc_output_init(void);
bool noxrc_is_tty(noxrc_stream s);
bool noxrc_use_color(noxrc_stream s);

/* Colour sequences for a stream ("" when it is not coloured). */
const char *noxrc_c_bold(noxrc_stream s);
const char *noxrc_c_dim(noxrc_stream s);
const char *noxrc_c_red(noxrc_stream s);
const char *noxrc_c_green(noxrc_stream s);
const char *noxrc_c_yellow(noxrc_stream s);
const char *noxrc_c_reset(noxrc_stream s);

/** "✓ ..." in green on stdout; suppressed with --json. */
void noxrc_success(const noxrc_ctx *ctx, const char *fmt, ...) NOXRC_PRINTF(2, 3);
/** "ℹ ..." in blue on stderr; suppressed with --json. */
void noxrc_info(const noxrc_ctx *ctx, const char *fmt, ...) NOXRC_PRINTF(2, 3);
/** "⚠ ..." in yellow on stderr (also with --json: stdout stays clean). */
void noxrc_warn(const char *fmt, ...) NOXRC_PRINTF(1, 2);
/** "✗ ..." in red on stderr, without a JSON document. */
void noxrc_error_line(const char *fmt, ...) NOXRC_PRINTF(1, 2);
/** An indented hint under an error, on stderr. */
void noxrc_hint(const char *fmt, ...) NOXRC_PRINTF(1, 2);
/** --verbose detail on stderr. */
void noxrc_verbose(const noxrc_ctx *ctx, const char *fmt, ...) NOXRC_PRINTF(2, 3);

/** The stable name of a nox_code for --json ("not_found"). */
const char *noxrc_code_name(int code);

/**
 * Reports a failure of the library: the message on stderr with a hint on
 * what to do, and with --json the document {"error","code","status"} on
 * stdout. @p code, @p status and @p message are the nox_error's fields (they
 * come separately so that the shell can report errors of its workers).
 * Returns NOXRC_EXIT_FAILURE.
 */
int noxrc_report(const noxrc_ctx *ctx, int code, int status, const char *message, const char *body);
/** noxrc_report() for a nox_error. */
int noxrc_fail(const noxrc_ctx *ctx, const nox_error *err);
/** Reports an error the CLI found itself (a missing file), code "io" or
 *  similar, HTTP status 0. Returns NOXRC_EXIT_FAILURE. */
int noxrc_failf(const noxrc_ctx *ctx, int code, const char *fmt, ...) NOXRC_PRINTF(3, 4);
/** Reports a usage error ("unknown option") with a pointer to --help, or
 *  {"error", "code":"usage", "status":0} with --json. Returns
 *  NOXRC_EXIT_USAGE. */
int noxrc_usage(const noxrc_ctx *ctx, const char *fmt, ...) NOXRC_PRINTF(2, 3);
/** noxrc_usage() with a hint printed under the message. */
int noxrc_usage_hint(const noxrc_ctx *ctx, const char *hint, const char *fmt, ...)
    NOXRC_PRINTF(3, 4);
/** Prints @p hint under an error when one fits @p code and @p message. */
void noxrc_print_hint(const noxrc_ctx *ctx, int code, const char *message);

/** Writes @p len raw bytes to @p f (NUL bytes included). false on error. */
bool noxrc_write_raw(FILE *f, const void *data, size_t len);

/** Formats a byte count ("1.5 MiB") into @p buf. */
const char *noxrc_format_bytes(uint64_t bytes, char *buf, size_t size);

/* Progress of uploads and downloads: one updating line on stderr when it
 * is a terminal, nothing otherwise or with --json. */
typedef struct noxrc_progress {
    const char *verb; /* "Uploading", "Downloading" */
    int64_t start_ns;
    int64_t last_ns;
    uint64_t done;
    bool shown;
} noxrc_progress;
/** Installs the progress line on @p client when it would be shown. */
void noxrc_progress_start(const noxrc_ctx *ctx, nox_client *client, noxrc_progress *p,
                          const char *verb);
/** Clears the line and removes the callback. */
void noxrc_progress_end(nox_client *client, noxrc_progress *p);

int64_t noxrc_now_ns(void);

/** Says when @p expires_unix is from now: "in 14m", "expired". */
void noxrc_describe_expiry(int64_t expires_unix, char *buf, size_t size);

/* ---- JSON (output.c) ---- */

/** A growable JSON text. Writers keep track of commas; on out of memory
 *  the text is marked failed and the final emit reports it. */
typedef struct noxrc_json {
    char *data;
    size_t len;
    size_t cap;
    bool failed;
    bool after_key;
    int depth;
    bool need_comma[32];
} noxrc_json;

void noxrc_json_begin_object(noxrc_json *j);
void noxrc_json_end_object(noxrc_json *j);
void noxrc_json_begin_array(noxrc_json *j);
void noxrc_json_end_array(noxrc_json *j);
void noxrc_json_key(noxrc_json *j, const char *key);
/** A string value; bytes that are not UTF-8 become U+FFFD. NULL is null. */
void noxrc_json_string(noxrc_json *j, const char *s);
void noxrc_json_string_len(noxrc_json *j, const char *s, size_t len);
void noxrc_json_int(noxrc_json *j, int64_t v);
void noxrc_json_uint(noxrc_json *j, uint64_t v);
void noxrc_json_bool(noxrc_json *j, bool v);
void noxrc_json_null(noxrc_json *j);
/** A value that is already JSON text (from a nox_wire encoder). */
void noxrc_json_raw(noxrc_json *j, const char *text, size_t len);
/** Writes the document and a newline to stdout and frees it. Returns 0 or
 *  NOXRC_EXIT_FAILURE (reported). */
int noxrc_json_emit(noxrc_json *j);
void noxrc_json_free(noxrc_json *j);
/** Prints JSON text from a nox_wire encoder as the document; frees it. */
int noxrc_json_emit_text(char *text, size_t len);

/* ---- shared by exec and shell (cmd_exec.c) ---- */

/** The exit status noxrc can pass on for a command's @p exit_code. */
int noxrc_exit_status(int exit_code);
/** True when @p entry is KEY=VALUE; warns (and the caller skips it) when not. */
bool noxrc_env_entry_ok(const char *entry);

/* ---- SIGINT: exit 130 from wherever we are ---- */

/** Installs a SIGINT handler that removes @p partial_path (when set, see
 *  noxrc_set_partial_file) and exits with 130. Closing the process closes
 *  the connection of the request in flight; the local backend then kills
 *  the command's process tree. */
void noxrc_exit_on_sigint(void);
/** A file to remove when interrupted (a download being written); NULL to
 *  forget it. The string must outlive the registration. */
void noxrc_set_partial_file(const char *path);

#endif
