/* SPDX-License-Identifier: MIT */
/* libcurl, loaded when the first http client is made.
 *
 * Linking libcurl pulls about thirty shared libraries into every process
 * (TLS, HTTP/2, SSH, LDAP, Kerberos, IDN...): on the machines we measured,
 * 6 MiB of resident memory and tens of milliseconds of start-up in every
 * program that uses the library, although most of them (noxrunnerd, and
 * anything on the embedded local backend) never speak HTTP. So the http
 * backend resolves the few functions it calls with dlopen/dlsym on first
 * use, and the library carries no link-time dependency on libcurl.
 *
 * The headers still come from libcurl's development package: types,
 * constants and the ABI are libcurl's own, which keeps libcurl.so.4's
 * promise of binary compatibility. The gcc type checks of curl_easy_setopt
 * are lost; every call site passes the documented type (long, pointer,
 * curl_off_t or function pointer) explicitly. */
#ifndef NOX_HTTP_CURL_API_H
#define NOX_HTTP_CURL_API_H

#define CURL_DISABLE_TYPECHECK 1
#include <curl/curl.h>

#include "../error.h"

/* X(name, return type, parameters): every libcurl function the backend calls. */
#define NOX_CURL_FUNCTIONS(X)                                                                      \
    X(global_init, CURLcode, (long flags))                                                         \
    X(version_info, curl_version_info_data *, (CURLversion age))                                   \
    X(easy_init, CURL *, (void))                                                                   \
    X(easy_setopt, CURLcode, (CURL * h, CURLoption option, ...))                                   \
    X(easy_getinfo, CURLcode, (CURL * h, CURLINFO info, ...))                                      \
    X(easy_pause, CURLcode, (CURL * h, int bitmask))                                               \
    X(easy_reset, void, (CURL * h))                                                                \
    X(easy_cleanup, void, (CURL * h))                                                              \
    X(easy_strerror, const char *, (CURLcode rc))                                                  \
    X(easy_escape, char *, (CURL * h, const char *s, int len))                                     \
    X(free, void, (void *p))                                                                       \
    X(multi_init, CURLM *, (void))                                                                 \
    X(multi_add_handle, CURLMcode, (CURLM * m, CURL * h))                                          \
    X(multi_remove_handle, CURLMcode, (CURLM * m, CURL * h))                                       \
    X(multi_perform, CURLMcode, (CURLM * m, int *running))                                         \
    X(multi_poll, CURLMcode,                                                                       \
      (CURLM * m, struct curl_waitfd * extra, unsigned n, int timeout_ms, int *numfds))            \
    X(multi_info_read, CURLMsg *, (CURLM * m, int *left))                                          \
    X(multi_strerror, const char *, (CURLMcode rc))                                                \
    X(multi_cleanup, CURLMcode, (CURLM * m))                                                       \
    X(share_init, CURLSH *, (void))                                                                \
    X(share_setopt, CURLSHcode, (CURLSH * s, CURLSHoption option, ...))                            \
    X(share_cleanup, CURLSHcode, (CURLSH * s))                                                     \
    X(slist_append, struct curl_slist *, (struct curl_slist * l, const char *s))                   \
    X(slist_free_all, void, (struct curl_slist * l))

/* A parenthesised parameter list cannot be parenthesised again. */
// NOLINTNEXTLINE(bugprone-macro-parentheses)
#define NOX_CURL_MEMBER(name, ret, params) ret(*name) params;
typedef struct nox_curl_api {
    NOX_CURL_FUNCTIONS(NOX_CURL_MEMBER)
} nox_curl_api;
#undef NOX_CURL_MEMBER

/* Filled by nox__curl_load; read-only afterwards. */
extern nox_curl_api nox__curl NOX_HIDDEN;

/* Loads libcurl (once per process; later calls return the first outcome)
 * and runs curl_global_init. Fails with NOX_E_UNSUPPORTED, naming the
 * library and what to install, when libcurl is missing or too old. */
int nox__curl_load(nox_error *err) NOX_HIDDEN;

#endif
