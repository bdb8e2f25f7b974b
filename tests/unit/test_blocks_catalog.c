/* test_blocks_catalog.c - the block catalog (issue 3): forward on
 * hand-computed cases, shapes and 0-d outputs for every block type, and a
 * central finite-difference check of every backward (input gradients and
 * parameter gradients; buffers get none). The example plugin's layer
 * (engine/plugins/mylinear.c) is compiled into this test so its backward
 * is checked the same way. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/backend.h"
#include "engine/block.h"
#include "engine/blocks/blocks.h"
#include "proto/spec_json.h"

/* The plugin's source, so its layer can be registered in-process (a unit
 * test executable does not export engine symbols to a dlopen'ed .so). */
#include "engine/plugins/mylinear.c"

static const bd_block_type mylinear_type = {
    .name = "mylinear",
    .fields = mylinear_fields,
    .nfields = BD_NFIELDS(mylinear_fields),
    .impl_size = sizeof(mylinear),
    .init = mylinear_init,
    .forward = mylinear_forward,
    .backward = mylinear_backward,
    .reset = mylinear_reset,
};

/* The canonical spec of b as JSON (caller frees). */
static cJSON *spec_json(const bd_block *b) {
  bd_spec *spec = NULL;
  ck_assert_int_eq(bd_block_to_spec(b, &spec), BD_OK);
  cJSON *j = proto_spec_to_json(spec);
  bd_spec_free(spec);
  ck_assert_ptr_nonnull(j);
  return j;
}

static void setup(void) {
  bd_backends_init();
  bd_blocks_init();
  if (!bd_block_type_find("mylinear"))
    ck_assert_int_eq(bd_block_type_register(&mylinear_type), BD_OK);
}

static bd_block *build(const char *json) {
  setup();
  cJSON *j = cJSON_Parse(json);
  ck_assert_msg(j != NULL, "test JSON does not parse: %s", json);
  bd_block *b = NULL;
  bd_status s = proto_spec_build_tree(j, BD_CPU, NULL, "block", &b);
  cJSON_Delete(j);
  ck_assert_msg(s == BD_OK, "%s: %s", json, bd_errmsg());
  uint64_t off = 0;
  ck_assert_int_eq(bd_block_reset_all(b, 1, &off), BD_OK);
  return b;
}

static bd_tensor *tensor(int ndim, const int64_t *shape, const float *v) {
  bd_tensor *t;
  ck_assert_int_eq(bd_tensor_new(BD_CPU, BD_F32, ndim, shape, &t), BD_OK);
  if (v) memcpy(bd_tensor_f32(t), v, bd_tensor_nbytes(t));
  return t;
}

/* Deterministic values in [lo, hi) (an LCG: tests must not depend on the
 * engine's RNG they are checking). */
static uint64_t lcg = 12345;
static float urand(float lo, float hi) {
  lcg = lcg * 6364136223846793005ULL + 1442695040888963407ULL;
  return lo + (hi - lo) * (float)((lcg >> 40) / (double)(1 << 24));
}

/* Runs b on x; training mode, RNG stream (7, *off). */
static bd_status run(bd_block *b, bd_tensor *x, bool training, uint64_t *off,
                     bd_tensor **y) {
  bd_exec ex;
  bd_exec_begin(&ex, BD_CPU, training, false, 7, off);
  bd_status s = bd_block_forward(b, &ex, x, y, NULL);
  bd_exec_end(&ex);
  return s;
}

static bd_tensor *fwd(bd_block *b, bd_tensor *x) {
  uint64_t off = 0;
  bd_tensor *y = NULL;
  bd_status s = run(b, x, false, &off, &y);
  ck_assert_msg(s == BD_OK, "%s", bd_errmsg());
  return y;
}

static void expect(const bd_tensor *y, int ndim, const int64_t *shape,
                   const float *want, float tol) {
  ck_assert_int_eq(y->ndim, ndim);
  for (int i = 0; i < ndim; i++) ck_assert_int_eq(y->shape[i], shape[i]);
  const float *g = bd_tensor_f32(y);
  for (int64_t i = 0; i < bd_tensor_numel(y); i++)
    ck_assert_msg(fabsf(g[i] - want[i]) <= tol * (1 + fabsf(want[i])),
                  "element %lld: got %.8g want %.8g", (long long)i, g[i],
                  want[i]);
}

/* sum(dy * f(x)) in double, with the RNG offset restored so that dropout
 * draws the same mask as the recorded pass. */
static double objective(bd_block *b, bd_tensor *x, const float *dy,
                        bool training, uint64_t off0) {
  uint64_t off = off0;
  bd_tensor *y = NULL;
  ck_assert_int_eq(run(b, x, training, &off, &y), BD_OK);
  double acc = 0;
  const float *v = bd_tensor_f32(y);
  for (int64_t i = 0; i < bd_tensor_numel(y); i++) acc += (double)dy[i] * v[i];
  bd_tensor_release(y);
  return acc;
}

static void close_enough(double num, double ana, double tol, const char *what,
                         int64_t i, const char *spec) {
  ck_assert_msg(fabs(num - ana) <= tol * (1.0 + fabs(num)),
                "%s: d/d%s[%lld]: finite difference %.6g, backward %.6g", spec,
                what, (long long)i, num, ana);
}

