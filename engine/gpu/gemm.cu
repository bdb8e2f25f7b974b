/* gemm.cu - BD_OP_GEMM through cublasSgemm.
 *
 * blockd's tensors are row-major; cuBLAS is column-major. A row-major
 * [m, n] buffer read column-major is its transpose, so C = op(A) op(B) is
 * computed as C^T = op(B)^T op(A)^T: the operands swap places, each keeps
 * its own transpose flag and leading dimension, and no data moves. */
#include <limits.h>

#include "gemm.cuh"

__global__ void bd__k_scale(float *d, int64_t n, float beta) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
       i += (int64_t)gridDim.x * blockDim.x)
    d[i] = beta == 0.0f ? 0.0f : beta * d[i];
}

bd_status bd_gpu_op_gemm(bd_gpu_ctx *ctx, const bd_op *op) {
  if (op->kind != BD_OP_GEMM)
    return bd_fail(BD_EUNSUPPORTED, "gemm: op %d", (int)op->kind);
  const bd_gemm_params *p = &op->gemm;
  int64_t m = p->m, n = p->n, k = p->k;
  bool ta = p->trans_a, tb = p->trans_b;
  if (m == 0 || n == 0) return BD_OK;
  float *d = bd_gpu_f32(op->dst);
  if (k == 0) { /* an empty product: dst = beta * dst */
    bd__k_scale<<<bd_gpu_grid(m * n), BD_GPU_THREADS, 0, ctx->stream>>>(
        d, m * n, p->beta);
    return bd_gpu_launched(ctx, "gemm (k = 0)");
  }
  if (m > INT_MAX || n > INT_MAX || k > INT_MAX)
    return bd_fail(BD_EUNSUPPORTED,
                   "cuda:%d: matrix product of %lld x %lld x %lld exceeds "
                   "cuBLAS's 32-bit sizes",
                   ctx->index, (long long)m, (long long)n, (long long)k);
  int lda = (int)(ta ? m : k), ldb = (int)(tb ? k : n);
  float alpha = p->alpha, beta = p->beta;
  pthread_mutex_lock(&ctx->blas_mu);
  cublasStatus_t st = cublasSgemm(
      ctx->blas, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N,
      (int)n, (int)m, (int)k, &alpha, bd_gpu_f32(op->b), ldb, bd_gpu_f32(op->a),
      lda, &beta, d, (int)n);
  pthread_mutex_unlock(&ctx->blas_mu);
  if (st != CUBLAS_STATUS_SUCCESS)
    return bd_gpu_blas_fail(ctx, st, "cublasSgemm");
  return BD_OK;
}
