/* SPDX-License-Identifier: MIT */
/* Load: the real noxrunnerd (isolated local backend, private state
 * directory, loopback only) under 16 client threads, each with its own
 * http client, for a fixed number of rounds.
 *
 * Every round of every thread creates a session of its own, uploads
 * random files into it (some of a few MiB), reads some back with an exec
 * (`sh -c 'cat FILE'`, compared byte for byte; `cksum` for the large
 * binary ones), touches it, asks for its info and for the list (while
 * the others create and delete theirs), downloads the tree as tar.gz (in
 * memory, as a stream, or extracted into a local directory: each parsed
 * and compared with what was uploaded) and deletes the session of the
 * round before. The threads also share four sessions, four threads each,
 * which they create together at the start (every create must succeed),
 * and where each works in a directory of its own while the others
 * upload, exec and download beside it.
 *
 * What must hold: no request fails (each failure is printed with its
 * nox error message) and no file is lost or corrupted. Between the end of
 * a warm-up and the end, with the same connections open, the server's RSS
 * grows by less than RSS_GROWTH_MAX_KIB (LeakSanitizer's check instead
 * under ASan), and its descriptors, threads and children come back to
 * their exact count: no tolerance, because nothing the server keeps
 * depends on how many requests it served (a connection holds its socket,
 * its thread and its client's descriptor of the state directory; a
 * request's resources are released once its answer is out, which the
 * test waits for). Once the clients are gone the descriptors and threads
 * are those the server had before the first connection. Once every
 * session is deleted no sandbox, holder process, tmp, trash, staging or
 * uid slot file is left. The test process has the descriptors it started
 * with, and the server exits 0 on SIGTERM (under ASan that includes
 * LeakSanitizer's check).
 * Timings are printed, never asserted.
 *
 * NOX_LOAD_ROUNDS sets the number of rounds after the warm-up (default
 * DEFAULT_ROUNDS, fewer under ASan), NOX_LOAD_SEED the random seed. */
#include "testutil.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* POSIX has programs declare environ themselves (see src/local/pod.c). */
// NOLINTNEXTLINE(readability-redundant-declaration)
extern char **environ;

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

#define THREADS       16
#define SHARED        4
#define WARMUP_ROUNDS 2
#ifdef UNDER_ASAN
/* ASan makes the server and every nox-init several times slower. */
#define DEFAULT_ROUNDS 4
#else
#define DEFAULT_ROUNDS 12
#endif
#define MAX_FILES 12
/* The server's default --max-output-bytes is 1 MiB: files read back with
 * cat stay under it. */
#define CAT_MAX (900u << 10)

/* Growth of the server's VmRSS allowed between the warm-up and the end.
 * After the warm-up every code path (large uploads, downloads and outputs
 * included) has run on every connection, so malloc's arenas have their
 * working size (see start_server() for the one malloc setting that keeps
 * the measurement steady); what grows after that grows with the number of
 * requests. Measured here: 1 to 2 MiB whether 6 or 40 rounds follow.
 * Under ASan the RSS is printed but not bounded: freed memory waits in a
 * quarantine of up to 256 MiB before reuse, so a healthy server's RSS
 * climbs by tens of MiB per round; there LeakSanitizer's check at the
 * server's exit (which must be 0) is the memory check, and a stricter one:
 * it finds every block nothing points to any more. */
#ifndef UNDER_ASAN
#define RSS_GROWTH_MAX_KIB (8 * 1024)
#endif

/* How long the server may take to release what a request held after its
 * answer went out (libmicrohttpd frees a request once the answer is sent,
 * after the client may already have read it), and a holder to exit. */
#define SETTLE_MS 15000

/* ---- the test's state ---- */

static char *tmp;   /* everything of this test lives under it */
static char *state; /* the server's state directory, tmp/state */
static char url[64];
static pid_t server = -1;
static int rounds;
static uint64_t seed;

static pthread_barrier_t barrier;
static atomic_int failures;
static atomic_bool stop_all;
static atomic_ullong n_requests, n_create, n_exec, n_upload, n_download, n_touch, n_delete;
static atomic_ullong n_list, n_info;
static atomic_ullong n_files_checked, bytes_up, bytes_down;
static int problems; /* found by the checks after the load (main thread) */
static pthread_mutex_t print_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---- small helpers ---- */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };
    nanosleep(&ts, NULL);
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&print_lock);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    pthread_mutex_unlock(&print_lock);
    va_end(ap);
}

/* Records a problem found after the load; the test fails at its end,
 * once everything is cleaned up. */
static void problem(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void problem(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&print_lock);
    fprintf(stderr, "PROBLEM: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    pthread_mutex_unlock(&print_lock);
    va_end(ap);
    problems++;
}

static uint64_t rnd_next(uint64_t *s)
{
    /* xorshift64*: fast, and reproducible from the printed seed. */
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 2685821657736338717ull;
}

static size_t rnd_range(uint64_t *s, size_t lo, size_t hi)
{
    return lo + (size_t)(rnd_next(s) % (hi - lo + 1));
}

/* POSIX cksum: CRC-32 (polynomial 0x04C11DB7, most significant bit
 * first) over the data, then over the length in as few bytes as it needs,
 * least significant first; complemented. */
static uint32_t crc_table[256];

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i << 24;
        for (int k = 0; k < 8; k++)
            c = (c & 0x80000000u) ? (c << 1) ^ 0x04C11DB7u : c << 1;
        crc_table[i] = c;
    }
}

static uint32_t posix_cksum(const unsigned char *p, size_t n)
{
    uint32_t crc = 0;
    for (size_t i = 0; i < n; i++)
        crc = (crc << 8) ^ crc_table[(crc >> 24) ^ p[i]];
    for (size_t len = n; len; len >>= 8)
        crc = (crc << 8) ^ crc_table[(crc >> 24) ^ (len & 0xff)];
    return ~crc;
}

/* ---- the server process, seen from /proc ---- */

static long status_number(pid_t pid, const char *field)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    char *text = nox_test_read_file(path, NULL);
    if (!text)
        return -1;
    long v = -1;
    size_t flen = strlen(field);
    for (char *line = text; line && *line;
         line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
        if (strncmp(line, field, flen) == 0 && line[flen] == ':') {
            v = strtol(line + flen + 1, NULL, 10);
            break;
        }
    free(text);
    return v;
}

/* Descriptors of @p pid (0: this process, the one opendir() uses not
 * counted). With @p list, their targets are printed. */
