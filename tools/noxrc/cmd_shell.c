/* SPDX-License-Identifier: MIT */
/* noxrc shell ID: an interactive loop over a sandbox. Lines run through
 * `sh -c` in a working directory tracked here (each exec is a fresh process
 * in the sandbox, so `cd` cannot live there); built-ins handle cd, pwd,
 * touch, help and exit. With a terminal: line editing and history (libedit).
 * Without one: commands are read line by line, for scripts.
 *
 * Ctrl-C must stop the line that is running, not the shell: the signal
 * handler calls nox_client_cancel() (async-signal-safe) on the shell's one
 * client, the call in flight returns NOX_E_CANCELLED, and the backend kills
 * the command's process tree (the local backend at once; a server when its
 * connection closes). */
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <editline/readline.h>

#include <noxrunner/wire.h>

#include "noxrc.h"

enum {
    OPT_WORKDIR = 1,
    OPT_TIMEOUT_SECONDS,
};

static const noxrc_option options[] = {
    { "workdir", 'w', true, OPT_WORKDIR },
    { "timeout-seconds", 0, true, OPT_TIMEOUT_SECONDS },
    { NULL, 0, false, 0 },
};

#define HISTORY_LINES 1000

typedef struct shell {
    noxrc_ctx *ctx;
    noxrc_ctx quiet; /* ctx without --json, for messages about one line */
    const char *id;
    char *cwd;
    char *oldpwd;
    long timeout_seconds;
    bool interactive; /* line editing, prompt, history */
    int status;       /* of the last line */
    char *history;
    noxrc_json json; /* --json: the document being built */
    nox_client *client;
} shell;

/* ---- signals ---- */

static volatile sig_atomic_t got_signal;
static volatile sig_atomic_t got_winch;
/* The self-pipe trick: a signal that lands between our look at got_signal
 * and a blocking read would otherwise go unnoticed until the read ends. */
static int sig_pipe[2] = { -1, -1 };
/* The client whose call a signal cancels. */
static nox_client *volatile signal_client;

static void on_signal(int sig)
{
    int saved = errno;
    got_signal = sig;
    if (signal_client)
        nox_client_cancel(signal_client);
    if (sig_pipe[1] >= 0) {
        ssize_t w = write(sig_pipe[1], "", 1);
        (void)w;
    }
    errno = saved;
}

/* libedit's own handlers are off (see run()), so it learns of a resized
 * terminal from us. */
static void on_winch(int sig)
{
    (void)sig;
    got_winch = 1;
}

/* No SA_RESTART: a blocking call returns EINTR, and we look. */
static void install_handlers(void)
{
    if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
        sig_pipe[0] = sig_pipe[1] = -1; /* the flag alone still works, mostly */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
}

static void forget_signals(void)
{
    char buf[64];
    while (sig_pipe[0] >= 0 && read(sig_pipe[0], buf, sizeof buf) > 0)
        ;
    got_signal = 0;
}

static void close_signal_pipe(void)
{
    for (int i = 0; i < 2; i++)
        if (sig_pipe[i] >= 0) {
            close(sig_pipe[i]);
            sig_pipe[i] = -1;
        }
}

/* Waits until @p fd can be read: 1, or -2 when a signal came first, -3
 * when the terminal was resized (with @p winch), -1 on error. */
static int wait_readable(int fd, bool winch)
{
    for (;;) {
        if (got_signal)
            return -2;
        if (winch && got_winch)
            return -3;
        struct pollfd p[2] = { { fd, POLLIN, 0 }, { sig_pipe[0], POLLIN, 0 } };
        int n = poll(p, 2, -1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (p[1].revents & POLLIN)
            return -2;
        if (p[0].revents)
            return 1;
    }
}

/* ---- paths in the sandbox ---- */

/* Joins @p base and @p path (absolute or relative) and resolves "." and
 * "..", as the shell's logical `cd` does. */
static char *resolve_path(const char *base, const char *path)
{
    size_t n = strlen(base) + strlen(path) + 3;
    _cleanup_free_ char *joined = malloc(n);
    char *out = malloc(n);
    if (!joined || !out) {
        free(out);
        return NULL;
    }
    if (path[0] == '/')
        snprintf(joined, n, "%s", path);
    else
        snprintf(joined, n, "%s/%s", base, path);
    size_t len = 0;
    const char *p = joined;
    while (*p) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        const char *end = strchr(p, '/');
        size_t seg = end ? (size_t)(end - p) : strlen(p);
        if (seg == 1 && p[0] == '.') {
            /* nothing */
        } else if (seg == 2 && p[0] == '.' && p[1] == '.') {
            while (len > 0 && out[len - 1] != '/')
                len--;
            if (len > 0)
                len--;
        } else {
            out[len++] = '/';
            memcpy(out + len, p, seg);
            len += seg;
        }
        p += seg;
    }
    if (len == 0)
        out[len++] = '/';
    out[len] = '\0';
    return out;
}

