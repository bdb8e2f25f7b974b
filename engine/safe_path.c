/* safe_path.c - openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS) with a
 * per-component O_NOFOLLOW fallback; regular files only. */
#define _GNU_SOURCE
#include "safe_path.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifdef __linux__
#include <linux/openat2.h>
#endif

static int use_openat2 = 1; /* 1 try, 0 never (tests or no kernel support) */

void bd_safe_path_use_openat2(bool on) {
  __atomic_store_n(&use_openat2, on ? 1 : 0, __ATOMIC_RELAXED);
}

/* Whether rel is a relative path of plain components. */
static bool rel_ok(const char *rel) {
  if (!rel || !*rel || *rel == '/' || strlen(rel) >= PATH_MAX) return false;
  for (const char *p = rel; *p;) {
    const char *e = strchr(p, '/');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    if (n == 0 || (n == 1 && p[0] == '.') ||
        (n == 2 && p[0] == '.' && p[1] == '.'))
      return false;
    p += n;
    if (*p == '/' && !*++p) return false; /* trailing '/' */
  }
  return true;
}

/* The fallback: opens every level with O_NOFOLLOW, so a link anywhere
 * fails with ELOOP (or ENOTDIR for an intermediate one). */
static int walk_nofollow(int dirfd, const char *rel, int flags, mode_t mode) {
  char buf[PATH_MAX];
  snprintf(buf, sizeof buf, "%s", rel);
  int cur = dirfd;
  char *p = buf;
  for (;;) {
    char *slash = strchr(p, '/');
    if (!slash) break;
    *slash = 0;
    int next = openat(cur, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int err = errno;
    if (cur != dirfd) close(cur);
    if (next < 0) {
      errno = err == ENOTDIR ? ELOOP : err;
      return -1;
    }
    cur = next;
    p = slash + 1;
  }
  int fd = openat(cur, p, flags | O_NOFOLLOW | O_CLOEXEC, mode);
  int err = errno;
  if (cur != dirfd) close(cur);
  errno = err;
  return fd;
}

int bd_openat_beneath(int dirfd, const char *rel, int flags, mode_t mode) {
  if (!rel_ok(rel)) {
    errno = EINVAL;
    return -1;
  }
  flags |= O_NOFOLLOW | O_CLOEXEC;
#if defined(__linux__) && defined(SYS_openat2)
  if (__atomic_load_n(&use_openat2, __ATOMIC_RELAXED)) {
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = (unsigned long long)flags;
    how.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    long fd = syscall(SYS_openat2, dirfd, rel, &how, sizeof how);
    if (fd >= 0) return (int)fd;
    /* No openat2 in this kernel (or a seccomp filter hides it). */
    if (errno != ENOSYS && errno != EPERM) return -1;
  }
#endif
  return walk_nofollow(dirfd, rel, flags, mode);
}

/* The EIO/ENOTFOUND status for a directory level that failed to open. */
static bd_status dir_fail(const char *rel, int err) {
  if (err == ENOENT)
    return bd_fail(BD_ENOTFOUND, "directory %s does not exist", rel);
  if (err == ELOOP || err == ENOTDIR || err == EXDEV)
    return bd_fail(BD_EIO,
                   "%s is a symbolic link or not a directory (refused: "
                   "nothing is followed out of the data directory)",
                   rel);
  return bd_fail(BD_EIO, "cannot open directory %s: %s", rel, strerror(err));
}

bd_status bd_dir_openat(int dirfd, const char *rel, bool create, int *out) {
  *out = -1;
  if (!rel_ok(rel)) return bd_fail(BD_EINVAL, "bad directory path '%s'", rel);
  char buf[PATH_MAX];
  snprintf(buf, sizeof buf, "%s", rel);
  /* Level by level, each made inside the fd of the level above (never
   * through a path a link could redirect) and opened before the next. */
  int cur = dirfd;
  for (char *p = buf, *comp = buf;; p++) {
    bool last = *p == 0;
    if (*p != '/' && !last) continue;
    *p = 0;
    /* A full disk is ENOSPACE; other mkdir errors show in the open. */
    if (create && mkdirat(cur, comp, 0755) != 0 &&
        (errno == ENOSPC || errno == EDQUOT)) {
      int err = errno;
      if (cur != dirfd) close(cur);
      return bd_fail(BD_ENOSPACE, "cannot create %s: %s", buf, strerror(err));
    }
    int fd = bd_openat_beneath(cur, comp, O_RDONLY | O_DIRECTORY, 0);
    int err = errno;
    if (cur != dirfd) close(cur);
    if (fd < 0) return dir_fail(buf, err);
    if (last) {
      *out = fd;
      return BD_OK;
    }
    cur = fd;
    *p = '/';
    comp = p + 1;
  }
}

bd_status bd_file_openat(int dirfd, const char *name, int *fd, size_t *size) {
  *fd = -1;
  if (size) *size = 0;
  /* O_NONBLOCK: opening a FIFO for reading must not wait for a writer. */
  int f = bd_openat_beneath(dirfd, name, O_RDONLY | O_NONBLOCK, 0);
  if (f < 0) {
    int err = errno;
    if (err == ENOENT)
      return bd_fail(BD_ENOTFOUND, "file %s does not exist", name);
    if (err == ELOOP || err == EXDEV || err == ENOTDIR)
      return bd_fail(BD_EUNSUPPORTED,
                     "%s is a symbolic link, not a regular file (refused)",
                     name);
    return bd_fail(BD_EIO, "cannot open %s: %s", name, strerror(err));
  }
  struct stat st;
  if (fstat(f, &st) != 0) {
    int err = errno;
    close(f);
    return bd_fail(BD_EIO, "cannot stat %s: %s", name, strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    close(f);
    return bd_fail(BD_EUNSUPPORTED, "%s is not a regular file (a %s; refused)",
                   name,
                   S_ISDIR(st.st_mode)    ? "directory"
                   : S_ISFIFO(st.st_mode) ? "FIFO"
                   : S_ISSOCK(st.st_mode) ? "socket"
                                          : "device");
  }
  int fl = fcntl(f, F_GETFL);
  if (fl < 0 || fcntl(f, F_SETFL, fl & ~O_NONBLOCK) != 0) {
    int err = errno;
    close(f);
    return bd_fail(BD_EIO, "cannot set %s blocking: %s", name, strerror(err));
  }
  *fd = f;
  if (size) *size = (size_t)st.st_size;
  return BD_OK;
}

bd_status bd_file_map_fd(int fd, const char *what, void **data, size_t *len) {
  *data = NULL;
  *len = 0;
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
    return bd_fail(BD_EIO, "%s is not a regular file", what);
  if (st.st_size == 0) return BD_OK;
  /* MAP_POPULATE: one bulk fault-in instead of one fault per page. */
  void *p = mmap(NULL, (size_t)st.st_size, PROT_READ,
                 MAP_PRIVATE | MAP_POPULATE, fd, 0);
  if (p == MAP_FAILED)
    return bd_fail(BD_EIO, "cannot map %s: %s", what, strerror(errno));
  madvise(p, (size_t)st.st_size, MADV_SEQUENTIAL);
  *data = p;
  *len = (size_t)st.st_size;
  return BD_OK;
}

bd_status bd_file_mapat(int dirfd, const char *name, void **data, size_t *len) {
  *data = NULL;
  *len = 0;
  int fd;
  bd_status s = bd_file_openat(dirfd, name, &fd, NULL);
  if (s) return s;
  s = bd_file_map_fd(fd, name, data, len);
  close(fd);
  return s;
}
