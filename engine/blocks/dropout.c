/* dropout.c - nn.Dropout(p): in train mode each element is zeroed with
 * probability p and the survivors are scaled by 1/(1-p); in eval mode it
 * is the identity. The mask is drawn on the model's device from the
 * model's Philox stream (BD_OP_RNG, bernoulli with keep-probability 1-p);
 * the counter range is reserved with an atomic add on *ex->rng_offset, so
 * concurrent forward passes never share a mask. Backward reuses the very
 * mask of the forward pass. */
#include <stdlib.h>

#include "../backend.h"
#include "../block.h"
#include "blocks.h"

typedef struct dropout {
  double p;
} dropout;

typedef struct dropout_saved {
  bd_tensor *mask; /* scaled keep mask; NULL = identity (eval, p == 0) */
} dropout_saved;

static const bd_field dropout_fields[] = {
    {.name = "p",
     .kind = BD_FIELD_NUM,
     .offset = offsetof(dropout, p),
     .def = 0.5,
     .ranged = true,
     .min = 0,
     .max = 1,
     .doc = "probability of an element to be zeroed in train mode"},
};

/* A new scaled keep mask shaped like x, drawn from the model's stream. */
static bd_status dropout_mask(const dropout *d, bd_exec *ex, bd_tensor *x,
                              bd_tensor **mask) {
  if (!ex->rng_offset)
    return bd_fail(BD_EINTERNAL, "layer %s (dropout): no RNG stream",
                   bd_exec_where(ex));
  bd_status s = bd_tensor_new(ex->dev, BD_F32, x->ndim, x->shape, mask);
  if (s) return s;
  int64_t n = bd_tensor_numel(x);
  uint64_t blocks = (uint64_t)(n + 3) / 4;
  uint64_t off = __atomic_fetch_add(ex->rng_offset, blocks, __ATOMIC_RELAXED);
  double keep = 1.0 - d->p;
  bd_op rng = bd_op_rng(*mask, BD_RNG_BERNOULLI, ex->seed, off, (float)keep, 0);
  s = bd_op_run(&rng);
  if (!s && keep > 0.0) {
    bd_op sc = bd_op_unary(*mask, *mask, BD_UN_SCALE, (float)(1.0 / keep), 0);
    s = bd_op_run(&sc);
  }
  if (s) {
    bd_tensor_release(*mask);
    *mask = NULL;
  }
  return s;
}

static bd_status dropout_forward(bd_block *b, bd_exec *ex, bd_tensor *x,
                                 bd_tensor **y, void **saved) {
  const dropout *d = b->impl;
  dropout_saved *ds = NULL;
  if (ex->record && saved) {
    ds = bd_exec_alloc(ex, sizeof *ds);
    if (!ds) return bd_fail(BD_ENOMEM, "out of host memory recording dropout");
    *saved = ds;
  }
  if (!ex->training || d->p == 0.0 || bd_tensor_numel(x) == 0) {
    *y = bd_tensor_retain(x);
    return BD_OK;
  }
  bd_tensor *mask = NULL;
  bd_status s = dropout_mask(d, ex, x, &mask);
  if (!s) s = bd_tensor_new(ex->dev, BD_F32, x->ndim, x->shape, y);
  if (!s) {
    bd_op mul = bd_op_binary(*y, x, BD_BIN_MUL, mask);
    s = bd_op_run(&mul);
    if (s) {
      bd_tensor_release(*y);
      *y = NULL;
    }
  }
  if (!s && ds) {
    if (!bd_exec_keep(ex, mask)) {
      s = bd_fail(BD_ENOMEM, "out of host memory recording dropout");
      bd_tensor_release(*y);
      *y = NULL;
    } else {
      ds->mask = mask;
    }
  }
  bd_tensor_release(mask);
  return s;
}

static bd_status dropout_backward(bd_block *b, bd_exec *ex, void *saved,
                                  bd_tensor *dy, bd_tensor **dx) {
  (void)b;
  const dropout_saved *ds = saved;
  if (!ds) return bd_fail(BD_EINTERNAL, "dropout backward without forward");
  if (!dx) return BD_OK;
  if (!ds->mask) {
    *dx = bd_tensor_retain(dy);
    return BD_OK;
  }
  bd_status s = bd_tensor_new(ex->dev, BD_F32, dy->ndim, dy->shape, dx);
  if (s) return s;
  bd_op mul = bd_op_binary(*dx, dy, BD_BIN_MUL, ds->mask);
  s = bd_op_run(&mul);
  if (s) {
    bd_tensor_release(*dx);
    *dx = NULL;
  }
  return s;
}

/* In train mode the mask comes from the model's random stream, so a
 * request's mask would depend on where it sits in a batch. */
static bd_status dropout_rows(const bd_block *b, const char *path,
                              bool training, int *ndim) {
  (void)ndim;
  const dropout *d = b->impl;
  if (training && d->p > 0)
    return bd_rows_mixed(b, path,
                         "in train mode its mask is drawn for the whole "
                         "batch (switch the model to eval mode)");
  return BD_OK;
}

const bd_block_type bd_block_dropout = {
    .name = "dropout",
    .doc =
        "nn.Dropout(p): identity in eval mode; in train mode the mask "
        "comes from the model's RNG.",
    .fields = dropout_fields,
    .nfields = BD_NFIELDS(dropout_fields),
    .impl_size = sizeof(dropout),
    .forward = dropout_forward,
    .backward = dropout_backward,
    .rows = dropout_rows,
};

BD_BLOCKS_FILE_TYPES(dropout, &bd_block_dropout);