/* The generic finite-difference checker: builds spec, runs forward with
 * ex.record then backward with a random dy, and compares the input
 * gradient and every parameter gradient with central differences
 * (f(v+h) - f(v-h)) / 2h of sum(dy * y). Buffers must get no gradient.
 * x values are drawn from [lo, hi). */
static void fd_check(const char *spec, int ndim, const int64_t *shape, float lo,
                     float hi, bool training) {
  bd_block *b = build(spec);
  bd_tensor *x = tensor(ndim, shape, NULL);
  float *xv = bd_tensor_f32(x);
  for (int64_t i = 0; i < bd_tensor_numel(x); i++) xv[i] = urand(lo, hi);
  const uint64_t off0 = 1000;
  uint64_t off = off0;
  bd_exec ex;
  bd_exec_begin(&ex, BD_CPU, training, true, 7, &off);
  bd_tensor *y = NULL, *dx = NULL;
  void *saved = NULL;
  bd_status s = bd_block_forward(b, &ex, x, &y, &saved);
  ck_assert_msg(s == BD_OK, "%s: %s", spec, bd_errmsg());
  int64_t ny = bd_tensor_numel(y);
  float *dy = malloc((size_t)(ny ? ny : 1) * sizeof *dy);
  for (int64_t i = 0; i < ny; i++) dy[i] = urand(-1, 1);
  bd_tensor *dyt = tensor(y->ndim, y->shape, dy);
  s = bd_block_backward(b, &ex, saved, dyt, &dx);
  ck_assert_msg(s == BD_OK, "%s: %s", spec, bd_errmsg());
  bd_exec_end(&ex);
  ck_assert_ptr_nonnull(dx);
  ck_assert(bd_tensor_same_shape(dx, x));
  const double h = 1e-2, tol = 2e-2;
  const float *dxv = bd_tensor_f32(dx);
  for (int64_t i = 0; i < bd_tensor_numel(x); i++) {
    float v = xv[i];
    xv[i] = v + (float)h;
    double fp = objective(b, x, dy, training, off0);
    xv[i] = v - (float)h;
    double fm = objective(b, x, dy, training, off0);
    xv[i] = v;
    close_enough((fp - fm) / (2 * h), dxv[i], tol, "x", i, spec);
  }
  bd_state_list l = {0};
  ck_assert_int_eq(bd_block_state_dict(b, "", &l), BD_OK);
  for (size_t k = 0; k < l.n; k++) {
    bd_param *p = l.v[k].param;
    if (!bd_state_list_is_first(&l, k)) continue;
    if (p->is_buffer) {
      ck_assert_msg(p->grad == NULL, "%s: buffer %s got a gradient", spec,
                    l.v[k].path);
      continue;
    }
    ck_assert_msg(p->grad != NULL, "%s: no gradient for %s", spec, l.v[k].path);
    float *pv = bd_tensor_f32(p->value);
    const float *gv = bd_tensor_f32(p->grad);
    for (int64_t i = 0; i < bd_tensor_numel(p->value); i++) {
      float v = pv[i];
      pv[i] = v + (float)h;
      double fp = objective(b, x, dy, training, off0);
      pv[i] = v - (float)h;
      double fm = objective(b, x, dy, training, off0);
      pv[i] = v;
      close_enough((fp - fm) / (2 * h), gv[i], tol, l.v[k].path, i, spec);
    }
  }
  bd_state_list_free(&l);
  free(dy);
  bd_tensor_release(dyt);
  bd_tensor_release(y);
  bd_tensor_release(dx);
  bd_tensor_release(x);
  bd_block_release(b);
}

/* ---- forward on hand-computed cases ------------------------------------ */

START_TEST(test_softmax_forward) {
  int64_t s12[] = {1, 2}, s21[] = {2, 1};
  float v[] = {0.0f, logf(3.0f)}, want[] = {0.25f, 0.75f};
  bd_tensor *x = tensor(2, s12, v);
  bd_block *b = build("{\"type\":\"softmax\"}");
  bd_tensor *y = fwd(b, x);
  expect(y, 2, s12, want, 1e-6f);
  bd_tensor_release(y);
  bd_block_release(b);
  /* dim 0 over a column; dim -2 is the same dim. */
  bd_tensor *xc = tensor(2, s21, v);
  const char *specs[] = {"{\"type\":\"softmax\",\"dim\":0}",
                         "{\"type\":\"softmax\",\"dim\":-2}"};
  for (int i = 0; i < 2; i++) {
    b = build(specs[i]);
    y = fwd(b, xc);
    expect(y, 2, s21, want, 1e-6f);
    bd_tensor_release(y);
    bd_block_release(b);
  }
  /* dim 1 of a [2, 1] input: a softmax over one element is 1. */
  b = build("{\"type\":\"softmax\",\"dim\":1}");
  y = fwd(b, xc);
  float ones[] = {1, 1};
  expect(y, 2, s21, ones, 1e-6f);
  bd_tensor_release(y);
  bd_block_release(b);
  /* dim 2 does not exist for a 2-d input. */
  b = build("{\"type\":\"softmax\",\"dim\":2}");
  uint64_t off = 0;
  ck_assert_int_eq(run(b, xc, false, &off, &y), BD_ESHAPE);
  ck_assert_ptr_nonnull(strstr(bd_errmsg(), "dim 2"));
  bd_block_release(b);
  bd_tensor_release(xc);
  bd_tensor_release(x);
}
END_TEST

