/* op.h - the ops every backend runs, built by typed constructors.
 *
 * An op is a bd_op value: its kind, the tensor it writes (dst), its
 * read-only inputs (a, b) and a union of per-kind parameters read by name
 * (op.gemm.m, op.unary.kind, op.sgd.lr, ...). Build one with the
 * constructor of its kind (bd_op_gemm, bd_op_unary, ...) and run it with
 * bd_op_run, which checks the dtype, element count and device of every
 * operand before a backend sees it, so a backend may assume them.
 *
 * Tensors are contiguous; every operand is float32 unless the op says
 * otherwise. Constructors only fill the struct: they never fail and own
 * nothing (the op borrows its tensors until it has run). Ops may run in
 * place (dst == a) where the kind's comment says so. */
#ifndef BD_OP_H
#define BD_OP_H

#include <stdbool.h>
#include <stdint.h>

#include "tensor.h"

typedef enum bd_op_kind {
  BD_OP_GEMM = 0,
  BD_OP_FILL,
  BD_OP_COPY,
  BD_OP_BINARY,
  BD_OP_UNARY,
  BD_OP_UNARY_BACKWARD,
  BD_OP_REDUCE,
  BD_OP_SUM_ROWS,
  BD_OP_SOFTMAX,
  BD_OP_SOFTMAX_BACKWARD,
  BD_OP_RNG,
  BD_OP_SGD,
  BD_OP_CROSS_ENTROPY,
  BD_OP_CROSS_ENTROPY_BACKWARD,
  BD_OP_MASK_ABS_BELOW,
  BD_OP_CLAMP,
  BD_OP_COPY_2D,
  BD_OP_REDUCE_DIM,
  BD_OP_BROADCAST_DIM,
  BD_OP_COUNT
} bd_op_kind;

typedef enum bd_binary_kind {
  BD_BIN_ADD = 0,
  BD_BIN_SUB,
  BD_BIN_MUL,
  BD_BIN_DIV,
  BD_BIN_COUNT
} bd_binary_kind;

typedef enum bd_unary_kind {
  BD_UN_RELU = 0,
  BD_UN_SIGMOID,
  BD_UN_TANH,
  BD_UN_GELU,   /* exact (erf) GELU, PyTorch's default */
  BD_UN_SCALE,  /* p0 * x */
  BD_UN_ADD,    /* x + p0 */
  BD_UN_AFFINE, /* p0 * x + p1 */
  BD_UN_ABS,
  BD_UN_EXP,
  BD_UN_COUNT
} bd_unary_kind;

typedef enum bd_reduce_kind {
  BD_RED_SUM = 0,
  BD_RED_MEAN,
  BD_RED_ABS_SUM,
  BD_RED_MAX,
  BD_RED_MIN,
  BD_RED_NORM, /* L2 norm */
  BD_RED_COUNT
} bd_reduce_kind;

typedef enum bd_rng_kind {
  BD_RNG_UNIFORM = 0, /* U[p0, p1) */
  BD_RNG_NORMAL,      /* N(p0, p1^2) */
  BD_RNG_BERNOULLI,   /* 1 with probability p0, else 0 */
  BD_RNG_COUNT
} bd_rng_kind;

/* ---- per-kind parameters ---------------------------------------------- */

typedef struct bd_gemm_params {
  int64_t m, n, k;
  bool trans_a, trans_b;
  float alpha, beta;
} bd_gemm_params;

typedef struct bd_fill_params {
  float value;
} bd_fill_params;

typedef struct bd_binary_params {
  bd_binary_kind kind;
} bd_binary_params;

/* BD_OP_UNARY and BD_OP_UNARY_BACKWARD. */
typedef struct bd_unary_params {
  bd_unary_kind kind;
  float p0, p1;
} bd_unary_params;

typedef struct bd_reduce_params {
  bd_reduce_kind kind;
} bd_reduce_params;

typedef struct bd_sum_rows_params {
  int64_t rows, cols;
  float beta;
} bd_sum_rows_params;

/* A tensor viewed as [outer, dim, inner]: BD_OP_SOFTMAX(_BACKWARD),
 * BD_OP_REDUCE_DIM (kind: BD_RED_SUM or BD_RED_MEAN) and
 * BD_OP_BROADCAST_DIM (alpha). */
