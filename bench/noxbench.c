/* SPDX-License-Identifier: MIT */
/* noxbench: measures what docs/performance.md promises, and prints numbers.
 *
 * Every ratio is against a floor measured in the same run on the same
 * machine (posix_spawn of /bin/true with stdout/stderr pipes), so a loaded
 * or slow machine moves both sides. Nothing here passes or fails on time:
 * the "target" column says whether this run met the goal, for a person to
 * read. --quick shrinks every row so CI can check that it runs.
 *
 *   noxbench [--quick] [--iterations N] [--sandboxes N] [--mib N]
 *            [--server PATH] [--only ROWS] [--keep-going]
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <noxrunner/noxrunner.h>

extern char **environ;

#define NOX_MAX_INT(a, b) ((a) > (b) ? (a) : (b))
#define NOX_MIN_INT(a, b) ((a) < (b) ? (a) : (b))

/* ---- options and output ---- */

static struct {
    bool quick;
    int iterations;
    int sandboxes;
    int mib;
    const char *server;
    const char *only;
    char *state;
} opt;

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "noxbench: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

static bool wanted(const char *row)
{
    if (!opt.only)
        return true;
    const char *p = strstr(opt.only, row);
    size_t n = strlen(row);
    return p && (p == opt.only || p[-1] == ',') && (p[n] == '\0' || p[n] == ',');
}

typedef struct samples {
    double *v;
    size_t n, cap;
    double wall_ms; /* total time, for ops/s */
} samples;

static void add(samples *s, double v)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 256;
        s->v = realloc(s->v, s->cap * sizeof *s->v);
        if (!s->v)
            die("out of memory");
    }
    s->v[s->n++] = v;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(samples *s, double p)
{
    if (!s->n)
        return NAN;
    qsort(s->v, s->n, sizeof *s->v, cmp_double);
    size_t i = (size_t)(p * (double)(s->n - 1) + 0.5);
    return s->v[i];
}

static void header(void)
{
    printf("%-44s %9s %9s %9s %10s %8s  %s\n", "what", "min ms", "p50 ms", "p99 ms", "ops/s",
           "ratio", "target");
}

/* One latency row; @p ratio_to is the floor's p50 (0 for none). */
static void row(const char *what, samples *s, double ratio_to, const char *target, bool met)
{
    double p50 = pct(s, 0.5), p99 = pct(s, 0.99), mn = pct(s, 0.0);
    double ops = s->wall_ms > 0 ? (double)s->n / (s->wall_ms / 1000.0) : 1000.0 / p50;
    char ratio[32] = "";
    if (ratio_to > 0)
        snprintf(ratio, sizeof ratio, "%.2fx", p50 / ratio_to);
    printf("%-44s %9.3f %9.3f %9.3f %10.0f %8s  %s %s\n", what, mn, p50, p99, ops, ratio,
           target ? target : "", target ? (met ? "(met)" : "(NOT met)") : "");
    fflush(stdout);
}

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("    ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    fflush(stdout);
}

/* The file system type of @p path, as /proc/self/mounts names it (the
 * longest mount point that is a prefix of the path). */
static const char *fs_type(const char *path)
{
    static char best_type[64] = "unknown";
    size_t best = 0;
    FILE *f = fopen("/proc/self/mounts", "re");
    char dev[512], dir[512], type[64];
    while (f && fscanf(f, "%511s %511s %63s %*[^\n]", dev, dir, type) == 3) {
        size_t n = strlen(dir);
        bool under = strncmp(path, dir, n) == 0 && (path[n] == '/' || path[n] == '\0' || n == 1);
        if (under && n >= best) {
            best = n;
            snprintf(best_type, sizeof best_type, "%s", type);
        }
    }
    if (f)
        fclose(f);
    return best_type;
}

/* ---- the floor ---- */

