/* test_backend_cpu.c - every CPU backend op: GEMM against a naive triple
 * loop (random shapes incl. 1 and odd sizes, all transpose combinations,
 * alpha/beta), element-wise, reduce, softmax, cross entropy, SGD and the
 * rest on hand-computed cases. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/backend.h"

static bd_tensor *vec(int64_t n, const float *v) {
  bd_tensor *t;
  ck_assert_int_eq(bd_tensor_new(BD_CPU, BD_F32, 1, &n, &t), BD_OK);
  if (v) memcpy(bd_tensor_f32(t), v, (size_t)n * 4);
  return t;
}

static bd_tensor *mat(int64_t r, int64_t c) {
  int64_t s[2] = {r, c};
  bd_tensor *t;
  ck_assert_int_eq(bd_tensor_new(BD_CPU, BD_F32, 2, s, &t), BD_OK);
  return t;
}

static void assert_close(const float *got, const float *want, int64_t n,
                         double tol) {
  for (int64_t i = 0; i < n; i++) {
    double d = fabs((double)got[i] - want[i]);
    ck_assert_msg(d <= tol * (1.0 + fabs((double)want[i])),
                  "element %lld: got %.9g want %.9g", (long long)i,
                  (double)got[i], (double)want[i]);
  }
}

static uint64_t lcg = 88172645463325252ULL;
static float frand(void) {
  lcg ^= lcg << 13;
  lcg ^= lcg >> 7;
  lcg ^= lcg << 17;
  return (float)((double)(lcg >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

/* Naive row-major reference for C = alpha op(A) op(B) + beta C. */
static void ref_gemm(int64_t m, int64_t n, int64_t k, int ta, int tb,
                     float alpha, const float *a, const float *b, float beta,
                     double *c) {
  for (int64_t i = 0; i < m; i++)
    for (int64_t j = 0; j < n; j++) {
      double acc = 0;
      for (int64_t p = 0; p < k; p++) {
        double x = ta ? a[p * m + i] : a[i * k + p];
        double y = tb ? b[j * k + p] : b[p * n + j];
        acc += x * y;
      }
      c[i * n + j] = alpha * acc + beta * c[i * n + j];
    }
}

START_TEST(test_gemm_random_shapes) {
  static const int64_t sizes[] = {1, 2, 3, 7, 17, 33, 64, 65};
  int ns = sizeof sizes / sizeof sizes[0];
  int cases = 0;
  for (int trial = 0; trial < 60; trial++) {
    /* Pseudo-random sizes from the list (1, odd, around SIMD widths) or
     * uniform in [1, 100]; every transpose combination in turn. */
    int64_t dims[3];
    for (int q = 0; q < 3; q++) {
      lcg ^= lcg << 13;
      lcg ^= lcg >> 7;
      lcg ^= lcg << 17;
      dims[q] = (lcg >> 40) & 1 ? sizes[(lcg >> 8) % (uint64_t)ns]
                                : (int64_t)((lcg >> 16) % 100) + 1;
    }
    int64_t m = dims[0], n = dims[1], k = dims[2];
    int ta = trial & 1, tb = (trial >> 1) & 1;
    float alpha = (trial % 3 == 0) ? 1.0f : 0.75f;
    float beta = (trial % 4 == 3) ? 1.0f : ((trial % 4 == 2) ? 0.5f : 0.0f);
    bd_tensor *a = mat(ta ? k : m, ta ? m : k);
    bd_tensor *b = mat(tb ? n : k, tb ? k : n);
    bd_tensor *c = mat(m, n);
    for (int64_t i = 0; i < m * k; i++) bd_tensor_f32(a)[i] = frand();
    for (int64_t i = 0; i < k * n; i++) bd_tensor_f32(b)[i] = frand();
    double *want = malloc((size_t)(m * n) * sizeof *want);
    for (int64_t i = 0; i < m * n; i++) want[i] = bd_tensor_f32(c)[i] = frand();
    ref_gemm(m, n, k, ta, tb, alpha, bd_tensor_f32(a), bd_tensor_f32(b), beta,
             want);
    bd_op op = bd_op_gemm(c, a, ta, b, tb, m, n, k, alpha, beta);
    ck_assert_int_eq(bd_op_run(&op), BD_OK);
    for (int64_t i = 0; i < m * n; i++)
      ck_assert_msg(
          fabs(bd_tensor_f32(c)[i] - want[i]) <= 1e-5 * (double)k + 1e-6,
          "m=%lld n=%lld k=%lld ta=%d tb=%d beta=%g [%lld]: %.9g vs "
          "%.9g",
          (long long)m, (long long)n, (long long)k, ta, tb, (double)beta,
          (long long)i, (double)bd_tensor_f32(c)[i], want[i]);
    free(want);
    bd_tensor_release(a);
    bd_tensor_release(b);
    bd_tensor_release(c);
    cases++;
  }
  ck_assert_int_eq(cases, 60);
}
END_TEST

