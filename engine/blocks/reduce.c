/* reduce.c - "sum" and "mean" over all elements: x.sum() / x.mean(), a
 * 0-d result. Backward broadcasts the scalar upstream gradient (divided by
 * the element count for mean) back to the input's shape. */
#include "../backend.h"
#include "../block.h"
#include "blocks.h"

typedef struct reduce_saved {
  int ndim;
  int64_t shape[BD_MAX_DIMS];
} reduce_saved;

static bool is_mean(const bd_block *b) { return b->type == &bd_block_mean; }

static bd_status reduce_forward(bd_block *b, bd_exec *ex, bd_tensor *x,
                                bd_tensor **y, void **saved) {
  if (is_mean(b) && bd_tensor_numel(x) == 0)
    return bd_fail(BD_ESHAPE, "layer %s (mean) needs a non-empty input",
                   bd_exec_where(ex));
  bd_status s = bd_tensor_new(ex->dev, BD_F32, 0, NULL, y);
  if (s) return s;
  bd_op op = bd_op_reduce(*y, x, is_mean(b) ? BD_RED_MEAN : BD_RED_SUM);
  s = bd_op_run(&op);
  if (!s && ex->record && saved) {
    reduce_saved *rs = bd_exec_alloc(ex, sizeof *rs);
    if (!rs) {
      s = bd_fail(BD_ENOMEM, "out of host memory recording %s", b->type->name);
    } else {
      rs->ndim = x->ndim;
      for (int i = 0; i < x->ndim; i++) rs->shape[i] = x->shape[i];
      *saved = rs;
    }
  }
  if (s) {
    bd_tensor_release(*y);
    *y = NULL;
  }
  return s;
}

static bd_status reduce_backward(bd_block *b, bd_exec *ex, void *saved,
                                 bd_tensor *dy, bd_tensor **dx) {
  const reduce_saved *rs = saved;
  if (!rs) return bd_fail(BD_EINTERNAL, "reduce backward without forward");
  if (!dx) return BD_OK;
  if (bd_tensor_numel(dy) != 1)
    return bd_fail(BD_ESHAPE, "layer %s (%s): the gradient of a reduction "
                   "must have one element", bd_exec_where(ex),
                   b->type->name);
  bd_status s = bd_tensor_zeros(ex->dev, BD_F32, rs->ndim, rs->shape, dx);
  if (s) return s;
  int64_t n = bd_tensor_numel(*dx);
  bd_op add = bd_op_binary(*dx, *dx, BD_BIN_ADD, dy);
  s = n ? bd_op_run(&add) : BD_OK;
  if (!s && n && is_mean(b)) {
    bd_op sc =
        bd_op_unary(*dx, *dx, BD_UN_SCALE, (float)(1.0 / (double)n), 0);
    s = bd_op_run(&sc);
  }
  if (s) {
    bd_tensor_release(*dx);
    *dx = NULL;
  }
  return s;
}

const bd_block_type bd_block_sum = {
    .name = "sum",
    .doc = "x.sum() over all elements: a 0-d result.",
    .forward = reduce_forward,
    .backward = reduce_backward,
};

const bd_block_type bd_block_mean = {
    .name = "mean",
    .doc = "x.mean() over all elements: a 0-d result.",
    .forward = reduce_forward,
    .backward = reduce_backward,
};

BD_BLOCKS_FILE_TYPES(reduce, &bd_block_sum, &bd_block_mean);
