/* SPDX-License-Identifier: MIT */
/* noxrunnerd: startup, signals and shutdown.
 *
 * Startup checks everything it can before it listens (options, the
 * backend, isolation), so that a server that says "listening" works.
 * Signals arrive through a signalfd: SIGTERM and SIGINT are blocked in
 * every thread (threads inherit the mask of main, which blocks them before
 * creating any), so no code runs in signal context at all. */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include <noxrunner/noxrunner.h>

#include "check.h"
#include "http.h"
#include "log.h"
#include "net.h"
#include "options.h"
#include "reaper.h"
#include "watch.h"
#include "server.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/* Descriptors inherited without close-on-exec (a test harness's log file,
 * a shell's extra redirections) must reach neither nox-init nor a sandbox.
 * Marked close-on-exec rather than closed: they may be something the
 * invoker expects to stay open (systemd's fd store, say). */
static void cloexec_inherited(void)
{
#ifdef SYS_close_range
    if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
        return;
#endif
    struct rlimit rl;
    int max = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 65536 ? (int)rl.rlim_cur : 65536;
    for (int fd = 3; fd < max; fd++) {
        int flags = fcntl(fd, F_GETFD);
        if (flags >= 0 && !(flags & FD_CLOEXEC))
            fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
    }
}

/* Every connection holds a socket and a state directory descriptor, every
 * exec a few pipes: the soft limit of 1024 is too low for a server. The
 * hard limit is what the administrator allows. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rlim_t want = rl.rlim_max > 65536 ? 65536 : rl.rlim_max;
        if (want > rl.rlim_cur) {
            rl.rlim_cur = want;
            if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
                nxd_debug("cannot raise the open file limit: %s", strerror(errno));
        }
    }
}

static void print_warning(void *userdata, const char *message)
{
    (void)userdata;
    nxd_log_plain("%s", message);
}

static void client_options(const nxd_config *cfg, nox_client_options *o)
{
    nox_client_options_init(o);
    if (cfg->backend_url) {
        o->base_url = cfg->backend_url;
        o->ca_file = cfg->backend_ca_file;
    } else {
        o->local = true;
        o->state_dir = cfg->state_dir;
        o->isolation = cfg->unisolated ? NOX_ISOLATION_NONE : NOX_ISOLATION_REQUIRED;
        /* The reaper sweeps; connections must not each sweep on creation. */
        o->sweep_expired = false;
        o->max_output_bytes = cfg->max_output_bytes;
        o->gzip_level = (int)cfg->gzip_level;
        o->gzip_threads = cfg->gzip_threads;
        o->spare_launchers = cfg->spare_launchers;
        o->limits.max_exec_timeout_seconds = cfg->max_exec_timeout;
        o->limits.max_ttl_seconds = cfg->max_ttl;
        /* Whatever fits in an accepted JSON body must not be refused again
         * by the library for its size. */
        o->limits.max_request_bytes = cfg->max_json_bytes;
    }
}

/* Refuses to start where sandboxes cannot be isolated: better now, with
 * the reason, than on every request. */
static int require_isolation(const nox_client_options *opts)
{
    nox_error *err = nox_error_new();
    nox_preflight_report *rep = NULL;
    int r = nox_preflight(opts, &rep, err);
    if (r < 0) {
        nxd_error("cannot check this host's isolation: %s",
                  err ? nox_error_message(err) : nox_strerror(r));
        nox_error_free(err);
        return -1;
    }
    nox_error_free(err);
    if (!rep->isolation_available) {
        nxd_error("this host cannot run isolated sandboxes:");
        for (size_t i = 0; i < rep->n_checks; i++) {
            const nox_check *c = &rep->checks[i];
            if (c->required && !c->ok)
                nxd_error("  %s: %s%s%s", c->name, c->detail, c->fix ? "; fix: " : "",
                          c->fix ? c->fix : "");
        }
        nxd_error("run `noxrunnerd --check` for the full report; `--unisolated` runs commands "
                  "without isolation (trusted code only)");
        nox_preflight_free(rep);
        return -1;
    }
    for (size_t i = 0; i < rep->n_checks; i++) {
        const nox_check *c = &rep->checks[i];
        if (!c->required && !c->ok)
            nxd_warn("%s: %s (limits fall back to rlimits; see noxrunnerd --check)", c->name,
                     c->detail);
    }
    nxd_debug("isolation available (cgroups %s)", rep->cgroup_version ? rep->cgroup_version : "?");
    nox_preflight_free(rep);
    return 0;
}

