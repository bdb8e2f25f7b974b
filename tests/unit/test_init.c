/* test_init.c - torch.nn.init's formulas on large tensors with fixed seeds
 * (moments and bounds against the closed forms), exact deterministic
 * initialisers, fans and gains, and the model-wide selector (targets,
 * blocks, types, tied blocks, atomic failure). Steps are written as JSON
 * through proto/init_json.h for brevity; its own rules are tested in
 * test_init_json.c. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/backend.h"
#include "engine/init.h"
#include "engine/model.h"
#include "engine/model_internal.h"
#include "proto/init_json.h"
#include "proto/spec_json.h"

static bd_tensor *mat(int64_t r, int64_t c) {
  int64_t shape[2] = {r, c};
  bd_tensor *t;
  ck_assert_int_eq(bd_tensor_zeros(BD_CPU, BD_F32, 2, shape, &t), BD_OK);
  return t;
}

static bd_init_step parse_step(const char *json) {
  cJSON *j = cJSON_Parse(json);
  ck_assert_ptr_nonnull(j);
  bd_init_step st;
  bd_status s = proto_init_step_parse(j, "step", NULL, &st);
  ck_assert_msg(s == BD_OK, "parse %s: %s", json, bd_errmsg());
  cJSON_Delete(j);
  return st;
}

static void apply(const char *json, bd_tensor *t, uint64_t seed) {
  bd_init_step st = parse_step(json);
  ck_assert_int_eq(bd_init_check(&st, t, "t"), BD_OK);
  uint64_t off = 0;
  bd_status s = bd_init_apply(&st, t, seed, &off);
  ck_assert_msg(s == BD_OK, "apply %s: %s", json, bd_errmsg());
}

typedef struct moments {
  double mean, std, maxabs, min, max;
} moments;

static moments stats(const bd_tensor *t) {
  const float *d = bd_tensor_f32(t);
  int64_t n = bd_tensor_numel(t);
  double s = 0, q = 0;
  moments m = {0, 0, 0, INFINITY, -INFINITY};
  for (int64_t i = 0; i < n; i++) {
    s += d[i];
    q += (double)d[i] * d[i];
    if (fabs(d[i]) > m.maxabs) m.maxabs = fabs(d[i]);
    if (d[i] < m.min) m.min = d[i];
    if (d[i] > m.max) m.max = d[i];
  }
  m.mean = s / (double)n;
  m.std = sqrt(q / (double)n - m.mean * m.mean);
  return m;
}

START_TEST(test_normal_moments) {
  bd_tensor *t = mat(1000, 1000);
  apply("{\"method\":\"normal\",\"mean\":0,\"std\":0.01}", t, 7);
  moments m = stats(t);
  /* Standard error of the mean: 0.01/1000 = 1e-5. */
  ck_assert_msg(fabs(m.mean) < 5e-5, "mean %g", m.mean);
  /* Relative standard error of the std: 1/sqrt(2e6) = 7e-4. */
  ck_assert_msg(fabs(m.std / 0.01 - 1) < 0.004, "std %g", m.std);
  apply("{\"method\":\"normal\",\"mean\":3,\"std\":2}", t, 8);
  m = stats(t);
  ck_assert_msg(fabs(m.mean - 3) < 0.01, "mean %g", m.mean);
  ck_assert_msg(fabs(m.std / 2 - 1) < 0.004, "std %g", m.std);
  bd_tensor_release(t);
}
END_TEST

START_TEST(test_uniform_bounds_and_variance) {
  bd_tensor *t = mat(1000, 1000);
  apply("{\"method\":\"uniform\",\"a\":-10,\"b\":10}", t, 1);
  moments m = stats(t);
  ck_assert(m.min >= -10 && m.max < 10);
  ck_assert(m.min < -9.99 && m.max > 9.99);
  ck_assert_msg(fabs(m.std * m.std / (400.0 / 12) - 1) < 0.01, "var %g",
                m.std * m.std);
  ck_assert_msg(fabs(m.mean) < 0.02, "mean %g", m.mean);
  /* PyTorch's defaults: U(0, 1). */
  apply("{\"method\":\"uniform\"}", t, 2);
  m = stats(t);
  ck_assert(m.min >= 0 && m.max < 1);
  ck_assert_msg(fabs(m.mean - 0.5) < 0.002, "mean %g", m.mean);
  bd_tensor_release(t);
}
END_TEST