START_TEST(test_dropout_forward) {
  int64_t s[] = {4, 250};
  bd_tensor *x = tensor(2, s, NULL);
  for (int i = 0; i < 1000; i++) bd_tensor_f32(x)[i] = 1.0f + (float)(i % 7);
  bd_block *b = build("{\"type\":\"dropout\",\"p\":0.25}");
  /* eval: identity */
  uint64_t off = 5;
  bd_tensor *y;
  ck_assert_int_eq(run(b, x, false, &off, &y), BD_OK);
  ck_assert_int_eq(memcmp(bd_tensor_f32(y), bd_tensor_f32(x), 4000), 0);
  ck_assert_uint_eq(off, 5);
  bd_tensor_release(y);
  /* train: each element zero or x / 0.75; ~25% dropped; the offset moves
   * by ceil(1000 / 4) Philox blocks. */
  ck_assert_int_eq(run(b, x, true, &off, &y), BD_OK);
  ck_assert_uint_eq(off, 5 + 250);
  int zeros = 0;
  for (int i = 0; i < 1000; i++) {
    float v = bd_tensor_f32(y)[i], xi = bd_tensor_f32(x)[i];
    if (v == 0.0f)
      zeros++;
    else
      ck_assert_float_eq_tol(v, xi / 0.75f, 1e-5f * xi);
  }
  ck_assert_int_gt(zeros, 180);
  ck_assert_int_lt(zeros, 320);
  /* The same stream position gives the same mask; the next one differs. */
  uint64_t again = 5;
  bd_tensor *y2, *y3;
  ck_assert_int_eq(run(b, x, true, &again, &y2), BD_OK);
  ck_assert_int_eq(memcmp(bd_tensor_f32(y), bd_tensor_f32(y2), 4000), 0);
  ck_assert_int_eq(run(b, x, true, &again, &y3), BD_OK);
  ck_assert_int_ne(memcmp(bd_tensor_f32(y), bd_tensor_f32(y3), 4000), 0);
  bd_tensor_release(y);
  bd_tensor_release(y2);
  bd_tensor_release(y3);
  bd_block_release(b);
  /* p = 1 drops everything; p = 0 drops nothing. */
  b = build("{\"type\":\"dropout\",\"p\":1}");
  ck_assert_int_eq(run(b, x, true, &off, &y), BD_OK);
  for (int i = 0; i < 1000; i++) ck_assert_float_eq(bd_tensor_f32(y)[i], 0);
  bd_tensor_release(y);
  bd_block_release(b);
  b = build("{\"type\":\"dropout\",\"p\":0}");
  ck_assert_int_eq(run(b, x, true, &off, &y), BD_OK);
  ck_assert_int_eq(memcmp(bd_tensor_f32(y), bd_tensor_f32(x), 4000), 0);
  bd_tensor_release(y);
  bd_block_release(b);
  bd_tensor_release(x);
}
END_TEST

START_TEST(test_flatten_identity_forward) {
  int64_t s[] = {2, 3, 4};
  float v[24];
  for (int i = 0; i < 24; i++) v[i] = (float)i;
  bd_tensor *x = tensor(3, s, v);
  struct {
    const char *spec;
    int ndim;
    int64_t shape[3];
  } cases[] = {
      {"{\"type\":\"flatten\"}", 2, {2, 12}},
      {"{\"type\":\"flatten\",\"start_dim\":0}", 1, {24}},
      {"{\"type\":\"flatten\",\"start_dim\":0,\"end_dim\":1}", 2, {6, 4}},
      {"{\"type\":\"flatten\",\"start_dim\":-2,\"end_dim\":-1}", 2, {2, 12}},
      {"{\"type\":\"flatten\",\"start_dim\":2}", 3, {2, 3, 4}},
      {"{\"type\":\"identity\"}", 3, {2, 3, 4}},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    bd_block *b = build(cases[c].spec);
    bd_tensor *y = fwd(b, x);
    expect(y, cases[c].ndim, cases[c].shape, v, 0);
    bd_tensor_release(y);
    bd_block_release(b);
  }
  /* start_dim 1 of a 1-d input is out of range, as in PyTorch. */
  int64_t s1[] = {5};
  bd_tensor *x1 = tensor(1, s1, v);
  bd_block *b = build("{\"type\":\"flatten\"}");
  uint64_t off = 0;
  bd_tensor *y;
  ck_assert_int_eq(run(b, x1, false, &off, &y), BD_ESHAPE);
  ck_assert_ptr_nonnull(strstr(bd_errmsg(), "flatten"));
  bd_block_release(b);
  bd_tensor_release(x1);
  bd_tensor_release(x);
}
END_TEST

