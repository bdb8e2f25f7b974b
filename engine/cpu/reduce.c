/* reduce.c - the CPU's reductions: over every element (double
 * accumulators), column sums over rows, sum/mean along one dim, and the
 * broadcast along one dim that is the latter's gradient. */
#include <math.h>

#include "cpu_ops.h"
#include "engine/opmath.h"

static float bd__reduce_all(const float *a, int64_t n, bd_reduce_kind kind) {
  double acc = 0;
  float mx = -INFINITY, mn = INFINITY;
  switch (kind) {
    case BD_RED_ABS_SUM:
      for (int64_t i = 0; i < n; i++) acc += fabs((double)a[i]);
      return (float)acc;
    case BD_RED_NORM:
      for (int64_t i = 0; i < n; i++) acc += (double)a[i] * a[i];
      return (float)sqrt(acc);
    case BD_RED_MAX:
      for (int64_t i = 0; i < n; i++) mx = bd_max_nan(mx, a[i]);
      return mx;
    case BD_RED_MIN:
      for (int64_t i = 0; i < n; i++) mn = bd_min_nan(mn, a[i]);
      return mn;
    case BD_RED_MEAN:
      for (int64_t i = 0; i < n; i++) acc += a[i];
      return n ? (float)(acc / (double)n) : NAN;
    default:
      for (int64_t i = 0; i < n; i++) acc += a[i];
      return (float)acc;
  }
}

static void bd__sum_rows(float *d, const float *a,
                         const bd_sum_rows_params *p) {
  for (int64_t j = 0; j < p->cols; j++)
    d[j] = p->beta == 0 ? 0 : p->beta * d[j];
  for (int64_t r = 0; r < p->rows; r++)
    for (int64_t j = 0; j < p->cols; j++) d[j] += a[r * p->cols + j];
}

static void bd__reduce_dim(float *d, const float *a, const bd_dim_params *p) {
  for (int64_t o = 0; o < p->outer; o++)
    for (int64_t in = 0; in < p->inner; in++)
      d[o * p->inner + in] = bd_reduce_line(a + o * p->dim * p->inner + in,
                                            p->dim, p->inner, p->kind);
}

static void bd__broadcast_dim(float *d, const float *a,
                              const bd_dim_params *p) {
  for (int64_t o = 0; o < p->outer; o++)
    for (int64_t j = 0; j < p->dim; j++) {
      float *dp = d + (o * p->dim + j) * p->inner;
      const float *ap = a + o * p->inner;
      for (int64_t in = 0; in < p->inner; in++) dp[in] = p->alpha * ap[in];
    }
}

bd_status bd_cpu_op_reduce(const bd_op *op) {
  float *d = bd_tensor_f32(op->dst);
  const float *a = bd_tensor_f32(op->a);
  switch (op->kind) {
    case BD_OP_REDUCE:
      d[0] = bd__reduce_all(a, bd_tensor_numel(op->a), op->reduce.kind);
      return BD_OK;
    case BD_OP_SUM_ROWS:
      bd__sum_rows(d, a, &op->sum_rows);
      return BD_OK;
    case BD_OP_REDUCE_DIM:
      bd__reduce_dim(d, a, &op->dim);
      return BD_OK;
    case BD_OP_BROADCAST_DIM:
      bd__broadcast_dim(d, a, &op->dim);
      return BD_OK;
    default:
      return bd_fail(BD_EUNSUPPORTED, "reduce: op %d", (int)op->kind);
  }
}
