/* op.c - op constructors and bd_op_run, which checks every operand before
 * a backend sees it. */
#include "op.h"

#include "backend.h"

/* ---- constructors ------------------------------------------------------ */

bd_op bd_op_gemm(bd_tensor *dst, const bd_tensor *a, bool trans_a,
                 const bd_tensor *b, bool trans_b, int64_t m, int64_t n,
                 int64_t k, float alpha, float beta) {
  return (bd_op){.kind = BD_OP_GEMM,
                 .dst = dst,
                 .a = a,
                 .b = b,
                 .gemm = {m, n, k, trans_a, trans_b, alpha, beta}};
}

bd_op bd_op_fill(bd_tensor *dst, float value) {
  return (bd_op){.kind = BD_OP_FILL, .dst = dst, .fill = {value}};
}

bd_op bd_op_copy(bd_tensor *dst, const bd_tensor *a) {
  return (bd_op){.kind = BD_OP_COPY, .dst = dst, .a = a};
}

bd_op bd_op_binary(bd_tensor *dst, const bd_tensor *a, bd_binary_kind kind,
                   const bd_tensor *b) {
  return (bd_op){
      .kind = BD_OP_BINARY, .dst = dst, .a = a, .b = b, .binary = {kind}};
}

bd_op bd_op_unary(bd_tensor *dst, const bd_tensor *a, bd_unary_kind kind,
                  float p0, float p1) {
  return (bd_op){
      .kind = BD_OP_UNARY, .dst = dst, .a = a, .unary = {kind, p0, p1}};
}

bd_op bd_op_unary_backward(bd_tensor *dst, const bd_tensor *x,
                           const bd_tensor *dy, bd_unary_kind kind, float p0,
                           float p1) {
  return (bd_op){.kind = BD_OP_UNARY_BACKWARD,
                 .dst = dst,
                 .a = x,
                 .b = dy,
                 .unary = {kind, p0, p1}};
}

bd_op bd_op_reduce(bd_tensor *dst, const bd_tensor *a, bd_reduce_kind kind) {
  return (bd_op){.kind = BD_OP_REDUCE, .dst = dst, .a = a, .reduce = {kind}};
}

bd_op bd_op_sum_rows(bd_tensor *dst, const bd_tensor *a, int64_t rows,
                     int64_t cols, float beta) {
  return (bd_op){.kind = BD_OP_SUM_ROWS,
                 .dst = dst,
                 .a = a,
                 .sum_rows = {rows, cols, beta}};
}

bd_op bd_op_softmax(bd_tensor *dst, const bd_tensor *a, int64_t outer,
                    int64_t dim, int64_t inner) {
  return (bd_op){.kind = BD_OP_SOFTMAX,
                 .dst = dst,
                 .a = a,
                 .dim = {outer, dim, inner, BD_RED_SUM, 1.0f}};
}

bd_op bd_op_softmax_backward(bd_tensor *dst, const bd_tensor *y,
                             const bd_tensor *dy, int64_t outer, int64_t dim,
                             int64_t inner) {
  return (bd_op){.kind = BD_OP_SOFTMAX_BACKWARD,
                 .dst = dst,
                 .a = y,
                 .b = dy,
                 .dim = {outer, dim, inner, BD_RED_SUM, 1.0f}};
}

bd_op bd_op_reduce_dim(bd_tensor *dst, const bd_tensor *a, bd_reduce_kind kind,
                       int64_t outer, int64_t dim, int64_t inner) {
  return (bd_op){.kind = BD_OP_REDUCE_DIM,
                 .dst = dst,
                 .a = a,
                 .dim = {outer, dim, inner, kind, 1.0f}};
}

bd_op bd_op_broadcast_dim(bd_tensor *dst, const bd_tensor *a, int64_t outer,
                          int64_t dim, int64_t inner, float alpha) {
  return (bd_op){.kind = BD_OP_BROADCAST_DIM,
                 .dst = dst,
                 .a = a,
                 .dim = {outer, dim, inner, BD_RED_SUM, alpha}};
}

