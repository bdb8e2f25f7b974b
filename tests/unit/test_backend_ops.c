/* test_backend_ops.c - one conformance suite for the backend interface,
 * run on every available device.
 *
 *   test_backend_ops          the CPU backend against naive references
 *   test_backend_ops --cuda   every CUDA device against the CPU backend,
 *                             op by op, within a per-op tolerance; exits
 *                             77 (ctest: SKIPPED) when no CUDA device is
 *                             present or CUDA was not compiled in.
 *
 * Each case builds its inputs on the host, runs the op on the device under
 * test (operands copied there), copies the results back and compares them
 * with the reference: a naive double-precision loop on the CPU run, the
 * CPU backend's own result on a GPU run. Ops whose arithmetic is exact
 * (fills, copies, +-*, SGD, uniform and Bernoulli draws, ...) must match
 * bit for bit across devices. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/backend.h"
#include "engine/philox.h"

static bd_device devs[16];
static int ndevs;
static bool gpu_run;

/* ---- helpers ------------------------------------------------------- */

static uint64_t lcg = 88172645463325252ULL;
static float frand(float lo, float hi) {
  lcg ^= lcg << 13;
  lcg ^= lcg >> 7;
  lcg ^= lcg << 17;
  return lo + (hi - lo) * (float)((double)(lcg >> 11) / 9007199254740992.0);
}

static bd_tensor *host(int ndim, const int64_t *shape, float lo, float hi) {
  bd_tensor *t;
  ck_assert_int_eq(bd_tensor_new(BD_CPU, BD_F32, ndim, shape, &t), BD_OK);
  float *p = bd_tensor_f32(t);
  for (int64_t i = 0; i < bd_tensor_numel(t); i++) p[i] = frand(lo, hi);
  return t;
}
static bd_tensor *host1(int64_t n, float lo, float hi) {
  return host(1, &n, lo, hi);
}
static bd_tensor *host2(int64_t r, int64_t c, float lo, float hi) {
  int64_t s[2] = {r, c};
  return host(2, s, lo, hi);
}

static bd_tensor *clone_to(const bd_tensor *t, bd_device d) {
  if (!t) return NULL;
  bd_tensor *o;
  ck_assert_msg(bd_tensor_to(t, d, &o) == BD_OK, "copy to device: %s",
                bd_errmsg());
  return o;
}

/* Runs a host-described op on dev: every operand is copied there, the op
 * runs, and the written tensors (dst and, for SGD, buf) come back as host
 * tensors in *dst_out / *buf_out. Returns the op's status. */
static bd_status run_on(bd_device dev, const bd_op *hop, bd_tensor **dst_out,
                        bd_tensor **buf_out) {
  bd_op op = *hop;
  bd_tensor *a = clone_to(hop->a, dev), *b = clone_to(hop->b, dev);
  op.dst = clone_to(hop->dst, dev);
  op.a = a;
  op.b = b;
  op.buf = clone_to(hop->buf, dev);
  bd_status s = bd_op_run(&op);
  if (s == BD_OK) {
    bd_backend *be = bd_backend_get(dev);
    if (be->iface->synchronize)
      ck_assert_int_eq(be->iface->synchronize(be->ctx), BD_OK);
    *dst_out = clone_to(op.dst, BD_CPU);
    if (buf_out) *buf_out = clone_to(op.buf, BD_CPU);
  }
  bd_tensor_release(op.dst);
  bd_tensor_release(a);
  bd_tensor_release(b);
  bd_tensor_release(op.buf);
  return s;
}

/* |got - want| <= atol + rtol |want|, NaN matching NaN; tol 0 = bitwise. */
static void expect(const float *got, const double *want, int64_t n, double atol,
                   double rtol, const char *what) {
  for (int64_t i = 0; i < n; i++) {
    double g = got[i], w = want[i];
    if (isnan(w)) {
      ck_assert_msg(isnan(g), "%s[%lld]: got %.9g want nan", what, (long long)i,
                    g);
      continue;
    }
    if (atol == 0 && rtol == 0) {
      float wf = (float)w;
      ck_assert_msg(memcmp(&got[i], &wf, 4) == 0,
                    "%s[%lld]: got %.9g want exactly %.9g", what, (long long)i,
                    g, w);
      continue;
    }
    ck_assert_msg(fabs(g - w) <= atol + rtol * fabs(w),
                  "%s[%lld]: got %.9g want %.9g (atol %g rtol %g)", what,
                  (long long)i, g, w, atol, rtol);
  }
}

typedef void (*ref_fn)(const bd_op *op, double *want, double *want_b);

/* Tolerances: `cpu_*` against the naive reference, `gpu_*` for a CUDA
 * device against the CPU backend. */
typedef struct tol {
  double cpu_atol, cpu_rtol, gpu_atol, gpu_rtol;
} tol;

static const tol T_EXACT = {0, 0, 0, 0};

/* Runs hop on dev and compares dst (and buf when check_b) with the
 * reference. hop's tensors are host tensors and are not modified. */
static void check_op(bd_device dev, const bd_op *hop, ref_fn ref, tol t,
                     bool check_b, const char *what) {
  int64_t n = bd_tensor_numel(hop->dst);
  int64_t nb = check_b ? bd_tensor_numel(hop->buf) : 0;
  double *want = calloc((size_t)n + 1, sizeof *want);
  double *want_b = calloc((size_t)nb + 1, sizeof *want_b);
  bd_tensor *got = NULL, *got_b = NULL;
  ck_assert_msg(run_on(dev, hop, &got, check_b ? &got_b : NULL) == BD_OK,
                "%s: %s", what, bd_errmsg());
  double atol, rtol;
  if (dev.type == BD_DEV_CPU) {
    ref(hop, want, want_b);
    atol = t.cpu_atol;
    rtol = t.cpu_rtol;
  } else {
    bd_tensor *cd = NULL, *cb = NULL;
    ck_assert_msg(run_on(BD_CPU, hop, &cd, check_b ? &cb : NULL) == BD_OK,
                  "%s on cpu: %s", what, bd_errmsg());
    for (int64_t i = 0; i < n; i++) want[i] = bd_tensor_f32(cd)[i];
    for (int64_t i = 0; i < nb; i++) want_b[i] = bd_tensor_f32(cb)[i];
    bd_tensor_release(cd);
    bd_tensor_release(cb);
    atol = t.gpu_atol;
    rtol = t.gpu_rtol;
  }
  expect(bd_tensor_f32(got), want, n, atol, rtol, what);
  if (check_b) expect(bd_tensor_f32(got_b), want_b, nb, atol, rtol, what);
  bd_tensor_release(got);
  bd_tensor_release(got_b);
  free(want);
  free(want_b);
}

