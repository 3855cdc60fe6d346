/* SPDX-License-Identifier: MIT */
/**
 * @file noxrunner.h
 * @brief libnoxrunner: run untrusted code in sandboxes, locally or through any
 *        NoxRunner backend.
 *
 * One client handle (::nox_client), two backends behind it:
 *  - **local** (the embedded default): sandboxes on this machine, no server.
 *    Each sandbox is a directory under a state directory plus, while it runs,
 *    a small holder process that owns its namespaces; commands run isolated
 *    (user, mount, pid, network, ipc, uts and cgroup namespaces, seccomp,
 *    cgroup and rlimit limits). Separate processes see the same sandboxes.
 *  - **http**: any backend that speaks the NoxRunner v1 API (noxrunnerd, or a
 *    production cluster), over libcurl with keep-alive.
 *
 * ## Error contract
 * Every function that can fail returns `int`: 0 (::NOX_OK) on success, or a
 * negative ::nox_code. When the caller passes a non-NULL ::nox_error, it is
 * filled with the code, the HTTP status where there was one, a message naming
 * what failed, and the backend's response body where there was one.
 * Out-parameters (named `ret_*`) are written only on success.
 * The library never prints, logs or exits.
 *
 * ## Ownership
 * Every `*_new()` has a matching `*_free()` that accepts NULL. Results
 * returned through `ret_*` pointers belong to the caller and are released
 * with the `*_free()` named in their documentation. Strings passed in are
 * copied when the library needs them after the call returns.
 *
 * ## Threads
 * The library keeps no global mutable state except what libcurl's global
 * initialisation needs (done once, thread-safely, on first use). A
 * ::nox_client must be used by one thread at a time; use one client per
 * thread for parallel work (clients are cheap). ::nox_error objects are not
 * shared between threads. Functions taking only options (for example
 * nox_preflight()) are safe from any thread.
 *
 * ## Signals and children
 * The local backend never calls fork() in the caller's process: it spawns
 * with posix_spawn (CLONE_VM|CLONE_VFORK), reaps only the children it
 * created, and installs no signal handlers. Sandbox holder processes are
 * detached from the caller (re-parented to init), so a sandbox outlives the
 * process that created it, until it is deleted or expires. A caller that
 * made itself a child subreaper (PR_SET_CHILD_SUBREAPER) becomes their
 * parent instead, and must reap them after they exit.
 *
 * ## The state directory
 * A local client creates its state directory (mode 0700) if needed, refuses
 * one owned by another user, and removes group and other permissions from
 * an existing one: it holds every sandbox's files and control socket.
 *
 * ## ABI
 * The option records may gain fields at their end in later versions; such
 * a change comes with a new soname. Always initialise them with their
 * `*_init()` function.
 */
#ifndef NOXRUNNER_NOXRUNNER_H
#define NOXRUNNER_NOXRUNNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <noxrunner/version.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Marks a symbol as part of the public ABI (the build hides everything else). */
#if defined(NOX_BUILDING_LIBRARY) && defined(__GNUC__)
#define NOX_PUBLIC __attribute__((visibility("default")))
#else
#define NOX_PUBLIC
#endif

/* ------------------------------------------------------------------------ */
/** @name Version */
/**@{*/

/** The library's version string at run time, e.g. "0.1.0". */
NOX_PUBLIC const char *nox_version(void);

/** The library's version at run time as NOX_VERSION_NUMBER encodes it. */
NOX_PUBLIC unsigned nox_version_number(void);

/**@}*/

/* ------------------------------------------------------------------------ */
/** @name Errors */
/**@{*/

/**
 * Result codes. 0 is success; failures are negative. Codes are append-only:
 * a released code never changes its number or meaning.
 */
