/* SPDX-License-Identifier: MIT */
/* Concurrent sessions from threads, and cancelling a long exec.
 *
 * The threading rule of libnoxrunner: a client is used by one thread at a
 * time, so parallel work takes one client per thread (clients are cheap).
 * Here N threads each make their own client and their own sandbox, run a
 * few commands in it at the same time as the others, and delete it; the
 * main thread joins them and reports.
 *
 * Then nox_client_cancel(), the one call that may be made on a client from
 * another thread (or a signal handler): a worker runs `sleep 60`, and the
 * main thread stops it. The exec returns NOX_E_CANCELLED at once and the
 * command's whole process tree is killed.
 *
 * Build against the installed library:
 *
 *   cc threads.c $(pkg-config --cflags --libs noxrunner) -pthread -o threads
 *   ./threads                          # local sandboxes, no server
 *   ./threads http://127.0.0.1:8080    # the same through noxrunnerd
 */
#ifndef _XOPEN_SOURCE
#define _XOPEN_SOURCE 700
#endif
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <noxrunner/noxrunner.h>

enum { N_THREADS = 4, N_COMMANDS = 3 };

static const char *base_url; /* NULL: the local backend */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* A client of its own for the calling thread. */
static nox_client *new_client(nox_error *err)
{
    nox_client_options opts;
    nox_client_options_init(&opts);
    if (base_url)
        opts.base_url = base_url;
    else
        opts.local = true;
    nox_client *c = NULL;
    return nox_client_new(&opts, &c, err) == 0 ? c : NULL;
}

/* What one worker did, read by main after pthread_join(). */
typedef struct worker {
    int index;
    char id[64];
    bool ok;
    int commands;
    int64_t elapsed_ms;
    char message[256];
} worker;

static void *session(void *arg)
{
    worker *w = arg;
    int64_t t0 = now_ms();
    nox_error *err = nox_error_new(); /* error objects are per thread too */
    nox_client *c = err ? new_client(err) : NULL;
    if (!c) {
        snprintf(w->message, sizeof w->message, "client: %s", nox_error_message(err));
        nox_error_free(err);
        return NULL;
    }
    bool created = nox_create(c, w->id, NULL, NULL, err) == 0;
    if (!created)
        snprintf(w->message, sizeof w->message, "create: %s", nox_error_message(err));
    for (int i = 0; created && i < N_COMMANDS; i++) {
        /* Each sandbox computes something of its own, in its own files. */
        char cmd[128];
        snprintf(cmd, sizeof cmd, "echo %d >> log; python3 -c 'print(%d ** 2)'; sleep 0.2",
                 w->index * 10 + i, w->index * 10 + i);
        nox_exec_result *res = NULL;
        if (nox_exec_shell(c, w->id, cmd, "sh", NULL, &res, err) != 0) {
            snprintf(w->message, sizeof w->message, "exec: %s", nox_error_message(err));
            break;
        }
        int want = (w->index * 10 + i) * (w->index * 10 + i);
        if (res->exit_code == 0 && atoi(res->stdout_data) == want)
            w->commands++;
        else
            snprintf(w->message, sizeof w->message, "command %d: exit %d, output `%s`", i,
                     res->exit_code, res->stdout_data);
        nox_exec_result_free(res);
    }
    if (created && nox_delete(c, w->id, err) != 0 && !w->message[0])
        snprintf(w->message, sizeof w->message, "delete: %s", nox_error_message(err));
    w->ok = w->commands == N_COMMANDS && !w->message[0];
    w->elapsed_ms = now_ms() - t0;
    nox_client_free(c);
    nox_error_free(err);
    return NULL;
}

/* ---- cancel ---- */

typedef struct long_exec {
    nox_client *client; /* used by the worker; main only cancels it */
    const char *id;
    atomic_bool done;
    int rc;
    int64_t elapsed_ms;
    char message[256];
} long_exec;

static void *run_long(void *arg)
{
    long_exec *le = arg;
    nox_error *err = nox_error_new();
    const char *argv[] = { "sh", "-c", "sleep 60; echo never", NULL };
    nox_exec_options eo;
    nox_exec_options_init(&eo);
    eo.timeout_seconds = 120;
    nox_exec_result *res = NULL;
    int64_t t0 = now_ms();
    le->rc = nox_exec(le->client, le->id, argv, &eo, &res, err);
    le->elapsed_ms = now_ms() - t0;
    snprintf(le->message, sizeof le->message, "%s", nox_error_message(err));
    nox_exec_result_free(res);
    nox_error_free(err);
    atomic_store(&le->done, true);
    return NULL;
}

