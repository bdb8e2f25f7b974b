/* reduce.cu - whole-tensor reductions (one block, double accumulators like
 * the CPU backend), column sums over rows (one thread per column, summing
 * rows in order: the CPU's exact rounding sequence), sum/mean along one dim
 * (one thread per output, engine/opmath.h's bd_reduce_line, so the CPU's
 * bits) and the broadcast along one dim that is its gradient. */
#include <math.h>

#include "engine/opmath.h"
#include "reduce.cuh"

#define BD_RED_THREADS 1024

__global__ void bd__k_reduce(float *d, const float *a, int64_t n, int kind) {
  __shared__ double acc[BD_RED_THREADS];
  __shared__ float mx[BD_RED_THREADS], mn[BD_RED_THREADS];
  double s = 0;
  float hi = -INFINITY, lo = INFINITY;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    float v = a[i];
    switch (kind) {
      case BD_RED_ABS_SUM:
        s += fabs((double)v);
        break;
      case BD_RED_NORM:
        s += (double)v * v;
        break;
      case BD_RED_MAX:
        hi = bd_max_nan(hi, v);
        break;
      case BD_RED_MIN:
        lo = bd_min_nan(lo, v);
        break;
      default:
        s += v;
        break;
    }
  }
  acc[threadIdx.x] = s;
  mx[threadIdx.x] = hi;
  mn[threadIdx.x] = lo;
  __syncthreads();
  for (unsigned w = blockDim.x / 2; w > 0; w /= 2) {
    if (threadIdx.x < w) {
      acc[threadIdx.x] += acc[threadIdx.x + w];
      mx[threadIdx.x] = bd_max_nan(mx[threadIdx.x], mx[threadIdx.x + w]);
      mn[threadIdx.x] = bd_min_nan(mn[threadIdx.x], mn[threadIdx.x + w]);
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    switch (kind) {
      case BD_RED_MEAN:
        d[0] = n ? (float)(acc[0] / (double)n) : NAN;
        break;
      case BD_RED_MAX:
        d[0] = mx[0];
        break;
      case BD_RED_MIN:
        d[0] = mn[0];
        break;
      case BD_RED_NORM:
        d[0] = (float)sqrt(acc[0]);
        break;
      default:
        d[0] = (float)acc[0];
        break;
    }
  }
}

__global__ void bd__k_sum_rows(float *d, const float *a, int64_t rows,
                               int64_t cols, float beta) {
  for (int64_t j = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; j < cols;
       j += (int64_t)gridDim.x * blockDim.x) {
    float v = beta == 0.0f ? 0.0f : beta * d[j];
    for (int64_t r = 0; r < rows; r++) v += a[r * cols + j];
    d[j] = v;
  }
}

__global__ void bd__k_reduce_dim(float *d, const float *a, int64_t outer,
                                 int64_t dim, int64_t inner, int kind) {
  for (int64_t r = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
       r < outer * inner; r += (int64_t)gridDim.x * blockDim.x) {
    int64_t o = r / inner, in = r % inner;
    d[r] = bd_reduce_line(a + o * dim * inner + in, dim, inner, kind);
  }
}

__global__ void bd__k_broadcast_dim(float *d, const float *a, int64_t outer,
                                    int64_t dim, int64_t inner, float alpha) {
  int64_t n = outer * dim * inner;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
       i += (int64_t)gridDim.x * blockDim.x) {
    int64_t o = i / (dim * inner), in = i % inner;
    d[i] = alpha * a[o * inner + in];
  }
}

bd_status bd_gpu_op_reduce(bd_gpu_ctx *ctx, const bd_op *op) {
  float *d = bd_gpu_f32(op->dst);
  switch (op->kind) {
    case BD_OP_REDUCE:
      bd__k_reduce<<<1, BD_RED_THREADS, 0, ctx->stream>>>(
          d, bd_gpu_f32(op->a), bd_tensor_numel(op->a), (int)op->reduce.kind);
      return bd_gpu_launched(ctx, "reduce");
    case BD_OP_SUM_ROWS: {
      int64_t rows = op->sum_rows.rows, cols = op->sum_rows.cols;
      if (cols == 0) return BD_OK;
      bd__k_sum_rows<<<bd_gpu_grid(cols), BD_GPU_THREADS, 0, ctx->stream>>>(
          d, bd_gpu_f32(op->a), rows, cols, op->sum_rows.beta);
      return bd_gpu_launched(ctx, "sum_rows");
    }
    case BD_OP_REDUCE_DIM: {
      const bd_dim_params *p = &op->dim;
      if (p->outer * p->inner == 0) return BD_OK;
      bd__k_reduce_dim<<<bd_gpu_grid(p->outer * p->inner), BD_GPU_THREADS, 0,
                         ctx->stream>>>(d, bd_gpu_f32(op->a), p->outer, p->dim,
                                        p->inner, (int)p->kind);
      return bd_gpu_launched(ctx, "reduce_dim");
    }
    case BD_OP_BROADCAST_DIM: {
      const bd_dim_params *p = &op->dim;
      int64_t n = p->outer * p->dim * p->inner;
      if (n == 0) return BD_OK;
      bd__k_broadcast_dim<<<bd_gpu_grid(n), BD_GPU_THREADS, 0, ctx->stream>>>(
          d, bd_gpu_f32(op->a), p->outer, p->dim, p->inner, p->alpha);
      return bd_gpu_launched(ctx, "broadcast_dim");
    }
    default:
      return bd_fail(BD_EUNSUPPORTED, "reduce: op %d", (int)op->kind);
  }
}