static int count_fds(pid_t pid, bool list)
{
    char path[64];
    if (pid)
        snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    else
        snprintf(path, sizeof path, "/proc/self/fd");
    DIR *d = opendir(path);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        if (!pid && strtol(e->d_name, NULL, 10) == dirfd(d))
            continue;
        n++;
        if (list) {
            char link[PATH_MAX] = "?";
            char *p = nox_test_strf("%s/%s", path, e->d_name);
            ssize_t k = readlink(p, link, sizeof link - 1);
            link[k > 0 ? k : 1] = '\0';
            say("    fd %s -> %s", e->d_name, link);
            free(p);
        }
    }
    closedir(d);
    return n;
}

/* The parent of @p pid from /proc/PID/stat, -1 when it is gone. */
static pid_t parent_of(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    char *text = nox_test_read_file(path, NULL);
    if (!text)
        return -1;
    /* The name in parentheses may hold anything; the state and the parent
     * follow the last ')'. */
    const char *p = strrchr(text, ')');
    pid_t ppid = -1;
    if (p && p[1] == ' ' && p[2] && p[3] == ' ') {
        char *end;
        long v = strtol(p + 4, &end, 10);
        if (end != p + 4)
            ppid = (pid_t)v;
    }
    free(text);
    return ppid;
}

static int count_children(pid_t parent)
{
    DIR *d = opendir("/proc");
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (e->d_name[0] >= '1' && e->d_name[0] <= '9' &&
            parent_of((pid_t)strtol(e->d_name, NULL, 10)) == parent)
            n++;
    if (d)
        closedir(d);
    return n;
}

static bool mentions(const char *data, size_t len, const char *what)
{
    size_t wl = strlen(what);
    for (size_t i = 0; i + wl <= len; i++)
        if (memcmp(data + i, what, wl) == 0)
            return true;
    return false;
}

static bool link_under(const char *link, const char *dir)
{
    size_t n = strlen(dir);
    return strncmp(link, dir, n) == 0 && (link[n] == '/' || link[n] == '\0');
}

/* Processes other than this one and the server whose descriptors, cwd,
 * root, command line or environment name the test's directory: sandbox
 * holders keep their sandbox's `expires` file open, so one that outlived
 * its sandbox shows here. With @p report, each is printed (and with
 * @p kill_them, killed: they are ours, made by our server). */
static int stray_processes(bool report, bool kill_them)
{
    DIR *d = opendir("/proc");
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] < '1' || e->d_name[0] > '9')
            continue;
        pid_t pid = (pid_t)strtol(e->d_name, NULL, 10);
        if (pid == getpid() || pid == server)
            continue;
        const char *why = NULL;
        char link[PATH_MAX];
        static const char *const links[] = { "cwd", "root" };
        for (size_t i = 0; i < 2 && !why; i++) {
            char *p = nox_test_strf("/proc/%d/%s", (int)pid, links[i]);
            ssize_t k = readlink(p, link, sizeof link - 1);
            free(p);
            if (k > 0) {
                link[k] = '\0';
                if (link_under(link, tmp))
                    why = links[i];
            }
        }
        static const char *const files[] = { "cmdline", "environ" };
        for (size_t i = 0; i < 2 && !why; i++) {
            char *p = nox_test_strf("/proc/%d/%s", (int)pid, files[i]);
            size_t len = 0;
            char *data = nox_test_read_file(p, &len);
            free(p);
            if (data && mentions(data, len, tmp))
                why = files[i];
            free(data);
        }
        char *fdp = nox_test_strf("/proc/%d/fd", (int)pid);
        DIR *fd = why ? NULL : opendir(fdp);
        struct dirent *f;
        while (fd && !why && (f = readdir(fd))) {
            if (f->d_name[0] == '.')
                continue;
            char *p = nox_test_strf("%s/%s", fdp, f->d_name);
            ssize_t k = readlink(p, link, sizeof link - 1);
            free(p);
            if (k > 0) {
                link[k] = '\0';
                if (link_under(link, tmp))
                    why = "a descriptor";
            }
        }
        if (fd)
            closedir(fd);
        free(fdp);
        if (!why)
            continue;
        n++;
        if (report) {
            char *cp = nox_test_strf("/proc/%d/comm", (int)pid);
            char *comm = nox_test_read_file(cp, NULL);
            free(cp);
            if (comm)
                comm[strcspn(comm, "\n")] = '\0';
            say("  process %d (%s, parent %d): its %s names %s", (int)pid, comm ? comm : "?",
                (int)parent_of(pid), why, tmp);
            free(comm);
        }
        if (kill_them)
            kill(pid, SIGKILL);
    }
    if (d)
        closedir(d);
    return n;
}

/* Names in @p dir, printed with @p what; the count. */
/* Whether @p name in @p dir is a uid slot of one of the server's prepared
 * holders: "spare PID START". */
static bool server_spare_slot(const char *dir, const char *name)
{
    char *path = nox_test_strf("%s/%s", dir, name);
    char *text = nox_test_read_file(path, NULL);
    char *want = nox_test_strf("spare %d ", (int)server);
    bool is = server > 0 && text && strncmp(text, want, strlen(want)) == 0;
    free(text);
    free(want);
    free(path);
    return is;
}

/* Entries of @p dir, but a running server's spare uid slots. */
static int leftovers_in(const char *dir, const char *what)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
            server_spare_slot(dir, e->d_name))
            continue;
        say("  left in %s: %s/%s", what, dir, e->d_name);
        n++;
    }
    closedir(d);
    return n;
}

/* The server's prepared holders' uid slots. */
static int spare_slots(void)
{
    char *dir = nox_test_strf("%s/uids", state);
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (e->d_name[0] >= '0' && e->d_name[0] <= '9' && server_spare_slot(dir, e->d_name))
            n++;
    if (d)
        closedir(d);
    free(dir);
    return n;
}

/* ---- starting and stopping the server ---- */

/* Spares the server keeps (--spare-launchers), from the first create on,
 * by one thread of the server, with one descriptor each: as root prepared
 * holders, otherwise launchers, its children. */
#define SPARES     2
#define SPARES_ARG "2"