START_TEST(test_centered_scalar_reduce_forward) {
  int64_t s[] = {5};
  float v[] = {1, 2, 3, 4, 5};
  bd_tensor *x = tensor(1, s, v);
  struct {
    const char *spec;
    int ndim;
    float want[5];
  } cases[] = {
      {"{\"type\":\"centered\"}", 1, {-2, -1, 0, 1, 2}},
      {"{\"type\":\"add\",\"value\":1}", 1, {2, 3, 4, 5, 6}},
      {"{\"type\":\"scale\",\"value\":0.5}", 1, {0.5f, 1, 1.5f, 2, 2.5f}},
      {"{\"type\":\"sum\"}", 0, {15}},
      {"{\"type\":\"mean\"}", 0, {3}},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    bd_block *b = build(cases[c].spec);
    bd_tensor *y = fwd(b, x);
    expect(y, cases[c].ndim, s, cases[c].want, 1e-6f);
    bd_tensor_release(y);
    bd_block_release(b);
  }
  /* A 0-d input flows through scalar blocks and reductions. */
  float three = 3;
  bd_tensor *z = tensor(0, NULL, &three);
  bd_block *b = build(
      "{\"type\":\"sequential\",\"layers\":["
      "{\"type\":\"scale\",\"value\":2},{\"type\":\"add\","
      "\"value\":1},{\"type\":\"sum\"},{\"type\":"
      "\"centered\"}]}");
  bd_tensor *y = fwd(b, z);
  float zero = 0;
  expect(y, 0, NULL, &zero, 0);
  bd_tensor_release(y);
  bd_block_release(b);
  bd_tensor_release(z);
  bd_tensor_release(x);
}
END_TEST

/* sum/mean with dim and keepdim, as torch.sum(x, dim, keepdim). */
START_TEST(test_reduce_dim_forward) {
  int64_t s23[] = {2, 3};
  float v[] = {1, 2, 3, 4, 5, 6};
  bd_tensor *x = tensor(2, s23, v);
  struct {
    const char *spec;
    int ndim;
    int64_t shape[2];
    float want[3];
  } cases[] = {
      {"{\"type\":\"sum\",\"dim\":0}", 1, {3}, {5, 7, 9}},
      {"{\"type\":\"sum\",\"dim\":1}", 1, {2}, {6, 15}},
      {"{\"type\":\"sum\",\"dim\":-1,\"keepdim\":true}", 2, {2, 1}, {6, 15}},
      {"{\"type\":\"sum\",\"dim\":-2,\"keepdim\":true}", 2, {1, 3}, {5, 7, 9}},
      {"{\"type\":\"sum\",\"dim\":1,\"keepdim\":false}", 1, {2}, {6, 15}},
      {"{\"type\":\"mean\",\"dim\":0}", 1, {3}, {2.5f, 3.5f, 4.5f}},
      {"{\"type\":\"mean\",\"dim\":-1}", 1, {2}, {2, 5}},
      {"{\"type\":\"mean\",\"dim\":1,\"keepdim\":true}", 2, {2, 1}, {2, 5}},
      /* keepdim without dim: every dimension kept at size 1 */
      {"{\"type\":\"sum\",\"keepdim\":true}", 2, {1, 1}, {21}},
      {"{\"type\":\"mean\",\"keepdim\":true}", 2, {1, 1}, {3.5f}},
      {"{\"type\":\"sum\"}", 0, {0}, {21}},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    bd_block *b = build(cases[c].spec);
    bd_tensor *y = fwd(b, x);
    expect(y, cases[c].ndim, cases[c].shape, cases[c].want, 1e-6f);
    bd_tensor_release(y);
    bd_block_release(b);
  }
  /* 3-d, the middle dimension: [2, 3, 2] -> [2, 2] */
  int64_t s322[] = {2, 3, 2}, s22[] = {2, 2};
  float w[12];
  for (int i = 0; i < 12; i++) w[i] = (float)i;
  bd_tensor *x3 = tensor(3, s322, w);
  bd_block *b = build("{\"type\":\"sum\",\"dim\":1}");
  bd_tensor *y = fwd(b, x3);
  const float want3[] = {0 + 2 + 4, 1 + 3 + 5, 6 + 8 + 10, 7 + 9 + 11};
  expect(y, 2, s22, want3, 0);
  bd_tensor_release(y);
  /* dim 1 does not fit a 1-d input: ESHAPE naming the layer and dim */
  int64_t s3[] = {3};
  bd_tensor *x1 = tensor(1, s3, v);
  uint64_t off = 0;
  ck_assert_int_eq(run(b, x1, false, &off, &y), BD_ESHAPE);
  ck_assert_ptr_nonnull(strstr(bd_errmsg(), "dim 1"));
  ck_assert_ptr_nonnull(strstr(bd_errmsg(), "out of range"));
  bd_block_release(b);
  /* a 0-d input is 1-d for dim (torch: tensor(3.).sum(0) is 3) */
  float three = 3;
  bd_tensor *z = tensor(0, NULL, &three);
  b = build("{\"type\":\"mean\",\"dim\":-1,\"keepdim\":true}");
  y = fwd(b, z);
  expect(y, 0, NULL, &three, 0);
  bd_tensor_release(y);
  bd_block_release(b);
  /* a zero-length dim: sum is 0, mean has no value (ESHAPE) */
  int64_t s20[] = {2, 0}, s2[] = {2};
  bd_tensor *e = tensor(2, s20, NULL);
  b = build("{\"type\":\"sum\",\"dim\":1}");
  y = fwd(b, e);
  const float zeros[] = {0, 0};
  expect(y, 1, s2, zeros, 0);
  bd_tensor_release(y);
  bd_block_release(b);
  b = build("{\"type\":\"mean\",\"dim\":1}");
  ck_assert_int_eq(run(b, e, false, &off, &y), BD_ESHAPE);
  bd_block_release(b);
  /* bad dim/keepdim fields: tests/unit/test_spec_json.c */
  bd_tensor_release(e);
  bd_tensor_release(z);
  bd_tensor_release(x1);
  bd_tensor_release(x3);
  bd_tensor_release(x);
}
END_TEST

