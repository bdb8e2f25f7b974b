/* safe_path.h - opening files inside a directory without ever leaving it.
 *
 * Everything the daemon reads or writes under its data directory is
 * opened relative to a directory file descriptor, never by a path string:
 * a symbolic link planted anywhere below (data-dir/files/x -> /etc/passwd,
 * data-dir/models/m -> /home/someone) is refused, not followed, and so are
 * FIFOs, sockets and devices (opened with O_NONBLOCK, so a FIFO cannot
 * block a worker, and refused once fstat shows they are not regular).
 *
 * Where the kernel has openat2 (Linux 5.6+), resolution uses
 * RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS; elsewhere
 * each component is opened with O_NOFOLLOW in turn. */
#ifndef BD_SAFE_PATH_H
#define BD_SAFE_PATH_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "status.h"

/* Opens rel beneath dirfd: rel is one or more '/'-separated components,
 * none empty, "." or "..", not absolute. flags and mode are openat's;
 * O_NOFOLLOW and O_CLOEXEC are always added, and no component (the last
 * one included) may be a symbolic link. Returns the new fd (caller closes),
 * or -1 with errno: ELOOP for a symbolic link, EINVAL for a bad rel, or
 * openat's errno. */
int bd_openat_beneath(int dirfd, const char *rel, int flags, mode_t mode);

/* Test switch: false makes bd_openat_beneath use the per-component
 * O_NOFOLLOW walk even where openat2 exists (both paths are tested). */
void bd_safe_path_use_openat2(bool on);

/* Opens the directory rel beneath dirfd (mkdir'ing each missing level,
 * mode 0755, when create) into *out (caller closes). Errors: EIO naming
 * rel when a level is a symbolic link or not a directory, or cannot be
 * opened or created; ENOSPACE when a full disk or quota stops a mkdir;
 * ENOTFOUND when it does not exist and !create. */
bd_status bd_dir_openat(int dirfd, const char *rel, bool create, int *out);

/* Opens the regular file name beneath dirfd for reading into *fd (caller
 * closes; blocking mode restored) and its size into *size (optional).
 * Errors: ENOTFOUND when it does not exist; EUNSUPPORTED when it is a
 * symbolic link, FIFO, socket, device or directory (never read); EIO
 * otherwise. Messages name `name`. */
bd_status bd_file_openat(int dirfd, const char *name, int *fd, size_t *size);

/* Maps the regular file name beneath dirfd read-only (*data NULL for an
 * empty file); errors as bd_file_openat. Unmap with bd_file_unmap
 * (atomic_file.h). */
bd_status bd_file_mapat(int dirfd, const char *name, void **data, size_t *len);

/* Maps the open regular file fd read-only (*data NULL when empty); what
 * names it in messages. Does not close fd. EIO. */
bd_status bd_file_map_fd(int fd, const char *what, void **data, size_t *len);

#endif
