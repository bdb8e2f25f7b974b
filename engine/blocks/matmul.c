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
  int64_t k, n;
  matmul_init init;
} matmul;

static const char *const matmul_keys[] = {"weight", NULL};
static const char *const matmul_weight_keys[] = {"shape", "init", NULL};

static bd_status matmul_create(bd_block *b, const cJSON *spec,
                               bd_build_ctx *ctx) {
  matmul *m = calloc(1, sizeof *m);
  if (!m) return bd_fail(BD_ENOMEM, "out of host memory");
  b->impl = m;
  const char *path = bd_build_path(ctx);
  bd_status s = bd_spec_check_keys(ctx, spec, matmul_keys);
  if (s) return s;
  const cJSON *w = cJSON_GetObjectItemCaseSensitive(spec, "weight");
  if (!w) return bd_fail(BD_EINVAL, "%s.weight: missing", path);
  if (!cJSON_IsObject(w))
    return bd_fail(BD_EINVAL, "%s.weight: must be an object "
                   "{\"shape\":[k,n],\"init\":\"uniform\"}", path);
  for (const cJSON *it = w->child; it; it = it->next) {
    bool ok = false;
    for (const char *const *k = matmul_weight_keys; *k && !ok; k++)
      ok = strcmp(*k, it->string) == 0;
    if (!ok)
      return bd_fail(BD_EINVAL, "%s.weight.%s: unknown field", path,
                     it->string);
  }
  const cJSON *shape = cJSON_GetObjectItemCaseSensitive(w, "shape");
  if (!shape) return bd_fail(BD_EINVAL, "%s.weight.shape: missing", path);
  if (!cJSON_IsArray(shape) || cJSON_GetArraySize(shape) != 2)
    return bd_fail(BD_EINVAL, "%s.weight.shape: must be [k, n]", path);
  int64_t dims[2];
  for (int i = 0; i < 2; i++) {
    const cJSON *d = cJSON_GetArrayItem(shape, i);
    double v = cJSON_IsNumber(d) ? d->valuedouble : -1;
    /* Range before the cast: (int64_t)1e120 is undefined. */
    if (!cJSON_IsNumber(d) || !(v >= 1 && v <= (double)BD_MAX_NUMEL) ||
        v != (double)(int64_t)v)
      return bd_fail(BD_EINVAL, "%s.weight.shape[%d]: must be a positive "
                     "integer", path, i);
    dims[i] = (int64_t)v;
  }
  m->k = dims[0];
  m->n = dims[1];
  const cJSON *init = cJSON_GetObjectItemCaseSensitive(w, "init");
  if (init) {
    int found = -1;
    for (int i = 0; cJSON_IsString(init) && matmul_init_names[i]; i++)
      if (strcmp(matmul_init_names[i], init->valuestring) == 0) found = i;
    if (found < 0)
      return bd_fail(BD_EINVAL, "%s.weight.init: must be one of uniform, "
                     "normal, zeros, ones", path);
    m->init = (matmul_init)found;
  }
  return bd_block_add_param(b, ctx, "weight", 2, dims, true, NULL);
}

static bd_status matmul_to_spec(const bd_block *b, cJSON *o, void *sc) {
  (void)sc;
  const matmul *m = b->impl;
  cJSON *w = cJSON_AddObjectToObject(o, "weight");
  if (!w) return bd_fail(BD_ENOMEM, "out of host memory printing a spec");
  const double dims[2] = {(double)m->k, (double)m->n};
  cJSON_AddItemToObject(w, "shape", cJSON_CreateDoubleArray(dims, 2));
  cJSON_AddStringToObject(w, "init", matmul_init_names[m->init]);
  return BD_OK;
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
                   "input %s", bd_exec_where(ex), (long long)m->k, sh);
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

static void matmul_free(bd_block *b) { free(b->impl); }

const bd_block_type bd_block_matmul = {
    .name = "matmul",
    .create = matmul_create,
    .to_spec = matmul_to_spec,
    .forward = matmul_forward,
    .backward = matmul_backward,
    .reset = matmul_reset,
    .free_impl = matmul_free,
};