/* The test owns every operand of its host ops. */
static void free_op(bd_op *op) {
  bd_tensor_release(op->dst);
  bd_tensor_release((bd_tensor *)op->a);
  bd_tensor_release((bd_tensor *)op->b);
  bd_tensor_release(op->buf);
}

#define F(t) bd_tensor_f32(t)

/* ---- references ------------------------------------------------------ */

static void ref_gemm(const bd_op *op, double *w, double *wb) {
  (void)wb;
  int64_t m = op->gemm.m, n = op->gemm.n, k = op->gemm.k;
  bool ta = op->gemm.trans_a, tb = op->gemm.trans_b;
  const float *a = F(op->a), *b = F(op->b), *c = F(op->dst);
  for (int64_t i = 0; i < m; i++)
    for (int64_t j = 0; j < n; j++) {
      double s = 0;
      for (int64_t p = 0; p < k; p++)
        s += (double)(ta ? a[p * m + i] : a[i * k + p]) *
             (tb ? b[j * k + p] : b[p * n + j]);
      float beta = op->gemm.beta;
      w[i * n + j] =
          op->gemm.alpha * s + (beta == 0 ? 0 : beta * (double)c[i * n + j]);
    }
}

static void ref_fill(const bd_op *op, double *w, double *wb) {
  (void)wb;
  for (int64_t i = 0; i < bd_tensor_numel(op->dst); i++) w[i] = op->fill.value;
}

static void ref_copy(const bd_op *op, double *w, double *wb) {
  (void)wb;
  for (int64_t i = 0; i < bd_tensor_numel(op->dst); i++) w[i] = F(op->a)[i];
}

static void ref_binary(const bd_op *op, double *w, double *wb) {
  (void)wb;
  int64_t n = bd_tensor_numel(op->dst), nb = bd_tensor_numel(op->b);
  for (int64_t i = 0; i < n; i++) {
    float x = F(op->a)[i], y = F(op->b)[nb == n ? i : i % nb];
    switch (op->binary.kind) {
      case BD_BIN_ADD:
        w[i] = x + y;
        break; /* float rounding, as specified */
      case BD_BIN_SUB:
        w[i] = x - y;
        break;
      case BD_BIN_MUL:
        w[i] = x * y;
        break;
      default:
        w[i] = x / y;
        break;
    }
  }
}

static double un(int kind, double x, const bd_unary_params *p) {
  switch (kind) {
    case BD_UN_RELU:
      return x > 0 ? x : 0;
    case BD_UN_SIGMOID:
      return 1 / (1 + exp(-x));
    case BD_UN_TANH:
      return tanh(x);
    case BD_UN_GELU:
      return 0.5 * x * (1 + erf(x / sqrt(2.0)));
    case BD_UN_SCALE:
      return p->p0 * x;
    case BD_UN_ADD:
      return x + p->p0;
    case BD_UN_AFFINE:
      return p->p0 * x + p->p1;
    case BD_UN_ABS:
      return fabs(x);
    case BD_UN_EXP:
      return exp(x);
    default:
      return NAN;
  }
}

static void ref_unary(const bd_op *op, double *w, double *wb) {
  (void)wb;
  for (int64_t i = 0; i < bd_tensor_numel(op->dst); i++)
    w[i] = un(op->unary.kind, F(op->a)[i], &op->unary);
}

/* dy * f'(x) by central differences of the double reference (h small
 * enough for 1e-6, kinks avoided by the inputs). */
static void ref_unary_bwd(const bd_op *op, double *w, double *wb) {
  (void)wb;
  const double h = 1e-6;
  for (int64_t i = 0; i < bd_tensor_numel(op->dst); i++) {
    double x = F(op->a)[i];
    double d = (un(op->unary.kind, x + h, &op->unary) -
                un(op->unary.kind, x - h, &op->unary)) /
               (2 * h);
    w[i] = F(op->b)[i] * d;
  }
}

static void ref_reduce(const bd_op *op, double *w, double *wb) {
  (void)wb;
  int64_t n = bd_tensor_numel(op->a);
  const float *a = F(op->a);
  double s = 0, mx = -INFINITY, mn = INFINITY;
  bool nan = false;
  for (int64_t i = 0; i < n; i++) {
    nan |= isnan(a[i]);
    s += op->reduce.kind == BD_RED_ABS_SUM ? fabs(a[i])
         : op->reduce.kind == BD_RED_NORM  ? (double)a[i] * a[i]
                                           : a[i];
    mx = fmax(mx, a[i]);
    mn = fmin(mn, a[i]);
  }
  switch (op->reduce.kind) {
    case BD_RED_MEAN:
      w[0] = s / n;
      break;
    case BD_RED_MAX:
      w[0] = nan ? NAN : mx;
      break;
    case BD_RED_MIN:
      w[0] = nan ? NAN : mn;
      break;
    case BD_RED_NORM:
      w[0] = sqrt(s);
      break;
    default:
      w[0] = s;
      break;
  }
}

static void ref_sum_rows(const bd_op *op, double *w, double *wb) {
  (void)wb;
  int64_t rows = op->sum_rows.rows, cols = op->sum_rows.cols;
  float beta = op->sum_rows.beta;
  for (int64_t j = 0; j < cols; j++) {
    double s = beta == 0 ? 0 : beta * (double)F(op->dst)[j];
    for (int64_t r = 0; r < rows; r++) s += F(op->a)[r * cols + j];
    w[j] = s;
  }
}

