/* loss.c - sum, mean, mse, cross_entropy and the explicit-gradient "none"
 * loss, built from backend ops so that they run on any device. */
#include "loss.h"

#include <math.h>
#include <string.h>

#include "backend.h"

static const char *const bd__loss_names[BD_LOSS_COUNT] = {
    [BD_LOSS_SUM] = "sum",   [BD_LOSS_MEAN] = "mean",
    [BD_LOSS_MSE] = "mse",   [BD_LOSS_CROSS_ENTROPY] = "cross_entropy",
    [BD_LOSS_NONE] = "none",
};

bool bd_loss_parse(const char *name, bd_loss_kind *out) {
  for (int k = 0; name && k < BD_LOSS_COUNT; k++)
    if (strcmp(name, bd__loss_names[k]) == 0) {
      *out = (bd_loss_kind)k;
      return true;
    }
  return false;
}

const char *bd_loss_name(bd_loss_kind k) {
  return (unsigned)k < BD_LOSS_COUNT ? bd__loss_names[k] : "?";
}

bool bd_loss_needs_target(bd_loss_kind k) {
  return k == BD_LOSS_MSE || k == BD_LOSS_CROSS_ENTROPY || k == BD_LOSS_NONE;
}

/* What the target is called in messages: "none" takes an output gradient. */
static const char *bd__target_word(bd_loss_kind k) {
  return k == BD_LOSS_NONE ? "grad_output" : "target";
}

/* A host copy of t (t itself retained when already on the host). */
static bd_status bd__to_host(const bd_tensor *t, bd_tensor **out) {
  if (bd_tensor_device(t).type == BD_DEV_CPU) {
    *out = bd_tensor_retain((bd_tensor *)t);
    return BD_OK;
  }
  return bd_tensor_to(t, BD_CPU, out);
}

/* Moves a host tensor to dev, consuming the reference *t. */
static bd_status bd__move(bd_tensor **t, bd_device dev) {
  if (bd_device_eq(bd_tensor_device(*t), dev)) return BD_OK;
  bd_tensor *moved;
  bd_status s = bd_tensor_to(*t, dev, &moved);
  bd_tensor_release(*t);
  *t = s ? NULL : moved;
  return s;
}

/* Class indices: int64 as is, float32/float64 when every value is a whole
 * number; each must lie in [0, c). Returns a new int64 host tensor. */
static bd_status bd__class_indices(const bd_tensor *host, int64_t c,
                                   bd_tensor **out) {
  int64_t n = bd_tensor_numel(host);
  bd_tensor *t;
  bd_status s = bd_tensor_new(BD_CPU, BD_I64, host->ndim, host->shape, &t);
  if (s) return s;
  int64_t *d = bd_tensor_data(t);
  const void *p = bd_tensor_data(host);
  for (int64_t i = 0; i < n; i++) {
    double v;
    switch (host->dtype) {
      case BD_I64:
        v = (double)((const int64_t *)p)[i];
        break;
      case BD_F32:
        v = ((const float *)p)[i];
        break;
      case BD_F64:
        v = ((const double *)p)[i];
        break;
      default:
        bd_tensor_release(t);
        return bd_fail(BD_EDTYPE,
                       "loss 'cross_entropy': target must hold class "
                       "indices (int64), got %s",
                       bd_dtype_name(host->dtype));
    }
    if (host->dtype == BD_I64) {
      d[i] = ((const int64_t *)p)[i];
    } else {
      if (!(v == floor(v)) || fabs(v) > 9007199254740992.0) {
        bd_tensor_release(t);
        return bd_fail(BD_EINVAL,
                       "loss 'cross_entropy': target[%lld] = %g is not a "
                       "class index (a whole number)",
                       (long long)i, v);
      }
      d[i] = (int64_t)v;
    }
    if (d[i] < 0 || d[i] >= c) {
      long long bad = (long long)d[i];
      bd_tensor_release(t);
      return bd_fail(BD_EINVAL,
                     "loss 'cross_entropy': target[%lld] = %lld is out of "
                     "range for %lld classes (must be in [0, %lld))",
                     (long long)i, bad, (long long)c, (long long)c);
    }
  }
  *out = t;
  return BD_OK;
}

bd_status bd_loss_check(bd_loss_kind k, const bd_tensor *y,
                        const bd_tensor *target, bd_tensor **prepared) {
  *prepared = NULL;
  if ((unsigned)k >= BD_LOSS_COUNT)
    return bd_fail(BD_EINVAL, "unknown loss kind %d", (int)k);
  const char *name = bd_loss_name(k), *word = bd__target_word(k);
  if (!bd_loss_needs_target(k)) {
    if (target) return bd_fail(BD_EINVAL, "loss '%s' takes no target", name);
    return BD_OK;
  }
  if (!target) return bd_fail(BD_EINVAL, "loss '%s' needs a %s", name, word);
  char ys[128], ts[128];
  bd_shape_str(y->ndim, y->shape, ys, sizeof ys);
  bd_shape_str(target->ndim, target->shape, ts, sizeof ts);
  bd_tensor *host = NULL, *t = NULL;
  bd_status s = BD_OK;
  if (k == BD_LOSS_CROSS_ENTROPY) {
    if (y->ndim != 1 && y->ndim != 2)
      return bd_fail(BD_ESHAPE,
                     "loss 'cross_entropy' needs model outputs of shape "
                     "[batch, classes] or [classes], got %s",
                     ys);
    bool ok = y->ndim == 2
                  ? target->ndim == 1 && target->shape[0] == y->shape[0]
                  : target->ndim == 0;
    if (!ok) {
      if (y->ndim == 2)
        return bd_fail(BD_ESHAPE,
                       "loss 'cross_entropy': target must have shape [%lld] "
                       "(one class index per row of the output %s), got %s",
                       (long long)y->shape[0], ys, ts);
      return bd_fail(BD_ESHAPE,
                     "loss 'cross_entropy': target must be a scalar class "
                     "index for an output of shape %s, got %s",
                     ys, ts);
    }
    s = bd__to_host(target, &host);
    if (!s) s = bd__class_indices(host, y->shape[y->ndim - 1], &t);
  } else {
    if (!bd_tensor_same_shape(y, target))
      return bd_fail(BD_ESHAPE,
                     "loss '%s': %s of shape %s does not match the model "
                     "output shape %s",
                     name, word, ts, ys);
    if (target->dtype == BD_F32) {
      t = bd_tensor_retain((bd_tensor *)target);
    } else {
      s = bd__to_host(target, &host);
      if (!s) s = bd_tensor_as_f32(host, &t);
    }
  }
  bd_tensor_release(host);
  if (!s) s = bd__move(&t, bd_tensor_device(y));
  if (s) {
    bd_tensor_release(t);
    return s;
  }
  *prepared = t;
  return BD_OK;
}

