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

static const char *const scalar_keys[] = {"value", NULL};

static bool is_add(const bd_block *b) { return b->type == &bd_block_add; }

static bd_status scalar_create(bd_block *b, const cJSON *spec,
                               bd_build_ctx *ctx) {
  scalar *c = calloc(1, sizeof *c);
  if (!c) return bd_fail(BD_ENOMEM, "out of host memory");
  b->impl = c;
  bd_status s = bd_spec_check_keys(ctx, spec, scalar_keys);
  if (!s) s = bd_spec_num(ctx, spec, "value", true, 0, &c->value);
  if (!s && !isfinite((float)c->value))
    s = bd_fail(BD_EINVAL, "%s.value: must be a finite float32",
                bd_build_path(ctx));
  return s;
}

static bd_status scalar_to_spec(const bd_block *b, cJSON *o, void *sc) {
  (void)sc;
  const scalar *c = b->impl;
  cJSON_AddNumberToObject(o, "value", c->value);
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

static void scalar_free(bd_block *b) { free(b->impl); }

const bd_block_type bd_block_add = {
    .name = "add",
    .create = scalar_create,
    .to_spec = scalar_to_spec,
    .forward = scalar_forward,
    .backward = scalar_backward,
    .free_impl = scalar_free,
};

const bd_block_type bd_block_scale = {
    .name = "scale",
    .create = scalar_create,
    .to_spec = scalar_to_spec,
    .forward = scalar_forward,
    .backward = scalar_backward,
    .free_impl = scalar_free,
};