/* ---- remote calls ---- */

typedef enum op_kind {
    OP_LINE,     /* sh -c LINE in the tracked directory */
    OP_TEST_DIR, /* is this a directory? */
    OP_TOUCH,
} op_kind;

typedef struct call_header {
    int32_t rc;
    int32_t http_status;
    int32_t exit_code;
    int32_t term_signal;
    int64_t duration_ms;
    bool timed_out, stdout_truncated, stderr_truncated;
} call_header;

typedef struct remote_result {
    call_header h;
    char *msg;
    char *out;
    size_t out_len;
    char *err;
    size_t err_len;
    bool interrupted; /* Ctrl-C (or a signal) abandoned the call */
} remote_result;

static void remote_result_clear(remote_result *r)
{
    free(r->msg);
    free(r->out);
    free(r->err);
    memset(r, 0, sizeof *r);
}

/* Runs @p op on the shell's client. Returns 0 with @p res filled
 * (res->h.rc says whether the call itself failed, res->interrupted
 * whether a signal cancelled it), or -1 when out of memory (reported). */
static int run_remote(shell *sh, op_kind op, const char *arg, remote_result *res)
{
    memset(res, 0, sizeof *res);
    if (got_signal) {
        res->interrupted = true;
        return 0;
    }
    _cleanup_error_ nox_error *err = nox_error_new();
    if (!err) {
        noxrc_failf(&sh->quiet, NOX_E_NOMEM, "out of memory");
        return -1;
    }
    nox_exec_options eo;
    nox_exec_options_init(&eo);
    eo.timeout_seconds = sh->timeout_seconds;
    nox_exec_result *er = NULL;
    int r;
    switch (op) {
    case OP_LINE:
        eo.workdir = sh->cwd;
        r = nox_exec_shell(sh->client, sh->id, arg, "sh", &eo, &er, err);
        break;
    case OP_TEST_DIR: {
        const char *argv[] = { "sh", "-c", "test -d \"$1\"", "sh", arg, NULL };
        eo.workdir = "/";
        r = nox_exec(sh->client, sh->id, argv, &eo, &er, err);
        break;
    }
    case OP_TOUCH:
    default:
        r = nox_touch(sh->client, sh->id, err);
        break;
    }
    if (r == NOX_E_CANCELLED || (r < 0 && got_signal)) {
        res->interrupted = true;
        return 0;
    }
    if (r < 0) {
        res->h.rc = r;
        res->h.http_status = nox_error_http_status(err);
        res->msg = strdup(nox_error_message(err));
        return 0;
    }
    if (er) {
        res->h.exit_code = er->exit_code;
        res->h.term_signal = er->term_signal;
        res->h.duration_ms = er->duration_ms;
        res->h.timed_out = er->timed_out;
        res->h.stdout_truncated = er->stdout_truncated;
        res->h.stderr_truncated = er->stderr_truncated;
        res->out = er->stdout_data;
        res->out_len = er->stdout_len;
        res->err = er->stderr_data;
        res->err_len = er->stderr_len;
        er->stdout_data = er->stderr_data = NULL;
        nox_exec_result_free(er);
    }
    return 0;
}

/* ---- JSON records of --json ---- */

static void json_line_start(shell *sh, const char *line)
{
    noxrc_json_begin_object(&sh->json);
    noxrc_json_key(&sh->json, "line");
    noxrc_json_string(&sh->json, line);
    noxrc_json_key(&sh->json, "workdir");
    noxrc_json_string(&sh->json, sh->cwd);
}

