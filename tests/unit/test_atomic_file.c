/* test_atomic_file.c - engine/atomic_file: sandboxed file names and the
 * write / commit / abort / map cycle. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/atomic_file.h"

START_TEST(file_names) {
  ck_assert(bd_file_name_ok("mlp.params"));
  ck_assert(bd_file_name_ok("x-file"));
  ck_assert(!bd_file_name_ok(""));
  ck_assert(!bd_file_name_ok(".."));
  ck_assert(!bd_file_name_ok(".hidden"));
  ck_assert(!bd_file_name_ok("a/b"));
  ck_assert(!bd_file_name_ok("/etc/passwd"));
  ck_assert(!bd_file_name_ok("a\nb"));
  char longn[300];
  memset(longn, 'a', sizeof longn - 1);
  longn[sizeof longn - 1] = 0;
  ck_assert(!bd_file_name_ok(longn));
}
END_TEST

START_TEST(write_commit_abort_map) {
  char dir[] = "/tmp/bd_afile_XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  ck_assert_int_eq(bd_atomic_write(dir, "f", "old", 3), BD_OK);
  bd_afile *f;
  ck_assert_int_eq(bd_afile_open(dir, "f", &f), BD_OK);
  ck_assert_int_eq(bd_afile_write(f, "new", 3), BD_OK);
  ck_assert_int_eq(bd_afile_write(f, "er", 2), BD_OK);
  ck_assert_uint_eq(bd_afile_size(f), 5);
  bd_afile_abort(f); /* the old file stays */
  char p[256];
  snprintf(p, sizeof p, "%s/f", dir);
  void *data;
  size_t len;
  ck_assert_int_eq(bd_file_map(p, &data, &len), BD_OK);
  ck_assert_uint_eq(len, 3);
  ck_assert_int_eq(memcmp(data, "old", 3), 0);
  bd_file_unmap(data, len);
  ck_assert_int_eq(bd_afile_open(dir, "f", &f), BD_OK);
  ck_assert_int_eq(bd_afile_write(f, "newer", 5), BD_OK);
  ck_assert_int_eq(bd_afile_commit(f), BD_OK);
  ck_assert_int_eq(bd_file_map(p, &data, &len), BD_OK);
  ck_assert_uint_eq(len, 5);
  ck_assert_int_eq(memcmp(data, "newer", 5), 0);
  bd_file_unmap(data, len);
  snprintf(p, sizeof p, "%s/missing", dir);
  ck_assert_int_eq(bd_file_map(p, &data, &len), BD_ENOTFOUND);
  snprintf(p, sizeof p, "%s/f", dir);
  unlink(p);
  ck_assert_int_eq(rmdir(dir), 0); /* no temporary file left behind */
}
END_TEST

int main(void) {
  Suite *s = suite_create("atomic_file");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, file_names);
  tcase_add_test(tc, write_commit_abort_map);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