START_TEST(test_matmul_forward_and_buffer) {
  bd_block *b = build("{\"type\":\"matmul\",\"weight\":{\"shape\":[2,3]}}");
  ck_assert_int_eq(b->nparams, 1);
  ck_assert_str_eq(b->param_names[0], "weight");
  bd_param *w = b->params[0];
  ck_assert(w->is_buffer);
  ck_assert(!w->requires_grad);
  /* the default init is U[0, 1) like torch.rand */
  for (int i = 0; i < 6; i++) {
    float v = bd_tensor_f32(w->value)[i];
    ck_assert(v >= 0.0f && v < 1.0f);
  }
  float wv[] = {1, 2, 3, 4, 5, 6}, xv[] = {1, 1, 2, -1};
  memcpy(bd_tensor_f32(w->value), wv, sizeof wv);
  int64_t s[] = {2, 2}, ys[] = {2, 3};
  bd_tensor *x = tensor(2, s, xv);
  bd_tensor *y = fwd(b, x);
  float want[] = {5, 7, 9, -2, -1, 0};
  expect(y, 2, ys, want, 0);
  bd_tensor_release(y);
  /* Counted as a buffer, not a parameter. */
  int64_t count, bytes;
  bd_block_count(b, &count, &bytes);
  ck_assert_int_eq(count, 0);
  ck_assert_int_eq(bytes, 24);
  /* A wrong feature count names the layer and the shape. */
  int64_t s3[] = {1, 3};
  bd_tensor *x3 = tensor(2, s3, xv);
  uint64_t off = 0;
  ck_assert_int_eq(run(b, x3, false, &off, &y), BD_ESHAPE);
  ck_assert_ptr_nonnull(strstr(bd_errmsg(), "[1, 3]"));
  bd_tensor_release(x3);
  bd_tensor_release(x);
  bd_block_release(b);
  /* The other inits. */
  b = build(
      "{\"type\":\"matmul\",\"weight\":{\"shape\":[2,2],\"init\":"
      "\"ones\"}}");
  for (int i = 0; i < 4; i++)
    ck_assert_float_eq(bd_tensor_f32(b->params[0]->value)[i], 1.0f);
  bd_block_release(b);
}
END_TEST

START_TEST(test_while_forward) {
  int64_t s[] = {2};
  float v[] = {4, -4};
  bd_tensor *x = tensor(1, s, v);
  /* abs_sum 8 -> 4 -> 2 -> 1: three halvings, stops at 1 (not > 1). */
  bd_block *b = build(
      "{\"type\":\"while\",\"cond\":{\"reduce\":"
      "\"abs_sum\",\"gt\":1},\"body\":{\"type\":\"scale\","
      "\"value\":0.5}}");
  bd_tensor *y = fwd(b, x);
  float want[] = {0.5f, -0.5f};
  expect(y, 1, s, want, 0);
  bd_tensor_release(y);
  bd_block_release(b);
  /* ge keeps going at 1: one more halving. */
  b = build(
      "{\"type\":\"while\",\"cond\":{\"reduce\":\"abs_sum\",\"ge\":"
      "1},\"body\":{\"type\":\"scale\",\"value\":0.5}}");
  y = fwd(b, x);
  float want2[] = {0.25f, -0.25f};
  expect(y, 1, s, want2, 0);
  bd_tensor_release(y);
  bd_block_release(b);
  /* sum is 0, not > 1: the body never runs. */
  b = build(
      "{\"type\":\"while\",\"cond\":{\"reduce\":\"sum\",\"gt\":1},"
      "\"body\":{\"type\":\"scale\",\"value\":0.5}}");
  y = fwd(b, x);
  expect(y, 1, s, v, 0);
  bd_tensor_release(y);
  bd_block_release(b);
  /* max < 10: add 3 until max >= 10: 4 -> 7 -> 10. */
  b = build(
      "{\"type\":\"while\",\"cond\":{\"reduce\":\"max\",\"lt\":10},"
      "\"body\":{\"type\":\"add\",\"value\":3}}");
  y = fwd(b, x);
  float want3[] = {10, 2};
  expect(y, 1, s, want3, 0);
  bd_tensor_release(y);
  bd_block_release(b);
  /* More iterations than max_iters: a clear error. */
  b = build(
      "{\"type\":\"while\",\"cond\":{\"reduce\":\"abs_sum\",\"gt\":"
      "1},\"body\":{\"type\":\"scale\",\"value\":0.5},\"max_iters\":"
      "2}");
  uint64_t off = 0;
  ck_assert_int_eq(run(b, x, false, &off, &y), BD_EITERS);
  ck_assert_ptr_nonnull(strstr(bd_errmsg(), "max_iters = 2"));
  bd_block_release(b);
  /* norm, min, mean reductions */
  b = build(
      "{\"type\":\"while\",\"cond\":{\"reduce\":\"norm\",\"gt\":2},"
      "\"body\":{\"type\":\"scale\",\"value\":0.5}}");
  y = fwd(b, x); /* norm 5.657 -> 2.83 -> 1.41 */
  float want4[] = {1, -1};
  expect(y, 1, s, want4, 0);
  bd_tensor_release(y);
  bd_block_release(b);
  b = build(
      "{\"type\":\"while\",\"cond\":{\"reduce\":\"min\",\"le\":0},"
      "\"body\":{\"type\":\"add\",\"value\":3}}");
  y = fwd(b, x); /* min -4 -> -1 -> 2 */
  float want5[] = {10, 2};
  expect(y, 1, s, want5, 0);
  bd_tensor_release(y);
  bd_block_release(b);
  b = build(
      "{\"type\":\"while\",\"cond\":{\"reduce\":\"mean\",\"lt\":2},"
      "\"body\":{\"type\":\"add\",\"value\":1}}");
  y = fwd(b, x); /* mean 0 -> 1 -> 2 */
  float want6[] = {6, -2};
  expect(y, 1, s, want6, 0);
  bd_tensor_release(y);
  bd_block_release(b);
  bd_tensor_release(x);
}
END_TEST