bd_op bd_op_rng(bd_tensor *dst, bd_rng_kind kind, uint64_t seed,
                uint64_t offset, float p0, float p1) {
  return (bd_op){
      .kind = BD_OP_RNG, .dst = dst, .rng = {kind, seed, offset, p0, p1}};
}

bd_op bd_op_sgd(bd_tensor *param, const bd_tensor *grad, bd_tensor *buf,
                const bd_sgd_params *p) {
  return (bd_op){
      .kind = BD_OP_SGD, .dst = param, .a = grad, .buf = buf, .sgd = *p};
}

bd_op bd_op_cross_entropy(bd_tensor *dst, const bd_tensor *logits,
                          const bd_tensor *targets, int64_t rows,
                          int64_t classes) {
  return (bd_op){.kind = BD_OP_CROSS_ENTROPY,
                 .dst = dst,
                 .a = logits,
                 .b = targets,
                 .ce = {rows, classes, 1.0f}};
}

bd_op bd_op_cross_entropy_backward(bd_tensor *dst, const bd_tensor *logits,
                                   const bd_tensor *targets, int64_t rows,
                                   int64_t classes, float scale) {
  return (bd_op){.kind = BD_OP_CROSS_ENTROPY_BACKWARD,
                 .dst = dst,
                 .a = logits,
                 .b = targets,
                 .ce = {rows, classes, scale}};
}

bd_op bd_op_mask_abs_below(bd_tensor *dst, const bd_tensor *a,
                           float threshold) {
  return (bd_op){.kind = BD_OP_MASK_ABS_BELOW,
                 .dst = dst,
                 .a = a,
                 .clamp = {threshold, threshold}};
}

bd_op bd_op_clamp(bd_tensor *dst, const bd_tensor *a, float lo, float hi) {
  return (bd_op){.kind = BD_OP_CLAMP, .dst = dst, .a = a, .clamp = {lo, hi}};
}

bd_op bd_op_copy_2d(bd_tensor *dst, const bd_tensor *a,
                    const bd_copy_2d_params *p) {
  return (bd_op){.kind = BD_OP_COPY_2D, .dst = dst, .a = a, .copy_2d = *p};
}

/* ---- checks ------------------------------------------------------------ */

static const char *const bd__op_names[BD_OP_COUNT] = {
    [BD_OP_GEMM] = "gemm",
    [BD_OP_FILL] = "fill",
    [BD_OP_COPY] = "copy",
    [BD_OP_BINARY] = "binary",
    [BD_OP_UNARY] = "unary",
    [BD_OP_UNARY_BACKWARD] = "unary_backward",
    [BD_OP_REDUCE] = "reduce",
    [BD_OP_SUM_ROWS] = "sum_rows",
    [BD_OP_SOFTMAX] = "softmax",
    [BD_OP_SOFTMAX_BACKWARD] = "softmax_backward",
    [BD_OP_RNG] = "rng",
    [BD_OP_SGD] = "sgd",
    [BD_OP_CROSS_ENTROPY] = "cross_entropy",
    [BD_OP_CROSS_ENTROPY_BACKWARD] = "cross_entropy_backward",
    [BD_OP_MASK_ABS_BELOW] = "mask_abs_below",
    [BD_OP_CLAMP] = "clamp",
    [BD_OP_COPY_2D] = "copy_2d",
    [BD_OP_REDUCE_DIM] = "reduce_dim",
    [BD_OP_BROADCAST_DIM] = "broadcast_dim",
};

const char *bd_op_name(bd_op_kind kind) {
  if ((unsigned)kind >= BD_OP_COUNT || !bd__op_names[kind]) return "unknown";
  return bd__op_names[kind];
}

/* One operand of op: present, of dtype dt, with `want` elements (want < 0:
 * any count). */