static void ref_softmax(const bd_op *op, double *w, double *wb) {
  (void)wb;
  int64_t outer = op->dim.outer, dim = op->dim.dim, inner = op->dim.inner;
  const float *a = F(op->a);
  for (int64_t o = 0; o < outer; o++)
    for (int64_t in = 0; in < inner; in++) {
      const float *ap = a + o * dim * inner + in;
      double *wp = w + o * dim * inner + in;
      if (op->kind == BD_OP_SOFTMAX) {
        double mx = -INFINITY, s = 0;
        for (int64_t j = 0; j < dim; j++) mx = fmax(mx, ap[j * inner]);
        for (int64_t j = 0; j < dim; j++) s += exp(ap[j * inner] - mx);
        for (int64_t j = 0; j < dim; j++)
          wp[j * inner] = exp(ap[j * inner] - mx) / s;
      } else {
        const float *gp = F(op->b) + o * dim * inner + in;
        double dot = 0;
        for (int64_t j = 0; j < dim; j++)
          dot += (double)ap[j * inner] * gp[j * inner];
        for (int64_t j = 0; j < dim; j++)
          wp[j * inner] = ap[j * inner] * (gp[j * inner] - dot);
      }
    }
}

static void ref_rng_uniform(const bd_op *op, double *w, double *wb) {
  (void)wb;
  const bd_rng_params *p = &op->rng;
  for (int64_t i = 0; i < bd_tensor_numel(op->dst); i++) {
    float u = bd_u32_to_unit(bd_philox_u32(p->seed, p->offset, (uint64_t)i));
    w[i] = p->kind == BD_RNG_BERNOULLI ? (u < p->p0 ? 1.0 : 0.0)
                                       : (double)(p->p0 + (p->p1 - p->p0) * u);
  }
}

static void ref_rng_normal(const bd_op *op, double *w, double *wb) {
  (void)wb;
  const bd_rng_params *p = &op->rng;
  int64_t n = bd_tensor_numel(op->dst);
  for (int64_t i = 0; i < n; i += 2) {
    double u1 =
        bd_u32_to_unit_open0(bd_philox_u32(p->seed, p->offset, (uint64_t)i));
    double u2 =
        bd_u32_to_unit(bd_philox_u32(p->seed, p->offset, (uint64_t)i + 1));
    double r = sqrt(-2 * log(u1)), th = 2 * M_PI * u2;
    w[i] = p->p0 + p->p1 * r * cos(th);
    if (i + 1 < n) w[i + 1] = p->p0 + p->p1 * r * sin(th);
  }
}

static void ref_sgd(const bd_op *op, double *w, double *wb) {
  const bd_sgd_params *q = &op->sgd;
  float lr = q->lr, mom = q->momentum, wd = q->weight_decay,
        damp = q->dampening;
  for (int64_t i = 0; i < bd_tensor_numel(op->dst); i++) {
    float p = F(op->dst)[i], dp = F(op->a)[i];
    float buf = op->buf ? F(op->buf)[i] : 0;
    dp = dp + wd * p;
    if (mom != 0) {
      buf = q->first_step ? dp : mom * buf + (1 - damp) * dp;
      dp = q->nesterov ? dp + mom * buf : buf;
    }
    w[i] = p - lr * dp;
    if (op->buf) wb[i] = buf;
  }
}

static void ref_ce(const bd_op *op, double *w, double *wb) {
  (void)wb;
  int64_t rows = op->ce.rows, c = op->ce.classes;
  const int64_t *t = bd_tensor_data(op->b);
  double loss = 0;
  for (int64_t r = 0; r < rows; r++) {
    const float *x = F(op->a) + r * c;
    double mx = -INFINITY, s = 0;
    for (int64_t j = 0; j < c; j++) mx = fmax(mx, x[j]);
    for (int64_t j = 0; j < c; j++) s += exp(x[j] - mx);
    double lse = log(s) + mx;
    loss += lse - x[t[r]];
    if (op->kind == BD_OP_CROSS_ENTROPY_BACKWARD)
      for (int64_t j = 0; j < c; j++)
        w[r * c + j] = op->ce.scale * (exp(x[j] - lse) - (j == t[r])) / rows;
  }
  if (op->kind == BD_OP_CROSS_ENTROPY) w[0] = loss / rows;
}

static void ref_mask(const bd_op *op, double *w, double *wb) {
  (void)wb;
  for (int64_t i = 0; i < bd_tensor_numel(op->dst); i++) {
    float x = F(op->a)[i];
    w[i] = fabsf(x) < op->clamp.lo ? 0.0 : x;
  }
}

static void ref_clamp(const bd_op *op, double *w, double *wb) {
  (void)wb;
  for (int64_t i = 0; i < bd_tensor_numel(op->dst); i++) {
    double x = F(op->a)[i];
    double lo = op->clamp.lo, hi = op->clamp.hi;
    w[i] = x < lo ? lo : x > hi ? hi : x;
  }
}

static void ref_copy_2d(const bd_op *op, double *w, double *wb) {
  (void)wb;
  for (int64_t i = 0; i < bd_tensor_numel(op->dst); i++) w[i] = F(op->dst)[i];
  const bd_copy_2d_params *p = &op->copy_2d;
  for (int64_t r = 0; r < p->rows; r++)
    for (int64_t j = 0; j < p->cols; j++)
      w[r * p->dst_stride + p->dst_offset + j] =
          F(op->a)[r * p->src_stride + p->src_offset + j];
}

static void ref_reduce_dim(const bd_op *op, double *w, double *wb) {
  (void)wb;
  const bd_dim_params *p = &op->dim;
  for (int64_t o = 0; o < p->outer; o++)
    for (int64_t in = 0; in < p->inner; in++) {
      double s = 0;
      for (int64_t j = 0; j < p->dim; j++)
        s += F(op->a)[(o * p->dim + j) * p->inner + in];
      w[o * p->inner + in] = p->kind == BD_RED_MEAN ? s / (double)p->dim : s;
    }
}

static void ref_broadcast_dim(const bd_op *op, double *w, double *wb) {
  (void)wb;
  const bd_dim_params *p = &op->dim;
  for (int64_t o = 0; o < p->outer; o++)
    for (int64_t j = 0; j < p->dim; j++)
      for (int64_t in = 0; in < p->inner; in++)
        w[(o * p->dim + j) * p->inner + in] =
            (float)(p->alpha * F(op->a)[o * p->inner + in]);
}

/* ---- cases --------------------------------------------------------- */

/* Which op kinds the cases below exercise (checked by test_all_ops). */
static bool covered[BD_OP_COUNT];
static void cover(bd_op_kind k) { covered[k] = true; }

