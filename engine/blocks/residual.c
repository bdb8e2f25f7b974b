/* residual.c - a residual connection: y = x + body(x). The body is the
 * child "body"; its output must have the input's shape. Backward:
 * dx = dy + body'(dy). */
#include "../backend.h"
#include "../block.h"
#include "blocks.h"

static const bd_field residual_fields[] = {
    {.name = "body",
     .kind = BD_FIELD_BLOCK,
     .required = true,
     .doc = "the block whose output is added to its input"},
};

static bd_status residual_forward(bd_block *b, bd_exec *ex, bd_tensor *x,
                                  bd_tensor **y, void **saved) {
  bd_tensor *fx = NULL;
  bd_status s = bd_block_forward_child(b, 0, ex, x, &fx, saved);
  if (s) return s;
  if (!bd_tensor_same_shape(fx, x)) {
    char a[128], c[128];
    s = bd_fail(BD_ESHAPE,
                "layer %s (residual): its body returns shape %s but the "
                "input has shape %s; x + body(x) needs equal shapes",
                bd_exec_where(ex),
                bd_shape_str(fx->ndim, fx->shape, a, sizeof a),
                bd_shape_str(x->ndim, x->shape, c, sizeof c));
    bd_tensor_release(fx);
    return s;
  }
  s = bd_tensor_new(ex->dev, BD_F32, x->ndim, x->shape, y);
  if (!s) {
    bd_op add = bd_op_binary(*y, x, BD_BIN_ADD, fx);
    s = bd_tensor_numel(x) ? bd_op_run(&add) : BD_OK;
    if (s) {
      bd_tensor_release(*y);
      *y = NULL;
    }
  }
  bd_tensor_release(fx);
  return s;
}

static bd_status residual_backward(bd_block *b, bd_exec *ex, void *saved,
                                   bd_tensor *dy, bd_tensor **dx) {
  bd_tensor *g = NULL;
  bd_status s = bd_block_backward_child(b, 0, ex, saved, dy, dx ? &g : NULL);
  if (s || !dx) return s;
  s = bd_tensor_new(ex->dev, BD_F32, dy->ndim, dy->shape, dx);
  if (!s) {
    bd_op add = bd_op_binary(*dx, dy, BD_BIN_ADD, g);
    s = bd_tensor_numel(dy) ? bd_op_run(&add) : BD_OK;
    if (s) {
      bd_tensor_release(*dx);
      *dx = NULL;
    }
  }
  bd_tensor_release(g);
  return s;
}

/* x + body(x): row-wise when the body is. */
static bd_status residual_rows(const bd_block *b, const char *path,
                               bool training, int *ndim) {
  char sub[512];
  int nd = *ndim;
  return bd_block_rows(
      b->children[0],
      bd_rows_child_path(path, b->child_names[0], sub, sizeof sub), training,
      &nd);
}

const bd_block_type bd_block_residual = {
    .name = "residual",
    .doc = "x + body(x); the body is the child \"body\".",
    .fields = residual_fields,
    .nfields = BD_NFIELDS(residual_fields),
    .forward = residual_forward,
    .backward = residual_backward,
    .rows = residual_rows,
};

BD_BLOCKS_FILE_TYPES(residual, &bd_block_residual);