START_TEST(test_xavier) {
  bd_tensor *t = mat(500, 300); /* fan_in 300, fan_out 500 */
  double bound = sqrt(6.0 / 800);
  apply("{\"method\":\"xavier_uniform\"}", t, 3);
  moments m = stats(t);
  ck_assert_msg(m.maxabs <= bound && m.maxabs > 0.999 * bound, "max %g",
                m.maxabs);
  ck_assert_msg(fabs(m.std * m.std / (bound * bound / 3) - 1) < 0.015, "var %g",
                m.std * m.std);
  apply("{\"method\":\"xavier_normal\",\"gain\":2}", t, 4);
  m = stats(t);
  ck_assert_msg(fabs(m.std / (2 * sqrt(2.0 / 800)) - 1) < 0.006, "std %g",
                m.std);
  ck_assert_msg(fabs(m.mean) < 5e-4, "mean %g", m.mean);
  bd_tensor_release(t);
}
END_TEST

START_TEST(test_kaiming) {
  bd_tensor *t = mat(400, 500); /* fan_in 500, fan_out 400 */
  apply("{\"method\":\"kaiming_normal\",\"nonlinearity\":\"relu\"}", t, 5);
  moments m = stats(t);
  ck_assert_msg(fabs(m.std / (sqrt(2.0) / sqrt(500.0)) - 1) < 0.006, "std %g",
                m.std);
  apply(
      "{\"method\":\"kaiming_normal\",\"mode\":\"fan_out\","
      "\"nonlinearity\":\"tanh\"}",
      t, 6);
  m = stats(t);
  ck_assert_msg(fabs(m.std / ((5.0 / 3) / sqrt(400.0)) - 1) < 0.006, "std %g",
                m.std);
  /* Defaults: a = 0, fan_in, leaky_relu -> gain sqrt(2). */
  apply("{\"method\":\"kaiming_uniform\"}", t, 7);
  m = stats(t);
  double bound = sqrt(3.0) * sqrt(2.0) / sqrt(500.0);
  ck_assert_msg(m.maxabs <= bound && m.maxabs > 0.999 * bound, "max %g",
                m.maxabs);
  ck_assert_msg(fabs(m.std / (sqrt(2.0) / sqrt(500.0)) - 1) < 0.006, "std %g",
                m.std);
  /* a = sqrt(5): nn.Linear's weight init, U(-1/sqrt(fan_in), ..). */
  apply("{\"method\":\"kaiming_uniform\",\"a\":2.2360679774997896}", t, 8);
  m = stats(t);
  bound = 1 / sqrt(500.0);
  ck_assert_msg(m.maxabs <= bound * (1 + 1e-6) && m.maxabs > 0.999 * bound,
                "max %g bound %g", m.maxabs, bound);
  bd_tensor_release(t);
}
END_TEST