static void json_line_end(shell *sh, int status)
{
    noxrc_json_key(&sh->json, "exitCode");
    noxrc_json_int(&sh->json, status);
    noxrc_json_end_object(&sh->json);
}

static void json_error(shell *sh, const remote_result *r)
{
    noxrc_json_key(&sh->json, "error");
    noxrc_json_begin_object(&sh->json);
    noxrc_json_key(&sh->json, "error");
    noxrc_json_string(&sh->json, r->msg ? r->msg : "");
    noxrc_json_key(&sh->json, "code");
    noxrc_json_string(&sh->json, noxrc_code_name(r->h.rc));
    noxrc_json_key(&sh->json, "status");
    noxrc_json_int(&sh->json, r->h.http_status);
    noxrc_json_end_object(&sh->json);
}

/* ---- built-ins ---- */

static void say_interrupted(const shell *sh)
{
    if (sh->ctx->json)
        return;
    fflush(stdout);
    if (noxrc_is_tty(NOXRC_STDERR))
        fputc('\n', stderr);
    noxrc_warn("interrupted");
}

/* A failed call: said on stderr (and recorded with --json). */
static void report_failure(shell *sh, const remote_result *r)
{
    noxrc_report(&sh->quiet, r->h.rc, r->h.http_status, r->msg ? r->msg : "", NULL);
    if (sh->ctx->json)
        json_error(sh, r);
}

static int builtin_help(shell *sh)
{
    if (sh->ctx->json)
        return 0;
    printf("Built-in commands:\n"
           "  cd [DIR]      Change the working directory (checked in the sandbox);\n"
           "                `cd` and `cd ~` go to /workspace, `cd -` to the previous one\n"
           "  pwd           Print the working directory\n"
           "  touch         Reset the sandbox's TTL clock (`touch FILE` is the command)\n"
           "  help          This help\n"
           "  exit [N], quit\n"
           "                Leave the shell (also Ctrl-D)\n"
           "Every other line runs as `sh -c LINE` in the working directory, with a time\n"
           "limit of %ld s. Ctrl-C stops the running line. Each line is a new process:\n"
           "variables and `cd` inside a line do not carry over to the next.\n",
           sh->timeout_seconds);
    return 0;
}

static int builtin_touch(shell *sh)
{
    remote_result r;
    if (run_remote(sh, OP_TOUCH, NULL, &r) < 0)
        return 1;
    int status = 0;
    if (r.interrupted) {
        say_interrupted(sh);
        status = NOXRC_EXIT_INTERRUPTED;
    } else if (r.h.rc < 0) {
        report_failure(sh, &r);
        status = 1;
    } else if (!sh->ctx->json) {
        noxrc_success(&sh->quiet, "Sandbox %s touched: its TTL starts again now", sh->id);
    }
    remote_result_clear(&r);
    return status;
}

/* Checks @p path is a directory in the sandbox; 0 yes, 1 no (said),
 * other values for failures (said). */
static int check_dir(shell *sh, const char *path)
{
    remote_result r;
    if (run_remote(sh, OP_TEST_DIR, path, &r) < 0)
        return 1;
    int status;
    if (r.interrupted) {
        say_interrupted(sh);
        status = NOXRC_EXIT_INTERRUPTED;
    } else if (r.h.rc < 0) {
        report_failure(sh, &r);
        status = 1;
    } else if (r.h.exit_code != 0) {
        noxrc_error_line("cd: %s: no such directory in sandbox %s", path, sh->id);
        status = 1;
    } else {
        status = 0;
    }
    remote_result_clear(&r);
    return status;
}

static int set_cwd(shell *sh, char *path)
{
    free(sh->oldpwd);
    sh->oldpwd = sh->cwd;
    sh->cwd = path;
    return 0;
}

static int builtin_cd(shell *sh, const char *arg)
{
    char *target;
    bool show = false;
    if (!*arg || strcmp(arg, "~") == 0) {
        target = strdup("/workspace");
    } else if (strncmp(arg, "~/", 2) == 0) {
        target = resolve_path("/workspace", arg + 2);
    } else if (strcmp(arg, "-") == 0) {
        if (!sh->oldpwd) {
            noxrc_error_line("cd: no previous directory");
            return 1;
        }
        target = strdup(sh->oldpwd);
        show = true;
    } else {
        target = resolve_path(sh->cwd, arg);
    }
    if (!target) {
        noxrc_error_line("out of memory");
        return 1;
    }
    int st = check_dir(sh, target);
    if (st != 0) {
        free(target);
        return st;
    }
    set_cwd(sh, target);
    if (show && !sh->ctx->json)
        printf("%s\n", sh->cwd);
    return 0;
}

