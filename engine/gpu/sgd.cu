/* sgd.cu - BD_OP_SGD: PyTorch's SGD update (momentum, dampening, weight
 * decay, Nesterov) elementwise, with the CPU backend's float arithmetic in
 * the same order (no contraction), so one step gives the same bits. */
#include "sgd.cuh"

__global__ void bd__k_sgd(float *p, const float *g, float *buf, int64_t n,
                          float lr, float mom, float wd, float damp,
                          int nesterov, int first) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
       i += (int64_t)gridDim.x * blockDim.x) {
    float dp = g[i];
    if (wd != 0.0f) dp += wd * p[i];
    if (mom != 0.0f) {
      if (first)
        buf[i] = dp;
      else
        buf[i] = mom * buf[i] + (1.0f - damp) * dp;
      dp = nesterov ? dp + mom * buf[i] : buf[i];
    }
    p[i] -= lr * dp;
  }
}

bd_status bd_gpu_op_sgd(bd_gpu_ctx *ctx, const bd_op *op) {
  if (op->kind != BD_OP_SGD)
    return bd_fail(BD_EUNSUPPORTED, "sgd: op %d", (int)op->kind);
  int64_t n = bd_tensor_numel(op->dst);
  if (n == 0) return BD_OK;
  if (op->f[1] != 0.0f && !op->b)
    return bd_fail(BD_EINVAL, "sgd: momentum needs a momentum buffer");
  bd__k_sgd<<<bd_gpu_grid(n), BD_GPU_THREADS, 0, ctx->stream>>>(
      bd_gpu_f32(op->dst), bd_gpu_f32(op->a), bd_gpu_f32(op->b), n, op->f[0],
      op->f[1], op->f[2], op->f[3], (int)op->i[0], (int)op->i[1]);
  return bd_gpu_launched(ctx, "sgd");
}