START_TEST(test_gemm_all_transposes_hand) {
  /* A = [[1,2,3],[4,5,6]] (2x3), B = [[7,8],[9,10],[11,12]] (3x2):
   * A@B = [[58,64],[139,154]]. Each transpose variant stores the operand
   * transposed and must give the same product. */
  const float A[6] = {1, 2, 3, 4, 5, 6}, At[6] = {1, 4, 2, 5, 3, 6};
  const float B[6] = {7, 8, 9, 10, 11, 12}, Bt[6] = {7, 9, 11, 8, 10, 12};
  const float want[4] = {58, 64, 139, 154};
  for (int ta = 0; ta < 2; ta++)
    for (int tb = 0; tb < 2; tb++) {
      bd_tensor *a = vec(6, ta ? At : A), *b = vec(6, tb ? Bt : B);
      bd_tensor *c = mat(2, 2);
      bd_op op = bd_op_gemm(c, a, ta, b, tb, 2, 2, 3, 1.0f, 0.0f);
      /* beta = 0 must ignore garbage (even NaN) in dst. */
      for (int i = 0; i < 4; i++) bd_tensor_f32(c)[i] = NAN;
      ck_assert_int_eq(bd_op_run(&op), BD_OK);
      assert_close(bd_tensor_f32(c), want, 4, 0);
      /* beta = 1 accumulates: twice the product. */
      op.gemm.beta = 1.0f;
      ck_assert_int_eq(bd_op_run(&op), BD_OK);
      const float twice[4] = {116, 128, 278, 308};
      assert_close(bd_tensor_f32(c), twice, 4, 0);
      bd_tensor_release(a);
      bd_tensor_release(b);
      bd_tensor_release(c);
    }
}
END_TEST

START_TEST(test_gemm_single_row) {
  /* m = 1 (batch-1 linear) for every transpose, beta 0 over NaN garbage and
   * beta 1, against the naive reference. */
  for (int ta = 0; ta < 2; ta++)
    for (int tb = 0; tb < 2; tb++)
      for (int bi = 0; bi < 2; bi++) {
        int64_t n = 37, k = 23;
        float beta = bi ? 1.0f : 0.0f;
        bd_tensor *a = vec(k, NULL), *b = mat(tb ? n : k, tb ? k : n),
                  *c = mat(1, n);
        for (int64_t i = 0; i < k; i++) bd_tensor_f32(a)[i] = frand();
        for (int64_t i = 0; i < n * k; i++) bd_tensor_f32(b)[i] = frand();
        double want[37];
        for (int64_t i = 0; i < n; i++) {
          bd_tensor_f32(c)[i] = bi ? frand() : NAN;
          want[i] = bi ? bd_tensor_f32(c)[i] : 0;
        }
        ref_gemm(1, n, k, ta, tb, 0.5f, bd_tensor_f32(a), bd_tensor_f32(b),
                 beta, want);
        bd_op op = bd_op_gemm(c, a, ta, b, tb, 1, n, k, 0.5f, beta);
        ck_assert_int_eq(bd_op_run(&op), BD_OK);
        for (int64_t i = 0; i < n; i++)
          ck_assert_msg(fabs(bd_tensor_f32(c)[i] - want[i]) < 1e-5,
                        "ta=%d tb=%d beta=%g [%lld] %g vs %g", ta, tb,
                        (double)beta, (long long)i, (double)bd_tensor_f32(c)[i],
                        want[i]);
        bd_tensor_release(a);
        bd_tensor_release(b);
        bd_tensor_release(c);
      }
}
END_TEST