typedef enum nox_code {
    /** Success. */
    NOX_OK = 0,
    /** An argument is invalid: a bad session id, option, path or quantity.
     *  Also what an HTTP 400 answer becomes. */
    NOX_E_INVALID = -1,
    /** Out of memory. */
    NOX_E_NOMEM = -2,
    /** No such sandbox (or no such path in it). HTTP 404. */
    NOX_E_NOT_FOUND = -3,
    /** The backend answered with an HTTP status no other code describes;
     *  see nox_error_http_status() and nox_error_body(). */
    NOX_E_HTTP = -4,
    /** Could not connect to the backend: refused, unreachable, DNS, or no
     *  TLS connection (a certificate not accepted, an unusable CA file, a
     *  failed handshake); the message says which. */
    NOX_E_CONNECT = -5,
    /** A request or operation ran past its time limit. */
    NOX_E_TIMEOUT = -6,
    /** The backend's answer was malformed (bad JSON, wrong field types). */
    NOX_E_PROTOCOL = -7,
    /** An archive is invalid or unsafe (`..`, absolute paths, links out,
     *  devices, not gzip). The message names the offending entry. */
    NOX_E_ARCHIVE = -8,
    /** A configured limit was exceeded (body size, entries, output). HTTP 413. */
    NOX_E_LIMIT = -9,
    /** A local file system or system call failed; the message names the path. */
    NOX_E_IO = -10,
    /** The sandbox could not run the command (an execution failure; a server
     *  answers 500, which an http client reports as ::NOX_E_SERVER). */
    NOX_E_EXEC = -11,
    /** The sandbox is not ready yet. HTTP 503. */
    NOX_E_NOT_READY = -12,
    /** The backend does not offer this operation; also an http client when
     *  libcurl (loaded on first use) cannot be loaded. */
    NOX_E_UNSUPPORTED = -13,
    /** Isolation is unavailable on this host and unisolated mode was not
     *  asked for; the message says why and how to fix it. */
    NOX_E_ISOLATION = -14,
    /** A callback asked to stop. */
    NOX_E_CANCELLED = -15,
    /** The connection to the backend broke during a request. */
    NOX_E_NETWORK = -16,
    /** The backend failed (HTTP 500 and other 5xx without a closer code). */
    NOX_E_SERVER = -17,
    /** A bug or an unexpected state inside the library. */
    NOX_E_INTERNAL = -18,
} nox_code;

/** A short, static description of @p code ("not found"). Never NULL. */
NOX_PUBLIC const char *nox_strerror(int code);

/** The name of @p code as in this header ("NOX_E_NOT_FOUND", "NOX_OK"), for
 *  logs and machine-readable output; "NOX_E_UNKNOWN" for codes this
 *  version does not know. Never NULL. */
NOX_PUBLIC const char *nox_code_name(int code);

/** Error details filled by failing calls. Opaque; see the accessors. */
typedef struct nox_error nox_error;

/** A new, empty error object, or NULL when out of memory. */
NOX_PUBLIC nox_error *nox_error_new(void);
/** Frees @p err; NULL is accepted. */
NOX_PUBLIC void nox_error_free(nox_error *err);
/** Empties @p err for reuse; NULL is accepted. */
NOX_PUBLIC void nox_error_clear(nox_error *err);
/** The ::nox_code of the last failure recorded in @p err, 0 when none. */
NOX_PUBLIC int nox_error_code(const nox_error *err);
/** The HTTP status of the backend's answer, 0 when there was none. */
NOX_PUBLIC int nox_error_http_status(const nox_error *err);
/** What failed, in one line. Never NULL ("" when none). Valid until @p err
 *  is cleared, reused or freed. */
NOX_PUBLIC const char *nox_error_message(const nox_error *err);
/** The response body the backend sent with an error answer, or NULL when
 *  there was none. NUL-terminated; its length goes to @p ret_len when that
 *  is non-NULL. Valid until @p err is cleared, reused or freed. */
NOX_PUBLIC const char *nox_error_body(const nox_error *err, size_t *ret_len);

/**@}*/

/* ------------------------------------------------------------------------ */
/** @name Options */
/**@{*/

/** How the local backend isolates commands. A sandbox keeps the mode of
 *  the client that created it: an unisolated client's commands in an
 *  isolated sandbox run isolated. */
typedef enum nox_isolation {
    /** Namespaces, seccomp, cgroups and rlimits; refuse to run
     *  (::NOX_E_ISOLATION) when the host cannot provide namespaces. Default.
     *  Such a client also refuses, with ::NOX_E_ISOLATION, to create
     *  (ensure), exec in or wait for a sandbox that was created unisolated;
     *  touch, upload, download, info, list and delete work on it. */
    NOX_ISOLATION_REQUIRED = 0,
    /** Run commands directly on the host as the calling user, with rlimits
     *  and the seccomp filter only, in the sandbox's workspace directory on
     *  the host (a workdir under /workspace is mapped there; others are
     *  ::NOX_E_INVALID). For hosts without user namespaces, on explicit
     *  request only: nox_client_new() calls the client's warning callback
     *  once, with a message that says so loudly. */
    NOX_ISOLATION_NONE = 1,
} nox_isolation;

