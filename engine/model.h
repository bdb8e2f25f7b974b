/* model.h - a named model: a block tree on a device, with its RNG stream,
 * mode, optimiser step count and a rwlock.
 *
 * The model owns its locking: every function here that reads or changes a
 * model takes the model's lock itself (forward passes and snapshots share
 * it; edits, init, loads, backward passes and device moves take it
 * exclusively), so callers never lock a model and never touch its fields
 * (the struct body is private to engine/, see model_internal.h). A call
 * that changes several things is atomic: a concurrent forward pass sees
 * all of the old state or all of the new.
 *
 * Models are refcounted so that deleting one while requests use it is
 * safe: the last holder frees it. */
#ifndef BD_MODEL_H
#define BD_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "block.h"

typedef struct bd_model bd_model;

/* Model names: 1-128 chars of [A-Za-z0-9._-], not starting with '.'. */
bool bd_model_name_ok(const char *name);

/* Builds a model from a typed block spec (borrowed; proto/spec_json.h
 * makes one from JSON), resets its parameters from seed. Build errors
 * name the JSON path under "block". *out is a new reference (not yet in
 * any registry). */
bd_status bd_model_create(const char *name, const bd_spec *spec, uint64_t seed,
                          bd_device dev, const bd_build_limits *lim,
                          bd_model **out);
bd_model *bd_model_retain(bd_model *m);
void bd_model_release(bd_model *m);

/* The model's name (fixed at creation; no lock). Borrowed: valid while
 * the caller holds a reference to m. */
const char *bd_model_name(const bd_model *m);

/* The model's creation serial: bd_model_create hands out 1, 2, 3, ... in
 * creation order within a process, so sorting by serial gives creation
 * order. Persistence records it and, when restoring, puts it back with
 * bd_model_set_serial, which also makes every later bd_model_create in
 * this process return a larger serial. No lock; never fails. */
uint64_t bd_model_serial(const bd_model *m);
void bd_model_set_serial(bd_model *m, uint64_t serial);

/* Runs the model on x (any device; moved to the model's device) and
 * returns the output on the host in *y. Takes the read lock itself (train
 * mode dropout draws advance the RNG under a separate mutex-free atomic
 * reservation). */
bd_status bd_model_forward(bd_model *m, bd_tensor *x, bd_tensor **y);

/* Canonical spec of the model's tree into *out (caller frees with
 * bd_spec_free). Takes no lock: a model's tree and block configuration
 * are fixed when it is created (edits, loads and moves change tensors
 * only). ENOMEM only. */
bd_status bd_model_spec(const bd_model *m, bd_spec **out);

/* ---- snapshots ------------------------------------------------------- */

/* Room for the CPU and every CUDA device. */
#define BD_MODEL_MAX_DEVICES 17

/* Bytes of device memory that a model's tensors hold on one device. */
typedef struct bd_device_bytes {
  bd_device dev;
  int64_t bytes;
} bd_device_bytes;

/* What describes a model at one instant (taken under one read lock). */
/* Dynamic batching settings: serving policy the model carries so that
 * they are saved, restored and deleted with it. max_batch 1 = off. */
typedef struct bd_batching {
  int max_batch;        /* rows per batched forward, 1..BD_MAX_BATCH */
  int64_t max_delay_us; /* how long a request waits for others, 0.. */
} bd_batching;
#define BD_MAX_BATCH 4096
#define BD_MAX_BATCH_DELAY_US 1000000

typedef struct bd_model_info {
  const char *name;    /* borrowed, as bd_model_name */
  uint64_t generation; /* bumped by every change (bd_model_changed) */
  bd_batching batching;
  bd_device dev;
  bool training;       /* train (true) or eval mode */
  uint64_t seed;       /* the RNG key */
  uint64_t rng_offset; /* the RNG position: where the next draw starts */
  int64_t sgd_steps;   /* SGD steps taken */
  int64_t param_count; /* parameter elements (buffers excluded) */
  int64_t bytes;       /* parameter + buffer value bytes */
  /* Device memory held by values, gradients and momentum buffers (shared
   * tensors once), one entry per device holding some, in first-use
   * order; an empty model has none. */
  int ndevices;
  bd_device_bytes device_bytes[BD_MODEL_MAX_DEVICES];
} bd_model_info;

/* Fills *out. Takes the read lock. Errors: ENOMEM (out unspecified). */
bd_status bd_model_get_info(bd_model *m, bd_model_info *out);

/* Parameter element count and parameter + buffer bytes (as in
 * bd_model_info, without the device walk): counted at creation, read
 * without a lock. Never fails. */
bd_status bd_model_count(bd_model *m, int64_t *param_count, int64_t *bytes);

/* A reader that must see the model's tensors while it encodes them (a
 * state_dict, a checkpoint file). It runs with m's read lock held and gets
 * an info snapshot taken under that same lock. It may use bd_model_root()
 * and the engine functions documented "caller holds the model's lock"
 * (bd_block_state_dict, bd_checkpoint_export, ...) to read, but must not
 * change the model nor call any function of this header that takes the
 * lock (the lock is not recursive). */
