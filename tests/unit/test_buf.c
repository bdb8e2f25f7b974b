/* test_buf.c - proto/buf: JSON string literals are always valid UTF-8. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "engine/names.h"
#include "proto/buf.h"

/* s as a JSON literal, malloc'd. */
static char *lit(const char *s) {
  proto_buf b = {0};
  proto_buf_json_str(&b, s);
  return proto_buf_take(&b, NULL);
}

START_TEST(json_str_escapes_and_keeps_utf8) {
  char *t = lit("a\"b\\c\n");
  ck_assert_str_eq(t, "\"a\\\"b\\\\c\\u000a\"");
  free(t);
  t = lit("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
  ck_assert_str_eq(t, "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
  free(t);
}
END_TEST

START_TEST(json_str_replaces_invalid_utf8) {
  char *t = lit("\xff\xfek");
  ck_assert_str_eq(t, "\"\\ufffd\\ufffdk\"");
  free(t);
  t = lit("x\xc3"); /* truncated at the end of the string */
  ck_assert_str_eq(t, "\"x\\ufffd\"");
  free(t);
  t = lit("\xed\xa0\x80!"); /* a surrogate: three bad bytes */
  ck_assert_str_eq(t, "\"\\ufffd\\ufffd\\ufffd!\"");
  ck_assert(bd_utf8_valid(t, strlen(t)));
  free(t);
}
END_TEST

int main(void) {
  Suite *s = suite_create("buf");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, json_str_escapes_and_keeps_utf8);
  tcase_add_test(tc, json_str_replaces_invalid_utf8);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
