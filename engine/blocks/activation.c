/* activation.c - element-wise activations without parameters: relu,
 * sigmoid, tanh, gelu (exact, erf-based, as nn.GELU()). They differ only
 * in the backend's unary op, so they share one implementation. */
#include "../backend.h"
#include "../block.h"
#include "blocks.h"

static bd_unary_kind act_kind(const bd_block *b) {
  if (b->type == &bd_block_sigmoid) return BD_UN_SIGMOID;
  if (b->type == &bd_block_tanh) return BD_UN_TANH;
  if (b->type == &bd_block_gelu) return BD_UN_GELU;
  return BD_UN_RELU;
}

static bd_status act_forward(bd_block *b, bd_exec *ex, bd_tensor *x,
                             bd_tensor **y, void **saved) {
  bd_status s = bd_tensor_new(ex->dev, BD_F32, x->ndim, x->shape, y);
  if (s) return s;
  bd_op op = bd_op_unary(*y, x, act_kind(b), 0, 0);
  s = bd_op_run(&op);
  if (!s && ex->record && saved) {
    if (!bd_exec_keep(ex, x))
      s = bd_fail(BD_ENOMEM, "out of host memory recording %s", b->type->name);
    else
      *saved = x;
  }
  if (s) {
    bd_tensor_release(*y);
    *y = NULL;
  }
  return s;
}

static bd_status act_backward(bd_block *b, bd_exec *ex, void *saved,
                              bd_tensor *dy, bd_tensor **dx) {
  bd_tensor *x = saved;
  if (!dx) return BD_OK;
  bd_status s = bd_tensor_new(ex->dev, BD_F32, x->ndim, x->shape, dx);
  if (s) return s;
  bd_op op = bd_op_unary_backward(*dx, x, dy, act_kind(b), 0, 0);
  s = bd_op_run(&op);
  if (s) {
    bd_tensor_release(*dx);
    *dx = NULL;
  }
  return s;
}

#define BD_ACTIVATION(var, nm, help)                   \
  const bd_block_type var = {.name = nm,               \
                             .doc = help,              \
                             .forward = act_forward,   \
                             .backward = act_backward, \
                             .rows = bd_rows_same}

BD_ACTIVATION(bd_block_relu, "relu", "nn.ReLU.");
BD_ACTIVATION(bd_block_sigmoid, "sigmoid", "nn.Sigmoid.");
BD_ACTIVATION(bd_block_tanh, "tanh", "nn.Tanh.");
BD_ACTIVATION(bd_block_gelu, "gelu", "nn.GELU (exact, erf).");

BD_BLOCKS_FILE_TYPES(activation, &bd_block_relu, &bd_block_sigmoid,
                     &bd_block_tanh, &bd_block_gelu);
