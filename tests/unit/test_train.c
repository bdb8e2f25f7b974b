/* test_train.c - engine/train.h: gradients against finite differences
 * (plain and tied models), accumulation, atomic failure (bad target, a
 * block without backward), freezing, zero_grad and the SGD update. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/backend.h"
#include "engine/model_internal.h"
#include "engine/train.h"
#include "proto/spec_json.h"

/* ---- a block type without backward: y = x, one parameter "w" ---------- */

static bd_status nobwd_init(bd_block *b, bd_build_ctx *ctx) {
  int64_t one = 1;
  bd_param *p;
  bd_status s = bd_block_add_param(b, ctx, "w", 1, &one, false, &p);
  return s;
}

static bd_status nobwd_forward(bd_block *b, bd_exec *ex, bd_tensor *x,
                               bd_tensor **y, void **saved) {
  (void)b;
  (void)ex;
  (void)saved;
  *y = bd_tensor_retain(x);
  return BD_OK;
}

static const bd_block_type nobwd_type = {
    .name = "test_nobwd", .init = nobwd_init, .forward = nobwd_forward};

/* ---- helpers ------------------------------------------------------------ */

static bd_model *model(const char *json, uint64_t seed) {
  cJSON *spec = cJSON_Parse(json);
  ck_assert_ptr_nonnull(spec);
  bd_model *m;
  ck_assert_msg(proto_model_create("t", spec, seed, BD_CPU, NULL, &m) == BD_OK,
                "%s", bd_errmsg());
  cJSON_Delete(spec);
  return m;
}

static bd_param *param(bd_model *m, const char *path) {
  bd_state_list l = {0};
  ck_assert_int_eq(bd_block_state_dict(m->root, "", &l), BD_OK);
  long i = bd_state_list_find(&l, path);
  ck_assert_msg(i >= 0, "no parameter %s", path);
  bd_param *p = l.v[i].param;
  bd_state_list_free(&l);
  return p;
}

static bd_tensor *randn(int ndim, const int64_t *shape, uint64_t *s) {
  bd_tensor *t;
  ck_assert_int_eq(bd_tensor_new(BD_CPU, BD_F32, ndim, shape, &t), BD_OK);
  for (int64_t i = 0; i < bd_tensor_numel(t); i++) {
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    bd_tensor_f32(t)[i] =
        (float)((double)(*s >> 11) / 9007199254740992.0 * 2 - 1);
  }
  return t;
}

static double loss_of(bd_model *m, bd_tensor *x, bd_loss_kind k, bd_tensor *t) {
  bd_tensor *y, *prep;
  ck_assert_int_eq(bd_model_forward(m, x, &y), BD_OK);
  ck_assert_int_eq(bd_loss_check(k, y, t, &prep), BD_OK);
  double v;
  ck_assert_int_eq(bd_loss_compute(k, y, prep, &v, NULL), BD_OK);
  bd_tensor_release(y);
  bd_tensor_release(prep);
  return v;
}

static bd_tensor *copy(const bd_tensor *t) {
  bd_tensor *c = NULL;
  if (t) ck_assert_int_eq(bd_tensor_to(t, BD_CPU, &c), BD_OK);
  return c;
}

static void assert_same(const bd_tensor *a, const bd_tensor *b, float scale) {
  ck_assert_int_eq(bd_tensor_numel(a), bd_tensor_numel(b));
  for (int64_t i = 0; i < bd_tensor_numel(a); i++)
    ck_assert_msg(fabsf(bd_tensor_f32(a)[i] - scale * bd_tensor_f32(b)[i]) <=
                      1e-6f * (1 + fabsf(bd_tensor_f32(a)[i])),
                  "element %lld: %g vs %g * %g", (long long)i,
                  bd_tensor_f32(a)[i], scale, bd_tensor_f32(b)[i]);
}

