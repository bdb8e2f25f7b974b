/* sgd.cu - BD_OP_SGD: PyTorch's SGD update (momentum, dampening, weight
 * decay, Nesterov) elementwise with engine/opmath.h's bd_sgd_update, the
 * CPU backend's float arithmetic in the same order (no contraction), so one
 * step gives the same bits. */
#include "engine/opmath.h"
#include "sgd.cuh"

__global__ void bd__k_sgd(float *p, const float *g, float *buf, int64_t n,
                          float lr, float mom, float wd, float damp,
                          bool nesterov, bool first) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
       i += (int64_t)gridDim.x * blockDim.x) {
    float unused = 0; /* stands in for buf when momentum == 0 */
    p[i] = bd_sgd_update(p[i], g[i], buf ? &buf[i] : &unused, lr, mom, wd, damp,
                         nesterov, first);
  }
}

bd_status bd_gpu_op_sgd(bd_gpu_ctx *ctx, const bd_op *op) {
  if (op->kind != BD_OP_SGD)
    return bd_fail(BD_EUNSUPPORTED, "sgd: op %d", (int)op->kind);
  int64_t n = bd_tensor_numel(op->dst);
  if (n == 0) return BD_OK;
  const bd_sgd_params *p = &op->sgd;
  /* bd_op_run requires buf whenever momentum != 0. */
  bd__k_sgd<<<bd_gpu_grid(n), BD_GPU_THREADS, 0, ctx->stream>>>(
      bd_gpu_f32(op->dst), bd_gpu_f32(op->a), bd_gpu_f32(op->buf), n, p->lr,
      p->momentum, p->weight_decay, p->dampening, p->nesterov, p->first_step);
  return bd_gpu_launched(ctx, "sgd");
}