static bd_status bd__operand(const bd_op *op, const bd_tensor *t,
                             const char *name, bd_dtype dt, int64_t want,
                             const char *want_str) {
  const char *on = bd_op_name(op->kind);
  if (!t) return bd_fail(BD_EINVAL, "%s: operand %s is missing", on, name);
  if (t->dtype != dt)
    return bd_fail(BD_EDTYPE, "%s: operand %s is %s, expected %s", on, name,
                   bd_dtype_name(t->dtype), bd_dtype_name(dt));
  int64_t n = bd_tensor_numel(t);
  if (want >= 0 && n != want)
    return bd_fail(BD_ESHAPE,
                   "%s: operand %s has %lld elements, expected %s"
                   " = %lld",
                   on, name, (long long)n, want_str, (long long)want);
  return BD_OK;
}

#define BD__F32(t, name, want, want_str)                             \
  do {                                                               \
    bd_status s_ = bd__operand(op, t, name, BD_F32, want, want_str); \
    if (s_) return s_;                                               \
  } while (0)

/* Product of non-negative sizes, or -1 when one is negative or it does
 * not fit in int64. */
static int64_t bd__prod(int64_t x, int64_t y) {
  if (x < 0 || y < 0) return -1;
  if (y && x > INT64_MAX / y) return -1;
  return x * y;
}

static bd_status bd__sizes(const bd_op *op, int64_t total) {
  if (total < 0)
    return bd_fail(BD_EINVAL,
                   "%s: sizes must be non-negative and their "
                   "product must fit in 64 bits",
                   bd_op_name(op->kind));
  return BD_OK;
}

static bd_status bd__check_gemm(const bd_op *op) {
  const bd_gemm_params *g = &op->gemm;
  int64_t mk = bd__prod(g->m, g->k), kn = bd__prod(g->k, g->n),
          mn = bd__prod(g->m, g->n);
  bd_status s = bd__sizes(op, mk < 0 || kn < 0 || mn < 0 ? -1 : 0);
  if (s) return s;
  BD__F32(op->dst, "dst", mn, "m*n");
  BD__F32(op->a, "a", mk, "m*k");
  BD__F32(op->b, "b", kn, "k*n");
  return BD_OK;
}

static bd_status bd__check_binary(const bd_op *op) {
  if ((unsigned)op->binary.kind >= BD_BIN_COUNT)
    return bd_fail(BD_EINVAL, "binary: unknown kind %d", (int)op->binary.kind);
  BD__F32(op->dst, "dst", -1, "");
  int64_t n = bd_tensor_numel(op->dst);
  BD__F32(op->a, "a", n, "numel(dst)");
  BD__F32(op->b, "b", -1, "");
  int64_t nb = bd_tensor_numel(op->b);
  if (nb != n && nb != 1 && (nb == 0 || n % nb != 0))
    return bd_fail(BD_ESHAPE,
                   "binary: operand b has %lld elements, which "
                   "do not broadcast onto %lld",
                   (long long)nb, (long long)n);
  return BD_OK;
}

static bd_status bd__check_unary(const bd_op *op) {
  if ((unsigned)op->unary.kind >= BD_UN_COUNT)
    return bd_fail(BD_EINVAL, "%s: unknown kind %d", bd_op_name(op->kind),
                   (int)op->unary.kind);
  BD__F32(op->dst, "dst", -1, "");
  int64_t n = bd_tensor_numel(op->dst);
  BD__F32(op->a, "a", n, "numel(dst)");
  if (op->kind == BD_OP_UNARY_BACKWARD) BD__F32(op->b, "b", n, "numel(dst)");
  return BD_OK;
}