/* Every gradient of the model against central differences of the loss. */
static void fd_model(bd_model *m, bd_tensor *x, bd_loss_kind k, bd_tensor *t) {
  double v;
  bd_model_zero_grad(m, NULL);
  ck_assert_msg(bd_model_backward(m, x, k, t, &v, NULL) == BD_OK, "%s",
                bd_errmsg());
  ck_assert_double_eq_tol(v, loss_of(m, x, k, t), 1e-5 * (1 + fabs(v)));
  bd_state_list l = {0};
  ck_assert_int_eq(bd_block_state_dict(m->root, "", &l), BD_OK);
  for (size_t e = 0; e < l.n; e++) {
    bd_param *p = l.v[e].param;
    if (p->is_buffer || !bd_state_list_is_first(&l, e)) continue;
    ck_assert_msg(p->grad != NULL, "%s has no grad", l.v[e].path);
    float *w = bd_tensor_f32(p->value);
    for (int64_t i = 0; i < bd_tensor_numel(p->value); i++) {
      const float eps = 1e-2f;
      float keep = w[i];
      w[i] = keep + eps;
      double up = loss_of(m, x, k, t);
      w[i] = keep - eps;
      double dn = loss_of(m, x, k, t);
      w[i] = keep;
      double fd = (up - dn) / (2 * eps), an = bd_tensor_f32(p->grad)[i];
      ck_assert_msg(fabs(fd - an) <= 2e-3 + 1e-2 * fabs(an),
                    "%s[%lld]: analytic %g, finite differences %g", l.v[e].path,
                    (long long)i, an, fd);
    }
  }
  bd_state_list_free(&l);
}

/* ---- tests ----------------------------------------------------------------
 */

START_TEST(test_fd_mlp) {
  bd_model *m = model(
      "{\"type\":\"sequential\",\"layers\":["
      "{\"type\":\"linear\",\"in_features\":4,\"out_features\":5},"
      "{\"type\":\"tanh\"},"
      "{\"type\":\"linear\",\"in_features\":5,\"out_features\":3},"
      "{\"type\":\"sigmoid\"},"
      "{\"type\":\"linear\",\"in_features\":3,\"out_features\":3}]}",
      1);
  uint64_t s = 7;
  int64_t xs[2] = {2, 4}, n = 2;
  bd_tensor *x = randn(2, xs, &s), *t;
  int64_t cls[2] = {2, 0};
  ck_assert_int_eq(bd_tensor_new(BD_CPU, BD_I64, 1, &n, &t), BD_OK);
  memcpy(bd_tensor_data(t), cls, sizeof cls);
  fd_model(m, x, BD_LOSS_CROSS_ENTROPY, t);
  fd_model(m, x, BD_LOSS_SUM, NULL);
  bd_tensor_release(t);
  int64_t ys[2] = {2, 3};
  t = randn(2, ys, &s);
  fd_model(m, x, BD_LOSS_MSE, t);
  fd_model(m, x, BD_LOSS_NONE, t);
  bd_tensor_release(t);
  bd_tensor_release(x);
  bd_model_release(m);
}
END_TEST

START_TEST(test_fd_tied) {
  /* The shared layer is used twice: its gradient is the sum of both uses,
   * which finite differences of the shared weight see directly. */
  bd_model *m = model(
      "{\"type\":\"sequential\",\"layers\":["
      "{\"type\":\"linear\",\"in_features\":3,\"out_features\":4},"
      "{\"type\":\"tanh\"},"
      "{\"type\":\"linear\",\"in_features\":4,\"out_features\":4,"
      "\"id\":\"s\"},"
      "{\"type\":\"tanh\"},{\"ref\":\"s\"},{\"type\":\"tanh\"},"
      "{\"type\":\"linear\",\"in_features\":4,\"out_features\":1}]}",
      2);
  uint64_t s = 9;
  int64_t xs[2] = {3, 3};
  bd_tensor *x = randn(2, xs, &s);
  fd_model(m, x, BD_LOSS_MEAN, NULL);
  ck_assert_ptr_eq(param(m, "2.weight"), param(m, "4.weight"));
  bd_tensor_release(x);
  bd_model_release(m);
}
END_TEST

static const char *mlp_json =
    "{\"type\":\"sequential\",\"layers\":["
    "{\"type\":\"linear\",\"in_features\":4,\"out_features\":6},"
    "{\"type\":\"relu\"},"
    "{\"type\":\"linear\",\"in_features\":6,\"out_features\":3}]}";