START_TEST(test_gemm_k_zero) {
  bd_tensor *c = mat(2, 2);
  bd_tensor *a = vec(0, NULL), *b = vec(0, NULL);
  const float init[4] = {1, 2, 3, 4};
  memcpy(bd_tensor_f32(c), init, 16);
  bd_op op = bd_op_gemm(c, a, false, b, false, 2, 2, 0, 1.0f, 0.5f);
  ck_assert_int_eq(bd_op_run(&op), BD_OK);
  const float half[4] = {0.5f, 1, 1.5f, 2};
  assert_close(bd_tensor_f32(c), half, 4, 0);
  op.gemm.beta = 0;
  ck_assert_int_eq(bd_op_run(&op), BD_OK);
  const float zero[4] = {0, 0, 0, 0};
  assert_close(bd_tensor_f32(c), zero, 4, 0);
  bd_tensor_release(a);
  bd_tensor_release(b);
  bd_tensor_release(c);
}
END_TEST

START_TEST(test_fill_copy) {
  bd_tensor *d = vec(5, NULL);
  bd_op op = bd_op_fill(d, 2.5f);
  ck_assert_int_eq(bd_op_run(&op), BD_OK);
  const float f[5] = {2.5f, 2.5f, 2.5f, 2.5f, 2.5f};
  assert_close(bd_tensor_f32(d), f, 5, 0);
  const float src[5] = {1, -2, 3, -4, 5};
  bd_tensor *a = vec(5, src);
  bd_op cp = bd_op_copy(d, a);
  ck_assert_int_eq(bd_op_run(&cp), BD_OK);
  assert_close(bd_tensor_f32(d), src, 5, 0);
  bd_tensor_release(a);
  bd_tensor_release(d);
}
END_TEST

START_TEST(test_binary_broadcast) {
  const float a[6] = {1, 2, 3, 4, 5, 6};
  const float full[6] = {6, 5, 4, 3, 2, 1};
  const float row[3] = {10, 20, 30};
  const float one[1] = {2};
  bd_tensor *ta = vec(6, a), *tf = vec(6, full), *tr = vec(3, row),
            *t1 = vec(1, one), *d = vec(6, NULL);
  struct {
    int kind;
    bd_tensor *b;
    float want[6];
  } cases[] = {
      {BD_BIN_ADD, tf, {7, 7, 7, 7, 7, 7}},
      {BD_BIN_SUB, tf, {-5, -3, -1, 1, 3, 5}},
      {BD_BIN_MUL, tf, {6, 10, 12, 12, 10, 6}},
      {BD_BIN_DIV, tf, {1.0f / 6, 0.4f, 0.75f, 4.0f / 3, 2.5f, 6}},
      {BD_BIN_ADD, tr, {11, 22, 33, 14, 25, 36}}, /* bias over rows */
      {BD_BIN_MUL, tr, {10, 40, 90, 40, 100, 180}},
      {BD_BIN_SUB, t1, {-1, 0, 1, 2, 3, 4}}, /* scalar */
      {BD_BIN_DIV, t1, {0.5f, 1, 1.5f, 2, 2.5f, 3}},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    bd_op op = bd_op_binary(d, ta, cases[i].kind, cases[i].b);
    ck_assert_int_eq(bd_op_run(&op), BD_OK);
    assert_close(bd_tensor_f32(d), cases[i].want, 6, 1e-7);
  }
  /* In place (dst == a), as bias accumulation does. */
  bd_op inplace = bd_op_binary(ta, ta, BD_BIN_ADD, tr);
  ck_assert_int_eq(bd_op_run(&inplace), BD_OK);
  const float w[6] = {11, 22, 33, 14, 25, 36};
  assert_close(bd_tensor_f32(ta), w, 6, 0);
  bd_tensor_release(ta);
  bd_tensor_release(tf);
  bd_tensor_release(tr);
  bd_tensor_release(t1);
  bd_tensor_release(d);
}
END_TEST

