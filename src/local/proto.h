/* SPDX-License-Identifier: MIT */
/* The private protocol between libnoxrunner's local backend and nox-init.
 *
 * Two channels, both AF_UNIX SOCK_SEQPACKET (message boundaries and
 * SCM_RIGHTS):
 *  - the launch channel (fd 3 of "nox-init launch"): the library sends one
 *    CONFIG message; nox-init answers READY (with the holder's host pid) or
 *    FAIL (with a message naming what failed);
 *  - the control socket of a running sandbox (<sandbox>/ctl.sock, bound and
 *    listened on by the library, served by the holder): one connection per
 *    request. EXEC carries four fds (stdout and stderr write ends for the
 *    command, and the matching read ends, which the holder keeps so that
 *    background processes never meet a broken pipe once the exec is over);
 *    the holder answers RESULT when the command has ended, and keeps the
 *    exec's record until the library closes the connection (closing it
 *    earlier cancels the exec: the command's tree is killed). PING answers
 *    PONG; SHUTDOWN kills
 *    everything in the sandbox, answers BYE and exits.
 *
 * A message is a header (with the payload length) followed by the payload,
 * split over packets of at most NOX_PROTO_CHUNK bytes. Payloads are TLV
 * records: u16 tag, u32 length, bytes (host byte order: both ends are on
 * the same machine). Both ends come from the same build; the version in the
 * magic makes a mismatch an explicit error instead of garbage. */
#ifndef NOX_PROTO_H
#define NOX_PROTO_H

#include <stdint.h>
#include <sys/types.h>

#include "../util.h"

#define NOX_PROTO_MAGIC   0x4e4f5803u /* "NOX" + version 3 */
#define NOX_PROTO_CHUNK   32768u
#define NOX_PROTO_MAX_FDS 4

enum nox_op {
    NOX_OP_CONFIG = 1, /* library -> launcher */
    NOX_OP_READY = 2,  /* launcher -> library: u64 holder pid, u64 start time */
    NOX_OP_FAIL = 3,   /* launcher/holder -> library: message */
    /* A spare holder, prepared ahead of its sandbox (see pod.c): PREPARE
     * carries a configuration without sandbox (flags and ids only) and
     * no fds; the launcher answers PREPARED (u64 holder pid, u64 start
     * time) and leaves the channel to the holder, which waits on it for
     * CLAIM: the sandbox's whole configuration, with the control socket,
     * the expires file and the workspace (a detached mount, open_tree) as
     * fds. The holder answers READY (no payload) or FAIL. */
    NOX_OP_PREPARE = 4,
    NOX_OP_PREPARED = 5,
    NOX_OP_CLAIM = 6,
    NOX_OP_EXEC = 10,    /* library -> holder, 4 fds */
    NOX_OP_STARTED = 11, /* retired: the library never needed it */
    NOX_OP_RESULT = 12,  /* holder -> library: struct nox_exec_status */
    NOX_OP_PING = 13,
    NOX_OP_PONG = 14, /* holder -> library: struct nox_holder_status */
    NOX_OP_SHUTDOWN = 15,
    NOX_OP_BYE = 16,
};

struct nox_msg_hdr {
    uint32_t magic;
    uint16_t op;
    uint16_t nfds;
    uint32_t len; /* payload bytes */
    uint32_t reserved;
};

/* TLV tags of the CONFIG payload. */
enum nox_cfg_tag {
    NOX_CFG_FLAGS = 1,          /* u32, NOX_CFGF_* */
    NOX_CFG_HOST_UID = 2,       /* u32: host uid commands run as */
    NOX_CFG_HOST_GID = 3,       /* u32 */
    NOX_CFG_OWNER_UID = 4,      /* u32: uid allowed to connect to ctl.sock */
    NOX_CFG_HOSTNAME = 5,       /* string */
    NOX_CFG_TMP_BYTES = 6,      /* u64: size of /tmp */
    NOX_CFG_SHM_BYTES = 7,      /* u64: size of /dev/shm */
    NOX_CFG_RLIMIT = 8,         /* u32 resource, u64 soft, u64 hard */
    NOX_CFG_CGROUP = 9,         /* string: cgroup dir to join (repeated) */
    NOX_CFG_WORKSPACE = 10,     /* string: workspace path on the host */
    NOX_CFG_STORAGE_BYTES = 11, /* u64: workspace limit watched by the monitor */
    NOX_CFG_ID = 12,            /* string: session id, for messages */
    NOX_CFG_MAX_REQUEST = 13,   /* u64: largest EXEC payload accepted */
};

