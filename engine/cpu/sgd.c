/* sgd.c - BD_OP_SGD on the CPU: engine/opmath.h's update per element, the
 * same float arithmetic in the same order as the CUDA kernel. */
#include "cpu_ops.h"
#include "engine/opmath.h"

bd_status bd_cpu_op_sgd(const bd_op *op) {
  if (op->kind != BD_OP_SGD)
    return bd_fail(BD_EUNSUPPORTED, "sgd: op %d", (int)op->kind);
  const bd_sgd_params *p = &op->sgd;
  float *d = bd_tensor_f32(op->dst);
  const float *g = bd_tensor_f32(op->a);
  /* bd_op_run requires buf whenever momentum != 0. */
  float *buf = op->buf ? bd_tensor_f32(op->buf) : NULL;
  int64_t n = bd_tensor_numel(op->dst);
  float unused = 0; /* stands in for buf when momentum == 0 */
  for (int64_t i = 0; i < n; i++)
    d[i] = bd_sgd_update(d[i], g[i], buf ? &buf[i] : &unused, p->lr,
                         p->momentum, p->weight_decay, p->dampening,
                         p->nesterov, p->first_step);
  return BD_OK;
}
