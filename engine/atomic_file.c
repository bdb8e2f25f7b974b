/* atomic_file.c - temp file + fsync + rename + directory fsync. */
#define _GNU_SOURCE
#include "atomic_file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "safe_path.h"

#define BD_AFILE_BUF (1 << 20)
#define BD_AFILE_TMP ".tmp."
#define BD_AFILE_RAND_HEX 16
#define BD_AFILE_TRIES 100

struct bd_afile {
  int fd, dfd;     /* the temp file; the directory, owned (dup'd) */
  bool synced;     /* flushed, fsync'd and closed (fd is -1) */
  char *tmp, *dst; /* names in dfd */
  size_t written;
  long long crash_after; /* test hook, -1 = off */
  char *buf;
  size_t blen;
};

#ifdef BLOCKD_TEST_HOOKS
/* The crash hook of test builds (blockd-testhooks; see atomic_file.h):
 * the byte count after which a write dies, -1 when unset. */
static long long bd__crash_after(void) {
  const char *hook = getenv("BLOCKD_TEST_CRASH_AFTER_BYTES");
  return hook && *hook ? atoll(hook) : -1;
}

/* Writes what is left before the limit and dies, when this chunk would
 * cross it. */
static void bd__maybe_crash(bd_afile *f, const char *p, size_t chunk) {
  if (f->crash_after < 0) return;
  long long left = f->crash_after - (long long)f->written;
  if ((long long)chunk >= left) {
    if (left > 0 && write(f->fd, p, (size_t)left) < 0) _exit(87);
    _exit(86);
  }
}
#else
/* The shipped daemon has no crash hook. */
static long long bd__crash_after(void) { return -1; }
static void bd__maybe_crash(bd_afile *f, const char *p, size_t chunk) {
  (void)f;
  (void)p;
  (void)chunk;
}
#endif

/* The status of a failed store: a full disk or quota is ENOSPACE (507
 * insufficient_storage), anything else EIO. */
static bd_status bd__io_status(int err) {
  return err == ENOSPC || err == EDQUOT ? BD_ENOSPACE : BD_EIO;
}

/* 64 unpredictable bits: getrandom, or (when it is unavailable) the
 * clock, the pid and a counter mixed, which still differ between two
 * calls; O_EXCL catches the rest. */
static uint64_t bd__tmp_random(void) {
  static uint64_t counter;
  uint64_t v;
  if (getrandom(&v, sizeof v, GRND_NONBLOCK) == (ssize_t)sizeof v) return v;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  v = ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)ts.tv_nsec ^
      ((uint64_t)getpid() << 16) ^
      __atomic_add_fetch(&counter, 0x9e3779b97f4a7c15ull, __ATOMIC_RELAXED);
  v ^= v >> 33; /* splitmix64's finaliser */
  v *= 0xff51afd7ed558ccdull;
  v ^= v >> 33;
  return v;
}

bd_status bd_afile_open(const char *dir, const char *name, bd_afile **out) {
  *out = NULL;
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return bd_fail(BD_EIO, "cannot open directory %s: %s", dir,
                   strerror(errno));
  bd_status s = bd_afile_openat(dfd, name, out);
  close(dfd);
  return s;
}

bd_status bd_afile_openat(int dirfd, const char *name, bd_afile **out) {
  *out = NULL;
  if (!*name || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, ".."))
    return bd_fail(BD_EINVAL, "'%s' is not a file name", name);
  bd_afile *f = calloc(1, sizeof *f);
  if (!f) return bd_fail(BD_ENOMEM, "out of host memory");
  f->fd = -1;
  f->crash_after = bd__crash_after();
  f->dfd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
  f->buf = malloc(BD_AFILE_BUF);
  f->dst = strdup(name);
  if (f->dfd < 0 || !f->dst || !f->buf) {
    bd_status s = f->dfd < 0 ? bd_fail(BD_EIO, "dup: %s", strerror(errno))
                             : bd_fail(BD_ENOMEM, "out of host memory");
    bd_afile_abort(f);
    return s;
  }
  int err = EEXIST;
  for (int i = 0; i < BD_AFILE_TRIES && err == EEXIST; i++) {
    free(f->tmp);
    if (asprintf(&f->tmp, ".%s" BD_AFILE_TMP "%016llx", name,
                 (unsigned long long)bd__tmp_random()) < 0) {
      f->tmp = NULL;
      bd_afile_abort(f);
      return bd_fail(BD_ENOMEM, "out of host memory");
    }
    /* O_NOFOLLOW | O_EXCL: never write through a link planted there. */
    f->fd = openat(f->dfd, f->tmp,
                   O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    err = f->fd < 0 ? errno : 0;
  }
  if (f->fd < 0) {
    bd_status s = bd_fail(bd__io_status(err), "cannot create %s: %s", f->tmp,
                          strerror(err));
    free(f->tmp);
    f->tmp = NULL; /* not ours: never unlink it */
    bd_afile_abort(f);
    return s;
  }
  *out = f;
  return BD_OK;
}

static bd_status bd__afile_raw(bd_afile *f, const char *p, size_t n) {
  while (n) {
    size_t chunk = n > ((size_t)1 << 30) ? (size_t)1 << 30 : n;
    bd__maybe_crash(f, p, chunk);
    ssize_t w = write(f->fd, p, chunk);
    if (w < 0) {
      if (errno == EINTR) continue;
      return bd_fail(bd__io_status(errno), "writing %s: %s", f->dst,
                     strerror(errno));
    }
    p += w;
    n -= (size_t)w;
    f->written += (size_t)w;
  }
  return BD_OK;
}

