/* test_param_edit.c - in-place parameter edits on hand-computed cases:
 * scalar and tensor add/mul, fill, set at full and partial (negative)
 * indices, clamp with one or two bounds, replace; and the checks that
 * refuse bad edits without changing anything. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/backend.h"
#include "engine/param_edit.h"

static bd_param *make_param(void) {
  bd_param *p = calloc(1, sizeof *p);
  p->refcnt = 1;
  p->requires_grad = true;
  int64_t shape[2] = {2, 3};
  ck_assert_int_eq(bd_tensor_new(BD_CPU, BD_F32, 2, shape, &p->value), BD_OK);
  const float v[6] = {1, -2, 3, -4, 5, -6};
  memcpy(bd_tensor_f32(p->value), v, sizeof v);
  return p;
}

static bd_tensor *tensor(int ndim, const int64_t *shape, const float *v) {
  bd_tensor *t;
  ck_assert_int_eq(bd_tensor_new(BD_CPU, BD_F32, ndim, shape, &t), BD_OK);
  memcpy(bd_tensor_f32(t), v, bd_tensor_nbytes(t));
  return t;
}

static void edit_ok(bd_param *p, const bd_param_edit *e) {
  bd_status s = bd_param_edit_check(e, p, "w");
  ck_assert_msg(s == BD_OK, "check: %s", bd_errmsg());
  s = bd_param_edit_apply(e, p);
  ck_assert_msg(s == BD_OK, "apply: %s", bd_errmsg());
}

static void expect(const bd_param *p, const float *want) {
  const float *d = bd_tensor_f32(p->value);
  for (int i = 0; i < 6; i++)
    ck_assert_msg(d[i] == want[i], "element %d: %g != %g", i, d[i], want[i]);
}

START_TEST(test_scalar_and_tensor_ops) {
  bd_param *p = make_param();
  bd_param_edit e = {.op = BD_EDIT_ADD, .value = 1};
  edit_ok(p, &e);
  expect(p, (const float[]){2, -1, 4, -3, 6, -5});
  e = (bd_param_edit){.op = BD_EDIT_MUL, .value = 0.5};
  edit_ok(p, &e);
  expect(p, (const float[]){1, -0.5f, 2, -1.5f, 3, -2.5f});
  int64_t shape[2] = {2, 3};
  bd_tensor *t = tensor(2, shape, (const float[]){1, 2, 3, 4, 5, 6});
  e = (bd_param_edit){.op = BD_EDIT_MUL, .tensor = t};
  edit_ok(p, &e);
  expect(p, (const float[]){1, -1, 6, -6, 15, -15});
  e = (bd_param_edit){.op = BD_EDIT_ADD, .tensor = t};
  edit_ok(p, &e);
  expect(p, (const float[]){2, 1, 9, -2, 20, -9});
  e = (bd_param_edit){.op = BD_EDIT_FILL, .value = 7};
  edit_ok(p, &e);
  expect(p, (const float[]){7, 7, 7, 7, 7, 7});
  bd_tensor_release(t);
  bd_param_release(p);
}
END_TEST

START_TEST(test_set_and_clamp) {
  bd_param *p = make_param();
  bd_param_edit e = {
      .op = BD_EDIT_SET, .value = 42, .nindex = 2, .index = {0, 0}};
  edit_ok(p, &e);
  expect(p, (const float[]){42, -2, 3, -4, 5, -6});
  e = (bd_param_edit){
      .op = BD_EDIT_SET, .value = 9, .nindex = 2, .index = {-1, -2}};
  edit_ok(p, &e);
  expect(p, (const float[]){42, -2, 3, -4, 9, -6});
  int64_t row = 3;
  bd_tensor *t = tensor(1, &row, (const float[]){0.5f, 0.25f, 0.125f});
  e = (bd_param_edit){
      .op = BD_EDIT_SET, .tensor = t, .nindex = 1, .index = {1}};
  edit_ok(p, &e);
  expect(p, (const float[]){42, -2, 3, 0.5f, 0.25f, 0.125f});
  e = (bd_param_edit){.op = BD_EDIT_SET, .value = 0, .nindex = 1, .index = {0}};
  edit_ok(p, &e);
  expect(p, (const float[]){0, 0, 0, 0.5f, 0.25f, 0.125f});
  e = (bd_param_edit){.op = BD_EDIT_CLAMP, .has_min = true, .min = 0.2};
  edit_ok(p, &e);
  expect(p, (const float[]){0.2f, 0.2f, 0.2f, 0.5f, 0.25f, 0.2f});
  e = (bd_param_edit){.op = BD_EDIT_CLAMP,
                      .has_min = true,
                      .min = 0.21,
                      .has_max = true,
                      .max = 0.3};
  edit_ok(p, &e);
  expect(p, (const float[]){0.21f, 0.21f, 0.21f, 0.3f, 0.25f, 0.21f});
  bd_tensor_release(t);
  bd_param_release(p);
}
END_TEST

START_TEST(test_checks_refuse_and_change_nothing) {
  bd_param *p = make_param();
  const float orig[6] = {1, -2, 3, -4, 5, -6};
  bd_param_edit e = {
      .op = BD_EDIT_SET, .value = 1, .nindex = 2, .index = {2, 0}};
  ck_assert_int_eq(bd_param_edit_check(&e, p, "0.weight"), BD_EINVAL);
  ck_assert_ptr_nonnull(strstr(bd_errmsg(), "0.weight"));
  ck_assert_ptr_nonnull(strstr(bd_errmsg(), "out of range"));
  e.index[0] = -3;
  ck_assert_int_eq(bd_param_edit_check(&e, p, "w"), BD_EINVAL);
  e = (bd_param_edit){.op = BD_EDIT_SET, .value = 1, .nindex = 3};
  ck_assert_int_eq(bd_param_edit_check(&e, p, "w"), BD_EINVAL);
  int64_t two = 2;
  bd_tensor *t = tensor(1, &two, (const float[]){1, 2});
  e = (bd_param_edit){.op = BD_EDIT_ADD, .tensor = t};
  ck_assert_int_eq(bd_param_edit_check(&e, p, "w"), BD_ESHAPE);
  e = (bd_param_edit){.op = BD_EDIT_SET, .tensor = t, .nindex = 1};
  ck_assert_int_eq(bd_param_edit_check(&e, p, "w"), BD_ESHAPE);
  e = (bd_param_edit){.op = BD_EDIT_CLAMP};
  ck_assert_int_eq(bd_param_edit_check(&e, p, "w"), BD_EINVAL);
  e = (bd_param_edit){.op = BD_EDIT_FILL, .tensor = t};
  ck_assert_int_eq(bd_param_edit_check(&e, p, "w"), BD_EINVAL);
  ck_assert_int_eq(bd_param_replace_check(p, t, "w"), BD_ESHAPE);
  bd_tensor *d;
  int64_t shape[2] = {2, 3};
  ck_assert_int_eq(bd_tensor_zeros(BD_CPU, BD_F64, 2, shape, &d), BD_OK);
  ck_assert_int_eq(bd_param_replace_check(p, d, "w"), BD_EDTYPE);
  expect(p, orig);
  bd_tensor *ok = tensor(2, shape, (const float[]){6, 5, 4, 3, 2, 1});
  ck_assert_int_eq(bd_param_replace_check(p, ok, "w"), BD_OK);
  ck_assert_int_eq(bd_param_replace(p, ok), BD_OK);
  expect(p, (const float[]){6, 5, 4, 3, 2, 1});
  bd_tensor_release(ok);
  bd_tensor_release(d);
  bd_tensor_release(t);
  bd_param_release(p);
}
END_TEST

START_TEST(test_op_names) {
  bd_edit_op op;
  ck_assert(bd_edit_op_parse("clamp", &op) && op == BD_EDIT_CLAMP);
  ck_assert(!bd_edit_op_parse("pow", &op));
  ck_assert_str_eq(bd_edit_op_name(BD_EDIT_SET), "set");
}
END_TEST

int main(void) {
  if (bd_backends_init() != BD_OK) return 1;
  Suite *s = suite_create("param_edit");
  TCase *tc = tcase_create("edits");
  tcase_add_test(tc, test_scalar_and_tensor_ops);
  tcase_add_test(tc, test_set_and_clamp);
  tcase_add_test(tc, test_checks_refuse_and_change_nothing);
  tcase_add_test(tc, test_op_names);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
