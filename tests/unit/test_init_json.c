/* test_init_json.c - proto/init_json: init steps from JSON, their
 * defaults, and the messages that name the field at fault. */
#include <check.h>
#include <cjson/cJSON.h>
#include <string.h>

#include "proto/init_json.h"

static bd_init_step parse_ok(const char *json, const char *const *extra) {
  cJSON *j = cJSON_Parse(json);
  ck_assert_ptr_nonnull(j);
  bd_init_step st;
  bd_status s = proto_init_step_parse(j, "step", extra, &st);
  ck_assert_msg(s == BD_OK, "parse %s: %s", json, bd_errmsg());
  cJSON_Delete(j);
  return st;
}

START_TEST(test_step_fields_and_defaults) {
  bd_init_step st = parse_ok("{\"method\":\"normal\"}", NULL);
  ck_assert_int_eq(st.method, BD_INIT_NORMAL);
  ck_assert_double_eq(st.mean, 0);
  ck_assert_double_eq(st.std, 1);
  st = parse_ok("{\"method\":\"uniform\",\"a\":-10,\"b\":10}", NULL);
  ck_assert_double_eq(st.a, -10);
  ck_assert_double_eq(st.b, 10);
  st = parse_ok("{\"method\":\"kaiming_uniform\"}", NULL);
  ck_assert(!st.fan_out);
  ck_assert_int_eq(st.nonlinearity, BD_NL_LEAKY_RELU);
  ck_assert_double_eq(st.a, 0);
  st = parse_ok(
      "{\"method\":\"kaiming_normal\",\"mode\":\"fan_out\","
      "\"nonlinearity\":\"relu\",\"a\":0.5}",
      NULL);
  ck_assert(st.fan_out);
  ck_assert_int_eq(st.nonlinearity, BD_NL_RELU);
  ck_assert_double_eq(st.a, 0.5);
  st = parse_ok("{\"method\":\"xavier_normal\",\"gain\":2}", NULL);
  ck_assert_double_eq(st.gain, 2);
  st = parse_ok("{\"method\":\"mask_abs_below\",\"threshold\":5}", NULL);
  ck_assert_double_eq(st.threshold, 5);
  /* the defaults are the engine's, field for field */
  bd_init_step d = bd_init_step_default(BD_INIT_EYE);
  st = parse_ok("{\"method\":\"eye\"}", NULL);
  ck_assert_int_eq(memcmp(&d, &st, sizeof d), 0);
}
END_TEST

START_TEST(test_extra_fields_skipped) {
  static const char *const extra[] = {"target", "blocks", NULL};
  bd_init_step st = parse_ok(
      "{\"method\":\"constant\",\"value\":3,\"target\":\"weight\"}", extra);
  ck_assert_int_eq(st.method, BD_INIT_CONSTANT);
  ck_assert_double_eq(st.value, 3);
}
END_TEST

static void expect_parse_error(const char *json, const char *needle) {
  cJSON *j = cJSON_Parse(json);
  ck_assert_ptr_nonnull(j);
  bd_init_step st;
  ck_assert_int_eq(proto_init_step_parse(j, "step", NULL, &st), BD_EINVAL);
  ck_assert_msg(strstr(bd_errmsg(), needle), "%s: message '%s' lacks '%s'",
                json, bd_errmsg(), needle);
  cJSON_Delete(j);
}

START_TEST(test_step_parse_errors) {
  expect_parse_error("[]", "step: an init step must be a JSON object");
  expect_parse_error("{\"method\":1}", "step.method: must be a string");
  expect_parse_error("{\"method\":\"constant\",\"value\":1,\"target\":1}",
                     "step.target: unknown field for init method 'constant'");
  expect_parse_error("{\"method\":\"glorot\"}", "unknown init method");
  expect_parse_error("{}", "step.method: missing");
  expect_parse_error("{\"method\":\"normal\",\"a\":1}", "step.a");
  expect_parse_error("{\"method\":\"normal\",\"std\":\"x\"}", "step.std");
  expect_parse_error("{\"method\":\"normal\",\"std\":-1}", "step.std");
  expect_parse_error("{\"method\":\"uniform\",\"a\":2,\"b\":1}", "a <= b");
  expect_parse_error("{\"method\":\"constant\"}", "step.value: missing");
  expect_parse_error("{\"method\":\"kaiming_normal\",\"mode\":\"in\"}",
                     "step.mode");
  expect_parse_error("{\"method\":\"kaiming_normal\",\"nonlinearity\":\"x\"}",
                     "step.nonlinearity");
  expect_parse_error("{\"method\":\"mask_abs_below\"}", "threshold");
}
END_TEST

int main(void) {
  Suite *s = suite_create("init_json");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, test_step_fields_and_defaults);
  tcase_add_test(tc, test_extra_fields_skipped);
  tcase_add_test(tc, test_step_parse_errors);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
