/* req_limits.c - the per-request cap on tensor sizes (see req_limits.h). */
#include "req_limits.h"

#include "../engine/tensor.h"

static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

bd_status srv_cap_begin_model(srv_req *r, bd_model *m, int64_t *prev) {
  int64_t count = 0, bytes = 0;
  bd_status s = bd_model_count(m, &count, &bytes);
  if (s) return s;
  /* bytes / 4 bounds the elements of any float32 parameter or buffer,
   * so gradients and device copies of the largest one always fit. */
  *prev = bd_tensor_set_thread_cap(
      max64(r->app->cfg.max_elements, max64(count, bytes / 4)));
  return BD_OK;
}

int64_t srv_cap_begin_elems(srv_req *r, int64_t na, int64_t nb) {
  return bd_tensor_set_thread_cap(
      max64(r->app->cfg.max_elements, max64(na, nb)));
}

void srv_cap_end(int64_t prev) { bd_tensor_set_thread_cap(prev); }
