/* model.h - a named model: a block tree on a device, with its RNG stream,
 * mode and a rwlock. Forward passes share the lock; edits, init, loads,
 * backward passes and device moves take it exclusively. Models are
 * refcounted so that deleting one while requests use it is safe: the last
 * holder frees it. */
#ifndef BD_MODEL_H
#define BD_MODEL_H

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "block.h"

typedef struct bd_model {
  int refcnt;
  char *name;
  pthread_rwlock_t lock;
  bd_block *root;
  bd_device dev;
  bool training;
  uint64_t seed;
  uint64_t rng_offset;
  /* Optimiser state: step count (momentum buffers live in the params). */
  int64_t sgd_steps;
} bd_model;

/* Model names: 1-128 chars of [A-Za-z0-9._-], not starting with '.'. */
bool bd_model_name_ok(const char *name);

/* Builds a model from a block spec, resets its parameters from seed.
 * *out is a new reference (not yet in any registry). */
bd_status bd_model_create(const char *name, const cJSON *spec, uint64_t seed,
                          bd_device dev, const bd_build_limits *lim,
                          bd_model **out);
bd_model *bd_model_retain(bd_model *m);
void bd_model_release(bd_model *m);

void bd_model_rdlock(bd_model *m);
void bd_model_wrlock(bd_model *m);
void bd_model_unlock(bd_model *m);

/* Runs the model on x (any device; moved to the model's device) and
 * returns the output on the host in *y. Takes the read lock itself (train
 * mode dropout draws advance the RNG under a separate mutex-free atomic
 * reservation). */
bd_status bd_model_forward(bd_model *m, bd_tensor *x, bd_tensor **y);

/* Canonical spec of the model's tree (caller frees). Caller holds a lock. */
cJSON *bd_model_spec(const bd_model *m);

#endif