START_TEST(test_fans_and_gains) {
  int64_t conv[4] = {8, 4, 3, 3}, fi, fo;
  ck_assert_int_eq(bd_init_fans(4, conv, "w", &fi, &fo), BD_OK);
  ck_assert_int_eq(fi, 36);
  ck_assert_int_eq(fo, 72);
  int64_t lin[2] = {10, 256};
  ck_assert_int_eq(bd_init_fans(2, lin, "w", &fi, &fo), BD_OK);
  ck_assert_int_eq(fi, 256);
  ck_assert_int_eq(fo, 10);
  ck_assert_int_eq(bd_init_fans(1, lin, "0.bias", &fi, &fo), BD_EINVAL);
  ck_assert_ptr_nonnull(strstr(bd_errmsg(), "0.bias"));
  ck_assert_double_eq_tol(bd_init_gain(BD_NL_LINEAR, 0), 1, 1e-15);
  ck_assert_double_eq_tol(bd_init_gain(BD_NL_SIGMOID, 0), 1, 1e-15);
  ck_assert_double_eq_tol(bd_init_gain(BD_NL_TANH, 0), 5.0 / 3, 1e-15);
  ck_assert_double_eq_tol(bd_init_gain(BD_NL_RELU, 0), sqrt(2.0), 1e-15);
  ck_assert_double_eq_tol(bd_init_gain(BD_NL_LEAKY_RELU, 0.2), sqrt(2.0 / 1.04),
                          1e-15);
  ck_assert_double_eq_tol(bd_init_gain(BD_NL_SELU, 0), 0.75, 1e-15);
  /* xavier/kaiming on a 1-d tensor fail as in PyTorch. */
  int64_t n = 10;
  bd_tensor *b;
  ck_assert_int_eq(bd_tensor_zeros(BD_CPU, BD_F32, 1, &n, &b), BD_OK);
  bd_init_step st = parse_step("{\"method\":\"xavier_uniform\"}");
  ck_assert_int_eq(bd_init_check(&st, b, "2.bias"), BD_EINVAL);
  st = parse_step("{\"method\":\"eye\"}");
  ck_assert_int_eq(bd_init_check(&st, b, "2.bias"), BD_EINVAL);
  bd_tensor_release(b);
}
END_TEST

START_TEST(test_exact_initialisers) {
  bd_tensor *t = mat(3, 5);
  const float *d = bd_tensor_f32(t);
  apply("{\"method\":\"constant\",\"value\":42}", t, 0);
  for (int i = 0; i < 15; i++) ck_assert_float_eq(d[i], 42.0f);
  apply("{\"method\":\"ones\"}", t, 0);
  for (int i = 0; i < 15; i++) ck_assert_float_eq(d[i], 1.0f);
  apply("{\"method\":\"zeros\"}", t, 0);
  for (int i = 0; i < 15; i++) ck_assert_float_eq(d[i], 0.0f);
  apply("{\"method\":\"eye\"}", t, 0);
  for (int r = 0; r < 3; r++)
    for (int c = 0; c < 5; c++)
      ck_assert_float_eq(d[r * 5 + c], r == c ? 1.0f : 0.0f);
  bd_tensor_release(t);
  t = mat(4, 2);
  d = bd_tensor_f32(t);
  apply("{\"method\":\"eye\"}", t, 0);
  for (int r = 0; r < 4; r++)
    for (int c = 0; c < 2; c++)
      ck_assert_float_eq(d[r * 2 + c], r == c ? 1.0f : 0.0f);
  bd_tensor_release(t);
}
END_TEST

START_TEST(test_mask_abs_below) {
  bd_tensor *t = mat(1, 6);
  float *d = bd_tensor_f32(t);
  const float in[6] = {-7, -5, -4.99f, 0, 4.5f, 5};
  memcpy(d, in, sizeof in);
  apply("{\"method\":\"mask_abs_below\",\"threshold\":5}", t, 0);
  const float want[6] = {-7, -5, 0, 0, 0, 5};
  for (int i = 0; i < 6; i++) ck_assert_float_eq(d[i], want[i]);
  bd_tensor_release(t);
}
END_TEST

START_TEST(test_determinism) {
  bd_tensor *a = mat(33, 7), *b = mat(33, 7);
  bd_init_step st = parse_step("{\"method\":\"normal\"}");
  uint64_t oa = 5, ob = 5;
  ck_assert_int_eq(bd_init_apply(&st, a, 9, &oa), BD_OK);
  ck_assert_int_eq(bd_init_apply(&st, b, 9, &ob), BD_OK);
  ck_assert_int_eq(memcmp(bd_tensor_data(a), bd_tensor_data(b), 33 * 7 * 4), 0);
  ck_assert_uint_eq(oa, 5 + (33 * 7 + 3) / 4);
  ck_assert_int_eq(bd_init_apply(&st, b, 9, &ob), BD_OK);
  ck_assert_int_ne(memcmp(bd_tensor_data(a), bd_tensor_data(b), 33 * 7 * 4), 0);
  bd_tensor_release(a);
  bd_tensor_release(b);
}
END_TEST

