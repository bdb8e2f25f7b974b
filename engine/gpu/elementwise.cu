/* elementwise.cu - fill, copy, broadcasting binary ops, unary ops and
 * their gradients, mask_abs_below, clamp and strided 2-D copies: one thread
 * per element in a grid-stride loop, with engine/opmath.h's formulas, the
 * CPU backend's (compiled without multiply-add contraction, see
 * CMakeLists.txt). */
#include "elementwise.cuh"
#include "engine/opmath.h"

#define BD_GRID_LOOP(i, n)                                                  \
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < (n); \
       i += (int64_t)gridDim.x * blockDim.x)

__global__ void bd__k_fill(float *d, int64_t n, float v) {
  BD_GRID_LOOP(i, n) d[i] = v;
}

__global__ void bd__k_binary(float *d, const float *a, const float *b,
                             int64_t n, int64_t nb, int kind) {
  BD_GRID_LOOP(i, n) {
    d[i] = bd_binary_apply(kind, a[i], b[nb == n ? i : i % nb]);
  }
}

__global__ void bd__k_unary(float *d, const float *a, int64_t n, int kind,
                            float p0, float p1) {
  BD_GRID_LOOP(i, n) d[i] = bd_unary_fwd(kind, a[i], p0, p1);
}

__global__ void bd__k_unary_bwd(float *d, const float *x, const float *dy,
                                int64_t n, int kind, float p0) {
  BD_GRID_LOOP(i, n) d[i] = bd_unary_bwd(kind, x[i], dy[i], p0);
}

__global__ void bd__k_mask_abs_below(float *d, const float *a, int64_t n,
                                     float t) {
  BD_GRID_LOOP(i, n) d[i] = fabsf(a[i]) < t ? 0.0f : a[i];
}

__global__ void bd__k_clamp(float *d, const float *a, int64_t n, float lo,
                            float hi) {
  BD_GRID_LOOP(i, n) d[i] = fminf(fmaxf(a[i], lo), hi);
}

__global__ void bd__k_copy_2d(float *d, const float *a, int64_t rows,
                              int64_t cols, int64_t dstride, int64_t doff,
                              int64_t astride, int64_t aoff) {
  BD_GRID_LOOP(i, rows * cols) {
    int64_t r = i / cols, j = i % cols;
    d[r * dstride + doff + j] = a[r * astride + aoff + j];
  }
}

bd_status bd_gpu_op_elementwise(bd_gpu_ctx *ctx, const bd_op *op) {
  float *d = bd_gpu_f32(op->dst);
  int64_t n = bd_tensor_numel(op->dst);
  unsigned g = bd_gpu_grid(n);
  cudaStream_t s = ctx->stream;
  const char *what = "elementwise";
  switch (op->kind) {
    case BD_OP_FILL:
      if (n == 0) return BD_OK;
      bd__k_fill<<<g, BD_GPU_THREADS, 0, s>>>(d, n, op->fill.value);
      what = "fill";
      break;
    case BD_OP_COPY: {
      size_t nb = bd_tensor_nbytes(op->dst);
      if (nb == 0) return BD_OK;
      BD_CU(ctx, cudaMemcpyAsync(bd_tensor_data(op->dst), bd_tensor_data(op->a),
                                 nb, cudaMemcpyDeviceToDevice, s));
      return BD_OK;
    }
    case BD_OP_BINARY: {
      int64_t nb = bd_tensor_numel(op->b);
      if (n == 0) return BD_OK;
      bd__k_binary<<<g, BD_GPU_THREADS, 0, s>>>(
          d, bd_gpu_f32(op->a), bd_gpu_f32(op->b), n, nb, (int)op->binary.kind);
      what = "binary";
      break;
    }
    case BD_OP_UNARY:
      if (n == 0) return BD_OK;
      bd__k_unary<<<g, BD_GPU_THREADS, 0, s>>>(d, bd_gpu_f32(op->a), n,
                                               (int)op->unary.kind,
                                               op->unary.p0, op->unary.p1);
      what = "unary";
      break;
    case BD_OP_UNARY_BACKWARD:
      if (n == 0) return BD_OK;
      bd__k_unary_bwd<<<g, BD_GPU_THREADS, 0, s>>>(
          d, bd_gpu_f32(op->a), bd_gpu_f32(op->b), n, (int)op->unary.kind,
          op->unary.p0);
      what = "unary_backward";
      break;
    case BD_OP_MASK_ABS_BELOW:
      if (n == 0) return BD_OK;
      bd__k_mask_abs_below<<<g, BD_GPU_THREADS, 0, s>>>(d, bd_gpu_f32(op->a), n,
                                                        op->clamp.lo);
      what = "mask_abs_below";
      break;
    case BD_OP_CLAMP:
      if (n == 0) return BD_OK;
      bd__k_clamp<<<g, BD_GPU_THREADS, 0, s>>>(d, bd_gpu_f32(op->a), n,
                                               op->clamp.lo, op->clamp.hi);
      what = "clamp";
      break;
    case BD_OP_COPY_2D: {
      const bd_copy_2d_params *p = &op->copy_2d;
      if (p->rows <= 0 || p->cols <= 0) return BD_OK;
      bd__k_copy_2d<<<bd_gpu_grid(p->rows * p->cols), BD_GPU_THREADS, 0, s>>>(
          d, bd_gpu_f32(op->a), p->rows, p->cols, p->dst_stride, p->dst_offset,
          p->src_stride, p->src_offset);
      what = "copy_2d";
      break;
    }
    default:
      return bd_fail(BD_EUNSUPPORTED, "elementwise: op %d", (int)op->kind);
  }
  return bd_gpu_launched(ctx, what);
}
