/* exec.c - the per-call arena. */
#include "exec.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double bd__time_limit; /* seconds, <= 0 = none */

static double bd__mono(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void bd_exec_set_time_limit(double seconds) {
  __atomic_store(&bd__time_limit, &seconds, __ATOMIC_RELAXED);
}

/* The request deadline of the thread's calls (0 = none), and whether
 * bd_exec_abort_all has run. */
static _Thread_local double bd__req_deadline;
static int bd__aborted;

double bd_exec_set_request_deadline(double deadline) {
  double prev = bd__req_deadline;
  bd__req_deadline = deadline;
  return prev;
}

void bd_exec_abort_all(void) {
  __atomic_store_n(&bd__aborted, 1, __ATOMIC_RELEASE);
}

bd_status bd_exec_check_deadline(const bd_exec *ex) {
  if (__atomic_load_n(&bd__aborted, __ATOMIC_ACQUIRE))
    return bd_fail(BD_ESHUTDOWN,
                   "layer %s: stopped because the daemon is shutting down "
                   "and its drain time ran out",
                   bd_exec_where(ex));
  if (ex->deadline <= 0 || bd__mono() < ex->deadline) return BD_OK;
  if (ex->deadline == bd__req_deadline)
    return bd_fail(BD_EDEADLINE,
                   "layer %s: the request ran past its deadline "
                   "(--request-timeout)",
                   bd_exec_where(ex));
  double limit;
  __atomic_load(&bd__time_limit, &limit, __ATOMIC_RELAXED);
  return bd_fail(BD_ETIMEOUT,
                 "layer %s: the call ran past the compute time limit of %g s "
                 "(--max-compute-seconds)",
                 bd_exec_where(ex), limit);
}

/* The arena: bump allocation in chunks. Every call used to calloc each
 * allocation on its own; now a call bumps through a chunk, and when it
 * ends its largest chunk (up to BD__SPARE_MAX) stays with the thread for
 * the next call, so a steady stream of calls allocates nothing. A nested
 * call on the same thread (which finds the spare taken) simply gets fresh
 * chunks. The spare is freed when its thread exits. */
typedef struct bd__chunk {
  struct bd__chunk *next;
  size_t size, used;
  max_align_t data[];
} bd__chunk;

enum { BD__CHUNK_MIN = 4096, BD__SPARE_MAX = 1 << 20 };

static _Thread_local bd__chunk *bd__spare;
static pthread_key_t bd__spare_key;
static pthread_once_t bd__spare_once = PTHREAD_ONCE_INIT;

static void bd__spare_free(void *p) { free(p); }

static void bd__spare_init(void) {
  pthread_key_create(&bd__spare_key, bd__spare_free);
}

/* Makes c the thread's spare (freeing the one it replaces); the key's
 * destructor frees it at thread exit. */
static void bd__spare_keep(bd__chunk *c) {
  pthread_once(&bd__spare_once, bd__spare_init);
  free(bd__spare);
  bd__spare = c;
  pthread_setspecific(bd__spare_key, c);
}

void bd_exec_begin(bd_exec *ex, bd_device dev, bool training, bool record,
                   uint64_t seed, uint64_t *rng_offset) {
  memset(ex, 0, sizeof *ex);
  ex->dev = dev;
  ex->training = training;
  ex->record = record;
  ex->seed = seed;
  ex->rng_offset = rng_offset;
  double limit;
  __atomic_load(&bd__time_limit, &limit, __ATOMIC_RELAXED);
  if (limit > 0) ex->deadline = bd__mono() + limit;
  if (bd__req_deadline > 0 &&
      (ex->deadline <= 0 || bd__req_deadline < ex->deadline))
    ex->deadline = bd__req_deadline;
}

void bd_exec_end(bd_exec *ex) {
  for (size_t i = 0; i < ex->nkeep; i++) bd_tensor_release(ex->keep[i]);
  free(ex->keep);
  ex->keep = NULL;
  ex->nkeep = ex->capkeep = 0;
  bd__chunk *c = ex->chunks, *best = NULL;
  while (c) {
    bd__chunk *next = c->next;
    if (c->size <= BD__SPARE_MAX && (!best || c->size > best->size)) {
      free(best);
      best = c;
    } else {
      free(c);
    }
    c = next;
  }
  ex->chunks = NULL;
  if (best && (!bd__spare || best->size > bd__spare->size))
    bd__spare_keep(best);
  else
    free(best);
}

void *bd_exec_alloc(bd_exec *ex, size_t n) {
  const size_t al = sizeof(max_align_t);
  if (n > SIZE_MAX / 2) {
    bd_fail(BD_ENOMEM, "out of host memory");
    return NULL;
  }
  n = (n + al - 1) / al * al;
  bd__chunk *c = ex->chunks;
  if (!c || c->size - c->used < n) {
    size_t want = c ? c->size * 2 : BD__CHUNK_MIN;
    if (want < n) want = n;
    if (bd__spare && bd__spare->size >= n) {
      c = bd__spare;
      bd__spare = NULL;
      pthread_setspecific(bd__spare_key, NULL);
    } else {
      c = malloc(sizeof *c + want);
      if (!c) {
        bd_fail(BD_ENOMEM, "out of host memory");
        return NULL;
      }
      c->size = want;
    }
    c->used = 0;
    c->next = ex->chunks;
    ex->chunks = c;
  }
  void *p = (char *)c->data + c->used;
  c->used += n;
  memset(p, 0, n);
  return p;
}

bd_tensor *bd_exec_keep(bd_exec *ex, bd_tensor *t) {
  if (!t) return NULL;
  if (ex->nkeep == ex->capkeep) {
    size_t cap = ex->capkeep ? ex->capkeep * 2 : 16;
    bd_tensor **k = realloc(ex->keep, cap * sizeof *k);
    if (!k) {
      bd_fail(BD_ENOMEM, "out of host memory");
      return NULL;
    }
    ex->keep = k;
    ex->capkeep = cap;
  }
  ex->keep[ex->nkeep++] = bd_tensor_retain(t);
  return t;
}

size_t bd_exec_push(bd_exec *ex, const char *name) {
  size_t len = strlen(ex->path), nl = strlen(name);
  size_t need = len + (len ? 1 : 0) + nl;
  if (need < sizeof ex->path) {
    if (len) ex->path[len] = '.';
    memcpy(ex->path + len + (len ? 1 : 0), name, nl + 1);
  }
  return len;
}

void bd_exec_pop(bd_exec *ex, size_t len) { ex->path[len] = '\0'; }

const char *bd_exec_where(const bd_exec *ex) {
  return ex->path[0] ? ex->path : "<root>";
}