static double spawn_true_once(void)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        die("pipe: %s", strerror(errno));
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, p[1], 1);
    posix_spawn_file_actions_adddup2(&fa, p[1], 2);
    char *argv[] = { (char *)"true", NULL };
    double t0 = now_ms();
    pid_t pid;
    if (posix_spawn(&pid, "/bin/true", &fa, NULL, argv, environ) != 0)
        die("posix_spawn /bin/true failed");
    close(p[1]);
    char b[64];
    while (read(p[0], b, sizeof b) > 0)
        ;
    waitpid(pid, NULL, 0);
    double t = now_ms() - t0;
    close(p[0]);
    posix_spawn_file_actions_destroy(&fa);
    return t;
}

static double floor_p50;

/* @p n spawns of /bin/true after 20 unmeasured ones. */
static void measure_floor(samples *s, int n)
{
    for (int i = 0; i < 20; i++)
        spawn_true_once();
    double t0 = now_ms();
    for (int i = 0; i < n; i++)
        add(s, spawn_true_once());
    s->wall_ms = now_ms() - t0;
}

static void bench_floor(void)
{
    samples s = { 0 };
    measure_floor(&s, opt.iterations);
    floor_p50 = pct(&s, 0.5);
    row("floor: posix_spawn /bin/true + pipes", &s, 0, NULL, true);
    free(s.v);
}

/* ---- clients, the server ---- */

/* nox_client_options.spare_launchers of the local clients made next. */
static unsigned spare_launchers;

static nox_client *client_for(const char *base_url)
{
    nox_client_options o;
    nox_client_options_init(&o);
    if (base_url)
        o.base_url = base_url;
    else
        o.local = true;
    o.spare_launchers = spare_launchers;
    o.state_dir = opt.state;
    o.limits.max_pids = 4096;
    nox_error *err = nox_error_new();
    nox_client *c = NULL;
    if (nox_client_new(&o, &c, err) != 0)
        die("client: %s", nox_error_message(err));
    nox_error_free(err);
    return c;
}

static void must(int r, nox_error *err, const char *what)
{
    if (r != 0)
        die("%s: %s", what, nox_error_message(err));
}

static void create(nox_client *c, const char *id)
{
    nox_error *err = nox_error_new();
    must(nox_create(c, id, NULL, NULL, err), err, id);
    nox_error_free(err);
}

static double exec_true_once(nox_client *c, const char *id)
{
    const char *argv[] = { "true", NULL };
    nox_error *err = nox_error_new();
    nox_exec_result *res = NULL;
    double t0 = now_ms();
    must(nox_exec(c, id, argv, NULL, &res, err), err, "exec true");
    double t = now_ms() - t0;
    if (res->exit_code != 0)
        die("exec true exited with %d", res->exit_code);
    nox_exec_result_free(res);
    nox_error_free(err);
    return t;
}

static pid_t server_pid = -1;
static char server_url[128];

static long proc_status_kb(pid_t pid, const char *field)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "re");
    long v = -1;
    size_t fl = strlen(field);
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, field, fl) == 0 && line[fl] == ':')
            v = strtol(line + fl + 1, NULL, 10);
    if (f)
        fclose(f);
    return v;
}

static bool start_server(void)
{
    if (server_pid > 0)
        return true;
    if (access(opt.server, X_OK) != 0) {
        note("skipped, because the server `%s` is not built", opt.server);
        return false;
    }
    char portfile[4096];
    snprintf(portfile, sizeof portfile, "%s/port", opt.state);
    unlink(portfile);
    char *argv[] = { (char *)"noxrunnerd",
                     (char *)"--listen",
                     (char *)"127.0.0.1:0",
                     (char *)"--port-file",
                     portfile,
                     (char *)"--state-dir",
                     opt.state,
                     (char *)"--log-level",
                     (char *)"error",
                     NULL };
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    if (posix_spawn(&server_pid, opt.server, &fa, NULL, argv, environ) != 0)
        die("start %s", opt.server);
    posix_spawn_file_actions_destroy(&fa);
    for (int i = 0; i < 200; i++) {
        FILE *f = fopen(portfile, "re");
        int port = 0;
        if (f) {
            if (fscanf(f, "%d", &port) != 1)
                port = 0;
            fclose(f);
        }
        if (port > 0) {
            snprintf(server_url, sizeof server_url, "http://127.0.0.1:%d", port);
            return true;
        }
        if (waitpid(server_pid, NULL, WNOHANG) == server_pid) {
            server_pid = -1;
            note("skipped, because `%s` exited at start", opt.server);
            return false;
        }
        usleep(50000);
    }
    die("noxrunnerd did not write its port within 10 s");
}

