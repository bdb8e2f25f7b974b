/* gemm.cuh - the CUDA backend's gemm op family: BD_OP_GEMM through cuBLAS
 * (row-major handled by swapping operands). */
#ifndef BD_GPU_GEMM_CUH
#define BD_GPU_GEMM_CUH

#include "gpu_common.cuh"

/* Runs op (one of this family's kinds) on ctx's stream. Operands are
 * contiguous and on ctx's device (checked by bd_op_run). Returns
 * BD_EUNSUPPORTED for kinds outside the family. */
bd_status bd_gpu_op_gemm(bd_gpu_ctx *ctx, const bd_op *op);

#endif
