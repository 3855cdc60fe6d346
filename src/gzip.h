/* SPDX-License-Identifier: MIT */
/* A gzip compressor that spreads the work over threads and still writes one
 * ordinary gzip member (what pigz does): the input is cut into chunks, each
 * compressed on its own as raw deflate primed with the 32 KiB before it, and
 * ended with a sync flush so that the pieces join into one deflate stream;
 * the CRCs are joined with crc32_combine(). Every gzip reader reads it,
 * including those that stop after the first member (Python's streaming
 * tarfile mode). */
#ifndef NOX_GZIP_H
#define NOX_GZIP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct nox_gz nox_gz;

/* Bytes of input per chunk (the unit of work of one thread). */
#define NOX_GZ_CHUNK (256u * 1024u)
/* Most compression threads of one stream (gzip_threads is capped to it). */
#define NOX_GZ_MAX_THREADS 64

/* The number of threads gzip_threads = 0 stands for: the CPUs this process
 * may run on, at most 8. */
unsigned nox__gz_auto_threads(void);

/* A compressor at @p level (1-9) using up to @p threads threads (1: the
 * calling thread only; 0: nox__gz_auto_threads()). Threads start only once
 * the input passes one chunk, so small archives cost none. NULL when out of
 * memory. */
nox_gz *nox__gz_new(int level, unsigned threads);

/* Takes @p n bytes of input. Never waits for the reader. 0, or -ENOMEM. */
int nox__gz_write(nox_gz *g, const void *p, size_t n);

/* Ends the input. 0, or -ENOMEM. */
int nox__gz_finish(nox_gz *g);

/* True when the reader should produce more input before waiting for output:
 * the input is not finished and fewer than threads + 2 chunks are waiting
 * to be read. This bounds a stream's memory to about (threads + 4) x
 * 0.55 MiB of chunks and 0.25 MiB of deflate state per thread. */
bool nox__gz_wants_input(const nox_gz *g);

/* Copies up to @p n bytes of output to @p buf. Without @p wait, returns 0
 * when no bytes are ready; with it, waits for the oldest chunk. Returns the
 * number of bytes, 0 at the end (nox__gz_ended()), or -ENOMEM. */
ssize_t nox__gz_read(nox_gz *g, void *buf, size_t n, bool wait);

/* True once the input is finished and every byte of output was read. */
bool nox__gz_ended(const nox_gz *g);

/* Stops the threads and frees everything. NULL is fine. */
void nox__gz_free(nox_gz *g);

#endif
