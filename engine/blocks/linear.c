/* linear.c - nn.Linear: y = x @ W^T + b over the last dimension. */
#include <math.h>
#include <stdlib.h>

#include "../backend.h"
#include "../block.h"
#include "../rng.h"
#include "blocks.h"

typedef struct linear {
  int64_t in, out;
  bool bias;
} linear;

static const bd_field linear_fields[] = {
    {.name = "in_features",
     .kind = BD_FIELD_INT,
     .required = true,
     .offset = offsetof(linear, in),
     .min = 1,
     .max = (double)BD_MAX_NUMEL,
     .doc = "size of each input sample (the last dim)"},
    {.name = "out_features",
     .kind = BD_FIELD_INT,
     .required = true,
     .offset = offsetof(linear, out),
     .min = 1,
     .max = (double)BD_MAX_NUMEL,
     .doc = "size of each output sample"},
    {.name = "bias",
     .kind = BD_FIELD_BOOL,
     .offset = offsetof(linear, bias),
     .def = 1,
     .doc = "whether the layer learns an additive bias"},
};

static bd_status linear_init(bd_block *b, bd_build_ctx *ctx) {
  const linear *l = b->impl;
  int64_t wshape[2] = {l->out, l->in};
  bd_status s = bd_block_add_param(b, ctx, "weight", 2, wshape, false, NULL);
  if (!s && l->bias)
    s = bd_block_add_param(b, ctx, "bias", 1, &l->out, false, NULL);
  return s;
}

static bd_status linear_forward(bd_block *b, bd_exec *ex, bd_tensor *x,
                                bd_tensor **y, void **saved) {
  const linear *l = b->impl;
  if (x->ndim < 1 || x->shape[x->ndim - 1] != l->in) {
    char sh[128];
    bd_shape_str(x->ndim, x->shape, sh, sizeof sh);
    if (ex->prev_path[0])
      return bd_fail(BD_ESHAPE,
                     "layer %s (linear) expects %lld input features, got "
                     "%lld: its input %s comes from layer %s (%s)",
                     bd_exec_where(ex), (long long)l->in,
                     x->ndim ? (long long)x->shape[x->ndim - 1] : 0LL, sh,
                     ex->prev_path, ex->prev_type);
    return bd_fail(BD_ESHAPE,
                   "layer %s (linear) expects %lld input features, got %lld "
                   "(input shape %s)",
                   bd_exec_where(ex), (long long)l->in,
                   x->ndim ? (long long)x->shape[x->ndim - 1] : 0LL, sh);
  }
  int64_t shape[BD_MAX_DIMS];
  for (int i = 0; i < x->ndim; i++) shape[i] = x->shape[i];
  shape[x->ndim - 1] = l->out;
  bd_tensor *out;
  bd_status s = bd_tensor_new(ex->dev, BD_F32, x->ndim, shape, &out);
  if (s) return s;
  int64_t rows = bd_tensor_numel(x) / l->in;
  bd_tensor *w = b->params[0]->value;
  /* out = x @ W^T (beta = 0: no zero-fill needed), then the bias is added
   * in place over every row: two passes over out instead of three. */
  bd_op mm =
      bd_op_gemm(out, x, false, w, true, rows, l->out, l->in, 1.0f, 0.0f);
  s = bd_op_run(&mm);
  if (!s && l->bias) {
    bd_op add = bd_op_binary(out, out, BD_BIN_ADD, b->params[1]->value);
    s = bd_op_run(&add);
  }
  if (s) {
    bd_tensor_release(out);
    return s;
  }
  if (ex->record && saved) {
    if (!bd_exec_keep(ex, x)) {
      bd_tensor_release(out);
      return bd_fail(BD_ENOMEM, "out of host memory recording linear");
    }
    *saved = x;
  }
  *y = out;
  return BD_OK;
}

/* Accumulates into p->grad with one GEMM (beta = 1 once it exists). */
static bd_status linear_grad_gemm(bd_param *p, bd_op *op) {
  float beta = 1.0f;
  if (!p->grad) {
    bd_status s = bd_tensor_new(bd_tensor_device(p->value), BD_F32,
                                p->value->ndim, p->value->shape, &p->grad);
    if (s) return s;
    beta = 0.0f;
  }
  op->dst = p->grad;
  if (op->kind == BD_OP_GEMM)
    op->gemm.beta = beta;
  else
    op->sum_rows.beta = beta;
  return bd_op_run(op);
}

static bd_status linear_backward(bd_block *b, bd_exec *ex, void *saved,
                                 bd_tensor *dy, bd_tensor **dx) {
  const linear *l = b->impl;
  bd_tensor *x = saved;
  if (!x) return bd_fail(BD_EINTERNAL, "linear backward without forward");
  int64_t rows = bd_tensor_numel(x) / l->in;
  bd_param *w = b->params[0];
  bd_status s = BD_OK;
  if (w->requires_grad) {
    bd_op op =
        bd_op_gemm(NULL, dy, true, x, false, l->out, l->in, rows, 1.0f, 0.0f);
    s = linear_grad_gemm(w, &op);
  }
  if (!s && l->bias && b->params[1]->requires_grad) {
    bd_op op = bd_op_sum_rows(NULL, dy, rows, l->out, 0.0f);
    s = linear_grad_gemm(b->params[1], &op);
  }
  if (!s && dx) {
    s = bd_tensor_new(ex->dev, BD_F32, x->ndim, x->shape, dx);
    if (!s) {
      bd_op op = bd_op_gemm(*dx, dy, false, w->value, false, rows, l->in,
                            l->out, 1.0f, 0.0f);
      s = bd_op_run(&op);
      if (s) {
        bd_tensor_release(*dx);
        *dx = NULL;
      }
    }
  }
  return s;
}

static bd_status linear_reset(bd_block *b, uint64_t seed, uint64_t *off) {
  const linear *l = b->impl;
  /* kaiming_uniform_(a=sqrt(5)) reduces to U(-1/sqrt(fan_in), ..). */
  double bound = 1.0 / sqrt((double)l->in);
  bd_status s = bd_rng_fill(b->params[0]->value, BD_RNG_UNIFORM, -bound, bound,
                            seed, off);
  if (!s && l->bias)
    s = bd_rng_fill(b->params[1]->value, BD_RNG_UNIFORM, -bound, bound, seed,
                    off);
  return s;
}

const bd_block_type bd_block_linear = {
    .name = "linear",
    .doc =
        "nn.Linear(in_features, out_features, bias): y = x W^T + b; "
        "weight [out, in], bias [out].",
    .fields = linear_fields,
    .nfields = BD_NFIELDS(linear_fields),
    .impl_size = sizeof(linear),
    .init = linear_init,
    .forward = linear_forward,
    .backward = linear_backward,
    .reset = linear_reset,
    .rows = bd_rows_same,
};

BD_BLOCKS_FILE_TYPES(linear, &bd_block_linear);