START_TEST(test_accumulate_and_zero_grad) {
  bd_model *m = model(mlp_json, 3);
  uint64_t s = 11;
  int64_t xs[2] = {5, 4};
  bd_tensor *x = randn(2, xs, &s);
  bd_param *w = param(m, "0.weight");
  ck_assert_ptr_null(w->grad);
  double v1, v2;
  ck_assert_int_eq(bd_model_backward(m, x, BD_LOSS_SUM, NULL, &v1, NULL),
                   BD_OK);
  bd_tensor *g1 = copy(w->grad);
  ck_assert_int_eq(bd_model_backward(m, x, BD_LOSS_SUM, NULL, &v2, NULL),
                   BD_OK);
  ck_assert_double_eq(v1, v2);
  assert_same(w->grad, g1, 2.0f);
  int64_t cleared = 0;
  bd_model_zero_grad(m, &cleared);
  ck_assert_int_eq(cleared, 4);
  ck_assert_ptr_null(w->grad);
  ck_assert_ptr_null(param(m, "2.bias")->grad);
  bd_tensor_release(g1);
  bd_tensor_release(x);
  bd_model_release(m);
}
END_TEST

START_TEST(test_bad_target_changes_nothing) {
  bd_model *m = model(mlp_json, 4);
  uint64_t s = 12;
  int64_t xs[2] = {2, 4}, n = 2;
  bd_tensor *x = randn(2, xs, &s), *t;
  double v;
  ck_assert_int_eq(bd_model_backward(m, x, BD_LOSS_SUM, NULL, &v, NULL), BD_OK);
  bd_param *w = param(m, "2.weight");
  bd_tensor *before = w->grad, *vals = copy(before);
  uint64_t off = m->rng_offset;
  int64_t cls[2] = {1, 3}; /* 3 classes: 3 is out of range */
  ck_assert_int_eq(bd_tensor_new(BD_CPU, BD_I64, 1, &n, &t), BD_OK);
  memcpy(bd_tensor_data(t), cls, sizeof cls);
  ck_assert_int_eq(bd_model_backward(m, x, BD_LOSS_CROSS_ENTROPY, t, &v, NULL),
                   BD_EINVAL);
  ck_assert_ptr_eq(w->grad, before);
  assert_same(w->grad, vals, 1.0f);
  ck_assert_uint_eq(m->rng_offset, off);
  bd_tensor_release(t);
  bd_tensor_release(vals);
  bd_tensor_release(x);
  bd_model_release(m);
}
END_TEST

START_TEST(test_no_backward_block) {
  ck_assert_int_eq(bd_block_type_register(&nobwd_type) == BD_OK ||
                       bd_block_type_find("test_nobwd") == &nobwd_type,
                   1);
  bd_model *m = model(
      "{\"type\":\"sequential\",\"layers\":["
      "{\"type\":\"linear\",\"in_features\":3,\"out_features\":3},"
      "{\"type\":\"test_nobwd\"},"
      "{\"type\":\"linear\",\"in_features\":3,\"out_features\":2}]}",
      5);
  uint64_t s = 13;
  int64_t xs[2] = {2, 3};
  bd_tensor *x = randn(2, xs, &s);
  double v;
  /* Frozen up to and including the block without backward: fine. */
  param(m, "0.weight")->requires_grad = false;
  param(m, "0.bias")->requires_grad = false;
  param(m, "1.w")->requires_grad = false;
  ck_assert_msg(bd_model_backward(m, x, BD_LOSS_SUM, NULL, &v, NULL) == BD_OK,
                "%s", bd_errmsg());
  bd_param *w2 = param(m, "2.weight");
  ck_assert_ptr_nonnull(w2->grad);
  ck_assert_ptr_null(param(m, "0.weight")->grad);
  ck_assert_ptr_null(param(m, "1.w")->grad);
  bd_tensor *g = copy(w2->grad);
  /* Its own parameter wants a gradient: 422-style ENOGRAD, and the
   * gradient the later layer computed before the failure is rolled back. */
  param(m, "1.w")->requires_grad = true;
  ck_assert_int_eq(bd_model_backward(m, x, BD_LOSS_SUM, NULL, &v, NULL),
                   BD_ENOGRAD);
  ck_assert_ptr_nonnull(strstr(bd_errmsg(), "test_nobwd"));
  assert_same(w2->grad, g, 1.0f);
  /* An earlier layer wants one: the gradient must pass through it. */
  param(m, "1.w")->requires_grad = false;
  param(m, "0.bias")->requires_grad = true;
  ck_assert_int_eq(bd_model_backward(m, x, BD_LOSS_SUM, NULL, &v, NULL),
                   BD_ENOGRAD);
  assert_same(w2->grad, g, 1.0f);
  ck_assert_ptr_null(param(m, "0.bias")->grad);
  bd_tensor_release(g);
  bd_tensor_release(x);
  bd_model_release(m);
}
END_TEST