/** Limits applied to archives the library extracts (uploads into a local
 *  sandbox, downloads into a local directory). 0 in a field means the
 *  default given. */
typedef struct nox_extract_limits {
    /** Most entries in one archive. Default 100000. */
    uint64_t max_entries;
    /** Largest single entry, in bytes. Default 1 GiB. */
    uint64_t max_entry_bytes;
    /** Most bytes of all entries together. Default 4 GiB. */
    uint64_t max_total_bytes;
    /** Longest entry path, in bytes. Default 4096. */
    uint64_t max_path_bytes;
} nox_extract_limits;

/** Defaults and caps the local backend applies to each sandbox. 0 in a
 *  field means the default given; the server's and CLI's options set these. */
typedef struct nox_local_limits {
    /** Memory per sandbox when the create request names none. Default 512 MiB. */
    uint64_t default_memory_bytes;
    /** CPU per sandbox in millicores when the request names none. Default 1000. */
    uint64_t default_cpu_millis;
    /** Workspace storage per sandbox when the request names none. Default 1 GiB. */
    uint64_t default_storage_bytes;
    /** Most processes (threads included) in one sandbox. Default 512. */
    uint64_t max_pids;
    /** Open files per process (RLIMIT_NOFILE). Default 1024. */
    uint64_t max_open_files;
    /** Size of the sandbox's private /tmp (tmpfs). Default 64 MiB. */
    uint64_t tmp_bytes;
    /** Largest timeoutSeconds an exec may ask for. Default 3600. */
    uint64_t max_exec_timeout_seconds;
    /** Largest ttlSeconds a create may ask for. Default 7 days. */
    uint64_t max_ttl_seconds;
    /** Most bytes of one exec request (argv and env together). Default 1 MiB. */
    uint64_t max_request_bytes;
} nox_local_limits;

/** Receives warnings the client has for a person (for example that commands
 *  run unisolated). Called from the thread that made the call. */
typedef void (*nox_warning_fn)(void *userdata, const char *message);

/**
 * Options for nox_client_new(). Initialise with nox_client_options_init(),
 * then set what you need. Exactly one of @ref base_url and @ref local must be
 * chosen: asking for neither, or both, is ::NOX_E_INVALID.
 */
