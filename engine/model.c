/* model.c - models: a block tree with a lock, a mode and an RNG stream. */
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "model_internal.h"
#include "panic.h"

bool bd_model_name_ok(const char *name) {
  size_t n = name ? strlen(name) : 0;
  if (n == 0 || n > 128 || name[0] == '.') return false;
  for (size_t i = 0; i < n; i++) {
    char c = name[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.'))
      return false;
  }
  return true;
}

/* The last creation serial handed out in this process (see
 * bd_model_serial). */
static uint64_t bd__model_serial_last;

bd_status bd_model_create(const char *name, const bd_spec *spec, uint64_t seed,
                          bd_device dev, const bd_build_limits *lim,
                          bd_model **out) {
  if (!bd_model_name_ok(name))
    return bd_fail(BD_EINVAL,
                   "name: '%s' is not a valid model name (1-128 characters "
                   "of A-Z a-z 0-9 _ - ., not starting with '.')",
                   name ? name : "");
  bd_blocks_init();
  bd_model *m = calloc(1, sizeof *m);
  if (!m) return bd_fail(BD_ENOMEM, "out of host memory");
  m->refcnt = 1;
  m->name = strdup(name);
  m->dev = dev;
  m->training = true;
  m->batching = (bd_batching){.max_batch = 1, .max_delay_us = 0};
  m->seed = seed;
  m->serial = __atomic_add_fetch(&bd__model_serial_last, 1, __ATOMIC_RELAXED);
  pthread_rwlock_init(&m->lock, NULL);
  bd_status s = m->name ? BD_OK : bd_fail(BD_ENOMEM, "out of host memory");
  if (!s) s = bd_block_build_tree(spec, dev, lim, "block", &m->root);
  if (!s) s = bd_block_reset_all(m->root, m->seed, &m->rng_offset);
  if (!s) s = bd_block_count(m->root, &m->param_count, &m->bytes);
  if (s) {
    bd_model_release(m);
    return s;
  }
  *out = m;
  return BD_OK;
}

bd_model *bd_model_retain(bd_model *m) {
  if (!m) return NULL;
  int was = __atomic_fetch_add(&m->refcnt, 1, __ATOMIC_RELAXED);
  BD_ASSERT(was > 0, "bd_model_retain: model already released");
  return m;
}

void bd_model_release(bd_model *m) {
  if (!m) return;
  int left = __atomic_sub_fetch(&m->refcnt, 1, __ATOMIC_ACQ_REL);
  BD_ASSERT(left >= 0,
            "bd_model_release: model released more often than retained");
  if (left) return;
  bd_block_release(m->root);
  pthread_rwlock_destroy(&m->lock);
  free(m->name);
  free(m);
}

void bd_model_rdlock(bd_model *m) { pthread_rwlock_rdlock(&m->lock); }
void bd_model_wrlock(bd_model *m) {
  pthread_rwlock_wrlock(&m->lock);
  /* Every change takes the write lock: a save that captured an older
   * generation left the model changed. */
  __atomic_add_fetch(&m->generation, 1, __ATOMIC_RELAXED);
}

bool bd_model_changed(bd_model *m) {
  return __atomic_load_n(&m->generation, __ATOMIC_RELAXED) !=
         __atomic_load_n(&m->saved_generation, __ATOMIC_RELAXED);
}

void bd_model_mark_saved(bd_model *m, uint64_t generation) {
  /* Saves of one model are serialised by the caller; keep the newest. */
  uint64_t cur = __atomic_load_n(&m->saved_generation, __ATOMIC_RELAXED);
  if (generation > cur)
    __atomic_store_n(&m->saved_generation, generation, __ATOMIC_RELAXED);
}
void bd_model_unlock(bd_model *m) { pthread_rwlock_unlock(&m->lock); }

const char *bd_model_name(const bd_model *m) { return m->name; }

uint64_t bd_model_serial(const bd_model *m) {
  return __atomic_load_n(&m->serial, __ATOMIC_RELAXED);
}

void bd_model_set_serial(bd_model *m, uint64_t serial) {
  __atomic_store_n(&m->serial, serial, __ATOMIC_RELAXED);
  uint64_t last = __atomic_load_n(&bd__model_serial_last, __ATOMIC_RELAXED);
  while (last < serial && !__atomic_compare_exchange_n(
                              &bd__model_serial_last, &last, serial, false,
                              __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
  }
}

bd_status bd_model_forward(bd_model *m, bd_tensor *x, bd_tensor **y) {
  bd_model_rdlock(m);
  bd_tensor *xin = NULL, *out = NULL;
  bd_status s = BD_OK;
  if (x->dtype != BD_F32) {
    s = bd_tensor_as_f32(x, &xin);
  } else {
    xin = bd_tensor_retain(x);
  }
  if (!s && !bd_device_eq(bd_tensor_device(xin), m->dev)) {
    bd_tensor *moved;
    s = bd_tensor_to(xin, m->dev, &moved);
    bd_tensor_release(xin);
    xin = s ? NULL : moved;
  }
  if (!s) {
    bd_exec ex;
    bd_exec_begin(&ex, m->dev, m->training, false, m->seed, &m->rng_offset);
    s = bd_block_forward(m->root, &ex, xin, &out, NULL);
    bd_exec_end(&ex);
  }
  bd_tensor_release(xin);
  if (!s && bd_tensor_device(out).type != BD_DEV_CPU) {
    bd_tensor *host;
    s = bd_tensor_to(out, BD_CPU, &host);
    bd_tensor_release(out);
    out = s ? NULL : host;
  }
  bd_model_unlock(m);
  if (s) {
    bd_tensor_release(out);
    return s;
  }
  *y = out;
  return BD_OK;
}

bd_status bd_model_spec(const bd_model *m, bd_spec **out) {
  return bd_block_to_spec(m->root, out);
}