typedef bd_status (*bd_model_read_cb)(bd_model *m, const bd_model_info *info,
                                      void *ctx);

/* Runs cb(m, info, ctx) under m's read lock and returns its status (or
 * ENOMEM from the snapshot, without calling cb). */
bd_status bd_model_read(bd_model *m, bd_model_read_cb cb, void *ctx);

/* The root block, for bd_model_read callbacks (borrowed; read only). */
bd_block *bd_model_root(bd_model *m);

/* ---- changes (each takes the write lock) ------------------------------ */

/* net.train() / net.eval(). Never fails. */
void bd_model_set_mode(bd_model *m, bool training);

/* Whether requests may be concatenated along dim 0 for one forward: every
 * block of m keeps the rows of an input of in_ndim dims apart in m's
 * current mode (bd_block_rows). in_ndim < 2 has no batch dim to join on.
 * Takes the read lock. EINVAL naming the first block that mixes rows. */
bd_status bd_model_rows_check(bd_model *m, int in_ndim);
/* Sets m's batching. max_batch > 1 needs bd_model_rows_check(m, 2) to
 * pass (EINVAL with its message otherwise); out-of-range values are
 * EINVAL. Takes the write lock. */
bd_status bd_model_set_batching(bd_model *m, const bd_batching *b);
/* Whether m changed since the save that last called bd_model_mark_saved
 * (every change bumps bd_model_info.generation). Lock-free. */
bool bd_model_changed(bd_model *m);
/* Records that a save captured generation (from the info snapshot it
 * was written under). Lock-free. */
void bd_model_mark_saved(bd_model *m, uint64_t generation);

/* m's batching (a snapshot; takes the read lock). */
bd_batching bd_model_get_batching(bd_model *m);

/* net.to(dev): moves every value, gradient and momentum buffer, all or
 * nothing (see bd_model_to in device_move.h for the errors). */
bd_status bd_model_move(bd_model *m, bd_device dev);

/* Sets the RNG position (restoring a saved model, so that dropout and
 * seedless init continue the stream where it was). Never fails. */
void bd_model_set_rng_offset(bd_model *m, uint64_t offset);

/* Sets the SGD step count (restoring a checkpoint); EINVAL when
 * negative, and then nothing changes. */
bd_status bd_model_set_sgd_steps(bd_model *m, int64_t steps);

/* Metadata of one parameter or buffer, as an edit left it. */
typedef struct bd_param_meta {
  char *name; /* its state_dict key along the path given (positions
                 replaced by names); the caller frees it */
  int ndim;
  int64_t shape[BD_MAX_DIMS];
  bd_dtype dtype;
  bd_device dev;
  bool requires_grad;
  bool is_buffer;
} bd_param_meta;

/* w.data[:] = t for the parameter or buffer at `path` (a state_dict key,
 * any alias of a tied one, or child positions: see path.h). t is borrowed
 * (any device). Checks shape and dtype before anything changes. *out (may
 * be NULL) receives the parameter's metadata on success (nothing to free
 * on failure). Errors: ENOTFOUND (no such path, the message says which
 * segment), ESHAPE, EDTYPE, ENOMEM / device errors. */
bd_status bd_model_param_put(bd_model *m, const char *path, const bd_tensor *t,
                             bd_param_meta *out);

struct bd_param_edit;

/* An in-place edit of the parameter or buffer at `path` (e, may be NULL;
 * see param_edit.h) and/or a requires_grad change (requires_grad < 0:
 * unchanged, 0 / 1: set; buffers refuse 1 with EINVAL and ignore 0). Both
 * are checked before either applies. *out (may be NULL) receives the
 * metadata afterwards (out->name as for bd_model_param_put). Errors:
 * ENOTFOUND, EINVAL, ESHAPE, EDTYPE, device errors. */
bd_status bd_model_param_patch(bd_model *m, const char *path,
                               const struct bd_param_edit *e, int requires_grad,
                               bd_param_meta *out);

struct bd_init_request;

/* Runs an init request (init.h) on the model: without a seed it draws from
 * the model's stream and advances its RNG position. On success *touched
 * holds a malloc'd array of *ntouched malloc'd parameter paths (caller
 * frees each and the array). Errors as bd_init_run; on failure nothing
 * changed. */
bd_status bd_model_init(bd_model *m, const struct bd_init_request *req,
                        char ***touched, int *ntouched);

struct bd_named_tensors;
struct bd_load_report;

/* load_state_dict(f, strict) (checkpoint.h's bd_checkpoint_load, which
 * describes *report and the errors); with_optim also restores momentum
 * buffers saved by blockd's persistence. */
bd_status bd_model_load(bd_model *m, const struct bd_named_tensors *f,
                        bool strict, bool with_optim,
                        struct bd_load_report *report);

#endif