START_TEST(test_unary_forward) {
  const float x[4] = {-2.0f, -0.5f, 0.0f, 1.5f};
  bd_tensor *a = vec(4, x), *d = vec(4, NULL);
  struct {
    int kind;
    float p0, p1;
    float want[4];
  } cases[] = {
      {BD_UN_RELU, 0, 0, {0, 0, 0, 1.5f}},
      /* 1/(1+e^2), 1/(1+e^0.5), 0.5, 1/(1+e^-1.5) */
      {BD_UN_SIGMOID,
       0,
       0,
       {0.11920292202211755f, 0.3775406687981454f, 0.5f, 0.8175744761936437f}},
      {BD_UN_TANH,
       0,
       0,
       {-0.9640275800758169f, -0.46211715726000974f, 0.0f,
        0.9051482536448664f}},
      /* x * Phi(x): Phi(-2) = 0.0227501319, Phi(-0.5) = 0.3085375387,
       * Phi(1.5) = 0.9331927987 */
      {BD_UN_GELU,
       0,
       0,
       {-0.04550026389635842f, -0.15426876936299344f, 0.0f, 1.399789198f}},
      {BD_UN_SCALE, 3, 0, {-6, -1.5f, 0, 4.5f}},
      {BD_UN_ADD, 0.25f, 0, {-1.75f, -0.25f, 0.25f, 1.75f}},
      {BD_UN_AFFINE, 2, 1, {-3, 0, 1, 4}},
      {BD_UN_ABS, 0, 0, {2, 0.5f, 0, 1.5f}},
      {BD_UN_EXP,
       0,
       0,
       {0.1353352832366127f, 0.6065306597126334f, 1.0f, 4.4816890703380645f}},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    bd_op op = bd_op_unary(d, a, cases[i].kind, cases[i].p0, cases[i].p1);
    ck_assert_int_eq(bd_op_run(&op), BD_OK);
    assert_close(bd_tensor_f32(d), cases[i].want, 4, 2e-6);
  }
  bd_tensor_release(a);
  bd_tensor_release(d);
}
END_TEST

START_TEST(test_unary_backward) {
  const float x[4] = {-2.0f, -0.5f, 0.0f, 1.5f};
  const float dy[4] = {1.0f, 2.0f, 3.0f, -1.0f};
  bd_tensor *a = vec(4, x), *g = vec(4, dy), *d = vec(4, NULL);
  double s1 = 0.11920292202211755, s2 = 0.3775406687981454,
         s4 = 0.8175744761936437;
  double t1 = -0.9640275800758169, t2 = -0.46211715726000974,
         t4 = 0.9051482536448664;
  /* GELU'(x) = Phi(x) + x phi(x). */
  double phi2 = 0.05399096651318806, phi05 = 0.3520653267642995,
         phi15 = 0.12951759566589174;
  struct {
    int kind;
    float p0;
    float want[4];
  } cases[] = {
      {BD_UN_RELU, 0, {0, 0, 0, -1}}, /* relu'(0) = 0 as in PyTorch */
      {BD_UN_SIGMOID,
       0,
       {(float)(1 * s1 * (1 - s1)), (float)(2 * s2 * (1 - s2)), 0.75f,
        (float)(-1 * s4 * (1 - s4))}},
      {BD_UN_TANH,
       0,
       {(float)(1 - t1 * t1), (float)(2 * (1 - t2 * t2)), 3.0f,
        (float)(-(1 - t4 * t4))}},
      {BD_UN_GELU,
       0,
       {(float)(0.022750131948179195 - 2 * phi2),
        (float)(2 * (0.3085375387259869 - 0.5 * phi05)), 1.5f,
        (float)(-(0.9331927987311419 + 1.5 * phi15))}},
      {BD_UN_SCALE, 3, {3, 6, 9, -3}},
      {BD_UN_ADD, 7, {1, 2, 3, -1}},
      {BD_UN_AFFINE, -2, {-2, -4, -6, 2}},
      {BD_UN_ABS, 0, {-1, -2, 0, -1}},
      {BD_UN_EXP,
       0,
       {0.1353352832366127f, 2 * 0.6065306597126334f, 3.0f,
        -4.4816890703380645f}},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    bd_op op = bd_op_unary_backward(d, a, g, cases[i].kind, cases[i].p0, 0);
    ck_assert_int_eq(bd_op_run(&op), BD_OK);
    assert_close(bd_tensor_f32(d), cases[i].want, 4, 2e-6);
  }
  bd_tensor_release(a);
  bd_tensor_release(g);
  bd_tensor_release(d);
}
END_TEST