/* ---- the selector on a model ------------------------------------------ */

static bd_model *make(const char *spec) {
  bd_blocks_init();
  cJSON *j = cJSON_Parse(spec);
  ck_assert_ptr_nonnull(j);
  bd_model *m = NULL;
  bd_status s = proto_model_create("m", j, 1, BD_CPU, NULL, &m);
  ck_assert_msg(s == BD_OK, "create: %s", bd_errmsg());
  cJSON_Delete(j);
  return m;
}

static const char *const MLP =
    "{\"type\":\"sequential\",\"layers\":["
    "{\"type\":\"linear\",\"in_features\":20,\"out_features\":256},"
    "{\"type\":\"relu\"},"
    "{\"type\":\"linear\",\"in_features\":256,\"out_features\":10}]}";

static bd_tensor *param(bd_model *m, const char *path) {
  bd_state_list l = {0};
  ck_assert_int_eq(bd_block_state_dict(m->root, "", &l), BD_OK);
  long i = bd_state_list_find(&l, path);
  ck_assert_msg(i >= 0, "no %s", path);
  bd_tensor *t = l.v[i].param->value;
  bd_state_list_free(&l);
  return t;
}

/* A host copy of every state_dict tensor, concatenated. */
static float *snapshot(bd_model *m, size_t *n) {
  bd_state_list l = {0};
  ck_assert_int_eq(bd_block_state_dict(m->root, "", &l), BD_OK);
  size_t tot = 0;
  for (size_t i = 0; i < l.n; i++)
    tot += (size_t)bd_tensor_numel(l.v[i].param->value);
  float *v = malloc(tot * 4), *p = v;
  for (size_t i = 0; i < l.n; i++) {
    size_t k = (size_t)bd_tensor_numel(l.v[i].param->value);
    memcpy(p, bd_tensor_f32(l.v[i].param->value), k * 4);
    p += k;
  }
  bd_state_list_free(&l);
  *n = tot;
  return v;
}

static bd_status run(bd_model *m, const bd_init_step *steps, int nsteps,
                     const char *target, const char *const *blocks, int nblocks,
                     const char *const *types, int ntypes, int64_t seed,
                     char ***touched, int *nt) {
  bd_init_request req = {steps,  nsteps,    target,
                         blocks, nblocks,   types,
                         ntypes, seed >= 0, (uint64_t)(seed < 0 ? 0 : seed)};
  return bd_init_run(m->root, &req, m->seed, &m->rng_offset, touched, nt);
}

static void free_names(char **v, int n) {
  for (int i = 0; i < n; i++) free(v[i]);
  free(v);
}

START_TEST(test_run_target_and_types) {
  bd_model *m = make(MLP);
  size_t n;
  float *before = snapshot(m, &n);
  bd_init_step st = parse_step("{\"method\":\"constant\",\"value\":3}");
  const char *types[] = {"linear"};
  char **t;
  int nt;
  ck_assert_int_eq(run(m, &st, 1, "weight", NULL, 0, types, 1, -1, &t, &nt),
                   BD_OK);
  ck_assert_int_eq(nt, 2);
  ck_assert_str_eq(t[0], "0.weight");
  ck_assert_str_eq(t[1], "2.weight");
  free_names(t, nt);
  ck_assert_float_eq(bd_tensor_f32(param(m, "2.weight"))[17], 3.0f);
  /* Biases are untouched. */
  ck_assert_int_eq(
      memcmp(bd_tensor_f32(param(m, "0.bias")), before + 5120, 256 * 4), 0);
  /* blocks = ["2"], target all. */
  const char *blocks[] = {"2"};
  st = parse_step("{\"method\":\"zeros\"}");
  ck_assert_int_eq(run(m, &st, 1, "all", blocks, 1, NULL, 0, -1, &t, &nt),
                   BD_OK);
  ck_assert_int_eq(nt, 2);
  ck_assert_str_eq(t[0], "2.weight");
  ck_assert_str_eq(t[1], "2.bias");
  free_names(t, nt);
  ck_assert_float_eq(bd_tensor_f32(param(m, "0.weight"))[0], 3.0f);
  free(before);
  bd_model_release(m);
}
END_TEST