START_TEST(test_gemm) {
  bd_device d = devs[_i];
  cover(BD_OP_GEMM);
  static const int64_t sz[][3] = {
      {1, 1, 1}, {37, 29, 53}, {64, 1, 17}, {5, 70, 3}};
  for (size_t s = 0; s < 4; s++)
    for (int ta = 0; ta < 2; ta++)
      for (int tb = 0; tb < 2; tb++) {
        int64_t m = sz[s][0], n = sz[s][1], k = sz[s][2];
        bd_op op = bd_op_gemm(host2(m, n, -1, 1),
                              ta ? host2(k, m, -1, 1) : host2(m, k, -1, 1), ta,
                              tb ? host2(n, k, -1, 1) : host2(k, n, -1, 1), tb,
                              m, n, k, 1.5f, s % 2 ? 0.5f : 0.0f);
        char what[64];
        snprintf(what, sizeof what, "gemm %zu ta=%d tb=%d", s, ta, tb);
        check_op(d, &op, ref_gemm, (tol){1e-5, 1e-5, 1e-5, 1e-5}, false, what);
        free_op(&op);
      }
  /* k = 0: dst = beta * dst */
  int64_t z[2] = {3, 0}, z2[2] = {0, 4};
  bd_op op = bd_op_gemm(host2(3, 4, -1, 1), host(2, z, 0, 1), false,
                        host(2, z2, 0, 1), false, 3, 4, 0, 1, 0.5f);
  check_op(d, &op, ref_gemm, T_EXACT, false, "gemm k=0");
  free_op(&op);
}
END_TEST

START_TEST(test_fill_copy) {
  bd_device d = devs[_i];
  cover(BD_OP_FILL);
  cover(BD_OP_COPY);
  bd_op op = bd_op_fill(host1(1001, 0, 1), -2.75f);
  check_op(d, &op, ref_fill, T_EXACT, false, "fill");
  free_op(&op);
  bd_op cp = bd_op_copy(host1(777, 0, 1), host1(777, -9, 9));
  check_op(d, &cp, ref_copy, T_EXACT, false, "copy");
  free_op(&cp);
}
END_TEST

START_TEST(test_binary) {
  bd_device d = devs[_i];
  cover(BD_OP_BINARY);
  const int64_t nb[3] = {6 * 35, 1, 35};
  for (int kind = BD_BIN_ADD; kind <= BD_BIN_DIV; kind++)
    for (int bc = 0; bc < 3; bc++) {
      bd_op op = bd_op_binary(host2(6, 35, 0, 1), host2(6, 35, -3, 3), kind,
                              host1(nb[bc], 0.5f, 2));
      char what[48];
      snprintf(what, sizeof what, "binary %d broadcast %d", kind, bc);
      check_op(d, &op, ref_binary, T_EXACT, false, what);
      free_op(&op);
    }
}
END_TEST

START_TEST(test_unary) {
  bd_device d = devs[_i];
  cover(BD_OP_UNARY);
  cover(BD_OP_UNARY_BACKWARD);
  for (int kind = 0; kind < BD_UN_COUNT; kind++) {
    bd_op op =
        bd_op_unary(host1(513, 0, 1), host1(513, -4, 4), kind, 1.25f, -0.5f);
    bool exact = kind == BD_UN_RELU || kind == BD_UN_SCALE ||
                 kind == BD_UN_ADD || kind == BD_UN_ABS;
    tol t = exact ? T_EXACT : (tol){1e-6, 2e-6, 1e-6, 2e-6};
    if (kind == BD_UN_AFFINE) t = (tol){1e-6, 1e-6, 0, 0};
    char what[32];
    snprintf(what, sizeof what, "unary %d", kind);
    check_op(d, &op, ref_unary, t, false, what);
    free_op(&op);

    bd_tensor *bx = host1(257, 0.05f, 3); /* away from the kinks of relu/abs */
    float *x = F(bx);
    for (int64_t i = 0; i < 257; i += 2) x[i] = -x[i];
    bd_op bw = bd_op_unary_backward(host1(257, 0, 1), bx, host1(257, -1, 1),
                                    kind, 1.25f, -0.5f);
    snprintf(what, sizeof what, "unary_backward %d", kind);
    check_op(d, &bw, ref_unary_bwd, (tol){2e-6, 2e-5, 1e-6, 4e-6}, false, what);
    free_op(&bw);
  }
}
END_TEST

START_TEST(test_reduce) {
  bd_device d = devs[_i];
  cover(BD_OP_REDUCE);
  cover(BD_OP_SUM_ROWS);
  for (int kind = 0; kind < BD_RED_COUNT; kind++)
    for (int withnan = 0; withnan < 2; withnan++) {
      int64_t one = 1;
      bd_tensor *a = host1(5000, -2, 2);
      if (withnan) F(a)[1234] = NAN;
      bd_op op = bd_op_reduce(host(1, &one, 0, 1), a, kind);
      char what[32];
      snprintf(what, sizeof what, "reduce %d nan=%d", kind, withnan);
      check_op(d, &op, ref_reduce, (tol){1e-6, 1e-6, 0, 2e-7}, false, what);
      free_op(&op);
    }
  for (int beta = 0; beta < 2; beta++) {
    bd_op op = bd_op_sum_rows(host1(17, -1, 1), host2(300, 17, -1, 1), 300, 17,
                              (float)beta);
    check_op(d, &op, ref_sum_rows, (tol){1e-5, 1e-5, 0, 0}, false, "sum_rows");
    free_op(&op);
  }
}
END_TEST

START_TEST(test_softmax) {
  bd_device d = devs[_i];
  cover(BD_OP_SOFTMAX);
  cover(BD_OP_SOFTMAX_BACKWARD);
  int64_t s[3] = {3, 7, 5};
  for (int bw = 0; bw < 2; bw++) {
    bd_op op =
        bw ? bd_op_softmax_backward(host(3, s, 0, 1), host(3, s, 0, 1),
                                    host(3, s, -1, 1), 3, 7, 5)
           : bd_op_softmax(host(3, s, 0, 1), host(3, s, -20, 20), 3, 7, 5);
    check_op(d, &op, ref_softmax, (tol){1e-7, 1e-6, 1e-7, 2e-6}, false,
             bw ? "softmax_backward" : "softmax");
    free_op(&op);
  }
}
END_TEST