START_TEST(test_relu_nan_and_negative_zero) {
  /* PyTorch: relu(NaN) = NaN, relu(-0) = -0; the gradient passes for NaN
   * (threshold_backward tests x <= 0) and is 0 at -0 and 0. */
  const float x[4] = {NAN, -0.0f, 0.0f, -1.0f};
  const float dy[4] = {1, 1, 1, 1};
  bd_tensor *a = vec(4, x), *g = vec(4, dy), *d = vec(4, NULL);
  bd_op op = bd_op_unary(d, a, BD_UN_RELU, 0, 0);
  ck_assert_int_eq(bd_op_run(&op), BD_OK);
  ck_assert(isnan(bd_tensor_f32(d)[0]));
  ck_assert(bd_tensor_f32(d)[1] == 0.0f && signbit(bd_tensor_f32(d)[1]));
  ck_assert(bd_tensor_f32(d)[2] == 0.0f && !signbit(bd_tensor_f32(d)[2]));
  ck_assert(bd_tensor_f32(d)[3] == 0.0f && !signbit(bd_tensor_f32(d)[3]));
  bd_op bw = bd_op_unary_backward(d, a, g, BD_UN_RELU, 0, 0);
  ck_assert_int_eq(bd_op_run(&bw), BD_OK);
  const float want[4] = {1, 0, 0, 0};
  assert_close(bd_tensor_f32(d), want, 4, 0);
  bd_tensor_release(a);
  bd_tensor_release(g);
  bd_tensor_release(d);
}
END_TEST

START_TEST(test_reduce) {
  const float x[5] = {1, -2, 3, -4, 2};
  bd_tensor *a = vec(5, x), *d = vec(1, NULL);
  struct {
    int kind;
    float want;
  } cases[] = {
      {BD_RED_SUM, 0},      {BD_RED_MEAN, 0},
      {BD_RED_ABS_SUM, 12}, {BD_RED_MAX, 3},
      {BD_RED_MIN, -4},     {BD_RED_NORM, 5.8309518948453f}, /* sqrt(34) */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    bd_op op = bd_op_reduce(d, a, cases[i].kind);
    ck_assert_int_eq(bd_op_run(&op), BD_OK);
    assert_close(bd_tensor_f32(d), &cases[i].want, 1, 1e-7);
  }
  const float y[4] = {1, 2, 3, 4.5f};
  bd_tensor *b = vec(4, y);
  bd_op mean = bd_op_reduce(d, b, BD_RED_MEAN);
  ck_assert_int_eq(bd_op_run(&mean), BD_OK);
  ck_assert(bd_tensor_f32(d)[0] == 2.625f);
  /* max propagates NaN, as torch.max does. */
  bd_tensor_f32(b)[1] = NAN;
  bd_op mx = bd_op_reduce(d, b, BD_RED_MAX);
  ck_assert_int_eq(bd_op_run(&mx), BD_OK);
  ck_assert(isnan(bd_tensor_f32(d)[0]));
  bd_tensor_release(a);
  bd_tensor_release(b);
  bd_tensor_release(d);
}
END_TEST