typedef struct nox_client_options {
    /** http backend: base URL such as "http://127.0.0.1:8080". NULL: none.
     *  The http backend loads libcurl.so.4 when the first such client is
     *  made (NOXRUNNER_LIBCURL names another file); without it,
     *  nox_client_new() fails with ::NOX_E_UNSUPPORTED. */
    const char *base_url;
    /** Use the local backend (sandboxes on this machine, no server). */
    bool local;
    /** http: time limit of one request in milliseconds; exec requests get
     *  their own timeoutSeconds on top. Default 30000. */
    long timeout_ms;
    /** http: a file of CA certificates (PEM) to trust for HTTPS instead of
     *  the system's store; NULL or "" uses the system store. For an https://
     *  URL nox_client_new() checks that it can be read (::NOX_E_IO naming
     *  it; ::NOX_E_INVALID when it is not a regular file). Calls to a
     *  server whose certificate is not accepted fail with ::NOX_E_CONNECT. */
    const char *ca_file;
    /** http: time limit for connecting, in milliseconds. Default 10000. */
    long connect_timeout_ms;
    /** Largest answer body held in memory (JSON answers, error bodies) for
     *  the http backend. Default 64 MiB. Downloads stream and are not held. */
    uint64_t max_response_bytes;

    /** local: state directory. NULL: $NOXRUNNER_STATE_DIR, else
     *  $XDG_STATE_HOME/noxrunner, else ~/.local/state/noxrunner (or
     *  /var/lib/noxrunner for root). */
    const char *state_dir;
    /** local: isolation mode. Default ::NOX_ISOLATION_REQUIRED. */
    nox_isolation isolation;
    /** local: path of the nox-init helper. NULL: $NOXRUNNER_INIT, else the
     *  installed helper. */
    const char *init_path;
    /** local: cgroup under which sandbox cgroups are made (relative to each
     *  hierarchy's root). NULL: $NOXRUNNER_CGROUP_PARENT, else the calling
     *  process's own cgroup plus "/noxrunner". */
    const char *cgroup_parent;
    /** local: remove expired sandboxes when the client opens the state
     *  directory. Default true. */
    bool sweep_expired;
    /** local: per-stream cap on captured stdout and stderr, in bytes. Output
     *  beyond it is drained and dropped, and the result says it was
     *  truncated. Default 1 MiB. */
    uint64_t max_output_bytes;
    /** local: per-sandbox defaults and caps. */
    nox_local_limits limits;
    /** local: spares to keep ready ahead of creates, 0-16. Default 0.
     *  A thread of the library, started by the first create that asks,
     *  makes them and keeps their number. Running as root with isolation,
     *  a spare is a prepared holder: a sandbox's namespaces, uid slot, root
     *  file system and loopback, made ahead, waiting for a sandbox; a
     *  create then only adds what is the sandbox's own (cgroups,
     *  workspace, host name, /tmp, the filter): about 2.5 ms instead of 8
     *  (docs/performance.md). Otherwise a spare is a started nox-init
     *  launcher, which saves the spawn. A create takes the oldest spare and
     *  its replacement starts when that sandbox's first command is over,
     *  or 25 ms later if that comes first: out of the way of the first
     *  command. Spares are shared by the process's clients alike (same
     *  nox-init, same state directory), leave when the process ends, and
     *  until then cost what an idle sandbox does (a prepared holder is
     *  charged to the calling process's cgroups until claimed). Launchers
     *  are children of the calling process: a program that waits for all
     *  of its children to end (wait() until ECHILD) would wait for them;
     *  leave it at 0 there. noxrunnerd keeps 2 (--spare-launchers). */
    unsigned spare_launchers;
    /** Both backends: gzip level (1-9) of the archives the library writes
     *  (uploads; local downloads). Default 1: see docs/performance.md for the
     *  measurement behind it. */
    int gzip_level;
    /** Both backends: most threads compressing one archive the library
     *  writes. 0 (default): one per CPU this process may run on, at most 8;
     *  1: only the thread reading the archive. Extra threads start only once
     *  an archive passes 256 KiB, and stop when it is freed; the output is
     *  one ordinary gzip member whatever the count. An archive being
     *  written holds up to about (threads + 4) x 0.55 MiB of buffers and
     *  0.25 MiB of compressor state per thread. At most 64. */
    unsigned gzip_threads;

    /** Limits on archives extracted by the library (both backends). */
    nox_extract_limits extract;

    /** Receives warnings meant for a person; NULL drops them. */
    nox_warning_fn on_warning;
    /** Passed to @ref on_warning. */
    void *warning_userdata;
} nox_client_options;

/** Fills @p opts with the defaults documented on each field. */
NOX_PUBLIC void nox_client_options_init(nox_client_options *opts);

/** Options for nox_create(). Initialise with nox_create_options_init(). */
typedef struct nox_create_options {
    /** Time to live in seconds, counted from the last use. Default 900. */
    long ttl_seconds;
    /** Backend-specific image name; NULL to omit. The local backend records it. */
    const char *image;
    /** CPU limit as a Kubernetes quantity ("1", "500m"); NULL to omit. */
    const char *cpu_limit;
    /** Memory limit as a Kubernetes quantity ("512Mi", "1Gi"); NULL to omit. */
    const char *memory_limit;
    /** Workspace storage limit as a Kubernetes quantity ("2Gi"); NULL to omit. */
    const char *ephemeral_storage_limit;
} nox_create_options;

/** Fills @p opts with the defaults documented on each field. */
NOX_PUBLIC void nox_create_options_init(nox_create_options *opts);

/** Options for nox_exec() and nox_exec_shell(). Initialise with
 *  nox_exec_options_init(). */
typedef struct nox_exec_options {
    /** Working directory inside the sandbox. NULL means "/workspace";
     *  a relative path is taken relative to /workspace. */
    const char *workdir;
    /** Extra environment, as a NULL-terminated array of "NAME=VALUE"
     *  strings; NULL for none. */
    const char *const *env;
    /** Wall-clock limit in seconds. Default 30. */
    long timeout_seconds;
} nox_exec_options;

