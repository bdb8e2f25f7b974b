/* test_names.c - engine/names: UTF-8 validation and plain names. */
#include <check.h>
#include <string.h>

#include "engine/names.h"

START_TEST(utf8) {
  ck_assert(bd_utf8_valid("", 0));
  ck_assert(bd_utf8_valid("abc", 3));
  ck_assert(bd_utf8_valid("caf\xc3\xa9", 5));      /* é */
  ck_assert(bd_utf8_valid("\xe2\x82\xac", 3));     /* € */
  ck_assert(bd_utf8_valid("\xf0\x9f\x98\x80", 4)); /* U+1F600 */
  ck_assert(bd_utf8_valid("\xf4\x8f\xbf\xbf", 4)); /* U+10FFFF */
  ck_assert(!bd_utf8_valid("\xff\xfe", 2));
  ck_assert(!bd_utf8_valid("\x80", 1));             /* lone tail */
  ck_assert(!bd_utf8_valid("\xc3", 1));             /* truncated */
  ck_assert(!bd_utf8_valid("\xc3(", 2));            /* bad tail */
  ck_assert(!bd_utf8_valid("\xc0\xaf", 2));         /* overlong / */
  ck_assert(!bd_utf8_valid("\xe0\x80\xaf", 3));     /* overlong / */
  ck_assert(!bd_utf8_valid("\xf0\x80\x80\xaf", 4)); /* overlong / */
  ck_assert(!bd_utf8_valid("\xed\xa0\x80", 3));     /* U+D800 */
  ck_assert(!bd_utf8_valid("\xed\xbf\xbf", 3));     /* U+DFFF */
  ck_assert(!bd_utf8_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
  ck_assert_uint_eq(bd_utf8_seq_len("\xe2\x82\xac", 3), 3);
  ck_assert_uint_eq(bd_utf8_seq_len("\xe2\x82", 2), 0);
  ck_assert_uint_eq(bd_utf8_seq_len("\xe2\x82\0", 3), 0); /* stops at NUL */
}
END_TEST

START_TEST(plain_names) {
  ck_assert(bd_file_name_ok("mlp.params"));
  ck_assert(bd_file_name_ok("caf\xc3\xa9.pt"));
  ck_assert(!bd_file_name_ok(NULL));
  ck_assert(!bd_file_name_ok("\xff\xfe"));
  ck_assert(
      !bd_file_name_ok("a\xc0\xaf"
                       "b")); /* overlong '/' */
  ck_assert(!bd_file_name_ok("a\\b"));
  ck_assert(!bd_file_name_ok("a\x7f"));
  ck_assert(!bd_file_name_ok("a\xc2\x85")); /* C1 control (NEL) */
  ck_assert(!bd_file_name_ok("."));
  char max[BD_FILE_NAME_MAX + 2];
  memset(max, 'a', sizeof max);
  max[BD_FILE_NAME_MAX] = 0;
  ck_assert(bd_file_name_ok(max));
  max[BD_FILE_NAME_MAX] = 'a';
  max[BD_FILE_NAME_MAX + 1] = 0;
  ck_assert(!bd_file_name_ok(max));
}
END_TEST

START_TEST(check_messages) {
  ck_assert_int_eq(bd_name_check("tensor", "x"), BD_OK);
  ck_assert_int_eq(bd_name_check("tensor", "\xff\xfe"), BD_EINVAL);
  const char *m = bd_errmsg();
  ck_assert_ptr_nonnull(strstr(m, "tensor name is not valid UTF-8"));
  ck_assert(bd_utf8_valid(m, strlen(m)));
  ck_assert_int_eq(bd_name_check("file", ".x"), BD_EINVAL);
  ck_assert_ptr_nonnull(strstr(bd_errmsg(), "file name '.x' starts with"));
  /* A long name is cut at a character boundary, never inside é. */
  char longn[400] = "a";
  for (int i = 0; i < 150; i++) strcat(longn, "\xc3\xa9");
  ck_assert_int_eq(bd_name_check("file", longn), BD_EINVAL);
  m = bd_errmsg();
  ck_assert_ptr_nonnull(strstr(m, "is too long"));
  ck_assert(bd_utf8_valid(m, strlen(m)));
}
END_TEST

int main(void) {
  Suite *s = suite_create("names");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, utf8);
  tcase_add_test(tc, plain_names);
  tcase_add_test(tc, check_messages);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