START_TEST(test_rng) {
  bd_device d = devs[_i];
  cover(BD_OP_RNG);
  /* Odd sizes and offsets: the last Philox block is partly used. */
  bd_op u = bd_op_rng(host1(1003, 0, 1), BD_RNG_UNIFORM, 42, 7, -0.3f, 0.7f);
  check_op(d, &u, ref_rng_uniform, T_EXACT, false, "rng uniform");
  free_op(&u);
  bd_op b = bd_op_rng(host1(999, 0, 1), BD_RNG_BERNOULLI, (uint64_t)1 << 40 | 5,
                      3, 0.8f, 0);
  check_op(d, &b, ref_rng_uniform, T_EXACT, false, "rng bernoulli");
  free_op(&b);
  bd_op nrm = bd_op_rng(host1(1001, 0, 1), BD_RNG_NORMAL, 9, 11, 0.5f, 2.0f);
  check_op(d, &nrm, ref_rng_normal, (tol){1e-6, 1e-6, 1e-6, 1e-6}, false,
           "rng normal");
  free_op(&nrm);
}
END_TEST

START_TEST(test_sgd) {
  bd_device d = devs[_i];
  cover(BD_OP_SGD);
  /* plain; momentum first step; momentum later step with dampening and
   * weight decay; Nesterov. */
  static const float cfg[4][4] = {{0.1f, 0, 0, 0},
                                  {0.05f, 0.9f, 0, 0},
                                  {0.05f, 0.9f, 0.01f, 0.1f},
                                  {0.2f, 0.5f, 0.001f, 0}};
  static const int first[4] = {0, 1, 0, 0}, nest[4] = {0, 0, 0, 1};
  for (int c = 0; c < 4; c++) {
    bd_sgd_params p = {.lr = cfg[c][0],
                       .momentum = cfg[c][1],
                       .weight_decay = cfg[c][2],
                       .dampening = cfg[c][3],
                       .nesterov = nest[c],
                       .first_step = first[c]};
    bd_op op = bd_op_sgd(host1(333, -1, 1), host1(333, -1, 1),
                         cfg[c][1] != 0 ? host1(333, -1, 1) : NULL, &p);
    char what[16];
    snprintf(what, sizeof what, "sgd %d", c);
    check_op(d, &op, ref_sgd, T_EXACT, op.buf != NULL, what);
    free_op(&op);
  }
}
END_TEST

static bd_tensor *targets(int64_t n, int64_t c, int64_t bad_at) {
  bd_tensor *t;
  ck_assert_int_eq(bd_tensor_new(BD_CPU, BD_I64, 1, &n, &t), BD_OK);
  int64_t *p = bd_tensor_data(t);
  for (int64_t i = 0; i < n; i++) p[i] = (i * 7 + 3) % c;
  if (bad_at >= 0) p[bad_at] = c;
  return t;
}

START_TEST(test_cross_entropy) {
  bd_device d = devs[_i];
  cover(BD_OP_CROSS_ENTROPY);
  cover(BD_OP_CROSS_ENTROPY_BACKWARD);
  int64_t one = 1;
  bd_op f = bd_op_cross_entropy(host(1, &one, 0, 1), host2(19, 10, -5, 5),
                                targets(19, 10, -1), 19, 10);
  check_op(d, &f, ref_ce, (tol){1e-6, 1e-6, 0, 2e-7}, false, "cross_entropy");
  free_op(&f);
  bd_op b =
      bd_op_cross_entropy_backward(host2(19, 10, 0, 1), host2(19, 10, -5, 5),
                                   targets(19, 10, -1), 19, 10, 2.0f);
  check_op(d, &b, ref_ce, (tol){1e-7, 1e-6, 0, 2e-7}, false,
           "cross_entropy_backward");
  free_op(&b);
  /* An out-of-range class is a clean EINVAL on every device. */
  for (int k = 0; k < 2; k++) {
    bd_op e =
        k ? bd_op_cross_entropy_backward(host2(4, 3, 0, 1), host2(4, 3, -1, 1),
                                         targets(4, 3, 2), 4, 3, 1.0f)
          : bd_op_cross_entropy(host(1, &one, 0, 1), host2(4, 3, -1, 1),
                                targets(4, 3, 2), 4, 3);
    bd_tensor *got = NULL;
    ck_assert_int_eq(run_on(d, &e, &got, NULL), BD_EINVAL);
    ck_assert_ptr_nonnull(strstr(bd_errmsg(), "out of bounds"));
    bd_tensor_release(got);
    free_op(&e);
  }
}
END_TEST

START_TEST(test_mask_clamp_copy2d) {
  bd_device d = devs[_i];
  cover(BD_OP_MASK_ABS_BELOW);
  cover(BD_OP_CLAMP);
  cover(BD_OP_COPY_2D);
  bd_op m = bd_op_mask_abs_below(host1(400, 0, 1), host1(400, -10, 10), 5);
  check_op(d, &m, ref_mask, T_EXACT, false, "mask_abs_below");
  free_op(&m);
  bd_op c = bd_op_clamp(host1(400, 0, 1), host1(400, -10, 10), -1.5f, 2.25f);
  check_op(d, &c, ref_clamp, T_EXACT, false, "clamp");
  free_op(&c);
  /* rows 5, 3 columns from a[5, 7] at column 2 into dst[5, 9] at column 4 */
  bd_op k = bd_op_copy_2d(host2(5, 9, -1, 1), host2(5, 7, -1, 1),
                          &(bd_copy_2d_params){5, 3, 9, 4, 7, 2});
  check_op(d, &k, ref_copy_2d, T_EXACT, false, "copy_2d");
  free_op(&k);
}
END_TEST