/** Fills @p opts with the defaults documented on each field. */
NOX_PUBLIC void nox_exec_options_init(nox_exec_options *opts);

/**@}*/

/* ------------------------------------------------------------------------ */
/** @name Results */
/**@{*/

/** What an exec returned. Allocated by the library; free with
 *  nox_exec_result_free(). */
typedef struct nox_exec_result {
    /** Exit code: the command's own; 127 command not found; 126 not
     *  executable; 124 timed out; 128+N killed by signal N. */
    int exit_code;
    /** Captured standard output (NUL-terminated; may contain NULs). */
    char *stdout_data;
    /** Length of @ref stdout_data in bytes. */
    size_t stdout_len;
    /** Captured standard error (NUL-terminated; may contain NULs). */
    char *stderr_data;
    /** Length of @ref stderr_data in bytes. */
    size_t stderr_len;
    /** Wall-clock duration in milliseconds, measured with a monotonic clock. */
    int64_t duration_ms;
    /** Output was cut at the configured cap (local backend, or a backend
     *  that reports it). */
    bool stdout_truncated;
    /** As @ref stdout_truncated, for standard error. */
    bool stderr_truncated;
    /** The command ran past its timeout and was killed with its process tree. */
    bool timed_out;
    /** The signal that killed the command, 0 when it exited by itself. */
    int term_signal;
} nox_exec_result;

/** Frees @p res; NULL is accepted. */
NOX_PUBLIC void nox_exec_result_free(nox_exec_result *res);

/** One resource limit of a sandbox and whether the host enforces it. */
typedef struct nox_limit_info {
    /** "memory", "cpu", "ephemeralStorage", "pids", "openFiles", "fileSize",
     *  "tmp", "output", "timeout". */
    char *name;
    /** The value as asked for (a quantity string), NULL when defaulted. */
    char *requested;
    /** The value in base units: bytes, millicores, count or seconds. */
    uint64_t value;
    /** True when the host enforces it. */
    bool enforced;
    /** How: "cgroup-v2", "cgroup-v1", "rlimit", "tmpfs", "monitor", ...;
     *  NULL when not enforced. */
    char *mechanism;
    /** Why it is not (or only partly) enforced; NULL when fully enforced. */
    char *reason;
} nox_limit_info;

/** A sandbox as the backend describes it. Fields a backend does not report
 *  are NULL, 0 or -1 as documented. Free with nox_sandbox_free(). */
typedef struct nox_sandbox {
    /** Session id. */
    char *id;
    /** Backend-specific name ("podName"). */
    char *pod_name;
    /** Expiry as ISO 8601 UTC, "2026-01-02T12:34:56Z". */
    char *expires_at;
    /** Expiry as seconds since the epoch; 0 when the backend sent none
     *  that parses. */
    int64_t expires_at_unix;
    /** Creation time as ISO 8601 UTC; NULL when not reported. */
    char *created_at;
    /** TTL in seconds; 0 when not reported. */
    int64_t ttl_seconds;
    /** Image name as asked for; NULL when none. */
    char *image;
    /** "namespaces", "none", or NULL when not reported. */
    char *isolation;
    /** Whether processes of the sandbox are running now; -1 not reported. */
    int running;
    /** Bytes used by the workspace; -1 when not reported. */
    int64_t disk_used_bytes;
    /** Limits with their enforcement, @ref n_limits of them. */
    nox_limit_info *limits;
    /** Number of entries in @ref limits. */
    size_t n_limits;
} nox_sandbox;

/** Frees @p sb; NULL is accepted. */
NOX_PUBLIC void nox_sandbox_free(nox_sandbox *sb);

/** A list of sandboxes. Free with nox_sandbox_list_free(). */
typedef struct nox_sandbox_list {
    /** The sandboxes, sorted by id. */
    nox_sandbox *items;
    /** How many. */
    size_t count;
} nox_sandbox_list;

/** Frees @p list; NULL is accepted. */
NOX_PUBLIC void nox_sandbox_list_free(nox_sandbox_list *list);

/**@}*/

/* ------------------------------------------------------------------------ */
/** @name Client */
/**@{*/

/** A client for one backend. Opaque. */
typedef struct nox_client nox_client;

