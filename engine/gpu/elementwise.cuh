/* elementwise.cuh - the CUDA backend's elementwise op family: BD_OP_FILL,
 * COPY, BINARY, UNARY, UNARY_BACKWARD, MASK_ABS_BELOW, CLAMP, COPY_2D. */
#ifndef BD_GPU_ELEMENTWISE_CUH
#define BD_GPU_ELEMENTWISE_CUH

#include "gpu_common.cuh"

/* Runs op (one of this family's kinds) on ctx's stream. Operands are
 * contiguous and on ctx's device (checked by bd_op_run). Returns
 * BD_EUNSUPPORTED for kinds outside the family. */
bd_status bd_gpu_op_elementwise(bd_gpu_ctx *ctx, const bd_op *op);

#endif