START_TEST(test_residual_parallel_forward) {
  int64_t s[] = {2, 2}, s4[] = {2, 4};
  float v[] = {1, 2, 3, 4};
  bd_tensor *x = tensor(2, s, v);
  bd_block *b = build(
      "{\"type\":\"residual\",\"body\":{\"type\":\"scale\","
      "\"value\":2}}");
  bd_tensor *y = fwd(b, x);
  float want[] = {3, 6, 9, 12};
  expect(y, 2, s, want, 0);
  bd_tensor_release(y);
  bd_block_release(b);
  b = build(
      "{\"type\":\"parallel\",\"branches\":[{\"type\":\"identity\"},"
      "{\"type\":\"scale\",\"value\":2}]}");
  ck_assert_str_eq(b->child_names[1], "1");
  y = fwd(b, x);
  float wantc[] = {1, 2, 2, 4, 3, 4, 6, 8};
  expect(y, 2, s4, wantc, 0);
  bd_tensor_release(y);
  bd_block_release(b);
  b = build(
      "{\"type\":\"parallel\",\"combine\":\"add\",\"branches\":["
      "{\"type\":\"identity\"},{\"type\":\"scale\",\"value\":2},"
      "{\"type\":\"add\",\"value\":1}]}");
  y = fwd(b, x);
  float wanta[] = {5, 9, 13, 17};
  expect(y, 2, s, wanta, 0);
  bd_tensor_release(y);
  bd_block_release(b);
  /* Shapes that cannot be combined name both branches and shapes. */
  b = build(
      "{\"type\":\"parallel\",\"combine\":\"add\",\"branches\":["
      "{\"type\":\"identity\",\"name\":\"a\"},{\"type\":\"flatten\","
      "\"start_dim\":0,\"name\":\"b\"}]}");
  uint64_t off = 0;
  ck_assert_int_eq(run(b, x, false, &off, &y), BD_ESHAPE);
  ck_assert_ptr_nonnull(strstr(bd_errmsg(), "branch b returns shape [4]"));
  ck_assert_ptr_nonnull(strstr(bd_errmsg(), "branch a returns [2, 2]"));
  bd_block_release(b);
  b = build(
      "{\"type\":\"parallel\",\"branches\":[{\"type\":\"identity\"},"
      "{\"type\":\"sum\"}]}");
  ck_assert_int_eq(run(b, x, false, &off, &y), BD_ESHAPE);
  ck_assert_ptr_nonnull(strstr(bd_errmsg(), "branch 1 returns a 0-d"));
  bd_block_release(b);
  b = build("{\"type\":\"residual\",\"body\":{\"type\":\"sum\"}}");
  ck_assert_int_eq(run(b, x, false, &off, &y), BD_ESHAPE);
  ck_assert_ptr_nonnull(strstr(bd_errmsg(), "residual"));
  bd_block_release(b);
  bd_tensor_release(x);
}
END_TEST

/* FixedHiddenMLP as a sequential: the linear layer is run twice but
 * registered once (a same-name ref), so state_dict has it once. */
static const char *fixed_hidden =
    "{\"type\":\"sequential\",\"layers\":["
    "{\"type\":\"linear\",\"in_features\":3,\"out_features\":3,"
    "\"name\":\"linear\",\"id\":\"lin\"},"
    "{\"type\":\"matmul\",\"weight\":{\"shape\":[3,3]},\"name\":"
    "\"rand_weight\"},"
    "{\"type\":\"add\",\"value\":1},{\"type\":\"relu\"},"
    "{\"ref\":\"lin\",\"name\":\"linear\"},"
    "{\"type\":\"while\",\"cond\":{\"reduce\":\"abs_sum\",\"gt\":1},"
    "\"body\":{\"type\":\"scale\",\"value\":0.5}},"
    "{\"type\":\"sum\"}]}";

