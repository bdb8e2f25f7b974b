/* parallel.c - branches that all see the same input, combined by
 * "concat" (along the last dim, the default) or "add". Branches are named
 * "0", "1", ... unless the spec names them. Backward: "add" hands dy to
 * every branch, "concat" hands each branch its slice of dy; the input
 * gradient is the sum over branches. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../backend.h"
#include "../block.h"
#include "blocks.h"

typedef struct parallel {
  int combine; /* index into parallel_combine */
  bool concat; /* combine == concat, for the hot path */
} parallel;

typedef struct parallel_saved {
  void **rec;     /* per branch */
  int64_t *width; /* concat: last-dim size of each branch's output */
  int64_t rows;   /* concat: product of the leading dims */
} parallel_saved;

static const char *const parallel_combine[] = {"concat", "add", NULL};

static const bd_field parallel_fields[] = {
    {.name = "branches",
     .kind = BD_FIELD_BLOCKS,
     .required = true,
     .count = 1,
     .doc = "the branches, named by \"name\" or position"},
    {.name = "combine",
     .kind = BD_FIELD_ENUM,
     .offset = offsetof(parallel, combine),
     .choices = parallel_combine,
     .doc = "concat: along the last dim; add: element-wise"},
};

static bd_status parallel_init(bd_block *b, bd_build_ctx *ctx) {
  (void)ctx;
  parallel *p = b->impl;
  p->concat = p->combine == 0;
  return BD_OK;
}

/* Checks that branch output o can be combined with the first output f. */
static bd_status parallel_check(const bd_block *b, bd_exec *ex, bool concat,
                                int i, const bd_tensor *f, const bd_tensor *o) {
  bool ok;
  if (concat) {
    ok = o->ndim >= 1 && o->ndim == f->ndim;
    for (int d = 0; ok && d < o->ndim - 1; d++) ok = o->shape[d] == f->shape[d];
  } else {
    ok = bd_tensor_same_shape(o, f);
  }
  if (ok) return BD_OK;
  char a[128], c[128];
  if (concat && o->ndim == 0)
    return bd_fail(BD_ESHAPE,
                   "layer %s (parallel, combine concat): branch %s returns "
                   "a 0-d tensor, which has no last dim to concatenate along",
                   bd_exec_where(ex), b->child_names[i]);
  return bd_fail(
      BD_ESHAPE,
      "layer %s (parallel, combine %s): branch %s returns shape "
      "%s but branch %s returns %s",
      bd_exec_where(ex), concat ? "concat" : "add", b->child_names[i],
      bd_shape_str(o->ndim, o->shape, a, sizeof a), b->child_names[0],
      bd_shape_str(f->ndim, f->shape, c, sizeof c));
}

static bd_status parallel_forward(bd_block *b, bd_exec *ex, bd_tensor *x,
                                  bd_tensor **y, void **saved) {
  const parallel *p = b->impl;
  int n = b->nchildren;
  bd_tensor **outs = calloc((size_t)n, sizeof *outs);
  if (!outs) return bd_fail(BD_ENOMEM, "out of host memory");
  parallel_saved *ps = NULL;
  bd_status s = BD_OK;
  if (ex->record && saved) {
    ps = bd_exec_alloc(ex, sizeof *ps);
    if (ps) ps->rec = bd_exec_alloc(ex, (size_t)n * sizeof *ps->rec);
    if (ps) ps->width = bd_exec_alloc(ex, (size_t)n * sizeof *ps->width);
    if (!ps || !ps->rec || !ps->width)
      s = bd_fail(BD_ENOMEM, "out of host memory recording parallel");
    if (!s) *saved = ps;
  }
  for (int i = 0; i < n && !s; i++) {
    s = bd_block_forward_child(b, i, ex, x, &outs[i], ps ? &ps->rec[i] : NULL);
    if (!s) s = parallel_check(b, ex, p->concat, i, outs[0], outs[i]);
  }
  if (!s) {
    const bd_tensor *f = outs[0];
    int64_t shape[BD_MAX_DIMS], total = 0;
    for (int d = 0; d < f->ndim; d++) shape[d] = f->shape[d];
    if (p->concat) {
      for (int i = 0; i < n; i++) total += outs[i]->shape[f->ndim - 1];
      shape[f->ndim - 1] = total;
    }
    s = bd_tensor_new(ex->dev, BD_F32, f->ndim, shape, y);
    int64_t numel = s ? 0 : bd_tensor_numel(*y);
    int64_t rows = p->concat && total ? numel / total : 0, at = 0;
    for (int i = 0; i < n && !s && numel; i++) {
      bd_op op;
      if (p->concat) {
        int64_t w = outs[i]->shape[f->ndim - 1];
        op = bd_op_copy_2d(*y, outs[i],
                           &(bd_copy_2d_params){rows, w, total, at, w, 0});
        at += w;
      } else if (i == 0) {
        op = bd_op_copy(*y, outs[0]);
      } else {
        op = bd_op_binary(*y, *y, BD_BIN_ADD, outs[i]);
      }
      if (!p->concat || op.copy_2d.cols) s = bd_op_run(&op);
    }
    if (!s && ps) {
      ps->rows = rows;
      for (int i = 0; i < n; i++)
        ps->width[i] = p->concat ? outs[i]->shape[f->ndim - 1] : 0;
    }
    if (s && *y) {
      bd_tensor_release(*y);
      *y = NULL;
    }
  }
  for (int i = 0; i < n; i++) bd_tensor_release(outs[i]);
  free(outs);
  return s;
}

