/* param_edit.c - in-place parameter edits (see param_edit.h). */
#include "param_edit.h"

#include <math.h>
#include <string.h>

#include "backend.h"

static const char *const bd__edit_names[BD_EDIT_OP_COUNT] = {
    [BD_EDIT_ADD] = "add", [BD_EDIT_MUL] = "mul",     [BD_EDIT_FILL] = "fill",
    [BD_EDIT_SET] = "set", [BD_EDIT_CLAMP] = "clamp",
};

bool bd_edit_op_parse(const char *s, bd_edit_op *out) {
  for (int i = 0; s && i < BD_EDIT_OP_COUNT; i++)
    if (strcmp(bd__edit_names[i], s) == 0) {
      *out = (bd_edit_op)i;
      return true;
    }
  return false;
}

const char *bd_edit_op_name(bd_edit_op op) {
  return (unsigned)op < BD_EDIT_OP_COUNT ? bd__edit_names[op] : "?";
}

/* The element offset and the shape of the slice w[index]. */
static bd_status bd__slice(const bd_param_edit *e, const bd_tensor *w,
                           const char *name, int64_t *off, int *ndim,
                           int64_t *shape) {
  if (e->nindex > w->ndim)
    return bd_fail(BD_EINVAL,
                   "%s: index has %d entries but the parameter has %d "
                   "dimensions",
                   name, e->nindex, w->ndim);
  int64_t o = 0;
  for (int d = 0; d < w->ndim; d++) {
    int64_t i = 0;
    if (d < e->nindex) {
      i = e->index[d];
      if (i < -w->shape[d] || i >= w->shape[d])
        return bd_fail(BD_EINVAL,
                       "%s: index %lld is out of range for dimension %d "
                       "of size %lld",
                       name, (long long)i, d, (long long)w->shape[d]);
      if (i < 0) i += w->shape[d];
    } else {
      shape[d - e->nindex] = w->shape[d];
    }
    o = o * w->shape[d] + i;
  }
  *off = o;
  *ndim = w->ndim - e->nindex;
  return BD_OK;
}

bd_status bd_param_edit_check(const bd_param_edit *e, const bd_param *p,
                              const char *name) {
  const bd_tensor *w = p->value;
  if (w->dtype != BD_F32)
    return bd_fail(BD_EDTYPE, "%s: only float32 parameters can be edited",
                   name);
  if ((unsigned)e->op >= BD_EDIT_OP_COUNT)
    return bd_fail(BD_EINVAL, "%s: unknown edit op", name);
  const char *opn = bd_edit_op_name(e->op);
  switch (e->op) {
    case BD_EDIT_ADD:
    case BD_EDIT_MUL:
      if (e->tensor && !bd_tensor_same_shape(e->tensor, w)) {
        char a[128], b[128];
        return bd_fail(
            BD_ESHAPE,
            "%s: %s: value of shape %s for a parameter of shape "
            "%s (give a scalar or a tensor of the same shape)",
            name, opn,
            bd_shape_str(e->tensor->ndim, e->tensor->shape, a, sizeof a),
            bd_shape_str(w->ndim, w->shape, b, sizeof b));
      }
      return BD_OK;
    case BD_EDIT_FILL:
      if (e->tensor)
        return bd_fail(BD_EINVAL, "%s: fill: value must be a number", name);
      return BD_OK;
    case BD_EDIT_SET: {
      int64_t off, shape[BD_MAX_DIMS];
      int nd;
      bd_status s = bd__slice(e, w, name, &off, &nd, shape);
      if (s) return s;
      if (e->tensor) {
        bool same = e->tensor->ndim == nd;
        for (int d = 0; same && d < nd; d++)
          same = e->tensor->shape[d] == shape[d];
        if (!same) {
          char a[128], b[128];
          return bd_fail(
              BD_ESHAPE, "%s: set: value of shape %s for a slice of shape %s",
              name,
              bd_shape_str(e->tensor->ndim, e->tensor->shape, a, sizeof a),
              bd_shape_str(nd, shape, b, sizeof b));
        }
      }
      return BD_OK;
    }
    case BD_EDIT_CLAMP:
      if (!e->has_min && !e->has_max)
        return bd_fail(BD_EINVAL, "%s: clamp needs min, max or both", name);
      if (e->tensor)
        return bd_fail(BD_EINVAL, "%s: clamp takes min/max, not a value", name);
      return BD_OK;
    default:
      return BD_OK;
  }
}