static bd_status bd__afile_flush(bd_afile *f) {
  size_t n = f->blen;
  f->blen = 0;
  return n ? bd__afile_raw(f, f->buf, n) : BD_OK;
}

bd_status bd_afile_write(bd_afile *f, const void *p, size_t n) {
  if (f->blen + n <= BD_AFILE_BUF) {
    memcpy(f->buf + f->blen, p, n);
    f->blen += n;
    return BD_OK;
  }
  bd_status s = bd__afile_flush(f);
  if (s) return s;
  if (n <= BD_AFILE_BUF / 2) {
    memcpy(f->buf, p, n);
    f->blen = n;
    return BD_OK;
  }
  return bd__afile_raw(f, p, n);
}

size_t bd_afile_size(const bd_afile *f) { return f->written + f->blen; }

bd_status bd_afile_sync(bd_afile *f) {
  if (f->synced) return BD_OK;
  bd_status s = bd__afile_flush(f);
  if (!s && fsync(f->fd) != 0)
    s = bd_fail(bd__io_status(errno), "fsync %s: %s", f->tmp, strerror(errno));
  if (!s) {
    int rc = close(f->fd);
    f->fd = -1;
    if (rc != 0)
      s = bd_fail(bd__io_status(errno), "close %s: %s", f->tmp,
                  strerror(errno));
  }
  f->synced = !s;
  return s;
}

bd_status bd_afile_commit(bd_afile *f) {
  bd_status s = bd_afile_sync(f);
  /* renameat replaces a link at dst itself, never what it points to. */
  if (!s && renameat(f->dfd, f->tmp, f->dfd, f->dst) != 0)
    s = bd_fail(bd__io_status(errno), "rename to %s: %s", f->dst,
                strerror(errno));
  if (s) {
    bd_afile_abort(f);
    return s;
  }
  if (fsync(f->dfd) != 0)
    s = bd_fail(BD_EIO, "fsync directory of %s: %s", f->dst, strerror(errno));
  free(f->tmp);
  f->tmp = NULL; /* renamed: nothing to unlink */
  bd_afile_abort(f);
  return s;
}

void bd_afile_abort(bd_afile *f) {
  if (!f) return;
  if (f->fd >= 0) close(f->fd);
  if (f->tmp && f->dfd >= 0) unlinkat(f->dfd, f->tmp, 0);
  if (f->dfd >= 0) close(f->dfd);
  free(f->tmp);
  free(f->dst);
  free(f->buf);
  free(f);
}

/* Whether s is non-empty and made of the characters in set only. */
static bool bd__all_of(const char *s, const char *set) {
  return *s && strspn(s, set) == strlen(s);
}

bool bd_afile_is_temp(const char *name) {
  if (!name || name[0] != '.') return false;
  /* The last ".tmp." that is not the start of the name itself. */
  const char *t = NULL;
  for (const char *p = strstr(name + 1, BD_AFILE_TMP); p;
       p = strstr(p + 1, BD_AFILE_TMP))
    t = p;
  if (!t || t == name + 1) return false;
  const char *rest = t + strlen(BD_AFILE_TMP);
  if (strlen(rest) == BD_AFILE_RAND_HEX && bd__all_of(rest, "0123456789abcdef"))
    return true;
  /* Older daemons: <pid>.<counter>, both decimal. */
  const char *dot = strchr(rest, '.');
  if (!dot || dot == rest) return false;
  char pid[24];
  size_t n = (size_t)(dot - rest);
  if (n >= sizeof pid) return false;
  memcpy(pid, rest, n);
  pid[n] = 0;
  return bd__all_of(pid, "0123456789") && bd__all_of(dot + 1, "0123456789");
}

int bd_afile_sweep(const char *dir) {
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return 0;
  int n = bd_afile_sweepat(dfd);
  close(dfd);
  return n;
}

int bd_afile_sweepat(int dirfd) {
  int dfd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
  if (dfd < 0) return 0;
  DIR *d = fdopendir(dfd);
  if (!d) {
    close(dfd);
    return 0;
  }
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    struct stat st;
    if (!bd_afile_is_temp(e->d_name)) continue;
    /* Regular files only, and never through a symlink. */
    if (fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
        !S_ISREG(st.st_mode))
      continue;
    if (unlinkat(dfd, e->d_name, 0) == 0) n++;
  }
  closedir(d);
  return n;
}

bd_status bd_atomic_write(const char *dir, const char *name, const void *p,
                          size_t len) {
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return bd_fail(BD_EIO, "cannot open directory %s: %s", dir,
                   strerror(errno));
  bd_status s = bd_atomic_writeat(dfd, name, p, len);
  close(dfd);
  return s;
}

bd_status bd_atomic_writeat(int dirfd, const char *name, const void *p,
                            size_t len) {
  bd_afile *f;
  bd_status s = bd_afile_openat(dirfd, name, &f);
  if (s) return s;
  s = bd_afile_write(f, p, len);
  if (s) {
    bd_afile_abort(f);
    return s;
  }
  return bd_afile_commit(f);
}

bd_status bd_file_map(const char *path, void **data, size_t *len) {
  *data = NULL;
  *len = 0;
  /* O_NONBLOCK: a FIFO at path must not block; bd_file_map_fd refuses it. */
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0)
    return errno == ENOENT
               ? bd_fail(BD_ENOTFOUND, "file %s does not exist", path)
               : bd_fail(BD_EIO, "cannot open %s: %s", path, strerror(errno));
  bd_status s = bd_file_map_fd(fd, path, data, len);
  close(fd);
  return s;
}

void bd_file_unmap(void *data, size_t len) {
  if (data) munmap(data, len);
}