/* `cd` alone or with one plain argument (quotes around it allowed) is the
 * built-in; anything else ("cd a && make") runs in a shell, where the
 * directory change lasts for that line only. Returns the argument in
 * @p buf, or NULL when the line is not a plain cd. */
static const char *plain_cd(const char *line, char *buf, size_t size)
{
    if (strncmp(line, "cd", 2) != 0 || (line[2] && line[2] != ' ' && line[2] != '\t'))
        return NULL;
    const char *a = line + 2;
    while (*a == ' ' || *a == '\t')
        a++;
    size_t n = strlen(a);
    while (n && (a[n - 1] == ' ' || a[n - 1] == '\t'))
        n--;
    if (n >= 2 && (a[0] == '\'' || a[0] == '"') && a[n - 1] == a[0]) {
        a++;
        n -= 2;
        if (memchr(a, a[-1],
                   n)) // NOLINT(bugprone-not-null-terminated-result): a search, not a copy
            return NULL;
        if (a[-1] == '"' && (memchr(a, '$', n) || memchr(a, '`', n) || memchr(a, '\\', n)))
            return NULL;
    } else {
        for (size_t i = 0; i < n; i++)
            if (strchr(" \t;&|<>()`$\\\"'*?[{", a[i]))
                return NULL;
    }
    if (n >= size)
        return NULL;
    memcpy(buf, a, n);
    buf[n] = '\0';
    return buf;
}

/* ---- running a line ---- */

static int run_line(shell *sh, const char *line)
{
    remote_result r;
    if (run_remote(sh, OP_LINE, line, &r) < 0)
        return 1;
    int status;
    if (r.interrupted) {
        say_interrupted(sh);
        status = NOXRC_EXIT_INTERRUPTED;
    } else if (r.h.rc < 0) {
        report_failure(sh, &r);
        status = 1;
    } else if (sh->ctx->json) {
        nox_exec_result res = {
            .exit_code = r.h.exit_code,
            .stdout_data = r.out,
            .stdout_len = (size_t)r.out_len,
            .stderr_data = r.err,
            .stderr_len = (size_t)r.err_len,
            .duration_ms = r.h.duration_ms,
            .stdout_truncated = r.h.stdout_truncated,
            .stderr_truncated = r.h.stderr_truncated,
            .timed_out = r.h.timed_out,
            .term_signal = r.h.term_signal,
        };
        status = noxrc_exit_status(r.h.exit_code);
        _cleanup_error_ nox_error *err = nox_error_new();
        char *text = NULL;
        size_t len = 0;
        if (err && nox_wire_encode_exec_result(&res, &text, &len, err) == 0) {
            noxrc_json_key(&sh->json, "result");
            noxrc_json_raw(&sh->json, text, len);
            nox_free(text);
        } else {
            noxrc_error_line("cannot encode the result as JSON: %s",
                             err ? nox_error_message(err) : "out of memory");
            status = 1;
        }
    } else {
        status = noxrc_exit_status(r.h.exit_code);
        bool ok = noxrc_write_raw(stdout, r.out, (size_t)r.out_len);
        /* Keep the prompt at the start of a line after `printf x`. */
        if (ok && sh->interactive && r.out_len && r.out[r.out_len - 1] != '\n' &&
            noxrc_is_tty(NOXRC_STDOUT))
            ok = noxrc_write_raw(stdout, "\n", 1);
        ok = noxrc_write_raw(stderr, r.err, (size_t)r.err_len) && ok;
        if (!ok)
            noxrc_error_line("cannot write the command's output: %s", strerror(errno));
        if (r.h.stdout_truncated || r.h.stderr_truncated)
            noxrc_warn("the output was cut at the backend's output limit");
        if (r.h.exit_code != 0)
            noxrc_warn("exit code %d%s", r.h.exit_code, r.h.timed_out ? " (timed out)" : "");
    }
    remote_result_clear(&r);
    return status;
}

