/* cpu_ops.h - the CPU backend's op families, one file each as in
 * engine/gpu: gemm.c, elementwise.c, reduce.c, softmax.c, rng.c, sgd.c.
 * backend_cpu.c dispatches to them. Internal to engine/cpu.
 *
 * Each function runs one op of its family. The op has passed bd_op_run's
 * checks: every operand it reads or writes is present, contiguous, of the
 * dtype and element count its kind requires, and on the CPU. Returns
 * BD_EUNSUPPORTED for a kind outside the family. */
#ifndef BD_CPU_OPS_H
#define BD_CPU_OPS_H

#include "engine/op.h"

bd_status bd_cpu_op_gemm(const bd_op *op);
/* FILL, COPY, BINARY, UNARY, UNARY_BACKWARD, MASK_ABS_BELOW, CLAMP,
 * COPY_2D. */
bd_status bd_cpu_op_elementwise(const bd_op *op);
/* REDUCE, SUM_ROWS, REDUCE_DIM, BROADCAST_DIM. */
bd_status bd_cpu_op_reduce(const bd_op *op);
/* SOFTMAX, SOFTMAX_BACKWARD, CROSS_ENTROPY, CROSS_ENTROPY_BACKWARD. */
bd_status bd_cpu_op_softmax(const bd_op *op);
bd_status bd_cpu_op_rng(const bd_op *op);
bd_status bd_cpu_op_sgd(const bd_op *op);

#endif