static bd_status parallel_backward(bd_block *b, bd_exec *ex, void *saved,
                                   bd_tensor *dy, bd_tensor **dx) {
  const parallel *p = b->impl;
  const parallel_saved *ps = saved;
  if (!ps) return bd_fail(BD_EINTERNAL, "parallel backward without forward");
  bd_status s = BD_OK;
  bd_tensor *acc = NULL;
  int64_t total = 0, at = 0;
  for (int i = 0; i < b->nchildren; i++) total += ps->width[i];
  for (int i = 0; i < b->nchildren && !s; i++) {
    bd_tensor *g = NULL, *gin = NULL;
    if (p->concat) {
      int64_t shape[BD_MAX_DIMS];
      for (int d = 0; d < dy->ndim; d++) shape[d] = dy->shape[d];
      shape[dy->ndim - 1] = ps->width[i];
      s = bd_tensor_new(ex->dev, BD_F32, dy->ndim, shape, &g);
      bd_op op =
          bd_op_copy_2d(g, dy,
                        &(bd_copy_2d_params){ps->rows, ps->width[i],
                                             ps->width[i], 0, total, at});
      if (!s && ps->rows && ps->width[i]) s = bd_op_run(&op);
      at += ps->width[i];
    } else {
      g = bd_tensor_retain(dy);
    }
    if (!s)
      s = bd_block_backward_child(b, i, ex, ps->rec[i], g, dx ? &gin : NULL);
    bd_tensor_release(g);
    if (!s && dx) {
      if (!acc) {
        acc = gin;
        gin = NULL;
      } else {
        /* A fresh sum: acc may share storage with dy or a branch's input. */
        bd_tensor *sum = NULL;
        s = bd_tensor_new(ex->dev, BD_F32, acc->ndim, acc->shape, &sum);
        bd_op add = bd_op_binary(sum, acc, BD_BIN_ADD, gin);
        if (!s && bd_tensor_numel(sum)) s = bd_op_run(&add);
        bd_tensor_release(acc);
        acc = sum;
      }
    }
    bd_tensor_release(gin);
  }
  if (s || !dx) {
    bd_tensor_release(acc);
    return s;
  }
  *dx = acc;
  return BD_OK;
}

/* Every branch sees the input's dims; concat joins along the last dim,
 * which must not be the batch dim. */
static bd_status parallel_rows(const bd_block *b, const char *path,
                               bool training, int *ndim) {
  const parallel *p = b->impl;
  char sub[512];
  int out = *ndim;
  for (int i = 0; i < b->nchildren; i++) {
    int nd = *ndim;
    bd_status s = bd_block_rows(
        b->children[i],
        bd_rows_child_path(path, b->child_names[i], sub, sizeof sub), training,
        &nd);
    if (s) return s;
    out = nd;
  }
  if (p->concat && out < 2)
    return bd_rows_mixed(b, path,
                         "it concatenates along the last dim, which is the "
                         "batch dimension here");
  *ndim = out;
  return BD_OK;
}

const bd_block_type bd_block_parallel = {
    .name = "parallel",
    .doc =
        "Branches on the same input, combined by concatenation along the "
        "last dim or by addition.",
    .fields = parallel_fields,
    .nfields = BD_NFIELDS(parallel_fields),
    .impl_size = sizeof(parallel),
    .init = parallel_init,
    .forward = parallel_forward,
    .backward = parallel_backward,
    .rows = parallel_rows,
};

BD_BLOCKS_FILE_TYPES(parallel, &bd_block_parallel);
