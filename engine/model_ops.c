/* model_ops.c - the model API that takes the model's lock: snapshots,
 * mode, device moves, RNG position, parameter edits, init and loads. Each
 * function checks a whole request under the lock before changing anything
 * (model.c holds creation and the lock itself). */
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "device_move.h"
#include "init.h"
#include "model_internal.h"
#include "param_edit.h"
#include "path.h"

bd_status bd_model_info_locked(bd_model *m, bd_model_info *out) {
  memset(out, 0, sizeof *out);
  out->name = m->name;
  out->generation = __atomic_load_n(&m->generation, __ATOMIC_RELAXED);
  out->dev = m->dev;
  out->training = m->training;
  out->seed = m->seed;
  out->rng_offset = __atomic_load_n(&m->rng_offset, __ATOMIC_RELAXED);
  out->sgd_steps = m->sgd_steps;
  out->batching = m->batching;
  out->param_count = m->param_count;
  out->bytes = m->bytes;
  return BD_OK;
}

static bd_status bd__info(bd_model *m, bd_model_info *out) {
  bd_status s = bd_model_info_locked(m, out);
  if (s) return s;
  return bd_model_device_bytes(m, out->device_bytes, BD_MODEL_MAX_DEVICES,
                               &out->ndevices);
}

bd_status bd_model_get_info(bd_model *m, bd_model_info *out) {
  bd_model_rdlock(m);
  bd_status s = bd__info(m, out);
  bd_model_unlock(m);
  return s;
}

bd_status bd_model_count(bd_model *m, int64_t *param_count, int64_t *bytes) {
  /* Fixed at creation (model_internal.h): no lock, no walk. */
  *param_count = m->param_count;
  *bytes = m->bytes;
  return BD_OK;
}

bd_status bd_model_read(bd_model *m, bd_model_read_cb cb, void *ctx) {
  bd_model_info info;
  bd_model_rdlock(m);
  bd_status s = bd__info(m, &info);
  if (!s) s = cb(m, &info, ctx);
  bd_model_unlock(m);
  return s;
}

bd_block *bd_model_root(bd_model *m) { return m->root; }

static bd_status rows_check_locked(bd_model *m, int in_ndim) {
  if (in_ndim < 2)
    return bd_fail(BD_EINVAL,
                   "an input of %d dim%s has no batch dimension to join "
                   "requests along",
                   in_ndim, in_ndim == 1 ? "" : "s");
  int nd = in_ndim;
  return bd_block_rows(m->root, "", m->training, &nd);
}

bd_status bd_model_rows_check(bd_model *m, int in_ndim) {
  bd_model_rdlock(m);
  bd_status s = rows_check_locked(m, in_ndim);
  bd_model_unlock(m);
  return s;
}

bd_status bd_model_set_batching(bd_model *m, const bd_batching *b) {
  if (b->max_batch < 1 || b->max_batch > BD_MAX_BATCH)
    return bd_fail(BD_EINVAL, "max_batch: must be between 1 and %d",
                   BD_MAX_BATCH);
  if (b->max_delay_us < 0 || b->max_delay_us > BD_MAX_BATCH_DELAY_US)
    return bd_fail(BD_EINVAL, "max_delay_us: must be between 0 and %d",
                   BD_MAX_BATCH_DELAY_US);
  bd_model_wrlock(m);
  bd_status s = b->max_batch > 1 ? rows_check_locked(m, 2) : BD_OK;
  if (s)
    bd_fail_prefix(s,
                   "batching: requests cannot be batched for this "
                   "model: ");
  else
    m->batching = *b;
  bd_model_unlock(m);
  return s;
}

bd_batching bd_model_get_batching(bd_model *m) {
  bd_model_rdlock(m);
  bd_batching b = m->batching;
  bd_model_unlock(m);
  return b;
}

void bd_model_set_mode(bd_model *m, bool training) {
  bd_model_wrlock(m);
  m->training = training;
  bd_model_unlock(m);
}

