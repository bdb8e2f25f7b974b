/* opmath.h - the scalar and per-line math that the CPU backend
 * (engine/cpu) and the CUDA kernels (engine/gpu) share: activations and
 * their derivatives, binary operators, NaN-propagating max/min, softmax
 * and cross-entropy pieces, the SGD update, the random transforms and the
 * reduction along one dim. Written once with BD_HD (hd.h), so that both
 * backends evaluate the same expressions in the same order; the CUDA build
 * disables multiply-add contraction (engine/gpu/CMakeLists.txt), so the
 * float results agree bit for bit wherever the libm functions do. */
#ifndef BD_OPMATH_H
#define BD_OPMATH_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>

#include "hd.h"
#include "philox.h"

#ifdef __cplusplus
extern "C" {
#endif
#include "op.h"
#ifdef __cplusplus
}
#endif

/* As PyTorch: NaN propagates and -0 stays -0. */
BD_HD float bd_relu(float x) { return x < 0.0f ? 0.0f : x; }

BD_HD float bd_sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

/* Exact (erf) GELU and its pieces. */
BD_HD float bd_gelu_cdf(float x) {
  return 0.5f * (1.0f + erff(x * 0.70710678118654752f));
}

BD_HD float bd_gelu(float x) {
  return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
}

/* f(x) for a bd_unary_kind with parameters p0, p1; x for an unknown kind
 * (bd_op_run refuses those). */
BD_HD float bd_unary_fwd(int kind, float x, float p0, float p1) {
  switch (kind) {
    case BD_UN_RELU:
      return bd_relu(x);
    case BD_UN_SIGMOID:
      return bd_sigmoid(x);
    case BD_UN_TANH:
      return tanhf(x);
    case BD_UN_GELU:
      return bd_gelu(x);
    case BD_UN_SCALE:
      return p0 * x;
    case BD_UN_ADD:
      return x + p0;
    case BD_UN_AFFINE:
      return p0 * x + p1;
    case BD_UN_ABS:
      return fabsf(x);
    case BD_UN_EXP:
      return expf(x);
    default:
      return x;
  }
}

/* dy * f'(x) for a bd_unary_kind. */
BD_HD float bd_unary_bwd(int kind, float x, float dy, float p0) {
  switch (kind) {
    /* PyTorch's threshold_backward: the gradient passes unless x <= 0
     * (so it passes for NaN). */
    case BD_UN_RELU:
      return x <= 0.0f ? 0.0f : dy;
    case BD_UN_SIGMOID: {
      float s = bd_sigmoid(x);
      return dy * s * (1.0f - s);
    }
    case BD_UN_TANH: {
      float t = tanhf(x);
      return dy * (1.0f - t * t);
    }
    case BD_UN_GELU: {
      float pdf = expf(-0.5f * x * x) * 0.39894228040143268f;
      return dy * (bd_gelu_cdf(x) + x * pdf);
    }
    case BD_UN_SCALE:
      return dy * p0;
    case BD_UN_ADD:
      return dy;
    case BD_UN_AFFINE:
      return dy * p0;
    case BD_UN_ABS:
      return x > 0 ? dy : (x < 0 ? -dy : 0.0f);
    case BD_UN_EXP:
      return dy * expf(x);
    default:
      return dy;
  }
}

/* x (kind) y for a bd_binary_kind (division for anything else). */
BD_HD float bd_binary_apply(int kind, float x, float y) {
  switch (kind) {
    case BD_BIN_ADD:
      return x + y;
    case BD_BIN_SUB:
      return x - y;
    case BD_BIN_MUL:
      return x * y;
    default:
      return x / y;
  }
}

/* Max and min that return NaN as soon as either side is NaN. */
BD_HD float bd_max_nan(float x, float y) {
  return (isnan(x) || isnan(y)) ? (isnan(x) ? x : y) : (y > x ? y : x);
}

BD_HD float bd_min_nan(float x, float y) {
  return (isnan(x) || isnan(y)) ? (isnan(x) ? x : y) : (y < x ? y : x);
}