START_TEST(test_sum_rows) {
  const float x[6] = {1, 2, 3, 4, 5, 6}; /* [2, 3] */
  bd_tensor *a = vec(6, x), *d = vec(3, NULL);
  bd_tensor_f32(d)[0] = NAN;
  bd_op op = bd_op_sum_rows(d, a, 2, 3, 0);
  ck_assert_int_eq(bd_op_run(&op), BD_OK);
  const float w[3] = {5, 7, 9};
  assert_close(bd_tensor_f32(d), w, 3, 0);
  op.sum_rows.beta = 1; /* accumulate */
  ck_assert_int_eq(bd_op_run(&op), BD_OK);
  const float w2[3] = {10, 14, 18};
  assert_close(bd_tensor_f32(d), w2, 3, 0);
  bd_tensor_release(a);
  bd_tensor_release(d);
}
END_TEST

START_TEST(test_softmax) {
  /* Rows [1,2,3] and [1000,1000,1000] (overflow-safe). */
  const float x[6] = {1, 2, 3, 1000, 1000, 1000};
  bd_tensor *a = vec(6, x), *d = vec(6, NULL);
  bd_op op = bd_op_softmax(d, a, 2, 3, 1);
  ck_assert_int_eq(bd_op_run(&op), BD_OK);
  const float w[6] = {0.09003057317038046f,
                      0.24472847105479764f,
                      0.6652409557748219f,
                      1.0f / 3,
                      1.0f / 3,
                      1.0f / 3};
  assert_close(bd_tensor_f32(d), w, 6, 1e-6);
  /* Over dim 0 of a [2, 3] tensor: outer 1, dim 2, inner 3. Column j is
   * softmax([x0j, x1j]): columns 0 and 1 give [0.5, 0.5], column 2 gives
   * softmax([1, 0]). */
  const float y[6] = {0, 0, 1, 0, 0, 0};
  bd_tensor *b = vec(6, y);
  bd_op op2 = bd_op_softmax(d, b, 1, 2, 3);
  ck_assert_int_eq(bd_op_run(&op2), BD_OK);
  const float w2[6] = {0.5f, 0.5f, 0.7310585786300049f,
                       0.5f, 0.5f, 0.2689414213699951f};
  assert_close(bd_tensor_f32(d), w2, 6, 1e-6);
  /* Backward: dx = y * (dy - sum(y * dy)). y = [0.2, 0.3, 0.5],
   * dy = [1, 0, 0]: dot = 0.2, dx = [0.16, -0.06, -0.1]. */
  const float yy[3] = {0.2f, 0.3f, 0.5f}, dy[3] = {1, 0, 0};
  bd_tensor *ty = vec(3, yy), *tdy = vec(3, dy), *dx = vec(3, NULL);
  bd_op bw = bd_op_softmax_backward(dx, ty, tdy, 1, 3, 1);
  ck_assert_int_eq(bd_op_run(&bw), BD_OK);
  const float wdx[3] = {0.16f, -0.06f, -0.1f};
  assert_close(bd_tensor_f32(dx), wdx, 3, 1e-6);
  bd_tensor_release(a);
  bd_tensor_release(b);
  bd_tensor_release(d);
  bd_tensor_release(ty);
  bd_tensor_release(tdy);
  bd_tensor_release(dx);
}
END_TEST