START_TEST(test_sequential_reuse_and_tying) {
  bd_block *b = build(fixed_hidden);
  bd_state_list l = {0};
  ck_assert_int_eq(bd_block_state_dict(b, "", &l), BD_OK);
  const char *keys[] = {"linear.weight", "linear.bias", "rand_weight.weight"};
  ck_assert_uint_eq(l.n, 3);
  for (int i = 0; i < 3; i++) ck_assert_str_eq(l.v[i].path, keys[i]);
  bd_state_list_free(&l);
  /* The spec keeps the reuse as a ref under the same name. */
  cJSON *spec = spec_json(b);
  cJSON *layers = cJSON_GetObjectItem(spec, "layers");
  ck_assert_int_eq(cJSON_GetArraySize(layers), 7);
  cJSON *again = cJSON_GetArrayItem(layers, 4);
  ck_assert_str_eq(cJSON_GetObjectItem(again, "ref")->valuestring, "lin");
  ck_assert_str_eq(cJSON_GetObjectItem(again, "name")->valuestring, "linear");
  cJSON_Delete(spec);
  /* Forward is a 0-d sum with |output| <= 1 after the loop. */
  int64_t s[] = {2, 3};
  float v[] = {0.1f, 0.2f, 0.3f, -0.4f, 0.5f, 0.6f};
  bd_tensor *x = tensor(2, s, v);
  bd_tensor *y = fwd(b, x);
  ck_assert_int_eq(y->ndim, 0);
  ck_assert(fabsf(bd_tensor_f32(y)[0]) <= 1.0f);
  bd_tensor_release(y);
  bd_tensor_release(x);
  bd_block_release(b);
  /* The seed's shared net: a ref under a new name repeats the keys. */
  b = build(
      "{\"type\":\"sequential\",\"layers\":["
      "{\"type\":\"linear\",\"in_features\":4,\"out_features\":8},"
      "{\"type\":\"relu\"},"
      "{\"type\":\"linear\",\"in_features\":8,\"out_features\":8,"
      "\"id\":\"shared\"},{\"type\":\"relu\"},{\"ref\":\"shared\"},"
      "{\"type\":\"relu\"},"
      "{\"type\":\"linear\",\"in_features\":8,\"out_features\":1}]}");
  ck_assert_int_eq(bd_block_state_dict(b, "", &l), BD_OK);
  const char *tk[] = {"0.weight", "0.bias", "2.weight", "2.bias",
                      "4.weight", "4.bias", "6.weight", "6.bias"};
  ck_assert_uint_eq(l.n, 8);
  for (int i = 0; i < 8; i++) ck_assert_str_eq(l.v[i].path, tk[i]);
  ck_assert_ptr_eq(l.v[2].param, l.v[4].param);
  ck_assert(!bd_state_list_is_first(&l, 4));
  bd_state_list_free(&l);
  bd_block_release(b);
}
END_TEST

/* ---- finite-difference checks of every backward ------------------------ */

START_TEST(test_fd_layers) {
  int64_t s34[] = {3, 4}, s234[] = {2, 3, 4}, s5[] = {5};
  fd_check("{\"type\":\"softmax\"}", 2, s34, -2, 2, false);
  fd_check("{\"type\":\"softmax\",\"dim\":0}", 2, s34, -2, 2, false);
  fd_check("{\"type\":\"softmax\",\"dim\":1}", 3, s234, -2, 2, false);
  fd_check("{\"type\":\"flatten\"}", 3, s234, -2, 2, false);
  fd_check("{\"type\":\"identity\"}", 2, s34, -2, 2, false);
  fd_check("{\"type\":\"centered\"}", 2, s34, -2, 2, false);
  fd_check("{\"type\":\"add\",\"value\":1.5}", 2, s34, -2, 2, false);
  fd_check("{\"type\":\"scale\",\"value\":-0.7}", 2, s34, -2, 2, false);
  fd_check("{\"type\":\"sum\"}", 2, s34, -2, 2, false);
  fd_check("{\"type\":\"mean\"}", 1, s5, -2, 2, false);
  fd_check("{\"type\":\"sigmoid\"}", 2, s34, -2, 2, false);
  fd_check("{\"type\":\"tanh\"}", 2, s34, -2, 2, false);
  fd_check("{\"type\":\"gelu\"}", 2, s34, -2, 2, false);
  /* relu away from its kink */
  fd_check("{\"type\":\"relu\"}", 2, s34, 0.1f, 2, false);
}
END_TEST

START_TEST(test_fd_reduce_dim) {
  int64_t s5[] = {5}, s34[] = {3, 4}, s234[] = {2, 3, 4};
  const char *specs[] = {
      "{\"type\":\"sum\",\"dim\":0}",
      "{\"type\":\"sum\",\"dim\":1,\"keepdim\":true}",
      "{\"type\":\"sum\",\"dim\":-1}",
      "{\"type\":\"mean\",\"dim\":0,\"keepdim\":true}",
      "{\"type\":\"mean\",\"dim\":1}",
      "{\"type\":\"mean\",\"dim\":-1,\"keepdim\":true}",
  };
  for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
    fd_check(specs[i], 2, s34, -2, 2, false);
    fd_check(specs[i], 3, s234, -2, 2, false);
  }
  fd_check("{\"type\":\"sum\",\"dim\":0}", 1, s5, -2, 2, false);
  fd_check("{\"type\":\"mean\",\"dim\":-1}", 1, s5, -2, 2, false);
  fd_check("{\"type\":\"mean\",\"keepdim\":true}", 3, s234, -2, 2, false);
  /* through parameters: linear, then a reduction over the batch dim */
  fd_check(
      "{\"type\":\"sequential\",\"layers\":[{\"type\":\"linear\","
      "\"in_features\":4,\"out_features\":3},{\"type\":\"tanh\"},"
      "{\"type\":\"mean\",\"dim\":0},{\"type\":\"linear\","
      "\"in_features\":3,\"out_features\":2}]}",
      2, s34, -2, 2, false);
}
END_TEST

