/* tensor_ops.h - the small op set of the named-tensor API (POST
 * /v1/tensors/ops): add, mul, matmul, sum, on any one device. */
#ifndef BD_TENSOR_OPS_H
#define BD_TENSOR_OPS_H

#include "tensor.h"

/* Runs op ("add", "mul", "matmul" or "sum") on a and b (b unused by sum,
 * may be NULL then) on their device; *out is a new float32 tensor on that
 * device. Inputs of another dtype are converted to float32 first (CPU
 * tensors only). Errors: EDEVMISMATCH when a and b are on different
 * devices (PyTorch's "expected all tensors to be on the same device"),
 * ESHAPE for shapes that do not broadcast / multiply (add, mul: b equal to
 * a's shape, to its trailing dims, or one element; matmul: [m,k] @ [k,n]
 * or [m,k] @ [k]), EINVAL for an unknown op, EDEVMEM/ENOMEM. */
bd_status bd_tensor_op(const char *op, bd_tensor *a, bd_tensor *b,
                       bd_tensor **out);

#endif
