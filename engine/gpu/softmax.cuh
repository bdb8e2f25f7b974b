/* softmax.cuh - the CUDA backend's softmax op family: BD_OP_SOFTMAX,
 * SOFTMAX_BACKWARD, CROSS_ENTROPY and its backward. */
#ifndef BD_GPU_SOFTMAX_CUH
#define BD_GPU_SOFTMAX_CUH

#include "gpu_common.cuh"

/* Runs op (one of this family's kinds) on ctx's stream. Operands are
 * contiguous and on ctx's device (checked by bd_op_run). Returns
 * BD_EUNSUPPORTED for kinds outside the family. */
bd_status bd_gpu_op_softmax(bd_gpu_ctx *ctx, const bd_op *op);

#endif
