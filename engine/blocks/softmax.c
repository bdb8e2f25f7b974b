/* softmax.c - nn.Softmax(dim): exp(x) / sum(exp(x)) along one dim
 * (negative dims count from the end; a 0-d input is treated as 1-d, as
 * PyTorch does). Backward uses the saved output: dx = y * (dy - <dy, y>). */
#include <stdlib.h>

#include "../backend.h"
#include "../block.h"
#include "blocks.h"

typedef struct softmax {
  int64_t dim;
} softmax;

static const bd_field softmax_fields[] = {
    {.name = "dim",
     .kind = BD_FIELD_INT,
     .offset = offsetof(softmax, dim),
     .def = -1,
     .min = -BD_MAX_DIMS,
     .max = BD_MAX_DIMS - 1,
     .doc = "the dim along which the outputs sum to 1"},
};

/* Views t as [outer, dim, inner] for the block's dim. */
static bd_status softmax_view(const bd_block *b, bd_exec *ex,
                              const bd_tensor *t, int64_t v[3]) {
  const softmax *m = b->impl;
  int nd = t->ndim ? t->ndim : 1;
  int64_t d = m->dim < 0 ? m->dim + nd : m->dim;
  if (d < 0 || d >= nd) {
    char sh[128];
    return bd_fail(BD_ESHAPE,
                   "layer %s (softmax): dim %lld is out of range for an "
                   "input of shape %s",
                   bd_exec_where(ex), (long long)m->dim,
                   bd_shape_str(t->ndim, t->shape, sh, sizeof sh));
  }
  v[0] = v[2] = 1;
  v[1] = t->ndim ? t->shape[d] : 1;
  for (int64_t i = 0; i < d; i++) v[0] *= t->shape[i];
  for (int64_t i = d + 1; i < t->ndim; i++) v[2] *= t->shape[i];
  return BD_OK;
}

static bd_status softmax_forward(bd_block *b, bd_exec *ex, bd_tensor *x,
                                 bd_tensor **y, void **saved) {
  int64_t v[3] = {1, 1, 1}; /* gcc -O3 cannot see bd_fail != BD_OK */
  bd_status s = softmax_view(b, ex, x, v);
  if (!s) s = bd_tensor_new(ex->dev, BD_F32, x->ndim, x->shape, y);
  if (s) return s;
  bd_op op = bd_op_softmax(*y, x, v[0], v[1], v[2]);
  s = bd_op_run(&op);
  if (!s && ex->record && saved) {
    if (!bd_exec_keep(ex, *y))
      s = bd_fail(BD_ENOMEM, "out of host memory recording softmax");
    else
      *saved = *y;
  }
  if (s) {
    bd_tensor_release(*y);
    *y = NULL;
  }
  return s;
}

static bd_status softmax_backward(bd_block *b, bd_exec *ex, void *saved,
                                  bd_tensor *dy, bd_tensor **dx) {
  bd_tensor *y = saved;
  if (!y) return bd_fail(BD_EINTERNAL, "softmax backward without forward");
  if (!dx) return BD_OK;
  int64_t v[3] = {1, 1, 1}; /* gcc -O3 cannot see bd_fail != BD_OK */
  bd_status s = softmax_view(b, ex, y, v);
  if (!s) s = bd_tensor_new(ex->dev, BD_F32, y->ndim, y->shape, dx);
  if (s) return s;
  bd_op op = bd_op_softmax_backward(*dx, y, dy, v[0], v[1], v[2]);
  s = bd_op_run(&op);
  if (s) {
    bd_tensor_release(*dx);
    *dx = NULL;
  }
  return s;
}

/* Normalising along any dim but the batch dim keeps the rows apart. */
static bd_status softmax_rows(const bd_block *b, const char *path,
                              bool training, int *ndim) {
  (void)training;
  const softmax *m = b->impl;
  int nd = *ndim ? *ndim : 1;
  int64_t d = m->dim < 0 ? m->dim + nd : m->dim;
  if (d == 0)
    return bd_rows_mixed(b, path, "it normalises along the batch dimension");
  return BD_OK;
}

const bd_block_type bd_block_softmax = {
    .name = "softmax",
    .doc = "nn.Softmax(dim); negative dims count from the end.",
    .fields = softmax_fields,
    .nfields = BD_NFIELDS(softmax_fields),
    .impl_size = sizeof(softmax),
    .forward = softmax_forward,
    .backward = softmax_backward,
    .rows = softmax_rows,
};

BD_BLOCKS_FILE_TYPES(softmax, &bd_block_softmax);