/* Softmax of one line of dim values `inner` apart: float max, float exps,
 * a double sum, one rounding per output. */
BD_HD void bd_softmax_line(float *dp, const float *ap, int64_t dim,
                           int64_t inner) {
  float mx = -INFINITY;
  for (int64_t j = 0; j < dim; j++) mx = fmaxf(mx, ap[j * inner]);
  double sum = 0;
  for (int64_t j = 0; j < dim; j++) {
    float e = expf(ap[j * inner] - mx);
    dp[j * inner] = e;
    sum += e;
  }
  for (int64_t j = 0; j < dim; j++)
    dp[j * inner] = (float)(dp[j * inner] / sum);
}

/* Its gradient for one line: y * (dy - sum(y * dy)), the dot in double. */
BD_HD void bd_softmax_bwd_line(float *dp, const float *yp, const float *gp,
                               int64_t dim, int64_t inner) {
  double dot = 0;
  for (int64_t j = 0; j < dim; j++)
    dot += (double)yp[j * inner] * gp[j * inner];
  for (int64_t j = 0; j < dim; j++)
    dp[j * inner] = yp[j * inner] * (gp[j * inner] - (float)dot);
}

/* log(sum(exp(row))) of c logits, shifted by the float max, in double. */
BD_HD double bd_logsumexp_row(const float *row, int64_t c) {
  float mx = -INFINITY;
  for (int64_t j = 0; j < c; j++) mx = fmaxf(mx, row[j]);
  double sum = 0;
  for (int64_t j = 0; j < c; j++) sum += exp((double)row[j] - mx);
  return log(sum) + mx;
}

/* One element of the cross-entropy gradient: scale * (p - onehot) / rows
 * with p = exp(logit - lse). */
BD_HD float bd_ce_grad(float logit, double lse, bool is_target, float scale,
                       int64_t rows) {
  double p = exp((double)logit - lse);
  return (float)(scale * (p - (is_target ? 1.0 : 0.0)) / (double)rows);
}

/* torch.optim.SGD for one element: returns the new parameter and updates
 * the momentum buffer element *buf when momentum != 0 (buf must point to a
 * float either way; it is not touched when momentum == 0). */
BD_HD float bd_sgd_update(float p, float g, float *buf, float lr, float mom,
                          float wd, float damp, bool nesterov, bool first) {
  float dp = g;
  if (wd != 0.0f) dp += wd * p;
  if (mom != 0.0f) {
    if (first)
      *buf = dp;
    else
      *buf = mom * *buf + (1.0f - damp) * dp;
    dp = nesterov ? dp + mom * *buf : *buf;
  }
  return p - lr * dp;
}

/* U[lo, hi) from a unit draw u in [0, 1). */
BD_HD float bd_uniform_from(float u, float lo, float hi) {
  return lo + (hi - lo) * u;
}

/* Two N(mean, std^2) draws from two Philox words (Box-Muller in double):
 * w0 gives the radius, w1 the angle. */
BD_HD void bd_box_muller(uint32_t w0, uint32_t w1, float mean, float std,
                         float *z0, float *z1) {
  double u1 = bd_u32_to_unit_open0(w0);
  double u2 = bd_u32_to_unit(w1);
  double rad = sqrt(-2.0 * log(u1)), th = 6.283185307179586 * u2;
  *z0 = (float)(mean + std * rad * cos(th));
  *z1 = (float)(mean + std * rad * sin(th));
}

/* Sum (BD_RED_SUM) or mean (BD_RED_MEAN) of one line of dim values
 * `inner` apart, accumulated in double in index order; the mean of an
 * empty line is NaN. */
BD_HD float bd_reduce_line(const float *ap, int64_t dim, int64_t inner,
                           int kind) {
  double s = 0;
  for (int64_t j = 0; j < dim; j++) s += ap[j * inner];
  if (kind == BD_RED_MEAN) return dim ? (float)(s / (double)dim) : NAN;
  return (float)s;
}

#endif
