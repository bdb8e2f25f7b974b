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

static const char *const flatten_keys[] = {"start_dim", "end_dim", NULL};

static bd_status flatten_create(bd_block *b, const cJSON *spec,
                                bd_build_ctx *ctx) {
  flatten *f = calloc(1, sizeof *f);
  if (!f) return bd_fail(BD_ENOMEM, "out of host memory");
  b->impl = f;
  bd_status s = bd_spec_check_keys(ctx, spec, flatten_keys);
  if (!s)
    s = bd_spec_int(ctx, spec, "start_dim", false, 1, -BD_MAX_DIMS,
                    BD_MAX_DIMS - 1, &f->start);
  if (!s)
    s = bd_spec_int(ctx, spec, "end_dim", false, -1, -BD_MAX_DIMS,
                    BD_MAX_DIMS - 1, &f->end);
  return s;
}

static bd_status flatten_to_spec(const bd_block *b, cJSON *o, void *sc) {
  (void)sc;
  const flatten *f = b->impl;
  cJSON_AddNumberToObject(o, "start_dim", (double)f->start);
  cJSON_AddNumberToObject(o, "end_dim", (double)f->end);
  return BD_OK;
}

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

static void flatten_free(bd_block *b) { free(b->impl); }

const bd_block_type bd_block_flatten = {
    .name = "flatten",
    .create = flatten_create,
    .to_spec = flatten_to_spec,
    .forward = flatten_forward,
    .backward = flatten_backward,
    .free_impl = flatten_free,
};
