/* train.c - backward passes with all-or-nothing gradient accumulation,
 * zero_grad and the SGD step. */
#include "train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "model_internal.h"
#include "path.h"

/* The distinct parameters and buffers of a tree (tied ones once), in
 * state_dict order. Caller frees *out. */
static bd_status bd__unique_params(bd_block *root, bd_param ***out, size_t *n) {
  bd_state_list l = {0};
  *out = NULL;
  *n = 0;
  bd_status s = bd_block_state_dict(root, "", &l);
  bd_param **v = NULL;
  if (!s && l.n) {
    v = malloc(l.n * sizeof *v);
    if (!v) s = bd_fail(BD_ENOMEM, "out of host memory");
  }
  size_t k = 0;
  for (size_t i = 0; !s && i < l.n; i++) {
    bool dup = false;
    for (size_t j = 0; j < k && !dup; j++) dup = v[j] == l.v[i].param;
    if (!dup) v[k++] = l.v[i].param;
  }
  bd_state_list_free(&l);
  if (s) {
    free(v);
    return s;
  }
  *out = v;
  *n = k;
  return BD_OK;
}

/* x as float32 on dev (a new reference). */
static bd_status bd__input(bd_tensor *x, bd_device dev, bd_tensor **out) {
  bd_tensor *xin;
  bd_status s = bd_tensor_as_f32(x, &xin);
  if (s) return s;
  if (!bd_device_eq(bd_tensor_device(xin), dev)) {
    bd_tensor *moved;
    s = bd_tensor_to(xin, dev, &moved);
    bd_tensor_release(xin);
    if (s) return s;
    xin = moved;
  }
  *out = xin;
  return BD_OK;
}

/* Runs the backward pass from the root into fresh gradients and merges
 * them into the existing ones only when everything succeeded.
 *
 * Before the pass every parameter's grad is moved aside (old[i]) and set to
 * NULL, so the blocks create this call's gradients in new tensors. After a
 * successful pass each new gradient gets the old one added (new += old, in
 * the new tensor: the old ones stay untouched), and only when every add has
 * succeeded are the results installed. On any failure the new tensors are
 * dropped and the old gradients put back: no gradient changes. Gradients
 * that appear on frozen parameters or buffers are dropped too, so a block
 * that ignores requires_grad cannot break freezing. */
static bd_status bd__backward_atomic(bd_model *m, bd_exec *ex, void *saved,
                                     bd_tensor *dy) {
  bd_param **ps;
  size_t n;
  bd_status s = bd__unique_params(m->root, &ps, &n);
  if (s) return s;
  bd_tensor **old = n ? calloc(n, sizeof *old) : NULL;
  if (n && !old) {
    free(ps);
    return bd_fail(BD_ENOMEM, "out of host memory");
  }
  for (size_t i = 0; i < n; i++) {
    old[i] = ps[i]->grad;
    ps[i]->grad = NULL;
  }
  s = bd_block_backward(m->root, ex, saved, dy, NULL);
  for (size_t i = 0; !s && i < n; i++) {
    bd_param *p = ps[i];
    if (p->grad && (p->is_buffer || !p->requires_grad)) {
      bd_tensor_release(p->grad);
      p->grad = NULL;
    }
    if (!p->grad || !old[i]) continue;
    bd_op add = bd_op_binary(p->grad, p->grad, BD_BIN_ADD, old[i]);
    s = bd_op_run(&add);
  }
  for (size_t i = 0; i < n; i++) {
    bd_param *p = ps[i];
    if (s) {
      bd_tensor_release(p->grad);
      p->grad = old[i];
    } else if (p->grad) {
      bd_tensor_release(old[i]);
    } else {
      p->grad = old[i];
    }
  }
  free(old);
  free(ps);
  return s;
}