/**
 * Creates a client for the backend @p opts chooses.
 * @return 0, or ::NOX_E_INVALID when the options ask for no backend or for
 *         two, ::NOX_E_IO when the state directory cannot be opened, and so on.
 */
NOX_PUBLIC int nox_client_new(const nox_client_options *opts, nox_client **ret_client,
                              nox_error *err);

/** Frees @p client (and closes its connections); NULL is accepted.
 *  Sandboxes live on. */
NOX_PUBLIC void nox_client_free(nox_client *client);

/** True when @p client uses the local backend. */
NOX_PUBLIC bool nox_client_is_local(const nox_client *client);

/** The base URL of an http client, the (resolved) state directory of a
 *  local one. Valid as long as @p client. */
NOX_PUBLIC const char *nox_client_location(const nox_client *client);

/** Called during uploads and downloads with the bytes moved so far and the
 *  total when known (0 otherwise). Return non-zero to cancel the transfer,
 *  which then fails with ::NOX_E_CANCELLED. */
typedef int (*nox_progress_fn)(void *userdata, uint64_t done, uint64_t total);

/** Sets (or, with NULL, removes) the progress callback of @p client. */
NOX_PUBLIC void nox_client_set_progress(nox_client *client, nox_progress_fn fn, void *userdata);

/**
 * Cancels the operation running on @p client, from another thread or from a
 * signal handler (it is async-signal-safe). The operation returns
 * ::NOX_E_CANCELLED as soon as it notices: an exec at once (its command's
 * whole process tree is killed), an http request at once (the connection is
 * dropped), nox_wait_ready() at once, an upload or download at its next
 * block of data (an open ::nox_stream included). A cancel that arrives while
 * nothing runs is forgotten when the next operation starts.
 *
 * @return 1 when an operation was running (it will be cancelled), 0 when
 *         none was. A thread that must stop an operation it may be racing
 *         the start of can call this until it returns 1.
 */
NOX_PUBLIC int nox_client_cancel(nox_client *client);

/**@}*/

/* ------------------------------------------------------------------------ */
/** @name Operations
 * Every operation takes the session id as given. Ids that are not a safe
 * path segment (1 to 128 bytes of letters, digits, '-', '_' and '.', not
 * starting with '.') are refused with ::NOX_E_INVALID by the local backend,
 * and by the http backend before any request is sent.
 */
/**@{*/

/**
 * Checks that the backend is up. Returns 1 when healthy and 0 when not; it
 * never fails. When the backend is not healthy and @p err is non-NULL, @p err
 * says why (refused connection, TLS certificate not accepted, status, body). For the local backend,
 * healthy means the state directory is usable and the nox-init helper can
 * run (it does not start a sandbox: nox_preflight() does).
 */
NOX_PUBLIC int nox_health(nox_client *client, nox_error *err);

/**
 * Creates sandbox @p id, or ensures it exists (idempotent: an existing
 * sandbox keeps its files and gets the new TTL; its limits and image stay
 * those of its first creation: the answer says which apply). @p opts may be
 * NULL for the defaults. On success, and when @p ret_sandbox is non-NULL, the backend's
 * description of the sandbox (pod name, expiry, limits and their
 * enforcement) goes there; free it with nox_sandbox_free().
 */
NOX_PUBLIC int nox_create(nox_client *client, const char *id, const nox_create_options *opts,
                          nox_sandbox **ret_sandbox, nox_error *err);

/** Resets the TTL clock of sandbox @p id. ::NOX_E_NOT_FOUND when it does not exist. */
NOX_PUBLIC int nox_touch(nox_client *client, const char *id, nox_error *err);

/**
 * Runs @p argv (NULL-terminated; argv[0] is looked up in the sandbox's PATH)
 * in sandbox @p id, with no shell added. @p opts may be NULL. A command that
 * runs and fails is a success of this call with a non-zero exit code in the
 * result; see ::nox_exec_result for the codes. Free the result with
 * nox_exec_result_free().
 */
NOX_PUBLIC int nox_exec(nox_client *client, const char *id, const char *const *argv,
                        const nox_exec_options *opts, nox_exec_result **ret_result, nox_error *err);

/**
 * Runs @p command through @p shell ("sh" or "bash"; NULL means "sh") as
 * `[shell, "-c", command]`. Any other shell is ::NOX_E_INVALID.
 */
