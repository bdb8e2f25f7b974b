/* elementwise.cu - fill, copy, broadcasting binary ops, unary ops and
 * their gradients, mask_abs_below, clamp and strided 2-D copies: one thread per
 * element in a grid-stride loop, the same formulas as the CPU backend (compiled
 * without multiply-add contraction, see CMakeLists.txt). */
#include "elementwise.cuh"

#define BD_GRID_LOOP(i, n)                                                  \
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < (n); \
       i += (int64_t)gridDim.x * blockDim.x)

__device__ __forceinline__ float bd__un_fwd(int kind, float x, float p0,
                                            float p1) {
  switch (kind) {
    case BD_UN_RELU: /* as torch: NaN and -0 pass through */
      return x < 0.0f ? 0.0f : x;
    case BD_UN_SIGMOID:
      return 1.0f / (1.0f + expf(-x));
    case BD_UN_TANH:
      return tanhf(x);
    case BD_UN_GELU:
      return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
    case BD_UN_SCALE:
      return p0 * x;
    case BD_UN_ADD:
      return x + p0;
    case BD_UN_AFFINE:
      return p0 * x + p1;
    case BD_UN_ABS:
      return fabsf(x);
    case BD_UN_EXP:
      return expf(x);
    default:
      return x;
  }
}

__device__ __forceinline__ float bd__un_bwd(int kind, float x, float dy,
                                            float p0) {
  switch (kind) {
    case BD_UN_RELU:
      return x <= 0.0f ? 0.0f : dy;
    case BD_UN_SIGMOID: {
      float s = 1.0f / (1.0f + expf(-x));
      return dy * s * (1.0f - s);
    }
    case BD_UN_TANH: {
      float t = tanhf(x);
      return dy * (1.0f - t * t);
    }
    case BD_UN_GELU: {
      float cdf = 0.5f * (1.0f + erff(x * 0.70710678118654752f));
      float pdf = expf(-0.5f * x * x) * 0.39894228040143268f;
      return dy * (cdf + x * pdf);
    }
    case BD_UN_SCALE:
      return dy * p0;
    case BD_UN_ADD:
      return dy;
    case BD_UN_AFFINE:
      return dy * p0;
    case BD_UN_ABS:
      return x > 0 ? dy : (x < 0 ? -dy : 0.0f);
    case BD_UN_EXP:
      return dy * expf(x);
    default:
      return dy;
  }
}

__global__ void bd__k_fill(float *d, int64_t n, float v) {
  BD_GRID_LOOP(i, n) d[i] = v;
}

__global__ void bd__k_binary(float *d, const float *a, const float *b,
                             int64_t n, int64_t nb, int kind) {
  BD_GRID_LOOP(i, n) {
    float y = b[nb == n ? i : i % nb];
    switch (kind) {
      case BD_BIN_ADD:
        d[i] = a[i] + y;
        break;
      case BD_BIN_SUB:
        d[i] = a[i] - y;
        break;
      case BD_BIN_MUL:
        d[i] = a[i] * y;
        break;
      default:
        d[i] = a[i] / y;
        break;
    }
  }
}

__global__ void bd__k_unary(float *d, const float *a, int64_t n, int kind,
                            float p0, float p1) {
  BD_GRID_LOOP(i, n) d[i] = bd__un_fwd(kind, a[i], p0, p1);
}

__global__ void bd__k_unary_bwd(float *d, const float *x, const float *dy,
                                int64_t n, int kind, float p0) {
  BD_GRID_LOOP(i, n) d[i] = bd__un_bwd(kind, x[i], dy[i], p0);
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
      bd__k_fill<<<g, BD_GPU_THREADS, 0, s>>>(d, n, op->f[0]);
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
      if (nb == 0) return bd_fail(BD_ESHAPE, "empty operand");
      bd__k_binary<<<g, BD_GPU_THREADS, 0, s>>>(
          d, bd_gpu_f32(op->a), bd_gpu_f32(op->b), n, nb, (int)op->i[0]);
      what = "binary";
      break;
    }
    case BD_OP_UNARY:
      if (n == 0) return BD_OK;
      bd__k_unary<<<g, BD_GPU_THREADS, 0, s>>>(
          d, bd_gpu_f32(op->a), n, (int)op->i[0], op->f[0], op->f[1]);
      what = "unary";
      break;
    case BD_OP_UNARY_BACKWARD:
      if (n == 0) return BD_OK;
      bd__k_unary_bwd<<<g, BD_GPU_THREADS, 0, s>>>(
          d, bd_gpu_f32(op->a), bd_gpu_f32(op->b), n, (int)op->i[0], op->f[0]);
      what = "unary_backward";
      break;
    case BD_OP_MASK_ABS_BELOW:
      if (n == 0) return BD_OK;
      bd__k_mask_abs_below<<<g, BD_GPU_THREADS, 0, s>>>(d, bd_gpu_f32(op->a), n,
                                                        op->f[0]);
      what = "mask_abs_below";
      break;
    case BD_OP_CLAMP:
      if (n == 0) return BD_OK;
      bd__k_clamp<<<g, BD_GPU_THREADS, 0, s>>>(d, bd_gpu_f32(op->a), n,
                                               op->f[0], op->f[1]);
      what = "clamp";
      break;
    case BD_OP_COPY_2D: {
      int64_t rows = op->i[0], cols = op->i[1];
      if (rows <= 0 || cols <= 0) return BD_OK;
      bd__k_copy_2d<<<bd_gpu_grid(rows * cols), BD_GPU_THREADS, 0, s>>>(
          d, bd_gpu_f32(op->a), rows, cols, op->i[2], op->i[3], op->i[4],
          op->i[5]);
      what = "copy_2d";
      break;
    }
    default:
      return bd_fail(BD_EUNSUPPORTED, "elementwise: op %d", (int)op->kind);
  }
  return bd_gpu_launched(ctx, what);
}
