/* reduce.c - "sum" and "mean": torch.sum(x, dim, keepdim) and
 * torch.mean(x, dim, keepdim).
 *
 * Without dim the reduction covers every element (x.sum(): a 0-d result;
 * with keepdim every dimension stays, at size 1, as torch.sum(x, None,
 * True)). With dim (negative counts from the end; a 0-d input counts as
 * 1-d, as in torch) the input is viewed as [outer, len, inner] and reduced
 * along len; keepdim keeps that dimension at size 1. The all-element case
 * is the same view with outer = inner = 1, so backward is one broadcast of
 * the upstream gradient along len (scaled by 1 / len for mean). A mean
 * over no elements is refused (torch gives NaN). */
#include "../backend.h"
#include "../block.h"
#include "blocks.h"

typedef struct reduce {
  int64_t dim;
  bool has_dim; /* false: every element */
  bool keepdim;
} reduce;

static const bd_field reduce_fields[] = {
    {.name = "dim",
     .kind = BD_FIELD_INT,
     .optional = true,
     .offset = offsetof(reduce, dim),
     .offset2 = offsetof(reduce, has_dim),
     .min = -BD_MAX_DIMS,
     .max = BD_MAX_DIMS - 1,
     .doc = "the dim to reduce (negative counts from the end); absent or "
            "null: every element"},
    {.name = "keepdim",
     .kind = BD_FIELD_BOOL,
     .offset = offsetof(reduce, keepdim),
     .doc = "keep the reduced dim (every dim without dim) at size 1"},
};

/* What backward needs: the input's shape and the view that was reduced. */
typedef struct reduce_saved {
  int ndim;
  int64_t shape[BD_MAX_DIMS];
  int64_t outer, len, inner;
} reduce_saved;

static bool is_mean(const bd_block *b) { return b->type == &bd_block_mean; }

/* The [outer, len, inner] view v of x that b reduces and the shape of the
 * result (*ndim, shape). ESHAPE when dim does not fit x or a mean would
 * average no elements. */
static bd_status reduce_plan(const bd_block *b, bd_exec *ex, const bd_tensor *x,
                             int64_t v[3], int *ndim, int64_t *shape) {
  const reduce *r = b->impl;
  int nd = x->ndim;
  v[0] = v[2] = 1;
  *ndim = 0;
  if (!r->has_dim) {
    v[1] = bd_tensor_numel(x);
    if (r->keepdim)
      for (; *ndim < nd; (*ndim)++) shape[*ndim] = 1;
    if (is_mean(b) && v[1] == 0)
      return bd_fail(BD_ESHAPE, "layer %s (mean) needs a non-empty input",
                     bd_exec_where(ex));
    return BD_OK;
  }
  int64_t span = nd ? nd : 1;
  int64_t d = r->dim < 0 ? r->dim + span : r->dim;
  char sh[128];
  if (d < 0 || d >= span)
    return bd_fail(BD_ESHAPE,
                   "layer %s (%s): dim %lld is out of range for an input "
                   "of shape %s",
                   bd_exec_where(ex), b->type->name, (long long)r->dim,
                   bd_shape_str(x->ndim, x->shape, sh, sizeof sh));
  v[1] = nd ? x->shape[d] : 1;
  for (int i = 0; i < nd; i++) {
    if (i < d) v[0] *= x->shape[i];
    if (i > d) v[2] *= x->shape[i];
    if (i != d)
      shape[(*ndim)++] = x->shape[i];
    else if (r->keepdim)
      shape[(*ndim)++] = 1;
  }
  if (is_mean(b) && v[1] == 0 && v[0] * v[2] > 0)
    return bd_fail(BD_ESHAPE,
                   "layer %s (mean): dim %lld of an input of shape %s has "
                   "length 0, and the mean of no elements has no value",
                   bd_exec_where(ex), (long long)r->dim,
                   bd_shape_str(x->ndim, x->shape, sh, sizeof sh));
  return BD_OK;
}

