/* test_loss.c - the losses of engine/loss.h: hand-computed values and
 * gradients, central finite differences, and input validation. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/backend.h"
#include "engine/loss.h"

static bd_tensor *mk(int ndim, const int64_t *shape, const float *v) {
  bd_tensor *t;
  ck_assert_int_eq(bd_tensor_new(BD_CPU, BD_F32, ndim, shape, &t), BD_OK);
  if (v) memcpy(bd_tensor_data(t), v, bd_tensor_nbytes(t));
  return t;
}

static bd_tensor *mk_i64(int ndim, const int64_t *shape, const int64_t *v) {
  bd_tensor *t;
  ck_assert_int_eq(bd_tensor_new(BD_CPU, BD_I64, ndim, shape, &t), BD_OK);
  memcpy(bd_tensor_data(t), v, bd_tensor_nbytes(t));
  return t;
}

/* Runs check + compute; returns the value and (when dy) the gradient. */
static double run(bd_loss_kind k, bd_tensor *y, bd_tensor *t, bd_tensor **dy) {
  bd_tensor *prep = NULL;
  ck_assert_msg(bd_loss_check(k, y, t, &prep) == BD_OK, "%s", bd_errmsg());
  double v = -1;
  ck_assert_msg(bd_loss_compute(k, y, prep, &v, dy) == BD_OK, "%s",
                bd_errmsg());
  bd_tensor_release(prep);
  return v;
}

static void assert_grad(bd_tensor *dy, const float *want, int64_t n) {
  ck_assert_int_eq(bd_tensor_numel(dy), n);
  for (int64_t i = 0; i < n; i++)
    ck_assert_msg(fabsf(bd_tensor_f32(dy)[i] - want[i]) <= 1e-6f,
                  "dy[%lld] = %g, want %g", (long long)i, bd_tensor_f32(dy)[i],
                  want[i]);
}

START_TEST(test_parse) {
  bd_loss_kind k;
  ck_assert(bd_loss_parse("cross_entropy", &k) && k == BD_LOSS_CROSS_ENTROPY);
  ck_assert(bd_loss_parse("mse", &k) && k == BD_LOSS_MSE);
  ck_assert(bd_loss_parse("none", &k) && k == BD_LOSS_NONE);
  ck_assert(!bd_loss_parse("l1", &k));
  ck_assert(!bd_loss_parse(NULL, &k));
  ck_assert_str_eq(bd_loss_name(BD_LOSS_MEAN), "mean");
}
END_TEST

START_TEST(test_sum_mean_values) {
  int64_t sh[2] = {2, 2};
  float v[4] = {1, 2, 3, -4};
  bd_tensor *y = mk(2, sh, v), *dy;
  ck_assert_double_eq_tol(run(BD_LOSS_SUM, y, NULL, &dy), 2.0, 1e-9);
  float ones[4] = {1, 1, 1, 1};
  assert_grad(dy, ones, 4);
  ck_assert_int_eq(dy->ndim, 2);
  bd_tensor_release(dy);
  ck_assert_double_eq_tol(run(BD_LOSS_MEAN, y, NULL, &dy), 0.5, 1e-9);
  float q[4] = {0.25f, 0.25f, 0.25f, 0.25f};
  assert_grad(dy, q, 4);
  bd_tensor_release(dy);
  bd_tensor_release(y);
}
END_TEST

START_TEST(test_mse_value) {
  int64_t sh[1] = {3};
  float yv[3] = {1, 2, 3}, tv[3] = {0, 2, 5};
  bd_tensor *y = mk(1, sh, yv), *t = mk(1, sh, tv), *dy;
  /* ((1)^2 + 0 + (-2)^2) / 3 and 2 (y - t) / 3. */
  ck_assert_double_eq_tol(run(BD_LOSS_MSE, y, t, &dy), 5.0 / 3.0, 1e-6);
  float want[3] = {2.0f / 3, 0, -4.0f / 3};
  assert_grad(dy, want, 3);
  bd_tensor_release(dy);
  bd_tensor_release(y);
  bd_tensor_release(t);
}
END_TEST