#define NOX_CFGF_ISOLATED   0x1u /* namespaces, mounts, seccomp */
#define NOX_CFGF_PRIVILEGED 0x2u /* launcher writes the id maps (it is root) */
#define NOX_CFGF_NET        0x4u /* reserved: a network beyond loopback */

/* TLV tags of the EXEC payload. */
enum nox_exec_tag {
    NOX_EX_ARG = 1,        /* string (repeated, in order) */
    NOX_EX_ENV = 2,        /* "NAME=VALUE" (repeated) */
    NOX_EX_CWD = 3,        /* string: absolute path in the sandbox's view */
    NOX_EX_TIMEOUT_MS = 4, /* u64 */
    NOX_EX_FLAGS = 5,      /* u32, NOX_EXF_* */
};

/* The client refuses to run unisolated: a holder without namespaces
 * answers NOX_EXIT_SETUP with stage "isolation". */
#define NOX_EXF_REQUIRE_ISOLATION 0x1u

/* Fixed fds of "nox-init launch". */
#define NOX_FD_STATUS    3 /* launch channel */
#define NOX_FD_LISTEN    4 /* ctl.sock, listening */
#define NOX_FD_WORKSPACE 5 /* workspace directory (O_PATH) */
#define NOX_FD_EXPIRES   6 /* the expires file; its mtime is the expiry */

/* How an exec ended (RESULT payload). */
enum nox_exec_kind {
    NOX_EXIT_NORMAL = 1,  /* code = exit status */
    NOX_EXIT_SIGNAL = 2,  /* sig = signal */
    NOX_EXIT_TIMEOUT = 3, /* killed by the timeout */
    NOX_EXIT_SETUP = 4,   /* could not start: stage + err */
    NOX_EXIT_STORAGE = 5, /* killed: workspace over its storage limit */
};

struct nox_exec_status {
    int32_t kind;
    int32_t code;
    int32_t sig;
    int32_t err;
    int64_t duration_ns;
    char stage[32]; /* "chdir", "exec", ... for NOX_EXIT_SETUP */
};

struct nox_holder_status {
    int64_t pid_in_sandbox;
    int64_t running_execs;
    int64_t processes; /* processes in the sandbox, holder excluded */
    int64_t workspace_bytes;
};

/* ---- TLV ---- */
int nox__tlv_put(nox_buf *b, uint16_t tag, const void *data, uint32_t len) NOX_HIDDEN;
int nox__tlv_put_str(nox_buf *b, uint16_t tag, const char *s) NOX_HIDDEN;
int nox__tlv_put_u32(nox_buf *b, uint16_t tag, uint32_t v) NOX_HIDDEN;
int nox__tlv_put_u64(nox_buf *b, uint16_t tag, uint64_t v) NOX_HIDDEN;

typedef struct nox_tlv_iter {
    const char *p, *end;
} nox_tlv_iter;

/* Next record: 1 with tag, val and len set, 0 at the end, -1 when malformed. */
int nox__tlv_next(nox_tlv_iter *it, uint16_t *tag, const char **val, uint32_t *len) NOX_HIDDEN;
/* Copies a string value (must not contain NUL); NULL on failure. */
char *nox__tlv_str(const char *val, uint32_t len) NOX_HIDDEN;
int nox__tlv_u32(const char *val, uint32_t len, uint32_t *ret) NOX_HIDDEN;
int nox__tlv_u64(const char *val, uint32_t len, uint64_t *ret) NOX_HIDDEN;

/* ---- messages ---- */
/* Sends one message; @p fds (up to NOX_PROTO_MAX_FDS) ride on the first
 * packet. Returns 0 or -errno. Never raises SIGPIPE (MSG_NOSIGNAL). */
int nox__proto_send(int sock, uint16_t op, const void *payload, size_t len, const int *fds,
                    size_t nfds) NOX_HIDDEN;

/* Receives one message into @p payload (reset first), refusing payloads over
 * @p max_len. Received fds go to @p fds (count in *nfds; any beyond
 * @p max_fds are closed). @p timeout_ms < 0 waits forever. Returns 0, -EPIPE
 * when the peer closed before a message, -ETIMEDOUT, -EPROTO for a bad
 * message, or another -errno. */
int nox__proto_recv(int sock, uint16_t *op, nox_buf *payload, size_t max_len, int *fds,
                    size_t *nfds, size_t max_fds, int timeout_ms) NOX_HIDDEN;

#endif