START_TEST(test_run_failure_changes_nothing) {
  bd_model *m = make(MLP);
  size_t n;
  float *before = snapshot(m, &n);
  uint64_t off = m->rng_offset;
  char **t = NULL;
  int nt = 0;
  /* A first step that would succeed, then xavier on 1-d biases. */
  bd_init_step st[2] = {parse_step("{\"method\":\"normal\"}"),
                        parse_step("{\"method\":\"xavier_uniform\"}")};
  ck_assert_int_eq(run(m, st, 2, "all", NULL, 0, NULL, 0, -1, &t, &nt),
                   BD_EINVAL);
  ck_assert_ptr_nonnull(strstr(bd_errmsg(), "0.bias"));
  const char *bad_block[] = {"7"};
  ck_assert_int_eq(run(m, st, 1, "all", bad_block, 1, NULL, 0, -1, &t, &nt),
                   BD_EINVAL);
  const char *bad_type[] = {"conv9d"};
  ck_assert_int_eq(run(m, st, 1, "all", NULL, 0, bad_type, 1, -1, &t, &nt),
                   BD_EINVAL);
  ck_assert_int_eq(run(m, st, 1, "nope", NULL, 0, NULL, 0, -1, &t, &nt),
                   BD_EINVAL);
  const char *relu[] = {"relu"};
  ck_assert_int_eq(run(m, st, 1, "all", NULL, 0, relu, 1, -1, &t, &nt),
                   BD_EINVAL);
  ck_assert_ptr_null(t);
  size_t n2;
  float *after = snapshot(m, &n2);
  ck_assert_uint_eq(n, n2);
  ck_assert_int_eq(memcmp(before, after, n * 4), 0);
  ck_assert_uint_eq(m->rng_offset, off);
  free(before);
  free(after);
  bd_model_release(m);
}
END_TEST

START_TEST(test_run_seeds_and_stream) {
  bd_model *m = make(MLP);
  bd_init_step st = parse_step("{\"method\":\"normal\",\"std\":0.01}");
  char **t;
  int nt;
  uint64_t off = m->rng_offset;
  ck_assert_int_eq(run(m, &st, 1, "all", NULL, 0, NULL, 0, 7, &t, &nt), BD_OK);
  free_names(t, nt);
  ck_assert_uint_eq(m->rng_offset, off); /* a seed: own stream */
  size_t n;
  float *a = snapshot(m, &n);
  ck_assert_int_eq(run(m, &st, 1, "all", NULL, 0, NULL, 0, 7, &t, &nt), BD_OK);
  free_names(t, nt);
  float *b = snapshot(m, &n);
  ck_assert_int_eq(memcmp(a, b, n * 4), 0); /* bit-identical */
  /* Without a seed the model's stream advances: two runs differ. */
  ck_assert_int_eq(run(m, &st, 1, "all", NULL, 0, NULL, 0, -1, &t, &nt), BD_OK);
  free_names(t, nt);
  ck_assert_uint_gt(m->rng_offset, off);
  float *c = snapshot(m, &n);
  ck_assert_int_eq(run(m, &st, 1, "all", NULL, 0, NULL, 0, -1, &t, &nt), BD_OK);
  free_names(t, nt);
  float *d = snapshot(m, &n);
  ck_assert_int_ne(memcmp(c, d, n * 4), 0);
  free(a);
  free(b);
  free(c);
  free(d);
  bd_model_release(m);
}
END_TEST