static bd_status bd__check_dim(const bd_op *op) {
  const bd_dim_params *p = &op->dim;
  int64_t oi = bd__prod(p->outer, p->inner), all = bd__prod(oi, p->dim);
  bd_status s = bd__sizes(op, all < 0 ? -1 : 0);
  if (s) return s;
  switch (op->kind) {
    case BD_OP_REDUCE_DIM:
      if (p->kind != BD_RED_SUM && p->kind != BD_RED_MEAN)
        return bd_fail(BD_EINVAL, "reduce_dim: kind %d is not sum or mean",
                       (int)p->kind);
      BD__F32(op->dst, "dst", oi, "outer*inner");
      BD__F32(op->a, "a", all, "outer*dim*inner");
      return BD_OK;
    case BD_OP_BROADCAST_DIM:
      BD__F32(op->dst, "dst", all, "outer*dim*inner");
      BD__F32(op->a, "a", oi, "outer*inner");
      return BD_OK;
    default: /* softmax and its backward */
      BD__F32(op->dst, "dst", all, "outer*dim*inner");
      BD__F32(op->a, "a", all, "outer*dim*inner");
      if (op->kind == BD_OP_SOFTMAX_BACKWARD)
        BD__F32(op->b, "b", all, "outer*dim*inner");
      return BD_OK;
  }
}

static bd_status bd__check_ce(const bd_op *op) {
  const bd_ce_params *p = &op->ce;
  int64_t rc = bd__prod(p->rows, p->classes);
  bd_status s = bd__sizes(op, rc);
  if (s) return s;
  if (op->kind == BD_OP_CROSS_ENTROPY)
    BD__F32(op->dst, "dst", 1, "1");
  else
    BD__F32(op->dst, "dst", rc, "rows*classes");
  BD__F32(op->a, "a", rc, "rows*classes");
  return bd__operand(op, op->b, "b", BD_I64, p->rows, "rows");
}

static bd_status bd__check_sgd(const bd_op *op) {
  BD__F32(op->dst, "dst", -1, "");
  int64_t n = bd_tensor_numel(op->dst);
  BD__F32(op->a, "a", n, "numel(dst)");
  if (op->sgd.momentum != 0.0f || op->buf)
    BD__F32(op->buf, "buf", n, "numel(dst)");
  return BD_OK;
}

/* The last element a strided 2-D copy touches must lie inside t. */
static bd_status bd__check_span(const bd_op *op, const bd_tensor *t,
                                const char *name, int64_t stride,
                                int64_t offset) {
  const bd_copy_2d_params *p = &op->copy_2d;
  BD__F32(t, name, -1, "");
  if (p->rows == 0 || p->cols == 0) return BD_OK;
  int64_t last = bd__prod(p->rows - 1, stride);
  if (offset < 0 || last < 0 || last > INT64_MAX - offset - p->cols ||
      last + offset + p->cols > bd_tensor_numel(t))
    return bd_fail(BD_ESHAPE,
                   "copy_2d: operand %s (%lld elements) is too "
                   "small for %lld rows of %lld at stride %lld, offset %lld",
                   name, (long long)bd_tensor_numel(t), (long long)p->rows,
                   (long long)p->cols, (long long)stride, (long long)offset);
  return BD_OK;
}

static bd_status bd__check_copy_2d(const bd_op *op) {
  const bd_copy_2d_params *p = &op->copy_2d;
  if (p->rows < 0 || p->cols < 0 || p->dst_stride < 0 || p->src_stride < 0)
    return bd_fail(BD_EINVAL, "copy_2d: sizes must be non-negative");
  bd_status s =
      bd__check_span(op, op->dst, "dst", p->dst_stride, p->dst_offset);
  if (!s) s = bd__check_span(op, op->a, "a", p->src_stride, p->src_offset);
  return s;
}