START_TEST(test_cross_entropy_value) {
  int64_t sh[2] = {2, 3}, n = 2;
  float yv[6] = {0, 0, 0, 1, 2, 3};
  int64_t tv[2] = {1, 2};
  bd_tensor *y = mk(2, sh, yv), *t = mk_i64(1, &n, tv), *dy;
  /* row 0: log 3; row 1: log(e + e^2 + e^3) - 3. */
  double r1 = log(exp(1.0) + exp(2.0) + exp(3.0)) - 3.0;
  ck_assert_double_eq_tol(run(BD_LOSS_CROSS_ENTROPY, y, t, &dy),
                          (log(3.0) + r1) / 2, 1e-6);
  double z = exp(1.0) + exp(2.0) + exp(3.0);
  float want[6] = {1.0f / 6,
                   (1.0f / 3 - 1) / 2,
                   1.0f / 6,
                   (float)(exp(1.0) / z / 2),
                   (float)(exp(2.0) / z / 2),
                   (float)((exp(3.0) / z - 1) / 2)};
  assert_grad(dy, want, 6);
  bd_tensor_release(dy);
  bd_tensor_release(y);
  bd_tensor_release(t);
}
END_TEST

START_TEST(test_cross_entropy_1d_and_float_targets) {
  int64_t c = 2;
  float yv[2] = {0, 0};
  bd_tensor *y = mk(1, &c, yv), *dy;
  float one = 1;
  bd_tensor *t = mk(0, NULL, &one); /* float class index 1.0 */
  ck_assert_double_eq_tol(run(BD_LOSS_CROSS_ENTROPY, y, t, &dy), log(2.0),
                          1e-6);
  float want[2] = {0.5f, -0.5f};
  assert_grad(dy, want, 2);
  bd_tensor_release(dy);
  bd_tensor_release(y);
  bd_tensor_release(t);
}
END_TEST

START_TEST(test_none_value) {
  int64_t sh[1] = {2};
  float yv[2] = {1, 2}, gv[2] = {3, 4};
  bd_tensor *y = mk(1, sh, yv), *g = mk(1, sh, gv), *dy;
  ck_assert_double_eq_tol(run(BD_LOSS_NONE, y, g, &dy), 11.0, 1e-6);
  assert_grad(dy, gv, 2);
  bd_tensor_release(dy);
  bd_tensor_release(y);
  bd_tensor_release(g);
}
END_TEST

/* Central differences of every loss at a random point: the analytic
 * gradient must agree to a float32-sized tolerance. */
static double lcg(uint64_t *s) {
  *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
  return (double)(*s >> 11) / 9007199254740992.0;
}

static void fd_check(bd_loss_kind k) {
  uint64_t seed = 42 + (uint64_t)k;
  int64_t sh[2] = {4, 5}, n = 4;
  float yv[20], tv[20];
  for (int i = 0; i < 20; i++) {
    yv[i] = (float)(lcg(&seed) * 4 - 2);
    tv[i] = (float)(lcg(&seed) * 4 - 2);
  }
  int64_t cls[4] = {0, 4, 2, 3};
  bd_tensor *y = mk(2, sh, yv), *t = NULL, *dy;
  if (k == BD_LOSS_CROSS_ENTROPY)
    t = mk_i64(1, &n, cls);
  else if (k == BD_LOSS_MSE || k == BD_LOSS_NONE)
    t = mk(2, sh, tv);
  run(k, y, t, &dy);
  const float eps = 1e-2f;
  for (int i = 0; i < 20; i++) {
    float keep = bd_tensor_f32(y)[i];
    bd_tensor_f32(y)[i] = keep + eps;
    double up = run(k, y, t, NULL);
    bd_tensor_f32(y)[i] = keep - eps;
    double dn = run(k, y, t, NULL);
    bd_tensor_f32(y)[i] = keep;
    double fd = (up - dn) / (2 * eps), an = bd_tensor_f32(dy)[i];
    ck_assert_msg(fabs(fd - an) <= 2e-3 + 1e-2 * fabs(an),
                  "loss %s: d/dy[%d] analytic %g, finite differences %g",
                  bd_loss_name(k), i, an, fd);
  }
  bd_tensor_release(dy);
  bd_tensor_release(y);
  bd_tensor_release(t);
}

START_TEST(test_finite_differences) {
  for (int k = 0; k < BD_LOSS_COUNT; k++) fd_check((bd_loss_kind)k);
}
END_TEST