START_TEST(test_fd_dropout) {
  int64_t s[] = {4, 6};
  /* train: the recorded mask is reused by backward (and by every
   * objective evaluation, which restarts the stream at the same offset) */
  fd_check("{\"type\":\"dropout\",\"p\":0.3}", 2, s, -2, 2, true);
  fd_check("{\"type\":\"dropout\",\"p\":0.3}", 2, s, -2, 2, false);
  fd_check("{\"type\":\"dropout\",\"p\":1}", 2, s, -2, 2, true);
}
END_TEST

START_TEST(test_fd_matmul_and_plugin) {
  int64_t s[] = {3, 4}, s3[] = {2, 3, 4};
  fd_check(
      "{\"type\":\"matmul\",\"weight\":{\"shape\":[4,5],\"init\":"
      "\"normal\"}}",
      2, s, -2, 2, false);
  fd_check("{\"type\":\"matmul\",\"weight\":{\"shape\":[4,2]}}", 3, s3, -2, 2,
           false);
  /* The seed's MyLinear; inputs are positive and its N(0,1) weights give
   * pre-activations well away from the relu kink for this seed. */
  fd_check(
      "{\"type\":\"sequential\",\"layers\":[{\"type\":\"mylinear\","
      "\"in_units\":4,\"units\":3},{\"type\":\"tanh\"}]}",
      2, s, -1, 1, false);
}
END_TEST

START_TEST(test_fd_containers) {
  int64_t s[] = {3, 4};
  fd_check(
      "{\"type\":\"residual\",\"body\":{\"type\":\"sequential\","
      "\"layers\":[{\"type\":\"linear\",\"in_features\":4,"
      "\"out_features\":4},{\"type\":\"tanh\"}]}}",
      2, s, -2, 2, false);
  fd_check(
      "{\"type\":\"parallel\",\"branches\":[{\"type\":\"linear\","
      "\"in_features\":4,\"out_features\":2},{\"type\":\"tanh\"},"
      "{\"type\":\"linear\",\"in_features\":4,\"out_features\":3,"
      "\"bias\":false}]}",
      2, s, -2, 2, false);
  fd_check(
      "{\"type\":\"parallel\",\"combine\":\"add\",\"branches\":["
      "{\"type\":\"linear\",\"in_features\":4,\"out_features\":4},"
      "{\"type\":\"sigmoid\"},{\"type\":\"identity\"}]}",
      2, s, -2, 2, false);
  /* tied layers accumulate gradients over both uses */
  fd_check(
      "{\"type\":\"sequential\",\"layers\":[{\"type\":\"linear\","
      "\"in_features\":4,\"out_features\":4,\"id\":\"t\"},"
      "{\"type\":\"tanh\"},{\"ref\":\"t\"},{\"type\":\"tanh\"},"
      "{\"ref\":\"t\",\"name\":\"0\"}]}",
      2, s, -2, 2, false);
  /* while: 3 halvings of a sum of ~10 (the condition is far from its
   * threshold for the perturbed inputs too); a body with parameters */
  fd_check(
      "{\"type\":\"while\",\"cond\":{\"reduce\":\"abs_sum\",\"gt\":"
      "1.3},\"body\":{\"type\":\"scale\",\"value\":0.5}}",
      2, s, 0.5f, 1.2f, false);
  /* each pass adds tanh(Wx + b) + 1 in (0, 2) per element: the sum grows
   * until it reaches 30 */
  fd_check(
      "{\"type\":\"while\",\"cond\":{\"reduce\":\"sum\",\"lt\":30},"
      "\"body\":{\"type\":\"sequential\",\"layers\":[{\"type\":"
      "\"residual\",\"body\":{\"type\":\"sequential\",\"layers\":["
      "{\"type\":\"linear\",\"in_features\":4,\"out_features\":4},"
      "{\"type\":\"tanh\"}]}},{\"type\":\"add\",\"value\":1}]}}",
      2, s, -0.5f, 0.5f, false);
}
END_TEST

START_TEST(test_fd_fixed_hidden_mlp) {
  int64_t s[] = {2, 3};
  /* a 0-d output; the loop count is fixed near these inputs */
  fd_check(fixed_hidden, 2, s, -1, 1, false);
}
END_TEST

Suite *catalog_suite(void) {
  Suite *s = suite_create("blocks_catalog");
  TCase *f = tcase_create("forward");
  tcase_add_test(f, test_softmax_forward);
  tcase_add_test(f, test_dropout_forward);
  tcase_add_test(f, test_flatten_identity_forward);
  tcase_add_test(f, test_centered_scalar_reduce_forward);
  tcase_add_test(f, test_reduce_dim_forward);
  tcase_add_test(f, test_matmul_forward_and_buffer);
  tcase_add_test(f, test_while_forward);
  tcase_add_test(f, test_residual_parallel_forward);
  tcase_add_test(f, test_sequential_reuse_and_tying);
  suite_add_tcase(s, f);
  TCase *g = tcase_create("finite_differences");
  tcase_add_test(g, test_fd_layers);
  tcase_add_test(g, test_fd_reduce_dim);
  tcase_add_test(g, test_fd_dropout);
  tcase_add_test(g, test_fd_matmul_and_plugin);
  tcase_add_test(g, test_fd_containers);
  tcase_add_test(g, test_fd_fixed_hidden_mlp);
  suite_add_tcase(s, g);
  return s;
}

int main(void) {
  SRunner *r = srunner_create(catalog_suite());
  srunner_run_all(r, CK_NORMAL);
  int failed = srunner_ntests_failed(r);
  srunner_free(r);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
