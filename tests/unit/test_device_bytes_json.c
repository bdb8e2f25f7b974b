/* test_device_bytes_json.c - proto/device_bytes_json: the "device_bytes"
 * object of a model description. */
#include <check.h>
#include <cjson/cJSON.h>
#include <stdlib.h>

#include "proto/device_bytes_json.h"

START_TEST(devices_in_order) {
  bd_device_bytes v[] = {{BD_CPU, 396}, {{BD_DEV_CUDA, 1}, 8}};
  cJSON *j = proto_device_bytes_json(v, 2);
  ck_assert_ptr_nonnull(j);
  char *txt = cJSON_PrintUnformatted(j);
  ck_assert_str_eq(txt, "{\"cpu\":396,\"cuda:1\":8}");
  free(txt);
  cJSON_Delete(j);
}
END_TEST

START_TEST(empty_model_is_empty_object) {
  cJSON *j = proto_device_bytes_json(NULL, 0);
  ck_assert(cJSON_IsObject(j));
  ck_assert_int_eq(cJSON_GetArraySize(j), 0);
  cJSON_Delete(j);
}
END_TEST

int main(void) {
  Suite *s = suite_create("device_bytes_json");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, devices_in_order);
  tcase_add_test(tc, empty_model_is_empty_object);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