static bd_status reduce_forward(bd_block *b, bd_exec *ex, bd_tensor *x,
                                bd_tensor **y, void **saved) {
  const reduce *r = b->impl;
  bd_reduce_kind kind = is_mean(b) ? BD_RED_MEAN : BD_RED_SUM;
  int64_t v[3], shape[BD_MAX_DIMS];
  int ndim;
  bd_status s = reduce_plan(b, ex, x, v, &ndim, shape);
  if (!s) s = bd_tensor_new(ex->dev, BD_F32, ndim, shape, y);
  if (s) return s;
  if (!r->has_dim) {
    bd_op op = bd_op_reduce(*y, x, kind);
    s = bd_op_run(&op);
  } else if (bd_tensor_numel(*y) > 0) {
    bd_op op = bd_op_reduce_dim(*y, x, kind, v[0], v[1], v[2]);
    s = bd_op_run(&op);
  }
  if (!s && ex->record && saved) {
    reduce_saved *rs = bd_exec_alloc(ex, sizeof *rs);
    if (!rs) {
      s = bd_fail(BD_ENOMEM, "out of host memory recording %s", b->type->name);
    } else {
      rs->ndim = x->ndim;
      for (int i = 0; i < x->ndim; i++) rs->shape[i] = x->shape[i];
      rs->outer = v[0];
      rs->len = v[1];
      rs->inner = v[2];
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
  if (bd_tensor_numel(dy) != rs->outer * rs->inner)
    return bd_fail(BD_ESHAPE,
                   "layer %s (%s): the gradient has %lld elements, the "
                   "output %lld",
                   bd_exec_where(ex), b->type->name,
                   (long long)bd_tensor_numel(dy),
                   (long long)(rs->outer * rs->inner));
  bd_status s = bd_tensor_new(ex->dev, BD_F32, rs->ndim, rs->shape, dx);
  if (s || bd_tensor_numel(*dx) == 0) return s;
  float alpha = is_mean(b) ? (float)(1.0 / (double)rs->len) : 1.0f;
  bd_op op = bd_op_broadcast_dim(*dx, dy, rs->outer, rs->len, rs->inner, alpha);
  s = bd_op_run(&op);
  if (s) {
    bd_tensor_release(*dx);
    *dx = NULL;
  }
  return s;
}

/* A reduction keeps the rows apart only along a dim other than the batch
 * dim; without dim it reduces everything. */
static bd_status reduce_rows(const bd_block *b, const char *path, bool training,
                             int *ndim) {
  (void)training;
  const reduce *r = b->impl;
  if (!r->has_dim)
    return bd_rows_mixed(b, path, "without dim it reduces the whole tensor");
  int span = *ndim ? *ndim : 1;
  int64_t d = r->dim < 0 ? r->dim + span : r->dim;
  if (d == 0)
    return bd_rows_mixed(b, path, "it reduces along the batch dimension");
  if (!r->keepdim) *ndim -= 1;
  return BD_OK;
}

const bd_block_type bd_block_sum = {
    .name = "sum",
    .doc =
        "torch.sum(x, dim, keepdim): every element (a 0-d result) "
        "without dim.",
    .fields = reduce_fields,
    .nfields = BD_NFIELDS(reduce_fields),
    .impl_size = sizeof(reduce),
    .forward = reduce_forward,
    .backward = reduce_backward,
    .rows = reduce_rows,
};

const bd_block_type bd_block_mean = {
    .name = "mean",
    .doc =
        "torch.mean(x, dim, keepdim): every element (a 0-d result) "
        "without dim.",
    .fields = reduce_fields,
    .nfields = BD_NFIELDS(reduce_fields),
    .impl_size = sizeof(reduce),
    .forward = reduce_forward,
    .backward = reduce_backward,
    .rows = reduce_rows,
};

BD_BLOCKS_FILE_TYPES(reduce, &bd_block_sum, &bd_block_mean);
