/* infer.c - srv_infer_forward: today the same computation as POST
 * /v1/models/{m}/forward (the request's tensor cap around one forward). */
#include "infer.h"

#include "req_limits.h"

bd_status srv_infer_forward(srv_req *r, bd_model *m, bd_tensor *x,
                            bd_tensor **y) {
  int64_t cap;
  bd_status s = srv_cap_begin_model(r, m, &cap);
  if (s) return s;
  s = bd_model_forward(m, x, y);
  srv_cap_end(cap);
  return s;
}