static void stop_server(void)
{
    if (server_pid <= 0)
        return;
    kill(server_pid, SIGTERM);
    waitpid(server_pid, NULL, 0);
    server_pid = -1;
}

/* ---- exec latency rows ---- */

static double local_p50;

static void bench_exec(const char *what, const char *base_url, double target_ratio)
{
    nox_client *c = client_for(base_url);
    const char *id = base_url ? "bench-http" : "bench-local";
    create(c, id);
    for (int i = 0; i < 20; i++)
        exec_true_once(c, id);
    samples s = { 0 };
    double t0 = now_ms();
    for (int i = 0; i < opt.iterations; i++)
        add(&s, exec_true_once(c, id));
    s.wall_ms = now_ms() - t0;
    double p50 = pct(&s, 0.5), p99 = pct(&s, 0.99);
    if (!base_url)
        local_p50 = p50;
    char target[64];
    snprintf(target, sizeof target, "<= %.1fx floor", target_ratio);
    row(what, &s, floor_p50, target, p50 <= target_ratio * floor_p50);
    note("p99 is %.2fx its own p50 (target <= 3x: %s)", p99 / p50,
         p99 <= 3 * p50 ? "met" : "NOT met");
    nox_delete(c, id, NULL);
    nox_client_free(c);
    free(s.v);
}

/* Creates a sandbox and runs `true` in it, timed, then deletes it,
 * over and over. @p gap_ms: an untimed pause after each delete, as a
 * service has between users; 0 is the worst case for spares, whose
 * replacement is made while the next create runs. */
static void bench_first_command(const char *what, const char *base_url, int gap_ms)
{
    nox_client *c = client_for(base_url);
    samples s = { 0 };
    int n = opt.quick ? 5 : NOX_MAX_INT(opt.iterations / 5, 20);
    double wall = 0;
    for (int i = 0; i < n; i++) {
        char id[32];
        snprintf(id, sizeof id, "bench-ttfc-%d", i);
        double a = now_ms();
        create(c, id);
        exec_true_once(c, id);
        double t = now_ms() - a;
        add(&s, t);
        wall += t;
        nox_delete(c, id, NULL);
        if (gap_ms > 0) {
            struct timespec ts = { gap_ms / 1000, (long)(gap_ms % 1000) * 1000000L };
            nanosleep(&ts, NULL);
        }
    }
    s.wall_ms = wall;
    row(what, &s, floor_p50, "<= 4x floor", pct(&s, 0.5) <= 4 * floor_p50);
    nox_client_free(c);
    free(s.v);
}

/* ---- concurrency ---- */

typedef struct worker {
    pthread_t t;
    nox_client *c;
    char id[32];
    volatile int *stop;
    long count;
} worker;

static void *spawn_worker(void *arg)
{
    worker *w = arg;
    while (!*w->stop) {
        spawn_true_once();
        w->count++;
    }
    return NULL;
}

static void *exec_worker(void *arg)
{
    worker *w = arg;
    while (!*w->stop) {
        exec_true_once(w->c, w->id);
        w->count++;
    }
    return NULL;
}

