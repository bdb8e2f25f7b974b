/* infer.h - the one call through which a v2 infer computes.
 *
 * The KServe v2 route decodes the request, then calls srv_infer_forward
 * and encodes what it returns; it never calls the engine's forward itself,
 * so queueing and dynamic batching can be put behind this call without
 * touching the protocol code. */
#ifndef SRV_INFER_H
#define SRV_INFER_H

#include "../engine/model.h"
#include "http.h"

/* Runs model m on x (borrowed, a CPU tensor of any dtype the engine
 * converts to float32) for request r under r's per-request tensor cap,
 * and stores the output, a new reference to a CPU tensor, in *y. Errors:
 * those of bd_model_forward (ESHAPE, EDTYPE, ETOOLARGE, ENOMEM, EDEVMEM,
 * ...) with their messages set; *y is untouched then. */
bd_status srv_infer_forward(srv_req *r, bd_model *m, bd_tensor *x,
                            bd_tensor **y);

#endif