START_TEST(test_reduce_dim) {
  bd_device d = devs[_i];
  cover(BD_OP_REDUCE_DIM);
  cover(BD_OP_BROADCAST_DIM);
  /* [outer, dim, inner]: a middle dim, the last dim, the first dim, a
   * long reduction, and an empty dim (sum 0, mean NaN as in torch). */
  static const int64_t sz[][3] = {
      {3, 7, 5}, {4, 9, 1}, {1, 6, 11}, {2, 1000, 3}, {2, 0, 3}};
  for (size_t c = 0; c < sizeof sz / sizeof sz[0]; c++)
    for (int mean = 0; mean < 2; mean++) {
      int64_t o = sz[c][0], n = sz[c][1], in = sz[c][2];
      int64_t s3[3] = {o, n, in}, s2[2] = {o, in};
      bd_op op = bd_op_reduce_dim(host(2, s2, -1, 1), host(3, s3, -2, 2),
                                  mean ? BD_RED_MEAN : BD_RED_SUM, o, n, in);
      char what[48];
      snprintf(what, sizeof what, "reduce_dim %zu mean=%d", c, mean);
      check_op(d, &op, ref_reduce_dim, (tol){1e-6, 1e-6, 0, 0}, false, what);
      free_op(&op);
      /* Its gradient: dy[outer, inner] spread back along dim, times 1 for
       * a sum and 1 / dim for a mean. */
      float alpha = mean && n ? 1.0f / (float)n : 1.0f;
      bd_op bw = bd_op_broadcast_dim(host(3, s3, -1, 1), host(2, s2, -3, 3), o,
                                     n, in, alpha);
      snprintf(what, sizeof what, "broadcast_dim %zu mean=%d", c, mean);
      check_op(d, &bw, ref_broadcast_dim, T_EXACT, false, what);
      free_op(&bw);
    }
  /* A hand-checked case: x = [[1, 2, 3], [4, 5, 6]] over dim 0 and 1. */
  float x[6] = {1, 2, 3, 4, 5, 6};
  int64_t s6 = 6, s3 = 3, s2 = 2;
  bd_tensor *hx = host(1, &s6, 0, 1);
  memcpy(F(hx), x, sizeof x);
  bd_op c0 = bd_op_reduce_dim(host(1, &s3, 0, 1), hx, BD_RED_SUM, 1, 2, 3);
  bd_tensor *got = NULL;
  ck_assert_int_eq(run_on(d, &c0, &got, NULL), BD_OK);
  ck_assert(F(got)[0] == 5 && F(got)[1] == 7 && F(got)[2] == 9);
  bd_tensor_release(got);
  bd_op c1 = bd_op_reduce_dim(host(1, &s2, 0, 1), hx, BD_RED_MEAN, 2, 3, 1);
  ck_assert_int_eq(run_on(d, &c1, &got, NULL), BD_OK);
  ck_assert(F(got)[0] == 2 && F(got)[1] == 5);
  bd_tensor_release(got);
  bd_tensor_release(c0.dst);
  bd_tensor_release(c1.dst);
  bd_tensor_release(hx);
}
END_TEST

/* bd_op_run refuses a malformed op before any backend runs it, with the
 * status of the fault and a message naming the op and the operand, and
 * leaves dst untouched. */
static void expect_refused(bd_device d, bd_op *op, bd_status want,
                           const char *msg) {
  int64_t n = op->dst ? bd_tensor_numel(op->dst) : 0;
  float *before = malloc((size_t)n * sizeof *before + 1);
  if (n) memcpy(before, F(op->dst), (size_t)n * sizeof *before);
  bd_tensor *got = NULL;
  bd_status s = run_on(d, op, &got, NULL);
  bd_tensor_release(got);
  ck_assert_msg(s == want, "%s: status %d, want %d", msg, (int)s, (int)want);
  ck_assert_msg(strstr(bd_errmsg(), msg) != NULL, "message '%s' lacks '%s'",
                bd_errmsg(), msg);
  if (n) ck_assert_int_eq(memcmp(before, F(op->dst), (size_t)n * 4), 0);
  free(before);
  free_op(op);
}

START_TEST(test_operand_checks) {
  bd_device d = devs[_i];
  int64_t one = 1, n6 = 6;
  bd_tensor *i64;
  /* dtype */
  ck_assert_int_eq(bd_tensor_new(BD_CPU, BD_I64, 1, &n6, &i64), BD_OK);
  bd_op op = bd_op_binary(host1(6, 0, 1), i64, BD_BIN_ADD, host1(6, 0, 1));
  expect_refused(d, &op, BD_EDTYPE, "binary: operand a is int64");
  op = bd_op_cross_entropy(host(1, &one, 0, 1), host2(2, 3, 0, 1),
                           host1(2, 0, 1), 2, 3);
  expect_refused(d, &op, BD_EDTYPE, "cross_entropy: operand b is float32");
  /* element counts */
  op = bd_op_gemm(host2(2, 4, 0, 1), host2(2, 3, 0, 1), false,
                  host2(3, 4, 0, 1), false, 2, 4, 4, 1, 0);
  expect_refused(d, &op, BD_ESHAPE,
                 "gemm: operand a has 6 elements, expected m*k = 8");
  op = bd_op_gemm(host2(2, 5, 0, 1), host2(2, 3, 0, 1), false,
                  host2(3, 4, 0, 1), false, 2, 4, 3, 1, 0);
  expect_refused(d, &op, BD_ESHAPE, "gemm: operand dst has 10 elements");
  op = bd_op_binary(host1(6, 0, 1), host1(6, 0, 1), BD_BIN_MUL, host1(4, 0, 1));
  expect_refused(d, &op, BD_ESHAPE, "binary: operand b has 4 elements");
  op = bd_op_unary(host1(6, 0, 1), host1(5, 0, 1), BD_UN_TANH, 0, 0);
  expect_refused(d, &op, BD_ESHAPE, "unary: operand a has 5 elements");
  op = bd_op_reduce(host1(2, 0, 1), host1(5, 0, 1), BD_RED_SUM);
  expect_refused(d, &op, BD_ESHAPE, "reduce: operand dst has 2 elements");
  op = bd_op_softmax_backward(host1(12, 0, 1), host1(12, 0, 1), host1(11, 0, 1),
                              2, 3, 2);
  expect_refused(d, &op, BD_ESHAPE,
                 "softmax_backward: operand b has 11 elements");
  op = bd_op_reduce_dim(host1(5, 0, 1), host1(24, 0, 1), BD_RED_MEAN, 2, 4, 3);
  expect_refused(d, &op, BD_ESHAPE,
                 "reduce_dim: operand dst has 5 elements, expected "
                 "outer*inner = 6");
  op = bd_op_broadcast_dim(host1(24, 0, 1), host1(5, 0, 1), 2, 4, 3, 1);
  expect_refused(d, &op, BD_ESHAPE, "broadcast_dim: operand a has 5");
  op = bd_op_sum_rows(host1(3, 0, 1), host1(7, 0, 1), 2, 3, 0);
  expect_refused(d, &op, BD_ESHAPE, "sum_rows: operand a has 7 elements");
  op = bd_op_copy_2d(host2(5, 9, 0, 1), host2(5, 7, 0, 1),
                     &(bd_copy_2d_params){5, 3, 9, 7, 7, 2});
  expect_refused(d, &op, BD_ESHAPE, "copy_2d: operand dst (45 elements)");
  op = bd_op_copy(host1(6, 0, 1), host1(7, 0, 1));
  expect_refused(d, &op, BD_ESHAPE, "copy: operand a has 7 elements");
  /* parameters and missing operands */
  bd_sgd_params sp = {.lr = 0.1f, .momentum = 0.9f};
  op = bd_op_sgd(host1(3, 0, 1), host1(3, 0, 1), NULL, &sp);
  expect_refused(d, &op, BD_EINVAL, "sgd: operand buf is missing");
  op = bd_op_sum_rows(host1(3, 0, 1), host1(3, 0, 1), -1, 3, 0);
  expect_refused(d, &op, BD_EINVAL, "sum_rows: sizes must be non-negative");
  op = bd_op_reduce_dim(host1(6, 0, 1), host1(24, 0, 1), BD_RED_MAX, 2, 4, 3);
  expect_refused(d, &op, BD_EINVAL, "reduce_dim: kind 3 is not sum or mean");
  op = bd_op_unary(host1(6, 0, 1), host1(6, 0, 1), (bd_unary_kind)BD_UN_COUNT,
                   0, 0);
  expect_refused(d, &op, BD_EINVAL, "unary: unknown kind");
  op = bd_op_unary(host1(6, 0, 1), NULL, BD_UN_RELU, 0, 0);
  expect_refused(d, &op, BD_EINVAL, "unary: operand a is missing");
  op = bd_op_fill(NULL, 1);
  expect_refused(d, &op, BD_EINVAL, "fill: operand dst is missing");
}
END_TEST