START_TEST(test_validation) {
  int64_t sh[2] = {2, 3}, n2 = 2, n3 = 3, sh3[3] = {1, 2, 3};
  float yv[6] = {0};
  bd_tensor *y = mk(2, sh, yv), *prep = (bd_tensor *)1;
  int64_t bad_hi[2] = {0, 3}, bad_lo[2] = {-1, 0};
  bd_tensor *t_hi = mk_i64(1, &n2, bad_hi), *t_lo = mk_i64(1, &n2, bad_lo);
  ck_assert_int_eq(bd_loss_check(BD_LOSS_CROSS_ENTROPY, y, t_hi, &prep),
                   BD_EINVAL);
  ck_assert_ptr_null(prep);
  ck_assert_ptr_nonnull(strstr(bd_errmsg(), "out of range"));
  ck_assert_int_eq(bd_loss_check(BD_LOSS_CROSS_ENTROPY, y, t_lo, &prep),
                   BD_EINVAL);
  /* Wrong number of targets, and a target with the output's shape. */
  int64_t three[3] = {0, 1, 2};
  bd_tensor *t3 = mk_i64(1, &n3, three);
  ck_assert_int_eq(bd_loss_check(BD_LOSS_CROSS_ENTROPY, y, t3, &prep),
                   BD_ESHAPE);
  bd_tensor *same = mk(2, sh, yv);
  ck_assert_int_eq(bd_loss_check(BD_LOSS_CROSS_ENTROPY, y, same, &prep),
                   BD_ESHAPE);
  /* Non-integral float class index. */
  float half[2] = {0.5f, 1};
  bd_tensor *th = mk(1, &n2, half);
  ck_assert_int_eq(bd_loss_check(BD_LOSS_CROSS_ENTROPY, y, th, &prep),
                   BD_EINVAL);
  /* Rank-3 outputs are not supported by cross_entropy. */
  float z6[6] = {0};
  bd_tensor *y3 = mk(3, sh3, z6);
  int64_t one = 1;
  int64_t c0[1] = {0};
  bd_tensor *t1 = mk_i64(1, &one, c0);
  ck_assert_int_eq(bd_loss_check(BD_LOSS_CROSS_ENTROPY, y3, t1, &prep),
                   BD_ESHAPE);
  /* mse/none need the output's exact shape; sum/mean take no target. */
  ck_assert_int_eq(bd_loss_check(BD_LOSS_MSE, y, t3, &prep), BD_ESHAPE);
  ck_assert_int_eq(bd_loss_check(BD_LOSS_NONE, y, t3, &prep), BD_ESHAPE);
  ck_assert_int_eq(bd_loss_check(BD_LOSS_MSE, y, NULL, &prep), BD_EINVAL);
  ck_assert_int_eq(bd_loss_check(BD_LOSS_SUM, y, same, &prep), BD_EINVAL);
  ck_assert_int_eq(bd_loss_check(BD_LOSS_SUM, y, NULL, &prep), BD_OK);
  ck_assert_ptr_null(prep);
  /* An int64 mse target is converted to float32. */
  int64_t iv[6] = {1, 2, 3, 4, 5, 6};
  bd_tensor *ti = mk_i64(2, sh, iv);
  ck_assert_int_eq(bd_loss_check(BD_LOSS_MSE, y, ti, &prep), BD_OK);
  ck_assert_int_eq(prep->dtype, BD_F32);
  ck_assert_float_eq(bd_tensor_f32(prep)[5], 6.0f);
  bd_tensor_release(prep);
  bd_tensor *ts[] = {y, t_hi, t_lo, t3, same, th, y3, t1, ti};
  for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
    bd_tensor_release(ts[i]);
}
END_TEST

static Suite *loss_suite(void) {
  Suite *s = suite_create("loss");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, test_parse);
  tcase_add_test(tc, test_sum_mean_values);
  tcase_add_test(tc, test_mse_value);
  tcase_add_test(tc, test_cross_entropy_value);
  tcase_add_test(tc, test_cross_entropy_1d_and_float_targets);
  tcase_add_test(tc, test_none_value);
  tcase_add_test(tc, test_finite_differences);
  tcase_add_test(tc, test_validation);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  if (bd_backends_init() != BD_OK) return EXIT_FAILURE;
  SRunner *sr = srunner_create(loss_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
