/* rng.c - host-side draws from the Philox stream. */
#include "rng.h"

#include "philox.h"

bd_status bd_rng_fill(bd_tensor *t, bd_rng_kind kind, double p0, double p1,
                      uint64_t seed, uint64_t *offset) {
  if (t->dtype != BD_F32)
    return bd_fail(BD_EDTYPE, "random fill needs a float32 tensor");
  bd_tensor *host = t;
  bool on_cpu = bd_tensor_device(t).type == BD_DEV_CPU;
  if (!on_cpu) {
    bd_status s = bd_tensor_new(BD_CPU, BD_F32, t->ndim, t->shape, &host);
    if (s) return s;
  }
  bd_op op = bd_op_rng(host, kind, seed, *offset, (float)p0, (float)p1);
  bd_status s = bd_op_run(&op);
  if (s == BD_OK && !on_cpu) s = bd_tensor_copy_into(t, host);
  if (!on_cpu) bd_tensor_release(host);
  if (s == BD_OK) *offset += bd_philox_blocks((uint64_t)bd_tensor_numel(t));
  return s;
}