/* A float32 copy of t on device dev (a new reference). */
static bd_status bd__operand(bd_tensor *t, bd_device dev, bd_tensor **out) {
  bd_tensor *f = NULL, *h = NULL;
  bd_status s = BD_OK;
  if (t->dtype != BD_F32 && bd_tensor_device(t).type != BD_DEV_CPU) {
    s = bd_tensor_to(t, BD_CPU, &h);
    if (s) return s;
    t = h;
  }
  s = bd_tensor_as_f32(t, &f);
  bd_tensor_release(h);
  if (s) return s;
  s = bd_tensor_to(f, dev, out);
  bd_tensor_release(f);
  return s;
}

bd_status bd_param_edit_apply(const bd_param_edit *e, bd_param *p) {
  bd_tensor *w = p->value;
  bd_device dev = bd_tensor_device(w);
  bd_tensor *v = NULL;
  bd_status s = BD_OK;
  if (e->tensor) {
    s = bd__operand(e->tensor, dev, &v);
    if (s) return s;
  }
  switch (e->op) {
    case BD_EDIT_ADD:
    case BD_EDIT_MUL: {
      bool add = e->op == BD_EDIT_ADD;
      bd_op op = v ? bd_op_binary(w, w, add ? BD_BIN_ADD : BD_BIN_MUL, v)
                   : bd_op_unary(w, w, add ? BD_UN_ADD : BD_UN_SCALE,
                                 (float)e->value, 0);
      s = bd_op_run(&op);
      break;
    }
    case BD_EDIT_FILL: {
      bd_op op = bd_op_fill(w, (float)e->value);
      s = bd_op_run(&op);
      break;
    }
    case BD_EDIT_SET: {
      /* A view of the slice: w is contiguous, so w[index] is a contiguous
       * run starting at the index's row-major offset. */
      int64_t off;
      bd_tensor view;
      memset(&view, 0, sizeof view);
      s = bd__slice(e, w, "parameter", &off, &view.ndim, view.shape);
      if (s) break;
      view.refcnt = 1;
      view.dtype = w->dtype;
      view.st = w->st;
      view.offset = w->offset + (size_t)off * bd_dtype_size(w->dtype);
      if (v) {
        s = bd_tensor_copy_into(&view, v);
      } else {
        bd_op op = bd_op_fill(&view, (float)e->value);
        s = bd_op_run(&op);
      }
      break;
    }
    case BD_EDIT_CLAMP: {
      bd_op op = bd_op_clamp(w, w, e->has_min ? (float)e->min : -INFINITY,
                             e->has_max ? (float)e->max : INFINITY);
      s = bd_op_run(&op);
      break;
    }
    default:
      s = bd_fail(BD_EINVAL, "unknown edit op");
  }
  bd_tensor_release(v);
  return s;
}

bd_status bd_param_replace_check(const bd_param *p, const bd_tensor *src,
                                 const char *name) {
  const bd_tensor *w = p->value;
  if (!bd_tensor_same_shape(w, src)) {
    char a[128], b[128];
    return bd_fail(BD_ESHAPE,
                   "%s: value of shape %s for a parameter of "
                   "shape %s",
                   name, bd_shape_str(src->ndim, src->shape, a, sizeof a),
                   bd_shape_str(w->ndim, w->shape, b, sizeof b));
  }
  if (src->dtype != w->dtype)
    return bd_fail(BD_EDTYPE,
                   "%s: value of dtype %s for a parameter of "
                   "dtype %s",
                   name, bd_dtype_name(src->dtype), bd_dtype_name(w->dtype));
  return BD_OK;
}

bd_status bd_param_replace(bd_param *p, const bd_tensor *src) {
  return bd_tensor_copy_into(p->value, src);
}