/* ---- reading lines ---- */

/* libedit reads through this so that Ctrl-C at the prompt can end the line:
 * we hand libedit a newline, and the loop, seeing got_signal, throws the
 * line away. UTF-8 is decoded here because libedit takes what we return as
 * one character. */

static int read_byte(FILE *f)
{
    unsigned char c;
    for (;;) {
        int w = wait_readable(fileno(f), true);
        if (w == -2)
            return -2;
        if (w == -3) {
            got_winch = 0;
            rl_resize_terminal();
            continue;
        }
        if (w < 0)
            return EOF;
        ssize_t n = read(fileno(f), &c, 1);
        if (n == 1)
            return c;
        if (n == 0)
            return EOF;
        if (errno != EINTR)
            return EOF;
    }
}

static int shell_getc(FILE *f)
{
    int c = read_byte(f);
    if (c == -2)
        return '\n';
    if (c == EOF || c < 0xc0 || c > 0xf4)
        return c;
    int extra = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : 1;
    int cp = c & (0x3f >> extra);
    for (int i = 0; i < extra; i++) {
        int d = read_byte(f);
        if (d == -2)
            return '\n';
        if (d == EOF || (d & 0xc0) != 0x80)
            return 0xfffd;
        cp = (cp << 6) | (d & 0x3f);
    }
    return cp;
}

static char *history_path(void)
{
    const char *xdg = getenv("XDG_STATE_HOME");
    const char *home = getenv("HOME");
    if (!home || !*home) {
        struct passwd *pw = getpwuid(getuid());
        home = pw ? pw->pw_dir : NULL;
    }
    char dir[4096];
    if (xdg && xdg[0] == '/')
        snprintf(dir, sizeof dir, "%s/noxrunner", xdg);
    else if (home && *home)
        snprintf(dir, sizeof dir, "%s/.local/state/noxrunner", home);
    else
        return NULL;
    /* mkdir -p, private: the history holds whatever was typed. */
    for (char *s = dir + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
            return NULL;
        *s = '/';
    }
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return NULL;
    size_t n = strlen(dir) + sizeof "/history";
    char *path = malloc(n);
    if (!path)
        return NULL;
    snprintf(path, n, "%s/history", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        free(path);
        return NULL;
    }
    close(fd);
    return path;
}

/* The next line, without its newline; NULL at the end of input. */
static char *next_line(shell *sh, char **buf, size_t *cap)
{
    if (!sh->interactive) {
        ssize_t n = getline(buf, cap, stdin);
        if (n < 0)
            return NULL;
        while (n > 0 && ((*buf)[n - 1] == '\n' || (*buf)[n - 1] == '\r'))
            (*buf)[--n] = '\0';
        return strdup(*buf);
    }
    char prompt[4200];
    snprintf(prompt, sizeof prompt, "noxrunner:%s:%s$ ", sh->id, sh->cwd);
    return readline(prompt);
}

static const char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

/* ---- the loop ---- */

/* Runs one line; returns its status. *ret_exit is set by `exit`. */
static int one_line(shell *sh, const char *line, bool *ret_exit)
{
    char arg[4096];
    const char *cd;
    if (strcmp(line, "exit") == 0 || strcmp(line, "quit") == 0) {
        *ret_exit = true;
        return sh->status;
    }
    if (strncmp(line, "exit ", 5) == 0 || strncmp(line, "exit\t", 5) == 0) {
        const char *a = line + 5;
        while (*a == ' ' || *a == '\t')
            a++;
        int n = 0;
        const char *d = a;
        for (; *d >= '0' && *d <= '9' && n <= 255; d++)
            n = n * 10 + (*d - '0');
        if (d != a && !*d && n <= 255) {
            *ret_exit = true;
            return n;
        }
        noxrc_error_line("exit: `%s` is not an exit code (0-255)", a);
        return NOXRC_EXIT_USAGE;
    }
    if (strcmp(line, "help") == 0)
        return builtin_help(sh);
    if (strcmp(line, "pwd") == 0) {
        if (!sh->ctx->json) {
            printf("%s\n", sh->cwd);
            fflush(stdout);
        }
        return 0;
    }
    if (strcmp(line, "touch") == 0)
        return builtin_touch(sh);
    if ((cd = plain_cd(line, arg, sizeof arg)))
        return builtin_cd(sh, cd);
    if (strncmp(line, "cd", 2) == 0 && (line[2] == ' ' || line[2] == '\t') && sh->interactive)
        noxrc_info(&sh->quiet, "`cd` in a longer line lasts for that line only; a plain "
                               "`cd DIR` changes the directory");
    return run_line(sh, line);
}

