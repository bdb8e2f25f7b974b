/* softmax.c - the CPU's softmax over one dim and its backward, cross
 * entropy with class-index targets and its gradient; the per-line math is
 * engine/opmath.h's, shared with the CUDA kernels. */
#include <math.h>

#include "cpu_ops.h"
#include "engine/opmath.h"

static void bd__softmax(const bd_op *op) {
  const bd_dim_params *p = &op->dim;
  float *d = bd_tensor_f32(op->dst);
  const float *a = bd_tensor_f32(op->a);
  const float *g =
      op->kind == BD_OP_SOFTMAX_BACKWARD ? bd_tensor_f32(op->b) : NULL;
  for (int64_t o = 0; o < p->outer; o++)
    for (int64_t in = 0; in < p->inner; in++) {
      int64_t at = o * p->dim * p->inner + in;
      if (g)
        bd_softmax_bwd_line(d + at, a + at, g + at, p->dim, p->inner);
      else
        bd_softmax_line(d + at, a + at, p->dim, p->inner);
    }
}

static bd_status bd__cross_entropy(const bd_op *op) {
  int64_t rows = op->ce.rows, c = op->ce.classes;
  float *d = bd_tensor_f32(op->dst);
  const float *a = bd_tensor_f32(op->a);
  const int64_t *t = (const int64_t *)bd_tensor_data(op->b);
  bool fwd = op->kind == BD_OP_CROSS_ENTROPY;
  double loss = 0;
  for (int64_t r = 0; r < rows; r++) {
    if (t[r] < 0 || t[r] >= c)
      return bd_fail(BD_EINVAL, "target %lld is out of bounds for %lld classes",
                     (long long)t[r], (long long)c);
    const float *row = a + r * c;
    double lse = bd_logsumexp_row(row, c);
    if (fwd) {
      loss += lse - row[t[r]];
    } else {
      for (int64_t j = 0; j < c; j++)
        d[r * c + j] = bd_ce_grad(row[j], lse, j == t[r], op->ce.scale, rows);
    }
  }
  if (fwd) d[0] = rows ? (float)(loss / (double)rows) : NAN;
  return BD_OK;
}

bd_status bd_cpu_op_softmax(const bd_op *op) {
  switch (op->kind) {
    case BD_OP_SOFTMAX:
    case BD_OP_SOFTMAX_BACKWARD:
      bd__softmax(op);
      return BD_OK;
    case BD_OP_CROSS_ENTROPY:
    case BD_OP_CROSS_ENTROPY_BACKWARD:
      return bd__cross_entropy(op);
    default:
      return bd_fail(BD_EUNSUPPORTED, "softmax: op %d", (int)op->kind);
  }
}
