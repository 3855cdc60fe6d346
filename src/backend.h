/* SPDX-License-Identifier: MIT */
/* The backend interface: what the client facade calls. The facade has
 * already checked ids, argv, shells and paths, and filled option defaults,
 * so backends receive valid, complete arguments. */
#ifndef NOX_BACKEND_H
#define NOX_BACKEND_H

#include <noxrunner/noxrunner.h>
#include <signal.h>

#include "stream.h"

typedef struct nox_backend nox_backend;

typedef struct nox_backend_ops {
    const char *name;
    /* 1 healthy, 0 not (with @p err saying why); never negative. */
    int (*health)(nox_backend *b, nox_error *err);
    int (*create)(nox_backend *b, const char *id, const nox_create_options *opts,
                  nox_sandbox **ret_sb, nox_error *err);
    int (*touch)(nox_backend *b, const char *id, nox_error *err);
    int (*exec)(nox_backend *b, const char *id, const char *const *argv,
                const nox_exec_options *opts, nox_exec_result **ret_res, nox_error *err);
    /* Consumes @p archive (a tar.gz stream); the caller frees it. */
    int (*upload)(nox_backend *b, const char *id, const char *dest, nox_source *archive,
                  nox_error *err);
    int (*download_open)(nox_backend *b, const char *id, const char *src, nox_source **ret_src,
                         nox_error *err);
    int (*remove)(nox_backend *b, const char *id, nox_error *err);
    int (*list)(nox_backend *b, nox_sandbox_list **ret_list, nox_error *err);
    int (*info)(nox_backend *b, const char *id, nox_sandbox **ret_sb, nox_error *err);
    int (*reap)(nox_backend *b, size_t *ret_count, nox_error *err);
    void (*free)(nox_backend *b);
} nox_backend_ops;

struct nox_backend {
    const nox_backend_ops *ops;
    /* The client's options, owned by the client (strings included). */
    const nox_client_options *opts;
    /* Set by the facade before each transfer; backends that stream over a
     * network may report progress themselves (NULL when none). */
    nox_progress_fn progress;
    void *progress_userdata;
    /* What nox_client_location() shows: the base URL or the state dir. */
    const char *location;
    /* Cancellation (nox_client_cancel): the flag, and the read end of a
     * pipe that becomes readable, for poll loops. Owned by the client. */
    volatile sig_atomic_t *cancelled;
    int cancel_fd;
};

/* True once nox_client_cancel() was called during this operation. */
static inline bool nox__cancelled(const nox_backend *b)
{
    return b->cancelled && *b->cancelled;
}

int nox__local_backend_new(const nox_client_options *opts, nox_backend **ret_b,
                           nox_error *err) NOX_HIDDEN;
int nox__http_backend_new(const nox_client_options *opts, nox_backend **ret_b,
                          nox_error *err) NOX_HIDDEN;

/* Session id rules shared by every layer (see nox_session_id_valid). */
#define NOX_SESSION_ID_MAX 128

/* Most spare nox-init launchers (nox_client_options.spare_launchers). */
#define NOX_MAX_SPARE_LAUNCHERS 16
int nox__check_session_id(const char *id, nox_error *err) NOX_HIDDEN;

/* Sandbox paths: normalises @p path ("/workspace", "/workspace/a",
 * "a/b", NULL) to a path relative to /workspace ("", "a", "a/b"), refusing
 * anything outside /workspace, ".." components and NUL bytes.
 * @p what names the parameter in messages ("dest", "src"). */
int nox__workspace_relpath(const char *path, const char *what, char **ret_rel,
                           nox_error *err) NOX_HIDDEN;

/* Fills zero fields with the documented defaults. */
void nox__local_limits_fill(nox_local_limits *l) NOX_HIDDEN;

/* Result helpers shared by backends and the wire module. */
nox_exec_result *nox__exec_result_new(void) NOX_HIDDEN;
nox_sandbox *nox__sandbox_new(void) NOX_HIDDEN;
/* Releases the members of @p sb but not @p sb itself. */
void nox__sandbox_clear(nox_sandbox *sb) NOX_HIDDEN;
/* Appends a limit to @p sb (strings copied; NULL allowed). */
int nox__sandbox_add_limit(nox_sandbox *sb, const char *name, const char *requested, uint64_t value,
                           bool enforced, const char *mechanism, const char *reason) NOX_HIDDEN;

#endif