START_TEST(test_sgd_by_hand) {
  bd_model *m = model(
      "{\"type\":\"linear\",\"in_features\":1,\"out_features\":1,"
      "\"bias\":false}",
      6);
  bd_param *w = param(m, "weight");
  bd_sgd_opts o = {.lr = 0.1, .momentum = 0.9, .weight_decay = 0.01};
  int64_t upd = -1;
  /* No gradient yet: nothing moves, but the step counts. */
  ck_assert_int_eq(bd_model_sgd_step(m, &o, &upd), BD_OK);
  ck_assert_int_eq(upd, 0);
  ck_assert_ptr_null(w->momentum);
  float p = 0.5f;
  bd_tensor_f32(w->value)[0] = p;
  int64_t one[2] = {1, 1};
  bd_tensor *x;
  ck_assert_int_eq(bd_tensor_new(BD_CPU, BD_F32, 2, one, &x), BD_OK);
  bd_tensor_f32(x)[0] = 2.0f;
  double v;
  ck_assert_int_eq(bd_model_backward(m, x, BD_LOSS_SUM, NULL, &v, NULL),
                   BD_OK); /* d(w*2)/dw = 2 */
  ck_assert_int_eq(bd_model_sgd_step(m, &o, &upd), BD_OK);
  ck_assert_int_eq(upd, 1);
  float g = 2.0f + 0.01f * p, buf = g;
  p -= 0.1f * buf;
  ck_assert_float_eq_tol(bd_tensor_f32(w->value)[0], p, 1e-7);
  ck_assert_float_eq_tol(bd_tensor_f32(w->momentum)[0], buf, 1e-7);
  ck_assert_int_eq(bd_model_sgd_step(m, &o, &upd), BD_OK);
  g = 2.0f + 0.01f * p;
  buf = 0.9f * buf + g;
  p -= 0.1f * buf;
  ck_assert_float_eq_tol(bd_tensor_f32(w->value)[0], p, 1e-7);
  ck_assert_int_eq(bd_optim_step_count(m), 3);
  /* Optimiser state is reachable for checkpoints. */
  bd_state_list l;
  ck_assert_int_eq(bd_optim_momentum_list(m, &l), BD_OK);
  ck_assert_uint_eq(l.n, 1);
  ck_assert_str_eq(l.v[0].path, "weight");
  bd_state_list_free(&l);
  ck_assert_int_eq(bd_optim_momentum_set(m, "nope", NULL), BD_ENOTFOUND);
  int64_t two = 2;
  bd_tensor *wrong;
  ck_assert_int_eq(bd_tensor_zeros(BD_CPU, BD_F32, 1, &two, &wrong), BD_OK);
  ck_assert_int_eq(bd_optim_momentum_set(m, "weight", wrong), BD_ESHAPE);
  bd_tensor_release(wrong);
  ck_assert_int_eq(bd_optim_momentum_set(m, "weight", NULL), BD_OK);
  ck_assert_ptr_null(w->momentum);
  /* Frozen: not updated. */
  w->requires_grad = false;
  float before = bd_tensor_f32(w->value)[0];
  ck_assert_int_eq(bd_model_sgd_step(m, &o, &upd), BD_OK);
  ck_assert_int_eq(upd, 0);
  ck_assert_float_eq(bd_tensor_f32(w->value)[0], before);
  bd_sgd_opts bad = {.lr = -1};
  ck_assert_int_eq(bd_model_sgd_step(m, &bad, &upd), BD_EINVAL);
  bd_sgd_opts badn = {.lr = 0.1, .nesterov = true};
  ck_assert_int_eq(bd_sgd_opts_check(&badn), BD_EINVAL);
  bd_tensor_release(x);
  bd_model_release(m);
}
END_TEST

static Suite *train_suite(void) {
  Suite *s = suite_create("train");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, test_fd_mlp);
  tcase_add_test(tc, test_fd_tied);
  tcase_add_test(tc, test_accumulate_and_zero_grad);
  tcase_add_test(tc, test_bad_target_changes_nothing);
  tcase_add_test(tc, test_no_backward_block);
  tcase_add_test(tc, test_sgd_by_hand);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  if (bd_backends_init() != BD_OK) return EXIT_FAILURE;
  bd_blocks_init();
  SRunner *sr = srunner_create(train_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