static double run_workers(worker *ws, int n, void *(*fn)(void *), double seconds)
{
    volatile int stop = 0;
    for (int i = 0; i < n; i++) {
        ws[i].stop = &stop;
        ws[i].count = 0;
        if (pthread_create(&ws[i].t, NULL, fn, &ws[i]) != 0)
            die("pthread_create");
    }
    double t0 = now_ms();
    usleep((useconds_t)(seconds * 1e6));
    stop = 1;
    long total = 0;
    for (int i = 0; i < n; i++) {
        pthread_join(ws[i].t, NULL);
        total += ws[i].count;
    }
    return (double)total / ((now_ms() - t0) / 1000.0);
}

static void bench_concurrency(const char *base_url)
{
    int cores = (int)sysconf(_SC_NPROCESSORS_ONLN);
    double secs = opt.quick ? 1.0 : 5.0;
    worker sp[64];
    int nsp = cores < 64 ? cores : 64;
    memset(sp, 0, sizeof sp);
    double spawn_rate = run_workers(sp, nsp, spawn_worker, secs);
    enum { N = 16 };
    worker ws[N];
    memset(ws, 0, sizeof ws);
    for (int i = 0; i < N; i++) {
        ws[i].c = client_for(base_url);
        snprintf(ws[i].id, sizeof ws[i].id, "bench-conc-%d", i);
        create(ws[i].c, ws[i].id);
        exec_true_once(ws[i].c, ws[i].id);
    }
    double exec_rate = run_workers(ws, N, exec_worker, secs);
    double ratio = exec_rate / spawn_rate;
    printf("%-44s %9s %9s %9s %10.0f %7.0f%%  >= 70%% of spawn rate %s\n",
           base_url ? "16 clients x 16 sandboxes, via noxrunnerd"
                    : "16 clients x 16 sandboxes, local",
           "", "", "", exec_rate, ratio * 100, ratio >= 0.7 ? "(met)" : "(NOT met)");
    note("machine spawn rate on %d cores: %.0f/s (posix_spawn of /bin/true, %d threads)", cores,
         spawn_rate, nsp);
    for (int i = 0; i < N; i++) {
        nox_delete(ws[i].c, ws[i].id, NULL);
        nox_client_free(ws[i].c);
    }
}

/* ---- transfers ---- */

/* Runs a program, returns its stdout (first line) as a number. */
static double run_for_number(char *const argv[])
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        die("pipe");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, p[1], 1);
    pid_t pid;
    if (posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ) != 0)
        die("run %s", argv[0]);
    posix_spawn_file_actions_destroy(&fa);
    close(p[1]);
    /* All of its output, to the end: closing early would cut the program
     * off with EPIPE. */
    char buf[256];
    size_t n = 0;
    for (;;) {
        ssize_t k = read(p[0], buf + n, sizeof buf - 1 - n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        n += (size_t)k;
        if (n == sizeof buf - 1)
            n = 0; /* only the last line matters */
    }
    close(p[0]);
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (n == 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return NAN;
    buf[n] = '\0';
    return strtod(buf, NULL);
}

/* Text that compresses like source code and logs: words from a fixed
 * vocabulary, deterministic. */
static const char make_text_py[] =
    "import random, sys, os\n"
    "random.seed(7)\n"
    "words = [''.join(random.choice('abcdefghijklmnopqrstuvwxyz_') for _ in "
    "range(random.randint(2, 12))) for _ in range(5000)]\n"
    "d, mib = sys.argv[1], int(sys.argv[2])\n"
    "os.makedirs(d, exist_ok=True)\n"
    "for i in range(mib):\n"
    "    out = []\n"
    "    n = 0\n"
    "    while n < 1 << 20:\n"
    "        line = ' '.join(random.choice(words) for _ in range(10)) + '\\n'\n"
    "        out.append(line); n += len(line)\n"
    "    open(os.path.join(d, 'f%03d.txt' % i), 'w').write(''.join(out)[:1 << 20])\n";

/* What the reference's local mode does for a download, measured here: a
 * tar.gz at gzip level 9 built whole in memory (Python's tarfile). */
static const char ref_pack_py[] =
    "import io, sys, tarfile, time\n"
    "t = time.monotonic()\n"
    "b = io.BytesIO()\n"
    "with tarfile.open(fileobj=b, mode='w:gz', compresslevel=9) as tf:\n"
    "    tf.add(sys.argv[1], arcname='.')\n"
    "data = b.getvalue()\n"
    "print(int(sys.argv[2]) / (time.monotonic() - t))\n";

/* ... and for an upload: the same archive unpacked from memory. */
static const char ref_unpack_py[] =
    "import io, sys, tarfile, time, tempfile\n"
    "b = io.BytesIO()\n"
    "with tarfile.open(fileobj=b, mode='w:gz', compresslevel=9) as tf:\n"
    "    tf.add(sys.argv[1], arcname='.')\n"
    "t = time.monotonic()\n"
    "with tempfile.TemporaryDirectory() as d:\n"
    "    b2 = io.BytesIO(b.getvalue())\n"
    "    b3 = io.BytesIO(); b3.write(b2.getvalue())\n"
    "    with tarfile.open(fileobj=io.BytesIO(b2.getvalue()), mode='r:gz') as tf:\n"
    "        tf.extractall(d)\n"
    "    print(int(sys.argv[2]) / (time.monotonic() - t))\n";

static long server_rss_reset(void)
{
    /* Resets the peak (VmHWM) to the current RSS (Linux 4.0+). */
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/clear_refs", (int)server_pid);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (write(fd, "5", 1) != 1)
            note("could not reset the server's peak RSS");
        close(fd);
    }
    return proc_status_kb(server_pid, "VmRSS");
}

