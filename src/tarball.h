/* SPDX-License-Identifier: MIT */
/* Archives: gzip-compressed tar, written as pull streams and extracted
 * safely. The one module that touches the archive format, used by both the
 * client side (uploads, download_workspace) and the local backend. */
#ifndef NOX_ARCHIVE_H
#define NOX_ARCHIVE_H

#include <noxrunner/noxrunner.h>
#include <sys/types.h>

#include "stream.h"

/* ---- writing ---- */

/* A tar.gz source over in-memory files. @p files (and the data they point
 * to) are borrowed and must outlive the source. Paths are checked first:
 * empty, absolute, "..", or NUL-containing paths give NOX_E_INVALID naming
 * the path. @p gzip_level 1-9 (0 means 1); @p gzip_threads the most
 * threads compressing (0: one per CPU, at most 8; 1: the reader's only),
 * started only once the archive passes 256 KiB (gzip.h). */
int nox__tar_from_files(const nox_file *files, size_t n_files, int gzip_level,
                        unsigned gzip_threads, nox_source **ret_src, nox_error *err) NOX_HIDDEN;

/* A tar.gz source over the tree at @p fd (a directory or a regular file,
 * opened by the caller; the source takes ownership of @p fd). For a
 * directory, member names are relative to it ("a.txt", "sub/b.txt"); for a
 * regular file, one member named @p file_name. Walks with openat/O_NOFOLLOW
 * one directory at a time, sorted by name; links are stored as links, hard
 * links as hard links, devices/fifos/sockets skipped. File data is read as
 * the consumer pulls, so memory does not grow with the tree. Compression
 * as for nox__tar_from_files(). */
int nox__tar_from_fd(int fd, const char *file_name, int gzip_level, unsigned gzip_threads,
                     nox_source **ret_src, nox_error *err) NOX_HIDDEN;

/* ---- extracting ---- */

typedef struct nox_extract_opts {
    /* Limits (0 fields mean the documented defaults). */
    nox_extract_limits limits;
    /* When true, every created entry is owned by uid:gid (lchown), as when
     * root extracts for a sandbox user. */
    bool chown;
    uid_t uid;
    gid_t gid;
    /* Directory (on the same file system as the destination) in which a
     * private staging directory is made; -1 to make it inside the
     * destination itself as a hidden ".nox-extract-XXXXXX". The staging
     * directory is flock()ed while the extraction runs: one left unlocked
     * belongs to a process that died. */
    int staging_parent_fd;
    /* When set, the merge can be finished by another process should this
     * one die half way through it: just before the destination starts to
     * change, a commit record holding this label (what names the
     * destination for whoever recovers it) is written into the staging
     * directory. See nox__extract_recover(). */
    const char *commit_label;
} nox_extract_opts;

typedef struct nox_extract_stats {
    uint64_t entries;
    uint64_t files;
    uint64_t bytes;
} nox_extract_stats;

/* Extracts the tar.gz read from @p src into the directory @p dest_fd.
 *
 * All entries go first into a staging directory; only when the whole archive
 * has been read and checked are they moved into place, one rename per entry
 * (directories merged), so a refused or broken archive changes nothing in
 * the destination; with a commit_label, a process that dies during those
 * renames leaves them for nox__extract_recover() to finish.
 *
 * Refused with NOX_E_ARCHIVE, naming the entry: absolute names, ".."
 * components, symlinks whose target is absolute or leads out of the
 * destination, hard links to anything but an earlier regular file of the
 * archive, devices, fifos and sockets, anything that would be created
 * through a symlink; NOX_E_LIMIT for entries over the count, size or path
 * limits; NOX_E_ARCHIVE for data that is not gzip, not tar, or truncated.
 * Merging never follows a symlink already in the destination: it replaces
 * it. Permissions (setuid/setgid stripped) and mtimes are kept. */
int nox__extract(nox_source *src, int dest_fd, const nox_extract_opts *opts,
                 nox_extract_stats *ret_stats, nox_error *err) NOX_HIDDEN;

/* Opens the destination that @p label names, for nox__extract_recover(). */
typedef int (*nox_extract_dest_fn)(void *userdata, const char *label, int *ret_fd, nox_error *err);

/* Deals with staging directory @p name in @p parent_fd (a
 * ".nox-extract-XXXXXX" made with a commit_label), left behind by an
 * extraction whose process died:
 *   - locked (an extraction still running, or being recovered by another
 *     process), or gone: nothing, 0;
 *   - committed (the process died while merging): the merge is finished
 *     into the destination @p open_dest opens for the label, and the
 *     directory removed: 2. So a destination ends up with all of the
 *     archive, never with part of it;
 *   - not committed (died before the destination changed): removed when
 *     @p remove_uncommitted (1), else left alone (0).
 * A merge that cannot be finished (the destination changed in its way) is
 * abandoned, as a live one would be: its staging directory is removed and
 * the failure returned. Names that are not staging directories are left
 * alone. */
int nox__extract_recover(int parent_fd, const char *name, bool remove_uncommitted,
                         nox_extract_dest_fn open_dest, void *userdata, nox_error *err) NOX_HIDDEN;

/* Default limits filled into 0 fields. */
void nox__extract_limits_fill(nox_extract_limits *l) NOX_HIDDEN;

#endif