bd_status bd_model_backward(bd_model *m, bd_tensor *x, bd_loss_kind loss,
                            bd_tensor *target, double *loss_value,
                            bd_tensor **outputs) {
  if (outputs) *outputs = NULL;
  bd_model_wrlock(m);
  uint64_t off0 = m->rng_offset;
  bd_tensor *xin = NULL, *y = NULL, *prep = NULL, *dy = NULL, *host = NULL;
  double value = 0;
  void *saved = NULL;
  bd_exec ex;
  bd_exec_begin(&ex, m->dev, m->training, true, m->seed, &m->rng_offset);
  bd_status s = bd__input(x, m->dev, &xin);
  if (!s) s = bd_block_forward(m->root, &ex, xin, &y, &saved);
  if (!s && y->dtype != BD_F32)
    s = bd_fail(BD_EDTYPE, "the model output is %s; a loss needs float32",
                bd_dtype_name(y->dtype));
  if (!s) s = bd_loss_check(loss, y, target, &prep);
  if (!s) s = bd_loss_compute(loss, y, prep, &value, &dy);
  if (!s && outputs) {
    if (bd_tensor_device(y).type == BD_DEV_CPU)
      host = bd_tensor_retain(y);
    else
      s = bd_tensor_to(y, BD_CPU, &host);
  }
  /* The output gradient must not alias anything the backward pass reads
   * and writes: "none" hands the caller's tensor through unchanged, which
   * blocks only read. */
  if (!s) s = bd__backward_atomic(m, &ex, saved, dy);
  bd_exec_end(&ex);
  if (s) m->rng_offset = off0;
  bd_model_unlock(m);
  bd_tensor_release(xin);
  bd_tensor_release(y);
  bd_tensor_release(prep);
  bd_tensor_release(dy);
  if (s) {
    bd_tensor_release(host);
    return s;
  }
  *loss_value = value;
  if (outputs) *outputs = host;
  return BD_OK;
}

void bd_model_zero_grad(bd_model *m, int64_t *cleared) {
  int64_t k = 0;
  bd_model_wrlock(m);
  /* Walks the state list: a tied grad is found twice, the second time
   * already NULL, so each parameter is counted once. */
  bd_state_list l = {0};
  (void)bd_block_state_dict(m->root, "", &l);
  for (size_t i = 0; i < l.n; i++) {
    bd_param *p = l.v[i].param;
    if (p->grad) {
      bd_tensor_release(p->grad);
      p->grad = NULL;
      k++;
    }
  }
  bd_state_list_free(&l);
  bd_model_unlock(m);
  if (cleared) *cleared = k;
}

bd_status bd_sgd_opts_check(const bd_sgd_opts *o) {
  if (!isfinite(o->lr) || o->lr < 0)
    return bd_fail(BD_EINVAL, "lr: must be a finite number >= 0, got %g",
                   o->lr);
  if (!isfinite(o->momentum) || o->momentum < 0)
    return bd_fail(BD_EINVAL, "momentum: must be a finite number >= 0, got %g",
                   o->momentum);
  if (!isfinite(o->weight_decay) || o->weight_decay < 0)
    return bd_fail(BD_EINVAL,
                   "weight_decay: must be a finite number >= 0, got %g",
                   o->weight_decay);
  if (!isfinite(o->dampening))
    return bd_fail(BD_EINVAL, "dampening: must be a finite number");
  if (o->nesterov && (o->momentum <= 0 || o->dampening != 0))
    return bd_fail(BD_EINVAL,
                   "nesterov: needs momentum > 0 and dampening 0 (as "
                   "torch.optim.SGD)");
  return BD_OK;
}

