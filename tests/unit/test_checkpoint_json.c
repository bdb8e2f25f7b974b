/* test_checkpoint_json.c - proto/checkpoint_json: the load_state_dict
 * report as the API returns it, and a model's state_dict as a tensor file
 * value carrying its block spec. */
#include <check.h>
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "engine/backend.h"
#include "proto/checkpoint_json.h"
#include "proto/spec_json.h"

START_TEST(report_json_shape) {
  char *missing[] = {"out.weight", "out.bias"}, *unexp[] = {"extra"};
  bd_load_mismatch mm = {.key = "hidden.bias",
                         .expected_ndim = 1,
                         .expected = {256},
                         .got_ndim = 2,
                         .got = {3, 4}};
  bd_load_report r = {.missing = missing,
                      .nmissing = 2,
                      .unexpected = unexp,
                      .nunexpected = 1,
                      .mismatched = &mm,
                      .nmismatched = 1,
                      .loaded = 1};
  cJSON *j = proto_load_report_json(&r, true);
  char *txt = cJSON_PrintUnformatted(j);
  ck_assert_str_eq(txt,
                   "{\"missing_keys\":[\"out.weight\",\"out.bias\"],"
                   "\"unexpected_keys\":[\"extra\"],"
                   "\"mismatched_keys\":[{\"key\":\"hidden.bias\","
                   "\"expected\":\"[256]\",\"got\":\"[3, 4]\"}],"
                   "\"loaded\":1}");
  free(txt);
  cJSON_Delete(j);
  /* the strict failure's fields carry no "loaded" */
  j = proto_load_report_json(&r, false);
  ck_assert_ptr_null(cJSON_GetObjectItem(j, "loaded"));
  ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "missing_keys")),
                   2);
  cJSON_Delete(j);
}
END_TEST

START_TEST(export_carries_spec) {
  bd_blocks_init();
  const char *spec =
      "{\"type\":\"linear\",\"in_features\":3,\"out_features\":2}";
  cJSON *j = cJSON_Parse(spec);
  bd_model *m = NULL;
  ck_assert_int_eq(proto_model_create("m", j, 1, BD_CPU, NULL, &m), BD_OK);
  cJSON_Delete(j);
  proto_tfile f;
  ck_assert_int_eq(proto_checkpoint_export(m, false, &f), BD_OK);
  ck_assert_int_eq(f.kind, PROTO_TFILE_STATE_DICT);
  ck_assert_uint_eq(f.list.n, 2);
  ck_assert_str_eq(f.list.names[0], "weight");
  char *want = proto_model_spec_string(m);
  ck_assert_ptr_nonnull(f.spec);
  ck_assert_str_eq(f.spec, want);
  cJSON *back = cJSON_Parse(f.spec);
  ck_assert_str_eq(cJSON_GetObjectItem(back, "type")->valuestring, "linear");
  cJSON_Delete(back);
  free(want);
  proto_tfile_clear(&f);
  ck_assert_ptr_null(f.spec);
  bd_model_release(m);
}
END_TEST

int main(void) {
  if (bd_backends_init() != BD_OK) return 1;
  Suite *s = suite_create("checkpoint_json");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, report_json_shape);
  tcase_add_test(tc, export_carries_spec);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