/* Writes the port to @p path atomically (a reader never sees half a
 * file): a temporary file next to it, then rename(). */
static int write_port_file(const char *path, unsigned port)
{
    size_t n = strlen(path) + 32;
    char *tmp = malloc(n);
    if (!tmp) {
        nxd_error("out of memory");
        return -1;
    }
    snprintf(tmp, n, "%s.%ld.tmp", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    char text[16];
    int len = snprintf(text, sizeof text, "%u\n", port);
    bool ok = fd >= 0 && write(fd, text, (size_t)len) == len;
    int e = errno;
    if (fd >= 0 && close(fd) < 0 && ok) {
        ok = false;
        e = errno;
    }
    if (ok && rename(tmp, path) < 0) {
        ok = false;
        e = errno;
    }
    if (!ok) {
        nxd_error("cannot write the port file `%s`: %s", path, strerror(e));
        unlink(tmp);
    }
    free(tmp);
    return ok ? 0 : -1;
}

static int setup_signals(sigset_t *mask)
{
    sigemptyset(mask);
    sigaddset(mask, SIGTERM);
    sigaddset(mask, SIGINT);
    /* Blocked here, before any thread exists, so every thread inherits it
     * and the signalfd is the only receiver. */
    int e = pthread_sigmask(SIG_BLOCK, mask, NULL);
    if (e != 0) {
        nxd_error("cannot block signals: %s", strerror(e));
        return -1;
    }
    /* A client that goes away mid-answer, and an upload worker that stops
     * reading its pipe, must be EPIPE, not death. */
    signal(SIGPIPE, SIG_IGN);
    int fd = signalfd(-1, mask, SFD_CLOEXEC);
    if (fd < 0)
        nxd_error("cannot create a signalfd: %s", strerror(errno));
    return fd;
}

/* Waits for the next SIGTERM or SIGINT, or until @p timeout_ms passes (-1:
 * forever). Returns the signal, or 0 on timeout. */
static int wait_signal(int sfd, int timeout_ms)
{
    struct pollfd p = { sfd, POLLIN, 0 };
    int r;
    while ((r = poll(&p, 1, timeout_ms)) < 0 && errno == EINTR)
        ;
    if (r <= 0)
        return 0;
    struct signalfd_siginfo si;
    ssize_t n = read(sfd, &si, sizeof si);
    return n == (ssize_t)sizeof si ? (int)si.ssi_signo : 0;
}

/* Graceful shutdown: no new connections, requests in flight get up to
 * --shutdown-grace seconds, then everything stops. Sandboxes stay on disk:
 * a restarted server finds them all. Returns the exit status. */
static int shut_down(nxd_server *srv, int sfd, int signo, nxd_reaper *reaper)
{
    atomic_store(&srv->shutting_down, true);
    nxd_http_quiesce(srv);
    long busy = nxd_http_in_flight(srv);
    nxd_info("%s received: shutting down; %ld request%s in flight, waiting up to %u s "
             "(signal again to stop now)",
             signo == SIGINT ? "SIGINT" : "SIGTERM", busy, busy == 1 ? "" : "s",
             srv->cfg->shutdown_grace);
    nxd_reaper_stop(reaper);

    int64_t deadline = nxd_now_ns() + (int64_t)srv->cfg->shutdown_grace * 1000000000;
    while (nxd_http_in_flight(srv) > 0) {
        int64_t left_ms = (deadline - nxd_now_ns()) / 1000000;
        if (left_ms <= 0)
            break;
        if (wait_signal(sfd, (int)NXD_MIN(left_ms, 50)) != 0) {
            nxd_info("second signal: stopping now");
            break;
        }
    }
    /* What still runs is cancelled: an exec returns at once and the
     * backend kills its command's process tree. */
    int cancelled = nxd_watch_cancel_all(srv->watch);
    if (cancelled)
        nxd_info("cancelled %d running exec%s", cancelled, cancelled == 1 ? "" : "s");
    /* A thread may be between two library calls for a moment (reading the
     * next chunk of a body, answering a cancelled exec): give it a few
     * tries before concluding that one is stuck in a call that will not
     * return soon. */
    for (int attempt = 0; attempt < 200; attempt++) {
        if (nxd_http_stop(srv)) {
            nxd_info("stopped");
            return 0;
        }
        struct timespec ts = { 0, 10 * 1000000 };
        nanosleep(&ts, NULL);
    }
    /* libmicrohttpd joins every connection thread when it stops, and a
     * thread inside nox_exec() returns only when the command does: leave
     * without waiting. The sandboxes, and commands in them, live on. */
    nxd_warn("%ld request%s still running after the grace period (a long exec?); exiting "
             "without waiting for %s. Sandboxes are left as they are.",
             nxd_http_in_flight(srv), nxd_http_in_flight(srv) == 1 ? " is" : "s are",
             nxd_http_in_flight(srv) == 1 ? "it" : "them");
    _exit(0);
}

int main(int argc, char **argv)
{
    nxd_config cfg;
    switch (nxd_options_parse(argc, argv, &cfg)) {
    case NXD_PARSE_RUN:
        break;
    case NXD_PARSE_EXIT_OK:
        nxd_options_free(&cfg);
        return 0;
    case NXD_PARSE_EXIT_USAGE:
        nxd_options_free(&cfg);
        return 2;
    }
    nxd_log_set_level(cfg.log_level);
    cloexec_inherited();

    nxd_server srv;
    memset(&srv, 0, sizeof srv);
    srv.cfg = &cfg;
    srv.listen_fd = -1;
    client_options(&cfg, &srv.client_opts);

    if (cfg.check) {
        int rc = nxd_check_run(&cfg, &srv.client_opts);
        nxd_options_free(&cfg);
        return rc;
    }

    sigset_t mask;
    int sfd = setup_signals(&mask);
    if (sfd < 0) {
        nxd_options_free(&cfg);
        return 1;
    }
    raise_fd_limit();

    int rc = 1;
    nxd_reaper *reaper = NULL;
    nxd_listener lis = { .fd = -1 };

    /* One client made now proves the options and the backend; in local
     * mode it becomes the reaper's. It prints the unisolated warning. */
    nox_client_options startup = srv.client_opts;
    startup.on_warning = print_warning;
    nox_client *client = NULL;
    nox_error *err = nox_error_new();
    if (nox_client_new(&startup, &client, err) < 0) {
        nxd_error("cannot use the %s: %s", cfg.backend_url ? "backend" : "local backend",
                  err ? nox_error_message(err) : "out of memory");
        goto out;
    }
    /* A state directory that is there but cannot be written (remounted
     * read-only, another owner's permissions) opens fine and then fails
     * every create: refuse now, with the reason, rather than listen. */
    if (!cfg.backend_url && !nox_health(client, err)) {
        nxd_error("cannot use the local backend: %s", nox_error_message(err));
        goto out;
    }
    if (!cfg.backend_url && !cfg.unisolated && require_isolation(&srv.client_opts) < 0)
        goto out;

    if (nxd_listen(cfg.host, cfg.port, &lis) < 0)
        goto out;
    srv.listen_fd = lis.fd;
    if (!lis.loopback)
        nxd_warn("listening on %s, which is reachable from other machines: anyone who can "
                 "connect can run code in sandboxes, and there is no authentication. Put a "
                 "firewall or an authenticating proxy in front.",
                 lis.url);
    int we = nxd_watch_start(&srv.watch);
    if (we < 0) {
        nxd_error("cannot start the connection watcher: %s", strerror(-we));
        goto out;
    }
    if (nxd_http_start(&srv) < 0)
        goto out;

    if (cfg.backend_url) {
        nxd_info("gateway to %s (expiry is the backend's business: no reaper here)",
                 nox_client_location(client));
        nox_client_free(client);
        client = NULL;
    } else {
        nxd_info("sandboxes in %s, %s", nox_client_location(client),
                 cfg.unisolated ? "UNISOLATED" : "isolated");
        int e = nxd_reaper_start(client, cfg.reap_interval, &reaper);
        client = NULL; /* the reaper's now, even on failure */
        if (e != 0) {
            nxd_error("cannot start the expiry reaper: %s", strerror(e));
            goto out_stop;
        }
    }
    if (cfg.port_file && write_port_file(cfg.port_file, lis.port) < 0)
        goto out_stop;
    nxd_log_plain("listening on %s", lis.url);

    int signo;
    while ((signo = wait_signal(sfd, -1)) == 0)
        ;
    rc = shut_down(&srv, sfd, signo, reaper);
    reaper = NULL;
    goto out;

out_stop:
    nxd_reaper_stop(reaper);
    reaper = NULL;
    nxd_http_stop(&srv);
out:
    nxd_watch_stop(srv.watch);
    nox_client_free(client);
    nox_error_free(err);
    if (lis.fd >= 0)
        close(lis.fd);
    close(sfd);
    nxd_options_free(&cfg);
    return rc;
}