/* The dtype and element count of every operand op->kind reads or writes. */
static bd_status bd__check_operands(const bd_op *op) {
  const char *on = bd_op_name(op->kind);
  switch (op->kind) {
    case BD_OP_GEMM:
      return bd__check_gemm(op);
    case BD_OP_FILL:
      BD__F32(op->dst, "dst", -1, "");
      return BD_OK;
    case BD_OP_COPY:
      if (!op->dst || !op->a)
        return bd_fail(BD_EINVAL, "copy: operand %s is missing",
                       op->dst ? "a" : "dst");
      return bd__operand(op, op->a, "a", op->dst->dtype,
                         bd_tensor_numel(op->dst), "numel(dst)");
    case BD_OP_BINARY:
      return bd__check_binary(op);
    case BD_OP_UNARY:
    case BD_OP_UNARY_BACKWARD:
      return bd__check_unary(op);
    case BD_OP_REDUCE:
      if ((unsigned)op->reduce.kind >= BD_RED_COUNT)
        return bd_fail(BD_EINVAL, "reduce: unknown kind %d",
                       (int)op->reduce.kind);
      BD__F32(op->dst, "dst", 1, "1");
      BD__F32(op->a, "a", -1, "");
      return BD_OK;
    case BD_OP_SUM_ROWS: {
      int64_t rc = bd__prod(op->sum_rows.rows, op->sum_rows.cols);
      bd_status s = bd__sizes(op, rc);
      if (s) return s;
      BD__F32(op->dst, "dst", op->sum_rows.cols, "cols");
      BD__F32(op->a, "a", rc, "rows*cols");
      return BD_OK;
    }
    case BD_OP_SOFTMAX:
    case BD_OP_SOFTMAX_BACKWARD:
    case BD_OP_REDUCE_DIM:
    case BD_OP_BROADCAST_DIM:
      return bd__check_dim(op);
    case BD_OP_RNG:
      if ((unsigned)op->rng.kind >= BD_RNG_COUNT)
        return bd_fail(BD_EINVAL, "rng: unknown distribution %d",
                       (int)op->rng.kind);
      BD__F32(op->dst, "dst", -1, "");
      return BD_OK;
    case BD_OP_SGD:
      return bd__check_sgd(op);
    case BD_OP_CROSS_ENTROPY:
    case BD_OP_CROSS_ENTROPY_BACKWARD:
      return bd__check_ce(op);
    case BD_OP_MASK_ABS_BELOW:
    case BD_OP_CLAMP:
      BD__F32(op->dst, "dst", -1, "");
      BD__F32(op->a, "a", bd_tensor_numel(op->dst), "numel(dst)");
      return BD_OK;
    case BD_OP_COPY_2D:
      return bd__check_copy_2d(op);
    default:
      break;
  }
  return bd_fail(BD_EUNSUPPORTED, "op %d is not a known op (%s)", (int)op->kind,
                 on);
}

static bd_status bd__check_device(const bd_op *op, const bd_tensor *t,
                                  const char *name, bd_device d) {
  if (!t || bd_device_eq(bd_tensor_device(t), d)) return BD_OK;
  char x[16], y[16];
  return bd_fail(BD_EDEVMISMATCH,
                 "expected all tensors to be on the same device, but %s: "
                 "operand %s is on %s and dst on %s",
                 bd_op_name(op->kind), name,
                 bd_device_str(bd_tensor_device(t), x, sizeof x),
                 bd_device_str(d, y, sizeof y));
}

bd_status bd_op_run(const bd_op *op) {
  if ((unsigned)op->kind >= BD_OP_COUNT)
    return bd_fail(BD_EUNSUPPORTED, "op %d is not a known op", (int)op->kind);
  if (!op->dst)
    return bd_fail(BD_EINVAL, "%s: operand dst is missing",
                   bd_op_name(op->kind));
  bd_status s = bd__check_operands(op);
  if (s) return s;
  bd_device d = bd_tensor_device(op->dst);
  if (!s) s = bd__check_device(op, op->a, "a", d);
  if (!s) s = bd__check_device(op, op->b, "b", d);
  if (!s) s = bd__check_device(op, op->buf, "buf", d);
  if (s) return s;
  bd_backend *be = bd_backend_get(d);
  if (!be) {
    char x[16];
    return bd_fail(BD_ENOTFOUND, "%s: no backend for device %s",
                   bd_op_name(op->kind), bd_device_str(d, x, sizeof x));
  }
  return be->iface->op(be->ctx, op);
}