NOX_PUBLIC int nox_exec_shell(nox_client *client, const char *id, const char *command,
                              const char *shell, const nox_exec_options *opts,
                              nox_exec_result **ret_result, nox_error *err);

/** One file for nox_upload_files(). */
typedef struct nox_file {
    /** Path relative to the destination, with '/' separators. Absolute
     *  paths and ".." components are refused. */
    const char *path;
    /** Content; may be NULL when @ref size is 0. */
    const void *data;
    /** Content length in bytes. */
    size_t size;
    /** Permission bits; 0 means 0644. */
    unsigned mode;
} nox_file;

/**
 * Uploads @p n_files in-memory files into directory @p dest of sandbox @p id
 * (NULL means "/workspace"; created if missing).
 */
NOX_PUBLIC int nox_upload_files(nox_client *client, const char *id, const nox_file *files,
                                size_t n_files, const char *dest, nox_error *err);

/**
 * Uploads the tree under local directory @p local_dir into @p dest of sandbox
 * @p id, keeping relative paths, permissions and modification times. The
 * archive is streamed: memory use does not grow with the tree. Symbolic links
 * are sent as links; devices, sockets and fifos are skipped.
 */
NOX_PUBLIC int nox_upload_dir(nox_client *client, const char *id, const char *local_dir,
                              const char *dest, nox_error *err);

/**
 * Uploads the local file or directory @p local_path into @p dest of sandbox
 * @p id: a directory as its tree (as nox_upload_dir()), a regular file as
 * one file named by its last path component. Streamed either way.
 */
NOX_PUBLIC int nox_upload_path(nox_client *client, const char *id, const char *local_path,
                               const char *dest, nox_error *err);

/** Reads up to @p len bytes of a tar.gz stream into @p buf. Returns the count,
 *  0 at the end, or -1 on failure (the upload then fails with ::NOX_E_IO, or
 *  ::NOX_E_CANCELLED when errno is ECANCELED). */
typedef ssize_t (*nox_read_fn)(void *userdata, void *buf, size_t len);

/**
 * Uploads the tar.gz archive that @p read produces into @p dest of sandbox
 * @p id. The archive streams through: nothing holds it whole.
 */
NOX_PUBLIC int nox_upload_stream(nox_client *client, const char *id, nox_read_fn read,
                                 void *userdata, const char *dest, nox_error *err);

/**
 * Downloads directory @p src of sandbox @p id (NULL means "/workspace") as
 * tar.gz bytes held in memory; free @p ret_data with free(). Prefer
 * nox_download_open() or nox_download_workspace() for large trees.
 */
NOX_PUBLIC int nox_download(nox_client *client, const char *id, const char *src, void **ret_data,
                            size_t *ret_size, nox_error *err);

/** A download in progress. Opaque. */
typedef struct nox_stream nox_stream;

/**
 * Starts a streamed download of @p src of sandbox @p id. Errors that can be
 * known before the first byte (no such sandbox, bad path) are returned here;
 * read the tar.gz bytes with nox_stream_read() and release with
 * nox_stream_free().
 */
NOX_PUBLIC int nox_download_open(nox_client *client, const char *id, const char *src,
                                 nox_stream **ret_stream, nox_error *err);

/** Reads up to @p len bytes of the download into @p buf. Returns the count,
 *  0 at the end, or a negative ::nox_code. */
NOX_PUBLIC ssize_t nox_stream_read(nox_stream *stream, void *buf, size_t len, nox_error *err);

/** Ends a download (complete or not); NULL is accepted. A stream belongs
 *  to its client: free it before the client. */
NOX_PUBLIC void nox_stream_free(nox_stream *stream);

/**
 * Downloads @p src of sandbox @p id and extracts it safely into local
 * directory @p local_dir (created if missing): entries with ".." or absolute
 * paths, links pointing outside, devices and entries over the client's
 * extract limits are refused with ::NOX_E_ARCHIVE naming the entry, and
 * nothing outside @p local_dir is touched. When @p ret_any is non-NULL it
 * receives whether any file arrived.
 */
NOX_PUBLIC int nox_download_workspace(nox_client *client, const char *id, const char *src,
                                      const char *local_dir, bool *ret_any, nox_error *err);