START_TEST(test_cross_entropy) {
  /* logits [[1,2,3],[0,0,0]], targets [2, 0]:
   * row 0: lse = 3.40760596, loss 0.40760596; row 1: ln 3 = 1.09861229.
   * mean = 0.75310912. */
  const float x[6] = {1, 2, 3, 0, 0, 0};
  int64_t n2 = 2;
  bd_tensor *a = vec(6, x), *t, *d = vec(1, NULL), *g = vec(6, NULL);
  ck_assert_int_eq(bd_tensor_new(BD_CPU, BD_I64, 1, &n2, &t), BD_OK);
  int64_t *tp = bd_tensor_data(t);
  tp[0] = 2;
  tp[1] = 0;
  bd_op op = bd_op_cross_entropy(d, a, t, 2, 3);
  ck_assert_int_eq(bd_op_run(&op), BD_OK);
  const float want = 0.7531091254f;
  assert_close(bd_tensor_f32(d), &want, 1, 1e-6);
  /* Gradient, scale 1: (softmax - onehot) / 2. */
  bd_op bw = bd_op_cross_entropy_backward(g, a, t, 2, 3, 1.0f);
  ck_assert_int_eq(bd_op_run(&bw), BD_OK);
  const float wg[6] = {0.09003057317038046f / 2,
                       0.24472847105479764f / 2,
                       (0.6652409557748219f - 1) / 2,
                       (1.0f / 3 - 1) / 2,
                       1.0f / 6,
                       1.0f / 6};
  assert_close(bd_tensor_f32(g), wg, 6, 1e-6);
  /* A target outside [0, c) is an error. */
  tp[1] = 3;
  ck_assert_int_eq(bd_op_run(&op), BD_EINVAL);
  ck_assert(strstr(bd_errmsg(), "3") != NULL);
  tp[1] = -1;
  ck_assert_int_eq(bd_op_run(&bw), BD_EINVAL);
  bd_tensor_release(a);
  bd_tensor_release(t);
  bd_tensor_release(d);
  bd_tensor_release(g);
}
END_TEST

START_TEST(test_sgd) {
  /* Plain SGD: p -= lr * g. */
  const float p0[3] = {1, 2, 3}, g0[3] = {0.5f, -1, 2};
  bd_tensor *p = vec(3, p0), *g = vec(3, g0), *buf = vec(3, NULL);
  bd_op op = bd_op_sgd(p, g, NULL, &(bd_sgd_params){.lr = 0.1f});
  ck_assert_int_eq(bd_op_run(&op), BD_OK);
  const float w1[3] = {0.95f, 2.1f, 2.8f};
  assert_close(bd_tensor_f32(p), w1, 3, 1e-7);
  /* Weight decay 0.5: dp = g + 0.5 p. */
  memcpy(bd_tensor_f32(p), p0, 12);
  bd_op wd =
      bd_op_sgd(p, g, NULL, &(bd_sgd_params){.lr = 0.1f, .weight_decay = 0.5f});
  ck_assert_int_eq(bd_op_run(&wd), BD_OK);
  const float w2[3] = {1 - 0.1f * 1.0f, 2 - 0.1f * 0.0f, 3 - 0.1f * 3.5f};
  assert_close(bd_tensor_f32(p), w2, 3, 1e-6);
  /* Momentum 0.9: first step buf = g; second step buf = 0.9 buf + g. */
  memcpy(bd_tensor_f32(p), p0, 12);
  bd_op mo = bd_op_sgd(
      p, g, buf,
      &(bd_sgd_params){.lr = 0.1f, .momentum = 0.9f, .first_step = true});
  ck_assert_int_eq(bd_op_run(&mo), BD_OK);
  assert_close(bd_tensor_f32(buf), g0, 3, 0);
  assert_close(bd_tensor_f32(p), w1, 3, 1e-7);
  mo.sgd.first_step = false;
  ck_assert_int_eq(bd_op_run(&mo), BD_OK);
  const float b2[3] = {0.95f, -1.9f, 3.8f};
  assert_close(bd_tensor_f32(buf), b2, 3, 1e-6);
  const float w3[3] = {0.95f - 0.095f, 2.1f + 0.19f, 2.8f - 0.38f};
  assert_close(bd_tensor_f32(p), w3, 3, 1e-6);
  /* Nesterov: dp = g + mom * buf. From p0 with buf = g (first step):
   * dp = g + 0.9 g = 1.9 g. */
  memcpy(bd_tensor_f32(p), p0, 12);
  bd_op ne = bd_op_sgd(
      p, g, buf,
      &(bd_sgd_params){
          .lr = 0.1f, .momentum = 0.9f, .nesterov = true, .first_step = true});
  ck_assert_int_eq(bd_op_run(&ne), BD_OK);
  const float w4[3] = {1 - 0.095f, 2 + 0.19f, 3 - 0.38f};
  assert_close(bd_tensor_f32(p), w4, 3, 1e-6);
  bd_tensor_release(p);
  bd_tensor_release(g);
  bd_tensor_release(buf);
}
END_TEST