typedef struct bd_dim_params {
  int64_t outer, dim, inner;
  bd_reduce_kind kind;
  float alpha;
} bd_dim_params;

typedef struct bd_rng_params {
  bd_rng_kind kind;
  uint64_t seed, offset; /* offset in 128-bit Philox blocks */
  float p0, p1;
} bd_rng_params;

typedef struct bd_sgd_params {
  float lr, momentum, weight_decay, dampening;
  bool nesterov, first_step;
} bd_sgd_params;

typedef struct bd_ce_params {
  int64_t rows, classes;
  float scale; /* backward only */
} bd_ce_params;

typedef struct bd_clamp_params {
  float lo, hi; /* BD_OP_MASK_ABS_BELOW uses lo as the threshold */
} bd_clamp_params;

typedef struct bd_copy_2d_params {
  int64_t rows, cols;
  int64_t dst_stride, dst_offset, src_stride, src_offset;
} bd_copy_2d_params;

typedef struct bd_op {
  bd_op_kind kind;
  bd_tensor *dst;         /* written (read too where the kind says so) */
  const bd_tensor *a, *b; /* inputs, never written */
  bd_tensor *buf;         /* BD_OP_SGD's momentum buffer (read, written) */
  union {
    bd_gemm_params gemm;
    bd_fill_params fill;
    bd_binary_params binary;
    bd_unary_params unary;
    bd_reduce_params reduce;
    bd_sum_rows_params sum_rows;
    bd_dim_params dim;
    bd_rng_params rng;
    bd_sgd_params sgd;
    bd_ce_params ce;
    bd_clamp_params clamp;
    bd_copy_2d_params copy_2d;
  };
} bd_op;

/* ---- constructors ------------------------------------------------------ */

/* dst[m,n] = alpha * op(a)[m,k] @ op(b)[k,n] + beta * dst, row-major;
 * op(x) is x transposed when trans_x. a, b and dst may have any rank: they
 * are viewed as matrices of those sizes (numel must agree). beta = 0
 * ignores what dst holds (NaN included). */
bd_op bd_op_gemm(bd_tensor *dst, const bd_tensor *a, bool trans_a,
                 const bd_tensor *b, bool trans_b, int64_t m, int64_t n,
                 int64_t k, float alpha, float beta);
/* dst = value everywhere. */
bd_op bd_op_fill(bd_tensor *dst, float value);
/* dst = a, byte for byte: same dtype and numel, any dtype. */
bd_op bd_op_copy(bd_tensor *dst, const bd_tensor *a);
/* dst = a (kind) b. b broadcasts: numel(b) is numel(a), 1, or divides
 * numel(a) and repeats for every row (the bias over the last dims). In
 * place allowed (dst == a). */
bd_op bd_op_binary(bd_tensor *dst, const bd_tensor *a, bd_binary_kind kind,
                   const bd_tensor *b);
/* dst = f(a) elementwise with parameters p0, p1 (see bd_unary_kind). In
 * place allowed. */
bd_op bd_op_unary(bd_tensor *dst, const bd_tensor *a, bd_unary_kind kind,
                  float p0, float p1);
/* dst = dy * f'(x): the gradient of bd_op_unary(kind, p0, p1) at x. */
bd_op bd_op_unary_backward(bd_tensor *dst, const bd_tensor *x,
                           const bd_tensor *dy, bd_unary_kind kind, float p0,
                           float p1);
/* dst (1 element) = reduce(a) over every element; double accumulators.
 * Max and min propagate NaN; the mean of nothing is NaN. */
bd_op bd_op_reduce(bd_tensor *dst, const bd_tensor *a, bd_reduce_kind kind);
/* dst[cols] = beta * dst + sum over rows of a[rows, cols] (beta 0 ignores
 * what dst holds). */
bd_op bd_op_sum_rows(bd_tensor *dst, const bd_tensor *a, int64_t rows,
                     int64_t cols, float beta);
/* Softmax of a viewed as [outer, dim, inner] along dim. */
bd_op bd_op_softmax(bd_tensor *dst, const bd_tensor *a, int64_t outer,
                    int64_t dim, int64_t inner);
