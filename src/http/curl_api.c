/* SPDX-License-Identifier: MIT */
/* libcurl, loaded on first use: see curl_api.h for why. */
#include "curl_api.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Sonames tried in turn: Debian and most distributions ship the OpenSSL
 * build as libcurl.so.4 and the GnuTLS build as libcurl-gnutls.so.4; both
 * have the same ABI. NOXRUNNER_LIBCURL, when set, is tried first. */
static const char *const sonames[] = { "libcurl.so.4", "libcurl-gnutls.so.4" };

/* The oldest libcurl that has what this build uses: curl_multi_poll came
 * with 7.66.0, and a build against 7.85.0 headers or later restricts the
 * schemes with CURLOPT_PROTOCOLS_STR, which older ones ignore. */
#if LIBCURL_VERSION_NUM >= 0x075500
#define MIN_VERSION_NUM 0x075500
#define MIN_VERSION     "7.85.0"
#else
#define MIN_VERSION_NUM 0x074200
#define MIN_VERSION     "7.66.0"
#endif

nox_curl_api nox__curl;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static int load_code;
static char load_msg[512];

static void *open_libcurl(void)
{
    const char *env = getenv("NOXRUNNER_LIBCURL");
    if (env && *env) {
        void *h = dlopen(env, RTLD_NOW | RTLD_LOCAL);
        if (!h)
            snprintf(load_msg, sizeof load_msg, "cannot load libcurl from NOXRUNNER_LIBCURL=%s: %s",
                     env, dlerror());
        return h;
    }
    for (size_t i = 0; i < sizeof sonames / sizeof sonames[0]; i++) {
        void *h = dlopen(sonames[i], RTLD_NOW | RTLD_LOCAL);
        if (h)
            return h;
    }
    snprintf(load_msg, sizeof load_msg,
             "the http backend needs libcurl, and neither libcurl.so.4 nor "
             "libcurl-gnutls.so.4 could be loaded (%s); install it "
             "(Debian and Ubuntu: apt-get install libcurl4) or point NOXRUNNER_LIBCURL "
             "at it",
             dlerror());
    return NULL;
}

static void load(void)
{
    load_code = NOX_E_UNSUPPORTED;
    void *h = open_libcurl();
    if (!h)
        return;
    nox_curl_api api;
    const char *missing = NULL;
    /* dlsym returns void *; POSIX guarantees it converts to a function
     * pointer, which ISO C does not say, hence the memcpy. */
#define NOX_CURL_RESOLVE(name, ret, params)                                                        \
    if (!missing) {                                                                                \
        void *sym = dlsym(h, "curl_" #name);                                                       \
        if (!sym)                                                                                  \
            missing = "curl_" #name;                                                               \
        memcpy(&api.name, &sym, sizeof api.name);                                                  \
    }
    NOX_CURL_FUNCTIONS(NOX_CURL_RESOLVE)
#undef NOX_CURL_RESOLVE
    if (missing) {
        snprintf(load_msg, sizeof load_msg,
                 "the libcurl found lacks %s: the http backend needs libcurl " MIN_VERSION
                 " or later",
                 missing);
        return;
    }
    const curl_version_info_data *v = api.version_info(CURLVERSION_NOW);
    if (!v || v->version_num < MIN_VERSION_NUM) {
        snprintf(load_msg, sizeof load_msg,
                 "libcurl %s is too old: the http backend needs " MIN_VERSION " or later",
                 v && v->version ? v->version : "(unknown version)");
        return;
    }
    CURLcode rc = api.global_init(CURL_GLOBAL_DEFAULT);
    if (rc != CURLE_OK) {
        load_code = NOX_E_INTERNAL;
        snprintf(load_msg, sizeof load_msg, "libcurl failed to initialise: %s",
                 api.easy_strerror(rc));
        return;
    }
    /* The handle stays open for the life of the process: curl's global
     * state cannot be torn down while another thread may use it. */
    nox__curl = api;
    load_code = 0;
}

int nox__curl_load(nox_error *err)
{
    pthread_once(&load_once, load);
    if (load_code < 0)
        return nox__error_set(err, load_code, "%s", load_msg);
    return 0;
}