bd_status bd_model_move(bd_model *m, bd_device dev) {
  bd_model_wrlock(m);
  bd_status s = bd_model_to(m, dev);
  bd_model_unlock(m);
  return s;
}

void bd_model_set_rng_offset(bd_model *m, uint64_t offset) {
  bd_model_wrlock(m);
  m->rng_offset = offset;
  bd_model_unlock(m);
}

bd_status bd_model_set_sgd_steps(bd_model *m, int64_t steps) {
  if (steps < 0)
    return bd_fail(BD_EINVAL, "optimizer step count %lld is negative",
                   (long long)steps);
  bd_model_wrlock(m);
  m->sgd_steps = steps;
  bd_model_unlock(m);
  return BD_OK;
}

/* ---- parameter edits --------------------------------------------------- */

/* The parameter or buffer at path (names or positions, any alias of a
 * tied parameter; see path.h); *canon gets its state_dict key (caller
 * frees). Caller holds the lock. */
static bd_status bd__find_param(bd_model *m, const char *path, bd_param **out,
                                char **canon) {
  bd_status s = bd_path_param(m->root, path, out, canon);
  if (s == BD_ENOTFOUND)
    s = bd_fail_prefix(
        s, "model '%s' has no parameter or buffer '%s': ", m->name, path);
  return s;
}

/* Fills *out (may be NULL) from p, handing it name (freed when out is
 * NULL). */
static void bd__meta(const bd_param *p, char *name, bd_param_meta *out) {
  if (!out) {
    free(name);
    return;
  }
  memset(out, 0, sizeof *out);
  out->name = name;
  out->ndim = p->value->ndim;
  memcpy(out->shape, p->value->shape, sizeof out->shape);
  out->dtype = p->value->dtype;
  out->dev = bd_tensor_device(p->value);
  out->requires_grad = p->requires_grad;
  out->is_buffer = p->is_buffer;
}

bd_status bd_model_param_put(bd_model *m, const char *path, const bd_tensor *t,
                             bd_param_meta *out) {
  bd_param *p;
  char *name = NULL;
  bd_model_wrlock(m);
  bd_status s = bd__find_param(m, path, &p, &name);
  if (!s) s = bd_param_replace_check(p, t, path);
  if (!s) s = bd_param_replace(p, t);
  if (!s) bd__meta(p, name, out);
  bd_model_unlock(m);
  if (s) free(name);
  return s;
}

bd_status bd_model_param_patch(bd_model *m, const char *path,
                               const bd_param_edit *e, int requires_grad,
                               bd_param_meta *out) {
  bd_param *p;
  char *name = NULL;
  bd_model_wrlock(m);
  bd_status s = bd__find_param(m, path, &p, &name);
  if (!s && requires_grad > 0 && p->is_buffer)
    s = bd_fail(BD_EINVAL, "%s: is a buffer; buffers cannot require grad",
                path);
  if (!s && e) s = bd_param_edit_check(e, p, path);
  if (!s && e) s = bd_param_edit_apply(e, p);
  if (!s && requires_grad >= 0 && !p->is_buffer)
    p->requires_grad = requires_grad > 0;
  if (!s) bd__meta(p, name, out);
  bd_model_unlock(m);
  if (s) free(name);
  return s;
}

/* ---- init and loads ---------------------------------------------------- */

bd_status bd_model_init(bd_model *m, const bd_init_request *req,
                        char ***touched, int *ntouched) {
  bd_model_wrlock(m);
  bd_status s =
      bd_init_run(m->root, req, m->seed, &m->rng_offset, touched, ntouched);
  bd_model_unlock(m);
  return s;
}

bd_status bd_model_load(bd_model *m, const bd_named_tensors *f, bool strict,
                        bool with_optim, bd_load_report *report) {
  bd_model_wrlock(m);
  bd_status s = bd_checkpoint_load(m, f, strict, with_optim, report);
  bd_model_unlock(m);
  return s;
}