/* An operand on another device than dst: device_mismatch naming it. The
 * stand-in tensor claims a device this run does not compute on; the check
 * fires before anything reads its (absent) data. */
START_TEST(test_operand_device_check) {
  bd_device d = devs[_i];
  bd_device other = d.type == BD_DEV_CPU ? (bd_device){BD_DEV_CUDA, 0} : BD_CPU;
  bd_storage st = {.refcnt = 1, .dev = other, .data = NULL, .nbytes = 24};
  bd_tensor fake = {
      .refcnt = 1, .dtype = BD_F32, .ndim = 1, .shape = {6}, .st = &st};
  bd_tensor *h = host1(6, 0, 1), *dst = clone_to(h, d);
  bd_tensor_release(h);
  char want[64], dn[16];
  bd_device_str(other, dn, sizeof dn);
  bd_op ops[3] = {
      bd_op_binary(dst, dst, BD_BIN_ADD, &fake),
      bd_op_unary(dst, &fake, BD_UN_EXP, 0, 0),
      bd_op_sgd(dst, dst, &fake, &(bd_sgd_params){.lr = 1, .momentum = 0.5f}),
  };
  const char *names[3] = {"b", "a", "buf"};
  for (int i = 0; i < 3; i++) {
    ck_assert_int_eq(bd_op_run(&ops[i]), BD_EDEVMISMATCH);
    snprintf(want, sizeof want, "operand %s is on %s", names[i], dn);
    ck_assert_msg(strstr(bd_errmsg(), want) != NULL, "'%s' lacks '%s'",
                  bd_errmsg(), want);
  }
  bd_tensor_release(dst);
}
END_TEST

START_TEST(test_unknown_op) {
  bd_device d = devs[_i];
  bd_op op = {.kind = (bd_op_kind)(BD_OP_COUNT + 3), .dst = host1(4, 0, 1)};
  bd_tensor *got = NULL;
  ck_assert_int_eq(run_on(d, &op, &got, NULL), BD_EUNSUPPORTED);
  bd_tensor_release(got);
  free_op(&op);
}
END_TEST

START_TEST(test_memory) {
  bd_device d = devs[_i];
  bd_backend *be = bd_backend_get(d);
  ck_assert_ptr_nonnull(be);
  /* h2d then d2h round trip is bit-identical, NaN payloads included. */
  bd_tensor *h = host1(4099, -1e30f, 1e30f);
  uint32_t nanbits = 0x7fc12345u;
  memcpy(&F(h)[17], &nanbits, 4);
  bd_tensor *dv = clone_to(h, d), *back = clone_to(dv, BD_CPU);
  ck_assert_int_eq(memcmp(F(h), F(back), 4099 * 4), 0);
  /* d2d within the device */
  bd_tensor *dv2 = clone_to(dv, d), *back2 = clone_to(dv2, BD_CPU);
  ck_assert_int_eq(memcmp(F(h), F(back2), 4099 * 4), 0);
  /* memset0 */
  bd_tensor *z;
  int64_t n = 333;
  ck_assert_int_eq(bd_tensor_zeros(d, BD_F32, 1, &n, &z), BD_OK);
  bd_tensor *zb = clone_to(z, BD_CPU);
  for (int i = 0; i < 333; i++)
    ck_assert_msg(F(zb)[i] == 0.0f && !signbit(F(zb)[i]), "zeros[%d]", i);
  /* accounting: allocations are counted and returned */
  int64_t before = __atomic_load_n(&be->allocated, __ATOMIC_RELAXED);
  bd_tensor *big;
  int64_t bn = 1 << 20;
  ck_assert_int_eq(bd_tensor_new(d, BD_F32, 1, &bn, &big), BD_OK);
  ck_assert_int_eq(__atomic_load_n(&be->allocated, __ATOMIC_RELAXED),
                   before + (4 << 20));
  bd_tensor_release(big);
  ck_assert_int_eq(__atomic_load_n(&be->allocated, __ATOMIC_RELAXED), before);
  /* mem_info and describe */
  size_t fr = 0, tot = 0;
  ck_assert_int_eq(be->iface->mem_info(be->ctx, &fr, &tot), BD_OK);
  ck_assert(tot > 0 && fr <= tot);
  char name[256] = "";
  int maj = -1, min = -1;
  be->iface->describe(be->ctx, name, sizeof name, &maj, &min);
  ck_assert(name[0] != '\0');
  if (d.type == BD_DEV_CUDA) ck_assert_int_ge(maj, 5);
  bd_tensor_release(h);
  bd_tensor_release(dv);
  bd_tensor_release(back);
  bd_tensor_release(dv2);
  bd_tensor_release(back2);
  bd_tensor_release(z);
  bd_tensor_release(zb);
}
END_TEST

/* A budget smaller than an allocation fails it with the device's memory
 * status and leaves the accounting unchanged. */
