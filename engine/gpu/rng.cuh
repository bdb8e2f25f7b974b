/* rng.cuh - the CUDA backend's rng op family: BD_OP_RNG: the Philox stream
 * of engine/philox.h, element for element. */
#ifndef BD_GPU_RNG_CUH
#define BD_GPU_RNG_CUH

#include "gpu_common.cuh"

/* Runs op (one of this family's kinds) on ctx's stream. Operands are
 * contiguous and on ctx's device (checked by bd_op_run). Returns
 * BD_EUNSUPPORTED for kinds outside the family. */
bd_status bd_gpu_op_rng(bd_gpu_ctx *ctx, const bd_op *op);

#endif
