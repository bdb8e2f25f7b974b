/* rng.cu - BD_OP_RNG on the GPU: element i of a draw is computed from
 * (seed, offset, i) with engine/philox.h exactly as on the CPU. One thread
 * per 128-bit Philox block (four elements). Uniform and Bernoulli draws are
 * bit-identical to the CPU (explicitly rounded multiply and add); normal
 * draws use the CPU's double-precision Box-Muller and may differ in the
 * last bit where CUDA's log/cos/sin round differently from glibc's. */
#include <math.h>

#include "engine/philox.h"
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
        double u1 = bd_u32_to_unit_open0(r.v[w]);
        double u2 = bd_u32_to_unit(r.v[w + 1]);
        double rad = sqrt(-2.0 * log(u1)), th = 6.283185307179586 * u2;
        d[i0 + w] = (float)(p0 + p1 * rad * cos(th));
        if (i0 + w + 1 < n) d[i0 + w + 1] = (float)(p0 + p1 * rad * sin(th));
      }
    } else {
      for (int w = 0; w < 4 && i0 + w < n; w++) {
        float u = bd_u32_to_unit(r.v[w]);
        if (kind == BD_RNG_BERNOULLI)
          d[i0 + w] = u < p0 ? 1.0f : 0.0f;
        else
          d[i0 + w] = __fadd_rn(p0, __fmul_rn(__fsub_rn(p1, p0), u));
      }
    }
  }
}

bd_status bd_gpu_op_rng(bd_gpu_ctx *ctx, const bd_op *op) {
  if (op->kind != BD_OP_RNG)
    return bd_fail(BD_EUNSUPPORTED, "rng: op %d", (int)op->kind);
  int64_t n = bd_tensor_numel(op->dst);
  if (n == 0) return BD_OK;
  int kind = (int)op->i[0];
  if (kind != BD_RNG_UNIFORM && kind != BD_RNG_NORMAL &&
      kind != BD_RNG_BERNOULLI)
    return bd_fail(BD_EINVAL, "rng: unknown distribution %d", kind);
  bd__k_rng<<<bd_gpu_grid((n + 3) / 4), BD_GPU_THREADS, 0, ctx->stream>>>(
      bd_gpu_f32(op->dst), n, kind, op->u[0], op->u[1], op->f[0], op->f[1]);
  return bd_gpu_launched(ctx, "rng");
}