static void bench_transfers(void)
{
    if (!start_server())
        return;
    double mib = opt.mib;
    char src[4096];
    snprintf(src, sizeof src, "%s/text", opt.state);
    char mibs[16];
    snprintf(mibs, sizeof mibs, "%d", opt.mib);
    char *gen[] = { (char *)"python3", (char *)"-c", (char *)make_text_py, src, mibs, NULL };
    if (isnan(run_for_number(gen)) && access(src, F_OK) != 0)
        die("python3 could not generate the text");

    char *pack[] = { (char *)"python3", (char *)"-c", (char *)ref_pack_py, src, mibs, NULL };
    char *unpack[] = { (char *)"python3", (char *)"-c", (char *)ref_unpack_py, src, mibs, NULL };
    double ref_down = run_for_number(pack);
    double ref_up = run_for_number(unpack);

    nox_client *c = client_for(server_url);
    nox_error *err = nox_error_new();
    create(c, "bench-xfer");
    long rss0 = server_rss_reset();
    double t0 = now_ms();
    must(nox_upload_dir(c, "bench-xfer", src, "/workspace", err), err, "upload");
    double up = mib / ((now_ms() - t0) / 1000.0);
    long up_growth = proc_status_kb(server_pid, "VmHWM") - rss0;

    rss0 = server_rss_reset();
    nox_stream *st = NULL;
    static char buf[1 << 16];
    uint64_t got = 0;
    t0 = now_ms();
    must(nox_download_open(c, "bench-xfer", "/workspace", &st, err), err, "download");
    for (;;) {
        ssize_t n = nox_stream_read(st, buf, sizeof buf, err);
        if (n < 0)
            die("download: %s", nox_error_message(err));
        if (n == 0)
            break;
        got += (uint64_t)n;
    }
    double down = mib / ((now_ms() - t0) / 1000.0);
    long down_growth = proc_status_kb(server_pid, "VmHWM") - rss0;
    nox_stream_free(st);

    printf("%-44s %9s %9s %9s %8.0f MB/s  >= 6x reference: %.1fx %s\n",
           "download of text via noxrunnerd", "", "", "", down, down / ref_down,
           down / ref_down >= 6 ? "(met)" : "(NOT met)");
    /* The server takes its level from the environment it inherits. */
    const char *level = getenv("NOXRUNNERD_GZIP_LEVEL");
    note("%.0f MiB of text, %.1f MiB compressed (gzip level %s); server peak RSS growth %.1f MiB "
         "(target < 16: %s)",
         mib, (double)got / 1048576.0, level && *level ? level : "1", (double)down_growth / 1024.0,
         down_growth < 16 * 1024 ? "met" : "NOT met");
    printf("%-44s %9s %9s %9s %8.0f MB/s  >= 6x reference: %.1fx %s\n",
           "upload of text via noxrunnerd", "", "", "", up, up / ref_up,
           up / ref_up >= 6 ? "(met)" : "(NOT met)");
    note("server peak RSS growth %.1f MiB (target < 16: %s)", (double)up_growth / 1024.0,
         up_growth < 16 * 1024 ? "met" : "NOT met");
    note("reference (Python tarfile, gzip 9, whole archive in memory, as the reference local "
         "mode does): pack %.0f MB/s, unpack %.0f MB/s, measured now on the same files",
         ref_down, ref_up);
    nox_delete(c, "bench-xfer", NULL);
    nox_client_free(c);
    nox_error_free(err);
}

