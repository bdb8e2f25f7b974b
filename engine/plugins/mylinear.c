/* mylinear.c - the example plugin: the seed's MyLinear custom layer,
 *
 *   class MyLinear(nn.Module):
 *       def __init__(self, in_units, units):
 *           self.weight = nn.Parameter(torch.randn(in_units, units))
 *           self.bias = nn.Parameter(torch.randn(units,))
 *       def forward(self, X):
 *           return F.relu(torch.matmul(X, self.weight.data) + self.bias.data)
 *
 * Spec: {"type":"mylinear","in_units":5,"units":3}. Parameters weight
 * [in_units, units] and bias [units]; default init N(0, 1) for both, as
 * torch.randn. Everything is computed with device ops (bd_op_run), so the
 * layer runs on CPU and GPU models alike, and it has a backward, so it
 * trains. (The seed's forward reads .data, which hides the parameters from
 * autograd in PyTorch; blockd's MyLinear is the trainable version.) */
#include <stddef.h>

#include "engine/blockd_plugin.h"

typedef struct mylinear {
  int64_t in, units;
} mylinear;

typedef struct mylinear_saved {
  bd_tensor *x, *y; /* input and (post-relu) output */
} mylinear_saved;

/* The configuration: where each JSON field lands in struct mylinear.
 * blockd parses, checks (required, range) and prints these for us. */
static const bd_field mylinear_fields[] = {
    {.name = "in_units",
     .kind = BD_FIELD_INT,
     .required = true,
     .offset = offsetof(mylinear, in),
     .min = 1,
     .max = (double)BD_MAX_NUMEL,
     .doc = "input features (the last dim of x)"},
    {.name = "units",
     .kind = BD_FIELD_INT,
     .required = true,
     .offset = offsetof(mylinear, units),
     .min = 1,
     .max = (double)BD_MAX_NUMEL,
     .doc = "output features"},
};

/* b->impl already holds the configuration: declare the parameters. */
static bd_status mylinear_init(bd_block *b, bd_build_ctx *ctx) {
  const mylinear *l = b->impl;
  int64_t wshape[2] = {l->in, l->units};
  bd_status s = bd_block_add_param(b, ctx, "weight", 2, wshape, false, NULL);
  if (!s) s = bd_block_add_param(b, ctx, "bias", 1, &l->units, false, NULL);
  return s;
}

static bd_status mylinear_forward(bd_block *b, bd_exec *ex, bd_tensor *x,
                                  bd_tensor **y, void **saved) {
  const mylinear *l = b->impl;
  if (x->ndim < 1 || x->shape[x->ndim - 1] != l->in) {
    char sh[128];
    return bd_fail(BD_ESHAPE,
                   "layer %s (mylinear) expects %lld input features, got "
                   "input of shape %s",
                   bd_exec_where(ex), (long long)l->in,
                   bd_shape_str(x->ndim, x->shape, sh, sizeof sh));
  }
  int64_t shape[BD_MAX_DIMS];
  for (int i = 0; i < x->ndim; i++) shape[i] = x->shape[i];
  shape[x->ndim - 1] = l->units;
  bd_tensor *out;
  bd_status s = bd_tensor_new(ex->dev, BD_F32, x->ndim, shape, &out);
  if (s) return s;
  int64_t rows = bd_tensor_numel(x) / l->in;
  /* out = relu(x @ W + b): seed the rows with the bias, accumulate the
   * product, then clamp at zero in place. */
  bd_op ops[4] = {
      bd_op_fill(out, 0.0f),
      bd_op_binary(out, out, BD_BIN_ADD, b->params[1]->value),
      bd_op_gemm(out, x, false, b->params[0]->value, false, rows, l->units,
                 l->in, 1.0f, 1.0f),
      bd_op_unary(out, out, BD_UN_RELU, 0, 0),
  };
  for (int i = 0; i < 4 && !s; i++)
    if (rows || i == 0) s = bd_op_run(&ops[i]);
  if (!s && ex->record && saved) {
    mylinear_saved *ms = bd_exec_alloc(ex, sizeof *ms);
    if (!ms || !bd_exec_keep(ex, x) || !bd_exec_keep(ex, out)) {
      s = bd_fail(BD_ENOMEM, "out of host memory recording mylinear");
    } else {
      ms->x = x;
      ms->y = out;
      *saved = ms;
    }
  }
  if (s) {
    bd_tensor_release(out);
    return s;
  }
  *y = out;
  return BD_OK;
}