static int loop(shell *sh)
{
    char *buf = NULL;
    size_t cap = 0;
    bool done = false;
    while (!done) {
        forget_signals();
        _cleanup_free_ char *raw = next_line(sh, &buf, &cap);
        int sig = got_signal;
        if (sig == SIGTERM || sig == SIGHUP) {
            sh->status = 128 + sig;
            break;
        }
        if (sig == SIGINT) {
            if (!sh->interactive) {
                sh->status = NOXRC_EXIT_INTERRUPTED;
                break;
            }
            /* Ctrl-C at the prompt drops the line, as shells do. */
            sh->status = NOXRC_EXIT_INTERRUPTED;
            continue;
        }
        if (!raw) {
            if (sh->interactive && !sh->ctx->json) {
                fputc('\n', stdout);
                fflush(stdout);
            }
            break;
        }
        const char *line = trim(raw);
        if (!*line || line[0] == '#')
            continue;
        if (sh->interactive) {
            add_history(line);
            if (sh->history)
                write_history(sh->history);
        }
        bool is_exit = false;
        if (sh->ctx->json)
            json_line_start(sh, line);
        int status = one_line(sh, line, &is_exit);
        if (sh->ctx->json)
            json_line_end(sh, status);
        sh->status = status;
        if (is_exit)
            done = true;
        sig = got_signal;
        if (sig == SIGTERM || sig == SIGHUP) {
            sh->status = 128 + sig;
            break;
        }
        if (sig == SIGINT && !sh->interactive) {
            sh->status = NOXRC_EXIT_INTERRUPTED;
            break;
        }
    }
    free(buf);
    return sh->status;
}

