/* test_safe_path.c - engine/safe_path and the dirfd-relative atomic
 * writes: no symbolic link is followed, FIFOs and devices are refused
 * without blocking. Every case runs twice: with openat2 (where the kernel
 * has it) and with the per-component O_NOFOLLOW walk. */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/atomic_file.h"
#include "engine/safe_path.h"

static char root[64], outside[64];
static int rootfd;

/* root/ holds real.txt, dir/, link -> outside/secret, dirlink -> outside,
 * fifo; outside/ holds secret. */
static void setup(void) {
  snprintf(root, sizeof root, "/tmp/bd_safe_XXXXXX");
  snprintf(outside, sizeof outside, "/tmp/bd_out_XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(root));
  ck_assert_ptr_nonnull(mkdtemp(outside));
  char p[256], q[256];
  snprintf(p, sizeof p, "%s/secret", outside);
  ck_assert_int_eq(bd_atomic_write(outside, "secret", "canary", 6), BD_OK);
  ck_assert_int_eq(bd_atomic_write(root, "real.txt", "hello", 5), BD_OK);
  snprintf(q, sizeof q, "%s/link", root);
  ck_assert_int_eq(symlink(p, q), 0);
  snprintf(q, sizeof q, "%s/dirlink", root);
  ck_assert_int_eq(symlink(outside, q), 0);
  snprintf(q, sizeof q, "%s/dir", root);
  ck_assert_int_eq(mkdir(q, 0755), 0);
  snprintf(q, sizeof q, "%s/fifo", root);
  ck_assert_int_eq(mkfifo(q, 0644), 0);
  rootfd = open(root, O_RDONLY | O_DIRECTORY);
  ck_assert_int_ge(rootfd, 0);
}

static void teardown(void) {
  close(rootfd);
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf %s %s", root, outside);
  ck_assert_int_eq(system(cmd), 0);
  bd_safe_path_use_openat2(true);
}

/* The canary outside root is still there, unchanged. */
static void canary_intact(void) {
  char p[256];
  snprintf(p, sizeof p, "%s/secret", outside);
  void *data;
  size_t len;
  ck_assert_int_eq(bd_file_map(p, &data, &len), BD_OK);
  ck_assert_uint_eq(len, 6);
  ck_assert_int_eq(memcmp(data, "canary", 6), 0);
  bd_file_unmap(data, len);
}

START_TEST(open_refuses_links) {
  bd_safe_path_use_openat2(_i == 0);
  int fd = bd_openat_beneath(rootfd, "real.txt", O_RDONLY, 0);
  ck_assert_int_ge(fd, 0);
  close(fd);
  errno = 0;
  ck_assert_int_eq(bd_openat_beneath(rootfd, "link", O_RDONLY, 0), -1);
  ck_assert_int_eq(errno, ELOOP);
  ck_assert_int_eq(bd_openat_beneath(rootfd, "dirlink/secret", O_RDONLY, 0),
                   -1);
  ck_assert_int_eq(errno, ELOOP);
  ck_assert_int_eq(bd_openat_beneath(rootfd, "../x", O_RDONLY, 0), -1);
  ck_assert_int_eq(errno, EINVAL);
  ck_assert_int_eq(bd_openat_beneath(rootfd, "/etc/passwd", O_RDONLY, 0), -1);
  ck_assert_int_eq(errno, EINVAL);
  ck_assert_int_eq(bd_openat_beneath(rootfd, "dir/", O_RDONLY, 0), -1);
  ck_assert_int_eq(errno, EINVAL);
}
END_TEST

START_TEST(file_openat_regular_only) {
  bd_safe_path_use_openat2(_i == 0);
  int fd;
  size_t n;
  ck_assert_int_eq(bd_file_openat(rootfd, "real.txt", &fd, &n), BD_OK);
  ck_assert_uint_eq(n, 5);
  ck_assert_int_eq(fcntl(fd, F_GETFL) & O_NONBLOCK, 0); /* blocking again */
  close(fd);
  ck_assert_int_eq(bd_file_openat(rootfd, "link", &fd, &n), BD_EUNSUPPORTED);
  ck_assert_int_eq(fd, -1);
  ck_assert_ptr_nonnull(strstr(bd_errmsg(), "symbolic link"));
  /* A FIFO with no writer: returns at once (O_NONBLOCK), refused. */
  ck_assert_int_eq(bd_file_openat(rootfd, "fifo", &fd, &n), BD_EUNSUPPORTED);
  ck_assert_ptr_nonnull(strstr(bd_errmsg(), "FIFO"));
  ck_assert_int_eq(bd_file_openat(rootfd, "dir", &fd, &n), BD_EUNSUPPORTED);
  ck_assert_int_eq(bd_file_openat(rootfd, "none", &fd, &n), BD_ENOTFOUND);
  void *data;
  size_t len;
  ck_assert_int_eq(bd_file_mapat(rootfd, "real.txt", &data, &len), BD_OK);
  ck_assert_uint_eq(len, 5);
  ck_assert_int_eq(memcmp(data, "hello", 5), 0);
  bd_file_unmap(data, len);
  ck_assert_int_eq(bd_file_mapat(rootfd, "link", &data, &len), BD_EUNSUPPORTED);
  ck_assert_ptr_null(data);
  /* bd_file_map by path refuses a FIFO without blocking too. */
  char p[256];
  snprintf(p, sizeof p, "%s/fifo", root);
  ck_assert_int_eq(bd_file_map(p, &data, &len), BD_EIO);
}
END_TEST

START_TEST(dir_openat_levels) {
  bd_safe_path_use_openat2(_i == 0);
  int fd;
  ck_assert_int_eq(bd_dir_openat(rootfd, "new/sub", false, &fd), BD_ENOTFOUND);
  ck_assert_int_eq(bd_dir_openat(rootfd, "new/sub", true, &fd), BD_OK);
  ck_assert_int_ge(fd, 0);
  close(fd);
  ck_assert_int_eq(bd_dir_openat(rootfd, "new/sub", false, &fd), BD_OK);
  close(fd);
  /* A linked level is refused, and nothing is created through it. */
  ck_assert_int_eq(bd_dir_openat(rootfd, "dirlink", true, &fd), BD_EIO);
  ck_assert_ptr_nonnull(strstr(bd_errmsg(), "symbolic link"));
  ck_assert_int_eq(bd_dir_openat(rootfd, "dirlink/m", true, &fd), BD_EIO);
  char p[256];
  struct stat st;
  snprintf(p, sizeof p, "%s/m", outside);
  ck_assert_int_ne(stat(p, &st), 0);
  ck_assert_int_eq(bd_dir_openat(rootfd, "real.txt", true, &fd), BD_EIO);
  ck_assert_int_eq(fd, -1);
}
END_TEST

START_TEST(afile_openat_replaces_link_not_target) {
  bd_safe_path_use_openat2(_i == 0);
  /* Writing "link" replaces the link itself; the target keeps its bytes. */
  ck_assert_int_eq(bd_atomic_writeat(rootfd, "link", "new", 3), BD_OK);
  canary_intact();
  struct stat st;
  ck_assert_int_eq(fstatat(rootfd, "link", &st, AT_SYMLINK_NOFOLLOW), 0);
  ck_assert(S_ISREG(st.st_mode));
  ck_assert_uint_eq(st.st_size, 3);
  bd_afile *f;
  ck_assert_int_eq(bd_afile_openat(rootfd, "dirlink/secret", &f), BD_EINVAL);
  ck_assert_int_eq(bd_afile_openat(rootfd, "..", &f), BD_EINVAL);
  canary_intact();
  /* An aborted write leaves no temporary file behind. */
  ck_assert_int_eq(bd_afile_openat(rootfd, "x", &f), BD_OK);
  ck_assert_int_eq(bd_afile_write(f, "abc", 3), BD_OK);
  bd_afile_abort(f);
  ck_assert_int_ne(fstatat(rootfd, "x", &st, AT_SYMLINK_NOFOLLOW), 0);
}
END_TEST

int main(void) {
  Suite *s = suite_create("safe_path");
  TCase *tc = tcase_create("core");
  tcase_add_checked_fixture(tc, setup, teardown);
  /* _i == 0: openat2 where the kernel has it; 1: the O_NOFOLLOW walk. */
  tcase_add_loop_test(tc, open_refuses_links, 0, 2);
  tcase_add_loop_test(tc, file_openat_regular_only, 0, 2);
  tcase_add_loop_test(tc, dir_openat_levels, 0, 2);
  tcase_add_loop_test(tc, afile_openat_replaces_link_not_target, 0, 2);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