/* ---- many idle sandboxes ---- */

static long meminfo_kb(const char *field)
{
    FILE *f = fopen("/proc/meminfo", "re");
    char line[256];
    long v = -1;
    size_t fl = strlen(field);
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, field, fl) == 0 && line[fl] == ':')
            v = strtol(line + fl + 1, NULL, 10);
    if (f)
        fclose(f);
    return v;
}

static long holder_pss_kb(const char *id)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/sandboxes/%s/meta.json", opt.state, id);
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    char text[16384];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    char *p = strstr(text, "\"holderPid\":");
    if (!p)
        return -1;
    int pid = atoi(p + strlen("\"holderPid\":"));
    snprintf(path, sizeof path, "/proc/%d/smaps_rollup", pid);
    f = fopen(path, "re");
    long pss = -1;
    char line[256];
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "Pss:", 4) == 0)
            pss = strtol(line + 4, NULL, 10);
    if (f)
        fclose(f);
    return pss;
}

/* Creates sandboxes bench-idle-FIRST, FIRST+STEP, ... below N, one client
 * per thread (the library's threading rule). */
typedef struct creator {
    pthread_t t;
    int first, step, n;
} creator;

static void *create_worker(void *arg)
{
    creator *w = arg;
    nox_client *c = client_for(NULL);
    for (int i = w->first; i < w->n; i += w->step) {
        char id[32];
        snprintf(id, sizeof id, "bench-idle-%d", i);
        create(c, id);
    }
    nox_client_free(c);
    return NULL;
}