START_TEST(test_run_default_is_reset_parameters) {
  bd_model *m = make(MLP); /* built with seed 1 */
  size_t n;
  float *orig = snapshot(m, &n);
  bd_init_step z = parse_step("{\"method\":\"zeros\"}");
  bd_init_step def = parse_step("{\"method\":\"default\"}");
  char **t;
  int nt;
  ck_assert_int_eq(run(m, &z, 1, "all", NULL, 0, NULL, 0, -1, &t, &nt), BD_OK);
  free_names(t, nt);
  /* default with the model's own seed on the whole tree redraws exactly
   * what construction drew. */
  ck_assert_int_eq(run(m, &def, 1, "all", NULL, 0, NULL, 0, 1, &t, &nt), BD_OK);
  ck_assert_int_eq(nt, 4);
  free_names(t, nt);
  float *again = snapshot(m, &n);
  ck_assert_int_eq(memcmp(orig, again, n * 4), 0);
  /* target weight: the bias keeps its value. */
  ck_assert_int_eq(run(m, &z, 1, "all", NULL, 0, NULL, 0, -1, &t, &nt), BD_OK);
  free_names(t, nt);
  ck_assert_int_eq(run(m, &def, 1, "weight", NULL, 0, NULL, 0, 3, &t, &nt),
                   BD_OK);
  free_names(t, nt);
  moments w = stats(param(m, "0.weight")), b = stats(param(m, "0.bias"));
  ck_assert(w.maxabs <= 1 / sqrt(20.0) && w.maxabs > 0.9 / sqrt(20.0));
  ck_assert(b.maxabs == 0.0);
  free(orig);
  free(again);
  bd_model_release(m);
}
END_TEST

START_TEST(test_run_tied_block_once) {
  bd_model *m = make(
      "{\"type\":\"sequential\",\"layers\":["
      "{\"type\":\"linear\",\"in_features\":4,\"out_features\":4,"
      "\"id\":\"s\"},{\"type\":\"relu\"},{\"ref\":\"s\"}]}");
  bd_init_step st = parse_step("{\"method\":\"ones\"}");
  char **t;
  int nt;
  ck_assert_int_eq(run(m, &st, 1, "all", NULL, 0, NULL, 0, -1, &t, &nt), BD_OK);
  ck_assert_int_eq(nt, 2); /* 0.weight, 0.bias; 2.* are aliases */
  ck_assert_str_eq(t[0], "0.weight");
  free_names(t, nt);
  ck_assert_ptr_eq(param(m, "0.weight"), param(m, "2.weight"));
  ck_assert_float_eq(bd_tensor_f32(param(m, "2.weight"))[5], 1.0f);
  bd_model_release(m);
}
END_TEST

int main(void) {
  if (bd_backends_init() != BD_OK) return 1;
  Suite *s = suite_create("init");
  TCase *tc = tcase_create("formulas");
  tcase_add_test(tc, test_normal_moments);
  tcase_add_test(tc, test_uniform_bounds_and_variance);
  tcase_add_test(tc, test_xavier);
  tcase_add_test(tc, test_kaiming);
  tcase_add_test(tc, test_fans_and_gains);
  tcase_add_test(tc, test_exact_initialisers);
  tcase_add_test(tc, test_mask_abs_below);
  tcase_add_test(tc, test_determinism);
  suite_add_tcase(s, tc);
  TCase *sel = tcase_create("selector");
  tcase_add_test(sel, test_run_target_and_types);
  tcase_add_test(sel, test_run_failure_changes_nothing);
  tcase_add_test(sel, test_run_seeds_and_stream);
  tcase_add_test(sel, test_run_default_is_reset_parameters);
  tcase_add_test(sel, test_run_tied_block_once);
  suite_add_tcase(s, sel);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