/* Is a `sleep 60` still running in the sandbox? Its own pid namespace
 * shows only the sandbox's processes. */
static int sleep_still_running(nox_client *c, const char *id, nox_error *err)
{
    nox_exec_result *res = NULL;
    if (nox_exec_shell(c, id, "cat /proc/[0-9]*/cmdline | tr '\\0' ' '", NULL, NULL, &res, err) !=
        0)
        return -1;
    int found = strstr(res->stdout_data, "sleep 60") != NULL;
    nox_exec_result_free(res);
    return found;
}

static int demo_cancel(void)
{
    nox_error *err = nox_error_new();
    nox_client *c = err ? new_client(err) : NULL;
    if (!c) {
        fprintf(stderr, "threads: client: %s\n", nox_error_message(err));
        nox_error_free(err);
        return 1;
    }
    char id[64];
    snprintf(id, sizeof id, "threads-%ld-cancel", (long)getpid());
    if (nox_create(c, id, NULL, NULL, err) != 0) {
        fprintf(stderr, "threads: create %s: %s\n", id, nox_error_message(err));
        nox_client_free(c);
        nox_error_free(err);
        return 1;
    }

    long_exec le = { .client = c, .id = id };
    atomic_init(&le.done, false);
    pthread_t t;
    int status = 1;
    if (pthread_create(&t, NULL, run_long, &le) != 0) {
        perror("threads: pthread_create");
        goto out;
    }
    /* A cancel that arrives before the exec has started is forgotten when
     * it starts; nox_client_cancel() says whether it hit a running call, so
     * cancel until it does. */
    sleep_ms(200);
    while (!nox_client_cancel(c) && !atomic_load(&le.done))
        sleep_ms(10);
    pthread_join(t, NULL);
    printf("cancel: exec returned %s after %lld ms: %s\n", nox_strerror(le.rc),
           (long long)le.elapsed_ms, le.message);
    if (le.rc != NOX_E_CANCELLED || le.elapsed_ms > 30000) {
        fprintf(stderr, "threads: expected NOX_E_CANCELLED well before 60 s\n");
        goto out;
    }
    /* The client works again for the next call (the worker is done with
     * it, so this thread may use it now), and the tree is gone. Over http
     * the server kills it when it sees the connection close, so look a
     * few times. */
    int running = 1;
    for (int i = 0; i < 50 && running == 1; i++) {
        running = sleep_still_running(c, id, err);
        if (running == 1)
            sleep_ms(100);
    }
    if (running != 0) {
        fprintf(stderr, "threads: %s\n",
                running < 0 ? nox_error_message(err) : "`sleep 60` survived the cancel");
        goto out;
    }
    printf("cancel: `sleep 60` is gone from sandbox %s\n", id);
    status = 0;
out:
    if (nox_delete(c, id, err) != 0) {
        fprintf(stderr, "threads: delete %s: %s\n", id, nox_error_message(err));
        status = 1;
    }
    nox_client_free(c);
    nox_error_free(err);
    return status;
}

int main(int argc, char **argv)
{
    if (argc > 1)
        base_url = argv[1];

    worker w[N_THREADS];
    pthread_t t[N_THREADS];
    int64_t t0 = now_ms();
    int started = 0;
    for (int i = 0; i < N_THREADS; i++) {
        w[i] = (worker){ .index = i };
        snprintf(w[i].id, sizeof w[i].id, "threads-%ld-%d", (long)getpid(), i);
        if (pthread_create(&t[i], NULL, session, &w[i]) != 0) {
            perror("threads: pthread_create");
            break;
        }
        started++;
    }
    int failed = started < N_THREADS;
    for (int i = 0; i < started; i++) {
        pthread_join(t[i], NULL);
        printf("thread %d: sandbox %s, %d/%d commands ok in %lld ms%s%s\n", i, w[i].id,
               w[i].commands, N_COMMANDS, (long long)w[i].elapsed_ms, w[i].ok ? "" : ": ",
               w[i].message);
        failed |= !w[i].ok;
    }
    /* Each command sleeps 0.2 s: serially these would take at least
     * N_THREADS * N_COMMANDS * 0.2 s. */
    printf("%d sessions in %lld ms\n", started, (long long)(now_ms() - t0));

    failed |= demo_cancel();
    return failed ? 1 : 0;
}
