/* exec.h - the state of one forward (and backward) call.
 *
 * A bd_exec carries the mode, whether activations are being recorded for a
 * backward pass, the RNG stream for dropout masks, the current block path
 * (for error messages) and an arena that owns everything saved during the
 * call. bd_exec_end frees it all in one go: a forward-only call saves
 * nothing, a backward call frees its activations when it ends. */
#ifndef BD_EXEC_H
#define BD_EXEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tensor.h"

typedef struct bd_exec {
  bool training;        /* train mode: dropout active */
  bool record;          /* save what backward needs */
  bd_device dev;        /* the model's device */
  uint64_t seed;        /* model RNG key */
  uint64_t *rng_offset; /* model RNG counter (advanced by draws) */
  char path[512];       /* dotted path of the block being run ("" = root) */
  /* Last block output seen by a container: path and shape, for messages
   * that name both sides of a shape mismatch. */
  char prev_path[512];
  char prev_type[32];
  int prev_ndim;
  int64_t prev_shape[BD_MAX_DIMS];
  double deadline; /* CLOCK_MONOTONIC seconds; 0 = no limit */
  /* arena */
  void *chunks;     /* linked list of malloc'd chunks */
  bd_tensor **keep; /* tensors retained until bd_exec_end */
  size_t nkeep, capkeep;
} bd_exec;

/* Initialises ex for one call. */
void bd_exec_begin(bd_exec *ex, bd_device dev, bool training, bool record,
                   uint64_t seed, uint64_t *rng_offset);
/* Sets the compute time limit of every later call (seconds; <= 0 = none).
 * Process-wide; the daemon sets it once from --max-compute-seconds. */
void bd_exec_set_time_limit(double seconds);
/* Sets the calling thread's request deadline (CLOCK_MONOTONIC seconds, 0
 * = none) and returns the previous one: calls begun on this thread end at
 * it when it comes before their own time limit (the server's
 * --request-timeout, counted from the request's arrival). */
double bd_exec_set_request_deadline(double deadline);
/* Makes every running and later call fail at its next deadline check with
 * BD_ESHUTDOWN (the daemon's drain ran out of time). Process-wide. */
void bd_exec_abort_all(void);
/* BD_ETIMEOUT, naming the block, once the call has run past its time
 * limit; BD_EDEADLINE past the request deadline; BD_ESHUTDOWN after
 * bd_exec_abort_all. Long-running blocks (while) call it every
 * iteration. */
bd_status bd_exec_check_deadline(const bd_exec *ex);
/* Releases every arena allocation and kept tensor. */
void bd_exec_end(bd_exec *ex);
/* Zeroed arena memory living until bd_exec_end; NULL on ENOMEM. */
void *bd_exec_alloc(bd_exec *ex, size_t n);
/* Retains t until bd_exec_end and returns it (NULL-safe). Returns NULL and
 * fails with ENOMEM if the keep list cannot grow. */
bd_tensor *bd_exec_keep(bd_exec *ex, bd_tensor *t);
/* Appends ".name" (or "name" at the root) to ex->path; returns the old
 * length to hand to bd_exec_pop. */
size_t bd_exec_push(bd_exec *ex, const char *name);
void bd_exec_pop(bd_exec *ex, size_t len);
/* The current path, or "<root>" at the top. */
const char *bd_exec_where(const bd_exec *ex);

#endif