START_TEST(test_mask_and_clamp) {
  const float x[5] = {-6, -4.9f, 0, 5, 7};
  bd_tensor *a = vec(5, x), *d = vec(5, NULL);
  bd_op m = bd_op_mask_abs_below(d, a, 5);
  ck_assert_int_eq(bd_op_run(&m), BD_OK);
  const float wm[5] = {-6, 0, 0, 5, 7};
  assert_close(bd_tensor_f32(d), wm, 5, 0);
  bd_op c = bd_op_clamp(d, a, -5, 5);
  ck_assert_int_eq(bd_op_run(&c), BD_OK);
  const float wc[5] = {-5, -4.9f, 0, 5, 5};
  assert_close(bd_tensor_f32(d), wc, 5, 0);
  bd_tensor_release(a);
  bd_tensor_release(d);
}
END_TEST

START_TEST(test_rng_op) {
  bd_tensor *d = vec(1001, NULL);
  bd_op u = bd_op_rng(d, BD_RNG_UNIFORM, 5, 0, -2, 3);
  ck_assert_int_eq(bd_op_run(&u), BD_OK);
  for (int i = 0; i < 1001; i++)
    ck_assert(bd_tensor_f32(d)[i] >= -2 && bd_tensor_f32(d)[i] < 3);
  bd_op b = bd_op_rng(d, BD_RNG_BERNOULLI, 5, 0, 0.25f, 0);
  ck_assert_int_eq(bd_op_run(&b), BD_OK);
  int ones = 0;
  for (int i = 0; i < 1001; i++) {
    ck_assert(bd_tensor_f32(d)[i] == 0 || bd_tensor_f32(d)[i] == 1);
    ones += bd_tensor_f32(d)[i] == 1;
  }
  ck_assert(ones > 180 && ones < 320); /* mean 250, sd 13.7 */
  bd_tensor_release(d);
}
END_TEST

START_TEST(test_device_mismatch_and_unknown_op) {
  bd_tensor *d = vec(2, NULL);
  bd_op op = {.kind = BD_OP_COUNT, .dst = d};
  ck_assert_int_eq(bd_op_run(&op), BD_EUNSUPPORTED);
  bd_tensor_release(d);
}
END_TEST

int main(void) {
  Suite *s = suite_create("backend_cpu");
  TCase *tc = tcase_create("ops");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_gemm_random_shapes);
  tcase_add_test(tc, test_gemm_all_transposes_hand);
  tcase_add_test(tc, test_gemm_single_row);
  tcase_add_test(tc, test_gemm_k_zero);
  tcase_add_test(tc, test_fill_copy);
  tcase_add_test(tc, test_binary_broadcast);
  tcase_add_test(tc, test_unary_forward);
  tcase_add_test(tc, test_unary_backward);
  tcase_add_test(tc, test_relu_nan_and_negative_zero);
  tcase_add_test(tc, test_reduce);
  tcase_add_test(tc, test_sum_rows);
  tcase_add_test(tc, test_softmax);
  tcase_add_test(tc, test_cross_entropy);
  tcase_add_test(tc, test_sgd);
  tcase_add_test(tc, test_mask_and_clamp);
  tcase_add_test(tc, test_rng_op);
  tcase_add_test(tc, test_device_mismatch_and_unknown_op);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
