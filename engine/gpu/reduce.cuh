/* reduce.cuh - the CUDA backend's reduce op family: BD_OP_REDUCE,
 * BD_OP_SUM_ROWS, BD_OP_REDUCE_DIM and BD_OP_BROADCAST_DIM. */
#ifndef BD_GPU_REDUCE_CUH
#define BD_GPU_REDUCE_CUH

#include "gpu_common.cuh"

/* Runs op (one of this family's kinds) on ctx's stream. Operands are
 * contiguous and on ctx's device (checked by bd_op_run). Returns
 * BD_EUNSUPPORTED for kinds outside the family. */
bd_status bd_gpu_op_reduce(bd_gpu_ctx *ctx, const bd_op *op);

#endif