bd_status bd_model_sgd_step(bd_model *m, const bd_sgd_opts *o,
                            int64_t *updated) {
  bd_status s = bd_sgd_opts_check(o);
  if (s) return s;
  bd_model_wrlock(m);
  bd_param **ps;
  size_t n;
  s = bd__unique_params(m->root, &ps, &n);
  if (s) {
    bd_model_unlock(m);
    return s;
  }
  /* Allocate every missing momentum buffer before touching any value, so
   * that running out of memory changes nothing. */
  bd_tensor **fresh = n ? calloc(n, sizeof *fresh) : NULL;
  if (n && !fresh) s = bd_fail(BD_ENOMEM, "out of host memory");
  for (size_t i = 0; !s && i < n; i++) {
    bd_param *p = ps[i];
    if (p->is_buffer || !p->requires_grad || !p->grad) continue;
    if (o->momentum != 0 && !p->momentum)
      s = bd_tensor_new(bd_tensor_device(p->value), BD_F32, p->value->ndim,
                        p->value->shape, &fresh[i]);
  }
  int64_t k = 0;
  for (size_t i = 0; !s && i < n; i++) {
    bd_param *p = ps[i];
    if (p->is_buffer || !p->requires_grad || !p->grad) continue;
    bool first = fresh[i] != NULL;
    bd_sgd_params sp = {.lr = (float)o->lr,
                        .momentum = (float)o->momentum,
                        .weight_decay = (float)o->weight_decay,
                        .dampening = (float)o->dampening,
                        .nesterov = o->nesterov,
                        .first_step = first};
    bd_op op = bd_op_sgd(
        p->value, p->grad,
        o->momentum != 0 ? (first ? fresh[i] : p->momentum) : NULL, &sp);
    s = bd_op_run(&op);
    if (s) break; /* only a device failure gets here */
    if (first) {
      p->momentum = fresh[i];
      fresh[i] = NULL;
    }
    k++;
  }
  for (size_t i = 0; i < n && fresh; i++) bd_tensor_release(fresh[i]);
  if (!s) m->sgd_steps++;
  free(fresh);
  free(ps);
  bd_model_unlock(m);
  if (!s && updated) *updated = k;
  return s;
}

int64_t bd_optim_step_count(const bd_model *m) { return m->sgd_steps; }

bd_status bd_optim_set_step_count(bd_model *m, int64_t steps) {
  if (steps < 0)
    return bd_fail(BD_EINVAL, "optimizer step count %lld is negative",
                   (long long)steps);
  m->sgd_steps = steps;
  return BD_OK;
}

bd_status bd_optim_momentum_list(bd_model *m, bd_state_list *out) {
  bd_state_list l = {0};
  memset(out, 0, sizeof *out);
  bool *first = NULL;
  bd_status s = bd_block_state_dict(m->root, "", &l);
  if (!s) s = bd_state_list_firsts(&l, &first);
  if (s) {
    bd_state_list_free(&l);
    return s;
  }
  /* Keep first occurrences that carry a buffer, compacting in place. */
  size_t k = 0;
  for (size_t i = 0; i < l.n; i++) {
    bool keep = !l.v[i].param->is_buffer && l.v[i].param->momentum && first[i];
    if (keep) {
      l.v[k++] = l.v[i];
    } else {
      free(l.v[i].path);
      l.v[i].path = NULL;
    }
  }
  free(first);
  l.n = k;
  *out = l;
  return BD_OK;
}

bd_status bd_optim_momentum_set(bd_model *m, const char *path,
                                const bd_tensor *buf) {
  bd_param *p;
  bd_status s = bd_path_param(m->root, path, &p, NULL);
  if (s == BD_ENOTFOUND)
    return bd_fail_prefix(s, "model '%s' has no parameter '%s': ", m->name,
                          path);
  if (s) return s;
  if (p->is_buffer)
    return bd_fail(BD_EINVAL, "'%s' is a buffer and has no optimizer state",
                   path);
  if (!buf) {
    bd_tensor_release(p->momentum);
    p->momentum = NULL;
    return BD_OK;
  }
  if (buf->dtype != BD_F32)
    return bd_fail(BD_EDTYPE, "momentum buffer of '%s' must be float32", path);
  if (!bd_tensor_same_shape(buf, p->value)) {
    char a[128], b[128];
    return bd_fail(BD_ESHAPE,
                   "momentum buffer of '%s' has shape %s, the parameter %s",
                   path, bd_shape_str(buf->ndim, buf->shape, a, sizeof a),
                   bd_shape_str(p->value->ndim, p->value->shape, b, sizeof b));
  }
  bd_tensor *copy;
  s = bd_tensor_to(buf, bd_tensor_device(p->value), &copy);
  if (s) return s;
  bd_tensor_release(p->momentum);
  p->momentum = copy;
  return BD_OK;
}
