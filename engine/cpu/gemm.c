/* gemm.c - BD_OP_GEMM on the CPU through OpenBLAS (sgemv for one row). */
#include <cblas.h>
#include <string.h>

#include "cpu_ops.h"

/* beta * dst, where beta = 0 ignores what dst holds (NaN included). */
static void bd__scale(float *d, int64_t n, float beta) {
  for (int64_t i = 0; i < n; i++) d[i] = beta == 0 ? 0 : beta * d[i];
}

bd_status bd_cpu_op_gemm(const bd_op *op) {
  if (op->kind != BD_OP_GEMM)
    return bd_fail(BD_EUNSUPPORTED, "gemm: op %d", (int)op->kind);
  const bd_gemm_params *g = &op->gemm;
  float *d = bd_tensor_f32(op->dst);
  const float *a = bd_tensor_f32(op->a), *b = bd_tensor_f32(op->b);
  if (g->m == 0 || g->n == 0) return BD_OK;
  if (g->k == 0) { /* alpha * empty product: dst = beta * dst */
    bd__scale(d, g->m * g->n, g->beta);
    return BD_OK;
  }
  if (g->m == 1) {
    /* One row (a batch-1 linear): a matrix-vector product. sgemm would
     * pack the whole weight matrix on every call. op(a) is k contiguous
     * values whether or not it is transposed. beta = 0 must ignore
     * whatever dst holds (NaN included), so clear it first. */
    if (g->beta == 0.0f) memset(d, 0, (size_t)g->n * sizeof *d);
    if (g->trans_b)
      cblas_sgemv(CblasRowMajor, CblasNoTrans, (blasint)g->n, (blasint)g->k,
                  g->alpha, b, (blasint)g->k, a, 1, g->beta, d, 1);
    else
      cblas_sgemv(CblasRowMajor, CblasTrans, (blasint)g->k, (blasint)g->n,
                  g->alpha, b, (blasint)g->n, a, 1, g->beta, d, 1);
    return BD_OK;
  }
  cblas_sgemm(CblasRowMajor, g->trans_a ? CblasTrans : CblasNoTrans,
              g->trans_b ? CblasTrans : CblasNoTrans, (blasint)g->m,
              (blasint)g->n, (blasint)g->k, g->alpha, a,
              (blasint)(g->trans_a ? g->m : g->k), b,
              (blasint)(g->trans_b ? g->k : g->n), g->beta, d, (blasint)g->n);
  return BD_OK;
}