static int run(noxrc_ctx *ctx, int argc, char **argv)
{
    _cleanup_parser_ noxrc_parser p;
    if (noxrc_parser_init(&p, ctx, argc, argv, options, 0) < 0)
        return NOXRC_EXIT_FAILURE;
    const char *workdir = "/workspace";
    long timeout_seconds = 30;
    int rc, key;
    while ((key = noxrc_parse_next(&p)) != NOXRC_OPT_END) {
        if ((rc = noxrc_parse_special(ctx, key)) >= 0)
            return rc;
        switch (key) {
        case OPT_WORKDIR:
            if (!*p.value)
                return noxrc_usage(ctx, "--workdir needs a directory");
            workdir = p.value;
            break;
        case OPT_TIMEOUT_SECONDS:
            if (!noxrc_parse_positive(p.value, 0x7fffffffL, &timeout_seconds))
                return noxrc_usage(ctx, "--timeout-seconds needs a positive whole number, not `%s`",
                                   p.value);
            break;
        }
    }
    static const char *const names[] = { "the sandbox ID", NULL };
    if ((rc = noxrc_expect_args(ctx, &p, 1, 1, names)) != 0)
        return rc;
    const char *id = p.positional[0];
    if (!noxrc_check_id(ctx, id))
        return NOXRC_EXIT_USAGE;

    shell sh = { 0 };
    sh.ctx = ctx;
    sh.quiet = *ctx;
    sh.quiet.json = false;
    sh.id = id;
    sh.timeout_seconds = timeout_seconds;
    sh.interactive = isatty(STDIN_FILENO) == 1 && !ctx->json;
    sh.cwd = resolve_path("/workspace", workdir);
    if (!sh.cwd)
        return noxrc_failf(ctx, NOX_E_NOMEM, "out of memory");

    /* The first call checks that the backend is reachable, the sandbox
     * exists and the starting directory is one. It is an exec (the one
     * route every backend has) rather than a touch. */
    _cleanup_client_ nox_client *c = NULL;
    {
        if ((rc = noxrc_open_client(ctx, &c)) != 0) {
            free(sh.cwd);
            return rc;
        }
        _cleanup_error_ nox_error *err = nox_error_new();
        const char *probe[] = { "sh", "-c", "test -d \"$1\"", "sh", sh.cwd, NULL };
        nox_exec_options eo;
        nox_exec_options_init(&eo);
        eo.workdir = "/";
        nox_exec_result *res = NULL;
        if (!err || nox_exec(c, id, probe, &eo, &res, err) < 0) {
            rc = noxrc_fail(ctx, err);
            free(sh.cwd);
            return rc;
        }
        int code = res->exit_code;
        nox_exec_result_free(res);
        if (code != 0) {
            rc = noxrc_failf(ctx, NOX_E_INVALID,
                             "the working directory %s is not a directory in "
                             "sandbox %s",
                             sh.cwd, id);
            free(sh.cwd);
            return rc;
        }
    }
    sh.client = c;
    signal_client = c;
    install_handlers();

    if (sh.interactive) {
        /* libedit must not install signal handlers of its own: it would
         * forward SIGINT to the whole process group. */
        rl_catch_signals = 0;
        /* Characters beyond ASCII are printable only in the user's locale;
         * LC_CTYPE alone, so that numbers keep their '.' everywhere. */
        setlocale(LC_CTYPE, "");
        rl_getc_function = shell_getc;
        rl_outstream = noxrc_is_tty(NOXRC_STDOUT) ? stdout : stderr;
        rl_initialize();
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_winch;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGWINCH, &sa, NULL);
        using_history();
        stifle_history(HISTORY_LINES);
        sh.history = history_path();
        if (sh.history)
            read_history(sh.history);
        noxrc_info(ctx,
                   "Shell in sandbox %s. `help` lists the built-ins; `exit` or Ctrl-D "
                   "leaves.",
                   id);
    }
    if (ctx->json) {
        noxrc_json_begin_object(&sh.json);
        noxrc_json_key(&sh.json, "sessionId");
        noxrc_json_string(&sh.json, id);
        noxrc_json_key(&sh.json, "commands");
        noxrc_json_begin_array(&sh.json);
    }

    rc = loop(&sh);

    if (sh.interactive) {
        if (sh.history) {
            write_history(sh.history);
            chmod(sh.history, 0600);
        }
        clear_history();
    }
    if (ctx->json) {
        noxrc_json_end_array(&sh.json);
        noxrc_json_key(&sh.json, "exitCode");
        noxrc_json_int(&sh.json, rc);
        noxrc_json_end_object(&sh.json);
        if (noxrc_json_emit(&sh.json) != 0 && rc == 0)
            rc = NOXRC_EXIT_FAILURE;
    }
    signal_client = NULL;
    close_signal_pipe();
    free(sh.history);
    free(sh.cwd);
    free(sh.oldpwd);
    return rc;
}

const noxrc_command noxrc_command_shell = {
    .name = "shell",
    .run = run,
    .usage = "ID [OPTIONS]",
    .summary = "Interactive shell in a sandbox",
    .help = "Opens a shell on sandbox ID. The prompt is `noxrunner:ID:WORKDIR$ `; every\n"
            "line runs as `sh -c LINE` in WORKDIR, and a non-zero exit code is shown.\n"
            "Built-ins: cd [DIR] (checked in the sandbox; `cd` and `cd ~` go to\n"
            "/workspace, `cd -` back), pwd, touch (reset the TTL), help, exit [N], quit.\n"
            "Ctrl-C stops the running line and keeps the shell; Ctrl-D leaves it.\n"
            "\n"
            "On a terminal, lines can be edited and history is kept in\n"
            "$XDG_STATE_HOME/noxrunner/history (else ~/.local/state/noxrunner/history).\n"
            "Without a terminal, lines are read from standard input with no prompt, and\n"
            "noxrc exits with the exit code of the last one.\n"
            "\n"
            "Options:\n"
            "  -w, --workdir DIR     Starting directory (default /workspace)\n"
            "  --timeout-seconds N   Time limit of each line (default 30)\n"
            "\n"
            "--json reads lines without a prompt and prints, at the end, {\"sessionId\",\n"
            "\"commands\": [{\"line\", \"workdir\", \"exitCode\", \"result\" | \"error\"}],\n"
            "\"exitCode\"}.\n",
};
