/* gemm.c - BD_OP_GEMM on the CPU through OpenBLAS (sgemv for one row).
 *
 * Threading rule (README, "CPU threads"): blockd runs --workers compute
 * workers (default: one per core) and OpenBLAS keeps its own pool (default:
 * one thread per core). OpenBLAS computes a small product on the calling
 * thread alone (below about 2^18 multiply-adds for sgemm, 9216 for sgemv)
 * and splits a large one over its whole pool. Small products - batch-1
 * requests - therefore run side by side on the workers and never pay for
 * waking threads. Large products take bd__blas_big first, so at most one
 * runs at a time and it gets every core: OpenBLAS shares one pool between
 * all callers, and two large products started together would spin-wait
 * for each other's threads while oversubscribing the cores. */
#include <cblas.h>
#include <pthread.h>
#include <string.h>

#include "cpu_ops.h"

/* beta * dst, where beta = 0 ignores what dst holds (NaN included). */
static void bd__scale(float *d, int64_t n, float beta) {
  for (int64_t i = 0; i < n; i++) d[i] = beta == 0 ? 0 : beta * d[i];
}

/* OpenBLAS 0.3's thresholds below which it stays on the calling thread
 * (interface/gemm.c: 65536 * GEMM_MULTITHREAD_THRESHOLD 4; gemv.c:
 * 2304 * 4), so that the products it splits are the ones serialised. */
#define BD_SGEMM_THREADED_MIN (65536.0 * 4)
#define BD_SGEMV_THREADED_MIN (2304.0 * 4)

static pthread_mutex_t bd__blas_big = PTHREAD_MUTEX_INITIALIZER;

static bool bd__threaded(const bd_gemm_params *g) {
  if (g->m == 1) return (double)g->n * (double)g->k >= BD_SGEMV_THREADED_MIN;
  return (double)g->m * (double)g->n * (double)g->k >= BD_SGEMM_THREADED_MIN;
}

static void bd__gemm(const bd_gemm_params *g, const float *a, const float *b,
                     float *d) {
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
    return;
  }
  cblas_sgemm(CblasRowMajor, g->trans_a ? CblasTrans : CblasNoTrans,
              g->trans_b ? CblasTrans : CblasNoTrans, (blasint)g->m,
              (blasint)g->n, (blasint)g->k, g->alpha, a,
              (blasint)(g->trans_a ? g->m : g->k), b,
              (blasint)(g->trans_b ? g->k : g->n), g->beta, d, (blasint)g->n);
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
  if (!bd__threaded(g)) {
    bd__gemm(g, a, b, d);
    return BD_OK;
  }
  pthread_mutex_lock(&bd__blas_big);
  bd__gemm(g, a, b, d);
  pthread_mutex_unlock(&bd__blas_big);
  return BD_OK;
}
