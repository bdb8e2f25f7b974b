/* scalar.c - element-wise arithmetic with a constant: "add" (x + value)
 * and "scale" (value * x). Together with matmul and while they express
 * the seed's FixedHiddenMLP (X @ rand_weight + 1, X /= 2). */
#include <math.h>
#include <stdlib.h>

#include "../backend.h"
#include "../block.h"
#include "blocks.h"

typedef struct scalar {
  double value;
} scalar;

static const bd_field scalar_fields[] = {
    {.name = "value",
     .kind = BD_FIELD_NUM,
     .required = true,
     .offset = offsetof(scalar, value),
     .doc = "the constant"},
};

static bool is_add(const bd_block *b) { return b->type == &bd_block_add; }

/* The constant is applied in float32: one that overflows it is refused. */
static bd_status scalar_init(bd_block *b, bd_build_ctx *ctx) {
  const scalar *c = b->impl;
  if (!isfinite((float)c->value))
    return bd_fail(BD_EINVAL, "%s.value: must be a finite float32",
                   bd_build_path(ctx));
  return BD_OK;
}

static bd_status scalar_run(bd_device dev, bd_tensor *a, bd_unary_kind k,
                            float v, bd_tensor **out) {
  bd_status s = bd_tensor_new(dev, BD_F32, a->ndim, a->shape, out);
  if (s) return s;
  bd_op op = bd_op_unary(*out, a, k, v, 0);
  s = bd_op_run(&op);
  if (s) {
    bd_tensor_release(*out);
    *out = NULL;
  }
  return s;
}

static bd_status scalar_forward(bd_block *b, bd_exec *ex, bd_tensor *x,
                                bd_tensor **y, void **saved) {
  (void)saved;
  const scalar *c = b->impl;
  return scalar_run(ex->dev, x, is_add(b) ? BD_UN_ADD : BD_UN_SCALE,
                    (float)c->value, y);
}

static bd_status scalar_backward(bd_block *b, bd_exec *ex, void *saved,
                                 bd_tensor *dy, bd_tensor **dx) {
  (void)saved;
  const scalar *c = b->impl;
  if (!dx) return BD_OK;
  if (is_add(b)) {
    *dx = bd_tensor_retain(dy);
    return BD_OK;
  }
  return scalar_run(ex->dev, dy, BD_UN_SCALE, (float)c->value, dx);
}

const bd_block_type bd_block_add = {
    .name = "add",
    .doc = "x + value.",
    .fields = scalar_fields,
    .nfields = BD_NFIELDS(scalar_fields),
    .impl_size = sizeof(scalar),
    .init = scalar_init,
    .forward = scalar_forward,
    .backward = scalar_backward,
    .rows = bd_rows_same,
};

const bd_block_type bd_block_scale = {
    .name = "scale",
    .doc = "value * x.",
    .fields = scalar_fields,
    .nfields = BD_NFIELDS(scalar_fields),
    .impl_size = sizeof(scalar),
    .init = scalar_init,
    .forward = scalar_forward,
    .backward = scalar_backward,
    .rows = bd_rows_same,
};

BD_BLOCKS_FILE_TYPES(scalar, &bd_block_add, &bd_block_scale);