START_TEST(test_budget) {
  bd_device d = devs[_i];
  bd_backend *be = bd_backend_get(d);
  int64_t old = be->budget, before = be->allocated;
  be->budget = before + 1000;
  bd_tensor *t = NULL;
  int64_t n = 1000;
  bd_status s = bd_tensor_new(d, BD_F32, 1, &n, &t);
  be->budget = old;
  ck_assert_int_eq(s, d.type == BD_DEV_CPU ? BD_ENOMEM : BD_EDEVMEM);
  ck_assert_ptr_nonnull(strstr(bd_errmsg(), "budget"));
  ck_assert_int_eq(be->allocated, before);
}
END_TEST

/* Device-level failures surface as statuses, never crashes. */
START_TEST(test_device_errors) {
  bd_device d = devs[_i];
  if (d.type == BD_DEV_CPU) {
    /* Mixed devices only exist with a GPU; on the CPU run check that a
     * missing device is reported cleanly. */
    bd_device x;
    char want[32];
    snprintf(want, sizeof want, "cuda:%d", bd_backend_cuda_count());
    ck_assert_int_eq(bd_device_resolve(want, &x), BD_ENOTFOUND);
    ck_assert_int_eq(bd_device_resolve("gpu7", &x), BD_EINVAL);
    bd_tensor *t = NULL;
    int64_t n = 4;
    ck_assert_int_eq(
        bd_tensor_new((bd_device){BD_DEV_CUDA, 99}, BD_F32, 1, &n, &t),
        BD_ENOTFOUND);
    return;
  }
  /* An operand on the CPU while dst is on the GPU: device_mismatch. */
  bd_tensor *a = host1(8, 0, 1), *dst = NULL;
  int64_t n = 8;
  ck_assert_int_eq(bd_tensor_new(d, BD_F32, 1, &n, &dst), BD_OK);
  bd_op op = bd_op_unary(dst, a, BD_UN_RELU, 0, 0);
  ck_assert_int_eq(bd_op_run(&op), BD_EDEVMISMATCH);
  /* Asking for more memory than the device has: EDEVMEM naming what is
   * free, and the device still works afterwards. */
  bd_tensor *huge = NULL;
  int64_t hn = (int64_t)1 << 40;
  ck_assert_int_eq(bd_tensor_new(d, BD_F32, 1, &hn, &huge), BD_EDEVMEM);
  ck_assert_ptr_nonnull(strstr(bd_errmsg(), "free"));
  bd_op fill = bd_op_fill(dst, 3);
  ck_assert_int_eq(bd_op_run(&fill), BD_OK);
  bd_tensor *back = clone_to(dst, BD_CPU);
  ck_assert(F(back)[7] == 3.0f);
  bd_tensor_release(back);
  bd_tensor_release(a);
  bd_tensor_release(dst);
}
END_TEST

/* Copies between two GPUs (peer) are bit-identical; needs two devices. */
START_TEST(test_peer_copy) {
  if (ndevs < 2 || devs[0].type != BD_DEV_CUDA) return;
  bd_tensor *h = host1(10007, -1, 1);
  bd_tensor *g0 = clone_to(h, devs[0]), *g1 = clone_to(g0, devs[1]);
  bd_tensor *back = clone_to(g1, BD_CPU);
  ck_assert_int_eq(memcmp(F(h), F(back), 10007 * 4), 0);
  bd_tensor_release(h);
  bd_tensor_release(g0);
  bd_tensor_release(g1);
  bd_tensor_release(back);
}
END_TEST

/* Runs last: every op kind of the interface has a case above, so an op
 * added to bd_op_kind without a conformance case fails here. */
START_TEST(test_all_ops_covered) {
  for (int k = 0; k < BD_OP_COUNT; k++)
    ck_assert_msg(covered[k],
                  "op kind %d has no conformance case in "
                  "tests/unit/test_backend_ops.c",
                  k);
}
END_TEST

int main(int argc, char **argv) {
  gpu_run = argc > 1 && strcmp(argv[1], "--cuda") == 0;
  bd_backends_init();
  if (gpu_run) {
    int n = bd_backend_cuda_count();
    if (!bd_backend_cuda_compiled() || n == 0) {
      printf("test_backend_ops --cuda: SKIPPED (%s)\n",
             bd_backend_cuda_compiled() ? "no CUDA device present"
                                        : "CUDA backend not compiled in");
      return 77;
    }
    for (int i = 0; i < n && i < 16; i++)
      devs[ndevs++] = (bd_device){BD_DEV_CUDA, i};
  } else {
    devs[ndevs++] = BD_CPU;
  }
  Suite *s = suite_create(gpu_run ? "backend_ops_cuda" : "backend_ops_cpu");
  TCase *tc = tcase_create("ops");
  tcase_set_timeout(tc, 120);
  tcase_add_loop_test(tc, test_gemm, 0, ndevs);
  tcase_add_loop_test(tc, test_fill_copy, 0, ndevs);
  tcase_add_loop_test(tc, test_binary, 0, ndevs);
  tcase_add_loop_test(tc, test_unary, 0, ndevs);
  tcase_add_loop_test(tc, test_reduce, 0, ndevs);
  tcase_add_loop_test(tc, test_softmax, 0, ndevs);
  tcase_add_loop_test(tc, test_rng, 0, ndevs);
  tcase_add_loop_test(tc, test_sgd, 0, ndevs);
  tcase_add_loop_test(tc, test_cross_entropy, 0, ndevs);
  tcase_add_loop_test(tc, test_mask_clamp_copy2d, 0, ndevs);
  tcase_add_loop_test(tc, test_reduce_dim, 0, ndevs);
  tcase_add_loop_test(tc, test_operand_checks, 0, ndevs);
  tcase_add_loop_test(tc, test_operand_device_check, 0, ndevs);
  tcase_add_loop_test(tc, test_unknown_op, 0, ndevs);
  tcase_add_loop_test(tc, test_memory, 0, ndevs);
  tcase_add_loop_test(tc, test_budget, 0, ndevs);
  tcase_add_loop_test(tc, test_device_errors, 0, ndevs);
  tcase_add_test(tc, test_peer_copy);
  tcase_add_test(tc, test_all_ops_covered);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  /* One process: a CUDA context does not survive fork(), and the
   * coverage check reads what earlier cases recorded. */
  srunner_set_fork_status(sr, CK_NOFORK);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