static void bench_many(void)
{
    nox_client *c = client_for(NULL);
    int n = opt.sandboxes;
    long avail0 = meminfo_kb("MemAvailable");
    /* One at a time first: the latency of a create. */
    int n_seq = NOX_MAX_INT(1, n / 10);
    double t0 = now_ms();
    for (int i = 0; i < n_seq; i++) {
        char id[32];
        snprintf(id, sizeof id, "bench-idle-%d", i);
        create(c, id);
    }
    double seq_ms = (now_ms() - t0) / n_seq;
    /* The rest from two threads per core, as a service creating sandboxes
     * for many users would; creation waits on the kernel and on the
     * holder's start as much as it computes. */
    int cores = (int)sysconf(_SC_NPROCESSORS_ONLN);
    int nthreads = NOX_MAX_INT(1, NOX_MIN_INT(2 * cores, 16));
    creator cw[16];
    double t1 = now_ms();
    for (int i = 0; i < nthreads; i++) {
        cw[i] = (creator){ .first = n_seq + i, .step = nthreads, .n = n };
        if (pthread_create(&cw[i].t, NULL, create_worker, &cw[i]) != 0)
            die("pthread_create");
    }
    for (int i = 0; i < nthreads; i++)
        pthread_join(cw[i].t, NULL);
    double par_ms = (now_ms() - t1) / NOX_MAX_INT(1, n - n_seq);
    double create_s = (now_ms() - t0) / 1000.0;
    /* Let the page cache and slabs settle a moment. */
    sleep(1);
    long avail1 = meminfo_kb("MemAvailable");
    long pss = 0;
    int counted = 0;
    for (int i = 0; i < n; i += NOX_MAX_INT(1, n / 50)) {
        char id[32];
        snprintf(id, sizeof id, "bench-idle-%d", i);
        long p = holder_pss_kb(id);
        if (p > 0) {
            pss += p;
            counted++;
        }
    }
    double per_kb = (double)(avail0 - avail1) / n;
    printf("%-44s %9s %9s %9s %10.0f %8s  1000 in < 5 s %s\n", "create idle sandboxes (local)", "",
           "", "", n / create_s, "", create_s / n * 1000.0 < 5.0 ? "(met)" : "(NOT met)");
    note("%d sandboxes in %.2f s (1000 at this rate: %.2f s): the first %d one at a time, "
         "%.2f ms each; the rest from %d threads, %.2f ms each",
         n, create_s, create_s / n * 1000.0, n_seq, seq_ms, nthreads, par_ms);
    note("memory per idle sandbox: %.0f KiB of MemAvailable (kernel objects included), holder "
         "PSS %.0f KiB (target < 1024 KiB: %s)",
         per_kb, counted ? (double)pss / counted : -1.0, per_kb < 1024 ? "met" : "NOT met");

    samples s = { 0 };
    unsigned seed = 12345;
    int iters = opt.quick ? 20 : 300;
    double t2 = now_ms();
    for (int i = 0; i < iters; i++) {
        char id[32];
        snprintf(id, sizeof id, "bench-idle-%d", (int)(rand_r(&seed) % (unsigned)n));
        add(&s, exec_true_once(c, id));
    }
    s.wall_ms = now_ms() - t2;
    row("exec true into any of them (local)", &s, floor_p50, "<= 1.2x floor",
        pct(&s, 0.5) <= 1.2 * floor_p50);
    /* The floor itself moves with a thousand more processes on the
     * machine; measured again now, it separates that from our cost. */
    samples f = { 0 };
    measure_floor(&f, iters);
    note("floor measured again with the %d sandboxes alive: p50 %.3f ms (%.2fx the first); "
         "exec into any is %.2fx of it",
         n, pct(&f, 0.5), pct(&f, 0.5) / floor_p50, pct(&s, 0.5) / pct(&f, 0.5));
    free(f.v);
    t0 = now_ms();
    for (int i = 0; i < n; i++) {
        char id[32];
        snprintf(id, sizeof id, "bench-idle-%d", i);
        nox_delete(c, id, NULL);
    }
    note("deleted them in %.2f s", (now_ms() - t0) / 1000.0);
    nox_client_free(c);
    free(s.v);
}

/* ---- main ---- */

static void usage(FILE *f)
{
    fprintf(f, "usage: noxbench [--quick] [--iterations N] [--sandboxes N] [--mib N]\n"
               "                [--server PATH] [--only ROW,ROW...]\n"
               "rows: floor, local, server, ttfc, concurrency, transfers, many, rest\n");
}