/** Deletes sandbox @p id now: kills everything running in it and removes its
 *  files. ::NOX_E_NOT_FOUND when it does not exist. */
NOX_PUBLIC int nox_delete(nox_client *client, const char *id, nox_error *err);

/**
 * Waits until sandbox @p id answers: runs `echo ready` every @p interval_ms
 * (0 means 2000) until its output is "ready", for at most @p timeout_ms
 * (0 means 30000). ::NOX_E_TIMEOUT when it never did; the last failure is
 * in the message. Failures that waiting cannot cure end it at once, with
 * their own code: ::NOX_E_NOT_FOUND, ::NOX_E_INVALID, ::NOX_E_ISOLATION (a
 * sandbox made unisolated, and this client requires isolation),
 * ::NOX_E_CANCELLED.
 */
NOX_PUBLIC int nox_wait_ready(nox_client *client, const char *id, long timeout_ms, long interval_ms,
                              nox_error *err);

/** Lists the sandboxes the backend knows (local backend, and noxrunnerd's
 *  extension of the API; other backends give ::NOX_E_UNSUPPORTED). */
NOX_PUBLIC int nox_list(nox_client *client, nox_sandbox_list **ret_list, nox_error *err);

/** Describes sandbox @p id: expiry, limits and their enforcement, disk used
 *  (same availability as nox_list()). */
NOX_PUBLIC int nox_info(nox_client *client, const char *id, nox_sandbox **ret_sandbox,
                        nox_error *err);

/** Removes every expired sandbox now (local backend only; ::NOX_E_UNSUPPORTED
 *  otherwise). The number removed goes to @p ret_count when non-NULL. */
NOX_PUBLIC int nox_reap_expired(nox_client *client, size_t *ret_count, nox_error *err);

/** True when @p id is a valid session id; otherwise false, with @p err (when
 *  non-NULL) saying what is wrong with it. */
NOX_PUBLIC bool nox_session_id_valid(const char *id, nox_error *err);

/**
 * Parses a Kubernetes quantity ("500m", "1", "512Mi", "1Gi", "2G", "1.5").
 * @p ret_milli receives the value times 1000 (so "500m" is 500 and "1Gi" is
 * 1073741824000). ::NOX_E_INVALID for anything else, or values that do not
 * fit. Useful for checking a limit before sending it.
 */
NOX_PUBLIC int nox_parse_quantity(const char *text, uint64_t *ret_milli, nox_error *err);

/**@}*/

/* ------------------------------------------------------------------------ */
/** @name Preflight: what isolation this host can provide */
/**@{*/

/** One check of nox_preflight(). */
typedef struct nox_check {
    /** Short name: "user-namespaces", "cgroup-memory", "seccomp", ... */
    char *name;
    /** True when the feature works here. */
    bool ok;
    /** Whether the local backend needs it to run isolated. */
    bool required;
    /** What was found, in one line. */
    char *detail;
    /** What to do about it when not ok; NULL otherwise. */
    char *fix;
} nox_check;

/** The report of nox_preflight(). Free with nox_preflight_free(). */
typedef struct nox_preflight_report {
    /** True when sandboxes can run isolated on this host. */
    bool isolation_available;
    /** "v2", "v1", "hybrid" or "none". */
    char *cgroup_version;
    /** The checks, in the order run. */
    nox_check *checks;
    /** How many. */
    size_t n_checks;
} nox_preflight_report;

/**
 * Checks, on this host and for this user, everything the local backend's
 * isolation needs: user namespaces (sysctls, AppArmor, a container's seccomp
 * profile), the other namespaces, seccomp, cgroups (version and writable
 * controllers) and the nox-init helper. It starts a throw-away sandbox
 * process to test for real. @p opts may be NULL for the defaults.
 */
NOX_PUBLIC int nox_preflight(const nox_client_options *opts, nox_preflight_report **ret_report,
                             nox_error *err);

/** Frees @p report; NULL is accepted. */
NOX_PUBLIC void nox_preflight_free(nox_preflight_report *report);

/**@}*/

/** Frees memory the library handed to the caller where no more specific
 *  function is named (for example the buffers of nox_download() and of the
 *  wire encoders). NULL is accepted. */
NOX_PUBLIC void nox_free(void *ptr);

#ifdef __cplusplus
}
#endif

#endif /* NOXRUNNER_NOXRUNNER_H */
