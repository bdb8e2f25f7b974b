/* test_json_parse.c - proto_json_parse keeps the text of long integers
 * and proto_json_int64 reads them exactly. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "proto/json_parse.h"

static cJSON *parse(const char *s) {
  cJSON *j = proto_json_parse(s, strlen(s), NULL);
  ck_assert_ptr_nonnull(j);
  return j;
}

START_TEST(long_integers_exact) {
  cJSON *j = parse(
      "[9007199254740993, 9223372036854775807,"
      " -9223372036854775808, 12, 1.5, 1e19]");
  int64_t v;
  ck_assert(proto_json_int64(cJSON_GetArrayItem(j, 0), &v));
  ck_assert(v == 9007199254740993LL);
  ck_assert(proto_json_int64(cJSON_GetArrayItem(j, 1), &v));
  ck_assert(v == INT64_MAX);
  ck_assert(proto_json_int64(cJSON_GetArrayItem(j, 2), &v));
  ck_assert(v == INT64_MIN);
  ck_assert(proto_json_int64(cJSON_GetArrayItem(j, 3), &v));
  ck_assert(v == 12);
  ck_assert_ptr_null(cJSON_GetArrayItem(j, 3)->valuestring);
  ck_assert(!proto_json_int64(cJSON_GetArrayItem(j, 4), &v));
  ck_assert(!proto_json_int64(cJSON_GetArrayItem(j, 5), &v));
  cJSON_Delete(j);
}
END_TEST

START_TEST(out_of_range_refused) {
  cJSON *j = parse("[9223372036854775808, -9223372036854775809]");
  int64_t v;
  ck_assert(!proto_json_int64(cJSON_GetArrayItem(j, 0), &v));
  ck_assert(!proto_json_int64(cJSON_GetArrayItem(j, 1), &v));
  cJSON_Delete(j);
}
END_TEST

/* Digits inside strings and keys, and nested objects, do not shift the
 * mapping of number tokens to nodes. */
START_TEST(strings_and_nesting_keep_order) {
  cJSON *j = parse(
      "{\"k1234567890123456\": \"-9\\\"99999999999999999\","
      " \"a\": [{\"b\": 1111111111111111111}, 2],"
      " \"c\": -2222222222222222222, \"d\": true}");
  const cJSON *b = cJSON_GetObjectItem(
      cJSON_GetArrayItem(cJSON_GetObjectItem(j, "a"), 0), "b");
  int64_t v;
  ck_assert(proto_json_int64(b, &v));
  ck_assert(v == 1111111111111111111LL);
  ck_assert(
      proto_json_int64(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "a"), 1), &v));
  ck_assert(v == 2);
  ck_assert(proto_json_int64(cJSON_GetObjectItem(j, "c"), &v));
  ck_assert(v == -2222222222222222222LL);
  ck_assert_str_eq(cJSON_GetObjectItem(j, "k1234567890123456")->valuestring,
                   "-9\"99999999999999999");
  /* Printing ignores the kept text (cJSON prints the double). */
  char *s = cJSON_PrintUnformatted(cJSON_GetObjectItem(j, "a"));
  ck_assert_str_eq(s, "[{\"b\":1.1111111111111112e+18},2]");
  free(s);
  cJSON_Delete(j);
}
END_TEST

START_TEST(syntax_errors_and_trailing_data) {
  const char *end = NULL;
  ck_assert_ptr_null(proto_json_parse("[1,", 3, &end));
  const char *s = "[12345678901234567] x";
  cJSON *j = proto_json_parse(s, strlen(s), &end);
  ck_assert_ptr_nonnull(j);
  ck_assert_int_eq((int)(end - s), 19);
  int64_t v;
  ck_assert(proto_json_int64(cJSON_GetArrayItem(j, 0), &v));
  ck_assert(v == 12345678901234567LL);
  cJSON_Delete(j);
}
END_TEST

int main(void) {
  Suite *s = suite_create("json_parse");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, long_integers_exact);
  tcase_add_test(tc, out_of_range_refused);
  tcase_add_test(tc, strings_and_nesting_keep_order);
  tcase_add_test(tc, syntax_errors_and_trailing_data);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
