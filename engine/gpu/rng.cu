/* rng.cu - BD_OP_RNG on the GPU: element i of a draw is computed from
 * (seed, offset, i) with engine/philox.h exactly as on the CPU. One thread
 * per 128-bit Philox block (four elements); the transforms are
 * engine/opmath.h's. Uniform and Bernoulli draws are bit-identical to the
 * CPU (compiled without multiply-add contraction); normal
 * draws use the CPU's double-precision Box-Muller and may differ in the
 * last bit where CUDA's log/cos/sin round differently from glibc's. */
#include <math.h>

#include "engine/opmath.h"
#include "rng.cuh"

__global__ void bd__k_rng(float *d, int64_t n, int kind, uint64_t seed,
                          uint64_t off, float p0, float p1) {
  int64_t nblk = (n + 3) / 4;
  for (int64_t b = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; b < nblk;
       b += (int64_t)gridDim.x * blockDim.x) {
    bd_philox4 r = bd_philox(seed, off + (uint64_t)b);
    int64_t i0 = b * 4;
    if (kind == BD_RNG_NORMAL) {
      for (int w = 0; w < 4 && i0 + w < n; w += 2) {
        float z0, z1;
        bd_box_muller(r.v[w], r.v[w + 1], p0, p1, &z0, &z1);
        d[i0 + w] = z0;
        if (i0 + w + 1 < n) d[i0 + w + 1] = z1;
      }
    } else {
      for (int w = 0; w < 4 && i0 + w < n; w++) {
        float u = bd_u32_to_unit(r.v[w]);
        if (kind == BD_RNG_BERNOULLI)
          d[i0 + w] = u < p0 ? 1.0f : 0.0f;
        else
          d[i0 + w] = bd_uniform_from(u, p0, p1);
      }
    }
  }
}

bd_status bd_gpu_op_rng(bd_gpu_ctx *ctx, const bd_op *op) {
  if (op->kind != BD_OP_RNG)
    return bd_fail(BD_EUNSUPPORTED, "rng: op %d", (int)op->kind);
  int64_t n = bd_tensor_numel(op->dst);
  if (n == 0) return BD_OK;
  const bd_rng_params *p = &op->rng;
  bd__k_rng<<<bd_gpu_grid((n + 3) / 4), BD_GPU_THREADS, 0, ctx->stream>>>(
      bd_gpu_f32(op->dst), n, (int)p->kind, p->seed, p->offset, p->p0, p->p1);
  return bd_gpu_launched(ctx, "rng");
}
