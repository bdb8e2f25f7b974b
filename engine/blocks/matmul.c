/* matmul.c - multiplication by a constant matrix: y = x @ weight over the
 * last dimension, where weight [k, n] is a non-trainable buffer (the
 * seed's FixedHiddenMLP.rand_weight). The buffer has its own init:
 * "uniform" = U[0, 1) like torch.rand (default), "normal" = N(0, 1) like
 * torch.randn, "zeros", "ones". It is saved in the state_dict as
 * "<path>.weight" and gets no gradient. */
#include <stdlib.h>
#include <string.h>

#include "../backend.h"
#include "../block.h"
#include "../rng.h"
#include "blocks.h"

typedef enum matmul_init {
  MATMUL_UNIFORM = 0,
  MATMUL_NORMAL,
  MATMUL_ZEROS,
  MATMUL_ONES
} matmul_init;

static const char *const matmul_init_names[] = {"uniform", "normal", "zeros",
                                                "ones", NULL};

typedef struct matmul {
  union {
    int64_t shape[2]; /* where the field table lands weight.shape */
    struct {
      int64_t k, n;
    };
  };
  int init; /* a matmul_init */
} matmul;

static const bd_field matmul_weight_fields[] = {
    {.name = "shape",
     .kind = BD_FIELD_INTS,
     .required = true,
     .offset = offsetof(matmul, shape),
     .count = 2,
     .min = 1,
     .max = (double)BD_MAX_NUMEL,
     .example = "[k, n]",
     .doc = "[k, n]: x [..., k] becomes [..., n]"},
    {.name = "init",
     .kind = BD_FIELD_ENUM,
     .offset = offsetof(matmul, init),
     .choices = matmul_init_names,
     .doc = "uniform = U[0,1) like torch.rand; normal = N(0,1) like "
            "torch.randn"},
};

static const bd_field matmul_fields[] = {
    {.name = "weight",
     .kind = BD_FIELD_OBJECT,
     .required = true,
     .sub = matmul_weight_fields,
     .nsub = BD_NFIELDS(matmul_weight_fields),
     .example = "{\"shape\":[k,n],\"init\":\"uniform\"}",
     .doc = "the constant matrix, a buffer"},
};

static bd_status matmul_setup(bd_block *b, bd_build_ctx *ctx) {
  const matmul *m = b->impl;
  return bd_block_add_param(b, ctx, "weight", 2, m->shape, true, NULL);
}

static bd_status matmul_forward(bd_block *b, bd_exec *ex, bd_tensor *x,
                                bd_tensor **y, void **saved) {
  const matmul *m = b->impl;
  if (x->ndim < 1 || x->shape[x->ndim - 1] != m->k) {
    char sh[128];
    bd_shape_str(x->ndim, x->shape, sh, sizeof sh);
    if (ex->prev_path[0])
      return bd_fail(BD_ESHAPE,
                     "layer %s (matmul) expects %lld input features, got "
                     "input %s from layer %s (%s)",
                     bd_exec_where(ex), (long long)m->k, sh, ex->prev_path,
                     ex->prev_type);
    return bd_fail(BD_ESHAPE,
                   "layer %s (matmul) expects %lld input features, got "
                   "input %s",
                   bd_exec_where(ex), (long long)m->k, sh);
  }
  int64_t shape[BD_MAX_DIMS];
  for (int i = 0; i < x->ndim; i++) shape[i] = x->shape[i];
  shape[x->ndim - 1] = m->n;
  bd_status s = bd_tensor_new(ex->dev, BD_F32, x->ndim, shape, y);
  if (s) return s;
  int64_t rows = bd_tensor_numel(x) / m->k;
  bd_op mm = bd_op_gemm(*y, x, false, b->params[0]->value, false, rows, m->n,
                        m->k, 1.0f, 0.0f);
  s = bd_op_run(&mm);
  if (!s && ex->record && saved) {
    /* Backward needs only the input's shape; the buffer is constant. */
    if (!bd_exec_keep(ex, x))
      s = bd_fail(BD_ENOMEM, "out of host memory recording matmul");
    else
      *saved = x;
  }
  if (s) {
    bd_tensor_release(*y);
    *y = NULL;
  }
  return s;
}

static bd_status matmul_backward(bd_block *b, bd_exec *ex, void *saved,
                                 bd_tensor *dy, bd_tensor **dx) {
  const matmul *m = b->impl;
  bd_tensor *x = saved;
  if (!x) return bd_fail(BD_EINTERNAL, "matmul backward without forward");
  if (!dx) return BD_OK;
  bd_status s = bd_tensor_new(ex->dev, BD_F32, x->ndim, x->shape, dx);
  if (s) return s;
  int64_t rows = bd_tensor_numel(x) / m->k;
  bd_op mm = bd_op_gemm(*dx, dy, false, b->params[0]->value, true, rows, m->k,
                        m->n, 1.0f, 0.0f);
  s = bd_op_run(&mm);
  if (s) {
    bd_tensor_release(*dx);
    *dx = NULL;
  }
  return s;
}

static bd_status matmul_reset(bd_block *b, uint64_t seed, uint64_t *off) {
  const matmul *m = b->impl;
  bd_tensor *w = b->params[0]->value;
  switch (m->init) {
    case MATMUL_NORMAL:
      return bd_rng_fill(w, BD_RNG_NORMAL, 0.0, 1.0, seed, off);
    case MATMUL_ZEROS:
    case MATMUL_ONES: {
      bd_op op = bd_op_fill(w, m->init == MATMUL_ONES ? 1.0f : 0.0f);
      return bd_op_run(&op);
    }
    default:
      return bd_rng_fill(w, BD_RNG_UNIFORM, 0.0, 1.0, seed, off);
  }
}

const bd_block_type bd_block_matmul = {
    .name = "matmul",
    .doc =
        "x @ weight with weight a fixed, non-trainable buffer (in the "
        "state_dict as <path>.weight).",
    .fields = matmul_fields,
    .nfields = BD_NFIELDS(matmul_fields),
    .impl_size = sizeof(matmul),
    .init = matmul_setup,
    .forward = matmul_forward,
    .backward = matmul_backward,
    .reset = matmul_reset,
    .rows = bd_rows_same,
};

BD_BLOCKS_FILE_TYPES(matmul, &bd_block_matmul);
