/* test_checkpoint.c - engine/checkpoint: state_dict export to named
 * tensors and load_state_dict's typed report (missing, unexpected,
 * mismatched, loaded), strict and not. */
#include <check.h>
#include <cjson/cJSON.h>
#include <string.h>

#include "engine/backend.h"
#include "engine/checkpoint.h"
#include "proto/spec_json.h"

static bd_model *make(void) {
  bd_blocks_init();
  cJSON *j = cJSON_Parse(
      "{\"type\":\"sequential\",\"layers\":["
      "{\"type\":\"linear\",\"in_features\":3,\"out_features\":2},"
      "{\"type\":\"linear\",\"in_features\":2,\"out_features\":1}]}");
  bd_model *m = NULL;
  ck_assert_int_eq(proto_model_create("m", j, 1, BD_CPU, NULL, &m), BD_OK);
  cJSON_Delete(j);
  return m;
}

static bd_tensor *filled(int ndim, const int64_t *shape, float v) {
  bd_tensor *t;
  ck_assert_int_eq(bd_tensor_new(BD_CPU, BD_F32, ndim, shape, &t), BD_OK);
  float *p = bd_tensor_data(t);
  for (int64_t i = 0; i < bd_tensor_numel(t); i++) p[i] = v;
  return t;
}

START_TEST(export_in_state_dict_order) {
  bd_model *m = make();
  bd_named_tensors l = {0};
  ck_assert_int_eq(bd_checkpoint_export(m, false, &l), BD_OK);
  ck_assert_uint_eq(l.n, 4);
  ck_assert_str_eq(l.names[0], "0.weight");
  ck_assert_str_eq(l.names[1], "0.bias");
  ck_assert_str_eq(l.names[2], "1.weight");
  ck_assert_str_eq(l.names[3], "1.bias");
  ck_assert_int_eq(l.tensors[0]->ndim, 2);
  ck_assert_int_eq(l.tensors[0]->shape[0], 2);
  ck_assert_int_eq(l.tensors[0]->shape[1], 3);
  ck_assert_int_eq(bd_named_tensors_find(&l, "1.bias"), 3);
  ck_assert_int_eq(bd_named_tensors_add(&l, "0.bias", l.tensors[0]), BD_EINVAL);
  bd_named_tensors_clear(&l);
  ck_assert_uint_eq(l.n, 0);
  bd_model_release(m);
}
END_TEST

/* 0.weight right, 0.bias the wrong shape, 1.* missing, "extra" unknown. */
static void bad_state(bd_named_tensors *l) {
  int64_t w[2] = {2, 3}, b[1] = {5}, e[1] = {1};
  bd_tensor *t[3] = {filled(2, w, 7), filled(1, b, 0), filled(1, e, 0)};
  ck_assert_int_eq(bd_named_tensors_push(l, "0.weight", t[0]), BD_OK);
  ck_assert_int_eq(bd_named_tensors_push(l, "0.bias", t[1]), BD_OK);
  ck_assert_int_eq(bd_named_tensors_push(l, "extra", t[2]), BD_OK);
  for (int i = 0; i < 3; i++) bd_tensor_release(t[i]);
}

static void check_problems(const bd_load_report *r) {
  ck_assert_uint_eq(r->nmissing, 2);
  ck_assert_str_eq(r->missing[0], "1.weight");
  ck_assert_str_eq(r->missing[1], "1.bias");
  ck_assert_uint_eq(r->nunexpected, 1);
  ck_assert_str_eq(r->unexpected[0], "extra");
  ck_assert_uint_eq(r->nmismatched, 1);
  ck_assert_str_eq(r->mismatched[0].key, "0.bias");
  ck_assert_int_eq(r->mismatched[0].expected_ndim, 1);
  ck_assert_int_eq(r->mismatched[0].expected[0], 2);
  ck_assert_int_eq(r->mismatched[0].got_ndim, 1);
  ck_assert_int_eq(r->mismatched[0].got[0], 5);
}

START_TEST(strict_reports_and_changes_nothing) {
  bd_model *m = make();
  bd_named_tensors before = {0}, in = {0};
  ck_assert_int_eq(bd_checkpoint_export(m, false, &before), BD_OK);
  float w0 = ((float *)bd_tensor_data(before.tensors[0]))[0];
  bad_state(&in);
  bd_load_report r;
  ck_assert_int_eq(bd_checkpoint_load(m, &in, true, false, &r), BD_EINVAL);
  check_problems(&r);
  ck_assert_int_eq(r.loaded, 0);
  const char *msg = bd_errmsg();
  ck_assert_msg(strstr(msg, "4 problems, nothing applied"), "%s", msg);
  ck_assert_msg(strstr(msg, "missing keys: 1.weight, 1.bias"), "%s", msg);
  ck_assert_msg(strstr(msg, "unexpected keys: extra"), "%s", msg);
  ck_assert_msg(strstr(msg, "0.bias (expected [2], got [5])"), "%s", msg);
  bd_load_report_free(&r);
  bd_named_tensors after = {0};
  ck_assert_int_eq(bd_checkpoint_export(m, false, &after), BD_OK);
  ck_assert(((float *)bd_tensor_data(after.tensors[0]))[0] == w0);
  bd_named_tensors_clear(&after);
  bd_named_tensors_clear(&before);
  bd_named_tensors_clear(&in);
  bd_model_release(m);
}
END_TEST

START_TEST(non_strict_applies_what_fits) {
  bd_model *m = make();
  bd_named_tensors in = {0};
  bad_state(&in);
  bd_load_report r;
  ck_assert_int_eq(bd_checkpoint_load(m, &in, false, false, &r), BD_OK);
  check_problems(&r);
  ck_assert_int_eq(r.loaded, 1);
  bd_load_report_free(&r);
  bd_load_report_free(&r); /* idempotent: zeroed */
  bd_named_tensors out = {0};
  ck_assert_int_eq(bd_checkpoint_export(m, false, &out), BD_OK);
  ck_assert(((float *)bd_tensor_data(out.tensors[0]))[5] == 7.0f);
  bd_named_tensors_clear(&out);
  bd_named_tensors_clear(&in);
  bd_model_release(m);
}
END_TEST

START_TEST(clean_load_has_empty_report) {
  bd_model *m = make();
  bd_named_tensors l = {0};
  ck_assert_int_eq(bd_checkpoint_export(m, false, &l), BD_OK);
  bd_load_report r;
  ck_assert_int_eq(bd_checkpoint_load(m, &l, true, false, &r), BD_OK);
  ck_assert_uint_eq(r.nmissing + r.nunexpected + r.nmismatched, 0);
  ck_assert_int_eq(r.loaded, 4);
  bd_load_report_free(&r);
  bd_named_tensors_clear(&l);
  bd_model_release(m);
}
END_TEST

int main(void) {
  if (bd_backends_init() != BD_OK) return 1;
  Suite *s = suite_create("checkpoint");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, export_in_state_dict_order);
  tcase_add_test(tc, strict_reports_and_changes_nothing);
  tcase_add_test(tc, non_strict_applies_what_fits);
  tcase_add_test(tc, clean_load_has_empty_report);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
