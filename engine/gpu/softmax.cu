/* softmax.cu - softmax over one dim and its backward, cross entropy with
 * class-index targets and its gradient. One thread per softmax row (the
 * CPU's formulas: float max, double sums); the loss is summed by one block
 * in double. Targets are checked on the host first so that an
 * out-of-range class is a clean EINVAL, as on the CPU. */
#include <math.h>
#include <stdlib.h>

#include "engine/opmath.h"
#include "softmax.cuh"

#define BD_CE_THREADS 256

__global__ void bd__k_softmax(float *d, const float *a, const float *g,
                              int64_t outer, int64_t dim, int64_t inner) {
  int64_t rows = outer * inner;
  for (int64_t r = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; r < rows;
       r += (int64_t)gridDim.x * blockDim.x) {
    int64_t o = r / inner, in = r % inner;
    int64_t at = o * dim * inner + in;
    if (g)
      bd_softmax_bwd_line(d + at, a + at, g + at, dim, inner);
    else
      bd_softmax_line(d + at, a + at, dim, inner);
  }
}

__global__ void bd__k_ce(float *d, const float *a, const int64_t *t,
                         int64_t rows, int64_t c) {
  __shared__ double acc[BD_CE_THREADS];
  double s = 0;
  for (int64_t r = threadIdx.x; r < rows; r += blockDim.x) {
    const float *row = a + r * c;
    s += bd_logsumexp_row(row, c) - row[t[r]];
  }
  acc[threadIdx.x] = s;
  __syncthreads();
  for (unsigned w = blockDim.x / 2; w > 0; w /= 2) {
    if (threadIdx.x < w) acc[threadIdx.x] += acc[threadIdx.x + w];
    __syncthreads();
  }
  if (threadIdx.x == 0) d[0] = rows ? (float)(acc[0] / (double)rows) : NAN;
}

__global__ void bd__k_ce_bwd(float *d, const float *a, const int64_t *t,
                             int64_t rows, int64_t c, float scale) {
  for (int64_t r = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; r < rows;
       r += (int64_t)gridDim.x * blockDim.x) {
    const float *row = a + r * c;
    double lse = bd_logsumexp_row(row, c);
    for (int64_t j = 0; j < c; j++)
      d[r * c + j] = bd_ce_grad(row[j], lse, j == t[r], scale, rows);
  }
}

/* Copies the targets to the host and checks them against [0, c). */
static bd_status bd__check_targets(bd_gpu_ctx *ctx, const bd_tensor *tt,
                                   int64_t rows, int64_t c) {
  if (rows == 0) return BD_OK;
  int64_t *h = (int64_t *)malloc((size_t)rows * sizeof *h);
  if (!h) return bd_fail(BD_ENOMEM, "out of host memory");
  cudaError_t e =
      cudaMemcpyAsync(h, bd_tensor_data(tt), (size_t)rows * sizeof *h,
                      cudaMemcpyDeviceToHost, ctx->stream);
  if (e == cudaSuccess) e = cudaStreamSynchronize(ctx->stream);
  if (e != cudaSuccess) {
    free(h);
    return bd_gpu_fail(ctx, e, "reading cross-entropy targets");
  }
  bd_status s = BD_OK;
  for (int64_t r = 0; r < rows && !s; r++)
    if (h[r] < 0 || h[r] >= c)
      s = bd_fail(BD_EINVAL, "target %lld is out of bounds for %lld classes",
                  (long long)h[r], (long long)c);
  free(h);
  return s;
}

bd_status bd_gpu_op_softmax(bd_gpu_ctx *ctx, const bd_op *op) {
  float *d = bd_gpu_f32(op->dst);
  cudaStream_t s = ctx->stream;
  switch (op->kind) {
    case BD_OP_SOFTMAX:
    case BD_OP_SOFTMAX_BACKWARD: {
      int64_t outer = op->dim.outer, dim = op->dim.dim, inner = op->dim.inner;
      if (outer * inner == 0) return BD_OK;
      bd__k_softmax<<<bd_gpu_grid(outer * inner), BD_GPU_THREADS, 0, s>>>(
          d, bd_gpu_f32(op->a),
          op->kind == BD_OP_SOFTMAX_BACKWARD ? bd_gpu_f32(op->b) : NULL, outer,
          dim, inner);
      return bd_gpu_launched(ctx, "softmax");
    }
    case BD_OP_CROSS_ENTROPY:
    case BD_OP_CROSS_ENTROPY_BACKWARD: {
      int64_t rows = op->ce.rows, c = op->ce.classes;
      bd_status st = bd__check_targets(ctx, op->b, rows, c);
      if (st) return st;
      const int64_t *t = (const int64_t *)bd_tensor_data(op->b);
      if (op->kind == BD_OP_CROSS_ENTROPY) {
        bd__k_ce<<<1, BD_CE_THREADS, 0, s>>>(d, bd_gpu_f32(op->a), t, rows, c);
        return bd_gpu_launched(ctx, "cross_entropy");
      }
      if (rows == 0) return BD_OK;
      bd__k_ce_bwd<<<bd_gpu_grid(rows), BD_GPU_THREADS, 0, s>>>(
          d, bd_gpu_f32(op->a), t, rows, c, op->ce.scale);
      return bd_gpu_launched(ctx, "cross_entropy_backward");
    }
    default:
      return bd_fail(BD_EUNSUPPORTED, "softmax: op %d", (int)op->kind);
  }
}