static char *sibling(const char *argv0, const char *rel)
{
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return strdup(rel);
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (slash)
        *slash = '\0';
    (void)argv0;
    size_t len = strlen(self) + strlen(rel) + 2;
    char *out = malloc(len);
    snprintf(out, len, "%s/%s", self, rel);
    return out;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "quick", no_argument, NULL, 'q' },
        { "iterations", required_argument, NULL, 'n' },
        { "sandboxes", required_argument, NULL, 's' },
        { "mib", required_argument, NULL, 'm' },
        { "server", required_argument, NULL, 'S' },
        { "only", required_argument, NULL, 'o' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    opt.iterations = 500;
    opt.sandboxes = 1000;
    opt.mib = 50;
    int c;
    while ((c = getopt_long(argc, argv, "qn:s:m:S:o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'q':
            opt.quick = true;
            opt.iterations = 30;
            opt.sandboxes = 20;
            opt.mib = 4;
            break;
        case 'n':
            opt.iterations = atoi(optarg);
            break;
        case 's':
            opt.sandboxes = atoi(optarg);
            break;
        case 'm':
            opt.mib = atoi(optarg);
            break;
        case 'S':
            opt.server = optarg;
            break;
        case 'o':
            opt.only = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (opt.iterations < 5 || opt.sandboxes < 1 || opt.mib < 1)
        die("iterations >= 5, sandboxes >= 1, mib >= 1");
    if (!opt.server)
        opt.server = getenv("NOX_BENCH_SERVER") ? getenv("NOX_BENCH_SERVER")
                                                : sibling(argv[0], "../server/noxrunnerd");
    if (!getenv("NOXRUNNER_INIT")) {
        char *init = sibling(argv[0], "../nox-init");
        if (access(init, X_OK) == 0)
            setenv("NOXRUNNER_INIT", init, 0);
        free(init);
    }
    /* The sandboxes' state directory goes in $TMPDIR (default /tmp): the
     * file system under it is part of what a create costs. */
    const char *tmpdir = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char tmpl[4096];
    snprintf(tmpl, sizeof tmpl, "%s/noxbench-XXXXXX", tmpdir);
    if (!mkdtemp(tmpl))
        die("mkdtemp in %s: %s", tmpdir, strerror(errno));
    opt.state = tmpl;

    struct utsname u;
    uname(&u);
    printf("noxbench: libnoxrunner %s, %s %s, %ld cores, %s%s\n", nox_version(), u.sysname,
           u.release, sysconf(_SC_NPROCESSORS_ONLN), opt.quick ? "quick mode" : "full run",
           opt.quick ? " (numbers too small to mean much)" : "");
    note("state directory %s, on %s", opt.state, fs_type(opt.state));
    header();
    bench_floor();
    if (wanted("local"))
        bench_exec("exec true, embedded local backend", NULL, 1.2);
    if (wanted("server") && start_server()) {
        note("server at rest: %ld KiB resident (target < 10240 KiB: %s)",
             proc_status_kb(server_pid, "VmRSS"),
             proc_status_kb(server_pid, "VmRSS") < 10240 ? "met" : "NOT met");
        bench_exec("exec true, client -> noxrunnerd, keep-alive", server_url, 1.5);
    }
    if (wanted("ttfc")) {
        bench_first_command("create + first exec (local)", NULL, 0);
        spare_launchers = 2;
        bench_first_command("create + first exec (local, 2 spares)", NULL, 0);
        bench_first_command("  the same, 50 ms between sandboxes", NULL, 50);
        spare_launchers = 0;
        if (start_server()) {
            bench_first_command("create + first exec, via noxrunnerd", server_url, 0);
            bench_first_command("  the same, 50 ms between sandboxes", server_url, 50);
        }
    }
    if (wanted("concurrency")) {
        bench_concurrency(NULL);
        if (start_server())
            bench_concurrency(server_url);
    }
    if (wanted("transfers"))
        bench_transfers();
    if (wanted("many"))
        bench_many();
    if (wanted("rest") && server_pid > 0)
        note("server after the run: %ld KiB resident", proc_status_kb(server_pid, "VmRSS"));
    stop_server();
    nox_client *cl = client_for(NULL);
    nox_sandbox_list *list = NULL;
    if (nox_list(cl, &list, NULL) == 0) {
        for (size_t i = 0; i < list->count; i++)
            nox_delete(cl, list->items[i].id, NULL);
        nox_sandbox_list_free(list);
    }
    nox_client_free(cl);
    char *rm[] = { (char *)"rm", (char *)"-rf", opt.state, NULL };
    run_for_number(rm);
    return 0;
}
