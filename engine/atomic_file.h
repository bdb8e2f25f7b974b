/* atomic_file.h - crash-safe file replacement and sandboxed file names.
 *
 * A write goes to a temporary file in the destination directory, is
 * fsync'd, renamed over the destination and the directory is fsync'd, so
 * a crash at any point leaves either the old file or the new one. The
 * temporary file is named ".<name>.tmp.<16 random hex digits>" (no valid
 * name starts with '.') and created with O_EXCL, retrying on a collision:
 * a file left by an earlier crash (even of a process that had the same
 * pid, as PID 1 in a container always has) is never reused.
 * bd_afile_sweep removes such leftovers.
 *
 * Every failure to store bytes because the disk is full or a quota is
 * exhausted (ENOSPC, EDQUOT, at create, write, fsync or close) is
 * BD_ENOSPACE; every other I/O failure is BD_EIO.
 *
 * Test hook, compiled only with BLOCKD_TEST_HOOKS (the blockd-testhooks
 * daemon and its library blockd_afile_testhooks, never the shipped
 * blockd): when the environment variable BLOCKD_TEST_CRASH_AFTER_BYTES is
 * a number N, the process _exit(86)s after writing exactly N bytes into
 * one temporary file (to prove the old file survives). */
#ifndef BD_ATOMIC_FILE_H
#define BD_ATOMIC_FILE_H

#include <stdbool.h>
#include <stddef.h>

#include "names.h" /* bd_file_name_ok, BD_FILE_NAME_MAX */
#include "status.h"

typedef struct bd_afile bd_afile;

/* Starts replacing dir/name: creates a new, uniquely named temporary file
 * in dir. *out is freed by commit or abort. Errors: ENOSPACE, EIO naming
 * the path. */
bd_status bd_afile_open(const char *dir, const char *name, bd_afile **out);
/* The same in the directory dirfd (borrowed; the handle keeps its own
 * duplicate). name is one component (EINVAL otherwise); the temp file is
 * created with O_EXCL | O_NOFOLLOW and renamed with renameat, so nothing
 * is written through a symbolic link: a link at dirfd/name is replaced,
 * its target untouched. */
bd_status bd_afile_openat(int dirfd, const char *name, bd_afile **out);
/* Appends n bytes to the temporary file (buffered). ENOSPACE or EIO
 * naming the file; after a failure the caller aborts f. proto_afile_sink
 * (proto/sink.h) wraps this for the file encoders. */
bd_status bd_afile_write(bd_afile *f, const void *p, size_t n);
/* Bytes written so far. */
size_t bd_afile_size(const bd_afile *f);
/* Flushes, fsyncs and closes the temporary file without renaming it, so
 * that a caller replacing several files can store all their bytes before
 * it renames any (a full disk then leaves every old file). Idempotent;
 * commit does it when it was not done. Errors: ENOSPACE, EIO; the caller
 * then aborts f. */
bd_status bd_afile_sync(bd_afile *f);
/* bd_afile_sync, rename over dir/name, fsync dir; frees f. On failure the
 * temp file is removed and the old file kept. Errors: ENOSPACE, EIO. */
bd_status bd_afile_commit(bd_afile *f);
/* Removes the temporary file and frees f; NULL-safe. */
void bd_afile_abort(bd_afile *f);

/* Whether name is one of the temporary files bd_afile_open creates
 * (".<name>.tmp.<16 hex>") or older blockd versions created
 * (".<name>.tmp.<pid>.<n>"). */
bool bd_afile_is_temp(const char *name);

/* Removes every regular file directly in dir whose name bd_afile_is_temp
 * accepts: what a crash during a save left. Call it only when no write
 * into dir is in flight (at start-up). Returns the number removed (0
 * when dir is missing or unreadable). */
int bd_afile_sweep(const char *dir);
/* The same in the directory dirfd (borrowed). */
int bd_afile_sweepat(int dirfd);

/* Convenience: atomically replaces dir/name with len bytes. */
bd_status bd_atomic_write(const char *dir, const char *name, const void *p,
                          size_t len);
/* The same in the directory dirfd (borrowed; see bd_afile_openat). */
bd_status bd_atomic_writeat(int dirfd, const char *name, const void *p,
                            size_t len);

/* Maps path read-only (*data NULL for an empty file). ENOTFOUND when it
 * does not exist, EIO otherwise (also for a FIFO, socket or device, which
 * is opened non-blocking and refused). Unmap with bd_file_unmap. Inside
 * the data directory use bd_file_mapat (safe_path.h), which follows no
 * link. */
bd_status bd_file_map(const char *path, void **data, size_t *len);
void bd_file_unmap(void *data, size_t len);

#endif