/* dst (+)= the op's result: overwrite when the gradient does not exist
 * yet, accumulate otherwise. */
static bd_status mylinear_accum(bd_param *p, bd_op *op) {
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

static bd_status mylinear_backward(bd_block *b, bd_exec *ex, void *saved,
                                   bd_tensor *dy, bd_tensor **dx) {
  const mylinear *l = b->impl;
  const mylinear_saved *ms = saved;
  if (!ms) return bd_fail(BD_EINTERNAL, "mylinear backward without forward");
  int64_t rows = bd_tensor_numel(ms->x) / l->in;
  /* dz = dy * relu'(z); y > 0 exactly where z > 0. */
  bd_tensor *dz;
  bd_status s = bd_tensor_new(ex->dev, BD_F32, dy->ndim, dy->shape, &dz);
  if (s) return s;
  bd_op relu = bd_op_unary_backward(dz, ms->y, dy, BD_UN_RELU, 0, 0);
  s = bd_op_run(&relu);
  bd_param *w = b->params[0], *bias = b->params[1];
  if (!s && w->requires_grad) {
    bd_op op = bd_op_gemm(NULL, ms->x, true, dz, false, l->in, l->units, rows,
                          1.0f, 0.0f);
    s = mylinear_accum(w, &op);
  }
  if (!s && bias->requires_grad) {
    bd_op op = bd_op_sum_rows(NULL, dz, rows, l->units, 0.0f);
    s = mylinear_accum(bias, &op);
  }
  if (!s && dx) {
    s = bd_tensor_new(ex->dev, BD_F32, ms->x->ndim, ms->x->shape, dx);
    if (!s) {
      bd_op op = bd_op_gemm(*dx, dz, false, w->value, true, rows, l->in,
                            l->units, 1.0f, 0.0f);
      s = bd_op_run(&op);
      if (s) {
        bd_tensor_release(*dx);
        *dx = NULL;
      }
    }
  }
  bd_tensor_release(dz);
  return s;
}

static bd_status mylinear_reset(bd_block *b, uint64_t seed, uint64_t *off) {
  bd_status s =
      bd_rng_fill(b->params[0]->value, BD_RNG_NORMAL, 0.0, 1.0, seed, off);
  if (!s)
    s = bd_rng_fill(b->params[1]->value, BD_RNG_NORMAL, 0.0, 1.0, seed, off);
  return s;
}

static const bd_plugin_layer mylinear_layer = {
    .name = "mylinear",
    .doc = "the seed's MyLinear: relu(x @ weight + bias)",
    .fields = mylinear_fields,
    .nfields = BD_NFIELDS(mylinear_fields),
    .impl_size = sizeof(mylinear),
    .init = mylinear_init,
    .forward = mylinear_forward,
    .backward = mylinear_backward,
    .reset = mylinear_reset,
};

static bd_status mylinear_register(bd_plugin_host *host) {
  return bd_plugin_add_layer(host, &mylinear_layer);
}

static const bd_plugin_info mylinear_info = {
    .abi_version = BLOCKD_PLUGIN_ABI_VERSION,
    .name = "mylinear",
    .version = "1.0",
    .register_types = mylinear_register,
};

/* The plugin's one exported entry point. */
const bd_plugin_info *blockd_plugin(void) { return &mylinear_info; }