/* Its gradient: dst = y * (dy - sum_dim(y * dy)), y the softmax output. */
bd_op bd_op_softmax_backward(bd_tensor *dst, const bd_tensor *y,
                             const bd_tensor *dy, int64_t outer, int64_t dim,
                             int64_t inner);
/* dst[outer, inner] = sum (BD_RED_SUM) or mean (BD_RED_MEAN) of a viewed
 * as [outer, dim, inner] along dim, in double. The mean over dim = 0 is
 * NaN, as in torch. Its gradient is bd_op_broadcast_dim with alpha 1 (sum)
 * or 1 / dim (mean). */
bd_op bd_op_reduce_dim(bd_tensor *dst, const bd_tensor *a, bd_reduce_kind kind,
                       int64_t outer, int64_t dim, int64_t inner);
/* dst[o, j, i] = alpha * a[o, i] for j < dim: a [outer, inner] repeated
 * along a new middle dim (the backward of bd_op_reduce_dim, and keepdim's
 * broadcast). */
bd_op bd_op_broadcast_dim(bd_tensor *dst, const bd_tensor *a, int64_t outer,
                          int64_t dim, int64_t inner, float alpha);
/* Fills dst from the Philox stream (seed, offset in 128-bit blocks);
 * element i depends only on (seed, offset, i). p0, p1: uniform bounds,
 * normal mean and std, Bernoulli keep-probability (p0). */
bd_op bd_op_rng(bd_tensor *dst, bd_rng_kind kind, uint64_t seed,
                uint64_t offset, float p0, float p1);
/* One SGD step on param (dst) with grad, as torch.optim.SGD: weight decay,
 * momentum with dampening, Nesterov. buf is the momentum buffer (required
 * when momentum != 0, else may be NULL); first_step initialises it to the
 * gradient. */
bd_op bd_op_sgd(bd_tensor *param, const bd_tensor *grad, bd_tensor *buf,
                const bd_sgd_params *p);
/* dst (1 element) = mean cross entropy of logits[rows, classes] against
 * int64 class indices targets[rows]. Running fails with BD_EINVAL when a
 * target is outside [0, classes). */
bd_op bd_op_cross_entropy(bd_tensor *dst, const bd_tensor *logits,
                          const bd_tensor *targets, int64_t rows,
                          int64_t classes);
/* Its gradient: dst[rows, classes] = scale * (softmax - onehot) / rows. */
bd_op bd_op_cross_entropy_backward(bd_tensor *dst, const bd_tensor *logits,
                                   const bd_tensor *targets, int64_t rows,
                                   int64_t classes, float scale);
/* dst = |a| < threshold ? 0 : a. In place allowed. */
bd_op bd_op_mask_abs_below(bd_tensor *dst, const bd_tensor *a, float threshold);
/* dst = min(max(a, lo), hi). In place allowed. */
bd_op bd_op_clamp(bd_tensor *dst, const bd_tensor *a, float lo, float hi);
/* Strided block copy (concat/split along the last dim):
 * dst[r * dst_stride + dst_offset + j] = a[r * src_stride + src_offset + j]
 * for r < rows, j < cols; every index must lie inside its tensor. */
bd_op bd_op_copy_2d(bd_tensor *dst, const bd_tensor *a,
                    const bd_copy_2d_params *p);

/* ---- running ----------------------------------------------------------- */

/* The op's name as messages print it ("gemm", "softmax_backward", ...);
 * "unknown" outside the enum. */
const char *bd_op_name(bd_op_kind kind);

/* Checks op, then runs it on the backend of op->dst's device. Errors:
 * BD_EUNSUPPORTED for a kind outside bd_op_kind (or one the backend lacks),
 * BD_EINVAL for a missing operand or bad parameter, BD_EDTYPE for an
 * operand of the wrong dtype, BD_ESHAPE for an element count that does not
 * match the parameters, BD_EDEVMISMATCH for an operand on another device;
 * each message names the op and the operand. Then whatever the op itself
 * reports (BD_EINVAL for a cross-entropy target out of range, device
 * errors). On an error before the backend runs nothing is written. */
bd_status bd_op_run(const bd_op *op);

#endif