static int start_server(void)
{
    char *port_file = nox_test_strf("%s/port", tmp);
    char *log = nox_test_strf("%s/server.log", tmp);
    /* The leak checks compare counts taken with the same connections open;
     * the default idle timeout (60 s) could close one in between, which is
     * no leak. */
    const char *extra[] = { "--idle-timeout", "3600", "--spare-launchers", SPARES_ARG, NULL };
    /* glibc's malloc raises its mmap threshold each time a large block is
     * freed, up to 32 MiB, after which the buffers of large outputs and
     * archives come from the per-thread heaps, whose high-water marks stay
     * in the RSS: the RSS then depends on which thread got which buffer in
     * what order, a noise of several MiB between runs that would drown a
     * leak. With the threshold fixed at its initial 128 KiB, large blocks
     * go back to the system when freed and the RSS follows what the server
     * holds. (No effect under ASan, which has its own allocator.) */
    size_t n_env = 0;
    while (environ[n_env])
        n_env++;
    char **envp = calloc(n_env + 2, sizeof *envp);
    if (!envp)
        abort();
    memcpy(envp, environ, n_env * sizeof *envp);
    envp[n_env] = (char *)"MALLOC_MMAP_THRESHOLD_=131072";
    int port = nox_test_server_start(state, port_file, log, extra, envp, &server);
    free(envp);
    free(port_file);
    free(log);
    if (port < 0) {
        server = -1;
        return -1;
    }
    snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
    return 0;
}

static void print_server_log(void)
{
    char *p = nox_test_strf("%s/server.log", tmp);
    size_t len = 0;
    char *log = nox_test_read_file(p, &len);
    free(p);
    if (log && len) {
        const char *from = len > 16384 ? log + len - 16384 : log;
        say("--- noxrunnerd's log%s ---\n%s--- end of the log ---", from != log ? " (end)" : "",
            from);
    }
    free(log);
}

/* SIGTERM, then the exit status (-1 when it had to be killed). */
static int stop_server(void)
{
    if (server <= 0)
        return 0;
    kill(server, SIGTERM);
    int status = 0;
    for (int64_t deadline = now_ms() + 60000;;) {
        pid_t r = waitpid(server, &status, WNOHANG);
        if (r == server)
            break;
        if (now_ms() > deadline) {
            kill(server, SIGKILL);
            waitpid(server, &status, 0);
            server = -1;
            return -1;
        }
        sleep_ms(20);
    }
    server = -1;
    return status;
}

/* ---- files ---- */

typedef struct tfile {
    char path[96];
    unsigned char *data;
    size_t size;
    unsigned mode;
    bool text; /* valid UTF-8: can be read back through exec's JSON */
    bool seen;
} tfile;

typedef struct fileset {
    tfile f[MAX_FILES];
    size_t n;
} fileset;

static void fileset_clear(fileset *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->f[i].data);
    s->n = 0;
}

/* Text the exec answer carries unchanged: ASCII (tabs, newlines and other
 * control characters included) and whole multi-byte UTF-8 sequences. */
static void fill_text(uint64_t *rs, unsigned char *p, size_t n)
{
    static const char *const multi[] = { "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
                                         "\xd0\x96" };
    size_t i = 0;
    while (i < n) {
        uint64_t r = rnd_next(rs);
        unsigned kind = (unsigned)(r % 64);
        if (kind == 0 && n - i >= 4) {
            const char *m = multi[(r >> 8) % 4];
            size_t ml = strlen(m);
            memcpy(p + i, m, ml);
            i += ml;
        } else if (kind < 5) {
            p[i++] = kind == 1 ? '\t' : '\n';
        } else if (kind == 5) {
            /* NUL, ESC, CR, DEL and the other control characters: JSON
             * escapes them, and the output may contain NULs. */
            unsigned c = (unsigned)((r >> 8) % 33);
            p[i++] = (unsigned char)(c == 32 ? 127 : c);
        } else {
            p[i++] = (unsigned char)(' ' + (r >> 16) % 95);
        }
    }
}

static void fill_binary(uint64_t *rs, unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i += 8) {
        uint64_t r = rnd_next(rs);
        memcpy(p + i, &r, n - i < 8 ? n - i : 8);
    }
}

static tfile *add_file(fileset *s, uint64_t *rs, const char *path, size_t size, bool text)
{
    if (s->n == MAX_FILES)
        abort();
    tfile *f = &s->f[s->n++];
    memset(f, 0, sizeof *f);
    snprintf(f->path, sizeof f->path, "%s", path);
    f->size = size;
    f->text = text;
    f->mode = rnd_next(rs) % 4 == 0 ? 0755 : 0644;
    f->data = malloc(size ? size : 1);
    if (!f->data)
        abort();
    if (text)
        fill_text(rs, f->data, size);
    else
        fill_binary(rs, f->data, size);
    return f;
}

/* @p n files of mixed sizes in a few directories, plus one of 1 to 4 MiB
 * of random bytes when @p big, and first a text file of the largest size
 * read back with cat when @p long_text. */
static void make_files(fileset *s, uint64_t *rs, size_t n, bool big, bool long_text)
{
    if (long_text)
        add_file(s, rs, "long.txt", CAT_MAX, true);
    for (size_t i = 0; i < n; i++) {
        unsigned pick = (unsigned)(rnd_next(rs) % 100);
        size_t size;
        if (pick < 10)
            size = rnd_range(rs, 0, 16);
        else if (pick < 70)
            size = rnd_range(rs, 17, 16 << 10);
        else if (pick < 95)
            size = rnd_range(rs, 16 << 10, 256 << 10);
        else
            size = rnd_range(rs, 256 << 10, CAT_MAX);
        char path[64];
        unsigned depth = (unsigned)(rnd_next(rs) % 3);
        if (depth == 0)
            snprintf(path, sizeof path, "f%zu.dat", i);
        else if (depth == 1)
            snprintf(path, sizeof path, "d%u/f%zu.dat", (unsigned)(rnd_next(rs) % 3), i);
        else
            snprintf(path, sizeof path, "d%u/e%u/f%zu.dat", (unsigned)(rnd_next(rs) % 2),
                     (unsigned)(rnd_next(rs) % 2), i);
        add_file(s, rs, path, size, rnd_next(rs) % 2 == 0);
    }
    if (big)
        add_file(s, rs, "big/blob.bin", rnd_range(rs, 1 << 20, 4 << 20), false);
}

/* ---- one worker ---- */

typedef struct worker {
    int index;
    pthread_t thread;
    nox_client *client;
    nox_error *err;
    uint64_t rs;
    int round;
    const char *where; /* the session worked on, for messages */
    bool failed;
    char *dl_dir; /* for nox_download_workspace */
    char own[2][32];
    fileset files;
} worker;

