/* centered.c - the seed's CenteredLayer: y = x - x.mean() over all
 * elements. Its Jacobian is I - 1/n, so dx = dy - dy.mean(). */
#include "../backend.h"
#include "../block.h"
#include "blocks.h"

/* out = a - mean(a), a new tensor on dev. */
static bd_status center(bd_device dev, bd_tensor *a, bd_tensor **out) {
  bd_tensor *mean = NULL;
  bd_status s = bd_tensor_new(dev, BD_F32, 0, NULL, &mean);
  if (!s) s = bd_tensor_new(dev, BD_F32, a->ndim, a->shape, out);
  if (s) {
    bd_tensor_release(mean);
    return s;
  }
  bd_op red = bd_op_reduce(mean, a, BD_RED_MEAN);
  bd_op sub = bd_op_binary(*out, a, BD_BIN_SUB, mean);
  s = bd_op_run(&red);
  if (!s) s = bd_op_run(&sub);
  bd_tensor_release(mean);
  if (s) {
    bd_tensor_release(*out);
    *out = NULL;
  }
  return s;
}

static bd_status centered_forward(bd_block *b, bd_exec *ex, bd_tensor *x,
                                  bd_tensor **y, void **saved) {
  (void)b;
  (void)saved;
  if (bd_tensor_numel(x) == 0)
    return bd_fail(BD_ESHAPE, "layer %s (centered) needs a non-empty input",
                   bd_exec_where(ex));
  return center(ex->dev, x, y);
}

static bd_status centered_backward(bd_block *b, bd_exec *ex, void *saved,
                                   bd_tensor *dy, bd_tensor **dx) {
  (void)b;
  (void)saved;
  if (!dx) return BD_OK;
  return center(ex->dev, dy, dx);
}

static bd_status centered_rows(const bd_block *b, const char *path,
                               bool training, int *ndim) {
  (void)training;
  (void)ndim;
  return bd_rows_mixed(b, path,
                       "it subtracts the mean of the whole tensor, every "
                       "row included");
}

const bd_block_type bd_block_centered = {
    .name = "centered",
    .doc = "the seed's CenteredLayer: x - x.mean() over all elements.",
    .forward = centered_forward,
    .backward = centered_backward,
    .rows = centered_rows,
};

BD_BLOCKS_FILE_TYPES(centered, &bd_block_centered);
