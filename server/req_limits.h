/* req_limits.h - the per-request cap on tensor sizes.
 *
 * A forward, backward or tensor op may create tensors far larger than its
 * input (an [N, 1] input through Linear(1, N) makes N*N values; a while
 * loop whose body concatenates its input doubles it each turn). Without a
 * cap such a request can make the daemon allocate until the kernel kills
 * it. While the cap is set, every tensor the request's thread creates is
 * limited to max(--max-elements, the model's or the operands' own size);
 * a larger one fails with 413 too_large and nothing changes. */
#ifndef SRV_REQ_LIMITS_H
#define SRV_REQ_LIMITS_H

#include <stdint.h>

#include "../engine/model.h"
#include "http.h"

/* Sets the calling thread's tensor cap for a computation of model m
 * (--max-elements, or m's parameter and buffer elements when larger) and
 * stores the previous cap in *prev for srv_cap_end. Takes m's read lock
 * briefly. Errors: ENOMEM (counting m's state); the cap is unchanged and
 * srv_cap_end must not be called then. */
bd_status srv_cap_begin_model(srv_req *r, bd_model *m, int64_t *prev);
/* The same for a tensor op on operands of na and nb elements. */
int64_t srv_cap_begin_elems(srv_req *r, int64_t na, int64_t nb);
/* Restores the cap srv_cap_begin_* returned. */
void srv_cap_end(int64_t prev);

#endif