static void fail_worker(worker *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail_worker(worker *w, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = NULL;
    if (vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    va_end(ap);
    say("FAILED: thread %d, round %d, session %s: %s", w->index, w->round,
        w->where ? w->where : "-", msg ? msg : "(out of memory)");
    free(msg);
    w->failed = true;
    atomic_fetch_add(&failures, 1);
    atomic_store(&stop_all, true);
}

/* Counts a request; on failure reports it with the nox error message. */
static bool ok(worker *w, atomic_ullong *counter, int r, const char *what)
{
    atomic_fetch_add(&n_requests, 1);
    atomic_fetch_add(counter, 1);
    if (r == 0)
        return true;
    fail_worker(w, "%s failed: %s (HTTP %d): %s", what, nox_code_name(r),
                nox_error_http_status(w->err), nox_error_message(w->err));
    return false;
}

static bool create(worker *w, const char *id)
{
    nox_create_options co;
    nox_create_options_init(&co);
    co.ttl_seconds = 900;
    nox_sandbox *sb = NULL;
    w->where = id;
    if (!ok(w, &n_create, nox_create(w->client, id, &co, &sb, w->err), "create"))
        return false;
    bool good = sb && sb->id && strcmp(sb->id, id) == 0;
    nox_sandbox_free(sb);
    if (!good)
        fail_worker(w, "create answered for another session");
    return good;
}

static bool del(worker *w, const char *id)
{
    w->where = id;
    return ok(w, &n_delete, nox_delete(w->client, id, w->err), "delete");
}

static bool touch(worker *w, const char *id)
{
    w->where = id;
    return ok(w, &n_touch, nox_touch(w->client, id, w->err), "touch");
}

static bool upload(worker *w, const char *id, const fileset *s, size_t from, size_t to,
                   const char *dest)
{
    nox_file files[MAX_FILES];
    uint64_t bytes = 0;
    for (size_t i = from; i < to; i++) {
        files[i - from] = (nox_file){ s->f[i].path, s->f[i].data, s->f[i].size, s->f[i].mode };
        bytes += s->f[i].size;
    }
    w->where = id;
    if (!ok(w, &n_upload, nox_upload_files(w->client, id, files, to - from, dest, w->err),
            "upload"))
        return false;
    atomic_fetch_add(&bytes_up, bytes);
    return true;
}

/* nox_info of a session of this thread: it must describe that one. */
static bool info(worker *w, const char *id)
{
    nox_sandbox *sb = NULL;
    w->where = id;
    if (!ok(w, &n_info, nox_info(w->client, id, &sb, w->err), "info"))
        return false;
    bool good = sb->id && strcmp(sb->id, id) == 0 && sb->expires_at_unix > 0;
    if (!good)
        fail_worker(w, "info described `%s`, expiring at %" PRId64, sb->id ? sb->id : "(null)",
                    sb->expires_at_unix);
    nox_sandbox_free(sb);
    return good;
}

/* nox_list while the other threads create and delete sessions: this
 * thread's live sessions and the shared ones must be in it. */
static bool list_has_mine(worker *w)
{
    nox_sandbox_list *list = NULL;
    w->where = NULL;
    if (!ok(w, &n_list, nox_list(w->client, &list, w->err), "list"))
        return false;
    char shared[32];
    snprintf(shared, sizeof shared, "shared-%d", w->index % SHARED);
    const char *want[] = { w->own[0], w->own[1], shared };
    bool good = true;
    for (size_t k = 0; k < 3 && good; k++) {
        if (!want[k][0])
            continue;
        bool found = false;
        for (size_t i = 0; i < list->count && !found; i++)
            found = strcmp(list->items[i].id, want[k]) == 0;
        if (!found) {
            fail_worker(w, "list of %zu sandboxes misses `%s`", list->count, want[k]);
            good = false;
        }
    }
    nox_sandbox_list_free(list);
    return good;
}

/* Runs @p argv (or, when it is NULL, `sh -c script`) and checks exit 0,
 * nothing on stderr and stdout equal to @p want. */
static bool exec_expect(worker *w, const char *id, const char *script, const char *const *argv,
                        const void *want, size_t want_len)
{
    nox_exec_options eo;
    nox_exec_options_init(&eo);
    eo.timeout_seconds = 120;
    nox_exec_result *res = NULL;
    w->where = id;
    int r = argv ? nox_exec(w->client, id, argv, &eo, &res, w->err)
                 : nox_exec_shell(w->client, id, script, "sh", &eo, &res, w->err);
    const char *what = argv ? argv[0] : script;
    if (!ok(w, &n_exec, r, "exec"))
        return false;
    bool good = false;
    if (res->exit_code != 0 || res->stderr_len) {
        fail_worker(w, "exec `%s`: exit %d, stderr: %.*s", what, res->exit_code,
                    (int)(res->stderr_len > 500 ? 500 : res->stderr_len), res->stderr_data);
    } else if (res->stdout_len != want_len || memcmp(res->stdout_data, want, want_len) != 0) {
        size_t at = 0;
        while (at < want_len && at < res->stdout_len &&
               res->stdout_data[at] == ((const char *)want)[at])
            at++;
        fail_worker(w,
                    "exec `%s`: %zu bytes of output where %zu were expected, first "
                    "difference at byte %zu%s",
                    what, res->stdout_len, want_len, at,
                    res->stdout_truncated ? " (output truncated)" : "");
    } else {
        good = true;
        atomic_fetch_add(&n_files_checked, 1);
    }
    nox_exec_result_free(res);
    return good;
}

static bool cat_check(worker *w, const char *id, const char *dir, const tfile *f, bool shell)
{
    char path[160];
    snprintf(path, sizeof path, "%s/%s", dir, f->path);
    if (shell) {
        char script[200];
        snprintf(script, sizeof script, "cat '%s'", path);
        return exec_expect(w, id, script, NULL, f->data, f->size);
    }
    const char *argv[] = { "cat", "--", path, NULL };
    return exec_expect(w, id, NULL, argv, f->data, f->size);
}

static bool cksum_check(worker *w, const char *id, const char *dir, const tfile *f)
{
    char path[160], want[256];
    snprintf(path, sizeof path, "%s/%s", dir, f->path);
    snprintf(want, sizeof want, "%" PRIu32 " %zu %s\n", posix_cksum(f->data, f->size), f->size,
             path);
    const char *argv[] = { "cksum", path, NULL };
    return exec_expect(w, id, NULL, argv, want, strlen(want));
}

/* Checks one downloaded regular file against the expected set. */
static bool check_entry(worker *w, fileset *s, const char *raw, const void *data, size_t size,
                        unsigned perm)
{
    const char *name = raw;
    while (name[0] == '.' && name[1] == '/')
        name += 2;
    for (size_t i = 0; i < s->n; i++) {
        tfile *f = &s->f[i];
        if (strcmp(f->path, name) != 0)
            continue;
        if (f->seen) {
            fail_worker(w, "download: `%s` is in the archive twice", name);
            return false;
        }
        f->seen = true;
        if (f->size != size || (size && memcmp(f->data, data, size) != 0)) {
            fail_worker(w, "download: `%s` is corrupted: %zu bytes where %zu were uploaded", name,
                        size, f->size);
            return false;
        }
        if ((perm & 0777) != f->mode) {
            fail_worker(w, "download: `%s` has mode %o where %o was uploaded", name, perm & 0777,
                        f->mode);
            return false;
        }
        atomic_fetch_add(&n_files_checked, 1);
        return true;
    }
    fail_worker(w, "download: `%s` is in the archive but was never uploaded", name);
    return false;
}

static bool check_all_seen(worker *w, fileset *s)
{
    bool good = true;
    for (size_t i = 0; i < s->n; i++) {
        if (!s->f[i].seen) {
            fail_worker(w, "download: `%s` (%zu bytes) is missing: a lost file", s->f[i].path,
                        s->f[i].size);
            good = false;
        }
        s->f[i].seen = false;
    }
    return good;
}

/* Reads a tar.gz through libarchive (an independent reader, not the
 * library's) and checks every entry. */
static bool check_archive(worker *w, fileset *s, struct archive *a)
{
    bool good = true;
    struct archive_entry *e;
    unsigned char *buf = NULL;
    int r;
    while (good && (r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
        const char *path = archive_entry_pathname(e);
        mode_t type = archive_entry_filetype(e);
        if (type == AE_IFDIR)
            continue;
        if (type != AE_IFREG) {
            fail_worker(w, "download: `%s` is not a regular file (type %o)", path, (unsigned)type);
            good = false;
            break;
        }
        int64_t size = archive_entry_size(e);
        if (size < 0 || size > (16 << 20)) {
            fail_worker(w, "download: `%s` has an impossible size %" PRId64, path, size);
            good = false;
            break;
        }
        free(buf);
        buf = malloc((size_t)size + 1);
        if (!buf)
            abort();
        la_ssize_t got = size ? archive_read_data(a, buf, (size_t)size) : 0;
        if (got != size) {
            fail_worker(w, "download: reading `%s` from the archive: %s", path,
                        got < 0 ? archive_error_string(a) : "short");
            good = false;
            break;
        }
        good = check_entry(w, s, path, buf, (size_t)size, archive_entry_perm(e));
    }
    free(buf);
    if (good && r != ARCHIVE_EOF) {
        fail_worker(w, "download: the archive is broken: %s", archive_error_string(a));
        good = false;
    }
    return good && check_all_seen(w, s);
}

static struct archive *tgz_reader(void)
{
    struct archive *a = archive_read_new();
    if (!a)
        abort();
    archive_read_support_filter_gzip(a);
    archive_read_support_format_tar(a);
    return a;
}

/* nox_download: the archive in memory. */
static bool download_memory(worker *w, const char *id, const char *src, fileset *s)
{
    void *data = NULL;
    size_t size = 0;
    w->where = id;
    if (!ok(w, &n_download, nox_download(w->client, id, src, &data, &size, w->err), "download"))
        return false;
    atomic_fetch_add(&bytes_down, size);
    struct archive *a = tgz_reader();
    bool good = archive_read_open_memory(a, data, size) == ARCHIVE_OK;
    if (!good)
        fail_worker(w, "download: not a tar.gz: %s", archive_error_string(a));
    else
        good = check_archive(w, s, a);
    archive_read_free(a);
    nox_free(data);
    return good;
}

typedef struct stream_ctx {
    worker *w;
    nox_stream *st;
    unsigned char buf[65536];
    int error;
} stream_ctx;

static la_ssize_t stream_cb(struct archive *a, void *ud, const void **ret)
{
    (void)a;
    stream_ctx *c = ud;
    ssize_t n = nox_stream_read(c->st, c->buf, sizeof c->buf, c->w->err);
    if (n < 0) {
        c->error = (int)n;
        return -1;
    }
    atomic_fetch_add(&bytes_down, (unsigned long long)n);
    *ret = c->buf;
    return n;
}

/* nox_download_open: the archive parsed as it streams in. */
static bool download_stream(worker *w, const char *id, const char *src, fileset *s)
{
    stream_ctx *c = calloc(1, sizeof *c);
    if (!c)
        abort();
    c->w = w;
    w->where = id;
    if (!ok(w, &n_download, nox_download_open(w->client, id, src, &c->st, w->err),
            "download_open")) {
        free(c);
        return false;
    }
    struct archive *a = tgz_reader();
    bool good = archive_read_open(a, c, NULL, stream_cb, NULL) == ARCHIVE_OK;
    if (good)
        good = check_archive(w, s, a);
    else
        fail_worker(w, "download: not a tar.gz: %s", archive_error_string(a));
    /* Whatever follows the tar's end (padding, the gzip trailer) is read
     * too, so the answer ends cleanly and the connection stays usable. */
    while (good && !c->error) {
        ssize_t n = nox_stream_read(c->st, c->buf, sizeof c->buf, w->err);
        if (n < 0)
            c->error = (int)n;
        if (n <= 0)
            break;
    }
    if (c->error) {
        fail_worker(w, "download stream failed: %s: %s", nox_code_name(c->error),
                    nox_error_message(w->err));
        good = false;
    }
    archive_read_free(a);
    nox_stream_free(c->st);
    free(c);
    return good;
}

/* Walks a local tree, checking every regular file. */
static bool check_tree(worker *w, fileset *s, const char *root, const char *rel)
{
    char *dir = rel[0] ? nox_test_strf("%s/%s", root, rel) : strdup(root);
    DIR *d = opendir(dir);
    if (!d) {
        fail_worker(w, "download: cannot read the local directory `%s`", dir);
        free(dir);
        return false;
    }
    bool good = true;
    struct dirent *e;
    while (good && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char *r = rel[0] ? nox_test_strf("%s/%s", rel, e->d_name) : strdup(e->d_name);
        char *p = nox_test_strf("%s/%s", root, r);
        struct stat st;
        if (e->d_name[0] == '.') {
            /* None of ours starts with a dot: a staging directory of the
             * extraction (".nox-extract-...") left behind. */
            fail_worker(w, "download: `%s` left in the local directory", r);
            good = false;
        } else if (lstat(p, &st) < 0) {
            fail_worker(w, "download: lstat `%s`: %s", p, strerror(errno));
            good = false;
        } else if (S_ISDIR(st.st_mode)) {
            good = check_tree(w, s, root, r);
        } else if (!S_ISREG(st.st_mode)) {
            fail_worker(w, "download: `%s` is not a regular file", r);
            good = false;
        } else {
            size_t len = 0;
            char *data = nox_test_read_file(p, &len);
            good = data && check_entry(w, s, r, data, len, st.st_mode);
            free(data);
        }
        free(p);
        free(r);
    }
    closedir(d);
    free(dir);
    return good;
}

/* nox_download_workspace: extracted by the library into a local
 * directory, then compared file by file. */
static bool download_extract(worker *w, const char *id, const char *src, fileset *s)
{
    bool any = false;
    w->where = id;
    if (!ok(w, &n_download, nox_download_workspace(w->client, id, src, w->dl_dir, &any, w->err),
            "download_workspace"))
        return false;
    bool good = check_tree(w, s, w->dl_dir, "") && check_all_seen(w, s);
    if (good && !any && s->n) {
        fail_worker(w, "download_workspace said no file arrived");
        good = false;
    }
    /* Empty it for the next time, keeping the directory itself. */
    DIR *d = opendir(w->dl_dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char *p = nox_test_strf("%s/%s", w->dl_dir, e->d_name);
        struct stat st;
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
            /* nox_test_rmtree wants its marker in the path: it is there. */
            nox_test_rmtree(p);
        } else {
            unlink(p);
        }
        free(p);
    }
    if (d)
        closedir(d);
    return good;
}

static bool download_check(worker *w, const char *id, const char *src, fileset *s, int how)
{
    switch (how % 3) {
    case 0:
        return download_memory(w, id, src, s);
    case 1:
        return download_stream(w, id, src, s);
    default:
        return download_extract(w, id, src, s);
    }
}

/* No extraction of this session is in progress (this thread is its only
 * user): its staging area must be empty. */
static bool staging_empty(worker *w, const char *id)
{
    char *p = nox_test_strf("%s/sandboxes/%s/staging", state, id);
    char what[80];
    snprintf(what, sizeof what, "the staging area of %s", id);
    int n = leftovers_in(p, what);
    free(p);
    if (n)
        fail_worker(w, "%d entries left in the staging area after an upload", n);
    return n == 0;
}

/* A round in a session of this thread's own. */
static bool own_round(worker *w)
{
    int slot = w->round % 2;
    /* The session two rounds back is deleted now: two per thread live at
     * a time. */
    if (w->own[slot][0]) {
        if (!del(w, w->own[slot]))
            return false;
        w->own[slot][0] = '\0';
    }
    char id[32];
    snprintf(id, sizeof id, "t%02d-r%04d", w->index, w->round);
    if (!create(w, id))
        return false;
    snprintf(w->own[slot], sizeof w->own[slot], "%s", id);

    fileset *s = &w->files;
    fileset_clear(s);
    /* Warm-up rounds have the largest file and the longest output there
     * will be, so that the server's memory has its working size when the
     * warm-up ends; then one round in three has a large file. */
    bool warm_up = w->round < WARMUP_ROUNDS;
    bool big = warm_up || rnd_next(&w->rs) % 3 == 0;
    make_files(s, &w->rs, rnd_range(&w->rs, 3, 8), big, warm_up);
    /* Two uploads into one directory, the second adding to the first. */
    size_t half = s->n / 2;
    if (!upload(w, id, s, 0, half, "/workspace/in") ||
        !upload(w, id, s, half, s->n, "/workspace/in") || !staging_empty(w, id))
        return false;

    /* Read some back with exec: text with cat (through sh, or not), the
     * large binary one with cksum. */
    int cats = 0;
    for (size_t i = 0; i < s->n && cats < 3; i++) {
        const tfile *f = &s->f[i];
        if (f->text) {
            if (!cat_check(w, id, "in", f, cats % 2 == 0))
                return false;
            cats++;
        } else if (f->size >= (1u << 20) && !cksum_check(w, id, "in", f)) {
            return false;
        }
    }
    if (!touch(w, id) || !info(w, id) || !list_has_mine(w))
        return false;
    return download_check(w, id, "/workspace/in", s, w->round + w->index);
}

/* A round in the shared session of this thread, in its own directory. */
static bool shared_round(worker *w)
{
    char id[32], dir[32], dest[64], src[64];
    snprintf(id, sizeof id, "shared-%d", w->index % SHARED);
    snprintf(dir, sizeof dir, "t%02d", w->index);
    snprintf(dest, sizeof dest, "/workspace/%s", dir);
    snprintf(src, sizeof src, "/workspace/%s", dir);
    /* Idempotent create of a session the others use at the same time
     * (in the first round, that three others create at the same time). */
    if (!create(w, id))
        return false;
    fileset s = { .n = 0 };
    make_files(&s, &w->rs, rnd_range(&w->rs, 2, 5), false, false);
    bool good = upload(w, id, &s, 0, s.n, dest);
    for (size_t i = 0; good && i < s.n; i++)
        if (s.f[i].text) {
            good = cat_check(w, id, dir, &s.f[i], true);
            break;
        }
    good = good && download_check(w, id, src, &s, w->round + w->index + 1);
    if (good) {
        /* Keeps the session's disk use flat; an exec that writes. */
        char script[64];
        snprintf(script, sizeof script, "rm -r '%s' && echo gone", dir);
        good = exec_expect(w, id, script, NULL, "gone\n", 5);
    }
    good = good && touch(w, id);
    fileset_clear(&s);
    return good;
}

static void run_rounds(worker *w, int from, int to)
{
    for (w->round = from; w->round < to && !w->failed; w->round++) {
        if (atomic_load(&stop_all))
            return;
        /* The shared session first: in the first round, the four threads
         * of each start by creating it at the same moment. */
        if (!shared_round(w) || !own_round(w))
            return;
    }
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    run_rounds(w, 0, WARMUP_ROUNDS);
    pthread_barrier_wait(&barrier); /* warm-up done */
    pthread_barrier_wait(&barrier); /* the baseline is measured */
    run_rounds(w, WARMUP_ROUNDS, WARMUP_ROUNDS + rounds);
    /* Whatever happened, the sessions of this thread go. */
    bool had_failed = w->failed;
    for (int i = 0; i < 2; i++)
        if (w->own[i][0]) {
            if (!del(w, w->own[i]) && had_failed)
                say("  (after the failure above)");
            w->own[i][0] = '\0';
        }
    fileset_clear(&w->files);
    pthread_barrier_wait(&barrier); /* all work done */
    pthread_barrier_wait(&barrier); /* the end is measured: clients may go */
    return NULL;
}

/* ---- the test ---- */

static nox_client *http_client(void)
{
    nox_client_options o;
    nox_client_options_init(&o);
    o.base_url = url;
    /* A load test of correctness, not of latency: on a busy two-core
     * machine (or under ASan) one request may wait long for its turn. */
    o.timeout_ms = 180000;
    nox_error *err = nox_error_new();
    nox_client *c = NULL;
    nox_assert_ok(nox_client_new(&o, &c, err), err);
    nox_error_free(err);
    return c;
}

typedef struct snapshot {
    long rss_kib;
    int fds;
    long threads;
    int children;
} snapshot;

static snapshot measure(void)
{
    snapshot s;
    s.rss_kib = status_number(server, "VmRSS");
    s.fds = count_fds(server, false);
    s.threads = status_number(server, "Threads");
    s.children = count_children(server);
    return s;
}

/* Waits until the server's descriptors, threads and children are back to
 * @p base: a request's resources are released just after its answer. */
static snapshot settle(const snapshot *base)
{
    snapshot s = measure();
    for (int64_t deadline = now_ms() + SETTLE_MS; now_ms() < deadline; sleep_ms(100)) {
        s = measure();
        if (s.fds == base->fds && s.threads == base->threads && s.children == base->children)
            break;
    }
    return s;
}

/* Waits until the server's counts hold still for half a second. */
static snapshot quiesce(void)
{
    snapshot s = measure();
    int64_t deadline = now_ms() + SETTLE_MS;
    for (int stable = 0; stable < 5 && now_ms() < deadline;) {
        sleep_ms(100);
        snapshot t = measure();
        stable =
            t.fds == s.fds && t.threads == s.threads && t.children == s.children ? stable + 1 : 0;
        s = t;
    }
    return s;
}

static int setup(void **st)
{
    (void)st;
    tmp = nox_test_mkdtemp("load");
    state = nox_test_strf("%s/state", tmp);
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    if (server > 0) {
        kill(server, SIGKILL);
        waitpid(server, NULL, 0);
        server = -1;
    }
    /* Anything still naming our directory was made by our server. */
    if (stray_processes(false, false)) {
        say("killing leftover processes of this test:");
        stray_processes(true, true);
    }
    nox_test_rmtree(tmp);
    free(tmp);
    free(state);
    return 0;
}

static void test_load(void **st)
{
    (void)st;
    int fds_self_before = count_fds(0, false);
    if (start_server() < 0) {
        print_server_log();
        fail_msg("noxrunnerd did not start");
    }
    say("load: %s, %d threads, %d warm-up rounds + %d rounds, %d shared sessions, seed %" PRIu64,
        url, THREADS, WARMUP_ROUNDS, rounds, SHARED, seed);
    snapshot start = measure();

    /* The shared sessions are not made here: the four threads of each
     * race to create it in their first round, and every create must
     * succeed. This client's first request (which opens its connection,
     * counted from the warm-up on) checks that the server starts empty. */
    nox_client *main_client = http_client();
    nox_error *err = nox_error_new();
    nox_sandbox_list *list = NULL;
    nox_assert_ok(nox_list(main_client, &list, err), err);
    assert_int_equal(list->count, 0);
    nox_sandbox_list_free(list);

    worker *w = calloc(THREADS, sizeof *w);
    assert_non_null(w);
    assert_int_equal(pthread_barrier_init(&barrier, NULL, THREADS + 1), 0);
    for (int i = 0; i < THREADS; i++) {
        w[i].index = i;
        w[i].client = http_client();
        w[i].err = nox_error_new();
        assert_non_null(w[i].err);
        w[i].rs = seed + 0x9E3779B97F4A7C15ull * (uint64_t)(i + 1);
        w[i].dl_dir = nox_test_strf("%s/dl-%02d", tmp, i);
        assert_int_equal(mkdir(w[i].dl_dir, 0700), 0);
    }
    int64_t t0 = now_ms();
    for (int i = 0; i < THREADS; i++) {
        /* Past the first thread, failing here would leave the others
         * waiting at the barrier for ever: better to stop at once. */
        if (pthread_create(&w[i].thread, NULL, worker_main, &w[i]) != 0)
            abort();
    }

    pthread_barrier_wait(&barrier); /* warm-up done */
    int64_t t1 = now_ms();
    unsigned long long req_warm = atomic_load(&n_requests);
    snapshot warm = quiesce();
    pthread_barrier_wait(&barrier); /* go on */

    pthread_barrier_wait(&barrier); /* all work done, own sessions deleted */
    int64_t t2 = now_ms();
    unsigned long long req_main = atomic_load(&n_requests) - req_warm;

    /* The shared sessions go too; then nothing may be left. */
    for (int i = 0; i < SHARED; i++) {
        char id[32];
        snprintf(id, sizeof id, "shared-%d", i);
        char *p = nox_test_strf("%s/sandboxes/%s/staging", state, id);
        if (leftovers_in(p, "a staging area"))
            problem("files left in the staging area of %s", id);
        free(p);
        if (nox_delete(main_client, id, err) != 0)
            problem("delete %s failed: %s: %s", id, nox_code_name(nox_error_code(err)),
                    nox_error_message(err));
    }
    list = NULL;
    if (nox_list(main_client, &list, err) != 0) {
        problem("list failed: %s", nox_error_message(err));
    } else {
        for (size_t i = 0; i < list->count; i++)
            problem("sandbox %s is still listed", list->items[i].id);
        nox_sandbox_list_free(list);
    }

    snapshot end = settle(&warm);
    /* Holders stop as part of a delete, but a process takes a moment to
     * vanish after its last descriptor closed. */
    int strays = stray_processes(false, false);
    for (int64_t deadline = now_ms() + SETTLE_MS; strays && now_ms() < deadline; sleep_ms(100))
        strays = stray_processes(false, false);
    if (strays) {
        problem("%d processes left behind:", strays);
        stray_processes(true, false);
    }
    static const char *const subdirs[] = { "sandboxes", "tmp", "trash", "uids" };
    for (size_t i = 0; i < 4; i++) {
        char *p = nox_test_strf("%s/%s", state, subdirs[i]);
        if (leftovers_in(p, subdirs[i]))
            problem("files left in %s", p);
        free(p);
    }
    for (int i = 0; i < THREADS; i++)
        if (leftovers_in(w[i].dl_dir, "a local download directory"))
            problem("files left in %s", w[i].dl_dir);

    long growth = end.rss_kib - warm.rss_kib;
#ifdef RSS_GROWTH_MAX_KIB
    if (growth >= RSS_GROWTH_MAX_KIB)
        problem("the server's RSS grew by %ld KiB after the warm-up (bound %d KiB)", growth,
                RSS_GROWTH_MAX_KIB);
    char bound[64];
    snprintf(bound, sizeof bound, "bound %d KiB", RSS_GROWTH_MAX_KIB);
#else
    const char *bound = "not bounded under ASan";
#endif
    if (end.fds != warm.fds) {
        problem("the server had %d descriptors after the warm-up and has %d now:", warm.fds,
                end.fds);
        count_fds(server, true);
    }
    if (end.threads != warm.threads)
        problem("the server had %ld threads after the warm-up and has %ld now", warm.threads,
                end.threads);
    if (end.children != warm.children)
        problem("the server had %d children after the warm-up and has %d now", warm.children,
                end.children);

    pthread_barrier_wait(&barrier); /* the workers free their clients */
    for (int i = 0; i < THREADS; i++) {
        pthread_join(w[i].thread, NULL);
        nox_client_free(w[i].client);
        nox_error_free(w[i].err);
        free(w[i].dl_dir);
    }
    free(w);
    pthread_barrier_destroy(&barrier);
    nox_client_free(main_client);
    nox_error_free(err);

    /* With every connection closed, the server is back to what it had
     * before the first one: each connection's socket, thread and client
     * (the state directory's descriptor) went with it. What stays is the
     * spares, each with one descriptor in the server, and the thread that
     * keeps them. Run by root they are prepared holders, whose launchers
     * have left (they are no children; their uid slots name the server,
     * plus the state directory's descriptor the thread takes slots in);
     * otherwise launchers, children of the server. */
    bool prepared = geteuid() == 0;
    snapshot want = start;
    want.fds += SPARES + (prepared ? 1 : 0);
    want.children = prepared ? 0 : SPARES;
    want.threads += 1;
    snapshot closed = settle(&want);
    if (closed.fds != want.fds) {
        problem("the server had %d descriptors before the first connection and %d after the "
                "last (%d spares' channels expected, and with prepared holders the state "
                "directory's descriptor):",
                start.fds, closed.fds, SPARES);
        count_fds(server, true);
    }
    if (closed.children != want.children)
        problem("the server has %d children after the last connection, not %d", closed.children,
                want.children);
    if (prepared && spare_slots() != SPARES)
        problem("the server keeps %d prepared holders' uid slots, not %d", spare_slots(), SPARES);
    if (closed.threads != want.threads)
        problem("the server had %ld threads before the first connection and %ld after the last "
                "(one more, the spare launchers' thread, expected)",
                start.threads, closed.threads);

    int status = stop_server();
    bool server_ok = status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (!server_ok)
        problem("noxrunnerd did not exit with status 0 on SIGTERM (see its log below)");
    int fds_self_after = count_fds(0, false);
    if (fds_self_after != fds_self_before) {
        problem("this process had %d descriptors before and has %d now:", fds_self_before,
                fds_self_after);
        count_fds(0, true);
    }

    double main_s = (double)(t2 - t1) / 1000.0;
    say("load: %llu requests in %.1f s (warm-up %llu in %.1f s; then %llu in %.1f s, %.0f "
        "requests/s)",
        (unsigned long long)atomic_load(&n_requests), (double)(t2 - t0) / 1000.0, req_warm,
        (double)(t1 - t0) / 1000.0, req_main, main_s, main_s > 0 ? (double)req_main / main_s : 0.0);
    say("load: create %llu, exec %llu, upload %llu, download %llu, touch %llu, info %llu, list "
        "%llu, delete %llu; %llu files checked; %.1f MiB up, %.1f MiB down",
        (unsigned long long)n_create, (unsigned long long)n_exec, (unsigned long long)n_upload,
        (unsigned long long)n_download, (unsigned long long)n_touch, (unsigned long long)n_info,
        (unsigned long long)n_list, (unsigned long long)n_delete,
        (unsigned long long)n_files_checked, (double)bytes_up / 1048576.0,
        (double)bytes_down / 1048576.0);
    say("load: server VmRSS %ld KiB at start, %ld KiB after the warm-up, %ld KiB at the end "
        "(growth %ld KiB, %s)",
        start.rss_kib, warm.rss_kib, end.rss_kib, growth, bound);
    say("load: server descriptors %d after the warm-up, %d at the end (%d before the first "
        "connection, %d after the last); threads %ld, %ld (%ld, %ld); children %d, %d",
        warm.fds, end.fds, start.fds, closed.fds, warm.threads, end.threads, start.threads,
        closed.threads, warm.children, end.children);
    say("load: test process descriptors %d before, %d after; server exit status %s%d",
        fds_self_before, fds_self_after, status >= 0 && WIFSIGNALED(status) ? "signal " : "",
        status < 0            ? -1
        : WIFSIGNALED(status) ? WTERMSIG(status)
                              : WEXITSTATUS(status));
    int nfail = atomic_load(&failures);
    if (nfail || problems)
        print_server_log();
    if (nfail)
        fail_msg("%d failed requests or checks (each is printed above)", nfail);
    if (problems)
        fail_msg("%d problems after the load (each is printed above)", problems);
}

int main(void)
{
    nox_test_need_server();
    const char *env = getenv("NOX_LOAD_ROUNDS");
    rounds = env && *env ? (int)nox_test_parse_long(env) : DEFAULT_ROUNDS;
    if (rounds < 1 || rounds > 10000) {
        fprintf(stderr, "NOX_LOAD_ROUNDS must be 1 to 10000\n");
        return 2;
    }
    env = getenv("NOX_LOAD_SEED");
    seed = env && *env ? (uint64_t)nox_test_parse_long(env) : (uint64_t)time(NULL);
    if (!seed)
        seed = 1;
    crc_init();
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_load, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
