/* model_internal.h - the body of bd_model and its lock, for the engine's
 * own files (model.c, train.c, checkpoint.c, device_move.c, ...) and for
 * white-box unit tests. Everything outside engine/ goes through model.h,
 * whose functions take the model's lock themselves. */
#ifndef BD_MODEL_INTERNAL_H
#define BD_MODEL_INTERNAL_H

#include <pthread.h>

#include "model.h"

struct bd_model {
  int refcnt;
  char *name; /* fixed at creation */
  pthread_rwlock_t lock;
  bd_block *root; /* structure fixed at creation; tensors change */
  bd_device dev;
  bool training;
  uint64_t seed;
  uint64_t serial; /* creation order (bd_model_serial); atomic access */
  /* The dropout / init RNG counter. Forward passes advance it with an
   * atomic add under the read lock (bd_exec), so readers load it with
   * __atomic_load_n; everything else changes it under the write lock. */
  uint64_t rng_offset;
  /* Optimiser state: step count (momentum buffers live in the params). */
  int64_t sgd_steps;
  bd_batching batching; /* serving policy (bd_model_set_batching) */
  /* Parameter elements and parameter + buffer bytes, counted once at
   * creation: the tree is fixed and every edit, load and move keeps each
   * tensor's shape and dtype (param_edit.c, checkpoint.c check both), so
   * the per-request size cap reads them without walking the tree. */
  int64_t param_count;
  int64_t bytes;
  /* Change tracking for saves: generation counts the times the write
   * lock was taken (every change takes it); saved_generation is the
   * generation the last successful save captured. Atomic access. */
  uint64_t generation;
  uint64_t saved_generation;
};

/* The model's rwlock. Forward passes and snapshots share it; edits, init,
 * loads, backward passes and device moves take it exclusively. Not
 * recursive: a function that holds it must not call a model.h function
 * that takes it. */
void bd_model_rdlock(bd_model *m);
void bd_model_wrlock(bd_model *m);
void bd_model_unlock(bd_model *m);

/* Fills *out from m; the caller holds m's lock (either mode). */
bd_status bd_model_info_locked(bd_model *m, bd_model_info *out);

#endif
