/* flatten.c - nn.Flatten(start_dim=1, end_dim=-1): merges the dims
 * start_dim..end_dim into one (negative dims count from the end). The
 * output shares the input's storage; backward reshapes dy back. */
#include <stdlib.h>

#include "../block.h"
#include "blocks.h"

typedef struct flatten {
  int64_t start, end;
} flatten;

typedef struct flatten_saved {
  int ndim;
  int64_t shape[BD_MAX_DIMS];
} flatten_saved;

static const bd_field flatten_fields[] = {
    {.name = "start_dim",
     .kind = BD_FIELD_INT,
     .offset = offsetof(flatten, start),
     .def = 1,
     .min = -BD_MAX_DIMS,
     .max = BD_MAX_DIMS - 1,
     .doc = "first dim to flatten"},
    {.name = "end_dim",
     .kind = BD_FIELD_INT,
     .offset = offsetof(flatten, end),
     .def = -1,
     .min = -BD_MAX_DIMS,
     .max = BD_MAX_DIMS - 1,
     .doc = "last dim to flatten"},
};

static bd_status flatten_forward(bd_block *b, bd_exec *ex, bd_tensor *x,
                                 bd_tensor **y, void **saved) {
  const flatten *f = b->impl;
  /* torch.flatten treats a 0-d tensor as 1-d. */
  int nd = x->ndim ? x->ndim : 1;
  int64_t s0 = f->start < 0 ? f->start + nd : f->start;
  int64_t e0 = f->end < 0 ? f->end + nd : f->end;
  if (s0 < 0 || s0 >= nd || e0 < 0 || e0 >= nd || s0 > e0) {
    char sh[128];
    return bd_fail(BD_ESHAPE,
                   "layer %s (flatten) cannot flatten dims %lld..%lld of "
                   "an input of shape %s",
                   bd_exec_where(ex), (long long)f->start, (long long)f->end,
                   bd_shape_str(x->ndim, x->shape, sh, sizeof sh));
  }
  int64_t shape[BD_MAX_DIMS];
  int n = 0;
  for (int i = 0; i < s0; i++) shape[n++] = x->shape[i];
  int64_t m = 1;
  for (int64_t i = s0; i <= e0; i++) m *= x->ndim ? x->shape[i] : 1;
  shape[n++] = m;
  for (int i = (int)e0 + 1; i < x->ndim; i++) shape[n++] = x->shape[i];
  bd_status s = bd_tensor_reshape(x, n, shape, y);
  if (s) return s;
  if (ex->record && saved) {
    flatten_saved *fs = bd_exec_alloc(ex, sizeof *fs);
    if (!fs) {
      bd_tensor_release(*y);
      *y = NULL;
      return bd_fail(BD_ENOMEM, "out of host memory recording flatten");
    }
    fs->ndim = x->ndim;
    for (int i = 0; i < x->ndim; i++) fs->shape[i] = x->shape[i];
    *saved = fs;
  }
  return BD_OK;
}

static bd_status flatten_backward(bd_block *b, bd_exec *ex, void *saved,
                                  bd_tensor *dy, bd_tensor **dx) {
  (void)b;
  (void)ex;
  const flatten_saved *fs = saved;
  if (!fs) return bd_fail(BD_EINTERNAL, "flatten backward without forward");
  if (!dx) return BD_OK;
  return bd_tensor_reshape(dy, fs->ndim, fs->shape, dx);
}

/* Merging dims s..e keeps the rows apart unless dim 0 is among them. */
static bd_status flatten_rows(const bd_block *b, const char *path,
                              bool training, int *ndim) {
  (void)training;
  const flatten *f = b->impl;
  int nd = *ndim ? *ndim : 1;
  int64_t s0 = f->start < 0 ? f->start + nd : f->start;
  int64_t e0 = f->end < 0 ? f->end + nd : f->end;
  if (s0 <= 0) return bd_rows_mixed(b, path, "it flattens the batch dimension");
  if (e0 > s0 && e0 < nd) *ndim -= (int)(e0 - s0);
  return BD_OK;
}

const bd_block_type bd_block_flatten = {
    .name = "flatten",
    .doc = "nn.Flatten(start_dim, end_dim).",
    .fields = flatten_fields,
    .nfields = BD_NFIELDS(flatten_fields),
    .impl_size = sizeof(flatten),
    .forward = flatten_forward,
    .backward = flatten_backward,
    .rows = flatten_rows,
};

BD_BLOCKS_FILE_TYPES(flatten, &bd_block_flatten);
