/* SPDX-License-Identifier: MIT */
/**
 * @file wire.h
 * @brief JSON encoding and decoding of every message of the NoxRunner v1 API.
 *
 * One module used by both ends: libnoxrunner's http backend encodes requests
 * and decodes answers with it, noxrunnerd decodes requests and encodes
 * answers with it, so the two cannot drift apart. It is public so that other
 * C programs (gateways, alternative servers) can speak the contract exactly.
 *
 * Decoders are strict on types (a string where an integer belongs is an
 * error naming the field), tolerant of fields they do not know, and refuse
 * strings with embedded NUL bytes. Decoded requests are one allocation,
 * released with nox_free(); decoded answers have their own free functions
 * (nox_exec_result_free(), nox_sandbox_free(), nox_sandbox_list_free()).
 * Encoders return a NUL-terminated JSON text (free with nox_free()) and its
 * length.
 *
 * See docs/api-v1.md for the contract and the fields NoxRunner adds.
 */
#ifndef NOXRUNNER_WIRE_H
#define NOXRUNNER_WIRE_H

#include <noxrunner/noxrunner.h>

#ifdef __cplusplus
extern "C" {
#endif

/** A decoded exec request. One allocation; free with nox_free(). */
typedef struct nox_exec_request {
    /** The command, NULL-terminated, at least one element. */
    char **argv;
    /** workdir (NULL when absent), env (NULL-terminated "NAME=VALUE" array,
     *  NULL when absent) and timeout_seconds (30 when absent). */
    nox_exec_options opts;
} nox_exec_request;

/**
 * Decodes the body of `PUT /v1/sandboxes/{id}`. An empty body (@p len 0) is
 * taken as `{}`. A missing ttlSeconds means 900; it must otherwise be a
 * positive integer. Limits must be strings that nox_parse_quantity() accepts.
 * The result's strings live in the same allocation; free it with nox_free().
 */
NOX_PUBLIC int nox_wire_decode_create_request(const char *json, size_t len,
                                              nox_create_options **ret_opts, nox_error *err);

/** Encodes a create request; unset (NULL) optional fields are omitted. */
NOX_PUBLIC int nox_wire_encode_create_request(const nox_create_options *opts, char **ret_json,
                                              size_t *ret_len, nox_error *err);

/**
 * Decodes the body of `POST /v1/sandboxes/{id}/exec`: cmd (non-empty array
 * of strings), workdir (string), env (object of strings; names non-empty and
 * without '='), timeoutSeconds (positive integer).
 */
NOX_PUBLIC int nox_wire_decode_exec_request(const char *json, size_t len,
                                            nox_exec_request **ret_req, nox_error *err);

/** Encodes an exec request for @p argv (NULL-terminated) and @p opts (NULL
 *  for the defaults, which are then omitted except timeoutSeconds). */
NOX_PUBLIC int nox_wire_encode_exec_request(const char *const *argv, const nox_exec_options *opts,
                                            char **ret_json, size_t *ret_len, nox_error *err);

/**
 * Encodes an exec answer: exitCode, stdout, stderr, durationMs, plus
 * NoxRunner's fields stdoutTruncated, stderrTruncated, timedOut and signal.
 * Output that is not valid UTF-8 is carried with each bad byte replaced by
 * U+FFFD, so the answer is always valid JSON text.
 */
NOX_PUBLIC int nox_wire_encode_exec_result(const nox_exec_result *res, char **ret_json,
                                           size_t *ret_len, nox_error *err);

/** Decodes an exec answer; exitCode is required, the rest default to
 *  empty or 0. Free with nox_exec_result_free(). */
NOX_PUBLIC int nox_wire_decode_exec_result(const char *json, size_t len, nox_exec_result **ret_res,
                                           nox_error *err);

/**
 * Encodes a sandbox: podName and expiresAt (the create answer of the
 * contract) followed by NoxRunner's fields (sessionId, createdAt,
 * ttlSeconds, image, isolation, running, diskUsedBytes, limits). Fields the
 * sandbox does not have are omitted.
 */
NOX_PUBLIC int nox_wire_encode_sandbox(const nox_sandbox *sb, char **ret_json, size_t *ret_len,
                                       nox_error *err);

/** Decodes a create answer or a sandbox description; podName is required.
 *  @p id, when non-NULL, fills the id if the answer has no sessionId.
 *  Free with nox_sandbox_free(). */
NOX_PUBLIC int nox_wire_decode_sandbox(const char *json, size_t len, const char *id,
                                       nox_sandbox **ret_sb, nox_error *err);

/** Encodes `{"sandboxes": [...]}` (NoxRunner's list extension). */
NOX_PUBLIC int nox_wire_encode_sandbox_list(const nox_sandbox_list *list, char **ret_json,
                                            size_t *ret_len, nox_error *err);

/** Decodes `{"sandboxes": [...]}`. Free with nox_sandbox_list_free(). */
NOX_PUBLIC int nox_wire_decode_sandbox_list(const char *json, size_t len,
                                            nox_sandbox_list **ret_list, nox_error *err);

/** Encodes `{"error": message}`; bytes of @p message that are not UTF-8 are
 *  replaced, so this cannot fail except for lack of memory. */
NOX_PUBLIC int nox_wire_encode_error(const char *message, char **ret_json, size_t *ret_len);

/**
 * Extracts the message of an error answer: the "error" string of a JSON
 * object when there is one (also "message" or "detail", which some backends
 * use), else the body itself as text, trimmed and cut at 1 KiB. Returns NULL
 * only when out of memory. Free with nox_free().
 */
NOX_PUBLIC char *nox_wire_error_message(const char *body, size_t len);

/**
 * The HTTP status a server answers for a failure with @p code (NOX_E_INVALID
 * and NOX_E_ARCHIVE 400, NOX_E_NOT_FOUND 404, NOX_E_LIMIT 413, NOX_E_NOT_READY
 * 503, NOX_E_TIMEOUT 504, NOX_E_UNSUPPORTED 501, NOX_E_CONNECT,
 * NOX_E_PROTOCOL and NOX_E_NETWORK 502, anything else 500), as noxrunnerd
 * does: for gateways and other servers of the v1 API.
 */
NOX_PUBLIC int nox_wire_http_status(int code);

/** Formats @p unix_seconds as ISO 8601 UTC ("2026-01-02T12:34:56Z") into
 *  @p buf of @p size bytes (21 are enough). Returns 0 or ::NOX_E_INVALID. */
NOX_PUBLIC int nox_wire_format_time(int64_t unix_seconds, char *buf, size_t size);

/** Parses ISO 8601 date-times ("2026-01-02T12:34:56Z", with optional
 *  fraction and "+hh:mm" offset) into seconds since the epoch. */
NOX_PUBLIC int nox_wire_parse_time(const char *text, int64_t *ret_unix, nox_error *err);

#ifdef __cplusplus
}
#endif

#endif /* NOXRUNNER_WIRE_H */
