/* rng.c - BD_OP_RNG on the CPU: element i of a draw comes from Philox
 * block offset + i / 4, word i % 4 (engine/philox.h), transformed by
 * engine/opmath.h exactly as the CUDA kernel does. */
#include "cpu_ops.h"
#include "engine/opmath.h"

bd_status bd_cpu_op_rng(const bd_op *op) {
  if (op->kind != BD_OP_RNG)
    return bd_fail(BD_EUNSUPPORTED, "rng: op %d", (int)op->kind);
  const bd_rng_params *p = &op->rng;
  float *d = bd_tensor_f32(op->dst);
  int64_t n = bd_tensor_numel(op->dst);
  if (p->kind == BD_RNG_NORMAL) {
    /* Box-Muller: element pair (2j, 2j+1) uses words 2j, 2j+1 of the
     * stream (4 words give two pairs). */
    for (int64_t i = 0; i < n; i += 2) {
      bd_philox4 r = bd_philox(p->seed, p->offset + (uint64_t)(i / 4));
      int w = (int)(i % 4);
      float z0, z1;
      bd_box_muller(r.v[w], r.v[w + 1], p->p0, p->p1, &z0, &z1);
      d[i] = z0;
      if (i + 1 < n) d[i + 1] = z1;
    }
    return BD_OK;
  }
  for (int64_t i = 0; i < n; i++) {
    bd_philox4 r = bd_philox(p->seed, p->offset + (uint64_t)(i / 4));
    float u = bd_u32_to_unit(r.v[i % 4]);
    if (p->kind == BD_RNG_BERNOULLI)
      d[i] = u < p->p0 ? 1.0f : 0.0f;
    else
      d[i] = bd_uniform_from(u, p->p0, p->p1);
  }
  return BD_OK;
}
