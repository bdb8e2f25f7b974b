/* elementwise.c - the CPU's elementwise ops: fill, copy, broadcasting
 * binary ops, unary ops and their gradients, mask_abs_below, clamp and
 * strided 2-D copies. The scalar formulas come from engine/opmath.h, the
 * same ones the CUDA kernels use. */
#include <math.h>
#include <string.h>

#include "cpu_ops.h"
#include "engine/opmath.h"

/* The operator is chosen once and the row broadcast is a nested loop (no
 * per-element switch or modulo), so the loops vectorise: this is the bias
 * add of every linear forward. */
#define BD__BIN_LOOPS(EXPR)                     \
  do {                                          \
    if (nb == n) {                              \
      for (int64_t i = 0; i < n; i++) {         \
        float x = a[i], y = b[i];               \
        d[i] = EXPR;                            \
      }                                         \
    } else if (nb == 1) {                       \
      const float y = b[0];                     \
      for (int64_t i = 0; i < n; i++) {         \
        float x = a[i];                         \
        d[i] = EXPR;                            \
      }                                         \
    } else {                                    \
      for (int64_t i = 0; i + nb <= n; i += nb) \
        for (int64_t j = 0; j < nb; j++) {      \
          float x = a[i + j], y = b[j];         \
          d[i + j] = EXPR;                      \
        }                                       \
    }                                           \
  } while (0)

/* b's element count is n, 1 or a divisor of n (checked by bd_op_run). */
static void bd__binary(float *d, const float *a, const float *b, int64_t n,
                       int64_t nb, bd_binary_kind kind) {
  switch (kind) {
    case BD_BIN_ADD:
      BD__BIN_LOOPS(x + y);
      break;
    case BD_BIN_SUB:
      BD__BIN_LOOPS(x - y);
      break;
    case BD_BIN_MUL:
      BD__BIN_LOOPS(x * y);
      break;
    default:
      BD__BIN_LOOPS(x / y);
      break;
  }
}
#undef BD__BIN_LOOPS

static void bd__unary(float *d, const float *a, int64_t n,
                      const bd_unary_params *p) {
  if (p->kind == BD_UN_RELU) { /* its own loop, so that it vectorises */
    for (int64_t i = 0; i < n; i++) d[i] = bd_relu(a[i]);
    return;
  }
  for (int64_t i = 0; i < n; i++)
    d[i] = bd_unary_fwd(p->kind, a[i], p->p0, p->p1);
}

static void bd__copy_2d(float *d, const float *a, const bd_copy_2d_params *p) {
  for (int64_t r = 0; r < p->rows; r++)
    memcpy(d + r * p->dst_stride + p->dst_offset,
           a + r * p->src_stride + p->src_offset,
           (size_t)p->cols * sizeof(float));
}

bd_status bd_cpu_op_elementwise(const bd_op *op) {
  int64_t n = bd_tensor_numel(op->dst);
  if (op->kind == BD_OP_COPY) { /* any dtype */
    if (n)
      memmove(bd_tensor_data(op->dst), bd_tensor_data(op->a),
              bd_tensor_nbytes(op->dst));
    return BD_OK;
  }
  float *d = bd_tensor_f32(op->dst);
  if (op->kind == BD_OP_FILL) { /* the only kind without an input */
    for (int64_t i = 0; i < n; i++) d[i] = op->fill.value;
    return BD_OK;
  }
  const float *a = bd_tensor_f32(op->a);
  switch (op->kind) {
    case BD_OP_BINARY:
      bd__binary(d, a, bd_tensor_f32(op->b), n, bd_tensor_numel(op->b),
                 op->binary.kind);
      return BD_OK;
    case BD_OP_UNARY:
      bd__unary(d, a, n, &op->unary);
      return BD_OK;
    case BD_OP_UNARY_BACKWARD: {
      const float *dy = bd_tensor_f32(op->b);
      for (int64_t i = 0; i < n; i++)
        d[i] = bd_unary_bwd(op->unary.kind, a[i], dy[i], op->unary.p0);
      return BD_OK;
    }
    case BD_OP_MASK_ABS_BELOW:
      for (int64_t i = 0; i < n; i++)
        d[i] = fabsf(a[i]) < op->clamp.lo ? 0.0f : a[i];
      return BD_OK;
    case BD_OP_CLAMP:
      for (int64_t i = 0; i < n; i++)
        d[i] = fminf(fmaxf(a[i], op->clamp.lo), op->clamp.hi);
      return BD_OK;
    case BD_OP_COPY_2D:
      bd__copy_2d(d, a, &op->copy_2d);
      return BD_OK;
    default:
      return bd_fail(BD_EUNSUPPORTED, "elementwise: op %d", (int)op->kind);
  }
}