/* Reads the single float of a device tensor. */
static bd_status bd__scalar(const bd_tensor *t, double *out) {
  bd_tensor *h;
  bd_status s = bd__to_host(t, &h);
  if (s) return s;
  *out = bd_tensor_f32(h)[0];
  bd_tensor_release(h);
  return BD_OK;
}

/* dst (1 element, new) = reduce(a). */
static bd_status bd__reduce(bd_tensor *a, bd_reduce_kind kind,
                            bd_tensor **dst) {
  bd_status s = bd_tensor_new(bd_tensor_device(a), BD_F32, 0, NULL, dst);
  if (s) return s;
  bd_op op = bd_op_reduce(*dst, a, kind);
  return bd_op_run(&op);
}

/* A new tensor like y. */
static bd_status bd__like(const bd_tensor *y, bd_tensor **out) {
  return bd_tensor_new(bd_tensor_device(y), BD_F32, y->ndim, y->shape, out);
}

bd_status bd_loss_compute(bd_loss_kind k, bd_tensor *y, bd_tensor *target,
                          double *value, bd_tensor **dy) {
  if (dy) *dy = NULL;
  if (y->dtype != BD_F32)
    return bd_fail(BD_EDTYPE, "loss '%s' needs float32 outputs",
                   bd_loss_name(k));
  if (bd_loss_needs_target(k) && !target)
    return bd_fail(BD_EINVAL, "loss '%s' needs a %s", bd_loss_name(k),
                   bd__target_word(k));
  int64_t n = bd_tensor_numel(y);
  bd_tensor *scalar = NULL, *tmp = NULL, *g = NULL;
  bd_status s = BD_OK;
  switch (k) {
    case BD_LOSS_SUM:
    case BD_LOSS_MEAN: {
      s = bd__reduce(y, k == BD_LOSS_SUM ? BD_RED_SUM : BD_RED_MEAN, &scalar);
      if (!s && dy) {
        s = bd__like(y, &g);
        /* mean of nothing has no finite gradient either; n == 0 leaves an
         * empty gradient. */
        float v = k == BD_LOSS_SUM ? 1.0f : (n ? 1.0f / (float)n : 0.0f);
        bd_op op = bd_op_fill(g, v);
        if (!s) s = bd_op_run(&op);
      }
      break;
    }
    case BD_LOSS_MSE: {
      s = bd__like(y, &tmp); /* y - t */
      bd_op sub = bd_op_binary(tmp, y, BD_BIN_SUB, target);
      if (!s) s = bd_op_run(&sub);
      bd_tensor *sq = NULL;
      if (!s) s = bd__like(y, &sq);
      bd_op mul = bd_op_binary(sq, tmp, BD_BIN_MUL, tmp);
      if (!s) s = bd_op_run(&mul);
      if (!s) s = bd__reduce(sq, BD_RED_MEAN, &scalar);
      bd_tensor_release(sq);
      if (!s && dy) {
        s = bd__like(y, &g);
        bd_op sc =
            bd_op_unary(g, tmp, BD_UN_SCALE, n ? 2.0f / (float)n : 0.0f, 0);
        if (!s) s = bd_op_run(&sc);
      }
      break;
    }
    case BD_LOSS_CROSS_ENTROPY: {
      int64_t rows = y->ndim == 2 ? y->shape[0] : 1;
      int64_t c = y->shape[y->ndim - 1];
      s = bd_tensor_new(bd_tensor_device(y), BD_F32, 0, NULL, &scalar);
      bd_op ce = bd_op_cross_entropy(scalar, y, target, rows, c);
      if (!s) s = bd_op_run(&ce);
      if (!s && dy) {
        s = bd__like(y, &g);
        bd_op bw = bd_op_cross_entropy_backward(g, y, target, rows, c, 1.0f);
        if (!s) s = bd_op_run(&bw);
      }
      break;
    }
    case BD_LOSS_NONE: {
      s = bd__like(y, &tmp);
      bd_op mul = bd_op_binary(tmp, y, BD_BIN_MUL, target);
      if (!s) s = bd_op_run(&mul);
      if (!s) s = bd__reduce(tmp, BD_RED_SUM, &scalar);
      if (!s && dy) g = bd_tensor_retain(target);
      break;
    }
    default:
      s = bd_fail(BD_EINVAL, "unknown loss kind %d", (int)k);
  }
  if (!s) s = bd__scalar(scalar, value);
  bd_tensor_release(scalar);
  bd_tensor_release(tmp);
  if (s) {
    bd_tensor_release(g);
    return s;
  }
  if (dy)
    *dy = g;
  else
    bd_tensor_release(g);
  return BD_OK;
}
